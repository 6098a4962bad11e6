/* test_mpm_physics.c: physics checks of the MLS-MPM solver (CPU, float), each printing the figure it measures.
 *
 *   test_mpm_physics freefall   centroid against x0 + v0 t + g t^2 / 2
 *   test_mpm_physics momentum   linear and angular momentum without gravity or walls (elastic and plastic)
 *   test_mpm_physics rest       an elastic body at rest stays at rest; a loaded block settles on the ground
 *   test_mpm_physics bar        free-free bar: longitudinal period against 2 L / sqrt(E / rho)
 *   test_mpm_physics sand       a sand column collapses to a slope near its friction angle
 *   test_mpm_physics fluid      a fluid column spreads and keeps its volume
 *   test_mpm_physics friction   a block on an inclined plane collider: acceleration g (sin a - mu cos a), or
 *                               no sliding when mu > tan a
 * `--small` runs a cheaper variant (the sanitizer build). */
#include <math.h>

#include "tests/mpm/mpm_test_util.h"

static int g_small = 0;

/* ------------------------------------------------------------------ free fall */

static void test_freefall(void) {
  mpm_material m = tu_material(MPM_FIXED_COROTATED, 2e4, 0.3, 1000);
  mpm_desc d = tu_desc(g_small ? 24 : 32, &m, 1);
  mpm_object o = tu_box(0.45, 0.7, 0.5, 0.16, 0.16, 0.16, 0);
  o.velocity[0] = 0.4, o.velocity[1] = 1.0, o.velocity[2] = -0.3;
  mpm_sim *s = tu_make(&d, &o, 1);
  mpm_particles h = {0};
  tu_get(s, &h);
  double c0[3];
  tu_centroid(&h, c0);
  int frames = g_small ? 8 : 15;
  double max_dt = 0;
  double v0[3] = {0.4, 1.0, -0.3}, g[3] = {0, -9.8, 0};
  /* the time integrator on a point mass with the same substeps: v += dt g, then x += dt v */
  double xd[3] = {c0[0], c0[1], c0[2]}, vd[3] = {v0[0], v0[1], v0[2]};
  for (int f = 0; f < frames; ++f) {
    CHECK(mpm_advance_frame(s) == PL_OK, "frame %d: %s", f, pl_last_error());
    if (s->last_dt > max_dt) max_dt = s->last_dt;
    for (int k = 0; k < s->last_substeps; ++k)
      for (int a = 0; a < 3; ++a) {
        vd[a] += s->last_dt * g[a];
        xd[a] += s->last_dt * vd[a];
      }
  }
  tu_get(s, &h);
  double c[3], t = s->time;
  tu_centroid(&h, c);
  double err = 0, err_d = 0;
  for (int a = 0; a < 3; ++a) {
    err = fmax(err, fabs(c[a] - (c0[a] + v0[a] * t + 0.5 * g[a] * t * t)));
    err_d = fmax(err_d, fabs(c[a] - xd[a]));
  }
  /* symplectic Euler is ahead of the exact parabola by g t dt / 2 */
  double bound = 0.5 * 9.8 * t * max_dt;
  printf("free fall: t = %.4f s, %lld particles, %lld substeps: centroid vs x0 + v0 t + g t^2/2: %.3e m (time-step "
         "bound g t dt/2 = %.3e m); vs the same integrator on a point mass: %.3e m\n",
         t, (long long)s->n, (long long)s->substeps_done, err, bound, err_d);
  CHECK(err <= 1.02 * bound + 2e-5, "free fall centroid error %g m exceeds %g m", err, bound);
  CHECK(err_d <= 2e-5, "the transfers change the centroid's motion by %g m", err_d);
  mpm_particles_free(&h);
  mpm_destroy(s);
}

/* ------------------------------------------------------------------ momentum */

static void momenta(mpm_sim *s, mpm_particles *h, double P[3], double L[3]) {
  tu_get(s, h);
  double D = 0.25 * (double)s->grid.dx * (double)s->grid.dx; /* sum_i w (x_i - x_p)(x_i - x_p)^T = dx^2/4 I */
  for (int a = 0; a < 3; ++a) P[a] = L[a] = 0;
  for (int64_t p = 0; p < h->n; ++p) {
    double m = h->mass[p], *x = NULL;
    (void)x;
    double xp[3] = {h->x[3 * p], h->x[3 * p + 1], h->x[3 * p + 2]}, vp[3] = {h->v[3 * p], h->v[3 * p + 1], h->v[3 * p + 2]};
    const real *C = h->C + 9 * p;
    for (int a = 0; a < 3; ++a) P[a] += m * vp[a];
    L[0] += m * (xp[1] * vp[2] - xp[2] * vp[1]) + m * D * (C[7] - C[5]);
    L[1] += m * (xp[2] * vp[0] - xp[0] * vp[2]) + m * D * (C[2] - C[6]);
    L[2] += m * (xp[0] * vp[1] - xp[1] * vp[0]) + m * D * (C[3] - C[1]);
  }
}

static void test_momentum(void) {
  const int models[2] = {MPM_FIXED_COROTATED, MPM_STVK_VON_MISES};
  for (int mi = 0; mi < 2; ++mi) {
    mpm_material m = tu_material(models[mi], 5e4, 0.3, 1000);
    m.yield_stress = 300;
    mpm_desc d = tu_desc(g_small ? 24 : 32, &m, 1);
    d.gravity[1] = 0;
    mpm_object o = tu_box(0.5, 0.5, 0.5, 0.24, 0.12, 0.16, 0);
    o.rotation[0] = 20, o.rotation[2] = 35;
    o.velocity[0] = 0.1, o.velocity[1] = -0.05, o.velocity[2] = 0.08;
    o.angular_velocity[0] = 3, o.angular_velocity[1] = -6, o.angular_velocity[2] = 8;
    mpm_sim *s = tu_make(&d, &o, 1);
    mpm_particles h = {0};
    double P0[3], L0[3], P1[3], L1[3];
    momenta(s, &h, P0, L0);
    /* the first P2G/G2P round trip replaces the particles' velocities by their grid projection; measure
     * from there */
    CHECK(mpm_substep(s, (real)5e-4) == PL_OK, "%s", pl_last_error());
    momenta(s, &h, P0, L0);
    int steps = g_small ? 60 : 200;
    for (int k = 0; k < steps; ++k) CHECK(mpm_substep(s, (real)5e-4) == PL_OK, "%s", pl_last_error());
    momenta(s, &h, P1, L1);
    double dP = 0, dL = 0, nP = 0, nL = 0;
    for (int a = 0; a < 3; ++a) {
      dP += (P1[a] - P0[a]) * (P1[a] - P0[a]);
      dL += (L1[a] - L0[a]) * (L1[a] - L0[a]);
      nP += P0[a] * P0[a];
      nL += L0[a] * L0[a];
    }
    /* angular momentum about the origin includes x x P; measure L relative to its own size */
    double relP = sqrt(dP / nP), relL = sqrt(dL / nL);
    printf("momentum (%s, %d substeps, %lld particles): relative drift of linear momentum %.2e, of angular momentum %.2e\n",
           mpm_model_name(models[mi]), steps, (long long)s->n, relP, relL);
    CHECK(relP < 1e-5, "linear momentum drift %g", relP);
    CHECK(relL < 1e-4, "angular momentum drift %g", relL);
    mpm_particles_free(&h);
    mpm_destroy(s);
  }
}

/* ------------------------------------------------------------------ rest */

static void test_rest(void) {
  /* (a) no gravity, no velocity: nothing moves, exactly */
  const int models[4] = {MPM_FIXED_COROTATED, MPM_NEO_HOOKEAN, MPM_STVK_VON_MISES, MPM_DRUCKER_PRAGER};
  for (int mi = 0; mi < 4; ++mi) {
    mpm_material m = tu_material(models[mi], 1e5, 0.3, 1000);
    mpm_desc d = tu_desc(24, &m, 1);
    d.gravity[1] = 0;
    mpm_object o = tu_box(0.5, 0.5, 0.5, 0.2, 0.2, 0.2, 0);
    mpm_sim *s = tu_make(&d, &o, 1);
    mpm_particles h0 = {0}, h = {0};
    tu_get(s, &h0);
    for (int k = 0; k < 50; ++k) CHECK(mpm_substep(s, (real)1e-3) == PL_OK, "%s", pl_last_error());
    tu_get(s, &h);
    double dx = 0, vmax = 0, dF = 0;
    for (int64_t p = 0; p < h.n; ++p) {
      for (int a = 0; a < 3; ++a) {
        dx = fmax(dx, fabs(h.x[3 * p + a] - h0.x[3 * p + a]));
        vmax = fmax(vmax, fabs(h.v[3 * p + a]));
      }
      for (int a = 0; a < 9; ++a) dF = fmax(dF, fabs(h.F[9 * p + a] - h0.F[9 * p + a]));
    }
    printf("rest (%s, no gravity, 50 substeps): max |dx| %.2e m, max |v| %.2e m/s, max |dF| %.2e\n",
           mpm_model_name(models[mi]), dx, vmax, dF);
    CHECK(dx < 1e-6 && vmax < 1e-6 && dF < 1e-6, "a body at rest moved");
    mpm_particles_free(&h0);
    mpm_particles_free(&h);
    mpm_destroy(s);
  }
  /* (b) a block dropped onto a sticky floor under gravity (no damping: it oscillates about its static state).
   * Its height, averaged over the second half, must match the static shortening rho g H^2 / (2 E) of a bar
   * under its own weight (nu = 0: uniaxial stress), and its kinetic energy must stay below the work gravity
   * did on it (no energy gain). The centroid also settles into the wall band by a fraction of a cell. */
  mpm_material m = tu_material(MPM_FIXED_COROTATED, 2e4, 0.0, 1000);
  mpm_desc d = tu_desc(g_small ? 24 : 32, &m, 1);
  d.boundary = MPM_CONTACT_STICKY;
  double H = 0.25, ybase = 3.0 / d.grid; /* resting on the wall band */
  mpm_object o = tu_box(0.5, ybase + 0.5 * H, 0.5, 0.25, H, 0.25, 0);
  o.regular = 1;
  mpm_sim *s = tu_make(&d, &o, 1);
  mpm_particles h = {0};
  tu_get(s, &h);
  double c0[3], c[3];
  tu_centroid(&h, c0);
  /* the top and bottom particle layers */
  double ymin = 1e9, ymax = -1e9;
  for (int64_t p = 0; p < h.n; ++p) ymin = fmin(ymin, h.x[3 * p + 1]), ymax = fmax(ymax, h.x[3 * p + 1]);
  char *layer = (char *)calloc((size_t)(h.n > 0 ? h.n : 1), 1);
  for (int64_t p = 0; p < h.n; ++p)
    layer[p] = h.x[3 * p + 1] < ymin + 1e-4 ? -1 : (h.x[3 * p + 1] > ymax - 1e-4 ? 1 : 0);
  double h0 = ymax - ymin;
  int frames = g_small ? 30 : 60;
  double sum = 0, cnt = 0, ke_max = 0, drop = 0;
  for (int f = 0; f < frames; ++f) {
    CHECK(mpm_advance_frame(s) == PL_OK, "%s", pl_last_error());
    if (f >= frames / 2) {
      tu_get(s, &h);
      double yt = 0, yb = 0, nt = 0, nbot = 0, ke = 0, mass = 0;
      for (int64_t p = 0; p < h.n; ++p) {
        if (layer[p] > 0) yt += h.x[3 * p + 1], nt += 1;
        if (layer[p] < 0) yb += h.x[3 * p + 1], nbot += 1;
        mass += h.mass[p];
        for (int a = 0; a < 3; ++a) ke += 0.5 * h.mass[p] * h.v[3 * p + a] * h.v[3 * p + a];
      }
      sum += h0 - (yt / nt - yb / nbot);
      cnt += 1;
      tu_centroid(&h, c);
      drop = fmax(drop, c0[1] - c[1]);
      ke_max = fmax(ke_max, ke / (mass * 9.8)); /* as a height */
    }
  }
  double shortening = sum / cnt, expect = 1000 * 9.8 * H * H / (2 * 2e4);
  printf("rest (block on sticky ground, %.2f s, %lld particles): mean shortening %.4f m vs static rho g H^2/(2E) = %.4f m "
         "(ratio %.2f); max kinetic energy / (m g) = %.4f m <= max centroid drop %.4f m\n",
         s->time, (long long)s->n, shortening, expect, shortening / expect, ke_max, drop);
  CHECK(shortening > 0.7 * expect && shortening < 1.3 * expect, "shortening %g m, static solution %g m", shortening, expect);
  CHECK(ke_max <= drop, "kinetic energy exceeds the work of gravity");
  free(layer);
  mpm_particles_free(&h);
  mpm_destroy(s);
}

/* ------------------------------------------------------------------ bar */

static void test_bar(void) {
  /* nu = 0: the 3D bar's longitudinal wave speed is exactly sqrt(E / rho) */
  double E = 1e5, rho = 1000, L = g_small ? 0.4 : 0.5;
  mpm_material m = tu_material(MPM_NEO_HOOKEAN, E, 0.0, rho);
  mpm_desc d = tu_desc(g_small ? 32 : 48, &m, 1);
  d.gravity[1] = 0;
  double w = 3.0 / d.grid;
  mpm_object o = tu_box(0.5, 0.5, 0.5, L, w, w, 0);
  o.regular = 1;
  mpm_sim *s = tu_make(&d, &o, 1);
  /* first mode of a free-free bar: v(x) = v0 cos(pi (x - x0) / L) */
  mpm_particles h = {0};
  tu_get(s, &h);
  double x0 = 0.5 - 0.5 * L, v0 = 0.05;
  for (int64_t p = 0; p < h.n; ++p) h.v[3 * p] = (real)(v0 * cos(3.14159265358979 * (h.x[3 * p] - x0) / L));
  mpm_particles up = h;
  up.x = NULL, up.C = NULL, up.F = NULL, up.q = NULL;
  CHECK(mpm_upload(s, &up) == PL_OK, "%s", pl_last_error());
  double c = sqrt(E / rho), T = 2 * L / c;
  double dt = 0.3 * s->grid.dx / c;
  int steps = (int)ceil(2.2 * T / dt);
  /* the bar's elongation: mean x of the right half minus the left half; its velocity crosses zero every T/2 */
  double prev = 0, tprev = 0, crossings[8];
  int nc = 0;
  int64_t nhalf = 0;
  for (int k = 0; k < steps && nc < 8; ++k) {
    CHECK(mpm_substep(s, (real)dt) == PL_OK, "%s", pl_last_error());
    tu_get(s, &h);
    double rv = 0, lv = 0;
    nhalf = 0;
    for (int64_t p = 0; p < h.n; ++p) {
      if (h.x[3 * p] > 0.5) rv += h.v[3 * p], ++nhalf;
      else lv += h.v[3 * p];
    }
    double e = rv - lv; /* proportional to the elongation rate */
    double t = (k + 1) * dt;
    if (k > 0 && ((prev > 0 && e <= 0) || (prev < 0 && e >= 0))) crossings[nc++] = tprev + (t - tprev) * prev / (prev - e);
    prev = e;
    tprev = t;
  }
  double period = NAN;
  if (nc >= 3) period = (crossings[nc - 1] - crossings[0]) * 2.0 / (nc - 1);
  double rel = fabs(period - T) / T;
  printf("bar: L = %.2f m, E = %g Pa, rho = %g: period %.5f s vs analytic 2L/c = %.5f s (relative error %.2f%%, %d zero "
         "crossings, %lld particles)\n", L, E, rho, period, T, 100 * rel, nc, (long long)s->n);
  CHECK(rel < 0.05, "bar period off by %.1f%%", 100 * rel);
  mpm_particles_free(&h);
  mpm_destroy(s);
}

/* ------------------------------------------------------------------ sand */

static double sand_slope(double phi, int grid, int frames) {
  /* a quasi-2D column against the x-low wall, collapsing along x */
  mpm_material m = tu_material(MPM_DRUCKER_PRAGER, 1e5, 0.3, 1600);
  m.friction_angle = phi;
  /* the cone this sanity check and its figures (docs/mpm.md) were made with: Klar et al.'s compression fit; the
   * default shear fit is measured against experiments in tests/physics (collapse runout, heap) */
  m.dp_cone = MPM_DP_CONE_COMPRESSION;
  mpm_desc d = tu_desc(grid, &m, 1);
  d.domain_max[2] = 12.0 / d.grid; /* 12 cells thick in z */
  /* frictionless walls (wall friction would hold the sand up) and a rough floor: a sticky plane collider on
   * top of the floor's wall band */
  d.boundary = MPM_CONTACT_SLIP;
  mpm_collider fl;
  memset(&fl, 0, sizeof fl);
  fl.shape = MPM_COLLIDER_PLANE;
  fl.type = MPM_CONTACT_STICKY;
  fl.point[1] = 3.0 / grid;
  fl.normal[1] = 1;
  d.colliders = &fl;
  d.ncolliders = 1;
  d.frame_dt = 1.0 / 30;
  double dx = 1.0 / d.grid, b = 3 * dx;
  double W = 0.18, H = 0.36;
  mpm_object o = tu_box(b + 0.5 * W, b + 0.5 * H, 0.5 * d.domain_max[2], W, H, d.domain_max[2] - 2 * b, 0);
  mpm_sim *s = tu_make(&d, &o, 1);
  for (int f = 0; f < frames; ++f) CHECK(mpm_advance_frame(s) == PL_OK, "frame %d: %s", f, pl_last_error());
  mpm_particles h = {0};
  tu_get(s, &h);
  /* free-surface height per column of width dx along x; the least-squares slope of the flank between 20% and
   * 80% of the deposit's height (columns beyond the highest one, which excludes the wall band) */
  int nb = d.grid;
  double ke = 0, run = 0;
  for (int64_t p = 0; p < h.n; ++p) {
    run = fmax(run, h.x[3 * p] - b);
    for (int a = 0; a < 3; ++a) ke += 0.5 * h.mass[p] * h.v[3 * p + a] * h.v[3 * p + a];
  }
  double hmax, n;
  double slope = tu_flank_slope(&h, 0, b, dx, nb, &hmax, &n);
  double angle = atan(fabs(slope)) * 180 / 3.14159265358979;
  printf("sand: friction angle %.0f deg, column %.2f x %.2f m, %.2f s, %lld particles: deposit %.3f m high, runout "
         "%.3f m, surface slope %.1f deg (fit over %.0f columns); kinetic energy %.2e J\n",
         phi, W, H, s->time, (long long)s->n, hmax, run, angle, n, ke);
  CHECK(n >= 3, "too few surface columns to fit a slope");
  CHECK(hmax < 0.95 * H, "the column did not collapse (height %g m)", hmax);
  /* a dynamic collapse leaves its flanks below the static friction angle (Lube et al. 2005); with this
   * Drucker-Prager model they settle at 0.7-0.85 phi */
  CHECK(angle > 0.6 * phi && angle < phi + 3, "slope %.1f deg, friction angle %.0f deg", angle, phi);
  mpm_particles_free(&h);
  mpm_destroy(s);
  return angle;
}

static void test_sand(void) {
  if (g_small) {
    sand_slope(35, 32, 24);
    return;
  }
  double a30 = sand_slope(30, 40, 30), a40 = sand_slope(40, 40, 30);
  printf("sand: the deposit slope rises by %.1f deg when the friction angle rises by 10 deg\n", a40 - a30);
  CHECK(a40 > a30 + 4, "the slope does not follow the friction angle (%.1f deg at 30, %.1f deg at 40)", a30, a40);
}

/* ------------------------------------------------------------------ fluid */

static void test_fluid(void) {
  mpm_material m;
  memset(&m, 0, sizeof m);
  m.model = MPM_NEWTONIAN_FLUID;
  m.density = 1000;
  m.bulk_modulus = 2e5;
  m.viscosity = 1e-2;
  mpm_desc d = tu_desc(g_small ? 32 : 40, &m, 1);
  d.boundary = MPM_CONTACT_SLIP;
  double dx = 1.0 / d.grid, b = 3 * dx;
  double W = 0.2, H = 0.4, D = 0.3;
  mpm_object o = tu_box(b + 0.5 * W, b + 0.5 * H, b + 0.5 * D, W, H, D, 0);
  mpm_sim *s = tu_make(&d, &o, 1);
  mpm_particles h = {0};
  tu_get(s, &h);
  double vol0 = 0;
  for (int64_t p = 0; p < h.n; ++p) vol0 += h.vol0[p];
  int frames = g_small ? 12 : 20;
  double front = 0, top = 0, volume = 0, minJ = 1e9, maxJ = 0;
  for (int f = 0; f < frames; ++f) CHECK(mpm_advance_frame(s) == PL_OK, "frame %d: %s", f, pl_last_error());
  tu_get(s, &h);
  int inside = 1;
  for (int64_t p = 0; p < h.n; ++p) {
    double J = m3_det(m3_load(h.F + 9 * p));
    volume += J * h.vol0[p];
    minJ = fmin(minJ, J), maxJ = fmax(maxJ, J);
    front = fmax(front, h.x[3 * p] - b);
    top = fmax(top, h.x[3 * p + 1] - b);
    for (int a = 0; a < 3; ++a) inside &= h.x[3 * p + a] > 0 && h.x[3 * p + a] < 1;
  }
  printf("fluid: dam break (column %.2f wide, %.2f high), %.2f s, %lld particles: front %.3f m (%.1fx the width), "
         "height %.3f m, volume sum J V0 = %.4f of the initial (J in %.3f..%.3f)\n",
         W, H, s->time, (long long)s->n, front, front / W, top, volume / vol0, minJ, maxJ);
  CHECK(front > 1.8 * W, "the column did not spread (front %g m)", front);
  CHECK(top < 0.8 * H, "the column did not fall (height %g m)", top);
  CHECK(fabs(volume / vol0 - 1) < 0.05, "volume changed by %.1f%%", 100 * (volume / vol0 - 1));
  CHECK(inside, "fluid left the box");
  mpm_particles_free(&h);
  mpm_destroy(s);
}

/* ------------------------------------------------------------------ friction on an incline */

/* A block on a plane collider inclined at theta (separate contact, friction mu). Returns the mean downhill
 * acceleration between the windows [0.05, 0.15] s and [t2 - 0.1, t2] s of the centroid's downhill velocity
 * (window means smooth out the vibration the sudden gravity load excites in an undamped elastic block). */
static double incline(double theta_deg, double mu, double *accel_expected, double *vmean) {
  const double th = theta_deg * 3.14159265358979 / 180, st = sin(th), ct = cos(th);
  mpm_material m = tu_material(MPM_FIXED_COROTATED, 2e5, 0.3, 1000);
  mpm_desc d = tu_desc(g_small ? 32 : 48, &m, 1);
  d.frame_dt = 1.0 / 100;
  mpm_collider c;
  memset(&c, 0, sizeof c);
  c.name = "ramp";
  c.shape = MPM_COLLIDER_PLANE;
  c.type = MPM_CONTACT_SEPARATE;
  c.friction = mu;
  c.point[0] = 0.5, c.point[1] = 0.45, c.point[2] = 0.5;
  c.normal[0] = st, c.normal[1] = ct; /* the slope descends towards +x */
  d.colliders = &c;
  d.ncolliders = 1;
  double h = 0.08;
  mpm_object o = tu_box(0.0, 0.0, 0.5, 0.16, h, 0.12, 0);
  double base[2] = {0.42, 0.45 + (0.5 - 0.42) * st / ct}; /* a point on the plane up-slope of the centre */
  o.center[0] = base[0] + st * 0.5 * h;
  o.center[1] = base[1] + ct * 0.5 * h;
  o.rotation[2] = -theta_deg;
  mpm_sim *s = tu_make(&d, &o, 1);
  mpm_particles hh = {0};
  double t2 = g_small ? 0.25 : 0.35, w1 = 0, w2 = 0, n1 = 0, n2 = 0;
  int frames = (int)lround(t2 / d.frame_dt);
  for (int f = 1; f <= frames; ++f) {
    CHECK(mpm_advance_frame(s) == PL_OK, "%s", pl_last_error());
    double t = f * d.frame_dt;
    int in1 = t >= 0.05 - 1e-9 && t <= 0.15 + 1e-9, in2 = t >= t2 - 0.1 - 1e-9;
    if (!in1 && !in2) continue;
    tu_get(s, &hh);
    double vd = 0, M = 0;
    for (int64_t p = 0; p < hh.n; ++p) {
      vd += hh.mass[p] * (ct * hh.v[3 * p] - st * hh.v[3 * p + 1]);
      M += hh.mass[p];
    }
    if (in1) w1 += vd / M, n1 += 1;
    if (in2) w2 += vd / M, n2 += 1;
  }
  *accel_expected = 9.8 * (st - mu * ct);
  *vmean = w2 / n2;
  mpm_particles_free(&hh);
  mpm_destroy(s);
  return (w2 / n2 - w1 / n1) / (t2 - 0.05 - 0.1);
}

static void test_friction(void) {
  double ex, vm;
  double a = incline(30, 0.2, &ex, &vm);
  printf("friction: block on a 30 deg plane collider, mu = 0.2: downhill acceleration %.3f m/s^2 vs g (sin a - mu cos a) = "
         "%.3f m/s^2 (%+.1f%%)\n", a, ex, 100 * (a - ex) / ex);
  CHECK(fabs(a - ex) < 0.08 * ex, "sliding acceleration %g, expected %g", a, ex);
  a = incline(30, 0.8, &ex, &vm);
  printf("friction: mu = 0.8 > tan 30 deg: downhill acceleration %.3f m/s^2 (frictionless: %.2f m/s^2); residual creep "
         "%.3f m/s while the undamped block vibrates\n", a, 4.9, vm);
  CHECK(fabs(a) < 0.1 * 4.9, "a block with mu > tan(angle) accelerates at %g m/s^2", a);
}

int main(int argc, char **argv) {
  const tu_case cases[] = {
      {"freefall", test_freefall},
      {"momentum", test_momentum},
      {"rest", test_rest},
      {"bar", test_bar},
      {"sand", test_sand},
      {"fluid", test_fluid},
      {"friction", test_friction}};
  return tu_main(argc, argv, cases, (int)(sizeof cases / sizeof cases[0]), &g_small, "test_mpm_physics");
}
