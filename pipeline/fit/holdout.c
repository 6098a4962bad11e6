/* holdout.c: hold-out scores after a fit (holdout.h). */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/fit/holdout.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/log.h"
#include "pipeline/report/json_out.h"

int pl_scene_has_holdout(const pl_scene *s) { return s->targets.holdout[0] || s->targets.holdout_frames[0]; }

typedef struct {
  const pl_targets *t;
  double se;          /* summed squared error over channels */
  double nvals;
  double inter, uni;
  int masks;
} score_ctx;

static pl_status score_frame(void *user, pl_engine *e, int f) {
  score_ctx *sc = (score_ctx *)user;
  const pl_targets *t = sc->t;
  const pl_scene *s = NULL;
  (void)s;
  for (int c = 0; c < t->ncameras; ++c) {
    size_t k = (size_t)c * t->nframes + f;
    if (!t->rgb[k]) continue;
    int64_t np = pl_engine_camera_offset(e, c + 1) - pl_engine_camera_offset(e, c);
    float *rgb = (float *)malloc(sizeof(float) * 3 * (size_t)np), *a = (float *)malloc(sizeof(float) * (size_t)np);
    pl_status st = (rgb && a) ? pl_engine_download_camera(e, c, rgb, a) : pl_fail(PL_ERR_NOMEM, "out of memory");
    if (st == PL_OK) {
      for (int64_t i = 0; i < 3 * np; ++i) {
        double d = (double)rgb[i] - t->rgb[k][i];
        sc->se += d * d;
      }
      sc->nvals += 3.0 * (double)np;
      if (t->alpha[k]) {
        for (int64_t i = 0; i < np; ++i) {
          int x = a[i] > 0.5f, y = t->alpha[k][i] > 0.5f;
          sc->inter += x && y;
          sc->uni += x || y;
        }
        sc->masks++;
      }
    }
    free(rgb);
    free(a);
    PL_TRY(st);
  }
  return PL_OK;
}

pl_status pl_holdout_evaluate(const pl_scene *s, pl_engine *e, pl_optimizer *o, const pl_targets *train, int quiet,
                              pl_holdout_result *r) {
  memset(r, 0, sizeof *r);
  r->iou = NAN;
  snprintf(r->cameras, sizeof r->cameras, "%s", s->targets.holdout);
  snprintf(r->frames, sizeof r->frames, "%s", s->targets.holdout_frames);
  if (!pl_scene_has_holdout(s)) return PL_OK;
  pl_targets h;
  PL_TRY(pl_targets_select_holdout(s, &h));
  pl_status st = pl_engine_fill_targets(s, &h, 1);
  int n = 0, last = -1;
  for (int c = 0; st == PL_OK && c < h.ncameras; ++c)
    for (int f = 0; f < h.nframes; ++f)
      if (h.rgb[(size_t)c * h.nframes + f]) {
        ++n;
        if (f > last) last = f;
      }
  if (st == PL_OK && n == 0)
    st = pl_fail(PL_ERR_INVALID, "targets.holdout = '%s', holdout_frames = '%s': no image is held out (nothing to score)",
                 s->targets.holdout, s->targets.holdout_frames);
  pl_loss_value lv;
  memset(&lv, 0, sizeof lv);
  if (st == PL_OK) st = pl_engine_set_targets(e, &h);
  if (st == PL_OK) st = pl_engine_eval(e, "all", 0, o, &lv);
  score_ctx sc;
  memset(&sc, 0, sizeof sc);
  sc.t = &h;
  if (st == PL_OK) st = pl_engine_run(e, last, h.frame_used, score_frame, &sc);
  if (st == PL_OK) {
    r->images = n;
    r->loss = lv.total;
    r->mse = sc.se / (sc.nvals > 0 ? sc.nvals : 1);
    r->psnr = r->mse > 0 ? -10.0 * log10(r->mse) : INFINITY;
    r->masks = sc.masks;
    r->iou = sc.masks && sc.uni > 0 ? sc.inter / sc.uni : (sc.masks ? 1.0 : NAN);
    if (!quiet) {
      if (sc.masks)
        PL_INFO("hold-out: %d images (cameras '%s', frames '%s'): loss %.6g, PSNR %.2f dB, mask IoU %.4f", n, r->cameras,
                r->frames, r->loss, r->psnr, r->iou);
      else
        PL_INFO("hold-out: %d images (cameras '%s', frames '%s'): loss %.6g, PSNR %.2f dB (no masks: no IoU)", n,
                r->cameras, r->frames, r->loss, r->psnr);
    }
  }
  /* the fit's targets back on the engine (it keeps pointers into them) */
  pl_status st2 = pl_engine_set_targets(e, train);
  pl_targets_free(&h);
  return st != PL_OK ? st : st2;
}

pl_status pl_holdout_add_to_json(const char *path, const pl_holdout_result *r) {
  cJSON *h = cJSON_CreateObject();
  cJSON_AddNumberToObject(h, "images", r->images);
  cJSON_AddStringToObject(h, "cameras", r->cameras);
  cJSON_AddStringToObject(h, "frames", r->frames);
  cJSON_AddNumberToObject(h, "loss", r->loss);
  cJSON_AddNumberToObject(h, "mse", r->mse);
  pl_json_add_finite(h, "psnr_db", r->psnr);
  cJSON_AddNumberToObject(h, "mask_images", r->masks);
  pl_json_add_finite(h, "mask_iou", r->iou);
  return pl_json_file_set(path, "holdout", h, "the hold-out scores");
}
