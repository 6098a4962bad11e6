// backend_cuda.cu: the CUDA side of core/backend.h (device query, memory).
#include <cuda_runtime.h>
#include <stdio.h>

#include "core/backend.h"

static pl_status cuda_check(cudaError_t e, const char *what) {
  if (e == cudaSuccess) return PL_OK;
  if (e == cudaErrorMemoryAllocation) return pl_fail(PL_ERR_NOMEM, "%s: out of GPU memory", what);
  return pl_fail(PL_ERR_CUDA, "%s: %s", what, cudaGetErrorString(e));
}

extern "C" int pl_cuda_device_count(char *desc, size_t desc_size) {
  int n = 0;
  if (desc && desc_size) desc[0] = '\0';
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  if (desc && desc_size) {
    size_t used = 0;
    for (int i = 0; i < n && used < desc_size; ++i) {
      cudaDeviceProp p;
      if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
      int w = snprintf(desc + used, desc_size - used, "%s%d: %s, sm_%d%d, %.1f GiB", i ? "\n" : "", i, p.name,
                       p.major, p.minor, (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
      if (w < 0) break;
      used += (size_t)w;
    }
  }
  return n;
}

extern "C" pl_status pl_cuda_malloc(void **ptr, size_t bytes) {
  return cuda_check(cudaMalloc(ptr, bytes), "cudaMalloc");
}
extern "C" void pl_cuda_free(void *ptr) { cudaFree(ptr); }
extern "C" pl_status pl_cuda_memcpy_h2d(void *dst, const void *src, size_t bytes) {
  return cuda_check(cudaMemcpy(dst, src, bytes, cudaMemcpyHostToDevice), "cudaMemcpy host->device");
}
extern "C" pl_status pl_cuda_memcpy_d2h(void *dst, const void *src, size_t bytes) {
  return cuda_check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost), "cudaMemcpy device->host");
}
extern "C" pl_status pl_cuda_memcpy_d2d(void *dst, const void *src, size_t bytes) {
  return cuda_check(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice), "cudaMemcpy device->device");
}
extern "C" pl_status pl_cuda_memset0(void *ptr, size_t bytes) {
  return cuda_check(cudaMemset(ptr, 0, bytes), "cudaMemset");
}
extern "C" size_t pl_cuda_mem_used(void) {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return total_b - free_b;
}
extern "C" pl_status pl_cuda_sync(const char *what) {
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  return cuda_check(e, what);
}
