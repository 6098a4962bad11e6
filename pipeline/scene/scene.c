#define _POSIX_C_SOURCE 200809L
/* scene.c: loading a scene (config file, --set overrides, the [truth] variant), its lifetime and printing. Each
 * section is built by its own builder (scene_build_world.c, scene_build_view.c, scene_build_fit.c). */
#include "pipeline/scene/scene_build.h"
#include "pipeline/scene/splat_object.h"
#include "pipeline/scene/visual_hull.h"

#include <cglm/cglm.h>
#include <stdlib.h>
#include <string.h>

const char *pl_material_model_name(pl_material_model m) {
  static const char *names[] = {"fixed_corotated", "neo_hookean", "stvk_von_mises",
                                "drucker_prager", "newtonian_fluid", "viscoplastic"};
  return (m >= 0 && m < PL_MAT_COUNT) ? names[m] : "?";
}
const char *pl_shape_name(pl_shape s) {
  static const char *names[] = {"box", "sphere", "cylinder", "mesh", "plane", "gaussians", "visual_hull"};
  return (s >= 0 && s <= PL_SHAPE_VISUAL_HULL) ? names[s] : "?";
}

/* index of `word` in a space-separated list, -1 if absent */
static int word_index(const char *list, const char *word) {
  int i = 0;
  size_t n = strlen(word);
  const char *p = list;
  while (*p) {
    const char *e = strchr(p, ' ');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && strncmp(p, word, n) == 0) return i;
    if (!e) break;
    p = e + 1;
    ++i;
  }
  return -1;
}

pl_status pl_scene_get_enum(const pl_config *c, const char *type, const char *name, const char *key, int *out) {
  char buf[128];
  PL_TRY(pl_config_string(c, type, name, key, buf, sizeof buf, NULL));
  const pl_key_spec *k = pl_schema_key(pl_schema_section(c->schema, type), key);
  int i = k && k->choices ? word_index(k->choices, buf) : -1;
  if (i < 0) return pl_fail(PL_ERR_INVALID, "%s.%s: '%s' is not a valid choice", type, key, buf);
  *out = i;
  return PL_OK;
}

pl_status pl_scene_get_int(const pl_config *c, const char *type, const char *name, const char *key, int *out) {
  long l;
  PL_TRY(pl_config_int(c, type, name, key, &l, NULL));
  *out = (int)l;
  return PL_OK;
}

const char *pl_scene_where(const pl_config *c, const char *type, const char *name, const char *key) {
  static _Thread_local char buf[PL_PATH_MAX + 64];
  return pl_config_where(c, type, name, key, buf, sizeof buf);
}

void pl_scene_copy_name(char *dst, const char *src) { snprintf(dst, PL_NAME_MAX, "%s", src); }

/* ------------------------------------------------------------------ frames */

/* the parser (with its overflow checks) lives in core/parse.c */
pl_status pl_frame_selection(const char *text, int nframes, unsigned char *mask) {
  return pl_parse_selection(text, nframes, mask);
}

pl_status pl_scene_check_frames(const char *text, int nframes) {
  unsigned char *mask = (unsigned char *)malloc((size_t)(nframes > 0 ? nframes : 1));
  if (!mask) return pl_fail(PL_ERR_NOMEM, "out of memory");
  pl_status st = pl_frame_selection(text, nframes, mask);
  free(mask);
  return st;
}

/* ------------------------------------------------------------------ cameras */

/* ------------------------------------------------------------------ the scene */

/* one builder per section (scene_build_*.c), in the order their errors are reported */
static pl_status build(pl_scene *s) {
  snprintf(s->path, sizeof s->path, "%s", s->config.path);
  static pl_status (*const builders[])(pl_scene *) = {
      pl_scene_build_sim,      pl_scene_build_materials, pl_scene_build_objects, pl_scene_build_colliders,
      pl_scene_build_upsample, pl_scene_build_render,    pl_scene_build_cameras, pl_scene_build_targets,
      pl_scene_build_optimize, pl_scene_build_stages,    pl_scene_build_params,  pl_scene_build_truth};
  for (size_t i = 0; i < sizeof builders / sizeof builders[0]; ++i) PL_TRY(builders[i](s));
  return PL_OK;
}

int pl_scene_material_index(const pl_scene *s, const char *name) {
  for (int i = 0; i < s->nmaterials; ++i)
    if (strcmp(s->materials[i].name, name) == 0) return i;
  return -1;
}

int pl_scene_camera_index(const pl_scene *s, const char *name) {
  for (int i = 0; i < s->ncameras; ++i)
    if (strcmp(s->cameras[i].name, name) == 0) return i;
  return -1;
}

pl_status pl_scene_from_config(pl_scene *s, pl_config *cfg) {
  memset(s, 0, sizeof *s);
  s->config = *cfg;
  memset(cfg, 0, sizeof *cfg);
  pl_status st = pl_config_validate(&s->config);
  if (st == PL_OK) st = build(s);
  if (st != PL_OK) pl_scene_free(s);
  return st;
}

static pl_status finish_load(pl_scene *s, pl_config *cfg, const char *const *sets, int nsets) {
  for (int i = 0; i < nsets; ++i) {
    pl_status st = pl_config_set(cfg, sets[i]);
    if (st != PL_OK) {
      pl_config_free(cfg);
      return st;
    }
  }
  return pl_scene_from_config(s, cfg);
}

pl_status pl_scene_load(pl_scene *s, const char *path, const char *const *sets, int nsets) {
  memset(s, 0, sizeof *s);
  pl_config cfg;
  pl_status st = pl_config_load(&cfg, path, &pl_scene_schema);
  if (st != PL_OK) {
    pl_config_free(&cfg);
    return st;
  }
  return finish_load(s, &cfg, sets, nsets);
}

pl_status pl_scene_load_string(pl_scene *s, const char *text, const char *name, const char *dir,
                               const char *const *sets, int nsets) {
  memset(s, 0, sizeof *s);
  pl_config cfg;
  pl_status st = pl_config_load_string(&cfg, text, name, dir, &pl_scene_schema);
  if (st != PL_OK) {
    pl_config_free(&cfg);
    return st;
  }
  return finish_load(s, &cfg, sets, nsets);
}

/* Deep copy of a config (entries keep their origin). */
static pl_status config_copy(pl_config *dst, const pl_config *src) {
  memset(dst, 0, sizeof *dst);
  dst->schema = src->schema;
  dst->path = strdup(src->path);
  dst->dir = strdup(src->dir);
  if (!dst->path || !dst->dir) goto oom;
  for (int i = 0; i < src->nfiles; ++i) {
    dst->files[i] = strdup(src->files[i]);
    if (!dst->files[i]) goto oom;
    dst->nfiles++;
  }
  dst->sections = (pl_cfg_section *)calloc((size_t)(src->nsections ? src->nsections : 1), sizeof *dst->sections);
  dst->entries = (pl_cfg_entry *)calloc((size_t)(src->nentries ? src->nentries : 1), sizeof *dst->entries);
  if (!dst->sections || !dst->entries) goto oom;
  dst->capsections = src->nsections ? src->nsections : 1;
  dst->capentries = src->nentries ? src->nentries : 1;
  for (int i = 0; i < src->nsections; ++i) {
    dst->sections[i] = src->sections[i];
    dst->sections[i].type = strdup(src->sections[i].type);
    dst->sections[i].name = strdup(src->sections[i].name);
    dst->nsections++;
    if (!dst->sections[i].type || !dst->sections[i].name) goto oom;
    for (int f = 0; f < src->nfiles; ++f)
      if (src->sections[i].file == src->files[f]) dst->sections[i].file = dst->files[f];
  }
  for (int i = 0; i < src->nentries; ++i) {
    dst->entries[i] = src->entries[i];
    dst->entries[i].key = strdup(src->entries[i].key);
    dst->entries[i].value = strdup(src->entries[i].value);
    dst->entries[i].base_dir = strdup(src->entries[i].base_dir);
    dst->nentries++;
    if (!dst->entries[i].key || !dst->entries[i].value || !dst->entries[i].base_dir) goto oom;
    for (int f = 0; f < src->nfiles; ++f)
      if (src->entries[i].file == src->files[f]) dst->entries[i].file = dst->files[f];
  }
  return PL_OK;
oom:
  pl_config_free(dst);
  return pl_fail(PL_ERR_NOMEM, "out of memory copying the scene");
}

pl_status pl_scene_with_overrides(pl_scene *dst, const pl_scene *src, const char *const *sets, int nsets) {
  memset(dst, 0, sizeof *dst);
  pl_config cfg;
  PL_TRY(config_copy(&cfg, &src->config));
  return finish_load(dst, &cfg, sets, nsets);
}

pl_status pl_scene_with_truth(pl_scene *dst, const pl_scene *src) {
  const char **sets = (const char **)calloc((size_t)(src->ntruth ? src->ntruth : 1), sizeof *sets);
  char *store = (char *)calloc((size_t)(src->ntruth ? src->ntruth : 1), 512);
  if (!sets || !store) {
    free(sets);
    free(store);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  for (int i = 0; i < src->ntruth; ++i) {
    snprintf(store + 512 * i, 512, "%s=%s", src->truth[i].address, src->truth[i].value);
    sets[i] = store + 512 * i;
  }
  pl_status st = pl_scene_with_overrides(dst, src, sets, src->ntruth);
  free(sets);
  free(store);
  return st;
}

void pl_scene_free(pl_scene *s) {
  if (!s) return;
  for (int i = 0; s->objects && i < s->nobjects; ++i) pl_splat_set_free(s->objects[i].splat_set);
  for (int i = 0; s->objects && i < s->nobjects; ++i) pl_hull_object_free(s->objects[i].hull);
  free(s->materials);
  free(s->objects);
  free(s->colliders);
  free(s->cameras);
  free(s->params);
  free(s->stages);
  free(s->truth);
  pl_config_free(&s->config);
  memset(s, 0, sizeof *s);
}

void pl_scene_print(const pl_scene *s, FILE *f) {
  fprintf(f, "; resolved scene: %s\n", s->path);
  fprintf(f, "; every key is shown; '; default' marks values not given in the file\n");
  fprintf(f, "; derived: dx = %g m, grid = %d x %d x %d cells, frame time = %g s\n", s->sim.dx, s->sim.grid[0],
          s->sim.grid[1], s->sim.grid[2], 1.0 / s->sim.fps);
  for (int i = 0; i < s->nmaterials; ++i) {
    const pl_scene_material *m = &s->materials[i];
    double mu = m->E / (2 * (1 + m->nu)), lambda = m->E * m->nu / ((1 + m->nu) * (1 - 2 * m->nu));
    fprintf(f, "; derived: material %s: mu = %g Pa, lambda = %g Pa\n", m->name, mu, lambda);
  }
  for (int i = 0; i < s->ncameras; ++i) {
    const pl_scene_camera *c = &s->cameras[i];
    fprintf(f, "; derived: camera %s: %dx%d, fx %.4g fy %.4g cx %.4g cy %.4g, centre (%.4g %.4g %.4g)\n", c->name,
            c->width, c->height, c->fx, c->fy, c->cx, c->cy, c->eye[0], c->eye[1], c->eye[2]);
  }
  for (int i = 0; i < s->nparams; ++i) {
    static const char *spaces[] = {"auto", "log", "linear", "bounded"};
    const pl_scene_param *p = &s->params[i];
    fprintf(f, "; derived: learnable %s: %s space, lr %g, bounds [%g, %g]\n", p->address, spaces[p->space], p->lr,
            p->lo, p->hi);
  }
  fputc('\n', f);
  pl_config_print(&s->config, f);
}
