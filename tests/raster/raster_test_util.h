/* raster_test_util.h: shared helpers of the rasterizer tests (random scenes, cameras, comparisons). */
#ifndef PL_RASTER_TEST_UTIL_H
#define PL_RASTER_TEST_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "raster/raster.h"
#include "tests/test_util.h"

/* A scene held in host memory, in `real` precision. */
typedef struct {
  int64_t n;
  int use_covs, sh_degree, use_sh;
  int use_sh_frames; /* with use_sh: pass sh_frames (test_scene_random_frames fills them) */
  real *means, *covs, *scales, *quats, *opacities, *colors, *sh;
  real *sh_frames;   /* [n][9], identities until test_scene_random_frames */
} test_scene;

static int test_sh_coeffs(int d) { return (d + 1) * (d + 1); }

static void test_scene_alloc(test_scene *s, int64_t n, int use_covs, int use_sh, int sh_degree) {
  memset(s, 0, sizeof *s);
  s->n = n;
  s->use_covs = use_covs;
  s->use_sh = use_sh;
  s->sh_degree = sh_degree;
  size_t m = (size_t)(n > 0 ? n : 1);
  s->means = (real *)calloc(3 * m, sizeof(real));
  s->covs = (real *)calloc(6 * m, sizeof(real));
  s->scales = (real *)calloc(3 * m, sizeof(real));
  s->quats = (real *)calloc(4 * m, sizeof(real));
  s->opacities = (real *)calloc(m, sizeof(real));
  s->colors = (real *)calloc(3 * m, sizeof(real));
  s->sh = (real *)calloc(3 * 16 * m, sizeof(real));
  s->sh_frames = (real *)calloc(9 * m, sizeof(real));
  for (size_t i = 0; i < m; ++i) s->sh_frames[9 * i] = s->sh_frames[9 * i + 4] = s->sh_frames[9 * i + 8] = 1;
}

static void test_scene_free(test_scene *s) {
  free(s->means);
  free(s->covs);
  free(s->scales);
  free(s->quats);
  free(s->opacities);
  free(s->colors);
  free(s->sh);
  free(s->sh_frames);
  memset(s, 0, sizeof *s);
}

static raster_gaussians test_scene_view(const test_scene *s) {
  raster_gaussians g;
  memset(&g, 0, sizeof g);
  g.n = s->n;
  g.means = s->means;
  g.opacities = s->opacities;
  if (s->use_covs) {
    g.covs = s->covs;
  } else {
    g.scales = s->scales;
    g.quats = s->quats;
  }
  if (s->use_sh) {
    g.sh = s->sh;
    g.sh_degree = s->sh_degree;
    if (s->use_sh_frames) g.sh_frames = s->sh_frames;
  } else {
    g.colors = s->colors;
  }
  return g;
}

/* A random unit quaternion (4 draws). */
static void test_random_unit_quat(double q[4]) {
  double qn = 0;
  for (int k = 0; k < 4; ++k) {
    q[k] = test_rand();
    qn += q[k] * q[k];
  }
  qn = sqrt(qn);
  for (int k = 0; k < 4; ++k) q[k] /= qn;
}

/* The rotation (row-major) of the unit quaternion q = (w, x, y, z). */
static void test_quat_rotation(const double q[4], double R[9]) {
  double w = q[0], x = q[1], y = q[2], z = q[3];
  double r[9] = {1 - 2 * (y * y + z * z), 2 * (x * y - w * z),     2 * (x * z + w * y),
                 2 * (x * y + w * z),     1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                 2 * (x * z - w * y),     2 * (y * z + w * x),     1 - 2 * (x * x + y * y)};
  memcpy(R, r, sizeof r);
}

/* Random scene in front of a camera looking at the origin: means in a ball of radius `spread`, scales in
 * [smin, smax], opacities in [omin, omax]. Covariances are built from scale + rotation in both modes. */
static void test_scene_random(test_scene *s, int64_t n, int use_covs, int use_sh, int sh_degree, double spread,
                              double smin, double smax, double omin, double omax) {
  test_scene_alloc(s, n, use_covs, use_sh, sh_degree);
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 3; ++k) s->means[3 * i + k] = (real)(spread * test_rand());
    double sc[3], q[4];
    for (int k = 0; k < 3; ++k) sc[k] = smin + (smax - smin) * (0.5 + 0.5 * test_rand());
    test_random_unit_quat(q);
    for (int k = 0; k < 3; ++k) s->scales[3 * i + k] = (real)sc[k];
    for (int k = 0; k < 4; ++k) s->quats[4 * i + k] = (real)(q[k] * (0.7 + 0.6 * (0.5 + 0.5 * test_rand())));
    /* covariance R S^2 R^T from the unit quaternion */
    double R[9];
    test_quat_rotation(q, R);
    double S[3][3];
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
        double acc = 0;
        for (int k = 0; k < 3; ++k) acc += R[3 * a + k] * sc[k] * sc[k] * R[3 * b + k];
        S[a][b] = acc;
      }
    real *c = s->covs + 6 * i;
    c[0] = (real)S[0][0];
    c[1] = (real)S[0][1];
    c[2] = (real)S[0][2];
    c[3] = (real)S[1][1];
    c[4] = (real)S[1][2];
    c[5] = (real)S[2][2];
    s->opacities[i] = (real)(omin + (omax - omin) * (0.5 + 0.5 * test_rand()));
    for (int k = 0; k < 3; ++k) s->colors[3 * i + k] = (real)(0.5 + 0.45 * test_rand());
    int K = test_sh_coeffs(sh_degree);
    for (int k = 0; k < 3 * K; ++k) s->sh[3 * 16 * 0 + (int64_t)3 * K * i + k] = (real)(k < 3 ? 0.8 * test_rand() : 0.3 * test_rand());
  }
}

/* Random SH frames (rotations from random unit quaternions) for every Gaussian of s; turns them on. Draws its own
 * random numbers after the scene's, so scenes drawn without frames stay the same. */
static void test_scene_random_frames(test_scene *s) {
  for (int64_t i = 0; i < s->n; ++i) {
    double q[4], R[9];
    test_random_unit_quat(q);
    test_quat_rotation(q, R);
    for (int k = 0; k < 9; ++k) s->sh_frames[9 * i + k] = (real)R[k];
  }
  s->use_sh_frames = 1;
}

/* Camera at distance `dist` from the origin, direction given by two angles (radians), looking at the origin. */
static raster_camera test_camera(int w, int h, double fov, double dist, double az, double el) {
  double eye[3] = {dist * cos(el) * sin(az), dist * sin(el), dist * cos(el) * cos(az)};
  double target[3] = {0, 0, 0}, up[3] = {0, 1, 0};
  raster_camera c;
  raster_camera_look_at(&c, w, h, fov, eye, target, up);
  return c;
}

/* The gradient arrays of scene s laid out in one block at base (NULL: only the size): means [3n], covs [6n] or
 * scales [3n] + quats [4n], opacities [n], colours [3n] or SH [3Kn], then SH frames [9n] when the scene has them.
 * Returns the block's length in reals. */
static int64_t test_grads_layout(const test_scene *s, real *base, raster_grads *gr) {
  const int64_t n = s->n;
  memset(gr, 0, sizeof *gr);
  if (base) {
    gr->means = base;
    if (s->use_covs)
      gr->covs = base + 3 * n;
    else
      gr->scales = base + 3 * n, gr->quats = base + 6 * n;
    gr->opacities = base + 10 * n;
    if (s->use_sh)
      gr->sh = base + 11 * n;
    else
      gr->colors = base + 11 * n;
    if (s->use_sh && s->use_sh_frames) gr->sh_frames = base + (11 + 3 * test_sh_coeffs(s->sh_degree)) * n;
  }
  return n * (11 + 3 * (s->use_sh ? test_sh_coeffs(s->sh_degree) : 1) + (s->use_sh && s->use_sh_frames ? 9 : 0));
}

/* A rasterizer context on the CPU (NULL after printing why, if it cannot be made). */
static raster_ctx *test_cpu_ctx(void) {
  raster_desc d;
  memset(&d, 0, sizeof d);
  d.backend = PL_BACKEND_CPU;
  raster_ctx *ctx = NULL;
  if (raster_create(&ctx, &d) != PL_OK) fprintf(stderr, "raster_create: %s\n", pl_last_error());
  return ctx;
}

static double test_max_abs_diff(const real *a, const real *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; ++i) m = fmax(m, fabs((double)a[i] - (double)b[i]));
  return m;
}

static int test_all_finite(const real *a, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    if (!isfinite((double)a[i])) return 0;
  return 1;
}

/* test_vjp_error on a slice of the inputs: x_sub = x[off, off + len) varies, the rest of x (n_in values) is held
 * fixed. So that one input's cotangent (e.g. the SH frames) is judged on its own, not hidden among larger ones. */
typedef struct {
  test_fn f;
  test_vjp_fn vjp;
  void *ctx;
  const double *x;
  int n_in, off, len;
} test_slice;
static void test_slice_f(const double *xs, double *y, void *vctx) {
  const test_slice *sl = (const test_slice *)vctx;
  double *x = (double *)malloc(sizeof(double) * (size_t)sl->n_in);
  memcpy(x, sl->x, sizeof(double) * (size_t)sl->n_in);
  memcpy(x + sl->off, xs, sizeof(double) * (size_t)sl->len);
  sl->f(x, y, sl->ctx);
  free(x);
}
static void test_slice_vjp(const double *xs, const double *vy, double *vxs, void *vctx) {
  const test_slice *sl = (const test_slice *)vctx;
  double *x = (double *)malloc(sizeof(double) * (size_t)sl->n_in);
  double *vx = (double *)calloc((size_t)sl->n_in, sizeof(double));
  memcpy(x, sl->x, sizeof(double) * (size_t)sl->n_in);
  memcpy(x + sl->off, xs, sizeof(double) * (size_t)sl->len);
  sl->vjp(x, vy, vx, sl->ctx);
  for (int k = 0; k < sl->len; ++k) vxs[k] += vx[sl->off + k];
  free(x);
  free(vx);
}
static double test_vjp_error_slice(const char *name, test_fn f, test_vjp_fn vjp, void *ctx, const double *x, int n_in,
                                   int off, int len, int n_out, double h, double abs_floor) {
  test_slice sl = {f, vjp, ctx, x, n_in, off, len};
  return test_vjp_error(name, test_slice_f, test_slice_vjp, &sl, x + off, len, n_out, h, abs_floor, 0);
}

#endif
