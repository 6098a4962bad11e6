/* engine_appearance.c: per-Gaussian colours and opacity offsets learnt with Adam (upsample.learn_colors,
 * upsample.learn_opacities).
 *
 * The upsampler keeps the values (colour parameter c, colour = clamp(c, 0, 1); opacity logit offset b,
 * opacity = w sigmoid(logit(o) + b)) and, when learning, their adjoints (upsample/upsample_kernels.h: ups_color_vjp,
 * ups_opacity_vjp). After each gradient evaluation the fit calls pl_engine_appearance_step, which steps them
 * with Adam (Kingma & Ba 2015, bias-corrected, the scene's beta1/beta2) at upsample.colors_lr /
 * upsample.opacities_lr times the schedule and stage factor, and keeps colours in [0, 1]. The values go to the
 * host for the step and back (one transfer each way per iteration, outside the simulation's inner loop). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/log.h"
#include "pipeline/engine/engine_internal.h"
#include "pipeline/engine/engine_objective.h"
#include "pipeline/engine/engine_trace.h"
#include "pipeline/fit/fit.h"
#include "pipeline/scene/particle_fields.h"

typedef struct {
  int64_t m;
  long t;                  /* Adam steps taken */
  double *mc, *vc, *mb, *vb; /* moments [3m], [3m], [m], [m] */
  real *c, *gc, *b, *gb;   /* host copies: values and gradients */
  /* the fit's kept points (fit.h keep/restore): every own value (E-field cells, then colours, opacity offsets) */
  size_t nown;
  double *kept[PL_FIT_KEEP_SLOTS]; /* NULL: the slot is empty */
} appearance;

void engine_appearance_free(pl_engine *e) {
  appearance *a = (appearance *)e->appearance;
  if (!a) return;
  for (int k = 0; k < PL_FIT_KEEP_SLOTS; ++k) free(a->kept[k]);
  free(a->mc), free(a->vc), free(a->mb), free(a->vb);
  free(a->c), free(a->gc), free(a->b), free(a->gb);
  free(a);
  e->appearance = NULL;
}

int pl_engine_learns_appearance(const pl_engine *e) {
  return e->scene->upsample.learn_colors || e->scene->upsample.learn_opacities;
}

static pl_status get_state(pl_engine *e, appearance **out) {
  if (!e->appearance) {
    appearance *a = (appearance *)calloc(1, sizeof *a);
    if (!a) return pl_fail(PL_ERR_NOMEM, "out of memory");
    size_t m = (size_t)(e->m > 0 ? e->m : 1);
    a->m = e->m;
    a->mc = (double *)calloc(3 * m, sizeof(double)), a->vc = (double *)calloc(3 * m, sizeof(double));
    a->mb = (double *)calloc(m, sizeof(double)), a->vb = (double *)calloc(m, sizeof(double));
    a->c = (real *)malloc(3 * m * sizeof(real)), a->gc = (real *)malloc(3 * m * sizeof(real));
    a->b = (real *)malloc(m * sizeof(real)), a->gb = (real *)malloc(m * sizeof(real));
    e->appearance = a;
    if (!a->mc || !a->vc || !a->mb || !a->vb || !a->c || !a->gc || !a->b || !a->gb) {
      engine_appearance_free(e);
      return pl_fail(PL_ERR_NOMEM, "out of memory (per-Gaussian appearance of %lld Gaussians)", (long long)e->m);
    }
  }
  *out = (appearance *)e->appearance;
  return PL_OK;
}

static pl_buffer view(const pl_engine *e, real *p, size_t count) {
  pl_buffer b;
  memset(&b, 0, sizeof b);
  b.backend = e->backend;
  b.ptr = p;
  b.bytes = count * sizeof(real);
  return b;
}

/* Adam on n values x with gradients g, moments m, v (bias correction at step t); lo/hi clamp (NAN: none). */
static void adam(real *x, const real *g, double *m, double *v, size_t n, long t, double lr, double b1, double b2,
                 double lo, double hi) {
  double c1 = 1 - pow(b1, (double)t), c2 = 1 - pow(b2, (double)t);
  for (size_t i = 0; i < n; ++i) {
    double gi = (double)g[i];
    m[i] = b1 * m[i] + (1 - b1) * gi;
    v[i] = b2 * v[i] + (1 - b2) * gi * gi;
    double xi = (double)x[i] - lr * (m[i] / c1) / (sqrt(v[i] / c2) + 1e-8);
    if (!isnan(lo) && xi < lo) xi = lo;
    if (!isnan(hi) && xi > hi) xi = hi;
    x[i] = (real)xi;
  }
}

pl_status pl_engine_appearance_step(void *user, double lr_scale) {
  pl_engine *e = (pl_engine *)user;
  PL_TRY(pl_engine_fields_step(e, lr_scale)); /* the learnt E fields (particle_fields.c) step with them */
  if (!pl_engine_learns_appearance(e)) return PL_OK;
  appearance *a = NULL;
  PL_TRY(get_state(e, &a));
  const pl_scene *s = e->scene;
  size_t m = (size_t)e->m;
  real *cbuf, *bbuf;
  ups_param_buffers(e->ups, &cbuf, &bbuf);
  ups_grads g;
  ups_get_grads(e->ups, &g);
  a->t++;
  if (s->upsample.learn_colors && g.colors) {
    pl_buffer vb = view(e, cbuf, 3 * m), vg = view(e, g.colors, 3 * m);
    PL_TRY(pl_buffer_download(&vb, 0, a->c, 3 * m * sizeof(real)));
    PL_TRY(pl_buffer_download(&vg, 0, a->gc, 3 * m * sizeof(real)));
    for (size_t i = 0; i < 3 * m; ++i)
      if (!isfinite(a->gc[i]))
        return pl_fail(PL_ERR_NUMERIC, "the gradient of Gaussian %zu's colour is not finite", i / 3);
    adam(a->c, a->gc, a->mc, a->vc, 3 * m, a->t, s->upsample.colors_lr * lr_scale, s->optimize.beta1,
         s->optimize.beta2, 0.0, 1.0);
    PL_TRY(pl_buffer_upload(&vb, 0, a->c, 3 * m * sizeof(real)));
  }
  if (s->upsample.learn_opacities && g.opacity_offsets) {
    pl_buffer vb = view(e, bbuf, m), vg = view(e, g.opacity_offsets, m);
    PL_TRY(pl_buffer_download(&vb, 0, a->b, m * sizeof(real)));
    PL_TRY(pl_buffer_download(&vg, 0, a->gb, m * sizeof(real)));
    for (size_t i = 0; i < m; ++i)
      if (!isfinite(a->gb[i]))
        return pl_fail(PL_ERR_NUMERIC, "the gradient of Gaussian %zu's opacity offset is not finite", i);
    adam(a->b, a->gb, a->mb, a->vb, m, a->t, s->upsample.opacities_lr * lr_scale, s->optimize.beta1,
         s->optimize.beta2, NAN, NAN);
    PL_TRY(pl_buffer_upload(&vb, 0, a->b, m * sizeof(real)));
  }
  return PL_OK;
}

/* ------------------------------------------------------------------ the fit's kept points */

/* Every value the engine learns itself, as doubles: the E-field cells (log E), then colours [3m] and opacity
 * offsets [m] when learnt. v == NULL: only the count. set: write them back (to the particles, the device). */
static pl_status own_values(pl_engine *e, appearance *a, double *v, int set, size_t *count) {
  size_t nf = 0;
  PL_TRY(pl_engine_fields_values(e, v, set, &nf));
  *count = nf;
  if (!pl_engine_learns_appearance(e)) return PL_OK;
  size_t m = (size_t)e->m;
  *count += 4 * m;
  if (!v) return PL_OK;
  real *cbuf, *bbuf;
  ups_param_buffers(e->ups, &cbuf, &bbuf);
  pl_buffer vc = view(e, cbuf, 3 * m), vb = view(e, bbuf, m);
  if (set) {
    for (size_t i = 0; i < 3 * m; ++i) a->c[i] = (real)v[nf + i];
    for (size_t i = 0; i < m; ++i) a->b[i] = (real)v[nf + 3 * m + i];
    PL_TRY(pl_buffer_upload(&vc, 0, a->c, 3 * m * sizeof(real)));
    return pl_buffer_upload(&vb, 0, a->b, m * sizeof(real));
  }
  PL_TRY(pl_buffer_download(&vc, 0, a->c, 3 * m * sizeof(real)));
  PL_TRY(pl_buffer_download(&vb, 0, a->b, m * sizeof(real)));
  for (size_t i = 0; i < 3 * m; ++i) v[nf + i] = (double)a->c[i];
  for (size_t i = 0; i < m; ++i) v[nf + 3 * m + i] = (double)a->b[i];
  return PL_OK;
}

pl_status pl_engine_keep(void *user, int slot) {
  pl_engine *e = (pl_engine *)user;
  appearance *a = NULL;
  if (slot < 0 || slot >= PL_FIT_KEEP_SLOTS) return pl_fail(PL_ERR_INTERNAL, "keep: no slot %d", slot);
  PL_TRY(get_state(e, &a));
  PL_TRY(own_values(e, a, NULL, 0, &a->nown));
  if (!a->kept[slot] && !(a->kept[slot] = (double *)malloc(sizeof(double) * (a->nown ? a->nown : 1))))
    return pl_fail(PL_ERR_NOMEM, "out of memory (a kept point of %zu values)", a->nown);
  size_t n;
  return own_values(e, a, a->kept[slot], 0, &n);
}

pl_status pl_engine_restore(void *user, int slot, int *restored) {
  pl_engine *e = (pl_engine *)user;
  appearance *a = NULL;
  *restored = 0;
  if (slot < 0 || slot >= PL_FIT_KEEP_SLOTS) return pl_fail(PL_ERR_INTERNAL, "restore: no slot %d", slot);
  PL_TRY(get_state(e, &a));
  if (!a->kept[slot]) return PL_OK;
  size_t n;
  PL_TRY(own_values(e, a, a->kept[slot], 1, &n));
  *restored = 1;
  return PL_OK;
}

/* kept.bin: "PLKEEP1\n", the count of own values (int64), then per slot a flag (int64) and, when set, the values
 * (double): the fit's best point and start survive --resume. */
static pl_status keep_save(pl_engine *e, const char *folder) {
  appearance *a = (appearance *)e->appearance;
  if (!a) return PL_OK;
  char path[PL_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/kept.bin", folder);
  pl_out out;
  PL_TRY(pl_out_open(&out, path, 1));
  int64_t n = (int64_t)a->nown;
  fwrite("PLKEEP1\n", 1, 8, out.f);
  fwrite(&n, sizeof n, 1, out.f);
  for (int k = 0; k < PL_FIT_KEEP_SLOTS; ++k) {
    int64_t has = a->kept[k] != NULL && k != PL_FIT_KEEP_LAST; /* the last iterate is kept again at the end */
    fwrite(&has, sizeof has, 1, out.f);
    if (has) fwrite(a->kept[k], sizeof(double), a->nown, out.f);
  }
  return pl_out_commit(&out);
}

static pl_status keep_load(pl_engine *e, const char *folder) {
  char path[PL_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/kept.bin", folder);
  FILE *f = fopen(path, "rb");
  if (!f) return PL_OK; /* nothing kept yet */
  appearance *a = NULL;
  pl_status st = get_state(e, &a);
  if (st == PL_OK) st = own_values(e, a, NULL, 0, &a->nown);
  char magic[8];
  int64_t n = -1;
  if (st == PL_OK && (fread(magic, 1, 8, f) != 8 || memcmp(magic, "PLKEEP1\n", 8) != 0 || fread(&n, sizeof n, 1, f) != 1))
    st = pl_fail(PL_ERR_PARSE, "%s: not a kept-points file", path);
  if (st == PL_OK && n != (int64_t)a->nown)
    st = pl_fail(PL_ERR_INVALID, "%s: made for %lld learnt values, the scene has %zu", path, (long long)n, a->nown);
  for (int k = 0; st == PL_OK && k < PL_FIT_KEEP_SLOTS; ++k) {
    int64_t has = 0;
    if (fread(&has, sizeof has, 1, f) != 1) st = pl_fail(PL_ERR_PARSE, "%s: truncated at slot %d", path, k);
    if (st != PL_OK || !has) continue;
    if (!a->kept[k] && !(a->kept[k] = (double *)malloc(sizeof(double) * (a->nown ? a->nown : 1))))
      st = pl_fail(PL_ERR_NOMEM, "out of memory");
    else if (fread(a->kept[k], sizeof(double), a->nown, f) != a->nown)
      st = pl_fail(PL_ERR_PARSE, "%s: truncated at slot %d", path, k);
    for (size_t i = 0; st == PL_OK && i < a->nown; ++i)
      if (!isfinite(a->kept[k][i])) st = pl_fail(PL_ERR_PARSE, "%s: slot %d value %zu is not finite", path, k, i);
  }
  fclose(f);
  return st;
}

pl_status pl_engine_write_results(void *user, pl_optimizer *o, const char *folder) {
  PL_TRY(pl_engine_fields_write_csv((pl_engine *)user, folder));
  return pl_engine_write_strips(user, o, folder);
}

/* appearance.bin: "PLAPP1\n", m (int64), t (long as int64), then c [3m], b [m] as double, moments as double */
pl_status pl_engine_appearance_save(void *user, const char *folder) {
  pl_engine *e = (pl_engine *)user;
  PL_TRY(pl_engine_fields_save(e, folder));
  PL_TRY(keep_save(e, folder));
  if (!pl_engine_learns_appearance(e)) return PL_OK;
  appearance *a = NULL;
  PL_TRY(get_state(e, &a));
  size_t m = (size_t)e->m;
  real *cbuf, *bbuf;
  ups_param_buffers(e->ups, &cbuf, &bbuf);
  pl_buffer vc = view(e, cbuf, 3 * m), vb = view(e, bbuf, m);
  PL_TRY(pl_buffer_download(&vc, 0, a->c, 3 * m * sizeof(real)));
  PL_TRY(pl_buffer_download(&vb, 0, a->b, m * sizeof(real)));
  char path[PL_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/appearance.bin", folder);
  pl_out out;
  PL_TRY(pl_out_open(&out, path, 1));
  int64_t hdr[2] = {(int64_t)m, (int64_t)a->t};
  fwrite("PLAPP1\n", 1, 7, out.f);
  fwrite(hdr, sizeof hdr, 1, out.f);
  for (size_t i = 0; i < 3 * m; ++i) {
    double d[3] = {(double)a->c[i], a->mc[i], a->vc[i]};
    fwrite(d, sizeof d, 1, out.f);
  }
  for (size_t i = 0; i < m; ++i) {
    double d[3] = {(double)a->b[i], a->mb[i], a->vb[i]};
    fwrite(d, sizeof d, 1, out.f);
  }
  return pl_out_commit(&out);
}

pl_status pl_engine_appearance_load(void *user, const char *folder) {
  pl_engine *e = (pl_engine *)user;
  PL_TRY(pl_engine_fields_load(e, folder));
  PL_TRY(keep_load(e, folder));
  if (!pl_engine_learns_appearance(e)) return PL_OK;
  appearance *a = NULL;
  PL_TRY(get_state(e, &a));
  size_t m = (size_t)e->m;
  char path[PL_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/appearance.bin", folder);
  FILE *f = fopen(path, "rb");
  if (!f) return pl_fail(PL_ERR_IO, "%s: cannot open (the per-Gaussian appearance of the run to resume)", path);
  char magic[7];
  int64_t hdr[2];
  pl_status st = PL_OK;
  if (fread(magic, 1, 7, f) != 7 || memcmp(magic, "PLAPP1\n", 7) != 0 || fread(hdr, sizeof hdr, 1, f) != 1)
    st = pl_fail(PL_ERR_PARSE, "%s: not an appearance file", path);
  else if (hdr[0] != (int64_t)m)
    st = pl_fail(PL_ERR_INVALID, "%s: made for %lld Gaussians, the scene has %lld", path, (long long)hdr[0],
                 (long long)m);
  for (size_t i = 0; st == PL_OK && i < 4 * m; ++i) {
    double d[3];
    if (fread(d, sizeof d, 1, f) != 1 || !isfinite(d[0]) || !isfinite(d[1]) || !isfinite(d[2])) {
      st = pl_fail(PL_ERR_PARSE, "%s: truncated or not finite at value %zu", path, i);
      break;
    }
    if (i < 3 * m) a->c[i] = (real)d[0], a->mc[i] = d[1], a->vc[i] = d[2];
    else a->b[i - 3 * m] = (real)d[0], a->mb[i - 3 * m] = d[1], a->vb[i - 3 * m] = d[2];
  }
  fclose(f);
  if (st != PL_OK) return st;
  a->t = (long)hdr[1];
  real *cbuf, *bbuf;
  ups_param_buffers(e->ups, &cbuf, &bbuf);
  pl_buffer vc = view(e, cbuf, 3 * m), vb = view(e, bbuf, m);
  PL_TRY(pl_buffer_upload(&vc, 0, a->c, 3 * m * sizeof(real)));
  return pl_buffer_upload(&vb, 0, a->b, m * sizeof(real));
}

/* ------------------------------------------------------------------ gradient check of sampled entries */

double pl_appearance_check_fault = 1.0;

static pl_status set_entry(pl_engine *e, real *buf, size_t i, real v) {
  pl_buffer b = view(e, buf + i, 1);
  return pl_buffer_upload(&b, 0, &v, sizeof v);
}

pl_status pl_engine_appearance_check(pl_engine *e, pl_optimizer *o, double rel_step, double tol, int samples,
                                     pl_gc_row *rows, int max, int *nrows) {
  *nrows = 0;
  if (!pl_engine_learns_appearance(e)) return PL_OK;
  const pl_scene *s = e->scene;
  size_t m = (size_t)e->m;
  pl_loss_value base;
  PL_TRY(pl_engine_checked_eval(e, o, "all", 1, &base));
  double loss_scale = fmax(fabs(base.total), 1e-30);
  appearance *a = NULL;
  PL_TRY(get_state(e, &a));
  real *cbuf, *bbuf;
  ups_param_buffers(e->ups, &cbuf, &bbuf);
  ups_grads g;
  ups_get_grads(e->ups, &g);
  for (int kind = 0; kind < 2; ++kind) {
    int on = kind == 0 ? s->upsample.learn_colors : s->upsample.learn_opacities;
    if (!on) continue;
    size_t n = kind == 0 ? 3 * m : m;
    real *vals = kind == 0 ? a->c : a->b, *grads = kind == 0 ? a->gc : a->gb, *buf = kind == 0 ? cbuf : bbuf;
    pl_buffer vv = view(e, buf, n), vg = view(e, kind == 0 ? g.colors : g.opacity_offsets, n);
    PL_TRY(pl_buffer_download(&vv, 0, vals, n * sizeof(real)));
    PL_TRY(pl_buffer_download(&vg, 0, grads, n * sizeof(real)));
    if (pl_appearance_check_fault != 1.0)
      for (size_t i = 0; i < n; ++i) grads[i] = (real)(grads[i] * pl_appearance_check_fault);
    /* the entries with the largest adjoints (a colour at 0 or 1 sits on the clamp's kink: skipped) */
    int picked = 0;
    size_t *idx = (size_t *)malloc(sizeof(size_t) * (size_t)(samples > 0 ? samples : 1));
    if (!idx) return pl_fail(PL_ERR_NOMEM, "out of memory");
    for (int q = 0; q < samples; ++q) {
      double best = 0;
      size_t bi = n;
      for (size_t i = 0; i < n; ++i) {
        if (kind == 0 && !(vals[i] > 0.01 && vals[i] < 0.99)) continue;
        int dup = 0;
        for (int r = 0; r < picked; ++r) dup |= idx[r] == i;
        if (!dup && fabs((double)grads[i]) > best) best = fabs((double)grads[i]), bi = i;
      }
      if (bi == n) break;
      idx[picked++] = bi;
    }
    pl_status st = PL_OK;
    for (int q = 0; q < picked && st == PL_OK; ++q) {
      if (*nrows == max) break;
      size_t i = idx[q];
      pl_gc_row *r = &rows[(*nrows)++];
      memset(r, 0, sizeof *r);
      if (kind == 0) snprintf(r->name, sizeof r->name, "gaussian[%zu].color.%c", i / 3, "rgb"[i % 3]);
      else snprintf(r->name, sizeof r->name, "gaussian[%zu].opacity_offset", i);
      r->value = (double)vals[i];
      r->adjoint = (double)grads[i];
      /* A per-Gaussian value moves the loss little: the loss's rounding (about eps |L| per evaluation) over a step
       * h gives the difference an error of eps |L| / h against a signal |g|. The first step makes the change
       * |g| h at least 1e4 eps |L| (float: 1e-3 |L|; double: the relative step decides), capped where the value
       * stops being smooth (a colour inside [0, 1], an opacity offset within 1 in logit); then larger and
       * smaller ones. Differences at h, h/2 and h/4, extrapolated twice (Richardson): R1 from (h, h/2), R2 from
       * (h/2, h/4); the difference is R2 and its uncertainty |R2 - R1| (at a large step the plain |d(h) - d(h/2)|
       * measures the truncation that the extrapolation removes). A verdict counts only when the uncertainty is
       * itself within the tolerance (an uncertainty as large as the error would let a 10 % error pass). */
      /* Branch-aware (CPU backend, engine_trace.h): the + and - evaluations record their branches (return maps,
       * contacts, L1 residual signs); a step whose differences straddle a change is not judged, the next is 8
       * times smaller (down to h_base / 4096) and no step at or above it is tried again; NON-SMOOTH when no
       * branch-free step was conclusive (as pl_gradcheck). */
      static const double ladder[4] = {1, 4, 0.25, 16};
      const int traced = pl_engine_can_trace(e), aware = traced && sizeof(real) == sizeof(double);
      pl_gc_row first = *r;
      first.traced = traced ? (aware ? 1 : 2) : 0;
      pl_gc_row best = first, cross = first;
      double best_u = INFINITY, h_cross = INFINITY;
      int used[4] = {0, 0, 0, 0}, last_crossed = 0, conclusive = 0, ncross = 0;
      double h_base = fmax(rel_step * fmax(fabs(r->value), 0.1),
                           1e4 * PL_REAL_EPS * loss_scale / fmax(fabs(r->adjoint), 1e-300));
      for (int at = 0; at < 8 && st == PL_OK; ++at) {
        double h = 0, d[3];
        int64_t ch[3] = {0, 0, 0};
        if (last_crossed) {
          h = h_cross / 8;
          if (h < h_base / 4096 * 0.99) break;
        } else {
          for (int l = 0; l < 4 && h == 0; ++l)
            if (!used[l] && ladder[l] * h_base < h_cross) used[l] = 1, h = ladder[l] * h_base;
          if (h == 0) break;
        }
        if (kind == 0) h = fmin(h, 0.25 * fmin(r->value, 1 - r->value));
        else h = fmin(h, 1.0);
        for (int p = 0; p < 3 && st == PL_OK; ++p) {
          double hh = h / (1 << p), lp = 0, lm = 0;
          pl_loss_value v;
          st = set_entry(e, buf, i, (real)(r->value + hh));
          if (st == PL_OK && traced) st = pl_engine_trace(e, 0);
          if (st == PL_OK) st = pl_engine_checked_eval(e, o, "all", 0, &v), lp = v.total;
          if (st == PL_OK) st = set_entry(e, buf, i, (real)(r->value - hh));
          if (st == PL_OK && traced) st = pl_engine_trace(e, 1);
          if (st == PL_OK) st = pl_engine_checked_eval(e, o, "all", 0, &v), lm = v.total;
          if (traced) {
            pl_status st2 = pl_engine_trace(e, -1);
            pl_branch_changes c;
            if (st == PL_OK) st = st2;
            if (st == PL_OK) st = pl_engine_trace_diff(e, 0, 1, &c);
            if (st == PL_OK) {
              if (c.particles > ch[0]) ch[0] = c.particles;
              if (c.nodes > ch[1]) ch[1] = c.nodes;
              if (c.residuals > ch[2]) ch[2] = c.residuals;
            }
          }
          d[p] = (lp - lm) / (2 * hh);
        }
        if (st != PL_OK) break;
        pl_gc_row trial = first;
        trial.step = h;
        memcpy(trial.branches, ch, sizeof ch);
        last_crossed = aware && ch[0] + ch[1] + ch[2] > 0; /* float: recorded, not avoided (pl_gradcheck) */
        double r1 = (4 * d[1] - d[0]) / 3, r2 = (4 * d[2] - d[1]) / 3;
        trial.fd = r2;
        double u = fabs(r2 - r1);
        pl_gc_judge_u(&trial, u, loss_scale, tol, 1e-12);
        double sc = fmax(fmax(fabs(trial.adjoint), fabs(trial.fd)), 1e-300);
        /* ok only when the uncertainty is within the tolerance, with the noise allowance capped at it: no error
         * beyond twice the tolerance passes (a 10 % error fails in float, tolerance 3 %) */
        if (trial.verdict == PL_GC_OK || trial.verdict == PL_GC_MISMATCH) {
          double err = fabs(trial.adjoint - trial.fd);
          if (u > tol * sc) trial.verdict = PL_GC_NOISY;
          else trial.verdict = err <= tol * sc + fmin(2 * u, tol * sc) ? PL_GC_OK : PL_GC_MISMATCH;
        }
        if (last_crossed) { /* straddles a branch change: not judged */
          h_cross = fmin(h_cross, h);
          trial.verdict = trial.verdict == PL_GC_OK ? PL_GC_NONSMOOTH_AGREES : PL_GC_NONSMOOTH;
          cross = trial;
          ++ncross;
          continue;
        }
        int concl = trial.verdict == PL_GC_OK || trial.verdict == PL_GC_MISMATCH;
        if (trial.verdict == PL_GC_OK || (concl && !conclusive) || (concl == conclusive && u / sc < best_u)) {
          best = trial;
          best_u = u / sc;
          conclusive |= concl;
        }
        if (trial.verdict == PL_GC_OK || trial.verdict == PL_GC_INSENSITIVE) {
          best = trial;
          conclusive = 1;
          break;
        }
      }
      if (!conclusive && ncross > 0) best = cross; /* NON-SMOOTH */
      best.steps_crossing = ncross;
      if (ncross) best.cross_step = cross.step, memcpy(best.cross_branches, cross.branches, sizeof cross.branches);
      *r = best;
      pl_status st2 = set_entry(e, buf, i, vals[i]);
      if (st == PL_OK) st = st2;
    }
    free(idx);
    PL_TRY(st);
  }
  return PL_OK;
}
