/* engine_states.c: the simulation stage of an engine on its own, for the C API (capi/) and Python's simulate():
 * particle states (x, v, F) at chosen frames, and the adjoint from their cotangents back to the parameters
 * through the MPM checkpointing tape (mpm_adjoint.h). The engine's own gradient pass (engine_grad.c) is not
 * involved: this keeps a tape of its own, so a loss evaluation between a simulate and its backward changes nothing. */
#include <stdlib.h>
#include <string.h>

#include "mpm/mpm_adjoint.h"
#include "pipeline/engine/engine_handle.h"
#include "pipeline/engine/engine_internal.h"
#include "pipeline/engine/engine_states.h"

static pl_status copy_to_caller(const pl_engine *e, void *dst, const pl_buffer *src, size_t bytes) {
  if (e->backend == PL_BACKEND_CUDA) return pl_cuda_memcpy_d2d(dst, src->ptr, bytes);
  memcpy(dst, src->ptr, bytes);
  return PL_OK;
}

typedef struct {
  pl_engine *e;
  mpm_tape *tape;
  int nsel;
  const int *frames;
  real *x, *v, *F;                 /* outputs [nsel][n][3|3|9] (NULL: not wanted) */
  const real *v_x, *v_v, *v_F;     /* cotangents, same shapes (NULL: zero) */
} states_ctx;

static pl_status states_frame(void *user, int frame, const mpm_state *st) {
  states_ctx *c = (states_ctx *)user;
  size_t n = (size_t)c->e->n;
  for (int k = 0; k < c->nsel; ++k) {
    if (c->frames[k] != frame) continue;
    if (c->x) PL_TRY(copy_to_caller(c->e, c->x + 3 * n * k, &st->x, 3 * n * sizeof(real)));
    if (c->v) PL_TRY(copy_to_caller(c->e, c->v + 3 * n * k, &st->v, 3 * n * sizeof(real)));
    if (c->F) PL_TRY(copy_to_caller(c->e, c->F + 9 * n * k, &st->F, 9 * n * sizeof(real)));
    if (c->tape && (c->v_x || c->v_v || c->v_F))
      PL_TRY(mpm_tape_add_cotangent(c->tape, frame, c->v_x ? c->v_x + 3 * n * k : NULL,
                                    c->v_v ? c->v_v + 3 * n * k : NULL, NULL, c->v_F ? c->v_F + 9 * n * k : NULL));
  }
  return PL_OK;
}

static pl_status check_frames(const pl_engine *e, int nsel, const int *frames, int *last) {
  *last = 0;
  if (nsel < 1) return pl_fail(PL_ERR_INVALID, "frames: at least one frame is needed");
  for (int k = 0; k < nsel; ++k) {
    if (frames[k] < 0 || frames[k] > e->scene->sim.frames)
      return pl_fail(PL_ERR_INVALID, "frames[%d] = %d: outside 0..%d (sim.frames)", k, frames[k], e->scene->sim.frames);
    if (frames[k] > *last) *last = frames[k];
  }
  return PL_OK;
}

pl_status pl_engine_states(pl_engine *e, const pl_optimizer *o, int nsel, const int *frames, real *x, real *v,
                           real *F) {
  int last;
  PL_TRY(check_frames(e, nsel, frames, &last));
  PL_TRY(pl_engine_apply(e, o));
  PL_TRY(engine_reset(e));
  states_ctx c = {e, NULL, nsel, frames, x, v, F, NULL, NULL, NULL};
  for (int f = 0; f <= last; ++f) {
    if (f > 0) PL_TRY(mpm_advance_frame(e->sim));
    PL_TRY(states_frame(&c, f, &e->sim->state));
  }
  return PL_OK;
}

pl_status pl_engine_states_backward(pl_engine *e, pl_optimizer *o, int nsel, const int *frames, const real *v_x,
                                    const real *v_v, const real *v_F) {
  int last;
  PL_TRY(check_frames(e, nsel, frames, &last));
  if (!o || o->n == 0) return pl_fail(PL_ERR_INVALID, "simulate backward: no parameter to differentiate");
  PL_TRY(pl_engine_apply(e, o));
  mpm_tape_desc td;
  memset(&td, 0, sizeof td);
  td.checkpoint_every = e->scene->optimize.checkpoint_every;
  td.memory_limit_mb = e->scene->optimize.memory_limit_mb;
  mpm_tape *tape = NULL;
  mpm_grads g;
  memset(&g, 0, sizeof g);
  pl_status st = mpm_tape_create(&tape, e->sim, &td);
  if (st == PL_OK) st = mpm_grads_alloc(&g, e->sim);
  if (st == PL_OK) st = mpm_grads_zero(&g);
  states_ctx c = {e, tape, nsel, frames, NULL, NULL, NULL, v_x, v_v, v_F};
  if (st == PL_OK) st = mpm_tape_forward(tape, &e->init, last, states_frame, &c);
  if (st == PL_OK) st = mpm_tape_backward(tape, &g);
  ups_grads none;
  memset(&none, 0, sizeof none);
  for (int i = 0; st == PL_OK && i < o->n; ++i) {
    if (strncmp(o->p[i].address, "upsample.", 9) == 0) {
      st = pl_fail(PL_ERR_INVALID, "%s: the particle states do not depend on the upsampler", o->p[i].address);
      break;
    }
    engine_param tmp;
    st = engine_param_gradient(e, engine_param_of(e, &o->p[i], &tmp), &g, &none, &o->p[i]);
  }
  if (g.x0) mpm_grads_free(&g);
  mpm_tape_free(tape);
  return st;
}
