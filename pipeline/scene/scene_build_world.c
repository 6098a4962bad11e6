/* scene_build_world.c: the simulated world of a scene: [sim], [material NAME], [object NAME], [collider NAME]. */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/scene/scene_build.h"
#include "pipeline/scene/object_field.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/expr.h"
#include "pipeline/scene/splat_object.h"

static int file_readable(const char *path) { return access(path, R_OK) == 0; }

static pl_status build_walls(const pl_config *c, pl_scene_sim *sim);

/* [sim]: the box, its grid, time stepping, walls, backend */
pl_status pl_scene_build_sim(pl_scene *s) {
  const pl_config *c = &s->config;
  pl_scene_sim *sim = &s->sim;
  PL_TRY(pl_config_vec3(c, "sim", "", "domain_min", sim->domain_min, NULL));
  PL_TRY(pl_config_vec3(c, "sim", "", "domain_max", sim->domain_max, NULL));
  double longest = 0;
  for (int i = 0; i < 3; ++i) {
    double e = sim->domain_max[i] - sim->domain_min[i];
    if (!(e > 0))
      return pl_fail(PL_ERR_INVALID, "%s: sim.domain_max must exceed sim.domain_min on every axis (axis %c)",
                     pl_scene_where(c, "sim", "", "domain_max"), "xyz"[i]);
    if (e > longest) longest = e;
  }
  PL_TRY(pl_scene_get_int(c, "sim", "", "grid", &sim->grid_longest));
  sim->dx = longest / (double)sim->grid_longest;
  for (int i = 0; i < 3; ++i) {
    double e = sim->domain_max[i] - sim->domain_min[i];
    sim->grid[i] = (int)ceil(e / sim->dx - 1e-9);
    if (sim->grid[i] < 8)
      return pl_fail(PL_ERR_INVALID, "%s: the domain is only %d cells along %c (at least 8 needed); raise sim.grid",
                     pl_scene_where(c, "sim", "", "grid"), sim->grid[i], "xyz"[i]);
  }
  PL_TRY(pl_scene_get_int(c, "sim", "", "frames", &sim->frames));
  PL_TRY(pl_config_real(c, "sim", "", "fps", &sim->fps, NULL));
  PL_TRY(pl_scene_get_int(c, "sim", "", "substeps", &sim->substeps));
  PL_TRY(pl_config_real(c, "sim", "", "cfl", &sim->cfl, NULL));
  PL_TRY(pl_config_vec3(c, "sim", "", "gravity", sim->gravity, NULL));
  return build_walls(c, sim);
}

/* sim.boundary and the per-wall overrides, backend and threads */
static pl_status build_walls(const pl_config *c, pl_scene_sim *sim) {
  long l;
  int e;
  PL_TRY(pl_scene_get_enum(c, "sim", "", "boundary", &e));
  sim->boundary = (pl_contact)e;
  for (int w = 0; w < 6; ++w) {
    static const char *wall_keys[6] = {"boundary_x_min", "boundary_x_max", "boundary_y_min",
                                       "boundary_y_max", "boundary_z_min", "boundary_z_max"};
    PL_TRY(pl_scene_get_enum(c, "sim", "", wall_keys[w], &e));
    sim->walls[w] = e == 0 ? sim->boundary : (pl_contact)(e - 1); /* choices: inherit sticky slip separate */
  }
  PL_TRY(pl_config_real(c, "sim", "", "boundary_friction", &sim->boundary_friction, NULL));
  for (int w = 0; w < 6; ++w) { /* boundary_friction_<wall>: absent inherits boundary_friction */
    static const char *fric_keys[6] = {"boundary_friction_x_min", "boundary_friction_x_max", "boundary_friction_y_min",
                                       "boundary_friction_y_max", "boundary_friction_z_min", "boundary_friction_z_max"};
    sim->wall_friction_own[w] = pl_config_text(c, "sim", "", fric_keys[w]) != NULL;
    sim->wall_friction[w] = sim->boundary_friction;
    if (sim->wall_friction_own[w]) PL_TRY(pl_config_real(c, "sim", "", fric_keys[w], &sim->wall_friction[w], NULL));
  }
  PL_TRY(pl_scene_get_int(c, "sim", "", "boundary_cells", &sim->boundary_cells));
  PL_TRY(pl_scene_get_enum(c, "sim", "", "plane_strain", &sim->plane_strain)); /* none x y z: 0..3 */
  PL_TRY(pl_config_real(c, "sim", "", "pic_blend", &sim->pic_blend, NULL));
  PL_TRY(pl_config_real(c, "sim", "", "pic_rest_speed", &sim->pic_rest_speed, NULL));
  PL_TRY(pl_config_int(c, "sim", "", "seed", &l, NULL));
  sim->seed = (unsigned long)l;
  PL_TRY(pl_scene_get_enum(c, "sim", "", "backend", &e));
  sim->backend = e == 0 ? PL_BACKEND_AUTO : (e == 1 ? PL_BACKEND_CPU : PL_BACKEND_CUDA);
  PL_TRY(pl_scene_get_int(c, "sim", "", "threads", &sim->threads));
  return PL_OK;
}

/* [material NAME] */
pl_status pl_scene_build_materials(pl_scene *s) {
  const pl_config *c = &s->config;
  int idx[1024], e;
  int n = pl_config_sections_of(c, "material", idx, 1024);
  if (n > 1024) return pl_fail(PL_ERR_LIMIT, "%s: more than 1024 materials", c->path);
  s->materials = (pl_scene_material *)calloc((size_t)(n ? n : 1), sizeof *s->materials);
  if (!s->materials) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < n; ++i) {
    const char *name = c->sections[idx[i]].name;
    pl_scene_material *m = &s->materials[s->nmaterials];
    pl_scene_copy_name(m->name, name);
    PL_TRY(pl_scene_get_enum(c, "material", name, "model", &e));
    m->model = (pl_material_model)e;
    PL_TRY(pl_config_real(c, "material", name, "E", &m->E, NULL));
    PL_TRY(pl_config_real(c, "material", name, "nu", &m->nu, NULL));
    PL_TRY(pl_config_real(c, "material", name, "density", &m->density, NULL));
    PL_TRY(pl_config_real(c, "material", name, "yield_stress", &m->yield_stress, NULL));
    PL_TRY(pl_config_real(c, "material", name, "viscosity", &m->viscosity, NULL));
    PL_TRY(pl_config_real(c, "material", name, "friction_angle", &m->friction_angle, NULL));
    PL_TRY(pl_scene_get_enum(c, "material", name, "cone", &m->dp_cone));
    PL_TRY(pl_config_real(c, "material", name, "cohesion", &m->cohesion, NULL));
    PL_TRY(pl_config_real(c, "material", name, "mui_delta", &m->mui_delta, NULL));
    PL_TRY(pl_config_real(c, "material", name, "mui_i0", &m->mui_i0, NULL));
    PL_TRY(pl_config_real(c, "material", name, "grain_size", &m->grain_size, NULL));
    PL_TRY(pl_config_real(c, "material", name, "grain_density", &m->grain_density, NULL));
    PL_TRY(pl_config_real(c, "material", name, "bulk_modulus", &m->bulk_modulus, NULL));
    PL_TRY(pl_config_vec3(c, "material", name, "color", m->color, NULL));
    if ((m->model == PL_MAT_NEWTONIAN_FLUID || m->model == PL_MAT_VISCOPLASTIC) &&
        !pl_config_text(c, "material", name, "viscosity"))
      return pl_fail(PL_ERR_INVALID, "[material %s] needs a viscosity", name);
    if (m->mui_delta > 0) { /* mu(I) rides on the shear cone's mu = tan(phi) and needs a grain size */
      char wbuf[512];
      if (m->model != PL_MAT_DRUCKER_PRAGER || m->dp_cone != 0)
        return pl_fail(PL_ERR_INVALID, "%s: [material %s] mui_delta = %g: mu(I) needs model = drucker_prager with cone "
                       "= shear", pl_config_where(c, "material", name, "mui_delta", wbuf, sizeof wbuf), name,
                       m->mui_delta);
      if (!(m->grain_size > 0))
        return pl_fail(PL_ERR_INVALID, "%s: [material %s] mui_delta = %g: mu(I) needs grain_size > 0 (the grain "
                       "diameter, m)", pl_config_where(c, "material", name, "mui_delta", wbuf, sizeof wbuf), name,
                       m->mui_delta);
    }
    s->nmaterials++;
  }
  return PL_OK;
}


/* shape = gaussians: the splat file, its crop and threshold, loaded and placed now (errors name the key) */
static pl_status load_splat_object(const pl_config *c, const char *name, pl_scene_object *o) {
  int given = 0;
  PL_TRY(pl_config_vec3(c, "object", name, "crop_min", o->crop_min, NULL));
  PL_TRY(pl_config_vec3(c, "object", name, "crop_max", o->crop_max, NULL));
  PL_TRY(pl_config_real(c, "object", name, "opacity_min", &o->opacity_min, NULL));
  PL_TRY(pl_config_real(c, "object", name, "fill_threshold", &o->fill_threshold, NULL));
  if (o->shape != PL_SHAPE_GAUSSIANS) {
    if (pl_config_text(c, "object", name, "splats"))
      return pl_fail(PL_ERR_INVALID, "%s: [object %s] gives splats but its shape is %s (set shape = gaussians)",
                     pl_scene_where(c, "object", name, "splats"), name, pl_shape_name(o->shape));
    o->splats[0] = '\0';
    return PL_OK;
  }
  if (pl_config_path(c, "object", name, "splats", o->splats, sizeof o->splats, &given) != PL_OK || !given) {
    int si = pl_config_find_section(c, "object", name);
    return pl_fail(PL_ERR_INVALID, "%s:%d: [object %s] has shape = gaussians but no splats = FILE.ply",
                   si >= 0 ? c->sections[si].file : c->path, si >= 0 ? c->sections[si].line : 0, name);
  }
  char label[PL_NAME_MAX + 16];
  snprintf(label, sizeof label, "[object %s]", name);
  pl_splat_load_desc d;
  memset(&d, 0, sizeof d);
  d.path = o->splats;
  d.label = label;
  d.opacity_min = o->opacity_min;
  for (int k = 0; k < 3; ++k) {
    d.crop_min[k] = o->crop_min[k], d.crop_max[k] = o->crop_max[k];
    d.center[k] = o->center[k], d.scale[k] = o->scale[k], d.rotation_deg[k] = o->rotation[k];
  }
  pl_status st = pl_splat_set_load(&d, &o->splat_set);
  if (st != PL_OK) return pl_fail_context(st, "%s: ", pl_scene_where(c, "object", name, "splats"));
  return PL_OK;
}

/* object.material: the index of a [material], or an error with the nearest name */
static pl_status object_material(const pl_scene *s, const char *name, int *out) {
  const pl_config *c = &s->config;
  char buf[256];
  PL_TRY(pl_config_string(c, "object", name, "material", buf, sizeof buf, NULL));
  *out = pl_scene_material_index(s, buf);
  if (*out >= 0) return PL_OK;
  int best = 1000, pick = -1;
  for (int m = 0; m < s->nmaterials; ++m) {
    int d = pl_edit_distance(buf, s->materials[m].name);
    if (d < best) best = d, pick = m;
  }
  char sug[128] = "";
  if (pick >= 0 && best <= 3) snprintf(sug, sizeof sug, " (did you mean '%s'?)", s->materials[pick].name);
  return pl_fail(PL_ERR_INVALID, "%s: [object %s] material '%s' is not defined%s",
                 pl_scene_where(c, "object", name, "material"), name, buf, sug);
}

/* placement, sampling and initial motion (velocity_field: three expressions checked now) */
static pl_status object_placement(const pl_config *c, const char *name, pl_scene_object *o) {
  int e;
  PL_TRY(pl_config_vec3(c, "object", name, "center", o->center, NULL));
  PL_TRY(pl_config_vec3(c, "object", name, "size", o->size, NULL));
  PL_TRY(pl_config_real(c, "object", name, "radius", &o->radius, NULL));
  PL_TRY(pl_config_real(c, "object", name, "height", &o->height, NULL));
  PL_TRY(pl_config_vec3(c, "object", name, "rotation", o->rotation, NULL));
  PL_TRY(pl_config_vec3(c, "object", name, "scale", o->scale, NULL));
  PL_TRY(pl_scene_get_int(c, "object", name, "particles_per_cell", &o->particles_per_cell));
  PL_TRY(pl_scene_get_enum(c, "object", name, "sampling", &e));
  o->jittered = e == 0;
  PL_TRY(pl_config_vec3(c, "object", name, "velocity", o->velocity, NULL));
  PL_TRY(pl_config_vec3(c, "object", name, "angular_velocity", o->angular_velocity, NULL));
  o->velocity_file[0] = '\0';
  if (pl_config_text(c, "object", name, "velocity_file"))
    PL_TRY(pl_config_path(c, "object", name, "velocity_file", o->velocity_file, sizeof o->velocity_file, NULL));
  o->velocity_field[0] = '\0';
  if (!pl_config_text(c, "object", name, "velocity_field")) return PL_OK;
  PL_TRY(pl_config_string(c, "object", name, "velocity_field", o->velocity_field, sizeof o->velocity_field, NULL));
  pl_expr ex;
  static const char *const xyz[3] = {"x", "y", "z"};
  if (pl_expr_parse_list(&ex, o->velocity_field, 3, xyz, 3) != PL_OK) {
    char why[512];
    snprintf(why, sizeof why, "%s", pl_last_error());
    return pl_fail(PL_ERR_INVALID, "%s: [object %s] velocity_field (three expressions in x, y, z: vx, vy, vz): %s",
                   pl_scene_where(c, "object", name, "velocity_field"), name, why);
  }
  return PL_OK;
}

/* shape = mesh needs a readable mesh file; a texture needs shape = mesh */
static pl_status object_files(const pl_config *c, int si, const char *name, pl_scene_object *o) {
  int given;
  if (o->shape == PL_SHAPE_MESH) {
    if (pl_config_path(c, "object", name, "mesh", o->mesh, sizeof o->mesh, &given) != PL_OK || !given)
      return pl_fail(PL_ERR_INVALID, "%s:%d: [object %s] has shape = mesh but no mesh = FILE.obj",
                     c->sections[si].file, c->sections[si].line, name);
    if (!file_readable(o->mesh))
      return pl_fail(PL_ERR_IO, "%s: [object %s] mesh file %s cannot be read: %s",
                     pl_scene_where(c, "object", name, "mesh"), name, o->mesh, strerror(errno));
  } else if (pl_config_text(c, "object", name, "mesh")) {
    return pl_fail(PL_ERR_INVALID, "%s: [object %s] gives a mesh but its shape is %s (set shape = mesh)",
                   pl_scene_where(c, "object", name, "mesh"), name, pl_shape_name(o->shape));
  }
  return PL_OK;
}

static pl_status object_texture(const pl_config *c, const char *name, pl_scene_object *o) {
  int given;
  if (pl_config_path(c, "object", name, "texture", o->texture, sizeof o->texture, &given) == PL_OK && given) {
    if (o->shape != PL_SHAPE_MESH)
      return pl_fail(PL_ERR_INVALID, "%s: [object %s] a texture needs shape = mesh",
                     pl_scene_where(c, "object", name, "texture"), name);
    if (!file_readable(o->texture))
      return pl_fail(PL_ERR_IO, "%s: [object %s] texture %s cannot be read: %s",
                     pl_scene_where(c, "object", name, "texture"), name, o->texture, strerror(errno));
  } else {
    o->texture[0] = '\0';
  }
  pl_clear_error();
  return PL_OK;
}

static pl_status build_object(const pl_scene *s, int si, pl_scene_object *o) {
  const pl_config *c = &s->config;
  const char *name = c->sections[si].name;
  int e, given;
  pl_scene_copy_name(o->name, name);
  PL_TRY(pl_scene_get_enum(c, "object", name, "shape", &e));
  o->shape = e == 4 ? PL_SHAPE_GAUSSIANS : e == 5 ? PL_SHAPE_VISUAL_HULL : (pl_shape)e; /* box sphere cylinder mesh gaussians visual_hull */
  PL_TRY(object_material(s, name, &o->material));
  PL_TRY(object_placement(c, name, o));
  PL_TRY(pl_scene_object_field(c, name, s, o)); /* E_field, nu_field, learn_E_field (object_field.c) */
  memcpy(o->color, s->materials[o->material].color, sizeof o->color);
  if (pl_config_vec3(c, "object", name, "color", o->color, &given) != PL_OK) {
    memcpy(o->color, s->materials[o->material].color, sizeof o->color);
    pl_clear_error();
  }
  PL_TRY(object_files(c, si, name, o));
  PL_TRY(load_splat_object(c, name, o));
  return object_texture(c, name, o);
}

/* [object NAME]: shape, material, placement, initial motion, appearance */
pl_status pl_scene_build_objects(pl_scene *s) {
  const pl_config *c = &s->config;
  int idx[1024];
  int n = pl_config_sections_of(c, "object", idx, 1024);
  if (n > 1024) return pl_fail(PL_ERR_LIMIT, "%s: more than 1024 objects", c->path);
  if (n == 0) return pl_fail(PL_ERR_INVALID, "%s: the scene has no [object NAME] section: nothing to simulate", c->path);
  s->objects = (pl_scene_object *)calloc((size_t)n, sizeof *s->objects);
  if (!s->objects) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < n; ++i) {
    PL_TRY(build_object(s, idx[i], &s->objects[s->nobjects]));
    s->nobjects++;
  }
  return PL_OK;
}

/* [collider NAME] */
pl_status pl_scene_build_colliders(pl_scene *s) {
  const pl_config *c = &s->config;
  int idx[1024], e;
  int n = pl_config_sections_of(c, "collider", idx, 1024);
  if (n > 1024) return pl_fail(PL_ERR_LIMIT, "%s: more than 1024 colliders", c->path);
  s->colliders = (pl_scene_collider *)calloc((size_t)(n ? n : 1), sizeof *s->colliders);
  if (!s->colliders) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < n; ++i) {
    const char *name = c->sections[idx[i]].name;
    pl_scene_collider *k = &s->colliders[s->ncolliders];
    pl_scene_copy_name(k->name, name);
    PL_TRY(pl_scene_get_enum(c, "collider", name, "shape", &e));
    static const pl_shape collider_shapes[] = {PL_SHAPE_PLANE, PL_SHAPE_BOX, PL_SHAPE_SPHERE, PL_SHAPE_CYLINDER};
    k->shape = collider_shapes[e];
    PL_TRY(pl_config_vec3(c, "collider", name, "point", k->point, NULL));
    PL_TRY(pl_config_vec3(c, "collider", name, "normal", k->normal, NULL));
    double nl = sqrt(k->normal[0] * k->normal[0] + k->normal[1] * k->normal[1] + k->normal[2] * k->normal[2]);
    if (k->shape == PL_SHAPE_PLANE && !(nl > 1e-12))
      return pl_fail(PL_ERR_INVALID, "%s: [collider %s] normal is zero", pl_scene_where(c, "collider", name, "normal"), name);
    if (nl > 0)
      for (int j = 0; j < 3; ++j) k->normal[j] /= nl;
    PL_TRY(pl_config_vec3(c, "collider", name, "center", k->center, NULL));
    PL_TRY(pl_config_vec3(c, "collider", name, "size", k->size, NULL));
    PL_TRY(pl_config_real(c, "collider", name, "radius", &k->radius, NULL));
    PL_TRY(pl_config_real(c, "collider", name, "height", &k->height, NULL));
    PL_TRY(pl_config_vec3(c, "collider", name, "rotation", k->rotation, NULL));
    PL_TRY(pl_scene_get_enum(c, "collider", name, "type", &e));
    k->type = (pl_contact)e;
    PL_TRY(pl_config_real(c, "collider", name, "friction", &k->friction, NULL));
    PL_TRY(pl_config_vec3(c, "collider", name, "velocity", k->velocity, NULL));
    s->ncolliders++;
  }
  return PL_OK;
}
