/* fit_global.h: what the gradient loop of fit.c cannot do alone: start from far away, follow a valley, and say
 * how well the fit is determined and whether it converged.
 *
 *  - Scan (the global stage, before Adam): a grid of optimize.scan points per learnable value over its range
 *    (log space: start / scan_range .. start * scan_range, geometric; bounded: lo .. hi in the logit space, the
 *    ends left out; linear values are not scanned), forward passes only, on optimize.scan_frames. Each of
 *    optimize.scan_levels passes zooms around the best point of the one before (to +-1 grid step), and the fit
 *    starts from the best point found. scan.csv holds every evaluated point.
 *  - Curvature: the Hessian of the loss in the step space u (log / logit / linear) from central differences of the
 *    adjoint gradient, H[:, j] = (g(u + h e_j) - g(u - h e_j)) / 2h, 2n gradient evaluations for n values; the
 *    gradient at u is taken as their mean (an O(h^2) estimate). From it: the Newton step -H^-1 g (the
 *    convergence test) and the covariance of the fitted values (below).
 *  - Newton (optimize.newton steps after Adam): damped Newton (Levenberg-Marquardt) steps u <- u - (H + lambda I)^-1 g,
 *    each capped at 1 in every step-space value, taken only when the loss falls; it follows curved valleys (E and
 *    yield stress, E and nu) along which Adam's per-coordinate steps stall.
 *
 * Standard errors. Near the fitted point a target-noise perturbation moves the minimum by -H^-1 dg (dg: the
 * noise's change of the gradient), so Cov(u) = H^-1 G H^-1 with G = Cov(dg). For N residuals r_i of noise
 * sigma and a loss w1 * mean|r| + w2 * mean r^2: G = v / N^2 J^T J with v = w1^2 + 4 w1 w2 sigma sqrt(2/pi) +
 * 4 w2^2 sigma^2, and the Hessian's residual part is (2 p0 w1 + 2 w2) / N J^T J (p0 = 1/(sigma sqrt(2 pi)), the
 * noise density at 0). Taking G proportional to H, Cov(u) = kappa H^-1 with kappa = v / (N (2 p0 w1 + 2 w2)).
 * l1 alone: kappa = (pi/2) w1 mean|r| / N; l2 alone: kappa = 2 w2 mean r^2 / N (the Gauss-Newton estimate
 * sigma^2 (J^T J)^-1). sigma comes from the residual at the fitted point (sqrt of the l2 term, else
 * sqrt(pi/2) x the l1 term). The mask and DSSIM terms add curvature but no noise (targets' alpha is exact).
 * Physical values: Cov(theta) = D Cov(u) D with D = dtheta/du. */
#ifndef PL_FIT_GLOBAL_H
#define PL_FIT_GLOBAL_H

#include "pipeline/fit/fit.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_FIT_MAX_DIM 12

typedef struct {
  int n;                               /* step-space values: every component of every learnable (not frozen) param */
  int param[PL_FIT_MAX_DIM], comp[PL_FIT_MAX_DIM];
  double h;                            /* finite-difference step in u */
  double loss;                         /* loss at the point (all frames) */
  pl_loss_value terms;
  double g[PL_FIT_MAX_DIM];            /* dL/du at the point */
  double H[PL_FIT_MAX_DIM * PL_FIT_MAX_DIM];
  int positive;                        /* H is positive definite */
  double newton[PL_FIT_MAX_DIM];       /* -H^-1 g in u (when positive) */
  double kappa;                        /* Cov(u) = kappa H^-1; < 0 when the residual count is unknown */
  double value[PL_FIT_MAX_DIM];        /* physical value */
  double se[PL_FIT_MAX_DIM];           /* standard error of the physical value (when positive and kappa >= 0) */
  double se_u[PL_FIT_MAX_DIM];         /* standard error in u (relative error of a log value) */
  double corr[PL_FIT_MAX_DIM * PL_FIT_MAX_DIM];
  int evaluations;                     /* gradient evaluations spent */
} pl_fit_curvature;

/* The global scan; moves o's values to the best point found (or leaves them when the start is best).
 * Writes `csv` (every point: index, level, loss, values). *best_loss: the loss of the chosen point. */
pl_status pl_fit_scan(const pl_scene *s, pl_optimizer *o, const pl_objective *obj, const char *csv, int quiet,
                      double *best_loss);

/* Curvature at o's current values (restored on return); the loss on "all" frames. */
pl_status pl_fit_curvature_at(const pl_scene *s, pl_optimizer *o, const pl_objective *obj, pl_fit_curvature *c);

/* *no_descent: 0, or (when the steps ended because no damped step lowered the loss, down to a step of nearly
 * steepest descent) the largest step-space change of the smallest step tried: a minimum to that resolution. */
/* optimize.newton damped Newton steps from o's values; *loss (in: the loss at the start, "all" frames; out: at the
 * end). Appends a row per step to `csv` (fit.csv's layout, stage "newton", iterations from first_iteration). */
pl_status pl_fit_newton(const pl_scene *s, pl_optimizer *o, const pl_objective *obj, const char *csv,
                        long first_iteration, int quiet, double *loss, int *steps_taken, double *no_descent);

/* The learnable step-space values (param index, component); fails past PL_FIT_MAX_DIM. */
pl_status pl_fit_dims(const pl_optimizer *o, int *param, int *comp, int *n);

/* The verdict of a finished fit (fit.h), from r's losses, the curvature at the reported point (NULL: none),
 * whether the last stage stopped early and the loss's relative fall over its last `window` iterations.
 * `diverged` (with its reason) comes from the loop (a non-finite loss or gradient). */
void pl_fit_decide(const pl_scene *s, pl_fit_result *r, const pl_fit_curvature *c, int diverged, const char *why,
                   double recent_fall, int window);
/* result.json's verdict, best/last points and uncertainty (added to the object j, a cJSON *). */
void pl_fit_result_json(void *j, const pl_fit_result *r);
/* The verdict and the standard errors on stderr. */
void pl_fit_print_summary(const pl_fit_result *r);

/* Cholesky solve of (A + lambda I) x = b (n x n, row-major); returns 0 when not positive definite. Exposed for
 * tests. */
int pl_fit_solve_spd(int n, const double *A, double lambda, const double *b, double *x);

#ifdef __cplusplus
}
#endif
#endif
