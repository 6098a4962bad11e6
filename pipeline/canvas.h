/* canvas.h: a small RGB drawing surface for the report images (loss curves, target|rendered|difference
 * strips, sweep contact sheets): lines, rectangles, image blits and text in a built-in 5x7 bitmap font. */
#ifndef PL_CANVAS_H
#define PL_CANVAS_H

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int w, h;
  float *rgb; /* [h][w][3] in [0,1] */
} pl_canvas;

pl_status pl_canvas_create(pl_canvas *c, int w, int h, const float bg[3]);
void pl_canvas_free(pl_canvas *c);
void pl_canvas_pixel(pl_canvas *c, int x, int y, const float col[3]);
void pl_canvas_line(pl_canvas *c, double x0, double y0, double x1, double y1, const float col[3]);
void pl_canvas_rect(pl_canvas *c, int x0, int y0, int x1, int y1, const float col[3], int filled);
/* Copy an RGB image (w x h x 3 floats) with its top-left corner at (x, y), clipped. */
void pl_canvas_blit(pl_canvas *c, int x, int y, int w, int h, const float *rgb);
/* Text with the 5x7 font scaled by `scale` (letters are drawn as capitals); returns the width drawn. */
int pl_canvas_text(pl_canvas *c, int x, int y, const char *text, const float col[3], int scale);
int pl_canvas_text_width(const char *text, int scale);
pl_status pl_canvas_save_png(const pl_canvas *c, const char *path);

/* A line plot of up to 8 series y[s][i] over x[i] (i < n), optionally with a logarithmic y axis,
 * with axes, ticks, tick labels, a title and a legend. Non-finite points are skipped. */
pl_status pl_plot_png(const char *path, const char *title, const char *xlabel, int n, const double *x,
                      int nseries, const double *const *y, const char *const *names, int log_y);

#ifdef __cplusplus
}
#endif
#endif
