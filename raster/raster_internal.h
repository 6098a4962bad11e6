/* raster_internal.h: the context and the backend entry points (not part of the public API).
 *
 * Data flow of one call (both backends):
 *   project    per (camera c, Gaussian g), cg = c*N + g: splat [CN] (raster_splat), colour [CN][3],
 *              tile count [CN] (int64; 0 = culled or off-screen)
 *   bin+sort   pairs (one per touched tile) ordered by (global tile, depth, g): sorted [P] holds cg;
 *              tile_start [T+1] (int64) delimits each tile's range
 *   composite  per tile, per pixel front to back; saves final T, the count of splats up to the last blended
 *              one, and the accumulated depth per pixel
 *   adjoint    per tile back to front -> v2d [CN][RASTER_NGRAD] (2D splat cotangents) -> per Gaussian,
 *              over cameras in order: raster_project_vjp and the colour adjoint into the caller's grads.
 * The CPU keeps a per-pair gradient buffer (written by the tile that owns the pair) and reduces it per
 * (camera, Gaussian) in pair order: deterministic, whatever the thread count. CUDA reduces over warps and
 * adds with atomics. */
#ifndef PL_RASTER_INTERNAL_H
#define PL_RASTER_INTERNAL_H

#include "core/backend.h"
#include "raster/raster.h"
#include "raster/raster_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RASTER_MAX_PAIRS_HARD 4294967295LL /* pair indices and (camera, Gaussian) ids are 32-bit in the sort */
typedef struct raster_backend_ops raster_backend_ops;
#define RASTER_NO_RANK 0xFFFFFFFFu          /* rank_of of a (camera, Gaussian) that is not visible */

/* How the CUDA backend orders the pairs (environment PL_RASTER_SORT; docs/gpu.md). Both give the same order, the
 * CPU's: by (global tile, depth, cg).
 *   joint (default, verified on a GPU)  one radix sort of 64-bit keys tile << 32 | depth over the pairs emitted in
 *                                       cg order (32 + ceil(log2 T) key bits)
 *   split (prepared, not yet run on a GPU)  as the CPU: a radix sort of the (camera, Gaussian)s by depth (32-bit keys,
 *                                       over CN), pairs emitted in that order, then a stable radix sort of the pairs
 *                                       by tile alone (32-bit keys, ceil(log2 T) bits: 1-2 passes instead of 5-6
 *                                       passes over 64-bit keys) */
enum { RASTER_SORT_JOINT = 0, RASTER_SORT_SPLIT = 1 };
/* Key bits that hold tile indices 0 .. T - 1 (at least 1). */
static inline int raster_tile_key_bits(int64_t T) {
  int bits = 1;
  while (bits < 32 && ((int64_t)1 << bits) < T) ++bits;
  return bits;
}

struct raster_ctx {
  pl_backend backend;
  const raster_backend_ops *ops; /* the backend's entry points */
  int threads;        /* resolved CPU thread count (>= 1) */
  int64_t max_pairs;  /* resolved limit */
  int sort_mode;      /* RASTER_SORT_JOINT or _SPLIT (CUDA; PL_RASTER_SORT) */

  /* what the last forward call was (the backward checks that it is called on the same problem) */
  int has_forward;
  int64_t n;          /* Gaussians */
  int ncams;
  int antialiased;
  int use_sh, sh_degree, use_covs, use_sh_frames;
  int64_t npix, ntiles, npairs, nvisible;
  real bg[3];
  const real *sort_depth; /* raster_options.sort_depth of the last forward (NULL: own depths) */
  raster_cam *cams;   /* [ncams], host */
  int cams_cap;
  raster_stats stats;

  /* scratch on the backend */
  pl_buffer d_cams;       /* raster_cam [ncams] (CUDA copy) */
  pl_buffer splats;       /* raster_splat [CN] */
  pl_buffer colors;       /* real [CN][3] */
  pl_buffer counts;       /* int64 [CN] tiles touched */
  pl_buffer offsets;      /* int64 [CN] first pair of (c,g) in emission order (CPU: [V + 1], by rank) */
  pl_buffer tile_start;   /* int64 [T + 1] */
  pl_buffer sorted;       /* uint32 [P] cg of each sorted pair (CPU: its rank) */
  pl_buffer pix_T;        /* real [npix] final transmittance */
  pl_buffer pix_n;        /* int32 [npix] 1 + position of the last blended splat in its tile's list */
  pl_buffer pix_d;        /* real [npix] accumulated depth */
  pl_buffer v2d;          /* real [CN][RASTER_NGRAD] (CPU: [V][RASTER_NGRAD]) */
  /* CPU only: visible (camera, Gaussian)s get ranks v, camera by camera, by depth within a camera; the
     CPU keeps splats, colours, offsets (int64 [V + 1]) and v2d ([V][RASTER_NGRAD]) in rank order, and
     `sorted` holds ranks */
  pl_buffer order;        /* uint32 [V] cg of rank v */
  pl_buffer rank_of;      /* uint32 [CN] rank of (c, g), RASTER_NO_RANK when not visible */
  pl_buffer splats_r;     /* cpu_splat [V]: splat, colour and support extents (raster_cpu.c) */
  pl_buffer nvis;         /* int64 [ncams + 1] first rank of each camera */
  pl_buffer sort_tmp;     /* uint32 [4 N] depth sort keys/values and their double buffers */
  pl_buffer hist;         /* int64 [threads][tiles of one camera] */
  pl_buffer inv;          /* uint32 [P] sorted position of each pair in emission (rank) order */
  pl_buffer pairgrad;     /* real [P][RASTER_NGRAD] (CUDA: the camera-gradient partials [16 C][N]) */
  /* CUDA only */
  pl_buffer keys, keys_alt, vals_alt; /* uint64 [P], uint64 [P], uint32 [P] */
  pl_buffer cub_tmp;
  pl_buffer counts_r;     /* int64 [CN] (split sort) tile counts in depth order; sort_tmp holds the depth sort */
  pl_buffer dev_scalars;  /* small device scratch (counters, totals) */
};

/* Grow a scratch buffer on the context's backend to at least `bytes` (contents are not preserved). */
pl_status raster_reserve(raster_ctx *ctx, pl_buffer *b, size_t bytes);

/* Gaussians' input pointers, with the chosen representation resolved. */
typedef struct {
  int64_t n;
  const real *means, *covs, *scales, *quats, *opacities, *colors, *sh;
  const real *sh_frames;    /* [n][9] rest frames of the SH view direction, or NULL (always NULL with colours) */
  int sh_degree, sh_coeffs; /* sh_coeffs = 0 when colours are given */
} raster_inputs;

/* A backend: the same three entry points on each, reached through its table (raster_cpu.c, raster_cuda.cu).
 * check: *bad gets the first bad Gaussian index (or -1) and *code its RASTER_BAD_* code. forward/backward: the
 * work of raster_forward/raster_backward after raster.c validated the call and filled ctx->cams. */
struct raster_backend_ops {
  const char *name;
  pl_status (*check)(raster_ctx *ctx, const raster_inputs *in, int64_t *bad, int *code);
  pl_status (*forward)(raster_ctx *ctx, const raster_inputs *in, const raster_images *out);
  pl_status (*backward)(raster_ctx *ctx, const raster_inputs *in, const raster_images *v_out,
                        const raster_grads *gr);
};

extern const raster_backend_ops raster_cpu_ops;  /* raster_cpu.c */
extern const raster_backend_ops raster_cuda_ops; /* raster_cuda.cu (builds with CUDA only) */

/* The table of a resolved backend (cpu or cuda). A backend this build lacks: PL_ERR_UNSUPPORTED, with a message. */
pl_status raster_backend_ops_get(pl_backend backend, const raster_backend_ops **ops);

/* Free every scratch buffer of the context / sum their sizes (raster_scratch.c). */
void raster_scratch_free(raster_ctx *ctx);
int64_t raster_scratch_bytes(const raster_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
