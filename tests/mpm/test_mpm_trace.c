/* test_mpm_trace.c: the simulator's branch trace (mpm_sim.particle_trace / node_trace), which gradcheck uses to
 * tell a finite difference that straddles a branch change (return map, contact) from a smooth one:
 *   - the same run twice gives the same traces (the hash depends on the branches only, not on threads);
 *   - an elastic model has one branch: its particle traces never differ, even when E changes and the states do;
 *   - Drucker-Prager sand: a different friction angle changes some particles' return-map branches;
 *   - a sticky floor has one branch (nothing traced); a slipping one with friction traces its nodes, and a
 *     different friction coefficient changes some (static / sliding);
 *   - the PIC share for material at rest (sim.pic_rest_speed): an elastic body's particles, which have one
 *     return-map branch, change side of |v| = v0 when E changes. */
#include <string.h>

#include "mpm/mpm_kernels.h"
#include "tests/mpm/mpm_test_util.h"

typedef struct {
  uint64_t *p, *g;
  int64_t n;
  size_t nodes;
} trace;

static double g_rest_speed = 0; /* sim.pic_rest_speed of the runs (share 0.5 when > 0) */

/* A box dropped onto the floor for 3 frames with the trace on. */
static trace run(int model, double E, double phi, int boundary, double mu) {
  mpm_material m = tu_material(model, E, 0.3, 1500);
  m.friction_angle = phi;
  mpm_desc d = tu_desc(16, &m, 1);
  d.boundary = boundary;
  d.boundary_friction = mu;
  d.substeps = 40; /* one schedule for every run (gradcheck holds its schedule too) */
  d.pic_blend = g_rest_speed > 0 ? 0.5 : 0;
  d.pic_rest_speed = g_rest_speed;
  mpm_object o = tu_box(0.5, 0.3, 0.5, 0.3, 0.2, 0.3, 0);
  o.velocity[0] = 0.8, o.velocity[1] = -1.5;
  mpm_sim *s = tu_make(&d, &o, 1);
  trace t;
  t.n = s->n;
  t.nodes = mpm_node_count(&s->grid);
  t.p = (uint64_t *)calloc((size_t)t.n, sizeof(uint64_t));
  t.g = (uint64_t *)calloc(t.nodes, sizeof(uint64_t));
  s->particle_trace = t.p;
  s->node_trace = t.g;
  mpm_state init;
  CHECK(mpm_state_alloc(&init, s->backend, s->n) == PL_OK && mpm_state_copy(&init, &s->state) == PL_OK, "state copy");
  for (int f = 0; f < 3; ++f) CHECK(mpm_advance_frame(s) == PL_OK, "frame %d: %s", f, pl_last_error());
  /* the same simulation run again from its start (as the engine's evaluations do): the same traces, though the
   * simulator's substep counter runs on */
  uint64_t *p1 = (uint64_t *)calloc((size_t)t.n, sizeof(uint64_t)), *g1 = (uint64_t *)calloc(t.nodes, sizeof(uint64_t));
  s->particle_trace = p1, s->node_trace = g1;
  CHECK(mpm_state_copy(&s->state, &init) == PL_OK, "reset");
  s->frame = 0, s->time = 0;
  for (int f = 0; f < 3; ++f) CHECK(mpm_advance_frame(s) == PL_OK, "rerun frame %d: %s", f, pl_last_error());
  CHECK(!memcmp(p1, t.p, (size_t)t.n * sizeof(uint64_t)) && !memcmp(g1, t.g, t.nodes * sizeof(uint64_t)),
        "a rerun of the same simulation gives the same traces");
  free(p1), free(g1);
  mpm_state_free(&init);
  mpm_destroy(s);
  return t;
}

static int64_t differ(const uint64_t *a, const uint64_t *b, size_t n) {
  int64_t k = 0;
  for (size_t i = 0; i < n; ++i) k += a[i] != b[i];
  return k;
}
static int64_t nonzero(const uint64_t *a, size_t n) {
  int64_t k = 0;
  for (size_t i = 0; i < n; ++i) k += a[i] != 0;
  return k;
}
static void done(trace *t) { free(t->p), free(t->g); }

int main(void) {
  /* the same sand run twice */
  trace a = run(MPM_DRUCKER_PRAGER, 1e5, 30, MPM_CONTACT_SLIP, 0.4), b = run(MPM_DRUCKER_PRAGER, 1e5, 30, MPM_CONTACT_SLIP, 0.4);
  CHECK(a.n == b.n && a.n > 100, "particles %lld", (long long)a.n);
  CHECK(differ(a.p, b.p, (size_t)a.n) == 0 && differ(a.g, b.g, a.nodes) == 0, "the same run gives the same traces");
  CHECK(nonzero(a.p, (size_t)a.n) == a.n, "every particle traced");
  /* another friction angle: some return maps change branch */
  trace c = run(MPM_DRUCKER_PRAGER, 1e5, 40, MPM_CONTACT_SLIP, 0.4);
  int64_t dp = differ(a.p, c.p, (size_t)a.n);
  printf("sand, friction angle 30 -> 40 deg: %lld of %lld particles took other return-map branches\n", (long long)dp,
         (long long)a.n);
  CHECK(dp > 0, "friction angle 30 -> 40: some return maps change branch");
  /* the slipping floor with friction: nodes traced; another coefficient changes static / sliding somewhere */
  int64_t traced = nonzero(a.g, a.nodes);
  trace e = run(MPM_DRUCKER_PRAGER, 1e5, 30, MPM_CONTACT_SLIP, 0.05);
  int64_t dn = differ(a.g, e.g, a.nodes);
  printf("slip floor: %lld nodes traced; friction 0.4 -> 0.05: %lld differ\n", (long long)traced, (long long)dn);
  CHECK(traced > 0 && dn > 0, "slip walls: contact branches traced and sensitive to friction");
  /* elastic: one branch; E changes the motion but never the (single) branch */
  trace j1 = run(MPM_FIXED_COROTATED, 1e5, 0, MPM_CONTACT_STICKY, 0), j2 = run(MPM_FIXED_COROTATED, 3e5, 0, MPM_CONTACT_STICKY, 0);
  CHECK(differ(j1.p, j2.p, (size_t)j1.n) == 0, "an elastic model's particle traces never differ");
  CHECK(nonzero(j1.g, j1.nodes) == 0, "sticky walls have one branch: nothing traced");
  /* the rest share: the same elastic runs with the share below 1 m/s (the box lands at 1.7 m/s and slows on the
   * sticky floor): E moves some particles across |v| = v0 */
  g_rest_speed = 1.0;
  trace r1 = run(MPM_FIXED_COROTATED, 1e5, 0, MPM_CONTACT_STICKY, 0);
  trace r2 = run(MPM_FIXED_COROTATED, 3e5, 0, MPM_CONTACT_STICKY, 0);
  g_rest_speed = 0;
  int64_t dr = differ(r1.p, r2.p, (size_t)r1.n);
  printf("elastic with the rest share below 1 m/s, E 1e5 -> 3e5: %lld of %lld particles took the other side\n",
         (long long)dr, (long long)r1.n);
  CHECK(dr > 0 && differ(r1.p, j1.p, (size_t)r1.n) > 0, "the rest share's side is traced and follows E");
  done(&a), done(&b), done(&c), done(&e), done(&j1), done(&j2), done(&r1), done(&r2);
  return test_summary("test_mpm_trace");
}
