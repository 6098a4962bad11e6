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
#include "pipeline/engine/engine_appearance_internal.h"
#include "pipeline/engine/engine_objective.h"
#include "pipeline/fit/fit.h"
#include "pipeline/engine/particle_fields.h"

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

pl_status engine_appearance_state(pl_engine *e, appearance **out) { return get_state(e, out); }

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

void pl_engine_hold_colors(pl_engine *e, int hold) { e->colors_held = hold != 0; }

pl_status pl_engine_appearance_step(void *user, double lr_scale) {
  pl_engine *e = (pl_engine *)user;
  /* the learnt E fields and displacements (particle_fields.c) step with them */
  PL_TRY(pl_engine_fields_step(e, lr_scale));
  return pl_engine_appearance_only_step(e, lr_scale);
}

pl_status pl_engine_appearance_only_step(pl_engine *e, double lr_scale) {
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
  if (s->upsample.learn_colors && g.colors && !e->colors_held) {
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
