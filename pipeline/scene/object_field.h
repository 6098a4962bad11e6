/* object_field.h: an object's per-particle Young's modulus and Poisson ratio as scene keys ([object] E_field,
 * nu_field, learn_E_field, E_field_grid, E_field_interp, E_field_lr, E_field_smoothness). The model, its set-up
 * on the simulator and its adjoint: engine/particle_fields.h. */
#ifndef PL_OBJECT_FIELD_H
#define PL_OBJECT_FIELD_H

#include "pipeline/scene/config.h"
#include "pipeline/scene/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Scene side (scene.c): read and validate [object NAME] E_field, nu_field, learn_E_field, E_field_* into o->field
 * (errors name the file, line and key). Objects before o in s are complete; o->material is resolved. */
pl_status pl_scene_object_field(const pl_config *c, const char *name, const pl_scene *s, pl_scene_object *o);
/* Whether any object learns its E field. */
int pl_scene_learns_fields(const pl_scene *s);

#ifdef __cplusplus
}
#endif
#endif
