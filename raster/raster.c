/* raster.c: the public entry points: argument validation, input checks and backend dispatch. */
#include "raster/raster.h"

#include <cglm/cglm.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "raster/raster_internal.h"

pl_status raster_create(raster_ctx **out, const raster_desc *desc) {
  if (!out) return pl_fail(PL_ERR_INVALID, "raster_create: ctx pointer is NULL");
  *out = NULL;
  raster_desc d;
  memset(&d, 0, sizeof d);
  if (desc) d = *desc;
  if (d.threads < 0) return pl_fail(PL_ERR_INVALID, "raster_create: threads must be >= 0 (got %d)", d.threads);
  if (d.max_pairs < 0 || d.max_pairs > RASTER_MAX_PAIRS_HARD)
    return pl_fail(PL_ERR_INVALID, "raster_create: max_pairs must be in [0, %lld] (got %lld; 0 = the hard limit)",
                   (long long)RASTER_MAX_PAIRS_HARD, (long long)d.max_pairs);
  pl_backend be;
  PL_TRY(pl_backend_resolve(d.backend, &be, NULL, 0));
  raster_ctx *ctx = (raster_ctx *)calloc(1, sizeof *ctx);
  if (!ctx) return pl_fail(PL_ERR_NOMEM, "raster_create: out of memory");
  ctx->backend = be;
  pl_status st = raster_backend_ops_get(be, &ctx->ops);
  if (st != PL_OK) {
    free(ctx);
    return st;
  }
#ifdef _OPENMP
  ctx->threads = d.threads > 0 ? d.threads : omp_get_max_threads();
#else
  ctx->threads = 1;
#endif
  if (ctx->threads < 1) ctx->threads = 1;
  ctx->max_pairs = d.max_pairs > 0 ? d.max_pairs : RASTER_MAX_PAIRS_HARD;
  const char *sort = getenv("PL_RASTER_SORT"); /* the CUDA pair sort (raster_internal.h); the CPU has one */
  if (sort && sort[0] && strcmp(sort, "joint") != 0 && strcmp(sort, "split") != 0) {
    free(ctx);
    return pl_fail(PL_ERR_INVALID, "environment variable PL_RASTER_SORT = '%s': choose joint or split", sort);
  }
  ctx->sort_mode = sort && !strcmp(sort, "split") ? RASTER_SORT_SPLIT : RASTER_SORT_JOINT;
  *out = ctx;
  return PL_OK;
}

void raster_destroy(raster_ctx *ctx) {
  if (!ctx) return;
  raster_scratch_free(ctx);
  free(ctx->cams);
  free(ctx);
}

pl_backend raster_ctx_backend(const raster_ctx *ctx) { return ctx ? ctx->backend : PL_BACKEND_CPU; }

void raster_get_stats(const raster_ctx *ctx, raster_stats *stats) {
  memset(stats, 0, sizeof *stats);
  if (!ctx) return;
  *stats = ctx->stats;
  stats->scratch_bytes = raster_scratch_bytes(ctx);
}

int64_t raster_total_pixels(const raster_camera *cams, int n_cams) {
  int64_t p = 0;
  for (int c = 0; c < n_cams; ++c) p += (int64_t)cams[c].width * cams[c].height;
  return p;
}

void raster_camera_look_at(raster_camera *cam, int width, int height, double fov_y_deg, const double eye[3],
                           const double target[3], const double up[3]) {
  memset(cam, 0, sizeof *cam);
  cam->width = width;
  cam->height = height;
  cam->fy = 0.5 * height / tan(0.5 * fov_y_deg * 3.14159265358979323846 / 180.0);
  cam->fx = cam->fy;
  cam->cx = 0.5 * width;
  cam->cy = 0.5 * height;
  raster_viewmat_look_at(eye, target, up, cam->viewmat);
}

void raster_viewmat_look_at(const double eye[3], const double target[3], const double up[3], double viewmat[16]) {
  vec3 e = {(float)eye[0], (float)eye[1], (float)eye[2]};
  vec3 t = {(float)target[0], (float)target[1], (float)target[2]};
  vec3 u = {(float)up[0], (float)up[1], (float)up[2]};
  mat4 gl;
  glm_lookat_rh(e, t, u, gl); /* OpenGL view, column-major gl[col][row]; OpenCV = diag(1,-1,-1,1) * OpenGL */
  static const double flip[3] = {1, -1, -1};
  for (int row = 0; row < 3; ++row)
    for (int col = 0; col < 4; ++col) viewmat[4 * row + col] = flip[row] * (double)gl[col][row];
  viewmat[12] = viewmat[13] = viewmat[14] = 0;
  viewmat[15] = 1;
}

/* ------------------------------------------------------------------ validation */

static pl_status check_cameras(const raster_camera *cams, int n_cams) {
  if (n_cams < 1 || !cams) return pl_fail(PL_ERR_INVALID, "rasterizer: need at least one camera (got %d)", n_cams);
  for (int c = 0; c < n_cams; ++c) {
    const raster_camera *k = &cams[c];
    if (k->width < 1 || k->height < 1 || k->width > 65536 || k->height > 65536)
      return pl_fail(PL_ERR_INVALID, "camera %d: image size %dx%d is out of range (1..65536 per side)", c, k->width,
                     k->height);
    if (!(isfinite(k->fx) && isfinite(k->fy) && k->fx > 0 && k->fy > 0))
      return pl_fail(PL_ERR_INVALID, "camera %d: focal lengths must be positive and finite (fx %g, fy %g)", c, k->fx,
                     k->fy);
    if (!(isfinite(k->cx) && isfinite(k->cy)))
      return pl_fail(PL_ERR_INVALID, "camera %d: principal point is not finite (%g, %g)", c, k->cx, k->cy);
    for (int i = 0; i < 16; ++i)
      if (!isfinite(k->viewmat[i])) return pl_fail(PL_ERR_INVALID, "camera %d: viewmat[%d] is not finite", c, i);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) {
        double dot = 0;
        for (int m = 0; m < 3; ++m) dot += k->viewmat[4 * i + m] * k->viewmat[4 * j + m];
        if (fabs(dot - (i == j ? 1.0 : 0.0)) > 1e-3)
          return pl_fail(PL_ERR_INVALID, "camera %d: viewmat is not a rigid transform (its 3x3 rotation rows must be "
                         "orthonormal)", c);
      }
    if (fabs(k->viewmat[12]) + fabs(k->viewmat[13]) + fabs(k->viewmat[14]) + fabs(k->viewmat[15] - 1) > 1e-9)
      return pl_fail(PL_ERR_INVALID, "camera %d: viewmat's last row must be 0 0 0 1", c);
  }
  return PL_OK;
}

static pl_status resolve_inputs(const raster_gaussians *g, raster_inputs *in) {
  memset(in, 0, sizeof *in);
  if (!g) return pl_fail(PL_ERR_INVALID, "rasterizer: Gaussians are NULL");
  if (g->n < 0) return pl_fail(PL_ERR_INVALID, "rasterizer: negative Gaussian count %lld", (long long)g->n);
  if (g->n > 2147483647LL)
    return pl_fail(PL_ERR_LIMIT, "rasterizer: %lld Gaussians exceed the limit of 2^31 - 1 per call", (long long)g->n);
  in->n = g->n;
  if (g->n == 0) return PL_OK;
  if (!g->means) return pl_fail(PL_ERR_INVALID, "rasterizer: means are NULL");
  if (!g->opacities) return pl_fail(PL_ERR_INVALID, "rasterizer: opacities are NULL");
  if (g->covs && (g->scales || g->quats))
    return pl_fail(PL_ERR_INVALID, "rasterizer: give either covariances or scales + quaternions, not both");
  if (!g->covs && !(g->scales && g->quats))
    return pl_fail(PL_ERR_INVALID, "rasterizer: give covariances, or both scales and quaternions");
  if (g->colors && g->sh) return pl_fail(PL_ERR_INVALID, "rasterizer: give either colours or SH coefficients, not both");
  if (!g->colors && !g->sh) return pl_fail(PL_ERR_INVALID, "rasterizer: give colours or SH coefficients");
  if (g->sh_frames && g->colors)
    return pl_fail(PL_ERR_INVALID, "rasterizer: sh_frames given but the Gaussians have RGB colours (frames rotate "
                   "the SH view direction: give sh)");
  if (g->sh && (g->sh_degree < 0 || g->sh_degree > RASTER_SH_MAX_DEGREE))
    return pl_fail(PL_ERR_INVALID, "rasterizer: sh_degree must be 0..3 (got %d)", g->sh_degree);
  in->means = g->means;
  in->covs = g->covs;
  in->scales = g->covs ? NULL : g->scales;
  in->quats = g->covs ? NULL : g->quats;
  in->opacities = g->opacities;
  in->colors = g->colors;
  in->sh = g->colors ? NULL : g->sh;
  in->sh_frames = g->colors ? NULL : g->sh_frames;
  in->sh_degree = g->colors ? 0 : g->sh_degree;
  in->sh_coeffs = g->colors ? 0 : raster_sh_coeffs(g->sh_degree);
  return PL_OK;
}

/* Copy `count` reals at element offset `off` of a backend array to the host (for error messages). */
static void fetch_reals(const raster_ctx *ctx, const real *arr, int64_t off, int count, double *dst) {
  real tmp[48];
  for (int i = 0; i < count; ++i) dst[i] = NAN;
  if (!arr || count > 48) return;
  if (ctx->backend == PL_BACKEND_CUDA) {
    if (pl_cuda_memcpy_d2h(tmp, arr + off, sizeof(real) * (size_t)count) != PL_OK) return;
  } else {
    memcpy(tmp, arr + off, sizeof(real) * (size_t)count);
  }
  for (int i = 0; i < count; ++i) dst[i] = (double)tmp[i];
}

static pl_status report_bad(const raster_ctx *ctx, const raster_inputs *in, int64_t i, int code) {
  double v[48];
  long long g = (long long)i;
  switch (code) {
    case RASTER_BAD_MEAN:
      fetch_reals(ctx, in->means, 3 * i, 3, v);
      return pl_fail(PL_ERR_NUMERIC, "Gaussian %lld: mean is not finite (%g, %g, %g)", g, v[0], v[1], v[2]);
    case RASTER_BAD_COV:
      fetch_reals(ctx, in->covs, 6 * i, 6, v);
      return pl_fail(PL_ERR_NUMERIC, "Gaussian %lld: covariance is not finite (%g %g %g %g %g %g)", g, v[0], v[1], v[2],
                     v[3], v[4], v[5]);
    case RASTER_BAD_COV_DIAG:
      fetch_reals(ctx, in->covs, 6 * i, 6, v);
      return pl_fail(PL_ERR_INVALID, "Gaussian %lld: covariance has a negative diagonal entry (xx %g, yy %g, zz %g)", g,
                     v[0], v[3], v[5]);
    case RASTER_BAD_SCALE:
      fetch_reals(ctx, in->scales, 3 * i, 3, v);
      return pl_fail(PL_ERR_NUMERIC, "Gaussian %lld: scale is not finite (%g, %g, %g)", g, v[0], v[1], v[2]);
    case RASTER_BAD_QUAT:
      fetch_reals(ctx, in->quats, 4 * i, 4, v);
      return pl_fail(PL_ERR_NUMERIC, "Gaussian %lld: quaternion is not finite (%g, %g, %g, %g)", g, v[0], v[1], v[2],
                     v[3]);
    case RASTER_BAD_QUAT_ZERO:
      return pl_fail(PL_ERR_INVALID, "Gaussian %lld: quaternion has zero length", g);
    case RASTER_BAD_OPACITY:
      fetch_reals(ctx, in->opacities, i, 1, v);
      return pl_fail(PL_ERR_NUMERIC, "Gaussian %lld: opacity is not finite (%g)", g, v[0]);
    case RASTER_BAD_OPACITY_RANGE:
      fetch_reals(ctx, in->opacities, i, 1, v);
      return pl_fail(PL_ERR_INVALID, "Gaussian %lld: opacity %g is outside [0, 1] (opacities are probabilities, not "
                     "logits)", g, v[0]);
    case RASTER_BAD_COLOR:
      fetch_reals(ctx, in->colors, 3 * i, 3, v);
      return pl_fail(PL_ERR_NUMERIC, "Gaussian %lld: colour is not finite (%g, %g, %g)", g, v[0], v[1], v[2]);
    case RASTER_BAD_SH:
      return pl_fail(PL_ERR_NUMERIC, "Gaussian %lld: an SH coefficient is not finite", g);
    case RASTER_BAD_SH_FRAME:
      fetch_reals(ctx, in->sh_frames, 9 * i, 9, v);
      return pl_fail(PL_ERR_NUMERIC, "Gaussian %lld: SH frame is not finite (%g %g %g; %g %g %g; %g %g %g)", g, v[0],
                     v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]);
    default:
      return pl_fail(PL_ERR_INTERNAL, "Gaussian %lld: input check failed with code %d", g, code);
  }
}

/* Shared preparation of forward and backward: validates and fills ctx->cams. */
static pl_status prepare(raster_ctx *ctx, const raster_gaussians *g, const raster_camera *cams, int n_cams,
                         const raster_options *opt, raster_inputs *in, raster_options *o) {
  if (!ctx) return pl_fail(PL_ERR_INVALID, "rasterizer: context is NULL");
  PL_TRY(resolve_inputs(g, in));
  PL_TRY(check_cameras(cams, n_cams));
  memset(o, 0, sizeof *o);
  if (opt) *o = *opt;
  if (o->mode != RASTER_CLASSIC && o->mode != RASTER_ANTIALIASED)
    return pl_fail(PL_ERR_INVALID, "rasterizer: unknown mode %d (classic 0, antialiased 1)", (int)o->mode);
  if (o->near_plane == 0) o->near_plane = RASTER_NEAR_DEFAULT;
  if (o->far_plane == 0) o->far_plane = RASTER_FAR_DEFAULT;
  if (!(o->near_plane > 0 && o->far_plane > o->near_plane && isfinite(o->far_plane)))
    return pl_fail(PL_ERR_INVALID, "rasterizer: need 0 < near_plane < far_plane (got %g, %g)", o->near_plane,
                   o->far_plane);
  if (!(o->alpha_min >= 0 && o->alpha_min < 0.5 && o->transmittance_min >= 0 && o->transmittance_min < 0.5) ||
      (o->alpha_min > 0 && o->alpha_min < RASTER_ALPHA_MIN_FLOOR))
    return pl_fail(PL_ERR_INVALID, "rasterizer: need alpha_min in [%g, 0.5) and transmittance_min in [0, 0.5) (0 = default; "
                   "got %g, %g)", RASTER_ALPHA_MIN_FLOOR, o->alpha_min, o->transmittance_min);
  for (int ch = 0; ch < 3; ++ch)
    if (!r_isfinite(o->background[ch])) return pl_fail(PL_ERR_INVALID, "rasterizer: background is not finite");
  if ((int64_t)n_cams * in->n > 4294967295LL)
    return pl_fail(PL_ERR_LIMIT, "rasterizer: cameras x Gaussians = %lld exceeds the limit of 2^32 - 1 per call",
                   (long long)n_cams * (long long)in->n);
  if (ctx->cams_cap < n_cams) {
    raster_cam *k = (raster_cam *)realloc(ctx->cams, sizeof(raster_cam) * (size_t)n_cams);
    if (!k) return pl_fail(PL_ERR_NOMEM, "rasterizer: out of memory");
    ctx->cams = k;
    ctx->cams_cap = n_cams;
  }
  int64_t pix = 0, tiles = 0;
  for (int c = 0; c < n_cams; ++c) {
    raster_cam *k = &ctx->cams[c];
    raster_cam_init(k, cams[c].width, cams[c].height, cams[c].fx, cams[c].fy, cams[c].cx, cams[c].cy, cams[c].viewmat,
                    o->near_plane, o->far_plane);
    raster_cam_set_cutoffs(k, o->alpha_min, o->transmittance_min);
    k->pix_offset = pix;
    k->tile_offset = tiles;
    pix += (int64_t)cams[c].width * cams[c].height;
    tiles += (int64_t)k->tiles_x * k->tiles_y;
  }
  if (tiles > 2147483647LL)
    return pl_fail(PL_ERR_LIMIT, "rasterizer: %lld tiles over all cameras exceed the limit of 2^31 - 1",
                   (long long)tiles);
  ctx->npix = pix;
  ctx->ntiles = tiles;
  return PL_OK;
}

static pl_status check_inputs(raster_ctx *ctx, const raster_inputs *in) {
  if (in->n == 0) return PL_OK;
  int64_t bad = -1;
  int code = 0;
  PL_TRY(ctx->ops->check(ctx, in, &bad, &code));
  if (bad >= 0) return report_bad(ctx, in, bad, code);
  return PL_OK;
}

pl_status raster_forward(raster_ctx *ctx, const raster_gaussians *g, const raster_camera *cams, int n_cams,
                         const raster_options *opt, const raster_images *out) {
  raster_inputs in;
  raster_options o;
  if (ctx) ctx->has_forward = 0;
  PL_TRY(prepare(ctx, g, cams, n_cams, opt, &in, &o));
  if (!out) return pl_fail(PL_ERR_INVALID, "raster_forward: output images struct is NULL");
  if (!o.skip_input_check) PL_TRY(check_inputs(ctx, &in));
  ctx->n = in.n;
  ctx->ncams = n_cams;
  ctx->antialiased = o.mode == RASTER_ANTIALIASED;
  ctx->use_sh = in.sh != NULL;
  ctx->sh_degree = in.sh_degree;
  ctx->use_covs = in.covs != NULL;
  ctx->use_sh_frames = in.sh_frames != NULL;
  for (int ch = 0; ch < 3; ++ch) ctx->bg[ch] = o.background[ch];
  ctx->sort_depth = o.sort_depth;
  memset(&ctx->stats, 0, sizeof ctx->stats);
  ctx->stats.n_gaussians = in.n;
  ctx->stats.n_cameras = n_cams;
  ctx->stats.n_pixels = ctx->npix;
  ctx->stats.n_tiles = ctx->ntiles;
  pl_status s = ctx->ops->forward(ctx, &in, out);
  if (s == PL_OK) ctx->has_forward = 1;
  return s;
}

pl_status raster_backward(raster_ctx *ctx, const raster_gaussians *g, const raster_camera *cams, int n_cams,
                          const raster_options *opt, const raster_images *v_out, const raster_grads *grads) {
  raster_inputs in;
  raster_options o;
  if (!ctx) return pl_fail(PL_ERR_INVALID, "raster_backward: context is NULL");
  if (!ctx->has_forward)
    return pl_fail(PL_ERR_INVALID, "raster_backward: no successful raster_forward on this context to differentiate");
  int64_t saved_pix = ctx->npix, saved_tiles = ctx->ntiles;
  PL_TRY(prepare(ctx, g, cams, n_cams, opt, &in, &o));
  if (in.n != ctx->n || n_cams != ctx->ncams || ctx->npix != saved_pix || ctx->ntiles != saved_tiles ||
      (o.mode == RASTER_ANTIALIASED) != ctx->antialiased || (in.sh != NULL) != ctx->use_sh ||
      in.sh_degree != ctx->sh_degree || (in.covs != NULL) != ctx->use_covs ||
      (in.sh_frames != NULL) != ctx->use_sh_frames)
    return pl_fail(PL_ERR_INVALID, "raster_backward: Gaussians, cameras or options differ from the last raster_forward "
                   "on this context");
  for (int ch = 0; ch < 3; ++ch)
    if (o.background[ch] != ctx->bg[ch])
      return pl_fail(PL_ERR_INVALID, "raster_backward: background differs from the last raster_forward");
  if (!grads) return pl_fail(PL_ERR_INVALID, "raster_backward: grads struct is NULL");
  if (in.n == 0) return PL_OK;
  if (in.covs && (grads->scales || grads->quats))
    return pl_fail(PL_ERR_INVALID, "raster_backward: grads.scales/quats given but the Gaussians are given by "
                   "covariances (use grads.covs)");
  if (!in.covs && grads->covs)
    return pl_fail(PL_ERR_INVALID, "raster_backward: grads.covs given but the Gaussians are given by scales and "
                   "quaternions (use grads.scales, grads.quats)");
  if (in.colors && grads->sh)
    return pl_fail(PL_ERR_INVALID, "raster_backward: grads.sh given but the Gaussians have RGB colours");
  if (in.sh && grads->colors)
    return pl_fail(PL_ERR_INVALID, "raster_backward: grads.colors given but the Gaussians have SH coefficients");
  if (!in.sh_frames && grads->sh_frames)
    return pl_fail(PL_ERR_INVALID, "raster_backward: grads.sh_frames given but the Gaussians have no SH frames");
  if (in.sh && grads->cameras)
    return pl_fail(PL_ERR_UNSUPPORTED, "raster_backward: camera gradients need RGB colours (an SH colour depends "
                   "on the view direction)");
  raster_images none;
  memset(&none, 0, sizeof none);
  if (!v_out) v_out = &none;
  return ctx->ops->backward(ctx, &in, v_out, grads);
}
