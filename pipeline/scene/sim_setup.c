/* sim_setup.c: scene -> MPM descriptors -> an initialised simulation. */
#include "pipeline/scene/sim_setup.h"
#include "pipeline/scene/splat_object.h"
#include "pipeline/scene/hull_object.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/expr.h"
#include "pipeline/scene/velocity_file.h"

int pl_sim_contact(pl_contact c) {
  switch (c) {
    case PL_CONTACT_STICKY: return MPM_CONTACT_STICKY;
    case PL_CONTACT_SLIP: return MPM_CONTACT_SLIP;
    case PL_CONTACT_SEPARATE: return MPM_CONTACT_SEPARATE;
  }
  return MPM_CONTACT_SLIP;
}

void pl_sim_material(const pl_scene_material *m, mpm_material *o) {
  memset(o, 0, sizeof *o);
  o->name = m->name;
  o->model = (int)m->model; /* pl_material_model and the MPM_* models share one order */
  o->E = m->E;
  o->nu = m->nu;
  o->density = m->density;
  o->yield_stress = m->yield_stress;
  o->viscosity = m->viscosity;
  o->friction_angle = m->friction_angle;
  o->dp_cone = m->dp_cone; /* shear plane_strain compression: MPM_DP_CONE_SHEAR, _PLANE_STRAIN, _COMPRESSION */
  o->cohesion = m->cohesion;
  o->bulk_modulus = m->bulk_modulus;
  o->mui_delta = m->mui_delta;
  o->mui_i0 = m->mui_i0;
  o->grain_size = m->grain_size;
  o->grain_density = m->grain_density;
}

/* a scene shape's code in the simulator (table indexed by pl_shape; `other` outside it) */
static int shape_code(pl_shape s, const int *table, int n, int other) {
  return (int)s >= 0 && (int)s < n ? table[s] : other;
}

void pl_sim_object(const pl_scene *s, int i, mpm_object *o) {
  const pl_scene_object *so = &s->objects[i];
  memset(o, 0, sizeof *o);
  o->name = so->name;
  /* pl_shape order: box sphere cylinder mesh plane gaussians visual_hull; anything else is a mesh */
  static const int object_shapes[] = {MPM_SHAPE_BOX,  MPM_SHAPE_SPHERE, MPM_SHAPE_CYLINDER,   MPM_SHAPE_MESH,
                                      MPM_SHAPE_MESH, MPM_SHAPE_GAUSSIANS, MPM_SHAPE_VOXELS};
  o->shape = shape_code(so->shape, object_shapes, 7, MPM_SHAPE_MESH);
  if (so->shape == PL_SHAPE_VISUAL_HULL) o->voxels = so->hull ? &so->hull->occ : NULL;
  if (so->shape == PL_SHAPE_GAUSSIANS) {
    if (so->splat_set) {
      o->splat_count = so->splat_set->n;
      o->splat_means = so->splat_set->means;
      o->splat_covs = so->splat_set->covs;
      o->splat_opacities = so->splat_set->opacities;
    }
    o->fill_threshold = so->fill_threshold;
  }
  o->material = so->material;
  memcpy(o->center, so->center, sizeof o->center);
  memcpy(o->size, so->size, sizeof o->size);
  o->radius = so->radius;
  o->height = so->height;
  memcpy(o->rotation, so->rotation, sizeof o->rotation);
  memcpy(o->scale, so->scale, sizeof o->scale);
  o->mesh_path = so->mesh[0] ? so->mesh : NULL;
  o->particles_per_cell = so->particles_per_cell;
  o->regular = !so->jittered;
  memcpy(o->velocity, so->velocity, sizeof o->velocity);
  memcpy(o->angular_velocity, so->angular_velocity, sizeof o->angular_velocity);
}

void pl_sim_collider(const pl_scene_collider *c, mpm_collider *o) {
  memset(o, 0, sizeof *o);
  o->name = c->name;
  /* box sphere cylinder mesh plane gaussians: a collider is a plane, box, sphere or (else) cylinder */
  static const int collider_shapes[] = {MPM_COLLIDER_BOX,      MPM_COLLIDER_SPHERE, MPM_COLLIDER_CYLINDER,
                                        MPM_COLLIDER_CYLINDER, MPM_COLLIDER_PLANE,  MPM_COLLIDER_CYLINDER};
  o->shape = shape_code(c->shape, collider_shapes, 6, MPM_COLLIDER_CYLINDER);
  o->type = pl_sim_contact(c->type);
  o->friction = c->friction;
  memcpy(o->point, c->point, sizeof o->point);
  memcpy(o->normal, c->normal, sizeof o->normal);
  memcpy(o->center, c->center, sizeof o->center);
  memcpy(o->size, c->size, sizeof o->size);
  o->radius = c->radius;
  o->height = c->height;
  memcpy(o->rotation, c->rotation, sizeof o->rotation);
  memcpy(o->velocity, c->velocity, sizeof o->velocity);
}

void pl_sim_desc(const pl_scene *s, mpm_material *mats, mpm_collider *cols, mpm_desc *d) {
  memset(d, 0, sizeof *d);
  const pl_scene_sim *sim = &s->sim;
  memcpy(d->domain_min, sim->domain_min, sizeof d->domain_min);
  memcpy(d->domain_max, sim->domain_max, sizeof d->domain_max);
  d->grid = sim->grid_longest;
  memcpy(d->gravity, sim->gravity, sizeof d->gravity);
  d->boundary = pl_sim_contact(sim->boundary);
  d->per_wall = 1;
  for (int w = 0; w < 6; ++w) d->wall_types[w] = pl_sim_contact(sim->walls[w]);
  d->boundary_friction = sim->boundary_friction;
  d->per_wall_friction = 1;
  for (int w = 0; w < 6; ++w) d->wall_frictions[w] = sim->wall_friction[w];
  d->boundary_cells = sim->boundary_cells;
  d->plane_strain = sim->plane_strain;
  d->pic_blend = sim->pic_blend;
  d->pic_rest_speed = sim->pic_rest_speed;
  d->frame_dt = 1.0 / sim->fps;
  d->substeps = sim->substeps;
  d->cfl = sim->cfl;
  d->seed = (uint64_t)sim->seed;
  d->backend = sim->backend;
  for (int i = 0; i < s->nmaterials; ++i) pl_sim_material(&s->materials[i], &mats[i]);
  for (int i = 0; i < s->ncolliders; ++i) pl_sim_collider(&s->colliders[i], &cols[i]);
  d->materials = mats;
  d->nmaterials = s->nmaterials;
  d->colliders = cols;
  d->ncolliders = s->ncolliders;
}

pl_status pl_sim_velocity_field(const pl_scene *s, int64_t n, const real *x, const int32_t *object, real *v) {
  static const char *const xyz[3] = {"x", "y", "z"};
  pl_expr *ex = NULL;
  pl_status st = PL_OK;
  for (int o = 0; o < s->nobjects && st == PL_OK; ++o) {
    if (!s->objects[o].velocity_field[0]) continue;
    if (!ex && !(ex = (pl_expr *)malloc(sizeof *ex))) return pl_fail(PL_ERR_NOMEM, "out of memory");
    st = pl_expr_parse_list(ex, s->objects[o].velocity_field, 3, xyz, 3);
    if (st != PL_OK) {
      pl_fail_context(st, "[object %s] velocity_field: ", s->objects[o].name);
      break;
    }
    for (int64_t i = 0; i < n && st == PL_OK; ++i) {
      if (object[i] != o) continue;
      double p[3] = {x[3 * i], x[3 * i + 1], x[3 * i + 2]};
      for (int k = 0; k < 3; ++k) {
        double u = pl_expr_eval(ex, k, p);
        if (!isfinite(u)) {
          st = pl_fail(PL_ERR_NUMERIC, "[object %s] velocity_field: v%c = %g at particle %lld, x = (%.6g, %.6g, %.6g)",
                       s->objects[o].name, "xyz"[k], u, (long long)i, p[0], p[1], p[2]);
          break;
        }
        v[3 * i + k] += (real)u;
      }
    }
  }
  free(ex);
  for (int o = 0; o < s->nobjects && st == PL_OK; ++o)
    if (s->objects[o].velocity_file[0])
      st = pl_velocity_file_add(s->objects[o].velocity_file, s->objects[o].name, o, n, x, object, v);
  return st;
}

pl_status pl_sim_setup(const pl_scene *s, mpm_sim **sim, float **rgb) {
  *sim = NULL;
  if (rgb) *rgb = NULL;
  mpm_material *mats = (mpm_material *)calloc((size_t)(s->nmaterials + 1), sizeof *mats);
  mpm_collider *cols = (mpm_collider *)calloc((size_t)(s->ncolliders + 1), sizeof *cols);
  mpm_object *objs = (mpm_object *)calloc((size_t)(s->nobjects + 1), sizeof *objs);
  if (!mats || !cols || !objs) {
    free(mats), free(cols), free(objs);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  mpm_desc d;
  pl_sim_desc(s, mats, cols, &d);
  for (int i = 0; i < s->nobjects; ++i) pl_sim_object(s, i, &objs[i]);
  mpm_particles p;
  pl_status st = mpm_sample_objects(&d, objs, s->nobjects, &p);
  if (st == PL_OK) st = pl_sim_velocity_field(s, p.n, p.x, p.object, p.v);
  if (st == PL_OK) {
    st = mpm_create(sim, &d, &p, objs, s->nobjects);
    if (st == PL_OK && rgb) {
      float *c = (float *)malloc((size_t)p.n * 3 * sizeof(float));
      if (!c) {
        st = pl_fail(PL_ERR_NOMEM, "out of memory");
        mpm_destroy(*sim);
        *sim = NULL;
      } else {
        for (int64_t i = 0; i < p.n; ++i) {
          int o = p.object[i];
          for (int k = 0; k < 3; ++k) c[3 * i + k] = (o >= 0 && o < s->nobjects) ? (float)s->objects[o].color[k] : 0.8f;
        }
        *rgb = c;
      }
    }
  }
  if (st != PL_OK) pl_fail_context(st, "%s: ", s->path);
  mpm_particles_free(&p);
  free(mats), free(cols), free(objs);
  return st;
}
