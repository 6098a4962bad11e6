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
#include "pipeline/fit/optim_coords.h"
#include "pipeline/fit/optim_space.h"
#include "pipeline/scene/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Parameters from the scene's [param] sections; start values from `init` or the scene's value. */
pl_status pl_optimizer_init(pl_optimizer *o, const pl_scene *s);
void pl_optimizer_free(pl_optimizer *o);

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
