#include "pipeline/gradcheck.h"

#include <math.h>
#include <string.h>

#include "core/hd.h"

const char *pl_gc_verdict_name(pl_gc_verdict v) {
  static const char *n[] = {"ok", "MISMATCH", "NO GRADIENT", "INSENSITIVE", "FROZEN", "below noise"};
  return (v >= 0 && v <= PL_GC_BELOW_NOISE) ? n[v] : "?";
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

pl_status pl_gradcheck(const pl_scene *s, pl_optimizer *o, const pl_objective *obj, const pl_gc_options *opt,
                       pl_gc_row *rows, int max, int *nrows) {
  *nrows = 0;
  const char *frames = opt->frames ? opt->frames : "all";
  for (int i = 0; i < o->n; ++i) memset(o->p[i].grad, 0, sizeof o->p[i].grad);
  pl_loss_value base;
  PL_TRY(obj->eval(obj->user, o, frames, 1, &base));
  double loss_scale = fmax(fabs(base.total), 1e-30);
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
      if (!learns_somewhere(s, p)) {
        r->verdict = PL_GC_FROZEN;
        continue;
      }
      /* step: relative to the value, kept inside the bounds of a bounded parameter */
      double h = opt->rel_step * fmax(fabs(r->value), 1e-3);
      if (p->space == PL_SPACE_BOUNDED) h = fmin(h, 0.25 * fmin(r->value - p->lo, p->hi - r->value));
      if (p->space == PL_SPACE_LOG) h = fmin(h, 0.25 * r->value);
      /* A kink inside [-h, h] (a plastic return map or a contact changing branch in one particle, a clamp)
       * spoils the difference there; the adjoint is the derivative of the branch the point is on. A mismatch is
       * retried with the interval 10x and 100x smaller, which a kink at a finite distance leaves. */
      for (int attempt = 0; attempt < 3; ++attempt, h *= 0.1) {
        double d[2];
        for (int q = 0; q < 2; ++q) {
          double hh = q ? h / 2 : h, lp, lm;
          PL_TRY(loss_at(o, obj, frames, i, k, r->value + hh, &lp));
          PL_TRY(loss_at(o, obj, frames, i, k, r->value - hh, &lm));
          d[q] = (lp - lm) / (2 * hh);
        }
        pl_gc_row trial = *r;
        trial.fd = (4 * d[1] - d[0]) / 3;
        pl_gc_judge(&trial, h, loss_scale, opt->tolerance, opt->abs_floor);
        if (attempt == 0 || trial.verdict == PL_GC_OK) *r = trial;
        if (r->verdict != PL_GC_MISMATCH) break;
      }
    }
  }
  return PL_OK;
}

/* The finite difference of a loss L with step h carries rounding noise of about eps |L| / h (times the number of
 * terms summed into L: 1e4 eps |L| / h is taken): a gradient below that cannot be checked, and one whose adjoint
 * and difference are both below it (or below abs_floor relative to the loss) is "insensitive". Otherwise the
 * verdict is ok when |adjoint - fd| <= tolerance max(|adjoint|, |fd|) + noise. */
void pl_gc_judge(pl_gc_row *r, double h, double loss_scale, double tolerance, double abs_floor) {
  double scale = fmax(fabs(r->adjoint), fabs(r->fd));
  double noise = 1e4 * PL_REAL_EPS * loss_scale / h;
  double sens = scale * fmax(fabs(r->value), 1e-3) / loss_scale;
  r->rel_error = scale > 0 ? fabs(r->adjoint - r->fd) / scale : 0;
  if (sens < abs_floor || scale < noise)
    r->verdict = PL_GC_INSENSITIVE;
  else if (r->adjoint == 0 && r->fd != 0)
    r->verdict = PL_GC_NO_GRADIENT;
  else
    /* the difference's own uncertainty (noise) is allowed on top of the relative tolerance */
    r->verdict = fabs(r->adjoint - r->fd) <= tolerance * scale + noise ? PL_GC_OK : PL_GC_MISMATCH;
}

int pl_gc_all_ok(const pl_gc_row *rows, int n) {
  for (int i = 0; i < n; ++i)
    if (rows[i].verdict != PL_GC_OK && rows[i].verdict != PL_GC_FROZEN && rows[i].verdict != PL_GC_BELOW_NOISE) return 0;
  return 1;
}

void pl_gc_print(const pl_gc_row *rows, int n, FILE *f) {
  fprintf(f, "%-36s %14s %14s %14s %10s  %s\n", "parameter", "value", "adjoint", "finite diff.", "rel.err", "verdict");
  for (int i = 0; i < n; ++i) {
    const pl_gc_row *r = &rows[i];
    fprintf(f, "%-36s %14.6g %14.6g %14.6g %10.2e  %s\n", r->name, r->value, r->adjoint, r->fd, r->rel_error,
            pl_gc_verdict_name(r->verdict));
  }
}
