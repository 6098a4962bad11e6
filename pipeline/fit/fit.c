#define _POSIX_C_SOURCE 200809L
#include "pipeline/fit/fit.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/fileio.h"
#include "core/log.h"
#include "core/progress.h"
#include "pipeline/io/canvas.h"
#include "pipeline/fit/fit_global.h"
#include "pipeline/fit/fit_state.h"
#include "pipeline/fit/fit_watch.h"
#include "pipeline/report/json_out.h"
#include "pipeline/report/plot.h"

#define MAX_PATIENCE 4096
#define BEST_MAX 96

typedef struct {
  int stage;            /* index of the stage being run (0 with no stages) */
  long in_stage;        /* iterations finished in that stage */
  long total;           /* iterations finished overall */
  double seconds;       /* time spent in earlier runs */
  int stopped_early;
  int nhist;            /* recent losses for early stopping (oldest first) */
  double hist[MAX_PATIENCE + 1];
  char scene_hash[17];  /* pl_fit_scene_hash: a state resumes only the scene it was written for */
  /* fit_global: the best point of the current stage (u of every component), the start's loss (all frames) */
  double best_loss, start_loss;
  int nbest, nstart;
  double best_u[BEST_MAX], start_u[BEST_MAX];
} loop_state;

static int nstages(const pl_scene *s) { return s->nstages ? s->nstages : 1; }
static long stage_iterations(const pl_scene *s, int k) {
  return s->nstages ? s->stages[k].iterations : s->optimize.iterations;
}
static const char *stage_name(const pl_scene *s, int k) { return s->nstages ? s->stages[k].name : ""; }
static const char *stage_frames(const pl_scene *s, int k) { return s->nstages ? s->stages[k].frames : "all"; }
static double stage_lr(const pl_scene *s, int k) { return s->nstages ? s->stages[k].lr_scale : 1.0; }

/* Exact numbers as "%.17g" strings: the loop object is re-printed by cJSON on load (optim.c), whose printer keeps
 * 15 digits of a plain number; a string survives it, so a resumed fit reports bit-identically the same point. */
static cJSON *exact_string(double v) {
  char t[40];
  snprintf(t, sizeof t, "%.17g", v);
  return cJSON_CreateString(t);
}
static int exact_from(const cJSON *x, double *v) {
  if (cJSON_IsNumber(x)) return *v = x->valuedouble, 1;
  if (!cJSON_IsString(x)) return 0;
  char *end;
  *v = strtod(x->valuestring, &end);
  return end != x->valuestring && *end == '\0';
}

/* the best point and the start's loss in the saved loop state */
static void loop_best_json(cJSON *j, const loop_state *ls) {
  cJSON_AddItemToObject(j, "best_loss", exact_string(ls->best_loss));
  cJSON_AddItemToObject(j, "start_loss", exact_string(ls->start_loss));
  cJSON *b = cJSON_AddArrayToObject(j, "best_u");
  for (int i = 0; i < ls->nbest; ++i) cJSON_AddItemToArray(b, exact_string(ls->best_u[i]));
  cJSON *su = cJSON_AddArrayToObject(j, "start_u");
  for (int i = 0; i < ls->nstart; ++i) cJSON_AddItemToArray(su, exact_string(ls->start_u[i]));
}

static pl_status loop_best_from_json(loop_state *ls, const cJSON *j, const char *path) {
  const cJSON *x;
  if (!exact_from(cJSON_GetObjectItemCaseSensitive(j, "best_loss"), &ls->best_loss)) ls->best_loss = INFINITY;
  if (!exact_from(cJSON_GetObjectItemCaseSensitive(j, "start_loss"), &ls->start_loss)) ls->start_loss = NAN;
  ls->nbest = ls->nstart = 0;
  cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(j, "best_u")) if (ls->nbest < BEST_MAX && exact_from(x, &ls->best_u[ls->nbest])) ls->nbest++;
  cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(j, "start_u")) if (ls->nstart < BEST_MAX && exact_from(x, &ls->start_u[ls->nstart])) ls->nstart++;
  /* a point that is not finite is no point to return to */
  for (int i = 0; i < ls->nbest; ++i)
    if (!isfinite(ls->best_u[i])) return pl_fail(PL_ERR_PARSE, "%s: \"best_u\"[%d] is not a finite number", path, i);
  for (int i = 0; i < ls->nstart; ++i)
    if (!isfinite(ls->start_u[i])) return pl_fail(PL_ERR_PARSE, "%s: \"start_u\"[%d] is not a finite number", path, i);
  if (isnan(ls->best_loss) || ls->best_loss < 0) return pl_fail(PL_ERR_PARSE, "%s: \"best_loss\" is not a loss", path);
  return PL_OK;
}

/* every component's u, packed (-1 when there are more than BEST_MAX: the point is then not kept) */
static int pack_u(const pl_optimizer *o, double *u) {
  int n = 0;
  for (int i = 0; i < o->n; ++i)
    for (int k = 0; k < o->p[i].components; ++k) {
      if (n == BEST_MAX) return -1;
      u[n++] = o->p[i].u[k];
    }
  return n;
}
static void unpack_u(pl_optimizer *o, const double *u) {
  int n = 0;
  for (int i = 0; i < o->n; ++i)
    for (int k = 0; k < o->p[i].components; ++k) o->p[i].u[k] = u[n++];
}

static char *loop_json(const loop_state *ls) {
  cJSON *j = cJSON_CreateObject();
  cJSON_AddNumberToObject(j, "stage", ls->stage);
  cJSON_AddNumberToObject(j, "in_stage", (double)ls->in_stage);
  cJSON_AddNumberToObject(j, "total", (double)ls->total);
  cJSON_AddNumberToObject(j, "seconds", ls->seconds);
  cJSON_AddNumberToObject(j, "stopped_early", ls->stopped_early);
  cJSON_AddStringToObject(j, "scene_hash", ls->scene_hash);
  loop_best_json(j, ls);
  cJSON *h = cJSON_AddArrayToObject(j, "history");
  for (int i = 0; i < ls->nhist; ++i) {
    char t[40];
    snprintf(t, sizeof t, "%.17g", ls->hist[i]);
    cJSON_AddItemToArray(h, cJSON_CreateRaw(t));
  }
  char *out = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  return out;
}

/* The loop counters of a saved state, each checked against this scene before use (fit_state.h). */
static pl_status loop_fields(loop_state *ls, const cJSON *j, const pl_scene *s, const char *path) {
  const cJSON *hash = cJSON_GetObjectItemCaseSensitive(j, "scene_hash");
  if (!cJSON_IsString(hash) || strcmp(hash->valuestring, ls->scene_hash) != 0)
    return pl_fail(PL_ERR_INVALID, "%s was written for another scene (or other scene values: hash %s, this scene %s); "
                   "use another output folder, or delete it to start over", path,
                   cJSON_IsString(hash) ? hash->valuestring : "missing", ls->scene_hash);
  long stage, in_stage, total, early, planned = 0;
  for (int k = 0; k < nstages(s); ++k) planned += stage_iterations(s, k);
  PL_TRY(pl_state_get_count(j, "stage", 0, nstages(s) - 1, &stage, path));
  PL_TRY(pl_state_get_count(j, "in_stage", 0, (double)stage_iterations(s, (int)stage), &in_stage, path));
  PL_TRY(pl_state_get_count(j, "total", (double)in_stage, (double)planned, &total, path));
  PL_TRY(pl_state_get_real(j, "seconds", 0, 1e12, &ls->seconds, path));
  PL_TRY(pl_state_get_count(j, "stopped_early", 0, 1, &early, path));
  ls->stage = (int)stage;
  ls->in_stage = in_stage;
  ls->total = total;
  ls->stopped_early = (int)early;
  const cJSON *h = cJSON_GetObjectItemCaseSensitive(j, "history"), *x;
  if (!cJSON_IsArray(h)) return pl_fail(PL_ERR_PARSE, "%s: \"history\" is not an array", path);
  int nh = cJSON_GetArraySize(h);
  if (nh > MAX_PATIENCE + 1)
    return pl_fail(PL_ERR_PARSE, "%s: \"history\" has %d entries (at most %d)", path, nh, MAX_PATIENCE + 1);
  /* a lower optimize.patience than the state was written with keeps the most recent patience + 1 losses */
  int patience = s->optimize.patience > MAX_PATIENCE ? MAX_PATIENCE : s->optimize.patience;
  int skip = nh > patience + 1 ? nh - (patience + 1) : 0, i = 0;
  ls->nhist = 0;
  cJSON_ArrayForEach(x, h) {
    if (!cJSON_IsNumber(x) || !isfinite(x->valuedouble))
      return pl_fail(PL_ERR_PARSE, "%s: \"history\"[%d] is not a finite number", path, i);
    if (i++ >= skip) ls->hist[ls->nhist++] = x->valuedouble;
  }
  return PL_OK;
}

static pl_status loop_from_json(loop_state *ls, const char *text, const pl_scene *s, const char *path) {
  cJSON *j = cJSON_Parse(text);
  if (!j) return pl_fail(PL_ERR_PARSE, "%s: malformed loop state", path);
  pl_status st = cJSON_IsObject(j) ? loop_fields(ls, j, s, path) : pl_fail(PL_ERR_PARSE, "%s: malformed loop state", path);
  if (st == PL_OK) st = loop_best_from_json(ls, j, path);
  cJSON_Delete(j);
  return st;
}

static void csv_header(FILE *f, const pl_optimizer *o) {
  fprintf(f, "iteration,stage,loss,l1,l2,dssim,mask,lr_factor");
  for (int i = 0; i < o->n; ++i) {
    if (o->p[i].components == 1)
      fprintf(f, ",%s", o->p[i].address);
    else
      fprintf(f, ",%s.x,%s.y,%s.z", o->p[i].address, o->p[i].address, o->p[i].address);
  }
  for (int i = 0; i < o->n; ++i) fprintf(f, ",grad_norm:%s", o->p[i].address);
  fprintf(f, ",seconds\n");
}

/* Keep the header and the rows of iterations < keep (a killed run may have left a partial last line). */
static pl_status csv_truncate(const char *path, long keep) {
  char *text;
  if (access(path, F_OK) != 0) return PL_OK;
  PL_TRY(pl_read_file(path, &text, NULL));
  pl_out o;
  pl_status s = pl_out_open(&o, path, 0);
  if (s != PL_OK) {
    free(text);
    return s;
  }
  int line = 0;
  char *save = NULL;
  for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save), ++line) {
    if (line == 0) {
      fprintf(o.f, "%s\n", l);
      continue;
    }
    long it;
    char *end;
    it = strtol(l, &end, 10);
    if (end == l || *end != ',' || it >= keep) continue;
    /* a row is complete when it has as many fields as the header; the header was written whole */
    fprintf(o.f, "%s\n", l);
  }
  free(text);
  return pl_out_commit(&o);
}

static void truth_of(const pl_scene *s, const char *address, double v[3], int *found) {
  *found = 0;
  for (int i = 0; i < s->ntruth; ++i)
    if (strcmp(s->truth[i].address, address) == 0) {
      int n = pl_parse_reals(s->truth[i].value, v, 3);
      if (n == 1) v[1] = v[2] = v[0];
      *found = n >= 1;
    }
}

static pl_status write_result(const pl_scene *s, const pl_optimizer *o, const pl_optimizer *start,
                              const loop_state *ls, const pl_loss_value *loss, const long *zero_grad,
                              const pl_fit_result *r, const char *path) {
  cJSON *j = cJSON_CreateObject();
  pl_fit_zero_gradient_json(j, o, zero_grad);
  cJSON_AddStringToObject(j, "scene", s->path);
  cJSON_AddNumberToObject(j, "iterations", (double)ls->total);
  cJSON_AddBoolToObject(j, "stopped_early", ls->stopped_early);
  cJSON_AddNumberToObject(j, "seconds", ls->seconds);
  cJSON *l = cJSON_AddObjectToObject(j, "loss");
  cJSON_AddNumberToObject(l, "total", loss->total);
  static const char *names[PL_LOSS_COUNT] = {"l1", "l2", "dssim", "mask"};
  for (int k = 0; k < PL_LOSS_COUNT; ++k) cJSON_AddNumberToObject(l, names[k], loss->term[k]);
  pl_fit_result_json(j, r);
  cJSON *ps = cJSON_AddObjectToObject(j, "parameters");
  for (int i = 0; i < o->n; ++i) {
    const pl_param *p = &o->p[i];
    cJSON *e = cJSON_AddObjectToObject(ps, p->address);
    double fit[3], st[3], tr[3];
    int has_truth;
    for (int k = 0; k < p->components; ++k) fit[k] = pl_param_value(p, k), st[k] = pl_param_value(&start->p[i], k);
    truth_of(s, p->address, tr, &has_truth);
    if (p->components == 1) {
      cJSON_AddNumberToObject(e, "fitted", fit[0]);
      cJSON_AddNumberToObject(e, "start", st[0]);
      if (has_truth) {
        cJSON_AddNumberToObject(e, "truth", tr[0]);
        cJSON_AddNumberToObject(e, "relative_error", fabs(fit[0] - tr[0]) / fmax(fabs(tr[0]), 1e-300));
        cJSON_AddNumberToObject(e, "start_relative_error", fabs(st[0] - tr[0]) / fmax(fabs(tr[0]), 1e-300));
      }
    } else {
      cJSON_AddItemToObject(e, "fitted", cJSON_CreateDoubleArray(fit, 3));
      cJSON_AddItemToObject(e, "start", cJSON_CreateDoubleArray(st, 3));
      if (has_truth) {
        double num = 0, den = 0;
        for (int k = 0; k < 3; ++k) num += (fit[k] - tr[k]) * (fit[k] - tr[k]), den += tr[k] * tr[k];
        cJSON_AddItemToObject(e, "truth", cJSON_CreateDoubleArray(tr, 3));
        cJSON_AddNumberToObject(e, "relative_error", sqrt(num) / fmax(sqrt(den), 1e-300));
      }
    }
  }
  pl_status st = pl_write_json(path, j);
  cJSON_Delete(j);
  return st;
}

/* loss curve from the CSV (total and each non-zero term) */
static pl_status write_loss_curve(const char *csv, const char *png, const double *w) {
  char *text;
  PL_TRY(pl_read_file(csv, &text, NULL));
  long cap = 1024, n = 0;
  double *x = (double *)malloc(sizeof(double) * cap), *y[5];
  for (int k = 0; k < 5; ++k) y[k] = (double *)malloc(sizeof(double) * cap);
  char *save = NULL;
  int line = 0;
  for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save), ++line) {
    if (line == 0) continue;
    double v[8];
    char *p = l, *end;
    int k = 0;
    for (; k < 7; ++k) {
      if (k == 1) { /* the stage name */
        p = strchr(p, ',');
        if (!p) break;
        ++p;
        continue;
      }
      v[k] = strtod(p, &end);
      if (end == p) break;
      p = end;
      if (*p == ',') ++p;
    }
    if (k < 7) continue;
    if (n == cap) {
      cap *= 2;
      x = (double *)realloc(x, sizeof(double) * cap);
      for (int q = 0; q < 5; ++q) y[q] = (double *)realloc(y[q], sizeof(double) * cap);
    }
    x[n] = v[0];
    y[0][n] = v[2];
    for (int q = 0; q < 4; ++q) y[q + 1][n] = v[3 + q];
    ++n;
  }
  free(text);
  /* each term as its share of the total (weight x term), so that the curves add up to the total */
  const char *names[5] = {"loss", "l1", "l2", "dssim", "mask"};
  char wnames[4][48];
  const double *ys[5];
  const char *nm[5];
  int ns = 0;
  ys[ns] = y[0], nm[ns++] = names[0];
  for (int q = 0; q < 4; ++q)
    if (w[q] > 0) {
      for (long i = 0; i < n; ++i) y[q + 1][i] *= w[q];
      snprintf(wnames[q], sizeof wnames[q], "%g x %s", w[q], names[q + 1]);
      ys[ns] = y[q + 1], nm[ns++] = wnames[q];
    }
  pl_status s = pl_plot_png(png, "loss", "iteration", (int)n, x, ns, ys, nm, 1);
  free(x);
  for (int k = 0; k < 5; ++k) free(y[k]);
  return s;
}

/* Adam's step count of a resumed state: at most one step per finished iteration (skipped stages take none). */
static pl_status check_resumed_optimizer(const pl_optimizer *o, const loop_state *ls, const char *path) {
  if (o->step < 0 || o->step > ls->total)
    return pl_fail(PL_ERR_PARSE, "%s: \"adam_step\" = %ld is outside 0..%ld (the iterations finished)", path, o->step,
                   ls->total);
  return pl_fit_check_params(o, path);
}

/* After a step every parameter must still be representable (a huge lr drives a log-space value to 0). */
static pl_status check_stepped(const pl_optimizer *o, long iteration) {
  char when[64];
  snprintf(when, sizeof when, "iteration %ld", iteration);
  return pl_fit_check_params(o, when);
}

/* The spread (max - min) of each learnable value over the last `rows` rows of fit.csv (fit.h: change). */
static void recent_change(const char *csv, const pl_optimizer *o, const int *param, const int *comp, int n, int rows,
                          pl_fit_result *r) {
  r->change_rows = 0;
  char *text;
  if (rows < 2 || pl_read_file(csv, &text, NULL) != PL_OK) {
    pl_clear_error();
    return;
  }
  int col[PL_FIT_MAX_DIM];
  for (int d = 0; d < n; ++d) {
    col[d] = 8 + comp[d];
    for (int i = 0; i < param[d]; ++i) col[d] += o->p[i].components;
  }
  double lo[PL_FIT_MAX_DIM], hi[PL_FIT_MAX_DIM];
  /* the lines from the end: the last `rows` complete data rows */
  int nl = 0;
  for (char *q = text; *q; ++q) nl += *q == '\n';
  char **lines = (char **)calloc((size_t)nl + 1, sizeof(char *));
  int m = 0;
  char *save = NULL;
  for (char *l = strtok_r(text, "\n", &save); l && lines; l = strtok_r(NULL, "\n", &save)) lines[m++] = l;
  int used = 0;
  for (int li = m - 1; li >= 1 && used < rows && lines; --li) {
    double v[PL_FIT_MAX_DIM];
    int ok = 1;
    for (int d = 0; d < n && ok; ++d) {
      const char *p = lines[li];
      for (int c = 0; c < col[d] && p; ++c) p = strchr(p, ','), p = p ? p + 1 : NULL;
      char *end;
      v[d] = p ? strtod(p, &end) : NAN;
      ok = p && end != p && isfinite(v[d]);
    }
    if (!ok) continue;
    for (int d = 0; d < n; ++d) {
      if (!used || v[d] < lo[d]) lo[d] = v[d];
      if (!used || v[d] > hi[d]) hi[d] = v[d];
    }
    ++used;
  }
  free(lines);
  free(text);
  if (used < 2) return;
  r->change_rows = used;
  for (int d = 0; d < n; ++d) r->change[d] = hi[d] - lo[d];
}

/* correlation.png beside result.json: the correlation matrix of the fitted values (plot_matrix.c) */
static pl_status write_correlation_png(const char *folder, const pl_fit_result *r) {
  if (!r->has_curvature || r->ndim < 2) return PL_OK;
  char path[PL_PATH_MAX + 32], title[160];
  const char *names[PL_FIT_MAX_DIM];
  for (int d = 0; d < r->ndim; ++d) names[d] = r->names[d];
  snprintf(path, sizeof path, "%s/correlation.png", folder);
  int undetermined = 0;
  for (int d = 0; d < r->ndim; ++d) undetermined |= !isfinite(r->corr[d * r->ndim + d]);
  snprintf(title, sizeof title, "correlation of the fitted values%s",
           undetermined ? " (undetermined: the curvature is not positive definite)" : "");
  return pl_plot_matrix_png(path, title, r->ndim, names, r->corr);
}

/* Before the first iteration: the global scan (optimize.scan), then the start's loss on all frames. */
static pl_status fit_start(const pl_scene *s, pl_optimizer *o, const pl_objective *obj, const pl_fit_options *opt,
                           loop_state *ls) {
  if (s->optimize.scan > 0 && o->n > 0) { /* (the objective's own values are not scanned) */
    char scsv[PL_PATH_MAX + 32];
    double best;
    snprintf(scsv, sizeof scsv, "%s/scan.csv", opt->output);
    PL_TRY(pl_fit_scan(s, o, obj, scsv, opt->quiet, &best));
  }
  pl_loss_value l;
  PL_TRY(obj->eval(obj->user, o, "all", 0, &l));
  ls->start_loss = l.total;
  ls->nstart = pack_u(o, ls->start_u);
  if (obj->keep) PL_TRY(obj->keep(obj->user, PL_FIT_KEEP_START));
  return PL_OK;
}

/* Put a candidate point back: its [param] values u and the objective's own values kept in `slot`. *ok = 0 when
 * the objective has none kept there (the candidate is then not a whole point). */
static pl_status put_point(pl_optimizer *o, const pl_objective *obj, const double *u, int slot, int *ok) {
  *ok = 1;
  unpack_u(o, u);
  if (obj->own_values && obj->restore) return obj->restore(obj->user, slot, ok);
  return PL_OK;
}

/* After the last iteration: report the lowest of the last iterate, the last stage's best point and the start
 * (all frames); damped Newton steps (optimize.newton); the curvature there (optimize.uncertainty); the verdict. */
static pl_status fit_finish(const pl_scene *s, pl_optimizer *o, const pl_objective *obj, const pl_fit_options *opt,
                            const loop_state *ls, int diverged, const char *why, const char *csv, pl_loss_value *loss,
                            pl_fit_result *r) {
  double last_u[BEST_MAX], chosen[BEST_MAX];
  int nlast = pack_u(o, last_u);
  int param[PL_FIT_MAX_DIM], comp[PL_FIT_MAX_DIM];
  if (pl_fit_dims(o, param, comp, &r->ndim) != PL_OK) { /* too many values: no curvature, no verdict */
    PL_WARN("%s; no standard errors or convergence test", pl_last_error());
    pl_clear_error();
    r->ndim = 0;
  }
  for (int d = 0; d < r->ndim; ++d) {
    const pl_param *p = &o->p[param[d]];
    snprintf(r->names[d], sizeof r->names[d], p->components == 1 ? "%s" : "%s.%c", p->address, "xyz"[comp[d]]);
    r->last[d] = pl_param_value(p, comp[d]);
  }
  PL_TRY(obj->eval(obj->user, o, "all", 0, loss));
  r->last_loss = loss->total;
  double best = isfinite(loss->total) ? loss->total : INFINITY;
  memcpy(chosen, last_u, sizeof chosen);
  /* the candidates: the last stage's best point and the start, each with the objective's own values (keep) */
  const int own = obj->own_values && obj->keep && obj->restore;
  int chosen_slot = PL_FIT_KEEP_LAST, ok;
  if (own) PL_TRY(obj->keep(obj->user, PL_FIT_KEEP_LAST));
  const double *cand[2] = {nlast >= 0 && ls->nbest == nlast && isfinite(ls->best_loss) ? ls->best_u : NULL,
                           nlast >= 0 && ls->nstart == nlast ? ls->start_u : NULL};
  const int slot[2] = {PL_FIT_KEEP_BEST, PL_FIT_KEEP_START};
  for (int c = 0; c < 2; ++c) {
    if (!cand[c] || (!own && (nlast == 0 || memcmp(cand[c], chosen, sizeof(double) * (size_t)nlast) == 0))) continue;
    PL_TRY(put_point(o, obj, cand[c], slot[c], &ok));
    if (ok) PL_TRY(obj->eval(obj->user, o, "all", 0, loss));
    if (ok && isfinite(loss->total) && loss->total < best)
      best = loss->total, memcpy(chosen, cand[c], sizeof chosen), chosen_slot = slot[c];
  }
  if (nlast >= 0) PL_TRY(put_point(o, obj, chosen, chosen_slot, &ok));
  r->start_loss = isfinite(ls->start_loss) ? ls->start_loss : best;
  if (!diverged && s->optimize.newton > 0 && r->ndim > 0)
    PL_TRY(pl_fit_newton(s, o, obj, csv, ls->total, opt->quiet, &best, &r->newton_steps, &r->newton_no_descent));
  pl_fit_curvature c;
  int have_c = 0;
  if (!diverged && s->optimize.uncertainty && r->ndim > 0) {
    pl_status st = pl_fit_curvature_at(s, o, obj, &c);
    if (st == PL_OK) have_c = 1;
    else PL_WARN("%s", pl_last_error());
    pl_clear_error();
  }
  if (have_c) {
    *loss = c.terms;
    r->has_curvature = 1;
    for (int d = 0; d < r->ndim; ++d)
      r->se[d] = c.se[d], r->se_u[d] = c.se_u[d], r->newton[d] = c.newton[d], r->gradient[d] = c.g[d];
    memcpy(r->hessian, c.H, sizeof(double) * (size_t)(r->ndim * r->ndim));
    memcpy(r->corr, c.corr, sizeof(double) * (size_t)(r->ndim * r->ndim));
  } else {
    PL_TRY(obj->eval(obj->user, o, "all", 0, loss));
  }
  r->best_loss = loss->total;
  for (int d = 0; d < r->ndim; ++d) r->value[d] = pl_param_value(&o->p[param[d]], comp[d]);
  double fall = ls->nhist > 1 && ls->hist[0] > 0 ? (ls->hist[0] - ls->hist[ls->nhist - 1]) / ls->hist[0] : 0;
  r->stopped_early = ls->stopped_early;
  r->iterations = ls->total;
  pl_fit_decide(s, r, have_c ? &c : NULL, diverged, why, fall, ls->nhist > 1 ? ls->nhist - 1 : 0);
  /* error bars smaller than the values' own recent movement describe the residual, not the distance to a minimum */
  recent_change(csv, o, param, comp, r->ndim, ls->nhist > 2 ? ls->nhist : 2, r);
  r->se_below_change = 0;
  if (r->has_curvature && r->change_rows > 1)
    for (int d = 0; d < r->ndim; ++d) r->se_below_change |= isfinite(r->se[d]) && r->se[d] < r->change[d];
  return PL_OK;
}

pl_status pl_fit(const pl_scene *s, pl_optimizer *o, const pl_objective *obj, const pl_fit_options *opt,
                 pl_fit_result *res) {
  memset(res, 0, sizeof *res);
  if (o->n == 0 && !obj->own_values)
    return pl_fail(PL_ERR_INVALID, "%s: nothing to optimise: add a [param ADDRESS] section", s->path);
  char csv[PL_PATH_MAX + 32], state[PL_PATH_MAX + 32], result[PL_PATH_MAX + 32], png[PL_PATH_MAX + 32];
  PL_TRY(pl_mkdirs(opt->output));
  int stale = pl_remove_stale_tmp(opt->output); /* left by a killed run */
  if (stale) PL_INFO("removed %d temporary file%s left in %s by a killed run", stale, stale == 1 ? "" : "s", opt->output);
  snprintf(csv, sizeof csv, "%s/fit.csv", opt->output);
  snprintf(state, sizeof state, "%s/state.json", opt->output);
  snprintf(result, sizeof result, "%s/result.json", opt->output);
  snprintf(png, sizeof png, "%s/loss.png", opt->output);

  pl_optimizer start = *o;
  start.p = (pl_param *)malloc(sizeof(pl_param) * (size_t)(o->n > 0 ? o->n : 1));
  if (!start.p) return pl_fail(PL_ERR_NOMEM, "out of memory");
  memcpy(start.p, o->p, sizeof(pl_param) * (size_t)o->n);

  loop_state ls;
  memset(&ls, 0, sizeof ls);
  pl_fit_scene_hash(s, ls.scene_hash);
  ls.best_loss = INFINITY;
  ls.start_loss = NAN;
  int diverged = 0;
  char why[320] = "";
  pl_status st = PL_OK;
  if (opt->resume && access(state, R_OK) == 0) {
    char *extra = NULL;
    st = pl_optimizer_load(o, state, &extra);
    if (st == PL_OK) st = extra ? loop_from_json(&ls, extra, s, state) : pl_fail(PL_ERR_PARSE, "%s: no loop state", state);
    free(extra);
    if (st == PL_OK) st = check_resumed_optimizer(o, &ls, state);
    if (st != PL_OK) goto done;
    PL_INFO("resuming %s at iteration %ld (stage %d)", s->path, ls.total, ls.stage);
    st = csv_truncate(csv, ls.total);
    if (st != PL_OK) goto done;
  } else {
    if (opt->resume) PL_INFO("--resume: no saved state in %s; starting from the beginning", opt->output);
    pl_out h;
    st = pl_out_open(&h, csv, 0);
    if (st != PL_OK) goto done;
    csv_header(h.f, o);
    st = pl_out_commit(&h);
    if (st != PL_OK) goto done;
    st = fit_start(s, o, obj, opt, &ls);
    if (st != PL_OK) goto done;
  }

  long total_planned = 0;
  for (int k = 0; k < nstages(s); ++k) total_planned += stage_iterations(s, k);
  pl_progress bar;
  pl_progress_begin(&bar, "optimize", total_planned, opt->quiet);
  double t0 = pl_now();
  long run_iters = 0;
  unsigned char *active = (unsigned char *)calloc((size_t)o->n + 1, 1);
  long *zero_grad = (long *)calloc((size_t)o->n + 1, sizeof(long)); /* iterations with an exactly zero gradient */
  if (st == PL_OK && obj->load && opt->resume && access(state, R_OK) == 0) st = obj->load(obj->user, opt->output);
  if (!active || !zero_grad || st != PL_OK) {
    if (st == PL_OK) st = pl_fail(PL_ERR_NOMEM, "out of memory");
    free(active);
    free(zero_grad);
    goto done;
  }
  pl_loss_value loss;
  memset(&loss, 0, sizeof loss);
  int patience = s->optimize.patience > MAX_PATIENCE ? MAX_PATIENCE : s->optimize.patience;
  for (; ls.stage < nstages(s) && st == PL_OK; ls.stage++, ls.in_stage = 0) {
    if (ls.in_stage == 0) ls.nhist = 0, ls.nbest = 0, ls.best_loss = INFINITY; /* a new stage (not a resumed one) */
    const char *sname = stage_name(s, ls.stage);
    long iters = stage_iterations(s, ls.stage);
    int any = obj->own_values; /* the objective's own values learn in every stage */
    for (int i = 0; i < o->n; ++i) any |= active[i] = (unsigned char)pl_param_in_stage(&o->p[i], sname);
    if (!any) {
      PL_WARN("stage '%s' has no learnable parameter; skipped", sname);
      ls.total += iters - ls.in_stage;
      continue;
    }
    for (; ls.in_stage < iters; ) {
      if (opt->stop_after && run_iters >= opt->stop_after) {
        st = pl_fail(PL_ERR_INTERNAL, "stopped after %ld iterations (test hook)", run_iters);
        goto loop_end;
      }
      for (int i = 0; i < o->n; ++i) memset(o->p[i].grad, 0, sizeof o->p[i].grad);
      st = obj->eval(obj->user, o, stage_frames(s, ls.stage), 1, &loss);
      if (st != PL_OK) {
        pl_fail_context(st, "iteration %ld: ", ls.total);
        goto loop_end;
      }
      pl_fit_watch_gradients(o, active, zero_grad, ls.total);
      if (opt->check_grad && obj->check && ls.total == opt->check_grad_at) {
        st = obj->check(obj->user, o, stage_frames(s, ls.stage));
        if (st != PL_OK) {
          pl_fail_context(st, "--check-grad at iteration %ld: ", ls.total);
          goto loop_end;
        }
      }
      double lrf = pl_lr_factor(s->optimize.schedule, s->optimize.lr_final, ls.in_stage, iters);
      /* the row records the parameters at which the loss was evaluated */
      FILE *f = fopen(csv, "a");
      if (!f) {
        st = pl_fail(PL_ERR_IO, "%s: cannot append", csv);
        goto loop_end;
      }
      fprintf(f, "%ld,%s,%.9g,%.9g,%.9g,%.9g,%.9g,%.6g", ls.total, sname[0] ? sname : "-", loss.total, loss.term[0],
              loss.term[1], loss.term[2], loss.term[3], lrf);
      for (int i = 0; i < o->n; ++i)
        for (int k = 0; k < o->p[i].components; ++k) fprintf(f, ",%.9g", pl_param_value(&o->p[i], k));
      for (int i = 0; i < o->n; ++i) {
        double g = 0;
        for (int k = 0; k < o->p[i].components; ++k) g += o->p[i].grad[k] * o->p[i].grad[k];
        fprintf(f, ",%.6g", sqrt(g));
      }
      fprintf(f, ",%.3f\n", ls.seconds + pl_now() - t0);
      int bad = ferror(f);
      if (fclose(f) != 0 || bad) {
        st = pl_fail(PL_ERR_IO, "%s: write failed", csv);
        goto loop_end;
      }
      if (!isfinite(loss.total)) {
        diverged = 1;
        snprintf(why, sizeof why, "iteration %ld: the loss is not finite", ls.total);
        goto loop_end;
      }
      for (int i = 0; i < o->n; ++i)
        if (active[i])
          for (int k = 0; k < o->p[i].components; ++k)
            if (!isfinite(o->p[i].grad[k])) {
              diverged = 1;
              snprintf(why, sizeof why, "iteration %ld: the gradient of %s is not finite", ls.total, o->p[i].address);
              goto loop_end;
            }
      if (loss.total < ls.best_loss) { /* the best point of this stage, before the step moves it */
        ls.nbest = pack_u(o, ls.best_u);
        ls.best_loss = ls.nbest >= 0 ? loss.total : INFINITY;
        if (ls.nbest >= 0 && obj->own_values && obj->keep && (st = obj->keep(obj->user, PL_FIT_KEEP_BEST)) != PL_OK)
          goto loop_end;
      }
      pl_optimizer_step(o, active, lrf * stage_lr(s, ls.stage));
      if ((st = check_stepped(o, ls.total)) != PL_OK) goto loop_end;
      if (obj->step && (st = obj->step(obj->user, lrf * stage_lr(s, ls.stage))) != PL_OK) goto loop_end;
      ls.in_stage++;
      ls.total++;
      run_iters++;
      /* early stop on the relative improvement over `patience` iterations */
      if (ls.nhist == patience + 1) {
        memmove(ls.hist, ls.hist + 1, sizeof(double) * (size_t)patience);
        ls.nhist--;
      }
      ls.hist[ls.nhist++] = loss.total;
      int stop = 0;
      if (s->optimize.early_stop > 0 && ls.nhist == patience + 1) {
        double old = ls.hist[0], now = ls.hist[patience];
        if (old - now < s->optimize.early_stop * fabs(old)) stop = 1;
      }
      /* save after every finished iteration: resume continues from here */
      ls.seconds += pl_now() - t0;
      t0 = pl_now();
      char *extra = loop_json(&ls);
      if (stop) {
        ls.stopped_early = 1;
        free(extra);
        ls.in_stage = iters; /* the stage is over */
        extra = loop_json(&ls);
      }
      if (obj->save) st = obj->save(obj->user, opt->output);
      if (st == PL_OK) st = pl_optimizer_save(o, state, extra);
      free(extra);
      if (st != PL_OK) goto loop_end;
      char msg[160];
      int w = snprintf(msg, sizeof msg, "loss %.4g", loss.total);
      for (int i = 0; i < o->n && i < 3 && w < (int)sizeof msg - 40; ++i)
        w += snprintf(msg + w, sizeof msg - (size_t)w, "  %s %.4g", strrchr(o->p[i].address, '.') + 1,
                      pl_param_value(&o->p[i], 0));
      pl_progress_update(&bar, ls.total, msg);
      if (stop) {
        PL_INFO("stage %s: early stop at iteration %ld (loss improved by < %g over %d iterations)",
                sname[0] ? sname : "(main)", ls.total, s->optimize.early_stop, patience);
        break;
      }
    }
  }
loop_end:
  pl_progress_end(&bar);
  free(active);
  if (st != PL_OK) {
    free(zero_grad);
    goto done;
  }
  /* the reported point, the checks after the fit (fit_global.h), then the report */
  st = fit_finish(s, o, obj, opt, &ls, diverged, why, csv, &loss, res);
  if (st != PL_OK) {
    free(zero_grad);
    goto done;
  }
  ls.seconds += pl_now() - t0;
  st = write_result(s, o, &start, &ls, &loss, zero_grad, res, result);
  free(zero_grad);
  if (st == PL_OK) st = write_loss_curve(csv, png, s->optimize.loss_weight);
  if (st == PL_OK) st = write_correlation_png(opt->output, res);
  if (st == PL_OK && obj->write_images) st = obj->write_images(obj->user, o, opt->output);
  res->iterations = ls.total;
  res->final_loss = res->best_loss;
  res->stopped_early = ls.stopped_early;
  res->seconds = ls.seconds;
done:
  free(start.p);
  return st;
}
