/* mpm_cpu_internal.h (internal): what the CPU forward loops (mpm_cpu.c) share with the CPU adjoint loops
 * (mpm_adjoint_cpu.c): the scatter scratch (the particles' block order, which the adjoint's coloured scatter
 * reuses from the P2G it recomputes) and the thresholds below which a loop runs on one thread. */
#ifndef PL_MPM_CPU_INTERNAL_H
#define PL_MPM_CPU_INTERNAL_H

#ifdef _OPENMP
#include <omp.h>
#endif

#include "mpm/mpm_backend.h"

#define MPM_CPU_BLOCK 4
/* Below these sizes a loop runs on one thread: a parallel region costs a few microseconds when the cores are
 * free, but up to a scheduler time slice per barrier when they are oversubscribed (other processes, ctest -j),
 * which would dominate small simulations. The results do not depend on it (the scatter order is fixed). */
#define MPM_CPU_PAR_PARTICLES 8192
#define MPM_CPU_PAR_NODES 65536
#define MPM_CPU_PAR_NODES_ALONE 2097152 /* grid loops go parallel with few particles only on grids this large */
static inline int par_grid(size_t nodes, int64_t particles) {
  return nodes >= MPM_CPU_PAR_NODES_ALONE || (nodes >= MPM_CPU_PAR_NODES && particles >= MPM_CPU_PAR_PARTICLES);
}

struct mpm_cpu_scratch {
  int nb[3];          /* blocks per axis */
  int64_t nblocks;
  int64_t n;          /* particle capacity */
  real *affine;       /* [n][9] A_p of the last P2G */
  uint32_t *key;      /* [n] block of each particle */
  uint32_t *order;    /* [n] particles sorted by block (valid after a P2G without errors) */
  uint32_t *start;    /* [nblocks + 1] */
  uint32_t *hist;     /* [threads][nblocks] */
  int hist_threads;
};

static inline int max_threads(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

#endif
