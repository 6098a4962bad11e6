/* parity_mpm.h: the MPM op of the parity driver (tests/test_backend_ops.c): every material ×
 * every collider shape (contact types cycled through), plus per-particle moduli and checkpoint schedules; for each
 * case the forward (the state at the last loss frame and a loss that weighs every component of x, v, C, F) and the
 * adjoint (dL/d x0, v0, C0, F0, every material parameter, gravity, frictions, per-particle E and nu), timed.
 *
 *   test_backend_ops --op mpm             CUDA against the CPU reference (float); exits 77 without a CUDA device.
 *                                         Each case runs CUDA three times: the verified path (p2g = atomic, sync =
 *                                         stage), the prepared one (p2g = tiled, sync = frame; docs/gpu.md) and the
 *                                         graph path (p2g = atomic, sync = frame, graph = on: the forward's runs of
 *                                         substeps replay a captured CUDA graph), rows "cuda", "[tiled]", "[graph]";
 *                                         all are held to the same tolerances
 *   test_backend_ops --op mpm --rounding  the CPU against itself with every initial position moved by one ulp (CI)
 *
 * Why a rounding reference: the return maps have switching surfaces (elastic / yield / apex). A particle whose
 * trial strain lies within rounding of one takes either branch depending on the last bit, and the two branches
 * have different Jacobians, so the gradient (not the loss) moves by O(1) for that particle. Two correct backends
 * differ by exactly as much as one backend differs from itself under a one-ulp change of its inputs. So every case
 * first measures that sensitivity s on the CPU. A case is "branch-limited" when s exceeds a quarter of its
 * tolerance AND the run has particle-substeps within 1e-6 (strain units) of a switching surface; only then is the
 * CUDA check relaxed, to the relative L2 error against max(tol, 4 s_L2), and the driver says so. In --rounding mode
 * (run in CI) a case that is rounding-sensitive without any particle near a switching surface fails: that would be
 * non-determinism or a bug, not a branch. The cohesionless-leaning Drucker-Prager case (cohesion 20 Pa: particles
 * that separate sit at the cone's apex, ts = 0 to rounding) is the branch-limited one; with cohesion 200 Pa the
 * cone branch is exercised without apex flips and is checked at the strict tolerance. docs/gpu.md, "Parity". */
#ifndef PL_PARITY_MPM_H
#define PL_PARITY_MPM_H

#include "tests/mpm/adjoint_harness.h"
/* included by tests/test_backend_ops.c after its bo_now() */

enum { NCOLL = 5 };
static const char *coll_name[NCOLL] = {"free", "plane", "box", "sphere", "cylinder"};
static const char *contact_name[3] = {"slip", "sticky", "separate"};

typedef struct {
  char name[96];
  int model;
  double cohesion;
  int collider; /* -1 none */
  int contact;
  int per_particle;
  int checkpoint_every;
  double tol;
  int granular; /* the granular transfer (PIC share below 3 m/s: every particle) and mu(I) friction */
} pcase;

typedef struct {
  double eL;               /* loss, relative */
  double st[4];            /* forward state at the last loss frame (x, v, C, F), max-norm normalised */
  double gmax[4], gl2[4];  /* initial-state cotangents: max-norm normalised, relative L2 */
  double par, grav, fric, pp;
  int finite;
} perr;

static void make_case(const pcase *c, ah_scene *sc) {
  ah_init(sc);
  sc->d.grid = 24;
  sc->mats[0] = ah_material(c->model);
  sc->mats[0].yield_stress = 500;
  sc->mats[0].viscosity = c->model == MPM_VISCOPLASTIC ? 5 : 0.05;
  sc->mats[0].cohesion = c->cohesion;
  if (c->granular) sc->mats[0].mui_delta = 0.26, sc->mats[0].grain_size = 5e-4;
  sc->d.nmaterials = 1;
  if (c->granular) sc->d.pic_blend = 0.5, sc->d.pic_rest_speed = 3;
  sc->d.gravity[1] = -9.8;
  sc->d.frame_dt = 1.0 / 60;
  sc->d.substeps = 12;
  sc->frames = 3;
  sc->d.boundary_friction = 0.2;
  sc->td.checkpoint_every = c->checkpoint_every;
  if (c->collider >= 0) {
    mpm_collider *k = &sc->cols[0];
    memset(k, 0, sizeof *k);
    k->shape = c->collider, k->type = c->contact, k->friction = 0.3;
    k->point[1] = 0.3, k->normal[0] = 0.2, k->normal[1] = 1;
    k->center[0] = 0.5, k->center[1] = 0.28, k->center[2] = 0.5;
    k->size[0] = 0.4, k->size[1] = 0.1, k->size[2] = 0.4;
    k->radius = 0.12, k->height = 0.3;
    k->rotation[0] = 15, k->rotation[2] = 10;
    k->velocity[0] = 0.1;
    sc->d.ncolliders = 1;
  }
  mpm_object o = tu_box(0.5, 0.5, 0.5, 0.2, 0.2, 0.2, 0);
  o.velocity[1] = -2, o.angular_velocity[1] = 3;
  ah_sample(sc, &o, 1);
  if (c->per_particle) {
    sc->pE = (double *)malloc((size_t)sc->p.n * sizeof(double));
    sc->pnu = (double *)malloc((size_t)sc->p.n * sizeof(double));
    for (int64_t p = 0; p < sc->p.n; ++p) sc->pE[p] = 1.5e4 + 1e4 * (double)(p % 7) / 6.0, sc->pnu[p] = 0.25 + 0.01 * (p % 5);
  }
  double scale[4] = {1, 0.1, 0.01, 1};
  int fr[2] = {1, 3};
  ah_set_loss(sc, 2, fr, scale);
}

/* The one place this driver makes a simulator of its own (kept apart so that a rename of the MPM's lifetime
 * functions touches one line): gradient arrays sized for the scene. */
static int bo_mpm_grads_alloc(ah_scene *sc, mpm_grads *g) {
  mpm_sim *tmp = NULL;
  if (mpm_create(&tmp, &sc->d, &sc->p, NULL, 0) != PL_OK) return 0;
  mpm_grads_alloc(g, tmp);
  mpm_destroy(tmp);
  return 1;
}

/* A run's outputs: loss, gradients, the state at the last loss frame. */
typedef struct {
  double L;
  mpm_grads g;
  real *last[4];
  double seconds;
} prun;

/* path: 0 the verified CUDA path (p2g = atomic, sync = stage; the CPU's only path), 1 the prepared one (tiled,
 * deferred checks), 2 the graph path (atomic, deferred checks, CUDA graphs) */
static int run_case_path(ah_scene *sc, pl_backend be, int path, prun *r) {
  size_t n = (size_t)sc->p.n;
  sc->d.p2g = path == 1 ? MPM_P2G_TILED : MPM_P2G_ATOMIC;
  sc->d.sync = path ? MPM_SYNC_FRAME : MPM_SYNC_STAGE;
  sc->d.sort_every = path == 1 ? 3 : 0; /* re-sorted often, and stale in between: both cases of the tiled kernel */
  sc->d.graph = path == 2 ? MPM_GRAPH_ON : MPM_GRAPH_OFF;
  if (!bo_mpm_grads_alloc(sc, &r->g)) return 0;
  for (int k = 0; k < 4; ++k) r->last[k] = sc->last[k] = (real *)calloc(n * (size_t)ah_width[k], sizeof(real));
  sc->d.backend = be;
  double t0 = bo_now();
  pl_status st = ah_run_scene(sc, &r->L, &r->g);
  r->seconds = bo_now() - t0;
  for (int k = 0; k < 4; ++k) sc->last[k] = NULL;
  sc->d.p2g = sc->d.sync = sc->d.sort_every = sc->d.graph = 0;
  return st == PL_OK;
}
static int run_case(ah_scene *sc, pl_backend be, prun *r) { return run_case_path(sc, be, 0, r); }
static void prun_free(prun *r) {
  mpm_grads_free(&r->g);
  for (int k = 0; k < 4; ++k) free(r->last[k]);
}

static perr compare(const ah_scene *sc, const prun *a, const prun *b, int per_particle) {
  perr e;
  memset(&e, 0, sizeof e);
  e.finite = 1;
  size_t n = (size_t)sc->p.n;
  e.eL = fabs(a->L - b->L) / fmax(fabs(a->L), 1e-9);
  const real *ga[4] = {a->g.x0, a->g.v0, a->g.C0, a->g.F0}, *gb[4] = {b->g.x0, b->g.v0, b->g.C0, b->g.F0};
  for (int k = 0; k < 4; ++k) {
    size_t m = n * (size_t)ah_width[k];
    e.st[k] = test_norm_err(a->last[k], b->last[k], m, TEST_NORM_MAX, 1e-6, &e.finite);
    e.gmax[k] = test_norm_err(ga[k], gb[k], m, TEST_NORM_MAX, 1e-6, &e.finite);
    e.gl2[k] = test_norm_err(ga[k], gb[k], m, TEST_NORM_L2, 1e-150, NULL);
  }
  /* Parameters: theta dL/dtheta against the loss, |theta (a - b)| / max(|theta a|, 1e-4 |L|), so that a gradient
   * the loss barely feels (nu of a body in free fall: theta dL/dtheta ~ 3e-5 |L|) is compared at that level, not
   * to its last digits. */
  double Lfl = 1e-4 * fmax(fabs(a->L), 1e-12);
  for (int q = 0; q < AH_NMATPAR; ++q) {
    double th = fabs(*ah_matpar((ah_scene *)sc, 0, q));
    double pa = th * ah_grad_matpar(&a->g, 0, q), pb = th * ah_grad_matpar(&b->g, 0, q);
    double eq = test_norm_err_d(&pa, &pb, 1, TEST_NORM_MAX, Lfl, &e.finite);
    e.par = fmax(e.par, eq);
  }
  double gra[3], grb[3], fa[2], fb[2];
  for (int i = 0; i < 3; ++i) gra[i] = 9.8 * a->g.gravity[i], grb[i] = 9.8 * b->g.gravity[i];
  e.grav = test_norm_err_d(gra, grb, 3, TEST_NORM_MAX, Lfl, &e.finite);
  fa[0] = 0.3 * a->g.collider_friction[0], fa[1] = 0.2 * a->g.boundary_friction;
  fb[0] = 0.3 * b->g.collider_friction[0], fb[1] = 0.2 * b->g.boundary_friction;
  e.fric = test_norm_err_d(fa, fb, 2, TEST_NORM_MAX, Lfl, &e.finite);
  if (per_particle) {
    double num = 0, den = Lfl;
    for (size_t i = 0; i < n; ++i) {
      double pa = sc->pE[i] * a->g.particle_E[i], pb = sc->pE[i] * b->g.particle_E[i];
      double qa = sc->pnu[i] * a->g.particle_nu[i], qb = sc->pnu[i] * b->g.particle_nu[i];
      if (!isfinite(pa) || !isfinite(pb) || !isfinite(qa) || !isfinite(qb)) e.finite = 0;
      num = fmax(num, fmax(fabs(pa - pb), fabs(qa - qb)));
      den = fmax(den, fmax(fabs(pa), fabs(qa)));
    }
    e.pp = num / den;
  }
  return e;
}

static double worst_grad(const perr *e) {
  return fmax(fmax(e->gmax[0], e->gmax[1]), fmax(e->gmax[2], e->gmax[3]));
}
static double worst_param(const perr *e) { return fmax(fmax(e->par, e->grav), fmax(e->fric, e->pp)); }

/* Move every initial position by one ulp (alternating directions): the input change two backends' rounding makes. */
static void nudge_positions(ah_scene *sc) {
  for (int64_t i = 0; i < 3 * sc->p.n; ++i) sc->p.x[i] = nextafterf((float)sc->p.x[i], (i % 2) ? 2.f : -2.f);
}

/* The MPM op: 37 cases, forward (loss, state) and adjoint (state and parameter gradients), timed. */
static void op_mpm(int rounding) {

  pcase cases[64];
  int nc = 0;
  /* models 0..5, plus Drucker-Prager at cohesion 200 (the cone without apex flips) */
  for (int mi = 0; mi <= MPM_MODEL_COUNT; ++mi) {
    int model = mi < MPM_MODEL_COUNT ? mi : MPM_DRUCKER_PRAGER;
    double coh = mi < MPM_MODEL_COUNT ? 20 : 200;
    for (int ci = 0; ci < NCOLL; ++ci) {
      pcase *c = &cases[nc++];
      memset(c, 0, sizeof *c);
      c->model = model, c->cohesion = coh, c->collider = ci - 1, c->contact = (mi + ci) % 3;
      c->checkpoint_every = (mi + ci) % 4 == 1 ? 5 : (mi + ci) % 4 == 3 ? MPM_TAPE_AUTO : 0;
      c->tol = model == MPM_DRUCKER_PRAGER || model == MPM_NEWTONIAN_FLUID ? 5e-3 : 2e-3;
      snprintf(c->name, sizeof c->name, "%s%s, %s%s%s", mpm_model_name(model),
               model == MPM_DRUCKER_PRAGER ? (coh > 100 ? " c=200" : " c=20") : "", coll_name[ci],
               ci ? " " : "", ci ? contact_name[c->contact] : "");
    }
  }
  {
    pcase *c = &cases[nc++];
    memset(c, 0, sizeof *c);
    c->model = MPM_FIXED_COROTATED, c->cohesion = 20, c->collider = MPM_COLLIDER_PLANE,
    c->contact = MPM_CONTACT_SEPARATE, c->per_particle = 1, c->tol = 2e-3;
    snprintf(c->name, sizeof c->name, "fixed_corotated per-particle E, nu, plane separate");
  }
  {
    pcase *c = &cases[nc++];
    memset(c, 0, sizeof *c);
    c->model = MPM_DRUCKER_PRAGER, c->cohesion = 200, c->collider = MPM_COLLIDER_BOX, c->contact = MPM_CONTACT_SLIP;
    c->granular = 1, c->tol = 5e-3;
    snprintf(c->name, sizeof c->name, "drucker_prager c=200 rest share + mu(I), box slip");
  }

  printf("%-44s %8s %8s %8s %8s | %8s %8s | %s\n", "case", "loss", "state", "grad", "params", "s(grad)", "s(L2)",
         rounding ? "near-switch particle-substeps (apex)" : "verdict, cpu s / cuda s");
  int branch_limited = 0;
  for (int k = 0; k < nc; ++k) {
    const pcase *c = &cases[k];
    ah_scene sc;
    /* each case's random data (loss weights, velocities) from its own seed: the same whichever ops ran before
     * (with the one test_rand stream, the weights of a case depended on the ops run first, and a draw whose
     * weighted sum nearly cancels turned the loss's relative one-ulp change into 1e-4 in the full run while it
     * was 1.7e-7 with --op mpm alone: a test artefact, not the simulator) */
    g_test_rng = 0x1234567ull + 0x9E3779B97F4A7C15ull * (uint64_t)(k + 1);
    make_case(c, &sc);
    prun ref, nud;
    memset(&ref, 0, sizeof ref);
    memset(&nud, 0, sizeof nud);
    CHECK(run_case(&sc, PL_BACKEND_CPU, &ref), "%s: cpu: %s", c->name, pl_last_error());
    /* the CPU's own sensitivity to a one-ulp change of its inputs */
    real *x_keep = (real *)malloc((size_t)sc.p.n * 3 * sizeof(real));
    memcpy(x_keep, sc.p.x, (size_t)sc.p.n * 3 * sizeof(real));
    nudge_positions(&sc);
    CHECK(run_case(&sc, PL_BACKEND_CPU, &nud), "%s: cpu (nudged): %s", c->name, pl_last_error());
    memcpy(sc.p.x, x_keep, (size_t)sc.p.n * 3 * sizeof(real));
    free(x_keep);
    perr s = compare(&sc, &ref, &nud, c->per_particle);
    double s_l2 = fmax(fmax(s.gl2[0], s.gl2[1]), fmax(s.gl2[2], s.gl2[3]));
    int64_t counts[3];
    double margin = ah_min_margin(&sc, counts);
    int sensitive = worst_grad(&s) > c->tol / 4;
    int near_switch = margin < 1e-6;
    int limited = sensitive && near_switch;
    branch_limited += limited;
    CHECK(s.finite, "%s: NaN or Inf in the CPU runs", c->name);
    if (rounding) {
      printf("%-44s %8.1e %8.1e %8.1e %8.1e | %8.1e %8.1e | margin %.1e, apex %lld%s\n", c->name, s.eL,
             fmax(fmax(s.st[0], s.st[1]), fmax(s.st[2], s.st[3])), worst_grad(&s), worst_param(&s), worst_grad(&s),
             s_l2, margin, (long long)counts[2], limited ? "  branch-limited" : "");
      /* a one-ulp change moves the forward by rounding only */
      CHECK(s.eL < 1e-4, "%s: a one-ulp input change moves the loss by %.2e", c->name, s.eL);
      CHECK(limited || worst_param(&s) < 5 * c->tol,
            "%s: parameter gradients move by %.2e under a one-ulp input change", c->name, worst_param(&s));
      CHECK(!sensitive || near_switch,
            "%s: gradients move by %.2e under a one-ulp input change with no particle near a switching surface "
            "(margin %.2e): not a branch flip",
            c->name, worst_grad(&s), margin);
    } else {
      for (int path = 0; path < 3; ++path) {
        const char *pn = path == 2 ? "cuda graph" : path ? "cuda tiled" : "cuda";
        char row[160];
        snprintf(row, sizeof row, "%.100s%s", c->name, path == 2 ? " [graph]" : path ? " [tiled]" : "");
        prun dev;
        memset(&dev, 0, sizeof dev);
        CHECK(run_case_path(&sc, PL_BACKEND_CUDA, path, &dev), "%s: %s: %s", c->name, pn, pl_last_error());
        perr e = compare(&sc, &ref, &dev, c->per_particle);
        double ge = worst_grad(&e), pe = worst_param(&e);
        double e_l2 = fmax(fmax(e.gl2[0], e.gl2[1]), fmax(e.gl2[2], e.gl2[3]));
        int ok_grad = limited ? e_l2 <= fmax(c->tol, 4 * s_l2) : ge <= c->tol;
        int ok_par = pe <= fmax(5 * c->tol, 4 * worst_param(&s));
        printf("%-44s %8.1e %8.1e %8.1e %8.1e | %8.1e %8.1e | %s%s, %.3f / %.3f\n", row, e.eL,
               fmax(fmax(e.st[0], e.st[1]), fmax(e.st[2], e.st[3])), limited ? e_l2 : ge, pe, worst_grad(&s), s_l2,
               ok_grad && ok_par ? "ok" : "FAIL", limited ? " (branch-limited: L2 vs 4 s)" : "", ref.seconds,
               dev.seconds);
        CHECK(e.finite, "%s (%s): NaN or Inf in a gradient", c->name, pn);
        CHECK(e.eL < 1e-4, "%s (%s): the forward losses differ (%.3e)", c->name, pn, e.eL);
        CHECK(ok_grad, "%s (%s): state gradients differ", c->name, pn);
        CHECK(ok_par, "%s (%s): parameter gradients differ", c->name, pn);
        prun_free(&dev);
      }
    }
    prun_free(&ref);
    prun_free(&nud);
    ah_free(&sc);
  }
  printf("%d cases, %d branch-limited\n", nc, branch_limited);
  fflush(stdout);
}

#endif
