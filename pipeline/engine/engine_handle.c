/* engine_handle.c: learnable values as typed handles: resolved once from their address, then set and
 * differentiated by a switch on the kind (engine_handle.h).
 *
 *   kind               set                                   gradient from
 *   material field     mpm_set_material                      mpm_grads.<field>[material]
 *   gravity            the grid's gravity                    mpm_grads.gravity
 *   velocity           v_p = v + w x (x_p - c)               dL/dv = sum_p g_v0, dL/dw = sum_p (x_p - c) x g_v0
 *   pose, camera,      engine_params.c                       engine_params.c
 *   background
 *   friction           mpm_set_friction, mpm_set_wall_friction  mpm_grads.collider_friction, .wall_friction[6]
 *                      (sim.boundary_friction: every wall without its own boundary_friction_<wall>; its gradient
 *                      the sum of those walls')
 *   upsample scalar    ups_set_params                ups_grads */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/engine/engine_handle.h"
#include "pipeline/engine/engine_params.h"
#include "pipeline/engine/particle_fields.h"

/* the material fields the simulator can change, with their place in mpm_material and mpm_grads */
static const struct {
  const char *key;
  size_t value, grad;
} material_fields[] = {
    {"E", offsetof(mpm_material, E), offsetof(mpm_grads, E)},
    {"nu", offsetof(mpm_material, nu), offsetof(mpm_grads, nu)},
    {"density", offsetof(mpm_material, density), offsetof(mpm_grads, density)},
    {"yield_stress", offsetof(mpm_material, yield_stress), offsetof(mpm_grads, yield_stress)},
    {"viscosity", offsetof(mpm_material, viscosity), offsetof(mpm_grads, viscosity)},
    {"friction_angle", offsetof(mpm_material, friction_angle), offsetof(mpm_grads, friction_angle)},
    {"cohesion", offsetof(mpm_material, cohesion), offsetof(mpm_grads, cohesion)},
    {"bulk_modulus", offsetof(mpm_material, bulk_modulus), offsetof(mpm_grads, bulk_modulus)},
};
#define NFIELDS ((int)(sizeof material_fields / sizeof material_fields[0]))

static const char *const upsample_keys[3] = {"sigma0", "thickness", "opacity"};

static int key_index(const char *const *keys, int n, const char *key) {
  for (int i = 0; i < n; ++i)
    if (strcmp(keys[i], key) == 0) return i;
  return -1;
}

/* index of [type name] (-1: none), -2 for a type whose sections hold no learnable value */
static int named_index(const pl_scene *s, const char *type, const char *name) {
  if (strcmp(type, "object") == 0) {
    for (int o = 0; o < s->nobjects; ++o)
      if (strcmp(s->objects[o].name, name) == 0) return o;
  } else if (strcmp(type, "collider") == 0) {
    for (int c = 0; c < s->ncolliders; ++c)
      if (strcmp(s->colliders[c].name, name) == 0) return c;
  } else if (strcmp(type, "camera") == 0) {
    return pl_scene_camera_index(s, name);
  } else if (strcmp(type, "material") == 0) {
    return pl_scene_material_index(s, name);
  } else {
    return -2;
  }
  return -1;
}

static pl_status resolve_material(const char *address, const char *key, engine_param *h) {
  for (int i = 0; i < NFIELDS; ++i)
    if (strcmp(material_fields[i].key, key) == 0) {
      h->kind = ENGINE_P_MATERIAL;
      h->field = i;
      return PL_OK;
    }
  return pl_fail(PL_ERR_UNSUPPORTED, "%s: not a value the simulator can change", address);
}

static pl_status resolve_named(const char *address, const char *type, const char *name, const char *key,
                               engine_param *h) {
  if (h->index == -1) return pl_fail(PL_ERR_INVALID, "%s: no [%s %s]", address, type, name);
  if (strcmp(type, "material") == 0) return resolve_material(address, key, h);
  if (strcmp(type, "object") == 0) {
    if (strcmp(key, "velocity") == 0 || strcmp(key, "angular_velocity") == 0) h->kind = ENGINE_P_VELOCITY;
    else if (strcmp(key, "center") == 0 || strcmp(key, "rotation") == 0) h->kind = ENGINE_P_POSE;
    h->field = (key[0] == 'v' || key[0] == 'c') ? 0 : 3;
  } else if (strcmp(type, "collider") == 0 && h->index >= 0 && strcmp(key, "friction") == 0) {
    h->kind = ENGINE_P_COLLIDER_FRICTION;
  } else if (strcmp(type, "camera") == 0 && h->index >= 0) {
    static const char *const cam_keys[3] = {"translation_offset", "rotation_offset", "focal_scale"};
    int k = key_index(cam_keys, 3, key);
    if (k >= 0) h->kind = ENGINE_P_CAMERA, h->field = 3 * k;
  }
  if (h->kind == ENGINE_P_INVALID)
    return pl_fail(PL_ERR_UNSUPPORTED, "%s: not a learnable value of the pipeline", address);
  return PL_OK;
}

pl_status engine_param_resolve(const pl_engine *e, const char *address, engine_param *h) {
  const pl_scene *s = e->scene;
  char type[PL_NAME_MAX], name[PL_NAME_MAX], key[PL_NAME_MAX];
  memset(h, 0, sizeof *h);
  PL_TRY(pl_config_split_address(&s->config, address, type, name, key, PL_NAME_MAX));
  if (strcmp(type, "sim") == 0) {
    if (strcmp(key, "gravity") == 0) h->kind = ENGINE_P_GRAVITY;
    else if (strcmp(key, "boundary_friction") == 0) h->kind = ENGINE_P_BOUNDARY_FRICTION;
    else if (strncmp(key, "boundary_friction_", 18) == 0) {
      static const char *walls[6] = {"x_min", "x_max", "y_min", "y_max", "z_min", "z_max"};
      h->index = key_index(walls, 6, key + 18);
      if (h->index >= 0) h->kind = ENGINE_P_WALL_FRICTION;
    }
  } else if (strcmp(type, "render") == 0 && strcmp(key, "background") == 0) {
    h->kind = ENGINE_P_BACKGROUND;
  } else if (strcmp(type, "upsample") == 0) {
    h->field = key_index(upsample_keys, 3, key);
    if (h->field < 0) return pl_fail(PL_ERR_UNSUPPORTED, "%s: not a value the upsampler can change", address);
    h->kind = ENGINE_P_UPSAMPLE;
  } else if (name[0]) {
    h->index = named_index(s, type, name);
    return resolve_named(address, type, name, key, h);
  }
  if (h->kind == ENGINE_P_INVALID)
    return pl_fail(PL_ERR_UNSUPPORTED, "%s: not a learnable value of the pipeline", address);
  return PL_OK;
}

pl_status engine_params_resolve_all(pl_engine *e) {
  const pl_scene *s = e->scene;
  e->handles = (engine_param *)calloc((size_t)(s->nparams ? s->nparams : 1), sizeof *e->handles);
  if (!e->handles) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < s->nparams; ++i)
    if (engine_param_resolve(e, s->params[i].address, &e->handles[i]) != PL_OK) {
      e->handles[i].kind = ENGINE_P_INVALID; /* reported when it is set (as before any evaluation) */
      pl_clear_error();
    }
  return PL_OK;
}

const engine_param *engine_param_of(const pl_engine *e, const pl_param *p, engine_param *tmp) {
  const pl_scene *s = e->scene;
  for (int i = 0; i < s->nparams; ++i)
    if (strcmp(s->params[i].address, p->address) == 0) return &e->handles[i];
  if (engine_param_resolve(e, p->address, tmp) != PL_OK) {
    tmp->kind = ENGINE_P_INVALID;
    pl_clear_error();
  }
  return tmp;
}

static pl_status need3(const char *address, int ncomp) {
  return ncomp == 3 ? PL_OK : pl_fail(PL_ERR_INVALID, "%s needs 3 values", address);
}

static pl_status set_material(pl_engine *e, const engine_param *h, const char *address, double x) {
  mpm_material mat = e->sim->materials[h->index];
  *(double *)((char *)&mat + material_fields[h->field].value) = x;
  pl_status st = mpm_set_material(e->sim, h->index, &mat);
  if (st != PL_OK) return pl_fail_context(st, "%s = %g: ", address, x);
  return engine_fields_apply(e); /* particles with per-particle moduli on their material's E or nu */
}

static pl_status set_upsample(pl_engine *e, const engine_param *h, const char *address, double x) {
  ups_params p;
  ups_get_params(e->ups, &p);
  double *dst[3] = {&p.sigma0, &p.thickness, &p.opacity};
  *dst[h->field] = x;
  pl_status st = ups_set_params(e->ups, &p);
  if (st != PL_OK) return pl_fail_context(st, "%s = %g: ", address, x);
  return PL_OK;
}

pl_status engine_param_set(pl_engine *e, const engine_param *h, const char *address, const double *v, int ncomp) {
  for (int k = 0; k < ncomp; ++k)
    if (!isfinite(v[k])) return pl_fail(PL_ERR_NUMERIC, "%s: the value is not finite", address);
  switch (h->kind) {
  case ENGINE_P_MATERIAL:
    return set_material(e, h, address, v[0]);
  case ENGINE_P_GRAVITY:
    PL_TRY(need3(address, ncomp));
    e->sim->grid.gravity = v3_make((real)v[0], (real)v[1], (real)v[2]);
    return PL_OK;
  case ENGINE_P_VELOCITY:
    PL_TRY(need3(address, ncomp));
    for (int k = 0; k < 3; ++k) e->obj_velocity[6 * h->index + h->field + k] = v[k];
    return engine_refresh_velocities(e);
  case ENGINE_P_POSE:
    return engine_params_set_pose(e, h->index, h->field, v, ncomp, address);
  case ENGINE_P_COLLIDER_FRICTION:
    return mpm_set_friction(e->sim, h->index, v[0]);
  case ENGINE_P_BOUNDARY_FRICTION:
    for (int w = 0; w < 6; ++w)
      if (!e->scene->sim.wall_friction_own[w]) PL_TRY(mpm_set_wall_friction(e->sim, w, v[0]));
    return PL_OK;
  case ENGINE_P_WALL_FRICTION:
    return mpm_set_wall_friction(e->sim, h->index, v[0]);
  case ENGINE_P_CAMERA:
    return engine_params_set_camera(e, h->index, h->field, v, ncomp, address);
  case ENGINE_P_BACKGROUND:
    return engine_params_set_background(e, v, ncomp, address);
  case ENGINE_P_UPSAMPLE:
    return set_upsample(e, h, address, v[0]);
  case ENGINE_P_INVALID:
    break;
  }
  engine_param again; /* the reason it did not resolve */
  PL_TRY(engine_param_resolve(e, address, &again));
  return pl_fail(PL_ERR_INTERNAL, "%s: unresolved parameter", address);
}

/* dL/dv = sum_p g_p, dL/dw = sum_p (x_p - c) x g_p over the object's particles */
static void velocity_gradient(pl_engine *e, const mpm_grads *g, int o, int angular, double out[3]) {
  const double *c = engine_object_center(e, o);
  for (int k = 0; k < 3; ++k) out[k] = 0;
  for (int64_t i = 0; i < e->n; ++i) {
    if (e->init_host.object[i] != o) continue;
    const real *gv = g->v0 + 3 * i;
    if (!angular) {
      for (int k = 0; k < 3; ++k) out[k] += gv[k];
    } else {
      double r[3] = {e->init_host.x[3 * i] - c[0], e->init_host.x[3 * i + 1] - c[1], e->init_host.x[3 * i + 2] - c[2]};
      out[0] += r[1] * gv[2] - r[2] * gv[1];
      out[1] += r[2] * gv[0] - r[0] * gv[2];
      out[2] += r[0] * gv[1] - r[1] * gv[0];
    }
  }
}

pl_status engine_param_gradient(pl_engine *e, const engine_param *h, const mpm_grads *g, const ups_grads *ug,
                                pl_param *p) {
  memset(p->grad, 0, sizeof p->grad);
  switch (h->kind) {
  case ENGINE_P_MATERIAL: {
    const double *src = *(double *const *)((const char *)g + material_fields[h->field].grad);
    p->grad[0] = src[h->index];
    return PL_OK;
  }
  case ENGINE_P_GRAVITY:
    for (int k = 0; k < 3; ++k) p->grad[k] = g->gravity[k];
    return PL_OK;
  case ENGINE_P_VELOCITY:
    velocity_gradient(e, g, h->index, h->field == 3, p->grad);
    return PL_OK;
  case ENGINE_P_POSE:
    return engine_params_pose_gradient(e, g, h->index, h->field, p);
  case ENGINE_P_COLLIDER_FRICTION:
    p->grad[0] = h->index < g->ncolliders ? g->collider_friction[h->index] : 0;
    return PL_OK;
  case ENGINE_P_BOUNDARY_FRICTION:
    for (int w = 0; w < 6; ++w)
      if (!e->scene->sim.wall_friction_own[w]) p->grad[0] += g->wall_friction[w];
    return PL_OK;
  case ENGINE_P_WALL_FRICTION:
    p->grad[0] = g->wall_friction[h->index];
    return PL_OK;
  case ENGINE_P_CAMERA:
    return engine_params_camera_gradient(e, h->index, h->field, p);
  case ENGINE_P_BACKGROUND:
    engine_params_background_gradient(e, p);
    return PL_OK;
  case ENGINE_P_UPSAMPLE: {
    const double src[3] = {ug->sigma0, ug->thickness, ug->opacity};
    p->grad[0] = src[h->field];
    return PL_OK;
  }
  case ENGINE_P_INVALID:
    break;
  }
  return pl_fail(PL_ERR_UNSUPPORTED, "%s: not a learnable value of the pipeline", p->address);
}
