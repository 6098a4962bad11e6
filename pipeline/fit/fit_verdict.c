/* fit_verdict.c: did the fit converge, and how sure is it: the verdict, its reason, and their report in result.json
 * and on the terminal. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pipeline/fit/fit_global.h"

const char *pl_fit_verdict_name(pl_fit_verdict v) {
  switch (v) {
    case PL_FIT_CONVERGED: return "converged";
    case PL_FIT_STALLED: return "stalled";
    case PL_FIT_BUDGET: return "budget exhausted";
    case PL_FIT_DIVERGED: return "diverged";
    default: return "unchecked";
  }
}

int pl_fit_verdict_exit_code(pl_fit_verdict v) {
  switch (v) {
    case PL_FIT_STALLED:
    case PL_FIT_BUDGET: return 3;
    case PL_FIT_DIVERGED: return 4;
    default: return 0;
  }
}

void pl_fit_decide(const pl_scene *s, pl_fit_result *r, const pl_fit_curvature *c, int diverged, const char *why,
                   double recent_fall, int window) {
  const double tol = s->optimize.converge_step;
  if (diverged) {
    r->verdict = PL_FIT_DIVERGED;
    snprintf(r->reason, sizeof r->reason, "%s", why);
    return;
  }
  /* the Newton step from the reported point */
  int worst = -1;
  double big = 0;
  if (c && c->positive)
    for (int d = 0; d < c->n; ++d)
      if (fabs(c->newton[d]) > big) big = fabs(c->newton[d]), worst = d;
  if (c && c->positive && big <= tol) {
    r->verdict = PL_FIT_CONVERGED;
    snprintf(r->reason, sizeof r->reason,
             "the curvature is positive definite and the Newton step is %.2g at most (optimize.converge_step %g)", big,
             tol);
    return;
  }
  /* a descent test where the curvature is no guide (an L1 loss is cone-like at its minimum): the damped Newton
   * steps ended because no step, down to a tiny nearly steepest-descent one, lowers the loss */
  if (c && r->newton_no_descent > 0 && r->newton_no_descent <= 0.1 * tol && r->best_loss < r->start_loss) {
    r->verdict = PL_FIT_CONVERGED;
    snprintf(r->reason, sizeof r->reason,
             "no damped Newton step lowers the loss, down to a step of %.2g in the step space: a minimum to that "
             "resolution (%s)", r->newton_no_descent,
             c->positive ? "the curvature is positive definite" : "the curvature there is not positive definite: "
                                                                   "a kink or a flat valley floor, see the correlations");
    return;
  }
  if (r->iterations == 0 && r->newton_steps == 0 && !(r->best_loss < r->start_loss)) {
    /* nothing was stepped (optimize.iterations = 0: the appearance stage alone, or the start evaluated): the start
     * is reported as it is, neither a minimum nor a divergence */
    r->verdict = PL_FIT_UNCHECKED;
    snprintf(r->reason, sizeof r->reason,
             "no iterations were run (optimize.iterations = 0): the start is reported, convergence not tested%s",
             c && !c->positive ? "; the curvature there is not positive definite" : "");
    return;
  }
  if (!(r->best_loss < r->start_loss)) {
    r->verdict = PL_FIT_DIVERGED;
    snprintf(r->reason, sizeof r->reason, "no evaluated point has a lower loss than the start (%.4g), and the start is not a minimum", r->start_loss);
    return;
  }
  /* walked away: the last iterate's loss far above the best one */
  if (r->last_loss > 2 * r->best_loss && r->last_loss - r->best_loss > 0.5 * (r->start_loss - r->best_loss)) {
    r->verdict = PL_FIT_DIVERGED;
    snprintf(r->reason, sizeof r->reason,
             "the last iterate's loss %.4g is far above the best %.4g: the fit walked away (the best point is reported)",
             r->last_loss, r->best_loss);
    return;
  }
  if (!c) {
    r->verdict = PL_FIT_UNCHECKED;
    snprintf(r->reason, sizeof r->reason, "no curvature (optimize.uncertainty = false, or more than 12 learnable values): convergence not tested");
    return;
  }
  char what[240];
  if (!c->positive)
    snprintf(what, sizeof what, "the curvature is not positive definite (a valley, a ridge or a saddle: not at a minimum)");
  else
    snprintf(what, sizeof what, "the Newton step is %.3g in %s (more than optimize.converge_step %g)", big,
             worst >= 0 ? r->names[worst] : "?", tol);
  /* too few iterations in the last stage to judge a stall (fewer than optimize.patience, not stopped early): the
   * budget ran out before the loss had a chance to stop falling */
  if (!r->stopped_early && r->newton_no_descent <= 0 && window < s->optimize.patience) {
    r->verdict = PL_FIT_BUDGET;
    snprintf(r->reason, sizeof r->reason,
             "the iterations ran out after %d in the last stage, too few to judge (optimize.patience %d); %s", window + 1,
             s->optimize.patience, what);
  } else if (r->stopped_early || recent_fall < 0.01 || r->newton_no_descent > 0) {
    r->verdict = PL_FIT_STALLED;
    snprintf(r->reason, sizeof r->reason, "the loss stopped falling (%.2g%% over the last %d iterations) but %s",
             100 * fmax(recent_fall, 0), window, what);
  } else {
    r->verdict = PL_FIT_BUDGET;
    snprintf(r->reason, sizeof r->reason, "the iterations ran out while the loss still fell (%.2g%% over the last %d); %s",
             100 * recent_fall, window, what);
  }
}

void pl_fit_result_json(void *jv, const pl_fit_result *r) {
  cJSON *j = (cJSON *)jv;
  cJSON_AddStringToObject(j, "verdict", pl_fit_verdict_name(r->verdict));
  cJSON_AddStringToObject(j, "verdict_reason", r->reason);
  cJSON_AddNumberToObject(j, "exit_status", pl_fit_verdict_exit_code(r->verdict));
  cJSON_AddNumberToObject(j, "start_loss", r->start_loss);
  cJSON *b = cJSON_AddObjectToObject(j, "best");
  cJSON_AddNumberToObject(b, "loss", r->best_loss);
  cJSON *bv = cJSON_AddObjectToObject(b, "values");
  cJSON *l = cJSON_AddObjectToObject(j, "last");
  cJSON_AddNumberToObject(l, "loss", r->last_loss);
  cJSON *lv = cJSON_AddObjectToObject(l, "values");
  for (int d = 0; d < r->ndim; ++d) {
    cJSON_AddNumberToObject(bv, r->names[d], r->value[d]);
    cJSON_AddNumberToObject(lv, r->names[d], r->last[d]);
  }
  cJSON_AddNumberToObject(j, "newton_steps", r->newton_steps);
  if (r->newton_no_descent > 0) cJSON_AddNumberToObject(j, "newton_no_descent_step", r->newton_no_descent);
  if (!r->has_curvature) return;
  cJSON *u = cJSON_AddObjectToObject(j, "uncertainty");
  cJSON_AddStringToObject(u, "method", "Hessian from central differences of the adjoint gradient (2n evaluations), "
                                       "Cov = kappa H^-1 (docs/fitting.md)");
  cJSON *se = cJSON_AddObjectToObject(u, "standard_error"), *rse = cJSON_AddObjectToObject(u, "relative_standard_error");
  cJSON *ns = cJSON_AddObjectToObject(u, "newton_step");
  for (int d = 0; d < r->ndim; ++d) {
    if (isfinite(r->se[d])) {
      cJSON_AddNumberToObject(se, r->names[d], r->se[d]);
      cJSON_AddNumberToObject(rse, r->names[d], r->value[d] != 0 ? r->se[d] / fabs(r->value[d]) : 0);
    } else {
      cJSON_AddNullToObject(se, r->names[d]);
      cJSON_AddNullToObject(rse, r->names[d]);
    }
    cJSON_AddNumberToObject(ns, r->names[d], r->newton[d]);
  }
  if (r->change_rows > 1) {
    cJSON *ch = cJSON_AddObjectToObject(u, "recent_change");
    for (int d = 0; d < r->ndim; ++d) cJSON_AddNumberToObject(ch, r->names[d], r->change[d]);
    cJSON_AddNumberToObject(u, "recent_change_rows", r->change_rows);
  }
  cJSON_AddBoolToObject(u, "smaller_than_recent_change", r->se_below_change);
  cJSON_AddStringToObject(u, "note", r->se_below_change
      ? "some standard error is smaller than the change of its value over the last iterations (recent_change): the "
        "error bars measure the residual at the reported point only, not how far the fit is from its minimum or from "
        "the truth; with noise-free synthetic targets they are tiny by construction"
      : "standard errors from the residual at the reported point, read as noise; with noise-free synthetic targets "
        "they measure the model's and the renderer's own error only, not the distance to the truth");
  cJSON *names = cJSON_AddArrayToObject(u, "names"), *m = cJSON_AddArrayToObject(u, "correlation");
  for (int i = 0; i < r->ndim; ++i) {
    cJSON_AddItemToArray(names, cJSON_CreateString(r->names[i]));
    cJSON *row = cJSON_CreateArray();
    for (int k = 0; k < r->ndim; ++k)
      cJSON_AddItemToArray(row, isfinite(r->corr[i * r->ndim + k]) ? cJSON_CreateNumber(r->corr[i * r->ndim + k])
                                                                   : cJSON_CreateNull());
    cJSON_AddItemToArray(m, row);
  }
  cJSON *hs = cJSON_AddArrayToObject(u, "hessian_step_space"), *gs = cJSON_AddArrayToObject(u, "gradient_step_space");
  for (int i = 0; i < r->ndim; ++i) {
    cJSON_AddItemToArray(hs, cJSON_CreateDoubleArray(r->hessian + i * r->ndim, r->ndim));
    cJSON_AddItemToArray(gs, cJSON_CreateNumber(r->gradient[i]));
  }
}

void pl_fit_print_summary(const pl_fit_result *r) {
  fprintf(stderr, "pipeline optimize: %s: %s\n", pl_fit_verdict_name(r->verdict), r->reason);
  fprintf(stderr, "  loss: start %.4g, best %.4g (reported), last iterate %.4g\n", r->start_loss, r->best_loss,
          r->last_loss);
  if (!r->has_curvature) return;
  for (int d = 0; d < r->ndim; ++d) {
    if (isfinite(r->se[d]))
      fprintf(stderr, "  %-36s %14.6g +- %-12.4g (%.3g%%)\n", r->names[d], r->value[d], r->se[d],
              r->value[d] != 0 ? 100 * r->se[d] / fabs(r->value[d]) : 0.0);
    else
      fprintf(stderr, "  %-36s %14.6g +- (undetermined: the curvature is not positive definite)\n", r->names[d],
              r->value[d]);
  }
  if (r->se_below_change)
    fprintf(stderr, "  warning: some error bar is smaller than the change of its value over the last %d rows of fit.csv "
                    "(result.json: uncertainty.recent_change): the error bars measure the residual only, not how far "
                    "the fit still is from its minimum or the truth\n", r->change_rows);
  else
    fprintf(stderr, "  (error bars: the residual at the reported point read as noise; with noise-free targets they do "
                    "not bound the distance to the truth, docs/fitting.md)\n");
  if (r->ndim > 1 && isfinite(r->corr[1])) {
    fprintf(stderr, "  correlation:");
    for (int i = 0; i < r->ndim; ++i)
      for (int k = i + 1; k < r->ndim; ++k) fprintf(stderr, " (%d,%d) %+.3f", i, k, r->corr[i * r->ndim + k]);
    fprintf(stderr, "\n");
  }
}
