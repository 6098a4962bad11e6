/* test_fit.c: the optimisation loop on a quadratic objective: stages (a parameter learning only in its
 * stage), convergence to the truth, result.json and fit.csv contents, early stop, and a killed run that
 * resumes and ends bit-identical to an uninterrupted one. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <unistd.h>

#include "core/fileio.h"
#include "pipeline/fit/fit.h"
#include "pipeline/fit/fit_global.h"
#include "tests/test_util.h"

static const char *SCENE =
    "[sim]\ngrid = 16\nframes = 4\n"
    "[material m]\nmodel = neo_hookean\nE = 5e4\nnu = 0.2\n"
    "[object o]\nshape = box\nmaterial = m\nvelocity = 1 0 -2\n"
    "[optimize]\nlr = 0.05\nschedule = cosine\nlr_final = 0.2\nuncertainty = false\n"
    "[stage warm]\niterations = 30\nframes = 0:2\n"
    "[stage main]\niterations = 120\n"
    "[param object.o.velocity]\nstages = warm\nlr = 0.2\n"
    "[param material.m.E]\nstages = main\n"
    "[param material.m.nu]\nlo = 0\nhi = 0.45\n"
    "[truth]\nmaterial.m.E = 2e4\nmaterial.m.nu = 0.32\nobject.o.velocity = 0.5 0.25 -1\n";

typedef struct {
  double target[5];
  int evals;
  char last_frames[64];
} quad;

static pl_status eval(void *user, pl_optimizer *o, const char *frames, int want_grad, pl_loss_value *loss) {
  quad *q = (quad *)user;
  q->evals++;
  snprintf(q->last_frames, sizeof q->last_frames, "%s", frames);
  memset(loss, 0, sizeof *loss);
  int c = 0;
  for (int i = 0; i < o->n; ++i)
    for (int k = 0; k < o->p[i].components; ++k, ++c) {
      double th = pl_param_value(&o->p[i], k), sc = fabs(q->target[c]) > 1 ? q->target[c] : 1;
      double d = (th - q->target[c]) / sc;
      loss->term[PL_LOSS_L2] += d * d;
      if (want_grad) o->p[i].grad[k] = 2 * d / sc;
    }
  loss->total = loss->term[PL_LOSS_L2];
  return PL_OK;
}

static void run(const char *dir, const char *extra_set, long stop_after, int resume, pl_optimizer *o, pl_status *st,
                quad *q) {
  pl_scene s;
  const char *sets[1] = {extra_set};
  pl_scene_load_string(&s, SCENE, "t.cfg", ".", sets, extra_set ? 1 : 0);
  pl_optimizer_init(o, &s);
  double tg[5] = {0.5, 0.25, -1, 2e4, 0.32};
  memcpy(q->target, tg, sizeof tg);
  q->evals = 0;
  pl_objective obj = {.user = q, .eval = eval};
  pl_fit_options opt = {.output = dir, .resume = resume, .quiet = 1, .stop_after = stop_after};
  pl_fit_result r;
  *st = pl_fit(&s, o, &obj, &opt, &r);
  pl_scene_free(&s);
}

static double json_num(const char *path, const char *param, const char *field) {
  char *text = NULL;
  if (pl_read_file(path, &text, NULL) != PL_OK) return NAN;
  cJSON *j = cJSON_Parse(text);
  free(text);
  cJSON *p = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "parameters"), param);
  cJSON *f = cJSON_GetObjectItemCaseSensitive(p, field);
  double v = cJSON_IsNumber(f) ? f->valuedouble : NAN;
  cJSON_Delete(j);
  return v;
}

/* CSV without the last (seconds) column */
static char *csv_body(const char *path) {
  char *text = NULL;
  pl_read_file(path, &text, NULL);
  if (!text) return NULL;
  char *out = (char *)calloc(strlen(text) + 1, 1);
  char *save = NULL;
  for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    char *last = strrchr(l, ',');
    if (last) *last = '\0';
    strcat(out, l);
    strcat(out, "\n");
  }
  free(text);
  return out;
}

/* A correlated quadratic in the step space of two log values: L = 1/2 (u - u*)^T A (u - u*). The curvature must
 * come out as A, the correlation as A^-1's, the verdict converged; a start 10x off must reach u* with the scan;
 * an enormous learning rate must not collapse a log value to 0 (the step cap). */
static const double A2[4] = {4.0, 3.0, 3.0, 2.5};
static pl_status eval2(void *user, pl_optimizer *o, const char *frames, int want_grad, pl_loss_value *loss) {
  (void)frames;
  int *evals = (int *)user;
  ++*evals;
  double d[2] = {o->p[0].u[0] - log(3e5), o->p[1].u[0] - log(1.5e4)};
  memset(loss, 0, sizeof *loss);
  for (int i = 0; i < 2; ++i) {
    double Ad = A2[2 * i] * d[0] + A2[2 * i + 1] * d[1];
    loss->term[PL_LOSS_L2] += 0.5 * d[i] * Ad;
    if (want_grad) o->p[i].grad[0] = Ad / pl_param_value(&o->p[i], 0); /* dL/dtheta = dL/du / theta */
  }
  loss->total = loss->term[PL_LOSS_L2];
  return PL_OK;
}

/* eval2, but the gradient turns NaN from the 10th gradient evaluation on */
static int grad_evals;
static pl_status eval_nan(void *user, pl_optimizer *o, const char *frames, int want_grad, pl_loss_value *loss) {
  pl_status st = eval2(user, o, frames, want_grad, loss);
  if (want_grad && ++grad_evals >= 10) o->p[0].grad[0] = NAN;
  return st;
}

static void valley_tests(const char *dir) {
  static const char *SC =
      "[sim]\ngrid = 16\nframes = 2\n[material m]\nmodel = stvk_von_mises\nE = 2.6e6\nyield_stress = 1.7e3\n"
      "[object o]\nshape = box\nmaterial = m\n"
      "[optimize]\niterations = 3\nlr = 0.01\nscan = 9\nscan_levels = 3\nnewton = 3\n"
      "[param material.m.E]\n[param material.m.yield_stress]\n";
  pl_scene s;
  pl_optimizer o;
  CHECK(pl_scene_load_string(&s, SC, "v.cfg", ".", NULL, 0) == PL_OK, "valley scene: %s", pl_last_error());
  CHECK(pl_optimizer_init(&o, &s) == PL_OK, "init");
  int evals = 0;
  pl_objective obj = {.user = &evals, .eval = eval2};
  pl_fit_options opt = {dir, 0, 1, 0, 0, 0};
  pl_fit_result r;
  pl_status st = pl_fit(&s, &o, &obj, &opt, &r);
  CHECK(st == PL_OK, "fit: %s", pl_last_error());
  CHECK(fabs(pl_param_value(&o.p[0], 0) / 3e5 - 1) < 1e-3 && fabs(pl_param_value(&o.p[1], 0) / 1.5e4 - 1) < 1e-3,
        "from 10x off (scan, 3 Adam steps, Newton): E %g yield %g", pl_param_value(&o.p[0], 0), pl_param_value(&o.p[1], 0));
  CHECK(r.verdict == PL_FIT_CONVERGED, "verdict %s: %s", pl_fit_verdict_name(r.verdict), r.reason);
  CHECK(r.has_curvature && fabs(r.hessian[0] - 4) < 1e-6 && fabs(r.hessian[1] - 3) < 1e-6 && fabs(r.hessian[3] - 2.5) < 1e-6,
        "Hessian from gradient differences %g %g %g", r.hessian[0], r.hessian[1], r.hessian[3]);
  double rho = -3 / sqrt(4 * 2.5); /* A^-1's correlation */
  CHECK(fabs(r.corr[1] - rho) < 1e-6, "correlation %g (exact %g)", r.corr[1], rho);
  CHECK(pl_fit_verdict_exit_code(r.verdict) == 0 && pl_fit_verdict_exit_code(PL_FIT_STALLED) == 3 &&
        pl_fit_verdict_exit_code(PL_FIT_DIVERGED) == 4, "exit codes");
  char path[512];
  snprintf(path, sizeof path, "%s/result.json", dir);
  char *text = NULL;
  pl_read_file(path, &text, NULL);
  CHECK(text && strstr(text, "\"verdict\":\t\"converged\"") && strstr(text, "\"best\"") && strstr(text, "\"last\"") &&
        strstr(text, "\"correlation\""), "result.json has the verdict, the best and last points, the correlations");
  /* no image residuals here (no cameras): no error bars (kappa unknown), so nothing is flagged; the values' spread over
   * the last rows of fit.csv is reported */
  printf("valley: se %g %g, recent change %g %g over %d rows\n", r.se[0], r.se[1], r.change[0], r.change[1], r.change_rows);
  CHECK(text && r.change_rows >= 2 && r.change[0] > 0 && !r.se_below_change && strstr(text, "\"recent_change\"") &&
        strstr(text, "\"smaller_than_recent_change\":\tfalse"), "recent change reported, nothing flagged without error bars");
  free(text);
  snprintf(path, sizeof path, "%s/correlation.png", dir);
  CHECK(access(path, R_OK) == 0, "correlation.png beside result.json");
  /* too few iterations and no Newton from 10x off without a scan: not converged, and said so */
  pl_optimizer_free(&o);
  pl_scene_free(&s);
  const char *sets[2] = {"optimize.scan=0", "optimize.newton=0"};
  pl_scene_load_string(&s, SC, "v.cfg", ".", sets, 2);
  pl_optimizer_init(&o, &s);
  st = pl_fit(&s, &o, &obj, &opt, &r);
  CHECK(st == PL_OK && r.verdict == PL_FIT_BUDGET, "3 small steps from 10x off: %s (%s)", pl_fit_verdict_name(r.verdict), r.reason);
  pl_optimizer_free(&o);
  pl_scene_free(&s);
  /* 2 iterations whose loss hardly moves: the budget ran out before a stall could be judged (fewer iterations than
   * optimize.patience), not "stalled (0 % over the last 0 iterations)"; with patience 1 the same run has stalled */
  const char *few[5] = {"optimize.scan=0", "optimize.newton=0", "optimize.iterations=2", "optimize.lr=1e-9", "optimize.patience=10"};
  for (int pat = 0; pat < 2; ++pat) {
    few[4] = pat ? "optimize.patience=1" : "optimize.patience=10";
    pl_scene_load_string(&s, SC, "v.cfg", ".", few, 5);
    pl_optimizer_init(&o, &s);
    st = pl_fit(&s, &o, &obj, &opt, &r);
    printf("2 iterations, patience %d: %s: %s\n", pat ? 1 : 10, pl_fit_verdict_name(r.verdict), r.reason);
    CHECK(st == PL_OK && r.verdict == (pat ? PL_FIT_STALLED : PL_FIT_BUDGET) && (pat || strstr(r.reason, "too few to judge")),
          "2 iterations, patience %d: %s (%s)", pat ? 1 : 10, pl_fit_verdict_name(r.verdict), r.reason);
    pl_optimizer_free(&o);
    pl_scene_free(&s);
  }
  /* no iterations at all (the appearance stage alone, or the start evaluated): unchecked, exit 0, not "diverged"
   * because no evaluated point beat the start */
  {
    const char *none[4] = {"optimize.scan=0", "optimize.newton=0", "optimize.iterations=0", "optimize.uncertainty=false"};
    pl_scene_load_string(&s, SC, "v.cfg", ".", none, 4);
    pl_optimizer_init(&o, &s);
    st = pl_fit(&s, &o, &obj, &opt, &r);
    printf("0 iterations: %s: %s\n", pl_fit_verdict_name(r.verdict), r.reason);
    CHECK(st == PL_OK && r.verdict == PL_FIT_UNCHECKED && pl_fit_verdict_exit_code(r.verdict) == 0 &&
          strstr(r.reason, "no iterations were run"), "0 iterations: %s (%s)", pl_fit_verdict_name(r.verdict), r.reason);
    pl_optimizer_free(&o);
    pl_scene_free(&s);
  }
  /* a non-finite gradient part-way: the fit stops there, reports the best point so far, verdict diverged */
  const char *nan_set[2] = {"optimize.iterations=20", "optimize.scan=0"};
  pl_scene_load_string(&s, SC, "v.cfg", ".", nan_set, 2);
  pl_optimizer_init(&o, &s);
  grad_evals = 0;
  pl_objective bad = {.user = &evals, .eval = eval_nan};
  st = pl_fit(&s, &o, &bad, &opt, &r);
  CHECK(st == PL_OK && r.verdict == PL_FIT_DIVERGED && strstr(r.reason, "iteration 9: the gradient") &&
        r.best_loss < r.start_loss,
        "NaN gradient: %s (%s), best loss %g", pl_fit_verdict_name(r.verdict), r.reason, r.best_loss);
  pl_optimizer_free(&o);
  pl_scene_free(&s);
  /* the step cap */
  double u = log(2e4);
  for (int i = 0; i < 1000; ++i) u = pl_space_safe_step(PL_SPACE_LOG, u, 1e300);
  CHECK(exp(u) > 0 && isfinite(u), "a log value never collapses to 0 (u %g)", u);
  CHECK(pl_space_safe_step(PL_SPACE_LOG, 1.0, 1e300) == 1.0 - PL_MAX_SPACE_STEP, "one step at most a factor e");
  CHECK(pl_space_safe_step(PL_SPACE_BOUNDED, 0.0, NAN) == 0.0, "a non-finite step is not taken");
}

/* An objective with a value of its own (as the engine's per-Gaussian appearance and E-field cells): w steps
 * towards 3 by its own gradient descent, beside the [param] values (the quadratic above); the step after the
 * last gradient evaluation kicks w by +5, so the last iterate is far worse than the best point. */
typedef struct {
  quad q;
  double w, g, kept[PL_FIT_KEEP_SLOTS];
  int has[PL_FIT_KEEP_SLOTS];
  long steps, kick_at;
} ownq;
static pl_status own_eval(void *user, pl_optimizer *o, const char *frames, int want_grad, pl_loss_value *loss) {
  ownq *z = (ownq *)user;
  PL_TRY(eval(&z->q, o, frames, want_grad, loss));
  double d = z->w - 3;
  loss->term[PL_LOSS_L2] += d * d;
  loss->total = loss->term[PL_LOSS_L2];
  if (want_grad) z->g = 2 * d;
  return PL_OK;
}
static pl_status own_step(void *user, double lr_scale) {
  ownq *z = (ownq *)user;
  z->w -= 0.1 * lr_scale * z->g;
  if (++z->steps == z->kick_at) z->w += 5;
  return PL_OK;
}
static pl_status own_keep(void *user, int slot) {
  ownq *z = (ownq *)user;
  z->kept[slot] = z->w, z->has[slot] = 1;
  return PL_OK;
}
static pl_status own_restore(void *user, int slot, int *restored) {
  ownq *z = (ownq *)user;
  if ((*restored = z->has[slot])) z->w = z->kept[slot];
  return PL_OK;
}
/* --resume: w, the step count and the kept slots in FOLDER/own.bin (as the engine's kept.bin) */
static pl_status own_save(void *user, const char *folder) {
  ownq *z = (ownq *)user;
  char path[600];
  snprintf(path, sizeof path, "%s/own.bin", folder);
  FILE *f = fopen(path, "wb");
  if (!f) return pl_fail(PL_ERR_IO, "%s", path);
  fwrite(z, sizeof *z, 1, f);
  fclose(f);
  return PL_OK;
}
static pl_status own_load(void *user, const char *folder) {
  ownq *z = (ownq *)user;
  char path[600];
  snprintf(path, sizeof path, "%s/own.bin", folder);
  FILE *f = fopen(path, "rb");
  if (!f) return pl_fail(PL_ERR_IO, "%s", path);
  size_t ok = fread(z, sizeof *z, 1, f);
  fclose(f);
  return ok == 1 ? PL_OK : pl_fail(PL_ERR_PARSE, "%s", path);
}

/* A fit of the objective's own values alone (no [param]: a learnt E field, an appearance-only fit), and the
 * reported point putting the own values back with the [param] values when the best iterate is not the last. */
static void own_value_tests(const char *dir) {
  double w_whole = NAN;
  for (int run = 0; run < 3; ++run) { /* no [param]; with [param]; with [param], killed at 100 and resumed */
    const int with_params = run > 0;
    char text[2048];
    snprintf(text, sizeof text, "%s", SCENE);
    if (!with_params) *strstr(text, "[param ") = '\0'; /* the same scene without its [param] sections */
    pl_scene s;
    CHECK(pl_scene_load_string(&s, text, "own.cfg", ".", NULL, 0) == PL_OK, "scene: %s", pl_last_error());
    pl_optimizer o;
    CHECK(pl_optimizer_init(&o, &s) == PL_OK, "init");
    ownq z;
    memset(&z, 0, sizeof z);
    double tg[5] = {0.5, 0.25, -1, 2e4, 0.32};
    memcpy(z.q.target, tg, sizeof tg);
    z.w = 0;
    z.kick_at = 150; /* 30 + 120 iterations: the last step */
    pl_objective obj = {.user = &z, .eval = own_eval, .step = own_step, .save = own_save, .load = own_load,
                        .own_values = 1, .keep = own_keep, .restore = own_restore};
    pl_fit_options opt = {.output = dir, .quiet = 1, .stop_after = run == 2 ? 100 : 0};
    pl_fit_result r;
    pl_status st = pl_fit(&s, &o, &obj, &opt, &r);
    if (run == 2) { /* killed: a fresh objective and optimizer resume from the folder */
      CHECK(st != PL_OK, "the test hook stops the run");
      pl_clear_error();
      pl_optimizer_free(&o);
      CHECK(pl_optimizer_init(&o, &s) == PL_OK, "init");
      memset(&z, 0, sizeof z);
      opt.stop_after = 0, opt.resume = 1;
      st = pl_fit(&s, &o, &obj, &opt, &r);
      CHECK(z.w == w_whole, "resumed: the reported own value %.17g differs from the uninterrupted %.17g", z.w, w_whole);
    }
    if (run == 1) w_whole = z.w;
    CHECK(st == PL_OK, "%s: a fit of own values: %s", with_params ? "with [param]" : "no [param]", pl_last_error());
    CHECK(o.n == (with_params ? 3 : 0), "parameters %d", o.n);
    CHECK(z.steps == 150, "the own values stepped %ld times (150 iterations)", z.steps);
    CHECK(fabs(z.w - 3) < 1e-3, "%s: the reported point's own value is %g (truth 3; the kicked last iterate is ~8): "
          "the best point did not put it back", with_params ? "with [param]" : "no [param]", z.w);
    CHECK(r.best_loss < (with_params ? 0.05 : 1e-3) && r.last_loss > 20, "best loss %g (reported point), last %g (kicked)", r.best_loss,
          r.last_loss);
    if (with_params) CHECK(fabs(pl_param_value(&o.p[1], 0) / 2e4 - 1) < 0.02, "E %g", pl_param_value(&o.p[1], 0));
    pl_optimizer_free(&o);
    pl_scene_free(&s);
  }
  /* neither [param] nor own values: refused, naming the scene file */
  char text[2048];
  snprintf(text, sizeof text, "%s", SCENE);
  *strstr(text, "[param ") = '\0';
  pl_scene s;
  pl_scene_load_string(&s, text, "nothing.cfg", ".", NULL, 0);
  pl_optimizer o;
  pl_optimizer_init(&o, &s);
  quad q;
  memset(&q, 0, sizeof q);
  pl_objective obj = {.user = &q, .eval = eval};
  pl_fit_options opt = {.output = dir, .quiet = 1};
  pl_fit_result r;
  CHECK(pl_fit(&s, &o, &obj, &opt, &r) != PL_OK && strstr(pl_last_error(), "nothing.cfg"),
        "a fit of nothing was not refused naming the file: %s", pl_last_error());
  pl_clear_error();
  pl_optimizer_free(&o);
  pl_scene_free(&s);
}

int main(void) {
  char a[] = "/tmp/pl_fit_a_XXXXXX", b[] = "/tmp/pl_fit_b_XXXXXX";
  CHECK(mkdtemp(a) && mkdtemp(b), "tmp");
  pl_optimizer full, part;
  pl_status st;
  quad q;
  run(a, NULL, 0, 0, &full, &st, &q);
  CHECK(st == PL_OK, "full run: %s", pl_last_error());
  CHECK(q.evals == 155, "start + 150 iterations + last, best, start (the reported point: the lowest) + final, got %d", q.evals);
  double E = pl_param_value(&full.p[1], 0), nu = pl_param_value(&full.p[2], 0);
  CHECK(fabs(E / 2e4 - 1) < 0.02, "E fitted %g", E);
  CHECK(fabs(nu - 0.32) < 0.01, "nu fitted %g", nu);
  CHECK(fabs(pl_param_value(&full.p[0], 1) - 0.25) < 0.05, "velocity fitted in the warm stage %g",
        pl_param_value(&full.p[0], 1));
  char path[512];
  snprintf(path, sizeof path, "%s/result.json", a);
  CHECK(fabs(json_num(path, "material.m.E", "fitted") - E) < 1e-9 * E, "result.json fitted E");
  CHECK(json_num(path, "material.m.E", "truth") == 2e4, "result.json truth");
  CHECK(json_num(path, "material.m.E", "relative_error") < 0.02, "result.json relative error");
  CHECK(json_num(path, "material.m.E", "start") == 5e4, "result.json start");
  snprintf(path, sizeof path, "%s/loss.png", a);
  CHECK(access(path, R_OK) == 0, "loss curve written");
  snprintf(path, sizeof path, "%s/fit.csv", a);
  char *ca = csv_body(path);
  CHECK(ca && strstr(ca, "iteration,stage,loss") == ca, "csv header");
  CHECK(ca && strstr(ca, "\n29,warm,") && strstr(ca, "\n30,main,") && strstr(ca, "\n149,main,"), "csv rows per stage");
  /* E must not move in the warm stage: its value in row 29 equals the start */
  /* killed after 40 iterations (inside the second stage), resumed, and again after 50 more */
  run(b, NULL, 40, 0, &part, &st, &q);
  CHECK(st != PL_OK, "the test hook stops the run");
  pl_optimizer_free(&part);
  run(b, NULL, 50, 1, &part, &st, &q);
  CHECK(st != PL_OK && q.evals == 50, "second part ran 50 iterations (%d)", q.evals);
  pl_optimizer_free(&part);
  run(b, NULL, 0, 1, &part, &st, &q);
  CHECK(st == PL_OK, "resumed run finishes: %s", pl_last_error());
  CHECK(q.evals == 64, "resumed run did the remaining 60 iterations + the reported point's 4 (%d)", q.evals);
  int same = 1;
  for (int i = 0; i < full.n; ++i)
    for (int k = 0; k < full.p[i].components; ++k) same &= full.p[i].u[k] == part.p[i].u[k];
  CHECK(same, "resumed result is bit-identical");
  snprintf(path, sizeof path, "%s/fit.csv", b);
  char *cb = csv_body(path);
  CHECK(ca && cb && strcmp(ca, cb) == 0, "resumed CSV equals the uninterrupted one (except times)");
  free(ca);
  free(cb);
  pl_optimizer_free(&part);
  pl_optimizer_free(&full);
  /* early stop: patience 5, demand 50% improvement: stops quickly in each stage */
  run(b, "optimize.early_stop=0.5", 0, 0, &part, &st, &q);
  CHECK(st == PL_OK && q.evals < 45, "early stop (%d evaluations)", q.evals);
  pl_optimizer_free(&part);
  valley_tests(b);
  own_value_tests(b);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s %s", a, b);
  CHECK(system(cmd) == 0, "cleanup");
  return test_summary("test_fit");
}
