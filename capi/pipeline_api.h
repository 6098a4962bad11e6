/* pipeline_api.h: the public C API of libpipeline (the differentiable MPM -> upsampler -> Gaussian-splat
 * pipeline). Link with `pkg-config --libs pipeline` (-lpipeline). Python's `pipeline` package is built on it.
 *
 * Two precisions in one library: every function exists for float arrays (plapi_NAME) and for double arrays
 * (plapi_NAME_f64, CPU only). A handle belongs to the precision that created it (a handle passed to the other
 * is refused). Array pointers in the structs below are `void *`: float * for plapi_*, double * for plapi_*_f64.
 *
 * Shape of every object: zero-initialised descriptor (every 0 field takes its documented default),
 *   plapi_X_create(&handle, &desc) -> status,  plapi_X_free(handle) (NULL: no-op),
 *   plapi_X_forward(handle, inputs, outputs),  plapi_X_backward(handle, inputs, output cotangents, gradients).
 * Forward and backward work on CALLER-OWNED buffers, used in place (no copy): host memory for the CPU backend,
 * device memory for CUDA (desc.device.backend). Gradients ACCUMULATE (+=) into the caller's arrays: zero them
 * first. Backward refers to the last forward on the same handle (same inputs).
 *
 * Status: 0 (PLAPI_OK) on success, else a pl_status code (core/status.h); plapi_last_error() (or
 * plapi_last_error_f64() for the double functions) says what failed, naming the argument, Gaussian, particle,
 * file, line or key. Nothing aborts on bad input. Handles are not thread-safe: one per thread. */
#ifndef PIPELINE_API_H
#define PIPELINE_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PLAPI_VERSION 1
#define PLAPI_OK 0
enum { PLAPI_AUTO = 0, PLAPI_CPU = 1, PLAPI_CUDA = 2 };

/* Device memory allocator for the library's own large CUDA buffers (scratch, states): e.g. a framework's caching
 * allocator. Process-wide: the first handle created with one installs it; changing it while memory from the
 * current one is in use is an error. */
typedef struct {
  void *(*alloc)(void *user, size_t bytes); /* NULL: cudaMalloc */
  void (*free)(void *user, void *ptr);
  void *user;
} plapi_allocator;

/* Where the caller's buffers live and the work runs. */
typedef struct {
  int backend;          /* PLAPI_AUTO (cuda when built and present, else cpu), PLAPI_CPU, PLAPI_CUDA */
  int threads;          /* CPU threads, 0 = all */
  void *cuda_stream;    /* cudaStream_t the caller's buffers are ordered on (NULL: the default stream). The
                           library waits for it before reading them; on return its results are complete. */
  plapi_allocator allocator;
} plapi_device_desc;

/* ------------------------------------------------------------------ rasterizer (3D Gaussian splatting) */

typedef struct plapi_raster plapi_raster;

typedef struct {
  plapi_device_desc device;
  int antialiased;          /* 0 classic, 1 antialiased (opacity x sqrt(det S / det(S + 0.3 I))) */
  double near_plane;        /* 0 -> 0.01 */
  double far_plane;         /* 0 -> 1e10 */
  double background[3];     /* default black */
  double alpha_min;         /* 0 -> 1/255 */
  double transmittance_min; /* 0 -> 1e-4 */
} plapi_raster_desc;

/* N Gaussians seen by C pinhole cameras of width x height (gsplat's conventions: OpenCV axes, viewmats world ->
 * camera, K in pixels, pixel centres at +0.5). Give covars, or scales + quats. */
typedef struct {
  int64_t n;
  const void *means;      /* [n][3] */
  const void *quats;      /* [n][4] w x y z (normalised inside), or NULL with covars */
  const void *scales;     /* [n][3] standard deviations, or NULL with covars */
  const void *covars;     /* [n][6] xx xy xz yy yz zz, or NULL */
  const void *opacities;  /* [n] in [0, 1] */
  const void *colors;     /* [n][3] RGB, or SH coefficients [n][(sh_degree+1)^2][3] */
  int sh_degree;          /* -1: colors are RGB; 0..3: SH */
  int ncams, width, height;
  const double *viewmats; /* host [ncams][16] row-major */
  const double *Ks;       /* host [ncams][9] row-major */
} plapi_raster_inputs;

/* Images [ncams][height][width] (rgb with 3 channels); in backward the same struct carries dL/d(image). Any may
 * be NULL. depth = sum z alpha T; expected_depth = depth / alpha. */
typedef struct {
  void *rgb, *alpha, *depth, *expected_depth;
} plapi_raster_images;

typedef struct {
  void *means, *quats, *scales, *covars, *opacities, *colors; /* shapes of the inputs; any NULL: not computed */
} plapi_raster_grads;

int plapi_raster_create(plapi_raster **out, const plapi_raster_desc *desc);
void plapi_raster_free(plapi_raster *r);
int plapi_raster_forward(plapi_raster *r, const plapi_raster_inputs *in, const plapi_raster_images *out);
int plapi_raster_backward(plapi_raster *r, const plapi_raster_inputs *in, const plapi_raster_images *v_out,
                          const plapi_raster_grads *grads);
/* Figures of the last call: [0] visible projections, [1] Gaussian-tile pairs, [2] forward and [3] backward
 * pixel-splat evaluations. */
void plapi_raster_stats(const plapi_raster *r, int64_t stats[4]);

/* ------------------------------------------------------------------ upsampler (particles -> Gaussians) */

typedef struct plapi_upsampler plapi_upsampler;

typedef struct {
  plapi_device_desc device;
  int n;                        /* particles */
  const void *rest_positions;   /* HOST [n][3]: the particles at rest (the binding is made once, here) */
  int mode;                     /* 0/1 bound (solids), 2 runtime (fluids, sand), 3 one Gaussian per particle */
  double particle_spacing;      /* 0: estimated (median nearest-neighbour distance) */
  double spacing, bind_radius, smoothing;          /* 0: defaults of upsample/upsample.h */
  int children;
  double surface_threshold, surface_band, surface_level;
  double color[3];              /* flat colour (0: 0.8 grey) */
  uint64_t seed;
} plapi_upsample_desc;

/* Learnable scalars: sigma0 (in sample spacings), thickness (fraction of sigma0), global opacity in (0, 1). */
typedef struct {
  double sigma0, thickness, opacity;
} plapi_upsample_params;

int plapi_upsample_create(plapi_upsampler **out, const plapi_upsample_desc *desc);
void plapi_upsample_free(plapi_upsampler *u);
int64_t plapi_upsample_count(const plapi_upsampler *u); /* M Gaussians (fixed) */
/* x [n][3], F [n][9] -> means [M][3], covars [M][6], colors [M][3], opacities [M] (any output NULL: skipped).
 * params NULL: the defaults. */
int plapi_upsample_forward(plapi_upsampler *u, const plapi_upsample_params *params, const void *x, const void *F,
                           void *means, void *covars, void *colors, void *opacities);
/* Cotangents of the outputs (any NULL = 0) -> ACCUMULATE into v_x [n][3], v_F [n][9] (device) and v_params (host). */
int plapi_upsample_backward(plapi_upsampler *u, const plapi_upsample_params *params, const void *x, const void *F,
                            const void *v_means, const void *v_covars, const void *v_colors,
                            const void *v_opacities, void *v_x, void *v_F, plapi_upsample_params *v_params);

/* ------------------------------------------------------------------ a whole scene (scene.cfg) */

typedef struct plapi_scene plapi_scene;

typedef struct {
  plapi_device_desc device;   /* backend PLAPI_AUTO: the scene's own sim.backend */
  const char *const *sets;    /* "section.name.key=value" overrides, like --set */
  int nsets;
  int quiet;                  /* 1: no log lines */
} plapi_scene_desc;

typedef struct {
  int64_t particles, gaussians, pixels; /* pixels: all cameras together */
  int frames;                           /* sim.frames (states 0..frames) */
  int ncams, width, height;
  int backend;                          /* PLAPI_CPU or PLAPI_CUDA */
  int loss_frames;                      /* frames that carry a target image */
} plapi_scene_info;

/* Parameters by address ("material.jelly.E", "object.cube.velocity", "sim.gravity", "upsample.sigma0"):
 * values[i][0..components[i]-1]; gradients come back in the same layout. */
typedef struct {
  int n;
  const char *const *addresses;
  const int *components;       /* 1 or 3 each */
  const double *values;        /* [n][3] */
} plapi_params;

int plapi_scene_create(plapi_scene **out, const char *path, const plapi_scene_desc *desc);
void plapi_scene_free(plapi_scene *s);
void plapi_scene_get_info(const plapi_scene *s, plapi_scene_info *info);
/* Render every camera at `frame` with these parameters: rgb [pixels][3], alpha [pixels] (device, caller's). */
int plapi_scene_render(plapi_scene *s, const plapi_params *p, int frame, void *rgb, void *alpha);
/* The scene's image loss against its targets ([targets]: a folder or rendered from [truth]) on `frames` (NULL:
 * every target frame), and dL/dtheta into grads [n][3] (NULL: loss only). One adjoint pass through the whole
 * pipeline (rasterizer, upsampler, MPM backward through time). */
int plapi_scene_loss(plapi_scene *s, const plapi_params *p, const char *frames, double *loss, double *grads);
/* Particle states at frames[k]: x [nsel][N][3], v [nsel][N][3], F [nsel][N][9] (caller's, on the device; any NULL). */
int plapi_scene_simulate(plapi_scene *s, const plapi_params *p, int nsel, const int *frames, void *x, void *v, void *F);
/* From their cotangents (same shapes, any NULL = 0) to dL/dtheta in grads [n][3], through the checkpointed MPM
 * adjoint (the forward is re-run on a tape with these parameters). */
int plapi_scene_simulate_backward(plapi_scene *s, const plapi_params *p, int nsel, const int *frames,
                                  const void *v_x, const void *v_v, const void *v_F, double *grads);

/* ------------------------------------------------------------------ misc */

int plapi_version(void);        /* PLAPI_VERSION of the library (one function for both precisions) */
const char *plapi_last_error(void);
int plapi_cuda_available(void);   /* 1 when this build has the CUDA backend and a device is present */
int plapi_real_size(void);        /* sizeof(float) for plapi_*, sizeof(double) for plapi_*_f64 */

/* The double-precision twins: same contracts, double arrays, CPU only. */
int plapi_raster_create_f64(plapi_raster **out, const plapi_raster_desc *desc);
void plapi_raster_free_f64(plapi_raster *r);
int plapi_raster_forward_f64(plapi_raster *r, const plapi_raster_inputs *in, const plapi_raster_images *out);
int plapi_raster_backward_f64(plapi_raster *r, const plapi_raster_inputs *in, const plapi_raster_images *v_out,
                              const plapi_raster_grads *grads);
void plapi_raster_stats_f64(const plapi_raster *r, int64_t stats[4]);
int plapi_upsample_create_f64(plapi_upsampler **out, const plapi_upsample_desc *desc);
void plapi_upsample_free_f64(plapi_upsampler *u);
int64_t plapi_upsample_count_f64(const plapi_upsampler *u);
int plapi_upsample_forward_f64(plapi_upsampler *u, const plapi_upsample_params *params, const void *x, const void *F,
                               void *means, void *covars, void *colors, void *opacities);
int plapi_upsample_backward_f64(plapi_upsampler *u, const plapi_upsample_params *params, const void *x,
                                const void *F, const void *v_means, const void *v_covars, const void *v_colors,
                                const void *v_opacities, void *v_x, void *v_F, plapi_upsample_params *v_params);
int plapi_scene_create_f64(plapi_scene **out, const char *path, const plapi_scene_desc *desc);
void plapi_scene_free_f64(plapi_scene *s);
void plapi_scene_get_info_f64(const plapi_scene *s, plapi_scene_info *info);
int plapi_scene_render_f64(plapi_scene *s, const plapi_params *p, int frame, void *rgb, void *alpha);
int plapi_scene_loss_f64(plapi_scene *s, const plapi_params *p, const char *frames, double *loss, double *grads);
int plapi_scene_simulate_f64(plapi_scene *s, const plapi_params *p, int nsel, const int *frames, void *x, void *v,
                             void *F);
int plapi_scene_simulate_backward_f64(plapi_scene *s, const plapi_params *p, int nsel, const int *frames,
                                      const void *v_x, const void *v_v, const void *v_F, double *grads);
const char *plapi_last_error_f64(void);
int plapi_cuda_available_f64(void);
int plapi_real_size_f64(void);

#ifdef __cplusplus
}
#endif
#endif /* PIPELINE_API_H */
