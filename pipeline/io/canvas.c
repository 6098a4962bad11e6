#include "pipeline/io/canvas.h"

#include <cairo/cairo.h>
#include <fontconfig/fontconfig.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"

#define FONT_FAMILY "DejaVu Sans"

pl_status pl_canvas_create(pl_canvas *c, int w, int h, const float bg[3]) {
  c->w = w;
  c->h = h;
  c->rgb = NULL;
  if (w <= 0 || h <= 0 || (size_t)w * (size_t)h > ((size_t)1 << 28))
    return pl_fail(PL_ERR_INVALID, "a %dx%d image is not a drawable size", w, h);
  c->rgb = (float *)malloc(sizeof(float) * 3 * (size_t)w * (size_t)h);
  if (!c->rgb) return pl_fail(PL_ERR_NOMEM, "out of memory for a %dx%d image", w, h);
  for (size_t i = 0; i < (size_t)w * h; ++i) memcpy(c->rgb + 3 * i, bg, sizeof(float) * 3);
  return PL_OK;
}

void pl_canvas_free(pl_canvas *c) {
  if (!c) return;
  free(c->rgb);
  c->rgb = NULL;
}

void pl_canvas_pixel(pl_canvas *c, int x, int y, const float col[3]) {
  if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
  memcpy(c->rgb + 3 * ((size_t)y * c->w + x), col, sizeof(float) * 3);
}

void pl_canvas_rect(pl_canvas *c, int x0, int y0, int x1, int y1, const float col[3], int filled) {
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x)
      if (filled || y == y0 || y == y1 || x == x0 || x == x1) pl_canvas_pixel(c, x, y, col);
}

void pl_canvas_blit_zoom(pl_canvas *c, int x, int y, int w, int h, const float *rgb, int zoom) {
  if (zoom < 1) zoom = 1;
  for (int j = 0; j < h * zoom; ++j)
    for (int i = 0; i < w * zoom; ++i) pl_canvas_pixel(c, x + i, y + j, rgb + 3 * ((size_t)(j / zoom) * w + i / zoom));
}

void pl_canvas_blit(pl_canvas *c, int x, int y, int w, int h, const float *rgb) { pl_canvas_blit_zoom(c, x, y, w, h, rgb, 1); }

/* ------------------------------------------------------------------ text (cairo) */

static cairo_t *g_measure = NULL; /* one 1x1 surface for measuring, kept for the process */

/* At exit: cairo's and fontconfig's caches are released, so that leak checkers see nothing left behind. */
static void release_fonts(void) {
  if (g_measure) cairo_destroy(g_measure);
  g_measure = NULL;
  cairo_debug_reset_static_data();
  FcFini();
}

void pl_fonts_init(void) {
  static int registered = 0;
  if (!registered) atexit(release_fonts);
  registered = 1;
}

static cairo_t *measure_context(void) {
  cairo_t *cr = g_measure;
  if (!cr) {
    pl_fonts_init();
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_A8, 1, 1);
    cr = cairo_create(s);
    cairo_surface_destroy(s);
    cairo_select_font_face(cr, FONT_FAMILY, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    g_measure = cr;
  }
  return cr;
}

double pl_text_width(const char *text, double size) {
  cairo_t *cr = measure_context();
  cairo_set_font_size(cr, size);
  cairo_text_extents_t te;
  cairo_text_extents(cr, text, &te);
  /* the ink may start left of the origin (x_bearing < 0) and end past the advance */
  return fmax(te.x_advance, te.x_bearing + te.width) - fmin(0.0, te.x_bearing);
}

int pl_text_height(double size) {
  cairo_t *cr = measure_context();
  cairo_set_font_size(cr, size);
  cairo_font_extents_t fe;
  cairo_font_extents(cr, &fe);
  return (int)ceil(fe.ascent + fe.descent);
}

double pl_text_size_for(int panel_w) {
  double s = panel_w / 9.0;
  return s < PL_TEXT_MIN_SIZE ? PL_TEXT_MIN_SIZE : s > 14 ? 14 : s;
}

/* Draw text at (x, y) (top of the line box) by rendering it into an alpha mask and blending the colour. */
static int draw_text(pl_canvas *c, int x, int y, const char *text, const float col[3], double size) {
  int tw = (int)ceil(pl_text_width(text, size)) + 2, th = pl_text_height(size) + 2;
  cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_A8, tw, th);
  if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(s);
    return 0;
  }
  cairo_t *cr = cairo_create(s);
  cairo_select_font_face(cr, FONT_FAMILY, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
  cairo_font_extents_t fe;
  cairo_font_extents(cr, &fe);
  cairo_text_extents_t te;
  cairo_text_extents(cr, text, &te);
  cairo_move_to(cr, -fmin(0.0, te.x_bearing), fe.ascent);
  cairo_show_text(cr, text);
  cairo_surface_flush(s);
  const unsigned char *a = cairo_image_surface_get_data(s);
  int stride = cairo_image_surface_get_stride(s);
  for (int j = 0; j < th; ++j)
    for (int i = 0; i < tw; ++i) {
      float al = a[(size_t)j * stride + i] / 255.0f;
      int px = x + i, py = y + j;
      if (al <= 0 || px < 0 || py < 0 || px >= c->w || py >= c->h) continue;
      float *p = c->rgb + 3 * ((size_t)py * c->w + px);
      for (int k = 0; k < 3; ++k) p[k] = p[k] * (1 - al) + col[k] * al;
    }
  cairo_destroy(cr);
  cairo_surface_destroy(s);
  return (int)ceil(pl_text_width(text, size));
}

int pl_canvas_label(pl_canvas *c, int x, int y, int max_w, const char *text, const float col[3], double size) {
  if (!text || !text[0]) return 0;
  if (max_w <= 0) return draw_text(c, x, y, text, col, size);
  const int room = max_w - 1; /* antialiasing may spill one pixel */
  double sz = size;
  while (sz > PL_TEXT_MIN_SIZE && pl_text_width(text, sz) > room) sz -= 0.5;
  if (sz < PL_TEXT_MIN_SIZE) sz = PL_TEXT_MIN_SIZE;
  if (pl_text_width(text, sz) <= room) return draw_text(c, x, y, text, col, sz);
  /* shorten: the longest prefix that fits with "..." after it (nothing when not even "..." fits) */
  size_t n = strlen(text);
  char *buf = (char *)malloc(n + 4);
  if (!buf) return 0;
  int drawn = 0;
  for (size_t k = n; k-- > 0;) {
    memcpy(buf, text, k);
    memcpy(buf + k, "...", 4);
    if (pl_text_width(buf, sz) <= room) {
      drawn = draw_text(c, x, y, buf, col, sz);
      break;
    }
  }
  free(buf);
  return drawn;
}

pl_status pl_canvas_save_png(const pl_canvas *c, const char *path) {
  return pl_png_write_float(path, c->w, c->h, 3, c->rgb);
}
