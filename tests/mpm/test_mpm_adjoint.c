/* test_mpm_adjoint.c: the MPM adjoint (mpm/mpm_adjoint.h) against central finite differences in double precision.
 *
 *   substep   one substep, every material (elastic and each branch of each return map) and every collider type
 *             (sticky, slip, separate, with friction; plane, sphere, box, cylinder; the walls): the gradient with
 *             respect to every component of the initial x, v, C, F and every parameter the model uses, relative
 *             error <= 1e-6
 *   rollout   20 substeps over 2 frames with losses at both, every material: <= 1e-5
 *   scene     an elastic cube falling on a slip floor with friction beside a plasticine cube, loss on x at two
 *             frames and on F at the last: every material parameter of both, gravity, both frictions, each
 *             object's initial velocity and angular velocity, per-particle E and nu: <= 1e-4
 *   rest      F = I at rest and an isotropic stretch: the gradients are finite (and match finite differences)
 *   apex      Drucker-Prager with cohesion at the cone's apex under per-particle moduli: the apex uses the
 *             particle's own bulk modulus (forward), and its gradients match finite differences: <= 1e-6
 *
 * Usage: test_mpm_adjoint CASE [--small]   (--small: fewer particles checked, for the sanitizer build) */
#include "core/log.h"
#include "tests/mpm/adjoint_harness.h"

#ifndef PL_REAL_DOUBLE
#error "test_mpm_adjoint is built against the double-precision library"
#endif

static int g_small = 0;

/* h for the initial state fields x, v, C, F */
static const double g_hstate[4] = {1e-5, 1e-5, 1e-4, 1e-5};

static void perturb_state(ah_scene *sc, double vs, double cs, double fs, double fbias) {
  for (int64_t p = 0; p < sc->p.n; ++p) {
    for (int a = 0; a < 3; ++a) sc->p.v[3 * p + a] += vs * test_rand();
    for (int a = 0; a < 9; ++a) sc->p.C[9 * p + a] = cs * test_rand();
    for (int a = 0; a < 9; ++a) sc->p.F[9 * p + a] = (a % 4 == 0 ? fbias : 0) + fs * test_rand();
  }
}

/* Which material parameters a model uses (the others must get exactly zero). */
static int model_uses(int model, int k) {
  switch (k) {
    case AH_DENSITY: return 1;
    case AH_E:
    case AH_NU: return model != MPM_NEWTONIAN_FLUID;
    case AH_YIELD: return model == MPM_STVK_VON_MISES || model == MPM_VISCOPLASTIC;
    case AH_VISC: return model == MPM_STVK_VON_MISES || model == MPM_VISCOPLASTIC || model == MPM_NEWTONIAN_FLUID;
    case AH_PHI:
    case AH_COH: return model == MPM_DRUCKER_PRAGER;
    case AH_BULK: return model == MPM_NEWTONIAN_FLUID;
  }
  return 0;
}

typedef struct {
  const char *name;
  double worst;
} famrec;
static famrec g_rec[64];
static int g_nrec = 0;
static void record(const char *fam, double e) {
  for (int i = 0; i < g_nrec; ++i)
    if (!strcmp(g_rec[i].name, fam)) {
      if (!(e <= g_rec[i].worst)) g_rec[i].worst = e;
      return;
    }
  g_rec[g_nrec].name = fam;
  g_rec[g_nrec++].worst = e;
}

/* Check the gradient of every input: the initial state (all components), each used material parameter of each
 * material, gravity, the collider and wall frictions. */
static void check_all(const char *fam, const char *name, ah_scene *sc, double tol, int check_state) {
  mpm_grads g;
  double L;
  mpm_sim *tmp = NULL;
  CHECK(mpm_create(&tmp, &sc->d, &sc->p, NULL, 0) == PL_OK, "%s: init: %s", name, pl_last_error());
  CHECK(mpm_grads_alloc(&g, tmp) == PL_OK, "grads");
  mpm_destroy(tmp);
  pl_status st = ah_run_scene(sc, &L, &g);
  CHECK(st == PL_OK, "%s: %s", name, pl_last_error());
  if (st != PL_OK) {
    mpm_grads_free(&g);
    return;
  }
  double worst = 0;
  char what[64] = "";
  /* initial state */
  if (check_state)
    for (int k = 0; k < 4; ++k) {
      double e = ah_check_state_field(sc, &g, k, g_hstate[k], g_small ? 7 : 1);
      if (!(e <= worst)) worst = e, snprintf(what, sizeof what, "%s", ah_field_name(k));
      CHECK(e <= tol, "%s: d/d%s relative error %.3e > %.1e", name, ah_field_name(k), e, tol);
    }
  /* a loss scale for the floors of parameters the loss hardly depends on */
  double Ls = fabs(L) + 1e-3;
  for (int m = 0; m < sc->d.nmaterials; ++m)
    for (int k = 0; k < AH_NMATPAR; ++k) {
      double *v = ah_matpar(sc, m, k);
      double a = ah_grad_matpar(&g, m, k);
      if (!model_uses(sc->mats[m].model, k)) {
        CHECK(a == 0, "%s: material %d (%s) does not use %s but its gradient is %g", name, m,
              mpm_model_name(sc->mats[m].model), ah_matpar_name(k), a);
        continue;
      }
      if (k == AH_VISC && *v == 0) continue; /* eta >= 0: one-sided there */
      double h = (k == AH_VISC ? 1e-3 : 1e-4) * fabs(*v); /* the loss hardly depends on eta in a few substeps */
      double fd = ah_fd_double(sc, v, h, k == AH_DENSITY);
      double e = fabs(a - fd) / fmax(fmax(fabs(a), fabs(fd)), 1e-9 * Ls / fabs(*v));
      if (!(e <= worst)) worst = e, snprintf(what, sizeof what, "material %d %s", m, ah_matpar_name(k));
      if (getenv("AH_VERBOSE")) printf("    m%d %s adj %.12e fd %.12e rel %.2e\n", m, ah_matpar_name(k), a, fd, e);
      CHECK(e <= tol, "%s: material %d d/d%s: adjoint %.10e, fd %.10e (rel %.2e)", name, m, ah_matpar_name(k), a, fd, e);
    }
  for (int a = 0; a < 3; ++a) {
    double fd = ah_fd_double(sc, &sc->d.gravity[a], 1e-3, 0);
    double e = fabs(g.gravity[a] - fd) / fmax(fmax(fabs(g.gravity[a]), fabs(fd)), 1e-9 * Ls);
    if (!(e <= worst)) worst = e, snprintf(what, sizeof what, "gravity %c", "xyz"[a]);
    CHECK(e <= tol, "%s: d/dgravity.%c: adjoint %.10e, fd %.10e (rel %.2e)", name, "xyz"[a], g.gravity[a], fd, e);
  }
  for (int w = 0; sc->d.per_wall_friction && w < 6; ++w) { /* each wall's own coefficient */
    double *mu = &sc->d.wall_frictions[w];
    int type = sc->d.per_wall ? sc->d.wall_types[w] : sc->d.boundary;
    if (*mu == 0 || type == MPM_CONTACT_STICKY) continue;
    /* a step of 1e-3 mu: the x min wall's gradient (1.6e-5) is small against the loss, and the difference's
     * rounding noise dominates at 1e-4 (3e-6 relative there; 6e-7 at 1e-3, 3e-5 at 1e-5, 5e-4 at 1e-6: the
     * error grows as the step shrinks, rounding, not the adjoint) */
    double fd = ah_fd_double(sc, mu, 1e-3 * *mu, 0);
    double e = fabs(g.wall_friction[w] - fd) / fmax(fmax(fabs(g.wall_friction[w]), fabs(fd)), 1e-9 * Ls);
    if (!(e <= worst)) worst = e, snprintf(what, sizeof what, "friction of the %s wall", mpm_wall_name(w));
    CHECK(e <= tol, "%s: d/dfriction of the %s wall: adjoint %.10e, fd %.10e (rel %.2e)", name, mpm_wall_name(w),
          g.wall_friction[w], fd, e);
  }
  for (int c = 0; c <= sc->d.ncolliders - (sc->d.per_wall_friction ? 1 : 0); ++c) {
    double *mu = c < sc->d.ncolliders ? &sc->cols[c].friction : &sc->d.boundary_friction;
    double a = c < sc->d.ncolliders ? g.collider_friction[c] : g.boundary_friction;
    int type = c < sc->d.ncolliders ? sc->cols[c].type : sc->d.boundary;
    if (*mu == 0 || type == MPM_CONTACT_STICKY) continue;
    double fd = ah_fd_double(sc, mu, 1e-4 * *mu, 0);
    double e = fabs(a - fd) / fmax(fmax(fabs(a), fabs(fd)), 1e-9 * Ls);
    if (!(e <= worst)) worst = e, snprintf(what, sizeof what, "friction %d", c);
    CHECK(e <= tol, "%s: d/dfriction[%d]: adjoint %.10e, fd %.10e (rel %.2e)", name, c, a, fd, e);
  }
  printf("  %-52s n %4lld  worst rel.err %.2e (%s)\n", name, (long long)sc->p.n, worst, what);
  record(fam, worst);
  mpm_grads_free(&g);
}

/* ------------------------------------------------------------------ one substep */

static void substep_scene(ah_scene *sc, int model, double cx, double cy, double cz, double size, int ppc) {
  ah_init(sc);
  sc->mats[0] = ah_material(model);
  sc->d.nmaterials = 1;
  sc->d.gravity[1] = -9.8;
  sc->d.substeps = 1;
  sc->d.frame_dt = 2e-3;
  sc->d.boundary = MPM_CONTACT_SLIP;
  sc->d.boundary_friction = 0.3;
  mpm_object o = tu_box(cx, cy, cz, size, size, size, 0);
  o.particles_per_cell = ppc;
  o.velocity[0] = 0.4, o.velocity[1] = -1.0, o.velocity[2] = 0.2;
  ah_sample(sc, &o, 1);
}

static void test_substep(void) {
  printf("one substep (relative error limit 1e-6):\n");
  struct {
    const char *name;
    int model;
    double yield, fbias, fs, eta;
  } mc[] = {
      {"fixed corotated", MPM_FIXED_COROTATED, 300, 1.0, 0.08, 0.5},
      {"neo-Hookean", MPM_NEO_HOOKEAN, 300, 1.0, 0.08, 0.5},
      {"von Mises, elastic branch", MPM_STVK_VON_MISES, 1e5, 1.0, 0.05, 0.5},
      {"von Mises, yield branch", MPM_STVK_VON_MISES, 100, 1.0, 0.1, 0.5},
      {"von Mises, rate independent", MPM_STVK_VON_MISES, 100, 1.0, 0.1, 0},
      {"viscoplastic, yield branch", MPM_VISCOPLASTIC, 100, 1.0, 0.1, 2.0},
      {"Drucker-Prager, yield branch", MPM_DRUCKER_PRAGER, 0, 0.93, 0.12, 0},
      {"Drucker-Prager, apex branch", MPM_DRUCKER_PRAGER, 0, 1.08, 0.02, 0},
      {"Drucker-Prager, elastic branch", MPM_DRUCKER_PRAGER, 0, 0.97, 0.005, 0},
      {"Newtonian fluid", MPM_NEWTONIAN_FLUID, 0, 1.0, 0.0, 0.5},
  };
  for (int i = 0; i < (int)(sizeof mc / sizeof mc[0]); ++i) {
    ah_scene sc;
    substep_scene(&sc, mc[i].model, 0.5, 0.5, 0.5, g_small ? 0.1 : 0.15, 2);
    if (mc[i].yield > 0) sc.mats[0].yield_stress = mc[i].yield;
    sc.mats[0].viscosity = mc[i].eta;
    perturb_state(&sc, 0.3, 1.0, mc[i].fs, mc[i].fbias);
    if (mc[i].model == MPM_NEWTONIAN_FLUID)
      for (int64_t p = 0; p < sc.p.n; ++p) {
        double J = 0.95 + 0.1 * (0.5 + 0.5 * test_rand());
        for (int a = 0; a < 9; ++a) sc.p.F[9 * p + a] = a % 4 == 0 ? cbrt(J) : 0;
      }
    double lscale[4] = {1, 0.1, 0.01, 1};
    int fr[1] = {1};
    ah_set_loss(&sc, 1, fr, lscale);
    int64_t cnt[3];
    double margin = ah_min_margin(&sc, cnt);
    int want = strstr(mc[i].name, "yield") ? MPM_BRANCH_YIELD : strstr(mc[i].name, "apex") ? MPM_BRANCH_APEX : -1;
    if (strstr(mc[i].name, "elastic branch")) want = MPM_BRANCH_ELASTIC;
    if (want >= 0) {
      CHECK(cnt[want] > 0, "%s: no particle on the intended branch (elastic %lld, yield %lld, apex %lld)", mc[i].name,
            (long long)cnt[0], (long long)cnt[1], (long long)cnt[2]);
      CHECK(margin > 1e-4, "%s: a particle is %.2e from a switching surface", mc[i].name, margin);
    }
    char nm[128];
    snprintf(nm, sizeof nm, "%s (elastic %lld, yield %lld, apex %lld)", mc[i].name, (long long)cnt[0],
             (long long)cnt[1], (long long)cnt[2]);
    check_all("substep: materials", nm, &sc, 1e-6, 1);
    ah_free(&sc);
  }
  /* colliders and walls, corotated: the body sits on (or inside) each collider shape */
  struct {
    const char *name;
    int shape, type;
    double friction;
  } cc[] = {
      {"plane, slip, friction 0.4", MPM_COLLIDER_PLANE, MPM_CONTACT_SLIP, 0.4},
      {"plane, slip, frictionless", MPM_COLLIDER_PLANE, MPM_CONTACT_SLIP, 0},
      {"plane, sticky", MPM_COLLIDER_PLANE, MPM_CONTACT_STICKY, 0},
      {"plane, separate, friction 0.3", MPM_COLLIDER_PLANE, MPM_CONTACT_SEPARATE, 0.3},
      {"sphere, separate, friction 0.2", MPM_COLLIDER_SPHERE, MPM_CONTACT_SEPARATE, 0.2},
      {"box (rotated), slip, friction 0.5", MPM_COLLIDER_BOX, MPM_CONTACT_SLIP, 0.5},
      {"cylinder (rotated), sticky", MPM_COLLIDER_CYLINDER, MPM_CONTACT_STICKY, 0},
      {"walls, separate, friction 0.3", -1, MPM_CONTACT_SEPARATE, 0.3},
      {"walls, sticky", -2, MPM_CONTACT_STICKY, 0},
      {"walls, separate, per-wall friction", -3, MPM_CONTACT_SEPARATE, 0.1},
  };
  for (int i = 0; i < (int)(sizeof cc / sizeof cc[0]); ++i) {
    ah_scene sc;
    if (cc[i].shape < 0)
      substep_scene(&sc, MPM_FIXED_COROTATED, 0.3, 0.28, 0.5, g_small ? 0.1 : 0.15, 2); /* into the wall band */
    else
      substep_scene(&sc, MPM_FIXED_COROTATED, 0.5, 0.5, 0.5, g_small ? 0.1 : 0.15, 2);
    perturb_state(&sc, 0.5, 1.0, 0.05, 1.0);
    if (cc[i].shape < 0) {
      sc.d.boundary = cc[i].type;
      sc.d.boundary_friction = cc[i].friction;
      sc.d.boundary_cells = 5;
      if (cc[i].shape == -3) { /* the floor 0.4, the x min wall 0.2, the others 0.1: each its own cotangent */
        sc.d.per_wall_friction = 1;
        for (int w = 0; w < 6; ++w) sc.d.wall_frictions[w] = 0.1;
        sc.d.wall_frictions[2] = 0.4, sc.d.wall_frictions[0] = 0.2;
      }
    } else {
      mpm_collider *c = &sc.cols[0];
      memset(c, 0, sizeof *c);
      c->shape = cc[i].shape;
      c->type = cc[i].type;
      c->friction = cc[i].friction;
      c->point[1] = 0.5, c->normal[0] = 0.3, c->normal[1] = 1, c->normal[2] = -0.2;
      c->center[0] = 0.52, c->center[1] = 0.4, c->center[2] = 0.47;
      c->radius = 0.14, c->height = 0.2;
      c->size[0] = 0.3, c->size[1] = 0.2, c->size[2] = 0.25;
      c->rotation[0] = 20, c->rotation[1] = -10, c->rotation[2] = 15;
      c->velocity[0] = 0.3, c->velocity[1] = 0.1;
      sc.d.ncolliders = 1;
    }
    double lscale[4] = {1, 0.1, 0.01, 1};
    int fr[1] = {1};
    ah_set_loss(&sc, 1, fr, lscale);
    check_all("substep: colliders", cc[i].name, &sc, 1e-6, 1);
    ah_free(&sc);
  }
}

/* ------------------------------------------------------------------ 20-substep rollout */

static void test_rollout(void) {
  printf("20-substep rollout, losses at frames 1 and 2 (limit 1e-5):\n");
  /* Each case keeps every particle-substep away from the return maps' switching surfaces (measured): the
   * plastic bodies start well past yield and are viscous enough (Perzyna factor k = 2 mu dt/(2 mu dt + eta)
   * ~ 0.05) to stay on the yield branch for all 20 substeps. Sand runs once per cone fit (the weaker plane-strain and
   * shear cones need a more compressed, less sheared start to keep its margin). */
  struct {
    int model;
    double eta, fs, fbias;
    int cone;
  } rc[8] = {{MPM_FIXED_COROTATED, 0.5, 0.03, 1.0, 0}, {MPM_NEO_HOOKEAN, 0.5, 0.03, 1.0, 0},
             {MPM_STVK_VON_MISES, 300, 0.1, 1.0, 0},    {MPM_DRUCKER_PRAGER, 0, 0.03, 0.97, MPM_DP_CONE_COMPRESSION},
             {MPM_DRUCKER_PRAGER, 0, 0.01, 0.95, MPM_DP_CONE_PLANE_STRAIN},
             {MPM_DRUCKER_PRAGER, 0, 0.01, 0.95, MPM_DP_CONE_SHEAR},
             {MPM_NEWTONIAN_FLUID, 0.5, 0, 1.0, 0},     {MPM_VISCOPLASTIC, 300, 0.1, 1.0, 0}};
  const char *cone_names[3] = {", shear cone", ", plane-strain cone", ", compression cone"}; /* MPM_DP_CONE_* */
  for (int i = 0; i < 8; ++i) {
    ah_scene sc;
    ah_init(&sc);
    sc.mats[0] = ah_material(rc[i].model);
    sc.mats[0].viscosity = rc[i].eta;
    sc.mats[0].dp_cone = rc[i].cone;
    sc.d.nmaterials = 1;
    sc.d.gravity[1] = -9.8;
    sc.d.frame_dt = 1e-2;
    sc.d.substeps = 10;
    sc.frames = 2;
    sc.d.boundary = MPM_CONTACT_SLIP;
    sc.d.boundary_friction = 0.3;
    sc.td.checkpoint_every = 3; /* segments that straddle the frame boundary */
    /* a plane collider with friction under the body */
    mpm_collider *c = &sc.cols[0];
    memset(c, 0, sizeof *c);
    c->shape = MPM_COLLIDER_PLANE, c->type = MPM_CONTACT_SEPARATE, c->friction = 0.3;
    c->point[1] = 0.36, c->normal[0] = 0.1, c->normal[1] = 1;
    sc.d.ncolliders = 1;
    mpm_object o = tu_box(0.5, 0.45, 0.5, g_small ? 0.1 : 0.15, 0.15, g_small ? 0.1 : 0.15, 0);
    o.particles_per_cell = 2;
    o.velocity[1] = -1.5, o.velocity[0] = 0.3;
    o.angular_velocity[1] = 2;
    ah_sample(&sc, &o, 1);
    perturb_state(&sc, 0.1, 0.5, rc[i].fs, rc[i].fbias);
    if (rc[i].model == MPM_NEWTONIAN_FLUID)
      for (int64_t p = 0; p < sc.p.n; ++p)
        for (int a = 0; a < 9; ++a) sc.p.F[9 * p + a] = a % 4 == 0 ? 1 : 0;
    double lscale[4] = {1, 0.1, 0.01, 1};
    int fr[2] = {1, 2};
    ah_set_loss(&sc, 2, fr, lscale);
    int64_t cnt[3];
    double margin = ah_min_margin(&sc, cnt);
    char nm[160];
    snprintf(nm, sizeof nm, "%s%s (elastic %lld, yield %lld, apex %lld; margin %.1e)", mpm_model_name(rc[i].model),
             rc[i].model != MPM_DRUCKER_PRAGER ? "" : cone_names[rc[i].cone],
             (long long)cnt[0], (long long)cnt[1], (long long)cnt[2], margin);
    CHECK(margin > 2e-5, "%s: a particle-substep lies %.1e from a switching surface: choose another state", nm, margin);
    if (rc[i].model == MPM_STVK_VON_MISES || rc[i].model == MPM_VISCOPLASTIC)
      CHECK(cnt[MPM_BRANCH_YIELD] > 0, "%s: never yields", nm);
    check_all("rollout (20 substeps)", nm, &sc, 1e-5, 1);
    ah_free(&sc);
  }
}

/* ------------------------------------------------------------------ full scene */

/* Add h to component a of object ob's initial velocity (kind 0) or angular velocity (kind 1) in the particles:
 * v_p += h e_a, or v_p += h e_a x (x_p - c). */
static void shift_velocity(ah_scene *sc, const mpm_object *obj, int ob, int kind, int a, double h) {
  for (int64_t p = 0; p < sc->p.n; ++p) {
    if (sc->p.object[p] != ob) continue;
    v3 e = v3_zero();
    v3_set(&e, a, 1);
    v3 dv = kind == 0 ? e
                      : v3_cross(e, v3_sub(v3_load(sc->p.x + 3 * p),
                                           v3_make(obj->center[0], obj->center[1], obj->center[2])));
    v3_store(v3_axpy(v3_load(sc->p.v + 3 * p), h, dv), sc->p.v + 3 * p);
  }
}

static void test_scene(void) {
  printf("full scene: elastic cube on a slip floor with friction beside a plasticine cube (limit 1e-4):\n");
  ah_scene sc;
  ah_init(&sc);
  sc.mats[0] = ah_material(MPM_FIXED_COROTATED);
  sc.mats[0].name = "jelly";
  sc.mats[0].E = 3e4, sc.mats[0].nu = 0.25, sc.mats[0].density = 800;
  sc.mats[1] = ah_material(MPM_STVK_VON_MISES);
  sc.mats[1].name = "clay";
  sc.mats[1].E = 5e4, sc.mats[1].nu = 0.35, sc.mats[1].density = 1500, sc.mats[1].yield_stress = 1500,
  sc.mats[1].viscosity = 2;
  sc.d.nmaterials = 2;
  sc.d.grid = 20;
  sc.d.gravity[1] = -9.8;
  sc.d.gravity[0] = 0.5;
  sc.d.frame_dt = 1.0 / 60;
  sc.d.substeps = 8;
  sc.frames = 4;
  sc.d.boundary = MPM_CONTACT_SLIP;
  sc.d.boundary_friction = 0.2;
  mpm_collider *c = &sc.cols[0];
  memset(c, 0, sizeof *c);
  c->name = "floor";
  c->shape = MPM_COLLIDER_PLANE, c->type = MPM_CONTACT_SLIP, c->friction = 0.4;
  c->point[1] = 0.2999, c->normal[1] = 1; /* just below the node row at 6 dx: that row is outside */
  sc.d.ncolliders = 1;
  mpm_object o[2];
  o[0] = tu_box(0.38, 0.4, 0.5, 0.15, 0.12, 0.15, 0);
  o[0].particles_per_cell = g_small ? 1 : 8;
  o[0].velocity[0] = 0.5, o[0].velocity[1] = -1.2;
  o[0].angular_velocity[2] = 2;
  o[1] = tu_box(0.62, 0.4, 0.5, 0.12, 0.12, 0.12, 1);
  o[1].particles_per_cell = g_small ? 1 : 8;
  o[1].velocity[0] = -0.4, o[1].velocity[1] = -1.0;
  o[1].angular_velocity[0] = 1.5;
  ah_sample(&sc, o, 2);
  /* loss: w . x at frames 2 and 4, M : F at frame 4 */
  double sx[4] = {1, 0, 0, 0}, sf[4] = {0, 0, 0, 1};
  int f24[2] = {2, 4};
  ah_set_loss(&sc, 2, f24, sx);
  { /* the F term joins the frame-4 weights */
    real *WF = (real *)malloc((size_t)sc.p.n * 9 * sizeof(real));
    for (int64_t i = 0; i < sc.p.n * 9; ++i) WF[i] = (real)(sf[3] * test_rand());
    free(sc.W[1][3]);
    sc.W[1][3] = WF;
  }
  int64_t cnt[3];
  double margin = ah_min_margin(&sc, cnt);
  printf("  %lld particles, %d frames x %d substeps; plasticine particle-substeps elastic %lld, yield %lld (margin %.1e)\n",
         (long long)sc.p.n, sc.frames, sc.d.substeps, (long long)cnt[0], (long long)cnt[1], margin);
  CHECK(cnt[1] > 0, "the plasticine never yields: the yield stress gradient is not exercised");
  CHECK(margin > 2e-5, "a particle-substep lies %.1e from the yield surface: choose another scene", margin);
  check_all("full scene: materials, gravity, friction", "two materials, floor, walls", &sc, 1e-4, 0);

  /* each object's initial velocity and angular velocity: v_p = v + w x (x_p - c) */
  mpm_grads g;
  mpm_sim *s = NULL;
  double L;
  CHECK(mpm_create(&s, &sc.d, &sc.p, NULL, 0) == PL_OK, "init");
  mpm_grads_alloc(&g, s);
  mpm_destroy(s);
  CHECK(ah_run_scene(&sc, &L, &g) == PL_OK, "%s", pl_last_error());
  double worst = 0;
  for (int ob = 0; ob < 2; ++ob)
    for (int kind = 0; kind < 2; ++kind)
      for (int a = 0; a < 3; ++a) {
        /* adjoint: dL/dv_obj = sum v0_p; dL/dw = sum (x_p - c) x v0_p */
        double adj = 0;
        for (int64_t p = 0; p < sc.p.n; ++p) {
          if (sc.p.object[p] != ob) continue;
          v3 gv = v3_load(g.v0 + 3 * p);
          if (kind == 0) adj += v3_get(gv, a);
          else {
            v3 r = v3_sub(v3_load(sc.p.x + 3 * p), v3_make(o[ob].center[0], o[ob].center[1], o[ob].center[2]));
            adj += v3_get(v3_cross(r, gv), a);
          }
        }
        double d[2], h = 1e-4;
        for (int rr = 0; rr < 2; ++rr) {
          double hh = rr == 0 ? h : h / 2, lp = 0, lm = 0;
          for (int sgn = -1; sgn <= 1; sgn += 2) {
            shift_velocity(&sc, &o[ob], ob, kind, a, sgn * hh);
            double l = ah_loss(&sc);
            if (sgn < 0) lm = l;
            else lp = l;
            shift_velocity(&sc, &o[ob], ob, kind, a, -sgn * hh);
          }
          d[rr] = (lp - lm) / (2 * hh);
        }
        double fd = (4 * d[1] - d[0]) / 3;
        double e = fabs(adj - fd) / fmax(fmax(fabs(adj), fabs(fd)), 1e-9 * (fabs(L) + 1e-3));
        if (e > worst) worst = e;
        CHECK(e <= 1e-4, "object %d d/d%s->%c: adjoint %.10e, fd %.10e (rel %.2e)", ob, kind ? "angular_velocity" : "velocity",
              "xyz"[a], adj, fd, e);
      }
  printf("  %-52s worst rel.err %.2e\n", "objects' initial velocity and angular velocity", worst);
  record("full scene: object velocities", worst);

  /* per-particle E and nu (a heterogeneous jelly): a sample of particles */
  sc.pE = (double *)malloc((size_t)sc.p.n * sizeof(double));
  sc.pnu = (double *)malloc((size_t)sc.p.n * sizeof(double));
  for (int64_t p = 0; p < sc.p.n; ++p) {
    sc.pE[p] = sc.mats[sc.p.material[p]].E * (1 + 0.3 * test_rand());
    sc.pnu[p] = sc.mats[sc.p.material[p]].nu + 0.05 * test_rand();
  }
  CHECK(ah_run_scene(&sc, &L, &g) == PL_OK, "%s", pl_last_error());
  int stride = g_small ? 97 : 13;
  int64_t cntp = 0;
  for (int64_t p = 0; p < sc.p.n; p += stride) cntp++;
  double *a = (double *)malloc((size_t)cntp * 2 * sizeof(double)), *b = (double *)malloc((size_t)cntp * 2 * sizeof(double));
  int64_t j = 0;
  for (int64_t p = 0; p < sc.p.n; p += stride, ++j) {
    a[2 * j] = g.particle_E[p] * sc.pE[p];
    b[2 * j] = ah_fd_double(&sc, &sc.pE[p], 1e-4 * sc.pE[p], 0) * sc.pE[p];
    a[2 * j + 1] = g.particle_nu[p];
    b[2 * j + 1] = ah_fd_double(&sc, &sc.pnu[p], 1e-4, 0);
  }
  double e = test_norm_err_d(a, b, 2 * cntp, TEST_NORM_L2, 1e-300, NULL);
  printf("  %-52s worst rel.err %.2e (%lld particles)\n", "per-particle E and nu", e, (long long)cntp);
  CHECK(e <= 1e-4, "per-particle E, nu: relative error %.3e", e);
  record("full scene: per-particle E, nu", e);
  /* with per-particle moduli on every particle, the material's E and nu act nowhere (the apex: case apex) */
  CHECK(g.E[0] == 0 && g.nu[0] == 0 && g.E[1] == 0 && g.nu[1] == 0, "material E/nu gradients with per-particle moduli");
  free(a);
  free(b);
  mpm_grads_free(&g);
  ah_free(&sc);
}

/* ------------------------------------------------------------------ Drucker-Prager apex, per-particle moduli */

/* Sand with cohesion stretched past the cone's apex, one substep. The apex's volumetric strain tr_apex =
 * c cot(phi) / K is divided by the bulk modulus K: with per-particle moduli (an E field) it is the particle's own K.
 *  1. a body whose every particle has E = 2 E_mat behaves as the material with E = 2 E_mat (the same state to
 *     1e-10; the apex read the material's K before);
 *  2. with random per-particle E and nu, their gradients and those of cohesion and friction angle match central
 *     differences (1e-6), and the material's E and nu get none (every particle has its own). */
static void test_apex_moduli(void) {
  printf("Drucker-Prager apex with cohesion and per-particle moduli (one substep):\n");
  ah_scene sc[2];
  real *last[2][4];
  for (int k = 0; k < 2; ++k) {
    substep_scene(&sc[k], MPM_DRUCKER_PRAGER, 0.5, 0.5, 0.5, g_small ? 0.1 : 0.15, 2);
    sc[k].mats[0].cohesion = 500; /* tr_apex = 500 cot 30 deg / K = 0.052 at E = 2e4, nu = 0.3 */
    g_test_rng = 0x5eed; /* both bodies start from the same perturbed state */
    perturb_state(&sc[k], 0.3, 1.0, 0.02, 1.08);
    double lscale[4] = {1, 0.1, 0.01, 1};
    int fr[1] = {1};
    ah_set_loss(&sc[k], 1, fr, lscale);
    for (int f = 0; f < 4; ++f) last[k][f] = sc[k].last[f] = (real *)malloc((size_t)sc[k].p.n * (size_t)ah_width[f] * sizeof(real));
  }
  /* 1. E field 2 E_mat everywhere == material 2 E_mat */
  const int64_t n = sc[0].p.n;
  sc[0].pE = (double *)malloc((size_t)n * sizeof(double));
  for (int64_t p = 0; p < n; ++p) sc[0].pE[p] = 2 * sc[0].mats[0].E;
  sc[1].mats[0].E = 2 * sc[0].mats[0].E;
  int64_t cnt[3];
  double margin = ah_min_margin(&sc[0], cnt);
  CHECK(cnt[MPM_BRANCH_APEX] > 0 && margin > 1e-4, "no particle at the apex (elastic %lld, yield %lld, apex %lld), margin %.1e",
        (long long)cnt[0], (long long)cnt[1], (long long)cnt[2], margin);
  double L[2];
  for (int k = 0; k < 2; ++k) CHECK(ah_run_scene(&sc[k], &L[k], NULL) == PL_OK, "%s", pl_last_error());
  double num = 0, den = 0;
  for (int f = 0; f < 4; ++f)
    for (int64_t i = 0; i < n * ah_width[f]; ++i) {
      double d = (double)last[0][f][i] - (double)last[1][f][i];
      num += d * d, den += (double)last[1][f][i] * (double)last[1][f][i];
    }
  double diff = sqrt(num / fmax(den, 1e-300));
  printf("  E field 2 E everywhere vs material 2 E: state difference %.2e (apex %lld of %lld particles)\n", diff,
         (long long)cnt[MPM_BRANCH_APEX], (long long)n);
  CHECK(diff <= 1e-10, "a per-particle E of 2 E_mat at the apex differs from the material's 2 E_mat by %.3e: the apex "
        "does not use the particle's own modulus", diff);
  /* 2. gradients with heterogeneous moduli */
  sc[0].pnu = (double *)malloc((size_t)n * sizeof(double));
  for (int64_t p = 0; p < n; ++p) {
    sc[0].pE[p] = sc[0].mats[0].E * (1 + 0.3 * test_rand());
    sc[0].pnu[p] = sc[0].mats[0].nu + 0.05 * test_rand();
  }
  margin = ah_min_margin(&sc[0], cnt);
  CHECK(cnt[MPM_BRANCH_APEX] > 0 && margin > 1e-4, "heterogeneous: no particle at the apex or margin %.1e", margin);
  mpm_grads g;
  mpm_sim *tmp = NULL;
  CHECK(mpm_create(&tmp, &sc[0].d, &sc[0].p, NULL, 0) == PL_OK, "init");
  mpm_grads_alloc(&g, tmp);
  mpm_destroy(tmp);
  CHECK(ah_run_scene(&sc[0], &L[0], &g) == PL_OK, "%s", pl_last_error());
  int stride = g_small ? 17 : 3;
  int64_t cntp = 0;
  for (int64_t p = 0; p < n; p += stride) cntp++;
  double *a = (double *)malloc((size_t)cntp * 2 * sizeof(double)), *b = (double *)malloc((size_t)cntp * 2 * sizeof(double));
  int64_t j = 0;
  for (int64_t p = 0; p < n; p += stride, ++j) {
    a[2 * j] = g.particle_E[p] * sc[0].pE[p];
    b[2 * j] = ah_fd_double(&sc[0], &sc[0].pE[p], 1e-5 * sc[0].pE[p], 0) * sc[0].pE[p];
    a[2 * j + 1] = g.particle_nu[p];
    b[2 * j + 1] = ah_fd_double(&sc[0], &sc[0].pnu[p], 1e-5, 0);
  }
  double e = test_norm_err_d(a, b, 2 * cntp, TEST_NORM_L2, 1e-300, NULL);
  printf("  %-52s rel.err %.2e (%lld particles)\n", "per-particle E and nu at the apex", e, (long long)cntp);
  CHECK(e <= 1e-6, "per-particle E, nu at the apex: relative error %.3e", e);
  record("apex: per-particle E, nu", e);
  const int ks[2] = {AH_COH, AH_PHI};
  for (int q = 0; q < 2; ++q) {
    double *v = ah_matpar(&sc[0], 0, ks[q]);
    double ad = ah_grad_matpar(&g, 0, ks[q]), fd = ah_fd_double(&sc[0], v, 1e-5 * fabs(*v), 0);
    double r = fabs(ad - fd) / fmax(fmax(fabs(ad), fabs(fd)), 1e-300);
    printf("  %-52s adjoint %.10e fd %.10e rel.err %.2e\n", ah_matpar_name(ks[q]), ad, fd, r);
    CHECK(ad != 0 && r <= 1e-6, "d/d%s at the apex with per-particle moduli: adjoint %.10e, fd %.10e (rel %.2e)",
          ah_matpar_name(ks[q]), ad, fd, r);
    record("apex: cohesion, friction angle", r);
  }
  CHECK(g.E[0] == 0 && g.nu[0] == 0, "the material's E, nu (replaced on every particle) get %g, %g", g.E[0], g.nu[0]);
  free(a);
  free(b);
  mpm_grads_free(&g);
  for (int k = 0; k < 2; ++k) {
    for (int f = 0; f < 4; ++f) free(last[k][f]);
    ah_free(&sc[k]);
  }
}

/* ------------------------------------------------------------------ F = I and isotropic stretch */

static void test_rest(void) {
  printf("F = I at rest and isotropic stretch: finite gradients (and matching finite differences):\n");
  const int models[6] = {MPM_FIXED_COROTATED, MPM_NEO_HOOKEAN, MPM_STVK_VON_MISES, MPM_DRUCKER_PRAGER,
                         MPM_NEWTONIAN_FLUID, MPM_VISCOPLASTIC};
  for (int st = 0; st < 2; ++st)
    for (int i = 0; i < 6; ++i) {
      ah_scene sc;
      substep_scene(&sc, models[i], 0.5, 0.5, 0.5, 0.1, g_small ? 1 : 8);
      sc.d.gravity[1] = 0;
      sc.d.substeps = 2;
      for (int64_t p = 0; p < sc.p.n; ++p)
        for (int a = 0; a < 3; ++a) sc.p.v[3 * p + a] = 0;
      double s = st == 0 ? 1.0 : 1.05; /* isotropic stretch */
      if (models[i] == MPM_DRUCKER_PRAGER && st == 1) s = 0.97; /* stretched sand sits at the apex */
      for (int64_t p = 0; p < sc.p.n; ++p)
        for (int a = 0; a < 9; ++a) sc.p.F[9 * p + a] = a % 4 == 0 ? s : 0;
      double lscale[4] = {1, 1, 0.01, 1};
      int fr[1] = {1};
      ah_set_loss(&sc, 1, fr, lscale);
      mpm_sim *tmp = NULL;
      mpm_grads g;
      double L;
      mpm_create(&tmp, &sc.d, &sc.p, NULL, 0);
      mpm_grads_alloc(&g, tmp);
      mpm_destroy(tmp);
      CHECK(ah_run_scene(&sc, &L, &g) == PL_OK, "%s", pl_last_error());
      int finite = 1;
      for (int64_t q = 0; q < sc.p.n * 9; ++q) finite &= isfinite(g.F0[q]) && isfinite(g.C0[q]);
      for (int64_t q = 0; q < sc.p.n * 3; ++q) finite &= isfinite(g.x0[q]) && isfinite(g.v0[q]);
      for (int k = 0; k < AH_NMATPAR; ++k) finite &= isfinite(ah_grad_matpar(&g, 0, k));
      CHECK(finite, "%s at %s: a gradient is NaN or Inf", mpm_model_name(models[i]), st ? "isotropic stretch" : "F = I");
      double Fnorm = 0;
      for (int64_t q = 0; q < sc.p.n * 9; ++q) Fnorm += g.F0[q] * g.F0[q];
      CHECK(Fnorm > 0, "%s: no gradient reaches F", mpm_model_name(models[i]));
      char nm[96];
      snprintf(nm, sizeof nm, "%s at %s", mpm_model_name(models[i]), st ? "isotropic stretch" : "F = I");
      mpm_grads_free(&g);
      check_all("F = I and isotropic stretch", nm, &sc, 1e-6, 1);
      ah_free(&sc);
    }
}

int main(int argc, char **argv) {
  const char *which = argc > 1 ? argv[1] : "all";
  for (int i = 2; i < argc; ++i)
    if (!strcmp(argv[i], "--small")) g_small = 1;
  pl_log_set_level(PL_LOG_WARN);
  int all = !strcmp(which, "all");
  if (all || !strcmp(which, "substep")) test_substep();
  if (all || !strcmp(which, "rollout")) test_rollout();
  if (all || !strcmp(which, "scene")) test_scene();
  if (all || !strcmp(which, "rest")) test_rest();
  if (all || !strcmp(which, "apex")) test_apex_moduli();
  printf("worst relative errors:\n");
  for (int i = 0; i < g_nrec; ++i) printf("  %-44s %.2e\n", g_rec[i].name, g_rec[i].worst);
  return test_summary("test_mpm_adjoint");
}
