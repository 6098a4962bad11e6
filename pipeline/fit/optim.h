/* optim.h: learnable parameters in their optimisation space, and Adam.
 *
 * A parameter's physical value theta (what the simulator uses) is a map of an unconstrained step-space value u:
 *   log      theta = exp(u)                        (positive quantities: E, density, yield stress, ...)
 *   bounded  theta = lo + (hi - lo) sigmoid(u)     (nu, angles, opacity: a logistic map onto (lo, hi))
 *   linear   theta = u                             (velocities, gravity; values that may be 0 such as viscosity,
 *                                                   cohesion and friction, with u projected onto [lo, hi] after
 *                                                   each step)
 * Gradients arrive as dL/dtheta and are carried to u by the chain rule; Adam (Kingma & Ba 2015, with bias
 * correction) steps u with the parameter's learning rate times the schedule factor.
 * The whole state (u, moments, iteration, stage, loss history bookkeeping) saves to JSON atomically for
 * --resume. */
#ifndef PL_OPTIM_H
#define PL_OPTIM_H

#include "core/status.h"
#include "pipeline/scene/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  char address[192];
  pl_param_space space;
  int components;     /* 1 or 3 */
  double lo, hi;      /* bounded space */
  double lr;          /* base learning rate (step space) */
  char stages[256];   /* "all" or stage names */
  int frozen;         /* held fixed */
  double u[3];        /* step-space value */
  double m[3], v[3];  /* Adam moments */
  double grad[3];     /* dL/dtheta of the last evaluation */
  double grad_u[3];   /* dL/dw of the learned coordinate (after clipping; = dL/du when the value is plain) */
  int coord;          /* pl_coord_kind: the learned coordinate w (optim_coords.c) */
  int partner;        /* the other parameter of a coupled coordinate, -1 none */
} pl_param;

/* Learned coordinates (optimize.coordinates = valley, optim_coords.c): plain (w = u), the log P-wave modulus of
 * an elastic E with its learned nu (w = u_E + f(nu)), or log(yield / sqrt(E)) of a yield stress with its learned
 * E (w = u_y - u_E / 2). Adam and the scan step w; the simulator, the state and the curvature keep u. */
typedef enum { PL_COORD_PLAIN = 0, PL_COORD_PWAVE, PL_COORD_RESILIENCE } pl_coord_kind;

typedef struct {
  pl_param *p;
  int n;
  long step;          /* Adam steps taken (for bias correction) */
  double beta1, beta2, eps, clip;
} pl_optimizer;

/* theta <-> u and dtheta/du for one component. */
double pl_space_value(pl_param_space space, double lo, double hi, double u);
pl_status pl_space_from_value(pl_param_space space, double lo, double hi, double theta, double *u, const char *what);
double pl_space_dvalue(pl_param_space space, double lo, double hi, double u);

/* Step control: u - step, with |step| capped at PL_MAX_SPACE_STEP in the log and bounded spaces (a step can change
 * a log value by at most a factor e, whatever the learning rate or gradient) and u kept in [-lim, lim] (log: 700,
 * where exp stays a normal positive double; bounded: 30, where the logistic map has not rounded to its bound).
 * A non-finite step is not taken. Linear values take the step as it is (when finite). */
#define PL_MAX_SPACE_STEP 1.0
#define PL_MAX_LOG_U 700.0
#define PL_MAX_LOGIT_U 30.0
double pl_space_safe_step(pl_param_space space, double u, double step);

/* Parameters from the scene's [param] sections; start values from `init` or the scene's value. */
pl_status pl_optimizer_init(pl_optimizer *o, const pl_scene *s);
void pl_optimizer_free(pl_optimizer *o);
/* Physical value of parameter i, component k. */
double pl_param_value(const pl_param *p, int k);
/* "address=v" or "address=v0 v1 v2" for pl_scene_with_overrides (buf of size >= 256). */
void pl_param_assignment(const pl_param *p, char *buf, size_t size);
/* Whether a parameter learns in a stage ("" or NULL: there are no stages). */
int pl_param_in_stage(const pl_param *p, const char *stage);

/* The learned coordinates. Arrays hold 3 entries per parameter (w[3 i + k]); a pair is coupled only where both
 * of its parameters are active (active NULL: all). pl_coords_grad carries dL/du to dL/dw by the chain rule. */
void pl_coords_setup(pl_optimizer *o, const pl_scene *s);
int pl_coords_coupled(const pl_optimizer *o, int i, const unsigned char *active);
void pl_coords_get(const pl_optimizer *o, const unsigned char *active, double *w);
void pl_coords_set(pl_optimizer *o, const unsigned char *active, const double *w);
void pl_coords_grad(const pl_optimizer *o, const unsigned char *active, const double *gu, double *gw);
double pl_coords_pwave_f(double nu); /* log((1 - nu) / ((1 + nu)(1 - 2 nu))) */

/* Learning-rate factor of the schedule at iteration t of T (0 <= t < T). */
double pl_lr_factor(int schedule, double lr_final, long t, long total);

/* One Adam step on the parameters whose `active[i]` is set (NULL: all), from p[i].grad (dL/dtheta).
 * lr_scale multiplies every learning rate (schedule x stage). */
void pl_optimizer_step(pl_optimizer *o, const unsigned char *active, double lr_scale);

/* Save / load the optimiser and loop state (JSON, atomic). `extra` is a caller-owned JSON object text
 * (may be NULL) stored under "loop"; on load it is returned malloc'd in *extra (caller frees). */
pl_status pl_optimizer_save(const pl_optimizer *o, const char *path, const char *extra);
pl_status pl_optimizer_load(pl_optimizer *o, const char *path, char **extra);

#ifdef __cplusplus
}
#endif
#endif
