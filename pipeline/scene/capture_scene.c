/* capture_scene.c: a capture as the scene's cameras and targets (capture_scene.h). */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/scene/capture_scene.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "pipeline/io/plate_matte.h"

static int has_colmap(const char *folder) {
  char p[PL_PATH_MAX + 32];
  struct stat st;
  snprintf(p, sizeof p, "%s/cameras.txt", folder);
  if (stat(p, &st) == 0) return 1;
  snprintf(p, sizeof p, "%s/sparse/0/cameras.txt", folder);
  return stat(p, &st) == 0;
}

pl_status pl_scene_capture_setup(pl_scene *s) {
  const pl_config *c = &s->config;
  pl_scene_targets *t = &s->targets;
  char wbuf[PL_PATH_MAX + 64];
  int given;
  t->capture_layout = -1;
  t->first_capture_camera = s->ncameras;
  t->path[0] = '\0';
  if (pl_config_path(c, "targets", "", "path", t->path, sizeof t->path, &given) != PL_OK || !given) t->path[0] = '\0';
  t->fps = 0;
  if (pl_config_real(c, "targets", "", "fps", &t->fps, &given) != PL_OK || !given) t->fps = 0;
  pl_clear_error();
  PL_TRY(pl_config_real(c, "targets", "", "offset", &t->offset, NULL));
  if (!isfinite(t->offset))
    return pl_fail(PL_ERR_INVALID, "%s: targets.offset is not finite", pl_config_where(c, "targets", "", "offset", wbuf, sizeof wbuf));
  PL_TRY(pl_config_string(c, "targets", "", "holdout", t->holdout, sizeof t->holdout, NULL));
  PL_TRY(pl_config_string(c, "targets", "", "holdout_frames", t->holdout_frames, sizeof t->holdout_frames, NULL));
  char plate_alpha[32] = "none";
  PL_TRY(pl_config_string(c, "targets", "", "plate_alpha", plate_alpha, sizeof plate_alpha, NULL));
  t->plate_alpha = strcmp(plate_alpha, "matte") == 0 ? 2 : strcmp(plate_alpha, "threshold") == 0 ? 1 : 0;
  PL_TRY(pl_config_real(c, "targets", "", "plate_threshold", &t->plate_threshold, NULL));
  const char *layout_name = NULL;
  if (t->source == PL_TARGETS_PACNERF || t->source == PL_TARGETS_TRANSFORMS) {
    layout_name = t->source == PL_TARGETS_PACNERF ? "pacnerf" : "transforms";
    if (!t->path[0])
      return pl_fail(PL_ERR_INVALID, "%s: targets.source = %s needs targets.path (the capture's folder or file)", s->path,
                     layout_name);
    t->capture_layout = t->source == PL_TARGETS_PACNERF ? PL_CAPTURE_PACNERF : PL_CAPTURE_TRANSFORMS;
  } else if (t->source == PL_TARGETS_FOLDER) {
    char folder[PL_PATH_MAX];
    if (pl_config_path(c, "targets", "", "folder", folder, sizeof folder, &given) == PL_OK && given && has_colmap(folder)) {
      t->capture_layout = PL_CAPTURE_COLMAP;
      snprintf(t->path, sizeof t->path, "%s", folder);
      layout_name = "COLMAP";
    }
    pl_clear_error();
  } else if (t->path[0]) {
    return pl_fail(PL_ERR_INVALID, "%s: targets.path is set but targets.source = truth (set source = pacnerf or "
                   "transforms)", pl_config_where(c, "targets", "", "path", wbuf, sizeof wbuf));
  }
  if (t->capture_layout < 0 && t->plate_alpha)
    return pl_fail(PL_ERR_INVALID, "%s: targets.plate_alpha takes the alpha from a capture's background plates, but "
                   "the targets are not a capture (source = pacnerf or transforms)",
                   pl_config_where(c, "targets", "", "plate_alpha", wbuf, sizeof wbuf));
  if (t->capture_layout < 0) return PL_OK;
  pl_capture cap;
  pl_status st = pl_capture_read(&cap, (pl_capture_layout)t->capture_layout, t->path);
  if (st != PL_OK) return pl_fail_context(st, "%s: targets (source = %s): ", pl_config_where(c, "targets", "", "source", wbuf, sizeof wbuf), layout_name);
  int n = s->ncameras + cap.ncameras;
  if (n > 1024) {
    pl_capture_free(&cap);
    return pl_fail(PL_ERR_LIMIT, "%s: more than 1024 cameras", cap.path);
  }
  pl_scene_camera *nc = (pl_scene_camera *)realloc(s->cameras, sizeof *nc * (size_t)n);
  if (!nc) {
    pl_capture_free(&cap);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  s->cameras = nc;
  for (int k = 0; k < cap.ncameras; ++k) {
    const pl_capture_camera *cc = &cap.cameras[k];
    if (pl_scene_camera_index(s, cc->name) >= 0) {
      st = pl_fail(PL_ERR_INVALID, "%s: camera %s of the capture has the name of a [camera] section", cap.path, cc->name);
      break;
    }
    pl_scene_camera *sc = &s->cameras[s->ncameras];
    memset(sc, 0, sizeof *sc);
    snprintf(sc->name, sizeof sc->name, "%s", cc->name);
    sc->width = s->render.width;
    sc->height = s->render.height;
    pl_capture_scaled_intrinsics(cc, sc->width, sc->height, &sc->fx, &sc->fy, &sc->cx, &sc->cy);
    memcpy(sc->viewmat, cc->viewmat, sizeof sc->viewmat);
    const double *v = sc->viewmat;
    for (int j = 0; j < 3; ++j) sc->eye[j] = -(v[0 + j] * v[3] + v[4 + j] * v[7] + v[8 + j] * v[11]);
    double a0 = (double)cc->width / cc->height, a1 = (double)sc->width / sc->height;
    if (fabs(a0 / a1 - 1) > 0.01 && k == 0)
      PL_WARN("%s: the capture's images are %dx%d but render is %dx%d: pixels are resampled to another aspect (fx and "
              "fy scale separately)", cap.path, cc->width, cc->height, sc->width, sc->height);
    s->ncameras++;
  }
  pl_capture_free(&cap);
  return st;
}

int pl_capture_sim_frame(const pl_scene *s, const pl_capture_frame *f) {
  double fps = s->targets.fps > 0 ? s->targets.fps : s->sim.fps;
  double k = f->index >= 0 ? (double)f->index : (isfinite(f->time) ? f->time * fps : NAN);
  if (!isfinite(k)) return -1;
  double sf = (k - s->targets.offset) * s->sim.fps / fps, r = floor(sf + 0.5);
  if (fabs(sf - r) > 1e-3 || r < 0 || r > s->sim.frames) return -1;
  return (int)r;
}

/* Read an image at the file size of camera cc and resample it to w x h (RGBA). */
static pl_status load_resampled(const char *path, const pl_capture_camera *cc, const char *what, int w, int h,
                                float **out, int *has_alpha) {
  int iw, ih;
  float *px = NULL;
  *out = NULL;
  PL_TRY(pl_capture_image_read(path, &iw, &ih, &px, has_alpha));
  if (iw != cc->width || ih != cc->height) {
    free(px);
    return pl_fail(PL_ERR_INVALID, "%s: %s is %dx%d but camera %s's images are %dx%d (inconsistent image sizes)", path,
                   what, iw, ih, cc->name, cc->width, cc->height);
  }
  float *r = (float *)malloc(sizeof(float) * 4 * (size_t)w * h);
  if (!r) {
    free(px);
    return pl_fail(PL_ERR_NOMEM, "out of memory resampling %s", path);
  }
  if (iw == w && ih == h) memcpy(r, px, sizeof(float) * 4 * (size_t)w * h);
  else pl_capture_resample_area(px, iw, ih, 4, r, w, h);
  free(px);
  *out = r;
  return PL_OK;
}

pl_status pl_targets_load_capture(const pl_scene *s, pl_targets *t, int quiet) {
  pl_capture cap;
  PL_TRY(pl_capture_read(&cap, (pl_capture_layout)s->targets.capture_layout, s->targets.path));
  pl_status st = PL_OK;
  int loaded = 0, unmapped = 0, ignored_masks = 0, unmatted = 0;
  /* background plates of the cameras in use */
  for (int c = s->targets.first_capture_camera; st == PL_OK && c < s->ncameras; ++c) {
    if (!t->camera_used[c]) continue;
    const pl_scene_camera *sc = &s->cameras[c];
    int k = pl_capture_camera_index(&cap, sc->name);
    if (k < 0) continue;
    const pl_capture_camera *cc = &cap.cameras[k];
    ignored_masks += cc->ignore[0] != 0;
    if (!cc->background[0]) continue;
    float *px;
    int ha;
    st = load_resampled(cc->background, cc, "the background plate", sc->width, sc->height, &px, &ha);
    if (st != PL_OK) {
      st = pl_fail_context(st, "%s: camera %s's background plate: ", cap.path, cc->name);
      break;
    }
    size_t np = (size_t)sc->width * sc->height;
    t->background[c] = (float *)malloc(sizeof(float) * 3 * np);
    if (!t->background[c]) {
      free(px);
      st = pl_fail(PL_ERR_NOMEM, "out of memory");
      break;
    }
    for (size_t p = 0; p < np; ++p)
      for (int q = 0; q < 3; ++q) t->background[c][3 * p + q] = px[4 * p + q];
    free(px);
  }
  for (int i = 0; st == PL_OK && i < cap.nframes; ++i) {
    const pl_capture_frame *fr = &cap.frames[i];
    const pl_capture_camera *cc = &cap.cameras[fr->camera];
    int c = pl_scene_camera_index(s, cc->name), f = pl_capture_sim_frame(s, fr);
    if (f < 0) {
      unmapped++;
      continue;
    }
    if (c < 0 || !pl_targets_wanted(t, c, f)) continue;
    const pl_scene_camera *sc = &s->cameras[c];
    size_t k = (size_t)c * t->nframes + f, np = (size_t)sc->width * sc->height;
    if (t->rgb[k]) {
      st = pl_fail(PL_ERR_INVALID, "%s: %s and another image of camera %s fall on simulation frame %d (check "
                   "targets.fps and targets.offset)", cap.path, fr->image, cc->name, f);
      break;
    }
    float *px, *mk = NULL;
    int ha, mha;
    st = load_resampled(fr->image, cc, "the image", sc->width, sc->height, &px, &ha);
    if (st != PL_OK) {
      st = pl_fail_context(st, "%s: camera %s, frame %d: ", cap.path, cc->name, fr->index);
      break;
    }
    if (fr->mask[0]) {
      st = load_resampled(fr->mask, cc, "the mask", sc->width, sc->height, &mk, &mha);
      if (st != PL_OK) {
        st = pl_fail_context(st, "%s: camera %s, frame %d: ", cap.path, cc->name, fr->index);
        free(px);
        break;
      }
    }
    t->rgb[k] = (float *)malloc(sizeof(float) * 3 * np);
    const float *plate = t->background[c];
    int from_plate = !mk && !ha && plate && s->targets.plate_alpha > 0;
    int alpha = mk || ha || from_plate;
    t->alpha[k] = alpha ? (float *)malloc(sizeof(float) * np) : NULL;
    if (!t->rgb[k] || (alpha && !t->alpha[k])) {
      free(px);
      free(mk);
      st = pl_fail(PL_ERR_NOMEM, "out of memory loading %s", fr->image);
      break;
    }
    for (size_t p = 0; p < np; ++p) {
      /* an image with alpha (and no mask file) is the object alone: put it over the plate or render.background */
      float a = px[4 * p + 3];
      for (int q = 0; q < 3; ++q) {
        float under = plate ? plate[3 * p + q] : (float)s->render.background[q];
        t->rgb[k][3 * p + q] = (ha && !mk) ? px[4 * p + q] * a + under * (1 - a) : px[4 * p + q];
      }
      if (mk) t->alpha[k][p] = mk[4 * p] * mk[4 * p + 3];
      else if (ha) t->alpha[k][p] = a;
    }
    if (from_plate) {
      int made = pl_plate_matte(px, 4, plate, 3, sc->width, sc->height, s->targets.plate_threshold,
                                s->targets.plate_alpha == 2, t->alpha[k]);
      if (made < 0) {
        free(px);
        st = pl_fail(PL_ERR_NOMEM, "out of memory matting %s", fr->image);
        break;
      }
      if (!made && s->targets.plate_alpha == 2) ++unmatted;
    }
    if (!alpha) t->has_alpha = 0;
    free(px);
    free(mk);
    loaded++;
  }
  if (st == PL_OK && loaded == 0)
    st = pl_fail(PL_ERR_INVALID, "%s: no image of the capture falls on a selected (camera, simulation frame) pair (%d "
                 "frames fall between or outside the simulated frames 0..%d: check targets.fps, targets.offset, "
                 "sim.fps, sim.frames)", cap.path, unmapped, s->sim.frames);
  if (st == PL_OK && !quiet) {
    PL_INFO("targets: %d images from %s (%d cameras, resampled to %dx%d)", loaded, cap.path, cap.ncameras,
            s->render.width, s->render.height);
    if (unmapped) PL_INFO("targets: %d capture images fall between or outside the simulated frames and are not used", unmapped);
  }
  if (st == PL_OK && unmatted && !quiet)
    PL_WARN("targets.plate_alpha = matte: %d images have fewer than 8 pixels inside the object (or none) to take its "
            "colour from; their alpha is the thresholded mask", unmatted);
  if (st == PL_OK && ignored_masks)
    PL_WARN("%s: %d cameras have a PAC-NeRF r_C_-2 mask (pixels left out of its loss); it is not applied here", cap.path,
            ignored_masks);
  if (st == PL_OK && s->optimize.loss_weight[PL_LOSS_MASK] > 0 && !t->has_alpha)
    st = pl_fail(PL_ERR_INVALID, "optimize.loss has a mask term but the capture %s has images without a mask (no alpha "
                 "channel, no mask file%s)", cap.path,
                 s->targets.plate_alpha ? ", no background plate" : "; with background plates, set targets.plate_alpha");
  pl_capture_free(&cap);
  return st;
}
