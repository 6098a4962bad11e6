/* particle_fields_check.c: the gradient check of a learnt E field's grid values and of learnt displacements
 * (learn_positions) against central differences of the objective (particle_fields.h: pl_engine_fields_check).
 * Apart from particle_fields.c because it evaluates the objective (engine_objective.c), which sits above the
 * engine that particle_fields.c serves. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "pipeline/engine/engine_objective.h"
#include "pipeline/engine/particle_fields_internal.h"

/* ------------------------------------------------------------------ gradient check */

static pl_status loss_with(pl_engine *e, pl_optimizer *o, grid_field *f, int k, double u, double *out) {
  double keep = f->u[k];
  f->u[k] = u;
  pl_status st = fields_apply_all(e);
  pl_loss_value v;
  memset(&v, 0, sizeof v);
  if (st == PL_OK) st = pl_engine_checked_eval(e, o, "all", 0, &v);
  f->u[k] = keep;
  *out = v.total;
  return st;
}

/* Rows for the `samples` values of f (nv of them: f->u, f->g) with the largest adjoints, named by name(f, k).
 * Steps h0 x (1, /10, x10, /100), gradcheck's ladder, each a Richardson difference over h and h/2; the verdict
 * judges the sensitivity with `scale` as the value's own size. */
typedef void (*value_name)(const pl_engine *e, const grid_field *f, int k, char *out, size_t size);

static pl_status check_values(pl_engine *e, pl_optimizer *o, grid_field *f, int nv, double h0, double scale,
                              double tol, int samples, double loss_scale, value_name name, pl_gc_row *rows, int max,
                              int *nrows) {
  double *g = (double *)malloc(sizeof(double) * (size_t)nv);
  unsigned char *used = (unsigned char *)calloc((size_t)nv, 1);
  if (!g || !used) {
    free(g), free(used);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  memcpy(g, f->g, sizeof(double) * (size_t)nv);
  pl_status st = PL_OK;
  for (int q = 0; q < samples && q < nv && st == PL_OK && *nrows < max; ++q) {
    int k = -1;
    for (int j = 0; j < nv; ++j)
      if (!used[j] && (k < 0 || fabs(g[j]) > fabs(g[k]))) k = j;
    used[k] = 1;
    pl_gc_row *r = &rows[(*nrows)++];
    memset(r, 0, sizeof *r);
    name(e, f, k, r->name, sizeof r->name);
    r->value = f->u[k];
    r->adjoint = g[k];
    static const double ladder[4] = {1, 0.1, 10, 0.01};
    pl_gc_row best = *r;
    double best_u = INFINITY;
    for (int at = 0; at < 4 && st == PL_OK; ++at) {
      double h = h0 * ladder[at], d[2];
      for (int t = 0; t < 2 && st == PL_OK; ++t) {
        double hh = t ? h / 2 : h, lp = 0, lm = 0;
        st = loss_with(e, o, f, k, f->u[k] + hh, &lp);
        if (st == PL_OK) st = loss_with(e, o, f, k, f->u[k] - hh, &lm);
        d[t] = (lp - lm) / (2 * hh);
      }
      if (st != PL_OK) break;
      pl_gc_row trial = *r;
      trial.fd = (4 * d[1] - d[0]) / 3;
      double u = fabs(d[1] - d[0]);
      trial.value = scale;
      pl_gc_judge_u(&trial, u, loss_scale, tol, 1e-12);
      trial.value = r->value;
      double sc = fmax(fmax(fabs(trial.adjoint), fabs(trial.fd)), 1e-300);
      if (trial.verdict == PL_GC_OK || u / sc < best_u) best = trial, best_u = u / sc;
      if (trial.verdict == PL_GC_OK || trial.verdict == PL_GC_INSENSITIVE) {
        best = trial;
        break;
      }
    }
    *r = best;
  }
  free(g), free(used);
  pl_status st2 = fields_apply_all(e);
  return st == PL_OK ? st2 : st;
}

static void name_E(const pl_engine *e, const grid_field *f, int k, char *out, size_t size) {
  snprintf(out, size, "object.%s.E_field[%d] (log E)", e->scene->objects[f->object].name, k);
}

static void name_displacement(const pl_engine *e, const grid_field *f, int k, char *out, size_t size) {
  snprintf(out, size, "object.%s.positions[%d].%c (m)", e->scene->objects[f->object].name, k / 3, "xyz"[k % 3]);
}

pl_status pl_engine_fields_check(pl_engine *e, pl_optimizer *o, double rel_step, double tol, int samples,
                                 pl_gc_row *rows, int max, int *nrows) {
  *nrows = 0;
  fields_state *s = state(e);
  if (!s || (s->nfields == 0 && s->npos == 0)) return PL_OK;
  pl_loss_value base;
  PL_TRY(pl_engine_checked_eval(e, o, "all", 1, &base));
  double loss_scale = fmax(fabs(base.total), 1e-30);
  pl_status st = PL_OK;
  /* E fields: steps in log E (relative in E), so the value's own scale is 1 */
  for (int i = 0; i < s->nfields && st == PL_OK; ++i)
    st = check_values(e, o, &s->f[i], s->f[i].nk, rel_step, 1.0, tol, samples, loss_scale, name_E, rows, max, nrows);
  /* displacements (m): steps and scale from the object's largest extent */
  for (int i = 0; i < s->npos && st == PL_OK; ++i) {
    grid_field *f = &s->pf[i].f;
    double ext = fmax(fmax(f->hi[0] - f->lo[0], f->hi[1] - f->lo[1]), fmax(f->hi[2] - f->lo[2], 1e-6));
    st = check_values(e, o, f, 3 * f->nk, rel_step * ext, ext, tol, samples, loss_scale, name_displacement, rows, max,
                      nrows);
  }
  return st;
}
