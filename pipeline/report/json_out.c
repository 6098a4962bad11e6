/* json_out.c: see json_out.h (run.json, result.json, ...). */
#include "pipeline/report/json_out.h"

#include <stdio.h>

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
