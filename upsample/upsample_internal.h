/* upsample_internal.h: the upsampler's internal state, its backend ops table and the set-up steps shared by its
 * files (not a public header). Who includes it: the module's .c files and upsample_cuda.cu; nothing outside. */
#ifndef PL_UPSAMPLE_INTERNAL_H
#define PL_UPSAMPLE_INTERNAL_H

#include "core/backend.h"
#include "core/hash_grid.h"
#include "upsample/upsample.h"
#include "upsample/upsample_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows of the parameter-partial array summed per chunk (then chunks in order): a fixed reduction order. */
#define UPS_REDUCE_CHUNK 4096

struct ups {
  pl_backend backend;
  const struct ups_backend_ops *ops; /* the backend's kernels (upsample_ops.h) */
  int threads;
  int skip_checks;
  int learn_colors, learn_opacities;
  int n;                 /* particles */
  int64_t m;             /* Gaussians */
  int64_t nb;            /* bound (and particles-mode) Gaussians */
  int64_t nnz;           /* binding pairs */
  int nrt;               /* runtime particles */
  int children;
  uint32_t nbuckets;     /* runtime grid */
  double dp;             /* particle spacing */
  double sample_spacing; /* bound Poisson-disk radius */
  double sigma0, thickness, opacity;
  double grad[3];        /* sigma0, thickness, opacity */
  ups_args tmpl;         /* constant fields of the per-frame argument struct */

  /* set-up data on the backend */
  pl_buffer rest, bstart, bidx, bw, grest, gnormal, gunit, gsig0, pstart, pslot, pgauss;
  pl_buffer rt_index, rt_dir, rt_phase, rt_pos, rt_pg, rt_vpg;
  pl_buffer grid_start, grid_sorted, grid_key;
  /* parameters, gradients, outputs, scratch */
  pl_buffer cparam, bparam, v_cparam, v_bparam;
  pl_buffer means, covs, colors, opac;
  /* SH (sh_degree > 0: splat objects with bands above 0): per bound Gaussian its base coefficients and rest frame
   * R0; per Gaussian the output SH and frames; the colours' cotangent gathered from v_sh (backward) */
  int sh_degree, sh_k;
  pl_buffer shbase, gframe0, sh, frames, vcol;
  pl_buffer scratch_vf, partial;
  /* CUDA-only scratch (zeroed buffers on the CPU) */
  pl_buffer cu_bucket_in, cu_bucket_out, cu_val_in, cu_sort_temp, cu_flag, cu_chunks;
  size_t cu_sort_temp_bytes;
  int have_forward;
};

/* ---------------------------------------------------------------- backends */

/* A backend's kernels: one instance per backend (ups_cpu_ops in upsample_cpu.c, ups_cuda_ops in
 * upsample_cuda.cu), identical signatures. setup allocates the backend's own scratch after the common buffers;
 * forward fills u's output buffers; backward adds into a's cotangents and returns the parameter partials'
 * sums (with respect to sigma0, thickness, logit(opacity)) in sums. */
typedef struct ups_backend_ops {
  const char *name;
  pl_status (*setup)(ups *u);
  pl_status (*forward)(ups *u, ups_args a);
  pl_status (*backward)(ups *u, ups_args a, double sums[3]);
} ups_backend_ops;

extern const ups_backend_ops ups_cpu_ops;
extern const ups_backend_ops ups_cuda_ops; /* only linked when PL_HAVE_CUDA */

/* Failure messages (shared by the backends): name the particle, Gaussian or cell. */
pl_status ups_fail_particle(const ups *u, int64_t p, const real *x_host3, const real *f_host9);
pl_status ups_fail_gaussian(const ups *u, int64_t g);
pl_status ups_fail_cell(const ups *u, int64_t p, const real *x_host3);

/* The runtime grid built on the host from positions (host arrays): the CPU backend per frame, set-up once. */
pl_status ups_cpu_build_grid(const real *pos, int n, real inv_cell, uint32_t nbuckets, int *start, int *sorted,
                             uint64_t *key, int64_t *bad);

/* ---------------------------------------------------------------- set-up (host) */

/* Candidate points per unit (sample spacing)^2 of surface before Poisson-disk thinning. */
#define UPS_CANDIDATE_DENSITY 12.0
/* Runtime children's disc radius and the iso-surface offset's saturation, in particle spacings. */
#define UPS_RT_DISC_RADIUS 0.7
#define UPS_RT_DMAX 1.0
/* Radius of the candidate discs around surface particles when sampling a particle set's surface. */
#define UPS_PSET_DISC_RADIUS 0.9
/* Largest number of candidate points (memory bound of the set-up). */
#define UPS_MAX_CANDIDATES 200000000LL

/* RNG streams (the counter-based generator gives the same numbers on every machine). */
#define UPS_STREAM_MESH 1ull
#define UPS_STREAM_PSET 2ull
#define UPS_STREAM_RUNTIME 3ull
static inline uint64_t ups_stream_id(uint64_t tag, uint64_t index) { return (tag << 48) | index; }

/* A surface sample: rest position, unit normal, colour. */
typedef struct {
  double p[3], n[3], c[3];
} ups_sample;

typedef struct {
  ups_sample *v;
  int64_t n, cap;
} ups_sample_vec;

pl_status ups_svec_push(ups_sample_vec *s, const ups_sample *x);

/* A mesh placed in the world (ups placement), with smooth vertex normals, cumulative face areas and its texture. */
typedef struct {
  int w, h;
  float *px; /* RGB */
} ups_texture;

typedef struct {
  const char *name;
  int nv, nf;
  double *v;      /* placed vertices */
  double *vn;     /* smooth vertex normals */
  double *area;   /* cumulative face areas [nf] */
  const pl_mesh *mesh;
  ups_texture tex;
  int has_tex;
} ups_placed_mesh;

/* The core hash grid and cell map with the module's prefix on their messages. */
static inline pl_status ups_grid_build(pl_hash_grid *g, const double *pts, int n, double cell) {
  pl_status s = pl_hash_grid_build(g, pts, n, cell);
  return s == PL_OK ? s : pl_fail_context(s, "upsample: ");
}
static inline pl_status ups_cellmap_init(pl_cellmap *m, size_t cap) {
  pl_status s = pl_cellmap_init(m, cap);
  return s == PL_OK ? s : pl_fail_context(s, "upsample: ");
}

/* Bindings under construction: CSR rows (one per bound Gaussian) of (particle, normalised weight). */
typedef struct {
  int64_t *bstart;
  int *bidx;
  real *bw;
  int64_t nnz, cap;
} ups_csr_build;

/* Everything the set-up builds on the host before upload. */
typedef struct {
  ups_csr_build csr;
  ups_sample_vec gs;        /* bound samples: rest pos, normal, colour */
  real *gunit;              /* [nb] */
  int64_t gunit_cap, nunit;
  int *rt_index;
  int nrt;
  real *rt_color;           /* [nrt, 3] */
  double *sig0;             /* [nsig, 6] splat objects' trained covariances (zero rows: the disc), or NULL */
  double *boff;             /* [nsig] their opacity logit offsets */
  int64_t nsig;
  int sh_k;                 /* SH coefficients per Gaussian of the output (0: no SH) */
  double *shbase;           /* [nsig, sh_k, 3] SH splats: the trained bands, the DC less its colour's (zero rows: none) */
  double *frame0;           /* [nsig, 9] SH splats: the placement rotation R0 (zero rows: none) */
} ups_host_setup;

/* upsample_upload.c: the host set-up to backend buffers and the per-frame argument template. */
pl_status ups_upload(ups *u, const ups_desc *d, const double *rest, const ups_host_setup *h);
void ups_free_buffers(ups *u);

/* upsample_surface.c: surface sampling. */
pl_status ups_pmesh_make(ups_placed_mesh *pm, const pl_mesh *m, const ups_object *o, const char *name);
void ups_pmesh_free(ups_placed_mesh *pm);
/* Poisson-disk samples (radius r) of a placed mesh's surface, appended to out. */
pl_status ups_sample_mesh(const ups_placed_mesh *pm, double r, uint64_t seed, int obj, const double flat[3],
                          ups_sample_vec *out);
/* Poisson-disk samples of the iso-surface phi = surface_level of particles rest[idx[0..n)], appended to out. */
pl_status ups_sample_particle_set(const double *rest, const int *idx, int n, const ups_desc *d, double dp,
                                  double r, const double flat[3], const char *name, ups_sample_vec *out);
/* Sum of the smoothing kernel over a filled unit lattice (the density normalisation). */
double ups_lattice_sum(double smoothing);
uint32_t ups_pow2_at_least(uint64_t n);
ups_rt_shape ups_make_shape(const ups_desc *d, double dp);

/* upsample_holes.c: what the mesh leaves uncovered. */
pl_status ups_fill_mesh_holes(const double *rest, const int *idx, int cnt, const ups_desc *d, double dp,
                              double r, const double flat[3], const char *name, ups_sample_vec *gs, int64_t g0,
                              int64_t *added);
pl_status ups_colors_from_mesh(const ups_placed_mesh *pm, const double *rest, const int *idx, int n, double r,
                               double dp, uint64_t seed, int obj, const double flat[3], real *col);

#ifdef __cplusplus
}
#endif
#endif /* PL_UPSAMPLE_INTERNAL_H */
