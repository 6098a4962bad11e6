/* json_out.c: see json_out.h (run.json, result.json, ...). */
#include "pipeline/report/json_out.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/fileio.h"

pl_status pl_write_json(const char *path, const cJSON *j) {
  char *text = cJSON_Print(j);
  if (!text) return pl_fail(PL_ERR_NOMEM, "out of memory");
  pl_out o;
  pl_status st = pl_out_open(&o, path, 0);
  if (st == PL_OK) {
    fprintf(o.f, "%s\n", text);
    st = pl_out_commit(&o);
  }
  cJSON_free(text);
  return st;
}

pl_status pl_json_file_set(const char *path, const char *key, cJSON *item, const char *what) {
  if (!item) return pl_fail(PL_ERR_NOMEM, "out of memory");
  char *text = NULL;
  size_t n = 0;
  pl_status st = pl_read_file(path, &text, &n);
  if (st != PL_OK) {
    cJSON_Delete(item);
    return st;
  }
  cJSON *root = cJSON_ParseWithLength(text, n);
  free(text);
  if (!root || !cJSON_IsObject(root)) {
    cJSON_Delete(root);
    cJSON_Delete(item);
    return pl_fail(PL_ERR_PARSE, "%s: not a JSON object (cannot add %s)", path, what);
  }
  cJSON_DeleteItemFromObjectCaseSensitive(root, key);
  cJSON_AddItemToObject(root, key, item);
  st = pl_write_json(path, root);
  cJSON_Delete(root);
  return st;
}

void pl_json_add_finite(cJSON *o, const char *key, double v) {
  if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
  else cJSON_AddNullToObject(o, key);
}
