/* test_capture.c: captures (issue 14): the background-plate composite's adjoint against central differences, the
 * OpenGL/OpenCV conversion, area resampling, the readers' round trip through the writer (camera matrices to 1e-6,
 * images to 1/255), targets from a capture at another size (intrinsics scaled, pixels area-averaged), timing,
 * hold-out selection, and malformed captures: each gives one line naming the file and the entry. */
#define _POSIX_C_SOURCE 200809L
#include <stb_image_write.h>
#include <unistd.h>

#include "core/fileio.h"
#include "pipeline/io/capture.h"
#include "pipeline/scene/capture_scene.h"
#include "pipeline/engine/composite.h"
#include "pipeline/io/targets.h"
#include "tests/test_util.h"

static char g_dir[] = "/tmp/pl_capture_XXXXXX";

/* ------------------------------------------------------------------ composite adjoint */

#define NPIX 5
static const double g_bg[3] = {0.9, 0.8, 0.7};
static double g_plate[3 * NPIX];

static void comp_f(const double *x, double *y, void *ctx) {
  (void)ctx;
  real rgb[3 * NPIX], a[NPIX], plate[3 * NPIX];
  for (int i = 0; i < 3 * NPIX; ++i) rgb[i] = (real)x[i], plate[i] = (real)g_plate[i];
  for (int i = 0; i < NPIX; ++i) a[i] = (real)x[3 * NPIX + i];
  pl_composite_plate(PL_BACKEND_CPU, NPIX, rgb, a, plate, g_bg);
  for (int i = 0; i < 3 * NPIX; ++i) y[i] = rgb[i];
}

static void comp_vjp(const double *x, const double *vy, double *vx, void *ctx) {
  (void)ctx;
  (void)x;
  real v[3 * NPIX], plate[3 * NPIX], va[NPIX] = {0};
  for (int i = 0; i < 3 * NPIX; ++i) v[i] = (real)vy[i], plate[i] = (real)g_plate[i];
  pl_composite_plate_vjp(PL_BACKEND_CPU, NPIX, v, plate, g_bg, va);
  for (int i = 0; i < 3 * NPIX; ++i) vx[i] += vy[i]; /* identity in rgb */
  for (int i = 0; i < NPIX; ++i) vx[3 * NPIX + i] += va[i];
}

static void test_composite(void) {
  double x[4 * NPIX];
  for (int i = 0; i < 3 * NPIX; ++i) g_plate[i] = 0.5 + 0.5 * test_rand(), x[i] = 0.5 + 0.4 * test_rand();
  for (int i = 0; i < NPIX; ++i) x[3 * NPIX + i] = 0.5 + 0.45 * test_rand();
  double err = test_vjp_error("background plate composite", comp_f, comp_vjp, NULL, x, 4 * NPIX, 3 * NPIX, 1e-6, 1e-12, 1);
  CHECK(err < 1e-6, "composite vjp rel.err %g", err);
  /* alpha 0 shows the plate, alpha 1 the splats (rgb = C + T b with T = 0) */
  real rgb[6] = {0.9f, 0.8f, 0.7f, 0.2f, 0.3f, 0.4f}, a[2] = {0, 1}, plate[6] = {0.1f, 0.2f, 0.3f, 0.6f, 0.6f, 0.6f};
  pl_composite_plate(PL_BACKEND_CPU, 2, rgb, a, plate, g_bg);
  CHECK(fabs(rgb[0] - 0.1) < 1e-6 && fabs(rgb[2] - 0.3) < 1e-6 && fabs(rgb[3] - 0.2) < 1e-6, "composite values");
}

/* ------------------------------------------------------------------ conventions and resampling */

static void random_viewmat(double v[16]) {
  double q[4], n = 0;
  for (int i = 0; i < 4; ++i) q[i] = test_rand(), n += q[i] * q[i];
  n = sqrt(n);
  double w = q[0] / n, x = q[1] / n, y = q[2] / n, z = q[3] / n;
  double r[9] = {1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                 2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                 2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) v[4 * i + j] = r[3 * i + j];
    v[4 * i + 3] = 3 * test_rand();
  }
  v[12] = v[13] = v[14] = 0;
  v[15] = 1;
}

static void test_conventions(void) {
  for (int t = 0; t < 20; ++t) {
    double v[16], c2w[12], back[16];
    random_viewmat(v);
    pl_capture_viewmat_to_c2w_gl(v, c2w);
    CHECK(pl_capture_c2w_gl_to_viewmat(c2w, back), "round trip rigid");
    double d = 0;
    for (int i = 0; i < 16; ++i) d = fmax(d, fabs(back[i] - v[i]));
    CHECK(d < 1e-12, "viewmat -> c2w (OpenGL) -> viewmat: %g", d);
  }
  /* an OpenGL camera at the origin looks down -z with +y up: world (0, 1, -1) is in front (z > 0) and above
   * the centre (OpenCV y < 0) */
  double id[12] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}, v[16];
  CHECK(pl_capture_c2w_gl_to_viewmat(id, v), "identity");
  double p[3] = {0, 1, -1}, cy = v[4] * p[0] + v[5] * p[1] + v[6] * p[2] + v[7],
         cz = v[8] * p[0] + v[9] * p[1] + v[10] * p[2] + v[11];
  CHECK(cz > 0.99 && cy < -0.99, "OpenGL -> OpenCV axes: y %g z %g", cy, cz);
  double skew[12] = {1, 0.2, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0};
  CHECK(!pl_capture_c2w_gl_to_viewmat(skew, v), "a sheared c2w is refused");
}

static void test_resample(void) {
  float src[12 * 8 * 2], dst[6 * 4 * 2], dst2[5 * 3 * 2];
  for (int i = 0; i < 12 * 8 * 2; ++i) src[i] = (float)(0.5 + 0.5 * test_rand());
  pl_capture_resample_area(src, 12, 8, 2, dst, 6, 4);
  double worst = 0;
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 6; ++x)
      for (int q = 0; q < 2; ++q) {
        double m = 0;
        for (int dy = 0; dy < 2; ++dy)
          for (int dx = 0; dx < 2; ++dx) m += 0.25 * src[((2 * y + dy) * 12 + 2 * x + dx) * 2 + q];
        worst = fmax(worst, fabs(m - dst[(y * 6 + x) * 2 + q]));
      }
  CHECK(worst < 1e-6, "2x area downsampling is the 2x2 mean (%g)", worst);
  /* a non-integer ratio keeps the mean, and a constant stays constant */
  pl_capture_resample_area(src, 12, 8, 2, dst2, 5, 3);
  double m0 = 0, m1 = 0;
  for (int i = 0; i < 12 * 8; ++i) m0 += src[2 * i] / (12.0 * 8);
  for (int i = 0; i < 5 * 3; ++i) m1 += dst2[2 * i] / 15.0;
  CHECK(fabs(m0 - m1) < 1e-5, "area filter keeps the mean: %g vs %g", m0, m1);
  for (int i = 0; i < 12 * 8 * 2; ++i) src[i] = 0.25f;
  pl_capture_resample_area(src, 12, 8, 2, dst2, 5, 3);
  worst = 0;
  for (int i = 0; i < 30; ++i) worst = fmax(worst, fabs(dst2[i] - 0.25));
  CHECK(worst < 1e-6, "constant stays constant (%g)", worst);
}

/* JPEG in: the size and (lossy) values of a smooth image */
static void test_jpeg(void) {
  unsigned char px[16 * 10 * 3];
  for (int y = 0; y < 10; ++y)
    for (int x = 0; x < 16; ++x)
      for (int q = 0; q < 3; ++q) px[(y * 16 + x) * 3 + q] = (unsigned char)(60 + 8 * x + 5 * y + 20 * q);
  char path[1024];
  snprintf(path, sizeof path, "%s/photo.jpg", g_dir);
  CHECK(stbi_write_jpg(path, 16, 10, 3, px, 95) != 0, "write jpeg");
  int w, h, ha;
  float *rgba = NULL;
  CHECK(pl_capture_image_read(path, &w, &h, &rgba, &ha) == PL_OK, "read jpeg: %s", pl_last_error());
  if (!rgba) return;
  double worst = 0;
  for (int i = 0; i < 16 * 10; ++i)
    for (int q = 0; q < 3; ++q) worst = fmax(worst, fabs(rgba[4 * i + q] - px[3 * i + q] / 255.0));
  CHECK(w == 16 && h == 10 && !ha && worst < 0.05, "jpeg %dx%d alpha %d, max error %g", w, h, ha, worst);
  free(rgba);
}

/* ------------------------------------------------------------------ round trip through files */

#define NC 3
#define NF 3
#define IW 12
#define IH 8

static float g_img[NC][NF + 1][IW * IH * 4]; /* [f = NF]: the plate */

static void write_image(const char *rel, const float *px, int w, int h, int ch) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", g_dir, rel);
  char dir[1024];
  pl_dirname(path, dir, sizeof dir);
  pl_mkdirs(dir);
  CHECK(pl_png_write_float(path, w, h, ch, px) == PL_OK, "write %s", path);
}

static void make_capture(pl_capture *c) {
  memset(c, 0, sizeof *c);
  c->cameras = (pl_capture_camera *)calloc(NC, sizeof *c->cameras);
  c->frames = (pl_capture_frame *)calloc(NC * NF, sizeof *c->frames);
  for (int k = 0; k < NC; ++k) {
    pl_capture_camera *cam = &c->cameras[c->ncameras++];
    snprintf(cam->name, sizeof cam->name, "%d", k);
    cam->width = IW, cam->height = IH;
    cam->fx = 20 + 5 * k + 0.123456789, cam->fy = cam->fx * 1.01, cam->cx = 6.1, cam->cy = 3.9;
    random_viewmat(cam->viewmat);
    snprintf(cam->background, sizeof cam->background, "data/r_%d_-1.png", k);
    for (int i = 0; i < IW * IH * 4; ++i) g_img[k][NF][i] = (float)(0.5 + 0.5 * test_rand());
    write_image(cam->background, g_img[k][NF], IW, IH, 4);
    for (int f = 0; f < NF; ++f) {
      pl_capture_frame *fr = &c->frames[c->nframes++];
      fr->camera = k, fr->index = f, fr->time = f / 30.0;
      snprintf(fr->image, sizeof fr->image, "data/r_%d_%d.png", k, f);
      for (int i = 0; i < IW * IH * 4; ++i) g_img[k][f][i] = (float)(0.5 + 0.5 * test_rand());
      write_image(fr->image, g_img[k][f], IW, IH, 4);
    }
  }
}

static void test_round_trip(pl_capture_layout layout, const char *label) {
  pl_capture w, r;
  make_capture(&w);
  CHECK(pl_capture_write(&w, layout, g_dir) == PL_OK, "%s: write: %s", label, pl_last_error());
  pl_status st = pl_capture_read(&r, layout, g_dir);
  CHECK(st == PL_OK, "%s: read: %s", label, pl_last_error());
  if (st != PL_OK) {
    pl_capture_free(&w);
    return;
  }
  CHECK(r.ncameras == NC && r.nframes == NC * NF, "%s: %d cameras, %d frames", label, r.ncameras, r.nframes);
  double dm = 0, dk = 0, dimg = 0;
  for (int k = 0; k < NC && k < r.ncameras; ++k) {
    const pl_capture_camera *a = &w.cameras[k], *b = &r.cameras[pl_capture_camera_index(&r, a->name)];
    for (int i = 0; i < 16; ++i) dm = fmax(dm, fabs(a->viewmat[i] - b->viewmat[i]));
    dk = fmax(dk, fabs(a->fx - b->fx) + fabs(a->fy - b->fy) + fabs(a->cx - b->cx) + fabs(a->cy - b->cy));
    CHECK(b->width == IW && b->height == IH, "%s: size %dx%d", label, b->width, b->height);
    CHECK(strstr(b->background, a->background) != NULL, "%s: plate %s", label, b->background);
  }
  for (int q = 0; q < r.nframes; ++q) {
    const pl_capture_frame *f = &r.frames[q];
    int k = atoi(r.cameras[f->camera].name);
    CHECK(f->index >= 0 && f->index < NF, "%s: frame index %d", label, f->index);
    if (f->index < 0 || f->index >= NF || k < 0 || k >= NC) continue;
    int iw, ih, ha;
    float *px;
    CHECK(pl_capture_image_read(f->image, &iw, &ih, &px, &ha) == PL_OK, "%s: %s", label, pl_last_error());
    CHECK(ha, "%s: RGBA image has alpha", label);
    for (int i = 0; i < IW * IH * 4; ++i) dimg = fmax(dimg, fabs(px[i] - g_img[k][f->index][i]));
    free(px);
  }
  CHECK(dm < 1e-6, "%s: camera matrices round trip to %g (1e-6)", label, dm);
  CHECK(dk < 1e-6, "%s: intrinsics round trip to %g", label, dk);
  CHECK(dimg <= 1.0 / 255, "%s: images round trip to %g (1/255)", label, dimg);
  pl_capture_free(&w);
  pl_capture_free(&r);
}

/* ------------------------------------------------------------------ targets from the capture */

static pl_status load_scene(pl_scene *s, const char *extra) {
  char text[4096];
  snprintf(text, sizeof text,
           "[sim]\ngrid = 16\nframes = 4\nfps = 30\n[material m]\nmodel = neo_hookean\n[object o]\nshape = box\n"
           "material = m\n[render]\nwidth = 6\nheight = 4\nbackground = 1 1 1\n[targets]\nsource = pacnerf\npath = %s\n%s",
           g_dir, extra);
  return pl_scene_load_string(s, text, "capture.cfg", ".", NULL, 0);
}

static void test_targets(void) {
  pl_capture w;
  make_capture(&w);
  CHECK(pl_capture_write(&w, PL_CAPTURE_PACNERF, g_dir) == PL_OK, "write");
  pl_scene s;
  pl_status st = load_scene(&s, "holdout = 2\n");
  CHECK(st == PL_OK, "scene: %s", pl_last_error());
  if (st != PL_OK) {
    pl_capture_free(&w);
    return;
  }
  CHECK(s.ncameras == NC, "cameras from the capture: %d", s.ncameras);
  const pl_scene_camera *c1 = &s.cameras[pl_scene_camera_index(&s, "1")];
  CHECK(c1->width == 6 && c1->height == 4, "render size");
  CHECK(fabs(c1->fx - 0.5 * w.cameras[1].fx) < 1e-9 && fabs(c1->cx - 0.5 * w.cameras[1].cx) < 1e-9,
        "intrinsics scaled with the image: fx %g cx %g", c1->fx, c1->cx);
  pl_targets t;
  st = pl_targets_select(&s, &t);
  if (st == PL_OK) st = pl_targets_load_capture(&s, &t, 1);
  CHECK(st == PL_OK, "targets: %s", pl_last_error());
  if (st == PL_OK) {
    int c = pl_scene_camera_index(&s, "1"), h = pl_scene_camera_index(&s, "2");
    CHECK(!t.camera_used[h], "held-out camera 2 carries no loss");
    const float *rgb = t.rgb[(size_t)c * t.nframes + 2], *a = t.alpha[(size_t)c * t.nframes + 2];
    CHECK(rgb && a, "camera 1 frame 2 loaded (with alpha)");
    CHECK(t.background[c] != NULL, "plate loaded");
    CHECK(t.rgb[(size_t)c * t.nframes + 3] == NULL, "frame 3 is not in the capture");
    if (rgb && a && t.background[c]) {
      /* pixel (0,0): 2x2 mean of the file's RGBA, the colour over the plate's 2x2 mean by its alpha */
      double m[4] = {0}, pl = 0;
      for (int dy = 0; dy < 2; ++dy)
        for (int dx = 0; dx < 2; ++dx) {
          for (int q = 0; q < 4; ++q) m[q] += 0.25 * g_img[1][2][(dy * IW + dx) * 4 + q];
          pl += 0.25 * g_img[1][NF][(dy * IW + dx) * 4 + 0];
        }
      /* quantisation to 8 bits: 1/255 */
      CHECK(fabs(a[0] - m[3]) < 1.0 / 255, "mask from alpha, area-averaged: %g vs %g", a[0], m[3]);
      CHECK(fabs(t.background[c][0] - pl) < 1.0 / 255, "plate resampled: %g vs %g", t.background[c][0], pl);
    }
    pl_targets h2;
    st = pl_targets_select_holdout(&s, &h2);
    CHECK(st == PL_OK, "holdout select: %s", pl_last_error());
    if (st == PL_OK) {
      CHECK(h2.camera_used[h] && !h2.camera_used[c], "hold-out: only camera 2");
      CHECK(pl_targets_count(&h2) == 5, "hold-out pairs: %d (frames 0..4 of camera 2)", pl_targets_count(&h2));
      pl_targets_free(&h2);
    }
    pl_targets_free(&t);
  }
  /* timing: a 60 fps capture on a 30 fps simulation: capture frame 2 is simulation frame 1, frame 1 falls between */
  pl_scene s2;
  if (load_scene(&s2, "fps = 60\n") == PL_OK) {
    pl_capture_frame f = {0};
    f.index = 2, f.time = NAN;
    CHECK(pl_capture_sim_frame(&s2, &f) == 1, "fps mapping");
    f.index = 1;
    CHECK(pl_capture_sim_frame(&s2, &f) == -1, "between frames");
    pl_scene_free(&s2);
  }
  if (load_scene(&s2, "offset = 1\n") == PL_OK) {
    pl_capture_frame f = {0};
    f.index = 0, f.time = NAN;
    CHECK(pl_capture_sim_frame(&s2, &f) == -1, "before the offset");
    f.index = 3;
    CHECK(pl_capture_sim_frame(&s2, &f) == 2, "offset mapping");
    pl_scene_free(&s2);
  }
  pl_scene_free(&s);
  pl_capture_free(&w);
}

/* ------------------------------------------------------------------ malformed captures */

static void write_text(const char *name, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
}

/* the error is one line and holds every piece in `needles` (separated by '|') */
static void expect_error(pl_status st, const char *label, const char *needles) {
  CHECK(st != PL_OK, "%s: accepted", label);
  if (st == PL_OK) return;
  const char *msg = pl_last_error();
  CHECK(strchr(msg, '\n') == NULL, "%s: the error is not one line: %s", label, msg);
  char buf[512];
  snprintf(buf, sizeof buf, "%s", needles);
  char *save = NULL;
  for (char *n = strtok_r(buf, "|", &save); n; n = strtok_r(NULL, "|", &save))
    CHECK(strstr(msg, n) != NULL, "%s: the error does not name '%s': %s", label, n, msg);
  fprintf(stderr, "  %-34s -> %s\n", label, msg);
}

static pl_status read_tf(const char *json) {
  write_text("transforms.json", json);
  pl_capture c;
  pl_status st = pl_capture_read(&c, PL_CAPTURE_TRANSFORMS, g_dir);
  if (st == PL_OK) pl_capture_free(&c);
  return st;
}

#define FRAME0 "{\"file_path\": \"data/r_0_0.png\", \"transform_matrix\": [[1,0,0,0],[0,1,0,0],[0,0,1,2],[0,0,0,1]]"

static void test_malformed(void) {
  /* transforms.json */
  expect_error(read_tf("{\"frames\": [ {\"file_path\": "), "bad JSON", "transforms.json|not valid JSON");
  expect_error(read_tf("{\"fl_x\": 10, \"w\": 12, \"h\": 8, \"camera_model\": \"OPENCV_FISHEYE\", \"frames\": [" FRAME0 "}]}"),
               "fisheye camera model", "transforms.json|camera_model|OPENCV_FISHEYE");
  expect_error(read_tf("{\"fl_x\": 10, \"w\": 12, \"h\": 8, \"camera_model\": \"OPENCV\", \"k1\": 0.1, \"frames\": [" FRAME0 "}]}"),
               "distortion", "transforms.json|k1|undistort");
  expect_error(read_tf("{\"fl_x\": 10, \"w\": 1e12, \"h\": 8, \"frames\": [" FRAME0 "}]}"), "w = 1e12 (D9)",
               "transforms.json|\"w\"|16384");
  expect_error(read_tf("{\"fl_x\": 10, \"w\": 100000, \"h\": 8, \"frames\": [" FRAME0 "}]}"), "w = 100000 (D9)",
               "transforms.json|\"w\"");
  expect_error(read_tf("{\"fl_x\": 10, \"w\": 12, \"h\": 20000, \"frames\": [" FRAME0 "}]}"), "h = 20000 (D9)",
               "transforms.json|\"h\"");
  expect_error(read_tf("{\"fl_x\": 10, \"w\": 12, \"h\": 8, \"frames\": [" FRAME0 ", \"h\": 0.5}]}"), "per-frame h = 0.5",
               "transforms.json|frames[0]|\"h\"");
  expect_error(read_tf("{\"fl_x\": 10, \"w\": 12, \"h\": 8, \"frames\": [{\"file_path\": \"a.png\", \"transform_matrix\": "
                       "[[2,0,0,0],[0,1,0,0],[0,0,1,2],[0,0,0,1]]}]}"),
               "non-rigid transform (D10)", "transforms.json|frames[0]|a.png|rigid");
  expect_error(read_tf("{\"fl_x\": 10, \"w\": 12, \"h\": 8, \"frames\": [{\"file_path\": \"a.png\", \"transform_matrix\": "
                       "[[1,0,0],[0,1,0]]}]}"),
               "short transform_matrix", "transforms.json|frames[0]|transform_matrix");
  expect_error(read_tf("{\"w\": 12, \"h\": 8, \"frames\": [" FRAME0 "}]}"), "no focal length",
               "transforms.json|frames[0]|fl_x");
  expect_error(read_tf("{\"fl_x\": 10, \"frames\": [{\"file_path\": \"missing.png\", \"transform_matrix\": "
                       "[[1,0,0,0],[0,1,0,0],[0,0,1,2],[0,0,0,1]]}]}"),
               "missing image (size from header)", "transforms.json|frames[0]|missing.png");
  /* [camera] transforms = (D9, D10): the file, the frame and the camera are named */
  {
    write_text("cam.json", "{\"fl_x\": 10, \"w\": 1e12, \"h\": 8, \"frames\": [" FRAME0 "}]}");
    char text[2048];
    snprintf(text, sizeof text,
             "[sim]\ngrid = 16\n[material m]\nmodel = neo_hookean\n[object o]\nshape = box\nmaterial = m\n"
             "[camera side]\ntransforms = %s/cam.json\n",
             g_dir);
    pl_scene s;
    expect_error(pl_scene_load_string(&s, text, "t.cfg", ".", NULL, 0), "[camera] transforms w = 1e12 (D9)",
                 "cam.json|frames[0]|camera side|1e+12");
    write_text("cam.json", "{\"fl_x\": 10, \"w\": 12, \"h\": 8, \"frames\": [{\"file_path\": \"a.png\", "
                           "\"transform_matrix\": [[1,0,0,0],[0,0,0,0],[0,0,1,2],[0,0,0,1]]}]}");
    expect_error(pl_scene_load_string(&s, text, "t.cfg", ".", NULL, 0), "[camera] transforms non-rigid (D10)",
                 "cam.json|frames[0]|camera side|rigid");
  }
  /* PAC-NeRF */
  pl_capture c;
  write_text("all_data.json", "[{\"file_path\": \"./data/r_0_0.png\", \"c2w\": [[1,0,0,0],[0,1,0,0],[0,0,1,2]], "
                              "\"intrinsic\": [[10,0,6],[0,10,4],[0,0,1]]}, {\"file_path\": \"./data/r_0_1.png\"}]");
  expect_error(pl_capture_read(&c, PL_CAPTURE_PACNERF, g_dir), "entry without c2w", "all_data.json|entry 1|r_0_1.png|c2w");
  write_text("all_data.json", "[{\"file_path\": \"./data/img3.png\"}]");
  expect_error(pl_capture_read(&c, PL_CAPTURE_PACNERF, g_dir), "bad image name", "all_data.json|entry 0|r_CAMERA_FRAME");
  write_text("all_data.json", "[{\"file_path\": \"./data/r_0_0.png\", \"c2w\": [[1,0,0,0],[0,1,0,0],[0,0,1,2]], "
                              "\"intrinsic\": [[10,0.5,6],[0,10,4],[0,0,1]]}]");
  expect_error(pl_capture_read(&c, PL_CAPTURE_PACNERF, g_dir), "skewed intrinsic", "all_data.json|entry 0|intrinsic");
  write_text("all_data.json", "[{\"file_path\": \"./data/r_7_0.png\", \"c2w\": [[1,0,0,0],[0,1,0,0],[0,0,1,2]], "
                              "\"intrinsic\": [[10,0,6],[0,10,4],[0,0,1]]}]");
  expect_error(pl_capture_read(&c, PL_CAPTURE_PACNERF, g_dir), "missing image", "all_data.json|camera 7|r_7_0.png");
  write_text("all_data.json", "not json");
  expect_error(pl_capture_read(&c, PL_CAPTURE_PACNERF, g_dir), "bad JSON", "all_data.json|not valid JSON");
  /* a missing later frame and an image of another size surface when the targets load, naming the file */
  {
    pl_capture w;
    make_capture(&w);
    CHECK(pl_capture_write(&w, PL_CAPTURE_PACNERF, g_dir) == PL_OK, "write");
    char path[1024];
    snprintf(path, sizeof path, "%s/data/r_1_2.png", g_dir);
    float px[10 * 8 * 3] = {0};
    pl_png_write_float(path, 10, 8, 3, px);
    pl_scene s;
    pl_targets t;
    pl_status st = load_scene(&s, "");
    CHECK(st == PL_OK, "scene: %s", pl_last_error());
    if (st == PL_OK) {
      st = pl_targets_select(&s, &t);
      if (st == PL_OK) st = pl_targets_load_capture(&s, &t, 1);
      expect_error(st, "inconsistent image size", "all_data.json|r_1_2.png|10x8|camera 1|12x8");
      pl_targets_free(&t);
      unlink(path);
      st = pl_targets_select(&s, &t);
      if (st == PL_OK) st = pl_targets_load_capture(&s, &t, 1);
      expect_error(st, "missing frame image", "all_data.json|camera 1, frame 2|r_1_2.png");
      pl_targets_free(&t);
      pl_scene_free(&s);
    }
    pl_capture_free(&w);
  }
  /* COLMAP */
  pl_capture k;
  expect_error(pl_capture_parse_colmap(&k, "1 OPENCV 12 8 10 10 6 4 0.1 0 0 0\n", "", g_dir, g_dir), "COLMAP distortion",
               "cameras.txt:1|camera 1|OPENCV|undistort");
  expect_error(pl_capture_parse_colmap(&k, "1 FULL_OPENCV 12 8 1 2 3 4 5 6 7 8 9 10 11 12\n", "", g_dir, g_dir),
               "COLMAP model", "cameras.txt:1|FULL_OPENCV");
  expect_error(pl_capture_parse_colmap(&k, "# c\n1 PINHOLE 120000 8 10 10 6 4\n", "", g_dir, g_dir), "COLMAP size",
               "cameras.txt:2|16384");
  expect_error(pl_capture_parse_colmap(&k, "1 PINHOLE 12 8 10 10 6 4\n", "1 1 0 0 0 0 0 0 2 a/0000.png\n\n", g_dir, g_dir),
               "COLMAP unknown camera", "images.txt:1|a/0000.png|camera 2");
  expect_error(pl_capture_parse_colmap(&k, "1 PINHOLE 12 8 10 10 6 4\n", "1 2 0 0 0 0 0 0 1 a/0000.png\n\n", g_dir, g_dir),
               "COLMAP quaternion", "images.txt:1|quaternion");
  /* a good one: images in camera folders, frame from the file name, the pose as given (OpenCV world->camera) */
  pl_status st = pl_capture_parse_colmap(&k, "1 SIMPLE_PINHOLE 12 8 10 6 4\n",
                                         "1 1 0 0 0 0.5 0 1 1 a/0003.png\n0 0 -1\n2 1 0 0 0 0.5 0 1 1 a/0004.png\n\n", g_dir,
                                         g_dir);
  CHECK(st == PL_OK, "COLMAP: %s", pl_last_error());
  if (st == PL_OK) {
    CHECK(k.ncameras == 1 && k.nframes == 2 && strcmp(k.cameras[0].name, "a") == 0 && k.frames[1].index == 4,
          "COLMAP cameras %d frames %d", k.ncameras, k.nframes);
    CHECK(k.cameras[0].viewmat[3] == 0.5 && k.cameras[0].viewmat[11] == 1 && k.cameras[0].fx == 10, "COLMAP pose");
    pl_capture_free(&k);
  }
}

int main(void) {
  CHECK(mkdtemp(g_dir) != NULL, "tmp");
  test_composite();
  test_conventions();
  test_resample();
  test_jpeg();
  test_round_trip(PL_CAPTURE_PACNERF, "PAC-NeRF");
  test_round_trip(PL_CAPTURE_TRANSFORMS, "transforms.json");
  test_targets();
  test_malformed();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
  return test_summary("test_capture");
}
