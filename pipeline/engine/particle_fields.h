/* particle_fields.h (engine side; the scene keys: scene/object_field.h): per-particle Young's modulus and Poisson ratio of an object, given as expressions
 * ([object] E_field, nu_field) or learnt as a heterogeneous field (learn_E_field).
 *
 * A learnt field is log E on a coarse grid over the object's bounding box at rest (E_field_grid nodes per axis,
 * trilinear between them, or E_field_grid cells with one value each: E_field_interp = cells), interpolated to
 * each particle at its initial (sampled) position, so the field moves with the object:
 *
 *     E_p = exp( sum_k w_pk u_k ),   u_k = log E at grid value k,   w_pk trilinear (or 1 in the particle's cell)
 *
 * The simulator takes E_p and nu_p per particle (mpm_set_particle_moduli); its adjoint returns dL/dE_p
 * (mpm_grads.particle_E), so dL/du_k = sum_p w_pk E_p dL/dE_p. Particles of objects without a field keep their
 * material's values, and their dL/dE_p, dL/dnu_p are summed back into the material's gradient. An optional
 * regulariser, E_field_smoothness * mean over neighbouring grid values of (u_a - u_b)^2, is part of the loss
 * (the objective optimize descends and gradcheck checks). Why a coarse grid rather than one value per particle:
 * docs/adjoints.md ("Heterogeneous E"). */
#ifndef PL_PARTICLE_FIELDS_H
#define PL_PARTICLE_FIELDS_H

#include "mpm/mpm_adjoint.h"
#include "pipeline/fit/gradcheck.h"
#include "pipeline/scene/object_field.h"
#include "pipeline/scene/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pl_engine;

/* Engine side. Set up the per-particle moduli at engine creation (nothing when no object has a field). */
pl_status engine_fields_create(struct pl_engine *e);
void engine_fields_free(struct pl_engine *e);
/* Recompute and upload the per-particle moduli (after a material's E or nu changed, or a grid value). */
pl_status engine_fields_apply(struct pl_engine *e);
/* After the MPM adjoint: the grid values' dL/du and the material sums of the particles without a field. */
pl_status engine_fields_gradient(struct pl_engine *e, mpm_grads *g);
/* The regulariser: adds its value to loss->total (and to the grid gradients when want_grad). */
pl_status engine_fields_regularise(struct pl_engine *e, int want_grad, double *total);
int pl_engine_learns_fields(const struct pl_engine *e);
/* The files the learnt fields write, for a listing: ", E_field.csv", ", positions.csv", both, or "". */
const char *pl_engine_fields_outputs(const struct pl_engine *e);
/* One Adam step of every learnt field (lr_scale: schedule x stage factor). */
pl_status pl_engine_fields_step(struct pl_engine *e, double lr_scale);
/* FOLDER/fields.bin (values and Adam moments, for --resume) and FOLDER/E_field.csv (object, index, position, E). */
pl_status pl_engine_fields_save(struct pl_engine *e, const char *folder);
pl_status pl_engine_fields_load(struct pl_engine *e, const char *folder);
/* FOLDER/E_field.csv alone: the current field (the fit's reported point, once it has been put back). */
pl_status pl_engine_fields_write_csv(struct pl_engine *e, const char *folder);
/* The learnt grid values (log E) of every field, in order: their count; with v, copied out (set = 0) or in
 * (set = 1, then applied to the particles). */
pl_status pl_engine_fields_values(struct pl_engine *e, double *v, int set, size_t *count);
/* gradcheck rows "object.NAME.E_field[k] (log E)": dL/du_k against central differences in u_k, for up to
 * `samples` grid values per field (largest adjoints first). */
pl_status pl_engine_fields_check(struct pl_engine *e, pl_optimizer *o, double rel_step, double tol, int samples,
                                 pl_gc_row *rows, int max, int *nrows);

#ifdef __cplusplus
}
#endif
#endif
