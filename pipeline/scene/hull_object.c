/* hull_object.c: shape = visual_hull objects of a scene (hull_object.h). */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/scene/hull_object.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/log.h"
#include "pipeline/io/capture.h"
#include "pipeline/io/plate_matte.h"
#include "pipeline/scene/capture_scene.h"

static int in_list(const char *list, const char *name) {
  char b[512];
  snprintf(b, sizeof b, "%s", list);
  char *save = NULL;
  for (char *t = strtok_r(b, " ,", &save); t; t = strtok_r(NULL, " ,", &save))
    if (strcmp(t, name) == 0) return 1;
  return 0;
}

/* The first-frame mask of capture camera k at the images' size: mask file, alpha, or background subtraction
 * (thresholded, or matted when matte is set). */
static pl_status first_frame_mask(const pl_scene *s, const pl_capture *cap, int k, double threshold, int matte,
                                  float **out) {
  const pl_capture_camera *cc = &cap->cameras[k];
  const pl_capture_frame *fr = NULL;
  *out = NULL;
  for (int i = 0; i < cap->nframes; ++i)
    if (cap->frames[i].camera == k && pl_capture_sim_frame(s, &cap->frames[i]) == 0) fr = &cap->frames[i];
  if (!fr)
    return pl_fail(PL_ERR_INVALID, "%s: camera %s has no image on simulation frame 0 (check targets.fps, targets.offset)",
                   cap->path, cc->name);
  int w, h, ha;
  float *px = NULL;
  const char *src = fr->mask[0] ? fr->mask : fr->image;
  PL_TRY(pl_capture_image_read(src, &w, &h, &px, &ha));
  if (w != cc->width || h != cc->height) {
    free(px);
    return pl_fail(PL_ERR_INVALID, "%s: %dx%d, but camera %s's images are %dx%d", src, w, h, cc->name, cc->width, cc->height);
  }
  size_t np = (size_t)w * h;
  float *m = (float *)malloc(sizeof(float) * (np ? np : 1));
  if (!m) {
    free(px);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  pl_status st = PL_OK;
  if (fr->mask[0]) {
    for (size_t p = 0; p < np; ++p) m[p] = px[4 * p] * px[4 * p + 3];
  } else if (ha) {
    for (size_t p = 0; p < np; ++p) m[p] = px[4 * p + 3];
  } else if (cc->background[0]) {
    int bw, bh, bha;
    float *bg = NULL;
    st = pl_capture_image_read(cc->background, &bw, &bh, &bg, &bha);
    if (st == PL_OK && (bw != w || bh != h))
      st = pl_fail(PL_ERR_INVALID, "%s: the background plate is %dx%d, the images %dx%d", cc->background, bw, bh, w, h);
    int made = st == PL_OK ? pl_plate_matte(px, 4, bg, 4, w, h, threshold, matte, m) : 0;
    if (made < 0) st = pl_fail(PL_ERR_NOMEM, "out of memory matting %s", fr->image);
    else if (st == PL_OK && matte && !made)
      PL_WARN("%s: camera %s, frame 0: fewer than 8 pixels inside the object's mask: hull_mask = matte has no object "
              "colour to matte with, the thresholded mask is used", fr->image, cc->name);
    free(bg);
  } else {
    st = pl_fail(PL_ERR_INVALID, "%s: camera %s, frame 0: no mask (no mask file, no alpha channel, no background plate "
                 "to subtract): shape = visual_hull needs the object's silhouette", fr->image, cc->name);
  }
  free(px);
  if (st != PL_OK) {
    free(m);
    return st;
  }
  *out = m;
  return PL_OK;
}

static pl_status carve_object(pl_scene *s, int oi, const pl_capture *cap) {
  const pl_config *c = &s->config;
  pl_scene_object *o = &s->objects[oi];
  char label[PL_NAME_MAX + 16], wbuf[PL_PATH_MAX + 64];
  snprintf(label, sizeof label, "[object %s]", o->name);
  long misses = 0;
  double threshold = 0.1, bmin[3], bmax[3];
  PL_TRY(pl_config_int(c, "object", o->name, "hull_misses", &misses, NULL));
  PL_TRY(pl_config_real(c, "object", o->name, "hull_threshold", &threshold, NULL));
  long samples = 1;
  double erode = 0;
  PL_TRY(pl_config_int(c, "object", o->name, "hull_samples", &samples, NULL));
  PL_TRY(pl_config_real(c, "object", o->name, "hull_erode", &erode, NULL));
  char maskmode[32] = "threshold";
  PL_TRY(pl_config_string(c, "object", o->name, "hull_mask", maskmode, sizeof maskmode, NULL));
  int matte = strcmp(maskmode, "matte") == 0;
  memcpy(bmin, s->sim.domain_min, sizeof bmin);
  memcpy(bmax, s->sim.domain_max, sizeof bmax);
  if (pl_config_text(c, "object", o->name, "hull_min")) PL_TRY(pl_config_vec3(c, "object", o->name, "hull_min", bmin, NULL));
  if (pl_config_text(c, "object", o->name, "hull_max")) PL_TRY(pl_config_vec3(c, "object", o->name, "hull_max", bmax, NULL));
  /* the hull is placed by the capture: a centre, rotation or scale other than the defaults is a mistake (the
   * defaults themselves are accepted: a run folder's resolved scene.cfg lists them) */
  double cen[3], rot[3], sca[3];
  PL_TRY(pl_config_vec3(c, "object", o->name, "center", cen, NULL));
  PL_TRY(pl_config_vec3(c, "object", o->name, "rotation", rot, NULL));
  PL_TRY(pl_config_vec3(c, "object", o->name, "scale", sca, NULL));
  for (int a = 0; a < 3; ++a) {
    const char *bad = cen[a] != 0.5 ? "center" : rot[a] != 0 ? "rotation" : sca[a] != 1 ? "scale" : NULL;
    if (bad)
      return pl_fail(PL_ERR_INVALID, "%s: %s has shape = visual_hull: its place and size come from the capture "
                     "(remove %s)", pl_config_where(c, "object", o->name, bad, wbuf, sizeof wbuf), label, bad);
  }
  pl_hull_object *h = (pl_hull_object *)calloc(1, sizeof *h);
  int n = cap->ncameras;
  pl_hull_view *views = (pl_hull_view *)calloc((size_t)n, sizeof *views);
  float **masks = (float **)calloc((size_t)n, sizeof *masks);
  if (h) {
    h->names = (char(*)[64])calloc((size_t)n, 64);
    h->iou = (double *)calloc((size_t)n, sizeof(double));
    h->width = (int *)calloc((size_t)n, sizeof(int));
    h->height = (int *)calloc((size_t)n, sizeof(int));
    h->overlay = (unsigned char **)calloc((size_t)n, sizeof(unsigned char *));
  }
  pl_status st = PL_OK;
  if (!h || !views || !masks || !h->names || !h->iou || !h->width || !h->height || !h->overlay)
    st = pl_fail(PL_ERR_NOMEM, "out of memory");
  int nv = 0;
  for (int k = 0; st == PL_OK && k < n; ++k) {
    const pl_capture_camera *cc = &cap->cameras[k];
    if (s->targets.holdout[0] && in_list(s->targets.holdout, cc->name)) continue; /* scored after the fit: unseen */
    st = first_frame_mask(s, cap, k, threshold, matte, &masks[nv]);
    if (st != PL_OK) break;
    pl_hull_view *v = &views[nv];
    v->name = cc->name;
    v->width = cc->width, v->height = cc->height;
    v->fx = cc->fx, v->fy = cc->fy, v->cx = cc->cx, v->cy = cc->cy;
    memcpy(v->viewmat, cc->viewmat, sizeof v->viewmat);
    v->mask = masks[nv];
    snprintf(h->names[nv], 64, "%s", cc->name);
    ++nv;
  }
  if (h) h->nviews = nv;
  if (st == PL_OK && misses >= nv)
    st = pl_fail(PL_ERR_INVALID, "%s: hull_misses = %ld but the hull is carved from %d cameras",
                 pl_config_where(c, "object", o->name, "hull_misses", wbuf, sizeof wbuf), misses, nv);
  if (st == PL_OK) {
    pl_hull_desc d;
    memset(&d, 0, sizeof d);
    d.views = views;
    d.nviews = nv;
    d.h = s->sim.dx / cbrt((double)o->particles_per_cell);
    memcpy(d.box_min, bmin, sizeof bmin);
    memcpy(d.box_max, bmax, sizeof bmax);
    d.misses = (int)misses;
    d.samples = (int)samples;
    d.erode = erode;
    d.label = label;
    h->misses = (int)misses;
    st = pl_visual_hull_carve(&d, &h->occ, &h->info);
  }
  for (int v = 0; st == PL_OK && v < nv; ++v) {
    size_t np = (size_t)views[v].width * views[v].height;
    unsigned char *sil = (unsigned char *)malloc(np ? np : 1);
    h->overlay[v] = (unsigned char *)malloc(3 * (np ? np : 1));
    if (!sil || !h->overlay[v]) {
      free(sil);
      st = pl_fail(PL_ERR_NOMEM, "out of memory");
      break;
    }
    st = pl_visual_hull_silhouette(&h->occ, &views[v], sil, &h->iou[v]);
    h->width[v] = views[v].width, h->height[v] = views[v].height;
    for (size_t p = 0; st == PL_OK && p < np; ++p) {
      int m = views[v].mask[p] >= 0.5f, x = sil[p];
      unsigned char *px = h->overlay[v] + 3 * p;
      px[0] = (unsigned char)(m ? 230 : (x ? 40 : 0));
      px[1] = (unsigned char)(m ? (x ? 230 : 30) : (x ? 90 : 0));
      px[2] = (unsigned char)(m ? (x ? 230 : 30) : (x ? 255 : 0));
    }
    free(sil);
  }
  if (st == PL_OK) { /* the views and their masks stay with the object (the appearance stage's mask test) */
    h->views = views, h->masks = masks;
    for (int v = 0; v < nv; ++v) views[v].name = h->names[v]; /* the capture's names do not outlive it */
    views = NULL, masks = NULL;
  }
  for (int v = 0; masks && v < n; ++v) free(masks[v]);
  free(masks);
  free(views);
  if (st != PL_OK) {
    pl_hull_object_free(h);
    return st;
  }
  const pl_hull_info *in = &h->info;
  if (samples >= 2 || erode > 0)
    PL_INFO("%s: sub-voxel carving: %ld^3 points per voxel on the bilinear masks, kept at half; eroded by %g m", label,
            samples < 1 ? 1 : samples, erode);
  if (matte) PL_INFO("%s: masks matted against the plates where no mask file or alpha is given (hull_mask = matte)", label);
  PL_INFO("%s: visual hull from frame 0 of %d cameras (%d tolerated misses): %lld of %lld voxels of %.4g m kept "
          "(%d components, %lld carved voxels outside the largest): volume %.5g m^3, box %.3g..%.3g x %.3g..%.3g x "
          "%.3g..%.3g", label, nv, h->misses, (long long)in->kept, (long long)in->voxels, h->occ.h, in->components,
          (long long)(in->carved_in - in->kept), in->volume, in->lo[0], in->hi[0], in->lo[1], in->hi[1], in->lo[2],
          in->hi[2]);
  char line[4096];
  int len = snprintf(line, sizeof line, "%s: hull mask IoU per camera:", label);
  double mean = 0;
  for (int v = 0; v < nv && len < (int)sizeof line - 32; ++v) {
    len += snprintf(line + len, sizeof line - (size_t)len, " %s %.3f", h->names[v], h->iou[v]);
    mean += h->iou[v] / nv;
  }
  PL_INFO("%s (mean %.3f)", line, mean);
  memcpy(o->center, in->centroid, sizeof o->center);
  o->hull = h;
  return PL_OK;
}

pl_status pl_scene_carve_hulls(pl_scene *s) {
  const pl_config *c = &s->config;
  char wbuf[PL_PATH_MAX + 64];
  int need = 0;
  for (int i = 0; i < s->nobjects; ++i) {
    if (s->objects[i].shape == PL_SHAPE_VISUAL_HULL) {
      need = 1;
      continue;
    }
    /* hull keys on another shape (their defaults accepted: a resolved scene.cfg lists them) */
    const char *name = s->objects[i].name, *bad = NULL;
    long k = 0;
    double thr = 0.1;
    PL_TRY(pl_config_int(c, "object", name, "hull_misses", &k, NULL));
    PL_TRY(pl_config_real(c, "object", name, "hull_threshold", &thr, NULL));
    long ns = 1;
    double er = 0;
    PL_TRY(pl_config_int(c, "object", name, "hull_samples", &ns, NULL));
    PL_TRY(pl_config_real(c, "object", name, "hull_erode", &er, NULL));
    if (k != 0) bad = "hull_misses";
    else if (thr != 0.1) bad = "hull_threshold";
    else if (ns != 1) bad = "hull_samples";
    else if (er != 0) bad = "hull_erode";
    else if (pl_config_text(c, "object", name, "hull_mask") &&
             strcmp(pl_config_text(c, "object", name, "hull_mask"), "threshold") != 0)
      bad = "hull_mask";
    else if (pl_config_text(c, "object", name, "hull_min")) bad = "hull_min";
    else if (pl_config_text(c, "object", name, "hull_max")) bad = "hull_max";
    if (bad)
      return pl_fail(PL_ERR_INVALID, "%s: [object %s] gives %s but its shape is %s (set shape = visual_hull)",
                     pl_config_where(c, "object", name, bad, wbuf, sizeof wbuf), name, bad,
                     pl_shape_name(s->objects[i].shape));
  }
  if (!need) return PL_OK;
  if (s->targets.capture_layout < 0) {
    for (int i = 0; i < s->nobjects; ++i)
      if (s->objects[i].shape == PL_SHAPE_VISUAL_HULL)
        return pl_fail(PL_ERR_INVALID, "%s: [object %s] has shape = visual_hull but the scene has no capture to carve it "
                       "from (set [targets] source = pacnerf or transforms and path = the capture)",
                       pl_config_where(c, "object", s->objects[i].name, "shape", wbuf, sizeof wbuf), s->objects[i].name);
  }
  pl_capture cap;
  PL_TRY(pl_capture_read(&cap, (pl_capture_layout)s->targets.capture_layout, s->targets.path));
  pl_status st = PL_OK;
  for (int i = 0; st == PL_OK && i < s->nobjects; ++i)
    if (s->objects[i].shape == PL_SHAPE_VISUAL_HULL) st = carve_object(s, i, &cap);
  pl_capture_free(&cap);
  return st;
}

pl_status pl_scene_write_hull_images(const pl_scene *s, const char *folder) {
  for (int i = 0; i < s->nobjects; ++i) {
    const pl_hull_object *h = s->objects[i].hull;
    if (!h) continue;
    for (int v = 0; v < h->nviews; ++v) {
      size_t np = (size_t)h->width[v] * h->height[v];
      float *px = (float *)malloc(sizeof(float) * 3 * (np ? np : 1));
      if (!px) return pl_fail(PL_ERR_NOMEM, "out of memory");
      for (size_t p = 0; p < 3 * np; ++p) px[p] = h->overlay[v][p] / 255.0f;
      char path[PL_PATH_MAX + 256];
      snprintf(path, sizeof path, "%s/hull_%s_%s.png", folder, s->objects[i].name, h->names[v]);
      pl_status st = pl_png_write_float(path, h->width[v], h->height[v], 3, px);
      free(px);
      PL_TRY(st);
    }
  }
  return PL_OK;
}
