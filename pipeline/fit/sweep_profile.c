/* sweep_profile.c: the loss profile through a fitted point (sweep_profile.h). */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/fit/sweep_profile.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "pipeline/io/canvas.h"

pl_status pl_sweep_apply_fitted(pl_scene *out, const pl_scene *s, const char *result_json, const char *skip) {
  char *text = NULL;
  PL_TRY(pl_read_file(result_json, &text, NULL));
  cJSON *j = cJSON_Parse(text);
  free(text);
  const cJSON *ps = cJSON_GetObjectItemCaseSensitive(j, "parameters"), *p;
  if (!cJSON_IsObject(ps)) {
    cJSON_Delete(j);
    return pl_fail(PL_ERR_PARSE, "%s: not a result.json of pipeline optimize (no \"parameters\")", result_json);
  }
  enum { MAX = 64 };
  char store[MAX][320];
  const char *sets[MAX];
  int n = 0;
  pl_status st = PL_OK;
  cJSON_ArrayForEach(p, ps) {
    if (n == MAX) break;
    if (skip && strcmp(p->string, skip) == 0) continue;
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(p, "fitted");
    if (cJSON_IsNumber(f)) {
      snprintf(store[n], sizeof store[n], "%s=%.17g", p->string, f->valuedouble);
    } else if (cJSON_IsArray(f) && cJSON_GetArraySize(f) == 3) {
      double v[3];
      for (int k = 0; k < 3; ++k) v[k] = cJSON_GetArrayItem(f, k)->valuedouble;
      snprintf(store[n], sizeof store[n], "%s=%.17g %.17g %.17g", p->string, v[0], v[1], v[2]);
    } else {
      st = pl_fail(PL_ERR_PARSE, "%s: parameters.%s has no fitted value", result_json, p->string);
      break;
    }
    sets[n] = store[n];
    n++;
  }
  cJSON_Delete(j);
  PL_TRY(st);
  st = pl_scene_with_overrides(out, s, sets, n);
  if (st != PL_OK) pl_fail_context(st, "--around %s: ", result_json);
  return st;
}

pl_status pl_sweep_profile_png(const char *path, const char *address, int n, const double *x, const double *loss) {
  const double *ys[1] = {loss};
  const char *names[1] = {"loss"};
  char title[256];
  snprintf(title, sizeof title, "loss profile along %s", address);
  return pl_plot_png(path, title, address, n, x, 1, ys, names, 1);
}
