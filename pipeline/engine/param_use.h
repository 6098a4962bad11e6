/* param_use.h: does the pipeline use the value a [param] section names, in this scene?
 *
 * A learnable value that the scene's models ignore (yield_stress on a fixed_corotated material, thickness when
 * every Gaussian is an isotropic particle splat, the friction of a sticky collider) would keep its start value
 * with an exactly zero gradient. It is refused when the scene is loaded, with the key and the model named. */
#ifndef PL_PARAM_USE_H
#define PL_PARAM_USE_H

#include "pipeline/scene/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

/* PL_OK when some model of the scene reads the value; else PL_ERR_INVALID naming `loc`, the key and the model. */
pl_status pl_param_check_used(const pl_scene *s, const pl_scene_param *p, const char *loc);

#ifdef __cplusplus
}
#endif
#endif
