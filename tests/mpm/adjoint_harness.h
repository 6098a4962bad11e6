/* adjoint_harness.h: a scene, a loss on particle states at chosen frames, its gradient through mpm_tape_* and
 * its central finite differences, shared by the MPM adjoint tests (double) and the CUDA parity test (float).
 *
 * The loss is L = sum over the loss frames f of <Wx_f, x_f> + <Wv_f, v_f> + <WC_f, C_f> + <WF_f, F_f> with fixed
 * random weights: its cotangents are the weights, and every component of every state enters it. Every run
 * re-initialises the simulation from the host particles and the descriptor, so a finite difference can perturb
 * anything (a particle's initial state, a material parameter, gravity, a friction coefficient). The substep count
 * is fixed in the descriptor, so the schedule does not move with the perturbation. */
#ifndef PL_ADJOINT_HARNESS_H
#define PL_ADJOINT_HARNESS_H

#include <math.h>

#include "mpm/mpm_adjoint.h"
#include "mpm/mpm_internal.h" /* white-box: the kernels, mpm_sim_kparticles, mpm_gather_gv */
#include "tests/mpm/mpm_test_util.h"

#define AH_MAXF 8

typedef struct {
  mpm_desc d;
  mpm_material mats[4];
  mpm_collider cols[4];
  mpm_particles p;        /* initial particles (host); mass = density vol0 */
  double *pE, *pnu;       /* per-particle moduli (host [n]) or NULL */
  int frames;
  int nloss;
  int loss_frame[AH_MAXF];
  real *W[AH_MAXF][4];    /* weights of x, v, C, F per loss frame ([n][3], [n][3], [n][9], [n][9]) */
  mpm_tape_desc td;
  real *last[4];          /* optional (caller-allocated [n][3], [n][3], [n][9], [n][9]): the state at the last loss
                             frame of the last run, for forward comparisons */
  /* last run */
  int64_t peak_bytes, ckpt_bytes, seg_bytes;
  int checkpoints;
} ah_scene;

static const int ah_width[4] = {3, 3, 9, 9};

static void ah_init(ah_scene *sc) {
  memset(sc, 0, sizeof *sc);
  for (int a = 0; a < 3; ++a) sc->d.domain_max[a] = 1;
  sc->d.grid = 16;
  sc->d.frame_dt = 1.0 / 100;
  sc->d.substeps = 4;
  sc->d.seed = 11;
  sc->d.backend = PL_BACKEND_CPU;
  sc->d.materials = sc->mats;
  sc->d.colliders = sc->cols;
  sc->frames = 1;
}

static mpm_material ah_material(int model) {
  mpm_material m;
  memset(&m, 0, sizeof m);
  m.model = model;
  m.E = 2e4, m.nu = 0.3, m.density = 1000, m.yield_stress = 300, m.viscosity = 0.5, m.friction_angle = 30;
  m.cohesion = 20, m.bulk_modulus = 2e4;
  return m;
}

/* Sample the objects into sc->p (mass = density vol0). */
static void ah_sample(ah_scene *sc, const mpm_object *objs, int nobj) {
  mpm_particles_free(&sc->p);
  if (mpm_sample_objects(&sc->d, objs, nobj, &sc->p) != PL_OK) {
    fprintf(stderr, "sampling failed: %s\n", pl_last_error());
    exit(1);
  }
}

/* Random weights at the given frames; scale per field (x, v, C, F). */
static void ah_set_loss(ah_scene *sc, int nloss, const int *frames, const double scale[4]) {
  size_t n = (size_t)sc->p.n;
  sc->nloss = nloss;
  for (int l = 0; l < nloss; ++l) {
    sc->loss_frame[l] = frames[l];
    for (int k = 0; k < 4; ++k) {
      free(sc->W[l][k]);
      sc->W[l][k] = (real *)malloc(n * (size_t)ah_width[k] * sizeof(real));
      for (size_t i = 0; i < n * (size_t)ah_width[k]; ++i) sc->W[l][k][i] = (real)(scale[k] * test_rand());
    }
  }
}

static void ah_free(ah_scene *sc) {
  mpm_particles_free(&sc->p);
  for (int l = 0; l < AH_MAXF; ++l)
    for (int k = 0; k < 4; ++k) free(sc->W[l][k]);
  free(sc->pE);
  free(sc->pnu);
  memset(sc, 0, sizeof *sc);
}

typedef struct {
  ah_scene *sc;
  mpm_tape *tape;
  int add;
  double L;
  pl_buffer dev[AH_MAXF][4]; /* the weights on the backend (CUDA) */
  real *host[4];
} ah_run;

static pl_status ah_cb(void *u, int frame, const mpm_state *st) {
  ah_run *r = (ah_run *)u;
  ah_scene *sc = r->sc;
  size_t n = (size_t)st->n;
  for (int l = 0; l < sc->nloss; ++l) {
    if (sc->loss_frame[l] != frame) continue;
    const pl_buffer *b[4] = {&st->x, &st->v, &st->C, &st->F};
    for (int k = 0; k < 4; ++k) {
      PL_TRY(pl_buffer_download(b[k], 0, r->host[k], n * (size_t)ah_width[k] * sizeof(real)));
      if (sc->last[k] && l == sc->nloss - 1) memcpy(sc->last[k], r->host[k], n * (size_t)ah_width[k] * sizeof(real));
      double s = 0;
      for (size_t i = 0; i < n * (size_t)ah_width[k]; ++i) s += (double)sc->W[l][k][i] * (double)r->host[k][i];
      r->L += s;
    }
    if (r->add) {
      const real *w[4];
      for (int k = 0; k < 4; ++k) w[k] = st->backend == PL_BACKEND_CPU ? sc->W[l][k] : (const real *)r->dev[l][k].ptr;
      PL_TRY(mpm_tape_add_cotangent(r->tape, frame, w[0], w[1], w[2], w[3]));
    }
  }
  return PL_OK;
}

/* One run: the loss, and with g != NULL its gradient (g is zeroed first). */
static pl_status ah_run_scene(ah_scene *sc, double *L, mpm_grads *g) {
  mpm_sim *sim = NULL;
  sc->d.nmaterials = sc->d.nmaterials ? sc->d.nmaterials : 1;
  PL_TRY(mpm_create(&sim, &sc->d, &sc->p, NULL, 0));
  pl_status st = PL_OK;
  if (sc->pE) st = mpm_set_particle_moduli(sim, sc->pE, sc->pnu);
  ah_run r;
  memset(&r, 0, sizeof r);
  r.sc = sc;
  r.add = g != NULL;
  size_t n = (size_t)sim->n;
  for (int k = 0; k < 4; ++k) r.host[k] = (real *)malloc(n * (size_t)ah_width[k] * sizeof(real));
  if (st == PL_OK) st = mpm_tape_create(&r.tape, sim, &sc->td);
  for (int l = 0; st == PL_OK && g && sim->backend != PL_BACKEND_CPU && l < sc->nloss; ++l)
    for (int k = 0; st == PL_OK && k < 4; ++k) {
      st = pl_buffer_alloc(&r.dev[l][k], sim->backend, n * (size_t)ah_width[k] * sizeof(real));
      if (st == PL_OK) st = pl_buffer_upload(&r.dev[l][k], 0, sc->W[l][k], n * (size_t)ah_width[k] * sizeof(real));
    }
  if (st == PL_OK) st = mpm_tape_forward(r.tape, &sim->state, sc->frames, ah_cb, &r);
  if (st == PL_OK && g) {
    st = mpm_grads_zero(g);
    if (st == PL_OK) st = mpm_tape_backward(r.tape, g);
  }
  if (st == PL_OK) mpm_tape_memory(r.tape, &sc->ckpt_bytes, &sc->checkpoints, &sc->seg_bytes, &sc->peak_bytes);
  *L = r.L;
  mpm_tape_free(r.tape);
  for (int l = 0; l < AH_MAXF; ++l)
    for (int k = 0; k < 4; ++k) pl_buffer_free(&r.dev[l][k]);
  for (int k = 0; k < 4; ++k) free(r.host[k]);
  mpm_destroy(sim);
  return st;
}

static double ah_loss(ah_scene *sc) {
  double L = 0;
  if (ah_run_scene(sc, &L, NULL) != PL_OK) {
    fprintf(stderr, "forward run failed: %s\n", pl_last_error());
    return NAN;
  }
  return L;
}

/* ------------------------------------------------------------------ perturbable inputs */

enum {
  AH_E = 0, AH_NU, AH_DENSITY, AH_YIELD, AH_VISC, AH_PHI, AH_COH, AH_BULK, AH_NMATPAR
};
static const char *ah_matpar_name(int k) {
  static const char *names[AH_NMATPAR] = {"E", "nu", "density", "yield_stress", "viscosity", "friction_angle",
                                          "cohesion", "bulk_modulus"};
  return names[k];
}

static double *ah_matpar(ah_scene *sc, int m, int k) {
  mpm_material *mm = &sc->mats[m];
  double *f[AH_NMATPAR] = {&mm->E, &mm->nu, &mm->density, &mm->yield_stress, &mm->viscosity, &mm->friction_angle,
                           &mm->cohesion, &mm->bulk_modulus};
  return f[k];
}
static double ah_grad_matpar(const mpm_grads *g, int m, int k) {
  const double *f[AH_NMATPAR] = {g->E, g->nu, g->density, g->yield_stress, g->viscosity, g->friction_angle,
                                 g->cohesion, g->bulk_modulus};
  return f[k][m];
}

/* masses follow the density (m = rho V0) */
static void ah_sync_mass(ah_scene *sc) {
  for (int64_t i = 0; i < sc->p.n; ++i) sc->p.mass[i] = (real)(sc->mats[sc->p.material[i]].density * sc->p.vol0[i]);
}

/* Central difference of the loss along the value *v (a double), Richardson-extrapolated; restores *v. */
static double ah_fd_double(ah_scene *sc, double *v, double h, int is_density) {
  double v0 = *v, d[2];
  for (int r = 0; r < 2; ++r) {
    double hh = r == 0 ? h : h / 2;
    *v = v0 + hh;
    if (is_density) ah_sync_mass(sc);
    double lp = ah_loss(sc);
    *v = v0 - hh;
    if (is_density) ah_sync_mass(sc);
    double lm = ah_loss(sc);
    d[r] = (lp - lm) / (2 * hh);
  }
  *v = v0;
  if (is_density) ah_sync_mass(sc);
  return (4 * d[1] - d[0]) / 3;
}
static double ah_fd_real(ah_scene *sc, real *v, double h) {
  real v0 = *v;
  double d[2];
  for (int r = 0; r < 2; ++r) {
    double hh = r == 0 ? h : h / 2;
    *v = (real)(v0 + hh);
    double lp = ah_loss(sc);
    *v = (real)(v0 - hh);
    double lm = ah_loss(sc);
    d[r] = (lp - lm) / (2 * hh);
  }
  *v = v0;
  return (4 * d[1] - d[0]) / 3;
}

/* The initial-state field k (0 x, 1 v, 2 C, 3 F) of the host particles and of the gradient. */
static real *ah_state_field(ah_scene *sc, int k) {
  real *f[4] = {sc->p.x, sc->p.v, sc->p.C, sc->p.F};
  return f[k];
}
static const real *ah_grad_field(const mpm_grads *g, int k) {
  const real *f[4] = {g->x0, g->v0, g->C0, g->F0};
  return f[k];
}
static const char *ah_field_name(int k) {
  static const char *names[4] = {"x0", "v0", "C0", "F0"};
  return names[k];
}

/* Every component of the initial state field k: relative error of the whole vector; steps h[k]. With `stride` > 1
 * only every stride-th particle is perturbed (the sanitizer variants). */
static double ah_check_state_field(ah_scene *sc, const mpm_grads *g, int k, double h, int stride) {
  int w = ah_width[k];
  real *f = ah_state_field(sc, k);
  const real *gf = ah_grad_field(g, k);
  int64_t cnt = 0;
  for (int64_t p = 0; p < sc->p.n; p += stride) cnt += w;
  double *a = (double *)malloc((size_t)cnt * sizeof(double)), *b = (double *)malloc((size_t)cnt * sizeof(double));
  int64_t j = 0;
  for (int64_t p = 0; p < sc->p.n; p += stride)
    for (int c = 0; c < w; ++c, ++j) {
      a[j] = (double)gf[(size_t)p * (size_t)w + (size_t)c];
      b[j] = ah_fd_real(sc, &f[(size_t)p * (size_t)w + (size_t)c], h);
    }
  double e = test_norm_err_d(a, b, cnt, TEST_NORM_L2, 1e-300, NULL);
  free(a);
  free(b);
  return e;
}

/* ------------------------------------------------------------------ branch margins of the plastic models */

/* Distance of a trial F from the switching surfaces of its model's return map (in strain units), and its branch. */
static double ah_branch_margin(int model, m3 F, real q, mpm_mparams p, int *branch) {
  *branch = mpm_plastic_branch(model, F, q, p);
  if (model != MPM_STVK_VON_MISES && model != MPM_VISCOPLASTIC && model != MPM_DRUCKER_PRAGER) return INFINITY;
  mpm_hencky_strain h = mpm_hencky_of(F);
  if (model == MPM_DRUCKER_PRAGER) {
    double ts = 3 * h.m + q - p.tr_apex;
    if (ts >= 0) return ts;
    double beta = (3 * p.lambda + 2 * p.mu) * p.alpha / (2 * p.mu);
    return fmin(-ts, fabs(h.n + beta * ts));
  }
  return fabs(h.n - p.yield_stress / (2 * p.mu));
}

/* Re-run the scene stage by stage and return the smallest margin over every particle and substep (and count
 * the particle-substeps on each branch). */
static double ah_min_margin(ah_scene *sc, int64_t counts[3]) {
  mpm_sim *s = NULL;
  counts[0] = counts[1] = counts[2] = 0;
  if (mpm_create(&s, &sc->d, &sc->p, NULL, 0) != PL_OK) return NAN;
  if (sc->pE) mpm_set_particle_moduli(s, sc->pE, sc->pnu);
  double worst = INFINITY;
  mpm_kparticles P = mpm_sim_kparticles(s); /* a CPU simulation: its tables are host memory */
  for (int f = 0; f < sc->frames; ++f) {
    int n;
    double dt;
    if (mpm_plan_frame(s, &n, &dt) != PL_OK) break;
    double t0 = (double)s->frame * s->frame_dt;
    for (int k = 0; k < n; ++k) {
      double t = t0 + k * dt;
      mpm_p2g(s, &s->state, (real)dt);
      mpm_grid_update(s, (real)dt, t);
      mpm_kstate st = mpm_state_view(&s->state);
      const real *grid = (const real *)s->gridbuf.ptr;
      for (int64_t p = 0; p < s->n; ++p) {
        v3 x = v3_load(st.x + 3 * p);
        mpm_stencil sn = mpm_stencil_of(&s->grid, x);
        v3 gv[27];
        mpm_gather_gv(&s->grid, grid, &sn, gv);
        int model;
        mpm_mparams mp = mpm_particle_params(&P, p, &model);
        v3 xo, vo;
        m3 Co, Fo, Ft;
        real qo;
        mpm_g2p_particle(&s->grid, model, mp, (real)dt, x, m3_load(st.F + 9 * p), st.q[p], gv, &xo, &vo, &Co, &Fo, &qo,
                         &Ft);
        int br;
        double mg = ah_branch_margin(model, Ft, st.q[p], mp, &br);
        counts[br]++;
        if (mg < worst) worst = mg;
      }
      s->time = t;
      mpm_g2p(s, &s->state, &s->state, (real)dt);
    }
    s->frame++;
  }
  mpm_destroy(s);
  return worst;
}

#endif
