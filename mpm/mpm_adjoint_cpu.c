/* mpm_adjoint_cpu.c: the CPU loops of the backward substep (the reference). Loops only: every formula is a
 * _vjp of mpm_kernels.h / materials.h. Deterministic for any thread count, no float atomics:
 *
 *   G2P adjoint   per particle; the node-velocity cotangents are scattered to the grid in the same coloured
 *                 block order as the forward P2G (the block sort of the P2G recomputed on the same state), so
 *                 every node receives its contributions in a fixed order;
 *   grid adjoint  per node; gravity and friction cotangents summed per grid row (x index), rows summed in order;
 *   P2G adjoint   per particle, a gather of its 27 nodes' cotangents (no scatter at all).
 *
 * The adjoint state is updated in place: the G2P adjoint reads a particle's cotangent of the substep's output
 * and overwrites it with the part of the input's cotangent that G2P contributes (x, F, q); the P2G adjoint adds
 * its part (x, v, C, F). */
#include <stdlib.h>
#include <string.h>

#include "mpm/mpm_internal.h"

static inline void adj_g2p_particle(const mpm_kgrid *g, mpm_kstate in, mpm_kstate adj, const mpm_kparticles *P,
                                    const real *grid, real *v_gridv, double *v_par, real dt, int64_t p) {
  v3 x = v3_load(in.x + 3 * p);
  mpm_stencil s = mpm_stencil_of(g, x);
  v3 gv[27], vgv[27];
  mpm_gather_gv(g, grid, &s, gv);
  for (int k = 0; k < 27; ++k) vgv[k] = v3_zero();
  int model;
  mpm_mparams mp = mpm_particle_params(P, p, &model);
  mpm_mparams vmp = mpm_mparams_zero();
  v3 vx = v3_zero();
  m3 vF = m3_zero();
  real vq = 0;
  mpm_g2p_particle_vjp(g, model, mp, dt, x, m3_load(in.F + 9 * p), in.q[p], gv, v3_load(adj.x + 3 * p),
                       v3_load(adj.v + 3 * p), m3_load(adj.C + 9 * p), m3_load(adj.F + 9 * p), adj.q[p], &vx, &vF, &vq,
                       vgv, &vmp);
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      real *row = v_gridv + 3 * mpm_node_index(g, s.base[0] + a, s.base[1] + b, s.base[2]);
      for (int c = 0; c < 3; ++c) {
        v3 d = vgv[9 * a + 3 * b + c];
        row[3 * c + 0] += d.x;
        row[3 * c + 1] += d.y;
        row[3 * c + 2] += d.z;
      }
    }
  mpm_adj_g2p_store(adj, v_par, p, vx, vF, vq, vmp);
}

pl_status mpm_cpu_adj_g2p(mpm_sim *s, const mpm_adj_args *A) {
  const mpm_cpu_scratch *cs = s->cpu;
  const mpm_kgrid *g = &s->grid;
  const mpm_kstate in = A->in, adj = A->adj;
  const mpm_kparticles *P = &A->P;
  const real *grid = A->grid;
  real *v_gridv = A->v_gridv;
  double *v_par = A->v_par;
  const real dt = A->dt;
  const int64_t n = in.n;
  const int64_t nodes = (int64_t)mpm_node_count(g);
  const int threads = par_scatter((size_t)nodes, n) ? max_threads() : 1;
#pragma omp parallel num_threads(threads)
  {
    int t, T;
    mpm_cpu_thread(&t, &T);
    memset(v_gridv + 3 * (nodes * t / T), 0, (size_t)(nodes * (t + 1) / T - nodes * t / T) * 3 * sizeof(real));
#pragma omp barrier
    /* the forward P2G's coloured walk, in the block order of the P2G recomputed on `in` */
    MPM_CPU_COLOURED_WALK(cs, p, adj_g2p_particle(g, in, adj, P, grid, v_gridv, v_par, dt, (int64_t)p))
  }
  return PL_OK;
}

pl_status mpm_cpu_adj_grid(mpm_sim *s, const mpm_adj_args *A) {
  const mpm_kgrid *g = &s->grid;
  const mpm_kcollider *cols = A->P.colliders;
  const int ncol = s->ncolliders;
  const real *grid_pre = A->grid_pre, *v_gridv = A->v_gridv;
  real *v_grid = A->grid;
  double *row_acc = A->row_acc, *glob = A->glob;
  const real dt = A->dt, t = A->t;
  const int64_t particles = s->n;
  const int nx = g->n[0] + 1, ny = g->n[1] + 1, nz = g->n[2] + 1;
  const int nglob = 3 + MPM_FRICTION_SLOTS(ncol);
#pragma omp parallel for schedule(static) if (par_grid(mpm_node_count(g), particles))
  for (int i = 0; i < nx; ++i) {
    double *acc = row_acc + (size_t)i * (size_t)nglob;
    for (int q = 0; q < nglob; ++q) acc[q] = 0;
    real vfr[MPM_FRICTION_SLOTS(MPM_MAX_COLLIDERS)];
    for (int j = 0; j < ny; ++j) {
      size_t base = mpm_node_index(g, i, j, 0);
      for (int k = 0; k < nz; ++k) {
        const real *node = grid_pre + 4 * (base + (size_t)k);
        real *out = v_grid + 4 * (base + (size_t)k);
        real m = node[0];
        if (!(m > 0)) {
          out[0] = out[1] = out[2] = out[3] = 0;
          continue;
        }
        const real *vv = v_gridv + 3 * (base + (size_t)k);
        real vm = 0;
        v3 vmom = v3_zero(), vg = v3_zero();
        for (int c = 0; c < MPM_FRICTION_SLOTS(ncol); ++c) vfr[c] = 0;
        mpm_grid_node_vjp(g, cols, ncol, i, j, k, t, dt, m, v3_make(node[1], node[2], node[3]),
                          v3_make(vv[0], vv[1], vv[2]), &vm, &vmom, &vg, vfr);
        out[0] = vm;
        out[1] = vmom.x;
        out[2] = vmom.y;
        out[3] = vmom.z;
        acc[0] += (double)vg.x;
        acc[1] += (double)vg.y;
        acc[2] += (double)vg.z;
        for (int c = 0; c < MPM_FRICTION_SLOTS(ncol); ++c) acc[3 + c] += (double)vfr[c];
      }
    }
  }
  for (int i = 0; i < nx; ++i)
    for (int q = 0; q < nglob; ++q) glob[q] += row_acc[(size_t)i * (size_t)nglob + (size_t)q];
  return PL_OK;
}

pl_status mpm_cpu_adj_p2g(mpm_sim *sim, const mpm_adj_args *A) {
  const mpm_cpu_scratch *cs = sim->cpu;
  const mpm_kgrid *g = &sim->grid;
  const mpm_kstate in = A->in, adj = A->adj;
  const mpm_kparticles *P = &A->P;
  const real *v_grid = A->grid;
  double *v_par = A->v_par;
  const real dt = A->dt;
  const int64_t n = in.n;
#pragma omp parallel for schedule(static) if (n >= MPM_CPU_PAR_PARTICLES)
  for (int64_t p = 0; p < n; ++p) {
    v3 x = v3_load(in.x + 3 * p);
    mpm_stencil s = mpm_stencil_of(g, x);
    real vout[27][4];
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
        const real *row = v_grid + 4 * mpm_node_index(g, s.base[0] + a, s.base[1] + b, s.base[2]);
        for (int c = 0; c < 3; ++c)
          for (int q = 0; q < 4; ++q) vout[9 * a + 3 * b + c][q] = row[4 * c + q];
      }
    int model;
    mpm_mparams mp = mpm_particle_params(P, p, &model);
    mpm_mparams vmp = mpm_mparams_zero();
    real mass = P->mass[p], vmass = 0;
    v3 vx = v3_zero(), vv = v3_zero();
    m3 vA = m3_zero(), vC = m3_zero(), vF = m3_zero();
    /* A_p as the recomputed P2G left it (the stress is not evaluated twice) */
    mpm_p2g_scatter_vjp(g, &s, mass, v3_load(in.v + 3 * p), m3_load(cs->affine + 9 * p), (const real(*)[4])vout, &vx,
                        &vv, &vA, &vmass);
    mpm_p2g_affine_at_vjp(g, model, mp, mass, P->vol0[p], dt, v3_load(in.v + 3 * p), m3_load(in.C + 9 * p),
                          m3_load(in.F + 9 * p), vA, &vv, &vC, &vF, &vmass, &vmp);
    mpm_adj_p2g_store(adj, v_par, p, vx, vv, vC, vF, vmp, vmass);
  }
  return PL_OK;
}

pl_status mpm_cpu_axpy(mpm_sim *s, real *dst, const real *src, int64_t count) {
  (void)s;
#pragma omp parallel for schedule(static) if (count >= 16 * MPM_CPU_PAR_PARTICLES)
  for (int64_t i = 0; i < count; ++i) dst[i] += src[i];
  return PL_OK;
}

pl_status mpm_cpu_adj_first_nonfinite(mpm_sim *s, mpm_kstate adj, int64_t *first_out) {
  (void)s;
  int64_t first = adj.n;
#pragma omp parallel for schedule(static) reduction(min : first) if (adj.n >= MPM_CPU_PAR_PARTICLES)
  for (int64_t p = 0; p < adj.n; ++p)
    if (mpm_adj_nonfinite(adj, p) && p < first) first = p;
  *first_out = first < adj.n ? first : -1;
  return PL_OK;
}
