#include "pipeline/canvas.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"

/* 5x7 glyphs, one byte per row (5 low bits, MSB = left column). */
static const struct {
  char ch;
  unsigned char rows[7];
} k_font[] = {
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}}, {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}}, {'3', {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}}, {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}}, {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}}, {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}}, {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}}, {'D', {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}}, {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}}, {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}}, {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}}, {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}}, {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}}, {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}}, {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}}, {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}}, {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04}}, {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}}, {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}}, {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}},
    {'/', {0x01, 0x02, 0x02, 0x04, 0x08, 0x08, 0x10}}, {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}},
    {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}}, {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}}, {'|', {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}}, {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}},
    {'x', {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}}, {'[', {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E}},
    {']', {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E}}, {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}},
};

static const unsigned char *glyph(char ch) {
  if (ch != 'x') ch = (char)toupper((unsigned char)ch);
  for (size_t i = 0; i < sizeof k_font / sizeof k_font[0]; ++i)
    if (k_font[i].ch == ch) return k_font[i].rows;
  return NULL; /* space and unknown characters draw nothing */
}

pl_status pl_canvas_create(pl_canvas *c, int w, int h, const float bg[3]) {
  c->w = w;
  c->h = h;
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

void pl_canvas_line(pl_canvas *c, double x0, double y0, double x1, double y1, const float col[3]) {
  double dx = x1 - x0, dy = y1 - y0;
  int n = (int)ceil(fmax(fabs(dx), fabs(dy))) + 1;
  if (n > 100000) n = 100000;
  for (int i = 0; i <= n; ++i) {
    double t = (double)i / n;
    pl_canvas_pixel(c, (int)lround(x0 + t * dx), (int)lround(y0 + t * dy), col);
  }
}

void pl_canvas_rect(pl_canvas *c, int x0, int y0, int x1, int y1, const float col[3], int filled) {
  for (int y = y0; y <= y1; ++y)
    for (int x = x0; x <= x1; ++x)
      if (filled || y == y0 || y == y1 || x == x0 || x == x1) pl_canvas_pixel(c, x, y, col);
}

void pl_canvas_blit(pl_canvas *c, int x, int y, int w, int h, const float *rgb) {
  for (int j = 0; j < h; ++j)
    for (int i = 0; i < w; ++i) pl_canvas_pixel(c, x + i, y + j, rgb + 3 * ((size_t)j * w + i));
}

int pl_canvas_text_width(const char *text, int scale) { return (int)strlen(text) * 6 * scale; }

int pl_canvas_text(pl_canvas *c, int x, int y, const char *text, const float col[3], int scale) {
  int x0 = x;
  for (const char *p = text; *p; ++p) {
    const unsigned char *g = glyph(*p);
    if (g)
      for (int r = 0; r < 7; ++r)
        for (int b = 0; b < 5; ++b)
          if (g[r] & (0x10 >> b))
            for (int sy = 0; sy < scale; ++sy)
              for (int sx = 0; sx < scale; ++sx) pl_canvas_pixel(c, x + b * scale + sx, y + r * scale + sy, col);
    x += 6 * scale;
  }
  return x - x0;
}

pl_status pl_canvas_save_png(const pl_canvas *c, const char *path) {
  return pl_png_write_float(path, c->w, c->h, 3, c->rgb);
}

/* "nice" tick step for a range (1, 2 or 5 times a power of ten) */
static double nice_step(double range, int target) {
  double raw = range / target, p = pow(10, floor(log10(raw))), f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

pl_status pl_plot_png(const char *path, const char *title, const char *xlabel, int n, const double *x, int nseries,
                      const double *const *y, const char *const *names, int log_y) {
  static const float white[3] = {1, 1, 1}, black[3] = {0, 0, 0}, grid[3] = {0.88f, 0.88f, 0.88f};
  static const float colors[8][3] = {{0.12f, 0.47f, 0.71f}, {1.0f, 0.5f, 0.05f}, {0.17f, 0.63f, 0.17f},
                                     {0.84f, 0.15f, 0.16f}, {0.58f, 0.4f, 0.74f}, {0.55f, 0.34f, 0.29f},
                                     {0.89f, 0.47f, 0.76f}, {0.5f, 0.5f, 0.5f}};
  const int W = 720, H = 420, L = 80, R = 20, T = 40, B = 50;
  if (nseries > 8) nseries = 8;
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (int i = 0; i < n; ++i) {
    xmin = fmin(xmin, x[i]);
    xmax = fmax(xmax, x[i]);
    for (int s = 0; s < nseries; ++s) {
      double v = y[s][i];
      if (!isfinite(v) || (log_y && v <= 0)) continue;
      v = log_y ? log10(v) : v;
      ymin = fmin(ymin, v);
      ymax = fmax(ymax, v);
    }
  }
  if (!isfinite(xmin)) xmin = 0, xmax = 1;
  if (!isfinite(ymin)) ymin = 0, ymax = 1;
  if (xmax - xmin < 1e-12) xmax = xmin + 1;
  if (ymax - ymin < 1e-12) ymax += 0.5, ymin -= 0.5;
  double pad = 0.05 * (ymax - ymin);
  ymin -= pad;
  ymax += pad;
  pl_canvas c;
  PL_TRY(pl_canvas_create(&c, W, H, white));
  const int pw = W - L - R, ph = H - T - B;
#define PX(v) (L + ((v)-xmin) / (xmax - xmin) * pw)
#define PY(v) (T + ph - ((v)-ymin) / (ymax - ymin) * ph)
  char lab[64];
  /* y grid and labels */
  if (log_y) {
    for (int e = (int)floor(ymin); e <= (int)ceil(ymax); ++e) {
      if (e < ymin || e > ymax) continue;
      pl_canvas_line(&c, L, PY(e), L + pw, PY(e), grid);
      snprintf(lab, sizeof lab, "1e%d", e);
      pl_canvas_text(&c, L - 6 - pl_canvas_text_width(lab, 1), (int)PY(e) - 3, lab, black, 1);
    }
  } else {
    double st = nice_step(ymax - ymin, 5);
    for (double v = ceil(ymin / st) * st; v <= ymax; v += st) {
      pl_canvas_line(&c, L, PY(v), L + pw, PY(v), grid);
      snprintf(lab, sizeof lab, "%.3g", fabs(v) < 1e-12 * st ? 0.0 : v);
      pl_canvas_text(&c, L - 6 - pl_canvas_text_width(lab, 1), (int)PY(v) - 3, lab, black, 1);
    }
  }
  double st = nice_step(xmax - xmin, 6);
  for (double v = ceil(xmin / st) * st; v <= xmax + 1e-9; v += st) {
    pl_canvas_line(&c, PX(v), T, PX(v), T + ph, grid);
    snprintf(lab, sizeof lab, "%g", v);
    pl_canvas_text(&c, (int)PX(v) - pl_canvas_text_width(lab, 1) / 2, T + ph + 6, lab, black, 1);
  }
  pl_canvas_rect(&c, L, T, L + pw, T + ph, black, 0);
  for (int s = 0; s < nseries; ++s) {
    int have = 0;
    double px = 0, py = 0;
    for (int i = 0; i < n; ++i) {
      double v = y[s][i];
      if (!isfinite(v) || (log_y && v <= 0)) {
        have = 0;
        continue;
      }
      double qx = PX(x[i]), qy = PY(log_y ? log10(v) : v);
      if (have) pl_canvas_line(&c, px, py, qx, qy, colors[s]);
      if (n == 1) pl_canvas_rect(&c, (int)qx - 1, (int)qy - 1, (int)qx + 1, (int)qy + 1, colors[s], 1);
      px = qx, py = qy, have = 1;
    }
    if (names && names[s]) {
      int ly = T + 8 + 12 * s;
      pl_canvas_rect(&c, L + pw - 150, ly + 2, L + pw - 140, ly + 4, colors[s], 1);
      pl_canvas_text(&c, L + pw - 134, ly, names[s], black, 1);
    }
  }
  if (title) pl_canvas_text(&c, L, 12, title, black, 2);
  if (xlabel) pl_canvas_text(&c, L + pw / 2 - pl_canvas_text_width(xlabel, 1) / 2, H - 18, xlabel, black, 1);
#undef PX
#undef PY
  pl_status s = pl_canvas_save_png(&c, path);
  pl_canvas_free(&c);
  return s;
}
