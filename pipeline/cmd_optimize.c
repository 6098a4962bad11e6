/* cmd_optimize.c: `pipeline optimize SCENE.cfg`: fit the learnable parameters to the target images. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/progress.h"
#include "pipeline/cli.h"
#include "pipeline/engine.h"
#include "pipeline/fit.h"
#include "pipeline/fit_global.h"

static const pl_cli_option optimize_opts[] = {
    {"output", 'o', "DIR", "output folder (default: optimize.output)"},
    {"resume", 0, NULL, "continue from OUTPUT/state.json (the last finished iteration) if it exists"},
    {NULL, 0, NULL, NULL}};

static int run_optimize(const pl_cli_args *a) {
  pl_cli_apply_common(a);
  pl_scene s;
  int rc = pl_cli_load_scene(a, "optimize", &s);
  if (rc) return rc;
  const char *out = pl_cli_get(a, "output") ? pl_cli_get(a, "output") : s.optimize.output;
  int quiet = pl_cli_quiet(a);
  pl_targets t;
  memset(&t, 0, sizeof t);
  pl_engine *e = NULL;
  pl_optimizer o;
  memset(&o, 0, sizeof o);
  double t0 = pl_now();
  pl_fit_result r;
  memset(&r, 0, sizeof r);
  pl_status st = s.nparams ? PL_OK
                           : pl_fail(PL_ERR_INVALID, "%s: nothing to optimise: add a [param ADDRESS] section, e.g. "
                                     "[param material.NAME.E]", s.path);
  if (st == PL_OK) st = pl_engine_make_targets(&s, &t, quiet);
  if (st == PL_OK) st = pl_engine_create(&e, &s);
  if (st == PL_OK) st = pl_engine_set_targets(e, &t);
  if (st == PL_OK) st = pl_optimizer_init(&o, &s);
  if (st == PL_OK) {
    PL_INFO("optimize: %s: %lld particles -> %lld Gaussians, %d target images, %d learnable parameter%s, %s backend "
            "(set-up %.2f s)", s.path, (long long)pl_engine_particles(e), (long long)pl_engine_gaussians(e),
            pl_targets_count(&t), o.n, o.n == 1 ? "" : "s", pl_backend_name(pl_engine_backend(e)), pl_now() - t0);
    pl_objective obj = {e, pl_engine_objective_eval, pl_engine_write_strips};
    pl_fit_options fo = {out, pl_cli_count(a, "resume") > 0, quiet, 0};
    st = pl_fit(&s, &o, &obj, &fo, &r);
    if (st == PL_OK) {
      printf("%-36s %14s %14s %14s %10s\n", "parameter", "start", "fitted", "truth", "rel.err");
      for (int i = 0; i < o.n; ++i) {
        const pl_param *p = &o.p[i];
        for (int k = 0; k < p->components; ++k) {
          char name[224];
          snprintf(name, sizeof name, p->components == 1 ? "%s" : "%s.%c", p->address, "xyz"[k]);
          const pl_scene_param *sp = &s.params[i];
          double start = sp->has_init ? sp->init[k] : NAN, truth = NAN;
          if (!sp->has_init) {
            const char *txt = pl_config_text(&s.config, sp->type, sp->name, sp->key);
            double v[3] = {NAN, NAN, NAN};
            int c = txt ? pl_parse_reals(txt, v, 3) : 0;
            start = c == 1 ? v[0] : v[k];
          }
          double scale = 0; /* a vector's components are compared with the vector's length */
          for (int q = 0; q < s.ntruth; ++q)
            if (strcmp(s.truth[q].address, p->address) == 0) {
              double v[3] = {NAN, NAN, NAN};
              int c = pl_parse_reals(s.truth[q].value, v, 3);
              truth = c == 1 ? v[0] : v[k];
              for (int j = 0; j < c; ++j) scale += v[j] * v[j];
              scale = c == 1 ? fabs(v[0]) : sqrt(scale);
            }
          double fit = pl_param_value(p, k);
          if (isfinite(truth) && scale > 0)
            printf("%-36s %14.6g %14.6g %14.6g %10.3g\n", name, start, fit, truth, fabs(fit - truth) / scale);
          else if (isfinite(truth))
            printf("%-36s %14.6g %14.6g %14.6g %10s\n", name, start, fit, truth, "-");
          else
            printf("%-36s %14.6g %14.6g %14s %10s\n", name, start, fit, "-", "-");
        }
      }
      fprintf(stderr, "pipeline optimize: %ld iterations%s, final loss %.6g, %.1f s; results in %s/ (fit.csv, "
              "result.json, loss.png, strip_*.png)\n", r.iterations, r.stopped_early ? " (stopped early)" : "",
              r.final_loss, r.seconds, out);
      pl_fit_print_summary(&r);
    }
  }
  rc = st == PL_OK ? pl_fit_verdict_exit_code(r.verdict) : pl_cli_report("optimize", st);
  pl_optimizer_free(&o);
  pl_engine_free(e);
  pl_targets_free(&t);
  pl_scene_free(&s);
  return rc;
}

const pl_cli_command pl_cmd_optimize = {
    "optimize", "Fit the scene's learnable parameters ([param ...]) to its target images.", "SCENE.cfg [options]",
    "Targets are rendered from the [truth] values (targets.source = truth) or read from targets.folder. Each\n"
    "iteration simulates, renders, compares and runs one adjoint pass back to every parameter, then steps Adam.\n"
    "Writes OUTPUT/fit.csv (a row per iteration: loss terms, every parameter, every gradient norm),\n"
    "OUTPUT/result.json (fitted values, start, truth, relative errors, time), OUTPUT/loss.png and\n"
    "OUTPUT/strip_CAMERA_FRAME.png (target | rendered | difference). Killed at any point, --resume continues from\n"
    "the last finished iteration and ends with the same result.\n"
    "The reported values are the best evaluated point (result.json also has the last iterate), with standard\n"
    "errors and correlations from the loss's curvature and a verdict: converged, stalled, budget exhausted or\n"
    "diverged (docs/fitting.md). Exit status: 0 converged, 3 stalled or budget exhausted, 4 diverged, 1 runtime\n"
    "failure, 2 usage or input error.",
    optimize_opts, run_optimize};
