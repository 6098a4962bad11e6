/* scene_build_fit.c: what a fit needs: [targets], [optimize], [stage NAME], [param ADDRESS] and [truth]. */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/scene/scene_build.h"
#include "pipeline/scene/hull_object.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/scene/capture_scene.h"
#include "pipeline/engine/param_use.h"

static pl_status parse_loss(const char *text, double w[PL_LOSS_COUNT], const char *loc) {
  static const char *names[PL_LOSS_COUNT] = {"l1", "l2", "dssim", "mask"};
  for (int i = 0; i < PL_LOSS_COUNT; ++i) w[i] = 0;
  char buf[512];
  snprintf(buf, sizeof buf, "%s", text);
  char *save = NULL;
  int any = 0;
  for (char *tok = strtok_r(buf, " ,\t", &save); tok; tok = strtok_r(NULL, " ,\t", &save)) {
    char *colon = strchr(tok, ':');
    double weight = 1;
    if (colon) {
      *colon = '\0';
      if (!pl_parse_real(colon + 1, &weight) || weight < 0)
        return pl_fail(PL_ERR_INVALID, "%s: loss term '%s': weight '%s' is not a number >= 0", loc, tok, colon + 1);
    }
    int k = -1;
    for (int i = 0; i < PL_LOSS_COUNT; ++i)
      if (strcmp(tok, names[i]) == 0) k = i;
    if (k < 0) return pl_fail(PL_ERR_INVALID, "%s: unknown loss term '%s' (choose l1, l2, dssim, mask)", loc, tok);
    w[k] = weight;
    any = 1;
  }
  if (!any) return pl_fail(PL_ERR_INVALID, "%s: no loss term given", loc);
  return PL_OK;
}

/* Check that an address names a value of the scene: the section exists (for named types) and the key is in
 * the schema; returns the key spec. */
static pl_status resolve_address(const pl_config *c, const char *address, const char *loc, char *type, char *name,
                                 char *key, const pl_key_spec **spec) {
  pl_status s = pl_config_split_address(c, address, type, name, key, PL_NAME_MAX);
  if (s != PL_OK) return pl_fail_context(s, "%s: ", loc);
  const pl_section_spec *sec = pl_schema_section(c->schema, type);
  if (sec->address_keys || !sec->keys) return pl_fail(PL_ERR_INVALID, "%s: '%s' cannot be addressed", loc, address);
  *spec = pl_schema_key(sec, key);
  if (!*spec) return pl_fail(PL_ERR_INVALID, "%s: '%s': [%s] has no key '%s'", loc, address, type, key);
  if (sec->named && pl_config_find_section(c, type, name) < 0)
    return pl_fail(PL_ERR_INVALID, "%s: '%s': there is no [%s %s] in the scene", loc, address, type, name);
  return PL_OK;
}

/* param.space, bounded by the key's own range narrowed by lo / hi; auto picks bounded, log or linear */
static pl_status param_space(const pl_config *c, const char *name, const pl_key_spec *k, const char *loc,
                             pl_scene_param *p) {
  int space, given;
  double t;
  PL_TRY(pl_scene_get_enum(c, "param", name, "space", &space));
  p->space = (pl_param_space)space;
  /* bounds: the key's own range, narrowed by lo/hi */
  p->lo = (k->flags & PL_KF_RANGE) ? k->lo : -INFINITY;
  p->hi = (k->flags & PL_KF_RANGE) ? k->hi : INFINITY;
  if ((k->flags & (PL_KF_POSITIVE | PL_KF_NONNEG)) && p->lo < 0) p->lo = 0;
  if (pl_config_real(c, "param", name, "lo", &t, &given) == PL_OK && given) p->lo = t;
  if (pl_config_real(c, "param", name, "hi", &t, &given) == PL_OK && given) p->hi = t;
  pl_clear_error();
  if (p->space == PL_SPACE_AUTO) {
    if (isfinite(p->lo) && isfinite(p->hi))
      p->space = PL_SPACE_BOUNDED;
    else if (k->flags & PL_KF_POSITIVE)
      p->space = PL_SPACE_LOG;
    else /* a value that may be 0 (viscosity, cohesion, friction) learns linearly, projected onto lo = 0 */
      p->space = PL_SPACE_LINEAR;
  }
  if (p->space == PL_SPACE_BOUNDED && !(isfinite(p->lo) && isfinite(p->hi) && p->lo < p->hi))
    return pl_fail(PL_ERR_INVALID, "%s: the bounded space needs lo < hi", loc);
  if (p->space == PL_SPACE_LOG && !(k->flags & (PL_KF_POSITIVE | PL_KF_NONNEG)))
    return pl_fail(PL_ERR_INVALID, "%s: the log space needs a positive quantity; '%s' may be negative", loc, p->key);
  return PL_OK;
}

static pl_status build_param(const pl_config *c, int si, const pl_scene *s, pl_scene_param *p) {
  memset(p, 0, sizeof *p);
  const pl_cfg_section *sec = &c->sections[si];
  char loc[PL_PATH_MAX + 32];
  snprintf(loc, sizeof loc, "%s:%d: [param %s]", sec->file, sec->line, sec->name);
  snprintf(p->address, sizeof p->address, "%s", sec->name);
  const pl_key_spec *k = NULL;
  PL_TRY(resolve_address(c, sec->name, loc, p->type, p->name, p->key, &k));
  if (!(k->flags & PL_KF_LEARNABLE))
    return pl_fail(PL_ERR_INVALID, "%s: '%s' is not a learnable value", loc, sec->name);
  p->components = k->kind == PL_KT_VEC3 ? 3 : 1;
  PL_TRY(param_space(c, sec->name, k, loc, p));
  int given;
  p->lr = s->optimize.lr;
  double t;
  if (pl_config_real(c, "param", sec->name, "lr", &t, &given) == PL_OK && given) p->lr = t;
  char text[256];
  if (pl_config_string(c, "param", sec->name, "init", text, sizeof text, &given) == PL_OK && given) {
    int n = pl_parse_reals(text, p->init, 3);
    if (n == 1 && p->components == 3) p->init[1] = p->init[2] = p->init[0], n = 3;
    if (n != p->components)
      return pl_fail(PL_ERR_INVALID, "%s: init needs %d number%s", loc, p->components, p->components > 1 ? "s" : "");
    p->has_init = 1;
  }
  pl_clear_error();
  PL_TRY(pl_config_string(c, "param", sec->name, "stages", p->stages, sizeof p->stages, NULL));
  PL_TRY(pl_config_bool(c, "param", sec->name, "frozen", &p->frozen, NULL));
  if (strcmp(p->stages, "all") != 0) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", p->stages);
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save))
      if (pl_config_find_section(c, "stage", tok) < 0)
        return pl_fail(PL_ERR_INVALID, "%s: stage '%s' is not defined (add a [stage %s] section)", loc, tok, tok);
  }
  for (int i = 0; i < s->nparams; ++i)
    if (strcmp(s->params[i].address, p->address) == 0)
      return pl_fail(PL_ERR_INVALID, "%s: declared twice", loc);
  return pl_param_check_used(s, p, loc);
}

/* optimize.strip_frames is used only after the whole fit: check it now, so that `check` reports it */
static pl_status check_strip_frames(const pl_config *c, const char *text, int nframes) {
  if (strcmp(text, "auto") == 0) return PL_OK;
  pl_status st = pl_scene_check_frames(text, nframes);
  if (st != PL_OK)
    return pl_fail_context(st, "%s: optimize.strip_frames: ", pl_scene_where(c, "optimize", "", "strip_frames"));
  return PL_OK;
}

/* [optimize] keys of the global stage and the checks after the fit (fit_global.h) */
static pl_status scene_fit_keys(const pl_config *c, pl_scene *s) {
  pl_scene_optimize *o = &s->optimize;
  PL_TRY(pl_scene_get_int(c, "optimize", "", "scan", &o->scan));
  PL_TRY(pl_scene_get_int(c, "optimize", "", "scan_levels", &o->scan_levels));
  PL_TRY(pl_config_real(c, "optimize", "", "scan_range", &o->scan_range, NULL));
  PL_TRY(pl_config_string(c, "optimize", "", "scan_frames", o->scan_frames, sizeof o->scan_frames, NULL));
  PL_TRY(pl_scene_get_int(c, "optimize", "", "newton", &o->newton));
  PL_TRY(pl_config_bool(c, "optimize", "", "uncertainty", &o->uncertainty, NULL));
  PL_TRY(pl_config_real(c, "optimize", "", "converge_step", &o->converge_step, NULL));
  PL_TRY(pl_scene_get_enum(c, "optimize", "", "coordinates", &o->coordinates));
  PL_TRY(pl_scene_get_enum(c, "optimize", "", "scan_mode", &o->scan_grid));
  return PL_OK;
}

/* every name of a camera list (targets.cameras, targets.holdout) must be a camera of the scene */
static pl_status check_camera_list(const pl_scene *s, const char *list, const char *key, const char *what) {
  char cb[256];
  snprintf(cb, sizeof cb, "%s", list);
  char *save = NULL;
  for (char *tok = strtok_r(cb, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save))
    if (pl_scene_camera_index(s, tok) < 0)
      return pl_fail(PL_ERR_INVALID, "%s: targets.%s names '%s', which is not %s",
                     pl_scene_where(&s->config, "targets", "", key), key, tok, what);
  return PL_OK;
}

/* [targets] */
pl_status pl_scene_build_targets(pl_scene *s) {
  const pl_config *c = &s->config;
  pl_scene_targets *t = &s->targets;
  int e, given;
  PL_TRY(pl_scene_get_enum(c, "targets", "", "source", &e));
  t->from_folder = e == 1;
  if (pl_config_path(c, "targets", "", "folder", t->folder, sizeof t->folder, &given) != PL_OK || !given) {
    t->folder[0] = '\0';
    pl_clear_error();
    if (t->from_folder) return pl_fail(PL_ERR_INVALID, "%s: targets.source = folder needs targets.folder", c->path);
  }
  t->source = (pl_targets_source)e;
  PL_TRY(pl_scene_capture_setup(s));
  PL_TRY(pl_scene_carve_hulls(s)); /* shape = visual_hull: from the capture's first frame */
  PL_TRY(pl_config_string(c, "targets", "", "frames", t->frames, sizeof t->frames, NULL));
  PL_TRY(pl_config_real(c, "targets", "", "noise", &t->noise, NULL));
  PL_TRY(pl_scene_get_int(c, "targets", "", "noise_seed", &t->noise_seed));
  pl_status st = pl_scene_check_frames(t->frames, s->sim.frames + 1);
  if (st == PL_OK && t->holdout_frames[0]) {
    st = pl_scene_check_frames(t->holdout_frames, s->sim.frames + 1);
    if (st != PL_OK) st = pl_fail_context(st, "targets.holdout_frames: ");
  }
  if (st != PL_OK) return pl_fail_context(st, "%s: targets.frames: ", pl_scene_where(c, "targets", "", "frames"));
  PL_TRY(pl_config_string(c, "targets", "", "cameras", t->cameras, sizeof t->cameras, NULL));
  if (strcmp(t->cameras, "all") != 0) PL_TRY(check_camera_list(s, t->cameras, "cameras", "a [camera]"));
  return check_camera_list(s, t->holdout, "holdout", "a camera of the scene or capture");
}

/* [optimize] */
pl_status pl_scene_build_optimize(pl_scene *s) {
  const pl_config *c = &s->config;
  pl_scene_optimize *o = &s->optimize;
  char buf[256];
  PL_TRY(pl_scene_get_int(c, "optimize", "", "iterations", &o->iterations));
  PL_TRY(pl_config_string(c, "optimize", "", "loss", buf, sizeof buf, NULL));
  PL_TRY(parse_loss(buf, o->loss_weight, pl_scene_where(c, "optimize", "", "loss")));
  PL_TRY(pl_config_real(c, "optimize", "", "lr", &o->lr, NULL));
  PL_TRY(pl_config_real(c, "optimize", "", "beta1", &o->beta1, NULL));
  PL_TRY(pl_config_real(c, "optimize", "", "beta2", &o->beta2, NULL));
  PL_TRY(pl_config_real(c, "optimize", "", "clip", &o->clip, NULL));
  PL_TRY(pl_scene_get_enum(c, "optimize", "", "schedule", &o->schedule));
  PL_TRY(pl_config_real(c, "optimize", "", "lr_final", &o->lr_final, NULL));
  PL_TRY(pl_config_real(c, "optimize", "", "early_stop", &o->early_stop, NULL));
  PL_TRY(pl_scene_get_int(c, "optimize", "", "patience", &o->patience));
  PL_TRY(pl_scene_get_int(c, "optimize", "", "checkpoint_every", &o->checkpoint_every));
  PL_TRY(pl_config_real(c, "optimize", "", "memory_limit_mb", &o->memory_limit_mb, NULL));
  PL_TRY(pl_config_path(c, "optimize", "", "output", o->output, sizeof o->output, NULL));
  PL_TRY(pl_config_string(c, "optimize", "", "strip_frames", o->strip_frames, sizeof o->strip_frames, NULL));
  PL_TRY(check_strip_frames(c, o->strip_frames, s->sim.frames + 1));
  return scene_fit_keys(c, s);
}

/* [stage NAME] */
pl_status pl_scene_build_stages(pl_scene *s) {
  const pl_config *c = &s->config;
  int idx[1024];
  int n = pl_config_sections_of(c, "stage", idx, 1024);
  if (n > 64) return pl_fail(PL_ERR_LIMIT, "%s: more than 64 stages", c->path);
  s->stages = (pl_scene_stage *)calloc((size_t)(n ? n : 1), sizeof *s->stages);
  if (!s->stages) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < n; ++i) {
    const char *name = c->sections[idx[i]].name;
    pl_scene_stage *g = &s->stages[i];
    pl_scene_copy_name(g->name, name);
    PL_TRY(pl_scene_get_int(c, "stage", name, "iterations", &g->iterations));
    PL_TRY(pl_config_string(c, "stage", name, "frames", g->frames, sizeof g->frames, NULL));
    pl_status st = pl_scene_check_frames(g->frames, s->sim.frames + 1);
    if (st != PL_OK) return pl_fail_context(st, "%s: ", pl_scene_where(c, "stage", name, "frames"));
    PL_TRY(pl_config_real(c, "stage", name, "lr_scale", &g->lr_scale, NULL));
    s->nstages++;
  }
  return PL_OK;
}

/* [param ADDRESS] */
pl_status pl_scene_build_params(pl_scene *s) {
  const pl_config *c = &s->config;
  int idx[1024];
  int n = pl_config_sections_of(c, "param", idx, 1024);
  if (n > 1024) return pl_fail(PL_ERR_LIMIT, "%s: more than 1024 learnable parameters", c->path);
  s->params = (pl_scene_param *)calloc((size_t)(n ? n : 1), sizeof *s->params);
  if (!s->params) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < n; ++i) {
    PL_TRY(build_param(c, idx[i], s, &s->params[s->nparams]));
    s->nparams++;
  }
  return PL_OK;
}

/* one [truth] entry: an address of the scene and a value its key accepts */
static pl_status build_truth_entry(const pl_config *c, const pl_cfg_entry *en, pl_scene_truth *out) {
  char loc[PL_PATH_MAX + 32], ty[PL_NAME_MAX], nm[PL_NAME_MAX], ky[PL_NAME_MAX];
  snprintf(loc, sizeof loc, "%s:%d: [truth]", en->file, en->line);
  const pl_key_spec *k = NULL;
  PL_TRY(resolve_address(c, en->key, loc, ty, nm, ky, &k));
  /* validate the value with the target key's own rules */
  pl_config probe;
  char text[600];
  snprintf(text, sizeof text, "[%s%s%s]\n%s = %s\n", ty, nm[0] ? " " : "", nm, ky, en->value);
  pl_status st = pl_config_load_string(&probe, text, "[truth]", c->dir, c->schema);
  pl_config_free(&probe);
  if (st != PL_OK) { /* keep the probe's reason only ("key 'E': 'nan' is not a number"), in a copy */
    char why[512];
    const char *msg = pl_last_error(), *kq = strstr(msg, "key '");
    snprintf(why, sizeof why, "%s", kq ? kq : msg);
    return pl_fail(PL_ERR_INVALID, "%s: %s = %s: %s", loc, en->key, en->value, why);
  }
  snprintf(out->address, sizeof out->address, "%s", en->key);
  snprintf(out->value, sizeof out->value, "%s", en->value);
  return PL_OK;
}

/* [truth] */
pl_status pl_scene_build_truth(pl_scene *s) {
  const pl_config *c = &s->config;
  int ti = pl_config_find_section(c, "truth", "");
  if (ti < 0) return PL_OK;
  int cnt = 0;
  for (int i = 0; i < c->nentries; ++i) cnt += c->entries[i].section == ti;
  s->truth = (pl_scene_truth *)calloc((size_t)(cnt ? cnt : 1), sizeof *s->truth);
  if (!s->truth) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < c->nentries; ++i) {
    if (c->entries[i].section != ti) continue;
    PL_TRY(build_truth_entry(c, &c->entries[i], &s->truth[s->ntruth]));
    s->ntruth++;
  }
  return PL_OK;
}
