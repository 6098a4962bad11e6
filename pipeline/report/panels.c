#include "pipeline/report/panels.h"

#include <math.h>

int pl_panels_zoom(int w, int min_w) { return w > 0 && w < min_w ? (min_w + w - 1) / w : 1; }

int pl_panels_label_height(int panel_w) { return pl_text_height(pl_text_size_for(panel_w)) + 4; }

int pl_panels_row(pl_canvas *cv, int x, int y, int n, const float *const *images, const char *const *labels, int w,
                  int h, int zoom, int gap) {
  static const float black[3] = {0, 0, 0};
  int pw = w * zoom, lh = pl_panels_label_height(pw);
  double size = pl_text_size_for(pw);
  for (int i = 0; i < n; ++i) {
    int px = x + i * (pw + gap);
    if (labels && labels[i]) pl_canvas_label(cv, px, y + 1, pw, labels[i], black, size);
    if (images && images[i]) pl_canvas_blit_zoom(cv, px, y + lh, w, h, images[i], zoom);
  }
  return lh + h * zoom;
}

void pl_panels_difference(const float *a, const float *b, int64_t npixels, float gain, float *out) {
  for (int64_t i = 0; i < npixels; ++i) {
    float d = (fabsf(a[3 * i] - b[3 * i]) + fabsf(a[3 * i + 1] - b[3 * i + 1]) + fabsf(a[3 * i + 2] - b[3 * i + 2])) *
              (gain / 3.0f);
    if (!(d <= 1)) d = 1; /* also a NaN shows as full red */
    out[3 * i] = 1;
    out[3 * i + 1] = out[3 * i + 2] = 1 - d;
  }
}
