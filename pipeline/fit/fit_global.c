/* fit_global.c: the scan before the fit, damped Newton steps after it, and the curvature at the fitted point
 * (fit_global.h has the math). */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/fit/fit_global.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/log.h"
#include "core/progress.h"
#include "pipeline/io/targets.h"

#define FD_STEP 0.02 /* finite-difference step in u: 2% of a log value */

/* The step-space values that learn: every component of every parameter not frozen. */
pl_status pl_fit_dims(const pl_optimizer *o, int *param, int *comp, int *n) {
  *n = 0;
  for (int i = 0; i < o->n; ++i) {
    if (o->p[i].frozen) continue;
    for (int k = 0; k < o->p[i].components; ++k) {
      if (*n == PL_FIT_MAX_DIM)
        return pl_fail(PL_ERR_LIMIT, "more than %d learnable values: the scan and the curvature are limited to %d",
                       PL_FIT_MAX_DIM, PL_FIT_MAX_DIM);
      param[*n] = i, comp[*n] = k, ++*n;
    }
  }
  return PL_OK;
}

int pl_fit_solve_spd(int n, const double *A, double lambda, const double *b, double *x) {
  double L[PL_FIT_MAX_DIM * PL_FIT_MAX_DIM];
  if (n > PL_FIT_MAX_DIM) return 0;
  for (int i = 0; i < n; ++i)
    for (int j = 0; j <= i; ++j) {
      double s = A[i * n + j] + (i == j ? lambda : 0);
      for (int k = 0; k < j; ++k) s -= L[i * n + k] * L[j * n + k];
      if (i == j) {
        if (!(s > 0) || !isfinite(s)) return 0;
        L[i * n + i] = sqrt(s);
      } else {
        L[i * n + j] = s / L[j * n + j];
      }
    }
  double y[PL_FIT_MAX_DIM];
  for (int i = 0; i < n; ++i) {
    double s = b[i];
    for (int k = 0; k < i; ++k) s -= L[i * n + k] * y[k];
    y[i] = s / L[i * n + i];
  }
  for (int i = n - 1; i >= 0; --i) {
    double s = y[i];
    for (int k = i + 1; k < n; ++k) s -= L[k * n + i] * x[k];
    x[i] = s / L[i * n + i];
  }
  return 1;
}

/* ------------------------------------------------------------------ scan */

/* one scan point: the values at w (learned coordinates of the first stage's values), its loss on scan_frames, a
 * row in the CSV, and the best point so far */
typedef struct {
  const pl_scene *s;
  pl_optimizer *o;
  const pl_objective *obj;
  const unsigned char *active;
  FILE *f;
  const int *param, *comp, *scanned;
  int n;
  long index;
  double fbest, *best;
  pl_progress *bar;
} scan_ctx;

static pl_status scan_point(scan_ctx *c, int level, const double *w) {
  pl_coords_set(c->o, c->active, w);
  pl_loss_value loss;
  PL_TRY(c->obj->eval(c->obj->user, c->o, c->s->optimize.scan_frames, 0, &loss));
  fprintf(c->f, "%ld,%d,%.9g", c->index++, level, loss.total);
  for (int d = 0; d < c->n; ++d)
    if (c->scanned[d]) fprintf(c->f, ",%.9g", pl_param_value(&c->o->p[c->param[d]], c->comp[d]));
  fprintf(c->f, "\n");
  if (isfinite(loss.total) && loss.total < c->fbest) {
    c->fbest = loss.total;
    memcpy(c->best, w, sizeof(double) * 3 * (size_t)c->o->n);
  }
  char msg[64];
  snprintf(msg, sizeof msg, "level %d best loss %.4g", level, c->fbest);
  pl_progress_update(c->bar, c->index, msg);
  return PL_OK;
}

pl_status pl_fit_scan(const pl_scene *s, pl_optimizer *o, const pl_objective *obj, const char *csv, int quiet,
                      double *best_loss) {
  int param[PL_FIT_MAX_DIM], comp[PL_FIT_MAX_DIM], n;
  PL_TRY(pl_fit_dims(o, param, comp, &n));
  const int N = s->optimize.scan, grid = s->optimize.scan_grid;
  /* the values of the first stage (what the scene fits first) in their learned coordinates w (optim_coords.c) */
  unsigned char *active = (unsigned char *)calloc((size_t)o->n, 1);
  double *w = (double *)calloc((size_t)o->n * 6, sizeof(double)), *best = w ? w + 3 * o->n : NULL;
  if (!active || !w) {
    free(active), free(w);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  for (int i = 0; i < o->n; ++i) active[i] = (unsigned char)pl_param_in_stage(&o->p[i], s->nstages ? s->stages[0].name : "");
  pl_coords_get(o, active, w);
  memcpy(best, w, sizeof(double) * 3 * (size_t)o->n);
  /* per value: the range in w (lo, hi), and whether it is scanned */
  double lo[PL_FIT_MAX_DIM], hi[PL_FIT_MAX_DIM];
  int scanned[PL_FIT_MAX_DIM], m = 0;
  for (int d = 0; d < n; ++d) {
    const pl_param *p = &o->p[param[d]];
    double u = w[3 * param[d] + comp[d]];
    scanned[d] = p->space != PL_SPACE_LINEAR && active[param[d]];
    if (p->space == PL_SPACE_LOG) {
      lo[d] = u - log(s->optimize.scan_range), hi[d] = u + log(s->optimize.scan_range);
    } else if (p->space == PL_SPACE_BOUNDED) { /* the N points inside (lo, hi), ends left out */
      double a = 0.5 / N, b = 1 - 0.5 / N;
      lo[d] = log(a / (1 - a)), hi[d] = log(b / (1 - b));
    }
    m += scanned[d];
  }
  if (m == 0) {
    PL_WARN("optimize.scan: no log or bounded parameter of the first stage to scan");
    free(active), free(w);
    return PL_OK;
  }
  long points = 1; /* per level */
  for (int d = 0; d < m; ++d) {
    points = grid ? points * N : points + N;
    if (points > 100000) {
      free(active), free(w);
      return pl_fail(PL_ERR_LIMIT, "optimize.scan = %d over %d values is more than 1e5 points", N, m);
    }
  }
  if (!grid) points -= 1;
  pl_out out;
  pl_status st = pl_out_open(&out, csv, 0);
  if (st != PL_OK) {
    free(active), free(w);
    return st;
  }
  fprintf(out.f, "point,level,loss");
  for (int d = 0; d < n; ++d)
    if (scanned[d]) fprintf(out.f, o->p[param[d]].components == 1 ? ",%s" : ",%s.%d", o->p[param[d]].address, comp[d]);
  fprintf(out.f, "\n");
  pl_progress bar;
  pl_progress_begin(&bar, "scan", points * s->optimize.scan_levels + 1, quiet);
  scan_ctx c = {s, o, obj, active, out.f, param, comp, scanned, n, 0, INFINITY, best, &bar};
  double *u = (double *)calloc((size_t)o->n * 3, sizeof(double));
  if (!u) st = pl_fail(PL_ERR_NOMEM, "out of memory");
  /* the start itself is a candidate */
  if (st == PL_OK) st = scan_point(&c, 0, w);
  for (int level = 1; st == PL_OK && level <= s->optimize.scan_levels; ++level) {
    if (grid) { /* the full product of the N points of every value */
      memcpy(u, best, sizeof(double) * 3 * (size_t)o->n);
      for (long q = 0; st == PL_OK && q < points; ++q) {
        long r = q;
        for (int d = n - 1; d >= 0; --d) {
          if (!scanned[d]) continue;
          int i = (int)(r % N);
          r /= N;
          u[3 * param[d] + comp[d]] = lo[d] + (N == 1 ? 0.5 : (double)i / (N - 1)) * (hi[d] - lo[d]);
        }
        st = scan_point(&c, level, u);
      }
    } else { /* axes: each value in turn over its N points, the others at the best point so far */
      for (int d = 0; d < n && st == PL_OK; ++d) {
        if (!scanned[d]) continue;
        for (int i = 0; i < N && st == PL_OK; ++i) {
          memcpy(u, best, sizeof(double) * 3 * (size_t)o->n);
          u[3 * param[d] + comp[d]] = lo[d] + (N == 1 ? 0.5 : (double)i / (N - 1)) * (hi[d] - lo[d]);
          st = scan_point(&c, level, u);
        }
      }
    }
    /* the next level: +-1 grid step around the best point */
    for (int d = 0; d < n; ++d) {
      if (!scanned[d]) continue;
      double step = N > 1 ? (hi[d] - lo[d]) / (N - 1) : 0, b = best[3 * param[d] + comp[d]];
      lo[d] = b - step, hi[d] = b + step;
    }
  }
  pl_progress_end(&bar);
  pl_coords_set(o, active, best);
  free(u);
  free(active);
  free(w);
  if (st != PL_OK) {
    pl_out_abort(&out);
    return st;
  }
  PL_TRY(pl_out_commit(&out));
  *best_loss = c.fbest;
  char msg[512];
  int wr = snprintf(msg, sizeof msg, "scan: %ld points on frames '%s', best loss %.4g at", c.index,
                    s->optimize.scan_frames, c.fbest);
  for (int d = 0; d < n && wr < (int)sizeof msg - 64; ++d)
    wr += snprintf(msg + wr, sizeof msg - (size_t)wr, " %s = %.5g", o->p[param[d]].address,
                   pl_param_value(&o->p[param[d]], comp[d]));
  PL_INFO("%s", msg);
  return PL_OK;
}

/* ------------------------------------------------------------------ curvature */

static pl_status grad_u(const pl_optimizer *o, const int *param, const int *comp, int n, double *g) {
  for (int d = 0; d < n; ++d) {
    const pl_param *p = &o->p[param[d]];
    g[d] = p->grad[comp[d]] * pl_space_dvalue(p->space, p->lo, p->hi, p->u[comp[d]]);
    if (!isfinite(g[d])) return pl_fail(PL_ERR_NUMERIC, "curvature: the gradient of %s is not finite", p->address);
  }
  return PL_OK;
}

static pl_status eval_grad(pl_optimizer *o, const pl_objective *obj, pl_loss_value *loss) {
  for (int i = 0; i < o->n; ++i) memset(o->p[i].grad, 0, sizeof o->p[i].grad);
  return obj->eval(obj->user, o, "all", 1, loss);
}

/* kappa of fit_global.h from the loss terms at the point and the residual count */
static double noise_kappa(const pl_scene *s, const pl_loss_value *l, double N) {
  const double w1 = s->optimize.loss_weight[PL_LOSS_L1], w2 = s->optimize.loss_weight[PL_LOSS_L2];
  const double pi = 3.14159265358979323846;
  if (!(N > 0) || (w1 <= 0 && w2 <= 0)) return -1;
  double sigma = w2 > 0 ? sqrt(fmax(l->term[PL_LOSS_L2], 0)) : sqrt(pi / 2) * fmax(l->term[PL_LOSS_L1], 0);
  if (!(sigma > 0)) return 0;
  double p0 = 1 / (sigma * sqrt(2 * pi));
  double v = w1 * w1 + 4 * w1 * w2 * sigma * sqrt(2 / pi) + 4 * w2 * w2 * sigma * sigma;
  return v / (N * (2 * p0 * w1 + 2 * w2));
}

/* pixel channels the loss averages over: every target image (selected camera x frame) x width x height x 3 */
static double residual_count(const pl_scene *s) {
  pl_targets t;
  if (pl_targets_select(s, &t) != PL_OK) {
    pl_clear_error();
    return 0;
  }
  double N = 0;
  for (int c = 0; c < t.ncameras; ++c)
    for (int f = 0; f < t.nframes; ++f)
      if (t.camera_used[c] && t.frame_used[f]) N += 3.0 * s->cameras[c].width * s->cameras[c].height;
  pl_targets_free(&t);
  return N;
}

pl_status pl_fit_curvature_at(const pl_scene *s, pl_optimizer *o, const pl_objective *obj, pl_fit_curvature *c) {
  memset(c, 0, sizeof *c);
  PL_TRY(pl_fit_dims(o, c->param, c->comp, &c->n));
  const int n = c->n;
  c->h = FD_STEP;
  double gp[PL_FIT_MAX_DIM][PL_FIT_MAX_DIM], gm[PL_FIT_MAX_DIM][PL_FIT_MAX_DIM];
  pl_loss_value loss;
  pl_status st = PL_OK;
  for (int j = 0; j < n && st == PL_OK; ++j) {
    double *u = &o->p[c->param[j]].u[c->comp[j]], u0 = *u;
    for (int sgn = 0; sgn < 2 && st == PL_OK; ++sgn) {
      *u = u0 + (sgn ? -c->h : c->h);
      st = eval_grad(o, obj, &loss);
      if (st == PL_OK) st = grad_u(o, c->param, c->comp, n, sgn ? gm[j] : gp[j]);
      c->evaluations++;
    }
    *u = u0;
  }
  if (st != PL_OK) return pl_fail_context(st, "curvature at the fitted point: ");
  for (int i = 0; i < n; ++i) {
    c->g[i] = 0;
    for (int j = 0; j < n; ++j) c->g[i] += (gp[j][i] + gm[j][i]) / (2.0 * n);
  }
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      c->H[i * n + j] = 0.5 * ((gp[j][i] - gm[j][i]) + (gp[i][j] - gm[i][j])) / (2 * c->h);
  /* the loss and its terms at the point itself */
  PL_TRY(obj->eval(obj->user, o, "all", 0, &c->terms));
  c->loss = c->terms.total;
  double mg[PL_FIT_MAX_DIM];
  for (int i = 0; i < n; ++i) mg[i] = -c->g[i];
  c->positive = pl_fit_solve_spd(n, c->H, 0, mg, c->newton);
  double N = residual_count(s);
  c->kappa = noise_kappa(s, &c->terms, N);
  for (int d = 0; d < n; ++d) {
    const pl_param *p = &o->p[c->param[d]];
    c->value[d] = pl_param_value(p, c->comp[d]);
    c->se[d] = c->se_u[d] = NAN;
  }
  for (int i = 0; i < n * n; ++i) c->corr[i] = NAN;
  if (c->positive) { /* H^-1 column by column */
    double inv[PL_FIT_MAX_DIM * PL_FIT_MAX_DIM];
    for (int j = 0; j < n; ++j) {
      double e[PL_FIT_MAX_DIM] = {0}, x[PL_FIT_MAX_DIM];
      e[j] = 1;
      pl_fit_solve_spd(n, c->H, 0, e, x);
      for (int i = 0; i < n; ++i) inv[i * n + j] = x[i];
    }
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) c->corr[i * n + j] = inv[i * n + j] / sqrt(inv[i * n + i] * inv[j * n + j]);
    if (c->kappa >= 0)
      for (int d = 0; d < n; ++d) {
        const pl_param *p = &o->p[c->param[d]];
        c->se_u[d] = sqrt(c->kappa * inv[d * n + d]);
        c->se[d] = c->se_u[d] * fabs(pl_space_dvalue(p->space, p->lo, p->hi, p->u[c->comp[d]]));
      }
  }
  return PL_OK;
}

/* ------------------------------------------------------------------ damped Newton */

static pl_status csv_row(const char *csv, const pl_optimizer *o, long it, const pl_loss_value *l, const double *gnorm) {
  FILE *f = fopen(csv, "a");
  if (!f) return pl_fail(PL_ERR_IO, "%s: cannot append", csv);
  fprintf(f, "%ld,newton,%.9g,%.9g,%.9g,%.9g,%.9g,%.6g", it, l->total, l->term[0], l->term[1], l->term[2], l->term[3], 1.0);
  for (int i = 0; i < o->n; ++i)
    for (int k = 0; k < o->p[i].components; ++k) fprintf(f, ",%.9g", pl_param_value(&o->p[i], k));
  for (int i = 0; i < o->n; ++i) fprintf(f, ",%.6g", gnorm[i]);
  fprintf(f, ",0\n");
  int bad = ferror(f);
  if (fclose(f) != 0 || bad) return pl_fail(PL_ERR_IO, "%s: write failed", csv);
  return PL_OK;
}

pl_status pl_fit_newton(const pl_scene *s, pl_optimizer *o, const pl_objective *obj, const char *csv,
                        long first_iteration, int quiet, double *loss, int *steps_taken, double *no_descent) {
  *steps_taken = 0;
  *no_descent = 0;
  const int K = s->optimize.newton;
  pl_progress bar;
  pl_progress_begin(&bar, "newton", K, quiet);
  double lambda = 0;
  pl_status st = PL_OK;
  for (int k = 0; k < K && st == PL_OK; ++k) {
    pl_fit_curvature c;
    st = pl_fit_curvature_at(s, o, obj, &c);
    if (st != PL_OK) break;
    *loss = c.loss;
    const int n = c.n;
    double maxdiag = 0, mg[PL_FIT_MAX_DIM], step[PL_FIT_MAX_DIM], u0[PL_FIT_MAX_DIM];
    for (int i = 0; i < n; ++i) maxdiag = fmax(maxdiag, fabs(c.H[i * n + i])), mg[i] = -c.g[i];
    for (int d = 0; d < n; ++d) u0[d] = o->p[c.param[d]].u[c.comp[d]];
    if (maxdiag == 0) break;
    int accepted = 0;
    double tried = 0;
    /* Levenberg-Marquardt: raise lambda until (H + lambda I) is positive definite and the step lowers the loss */
    for (int tries = 0; tries < 8 && !accepted && st == PL_OK; ++tries) {
      if (!pl_fit_solve_spd(n, c.H, lambda, mg, step)) {
        lambda = lambda > 0 ? lambda * 10 : 1e-3 * maxdiag;
        continue;
      }
      double big = 0;
      for (int d = 0; d < n; ++d) big = fmax(big, fabs(step[d]));
      double scale = big > PL_MAX_SPACE_STEP ? PL_MAX_SPACE_STEP / big : 1;
      tried = big * scale;
      for (int d = 0; d < n; ++d) {
        const pl_param *p = &o->p[c.param[d]];
        o->p[c.param[d]].u[c.comp[d]] = pl_space_safe_step(p->space, u0[d], -scale * step[d]);
      }
      pl_loss_value trial;
      st = obj->eval(obj->user, o, "all", 0, &trial);
      if (st != PL_OK) break;
      if (isfinite(trial.total) && trial.total < c.loss) {
        accepted = 1;
        *loss = trial.total;
        lambda /= 3;
        double *gnorm = (double *)calloc((size_t)o->n, sizeof(double));
        if (!gnorm) {
          st = pl_fail(PL_ERR_NOMEM, "out of memory");
          break;
        }
        for (int d = 0; d < n; ++d) gnorm[c.param[d]] += c.g[d] * c.g[d];
        for (int i = 0; i < o->n; ++i) gnorm[i] = sqrt(gnorm[i]);
        st = csv_row(csv, o, first_iteration + k, &trial, gnorm);
        free(gnorm);
      } else {
        for (int d = 0; d < n; ++d) o->p[c.param[d]].u[c.comp[d]] = u0[d];
        lambda = lambda > 0 ? lambda * 10 : 1e-3 * maxdiag;
      }
    }
    if (!accepted) { /* no step lowers the loss: at a minimum, to the resolution of the smallest step tried */
      if (st == PL_OK && tried > 0) *no_descent = tried;
      break;
    }
    ++*steps_taken;
    char msg[64];
    snprintf(msg, sizeof msg, "loss %.4g", *loss);
    pl_progress_update(&bar, k + 1, msg);
  }
  pl_progress_end(&bar);
  return st;
}
