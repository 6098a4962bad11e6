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
#include "mpm/mpm_adjoint.h"
#include "pipeline/engine_internal.h"

typedef struct {
  mpm_grads grads;
  int allocated;
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
  if (strcmp(type, "object") == 0) {
    int o = object_index(s, name);
    if (o < 0) return pl_fail(PL_ERR_INVALID, "%s: no such object", p->address);
    int angular = strcmp(key, "angular_velocity") == 0;
    const double *c = s->objects[o].center;
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
  frame_ctx c = {e, mask, scale, loss};
  pl_status st = mpm_tape_forward(e->tape, &e->init, last, grad_frame, &c);
  if (st != PL_OK) return st;
  st = mpm_tape_backward(e->tape, &gs->grads);
  if (st != PL_OK) return pl_fail_context(st, "MPM adjoint: ");
  pl_upsample_grads ug;
  pl_upsample_get_grads(e->ups, &ug);
  for (int i = 0; o && i < o->n; ++i) PL_TRY(map_gradient(e, &gs->grads, &ug, &o->p[i]));
  return PL_OK;
}
