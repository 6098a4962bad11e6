/* loss_kernels.h: per-pixel formulas of the image losses, each with its _vjp (accumulating).
 *
 *   L1    mean |r - t| over pixels and channels
 *   L2    mean (r - t)^2
 *   DSSIM (1 - SSIM) / 2, SSIM with an 11x11 Gaussian window (sigma 1.5), C1 = 0.01^2, C2 = 0.03^2, zero
 *         padding, averaged over pixels and channels (Wang et al. 2004; the form 3DGS trains with)
 *   mask  mean |alpha - alpha_target|
 *
 * The SSIM of a pixel is a function of five local statistics (Gaussian-filtered): mu_x, mu_y, and the raw
 * second moments sxx = G*(x^2), syy = G*(y^2), sxy = G*(xy). Its adjoint gives the cotangents of mu_x, sxx
 * and sxy (the target y is constant); the filtering is linear, so the image cotangent is
 * v_x = G*(g_mu) + 2 x G*(g_sxx) + y G*(g_sxy) (G is symmetric and zero-padded, so it is its own adjoint).
 * Derivation: docs/adjoints.md, "Image losses". */
#ifndef PL_LOSS_KERNELS_H
#define PL_LOSS_KERNELS_H

#include "core/hd.h"

#define PL_SSIM_RADIUS 5
#define PL_SSIM_SIGMA RC(1.5)
#define PL_SSIM_C1 RC(1e-4)
#define PL_SSIM_C2 RC(9e-4)

/* Normalised 1D Gaussian tap k in [-R, R] (the 2D window is its outer product). */
HD real pl_ssim_tap(int k) {
  real sum = 0, w = 0;
  for (int j = -PL_SSIM_RADIUS; j <= PL_SSIM_RADIUS; ++j) {
    real e = r_exp(-(real)(j * j) / (2 * PL_SSIM_SIGMA * PL_SSIM_SIGMA));
    sum += e;
    if (j == k) w = e;
  }
  return w / sum;
}

/* The 2R + 1 taps, tap[k + R] = pl_ssim_tap(k). */
HD void pl_ssim_taps(real *tap) {
  for (int k = -PL_SSIM_RADIUS; k <= PL_SSIM_RADIUS; ++k) tap[k + PL_SSIM_RADIUS] = pl_ssim_tap(k);
}

/* The separable filter at pixel (i, j) of a W x H plane, zero padding. Horizontal pass: of src (a strided channel,
 * src[(i W + j) stride + off]), times src2 likewise when given; vertical pass: of the plane tmp. */
HD real pl_ssim_blur_h_px(const real *tap, const real *src, int stride, int off, const real *src2, int stride2,
                          int off2, int w, int i, int j) {
  real acc = 0;
  for (int k = -PL_SSIM_RADIUS; k <= PL_SSIM_RADIUS; ++k) {
    int jj = j + k;
    if (jj < 0 || jj >= w) continue;
    size_t p = (size_t)i * w + jj;
    real v = src[p * stride + off];
    if (src2) v *= src2[p * stride2 + off2];
    acc += tap[k + PL_SSIM_RADIUS] * v;
  }
  return acc;
}
HD real pl_ssim_blur_v_px(const real *tap, const real *tmp, int w, int h, int i, int j) {
  real acc = 0;
  for (int k = -PL_SSIM_RADIUS; k <= PL_SSIM_RADIUS; ++k) {
    int ii = i + k;
    if (ii < 0 || ii >= h) continue;
    acc += tap[k + PL_SSIM_RADIUS] * tmp[(size_t)ii * w + j];
  }
  return acc;
}

/* |r - t| with the subgradient 0 at r = t */
HD real pl_l1(real r, real t) { return r_fabs(r - t); }
HD void pl_l1_vjp(real r, real t, real v, real *v_r) { *v_r += r > t ? v : (r < t ? -v : RC(0.0)); }

HD real pl_l2(real r, real t) { return (r - t) * (r - t); }
HD void pl_l2_vjp(real r, real t, real v, real *v_r) { *v_r += 2 * (r - t) * v; }

/* The pointwise terms of one pixel p (rgb [.][3], alpha [.]): adds |r - t| (want_l1), (r - t)^2 (want_l2) over its
 * channels to *s1, *s2 and |alpha - alpha_t| (want_mask) to *sm; with v_rgb / v_alpha (may be NULL) accumulates
 * the cotangents scaled by g_l1, g_l2, g_mask. The one per-pixel body of both backends' loops. */
HD void pl_loss_pointwise_px(size_t p, int want_l1, int want_l2, int want_mask, const real *rgb, const real *alpha,
                             const real *trgb, const real *talpha, real g_l1, real g_l2, real g_mask, real *v_rgb,
                             real *v_alpha, double *s1, double *s2, double *sm) {
  for (int c = 0; c < 3; ++c) {
    real r = rgb[3 * p + c], t = trgb[3 * p + c];
    if (want_l1) {
      *s1 += pl_l1(r, t);
      if (v_rgb) pl_l1_vjp(r, t, g_l1, &v_rgb[3 * p + c]);
    }
    if (want_l2) {
      *s2 += pl_l2(r, t);
      if (v_rgb) pl_l2_vjp(r, t, g_l2, &v_rgb[3 * p + c]);
    }
  }
  if (want_mask) {
    *sm += pl_l1(alpha[p], talpha[p]);
    if (v_alpha) pl_l1_vjp(alpha[p], talpha[p], g_mask, &v_alpha[p]);
  }
}

/* The image cotangent of channel value x (target y) from the filtered statistics' cotangents (see the top):
 * v_x = G*(g_mu) + 2 x G*(g_sxx) + y G*(g_sxy). */
HD real pl_ssim_image_vjp(real x, real y, real gm, real gxx, real gxy) { return gm + 2 * x * gxx + y * gxy; }

/* SSIM of one pixel from the filtered statistics. */
HD real pl_ssim_pixel(real mx, real my, real sxx, real syy, real sxy) {
  real a1 = 2 * mx * my + PL_SSIM_C1;
  real a2 = 2 * (sxy - mx * my) + PL_SSIM_C2;
  real b1 = mx * mx + my * my + PL_SSIM_C1;
  real b2 = (sxx - mx * mx) + (syy - my * my) + PL_SSIM_C2;
  return (a1 * a2) / (b1 * b2);
}

/* Cotangents of mu_x, sxx and sxy (the target's statistics are constants). */
HD void pl_ssim_pixel_vjp(real mx, real my, real sxx, real syy, real sxy, real v, real *v_mx, real *v_sxx,
                          real *v_sxy) {
  real a1 = 2 * mx * my + PL_SSIM_C1;
  real a2 = 2 * (sxy - mx * my) + PL_SSIM_C2;
  real b1 = mx * mx + my * my + PL_SSIM_C1;
  real b2 = (sxx - mx * mx) + (syy - my * my) + PL_SSIM_C2;
  real s = (a1 * a2) / (b1 * b2);
  /* dS = S (dA1/A1 + dA2/A2 - dB1/B1 - dB2/B2) */
  *v_mx += v * s * (2 * my / a1 - 2 * my / a2 - 2 * mx / b1 + 2 * mx / b2);
  *v_sxx += v * s * (-1 / b2);
  *v_sxy += v * s * (2 / a2);
}

#endif
