/* json_out.h: a JSON document written as indented text, atomically (never half-written: pl_out). */
#ifndef PL_JSON_OUT_H
#define PL_JSON_OUT_H

#include <cjson/cJSON.h>

#include "core/status.h"

pl_status pl_write_json(const char *path, const cJSON *j);
/* Set `key` of the JSON object in the file `path` to `item` (replacing what was there) and write the file back
 * atomically. Takes ownership of `item` (freed on every path). `what` names the addition in the error when the
 * file is not a JSON object ("the hold-out scores"). */
pl_status pl_json_file_set(const char *path, const char *key, cJSON *item, const char *what);
/* Add `key` = v to the object o when v is finite, else `key` = null (a score that could not be computed: no
 * image, no mask); JSON has no NaN or infinity. */
void pl_json_add_finite(cJSON *o, const char *key, double v);

#endif
