/* test_experiments.c: the simulator against published experiments and exact cases (CPU, float), each printing
 * its figure and failing outside its goal (issue 17). Reference data and citations: tests/data/. The dam break is
 * in test_dambreak.c.
 *
 *   test_experiments walls      a cube falling from the top wall band follows free fall exactly with the default
 *                               separate walls (slip walls hold it back: printed for comparison); a sticky floor
 *                               between separate side walls (per-wall conditions) stops a sliding block
 *   test_experiments collapse   planar granular column collapse, runout (L - L0)/L0 against Lube et al. (2005) /
 *                               Lajeunesse et al. (2005) for aspect ratios a = 0.5, 1 and 3 (within 10%)
 *   test_experiments heap       the flank of a sand heap against the friction angle (within 3 degrees)
 *   test_experiments incline    the friction of a sand layer flowing down a 40 degree slope against the cone's
 *                               sqrt(J2)/p (tan(phi) for the default shear cone; within 3 degrees)
 *
 * The granular cases use the default cone (shear); PL_TEST_DP_CONE = plane_strain | compression runs them with
 * another, PL_TEST_PIC_BLEND = B and PL_TEST_PIC_REST = V with another transfer (granular_transfer),
 * PL_TEST_COLLAPSE_PLANE_STRAIN=1 and PL_TEST_COLLAPSE_FLOOR_MU = MU run the collapse in plane strain or on a Coulomb
 * floor instead of the sticky one, PL_TEST_MUI_D = d the collapse and the heap with the mu(I) rheology for grains of
 * d metres (the studies in docs/mpm.md), and
 * PL_TEST_DUMP=DIR writes the deposits' particles (DIR/collapse_a*.csv, DIR/heap.csv) for pictures.
 *
 * `--grid N` sets the resolution (cells along the longest side; each case has a CI default), `--small` runs
 * the sanitizer build's cheaper variant (a shorter run checked only for sanity, not against the goal). */
#include <math.h>

#include "tests/mpm/mpm_test_util.h"

static int g_small = 0;
static int g_grid = 0;
static const double PI = 3.14159265358979323846;

static int grid_or(int dflt) { return g_grid > 0 ? g_grid : dflt; }

/* The granular cases' cone: the material's default (shear), or PL_TEST_DP_CONE = shear | plane_strain | compression
 * for the comparisons in docs/mpm.md. */
static int test_cone(void) {
  const char *c = getenv("PL_TEST_DP_CONE");
  if (!c || !*c) return MPM_DP_CONE_SHEAR;
  if (strcmp(c, "plane_strain") == 0) return MPM_DP_CONE_PLANE_STRAIN;
  if (strcmp(c, "compression") == 0) return MPM_DP_CONE_COMPRESSION;
  if (strcmp(c, "shear") != 0) {
    fprintf(stderr, "PL_TEST_DP_CONE='%s': expected shear, plane_strain or compression\n", c);
    exit(2);
  }
  return MPM_DP_CONE_SHEAR;
}
static const char *cone_name(int cone) {
  return cone == MPM_DP_CONE_SHEAR ? "shear" : cone == MPM_DP_CONE_PLANE_STRAIN ? "plane_strain" : "compression";
}

/* PL_TEST_DUMP=DIR writes the particles at rest to DIR/TAG.csv (x, y, z, q per line) for pictures of the deposits. */
static void dump_particles(const mpm_particles *h, const char *tag) {
  const char *dir = getenv("PL_TEST_DUMP");
  if (!dir) return;
  char path[512];
  snprintf(path, sizeof path, "%s/%s.csv", dir, tag);
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "PL_TEST_DUMP: cannot write %s\n", path);
    exit(2);
  }
  for (int64_t p = 0; p < h->n; ++p) fprintf(f, "%g,%g,%g,%g\n", h->x[3 * p], h->x[3 * p + 1], h->x[3 * p + 2], h->q[p]);
  fclose(f);
}

static void run_frames(mpm_sim *s, int frames) {
  for (int f = 0; f < frames; ++f) {
    pl_status st = mpm_advance_frame(s);
    if (st != PL_OK) {
      fprintf(stderr, "frame %d: %s\n", f, pl_last_error());
      exit(1);
    }
  }
}

/* A quasi-2D descriptor: the box [0, Lx] x [0, Ly] x [0, nz cells], dx = Lx / grid. */
static mpm_desc planar_desc(double Lx, double Ly, int grid, int nz, const mpm_material *m) {
  mpm_desc d = tu_desc(grid, m, 1);
  double dx = Lx / grid;
  d.domain_max[0] = Lx;
  d.domain_max[1] = Ly;
  d.domain_max[2] = nz * dx;
  return d;
}

/* The front: the far end of the run of occupied columns (bins of width dx along x) that starts at the wall;
 * isolated droplets or grains beyond a gap of 2 or more empty bins do not count. A bin counts when it holds at
 * least `minc` particles. Returns the distance from x0. */
static double front_of(const mpm_particles *h, double x0, double dx, int nb, int minc) {
  int *cnt = (int *)calloc((size_t)nb, sizeof(int));
  for (int64_t p = 0; p < h->n; ++p) {
    int i = (int)floor((h->x[3 * p] - x0) / dx);
    if (i >= 0 && i < nb) cnt[i]++;
  }
  int last = -1, gap = 0;
  for (int i = 0; i < nb; ++i) {
    if (cnt[i] >= minc) {
      last = i;
      gap = 0;
    }
    else if (last >= 0 && ++gap >= 2)
      break;
  }
  /* within the last bin: the furthest particle in it */
  double fx = 0;
  for (int64_t p = 0; p < h->n; ++p) {
    double r = h->x[3 * p] - x0;
    int i = (int)floor(r / dx);
    if (i == last && r > fx) fx = r;
  }
  free(cnt);
  return fx;
}

/* ------------------------------------------------------------------ walls */

/* A cube starting flush with the top wall band falls; returns the worst deviation of its centroid velocity from
 * v0 + g t over `frames` frames and the range of J. */
static double falling_cube(int boundary, double *Jmin, double *Jmax) {
  mpm_material m = tu_material(MPM_FIXED_COROTATED, 5e4, 0.3, 1000);
  int grid = grid_or(32);
  mpm_desc d = tu_desc(grid, &m, 1);
  d.boundary = boundary;
  double dx = 1.0 / grid, top = 1 - 3 * dx, s = 0.2;
  mpm_object o = tu_box(0.5, top - 0.5 * s, 0.5, s, s, s, 0);
  mpm_sim *sim = NULL;
  sim = tu_make(&d, &o, 1);
  mpm_particles h = {0};
  double worst = 0;
  *Jmin = 1e9, *Jmax = 0;
  int frames = g_small ? 6 : 12;
  for (int f = 1; f <= frames; ++f) {
    run_frames(sim, 1);
    tu_get(sim, &h);
    double M = 0, vy = 0;
    for (int64_t p = 0; p < h.n; ++p) {
      M += h.mass[p];
      vy += h.mass[p] * h.v[3 * p + 1];
      double J = m3_det(m3_load(h.F + 9 * p));
      *Jmin = fmin(*Jmin, J), *Jmax = fmax(*Jmax, J);
    }
    worst = fmax(worst, fabs(vy / M - (-9.8 * sim->time)));
  }
  mpm_particles_free(&h);
  mpm_destroy(sim);
  return worst;
}

/* A block sliding along the floor at 1 m/s: with a sticky floor (per-wall) it stops at once; the separate side
 * walls let its sides go. Returns the block's mean speed after `frames` frames. */
static double sliding_block(int floor_type) {
  mpm_material m = tu_material(MPM_FIXED_COROTATED, 5e4, 0.3, 1000);
  mpm_desc d = tu_desc(32, &m, 1);
  d.boundary = MPM_CONTACT_SEPARATE;
  d.per_wall = 1;
  for (int w = 0; w < 6; ++w) d.wall_types[w] = MPM_CONTACT_SEPARATE;
  d.wall_types[2] = floor_type;
  double dx = 1.0 / 32, s = 0.2;
  mpm_object o = tu_box(0.3, 3 * dx + 0.5 * s, 0.5, s, s, s, 0);
  o.velocity[0] = 1.0;
  mpm_sim *sim = NULL;
  sim = tu_make(&d, &o, 1);
  run_frames(sim, 6);
  mpm_particles h = {0};
  tu_get(sim, &h);
  double M = 0, vx = 0;
  for (int64_t p = 0; p < h.n; ++p) M += h.mass[p], vx += h.mass[p] * h.v[3 * p];
  mpm_particles_free(&h);
  mpm_destroy(sim);
  return vx / M;
}

static void test_walls(void) {
  double j0, j1, k0, k1;
  double e_sep = falling_cube(MPM_CONTACT_SEPARATE, &j0, &j1);
  double e_slip = falling_cube(MPM_CONTACT_SLIP, &k0, &k1);
  printf("walls: a 0.2 m cube falling from the top wall band (grid %d): centroid velocity off free fall by %.2e m/s "
         "with separate walls (J %.4f..%.4f), %.2e m/s with slip walls (J %.4f..%.4f)\n", grid_or(32), e_sep, j0, j1, e_slip, k0, k1);
  CHECK(e_sep < 1e-4, "separate walls hold a falling cube back by %g m/s", e_sep);
  CHECK(j0 > 0.999 && j1 < 1.001, "separate walls strain a falling cube (J %g..%g)", j0, j1);
  CHECK(e_slip > 10 * e_sep, "slip walls should pull (the case the default avoids): %g vs %g m/s", e_slip, e_sep);
  double v_sticky = sliding_block(MPM_CONTACT_STICKY), v_sep = sliding_block(MPM_CONTACT_SEPARATE);
  printf("walls: a block sliding at 1 m/s on the floor, 0.1 s later: %.3f m/s on a sticky floor (boundary_y_min = "
         "sticky), %.3f m/s on a separate one\n", v_sticky, v_sep);
  CHECK(v_sep > 0.95, "a block slides freely on a separate floor (%g m/s)", v_sep);
  CHECK(v_sticky < 0.5 * v_sep, "a sticky floor should stop a sliding block (%g m/s)", v_sticky);
}

/* ------------------------------------------------------------------ granular column collapse */

/* The granular transfer every granular case uses: the PIC share 0.5 for material at rest below 0.02 m/s
 * (sim.pic_blend, sim.pic_rest_speed; docs/mpm.md item 11), which holds the heap's angle and leaves the flows APIC.
 * PL_TEST_PIC_BLEND = B and PL_TEST_PIC_REST = V (m/s; 0: the share everywhere) override it for the studies in
 * docs/mpm.md (PL_TEST_PIC_BLEND=0: plain APIC). */
static double env_or(const char *name, double dflt, double lo, double hi) {
  const char *e = getenv(name);
  if (!e || !*e) return dflt;
  char *end;
  double v = strtod(e, &end);
  if (*end || !(v >= lo && v <= hi)) {
    fprintf(stderr, "%s='%s': expected a number in [%g, %g]\n", name, e, lo, hi);
    exit(2);
  }
  return v;
}
static double test_pic_blend(void) { return env_or("PL_TEST_PIC_BLEND", 0.5, 0, 1); }
static double test_pic_rest(void) { return env_or("PL_TEST_PIC_REST", 0.02, 0, 1e3); }
/* The granular cases' friction: rate-independent, or with PL_TEST_MUI_D = d (m) the mu(I) rheology (mui_delta
 * 0.26, I0 0.279, grain density 2650 kg/m^3) for the study in docs/mpm.md item 12. */
static void granular_rheology(mpm_material *m) {
  double d = env_or("PL_TEST_MUI_D", 0, 0, 1);
  if (d > 0) m->mui_delta = 0.26, m->mui_i0 = 0.279, m->grain_size = d, m->grain_density = 2650;
}

static const char *rheology_name(void) {
  static char buf[64];
  double d = env_or("PL_TEST_MUI_D", 0, 0, 1);
  if (d > 0) snprintf(buf, sizeof buf, " + mu(I), d = %.3g mm", 1e3 * d);
  else buf[0] = 0;
  return buf;
}

/* the transfer as the figures print it */
static const char *transfer_name(void) {
  static char buf[64];
  if (test_pic_blend() == 0) return "APIC transfer";
  if (test_pic_rest() == 0) snprintf(buf, sizeof buf, "PIC share %.2g", test_pic_blend());
  else snprintf(buf, sizeof buf, "PIC share %.2g below %.3g m/s", test_pic_blend(), test_pic_rest());
  return buf;
}
static void granular_transfer(mpm_desc *d) {
  d->pic_blend = test_pic_blend();
  d->pic_rest_speed = test_pic_rest();
}

/* Runout (L - L0)/L0 of a planar column L0 wide and H0 = A L0 high against the back wall; sticky floor. */
static double collapse(double A, double L0, double phi, int grid, double *deposit_h, double *slope_deg, int64_t *np,
                       double *tsim) {
  mpm_material m = tu_material(MPM_DRUCKER_PRAGER, 2e5, 0.3, 1600);
  m.friction_angle = phi;
  m.dp_cone = test_cone();
  granular_rheology(&m);
  double H0 = A * L0;
  double Lx = 0.5, Ly = H0 + 0.06;
  mpm_desc d = planar_desc(Lx, Ly < 0.2 ? 0.2 : Ly, grid, 8, &m);
  granular_transfer(&d);
  if (getenv("PL_TEST_COLLAPSE_PLANE_STRAIN")) d.plane_strain = 3; /* study: docs/mpm.md */
  d.per_wall = 1;
  for (int w = 0; w < 6; ++w) d.wall_types[w] = MPM_CONTACT_SEPARATE;
  d.wall_types[2] = MPM_CONTACT_STICKY; /* rough floor (the experiments glue sand to it), smooth sides */
  const char *floor_mu = getenv("PL_TEST_COLLAPSE_FLOOR_MU"); /* study: a Coulomb floor instead (docs/mpm.md) */
  if (floor_mu && *floor_mu) {
    d.wall_types[2] = MPM_CONTACT_SEPARATE;
    d.per_wall_friction = 1;
    d.wall_frictions[2] = atof(floor_mu);
  }
  double dx = Lx / grid, b = 3 * dx;
  d.frame_dt = 0.02;
  mpm_object o = tu_box(b + 0.5 * L0, b + 0.5 * H0, 0.5 * d.domain_max[2], L0, H0, d.domain_max[2] - 2 * b, 0);
  mpm_sim *s = tu_make(&d, &o, 1);
  *np = s->n;
  mpm_particles h = {0};
  /* run until the deposit is at rest: kinetic energy per unit mass below 1e-5 of g H0, at most 2 s */
  tu_settle(s, &h, 4 * sqrt(H0 / 9.8), g_small ? 0.3 : 1.6, 1e-5 * 9.8 * H0);
  *tsim = s->time;
  char tag[64];
  snprintf(tag, sizeof tag, "collapse_a%g", A);
  dump_particles(&h, tag);
  int nb = (int)((Lx - 2 * b) / dx);
  double L = front_of(&h, b, dx, nb, 4);
  /* deposit height and flank slope (surface between 20% and 80% of the height, beyond the highest column) */
  double hmax, n;
  double slope = tu_flank_slope(&h, b, b, dx, nb, &hmax, &n);
  *slope_deg = n >= 3 ? atan(fabs(slope)) * 180 / PI : NAN;
  *deposit_h = hmax;
  mpm_particles_free(&h);
  mpm_destroy(s);
  return (L - L0) / L0;
}

/* Lube et al. (2005), planar: (L - L0)/L0 = 1.2 a for a < 1.8, 1.9 a^(2/3) for a > 2.8 */
static double lube_runout(double a) { return a < 1.8 ? 1.2 * a : 1.9 * pow(a, 2.0 / 3.0); }

static void test_collapse(void) {
  /* The runout grows with resolution (docs/mpm.md): each column is the largest the 0.5 m box holds at its
   * runout, so the shorter side spans 12-24 cells at grid 120 (the CI grid; the goal is not met at 80). */
  const double phi = 30;
  int grid = grid_or(g_small ? 40 : 120);
  const double As[3] = {0.5, 1, 3}, L0s[3] = {0.2, 0.1, 0.05};
  for (int i = 0; i < (g_small ? 1 : 3); ++i) {
    double hdep, slope, t;
    int64_t np;
    double r = collapse(As[i], L0s[i], phi, grid, &hdep, &slope, &np, &t);
    double ref = lube_runout(As[i]), err = r / ref - 1;
    printf("collapse: a = %.1f (L0 = %.2f m), phi = %.0f deg, %s cone%s, %s, grid %d, %lld particles, %.2f s: runout "
           "(L - L0)/L0 = %.3f, Lube et al. (2005) %.3f, %+.1f%%; deposit %.3f m high, flank %.1f deg\n", As[i], L0s[i],
           phi, cone_name(test_cone()), rheology_name(), transfer_name(), grid, (long long)np, t, r, ref, 100 * err, hdep,
           slope);
    if (!g_small) CHECK(fabs(err) < 0.10, "runout off by %.1f%% at a = %.1f (goal 10%%)", 100 * err, As[i]);
    else CHECK(r > 0, "the column did not spread");
  }
}

/* ------------------------------------------------------------------ heap */

/* A slope left by a retaining wall that retreats slowly (quasi-static failure, the classic way to measure an
 * angle of repose): sand of height H fills [0, L] against the back wall and first settles under its weight for
 * 0.3 s behind the gate at rest (as sand poured behind a gate does); then the gate, a plane collider, moves away at
 * speed vw; returns the flank angle of the deposit at rest. Plane strain (sim.plane_strain = z): the slab, two
 * cells thick, would otherwise spread into the z walls' bands and lose 9% of its height (docs/mpm.md). */
static double retreat_slope(double phi, int grid, double vw, double *hdep, int64_t *np, double *tsim) {
  mpm_material m = tu_material(MPM_DRUCKER_PRAGER, 2e5, 0.3, 1600);
  m.friction_angle = phi;
  m.dp_cone = test_cone();
  granular_rheology(&m);
  double L = 0.12, H = 0.08, Lx = 0.4;
  mpm_desc d = planar_desc(Lx, 0.2, grid, 8, &m);
  d.plane_strain = 3;
  granular_transfer(&d);
  d.per_wall = 1;
  for (int w = 0; w < 6; ++w) d.wall_types[w] = MPM_CONTACT_SEPARATE;
  d.wall_types[2] = MPM_CONTACT_STICKY;
  double dx = Lx / grid, b = 3 * dx;
  mpm_collider c;
  memset(&c, 0, sizeof c);
  c.name = "gate";
  c.shape = MPM_COLLIDER_PLANE;
  c.type = MPM_CONTACT_SEPARATE;
  c.point[0] = b + L + 0.5 * dx;
  c.normal[0] = -1;
  d.colliders = &c;
  d.ncolliders = 1;
  d.frame_dt = 0.02;
  mpm_object o = tu_box(b + 0.5 * L, b + 0.5 * H, 0.5 * d.domain_max[2], L, H, d.domain_max[2] - 2 * b, 0);
  mpm_sim *s = tu_make(&d, &o, 1);
  *np = s->n;
  mpm_particles h = {0};
  const double t_fill = g_small ? 0.04 : 0.3;
  tu_settle(s, &h, t_fill, t_fill, 0); /* the gate at rest */
  mpm_destroy(s);
  for (int64_t p = 0; p < h.n; ++p) h.object[p] = 0;
  c.velocity[0] = vw; /* the gate leaves from where it stood (a new clock) */
  if (mpm_create(&s, &d, &h, &o, 1) != PL_OK) {
    fprintf(stderr, "heap: mpm_create after the fill: %s\n", pl_last_error());
    exit(1);
  }
  /* until the gate has moved 1.5 H and the deposit is at rest (or 1.5 s) */
  tu_settle(s, &h, 1.5 * H / vw, g_small ? 0.3 : 1.5, 1e-6 * 9.8 * H);
  *tsim = s->time + t_fill;
  dump_particles(&h, "heap");
  int nb = (int)((Lx - 2 * b) / dx);
  double hmax, n;
  double slope = tu_flank_slope(&h, b, b, dx, nb, &hmax, &n);
  *hdep = hmax;
  mpm_particles_free(&h);
  mpm_destroy(s);
  return n >= 3 ? atan(fabs(slope)) * 180 / PI : NAN;
}

static void test_heap(void) {
  /* sand held by a gate that retreats at 0.1 m/s: the classic, quasi-static way to leave a slope at the angle of
   * repose, which for a cohesionless Mohr-Coulomb material is its friction angle */
  double phi = 30, hdep, t;
  int64_t np;
  int grid = grid_or(g_small ? 40 : 60);
  double slope = retreat_slope(phi, grid, 0.1, &hdep, &np, &t);
  printf("heap: phi = %.0f deg (%s cone%s), plane strain, %s, grid %d, %lld particles, %.2f s: deposit %.3f m high, "
         "flank %.1f deg (%+.1f deg from phi, goal 3 deg)\n", phi, cone_name(test_cone()), rheology_name(),
         transfer_name(), grid, (long long)np, t, hdep, slope, slope - phi);
  if (!g_small) CHECK(fabs(slope - phi) <= 3, "flank %.1f deg, friction angle %.0f deg (goal 3 deg)", slope, phi);
  else CHECK(slope > 5 && slope < 60, "no slope formed (%.1f deg)", slope);
}

/* ------------------------------------------------------------------ incline: the cone's friction in simple shear */

/* A sand layer of thickness h on a rough (sticky) floor under gravity tilted by theta, released at rest: every
 * depth of a layer on a slope steeper than its stopping angle yields in simple shear and the layer accelerates
 * uniformly at a = g (sin theta - mu cos theta), mu the ratio of shear to normal stress on the slope-parallel
 * plane in the flow. Returns mu = tan theta - a / (g cos theta), a fitted to the mean down-slope velocity of the
 * layer's middle third between t1 and t2 (before its downhill end reaches the wall). */
static double incline_mu(double phi, int cone, double theta, int grid, int64_t *np) {
  mpm_material m = tu_material(MPM_DRUCKER_PRAGER, 2e5, 0.3, 1600);
  m.friction_angle = phi;
  m.dp_cone = cone;
  double Lx = 0.25, h = 0.02, th = theta * PI / 180, g = 9.8;
  mpm_desc d = planar_desc(Lx, 0.06, grid, 8, &m);
  granular_transfer(&d);
  d.gravity[0] = g * sin(th);
  d.gravity[1] = -g * cos(th);
  d.per_wall = 1;
  for (int w = 0; w < 6; ++w) d.wall_types[w] = MPM_CONTACT_SEPARATE;
  d.wall_types[2] = MPM_CONTACT_STICKY;
  double dx = Lx / grid, b = 3 * dx, L = Lx - 2 * b - 0.06;
  d.frame_dt = 0.01;
  mpm_object o = tu_box(b + 0.5 * L, b + 0.5 * h, 0.5 * d.domain_max[2], L, h, d.domain_max[2] - 2 * b, 0);
  mpm_sim *s = tu_make(&d, &o, 1);
  *np = s->n;
  mpm_particles hp = {0};
  double t[2] = {0.04, 0.12}, u[2];
  for (int k = 0; k < 2; ++k) {
    while (s->time < t[k] - 1e-9) run_frames(s, 1);
    tu_get(s, &hp);
    double sv = 0, sm = 0;
    for (int64_t p = 0; p < hp.n; ++p)
      if (hp.x[3 * p] > b + L / 3 && hp.x[3 * p] < b + 2 * L / 3) sv += hp.mass[p] * hp.v[3 * p], sm += hp.mass[p];
    u[k] = sv / sm;
  }
  mpm_particles_free(&hp);
  mpm_destroy(s);
  double a = (u[1] - u[0]) / (t[1] - t[0]);
  return tan(th) - a / (g * cos(th));
}

static void test_incline(void) {
  /* sqrt(J2)/p of each cone (materials.h): the friction a layer in steady simple shear shows with the isochoric
   * coaxial return; the shear and compression cones are checked (3 deg, the heap's goal), the plane-strain cone,
   * which flows 2.4-2.8 deg above its atan(sin(phi)), is printed for comparison */
  const double phi = 30, theta = 40;
  int grid = grid_or(g_small ? 40 : 60);
  const int cones[3] = {MPM_DP_CONE_SHEAR, MPM_DP_CONE_COMPRESSION, MPM_DP_CONE_PLANE_STRAIN};
  const double s = sin(phi * PI / 180);
  const double expect[3] = {tan(phi * PI / 180), sqrt(3.0) * 2 * s / (3 - s), s};
  for (int k = 0; k < (g_small ? 1 : 3); ++k) {
    int64_t np;
    double mu = incline_mu(phi, cones[k], theta, grid, &np);
    double deg = atan(mu) * 180 / PI, edeg = atan(expect[k]) * 180 / PI;
    printf("incline: %s cone, phi = %.0f deg, slope %.0f deg, grid %d, %lld particles: friction of the flowing layer "
           "%.3f (%.1f deg), sqrt(J2)/p = %.3f (%.1f deg): %+.1f deg%s\n", cone_name(cones[k]), phi, theta, grid,
           (long long)np, mu, deg, expect[k], edeg, deg - edeg, k == 2 ? " (for comparison, not checked)" : "");
    if (g_small) CHECK(mu > 0 && mu < 1, "layer friction %.3f", mu);
    else if (k < 2) CHECK(fabs(deg - edeg) <= 3, "%s cone: layer friction %.1f deg, expected %.1f deg (goal 3 deg)",
                          cone_name(cones[k]), deg, edeg);
  }
}

int main(int argc, char **argv) {
  for (int i = 2; i + 1 < argc; ++i)
    if (strcmp(argv[i], "--grid") == 0) g_grid = atoi(argv[i + 1]);
  const tu_case cases[] = {
      {"walls", test_walls},
      {"collapse", test_collapse},
      {"heap", test_heap},
      {"incline", test_incline}};
  return tu_main(argc, argv, cases, (int)(sizeof cases / sizeof cases[0]), &g_small, "test_experiments");
}
