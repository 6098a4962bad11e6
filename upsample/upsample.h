/* upsample.h: the learnable surface upsampler: particles (x, F) -> 3D Gaussians (mean, covariance, colour,
 * opacity), forward and adjoint, on the CPU (reference, OpenMP) or CUDA backend.
 *
 * Three modes, chosen per object:
 *   UPS_BOUND      solids. At set-up the rest surface (the mesh surface for mesh objects, else the
 *                     iso-surface of the particle set's smoothed density) is sampled by Poisson-disk sampling
 *                     and every sample is bound to nearby particles of its object with fixed normalised
 *                     weights. Per frame: mu = sum w (x_p + F_p (X - X_p)), Ft = sum w F_p,
 *                     Sigma = Ft Sigma0 Ft^T, Sigma0 = sigma^2 (I - (1 - t^2) n n^T) a disc (n the rest normal).
 *   UPS_RUNTIME    fluids, sand, anything that tears. Per frame, a smoothed density phi (cubic B-spline,
 *                     normalised so that a filled lattice is 1) gives every particle a soft surface weight,
 *                     an outward normal -grad phi / |grad phi| (regularised) and an offset to the iso-surface
 *                     phi = surface_level; `children` Gaussians sit on its tangent disc with the same Sigma0
 *                     form, their opacity scaled by the surface weight (exactly 0 deep inside). No hard
 *                     selection anywhere: gradients reach x through the density field.
 *   UPS_PARTICLES  one isotropic Gaussian per particle (sigma = sigma0 * particle spacing / 2, Sigma = F Sigma0 F^T).
 * The method, the parameters and their defaults: docs/upsampler.md. The adjoints: docs/adjoints.md.
 *
 * Gaussians come out in this order: every bound/particles-mode Gaussian (objects in order), then
 * `children` Gaussians per runtime particle (particles in index order). The count never changes after
 * ups_create, so per-Gaussian parameters keep their meaning from frame to frame.
 *
 * Learnable parameters: sigma0, thickness, global opacity (scalars), a colour per Gaussian (initialised from the
 * texture, vertex colours or object colour) and an opacity logit offset per Gaussian (initialised to 0):
 *   opacity = surface weight * sigmoid(logit(opacity) + offset),  colour = clamp(colour parameter, 0, 1).
 *
 * Ownership: the upsampler owns its set-up data, its output Gaussians (on its backend; valid until the next
 * forward or free) and its parameter and gradient buffers. Inputs are borrowed for the duration of a call.
 * Errors: every function returns a pl_status; messages (pl_last_error) name the object, file, particle or
 * Gaussian involved. ups_destroy(NULL) is a no-op.
 *
 * Per frame, the pipeline calls
 *     ups_forward(u, x, F, &g);        x [N,3], F [N,9] on u's backend -> g (means, covs, colours, opacities)
 * and in the adjoint pass, for the same frame's x and F (in any frame order: backward recomputes what it needs),
 *     ups_backward(u, x, F, v_means, v_covs, v_colors, v_opacities, v_x, v_F);
 * which ADDS into v_x and v_F (on the backend) and into the parameter gradients (ups_grads). */
#ifndef PL_UPSAMPLE_H
#define PL_UPSAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "core/backend.h"
#include "core/hd.h"
#include "core/mesh.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { UPS_BOUND = 1, UPS_RUNTIME = 2, UPS_PARTICLES = 3 } ups_mode;

const char *ups_mode_name(ups_mode m);

/* One object: the particles whose object index is its position in ups_desc.objects.
 * Zero-initialise, then set what applies. */
typedef struct {
  const char *name;          /* for messages (default "object <i>") */
  ups_mode mode;          /* 0 = UPS_BOUND */
  /* Surface and colours of a mesh object (optional). mesh (borrowed, already loaded) wins over mesh_path.
   * The mesh is placed with ups_place_point(center, scale, rotation_deg): the same placement the
   * simulator uses to fill it with particles. */
  const pl_mesh *mesh;
  const char *mesh_path;     /* OBJ file */
  double center[3];          /* where the mesh's bounding-box centre lands (world, m) */
  double scale[3];           /* per-axis scale of the mesh coordinates (0 -> 1) */
  double rotation_deg[3];    /* XYZ Euler angles, degrees (see ups_place_point) */
  const char *texture_path;  /* PNG sampled at the mesh's texture coordinates (needs a mesh with vt) */
  /* Flat colour, used when there is no texture and no vertex colours. (0,0,0) means unset: 0.8 grey. */
  double color[3];
  /* A trained splat scene as the object (bound mode; shape = gaussians), world coordinates, borrowed during init:
   * its Gaussians are this object's Gaussians as they are — rest mean X = the mean, Sigma0 = the covariance (so
   * Sigma = Ft Sigma0 Ft^T), colour and opacity as trained — bound to the object's particles; no surface sampling.
   * means [n][3], covs [n][6] (xx xy xz yy yz zz), colors [n][3] in [0, 1], opacities [n] in (0, 1). */
  int64_t splat_count;
  const double *splat_means, *splat_covs, *splat_colors, *splat_opacities;
  /* Their view-dependent colour (optional): SH coefficients [n][(splat_sh_degree+1)^2][3] as trained (the 3DGS
   * order, colour = max(0, sum_k basis_k(d) sh_k + 0.5)), evaluated by the rasterizer along d = Q^T (mu - eye) with
   * Q = polar(Ft) R0, R0 = the placement rotation (rotation_deg): the colour turns with the material (PhysGaussian,
   * Xie et al. 2024). NULL or degree 0: one RGB colour per Gaussian. */
  int splat_sh_degree;
  const double *splat_sh;
} ups_object;

/* Set-up description. Zero-initialise; every 0 field takes the default in brackets. */
typedef struct {
  pl_backend backend;        /* [auto] cpu, cuda or auto */
  int threads;               /* [0 = OpenMP's default] CPU threads (results do not depend on it) */

  /* Particles at rest (host memory, borrowed during init). */
  int nparticles;            /* required, >= 1 */
  const real *rest_positions;/* [N, 3] required: the initial particle positions X_p */
  const int *object_index;   /* [N] object of each particle [NULL: all in object 0] */
  int nobjects;              /* [0: one bound object with default settings] */
  const ups_object *objects;
  double particle_spacing;   /* [0: estimated, the median nearest-neighbour distance] m; the pipeline passes
                                dx / cbrt(particles_per_cell) */

  /* Parameters (the scene's [upsample] keys have the same names and defaults). */
  double spacing;            /* [0.3] bound: Poisson-disk radius of the surface samples, in particle spacings */
  double sigma0;             /* [1.0] learnable: in-plane standard deviation, in sample spacings (bound), children
                                spacings (runtime: 0.6 dp sqrt(pi / children)) or half particle spacings (particles) */
  double thickness;          /* [0.2] learnable: disc thickness along the normal, fraction of sigma0 */
  double opacity;            /* [0.95] learnable: global opacity, in (0, 1) */
  double bind_radius;        /* [1.5] bound: binding radius, in particle spacings */
  int children;              /* [8] runtime: Gaussians per particle */
  double surface_threshold;  /* [0.9] runtime: particles with normalised density below this have surface weight 1 */
  double surface_band;       /* [0.15] runtime: the weight falls smoothly to 0 at threshold + band */
  double surface_level;      /* [0.5] iso-level of the surface (runtime offset; particle-set surface sampling) */
  double smoothing;          /* [1.5] kernel smoothing length, in particle spacings (support: twice that) */
  int learn_colors;          /* [0] keep a gradient for the per-Gaussian colours */
  int learn_opacities;       /* [0] keep a gradient for the per-Gaussian opacity offsets */
  uint64_t seed;             /* [0] seed of the counter-based RNG (sampling, children phases) */
  int skip_checks;           /* [0] 1: do not check inputs and outputs for NaN/Inf each frame */
} ups_desc;

typedef struct ups ups;

/* Output Gaussians, on the upsampler's backend, owned by it. */
typedef struct {
  int64_t count;             /* M */
  real *means;               /* [M, 3] world */
  real *covs;                /* [M, 6] xx xy xz yy yz zz */
  real *colors;              /* [M, 3] RGB in [0, 1] */
  real *opacities;           /* [M] in [0, 1) (exactly 0 for runtime children deep inside a body) */
  /* With SH (a splat object with bands above degree 0; else 0 and NULL): every Gaussian's SH, the degree-0 term from
   * its colour (sh_0 = base_0 + (colour - 0.5) / C0, the trained value at the start), the higher bands as trained
   * (0 for other objects' Gaussians), and the frame the rasterizer evaluates them in (raster_gaussians.sh_frames). */
  int sh_degree;
  real *sh;                  /* [M, (sh_degree+1)^2, 3] */
  real *frames;              /* [M, 9] row-major rotation Q (identity but for SH splats) */
} ups_gaussians;

typedef struct {
  int64_t count;             /* M */
  int64_t nbound;            /* bound and particles-mode Gaussians (the first nbound) */
  int nruntime_particles;    /* runtime particles (each with `children` Gaussians after the bound ones) */
  int children;
  int nparticles;
  double particle_spacing;   /* m (given or estimated) */
  double sample_spacing;     /* bound: Poisson-disk radius (m) */
  double sigma_bound;        /* world sigma of bound Gaussians at the current sigma0 (m) */
  double sigma_runtime;      /* world sigma of runtime children at the current sigma0 (m) */
  int64_t bindings;          /* number of (Gaussian, particle) binding pairs */
  int sh_degree;             /* 0, or the SH degree of the output (the largest of the splat objects') */
  pl_backend backend;
} ups_info;

/* Scalar parameters (in the units of the descriptor). */
typedef struct {
  double sigma0, thickness, opacity;
} ups_params;

/* Gradients: scalars on the host; per-Gaussian arrays on the backend (NULL when that parameter does not learn). */
typedef struct {
  double sigma0, thickness, opacity;
  real *colors;              /* [M, 3] */
  real *opacity_offsets;     /* [M] */
} ups_grads;

pl_status ups_create(ups **out, const ups_desc *desc);
void ups_destroy(ups *u);
void ups_get_info(const ups *u, ups_info *info);

/* Forward for one frame. x [N,3], F [N,9] in the upsampler's backend memory. Fails with PL_ERR_NUMERIC
 * naming the first particle with a non-finite x or F, or the first non-finite Gaussian (unless skip_checks). */
pl_status ups_forward(ups *u, const real *x, const real *F, ups_gaussians *out);

/* Adjoint for one frame: cotangents of the outputs (any may be NULL = zero) -> ADDS into v_x [N,3] and v_F [N,9]
 * (either may be NULL) and into the parameter gradients. Deterministic on the CPU (no atomics; a fixed order). */
pl_status ups_backward(ups *u, const real *x, const real *F, const real *v_means, const real *v_covs,
                               const real *v_colors, const real *v_opacities, real *v_x, real *v_F);
/* The same for an upsampler whose Gaussians carry SH (ups_gaussians.sh_degree > 0), given the cotangents of what the
 * rasterizer read: v_sh [M, K, 3] (its degree-0 part reaches the colours: v_colour = v_sh_0 / C0) and v_frames
 * [M, 9] (through Q = polar(Ft) R0 to the particles' F), either may be NULL. */
pl_status ups_backward_sh(ups *u, const real *x, const real *F, const real *v_means, const real *v_covs,
                          const real *v_sh, const real *v_frames, const real *v_opacities, real *v_x, real *v_F);

void ups_get_params(const ups *u, ups_params *p);
/* Validated: sigma0 > 0, thickness > 0, opacity in (0, 1), all finite; the error names the parameter. */
pl_status ups_set_params(ups *u, const ups_params *p);
/* The per-Gaussian parameter buffers on the backend, for an optimiser to update in place:
 * colors [M,3] (keep them in [0,1]), opacity_offsets [M] (logit offsets). */
void ups_param_buffers(ups *u, real **colors, real **opacity_offsets);
void ups_get_grads(const ups *u, ups_grads *g);
pl_status ups_zero_grads(ups *u);

/* ---------------------------------------------------------------- helpers (host) */

/* The placement of a mesh (shared with the simulator): p' = center + R (scale .* (p - c)), with c the centre of
 * the mesh's bounding box [lo, hi] and R = pl_euler_xyz_deg(rotation_deg) (core/rotation.h, the simulator's
 * rotation too): Rz(rz) Ry(ry) Rx(rx), rotate about the world x axis first, then y, then z (degrees). */
void ups_place_point(const double center[3], const double scale[3], const double rotation_deg[3],
                             const double lo[3], const double hi[3], const double p[3], double out[3]);

/* Median nearest-neighbour distance of a point set (the particle-spacing estimate). */
pl_status ups_estimate_spacing(const real *pos, int n, double *spacing);

/* ---------------------------------------------------------------- 3DGS export */

/* 3DGS PLY export: download the Gaussians (ups_download) and write them with raster_ply_write
 * (raster/ply.h), which converts covariances to scales and rotations; the pipeline leaves out Gaussians of
 * opacity 0 (runtime children deep inside a body). */

/* The bound Gaussians' rest samples: positions [nbound,3] and unit normals [nbound,3] (0 for the particles mode),
 * to host arrays the caller allocated (either may be NULL). */
pl_status ups_rest_samples(const ups *u, real *positions, real *normals);

/* Download the last forward's Gaussians to host arrays the caller allocated (any may be NULL). */
pl_status ups_download(const ups *u, real *means, real *covs, real *colors, real *opacities);
/* With SH (ups_info.sh_degree > 0): the last forward's SH [M, K, 3] and frames [M, 9] (either may be NULL). */
pl_status ups_download_sh(const ups *u, real *sh, real *frames);

#ifdef __cplusplus
}
#endif
#endif /* PL_UPSAMPLE_H */
