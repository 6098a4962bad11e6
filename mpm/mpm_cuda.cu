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
#include <cuda_runtime.h>
#include <stdlib.h>
#include <string.h>

#include <cub/device/device_radix_sort.cuh>

#include "mpm/mpm_internal.h"

static_assert(sizeof(real) == 4, "the CUDA backend is built with real = float");

struct mpm_cuda_scratch {
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
  PL_TRY(cuda_status(cub::DeviceRadixSort::SortPairs(NULL, cs->sort_tmp_bytes, k, v, (int)nn, 0, 32),
                     "CUB radix sort (scratch size)"));
  return cuda_status(cudaMalloc(&cs->sort_tmp, cs->sort_tmp_bytes ? cs->sort_tmp_bytes : 1), "cudaMalloc (sort scratch)");
}

static pl_status cuda_scratch_create(mpm_sim *s) {
  mpm_cuda_scratch **out = &s->cuda;
  *out = NULL;
  mpm_cuda_scratch *cs = (mpm_cuda_scratch *)calloc(1, sizeof *cs);
  if (!cs) return pl_fail(PL_ERR_NOMEM, "out of memory");
  pl_status st = cuda_status(cudaMalloc((void **)&cs->err, sizeof(unsigned long long)), "cudaMalloc (error key)");
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
  if (cs->err) cudaFree(cs->err);
  if (cs->defer) cudaFree(cs->defer);
  if (cs->vmax_bits) cudaFree(cs->vmax_bits);
  for (int b = 0; b < 2; ++b) {
    if (cs->keys[b]) cudaFree(cs->keys[b]);
    if (cs->order[b]) cudaFree(cs->order[b]);
  }
  if (cs->sort_tmp) cudaFree(cs->sort_tmp);
  free(cs);
}

static pl_status reset_error(mpm_cuda_scratch *cs) {
  unsigned long long none = MPM_NO_ERROR;
  return cuda_status(cudaMemcpy(cs->err, &none, sizeof none, cudaMemcpyHostToDevice), "cudaMemcpy (error key)");
}
static pl_status read_error(mpm_cuda_scratch *cs, uint64_t *err) {
  unsigned long long k = MPM_NO_ERROR;
  pl_status st = cuda_status(cudaMemcpy(&k, cs->err, sizeof k, cudaMemcpyDeviceToHost), "cudaMemcpy (error key)");
  *err = (uint64_t)k;
  return st;
}

// Where a stage's kernels report: per-stage checks reset the stage word and read it afterwards; deferred checks
// (err == NULL in the op) add the span tag and leave the span word alone (no host wait).
struct err_target {
  unsigned long long *word;
  unsigned long long tag;
};
static pl_status stage_errors_begin(mpm_sim *s, const uint64_t *err, err_target *t) {
  mpm_cuda_scratch *cs = s->cuda;
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
static_assert(MPM_NO_ERROR == ~0ull, "the span word is reset bytewise to 0xff");
static pl_status cuda_defer_reset(mpm_sim *s) {
  return cuda_status(cudaMemsetAsync(s->cuda->defer, 0xff, sizeof(unsigned long long)), "cudaMemsetAsync (span word)");
}
static pl_status cuda_defer_read(mpm_sim *s, uint64_t *word) {
  unsigned long long k = MPM_NO_ERROR;
  pl_status st = cuda_status(cudaMemcpy(&k, s->cuda->defer, sizeof k, cudaMemcpyDeviceToHost), "cudaMemcpy (span word)");
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
  *x = v3_load(st.x + 3 * p);
  if (!mpm_in_domain(&g, *x)) {
    atomicMin(et.word, et.tag | (unsigned long long)mpm_error_key(p, v3_isfinite(*x) ? MPM_PERR_DOMAIN : MPM_PERR_NAN));
    return 0;
  }
  int model;
  mpm_mparams mp = mpm_particle_params(&P, p, &model);
  *A = mpm_p2g_affine(model, mp, P.mass[p], P.vol0[p], dt, g.inv_dx, m3_load(st.C + 9 * p), m3_load(st.F + 9 * p));
  if (!m3_isfinite(*A)) {
    atomicMin(et.word, et.tag | (unsigned long long)mpm_error_key(p, MPM_PERR_STRESS));
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
  mpm_k_tile_keys<<<blocks_for(st.n, T), T>>>(s->grid, tl, st, cs->keys[0], cs->order[0]);
  PL_TRY(cuda_status(cudaGetLastError(), "launch of the tile-key kernel"));
  cub::DoubleBuffer<uint32_t> k(cs->keys[0], cs->keys[1]), v(cs->order[0], cs->order[1]);
  size_t bytes = cs->sort_tmp_bytes;
  PL_TRY(cuda_status(cub::DeviceRadixSort::SortPairs(cs->sort_tmp, bytes, k, v, (int)st.n, 0, mpm_tile_key_bits(&tl)),
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

static pl_status cuda_p2g(mpm_sim *s, mpm_kstate st, real dt, uint64_t *err) {
  const mpm_kparticles P = mpm_sim_kparticles(s);
  real *grid = (real *)s->gridbuf.ptr;
  PL_TRY(cuda_status(cudaMemset(grid, 0, s->gridbuf.bytes), "cudaMemset (grid)"));
  err_target et;
  PL_TRY(stage_errors_begin(s, err, &et));
  if (st.n > 0 && s->p2g_mode == MPM_P2G_TILED) {
    PL_TRY(cuda_sort_if_due(s, st));
    mpm_k_p2g_tiled<<<blocks_for(st.n, MPM_TILE_CHUNK), MPM_TILE_CHUNK>>>(s->grid, mpm_tiles_of(&s->grid), st, P,
                                                                          current_order(s), grid, dt, et);
  } else if (st.n > 0) {
    const unsigned int T = 128;
    mpm_k_p2g<<<blocks_for(st.n, T), T>>>(s->grid, st, P, grid, dt, et);
  }
  PL_TRY(cuda_status(cudaGetLastError(), "launch of the P2G kernel"));
  return stage_errors_end(s, err);
}

// ------------------------------------------------------------------ grid update

__global__ void mpm_k_grid(mpm_kgrid g, const mpm_kcollider *cols, int ncol, real *grid, real dt, real t) {
  const int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
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

static pl_status cuda_grid_update(mpm_sim *s, real dt, real t) {
  const unsigned int T = 256;
  int64_t nodes = (int64_t)mpm_node_count(&s->grid);
  mpm_k_grid<<<blocks_for(nodes, T), T>>>(s->grid, (const mpm_kcollider *)s->kcol_buf.ptr, s->ncolliders,
                                          (real *)s->gridbuf.ptr, dt, t);
  return cuda_status(cudaGetLastError(), "launch of the grid-update kernel");
}

// ------------------------------------------------------------------ G2P

__global__ void mpm_k_g2p(mpm_kgrid g, mpm_kstate in, mpm_kstate out, mpm_kparticles P, const uint32_t *order,
                          const real *grid, real dt, err_target et) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= in.n) return;
  const int64_t p = particle_of(order, i);
  v3 x = v3_load(in.x + 3 * p);
  if (!mpm_in_domain(&g, x)) {
    atomicMin(et.word, et.tag | (unsigned long long)mpm_error_key(p, v3_isfinite(x) ? MPM_PERR_DOMAIN : MPM_PERR_NAN));
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
  if (code) atomicMin(et.word, et.tag | (unsigned long long)mpm_error_key(p, code));
  v3_store(xo, out.x + 3 * p);
  v3_store(vo, out.v + 3 * p);
  m3_store(Co, out.C + 9 * p);
  m3_store(Fo, out.F + 9 * p);
  out.q[p] = qo;
}

static pl_status cuda_g2p(mpm_sim *s, mpm_kstate in, mpm_kstate out, real dt, uint64_t *err) {
  const mpm_kparticles P = mpm_sim_kparticles(s);
  err_target et;
  PL_TRY(stage_errors_begin(s, err, &et));
  const unsigned int T = 128;
  if (in.n > 0)
    mpm_k_g2p<<<blocks_for(in.n, T), T>>>(s->grid, in, out, P, current_order(s), (const real *)s->gridbuf.ptr, dt, et);
  PL_TRY(cuda_status(cudaGetLastError(), "launch of the G2P kernel"));
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
  PL_TRY(cuda_status(cudaMemset(cs->vmax_bits, 0, sizeof(unsigned int)), "cudaMemset (max speed)"));
  const unsigned int T = 256;
  if (st.n > 0) mpm_k_vmax<<<blocks_for(st.n, T), T>>>(st, cs->vmax_bits);
  PL_TRY(cuda_status(cudaGetLastError(), "launch of the max-speed kernel"));
  unsigned int b = 0;
  PL_TRY(cuda_status(cudaMemcpy(&b, cs->vmax_bits, sizeof b, cudaMemcpyDeviceToHost), "cudaMemcpy (max speed)"));
  float f;
  memcpy(&f, &b, sizeof f);
  *vmax = (double)f;
  return PL_OK;
}

// ------------------------------------------------------------------ the table

extern "C" const mpm_backend_ops mpm_cuda_ops = {
    "cuda",       cuda_scratch_create, cuda_scratch_release, cuda_p2g,          cuda_grid_update,
    cuda_g2p,     cuda_max_speed,      mpm_cuda_adj_g2p,     mpm_cuda_adj_grid, mpm_cuda_adj_p2g,
    mpm_cuda_axpy, mpm_cuda_adj_first_nonfinite, cuda_defer_reset, cuda_defer_read,
};

// The particle order of the tiled path for the adjoint's kernels (mpm_adjoint_cuda.cu), or NULL.
extern "C" const uint32_t *mpm_cuda_order(const mpm_sim *s) { return current_order(s); }
