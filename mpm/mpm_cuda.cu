// mpm_cuda.cu: the CUDA backend. One thread per particle (P2G, G2P) or per grid node (grid update); every
// formula comes from mpm_kernels.h / materials.h, the same functions the CPU backend calls.
//
// P2G scatters with float atomicAdd: the sum order on a node varies from run to run, so CUDA results match
// the CPU reference to rounding (the parity tests compare with a normalised tolerance), not bitwise.
// Errors: each kernel lowers a device-side error key with atomicMin (the smallest particle index wins, as on
// the CPU); the host reads that one scalar after the stage.
#include <cuda_runtime.h>
#include <stdlib.h>
#include <string.h>

#include "mpm/mpm_internal.h"

static_assert(sizeof(real) == 4, "the CUDA backend is built with real = float");

struct mpm_cuda_scratch {
  unsigned long long *err;  // device: error key
  unsigned int *vmax_bits;  // device: max |v| as float bits (non-negative floats order like their bits)
};

static pl_status cuda_status(cudaError_t e, const char *what) {
  if (e == cudaSuccess) return PL_OK;
  return pl_fail(PL_ERR_CUDA, "CUDA %s failed: %s", what, cudaGetErrorString(e));
}

static unsigned int blocks_for(int64_t n, unsigned int threads) {
  return (unsigned int)((n + threads - 1) / threads);
}

static void cuda_scratch_free(mpm_cuda_scratch *cs);

static pl_status cuda_scratch_create(mpm_sim *s) {
  mpm_cuda_scratch **out = &s->cuda;
  *out = NULL;
  mpm_cuda_scratch *cs = (mpm_cuda_scratch *)calloc(1, sizeof *cs);
  if (!cs) return pl_fail(PL_ERR_NOMEM, "out of memory");
  pl_status st = cuda_status(cudaMalloc((void **)&cs->err, sizeof(unsigned long long)), "cudaMalloc (error key)");
  if (st == PL_OK) st = cuda_status(cudaMalloc((void **)&cs->vmax_bits, sizeof(unsigned int)), "cudaMalloc (max speed)");
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
  if (cs->vmax_bits) cudaFree(cs->vmax_bits);
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

// ------------------------------------------------------------------ P2G

__global__ void mpm_k_p2g(mpm_kgrid g, mpm_kstate st, mpm_kparticles P, real *grid, real dt, unsigned long long *err) {
  const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= st.n) return;
  v3 x = v3_load(st.x + 3 * p);
  if (!mpm_in_domain(&g, x)) {
    atomicMin(err, (unsigned long long)mpm_error_key(p, v3_isfinite(x) ? MPM_PERR_DOMAIN : MPM_PERR_NAN));
    return;
  }
  int model;
  mpm_mparams mp = mpm_particle_params(&P, p, &model);
  real mass = P.mass[p];
  m3 A = mpm_p2g_affine(model, mp, mass, P.vol0[p], dt, g.inv_dx, m3_load(st.C + 9 * p), m3_load(st.F + 9 * p));
  if (!m3_isfinite(A)) {
    atomicMin(err, (unsigned long long)mpm_error_key(p, MPM_PERR_STRESS));
    return;
  }
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

static pl_status cuda_p2g(mpm_sim *s, mpm_kstate st, real dt, uint64_t *err) {
  mpm_cuda_scratch *cs = s->cuda;
  const mpm_kparticles P = mpm_sim_kparticles(s);
  real *grid = (real *)s->gridbuf.ptr;
  PL_TRY(cuda_status(cudaMemset(grid, 0, s->gridbuf.bytes), "cudaMemset (grid)"));
  PL_TRY(reset_error(cs));
  const unsigned int T = 128;
  if (st.n > 0) mpm_k_p2g<<<blocks_for(st.n, T), T>>>(s->grid, st, P, grid, dt, cs->err);
  PL_TRY(cuda_status(cudaGetLastError(), "launch of the P2G kernel"));
  return read_error(cs, err);
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

__global__ void mpm_k_g2p(mpm_kgrid g, mpm_kstate in, mpm_kstate out, mpm_kparticles P, const real *grid, real dt,
                          unsigned long long *err) {
  const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= in.n) return;
  v3 x = v3_load(in.x + 3 * p);
  if (!mpm_in_domain(&g, x)) {
    atomicMin(err, (unsigned long long)mpm_error_key(p, v3_isfinite(x) ? MPM_PERR_DOMAIN : MPM_PERR_NAN));
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
  if (code) atomicMin(err, (unsigned long long)mpm_error_key(p, code));
  v3_store(xo, out.x + 3 * p);
  v3_store(vo, out.v + 3 * p);
  m3_store(Co, out.C + 9 * p);
  m3_store(Fo, out.F + 9 * p);
  out.q[p] = qo;
}

static pl_status cuda_g2p(mpm_sim *s, mpm_kstate in, mpm_kstate out, real dt, uint64_t *err) {
  mpm_cuda_scratch *cs = s->cuda;
  const mpm_kparticles P = mpm_sim_kparticles(s);
  PL_TRY(reset_error(cs));
  const unsigned int T = 128;
  if (in.n > 0) mpm_k_g2p<<<blocks_for(in.n, T), T>>>(s->grid, in, out, P, (const real *)s->gridbuf.ptr, dt, cs->err);
  PL_TRY(cuda_status(cudaGetLastError(), "launch of the G2P kernel"));
  return read_error(cs, err);
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
    mpm_cuda_axpy, mpm_cuda_adj_first_nonfinite,
};
