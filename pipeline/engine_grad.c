/* engine_grad.c: the gradient pass of the engine (one adjoint pass through the whole pipeline).
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
#include "pipeline/engine_check.h"
#include "pipeline/engine_internal.h"
#include "pipeline/engine_params.h"
#include "pipeline/particle_fields.h"

typedef struct {
  mpm_grads grads;
  int allocated;
  int reported;
} grad_state;

void engine_grad_free(pl_engine *e) {
  if (e->grad_state) {
    grad_state *g = (grad_state *)e->grad_state;
    if (g->allocated) mpm_grads_free(&g->grads);
    free(g);
    e->grad_state = NULL;
  }
  mpm_tape_free(e->tape);
  e->tape = NULL;
}

static pl_status ensure_tape(pl_engine *e, grad_state **out) {
  if (!e->grad_state) {
    e->grad_state = calloc(1, sizeof(grad_state));
    if (!e->grad_state) return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  grad_state *g = (grad_state *)e->grad_state;
  if (!e->tape) {
    mpm_tape_desc d;
    memset(&d, 0, sizeof d);
    d.checkpoint_every = e->scene->optimize.checkpoint_every;
    d.memory_limit_mb = e->scene->optimize.memory_limit_mb;
    PL_TRY(mpm_tape_create(&e->tape, &e->sim, &d));
  }
  if (!g->allocated) {
    PL_TRY(mpm_grads_alloc(&g->grads, &e->sim));
    g->allocated = 1;
  }
  *out = g;
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

static int object_index(const pl_scene *s, const char *name) {
  for (int o = 0; o < s->nobjects; ++o)
    if (strcmp(s->objects[o].name, name) == 0) return o;
  return -1;
}

/* dL/dtheta of one parameter from the stage gradients */
static pl_status map_gradient(pl_engine *e, const mpm_grads *g, const pl_upsample_grads *ug, pl_param *p) {
  const pl_scene *s = e->scene;
  char type[PL_NAME_MAX], name[PL_NAME_MAX], key[PL_NAME_MAX];
  PL_TRY(pl_config_split_address(&s->config, p->address, type, name, key, PL_NAME_MAX));
  memset(p->grad, 0, sizeof p->grad);
  if (strcmp(type, "material") == 0) {
    int m = pl_scene_material_index(s, name);
    const double *src = NULL;
    if (strcmp(key, "E") == 0) src = g->E;
    else if (strcmp(key, "nu") == 0) src = g->nu;
    else if (strcmp(key, "density") == 0) src = g->density;
    else if (strcmp(key, "yield_stress") == 0) src = g->yield_stress;
    else if (strcmp(key, "viscosity") == 0) src = g->viscosity;
    else if (strcmp(key, "friction_angle") == 0) src = g->friction_angle;
    else if (strcmp(key, "cohesion") == 0) src = g->cohesion;
    else if (strcmp(key, "bulk_modulus") == 0) src = g->bulk_modulus;
    if (!src || m < 0) return pl_fail(PL_ERR_UNSUPPORTED, "%s: no gradient source for this parameter", p->address);
    p->grad[0] = src[m];
    return PL_OK;
  }
  if (strcmp(type, "sim") == 0 && strcmp(key, "gravity") == 0) {
    for (int k = 0; k < 3; ++k) p->grad[k] = g->gravity[k];
    return PL_OK;
  }
  pl_status est;
  if (engine_params_gradient(e, g, type, name, key, p, &est)) return est;
  if (strcmp(type, "object") == 0) {
    int o = object_index(s, name);
    if (o < 0) return pl_fail(PL_ERR_INVALID, "%s: no such object", p->address);
    int angular = strcmp(key, "angular_velocity") == 0;
    const double *c = engine_object_center(e, o);
    double acc[3] = {0, 0, 0};
    for (int64_t i = 0; i < e->n; ++i) {
      if (e->init_host.object[i] != o) continue;
      const real *gv = g->v0 + 3 * i;
      if (!angular) {
        for (int k = 0; k < 3; ++k) acc[k] += gv[k];
      } else {
        double r[3] = {e->init_host.x[3 * i] - c[0], e->init_host.x[3 * i + 1] - c[1], e->init_host.x[3 * i + 2] - c[2]};
        acc[0] += r[1] * gv[2] - r[2] * gv[1];
        acc[1] += r[2] * gv[0] - r[0] * gv[2];
        acc[2] += r[0] * gv[1] - r[1] * gv[0];
      }
    }
    memcpy(p->grad, acc, sizeof acc);
    return PL_OK;
  }
  if (strcmp(type, "upsample") == 0) {
    if (strcmp(key, "sigma0") == 0) p->grad[0] = ug->sigma0;
    else if (strcmp(key, "thickness") == 0) p->grad[0] = ug->thickness;
    else if (strcmp(key, "opacity") == 0) p->grad[0] = ug->opacity;
    else return pl_fail(PL_ERR_UNSUPPORTED, "%s: no gradient source for this parameter", p->address);
    return PL_OK;
  }
  return pl_fail(PL_ERR_UNSUPPORTED, "%s: not a learnable value of the pipeline", p->address);
}

pl_status engine_eval_grad(pl_engine *e, const unsigned char *mask, int last, double scale, pl_optimizer *o,
                           pl_loss_value *loss) {
  grad_state *gs = NULL;
  PL_TRY(ensure_tape(e, &gs));
  PL_TRY(pl_upsample_zero_grads(e->ups));
  PL_TRY(mpm_grads_zero(&gs->grads));
  PL_TRY(engine_params_zero_grads(e));
  frame_ctx c = {e, mask, scale, loss};
  e->prof.depth = 0; /* a failed evaluation before may have left phases open */
  pl_profile_begin(&e->prof, PL_PH_SIM_FWD); /* the frames' own phases nest inside and are not counted here */
  pl_status st = mpm_tape_forward(e->tape, &e->init, last, grad_frame, &c);
  pl_profile_end(&e->prof);
  if (st != PL_OK) return st;
  pl_profile_begin(&e->prof, PL_PH_SIM_BWD);
  st = mpm_tape_backward(e->tape, &gs->grads);
  pl_profile_end(&e->prof);
  if (st != PL_OK) return pl_fail_context(st, "MPM adjoint: ");
  PL_TRY(engine_fields_gradient(e, &gs->grads)); /* per-particle moduli: grid values, material sums */
  if (!gs->reported) { /* the tape's memory, once (every pass: --log debug) */
    int64_t ck_bytes, seg_bytes, peak;
    int nck;
    mpm_tape_memory(e->tape, &ck_bytes, &nck, &seg_bytes, &peak);
    PL_INFO("MPM adjoint: %d checkpoints of %.3g MB, a segment of %.3g MB: peak %.4g MB (bound %g MB, "
            "optimize.memory_limit_mb)", nck, (double)ck_bytes / 1048576.0, (double)seg_bytes / 1048576.0,
            (double)peak / 1048576.0, e->scene->optimize.memory_limit_mb);
    gs->reported = 1;
  }
  pl_upsample_grads ug;
  pl_upsample_get_grads(e->ups, &ug);
  for (int i = 0; o && i < o->n; ++i) PL_TRY(map_gradient(e, &gs->grads, &ug, &o->p[i]));
  return PL_OK;
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
    grad_state *gs = NULL;
    st = ensure_tape(e, &gs);
    if (st == PL_OK) st = mpm_grads_zero(&gs->grads);
    if (st == PL_OK) st = mpm_tape_forward(e->tape, &e->init, last, mpm_stage_frame, m);
    if (st == PL_OK) st = mpm_tape_backward(e->tape, &gs->grads);
    if (st == PL_OK) st = engine_fields_gradient(e, &gs->grads);
    pl_upsample_grads none;
    memset(&none, 0, sizeof none);
    for (int i = 0; st == PL_OK && i < o->n; ++i) {
      if (strncmp(o->p[i].address, "upsample.", 9) == 0 || strncmp(o->p[i].address, "render.", 7) == 0 ||
          strncmp(o->p[i].address, "camera.", 7) == 0) {
        memset(o->p[i].grad, 0, sizeof o->p[i].grad);
        continue;
      }
      st = map_gradient(e, &gs->grads, &none, &o->p[i]);
      /* the weights' scale is applied on the host sums; the cotangents carry it here */
      for (int k = 0; k < 3; ++k) o->p[i].grad[k] *= m->scale;
    }
  } else if (st == PL_OK) {
    st = engine_reset(e);
    for (int f = 0; st == PL_OK && f <= last; ++f) {
      if (f > 0) st = mpm_advance_frame(&e->sim);
      if (st == PL_OK && mask[f]) st = mpm_stage_accumulate(m, &e->sim.state);
    }
  }
  loss->total = m->acc;
  free(mask);
  return st;
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
  pl_status st = pl_buffer_alloc(&m.w, e->sim.backend, 15 * n * sizeof(real));
  if (st == PL_OK) st = pl_buffer_upload(&m.w, 0, m.w_host, 15 * n * sizeof(real));
  pl_objective obj = {.user = &m, .eval = mpm_stage_eval};
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

/* dL/dtheta of one parameter from the MPM and upsampler gradients (for engine_states.c). */
pl_status engine_map_gradient(pl_engine *e, const mpm_grads *g, const pl_upsample_grads *ug, pl_param *p) {
  return map_gradient(e, g, ug, p);
}
