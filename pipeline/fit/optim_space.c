/* optim_space.c: a learnable parameter's spaces (theta <-> u, dtheta/du, the safe step) and its small helpers
 * (optim_space.h). Below both Adam (optim.c) and the learned coordinates (optim_coords.c), which use them. */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/fit/optim_space.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

double pl_space_value(pl_param_space space, double lo, double hi, double u) {
  switch (space) {
    case PL_SPACE_LOG: return exp(u);
    case PL_SPACE_BOUNDED: return lo + (hi - lo) / (1.0 + exp(-u));
    default: return u;
  }
}

double pl_space_dvalue(pl_param_space space, double lo, double hi, double u) {
  switch (space) {
    case PL_SPACE_LOG: return exp(u);
    case PL_SPACE_BOUNDED: {
      double s = 1.0 / (1.0 + exp(-u));
      return (hi - lo) * s * (1 - s);
    }
    default: return 1.0;
  }
}

pl_status pl_space_from_value(pl_param_space space, double lo, double hi, double theta, double *u, const char *what) {
  switch (space) {
    case PL_SPACE_LOG:
      if (!(theta > 0)) return pl_fail(PL_ERR_INVALID, "%s: %g must be > 0 in the log space", what, theta);
      *u = log(theta);
      return PL_OK;
    case PL_SPACE_BOUNDED: {
      if (!(theta > lo && theta < hi))
        return pl_fail(PL_ERR_INVALID, "%s: %g must lie strictly inside its bounds (%g, %g)", what, theta, lo, hi);
      double s = (theta - lo) / (hi - lo);
      *u = log(s / (1 - s));
      return PL_OK;
    }
    default:
      *u = theta;
      return PL_OK;
  }
}

double pl_space_safe_step(pl_param_space space, double u, double step) {
  if (space == PL_SPACE_LINEAR) return isfinite(step) ? u - step : u;
  /* log and bounded: one step changes u by at most PL_MAX_SPACE_STEP (a factor e in a log value), and u stays where
   * exp(u) is a normal positive double and the logistic map has not rounded to its bound */
  if (!isfinite(step)) step = 0;
  if (step > PL_MAX_SPACE_STEP) step = PL_MAX_SPACE_STEP;
  if (step < -PL_MAX_SPACE_STEP) step = -PL_MAX_SPACE_STEP;
  double lim = space == PL_SPACE_LOG ? PL_MAX_LOG_U : PL_MAX_LOGIT_U, v = u - step;
  return v > lim ? lim : v < -lim ? -lim : v;
}

double pl_param_value(const pl_param *p, int k) { return pl_space_value(p->space, p->lo, p->hi, p->u[k]); }

void pl_param_assignment(const pl_param *p, char *buf, size_t size) {
  if (p->components == 1)
    snprintf(buf, size, "%s=%.17g", p->address, pl_param_value(p, 0));
  else
    snprintf(buf, size, "%s=%.17g %.17g %.17g", p->address, pl_param_value(p, 0), pl_param_value(p, 1),
             pl_param_value(p, 2));
}

int pl_param_in_stage(const pl_param *p, const char *stage) {
  if (p->frozen) return 0;
  if (!stage || !stage[0] || strcmp(p->stages, "all") == 0) return 1;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", p->stages);
  char *save = NULL;
  for (char *tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save))
    if (strcmp(tok, stage) == 0) return 1;
  return 0;
}
