/* sweep_profile.h: `pipeline sweep --around RESULT.json`: a profile of the loss through a fitted point.
 *
 * The fitted values of a result.json (parameters.ADDRESS.fitted) become overrides of the scene, so a sweep of one
 * axis is the loss along that value with every other learnable value at its fit; with one axis the sweep also
 * draws profile.png (loss against the axis, the fitted value marked by the curve's minimum). */
#ifndef PL_SWEEP_PROFILE_H
#define PL_SWEEP_PROFILE_H

#include "core/status.h"
#include "pipeline/scene/scene.h"

/* A copy of `s` with the fitted values of `result_json` applied, except `skip` (the swept address). */
pl_status pl_sweep_apply_fitted(pl_scene *out, const pl_scene *s, const char *result_json, const char *skip);
/* profile.png: loss (log scale) against the axis. */
pl_status pl_sweep_profile_png(const char *path, const char *address, int n, const double *x, const double *loss);

#endif
