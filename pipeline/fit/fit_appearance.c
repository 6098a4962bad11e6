/* fit_appearance.c: the first-frame appearance stage (fit_appearance.h). */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/fit/fit_appearance.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/log.h"
#include "pipeline/report/json_out.h"
#include "core/progress.h"
#include "pipeline/engine/engine_internal.h"
#include "pipeline/engine/engine_objective.h"
#include "pipeline/scene/appearance_mask.h"

/* RGB of frame 0 per used camera: the rendered images (kept for the pictures) and the squared error */
typedef struct {
  const pl_targets *t;
  float **rgb;    /* [ncameras] copies, or NULL */
  double se, nvals;
  const real *weight;   /* [npix] the pixel weights (all cameras packed), or NULL; then: */
  double se_in, nvals_in; /* the squared error over the pixels of weight 1 */
} frame0_ctx;

static pl_status grab_frame0(void *user, pl_engine *e, int f) {
  frame0_ctx *c = (frame0_ctx *)user;
  if (f != 0) return PL_OK;
  for (int cam = 0; cam < c->t->ncameras; ++cam) {
    const float *target = c->t->rgb[(size_t)cam * c->t->nframes];
    if (!target) continue;
    int64_t np = pl_engine_camera_offset(e, cam + 1) - pl_engine_camera_offset(e, cam);
    float *rgb = (float *)malloc(sizeof(float) * 3 * (size_t)np), *a = (float *)malloc(sizeof(float) * (size_t)np);
    pl_status st = (rgb && a) ? pl_engine_download_camera(e, cam, rgb, a) : pl_fail(PL_ERR_NOMEM, "out of memory");
    free(a);
    if (st != PL_OK) {
      free(rgb);
      return st;
    }
    const real *w = c->weight ? c->weight + pl_engine_camera_offset(e, cam) : NULL;
    for (int64_t i = 0; i < 3 * np; ++i) {
      double d = (double)rgb[i] - target[i];
      c->se += d * d;
      if (w && w[i / 3] > 0) c->se_in += d * d, c->nvals_in += 1;
    }
    c->nvals += 3.0 * (double)np;
    free(c->rgb[cam]);
    c->rgb[cam] = rgb;
  }
  return PL_OK;
}

static double psnr_of(double se, double n) {
  double mse = se / (n > 0 ? n : 1);
  return mse > 0 ? -10.0 * log10(mse) : INFINITY;
}

static pl_status score(pl_engine *e, pl_optimizer *o, frame0_ctx *c, double *loss, double *psnr) {
  pl_loss_value lv;
  unsigned char first = 1;
  c->se = c->nvals = c->se_in = c->nvals_in = 0;
  PL_TRY(pl_engine_eval(e, "0", 0, o, &lv)); /* applies the parameters; the objective's value at frame 0 */
  PL_TRY(pl_engine_run(e, 0, &first, grab_frame0, c));
  double mse = c->se / (c->nvals > 0 ? c->nvals : 1);
  *loss = lv.total;
  *psnr = mse > 0 ? -10.0 * log10(mse) : INFINITY;
  return PL_OK;
}

/* FOLDER/appearance_CAMERA.png: target | before | after */
static pl_status write_pictures(const pl_scene *s, const pl_targets *t, float **before, float **after,
                                const char *folder) {
  for (int cam = 0; cam < t->ncameras; ++cam) {
    const float *target = t->rgb[(size_t)cam * t->nframes];
    if (!target || !before[cam] || !after[cam]) continue;
    int w = s->cameras[cam].width, h = s->cameras[cam].height, gap = 2, W = 3 * w + 2 * gap;
    float *px = (float *)calloc((size_t)W * h * 3, sizeof(float));
    if (!px) return pl_fail(PL_ERR_NOMEM, "out of memory");
    const float *panel[3] = {target, before[cam], after[cam]};
    for (int p = 0; p < 3; ++p)
      for (int y = 0; y < h; ++y)
        memcpy(px + 3 * ((size_t)y * W + (size_t)p * (w + gap)), panel[p] + 3 * (size_t)y * w, sizeof(float) * 3 * w);
    char path[PL_PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/appearance_%s.png", folder, s->cameras[cam].name);
    pl_status st = pl_png_write_float(path, W, h, 3, px);
    free(px);
    PL_TRY(st);
  }
  return PL_OK;
}

/* optimize.appearance_mask: the hull whose views (and masks) give the pixel weights, or NULL (off) */
static pl_status mask_hull(const pl_scene *s, const pl_hull_object **out) {
  *out = NULL;
  const char *mode = pl_config_text(&s->config, "optimize", "", "appearance_mask");
  if (mode && strcmp(mode, "off") == 0) return PL_OK;
  for (int i = 0; i < s->nobjects && !*out; ++i)
    if (s->objects[i].hull && s->objects[i].hull->views && s->objects[i].hull->nviews > 0) *out = s->objects[i].hull;
  if (!*out && mode && strcmp(mode, "on") == 0)
    return pl_fail(PL_ERR_INVALID, "%s: optimize.appearance_mask = on needs the first frame's masks of a shape = "
                   "visual_hull object, and this scene has none (use auto or off)", s->path);
  return PL_OK;
}

/* the pixel weights of every camera from the hull's view of the same name (a camera without one: all 1) */
static pl_status mask_weights(const pl_scene *s, pl_engine *e, const pl_hull_object *h, real **out,
                              pl_appearance_result *r) {
  int64_t npix = pl_engine_camera_offset(e, s->ncameras);
  real *w = (real *)malloc((size_t)(npix > 0 ? npix : 1) * sizeof(real));
  if (!w) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int c = 0; c < s->ncameras; ++c) {
    int64_t off = pl_engine_camera_offset(e, c), np = pl_engine_camera_offset(e, c + 1) - off, inside = np;
    const pl_hull_view *v = NULL;
    for (int k = 0; k < h->nviews && !v; ++k)
      if (strcmp(h->names[k], s->cameras[c].name) == 0) v = &h->views[k];
    if (v) pl_mask_pixel_weights(v, s->cameras[c].width, s->cameras[c].height, w + off, &inside);
    else
      for (int64_t i = 0; i < np; ++i) w[off + i] = 1;
    if (v) r->masked_pixels += np, r->inside_pixels += inside;
  }
  *out = w;
  return PL_OK;
}

static pl_status run_stage(const pl_scene *s, pl_engine *e, pl_optimizer *o, const pl_targets *train, int resume,
                           int quiet, const char *folder, long iters, pl_appearance_result *r);

pl_status pl_appearance_stage(const pl_scene *s, pl_engine *e, pl_optimizer *o, const pl_targets *train, int resume,
                              int quiet, const char *folder, pl_appearance_result *r) {
  memset(r, 0, sizeof *r);
  long iters = 0;
  int hold = 0;
  PL_TRY(pl_config_int(&s->config, "optimize", "", "appearance_iters", &iters, NULL));
  PL_TRY(pl_config_bool(&s->config, "optimize", "", "appearance_hold", &hold, NULL));
  if (hold && iters <= 0)
    return pl_fail(PL_ERR_INVALID, "%s: optimize.appearance_hold = true holds the colours the appearance stage "
                   "fits, but optimize.appearance_iters = %ld runs no such stage", s->path, iters);
  if (iters <= 0) return PL_OK;
  PL_TRY(run_stage(s, e, o, train, resume, quiet, folder, iters, r));
  if (hold && s->upsample.learn_colors) { /* also after a skipped stage (--resume, trained splats) */
    pl_engine_hold_colors(e, 1);
    r->colors_held = 1;
    if (!quiet)
      PL_INFO("appearance: the per-Gaussian colours are held from here on (optimize.appearance_hold): the physics "
              "fit does not step them");
  }
  return PL_OK;
}

static pl_status run_stage(const pl_scene *s, pl_engine *e, pl_optimizer *o, const pl_targets *train, int resume,
                           int quiet, const char *folder, long iters, pl_appearance_result *r) {
  for (int i = 0; i < s->nobjects; ++i)
    if (s->objects[i].shape == PL_SHAPE_GAUSSIANS) {
      if (!quiet)
        PL_INFO("appearance: skipped (object %s is a trained splat scene: its colours and opacities are kept)",
                s->objects[i].name);
      return PL_OK;
    }
  if (resume) {
    if (!quiet) PL_INFO("appearance: skipped on --resume (the run's appearance.bin holds the fitted values)");
    return PL_OK;
  }
  if (!pl_engine_learns_appearance(e))
    return pl_fail(PL_ERR_INVALID, "%s: optimize.appearance_iters = %ld fits the per-Gaussian appearance: set "
                   "upsample.learn_colors and/or upsample.learn_opacities = true", s->path, iters);
  /* the first frame's images of the training cameras */
  pl_targets t0;
  PL_TRY(pl_targets_select(s, &t0));
  memset(t0.frame_used, 0, (size_t)t0.nframes);
  t0.frame_used[0] = 1;
  pl_status st = pl_engine_fill_targets(s, &t0, 1);
  float **before = (float **)calloc((size_t)t0.ncameras, sizeof(float *));
  float **after = (float **)calloc((size_t)t0.ncameras, sizeof(float *));
  if (st == PL_OK && (!before || !after)) st = pl_fail(PL_ERR_NOMEM, "out of memory");
  if (st != PL_OK) st = pl_fail_context(st, "appearance stage (frame 0): ");
  if (st == PL_OK) st = pl_engine_set_targets(e, &t0);
  const pl_hull_object *hull = NULL;
  real *weight = NULL;
  if (st == PL_OK && s->upsample.learn_colors) st = mask_hull(s, &hull);
  if (st == PL_OK && hull) st = mask_weights(s, e, hull, &weight, r);
  r->masked = weight != NULL;
  frame0_ctx c = {&t0, before, 0, 0, weight, 0, 0};
  if (st == PL_OK) st = score(e, o, &c, &r->loss_before, &r->psnr_before);
  r->psnr_in_before = psnr_of(c.se_in, c.nvals_in);
  r->images = pl_targets_count(&t0);
  double t_start = pl_now();
  if (st == PL_OK && weight) st = pl_engine_set_rgb_weights(e, weight); /* colours from the masked pixels only */
  for (long it = 0; st == PL_OK && it < iters; ++it) {
    pl_loss_value lv;
    st = pl_engine_eval(e, "0", 1, o, &lv);
    if (st == PL_OK) st = pl_engine_appearance_only_step(e, 1.0); /* the material and the shape held */
    if (st == PL_OK) r->iterations = (int)(it + 1);
  }
  pl_status st_w = pl_engine_set_rgb_weights(e, NULL); /* the physics fit: every pixel */
  if (st == PL_OK) st = st_w;
  c.rgb = after;
  if (st == PL_OK) st = score(e, o, &c, &r->loss_after, &r->psnr_after);
  r->psnr_in_after = psnr_of(c.se_in, c.nvals_in);
  free(weight);
  if (st == PL_OK) {
    engine_appearance_free(e); /* fresh Adam moments for the physics fit; the fitted values stay in the upsampler */
    if (!quiet)
      PL_INFO("appearance: %d Adam steps of the per-Gaussian %s%s%s on frame 0 (%d images), material held: PSNR %.2f dB "
              "-> %.2f dB, loss %.6g -> %.6g (%.1f s)", r->iterations, s->upsample.learn_colors ? "colours" : "",
              s->upsample.learn_colors && s->upsample.learn_opacities ? " and " : "",
              s->upsample.learn_opacities ? "opacity offsets" : "", r->images, r->psnr_before, r->psnr_after,
              r->loss_before, r->loss_after, pl_now() - t_start);
    if (!quiet && r->masked)
      PL_INFO("appearance: colours learnt from the %lld of %lld pixels wholly inside the first frame's masks (%.1f %%; "
              "optimize.appearance_mask): PSNR there %.2f dB -> %.2f dB", (long long)r->inside_pixels,
              (long long)r->masked_pixels,
              r->masked_pixels > 0 ? 100.0 * (double)r->inside_pixels / (double)r->masked_pixels : 0.0,
              r->psnr_in_before, r->psnr_in_after);
    if (folder) st = write_pictures(s, &t0, before, after, folder);
  }
  for (int cam = 0; cam < t0.ncameras; ++cam) {
    if (before) free(before[cam]);
    if (after) free(after[cam]);
  }
  free(before);
  free(after);
  pl_status st2 = pl_engine_set_targets(e, train); /* the engine keeps pointers into its targets */
  pl_targets_free(&t0);
  return st != PL_OK ? st : st2;
}

pl_status pl_appearance_add_to_json(const char *path, const pl_appearance_result *r) {
  cJSON *a = cJSON_CreateObject();
  cJSON_AddNumberToObject(a, "iterations", r->iterations);
  cJSON_AddNumberToObject(a, "images", r->images);
  cJSON_AddNumberToObject(a, "loss_before", r->loss_before);
  cJSON_AddNumberToObject(a, "loss_after", r->loss_after);
  pl_json_add_finite(a, "psnr_before_db", r->psnr_before);
  pl_json_add_finite(a, "psnr_after_db", r->psnr_after);
  if (r->colors_held) cJSON_AddBoolToObject(a, "colors_held", 1); /* optimize.appearance_hold */
  if (r->masked) { /* optimize.appearance_mask: the colours learnt from the pixels inside the masks */
    cJSON_AddNumberToObject(a, "mask_pixels_inside", (double)r->inside_pixels);
    cJSON_AddNumberToObject(a, "mask_pixels", (double)r->masked_pixels);
    pl_json_add_finite(a, "psnr_inside_masks_before_db", r->psnr_in_before);
    pl_json_add_finite(a, "psnr_inside_masks_after_db", r->psnr_in_after);
  }
  return pl_json_file_set(path, "appearance", a, "the appearance stage");
}
