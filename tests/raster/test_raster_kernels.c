/* test_raster_kernels.c: every _vjp of raster/raster_kernels.h against central differences in double
 * (relative error <= 1e-6), away from the thresholds' discontinuities (each case asserts its margin); the SH
 * frames' identities (rest-frame view direction, identity frames = none). */
#include "raster/raster_kernels.h"
#include "tests/raster/raster_test_util.h"

#ifndef PL_REAL_DOUBLE
#error "test_raster_kernels is built against the double-precision library"
#endif

#define TOL 1e-6
static double g_worst = 0;

static void report(const char *name, double err) {
  fprintf(stderr, "%-52s rel.err %.2e\n", name, err);
  if (err > g_worst && isfinite(err)) g_worst = err;
  CHECK(err <= TOL, "%s: relative error %g", name, err);
}

static raster_cam g_cam;
static int g_aa, g_deg;

static void make_cam(int w, int h, double f, double az) {
  raster_camera c = test_camera(w, h, 2 * atan(0.5 * h / f) * 180 / 3.141592653589793, 3.0, az, 0.25);
  raster_cam_init(&g_cam, c.width, c.height, c.fx, c.fy, c.cx + 1.7, c.cy - 0.9, c.viewmat, 0.01, 1e10);
}

/* ---- quaternion + scale -> covariance: x = q[4], s[3]; y = Sigma (9) */
static void f_qs(const double *x, double *y, void *ctx) {
  (void)ctx;
  m3 s = raster_quat_scale_to_cov(x, x + 4);
  m3_store(s, y);
}
static void vjp_qs(const double *x, const double *vy, double *vx, void *ctx) {
  (void)ctx;
  raster_quat_scale_to_cov_vjp(x, x + 4, m3_load(vy), vx, vx + 4);
}

/* ---- perspective projection: x = p[3], covc6[6] (symmetric); y = mean2d[2], cov2d[3] */
static void f_persp(const double *x, double *y, void *ctx) {
  (void)ctx;
  raster_persp_proj(&g_cam, v3_load(x), raster_cov6_to_m3(x + 3), y, y + 2);
}
static void vjp_persp(const double *x, const double *vy, double *vx, void *ctx) {
  (void)ctx;
  v3 vp = v3_zero();
  m3 vc = m3_zero();
  raster_persp_proj_vjp(&g_cam, v3_load(x), raster_cov6_to_m3(x + 3), vy, vy + 2, &vp, &vc);
  vx[0] += vp.x, vx[1] += vp.y, vx[2] += vp.z;
  raster_cov6_vjp(vc, vx + 3);
}

/* ---- conic and compensation: x = cov2d[3]; y = conic[3], comp */
static void f_conic(const double *x, double *y, void *ctx) {
  (void)ctx;
  double comp = 0;
  y[0] = y[1] = y[2] = 0;
  if (!raster_conic(x, g_aa, y, &comp)) y[0] = y[1] = y[2] = NAN;
  y[3] = comp;
}
static void vjp_conic(const double *x, const double *vy, double *vx, void *ctx) {
  (void)ctx;
  double conic[3] = {0, 0, 0}, comp = 0;
  raster_conic(x, g_aa, conic, &comp);
  raster_conic_vjp(x, g_aa, conic, comp, vy, vy[3], vx);
}

/* ---- SH colour: x = sh[3K], dir[3]; y = rgb */
static void f_sh(const double *x, double *y, void *ctx) {
  (void)ctx;
  int K = raster_sh_coeffs(g_deg);
  raster_sh_color(g_deg, x, v3_load(x + 3 * K), y);
}
static void vjp_sh(const double *x, const double *vy, double *vx, void *ctx) {
  (void)ctx;
  int K = raster_sh_coeffs(g_deg);
  v3 vd = v3_zero();
  raster_sh_color_vjp(g_deg, x, v3_load(x + 3 * K), vy, vx, &vd);
  vx[3 * K] += vd.x, vx[3 * K + 1] += vd.y, vx[3 * K + 2] += vd.z;
}

/* ---- a Gaussian's colour in its SH frame: x = sh[3K], mu[3], R[9] (a free 3x3 matrix, row-major); eye: g_cam's;
 * y = rgb along d0 = R^T (mu - eye) */
static void f_frame(const double *x, double *y, void *ctx) {
  (void)ctx;
  int K = raster_sh_coeffs(g_deg);
  raster_gaussian_color(NULL, x, x + 3 * K + 3, g_deg, 0, v3_load(x + 3 * K), &g_cam, y);
}
static void vjp_frame(const double *x, const double *vy, double *vx, void *ctx) {
  (void)ctx;
  int K = raster_sh_coeffs(g_deg);
  v3 vmu = v3_zero();
  raster_gaussian_color_vjp(NULL, x, x + 3 * K + 3, g_deg, 0, v3_load(x + 3 * K), &g_cam, vy, NULL, vx,
                            vx + 3 * K + 3, &vmu);
  vx[3 * K] += vmu.x, vx[3 * K + 1] += vmu.y, vx[3 * K + 2] += vmu.z;
}

/* Row-major Rz(c) Ry(b) Rx(a). */
static void euler_rotation(double a, double b, double c, double r[9]) {
  m3 rx = m3_make(1, 0, 0, 0, cos(a), -sin(a), 0, sin(a), cos(a));
  m3 ry = m3_make(cos(b), 0, sin(b), 0, 1, 0, -sin(b), 0, cos(b));
  m3 rz = m3_make(cos(c), -sin(c), 0, sin(c), cos(c), 0, 0, 0, 1);
  m3_store(m3_mul(rz, m3_mul(ry, rx)), r);
}

/* SH frames: the vjp against central differences (all of x, then R alone), and the identities that define the
 * frame: colour(frame Q, mean mu) = colour(no frame, mean eye + Q^T (mu - eye)); identity frames = no frame, bit for
 * bit (colour and cotangents). */
static void test_sh_frames(void) {
  char name[128];
  make_cam(64, 48, 50, 0.4);
  double q[9];
  const double id[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
  euler_rotation(0.3, -0.7, 1.1, q);
  for (g_deg = 1; g_deg <= 3; ++g_deg) {
    const int K = raster_sh_coeffs(g_deg);
    double x[3 * 16 + 12];
    for (int k = 0; k < 3 * K; ++k) x[k] = (k < 3 ? 0.5 : 0.15) * test_rand();
    for (int k = 0; k < 3; ++k) x[3 * K + k] = 0.5 * test_rand();
    memcpy(x + 3 * K + 3, q, sizeof q);
    double rgb[3];
    f_frame(x, rgb, NULL);
    CHECK(rgb[0] > 0.05 && rgb[1] > 0.05 && rgb[2] > 0.05, "SH frame test colour too close to the clamp");
    snprintf(name, sizeof name, "gaussian_color, SH frame, degree %d", g_deg);
    report(name, test_vjp_error(name, f_frame, vjp_frame, NULL, x, 3 * K + 12, 3, 1e-5, 1e-12, 0));
    snprintf(name, sizeof name, "gaussian_color, SH frame, degree %d: R alone", g_deg);
    report(name, test_vjp_error_slice(name, f_frame, vjp_frame, NULL, x, 3 * K + 12, 3 * K + 3, 9, 3, 1e-5, 1e-12));

    /* the rest-frame identity (rounding apart: eye + v - eye is not exactly v) */
    const v3 mu = v3_load(x + 3 * K), eye = g_cam.eye;
    const v3 mu_rest = v3_add(eye, m3_tmul_v(m3_load(q), v3_sub(mu, eye)));
    double rgb_rest[3], rgb_plain[3];
    raster_gaussian_color(NULL, x, NULL, g_deg, 0, mu_rest, &g_cam, rgb_rest);
    raster_gaussian_color(NULL, x, NULL, g_deg, 0, mu, &g_cam, rgb_plain);
    double diff = 0, turn = 0;
    for (int ch = 0; ch < 3; ++ch) {
      diff = fmax(diff, fabs(rgb[ch] - rgb_rest[ch]));
      turn = fmax(turn, fabs(rgb[ch] - rgb_plain[ch]));
    }
    CHECK(diff <= 1e-12, "degree %d: colour in frame Q %g away from the colour at eye + Q^T (mu - eye)", g_deg, diff);
    CHECK(turn > 1e-3, "degree %d: the frame should change the colour (by %g)", g_deg, turn);

    /* identity frames: exactly the colour and cotangents without frames */
    double rgb_id[3], vy[3] = {test_rand(), test_rand(), test_rand()};
    double vsh_id[48] = {0}, vsh_0[48] = {0}, vr[9] = {0};
    v3 vmu_id = v3_zero(), vmu_0 = v3_zero();
    raster_gaussian_color(NULL, x, id, g_deg, 0, mu, &g_cam, rgb_id);
    raster_gaussian_color_vjp(NULL, x, id, g_deg, 0, mu, &g_cam, vy, NULL, vsh_id, vr, &vmu_id);
    raster_gaussian_color_vjp(NULL, x, NULL, g_deg, 0, mu, &g_cam, vy, NULL, vsh_0, NULL, &vmu_0);
    CHECK(memcmp(rgb_id, rgb_plain, sizeof rgb_id) == 0, "degree %d: identity frames change the colour", g_deg);
    CHECK(memcmp(vsh_id, vsh_0, sizeof vsh_id) == 0 && vmu_id.x == vmu_0.x && vmu_id.y == vmu_0.y &&
              vmu_id.z == vmu_0.z,
          "degree %d: identity frames change the cotangents", g_deg);
  }
}

/* ---- whole projection: x = mu[3], cov6[6], opacity; y = mx my ca cb cc op z */
static void f_proj(const double *x, double *y, void *ctx) {
  (void)ctx;
  raster_splat s;
  if (!raster_project(&g_cam, v3_load(x), raster_cov6_to_m3(x + 3), x[9], g_aa, &s)) {
    for (int k = 0; k < 7; ++k) y[k] = NAN;
    return;
  }
  y[0] = s.mx, y[1] = s.my, y[2] = s.ca, y[3] = s.cb, y[4] = s.cc, y[5] = s.op, y[6] = s.z;
}
static void vjp_proj(const double *x, const double *vy, double *vx, void *ctx) {
  (void)ctx;
  v3 vmu = v3_zero();
  m3 vcov = m3_zero();
  double vop = 0;
  raster_project_vjp(&g_cam, v3_load(x), raster_cov6_to_m3(x + 3), x[9], g_aa, vy, &vmu, &vcov, &vop);
  vx[0] += vmu.x, vx[1] += vmu.y, vx[2] += vmu.z;
  raster_cov6_vjp(vcov, vx + 3);
  vx[9] += vop;
}

/* ---- the camera of the whole projection: x = viewmat rows 0..2 (R 9 then t 3), fx fy cx cy; mean, cov, opacity
 * fixed; y = mx my ca cb cc op z */
static double g_mu[3], g_cov6[6], g_op;
static int g_w, g_h;
static void cam_of(const double *x, raster_cam *c) {
  double vm[16] = {x[0], x[1], x[2], x[9], x[3], x[4], x[5], x[10], x[6], x[7], x[8], x[11], 0, 0, 0, 1};
  raster_cam_init(c, g_w, g_h, x[12], x[13], x[14], x[15], vm, 0.01, 1e10);
}
static void f_cam(const double *x, double *y, void *ctx) {
  (void)ctx;
  raster_cam c;
  cam_of(x, &c);
  raster_splat s;
  if (!raster_project(&c, v3_load(g_mu), raster_cov6_to_m3(g_cov6), g_op, g_aa, &s)) {
    for (int k = 0; k < 7; ++k) y[k] = NAN;
    return;
  }
  y[0] = s.mx, y[1] = s.my, y[2] = s.ca, y[3] = s.cb, y[4] = s.cc, y[5] = s.op, y[6] = s.z;
}
static void vjp_cam(const double *x, const double *vy, double *vx, void *ctx) {
  (void)ctx;
  raster_cam c;
  cam_of(x, &c);
  m3 vR = m3_zero();
  v3 vt = v3_zero();
  double vK[4] = {0, 0, 0, 0};
  raster_project_camera_vjp(&c, v3_load(g_mu), raster_cov6_to_m3(g_cov6), g_op, g_aa, vy, &vR, &vt, vK);
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) vx[3 * a + b] += vR.m[a][b];
  vx[9] += vt.x, vx[10] += vt.y, vx[11] += vt.z;
  for (int k = 0; k < 4; ++k) vx[12 + k] += vK[k];
}

/* ---- pixel alpha: x = mx my ca cb cc op; y = alpha at a fixed pixel */
static double g_px, g_py;
static raster_splat splat_of(const double *x) {
  raster_splat s;
  s.mx = x[0], s.my = x[1], s.ca = x[2], s.cb = x[3], s.cc = x[4], s.op = x[5], s.z = 1;
  s.smax = 1e30; /* the support test is a threshold: kept out of the way here, covered by its own case below */
  return s;
}
static void f_alpha(const double *x, double *y, void *ctx) {
  (void)ctx;
  raster_splat s = splat_of(x);
  double vis;
  y[0] = raster_pixel_alpha(&s, g_px, g_py, &vis);
}
static void vjp_alpha(const double *x, const double *vy, double *vx, void *ctx) {
  (void)ctx;
  raster_splat s = splat_of(x);
  double vis;
  double a = raster_pixel_alpha(&s, g_px, g_py, &vis);
  double v2d[RASTER_NGRAD] = {0};
  if (a > 0) raster_pixel_alpha_vjp(&s, g_px, g_py, vis, vy[0], v2d);
  for (int k = 0; k < 6; ++k) vx[k] += v2d[k];
}

/* ---- compositing one pixel: x = K x (alpha, r, g, b, z); y = rgb, alpha, depth, expected depth */
#define KB 5
static const double g_bg[3] = {0.2, 0.5, 0.9};
static void f_blend(const double *x, double *y, void *ctx) {
  (void)ctx;
  raster_pix p;
  raster_pix_init(&p);
  for (int k = 0; k < KB && !p.done; ++k) raster_pix_blend(&p, x[5 * k], x + 5 * k + 1, x[5 * k + 4], k, RASTER_T_MIN);
  raster_pix_output(&p, g_bg, y, y + 3, y + 4, y + 5);
}
static void vjp_blend(const double *x, const double *vy, double *vx, void *ctx) {
  (void)ctx;
  raster_pix p;
  raster_pix_init(&p);
  for (int k = 0; k < KB && !p.done; ++k) raster_pix_blend(&p, x[5 * k], x + 5 * k + 1, x[5 * k + 4], k, RASTER_T_MIN);
  double v_a = vy[3], v_d = vy[4];
  raster_expected_depth_vjp(p.d, 1 - p.T, vy[5], &v_d, &v_a);
  raster_pix_bwd b;
  raster_pix_bwd_init(&b, p.T, vy, v_a, v_d, g_bg);
  for (int k = p.n - 1; k >= 0; --k) {
    double v2d[RASTER_NGRAD] = {0};
    double va = raster_pix_bwd_step(&b, x[5 * k], x + 5 * k + 1, x[5 * k + 4], v2d);
    vx[5 * k] += va;
    vx[5 * k + 1] += v2d[RG_R], vx[5 * k + 2] += v2d[RG_G], vx[5 * k + 3] += v2d[RG_B];
    vx[5 * k + 4] += v2d[RG_Z];
  }
}

int main(void) {
  char name[128];
  /* quaternion + scale */
  for (int t = 0; t < 4; ++t) {
    double x[7];
    for (int k = 0; k < 4; ++k) x[k] = test_rand() * 1.5;
    for (int k = 0; k < 3; ++k) x[4 + k] = 0.1 + fabs(test_rand());
    if (t == 3) x[4 + 2] = 0; /* a flat Gaussian */
    snprintf(name, sizeof name, "quat_scale_to_cov #%d", t);
    report(name, test_vjp_error(name, f_qs, vjp_qs, NULL, x, 7, 9, 1e-4, 1e-12, 0));
  }
  /* perspective projection, inside and outside the clamp */
  make_cam(64, 48, 50, 0.4);
  for (int t = 0; t < 6; ++t) {
    double x[9];
    double zc = 2 + fabs(test_rand());
    double ux = t < 3 ? 0.4 * test_rand() : (t == 3 ? 2.5 : -3.0), uy = t < 3 ? 0.4 * test_rand() : (t == 5 ? 2.8 : 0.1);
    x[0] = ux * zc, x[1] = uy * zc, x[2] = zc;
    for (int k = 0; k < 6; ++k) x[3 + k] = 0.1 * test_rand();
    x[3] += 0.3, x[6] += 0.2, x[8] += 0.25;
    snprintf(name, sizeof name, "persp_proj #%d (%s)", t, t < 3 ? "inside" : "clamped");
    report(name, test_vjp_error(name, f_persp, vjp_persp, NULL, x, 9, 5, 1e-5, 1e-12, 0));
  }
  /* conic and compensation */
  for (g_aa = 0; g_aa < 2; ++g_aa)
    for (int t = 0; t < 4; ++t) {
      double a = 0.5 + 20 * fabs(test_rand()), c = 0.5 + 20 * fabs(test_rand());
      double x[3] = {a, 0.8 * sqrt(a * c) * test_rand(), c};
      if (t == 3) x[0] *= 1e4, x[1] *= 1e2; /* elongated */
      snprintf(name, sizeof name, "conic%s #%d", g_aa ? " + compensation" : "", t);
      report(name, test_vjp_error(name, f_conic, vjp_conic, NULL, x, 3, 4, 1e-5, 1e-12, 0));
    }
  /* SH colour, every degree (coefficients keep the colour away from the clamp at 0) */
  for (g_deg = 0; g_deg <= 3; ++g_deg) {
    int K = raster_sh_coeffs(g_deg);
    double x[3 * 16 + 3];
    for (int k = 0; k < 3 * K; ++k) x[k] = (k < 3 ? 0.5 : 0.15) * test_rand();
    for (int k = 0; k < 3; ++k) x[3 * K + k] = 2 * test_rand();
    double rgb[3];
    raster_sh_color(g_deg, x, v3_load(x + 3 * K), rgb);
    CHECK(rgb[0] > 0.05 && rgb[1] > 0.05 && rgb[2] > 0.05, "SH test colour too close to the clamp");
    snprintf(name, sizeof name, "sh_color degree %d", g_deg);
    report(name, test_vjp_error(name, f_sh, vjp_sh, NULL, x, 3 * K + 3, 3, 1e-5, 1e-12, 0));
  }
  /* SH clamp: a negative channel has zero gradient */
  {
    g_deg = 1;
    double x[15] = {-3, 0.2, 0.1, 0.1, 0.1, 0.1, 0, 0, 0, 0, 0, 0, 0.3, 0.2, 1};
    double vy[3] = {1, 1, 1}, vx[15] = {0};
    vjp_sh(x, vy, vx, NULL);
    CHECK(vx[0] == 0 && vx[3] == 0, "clamped SH channel must have zero gradient (%g %g)", vx[0], vx[3]);
  }
  /* whole projection */
  for (g_aa = 0; g_aa < 2; ++g_aa)
    for (int t = 0; t < 5; ++t) {
      make_cam(80 + 7 * t, 60 - 3 * t, 60 + 10 * t, 0.3 * t);
      double x[10];
      for (int k = 0; k < 3; ++k) x[k] = 0.5 * test_rand();
      if (t == 4) { /* in front of the camera, outside the clamped field of view: mu = R^T (p - t) */
        v3 pc = v3_make(3.0 * 2.5, 0.2, 2.5);
        v3 mu = m3_tmul_v(g_cam.R, v3_sub(pc, g_cam.t));
        x[0] = mu.x, x[1] = mu.y, x[2] = mu.z;
      }
      double q[4] = {test_rand(), test_rand(), test_rand(), test_rand()}, s[3];
      for (int k = 0; k < 3; ++k) s[k] = 0.05 + 0.2 * fabs(test_rand());
      m3 cov = raster_quat_scale_to_cov(q, s);
      x[3] = cov.m[0][0], x[4] = cov.m[0][1], x[5] = cov.m[0][2], x[6] = cov.m[1][1], x[7] = cov.m[1][2];
      x[8] = cov.m[2][2];
      x[9] = 0.3 + 0.6 * fabs(test_rand());
      snprintf(name, sizeof name, "project (mean, cov, opacity)%s #%d", g_aa ? " antialiased" : "", t);
      report(name, test_vjp_error(name, f_proj, vjp_proj, NULL, x, 10, 7, 1e-5, 1e-12, 0));
    }
  /* the camera's cotangents (viewmat, fx fy cx cy) of the whole projection: inside the field of view and with
   * the EWA Jacobian clamped on each side (the clamp limits depend on fx, cx) */
  for (g_aa = 0; g_aa < 2; ++g_aa)
    for (int t = 0; t < 5; ++t) {
      make_cam(80 + 7 * t, 60 - 3 * t, 60 + 10 * t, 0.3 * t);
      g_w = g_cam.width, g_h = g_cam.height;
      double x[16];
      for (int a = 0; a < 3; ++a) {
        for (int b = 0; b < 3; ++b) x[3 * a + b] = g_cam.R.m[a][b];
        x[9 + a] = v3_get(g_cam.t, a);
      }
      x[12] = g_cam.fx, x[13] = g_cam.fy, x[14] = g_cam.cx, x[15] = g_cam.cy;
      double ux[5] = {0.1, 3.0, -3.2, 0.2, -0.1}, uy[5] = {-0.1, 0.2, 0.1, 2.9, -3.1};
      v3 pc = v3_make(ux[t] * 2.5, uy[t] * 2.5, 2.5); /* camera-space mean: mu = R^T (p - t) */
      v3 mu = m3_tmul_v(g_cam.R, v3_sub(pc, g_cam.t));
      g_mu[0] = mu.x, g_mu[1] = mu.y, g_mu[2] = mu.z;
      double q[4] = {test_rand(), test_rand(), test_rand(), test_rand()}, s[3];
      for (int k = 0; k < 3; ++k) s[k] = 0.05 + 0.2 * fabs(test_rand());
      m3 cov = raster_quat_scale_to_cov(q, s);
      g_cov6[0] = cov.m[0][0], g_cov6[1] = cov.m[0][1], g_cov6[2] = cov.m[0][2], g_cov6[3] = cov.m[1][1];
      g_cov6[4] = cov.m[1][2], g_cov6[5] = cov.m[2][2];
      g_op = 0.3 + 0.6 * fabs(test_rand());
      snprintf(name, sizeof name, "project: camera (viewmat, K)%s #%d%s", g_aa ? " antialiased" : "", t,
               t ? " clamped" : "");
      report(name, test_vjp_error(name, f_cam, vjp_cam, NULL, x, 16, 7, 1e-6, 1e-12, 0));
    }
  /* pixel alpha: inside, unclamped */
  for (int t = 0; t < 5; ++t) {
    double x[6] = {10 + test_rand(), 20 + test_rand(), 0.3 + 0.2 * fabs(test_rand()), 0.05 * test_rand(),
                   0.2 + 0.2 * fabs(test_rand()), 0.4 + 0.3 * fabs(test_rand())};
    g_px = 10.5 + 0.8 * test_rand();
    g_py = 20.5 + 0.8 * test_rand();
    double y[1];
    f_alpha(x, y, NULL);
    CHECK(y[0] > 0.02 && y[0] < 0.95, "pixel alpha test case near a threshold (%g)", y[0]);
    snprintf(name, sizeof name, "pixel_alpha #%d", t);
    report(name, test_vjp_error(name, f_alpha, vjp_alpha, NULL, x, 6, 1, 1e-5, 1e-12, 0));
  }
  /* pixel alpha clamped at 0.99: zero gradient; outside the support: alpha 0 */
  {
    raster_splat s;
    s.mx = 5, s.my = 5, s.ca = 0.1, s.cb = 0, s.cc = 0.1, s.op = 1, s.z = 1, s.smax = RASTER_SIGMA_CUT;
    double vis, v2d[RASTER_NGRAD] = {0};
    double a = raster_pixel_alpha(&s, 5.1, 5.1, &vis);
    raster_pixel_alpha_vjp(&s, 5.1, 5.1, vis, 1.0, v2d);
    CHECK(a == RASTER_ALPHA_MAX && v2d[RG_OP] == 0 && v2d[RG_MX] == 0, "clamped alpha %g must have zero gradient", a);
    CHECK(raster_pixel_alpha(&s, 5 + 11, 5, &vis) == 0, "pixel beyond 3.33 sigma must get alpha 0");
    CHECK(raster_pixel_alpha(&s, 5 + 10, 5, &vis) > 0, "pixel inside 3.33 sigma must get alpha > 0");
  }
  /* compositing: random alphas, colours, depths; one case hits the transmittance stop */
  for (int t = 0; t < 5; ++t) {
    double x[5 * KB];
    for (int k = 0; k < KB; ++k) {
      x[5 * k] = t == 4 ? 0.9 + 0.05 * fabs(test_rand()) : 0.1 + 0.6 * fabs(test_rand());
      for (int c = 0; c < 3; ++c) x[5 * k + 1 + c] = 0.5 + 0.5 * test_rand();
      x[5 * k + 4] = 1 + k + 0.3 * test_rand();
    }
    raster_pix p;
    raster_pix_init(&p);
    double tprev = 1;
    for (int k = 0; k < KB && !p.done; ++k) {
      tprev = p.T;
      raster_pix_blend(&p, x[5 * k], x + 5 * k + 1, x[5 * k + 4], k, RASTER_T_MIN);
    }
    /* margin from the stop threshold: T before the stopped (or last) splat x (1 - alpha) vs 1e-4 */
    CHECK(fabs(tprev * (1 - x[5 * (p.n < KB ? p.n : KB - 1)]) - 1e-4) > 1e-7, "compositing case near the T stop");
    snprintf(name, sizeof name, "composite one pixel (%d splats, %d blended)", KB, p.n);
    report(name, test_vjp_error(name, f_blend, vjp_blend, NULL, x, 5 * KB, 6, 1e-6, 1e-12, 0));
  }
  test_sh_frames();
  fprintf(stderr, "worst relative error: %.2e\n", g_worst);
  return test_summary("test_raster_kernels");
}
