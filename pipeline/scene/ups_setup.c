#include "pipeline/scene/ups_setup.h"
#include "pipeline/scene/splat_object.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void pl_ups_desc(const pl_scene *s, pl_backend backend, int64_t n, const real *rest, const int *object,
                 ups_object *objs, ups_desc *d) {
  const pl_scene_upsample *u = &s->upsample;
  memset(d, 0, sizeof *d);
  d->backend = backend;
  d->threads = s->sim.threads;
  d->nparticles = (int)n;
  d->rest_positions = rest;
  d->object_index = object;
  d->nobjects = s->nobjects;
  d->objects = objs;
  d->particle_spacing = s->sim.dx / cbrt((double)s->objects[0].particles_per_cell);
  d->spacing = u->spacing;
  d->sigma0 = u->sigma0;
  d->thickness = u->thickness;
  d->opacity = u->opacity;
  d->bind_radius = u->bind_radius;
  d->children = u->children;
  d->surface_threshold = u->surface_threshold;
  d->surface_band = u->surface_band;
  d->surface_level = u->surface_level;
  d->smoothing = u->smoothing;
  d->learn_colors = u->learn_colors;
  d->learn_opacities = u->learn_opacities;
  d->seed = s->sim.seed;
  for (int o = 0; o < s->nobjects; ++o) {
    const pl_scene_object *ob = &s->objects[o];
    ups_object *t = &objs[o];
    memset(t, 0, sizeof *t);
    t->name = ob->name;
    pl_material_model mm = s->materials[ob->material].model;
    int flows = mm == PL_MAT_DRUCKER_PRAGER || mm == PL_MAT_NEWTONIAN_FLUID || mm == PL_MAT_VISCOPLASTIC;
    switch (u->mode) {
      case PL_UPSAMPLE_BOUND: t->mode = UPS_BOUND; break;
      case PL_UPSAMPLE_RUNTIME: t->mode = UPS_RUNTIME; break;
      case PL_UPSAMPLE_PARTICLES: t->mode = UPS_PARTICLES; break;
      default: t->mode = flows ? UPS_RUNTIME : UPS_BOUND; break;
    }
    if (ob->shape == PL_SHAPE_MESH) t->mesh_path = ob->mesh;
    if (ob->shape == PL_SHAPE_GAUSSIANS && ob->splat_set) { /* the trained Gaussians, bound to the particles */
      if (u->mode == PL_UPSAMPLE_AUTO) t->mode = UPS_BOUND;
      t->splat_count = ob->splat_set->n;
      t->splat_means = ob->splat_set->means;
      t->splat_covs = ob->splat_set->covs;
      t->splat_colors = ob->splat_set->colors;
      t->splat_opacities = ob->splat_set->opacities;
      t->splat_sh = ob->splat_set->sh;
      t->splat_sh_degree = ob->splat_set->sh ? ob->splat_set->sh_degree : 0;
    }
    if (ob->texture[0]) t->texture_path = ob->texture;
    for (int k = 0; k < 3; ++k) {
      t->center[k] = ob->center[k];
      t->scale[k] = ob->scale[k];
      t->rotation_deg[k] = ob->rotation[k];
      t->color[k] = ob->color[k];
    }
  }
}

pl_status pl_ups_setup(const pl_scene *s, pl_backend backend, int64_t n, const real *rest, const int32_t *object,
                       ups **out) {
  *out = NULL;
  if (n > 0x7fffffff) return pl_fail(PL_ERR_LIMIT, "upsample: %lld particles (at most 2^31 - 1)", (long long)n);
  ups_object *objs = (ups_object *)calloc((size_t)s->nobjects, sizeof *objs);
  int *obj = (int *)malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
  if (!objs || !obj) {
    free(objs);
    free(obj);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  for (int64_t i = 0; i < n; ++i) obj[i] = object ? object[i] : 0;
  ups_desc d;
  pl_ups_desc(s, backend, n, rest, obj, objs, &d);
  pl_status st = ups_create(out, &d);
  free(objs);
  free(obj);
  return st;
}
