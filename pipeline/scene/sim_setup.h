/* sim_setup.h: the glue from a scene (pipeline/scene/scene.h) to the MPM simulator (mpm/mpm.h).
 *
 * pl_sim_setup() maps [sim], [material], [object] and [collider] onto mpm descriptors, fills the objects with
 * particles (errors name the object and the scene file's key), and initialises the simulation on the scene's
 * backend. The mapping functions are separate so that the optimiser can push changed parameters with
 * mpm_set_material(). */
#ifndef PL_SIM_SETUP_H
#define PL_SIM_SETUP_H

#include "mpm/mpm.h"
#include "pipeline/scene/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

/* mpm enums from scene enums */
int pl_sim_contact(pl_contact c);
void pl_sim_material(const pl_scene_material *m, mpm_material *out);
void pl_sim_object(const pl_scene *s, int i, mpm_object *out);
void pl_sim_collider(const pl_scene_collider *c, mpm_collider *out);
/* The simulation descriptor (materials and colliders point into the arrays the caller provides, sized
 * s->nmaterials and s->ncolliders). */
void pl_sim_desc(const pl_scene *s, mpm_material *mats, mpm_collider *cols, mpm_desc *d);

/* Add each object's velocity_file (velocity_file.h) and velocity_field (core/expr.h) at the particles'
 * positions to v [n][3] (x [n][3], object [n]).
 * A non-finite value is an error naming the object, the particle and its position. */
pl_status pl_sim_velocity_field(const pl_scene *s, int64_t n, const real *x, const int32_t *object, real *v);

/* Build and initialise the simulation of a scene (*sim: mpm_destroy it; NULL on failure). `rgb` (may be NULL)
 * receives a malloc'ed [n][3] array of particle colours (their object's colour). */
pl_status pl_sim_setup(const pl_scene *s, mpm_sim **sim, float **rgb);

#ifdef __cplusplus
}
#endif
#endif
