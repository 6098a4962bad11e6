/* scene_build_view.c: how a scene is seen: [upsample], [render] and [camera NAME]. */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/scene/scene_build.h"
#include "raster/raster.h"

#include <cglm/cglm.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "pipeline/scene/capture_scene.h"

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

/* a per-frame value, else the file's top-level one */
static double frame_or_top(const cJSON *fr, const cJSON *root, const char *key, int *found) {
  double v = json_num(fr, key, 0, found);
  return *found ? v : json_num(root, key, 0, found);
}

/* transform_matrix (camera-to-world, OpenGL axes) -> the world-to-camera viewmat (OpenCV axes) */
static pl_status transforms_pose(const cJSON *fr, pl_scene_camera *cam, const char *path, long frame,
                                 const char *key_where) {
  const cJSON *tm = cJSON_GetObjectItemCaseSensitive(fr, "transform_matrix");
  if (!cJSON_IsArray(tm) || cJSON_GetArraySize(tm) < 3)
    return pl_fail(PL_ERR_PARSE, "%s: %s frame %ld has no 4x4 transform_matrix", key_where, path, frame);
  double rows[12];
  for (int i = 0; i < 3; ++i) {
    const cJSON *row = cJSON_GetArrayItem(tm, i);
    if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) < 4)
      return pl_fail(PL_ERR_PARSE, "%s: %s frame %ld: transform_matrix row %d is not 4 numbers", key_where, path,
                     frame, i);
    for (int j = 0; j < 4; ++j) {
      const cJSON *x = cJSON_GetArrayItem(row, j);
      if (!cJSON_IsNumber(x))
        return pl_fail(PL_ERR_PARSE, "%s: %s frame %ld: transform_matrix[%d][%d] is not a number", key_where, path,
                       frame, i, j);
      rows[4 * i + j] = x->valuedouble;
    }
  }
  /* OpenGL camera axes -> OpenCV, inverted (the one conversion, in capture.c) */
  if (!pl_capture_c2w_gl_to_viewmat(rows, cam->viewmat))
    return pl_fail(PL_ERR_INVALID, "%s: %s frames[%ld]: transform_matrix of camera %s is not a rigid transform (its "
                   "rotation is not orthonormal, or a value is not finite)", key_where, path, frame, cam->name);
  return PL_OK;
}

/* w, h, fl_x, fl_y, cx, cy per frame or at the top level; camera_angle_x when fl_x is not given */
static pl_status transforms_intrinsics(const cJSON *root, const cJSON *fr, pl_scene_camera *cam, const char *path,
                                       long frame, const char *key_where) {
  int fw = 0, fh = 0, ffx = 0, ffy = 0, fcx = 0, fcy = 0, fang = 0;
  double w = frame_or_top(fr, root, "w", &fw), h = frame_or_top(fr, root, "h", &fh);
  if ((fw && !(w >= 1 && w <= PL_CAPTURE_MAX_SIDE && w == floor(w))) ||
      (fh && !(h >= 1 && h <= PL_CAPTURE_MAX_SIDE && h == floor(h))))
    return pl_fail(PL_ERR_INVALID, "%s: %s frames[%ld] (camera %s): w = %g, h = %g must be whole numbers of pixels "
                   "in 1..%d", key_where, path, frame, cam->name, fw ? w : 0.0, fh ? h : 0.0, PL_CAPTURE_MAX_SIDE);
  if (fw) cam->width = (int)w;
  if (fh) cam->height = (int)h;
  double fx = frame_or_top(fr, root, "fl_x", &ffx), fy = frame_or_top(fr, root, "fl_y", &ffy);
  double cx = frame_or_top(fr, root, "cx", &fcx), cy = frame_or_top(fr, root, "cy", &fcy);
  double ang = json_num(root, "camera_angle_x", 0, &fang);
  if (ffx) {
    cam->fx = fx;
    cam->fy = ffy ? fy : fx;
  } else if (fang) {
    cam->fx = cam->fy = 0.5 * cam->width / tan(0.5 * ang);
  } else {
    return pl_fail(PL_ERR_PARSE, "%s: %s gives neither fl_x nor camera_angle_x", key_where, path);
  }
  cam->cx = fcx ? cx : 0.5 * cam->width;
  cam->cy = fcy ? cy : 0.5 * cam->height;
  if (!(cam->fx > 0 && cam->fy > 0 && isfinite(cam->fx) && isfinite(cam->fy) && isfinite(cam->cx) && isfinite(cam->cy)))
    return pl_fail(PL_ERR_INVALID, "%s: %s frames[%ld] (camera %s): the intrinsics (fl_x/fl_y or camera_angle_x, cx, "
                   "cy) must be finite with positive focal lengths", key_where, path, frame, cam->name);
  return PL_OK;
}

/* NeRF / nerfstudio transforms.json: camera-to-world in OpenGL axes (transform_matrix), intrinsics from
 * fl_x/fl_y/cx/cy/w/h (top level or per frame) or camera_angle_x. */
static pl_status camera_from_transforms(pl_scene_camera *cam, const char *path, long frame, const char *key_where) {
  char *text = NULL;
  pl_status st = pl_read_file_max(path, (size_t)64 << 20, &text, NULL);
  if (st != PL_OK) return pl_fail_context(st, "%s: camera transforms file ", key_where);
  cJSON *root = cJSON_Parse(text);
  free(text);
  if (!root) return pl_fail(PL_ERR_PARSE, "%s: %s is not valid JSON", key_where, path);
  const cJSON *frames = cJSON_GetObjectItemCaseSensitive(root, "frames");
  int nf = cJSON_IsArray(frames) ? cJSON_GetArraySize(frames) : 0;
  if (nf == 0)
    st = pl_fail(PL_ERR_PARSE, "%s: %s has no \"frames\" array", key_where, path);
  else if (frame < 0 || frame >= nf)
    st = pl_fail(PL_ERR_INVALID, "%s: transforms_frame %ld is outside 0..%d of %s", key_where, frame, nf - 1, path);
  const cJSON *fr = st == PL_OK ? cJSON_GetArrayItem(frames, (int)frame) : NULL;
  if (st == PL_OK) st = transforms_pose(fr, cam, path, frame, key_where);
  if (st == PL_OK) st = transforms_intrinsics(root, fr, cam, path, frame, key_where);
  cJSON_Delete(root);
  return st;
}

/* eye, target, up: a look-at pose (checked: distinct eye and target, up not along the view) */
static pl_status camera_look_at(const pl_config *c, const char *name, pl_scene_camera *cam) {
  double eye[3], target[3], up[3];
  PL_TRY(pl_config_vec3(c, "camera", name, "eye", eye, NULL));
  PL_TRY(pl_config_vec3(c, "camera", name, "target", target, NULL));
  PL_TRY(pl_config_vec3(c, "camera", name, "up", up, NULL));
  double f[3] = {target[0] - eye[0], target[1] - eye[1], target[2] - eye[2]};
  double fl = sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2]);
  if (fl < 1e-9)
    return pl_fail(PL_ERR_INVALID, "%s: [camera %s] eye and target coincide", pl_scene_where(c, "camera", name, "eye"),
                   name);
  double cr[3] = {f[1] * up[2] - f[2] * up[1], f[2] * up[0] - f[0] * up[2], f[0] * up[1] - f[1] * up[0]};
  if (sqrt(cr[0] * cr[0] + cr[1] * cr[1] + cr[2] * cr[2]) < 1e-9 * fl * (1 + fabs(up[0]) + fabs(up[1]) + fabs(up[2])))
    return pl_fail(PL_ERR_INVALID, "%s: [camera %s] up is parallel to the viewing direction (or zero)",
                   pl_scene_where(c, "camera", name, "up"), name);
  raster_viewmat_look_at(eye, target, up, cam->viewmat);
  return PL_OK;
}

/* viewmat: 12 or 16 numbers, a rigid world-to-camera transform */
static pl_status camera_viewmat(const pl_config *c, const char *name, pl_scene_camera *cam) {
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
  return PL_OK;
}

/* focal lengths from fov (vertical, degrees) unless fx / fy are given; principal point at the centre unless given */
static pl_status camera_intrinsics(const pl_config *c, const char *name, pl_scene_camera *cam) {
  double fov, t;
  int given;
  PL_TRY(pl_config_real(c, "camera", name, "fov", &fov, NULL));
  double fx = 0.5 * cam->height / tan(0.5 * fov * GLM_PI / 180.0), fy;
  pl_config_real(c, "camera", name, "fx", &fx, &given);
  if (!given) fx = 0.5 * cam->height / tan(0.5 * fov * GLM_PI / 180.0);
  fy = fx;
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
  PL_TRY(has_eye ? camera_look_at(c, name, cam) : camera_viewmat(c, name, cam));
  return camera_intrinsics(c, name, cam);
}

/* [upsample] */
pl_status pl_scene_build_upsample(pl_scene *s) {
  const pl_config *c = &s->config;
  pl_scene_upsample *u = &s->upsample;
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
  PL_TRY(pl_scene_get_int(c, "upsample", "", "children", &u->children));
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
  int e;
  PL_TRY(pl_scene_get_int(c, "render", "", "width", &r->width));
  PL_TRY(pl_scene_get_int(c, "render", "", "height", &r->height));
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
