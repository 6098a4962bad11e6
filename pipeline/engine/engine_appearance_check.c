/* engine_appearance_check.c: the gradient check of sampled per-Gaussian colours and opacity offsets against
 * central differences of the objective (engine_objective.h: pl_engine_appearance_check). Apart from
 * engine_appearance.c because it evaluates the objective (engine_objective.c), which sits above the engine whose
 * appearance state engine_appearance.c keeps. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "pipeline/engine/engine_appearance_internal.h"
#include "pipeline/engine/engine_objective.h"
#include "pipeline/engine/engine_trace.h"

/* ------------------------------------------------------------------ gradient check of sampled entries */

double pl_appearance_check_fault = 1.0;

static pl_status set_entry(pl_engine *e, real *buf, size_t i, real v) {
  pl_buffer b = view(e, buf + i, 1);
  return pl_buffer_upload(&b, 0, &v, sizeof v);
}

pl_status pl_engine_appearance_check(pl_engine *e, pl_optimizer *o, double rel_step, double tol, int samples,
                                     pl_gc_row *rows, int max, int *nrows) {
  *nrows = 0;
  if (!pl_engine_learns_appearance(e)) return PL_OK;
  const pl_scene *s = e->scene;
  size_t m = (size_t)e->m;
  pl_loss_value base;
  PL_TRY(pl_engine_checked_eval(e, o, "all", 1, &base));
  double loss_scale = fmax(fabs(base.total), 1e-30);
  appearance *a = NULL;
  PL_TRY(engine_appearance_state(e, &a));
  real *cbuf, *bbuf;
  ups_param_buffers(e->ups, &cbuf, &bbuf);
  ups_grads g;
  ups_get_grads(e->ups, &g);
  for (int kind = 0; kind < 2; ++kind) {
    int on = kind == 0 ? s->upsample.learn_colors : s->upsample.learn_opacities;
    if (!on) continue;
    size_t n = kind == 0 ? 3 * m : m;
    real *vals = kind == 0 ? a->c : a->b, *grads = kind == 0 ? a->gc : a->gb, *buf = kind == 0 ? cbuf : bbuf;
    pl_buffer vv = view(e, buf, n), vg = view(e, kind == 0 ? g.colors : g.opacity_offsets, n);
    PL_TRY(pl_buffer_download(&vv, 0, vals, n * sizeof(real)));
    PL_TRY(pl_buffer_download(&vg, 0, grads, n * sizeof(real)));
    if (pl_appearance_check_fault != 1.0)
      for (size_t i = 0; i < n; ++i) grads[i] = (real)(grads[i] * pl_appearance_check_fault);
    /* the entries with the largest adjoints (a colour at 0 or 1 sits on the clamp's kink: skipped) */
    int picked = 0;
    size_t *idx = (size_t *)malloc(sizeof(size_t) * (size_t)(samples > 0 ? samples : 1));
    if (!idx) return pl_fail(PL_ERR_NOMEM, "out of memory");
    for (int q = 0; q < samples; ++q) {
      double best = 0;
      size_t bi = n;
      for (size_t i = 0; i < n; ++i) {
        if (kind == 0 && !(vals[i] > 0.01 && vals[i] < 0.99)) continue;
        int dup = 0;
        for (int r = 0; r < picked; ++r) dup |= idx[r] == i;
        if (!dup && fabs((double)grads[i]) > best) best = fabs((double)grads[i]), bi = i;
      }
      if (bi == n) break;
      idx[picked++] = bi;
    }
    pl_status st = PL_OK;
    for (int q = 0; q < picked && st == PL_OK; ++q) {
      if (*nrows == max) break;
      size_t i = idx[q];
      pl_gc_row *r = &rows[(*nrows)++];
      memset(r, 0, sizeof *r);
      if (kind == 0) snprintf(r->name, sizeof r->name, "gaussian[%zu].color.%c", i / 3, "rgb"[i % 3]);
      else snprintf(r->name, sizeof r->name, "gaussian[%zu].opacity_offset", i);
      r->value = (double)vals[i];
      r->adjoint = (double)grads[i];
      /* A per-Gaussian value moves the loss little: the loss's rounding (about eps |L| per evaluation) over a step
       * h gives the difference an error of eps |L| / h against a signal |g|. The first step makes the change
       * |g| h at least 1e4 eps |L| (float: 1e-3 |L|; double: the relative step decides), capped where the value
       * stops being smooth (a colour inside [0, 1], an opacity offset within 1 in logit); then larger and
       * smaller ones. Differences at h, h/2 and h/4, extrapolated twice (Richardson): R1 from (h, h/2), R2 from
       * (h/2, h/4); the difference is R2 and its uncertainty |R2 - R1| (at a large step the plain |d(h) - d(h/2)|
       * measures the truncation that the extrapolation removes). A verdict counts only when the uncertainty is
       * itself within the tolerance (an uncertainty as large as the error would let a 10 % error pass). */
      /* Branch-aware (CPU backend, engine_trace.h): the + and - evaluations record their branches (return maps,
       * contacts, L1 residual signs); a step whose differences straddle a change is not judged, the next is 8
       * times smaller (down to h_base / 4096) and no step at or above it is tried again; NON-SMOOTH when no
       * branch-free step was conclusive (as pl_gradcheck). */
      static const double ladder[4] = {1, 4, 0.25, 16};
      const int traced = pl_engine_can_trace(e), aware = traced && sizeof(real) == sizeof(double);
      pl_gc_row first = *r;
      first.traced = traced ? (aware ? 1 : 2) : 0;
      double h_base = fmax(rel_step * fmax(fabs(r->value), 0.1),
                           1e4 * PL_REAL_EPS * loss_scale / fmax(fabs(r->adjoint), 1e-300));
      pl_gc_search search;
      pl_gc_search_init(&search, &first, h_base, ladder, 8, 1.0 / 4096);
      for (int at = 0; at < 8 && st == PL_OK; ++at) {
        double h = pl_gc_search_next(&search), d[3];
        int64_t ch[3] = {0, 0, 0};
        if (h == 0) break;
        if (kind == 0) h = fmin(h, 0.25 * fmin(r->value, 1 - r->value));
        else h = fmin(h, 1.0);
        for (int p = 0; p < 3 && st == PL_OK; ++p) {
          double hh = h / (1 << p), lp = 0, lm = 0;
          pl_loss_value v;
          st = set_entry(e, buf, i, (real)(r->value + hh));
          if (st == PL_OK && traced) st = pl_engine_trace(e, 0);
          if (st == PL_OK) st = pl_engine_checked_eval(e, o, "all", 0, &v), lp = v.total;
          if (st == PL_OK) st = set_entry(e, buf, i, (real)(r->value - hh));
          if (st == PL_OK && traced) st = pl_engine_trace(e, 1);
          if (st == PL_OK) st = pl_engine_checked_eval(e, o, "all", 0, &v), lm = v.total;
          if (traced) {
            pl_status st2 = pl_engine_trace(e, -1);
            pl_branch_changes c;
            if (st == PL_OK) st = st2;
            if (st == PL_OK) st = pl_engine_trace_diff(e, 0, 1, &c);
            if (st == PL_OK) {
              if (c.particles > ch[0]) ch[0] = c.particles;
              if (c.nodes > ch[1]) ch[1] = c.nodes;
              if (c.residuals > ch[2]) ch[2] = c.residuals;
            }
          }
          d[p] = (lp - lm) / (2 * hh);
        }
        if (st != PL_OK) break;
        pl_gc_row trial = first;
        trial.step = h;
        memcpy(trial.branches, ch, sizeof ch);
        int last_crossed = aware && ch[0] + ch[1] + ch[2] > 0; /* float: recorded, not avoided (pl_gradcheck) */
        double r1 = (4 * d[1] - d[0]) / 3, r2 = (4 * d[2] - d[1]) / 3;
        trial.fd = r2;
        double u = fabs(r2 - r1);
        pl_gc_judge_u(&trial, u, loss_scale, tol, 1e-12);
        double sc = fmax(fmax(fabs(trial.adjoint), fabs(trial.fd)), 1e-300);
        /* ok only when the uncertainty is within the tolerance, with the noise allowance capped at it: no error
         * beyond twice the tolerance passes (a 10 % error fails in float, tolerance 3 %) */
        if (trial.verdict == PL_GC_OK || trial.verdict == PL_GC_MISMATCH) {
          double err = fabs(trial.adjoint - trial.fd);
          if (u > tol * sc) trial.verdict = PL_GC_NOISY;
          else trial.verdict = err <= tol * sc + fmin(2 * u, tol * sc) ? PL_GC_OK : PL_GC_MISMATCH;
        }
        if (last_crossed) { /* straddles a branch change: not judged */
          pl_gc_search_straddled(&search, trial, 1);
          continue;
        }
        if (pl_gc_search_judged(&search, &trial, u)) break;
      }
      *r = pl_gc_search_result(&search);
      pl_status st2 = set_entry(e, buf, i, vals[i]);
      if (st == PL_OK) st = st2;
    }
    free(idx);
    PL_TRY(st);
  }
  return PL_OK;
}
