/* test_plate_matte.c: an object's coverage from the image and a background plate (pipeline/io/plate_matte.h).
 *
 * A disk of one colour (radius 20.3 px, centre off the pixel grid) over a checkered plate of two colours, each
 * pixel's true coverage from 8 x 8 sub-pixel samples, the image composited I = a F + (1 - a) B, sensor noise
 * sigma = 0.02 per channel:
 *  1. matte: the mean absolute error of the coverage is below 0.03 on the disk's edge pixels and on all pixels, and
 *     the area of matte >= 0.5 is within 1.5 % of the area of the true coverage >= 0.5;
 *  2. threshold (0.1): a pixel about a fifth covered passes, so its area exceeds the half-covered one by more than
 *     2 % (a rim about a third of a pixel wide: 2 pi r w / pi r^2 = 3.3 % at r = 20.3; the bias the matte removes);
 *  3. where the plate has the object's colour (a patch of the plate painted F) the matte keeps the thresholded
 *     value: 0 there, never a made-up coverage;
 *  4. an object of fewer than 8 inner pixels returns 0 (thresholded mask); matte = 0 returns 0 with the
 *     threshold's mask. Every figure is printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "pipeline/io/plate_matte.h"
#include "tests/test_util.h"

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#define W 64
#define H 64

static const double F[3] = {0.25, 0.5, 0.9};

static double coverage(int i, int j, double cx, double cy, double r) {
  int hits = 0;
  for (int si = 0; si < 8; ++si)
    for (int sj = 0; sj < 8; ++sj) {
      double y = i + (si + 0.5) / 8, x = j + (sj + 0.5) / 8;
      hits += (x - cx) * (x - cx) + (y - cy) * (y - cy) <= r * r;
    }
  return hits / 64.0;
}

static double gauss(void) { /* Box-Muller on the harness's generator */
  double u = fmax(0.5 * (test_rand() + 1), 1e-12), v = 0.5 * (test_rand() + 1); /* test_rand: [-1, 1) */
  return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* plate: a checker of 8-pixel squares, yellow-green and dark green (as the captures' plates); patch: painted F */
static void make(double cx, double cy, double r, int patch, float *img, float *plate, double *truth) {
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      size_t p = (size_t)i * W + j;
      int dark = ((i / 8) + (j / 8)) % 2;
      double B[3] = {dark ? 0.2 : 0.6, dark ? 0.45 : 0.75, dark ? 0.2 : 0.25};
      if (patch && i >= 4 && i < 14 && j >= 4 && j < 14)
        for (int q = 0; q < 3; ++q) B[q] = F[q];
      double a = coverage(i, j, cx, cy, r);
      truth[p] = a;
      for (int q = 0; q < 3; ++q) {
        plate[3 * p + q] = (float)B[q];
        img[4 * p + q] = (float)(a * F[q] + (1 - a) * B[q] + 0.02 * gauss());
      }
      img[4 * p + 3] = 1;
    }
}

int main(void) {
  static float img[4 * W * H], plate[3 * W * H], alpha[W * H], thr[W * H];
  static double truth[W * H];
  make(33.3, 30.7, 20.3, 1, img, plate, truth);

  /* 1. the matte */
  int made = pl_plate_matte(img, 4, plate, 3, W, H, 0.1, 1, alpha);
  CHECK(made == 1, "matte made: %d", made);
  double err_all = 0, err_edge = 0;
  int n_edge = 0, area_true = 0, area_matte = 0, area_thr = 0;
  for (int p = 0; p < W * H; ++p) {
    double e = fabs(alpha[p] - truth[p]);
    err_all += e / (W * H);
    if (truth[p] > 0.02 && truth[p] < 0.98) err_edge += e, ++n_edge;
    area_true += truth[p] >= 0.5, area_matte += alpha[p] >= 0.5f;
  }
  err_edge /= n_edge > 0 ? n_edge : 1;
  printf("matte: mean |alpha - coverage| %.4f on all pixels, %.4f on the %d edge pixels; area at 0.5: %d px "
         "(truth %d, %+.2f %%)\n", err_all, err_edge, n_edge, area_matte, area_true,
         100.0 * (area_matte - area_true) / area_true);
  CHECK(err_all < 0.03 && err_edge < 0.03, "matte error %.4f / %.4f", err_all, err_edge);
  CHECK(fabs((double)area_matte - area_true) <= 0.015 * area_true, "matte area %d against %d", area_matte, area_true);

  /* 2. the threshold's bias */
  CHECK(pl_plate_matte(img, 4, plate, 3, W, H, 0.1, 0, thr) == 0, "matte = 0 returns 0");
  for (int p = 0; p < W * H; ++p) area_thr += thr[p] >= 0.5f;
  printf("threshold 0.1: area %d px (%+.2f %% against the half-covered %d: a rim %.2f px wide)\n", area_thr,
         100.0 * (area_thr - area_true) / area_true, area_true, (area_thr - area_true) / (2 * M_PI * 20.3));
  CHECK(area_thr > 1.02 * area_true, "the thresholded area %d should exceed %d by > 2 %%", area_thr, area_true);
  for (int p = 0; p < W * H; ++p)
    if (thr[p] != 0.0f && thr[p] != 1.0f) {
      CHECK(0, "the thresholded mask is binary (pixel %d: %g)", p, thr[p]);
      break;
    }

  /* 3. the plate painted with the object's colour says nothing: the thresholded value (0: no object) stays */
  float patch_max = 0;
  for (int i = 4; i < 14; ++i)
    for (int j = 4; j < 14; ++j) patch_max = fmaxf(patch_max, alpha[i * W + j]);
  printf("where the plate is the object's colour: matte at most %g (thresholded: 0)\n", patch_max);
  CHECK(patch_max == 0.0f, "patch alpha %g", patch_max);

  /* 4. no inner pixels */
  make(30.2, 30.6, 1.6, 0, img, plate, truth);
  made = pl_plate_matte(img, 4, plate, 3, W, H, 0.1, 1, alpha);
  int tiny = 0;
  for (int p = 0; p < W * H; ++p) tiny += alpha[p] >= 0.5f;
  printf("a disk of radius 1.6 px: matte %s, %d pixels set\n", made ? "made" : "not made (thresholded)", tiny);
  CHECK(made == 0, "too small an object returns 0");
  CHECK(tiny > 0 && tiny < 30, "the thresholded mask of the small disk: %d px", tiny);
  return test_summary("test_plate_matte");
}
