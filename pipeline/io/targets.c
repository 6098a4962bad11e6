#define _POSIX_C_SOURCE 200809L
#include "pipeline/io/targets.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/log.h"

pl_status pl_targets_select(const pl_scene *s, pl_targets *t) {
  memset(t, 0, sizeof *t);
  t->ncameras = s->ncameras;
  t->nframes = s->sim.frames + 1;
  if (s->ncameras == 0) return pl_fail(PL_ERR_INVALID, "%s: the scene has no [camera NAME]: nothing to compare", s->path);
  t->camera_used = (unsigned char *)calloc((size_t)t->ncameras, 1);
  t->frame_used = (unsigned char *)calloc((size_t)t->nframes, 1);
  t->rgb = (float **)calloc((size_t)t->ncameras * (size_t)t->nframes, sizeof(float *));
  t->alpha = (float **)calloc((size_t)t->ncameras * (size_t)t->nframes, sizeof(float *));
  if (!t->camera_used || !t->frame_used || !t->rgb || !t->alpha) {
    pl_targets_free(t);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  pl_status st = pl_frame_selection(s->targets.frames, t->nframes, t->frame_used);
  if (st != PL_OK) {
    pl_targets_free(t);
    return pl_fail_context(st, "targets.frames: ");
  }
  if (strcmp(s->targets.cameras, "all") == 0) {
    memset(t->camera_used, 1, (size_t)t->ncameras);
  } else {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s->targets.cameras);
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
      int c = pl_scene_camera_index(s, tok);
      if (c < 0) {
        pl_targets_free(t);
        return pl_fail(PL_ERR_INVALID, "targets.cameras: no camera named '%s'", tok);
      }
      t->camera_used[c] = 1;
    }
  }
  t->has_alpha = 1;
  t->background = (float **)calloc((size_t)t->ncameras, sizeof(float *));
  if (!t->background) {
    pl_targets_free(t);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  /* held-out cameras and frames carry no loss */
  char buf[256];
  snprintf(buf, sizeof buf, "%s", s->targets.holdout);
  char *save = NULL;
  for (char *tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save)) {
    int c = pl_scene_camera_index(s, tok);
    if (c >= 0) t->camera_used[c] = 0;
  }
  if (s->targets.holdout_frames[0]) {
    unsigned char *m = (unsigned char *)malloc((size_t)t->nframes);
    if (!m) {
      pl_targets_free(t);
      return pl_fail(PL_ERR_NOMEM, "out of memory");
    }
    pl_status sel = pl_frame_selection(s->targets.holdout_frames, t->nframes, m);
    for (int f = 0; sel == PL_OK && f < t->nframes; ++f)
      if (m[f]) t->frame_used[f] = 0;
    free(m);
    if (sel != PL_OK) {
      pl_targets_free(t);
      return pl_fail_context(sel, "targets.holdout_frames: ");
    }
  }
  return PL_OK;
}

pl_status pl_targets_select_holdout(const pl_scene *s, pl_targets *t) {
  PL_TRY(pl_targets_select(s, t));
  /* the training selection before hold-outs were taken out */
  pl_scene_targets copy = s->targets;
  copy.holdout[0] = copy.holdout_frames[0] = '\0';
  pl_scene tmp = *s;
  tmp.targets = copy;
  pl_targets all;
  pl_status st = pl_targets_select(&tmp, &all);
  if (st != PL_OK) {
    pl_targets_free(t);
    return st;
  }
  unsigned char *hc = (unsigned char *)calloc((size_t)t->ncameras, 1), *hf = (unsigned char *)calloc((size_t)t->nframes, 1);
  t->pair_used = (unsigned char *)calloc((size_t)t->ncameras * (size_t)t->nframes, 1);
  if (!hc || !hf || !t->pair_used) st = pl_fail(PL_ERR_NOMEM, "out of memory");
  char buf[256];
  snprintf(buf, sizeof buf, "%s", s->targets.holdout);
  char *save = NULL;
  for (char *tok = strtok_r(buf, " ,", &save); st == PL_OK && tok; tok = strtok_r(NULL, " ,", &save)) {
    int c = pl_scene_camera_index(s, tok);
    if (c >= 0) hc[c] = 1;
  }
  if (st == PL_OK && s->targets.holdout_frames[0]) st = pl_frame_selection(s->targets.holdout_frames, t->nframes, hf);
  if (st == PL_OK) {
    for (int c = 0; c < t->ncameras; ++c) t->camera_used[c] = all.camera_used[c] || hc[c];
    for (int f = 0; f < t->nframes; ++f) t->frame_used[f] = all.frame_used[f] || hf[f];
    for (int c = 0; c < t->ncameras; ++c)
      for (int f = 0; f < t->nframes; ++f)
        t->pair_used[(size_t)c * t->nframes + f] = t->camera_used[c] && t->frame_used[f] && (hc[c] || hf[f]);
    /* cameras and frames with no held-out pair are not needed */
    for (int c = 0; c < t->ncameras; ++c) {
      int any = 0;
      for (int f = 0; f < t->nframes; ++f) any |= t->pair_used[(size_t)c * t->nframes + f];
      t->camera_used[c] = (unsigned char)any;
    }
    for (int f = 0; f < t->nframes; ++f) {
      int any = 0;
      for (int c = 0; c < t->ncameras; ++c) any |= t->pair_used[(size_t)c * t->nframes + f];
      t->frame_used[f] = (unsigned char)any;
    }
  }
  free(hc);
  free(hf);
  pl_targets_free(&all);
  if (st != PL_OK) pl_targets_free(t);
  return st;
}

int pl_targets_wanted(const pl_targets *t, int camera, int frame) {
  if (!t->camera_used[camera] || !t->frame_used[frame]) return 0;
  return !t->pair_used || t->pair_used[(size_t)camera * t->nframes + frame];
}

pl_status pl_targets_set(pl_targets *t, int camera, int frame, int npix, const float *rgb, const float *alpha) {
  size_t k = (size_t)camera * t->nframes + frame;
  free(t->rgb[k]);
  free(t->alpha[k]);
  t->rgb[k] = (float *)malloc(sizeof(float) * 3 * (size_t)npix);
  t->alpha[k] = alpha ? (float *)malloc(sizeof(float) * (size_t)npix) : NULL;
  if (!t->rgb[k] || (alpha && !t->alpha[k])) return pl_fail(PL_ERR_NOMEM, "out of memory for targets");
  memcpy(t->rgb[k], rgb, sizeof(float) * 3 * (size_t)npix);
  if (alpha) memcpy(t->alpha[k], alpha, sizeof(float) * (size_t)npix);
  else t->has_alpha = 0;
  return PL_OK;
}

pl_status pl_targets_load_folder(const pl_scene *s, pl_targets *t) {
  const char *folder = s->targets.folder;
  if (!folder[0]) return pl_fail(PL_ERR_INVALID, "targets.folder is not set");
  for (int c = 0; c < t->ncameras; ++c) {
    if (!t->camera_used[c]) continue;
    const pl_scene_camera *cam = &s->cameras[c];
    for (int f = 0; f < t->nframes; ++f) {
      if (!pl_targets_wanted(t, c, f)) continue;
      char path[PL_PATH_MAX + 128];
      snprintf(path, sizeof path, "%s/%s/%04d.png", folder, cam->name, f);
      if (access(path, R_OK) != 0)
        return pl_fail(PL_ERR_IO, "target image %s is missing (camera %s, frame %d; targets.frames selects it)", path,
                       cam->name, f);
      int w, h, ch;
      float *px;
      PL_TRY(pl_png_read_float(path, 4, &w, &h, &px, &ch));
      if (w != cam->width || h != cam->height) {
        free(px);
        return pl_fail(PL_ERR_INVALID, "%s is %dx%d but camera %s renders %dx%d", path, w, h, cam->name, cam->width,
                       cam->height);
      }
      size_t npix = (size_t)w * h, k = (size_t)c * t->nframes + f;
      int alpha = ch == 2 || ch == 4;
      if (!alpha && s->optimize.loss_weight[PL_LOSS_MASK] > 0) { /* name the file, not only the folder */
        free(px);
        return pl_fail(PL_ERR_INVALID, "%s has no alpha channel (camera %s, frame %d), but optimize.loss has a mask "
                       "term: save the targets as RGBA or drop the mask term", path, cam->name, f);
      }
      t->rgb[k] = (float *)malloc(sizeof(float) * 3 * npix);
      t->alpha[k] = alpha ? (float *)malloc(sizeof(float) * npix) : NULL;
      if (!t->rgb[k] || (alpha && !t->alpha[k])) {
        free(px);
        return pl_fail(PL_ERR_NOMEM, "out of memory loading %s", path);
      }
      for (size_t p = 0; p < npix; ++p) {
        for (int q = 0; q < 3; ++q) t->rgb[k][3 * p + q] = px[4 * p + q];
        if (alpha) t->alpha[k][p] = px[4 * p + 3];
      }
      if (!alpha) t->has_alpha = 0;
      free(px);
    }
  }
  /* frames in the folder beyond the simulated ones are ignored, but say so */
  for (int c = 0; c < t->ncameras; ++c) {
    if (!t->camera_used[c]) continue;
    char path[PL_PATH_MAX + 128];
    snprintf(path, sizeof path, "%s/%s/%04d.png", folder, s->cameras[c].name, t->nframes);
    if (access(path, R_OK) == 0)
      PL_WARN("%s exists but the scene simulates only frames 0..%d; extra target frames are ignored", path, t->nframes - 1);
  }
  if (s->optimize.loss_weight[PL_LOSS_MASK] > 0 && !t->has_alpha)
    return pl_fail(PL_ERR_INVALID, "optimize.loss has a mask term but the target PNGs in %s have no alpha channel", folder);
  return PL_OK;
}

int pl_targets_count(const pl_targets *t) {
  int n = 0;
  for (int c = 0; c < t->ncameras; ++c)
    for (int f = 0; f < t->nframes; ++f) n += pl_targets_wanted(t, c, f);
  return n;
}

void pl_targets_free(pl_targets *t) {
  if (!t) return;
  if (t->rgb)
    for (int i = 0; i < t->ncameras * t->nframes; ++i) free(t->rgb[i]);
  if (t->alpha)
    for (int i = 0; i < t->ncameras * t->nframes; ++i) free(t->alpha[i]);
  if (t->background)
    for (int c = 0; c < t->ncameras; ++c) free(t->background[c]);
  free(t->background);
  free(t->pair_used);
  free(t->rgb);
  free(t->alpha);
  free(t->camera_used);
  free(t->frame_used);
  memset(t, 0, sizeof *t);
}
