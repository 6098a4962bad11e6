/* optim_coords.h: the learned coordinates of optimize.coordinates = valley (optim_coords.c has the maps and the
 * measurements behind them). Uses the spaces (optim_space.h); used by Adam's step (optim.c). */
#ifndef PL_OPTIM_COORDS_H
#define PL_OPTIM_COORDS_H

#include "pipeline/fit/optim_space.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The learned coordinates. Arrays hold 3 entries per parameter (w[3 i + k]); a pair is coupled only where both
 * of its parameters are active (active NULL: all). pl_coords_grad carries dL/du to dL/dw by the chain rule. */
void pl_coords_setup(pl_optimizer *o, const pl_scene *s);
int pl_coords_coupled(const pl_optimizer *o, int i, const unsigned char *active);
void pl_coords_get(const pl_optimizer *o, const unsigned char *active, double *w);
void pl_coords_set(pl_optimizer *o, const unsigned char *active, const double *w);
void pl_coords_grad(const pl_optimizer *o, const unsigned char *active, const double *gu, double *gw);
double pl_coords_pwave_f(double nu); /* log((1 - nu) / ((1 + nu)(1 - 2 nu))) */

#ifdef __cplusplus
}
#endif
#endif
