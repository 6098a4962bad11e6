// mpm_adjoint_cuda.cu: the CUDA loops of the backward substep. One thread per particle (G2P and P2G adjoints)
// or per grid node (grid adjoint); every formula is a _vjp of mpm_kernels.h / materials.h, the functions the CPU
// backend calls.
//
// The G2P adjoint scatters the node-velocity cotangents with float atomicAdd (as the forward P2G scatters), so
// results match the CPU reference to rounding, not bitwise. The gravity and friction cotangents are reduced per
// warp (__shfl_down_sync) and added to device doubles. The P2G adjoint is a gather and recomputes the affine
// matrix A_p (the CUDA P2G does not keep it).
//
// With the tiled P2G (mpm_desc.p2g = tiled, mpm_cuda.cu) the particle kernels visit the particles in the forward's
// grid-block order, and the G2P adjoint sums its node cotangents per block in a shared-memory tile before the
// global atomics, as the forward P2G does (Gao et al. 2018, sec. 4; mpm_tile.h).
//
// Every launch, memset and copy runs on the simulation's stream (mpm_cuda_stream, mpm_cuda.cu).
#include <cuda_runtime.h>
#include <stdlib.h>

#include "mpm/mpm_internal.h"

static_assert(sizeof(real) == 4, "the CUDA backend is built with real = float");

static pl_status cuda_status(cudaError_t e, const char *what) {
  if (e == cudaSuccess) return PL_OK;
  return pl_fail(PL_ERR_CUDA, "CUDA %s failed: %s", what, cudaGetErrorString(e));
}

static unsigned int blocks_for(int64_t n, unsigned int threads) { return (unsigned int)((n + threads - 1) / threads); }

static cudaStream_t stream_of(const mpm_sim *s) { return (cudaStream_t)mpm_cuda_stream(s); }

// ------------------------------------------------------------------ G2P adjoint

// One particle's G2P adjoint: its node-velocity cotangents vgv[27] (the caller scatters them) and its own
// cotangents stored. 0 when the particle is outside the domain (nothing to do).
__device__ static int adj_g2p_particle(const mpm_kgrid &g, const mpm_kstate &in, const mpm_kstate &adj,
                                       const mpm_kparticles &P, const real *grid, double *v_par, real dt, int64_t p,
                                       mpm_stencil *sp, v3 vgv[27]) {
  v3 x = v3_load(in.x + 3 * p);
  if (!mpm_in_domain(&g, x)) return 0; // the forward pass checked every state; never read outside the grid
  mpm_stencil s = mpm_stencil_of(&g, x);
  *sp = s;
  v3 gv[27];
  mpm_gather_gv(&g, grid, &s, gv);
  for (int k = 0; k < 27; ++k) vgv[k] = v3_zero();
  int model;
  mpm_mparams mp = mpm_particle_params(&P, p, &model);
  mpm_mparams vmp = mpm_mparams_zero();
  v3 vx = v3_zero();
  m3 vF = m3_zero();
  real vq = 0;
  mpm_g2p_particle_vjp(&g, model, mp, dt, x, m3_load(in.F + 9 * p), in.q[p], gv, v3_load(adj.x + 3 * p),
                       v3_load(adj.v + 3 * p), m3_load(adj.C + 9 * p), m3_load(adj.F + 9 * p), adj.q[p], &vx, &vF, &vq,
                       vgv, &vmp);
  mpm_adj_g2p_store(adj, v_par, p, vx, vF, vq, vmp);
  return 1;
}

__global__ void mpm_k_adj_g2p(mpm_kgrid g, mpm_kstate in, mpm_kstate adj, mpm_kparticles P, const real *grid,
                              real *v_gridv, double *v_par, real dt) {
  const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= in.n) return;
  mpm_stencil s;
  v3 vgv[27];
  if (!adj_g2p_particle(g, in, adj, P, grid, v_par, dt, p, &s, vgv)) return;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 3; ++c) {
        real *node = v_gridv + 3 * mpm_node_index(&g, s.base[0] + a, s.base[1] + b, s.base[2] + c);
        v3 d = vgv[9 * a + 3 * b + c];
        atomicAdd(node + 0, d.x);
        atomicAdd(node + 1, d.y);
        atomicAdd(node + 2, d.z);
      }
}

// The tiled twin (particles in block order, mpm_cuda.cu's mpm_k_p2g_tiled with 3 components per node).
__global__ void __launch_bounds__(MPM_TILE_CHUNK)
    mpm_k_adj_g2p_tiled(mpm_kgrid g, mpm_ktiles tl, mpm_kstate in, mpm_kstate adj, mpm_kparticles P,
                        const uint32_t *order, const real *grid, real *v_gridv, double *v_par, real dt) {
  __shared__ real tile[MPM_TILES_PER_CHUNK][3 * MPM_TILE_SLOTS];
  __shared__ uint32_t end_key[2];
  for (int q = threadIdx.x; q < MPM_TILES_PER_CHUNK * 3 * MPM_TILE_SLOTS; q += blockDim.x) (&tile[0][0])[q] = 0;
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  mpm_stencil s;
  v3 vgv[27];
  int active = i < in.n && adj_g2p_particle(g, in, adj, P, grid, v_par, dt, (int64_t)order[i], &s, vgv);
  uint32_t key = active ? mpm_tile_key(&tl, s.base) : mpm_tile_key_none(&tl);
  const int64_t end = ((int64_t)blockIdx.x + 1) * blockDim.x < in.n ? ((int64_t)blockIdx.x + 1) * blockDim.x : in.n;
  if (threadIdx.x == 0) end_key[0] = key;
  if (i == end - 1) end_key[1] = key;
  __syncthreads(); // the tiles are zeroed and the end keys known
  uint32_t tile_key[2];
  mpm_tile_pick(end_key[0], end_key[1], mpm_tile_key_none(&tl), tile_key);
  int origin[2][3];
  mpm_tile_origin(&tl, tile_key[0], origin[0]);
  mpm_tile_origin(&tl, tile_key[1], origin[1]);
  if (active) {
    const int t = mpm_tile_which(key, tile_key);
    const int org[3] = {origin[t > 0][0], origin[t > 0][1], origin[t > 0][2]}; // registers, not a local array
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b)
        for (int c = 0; c < 3; ++c) {
          const int ni = s.base[0] + a, nj = s.base[1] + b, nk = s.base[2] + c;
          v3 d = vgv[9 * a + 3 * b + c];
          if (t >= 0) { // shared-memory atomics in a tile (address space known at compile time), global outside
            real *sn = tile[t] + 3 * mpm_tile_slot(org, ni, nj, nk);
            atomicAdd(sn + 0, d.x);
            atomicAdd(sn + 1, d.y);
            atomicAdd(sn + 2, d.z);
          } else {
            real *node = v_gridv + 3 * mpm_node_index(&g, ni, nj, nk);
            atomicAdd(node + 0, d.x);
            atomicAdd(node + 1, d.y);
            atomicAdd(node + 2, d.z);
          }
        }
  }
  __syncthreads(); // the tiles' sums are complete
  mpm_tile_flush<3>(g, tl, tile, tile_key, origin, v_gridv);
}

extern "C" pl_status mpm_cuda_adj_g2p(mpm_sim *s, const mpm_adj_args *a) {
  cudaStream_t stream = stream_of(s);
  PL_TRY(cuda_status(cudaMemsetAsync(a->v_gridv, 0, mpm_node_count(&s->grid) * 3 * sizeof(real), stream),
                     "cudaMemsetAsync (v_gridv)"));
  const unsigned int T = 128;
  const uint32_t *order = mpm_cuda_order(s);
  if (a->in.n > 0 && order)
    mpm_k_adj_g2p_tiled<<<blocks_for(a->in.n, MPM_TILE_CHUNK), MPM_TILE_CHUNK, 0, stream>>>(
        s->grid, mpm_tiles_of(&s->grid), a->in, a->adj, a->P, order, a->grid, a->v_gridv, a->v_par, a->dt);
  else if (a->in.n > 0)
    mpm_k_adj_g2p<<<blocks_for(a->in.n, T), T, 0, stream>>>(s->grid, a->in, a->adj, a->P, a->grid, a->v_gridv,
                                                            a->v_par, a->dt);
  return cuda_status(cudaGetLastError(), "launch of the G2P adjoint kernel");
}

// ------------------------------------------------------------------ grid adjoint

__global__ void mpm_k_adj_grid(mpm_kgrid g, const mpm_kcollider *cols, int ncol, const real *grid_pre,
                               const real *v_gridv, real *v_grid, double *glob, real dt, real t) {
  const int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  const int64_t ny = g.n[1] + 1, nz = g.n[2] + 1;
  const int64_t nodes = (int64_t)mpm_node_count(&g);
  const int nglob = 3 + MPM_FRICTION_SLOTS(ncol);
  real acc[MPM_ADJ_NGLOB];
  for (int q = 0; q < nglob; ++q) acc[q] = 0;
  if (idx < nodes) {
    const real *node = grid_pre + 4 * idx;
    real *out = v_grid + 4 * idx;
    real m = node[0];
    if (m > 0) {
      int k = (int)(idx % nz), j = (int)((idx / nz) % ny), i = (int)(idx / (ny * nz));
      const real *vv = v_gridv + 3 * idx;
      real vm = 0;
      v3 vmom = v3_zero(), vg = v3_zero();
      mpm_grid_node_vjp(&g, cols, ncol, i, j, k, t, dt, m, v3_make(node[1], node[2], node[3]),
                        v3_make(vv[0], vv[1], vv[2]), &vm, &vmom, &vg, acc + 3);
      out[0] = vm;
      out[1] = vmom.x;
      out[2] = vmom.y;
      out[3] = vmom.z;
      acc[0] = vg.x;
      acc[1] = vg.y;
      acc[2] = vg.z;
    } else {
      out[0] = out[1] = out[2] = out[3] = 0;
    }
  }
  // every thread of the block reaches here (no early return): warp sums, lane 0 adds
  const unsigned lane = threadIdx.x & 31u;
  for (int q = 0; q < nglob; ++q) {
    real v = acc[q];
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    if (lane == 0 && v != 0) atomicAdd(glob + q, (double)v);
  }
}

extern "C" pl_status mpm_cuda_adj_grid(mpm_sim *s, const mpm_adj_args *a) {
  const unsigned int T = 256; // a multiple of 32: whole warps
  int64_t nodes = (int64_t)mpm_node_count(&s->grid);
  mpm_k_adj_grid<<<blocks_for(nodes, T), T, 0, stream_of(s)>>>(s->grid, a->P.colliders, s->ncolliders, a->grid_pre,
                                                                 a->v_gridv, a->grid, a->glob_dev, a->dt, a->t);
  return cuda_status(cudaGetLastError(), "launch of the grid adjoint kernel");
}

// ------------------------------------------------------------------ P2G adjoint

__global__ void mpm_k_adj_p2g(mpm_kgrid g, mpm_kstate in, mpm_kstate adj, mpm_kparticles P, const uint32_t *order,
                              const real *v_grid, double *v_par, real dt) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= in.n) return;
  const int64_t p = order ? (int64_t)order[i] : i; // the tiled path's block order: coherent grid reads
  v3 x = v3_load(in.x + 3 * p);
  if (!mpm_in_domain(&g, x)) return;
  mpm_stencil s = mpm_stencil_of(&g, x);
  real vout[27][4];
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 3; ++c) {
        const real *node = v_grid + 4 * mpm_node_index(&g, s.base[0] + a, s.base[1] + b, s.base[2] + c);
        for (int q = 0; q < 4; ++q) vout[9 * a + 3 * b + c][q] = node[q];
      }
  int model;
  mpm_mparams mp = mpm_particle_params(&P, p, &model);
  mpm_mparams vmp = mpm_mparams_zero();
  real vmass = 0;
  v3 vx = v3_zero(), vv = v3_zero();
  m3 vC = m3_zero(), vF = m3_zero();
  mpm_p2g_particle_vjp(&g, model, mp, P.mass[p], P.vol0[p], dt, x, v3_load(in.v + 3 * p), m3_load(in.C + 9 * p),
                       m3_load(in.F + 9 * p), (const real(*)[4])vout, &vx, &vv, &vC, &vF, &vmass, &vmp);
  mpm_adj_p2g_store(adj, v_par, p, vx, vv, vC, vF, vmp, vmass);
}

extern "C" pl_status mpm_cuda_adj_p2g(mpm_sim *s, const mpm_adj_args *a) {
  const unsigned int T = 128;
  if (a->in.n > 0)
    mpm_k_adj_p2g<<<blocks_for(a->in.n, T), T, 0, stream_of(s)>>>(s->grid, a->in, a->adj, a->P, mpm_cuda_order(s),
                                                                   a->grid, a->v_par, a->dt);
  return cuda_status(cudaGetLastError(), "launch of the P2G adjoint kernel");
}

// ------------------------------------------------------------------ helpers

__global__ void mpm_k_axpy(real *dst, const real *src, int64_t count) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < count) dst[i] += src[i];
}

extern "C" pl_status mpm_cuda_axpy(mpm_sim *s, real *dst, const real *src, int64_t count) {
  const unsigned int T = 256;
  if (count > 0) mpm_k_axpy<<<blocks_for(count, T), T, 0, stream_of(s)>>>(dst, src, count);
  return cuda_status(cudaGetLastError(), "launch of the accumulate kernel");
}

__global__ void mpm_k_adj_nonfinite(mpm_kstate adj, unsigned long long *first) {
  const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= adj.n) return;
  if (mpm_adj_nonfinite(adj, p)) atomicMin(first, (unsigned long long)p);
}

// The smallest non-finite particle, through the simulation's scratch word (no allocation per call).
extern "C" pl_status mpm_cuda_adj_first_nonfinite(mpm_sim *s, mpm_kstate adj, int64_t *first) {
  *first = -1;
  cudaStream_t stream = stream_of(s);
  unsigned long long *d = mpm_cuda_scratch_word(s), h = ~0ull;
  PL_TRY(cuda_status(cudaMemsetAsync(d, 0xff, sizeof h, stream), "cudaMemsetAsync (finite check)"));
  const unsigned int T = 256;
  if (adj.n > 0) mpm_k_adj_nonfinite<<<blocks_for(adj.n, T), T, 0, stream>>>(adj, d);
  PL_TRY(cuda_status(cudaGetLastError(), "launch of the finite check"));
  PL_TRY(cuda_status(cudaMemcpyAsync(&h, d, sizeof h, cudaMemcpyDeviceToHost, stream), "cudaMemcpyAsync (finite check)"));
  PL_TRY(cuda_status(cudaStreamSynchronize(stream), "cudaStreamSynchronize (finite check)"));
  if (h != ~0ull) *first = (int64_t)h;
  return PL_OK;
}
