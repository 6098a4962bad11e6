/* engine_grad.c: the evaluation of the objective: the loss alone (a forward run, engine.c's pl_engine_run) or
 * the loss and its gradient (one adjoint pass through the whole pipeline).
 *
 * Forward on the MPM checkpointing tape; at each loss frame (inside the tape's frame callback): upsample,
 * render, loss against the targets, then at once the adjoints of the loss, the rasterizer and the upsampler,
 * which give dL/dx and dL/dF of that frame's particles (and accumulate the upsampler's parameter gradients);
 * the tape stores them as cotangent sources. The tape's backward pass carries them through time to the material
 * parameters, gravity and the initial state; initial velocities map to the objects' velocity and angular
 * velocity (v_p = v + w x (x_p - c): dL/dv = sum_p g_p, dL/dw = sum_p (x_p - c) x g_p). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rng.h"
#include "mpm/mpm_adjoint.h"
#include "pipeline/engine/engine_check.h"
#include "pipeline/engine/engine_handle.h"
#include "pipeline/engine/engine_internal.h"
#include "pipeline/engine/engine_params.h"
#include "pipeline/engine/particle_fields.h"
#include "pipeline/engine/engine_trace.h"

/* the tape and the gradients, made at the first gradient pass (freed with the engine) */
static pl_status ensure_tape(pl_engine *e) {
  if (!e->tape) {
    mpm_tape_desc d;
    memset(&d, 0, sizeof d);
    d.checkpoint_every = e->scene->optimize.checkpoint_every;
    d.memory_limit_mb = e->scene->optimize.memory_limit_mb;
    PL_TRY(mpm_tape_create(&e->tape, e->sim, &d));
  }
  if (!e->grads_allocated) {
    PL_TRY(mpm_grads_alloc(&e->grads, e->sim));
    e->grads_allocated = 1;
  }
  return PL_OK;
}

typedef struct {
  pl_engine *e;
  const unsigned char *mask;
  double scale;
  pl_loss_value *loss;
} frame_ctx;

/* at a loss frame: the adjoint of that frame's loss down to dL/dx, dL/dF, stored on the tape */
static pl_status grad_frame(void *user, int frame, const mpm_state *state) {
  frame_ctx *c = (frame_ctx *)user;
  pl_engine *e = c->e;
  if (!c->mask[frame]) return PL_OK;
  PL_TRY(engine_frame_adjoint(e, state, frame, c->scale, c->loss));
  const real *vs = (const real *)e->vstate.ptr;
  return mpm_tape_add_cotangent(e->tape, frame, vs, NULL, NULL, vs + 3 * (size_t)e->n);
}

/* dL/dtheta of one parameter from the stage gradients, through its handle */
static pl_status map_gradient(pl_engine *e, const mpm_grads *g, const ups_grads *ug, pl_param *p) {
  engine_param tmp;
  return engine_param_gradient(e, engine_param_of(e, p, &tmp), g, ug, p);
}

/* The gradient pass: loss and dL/dtheta into o->p[i].grad. */
static pl_status eval_grad(pl_engine *e, const unsigned char *mask, int last, double scale, pl_optimizer *o,
                           pl_loss_value *loss) {
  PL_TRY(ensure_tape(e));
  PL_TRY(ups_zero_grads(e->ups));
  PL_TRY(mpm_grads_zero(&e->grads));
  PL_TRY(engine_params_zero_grads(e));
  frame_ctx c = {e, mask, scale, loss};
  e->prof.depth = 0; /* a failed evaluation before may have left phases open */
  pl_profile_begin(&e->prof, PL_PH_SIM_FWD); /* the frames' own phases nest inside and are not counted here */
  pl_status st = mpm_tape_forward(e->tape, &e->init, last, grad_frame, &c);
  pl_profile_end(&e->prof);
  if (st != PL_OK) return st;
  pl_profile_begin(&e->prof, PL_PH_SIM_BWD);
  st = mpm_tape_backward(e->tape, &e->grads);
  pl_profile_end(&e->prof);
  if (st != PL_OK) return pl_fail_context(st, "MPM adjoint: ");
  PL_TRY(engine_fields_gradient(e, &e->grads)); /* per-particle moduli: grid values, material sums */
  if (!e->tape_reported) { /* the tape's memory, once (every pass: --log debug) */
    int64_t ck_bytes, seg_bytes, peak;
    int nck;
    mpm_tape_memory(e->tape, &ck_bytes, &nck, &seg_bytes, &peak);
    PL_INFO("MPM adjoint: %d checkpoints of %.3g MB, a segment of %.3g MB: peak %.4g MB (bound %g MB, "
            "optimize.memory_limit_mb)", nck, (double)ck_bytes / 1048576.0, (double)seg_bytes / 1048576.0,
            (double)peak / 1048576.0, e->scene->optimize.memory_limit_mb);
    e->tape_reported = 1;
  }
  ups_grads ug;
  ups_get_grads(e->ups, &ug);
  for (int i = 0; o && i < o->n; ++i) PL_TRY(map_gradient(e, &e->grads, &ug, &o->p[i]));
  return PL_OK;
}

typedef struct {
  double scale;
  pl_loss_value *acc;
  const unsigned char *mask;
} fwd_ctx;

static pl_status fwd_frame(void *user, pl_engine *e, int f) {
  fwd_ctx *c = (fwd_ctx *)user;
  return engine_frame_loss(e, f, c->scale, 0, c->acc);
}

pl_status pl_engine_eval(pl_engine *e, const char *frames, int want_grad, pl_optimizer *o, pl_loss_value *loss) {
  memset(loss, 0, sizeof *loss);
  if (!e->targets) return pl_fail(PL_ERR_INTERNAL, "pl_engine_eval: no targets set");
  PL_TRY(pl_engine_apply(e, o));
  int nf = e->scene->sim.frames + 1, count;
  unsigned char *mask = (unsigned char *)malloc((size_t)nf);
  if (!mask) return pl_fail(PL_ERR_NOMEM, "out of memory");
  int last = engine_loss_frames(e, frames, mask, &count);
  pl_status st = PL_OK;
  if (last == -2) st = pl_fail(PL_ERR_INVALID, "frame selection '%s'", frames);
  else if (last < 0 || count == 0)
    st = pl_fail(PL_ERR_INVALID, "no target image falls on the frames '%s' (targets.frames = %s)", frames ? frames : "all",
                 e->scene->targets.frames);
  if (st == PL_OK) {
    if (want_grad) {
      st = eval_grad(e, mask, last, 1.0 / count, o, loss);
    } else {
      fwd_ctx c = {1.0 / count, loss, mask};
      st = pl_engine_run(e, last, mask, fwd_frame, &c);
    }
  }
  if (st == PL_OK) st = engine_fields_regularise(e, want_grad, &loss->total);
  free(mask);
  return st;
}

pl_status pl_engine_objective_eval(void *user, pl_optimizer *o, const char *frames, int want_grad,
                                   pl_loss_value *loss) {
  return pl_engine_eval((pl_engine *)user, frames, want_grad, o, loss);
}

/* ------------------------------------------------------------------ the MPM stage alone (gradcheck --stage mpm) */

/* A smooth loss on the particle states only: L = sum over the loss frames f of sum_p (w_x . x_p(f) + w_v . v_p(f)
 * + w_F : F_p(f)) with fixed pseudo-random weights (Philox, seed 7) scaled by 1 / (n frames). It checks the MPM
 * adjoint on the scene's own simulation (materials, objects, colliders, substeps) without the rasterizer's
 * cut-offs. */
typedef struct {
  pl_engine *e;
  pl_buffer w;   /* [n][3] w_x, [n][3] w_v, [n][9] w_F on the sim's backend */
  real *w_host;
  double scale;
  const unsigned char *mask;
  double acc;
} mpm_stage;

static pl_status mpm_stage_accumulate(mpm_stage *m, const mpm_state *st) {
  size_t n = (size_t)m->e->n;
  real *buf = (real *)malloc(15 * n * sizeof(real));
  if (!buf) return pl_fail(PL_ERR_NOMEM, "out of memory");
  pl_status s = pl_buffer_download(&st->x, 0, buf, 3 * n * sizeof(real));
  if (s == PL_OK) s = pl_buffer_download(&st->v, 0, buf + 3 * n, 3 * n * sizeof(real));
  if (s == PL_OK) s = pl_buffer_download(&st->F, 0, buf + 6 * n, 9 * n * sizeof(real));
  double sum = 0;
  for (size_t i = 0; s == PL_OK && i < 15 * n; ++i) sum += (double)m->w_host[i] * (double)buf[i];
  m->acc += m->scale * sum;
  free(buf);
  return s;
}

static pl_status mpm_stage_frame(void *user, int frame, const mpm_state *st) {
  mpm_stage *m = (mpm_stage *)user;
  if (!m->mask[frame]) return PL_OK;
  PL_TRY(mpm_stage_accumulate(m, st));
  const real *w = (const real *)m->w.ptr;
  size_t n = (size_t)m->e->n;
  return mpm_tape_add_cotangent(m->e->tape, frame, w, w + 3 * n, NULL, w + 6 * n);
}

static pl_status mpm_stage_eval(void *user, pl_optimizer *o, const char *frames, int want_grad, pl_loss_value *loss) {
  mpm_stage *m = (mpm_stage *)user;
  pl_engine *e = m->e;
  memset(loss, 0, sizeof *loss);
  PL_TRY(pl_engine_apply(e, o));
  int nf = e->scene->sim.frames + 1, count;
  unsigned char *mask = (unsigned char *)calloc((size_t)nf, 1);
  if (!mask) return pl_fail(PL_ERR_NOMEM, "out of memory");
  int last = engine_loss_frames(e, frames, mask, &count);
  pl_status st = PL_OK;
  if (last < 0 || count == 0) st = pl_fail(PL_ERR_INVALID, "mpm stage: no loss frame in '%s'", frames);
  m->mask = mask;
  m->acc = 0;
  m->scale = count > 0 ? 1.0 / ((double)count * (double)e->n) : 0;
  if (st == PL_OK && want_grad) {
    st = ensure_tape(e);
    if (st == PL_OK) st = mpm_grads_zero(&e->grads);
    if (st == PL_OK) st = mpm_tape_forward(e->tape, &e->init, last, mpm_stage_frame, m);
    if (st == PL_OK) st = mpm_tape_backward(e->tape, &e->grads);
    if (st == PL_OK) st = engine_fields_gradient(e, &e->grads);
    ups_grads none;
    memset(&none, 0, sizeof none);
    for (int i = 0; st == PL_OK && i < o->n; ++i) {
      if (strncmp(o->p[i].address, "upsample.", 9) == 0 || strncmp(o->p[i].address, "render.", 7) == 0 ||
          strncmp(o->p[i].address, "camera.", 7) == 0) {
        memset(o->p[i].grad, 0, sizeof o->p[i].grad);
        continue;
      }
      st = map_gradient(e, &e->grads, &none, &o->p[i]);
      /* the weights' scale is applied on the host sums; the cotangents carry it here */
      for (int k = 0; k < 3; ++k) o->p[i].grad[k] *= m->scale;
    }
  } else if (st == PL_OK) {
    st = engine_reset(e);
    for (int f = 0; st == PL_OK && f <= last; ++f) {
      if (f > 0) st = mpm_advance_frame(e->sim);
      if (st == PL_OK && mask[f]) st = mpm_stage_accumulate(m, &e->sim->state);
    }
  }
  loss->total = m->acc;
  free(mask);
  return st;
}

static pl_status mpm_stage_trace(void *user, int slot) { return pl_engine_trace(((mpm_stage *)user)->e, slot); }
static pl_status mpm_stage_trace_diff(void *user, int a, int b, int64_t counts[3]) {
  return pl_engine_objective_trace_diff(((mpm_stage *)user)->e, a, b, counts);
}

pl_status pl_engine_mpm_check(pl_engine *e, pl_optimizer *o, const pl_gc_options *opt, pl_gc_row *rows, int max,
                              int *nrows) {
  mpm_stage m;
  memset(&m, 0, sizeof m);
  m.e = e;
  size_t n = (size_t)e->n;
  m.w_host = (real *)malloc(15 * n * sizeof(real));
  if (!m.w_host) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (size_t i = 0; i < 15 * n; i += 4) {
    real u[4];
    pl_rng_uniform4(7, 0, (uint32_t)(i / 4), u);
    for (size_t k = 0; k < 4 && i + k < 15 * n; ++k) m.w_host[i + k] = 2 * u[k] - 1;
  }
  pl_status st = pl_buffer_alloc(&m.w, e->sim->backend, 15 * n * sizeof(real));
  if (st == PL_OK) st = pl_buffer_upload(&m.w, 0, m.w_host, 15 * n * sizeof(real));
  pl_objective obj = {.user = &m, .eval = mpm_stage_eval};
  if (pl_engine_can_trace(e)) { /* branch-aware differences: the return maps' and contacts' branches */
    obj.trace = mpm_stage_trace;
    obj.trace_diff = mpm_stage_trace_diff;
  }
  if (st == PL_OK) st = pl_gradcheck(e->scene, o, &obj, opt, rows, max, nrows);
  /* the upsampler's parameters are not inputs of this stage */
  int k = 0;
  for (int i = 0; st == PL_OK && i < *nrows; ++i)
    if (strncmp(rows[i].name, "upsample.", 9) != 0 && strncmp(rows[i].name, "render.", 7) != 0 &&
        strncmp(rows[i].name, "camera.", 7) != 0)
      rows[k++] = rows[i];
  if (st == PL_OK) *nrows = k;
  pl_buffer_free(&m.w);
  free(m.w_host);
  return st;
}
