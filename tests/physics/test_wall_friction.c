/* test_wall_friction.c: Coulomb friction per wall (issue 17; mpm_desc.wall_frictions, scene keys
 * sim.boundary_friction_<wall>).
 *
 *   test_wall_friction slide   a block sliding on a rough floor (friction mu on the y min wall only) decelerates at
 *                              mu g; with the same friction on the x min wall instead, the floor is smooth and the
 *                              block keeps its speed */
#include <math.h>

#include "tests/mpm/mpm_test_util.h"

static int g_small = 0;

/* A 0.16 x 0.08 x 0.12 m block sliding at 1.5 m/s along +x on the floor; the walls' frictions as given. Returns
 * the acceleration along x from the centroid velocity averaged over two windows, 0.05-0.15 s and 0.15-0.25 s (the
 * averages smooth the contact's vibration, as in tests/mpm physics friction); *v_end the last window's mean. */
static double slide(const double mu[6], double *v_end) {
  mpm_material m = tu_material(MPM_FIXED_COROTATED, 2e5, 0.3, 1000);
  int grid = g_small ? 32 : 48;
  mpm_desc d = tu_desc(grid, &m, 1);
  d.boundary = MPM_CONTACT_SEPARATE;
  d.per_wall_friction = 1;
  for (int w = 0; w < 6; ++w) d.wall_frictions[w] = mu[w];
  d.frame_dt = 0.01;
  double dx = 1.0 / grid, h = 0.08;
  mpm_object o = tu_box(0.25, 3 * dx + 0.5 * h, 0.5, 0.16, h, 0.12, 0);
  o.velocity[0] = 1.5;
  mpm_sim *sim = tu_make(&d, &o, 1);
  mpm_particles hh = {0};
  double w1 = 0, w2 = 0, n1 = 0, n2 = 0;
  for (int f = 1; f <= 25; ++f) {
    if (mpm_advance_frame(sim) != PL_OK) {
      fprintf(stderr, "slide: %s\n", pl_last_error());
      exit(1);
    }
    double t = f * d.frame_dt;
    int in1 = t >= 0.05 - 1e-9 && t <= 0.15 + 1e-9, in2 = t >= 0.15 - 1e-9;
    if (!in1 && !in2) continue;
    tu_get(sim, &hh);
    double M = 0, vx = 0;
    for (int64_t p = 0; p < hh.n; ++p) M += hh.mass[p], vx += hh.mass[p] * hh.v[3 * p];
    if (in1) w1 += vx / M, n1 += 1;
    if (in2) w2 += vx / M, n2 += 1;
  }
  *v_end = w2 / n2;
  mpm_particles_free(&hh);
  mpm_destroy(sim);
  return (w2 / n2 - w1 / n1) / 0.1;
}

static void test_slide(void) {
  const double mu = 0.3, g = 9.8;
  double floor_only[6] = {0, 0, mu, 0, 0, 0}, side_only[6] = {mu, 0, 0, 0, 0, 0}, v1, v2;
  double a1 = slide(floor_only, &v1), a2 = slide(side_only, &v2);
  printf("slide: a block sliding at 1.5 m/s on a floor with boundary_friction_y_min = %.1f (other walls smooth): "
         "acceleration %.3f m/s^2 vs -mu g = %.3f m/s^2 (%+.1f%%)\n", mu, a1, -mu * g, 100 * (a1 / (-mu * g) - 1));
  printf("slide: the same friction on the x min wall only (the floor smooth): acceleration %.4f m/s^2, %.3f m/s at "
         "the end\n", a2, v2);
  CHECK(fabs(a1 / (-mu * g) - 1) < 0.08, "rough floor: deceleration %g, expected %g", -a1, mu * g);
  CHECK(fabs(a2) < 0.02 && fabs(v2 - 1.5) < 0.01, "a smooth floor slows the block (%g m/s^2, %g m/s)", a2, v2);
}

int main(int argc, char **argv) {
  const tu_case cases[] = {{"slide", test_slide}};
  return tu_main(argc, argv, cases, 1, &g_small, "test_wall_friction");
}
