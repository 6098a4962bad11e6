#define _POSIX_C_SOURCE 200809L
#include "pipeline/fit/fit_state.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ scene hash */

static uint64_t fnv1a(uint64_t h, const char *s) {
  for (; *s; ++s) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ull;
  }
  h ^= 0xff; /* field separator: "ab","c" differs from "a","bc" */
  h *= 1099511628211ull;
  return h;
}

/* keys that steer the run but do not change what is fitted */
static int run_control_key(const char *type, const char *key) {
  static const char *const keys[][2] = {
      {"sim", "threads"},         {"sim", "backend"},           {"optimize", "output"},
      {"optimize", "iterations"}, {"optimize", "patience"},     {"optimize", "early_stop"},
      {"optimize", "checkpoint_every"}, {"optimize", "memory_limit_mb"}, {"optimize", "strip_frames"},
      {"render", "output"},       {"render", "particle_ply"},   {"render", "gaussian_ply"},
      {"render", "frames"},       {"stage", "iterations"}};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; ++i)
    if (strcmp(type, keys[i][0]) == 0 && strcmp(key, keys[i][1]) == 0) return 1;
  return 0;
}

void pl_fit_scene_hash(const pl_scene *s, char hex[17]) {
  const pl_config *c = &s->config;
  uint64_t h = 14695981039346656037ull;
  for (int si = 0; si < c->nsections; ++si) {
    const pl_cfg_section *sec = &c->sections[si];
    const pl_section_spec *spec = pl_schema_section(c->schema, sec->type);
    h = fnv1a(h, sec->type);
    h = fnv1a(h, sec->name);
    if (!spec) continue;
    if (spec->address_keys) {
      for (int i = 0; i < c->nentries; ++i)
        if (c->entries[i].section == si) h = fnv1a(fnv1a(h, c->entries[i].key), c->entries[i].value);
      continue;
    }
    for (const pl_key_spec *k = spec->keys; k && k->key; ++k) {
      if (run_control_key(sec->type, k->key)) continue;
      const pl_cfg_entry *e = pl_config_entry(c, si, k->key);
      const char *v = e ? e->value : k->def;
      h = fnv1a(fnv1a(h, k->key), v ? v : "(unset)");
    }
  }
  snprintf(hex, 17, "%016llx", (unsigned long long)h);
}

/* ------------------------------------------------------------------ fields */

pl_status pl_state_get_real(const void *obj, const char *key, double lo, double hi, double *out, const char *path) {
  const cJSON *it = cJSON_GetObjectItemCaseSensitive((const cJSON *)obj, key);
  if (!it) return pl_fail(PL_ERR_PARSE, "%s: \"%s\" is missing (delete the file to start over)", path, key);
  if (!cJSON_IsNumber(it)) return pl_fail(PL_ERR_PARSE, "%s: \"%s\" is not a number", path, key);
  double v = it->valuedouble;
  if (!isfinite(v) || v < lo || v > hi)
    return pl_fail(PL_ERR_PARSE, "%s: \"%s\" = %g is outside [%g, %g] (corrupt, or written for another scene)", path,
                   key, v, lo, hi);
  *out = v;
  return PL_OK;
}

pl_status pl_state_get_count(const void *obj, const char *key, double lo, double hi, long *out, const char *path) {
  double v = 0;
  PL_TRY(pl_state_get_real(obj, key, lo, hi, &v, path));
  if (v != floor(v)) return pl_fail(PL_ERR_PARSE, "%s: \"%s\" = %g is not a whole number", path, key, v);
  *out = (long)v; /* in [lo, hi], which callers keep within a long */
  return PL_OK;
}

/* ------------------------------------------------------------------ parameters */

pl_status pl_fit_check_params(const pl_optimizer *o, const char *when) {
  for (int i = 0; i < o->n; ++i) {
    const pl_param *p = &o->p[i];
    for (int k = 0; k < p->components; ++k) {
      double v = pl_param_value(p, k);
      const char *bad = NULL;
      if (!isfinite(p->u[k]) || !isfinite(v))
        bad = "is not finite";
      else if (p->space == PL_SPACE_LOG && !(v > 0))
        bad = "underflowed to 0 in the log space";
      else if (p->space == PL_SPACE_BOUNDED && !(v > p->lo && v < p->hi))
        bad = "reached a bound exactly (the logistic map saturated and passes no gradient)";
      else if (!isfinite(p->m[k]) || !isfinite(p->v[k]) || p->v[k] < 0)
        bad = "has non-finite Adam moments";
      if (bad)
        return pl_fail(PL_ERR_NUMERIC, "%s: %s%s%s = %g %s (step-space value %g): the step was too large; lower "
                       "optimize.lr or [param %s] lr", when, p->address, p->components > 1 ? "." : "",
                       p->components > 1 ? (k == 0 ? "x" : k == 1 ? "y" : "z") : "", v, bad, p->u[k], p->address);
    }
  }
  return PL_OK;
}
