#define _POSIX_C_SOURCE 200809L
#include "pipeline/fit/fit_video.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/report/panels.h"
#include "pipeline/io/video.h"

typedef struct {
  const pl_scene *s;
  const pl_targets *t;
  pl_fit_frames *out;
} capture_ctx;

static pl_status capture_frame(void *user, pl_engine *e, int f) {
  capture_ctx *c = (capture_ctx *)user;
  for (int cam = 0; cam < c->t->ncameras; ++cam) {
    if (!c->t->camera_used[cam] || !c->t->rgb[cam * c->t->nframes + f]) continue;
    const pl_scene_camera *sc = &c->s->cameras[cam];
    float *img = (float *)malloc(sizeof(float) * 3 * (size_t)sc->width * (size_t)sc->height);
    if (!img) return pl_fail(PL_ERR_NOMEM, "out of memory");
    c->out->img[cam * c->t->nframes + f] = img;
    PL_TRY(pl_engine_download_camera(e, cam, img, NULL));
  }
  return PL_OK;
}

pl_status pl_fit_frames_capture(pl_engine *e, const pl_scene *s, const pl_optimizer *o, const pl_targets *t, pl_fit_frames *out) {
  memset(out, 0, sizeof *out);
  out->ncameras = t->ncameras;
  out->nframes = t->nframes;
  out->img = (float **)calloc((size_t)t->ncameras * (size_t)t->nframes, sizeof(float *));
  if (!out->img) return pl_fail(PL_ERR_NOMEM, "out of memory");
  int len = 0;
  for (int i = 0; i < o->n && i < 4 && len < (int)sizeof out->params - 48; ++i) {
    const char *dot = strrchr(o->p[i].address, '.');
    len += snprintf(out->params + len, sizeof out->params - (size_t)len, "%s%s %.4g", i ? ", " : "",
                    dot ? dot + 1 : o->p[i].address, pl_param_value(&o->p[i], 0));
  }
  PL_TRY(pl_engine_apply(e, o));
  int last = -1;
  for (int f = 0; f < t->nframes; ++f)
    if (t->frame_used[f]) last = f;
  capture_ctx c = {s, t, out};
  return last >= 0 ? pl_engine_run(e, last, t->frame_used, capture_frame, &c) : PL_OK;
}

void pl_fit_frames_free(pl_fit_frames *f) {
  if (!f || !f->img) return;
  for (int i = 0; i < f->ncameras * f->nframes; ++i) free(f->img[i]);
  free(f->img);
  f->img = NULL;
}

pl_status pl_fit_video_write(const pl_scene *s, const pl_targets *t, const pl_fit_frames *start,
                             const pl_fit_frames *end, const char *base, char *path_out, size_t path_size) {
  static const float white[3] = {1, 1, 1}, black[3] = {0, 0, 0}, grey[3] = {0.35f, 0.35f, 0.35f};
  /* panel size: the largest camera with targets, enlarged when small */
  int w = 0, h = 0, nrows = 0, nframes = 0;
  for (int c = 0; c < t->ncameras; ++c)
    if (t->camera_used[c]) {
      w = s->cameras[c].width > w ? s->cameras[c].width : w;
      h = s->cameras[c].height > h ? s->cameras[c].height : h;
      nrows++;
    }
  for (int f = 0; f < t->nframes; ++f) nframes += t->frame_used[f];
  if (nrows == 0 || nframes == 0) return pl_fail(PL_ERR_INVALID, "%s: no target images: no fit video", s->path);
  const int pad = 6, zoom = pl_panels_zoom(w, 160), pw = w * zoom, ph = h * zoom;
  const int head = 2 * pl_text_height(13) + 8, row_head = pl_text_height(12) + 4;
  const int row_h = row_head + pl_panels_label_height(pw) + ph + pad;
  const int W = 5 * pw + 6 * pad, H = head + nrows * row_h;
  pl_canvas cv;
  PL_TRY(pl_canvas_create(&cv, W, H, white));
  size_t maxpix = (size_t)w * h;
  float *d0 = (float *)malloc(sizeof(float) * 3 * maxpix), *d1 = (float *)malloc(sizeof(float) * 3 * maxpix);
  pl_video *v = NULL;
  pl_status st = (d0 && d1) ? PL_OK : pl_fail(PL_ERR_NOMEM, "out of memory");
  if (st == PL_OK) st = pl_video_open(&v, base, W, H, pl_video_fps(nframes, s->sim.fps, 4.0), path_out, path_size);
  for (int f = 0; f < t->nframes && st == PL_OK; ++f) {
    if (!t->frame_used[f]) continue;
    pl_canvas_rect(&cv, 0, 0, W - 1, H - 1, white, 1);
    char lab[640];
    snprintf(lab, sizeof lab, "frame %d, t = %.3f s", f, f / s->sim.fps);
    pl_canvas_label(&cv, pad, 3, W - 2 * pad, lab, black, 13);
    snprintf(lab, sizeof lab, "start: %s    fitted: %s", start->params, end->params);
    pl_canvas_label(&cv, pad, 3 + pl_text_height(13) + 2, W - 2 * pad, lab, grey, 13);
    int row = 0;
    for (int c = 0; c < t->ncameras; ++c) {
      if (!t->camera_used[c]) continue;
      int y = head + row * row_h, cw = s->cameras[c].width, ch = s->cameras[c].height;
      snprintf(lab, sizeof lab, "camera %s", s->cameras[c].name);
      pl_canvas_label(&cv, pad, y, W - 2 * pad, lab, black, 12);
      const float *tg = t->rgb[c * t->nframes + f], *a = start->img[c * t->nframes + f],
                  *b = end->img[c * t->nframes + f];
      if (tg && a) pl_panels_difference(a, tg, (int64_t)cw * ch, 4.0f, d0);
      if (tg && b) pl_panels_difference(b, tg, (int64_t)cw * ch, 4.0f, d1);
      const float *img[5] = {tg, a, tg && a ? d0 : NULL, b, tg && b ? d1 : NULL};
      const char *labels[5] = {"target", "start", "difference x4", "fitted", "difference x4"};
      pl_panels_row(&cv, pad, y + row_head, 5, img, labels, cw, ch, zoom, pad);
      row++;
    }
    st = pl_video_frame(v, cv.rgb);
  }
  if (v) {
    pl_status cs = pl_video_close(v, st == PL_OK);
    if (st == PL_OK) st = cs;
  }
  free(d0);
  free(d1);
  pl_canvas_free(&cv);
  return st;
}
