/* mpm_cpu.c: the CPU backend (OpenMP), the reference. Loops only: the math is in mpm_kernels.h.
 *
 * P2G without float atomics, deterministic for any thread count:
 *   1. per particle (parallel): stencil check, affine matrix A_p (stress), and the key of its grid block
 *      (blocks of MPM_CPU_BLOCK^3 cells, by the stencil's base node);
 *   2. a stable counting sort of the particles by block (per-thread histograms over fixed particle ranges);
 *   3. columns of blocks along z, in 4 colours by the parity of their (x, y) block coordinates: columns of one
 *      colour are two blocks apart, and a particle's stencil reaches at most 2 nodes into the next block, so
 *      columns of one colour never write the same node. Colours run in a fixed order, the blocks of a column
 *      in z order, each block's particles in index order, so every node receives its contributions in the
 *      same order whatever the threads. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mpm/mpm_internal.h"

static void cpu_scratch_free(mpm_cpu_scratch *cs);

static pl_status cpu_scratch_create_for(mpm_cpu_scratch **out, const mpm_kgrid *g, int64_t n) {
  *out = NULL;
  if (n > (int64_t)UINT32_MAX - 1) return pl_fail(PL_ERR_LIMIT, "the CPU backend handles at most 2^32 - 2 particles");
  mpm_cpu_scratch *cs = (mpm_cpu_scratch *)calloc(1, sizeof *cs);
  if (!cs) return pl_fail(PL_ERR_NOMEM, "out of memory");
  const mpm_ktiles tl = mpm_tiles_of(g); /* mpm_tile.h: base nodes run 0..n-2 */
  for (int a = 0; a < 3; ++a) cs->nb[a] = tl.nb[a];
  cs->nblocks = mpm_tiles_count(&tl);
  cs->defer_word = MPM_NO_ERROR;
  cs->n = n;
  cs->hist_threads = max_threads();
  size_t nn = (size_t)(n > 0 ? n : 1);
  cs->affine = (real *)malloc(nn * 9 * sizeof(real));
  cs->key = (uint32_t *)malloc(nn * sizeof(uint32_t));
  cs->order = (uint32_t *)malloc(nn * sizeof(uint32_t));
  cs->start = (uint32_t *)malloc(((size_t)cs->nblocks + 1) * sizeof(uint32_t));
  cs->hist = (uint32_t *)malloc((size_t)cs->hist_threads * (size_t)cs->nblocks * sizeof(uint32_t));
  if (!cs->affine || !cs->key || !cs->order || !cs->start || !cs->hist) {
    long long nbk = (long long)cs->nblocks;
    cpu_scratch_free(cs);
    return pl_fail(PL_ERR_NOMEM, "out of memory for the CPU scatter buffers (%lld particles, %lld blocks)",
                   (long long)n, nbk);
  }
  *out = cs;
  return PL_OK;
}

static void cpu_scratch_free(mpm_cpu_scratch *cs) {
  if (!cs) return;
  free(cs->affine);
  free(cs->key);
  free(cs->order);
  free(cs->start);
  free(cs->hist);
  free(cs);
}

/* Grow the histogram if the thread count went up since creation. */
static int ensure_hist(mpm_cpu_scratch *cs, int threads) {
  if (threads <= cs->hist_threads) return 1;
  uint32_t *h = (uint32_t *)realloc(cs->hist, (size_t)threads * (size_t)cs->nblocks * sizeof(uint32_t));
  if (!h) return 0;
  cs->hist = h;
  cs->hist_threads = threads;
  return 1;
}

static inline void scatter_particle(const mpm_kgrid *g, real *grid, const real *A9, v3 x, v3 v, real mass) {
  mpm_stencil s = mpm_stencil_of(g, x);
  m3 A = m3_load(A9);
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      real *row = grid + 4 * mpm_node_index(g, s.base[0] + a, s.base[1] + b, s.base[2]);
      for (int c = 0; c < 3; ++c) {
        real dm;
        v3 dmom;
        mpm_p2g_contrib(mpm_stencil_weight(&s, a, b, c), mpm_stencil_dpos(&s, a, b, c, g->dx), mass, v, A, &dm,
                        &dmom);
        row[4 * c + 0] += dm;
        row[4 * c + 1] += dmom.x;
        row[4 * c + 2] += dmom.y;
        row[4 * c + 3] += dmom.z;
      }
    }
}

static pl_status cpu_scratch_create(mpm_sim *s) { return cpu_scratch_create_for(&s->cpu, &s->grid, s->n); }
static void cpu_scratch_release(mpm_sim *s) {
  cpu_scratch_free(s->cpu);
  s->cpu = NULL;
}

static pl_status cpu_p2g(mpm_sim *s, mpm_kstate st, real dt, uint64_t *err_out) {
  mpm_cpu_scratch *cs = s->cpu;
  const mpm_kgrid *g = &s->grid;
  const mpm_kparticles Pv = mpm_sim_kparticles(s), *P = &Pv;
  real *grid = (real *)s->gridbuf.ptr;
  const int64_t n = st.n;
  const int64_t nodes = (int64_t)mpm_node_count(g);
  const int64_t nbk = cs->nblocks;
  const mpm_ktiles tl = mpm_tiles_of(g);
  int threads = par_scatter((size_t)nodes, n) ? max_threads() : 1;
  if (!ensure_hist(cs, threads)) threads = cs->hist_threads;
  uint64_t err = MPM_NO_ERROR;
  /* One parallel region, five barriers: (1) affine matrices, block keys and per-thread histograms over fixed
   * particle ranges, and the grid zeroed; (2) the prefix sums; (3) the stable scatter into `order`; then the
   * four colours of block columns. */
#pragma omp parallel num_threads(threads)
  {
    int t, T;
    mpm_cpu_thread(&t, &T);
    const int64_t lo = n * t / T, hi = n * (t + 1) / T;
    uint32_t *h = cs->hist + (size_t)t * (size_t)nbk;
    memset(h, 0, (size_t)nbk * sizeof(uint32_t));
    uint64_t lerr = MPM_NO_ERROR;
    for (int64_t p = lo; p < hi; ++p) {
      v3 x = v3_load(st.x + 3 * p);
      if (!mpm_in_domain(g, x)) {
        uint64_t k = mpm_error_key(p, v3_isfinite(x) ? MPM_PERR_DOMAIN : MPM_PERR_NAN);
        if (k < lerr) lerr = k;
        cs->key[p] = 0;
        continue;
      }
      int model;
      mpm_mparams mp = mpm_particle_params(P, p, &model);
      m3 A = mpm_p2g_affine_at(g, model, mp, P->mass[p], P->vol0[p], dt, v3_load(st.v + 3 * p), m3_load(st.C + 9 * p),
                               m3_load(st.F + 9 * p));
      if (!m3_isfinite(A)) {
        uint64_t k = mpm_error_key(p, MPM_PERR_STRESS);
        if (k < lerr) lerr = k;
      }
      m3_store(A, cs->affine + 9 * p);
      mpm_stencil sc = mpm_stencil_of(g, x);
      uint32_t key = mpm_tile_key(&tl, sc.base);
      cs->key[p] = key;
      h[key]++;
    }
    if (lerr != MPM_NO_ERROR) {
#pragma omp critical(mpm_p2g_err)
      if (lerr < err) err = lerr;
    }
    for (int64_t i = nodes * t / T; i < nodes * (t + 1) / T; ++i) {
      grid[4 * i + 0] = 0;
      grid[4 * i + 1] = 0;
      grid[4 * i + 2] = 0;
      grid[4 * i + 3] = 0;
    }
#pragma omp barrier
    if (err == MPM_NO_ERROR) { /* the same decision on every thread: err is final after the barrier */
#pragma omp single
      {
        uint32_t run = 0;
        for (int64_t b = 0; b < nbk; ++b) {
          cs->start[b] = run;
          for (int tt = 0; tt < T; ++tt) {
            uint32_t *ht = cs->hist + (size_t)tt * (size_t)nbk;
            uint32_t c = ht[b];
            ht[b] = run;
            run += c;
          }
        }
        cs->start[nbk] = run;
      }
      for (int64_t p = lo; p < hi; ++p) cs->order[h[cs->key[p]]++] = (uint32_t)p;
#pragma omp barrier
      /* the coloured walk (mpm_internal.h): columns of one colour never write the same node */
      MPM_CPU_COLOURED_WALK(cs, p, scatter_particle(g, grid, cs->affine + 9 * (size_t)p, v3_load(st.x + 3 * (size_t)p),
                                                    v3_load(st.v + 3 * (size_t)p), P->mass[p]))
    }
  }
  if (err_out) *err_out = err;
  else mpm_defer_fold(&cs->defer_word, s->defer_tag, err);
  return PL_OK;
}

static pl_status cpu_grid_update(mpm_sim *s, real dt, real t) {
  const mpm_kgrid *g = &s->grid;
  const mpm_kcollider *cols = (const mpm_kcollider *)s->kcol_buf.ptr;
  const int ncol = s->ncolliders;
  real *grid = (real *)s->gridbuf.ptr;
  const int64_t particles = s->n;
  const int nx = g->n[0] + 1, ny = g->n[1] + 1, nz = g->n[2] + 1;
#pragma omp parallel for collapse(2) schedule(static) if (par_grid(mpm_node_count(g), particles))
  for (int i = 0; i < nx; ++i)
    for (int j = 0; j < ny; ++j) {
      real *row = grid + 4 * mpm_node_index(g, i, j, 0);
      for (int k = 0; k < nz; ++k) {
        real *node = row + 4 * k;
        real m = node[0];
        if (!(m > 0)) continue;
        if (s->node_trace && m > s->trace_node_mass) { /* branch trace: the contacts' branches of this substep (before v overwrites mom) */
          unsigned code = mpm_grid_node_branches(g, cols, ncol, i, j, k, t, dt, m, v3_make(node[1], node[2], node[3]));
          size_t id = mpm_node_index(g, i, j, k);
          if (code) { /* with the substep's time in the run (not substeps_done, which counts across runs) */
            double td = (double)t;
            uint64_t tb;
            memcpy(&tb, &td, sizeof tb);
            s->node_trace[id] = mpm_trace_fold(mpm_trace_fold(s->node_trace[id], code), tb);
          }
        }
        v3 v = mpm_grid_node(g, cols, ncol, i, j, k, t, dt, m, v3_make(node[1], node[2], node[3]));
        node[1] = v.x;
        node[2] = v.y;
        node[3] = v.z;
      }
    }
  return PL_OK;
}

static pl_status cpu_g2p(mpm_sim *sim, mpm_kstate in, mpm_kstate out, real dt, uint64_t *err_out) {
  const mpm_kgrid *g = &sim->grid;
  const mpm_kparticles Pv = mpm_sim_kparticles(sim), *P = &Pv;
  const real *grid = (const real *)sim->gridbuf.ptr;
  const int64_t n = in.n;
  uint64_t err = MPM_NO_ERROR;
#pragma omp parallel for schedule(static) reduction(min : err) if (n >= MPM_CPU_PAR_PARTICLES)
  for (int64_t p = 0; p < n; ++p) {
    v3 x = v3_load(in.x + 3 * p);
    if (!mpm_in_domain(g, x)) { /* a state P2G did not check: never read outside the grid */
      uint64_t k = mpm_error_key(p, v3_isfinite(x) ? MPM_PERR_DOMAIN : MPM_PERR_NAN);
      if (k < err) err = k;
      continue;
    }
    mpm_stencil s = mpm_stencil_of(g, x);
    v3 gv[27];
    mpm_gather_gv(g, grid, &s, gv);
    int model;
    mpm_mparams mp = mpm_particle_params(P, p, &model);
    v3 xo, vo;
    m3 Co, Fo, Ft;
    real qo;
    mpm_g2p_particle(g, model, mp, dt, x, m3_load(in.F + 9 * p), in.q[p], gv, &xo, &vo, &Co, &Fo, &qo, &Ft);
    if (sim->particle_trace) { /* branch trace: the return map's branch of this substep, and the rest share's side */
      mpm_mparams pe = mp; /* the step's cone slope (mu(I)), as mpm_g2p_particle projected with */
      if (model == MPM_DRUCKER_PRAGER) pe.alpha = mpm_mui_alpha(mp, Co, Ft);
      uint64_t tr = mpm_trace_fold(sim->particle_trace[p], (uint64_t)mpm_trace_branch(model, Ft, in.q[p], pe));
      if (g->pic_rest_speed > 0) tr = mpm_trace_fold(tr, MPM_TRACE_SHARE + mpm_pic_share_branch(g->pic_rest_speed, vo));
      sim->particle_trace[p] = tr;
    }
    int code = mpm_check_particle(g, xo, vo, Co, Ft, Fo);
    if (code) {
      uint64_t k = mpm_error_key(p, code);
      if (k < err) err = k;
    }
    v3_store(xo, out.x + 3 * p);
    v3_store(vo, out.v + 3 * p);
    m3_store(Co, out.C + 9 * p);
    m3_store(Fo, out.F + 9 * p);
    out.q[p] = qo;
  }
  if (err_out) *err_out = err;
  else mpm_defer_fold(&sim->cpu->defer_word, sim->defer_tag, err);
  return PL_OK;
}

static pl_status cpu_max_speed(mpm_sim *sim, mpm_kstate st, double *vmax_out) {
  (void)sim;
  real vmax = 0;
#pragma omp parallel for schedule(static) reduction(max : vmax) if (st.n >= MPM_CPU_PAR_PARTICLES)
  for (int64_t p = 0; p < st.n; ++p) {
    real s = v3_norm(v3_load(st.v + 3 * p));
    if (s > vmax) vmax = s;
  }
  *vmax_out = (double)vmax;
  return PL_OK;
}

static pl_status cpu_defer_reset(mpm_sim *s) {
  s->cpu->defer_word = MPM_NO_ERROR;
  return PL_OK;
}
static pl_status cpu_defer_read(mpm_sim *s, uint64_t *word) {
  *word = s->cpu->defer_word;
  return PL_OK;
}

/* The graph runner's CPU emulation: what one replay of the CUDA graph does (mpm_cuda.cu, cuda_substeps), stage for
 * stage, with the substep's number, time and dt taken from the clock as the device takes them. */
static pl_status cpu_substeps(mpm_sim *s, const mpm_kclock *clk, int64_t count) {
  const mpm_kstate st = mpm_state_view(&s->state);
  const real dt = (real)clk->dt;
  for (int64_t j = 0; j < count; ++j) {
    const int64_t k = clk->k + j;
    s->defer_tag = mpm_defer_tag(k, MPM_STAGE_P2G);
    PL_TRY(cpu_p2g(s, st, dt, NULL));
    PL_TRY(cpu_grid_update(s, dt, (real)mpm_clock_time(clk, k)));
    s->defer_tag = mpm_defer_tag(k, MPM_STAGE_G2P);
    PL_TRY(cpu_g2p(s, st, st, dt, NULL));
  }
  return PL_OK;
}

const mpm_backend_ops mpm_cpu_ops = {
    "cpu",           cpu_scratch_create, cpu_scratch_release, cpu_p2g,         cpu_grid_update,
    cpu_g2p,         cpu_max_speed,      mpm_cpu_adj_g2p,     mpm_cpu_adj_grid, mpm_cpu_adj_p2g,
    mpm_cpu_axpy,    mpm_cpu_adj_first_nonfinite, cpu_defer_reset, cpu_defer_read, cpu_substeps,
};
