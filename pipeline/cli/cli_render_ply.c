/* cli_render_ply.c: `pipeline render-ply FILE.ply`: render a 3D Gaussian splatting PLY file to a PNG. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/fileio.h"
#include "core/log.h"
#include "pipeline/cli/cli.h"
#include "raster/ply.h"
#include "raster/raster.h"

static const pl_cli_option render_ply_opts[] = {
    {"output", 'o', "DIR|PNG", "output folder (writes DIR/NAME.png) or a .png file (default: the PLY path with .png)"},
    {"width", 0, "W", "image width in pixels (default 800)"},
    {"height", 0, "H", "image height in pixels (default 600)"},
    {"fov", 0, "DEG", "vertical field of view in degrees (default 50)"},
    {"eye", 0, "X,Y,Z", "camera position (default: in front of the scene, framing it)"},
    {"target", 0, "X,Y,Z", "point looked at (default: the scene's centre)"},
    {"up", 0, "X,Y,Z", "up direction (default 0,1,0; trained COLMAP scenes often want 0,-1,0)"},
    {"viewmat", 0, "M", "world-to-camera matrix, OpenCV axes, 12 or 16 numbers row by row (instead of eye/target)"},
    {"fx", 0, "PX", "focal length x in pixels (overrides --fov)"},
    {"fy", 0, "PX", "focal length y in pixels (default: fx)"},
    {"cx", 0, "PX", "principal point x (default: width/2)"},
    {"cy", 0, "PX", "principal point y (default: height/2)"},
    {"background", 0, "R,G,B", "background colour in [0,1] (default 0,0,0)"},
    {"antialiased", 0, NULL, "antialiased mode (opacity compensated for the screen-space blur)"},
    {"sh-degree", 0, "D", "use SH coefficients up to degree D (default: all in the file)"},
    {"alpha", 0, NULL, "write RGBA (alpha = coverage) instead of RGB"},
    {"depth", 0, "PNG", "also write the expected depth, normalised to [near, far] of the visible pixels"},
    {NULL, 0, NULL, NULL}};

static int parse_vec(const pl_cli_args *a, const char *name, int want, double *v, int *given) {
  const char *s = pl_cli_get(a, name);
  *given = s != NULL;
  if (!s) return 0;
  double tmp[16];
  int n = pl_parse_reals(s, tmp, 16);
  if (n != want && !(want == 12 && n == 16)) {
    fprintf(stderr, "pipeline render-ply: --%s needs %d numbers separated by commas or spaces (got '%s')\n", name,
            want, s);
    return 2;
  }
  memcpy(v, tmp, sizeof(double) * (size_t)n);
  if (want == 12 && n == 12) v[12] = v[13] = v[14] = 0, v[15] = 1;
  return 0;
}

/* The camera options, checked with messages that name them (the rasterizer would only say "camera 0"). */
static int check_look_at(const double eye[3], const double target[3], const double up[3]) {
  double f[3] = {target[0] - eye[0], target[1] - eye[1], target[2] - eye[2]};
  double fl = sqrt(f[0] * f[0] + f[1] * f[1] + f[2] * f[2]);
  if (!(fl > 1e-9 * (1 + fabs(eye[0]) + fabs(eye[1]) + fabs(eye[2])))) {
    fprintf(stderr, "pipeline render-ply: --eye and --target coincide (%g,%g,%g): no viewing direction\n", eye[0],
            eye[1], eye[2]);
    return 2;
  }
  double cr[3] = {f[1] * up[2] - f[2] * up[1], f[2] * up[0] - f[0] * up[2], f[0] * up[1] - f[1] * up[0]};
  double ul = sqrt(up[0] * up[0] + up[1] * up[1] + up[2] * up[2]);
  if (!(sqrt(cr[0] * cr[0] + cr[1] * cr[1] + cr[2] * cr[2]) > 1e-6 * fl * ul)) {
    fprintf(stderr, "pipeline render-ply: --up (%g,%g,%g) is zero or parallel to the viewing direction (--target - "
            "--eye); pick another up\n", up[0], up[1], up[2]);
    return 2;
  }
  return 0;
}

static int check_viewmat(const double v[16]) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double dot = 0;
      for (int k = 0; k < 3; ++k) dot += v[4 * i + k] * v[4 * j + k];
      if (!(fabs(dot - (i == j ? 1.0 : 0.0)) <= 1e-4)) {
        fprintf(stderr, "pipeline render-ply: --viewmat is not a rigid transform: rows %d and %d of its rotation are "
                "not orthonormal (dot product %g)\n", i, j, dot);
        return 2;
      }
    }
  for (int k = 0; k < 16; ++k)
    if (!isfinite(v[k])) {
      fprintf(stderr, "pipeline render-ply: --viewmat value %d is not finite\n", k);
      return 2;
    }
  if (v[12] != 0 || v[13] != 0 || v[14] != 0 || v[15] != 1) {
    fprintf(stderr, "pipeline render-ply: --viewmat's last row must be 0 0 0 1\n");
    return 2;
  }
  return 0;
}

static int check_intrinsics(double fx, double fy, double cx, double cy, long w, long h) {
  if (!(fx > 0 && fy > 0 && fx < 1e7 * (double)(w + h) && fy < 1e7 * (double)(w + h))) {
    fprintf(stderr, "pipeline render-ply: focal lengths must be > 0 and finite (fx %g, fy %g px; a --fov too small "
            "or --fx/--fy too large)\n", fx, fy);
    return 2;
  }
  if (!(fabs(cx) < 1e6 * (double)w && fabs(cy) < 1e6 * (double)h)) {
    fprintf(stderr, "pipeline render-ply: principal point (%g, %g) is far outside the %ldx%ld image\n", cx, cy, w, h);
    return 2;
  }
  return 0;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return a < b ? -1 : a > b;
}

/* Robust centre and radius of the means: per-axis medians, and the 90th percentile distance. */
static void scene_frame(const raster_ply *p, double centre[3], double *radius) {
  const int64_t n = p->n;
  double *tmp = (double *)malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
  for (int k = 0; k < 3; ++k) {
    for (int64_t i = 0; i < n; ++i) tmp[i] = (double)p->means[3 * i + k];
    qsort(tmp, (size_t)n, sizeof(double), cmp_double);
    centre[k] = n ? tmp[n / 2] : 0;
  }
  for (int64_t i = 0; i < n; ++i) {
    double d2 = 0;
    for (int k = 0; k < 3; ++k) d2 += pow((double)p->means[3 * i + k] - centre[k], 2);
    tmp[i] = sqrt(d2);
  }
  qsort(tmp, (size_t)n, sizeof(double), cmp_double);
  *radius = n ? tmp[(int64_t)(0.9 * (double)(n - 1))] : 1;
  if (!(*radius > 0)) *radius = 1;
  free(tmp);
}

/* Copy host arrays of the loaded file to the device (when the backend is CUDA). */
static pl_status upload(pl_buffer *b, const real *src, int64_t count, const real **dst) {
  PL_TRY(pl_buffer_alloc(b, PL_BACKEND_CUDA, sizeof(real) * (size_t)(count > 0 ? count : 1)));
  if (count > 0) PL_TRY(pl_buffer_upload(b, 0, src, sizeof(real) * (size_t)count));
  *dst = (const real *)b->ptr;
  return PL_OK;
}

static int run_render_ply(const pl_cli_args *a) {
  pl_cli_apply_common(a);
  if (a->npos != 1) {
    fprintf(stderr, "pipeline render-ply: need exactly one PLY file (usage: pipeline render-ply FILE.ply [options])\n");
    return 2;
  }
  const char *path = a->pos[0];
  long w, h, shdeg;
  double fov, fx, fy, cx, cy;
  int rc = 0;
  if ((rc = pl_cli_int(a, "width", 800, &w)) || (rc = pl_cli_int(a, "height", 600, &h)) ||
      (rc = pl_cli_real(a, "fov", 50, &fov)) || (rc = pl_cli_int(a, "sh-degree", 3, &shdeg)))
    return rc;
  if (w < 1 || h < 1 || w > 16384 || h > 16384) {
    fprintf(stderr, "pipeline render-ply: --width/--height must be in 1..16384 (got %ldx%ld)\n", w, h);
    return 2;
  }
  if (!(fov >= 0.01 && fov <= 179)) {
    fprintf(stderr, "pipeline render-ply: --fov must be in [0.01, 179] degrees (got %g)\n", fov);
    return 2;
  }
  if (shdeg < 0 || shdeg > 3) {
    fprintf(stderr, "pipeline render-ply: --sh-degree must be 0..3 (got %ld)\n", shdeg);
    return 2;
  }
  double eye[3], target[3], up[3] = {0, 1, 0}, bg[3] = {0, 0, 0}, viewmat[16];
  int has_eye, has_target, has_up, has_bg, has_view;
  if ((rc = parse_vec(a, "eye", 3, eye, &has_eye)) || (rc = parse_vec(a, "target", 3, target, &has_target)) ||
      (rc = parse_vec(a, "up", 3, up, &has_up)) || (rc = parse_vec(a, "background", 3, bg, &has_bg)) ||
      (rc = parse_vec(a, "viewmat", 12, viewmat, &has_view)))
    return rc;
  (void)has_up;
  (void)has_bg;
  if (has_view && (has_eye || has_target)) {
    fprintf(stderr, "pipeline render-ply: give either --viewmat or --eye/--target, not both\n");
    return 2;
  }
  if (has_view && (rc = check_viewmat(viewmat))) return rc;
  long threads = 0;
  if ((rc = pl_cli_int(a, "threads", 0, &threads))) return rc;
  if (threads < 0 || threads > PL_MAX_THREADS) {
    fprintf(stderr, "pipeline render-ply: --threads must be 0 (all cores) or 1..%d (got %ld)\n", PL_MAX_THREADS, threads);
    return 2;
  }
  char out_path[1024];
  const char *o = pl_cli_get(a, "output");
  size_t len = strlen(path);
  const char *slash = strrchr(path, '/');
  const char *stem = slash ? slash + 1 : path;
  int stem_len = (int)strlen(stem) - (len > 4 && strcmp(path + len - 4, ".ply") == 0 ? 4 : 0);
  size_t ol = o ? strlen(o) : 0;
  if (o && ol > 4 && strcasecmp(o + ol - 4, ".png") == 0) {
    snprintf(out_path, sizeof out_path, "%s", o); /* a file name */
  } else if (o) {                                  /* a folder, as -o is in every command */
    if (pl_mkdirs(o) != PL_OK) return pl_cli_report("render-ply", PL_ERR_IO);
    snprintf(out_path, sizeof out_path, "%s/%.*s.png", o, stem_len, stem);
  } else {
    snprintf(out_path, sizeof out_path, "%.*s.png", (int)len - (len > 4 && strcmp(path + len - 4, ".ply") == 0 ? 4 : 0), path);
  }

  raster_ply ply;
  pl_status st = raster_ply_read(path, &ply);
  if (st != PL_OK) return pl_cli_report("render-ply", st);
  const int deg = (int)shdeg < ply.sh_degree ? (int)shdeg : ply.sh_degree;
  /* keep the first (deg+1)^2 coefficients of each Gaussian when a lower degree is asked for */
  if (deg < ply.sh_degree) {
    const int K0 = (ply.sh_degree + 1) * (ply.sh_degree + 1), K1 = (deg + 1) * (deg + 1);
    for (int64_t i = 0; i < ply.n; ++i) memmove(ply.sh + 3 * K1 * i, ply.sh + 3 * K0 * i, sizeof(real) * 3 * (size_t)K1);
    ply.sh_degree = deg;
  }

  raster_camera cam;
  double centre[3], radius;
  scene_frame(&ply, centre, &radius);
  if (!has_target) memcpy(target, centre, sizeof target);
  if (!has_eye) {
    double d = 1.15 * radius / tan(0.5 * fov * 3.14159265358979323846 / 180.0);
    eye[0] = target[0], eye[1] = target[1], eye[2] = target[2] + d;
  }
  if (!has_view && (rc = check_look_at(eye, target, up))) {
    raster_ply_free(&ply);
    return rc;
  }
  if (has_view) {
    memset(&cam, 0, sizeof cam);
    cam.width = (int)w;
    cam.height = (int)h;
    cam.fy = 0.5 * (double)h / tan(0.5 * fov * 3.14159265358979323846 / 180.0);
    cam.fx = cam.fy;
    cam.cx = 0.5 * (double)w;
    cam.cy = 0.5 * (double)h;
    memcpy(cam.viewmat, viewmat, sizeof viewmat);
  } else {
    raster_camera_look_at(&cam, (int)w, (int)h, fov, eye, target, up);
  }
  if ((rc = pl_cli_real(a, "fx", cam.fx, &fx)) || (rc = pl_cli_real(a, "fy", pl_cli_get(a, "fx") ? fx : cam.fy, &fy)) ||
      (rc = pl_cli_real(a, "cx", cam.cx, &cx)) || (rc = pl_cli_real(a, "cy", cam.cy, &cy))) {
    raster_ply_free(&ply);
    return rc;
  }
  cam.fx = fx, cam.fy = fy, cam.cx = cx, cam.cy = cy;
  if ((rc = check_intrinsics(fx, fy, cx, cy, w, h))) {
    raster_ply_free(&ply);
    return rc;
  }

  pl_backend be = PL_BACKEND_AUTO;
  const char *bname = pl_cli_get(a, "backend");
  if (bname && (st = pl_backend_parse(bname, &be)) != PL_OK) {
    raster_ply_free(&ply);
    return pl_cli_report("render-ply", st);
  }
  raster_desc desc;
  memset(&desc, 0, sizeof desc);
  desc.backend = be;
  desc.threads = (int)(threads > 0 ? threads : 0);
  raster_ctx *ctx = NULL;
  if ((st = raster_create(&ctx, &desc)) != PL_OK) {
    raster_ply_free(&ply);
    return pl_cli_report("render-ply", st);
  }
  raster_options opt;
  memset(&opt, 0, sizeof opt);
  opt.mode = pl_cli_count(a, "antialiased") ? RASTER_ANTIALIASED : RASTER_CLASSIC;
  for (int k = 0; k < 3; ++k) opt.background[k] = (real)bg[k];

  const int64_t P = (int64_t)w * h;
  real *img = (real *)calloc((size_t)P * 6, sizeof(real));
  float *png = (float *)malloc(sizeof(float) * (size_t)P * 4);
  pl_buffer dev[8], dimg;
  memset(dev, 0, sizeof dev);
  memset(&dimg, 0, sizeof dimg);
  raster_gaussians g = raster_ply_gaussians(&ply);
  double t0 = 0, t1 = 0;
  if (!img || !png) {
    st = pl_fail(PL_ERR_NOMEM, "out of memory for a %ldx%ld image", w, h);
    goto done;
  }
  raster_images out = {img, img + 3 * P, img + 4 * P, img + 5 * P};
  if (raster_ctx_backend(ctx) == PL_BACKEND_CUDA) {
    const int K = (ply.sh_degree + 1) * (ply.sh_degree + 1);
    if ((st = upload(&dev[0], ply.means, 3 * ply.n, &g.means)) || (st = upload(&dev[1], ply.scales, 3 * ply.n, &g.scales)) ||
        (st = upload(&dev[2], ply.quats, 4 * ply.n, &g.quats)) ||
        (st = upload(&dev[3], ply.opacities, ply.n, &g.opacities)) || (st = upload(&dev[4], ply.sh, 3 * K * ply.n, &g.sh)))
      goto done;
    if ((st = pl_buffer_alloc(&dimg, PL_BACKEND_CUDA, sizeof(real) * 6 * (size_t)P)) != PL_OK) goto done;
    real *d = (real *)dimg.ptr;
    out.rgb = d, out.alpha = d + 3 * P, out.depth = d + 4 * P, out.expected_depth = d + 5 * P;
  }
  t0 = now_ms();
  st = raster_forward(ctx, &g, &cam, 1, &opt, &out);
  if (st == PL_OK && raster_ctx_backend(ctx) == PL_BACKEND_CUDA)
    st = pl_buffer_download(&dimg, 0, img, sizeof(real) * 6 * (size_t)P);
  t1 = now_ms();
  if (st != PL_OK) goto done;
  {
    const int alpha = pl_cli_count(a, "alpha") > 0, ch = alpha ? 4 : 3;
    for (int64_t i = 0; i < P; ++i) {
      for (int k = 0; k < 3; ++k) png[ch * i + k] = (float)img[3 * i + k];
      if (alpha) png[ch * i + 3] = (float)img[3 * P + i];
    }
    if ((st = pl_png_write_float(out_path, (int)w, (int)h, ch, png)) != PL_OK) goto done;
    const char *dpath = pl_cli_get(a, "depth");
    if (dpath) {
      double lo = INFINITY, hi = -INFINITY;
      for (int64_t i = 0; i < P; ++i)
        if (img[3 * P + i] > 0.5) lo = fmin(lo, (double)img[5 * P + i]), hi = fmax(hi, (double)img[5 * P + i]);
      for (int64_t i = 0; i < P; ++i)
        png[i] = img[3 * P + i] > 0.5 && hi > lo ? (float)(1.0 - ((double)img[5 * P + i] - lo) / (hi - lo)) : 0.0f;
      if ((st = pl_png_write_float(dpath, (int)w, (int)h, 1, png)) != PL_OK) goto done;
    }
  }
  {
    raster_stats s;
    raster_get_stats(ctx, &s);
    if (!pl_cli_quiet(a))
      fprintf(stderr, "pipeline render-ply: %s: %lld Gaussians (SH degree %d), %lld visible, %lld pairs -> %s (%ldx%ld, %s, "
              "%.1f ms)\n", path, (long long)ply.n, ply.sh_degree, (long long)s.n_visible, (long long)s.n_pairs,
              out_path, w, h, pl_backend_name(raster_ctx_backend(ctx)), t1 - t0);
  }
done:
  for (int k = 0; k < 8; ++k) pl_buffer_free(&dev[k]);
  pl_buffer_free(&dimg);
  free(img);
  free(png);
  raster_destroy(ctx);
  raster_ply_free(&ply);
  if (st != PL_OK) return pl_cli_report("render-ply", st);
  return 0;
}

const pl_cli_command pl_cmd_render_ply = {
    "render-ply", "Render a 3D Gaussian splatting PLY file (3DGS layout) to a PNG.", "FILE.ply [options]",
    "Reads the layout written by the 3DGS training code (and by this project): x y z, f_dc, f_rest, opacity\n"
    "(logit), scale (log), rot (w first). Without --eye the camera looks down -z at the scene's centre from a\n"
    "distance that frames 90% of the Gaussians. Cameras follow OpenCV conventions (+x right, +y down, +z forward).",
    render_ply_opts, run_render_ply, 1};
