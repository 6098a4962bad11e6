/* test_optim.c: parameter spaces (round trip, derivative against central differences), Adam converging in each
 * space, learning-rate schedules, and save/load giving a bit-identical continuation. */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "pipeline/fit/optim.h"
#include "tests/test_util.h"

static const char *SCENE =
    "[sim]\ngrid = 16\n"
    "[material m]\nmodel = neo_hookean\nE = 5e4\nnu = 0.2\n"
    "[object o]\nshape = box\nmaterial = m\nvelocity = 1 0 -2\n"
    "[optimize]\nlr = 0.1\n"
    "[param material.m.E]\n"
    "[param material.m.nu]\nlo = 0\nhi = 0.45\n"
    "[param object.o.velocity]\nlr = 0.2\n";

static void run(pl_optimizer *o, int iters, const double *target) {
  for (int it = 0; it < iters; ++it) {
    int c = 0;
    for (int i = 0; i < o->n; ++i)
      for (int k = 0; k < o->p[i].components; ++k, ++c) {
        double th = pl_param_value(&o->p[i], k);
        /* L = sum ((theta - target)/scale)^2 with the scale of each quantity */
        double scale = fabs(target[c]) > 1 ? target[c] : 1;
        o->p[i].grad[k] = 2 * (th - target[c]) / (scale * scale);
      }
    pl_optimizer_step(o, NULL, pl_lr_factor(1, 0.1, it, iters));
  }
}

int main(void) {
  /* spaces */
  pl_param_space sp[3] = {PL_SPACE_LOG, PL_SPACE_BOUNDED, PL_SPACE_LINEAR};
  double th[3] = {3.7e4, 0.31, -2.5};
  for (int s = 0; s < 3; ++s) {
    double u;
    CHECK(pl_space_from_value(sp[s], 0.0, 0.45, th[s], &u, "t") == PL_OK, "to space");
    CHECK(fabs(pl_space_value(sp[s], 0.0, 0.45, u) - th[s]) <= 1e-12 * fabs(th[s]), "round trip %d", s);
    double h = 1e-5, fd = (pl_space_value(sp[s], 0, 0.45, u + h) - pl_space_value(sp[s], 0, 0.45, u - h)) / (2 * h);
    double an = pl_space_dvalue(sp[s], 0, 0.45, u);
    CHECK(fabs(fd - an) <= 1e-7 * fabs(an), "dvalue %d: %g vs %g", s, an, fd);
  }
  double u;
  CHECK(pl_space_from_value(PL_SPACE_LOG, 0, 0, -1, &u, "E") == PL_ERR_INVALID, "log of negative");
  CHECK(pl_space_from_value(PL_SPACE_BOUNDED, 0, 0.45, 0.45, &u, "nu") == PL_ERR_INVALID, "bounded at the bound");
  /* schedules */
  CHECK(pl_lr_factor(0, 0.1, 5, 10) == 1.0, "constant");
  CHECK(fabs(pl_lr_factor(1, 0.1, 0, 10) - 1) < 1e-15 && fabs(pl_lr_factor(1, 0.1, 9, 10) - 0.1) < 1e-15, "cosine ends");
  CHECK(fabs(pl_lr_factor(2, 0.1, 9, 10) - 0.1) < 1e-15, "exponential end");
  /* Adam converges in every space */
  pl_scene s;
  CHECK(pl_scene_load_string(&s, SCENE, "t.cfg", ".", NULL, 0) == PL_OK, "scene: %s", pl_last_error());
  pl_optimizer o;
  CHECK(pl_optimizer_init(&o, &s) == PL_OK, "init: %s", pl_last_error());
  CHECK(o.n == 3 && o.p[0].space == PL_SPACE_LOG && o.p[1].space == PL_SPACE_BOUNDED && o.p[2].space == PL_SPACE_LINEAR,
        "spaces resolved");
  CHECK(fabs(pl_param_value(&o.p[0], 0) - 5e4) < 1e-8 && fabs(pl_param_value(&o.p[2], 2) + 2) < 1e-12, "start values");
  double target[5] = {2e4, 0.35, 0.5, 0.25, -1};
  run(&o, 400, target);
  CHECK(fabs(pl_param_value(&o.p[0], 0) / 2e4 - 1) < 1e-3, "E converged: %g", pl_param_value(&o.p[0], 0));
  CHECK(fabs(pl_param_value(&o.p[1], 0) - 0.35) < 1e-3, "nu converged: %g", pl_param_value(&o.p[1], 0));
  CHECK(fabs(pl_param_value(&o.p[2], 1) - 0.25) < 1e-2, "velocity converged: %g", pl_param_value(&o.p[2], 1));
  char buf[256];
  pl_param_assignment(&o.p[2], buf, sizeof buf);
  CHECK(strncmp(buf, "object.o.velocity=", 18) == 0, "assignment %s", buf);
  /* save, continue, reload, continue: identical */
  char path[] = "/tmp/pl_optim_XXXXXX";
  int fd = mkstemp(path);
  close(fd);
  CHECK(pl_optimizer_save(&o, path, "{\"iteration\": 400}") == PL_OK, "save: %s", pl_last_error());
  pl_optimizer a, b;
  pl_optimizer_init(&a, &s);
  pl_optimizer_init(&b, &s);
  char *extra = NULL;
  CHECK(pl_optimizer_load(&a, path, &extra) == PL_OK, "load: %s", pl_last_error());
  CHECK(extra && strstr(extra, "400"), "extra state restored");
  free(extra);
  pl_optimizer_load(&b, path, NULL);
  double t2[5] = {3e4, 0.2, 0, 0, 0};
  run(&o, 10, t2);
  run(&a, 10, t2);
  int same = 1;
  for (int i = 0; i < o.n; ++i)
    for (int k = 0; k < o.p[i].components; ++k) same &= o.p[i].u[k] == a.p[i].u[k] && o.p[i].m[k] == a.p[i].m[k];
  CHECK(same && o.step == a.step, "resumed trajectory is bit-identical");
  /* a mismatching state is refused */
  pl_scene s2;
  const char *sets[] = {"param.material.m.nu.lr=0.2"};
  pl_scene_with_overrides(&s2, &s, sets, 1);
  pl_optimizer c;
  pl_optimizer_init(&c, &s2);
  FILE *f = fopen(path, "w");
  fputs("{\"adam_step\": 1, \"params\": []}", f);
  fclose(f);
  CHECK(pl_optimizer_load(&c, path, NULL) == PL_ERR_PARSE, "mismatch refused");
  unlink(path);
  pl_optimizer_free(&o);
  pl_optimizer_free(&a);
  pl_optimizer_free(&b);
  pl_optimizer_free(&c);
  pl_scene_free(&s);
  pl_scene_free(&s2);
  return test_summary("test_optim");
}
