/* mpm_internal.h (internal to mpm/): the backend interface of the simulator and what its loops share.
 *
 * The front (mpm.c: set-up and forward stages; mpm_adjoint.c: the tape and the backward substep) reaches a
 * backend only through its ops table, looked up by mpm_backend_ops_get(). Each backend fills one instance
 * with the same signatures (every op returns pl_status):
 *   CPU  (OpenMP, the reference)  mpm_cpu_ops   in mpm_cpu.c, adjoint stages from mpm_adjoint_cpu.c
 *   CUDA                          mpm_cuda_ops  in mpm_cuda.cu, adjoint stages from mpm_adjoint_cuda.cu
 * Asking for CUDA in a build without it is PL_ERR_UNSUPPORTED with a message, never a silent no-op.
 * The backends only loop: every formula is in mpm_kernels.h / materials.h. They include this header only;
 * the front includes it too (the backends never include the front's headers beyond mpm.h's types).
 *
 * Error keys: MPM_NO_ERROR when every particle is fine, else the smallest mpm_error_key(particle, code). */
#ifndef PL_MPM_INTERNAL_H
#define PL_MPM_INTERNAL_H

#ifdef _OPENMP
#include <omp.h>
#endif

#include "mpm/mpm.h"
#include "mpm/mpm_kernels.h"
#include "mpm/mpm_tile.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MPM_NO_ERROR UINT64_MAX

/* The static particle data and tables of a simulation as the kernels see them (pointers on its backend). */
static inline mpm_kparticles mpm_sim_kparticles(const mpm_sim *s) {
  mpm_kparticles P;
  P.mass = (const real *)s->mass.ptr;
  P.vol0 = (const real *)s->vol0.ptr;
  P.mat = (const int32_t *)s->material.ptr;
  P.pmu = (const real *)s->pmu.ptr;
  P.plambda = (const real *)s->plambda.ptr;
  P.materials = (const mpm_kmaterial *)s->kmat_buf.ptr;
  P.nmaterials = s->nmaterials;
  P.colliders = (const mpm_kcollider *)s->kcol_buf.ptr;
  P.ncolliders = s->ncolliders;
  return P;
}

/* What one adjoint substep works on (pointers on the simulation's backend unless marked host). The adjoint
 * state `adj` is updated in place from the cotangent of the substep's output to that of its input. */
typedef struct {
  mpm_kstate in;        /* the state before the substep */
  mpm_kstate adj;       /* the adjoint state */
  mpm_kparticles P;
  real *grid;           /* (m, v) of the recomputed grid update; receives (v_m, v_mv) from the grid adjoint */
  const real *grid_pre; /* (m, mv) before the grid update */
  real *v_gridv;        /* [nodes][3] node-velocity cotangents (written by the G2P adjoint) */
  double *v_par;        /* [n][MPM_ADJ_NPAR] per-particle parameter cotangents, accumulated */
  double *row_acc;      /* host [(n0 + 1)][MPM_ADJ_NGLOB] scratch (CPU) */
  double *glob;         /* host [MPM_ADJ_NGLOB]: gravity, collider frictions, walls, accumulated (CPU) */
  double *glob_dev;     /* backend [MPM_ADJ_NGLOB], the same sums (CUDA; the front adds them to glob) */
  real dt, t;
} mpm_adj_args;

/* The clock of a run of substeps (mpm_run_substeps): substep k of the span runs at t0 + k dt with step dt. On CUDA
 * it lives in device memory, set once per run and ticked by the captured graph, so that one graph serves every
 * substep and every frame. mpm_clock_time is the host's t0 + k * dt to the bit (no fused multiply-add). */
typedef struct {
  double t0, dt;
  int64_t k;
} mpm_kclock;
HD double mpm_clock_time(const mpm_kclock *c, int64_t k) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(c->t0, __dmul_rn((double)k, c->dt));
#else
  return c->t0 + (double)k * c->dt;
#endif
}

/* One backend. The scratch (s->cpu or s->cuda) belongs to the backend that made it. */
typedef struct {
  const char *name;
  pl_status (*scratch_create)(mpm_sim *s);
  void (*scratch_free)(mpm_sim *s);
  /* forward stages on the simulation's grid (s->gridbuf). err: the stage's smallest error key (MPM_NO_ERROR when
   * none) on return; err == NULL (deferred checks, mpm_checks_begin): fold s->defer_tag | key into the span word
   * instead, without waiting for the device */
  pl_status (*p2g)(mpm_sim *s, mpm_kstate st, real dt, uint64_t *err);    /* zeroes the grid, then scatters */
  pl_status (*grid_update)(mpm_sim *s, real dt, real t);
  pl_status (*g2p)(mpm_sim *s, mpm_kstate in, mpm_kstate out, real dt, uint64_t *err);
  pl_status (*max_speed)(mpm_sim *s, mpm_kstate st, double *vmax);
  /* adjoint stages, in the order G2P, grid, P2G (the adjoint G2P needs the P2G just recomputed on a.in) */
  pl_status (*adj_g2p)(mpm_sim *s, const mpm_adj_args *a);
  pl_status (*adj_grid)(mpm_sim *s, const mpm_adj_args *a);
  pl_status (*adj_p2g)(mpm_sim *s, const mpm_adj_args *a);
  pl_status (*axpy)(mpm_sim *s, real *dst, const real *src, int64_t count); /* dst += src */
  /* smallest particle index with a NaN/Inf in the adjoint state, or -1 */
  pl_status (*adj_first_nonfinite)(mpm_sim *s, mpm_kstate adj, int64_t *first);
  /* deferred checks: the span word := MPM_NO_ERROR; its value (waits for the backend) */
  pl_status (*defer_reset)(mpm_sim *s);
  pl_status (*defer_read)(mpm_sim *s, uint64_t *word);
  /* graph runner (mpm_run_substeps; inside a deferred span only): substeps clk->k .. clk->k + count - 1 on s->state,
   * substep k at mpm_clock_time(clk, k) with step (real)clk->dt, its errors folded into the span word tagged with k.
   * CUDA: replays of a captured graph; CPU: the same stages in a loop (the emulation the tests compare). */
  pl_status (*substeps)(mpm_sim *s, const mpm_kclock *clk, int64_t count);
} mpm_backend_ops;

/* mpm_exec.c: the execution paths from the descriptor and the environment (PL_MPM_SYNC, PL_MPM_P2G,
 * PL_MPM_SORT_EVERY). mpm.c: the message for error key `key` (particle << 4 | code) found in `stage`, naming the
 * particle, its object and material, with its values read from st. */
pl_status mpm_exec_resolve(mpm_sim *s, const mpm_desc *d);
pl_status mpm_particle_error(mpm_sim *s, const mpm_state *st, uint64_t key, const char *stage);

/* The table of backend b (CPU or CUDA); PL_ERR_UNSUPPORTED (with a message) when this build lacks it. */
pl_status mpm_backend_ops_get(pl_backend b, const mpm_backend_ops **ops);

extern const mpm_backend_ops mpm_cpu_ops;  /* mpm_cpu.c */
extern const mpm_backend_ops mpm_cuda_ops; /* mpm_cuda.cu; only linked when PL_HAVE_CUDA */

/* Adjoint stages of each backend (mpm_adjoint_cpu.c, mpm_adjoint_cuda.cu), placed in its table. */
pl_status mpm_cpu_adj_g2p(mpm_sim *s, const mpm_adj_args *a);
pl_status mpm_cpu_adj_grid(mpm_sim *s, const mpm_adj_args *a);
pl_status mpm_cpu_adj_p2g(mpm_sim *s, const mpm_adj_args *a);
pl_status mpm_cpu_axpy(mpm_sim *s, real *dst, const real *src, int64_t count);
pl_status mpm_cpu_adj_first_nonfinite(mpm_sim *s, mpm_kstate adj, int64_t *first);
pl_status mpm_cuda_adj_g2p(mpm_sim *s, const mpm_adj_args *a);
pl_status mpm_cuda_adj_grid(mpm_sim *s, const mpm_adj_args *a);
pl_status mpm_cuda_adj_p2g(mpm_sim *s, const mpm_adj_args *a);
pl_status mpm_cuda_axpy(mpm_sim *s, real *dst, const real *src, int64_t count);
pl_status mpm_cuda_adj_first_nonfinite(mpm_sim *s, mpm_kstate adj, int64_t *first);
const uint32_t *mpm_cuda_order(const mpm_sim *s); /* mpm_cuda.cu: the tiled path's particle order, or NULL */
/* mpm_cuda.cu: the simulation's CUDA stream (a cudaStream_t): every kernel, memset and copy of the backend runs on
 * it; a blocking stream, so the core's buffer copies on the legacy default stream stay ordered with it */
void *mpm_cuda_stream(const mpm_sim *s);
/* mpm_cuda.cu: the simulation's scratch word for a one-off reduction (the adjoint's finite check) */
unsigned long long *mpm_cuda_scratch_word(const mpm_sim *s);
/* mpm_cuda.cu: how often the substep graph was captured and replayed (graph = on) */
void mpm_cuda_graph_counts(const mpm_sim *s, long long *captures, long long *replays);
/* mpm.c: the same, in any build (0 and 0 without the CUDA backend or on the CPU backend) */
void mpm_graph_counts(const mpm_sim *s, long long *captures, long long *replays);

/* The end of a G2P adjoint for particle p, the same on both backends: the input's cotangents of x, F, q
 * replace the output's (v and C of the input get none from G2P), the parameter cotangents accumulate. */
HD void mpm_adj_g2p_store(mpm_kstate adj, double *v_par, int64_t p, v3 vx, m3 vF, real vq, mpm_mparams vmp) {
  v3_store(vx, adj.x + 3 * p);
  v3_store(v3_zero(), adj.v + 3 * p);
  m3_store(m3_zero(), adj.C + 9 * p);
  m3_store(vF, adj.F + 9 * p);
  adj.q[p] = vq;
  mpm_adj_par_accum(v_par + (size_t)MPM_ADJ_NPAR * (size_t)p, vmp, 0);
}

/* The end of a P2G adjoint for particle p: its cotangents of x, v, C, F (and the parameters') accumulate. */
HD void mpm_adj_p2g_store(mpm_kstate adj, double *v_par, int64_t p, v3 vx, v3 vv, m3 vC, m3 vF, mpm_mparams vmp,
                          real vmass) {
  v3_store(v3_add(v3_load(adj.x + 3 * p), vx), adj.x + 3 * p);
  v3_store(v3_add(v3_load(adj.v + 3 * p), vv), adj.v + 3 * p);
  m3_store(m3_add(m3_load(adj.C + 9 * p), vC), adj.C + 9 * p);
  m3_store(m3_add(m3_load(adj.F + 9 * p), vF), adj.F + 9 * p);
  mpm_adj_par_accum(v_par + (size_t)MPM_ADJ_NPAR * (size_t)p, vmp, vmass);
}

/* The grid velocities of a stencil's 27 nodes, gv[9a + 3b + c] for node base + (a, b, c) (the grid holds
 * (m, v) after the grid update). */
HD void mpm_gather_gv(const mpm_kgrid *g, const real *grid, const mpm_stencil *s, v3 gv[27]) {
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      const real *row = grid + 4 * mpm_node_index(g, s->base[0] + a, s->base[1] + b, s->base[2]);
      for (int c = 0; c < 3; ++c) gv[9 * a + 3 * b + c] = v3_make(row[4 * c + 1], row[4 * c + 2], row[4 * c + 3]);
    }
}

/* Is any value of particle p's adjoint state NaN or Inf? */
HD int mpm_adj_nonfinite(mpm_kstate adj, int64_t p) {
  return !v3_isfinite(v3_load(adj.x + 3 * p)) || !v3_isfinite(v3_load(adj.v + 3 * p)) ||
         !m3_isfinite(m3_load(adj.C + 9 * p)) || !m3_isfinite(m3_load(adj.F + 9 * p)) || !r_isfinite(adj.q[p]);
}

/* Fold a stage's error key into the deferred span word (the CPU's and the host side of the protocol). */
static inline void mpm_defer_fold(uint64_t *word, uint64_t tag, uint64_t key) {
  if (key != MPM_NO_ERROR && (tag | key) < *word) *word = tag | key;
}

/* ------------------------------------------------------------------ CPU loops (mpm_cpu.c, mpm_adjoint_cpu.c) */

#define MPM_CPU_BLOCK MPM_TILE_BLOCK
/* Below these sizes a loop runs on one thread: a parallel region costs a few microseconds when the cores are
 * free, but up to a scheduler time slice per barrier when they are oversubscribed (other processes, ctest -j),
 * which would dominate small simulations. The results do not depend on it (the scatter order is fixed). */
#define MPM_CPU_PAR_PARTICLES 8192
#define MPM_CPU_PAR_NODES 65536
#define MPM_CPU_PAR_NODES_ALONE 2097152 /* grid loops go parallel with few particles only on grids this large */
static inline int par_grid(size_t nodes, int64_t particles) {
  return nodes >= MPM_CPU_PAR_NODES_ALONE || (nodes >= MPM_CPU_PAR_NODES && particles >= MPM_CPU_PAR_PARTICLES);
}

/* The CPU scatter scratch: the particles' block order of the last P2G, which the adjoint's coloured scatter
 * reuses from the P2G it recomputes. */
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
  uint64_t defer_word; /* the span word of deferred checks */
};

/* A scatter loop (P2G, G2P adjoint) over n particles and a grid of `nodes` nodes goes parallel when either is
 * large. */
static inline int par_scatter(size_t nodes, int64_t n) { return n >= MPM_CPU_PAR_PARTICLES || par_grid(nodes, n); }

/* This thread's index and the team size inside a parallel region (0 and 1 without OpenMP). */
static inline void mpm_cpu_thread(int *t, int *T) {
#ifdef _OPENMP
  *t = omp_get_thread_num();
  *T = omp_get_num_threads();
#else
  *t = 0;
  *T = 1;
#endif
}

static inline int max_threads(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/* The coloured walk of the P2G scatter and of the G2P adjoint's scatter, inside a parallel region: columns of
 * blocks along z, in 4 colours by the parity of (bx, by). Columns of one colour are two blocks apart in x or
 * y, and a stencil reaches at most 2 nodes into the next block, so columns of one colour never write the same
 * node; colours run in a fixed order, the blocks of a column in z order, each block's particles in the sorted
 * order, so every node receives its contributions in the same order whatever the threads. */
#define MPM_CPU_COLOURED_WALK(cs, p, ...)                                                            \
  for (int colour_ = 0; colour_ < 4; ++colour_) {                                                     \
    const int cx_ = colour_ & 1, cy_ = (colour_ >> 1) & 1;                                            \
    const int mx_ = ((cs)->nb[0] - cx_ + 1) / 2, my_ = ((cs)->nb[1] - cy_ + 1) / 2;                   \
    _Pragma("omp for schedule(dynamic, 1)") for (int64_t u_ = 0; u_ < (int64_t)mx_ * my_; ++u_) {     \
      int bx_ = cx_ + 2 * (int)(u_ / my_), by_ = cy_ + 2 * (int)(u_ % my_);                           \
      int64_t b0_ = ((int64_t)bx_ * (cs)->nb[1] + by_) * (cs)->nb[2];                                 \
      for (uint32_t k_ = (cs)->start[b0_]; k_ < (cs)->start[b0_ + (cs)->nb[2]]; ++k_) {               \
        const uint32_t p = (cs)->order[k_];                                                           \
        __VA_ARGS__;                                                                                  \
      }                                                                                               \
    }                                                                                                 \
  }

#ifdef __cplusplus
}
#endif
#endif /* PL_MPM_INTERNAL_H */
