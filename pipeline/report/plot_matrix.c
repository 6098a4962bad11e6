/* plot_matrix.c: a labelled matrix image (the correlation matrix of a fit, correlation.png): each cell coloured
 * on a diverging scale (-1 blue, 0 white, +1 red) with its value written in it; a value that is not finite is
 * a grey cell marked "n/a". */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/io/canvas.h"
#include "pipeline/report/plot.h"

static void diverging(double v, float col[3]) {
  double t = v > 1 ? 1 : v < -1 ? -1 : v;
  const float red[3] = {0.80f, 0.15f, 0.15f}, blue[3] = {0.15f, 0.35f, 0.80f};
  const float *e = t >= 0 ? red : blue;
  double a = fabs(t);
  for (int k = 0; k < 3; ++k) col[k] = (float)((1 - a) * 1.0 + a * e[k]);
}

pl_status pl_plot_matrix_png(const char *path, const char *title, int n, const char *const *names, const double *m) {
  if (n < 1 || n > 64) return pl_fail(PL_ERR_INVALID, "%s: a matrix of %d rows cannot be drawn (1..64)", path, n);
  const double size = 13;
  int label_w = 60;
  for (int i = 0; i < n; ++i) {
    char t[360];
    snprintf(t, sizeof t, "(%d) %s", i, names[i]);
    int w = (int)ceil(pl_text_width(t, size)) + 16;
    if (w > label_w) label_w = w;
  }
  if (label_w > 320) label_w = 320;
  const int cell = 84, top = 34 + pl_text_height(size) + 8, W = label_w + n * cell + 16 < 420 ? 420 : label_w + n * cell + 16, H = top + n * cell + 16;
  const float white[3] = {1, 1, 1}, ink[3] = {0.1f, 0.1f, 0.1f}, grey[3] = {0.78f, 0.78f, 0.78f};
  pl_canvas c;
  PL_TRY(pl_canvas_create(&c, W, H, white));
  pl_canvas_label(&c, 8, 6, W - 16, title, ink, 15);
  for (int j = 0; j < n; ++j) /* column labels: the index, the names are on the rows */
  {
    char t[16];
    snprintf(t, sizeof t, "(%d)", j);
    int w = (int)pl_text_width(t, size);
    pl_canvas_label(&c, label_w + j * cell + (cell - w) / 2, 34, cell, t, ink, size);
  }
  for (int i = 0; i < n; ++i) {
    char t[360];
    snprintf(t, sizeof t, "(%d) %s", i, names[i]);
    int y0 = top + i * cell;
    pl_canvas_label(&c, 6, y0 + (cell - pl_text_height(size)) / 2, label_w - 10, t, ink, size);
    for (int j = 0; j < n; ++j) {
      double v = m[i * n + j];
      float col[3];
      if (isfinite(v)) diverging(v, col);
      else memcpy(col, grey, sizeof col);
      int x0 = label_w + j * cell;
      pl_canvas_rect(&c, x0, y0, x0 + cell - 2, y0 + cell - 2, col, 1);
      char txt[32];
      if (isfinite(v)) snprintf(txt, sizeof txt, "%+.3f", v);
      else snprintf(txt, sizeof txt, "n/a");
      int w = (int)pl_text_width(txt, size);
      pl_canvas_label(&c, x0 + (cell - 2 - w) / 2, y0 + (cell - 2 - pl_text_height(size)) / 2, cell - 4, txt,
                      fabs(isfinite(v) ? v : 0) > 0.6 ? white : ink, size);
    }
  }
  pl_status st = pl_canvas_save_png(&c, path);
  pl_canvas_free(&c);
  return st;
}
