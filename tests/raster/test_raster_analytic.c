/* test_raster_analytic.c: rendered images against closed forms computed here independently of the kernels.
 *   - one isotropic Gaussian on and off the optical axis: every pixel's alpha, colour, depth, expected depth
 *     (EWA with J J^T, eps2d, the 3.33 sigma / opacity support, the 0.99 clamp), classic and antialiased
 *   - two Gaussians in both depth orders (the array order must not matter), with a background
 *   - transmittance stop: a stack of opaque Gaussians stops before T <= 1e-4
 *   - several cameras in one call equal single-camera calls
 *   - RGB colours equal degree-0 SH with the same DC colour. */
#include "tests/raster/raster_test_util.h"

#define W 64
#define H 48

static raster_camera axis_camera(double f) {
  raster_camera c;
  memset(&c, 0, sizeof c);
  c.width = W;
  c.height = H;
  c.fx = f;
  c.fy = f * 1.1;
  c.cx = 0.5 * W + 1.5;
  c.cy = 0.5 * H - 2.25;
  c.viewmat[0] = c.viewmat[5] = c.viewmat[10] = c.viewmat[15] = 1; /* camera at the origin looking +z */
  return c;
}

/* closed form of one isotropic Gaussian (sigma s) at (x, y, z) seen by axis_camera, pixel (i, j) */
static void closed_form(const raster_camera *c, double x, double y, double z, double s, double o, int aa, int i, int j,
                        double *alpha) {
  double fx = c->fx, fy = c->fy;
  /* J = [fx/z 0 -fx x/z^2; 0 fy/z -fy y/z^2]; cov2d = s^2 J J^T (x/z, y/z well inside the clamp) */
  double j00 = fx / z, j02 = -fx * x / (z * z), j11 = fy / z, j12 = -fy * y / (z * z);
  double a = s * s * (j00 * j00 + j02 * j02), b = s * s * (j02 * j12), d = s * s * (j11 * j11 + j12 * j12);
  double ab = a + 0.3, db = d + 0.3;
  double det = ab * db - b * b;
  double op = o;
  if (aa) op *= sqrt((a * d - b * b) / det);
  double mx = fx * x / z + c->cx, my = fy * y / z + c->cy;
  double dx = j + 0.5 - mx, dy = i + 0.5 - my;
  double sigma = 0.5 * (db * dx * dx - 2 * b * dx * dy + ab * dy * dy) / det;
  double smax = fmin(0.5 * 3.33 * 3.33, log(255.0 * op));
  double al = op * exp(-sigma);
  if (sigma > smax || al < 1.0 / 255.0)
    al = 0;
  else if (al > 0.99)
    al = 0.99;
  *alpha = al;
}

static void test_single(raster_ctx *ctx, double x, double y, double z, double s, double o, int aa) {
  raster_camera cam = axis_camera(60);
  test_scene sc;
  test_scene_alloc(&sc, 1, 1, 0, 0);
  sc.means[0] = (real)x, sc.means[1] = (real)y, sc.means[2] = (real)z;
  sc.covs[0] = sc.covs[3] = sc.covs[5] = (real)(s * s);
  sc.opacities[0] = (real)o;
  sc.colors[0] = RC(0.9), sc.colors[1] = RC(0.2), sc.colors[2] = RC(0.4);
  raster_gaussians g = test_scene_view(&sc);
  static real rgb[W * H * 3], al[W * H], dep[W * H], ed[W * H];
  raster_images out = {rgb, al, dep, ed};
  raster_options opt;
  memset(&opt, 0, sizeof opt);
  opt.mode = aa ? RASTER_ANTIALIASED : RASTER_CLASSIC;
  opt.background[0] = RC(0.1), opt.background[1] = RC(0.3), opt.background[2] = RC(0.5);
  pl_status st = raster_forward(ctx, &g, &cam, 1, &opt, &out);
  CHECK(st == PL_OK, "forward: %s", pl_last_error());
  double err = 0, covered = 0;
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      double a;
      closed_form(&cam, x, y, z, s, o, aa, i, j, &a);
      int p = i * W + j;
      err = fmax(err, fabs(al[p] - a));
      for (int ch = 0; ch < 3; ++ch) err = fmax(err, fabs(rgb[3 * p + ch] - (sc.colors[ch] * a + (1 - a) * opt.background[ch])));
      err = fmax(err, fabs(dep[p] - z * a) / z);
      err = fmax(err, fabs(ed[p] - (a > 0 ? z : 0)) / z);
      covered += a > 0;
    }
  CHECK(err < 2e-5, "single Gaussian at (%g,%g,%g) s %g o %g aa %d: max error %g", x, y, z, s, o, aa, err);
  CHECK(covered > 20, "single Gaussian covers %g pixels (test is not testing)", covered);
  test_scene_free(&sc);
}

/* Two Gaussians (red at z1, blue at z2) on the axis; centre pixel colour by the closed form. */
static void test_two(raster_ctx *ctx, double z1, double z2) {
  raster_camera cam = axis_camera(60);
  test_scene sc;
  test_scene_alloc(&sc, 2, 1, 0, 0);
  double zs[2] = {z1, z2}, os[2] = {0.6, 0.7};
  for (int k = 0; k < 2; ++k) {
    sc.means[3 * k + 2] = (real)zs[k];
    sc.covs[6 * k] = sc.covs[6 * k + 3] = sc.covs[6 * k + 5] = (real)0.04;
    sc.opacities[k] = (real)os[k];
  }
  sc.colors[0] = 1; /* red */
  sc.colors[5] = 1; /* blue */
  raster_gaussians g = test_scene_view(&sc);
  static real rgb[W * H * 3], dep[W * H];
  raster_images out = {rgb, NULL, dep, NULL};
  raster_options opt;
  memset(&opt, 0, sizeof opt);
  opt.background[1] = 1; /* green */
  CHECK(raster_forward(ctx, &g, &cam, 1, &opt, &out) == PL_OK, "forward: %s", pl_last_error());
  /* pixel under the principal point (both means project there) */
  int i = (int)floor(cam.cy), j = (int)floor(cam.cx);
  double a[2];
  for (int k = 0; k < 2; ++k) closed_form(&cam, 0, 0, zs[k], 0.2, os[k], 0, i, j, &a[k]);
  int front = z1 < z2 ? 0 : 1, back = 1 - front;
  double col[2][3] = {{1, 0, 0}, {0, 0, 1}};
  double T1 = 1 - a[front];
  int p = i * W + j;
  for (int ch = 0; ch < 3; ++ch) {
    double want = col[front][ch] * a[front] + col[back][ch] * a[back] * T1 + (ch == 1 ? T1 * (1 - a[back]) : 0);
    CHECK(fabs(rgb[3 * p + ch] - want) < 1e-5, "two Gaussians z %g, %g: channel %d %g, want %g", z1, z2, ch,
          (double)rgb[3 * p + ch], want);
  }
  double want_d = zs[front] * a[front] + zs[back] * a[back] * T1;
  CHECK(fabs(dep[p] - want_d) < 1e-5 * want_d, "two Gaussians: depth %g, want %g", (double)dep[p], want_d);
  CHECK((z1 < z2) == (rgb[3 * p] > rgb[3 * p + 2]), "the nearer Gaussian must dominate (r %g b %g)", (double)rgb[3 * p],
        (double)rgb[3 * p + 2]);
  test_scene_free(&sc);
}

/* k opaque Gaussians stacked along the axis: T = 0.01^m; blending stops before T <= 1e-4. */
static void test_stop(raster_ctx *ctx) {
  raster_camera cam = axis_camera(60);
  test_scene sc;
  test_scene_alloc(&sc, 4, 1, 0, 0);
  for (int k = 0; k < 4; ++k) {
    sc.means[3 * k + 2] = (real)(2.0 + k);
    sc.covs[6 * k] = sc.covs[6 * k + 3] = sc.covs[6 * k + 5] = RC(0.25);
    sc.opacities[k] = 1;
    sc.colors[3 * k + k % 3] = 1;
  }
  raster_gaussians g = test_scene_view(&sc);
  static real rgb[W * H * 3], al[W * H];
  raster_images out = {rgb, al, NULL, NULL};
  CHECK(raster_forward(ctx, &g, &cam, 1, NULL, &out) == PL_OK, "forward: %s", pl_last_error());
  int p = (int)floor(cam.cy) * W + (int)floor(cam.cx);
  /* the centre pixel: first alpha 0.99 (T = 0.01); the second would bring T to 1e-4: stop. */
  CHECK(fabs(al[p] - 0.99) < 1e-6, "stop: alpha %.9g, want 0.99 (only the first Gaussian blended)", (double)al[p]);
  CHECK(fabs(rgb[3 * p] - 0.99) < 1e-6 && rgb[3 * p + 1] == 0, "stop: colour %g %g", (double)rgb[3 * p],
        (double)rgb[3 * p + 1]);
  test_scene_free(&sc);
}

/* Several cameras in one call = one call per camera; RGB = degree-0 SH with the same DC colour. */
static void test_multi_and_sh(raster_ctx *ctx) {
  test_scene sc;
  test_scene_random(&sc, 60, 0, 0, 0, 1.0, 0.05, 0.25, 0.2, 0.9);
  raster_camera cams[3] = {test_camera(40, 30, 50, 4, 0.3, 0.2), test_camera(33, 47, 60, 3.5, -1.0, -0.3),
                           test_camera(40, 30, 45, 5, 2.5, 0.6)};
  int64_t P = raster_total_pixels(cams, 3);
  real *all = (real *)calloc((size_t)P * 3, sizeof(real)), *one = (real *)calloc((size_t)P * 3, sizeof(real));
  raster_gaussians g = test_scene_view(&sc);
  raster_images out = {all, NULL, NULL, NULL};
  CHECK(raster_forward(ctx, &g, cams, 3, NULL, &out) == PL_OK, "3 cameras: %s", pl_last_error());
  int64_t off = 0;
  for (int c = 0; c < 3; ++c) {
    raster_images o1 = {one + 3 * off, NULL, NULL, NULL};
    CHECK(raster_forward(ctx, &g, &cams[c], 1, NULL, &o1) == PL_OK, "camera %d alone: %s", c, pl_last_error());
    off += (int64_t)cams[c].width * cams[c].height;
  }
  CHECK(memcmp(all, one, sizeof(real) * 3 * (size_t)P) == 0, "multi-camera call differs from single-camera calls");
  /* SH degree 0: colour = C0 * dc + 0.5 */
  test_scene sh = sc;
  sh.use_sh = 1;
  sh.sh_degree = 0;
  real *dc = (real *)calloc(3 * (size_t)sc.n, sizeof(real));
  for (int64_t i = 0; i < 3 * sc.n; ++i) dc[i] = (sc.colors[i] - RC(0.5)) / RC(0.28209479177387814);
  sh.sh = dc;
  raster_gaussians gs = test_scene_view(&sh);
  raster_images o2 = {one, NULL, NULL, NULL};
  CHECK(raster_forward(ctx, &gs, cams, 3, NULL, &o2) == PL_OK, "SH: %s", pl_last_error());
  double e = test_max_abs_diff(all, one, 3 * P);
  CHECK(e < 1e-5, "degree-0 SH vs RGB: max difference %g", e);
  free(dc);
  free(all);
  free(one);
  test_scene_free(&sc);
}

int main(void) {
  raster_ctx *ctx = test_cpu_ctx();
  if (!ctx) return 1;
  test_single(ctx, 0.0, 0.0, 3.0, 0.2, 0.8, 0);
  test_single(ctx, 0.3, -0.2, 2.5, 0.15, 0.5, 0);
  test_single(ctx, -0.25, 0.3, 4.0, 0.3, 0.1, 0);   /* low opacity: support tightened to alpha = 1/255 */
  test_single(ctx, 0.0, 0.0, 3.0, 0.2, 1.0, 0);     /* centre alpha clamped at 0.99 */
  test_single(ctx, 0.1, 0.1, 3.0, 0.05, 0.9, 1);    /* antialiased, small */
  test_single(ctx, -0.2, 0.05, 2.0, 0.25, 0.7, 1);  /* antialiased */
  test_two(ctx, 2.0, 3.0);
  test_two(ctx, 3.0, 2.0);
  test_stop(ctx);
  test_multi_and_sh(ctx);
  raster_destroy(ctx);
  return test_summary("test_raster_analytic");
}
