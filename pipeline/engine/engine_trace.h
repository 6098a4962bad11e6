/* engine_trace.h: which branch each non-differentiable piece of the objective took during an evaluation
 * (gradcheck's branch-aware differences, docs/adjoints.md "Branches and finite differences").
 *
 * Three kinds of branch decide the objective between smooth pieces:
 *   particles  each particle's plastic return map at every substep (elastic / yield / apex: mpm_plastic_branch)
 *   nodes      each grid node's contacts at every substep (passed through / stuck / sliding: mpm_grid_node_branches)
 *   residuals  the sign of each pixel's L1 residuals r - t (rgb, and alpha for the mask term) at every loss frame
 * An evaluation made while a slot is recording folds each entity's sequence of branches into one hash; two
 * evaluations (theta + h, theta - h) whose hashes differ for an entity took different branches of it, so their
 * difference straddles a kink (or a jump) that the adjoint, the derivative of the branch the point is on, does
 * not see. CPU backend only (the simulator's trace is a host loop). */
#ifndef PL_ENGINE_TRACE_H
#define PL_ENGINE_TRACE_H

#include <stdint.h>

#include "pipeline/engine/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { PL_TRACE_SLOTS = 3 };

/* Entities whose branches differ between two recorded evaluations. */
typedef struct {
  int64_t particles, nodes, residuals;
} pl_branch_changes;

/* Does this engine support the trace (CPU backend)? */
int pl_engine_can_trace(const pl_engine *e);
/* Record the next evaluations into slot (0 .. PL_TRACE_SLOTS - 1; each run of the simulation restarts it), or stop
 * recording (slot -1). */
pl_status pl_engine_trace(pl_engine *e, int slot);
/* Count the entities whose recorded branches differ between slots a and b. */
pl_status pl_engine_trace_diff(const pl_engine *e, int a, int b, pl_branch_changes *out);
/* An objective's trace callbacks (pl_objective.trace / trace_diff) with user = the engine. */
pl_status pl_engine_objective_trace(void *user, int slot);
pl_status pl_engine_objective_trace_diff(void *user, int a, int b, int64_t counts[3]);

/* engine internals: start of a simulation run (zeroes the recording slot, points the simulator at it), and one
 * camera's loss at frame f (folds the signs of its L1 residuals) */
void engine_trace_run_begin(pl_engine *e);
void engine_trace_residuals(pl_engine *e, int camera, int frame, const double *weights, const real *rgb,
                            const real *alpha, const real *trgb, const real *talpha, int64_t npix, int64_t offset);
void engine_trace_free(pl_engine *e);

#ifdef __cplusplus
}
#endif
#endif
