/* engine_objective.c: the one objective that optimize descends, gradcheck checks and sweep evaluates.
 *
 * Cut-offs. The rasterizer's gsplat cut-offs (skip alpha < 1/255, stop before T <= 1e-4) make the image jump
 * where a splat crosses them; the adjoint differentiates the branch it is on, so the gradient of the exact
 * image misses those jumps. Every loss evaluation (pl_engine_set_targets) and the targets rendered from [truth]
 * use lowered cut-offs, alpha 1e-9 and T 1e-12: the same in float and double (1e-9 is float's floor, where the
 * compositing's exp still resolves alpha), and the jumps left are 4e6 times smaller than at 1/255.
 *
 * Substeps. A frame's substep count comes from the CFL rule on the current parameters; the adjoint holds it
 * fixed (it is not differentiable). optimize descends L(theta; schedule(theta)) with dL/dtheta at the schedule
 * of theta; gradcheck checks exactly that: its gradient evaluation records each frame's count, and its finite
 * differences run with that schedule held (pl_engine_checked_eval).
 *
 * Depth order. Splats are sorted by depth each frame; two overlapping splats of different colours trading
 * places is a jump that the adjoint does not see. gradcheck's differences sort by the depths recorded at the
 * checked point (the order the adjoint used), in the smooth mode. */
#include "pipeline/engine/engine_objective.h"

#include <string.h>

#include "pipeline/engine/engine_check.h"
#include "pipeline/engine/engine_internal.h"

void pl_engine_hold_schedule(pl_engine *e, int hold) {
  if (hold) {
    memcpy(e->sched_hold, e->sched_rec, sizeof(int) * (size_t)(e->scene->sim.frames + 1));
    e->sim->plan = e->sched_hold;
  } else {
    e->sim->plan = NULL;
  }
}

pl_status pl_engine_checked_eval(void *user, pl_optimizer *o, const char *frames, int want_grad, pl_loss_value *loss) {
  pl_engine *e = (pl_engine *)user;
  int smooth = e->ropt.alpha_min > 0;
  if (want_grad) {
    pl_engine_hold_schedule(e, 0); /* the schedule optimize would use at this point */
    if (smooth) pl_engine_freeze_order(e, 1);
    pl_status st = pl_engine_objective_eval(user, o, frames, 1, loss);
    pl_engine_hold_schedule(e, 1);
    return st;
  }
  if (smooth) pl_engine_freeze_order(e, 2);
  return pl_engine_objective_eval(user, o, frames, 0, loss);
}

void pl_engine_release_check(pl_engine *e) {
  pl_engine_freeze_order(e, 0);
  pl_engine_hold_schedule(e, 0);
}
