/* engine_states.h: the simulation stage of an engine alone: particle states at chosen frames and their adjoint
 * (for the C API and Python's simulate()).
 *
 * Frames are 0 (the initial state) .. sim.frames, in any order, repeats allowed. Outputs and cotangents are
 * arrays on the engine's backend, [nsel][n][3] (x, v) and [nsel][n][9] (F, row-major), any may be NULL. The
 * parameters (o: addresses and values, as for pl_engine_apply; may be NULL in the forward) are applied first.
 * pl_engine_states_backward re-runs the forward on a checkpointing tape of its own (the substep schedule is fixed
 * by the CFL rule of these parameters, as in the engine's gradient pass), feeds the cotangents in at their frames
 * and writes dL/dtheta into o->p[i].grad. */
#ifndef PL_ENGINE_STATES_H
#define PL_ENGINE_STATES_H

#include "pipeline/engine/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

pl_status pl_engine_states(pl_engine *e, const pl_optimizer *o, int nsel, const int *frames, real *x, real *v,
                           real *F);
pl_status pl_engine_states_backward(pl_engine *e, pl_optimizer *o, int nsel, const int *frames, const real *v_x,
                                    const real *v_v, const real *v_F);

#ifdef __cplusplus
}
#endif
#endif
