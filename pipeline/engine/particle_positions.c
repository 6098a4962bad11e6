/* particle_positions.c: a learnt displacement of an object's initial particles ([object] learn_positions).
 *
 * Where the first frame does not pin the body down (a visual hull carries roofs over the faces no camera sees
 * square on), the motion can: the particles' initial positions are moved by a displacement field on a coarse grid
 * of nodes over the object's bounding box at rest (positions_grid nodes per axis), trilinear to each particle,
 *
 *     x_p = X_p + d_p,   d_p = sum_k w_pk u_k,   u_k in R^3 the displacement of node k,
 *
 * with X_p the sampled (hull) position. The displaced configuration is the new rest state: F_p, the particle's
 * volume and mass are unchanged, so a displacement moves material without straining it. The initial velocity
 * v_p = v + w x (x_p - c) moves with it. The MPM adjoint's cotangents of the initial state (mpm_grads.x0, v0)
 * give
 *
 *     dL/du_k = sum_p w_pk (g_x,p + g_v,p x w)
 *
 * (the same cotangents object.NAME.center sums). Adam steps u (positions_lr, metres per step) and clamps each
 * component to +-positions_max. An optional regulariser, w * mean over neighbouring nodes (a, b) along an axis of
 * |u_a - u_b|^2 / h^2 (h the nodes' spacing on that axis: a dimensionless strain of the field), is part of the
 * loss. Why a coarse grid rather than one displacement per particle (as Lagrangian particle optimization, Kaneko
 * 2024, does): docs/adjoints.md ("Learnt initial positions"). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/log.h"
#include "pipeline/engine/engine_params.h"
#include "pipeline/engine/particle_fields_internal.h"

void positions_free(fields_state *s) {
  for (int i = 0; i < s->npos; ++i) {
    grid_field *f = &s->pf[i].f;
    free(f->u), free(f->g), free(f->m), free(f->v), free(f->pidx), free(f->node), free(f->w);
    free(s->pf[i].base);
  }
  free(s->pf);
  s->pf = NULL;
  s->npos = 0;
}

size_t positions_count(const fields_state *s) {
  size_t n = 0;
  for (int i = 0; s && i < s->npos; ++i) n += 3 * (size_t)s->pf[i].f.nk;
  return n;
}

pl_status positions_create(pl_engine *e, fields_state *s) {
  const pl_scene *sc = e->scene;
  int any = 0;
  for (int o = 0; o < sc->nobjects; ++o) any |= sc->objects[o].field.learn_positions;
  if (!any) return PL_OK;
  s->pf = (pos_field *)calloc((size_t)sc->nobjects, sizeof(pos_field));
  if (!s->pf) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int o = 0; o < sc->nobjects; ++o) {
    const pl_scene_object *so = &sc->objects[o];
    if (!so->field.learn_positions) continue;
    pos_field *pf = &s->pf[s->npos++];
    PL_TRY(fields_bind_grid(e, &pf->f, o, so->field.positions_grid, 0, 3, "learn_positions"));
    pf->base = (real *)malloc(sizeof(real) * 3 * (size_t)pf->f.np);
    if (!pf->base) return pl_fail(PL_ERR_NOMEM, "out of memory");
    for (int64_t q = 0; q < pf->f.np; ++q)
      for (int a = 0; a < 3; ++a) pf->base[3 * q + a] = e->init_host.x[3 * pf->f.pidx[q] + a];
    /* nodes whose trilinear support holds no particle move nothing (their gradient is 0 by construction, not
     * cut): counted and said, so that a fine grid over a concave body is not mistaken for learnt everywhere */
    unsigned char *has = (unsigned char *)calloc((size_t)pf->f.nk, 1);
    if (!has) return pl_fail(PL_ERR_NOMEM, "out of memory");
    for (int64_t q = 0; q < pf->f.np; ++q)
      for (int c = 0; c < 8; ++c)
        if (pf->f.node[8 * q + c] >= 0 && pf->f.w[8 * q + c] > 0) has[pf->f.node[8 * q + c]] = 1;
    int carried = 0;
    for (int k = 0; k < pf->f.nk; ++k) carried += has[k];
    free(has);
    PL_INFO("[object %s] learn_positions: a displacement on %d x %d x %d nodes over (%.3g %.3g %.3g)..(%.3g %.3g "
            "%.3g), %lld particles, %d of the %d nodes carry particles (the others move nothing), Adam at %g m per "
            "step, bound %g m",
            so->name, pf->f.dims[0], pf->f.dims[1], pf->f.dims[2], pf->f.lo[0], pf->f.lo[1], pf->f.lo[2], pf->f.hi[0],
            pf->f.hi[1], pf->f.hi[2], (long long)pf->f.np, carried, pf->f.nk, so->field.positions_lr,
            so->field.positions_max);
  }
  return PL_OK;
}

/* x_p = X_p + sum_k w_pk u_k for every learnt object, then the initial velocities from the new positions */
pl_status positions_apply(pl_engine *e) {
  fields_state *s = state(e);
  if (!s || s->npos == 0) return PL_OK;
  for (int i = 0; i < s->npos; ++i) {
    const grid_field *f = &s->pf[i].f;
    for (int64_t q = 0; q < f->np; ++q) {
      double d[3] = {0, 0, 0};
      for (int c = 0; c < 8; ++c) {
        int k = f->node[8 * q + c];
        if (k < 0) continue;
        for (int a = 0; a < 3; ++a) d[a] += f->w[8 * q + c] * f->u[3 * k + a];
      }
      for (int a = 0; a < 3; ++a)
        e->init_host.x[3 * f->pidx[q] + a] = (real)((double)s->pf[i].base[3 * q + a] + d[a]);
    }
  }
  PL_TRY(pl_buffer_upload(&e->init.x, 0, e->init_host.x, sizeof(real) * 3 * (size_t)e->n));
  return engine_refresh_velocities(e);
}

pl_status positions_gradient(pl_engine *e, const mpm_grads *g) {
  fields_state *s = state(e);
  if (!s || s->npos == 0) return PL_OK;
  if (!g->x0 || !g->v0) return pl_fail(PL_ERR_INTERNAL, "learn_positions without the initial state's cotangents");
  for (int i = 0; i < s->npos; ++i) {
    grid_field *f = &s->pf[i].f;
    const double *w = e->obj_velocity + 6 * f->object + 3;
    memset(f->g, 0, sizeof(double) * 3 * (size_t)f->nk);
    for (int64_t q = 0; q < f->np; ++q) {
      int64_t p = f->pidx[q];
      const real *gx = g->x0 + 3 * p, *gv = g->v0 + 3 * p;
      /* g_x + g_v x w: v_p = v + w x (x_p - c) */
      double a[3] = {gx[0] + (gv[1] * w[2] - gv[2] * w[1]), gx[1] + (gv[2] * w[0] - gv[0] * w[2]),
                     gx[2] + (gv[0] * w[1] - gv[1] * w[0])};
      for (int c = 0; c < 8; ++c) {
        int k = f->node[8 * q + c];
        if (k < 0) continue;
        for (int b = 0; b < 3; ++b) f->g[3 * k + b] += f->w[8 * q + c] * a[b];
      }
    }
  }
  return PL_OK;
}

/* w * mean over neighbouring nodes along an axis of |u_a - u_b|^2 / h_axis^2 (and its gradient) */
double positions_regularise(pl_engine *e, int want_grad) {
  fields_state *s = state(e);
  double total = 0;
  for (int i = 0; s && i < s->npos; ++i) {
    grid_field *f = &s->pf[i].f;
    double weight = e->scene->objects[f->object].field.positions_smoothness;
    if (!(weight > 0)) continue;
    int pairs = 0;
    for (int a = 0; a < 3; ++a) pairs += (f->dims[a] - 1) * f->nk / f->dims[a];
    if (pairs == 0) continue;
    int stride[3] = {1, f->dims[0], f->dims[0] * f->dims[1]};
    for (int k = 0; k < f->nk; ++k) {
      int idx[3] = {k % f->dims[0], (k / f->dims[0]) % f->dims[1], k / (f->dims[0] * f->dims[1])};
      for (int a = 0; a < 3; ++a) {
        if (idx[a] + 1 >= f->dims[a]) continue;
        double h = (f->hi[a] - f->lo[a]) / (f->dims[a] - 1);
        double c = weight / (pairs * fmax(h * h, 1e-300));
        int l = k + stride[a];
        for (int b = 0; b < 3; ++b) {
          double d = f->u[3 * k + b] - f->u[3 * l + b];
          total += c * d * d;
          if (want_grad) f->g[3 * k + b] += 2 * c * d, f->g[3 * l + b] -= 2 * c * d;
        }
      }
    }
  }
  return total;
}

pl_status positions_step(pl_engine *e, double lr_scale) {
  fields_state *s = state(e);
  if (!s || s->npos == 0) return PL_OK;
  const pl_scene *sc = e->scene;
  double b1 = sc->optimize.beta1, b2 = sc->optimize.beta2;
  s->tp++;
  double c1 = 1 - pow(b1, (double)s->tp), c2 = 1 - pow(b2, (double)s->tp);
  for (int i = 0; i < s->npos; ++i) {
    grid_field *f = &s->pf[i].f;
    const pl_object_field *of = &sc->objects[f->object].field;
    double lr = of->positions_lr * lr_scale, bound = of->positions_max;
    for (int k = 0; k < 3 * f->nk; ++k) {
      if (!isfinite(f->g[k]))
        return pl_fail(PL_ERR_NUMERIC, "[object %s] learn_positions: the gradient of node %d's displacement is not "
                       "finite", sc->objects[f->object].name, k / 3);
      double u = f->u[k] - fields_adam_step(f, k, b1, b2, c1, c2, lr);
      f->u[k] = fmax(fmin(u, bound), -bound);
    }
  }
  return PL_OK; /* applied by the caller (pl_engine_fields_step: positions_apply) */
}

/* positions.bin: "PLPOS1\n", t (int64), then per object nk (int64) and 3 nk x (u, m, v) as double */
pl_status positions_save(pl_engine *e, const char *folder) {
  fields_state *s = state(e);
  if (!s || s->npos == 0) return PL_OK;
  char path[PL_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/positions.bin", folder);
  pl_out out;
  PL_TRY(pl_out_open(&out, path, 1));
  fwrite("PLPOS1\n", 1, 7, out.f);
  int64_t t = s->tp;
  fwrite(&t, sizeof t, 1, out.f);
  for (int i = 0; i < s->npos; ++i) fields_write_values(out.f, &s->pf[i].f, 3 * s->pf[i].f.nk);
  return pl_out_commit(&out);
}

pl_status positions_load(pl_engine *e, const char *folder) {
  fields_state *s = state(e);
  if (!s || s->npos == 0) return PL_OK;
  char path[PL_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/positions.bin", folder);
  FILE *fp = fopen(path, "rb");
  if (!fp) return pl_fail(PL_ERR_IO, "%s: cannot open (the learnt positions of the run to resume)", path);
  char magic[7];
  int64_t t = 0;
  pl_status st = PL_OK;
  if (fread(magic, 1, 7, fp) != 7 || memcmp(magic, "PLPOS1\n", 7) != 0 || fread(&t, sizeof t, 1, fp) != 1 || t < 0)
    st = pl_fail(PL_ERR_PARSE, "%s: not a positions file", path);
  for (int i = 0; st == PL_OK && i < s->npos; ++i) {
    grid_field *f = &s->pf[i].f;
    int64_t nk = 0;
    if (fread(&nk, sizeof nk, 1, fp) != 1 || nk != f->nk) {
      st = pl_fail(PL_ERR_INVALID, "%s: [object %s] has %lld nodes there, the scene's has %d", path,
                   e->scene->objects[f->object].name, (long long)nk, f->nk);
      break;
    }
    double bound = e->scene->objects[f->object].field.positions_max;
    for (int k = 0; k < 3 * f->nk; ++k) {
      double d[3];
      if (fread(d, sizeof d, 1, fp) != 1 || !isfinite(d[0]) || !isfinite(d[1]) || !isfinite(d[2]) ||
          fabs(d[0]) > bound || d[2] < 0) {
        st = pl_fail(PL_ERR_PARSE, "%s: truncated, not finite or out of bounds at [object %s] node %d (%c)", path,
                     e->scene->objects[f->object].name, k / 3, "xyz"[k % 3]);
        break;
      }
      f->u[k] = d[0], f->m[k] = d[1], f->v[k] = d[2];
    }
  }
  fclose(fp);
  PL_TRY(st);
  s->tp = (long)t;
  return PL_OK; /* applied by the caller (pl_engine_fields_load) */
}

/* positions.csv: object, node, its position at rest, its displacement (m) */
pl_status positions_write_csv(pl_engine *e, const char *folder) {
  fields_state *s = state(e);
  if (!s || s->npos == 0) return PL_OK;
  char path[PL_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/positions.csv", folder);
  pl_out out;
  PL_TRY(pl_out_open(&out, path, 0));
  fprintf(out.f, "object,node,x,y,z,dx,dy,dz\n");
  for (int i = 0; i < s->npos; ++i) {
    const grid_field *f = &s->pf[i].f;
    for (int k = 0; k < f->nk; ++k) {
      double x[3];
      fields_grid_point(f, k, x);
      fprintf(out.f, "%s,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g\n", e->scene->objects[f->object].name, k, x[0], x[1], x[2],
              f->u[3 * k], f->u[3 * k + 1], f->u[3 * k + 2]);
    }
  }
  return pl_out_commit(&out);
}
