/* sweep.h: parameter grids for `pipeline sweep`.
 *
 * An axis is "ADDRESS=LO:HI:N" (N values evenly spaced, both ends included) or "ADDRESS=LO:HI:N:log"
 * (geometric spacing, LO and HI > 0), or "ADDRESS=v1,v2,v3" (explicit values). The grid is the cartesian
 * product, in row-major order (the last axis varies fastest). `--shard I/N` keeps the points whose index
 * modulo N is I (0 <= I < N), so a job array of N tasks covers the grid exactly once; the CSVs merge by
 * concatenation (pl_csv_merge keeps one header and sorts rows by point index). */
#ifndef PL_SWEEP_H
#define PL_SWEEP_H

#include <stddef.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_SWEEP_MAX_AXES 8
#define PL_SWEEP_MAX_VALUES 4096

typedef struct {
  char address[192];
  int n;
  double values[PL_SWEEP_MAX_VALUES];
} pl_sweep_axis;

typedef struct {
  pl_sweep_axis axes[PL_SWEEP_MAX_AXES];
  int naxes;
  long total;     /* number of grid points */
  int shard, nshards;
} pl_sweep;

pl_status pl_sweep_add_axis(pl_sweep *s, const char *spec);
/* "I/N" */
pl_status pl_sweep_set_shard(pl_sweep *s, const char *spec);
/* Values of point `index` (one per axis); returns 0 if the point belongs to another shard. */
int pl_sweep_point(const pl_sweep *s, long index, double *values);

/* Merge CSV files with the same header into `out` (atomic): one header, rows sorted by the integer in the
 * first column, duplicates (same index) refused. */
pl_status pl_csv_merge(const char *const *inputs, int n, const char *out);

#ifdef __cplusplus
}
#endif
#endif
