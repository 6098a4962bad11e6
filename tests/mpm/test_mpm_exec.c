/* test_mpm_exec.c: the execution paths of mpm_desc (sync, p2g, sort_every) on the CPU backend, which keeps the
 * deferred-check protocol of the ops table (mpm_exec.c) so that the front's side of it runs without a GPU.
 *
 * 1. sync = frame gives bitwise the same forward states and tape gradients as sync = stage (the CPU is
 *    deterministic; only when the host looks at the error word changes).
 * 2. every bad state of test_mpm_safety is reported with deferred checks as with per-stage ones: the same
 *    particle, object, material, frame, substep, stage and kind of error; also from the tape's forward pass.
 * 3. the environment variables choose the paths; a bad value is an error naming the variable.
 * 4. graph = on (CUDA graphs of substeps; the CPU runs the graph runner's emulation, cpu_substeps): when the runner
 *    may be used (mpm_graph_usable), and that runs through it give bitwise the states, times, counters, tape
 *    gradients and error messages of substep-by-substep runs. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <math.h>
#include <stdlib.h>

#include "mpm/mpm_adjoint.h"
#include "mpm/mpm_tile.h"
#include "tests/mpm/mpm_test_util.h"

static mpm_material g_mat;

static mpm_sim *make_jelly_graph(int sync, int p2g, int graph) {
  g_mat = tu_material(MPM_FIXED_COROTATED, 5e4, 0.3, 1000);
  g_mat.name = "jelly";
  mpm_desc d = tu_desc(20, &g_mat, 1);
  d.sync = sync;
  d.p2g = p2g;
  d.graph = graph;
  mpm_object o = tu_box(0.5, 0.5, 0.5, 0.2, 0.2, 0.2, 0);
  o.name = "cube";
  o.velocity[1] = -1, o.angular_velocity[0] = 2;
  return tu_make(&d, &o, 1);
}
static mpm_sim *make_jelly(int sync, int p2g) { return make_jelly_graph(sync, p2g, 0); }

static int same_state(mpm_sim *a, mpm_sim *b) {
  mpm_particles ha = {0}, hb = {0};
  tu_get(a, &ha);
  tu_get(b, &hb);
  size_t n = (size_t)a->n;
  int same = !memcmp(ha.x, hb.x, n * 3 * sizeof(real)) && !memcmp(ha.v, hb.v, n * 3 * sizeof(real)) &&
             !memcmp(ha.C, hb.C, n * 9 * sizeof(real)) && !memcmp(ha.F, hb.F, n * 9 * sizeof(real));
  mpm_particles_free(&ha);
  mpm_particles_free(&hb);
  return same;
}

/* dL/dx0 etc. of L = sum of x at the last frame, through the tape. */
static pl_status tape_grads(mpm_sim *s, mpm_grads *g, int frames) {
  mpm_tape_desc td = {0};
  td.checkpoint_every = 5;
  mpm_tape *t = NULL;
  mpm_state init;
  PL_TRY(mpm_state_alloc(&init, s->backend, s->n));
  pl_status st = mpm_state_copy(&init, &s->state);
  if (st == PL_OK) st = mpm_tape_create(&t, s, &td);
  if (st == PL_OK) st = mpm_tape_forward(t, &init, frames, NULL, NULL);
  real *ones = (real *)malloc((size_t)s->n * 3 * sizeof(real));
  for (int64_t i = 0; i < 3 * s->n; ++i) ones[i] = 1;
  if (st == PL_OK) st = mpm_tape_add_cotangent(t, frames, ones, NULL, NULL, NULL);
  if (st == PL_OK) st = mpm_grads_alloc(g, s);
  if (st == PL_OK) st = mpm_grads_zero(g);
  if (st == PL_OK) st = mpm_tape_backward(t, g);
  free(ones);
  mpm_tape_free(t);
  mpm_state_free(&init);
  return st;
}

static void test_same_results(void) {
  mpm_sim *a = make_jelly(MPM_SYNC_STAGE, 0), *b = make_jelly(MPM_SYNC_FRAME, MPM_P2G_TILED);
  CHECK(a->sync_mode == MPM_SYNC_STAGE && b->sync_mode == MPM_SYNC_FRAME && b->p2g_mode == MPM_P2G_TILED &&
            b->sort_every == 8,
        "resolved paths %d %d %d %d", a->sync_mode, b->sync_mode, b->p2g_mode, b->sort_every);
  for (int f = 0; f < 3; ++f) {
    CHECK(mpm_advance_frame(a) == PL_OK, "%s", pl_last_error());
    CHECK(mpm_advance_frame(b) == PL_OK, "%s", pl_last_error());
  }
  CHECK(same_state(a, b), "sync = frame changed the forward states");
  CHECK(!b->defer_active, "a span left open after a frame");
  mpm_grads ga, gb;
  memset(&ga, 0, sizeof ga);
  memset(&gb, 0, sizeof gb);
  CHECK(tape_grads(a, &ga, 2) == PL_OK, "%s", pl_last_error());
  CHECK(tape_grads(b, &gb, 2) == PL_OK, "%s", pl_last_error());
  size_t n = (size_t)a->n;
  CHECK(ga.x0 && gb.x0 && !memcmp(ga.x0, gb.x0, n * 3 * sizeof(real)) && !memcmp(ga.F0, gb.F0, n * 9 * sizeof(real)) &&
            ga.E[0] == gb.E[0] && ga.nu[0] == gb.nu[0],
        "sync = frame changed the tape's gradients (dL/dE %g vs %g)", ga.E ? ga.E[0] : 0, gb.E ? gb.E[0] : 0);
  CHECK(!b->defer_active, "a span left open after the tape");
  mpm_grads_free(&ga);
  mpm_grads_free(&gb);
  mpm_destroy(a);
  mpm_destroy(b);
}

static void corrupt(mpm_sim *s, int64_t p, int field, real value) {
  mpm_particles h = {0};
  tu_get(s, &h);
  if (field == 0) h.x[3 * p] = value;
  if (field == 1) h.F[9 * p] = value;
  if (field == 2) h.F[9 * p + 8] = value;
  if (field == 3) h.v[3 * p] = value;
  CHECK(mpm_upload(s, &h) == PL_OK, "%s", pl_last_error());
  mpm_particles_free(&h);
}

/* The message up to its first ';' (after it come the particle's values, read at a different time). */
static void head_of(const char *msg, char *out, size_t size) {
  snprintf(out, size, "%s", msg);
  char *semi = strchr(out, ';');
  if (semi) *semi = 0;
  const char *cuts[] = {", checked at the end", " (det F"}; /* the deferred stage names its check; values differ */
  for (int k = 0; k < 2; ++k) {
    char *c = strstr(out, cuts[k]);
    if (c) *c = 0;
  }
}

static void test_bad_states(void) {
  struct {
    const char *what;
    int64_t particle;
    int field;
    real value;
  } cs[] = {
      {"NaN in F", 5, 1, (real)NAN},
      {"particle outside the box", 9, 0, (real)1.5},
      {"NaN position", 13, 0, (real)NAN},
      {"inverted F", 11, 2, (real)-0.9},
      {"NaN velocity", 17, 3, (real)NAN}, /* found in G2P, in the neighbours it poisoned */
  };
  for (int i = 0; i < (int)(sizeof cs / sizeof cs[0]); ++i) {
    char msg[2][1024];
    pl_status st[2];
    for (int m = 0; m < 2; ++m) {
      mpm_sim *s = make_jelly(m ? MPM_SYNC_FRAME : MPM_SYNC_STAGE, 0);
      CHECK(mpm_advance_frame(s) == PL_OK, "%s", pl_last_error());
      corrupt(s, cs[i].particle, cs[i].field, cs[i].value);
      st[m] = mpm_advance_frame(s);
      head_of(pl_last_error(), msg[m], sizeof msg[m]);
      printf("%-24s %-5s -> %s\n", cs[i].what, m ? "frame" : "stage", pl_last_error());
      CHECK(!s->defer_active, "%s: a span left open", cs[i].what);
      mpm_destroy(s);
    }
    CHECK(st[0] == PL_ERR_NUMERIC && st[1] == st[0], "%s: status %d / %d", cs[i].what, st[0], st[1]);
    CHECK(!strcmp(msg[0], msg[1]), "%s: deferred checks report\n  '%s'\nper-stage checks\n  '%s'", cs[i].what, msg[1],
          msg[0]);
  }
  /* the tape's forward pass: the same message */
  char msg[2][1024];
  for (int m = 0; m < 2; ++m) {
    mpm_sim *s = make_jelly(m ? MPM_SYNC_FRAME : MPM_SYNC_STAGE, 0);
    corrupt(s, 9, 0, (real)1.5);
    mpm_tape *t = NULL;
    mpm_tape_desc td = {0};
    mpm_state init;
    CHECK(mpm_state_alloc(&init, s->backend, s->n) == PL_OK && mpm_state_copy(&init, &s->state) == PL_OK, "state");
    CHECK(mpm_tape_create(&t, s, &td) == PL_OK, "%s", pl_last_error());
    CHECK(mpm_tape_forward(t, &init, 2, NULL, NULL) == PL_ERR_NUMERIC, "tape forward: no error");
    head_of(pl_last_error(), msg[m], sizeof msg[m]);
    printf("tape, outside the box     %-5s -> %s\n", m ? "frame" : "stage", pl_last_error());
    CHECK(!s->defer_active, "tape: a span left open");
    mpm_tape_free(t);
    mpm_state_free(&init);
    mpm_destroy(s);
  }
  CHECK(!strcmp(msg[0], msg[1]), "tape: deferred '%s' vs per-stage '%s'", msg[1], msg[0]);
}

/* A span of substeps run by hand (the public API), the state corrupted before substep 7: the error must name
 * substep 7 with deferred checks too. */
static void where_fn(void *user, int64_t k, char *buf, size_t size) {
  (void)user;
  snprintf(buf, size, "substep %lld: ", (long long)k + 1);
}
static void test_span_substep(void) {
  char msg[2][1024];
  for (int m = 0; m < 2; ++m) {
    mpm_sim *s = make_jelly(m ? MPM_SYNC_FRAME : MPM_SYNC_STAGE, 0);
    CHECK(mpm_checks_begin(s, 10) == PL_OK, "%s", pl_last_error());
    CHECK(s->defer_active == m, "span active: %d", s->defer_active);
    pl_status st = PL_OK;
    for (int k = 0; k < 10 && st == PL_OK; ++k) {
      if (k == 6) corrupt(s, 21, 1, (real)NAN);
      mpm_checks_substep(s, k);
      st = mpm_substep(s, (real)1e-4);
      if (st != PL_OK) {
        mpm_checks_abort(s);
        st = pl_fail_context(st, "substep %d: ", k + 1);
      }
    }
    if (st == PL_OK) st = mpm_checks_end(s, &s->state, where_fn, NULL);
    CHECK(st == PL_ERR_NUMERIC, "no error (mode %d)", m);
    head_of(pl_last_error(), msg[m], sizeof msg[m]);
    printf("span, NaN F at substep 7  %-5s -> %s\n", m ? "frame" : "stage", pl_last_error());
    CHECK(strstr(msg[m], "substep 7: particle 21"), "mode %d: '%s'", m, msg[m]);
    mpm_destroy(s);
  }
  CHECK(!strcmp(msg[0], msg[1]), "span: deferred '%s' vs per-stage '%s'", msg[1], msg[0]);
}

/* 4. graphs: the decision, then the same results through the runner */
static void test_graph(void) {
  mpm_sim *off = make_jelly_graph(MPM_SYNC_FRAME, 0, MPM_GRAPH_OFF), *on = make_jelly_graph(MPM_SYNC_FRAME, 0, MPM_GRAPH_ON);
  CHECK(on->graph_mode == MPM_GRAPH_ON && off->graph_mode == MPM_GRAPH_OFF, "graph modes %d %d", on->graph_mode,
        off->graph_mode);
  CHECK(!mpm_graph_usable(on), "a graph outside a span of deferred checks");
  CHECK(mpm_checks_begin(on, 10) == PL_OK && mpm_graph_usable(on), "no graph inside a span");
  mpm_checks_abort(on);
  CHECK(!mpm_graph_usable(on), "a graph after the span");
  CHECK(mpm_checks_begin(off, 10) == PL_OK && !mpm_graph_usable(off), "a graph with graph = off");
  mpm_checks_abort(off);
  /* a span too long for the tagged word keeps per-stage checks, and then no graph either */
  CHECK(mpm_checks_begin(on, MPM_DEFER_MAX_SUBSTEPS + 1) == PL_OK && !on->defer_active && !mpm_graph_usable(on),
        "a graph without deferred checks");
  mpm_checks_abort(on);
  /* frames: the runner against substep by substep (sync = frame without graphs), bitwise */
  for (int f = 0; f < 3; ++f) {
    CHECK(mpm_advance_frame(off) == PL_OK, "%s", pl_last_error());
    CHECK(mpm_advance_frame(on) == PL_OK, "%s", pl_last_error());
  }
  CHECK(same_state(off, on), "graph = on changed the forward states");
  CHECK(off->substeps_done == on->substeps_done && off->particle_substeps == on->particle_substeps &&
            off->time == on->time && !on->defer_active,
        "counters: %lld / %lld substeps, t %.17g / %.17g", (long long)off->substeps_done, (long long)on->substeps_done,
        off->time, on->time);
  /* a run by hand from substep 3 of a span: time and state as substep by substep */
  CHECK(mpm_checks_begin(off, 8) == PL_OK && mpm_checks_begin(on, 8) == PL_OK, "%s", pl_last_error());
  const double t0 = 0.125, dt = 1.3e-4;
  CHECK(mpm_run_substeps(on, t0, dt, 3, 5) == PL_OK, "%s", pl_last_error());
  for (int k = 3; k < 8; ++k) {
    off->time = t0 + k * dt;
    mpm_checks_substep(off, k);
    CHECK(mpm_substep(off, (real)dt) == PL_OK, "%s", pl_last_error());
  }
  CHECK(same_state(off, on) && off->time == on->time && off->defer_substep == on->defer_substep,
        "a run of 5 substeps differs (t %.17g / %.17g)", off->time, on->time);
  CHECK(mpm_checks_end(off, &off->state, NULL, NULL) == PL_OK && mpm_checks_end(on, &on->state, NULL, NULL) == PL_OK,
        "%s", pl_last_error());
  /* the tape: runs between checkpoints (every 5 substeps, and one per frame) through the runner */
  mpm_grads ga, gb;
  memset(&ga, 0, sizeof ga);
  memset(&gb, 0, sizeof gb);
  CHECK(tape_grads(off, &ga, 2) == PL_OK, "%s", pl_last_error());
  CHECK(tape_grads(on, &gb, 2) == PL_OK, "%s", pl_last_error());
  size_t n = (size_t)off->n;
  CHECK(ga.x0 && gb.x0 && !memcmp(ga.x0, gb.x0, n * 3 * sizeof(real)) && !memcmp(ga.F0, gb.F0, n * 9 * sizeof(real)) &&
            ga.E[0] == gb.E[0] && ga.nu[0] == gb.nu[0],
        "graph = on changed the tape's gradients (dL/dE %g vs %g)", ga.E ? ga.E[0] : 0, gb.E ? gb.E[0] : 0);
  mpm_grads_free(&ga);
  mpm_grads_free(&gb);
  mpm_destroy(off);
  mpm_destroy(on);
  /* errors: a bad state in a frame run through the runner, and one between two runs of a span */
  char msg[2][1024];
  for (int m = 0; m < 2; ++m) {
    mpm_sim *s = make_jelly_graph(MPM_SYNC_FRAME, 0, m ? MPM_GRAPH_ON : MPM_GRAPH_OFF);
    CHECK(mpm_advance_frame(s) == PL_OK, "%s", pl_last_error());
    corrupt(s, 9, 0, (real)1.5);
    CHECK(mpm_advance_frame(s) == PL_ERR_NUMERIC, "graph %d: no error", m);
    head_of(pl_last_error(), msg[m], sizeof msg[m]);
    printf("graph %-3s, outside the box -> %s\n", m ? "on" : "off", pl_last_error());
    CHECK(!s->defer_active, "a span left open");
    mpm_destroy(s);
  }
  CHECK(!strcmp(msg[0], msg[1]), "frame: graph '%s' vs substeps '%s'", msg[1], msg[0]);
  mpm_sim *s = make_jelly_graph(MPM_SYNC_FRAME, 0, MPM_GRAPH_ON);
  CHECK(mpm_checks_begin(s, 10) == PL_OK, "%s", pl_last_error());
  pl_status st = mpm_run_substeps(s, 0, 1e-4, 0, 6);
  corrupt(s, 21, 1, (real)NAN);
  if (st == PL_OK) st = mpm_run_substeps(s, 0, 1e-4, 6, 4);
  if (st == PL_OK) st = mpm_checks_end(s, &s->state, where_fn, NULL);
  printf("graph runs, NaN F at substep 7 -> %s\n", pl_last_error());
  CHECK(st == PL_ERR_NUMERIC && strstr(pl_last_error(), "substep 7: particle 21"), "'%s'", pl_last_error());
  mpm_destroy(s);
}

static void test_environment(void) {
  setenv("PL_MPM_SYNC", "frame", 1);
  setenv("PL_MPM_P2G", "tiled", 1);
  setenv("PL_MPM_SORT_EVERY", "3", 1);
  mpm_sim *s = make_jelly(0, 0);
  CHECK(s->sync_mode == MPM_SYNC_FRAME && s->p2g_mode == MPM_P2G_TILED && s->sort_every == 3, "from the environment");
  mpm_destroy(s);
  s = make_jelly(MPM_SYNC_STAGE, MPM_P2G_ATOMIC); /* the descriptor wins */
  CHECK(s->sync_mode == MPM_SYNC_STAGE && s->p2g_mode == MPM_P2G_ATOMIC, "the descriptor over the environment");
  mpm_destroy(s);
  const char *bad[][2] = {{"PL_MPM_SYNC", "substep"}, {"PL_MPM_P2G", "shared"}, {"PL_MPM_SORT_EVERY", "0"}};
  for (int k = 0; k < 3; ++k) {
    setenv(bad[k][0], bad[k][1], 1);
    g_mat = tu_material(MPM_FIXED_COROTATED, 5e4, 0.3, 1000);
    mpm_desc d = tu_desc(20, &g_mat, 1);
    mpm_object o = tu_box(0.5, 0.5, 0.5, 0.2, 0.2, 0.2, 0);
    mpm_particles p;
    CHECK(mpm_sample_objects(&d, &o, 1, &p) == PL_OK, "%s", pl_last_error());
    mpm_sim *t = NULL;
    pl_status st = mpm_create(&t, &d, &p, &o, 1);
    printf("%s=%s -> %s\n", bad[k][0], bad[k][1], pl_last_error());
    CHECK(st == PL_ERR_INVALID && strstr(pl_last_error(), bad[k][0]) && strstr(pl_last_error(), bad[k][1]),
          "%s = %s: '%s'", bad[k][0], bad[k][1], pl_last_error());
    mpm_destroy(t);
    mpm_particles_free(&p);
    setenv(bad[k][0], k == 0 ? "frame" : k == 1 ? "tiled" : "3", 1);
  }
  unsetenv("PL_MPM_SYNC");
  unsetenv("PL_MPM_P2G");
  unsetenv("PL_MPM_SORT_EVERY");
  /* PL_MPM_GRAPH: 0 | 1 | off | on; it needs sync = frame */
  const char *graph_ok[][2] = {{"1", "on"}, {"on", "on"}, {"0", "off"}, {"off", "off"}};
  setenv("PL_MPM_SYNC", "frame", 1);
  for (int k = 0; k < 4; ++k) {
    setenv("PL_MPM_GRAPH", graph_ok[k][0], 1);
    s = make_jelly(0, 0);
    int want = !strcmp(graph_ok[k][1], "on") ? MPM_GRAPH_ON : MPM_GRAPH_OFF;
    CHECK(s && s->graph_mode == want, "PL_MPM_GRAPH=%s: mode %d", graph_ok[k][0], s ? s->graph_mode : -1);
    mpm_destroy(s);
  }
  const char *graph_bad[][3] = {{"yes", "frame", "PL_MPM_GRAPH = 'yes'"},
                                {"1", "stage", "PL_MPM_GRAPH=1"},
                                {"on", "", "sync = frame"}};
  for (int k = 0; k < 3; ++k) {
    setenv("PL_MPM_GRAPH", graph_bad[k][0], 1);
    setenv("PL_MPM_SYNC", graph_bad[k][1], 1);
    g_mat = tu_material(MPM_FIXED_COROTATED, 5e4, 0.3, 1000);
    mpm_desc d = tu_desc(20, &g_mat, 1);
    mpm_object o = tu_box(0.5, 0.5, 0.5, 0.2, 0.2, 0.2, 0);
    mpm_particles p;
    CHECK(mpm_sample_objects(&d, &o, 1, &p) == PL_OK, "%s", pl_last_error());
    mpm_sim *t = NULL;
    pl_status st = mpm_create(&t, &d, &p, &o, 1);
    printf("PL_MPM_GRAPH=%s PL_MPM_SYNC=%s -> %s\n", graph_bad[k][0], graph_bad[k][1], pl_last_error());
    CHECK(st == PL_ERR_INVALID && strstr(pl_last_error(), graph_bad[k][2]), "PL_MPM_GRAPH=%s: '%s'", graph_bad[k][0],
          pl_last_error());
    mpm_destroy(t);
    mpm_particles_free(&p);
  }
  unsetenv("PL_MPM_GRAPH");
  unsetenv("PL_MPM_SYNC");
  /* the descriptor: a bad value, and graph = on with sync = stage */
  for (int k = 0; k < 2; ++k) {
    g_mat = tu_material(MPM_FIXED_COROTATED, 5e4, 0.3, 1000);
    mpm_desc d = tu_desc(20, &g_mat, 1);
    d.graph = k ? MPM_GRAPH_ON : 3;
    d.sync = MPM_SYNC_STAGE;
    mpm_object o = tu_box(0.5, 0.5, 0.5, 0.2, 0.2, 0.2, 0);
    mpm_particles p;
    CHECK(mpm_sample_objects(&d, &o, 1, &p) == PL_OK, "%s", pl_last_error());
    mpm_sim *t = NULL;
    pl_status st = mpm_create(&t, &d, &p, &o, 1);
    printf("mpm_desc.graph = %d, sync = stage -> %s\n", d.graph, pl_last_error());
    CHECK(st == PL_ERR_INVALID && strstr(pl_last_error(), k ? "mpm_desc.graph = 2" : "mpm_desc.graph = 3"), "graph = %d: '%s'",
          d.graph, pl_last_error());
    mpm_destroy(t);
    mpm_particles_free(&p);
  }
}

int main(void) {
  unsetenv("PL_MPM_GRAPH");
  unsetenv("PL_MPM_SYNC");
  unsetenv("PL_MPM_P2G");
  unsetenv("PL_MPM_SORT_EVERY");
  test_same_results();
  test_bad_states();
  test_span_substep();
  test_environment();
  test_graph();
  return test_summary("test_mpm_exec");
}
