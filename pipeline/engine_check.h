/* engine_check.h: stage-by-stage gradient checks inside the real pipeline (see engine_check.c). */
#ifndef PL_ENGINE_CHECK_H
#define PL_ENGINE_CHECK_H

#include "pipeline/engine.h"
#include "pipeline/gradcheck.h"

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

/* The rasterizer's cut-offs for every later render (raster_options: alpha_min, transmittance_min; 0 = gsplat's
 * 1/255 and 1e-4). Small values make the image a smooth function of the parameters (gradcheck). */
void pl_engine_set_cutoffs(pl_engine *e, double alpha_min, double transmittance_min);

/* Depth order for every later render: 0 each Gaussian's own depth (as optimize renders); 1 record the camera
 * depths of every frame rendered and sort by them; 2 sort by the recorded ones (frames recorded in mode 1).
 * With the order frozen at a point, the loss near it is smooth (two overlapping splats of different colours
 * trading places is a jump), and the adjoint at that point is its derivative. */
void pl_engine_freeze_order(pl_engine *e, int mode);

#ifdef __cplusplus
}
#endif
#endif
