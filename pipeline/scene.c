#define _POSIX_C_SOURCE 200809L
#include "pipeline/scene.h"
#include "pipeline/splat_object.h"
#include "pipeline/param_use.h"

#include "core/expr.h"

#include <cglm/cglm.h>
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/capture_scene.h"

const char *pl_material_model_name(pl_material_model m) {
  static const char *names[] = {"fixed_corotated", "neo_hookean", "stvk_von_mises",
                                "drucker_prager", "newtonian_fluid", "viscoplastic"};
  return (m >= 0 && m < PL_MAT_COUNT) ? names[m] : "?";
}
const char *pl_shape_name(pl_shape s) {
  static const char *names[] = {"box", "sphere", "cylinder", "mesh", "plane", "gaussians"};
  return (s >= 0 && s <= PL_SHAPE_GAUSSIANS) ? names[s] : "?";
}
const char *pl_contact_name(pl_contact c) {
  static const char *names[] = {"sticky", "slip", "separate"};
  return (c >= 0 && c <= PL_CONTACT_SEPARATE) ? names[c] : "?";
}

/* index of `word` in a space-separated list, -1 if absent */
static int word_index(const char *list, const char *word) {
  int i = 0;
  size_t n = strlen(word);
  const char *p = list;
  while (*p) {
    const char *e = strchr(p, ' ');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && strncmp(p, word, n) == 0) return i;
    if (!e) break;
    p = e + 1;
    ++i;
  }
  return -1;
}

static pl_status get_enum(const pl_config *c, const char *type, const char *name, const char *key, int *out) {
  char buf[128];
  PL_TRY(pl_config_string(c, type, name, key, buf, sizeof buf, NULL));
  const pl_key_spec *k = pl_schema_key(pl_schema_section(c->schema, type), key);
  int i = k && k->choices ? word_index(k->choices, buf) : -1;
  if (i < 0) return pl_fail(PL_ERR_INVALID, "%s.%s: '%s' is not a valid choice", type, key, buf);
  *out = i;
  return PL_OK;
}

static const char *where(const pl_config *c, const char *type, const char *name, const char *key) {
  static _Thread_local char buf[PL_PATH_MAX + 64];
  return pl_config_where(c, type, name, key, buf, sizeof buf);
}

static void copy_name(char *dst, const char *src) { snprintf(dst, PL_NAME_MAX, "%s", src); }

static int file_readable(const char *path) { return access(path, R_OK) == 0; }

/* ------------------------------------------------------------------ frames */

/* the parser (with its overflow checks) lives in core/parse.c */
pl_status pl_frame_selection(const char *text, int nframes, unsigned char *mask) {
  return pl_parse_selection(text, nframes, mask);
}

/* ------------------------------------------------------------------ cameras */

void pl_look_at_opencv(const double eye[3], const double target[3], const double up[3], double viewmat[16]) {
  vec3 e = {(float)eye[0], (float)eye[1], (float)eye[2]};
  vec3 t = {(float)target[0], (float)target[1], (float)target[2]};
  vec3 u = {(float)up[0], (float)up[1], (float)up[2]};
  mat4 gl;
  glm_lookat_rh(e, t, u, gl); /* OpenGL view (camera looks down -z, +y up); cglm is column-major: gl[col][row] */
  /* OpenCV (+y down, +z forward) = diag(1, -1, -1, 1) * OpenGL view */
  static const double flip[4] = {1, -1, -1, 1};
  for (int row = 0; row < 4; ++row)
    for (int col = 0; col < 4; ++col) viewmat[4 * row + col] = flip[row] * (double)gl[col][row];
  viewmat[12] = viewmat[13] = viewmat[14] = 0;
  viewmat[15] = 1;
}

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
  FILE *f = fopen(path, "rb");
  if (!f) return pl_fail(PL_ERR_IO, "%s: camera transforms file %s: %s", key_where, path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (n < 0 || n > (64L << 20)) {
    fclose(f);
    return pl_fail(PL_ERR_IO, "%s: %s: unreadable or larger than 64 MiB", key_where, path);
  }
  char *text = (char *)malloc((size_t)n + 1);
  if (!text) {
    fclose(f);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  size_t got = fread(text, 1, (size_t)n, f);
  fclose(f);
  text[got] = '\0';
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
  copy_name(cam->name, name);
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
    return camera_from_transforms(cam, path, fr, where(c, "camera", name, "transforms"));
  }
  if (has_eye) {
    double eye[3], target[3], up[3];
    PL_TRY(pl_config_vec3(c, "camera", name, "eye", eye, NULL));
    PL_TRY(pl_config_vec3(c, "camera", name, "target", target, NULL));
    PL_TRY(pl_config_vec3(c, "camera", name, "up", up, NULL));
    double f[3] = {target[0] - eye[0], target[1] - eye[1], target[2] - eye[2]};
    double fl = sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2]);
    if (fl < 1e-9) return pl_fail(PL_ERR_INVALID, "%s: [camera %s] eye and target coincide", where(c, "camera", name, "eye"), name);
    double cr[3] = {f[1] * up[2] - f[2] * up[1], f[2] * up[0] - f[0] * up[2], f[0] * up[1] - f[1] * up[0]};
    if (sqrt(cr[0] * cr[0] + cr[1] * cr[1] + cr[2] * cr[2]) < 1e-9 * fl * (1 + fabs(up[0]) + fabs(up[1]) + fabs(up[2])))
      return pl_fail(PL_ERR_INVALID, "%s: [camera %s] up is parallel to the viewing direction (or zero)",
                     where(c, "camera", name, "up"), name);
    pl_look_at_opencv(eye, target, up, cam->viewmat);
  } else {
    char text[1024];
    double v[16];
    PL_TRY(pl_config_string(c, "camera", name, "viewmat", text, sizeof text, NULL));
    int n = pl_parse_reals(text, v, 16);
    if (n != 12 && n != 16)
      return pl_fail(PL_ERR_INVALID, "%s: [camera %s] viewmat needs 12 or 16 numbers (got %d)",
                     where(c, "camera", name, "viewmat"), name, n);
    memcpy(cam->viewmat, v, sizeof(double) * (size_t)n);
    if (n == 12) {
      cam->viewmat[12] = cam->viewmat[13] = cam->viewmat[14] = 0;
      cam->viewmat[15] = 1;
    }
    if (!is_rigid(cam->viewmat))
      return pl_fail(PL_ERR_INVALID, "%s: [camera %s] viewmat is not a rigid transform (rotation rows must be "
                     "orthonormal, last row 0 0 0 1)", where(c, "camera", name, "viewmat"), name);
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

/* ------------------------------------------------------------------ learnable parameters */

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

static pl_status build_param(const pl_config *c, int si, const pl_scene *s, pl_scene_param *p) {
  memset(p, 0, sizeof *p);
  const pl_cfg_section *sec = &c->sections[si];
  char loc[PL_PATH_MAX + 32];
  snprintf(loc, sizeof loc, "%s:%d: [param %s]", sec->file, sec->line, sec->name);
  snprintf(p->address, sizeof p->address, "%s", sec->name);
  const pl_key_spec *k;
  PL_TRY(resolve_address(c, sec->name, loc, p->type, p->name, p->key, &k));
  if (!(k->flags & PL_KF_LEARNABLE))
    return pl_fail(PL_ERR_INVALID, "%s: '%s' is not a learnable value", loc, sec->name);
  p->components = k->kind == PL_KT_VEC3 ? 3 : 1;
  int space;
  PL_TRY(get_enum(c, "param", sec->name, "space", &space));
  p->space = (pl_param_space)space;
  int given;
  p->lr = s->optimize.lr;
  double t;
  if (pl_config_real(c, "param", sec->name, "lr", &t, &given) == PL_OK && given) p->lr = t;
  /* bounds: the key's own range, narrowed by lo/hi */
  p->lo = (k->flags & PL_KF_RANGE) ? k->lo : -INFINITY;
  p->hi = (k->flags & PL_KF_RANGE) ? k->hi : INFINITY;
  if ((k->flags & (PL_KF_POSITIVE | PL_KF_NONNEG)) && p->lo < 0) p->lo = 0;
  if (pl_config_real(c, "param", sec->name, "lo", &t, &given) == PL_OK && given) p->lo = t;
  if (pl_config_real(c, "param", sec->name, "hi", &t, &given) == PL_OK && given) p->hi = t;
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

/* ------------------------------------------------------------------ the scene */

/* shape = gaussians: the splat file, its crop and threshold, loaded and placed now (errors name the key) */
static pl_status load_splat_object(const pl_config *c, const char *name, pl_scene_object *o, pl_scene_object *slot) {
  (void)slot;
  int given = 0;
  PL_TRY(pl_config_vec3(c, "object", name, "crop_min", o->crop_min, NULL));
  PL_TRY(pl_config_vec3(c, "object", name, "crop_max", o->crop_max, NULL));
  PL_TRY(pl_config_real(c, "object", name, "opacity_min", &o->opacity_min, NULL));
  PL_TRY(pl_config_real(c, "object", name, "fill_threshold", &o->fill_threshold, NULL));
  if (o->shape != PL_SHAPE_GAUSSIANS) {
    if (pl_config_text(c, "object", name, "splats"))
      return pl_fail(PL_ERR_INVALID, "%s: [object %s] gives splats but its shape is %s (set shape = gaussians)",
                     where(c, "object", name, "splats"), name, pl_shape_name(o->shape));
    o->splats[0] = '\0';
    return PL_OK;
  }
  if (pl_config_path(c, "object", name, "splats", o->splats, sizeof o->splats, &given) != PL_OK || !given) {
    int si = pl_config_find_section(c, "object", name);
    return pl_fail(PL_ERR_INVALID, "%s:%d: [object %s] has shape = gaussians but no splats = FILE.ply",
                   si >= 0 ? c->sections[si].file : c->path, si >= 0 ? c->sections[si].line : 0, name);
  }
  char label[PL_NAME_MAX + 16];
  snprintf(label, sizeof label, "[object %s]", name);
  pl_splat_load_desc d;
  memset(&d, 0, sizeof d);
  d.path = o->splats;
  d.label = label;
  d.opacity_min = o->opacity_min;
  for (int k = 0; k < 3; ++k) {
    d.crop_min[k] = o->crop_min[k], d.crop_max[k] = o->crop_max[k];
    d.center[k] = o->center[k], d.scale[k] = o->scale[k], d.rotation_deg[k] = o->rotation[k];
  }
  pl_status st = pl_splat_set_load(&d, &o->splat_set);
  if (st != PL_OK) return pl_fail_context(st, "%s: ", where(c, "object", name, "splats"));
  return PL_OK;
}

/* optimize.strip_frames is used only after the whole fit: check it now, so that `check` reports it */
static pl_status check_strip_frames(const pl_config *c, const char *text, int nframes) {
  if (strcmp(text, "auto") == 0) return PL_OK;
  unsigned char *mask = (unsigned char *)malloc((size_t)nframes);
  if (!mask) return pl_fail(PL_ERR_NOMEM, "out of memory");
  pl_status st = pl_frame_selection(text, nframes, mask);
  free(mask);
  if (st != PL_OK) return pl_fail_context(st, "%s: optimize.strip_frames: ", where(c, "optimize", "", "strip_frames"));
  return PL_OK;
}

/* [optimize] keys of the global stage and the checks after the fit (fit_global.h) */
static pl_status scene_fit_keys(const pl_config *c, pl_scene *s) {
  pl_scene_optimize *o = &s->optimize;
  long l;
  PL_TRY(pl_config_int(c, "optimize", "", "scan", &l, NULL));
  o->scan = (int)l;
  PL_TRY(pl_config_int(c, "optimize", "", "scan_levels", &l, NULL));
  o->scan_levels = (int)l;
  PL_TRY(pl_config_real(c, "optimize", "", "scan_range", &o->scan_range, NULL));
  PL_TRY(pl_config_string(c, "optimize", "", "scan_frames", o->scan_frames, sizeof o->scan_frames, NULL));
  PL_TRY(pl_config_int(c, "optimize", "", "newton", &l, NULL));
  o->newton = (int)l;
  PL_TRY(pl_config_bool(c, "optimize", "", "uncertainty", &o->uncertainty, NULL));
  PL_TRY(pl_config_real(c, "optimize", "", "converge_step", &o->converge_step, NULL));
  PL_TRY(get_enum(c, "optimize", "", "coordinates", &o->coordinates));
  PL_TRY(get_enum(c, "optimize", "", "scan_mode", &o->scan_grid));
  return PL_OK;
}

static pl_status build(pl_scene *s) {
  const pl_config *c = &s->config;
  snprintf(s->path, sizeof s->path, "%s", c->path);
  int idx[1024];
  int given;
  char buf[256];

  /* [sim] */
  pl_scene_sim *sim = &s->sim;
  PL_TRY(pl_config_vec3(c, "sim", "", "domain_min", sim->domain_min, NULL));
  PL_TRY(pl_config_vec3(c, "sim", "", "domain_max", sim->domain_max, NULL));
  double longest = 0;
  for (int i = 0; i < 3; ++i) {
    double e = sim->domain_max[i] - sim->domain_min[i];
    if (!(e > 0))
      return pl_fail(PL_ERR_INVALID, "%s: sim.domain_max must exceed sim.domain_min on every axis (axis %c)",
                     where(c, "sim", "", "domain_max"), "xyz"[i]);
    if (e > longest) longest = e;
  }
  long l;
  PL_TRY(pl_config_int(c, "sim", "", "grid", &l, NULL));
  sim->grid_longest = (int)l;
  sim->dx = longest / (double)l;
  for (int i = 0; i < 3; ++i) {
    double e = sim->domain_max[i] - sim->domain_min[i];
    sim->grid[i] = (int)ceil(e / sim->dx - 1e-9);
    if (sim->grid[i] < 8)
      return pl_fail(PL_ERR_INVALID, "%s: the domain is only %d cells along %c (at least 8 needed); raise sim.grid",
                     where(c, "sim", "", "grid"), sim->grid[i], "xyz"[i]);
  }
  PL_TRY(pl_config_int(c, "sim", "", "frames", &l, NULL));
  sim->frames = (int)l;
  PL_TRY(pl_config_real(c, "sim", "", "fps", &sim->fps, NULL));
  PL_TRY(pl_config_int(c, "sim", "", "substeps", &l, NULL));
  sim->substeps = (int)l;
  PL_TRY(pl_config_real(c, "sim", "", "cfl", &sim->cfl, NULL));
  PL_TRY(pl_config_vec3(c, "sim", "", "gravity", sim->gravity, NULL));
  int e;
  PL_TRY(get_enum(c, "sim", "", "boundary", &e));
  sim->boundary = (pl_contact)e;
  for (int w = 0; w < 6; ++w) {
    static const char *wall_keys[6] = {"boundary_x_min", "boundary_x_max", "boundary_y_min",
                                       "boundary_y_max", "boundary_z_min", "boundary_z_max"};
    PL_TRY(get_enum(c, "sim", "", wall_keys[w], &e));
    sim->walls[w] = e == 0 ? sim->boundary : (pl_contact)(e - 1); /* choices: inherit sticky slip separate */
  }
  PL_TRY(pl_config_real(c, "sim", "", "boundary_friction", &sim->boundary_friction, NULL));
  PL_TRY(pl_config_int(c, "sim", "", "boundary_cells", &l, NULL));
  sim->boundary_cells = (int)l;
  PL_TRY(pl_config_int(c, "sim", "", "seed", &l, NULL));
  sim->seed = (unsigned long)l;
  PL_TRY(get_enum(c, "sim", "", "backend", &e));
  sim->backend = e == 0 ? PL_BACKEND_AUTO : (e == 1 ? PL_BACKEND_CPU : PL_BACKEND_CUDA);
  PL_TRY(pl_config_int(c, "sim", "", "threads", &l, NULL));
  sim->threads = (int)l;

  /* [material NAME] */
  int n = pl_config_sections_of(c, "material", idx, 1024);
  if (n > 1024) return pl_fail(PL_ERR_LIMIT, "%s: more than 1024 materials", c->path);
  s->materials = (pl_scene_material *)calloc((size_t)(n ? n : 1), sizeof *s->materials);
  if (!s->materials) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < n; ++i) {
    const char *name = c->sections[idx[i]].name;
    pl_scene_material *m = &s->materials[s->nmaterials];
    copy_name(m->name, name);
    PL_TRY(get_enum(c, "material", name, "model", &e));
    m->model = (pl_material_model)e;
    PL_TRY(pl_config_real(c, "material", name, "E", &m->E, NULL));
    PL_TRY(pl_config_real(c, "material", name, "nu", &m->nu, NULL));
    PL_TRY(pl_config_real(c, "material", name, "density", &m->density, NULL));
    PL_TRY(pl_config_real(c, "material", name, "yield_stress", &m->yield_stress, NULL));
    PL_TRY(pl_config_real(c, "material", name, "viscosity", &m->viscosity, NULL));
    PL_TRY(pl_config_real(c, "material", name, "friction_angle", &m->friction_angle, NULL));
    PL_TRY(get_enum(c, "material", name, "cone", &m->dp_cone));
    PL_TRY(pl_config_real(c, "material", name, "cohesion", &m->cohesion, NULL));
    PL_TRY(pl_config_real(c, "material", name, "bulk_modulus", &m->bulk_modulus, NULL));
    PL_TRY(pl_config_vec3(c, "material", name, "color", m->color, NULL));
    if ((m->model == PL_MAT_NEWTONIAN_FLUID || m->model == PL_MAT_VISCOPLASTIC) &&
        !pl_config_text(c, "material", name, "viscosity"))
      return pl_fail(PL_ERR_INVALID, "[material %s] needs a viscosity", name);
    s->nmaterials++;
  }

  /* [object NAME] */
  n = pl_config_sections_of(c, "object", idx, 1024);
  if (n > 1024) return pl_fail(PL_ERR_LIMIT, "%s: more than 1024 objects", c->path);
  if (n == 0) return pl_fail(PL_ERR_INVALID, "%s: the scene has no [object NAME] section: nothing to simulate", c->path);
  s->objects = (pl_scene_object *)calloc((size_t)n, sizeof *s->objects);
  if (!s->objects) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < n; ++i) {
    const char *name = c->sections[idx[i]].name;
    pl_scene_object *o = &s->objects[s->nobjects];
    copy_name(o->name, name);
    PL_TRY(get_enum(c, "object", name, "shape", &e));
    o->shape = e == 4 ? PL_SHAPE_GAUSSIANS : (pl_shape)e; /* the object's choices: box sphere cylinder mesh gaussians */
    PL_TRY(pl_config_string(c, "object", name, "material", buf, sizeof buf, NULL));
    o->material = pl_scene_material_index(s, buf);
    if (o->material < 0) {
      const char *cands[1024];
      for (int m = 0; m < s->nmaterials; ++m) cands[m] = s->materials[m].name;
      int best = 1000, pick = -1;
      for (int m = 0; m < s->nmaterials; ++m) {
        int d = pl_edit_distance(buf, cands[m]);
        if (d < best) best = d, pick = m;
      }
      char sug[128] = "";
      if (pick >= 0 && best <= 3) snprintf(sug, sizeof sug, " (did you mean '%s'?)", cands[pick]);
      return pl_fail(PL_ERR_INVALID, "%s: [object %s] material '%s' is not defined%s",
                     where(c, "object", name, "material"), name, buf, sug);
    }
    PL_TRY(pl_config_vec3(c, "object", name, "center", o->center, NULL));
    PL_TRY(pl_config_vec3(c, "object", name, "size", o->size, NULL));
    PL_TRY(pl_config_real(c, "object", name, "radius", &o->radius, NULL));
    PL_TRY(pl_config_real(c, "object", name, "height", &o->height, NULL));
    PL_TRY(pl_config_vec3(c, "object", name, "rotation", o->rotation, NULL));
    PL_TRY(pl_config_vec3(c, "object", name, "scale", o->scale, NULL));
    PL_TRY(pl_config_int(c, "object", name, "particles_per_cell", &l, NULL));
    o->particles_per_cell = (int)l;
    PL_TRY(get_enum(c, "object", name, "sampling", &e));
    o->jittered = e == 0;
    PL_TRY(pl_config_vec3(c, "object", name, "velocity", o->velocity, NULL));
    PL_TRY(pl_config_vec3(c, "object", name, "angular_velocity", o->angular_velocity, NULL));
    o->velocity_field[0] = '\0';
    if (pl_config_text(c, "object", name, "velocity_field")) {
      PL_TRY(pl_config_string(c, "object", name, "velocity_field", o->velocity_field, sizeof o->velocity_field, NULL));
      pl_expr ex;
      static const char *const xyz[3] = {"x", "y", "z"};
      if (pl_expr_parse_list(&ex, o->velocity_field, 3, xyz, 3) != PL_OK) {
        char why[512];
        snprintf(why, sizeof why, "%s", pl_last_error());
        return pl_fail(PL_ERR_INVALID, "%s: [object %s] velocity_field (three expressions in x, y, z: vx, vy, vz): %s",
                       where(c, "object", name, "velocity_field"), name, why);
      }
    }
    memcpy(o->color, s->materials[o->material].color, sizeof o->color);
    if (pl_config_vec3(c, "object", name, "color", o->color, &given) != PL_OK) {
      memcpy(o->color, s->materials[o->material].color, sizeof o->color);
      pl_clear_error();
    }
    if (o->shape == PL_SHAPE_MESH) {
      if (pl_config_path(c, "object", name, "mesh", o->mesh, sizeof o->mesh, &given) != PL_OK || !given)
        return pl_fail(PL_ERR_INVALID, "%s:%d: [object %s] has shape = mesh but no mesh = FILE.obj",
                       c->sections[idx[i]].file, c->sections[idx[i]].line, name);
      if (!file_readable(o->mesh))
        return pl_fail(PL_ERR_IO, "%s: [object %s] mesh file %s cannot be read: %s", where(c, "object", name, "mesh"),
                       name, o->mesh, strerror(errno));
    } else if (pl_config_text(c, "object", name, "mesh")) {
      return pl_fail(PL_ERR_INVALID, "%s: [object %s] gives a mesh but its shape is %s (set shape = mesh)",
                     where(c, "object", name, "mesh"), name, pl_shape_name(o->shape));
    }
    PL_TRY(load_splat_object(c, name, o, &s->objects[s->nobjects]));
    if (pl_config_path(c, "object", name, "texture", o->texture, sizeof o->texture, &given) == PL_OK && given) {
      if (o->shape != PL_SHAPE_MESH)
        return pl_fail(PL_ERR_INVALID, "%s: [object %s] a texture needs shape = mesh", where(c, "object", name, "texture"), name);
      if (!file_readable(o->texture))
        return pl_fail(PL_ERR_IO, "%s: [object %s] texture %s cannot be read: %s", where(c, "object", name, "texture"),
                       name, o->texture, strerror(errno));
    } else {
      o->texture[0] = '\0';
    }
    pl_clear_error();
    s->nobjects++;
  }

  /* [collider NAME] */
  n = pl_config_sections_of(c, "collider", idx, 1024);
  if (n > 1024) return pl_fail(PL_ERR_LIMIT, "%s: more than 1024 colliders", c->path);
  s->colliders = (pl_scene_collider *)calloc((size_t)(n ? n : 1), sizeof *s->colliders);
  if (!s->colliders) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < n; ++i) {
    const char *name = c->sections[idx[i]].name;
    pl_scene_collider *k = &s->colliders[s->ncolliders];
    copy_name(k->name, name);
    PL_TRY(get_enum(c, "collider", name, "shape", &e));
    static const pl_shape collider_shapes[] = {PL_SHAPE_PLANE, PL_SHAPE_BOX, PL_SHAPE_SPHERE, PL_SHAPE_CYLINDER};
    k->shape = collider_shapes[e];
    PL_TRY(pl_config_vec3(c, "collider", name, "point", k->point, NULL));
    PL_TRY(pl_config_vec3(c, "collider", name, "normal", k->normal, NULL));
    double nl = sqrt(k->normal[0] * k->normal[0] + k->normal[1] * k->normal[1] + k->normal[2] * k->normal[2]);
    if (k->shape == PL_SHAPE_PLANE && !(nl > 1e-12))
      return pl_fail(PL_ERR_INVALID, "%s: [collider %s] normal is zero", where(c, "collider", name, "normal"), name);
    if (nl > 0)
      for (int j = 0; j < 3; ++j) k->normal[j] /= nl;
    PL_TRY(pl_config_vec3(c, "collider", name, "center", k->center, NULL));
    PL_TRY(pl_config_vec3(c, "collider", name, "size", k->size, NULL));
    PL_TRY(pl_config_real(c, "collider", name, "radius", &k->radius, NULL));
    PL_TRY(pl_config_real(c, "collider", name, "height", &k->height, NULL));
    PL_TRY(pl_config_vec3(c, "collider", name, "rotation", k->rotation, NULL));
    PL_TRY(get_enum(c, "collider", name, "type", &e));
    k->type = (pl_contact)e;
    PL_TRY(pl_config_real(c, "collider", name, "friction", &k->friction, NULL));
    PL_TRY(pl_config_vec3(c, "collider", name, "velocity", k->velocity, NULL));
    s->ncolliders++;
  }

  /* [upsample] */
  pl_scene_upsample *u = &s->upsample;
  PL_TRY(get_enum(c, "upsample", "", "mode", &e));
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

  /* [render] */
  pl_scene_render *r = &s->render;
  PL_TRY(pl_config_int(c, "render", "", "width", &l, NULL));
  r->width = (int)l;
  PL_TRY(pl_config_int(c, "render", "", "height", &l, NULL));
  r->height = (int)l;
  PL_TRY(pl_config_vec3(c, "render", "", "background", r->background, NULL));
  PL_TRY(get_enum(c, "render", "", "mode", &e));
  r->antialiased = e == 1;
  PL_TRY(pl_config_string(c, "render", "", "frames", r->frames, sizeof r->frames, NULL));
  PL_TRY(pl_config_path(c, "render", "", "output", r->output, sizeof r->output, NULL));
  PL_TRY(pl_config_bool(c, "render", "", "particle_ply", &r->particle_ply, NULL));
  PL_TRY(pl_config_bool(c, "render", "", "gaussian_ply", &r->gaussian_ply, NULL));
  unsigned char *mask = (unsigned char *)malloc((size_t)sim->frames + 1);
  if (!mask) return pl_fail(PL_ERR_NOMEM, "out of memory");
  pl_status st = pl_frame_selection(r->frames, sim->frames + 1, mask);
  if (st != PL_OK) {
    free(mask);
    return pl_fail_context(st, "%s: render.frames: ", where(c, "render", "", "frames"));
  }

  /* [camera NAME] */
  n = pl_config_sections_of(c, "camera", idx, 1024);
  if (n > 1024) {
    free(mask);
    return pl_fail(PL_ERR_LIMIT, "%s: more than 1024 cameras", c->path);
  }
  s->cameras = (pl_scene_camera *)calloc((size_t)(n ? n : 1), sizeof *s->cameras);
  if (!s->cameras) {
    free(mask);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  for (int i = 0; i < n; ++i) {
    st = build_camera(c, c->sections[idx[i]].name, r, &s->cameras[i]);
    if (st != PL_OK) {
      free(mask);
      return st;
    }
    camera_center(s->cameras[i].viewmat, s->cameras[i].eye);
    s->ncameras++;
  }

  /* [targets] */
  pl_scene_targets *t = &s->targets;
  PL_TRY(get_enum(c, "targets", "", "source", &e));
  t->from_folder = e == 1;
  if (pl_config_path(c, "targets", "", "folder", t->folder, sizeof t->folder, &given) != PL_OK || !given) {
    t->folder[0] = '\0';
    pl_clear_error();
    if (t->from_folder) {
      free(mask);
      return pl_fail(PL_ERR_INVALID, "%s: targets.source = folder needs targets.folder", c->path);
    }
  }
  t->source = (pl_targets_source)e;
  st = pl_scene_capture_setup(s);
  if (st != PL_OK) {
    free(mask);
    return st;
  }
  PL_TRY(pl_config_string(c, "targets", "", "frames", t->frames, sizeof t->frames, NULL));
  PL_TRY(pl_config_real(c, "targets", "", "noise", &t->noise, NULL));
  PL_TRY(pl_config_int(c, "targets", "", "noise_seed", &l, NULL));
  t->noise_seed = (int)l;
  st = pl_frame_selection(t->frames, sim->frames + 1, mask);
  if (st == PL_OK && t->holdout_frames[0]) {
    st = pl_frame_selection(t->holdout_frames, sim->frames + 1, mask);
    if (st != PL_OK) st = pl_fail_context(st, "targets.holdout_frames: ");
  }
  free(mask);
  if (st != PL_OK) return pl_fail_context(st, "%s: targets.frames: ", where(c, "targets", "", "frames"));
  PL_TRY(pl_config_string(c, "targets", "", "cameras", t->cameras, sizeof t->cameras, NULL));
  if (strcmp(t->cameras, "all") != 0) {
    char cb[256];
    snprintf(cb, sizeof cb, "%s", t->cameras);
    char *save = NULL;
    for (char *tok = strtok_r(cb, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save))
      if (pl_scene_camera_index(s, tok) < 0)
        return pl_fail(PL_ERR_INVALID, "%s: targets.cameras names '%s', which is not a [camera]",
                       where(c, "targets", "", "cameras"), tok);
  }
  {
    char cb[256];
    snprintf(cb, sizeof cb, "%s", t->holdout);
    char *save = NULL;
    for (char *tok = strtok_r(cb, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save))
      if (pl_scene_camera_index(s, tok) < 0)
        return pl_fail(PL_ERR_INVALID, "%s: targets.holdout names '%s', which is not a camera of the scene or capture",
                       where(c, "targets", "", "holdout"), tok);
  }

  /* [optimize] */
  pl_scene_optimize *o = &s->optimize;
  PL_TRY(pl_config_int(c, "optimize", "", "iterations", &l, NULL));
  o->iterations = (int)l;
  PL_TRY(pl_config_string(c, "optimize", "", "loss", buf, sizeof buf, NULL));
  PL_TRY(parse_loss(buf, o->loss_weight, where(c, "optimize", "", "loss")));
  PL_TRY(pl_config_real(c, "optimize", "", "lr", &o->lr, NULL));
  PL_TRY(pl_config_real(c, "optimize", "", "beta1", &o->beta1, NULL));
  PL_TRY(pl_config_real(c, "optimize", "", "beta2", &o->beta2, NULL));
  PL_TRY(pl_config_real(c, "optimize", "", "clip", &o->clip, NULL));
  PL_TRY(get_enum(c, "optimize", "", "schedule", &o->schedule));
  PL_TRY(pl_config_real(c, "optimize", "", "lr_final", &o->lr_final, NULL));
  PL_TRY(pl_config_real(c, "optimize", "", "early_stop", &o->early_stop, NULL));
  PL_TRY(pl_config_int(c, "optimize", "", "patience", &l, NULL));
  o->patience = (int)l;
  PL_TRY(pl_config_int(c, "optimize", "", "checkpoint_every", &l, NULL));
  o->checkpoint_every = (int)l;
  PL_TRY(pl_config_real(c, "optimize", "", "memory_limit_mb", &o->memory_limit_mb, NULL));
  PL_TRY(pl_config_path(c, "optimize", "", "output", o->output, sizeof o->output, NULL));
  PL_TRY(pl_config_string(c, "optimize", "", "strip_frames", o->strip_frames, sizeof o->strip_frames, NULL));
  PL_TRY(check_strip_frames(c, o->strip_frames, sim->frames + 1));
  PL_TRY(scene_fit_keys(c, s));

  /* [stage NAME] */
  n = pl_config_sections_of(c, "stage", idx, 1024);
  if (n > 64) return pl_fail(PL_ERR_LIMIT, "%s: more than 64 stages", c->path);
  s->stages = (pl_scene_stage *)calloc((size_t)(n ? n : 1), sizeof *s->stages);
  if (!s->stages) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < n; ++i) {
    const char *name = c->sections[idx[i]].name;
    pl_scene_stage *g = &s->stages[i];
    copy_name(g->name, name);
    PL_TRY(pl_config_int(c, "stage", name, "iterations", &l, NULL));
    g->iterations = (int)l;
    PL_TRY(pl_config_string(c, "stage", name, "frames", g->frames, sizeof g->frames, NULL));
    unsigned char *m2 = (unsigned char *)malloc((size_t)sim->frames + 1);
    if (!m2) return pl_fail(PL_ERR_NOMEM, "out of memory");
    st = pl_frame_selection(g->frames, sim->frames + 1, m2);
    free(m2);
    if (st != PL_OK) return pl_fail_context(st, "%s: ", where(c, "stage", name, "frames"));
    PL_TRY(pl_config_real(c, "stage", name, "lr_scale", &g->lr_scale, NULL));
    s->nstages++;
  }

  /* [param ADDRESS] */
  n = pl_config_sections_of(c, "param", idx, 1024);
  if (n > 1024) return pl_fail(PL_ERR_LIMIT, "%s: more than 1024 learnable parameters", c->path);
  s->params = (pl_scene_param *)calloc((size_t)(n ? n : 1), sizeof *s->params);
  if (!s->params) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < n; ++i) {
    PL_TRY(build_param(c, idx[i], s, &s->params[s->nparams]));
    s->nparams++;
  }

  /* [truth] */
  int ti = pl_config_find_section(c, "truth", "");
  if (ti >= 0) {
    int cnt = 0;
    for (int i = 0; i < c->nentries; ++i) cnt += c->entries[i].section == ti;
    s->truth = (pl_scene_truth *)calloc((size_t)(cnt ? cnt : 1), sizeof *s->truth);
    if (!s->truth) return pl_fail(PL_ERR_NOMEM, "out of memory");
    for (int i = 0; i < c->nentries; ++i) {
      const pl_cfg_entry *en = &c->entries[i];
      if (en->section != ti) continue;
      char loc[PL_PATH_MAX + 32], ty[PL_NAME_MAX], nm[PL_NAME_MAX], ky[PL_NAME_MAX];
      snprintf(loc, sizeof loc, "%s:%d: [truth]", en->file, en->line);
      const pl_key_spec *k;
      PL_TRY(resolve_address(c, en->key, loc, ty, nm, ky, &k));
      /* validate the value with the target key's own rules */
      pl_config probe;
      char text[600];
      snprintf(text, sizeof text, "[%s%s%s]\n%s = %s\n", ty, nm[0] ? " " : "", nm, ky, en->value);
      st = pl_config_load_string(&probe, text, "[truth]", c->dir, c->schema);
      pl_config_free(&probe);
      if (st != PL_OK) { /* keep the probe's reason only ("key 'E': 'nan' is not a number"), in a copy */
        char why[512];
        const char *msg = pl_last_error(), *kq = strstr(msg, "key '");
        snprintf(why, sizeof why, "%s", kq ? kq : msg);
        return pl_fail(PL_ERR_INVALID, "%s: %s = %s: %s", loc, en->key, en->value, why);
      }
      snprintf(s->truth[s->ntruth].address, sizeof s->truth[0].address, "%s", en->key);
      snprintf(s->truth[s->ntruth].value, sizeof s->truth[0].value, "%s", en->value);
      s->ntruth++;
    }
  }
  return PL_OK;
}

int pl_scene_material_index(const pl_scene *s, const char *name) {
  for (int i = 0; i < s->nmaterials; ++i)
    if (strcmp(s->materials[i].name, name) == 0) return i;
  return -1;
}

int pl_scene_camera_index(const pl_scene *s, const char *name) {
  for (int i = 0; i < s->ncameras; ++i)
    if (strcmp(s->cameras[i].name, name) == 0) return i;
  return -1;
}

pl_status pl_scene_from_config(pl_scene *s, pl_config *cfg) {
  memset(s, 0, sizeof *s);
  s->config = *cfg;
  memset(cfg, 0, sizeof *cfg);
  pl_status st = pl_config_validate(&s->config);
  if (st == PL_OK) st = build(s);
  if (st != PL_OK) pl_scene_free(s);
  return st;
}

static pl_status finish_load(pl_scene *s, pl_config *cfg, const char *const *sets, int nsets) {
  for (int i = 0; i < nsets; ++i) {
    pl_status st = pl_config_set(cfg, sets[i]);
    if (st != PL_OK) {
      pl_config_free(cfg);
      return st;
    }
  }
  return pl_scene_from_config(s, cfg);
}

pl_status pl_scene_load(pl_scene *s, const char *path, const char *const *sets, int nsets) {
  memset(s, 0, sizeof *s);
  pl_config cfg;
  pl_status st = pl_config_load(&cfg, path, &pl_scene_schema);
  if (st != PL_OK) {
    pl_config_free(&cfg);
    return st;
  }
  return finish_load(s, &cfg, sets, nsets);
}

pl_status pl_scene_load_string(pl_scene *s, const char *text, const char *name, const char *dir,
                               const char *const *sets, int nsets) {
  memset(s, 0, sizeof *s);
  pl_config cfg;
  pl_status st = pl_config_load_string(&cfg, text, name, dir, &pl_scene_schema);
  if (st != PL_OK) {
    pl_config_free(&cfg);
    return st;
  }
  return finish_load(s, &cfg, sets, nsets);
}

/* Deep copy of a config (entries keep their origin). */
static pl_status config_copy(pl_config *dst, const pl_config *src) {
  memset(dst, 0, sizeof *dst);
  dst->schema = src->schema;
  dst->path = strdup(src->path);
  dst->dir = strdup(src->dir);
  if (!dst->path || !dst->dir) goto oom;
  for (int i = 0; i < src->nfiles; ++i) {
    dst->files[i] = strdup(src->files[i]);
    if (!dst->files[i]) goto oom;
    dst->nfiles++;
  }
  dst->sections = (pl_cfg_section *)calloc((size_t)(src->nsections ? src->nsections : 1), sizeof *dst->sections);
  dst->entries = (pl_cfg_entry *)calloc((size_t)(src->nentries ? src->nentries : 1), sizeof *dst->entries);
  if (!dst->sections || !dst->entries) goto oom;
  dst->capsections = src->nsections ? src->nsections : 1;
  dst->capentries = src->nentries ? src->nentries : 1;
  for (int i = 0; i < src->nsections; ++i) {
    dst->sections[i] = src->sections[i];
    dst->sections[i].type = strdup(src->sections[i].type);
    dst->sections[i].name = strdup(src->sections[i].name);
    dst->nsections++;
    if (!dst->sections[i].type || !dst->sections[i].name) goto oom;
    for (int f = 0; f < src->nfiles; ++f)
      if (src->sections[i].file == src->files[f]) dst->sections[i].file = dst->files[f];
  }
  for (int i = 0; i < src->nentries; ++i) {
    dst->entries[i] = src->entries[i];
    dst->entries[i].key = strdup(src->entries[i].key);
    dst->entries[i].value = strdup(src->entries[i].value);
    dst->entries[i].base_dir = strdup(src->entries[i].base_dir);
    dst->nentries++;
    if (!dst->entries[i].key || !dst->entries[i].value || !dst->entries[i].base_dir) goto oom;
    for (int f = 0; f < src->nfiles; ++f)
      if (src->entries[i].file == src->files[f]) dst->entries[i].file = dst->files[f];
  }
  return PL_OK;
oom:
  pl_config_free(dst);
  return pl_fail(PL_ERR_NOMEM, "out of memory copying the scene");
}

pl_status pl_scene_with_overrides(pl_scene *dst, const pl_scene *src, const char *const *sets, int nsets) {
  memset(dst, 0, sizeof *dst);
  pl_config cfg;
  PL_TRY(config_copy(&cfg, &src->config));
  return finish_load(dst, &cfg, sets, nsets);
}

pl_status pl_scene_with_truth(pl_scene *dst, const pl_scene *src) {
  const char **sets = (const char **)calloc((size_t)(src->ntruth ? src->ntruth : 1), sizeof *sets);
  char *store = (char *)calloc((size_t)(src->ntruth ? src->ntruth : 1), 512);
  if (!sets || !store) {
    free(sets);
    free(store);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  for (int i = 0; i < src->ntruth; ++i) {
    snprintf(store + 512 * i, 512, "%s=%s", src->truth[i].address, src->truth[i].value);
    sets[i] = store + 512 * i;
  }
  pl_status st = pl_scene_with_overrides(dst, src, sets, src->ntruth);
  free(sets);
  free(store);
  return st;
}

void pl_scene_free(pl_scene *s) {
  if (!s) return;
  for (int i = 0; s->objects && i < s->nobjects; ++i) pl_splat_set_free(s->objects[i].splat_set);
  free(s->materials);
  free(s->objects);
  free(s->colliders);
  free(s->cameras);
  free(s->params);
  free(s->stages);
  free(s->truth);
  pl_config_free(&s->config);
  memset(s, 0, sizeof *s);
}

void pl_scene_print(const pl_scene *s, FILE *f) {
  fprintf(f, "; resolved scene: %s\n", s->path);
  fprintf(f, "; every key is shown; '; default' marks values not given in the file\n");
  fprintf(f, "; derived: dx = %g m, grid = %d x %d x %d cells, frame time = %g s\n", s->sim.dx, s->sim.grid[0],
          s->sim.grid[1], s->sim.grid[2], 1.0 / s->sim.fps);
  for (int i = 0; i < s->nmaterials; ++i) {
    const pl_scene_material *m = &s->materials[i];
    double mu = m->E / (2 * (1 + m->nu)), lambda = m->E * m->nu / ((1 + m->nu) * (1 - 2 * m->nu));
    fprintf(f, "; derived: material %s: mu = %g Pa, lambda = %g Pa\n", m->name, mu, lambda);
  }
  for (int i = 0; i < s->ncameras; ++i) {
    const pl_scene_camera *c = &s->cameras[i];
    fprintf(f, "; derived: camera %s: %dx%d, fx %.4g fy %.4g cx %.4g cy %.4g, centre (%.4g %.4g %.4g)\n", c->name,
            c->width, c->height, c->fx, c->fy, c->cx, c->cy, c->eye[0], c->eye[1], c->eye[2]);
  }
  for (int i = 0; i < s->nparams; ++i) {
    static const char *spaces[] = {"auto", "log", "linear", "bounded"};
    const pl_scene_param *p = &s->params[i];
    fprintf(f, "; derived: learnable %s: %s space, lr %g, bounds [%g, %g]\n", p->address, spaces[p->space], p->lr,
            p->lo, p->hi);
  }
  fputc('\n', f);
  pl_config_print(&s->config, f);
}
