/* test_fit_state.c: --resume trusts nothing in state.json (issue 12: D2, D3, D4, D5, D16, D21). A short fit on a
 * quadratic objective writes a state; each case corrupts one field (or resumes with another scene) and the
 * resume must fail with a message naming the file and the field, never crash, hang or run on. Under the ASan
 * build an out-of-bounds read or write fails the test on its own. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <cjson/cJSON.h>
#include <unistd.h>

#include "core/fileio.h"
#include "pipeline/fit/fit.h"
#include "pipeline/fit/fit_state.h"
#include "tests/test_util.h"

static const char *SCENE =
    "[sim]\ngrid = 16\nframes = 4\n"
    "[material m]\nmodel = neo_hookean\nE = 5e4\nnu = 0.2\n"
    "[object o]\nshape = box\nmaterial = m\n"
    "[optimize]\nlr = 0.05\npatience = 10\nearly_stop = 0\n"
    "[stage warm]\niterations = 5\n"
    "[stage main]\niterations = 20\n"
    "[param material.m.E]\n"
    "[param material.m.nu]\nlo = 0\nhi = 0.45\n";

static pl_status eval(void *user, pl_optimizer *o, const char *frames, int want_grad, pl_loss_value *loss) {
  (void)user;
  (void)frames;
  memset(loss, 0, sizeof *loss);
  const double target[2] = {2e4, 0.32}, scale[2] = {2e4, 1};
  for (int i = 0; i < o->n; ++i) {
    double d = (pl_param_value(&o->p[i], 0) - target[i]) / scale[i];
    loss->term[PL_LOSS_L2] += d * d;
    if (want_grad) o->p[i].grad[0] = 2 * d / scale[i];
  }
  loss->total = loss->term[PL_LOSS_L2];
  return PL_OK;
}

static pl_status fit(const char *dir, const char *set, long stop_after, int resume) {
  pl_scene s;
  const char *sets[1] = {set};
  pl_status st = pl_scene_load_string(&s, SCENE, "t.cfg", ".", sets, set ? 1 : 0);
  if (st != PL_OK) return st;
  pl_optimizer o;
  st = pl_optimizer_init(&o, &s);
  if (st == PL_OK) {
    pl_objective obj;
    pl_fit_options opt;
    memset(&obj, 0, sizeof obj);
    memset(&opt, 0, sizeof opt);
    obj.eval = eval;
    opt.output = dir, opt.resume = resume, opt.quiet = 1, opt.stop_after = stop_after;
    pl_fit_result r;
    st = pl_fit(&s, &o, &obj, &opt, &r);
  }
  pl_optimizer_free(&o);
  pl_scene_free(&s);
  return st;
}

static char g_state[600], g_saved[600];

/* copy the pristine state back, then apply one edit: loop.KEY = value (or a top-level key when loop = 0) */
static void edit(const char *key, int in_loop, cJSON *value) {
  char *text = NULL;
  pl_read_file(g_saved, &text, NULL);
  cJSON *j = cJSON_Parse(text);
  free(text);
  cJSON *obj = in_loop ? cJSON_GetObjectItemCaseSensitive(j, "loop") : j;
  cJSON_ReplaceItemInObjectCaseSensitive(obj, key, value);
  char *out = cJSON_Print(j);
  FILE *f = fopen(g_state, "w");
  fputs(out, f);
  fclose(f);
  cJSON_free(out);
  cJSON_Delete(j);
}

static void restore(void) { edit("format", 0, cJSON_CreateNumber(1)); }

int main(void) {
  char dir[] = "/tmp/pl_fit_state_XXXXXX";
  CHECK(mkdtemp(dir) != NULL, "tmp");
  snprintf(g_state, sizeof g_state, "%s/state.json", dir);
  snprintf(g_saved, sizeof g_saved, "%s/state.saved", dir);
  /* 12 iterations: in the second stage, with a full loss history */
  pl_status st = fit(dir, NULL, 12, 0);
  CHECK(st == PL_ERR_INTERNAL, "the test hook stops the run: %s", pl_last_error());
  char *text = NULL;
  CHECK(pl_read_file(g_state, &text, NULL) == PL_OK, "state written");
  FILE *f = fopen(g_saved, "w");
  fputs(text ? text : "", f);
  fclose(f);
  CHECK(text && strstr(text, "\"scene_hash\""), "the state records the scene's hash");
  free(text);

  struct {
    const char *what, *key;
    int in_loop;
    double value;
    const char *needle;
  } cases[] = {
      {"D2: stage -1", "stage", 1, -1, "\"stage\" = -1"},
      {"stage past the last", "stage", 1, 2, "\"stage\" = 2"},
      {"D4: in_stage -1e18 (looped for ever)", "in_stage", 1, -1e18, "\"in_stage\""},
      {"in_stage past the stage", "in_stage", 1, 21, "\"in_stage\" = 21"},
      {"total below in_stage", "total", 1, 0, "\"total\""},
      {"fractional total", "total", 1, 7.5, "whole number"},
      {"negative seconds", "seconds", 1, -5, "\"seconds\""},
      {"D21: adam_step 1e300", "adam_step", 0, 1e300, "adam_step"},
      {"adam_step past the iterations", "adam_step", 0, 1000, "adam_step"},
      {"adam_step -1", "adam_step", 0, -1, "adam_step"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) {
    edit(cases[i].key, cases[i].in_loop, cJSON_CreateNumber(cases[i].value));
    st = fit(dir, NULL, 0, 1);
    CHECK(st != PL_OK && strstr(pl_last_error(), cases[i].needle) && strstr(pl_last_error(), "state.json"),
          "%s: refused naming the field and file (status %d: %s)", cases[i].what, st, pl_last_error());
  }
  /* D3: 4097 history entries (wrote past a stack array): the most recent patience + 1 are kept; 4098 is more
   * than any patience writes */
  {
    cJSON *h = cJSON_CreateArray();
    for (int i = 0; i < 4097; ++i) cJSON_AddItemToArray(h, cJSON_CreateNumber(1.0 / (i + 1)));
    edit("history", 1, h);
    st = fit(dir, NULL, 0, 1);
    CHECK(st == PL_OK, "D3: 4097 history entries: resumed with the last 11: %s", pl_last_error());
    h = cJSON_CreateArray();
    for (int i = 0; i < 4098; ++i) cJSON_AddItemToArray(h, cJSON_CreateNumber(1.0 / (i + 1)));
    edit("history", 1, h);
    st = fit(dir, NULL, 0, 1);
    CHECK(st != PL_OK && strstr(pl_last_error(), "history"), "D3: 4098 history entries refused: %s", pl_last_error());
    cJSON *h2 = cJSON_CreateArray();
    cJSON_AddItemToArray(h2, cJSON_CreateString("x"));
    edit("history", 1, h2);
    st = fit(dir, NULL, 0, 1);
    CHECK(st != PL_OK && strstr(pl_last_error(), "history"), "a non-number in the history refused: %s",
          pl_last_error());
  }
  /* u = -1e300 in the log space: E would be exactly 0 */
  {
    char *t = NULL;
    pl_read_file(g_saved, &t, NULL);
    cJSON *j = cJSON_Parse(t);
    free(t);
    cJSON *p0 = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "params"), 0);
    cJSON *u = cJSON_CreateArray();
    cJSON_AddItemToArray(u, cJSON_CreateNumber(-1e300));
    cJSON_ReplaceItemInObjectCaseSensitive(p0, "u", u);
    char *out = cJSON_Print(j);
    f = fopen(g_state, "w");
    fputs(out, f);
    fclose(f);
    cJSON_free(out);
    cJSON_Delete(j);
    st = fit(dir, NULL, 0, 1);
    CHECK(st != PL_OK && strstr(pl_last_error(), "material.m.E") && strstr(pl_last_error(), "log space"),
          "a log-space value of 0 refused: %s", pl_last_error());
  }
  /* D5: another scene's state (same parameter names, other values) */
  restore();
  st = fit(dir, "material.m.density=500", 0, 1);
  CHECK(st == PL_ERR_INVALID && strstr(pl_last_error(), "another scene"), "D5: another scene's state refused: %s",
        pl_last_error());
  /* D3: a lower patience than the state was written with resumes (the most recent losses are kept) */
  restore();
  st = fit(dir, "optimize.patience=2", 5, 1);
  CHECK(st == PL_ERR_INTERNAL, "lower patience: resumed and ran on to the test hook: %s", pl_last_error());
  /* the pristine state resumes to the end */
  restore();
  st = fit(dir, NULL, 0, 1);
  CHECK(st == PL_OK, "the unedited state resumes: %s", pl_last_error());

  /* D16: a step that drives a log-space value to 0 is an error, not a silent "fitted": 0 */
  {
    pl_scene s;
    CHECK(pl_scene_load_string(&s, SCENE, "t.cfg", ".", NULL, 0) == PL_OK, "scene");
    pl_optimizer o;
    CHECK(pl_optimizer_init(&o, &s) == PL_OK, "optimizer");
    CHECK(pl_fit_check_params(&o, "start") == PL_OK, "start values are representable");
    o.p[0].u[0] = -800; /* exp(-800) == 0 */
    st = pl_fit_check_params(&o, "iteration 3");
    CHECK(st == PL_ERR_NUMERIC && strstr(pl_last_error(), "iteration 3") && strstr(pl_last_error(), "optimize.lr"),
          "log underflow reported: %s", pl_last_error());
    o.p[0].u[0] = 0;
    o.p[1].u[0] = 60; /* sigmoid(60) == 1: nu == hi exactly */
    st = pl_fit_check_params(&o, "iteration 4");
    CHECK(st == PL_ERR_NUMERIC && strstr(pl_last_error(), "material.m.nu"), "saturated bound reported: %s",
          pl_last_error());
    pl_optimizer_free(&o);
    pl_scene_free(&s);
    const char *lr[] = {"optimize.lr=1e300"};
    st = pl_scene_load_string(&s, SCENE, "t.cfg", ".", lr, 1);
    CHECK(st == PL_ERR_INVALID && strstr(pl_last_error(), "lr"), "lr = 1e300 refused: %s", pl_last_error());
    pl_scene_free(&s);
  }
  char cmd[700];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return test_summary("test_fit_state");
}
