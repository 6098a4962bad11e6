/* panels.h: image panels side by side with labels that fit them (the target | rendered | difference strips,
 * the frames of the fit and render videos, the sweep's contact sheet). */
#ifndef PL_PANELS_H
#define PL_PANELS_H

#include <stdint.h>

#include "pipeline/io/canvas.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Integer enlargement that makes a w-pixel image at least min_w wide (1 when it already is). */
int pl_panels_zoom(int w, int min_w);
/* Height of the label line above a panel `panel_w` wide. */
int pl_panels_label_height(int panel_w);
/* Draw n images (w x h RGB each, NULL: left blank) in a row at (x, y), each enlarged by `zoom` and separated by
 * `gap` pixels, with labels[i] above image i (fitted to the panel's width). Returns the row's height. */
int pl_panels_row(pl_canvas *cv, int x, int y, int n, const float *const *images, const char *const *labels, int w,
                  int h, int zoom, int gap);
/* Difference of two RGB images as a red-on-white heat map: mean absolute difference per pixel times `gain`. */
void pl_panels_difference(const float *a, const float *b, int64_t npixels, float gain, float *out);

#ifdef __cplusplus
}
#endif
#endif
