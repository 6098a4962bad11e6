/* capi.c: the public C API (pipeline_api.h) over the modules' own APIs. Compiled once per precision: the float
 * build defines plapi_*, the double build plapi_*_f64 (the defines below). Every function
 * checks its arguments and names the bad one; nothing here does math. */
#include <stdlib.h>
#include <string.h>

#include "capi/pipeline_api.h"
#include "core/log.h"
#include "pipeline/engine/engine.h"
#include "pipeline/engine/engine_states.h"
#include "raster/raster.h"
#include "upsample/upsample.h"

/* The double build's API names (pipeline_api.h declares both sets). */
#ifdef PL_REAL_DOUBLE
#define plapi_cuda_available plapi_cuda_available_f64
#define plapi_last_error plapi_last_error_f64
#define plapi_raster_backward plapi_raster_backward_f64
#define plapi_raster_create plapi_raster_create_f64
#define plapi_raster_forward plapi_raster_forward_f64
#define plapi_raster_free plapi_raster_free_f64
#define plapi_raster_stats plapi_raster_stats_f64
#define plapi_real_size plapi_real_size_f64
#define plapi_scene_create plapi_scene_create_f64
#define plapi_scene_free plapi_scene_free_f64
#define plapi_scene_get_info plapi_scene_get_info_f64
#define plapi_scene_loss plapi_scene_loss_f64
#define plapi_scene_render plapi_scene_render_f64
#define plapi_scene_simulate plapi_scene_simulate_f64
#define plapi_scene_simulate_backward plapi_scene_simulate_backward_f64
#define plapi_upsample_backward plapi_upsample_backward_f64
#define plapi_upsample_count plapi_upsample_count_f64
#define plapi_upsample_create plapi_upsample_create_f64
#define plapi_upsample_forward plapi_upsample_forward_f64
#define plapi_upsample_free plapi_upsample_free_f64
#endif

/* a handle of the other precision is refused */
#define PLAPI_MAGIC ((uint32_t)(0x504c0000u | (uint32_t)sizeof(real)))

static int fail(pl_status code, const char *msg) { return (int)pl_fail(code, "%s", msg); }

const char *plapi_last_error(void) { return pl_last_error(); }
int plapi_real_size(void) { return (int)sizeof(real); }
int plapi_cuda_available(void) { return pl_cuda_compiled() && pl_cuda_device_count(NULL, 0) > 0; }

/* Resolve the backend and install the allocator and stream ordering of a device descriptor. */
static pl_status device_setup(const plapi_device_desc *d, pl_backend *out) {
  pl_backend want = PL_BACKEND_AUTO;
  if (d) {
    if (d->backend < PLAPI_AUTO || d->backend > PLAPI_CUDA)
      return pl_fail(PL_ERR_INVALID, "device.backend = %d: expected 0 (auto), 1 (cpu) or 2 (cuda)", d->backend);
    want = (pl_backend)d->backend;
    if (d->threads < 0) return pl_fail(PL_ERR_INVALID, "device.threads = %d: must be >= 0", d->threads);
  }
  PL_TRY(pl_backend_resolve(want, out, NULL, 0));
  if (*out == PL_BACKEND_CUDA && d && d->allocator.alloc)
    PL_TRY(pl_cuda_set_allocator(d->allocator.alloc, d->allocator.free, d->allocator.user));
  return PL_OK;
}

/* Before reading the caller's device buffers: wait for the caller's stream. */
static pl_status stream_in(pl_backend b, void *stream) {
  return b == PL_BACKEND_CUDA && stream ? pl_cuda_stream_sync(stream) : PL_OK;
}
/* After: the results are complete for any stream. */
static pl_status stream_out(pl_backend b) { return b == PL_BACKEND_CUDA ? pl_cuda_sync("libpipeline") : PL_OK; }

/* ------------------------------------------------------------------ rasterizer */

struct plapi_raster {
  uint32_t magic;
  raster_ctx *ctx;
  raster_options opt;
  void *stream;
  int forwarded;
};

int plapi_raster_create(plapi_raster **out, const plapi_raster_desc *desc) {
  if (!out) return fail(PL_ERR_INVALID, "plapi_raster_create: out is NULL");
  *out = NULL;
  plapi_raster_desc zero;
  memset(&zero, 0, sizeof zero);
  if (!desc) desc = &zero;
  raster_desc rd;
  memset(&rd, 0, sizeof rd);
  PL_TRY(device_setup(&desc->device, &rd.backend));
  rd.threads = desc->device.threads;
  plapi_raster *r = (plapi_raster *)calloc(1, sizeof *r);
  if (!r) return fail(PL_ERR_NOMEM, "out of memory");
  r->magic = PLAPI_MAGIC;
  r->stream = desc->device.cuda_stream;
  r->opt.mode = desc->antialiased ? RASTER_ANTIALIASED : RASTER_CLASSIC;
  for (int k = 0; k < 3; ++k) r->opt.background[k] = (real)desc->background[k];
  r->opt.near_plane = desc->near_plane;
  r->opt.far_plane = desc->far_plane;
  r->opt.alpha_min = desc->alpha_min;
  r->opt.transmittance_min = desc->transmittance_min;
  pl_status st = raster_create(&r->ctx, &rd);
  if (st != PL_OK) {
    free(r);
    return st;
  }
  *out = r;
  return PL_OK;
}

void plapi_raster_free(plapi_raster *r) {
  if (!r || r->magic != PLAPI_MAGIC) return;
  raster_destroy(r->ctx);
  r->magic = 0;
  free(r);
}

static pl_status raster_args(const plapi_raster *r, const plapi_raster_inputs *in, raster_gaussians *g,
                             raster_camera **cams) {
  if (!r || r->magic != PLAPI_MAGIC) return pl_fail(PL_ERR_INVALID, "raster: not a rasterizer handle of this precision");
  if (!in) return pl_fail(PL_ERR_INVALID, "raster: inputs is NULL");
  if (in->n < 0) return pl_fail(PL_ERR_INVALID, "raster: n = %lld < 0", (long long)in->n);
  if (in->n > 0 && !in->means) return pl_fail(PL_ERR_INVALID, "raster: means is NULL");
  if (in->n > 0 && !in->opacities) return pl_fail(PL_ERR_INVALID, "raster: opacities is NULL");
  if (in->n > 0 && !in->colors) return pl_fail(PL_ERR_INVALID, "raster: colors is NULL");
  if (in->n > 0 && !in->covars && !(in->scales && in->quats))
    return pl_fail(PL_ERR_INVALID, "raster: give covars, or scales and quats");
  if (in->sh_degree < -1 || in->sh_degree > 3)
    return pl_fail(PL_ERR_INVALID, "raster: sh_degree = %d outside -1..3", in->sh_degree);
  if (in->ncams < 1 || in->width < 1 || in->height < 1 || !in->viewmats || !in->Ks)
    return pl_fail(PL_ERR_INVALID, "raster: need ncams >= 1, width, height >= 1, viewmats and Ks");
  memset(g, 0, sizeof *g);
  g->n = in->n;
  g->means = (const real *)in->means;
  g->covs = (const real *)in->covars;
  g->scales = in->covars ? NULL : (const real *)in->scales;
  g->quats = in->covars ? NULL : (const real *)in->quats;
  g->opacities = (const real *)in->opacities;
  if (in->sh_degree < 0) {
    g->colors = (const real *)in->colors;
  } else {
    g->sh = (const real *)in->colors;
    g->sh_degree = in->sh_degree;
  }
  raster_camera *c = (raster_camera *)calloc((size_t)in->ncams, sizeof *c);
  if (!c) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < in->ncams; ++i) {
    const double *K = in->Ks + 9 * i;
    c[i].width = in->width;
    c[i].height = in->height;
    c[i].fx = K[0];
    c[i].fy = K[4];
    c[i].cx = K[2];
    c[i].cy = K[5];
    if (K[1] != 0 || K[3] != 0 || K[6] != 0 || K[7] != 0 || K[8] != 1) {
      free(c);
      return pl_fail(PL_ERR_INVALID, "Ks[%d]: expected [[fx 0 cx] [0 fy cy] [0 0 1]]", i);
    }
    memcpy(c[i].viewmat, in->viewmats + 16 * i, sizeof c[i].viewmat);
  }
  *cams = c;
  return PL_OK;
}

int plapi_raster_forward(plapi_raster *r, const plapi_raster_inputs *in, const plapi_raster_images *out) {
  raster_gaussians g;
  raster_camera *cams = NULL;
  PL_TRY(raster_args(r, in, &g, &cams));
  raster_images o;
  memset(&o, 0, sizeof o);
  if (out) {
    o.rgb = (real *)out->rgb;
    o.alpha = (real *)out->alpha;
    o.depth = (real *)out->depth;
    o.expected_depth = (real *)out->expected_depth;
  }
  pl_backend b = raster_ctx_backend(r->ctx);
  pl_status st = stream_in(b, r->stream);
  if (st == PL_OK) st = raster_forward(r->ctx, &g, cams, in->ncams, &r->opt, &o);
  if (st == PL_OK) st = stream_out(b);
  r->forwarded = st == PL_OK;
  free(cams);
  return st;
}

int plapi_raster_backward(plapi_raster *r, const plapi_raster_inputs *in, const plapi_raster_images *v_out,
                          const plapi_raster_grads *grads) {
  raster_gaussians g;
  raster_camera *cams = NULL;
  PL_TRY(raster_args(r, in, &g, &cams));
  if (!r->forwarded) {
    free(cams);
    return fail(PL_ERR_INVALID, "raster backward: no successful forward on this handle");
  }
  raster_images v;
  raster_grads gr;
  memset(&v, 0, sizeof v);
  memset(&gr, 0, sizeof gr);
  if (v_out) {
    v.rgb = (real *)v_out->rgb;
    v.alpha = (real *)v_out->alpha;
    v.depth = (real *)v_out->depth;
    v.expected_depth = (real *)v_out->expected_depth;
  }
  if (grads) {
    gr.means = (real *)grads->means;
    gr.opacities = (real *)grads->opacities;
    if (in->covars) gr.covs = (real *)grads->covars;
    else gr.scales = (real *)grads->scales, gr.quats = (real *)grads->quats;
    if (in->sh_degree < 0) gr.colors = (real *)grads->colors;
    else gr.sh = (real *)grads->colors;
  }
  pl_backend b = raster_ctx_backend(r->ctx);
  pl_status st = stream_in(b, r->stream);
  if (st == PL_OK) st = raster_backward(r->ctx, &g, cams, in->ncams, &r->opt, &v, &gr);
  if (st == PL_OK) st = stream_out(b);
  free(cams);
  return st;
}

void plapi_raster_stats(const plapi_raster *r, int64_t stats[4]) {
  memset(stats, 0, 4 * sizeof *stats);
  if (!r || r->magic != PLAPI_MAGIC) return;
  raster_stats s;
  raster_get_stats(r->ctx, &s);
  stats[0] = s.n_visible;
  stats[1] = s.n_pairs;
  stats[2] = s.fwd_evals;
  stats[3] = s.bwd_evals;
}

/* ------------------------------------------------------------------ upsampler */

struct plapi_upsampler {
  uint32_t magic;
  ups *u;
  pl_backend backend;
  void *stream;
  int n;
};

int plapi_upsample_create(plapi_upsampler **out, const plapi_upsample_desc *desc) {
  if (!out) return fail(PL_ERR_INVALID, "plapi_upsample_create: out is NULL");
  *out = NULL;
  if (!desc) return fail(PL_ERR_INVALID, "plapi_upsample_create: desc is NULL");
  if (desc->n < 1 || !desc->rest_positions)
    return fail(PL_ERR_INVALID, "upsample: rest_positions must hold n >= 1 particles");
  if (desc->mode < 0 || desc->mode > 3)
    return pl_fail(PL_ERR_INVALID, "upsample: mode = %d: expected 1 bound, 2 runtime or 3 particles", desc->mode);
  plapi_upsampler *u = (plapi_upsampler *)calloc(1, sizeof *u);
  if (!u) return fail(PL_ERR_NOMEM, "out of memory");
  pl_status st = device_setup(&desc->device, &u->backend);
  ups_object obj;
  memset(&obj, 0, sizeof obj);
  obj.name = "particles";
  obj.mode = desc->mode == 0 ? UPS_BOUND : (ups_mode)desc->mode;
  memcpy(obj.color, desc->color, sizeof obj.color);
  ups_desc d;
  memset(&d, 0, sizeof d);
  d.backend = u->backend;
  d.threads = desc->device.threads;
  d.nparticles = desc->n;
  d.rest_positions = (const real *)desc->rest_positions;
  d.nobjects = 1;
  d.objects = &obj;
  d.particle_spacing = desc->particle_spacing;
  d.spacing = desc->spacing;
  d.bind_radius = desc->bind_radius;
  d.smoothing = desc->smoothing;
  d.children = desc->children;
  d.surface_threshold = desc->surface_threshold;
  d.surface_band = desc->surface_band;
  d.surface_level = desc->surface_level;
  d.seed = desc->seed;
  if (st == PL_OK) st = ups_create(&u->u, &d);
  if (st != PL_OK) {
    free(u);
    return st;
  }
  u->magic = PLAPI_MAGIC;
  u->stream = desc->device.cuda_stream;
  u->n = desc->n;
  *out = u;
  return PL_OK;
}

void plapi_upsample_free(plapi_upsampler *u) {
  if (!u || u->magic != PLAPI_MAGIC) return;
  ups_destroy(u->u);
  u->magic = 0;
  free(u);
}

int64_t plapi_upsample_count(const plapi_upsampler *u) {
  if (!u || u->magic != PLAPI_MAGIC) return -1;
  ups_info info;
  ups_get_info(u->u, &info);
  return info.count;
}

static pl_status ups_apply_params(plapi_upsampler *u, const plapi_upsample_params *p, const void *x, const void *F) {
  if (!u || u->magic != PLAPI_MAGIC) return pl_fail(PL_ERR_INVALID, "upsample: not an upsampler handle of this precision");
  if (!x) return pl_fail(PL_ERR_INVALID, "upsample: x is NULL");
  if (!F) return pl_fail(PL_ERR_INVALID, "upsample: F is NULL");
  if (!p) return PL_OK;
  ups_params q = {p->sigma0, p->thickness, p->opacity};
  return ups_set_params(u->u, &q);
}

static pl_status copy_out(pl_backend b, void *dst, const void *src, size_t bytes) {
  if (!dst) return PL_OK;
  if (b == PL_BACKEND_CUDA) return pl_cuda_memcpy_d2d(dst, src, bytes);
  memcpy(dst, src, bytes);
  return PL_OK;
}

int plapi_upsample_forward(plapi_upsampler *u, const plapi_upsample_params *params, const void *x, const void *F,
                           void *means, void *covars, void *colors, void *opacities) {
  PL_TRY(ups_apply_params(u, params, x, F));
  PL_TRY(stream_in(u->backend, u->stream));
  ups_gaussians g;
  PL_TRY(ups_forward(u->u, (const real *)x, (const real *)F, &g));
  size_t m = (size_t)g.count;
  PL_TRY(copy_out(u->backend, means, g.means, 3 * m * sizeof(real)));
  PL_TRY(copy_out(u->backend, covars, g.covs, 6 * m * sizeof(real)));
  PL_TRY(copy_out(u->backend, colors, g.colors, 3 * m * sizeof(real)));
  PL_TRY(copy_out(u->backend, opacities, g.opacities, m * sizeof(real)));
  return stream_out(u->backend);
}

int plapi_upsample_backward(plapi_upsampler *u, const plapi_upsample_params *params, const void *x, const void *F,
                            const void *v_means, const void *v_covars, const void *v_colors,
                            const void *v_opacities, void *v_x, void *v_F, plapi_upsample_params *v_params) {
  PL_TRY(ups_apply_params(u, params, x, F));
  PL_TRY(stream_in(u->backend, u->stream));
  PL_TRY(ups_zero_grads(u->u));
  PL_TRY(ups_backward(u->u, (const real *)x, (const real *)F, (const real *)v_means, (const real *)v_covars,
                              (const real *)v_colors, (const real *)v_opacities, (real *)v_x, (real *)v_F));
  if (v_params) {
    ups_grads g;
    ups_get_grads(u->u, &g);
    v_params->sigma0 += g.sigma0;
    v_params->thickness += g.thickness;
    v_params->opacity += g.opacity;
  }
  return stream_out(u->backend);
}

/* ------------------------------------------------------------------ scene */

struct plapi_scene {
  uint32_t magic;
  pl_scene scene;
  pl_engine *engine;
  pl_targets targets;
  int has_targets;
  void *stream;
};

int plapi_scene_create(plapi_scene **out, const char *path, const plapi_scene_desc *desc) {
  if (!out) return fail(PL_ERR_INVALID, "plapi_scene_create: out is NULL");
  *out = NULL;
  if (!path) return fail(PL_ERR_INVALID, "scene: path is NULL");
  plapi_scene_desc zero;
  memset(&zero, 0, sizeof zero);
  if (!desc) desc = &zero;
  if (desc->nsets < 0 || (desc->nsets > 0 && !desc->sets)) return fail(PL_ERR_INVALID, "scene: bad sets/nsets");
  if (desc->quiet) pl_log_set_level(PL_LOG_WARN);
  plapi_scene *s = (plapi_scene *)calloc(1, sizeof *s);
  if (!s) return fail(PL_ERR_NOMEM, "out of memory");
  pl_status st = pl_scene_load(&s->scene, path, desc->sets, desc->nsets);
  if (st != PL_OK) {
    free(s);
    return st;
  }
  if (desc->device.backend != PLAPI_AUTO) {
    pl_backend b;
    st = device_setup(&desc->device, &b);
    if (st == PL_OK) s->scene.sim.backend = b;
  }
  if (st == PL_OK && desc->device.threads > 0) s->scene.sim.threads = desc->device.threads;
  if (st == PL_OK) st = pl_engine_create(&s->engine, &s->scene);
  /* targets only when the scene defines them (a scene without [truth] or a folder can still simulate, render) */
  if (st == PL_OK && (s->scene.targets.from_folder || s->scene.ntruth > 0)) {
    st = pl_engine_make_targets(&s->scene, &s->targets, desc->quiet);
    if (st == PL_OK) st = pl_engine_set_targets(s->engine, &s->targets);
    s->has_targets = 1;
  }
  s->magic = PLAPI_MAGIC;
  s->stream = desc->device.cuda_stream;
  if (st != PL_OK) {
    plapi_scene_free(s);
    return st;
  }
  *out = s;
  return PL_OK;
}

void plapi_scene_free(plapi_scene *s) {
  if (!s || s->magic != PLAPI_MAGIC) return;
  pl_engine_free(s->engine);
  if (s->has_targets) pl_targets_free(&s->targets);
  pl_scene_free(&s->scene);
  s->magic = 0;
  free(s);
}

void plapi_scene_get_info(const plapi_scene *s, plapi_scene_info *info) {
  memset(info, 0, sizeof *info);
  if (!s || s->magic != PLAPI_MAGIC) return;
  info->particles = pl_engine_particles(s->engine);
  info->gaussians = pl_engine_gaussians(s->engine);
  info->frames = s->scene.sim.frames;
  info->ncams = s->scene.ncameras;
  info->width = s->scene.render.width;
  info->height = s->scene.render.height;
  info->pixels = s->scene.ncameras > 0 ? pl_engine_camera_offset(s->engine, s->scene.ncameras) : 0;
  info->backend = pl_engine_backend(s->engine) == PL_BACKEND_CUDA ? PLAPI_CUDA : PLAPI_CPU;
  if (s->has_targets)
    for (int f = 0; f < s->targets.nframes; ++f) info->loss_frames += s->targets.frame_used[f] != 0;
}

/* The parameters as an optimiser in the linear space (theta = u), so that pl_engine_apply sets them as given. */
static pl_status make_params(const plapi_scene *s, const plapi_params *p, pl_optimizer *o) {
  memset(o, 0, sizeof *o);
  if (!s || s->magic != PLAPI_MAGIC) return pl_fail(PL_ERR_INVALID, "scene: not a scene handle of this precision");
  if (!p || p->n == 0) return PL_OK;
  if (p->n < 0 || !p->addresses || !p->components || !p->values)
    return pl_fail(PL_ERR_INVALID, "params: n, addresses, components and values are needed");
  o->p = (pl_param *)calloc((size_t)p->n, sizeof *o->p);
  if (!o->p) return pl_fail(PL_ERR_NOMEM, "out of memory");
  o->n = p->n;
  for (int i = 0; i < p->n; ++i) {
    pl_param *q = &o->p[i];
    if (!p->addresses[i] || strlen(p->addresses[i]) >= sizeof q->address)
      return pl_fail(PL_ERR_INVALID, "params[%d]: bad address", i);
    if (p->components[i] != 1 && p->components[i] != 3)
      return pl_fail(PL_ERR_INVALID, "%s: components = %d (1 or 3)", p->addresses[i], p->components[i]);
    strcpy(q->address, p->addresses[i]);
    q->space = PL_SPACE_LINEAR;
    q->components = p->components[i];
    for (int k = 0; k < q->components; ++k) q->u[k] = p->values[3 * i + k];
  }
  return PL_OK;
}

static void give_grads(const pl_optimizer *o, double *grads) {
  for (int i = 0; grads && i < o->n; ++i)
    for (int k = 0; k < 3; ++k) grads[3 * i + k] = k < o->p[i].components ? o->p[i].grad[k] : 0.0;
}

int plapi_scene_render(plapi_scene *s, const plapi_params *p, int frame, void *rgb, void *alpha) {
  pl_optimizer o;
  pl_status st = make_params(s, p, &o);
  int nf = st == PL_OK ? s->scene.sim.frames : 0;
  if (st == PL_OK && (frame < 0 || frame > nf)) st = pl_fail(PL_ERR_INVALID, "frame = %d: outside 0..%d", frame, nf);
  unsigned char *mask = st == PL_OK ? (unsigned char *)calloc((size_t)nf + 1, 1) : NULL;
  if (st == PL_OK && !mask) st = pl_fail(PL_ERR_NOMEM, "out of memory");
  if (st == PL_OK) {
    mask[frame] = 1;
    st = pl_engine_apply(s->engine, &o);
  }
  pl_backend b = st == PL_OK ? pl_engine_backend(s->engine) : PL_BACKEND_CPU;
  if (st == PL_OK) st = stream_in(b, s->stream);
  if (st == PL_OK) st = pl_engine_run(s->engine, frame, mask, NULL, NULL);
  if (st == PL_OK) {
    real *r, *a;
    pl_engine_images(s->engine, &r, &a);
    size_t np = (size_t)pl_engine_camera_offset(s->engine, s->scene.ncameras);
    st = copy_out(b, rgb, r, 3 * np * sizeof(real));
    if (st == PL_OK) st = copy_out(b, alpha, a, np * sizeof(real));
  }
  if (st == PL_OK) st = stream_out(b);
  free(mask);
  pl_optimizer_free(&o);
  return st;
}

int plapi_scene_loss(plapi_scene *s, const plapi_params *p, const char *frames, double *loss, double *grads) {
  pl_optimizer o;
  pl_status st = make_params(s, p, &o);
  if (st == PL_OK && !loss) st = pl_fail(PL_ERR_INVALID, "scene loss: loss is NULL");
  if (st == PL_OK && !s->has_targets)
    st = pl_fail(PL_ERR_INVALID, "%s: the scene has no targets (a [truth] section or targets.source = folder)",
                 s->scene.path);
  if (st == PL_OK && grads && o.n == 0) st = pl_fail(PL_ERR_INVALID, "scene loss: gradients asked for no parameter");
  pl_loss_value v;
  memset(&v, 0, sizeof v);
  if (st == PL_OK) st = pl_engine_eval(s->engine, frames, grads != NULL, &o, &v);
  if (st == PL_OK) {
    *loss = v.total;
    give_grads(&o, grads);
  }
  pl_optimizer_free(&o);
  return st;
}

int plapi_scene_simulate(plapi_scene *s, const plapi_params *p, int nsel, const int *frames, void *x, void *v,
                         void *F) {
  pl_optimizer o;
  pl_status st = make_params(s, p, &o);
  if (st == PL_OK && !frames) st = pl_fail(PL_ERR_INVALID, "simulate: frames is NULL");
  pl_backend b = st == PL_OK ? pl_engine_backend(s->engine) : PL_BACKEND_CPU;
  if (st == PL_OK) st = stream_in(b, s->stream);
  if (st == PL_OK) st = pl_engine_states(s->engine, &o, nsel, frames, (real *)x, (real *)v, (real *)F);
  if (st == PL_OK) st = stream_out(b);
  pl_optimizer_free(&o);
  return st;
}

int plapi_scene_simulate_backward(plapi_scene *s, const plapi_params *p, int nsel, const int *frames,
                                  const void *v_x, const void *v_v, const void *v_F, double *grads) {
  pl_optimizer o;
  pl_status st = make_params(s, p, &o);
  if (st == PL_OK && (!frames || !grads)) st = pl_fail(PL_ERR_INVALID, "simulate backward: frames and grads are needed");
  pl_backend b = st == PL_OK ? pl_engine_backend(s->engine) : PL_BACKEND_CPU;
  if (st == PL_OK) st = stream_in(b, s->stream);
  if (st == PL_OK)
    st = pl_engine_states_backward(s->engine, &o, nsel, frames, (const real *)v_x, (const real *)v_v, (const real *)v_F);
  if (st == PL_OK) st = stream_out(b);
  if (st == PL_OK) give_grads(&o, grads);
  pl_optimizer_free(&o);
  return st;
}
