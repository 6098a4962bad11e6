/* cmd_gradcheck.c: `pipeline gradcheck SCENE.cfg`: every learnable parameter's adjoint gradient against central
 * finite differences of the real pipeline (simulation, upsampler, rasterizer, loss), with a verdict per
 * parameter, and stage-by-stage checks on request. Runs in double precision (pipeline-f64) unless told not to. */
#define _POSIX_C_SOURCE 200809L
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hd.h"
#include "core/log.h"
#include "pipeline/cli.h"
#include "pipeline/engine.h"
#include "pipeline/engine_check.h"
#include "pipeline/gradcheck.h"
#include "raster/raster.h"

static const pl_cli_option gc_opts[] = {
    {"stage", 0, "NAME", "params (default: every learnable parameter through the whole pipeline), mpm, raster, upsample, all"},
    {"cutoffs", 0, "MODE", "smooth (default: the rasterizer's alpha and transmittance cut-offs at 1e-15 and 1e-12 and the depth "
                           "order frozen at the checked point, so the loss is smooth there) or exact (as optimize renders)"},
    {"frames", 0, "SEL", "frames whose loss is differentiated (default: all target frames)"},
    {"frame", 0, "F", "stage checks: the frame (default: the last target frame)"},
    {"samples", 0, "N", "stage checks: entries sampled per stage (default 12)"},
    {"tolerance", 0, "T", "relative error allowed (default 1e-4 in double, 3e-2 in float)"},
    {"step", 0, "H", "relative finite-difference step (default: 1e-5 parameters, 1e-6 stages in double; 3e-3 in float)"},
    {"precision", 0, "P", "double (default: re-runs as pipeline-f64 when built) or float (this binary)"},
    {NULL, 0, NULL, NULL}};

/* Re-run the same command line with the double-precision binary beside this one. Returns only on failure. */
static void exec_f64(void) {
  char self[PATH_MAX], path[PATH_MAX + 16];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return;
  self[n] = '\0';
  snprintf(path, sizeof path, "%s/pipeline-f64", dirname(self));
  if (access(path, X_OK) != 0) return;
  char **argv = (char **)calloc((size_t)pl_cli_argc + 3, sizeof(char *));
  if (!argv) return;
  argv[0] = path;
  for (int i = 1; i < pl_cli_argc; ++i) argv[i] = pl_cli_argv[i];
  argv[pl_cli_argc] = (char *)"--precision";
  argv[pl_cli_argc + 1] = (char *)"double";
  fflush(stdout);
  fflush(stderr);
  execv(path, argv);
  free(argv);
}

/* The objective with the depth order frozen at the point of the gradient: the gradient evaluation records each
 * frame's order, the finite differences around it reuse it. */
static pl_status frozen_order_eval(void *user, pl_optimizer *o, const char *frames, int want_grad, pl_loss_value *loss) {
  pl_engine *e = (pl_engine *)user;
  pl_engine_freeze_order(e, want_grad ? 1 : 2);
  return pl_engine_objective_eval(user, o, frames, want_grad, loss);
}

static int run_gradcheck(const pl_cli_args *a) {
  pl_cli_apply_common(a);
  const char *prec = pl_cli_get(a, "precision");
  int is_double = strcmp(PL_REAL_NAME, "double") == 0;
  if (prec && strcmp(prec, "double") != 0 && strcmp(prec, "float") != 0) {
    fprintf(stderr, "pipeline gradcheck: --precision must be double or float\n");
    return 2;
  }
  if (!is_double && (!prec || strcmp(prec, "double") == 0)) {
    exec_f64();
    if (prec) {
      fprintf(stderr, "pipeline gradcheck: --precision double needs pipeline-f64 beside this binary\n");
      return 2;
    }
    PL_WARN("gradcheck: pipeline-f64 not found beside this binary; checking in float with loose tolerances");
  }
  const char *stage = pl_cli_get(a, "stage") ? pl_cli_get(a, "stage") : "params";
  int do_params = !strcmp(stage, "params") || !strcmp(stage, "all");
  int do_raster = !strcmp(stage, "raster") || !strcmp(stage, "all");
  int do_ups = !strcmp(stage, "upsample") || !strcmp(stage, "all");
  int do_mpm = !strcmp(stage, "mpm") || !strcmp(stage, "all");
  if (!do_params && !do_raster && !do_ups && !do_mpm) {
    fprintf(stderr, "pipeline gradcheck: --stage must be params, mpm, raster, upsample or all\n");
    return 2;
  }
  const char *cutoffs = pl_cli_get(a, "cutoffs") ? pl_cli_get(a, "cutoffs") : "smooth";
  int smooth = !strcmp(cutoffs, "smooth");
  if (!smooth && strcmp(cutoffs, "exact") != 0) {
    fprintf(stderr, "pipeline gradcheck: --cutoffs must be smooth or exact\n");
    return 2;
  }
  double tol, step, stage_step;
  long samples, frame;
  if (pl_cli_real(a, "tolerance", is_double ? 1e-4 : 3e-2, &tol) || pl_cli_real(a, "step", is_double ? 1e-5 : 3e-3, &step) ||
      pl_cli_real(a, "step", is_double ? 1e-6 : 3e-3, &stage_step) ||
      pl_cli_int(a, "samples", 12, &samples) || pl_cli_int(a, "frame", -1, &frame))
    return 2;
  if (samples < 1 || samples > 1000000 || frame < -1 || frame > 100000) { /* both are narrowed to int below */
    fprintf(stderr, "pipeline gradcheck: --samples must be in 1..1000000 and --frame in 0..100000 (got %ld, %ld)\n",
            samples, frame);
    return 2;
  }
  pl_scene s;
  int rc = pl_cli_load_scene(a, "gradcheck", &s);
  if (rc) return rc;
  pl_targets t;
  memset(&t, 0, sizeof t);
  pl_engine *e = NULL;
  pl_optimizer o;
  memset(&o, 0, sizeof o);
  pl_gc_row rows[512];
  int nrows = 0, all_ok = 1;
  pl_status st = pl_engine_make_targets(&s, &t, pl_cli_quiet(a));
  if (st == PL_OK) st = pl_engine_create(&e, &s);
  /* The rasterizer's cut-offs (skip alpha < 1/255, stop at T <= 1e-4) are the pipeline's only jumps: a finite
   * difference that straddles one measures the jump, not the derivative. Lowered, the same code is smooth. */
  if (st == PL_OK && smooth) pl_engine_set_cutoffs(e, RASTER_ALPHA_MIN_FLOOR, 1e-12);
  if (st == PL_OK) st = pl_engine_set_targets(e, &t);
  if (st == PL_OK) st = pl_optimizer_init(&o, &s);
  if (st == PL_OK) st = pl_engine_apply(e, &o);
  int substeps = 0;
  if (st == PL_OK) st = pl_engine_fix_substeps(e, &substeps);
  printf("gradcheck %s (%s precision, tolerance %g, %d substeps per frame held fixed, %s rasterizer cut-offs)\n",
         s.path, PL_REAL_NAME, tol, substeps, smooth ? "smooth" : "exact");
  if (st == PL_OK && do_params) {
    if (o.n == 0) {
      st = pl_fail(PL_ERR_INVALID, "%s: no [param ...] section: nothing to check (or use --stage raster/upsample)", s.path);
    } else {
      pl_objective obj = {e, smooth ? frozen_order_eval : pl_engine_objective_eval, NULL};
      pl_gc_options go = {step, tol, 1e-12, pl_cli_get(a, "frames")};
      st = pl_gradcheck(&s, &o, &obj, &go, rows, 512, &nrows);
      if (st == PL_OK) {
        printf("\nstage params: every learnable parameter, whole pipeline\n");
        pl_gc_print(rows, nrows, stdout);
        all_ok &= pl_gc_all_ok(rows, nrows);
      }
    }
  }
  if (st == PL_OK && do_mpm) {
    if (o.n == 0) {
      st = pl_fail(PL_ERR_INVALID, "%s: no [param ...] section: nothing to check in the mpm stage", s.path);
    } else {
      pl_gc_options go = {step, tol, 1e-12, pl_cli_get(a, "frames")};
      st = pl_engine_mpm_check(e, &o, &go, rows, 512, &nrows);
      if (st == PL_OK) {
        printf("\nstage mpm: the simulation's parameters, smooth loss on particle states (x, v, F) at the loss frames\n");
        if (nrows == 0) printf("(no learnable parameter of the simulation)\n");
        pl_gc_print(rows, nrows, stdout);
        all_ok &= pl_gc_all_ok(rows, nrows);
      }
    }
  }
  if (e) pl_engine_freeze_order(e, 0);
  const char *stages[2] = {"raster", "upsample"};
  int want[2] = {do_raster, do_ups};
  for (int k = 0; k < 2 && st == PL_OK; ++k) {
    if (!want[k]) continue;
    st = pl_engine_stage_check(e, stages[k], (int)frame, (int)samples, stage_step, tol, rows, 512, &nrows);
    if (st == PL_OK) {
      printf("\nstage %s: sampled inputs of the stage, image loss at one frame\n", stages[k]);
      pl_gc_print(rows, nrows, stdout);
      all_ok &= pl_gc_all_ok(rows, nrows);
    }
  }
  if (st == PL_OK) {
    printf("\n%s\n", all_ok ? "gradcheck: every gradient matches (ok)" : "gradcheck: FAILED (see the verdicts above)");
    rc = all_ok ? 0 : 1;
  } else {
    rc = pl_cli_report("gradcheck", st);
  }
  pl_optimizer_free(&o);
  pl_engine_free(e);
  pl_targets_free(&t);
  pl_scene_free(&s);
  return rc;
}

const pl_cli_command pl_cmd_gradcheck = {
    "gradcheck", "Check every learnable parameter's gradient against finite differences, with a verdict each.",
    "SCENE.cfg [options]",
    "The loss is the scene's image loss against its targets ([truth] renders or targets.folder). Verdicts: ok,\n"
    "MISMATCH (relative error above the tolerance), NO GRADIENT (the adjoint is zero while the loss changes: a cut\n"
    "gradient), INSENSITIVE (the loss does not depend on the parameter in this scene), FROZEN ([param] frozen =\n"
    "true; not a failure). --stage raster / upsample checks sampled inputs of those stages at one frame.\n"
    "Exit status 1 when any verdict is bad.",
    gc_opts, run_gradcheck};
