/* test_mpm_cuda_parity.c: the CUDA backend against the CPU reference, stage by stage and end to end, on a table
 * of cases (every material, colliders of every shape and contact type, per-particle moduli, the granular transfer
 * with mu(I)). Errors are
 * normalised: max |cuda - cpu| / max(max |cpu|, floor), with NaN/Inf checks on both sides. Exits 77 (skipped)
 * without a CUDA device. Every case runs both CUDA P2G paths (atomic, the verified default; tiled, prepared:
 * docs/gpu.md), each also with CUDA graphs (graph = on, sync = frame: the run after the first substep replays one
 * captured substep, mpm_run_substeps), and the deferred particle checks (sync = frame, with and without graphs)
 * must report a bad particle as the CPU does. */
#include <math.h>

#include "mpm/mpm_internal.h"
#include "mpm/mpm_kernels.h"
#include "tests/mpm/mpm_test_util.h"

typedef struct {
  const char *name;
  int model;
  int collider;   /* -1: none, else MPM_COLLIDER_* */
  int contact;
  int per_particle;
  int substeps;
  double tol;
  int granular;   /* 1: the granular transfer (a PIC share for material below a rest speed) and mu(I) friction */
} pcase;

static mpm_sim *setup(const pcase *c, pl_backend be, int p2g, int graph, mpm_material *m, mpm_collider *col) {
  memset(m, 0, sizeof *m);
  m->model = c->model;
  m->E = 8e4, m->nu = 0.3, m->density = 1000, m->yield_stress = 800, m->viscosity = 0.02, m->friction_angle = 32,
  m->cohesion = 50, m->bulk_modulus = 1e5;
  if (c->granular) m->mui_delta = 0.26, m->grain_size = 5e-4; /* mu(I); I0 and the grain density by default */
  mpm_desc d = tu_desc(24, m, 1);
  if (c->granular) d.pic_blend = 0.5, d.pic_rest_speed = 3; /* the cube falls at 2 m/s: every particle inside */
  d.backend = be;
  d.p2g = p2g;
  d.sort_every = 5;
  d.sync = graph ? MPM_SYNC_FRAME : 0;
  d.graph = graph ? MPM_GRAPH_ON : 0;
  if (c->collider >= 0) {
    memset(col, 0, sizeof *col);
    col->name = "obstacle";
    col->shape = c->collider;
    col->type = c->contact;
    col->friction = 0.3;
    col->point[1] = 0.3, col->normal[0] = 0.2, col->normal[1] = 1;
    col->center[0] = 0.5, col->center[1] = 0.28, col->center[2] = 0.5;
    col->size[0] = 0.4, col->size[1] = 0.1, col->size[2] = 0.4;
    col->radius = 0.12, col->height = 0.3;
    col->rotation[0] = 15, col->rotation[2] = 10;
    col->velocity[0] = 0.1;
    d.colliders = col;
    d.ncolliders = 1;
  }
  mpm_object o = tu_box(0.5, 0.55, 0.5, 0.2, 0.2, 0.2, 0);
  o.velocity[1] = -2;
  o.angular_velocity[1] = 3;
  mpm_sim *s = tu_make(&d, &o, 1);
  if (c->per_particle) {
    double *E = (double *)malloc((size_t)s->n * sizeof(double));
    for (int64_t p = 0; p < s->n; ++p) E[p] = 5e4 + 4e4 * (double)(p % 7) / 6.0;
    CHECK(mpm_set_particle_moduli(s, E, NULL) == PL_OK, "%s", pl_last_error());
    free(E);
  }
  return s;
}

int main(void) {
  if (!pl_cuda_compiled()) TEST_SKIP("this build has no CUDA backend");
  char desc[1024];
  if (pl_cuda_device_count(desc, sizeof desc) == 0) TEST_SKIP("no CUDA device");
  printf("device: %s\n", desc);
  const pcase cases[] = {
      {"fixed corotated, free", MPM_FIXED_COROTATED, -1, 0, 0, 40, 1e-4, 0},
      {"neo-Hookean, plane separate", MPM_NEO_HOOKEAN, MPM_COLLIDER_PLANE, MPM_CONTACT_SEPARATE, 0, 60, 2e-4, 0},
      {"von Mises, sphere sticky", MPM_STVK_VON_MISES, MPM_COLLIDER_SPHERE, MPM_CONTACT_STICKY, 0, 60, 2e-4, 0},
      {"Drucker-Prager, box slip", MPM_DRUCKER_PRAGER, MPM_COLLIDER_BOX, MPM_CONTACT_SLIP, 0, 60, 5e-4, 0},
      {"fluid, cylinder separate", MPM_NEWTONIAN_FLUID, MPM_COLLIDER_CYLINDER, MPM_CONTACT_SEPARATE, 0, 60, 5e-4, 0},
      {"viscoplastic, plane slip", MPM_VISCOPLASTIC, MPM_COLLIDER_PLANE, MPM_CONTACT_SLIP, 0, 60, 2e-4, 0},
      {"corotated, per-particle E", MPM_FIXED_COROTATED, MPM_COLLIDER_PLANE, MPM_CONTACT_SEPARATE, 1, 60, 2e-4, 0},
      {"D-P, rest share + mu(I), slip", MPM_DRUCKER_PRAGER, MPM_COLLIDER_BOX, MPM_CONTACT_SLIP, 0, 60, 5e-4, 1},
  };
  const real dt = (real)2e-4;
  for (int k = 0; k < 4 * (int)(sizeof cases / sizeof cases[0]); ++k) {
    const pcase *c = &cases[k / 4];
    const int p2g = k % 2 ? MPM_P2G_TILED : MPM_P2G_ATOMIC, graph = (k / 2) % 2;
    mpm_sim *a, *b;
    mpm_material ma, mb;
    mpm_collider ca, cb;
    a = setup(c, PL_BACKEND_CPU, MPM_P2G_ATOMIC, 0, &ma, &ca);
    b = setup(c, PL_BACKEND_CUDA, p2g, graph, &mb, &cb);
    CHECK(a->n == b->n, "%s: particle counts differ", c->name);
    size_t nodes = mpm_node_count(&a->grid) * 4;
    real *ga = (real *)malloc(nodes * sizeof(real)), *gb = (real *)malloc(nodes * sizeof(real));
    /* stage by stage on the first substep */
    int finite = 1;
    CHECK(mpm_p2g(a, &a->state, dt) == PL_OK && mpm_p2g(b, &b->state, dt) == PL_OK, "%s: P2G: %s", c->name, pl_last_error());
    pl_buffer_download(&a->gridbuf, 0, ga, nodes * sizeof(real));
    pl_buffer_download(&b->gridbuf, 0, gb, nodes * sizeof(real));
    double e_p2g = test_norm_err(ga, gb, nodes, TEST_NORM_MAX, 1e-12, &finite);
    CHECK(mpm_grid_update(a, dt, 0) == PL_OK && mpm_grid_update(b, dt, 0) == PL_OK, "%s: grid: %s", c->name, pl_last_error());
    pl_buffer_download(&a->gridbuf, 0, ga, nodes * sizeof(real));
    pl_buffer_download(&b->gridbuf, 0, gb, nodes * sizeof(real));
    double e_grid = test_norm_err(ga, gb, nodes, TEST_NORM_MAX, 1e-12, &finite);
    CHECK(mpm_g2p(a, &a->state, &a->state, dt) == PL_OK && mpm_g2p(b, &b->state, &b->state, dt) == PL_OK, "%s: G2P: %s",
          c->name, pl_last_error());
    /* then a run (on the graph path: one span, substeps 1 .. at t = k dt, replays of the captured substep) */
    for (int s = 1; s < c->substeps; ++s) {
      a->time = (s - 1) * (double)dt;
      CHECK(mpm_substep(a, dt) == PL_OK, "%s: cpu: %s", c->name, pl_last_error());
      if (!graph) {
        b->time = (s - 1) * (double)dt;
        CHECK(mpm_substep(b, dt) == PL_OK, "%s: cuda: %s", c->name, pl_last_error());
      }
    }
    long long captures = 0, replays = 0;
    if (graph) {
      CHECK(mpm_checks_begin(b, c->substeps) == PL_OK && mpm_graph_usable(b), "%s: no graph path: %s", c->name,
            pl_last_error());
      CHECK(mpm_run_substeps(b, 0, (double)dt, 0, c->substeps - 1) == PL_OK, "%s: graph run: %s", c->name,
            pl_last_error());
      CHECK(mpm_checks_end(b, &b->state, NULL, NULL) == PL_OK, "%s: graph run: %s", c->name, pl_last_error());
      mpm_graph_counts(b, &captures, &replays);
      CHECK(captures >= 1 && captures <= 2 && replays == c->substeps - 1, "%s: %lld captures, %lld replays", c->name,
            captures, replays);
    }
    mpm_particles ha = {0}, hb = {0};
    tu_get(a, &ha);
    tu_get(b, &hb);
    size_t n = (size_t)ha.n;
    double ex = test_norm_err(ha.x, hb.x, 3 * n, TEST_NORM_MAX, 1e-6, &finite);
    double ev = test_norm_err(ha.v, hb.v, 3 * n, TEST_NORM_MAX, 1e-3, &finite);
    double eC = test_norm_err(ha.C, hb.C, 9 * n, TEST_NORM_MAX, 1e-2, &finite);
    double eF = test_norm_err(ha.F, hb.F, 9 * n, TEST_NORM_MAX, 1e-6, &finite);
    double eq = test_norm_err(ha.q, hb.q, n, TEST_NORM_MAX, 1e-3, &finite);
    printf("%-32s %-6s%-6s P2G %.1e grid %.1e | after %d substeps: x %.1e v %.1e C %.1e F %.1e q %.1e\n", c->name,
           p2g == MPM_P2G_TILED ? "tiled" : "atomic", graph ? "+graph" : "", e_p2g, e_grid, c->substeps, ex, ev, eC,
           eF, eq);
    if (graph) printf("%-32s graph: %lld capture(s), %lld replays\n", "", captures, replays);
    CHECK(finite, "%s: NaN or Inf", c->name);
    CHECK(e_p2g < 1e-5 && e_grid < 1e-5, "%s: stage mismatch (P2G %g, grid %g)", c->name, e_p2g, e_grid);
    CHECK(ex < c->tol && ev < 50 * c->tol && eF < 10 * c->tol && eC < 100 * c->tol && eq < 100 * c->tol,
          "%s: CPU and CUDA differ", c->name);
    free(ga);
    free(gb);
    mpm_particles_free(&ha);
    mpm_particles_free(&hb);
    mpm_destroy(a);
    mpm_destroy(b);
  }
  /* deferred checks on the device: a particle moved out of the box is named with its frame and substep */
  for (int v = 0; v < 4; ++v) {
    const int p2g = v % 2 ? MPM_P2G_TILED : MPM_P2G_ATOMIC;
    mpm_material m = tu_material(MPM_FIXED_COROTATED, 5e4, 0.3, 1000);
    m.name = "jelly";
    mpm_desc d = tu_desc(24, &m, 1);
    d.backend = PL_BACKEND_CUDA;
    d.sync = MPM_SYNC_FRAME;
    d.p2g = p2g;
    d.graph = v >= 2 ? MPM_GRAPH_ON : MPM_GRAPH_OFF;
    mpm_object o = tu_box(0.5, 0.5, 0.5, 0.2, 0.2, 0.2, 0);
    o.name = "cube";
    mpm_sim *s = tu_make(&d, &o, 1);
    CHECK(mpm_advance_frame(s) == PL_OK, "%s", pl_last_error());
    mpm_particles h = {0};
    tu_get(s, &h);
    h.x[3 * 9] = (real)1.5;
    CHECK(mpm_upload(s, &h) == PL_OK, "%s", pl_last_error());
    pl_status st = mpm_advance_frame(s);
    printf("deferred checks (%s%s): %s\n", p2g == MPM_P2G_TILED ? "tiled" : "atomic", v >= 2 ? ", graph" : "",
           pl_last_error());
    CHECK(st == PL_ERR_NUMERIC && strstr(pl_last_error(), "frame 2, substep 1 of") &&
              strstr(pl_last_error(), "particle 9 (object 'cube', material 'jelly') left the simulation box"),
          "deferred checks on CUDA: '%s'", pl_last_error());
    mpm_particles_free(&h);
    mpm_destroy(s);
  }
  return test_summary("test_mpm_cuda_parity");
}
