/* engine_targets.c: the fit's target images: loaded (folder, capture) or rendered by an engine of the scene's
 * [truth] values, with the optional sensor noise. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rng.h"
#include "pipeline/scene/capture_scene.h"
#include "pipeline/engine/engine_internal.h"

typedef struct {
  pl_targets *t;
  double noise;     /* targets.noise: Gaussian noise on the RGB (stream: camera, frame) */
  int seed;
} truth_ctx;

static void add_target_noise(const truth_ctx *c, int cam, int f, float *rgb, int64_t n) {
  for (int64_t i = 0; i < n; i += 2) {
    real z[2];
    pl_rng_normal2((uint64_t)c->seed, ((uint64_t)cam << 32) | (uint64_t)f, (uint32_t)(i / 2), z);
    rgb[i] += (float)(c->noise * z[0]);
    if (i + 1 < n) rgb[i + 1] += (float)(c->noise * z[1]);
  }
}

static pl_status truth_frame(void *user, pl_engine *e, int f) {
  truth_ctx *c = (truth_ctx *)user;
  for (int cam = 0; cam < e->ncams; ++cam) {
    if (!pl_targets_wanted(c->t, cam, f)) continue;
    int64_t np = e->cam_offset[cam + 1] - e->cam_offset[cam];
    float *rgb = (float *)malloc(sizeof(float) * 3 * (size_t)np), *a = (float *)malloc(sizeof(float) * (size_t)np);
    pl_status st = (rgb && a) ? pl_engine_download_camera(e, cam, rgb, a) : pl_fail(PL_ERR_NOMEM, "out of memory");
    if (st == PL_OK && c->noise > 0) add_target_noise(c, cam, f, rgb, 3 * np);
    if (st == PL_OK) st = pl_targets_set(c->t, cam, f, (int)np, rgb, a);
    free(rgb);
    free(a);
    PL_TRY(st);
  }
  return PL_OK;
}

pl_status pl_engine_make_targets(const pl_scene *s, pl_targets *t, int quiet) {
  PL_TRY(pl_targets_select(s, t));
  return pl_engine_fill_targets(s, t, quiet);
}

pl_status pl_engine_fill_targets(const pl_scene *s, pl_targets *t, int quiet) {
  if (s->targets.source == PL_TARGETS_PACNERF || s->targets.source == PL_TARGETS_TRANSFORMS ||
      (s->targets.from_folder && s->targets.capture_layout >= 0))
    return pl_targets_load_capture(s, t, quiet);
  if (s->targets.from_folder) return pl_targets_load_folder(s, t);
  if (s->ntruth == 0)
    return pl_fail(PL_ERR_INVALID, "%s: targets.source = truth but the scene has no [truth] section (give the true "
                   "values, or set targets.source = folder)", s->path);
  pl_scene truth;
  PL_TRY(pl_scene_with_truth(&truth, s));
  pl_engine *e = NULL;
  pl_status st = pl_engine_create(&e, &truth);
  int last = -1;
  for (int f = 0; f < t->nframes; ++f)
    if (t->frame_used[f]) last = f;
  if (st == PL_OK) {
    pl_engine_objective_cutoffs(e); /* the targets are rendered as the objective renders */
    if (!quiet) PL_INFO("targets: rendering %d images from the [truth] values", pl_targets_count(t));
    truth_ctx c = {t, s->targets.noise, s->targets.noise_seed};
    st = pl_engine_run(e, last, t->frame_used, truth_frame, &c);
    if (st != PL_OK) pl_fail_context(st, "rendering the targets from [truth]: ");
  }
  pl_engine_free(e);
  pl_scene_free(&truth);
  return st;
}
