/* fuzz_state.c: `optimize --resume` on an arbitrary state.json: pl_fit reads the state (optimizer and loop
 * counters, scene hash, loss history), checks every field, and when it accepts the state runs one iteration of
 * a quadratic objective (stop_after = 1). The text "@HASH@" in an input is replaced by this scene's hash, so
 * that seeds reach the checks behind it. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "pipeline/fit/fit.h"
#include "pipeline/fit/fit_state.h"
#include "tests/fuzz/fuzz.h"

static const char *SCENE =
    "[sim]\ngrid = 16\nframes = 4\n"
    "[material m]\nmodel = neo_hookean\nE = 5e4\nnu = 0.2\n"
    "[object o]\nshape = box\nmaterial = m\nvelocity = 1 0 -2\n"
    "[optimize]\npatience = 3\nearly_stop = 0.01\n"
    "[stage warm]\niterations = 3\n[stage main]\niterations = 5\n"
    "[param material.m.E]\nstages = main\n[param material.m.nu]\nlo = 0\nhi = 0.45\n"
    "[param object.o.velocity]\nstages = warm\n";

static pl_status eval(void *user, pl_optimizer *o, const char *frames, int want_grad, pl_loss_value *loss) {
  (void)user;
  (void)frames;
  memset(loss, 0, sizeof *loss);
  for (int i = 0; i < o->n; ++i)
    for (int k = 0; k < o->p[i].components; ++k) {
      double d = pl_param_value(&o->p[i], k) - 0.3;
      loss->term[PL_LOSS_L2] += d * d;
      if (want_grad) o->p[i].grad[k] = 2 * d;
    }
  loss->total = loss->term[PL_LOSS_L2];
  return PL_OK;
}

static char dir[64];

static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "fuzz_state: could not remove %s\n", dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char state[96], csv[96], hash[17];
  static pl_scene scene;
  if (!dir[0]) {
    pl_log_set_level(PL_LOG_ERROR);
    snprintf(dir, sizeof dir, "/tmp/pl_fuzz_state_XXXXXX");
    if (!mkdtemp(dir) || pl_scene_load_string(&scene, SCENE, "fuzz.cfg", ".", NULL, 0) != PL_OK) __builtin_trap();
    snprintf(state, sizeof state, "%s/state.json", dir);
    snprintf(csv, sizeof csv, "%s/fit.csv", dir);
    pl_fit_scene_hash(&scene, hash);
    atexit(remove_dir);
  }
  if (size > (1 << 16)) return 0;
  /* the input with @HASH@ replaced */
  FILE *f = fopen(state, "wb");
  if (!f) return 0;
  for (size_t i = 0; i < size; ++i) {
    if (i + 6 <= size && memcmp(data + i, "@HASH@", 6) == 0) {
      fputs(hash, f);
      i += 5;
    } else {
      fputc(data[i], f);
    }
  }
  fclose(f);
  unlink(csv);
  pl_optimizer o;
  if (pl_optimizer_init(&o, &scene) != PL_OK) __builtin_trap();
  pl_objective obj;
  pl_fit_options opt;
  memset(&obj, 0, sizeof obj);
  memset(&opt, 0, sizeof opt);
  obj.eval = eval;
  opt.output = dir, opt.resume = 1, opt.quiet = 1, opt.stop_after = 1;
  pl_fit_result r;
  pl_status st = pl_fit(&scene, &o, &obj, &opt, &r);
  /* a state that was accepted (the run went on to the test hook, or to the end) left representable values */
  if ((st == PL_OK || st == PL_ERR_INTERNAL) && pl_fit_check_params(&o, "fuzz") != PL_OK) __builtin_trap();
  pl_optimizer_free(&o);
  return 0;
}
