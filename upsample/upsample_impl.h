/* upsample_impl.h: the upsampler's internal state and the backend entry points (not a public header). */
#ifndef PL_UPSAMPLE_IMPL_H
#define PL_UPSAMPLE_IMPL_H

#include "core/backend.h"
#include "upsample/upsample.h"
#include "upsample/upsample_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rows of the parameter-partial array summed per chunk (then chunks in order): a fixed reduction order. */
#define UPS_REDUCE_CHUNK 4096

struct pl_upsample {
  pl_backend backend;
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
  pl_buffer scratch_vf, partial;
  /* CUDA-only scratch (zeroed buffers on the CPU) */
  pl_buffer cu_bucket_in, cu_bucket_out, cu_val_in, cu_sort_temp, cu_flag, cu_chunks;
  size_t cu_sort_temp_bytes;
  int have_forward;
};

/* Particle validation message (shared by the backends): fills the error for particle p. */
pl_status ups_fail_particle(const pl_upsample *u, int64_t p, const real *x_host3, const real *f_host9);
pl_status ups_fail_gaussian(const pl_upsample *u, int64_t g);
pl_status ups_fail_cell(const pl_upsample *u, int64_t p, const real *x_host3);

/* CPU backend (upsample_cpu.c). */
pl_status ups_cpu_forward(pl_upsample *u, ups_args a);
pl_status ups_cpu_backward(pl_upsample *u, ups_args a, double sums[3]);
/* Build the runtime grid on the CPU from a.rt_pos (host arrays); used by set-up too. */
pl_status ups_cpu_build_grid(const real *pos, int n, real inv_cell, uint32_t nbuckets, int *start, int *sorted,
                             uint64_t *key, int64_t *bad);
void ups_cpu_reduce3(const real *partial, int64_t rows, int threads, double out[3]);

/* CUDA backend (upsample_cuda.cu); only linked when PL_HAVE_CUDA. */
pl_status ups_cuda_setup(pl_upsample *u);
pl_status ups_cuda_forward(pl_upsample *u, ups_args a);
pl_status ups_cuda_backward(pl_upsample *u, ups_args a, double sums[3]);

#ifdef __cplusplus
}
#endif
#endif
