// composite_cuda.cu: the CUDA loops of the background-plate composite; all math in composite.h.
#include <cuda_runtime.h>

#include "pipeline/engine/composite.h"

namespace {

__global__ void composite_kernel(int64_t npix, real *rgb, const real *alpha, const real *plate, real b0, real b1,
                                 real b2) {
  int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (p < npix) pl_composite_plate_px(rgb + 3 * p, alpha[p], plate + 3 * p, b0, b1, b2);
}

__global__ void composite_vjp_kernel(int64_t npix, const real *v_rgb, const real *plate, real b0, real b1, real b2,
                                     real *v_alpha) {
  int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (p < npix) pl_composite_plate_px_vjp(v_rgb + 3 * p, plate + 3 * p, b0, b1, b2, &v_alpha[p]);
}

pl_status check(const char *what) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return pl_fail(PL_ERR_CUDA, "%s: %s", what, cudaGetErrorString(e));
  return PL_OK;
}

}  // namespace

static pl_status composite_cuda(int64_t npix, real *rgb, const real *alpha, const real *plate,
                                             const double bg[3]) {
  if (npix <= 0) return PL_OK;
  unsigned blocks = (unsigned)((npix + 255) / 256);
  composite_kernel<<<blocks, 256>>>(npix, rgb, alpha, plate, (real)bg[0], (real)bg[1], (real)bg[2]);
  return check("background plate composite");
}

static pl_status composite_vjp_cuda(int64_t npix, const real *v_rgb, const real *plate, const double bg[3],
                                                 real *v_alpha) {
  if (npix <= 0) return PL_OK;
  unsigned blocks = (unsigned)((npix + 255) / 256);
  composite_vjp_kernel<<<blocks, 256>>>(npix, v_rgb, plate, (real)bg[0], (real)bg[1], (real)bg[2], v_alpha);
  return check("background plate composite adjoint");
}

extern "C" const pl_composite_backend_ops pl_composite_cuda_ops = {"cuda", composite_cuda, composite_vjp_cuda};
