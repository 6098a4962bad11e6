/* raster.h: differentiable Gaussian-splat tile rasterizer (3D Gaussian splatting), forward and adjoint,
 * on the CPU (OpenMP, the reference) and on CUDA.
 *
 * Usage
 *   raster_desc d = {0};                 // zero-initialised: defaults (auto backend, all threads)
 *   raster_ctx *ctx;
 *   raster_create(&ctx, &d);
 *   raster_gaussians g = {0};  g.n = N; g.means = ...; g.covs = ...; g.opacities = ...; g.colors = ...;
 *   raster_camera cam = {0};   cam.width = 640; ...; (raster_camera_look_at() fills viewmat)
 *   raster_images out = {0};   out.rgb = ...; out.alpha = ...;
 *   raster_forward(ctx, &g, &cam, 1, NULL, &out);
 *   raster_images v_out = {0}; v_out.rgb = dL_drgb;
 *   raster_grads gr = {0};     gr.means = ...; gr.covs = ...; (zero them first: gradients ACCUMULATE)
 *   raster_backward(ctx, &g, &cam, 1, NULL, &v_out, &gr);
 *   raster_destroy(ctx);
 *
 * Conventions (gsplat's; DESIGN.md section 4): OpenCV camera (+x right, +y down, +z forward), viewmat is
 * world -> camera (row-major 4x4), fx, fy, cx, cy in pixels, pixel (i, j) has its centre at (j+0.5, i+0.5).
 * Cull z < near (0.01); EWA projection with the Jacobian's x/z, y/z clamped to 1.3 x tan(half fov) per
 * side; 2D covariance + 0.3 I; optional antialiased mode (opacity x sqrt(det S / det(S + 0.3 I)));
 * 16 x 16 tiles sorted by (tile, depth); per pixel, front to back: alpha = min(0.99, o exp(-sigma)),
 * skip alpha < 1/255, stop before T would fall to <= 1e-4. The support of a splat is the ellipse
 * sigma <= min(3.33^2/2, ln(255 o)) (3.33 standard deviations, tightened by opacity): outside it alpha is 0,
 * whatever the tiling, so the image does not depend on tile boundaries.
 *
 * Memory and ownership
 *   Array pointers live on the context's backend: host memory for cpu, device memory for cuda. The caller
 *   owns every array; the context owns its scratch (projections, pairs, sort buffers, per-pixel final T and
 *   last contributor), which grows as needed and is reused by later calls. raster_backward reuses what the
 *   last raster_forward on the same context saved: call it with the same Gaussians, cameras and options.
 *   A context is not thread-safe: use one per thread.
 *
 * Errors: functions return a pl_status; pl_last_error() names what failed (the Gaussian index for bad
 * input values, the camera for bad cameras). Nothing aborts on bad input; outputs are unspecified after a
 * failure (never partially written files: this module writes no files except through raster/ply.h). */
#ifndef PL_RASTER_H
#define PL_RASTER_H

#include <stdint.h>

#include "core/backend.h"
#include "core/hd.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ context */

typedef struct {
  pl_backend backend; /* default AUTO: cuda when compiled and a device is present, else cpu */
  int threads;        /* CPU threads; 0 = OpenMP's default (all cores) */
  int64_t max_pairs;  /* limit on Gaussian-tile pairs per call; 0 = the hard limit (2^32 - 1) */
} raster_desc;

typedef struct raster_ctx raster_ctx;

pl_status raster_create(raster_ctx **ctx, const raster_desc *desc);
void raster_destroy(raster_ctx *ctx); /* NULL is a no-op */
pl_backend raster_ctx_backend(const raster_ctx *ctx);

/* ------------------------------------------------------------------ inputs */

/* N Gaussians in world space. Give either covs, or scales + quats; either colors, or sh + sh_degree.
 * SH frames (PhysGaussian): with sh_frames, the SH colour of Gaussian g is evaluated along d0 = R_g^T (mu_g - eye),
 * the view direction in the Gaussian's rest frame, so that its view-dependent colour turns with the material
 * (R_g: the rotation of the deformation, e.g. the polar factor of F). Frames are checked to be finite, not to be
 * orthogonal (the direction is normalised after the product; a singular R_g can make it zero: undefined colour).
 * NULL: along mu_g - eye, bit for bit as without the field. Giving sh_frames with RGB colours is an error. */
typedef struct {
  int64_t n;             /* number of Gaussians (0 is allowed: the images are the background) */
  const real *means;     /* [n][3] */
  const real *covs;      /* [n][6] xx xy xz yy yz zz (symmetric), or NULL */
  const real *scales;    /* [n][3] standard deviations along the rotated axes (used when covs is NULL) */
  const real *quats;     /* [n][4] w x y z, any non-zero length (normalised inside) */
  const real *opacities; /* [n] in [0, 1] */
  const real *colors;    /* [n][3] RGB, or NULL */
  const real *sh;        /* [n][(sh_degree+1)^2][3] SH coefficients (3DGS: colour = max(0, SH(dir) + 0.5)) */
  int sh_degree;         /* 0..3, used when sh is given */
  const real *sh_frames; /* [n][9] row-major rotation per Gaussian, or NULL: SH evaluated along R^T (mu - eye) (the
                            Gaussian's rest frame; used with sh) */
} raster_gaussians;

/* A pinhole camera (host memory, double precision). */
typedef struct {
  int width, height;     /* pixels */
  double fx, fy, cx, cy; /* pixels */
  double viewmat[16];    /* world -> camera, row-major, OpenCV axes; last row 0 0 0 1 */
} raster_camera;

/* Fill a camera from a look-at (OpenCV axes) and a vertical field of view in degrees (fx = fy, principal
 * point at the image centre). Host only (cglm). */
void raster_camera_look_at(raster_camera *cam, int width, int height, double fov_y_deg, const double eye[3],
                           const double target[3], const double up[3]);
/* The look-at view matrix alone: world -> camera, row-major 4x4, OpenCV axes (the one look-at of the project). */
void raster_viewmat_look_at(const double eye[3], const double target[3], const double up[3], double viewmat[16]);

typedef enum { RASTER_CLASSIC = 0, RASTER_ANTIALIASED = 1 } raster_mode;

#ifdef PL_REAL_DOUBLE
#define RASTER_ALPHA_MIN_FLOOR 1e-15
#else
#define RASTER_ALPHA_MIN_FLOOR 1e-9
#endif

/* Per-call options; NULL means all defaults. */
typedef struct {
  raster_mode mode;     /* default classic */
  real background[3];   /* default black */
  double near_plane;    /* 0 -> 0.01 */
  double far_plane;     /* 0 -> 1e10 */
  /* cut-offs (0 = gsplat's defaults): alpha below alpha_min (1/255) is skipped, the splat's support shrinks with
   * it (sigma <= ln(op / alpha_min)); compositing stops before T would fall to <= transmittance_min (1e-4). They
   * are the image's only discontinuities in the Gaussians: small values (1e-9, 1e-12) make it smooth for
   * finite-difference checks (pipeline gradcheck), at the cost of larger footprints. alpha_min >=
   * RASTER_ALPHA_MIN_FLOOR: 1e-9 in float (the compositing's exp covers [-21, 0]), 1e-15 in double. */
  double alpha_min, transmittance_min;
  /* [ncams][n] on the context's backend, or NULL: the depth each Gaussian is SORTED by in each camera instead of
   * its own (its own still culls and blends). Sorting is the image's other jump (two overlapping splats of
   * different colours trading places); a depth order frozen at one point makes finite differences around it
   * smooth (pipeline gradcheck). */
  const real *sort_depth;
  int skip_input_check; /* 0 (default): check every input value and fail naming the first bad Gaussian */
} raster_options;

/* ------------------------------------------------------------------ outputs */

/* Images of all cameras, packed camera after camera (camera c starts at pixel sum_{k<c} W_k H_k; with equal
 * sizes this is [C][H][W]). Any pointer may be NULL (not written). In raster_backward the same struct
 * carries the cotangents dL/d(image), any of them NULL (zero). */
typedef struct {
  real *rgb;            /* [P][3]  sum c alpha T + T background */
  real *alpha;          /* [P]     1 - T */
  real *depth;          /* [P]     accumulated depth sum z alpha T (z: camera-space depth of the mean) */
  real *expected_depth; /* [P]     depth / alpha, 0 where alpha = 0 */
} raster_images;

/* Gradients, ACCUMULATED (+=) into the caller's arrays. Any pointer may be NULL (not computed). covs is used
 * when the Gaussians were given by covariances, scales and quats when by scales and quaternions; colors or
 * sh likewise; sh_frames only when the Gaussians have SH frames. Gaussians culled in every camera get exactly
 * zero. */
typedef struct {
  real *means;     /* [n][3] */
  real *covs;      /* [n][6] (cotangent of the 6 stored values: the xy entry counts both xy and yx) */
  real *scales;    /* [n][3] */
  real *quats;     /* [n][4] */
  real *opacities; /* [n] */
  real *colors;    /* [n][3] */
  real *sh;        /* [n][(d+1)^2][3] */
  real *sh_frames; /* [n][9] (cotangent of R, row-major, every entry free; needs sh_frames in the input) */
  /* [n_cams][16]: per camera, the cotangents of viewmat rows 0..2 (12 values, row-major: R with t as the 4th
   * column) then of fx, fy, cx, cy (raster_project_camera_vjp). RGB colours only (an SH colour's view
   * direction would depend on the camera too: refused). */
  real *cameras;
} raster_grads;

/* Figures of the last call (for benchmarks and logs). */
typedef struct {
  int64_t n_gaussians, n_cameras, n_pixels;
  int64_t n_visible;      /* (camera, Gaussian) projections that touch at least one tile */
  int64_t n_pairs;        /* Gaussian-tile pairs */
  int64_t n_tiles;
  int64_t fwd_evals;      /* pixel-splat alpha evaluations of the forward pass (pixels still blending) */
  int64_t bwd_evals;      /* ... of the backward pass (pixels at or before their last blended splat) */
  int64_t scratch_bytes;  /* scratch memory held by the context */
} raster_stats;

/* ------------------------------------------------------------------ entry points */

/* Render n_cams cameras (host array). */
pl_status raster_forward(raster_ctx *ctx, const raster_gaussians *g, const raster_camera *cams, int n_cams,
                         const raster_options *opt, const raster_images *out);

/* Adjoint of the last raster_forward on ctx (same g, cams, opt): from the image cotangents v_out (rgb,
 * alpha, depth, expected_depth; NULL ones are zero) accumulate into grads. */
pl_status raster_backward(raster_ctx *ctx, const raster_gaussians *g, const raster_camera *cams, int n_cams,
                          const raster_options *opt, const raster_images *v_out, const raster_grads *grads);

void raster_get_stats(const raster_ctx *ctx, raster_stats *stats);

/* Total pixels over cameras (the length of the packed output images). */
int64_t raster_total_pixels(const raster_camera *cams, int n_cams);

#ifdef __cplusplus
}
#endif
#endif /* PL_RASTER_H */
