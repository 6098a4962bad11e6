/* gradcheck.h: every learnable parameter's adjoint gradient against central finite differences.
 *
 * For each parameter component: the adjoint dL/dtheta (one evaluation with gradients), and the central
 * difference (L(theta + h) - L(theta - h)) / 2h with h = rel_step * max(|theta|, floor), Richardson-extrapolated
 * with h/2. Verdicts:
 *   ok          relative error <= tolerance (or both below the noise floor: see below)
 *   mismatch    relative error > tolerance
 *   no gradient the adjoint is exactly zero while the finite difference is not: a cut gradient (a bug)
 *   frozen      the parameter is declared frozen (or learns in no stage): reported, not a failure
 * A parameter whose adjoint and finite difference are both below `abs_floor` * (loss scale) is reported
 * "insensitive": the loss does not depend on it in this scene (a bug in the scene, not in the adjoint), and it
 * counts as bad too, so that a learnable parameter that gets no signal is always reported. */
#ifndef PL_GRADCHECK_H
#define PL_GRADCHECK_H

#include <stdio.h>

#include "pipeline/fit/fit.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  PL_GC_OK = 0,
  PL_GC_MISMATCH,
  PL_GC_NO_GRADIENT,
  PL_GC_INSENSITIVE,
  PL_GC_FROZEN,
  PL_GC_BELOW_NOISE, /* a sampled stage input the loss barely depends on (occluded, interior): not checked */
  PL_GC_NOISY,       /* the finite differences at every step tried disagree by more than a quarter: not checkable */
  PL_GC_NONSMOOTH_AGREES, /* "non-smooth": every step tried straddles a branch change, but the difference of the
                           * smallest agrees with the adjoint (tolerance + 2u): the kinks crossed do not show at
                           * the tolerance; reported with the counts, not a failure (as "below noise") */
  PL_GC_NONSMOOTH    /* every step tried straddles a branch change (return map, contact, L1 sign) and no
                      * branch-free step was conclusive: the loss is not smooth at this point on the steps that
                      * resolve it (a failure, with the counts of the branches that changed) */
} pl_gc_verdict;

typedef struct {
  char name[224];       /* address (with .x/.y/.z for vectors) */
  double value, adjoint, fd, rel_error;
  double fd_err;        /* measured uncertainty of fd, |d(h) - d(h/2)| (0: not measured) */
  pl_gc_verdict verdict;
  double step;          /* the step h of the difference reported (0: none) */
  int traced;           /* the objective recorded its branches (pl_objective.trace): 1 and avoided steps that
                         * straddled a change (double), 2 recorded only (float: no step below the rounding floor) */
  int64_t branches[3];  /* traced: entities whose branches differed between the + and - evaluations of the
                         * difference reported (particles' return maps, grid nodes' contacts, L1 residual signs) */
  int steps_crossing;   /* traced: how many of the steps tried straddled a branch change (and were not used) */
  double cross_step;    /* traced: the smallest step that straddled one (0: none), and its branch counts */
  int64_t cross_branches[3];
  int one_sided;        /* traced, double: the central difference straddled a kink at the point itself, and fd is
                         * the one-sided difference on the side that kept the base point's branches (+1 or -1) */
} pl_gc_row;

typedef struct {
  double rel_step;      /* pl_gc_defaults: 1e-5 in double, 3e-3 in float */
  double tolerance;     /* default 1e-4 */
  double abs_floor;     /* default 1e-12 */
  const char *frames;   /* frame selection for the loss ("all") */
} pl_gc_options;

/* Fills rows[0..*nrows-1] (room for max rows); returns PL_OK even when verdicts are bad (see pl_gc_all_ok). */
pl_status pl_gradcheck(const pl_scene *s, pl_optimizer *o, const pl_objective *obj, const pl_gc_options *opt,
                       pl_gc_row *rows, int max, int *nrows);
int pl_gc_all_ok(const pl_gc_row *rows, int n);
/* Verdict with a measured uncertainty u of the finite difference (|d(h) - d(h/2)|: rounding noise and truncation
 * together): ok when |adjoint - fd| <= tolerance * scale + 2u; NOISY when u > scale / 4; INSENSITIVE when the
 * sensitivity |g| max(|theta|, 1e-3) / |L| is below abs_floor, or the adjoint is 0 and |fd| <= 2u. */
void pl_gc_judge_u(pl_gc_row *r, double u, double loss_scale, double tolerance, double abs_floor);

/* The step search every check shares (pl_gradcheck, the stage checks, the per-Gaussian checks). Steps h0 x
 * ladder[0..3] are tried in turn until one is ok; after a step that straddled a branch change (a traced check),
 * smaller steps only: the smallest straddling step / shrink, down to floor x h0, and no step at or above it again.
 * The verdict comes from the branch-free steps: an ok one, else the first conclusive (ok or MISMATCH) with the
 * smallest relative uncertainty, else the best-determined; when none is conclusive and a step straddled, the
 * straddle on record (with its counts). Use: init; loop { h = next (0: done); difference at h; then straddled,
 * or [one_sided and] judged (1: done) }; result. */
typedef struct {
  const double *ladder;
  double h0, shrink, floor, h_cross, best_u;
  int used[4], last_crossed, conclusive, have_cross, ncross;
  pl_gc_row best, cross;
} pl_gc_search;
void pl_gc_search_init(pl_gc_search *s, const pl_gc_row *start, double h0, const double ladder[4], double shrink,
                       double floor);
double pl_gc_search_next(pl_gc_search *s);
/* A difference (trial.step set) that straddled branch changes: not judged, smaller steps follow. fails: its
 * verdict is NON-SMOOTH when it disagrees ("non-smooth" when it agrees); 0: always "non-smooth". */
void pl_gc_search_straddled(pl_gc_search *s, pl_gc_row trial, int fails);
/* The judged trial is a one-sided difference taken because the central one at its step straddled: no step at or
 * above it again, and it stays on record as the straddle (NON-SMOOTH unless conclusive). Then pl_gc_search_judged. */
void pl_gc_search_one_sided(pl_gc_search *s, const pl_gc_row *trial);
/* A judged branch-free trial of uncertainty u; 1 when the search is over (ok or INSENSITIVE). */
int pl_gc_search_judged(pl_gc_search *s, const pl_gc_row *trial, double u);
pl_gc_row pl_gc_search_result(const pl_gc_search *s);
/* Default relative steps and tolerance of the precision the binary was built with. */
void pl_gc_defaults(double *param_step, double *stage_step, double *tolerance);
const char *pl_gc_verdict_name(pl_gc_verdict v);
void pl_gc_print(const pl_gc_row *rows, int n, FILE *f);

#ifdef __cplusplus
}
#endif
#endif
