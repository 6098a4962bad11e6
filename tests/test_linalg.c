/* test_linalg.c: core/linalg.h in double precision.
 * SVD and polar on the hard cases (identity, near identity, repeated and near-repeated singular values,
 * inverted, rank-deficient, zero), and every _vjp against central differences (relative error <= 1e-6). */
#include "core/linalg.h"
#include "tests/test_util.h"

#ifndef PL_REAL_DOUBLE
#error "test_linalg is built against the double-precision library"
#endif

static m3 rand_rotation(void) {
  v3 a = v3_make(test_rand(), test_rand(), test_rand());
  real ang = RC(3.0) * test_rand();
  a = v3_normalize(a);
  /* Rodrigues */
  m3 k = m3_skew(a);
  return m3_add(m3_add(m3_identity(), m3_scale(k, r_sin(ang))), m3_scale(m3_mul(k, k), 1 - r_cos(ang)));
}

static m3 rand_matrix(real scale) {
  m3 r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r.m[i][j] = scale * test_rand();
  return r;
}

typedef struct {
  const char *name;
  m3 f;
} mat_case;

#define NCASES 13
static void make_cases(mat_case *c) {
  m3 q1 = rand_rotation(), q2 = rand_rotation();
  int i = 0;
  c[i].name = "identity";
  c[i++].f = m3_identity();
  c[i].name = "near identity (1e-9)";
  c[i++].f = m3_add(m3_identity(), rand_matrix(RC(1e-9)));
  c[i].name = "near identity (1e-4)";
  c[i++].f = m3_add(m3_identity(), rand_matrix(RC(1e-4)));
  c[i].name = "random";
  c[i++].f = m3_add(m3_identity(), rand_matrix(RC(0.5)));
  c[i].name = "rotation";
  c[i++].f = q1;
  c[i].name = "repeated (2,2,0.5)";
  c[i++].f = m3_usv(q1, v3_make(2, 2, RC(0.5)), q2);
  c[i].name = "repeated (1.5,0.7,0.7)";
  c[i++].f = m3_usv(q2, v3_make(RC(1.5), RC(0.7), RC(0.7)), q1);
  c[i].name = "triple (1.3,1.3,1.3) rotated";
  c[i++].f = m3_usv(q1, v3_make(RC(1.3), RC(1.3), RC(1.3)), q2);
  c[i].name = "near-repeated (2, 2+1e-10, 1)";
  c[i++].f = m3_usv(q1, v3_make(RC(2.0) + RC(1e-10), 2, 1), q2);
  c[i].name = "inverted (det < 0)";
  c[i++].f = m3_usv(q1, v3_make(RC(1.2), RC(0.9), RC(-0.6)), q2);
  c[i].name = "isotropic stretch 1.2 I";
  c[i++].f = m3_scalar(RC(1.2));
  c[i].name = "rank 2";
  c[i++].f = m3_usv(q2, v3_make(RC(1.1), RC(0.4), 0), q1);
  c[i].name = "diag with sign flip";
  c[i++].f = m3_diag(v3_make(RC(-1.0), RC(2.0), RC(0.5)));
}

static double m3_err(m3 a, m3 b) { return m3_max_abs(m3_sub(a, b)); }

static void test_svd_cases(void) {
  mat_case cs[NCASES];
  make_cases(cs);
  for (int k = 0; k < NCASES; ++k) {
    m3 u, v;
    v3 s;
    m3_svd(cs[k].f, &u, &s, &v);
    double scale = fmax(1.0, m3_max_abs(cs[k].f));
    double rec = m3_err(m3_usv(u, s, v), cs[k].f) / scale;
    double ou = m3_err(m3_mul_at(u, u), m3_identity()), ov = m3_err(m3_mul_at(v, v), m3_identity());
    CHECK(rec < 1e-13, "%s: reconstruction error %g", cs[k].name, rec);
    CHECK(ou < 1e-13 && ov < 1e-13, "%s: U or V not orthogonal (%g, %g)", cs[k].name, ou, ov);
    CHECK(fabs(m3_det(u) - 1) < 1e-12 && fabs(m3_det(v) - 1) < 1e-12, "%s: det U %g det V %g", cs[k].name,
          m3_det(u), m3_det(v));
    CHECK(s.x >= s.y - 1e-14 && s.y >= fabs(s.z) - 1e-14, "%s: singular values not sorted: %g %g %g", cs[k].name,
          s.x, s.y, s.z);
    double d = m3_det(cs[k].f);
    CHECK(d * s.z >= -1e-14, "%s: sign of the last singular value %g disagrees with det %g", cs[k].name, s.z, d);
    /* polar */
    m3 r, sym;
    m3_polar(cs[k].f, &r, &sym);
    CHECK(m3_err(m3_mul(r, sym), cs[k].f) / scale < 1e-13, "%s: polar F != R S", cs[k].name);
    CHECK(m3_err(m3_mul_at(r, r), m3_identity()) < 1e-13 && fabs(m3_det(r) - 1) < 1e-12, "%s: R not a rotation",
          cs[k].name);
    CHECK(m3_err(sym, m3_transpose(sym)) < 1e-13, "%s: S not symmetric", cs[k].name);
  }
  /* exactness at the identity: no rotation at all */
  m3 u, v;
  v3 s;
  m3_svd(m3_identity(), &u, &s, &v);
  CHECK(m3_err(u, m3_identity()) == 0 && m3_err(v, m3_identity()) == 0 && s.x == 1 && s.y == 1 && s.z == 1,
        "SVD of I is not exactly I I I");
  /* zero matrix */
  m3_svd(m3_zero(), &u, &s, &v);
  CHECK(s.x == 0 && s.y == 0 && s.z == 0 && m3_isfinite(u) && m3_isfinite(v), "SVD of 0");
}

/* ------------------------------------------------------------------ vjp adapters */

static void f_det(const double *x, double *y, void *c) {
  (void)c;
  y[0] = m3_det(m3_load(x));
}
static void v_det(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  m3 g = m3_load(vx);
  m3_det_vjp(m3_load(x), vy[0], &g);
  m3_store(g, vx);
}
static void f_inv(const double *x, double *y, void *c) {
  (void)c;
  m3_store(m3_inverse(m3_load(x)), y);
}
static void v_inv(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  m3 g = m3_load(vx);
  m3_inverse_vjp(m3_inverse(m3_load(x)), m3_load(vy), &g);
  m3_store(g, vx);
}
static void f_mul(const double *x, double *y, void *c) {
  (void)c;
  m3_store(m3_mul(m3_load(x), m3_load(x + 9)), y);
}
static void v_mul(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  m3 ga = m3_load(vx), gb = m3_load(vx + 9);
  m3_mul_vjp(m3_load(x), m3_load(x + 9), m3_load(vy), &ga, &gb);
  m3_store(ga, vx);
  m3_store(gb, vx + 9);
}
static void f_mulv(const double *x, double *y, void *c) {
  (void)c;
  v3_store(m3_mul_v(m3_load(x), v3_load(x + 9)), y);
}
static void v_mulv(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  m3 ga = m3_load(vx);
  v3 gv = v3_load(vx + 9);
  m3_mul_v_vjp(m3_load(x), v3_load(x + 9), v3_load(vy), &ga, &gv);
  m3_store(ga, vx);
  v3_store(gv, vx + 9);
}
static void f_norm(const double *x, double *y, void *c) {
  (void)c;
  v3_store(v3_normalize(v3_load(x)), y);
  y[3] = v3_norm(v3_load(x));
}
static void v_norm(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  v3 g = v3_load(vx);
  v3_normalize_vjp(v3_load(x), v3_load(vy), &g);
  v3_norm_vjp(v3_load(x), vy[3], &g);
  v3_store(g, vx);
}
static void f_cross(const double *x, double *y, void *c) {
  (void)c;
  v3_store(v3_cross(v3_load(x), v3_load(x + 3)), y);
}
static void v_cross(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  v3 ga = v3_load(vx), gb = v3_load(vx + 3);
  v3_cross_vjp(v3_load(x), v3_load(x + 3), v3_load(vy), &ga, &gb);
  v3_store(ga, vx);
  v3_store(gb, vx + 3);
}

/* polar: outputs R (9) and S (9) */
static void f_polar(const double *x, double *y, void *c) {
  (void)c;
  m3 r, s;
  m3_polar(m3_load(x), &r, &s);
  m3_store(r, y);
  m3_store(s, y + 9);
}
static void v_polar(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  m3 f = m3_load(x), r, s, g = m3_load(vx);
  m3_polar(f, &r, &s);
  m3_polar_vjp(f, r, s, m3_load(vy), m3_load(vy + 9), &g);
  m3_store(g, vx);
}

/* Hencky-like isotropic function G = U diag(log s) V^T (s > 0 cases only) */
static void f_logsvd(const double *x, double *y, void *c) {
  (void)c;
  m3 u, v;
  v3 s;
  m3_svd(m3_load(x), &u, &s, &v);
  m3_store(m3_usv(u, v3_make(log(s.x), log(s.y), log(s.z)), v), y);
}
static void v_logsvd(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  m3 u, v, g = m3_load(vx);
  v3 s;
  m3_svd(m3_load(x), &u, &s, &v);
  double sv[3] = {s.x, s.y, s.z}, gv[3] = {log(s.x), log(s.y), log(s.z)};
  m3 jac = m3_diag(v3_make(1 / s.x, 1 / s.y, 1 / s.z));
  real dd[3], sd[3];
  for (int i = 0; i < 3; ++i)
    for (int j = i + 1; j < 3; ++j) {
      int p = m3_pair_index(i, j);
      dd[p] = pl_divdiff(gv[i], gv[j], sv[i], sv[j], 2 / (sv[i] + sv[j]));
      sd[p] = pl_sumdiv(gv[i], gv[j], sv[i], sv[j]);
    }
  m3_svd_func_vjp(u, v, jac, dd, sd, m3_load(vy), &g);
  m3_store(g, vx);
}

/* Hencky Kirchhoff stress tau = U diag(2 mu log s + lambda sum log s) U^T */
static const double MU = 1.7, LAMBDA = 2.3;
static void f_hencky(const double *x, double *y, void *c) {
  (void)c;
  m3 u, v;
  v3 s;
  m3_svd(m3_load(x), &u, &s, &v);
  double e[3] = {log(s.x), log(s.y), log(s.z)}, tr = e[0] + e[1] + e[2];
  v3 h = v3_make(2 * MU * e[0] + LAMBDA * tr, 2 * MU * e[1] + LAMBDA * tr, 2 * MU * e[2] + LAMBDA * tr);
  m3_store(m3_mul_bt(m3_mul(u, m3_diag(h)), u), y);
}
static void v_hencky(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  m3 u, v, g = m3_load(vx);
  v3 s;
  m3_svd(m3_load(x), &u, &s, &v);
  double sv[3] = {s.x, s.y, s.z}, e[3] = {log(s.x), log(s.y), log(s.z)}, tr = e[0] + e[1] + e[2];
  double h[3];
  for (int i = 0; i < 3; ++i) h[i] = 2 * MU * e[i] + LAMBDA * tr;
  m3 jac;
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) jac.m[i][k] = ((i == k) ? 2 * MU : 0) / sv[k] + LAMBDA / sv[k];
  real dd[3], ed[3];
  for (int i = 0; i < 3; ++i)
    for (int j = i + 1; j < 3; ++j) {
      int p = m3_pair_index(i, j);
      /* h_i - h_j = 2 mu (log s_i - log s_j): limit 2 mu / s */
      dd[p] = pl_divdiff(h[i], h[j], sv[i], sv[j], 2 * MU * 2 / (sv[i] + sv[j]));
      ed[p] = pl_sumdiv(h[j], -h[i], sv[i], sv[j]);
    }
  m3_svd_symfunc_vjp(u, v, jac, dd, ed, m3_load(vy), &g);
  m3_store(g, vx);
}

/* generic SVD: outputs U, sigma, V, for distinct singular values */
static void f_svd(const double *x, double *y, void *c) {
  (void)c;
  m3 u, v;
  v3 s;
  m3_svd(m3_load(x), &u, &s, &v);
  m3_store(u, y);
  v3_store(s, y + 9);
  m3_store(v, y + 12);
}
static void v_svd(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  m3 u, v, g = m3_load(vx);
  v3 s;
  m3_svd(m3_load(x), &u, &s, &v);
  m3_svd_vjp(u, s, v, m3_load(vy), v3_load(vy + 9), m3_load(vy + 12), &g);
  m3_store(g, vx);
}

static void check_vjp(const char *name, test_fn f, test_vjp_fn vjp, const double *x, int nin, int nout) {
  double e = test_vjp_error(name, f, vjp, NULL, x, nin, nout, 1e-4, 1e-12, 1);
  CHECK(e <= 1e-6, "%s: relative error %g > 1e-6", name, e);
}

static void test_vjps(void) {
  mat_case cs[NCASES];
  make_cases(cs);
  char name[128];
  for (int k = 0; k < NCASES; ++k) {
    double x[18];
    m3_store(cs[k].f, x);
    m3_store(rand_matrix(1), x + 9);
    double det = m3_det(cs[k].f);
    snprintf(name, sizeof name, "det @ %s", cs[k].name);
    check_vjp(name, f_det, v_det, x, 9, 1);
    if (fabs(det) > 1e-3) {
      snprintf(name, sizeof name, "inverse @ %s", cs[k].name);
      check_vjp(name, f_inv, v_inv, x, 9, 9);
    }
    snprintf(name, sizeof name, "mul @ %s", cs[k].name);
    check_vjp(name, f_mul, v_mul, x, 18, 9);
    snprintf(name, sizeof name, "mul_v @ %s", cs[k].name);
    check_vjp(name, f_mulv, v_mulv, x, 12, 3);
    /* polar: smooth wherever no two singular values sum to zero (rank-deficient F excluded: the S
     * derivative is fine but R is not differentiable there) */
    m3 u, v;
    v3 s;
    m3_svd(cs[k].f, &u, &s, &v);
    if (s.y + s.z > 1e-3) {
      snprintf(name, sizeof name, "polar (R and S) @ %s", cs[k].name);
      check_vjp(name, f_polar, v_polar, x, 9, 18);
    }
    if (s.z > 1e-3) {
      snprintf(name, sizeof name, "U log(S) V^T @ %s", cs[k].name);
      check_vjp(name, f_logsvd, v_logsvd, x, 9, 9);
      snprintf(name, sizeof name, "Hencky tau @ %s", cs[k].name);
      check_vjp(name, f_hencky, v_hencky, x, 9, 9);
    }
    double gap = fmin(fabs(s.x - s.y), fabs(s.y - s.z));
    if (gap > 1e-2 && fabs(s.z) > 1e-3 && fabs(s.y + s.z) > 1e-2) {
      snprintf(name, sizeof name, "svd (U, sigma, V) @ %s", cs[k].name);
      check_vjp(name, f_svd, v_svd, x, 9, 21);
    }
  }
  for (int t = 0; t < 5; ++t) {
    double x[6];
    for (int i = 0; i < 6; ++i) x[i] = test_rand();
    check_vjp("normalize + norm", f_norm, v_norm, x, 3, 4);
    check_vjp("cross", f_cross, v_cross, x, 6, 3);
  }
}

/* Finite gradients where the textbook formulas divide by zero: F = I, isotropic stretch. */
static void test_finite_at_rest(void) {
  m3 fs[2] = {m3_identity(), m3_scalar(RC(1.2))};
  for (int k = 0; k < 2; ++k) {
    m3 r, s, g = m3_zero();
    m3_polar(fs[k], &r, &s);
    m3_polar_vjp(fs[k], r, s, rand_matrix(1), rand_matrix(1), &g);
    CHECK(m3_isfinite(g), "polar vjp not finite at rest");
    double x[9], vy[9], vx[9] = {0};
    m3_store(fs[k], x);
    m3_store(rand_matrix(1), vy);
    v_hencky(x, vy, vx, NULL);
    CHECK(m3_isfinite(m3_load(vx)), "Hencky vjp not finite at rest");
    v_logsvd(x, vy, vx, NULL);
    CHECK(m3_isfinite(m3_load(vx)), "log-SVD vjp not finite at rest");
  }
}

int main(void) {
  test_svd_cases();
  test_vjps();
  test_finite_at_rest();
  return test_summary("test_linalg");
}
