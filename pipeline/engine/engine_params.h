/* engine_params.h: the engine's learnable initial velocities, friction, object placement, camera corrections
 * and background colour (engine_params.c); engine_handle.c dispatches to them. */
#ifndef PL_ENGINE_PARAMS_H
#define PL_ENGINE_PARAMS_H

#include "mpm/mpm_adjoint.h"
#include "pipeline/engine/engine_internal.h"

/* v_p = v + w x (x_p - c) of every object (then the velocity field) into the initial state */
pl_status engine_refresh_velocities(pl_engine *e);
/* object o's centre (field 0) or rotation (field 3), camera c's translation_offset (0), rotation_offset (3) or
 * focal_scale (6), render.background: set (errors name `address`) ... */
pl_status engine_params_set_pose(pl_engine *e, int o, int field, const double *v, int ncomp, const char *address);
pl_status engine_params_set_camera(pl_engine *e, int c, int field, const double *v, int ncomp, const char *address);
pl_status engine_params_set_background(pl_engine *e, const double *v, int ncomp, const char *address);
/* ... and their gradients into p->grad (the pose's from the MPM cotangents of the initial state) */
pl_status engine_params_pose_gradient(pl_engine *e, const mpm_grads *g, int o, int field, pl_param *p);
pl_status engine_params_camera_gradient(pl_engine *e, int c, int field, pl_param *p);
void engine_params_background_gradient(pl_engine *e, pl_param *p);
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
