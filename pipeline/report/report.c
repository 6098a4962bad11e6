#define _POSIX_C_SOURCE 200809L
#include "pipeline/report/report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "pipeline/report/plot.h"

void pl_csv_free(pl_csv *c) {
  if (!c) return;
  for (int i = 0; i < c->ncols; ++i) free(c->names[i]);
  for (long r = 0; r < c->nrows; ++r) free(c->text1 ? c->text1[r] : NULL);
  free(c->names);
  free(c->text1);
  free(c->v);
  memset(c, 0, sizeof *c);
}

int pl_csv_col(const pl_csv *c, const char *name) {
  for (int i = 0; i < c->ncols; ++i)
    if (strcmp(c->names[i], name) == 0) return i;
  return -1;
}

pl_status pl_csv_read(const char *path, pl_csv *c) {
  memset(c, 0, sizeof *c);
  char *text;
  PL_TRY(pl_read_file(path, &text, NULL));
  pl_status st = PL_OK;
  long cap = 0;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line && st == PL_OK; line = strtok_r(NULL, "\n", &save)) {
    line[strcspn(line, "\r")] = '\0';
    if (!c->names) { /* header */
      for (const char *p = line; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) c->ncols++;
      c->names = (char **)calloc((size_t)c->ncols, sizeof(char *));
      if (!c->names) {
        st = pl_fail(PL_ERR_NOMEM, "out of memory");
        break;
      }
      int k = 0;
      for (char *p = line; p && k < c->ncols; ++k) {
        char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        c->names[k] = strndup(p, n);
        p = comma ? comma + 1 : NULL;
      }
      continue;
    }
    if (c->nrows == cap) {
      cap = cap ? 2 * cap : 256;
      double *nv = (double *)realloc(c->v, sizeof(double) * (size_t)cap * (size_t)c->ncols);
      char **nt = (char **)realloc(c->text1, sizeof(char *) * (size_t)cap);
      if (nv) c->v = nv;
      if (nt) c->text1 = nt;
      if (!nv || !nt) {
        st = pl_fail(PL_ERR_NOMEM, "out of memory");
        break;
      }
    }
    double *row = c->v + (size_t)c->nrows * c->ncols;
    c->text1[c->nrows] = NULL;
    char *p = line;
    for (int k = 0; k < c->ncols; ++k) {
      char *comma = p ? strchr(p, ',') : NULL;
      size_t n = p ? (comma ? (size_t)(comma - p) : strlen(p)) : 0;
      char field[128];
      snprintf(field, sizeof field, "%.*s", (int)(n < sizeof field ? n : sizeof field - 1), p ? p : "");
      char *end;
      double v = strtod(field, &end);
      row[k] = (field[0] && *end == '\0') ? v : NAN;
      if (k == 1) c->text1[c->nrows] = strdup(field);
      p = comma ? comma + 1 : NULL;
    }
    c->nrows++;
  }
  free(text);
  if (st == PL_OK && !c->names) st = pl_fail(PL_ERR_PARSE, "%s: empty CSV file", path);
  if (st != PL_OK) pl_csv_free(c);
  return st;
}

static int truth_of(const pl_scene *s, const char *address, double v[3]) {
  for (int i = 0; i < s->ntruth; ++i)
    if (strcmp(s->truth[i].address, address) == 0) {
      int n = pl_parse_reals(s->truth[i].value, v, 3);
      if (n == 1) v[1] = v[2] = v[0];
      return n >= 1;
    }
  return 0;
}

pl_status pl_report_params(const pl_scene *s, const pl_optimizer *o, const char *folder) {
  if (o->n == 0) return PL_OK; /* a fit of learnt E fields or appearance alone: no [param] values to plot */
  char csvp[PL_PATH_MAX + 32], png[PL_PATH_MAX + 32];
  snprintf(csvp, sizeof csvp, "%s/fit.csv", folder);
  snprintf(png, sizeof png, "%s/params.png", folder);
  pl_csv c;
  PL_TRY(pl_csv_read(csvp, &c));
  int npanels = 0;
  for (int i = 0; i < o->n; ++i) npanels += o->p[i].components;
  pl_plot *plots = (pl_plot *)calloc((size_t)npanels + 1, sizeof(pl_plot));
  pl_plot_series *series = (pl_plot_series *)calloc((size_t)npanels + 1, sizeof(pl_plot_series));
  pl_plot_hline *hl = (pl_plot_hline *)calloc((size_t)npanels + 1, sizeof(pl_plot_hline));
  char(*titles)[240] = calloc((size_t)npanels + 1, sizeof *titles);
  double *x = (double *)malloc(sizeof(double) * (size_t)(c.nrows + 1));
  double *vl = (double *)malloc(sizeof(double) * (size_t)(c.nrows + 1));
  double *ys = (double *)malloc(sizeof(double) * (size_t)(c.nrows + 1) * (size_t)(npanels + 1));
  pl_status st = (plots && series && hl && titles && x && vl && ys) ? PL_OK : pl_fail(PL_ERR_NOMEM, "out of memory");
  int nv = 0, np = 0;
  if (st == PL_OK) {
    int ci = pl_csv_col(&c, "iteration");
    for (long r = 0; r < c.nrows; ++r) {
      x[r] = ci >= 0 ? c.v[r * c.ncols + ci] : (double)r;
      /* a stage starts where the stage name changes */
      if (r > 0 && c.text1[r] && c.text1[r - 1] && strcmp(c.text1[r], c.text1[r - 1]) != 0) vl[nv++] = x[r] - 0.5;
    }
    for (int i = 0; i < o->n; ++i) {
      const pl_param *p = &o->p[i];
      double truth[3];
      int has_truth = truth_of(s, p->address, truth);
      for (int k = 0; k < p->components; ++k) {
        char col[240];
        snprintf(col, sizeof col, p->components == 1 ? "%s" : "%s.%c", p->address, "xyz"[k]);
        int cc = pl_csv_col(&c, col);
        if (cc < 0) continue;
        double *y = ys + (size_t)np * (size_t)(c.nrows + 1);
        for (long r = 0; r < c.nrows; ++r) y[r] = c.v[r * c.ncols + cc];
        snprintf(titles[np], sizeof titles[np], "%s", col);
        series[np] = (pl_plot_series){"fitted", x, y, (int)c.nrows, 0, 2.0, 1, c.nrows < 40};
        pl_plot *pp = &plots[np];
        pp->title = titles[np];
        pp->xlabel = "iteration";
        pp->log_y = p->space == PL_SPACE_LOG;
        pp->series = &series[np];
        pp->nseries = 1;
        if (has_truth) {
          hl[np] = (pl_plot_hline){truth[k], "truth"};
          pp->hlines = &hl[np];
          pp->nhlines = 1;
        }
        pp->vlines = vl;
        pp->nvlines = nv;
        np++;
      }
    }
    if (np == 0) st = pl_fail(PL_ERR_PARSE, "%s: no parameter columns", csvp);
  }
  if (st == PL_OK) {
    int cols = np == 1 ? 1 : 2;
    st = pl_plot_save(png, plots, np, cols, np == 1 ? 760 : 520, np == 1 ? 420 : 330);
  }
  free(plots);
  free(series);
  free(hl);
  free(titles);
  free(x);
  free(vl);
  free(ys);
  pl_csv_free(&c);
  return st;
}

pl_status pl_report_sweep(const pl_sweep *sw, const char *csvp, const char *png) {
  pl_csv c;
  PL_TRY(pl_csv_read(csvp, &c));
  int cx = pl_csv_col(&c, sw->axes[0].address), cl = pl_csv_col(&c, "loss");
  int cy = sw->naxes > 1 ? pl_csv_col(&c, sw->axes[1].address) : -1;
  pl_status st = PL_OK;
  if (cx < 0 || cl < 0) st = pl_fail(PL_ERR_PARSE, "%s: no '%s' or 'loss' column", csvp, sw->axes[0].address);
  /* one curve per value of the second axis (up to 8), over the first; other axes at their first value */
  int ncurves = sw->naxes > 1 ? (sw->axes[1].n < 8 ? sw->axes[1].n : 8) : 1;
  double *xs = (double *)malloc(sizeof(double) * (size_t)(c.nrows + 1) * 8);
  double *ys = (double *)malloc(sizeof(double) * (size_t)(c.nrows + 1) * 8);
  pl_plot_series se[8];
  char names[8][240];
  memset(se, 0, sizeof se);
  if (st == PL_OK && (!xs || !ys)) st = pl_fail(PL_ERR_NOMEM, "out of memory");
  int any_positive = 1, nonempty = 0;
  for (int k = 0; k < ncurves && st == PL_OK; ++k) {
    double *x = xs + (size_t)k * (c.nrows + 1), *y = ys + (size_t)k * (c.nrows + 1);
    int n = 0;
    for (long r = 0; r < c.nrows; ++r) {
      const double *row = c.v + r * c.ncols;
      if (cy >= 0 && row[cy] != sw->axes[1].values[k]) continue;
      int other = 1;
      for (int a = 2; a < sw->naxes; ++a) {
        int ca = pl_csv_col(&c, sw->axes[a].address);
        if (ca >= 0 && row[ca] != sw->axes[a].values[0]) other = 0;
      }
      if (!other || !isfinite(row[cl])) continue;
      x[n] = row[cx], y[n] = row[cl];
      any_positive &= y[n] > 0;
      n++;
    }
    /* sort by x (shards may come in any order) */
    for (int i = 1; i < n; ++i)
      for (int j = i; j > 0 && x[j - 1] > x[j]; --j) {
        double tx = x[j], ty = y[j];
        x[j] = x[j - 1], y[j] = y[j - 1], x[j - 1] = tx, y[j - 1] = ty;
      }
    const char *dot = cy >= 0 ? strrchr(sw->axes[1].address, '.') : NULL;
    if (cy >= 0) snprintf(names[k], sizeof names[k], "%s = %.4g", dot ? dot + 1 : sw->axes[1].address, sw->axes[1].values[k]);
    se[k] = (pl_plot_series){cy >= 0 ? names[k] : NULL, x, y, n, 0, 2.0, 0, 1};
    nonempty += n > 0;
  }
  if (st == PL_OK && nonempty == 0) st = pl_fail(PL_ERR_INVALID, "%s: no loss values to plot (the scene has no targets?)", csvp);
  if (st == PL_OK) {
    /* a log x axis when the axis' values span more than a factor 20 and are positive */
    const pl_sweep_axis *ax = &sw->axes[0];
    double lo = ax->values[0], hi = ax->values[ax->n - 1];
    char title[300];
    snprintf(title, sizeof title, "loss over %s", ax->address);
    pl_plot p;
    memset(&p, 0, sizeof p);
    p.title = title;
    p.xlabel = ax->address;
    p.ylabel = "loss";
    p.log_x = lo > 0 && hi > 0 && fmax(lo, hi) / fmin(lo, hi) > 20;
    p.log_y = any_positive;
    p.series = se;
    p.nseries = ncurves;
    st = pl_plot_save(png, &p, 1, 1, 760, 440);
  }
  free(xs);
  free(ys);
  pl_csv_free(&c);
  return st;
}
