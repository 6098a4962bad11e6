/* test_fit.c: the optimisation loop on a quadratic objective: stages (a parameter learning only in its
 * stage), convergence to the truth, result.json and fit.csv contents, early stop, and a killed run that
 * resumes and ends bit-identical to an uninterrupted one. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <unistd.h>

#include "core/fileio.h"
#include "pipeline/fit.h"
#include "tests/test_util.h"

static const char *SCENE =
    "[sim]\ngrid = 16\nframes = 4\n"
    "[material m]\nmodel = neo_hookean\nE = 5e4\nnu = 0.2\n"
    "[object o]\nshape = box\nmaterial = m\nvelocity = 1 0 -2\n"
    "[optimize]\nlr = 0.05\nschedule = cosine\nlr_final = 0.2\n"
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

int main(void) {
  char a[] = "/tmp/pl_fit_a_XXXXXX", b[] = "/tmp/pl_fit_b_XXXXXX";
  CHECK(mkdtemp(a) && mkdtemp(b), "tmp");
  pl_optimizer full, part;
  pl_status st;
  quad q;
  run(a, NULL, 0, 0, &full, &st, &q);
  CHECK(st == PL_OK, "full run: %s", pl_last_error());
  CHECK(q.evals == 151, "150 iterations + final evaluation, got %d", q.evals);
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
  CHECK(q.evals == 61, "resumed run did the remaining 60 iterations + final (%d)", q.evals);
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
  CHECK(st == PL_OK && q.evals < 40, "early stop (%d evaluations)", q.evals);
  pl_optimizer_free(&part);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s %s", a, b);
  CHECK(system(cmd) == 0, "cleanup");
  return test_summary("test_fit");
}
