/* optim_space.h: a learnable parameter (pl_param), the optimiser's parameter set (pl_optimizer), and the spaces
 * that map a step-space value u to the physical value theta (optim.h describes the maps). Split from optim.h so
 * that the learned coordinates (optim_coords.h) sit between the spaces and Adam without an include circle. */
#ifndef PL_OPTIM_SPACE_H
#define PL_OPTIM_SPACE_H

#include <stddef.h>

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

/* Physical value of parameter i, component k. */
double pl_param_value(const pl_param *p, int k);
/* "address=v" or "address=v0 v1 v2" for pl_scene_with_overrides (buf of size >= 256). */
void pl_param_assignment(const pl_param *p, char *buf, size_t size);
/* Whether a parameter learns in a stage ("" or NULL: there are no stages). */
int pl_param_in_stage(const pl_param *p, const char *stage);

#ifdef __cplusplus
}
#endif
#endif
