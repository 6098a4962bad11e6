// upsample_cuda.cu: the CUDA backend. Kernels are one thread per element calling the same functions of
// upsample_kernels.h as the CPU backend; the runtime grid is a stable radix sort of (bucket, particle) pairs
// (CUB), so the neighbour order, and with it the summation order, is the CPU's. Backward is gathers only (no
// atomics); parameter partials are reduced per fixed chunk on the device and the chunk sums added in order on
// the host. Checks for non-finite values report the first bad particle or Gaussian through a 64-bit atomicMin.
#include <cuda_runtime.h>
#include <stdlib.h>

#include <cub/device/device_radix_sort.cuh>

#include "upsample/upsample_internal.h"

namespace {

const int kBlock = 256;

pl_status ck(cudaError_t e, const char *what) {
  if (e == cudaSuccess) return PL_OK;
  if (e == cudaErrorMemoryAllocation) return pl_fail(PL_ERR_NOMEM, "upsample (cuda): %s: out of GPU memory", what);
  return pl_fail(PL_ERR_CUDA, "upsample (cuda): %s: %s", what, cudaGetErrorString(e));
}

unsigned blocks(int64_t n) { return (unsigned)((n + kBlock - 1) / kBlock); }

int bits_for(uint32_t nbuckets) {
  int b = 0;
  while ((1u << b) < nbuckets && b < 32) ++b;
  return b;
}

// The first i in [0, n) with !Finite(a, i) lands in *flag (a 64-bit atomicMin; ~0 when none).
template <int (*Finite)(ups_args, int64_t)>
__global__ void k_check(ups_args a, int64_t n, unsigned long long *flag) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n && !Finite(a, i)) atomicMin(flag, (unsigned long long)i);
}

// One thread per element i in [0, n) calling a per-element function of upsample_kernels.h.
template <void (*Op)(ups_args, int64_t)>
__global__ void k_each(ups_args a, int64_t n) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) Op(a, i);
}

template <void (*Op)(ups_args, int64_t)>
void launch_each(ups_args a, int64_t n) {
  if (n > 0) k_each<Op><<<blocks(n), kBlock>>>(a, n);
}

__global__ void k_rt_cells(ups_args a, int64_t nrt, uint32_t *bucket, int *val, unsigned long long *flag) {
  int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= nrt) return;
  val[i] = (int)i;
  if (!ups_cell_ok(v3_load(a.rt_pos + 3 * i), a.grid.inv_cell)) {
    atomicMin(flag, (unsigned long long)i);
    bucket[i] = 0;
    return;
  }
  uint64_t key;
  ups_rt_cell_one(a, i, &key, &bucket[i]);
}

// start[b] = first sorted entry whose bucket is >= b (a lower bound), for b in [0, nbuckets]
__global__ void k_bucket_starts(const uint32_t *sorted_bucket, int n, uint32_t nbuckets, int *start) {
  int64_t b = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (b > (int64_t)nbuckets) return;
  int lo = 0, hi = n;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if ((int64_t)sorted_bucket[mid] < b) lo = mid + 1;
    else hi = mid;
  }
  start[b] = lo;
}

__global__ void k_sorted_keys(ups_args a, int64_t nrt, uint64_t *key) {
  int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= nrt) return;
  uint32_t b;
  ups_rt_cell_one(a, a.grid.sorted[e], &key[e], &b);
}

// One block per chunk of UPS_REDUCE_CHUNK rows: strided sums in double, then a fixed tree in shared memory.
__global__ void k_reduce_chunks(const real *partial, int64_t rows, double *out) {
  __shared__ double sh[3][kBlock];
  int64_t c = blockIdx.x;
  int64_t r0 = c * UPS_REDUCE_CHUNK, r1 = r0 + UPS_REDUCE_CHUNK < rows ? r0 + UPS_REDUCE_CHUNK : rows;
  double s[3] = {0, 0, 0};
  for (int64_t r = r0 + threadIdx.x; r < r1; r += kBlock)
    for (int k = 0; k < 3; ++k) s[k] += (double)partial[3 * r + k];
  for (int k = 0; k < 3; ++k) sh[k][threadIdx.x] = s[k];
  __syncthreads();
  for (int w = kBlock / 2; w > 0; w /= 2) {
    if ((int)threadIdx.x < w)
      for (int k = 0; k < 3; ++k) sh[k][threadIdx.x] += sh[k][threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0)
    for (int k = 0; k < 3; ++k) out[3 * c + k] = sh[k][0];
}

pl_status reset_flags(ups *u) { return ck(cudaMemset(u->cu_flag.ptr, 0xFF, 2 * sizeof(unsigned long long)), "cudaMemset"); }

pl_status read_flags(ups *u, unsigned long long f[2]) {
  return ck(cudaMemcpy(f, u->cu_flag.ptr, 2 * sizeof(unsigned long long), cudaMemcpyDeviceToHost), "reading the check flags");
}

// Checks of the inputs, then the runtime grid and density field.
pl_status prepare(ups *u, ups_args a) {
  unsigned long long *flag = (unsigned long long *)u->cu_flag.ptr;
  const int64_t n = u->n, nrt = u->nrt;
  PL_TRY(reset_flags(u));
  if (!u->skip_checks && n > 0) k_check<ups_particle_finite><<<blocks(n), kBlock>>>(a, n, flag);
  if (nrt > 0) {
    launch_each<ups_rt_gather_one>(a, nrt);
    k_rt_cells<<<blocks(nrt), kBlock>>>(a, nrt, (uint32_t *)u->cu_bucket_in.ptr, (int *)u->cu_val_in.ptr, flag + 1);
  }
  PL_TRY(ck(cudaGetLastError(), "launching the input checks"));
  unsigned long long f[2];
  PL_TRY(read_flags(u, f));
  if (f[0] != ~0ull) {
    real xh[3], fh[9];
    PL_TRY(ck(cudaMemcpy(xh, a.x + 3 * f[0], sizeof xh, cudaMemcpyDeviceToHost), "reading a particle"));
    PL_TRY(ck(cudaMemcpy(fh, a.f + 9 * f[0], sizeof fh, cudaMemcpyDeviceToHost), "reading a particle"));
    return ups_fail_particle(u, (int64_t)f[0], xh, fh);
  }
  if (nrt == 0) return PL_OK;
  if (f[1] != ~0ull) {
    real xh[3];
    int p;
    PL_TRY(ck(cudaMemcpy(xh, a.rt_pos + 3 * f[1], sizeof xh, cudaMemcpyDeviceToHost), "reading a particle"));
    PL_TRY(ck(cudaMemcpy(&p, a.rt_index + f[1], sizeof p, cudaMemcpyDeviceToHost), "reading a particle"));
    return ups_fail_cell(u, p, xh);
  }
  size_t temp = u->cu_sort_temp_bytes;
  PL_TRY(ck(cub::DeviceRadixSort::SortPairs(u->cu_sort_temp.ptr, temp, (const uint32_t *)u->cu_bucket_in.ptr,
                                            (uint32_t *)u->cu_bucket_out.ptr, (const int *)u->cu_val_in.ptr,
                                            (int *)a.grid.sorted, (int)nrt, 0, bits_for(u->nbuckets)),
            "sorting the runtime particles by cell"));
  k_bucket_starts<<<blocks((int64_t)u->nbuckets + 1), kBlock>>>((const uint32_t *)u->cu_bucket_out.ptr, (int)nrt,
                                                                  u->nbuckets, (int *)a.grid.start);
  k_sorted_keys<<<blocks(nrt), kBlock>>>(a, nrt, (uint64_t *)a.grid.key);
  launch_each<ups_rt_density_one>(a, nrt);
  return ck(cudaGetLastError(), "launching the density field");
}

pl_status cuda_setup(ups *u) {
  const size_t nrt = (size_t)(u->nrt > 0 ? u->nrt : 1);
  PL_TRY(pl_buffer_alloc(&u->cu_bucket_in, PL_BACKEND_CUDA, sizeof(uint32_t) * nrt));
  PL_TRY(pl_buffer_alloc(&u->cu_bucket_out, PL_BACKEND_CUDA, sizeof(uint32_t) * nrt));
  PL_TRY(pl_buffer_alloc(&u->cu_val_in, PL_BACKEND_CUDA, sizeof(int) * nrt));
  PL_TRY(pl_buffer_alloc(&u->cu_flag, PL_BACKEND_CUDA, 2 * sizeof(unsigned long long)));
  int64_t rows = u->nb + u->nrt, nchunks = (rows + UPS_REDUCE_CHUNK - 1) / UPS_REDUCE_CHUNK;
  PL_TRY(pl_buffer_alloc(&u->cu_chunks, PL_BACKEND_CUDA, sizeof(double) * 3 * (size_t)(nchunks > 0 ? nchunks : 1)));
  size_t temp = 0;
  if (u->nrt > 0)
    PL_TRY(ck(cub::DeviceRadixSort::SortPairs(nullptr, temp, (const uint32_t *)nullptr, (uint32_t *)nullptr,
                                              (const int *)nullptr, (int *)nullptr, u->nrt, 0, bits_for(u->nbuckets)),
              "sizing the radix sort"));
  u->cu_sort_temp_bytes = temp;
  PL_TRY(pl_buffer_alloc(&u->cu_sort_temp, PL_BACKEND_CUDA, temp > 0 ? temp : 16));
  return PL_OK;
}

pl_status cuda_forward(ups *u, ups_args a) {
  PL_TRY(prepare(u, a));
  const int64_t nb = u->nb, nrt = u->nrt, m = u->m;
  launch_each<ups_bound_forward_one>(a, nb);
  launch_each<ups_rt_forward_one>(a, nrt);
  if (a.sh_k > 0) launch_each<ups_sh_forward_one>(a, m);
  PL_TRY(ck(cudaGetLastError(), "launching the forward kernels"));
  if (!u->skip_checks) {
    PL_TRY(reset_flags(u));
    k_check<ups_gaussian_finite><<<blocks(m), kBlock>>>(a, m, (unsigned long long *)u->cu_flag.ptr);
    PL_TRY(ck(cudaGetLastError(), "launching the output check"));
    unsigned long long f[2];
    PL_TRY(read_flags(u, f));
    if (f[0] != ~0ull) return ups_fail_gaussian(u, (int64_t)f[0]);
    return PL_OK;
  }
  return ck(cudaDeviceSynchronize(), "forward");
}

pl_status cuda_backward(ups *u, ups_args a, double sums[3]) {
  PL_TRY(prepare(u, a));
  const int64_t nb = u->nb, nrt = u->nrt, n = u->n;
  if (a.vcol) launch_each<ups_sh_backward_one>(a, u->m); /* SH: the colours' cotangent first */
  if (nb > 0) {
    launch_each<ups_bound_backward_gauss_one>(a, nb);
    launch_each<ups_bound_backward_particle_one>(a, n);
  }
  launch_each<ups_rt_backward_particle_one>(a, nrt);
  launch_each<ups_rt_backward_pair_one>(a, nrt);
  int64_t rows = nb + nrt, nchunks = (rows + UPS_REDUCE_CHUNK - 1) / UPS_REDUCE_CHUNK;
  sums[0] = sums[1] = sums[2] = 0;
  if (nchunks > 0) k_reduce_chunks<<<(unsigned)nchunks, kBlock>>>(a.partial, rows, (double *)u->cu_chunks.ptr);
  PL_TRY(ck(cudaGetLastError(), "launching the backward kernels"));
  if (nchunks == 0) return ck(cudaDeviceSynchronize(), "backward");
  double *h = (double *)malloc(sizeof(double) * 3 * (size_t)nchunks);
  if (!h) return pl_fail(PL_ERR_NOMEM, "upsample (cuda): out of host memory");
  pl_status s = ck(cudaMemcpy(h, u->cu_chunks.ptr, sizeof(double) * 3 * (size_t)nchunks, cudaMemcpyDeviceToHost),
                   "backward (reading the parameter partials)");
  if (s == PL_OK)
    for (int64_t c = 0; c < nchunks; ++c)
      for (int k = 0; k < 3; ++k) sums[k] += h[3 * c + k];
  free(h);
  return s;
}

}  // namespace

extern "C" const ups_backend_ops ups_cuda_ops = {"cuda", cuda_setup, cuda_forward, cuda_backward};
