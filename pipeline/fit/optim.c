#define _POSIX_C_SOURCE 200809L
#include "pipeline/fit/optim.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"

pl_status pl_optimizer_init(pl_optimizer *o, const pl_scene *s) {
  memset(o, 0, sizeof *o);
  o->beta1 = s->optimize.beta1;
  o->beta2 = s->optimize.beta2;
  o->eps = 1e-8;
  o->clip = s->optimize.clip;
  o->p = (pl_param *)calloc((size_t)(s->nparams ? s->nparams : 1), sizeof *o->p);
  if (!o->p) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < s->nparams; ++i) {
    const pl_scene_param *sp = &s->params[i];
    pl_param *p = &o->p[i];
    snprintf(p->address, sizeof p->address, "%s", sp->address);
    p->space = sp->space;
    p->components = sp->components;
    p->lo = sp->lo;
    p->hi = sp->hi;
    p->lr = sp->lr;
    snprintf(p->stages, sizeof p->stages, "%s", sp->stages);
    p->frozen = sp->frozen;
    double v[3] = {0, 0, 0};
    if (sp->has_init) {
      memcpy(v, sp->init, sizeof v);
    } else {
      const char *t = pl_config_text(&s->config, sp->type, sp->name, sp->key);
      if (!t || pl_parse_reals(t, v, 3) < 1) {
        pl_optimizer_free(o);
        return pl_fail(PL_ERR_INVALID, "[param %s]: the scene has no value for it; give init", sp->address);
      }
      if (sp->components == 3 && pl_parse_reals(t, v, 3) == 1) v[1] = v[2] = v[0];
    }
    for (int k = 0; k < p->components; ++k) {
      char what[256];
      snprintf(what, sizeof what, "[param %s] start value", sp->address);
      pl_status st = pl_space_from_value(p->space, p->lo, p->hi, v[k], &p->u[k], what);
      if (st != PL_OK) {
        pl_optimizer_free(o);
        return st;
      }
    }
    o->n++;
  }
  pl_coords_setup(o, s);
  return PL_OK;
}

void pl_optimizer_free(pl_optimizer *o) {
  if (!o) return;
  free(o->p);
  memset(o, 0, sizeof *o);
}

double pl_lr_factor(int schedule, double lr_final, long t, long total) {
  if (total <= 1) return 1.0;
  double x = (double)t / (double)(total - 1);
  if (x > 1) x = 1;
  switch (schedule) {
    case 1: return lr_final + (1 - lr_final) * 0.5 * (1 + cos(3.14159265358979323846 * x)); /* cosine */
    case 2: return pow(lr_final, x);                                                        /* exponential */
    default: return 1.0;
  }
}

void pl_optimizer_step(pl_optimizer *o, const unsigned char *active, double lr_scale) {
  o->step++;
  const double bc1 = 1 - pow(o->beta1, (double)o->step), bc2 = 1 - pow(o->beta2, (double)o->step);
  /* dL/du, then dL/dw and w of the learned coordinates (optim_coords.c; w = u for plain values) */
  double *gu = (double *)calloc((size_t)o->n * 9, sizeof(double)), *gw = gu ? gu + 3 * o->n : NULL, *w = gu ? gu + 6 * o->n : NULL;
  if (!gu) return; /* out of memory: no step (the fit's next evaluation is unchanged) */
  for (int i = 0; i < o->n; ++i)
    for (int k = 0; k < o->p[i].components; ++k)
      gu[3 * i + k] = o->p[i].grad[k] * pl_space_dvalue(o->p[i].space, o->p[i].lo, o->p[i].hi, o->p[i].u[k]);
  pl_coords_grad(o, active, gu, gw);
  pl_coords_get(o, active, w);
  for (int i = 0; i < o->n; ++i) {
    pl_param *p = &o->p[i];
    if (active && !active[i]) continue;
    double norm = 0;
    for (int k = 0; k < p->components; ++k) {
      p->grad_u[k] = gw[3 * i + k];
      norm += p->grad_u[k] * p->grad_u[k];
    }
    norm = sqrt(norm);
    if (o->clip > 0 && norm > o->clip)
      for (int k = 0; k < p->components; ++k) p->grad_u[k] *= o->clip / norm;
    for (int k = 0; k < p->components; ++k) {
      double g = p->grad_u[k];
      p->m[k] = o->beta1 * p->m[k] + (1 - o->beta1) * g;
      p->v[k] = o->beta2 * p->v[k] + (1 - o->beta2) * g * g;
      double mh = p->m[k] / bc1, vh = p->v[k] / bc2;
      w[3 * i + k] = pl_space_safe_step(p->space, w[3 * i + k], p->lr * lr_scale * mh / (sqrt(vh) + o->eps));
    }
  }
  pl_coords_set(o, active, w);
  for (int i = 0; i < o->n; ++i) {
    pl_param *p = &o->p[i];
    /* the linear space is projected onto [lo, hi] (a viscosity stays >= 0, and can leave 0 again) */
    if (p->space == PL_SPACE_LINEAR && (!active || active[i]))
      for (int k = 0; k < p->components; ++k) p->u[k] = fmin(fmax(p->u[k], p->lo), p->hi);
  }
  free(gu);
}

/* Numbers as raw "%.17g" text: cJSON's own printer drops to 15 digits when the value matches within a relative
 * epsilon, which would make --resume inexact. 17 significant digits round-trip every double exactly. */
static cJSON *exact_number(double v) {
  char t[40];
  snprintf(t, sizeof t, "%.17g", v);
  return cJSON_CreateRaw(t);
}
static cJSON *num_array(const double *v, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int k = 0; k < n && a; ++k) cJSON_AddItemToArray(a, exact_number(v[k]));
  return a;
}

pl_status pl_optimizer_save(const pl_optimizer *o, const char *path, const char *extra) {
  cJSON *root = cJSON_CreateObject();
  if (!root) return pl_fail(PL_ERR_NOMEM, "out of memory");
  cJSON_AddNumberToObject(root, "format", 1);
  cJSON_AddNumberToObject(root, "adam_step", (double)o->step);
  cJSON *ps = cJSON_AddArrayToObject(root, "params");
  for (int i = 0; i < o->n; ++i) {
    const pl_param *p = &o->p[i];
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "address", p->address);
    cJSON_AddItemToObject(j, "u", num_array(p->u, p->components));
    cJSON_AddItemToObject(j, "m", num_array(p->m, p->components));
    cJSON_AddItemToObject(j, "v", num_array(p->v, p->components));
    cJSON_AddItemToArray(ps, j);
  }
  if (extra) {
    cJSON *e = cJSON_Parse(extra);
    if (e) cJSON_AddItemToObject(root, "loop", e);
  }
  /* cJSON prints doubles with 17 significant digits: the round trip is exact */
  char *text = cJSON_Print(root);
  cJSON_Delete(root);
  if (!text) return pl_fail(PL_ERR_NOMEM, "out of memory");
  pl_out out;
  pl_status s = pl_out_open(&out, path, 0);
  if (s == PL_OK) {
    fputs(text, out.f);
    fputc('\n', out.f);
    s = pl_out_commit(&out);
  }
  cJSON_free(text);
  return s;
}

static int read_array(const cJSON *a, double *v, int n) {
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return 0;
  for (int k = 0; k < n; ++k) {
    const cJSON *x = cJSON_GetArrayItem(a, k);
    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble)) return 0;
    v[k] = x->valuedouble;
  }
  return 1;
}

pl_status pl_optimizer_load(pl_optimizer *o, const char *path, char **extra) {
  if (extra) *extra = NULL;
  char *text;
  PL_TRY(pl_read_file(path, &text, NULL));
  cJSON *root = cJSON_Parse(text);
  free(text);
  if (!root) return pl_fail(PL_ERR_PARSE, "%s: not valid JSON (delete it to start over)", path);
  pl_status st = PL_OK;
  const cJSON *step = cJSON_GetObjectItemCaseSensitive(root, "adam_step");
  const cJSON *ps = cJSON_GetObjectItemCaseSensitive(root, "params");
  if (!cJSON_IsNumber(step) || !cJSON_IsArray(ps) || cJSON_GetArraySize(ps) != o->n) {
    st = pl_fail(PL_ERR_PARSE, "%s: the saved state does not match this scene's %d learnable parameters", path, o->n);
    goto done;
  }
  for (int i = 0; i < o->n; ++i) {
    const cJSON *j = cJSON_GetArrayItem(ps, i);
    const cJSON *addr = cJSON_GetObjectItemCaseSensitive(j, "address");
    pl_param *p = &o->p[i];
    if (!cJSON_IsString(addr) || strcmp(addr->valuestring, p->address) != 0) {
      st = pl_fail(PL_ERR_PARSE, "%s: parameter %d is '%s' in the saved state but '%s' in the scene", path, i,
                   cJSON_IsString(addr) ? addr->valuestring : "?", p->address);
      goto done;
    }
    if (!read_array(cJSON_GetObjectItemCaseSensitive(j, "u"), p->u, p->components) ||
        !read_array(cJSON_GetObjectItemCaseSensitive(j, "m"), p->m, p->components) ||
        !read_array(cJSON_GetObjectItemCaseSensitive(j, "v"), p->v, p->components)) {
      st = pl_fail(PL_ERR_PARSE, "%s: parameter '%s' is malformed", path, p->address);
      goto done;
    }
  }
  if (!(step->valuedouble >= 0 && step->valuedouble <= 1e15) || step->valuedouble != floor(step->valuedouble)) {
    st = pl_fail(PL_ERR_PARSE, "%s: \"adam_step\" = %g is not a step count (a whole number >= 0)", path,
                 step->valuedouble);
    goto done;
  }
  o->step = (long)step->valuedouble; /* checked above: no overflow in the conversion */
  if (extra) {
    const cJSON *loop = cJSON_GetObjectItemCaseSensitive(root, "loop");
    if (loop) *extra = cJSON_PrintUnformatted(loop);
  }
done:
  cJSON_Delete(root);
  return st;
}
