/* test_mpm_safety.c: bad input and bad states are reported with the particle, frame and substep, never a crash
 * or a silent NaN; invalid settings name the material or collider; the CPU backend is bitwise deterministic
 * for any thread count. */
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "mpm/mpm_adjoint.h"
#include "tests/mpm/mpm_test_util.h"

static mpm_material g_mat;

static mpm_sim *make_jelly(mpm_desc *d) {
  g_mat = tu_material(MPM_FIXED_COROTATED, 5e4, 0.3, 1000);
  g_mat.name = "jelly";
  *d = tu_desc(24, &g_mat, 1);
  mpm_object o = tu_box(0.5, 0.5, 0.5, 0.2, 0.2, 0.2, 0);
  o.name = "cube";
  o.velocity[1] = -1;
  return tu_make(d, &o, 1);
}

static int contains(const char *needle) { return strstr(pl_last_error(), needle) != NULL; }

static void corrupt(mpm_sim *s, int64_t p, int field, real value) {
  mpm_particles h = {0};
  tu_get(s, &h);
  if (field == 0) h.x[3 * p] = value;
  if (field == 1) h.F[9 * p] = value;
  if (field == 2) h.F[9 * p + 8] = value;
  CHECK(mpm_upload(s, &h) == PL_OK, "%s", pl_last_error());
  mpm_particles_free(&h);
}

static void test_bad_states(void) {
  struct {
    const char *what;
    int64_t particle;
    int field;
    real value;
    const char *needle;
  } cs[] = {
      {"NaN in F", 5, 1, (real)NAN, "stress is not finite"},
      {"particle outside the box", 9, 0, (real)1.5, "left the simulation box"},
      {"NaN position", 13, 0, (real)NAN, "NaN or Inf"},
      {"inverted F", 11, 2, (real)-0.9, "inverted deformation gradient"},
  };
  for (int i = 0; i < (int)(sizeof cs / sizeof cs[0]); ++i) {
    mpm_sim *s = NULL;
    mpm_desc d;
    s = make_jelly(&d);
    CHECK(mpm_advance_frame(s) == PL_OK, "%s", pl_last_error());
    corrupt(s, cs[i].particle, cs[i].field, cs[i].value);
    pl_status st = mpm_advance_frame(s);
    char who[64];
    snprintf(who, sizeof who, "particle %lld (object 'cube', material 'jelly')", (long long)cs[i].particle);
    printf("%-26s -> %s\n", cs[i].what, pl_last_error());
    CHECK(st == PL_ERR_NUMERIC, "%s: status %d", cs[i].what, st);
    CHECK(contains(who), "%s: the message does not name %s", cs[i].what, who);
    CHECK(contains("frame 2, substep 1 of"), "%s: the message does not name the frame and substep", cs[i].what);
    CHECK(contains(cs[i].needle), "%s: the message lacks '%s'", cs[i].what, cs[i].needle);
    mpm_destroy(s);
  }
}

static void test_bad_settings(void) {
  mpm_material bad[] = {
      tu_material(MPM_NEO_HOOKEAN, 1e5, 0.5, 1000),
      tu_material(MPM_FIXED_COROTATED, -3, 0.3, 1000),
      tu_material(MPM_FIXED_COROTATED, 1e5, 0.3, -1),
      tu_material(MPM_VISCOPLASTIC, 1e5, 0.3, 1000),
      tu_material(MPM_DRUCKER_PRAGER, 1e5, 0.3, 1000),
      tu_material(MPM_STVK_VON_MISES, 1e5, 0.3, 1000),
      tu_material(MPM_DRUCKER_PRAGER, 1e5, 0.3, 1000),
      tu_material(MPM_DRUCKER_PRAGER, 1e5, 0.3, 1000),
      tu_material(MPM_DRUCKER_PRAGER, 1e5, 0.3, 1000),
  };
  const char *needles[] = {"nu must lie in (-1, 0.5)", "E must be > 0", "density must be > 0", "needs a viscosity",
                           "friction_angle", "yield_stress", "needs grain_size > 0", "needs the shear cone",
                           "mui_delta must be >= 0"};
  bad[4].friction_angle = 95;
  bad[5].yield_stress = -2;
  bad[6].mui_delta = 0.26; /* mu(I) without a grain size */
  bad[7].mui_delta = 0.26, bad[7].grain_size = 5e-4, bad[7].dp_cone = MPM_DP_CONE_COMPRESSION;
  bad[8].mui_delta = NAN;
  for (int i = 0; i < 9; ++i) {
    bad[i].name = "mat";
    mpm_desc d = tu_desc(24, &bad[i], 1);
    mpm_object o = tu_box(0.5, 0.5, 0.5, 0.2, 0.2, 0.2, 0);
    mpm_particles p;
    pl_status st = mpm_sample_objects(&d, &o, 1, &p);
    if (st == PL_OK) {
      mpm_sim *s = NULL;
      st = mpm_create(&s, &d, &p, &o, 1);
      if (st == PL_OK) mpm_destroy(s);
      mpm_particles_free(&p);
    }
    printf("bad material %d -> %s\n", i, pl_last_error());
    CHECK(st == PL_ERR_INVALID && contains(needles[i]) && contains("'mat'"), "material case %d: '%s'", i, pl_last_error());
  }
  /* too many colliders, a zero plane normal is fine (default +y), a negative friction is not */
  mpm_material m = tu_material(MPM_FIXED_COROTATED, 1e5, 0.3, 1000);
  mpm_desc d = tu_desc(24, &m, 1);
  mpm_object o = tu_box(0.5, 0.5, 0.5, 0.2, 0.2, 0.2, 0);
  mpm_particles p;
  CHECK(mpm_sample_objects(&d, &o, 1, &p) == PL_OK, "%s", pl_last_error());
  mpm_collider cols[MPM_MAX_COLLIDERS + 1];
  memset(cols, 0, sizeof cols);
  d.colliders = cols;
  d.ncolliders = MPM_MAX_COLLIDERS + 1;
  mpm_sim *s = NULL;
  CHECK(mpm_create(&s, &d, &p, NULL, 0) == PL_ERR_LIMIT, "too many colliders accepted");
  d.ncolliders = 1;
  cols[0].name = "ramp";
  cols[0].friction = -0.1;
  CHECK(mpm_create(&s, &d, &p, NULL, 0) == PL_ERR_INVALID && contains("'ramp'"), "negative friction: %s", pl_last_error());
  printf("negative friction -> %s\n", pl_last_error());
  /* a PIC share outside [0, 1], or NaN */
  d.ncolliders = 0;
  const double bad_pic[2] = {1.5, NAN};
  for (int i = 0; i < 2; ++i) {
    d.pic_blend = bad_pic[i];
    CHECK(mpm_create(&s, &d, &p, NULL, 0) == PL_ERR_INVALID && contains("pic_blend"), "pic_blend = %g accepted: %s",
          bad_pic[i], pl_last_error());
  }
  d.pic_blend = 0;
  /* a rest speed below 0, NaN or infinite */
  const double bad_rest[3] = {-0.01, NAN, INFINITY};
  for (int i = 0; i < 3; ++i) {
    d.pic_rest_speed = bad_rest[i];
    CHECK(mpm_create(&s, &d, &p, NULL, 0) == PL_ERR_INVALID && contains("pic_rest_speed"),
          "pic_rest_speed = %g accepted: %s", bad_rest[i], pl_last_error());
  }
  d.pic_rest_speed = 0;
  /* given substeps far below the CFL bound */
  d.substeps = 2;
  CHECK(mpm_create(&s, &d, &p, NULL, 0) == PL_OK, "%s", pl_last_error());
  pl_status st = mpm_advance_frame(s);
  printf("substeps = 2 -> %s\n", pl_last_error());
  CHECK(st == PL_ERR_INVALID && contains("substeps = 2") && contains("stability bound"), "CFL violation: %s",
        pl_last_error());
  mpm_destroy(s);
  /* an inverted initial F */
  p.F[9 * 3 + 4] = -1;
  d.substeps = 0;
  st = mpm_create(&s, &d, &p, NULL, 0);
  printf("inverted initial F -> %s\n", pl_last_error());
  CHECK(st == PL_ERR_NUMERIC && contains("particle 3"), "inverted initial F: %s", pl_last_error());
  mpm_particles_free(&p);
  CHECK(s == NULL, "a failed mpm_create left *out set");
  /* frees are no-ops on NULL */
  mpm_destroy(NULL);
  mpm_particles_free(NULL);
}

/* A backend this build lacks is an error with a message, at creation and at every stage (never a silent
 * no-op). Runs in the CPU-only build (CI's sanitizer build); a CUDA build has the table. */
static void test_unsupported_backend(void) {
  if (pl_cuda_compiled()) {
    printf("unsupported backend: this build has CUDA (checked in the CPU-only build)\n");
    return;
  }
  mpm_desc d;
  mpm_sim *s = make_jelly(&d);
  mpm_particles p = {0};
  tu_get(s, &p);
  mpm_desc dc = d;
  dc.backend = PL_BACKEND_CUDA;
  mpm_sim *c = NULL;
  pl_status st = mpm_create(&c, &dc, &p, NULL, 0);
  printf("create on CUDA -> %s\n", pl_last_error());
  CHECK(st == PL_ERR_UNSUPPORTED && c == NULL, "mpm_create on CUDA without it: status %d", (int)st);
  mpm_particles_free(&p);
  /* a simulation whose backend says CUDA: every stage refuses */
  s->backend = PL_BACKEND_CUDA;
  double vmax = 0;
  st = mpm_p2g(s, &s->state, (real)1e-4);
  printf("P2G on CUDA -> %s\n", pl_last_error());
  CHECK(st == PL_ERR_UNSUPPORTED && contains("no CUDA backend"), "P2G on CUDA without it: status %d, %s", (int)st,
        pl_last_error());
  CHECK(mpm_grid_update(s, (real)1e-4, 0) == PL_ERR_UNSUPPORTED, "grid update on CUDA without it");
  CHECK(mpm_g2p(s, &s->state, &s->state, (real)1e-4) == PL_ERR_UNSUPPORTED, "G2P on CUDA without it");
  CHECK(mpm_max_speed(s, &s->state, &vmax) == PL_ERR_UNSUPPORTED, "max speed on CUDA without it");
  CHECK(mpm_advance_frame(s) == PL_ERR_UNSUPPORTED, "a frame on CUDA without it");
  mpm_tape *t = NULL;
  CHECK(mpm_tape_create(&t, s, NULL) == PL_ERR_UNSUPPORTED && t == NULL, "a tape on CUDA without it");
  s->backend = PL_BACKEND_CPU;
  mpm_destroy(s);
}

static void run_scene(int threads, mpm_particles *out) {
#ifdef _OPENMP
  omp_set_num_threads(threads);
#else
  (void)threads;
#endif
  mpm_material mats[2] = {tu_material(MPM_FIXED_COROTATED, 5e4, 0.3, 1000), tu_material(MPM_DRUCKER_PRAGER, 1e5, 0.3, 1600)};
  mpm_desc d = tu_desc(32, mats, 2); /* more than 8192 particles: the parallel code paths */
  mpm_object o[2] = {tu_box(0.35, 0.3, 0.5, 0.3, 0.3, 0.3, 0), tu_box(0.65, 0.7, 0.5, 0.25, 0.25, 0.25, 1)};
  o[0].velocity[0] = 0.5;
  o[1].velocity[1] = -1;
  mpm_sim *s = NULL;
  s = tu_make(&d, o, 2);
  for (int f = 0; f < 3; ++f) CHECK(mpm_advance_frame(s) == PL_OK, "%s", pl_last_error());
  tu_get(s, out);
  mpm_destroy(s);
}

static int same(const mpm_particles *a, const mpm_particles *b) {
  return a->n == b->n && memcmp(a->x, b->x, (size_t)a->n * 3 * sizeof(real)) == 0 &&
         memcmp(a->v, b->v, (size_t)a->n * 3 * sizeof(real)) == 0 && memcmp(a->F, b->F, (size_t)a->n * 9 * sizeof(real)) == 0 &&
         memcmp(a->C, b->C, (size_t)a->n * 9 * sizeof(real)) == 0 && memcmp(a->q, b->q, (size_t)a->n * sizeof(real)) == 0;
}

static void test_determinism(void) {
  mpm_particles a = {0}, b = {0}, c = {0};
  run_scene(2, &a);
  run_scene(2, &b);
  run_scene(1, &c);
  int ab = same(&a, &b), ac = same(&a, &c);
  mpm_particles d = {0};
  run_scene(3, &d);
  int ad = same(&a, &d);
  printf("determinism: two runs with 2 threads %s; 1 vs 2 threads %s; 3 vs 2 threads %s (%lld particles, 3 frames)\n",
         ab ? "bitwise identical" : "DIFFER", ac ? "bitwise identical" : "DIFFER", ad ? "bitwise identical" : "DIFFER",
         (long long)a.n);
  CHECK(ab, "two runs differ");
  CHECK(ac && ad, "results depend on the thread count");
  mpm_particles_free(&a);
  mpm_particles_free(&b);
  mpm_particles_free(&c);
  mpm_particles_free(&d);
}

/* A new density through mpm_set_material changes the particles' masses (mass = density vol0), and the motion:
 * (P2G reads the per-particle masses: without this a learnable density would be silently ignored). */
static void test_density_update(void) {
  mpm_sim *s = NULL;
  mpm_desc d;
  s = make_jelly(&d);
  mpm_particles h = {0};
  tu_get(s, &h);
  double m0 = h.mass[0], v00 = h.vol0[0];
  mpm_particles_free(&h);
  mpm_material m = g_mat;
  m.density = 2500;
  CHECK(mpm_set_material(s, 0, &m) == PL_OK, "%s", pl_last_error());
  tu_get(s, &h);
  CHECK(fabs(h.mass[0] - 2500 * v00) <= 1e-6 * 2500 * v00 && fabs(m0 - 1000 * v00) <= 1e-6 * m0,
        "mass after a density change: %g (want %g)", (double)h.mass[0], 2500 * v00);
  mpm_particles_free(&h);
  mpm_destroy(s);
}

int main(void) {
  test_density_update();
  test_bad_states();
  test_bad_settings();
  test_determinism();
  test_unsupported_backend();
  return test_summary("test_mpm_safety");
}
