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

#include <cjson/cJSON.h>

#include "core/hd.h"
#include "core/log.h"
#include "pipeline/cli/cli.h"
#include "pipeline/engine/engine.h"
#include "pipeline/engine/engine_check.h"
#include "pipeline/engine/engine_objective.h"
#include "pipeline/fit/gradcheck.h"
#include "pipeline/engine/particle_fields.h"
#include "raster/raster.h"

static const pl_cli_option gc_opts[] = {
    {"stage", 0, "NAME", "params (default: every learnable parameter through the whole pipeline), mpm, raster, upsample, all"},
    {"cutoffs", 0, "MODE", "smooth (default: the objective optimize descends, with the rasterizer's alpha and transmittance "
                           "cut-offs at 1e-9 and 1e-12, and the depth order frozen at the checked point) or exact (gsplat's)"},
    {"frames", 0, "SEL", "frames whose loss is differentiated (default: all target frames)"},
    {"frame", 0, "F", "stage checks: the frame (default: the last target frame)"},
    {"samples", 0, "N", "stage checks: entries sampled per stage (default 12)"},
    {"tolerance", 0, "T", "relative error allowed (default 1e-4 in double, 3e-2 in float)"},
    {"step", 0, "H", "relative finite-difference step (default 1e-5 in double, 3e-3 in float; stage inputs relative to their "
                     "scale; the steps x0.1, x10, x0.01 are tried when the first disagrees; on the CPU backend a step whose "
                     "+h and -h runs took different branches is skipped for ten times smaller ones, down to x1e-4)"},
    {"precision", 0, "P", "double (default: re-runs as pipeline-f64 when built) or float (this binary)"},
    {"json", 0, NULL, "print the checks as one JSON object (scene, precision, stages with their rows, ok)"},
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

/* One stage's rows as JSON. */
static void json_stage(cJSON *stages, const char *name, const pl_gc_row *rows, int n) {
  cJSON *st = cJSON_CreateObject();
  cJSON_AddStringToObject(st, "stage", name);
  cJSON_AddBoolToObject(st, "ok", pl_gc_all_ok(rows, n));
  cJSON *arr = cJSON_AddArrayToObject(st, "rows");
  for (int i = 0; i < n; ++i) {
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "name", rows[i].name);
    cJSON_AddNumberToObject(r, "value", rows[i].value);
    cJSON_AddNumberToObject(r, "adjoint", rows[i].adjoint);
    cJSON_AddNumberToObject(r, "finite_difference", rows[i].fd);
    cJSON_AddNumberToObject(r, "relative_error", rows[i].rel_error);
    cJSON_AddNumberToObject(r, "fd_uncertainty", rows[i].fd_err);
    cJSON_AddStringToObject(r, "verdict", pl_gc_verdict_name(rows[i].verdict));
    if (rows[i].step > 0) cJSON_AddNumberToObject(r, "step", rows[i].step);
    if (rows[i].traced) { /* branch-aware differences (docs/adjoints.md "Branches and finite differences") */
      cJSON *b = cJSON_AddObjectToObject(r, "branch_changes");
      /* "return_maps": particles whose traced branch changed (the return map or, with sim.pic_rest_speed, the rest
       * share; the key kept for readers of earlier files) */
      cJSON_AddNumberToObject(b, "return_maps", (double)rows[i].branches[0]);
      cJSON_AddNumberToObject(b, "contact_nodes", (double)rows[i].branches[1]);
      cJSON_AddNumberToObject(b, "l1_residual_signs", (double)rows[i].branches[2]);
      cJSON_AddNumberToObject(r, "steps_straddling_branches", rows[i].steps_crossing);
      if (rows[i].one_sided) /* the difference reported is one-sided, on the side that kept the base's branches */
        cJSON_AddStringToObject(r, "one_sided", rows[i].one_sided > 0 ? "+" : "-");
      if (rows[i].steps_crossing > 0) { /* the smallest step that straddled one, and its counts */
        cJSON_AddNumberToObject(r, "straddling_step", rows[i].cross_step);
        cJSON *c = cJSON_AddObjectToObject(r, "straddling_branch_changes");
        cJSON_AddNumberToObject(c, "return_maps", (double)rows[i].cross_branches[0]);
        cJSON_AddNumberToObject(c, "contact_nodes", (double)rows[i].cross_branches[1]);
        cJSON_AddNumberToObject(c, "l1_residual_signs", (double)rows[i].cross_branches[2]);
      }
    }
    cJSON_AddItemToArray(arr, r);
  }
  cJSON_AddItemToArray(stages, st);
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
  double tol, step, stage_step, dtol, dstep, dstage;
  long samples, frame;
  pl_gc_defaults(&dstep, &dstage, &dtol);
  if (pl_cli_real(a, "tolerance", dtol, &tol) || pl_cli_real(a, "step", dstep, &step) ||
      pl_cli_real(a, "step", dstage, &stage_step) ||
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
  /* The objective optimize descends (engine_objective.c): the rasterizer's cut-offs lowered to alpha 1e-9 and
   * T 1e-12 (set with the targets), the automatic substep schedule held at the checked point for the
   * differences, the depth order frozen there. --cutoffs exact checks gsplat's cut-offs instead. */
  if (st == PL_OK) st = pl_engine_set_targets(e, &t);
  if (st == PL_OK && !smooth) pl_engine_set_cutoffs(e, 0, 0);
  if (st == PL_OK) st = pl_optimizer_init(&o, &s);
  if (st == PL_OK) st = pl_engine_apply(e, &o);
  const int json = pl_cli_count(a, "json") > 0;
  cJSON *jroot = json ? cJSON_CreateObject() : NULL, *jstages = NULL;
  if (json) {
    cJSON_AddStringToObject(jroot, "scene", s.path);
    cJSON_AddStringToObject(jroot, "precision", PL_REAL_NAME);
    cJSON_AddNumberToObject(jroot, "tolerance", tol);
    cJSON_AddStringToObject(jroot, "substeps", s.sim.substeps ? "fixed" : "automatic, held at the checked point");
    cJSON_AddStringToObject(jroot, "cutoffs", smooth ? "smooth" : "exact");
    jstages = cJSON_AddArrayToObject(jroot, "stages");
  } else {
    printf("gradcheck %s (%s precision, tolerance %g, %s, %s rasterizer cut-offs)\n", s.path, PL_REAL_NAME, tol,
           s.sim.substeps ? "fixed substeps" : "each frame's automatic substep count held at the checked point",
           smooth ? "the objective's (alpha 1e-9, T 1e-12)" : "gsplat's exact");
  }
  if (st == PL_OK && do_params) {
    if (o.n == 0 && !pl_engine_learns_appearance(e) && !pl_engine_learns_fields(e)) {
      st = pl_fail(PL_ERR_INVALID, "%s: no [param ...] section: nothing to check (or use --stage raster/upsample)", s.path);
    } else {
      if (json) {
        st = pl_engine_collect_check(e, &o, step, tol, pl_cli_get(a, "frames"), rows, 512, &nrows);
        if (st == PL_OK) json_stage(jstages, "params", rows, nrows), all_ok &= pl_gc_all_ok(rows, nrows);
      } else {
        st = pl_engine_print_check(e, &o, step, tol, pl_cli_get(a, "frames"), "stage params: every learnable "
                                   "parameter, whole pipeline", &all_ok);
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
        if (json) {
          json_stage(jstages, "mpm", rows, nrows);
        } else {
          printf("\nstage mpm: the simulation's parameters, smooth loss on particle states (x, v, F) at the loss frames\n");
          if (nrows == 0) printf("(no learnable parameter of the simulation)\n");
          pl_gc_print(rows, nrows, stdout);
        }
        all_ok &= pl_gc_all_ok(rows, nrows);
      }
    }
  }
  if (e) pl_engine_release_check(e);
  const char *stages[2] = {"raster", "upsample"};
  int want[2] = {do_raster, do_ups};
  if (want[0] && !strcmp(stage, "all") && e && pl_engine_gaussians_have_sh(e)) {
    want[0] = 0; /* the raster stage steps RGB colours; SH Gaussians are covered by the upsample stage and params */
    if (!json) printf("\nstage raster: skipped (the Gaussians carry SH: the upsample stage covers them with their frames)\n");
  }
  for (int k = 0; k < 2 && st == PL_OK; ++k) {
    if (!want[k]) continue;
    st = pl_engine_stage_check(e, stages[k], (int)frame, (int)samples, stage_step, tol, rows, 512, &nrows);
    if (st == PL_OK) {
      if (json) json_stage(jstages, stages[k], rows, nrows);
      else printf("\nstage %s: sampled inputs of the stage, image loss at one frame\n", stages[k]), pl_gc_print(rows, nrows, stdout);
      all_ok &= pl_gc_all_ok(rows, nrows);
    }
  }
  if (st == PL_OK) {
    if (json) {
      cJSON_AddBoolToObject(jroot, "ok", all_ok);
      char *text = cJSON_Print(jroot);
      if (text) printf("%s\n", text);
      cJSON_free(text);
    } else {
      printf("\n%s\n", all_ok ? "gradcheck: every gradient matches (ok)" : "gradcheck: FAILED (see the verdicts above)");
    }
    rc = all_ok ? 0 : 1;
  } else {
    rc = pl_cli_report("gradcheck", st);
  }
  cJSON_Delete(jroot);
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
    "true; not a failure), NOISY (no step tried resolves the difference), NON-SMOOTH (every step tried straddles a\n"
    "branch change: a particle's return map (or the transfer's rest share), a contact or the sign of an L1 residual\n"
    "took another branch between the +h and -h\n"
    "runs, and no branch-free step was conclusive; printed with the counts; lowercase non-smooth when the smallest\n"
    "such step's difference still agrees with the adjoint: reported, not a failure). On the CPU backend the differences are\n"
    "branch-aware: the rows say which steps straddled branch changes and how many (docs/adjoints.md).\n"
    "--stage raster / upsample checks sampled inputs of those stages at one frame.\n"
    "Exit status 1 when any verdict is bad.",
    gc_opts, run_gradcheck, 0};
