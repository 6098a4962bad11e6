/* check_grad.c: the gradient check of one point of the objective, as gradcheck prints it; used by
 * `pipeline gradcheck` and by `pipeline optimize --check-grad N` (at iteration N of a real fit, on the objective
 * the fit descends, in the fit's precision). */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "pipeline/engine/engine_internal.h"
#include "pipeline/engine/engine_objective.h"
#include "pipeline/engine/particle_fields.h"
#include "pipeline/engine/engine_trace.h"

#define CHECK_ROWS 512

pl_status pl_engine_collect_check(pl_engine *e, pl_optimizer *o, double step, double tol, const char *frames,
                                  pl_gc_row *rows, int max, int *nrows) {
  int nap = 0, nfd = 0;
  *nrows = 0;
  pl_objective obj;
  memset(&obj, 0, sizeof obj);
  obj.user = e;
  obj.eval = pl_engine_checked_eval;
  if (pl_engine_can_trace(e)) { /* branch-aware differences (CPU backend) */
    obj.trace = pl_engine_objective_trace;
    obj.trace_diff = pl_engine_objective_trace_diff;
  }
  pl_gc_options go = {step, tol, 1e-12, frames};
  pl_status st = PL_OK;
  if (o->n > 0) st = pl_gradcheck(e->scene, o, &obj, &go, rows, max, nrows);
  /* per-Gaussian colours / opacity offsets: the entries with the largest adjoints */
  if (st == PL_OK && pl_engine_learns_appearance(e))
    st = pl_engine_appearance_check(e, o, step, tol, 6, rows + *nrows, max - *nrows, &nap);
  if (st == PL_OK) *nrows += nap;
  /* learnt E fields: the grid values with the largest adjoints */
  if (st == PL_OK && pl_engine_learns_fields(e))
    st = pl_engine_fields_check(e, o, step, tol, 8, rows + *nrows, max - *nrows, &nfd);
  pl_engine_release_check(e);
  if (st != PL_OK) return st;
  *nrows += nfd;
  return PL_OK;
}

pl_status pl_engine_print_check(pl_engine *e, pl_optimizer *o, double step, double tol, const char *frames,
                                const char *title, int *all_ok) {
  static pl_gc_row rows[CHECK_ROWS];
  int nrows = 0;
  PL_TRY(pl_engine_collect_check(e, o, step, tol, frames, rows, CHECK_ROWS, &nrows));
  printf("\n%s\n", title);
  pl_gc_print(rows, nrows, stdout);
  int ok = pl_gc_all_ok(rows, nrows);
  if (all_ok) *all_ok &= ok;
  fflush(stdout);
  return PL_OK;
}

/* optimize --check-grad N: a pl_objective check (user = the engine) */
pl_status pl_engine_check_grad(void *user, pl_optimizer *o, const char *frames) {
  pl_engine *e = (pl_engine *)user;
  double step, tol;
  pl_gc_defaults(&step, NULL, &tol);
  int ok = 1;
  char title[160];
  snprintf(title, sizeof title, "optimize --check-grad: the gradient of this iteration against central differences "
           "(%s precision, tolerance %g)", PL_REAL_NAME, tol);
  PL_TRY(pl_engine_print_check(e, o, step, tol, frames, title, &ok));
  if (!ok) PL_WARN("optimize --check-grad: a gradient does not match its finite difference (see the table)");
  return PL_OK;
}
