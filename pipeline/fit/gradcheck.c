#include "pipeline/fit/gradcheck.h"

#include <math.h>
#include <string.h>

#include "core/hd.h"

const char *pl_gc_verdict_name(pl_gc_verdict v) {
  static const char *n[] = {"ok", "MISMATCH", "NO GRADIENT", "INSENSITIVE", "FROZEN", "below noise", "NOISY",
                            "non-smooth", "NON-SMOOTH"};
  return (v >= 0 && v <= PL_GC_NONSMOOTH) ? n[v] : "?";
}

void pl_gc_defaults(double *param_step, double *stage_step, double *tolerance) {
  int dbl = sizeof(real) == sizeof(double);
  if (param_step) *param_step = dbl ? 1e-5 : 3e-3;
  if (stage_step) *stage_step = dbl ? 1e-5 : 3e-3;
  if (tolerance) *tolerance = dbl ? 1e-4 : 3e-2;
}

static int learns_somewhere(const pl_scene *s, const pl_param *p) {
  if (p->frozen) return 0;
  if (s->nstages == 0) return 1;
  for (int k = 0; k < s->nstages; ++k)
    if (pl_param_in_stage(p, s->stages[k].name)) return 1;
  return 0;
}

/* loss at parameter i component k set to theta (physical value), other parameters unchanged */
static pl_status loss_at(pl_optimizer *o, const pl_objective *obj, const char *frames, int i, int k, double theta,
                         double *out) {
  pl_param *p = &o->p[i];
  double u0 = p->u[k];
  /* move in the physical space exactly: set u so that value(u) = theta */
  pl_status st = pl_space_from_value(p->space, p->lo, p->hi, theta, &p->u[k], p->address);
  if (st != PL_OK) return st;
  pl_loss_value v;
  st = obj->eval(obj->user, o, frames, 0, &v);
  p->u[k] = u0;
  *out = v.total;
  return st;
}

/* One difference of step h: central, or one-sided where the value sits within h of a bound of its space (a
 * viscosity or cohesion at 0): forward (-3 L(x) + 4 L(x + h) - L(x + 2h)) / 2h, second order like the central
 * one; backward mirrored. side: 0 central, 1 forward, -1 backward. With a traced objective, the two evaluations
 * record their branches (slots 0 and 1) and changes[] counts the entities whose branches differ between them;
 * with the base point recorded in slot 2 (vs_base), plus[] and minus[] count those that differ from the base's.
 * lp, lm: the two losses. */
typedef struct {
  double d, lp, lm;
  int64_t changes[3], plus[3], minus[3];
} difference_out;

static pl_status difference(pl_optimizer *o, const pl_objective *obj, const char *frames, int i, int k, double x,
                            double h, int side, double base, int vs_base, difference_out *out) {
  double a = 0, b = 0;
  memset(out, 0, sizeof *out);
  const int traced = obj->trace && obj->trace_diff;
  if (traced) PL_TRY(obj->trace(obj->user, 0));
  pl_status st = loss_at(o, obj, frames, i, k, side == 0 ? x + h : x + side * h, &a);
  if (traced && st == PL_OK) st = obj->trace(obj->user, 1);
  if (st == PL_OK) st = loss_at(o, obj, frames, i, k, side == 0 ? x - h : x + side * 2 * h, &b);
  if (traced) {
    pl_status st2 = obj->trace(obj->user, -1);
    if (st == PL_OK) st = st2;
    if (st == PL_OK) st = obj->trace_diff(obj->user, 0, 1, out->changes);
    if (st == PL_OK && vs_base) st = obj->trace_diff(obj->user, 0, 2, out->plus);
    if (st == PL_OK && vs_base) st = obj->trace_diff(obj->user, 1, 2, out->minus);
  }
  PL_TRY(st);
  out->lp = a;
  out->lm = b;
  out->d = side == 0 ? (a - b) / (2 * h) : side * (-3 * base + 4 * a - b) / (2 * h);
  return PL_OK;
}

static int64_t changes_total(const int64_t c[3]) { return c[0] + c[1] + c[2]; }

pl_status pl_gradcheck(const pl_scene *s, pl_optimizer *o, const pl_objective *obj, const pl_gc_options *opt,
                       pl_gc_row *rows, int max, int *nrows) {
  *nrows = 0;
  const char *frames = opt->frames ? opt->frames : "all";
  const int traced = obj->trace && obj->trace_diff;
  /* In float the steps cannot shrink below the rounding floor (1e-4 h0 is far below it): the branches are
   * recorded and reported, but not avoided (pl_gc_row.traced = 2). */
  const int aware = traced && sizeof(real) == sizeof(double);
  for (int i = 0; i < o->n; ++i) memset(o->p[i].grad, 0, sizeof o->p[i].grad);
  pl_loss_value base;
  PL_TRY(obj->eval(obj->user, o, frames, 1, &base));
  double loss_scale = fmax(fabs(base.total), 1e-30);
  /* Branch-aware: the base point's branches in slot 2 (and its loss from the same plain evaluation), for the
   * one-sided differences on the side that stays on the base's branches. */
  double base_plain = base.total;
  if (aware) {
    pl_loss_value bv;
    PL_TRY(obj->trace(obj->user, 2));
    pl_status st = obj->eval(obj->user, o, frames, 0, &bv);
    pl_status st2 = obj->trace(obj->user, -1);
    PL_TRY(st);
    PL_TRY(st2);
    base_plain = bv.total;
  }
  for (int i = 0; i < o->n; ++i) {
    pl_param *p = &o->p[i];
    for (int k = 0; k < p->components; ++k) {
      if (*nrows == max) return pl_fail(PL_ERR_LIMIT, "gradcheck: more than %d parameter components", max);
      pl_gc_row *r = &rows[(*nrows)++];
      memset(r, 0, sizeof *r);
      if (p->components == 1)
        snprintf(r->name, sizeof r->name, "%s", p->address);
      else
        snprintf(r->name, sizeof r->name, "%s.%c", p->address, "xyz"[k]);
      r->value = pl_param_value(p, k);
      r->adjoint = p->grad[k];
      r->traced = traced ? (aware ? 1 : 2) : 0;
      if (!learns_somewhere(s, p)) {
        r->verdict = PL_GC_FROZEN;
        continue;
      }
      /* step: relative to the value (1e-3 for a value at 0), kept inside the bounds of a bounded parameter;
       * a linear parameter at (or within a step of) its bound takes one-sided differences */
      const double h0 = opt->rel_step * fmax(fabs(r->value), 1e-3);
      /* Steps tried in turn until the verdict is ok: h0; h0/10 and h0/100 (a kink inside the interval, a plastic
       * return map or a contact changing branch in one particle, spoils the difference there; the adjoint is the
       * derivative of the branch the point is on); 10 h0 (rounding noise, which falls as 1/h). The uncertainty
       * of each is measured, |d(h) - d(h/2)|; the best-determined attempt is kept when none is ok.
       * Branch-aware (a traced objective): a difference whose + and - evaluations took different branches
       * anywhere (return map, contact, L1 sign) straddles a kink or a jump and is never judged; the next step is
       * ten times smaller (down to 1e-4 h0), and no step at or above one that straddled is tried again. Then
       * the verdict comes from branch-free steps only; when none was conclusive (ok or MISMATCH) and some
       * straddled, the row is NON-SMOOTH with the branch counts of the smallest step that straddled. */
      static const double ladder[4] = {1, 0.1, 10, 0.01};
      pl_gc_search search;
      pl_gc_search_init(&search, r, h0, ladder, 10, 1e-4);
      for (int attempt = 0; attempt < 8; ++attempt) {
        double h = pl_gc_search_next(&search);
        if (h == 0) break;
        int side = 0;
        if (p->space == PL_SPACE_BOUNDED) h = fmin(h, 0.25 * fmin(r->value - p->lo, p->hi - r->value));
        if (p->space == PL_SPACE_LOG) h = fmin(h, 0.25 * r->value);
        if (p->space == PL_SPACE_LINEAR) {
          if (r->value - 2 * h < p->lo) side = 1;
          else if (r->value + 2 * h > p->hi) side = -1;
          if (side && (r->value + side * 2 * h < p->lo || r->value + side * 2 * h > p->hi)) h *= 0.25;
        }
        if (!(h > 0)) break;
        difference_out d0, d1;
        PL_TRY(difference(o, obj, frames, i, k, r->value, h, side, base.total, aware, &d0));
        PL_TRY(difference(o, obj, frames, i, k, r->value, h / 2, side, base.total, aware, &d1));
        pl_gc_row trial = *r;
        trial.fd = (4 * d1.d - d0.d) / 3;
        trial.step = h;
        double u = fabs(d1.d - d0.d);
        for (int q = 0; q < 3; ++q) trial.branches[q] = d0.changes[q] > d1.changes[q] ? d0.changes[q] : d1.changes[q];
        int last_crossed = aware && changes_total(d0.changes) + changes_total(d1.changes) > 0;
        /* A kink at the point itself (a particle exactly on a return map's switching surface, as a sand particle
         * at rest with F = I sits on the apex plane tr(log F) = 0): every step straddles, however small, but one
         * side stays on the base's branches. The adjoint is the derivative of those branches, so the one-sided
         * difference on that side checks it: with f(s) = (L(x + s) - L(x)) / s (first order), the Richardson
         * values R(s) = 2 f(s/2) - f(s) are second order; fd = R(h/2), its uncertainty |R(h/2) - R(h)|. */
        int one_side = 0;
        if (last_crossed && side == 0) {
          if (changes_total(d0.plus) + changes_total(d1.plus) == 0) one_side = 1;
          else if (changes_total(d0.minus) + changes_total(d1.minus) == 0) one_side = -1;
        }
        if (one_side) { /* a third point, h/4, on the same side, traced against the base's branches too */
          int64_t c2[3] = {0, 0, 0};
          double l2 = 0;
          PL_TRY(obj->trace(obj->user, 0));
          pl_status st = loss_at(o, obj, frames, i, k, r->value + one_side * h / 4, &l2);
          pl_status st2 = obj->trace(obj->user, -1);
          PL_TRY(st);
          PL_TRY(st2);
          PL_TRY(obj->trace_diff(obj->user, 0, 2, c2));
          if (changes_total(c2) > 0) one_side = 0; /* (not expected: the side kept them at h and h/2) */
          else {
            double f0 = one_side * ((one_side > 0 ? d0.lp : d0.lm) - base_plain) / h;
            double f1 = one_side * ((one_side > 0 ? d1.lp : d1.lm) - base_plain) / (h / 2);
            double f2 = one_side * (l2 - base_plain) / (h / 4);
            double r1 = 2 * f1 - f0, r2 = 2 * f2 - f1;
            trial.fd = r2;
            u = fabs(r2 - r1);
            trial.one_sided = one_side;
            last_crossed = 0;
          }
        }
        pl_gc_judge_u(&trial, u, loss_scale, opt->tolerance, opt->abs_floor);
        if (last_crossed) { /* straddles a branch change: not judged (but kept: "non-smooth" when it agrees) */
          pl_gc_search_straddled(&search, trial, 1);
          continue;
        }
        /* one-sided: the central difference straddled, so no larger step is tried; on record as the straddle */
        if (one_side) pl_gc_search_one_sided(&search, &trial);
        if (pl_gc_search_judged(&search, &trial, u)) break;
      }
      *r = pl_gc_search_result(&search);
    }
  }
  return PL_OK;
}

void pl_gc_judge_u(pl_gc_row *r, double u, double loss_scale, double tolerance, double abs_floor) {
  double scale = fmax(fabs(r->adjoint), fabs(r->fd));
  double sens = scale * fmax(fabs(r->value), 1e-3) / loss_scale;
  r->rel_error = scale > 0 ? fabs(r->adjoint - r->fd) / scale : 0;
  r->fd_err = u;
  if (sens < abs_floor || (r->adjoint == 0 && fabs(r->fd) <= 2 * u))
    r->verdict = PL_GC_INSENSITIVE;
  else if (r->adjoint == 0 && r->fd != 0)
    r->verdict = PL_GC_NO_GRADIENT;
  else if (u > 0.25 * scale)
    r->verdict = PL_GC_NOISY;
  else
    /* the difference's own uncertainty is allowed on top of the relative tolerance: 2u, since u = |d(h) - d(h/2)|
     * is one sample of the noise, and the extrapolated (4 d(h/2) - d(h)) / 3 carries about 1.2 times its spread */
    r->verdict = fabs(r->adjoint - r->fd) <= tolerance * scale + 2 * u ? PL_GC_OK : PL_GC_MISMATCH;
}

int pl_gc_all_ok(const pl_gc_row *rows, int n) {
  for (int i = 0; i < n; ++i)
    if (rows[i].verdict != PL_GC_OK && rows[i].verdict != PL_GC_FROZEN && rows[i].verdict != PL_GC_BELOW_NOISE &&
        rows[i].verdict != PL_GC_NONSMOOTH_AGREES)
      return 0;
  return 1;
}

void pl_gc_print(const pl_gc_row *rows, int n, FILE *f) {
  fprintf(f, "%-36s %14s %14s %14s %10s %10s  %s\n", "parameter", "value", "adjoint", "finite diff.", "rel.err",
          "fd uncert.", "verdict");
  for (int i = 0; i < n; ++i) {
    const pl_gc_row *r = &rows[i];
    double sc = fmax(fabs(r->adjoint), fabs(r->fd));
    fprintf(f, "%-36s %14.6g %14.6g %14.6g %10.2e %10.2e  %s", r->name, r->value, r->adjoint, r->fd, r->rel_error,
            sc > 0 ? r->fd_err / sc : 0.0, pl_gc_verdict_name(r->verdict));
    int64_t nb = r->branches[0] + r->branches[1] + r->branches[2];
    /* the branch-aware note on a line of its own (the row itself still ends with its verdict) */
    if (r->verdict == PL_GC_NONSMOOTH || r->verdict == PL_GC_NONSMOOTH_AGREES)
      fprintf(f, "\n%-36s   not smooth here: %lld branch changes within +-%.3g, the smallest step tried that straddled "
              "(%lld particle branches, %lld contact nodes, %lld L1 residual signs)", "", (long long)nb, r->step,
              (long long)r->branches[0], (long long)r->branches[1], (long long)r->branches[2]);
    else if (r->traced == 2 && nb > 0)
      fprintf(f, "\n%-36s   %lld branch changes within +-%.3g (%lld particle branches, %lld contact nodes, %lld L1 residual "
              "signs; float: recorded, not avoided)", "", (long long)nb, r->step, (long long)r->branches[0],
              (long long)r->branches[1], (long long)r->branches[2]);
    else if (r->one_sided)
      fprintf(f, "\n%-36s   one-sided (%c) at step %.3g: the central difference straddles %lld branch changes there (%lld "
              "particle branches, %lld contact nodes, %lld L1 residual signs); the %c side keeps the base point's branches",
              "", r->one_sided > 0 ? '+' : '-', r->step, (long long)nb, (long long)r->branches[0],
              (long long)r->branches[1], (long long)r->branches[2], r->one_sided > 0 ? '+' : '-');
    else if (r->traced && r->steps_crossing > 0)
      fprintf(f, "\n%-36s   branch-aware: step %.3g; %d larger step%s straddled branch changes (at %.3g: %lld particle "
              "branches, %lld contact nodes, %lld L1 residual signs)", "", r->step, r->steps_crossing,
              r->steps_crossing > 1 ? "s" : "", r->cross_step, (long long)r->cross_branches[0],
              (long long)r->cross_branches[1], (long long)r->cross_branches[2]);
    fputc('\n', f);
  }
}

void pl_gc_search_init(pl_gc_search *s, const pl_gc_row *start, double h0, const double ladder[4], double shrink,
                       double floor) {
  memset(s, 0, sizeof *s);
  s->ladder = ladder, s->h0 = h0, s->shrink = shrink, s->floor = floor;
  s->h_cross = s->best_u = INFINITY;
  s->best = s->cross = *start;
}

double pl_gc_search_next(pl_gc_search *s) {
  if (s->last_crossed) {
    double h = s->h_cross / s->shrink;
    return h < 0.99 * s->floor * s->h0 ? 0 : h;
  }
  for (int q = 0; q < 4; ++q)
    if (!s->used[q] && s->ladder[q] * s->h0 < s->h_cross) {
      s->used[q] = 1;
      return s->ladder[q] * s->h0;
    }
  return 0;
}

void pl_gc_search_straddled(pl_gc_search *s, pl_gc_row trial, int fails) {
  s->h_cross = fmin(s->h_cross, trial.step);
  trial.verdict = (!fails || trial.verdict == PL_GC_OK) ? PL_GC_NONSMOOTH_AGREES : PL_GC_NONSMOOTH;
  s->cross = trial, s->have_cross = 1, s->last_crossed = 1;
  ++s->ncross;
}

void pl_gc_search_one_sided(pl_gc_search *s, const pl_gc_row *trial) {
  s->h_cross = fmin(s->h_cross, trial->step);
  s->cross = *trial, s->have_cross = 1;
  if (trial->verdict != PL_GC_OK && trial->verdict != PL_GC_MISMATCH) s->cross.verdict = PL_GC_NONSMOOTH;
  ++s->ncross;
}

int pl_gc_search_judged(pl_gc_search *s, const pl_gc_row *trial, double u) {
  s->last_crossed = 0;
  double scale = fmax(fmax(fabs(trial->adjoint), fabs(trial->fd)), 1e-300);
  int concl = trial->verdict == PL_GC_OK || trial->verdict == PL_GC_MISMATCH;
  if (trial->verdict == PL_GC_OK || (concl && !s->conclusive) || (concl == s->conclusive && u / scale < s->best_u)) {
    s->best = *trial, s->best_u = u / scale;
    s->conclusive |= concl;
  }
  if (trial->verdict == PL_GC_OK || trial->verdict == PL_GC_INSENSITIVE) {
    s->best = *trial, s->conclusive = 1;
    return 1;
  }
  return 0;
}

pl_gc_row pl_gc_search_result(const pl_gc_search *s) {
  pl_gc_row r = (!s->conclusive && s->have_cross) ? s->cross : s->best;
  r.steps_crossing = s->ncross;
  if (s->have_cross) r.cross_step = s->cross.step, memcpy(r.cross_branches, s->cross.branches, sizeof r.cross_branches);
  return r;
}
