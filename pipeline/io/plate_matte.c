/* plate_matte.c: coverage from a background plate (plate_matte.h). */
#include "pipeline/io/plate_matte.h"

#include <math.h>
#include <stdlib.h>

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

int pl_plate_matte(const float *image, int image_channels, const float *plate, int plate_channels, int w, int h,
                   double threshold, int matte, float *alpha) {
  size_t np = (size_t)w * h;
  for (size_t p = 0; p < np; ++p) {
    double d = 0;
    for (int q = 0; q < 3; ++q) d = fmax(d, fabs((double)image[image_channels * p + q] - plate[plate_channels * p + q]));
    alpha[p] = d > threshold ? 1.0f : 0.0f;
  }
  if (!matte) return 0;
  /* the object's colour: the median of the pixels at least two pixels inside the thresholded mask */
  float *chan = (float *)malloc(sizeof(float) * 3 * (np ? np : 1));
  if (!chan) return -1;
  size_t inner = 0;
  for (int y = 2; y < h - 2; ++y)
    for (int x = 2; x < w - 2; ++x) {
      int in = 1;
      for (int dy = -2; in && dy <= 2; ++dy)
        for (int dx = -2; in && dx <= 2; ++dx)
          if (abs(dx) + abs(dy) <= 2) in = alpha[(size_t)(y + dy) * w + x + dx] >= 0.5f;
      if (!in) continue;
      for (int q = 0; q < 3; ++q) chan[q * np + inner] = image[image_channels * ((size_t)y * w + x) + q];
      ++inner;
    }
  if (inner < 8) {
    free(chan);
    return 0;
  }
  double F[3];
  for (int q = 0; q < 3; ++q) {
    qsort(chan + q * np, inner, sizeof(float), cmp_float);
    F[q] = chan[q * np + inner / 2];
  }
  free(chan);
  for (size_t p = 0; p < np; ++p) {
    double num = 0, den = 0;
    for (int q = 0; q < 3; ++q) {
      double fb = F[q] - plate[plate_channels * p + q];
      num += ((double)image[image_channels * p + q] - plate[plate_channels * p + q]) * fb;
      den += fb * fb;
    }
    if (den > 4 * threshold * threshold) alpha[p] = (float)fmin(1.0, fmax(0.0, num / den));
  }
  return 1;
}
