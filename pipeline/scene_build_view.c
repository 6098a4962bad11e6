/* scene_build_view.c: how a scene is seen: [upsample], [render] and [camera NAME]. */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/scene_build.h"

#include <cglm/cglm.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "pipeline/capture_scene.h"

/* camera centre from a rigid world->camera matrix: -R^T t */
static void camera_center(const double v[16], double eye[3]) {
  for (int j = 0; j < 3; ++j) eye[j] = -(v[0 + j] * v[3] + v[4 + j] * v[7] + v[8 + j] * v[11]);
}

static int is_rigid(const double v[16]) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double dot = 0;
      for (int k = 0; k < 3; ++k) dot += v[4 * i + k] * v[4 * j + k];
      if (fabs(dot - (i == j ? 1.0 : 0.0)) > 1e-4) return 0;
    }
  return fabs(v[12]) + fabs(v[13]) + fabs(v[14]) + fabs(v[15] - 1) < 1e-9;
}

static double json_num(const cJSON *obj, const char *key, double dflt, int *found) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (cJSON_IsNumber(it)) {
    if (found) *found = 1;
    return it->valuedouble;
  }
  if (found) *found = 0;
  return dflt;
}

/* NeRF / nerfstudio transforms.json: camera-to-world in OpenGL axes (transform_matrix), intrinsics from
 * fl_x/fl_y/cx/cy/w/h (top level or per frame) or camera_angle_x. */
static pl_status camera_from_transforms(pl_scene_camera *cam, const char *path, long frame, const char *key_where) {
  char *text = NULL;
  pl_status rs = pl_read_file_max(path, (size_t)64 << 20, &text, NULL);
  if (rs != PL_OK) return pl_fail_context(rs, "%s: camera transforms file ", key_where);
  cJSON *root = cJSON_Parse(text);
  free(text);
  if (!root) return pl_fail(PL_ERR_PARSE, "%s: %s is not valid JSON", key_where, path);
  pl_status st = PL_OK;
  const cJSON *frames = cJSON_GetObjectItemCaseSensitive(root, "frames");
  int nf = cJSON_IsArray(frames) ? cJSON_GetArraySize(frames) : 0;
  if (nf == 0) {
    st = pl_fail(PL_ERR_PARSE, "%s: %s has no \"frames\" array", key_where, path);
    goto done;
  }
  if (frame < 0 || frame >= nf) {
    st = pl_fail(PL_ERR_INVALID, "%s: transforms_frame %ld is outside 0..%d of %s", key_where, frame, nf - 1, path);
    goto done;
  }
  const cJSON *fr = cJSON_GetArrayItem(frames, (int)frame);
  const cJSON *tm = cJSON_GetObjectItemCaseSensitive(fr, "transform_matrix");
  if (!cJSON_IsArray(tm) || cJSON_GetArraySize(tm) < 3) {
    st = pl_fail(PL_ERR_PARSE, "%s: %s frame %ld has no 4x4 transform_matrix", key_where, path, frame);
    goto done;
  }
  double c2w[4][4] = {{0}};
  c2w[3][3] = 1;
  for (int i = 0; i < 3; ++i) {
    const cJSON *row = cJSON_GetArrayItem(tm, i);
    if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) < 4) {
      st = pl_fail(PL_ERR_PARSE, "%s: %s frame %ld: transform_matrix row %d is not 4 numbers", key_where, path, frame, i);
      goto done;
    }
    for (int j = 0; j < 4; ++j) {
      const cJSON *x = cJSON_GetArrayItem(row, j);
      if (!cJSON_IsNumber(x)) {
        st = pl_fail(PL_ERR_PARSE, "%s: %s frame %ld: transform_matrix[%d][%d] is not a number", key_where, path,
                     frame, i, j);
        goto done;
      }
      c2w[i][j] = x->valuedouble;
    }
  }
  /* OpenGL camera axes -> OpenCV, inverted (the one conversion, in capture.c) */
  double rows[12];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) rows[4 * i + j] = c2w[i][j];
  if (!pl_capture_c2w_gl_to_viewmat(rows, cam->viewmat)) {
    st = pl_fail(PL_ERR_INVALID, "%s: %s frames[%ld]: transform_matrix of camera %s is not a rigid transform (its "
                 "rotation is not orthonormal, or a value is not finite)", key_where, path, frame, cam->name);
    goto done;
  }
  int fw = 0, fh = 0, ffx = 0, ffy = 0, fcx = 0, fcy = 0, fang = 0;
  double w = json_num(fr, "w", json_num(root, "w", 0, &fw), &fw);
  if (!fw) w = json_num(root, "w", 0, &fw);
  double h = json_num(fr, "h", 0, &fh);
  if (!fh) h = json_num(root, "h", 0, &fh);
  if ((fw && !(w >= 1 && w <= PL_CAPTURE_MAX_SIDE && w == floor(w))) ||
      (fh && !(h >= 1 && h <= PL_CAPTURE_MAX_SIDE && h == floor(h)))) {
    st = pl_fail(PL_ERR_INVALID, "%s: %s frames[%ld] (camera %s): w = %g, h = %g must be whole numbers of pixels in "
                 "1..%d", key_where, path, frame, cam->name, fw ? w : 0.0, fh ? h : 0.0, PL_CAPTURE_MAX_SIDE);
    goto done;
  }
  if (fw) cam->width = (int)w;
  if (fh) cam->height = (int)h;
  double fx = json_num(fr, "fl_x", 0, &ffx);
  if (!ffx) fx = json_num(root, "fl_x", 0, &ffx);
  double fy = json_num(fr, "fl_y", 0, &ffy);
  if (!ffy) fy = json_num(root, "fl_y", 0, &ffy);
  double cx = json_num(fr, "cx", 0, &fcx);
  if (!fcx) cx = json_num(root, "cx", 0, &fcx);
  double cy = json_num(fr, "cy", 0, &fcy);
  if (!fcy) cy = json_num(root, "cy", 0, &fcy);
  double ang = json_num(root, "camera_angle_x", 0, &fang);
  if (ffx) {
    cam->fx = fx;
    cam->fy = ffy ? fy : fx;
  } else if (fang) {
    cam->fx = cam->fy = 0.5 * cam->width / tan(0.5 * ang);
  } else {
    st = pl_fail(PL_ERR_PARSE, "%s: %s gives neither fl_x nor camera_angle_x", key_where, path);
    goto done;
  }
  cam->cx = fcx ? cx : 0.5 * cam->width;
  cam->cy = fcy ? cy : 0.5 * cam->height;
  if (!(cam->fx > 0 && cam->fy > 0 && isfinite(cam->fx) && isfinite(cam->fy) && isfinite(cam->cx) && isfinite(cam->cy)))
    st = pl_fail(PL_ERR_INVALID, "%s: %s frames[%ld] (camera %s): the intrinsics (fl_x/fl_y or camera_angle_x, cx, cy) "
                 "must be finite with positive focal lengths", key_where, path, frame, cam->name);
done:
  cJSON_Delete(root);
  return st;
}

static pl_status build_camera(const pl_config *c, const char *name, const pl_scene_render *render,
                              pl_scene_camera *cam) {
  memset(cam, 0, sizeof *cam);
  pl_scene_copy_name(cam->name, name);
  int si = pl_config_find_section(c, "camera", name);
  const pl_cfg_section *sec = &c->sections[si];
  int has_eye = pl_config_entry(c, si, "eye") != NULL;
  int has_view = pl_config_entry(c, si, "viewmat") != NULL;
  int has_tf = pl_config_entry(c, si, "transforms") != NULL;
  if (has_eye + has_view + has_tf != 1)
    return pl_fail(PL_ERR_INVALID, "%s:%d: [camera %s] needs exactly one of eye (look-at), viewmat or transforms",
                   sec->file, sec->line, name);
  long w = render->width, h = render->height;
  int given;
  pl_config_int(c, "camera", name, "width", &w, &given);
  if (!given) w = render->width;
  pl_config_int(c, "camera", name, "height", &h, &given);
  if (!given) h = render->height;
  cam->width = (int)w;
  cam->height = (int)h;
  if (has_tf) {
    char path[PL_PATH_MAX];
    long fr = 0;
    PL_TRY(pl_config_path(c, "camera", name, "transforms", path, sizeof path, NULL));
    PL_TRY(pl_config_int(c, "camera", name, "transforms_frame", &fr, NULL));
    return camera_from_transforms(cam, path, fr, pl_scene_where(c, "camera", name, "transforms"));
  }
  if (has_eye) {
    double eye[3], target[3], up[3];
    PL_TRY(pl_config_vec3(c, "camera", name, "eye", eye, NULL));
    PL_TRY(pl_config_vec3(c, "camera", name, "target", target, NULL));
    PL_TRY(pl_config_vec3(c, "camera", name, "up", up, NULL));
    double f[3] = {target[0] - eye[0], target[1] - eye[1], target[2] - eye[2]};
    double fl = sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2]);
    if (fl < 1e-9) return pl_fail(PL_ERR_INVALID, "%s: [camera %s] eye and target coincide", pl_scene_where(c, "camera", name, "eye"), name);
    double cr[3] = {f[1] * up[2] - f[2] * up[1], f[2] * up[0] - f[0] * up[2], f[0] * up[1] - f[1] * up[0]};
    if (sqrt(cr[0] * cr[0] + cr[1] * cr[1] + cr[2] * cr[2]) < 1e-9 * fl * (1 + fabs(up[0]) + fabs(up[1]) + fabs(up[2])))
      return pl_fail(PL_ERR_INVALID, "%s: [camera %s] up is parallel to the viewing direction (or zero)",
                     pl_scene_where(c, "camera", name, "up"), name);
    pl_look_at_opencv(eye, target, up, cam->viewmat);
  } else {
    char text[1024];
    double v[16];
    PL_TRY(pl_config_string(c, "camera", name, "viewmat", text, sizeof text, NULL));
    int n = pl_parse_reals(text, v, 16);
    if (n != 12 && n != 16)
      return pl_fail(PL_ERR_INVALID, "%s: [camera %s] viewmat needs 12 or 16 numbers (got %d)",
                     pl_scene_where(c, "camera", name, "viewmat"), name, n);
    memcpy(cam->viewmat, v, sizeof(double) * (size_t)n);
    if (n == 12) {
      cam->viewmat[12] = cam->viewmat[13] = cam->viewmat[14] = 0;
      cam->viewmat[15] = 1;
    }
    if (!is_rigid(cam->viewmat))
      return pl_fail(PL_ERR_INVALID, "%s: [camera %s] viewmat is not a rigid transform (rotation rows must be "
                     "orthonormal, last row 0 0 0 1)", pl_scene_where(c, "camera", name, "viewmat"), name);
  }
  double fov;
  PL_TRY(pl_config_real(c, "camera", name, "fov", &fov, NULL));
  double fx = 0.5 * cam->height / tan(0.5 * fov * GLM_PI / 180.0), fy;
  pl_config_real(c, "camera", name, "fx", &fx, &given);
  if (!given) fx = 0.5 * cam->height / tan(0.5 * fov * GLM_PI / 180.0);
  fy = fx;
  double t;
  if (pl_config_real(c, "camera", name, "fy", &t, &given) == PL_OK && given) fy = t;
  cam->fx = fx;
  cam->fy = fy;
  cam->cx = 0.5 * cam->width;
  cam->cy = 0.5 * cam->height;
  if (pl_config_real(c, "camera", name, "cx", &t, &given) == PL_OK && given) cam->cx = t;
  if (pl_config_real(c, "camera", name, "cy", &t, &given) == PL_OK && given) cam->cy = t;
  pl_clear_error();
  return PL_OK;
}

/* [upsample] */
pl_status pl_scene_build_upsample(pl_scene *s) {
  const pl_config *c = &s->config;
  pl_scene_upsample *u = &s->upsample;
  long l;
  int e;
  PL_TRY(pl_scene_get_enum(c, "upsample", "", "mode", &e));
  u->mode = (pl_upsample_mode)e;
  PL_TRY(pl_config_real(c, "upsample", "", "spacing", &u->spacing, NULL));
  PL_TRY(pl_config_real(c, "upsample", "", "sigma0", &u->sigma0, NULL));
  PL_TRY(pl_config_real(c, "upsample", "", "thickness", &u->thickness, NULL));
  PL_TRY(pl_config_real(c, "upsample", "", "opacity", &u->opacity, NULL));
  PL_TRY(pl_config_real(c, "upsample", "", "bind_radius", &u->bind_radius, NULL));
  PL_TRY(pl_config_real(c, "upsample", "", "surface_threshold", &u->surface_threshold, NULL));
  PL_TRY(pl_config_real(c, "upsample", "", "surface_band", &u->surface_band, NULL));
  PL_TRY(pl_config_real(c, "upsample", "", "surface_level", &u->surface_level, NULL));
  PL_TRY(pl_config_real(c, "upsample", "", "smoothing", &u->smoothing, NULL));
  PL_TRY(pl_config_int(c, "upsample", "", "children", &l, NULL));
  u->children = (int)l;
  PL_TRY(pl_config_bool(c, "upsample", "", "learn_colors", &u->learn_colors, NULL));
  PL_TRY(pl_config_bool(c, "upsample", "", "learn_opacities", &u->learn_opacities, NULL));
  PL_TRY(pl_config_real(c, "upsample", "", "colors_lr", &u->colors_lr, NULL));
  PL_TRY(pl_config_real(c, "upsample", "", "opacities_lr", &u->opacities_lr, NULL));
  return PL_OK;
}

/* [render] */
pl_status pl_scene_build_render(pl_scene *s) {
  const pl_config *c = &s->config;
  pl_scene_render *r = &s->render;
  long l;
  int e;
  PL_TRY(pl_config_int(c, "render", "", "width", &l, NULL));
  r->width = (int)l;
  PL_TRY(pl_config_int(c, "render", "", "height", &l, NULL));
  r->height = (int)l;
  PL_TRY(pl_config_vec3(c, "render", "", "background", r->background, NULL));
  PL_TRY(pl_scene_get_enum(c, "render", "", "mode", &e));
  r->antialiased = e == 1;
  PL_TRY(pl_config_string(c, "render", "", "frames", r->frames, sizeof r->frames, NULL));
  PL_TRY(pl_config_path(c, "render", "", "output", r->output, sizeof r->output, NULL));
  PL_TRY(pl_config_bool(c, "render", "", "particle_ply", &r->particle_ply, NULL));
  PL_TRY(pl_config_bool(c, "render", "", "gaussian_ply", &r->gaussian_ply, NULL));
  pl_status st = pl_scene_check_frames(r->frames, s->sim.frames + 1);
  if (st != PL_OK) return pl_fail_context(st, "%s: render.frames: ", pl_scene_where(c, "render", "", "frames"));
  return PL_OK;
}

/* [camera NAME] */
pl_status pl_scene_build_cameras(pl_scene *s) {
  const pl_config *c = &s->config;
  int idx[1024];
  int n = pl_config_sections_of(c, "camera", idx, 1024);
  if (n > 1024) return pl_fail(PL_ERR_LIMIT, "%s: more than 1024 cameras", c->path);
  s->cameras = (pl_scene_camera *)calloc((size_t)(n ? n : 1), sizeof *s->cameras);
  if (!s->cameras) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < n; ++i) {
    PL_TRY(build_camera(c, c->sections[idx[i]].name, &s->render, &s->cameras[i]));
    camera_center(s->cameras[i].viewmat, s->cameras[i].eye);
    s->ncameras++;
  }
  return PL_OK;
}
