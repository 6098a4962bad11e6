/* test_upsample_kernels.c: every differentiable function of upsample/upsample_kernels.h against central
 * differences in double precision (relative error <= 1e-6), on typical and edge-case inputs. */
#include "tests/test_util.h"
#include "upsample/upsample_kernels.h"

#ifndef PL_REAL_DOUBLE
#error "test_upsample_kernels is built against the double-precision library"
#endif

static double g_worst = 0;
static void expect(const char *name, double err) {
  if (err > g_worst) g_worst = err;
  CHECK(err <= 1e-6, "%s: relative error %.3e", name, err);
}

/* ---------------------------------------------------------------- Sigma0(sigma, t, n) */

static void f_sigma0(const double *x, double *y, void *c) {
  (void)c;
  m3_store(ups_sigma0(x[0], x[1], v3_load(x + 2)), y);
}
static void v_sigma0(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  v3 vn = v3_load(vx + 2);
  ups_sigma0_vjp(x[0], x[1], v3_load(x + 2), m3_load(vy), &vx[0], &vx[1], &vn);
  v3_store(vn, vx + 2);
}

/* ---------------------------------------------------------------- packed A Sigma0 A^T, Sigma0 from 6 numbers */

static void f_cov(const double *x, double *y, void *c) {
  (void)c;
  ups_sym6_store(ups_cov_push(m3_load(x), ups_sym6_load(x + 9)), y);
}
static void v_cov(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  m3 va = m3_load(vx), vs = m3_zero();
  ups_cov_push_vjp(m3_load(x), ups_sym6_load(x + 9), ups_sym6_cotangent(vy), &va, &vs);
  m3_store(va, vx);
  /* Sigma0 = sym6_load(s6): each off-diagonal number feeds two entries */
  vx[9] += vs.m[0][0];
  vx[10] += vs.m[0][1] + vs.m[1][0];
  vx[11] += vs.m[0][2] + vs.m[2][0];
  vx[12] += vs.m[1][1];
  vx[13] += vs.m[1][2] + vs.m[2][1];
  vx[14] += vs.m[2][2];
}

/* ---------------------------------------------------------------- opacity, colour */

static void f_opac(const double *x, double *y, void *c) {
  (void)c;
  y[0] = ups_opacity(x[0], x[1], x[2]);
}
static void v_opac(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  ups_opacity_vjp(x[0], x[1], x[2], vy[0], &vx[0], &vx[1], &vx[2]);
}
static void f_color(const double *x, double *y, void *c) {
  (void)c;
  for (int k = 0; k < 3; ++k) y[k] = ups_color(x[k]);
}
static void v_color(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  for (int k = 0; k < 3; ++k) ups_color_vjp(x[k], vy[k], &vx[k]);
}

/* ---------------------------------------------------------------- one binding term of the mean */

typedef struct {
  real w;
  v3 rg, rq;
} bind_ctx;
static void f_bind(const double *x, double *y, void *c) {
  bind_ctx *b = (bind_ctx *)c;
  v3_store(ups_bind_mean_term(b->w, v3_load(x), m3_load(x + 3), b->rg, b->rq), y);
}
static void v_bind(const double *x, const double *vy, double *vx, void *c) {
  (void)x;
  bind_ctx *b = (bind_ctx *)c;
  v3 vq = v3_load(vx);
  m3 vf = m3_load(vx + 3);
  ups_bind_mean_term_vjp(b->w, b->rg, b->rq, v3_load(vy), &vq, &vf);
  v3_store(vq, vx);
  m3_store(vf, vx + 3);
}

/* ---------------------------------------------------------------- density kernel: value -> grad -> Hessian */

static double g_inv_h = 1.0 / 0.03;
static void f_kval(const double *x, double *y, void *c) {
  (void)c;
  y[0] = ups_kernel_value(v3_load(x), g_inv_h);
}
static void v_kval(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  v3 g = ups_kernel_grad(v3_load(x), g_inv_h);
  for (int k = 0; k < 3; ++k) vx[k] += vy[0] * v3_get(g, k);
}
static void f_kgrad(const double *x, double *y, void *c) {
  (void)c;
  v3_store(ups_kernel_grad(v3_load(x), g_inv_h), y);
}
static void v_kgrad(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  v3 h = m3_tmul_v(ups_kernel_hess(v3_load(x), g_inv_h), v3_load(vy));
  for (int k = 0; k < 3; ++k) vx[k] += v3_get(h, k);
}

/* ---------------------------------------------------------------- runtime frame */

typedef struct {
  v3 e;
  ups_rt_shape sh;
} frame_ctx;
/* inputs: phi, g[3], x[3], F[9] (16); outputs: n, base, t1, t2 (12), s (1) */
static void f_frame(const double *x, double *y, void *c) {
  frame_ctx *fc = (frame_ctx *)c;
  ups_rt_frame fr = ups_rt_frame_eval(x[0], v3_load(x + 1), v3_load(x + 4), m3_load(x + 7), fc->e, fc->sh);
  v3_store(fr.n, y);
  v3_store(fr.base, y + 3);
  v3_store(fr.t1, y + 6);
  v3_store(fr.t2, y + 9);
  y[12] = fr.s;
}
static void v_frame(const double *x, const double *vy, double *vx, void *c) {
  frame_ctx *fc = (frame_ctx *)c;
  v3 vg = v3_load(vx + 1), vxx = v3_load(vx + 4);
  m3 vf = m3_load(vx + 7);
  ups_rt_frame_vjp(x[0], v3_load(x + 1), v3_load(x + 4), m3_load(x + 7), fc->e, fc->sh, v3_load(vy), v3_load(vy + 3),
                   v3_load(vy + 6), v3_load(vy + 9), vy[12], &vx[0], &vg, &vxx, &vf);
  v3_store(vg, vx + 1);
  v3_store(vxx, vx + 4);
  m3_store(vf, vx + 7);
}

static void f_smooth(const double *x, double *y, void *c) {
  (void)c;
  y[0] = ups_smootherstep(x[0]);
}
static void v_smooth(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  vx[0] += vy[0] * ups_smootherstep_deriv(x[0]);
}

static m3 rand_m3(double scale) {
  m3 r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r.m[i][j] = scale * test_rand();
  return r;
}

int main(void) {
  char name[128];
  /* Sigma0: unit normals, a non-unit (regularised) one, the zero normal (particles mode) */
  const double normals[4][3] = {{0, 0, 1}, {0.48, -0.6, 0.64}, {0.3, 0.2, -0.1}, {0, 0, 0}};
  for (int c = 0; c < 4; ++c) {
    double x[5] = {0.013, 0.2, normals[c][0], normals[c][1], normals[c][2]};
    snprintf(name, sizeof name, "sigma0 (normal %d)", c);
    expect(name, test_vjp_error(name, f_sigma0, v_sigma0, NULL, x, 5, 9, 1e-4, 1e-300, 1));
  }
  /* Sigma = A Sigma0 A^T, packed, with the 6-number cotangent convention */
  for (int c = 0; c < 4; ++c) {
    double x[15];
    m3 a = c == 0 ? m3_identity() : m3_add(m3_identity(), rand_m3(c == 3 ? 0.9 : 0.3));
    if (c == 2) a = m3_scale(a, -1); /* inverted */
    m3_store(a, x);
    m3 s0 = ups_sigma0(0.01, 0.2, v3_normalize(v3_make(1, 2, 3)));
    ups_sym6_store(s0, x + 9);
    snprintf(name, sizeof name, "cov push, packed (case %d)", c);
    expect(name, test_vjp_error(name, f_cov, v_cov, NULL, x, 15, 6, 1e-5, 1e-300, 1));
  }
  /* opacity: global logit, per-Gaussian offset, surface weight */
  {
    double xs[3][3] = {{2.944, 0.0, 1.0}, {-1.3, 0.7, 0.4}, {0.2, -2.5, 0.0}};
    for (int c = 0; c < 3; ++c) {
      snprintf(name, sizeof name, "opacity (case %d)", c);
      expect(name, test_vjp_error(name, f_opac, v_opac, NULL, xs[c], 3, 1, 1e-5, 1e-300, 1));
    }
    double col[3] = {0.2, 0.5, 0.93};
    expect("colour (inside [0,1])", test_vjp_error("colour (inside [0,1])", f_color, v_color, NULL, col, 3, 3, 1e-5,
                                                   1e-300, 1));
  }
  /* binding term */
  {
    bind_ctx b;
    b.w = 0.37;
    b.rg = v3_make(0.5, 0.52, 0.49);
    b.rq = v3_make(0.51, 0.5, 0.47);
    double x[12];
    v3_store(v3_make(0.55, 0.41, 0.6), x);
    m3_store(m3_add(m3_identity(), rand_m3(0.3)), x + 3);
    expect("binding mean term", test_vjp_error("binding mean term", f_bind, v_bind, &b, x, 12, 3, 1e-5, 1e-300, 1));
  }
  /* kernel: gradient = derivative of the value, Hessian = derivative of the gradient, in every piece */
  {
    const double qs[] = {0.05, 0.4, 0.99, 1.01, 1.5, 1.97};
    for (size_t c = 0; c < sizeof qs / sizeof qs[0]; ++c) {
      v3 dir = v3_normalize(v3_make(test_rand(), test_rand(), test_rand()));
      double x[3];
      v3_store(v3_scale(dir, qs[c] / g_inv_h), x);
      snprintf(name, sizeof name, "kernel gradient (q = %.2f)", qs[c]);
      expect(name, test_vjp_error(name, f_kval, v_kval, NULL, x, 3, 1, 1e-7, 1e-300, 1));
      snprintf(name, sizeof name, "kernel Hessian (q = %.2f)", qs[c]);
      expect(name, test_vjp_error(name, f_kgrad, v_kgrad, NULL, x, 3, 3, 1e-7, 1e-300, 1));
    }
    /* at r = 0 exactly: gradient 0 and Hessian a(0)/h^2 I */
    v3 g0 = ups_kernel_grad(v3_zero(), g_inv_h);
    m3 h0 = ups_kernel_hess(v3_zero(), g_inv_h);
    CHECK(v3_norm(g0) == 0 && m3_max_abs(m3_sub(h0, m3_scalar(-3.0 * g_inv_h * g_inv_h))) < 1e-9,
          "kernel at r = 0: grad %g, Hessian off by %g", v3_norm(g0), m3_max_abs(m3_sub(h0, m3_scalar(-3.0 * g_inv_h * g_inv_h))));
    /* continuity of f, f' and f'' at q = 1 and q = 2 (C2) */
    for (int b = 1; b <= 2; ++b) {
      double lo = b - 1e-9, hi = b + 1e-9;
      CHECK(fabs(ups_kernel_f(lo) - ups_kernel_f(hi)) < 1e-8 && fabs(ups_kernel_a(lo) - ups_kernel_a(hi)) < 1e-8,
            "kernel not C1 at q = %d", b);
    }
  }
  /* smootherstep, inside its ramp */
  {
    double xs[] = {0.1, 0.5, 0.93};
    for (int c = 0; c < 3; ++c) {
      snprintf(name, sizeof name, "smootherstep (u = %.2f)", xs[c]);
      expect(name, test_vjp_error(name, f_smooth, v_smooth, NULL, &xs[c], 1, 1, 1e-6, 1e-300, 1));
    }
  }
  /* runtime frame: surface particle, in the weight's ramp, deep inside, isolated (g = 0), inverted F */
  {
    const double dp = 0.02;
    frame_ctx fc;
    fc.e = v3_normalize(v3_make(0.3, -0.8, 0.5));
    fc.sh.thr = 0.9;
    fc.sh.band = 0.15;
    fc.sh.level = 0.5;
    fc.sh.eps = UPS_NORMAL_EPS / dp;
    fc.sh.dmax = dp;
    fc.sh.radius = 0.6 * dp;
    struct {
      const char *name;
      double phi, g[3];
      double fscale;
    } cs[] = {{"surface (phi 0.7)", 0.7, {-10, 14, 8}, 0.2},
              {"weight ramp (phi 0.97)", 0.97, {3, -2, 6}, 0.2},
              {"deep inside (phi 1.04)", 1.04, {0.4, -0.3, 0.2}, 0.2},
              {"isolated (g = 0, phi 0.1)", 0.1, {0, 0, 0}, 0.2},
              {"inverted F", 0.6, {-20, 1, 3}, -1}};
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; ++c) {
      double x[16];
      x[0] = cs[c].phi;
      for (int k = 0; k < 3; ++k) x[1 + k] = cs[c].g[k];
      v3_store(v3_make(0.4, 0.55, 0.61), x + 4);
      m3 f = cs[c].fscale > 0 ? m3_add(m3_identity(), rand_m3(cs[c].fscale)) : m3_diag(v3_make(1.1, 0.9, -0.8));
      m3_store(f, x + 7);
      snprintf(name, sizeof name, "runtime frame: %s", cs[c].name);
      expect(name, test_vjp_error(name, f_frame, v_frame, &fc, x, 16, 13, 1e-6, 1e-300, 1));
    }
  }
  fprintf(stderr, "worst relative error %.3e\n", g_worst);
  return test_summary("test_upsample_kernels");
}
