/* engine_grad_pending.c: INTERIM, until the MPM adjoint (mpm/mpm_adjoint.h, issue 5) is merged: gradient
 * requests fail with a clear message. Replaced by engine_grad.c at that merge. */
#include "pipeline/engine_internal.h"

pl_status engine_eval_grad(pl_engine *e, const unsigned char *mask, int last, double scale, pl_optimizer *o,
                           pl_loss_value *loss) {
  (void)e, (void)mask, (void)last, (void)scale, (void)o, (void)loss;
  return pl_fail(PL_ERR_UNSUPPORTED, "gradients need the MPM adjoint, which this build does not have yet");
}

void engine_grad_free(pl_engine *e) { (void)e; }
