/* canvas.h: a small RGB drawing surface for the report images (strips, video frames, sweep contact sheets):
 * rectangles, image blits and text. Text is drawn by cairo with the DejaVu Sans font (Debian's
 * fonts-dejavu-core), antialiased; labels shrink (and, past a legible minimum, are shortened with "...") so that
 * they never run past the width they are given. Line plots are in plot.h. */
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

/* Smallest font size (pixels) labels shrink to before they are shortened. */
#define PL_TEXT_MIN_SIZE 8.0

pl_status pl_canvas_create(pl_canvas *c, int w, int h, const float bg[3]);
void pl_canvas_free(pl_canvas *c);
void pl_canvas_pixel(pl_canvas *c, int x, int y, const float col[3]);
void pl_canvas_rect(pl_canvas *c, int x0, int y0, int x1, int y1, const float col[3], int filled);
/* Copy an RGB image (w x h x 3 floats) with its top-left corner at (x, y), clipped; zoom >= 1 enlarges it
 * (nearest neighbour, so pixels stay visible as pixels). */
void pl_canvas_blit(pl_canvas *c, int x, int y, int w, int h, const float *rgb);
void pl_canvas_blit_zoom(pl_canvas *c, int x, int y, int w, int h, const float *rgb, int zoom);

/* Width in pixels of `text` at font size `size` (pixels per em). */
double pl_text_width(const char *text, double size);
/* Height of a line of text at `size` (ascent + descent, rounded up). */
int pl_text_height(double size);
/* Font size for the labels of a panel `panel_w` pixels wide (between PL_TEXT_MIN_SIZE and 14). */
double pl_text_size_for(int panel_w);
/* Draw `text` with its line box's top-left at (x, y), inside [x, x + max_w): at `size`, or smaller (down to
 * PL_TEXT_MIN_SIZE) when it would not fit, else shortened with "..." (max_w <= 0: no limit). Returns the
 * width drawn; the ink never leaves [x, x + max_w). */
int pl_canvas_label(pl_canvas *c, int x, int y, int max_w, const char *text, const float col[3], double size);

pl_status pl_canvas_save_png(const pl_canvas *c, const char *path);
/* Release cairo's and fontconfig's font caches at exit (leak checkers then see nothing left); called by the
 * text and plot functions themselves. */
void pl_fonts_init(void);

#ifdef __cplusplus
}
#endif

#include "pipeline/report/plot.h" /* the line plots drawn on the same kind of surface */
#endif
