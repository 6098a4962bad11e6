/* particle_fields.c: per-particle moduli of objects (E_field, nu_field) and the learnt heterogeneous E
 * (learn_E_field). The model and its adjoint are in particle_fields.h; the choice of a coarse grid in
 * docs/adjoints.md. The scene keys are read in scene/object_field.c, the gradient check of the grid values is
 * particle_fields_check.c (it evaluates the objective, which sits above the engine). */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/engine/particle_fields_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/expr.h"
#include "core/fileio.h"
#include "core/log.h"
#include "pipeline/engine/engine_internal.h"

/* ------------------------------------------------------------------ engine side */

void engine_fields_free(pl_engine *e) {
  fields_state *s = state(e);
  if (!s) return;
  for (int i = 0; i < s->nfields; ++i) {
    grid_field *f = &s->f[i];
    free(f->u), free(f->g), free(f->m), free(f->v), free(f->pidx), free(f->node), free(f->w);
  }
  positions_free(s);
  free(s->f), free(s->E), free(s->nu), free(s->E_src), free(s->nu_src), free(s->E_expr), free(s->nu_expr);
  free(s);
  e->fields = NULL;
}

int pl_engine_learns_fields(const pl_engine *e) { return state(e) && (state(e)->nfields > 0 || state(e)->npos > 0); }

const char *pl_engine_fields_outputs(const pl_engine *e) {
  const fields_state *s = state(e);
  int a = s && s->nfields > 0, b = s && s->npos > 0;
  return a && b ? ", E_field.csv, positions.csv" : a ? ", E_field.csv" : b ? ", positions.csv" : "";
}

/* position of grid value k (a node, or a cell's centre) */
void fields_grid_point(const grid_field *f, int k, double x[3]) {
  int idx[3] = {k % f->dims[0], (k / f->dims[0]) % f->dims[1], k / (f->dims[0] * f->dims[1])};
  for (int a = 0; a < 3; ++a) {
    double t = f->cells ? (idx[a] + 0.5) / f->dims[a] : (f->dims[a] > 1 ? (double)idx[a] / (f->dims[a] - 1) : 0.5);
    x[a] = f->lo[a] + t * (f->hi[a] - f->lo[a]);
  }
}

/* weights of the grid values at position x (trilinear between nodes, or 1 in the cell) */
static void grid_weights(const grid_field *f, const double x[3], int node[8], double w[8]) {
  int base[3];
  double fr[3];
  for (int a = 0; a < 3; ++a) {
    double ext = f->hi[a] - f->lo[a], t = ext > 0 ? (x[a] - f->lo[a]) / ext : 0.5;
    t = fmin(fmax(t, 0.0), 1.0);
    if (f->cells) {
      base[a] = (int)fmin(floor(t * f->dims[a]), f->dims[a] - 1);
      fr[a] = 0;
    } else if (f->dims[a] == 1) {
      base[a] = 0, fr[a] = 0;
    } else {
      double q = t * (f->dims[a] - 1);
      base[a] = (int)fmin(floor(q), f->dims[a] - 2);
      fr[a] = q - base[a];
    }
  }
  for (int c = 0; c < 8; ++c) {
    int ok = 1, k = 0, stride = 1;
    double wc = 1;
    for (int a = 0; a < 3; ++a) {
      int bit = (c >> a) & 1;
      if (bit && (f->cells || f->dims[a] == 1)) ok = 0;
      wc *= bit ? fr[a] : 1 - fr[a];
      k += (base[a] + bit) * stride;
      stride *= f->dims[a];
    }
    node[c] = ok ? k : -1;
    w[c] = ok ? wc : 0;
  }
}

static pl_status eval_expr(const char *text, const char *obj, const char *key, const double x[3], double *out,
                           const char *what) {
  pl_expr ex;
  static const char *const xyz[3] = {"x", "y", "z"};
  PL_TRY(pl_expr_parse_list(&ex, text, 1, xyz, 3));
  *out = pl_expr_eval(&ex, 0, x);
  if (!isfinite(*out))
    return pl_fail(PL_ERR_NUMERIC, "[object %s] %s = %g at %s, x = (%.6g, %.6g, %.6g)", obj, key, *out, what, x[0], x[1],
                   x[2]);
  return PL_OK;
}

pl_status fields_bind_grid(pl_engine *e, grid_field *f, int o, const int dims[3], int cells, int ncomp,
                           const char *key) {
  const pl_scene_object *so = &e->scene->objects[o];
  memset(f, 0, sizeof *f);
  f->object = o;
  f->cells = cells;
  memcpy(f->dims, dims, sizeof f->dims);
  f->nk = f->dims[0] * f->dims[1] * f->dims[2];
  for (int a = 0; a < 3; ++a) f->lo[a] = INFINITY, f->hi[a] = -INFINITY;
  for (int64_t p = 0; p < e->n; ++p) {
    if (e->init_host.object[p] != o) continue;
    f->np++;
    for (int a = 0; a < 3; ++a) {
      double x = (double)e->init_host.x[3 * p + a];
      f->lo[a] = fmin(f->lo[a], x), f->hi[a] = fmax(f->hi[a], x);
    }
  }
  if (f->np == 0) return pl_fail(PL_ERR_INVALID, "[object %s] %s: the object has no particles", so->name, key);
  size_t nv = (size_t)f->nk * (size_t)ncomp, np = (size_t)f->np;
  f->u = (double *)calloc(nv, sizeof(double)), f->g = (double *)calloc(nv, sizeof(double));
  f->m = (double *)calloc(nv, sizeof(double)), f->v = (double *)calloc(nv, sizeof(double));
  f->pidx = (int64_t *)malloc(np * sizeof(int64_t));
  f->node = (int *)malloc(8 * np * sizeof(int));
  f->w = (double *)malloc(8 * np * sizeof(double));
  if (!f->u || !f->g || !f->m || !f->v || !f->pidx || !f->node || !f->w) return pl_fail(PL_ERR_NOMEM, "out of memory");
  int64_t q = 0;
  for (int64_t p = 0; p < e->n; ++p) {
    if (e->init_host.object[p] != o) continue;
    double x[3] = {e->init_host.x[3 * p], e->init_host.x[3 * p + 1], e->init_host.x[3 * p + 2]};
    f->pidx[q] = p;
    grid_weights(f, x, f->node + 8 * q, f->w + 8 * q);
    q++;
  }
  return PL_OK;
}

static pl_status setup_grid(pl_engine *e, fields_state *s, int o) {
  const pl_scene_object *so = &e->scene->objects[o];
  grid_field *f = &s->f[s->nfields];
  s->nfields++; /* counted before the binding, so that a failed one is freed */
  PL_TRY(fields_bind_grid(e, f, o, so->field.grid, so->field.cells, 1, "learn_E_field"));
  /* start: E_field at the grid's points, else the material's E */
  for (int k = 0; k < f->nk; ++k) {
    double E = e->sim->materials[so->material].E;
    if (so->field.E[0]) {
      double x[3];
      char what[64];
      fields_grid_point(f, k, x);
      snprintf(what, sizeof what, "grid value %d", k);
      PL_TRY(eval_expr(so->field.E, so->name, "E_field", x, &E, what));
      if (!(E > 0)) return pl_fail(PL_ERR_INVALID, "[object %s] E_field = %g at grid value %d: E must be > 0", so->name, E, k);
    }
    f->u[k] = log(E);
  }
  return PL_OK;
}

pl_status engine_fields_create(pl_engine *e) {
  const pl_scene *sc = e->scene;
  int any = 0;
  for (int o = 0; o < sc->nobjects; ++o)
    any |= sc->objects[o].field.E[0] || sc->objects[o].field.nu[0] || sc->objects[o].field.learn ||
           sc->objects[o].field.learn_positions;
  if (!any) return PL_OK;
  fields_state *s = (fields_state *)calloc(1, sizeof *s);
  if (!s) return pl_fail(PL_ERR_NOMEM, "out of memory");
  e->fields = s;
  size_t n = (size_t)(e->n > 0 ? e->n : 1);
  s->f = (grid_field *)calloc((size_t)sc->nobjects, sizeof(grid_field));
  s->E = (double *)calloc(n, sizeof(double)), s->nu = (double *)calloc(n, sizeof(double));
  s->E_src = (signed char *)calloc(n, 1), s->nu_src = (signed char *)calloc(n, 1);
  s->E_expr = (double *)calloc(n, sizeof(double)), s->nu_expr = (double *)calloc(n, sizeof(double));
  if (!s->f || !s->E || !s->nu || !s->E_src || !s->nu_src || !s->E_expr || !s->nu_expr)
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  static const char *const xyz[3] = {"x", "y", "z"};
  for (int o = 0; o < sc->nobjects; ++o) {
    const pl_scene_object *so = &sc->objects[o];
    if (so->field.learn) PL_TRY(setup_grid(e, s, o));
    for (int which = 0; which < 2; ++which) {
      const char *text = which ? so->field.nu : so->field.E;
      if (!text[0] || (which == 0 && so->field.learn)) continue;
      pl_expr ex;
      PL_TRY(pl_expr_parse_list(&ex, text, 1, xyz, 3));
      for (int64_t p = 0; p < e->n; ++p) {
        if (e->init_host.object[p] != o) continue;
        double x[3] = {e->init_host.x[3 * p], e->init_host.x[3 * p + 1], e->init_host.x[3 * p + 2]};
        double v = pl_expr_eval(&ex, 0, x);
        int bad = which ? !(v > -1 && v < 0.5) : !(v > 0);
        if (!isfinite(v) || bad)
          return pl_fail(PL_ERR_INVALID, "[object %s] %s = %g at particle %lld, x = (%.6g, %.6g, %.6g): %s", so->name,
                         which ? "nu_field" : "E_field", v, (long long)p, x[0], x[1], x[2],
                         which ? "need -1 < nu < 0.5" : "need E > 0");
        (which ? s->nu_expr : s->E_expr)[p] = v;
        (which ? s->nu_src : s->E_src)[p] = 1;
      }
    }
  }
  for (int i = 0; i < s->nfields; ++i)
    for (int64_t q = 0; q < s->f[i].np; ++q) s->E_src[s->f[i].pidx[q]] = 2;
  for (int i = 0; i < s->nfields; ++i)
    PL_INFO("[object %s] learn_E_field: log E on %d x %d x %d %s over (%.3g %.3g %.3g)..(%.3g %.3g %.3g), %lld particles",
            sc->objects[s->f[i].object].name, s->f[i].dims[0], s->f[i].dims[1], s->f[i].dims[2],
            s->f[i].cells ? "cells" : "nodes", s->f[i].lo[0], s->f[i].lo[1], s->f[i].lo[2], s->f[i].hi[0], s->f[i].hi[1],
            s->f[i].hi[2], (long long)s->f[i].np);
  PL_TRY(positions_create(e, s));
  return fields_apply_all(e);
}

pl_status fields_apply_all(pl_engine *e) {
  PL_TRY(positions_apply(e));
  return engine_fields_apply(e);
}

/* whether any object has per-particle moduli (E_field, nu_field, learn_E_field) */
static int fields_moduli(const pl_engine *e, const fields_state *s) {
  if (s->nfields > 0) return 1;
  for (int o = 0; o < e->scene->nobjects; ++o)
    if (e->scene->objects[o].field.E[0] || e->scene->objects[o].field.nu[0]) return 1;
  return 0;
}

pl_status engine_fields_apply(pl_engine *e) {
  fields_state *s = state(e);
  if (!s) return PL_OK;
  /* the learnt displacements are applied where they change (fields_apply_all), not on every material change */
  if (!fields_moduli(e, s)) return PL_OK; /* only displacements are learnt: the simulator keeps the materials' */
  for (int64_t p = 0; p < e->n; ++p) {
    int mat = e->scene->objects[e->init_host.object[p]].material;
    s->E[p] = s->E_src[p] == 1 ? s->E_expr[p] : e->sim->materials[mat].E;
    s->nu[p] = s->nu_src[p] ? s->nu_expr[p] : e->sim->materials[mat].nu;
  }
  for (int i = 0; i < s->nfields; ++i) {
    const grid_field *f = &s->f[i];
    for (int64_t q = 0; q < f->np; ++q) {
      double a = 0;
      for (int c = 0; c < 8; ++c)
        if (f->node[8 * q + c] >= 0) a += f->w[8 * q + c] * f->u[f->node[8 * q + c]];
      s->E[f->pidx[q]] = exp(a);
    }
  }
  return mpm_set_particle_moduli(e->sim, s->E, s->nu);
}

pl_status engine_fields_gradient(pl_engine *e, mpm_grads *g) {
  fields_state *s = state(e);
  if (!s) return PL_OK;
  PL_TRY(positions_gradient(e, g));
  if (!fields_moduli(e, s)) return PL_OK;
  if (!g->particle_E || !g->particle_nu) return pl_fail(PL_ERR_INTERNAL, "per-particle moduli without their cotangents");
  /* particles on their material's values: the per-particle cotangents belong to the material (the simulator
   * skipped the Lame part of the material sums for every particle while the override is set) */
  for (int64_t p = 0; p < e->n; ++p) {
    int mat = e->scene->objects[e->init_host.object[p]].material;
    if (s->E_src[p] == 0) g->E[mat] += g->particle_E[p];
    if (s->nu_src[p] == 0) g->nu[mat] += g->particle_nu[p];
  }
  for (int i = 0; i < s->nfields; ++i) {
    grid_field *f = &s->f[i];
    memset(f->g, 0, sizeof(double) * (size_t)f->nk);
    for (int64_t q = 0; q < f->np; ++q) {
      int64_t p = f->pidx[q];
      double gE = g->particle_E[p] * s->E[p]; /* dL/d(log E_p) */
      for (int c = 0; c < 8; ++c)
        if (f->node[8 * q + c] >= 0) f->g[f->node[8 * q + c]] += f->w[8 * q + c] * gE;
    }
  }
  return PL_OK;
}

/* value (and gradient) of w * mean over neighbouring grid values of (u_a - u_b)^2 */
static double smoothness(grid_field *f, double weight, int want_grad) {
  if (!(weight > 0)) return 0;
  int pairs = 0;
  for (int a = 0; a < 3; ++a) pairs += (f->dims[a] - 1) * f->nk / f->dims[a];
  if (pairs == 0) return 0;
  double sum = 0, c = weight / pairs;
  for (int k = 0; k < f->nk; ++k) {
    int idx[3] = {k % f->dims[0], (k / f->dims[0]) % f->dims[1], k / (f->dims[0] * f->dims[1])};
    int stride[3] = {1, f->dims[0], f->dims[0] * f->dims[1]};
    for (int a = 0; a < 3; ++a) {
      if (idx[a] + 1 >= f->dims[a]) continue;
      int l = k + stride[a];
      double d = f->u[k] - f->u[l];
      sum += d * d;
      if (want_grad) f->g[k] += 2 * c * d, f->g[l] -= 2 * c * d;
    }
  }
  return c * sum;
}

pl_status engine_fields_regularise(pl_engine *e, int want_grad, double *total) {
  fields_state *s = state(e);
  if (!s) return PL_OK;
  for (int i = 0; i < s->nfields; ++i)
    *total += smoothness(&s->f[i], e->scene->objects[s->f[i].object].field.smoothness, want_grad);
  *total += positions_regularise(e, want_grad);
  return PL_OK;
}

double fields_adam_step(grid_field *f, int k, double b1, double b2, double c1, double c2, double lr) {
  f->m[k] = b1 * f->m[k] + (1 - b1) * f->g[k];
  f->v[k] = b2 * f->v[k] + (1 - b2) * f->g[k] * f->g[k];
  return lr * (f->m[k] / c1) / (sqrt(f->v[k] / c2) + 1e-12);
}

void fields_write_values(FILE *out, const grid_field *f, int nv) {
  int64_t nk = f->nk;
  fwrite(&nk, sizeof nk, 1, out);
  for (int k = 0; k < nv; ++k) {
    double d[3] = {f->u[k], f->m[k], f->v[k]};
    fwrite(d, sizeof d, 1, out);
  }
}

pl_status pl_engine_fields_step(pl_engine *e, double lr_scale) {
  fields_state *s = state(e);
  if (!s) return PL_OK;
  PL_TRY(positions_step(e, lr_scale));
  if (s->nfields == 0) return positions_apply(e);
  const pl_scene *sc = e->scene;
  double b1 = sc->optimize.beta1, b2 = sc->optimize.beta2;
  s->t++;
  double c1 = 1 - pow(b1, (double)s->t), c2 = 1 - pow(b2, (double)s->t);
  for (int i = 0; i < s->nfields; ++i) {
    grid_field *f = &s->f[i];
    double lr = sc->objects[f->object].field.lr * lr_scale;
    for (int k = 0; k < f->nk; ++k) {
      if (!isfinite(f->g[k]))
        return pl_fail(PL_ERR_NUMERIC, "[object %s] E_field: the gradient of grid value %d is not finite",
                       sc->objects[f->object].name, k);
      double step = fields_adam_step(f, k, b1, b2, c1, c2, lr);
      /* at most a factor e per step, and E kept a normal positive double (optim.h's log-space rules) */
      step = fmax(fmin(step, PL_MAX_SPACE_STEP), -PL_MAX_SPACE_STEP);
      f->u[k] = fmax(fmin(f->u[k] - step, PL_MAX_LOG_U), -PL_MAX_LOG_U);
    }
  }
  return fields_apply_all(e);
}

/* fields.bin: "PLFLD1\n", t (int64), then per field nk (int64) and nk x (u, m, v) as double */
pl_status pl_engine_fields_save(pl_engine *e, const char *folder) {
  fields_state *s = state(e);
  if (!s) return PL_OK;
  PL_TRY(positions_save(e, folder));
  if (s->nfields == 0) return PL_OK;
  char path[PL_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/fields.bin", folder);
  pl_out out;
  PL_TRY(pl_out_open(&out, path, 1));
  fwrite("PLFLD1\n", 1, 7, out.f);
  int64_t t = s->t;
  fwrite(&t, sizeof t, 1, out.f);
  for (int i = 0; i < s->nfields; ++i) fields_write_values(out.f, &s->f[i], s->f[i].nk);
  PL_TRY(pl_out_commit(&out));
  return pl_engine_fields_write_csv(e, folder);
}

pl_status pl_engine_fields_write_csv(pl_engine *e, const char *folder) {
  fields_state *s = state(e);
  if (!s) return PL_OK;
  PL_TRY(positions_write_csv(e, folder));
  if (s->nfields == 0) return PL_OK;
  char path[PL_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/E_field.csv", folder);
  pl_out out;
  PL_TRY(pl_out_open(&out, path, 0));
  fprintf(out.f, "object,index,x,y,z,E\n");
  for (int i = 0; i < s->nfields; ++i)
    for (int k = 0; k < s->f[i].nk; ++k) {
      double x[3];
      fields_grid_point(&s->f[i], k, x);
      fprintf(out.f, "%s,%d,%.9g,%.9g,%.9g,%.9g\n", e->scene->objects[s->f[i].object].name, k, x[0], x[1], x[2],
              exp(s->f[i].u[k]));
    }
  return pl_out_commit(&out);
}

pl_status pl_engine_fields_values(pl_engine *e, double *v, int set, size_t *count) {
  fields_state *s = state(e);
  size_t n = 0;
  for (int i = 0; s && i < s->nfields; ++i)
    for (int k = 0; k < s->f[i].nk; ++k, ++n)
      if (v && set) s->f[i].u[k] = v[n];
      else if (v) v[n] = s->f[i].u[k];
  for (int i = 0; s && i < s->npos; ++i) /* then the displacements, 3 per node */
    for (int k = 0; k < 3 * s->pf[i].f.nk; ++k, ++n)
      if (v && set) s->pf[i].f.u[k] = v[n];
      else if (v) v[n] = s->pf[i].f.u[k];
  *count = n;
  return v && set && n ? fields_apply_all(e) : PL_OK;
}

pl_status pl_engine_fields_load(pl_engine *e, const char *folder) {
  fields_state *s = state(e);
  if (!s) return PL_OK;
  PL_TRY(positions_load(e, folder));
  if (s->nfields == 0) return positions_apply(e);
  char path[PL_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/fields.bin", folder);
  FILE *fp = fopen(path, "rb");
  if (!fp) return pl_fail(PL_ERR_IO, "%s: cannot open (the learnt E fields of the run to resume)", path);
  char magic[7];
  int64_t t = 0;
  pl_status st = PL_OK;
  if (fread(magic, 1, 7, fp) != 7 || memcmp(magic, "PLFLD1\n", 7) != 0 || fread(&t, sizeof t, 1, fp) != 1)
    st = pl_fail(PL_ERR_PARSE, "%s: not a fields file", path);
  for (int i = 0; st == PL_OK && i < s->nfields; ++i) {
    int64_t nk = 0;
    if (fread(&nk, sizeof nk, 1, fp) != 1 || nk != s->f[i].nk) {
      st = pl_fail(PL_ERR_INVALID, "%s: field %d has %lld grid values, the scene's has %d", path, i, (long long)nk,
                   s->f[i].nk);
      break;
    }
    for (int k = 0; k < s->f[i].nk; ++k) {
      double d[3];
      if (fread(d, sizeof d, 1, fp) != 1 || !isfinite(d[0]) || !isfinite(d[1]) || !isfinite(d[2])) {
        st = pl_fail(PL_ERR_PARSE, "%s: truncated or not finite at field %d value %d", path, i, k);
        break;
      }
      s->f[i].u[k] = d[0], s->f[i].m[k] = d[1], s->f[i].v[k] = d[2];
    }
  }
  fclose(fp);
  PL_TRY(st);
  s->t = (long)t;
  return fields_apply_all(e);
}
