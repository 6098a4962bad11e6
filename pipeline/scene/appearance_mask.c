/* appearance_mask.c: the first frame's masks as pixel weights (appearance_mask.h). */
#include "pipeline/scene/appearance_mask.h"

#include <math.h>
#include <stddef.h>

void pl_mask_pixel_weights(const pl_hull_view *v, int w, int h, real *weights, int64_t *inside) {
  *inside = 0;
  const double sx = (double)v->width / w, sy = (double)v->height / h;
  for (int i = 0; i < h; ++i) {
    /* the mask rows and columns that camera pixel (i, j) overlaps: [i sy, (i + 1) sy) */
    int r0 = (int)floor(i * sy), r1 = (int)ceil((i + 1) * sy);
    if (r1 > v->height) r1 = v->height;
    for (int j = 0; j < w; ++j) {
      int c0 = (int)floor(j * sx), c1 = (int)ceil((j + 1) * sx);
      if (c1 > v->width) c1 = v->width;
      int in = r1 > r0 && c1 > c0;
      for (int r = r0; in && r < r1; ++r)
        for (int c = c0; in && c < c1; ++c) in = v->mask[(size_t)r * v->width + c] >= 0.5f;
      weights[(size_t)i * w + j] = in ? 1 : 0;
      *inside += in;
    }
  }
}
