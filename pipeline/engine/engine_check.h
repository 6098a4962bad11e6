/* engine_check.h: stage-by-stage gradient checks inside the real pipeline (see engine_check.c). */
#ifndef PL_ENGINE_CHECK_H
#define PL_ENGINE_CHECK_H

#include "pipeline/engine/engine.h"
#include "pipeline/fit/gradcheck.h"

#ifdef __cplusplus
extern "C" {
#endif

/* stage "raster" (the Gaussians) or "upsample" (particles' x and F) at `frame` (-1: the last loss frame):
 * `samples` entries, central differences with step rel_step * max(|value|, floor), Richardson-extrapolated. */
pl_status pl_engine_stage_check(pl_engine *e, const char *stage, int frame, int samples, double rel_step, double tol,
                                pl_gc_row *rows, int max, int *nrows);

/* stage "mpm": every learnable parameter of the simulation (materials, objects' initial velocities, gravity)
 * through the scene's simulation alone, on a smooth loss of the particle states at the loss frames (fixed
 * pseudo-random weights on x, v, F): the MPM adjoint against central differences (engine_grad.c). */
pl_status pl_engine_mpm_check(pl_engine *e, pl_optimizer *o, const pl_gc_options *opt, pl_gc_row *rows, int max,
                              int *nrows);

#ifdef __cplusplus
}
#endif
#endif
