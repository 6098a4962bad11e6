/* loss_cpu.c: the CPU loops of the image losses (all math in loss_kernels.h). Reductions are per-row partial
 * sums added in row order, so the result does not depend on the thread count. */
#include <string.h>

#include "pipeline/engine/loss.h"
#include "pipeline/engine/loss_kernels.h"

/* Separable Gaussian filter of one plane (src may be a strided channel: src[(i*W + j)*stride + off]),
 * zero padding, into dst (H*W). */
static void blur_plane(const real *src, int stride, int off, const real *src2, int stride2, int off2, int w, int h,
                       real *tmp, real *dst) {
  real tap[2 * PL_SSIM_RADIUS + 1];
  pl_ssim_taps(tap);
  /* horizontal: tmp = G_x * (src * src2) */
#pragma omp parallel for schedule(static)
  for (int i = 0; i < h; ++i)
    for (int j = 0; j < w; ++j)
      tmp[(size_t)i * w + j] = pl_ssim_blur_h_px(tap, src, stride, off, src2, stride2, off2, w, i, j);
  /* vertical */
#pragma omp parallel for schedule(static)
  for (int i = 0; i < h; ++i)
    for (int j = 0; j < w; ++j) dst[(size_t)i * w + j] = pl_ssim_blur_v_px(tap, tmp, w, h, i, j);
}

static pl_status pl_loss_eval_cpu(const pl_loss_scratch *s, const double weights[PL_LOSS_COUNT], int w, int h,
                                  const real *rgb, const real *alpha, const real *trgb, const real *talpha,
                                  double scale, real *v_rgb, real *v_alpha, pl_loss_value *out) {
  const size_t npix = (size_t)w * (size_t)h;
  const double inv_c = 1.0 / (3.0 * (double)npix), inv_p = 1.0 / (double)npix;
  memset(out, 0, sizeof *out);
  double *part = s->partial;

  /* L1 and L2 on colour, mask on alpha: one pass, per-row partial sums */
  const int want_l1 = weights[PL_LOSS_L1] != 0, want_l2 = weights[PL_LOSS_L2] != 0,
            want_mask = weights[PL_LOSS_MASK] != 0;
  if (want_l1 || want_l2 || want_mask) {
    const real g_l1 = (real)(scale * weights[PL_LOSS_L1] * inv_c), g_l2 = (real)(scale * weights[PL_LOSS_L2] * inv_c),
               g_mask = (real)(scale * weights[PL_LOSS_MASK] * inv_p);
#pragma omp parallel for schedule(static)
    for (int i = 0; i < h; ++i) {
      double s1 = 0, s2 = 0, sm = 0;
      for (int j = 0; j < w; ++j) {
        pl_loss_pointwise_px((size_t)i * w + j, want_l1, want_l2, want_mask, rgb, alpha, trgb, talpha, g_l1, g_l2,
                             g_mask, v_rgb, v_alpha, &s1, &s2, &sm);
      }
      part[3 * i] = s1;
      part[3 * i + 1] = s2;
      part[3 * i + 2] = sm;
    }
    for (int i = 0; i < h; ++i) {
      out->term[PL_LOSS_L1] += part[3 * i];
      out->term[PL_LOSS_L2] += part[3 * i + 1];
      out->term[PL_LOSS_MASK] += part[3 * i + 2];
    }
    out->term[PL_LOSS_L1] *= inv_c;
    out->term[PL_LOSS_L2] *= inv_c;
    out->term[PL_LOSS_MASK] *= inv_p;
  }

  /* D-SSIM, channel by channel */
  if (weights[PL_LOSS_DSSIM] != 0) {
    real *mx = s->blur[0], *my = s->blur[1], *sxx = s->blur[2], *syy = s->blur[3], *sxy = s->blur[4];
    const real g = (real)(-0.5 * scale * weights[PL_LOSS_DSSIM] * inv_c); /* d(1-S)/2 / dS = -1/2 */
    double ssim_sum = 0;
    for (int c = 0; c < 3; ++c) {
      blur_plane(rgb, 3, c, NULL, 0, 0, w, h, s->tmp, mx);
      blur_plane(trgb, 3, c, NULL, 0, 0, w, h, s->tmp, my);
      blur_plane(rgb, 3, c, rgb, 3, c, w, h, s->tmp, sxx);
      blur_plane(trgb, 3, c, trgb, 3, c, w, h, s->tmp, syy);
      blur_plane(rgb, 3, c, trgb, 3, c, w, h, s->tmp, sxy);
#pragma omp parallel for schedule(static)
      for (int i = 0; i < h; ++i) {
        double acc = 0;
        for (int j = 0; j < w; ++j) {
          size_t p = (size_t)i * w + j;
          acc += pl_ssim_pixel(mx[p], my[p], sxx[p], syy[p], sxy[p]);
        }
        part[i] = acc;
      }
      for (int i = 0; i < h; ++i) ssim_sum += part[i];
      if (v_rgb) {
        /* per-pixel cotangents of the statistics, written over my/syy (no longer needed) and a third plane */
#pragma omp parallel for schedule(static)
        for (size_t p = 0; p < npix; ++p) {
          real vm = 0, vxx = 0, vxy = 0;
          pl_ssim_pixel_vjp(mx[p], my[p], sxx[p], syy[p], sxy[p], g, &vm, &vxx, &vxy);
          mx[p] = vm;
          sxx[p] = vxx;
          sxy[p] = vxy;
        }
        /* filter the cotangents back (G is symmetric and zero padded: its own adjoint) */
        blur_plane(mx, 1, 0, NULL, 0, 0, w, h, s->tmp, my);
        blur_plane(sxx, 1, 0, NULL, 0, 0, w, h, s->tmp, syy);
        blur_plane(sxy, 1, 0, NULL, 0, 0, w, h, s->tmp, mx);
#pragma omp parallel for schedule(static)
        for (size_t p = 0; p < npix; ++p)
          v_rgb[3 * p + c] += pl_ssim_image_vjp(rgb[3 * p + c], trgb[3 * p + c], my[p], syy[p], mx[p]);
      }
    }
    out->term[PL_LOSS_DSSIM] = 0.5 * (1.0 - ssim_sum * inv_c);
  }
  for (int k = 0; k < PL_LOSS_COUNT; ++k) out->total += weights[k] * out->term[k];
  return PL_OK;
}

const pl_loss_backend_ops pl_loss_cpu_ops = {"cpu", pl_loss_eval_cpu};
