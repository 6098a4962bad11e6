/* param_use.c: refuse a [param] whose value no model of the scene reads (see param_use.h). */
#include "pipeline/engine/param_use.h"

#include <string.h>

/* The material keys each constitutive model reads (mpm/materials.h; density enters every model through the
 * particle masses). */
static int material_uses(pl_material_model m, const char *key) {
  if (strcmp(key, "density") == 0) return 1;
  switch (m) {
    case PL_MAT_FIXED_COROTATED:
    case PL_MAT_NEO_HOOKEAN: return !strcmp(key, "E") || !strcmp(key, "nu");
    case PL_MAT_STVK_VON_MISES:
    case PL_MAT_VISCOPLASTIC:
      return !strcmp(key, "E") || !strcmp(key, "nu") || !strcmp(key, "yield_stress") || !strcmp(key, "viscosity");
    case PL_MAT_DRUCKER_PRAGER:
      return !strcmp(key, "E") || !strcmp(key, "nu") || !strcmp(key, "friction_angle") || !strcmp(key, "cohesion");
    case PL_MAT_NEWTONIAN_FLUID: return !strcmp(key, "bulk_modulus") || !strcmp(key, "viscosity");
    default: return 1;
  }
}

static const char *material_keys(pl_material_model m) {
  switch (m) {
    case PL_MAT_FIXED_COROTATED:
    case PL_MAT_NEO_HOOKEAN: return "E, nu, density";
    case PL_MAT_STVK_VON_MISES:
    case PL_MAT_VISCOPLASTIC: return "E, nu, density, yield_stress, viscosity";
    case PL_MAT_DRUCKER_PRAGER: return "E, nu, density, friction_angle, cohesion";
    case PL_MAT_NEWTONIAN_FLUID: return "density, bulk_modulus, viscosity";
    default: return "?";
  }
}

/* the upsample mode an object resolves to (as pl_ups_desc resolves `auto`) */
static pl_upsample_mode object_ups_mode(const pl_scene *s, int o) {
  if (s->upsample.mode != PL_UPSAMPLE_AUTO) return s->upsample.mode;
  pl_material_model mm = s->materials[s->objects[o].material].model;
  int flows = mm == PL_MAT_DRUCKER_PRAGER || mm == PL_MAT_NEWTONIAN_FLUID || mm == PL_MAT_VISCOPLASTIC;
  return flows ? PL_UPSAMPLE_RUNTIME : PL_UPSAMPLE_BOUND;
}

pl_status pl_param_check_used(const pl_scene *s, const pl_scene_param *p, const char *loc) {
  if (strcmp(p->type, "material") == 0) {
    int m = pl_scene_material_index(s, p->name);
    if (m < 0) return PL_OK; /* resolve_address has named the missing section */
    pl_material_model model = s->materials[m].model;
    if (!material_uses(model, p->key))
      return pl_fail(PL_ERR_INVALID, "%s: model %s does not use %s (it reads %s): the value would never change; "
                     "remove the section or change the model", loc, pl_material_model_name(model), p->key,
                     material_keys(model));
    int used = 0; /* a material no object is made of is read by nothing */
    for (int o = 0; o < s->nobjects; ++o) used |= s->objects[o].material == m;
    if (!used) return pl_fail(PL_ERR_INVALID, "%s: no [object] is made of material %s", loc, p->name);
    /* every object of the material replacing E (E_field, learn_E_field) or nu (nu_field) per particle */
    int isE = !strcmp(p->key, "E"), isnu = !strcmp(p->key, "nu"), reads = 0;
    for (int o = 0; o < s->nobjects; ++o) {
      const pl_object_field *f = &s->objects[o].field;
      if (s->objects[o].material == m && !(isE && (f->E[0] || f->learn)) && !(isnu && f->nu[0])) reads = 1;
    }
    if ((isE || isnu) && !reads && model != PL_MAT_DRUCKER_PRAGER) /* (DP's apex reads E) */
      return pl_fail(PL_ERR_INVALID, "%s: every object of material %s replaces %s per particle (%s): the material's "
                     "value is never read", loc, p->name, p->key, isE ? "E_field or learn_E_field" : "nu_field");
    return PL_OK;
  }
  if (strcmp(p->type, "upsample") == 0 && strcmp(p->key, "thickness") == 0) {
    for (int o = 0; o < s->nobjects; ++o)
      if (object_ups_mode(s, o) != PL_UPSAMPLE_PARTICLES) return PL_OK;
    return pl_fail(PL_ERR_INVALID, "%s: upsample mode particles does not use thickness (every Gaussian is an "
                   "isotropic splat per particle)", loc);
  }
  if (strcmp(p->type, "collider") == 0 && strcmp(p->key, "friction") == 0) {
    for (int c = 0; c < s->ncolliders; ++c)
      if (strcmp(s->colliders[c].name, p->name) == 0 && s->colliders[c].type == PL_CONTACT_STICKY)
        return pl_fail(PL_ERR_INVALID, "%s: a sticky collider does not use friction (use type = slip or separate)", loc);
    return PL_OK;
  }
  if (strcmp(p->type, "sim") == 0 && strcmp(p->key, "boundary_friction") == 0) {
    int used = 0; /* by a wall that is not sticky and has no friction of its own */
    for (int w = 0; w < 6; ++w) used |= s->sim.walls[w] != PL_CONTACT_STICKY && !s->sim.wall_friction_own[w];
    if (!used)
      return pl_fail(PL_ERR_INVALID, "%s: no wall uses boundary_friction (each is sticky or has its own "
                     "boundary_friction_<wall>)", loc);
    return PL_OK;
  }
  if (strcmp(p->type, "sim") == 0 && strncmp(p->key, "boundary_friction_", 18) == 0) {
    static const char *walls[6] = {"x_min", "x_max", "y_min", "y_max", "z_min", "z_max"};
    for (int w = 0; w < 6; ++w) {
      if (strcmp(p->key + 18, walls[w]) != 0) continue;
      if (s->sim.walls[w] == PL_CONTACT_STICKY)
        return pl_fail(PL_ERR_INVALID, "%s: the %s wall is sticky (sim.boundary_%s) and does not use friction", loc,
                       walls[w], walls[w]);
      if (!s->sim.wall_friction_own[w]) /* else sim.boundary_friction would set it too */
        return pl_fail(PL_ERR_INVALID, "%s: give the wall its own friction in the scene (sim.%s = ...) to learn it", loc,
                       p->key);
    }
    return PL_OK;
  }
  return PL_OK;
}
