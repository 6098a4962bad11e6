/* test_mpm_adjoint_cuda_parity.c: the CUDA backward pass against the CPU reference (float), on a table of cases
 * (every material, every collider shape and contact type, per-particle moduli, per-frame and automatic
 * checkpoints). Each gradient is compared with a normalised error, max |cuda - cpu| / max(max |cpu|, floor), with
 * NaN/Inf checks on both sides: the initial state's cotangents (x0, v0, C0, F0), every material parameter, gravity,
 * the frictions, per-particle E and nu. Exits 77 (skipped) without a CUDA device. */
#include "core/log.h"
#include "tests/mpm/adjoint_harness.h"

typedef struct {
  const char *name;
  int model;
  int collider; /* -1: none */
  int contact;
  int per_particle;
  int checkpoint_every;
  double tol;
} acase;

static double norm_err(const real *a, const real *b, size_t n, double floor_, int *finite) {
  double num = 0, den = floor_;
  for (size_t i = 0; i < n; ++i) {
    if (!isfinite((double)a[i]) || !isfinite((double)b[i])) *finite = 0;
    num = fmax(num, fabs((double)a[i] - (double)b[i]));
    den = fmax(den, fabs((double)a[i]));
  }
  return num / den;
}
static double norm_err_d(const double *a, const double *b, size_t n, double floor_, int *finite) {
  double num = 0, den = floor_;
  for (size_t i = 0; i < n; ++i) {
    if (!isfinite(a[i]) || !isfinite(b[i])) *finite = 0;
    num = fmax(num, fabs(a[i] - b[i]));
    den = fmax(den, fabs(a[i]));
  }
  return num / den;
}

static void make_case(const acase *c, ah_scene *sc) {
  ah_init(sc);
  sc->d.grid = 24;
  sc->mats[0] = ah_material(c->model);
  sc->mats[0].yield_stress = 500;
  sc->mats[0].viscosity = c->model == MPM_VISCOPLASTIC ? 5 : 0.05;
  sc->d.nmaterials = 1;
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

int main(void) {
  if (!pl_cuda_compiled()) TEST_SKIP("this build has no CUDA backend");
  char desc[1024];
  if (pl_cuda_device_count(desc, sizeof desc) == 0) TEST_SKIP("no CUDA device");
  pl_log_set_level(PL_LOG_WARN);
  printf("device: %s\n", desc);
  const acase cases[] = {
      {"fixed corotated, free", MPM_FIXED_COROTATED, -1, 0, 0, 0, 2e-3},
      {"neo-Hookean, plane separate", MPM_NEO_HOOKEAN, MPM_COLLIDER_PLANE, MPM_CONTACT_SEPARATE, 0, 0, 2e-3},
      {"von Mises, sphere sticky", MPM_STVK_VON_MISES, MPM_COLLIDER_SPHERE, MPM_CONTACT_STICKY, 0, 5, 5e-3},
      {"Drucker-Prager, box slip", MPM_DRUCKER_PRAGER, MPM_COLLIDER_BOX, MPM_CONTACT_SLIP, 0, 0, 1e-2},
      {"fluid, cylinder separate", MPM_NEWTONIAN_FLUID, MPM_COLLIDER_CYLINDER, MPM_CONTACT_SEPARATE, 0, 0, 5e-3},
      {"viscoplastic, plane slip", MPM_VISCOPLASTIC, MPM_COLLIDER_PLANE, MPM_CONTACT_SLIP, 0, MPM_TAPE_AUTO, 5e-3},
      {"corotated, per-particle E, nu", MPM_FIXED_COROTATED, MPM_COLLIDER_PLANE, MPM_CONTACT_SEPARATE, 1, 0, 2e-3},
  };
  for (int k = 0; k < (int)(sizeof cases / sizeof cases[0]); ++k) {
    const acase *c = &cases[k];
    ah_scene sc;
    make_case(c, &sc);
    mpm_sim tmp;
    mpm_grads ga, gb;
    CHECK(mpm_init(&tmp, &sc.d, &sc.p, NULL, 0) == PL_OK, "init: %s", pl_last_error());
    mpm_grads_alloc(&ga, &tmp);
    mpm_grads_alloc(&gb, &tmp);
    mpm_free(&tmp);
    double La = 0, Lb = 0;
    sc.d.backend = PL_BACKEND_CPU;
    CHECK(ah_run_scene(&sc, &La, &ga) == PL_OK, "%s: cpu: %s", c->name, pl_last_error());
    sc.d.backend = PL_BACKEND_CUDA;
    CHECK(ah_run_scene(&sc, &Lb, &gb) == PL_OK, "%s: cuda: %s", c->name, pl_last_error());
    size_t n = (size_t)sc.p.n;
    int finite = 1;
    double ex = norm_err(ga.x0, gb.x0, 3 * n, 1e-6, &finite), ev = norm_err(ga.v0, gb.v0, 3 * n, 1e-6, &finite);
    double eC = norm_err(ga.C0, gb.C0, 9 * n, 1e-6, &finite), eF = norm_err(ga.F0, gb.F0, 9 * n, 1e-6, &finite);
    double mat_a[AH_NMATPAR], mat_b[AH_NMATPAR];
    for (int q = 0; q < AH_NMATPAR; ++q) mat_a[q] = ah_grad_matpar(&ga, 0, q), mat_b[q] = ah_grad_matpar(&gb, 0, q);
    double ep = 0;
    for (int q = 0; q < AH_NMATPAR; ++q) ep = fmax(ep, norm_err_d(&mat_a[q], &mat_b[q], 1, 1e-12, &finite));
    double eg = norm_err_d(ga.gravity, gb.gravity, 3, 1e-9, &finite);
    double fa[2] = {ga.collider_friction[0], ga.boundary_friction}, fb[2] = {gb.collider_friction[0], gb.boundary_friction};
    double ef = norm_err_d(fa, fb, 2, 1e-9, &finite);
    double epp = c->per_particle ? fmax(norm_err_d(ga.particle_E, gb.particle_E, n, 1e-15, &finite),
                                        norm_err_d(ga.particle_nu, gb.particle_nu, n, 1e-9, &finite))
                                 : 0;
    double eL = fabs(La - Lb) / fmax(fabs(La), 1e-9);
    printf("%-32s loss %.1e | x0 %.1e v0 %.1e C0 %.1e F0 %.1e params %.1e gravity %.1e friction %.1e per-particle %.1e\n",
           c->name, eL, ex, ev, eC, eF, ep, eg, ef, epp);
    CHECK(finite, "%s: NaN or Inf in a gradient", c->name);
    CHECK(eL < 1e-4, "%s: the forward losses differ (%.3e)", c->name, eL);
    CHECK(ex < c->tol && ev < c->tol && eC < c->tol && eF < c->tol, "%s: state gradients differ", c->name);
    CHECK(ep < 5 * c->tol && eg < 5 * c->tol && ef < 5 * c->tol && epp < 5 * c->tol, "%s: parameter gradients differ",
          c->name);
    mpm_grads_free(&ga);
    mpm_grads_free(&gb);
    ah_free(&sc);
  }
  return test_summary("test_mpm_adjoint_cuda_parity");
}
