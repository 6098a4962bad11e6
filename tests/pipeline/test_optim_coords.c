/* test_optim_coords.c: the well-conditioned coordinates of optimize.coordinates = valley (optim_coords.c): which
 * pairs couple, the exact round trip w -> u -> w, the P-wave and resilience coordinates against their formulas, the
 * chain-rule gradient dL/dw against central differences of L(u(w)) in double, and Adam in these coordinates
 * walking along a curved valley (the loss a function of the P-wave modulus and, weakly, of nu) to its minimum. */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/fit/optim.h"
#include "tests/test_util.h"

static const char *SCENE =
    "[sim]\ngrid = 16\n"
    "[material jelly]\nmodel = fixed_corotated\nE = 5e4\nnu = 0.2\n"
    "[material clay]\nmodel = stvk_von_mises\nE = 6e5\nnu = 0.3\nyield_stress = 3e4\n"
    "[object a]\nshape = box\nmaterial = jelly\n"
    "[object b]\nshape = box\nmaterial = clay\ncenter = 0.5 0.7 0.5\nsize = 0.1\n"
    "[optimize]\ncoordinates = valley\nlr = 0.05\n"
    "[param material.jelly.E]\n"
    "[param material.jelly.nu]\nlo = 0\nhi = 0.45\n"
    "[param material.clay.E]\n"
    "[param material.clay.yield_stress]\n";

/* a smooth test loss of every u, with cross terms */
static double lossu(const pl_optimizer *o, double *gu) {
  double u0 = o->p[0].u[0], u1 = o->p[1].u[0], u2 = o->p[2].u[0], u3 = o->p[3].u[0];
  double L = sin(u0) + 0.3 * u1 * u1 + u0 * u1 + 0.2 * u2 * u3 + cos(u3);
  if (gu) {
    memset(gu, 0, sizeof(double) * 12);
    gu[0] = cos(u0) + u1;
    gu[3] = 0.6 * u1 + u0;
    gu[6] = 0.2 * u3;
    gu[9] = 0.2 * u2 - sin(u3);
  }
  return L;
}

/* the elastic valley: the loss sees the P-wave modulus strongly and nu weakly */
static double pwave(double E, double nu) { return E * (1 - nu) / ((1 + nu) * (1 - 2 * nu)); }

int main(void) {
  pl_scene s;
  pl_optimizer o;
  CHECK(pl_scene_load_string(&s, SCENE, "c.cfg", ".", NULL, 0) == PL_OK, "scene: %s", pl_last_error());
  CHECK(pl_optimizer_init(&o, &s) == PL_OK, "init: %s", pl_last_error());
  CHECK(o.p[0].coord == PL_COORD_PWAVE && o.p[0].partner == 1, "jelly E learns the P-wave modulus with nu");
  CHECK(o.p[1].coord == PL_COORD_PLAIN && o.p[2].coord == PL_COORD_PLAIN, "nu and clay E are plain");
  CHECK(o.p[3].coord == PL_COORD_RESILIENCE && o.p[3].partner == 2, "clay yield stress learns log(yield/sqrt(E))");
  double w[12], w2[12], u0[4];
  for (int i = 0; i < 4; ++i) u0[i] = o.p[i].u[0];
  pl_coords_get(&o, NULL, w);
  CHECK(fabs(w[0] - log(pwave(5e4, 0.2))) < 1e-12, "w of jelly E is log M (%g vs %g)", w[0], log(pwave(5e4, 0.2)));
  CHECK(fabs(w[9] - log(3e4 / sqrt(6e5))) < 1e-12, "w of the yield stress is log(yield / sqrt(E))");
  pl_coords_set(&o, NULL, w);
  for (int i = 0; i < 4; ++i) CHECK(fabs(o.p[i].u[0] - u0[i]) < 1e-13, "round trip u %d", i);
  pl_coords_get(&o, NULL, w2);
  for (int i = 0; i < 12; ++i) CHECK(fabs(w2[i] - w[i]) < 1e-13, "round trip w %d", i);
  /* chain rule against central differences of L(u(w)) */
  double gu[12], gw[12];
  lossu(&o, gu);
  pl_coords_grad(&o, NULL, gu, gw);
  for (int j = 0; j < 4; ++j) {
    const double h = 1e-6;
    double wp[12], wm[12];
    memcpy(wp, w, sizeof wp), memcpy(wm, w, sizeof wm);
    wp[3 * j] += h, wm[3 * j] -= h;
    pl_coords_set(&o, NULL, wp);
    double Lp = lossu(&o, NULL);
    pl_coords_set(&o, NULL, wm);
    double Lm = lossu(&o, NULL);
    double fd = (Lp - Lm) / (2 * h);
    CHECK(fabs(fd - gw[3 * j]) < 1e-8 * (1 + fabs(fd)), "dL/dw[%d]: chain rule %.12g, central difference %.12g", j,
          gw[3 * j], fd);
  }
  pl_coords_set(&o, NULL, w);
  /* inactive partner: the pair is not coupled (w = u), so a stage fitting E alone steps E alone */
  unsigned char act[4] = {1, 0, 1, 1};
  CHECK(!pl_coords_coupled(&o, 0, act) && pl_coords_coupled(&o, 3, act), "coupling only where both learn");
  pl_coords_get(&o, act, w2);
  CHECK(w2[0] == o.p[0].u[0], "uncoupled w = u");
  /* Adam in the valley coordinates: L = (log M - log M*)^2 + 0.01 (nu - 0.3)^2 from E 10x too soft, nu 0.2 */
  pl_optimizer_free(&o);
  pl_scene_free(&s);
  for (int coords = 0; coords < 2; ++coords) {
    const char *set[1] = {coords ? "optimize.coordinates=valley" : "optimize.coordinates=plain"};
    CHECK(pl_scene_load_string(&s, SCENE, "c.cfg", ".", set, 1) == PL_OK, "scene");
    pl_optimizer_init(&o, &s);
    o.p[0].u[0] = log(2e3);
    o.p[0].lr = o.p[1].lr = 0.1;
    unsigned char act2[4] = {1, 1, 0, 0};
    const double Mt = log(pwave(2e4, 0.3));
    double L = 0;
    for (int it = 0; it < 300; ++it) {
      double E = pl_param_value(&o.p[0], 0), nu = pl_param_value(&o.p[1], 0);
      double dM = log(pwave(E, nu)) - Mt;
      L = dM * dM + 0.01 * (nu - 0.3) * (nu - 0.3);
      /* dL/dE and dL/dnu */
      o.p[0].grad[0] = 2 * dM / E;
      o.p[1].grad[0] = 2 * dM * (-1 / (1 - nu) - 1 / (1 + nu) + 2 / (1 - 2 * nu)) + 0.02 * (nu - 0.3);
      pl_optimizer_step(&o, act2, pl_lr_factor(1, 0.05, it, 300));
    }
    double E = pl_param_value(&o.p[0], 0), nu = pl_param_value(&o.p[1], 0);
    printf("Adam 300 steps, %s coordinates: E %.6g (truth 2e4), nu %.4f (0.3), loss %.3g\n", coords ? "valley" : "plain",
           E, nu, L);
    if (coords)
      CHECK(fabs(E / 2e4 - 1) < 0.05 && fabs(nu - 0.3) < 0.03, "valley coordinates reach the minimum: E %g nu %g", E, nu);
    pl_optimizer_free(&o);
    pl_scene_free(&s);
  }
  return test_summary("test_optim_coords");
}
