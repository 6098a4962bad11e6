/* engine.c: set-up, parameters, the forward pass, one frame's loss and adjoint. The evaluation of the objective
 * (loss alone, or with the gradient pass on the MPM tape) is engine_grad.c; outputs engine_output.c; targets
 * engine_targets.c. */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/engine/engine_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/engine/engine_handle.h"
#include "pipeline/engine/engine_params.h"
#include "pipeline/engine/particle_fields.h"
#include "pipeline/engine/engine_trace.h"
#include "pipeline/engine/composite.h"
#include "pipeline/scene/sim_setup.h"
#include "pipeline/scene/ups_setup.h"

/* ------------------------------------------------------------------ set-up */

static void engine_free_plates(pl_engine *e);

static pl_status alloc_reals(pl_buffer *b, pl_backend be, int64_t n) {
  return pl_buffer_alloc(b, be, (size_t)(n > 0 ? n : 1) * sizeof(real));
}

pl_status pl_engine_create(pl_engine **out, const pl_scene *s) {
  *out = NULL;
  pl_engine *e = (pl_engine *)calloc(1, sizeof *e);
  if (!e) return pl_fail(PL_ERR_NOMEM, "out of memory");
  e->scene = s;
  pl_status st = pl_sim_setup(s, &e->sim, &e->particle_rgb);
  if (st != PL_OK) {
    free(e);
    return st;
  }
  e->backend = e->sim->backend;
  e->prof.backend = e->backend;
  e->n = e->sim->n;
  /* the initial state, kept on the backend (each run starts from it) and on the host (velocities are
   * recomputed from the objects' velocity and angular velocity when those are learnt) */
  st = mpm_particles_alloc(&e->init_host, e->n);
  if (st == PL_OK) st = mpm_download(e->sim, &e->sim->state, &e->init_host);
  if (st == PL_OK) {
    for (int64_t i = 0; i < e->n; ++i) e->init_host.object[i] = e->sim->object_of[i];
    st = mpm_state_alloc(&e->init, e->backend, e->n);
  }
  if (st == PL_OK) st = mpm_state_copy(&e->init, &e->sim->state);
  e->sched_rec = (int *)calloc((size_t)s->sim.frames + 1, sizeof(int));
  e->sched_hold = (int *)calloc((size_t)s->sim.frames + 1, sizeof(int));
  if (st == PL_OK && (!e->sched_rec || !e->sched_hold)) st = pl_fail(PL_ERR_NOMEM, "out of memory");
  e->sim->plan_record = e->sched_rec;
  e->sim->plan_frames = s->sim.frames + 1;
  e->nobjects = s->nobjects;
  e->obj_velocity = (double *)calloc((size_t)s->nobjects * 6, sizeof(double));
  if (st == PL_OK && !e->obj_velocity) st = pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int o = 0; st == PL_OK && o < s->nobjects; ++o)
    for (int k = 0; k < 3; ++k) {
      e->obj_velocity[6 * o + k] = s->objects[o].velocity[k];
      e->obj_velocity[6 * o + 3 + k] = s->objects[o].angular_velocity[k];
    }
  /* upsampler bound to the initial particles */
  if (st == PL_OK) st = pl_ups_setup(s, e->backend, e->n, e->init_host.x, e->init_host.object, &e->ups);
  if (st == PL_OK) {
    ups_info info;
    ups_get_info(e->ups, &info);
    e->m = info.count;
    e->sh_k = info.sh_degree > 0 ? (info.sh_degree + 1) * (info.sh_degree + 1) : 0;
  }
  /* rasterizer and cameras */
  if (st == PL_OK) {
    raster_desc rd;
    memset(&rd, 0, sizeof rd);
    rd.backend = e->backend;
    rd.threads = s->sim.threads;
    st = raster_create(&e->rast, &rd);
  }
  e->ncams = s->ncameras;
  e->cams = (raster_camera *)calloc((size_t)(s->ncameras ? s->ncameras : 1), sizeof *e->cams);
  e->cam_offset = (int64_t *)calloc((size_t)s->ncameras + 1, sizeof(int64_t));
  if (st == PL_OK && (!e->cams || !e->cam_offset)) st = pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int c = 0; st == PL_OK && c < s->ncameras; ++c) {
    const pl_scene_camera *sc = &s->cameras[c];
    raster_camera *rc = &e->cams[c];
    rc->width = sc->width;
    rc->height = sc->height;
    rc->fx = sc->fx;
    rc->fy = sc->fy;
    rc->cx = sc->cx;
    rc->cy = sc->cy;
    memcpy(rc->viewmat, sc->viewmat, sizeof rc->viewmat);
    e->cam_offset[c + 1] = e->cam_offset[c] + (int64_t)sc->width * sc->height;
  }
  e->npix = e->cam_offset[e->ncams];
  if (st == PL_OK) st = engine_params_init_cameras(e);
  if (st == PL_OK) st = engine_params_resolve_all(e);
  memset(&e->ropt, 0, sizeof e->ropt);
  e->ropt.mode = s->render.antialiased ? RASTER_ANTIALIASED : RASTER_CLASSIC;
  for (int k = 0; k < 3; ++k) e->ropt.background[k] = (real)s->render.background[k];
  /* image and cotangent buffers */
  if (st == PL_OK) st = alloc_reals(&e->img, e->backend, 4 * e->npix);
  if (st == PL_OK) st = alloc_reals(&e->vimg, e->backend, 4 * e->npix);
  if (st == PL_OK) st = alloc_reals(&e->vgauss, e->backend, (13 + (e->sh_k ? 3 * e->sh_k + 9 : 0)) * e->m);
  if (st == PL_OK) st = alloc_reals(&e->vstate, e->backend, 12 * e->n);
  e->loss = (pl_loss_ctx **)calloc((size_t)(e->ncams ? e->ncams : 1), sizeof *e->loss);
  if (st == PL_OK && !e->loss) st = pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int c = 0; st == PL_OK && c < e->ncams; ++c)
    st = pl_loss_ctx_create(&e->loss[c], e->backend, e->cams[c].width, e->cams[c].height);
  if (st == PL_OK) st = engine_fields_create(e);
  if (st != PL_OK) {
    pl_engine_free(e);
    return st;
  }
  *out = e;
  return PL_OK;
}

void pl_engine_free(pl_engine *e) {
  if (!e) return;
  if (e->grads_allocated) mpm_grads_free(&e->grads);
  mpm_tape_free(e->tape);
  free(e->handles);
  engine_appearance_free(e);
  free(e->rgb_weight);
  engine_params_free(e);
  engine_fields_free(e);
  engine_trace_free(e);
  free(e->sched_rec);
  free(e->sched_hold);
  if (e->targets) {
    for (int i = 0; i < e->ntargets; ++i) pl_buffer_free(&e->targets[i]);
    free(e->targets);
  }
  free(e->target_alpha);
  engine_free_plates(e);
  for (int c = 0; e->loss && c < e->ncams; ++c) pl_loss_ctx_free(e->loss[c]);
  free(e->loss);
  pl_buffer_free(&e->img);
  pl_buffer_free(&e->vimg);
  pl_buffer_free(&e->vgauss);
  pl_buffer_free(&e->vstate);
  pl_buffer_free(&e->order_buf);
  free(e->order_depth);
  free(e->order_m);
  raster_destroy(e->rast);
  free(e->cams);
  free(e->cam_offset);
  ups_destroy(e->ups);
  free(e->obj_velocity);
  mpm_state_free(&e->init);
  mpm_particles_free(&e->init_host);
  free(e->particle_rgb);
  mpm_destroy(e->sim);
  free(e);
}

pl_backend pl_engine_backend(const pl_engine *e) { return e->backend; }
const pl_profile *pl_engine_profile(const pl_engine *e) { return &e->prof; }
void pl_engine_profile_sync(pl_engine *e, int sync) { e->prof.sync = sync; }
int64_t pl_engine_particles(const pl_engine *e) { return e->n; }
int64_t pl_engine_gaussians(const pl_engine *e) { return e->m; }
int pl_engine_gaussians_have_sh(const pl_engine *e) { return e->sh_k > 0; }
const mpm_sim *pl_engine_sim(const pl_engine *e) { return e->sim; }

/* each parameter through its handle (resolved when the engine was made) */
pl_status pl_engine_apply(pl_engine *e, const pl_optimizer *o) {
  if (!o) return PL_OK;
  for (int i = 0; i < o->n; ++i) {
    double v[3];
    for (int k = 0; k < o->p[i].components; ++k) v[k] = pl_param_value(&o->p[i], k);
    engine_param tmp;
    PL_TRY(engine_param_set(e, engine_param_of(e, &o->p[i], &tmp), o->p[i].address, v, o->p[i].components));
  }
  return PL_OK;
}

/* ------------------------------------------------------------------ forward */

pl_status engine_reset(pl_engine *e) {
  PL_TRY(mpm_state_copy(&e->sim->state, &e->init));
  engine_trace_run_begin(e); /* gradcheck's branch trace, when recording */
  e->sim->frame = 0;
  e->sim->time = 0;
  return PL_OK;
}

/* Frozen depth order (pl_engine_freeze_order): record the Gaussians' camera depths of this frame, or sort by the
 * recorded ones (when the frame was recorded with the same Gaussian count). */
static pl_status order_depths(pl_engine *e, const ups_gaussians *g) {
  e->ropt.sort_depth = NULL;
  if (e->order_mode == 0 || e->ncams == 0) return PL_OK;
  const int nf = e->scene->sim.frames + 1, f = e->cur_frame;
  const int64_t m = g->count, per = (int64_t)e->ncams * m, cap = (int64_t)e->ncams * e->m;
  if (f < 0 || f >= nf || m > e->m) return PL_OK; /* (m <= e->m, the upsampler's capacity) */
  if (!e->order_m) {
    e->order_m = (int64_t *)calloc((size_t)nf, sizeof(int64_t));
    e->order_depth = (real *)calloc((size_t)nf * (size_t)cap + 1, sizeof(real));
    if (!e->order_m || !e->order_depth) return pl_fail(PL_ERR_NOMEM, "out of memory (frozen depth order)");
  }
  if (e->order_mode == 2 && e->order_m[f] != m) return PL_OK; /* not recorded, or another count: own depths */
  real *slot = e->order_depth + (size_t)f * (size_t)cap;
  if (e->order_mode == 1) {
    real *mu = (real *)malloc(sizeof(real) * 3 * (size_t)(m ? m : 1));
    if (!mu) return pl_fail(PL_ERR_NOMEM, "out of memory");
    pl_status st = pl_buffer_download(&(pl_buffer){.backend = e->backend, .ptr = (void *)g->means,
                                                   .bytes = sizeof(real) * 3 * (size_t)m}, 0, mu, sizeof(real) * 3 * (size_t)m);
    for (int c = 0; st == PL_OK && c < e->ncams; ++c) {
      const double *V = e->cams[c].viewmat;
      for (int64_t i = 0; i < m; ++i)
        slot[c * m + i] = (real)(V[8] * mu[3 * i] + V[9] * mu[3 * i + 1] + V[10] * mu[3 * i + 2] + V[11]);
    }
    free(mu);
    if (st != PL_OK) return st;
    e->order_m[f] = m;
  }
  if (e->order_buf.bytes < sizeof(real) * (size_t)per) {
    pl_buffer_free(&e->order_buf);
    PL_TRY(pl_buffer_alloc(&e->order_buf, e->backend, sizeof(real) * (size_t)per));
  }
  PL_TRY(pl_buffer_upload(&e->order_buf, 0, slot, sizeof(real) * (size_t)per));
  e->ropt.sort_depth = (const real *)e->order_buf.ptr;
  return PL_OK;
}

void pl_engine_set_cutoffs(pl_engine *e, double alpha_min, double transmittance_min) {
  e->ropt.alpha_min = alpha_min;
  e->ropt.transmittance_min = transmittance_min;
}

void pl_engine_objective_cutoffs(pl_engine *e) {
  pl_engine_set_cutoffs(e, PL_OBJECTIVE_ALPHA_MIN, PL_OBJECTIVE_T_MIN);
}

void pl_engine_freeze_order(pl_engine *e, int mode) {
  e->order_mode = mode;
  if (mode == 1 && e->order_m) memset(e->order_m, 0, sizeof(int64_t) * (size_t)(e->scene->sim.frames + 1));
  if (mode == 0) e->ropt.sort_depth = NULL;
}

pl_status engine_render_state(pl_engine *e, const mpm_state *state) {
  ups_gaussians g;
  pl_profile_begin(&e->prof, PL_PH_UPS_FWD);
  pl_status ust = ups_forward(e->ups, (const real *)state->x.ptr, (const real *)state->F.ptr, &g);
  pl_profile_end(&e->prof);
  PL_TRY(ust);
  PL_TRY(order_depths(e, &g));
  e->gauss.n = g.count;
  e->gauss.means = g.means;
  e->gauss.covs = g.covs;
  e->gauss.colors = g.colors;
  e->gauss.opacities = g.opacities;
  e->gauss.scales = e->gauss.quats = NULL;
  e->gauss.sh = g.sh; /* SH splats: the rasterizer evaluates the colour along the view turned into each frame */
  e->gauss.sh_degree = g.sh ? g.sh_degree : 0;
  e->gauss.sh_frames = g.sh ? g.frames : NULL;
  if (g.sh) e->gauss.colors = NULL;
  real *img = (real *)e->img.ptr;
  raster_images out;
  memset(&out, 0, sizeof out);
  out.rgb = img;
  out.alpha = img + 3 * e->npix;
  if (e->ncams == 0) return PL_OK;
  pl_profile_begin(&e->prof, PL_PH_RASTER_FWD);
  pl_status st = raster_forward(e->rast, &e->gauss, e->cams, e->ncams, &e->ropt, &out);
  pl_profile_end(&e->prof);
  PL_TRY(st);
  for (int c = 0; e->plates && c < e->ncams; ++c)
    if (e->plates[c].ptr) {
      int64_t off = e->cam_offset[c];
      PL_TRY(pl_composite_plate(e->backend, e->cam_offset[c + 1] - off, img + 3 * off, img + 3 * e->npix + off,
                                (const real *)e->plates[c].ptr, e->scene->render.background));
    }
  return PL_OK;
}

pl_status pl_engine_run(pl_engine *e, int last_frame, const unsigned char *mask, pl_engine_frame_fn cb, void *user) {
  if (last_frame < 0 || last_frame > e->scene->sim.frames)
    return pl_fail(PL_ERR_INVALID, "frame %d outside 0..%d", last_frame, e->scene->sim.frames);
  PL_TRY(engine_reset(e));
  for (int f = 0; f <= last_frame; ++f) {
    if (f > 0) {
      pl_profile_begin(&e->prof, PL_PH_SIM_FWD);
      pl_status sst = mpm_advance_frame(e->sim);
      pl_profile_end(&e->prof);
      PL_TRY(sst);
    }
    if (mask && mask[f]) {
      e->cur_frame = f;
      PL_TRY(engine_render_state(e, &e->sim->state));
      e->last_frame_rendered = f;
      if (cb) PL_TRY(cb(user, e, f));
    }
  }
  return PL_OK;
}

void pl_engine_images(const pl_engine *e, real **rgb, real **alpha) {
  real *img = (real *)e->img.ptr;
  if (rgb) *rgb = img;
  if (alpha) *alpha = img + 3 * e->npix;
}

int64_t pl_engine_camera_offset(const pl_engine *e, int camera) { return e->cam_offset[camera]; }

/* ------------------------------------------------------------------ targets and loss */

static void engine_free_plates(pl_engine *e) {
  if (!e->plates) return;
  for (int c = 0; c < e->ncams; ++c) pl_buffer_free(&e->plates[c]);
  free(e->plates);
  e->plates = NULL;
}

/* Background plates (captures): uploaded per camera; the rendered images get them behind the Gaussians. */
static pl_status engine_set_plates(pl_engine *e, const pl_targets *t) {
  engine_free_plates(e);
  if (!t->background) return PL_OK;
  int any = 0;
  for (int c = 0; c < e->ncams; ++c) any |= t->background[c] != NULL;
  if (!any) return PL_OK;
  e->plates = (pl_buffer *)calloc((size_t)e->ncams, sizeof(pl_buffer));
  if (!e->plates) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int c = 0; c < e->ncams; ++c) {
    if (!t->background[c]) continue;
    int64_t np = e->cam_offset[c + 1] - e->cam_offset[c];
    real *tmp = (real *)malloc(sizeof(real) * 3 * (size_t)np);
    if (!tmp) return pl_fail(PL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < 3 * np; ++i) tmp[i] = (real)t->background[c][i];
    pl_status st = alloc_reals(&e->plates[c], e->backend, 3 * np);
    if (st == PL_OK) st = pl_buffer_upload(&e->plates[c], 0, tmp, sizeof(real) * 3 * (size_t)np);
    free(tmp);
    PL_TRY(st);
  }
  return PL_OK;
}

pl_status pl_engine_set_targets(pl_engine *e, const pl_targets *t) {
  if (t->ncameras != e->ncams || t->nframes != e->scene->sim.frames + 1)
    return pl_fail(PL_ERR_INTERNAL, "targets made for another scene");
  PL_TRY(engine_set_plates(e, t));
  if (e->targets) {
    for (int i = 0; i < e->ntargets; ++i) pl_buffer_free(&e->targets[i]);
    free(e->targets);
  }
  free(e->target_alpha);
  e->ntargets = t->ncameras * t->nframes;
  e->targets = (pl_buffer *)calloc((size_t)e->ntargets, sizeof(pl_buffer));
  e->target_alpha = (unsigned char *)calloc((size_t)e->ntargets, 1);
  if (!e->targets || !e->target_alpha) return pl_fail(PL_ERR_NOMEM, "out of memory");
  e->loss_cam = t->camera_used;
  e->loss_frame = t->frame_used;
  pl_engine_objective_cutoffs(e); /* every loss is taken on the objective's image */
  for (int c = 0; c < t->ncameras; ++c)
    for (int f = 0; f < t->nframes; ++f) {
      int k = c * t->nframes + f;
      if (!t->rgb[k]) continue;
      int64_t np = e->cam_offset[c + 1] - e->cam_offset[c];
      real *tmp = (real *)malloc(sizeof(real) * 4 * (size_t)np);
      if (!tmp) return pl_fail(PL_ERR_NOMEM, "out of memory");
      for (int64_t i = 0; i < 3 * np; ++i) tmp[i] = (real)t->rgb[k][i];
      for (int64_t i = 0; i < np; ++i) tmp[3 * np + i] = t->alpha[k] ? (real)t->alpha[k][i] : RC(1.0);
      e->target_alpha[k] = t->alpha[k] != NULL;
      pl_status st = alloc_reals(&e->targets[k], e->backend, 4 * np);
      if (st == PL_OK) st = pl_buffer_upload(&e->targets[k], 0, tmp, sizeof(real) * 4 * (size_t)np);
      free(tmp);
      PL_TRY(st);
    }
  return PL_OK;
}

/* loss frames: targets' frames within the selection; returns the last one (-1: none) */
int engine_loss_frames(const pl_engine *e, const char *frames, unsigned char *mask, int *count) {
  int nf = e->scene->sim.frames + 1, last = -1;
  *count = 0;
  if (pl_frame_selection(frames ? frames : "all", nf, mask) != PL_OK) return -2;
  for (int f = 0; f < nf; ++f) {
    mask[f] = mask[f] && e->loss_frame && e->loss_frame[f] && e->targets;
    if (mask[f]) {
      last = f;
      for (int c = 0; c < e->ncams; ++c) *count += e->loss_cam[c] && e->targets[c * (nf) + f].ptr != NULL;
    }
  }
  return last;
}

/* Loss of the images just rendered at frame f against the targets, accumulated into `acc` with `scale`;
 * with v != 0 the image cotangents go into e->vimg (zeroed here first). */
static pl_status frame_loss(pl_engine *e, int f, double scale, int want_grad, pl_loss_value *acc);
pl_status engine_frame_loss(pl_engine *e, int f, double scale, int want_grad, pl_loss_value *acc) {
  pl_profile_begin(&e->prof, PL_PH_LOSS);
  pl_status st = frame_loss(e, f, scale, want_grad, acc);
  pl_profile_end(&e->prof);
  return st;
}

static pl_status frame_loss(pl_engine *e, int f, double scale, int want_grad, pl_loss_value *acc) {
  const pl_scene *s = e->scene;
  int nf = s->sim.frames + 1;
  real *img = (real *)e->img.ptr, *vimg = (real *)e->vimg.ptr;
  if (want_grad) PL_TRY(pl_buffer_zero(&e->vimg));
  for (int c = 0; c < e->ncams; ++c) {
    int k = c * nf + f;
    if (!e->loss_cam[c] || !e->targets[k].ptr) continue;
    int64_t off = e->cam_offset[c], np = e->cam_offset[c + 1] - off;
    const real *t = (const real *)e->targets[k].ptr;
    double w[PL_LOSS_COUNT];
    memcpy(w, s->optimize.loss_weight, sizeof w);
    if (!e->target_alpha[k]) w[PL_LOSS_MASK] = 0;
    pl_loss_value v;
    pl_status st = pl_loss_eval(e->loss[c], w, e->cams[c].width, e->cams[c].height, img + 3 * off,
                                img + 3 * e->npix + off, t, t + 3 * np, scale,
                                want_grad ? vimg + 3 * off : NULL, want_grad ? vimg + 3 * e->npix + off : NULL, &v);
    if (st != PL_OK) return pl_fail_context(st, "frame %d, camera %s: ", f, s->cameras[c].name);
    engine_trace_residuals(e, c, f, w, img + 3 * off, img + 3 * e->npix + off, t, t + 3 * np, np, off);
    acc->total += scale * v.total;
    for (int q = 0; q < PL_LOSS_COUNT; ++q) acc->term[q] += scale * v.term[q];
  }
  return PL_OK;
}

pl_status pl_engine_set_rgb_weights(pl_engine *e, const real *w) {
  free(e->rgb_weight);
  e->rgb_weight = NULL;
  if (!w) return PL_OK;
  size_t np = (size_t)(e->npix > 0 ? e->npix : 1);
  e->rgb_weight = (real *)malloc(np * sizeof(real));
  if (!e->rgb_weight) return pl_fail(PL_ERR_NOMEM, "out of memory");
  memcpy(e->rgb_weight, w, (size_t)e->npix * sizeof(real));
  return PL_OK;
}

/* the RGB cotangents times the per-pixel weights (host round trip: the appearance stage's frame 0 only) */
static pl_status weigh_rgb_cotangents(pl_engine *e) {
  size_t n = 3 * (size_t)e->npix;
  real *h = (real *)malloc((n ? n : 1) * sizeof(real));
  if (!h) return pl_fail(PL_ERR_NOMEM, "out of memory");
  pl_status st = pl_buffer_download(&e->vimg, 0, h, n * sizeof(real));
  for (size_t i = 0; st == PL_OK && i < n; ++i) h[i] *= e->rgb_weight[i / 3];
  if (st == PL_OK) st = pl_buffer_upload(&e->vimg, 0, h, n * sizeof(real));
  free(h);
  return st;
}

/* One frame's loss and its adjoint down to the particles: render `state`, take the loss against the targets
 * (accumulated into acc with `scale`), then the adjoints of the loss, the rasterizer and the upsampler. On return
 * e->vstate holds dL/dx [n][3] then dL/dF [n][9] of this frame, e->vgauss the Gaussians' cotangents, and the
 * upsampler has accumulated its parameter gradients. */
pl_status engine_frame_adjoint(pl_engine *e, const mpm_state *state, int frame, double scale, pl_loss_value *acc) {
  e->cur_frame = frame;
  PL_TRY(engine_render_state(e, state));
  PL_TRY(engine_frame_loss(e, frame, scale, 1, acc));
  if (e->rgb_weight) PL_TRY(weigh_rgb_cotangents(e));
  real *vg = (real *)e->vgauss.ptr, *vi = (real *)e->vimg.ptr, *vs = (real *)e->vstate.ptr;
  for (int c = 0; e->plates && c < e->ncams; ++c) /* through the plate composite: alpha's cotangent */
    if (e->plates[c].ptr) {
      int64_t off = e->cam_offset[c];
      PL_TRY(pl_composite_plate_vjp(e->backend, e->cam_offset[c + 1] - off, vi + 3 * off, (const real *)e->plates[c].ptr,
                                    e->scene->render.background, vi + 3 * e->npix + off));
    }
  const size_t m = (size_t)e->m, n = (size_t)e->n;
  PL_TRY(pl_buffer_zero(&e->vgauss));
  raster_images vimg;
  memset(&vimg, 0, sizeof vimg);
  vimg.rgb = vi;
  vimg.alpha = vi + 3 * e->npix;
  raster_grads rg;
  memset(&rg, 0, sizeof rg);
  rg.means = vg;
  rg.covs = vg + 3 * m;
  rg.colors = e->sh_k ? NULL : vg + 9 * m;
  rg.opacities = vg + 12 * m;
  rg.sh = e->sh_k ? vg + 13 * m : NULL;
  rg.sh_frames = e->sh_k ? vg + (13 + 3 * (size_t)e->sh_k) * m : NULL;
  pl_profile_begin(&e->prof, PL_PH_RASTER_BWD);
  rg.cameras = engine_params_camera_grads(e); /* NULL unless a camera correction learns */
  pl_status st = raster_backward(e->rast, &e->gauss, e->cams, e->ncams, &e->ropt, &vimg, &rg);
  pl_profile_end(&e->prof);
  if (st != PL_OK) return pl_fail_context(st, "frame %d, rasterizer adjoint: ", frame);
  PL_TRY(pl_buffer_zero(&e->vstate));
  pl_profile_begin(&e->prof, PL_PH_UPS_BWD);
  if (e->sh_k)
    st = ups_backward_sh(e->ups, (const real *)state->x.ptr, (const real *)state->F.ptr, rg.means, rg.covs, rg.sh,
                         rg.sh_frames, rg.opacities, vs, vs + 3 * n);
  else
    st = ups_backward(e->ups, (const real *)state->x.ptr, (const real *)state->F.ptr, rg.means, rg.covs,
                      rg.colors, rg.opacities, vs, vs + 3 * n);
  pl_profile_end(&e->prof);
  if (st != PL_OK) return pl_fail_context(st, "frame %d, upsampler adjoint: ", frame);
  return engine_params_frame_adjoint(e);
}
