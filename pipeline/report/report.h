/* report.h: the plots of a run drawn from its CSV files: each parameter over the iterations with its truth
 * (optimize: params.png from fit.csv), and the loss over a sweep's grid (sweep: sweep_loss.png). */
#ifndef PL_REPORT_H
#define PL_REPORT_H

#include "pipeline/fit/optim.h"
#include "pipeline/scene/scene.h"
#include "pipeline/fit/sweep.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A numeric CSV file: column names and rows (a field that is not a number is NaN). */
typedef struct {
  int ncols;
  long nrows;
  char **names;
  double *v;        /* [nrows][ncols] */
  char **text1;     /* the second column's text per row (fit.csv: the stage name) */
} pl_csv;

pl_status pl_csv_read(const char *path, pl_csv *c);
int pl_csv_col(const pl_csv *c, const char *name);
void pl_csv_free(pl_csv *c);

/* OUTPUT/params.png: one panel per parameter component over the iterations of OUTPUT/fit.csv, with the truth
 * as a dashed line and the stages' starts as dotted lines. */
pl_status pl_report_params(const pl_scene *s, const pl_optimizer *o, const char *folder);
/* png: the loss (and its terms) against the first axis of a sweep, a curve per value of the second axis. */
pl_status pl_report_sweep(const pl_sweep *sw, const char *csv, const char *png);

#ifdef __cplusplus
}
#endif
#endif
