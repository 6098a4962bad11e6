// loss_cuda.cu: the CUDA loops of the image losses; all math in loss_kernels.h.
#include <cuda_runtime.h>

#include "pipeline/engine/loss.h"
#include "pipeline/engine/loss_kernels.h"

namespace {

constexpr int kThreads = 256;

// Block sum of a double into out[blockIdx.x] (fixed tree order inside a block).
__device__ void block_sum(double v, double *out) {
  __shared__ double sh[kThreads];
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) sh[threadIdx.x] += sh[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = sh[0];
}

__global__ void pointwise_kernel(size_t npix, int want_l1, int want_l2, int want_mask, const real *rgb,
                                 const real *alpha, const real *trgb, const real *talpha, real g_l1, real g_l2,
                                 real g_mask, real *v_rgb, real *v_alpha, double *partial) {
  size_t p = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  double s1 = 0, s2 = 0, sm = 0;
  if (p < npix)
    pl_loss_pointwise_px(p, want_l1, want_l2, want_mask, rgb, alpha, trgb, talpha, g_l1, g_l2, g_mask, v_rgb, v_alpha,
                         &s1, &s2, &sm);
  block_sum(s1, &partial[3 * blockIdx.x]);
  block_sum(s2, &partial[3 * blockIdx.x + 1]);
  block_sum(sm, &partial[3 * blockIdx.x + 2]);
}

__global__ void blur_h_kernel(const real *src, int stride, int off, const real *src2, int stride2, int off2, int w,
                              int h, real *dst) {
  int j = blockIdx.x * blockDim.x + threadIdx.x, i = blockIdx.y;
  if (j >= w || i >= h) return;
  real tap[2 * PL_SSIM_RADIUS + 1];
  pl_ssim_taps(tap);
  dst[(size_t)i * w + j] = pl_ssim_blur_h_px(tap, src, stride, off, src2, stride2, off2, w, i, j);
}

__global__ void blur_v_kernel(const real *tmp, int w, int h, real *dst) {
  int j = blockIdx.x * blockDim.x + threadIdx.x, i = blockIdx.y;
  if (j >= w || i >= h) return;
  real tap[2 * PL_SSIM_RADIUS + 1];
  pl_ssim_taps(tap);
  dst[(size_t)i * w + j] = pl_ssim_blur_v_px(tap, tmp, w, h, i, j);
}

__global__ void ssim_kernel(size_t npix, const real *mx, const real *my, const real *sxx, const real *syy,
                            const real *sxy, double *partial) {
  size_t p = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  double v = p < npix ? (double)pl_ssim_pixel(mx[p], my[p], sxx[p], syy[p], sxy[p]) : 0.0;
  block_sum(v, &partial[blockIdx.x]);
}

__global__ void ssim_vjp_kernel(size_t npix, real g, real *mx, const real *my, real *sxx, const real *syy, real *sxy) {
  size_t p = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= npix) return;
  real vm = 0, vxx = 0, vxy = 0;
  pl_ssim_pixel_vjp(mx[p], my[p], sxx[p], syy[p], sxy[p], g, &vm, &vxx, &vxy);
  mx[p] = vm;
  sxx[p] = vxx;
  sxy[p] = vxy;
}

__global__ void ssim_scatter_kernel(size_t npix, int c, const real *rgb, const real *trgb, const real *gm,
                                    const real *gxx, const real *gxy, real *v_rgb) {
  size_t p = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= npix) return;
  v_rgb[3 * p + c] += pl_ssim_image_vjp(rgb[3 * p + c], trgb[3 * p + c], gm[p], gxx[p], gxy[p]);
}

void blur(const real *src, int stride, int off, const real *src2, int stride2, int off2, int w, int h, real *tmp,
          real *dst) {
  dim3 grid((w + kThreads - 1) / kThreads, h);
  blur_h_kernel<<<grid, kThreads>>>(src, stride, off, src2, stride2, off2, w, h, tmp);
  blur_v_kernel<<<grid, kThreads>>>(tmp, w, h, dst);
}

}  // namespace

static pl_status pl_loss_eval_cuda(const pl_loss_scratch *s, const double weights[PL_LOSS_COUNT], int w, int h,
                                       const real *rgb, const real *alpha, const real *trgb, const real *talpha,
                                       double scale, real *v_rgb, real *v_alpha, pl_loss_value *out) {
  const size_t npix = (size_t)w * (size_t)h;
  const double inv_c = 1.0 / (3.0 * (double)npix), inv_p = 1.0 / (double)npix;
  const int nblocks = (int)((npix + kThreads - 1) / kThreads);
  double host[3];
  *out = pl_loss_value{};
  const int want_l1 = weights[PL_LOSS_L1] != 0, want_l2 = weights[PL_LOSS_L2] != 0,
            want_mask = weights[PL_LOSS_MASK] != 0;
  double *hpart = (double *)malloc(sizeof(double) * 3 * (size_t)nblocks);
  if (!hpart) return pl_fail(PL_ERR_NOMEM, "out of host memory");
  pl_status st = PL_OK;
  if (want_l1 || want_l2 || want_mask) {
    pointwise_kernel<<<nblocks, kThreads>>>(npix, want_l1, want_l2, want_mask, rgb, alpha, trgb, talpha,
                                            (real)(scale * weights[PL_LOSS_L1] * inv_c),
                                            (real)(scale * weights[PL_LOSS_L2] * inv_c),
                                            (real)(scale * weights[PL_LOSS_MASK] * inv_p), v_rgb, v_alpha, s->partial);
    st = pl_cuda_memcpy_d2h(hpart, s->partial, sizeof(double) * 3 * (size_t)nblocks);
    if (st != PL_OK) goto done;
    host[0] = host[1] = host[2] = 0;
    for (int b = 0; b < nblocks; ++b)
      for (int k = 0; k < 3; ++k) host[k] += hpart[3 * b + k];
    out->term[PL_LOSS_L1] = host[0] * inv_c;
    out->term[PL_LOSS_L2] = host[1] * inv_c;
    out->term[PL_LOSS_MASK] = host[2] * inv_p;
  }
  if (weights[PL_LOSS_DSSIM] != 0) {
    real *mx = s->blur[0], *my = s->blur[1], *sxx = s->blur[2], *syy = s->blur[3], *sxy = s->blur[4];
    const real g = (real)(-0.5 * scale * weights[PL_LOSS_DSSIM] * inv_c);
    double ssim_sum = 0;
    for (int c = 0; c < 3; ++c) {
      blur(rgb, 3, c, nullptr, 0, 0, w, h, s->tmp, mx);
      blur(trgb, 3, c, nullptr, 0, 0, w, h, s->tmp, my);
      blur(rgb, 3, c, rgb, 3, c, w, h, s->tmp, sxx);
      blur(trgb, 3, c, trgb, 3, c, w, h, s->tmp, syy);
      blur(rgb, 3, c, trgb, 3, c, w, h, s->tmp, sxy);
      ssim_kernel<<<nblocks, kThreads>>>(npix, mx, my, sxx, syy, sxy, s->partial);
      st = pl_cuda_memcpy_d2h(hpart, s->partial, sizeof(double) * (size_t)nblocks);
      if (st != PL_OK) goto done;
      for (int b = 0; b < nblocks; ++b) ssim_sum += hpart[b];
      if (v_rgb) {
        ssim_vjp_kernel<<<nblocks, kThreads>>>(npix, g, mx, my, sxx, syy, sxy);
        blur(mx, 1, 0, nullptr, 0, 0, w, h, s->tmp, my);
        blur(sxx, 1, 0, nullptr, 0, 0, w, h, s->tmp, syy);
        blur(sxy, 1, 0, nullptr, 0, 0, w, h, s->tmp, mx);
        ssim_scatter_kernel<<<nblocks, kThreads>>>(npix, c, rgb, trgb, my, syy, mx, v_rgb);
      }
    }
    out->term[PL_LOSS_DSSIM] = 0.5 * (1.0 - ssim_sum * inv_c);
  }
  st = pl_cuda_sync("image loss");
done:
  free(hpart);
  for (int k = 0; k < PL_LOSS_COUNT; ++k) out->total += weights[k] * out->term[k];
  return st;
}

extern "C" const pl_loss_backend_ops pl_loss_cuda_ops = {"cuda", pl_loss_eval_cuda};
