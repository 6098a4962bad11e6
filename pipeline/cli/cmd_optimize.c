/* cmd_optimize.c: `pipeline optimize SCENE.cfg`: fit the learnable parameters to the target images. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/progress.h"
#include "pipeline/cli/cli.h"
#include "pipeline/engine/engine.h"
#include "pipeline/engine/engine_objective.h"
#include "pipeline/fit/fit.h"
#include "pipeline/engine/particle_fields.h"
#include "pipeline/fit/fit_appearance.h"
#include "pipeline/fit/fit_global.h"
#include "pipeline/fit/fit_video.h"
#include "pipeline/fit/holdout.h"
#include "pipeline/scene/hull_object.h"
#include "pipeline/report/report.h"
#include "pipeline/report/runinfo.h"

static const pl_cli_option optimize_opts[] = {
    {"output", 'o', "DIR", "output folder (default: optimize.output)"},
    {"resume", 0, NULL, "continue from OUTPUT/state.json (the last finished iteration) if it exists"},
    {"new-run", 0, NULL, "write to a new folder OUTPUT/YYYYmmdd-HHMMSS instead of replacing the run in OUTPUT"},
    {"no-video", 0, NULL, "skip the fit video (fit.mp4 / fit.gif)"},
    {"profile", 0, NULL, "time each phase on its own (waits for the device at phase boundaries; CUDA)"},
    {"check-grad", 0, "N", "at iteration N, check the gradient against central differences (gradcheck's table)"},
    {NULL, 0, NULL, NULL}};

static int run_optimize(const pl_cli_args *a) {
  pl_cli_apply_common(a);
  pl_scene s;
  int rc = pl_cli_load_scene(a, "optimize", &s);
  if (rc) return rc;
  const char *out = pl_cli_get(a, "output") ? pl_cli_get(a, "output") : s.optimize.output;
  int quiet = pl_cli_quiet(a), resume = pl_cli_count(a, "resume") > 0, video = !pl_cli_count(a, "no-video");
  if (resume && pl_cli_count(a, "new-run")) {
    pl_scene_free(&s);
    fprintf(stderr, "pipeline optimize: --resume continues the run in OUTPUT; --new-run starts a new one: give one\n");
    return 2;
  }
  pl_run run;
  pl_fit_frames f_start, f_end;
  memset(&f_start, 0, sizeof f_start);
  memset(&f_end, 0, sizeof f_end);
  pl_targets t;
  memset(&t, 0, sizeof t);
  pl_engine *e = NULL;
  pl_optimizer o;
  memset(&o, 0, sizeof o);
  double t0 = pl_now();
  pl_fit_result r;
  memset(&r, 0, sizeof r);
  /* a fit learns [param] values, learnt E fields (learn_E_field) or per-Gaussian appearance (upsample.learn_*) */
  const int own = pl_scene_learns_fields(&s) || s.upsample.learn_colors || s.upsample.learn_opacities;
  pl_status st = s.nparams || own ? PL_OK
                 : pl_fail(PL_ERR_INVALID, "%s: nothing to optimise: add a [param ADDRESS] section (e.g. [param "
                           "material.NAME.E]), learn_E_field or upsample.learn_colors / learn_opacities", s.path);
  if (st == PL_OK) st = pl_run_begin(&run, "optimize", &s, out, pl_cli_count(a, "new-run") > 0, resume, quiet);
  int run_started = st == PL_OK;
  if (run_started) out = run.folder;
  if (st == PL_OK) st = pl_engine_make_targets(&s, &t, quiet);
  if (st == PL_OK) st = pl_engine_create(&e, &s);
  if (st == PL_OK) st = pl_engine_set_targets(e, &t);
  if (st == PL_OK) st = pl_optimizer_init(&o, &s);
  if (st == PL_OK) {
    PL_INFO("optimize: %s: %lld particles -> %lld Gaussians, %d target images, %d learnable parameter%s, %s backend "
            "(set-up %.2f s)", s.path, (long long)pl_engine_particles(e), (long long)pl_engine_gaussians(e),
            pl_targets_count(&t), o.n, o.n == 1 ? "" : "s", pl_backend_name(pl_engine_backend(e)), pl_now() - t0);
    pl_engine_profile_sync(e, pl_cli_count(a, "profile") > 0);
    pl_objective obj = {e, pl_engine_objective_eval, pl_engine_write_results, pl_engine_appearance_step,
                        pl_engine_appearance_save, pl_engine_appearance_load, pl_engine_check_grad, own,
                        pl_engine_keep, pl_engine_restore, NULL, NULL}; /* (no branch trace: optimize) */
    pl_fit_options fo = {out, resume, quiet, 0, 0, 0};
    if (pl_cli_get(a, "check-grad")) {
      long n = 0;
      if (pl_cli_int(a, "check-grad", 0, &n) || n < 0) st = pl_fail(PL_ERR_INVALID, "--check-grad needs an iteration >= 0");
      fo.check_grad = 1;
      fo.check_grad_at = n;
    }
    char name_buf[32];
    pl_appearance_result ar; /* shape = visual_hull pictures; the first-frame appearance stage */
    memset(&ar, 0, sizeof ar);
    if (st == PL_OK) st = pl_scene_write_hull_images(&s, out);
    if (st == PL_OK) st = pl_appearance_stage(&s, e, &o, &t, resume, quiet, out, &ar);
    if (st == PL_OK && video) st = pl_fit_frames_capture(e, &s, &o, &t, &f_start); /* the start, for the fit video */
    if (st == PL_OK) st = pl_fit(&s, &o, &obj, &fo, &r);
    pl_holdout_result hr;
    memset(&hr, 0, sizeof hr);
    if (st == PL_OK && pl_scene_has_holdout(&s)) {
      st = pl_holdout_evaluate(&s, e, &o, &t, quiet, &hr);
      char rj[PL_PATH_MAX + 16];
      snprintf(rj, sizeof rj, "%s/result.json", out);
      if (st == PL_OK) st = pl_holdout_add_to_json(rj, &hr);
    }
    if (st == PL_OK && ar.iterations) {
      char rj[PL_PATH_MAX + 16];
      snprintf(rj, sizeof rj, "%s/result.json", out);
      st = pl_appearance_add_to_json(rj, &ar);
    }
    char video_path[PL_PATH_MAX + 16] = "";
    if (st == PL_OK) st = pl_report_params(&s, &o, out);
    if (st == PL_OK && video) {
      char base[PL_PATH_MAX + 16];
      snprintf(base, sizeof base, "%s/fit", out);
      st = pl_fit_frames_capture(e, &s, &o, &t, &f_end);
      if (st == PL_OK) st = pl_fit_video_write(&s, &t, &f_start, &f_end, base, video_path, sizeof video_path);
    }
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
      if (hr.images)
        printf("hold-out: %d images, loss %.6g, PSNR %.2f dB, mask IoU %s\n", hr.images, hr.loss, hr.psnr,
               isfinite(hr.iou) ? (snprintf(name_buf, sizeof name_buf, "%.4f", hr.iou), name_buf) : "- (no masks)");
      const char *vname = strrchr(video_path, '/');
      fprintf(stderr, "pipeline optimize: %ld iterations%s, final loss %.6g, %.1f s; results in %s/ (result.json, "
              "fit.csv, loss.png, %sstrip_*.png%s%s%s, run.json, scene.cfg)\n", r.iterations,
              r.stopped_early ? " (stopped early)" : "", r.final_loss, r.seconds, out, o.n ? "params.png, " : "",
              pl_engine_fields_outputs(e), vname ? ", " : "", vname ? vname + 1 : "");
      pl_fit_print_summary(&r);
      if (!quiet) pl_profile_print(pl_engine_profile(e), stderr);
    }
  }
  rc = st == PL_OK ? pl_fit_verdict_exit_code(r.verdict) : pl_cli_report("optimize", st);
  if (run_started) {
    pl_status rs = pl_run_end(&run, &s, e ? pl_engine_backend(e) : PL_BACKEND_AUTO, st == PL_OK, st == PL_OK);
    if (rs != PL_OK && rc == 0) rc = pl_cli_report("optimize", rs);
  }
  pl_fit_frames_free(&f_start);
  pl_fit_frames_free(&f_end);
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
    "OUTPUT/result.json (fitted values, start, truth, relative errors, time, and \"run\": how the run was made),\n"
    "OUTPUT/loss.png (the loss and its terms, log axis), OUTPUT/params.png (each parameter over the iterations\n"
    "with its truth), OUTPUT/strip_CAMERA_FRAME.png (target | rendered | difference), OUTPUT/fit.mp4 (fit.gif\n"
    "without ffmpeg: target | start | difference | fitted | difference at every target frame), OUTPUT/run.json\n"
    "(command line, overrides, version, git commit, build type, precision, backend, device, wall time) and\n"
    "OUTPUT/scene.cfg (the resolved scene). A second run into the same OUTPUT says so and replaces it; --new-run\n"
    "writes to OUTPUT/YYYYmmdd-HHMMSS instead. Killed at any point, --resume continues from the last finished\n"
    "iteration and ends with the same result.\n"
    "The reported values are the best evaluated point (result.json also has the last iterate), with standard\n"
    "errors and correlations from the loss's curvature and a verdict: converged, stalled, budget exhausted or\n"
    "diverged (docs/fitting.md). Exit status: 0 converged, 3 stalled or budget exhausted, 4 diverged, 1 runtime\n"
    "failure, 2 usage or input error.",
    optimize_opts, run_optimize, 0};
