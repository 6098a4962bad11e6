/* engine_check.c: stage-by-stage gradient checks inside the real pipeline (pipeline gradcheck --stage ...).
 *
 * At one frame of the scene, the image loss against the targets is differentiated by the engine's adjoint and
 * by central differences, on a sample of the stage's inputs:
 *   raster    the Gaussians the upsampler produced (means, covariances, colours, opacities)
 *   upsample  the particles' positions x and deformation gradients F
 * Entries are sampled deterministically (seeded), half among those with the largest adjoint and half at
 * random, so the check covers both the visible surface and the rest. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "pipeline/engine/composite.h"
#include "pipeline/engine/engine_check.h"
#include "pipeline/engine/engine_internal.h"

typedef struct {
  int64_t index;
  double mag;
} ranked;

static int by_mag(const void *a, const void *b) {
  double x = ((const ranked *)a)->mag, y = ((const ranked *)b)->mag;
  if (x != y) return x < y ? 1 : -1;
  int64_t i = ((const ranked *)a)->index, j = ((const ranked *)b)->index;
  return i < j ? -1 : (i > j);
}

/* pick k entries of g[0..n): half the largest |g|, half uniformly at random (distinct) */
/* entries from op_begin on are opacities: only those strictly inside (0, 1) can be stepped both ways */
static int valid_entry(const real *val, int64_t op_begin, int64_t i) {
  return i < op_begin || (val[i] > RC(1e-3) && val[i] < RC(1.0) - RC(1e-3));
}

static int pick_entries(const double *g, const real *val, int64_t op_begin, int64_t n, int k, uint64_t seed,
                        const unsigned char *sees, const unsigned char *seen_elem, int64_t *out) {
  if (n <= 0) return 0;
  if (k > n) k = (int)n;
  ranked *r = (ranked *)malloc(sizeof(ranked) * (size_t)n);
  if (!r) return 0;
  for (int64_t i = 0; i < n; ++i) r[i].index = i, r[i].mag = valid_entry(val, op_begin, i) ? fabs(g[i]) : -1;
  qsort(r, (size_t)n, sizeof *r, by_mag);
  int cnt = 0;
  for (int i = 0; i < (k + 1) / 2 && r[i].mag >= 0; ++i) out[cnt++] = r[i].index;
  /* the rest at random: all but one among the entries the loss sees measurably (`sees`: a difference at the
   * largest step tried rises above the loss's rounding; a random entry of a large scene is mostly occluded or
   * interior, which checks nothing), one (the cut-gradient probe: a zero adjoint whose difference is not zero)
   * among all entries of the Gaussians or particles the loss sees (`seen_elem`: one of their entries is
   * measurable, so a component whose gradient was cut would show) */
  for (uint32_t t = 0; cnt < k && t < 100000; ++t) {
    pl_u32x4 u = pl_rng_u32x4(seed, 7, t);
    int64_t cand = (int64_t)(((uint64_t)u.v[0] << 32 | u.v[1]) % (uint64_t)n);
    int dup = !valid_entry(val, op_begin, cand);
    if (cnt < k - 1 && t < 50000 && !sees[cand]) dup = 1;
    if (cnt == k - 1 && t < 50000 && !seen_elem[cand]) dup = 1;
    for (int j = 0; j < cnt; ++j) dup |= out[j] == cand;
    if (!dup) out[cnt++] = cand;
  }
  free(r);
  return cnt;
}

/* The step scale of stage input idx: a mean by its Gaussian's largest standard deviation, a covariance entry by
 * its Gaussian's largest variance (small enough to keep it positive definite), a colour or an opacity by 1; a
 * particle position by the particle spacing, F by 1. in: the inputs (raster: means [3m], covs [6m], colours
 * [3m], opacities [m]; upsample: x [3n], F [9n]). */
static double entry_scale(const pl_scene *s, int is_raster, const real *in, int64_t m, int64_t n, int64_t idx) {
  double scale = 1;
  if (is_raster && idx < 9 * m) {
    int64_t gi = idx < 3 * m ? idx / 3 : (idx - 3 * m) / 6;
    const real *cv = in + 3 * m + 6 * gi;
    scale = fmax(fmax((double)cv[0], (double)cv[3]), (double)cv[5]);
    if (idx < 3 * m) scale = sqrt(fmax(scale, 0));
  } else if (!is_raster && idx < 3 * n) {
    scale = s->sim.dx / cbrt((double)s->objects[0].particles_per_cell);
  }
  return scale > 0 ? scale : 1e-3;
}

/* The rounding of one loss evaluation: eps |L| times a generous count of the terms summed into L (64). */
static double loss_rounding(double loss) { return 64 * PL_REAL_EPS * fabs(loss); }

/* loss of the current e->gauss (already rendered) at frame f */
static pl_status loss_now(pl_engine *e, int f, double *out) {
  pl_loss_value v;
  memset(&v, 0, sizeof v);
  PL_TRY(engine_frame_loss(e, f, 1.0, 0, &v));
  *out = v.total;
  return PL_OK;
}

static pl_status render_gauss(pl_engine *e, const raster_gaussians *g) {
  real *img = (real *)e->img.ptr;
  raster_images out;
  memset(&out, 0, sizeof out);
  out.rgb = img;
  out.alpha = img + 3 * e->npix;
  PL_TRY(raster_forward(e->rast, g, e->cams, e->ncams, &e->ropt, &out));
  /* a capture's background plates behind the Gaussians, as the engine renders (engine_render_state): the
   * differences must see the function the adjoint differentiates */
  for (int c = 0; e->plates && c < e->ncams; ++c)
    if (e->plates[c].ptr) {
      int64_t off = e->cam_offset[c];
      PL_TRY(pl_composite_plate(e->backend, e->cam_offset[c + 1] - off, img + 3 * off, img + 3 * e->npix + off,
                                (const real *)e->plates[c].ptr, e->scene->render.background));
    }
  return PL_OK;
}

pl_status pl_engine_stage_check(pl_engine *e, const char *stage, int frame, int samples, double rel_step, double tol,
                                pl_gc_row *rows, int max, int *nrows) {
  *nrows = 0;
  const pl_scene *s = e->scene;
  int nf = s->sim.frames + 1;
  if (!e->targets) return pl_fail(PL_ERR_INTERNAL, "stage check: no targets");
  if (frame < 0) /* default: the last loss frame */
    for (int f = 0; f < nf; ++f)
      if (e->loss_frame[f]) frame = f;
  if (frame < 0 || frame >= nf || !e->loss_frame[frame])
    return pl_fail(PL_ERR_INVALID, "stage check: frame %d carries no loss (targets.frames = %s)", frame, s->targets.frames);
  int is_raster = strcmp(stage, "raster") == 0, is_ups = strcmp(stage, "upsample") == 0;
  if (!is_raster && !is_ups) return pl_fail(PL_ERR_INVALID, "unknown stage '%s' (raster, upsample)", stage);
  /* the state at `frame` */
  PL_TRY(pl_engine_run(e, frame, NULL, NULL, NULL));
  mpm_state st;
  PL_TRY(mpm_state_alloc(&st, e->backend, e->n));
  pl_status rc = mpm_state_copy(&st, &e->sim->state);
  pl_loss_value base;
  memset(&base, 0, sizeof base);
  /* with smooth cut-offs (gradcheck's default), the depth order is frozen at the checked point too */
  const int freeze = e->ropt.alpha_min > 0 && e->ropt.alpha_min < 1e-6;
  if (freeze) pl_engine_freeze_order(e, 1);
  e->cur_frame = frame;
  if (rc == PL_OK) rc = engine_frame_adjoint(e, &st, frame, 1.0, &base);
  if (freeze) pl_engine_freeze_order(e, 2);
  const size_t n = (size_t)e->n, m = (size_t)e->m;
  /* host copies of the inputs and of their adjoints */
  size_t len = is_raster ? 13 * m : 12 * n;
  real *in = (real *)malloc(sizeof(real) * (len ? len : 1)), *adj = (real *)malloc(sizeof(real) * (len ? len : 1));
  double *ad = (double *)malloc(sizeof(double) * (len ? len : 1));
  int64_t *pick = (int64_t *)malloc(sizeof(int64_t) * (size_t)(samples > 0 ? samples : 1));
  pl_buffer scratch;
  memset(&scratch, 0, sizeof scratch);
  if (rc == PL_OK && (!in || !adj || !ad || !pick)) rc = pl_fail(PL_ERR_NOMEM, "out of memory");
  if (rc == PL_OK) {
    if (is_raster) {
      rc = pl_buffer_download(&e->vgauss, 0, adj, sizeof(real) * len);
      if (rc == PL_OK) rc = ups_download(e->ups, in, in + 3 * m, in + 9 * m, in + 12 * m);
    } else {
      rc = pl_buffer_download(&e->vstate, 0, adj, sizeof(real) * len);
      if (rc == PL_OK) rc = pl_buffer_download(&st.x, 0, in, sizeof(real) * 3 * n);
      if (rc == PL_OK) rc = pl_buffer_download(&st.F, 0, in + 3 * n, sizeof(real) * 9 * n);
    }
  }
  if (rc == PL_OK) rc = pl_buffer_alloc(&scratch, e->backend, sizeof(real) * (len ? len : 1));
  int k = 0;
  unsigned char *sees = (unsigned char *)calloc(len ? len : 1, 1), *seen_elem = (unsigned char *)calloc(len ? len : 1, 1);
  if (rc == PL_OK && (!sees || !seen_elem)) rc = pl_fail(PL_ERR_NOMEM, "out of memory");
  if (rc == PL_OK) {
    /* measurable: |g| h_max at least 100 roundings of L, h_max = 10 rel_step scale (the largest step tried) */
    const double floor_l = loss_rounding(base.total);
    for (size_t i = 0; i < len; ++i) {
      ad[i] = adj[i];
      sees[i] = fabs(ad[i]) * 10 * rel_step * entry_scale(s, is_raster, in, (int64_t)m, (int64_t)n, (int64_t)i) >
                100 * floor_l;
    }
    /* entries of a Gaussian (means, covariances, colours, opacities) or a particle (x, F) with a measurable one */
    const int64_t ne = is_raster ? (int64_t)m : (int64_t)n;
    unsigned char *elem = (unsigned char *)calloc((size_t)(ne ? ne : 1), 1);
    if (!elem) rc = pl_fail(PL_ERR_NOMEM, "out of memory");
    for (int pass = 0; rc == PL_OK && pass < 2; ++pass)
      for (int64_t i = 0; i < (int64_t)len; ++i) {
        int64_t el;
        if (is_raster)
          el = i < 3 * ne ? i / 3 : i < 9 * ne ? (i - 3 * ne) / 6 : i < 12 * ne ? (i - 9 * ne) / 3 : i - 12 * ne;
        else
          el = i < 3 * ne ? i / 3 : (i - 3 * ne) / 9;
        if (pass == 0) elem[el] |= sees[i];
        else seen_elem[i] = elem[el];
      }
    free(elem);
    if (rc == PL_OK)
      k = pick_entries(ad, in, is_raster ? 12 * (int64_t)m : (int64_t)len, (int64_t)len, samples < max ? samples : max,
                       s->sim.seed, sees, seen_elem, pick);
  }
  free(sees);
  free(seen_elem);
  raster_gaussians g = e->gauss;
  real *sb = (real *)scratch.ptr;
  if (is_raster) {
    g.means = sb;
    g.covs = sb + 3 * m;
    g.colors = sb + 9 * m;
    g.opacities = sb + 12 * m;
  }
  for (int q = 0; q < k && rc == PL_OK; ++q) {
    int64_t idx = pick[q];
    pl_gc_row *r = &rows[(*nrows)++];
    memset(r, 0, sizeof *r);
    if (is_raster) {
      static const char *names[] = {"mean.x", "mean.y", "mean.z", "cov.xx", "cov.xy", "cov.xz", "cov.yy", "cov.yz",
                                    "cov.zz", "colour.r", "colour.g", "colour.b", "opacity"};
      int field;
      int64_t gi;
      if (idx < (int64_t)(3 * m)) gi = idx / 3, field = (int)(idx % 3);
      else if (idx < (int64_t)(9 * m)) gi = (idx - 3 * (int64_t)m) / 6, field = 3 + (int)((idx - 3 * (int64_t)m) % 6);
      else if (idx < (int64_t)(12 * m)) gi = (idx - 9 * (int64_t)m) / 3, field = 9 + (int)((idx - 9 * (int64_t)m) % 3);
      else gi = idx - 12 * (int64_t)m, field = 12;
      snprintf(r->name, sizeof r->name, "raster: Gaussian %lld %s", (long long)gi, names[field]);
    } else {
      if (idx < (int64_t)(3 * n))
        snprintf(r->name, sizeof r->name, "upsample: particle %lld x.%c", (long long)(idx / 3), "xyz"[idx % 3]);
      else
        snprintf(r->name, sizeof r->name, "upsample: particle %lld F[%lld]", (long long)((idx - 3 * (int64_t)n) / 9),
                 (long long)((idx - 3 * (int64_t)n) % 9));
    }
    r->value = in[idx];
    r->adjoint = ad[idx];
    /* steps relative to the entry's own scale (entry_scale; an opacity's step kept inside (0, 1)) */
    double h = rel_step * entry_scale(s, is_raster, in, (int64_t)m, (int64_t)n, idx);
    if (is_raster && idx >= (int64_t)(12 * m)) h = fmin(h, 0.25 * fmin(r->value, 1 - r->value)); /* opacity in (0, 1) */
    /* steps tried in turn until ok, as gradcheck's parameters: h, h/10, 10h, h/100 (a kink inside the interval
     * needs a smaller one, rounding a larger one); a colour or an opacity keeps its larger step inside its range */
    static const double ladder[4] = {1, 0.1, 10, 0.01};
    const double h0 = h;
    pl_gc_row first = *r;
    pl_gc_row best = *r;
    double best_u = INFINITY;
    for (int attempt = 0; attempt < 4 && rc == PL_OK; ++attempt) {
    h = h0 * ladder[attempt];
    if (is_raster && idx >= (int64_t)(12 * m)) h = fmin(h, 0.25 * fmin(r->value, 1 - r->value));
    if (is_raster && idx >= (int64_t)(9 * m) && idx < (int64_t)(12 * m)) h = fmin(h, 0.25);
    double d[2];
    for (int t = 0; t < 2 && rc == PL_OK; ++t) {
      double hh = t ? h / 2 : h, l[2];
      for (int sgn = 0; sgn < 2 && rc == PL_OK; ++sgn) {
        real saved = in[idx];
        in[idx] = (real)(saved + (sgn ? -hh : hh));
        if (is_raster) {
          rc = pl_buffer_upload(&scratch, 0, in, sizeof(real) * len);
          if (rc == PL_OK) rc = render_gauss(e, &g);
        } else {
          rc = pl_buffer_upload(&st.x, 0, in, sizeof(real) * 3 * n);
          if (rc == PL_OK) rc = pl_buffer_upload(&st.F, 0, in + 3 * n, sizeof(real) * 9 * n);
          if (rc == PL_OK) rc = engine_render_state(e, &st);
        }
        if (rc == PL_OK) rc = loss_now(e, frame, &l[sgn]);
        in[idx] = saved;
      }
      d[t] = (l[0] - l[1]) / (2 * hh);
    }
    pl_gc_row trial = first;
    trial.fd = (4 * d[1] - d[0]) / 3;
    /* the measured uncertainty, at least the loss's rounding over the step (two differences that both round to
     * exactly 0 measure nothing) */
    double u = fmax(fabs(d[1] - d[0]), loss_rounding(base.total) / h);
    pl_gc_judge_u(&trial, u, fmax(fabs(base.total), 1e-30), tol, 1e-12);
    double sc = fmax(fmax(fabs(trial.adjoint), fabs(trial.fd)), 1e-300);
    if (trial.verdict == PL_GC_OK || u / sc < best_u) best = trial, best_u = u / sc;
    if (trial.verdict == PL_GC_OK || trial.verdict == PL_GC_INSENSITIVE) {
      best = trial;
      break;
    }
    }
    /* a sampled input the loss does not see (occluded, interior), or whose differences stay noisy at every step */
    if (best.verdict == PL_GC_INSENSITIVE || best.verdict == PL_GC_NOISY) best.verdict = PL_GC_BELOW_NOISE;
    *r = best;
  }
  free(in);
  free(adj);
  free(ad);
  free(pick);
  pl_buffer_free(&scratch);
  mpm_state_free(&st);
  if (freeze) pl_engine_freeze_order(e, 0);
  return rc;
}
