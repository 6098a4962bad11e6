// mpm_cuda.cu: the CUDA backend. One thread per particle (P2G, G2P) or per grid node (grid update); every
// formula comes from mpm_kernels.h / materials.h, the same functions the CPU backend calls.
//
// P2G scatters with float atomicAdd: the sum order on a node varies from run to run, so CUDA results match
// the CPU reference to rounding (the parity tests compare with a normalised tolerance), not bitwise.
// Errors: each kernel lowers a device-side error key with atomicMin (the smallest particle index wins, as on
// the CPU). With per-stage checks (sync = stage, the default) the host reads that one scalar after the stage;
// with deferred checks (sync = frame, mpm_exec.c) the key carries the substep and stage tag (mpm_tile.h) and goes
// into the span word, read once at the end of the frame: no host wait inside a frame.
//
// Two P2G paths, chosen by mpm_desc.p2g / PL_MPM_P2G (docs/gpu.md, "Prepared GPU paths"):
//   atomic (default)  one thread per particle, 27 x 4 global float atomics per particle;
//   tiled             particles visited in grid-block order (a CUB radix sort of block keys every sort_every
//                     substeps), each CUDA block sums its particles' contributions over one block's 6^3-node
//                     tile in shared memory and adds each node to global memory once (Gao et al. 2018, "GPU
//                     optimization of material point methods", ACM TOG 37(6), sec. 4; mpm_tile.h). A particle
//                     outside the tile (a chunk straddling two blocks, an order gone stale) adds to global memory
//                     directly, so the sums never depend on the order being fresh. G2P and the adjoint visit the
//                     particles in the same order (coherent grid reads).
//
// Every kernel, memset and copy of a simulation runs on its own stream (cs->stream, created with the scratch). It
// is a blocking stream: the core's buffer copies (pl_buffer_*: uploads, checkpoints, downloads), which use the
// legacy default stream, stay ordered with it by CUDA's implicit synchronisation, so the upsampler and the
// rasterizer read finished states. With graph = on (mpm_desc.graph / PL_MPM_GRAPH, needs sync = frame) a run of
// substeps inside a deferred span replays one captured graph of a substep (grid memset, P2G, grid update, G2P,
// clock tick); the substep's number, time and dt come from a device clock (mpm_kclock), so one capture serves every
// substep and frame while the arrays it reads stay the same (graph_key); the tiled path's re-sort runs between
// replays, outside the graph.
#include <cuda_runtime.h>
#include <stdlib.h>
#include <string.h>

#include <cub/device/device_radix_sort.cuh>

#include "mpm/mpm_internal.h"

static_assert(sizeof(real) == 4, "the CUDA backend is built with real = float");

// What a captured substep graph bakes in: when any of it changes the graph is captured again (the update keeps the
// instantiated executable when the topology is the same).
struct graph_key {
  mpm_kgrid g;       // the kernels' grid (gravity and walls may change between runs of a fit)
  mpm_kstate st;
  mpm_kparticles P;
  const real *grid;
  const uint32_t *order;
  int p2g_mode, ncolliders;
};

struct mpm_cuda_scratch {
  cudaStream_t stream;       // every operation of the simulation (blocking stream, see the top of this file)
  mpm_kclock *clock;         // device: the clock of a graph run (substep, t0, dt)
  cudaGraphExec_t exec;      // the captured substep, or NULL
  graph_key key;             // what it was captured with
  long long captures, replays;
  unsigned long long *err;   // device: error key of the last stage (per-stage checks)
  unsigned long long *defer; // device: span word of deferred checks
  unsigned int *vmax_bits;   // device: max |v| as float bits (non-negative floats order like their bits)
  // tiled P2G: block keys and the particle order, double-buffered for the radix sort
  uint32_t *keys[2], *order[2];
  int cur;                   // order[cur] is the current order
  void *sort_tmp;
  size_t sort_tmp_bytes;
  int have_order, since_sort;
};

static pl_status cuda_status(cudaError_t e, const char *what) {
  if (e == cudaSuccess) return PL_OK;
  return pl_fail(PL_ERR_CUDA, "CUDA %s failed: %s", what, cudaGetErrorString(e));
}

static unsigned int blocks_for(int64_t n, unsigned int threads) {
  return (unsigned int)((n + threads - 1) / threads);
}

static void cuda_scratch_free(mpm_cuda_scratch *cs);

// The sort buffers of the tiled P2G: keys and order twice (4 x 4 bytes a particle) and CUB's scratch.
static pl_status cuda_order_alloc(mpm_cuda_scratch *cs, int64_t n) {
  if (n > 2147483647LL) return pl_fail(PL_ERR_LIMIT, "the tiled P2G sorts at most 2^31 - 1 particles");
  size_t nn = (size_t)(n > 0 ? n : 1);
  for (int b = 0; b < 2; ++b) {
    PL_TRY(cuda_status(cudaMalloc((void **)&cs->keys[b], nn * sizeof(uint32_t)), "cudaMalloc (tile keys)"));
    PL_TRY(cuda_status(cudaMalloc((void **)&cs->order[b], nn * sizeof(uint32_t)), "cudaMalloc (particle order)"));
  }
  cub::DoubleBuffer<uint32_t> k(cs->keys[0], cs->keys[1]), v(cs->order[0], cs->order[1]);
  PL_TRY(cuda_status(cub::DeviceRadixSort::SortPairs(NULL, cs->sort_tmp_bytes, k, v, (int)nn, 0, 32, cs->stream),
                     "CUB radix sort (scratch size)"));
  return cuda_status(cudaMalloc(&cs->sort_tmp, cs->sort_tmp_bytes ? cs->sort_tmp_bytes : 1), "cudaMalloc (sort scratch)");
}

static pl_status cuda_scratch_create(mpm_sim *s) {
  mpm_cuda_scratch **out = &s->cuda;
  *out = NULL;
  mpm_cuda_scratch *cs = (mpm_cuda_scratch *)calloc(1, sizeof *cs);
  if (!cs) return pl_fail(PL_ERR_NOMEM, "out of memory");
  pl_status st = cuda_status(cudaStreamCreate(&cs->stream), "cudaStreamCreate (the simulation's stream)");
  if (st == PL_OK) st = cuda_status(cudaMalloc((void **)&cs->err, sizeof(unsigned long long)), "cudaMalloc (error key)");
  if (st == PL_OK) st = cuda_status(cudaMalloc((void **)&cs->clock, sizeof(mpm_kclock)), "cudaMalloc (graph clock)");
  if (st == PL_OK) st = cuda_status(cudaMalloc((void **)&cs->defer, sizeof(unsigned long long)), "cudaMalloc (span word)");
  if (st == PL_OK) st = cuda_status(cudaMalloc((void **)&cs->vmax_bits, sizeof(unsigned int)), "cudaMalloc (max speed)");
  if (st == PL_OK && s->p2g_mode == MPM_P2G_TILED) st = cuda_order_alloc(cs, s->n);
  if (st != PL_OK) {
    cuda_scratch_free(cs);
    return st;
  }
  *out = cs;
  return PL_OK;
}

static void cuda_scratch_release(mpm_sim *s) {
  cuda_scratch_free(s->cuda);
  s->cuda = NULL;
}

static void cuda_scratch_free(mpm_cuda_scratch *cs) {
  if (!cs) return;
  if (cs->stream) cudaStreamSynchronize(cs->stream);
  if (cs->exec) cudaGraphExecDestroy(cs->exec);
  if (cs->clock) cudaFree(cs->clock);
  if (cs->err) cudaFree(cs->err);
  if (cs->defer) cudaFree(cs->defer);
  if (cs->vmax_bits) cudaFree(cs->vmax_bits);
  for (int b = 0; b < 2; ++b) {
    if (cs->keys[b]) cudaFree(cs->keys[b]);
    if (cs->order[b]) cudaFree(cs->order[b]);
  }
  if (cs->sort_tmp) cudaFree(cs->sort_tmp);
  if (cs->stream) cudaStreamDestroy(cs->stream);
  free(cs);
}

// A device word read by the host on the simulation's stream (waits for the work queued before it).
static pl_status read_word(mpm_cuda_scratch *cs, const unsigned long long *dev, unsigned long long *host, const char *what) {
  PL_TRY(cuda_status(cudaMemcpyAsync(host, dev, sizeof *host, cudaMemcpyDeviceToHost, cs->stream), what));
  return cuda_status(cudaStreamSynchronize(cs->stream), what);
}

static_assert(MPM_NO_ERROR == ~0ull, "error words are reset bytewise to 0xff");
static pl_status reset_error(mpm_cuda_scratch *cs) {
  return cuda_status(cudaMemsetAsync(cs->err, 0xff, sizeof(unsigned long long), cs->stream), "cudaMemsetAsync (error key)");
}
static pl_status read_error(mpm_cuda_scratch *cs, uint64_t *err) {
  unsigned long long k = MPM_NO_ERROR;
  pl_status st = read_word(cs, cs->err, &k, "cudaMemcpyAsync (error key)");
  *err = (uint64_t)k;
  return st;
}

// Where a stage's kernels report: per-stage checks reset the stage word and read it afterwards; deferred checks
// (err == NULL in the op) add the span tag and leave the span word alone (no host wait). In a graph (clk set) the
// tag comes from the device clock's substep and the stage, and the step dt from the clock.
struct err_target {
  unsigned long long *word;
  unsigned long long tag;
  const mpm_kclock *clk;
  int stage;
};
__device__ static inline unsigned long long et_tag(const err_target &et) {
  return et.clk ? (unsigned long long)mpm_defer_tag(et.clk->k, et.stage) : et.tag;
}
__device__ static inline real et_dt(const err_target &et, real dt) { return et.clk ? (real)et.clk->dt : dt; }
static pl_status stage_errors_begin(mpm_sim *s, const uint64_t *err, err_target *t) {
  mpm_cuda_scratch *cs = s->cuda;
  t->clk = NULL;
  t->stage = mpm_defer_stage(s->defer_tag);
  if (!err) {
    t->word = cs->defer;
    t->tag = (unsigned long long)s->defer_tag;
    return PL_OK;
  }
  t->word = cs->err;
  t->tag = 0;
  return reset_error(cs);
}
static pl_status stage_errors_end(mpm_sim *s, uint64_t *err) { return err ? read_error(s->cuda, err) : PL_OK; }

// The span word := MPM_NO_ERROR (UINT64_MAX: every byte 0xff) without a host wait: the device runs it in order.
static pl_status cuda_defer_reset(mpm_sim *s) {
  return cuda_status(cudaMemsetAsync(s->cuda->defer, 0xff, sizeof(unsigned long long), s->cuda->stream),
                     "cudaMemsetAsync (span word)");
}
static pl_status cuda_defer_read(mpm_sim *s, uint64_t *word) {
  unsigned long long k = MPM_NO_ERROR;
  pl_status st = read_word(s->cuda, s->cuda->defer, &k, "cudaMemcpyAsync (span word)");
  *word = (uint64_t)k;
  return st;
}

// The particle a thread handles: thread i takes order[i] (tiled path) or i.
__device__ static inline int64_t particle_of(const uint32_t *order, int64_t i) { return order ? (int64_t)order[i] : i; }

// The current particle order, or NULL (atomic path, or no order made yet).
static const uint32_t *current_order(const mpm_sim *s) {
  const mpm_cuda_scratch *cs = s->cuda;
  return (s->p2g_mode == MPM_P2G_TILED && cs->have_order) ? cs->order[cs->cur] : NULL;
}

// ------------------------------------------------------------------ P2G

// A particle's P2G inputs: 1 when it scatters; else 0, with its error (if any) lowered into the stage word.
__device__ static inline int p2g_prepare(const mpm_kgrid &g, const mpm_kstate &st, const mpm_kparticles &P, int64_t p,
                                         real dt, err_target et, v3 *x, m3 *A) {
  dt = et_dt(et, dt);
  *x = v3_load(st.x + 3 * p);
  if (!mpm_in_domain(&g, *x)) {
    atomicMin(et.word, et_tag(et) | (unsigned long long)mpm_error_key(p, v3_isfinite(*x) ? MPM_PERR_DOMAIN : MPM_PERR_NAN));
    return 0;
  }
  int model;
  mpm_mparams mp = mpm_particle_params(&P, p, &model);
  *A = mpm_p2g_affine_at(&g, model, mp, P.mass[p], P.vol0[p], dt, v3_load(st.v + 3 * p), m3_load(st.C + 9 * p),
                         m3_load(st.F + 9 * p));
  if (!m3_isfinite(*A)) {
    atomicMin(et.word, et_tag(et) | (unsigned long long)mpm_error_key(p, MPM_PERR_STRESS));
    return 0;
  }
  return 1;
}

__global__ void mpm_k_p2g(mpm_kgrid g, mpm_kstate st, mpm_kparticles P, real *grid, real dt, err_target et) {
  const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= st.n) return;
  v3 x;
  m3 A;
  if (!p2g_prepare(g, st, P, p, dt, et, &x, &A)) return;
  real mass = P.mass[p];
  v3 v = v3_load(st.v + 3 * p);
  mpm_stencil s = mpm_stencil_of(&g, x);
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 3; ++c) {
        real dm;
        v3 dmom;
        mpm_p2g_contrib(mpm_stencil_weight(&s, a, b, c), mpm_stencil_dpos(&s, a, b, c, g.dx), mass, v, A, &dm, &dmom);
        real *node = grid + 4 * mpm_node_index(&g, s.base[0] + a, s.base[1] + b, s.base[2] + c);
        atomicAdd(node + 0, dm);
        atomicAdd(node + 1, dmom.x);
        atomicAdd(node + 2, dmom.y);
        atomicAdd(node + 3, dmom.z);
      }
}

// ------------------------------------------------------------------ tiled P2G (Gao et al. 2018)


// Block key of each particle (mpm_tile_key of its base node; outside the domain: the key after the last block)
// and the identity order, the input of the radix sort.
__global__ void mpm_k_tile_keys(mpm_kgrid g, mpm_ktiles tl, mpm_kstate st, uint32_t *keys, uint32_t *order) {
  const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= st.n) return;
  v3 x = v3_load(st.x + 3 * p);
  keys[p] = mpm_in_domain(&g, x) ? mpm_tile_key(&tl, mpm_stencil_of(&g, x).base) : mpm_tile_key_none(&tl);
  order[p] = (uint32_t)p;
}

// Re-order the particles by block when the order is sort_every P2Gs old (or missing). Stable: ties keep index order.
static pl_status cuda_sort_if_due(mpm_sim *s, mpm_kstate st) {
  mpm_cuda_scratch *cs = s->cuda;
  if (cs->have_order && ++cs->since_sort < s->sort_every) return PL_OK;
  const mpm_ktiles tl = mpm_tiles_of(&s->grid);
  const unsigned int T = 256;
  mpm_k_tile_keys<<<blocks_for(st.n, T), T, 0, cs->stream>>>(s->grid, tl, st, cs->keys[0], cs->order[0]);
  PL_TRY(cuda_status(cudaGetLastError(), "launch of the tile-key kernel"));
  cub::DoubleBuffer<uint32_t> k(cs->keys[0], cs->keys[1]), v(cs->order[0], cs->order[1]);
  size_t bytes = cs->sort_tmp_bytes;
  PL_TRY(cuda_status(cub::DeviceRadixSort::SortPairs(cs->sort_tmp, bytes, k, v, (int)st.n, 0, mpm_tile_key_bits(&tl),
                                                     cs->stream),
                     "CUB radix sort of the particles by grid block"));
  cs->cur = v.Current() == cs->order[0] ? 0 : 1;
  cs->have_order = 1;
  cs->since_sort = 0;
  return PL_OK;
}

// The chunk of a CUDA block of the tiled kernels: its first and one-past-last positions in the order.
__device__ static inline int64_t chunk_end(int64_t n) {
  const int64_t e = ((int64_t)blockIdx.x + 1) * blockDim.x;
  return e < n ? e : n;
}

// One CUDA block: MPM_TILE_CHUNK consecutive particles of the order. Its two tiles are the grid blocks of the
// chunk's first and last particles (mpm_tile_pick): their particles add into shared memory, the others straight
// to global memory; then each tile's non-zero node sums go to global memory, one atomic each. Every thread
// reaches both barriers.
__global__ void __launch_bounds__(MPM_TILE_CHUNK)
    mpm_k_p2g_tiled(mpm_kgrid g, mpm_ktiles tl, mpm_kstate st, mpm_kparticles P, const uint32_t *order, real *grid,
                    real dt, err_target et) {
  __shared__ real tile[MPM_TILES_PER_CHUNK][4 * MPM_TILE_SLOTS]; // (m, mv) per tile node
  __shared__ uint32_t end_key[2];                                // keys of the chunk's first and last particles
  for (int q = threadIdx.x; q < MPM_TILES_PER_CHUNK * 4 * MPM_TILE_SLOTS; q += blockDim.x) (&tile[0][0])[q] = 0;
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  v3 x;
  m3 A;
  int64_t p = -1;
  int active = 0;
  uint32_t key = mpm_tile_key_none(&tl);
  mpm_stencil s;
  if (i < st.n) {
    p = (int64_t)order[i];
    active = p2g_prepare(g, st, P, p, dt, et, &x, &A);
    if (active) {
      s = mpm_stencil_of(&g, x);
      key = mpm_tile_key(&tl, s.base);
    }
  }
  if (threadIdx.x == 0) end_key[0] = key;
  if (i == chunk_end(st.n) - 1) end_key[1] = key;
  __syncthreads(); // the tiles are zeroed and the end keys known
  uint32_t tile_key[2];
  mpm_tile_pick(end_key[0], end_key[1], mpm_tile_key_none(&tl), tile_key);
  int origin[2][3];
  mpm_tile_origin(&tl, tile_key[0], origin[0]);
  mpm_tile_origin(&tl, tile_key[1], origin[1]);
  if (active) {
    const int t = mpm_tile_which(key, tile_key);
    const int org[3] = {origin[t > 0][0], origin[t > 0][1], origin[t > 0][2]}; // registers, not a local array
    const real mass = P.mass[p];
    const v3 v = v3_load(st.v + 3 * p);
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b)
        for (int c = 0; c < 3; ++c) {
          real dm;
          v3 dmom;
          mpm_p2g_contrib(mpm_stencil_weight(&s, a, b, c), mpm_stencil_dpos(&s, a, b, c, g.dx), mass, v, A, &dm, &dmom);
          const int ni = s.base[0] + a, nj = s.base[1] + b, nk = s.base[2] + c;
          // two branches, so that each atomic's address space (shared / global) is known at compile time
          if (t >= 0) {
            real *sn = tile[t] + 4 * mpm_tile_slot(org, ni, nj, nk);
            atomicAdd(sn + 0, dm);
            atomicAdd(sn + 1, dmom.x);
            atomicAdd(sn + 2, dmom.y);
            atomicAdd(sn + 3, dmom.z);
          } else {
            real *node = grid + 4 * mpm_node_index(&g, ni, nj, nk);
            atomicAdd(node + 0, dm);
            atomicAdd(node + 1, dmom.x);
            atomicAdd(node + 2, dmom.y);
            atomicAdd(node + 3, dmom.z);
          }
        }
  }
  __syncthreads(); // the tiles' sums are complete
  mpm_tile_flush<4>(g, tl, tile, tile_key, origin, grid);
}

// The grid's zeroing and the P2G kernel (the tiled path's order must be made before), on the simulation's stream:
// what cuda_p2g queues and what a graph captures.
static pl_status launch_p2g(mpm_sim *s, mpm_kstate st, real dt, err_target et) {
  const mpm_kparticles P = mpm_sim_kparticles(s);
  real *grid = (real *)s->gridbuf.ptr;
  cudaStream_t stream = s->cuda->stream;
  PL_TRY(cuda_status(cudaMemsetAsync(grid, 0, s->gridbuf.bytes, stream), "cudaMemsetAsync (grid)"));
  if (st.n > 0 && s->p2g_mode == MPM_P2G_TILED)
    mpm_k_p2g_tiled<<<blocks_for(st.n, MPM_TILE_CHUNK), MPM_TILE_CHUNK, 0, stream>>>(
        s->grid, mpm_tiles_of(&s->grid), st, P, current_order(s), grid, dt, et);
  else if (st.n > 0)
    mpm_k_p2g<<<blocks_for(st.n, 128), 128, 0, stream>>>(s->grid, st, P, grid, dt, et);
  return cuda_status(cudaGetLastError(), "launch of the P2G kernel");
}

static pl_status cuda_p2g(mpm_sim *s, mpm_kstate st, real dt, uint64_t *err) {
  err_target et;
  PL_TRY(stage_errors_begin(s, err, &et));
  if (st.n > 0 && s->p2g_mode == MPM_P2G_TILED) PL_TRY(cuda_sort_if_due(s, st));
  PL_TRY(launch_p2g(s, st, dt, et));
  return stage_errors_end(s, err);
}

// ------------------------------------------------------------------ grid update

__global__ void mpm_k_grid(mpm_kgrid g, const mpm_kcollider *cols, int ncol, real *grid, real dt, real t,
                           const mpm_kclock *clk) {
  const int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (clk) { // in a graph: this substep's time and step from the device clock
    t = (real)mpm_clock_time(clk, clk->k);
    dt = (real)clk->dt;
  }
  const int64_t ny = g.n[1] + 1, nz = g.n[2] + 1;
  if (idx >= (int64_t)mpm_node_count(&g)) return;
  real *node = grid + 4 * idx;
  real m = node[0];
  if (!(m > 0)) return;
  int k = (int)(idx % nz), j = (int)((idx / nz) % ny), i = (int)(idx / (ny * nz));
  v3 v = mpm_grid_node(&g, cols, ncol, i, j, k, t, dt, m, v3_make(node[1], node[2], node[3]));
  node[1] = v.x;
  node[2] = v.y;
  node[3] = v.z;
}

static pl_status launch_grid(mpm_sim *s, real dt, real t, const mpm_kclock *clk) {
  const unsigned int T = 256;
  int64_t nodes = (int64_t)mpm_node_count(&s->grid);
  mpm_k_grid<<<blocks_for(nodes, T), T, 0, s->cuda->stream>>>(s->grid, (const mpm_kcollider *)s->kcol_buf.ptr,
                                                              s->ncolliders, (real *)s->gridbuf.ptr, dt, t, clk);
  return cuda_status(cudaGetLastError(), "launch of the grid-update kernel");
}
static pl_status cuda_grid_update(mpm_sim *s, real dt, real t) { return launch_grid(s, dt, t, NULL); }

// ------------------------------------------------------------------ G2P

__global__ void mpm_k_g2p(mpm_kgrid g, mpm_kstate in, mpm_kstate out, mpm_kparticles P, const uint32_t *order,
                          const real *grid, real dt, err_target et) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= in.n) return;
  const int64_t p = particle_of(order, i);
  dt = et_dt(et, dt);
  v3 x = v3_load(in.x + 3 * p);
  if (!mpm_in_domain(&g, x)) {
    atomicMin(et.word, et_tag(et) | (unsigned long long)mpm_error_key(p, v3_isfinite(x) ? MPM_PERR_DOMAIN : MPM_PERR_NAN));
    return;
  }
  mpm_stencil s = mpm_stencil_of(&g, x);
  v3 gv[27];
  mpm_gather_gv(&g, grid, &s, gv);
  int model;
  mpm_mparams mp = mpm_particle_params(&P, p, &model);
  v3 xo, vo;
  m3 Co, Fo, Ft;
  real qo;
  mpm_g2p_particle(&g, model, mp, dt, x, m3_load(in.F + 9 * p), in.q[p], gv, &xo, &vo, &Co, &Fo, &qo, &Ft);
  int code = mpm_check_particle(&g, xo, vo, Co, Ft, Fo);
  if (code) atomicMin(et.word, et_tag(et) | (unsigned long long)mpm_error_key(p, code));
  v3_store(xo, out.x + 3 * p);
  v3_store(vo, out.v + 3 * p);
  m3_store(Co, out.C + 9 * p);
  m3_store(Fo, out.F + 9 * p);
  out.q[p] = qo;
}

static pl_status launch_g2p(mpm_sim *s, mpm_kstate in, mpm_kstate out, real dt, err_target et) {
  const mpm_kparticles P = mpm_sim_kparticles(s);
  const unsigned int T = 128;
  if (in.n > 0)
    mpm_k_g2p<<<blocks_for(in.n, T), T, 0, s->cuda->stream>>>(s->grid, in, out, P, current_order(s),
                                                              (const real *)s->gridbuf.ptr, dt, et);
  return cuda_status(cudaGetLastError(), "launch of the G2P kernel");
}

static pl_status cuda_g2p(mpm_sim *s, mpm_kstate in, mpm_kstate out, real dt, uint64_t *err) {
  err_target et;
  PL_TRY(stage_errors_begin(s, err, &et));
  PL_TRY(launch_g2p(s, in, out, dt, et));
  return stage_errors_end(s, err);
}

// ------------------------------------------------------------------ max speed

__global__ void mpm_k_vmax(mpm_kstate st, unsigned int *bits) {
  const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= st.n) return;
  real s = v3_norm(v3_load(st.v + 3 * p));
  if (!(s >= 0)) s = INFINITY; /* NaN: report as infinite */
  atomicMax(bits, __float_as_uint(s));
}

static pl_status cuda_max_speed(mpm_sim *s, mpm_kstate st, double *vmax) {
  mpm_cuda_scratch *cs = s->cuda;
  PL_TRY(cuda_status(cudaMemsetAsync(cs->vmax_bits, 0, sizeof(unsigned int), cs->stream), "cudaMemsetAsync (max speed)"));
  const unsigned int T = 256;
  if (st.n > 0) mpm_k_vmax<<<blocks_for(st.n, T), T, 0, cs->stream>>>(st, cs->vmax_bits);
  PL_TRY(cuda_status(cudaGetLastError(), "launch of the max-speed kernel"));
  unsigned int b = 0;
  PL_TRY(cuda_status(cudaMemcpyAsync(&b, cs->vmax_bits, sizeof b, cudaMemcpyDeviceToHost, cs->stream),
                     "cudaMemcpyAsync (max speed)"));
  PL_TRY(cuda_status(cudaStreamSynchronize(cs->stream), "cudaStreamSynchronize (max speed)"));
  float f;
  memcpy(&f, &b, sizeof f);
  *vmax = (double)f;
  return PL_OK;
}

// ------------------------------------------------------------------ graphs of substeps

__global__ void mpm_k_clock_set(mpm_kclock *clk, double t0, double dt, long long k) {
  clk->t0 = t0;
  clk->dt = dt;
  clk->k = (int64_t)k;
}
__global__ void mpm_k_clock_tick(mpm_kclock *clk) { clk->k += 1; }

// The key of a capture for the state st: every value a captured launch bakes in, copied bytewise into a zeroed
// key, so that comparing keys bytewise can only err towards capturing again.
static graph_key graph_key_of(const mpm_sim *s, mpm_kstate st) {
  graph_key k;
  memset(&k, 0, sizeof k);
  const mpm_kparticles P = mpm_sim_kparticles(s);
  const real *grid = (const real *)s->gridbuf.ptr;
  const uint32_t *order = current_order(s);
  memcpy(&k.g, &s->grid, sizeof k.g);
  memcpy(&k.st, &st, sizeof k.st);
  memcpy(&k.P, &P, sizeof k.P);
  memcpy(&k.grid, &grid, sizeof grid);
  memcpy(&k.order, &order, sizeof order);
  k.p2g_mode = s->p2g_mode;
  k.ncolliders = s->ncolliders;
  return k;
}

// Capture one substep on s->state (grid zeroing, P2G, grid update, G2P, clock tick; deferred checks tagged from
// the clock) unless the graph of the same key exists; a new capture updates the executable in place when it can.
static pl_status graph_ready(mpm_sim *s, mpm_kstate st) {
  mpm_cuda_scratch *cs = s->cuda;
  const graph_key key = graph_key_of(s, st);
  if (cs->exec && !memcmp(&key, &cs->key, sizeof key)) return PL_OK;
  err_target et[2];
  for (int g = 0; g < 2; ++g) {
    et[g].word = cs->defer;
    et[g].tag = 0;
    et[g].clk = cs->clock;
    et[g].stage = g == 0 ? MPM_STAGE_P2G : MPM_STAGE_G2P;
  }
  PL_TRY(cuda_status(cudaStreamBeginCapture(cs->stream, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture"));
  pl_status ps = launch_p2g(s, st, 0, et[0]); // dt and t: from the clock
  if (ps == PL_OK) ps = launch_grid(s, 0, 0, cs->clock);
  if (ps == PL_OK) ps = launch_g2p(s, st, st, 0, et[1]);
  if (ps == PL_OK) {
    mpm_k_clock_tick<<<1, 1, 0, cs->stream>>>(cs->clock);
    ps = cuda_status(cudaGetLastError(), "launch of the graph clock's tick");
  }
  cudaGraph_t graph = NULL;
  const cudaError_t ended = cudaStreamEndCapture(cs->stream, &graph); // always: the stream leaves capture mode
  if (ps == PL_OK) ps = cuda_status(ended, "cudaStreamEndCapture (the substep graph)");
  if (ps != PL_OK) {
    if (graph) cudaGraphDestroy(graph);
    return ps;
  }
  if (cs->exec) {
    cudaGraphExecUpdateResultInfo info;
    if (cudaGraphExecUpdate(cs->exec, graph, &info) != cudaSuccess) { // another topology: instantiate anew
      (void)cudaGetLastError();
      cudaGraphExecDestroy(cs->exec);
      cs->exec = NULL;
    }
  }
  cudaError_t e = cudaSuccess;
  if (!cs->exec) e = cudaGraphInstantiate(&cs->exec, graph, 0);
  cudaGraphDestroy(graph);
  if (e != cudaSuccess) {
    cs->exec = NULL;
    return cuda_status(e, "cudaGraphInstantiate (the substep graph)");
  }
  cs->key = key;
  cs->captures++;
  return PL_OK;
}

// The graph runner (mpm_run_substeps): set the device clock, then per substep the tiled path's re-sort when due
// (outside the graph: its cadence is the host's) and one replay. No host wait.
static pl_status cuda_substeps(mpm_sim *s, const mpm_kclock *clk, int64_t count) {
  mpm_cuda_scratch *cs = s->cuda;
  const mpm_kstate st = mpm_state_view(&s->state);
  mpm_k_clock_set<<<1, 1, 0, cs->stream>>>(cs->clock, clk->t0, clk->dt, (long long)clk->k);
  PL_TRY(cuda_status(cudaGetLastError(), "launch of the graph clock"));
  for (int64_t j = 0; j < count; ++j) {
    if (st.n > 0 && s->p2g_mode == MPM_P2G_TILED) PL_TRY(cuda_sort_if_due(s, st));
    PL_TRY(graph_ready(s, st));
    PL_TRY(cuda_status(cudaGraphLaunch(cs->exec, cs->stream), "cudaGraphLaunch (a substep)"));
    cs->replays++;
  }
  return PL_OK;
}

// ------------------------------------------------------------------ the table

extern "C" const mpm_backend_ops mpm_cuda_ops = {
    "cuda",       cuda_scratch_create, cuda_scratch_release, cuda_p2g,          cuda_grid_update,
    cuda_g2p,     cuda_max_speed,      mpm_cuda_adj_g2p,     mpm_cuda_adj_grid, mpm_cuda_adj_p2g,
    mpm_cuda_axpy, mpm_cuda_adj_first_nonfinite, cuda_defer_reset, cuda_defer_read, cuda_substeps,
};

extern "C" void *mpm_cuda_stream(const mpm_sim *s) { return (void *)s->cuda->stream; }
extern "C" unsigned long long *mpm_cuda_scratch_word(const mpm_sim *s) { return s->cuda->err; }
extern "C" void mpm_cuda_graph_counts(const mpm_sim *s, long long *captures, long long *replays) {
  *captures = s->cuda ? s->cuda->captures : 0;
  *replays = s->cuda ? s->cuda->replays : 0;
}

// The particle order of the tiled path for the adjoint's kernels (mpm_adjoint_cuda.cu), or NULL.
extern "C" const uint32_t *mpm_cuda_order(const mpm_sim *s) { return current_order(s); }
