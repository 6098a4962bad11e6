/* capture.c: the capture readers (PAC-NeRF, transforms.json, COLMAP text), camera conversions, image input and
 * area resampling. See capture.h for the layouts and conventions. */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/io/capture.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <stb_image.h>

#include "core/fileio.h"

#define MAX_JSON_BYTES (256L << 20)
#define MAX_ENTRIES 1000000
#define PI_ 3.14159265358979323846

/* ------------------------------------------------------------------ small helpers */

/* copy a name, cut to the capture's name length */
static void copy_name(char *dst, const char *src) {
  size_t n = strlen(src);
  if (n >= PL_CAPTURE_NAME_MAX) n = PL_CAPTURE_NAME_MAX - 1;
  memcpy(dst, src, n);
  dst[n] = '\0';
}

void pl_capture_free(pl_capture *c) {
  if (!c) return;
  free(c->cameras);
  free(c->frames);
  memset(c, 0, sizeof *c);
}

int pl_capture_camera_index(const pl_capture *c, const char *name) {
  for (int i = 0; i < c->ncameras; ++i)
    if (strcmp(c->cameras[i].name, name) == 0) return i;
  return -1;
}

static pl_status add_camera(pl_capture *c, const char *name, int *index) {
  pl_capture_camera *nc = (pl_capture_camera *)realloc(c->cameras, sizeof *nc * (size_t)(c->ncameras + 1));
  if (!nc) return pl_fail(PL_ERR_NOMEM, "out of memory reading %s", c->path);
  c->cameras = nc;
  pl_capture_camera *cam = &c->cameras[c->ncameras];
  memset(cam, 0, sizeof *cam);
  copy_name(cam->name, name);
  *index = c->ncameras++;
  return PL_OK;
}

static pl_status add_frame(pl_capture *c, pl_capture_frame **out) {
  if (c->nframes >= MAX_ENTRIES) return pl_fail(PL_ERR_LIMIT, "%s: more than %d images", c->path, MAX_ENTRIES);
  pl_capture_frame *nf = (pl_capture_frame *)realloc(c->frames, sizeof *nf * (size_t)(c->nframes + 1));
  if (!nf) return pl_fail(PL_ERR_NOMEM, "out of memory reading %s", c->path);
  c->frames = nf;
  *out = &c->frames[c->nframes++];
  memset(*out, 0, sizeof **out);
  (*out)->index = -1;
  (*out)->time = NAN;
  return PL_OK;
}

/* dir + "/" + rel (rel kept when absolute; a leading "./" dropped) */
static void join_path(char *out, size_t size, const char *dir, const char *rel) {
  while (rel[0] == '.' && rel[1] == '/') rel += 2;
  int n = (rel[0] == '/' || !dir || !dir[0]) ? snprintf(out, size, "%s", rel) : snprintf(out, size, "%s/%s", dir, rel);
  if (n < 0 || (size_t)n >= size) out[size - 1] = '\0'; /* too long: truncated (the open then fails, naming it) */
}


static int file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static pl_status read_text(const char *path, char **text, size_t *len) {
  struct stat st;
  if (stat(path, &st) != 0) return pl_fail(PL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return pl_fail(PL_ERR_IO, "%s: not a regular file", path);
  if (st.st_size > MAX_JSON_BYTES) return pl_fail(PL_ERR_LIMIT, "%s: larger than %ld MiB", path, MAX_JSON_BYTES >> 20);
  return pl_read_file(path, text, len);
}

/* A JSON number array of n entries (or n*m nested) into out; 0 when the shape or a value is wrong. */
static int json_matrix(const cJSON *a, int rows, int cols, double *out) {
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != rows) return 0;
  for (int i = 0; i < rows; ++i) {
    const cJSON *row = cJSON_GetArrayItem(a, i);
    if (!cJSON_IsArray(row) || cJSON_GetArraySize(row) != cols) return 0;
    for (int j = 0; j < cols; ++j) {
      const cJSON *x = cJSON_GetArrayItem(row, j);
      if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble)) return 0;
      out[cols * i + j] = x->valuedouble;
    }
  }
  return 1;
}

/* A 3x4 or 4x4 matrix into rows of 4 (the last row, when given, must be 0 0 0 1). */
static int json_pose(const cJSON *a, double m[12]) {
  double m16[16];
  if (json_matrix(a, 3, 4, m)) return 1;
  if (!json_matrix(a, 4, 4, m16)) return 0;
  if (fabs(m16[12]) + fabs(m16[13]) + fabs(m16[14]) + fabs(m16[15] - 1) > 1e-6) return 0;
  memcpy(m, m16, sizeof(double) * 12);
  return 1;
}

/* ------------------------------------------------------------------ conventions */

static int rotation_ok(const double r[9]) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double d = r[3 * 0 + i] * r[3 * 0 + j] + r[3 * 1 + i] * r[3 * 1 + j] + r[3 * 2 + i] * r[3 * 2 + j];
      if (!(fabs(d - (i == j)) <= 1e-4)) return 0;
    }
  return 1;
}

int pl_capture_c2w_gl_to_viewmat(const double c2w[12], double v[16]) {
  double r[9], t[3];
  for (int i = 0; i < 3; ++i) {
    /* OpenGL camera axes (y up, z back) -> OpenCV (y down, z forward): negate the y and z columns */
    r[3 * i + 0] = c2w[4 * i + 0];
    r[3 * i + 1] = -c2w[4 * i + 1];
    r[3 * i + 2] = -c2w[4 * i + 2];
    t[i] = c2w[4 * i + 3];
  }
  for (int i = 0; i < 12; ++i)
    if (!isfinite(c2w[i])) return 0;
  if (!rotation_ok(r)) return 0;
  /* world -> camera = [R^T | -R^T t] */
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) v[4 * i + j] = r[3 * j + i];
    v[4 * i + 3] = -(r[3 * 0 + i] * t[0] + r[3 * 1 + i] * t[1] + r[3 * 2 + i] * t[2]);
  }
  v[12] = v[13] = v[14] = 0;
  v[15] = 1;
  return 1;
}

void pl_capture_viewmat_to_c2w_gl(const double v[16], double c2w[12]) {
  for (int i = 0; i < 3; ++i) {
    /* R_c2w = R_w2c^T, centre = -R^T t; then OpenCV -> OpenGL columns */
    double col[3];
    for (int j = 0; j < 3; ++j) col[j] = v[4 * j + i];
    c2w[4 * i + 0] = col[0];
    c2w[4 * i + 1] = -col[1];
    c2w[4 * i + 2] = -col[2];
    c2w[4 * i + 3] = -(v[0 + i] * v[3] + v[4 + i] * v[7] + v[8 + i] * v[11]);
  }
}

void pl_capture_scaled_intrinsics(const pl_capture_camera *cam, int w, int h, double *fx, double *fy, double *cx,
                                  double *cy) {
  double sx = (double)w / cam->width, sy = (double)h / cam->height;
  *fx = cam->fx * sx;
  *fy = cam->fy * sy;
  *cx = cam->cx * sx;
  *cy = cam->cy * sy;
}

static pl_status check_intrinsics(const pl_capture *c, const pl_capture_camera *cam, const char *where) {
  if (cam->width < 1 || cam->height < 1 || cam->width > PL_CAPTURE_MAX_SIDE || cam->height > PL_CAPTURE_MAX_SIDE)
    return pl_fail(PL_ERR_INVALID, "%s: %s: image size %dx%d is outside 1..%d", c->path, where, cam->width, cam->height,
                   PL_CAPTURE_MAX_SIDE);
  if (!(cam->fx > 0) || !(cam->fy > 0) || !isfinite(cam->fx) || !isfinite(cam->fy))
    return pl_fail(PL_ERR_INVALID, "%s: %s: focal lengths fx %g, fy %g must be positive and finite", c->path, where,
                   cam->fx, cam->fy);
  if (!isfinite(cam->cx) || !isfinite(cam->cy))
    return pl_fail(PL_ERR_INVALID, "%s: %s: the principal point is not finite", c->path, where);
  return PL_OK;
}

/* ------------------------------------------------------------------ images */

pl_status pl_capture_image_size(const char *path, int *w, int *h) {
  FILE *f = fopen(path, "rb");
  if (!f) return pl_fail(PL_ERR_IO, "%s: cannot open image: %s", path, strerror(errno));
  int comp;
  int ok = stbi_info_from_file(f, w, h, &comp);
  fclose(f);
  if (!ok) return pl_fail(PL_ERR_PARSE, "%s: not an image stb_image can read (%s)", path, stbi_failure_reason());
  if (*w < 1 || *h < 1 || *w > PL_CAPTURE_MAX_SIDE || *h > PL_CAPTURE_MAX_SIDE)
    return pl_fail(PL_ERR_LIMIT, "%s: image size %dx%d is outside 1..%d", path, *w, *h, PL_CAPTURE_MAX_SIDE);
  return PL_OK;
}

pl_status pl_capture_image_read(const char *path, int *w, int *h, float **rgba, int *has_alpha) {
  *rgba = NULL;
  int iw, ih, ch;
  PL_TRY(pl_capture_image_size(path, &iw, &ih));
  PL_TRY(pl_png_read_float(path, 4, w, h, rgba, &ch));
  if (*w != iw || *h != ih) {
    free(*rgba);
    *rgba = NULL;
    return pl_fail(PL_ERR_PARSE, "%s: the decoded size differs from the header", path);
  }
  *has_alpha = ch == 2 || ch == 4;
  return PL_OK;
}

/* Weights of the source pixels under output pixel i of an n_out-pixel axis resampled from n_in pixels. */
static int area_taps(int i, int n_in, int n_out, int *first, double *wt, int cap) {
  double s = (double)n_in / n_out, a = i * s, b = (i + 1) * s;
  int lo = (int)floor(a), hi = (int)ceil(b), k = 0;
  if (hi > n_in) hi = n_in;
  *first = lo;
  for (int j = lo; j < hi && k < cap; ++j) {
    double l = j < a ? a : j, r = j + 1 > b ? b : j + 1;
    wt[k++] = (r - l) / s;
  }
  return k;
}

void pl_capture_resample_area(const float *src, int sw, int sh, int ch, float *dst, int dw, int dh) {
  int capx = sw / dw + 3, capy = sh / dh + 3;
  double *tmp = (double *)calloc((size_t)dw * sh * ch, sizeof(double));
  double *wx = (double *)malloc(sizeof(double) * (size_t)capx), *wy = (double *)malloc(sizeof(double) * (size_t)capy);
  if (!tmp || !wx || !wy) {
    free(tmp);
    free(wx);
    free(wy);
    for (size_t i = 0; i < (size_t)dw * dh * ch; ++i) dst[i] = 0; /* (callers check sizes; a 16k^2 image fits) */
    return;
  }
  for (int x = 0; x < dw; ++x) {
    int x0, n = area_taps(x, sw, dw, &x0, wx, capx);
    for (int y = 0; y < sh; ++y)
      for (int k = 0; k < n; ++k)
        for (int q = 0; q < ch; ++q) tmp[((size_t)y * dw + x) * ch + q] += wx[k] * src[((size_t)y * sw + x0 + k) * ch + q];
  }
  for (int y = 0; y < dh; ++y) {
    int y0, n = area_taps(y, sh, dh, &y0, wy, capy);
    for (int x = 0; x < dw; ++x)
      for (int q = 0; q < ch; ++q) {
        double acc = 0;
        for (int k = 0; k < n; ++k) acc += wy[k] * tmp[((size_t)(y0 + k) * dw + x) * ch + q];
        dst[((size_t)y * dw + x) * ch + q] = (float)acc;
      }
  }
  free(tmp);
  free(wx);
  free(wy);
}

/* ------------------------------------------------------------------ PAC-NeRF */

/* "./data/r_3_12.png" -> camera 3, frame 12 (frame may be -1, -2) */
static int pacnerf_name(const char *path, int *cam, int *frame) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  char tail;
  if (sscanf(base, "r_%d_%d.%c", cam, frame, &tail) != 3) return 0;
  return *cam >= 0 && *cam < 100000 && *frame >= -2 && *frame < 1000000;
}

/* a capture file's JSON, parsed into *root (an empty capture named `name` first) */
static pl_status capture_open_json(pl_capture *c, const char *text, size_t len, const char *name, cJSON **root) {
  memset(c, 0, sizeof *c);
  snprintf(c->path, sizeof c->path, "%s", name);
  *root = cJSON_ParseWithLength(text, len);
  if (!*root) return pl_fail(PL_ERR_PARSE, "%s: not valid JSON (near byte %ld)", name,
                             cJSON_GetErrorPtr() ? (long)(cJSON_GetErrorPtr() - text) : 0L);
  return PL_OK;
}

pl_status pl_capture_parse_pacnerf(pl_capture *c, const char *text, size_t len, const char *name, const char *dir,
                                   int probe) {
  cJSON *root = NULL;
  PL_TRY(capture_open_json(c, text, len, name, &root));
  pl_status st = PL_OK;
  if (!cJSON_IsArray(root) || cJSON_GetArraySize(root) == 0) {
    st = pl_fail(PL_ERR_PARSE, "%s: expected a non-empty JSON list of images (PAC-NeRF all_data.json)", name);
    goto done;
  }
  int n = cJSON_GetArraySize(root);
  if (n > MAX_ENTRIES) {
    st = pl_fail(PL_ERR_LIMIT, "%s: more than %d entries", name, MAX_ENTRIES);
    goto done;
  }
  int i = 0;
  for (const cJSON *en = root->child; en; en = en->next, ++i) {
    const cJSON *fp = cJSON_GetObjectItemCaseSensitive(en, "file_path");
    if (!cJSON_IsString(fp)) {
      st = pl_fail(PL_ERR_PARSE, "%s: entry %d has no \"file_path\" string", name, i);
      goto done;
    }
    int ci, fi;
    if (!pacnerf_name(fp->valuestring, &ci, &fi)) {
      st = pl_fail(PL_ERR_PARSE, "%s: entry %d: file_path \"%.200s\" is not r_CAMERA_FRAME.png", name, i, fp->valuestring);
      goto done;
    }
    char cname[32];
    snprintf(cname, sizeof cname, "%d", ci);
    int k = pl_capture_camera_index(c, cname);
    if (k < 0) {
      st = add_camera(c, cname, &k);
      if (st != PL_OK) goto done;
      c->cameras[k].width = 0;
    }
    pl_capture_camera *cam = &c->cameras[k];
    char path[PL_CAPTURE_PATH_MAX];
    join_path(path, sizeof path, dir, fp->valuestring);
    if (fi == -1) {
      snprintf(cam->background, sizeof cam->background, "%s", path);
    } else if (fi == -2) {
      snprintf(cam->ignore, sizeof cam->ignore, "%s", path);
    } else {
      pl_capture_frame *f;
      st = add_frame(c, &f);
      if (st != PL_OK) goto done;
      f->camera = k;
      f->index = fi;
      snprintf(f->image, sizeof f->image, "%s", path);
      const cJSON *tm = cJSON_GetObjectItemCaseSensitive(en, "time");
      if (cJSON_IsNumber(tm) && isfinite(tm->valuedouble)) f->time = tm->valuedouble;
      for (int q = 0; q < c->nframes - 1; ++q)
        if (c->frames[q].camera == k && c->frames[q].index == fi) {
          st = pl_fail(PL_ERR_PARSE, "%s: entry %d: camera %d frame %d is listed twice", name, i, ci, fi);
          goto done;
        }
    }
    /* pose and intrinsics: every entry of a camera must agree (PAC-NeRF cameras are fixed) */
    double m[12], K[9], v[16];
    const cJSON *jc = cJSON_GetObjectItemCaseSensitive(en, "c2w"), *jk = cJSON_GetObjectItemCaseSensitive(en, "intrinsic");
    if (!jc && !jk && fi < 0) continue; /* plates may leave the camera out */
    if (!json_pose(jc, m)) {
      st = pl_fail(PL_ERR_PARSE, "%s: entry %d (%.200s): \"c2w\" is not a 3x4 or 4x4 matrix of finite numbers", name, i,
                   fp->valuestring);
      goto done;
    }
    if (!json_matrix(jk, 3, 3, K)) {
      st = pl_fail(PL_ERR_PARSE, "%s: entry %d (%.200s): \"intrinsic\" is not a 3x3 matrix of finite numbers", name, i,
                   fp->valuestring);
      goto done;
    }
    if (!pl_capture_c2w_gl_to_viewmat(m, v)) {
      st = pl_fail(PL_ERR_INVALID, "%s: entry %d (%.200s): \"c2w\" is not a rigid transform (its rotation is not "
                   "orthonormal)", name, i, fp->valuestring);
      goto done;
    }
    if (fabs(K[1]) > 1e-9 * fabs(K[0]) || K[3] != 0 || K[6] != 0 || K[7] != 0 || K[8] != 1) {
      st = pl_fail(PL_ERR_UNSUPPORTED, "%s: entry %d (%.200s): \"intrinsic\" must be [[fx,0,cx],[0,fy,cy],[0,0,1]] (no "
                   "skew)", name, i, fp->valuestring);
      goto done;
    }
    if (cam->fx == 0) {
      memcpy(cam->viewmat, v, sizeof v);
      cam->fx = K[0];
      cam->fy = K[4];
      cam->cx = K[2];
      cam->cy = K[5];
      if (!(cam->fx > 0) || !(cam->fy > 0)) {
        st = pl_fail(PL_ERR_INVALID, "%s: entry %d (%.200s): focal lengths must be positive", name, i, fp->valuestring);
        goto done;
      }
    } else {
      double d = fabs(cam->fx - K[0]) + fabs(cam->fy - K[4]) + fabs(cam->cx - K[2]) + fabs(cam->cy - K[5]);
      for (int q = 0; q < 16; ++q) d += fabs(cam->viewmat[q] - v[q]);
      if (d > 1e-6 * (1 + fabs(cam->fx))) {
        st = pl_fail(PL_ERR_INVALID, "%s: entry %d (%.200s): camera %d's c2w or intrinsic differs from its earlier "
                     "entries (a PAC-NeRF camera does not move)", name, i, fp->valuestring, ci);
        goto done;
      }
    }
  }
  for (int k = 0; k < c->ncameras; ++k) {
    pl_capture_camera *cam = &c->cameras[k];
    if (cam->fx == 0) {
      st = pl_fail(PL_ERR_PARSE, "%s: camera %s has no entry with c2w and intrinsic", name, cam->name);
      goto done;
    }
    int first = -1;
    for (int q = 0; q < c->nframes && first < 0; ++q)
      if (c->frames[q].camera == k) first = q;
    if (first < 0) {
      st = pl_fail(PL_ERR_PARSE, "%s: camera %s has no image of frame 0 or later", name, cam->name);
      goto done;
    }
    if (!probe) {
      st = pl_fail(PL_ERR_INVALID, "%s: camera %s: the image size is only in the images", name, cam->name);
      goto done;
    }
    st = pl_capture_image_size(c->frames[first].image, &cam->width, &cam->height);
    if (st != PL_OK) {
      st = pl_fail_context(st, "%s: camera %s: ", name, cam->name);
      goto done;
    }
    char where[96];
    snprintf(where, sizeof where, "camera %s", cam->name);
    st = check_intrinsics(c, cam, where);
    if (st != PL_OK) goto done;
  }
done:
  cJSON_Delete(root);
  if (st != PL_OK) pl_capture_free(c);
  return st;
}

/* ------------------------------------------------------------------ transforms.json */

typedef struct {
  int has[8];
  double v[8]; /* fl_x fl_y cx cy w h camera_angle_x camera_angle_y */
} tf_intr;

static const char *const tf_keys[8] = {"fl_x", "fl_y", "cx", "cy", "w", "h", "camera_angle_x", "camera_angle_y"};

static pl_status tf_read_intr(const cJSON *o, tf_intr *in, const char *name, const char *where) {
  for (int k = 0; k < 8; ++k) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, tf_keys[k]);
    if (!x) continue;
    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
      return pl_fail(PL_ERR_PARSE, "%s: %s: \"%s\" is not a finite number", name, where, tf_keys[k]);
    in->has[k] = 1;
    in->v[k] = x->valuedouble;
  }
  /* w and h: integers in range (checked before any use as a size) */
  for (int k = 4; k < 6; ++k)
    if (in->has[k] && !(in->v[k] >= 1 && in->v[k] <= PL_CAPTURE_MAX_SIDE && in->v[k] == floor(in->v[k])))
      return pl_fail(PL_ERR_INVALID, "%s: %s: \"%s\" = %g is not a whole number of pixels in 1..%d", name, where,
                     tf_keys[k], in->v[k], PL_CAPTURE_MAX_SIDE);
  /* distortion we do not apply */
  static const char *const dist[] = {"k1", "k2", "k3", "k4", "p1", "p2"};
  for (int k = 0; k < 6; ++k) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, dist[k]);
    if (cJSON_IsNumber(x) && x->valuedouble != 0)
      return pl_fail(PL_ERR_UNSUPPORTED, "%s: %s: distortion \"%s\" = %g is not applied by this renderer: undistort the "
                     "images first (pinhole cameras only)", name, where, dist[k], x->valuedouble);
  }
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(o, "camera_model");
  if (model) {
    if (!cJSON_IsString(model))
      return pl_fail(PL_ERR_PARSE, "%s: %s: \"camera_model\" is not a string", name, where);
    const char *m = model->valuestring;
    if (strcmp(m, "PINHOLE") != 0 && strcmp(m, "SIMPLE_PINHOLE") != 0 && strcmp(m, "OPENCV") != 0)
      return pl_fail(PL_ERR_UNSUPPORTED, "%s: %s: camera_model \"%.64s\" is not supported (PINHOLE, SIMPLE_PINHOLE, or "
                     "OPENCV with zero distortion; undistort fisheye/equirectangular images first)", name, where, m);
  }
  return PL_OK;
}

static pl_status tf_intrinsics(const tf_intr *g, const tf_intr *f, pl_capture_camera *cam, const char *name,
                               const char *where, const char *image, int probe) {
  double v[8];
  int has[8];
  for (int k = 0; k < 8; ++k) {
    has[k] = f->has[k] || g->has[k];
    v[k] = f->has[k] ? f->v[k] : g->v[k];
  }
  if (has[4] && has[5]) {
    cam->width = (int)v[4];
    cam->height = (int)v[5];
  } else if (probe) {
    pl_status st = pl_capture_image_size(image, &cam->width, &cam->height);
    if (st != PL_OK) return pl_fail_context(st, "%s: %s: no \"w\"/\"h\", and the image: ", name, where);
  } else {
    return pl_fail(PL_ERR_PARSE, "%s: %s: no \"w\" and \"h\"", name, where);
  }
  if (has[0]) {
    cam->fx = v[0];
    cam->fy = has[1] ? v[1] : v[0];
  } else if (has[6]) {
    if (!(v[6] > 0 && v[6] < PI_))
      return pl_fail(PL_ERR_INVALID, "%s: %s: camera_angle_x = %g is not in (0, pi) radians", name, where, v[6]);
    cam->fx = 0.5 * cam->width / tan(0.5 * v[6]);
    cam->fy = cam->fx;
    if (has[7] && v[7] > 0 && v[7] < PI_) cam->fy = 0.5 * cam->height / tan(0.5 * v[7]);
  } else {
    return pl_fail(PL_ERR_PARSE, "%s: %s: gives neither \"fl_x\" nor \"camera_angle_x\"", name, where);
  }
  cam->cx = has[2] ? v[2] : 0.5 * cam->width;
  cam->cy = has[3] ? v[3] : 0.5 * cam->height;
  return PL_OK;
}

pl_status pl_capture_parse_transforms(pl_capture *c, const char *text, size_t len, const char *name, const char *dir,
                                      int probe) {
  cJSON *root = NULL;
  PL_TRY(capture_open_json(c, text, len, name, &root));
  pl_status st = PL_OK;
  tf_intr g;
  memset(&g, 0, sizeof g);
  const cJSON *frames = cJSON_GetObjectItemCaseSensitive(root, "frames");
  if (!cJSON_IsObject(root) || !cJSON_IsArray(frames) || cJSON_GetArraySize(frames) == 0) {
    st = pl_fail(PL_ERR_PARSE, "%s: no \"frames\" list (nerfstudio / instant-ngp transforms.json)", name);
    goto done;
  }
  st = tf_read_intr(root, &g, name, "top level");
  if (st != PL_OK) goto done;
  int i = 0;
  for (const cJSON *en = frames->child; en; en = en->next, ++i) {
    char where[96];
    snprintf(where, sizeof where, "frames[%d]", i);
    if (i >= MAX_ENTRIES) {
      st = pl_fail(PL_ERR_LIMIT, "%s: more than %d frames", name, MAX_ENTRIES);
      goto done;
    }
    const cJSON *fp = cJSON_GetObjectItemCaseSensitive(en, "file_path");
    if (!cJSON_IsString(fp) || !fp->valuestring[0]) {
      st = pl_fail(PL_ERR_PARSE, "%s: %s has no \"file_path\" string", name, where);
      goto done;
    }
    snprintf(where, sizeof where, "frames[%d] (%.60s)", i, fp->valuestring);
    tf_intr fi;
    memset(&fi, 0, sizeof fi);
    st = tf_read_intr(en, &fi, name, where);
    if (st != PL_OK) goto done;
    double m[12], v[16];
    if (!json_pose(cJSON_GetObjectItemCaseSensitive(en, "transform_matrix"), m)) {
      st = pl_fail(PL_ERR_PARSE, "%s: %s: \"transform_matrix\" is not a 4x4 (or 3x4) matrix of finite numbers", name,
                   where);
      goto done;
    }
    if (!pl_capture_c2w_gl_to_viewmat(m, v)) {
      st = pl_fail(PL_ERR_INVALID, "%s: %s: \"transform_matrix\" is not a rigid transform (its rotation is not "
                   "orthonormal)", name, where);
      goto done;
    }
    char image[PL_CAPTURE_PATH_MAX];
    join_path(image, sizeof image, dir, fp->valuestring);
    /* a file_path without an extension (the original NeRF synthetic files) means .png */
    const char *base = strrchr(fp->valuestring, '/');
    if (!strchr(base ? base : fp->valuestring, '.')) strncat(image, ".png", sizeof image - strlen(image) - 1);
    pl_capture_camera cam;
    memset(&cam, 0, sizeof cam);
    memcpy(cam.viewmat, v, sizeof v);
    st = tf_intrinsics(&g, &fi, &cam, name, where, image, probe);
    if (st != PL_OK) goto done;
    snprintf(cam.name, sizeof cam.name, "%s", "");
    st = check_intrinsics(c, &cam, where);
    if (st != PL_OK) goto done;
    /* which camera: "camera" / "camera_id" when given, else the pose and intrinsics */
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(en, "camera");
    if (!cid) cid = cJSON_GetObjectItemCaseSensitive(en, "camera_id");
    char cname[PL_CAPTURE_NAME_MAX] = "";
    if (cJSON_IsString(cid)) snprintf(cname, sizeof cname, "%s", cid->valuestring);
    else if (cJSON_IsNumber(cid) && fabs(cid->valuedouble) < 1e15 && cid->valuedouble == floor(cid->valuedouble))
      snprintf(cname, sizeof cname, "%lld", (long long)cid->valuedouble);
    else if (cJSON_IsNumber(cid)) snprintf(cname, sizeof cname, "%g", cid->valuedouble);
    for (char *p = cname; *p; ++p)
      if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.') *p = '_';
    int k = -1;
    if (cname[0]) {
      k = pl_capture_camera_index(c, cname);
    } else {
      for (int q = 0; q < c->ncameras && k < 0; ++q) {
        const pl_capture_camera *o = &c->cameras[q];
        double d = fabs(o->fx - cam.fx) + fabs(o->fy - cam.fy) + fabs(o->cx - cam.cx) + fabs(o->cy - cam.cy);
        for (int j = 0; j < 16; ++j) d += fabs(o->viewmat[j] - cam.viewmat[j]);
        if (d < 1e-7 && o->width == cam.width && o->height == cam.height) k = q;
      }
      snprintf(cname, sizeof cname, "cam%d", c->ncameras);
    }
    if (k < 0) {
      st = add_camera(c, cname, &k);
      if (st != PL_OK) goto done;
      pl_capture_camera *nc = &c->cameras[k];
      snprintf(cam.name, sizeof cam.name, "%s", nc->name);
      *nc = cam;
    } else {
      const pl_capture_camera *o = &c->cameras[k];
      double d = fabs(o->fx - cam.fx) + fabs(o->fy - cam.fy) + fabs(o->cx - cam.cx) + fabs(o->cy - cam.cy);
      for (int j = 0; j < 16; ++j) d += fabs(o->viewmat[j] - cam.viewmat[j]);
      if (d > 1e-6 * (1 + fabs(o->fx)) || o->width != cam.width || o->height != cam.height) {
        st = pl_fail(PL_ERR_INVALID, "%s: %s: camera %s's pose or intrinsics differ from its earlier frames (moving "
                     "cameras are not supported)", name, where, o->name);
        goto done;
      }
    }
    pl_capture_frame *f;
    st = add_frame(c, &f);
    if (st != PL_OK) goto done;
    f->camera = k;
    snprintf(f->image, sizeof f->image, "%s", image);
    const cJSON *mp = cJSON_GetObjectItemCaseSensitive(en, "mask_path");
    if (mp && !cJSON_IsString(mp)) {
      st = pl_fail(PL_ERR_PARSE, "%s: %s: \"mask_path\" is not a string", name, where);
      goto done;
    }
    if (mp) join_path(f->mask, sizeof f->mask, dir, mp->valuestring);
    const cJSON *bp = cJSON_GetObjectItemCaseSensitive(en, "background_path");
    if (cJSON_IsString(bp)) join_path(c->cameras[k].background, sizeof c->cameras[k].background, dir, bp->valuestring);
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(en, "time");
    if (tm && !(cJSON_IsNumber(tm) && isfinite(tm->valuedouble))) {
      st = pl_fail(PL_ERR_PARSE, "%s: %s: \"time\" is not a finite number", name, where);
      goto done;
    }
    if (tm) f->time = tm->valuedouble;
    const cJSON *fx = cJSON_GetObjectItemCaseSensitive(en, "frame_index");
    if (fx) {
      if (!cJSON_IsNumber(fx) || !(fx->valuedouble >= 0 && fx->valuedouble < 1e9) ||
          fx->valuedouble != floor(fx->valuedouble)) {
        st = pl_fail(PL_ERR_PARSE, "%s: %s: \"frame_index\" is not a whole number >= 0", name, where);
        goto done;
      }
      f->index = (int)fx->valuedouble;
    }
  }
  /* frames without frame_index or time: their order within the camera */
  for (int k = 0; k < c->ncameras; ++k) {
    int n = 0;
    for (int q = 0; q < c->nframes; ++q)
      if (c->frames[q].camera == k && c->frames[q].index < 0 && isnan(c->frames[q].time)) c->frames[q].index = n++;
  }
done:
  cJSON_Delete(root);
  if (st != PL_OK) pl_capture_free(c);
  return st;
}

/* ------------------------------------------------------------------ COLMAP text */

/* next non-comment, non-empty line of a text; returns NULL at the end. *lineno counts lines. */
static const char *next_line(const char **p, char *buf, size_t size, int *lineno, int keep_empty) {
  while (**p) {
    const char *s = *p, *e = strchr(s, '\n');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    *p = e ? e + 1 : s + n;
    ++*lineno;
    if (n >= size) n = size - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (n && buf[n - 1] == '\r') buf[n - 1] = '\0';
    const char *t = buf;
    while (*t == ' ' || *t == '\t') ++t;
    if (*t == '#') continue;
    if (!*t && !keep_empty) continue;
    return buf;
  }
  return NULL;
}

typedef struct {
  long id;
  int w, h;
  double fx, fy, cx, cy;
} colmap_cam;

pl_status pl_capture_parse_colmap(pl_capture *c, const char *cameras_txt, const char *images_txt, const char *model_dir,
                                 const char *dir) {
  memset(c, 0, sizeof *c);
  char cpath[PL_CAPTURE_PATH_MAX], ipath[PL_CAPTURE_PATH_MAX];
  join_path(cpath, sizeof cpath, model_dir, "cameras.txt");
  join_path(ipath, sizeof ipath, model_dir, "images.txt");
  snprintf(c->path, sizeof c->path, "%s", ipath);
  colmap_cam *cams = NULL;
  int ncams = 0;
  pl_status st = PL_OK;
  char line[4096];
  int ln = 0;
  const char *p = cameras_txt;
  while (next_line(&p, line, sizeof line, &ln, 0)) {
    char model[64];
    long id;
    double w, h, prm[8];
    int used;
    if (sscanf(line, "%ld %63s %lf %lf%n", &id, model, &w, &h, &used) != 4) {
      st = pl_fail(PL_ERR_PARSE, "%s:%d: expected CAMERA_ID MODEL WIDTH HEIGHT PARAMS...", cpath, ln);
      goto done;
    }
    int np = 0, off;
    const char *q = line + used;
    while (np < 8 && sscanf(q, "%lf%n", &prm[np], &off) == 1) q += off, ++np;
    if (!(w >= 1 && w <= PL_CAPTURE_MAX_SIDE && h >= 1 && h <= PL_CAPTURE_MAX_SIDE) || w != floor(w) || h != floor(h)) {
      st = pl_fail(PL_ERR_INVALID, "%s:%d: camera %ld: size %gx%g is outside 1..%d", cpath, ln, id, w, h,
                   PL_CAPTURE_MAX_SIDE);
      goto done;
    }
    colmap_cam cc = {id, (int)w, (int)h, 0, 0, 0, 0};
    int need = -1, zero_from = -1;
    if (strcmp(model, "PINHOLE") == 0) need = 4;
    else if (strcmp(model, "SIMPLE_PINHOLE") == 0) need = 3;
    else if (strcmp(model, "SIMPLE_RADIAL") == 0) need = 4, zero_from = 3;
    else if (strcmp(model, "RADIAL") == 0) need = 5, zero_from = 3;
    else if (strcmp(model, "OPENCV") == 0) need = 8, zero_from = 4;
    if (need < 0) {
      st = pl_fail(PL_ERR_UNSUPPORTED, "%s:%d: camera %ld: model %s is not supported (PINHOLE, SIMPLE_PINHOLE; radial "
                   "models only with zero distortion: undistort the images first)", cpath, ln, id, model);
      goto done;
    }
    if (np != need) {
      st = pl_fail(PL_ERR_PARSE, "%s:%d: camera %ld: model %s needs %d parameters, got %d", cpath, ln, id, model, need, np);
      goto done;
    }
    for (int k = zero_from; zero_from >= 0 && k < need; ++k)
      if (prm[k] != 0) {
        st = pl_fail(PL_ERR_UNSUPPORTED, "%s:%d: camera %ld: model %s has distortion parameter %d = %g, which this "
                     "renderer does not apply: undistort the images first", cpath, ln, id, model, k - zero_from + 1, prm[k]);
        goto done;
      }
    if (need == 4 && zero_from < 0) cc.fx = prm[0], cc.fy = prm[1], cc.cx = prm[2], cc.cy = prm[3];
    else if (need == 8) cc.fx = prm[0], cc.fy = prm[1], cc.cx = prm[2], cc.cy = prm[3];
    else cc.fx = cc.fy = prm[0], cc.cx = prm[1], cc.cy = prm[2];
    colmap_cam *nc = (colmap_cam *)realloc(cams, sizeof *nc * (size_t)(ncams + 1));
    if (!nc) {
      st = pl_fail(PL_ERR_NOMEM, "out of memory");
      goto done;
    }
    cams = nc;
    cams[ncams++] = cc;
    if (ncams > MAX_ENTRIES) {
      st = pl_fail(PL_ERR_LIMIT, "%s: too many cameras", cpath);
      goto done;
    }
  }
  if (ncams == 0) {
    st = pl_fail(PL_ERR_PARSE, "%s: no camera", cpath);
    goto done;
  }
  /* images.txt: two lines per image, the second (2D points) may be empty */
  p = images_txt;
  ln = 0;
  while (next_line(&p, line, sizeof line, &ln, 0)) {
    long iid, camid;
    double q[4], t[3];
    char nm[1024];
    if (sscanf(line, "%ld %lf %lf %lf %lf %lf %lf %lf %ld %1023s", &iid, &q[0], &q[1], &q[2], &q[3], &t[0], &t[1], &t[2],
               &camid, nm) != 10) {
      st = pl_fail(PL_ERR_PARSE, "%s:%d: expected IMAGE_ID QW QX QY QZ TX TY TZ CAMERA_ID NAME", ipath, ln);
      goto done;
    }
    int hdr = ln;
    if (*p) next_line(&p, line, sizeof line, &ln, 1); /* the points line */
    const colmap_cam *cc = NULL;
    for (int k = 0; k < ncams; ++k)
      if (cams[k].id == camid) cc = &cams[k];
    if (!cc) {
      st = pl_fail(PL_ERR_INVALID, "%s:%d: image %s names camera %ld, which cameras.txt does not define", ipath, hdr, nm, camid);
      goto done;
    }
    double qn = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
    if (!(fabs(qn - 1) < 1e-3) || !isfinite(t[0] + t[1] + t[2])) {
      st = pl_fail(PL_ERR_INVALID, "%s:%d: image %s: the quaternion is not unit length (|q| = %g) or t is not finite",
                   ipath, hdr, nm, qn);
      goto done;
    }
    double w = q[0] / qn, x = q[1] / qn, y = q[2] / qn, z = q[3] / qn;
    double v[16] = {1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y), t[0],
                    2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x), t[1],
                    2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y), t[2],
                    0, 0, 0, 1};
    /* camera name: the image's folder ("CAM/0003.png"), else its stem */
    char cname[PL_CAPTURE_NAME_MAX], *slash = strchr(nm, '/');
    int idx = -1;
    if (slash) {
      snprintf(cname, sizeof cname, "%.*s", (int)(slash - nm) < 63 ? (int)(slash - nm) : 63, nm);
      char tail;
      if (sscanf(slash + 1, "%d.%c", &idx, &tail) != 2 || idx < 0) idx = -1;
    } else {
      copy_name(cname, nm);
      char *dot = strrchr(cname, '.');
      if (dot) *dot = '\0';
    }
    int k = pl_capture_camera_index(c, cname);
    if (k < 0) {
      st = add_camera(c, cname, &k);
      if (st != PL_OK) goto done;
      pl_capture_camera *cam = &c->cameras[k];
      memcpy(cam->viewmat, v, sizeof v);
      cam->width = cc->w;
      cam->height = cc->h;
      cam->fx = cc->fx;
      cam->fy = cc->fy;
      cam->cx = cc->cx;
      cam->cy = cc->cy;
      char where[128];
      snprintf(where, sizeof where, "line %d, image %.60s", hdr, nm);
      st = check_intrinsics(c, cam, where);
      if (st != PL_OK) goto done;
    } else {
      const pl_capture_camera *cam = &c->cameras[k];
      double d = 0;
      for (int j = 0; j < 16; ++j) d += fabs(cam->viewmat[j] - v[j]);
      if (d > 1e-6 || cam->fx != cc->fx || cam->width != cc->w) {
        st = pl_fail(PL_ERR_INVALID, "%s:%d: image %s: camera %s's pose differs from its earlier images (moving cameras "
                     "are not supported)", ipath, hdr, nm, cname);
        goto done;
      }
    }
    pl_capture_frame *f;
    st = add_frame(c, &f);
    if (st != PL_OK) goto done;
    f->camera = k;
    f->index = idx;
    join_path(f->image, sizeof f->image, dir, nm);
  }
  if (c->ncameras == 0) st = pl_fail(PL_ERR_PARSE, "%s: no image", ipath);
done:
  free(cams);
  if (st != PL_OK) pl_capture_free(c);
  return st;
}

/* ------------------------------------------------------------------ from files */

pl_status pl_capture_read(pl_capture *c, pl_capture_layout layout, const char *path) {
  memset(c, 0, sizeof *c);
  struct stat sb;
  if (stat(path, &sb) != 0) return pl_fail(PL_ERR_IO, "capture %s: %s", path, strerror(errno));
  int is_dir = S_ISDIR(sb.st_mode);
  char file[PL_CAPTURE_PATH_MAX], dir[PL_CAPTURE_PATH_MAX];
  if (layout == PL_CAPTURE_COLMAP) {
    char cams[PL_CAPTURE_PATH_MAX + 32], imgs[PL_CAPTURE_PATH_MAX + 32], base[PL_CAPTURE_PATH_MAX],
        model[PL_CAPTURE_PATH_MAX + 16], images[PL_CAPTURE_PATH_MAX + 16];
    snprintf(base, sizeof base, "%s", path);
    if (!is_dir) pl_dirname(path, base, sizeof base);
    snprintf(model, sizeof model, "%s", base);
    snprintf(cams, sizeof cams, "%s/cameras.txt", model);
    if (!file_exists(cams)) {
      snprintf(model, sizeof model, "%s/sparse/0", base);
      snprintf(cams, sizeof cams, "%s/cameras.txt", model);
      if (!file_exists(cams)) return pl_fail(PL_ERR_IO, "capture %s: no cameras.txt there (nor in sparse/0/)", path);
    }
    snprintf(imgs, sizeof imgs, "%s/images.txt", model);
    /* image names are relative to FOLDER/images/ when that folder exists (COLMAP's layout), else to FOLDER */
    snprintf(images, sizeof images, "%s/images", base);
    struct stat ib;
    if (!(stat(images, &ib) == 0 && S_ISDIR(ib.st_mode))) snprintf(images, sizeof images, "%s", base);
    char *ct = NULL, *it = NULL;
    size_t n;
    pl_status st = read_text(cams, &ct, &n);
    if (st == PL_OK) st = read_text(imgs, &it, &n);
    if (st == PL_OK) st = pl_capture_parse_colmap(c, ct, it, model, images);
    free(ct);
    free(it);
    return st;
  }
  const char *fname = layout == PL_CAPTURE_PACNERF ? "all_data.json" : "transforms.json";
  if (is_dir) {
    snprintf(file, sizeof file, "%s/%s", path, fname);
    snprintf(dir, sizeof dir, "%s", path);
  } else {
    snprintf(file, sizeof file, "%s", path);
    pl_dirname(path, dir, sizeof dir);
  }
  char *text = NULL;
  size_t len = 0;
  PL_TRY(read_text(file, &text, &len));
  pl_status st = layout == PL_CAPTURE_PACNERF ? pl_capture_parse_pacnerf(c, text, len, file, dir, 1)
                                              : pl_capture_parse_transforms(c, text, len, file, dir, 1);
  free(text);
  return st;
}

/* ------------------------------------------------------------------ writing */

static void add_matrix(cJSON *o, const char *key, const double *m, int rows, int cols) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < rows; ++i) {
    cJSON *r = cJSON_CreateArray();
    for (int j = 0; j < cols; ++j) cJSON_AddItemToArray(r, cJSON_CreateNumber(m[cols * i + j]));
    cJSON_AddItemToArray(a, r);
  }
  cJSON_AddItemToObject(o, key, a);
}

pl_status pl_capture_write(const pl_capture *c, pl_capture_layout layout, const char *folder) {
  if (layout == PL_CAPTURE_COLMAP) return pl_fail(PL_ERR_UNSUPPORTED, "writing COLMAP models is not supported");
  const int pac = layout == PL_CAPTURE_PACNERF;
  cJSON *list = cJSON_CreateArray(), *root = list;
  if (!pac) {
    root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "camera_model", "PINHOLE");
  }
  for (int k = 0; k < c->ncameras; ++k) {
    const pl_capture_camera *cam = &c->cameras[k];
    double c2w[16], K[9] = {cam->fx, 0, cam->cx, 0, cam->fy, cam->cy, 0, 0, 1};
    pl_capture_viewmat_to_c2w_gl(cam->viewmat, c2w);
    c2w[12] = c2w[13] = c2w[14] = 0;
    c2w[15] = 1;
    for (int q = -1; q < c->nframes; ++q) {
      const pl_capture_frame *f = q >= 0 ? &c->frames[q] : NULL;
      if (f && f->camera != k) continue;
      if (!f && (!pac || !cam->background[0])) continue; /* the plate: its own PAC-NeRF entry (frame -1) */
      cJSON *en = cJSON_CreateObject();
      char fp[PL_CAPTURE_PATH_MAX + 8];
      snprintf(fp, sizeof fp, "%s%s", pac ? "./" : "", f ? f->image : cam->background);
      cJSON_AddStringToObject(en, "file_path", fp);
      if (f && isfinite(f->time)) cJSON_AddNumberToObject(en, "time", f->time);
      if (pac) {
        add_matrix(en, "c2w", c2w, 3, 4);
        add_matrix(en, "intrinsic", K, 3, 3);
      } else {
        cJSON_AddStringToObject(en, "camera", cam->name);
        if (f->index >= 0) cJSON_AddNumberToObject(en, "frame_index", f->index);
        if (f->mask[0]) cJSON_AddStringToObject(en, "mask_path", f->mask);
        if (cam->background[0]) cJSON_AddStringToObject(en, "background_path", cam->background);
        cJSON_AddNumberToObject(en, "w", cam->width);
        cJSON_AddNumberToObject(en, "h", cam->height);
        cJSON_AddNumberToObject(en, "fl_x", cam->fx);
        cJSON_AddNumberToObject(en, "fl_y", cam->fy);
        cJSON_AddNumberToObject(en, "cx", cam->cx);
        cJSON_AddNumberToObject(en, "cy", cam->cy);
        add_matrix(en, "transform_matrix", c2w, 4, 4);
      }
      cJSON_AddItemToArray(list, en);
    }
  }
  if (!pac) cJSON_AddItemToObject(root, "frames", list);
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  if (!text) return pl_fail(PL_ERR_NOMEM, "out of memory");
  char path[PL_CAPTURE_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/%s", folder, pac ? "all_data.json" : "transforms.json");
  pl_out o;
  pl_status st = pl_out_open(&o, path, 0);
  if (st == PL_OK) {
    fputs(text, o.f);
    fputc('\n', o.f);
    st = pl_out_commit(&o);
  }
  free(text);
  return st;
}
