/* object_field.c: the scene side of an object's per-particle moduli: [object NAME] E_field, nu_field,
 * learn_E_field and E_field_* read and validated (object_field.h; the model is engine/particle_fields.h). */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/scene/object_field.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/expr.h"
#include "core/log.h"

#define FIELD_MAX_DIM 32

static pl_status parse_one(const pl_config *c, const char *name, const char *key, const char *text) {
  pl_expr ex;
  static const char *const xyz[3] = {"x", "y", "z"};
  if (pl_expr_parse_list(&ex, text, 1, xyz, 3) == PL_OK) return PL_OK;
  char why[512], loc[PL_PATH_MAX + 64];
  snprintf(why, sizeof why, "%s", pl_last_error());
  return pl_fail(PL_ERR_INVALID, "%s: [object %s] %s (one expression in x, y, z): %s",
                 pl_config_where(c, "object", name, key, loc, sizeof loc), name, key, why);
}

/* a grid's size: 1 or 3 integers in 1..FIELD_MAX_DIM (E_field_grid, positions_grid) */
static pl_status read_grid(const pl_config *c, const char *name, const char *key, int out[3]) {
  double g[3];
  char loc[PL_PATH_MAX + 64];
  PL_TRY(pl_config_vec3(c, "object", name, key, g, NULL));
  for (int k = 0; k < 3; ++k) {
    if (!(g[k] >= 1 && g[k] <= FIELD_MAX_DIM && g[k] == floor(g[k])))
      return pl_fail(PL_ERR_INVALID, "%s: [object %s] %s must be 1 or 3 integers in 1..%d (got %g %g %g)",
                     pl_config_where(c, "object", name, key, loc, sizeof loc), name, key, FIELD_MAX_DIM, g[0], g[1],
                     g[2]);
    out[k] = (int)g[k];
  }
  return PL_OK;
}

pl_status pl_scene_object_field(const pl_config *c, const char *name, const pl_scene *s, pl_scene_object *o) {
  pl_object_field *f = &o->field;
  memset(f, 0, sizeof *f);
  char loc[PL_PATH_MAX + 64];
  if (pl_config_text(c, "object", name, "E_field")) {
    PL_TRY(pl_config_string(c, "object", name, "E_field", f->E, sizeof f->E, NULL));
    PL_TRY(parse_one(c, name, "E_field", f->E));
  }
  if (pl_config_text(c, "object", name, "nu_field")) {
    PL_TRY(pl_config_string(c, "object", name, "nu_field", f->nu, sizeof f->nu, NULL));
    PL_TRY(parse_one(c, name, "nu_field", f->nu));
  }
  PL_TRY(pl_config_bool(c, "object", name, "learn_E_field", &f->learn, NULL));
  PL_TRY(read_grid(c, name, "E_field_grid", f->grid));
  char interp[32];
  PL_TRY(pl_config_string(c, "object", name, "E_field_interp", interp, sizeof interp, NULL));
  f->cells = strcmp(interp, "cells") == 0;
  PL_TRY(pl_config_real(c, "object", name, "E_field_lr", &f->lr, NULL));
  PL_TRY(pl_config_real(c, "object", name, "E_field_smoothness", &f->smoothness, NULL));
  PL_TRY(pl_config_bool(c, "object", name, "learn_positions", &f->learn_positions, NULL));
  PL_TRY(read_grid(c, name, "positions_grid", f->positions_grid));
  PL_TRY(pl_config_real(c, "object", name, "positions_lr", &f->positions_lr, NULL));
  PL_TRY(pl_config_real(c, "object", name, "positions_max", &f->positions_max, NULL));
  PL_TRY(pl_config_real(c, "object", name, "positions_smoothness", &f->positions_smoothness, NULL));
  /* the displacement's gradient is dL/dx_p + dL/dv_p x w (v = v0 + w x r); a velocity given as an expression or a
   * file of x would need its own derivative, which is not carried: refused rather than cut */
  if (f->learn_positions && (o->velocity_field[0] || o->velocity_file[0]))
    return pl_fail(PL_ERR_INVALID, "%s: [object %s] learn_positions with %s: the initial velocity would depend on "
                   "the learnt positions through it, whose derivative is not carried; give velocity and "
                   "angular_velocity instead", pl_config_where(c, "object", name, "learn_positions", loc, sizeof loc),
                   name, o->velocity_field[0] ? "velocity_field" : "velocity_file");
  if ((f->E[0] || f->nu[0] || f->learn) && s->materials[o->material].model == PL_MAT_NEWTONIAN_FLUID)
    return pl_fail(PL_ERR_INVALID, "%s: [object %s] is a newtonian_fluid (bulk_modulus and viscosity, no E or nu): "
                   "E_field, nu_field and learn_E_field do not apply",
                   pl_config_where(c, "object", name, f->learn ? "learn_E_field" : (f->E[0] ? "E_field" : "nu_field"),
                                   loc, sizeof loc), name);
  return PL_OK;
}

int pl_scene_learns_fields(const pl_scene *s) {
  for (int o = 0; o < s->nobjects; ++o)
    if (s->objects[o].field.learn || s->objects[o].field.learn_positions) return 1;
  return 0;
}
