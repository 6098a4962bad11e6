/* test_mpm_adjoint_tape.c: the tape of the MPM adjoint (float library, what the pipeline runs):
 *
 *   checkpoints  the gradient does not depend on where the checkpoints are: every substep, every frame, every
 *                3 or 7 substeps, one for the whole run, automatic with a loose and a tight bound: bitwise equal
 *                (the CPU re-simulation is deterministic)
 *   memory       with the automatic checkpoints and a bound of the work buffers plus 32 states, the measured peak
 *                stays under the bound when the substeps grow 10x (where storing every substep would take 10x
 *                more than the bound); the peak equals the sum of the parts; the per-frame mode reports
 *                PL_ERR_LIMIT naming memory_limit_mb when the bound is too small, and so does create
 *   api          errors: backward before forward, a cotangent outside the frames, a material changed between
 *                forward and backward, NaN in a cotangent (named particle and frame); cotangents accumulate and
 *                are cleared by the backward pass; gradients accumulate
 * Usage: test_mpm_adjoint_tape [checkpoints|memory|api] [--small] */
#include "core/log.h"
#include "tests/mpm/adjoint_harness.h"

static int g_small = 0;

static void base_scene(ah_scene *sc, int substeps) {
  ah_init(sc);
  sc->mats[0] = ah_material(MPM_FIXED_COROTATED);
  sc->mats[1] = ah_material(MPM_STVK_VON_MISES);
  sc->mats[1].yield_stress = 200;
  sc->d.nmaterials = 2;
  sc->d.gravity[1] = -9.8;
  sc->d.frame_dt = 1.0 / 50;
  sc->d.substeps = substeps;
  sc->frames = 4;
  sc->d.boundary_friction = 0.2;
  mpm_collider *c = &sc->cols[0];
  memset(c, 0, sizeof *c);
  c->shape = MPM_COLLIDER_PLANE, c->type = MPM_CONTACT_SLIP, c->friction = 0.3;
  c->point[1] = 0.3, c->normal[1] = 1;
  sc->d.ncolliders = 1;
  mpm_object o[2] = {tu_box(0.4, 0.42, 0.5, 0.12, 0.12, 0.12, 0), tu_box(0.6, 0.42, 0.5, 0.12, 0.12, 0.12, 1)};
  o[0].particles_per_cell = o[1].particles_per_cell = g_small ? 2 : 8;
  o[0].velocity[1] = o[1].velocity[1] = -1;
  ah_sample(sc, o, 2);
  double scale[4] = {1, 0.1, 0.01, 1};
  int fr[2] = {2, 4};
  ah_set_loss(sc, 2, fr, scale);
}

static int grads_equal(const mpm_grads *a, const mpm_grads *b) {
  size_t n = (size_t)a->n;
  int M = a->nmaterials;
  if (memcmp(a->x0, b->x0, n * 3 * sizeof(real)) || memcmp(a->v0, b->v0, n * 3 * sizeof(real)) ||
      memcmp(a->C0, b->C0, n * 9 * sizeof(real)) || memcmp(a->F0, b->F0, n * 9 * sizeof(real)))
    return 0;
  for (int m = 0; m < M; ++m)
    for (int k = 0; k < AH_NMATPAR; ++k)
      if (ah_grad_matpar(a, m, k) != ah_grad_matpar(b, m, k)) return 0;
  for (int k = 0; k < 3; ++k)
    if (a->gravity[k] != b->gravity[k]) return 0;
  return a->collider_friction[0] == b->collider_friction[0] && a->boundary_friction == b->boundary_friction;
}

static double grad_norm(const mpm_grads *g) {
  double s = 0;
  for (int64_t i = 0; i < g->n * 9; ++i) s += (double)g->F0[i] * g->F0[i];
  for (int64_t i = 0; i < g->n * 3; ++i) s += (double)g->x0[i] * g->x0[i] + (double)g->v0[i] * g->v0[i];
  return sqrt(s);
}

static void alloc_grads(ah_scene *sc, mpm_grads *g) {
  mpm_sim *s = NULL;
  if (mpm_create(&s, &sc->d, &sc->p, NULL, 0) != PL_OK || mpm_grads_alloc(g, s) != PL_OK) {
    fprintf(stderr, "setup: %s\n", pl_last_error());
    exit(1);
  }
  mpm_destroy(s);
}

/* bytes of the work buffers for this scene: a tape's peak before any checkpoint */
static int64_t work_bytes(ah_scene *sc) {
  mpm_sim *s = NULL;
  mpm_tape *t;
  int64_t peak = 0;
  if (mpm_create(&s, &sc->d, &sc->p, NULL, 0) == PL_OK && mpm_tape_create(&t, s, NULL) == PL_OK) {
    mpm_tape_memory(t, NULL, NULL, NULL, &peak);
    mpm_tape_free(t);
  }
  mpm_destroy(s);
  return peak;
}

static void test_checkpoints(void) {
  printf("checkpoint placement does not change the gradient (bitwise):\n");
  ah_scene sc;
  base_scene(&sc, 5);
  mpm_grads ref, g;
  alloc_grads(&sc, &ref);
  alloc_grads(&sc, &g);
  double L0, L;
  sc.td.checkpoint_every = 1;
  CHECK(ah_run_scene(&sc, &L0, &ref) == PL_OK, "%s", pl_last_error());
  CHECK(grad_norm(&ref) > 0, "zero gradient");
  int64_t state = mpm_state_bytes(sc.p.n), work = work_bytes(&sc);
  struct {
    const char *name;
    int every;
    double limit_states;
  } cs[] = {{"every frame", 0, 0}, {"every 3 substeps", 3, 0}, {"every 7 substeps", 7, 0},
            {"one for the whole run", 1000, 0}, {"automatic, loose bound", MPM_TAPE_AUTO, 0},
            {"automatic, bound of 12 states", MPM_TAPE_AUTO, 12}};
  for (int i = 0; i < (int)(sizeof cs / sizeof cs[0]); ++i) {
    sc.td.checkpoint_every = cs[i].every;
    sc.td.memory_limit_mb = cs[i].limit_states > 0 ? (double)(work + (int64_t)cs[i].limit_states * state) / (1024.0 * 1024.0) : 0;
    pl_status st = ah_run_scene(&sc, &L, &g);
    CHECK(st == PL_OK, "%s: %s", cs[i].name, pl_last_error());
    CHECK(L == L0, "%s: the forward loss changed (%.17g vs %.17g)", cs[i].name, L, L0);
    CHECK(grads_equal(&g, &ref), "%s: the gradient differs from the one with a checkpoint at every substep", cs[i].name);
    printf("  %-32s %3d checkpoints, segment %6.1f KB, peak %7.1f KB: %s\n", cs[i].name, sc.checkpoints,
           (double)sc.seg_bytes / 1024, (double)sc.peak_bytes / 1024, grads_equal(&g, &ref) ? "identical" : "DIFFERENT");
  }
  mpm_grads_free(&ref);
  mpm_grads_free(&g);
  ah_free(&sc);
}

static void test_memory(void) {
  printf("memory under the bound when the substeps grow 10x (automatic checkpoints):\n");
  int sub[2] = {5, 50};
  for (int r = 0; r < 2; ++r) {
    ah_scene sc;
    base_scene(&sc, sub[r]);
    int64_t state = mpm_state_bytes(sc.p.n), work = work_bytes(&sc);
    int64_t limit = work + 30 * state + 2 * state; /* + the two frames' cotangent sources */
    sc.td.checkpoint_every = MPM_TAPE_AUTO;
    sc.td.memory_limit_mb = (double)limit / (1024.0 * 1024.0);
    mpm_grads g, ref;
    alloc_grads(&sc, &g);
    alloc_grads(&sc, &ref);
    double L;
    pl_status st = ah_run_scene(&sc, &L, &g);
    CHECK(st == PL_OK, "%d substeps per frame: %s", sub[r], pl_last_error());
    int64_t S = (int64_t)sub[r] * sc.frames;
    double full = (double)(S * state);
    printf("  %3d substeps: %3d checkpoints + segment %2lld states, peak %.1f KB <= bound %.1f KB; storing every "
           "substep: %.1f KB\n", (int)S, sc.checkpoints, (long long)(sc.seg_bytes / state), (double)sc.peak_bytes / 1024,
           (double)limit / 1024, full / 1024);
    CHECK(sc.peak_bytes <= limit, "peak %lld > bound %lld", (long long)sc.peak_bytes, (long long)limit);
    CHECK(sc.peak_bytes >= work + (sc.checkpoints + sc.seg_bytes / state + 2) * state,
          "the peak (%lld) is less than the parts held at the end", (long long)sc.peak_bytes);
    if (r == 1) CHECK(full > 3 * (double)limit, "the 10x run should not fit when every substep is stored");
    /* the same gradient as with a checkpoint at every substep (no bound) */
    sc.td.checkpoint_every = 1;
    sc.td.memory_limit_mb = 0;
    CHECK(ah_run_scene(&sc, &L, &ref) == PL_OK, "%s", pl_last_error());
    CHECK(grads_equal(&g, &ref), "%d substeps: the bounded gradient differs", sub[r]);
    /* the per-frame mode with that bound: 10x substeps no longer fit, and the error says what to change */
    sc.td.checkpoint_every = 0;
    sc.td.memory_limit_mb = (double)limit / (1024.0 * 1024.0);
    st = ah_run_scene(&sc, &L, &ref);
    if (r == 0) CHECK(st == PL_OK, "per frame, 5 substeps: %s", pl_last_error());
    else {
      CHECK(st == PL_ERR_LIMIT, "per frame, 50 substeps: expected PL_ERR_LIMIT, got %d", (int)st);
      CHECK(strstr(pl_last_error(), "memory_limit_mb") && strstr(pl_last_error(), "checkpoint_every"),
            "the message names the settings: %s", pl_last_error());
      printf("  per-frame checkpoints, 50 substeps: %s\n", pl_last_error());
    }
    mpm_grads_free(&g);
    mpm_grads_free(&ref);
    ah_free(&sc);
  }
  /* a bound below the work buffers fails at create */
  ah_scene sc;
  base_scene(&sc, 5);
  mpm_sim *s = NULL;
  mpm_tape *t = NULL;
  CHECK(mpm_create(&s, &sc.d, &sc.p, NULL, 0) == PL_OK, "init");
  mpm_tape_desc td = {0, 0.01};
  pl_status st = mpm_tape_create(&t, s, &td);
  CHECK(st == PL_ERR_LIMIT && t == NULL, "create under a 10 KB bound: expected PL_ERR_LIMIT, got %d", (int)st);
  CHECK(strstr(pl_last_error(), "memory_limit_mb") != NULL, "message: %s", pl_last_error());
  td.checkpoint_every = -5;
  CHECK(mpm_tape_create(&t, s, &td) == PL_ERR_INVALID, "checkpoint_every = -5 accepted");
  mpm_destroy(s);
  ah_free(&sc);
}

static pl_status nan_cb(void *u, int frame, const mpm_state *st) {
  (void)st;
  ah_run *r = (ah_run *)u;
  if (frame != 3) return PL_OK;
  size_t n = (size_t)r->sc->p.n;
  real *w = (real *)calloc(n * 9, sizeof(real));
  w[9 * 5 + 4] = NAN; /* particle 5 */
  pl_status s = mpm_tape_add_cotangent(r->tape, frame, NULL, NULL, NULL, w);
  free(w);
  return s;
}

static void test_api(void) {
  printf("API contract and errors:\n");
  ah_scene sc;
  base_scene(&sc, 5);
  mpm_sim *s = NULL;
  mpm_tape *t;
  mpm_grads g, g2;
  CHECK(mpm_create(&s, &sc.d, &sc.p, NULL, 0) == PL_OK, "init");
  CHECK(mpm_tape_create(&t, s, NULL) == PL_OK, "create: %s", pl_last_error());
  CHECK(mpm_grads_alloc(&g, s) == PL_OK && mpm_grads_alloc(&g2, s) == PL_OK, "grads");
  CHECK(mpm_tape_backward(t, &g) == PL_ERR_INVALID, "backward before forward");
  mpm_state init;
  mpm_state_alloc(&init, s->backend, s->n);
  mpm_state_copy(&init, &s->state);
  CHECK(mpm_tape_forward(t, &init, 4, NULL, NULL) == PL_OK, "%s", pl_last_error());
  CHECK(s->frame == 4, "sim->frame after the forward: %d", s->frame);
  size_t n = (size_t)s->n;
  real *w = (real *)malloc(n * 9 * sizeof(real));
  for (size_t i = 0; i < n * 9; ++i) w[i] = (real)test_rand();
  CHECK(mpm_tape_add_cotangent(t, 5, w, NULL, NULL, NULL) == PL_ERR_INVALID, "frame 5 of 4 accepted");
  CHECK(mpm_tape_add_cotangent(t, -1, w, NULL, NULL, NULL) == PL_ERR_INVALID, "frame -1 accepted");
  /* once, then twice: the gradient doubles */
  CHECK(mpm_tape_add_cotangent(t, 4, w, w, w, w) == PL_OK && mpm_tape_add_cotangent(t, 1, NULL, w, NULL, NULL) == PL_OK,
        "%s", pl_last_error());
  mpm_grads_zero(&g);
  CHECK(mpm_tape_backward(t, &g) == PL_OK, "%s", pl_last_error());
  CHECK(grad_norm(&g) > 0, "zero gradient");
  /* the cotangents were cleared: a second backward adds nothing */
  mpm_grads_zero(&g2);
  CHECK(mpm_tape_backward(t, &g2) == PL_OK && grad_norm(&g2) == 0, "cotangents not cleared by the backward pass");
  for (int rep = 0; rep < 2; ++rep) {
    CHECK(mpm_tape_add_cotangent(t, 4, w, w, w, w) == PL_OK, "%s", pl_last_error());
    CHECK(mpm_tape_add_cotangent(t, 1, NULL, w, NULL, NULL) == PL_OK, "%s", pl_last_error());
  }
  CHECK(mpm_tape_backward(t, &g2) == PL_OK, "%s", pl_last_error());
  double e = 0;
  for (size_t i = 0; i < n * 9; ++i) e = fmax(e, fabs((double)g2.F0[i] - 2.0 * g.F0[i]) / (fabs(g.F0[i]) + 1e-3));
  CHECK(e < 1e-5, "cotangents added twice do not double the gradient (%.2e)", e);
  CHECK(fabs(g2.E[0] - 2 * g.E[0]) <= 1e-5 * fabs(g.E[0]), "E: %g vs 2 x %g", g2.E[0], g.E[0]);
  /* the gradient accumulates into g */
  CHECK(mpm_tape_add_cotangent(t, 4, w, w, w, w) == PL_OK && mpm_tape_add_cotangent(t, 1, NULL, w, NULL, NULL) == PL_OK,
        "%s", pl_last_error());
  CHECK(mpm_tape_backward(t, &g) == PL_OK, "%s", pl_last_error());
  CHECK(fabs(g.E[0] - g2.E[0]) <= 1e-5 * fabs(g2.E[0]), "gradients do not accumulate (E: %g vs %g)", g.E[0], g2.E[0]);
  /* a material changed between forward and backward */
  mpm_material m = s->materials[0];
  m.E *= 1.1;
  CHECK(mpm_set_material(s, 0, &m) == PL_OK, "%s", pl_last_error());
  CHECK(mpm_tape_backward(t, &g) == PL_ERR_INVALID, "a changed material was not noticed");
  CHECK(strstr(pl_last_error(), "changed") != NULL, "message: %s", pl_last_error());
  /* density rescales the masses (m = rho V0) */
  real m0 = 0, m1 = 0;
  pl_buffer_download(&s->mass, 0, &m0, sizeof m0);
  m.density *= 2;
  CHECK(mpm_set_material(s, 0, &m) == PL_OK, "%s", pl_last_error());
  pl_buffer_download(&s->mass, 0, &m1, sizeof m1);
  CHECK(sc.p.material[0] != 0 || fabs(m1 - 2 * m0) <= 1e-6 * m0, "density x2: mass %g -> %g", (double)m0, (double)m1);
  /* NaN in a cotangent: an error naming the particle and the frame */
  ah_run r;
  memset(&r, 0, sizeof r);
  r.sc = &sc;
  r.tape = t;
  CHECK(mpm_tape_forward(t, &init, 4, nan_cb, &r) == PL_OK, "%s", pl_last_error());
  pl_status st = mpm_tape_backward(t, &g);
  CHECK(st == PL_ERR_NUMERIC, "NaN cotangent: got %d", (int)st);
  CHECK(strstr(pl_last_error(), "particle 5") && strstr(pl_last_error(), "frame 3"), "message: %s", pl_last_error());
  printf("  %s\n", pl_last_error());
  /* the frame callback's error stops the forward */
  free(w);
  mpm_state_free(&init);
  mpm_grads_free(&g);
  mpm_grads_free(&g2);
  mpm_tape_free(t);
  mpm_tape_free(NULL);
  mpm_grads_free(NULL);
  mpm_destroy(s);
  ah_free(&sc);
}

int main(int argc, char **argv) {
  pl_log_set_level(PL_LOG_WARN);
  const tu_case cases[] = {
      {"checkpoints", test_checkpoints},
      {"memory", test_memory},
      {"api", test_api}};
  return tu_main(argc, argv, cases, (int)(sizeof cases / sizeof cases[0]), &g_small, "test_mpm_adjoint_tape");
}
