/* engine_handle.h: a learnable value of the pipeline resolved once into a typed handle (engine_handle.c).
 *
 * An address ("material.jelly.E", "object.cube.velocity", "camera.side.focal_scale", ...) is parsed and looked up
 * once, when the engine is created (one handle per [param] of the scene); each evaluation then sets the value and
 * reads its gradient by a switch on the handle's kind, never by parsing the address again. */
#ifndef PL_ENGINE_HANDLE_H
#define PL_ENGINE_HANDLE_H

#include "mpm/mpm_adjoint.h"
#include "pipeline/engine/engine_internal.h"

typedef enum {
  ENGINE_P_INVALID = 0,      /* not resolved: setting it reports why */
  ENGINE_P_MATERIAL,         /* index: material; field: row of the material field table (E, nu, density, ...) */
  ENGINE_P_GRAVITY,          /* sim.gravity */
  ENGINE_P_VELOCITY,         /* index: object; field 0 velocity, 3 angular_velocity */
  ENGINE_P_POSE,             /* index: object; field 0 center, 3 rotation */
  ENGINE_P_COLLIDER_FRICTION, /* index: collider */
  ENGINE_P_BOUNDARY_FRICTION, /* sim.boundary_friction (the walls without their own) */
  ENGINE_P_WALL_FRICTION,     /* sim.boundary_friction_<wall> (index: the wall, 0..5) */
  ENGINE_P_CAMERA,           /* index: camera; field 0 translation_offset, 3 rotation_offset, 6 focal_scale */
  ENGINE_P_BACKGROUND,       /* render.background */
  ENGINE_P_UPSAMPLE          /* field 0 sigma0, 1 thickness, 2 opacity */
} engine_param_kind;

struct engine_param {
  engine_param_kind kind;
  int index, field;
};

/* Resolve an address of the scene into a handle (errors name the address and why it is not learnable). */
pl_status engine_param_resolve(const pl_engine *e, const char *address, engine_param *h);
/* Set the value (ncomp components; validated: errors name the address). */
pl_status engine_param_set(pl_engine *e, const engine_param *h, const char *address, const double *v, int ncomp);
/* dL/dtheta into p->grad from the MPM gradients and the upsampler's (p->address names it in errors). */
pl_status engine_param_gradient(pl_engine *e, const engine_param *h, const mpm_grads *g, const ups_grads *ug,
                                pl_param *p);
/* The handles of the scene's [param] sections, resolved at engine creation; a parameter of o that is not one of
 * them (another caller's optimiser) is resolved on the spot into *tmp. */
const engine_param *engine_param_of(const pl_engine *e, const pl_param *p, engine_param *tmp);
pl_status engine_params_resolve_all(pl_engine *e);

#endif
