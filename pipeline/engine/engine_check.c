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
#include "pipeline/engine/engine_trace.h"

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

/* One stage check: the engine at the checked frame, the stage's inputs and their adjoints (host copies), and the
 * buffers the differences step them in. */
typedef struct {
  pl_engine *e;
  int is_raster, frame, freeze;
  size_t n, m, len;      /* particles, Gaussians, inputs (raster: 13m, upsample: 12n) */
  double rel_step, tol;
  mpm_state st;          /* the state at the frame (the upsampler's differences render from it) */
  int st_alloc;
  pl_loss_value base;    /* the loss at the checked point */
  real *in, *adj;        /* the inputs and their adjoints */
  double *ad;
  pl_buffer scratch;     /* the stepped inputs on the backend (raster) */
  raster_gaussians g;    /* the engine's Gaussians pointing at scratch (raster) */
} stage_ctx;

static double ctx_scale(const stage_ctx *c, int64_t idx) {
  return entry_scale(c->e->scene, c->is_raster, c->in, (int64_t)c->m, (int64_t)c->n, idx);
}

/* The checked frame (default: the last loss frame) and stage, validated. */
static pl_status resolve_frame(const pl_engine *e, const char *stage, int *frame, int *is_raster) {
  const pl_scene *s = e->scene;
  int nf = s->sim.frames + 1;
  if (!e->targets) return pl_fail(PL_ERR_INTERNAL, "stage check: no targets");
  if (*frame < 0) /* default: the last loss frame */
    for (int f = 0; f < nf; ++f)
      if (e->loss_frame[f]) *frame = f;
  if (*frame < 0 || *frame >= nf || !e->loss_frame[*frame])
    return pl_fail(PL_ERR_INVALID, "stage check: frame %d carries no loss (targets.frames = %s)", *frame, s->targets.frames);
  *is_raster = strcmp(stage, "raster") == 0;
  if (!*is_raster && strcmp(stage, "upsample") != 0)
    return pl_fail(PL_ERR_INVALID, "unknown stage '%s' (raster, upsample)", stage);
  if (*is_raster && e->sh_k)
    return pl_fail(PL_ERR_UNSUPPORTED, "stage check 'raster' steps RGB colours, and this scene's Gaussians carry SH (a "
                   "splat object with bands above degree 0): check --stage upsample (it covers the SH frames) or the "
                   "whole objective");
  return PL_OK;
}

/* The checked point: the state at the frame, the loss and its adjoint there (the depth order recorded with smooth
 * cut-offs, gradcheck's default, so the differences sort as the adjoint did), host copies of the stage's inputs
 * and adjoints, and the scratch buffer. */
static pl_status checked_point(stage_ctx *c) {
  pl_engine *e = c->e;
  PL_TRY(pl_engine_run(e, c->frame, NULL, NULL, NULL));
  PL_TRY(mpm_state_alloc(&c->st, e->backend, e->n));
  c->st_alloc = 1;
  PL_TRY(mpm_state_copy(&c->st, &e->sim->state));
  c->freeze = e->ropt.alpha_min > 0 && e->ropt.alpha_min < 1e-6;
  if (c->freeze) pl_engine_freeze_order(e, 1);
  e->cur_frame = c->frame;
  pl_status rc = engine_frame_adjoint(e, &c->st, c->frame, 1.0, &c->base);
  if (c->freeze) pl_engine_freeze_order(e, 2);
  PL_TRY(rc);
  c->n = (size_t)e->n, c->m = (size_t)e->m;
  c->len = c->is_raster ? 13 * c->m : 12 * c->n;
  size_t len = c->len ? c->len : 1;
  c->in = (real *)malloc(sizeof(real) * len), c->adj = (real *)malloc(sizeof(real) * len);
  c->ad = (double *)malloc(sizeof(double) * len);
  if (!c->in || !c->adj || !c->ad) return pl_fail(PL_ERR_NOMEM, "out of memory");
  if (c->is_raster) {
    PL_TRY(pl_buffer_download(&e->vgauss, 0, c->adj, sizeof(real) * c->len));
    PL_TRY(ups_download(e->ups, c->in, c->in + 3 * c->m, c->in + 9 * c->m, c->in + 12 * c->m));
  } else {
    PL_TRY(pl_buffer_download(&e->vstate, 0, c->adj, sizeof(real) * c->len));
    PL_TRY(pl_buffer_download(&c->st.x, 0, c->in, sizeof(real) * 3 * c->n));
    PL_TRY(pl_buffer_download(&c->st.F, 0, c->in + 3 * c->n, sizeof(real) * 9 * c->n));
  }
  for (size_t i = 0; i < c->len; ++i) c->ad[i] = c->adj[i];
  PL_TRY(pl_buffer_alloc(&c->scratch, e->backend, sizeof(real) * len));
  c->g = e->gauss;
  if (c->is_raster) {
    real *sb = (real *)c->scratch.ptr;
    c->g.means = sb, c->g.covs = sb + 3 * c->m, c->g.colors = sb + 9 * c->m, c->g.opacities = sb + 12 * c->m;
  }
  return PL_OK;
}

/* The sampled entries (pick_entries): `sees` marks the entries the loss sees measurably (|g| h_max at least 100
 * roundings of L, h_max = 10 rel_step scale, the largest step tried), `seen_elem` every entry of a Gaussian or
 * particle with such an entry. */
static pl_status sample_entries(const stage_ctx *c, int k, int64_t *pick, int *count) {
  *count = 0;
  size_t len = c->len ? c->len : 1;
  const int64_t ne = c->is_raster ? (int64_t)c->m : (int64_t)c->n;
  unsigned char *sees = (unsigned char *)calloc(len, 1), *seen_elem = (unsigned char *)calloc(len, 1);
  unsigned char *elem = (unsigned char *)calloc((size_t)(ne ? ne : 1), 1);
  pl_status rc = sees && seen_elem && elem ? PL_OK : pl_fail(PL_ERR_NOMEM, "out of memory");
  const double floor_l = loss_rounding(c->base.total);
  for (size_t i = 0; rc == PL_OK && i < c->len; ++i)
    sees[i] = fabs(c->ad[i]) * 10 * c->rel_step * ctx_scale(c, (int64_t)i) > 100 * floor_l;
  for (int pass = 0; rc == PL_OK && pass < 2; ++pass)
    for (int64_t i = 0; i < (int64_t)c->len; ++i) {
      int64_t el;
      if (c->is_raster)
        el = i < 3 * ne ? i / 3 : i < 9 * ne ? (i - 3 * ne) / 6 : i < 12 * ne ? (i - 9 * ne) / 3 : i - 12 * ne;
      else
        el = i < 3 * ne ? i / 3 : (i - 3 * ne) / 9;
      if (pass == 0) elem[el] |= sees[i];
      else seen_elem[i] = elem[el];
    }
  if (rc == PL_OK)
    *count = pick_entries(c->ad, c->in, c->is_raster ? 12 * (int64_t)c->m : (int64_t)c->len, (int64_t)c->len, k,
                          c->e->scene->sim.seed, sees, seen_elem, pick);
  free(sees), free(seen_elem), free(elem);
  return rc;
}

/* The row's name: the Gaussian and field, or the particle and component, of input idx. */
static void entry_name(const stage_ctx *c, int64_t idx, char *name, size_t size) {
  const int64_t m = (int64_t)c->m, n = (int64_t)c->n;
  if (c->is_raster) {
    static const char *names[] = {"mean.x", "mean.y", "mean.z", "cov.xx", "cov.xy", "cov.xz", "cov.yy", "cov.yz",
                                  "cov.zz", "colour.r", "colour.g", "colour.b", "opacity"};
    int field;
    int64_t gi;
    if (idx < 3 * m) gi = idx / 3, field = (int)(idx % 3);
    else if (idx < 9 * m) gi = (idx - 3 * m) / 6, field = 3 + (int)((idx - 3 * m) % 6);
    else if (idx < 12 * m) gi = (idx - 9 * m) / 3, field = 9 + (int)((idx - 9 * m) % 3);
    else gi = idx - 12 * m, field = 12;
    snprintf(name, size, "raster: Gaussian %lld %s", (long long)gi, names[field]);
  } else if (idx < 3 * n) {
    snprintf(name, size, "upsample: particle %lld x.%c", (long long)(idx / 3), "xyz"[idx % 3]);
  } else {
    snprintf(name, size, "upsample: particle %lld F[%lld]", (long long)((idx - 3 * n) / 9), (long long)((idx - 3 * n) % 9));
  }
}

/* The loss with input idx stepped to in[idx] + dx (restored after). */
static pl_status loss_stepped(stage_ctx *c, int64_t idx, double dx, double *out) {
  pl_engine *e = c->e;
  real saved = c->in[idx];
  c->in[idx] = (real)(saved + dx);
  pl_status rc;
  if (c->is_raster) {
    rc = pl_buffer_upload(&c->scratch, 0, c->in, sizeof(real) * c->len);
    if (rc == PL_OK) rc = render_gauss(e, &c->g);
  } else {
    rc = pl_buffer_upload(&c->st.x, 0, c->in, sizeof(real) * 3 * c->n);
    if (rc == PL_OK) rc = pl_buffer_upload(&c->st.F, 0, c->in + 3 * c->n, sizeof(real) * 9 * c->n);
    if (rc == PL_OK) rc = engine_render_state(e, &c->st);
  }
  if (rc == PL_OK) rc = loss_now(e, c->frame, out);
  c->in[idx] = saved;
  return rc;
}

/* One sampled input against central differences. Steps relative to the entry's own scale (entry_scale), tried
 * in turn until ok, as gradcheck's parameters: h, h/10, 10h, h/100 (a kink inside the interval needs a smaller
 * one, rounding a larger one); a colour or an opacity keeps its step inside its range. "below noise": a sampled
 * input the loss does not see (occluded, interior), or whose differences stay noisy at every step. */
static pl_status check_entry(stage_ctx *c, int64_t idx, pl_gc_row *r) {
  const int64_t m = (int64_t)c->m;
  const int is_opacity = c->is_raster && idx >= 12 * m, is_colour = c->is_raster && idx >= 9 * m && idx < 12 * m;
  memset(r, 0, sizeof *r);
  entry_name(c, idx, r->name, sizeof r->name);
  r->value = c->in[idx];
  r->adjoint = c->ad[idx];
  double h0 = c->rel_step * ctx_scale(c, idx);
  if (is_opacity) h0 = fmin(h0, 0.25 * fmin(r->value, 1 - r->value));
  /* Branch-aware (CPU backend, double; engine_trace.h): the + and - renders of each difference record the signs
   * of the L1 residuals; a step whose two renders differ there straddles a kink of the loss (a pixel's residual
   * crossing 0), is not judged, and the next step is ten times smaller (down to 1e-4 h0); none larger is tried
   * again. An entry every step of which straddles is "non-smooth": its difference cannot check it. (Targets are
   * stored in float, so residuals at the float rounding of the target, ~1e-8, sit on the kink for any step a
   * double difference resolves; an entry seen in a few such pixels only is not checkable by differences.) Not a
   * failure: the kinks of L1 are the loss's, and the adjoint takes sign(r) of the point (docs/adjoints.md). */
  const int aware = pl_engine_can_trace(c->e) && sizeof(real) == sizeof(double);
  static const double ladder[4] = {1, 0.1, 10, 0.01};
  pl_gc_search search;
  pl_gc_search_init(&search, r, h0, ladder, 10, 1e-4);
  for (int attempt = 0; attempt < 8; ++attempt) {
    double h = pl_gc_search_next(&search);
    if (h == 0) break;
    if (is_opacity) h = fmin(h, 0.25 * fmin(r->value, 1 - r->value)); /* opacity in (0, 1) */
    if (is_colour) h = fmin(h, 0.25);
    if (!(h > 0)) break;
    double d[2];
    int64_t changes = 0;
    for (int t = 0; t < 2; ++t) {
      double hh = t ? h / 2 : h, l[2];
      for (int side = 0; side < 2; ++side) {
        if (aware) {
          PL_TRY(pl_engine_trace(c->e, side));
          engine_trace_run_begin(c->e); /* a fresh record for this render (no simulation runs here) */
        }
        pl_status st = loss_stepped(c, idx, side ? -hh : hh, &l[side]);
        if (aware) {
          pl_status st2 = pl_engine_trace(c->e, -1);
          if (st == PL_OK) st = st2;
        }
        PL_TRY(st);
      }
      if (aware) {
        pl_branch_changes ch;
        PL_TRY(pl_engine_trace_diff(c->e, 0, 1, &ch));
        changes = ch.residuals > changes ? ch.residuals : changes;
      }
      d[t] = (l[0] - l[1]) / (2 * hh);
    }
    pl_gc_row trial = *r;
    trial.traced = aware;
    trial.step = h;
    trial.branches[2] = changes;
    trial.fd = (4 * d[1] - d[0]) / 3;
    /* the measured uncertainty, at least the loss's rounding over the step (two differences that both round to
     * exactly 0 measure nothing) */
    double u = fmax(fabs(d[1] - d[0]), loss_rounding(c->base.total) / h);
    pl_gc_judge_u(&trial, u, fmax(fabs(c->base.total), 1e-30), c->tol, 1e-12);
    if (aware && changes > 0) { /* straddles a kink: not judged; "non-smooth", not a failure (above) */
      pl_gc_search_straddled(&search, trial, 0);
      continue;
    }
    if (pl_gc_search_judged(&search, &trial, u)) break;
  }
  pl_gc_row best = pl_gc_search_result(&search);
  if (best.verdict == PL_GC_INSENSITIVE || best.verdict == PL_GC_NOISY) best.verdict = PL_GC_BELOW_NOISE;
  *r = best;
  return PL_OK;
}

pl_status pl_engine_stage_check(pl_engine *e, const char *stage, int frame, int samples, double rel_step, double tol,
                                pl_gc_row *rows, int max, int *nrows) {
  *nrows = 0;
  stage_ctx c;
  memset(&c, 0, sizeof c);
  c.e = e, c.frame = frame, c.rel_step = rel_step, c.tol = tol;
  PL_TRY(resolve_frame(e, stage, &c.frame, &c.is_raster));
  int64_t *pick = (int64_t *)malloc(sizeof(int64_t) * (size_t)(samples > 0 ? samples : 1));
  pl_status rc = pick ? checked_point(&c) : pl_fail(PL_ERR_NOMEM, "out of memory");
  int k = 0;
  if (rc == PL_OK) rc = sample_entries(&c, samples < max ? samples : max, pick, &k);
  for (int q = 0; q < k && rc == PL_OK; ++q) {
    rc = check_entry(&c, pick[q], &rows[*nrows]);
    if (rc == PL_OK) ++*nrows;
  }
  free(c.in), free(c.adj), free(c.ad), free(pick);
  pl_buffer_free(&c.scratch);
  if (c.st_alloc) mpm_state_free(&c.st);
  if (c.freeze) pl_engine_freeze_order(e, 0);
  return rc;
}
