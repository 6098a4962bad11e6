/* mpm_backend.h (internal): the loops of each backend, called by mpm.c. They do no math of their own: every
 * formula is in mpm_kernels.h / materials.h. Error keys: UINT64_MAX when every particle is fine, else the
 * smallest mpm_error_key(particle, code). */
#ifndef PL_MPM_BACKEND_H
#define PL_MPM_BACKEND_H

#include "mpm/mpm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MPM_NO_ERROR UINT64_MAX


/* The static particle data and tables of a simulation as the kernels see them (pointers on its backend). */
mpm_kparticles mpm_sim_kparticles(const mpm_sim *s);

/* CPU (mpm_cpu.c) */
pl_status mpm_cpu_scratch_create(mpm_cpu_scratch **out, const mpm_kgrid *g, int64_t n);
void mpm_cpu_scratch_free(mpm_cpu_scratch *cs);
/* Zeroes the grid, then scatters. */
uint64_t mpm_cpu_p2g(mpm_cpu_scratch *cs, const mpm_kgrid *g, mpm_kstate st, const mpm_kparticles *P, real *grid,
                     real dt);
/* `particles` only decides whether the loop is worth threads */
void mpm_cpu_grid_update(const mpm_kgrid *g, const mpm_kcollider *cols, int ncol, real *grid, real dt, real t,
                         int64_t particles);
uint64_t mpm_cpu_g2p(const mpm_kgrid *g, mpm_kstate in, mpm_kstate out, const mpm_kparticles *P, const real *grid,
                     real dt);
double mpm_cpu_max_speed(mpm_kstate st);

/* CPU adjoint (mpm_adjoint_cpu.c). `adj` is the adjoint state, updated in place from the cotangent of a
 * substep's output to that of its input; v_par [n][MPM_ADJ_NPAR] (double) accumulates the per-particle
 * parameter cotangents. mpm_cpu_adj_g2p needs the block order of the P2G just recomputed on `in`. */
void mpm_cpu_adj_g2p(mpm_cpu_scratch *cs, const mpm_kgrid *g, mpm_kstate in, mpm_kstate adj, const mpm_kparticles *P,
                     const real *grid, real *v_gridv, double *v_par, real dt);
/* row_acc [(n0 + 1)][nglob] scratch; glob [nglob] accumulates (gravity xyz, collider frictions, walls). */
void mpm_cpu_adj_grid(const mpm_kgrid *g, const mpm_kcollider *cols, int ncol, const real *grid_pre,
                      const real *v_gridv, real *v_grid, double *row_acc, double *glob, real dt, real t,
                      int64_t particles);
void mpm_cpu_adj_p2g(mpm_cpu_scratch *cs, const mpm_kgrid *g, mpm_kstate in, mpm_kstate adj, const mpm_kparticles *P,
                     const real *v_grid, double *v_par, real dt);
void mpm_cpu_axpy(real *dst, const real *src, int64_t count);
/* smallest particle index with a NaN/Inf in the adjoint state, or -1 */
int64_t mpm_cpu_adj_first_nonfinite(mpm_kstate adj);

/* CUDA (mpm_cuda.cu); only linked when PL_HAVE_CUDA. Pointers in st, P and grid are device pointers. */
pl_status mpm_cuda_scratch_create(mpm_cuda_scratch **out);
void mpm_cuda_scratch_free(mpm_cuda_scratch *cs);
pl_status mpm_cuda_p2g(mpm_cuda_scratch *cs, const mpm_kgrid *g, mpm_kstate st, const mpm_kparticles *P, real *grid,
                       size_t grid_bytes, real dt, uint64_t *err);
pl_status mpm_cuda_grid_update(const mpm_kgrid *g, const mpm_kcollider *cols, int ncol, real *grid, real dt, real t);
pl_status mpm_cuda_g2p(mpm_cuda_scratch *cs, const mpm_kgrid *g, mpm_kstate in, mpm_kstate out,
                       const mpm_kparticles *P, const real *grid, real dt, uint64_t *err);
pl_status mpm_cuda_max_speed(mpm_cuda_scratch *cs, mpm_kstate st, double *vmax);
/* CUDA adjoint (mpm_adjoint_cuda.cu): the same stages; v_gridv is scattered with float atomics, the
 * gravity and friction cotangents are summed into the device doubles glob_dev [nglob]. */
pl_status mpm_cuda_adj_g2p(const mpm_kgrid *g, mpm_kstate in, mpm_kstate adj, const mpm_kparticles *P,
                           const real *grid, real *v_gridv, double *v_par, real dt);
pl_status mpm_cuda_adj_grid(const mpm_kgrid *g, const mpm_kcollider *cols, int ncol, const real *grid_pre,
                            const real *v_gridv, real *v_grid, double *glob_dev, real dt, real t);
pl_status mpm_cuda_adj_p2g(const mpm_kgrid *g, mpm_kstate in, mpm_kstate adj, const mpm_kparticles *P,
                           const real *v_grid, double *v_par, real dt);
pl_status mpm_cuda_axpy(real *dst, const real *src, int64_t count);
pl_status mpm_cuda_adj_first_nonfinite(mpm_kstate adj, int64_t *first);

#ifdef __cplusplus
}
#endif
#endif
