/* fit.h: the optimisation loop of `pipeline optimize`, independent of what is being fitted.
 *
 * The loop runs the scene's stages in order (or one implicit stage of optimize.iterations), each with its own
 * frames and learning-rate scale; parameters learn in the stages their [param] section names. Each iteration
 * calls the objective (loss and dL/dtheta into o->p[i].grad), steps Adam, appends a CSV row (iteration,
 * stage, loss, loss terms, every parameter value and every gradient norm), and saves the whole state
 * atomically, so a run killed at any point resumes (--resume) from the last finished iteration and ends with
 * the same result. Early stop: a stage ends when the loss has improved by less than `early_stop` (relative)
 * over `patience` iterations. At the end: result.json (fitted values, start, truth and relative errors, loss,
 * time) and a loss-curve PNG; the objective draws the image strips. */
#ifndef PL_FIT_H
#define PL_FIT_H

#include "pipeline/engine/loss.h"
#include "pipeline/fit/optim.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  void *user;
  /* Loss of the current parameters (pl_param_value) on `frames` (a frame selection; "all" when there are no
   * stages) and, when want_grad, dL/dtheta into o->p[i].grad for every parameter. */
  pl_status (*eval)(void *user, pl_optimizer *o, const char *frames, int want_grad, pl_loss_value *loss);
  /* Optional: write the target | rendered | difference strips for the final parameters into `folder`. */
  pl_status (*write_images)(void *user, pl_optimizer *o, const char *folder);
  /* Optional: values the objective learns itself (per-Gaussian appearance): one step after each gradient
   * evaluation (lr_scale: schedule x stage factor), and their state for --resume (save after each iteration,
   * load when resuming). */
  pl_status (*step)(void *user, double lr_scale);
  pl_status (*save)(void *user, const char *folder);
  pl_status (*load)(void *user, const char *folder);
  /* Optional (optimize --check-grad N): check the gradient of the current point against finite differences
   * before iteration N's step, printing gradcheck's table. */
  pl_status (*check)(void *user, pl_optimizer *o, const char *frames);
  /* The objective learns values of its own (per-Gaussian appearance, E-field cells): a fit without any [param]
   * is then meaningful, and they learn in every stage. */
  int own_values;
  /* Optional, with own_values: the reported point covers them too. keep copies the current ones into a slot
   * (PL_FIT_KEEP_*: the stage's best point, the start, the last iterate), restore puts a slot's back (*restored
   * = 0 when the slot is empty); the save/load callbacks carry the kept slots across --resume. */
  pl_status (*keep)(void *user, int slot);
  pl_status (*restore)(void *user, int slot, int *restored);
  /* Optional (gradcheck's branch-aware differences, docs/adjoints.md "Branches and finite differences"): record
   * which branch each non-differentiable piece takes in the next evaluations into slot 0..2 (-1: stop
   * recording), and count the entities whose branches differ between two recorded slots: counts[0] particles
   * (plastic return maps), [1] grid nodes (contacts), [2] pixel channels (signs of the L1 residuals). */
  pl_status (*trace)(void *user, int slot);
  pl_status (*trace_diff)(void *user, int a, int b, int64_t counts[3]);
} pl_objective;

enum { PL_FIT_KEEP_BEST = 0, PL_FIT_KEEP_START = 1, PL_FIT_KEEP_LAST = 2, PL_FIT_KEEP_SLOTS = 3 };

typedef struct {
  const char *output;   /* folder for fit.csv, result.json, state.json, loss.png, strips */
  int resume;           /* continue from output/state.json */
  int quiet;            /* no progress bar */
  long stop_after;      /* testing: stop (as if killed) after this many iterations in this run; 0 = never */
  int check_grad;       /* call obj->check at iteration check_grad_at (optimize --check-grad N) */
  long check_grad_at;
} pl_fit_options;

/* How a fit ended (fit_verdict.c): converged: the curvature at the reported point is positive definite and the
 * Newton step from it is within optimize.converge_step in every step-space value; stalled: the loss stopped
 * falling (or the step is not taken) away from such a point; budget exhausted: still improving when the
 * iterations ran out; diverged: a non-finite loss or gradient, or no point better than the start, or the last
 * iterate walked far above the best; unchecked: no curvature (optimize.uncertainty = false or > 12 values), or no
 * iterations run (optimize.iterations = 0). */
typedef enum { PL_FIT_CONVERGED = 0, PL_FIT_STALLED, PL_FIT_BUDGET, PL_FIT_DIVERGED, PL_FIT_UNCHECKED } pl_fit_verdict;
const char *pl_fit_verdict_name(pl_fit_verdict v);
/* Exit status of `pipeline optimize` for a verdict: 0 converged / unchecked, 3 stalled or budget exhausted,
 * 4 diverged (1 and 2 stay runtime and input errors). */
int pl_fit_verdict_exit_code(pl_fit_verdict v);

typedef struct {
  long iterations;      /* iterations run in total (including before a resume) */
  double final_loss;    /* loss of the reported (best) point, all frames */
  int stopped_early;
  double seconds;
  pl_fit_verdict verdict;
  char reason[480];
  double start_loss, best_loss, last_loss;
  int newton_steps;
  double newton_no_descent; /* > 0: the Newton steps ended where no damped step (down to this size in u) lowers the loss */
  int has_curvature;    /* se/corr below are valid */
  int ndim;
  double se[12], se_u[12], value[12], corr[144], newton[12];
  double hessian[144], gradient[12]; /* in the step space u */
  double last[12];      /* the last iterate's values (value[]: the reported point) */
  char names[12][200];
  /* the spread (max - min) of each value over the last `change_rows` rows of fit.csv (iterations and Newton steps);
   * se_below_change: some standard error is smaller than it (the error bars then describe the residual at the
   * reported point, not how far the fit still is from its minimum, let alone from the truth) */
  double change[12];
  int change_rows, se_below_change;
} pl_fit_result;

pl_status pl_fit(const pl_scene *s, pl_optimizer *o, const pl_objective *obj, const pl_fit_options *opt,
                 pl_fit_result *res);

#ifdef __cplusplus
}
#endif
#endif
