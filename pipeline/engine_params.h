/* engine_params.h: the engine's learnable friction, object placement and background colour (engine_params.c). */
#ifndef PL_ENGINE_PARAMS_H
#define PL_ENGINE_PARAMS_H

#include "mpm/mpm_adjoint.h"
#include "pipeline/engine_internal.h"

/* pl_engine_set for these addresses: returns 1 when it handled the address (status in *st), else 0. */
int engine_params_set(pl_engine *e, const char *address, const char *type, const char *name, const char *key,
                      const double *v, int ncomp, pl_status *st);
/* their gradient from the MPM cotangents (and the background's own sum): returns 1 when handled. */
int engine_params_gradient(pl_engine *e, const mpm_grads *g, const char *type, const char *name, const char *key,
                           pl_param *p, pl_status *st);
/* at the start of a gradient pass, and after each loss frame's image cotangents (background) */
pl_status engine_params_zero_grads(pl_engine *e);
pl_status engine_params_frame_adjoint(pl_engine *e);
/* the current centre of object o (its initial placement) */
const double *engine_object_center(pl_engine *e, int o);
void engine_params_free(pl_engine *e);
/* the cameras' pose and focal corrections (camera.NAME.translation_offset, rotation_offset, focal_scale):
 * applied at set-up when given; the rasterizer's camera cotangents buffer when they learn (else NULL) */
pl_status engine_params_init_cameras(pl_engine *e);
real *engine_params_camera_grads(pl_engine *e);

#endif
