/* json_out.h: a JSON document written as indented text, atomically (never half-written: pl_out). */
#ifndef PL_JSON_OUT_H
#define PL_JSON_OUT_H

#include <cjson/cJSON.h>

#include "core/status.h"

pl_status pl_write_json(const char *path, const cJSON *j);

#endif
