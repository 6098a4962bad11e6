/* test_mpm_kernels.c: every differentiable per-element MPM kernel (mpm/materials.h, mpm/mpm_kernels.h)
 * against central differences in double precision (relative error <= 1e-6), including F = I, repeated
 * singular values, each branch of each return map (away from the yield surface) and each contact branch.
 * Prints the worst error per kernel family. */
#include "mpm/mpm_kernels.h"
#include "tests/test_util.h"

#ifndef PL_REAL_DOUBLE
#error "test_mpm_kernels is built against the double-precision library"
#endif

#define TOL 1e-6

typedef struct {
  const char *family;
  double worst;
} family_t;
static family_t g_fam[16];
static int g_nfam = 0;

static void record(const char *family, double err) {
  for (int i = 0; i < g_nfam; ++i)
    if (strcmp(g_fam[i].family, family) == 0) {
      if (err > g_fam[i].worst || err != err) g_fam[i].worst = err;
      return;
    }
  g_fam[g_nfam].family = family;
  g_fam[g_nfam].worst = err;
  ++g_nfam;
}

static void check(const char *family, const char *name, test_fn f, test_vjp_fn v, void *ctx, const double *x, int nin,
                  int nout) {
  double e = test_vjp_error(name, f, v, ctx, x, nin, nout, 1e-4, 1e-12, 0);
  record(family, e);
  CHECK(e <= TOL, "%s: relative error %g > %g", name, e, TOL);
}

static m3 rotation(double ax, double ay, double az, double ang) {
  v3 a = v3_normalize(v3_make(ax, ay, az));
  m3 k = m3_skew(a);
  return m3_add(m3_add(m3_identity(), m3_scale(k, sin(ang))), m3_scale(m3_mul(k, k), 1 - cos(ang)));
}
static m3 with_sv(double s0, double s1, double s2) {
  return m3_usv(rotation(1, 2, 3, 0.7), v3_make(s0, s1, s2), rotation(-2, 1, 0.5, 1.1));
}

/* ------------------------------------------------------------------ parameters */

static void f_params(const double *x, double *y, void *c) {
  mpm_uparams u;
  u.cone = c ? *(const int *)c : MPM_DP_CONE_PLANE_STRAIN;
  u.E = x[0], u.nu = x[1], u.yield_stress = x[2], u.viscosity = x[3], u.friction_angle = x[4], u.cohesion = x[5],
  u.bulk_modulus = x[6];
  mpm_mparams p = mpm_params_from_user(u);
  y[0] = p.mu, y[1] = p.lambda, y[2] = p.bulk, y[3] = p.viscosity, y[4] = p.yield_stress, y[5] = p.alpha,
  y[6] = p.tr_apex;
}
static void v_params(const double *x, const double *vy, double *vx, void *c) {
  mpm_uparams u, vu;
  u.cone = vu.cone = c ? *(const int *)c : MPM_DP_CONE_PLANE_STRAIN;
  u.E = x[0], u.nu = x[1], u.yield_stress = x[2], u.viscosity = x[3], u.friction_angle = x[4], u.cohesion = x[5],
  u.bulk_modulus = x[6];
  vu.E = vx[0], vu.nu = vx[1], vu.yield_stress = vx[2], vu.viscosity = vx[3], vu.friction_angle = vx[4],
  vu.cohesion = vx[5], vu.bulk_modulus = vx[6];
  mpm_mparams v;
  v.mu = vy[0], v.lambda = vy[1], v.bulk = vy[2], v.viscosity = vy[3], v.yield_stress = vy[4], v.alpha = vy[5],
  v.tr_apex = vy[6];
  mpm_params_from_user_vjp(u, v, &vu);
  vx[0] = vu.E, vx[1] = vu.nu, vx[2] = vu.yield_stress, vx[3] = vu.viscosity, vx[4] = vu.friction_angle,
  vx[5] = vu.cohesion, vx[6] = vu.bulk_modulus;
}

/* ------------------------------------------------------------------ mparams <-> doubles */

/* The mu(I) settings (not learnable: held fixed by the differences) that mp_load gives every parameter set. */
static double g_mui_dalpha = 0, g_mui_i0 = 0, g_mui_scale = 0;
static mpm_mparams mp_load(const double *x) {
  mpm_mparams p = mpm_mparams_zero();
  p.mui_dalpha = (real)g_mui_dalpha, p.mui_i0 = (real)g_mui_i0, p.mui_scale = (real)g_mui_scale;
  p.mu = x[0], p.lambda = x[1], p.bulk = x[2], p.viscosity = x[3], p.yield_stress = x[4], p.alpha = x[5],
  p.tr_apex = x[6];
  return p;
}
static void mp_store(mpm_mparams p, double *x) {
  x[0] = p.mu, x[1] = p.lambda, x[2] = p.bulk, x[3] = p.viscosity, x[4] = p.yield_stress, x[5] = p.alpha,
  x[6] = p.tr_apex;
}

typedef struct {
  int model;
  double dt;
  mpm_kgrid g;
  mpm_kcollider cols[4];
  int ncol;
  int ii, jj, kk; /* grid node */
  double t;
  v3 n;           /* contact normal */
  int type;
} kctx;

/* ------------------------------------------------------------------ stress: x = F(9) C(9) params(7) -> tau(9) */

static void f_tau(const double *x, double *y, void *c) {
  kctx *k = (kctx *)c;
  m3_store(mpm_kirchhoff(k->model, m3_load(x), m3_load(x + 9), mp_load(x + 18)), y);
}
static void v_tau(const double *x, const double *vy, double *vx, void *c) {
  kctx *k = (kctx *)c;
  m3 vF = m3_load(vx), vC = m3_load(vx + 9);
  mpm_mparams vp = mp_load(vx + 18);
  mpm_kirchhoff_vjp(k->model, m3_load(x), m3_load(x + 9), mp_load(x + 18), m3_load(vy), &vF, &vC, &vp);
  m3_store(vF, vx);
  m3_store(vC, vx + 9);
  mp_store(vp, vx + 18);
}

/* ------------------------------------------------------------------ plastic: x = F(9) q params(7) -> G(9) q_out */

static void f_plastic(const double *x, double *y, void *c) {
  kctx *k = (kctx *)c;
  real qo;
  m3_store(mpm_plastic(k->model, m3_load(x), x[9], mp_load(x + 10), k->dt, &qo), y);
  y[9] = qo;
}
static void v_plastic(const double *x, const double *vy, double *vx, void *c) {
  kctx *k = (kctx *)c;
  m3 vF = m3_load(vx);
  real vq = vx[9];
  mpm_mparams vp = mp_load(vx + 10);
  mpm_plastic_vjp(k->model, m3_load(x), x[9], mp_load(x + 10), k->dt, m3_load(vy), vy[9], &vF, &vq, &vp);
  m3_store(vF, vx);
  vx[9] = vq;
  mp_store(vp, vx + 10);
}

/* ------------------------------------------------------------------ B-spline: X -> w(3) */

static void f_bspline(const double *x, double *y, void *c) {
  (void)c;
  int base;
  real w[3], dw[3];
  mpm_bspline(x[0], &base, w, dw);
  y[0] = w[0], y[1] = w[1], y[2] = w[2];
}
static void v_bspline(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  real vX = vx[0];
  real vw[3] = {vy[0], vy[1], vy[2]};
  mpm_bspline_vjp(x[0], vw, &vX);
  vx[0] = vX;
}

/* ------------------------------------------------------------------ contact: v(3) vc(3) mu -> v'(3) */

static void f_contact(const double *x, double *y, void *c) {
  kctx *k = (kctx *)c;
  v3_store(mpm_contact(v3_load(x), k->n, v3_load(x + 3), k->type, x[6]), y);
}
static void f_contact0(const double *x, double *y, void *c) {
  kctx *k = (kctx *)c;
  v3_store(mpm_contact(v3_load(x), k->n, v3_load(x + 3), k->type, 0), y);
}
static void v_contact0(const double *x, const double *vy, double *vx, void *c) {
  kctx *k = (kctx *)c;
  v3 vv = v3_load(vx), vc = v3_load(vx + 3);
  real vmu = 0;
  mpm_contact_vjp(v3_load(x), k->n, v3_load(x + 3), k->type, 0, v3_load(vy), &vv, &vc, &vmu);
  v3_store(vv, vx);
  v3_store(vc, vx + 3);
}
static void v_contact(const double *x, const double *vy, double *vx, void *c) {
  kctx *k = (kctx *)c;
  v3 vv = v3_load(vx), vc = v3_load(vx + 3);
  real vmu = vx[6];
  mpm_contact_vjp(v3_load(x), k->n, v3_load(x + 3), k->type, x[6], v3_load(vy), &vv, &vc, &vmu);
  v3_store(vv, vx);
  v3_store(vc, vx + 3);
  vx[6] = vmu;
}

/* ------------------------------------------------------------------ grid node: m mom(3) g(3) mu_col... mu_wall[6] -> v(3) */

static void apply_frictions(kctx *k, const double *mu) {
  for (int i = 0; i < k->ncol; ++i) k->cols[i].friction = mu[i];
  for (int w = 0; w < 6; ++w) k->g.wall_friction[w] = mu[k->ncol + w]; /* each wall its own coefficient */
}
static void f_node(const double *x, double *y, void *c) {
  kctx *k = (kctx *)c;
  apply_frictions(k, x + 7);
  k->g.gravity = v3_load(x + 4);
  v3_store(mpm_grid_node(&k->g, k->cols, k->ncol, k->ii, k->jj, k->kk, k->t, k->dt, x[0], v3_load(x + 1)), y);
}
static void v_node(const double *x, const double *vy, double *vx, void *c) {
  kctx *k = (kctx *)c;
  apply_frictions(k, x + 7);
  k->g.gravity = v3_load(x + 4);
  real vm = vx[0];
  v3 vmom = v3_load(vx + 1), vg = v3_load(vx + 4);
  real vmu[MPM_FRICTION_SLOTS(4)];
  for (int i = 0; i < MPM_FRICTION_SLOTS(k->ncol); ++i) vmu[i] = vx[7 + i];
  mpm_grid_node_vjp(&k->g, k->cols, k->ncol, k->ii, k->jj, k->kk, k->t, k->dt, x[0], v3_load(x + 1), v3_load(vy), &vm,
                    &vmom, &vg, vmu);
  vx[0] = vm;
  v3_store(vmom, vx + 1);
  v3_store(vg, vx + 4);
  for (int i = 0; i < MPM_FRICTION_SLOTS(k->ncol); ++i) vx[7 + i] = vmu[i];
}

/* ------------------------------------------------------------------ P2G particle:
 * x(3) v(3) C(9) F(9) mass params(7) -> out[27][4] */

#define P2G_NIN (3 + 3 + 9 + 9 + 1 + 7)
static void f_p2g(const double *x, double *y, void *c) {
  kctx *k = (kctx *)c;
  int base[3];
  real out[27][4];
  mpm_p2g_particle(&k->g, k->model, mp_load(x + 25), x[24], RC(0.7) * k->g.dx * k->g.dx * k->g.dx, k->dt,
                   v3_load(x), v3_load(x + 3), m3_load(x + 6), m3_load(x + 15), base, out);
  memcpy(y, out, sizeof out);
}
static void v_p2g(const double *x, const double *vy, double *vx, void *c) {
  kctx *k = (kctx *)c;
  real vout[27][4];
  memcpy(vout, vy, sizeof vout);
  v3 vxx = v3_load(vx), vv = v3_load(vx + 3);
  m3 vC = m3_load(vx + 6), vF = m3_load(vx + 15);
  real vmass = vx[24];
  mpm_mparams vp = mp_load(vx + 25);
  mpm_p2g_particle_vjp(&k->g, k->model, mp_load(x + 25), x[24], RC(0.7) * k->g.dx * k->g.dx * k->g.dx, k->dt,
                       v3_load(x), v3_load(x + 3), m3_load(x + 6), m3_load(x + 15), (const real(*)[4])vout, &vxx, &vv,
                       &vC, &vF, &vmass, &vp);
  v3_store(vxx, vx);
  v3_store(vv, vx + 3);
  m3_store(vC, vx + 6);
  m3_store(vF, vx + 15);
  vx[24] = vmass;
  mp_store(vp, vx + 25);
}

/* ------------------------------------------------------------------ G2P particle:
 * x(3) F(9) q gv(81) params(7) -> x'(3) v'(3) C'(9) F'(9) q' */

#define G2P_NIN (3 + 9 + 1 + 81 + 7)
#define G2P_NOUT 25
static void f_g2p(const double *x, double *y, void *c) {
  kctx *k = (kctx *)c;
  v3 gv[27];
  for (int i = 0; i < 27; ++i) gv[i] = v3_load(x + 13 + 3 * i);
  v3 xo, vo;
  m3 Co, Fo;
  real qo;
  mpm_g2p_particle(&k->g, k->model, mp_load(x + 94), k->dt, v3_load(x), m3_load(x + 3), x[12], gv, &xo, &vo, &Co, &Fo,
                   &qo, NULL);
  v3_store(xo, y);
  v3_store(vo, y + 3);
  m3_store(Co, y + 6);
  m3_store(Fo, y + 15);
  y[24] = qo;
}
static void v_g2p(const double *x, const double *vy, double *vx, void *c) {
  kctx *k = (kctx *)c;
  v3 gv[27], vgv[27];
  for (int i = 0; i < 27; ++i) {
    gv[i] = v3_load(x + 13 + 3 * i);
    vgv[i] = v3_load(vx + 13 + 3 * i);
  }
  v3 vxx = v3_load(vx);
  m3 vF = m3_load(vx + 3);
  real vq = vx[12];
  mpm_mparams vp = mp_load(vx + 94);
  mpm_g2p_particle_vjp(&k->g, k->model, mp_load(x + 94), k->dt, v3_load(x), m3_load(x + 3), x[12], gv, v3_load(vy),
                       v3_load(vy + 3), m3_load(vy + 6), m3_load(vy + 15), vy[24], &vxx, &vF, &vq, vgv, &vp);
  v3_store(vxx, vx);
  m3_store(vF, vx + 3);
  vx[12] = vq;
  for (int i = 0; i < 27; ++i) v3_store(vgv[i], vx + 13 + 3 * i);
  mp_store(vp, vx + 94);
}

/* ------------------------------------------------------------------ tests */

static mpm_kgrid test_grid(void) {
  mpm_kgrid g;
  memset(&g, 0, sizeof g);
  g.n[0] = g.n[1] = g.n[2] = 16;
  g.dx = 1.0 / 16;
  g.inv_dx = 16;
  g.origin = v3_make(0, 0, 0);
  g.gravity = v3_make(0, -9.8, 0);
  g.wall_cells = 3;
  for (int w = 0; w < 6; ++w) g.wall_type[w] = MPM_CONTACT_SLIP;
  for (int w = 0; w < 6; ++w) g.wall_friction[w] = 0.3;
  return g;
}

static void test_params(void) {
  double cases[3][7] = {{1e5, 0.3, 2e3, 5, 30, 0, 1e5}, {3e4, -0.2, 1e4, 0, 45, 200, 2e6}, {7e6, 0.45, 5e4, 1e-2, 12, 1e3, 1e4}};
  int cones[3] = {MPM_DP_CONE_PLANE_STRAIN, MPM_DP_CONE_COMPRESSION, MPM_DP_CONE_SHEAR};
  const char *cone_names[3] = {"params from (E, nu, ...), plane-strain cone", "params from (E, nu, ...), compression cone",
                               "params from (E, nu, ...), shear cone"};
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < 3; ++i) check("material parameters", cone_names[k], f_params, v_params, &cones[k], cases[i], 7, 7);
  /* the three cone fits at 30 degrees */
  mpm_uparams u = mpm_uparams_zero();
  u.E = 1e5, u.nu = 0.3, u.friction_angle = 30;
  CHECK(u.cone == MPM_DP_CONE_SHEAR, "the default cone is shear (got %d)", u.cone);
  u.cone = MPM_DP_CONE_PLANE_STRAIN;
  double a_ps = mpm_params_from_user(u).alpha;
  u.cone = MPM_DP_CONE_COMPRESSION;
  double a_c = mpm_params_from_user(u).alpha;
  u.cone = MPM_DP_CONE_SHEAR;
  double a_s = mpm_params_from_user(u).alpha;
  CHECK(fabs(a_ps - sqrt(2.0) * 0.5 / 3) < 1e-12 && fabs(a_c - sqrt(2.0 / 3.0) * 2 * 0.5 / 2.5) < 1e-12 &&
            fabs(a_s - sqrt(2.0) * tan(PL_PI / 6) / 3) < 1e-12,
        "cone slopes at 30 deg: %g %g %g", a_ps, a_c, a_s);
}

static void test_stress(void) {
  m3 Fs[6] = {m3_identity(), m3_add(m3_identity(), m3_scale(m3_make(0.3, -0.2, 0.1, 0.05, 0.2, -0.1, 0.2, 0.1, -0.15), 1e-5)),
              with_sv(1.3, 0.9, 0.7), with_sv(1.2, 1.2, 0.8), m3_scale(rotation(1, 1, 0, 0.4), 1.1),
              m3_make(1.1, 0.2, -0.1, 0.05, 0.9, 0.15, -0.2, 0.1, 1.25)};
  const char *fn[6] = {"F = I", "F = I + 1e-5", "distinct sigma", "repeated sigma (1.2,1.2,0.8)", "1.1 R (triple)", "general"};
  const int models[4] = {MPM_FIXED_COROTATED, MPM_NEO_HOOKEAN, MPM_STVK_VON_MISES, MPM_NEWTONIAN_FLUID};
  for (int m = 0; m < 4; ++m)
    for (int f = 0; f < 6; ++f) {
      kctx k;
      memset(&k, 0, sizeof k);
      k.model = models[m];
      double x[25];
      m3 F = Fs[f];
      if (k.model == MPM_NEWTONIAN_FLUID) F = m3_scalar(pow(m3_det(Fs[f]), 1.0 / 3.0));
      m3_store(F, x);
      m3_store(m3_make(0.4, -1.2, 0.3, 0.8, -0.1, 0.6, -0.5, 0.2, 0.3), x + 9);
      mpm_mparams p = mpm_mparams_zero();
      p.mu = 1.7, p.lambda = 2.3, p.bulk = 3.1, p.viscosity = 0.4;
      mp_store(p, x + 18);
      char name[128];
      snprintf(name, sizeof name, "tau %s @ %s", k.model == MPM_STVK_VON_MISES ? "hencky" : (k.model == 0 ? "corotated" : (k.model == 1 ? "neo-hookean" : "fluid")), fn[f]);
      check("Kirchhoff stress", name, f_tau, v_tau, &k, x, 25, 9);
    }
}

/* The stored energy of each model against its stress: tau = (d psi / d F) F^T, by central differences. */
static void test_energy(void) {
  m3 Fs[3] = {with_sv(1.3, 0.9, 0.7), m3_scale(rotation(1, 1, 0, 0.4), 1.1),
              m3_make(1.1, 0.2, -0.1, 0.05, 0.9, 0.15, -0.2, 0.1, 1.25)};
  const int models[4] = {MPM_FIXED_COROTATED, MPM_NEO_HOOKEAN, MPM_STVK_VON_MISES, MPM_NEWTONIAN_FLUID};
  mpm_mparams p = mpm_mparams_zero();
  p.mu = 1.7, p.lambda = 2.3, p.bulk = 3.1;
  for (int m = 0; m < 4; ++m)
    for (int f = 0; f < 3; ++f) {
      m3 F = Fs[f];
      if (models[m] == MPM_NEWTONIAN_FLUID) F = m3_scalar(pow(m3_det(Fs[f]), 1.0 / 3.0));
      m3 P = m3_zero();
      const double h = 1e-6;
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) {
          m3 a = F, b = F;
          a.m[i][j] += h, b.m[i][j] -= h;
          P.m[i][j] = (mpm_energy_density(models[m], a, p) - mpm_energy_density(models[m], b, p)) / (2 * h);
        }
      m3 tau_fd = m3_mul_bt(P, F), tau = mpm_kirchhoff(models[m], F, m3_zero(), p);
      double err = 0, nrm = 0;
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) err = fmax(err, fabs(tau_fd.m[i][j] - tau.m[i][j])), nrm = fmax(nrm, fabs(tau.m[i][j]));
      CHECK(err <= 1e-6 * fmax(nrm, 1), "energy of model %d, F %d: (d psi/dF) F^T differs from tau by %g", models[m], f, err);
      if (models[m] == MPM_NEWTONIAN_FLUID) break;
    }
  CHECK(fabs(mpm_energy_density(MPM_NEO_HOOKEAN, m3_identity(), p)) < 1e-12, "energy at rest");
}

typedef struct {
  const char *name;
  int model;
  m3 F;
  double q;
  int branch;
  double eta;
  double cohesion_strain;
} pcase;

static void test_plastic(void) {
  pcase cs[] = {
      {"von Mises elastic", MPM_STVK_VON_MISES, {{{0}}}, 0, MPM_BRANCH_ELASTIC, 0, 0},
      {"von Mises yield", MPM_STVK_VON_MISES, {{{0}}}, 0, MPM_BRANCH_YIELD, 0, 0},
      {"von Mises yield, repeated sigma", MPM_STVK_VON_MISES, {{{0}}}, 0, MPM_BRANCH_YIELD, 0, 0},
      {"von Mises yield, viscous", MPM_STVK_VON_MISES, {{{0}}}, 0, MPM_BRANCH_YIELD, 0.05, 0},
      {"viscoplastic yield", MPM_VISCOPLASTIC, {{{0}}}, 0, MPM_BRANCH_YIELD, 0.2, 0},
      {"viscoplastic elastic at F = I", MPM_VISCOPLASTIC, {{{0}}}, 0, MPM_BRANCH_ELASTIC, 0.2, 0},
      {"sand elastic", MPM_DRUCKER_PRAGER, {{{0}}}, 0, MPM_BRANCH_ELASTIC, 0, 0},
      {"sand yield", MPM_DRUCKER_PRAGER, {{{0}}}, 0, MPM_BRANCH_YIELD, 0, 0},
      {"sand yield, repeated sigma", MPM_DRUCKER_PRAGER, {{{0}}}, 0, MPM_BRANCH_YIELD, 0, 0},
      {"sand yield, cohesion and q", MPM_DRUCKER_PRAGER, {{{0}}}, 0.01, MPM_BRANCH_YIELD, 0, 0.02},
      {"sand apex", MPM_DRUCKER_PRAGER, {{{0}}}, 0, MPM_BRANCH_APEX, 0, 0},
      {"sand apex, stored volume", MPM_DRUCKER_PRAGER, {{{0}}}, 0.2, MPM_BRANCH_APEX, 0, 0.01},
      {"fluid J^(1/3)", MPM_NEWTONIAN_FLUID, {{{0}}}, 0, MPM_BRANCH_ELASTIC, 0, 0},
      {"fixed corotated (identity)", MPM_FIXED_COROTATED, {{{0}}}, 0.3, MPM_BRANCH_ELASTIC, 0, 0},
      {"sand elastic, stored volume", MPM_DRUCKER_PRAGER, {{{0}}}, 0.05, MPM_BRANCH_ELASTIC, 0, 0},
  };
  int nc = (int)(sizeof cs / sizeof cs[0]);
  cs[0].F = with_sv(1.02, 1.0, 0.99);
  cs[1].F = with_sv(1.3, 1.0, 0.8);
  cs[2].F = with_sv(1.25, 1.25, 0.7);
  cs[3].F = with_sv(1.3, 0.95, 0.8);
  cs[4].F = with_sv(1.2, 1.0, 0.85);
  cs[5].F = m3_identity();
  cs[6].F = with_sv(0.96, 0.95, 0.94);
  cs[7].F = with_sv(1.3, 0.9, 0.75);
  cs[8].F = with_sv(1.3, 0.8, 0.8);
  cs[9].F = with_sv(1.3, 0.92, 0.76);
  cs[10].F = with_sv(1.1, 1.05, 0.98);
  cs[11].F = with_sv(1.0, 0.97, 0.9);
  cs[12].F = with_sv(1.1, 0.9, 0.95);
  cs[13].F = with_sv(1.1, 0.9, 0.95);
  cs[14].F = with_sv(0.96, 0.95, 0.94);
  for (int i = 0; i < nc; ++i) {
    kctx k;
    memset(&k, 0, sizeof k);
    k.model = cs[i].model;
    k.dt = 1e-3;
    mpm_mparams p = mpm_mparams_zero();
    p.mu = 100, p.lambda = 150, p.yield_stress = 20, p.viscosity = cs[i].eta, p.alpha = 0.4,
    p.tr_apex = cs[i].cohesion_strain;
    double x[17];
    m3_store(cs[i].F, x);
    x[9] = cs[i].q;
    mp_store(p, x + 10);
    int br = mpm_plastic_branch(k.model, cs[i].F, (real)cs[i].q, p);
    CHECK(br == cs[i].branch, "%s: branch %d, expected %d", cs[i].name, br, cs[i].branch);
    /* away from the yield surface: the same branch at +-1% of F */
    int stable = 1;
    for (int s = -1; s <= 1; s += 2)
      stable &= mpm_plastic_branch(k.model, m3_scale(cs[i].F, 1 + 0.01 * s), (real)cs[i].q, p) == br;
    CHECK(stable, "%s: too close to the yield surface for a finite-difference test", cs[i].name);
    check("plastic projections", cs[i].name, f_plastic, v_plastic, &k, x, 17, 10);
  }
}

/* Drucker-Prager with stored volume q: the return map is continuous across the apex plane ts = 3m + q - tr_apex = 0
 * (the volume correction, Tampubolon et al. 2017, enters every branch: without it in the cone and elastic branches
 * the map jumped by q/3 in log strain there, 0.33 % of the singular values at q = 0.01) */
static void test_sand_apex_continuity(void) {
  mpm_mparams p = mpm_mparams_zero();
  p.mu = 100, p.lambda = 150, p.alpha = 0.4;
  const double qs[3] = {0.01, 0.05, 0.2};
  for (int iq = 0; iq < 3; ++iq) {
    double q = qs[iq];
    /* sigma = s (1.02, 1, 0.98) with ts = 0 at s = s0: 3 log s0 + sum log(1.02, 1, 0.98) + q = 0 */
    double base = log(1.02) + log(0.98), s0 = exp(-(base + q) / 3);
    m3 G[2];
    real qo[2];
    int br[2];
    for (int side = 0; side < 2; ++side) {
      double s = s0 * (1 + (side ? 1e-9 : -1e-9));
      m3 F = with_sv(1.02 * s, s, 0.98 * s);
      br[side] = mpm_plastic_branch(MPM_DRUCKER_PRAGER, F, (real)q, p);
      G[side] = mpm_project_sand(F, (real)q, p, &qo[side]);
    }
    double d = 0;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) d = fmax(d, fabs((double)(G[1].m[i][j] - G[0].m[i][j])));
    CHECK(br[0] != MPM_BRANCH_APEX && br[1] == MPM_BRANCH_APEX, "sand q=%g: the two sides are cone/apex (%d, %d)", q,
          br[0], br[1]);
    CHECK(d < 1e-7 && fabs((double)(qo[1] - qo[0])) < 1e-7,
          "sand q=%g: the return map is continuous at the apex plane (|dG| %.3g, |dq| %.3g)", q, d,
          fabs((double)(qo[1] - qo[0])));
  }
}

static void test_bspline(void) {
  double Xs[5] = {3.51, 3.9, 4.0, 4.3, 4.49};
  for (int i = 0; i < 5; ++i) check("B-spline weights", "quadratic B-spline", f_bspline, v_bspline, NULL, &Xs[i], 1, 3);
  /* partition of unity and first moment at any X */
  for (int i = 0; i < 5; ++i) {
    int b;
    real w[3], dw[3];
    mpm_bspline(Xs[i], &b, w, dw);
    CHECK(fabs(w[0] + w[1] + w[2] - 1) < 1e-14, "weights sum to 1");
    CHECK(fabs(w[0] * b + w[1] * (b + 1) + w[2] * (b + 2) - Xs[i]) < 1e-13, "weights reproduce X");
  }
}

static void test_contact(void) {
  struct {
    const char *name;
    int type;
    double v[3], vc[3], mu;
  } cs[] = {
      {"sticky", MPM_CONTACT_STICKY, {0.3, -1, 0.2}, {0.1, 0, 0}, 0.5},
      {"slip frictionless", MPM_CONTACT_SLIP, {0.3, -1, 0.2}, {0, 0, 0}, 0},
      {"slip kinetic friction", MPM_CONTACT_SLIP, {1.3, -1, 0.7}, {0.1, 0.05, 0}, 0.4},
      {"slip static friction", MPM_CONTACT_SLIP, {0.1, -1, 0.05}, {0, 0, 0}, 0.5},
      {"slip leaving, friction", MPM_CONTACT_SLIP, {1.0, 0.5, -0.4}, {0, 0, 0}, 0.3},
      {"separate approaching", MPM_CONTACT_SEPARATE, {1.3, -1, 0.7}, {0, -0.1, 0.1}, 0.4},
      {"separate leaving", MPM_CONTACT_SEPARATE, {0.4, 0.8, -0.3}, {0, 0, 0}, 0.4},
  };
  for (int i = 0; i < (int)(sizeof cs / sizeof cs[0]); ++i) {
    kctx k;
    memset(&k, 0, sizeof k);
    k.n = v3_normalize(v3_make(0.2, 1, -0.1));
    k.type = cs[i].type;
    double x[7] = {cs[i].v[0], cs[i].v[1], cs[i].v[2], cs[i].vc[0], cs[i].vc[1], cs[i].vc[2], cs[i].mu};
    /* at mu = 0 the friction derivative is one-sided (mu >= 0): test the velocities only */
    if (cs[i].mu == 0)
      check("collider contact", cs[i].name, f_contact0, v_contact0, &k, x, 6, 3);
    else
      check("collider contact", cs[i].name, f_contact, v_contact, &k, x, 7, 3);
  }
  /* the projections do what they say */
  v3 n = v3_make(0, 1, 0);
  v3 r = mpm_contact(v3_make(1, -2, 0), n, v3_zero(), MPM_CONTACT_SLIP, 0);
  CHECK(fabs(r.y) < 1e-15 && fabs(r.x - 1) < 1e-15, "slip removes the normal part");
  r = mpm_contact(v3_make(1, -2, 0), n, v3_zero(), MPM_CONTACT_SLIP, 0.25);
  CHECK(fabs(r.x - 0.5) < 1e-15, "Coulomb friction reduces |vt| by mu |vn| (%g)", r.x);
  r = mpm_contact(v3_make(1, -2, 0), n, v3_zero(), MPM_CONTACT_SLIP, 0.6);
  CHECK(v3_norm(r) == 0, "static friction stops the node");
  r = mpm_contact(v3_make(1, 2, 0), n, v3_zero(), MPM_CONTACT_SEPARATE, 0.6);
  CHECK(r.y == 2 && r.x == 1, "separate leaves a departing node alone");
}

static void test_grid_node(void) {
  kctx k;
  memset(&k, 0, sizeof k);
  k.g = test_grid();
  k.dt = 2e-3;
  k.t = 0.05;
  /* colliders: sphere (separate), box (slip, rotated), cylinder (sticky), moving plane (separate) */
  k.ncol = 4;
  k.cols[0].shape = MPM_COLLIDER_SPHERE, k.cols[0].type = MPM_CONTACT_SEPARATE, k.cols[0].center = v3_make(0.5, 0.5, 0.5),
  k.cols[0].half = v3_make(0.2, 0, 0), k.cols[0].rot = m3_identity();
  k.cols[1].shape = MPM_COLLIDER_BOX, k.cols[1].type = MPM_CONTACT_SLIP, k.cols[1].center = v3_make(0.3, 0.6, 0.6),
  k.cols[1].half = v3_make(0.1, 0.15, 0.2), k.cols[1].rot = rotation(0, 0, 1, 0.3);
  k.cols[2].shape = MPM_COLLIDER_CYLINDER, k.cols[2].type = MPM_CONTACT_STICKY, k.cols[2].center = v3_make(0.75, 0.3, 0.5),
  k.cols[2].half = v3_make(0.08, 0.2, 0.08), k.cols[2].rot = rotation(1, 0, 0, 0.5);
  k.cols[3].shape = MPM_COLLIDER_PLANE, k.cols[3].type = MPM_CONTACT_SEPARATE, k.cols[3].center = v3_make(0, 0.3, 0),
  k.cols[3].normal = v3_normalize(v3_make(0.1, 1, 0)), k.cols[3].velocity = v3_make(0.05, 0.2, 0), k.cols[3].rot = m3_identity();
  struct {
    const char *name;
    int i, j, k;
    double mom[3];
  } nodes[] = {
      {"free node", 8, 12, 8, {0.2, 0.1, -0.3}},
      {"wall corner (x low, y low), slip + friction", 1, 2, 8, {-0.9, -1.5, 0.4}},
      {"wall z high", 8, 12, 15, {0.3, 0.2, 1.1}},
      {"inside sphere, approaching", 8, 8, 11, {0.3, 0.2, -1.1}},
      {"inside sphere, leaving", 8, 8, 11, {0.3, 0.2, 1.3}},
      {"inside rotated box", 5, 10, 10, {0.7, -0.4, 0.25}},
      {"inside cylinder (sticky)", 12, 5, 8, {0.7, -0.4, 0.25}},
      {"below the moving plane", 9, 4, 8, {0.9, -0.6, 0.35}},
  };
  for (int i = 0; i < (int)(sizeof nodes / sizeof nodes[0]); ++i) {
    k.ii = nodes[i].i, k.jj = nodes[i].j, k.kk = nodes[i].k;
    /* x[7..10] colliders, x[11..16] the six walls' own coefficients (a wrong slot fails the check) */
    double x[17] = {0.013, nodes[i].mom[0] * 0.013, nodes[i].mom[1] * 0.013, nodes[i].mom[2] * 0.013, 0.1, -9.8, 0.2,
                    0.3, 0.2, 0.4, 0.25, 0.35, 0.15, 0.5, 0.45, 0.3, 0.2};
    k.cols[3].friction = 0.4;
    check("grid node update", nodes[i].name, f_node, v_node, &k, x, 17, 3);
  }
  /* plane strain (v_z = 0 at every node): a free node and a node in a separate wall's band with friction */
  k.g.plane_strain = 3;
  for (int i = 0; i < 2; ++i) {
    k.ii = nodes[i].i, k.jj = nodes[i].j, k.kk = nodes[i].k;
    double x[17] = {0.013, nodes[i].mom[0] * 0.013, nodes[i].mom[1] * 0.013, nodes[i].mom[2] * 0.013, 0.1, -9.8, 0.2,
                    0.3, 0.2, 0.4, 0.25, 0.35, 0.15, 0.5, 0.45, 0.3, 0.2};
    check("grid node update, plane strain z", nodes[i].name, f_node, v_node, &k, x, 17, 3);
    v3 vz = mpm_grid_node(&k.g, k.cols, k.ncol, k.ii, k.jj, k.kk, k.t, k.dt, (real)x[0], v3_load(x + 1));
    CHECK(vz.z == 0, "plane strain z leaves v_z = %g at %s", vz.z, nodes[i].name);
  }
  k.g.plane_strain = 0;
  /* m = 0: v = 0 */
  v3 v = mpm_grid_node(&k.g, k.cols, k.ncol, 8, 8, 8, 0, 1e-3, 0, v3_make(1, 1, 1));
  CHECK(v.x == 0 && v.y == 0 && v.z == 0, "empty node has zero velocity");
  /* per-wall contact types: a sticky floor (y min), separate x min, slip elsewhere */
  k.g.wall_type[mpm_wall_index(1, 0)] = MPM_CONTACT_STICKY;
  k.g.wall_type[mpm_wall_index(0, 0)] = MPM_CONTACT_SEPARATE;
  struct {
    const char *name;
    int i, j, k;
    double mom[3];
  } walls[] = {
      {"per-wall: corner of a separate x min and a sticky y min", 1, 2, 8, {-0.9, -1.5, 0.4}},
      {"per-wall: separate x min, leaving", 1, 8, 8, {0.9, -1.5, 0.4}},
      {"per-wall: separate x min, approaching, friction", 1, 8, 8, {-0.9, -1.5, 0.4}},
      {"per-wall: slip x max", 15, 8, 8, {0.9, -1.5, 0.4}},
  };
  for (int i = 0; i < (int)(sizeof walls / sizeof walls[0]); ++i) {
    k.ii = walls[i].i, k.jj = walls[i].j, k.kk = walls[i].k;
    double x[17] = {0.013, walls[i].mom[0] * 0.013, walls[i].mom[1] * 0.013, walls[i].mom[2] * 0.013, 0.1, -9.8, 0.2,
                    0.3, 0.2, 0.4, 0.25, 0.35, 0.15, 0.5, 0.45, 0.3, 0.2};
    check("grid node update", walls[i].name, f_node, v_node, &k, x, 17, 3);
  }
  /* what each wall does to a node's velocity (no colliders, no gravity) */
  mpm_kgrid g = k.g;
  g.gravity = v3_zero();
  for (int w = 0; w < 6; ++w) g.wall_friction[w] = 0;
  v = mpm_grid_node(&g, NULL, 0, 8, 1, 8, 0, 1e-3, 1, v3_make(0.5, 0.7, 0.1));
  CHECK(v.x == 0 && v.y == 0 && v.z == 0, "a sticky floor holds a node that leaves it (%g %g %g)", v.x, v.y, v.z);
  v = mpm_grid_node(&g, NULL, 0, 1, 8, 8, 0, 1e-3, 1, v3_make(0.5, 0.7, 0.1));
  CHECK(v.x == (real)0.5 && v.y == (real)0.7, "a separate wall lets a leaving node go (%g %g)", v.x, v.y);
  v = mpm_grid_node(&g, NULL, 0, 1, 8, 8, 0, 1e-3, 1, v3_make(-0.5, 0.7, 0.1));
  CHECK(v.x == 0 && v.y == (real)0.7, "a separate wall stops an approaching node (%g %g)", v.x, v.y);
  v = mpm_grid_node(&g, NULL, 0, 15, 8, 8, 0, 1e-3, 1, v3_make(-0.5, 0.7, 0.1));
  CHECK(v.x == 0 && v.y == (real)0.7, "a slip wall pulls a leaving node back (%g %g)", v.x, v.y);
}

static void test_p2g(void) {
  const int models[5] = {MPM_FIXED_COROTATED, MPM_NEO_HOOKEAN, MPM_STVK_VON_MISES, MPM_NEWTONIAN_FLUID, MPM_DRUCKER_PRAGER};
  const char *names[5] = {"P2G corotated", "P2G neo-Hookean", "P2G Hencky (von Mises)", "P2G fluid", "P2G Hencky at F = I"};
  for (int m = 0; m < 5; ++m) {
    kctx k;
    memset(&k, 0, sizeof k);
    k.g = test_grid();
    k.model = models[m];
    k.dt = 1e-3;
    double x[P2G_NIN];
    v3_store(v3_make(0.41, 0.523, 0.37), x);
    v3_store(v3_make(0.3, -0.7, 0.2), x + 3);
    m3_store(m3_make(0.4, -1.2, 0.3, 0.8, -0.1, 0.6, -0.5, 0.2, 0.3), x + 6);
    m3 F = with_sv(1.15, 0.95, 0.85);
    if (k.model == MPM_NEWTONIAN_FLUID) F = m3_scalar(0.97);
    if (m == 4) F = m3_identity();
    m3_store(F, x + 15);
    x[24] = 0.013;
    mpm_mparams p = mpm_mparams_zero();
    p.mu = 170, p.lambda = 230, p.bulk = 310, p.viscosity = 0.4;
    mp_store(p, x + 25);
    check("P2G per particle", names[m], f_p2g, v_p2g, &k, x, P2G_NIN, 108);
    if (m == 0 || m == 4) { /* a PIC share (sim.pic_blend): the affine momentum (1 - pic) m C */
      k.g.pic_blend = RC(0.35);
      check("P2G per particle, PIC share 0.35", names[m], f_p2g, v_p2g, &k, x, P2G_NIN, 108);
      /* the share for material at rest only (sim.pic_rest_speed): |v| = 0.79 m/s inside v0 = 2 m/s, so the share
       * 0.35 (1 - |v| / v0) depends on v, and v's cotangent carries that dependence */
      k.g.pic_rest_speed = RC(2.0);
      check("P2G per particle, PIC share 0.35 at rest (v0 = 2 m/s)", names[m], f_p2g, v_p2g, &k, x, P2G_NIN, 108);
      k.g.pic_rest_speed = 0;
    }
  }
  /* conservation: the 27 contributions carry the particle's mass and momentum exactly */
  kctx k;
  memset(&k, 0, sizeof k);
  k.g = test_grid();
  int base[3];
  real out[27][4];
  m3 C = m3_make(0.4, -1.2, 0.3, 0.8, -0.1, 0.6, -0.5, 0.2, 0.3);
  mpm_p2g_particle(&k.g, MPM_FIXED_COROTATED, mpm_mparams_zero(), 2.0, 1e-4, 1e-3, v3_make(0.41, 0.52, 0.37),
                   v3_make(0.3, -0.7, 0.2), C, m3_identity(), base, out);
  double m = 0, px = 0, py = 0, pz = 0;
  for (int i = 0; i < 27; ++i) m += out[i][0], px += out[i][1], py += out[i][2], pz += out[i][3];
  CHECK(fabs(m - 2) < 1e-13 && fabs(px - 0.6) < 1e-13 && fabs(py + 1.4) < 1e-13 && fabs(pz - 0.4) < 1e-13,
        "P2G conserves mass and momentum (%g, %g %g %g)", m, px, py, pz);
  /* with any PIC share too; and the share scales exactly the affine part: pic = 1 scatters w m v alone (the
   * weights' first moment about the particle vanishes, so the affine part only moves momentum between nodes) */
  real out1[27][4], out0[27][4], outh[27][4];
  k.g.pic_blend = 1;
  mpm_p2g_particle(&k.g, MPM_FIXED_COROTATED, mpm_mparams_zero(), 2.0, 1e-4, 1e-3, v3_make(0.41, 0.52, 0.37),
                   v3_make(0.3, -0.7, 0.2), C, m3_identity(), base, out1);
  k.g.pic_blend = RC(0.5);
  mpm_p2g_particle(&k.g, MPM_FIXED_COROTATED, mpm_mparams_zero(), 2.0, 1e-4, 1e-3, v3_make(0.41, 0.52, 0.37),
                   v3_make(0.3, -0.7, 0.2), C, m3_identity(), base, outh);
  k.g.pic_blend = 0;
  mpm_p2g_particle(&k.g, MPM_FIXED_COROTATED, mpm_mparams_zero(), 2.0, 1e-4, 1e-3, v3_make(0.41, 0.52, 0.37),
                   v3_make(0.3, -0.7, 0.2), C, m3_identity(), base, out0);
  double m1 = 0, p1x = 0, worst_half = 0;
  for (int i = 0; i < 27; ++i) {
    m1 += out1[i][0], p1x += out1[i][1];
    for (int c = 1; c < 4; ++c) worst_half = fmax(worst_half, fabs(outh[i][c] - 0.5 * (out0[i][c] + out1[i][c])));
  }
  CHECK(fabs(m1 - 2) < 1e-13 && fabs(p1x - 0.6) < 1e-13, "PIC (pic_blend = 1) conserves mass and momentum (%g, %g)",
        m1, p1x);
  CHECK(worst_half < 1e-13, "pic_blend = 0.5 is the mean of APIC and PIC node by node (worst %.2g)", worst_half);
  /* the share for material at rest: a particle faster than v0 scatters APIC exactly; one at half of v0 with the
   * share 1 scatters as the share 0.5 does */
  real outr[27][4];
  const v3 vp = v3_make(0.3, -0.7, 0.2);
  k.g.pic_blend = 1;
  k.g.pic_rest_speed = RC(0.5) * v3_norm(vp);
  mpm_p2g_particle(&k.g, MPM_FIXED_COROTATED, mpm_mparams_zero(), 2.0, 1e-4, 1e-3, v3_make(0.41, 0.52, 0.37), vp, C,
                   m3_identity(), base, outr);
  double worst_fast = 0, worst_rest = 0;
  for (int i = 0; i < 27; ++i)
    for (int c = 0; c < 4; ++c) worst_fast = fmax(worst_fast, fabs(outr[i][c] - out0[i][c]));
  k.g.pic_rest_speed = RC(2.0) * v3_norm(vp);
  mpm_p2g_particle(&k.g, MPM_FIXED_COROTATED, mpm_mparams_zero(), 2.0, 1e-4, 1e-3, v3_make(0.41, 0.52, 0.37), vp, C,
                   m3_identity(), base, outr);
  for (int i = 0; i < 27; ++i)
    for (int c = 0; c < 4; ++c) worst_rest = fmax(worst_rest, fabs(outr[i][c] - outh[i][c]));
  k.g.pic_blend = 0;
  k.g.pic_rest_speed = 0;
  CHECK(worst_fast == 0, "a particle faster than pic_rest_speed scatters APIC exactly (worst %.2g)", worst_fast);
  CHECK(worst_rest < 1e-13, "a particle at half of pic_rest_speed scatters half the share (worst %.2g)", worst_rest);
}

static void test_g2p(void) {
  struct {
    const char *name;
    int model;
    double scale; /* of the velocity field (sets the strain of the step) */
    double q;
    int branch;
    double s0, s1, s2, yield;
  } cs[] = {
      {"G2P corotated", MPM_FIXED_COROTATED, 1, 0, MPM_BRANCH_ELASTIC, 1.05, 0.95, 0.9, 20},
      {"G2P von Mises, yielding", MPM_STVK_VON_MISES, 40, 0, MPM_BRANCH_YIELD, 1.05, 0.95, 0.9, 20},
      {"G2P von Mises, elastic", MPM_STVK_VON_MISES, 1, 0, MPM_BRANCH_ELASTIC, 1.05, 0.95, 0.9, 40},
      {"G2P sand, yielding", MPM_DRUCKER_PRAGER, 40, 0, MPM_BRANCH_YIELD, 1.25, 0.9, 0.8, 20},
      {"G2P sand, elastic", MPM_DRUCKER_PRAGER, 1, 0, MPM_BRANCH_ELASTIC, 0.96, 0.95, 0.94, 20},
      {"G2P sand, apex", MPM_DRUCKER_PRAGER, 40, 0.2, MPM_BRANCH_APEX, 1.0, 0.93, 0.9, 20},
      {"G2P fluid", MPM_NEWTONIAN_FLUID, 3, 0, MPM_BRANCH_ELASTIC, 1, 1, 1, 20},
      /* mu(I) (mui_delta 0.26, I0 0.279, d sqrt(rho_s) 0.02: I ~ 0.3 here): the cone slope depends on C and F */
      {"G2P sand, yielding, mu(I)", MPM_DRUCKER_PRAGER, 40, 0, MPM_BRANCH_YIELD, 1.25, 0.9, 0.8, 20},
  };
  for (int i = 0; i < (int)(sizeof cs / sizeof cs[0]); ++i) {
    kctx k;
    memset(&k, 0, sizeof k);
    k.g = test_grid();
    k.model = cs[i].model;
    k.dt = 1e-3;
    double x[G2P_NIN];
    v3 xp = v3_make(0.41, 0.523, 0.37);
    v3_store(xp, x);
    m3 F = with_sv(cs[i].s0, cs[i].s1, cs[i].s2);
    if (k.model == MPM_NEWTONIAN_FLUID) F = m3_scalar(0.97);
    m3_store(F, x + 3);
    x[12] = cs[i].q;
    /* a smooth velocity field: shear-dominated deformation rate L */
    m3 L = m3_scale(m3_make(0.5, 2.0, -0.3, 0.1, -0.4, 0.8, 0.6, -0.2, 0.1), cs[i].scale);
    mpm_stencil s = mpm_stencil_of(&k.g, xp);
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b)
        for (int c = 0; c < 3; ++c) {
          v3 xi = v3_make((s.base[0] + a) * k.g.dx, (s.base[1] + b) * k.g.dx, (s.base[2] + c) * k.g.dx);
          v3 vi = v3_add(v3_make(0.2, -0.5, 0.1), m3_mul_v(L, v3_sub(xi, xp)));
          vi = v3_add(vi, v3_make(0.01 * sin(7.0 * (a + 2 * b + 3 * c)), 0.01 * cos(5.0 * (a + b)), 0.01 * sin(3.0 * c)));
          v3_store(vi, x + 13 + 3 * (9 * a + 3 * b + c));
        }
    int mui = strstr(cs[i].name, "mu(I)") != NULL;
    g_mui_dalpha = mui ? sqrt(2.0) * 0.26 / 3 : 0, g_mui_i0 = mui ? 0.279 : 0, g_mui_scale = mui ? 0.02 : 0;
    mpm_mparams p = mpm_mparams_zero();
    p.mu = 100, p.lambda = 150, p.yield_stress = cs[i].yield, p.viscosity = 0, p.alpha = 0.4, p.bulk = 300;
    mp_store(p, x + 94);
    p = mp_load(x + 94);
    /* the branch of the trial F (with mu(I), at the step's cone slope) */
    double y[G2P_NOUT];
    f_g2p(x, y, &k);
    m3 C = m3_load(y + 6);
    m3 Ft = m3_mul(m3_axpy(m3_identity(), k.dt, C), F);
    mpm_mparams pe = p;
    pe.alpha = mpm_mui_alpha(p, C, Ft);
    int br = mpm_plastic_branch(k.model, Ft, (real)cs[i].q, pe);
    CHECK(br == cs[i].branch, "%s: trial branch %d, expected %d", cs[i].name, br, cs[i].branch);
    if (mui) {
      mpm_mui_state ms = mpm_mui_eval(p, C, Ft);
      printf("  mu(I) case: shear rate %.3g 1/s, pressure %.3g, I = %.3g, cone slope %.4f -> %.4f\n", (double)ms.gdot,
             (double)ms.p, (double)ms.I, (double)p.alpha, (double)pe.alpha);
      CHECK(ms.I > 0.05 && ms.I < 5 && pe.alpha > p.alpha, "mu(I): I = %g should raise the slope", (double)ms.I);
    }
    check("G2P per particle", cs[i].name, f_g2p, v_g2p, &k, x, G2P_NIN, G2P_NOUT);
    g_mui_dalpha = g_mui_i0 = g_mui_scale = 0;
  }
}


/* mu(I)'s cone slope alone (mpm_mui_alpha): x = C(9) Ft(9) lambda mu alpha -> alpha_eff, with every path checked
 * by itself (inside the G2P check the C path's share of the gradient is below its tolerance). */
static void f_mui(const double *x, double *y, void *c) {
  (void)c;
  mpm_mparams p = mpm_mparams_zero();
  p.lambda = (real)x[18], p.mu = (real)x[19], p.alpha = (real)x[20];
  p.mui_dalpha = (real)(sqrt(2.0) * 0.26 / 3), p.mui_i0 = (real)0.279, p.mui_scale = (real)0.02;
  y[0] = mpm_mui_alpha(p, m3_load(x), m3_load(x + 9));
}
static void v_mui(const double *x, const double *vy, double *vx, void *c) {
  (void)c;
  mpm_mparams p = mpm_mparams_zero(), vp = mpm_mparams_zero();
  p.lambda = (real)x[18], p.mu = (real)x[19], p.alpha = (real)x[20];
  p.mui_dalpha = (real)(sqrt(2.0) * 0.26 / 3), p.mui_i0 = (real)0.279, p.mui_scale = (real)0.02;
  m3 vC = m3_load(vx), vF = m3_load(vx + 9); /* the harness checks that the vjp accumulates */
  vp.lambda = (real)vx[18], vp.mu = (real)vx[19];
  mpm_mui_alpha_vjp(p, m3_load(x), m3_load(x + 9), (real)vy[0], &vC, &vF, &vp);
  m3_store(vC, vx);
  m3_store(vF, vx + 9);
  vx[18] = vp.lambda, vx[19] = vp.mu, vx[20] += vy[0]; /* alpha passes through */
}
static void test_mui(void) {
  const struct {
    const char *name;
    double sv[3], rate; /* F's singular values; C's scale (I ~ 0.3-0.4 in both) */
  } cs[] = {{"mu(I) cone slope, compressed (p from F)", {0.98, 0.97, 0.96}, 1},
            {"mu(I) cone slope, in tension (p at its floor)", {1.02, 1.01, 1.0}, 0.01}};
  for (int i = 0; i < 2; ++i) {
    double x[21];
    m3_store(m3_scale(m3_make(0.5, 20.0, -3.0, 1.0, -4.0, 8.0, 6.0, -2.0, 1.0), cs[i].rate), x); /* C (1/s) */
    m3_store(with_sv(cs[i].sv[0], cs[i].sv[1], cs[i].sv[2]), x + 9);
    x[18] = 150, x[19] = 100, x[20] = 0.4;
    double y;
    f_mui(x, &y, NULL);
    CHECK(y > 0.4 && y < 0.4 + sqrt(2.0) * 0.26 / 3, "%s: slope %g outside (alpha, alpha + dalpha)", cs[i].name, y);
    check("mu(I) cone slope", cs[i].name, f_mui, v_mui, NULL, x, 21, 1);
  }
  /* at rest (C = 0) the static slope, exactly */
  mpm_mparams p = mpm_mparams_zero();
  p.lambda = 150, p.mu = 100, p.alpha = RC(0.4), p.mui_dalpha = RC(0.1), p.mui_i0 = RC(0.279), p.mui_scale = RC(0.02);
  CHECK(mpm_mui_alpha(p, m3_zero(), with_sv(0.98, 0.97, 0.96)) == p.alpha, "mu(I) at rest is the static cone");
}

/* A collider surface exactly on a row of grid nodes (tiny.cfg's floor y = 0.15 = 3 dx with dx = 0.05) is inside
 * whatever the rounding of origin + j dx and of the surface's position: the same in float and double. Before the
 * tolerance, double put the node 3e-17 above the plane (outside) and float 4e-9 below (inside). */
static void test_collider_on_grid_row(void) {
  const double dxs[3] = {0.05, 0.1, 1.0 / 48}, origins[3] = {0, -0.3, 0.1};
  for (int q = 0; q < 3; ++q)
    for (int o = 0; o < 3; ++o)
      for (int j = 1; j < 12; ++j) {
        mpm_kgrid g = test_grid();
        g.wall_cells = 0;
        g.dx = dxs[q];
        g.inv_dx = 1 / dxs[q];
        g.origin = v3_make(origins[o], origins[o], origins[o]);
        mpm_kcollider cols[4];
        memset(cols, 0, sizeof cols);
        double row = origins[o] + j * dxs[q];  /* the plane as a scene file would write it */
        char txt[64];
        snprintf(txt, sizeof txt, "%.6g", row);
        double written = strtod(txt, NULL);
        cols[0].shape = MPM_COLLIDER_PLANE;
        cols[0].center = v3_make(0, written, 0);
        cols[0].normal = v3_make(0, 1, 0);
        cols[1].shape = MPM_COLLIDER_SPHERE; /* a sphere whose surface passes through the node */
        cols[1].center = v3_make(origins[o] + 2 * dxs[q], origins[o] + j * dxs[q] - 0.3 * dxs[q], origins[o] + 4 * dxs[q]);
        cols[1].half = v3_make(0, 0, 0);
        cols[1].half.x = sqrt(4 * dxs[q] * dxs[q] + 0.09 * dxs[q] * dxs[q]);
        v3 nrm[MPM_MAX_CONTACTS], vel[MPM_MAX_CONTACTS];
        int type[MPM_MAX_CONTACTS], fidx[MPM_MAX_CONTACTS];
        real mu[MPM_MAX_CONTACTS];
        int cnt = mpm_node_contacts(&g, cols, 1, 4, j, 4, 0, nrm, vel, type, mu, fidx);
        CHECK(cnt == 1, "plane y = %s on node row %d (dx %g, origin %g): node counted %s", txt, j, dxs[q], origins[o],
              cnt ? "inside" : "outside");
        cnt = mpm_node_contacts(&g, cols + 1, 1, 4, j, 4, 0, nrm, vel, type, mu, fidx);
        CHECK(cnt == 1, "sphere through node (4, %d, 4) (dx %g): counted outside", j, dxs[q]);
        /* a node a tenth of a cell above the plane stays outside */
        cols[0].center = v3_make(0, written - 0.1 * dxs[q], 0);
        cnt = mpm_node_contacts(&g, cols, 1, 4, j, 4, 0, nrm, vel, type, mu, fidx);
        CHECK(cnt == 0, "plane 0.1 dx below the node: counted inside");
      }
}

int main(void) {
  test_params();
  test_stress();
  test_energy();
  test_plastic();
  test_sand_apex_continuity();
  test_bspline();
  test_contact();
  test_collider_on_grid_row();
  test_grid_node();
  test_p2g();
  test_g2p();
  test_mui();
  printf("worst relative error of each vjp against central differences (double, Richardson):\n");
  for (int i = 0; i < g_nfam; ++i) printf("  %-24s %.2e\n", g_fam[i].family, g_fam[i].worst);
  return test_summary("test_mpm_kernels");
}
