/* plot.c: line plots with cairo (see plot.h). */
#include "pipeline/report/plot.h"

#include <cairo/cairo.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/io/canvas.h"

#define FONT "DejaVu Sans"

static const double k_palette[10][3] = {{0.12, 0.47, 0.71}, {1.0, 0.50, 0.05}, {0.17, 0.63, 0.17}, {0.84, 0.15, 0.16},
                                        {0.58, 0.40, 0.74}, {0.55, 0.34, 0.29}, {0.89, 0.47, 0.76}, {0.50, 0.50, 0.50},
                                        {0.74, 0.74, 0.13}, {0.09, 0.75, 0.81}};

/* dash patterns: 0 solid, 1 dashed, 2 dotted, 3 dash-dot */
static void set_style(cairo_t *cr, int style) {
  static const double pat[4][4] = {{0}, {7, 4}, {0.01, 6}, {7, 3, 1.5, 3}};
  static const int len[4] = {0, 2, 2, 4};
  style = style < 0 ? 0 : style % 4;
  cairo_set_dash(cr, pat[style], len[style], 0);
}

static int usable(double v, int log_axis) { return isfinite(v) && (!log_axis || v > 0); }
static double tr(double v, int log_axis) { return log_axis ? log10(v) : v; }

/* "nice" tick step for a range: 1, 2 or 5 times a power of ten */
static double nice_step(double range, int target) {
  double raw = range / target, p = pow(10, floor(log10(raw))), f = raw / p;
  return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

typedef struct {
  double v[64];   /* tick positions in axis units (log10 on a log axis) */
  char lab[64][24];
  int n;
} ticks;

static void fmt_tick(char *out, size_t size, double value) {
  if (value != 0 && (fabs(value) >= 1e6 || fabs(value) < 1e-3))
    snprintf(out, size, "%.3g", value);
  else
    snprintf(out, size, "%.6g", value);
}

/* ticks over [lo, hi] (axis units) */
static void make_ticks(ticks *t, double lo, double hi, int log_axis, int target, int integers) {
  t->n = 0;
  if (log_axis && hi - lo >= 1.0) {
    int step = (int)ceil((hi - lo) / target);
    if (step < 1) step = 1;
    for (int e = (int)ceil(lo); e <= (int)floor(hi) && t->n < 64; e += step) {
      t->v[t->n] = e;
      snprintf(t->lab[t->n], sizeof t->lab[0], "1e%d", e);
      t->n++;
    }
    if (t->n >= 2) return;
    t->n = 0;
  }
  double a = log_axis ? pow(10, lo) : lo, b = log_axis ? pow(10, hi) : hi;
  double st = nice_step(b - a, target);
  if (integers && st < 1) st = 1; /* iterations, counts: no ticks between whole numbers */
  for (double v = ceil(a / st) * st; v <= b + 1e-9 * st && t->n < 64; v += st) {
    double q = fabs(v) < 1e-9 * st ? 0.0 : v;
    if (log_axis && q <= 0) continue;
    t->v[t->n] = tr(q, log_axis);
    fmt_tick(t->lab[t->n], sizeof t->lab[0], q);
    t->n++;
  }
}

static double text_w(cairo_t *cr, const char *s) {
  cairo_text_extents_t te;
  cairo_text_extents(cr, s, &te);
  return te.x_advance;
}

/* one plot inside the rectangle (ox, oy, W, H) */
static void draw_plot(cairo_t *cr, const pl_plot *p, double ox, double oy, double W, double H) {
  /* ranges */
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (int s = 0; s < p->nseries; ++s)
    for (int i = 0; i < p->series[s].n; ++i) {
      double x = p->series[s].x[i], y = p->series[s].y[i];
      if (!usable(x, p->log_x) || !usable(y, p->log_y)) continue;
      xmin = fmin(xmin, tr(x, p->log_x)), xmax = fmax(xmax, tr(x, p->log_x));
      ymin = fmin(ymin, tr(y, p->log_y)), ymax = fmax(ymax, tr(y, p->log_y));
    }
  for (int h = 0; h < p->nhlines; ++h)
    if (usable(p->hlines[h].y, p->log_y))
      ymin = fmin(ymin, tr(p->hlines[h].y, p->log_y)), ymax = fmax(ymax, tr(p->hlines[h].y, p->log_y));
  if (!isfinite(xmin)) xmin = 0, xmax = 1;
  if (!isfinite(ymin)) ymin = 0, ymax = 1;
  if (xmax - xmin < 1e-12 * fmax(1, fabs(xmax))) xmin -= 0.5, xmax += 0.5;
  if (ymax - ymin < 1e-9 * fmax(1e-300, fabs(ymax))) {
    double d = p->log_y ? 0.1 : fmax(0.05 * fabs(ymax), 1e-12);
    ymin -= d, ymax += d;
  }
  double pad = 0.06 * (ymax - ymin);
  ymin -= pad, ymax += pad;

  int x_integers = !p->log_x;
  for (int s = 0; s < p->nseries && x_integers; ++s)
    for (int i = 0; i < p->series[s].n && x_integers; ++i)
      if (isfinite(p->series[s].x[i]) && p->series[s].x[i] != floor(p->series[s].x[i])) x_integers = 0;
  ticks tx, ty;
  make_ticks(&tx, xmin, xmax, p->log_x, W > 500 ? 7 : 4, x_integers);
  make_ticks(&ty, ymin, ymax, p->log_y, H > 300 ? 6 : 4, 0);

  const double fs = 11, title_fs = 14;
  cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, fs);
  double lab_w = 0;
  for (int i = 0; i < ty.n; ++i) lab_w = fmax(lab_w, text_w(cr, ty.lab[i]));
  /* the legend goes right of the frame, never over the data */
  int nleg = 0;
  double legw = 0;
  for (int s = 0; s < p->nseries; ++s)
    if (p->series[s].name) nleg++, legw = fmax(legw, text_w(cr, p->series[s].name));
  for (int h = 0; h < p->nhlines; ++h)
    if (p->hlines[h].name) nleg++, legw = fmax(legw, text_w(cr, p->hlines[h].name));
  const double legend_room = nleg > 0 ? legw + 40 + 12 : 0;
  const double L = ox + 14 + lab_w + (p->ylabel ? 18 : 0), R = ox + W - 14 - legend_room;
  const double T = oy + (p->title ? 30 : 12), B = oy + H - (p->xlabel ? 40 : 24);
  const double pw = R - L, ph = B - T;
#define PX(v) (L + ((v)-xmin) / (xmax - xmin) * pw)
#define PY(v) (B - ((v)-ymin) / (ymax - ymin) * ph)

  /* grid and tick labels */
  cairo_set_line_width(cr, 1);
  cairo_font_extents_t fe;
  cairo_font_extents(cr, &fe);
  for (int i = 0; i < ty.n; ++i) {
    double y = floor(PY(ty.v[i])) + 0.5;
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_move_to(cr, L, y);
    cairo_line_to(cr, R, y);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    cairo_move_to(cr, L - 6 - text_w(cr, ty.lab[i]), y + fe.ascent * 0.38);
    cairo_show_text(cr, ty.lab[i]);
  }
  double last_right = -INFINITY;
  for (int i = 0; i < tx.n; ++i) {
    double x = floor(PX(tx.v[i])) + 0.5, w = text_w(cr, tx.lab[i]);
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    cairo_move_to(cr, x, T);
    cairo_line_to(cr, x, B);
    cairo_stroke(cr);
    if (x - w / 2 < last_right + 6) continue; /* labels never overlap: skip one that would */
    cairo_set_source_rgb(cr, 0.15, 0.15, 0.15);
    cairo_move_to(cr, x - w / 2, B + 4 + fe.ascent);
    cairo_show_text(cr, tx.lab[i]);
    last_right = x + w / 2;
  }
  /* vertical markers */
  cairo_set_source_rgb(cr, 0.55, 0.55, 0.55);
  double dots[2] = {2, 3};
  cairo_set_dash(cr, dots, 2, 0);
  for (int i = 0; i < p->nvlines; ++i) {
    if (!usable(p->vlines[i], p->log_x)) continue;
    double v = tr(p->vlines[i], p->log_x);
    if (v < xmin || v > xmax) continue;
    cairo_move_to(cr, floor(PX(v)) + 0.5, T);
    cairo_line_to(cr, floor(PX(v)) + 0.5, B);
    cairo_stroke(cr);
  }
  cairo_set_dash(cr, NULL, 0, 0);

  /* clip the data to the frame */
  cairo_save(cr);
  cairo_rectangle(cr, L, T, pw, ph);
  cairo_clip(cr);
  double dash[2] = {7, 4};
  for (int h = 0; h < p->nhlines; ++h) {
    if (!usable(p->hlines[h].y, p->log_y)) continue;
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1.5);
    cairo_set_dash(cr, dash, 2, 0);
    double y = PY(tr(p->hlines[h].y, p->log_y));
    cairo_move_to(cr, L, y);
    cairo_line_to(cr, R, y);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
  }
  for (int s = 0; s < p->nseries; ++s) {
    const pl_plot_series *se = &p->series[s];
    const double *c = k_palette[(se->color > 0 ? se->color - 1 : s) % 10];
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
    cairo_set_line_width(cr, (se->width > 0 ? se->width : 1.5) * (se->dashed % 4 == 2 ? 2.2 : 1.0));
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, se->dashed % 4 == 2 ? CAIRO_LINE_CAP_ROUND : CAIRO_LINE_CAP_BUTT);
    set_style(cr, se->dashed);
    int have = 0, npts = 0;
    for (int i = 0; i < se->n; ++i) {
      if (!usable(se->x[i], p->log_x) || !usable(se->y[i], p->log_y)) {
        have = 0;
        continue;
      }
      double qx = PX(tr(se->x[i], p->log_x)), qy = PY(tr(se->y[i], p->log_y));
      if (have)
        cairo_line_to(cr, qx, qy);
      else
        cairo_move_to(cr, qx, qy);
      have = 1;
      npts++;
    }
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
    if (se->markers || npts == 1)
      for (int i = 0; i < se->n; ++i) {
        if (!usable(se->x[i], p->log_x) || !usable(se->y[i], p->log_y)) continue;
        cairo_arc(cr, PX(tr(se->x[i], p->log_x)), PY(tr(se->y[i], p->log_y)), 1.5 + (se->width > 0 ? se->width : 1.5), 0, 2 * 3.14159265358979323846);
        cairo_fill(cr);
      }
  }
  cairo_restore(cr);

  /* frame */
  cairo_set_source_rgb(cr, 0, 0, 0);
  cairo_set_line_width(cr, 1);
  cairo_rectangle(cr, floor(L) + 0.5, floor(T) + 0.5, floor(pw), floor(ph));
  cairo_stroke(cr);

  /* legend: right of the frame, at its top */
  if (nleg > 0) {
    double lh = fs + 5, bw = legw + 40, bh = nleg * lh + 8, bx = R + 10, by = T;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, bx, by, bw, bh);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0.7, 0.7, 0.7);
    cairo_rectangle(cr, floor(bx) + 0.5, floor(by) + 0.5, floor(bw), floor(bh));
    cairo_stroke(cr);
    int k = 0;
    for (int s = 0; s < p->nseries + p->nhlines; ++s) {
      const char *name = s < p->nseries ? p->series[s].name : p->hlines[s - p->nseries].name;
      if (!name) continue;
      double y = by + 4 + lh * k + lh / 2;
      if (s < p->nseries) {
        const pl_plot_series *se = &p->series[s];
        const double *c = k_palette[(se->color > 0 ? se->color - 1 : s) % 10];
        cairo_set_source_rgb(cr, c[0], c[1], c[2]);
        cairo_set_line_width(cr, (se->width > 0 ? fmin(se->width, 4) : 1.5) * (se->dashed % 4 == 2 ? 2.2 : 1.0));
        cairo_set_line_cap(cr, se->dashed % 4 == 2 ? CAIRO_LINE_CAP_ROUND : CAIRO_LINE_CAP_BUTT);
        set_style(cr, se->dashed);
      } else {
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_set_line_width(cr, 1.5);
        cairo_set_dash(cr, dash, 2, 0);
      }
      cairo_move_to(cr, bx + 6, y);
      cairo_line_to(cr, bx + 30, y);
      cairo_stroke(cr);
      cairo_set_dash(cr, NULL, 0, 0);
      cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);
      cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
      cairo_move_to(cr, bx + 34, y + fe.ascent * 0.38);
      cairo_show_text(cr, name);
      k++;
    }
  }
  /* title and axis labels */
  cairo_set_source_rgb(cr, 0, 0, 0);
  if (p->xlabel) {
    cairo_move_to(cr, L + pw / 2 - text_w(cr, p->xlabel) / 2, oy + H - 10);
    cairo_show_text(cr, p->xlabel);
  }
  if (p->ylabel) {
    cairo_save(cr);
    cairo_move_to(cr, ox + 4 + fe.ascent, T + ph / 2 + text_w(cr, p->ylabel) / 2);
    cairo_rotate(cr, -3.14159265358979323846 / 2);
    cairo_show_text(cr, p->ylabel);
    cairo_restore(cr);
  }
  if (p->title) {
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, title_fs);
    double tw = text_w(cr, p->title);
    if (tw > W - 20) cairo_set_font_size(cr, fmax(8, title_fs * (W - 20) / tw)), tw = text_w(cr, p->title);
    cairo_move_to(cr, fmax(ox + 10, L + pw / 2 - tw / 2), oy + 20);
    cairo_show_text(cr, p->title);
  }
#undef PX
#undef PY
}

pl_status pl_plot_save(const char *path, const pl_plot *plots, int n, int cols, int panel_w, int panel_h) {
  if (n < 1 || cols < 1 || panel_w < 80 || panel_h < 60)
    return pl_fail(PL_ERR_INVALID, "%s: a plot needs at least one panel of at least 80x60 pixels", path);
  pl_fonts_init();
  int rows = (n + cols - 1) / cols, W = cols * panel_w, H = rows * panel_h;
  cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, W, H);
  if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
    cairo_surface_destroy(s);
    return pl_fail(PL_ERR_NOMEM, "%s: cannot create a %dx%d image", path, W, H);
  }
  cairo_t *cr = cairo_create(s);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  for (int i = 0; i < n; ++i) draw_plot(cr, &plots[i], (i % cols) * panel_w, (i / cols) * panel_h, panel_w, panel_h);
  cairo_surface_flush(s);
  pl_canvas c;
  const float white[3] = {1, 1, 1};
  pl_status st = pl_canvas_create(&c, W, H, white);
  if (st == PL_OK) {
    const unsigned char *d = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int y = 0; y < H; ++y)
      for (int x = 0; x < W; ++x) {
        uint32_t px;
        memcpy(&px, d + (size_t)y * stride + 4 * (size_t)x, 4);
        float *o = c.rgb + 3 * ((size_t)y * W + x);
        o[0] = ((px >> 16) & 255) / 255.0f, o[1] = ((px >> 8) & 255) / 255.0f, o[2] = (px & 255) / 255.0f;
      }
    st = pl_canvas_save_png(&c, path);
    pl_canvas_free(&c);
  }
  cairo_destroy(cr);
  cairo_surface_destroy(s);
  return st;
}

pl_status pl_plot_png(const char *path, const char *title, const char *xlabel, int n, const double *x, int nseries,
                      const double *const *y, const char *const *names, int log_y) {
  if (nseries > 8) nseries = 8;
  pl_plot_series se[8];
  memset(se, 0, sizeof se);
  for (int s = 0; s < nseries; ++s) {
    se[s].name = names ? names[s] : NULL;
    se[s].x = x;
    se[s].y = y[s];
    se[s].n = n;
    se[s].width = s == 0 && nseries > 1 ? 4.5 : 1.6; /* the first (a total) wide, under the others */
    se[s].dashed = s >= 2 ? s - 1 : 0; /* solid, dashed, dotted, dash-dot: coinciding curves stay visible */
    se[s].color = s == 0 && nseries > 1 ? 8 : 0; /* grey */
    if (s > 0 && nseries > 1 && se[s].color == 0) se[s].color = s; /* keep blue, orange, ... for the others */
  }
  pl_plot p;
  memset(&p, 0, sizeof p);
  p.title = title;
  p.xlabel = xlabel;
  p.log_y = log_y;
  p.series = se;
  p.nseries = nseries;
  return pl_plot_save(path, &p, 1, 1, 760, 440);
}
