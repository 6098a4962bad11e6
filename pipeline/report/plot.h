/* plot.h: line plots for the reports (loss curves, parameters over the iterations, sweep curves), drawn with
 * cairo: antialiased lines, linear or logarithmic axes with labelled ticks, a title, axis labels, a legend,
 * dashed horizontal reference lines (a parameter's truth), and several panels in one image.
 *
 *   pl_plot_series s[2] = {{"loss", x, y, n}, {"l1", x, y1, n, .dashed = 1}};
 *   pl_plot p = {.title = "loss", .xlabel = "iteration", .log_y = 1, .series = s, .nseries = 2};
 *   pl_plot_save("loss.png", &p, 1, 1, 760, 440);
 *
 * Non-finite points (and non-positive ones on a log axis) are gaps. Colours default to a fixed palette in the
 * series' order, so a series keeps its colour between images. */
#ifndef PL_PLOT_H
#define PL_PLOT_H

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  const char *name;       /* legend entry (NULL: none) */
  const double *x, *y;    /* n points */
  int n;
  int dashed;             /* line style: 0 solid, 1 dashed, 2 dotted, 3 dash-dot */
  double width;           /* line width in pixels (0: 1.5) */
  int color;              /* palette index + 1 (0: the series' position) */
  int markers;            /* draw a dot at each point */
} pl_plot_series;

typedef struct {
  double y;               /* a horizontal reference line (e.g. the truth) */
  const char *name;       /* legend entry */
} pl_plot_hline;

typedef struct {
  const char *title, *xlabel, *ylabel;
  int log_x, log_y;
  const pl_plot_series *series;
  int nseries;
  const pl_plot_hline *hlines;
  int nhlines;
  const double *vlines;   /* vertical markers (stage boundaries), dotted grey */
  int nvlines;
} pl_plot;

/* Draw `n` plots in a grid of `cols` columns, each panel panel_w x panel_h pixels, and write a PNG
 * atomically. */
pl_status pl_plot_save(const char *path, const pl_plot *plots, int n, int cols, int panel_w, int panel_h);

/* The earlier one-call form: up to 8 series y[s][i] over x[i]; series 0 is drawn wide, grey and underneath,
 * the others on top of it, solid, dashed, dotted, dash-dot, so that every curve stays visible where curves
 * coincide. */
pl_status pl_plot_png(const char *path, const char *title, const char *xlabel, int n, const double *x,
                      int nseries, const double *const *y, const char *const *names, int log_y);

/* A labelled n x n matrix (plot_matrix.c): cells on a diverging colour scale over [-1, 1] with their values
 * written in them (a correlation matrix); non-finite entries are grey "n/a" cells. */
pl_status pl_plot_matrix_png(const char *path, const char *title, int n, const char *const *names, const double *m);

#ifdef __cplusplus
}
#endif
#endif
