/* engine.c: set-up, parameters, the forward pass, images and outputs. The gradient pass is engine_grad.c. */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/engine_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/log.h"
#include "core/progress.h"
#include "pipeline/engine_objective.h"
#include "pipeline/engine_params.h"
#include "pipeline/particle_fields.h"
#include "pipeline/capture_scene.h"
#include "pipeline/composite.h"
#include "pipeline/panels.h"
#include "core/rng.h"
#include "pipeline/particle_ply.h"
#include "pipeline/sim_setup.h"
#include "pipeline/ups_setup.h"
#include "raster/ply.h"

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
  e->backend = e->sim.backend;
  e->prof.backend = e->backend;
  e->n = e->sim.n;
  /* the initial state, kept on the backend (each run starts from it) and on the host (velocities are
   * recomputed from the objects' velocity and angular velocity when those are learnt) */
  st = mpm_particles_alloc(&e->init_host, e->n);
  if (st == PL_OK) st = mpm_download(&e->sim, &e->sim.state, &e->init_host);
  if (st == PL_OK) {
    for (int64_t i = 0; i < e->n; ++i) e->init_host.object[i] = e->sim.object_of[i];
    st = mpm_state_alloc(&e->init, e->backend, e->n);
  }
  if (st == PL_OK) st = mpm_state_copy(&e->init, &e->sim.state);
  e->sched_rec = (int *)calloc((size_t)s->sim.frames + 1, sizeof(int));
  e->sched_hold = (int *)calloc((size_t)s->sim.frames + 1, sizeof(int));
  if (st == PL_OK && (!e->sched_rec || !e->sched_hold)) st = pl_fail(PL_ERR_NOMEM, "out of memory");
  e->sim.plan_record = e->sched_rec;
  e->sim.plan_frames = s->sim.frames + 1;
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
    pl_upsample_info info;
    pl_upsample_get_info(e->ups, &info);
    e->m = info.count;
  }
  /* rasterizer and cameras */
  if (st == PL_OK) {
    raster_desc rd;
    memset(&rd, 0, sizeof rd);
    rd.backend = e->backend;
    rd.threads = s->sim.threads;
    st = raster_ctx_init(&e->rast, &rd);
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
  memset(&e->ropt, 0, sizeof e->ropt);
  e->ropt.mode = s->render.antialiased ? RASTER_ANTIALIASED : RASTER_CLASSIC;
  for (int k = 0; k < 3; ++k) e->ropt.background[k] = (real)s->render.background[k];
  /* image and cotangent buffers */
  if (st == PL_OK) st = alloc_reals(&e->img, e->backend, 4 * e->npix);
  if (st == PL_OK) st = alloc_reals(&e->vimg, e->backend, 4 * e->npix);
  if (st == PL_OK) st = alloc_reals(&e->vgauss, e->backend, 13 * e->m);
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
  engine_grad_free(e);
  engine_appearance_free(e);
  engine_params_free(e);
  engine_fields_free(e);
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
  raster_ctx_free(e->rast);
  free(e->cams);
  free(e->cam_offset);
  pl_upsample_free(e->ups);
  free(e->obj_velocity);
  mpm_state_free(&e->init);
  mpm_particles_free(&e->init_host);
  free(e->particle_rgb);
  mpm_free(&e->sim);
  free(e);
}

pl_backend pl_engine_backend(const pl_engine *e) { return e->backend; }
const pl_profile *pl_engine_profile(const pl_engine *e) { return &e->prof; }
void pl_engine_profile_sync(pl_engine *e, int sync) { e->prof.sync = sync; }
int64_t pl_engine_particles(const pl_engine *e) { return e->n; }
int64_t pl_engine_gaussians(const pl_engine *e) { return e->m; }
const mpm_sim *pl_engine_sim(const pl_engine *e) { return &e->sim; }

/* ------------------------------------------------------------------ parameters */

static int object_index(const pl_scene *s, const char *name) {
  for (int o = 0; o < s->nobjects; ++o)
    if (strcmp(s->objects[o].name, name) == 0) return o;
  return -1;
}

/* v_p = v + w x (x_p - c) for every particle of object o, into the initial state */
pl_status engine_refresh_velocities(pl_engine *e) {
  const pl_scene *s = e->scene;
  for (int64_t i = 0; i < e->n; ++i) {
    int o = e->init_host.object[i];
    if (o < 0 || o >= s->nobjects) continue;
    const double *v = e->obj_velocity + 6 * o, *w = v + 3, *c = engine_object_center(e, o);
    double r[3] = {e->init_host.x[3 * i] - c[0], e->init_host.x[3 * i + 1] - c[1], e->init_host.x[3 * i + 2] - c[2]};
    e->init_host.v[3 * i] = (real)(v[0] + w[1] * r[2] - w[2] * r[1]);
    e->init_host.v[3 * i + 1] = (real)(v[1] + w[2] * r[0] - w[0] * r[2]);
    e->init_host.v[3 * i + 2] = (real)(v[2] + w[0] * r[1] - w[1] * r[0]);
  }
  PL_TRY(pl_sim_velocity_field(s, e->n, e->init_host.x, e->init_host.object, e->init_host.v));
  return pl_buffer_upload(&e->init.v, 0, e->init_host.v, sizeof(real) * 3 * (size_t)e->n);
}

pl_status pl_engine_set(pl_engine *e, const char *address, const double *v, int ncomp) {
  const pl_scene *s = e->scene;
  char type[PL_NAME_MAX], name[PL_NAME_MAX], key[PL_NAME_MAX];
  PL_TRY(pl_config_split_address(&s->config, address, type, name, key, PL_NAME_MAX));
  for (int k = 0; k < ncomp; ++k)
    if (!isfinite(v[k])) return pl_fail(PL_ERR_NUMERIC, "%s: the value is not finite", address);
  if (strcmp(type, "material") == 0) {
    int m = pl_scene_material_index(s, name);
    if (m < 0) return pl_fail(PL_ERR_INVALID, "%s: no [material %s]", address, name);
    mpm_material mat = e->sim.materials[m];
    double x = v[0];
    if (strcmp(key, "E") == 0) mat.E = x;
    else if (strcmp(key, "nu") == 0) mat.nu = x;
    else if (strcmp(key, "density") == 0) mat.density = x;
    else if (strcmp(key, "yield_stress") == 0) mat.yield_stress = x;
    else if (strcmp(key, "viscosity") == 0) mat.viscosity = x;
    else if (strcmp(key, "friction_angle") == 0) mat.friction_angle = x;
    else if (strcmp(key, "cohesion") == 0) mat.cohesion = x;
    else if (strcmp(key, "bulk_modulus") == 0) mat.bulk_modulus = x;
    else return pl_fail(PL_ERR_UNSUPPORTED, "%s: not a value the simulator can change", address);
    pl_status st = mpm_set_material(&e->sim, m, &mat);
    if (st != PL_OK) return pl_fail_context(st, "%s = %g: ", address, x);
    return engine_fields_apply(e); /* particles with per-particle moduli on their material's E or nu */
  }
  if (strcmp(type, "sim") == 0 && strcmp(key, "gravity") == 0) {
    if (ncomp != 3) return pl_fail(PL_ERR_INVALID, "%s needs 3 values", address);
    e->sim.grid.gravity = v3_make((real)v[0], (real)v[1], (real)v[2]);
    return PL_OK;
  }
  if (strcmp(type, "object") == 0 && (strcmp(key, "velocity") == 0 || strcmp(key, "angular_velocity") == 0)) {
    int o = object_index(s, name);
    if (o < 0) return pl_fail(PL_ERR_INVALID, "%s: no [object %s]", address, name);
    if (ncomp != 3) return pl_fail(PL_ERR_INVALID, "%s needs 3 values", address);
    for (int k = 0; k < 3; ++k) e->obj_velocity[6 * o + (key[0] == 'v' ? 0 : 3) + k] = v[k];
    return engine_refresh_velocities(e);
  }
  if (strcmp(type, "upsample") == 0) {
    pl_upsample_params p;
    pl_upsample_get_params(e->ups, &p);
    if (strcmp(key, "sigma0") == 0) p.sigma0 = v[0];
    else if (strcmp(key, "thickness") == 0) p.thickness = v[0];
    else if (strcmp(key, "opacity") == 0) p.opacity = v[0];
    else return pl_fail(PL_ERR_UNSUPPORTED, "%s: not a value the upsampler can change", address);
    pl_status st = pl_upsample_set_params(e->ups, &p);
    if (st != PL_OK) return pl_fail_context(st, "%s = %g: ", address, v[0]);
    return PL_OK;
  }
  pl_status st;
  if (engine_params_set(e, address, type, name, key, v, ncomp, &st)) return st;
  return pl_fail(PL_ERR_UNSUPPORTED, "%s: not a learnable value of the pipeline", address);
}

pl_status pl_engine_apply(pl_engine *e, const pl_optimizer *o) {
  if (!o) return PL_OK;
  for (int i = 0; i < o->n; ++i) {
    double v[3];
    for (int k = 0; k < o->p[i].components; ++k) v[k] = pl_param_value(&o->p[i], k);
    PL_TRY(pl_engine_set(e, o->p[i].address, v, o->p[i].components));
  }
  return PL_OK;
}

/* ------------------------------------------------------------------ forward */

pl_status engine_reset(pl_engine *e) {
  PL_TRY(mpm_state_copy(&e->sim.state, &e->init));
  e->sim.frame = 0;
  e->sim.time = 0;
  return PL_OK;
}

/* Frozen depth order (pl_engine_freeze_order): record the Gaussians' camera depths of this frame, or sort by the
 * recorded ones (when the frame was recorded with the same Gaussian count). */
static pl_status order_depths(pl_engine *e, const pl_ups_gaussians *g) {
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

void pl_engine_freeze_order(pl_engine *e, int mode) {
  e->order_mode = mode;
  if (mode == 1 && e->order_m) memset(e->order_m, 0, sizeof(int64_t) * (size_t)(e->scene->sim.frames + 1));
  if (mode == 0) e->ropt.sort_depth = NULL;
}

pl_status engine_render_state(pl_engine *e, const mpm_state *state) {
  pl_ups_gaussians g;
  pl_profile_begin(&e->prof, PL_PH_UPS_FWD);
  pl_status ust = pl_upsample_forward(e->ups, (const real *)state->x.ptr, (const real *)state->F.ptr, &g);
  pl_profile_end(&e->prof);
  PL_TRY(ust);
  PL_TRY(order_depths(e, &g));
  e->gauss.n = g.count;
  e->gauss.means = g.means;
  e->gauss.covs = g.covs;
  e->gauss.colors = g.colors;
  e->gauss.opacities = g.opacities;
  e->gauss.scales = e->gauss.quats = e->gauss.sh = NULL;
  e->gauss.sh_degree = 0;
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
      pl_status sst = mpm_advance_frame(&e->sim);
      pl_profile_end(&e->prof);
      PL_TRY(sst);
      if (e->sim.last_substeps > e->max_substeps) e->max_substeps = e->sim.last_substeps;
    }
    if (mask && mask[f]) {
      e->cur_frame = f;
      PL_TRY(engine_render_state(e, &e->sim.state));
      e->last_frame_rendered = f;
      if (cb) PL_TRY(cb(user, e, f));
    }
  }
  return PL_OK;
}

pl_status pl_engine_fix_substeps(pl_engine *e, int *substeps) {
  if (e->sim.substeps == 0) {
    e->max_substeps = 0;
    PL_TRY(pl_engine_run(e, e->scene->sim.frames, NULL, NULL, NULL));
    e->sim.substeps = e->max_substeps;
  }
  if (substeps) *substeps = e->sim.substeps;
  return PL_OK;
}

void pl_engine_images(const pl_engine *e, real **rgb, real **alpha) {
  real *img = (real *)e->img.ptr;
  if (rgb) *rgb = img;
  if (alpha) *alpha = img + 3 * e->npix;
}

int64_t pl_engine_camera_offset(const pl_engine *e, int camera) { return e->cam_offset[camera]; }

pl_status pl_engine_download_camera(const pl_engine *e, int c, float *rgb, float *alpha) {
  int64_t off = e->cam_offset[c], np = e->cam_offset[c + 1] - off;
  real *tmp = (real *)malloc(sizeof(real) * 4 * (size_t)np);
  if (!tmp) return pl_fail(PL_ERR_NOMEM, "out of memory");
  pl_status st = pl_buffer_download(&e->img, sizeof(real) * 3 * (size_t)off, tmp, sizeof(real) * 3 * (size_t)np);
  if (st == PL_OK)
    st = pl_buffer_download(&e->img, sizeof(real) * (size_t)(3 * e->npix + off), tmp + 3 * np, sizeof(real) * (size_t)np);
  if (st == PL_OK) {
    for (int64_t i = 0; i < np; ++i) {
      if (rgb)
        for (int k = 0; k < 3; ++k) rgb[3 * i + k] = (float)tmp[3 * i + k];
      if (alpha) alpha[i] = (float)tmp[3 * np + i];
    }
    for (int64_t i = 0; i < 4 * np; ++i)
      if (!isfinite(tmp[i])) {
        st = pl_fail(PL_ERR_NUMERIC, "camera %s: the rendered image has a NaN or Inf at pixel %lld",
                     e->scene->cameras[c].name, (long long)((i < 3 * np ? i / 3 : i - 3 * np)));
        break;
      }
  }
  free(tmp);
  return st;
}

pl_status pl_engine_write_pngs(const pl_engine *e, const char *folder, int frame) {
  for (int c = 0; c < e->ncams; ++c) {
    const pl_scene_camera *sc = &e->scene->cameras[c];
    int64_t np = (int64_t)sc->width * sc->height;
    float *px = (float *)malloc(sizeof(float) * 4 * (size_t)np), *rgb = (float *)malloc(sizeof(float) * 3 * (size_t)np),
          *a = (float *)malloc(sizeof(float) * (size_t)np);
    pl_status st = (px && rgb && a) ? PL_OK : pl_fail(PL_ERR_NOMEM, "out of memory");
    char dir[PL_PATH_MAX + 80], path[PL_PATH_MAX + 96];
    snprintf(dir, sizeof dir, "%s/%s", folder, sc->name);
    if (st == PL_OK) st = pl_mkdirs(dir);
    if (st == PL_OK) st = pl_engine_download_camera(e, c, rgb, a);
    if (st == PL_OK) {
      for (int64_t i = 0; i < np; ++i) {
        for (int k = 0; k < 3; ++k) px[4 * i + k] = rgb[3 * i + k];
        px[4 * i + 3] = a[i];
      }
      snprintf(path, sizeof path, "%s/%04d.png", dir, frame);
      st = pl_png_write_float(path, sc->width, sc->height, 4, px);
    }
    free(px);
    free(rgb);
    free(a);
    PL_TRY(st);
  }
  return PL_OK;
}

pl_status pl_engine_write_particle_ply(const pl_engine *e, const char *path) {
  mpm_particles h;
  PL_TRY(mpm_particles_alloc(&h, e->n));
  pl_status st = mpm_download(&e->sim, &e->sim.state, &h);
  if (st == PL_OK) st = pl_buffer_download(&e->sim.mass, 0, h.mass, (size_t)e->n * sizeof(real));
  if (st == PL_OK) st = pl_buffer_download(&e->sim.vol0, 0, h.vol0, (size_t)e->n * sizeof(real));
  if (st == PL_OK)
    st = pl_write_particle_ply(path, e->n, h.x, h.v, h.F, e->particle_rgb, e->init_host.object, h.mass, h.vol0);
  mpm_particles_free(&h);
  return st;
}

pl_status pl_engine_write_gaussian_ply(const pl_engine *e, const char *path) {
  size_t m = (size_t)e->m;
  real *buf = (real *)malloc(sizeof(real) * 13 * (m ? m : 1));
  if (!buf) return pl_fail(PL_ERR_NOMEM, "out of memory");
  real *means = buf, *covs = buf + 3 * m, *cols = buf + 9 * m, *op = buf + 12 * m;
  pl_status st = pl_upsample_download(e->ups, means, covs, cols, op);
  if (st == PL_OK) {
    /* leave out Gaussians of opacity 0 (runtime children deep inside a body) */
    size_t k = 0;
    for (size_t i = 0; i < m; ++i) {
      if (!(op[i] > 0)) continue;
      memmove(means + 3 * k, means + 3 * i, 3 * sizeof(real));
      memmove(covs + 6 * k, covs + 6 * i, 6 * sizeof(real));
      memmove(cols + 3 * k, cols + 3 * i, 3 * sizeof(real));
      op[k] = op[i];
      ++k;
    }
    raster_gaussians g;
    memset(&g, 0, sizeof g);
    g.n = (int64_t)k;
    g.means = means;
    g.covs = covs;
    g.colors = cols;
    g.opacities = op;
    st = raster_ply_write(path, &g, NULL);
  }
  free(buf);
  return st;
}

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
  pl_engine_objective_cutoffs(e); /* every loss is taken on the objective's image (engine_objective.c) */
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
    acc->total += scale * v.total;
    for (int q = 0; q < PL_LOSS_COUNT; ++q) acc->term[q] += scale * v.term[q];
  }
  return PL_OK;
}

/* One frame's loss and its adjoint down to the particles: render `state`, take the loss against the targets
 * (accumulated into acc with `scale`), then the adjoints of the loss, the rasterizer and the upsampler. On return
 * e->vstate holds dL/dx [n][3] then dL/dF [n][9] of this frame, e->vgauss the Gaussians' cotangents, and the
 * upsampler has accumulated its parameter gradients. */
pl_status engine_frame_adjoint(pl_engine *e, const mpm_state *state, int frame, double scale, pl_loss_value *acc) {
  e->cur_frame = frame;
  PL_TRY(engine_render_state(e, state));
  PL_TRY(engine_frame_loss(e, frame, scale, 1, acc));
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
  rg.colors = vg + 9 * m;
  rg.opacities = vg + 12 * m;
  pl_profile_begin(&e->prof, PL_PH_RASTER_BWD);
  rg.cameras = engine_params_camera_grads(e); /* NULL unless a camera correction learns */
  pl_status st = raster_backward(e->rast, &e->gauss, e->cams, e->ncams, &e->ropt, &vimg, &rg);
  pl_profile_end(&e->prof);
  if (st != PL_OK) return pl_fail_context(st, "frame %d, rasterizer adjoint: ", frame);
  PL_TRY(pl_buffer_zero(&e->vstate));
  pl_profile_begin(&e->prof, PL_PH_UPS_BWD);
  st = pl_upsample_backward(e->ups, (const real *)state->x.ptr, (const real *)state->F.ptr, rg.means, rg.covs,
                            rg.colors, rg.opacities, vs, vs + 3 * n);
  pl_profile_end(&e->prof);
  if (st != PL_OK) return pl_fail_context(st, "frame %d, upsampler adjoint: ", frame);
  return engine_params_frame_adjoint(e);
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
      st = engine_eval_grad(e, mask, last, 1.0 / count, o, loss);
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

/* ------------------------------------------------------------------ targets from the truth */

typedef struct {
  pl_targets *t;
  double noise;     /* targets.noise: Gaussian noise on the RGB (stream: camera, frame) */
  int seed;
} truth_ctx;

static void add_target_noise(const truth_ctx *c, int cam, int f, float *rgb, int64_t n) {
  for (int64_t i = 0; i < n; i += 2) {
    real z[2];
    pl_rng_normal2((uint64_t)c->seed, ((uint64_t)cam << 32) | (uint64_t)f, (uint32_t)(i / 2), z);
    rgb[i] += (float)(c->noise * z[0]);
    if (i + 1 < n) rgb[i + 1] += (float)(c->noise * z[1]);
  }
}

static pl_status truth_frame(void *user, pl_engine *e, int f) {
  truth_ctx *c = (truth_ctx *)user;
  for (int cam = 0; cam < e->ncams; ++cam) {
    if (!pl_targets_wanted(c->t, cam, f)) continue;
    int64_t np = e->cam_offset[cam + 1] - e->cam_offset[cam];
    float *rgb = (float *)malloc(sizeof(float) * 3 * (size_t)np), *a = (float *)malloc(sizeof(float) * (size_t)np);
    pl_status st = (rgb && a) ? pl_engine_download_camera(e, cam, rgb, a) : pl_fail(PL_ERR_NOMEM, "out of memory");
    if (st == PL_OK && c->noise > 0) add_target_noise(c, cam, f, rgb, 3 * np);
    if (st == PL_OK) st = pl_targets_set(c->t, cam, f, (int)np, rgb, a);
    free(rgb);
    free(a);
    PL_TRY(st);
  }
  return PL_OK;
}

pl_status pl_engine_make_targets(const pl_scene *s, pl_targets *t, int quiet) {
  PL_TRY(pl_targets_select(s, t));
  return pl_engine_fill_targets(s, t, quiet);
}

pl_status pl_engine_fill_targets(const pl_scene *s, pl_targets *t, int quiet) {
  if (s->targets.source == PL_TARGETS_PACNERF || s->targets.source == PL_TARGETS_TRANSFORMS ||
      (s->targets.from_folder && s->targets.capture_layout >= 0))
    return pl_targets_load_capture(s, t, quiet);
  if (s->targets.from_folder) return pl_targets_load_folder(s, t);
  if (s->ntruth == 0)
    return pl_fail(PL_ERR_INVALID, "%s: targets.source = truth but the scene has no [truth] section (give the true "
                   "values, or set targets.source = folder)", s->path);
  pl_scene truth;
  PL_TRY(pl_scene_with_truth(&truth, s));
  pl_engine *e = NULL;
  pl_status st = pl_engine_create(&e, &truth);
  int last = -1;
  for (int f = 0; f < t->nframes; ++f)
    if (t->frame_used[f]) last = f;
  if (st == PL_OK) {
    pl_engine_objective_cutoffs(e); /* the targets are rendered as the objective renders */
    if (!quiet) PL_INFO("targets: rendering %d images from the [truth] values", pl_targets_count(t));
    truth_ctx c = {t, s->targets.noise, s->targets.noise_seed};
    st = pl_engine_run(e, last, t->frame_used, truth_frame, &c);
    if (st != PL_OK) pl_fail_context(st, "rendering the targets from [truth]: ");
  }
  pl_engine_free(e);
  pl_scene_free(&truth);
  return st;
}

/* ------------------------------------------------------------------ strips */

typedef struct {
  const char *folder;
} strip_ctx;

static pl_status strip_frame(void *user, pl_engine *e, int f) {
  strip_ctx *sc = (strip_ctx *)user;
  const pl_scene *s = e->scene;
  int nf = s->sim.frames + 1;
  for (int c = 0; c < e->ncams; ++c) {
    int k = c * nf + f;
    if (!e->loss_cam[c] || !e->targets[k].ptr) continue;
    int w = e->cams[c].width, h = e->cams[c].height;
    int64_t np = (int64_t)w * h;
    float *ren = (float *)malloc(sizeof(float) * 3 * (size_t)np), *tgt = (float *)malloc(sizeof(float) * 3 * (size_t)np),
          *dif = (float *)malloc(sizeof(float) * 3 * (size_t)np);
    real *traw = (real *)malloc(sizeof(real) * 3 * (size_t)np);
    pl_status st = (ren && tgt && dif && traw) ? PL_OK : pl_fail(PL_ERR_NOMEM, "out of memory");
    if (st == PL_OK) st = pl_engine_download_camera(e, c, ren, NULL);
    if (st == PL_OK) st = pl_buffer_download(&e->targets[k], 0, traw, sizeof(real) * 3 * (size_t)np);
    if (st == PL_OK) {
      for (int64_t i = 0; i < 3 * np; ++i) {
        tgt[i] = (float)traw[i];
        dif[i] = 0;
      }
      pl_panels_difference(ren, tgt, np, 4.0f, dif); /* mean absolute error per pixel, x4 */
      const float white[3] = {1, 1, 1}, black[3] = {0, 0, 0};
      pl_canvas cv;
      int pad = 4, zoom = pl_panels_zoom(w, 128), head = pl_text_height(13) + 6;
      st = pl_canvas_create(&cv, 3 * w * zoom + 4 * pad, head + pl_panels_label_height(w * zoom) + h * zoom + pad, white);
      if (st == PL_OK) {
        char lab[160];
        snprintf(lab, sizeof lab, "camera %s, frame %d", s->cameras[c].name, f);
        pl_canvas_label(&cv, pad, 3, cv.w - 2 * pad, lab, black, 13);
        const float *img[3] = {tgt, ren, dif};
        const char *labels[3] = {"target", "rendered", "difference x4"};
        pl_panels_row(&cv, pad, head, 3, img, labels, w, h, zoom, pad);
        char path[PL_PATH_MAX + 128];
        snprintf(path, sizeof path, "%s/strip_%s_%04d.png", sc->folder, s->cameras[c].name, f);
        st = pl_canvas_save_png(&cv, path);
        pl_canvas_free(&cv);
      }
    }
    free(ren);
    free(tgt);
    free(dif);
    free(traw);
    PL_TRY(st);
  }
  return PL_OK;
}

pl_status pl_engine_write_strips(void *user, pl_optimizer *o, const char *folder) {
  pl_engine *e = (pl_engine *)user;
  const pl_scene *s = e->scene;
  int nf = s->sim.frames + 1;
  PL_TRY(pl_engine_apply(e, o));
  unsigned char *mask = (unsigned char *)calloc((size_t)nf, 1);
  if (!mask) return pl_fail(PL_ERR_NOMEM, "out of memory");
  pl_status st = PL_OK;
  if (strcmp(s->optimize.strip_frames, "auto") == 0) {
    /* first, middle and last loss frames */
    int fr[64], n = 0;
    for (int f = 0; f < nf && n < 64; ++f)
      if (e->loss_frame && e->loss_frame[f]) fr[n++] = f;
    if (n > 0) {
      mask[fr[0]] = 1;
      mask[fr[n / 2]] = 1;
      mask[fr[n - 1]] = 1;
    }
  } else {
    st = pl_frame_selection(s->optimize.strip_frames, nf, mask);
    if (st != PL_OK) pl_fail_context(st, "optimize.strip_frames: ");
  }
  int last = -1;
  for (int f = 0; f < nf; ++f)
    if (mask[f]) last = f;
  strip_ctx c = {folder};
  if (st == PL_OK && last >= 0) st = pl_engine_run(e, last, mask, strip_frame, &c);
  free(mask);
  return st;
}
