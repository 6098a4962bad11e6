/* mpm.c: validation, setup, the clock (CFL substeps, frames) and dispatch to the CPU or CUDA loops. */
#include "mpm/mpm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rotation.h"
#include "mpm/mpm_internal.h"

const char *mpm_model_name(int model) {
  static const char *names[] = {"fixed_corotated", "neo_hookean", "stvk_von_mises",
                                "drucker_prager", "newtonian_fluid", "viscoplastic"};
  return (model >= 0 && model < MPM_MODEL_COUNT) ? names[model] : "?";
}
const char *mpm_contact_name(int type) {
  static const char *names[] = {"slip", "sticky", "separate"};
  return (type >= 0 && type <= 2) ? names[type] : "?";
}

const char *mpm_wall_name(int wall) {
  static const char *names[] = {"x min", "x max", "y min", "y max", "z min", "z max"};
  return (wall >= 0 && wall < 6) ? names[wall] : "?";
}

void mpm_euler_deg(const double deg[3], double R[9]) { pl_euler_xyz_deg(deg, R); }

pl_status mpm_resolve_grid(const mpm_desc *d, int n[3], double *dx, double origin[3]) {
  double lo[3], hi[3];
  int zero = 1;
  for (int a = 0; a < 3; ++a)
    if (d->domain_min[a] != 0 || d->domain_max[a] != 0) zero = 0;
  for (int a = 0; a < 3; ++a) {
    lo[a] = zero ? 0 : d->domain_min[a];
    hi[a] = zero ? 1 : d->domain_max[a];
    if (!isfinite(lo[a]) || !isfinite(hi[a]) || !(hi[a] > lo[a]))
      return pl_fail(PL_ERR_INVALID, "the simulation box must have domain_max > domain_min on every axis (axis %c: %g..%g)",
                     "xyz"[a], lo[a], hi[a]);
  }
  int cells = d->grid ? d->grid : 64;
  if (cells < 8 || cells > 4096) return pl_fail(PL_ERR_INVALID, "grid = %d cells: choose 8..4096", cells);
  double longest = 0;
  for (int a = 0; a < 3; ++a) longest = fmax(longest, hi[a] - lo[a]);
  *dx = longest / cells;
  for (int a = 0; a < 3; ++a) {
    n[a] = (int)ceil((hi[a] - lo[a]) / *dx - 1e-9);
    if (n[a] < 8)
      return pl_fail(PL_ERR_INVALID, "the box is only %d cells along %c (at least 8 needed); raise the grid resolution",
                     n[a], "xyz"[a]);
    origin[a] = lo[a];
  }
  double nodes = (double)(n[0] + 1) * (n[1] + 1) * (n[2] + 1);
  if (nodes > 2.0e9)
    return pl_fail(PL_ERR_LIMIT, "grid %d x %d x %d has %.3g nodes (limit 2e9)", n[0], n[1], n[2], nodes);
  return PL_OK;
}

/* ------------------------------------------------------------------ validation */

static const char *mat_name(const mpm_material *m, int i, char *buf, size_t size) {
  if (m->name && m->name[0]) snprintf(buf, size, "'%s'", m->name);
  else snprintf(buf, size, "%d", i);
  return buf;
}

/* Apply defaults and validate; *out gets the resolved material. */
static pl_status resolve_material(const mpm_material *in, int i, mpm_material *out) {
  char nb[96];
  mat_name(in, i, nb, sizeof nb);
  *out = *in;
  if (out->E == 0) out->E = 1e5;
  if (out->density == 0) out->density = 1000;
  if (out->yield_stress == 0) out->yield_stress = 1e4;
  if (out->friction_angle == 0) out->friction_angle = 30;
  if (out->bulk_modulus == 0) out->bulk_modulus = 1e5;
  if (out->model < 0 || out->model >= MPM_MODEL_COUNT)
    return pl_fail(PL_ERR_INVALID, "material %s: unknown model %d", nb, out->model);
  const char *model = mpm_model_name(out->model);
  if (!(out->density > 0) || !isfinite(out->density))
    return pl_fail(PL_ERR_INVALID, "material %s (%s): density must be > 0 (got %g)", nb, model, out->density);
  if (out->model != MPM_NEWTONIAN_FLUID) {
    if (!(out->E > 0) || !isfinite(out->E))
      return pl_fail(PL_ERR_INVALID, "material %s (%s): E must be > 0 (got %g)", nb, model, out->E);
    if (!(out->nu > -1 && out->nu < 0.5))
      return pl_fail(PL_ERR_INVALID, "material %s (%s): nu must lie in (-1, 0.5) (got %g)", nb, model, out->nu);
  }
  if (!(out->viscosity >= 0) || !isfinite(out->viscosity))
    return pl_fail(PL_ERR_INVALID, "material %s (%s): viscosity must be >= 0 (got %g)", nb, model, out->viscosity);
  switch (out->model) {
    case MPM_STVK_VON_MISES:
    case MPM_VISCOPLASTIC:
      if (!(out->yield_stress > 0) || !isfinite(out->yield_stress))
        return pl_fail(PL_ERR_INVALID, "material %s (%s): yield_stress must be > 0 (got %g)", nb, model,
                       out->yield_stress);
      if (out->model == MPM_VISCOPLASTIC && !(out->viscosity > 0))
        return pl_fail(PL_ERR_INVALID, "material %s (viscoplastic): needs a viscosity > 0", nb);
      break;
    case MPM_DRUCKER_PRAGER:
      if (out->dp_cone != MPM_DP_CONE_PLANE_STRAIN && out->dp_cone != MPM_DP_CONE_COMPRESSION &&
          out->dp_cone != MPM_DP_CONE_SHEAR)
        return pl_fail(PL_ERR_INVALID, "material %s (drucker_prager): unknown cone fit %d", nb, out->dp_cone);
      if (!(out->friction_angle > 0 && out->friction_angle < 90))
        return pl_fail(PL_ERR_INVALID, "material %s (drucker_prager): friction_angle must lie in (0, 90) degrees (got %g)",
                       nb, out->friction_angle);
      if (!(out->cohesion >= 0) || !isfinite(out->cohesion))
        return pl_fail(PL_ERR_INVALID, "material %s (drucker_prager): cohesion must be >= 0 (got %g)", nb, out->cohesion);
      if (out->mui_i0 == 0) out->mui_i0 = 0.279;
      if (out->grain_density == 0) out->grain_density = 2650;
      if (!(out->mui_delta >= 0) || !isfinite(out->mui_delta))
        return pl_fail(PL_ERR_INVALID, "material %s (drucker_prager): mui_delta must be >= 0 (got %g)", nb,
                       out->mui_delta);
      if (out->mui_delta > 0) {
        if (out->dp_cone != MPM_DP_CONE_SHEAR)
          return pl_fail(PL_ERR_INVALID, "material %s (drucker_prager): mu(I) (mui_delta > 0) needs the shear cone (it "
                         "adds to mu = tan(phi))", nb);
        if (!(out->mui_i0 > 0) || !isfinite(out->mui_i0))
          return pl_fail(PL_ERR_INVALID, "material %s (drucker_prager): mui_i0 must be > 0 (got %g)", nb, out->mui_i0);
        if (!(out->grain_size > 0) || !isfinite(out->grain_size))
          return pl_fail(PL_ERR_INVALID, "material %s (drucker_prager): mu(I) needs grain_size > 0 (m; got %g)", nb,
                         out->grain_size);
        if (!(out->grain_density > 0) || !isfinite(out->grain_density))
          return pl_fail(PL_ERR_INVALID, "material %s (drucker_prager): grain_density must be > 0 (got %g)", nb,
                         out->grain_density);
      }
      break;
    case MPM_NEWTONIAN_FLUID:
      if (!(out->bulk_modulus > 0) || !isfinite(out->bulk_modulus))
        return pl_fail(PL_ERR_INVALID, "material %s (newtonian_fluid): bulk_modulus must be > 0 (got %g)", nb,
                       out->bulk_modulus);
      break;
    default: break;
  }
  return PL_OK;
}

static mpm_kmaterial kmaterial_of(const mpm_material *m) {
  mpm_uparams u = mpm_uparams_zero();
  u.E = (real)m->E;
  u.nu = (real)m->nu;
  u.yield_stress = (real)m->yield_stress;
  u.viscosity = (real)m->viscosity;
  u.friction_angle = (real)m->friction_angle;
  u.cohesion = (real)m->cohesion;
  u.cone = m->dp_cone;
  u.bulk_modulus = (real)m->bulk_modulus;
  if (m->model == MPM_DRUCKER_PRAGER) {
    u.mui_delta = (real)m->mui_delta;
    u.mui_i0 = (real)m->mui_i0;
    u.grain_size = (real)m->grain_size;
    u.grain_density = (real)m->grain_density;
  }
  mpm_kmaterial k;
  k.model = m->model;
  k.p = mpm_params_from_user(u);
  if (m->model == MPM_NEWTONIAN_FLUID) k.p.mu = k.p.lambda = 0;
  return k;
}

static pl_status resolve_collider(const mpm_collider *c, int i, mpm_kcollider *k) {
  char nb[96];
  if (c->name && c->name[0]) snprintf(nb, sizeof nb, "'%s'", c->name);
  else snprintf(nb, sizeof nb, "%d", i);
  memset(k, 0, sizeof *k);
  k->shape = c->shape;
  k->type = c->type;
  k->friction = (real)c->friction;
  if (c->type < 0 || c->type > 2) return pl_fail(PL_ERR_INVALID, "collider %s: unknown contact type %d", nb, c->type);
  if (!(c->friction >= 0) || !isfinite(c->friction))
    return pl_fail(PL_ERR_INVALID, "collider %s: friction must be >= 0 (got %g)", nb, c->friction);
  for (int a = 0; a < 3; ++a)
    if (!isfinite(c->velocity[a]) || !isfinite(c->center[a]) || !isfinite(c->point[a]))
      return pl_fail(PL_ERR_INVALID, "collider %s: non-finite position or velocity", nb);
  k->velocity = v3_make((real)c->velocity[0], (real)c->velocity[1], (real)c->velocity[2]);
  double R[9];
  mpm_euler_deg(c->rotation, R);
  for (int r = 0; r < 3; ++r)
    for (int q = 0; q < 3; ++q) k->rot.m[r][q] = (real)R[3 * r + q];
  switch (c->shape) {
    case MPM_COLLIDER_PLANE: {
      double nx = c->normal[0], ny = c->normal[1], nz = c->normal[2];
      if (nx == 0 && ny == 0 && nz == 0) ny = 1;
      double l = sqrt(nx * nx + ny * ny + nz * nz);
      if (!(l > 0) || !isfinite(l)) return pl_fail(PL_ERR_INVALID, "collider %s: the plane normal is not a direction", nb);
      k->normal = v3_make((real)(nx / l), (real)(ny / l), (real)(nz / l));
      k->center = v3_make((real)c->point[0], (real)c->point[1], (real)c->point[2]);
      break;
    }
    case MPM_COLLIDER_BOX: {
      double sz[3];
      for (int a = 0; a < 3; ++a) {
        sz[a] = c->size[a] != 0 ? c->size[a] : 0.2;
        if (!(sz[a] > 0)) return pl_fail(PL_ERR_INVALID, "collider %s (box): size must be > 0", nb);
      }
      k->half = v3_make((real)(0.5 * sz[0]), (real)(0.5 * sz[1]), (real)(0.5 * sz[2]));
      k->center = v3_make((real)c->center[0], (real)c->center[1], (real)c->center[2]);
      break;
    }
    case MPM_COLLIDER_SPHERE:
    case MPM_COLLIDER_CYLINDER: {
      double r = c->radius != 0 ? c->radius : 0.1, h = c->height != 0 ? c->height : 0.2;
      if (!(r > 0) || !(h > 0)) return pl_fail(PL_ERR_INVALID, "collider %s: radius and height must be > 0", nb);
      k->half = v3_make((real)r, (real)(0.5 * h), (real)r);
      k->center = v3_make((real)c->center[0], (real)c->center[1], (real)c->center[2]);
      break;
    }
    default: return pl_fail(PL_ERR_INVALID, "collider %s: unknown shape %d", nb, c->shape);
  }
  return PL_OK;
}

/* Fastest elastic wave speed of a material (m/s) and its explicit viscosity bound (s, at CFL 1). */
static double wave_speed(const mpm_kmaterial *k, double density) {
  if (k->model == MPM_NEWTONIAN_FLUID) return sqrt((double)k->p.bulk / density);
  return sqrt(((double)k->p.lambda + 2.0 * (double)k->p.mu) / density);
}

static void update_cfl_inputs(mpm_sim *s, const int *used) {
  s->wave_speed = 0;
  s->wave_material = 0;
  s->visc_dt = INFINITY;
  s->visc_material = -1;
  for (int i = 0; i < s->nmaterials; ++i) {
    if (used && !used[i]) continue;
    double c = wave_speed(&s->kmaterials[i], s->material_density[i]);
    if (c > s->wave_speed) {
      s->wave_speed = c;
      s->wave_material = i;
    }
    if (s->kmaterials[i].model == MPM_NEWTONIAN_FLUID && s->materials[i].viscosity > 0) {
      double dtv = s->material_density[i] * s->grid.dx * s->grid.dx / (3.0 * s->materials[i].viscosity);
      if (dtv < s->visc_dt) {
        s->visc_dt = dtv;
        s->visc_material = i;
      }
    }
  }
}

/* ------------------------------------------------------------------ particles and states */

pl_status mpm_particles_alloc(mpm_particles *p, int64_t n) {
  memset(p, 0, sizeof *p);
  if (n < 0) return pl_fail(PL_ERR_INVALID, "negative particle count");
  size_t nn = (size_t)(n > 0 ? n : 1);
  p->n = n;
  p->x = (real *)calloc(nn * 3, sizeof(real));
  p->v = (real *)calloc(nn * 3, sizeof(real));
  p->C = (real *)calloc(nn * 9, sizeof(real));
  p->F = (real *)calloc(nn * 9, sizeof(real));
  p->q = (real *)calloc(nn, sizeof(real));
  p->mass = (real *)calloc(nn, sizeof(real));
  p->vol0 = (real *)calloc(nn, sizeof(real));
  p->material = (int32_t *)calloc(nn, sizeof(int32_t));
  p->object = (int32_t *)calloc(nn, sizeof(int32_t));
  if (!p->x || !p->v || !p->C || !p->F || !p->q || !p->mass || !p->vol0 || !p->material || !p->object) {
    mpm_particles_free(p);
    return pl_fail(PL_ERR_NOMEM, "out of memory for %lld particles", (long long)n);
  }
  for (int64_t i = 0; i < n; ++i) p->F[9 * i] = p->F[9 * i + 4] = p->F[9 * i + 8] = 1;
  return PL_OK;
}

void mpm_particles_free(mpm_particles *p) {
  if (!p) return;
  free(p->x);
  free(p->v);
  free(p->C);
  free(p->F);
  free(p->q);
  free(p->mass);
  free(p->vol0);
  free(p->material);
  free(p->object);
  memset(p, 0, sizeof *p);
}

pl_status mpm_state_alloc(mpm_state *st, pl_backend backend, int64_t n) {
  memset(st, 0, sizeof *st);
  st->n = n;
  st->backend = backend;
  size_t nn = (size_t)(n > 0 ? n : 1);
  pl_status e;
  if ((e = pl_buffer_alloc(&st->x, backend, nn * 3 * sizeof(real))) != PL_OK ||
      (e = pl_buffer_alloc(&st->v, backend, nn * 3 * sizeof(real))) != PL_OK ||
      (e = pl_buffer_alloc(&st->C, backend, nn * 9 * sizeof(real))) != PL_OK ||
      (e = pl_buffer_alloc(&st->F, backend, nn * 9 * sizeof(real))) != PL_OK ||
      (e = pl_buffer_alloc(&st->q, backend, nn * sizeof(real))) != PL_OK) {
    mpm_state_free(st);
    return e;
  }
  return PL_OK;
}

pl_status mpm_state_copy(mpm_state *dst, const mpm_state *src) {
  if (dst->n != src->n) return pl_fail(PL_ERR_INVALID, "mpm_state_copy: %lld vs %lld particles", (long long)dst->n, (long long)src->n);
  size_t n = (size_t)src->n;
  PL_TRY(pl_buffer_copy(&dst->x, 0, &src->x, 0, n * 3 * sizeof(real)));
  PL_TRY(pl_buffer_copy(&dst->v, 0, &src->v, 0, n * 3 * sizeof(real)));
  PL_TRY(pl_buffer_copy(&dst->C, 0, &src->C, 0, n * 9 * sizeof(real)));
  PL_TRY(pl_buffer_copy(&dst->F, 0, &src->F, 0, n * 9 * sizeof(real)));
  PL_TRY(pl_buffer_copy(&dst->q, 0, &src->q, 0, n * sizeof(real)));
  return PL_OK;
}

void mpm_state_free(mpm_state *st) {
  if (!st) return;
  pl_buffer_free(&st->x);
  pl_buffer_free(&st->v);
  pl_buffer_free(&st->C);
  pl_buffer_free(&st->F);
  pl_buffer_free(&st->q);
  memset(st, 0, sizeof *st);
}

mpm_kstate mpm_state_view(const mpm_state *st) {
  mpm_kstate k;
  k.n = st->n;
  k.x = (real *)st->x.ptr;
  k.v = (real *)st->v.ptr;
  k.C = (real *)st->C.ptr;
  k.F = (real *)st->F.ptr;
  k.q = (real *)st->q.ptr;
  return k;
}

pl_status mpm_download(const mpm_sim *s, const mpm_state *st, mpm_particles *h) {
  (void)s;
  size_t n = (size_t)st->n;
  if (h->x) PL_TRY(pl_buffer_download(&st->x, 0, h->x, n * 3 * sizeof(real)));
  if (h->v) PL_TRY(pl_buffer_download(&st->v, 0, h->v, n * 3 * sizeof(real)));
  if (h->C) PL_TRY(pl_buffer_download(&st->C, 0, h->C, n * 9 * sizeof(real)));
  if (h->F) PL_TRY(pl_buffer_download(&st->F, 0, h->F, n * 9 * sizeof(real)));
  if (h->q) PL_TRY(pl_buffer_download(&st->q, 0, h->q, n * sizeof(real)));
  h->n = st->n;
  return PL_OK;
}

/* ------------------------------------------------------------------ init */

static const char *object_name(const mpm_sim *s, int64_t p) {
  int o = s->object_of ? s->object_of[p] : -1;
  return (o >= 0 && o < s->nobjects) ? s->object_names[o] : "(none)";
}

/* "particle 12 (object 'cube', material 'jelly')" */
static const char *particle_label(const mpm_sim *s, int64_t p, int mat, char *buf, size_t size) {
  snprintf(buf, size, "particle %lld (object '%s', material '%s')", (long long)p, object_name(s, p),
           (mat >= 0 && mat < s->nmaterials) ? s->material_names[mat] : "?");
  return buf;
}

static pl_status upload_tables(mpm_sim *s) {
  PL_TRY(pl_buffer_upload(&s->kmat_buf, 0, s->kmaterials, sizeof(mpm_kmaterial) * (size_t)s->nmaterials));
  if (s->ncolliders) PL_TRY(pl_buffer_upload(&s->kcol_buf, 0, s->kcolliders, sizeof(mpm_kcollider) * (size_t)s->ncolliders));
  return PL_OK;
}

static pl_status validate_particles(const mpm_sim *s, const mpm_particles *p) {
  char lb[256];
  for (int64_t i = 0; i < p->n; ++i) {
    int mat = p->material[i];
    if (mat < 0 || mat >= s->nmaterials)
      return pl_fail(PL_ERR_INVALID, "particle %lld: material index %d is outside 0..%d", (long long)i, mat,
                     s->nmaterials - 1);
    v3 x = v3_load(p->x + 3 * i), v = v3_load(p->v + 3 * i);
    m3 C = m3_load(p->C + 9 * i), F = m3_load(p->F + 9 * i);
    if (!v3_isfinite(x) || !v3_isfinite(v) || !m3_isfinite(C) || !m3_isfinite(F) || !r_isfinite(p->q[i]))
      return pl_fail(PL_ERR_NUMERIC, "%s: NaN or Inf in its initial state", particle_label(s, i, mat, lb, sizeof lb));
    if (!(p->mass[i] > 0) || !(p->vol0[i] > 0) || !r_isfinite(p->mass[i]) || !r_isfinite(p->vol0[i]))
      return pl_fail(PL_ERR_INVALID, "%s: mass (%g) and volume (%g) must be > 0", particle_label(s, i, mat, lb, sizeof lb),
                     (double)p->mass[i], (double)p->vol0[i]);
    if (!(m3_det(F) > 0))
      return pl_fail(PL_ERR_NUMERIC, "%s: inverted initial deformation gradient (det F = %g)",
                     particle_label(s, i, mat, lb, sizeof lb), (double)m3_det(F));
    if (!mpm_in_domain(&s->grid, x))
      return pl_fail(PL_ERR_INVALID, "%s: x = (%g, %g, %g) lies outside the simulation box [%g, %g]x[%g, %g]x[%g, %g] "
                     "less one cell", particle_label(s, i, mat, lb, sizeof lb), (double)x.x, (double)x.y, (double)x.z,
                     s->domain_min[0], s->domain_max[0], s->domain_min[1], s->domain_max[1], s->domain_min[2],
                     s->domain_max[2]);
  }
  return PL_OK;
}

pl_status mpm_upload(mpm_sim *s, const mpm_particles *p) {
  if (p->n != s->n) return pl_fail(PL_ERR_INVALID, "mpm_upload: %lld particles given, the simulation has %lld",
                                   (long long)p->n, (long long)s->n);
  size_t n = (size_t)s->n;
  if (p->x) PL_TRY(pl_buffer_upload(&s->state.x, 0, p->x, n * 3 * sizeof(real)));
  if (p->v) PL_TRY(pl_buffer_upload(&s->state.v, 0, p->v, n * 3 * sizeof(real)));
  if (p->C) PL_TRY(pl_buffer_upload(&s->state.C, 0, p->C, n * 9 * sizeof(real)));
  if (p->F) PL_TRY(pl_buffer_upload(&s->state.F, 0, p->F, n * 9 * sizeof(real)));
  if (p->q) PL_TRY(pl_buffer_upload(&s->state.q, 0, p->q, n * sizeof(real)));
  return PL_OK;
}

/* ------------------------------------------------------------------ backends */

pl_status mpm_backend_ops_get(pl_backend b, const mpm_backend_ops **ops) {
  *ops = NULL;
  if (b == PL_BACKEND_CPU) {
    *ops = &mpm_cpu_ops;
    return PL_OK;
  }
  if (b == PL_BACKEND_CUDA) {
#ifdef PL_HAVE_CUDA /* the one place that knows whether the CUDA backend was compiled */
    *ops = &mpm_cuda_ops;
    return PL_OK;
#else
    return pl_fail(PL_ERR_UNSUPPORTED, "mpm: the CUDA backend was asked for, but this build has no CUDA backend "
                   "(configure with nvcc on the PATH, or choose backend = cpu)");
#endif
  }
  return pl_fail(PL_ERR_INVALID, "mpm: backend %d is not CPU or CUDA (resolve AUTO first)", (int)b);
}

void mpm_graph_counts(const mpm_sim *s, long long *captures, long long *replays) {
  *captures = *replays = 0;
#ifdef PL_HAVE_CUDA
  if (s->backend == PL_BACKEND_CUDA) mpm_cuda_graph_counts(s, captures, replays);
#else
  (void)s;
#endif
}

static void sim_release(mpm_sim *s);

/* Fill a zeroed sim; on failure it holds whatever was made so far (sim_release frees it). */
static pl_status sim_init(mpm_sim *s, const mpm_desc *d, const mpm_particles *p, const mpm_object *objects,
                          int nobjects) {
  pl_status st;
  int n3[3];
  double dx, origin[3];
  PL_TRY(mpm_resolve_grid(d, n3, &dx, origin));
  if (d->nmaterials < 1 || !d->materials) return pl_fail(PL_ERR_INVALID, "no materials given");
  if (d->ncolliders < 0 || d->ncolliders > MPM_MAX_COLLIDERS)
    return pl_fail(PL_ERR_LIMIT, "%d colliders: at most %d are supported", d->ncolliders, MPM_MAX_COLLIDERS);
  if (d->ncolliders > 0 && !d->colliders) return pl_fail(PL_ERR_INVALID, "ncolliders > 0 but no colliders given");
  if (!p || p->n < 1) return pl_fail(PL_ERR_INVALID, "no particles to simulate");
  if (p->n > 2147483647LL) return pl_fail(PL_ERR_LIMIT, "%lld particles: at most 2^31 - 1 are supported", (long long)p->n);
  int wc = d->boundary_cells ? d->boundary_cells : 3;
  if (wc < 2 || wc > 16) return pl_fail(PL_ERR_INVALID, "boundary_cells = %d: choose 2..16", wc);
  if (d->boundary < 0 || d->boundary > 2) return pl_fail(PL_ERR_INVALID, "unknown wall contact type %d", d->boundary);
  for (int w = 0; d->per_wall && w < 6; ++w)
    if (d->wall_types[w] < 0 || d->wall_types[w] > 2)
      return pl_fail(PL_ERR_INVALID, "unknown contact type %d for the %s wall", d->wall_types[w], mpm_wall_name(w));
  if (!(d->boundary_friction >= 0) || !isfinite(d->boundary_friction))
    return pl_fail(PL_ERR_INVALID, "boundary_friction must be >= 0 (got %g)", d->boundary_friction);
  for (int w = 0; d->per_wall_friction && w < 6; ++w)
    if (!(d->wall_frictions[w] >= 0) || !isfinite(d->wall_frictions[w]))
      return pl_fail(PL_ERR_INVALID, "the %s wall's friction must be a finite number >= 0 (got %g)", mpm_wall_name(w),
                     d->wall_frictions[w]);
  double fdt = d->frame_dt != 0 ? d->frame_dt : 1.0 / 30.0;
  if (!(fdt > 0) || !isfinite(fdt)) return pl_fail(PL_ERR_INVALID, "frame_dt must be > 0 (got %g)", d->frame_dt);
  double cfl = d->cfl != 0 ? d->cfl : 0.4;
  if (!(cfl > 0 && cfl <= 1)) return pl_fail(PL_ERR_INVALID, "cfl must lie in (0, 1] (got %g)", d->cfl);
  if (d->substeps < 0) return pl_fail(PL_ERR_INVALID, "substeps must be >= 0 (got %d)", d->substeps);
  for (int a = 0; a < 3; ++a)
    if (!isfinite(d->gravity[a])) return pl_fail(PL_ERR_INVALID, "gravity is not finite");

  pl_backend be;
  char why[256];
  PL_TRY(pl_backend_resolve(d->backend, &be, why, sizeof why));
  s->backend = be;

  mpm_kgrid *g = &s->grid;
  for (int a = 0; a < 3; ++a) {
    g->n[a] = n3[a];
    s->domain_min[a] = origin[a];
    s->domain_max[a] = origin[a] + n3[a] * dx;
  }
  g->dx = (real)dx;
  g->inv_dx = (real)(1.0 / dx);
  g->origin = v3_make((real)origin[0], (real)origin[1], (real)origin[2]);
  g->gravity = v3_make((real)d->gravity[0], (real)d->gravity[1], (real)d->gravity[2]);
  g->wall_cells = wc;
  if (d->plane_strain < 0 || d->plane_strain > 3)
    return pl_fail(PL_ERR_INVALID, "plane_strain = %d: choose 0 (none), 1 (x), 2 (y) or 3 (z)", d->plane_strain);
  g->plane_strain = d->plane_strain;
  if (!(d->pic_blend >= 0 && d->pic_blend <= 1))
    return pl_fail(PL_ERR_INVALID, "pic_blend = %g: choose a PIC share in [0, 1] (0: APIC)", d->pic_blend);
  g->pic_blend = (real)d->pic_blend;
  if (!(d->pic_rest_speed >= 0 && isfinite(d->pic_rest_speed)))
    return pl_fail(PL_ERR_INVALID, "pic_rest_speed = %g: choose a speed >= 0 m/s (0: the share applies everywhere)",
                   d->pic_rest_speed);
  g->pic_rest_speed = (real)d->pic_rest_speed;
  for (int w = 0; w < 6; ++w) g->wall_type[w] = d->per_wall ? d->wall_types[w] : d->boundary;
  for (int w = 0; w < 6; ++w) g->wall_friction[w] = (real)(d->per_wall_friction ? d->wall_frictions[w] : d->boundary_friction);
  s->frame_dt = fdt;
  s->cfl = cfl;
  s->substeps = d->substeps;
  PL_TRY(mpm_exec_resolve(s, d));

  /* tables */
  s->nmaterials = d->nmaterials;
  s->ncolliders = d->ncolliders;
  s->nobjects = objects ? nobjects : 0;
  s->materials = (mpm_material *)calloc((size_t)s->nmaterials, sizeof *s->materials);
  s->kmaterials = (mpm_kmaterial *)calloc((size_t)s->nmaterials, sizeof *s->kmaterials);
  s->material_names = (char (*)[64])calloc((size_t)s->nmaterials, 64);
  s->material_density = (double *)calloc((size_t)s->nmaterials, sizeof(double));
  s->colliders = (mpm_collider *)calloc((size_t)(s->ncolliders + 1), sizeof *s->colliders);
  s->kcolliders = (mpm_kcollider *)calloc((size_t)(s->ncolliders + 1), sizeof *s->kcolliders);
  s->collider_names = (char (*)[64])calloc((size_t)(s->ncolliders + 1), 64);
  s->object_names = (char (*)[64])calloc((size_t)(s->nobjects + 1), 64);
  if (!s->materials || !s->kmaterials || !s->material_names || !s->material_density || !s->colliders ||
      !s->kcolliders || !s->collider_names || !s->object_names)
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < s->nmaterials; ++i) {
    if ((st = resolve_material(&d->materials[i], i, &s->materials[i])) != PL_OK) return st;
    if (d->materials[i].name && d->materials[i].name[0])
      snprintf(s->material_names[i], 64, "%s", d->materials[i].name);
    else
      snprintf(s->material_names[i], 64, "material %d", i);
    s->materials[i].name = s->material_names[i];
    s->kmaterials[i] = kmaterial_of(&s->materials[i]);
    s->material_density[i] = s->materials[i].density;
  }
  for (int i = 0; i < s->ncolliders; ++i) {
    if ((st = resolve_collider(&d->colliders[i], i, &s->kcolliders[i])) != PL_OK) return st;
    s->colliders[i] = d->colliders[i];
    if (d->colliders[i].name && d->colliders[i].name[0])
      snprintf(s->collider_names[i], 64, "%s", d->colliders[i].name);
    else
      snprintf(s->collider_names[i], 64, "collider %d", i);
    s->colliders[i].name = s->collider_names[i];
  }
  for (int i = 0; i < s->nobjects; ++i) {
    if (objects[i].name && objects[i].name[0])
      snprintf(s->object_names[i], 64, "%s", objects[i].name);
    else
      snprintf(s->object_names[i], 64, "object %d", i);
  }

  /* particles */
  s->n = p->n;
  s->object_of = (int32_t *)malloc((size_t)p->n * sizeof(int32_t));
  if (!s->object_of) {
    st = pl_fail(PL_ERR_NOMEM, "out of memory");
    return st;
  }
  for (int64_t i = 0; i < p->n; ++i) s->object_of[i] = p->object ? p->object[i] : -1;
  if ((st = validate_particles(s, p)) != PL_OK) return st;
  {
    int *used = (int *)calloc((size_t)s->nmaterials, sizeof(int));
    if (!used) {
      st = pl_fail(PL_ERR_NOMEM, "out of memory");
      return st;
    }
    for (int64_t i = 0; i < p->n; ++i) used[p->material[i]] = 1;
    update_cfl_inputs(s, used);
    free(used);
  }

  size_t n = (size_t)p->n;
  if ((st = mpm_state_alloc(&s->state, be, p->n)) != PL_OK) return st;
  if ((st = pl_buffer_alloc(&s->mass, be, n * sizeof(real))) != PL_OK) return st;
  if ((st = pl_buffer_alloc(&s->vol0, be, n * sizeof(real))) != PL_OK) return st;
  if ((st = pl_buffer_alloc(&s->material, be, n * sizeof(int32_t))) != PL_OK) return st;
  if ((st = pl_buffer_alloc(&s->kmat_buf, be, sizeof(mpm_kmaterial) * (size_t)s->nmaterials)) != PL_OK) return st;
  if ((st = pl_buffer_alloc(&s->kcol_buf, be, sizeof(mpm_kcollider) * (size_t)(s->ncolliders + 1))) != PL_OK) return st;
  if ((st = pl_buffer_alloc(&s->gridbuf, be, mpm_node_count(g) * 4 * sizeof(real))) != PL_OK) {
    pl_fail_context(st, "grid %d x %d x %d: ", g->n[0], g->n[1], g->n[2]);
    return st;
  }
  if ((st = mpm_upload(s, p)) != PL_OK) return st;
  if ((st = pl_buffer_upload(&s->mass, 0, p->mass, n * sizeof(real))) != PL_OK) return st;
  if ((st = pl_buffer_upload(&s->vol0, 0, p->vol0, n * sizeof(real))) != PL_OK) return st;
  if ((st = pl_buffer_upload(&s->material, 0, p->material, n * sizeof(int32_t))) != PL_OK) return st;
  if ((st = upload_tables(s)) != PL_OK) return st;
  {
    const mpm_backend_ops *ops;
    if ((st = mpm_backend_ops_get(be, &ops)) != PL_OK || (st = ops->scratch_create(s)) != PL_OK) return st;
  }
  PL_DEBUG("mpm: %lld particles, grid %d x %d x %d (dx %g m), %s backend", (long long)s->n, g->n[0], g->n[1], g->n[2],
           dx, pl_backend_name(be));
  return PL_OK;
}

pl_status mpm_create(mpm_sim **out, const mpm_desc *d, const mpm_particles *p, const mpm_object *objects,
                     int nobjects) {
  *out = NULL;
  mpm_sim *s = (mpm_sim *)calloc(1, sizeof *s);
  if (!s) return pl_fail(PL_ERR_NOMEM, "out of memory");
  pl_status st = sim_init(s, d, p, objects, nobjects);
  if (st != PL_OK) {
    mpm_destroy(s);
    return st;
  }
  *out = s;
  return PL_OK;
}

void mpm_destroy(mpm_sim *s) {
  if (!s) return;
  sim_release(s);
  free(s);
}

static void sim_release(mpm_sim *s) {
  mpm_state_free(&s->state);
  pl_buffer_free(&s->mass);
  pl_buffer_free(&s->vol0);
  pl_buffer_free(&s->material);
  pl_buffer_free(&s->pmu);
  pl_buffer_free(&s->plambda);
  pl_buffer_free(&s->kmat_buf);
  pl_buffer_free(&s->kcol_buf);
  pl_buffer_free(&s->gridbuf);
  /* each scratch belongs to the backend that made it (the CUDA one exists only when CUDA is compiled) */
  if (s->cpu) mpm_cpu_ops.scratch_free(s);
  const mpm_backend_ops *cuda;
  if (s->cuda && mpm_backend_ops_get(PL_BACKEND_CUDA, &cuda) == PL_OK) cuda->scratch_free(s);
  free(s->materials);
  free(s->kmaterials);
  free(s->colliders);
  free(s->kcolliders);
  free(s->material_names);
  free(s->collider_names);
  free(s->object_names);
  free(s->object_of);
  free(s->material_density);
}

/* mass = density vol0 for the particles of one material (after its density changed). */
static pl_status refresh_masses(mpm_sim *s, int index) {
  size_t n = (size_t)s->n;
  if (n == 0) return PL_OK;
  real *mass = (real *)malloc(n * sizeof(real)), *vol0 = (real *)malloc(n * sizeof(real));
  int32_t *mat = (int32_t *)malloc(n * sizeof(int32_t));
  pl_status st = (mass && vol0 && mat) ? PL_OK : pl_fail(PL_ERR_NOMEM, "out of memory");
  if (st == PL_OK) st = pl_buffer_download(&s->mass, 0, mass, n * sizeof(real));
  if (st == PL_OK) st = pl_buffer_download(&s->vol0, 0, vol0, n * sizeof(real));
  if (st == PL_OK) st = pl_buffer_download(&s->material, 0, mat, n * sizeof(int32_t));
  if (st == PL_OK) {
    for (size_t i = 0; i < n; ++i)
      if (mat[i] == index) mass[i] = (real)(s->material_density[index] * (double)vol0[i]);
    st = pl_buffer_upload(&s->mass, 0, mass, n * sizeof(real));
  }
  free(mass);
  free(vol0);
  free(mat);
  return st;
}

pl_status mpm_set_material(mpm_sim *s, int index, const mpm_material *m) {
  if (index < 0 || index >= s->nmaterials)
    return pl_fail(PL_ERR_INVALID, "mpm_set_material: index %d outside 0..%d", index, s->nmaterials - 1);
  mpm_material r;
  mpm_material named = *m;
  named.name = s->material_names[index];
  PL_TRY(resolve_material(&named, index, &r));
  double old_density = s->material_density[index];
  s->materials[index] = r;
  s->kmaterials[index] = kmaterial_of(&r);
  s->material_density[index] = r.density;
  if (r.density != old_density) PL_TRY(refresh_masses(s, index));
  update_cfl_inputs(s, NULL);
  return upload_tables(s);
}

pl_status mpm_set_friction(mpm_sim *s, int collider, double mu) {
  if (!(mu >= 0) || !isfinite(mu))
    return pl_fail(PL_ERR_INVALID, "%s %s: friction must be a finite number >= 0 (got %g)",
                   collider < 0 ? "walls" : "collider", collider < 0 ? "" : s->collider_names[collider], mu);
  if (collider >= s->ncolliders) return pl_fail(PL_ERR_INVALID, "mpm_set_friction: collider %d of %d", collider, s->ncolliders);
  if (collider < 0) {
    for (int w = 0; w < 6; ++w) s->grid.wall_friction[w] = (real)mu;
    return PL_OK;
  }
  s->colliders[collider].friction = mu;
  s->kcolliders[collider].friction = (real)mu;
  return upload_tables(s);
}

pl_status mpm_set_wall_friction(mpm_sim *s, int wall, double mu) {
  if (wall < 0 || wall > 5) return pl_fail(PL_ERR_INVALID, "mpm_set_wall_friction: wall %d outside 0..5", wall);
  if (!(mu >= 0) || !isfinite(mu))
    return pl_fail(PL_ERR_INVALID, "the %s wall: friction must be a finite number >= 0 (got %g)", mpm_wall_name(wall), mu);
  s->grid.wall_friction[wall] = (real)mu;
  return PL_OK;
}

pl_status mpm_set_particle_moduli(mpm_sim *s, const double *E, const double *nu) {
  pl_buffer_free(&s->pmu);
  pl_buffer_free(&s->plambda);
  if (!E) {
    update_cfl_inputs(s, NULL);
    return PL_OK;
  }
  size_t n = (size_t)s->n;
  real *mu = (real *)malloc(n * sizeof(real)), *la = (real *)malloc(n * sizeof(real));
  int32_t *mat = (int32_t *)malloc(n * sizeof(int32_t));
  if (!mu || !la || !mat) {
    free(mu), free(la), free(mat);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  pl_status st = pl_buffer_download(&s->material, 0, mat, n * sizeof(int32_t));
  update_cfl_inputs(s, NULL); /* from the materials' current values: a repeated call does not ratchet the bound up */
  double cmax = s->wave_speed;
  for (size_t i = 0; st == PL_OK && i < n; ++i) {
    double e = E[i], v = nu ? nu[i] : s->materials[mat[i]].nu;
    if (!(e > 0) || !isfinite(e) || !(v > -1 && v < 0.5)) {
      st = pl_fail(PL_ERR_INVALID, "particle %zu: per-particle E = %g, nu = %g (need E > 0, -1 < nu < 0.5)", i, e, v);
      break;
    }
    real m, l;
    mpm_lame((real)e, (real)v, &m, &l);
    mu[i] = m;
    la[i] = l;
    double c = sqrt(((double)l + 2.0 * m) / s->material_density[mat[i]]);
    if (c > cmax) cmax = c, s->wave_material = mat[i];
  }
  if (st == PL_OK && (st = pl_buffer_alloc(&s->pmu, s->backend, n * sizeof(real))) == PL_OK &&
      (st = pl_buffer_alloc(&s->plambda, s->backend, n * sizeof(real))) == PL_OK &&
      (st = pl_buffer_upload(&s->pmu, 0, mu, n * sizeof(real))) == PL_OK)
    st = pl_buffer_upload(&s->plambda, 0, la, n * sizeof(real));
  if (st == PL_OK) s->wave_speed = cmax;
  else {
    pl_buffer_free(&s->pmu);
    pl_buffer_free(&s->plambda);
  }
  free(mu), free(la), free(mat);
  return st;
}

/* ------------------------------------------------------------------ stages */

/* Turn an error key into a message naming the particle, with its state. */
static pl_status particle_error(mpm_sim *s, const mpm_state *st, uint64_t key, const char *stage) {
  int64_t p = (int64_t)(key >> 4);
  int code = (int)(key & 15);
  real x[3] = {0, 0, 0}, v[3] = {0, 0, 0}, F[9] = {0};
  int32_t mat = -1;
  pl_buffer_download(&st->x, (size_t)p * 3 * sizeof(real), x, sizeof x);
  pl_buffer_download(&st->v, (size_t)p * 3 * sizeof(real), v, sizeof v);
  pl_buffer_download(&st->F, (size_t)p * 9 * sizeof(real), F, sizeof F);
  pl_buffer_download(&s->material, (size_t)p * sizeof(int32_t), &mat, sizeof mat);
  char lb[256];
  particle_label(s, p, mat, lb, sizeof lb);
  switch (code) {
    case MPM_PERR_NAN:
      return pl_fail(PL_ERR_NUMERIC, "%s: NaN or Inf in its state (detected in %s; x = %g %g %g, v = %g %g %g); the "
                     "time step may be too large for the material (lower sim.cfl or raise sim.substeps)", lb, stage,
                     (double)x[0], (double)x[1], (double)x[2], (double)v[0], (double)v[1], (double)v[2]);
    case MPM_PERR_INVERTED: {
      double det = m3_det(m3_load(F));
      return pl_fail(PL_ERR_NUMERIC, "%s: inverted deformation gradient (detected in %s; det F = %g at x = %g %g %g); "
                     "the material is crushed or the time step is too large", lb, stage, det, (double)x[0], (double)x[1],
                     (double)x[2]);
    }
    case MPM_PERR_DOMAIN:
      return pl_fail(PL_ERR_NUMERIC, "%s left the simulation box (detected in %s; x = %g %g %g, v = %g %g %g; box "
                     "%g..%g x %g..%g x %g..%g less one cell)", lb, stage, (double)x[0], (double)x[1], (double)x[2],
                     (double)v[0], (double)v[1], (double)v[2], s->domain_min[0], s->domain_max[0], s->domain_min[1],
                     s->domain_max[1], s->domain_min[2], s->domain_max[2]);
    case MPM_PERR_STRESS:
      return pl_fail(PL_ERR_NUMERIC, "%s: its stress is not finite in %s (det F = %g at x = %g %g %g)", lb, stage,
                     (double)m3_det(m3_load(F)), (double)x[0], (double)x[1], (double)x[2]);
  }
  return pl_fail(PL_ERR_INTERNAL, "%s: unknown error code %d in %s", lb, code, stage);
}

pl_status mpm_particle_error(mpm_sim *s, const mpm_state *st, uint64_t key, const char *stage) {
  return particle_error(s, st, key, stage);
}

pl_status mpm_p2g(mpm_sim *s, const mpm_state *st, real dt) {
  const mpm_backend_ops *ops;
  PL_TRY(mpm_backend_ops_get(s->backend, &ops));
  uint64_t err = MPM_NO_ERROR;
  s->defer_tag = mpm_defer_tag(s->defer_substep, MPM_STAGE_P2G); /* deferred checks (mpm_exec.c) */
  PL_TRY(ops->p2g(s, mpm_state_view(st), dt, s->defer_active == 1 ? NULL : &err));
  if (err != MPM_NO_ERROR) return particle_error(s, st, err, "the particle-to-grid transfer");
  return PL_OK;
}

pl_status mpm_grid_update(mpm_sim *s, real dt, double t) {
  const mpm_backend_ops *ops;
  PL_TRY(mpm_backend_ops_get(s->backend, &ops));
  return ops->grid_update(s, dt, (real)t);
}

pl_status mpm_g2p(mpm_sim *s, const mpm_state *in, mpm_state *out, real dt) {
  if (in->n != s->n || out->n != s->n) return pl_fail(PL_ERR_INVALID, "mpm_g2p: state sizes differ from the simulation's");
  const mpm_backend_ops *ops;
  PL_TRY(mpm_backend_ops_get(s->backend, &ops));
  uint64_t err = MPM_NO_ERROR;
  s->defer_tag = mpm_defer_tag(s->defer_substep, MPM_STAGE_G2P);
  PL_TRY(ops->g2p(s, mpm_state_view(in), mpm_state_view(out), dt, s->defer_active == 1 ? NULL : &err));
  if (err != MPM_NO_ERROR) return particle_error(s, out, err, "the grid-to-particle transfer");
  return PL_OK;
}

pl_status mpm_substep(mpm_sim *s, real dt) {
  PL_TRY(mpm_p2g(s, &s->state, dt));
  PL_TRY(mpm_grid_update(s, dt, s->time));
  PL_TRY(mpm_g2p(s, &s->state, &s->state, dt));
  s->time += (double)dt;
  s->substeps_done += 1;
  s->particle_substeps += s->n;
  return PL_OK;
}

pl_status mpm_max_speed(mpm_sim *s, const mpm_state *st, double *vmax) {
  const mpm_backend_ops *ops;
  PL_TRY(mpm_backend_ops_get(s->backend, &ops));
  return ops->max_speed(s, mpm_state_view(st), vmax);
}

#define MPM_MAX_SUBSTEPS 1000000

pl_status mpm_plan_frame(mpm_sim *s, int *substeps, double *dt) {
  double vmax = 0;
  PL_TRY(mpm_max_speed(s, &s->state, &vmax));
  if (!isfinite(vmax))
    return pl_fail(PL_ERR_NUMERIC, "a particle velocity is NaN or Inf at the start of frame %d", s->frame + 1);
  double g = v3_norm(s->grid.gravity);
  double vest = vmax + g * s->frame_dt;
  double c = s->wave_speed;
  double dx = s->grid.dx;
  double bound1 = (c + vest) > 0 ? dx / (c + vest) : INFINITY; /* CFL number 1 */
  if (s->visc_dt < bound1) bound1 = s->visc_dt;
  double bound = s->cfl * bound1;
  int n;
  int held = s->plan && s->frame >= 0 && s->frame < s->plan_frames && s->plan[s->frame] > 0;
  if (held || s->substeps > 0) {
    n = held ? s->plan[s->frame] : s->substeps;
    double d = s->frame_dt / n;
    if (d > bound1) {
      double need = ceil(s->frame_dt / bound);
      int visc = s->visc_material >= 0 && s->visc_dt <= bound1;
      char why[256];
      if (visc)
        snprintf(why, sizeof why, "the viscosity of material '%s', dx %.3g m", s->material_names[s->visc_material], dx);
      else
        snprintf(why, sizeof why, "wave speed %.3g m/s of material '%s', fastest particle %.3g m/s, dx %.3g m", c,
                 s->material_names[s->wave_material], vmax, dx);
      return pl_fail(PL_ERR_INVALID, "frame %d: substeps = %d gives dt = %.3g s, %.1fx the stability bound %.3g s "
                     "(CFL number 1; %s); use substeps >= %.0f or 0 (automatic)", s->frame + 1, n, d, d / bound1,
                     bound1, why, need);
    }
  } else {
    double need = isfinite(bound) ? ceil(s->frame_dt / bound * (1 - 1e-12)) : 1;
    if (need < 1) need = 1;
    if (need > MPM_MAX_SUBSTEPS)
      return pl_fail(PL_ERR_LIMIT, "frame %d needs %.3g substeps (dt %.3g s from the CFL bound: material '%s' wave "
                     "speed %.3g m/s, fastest particle %.3g m/s, dx %.3g m); the limit is %d: lower the stiffness, "
                     "the resolution or the frame time", s->frame + 1, need, bound, s->material_names[s->wave_material],
                     c, vmax, dx, MPM_MAX_SUBSTEPS);
    n = (int)need;
  }
  *substeps = n;
  *dt = s->frame_dt / n;
  if (s->plan_record && s->frame >= 0 && s->frame < s->plan_frames) s->plan_record[s->frame] = n;
  return PL_OK;
}

/* "frame f, substep k of n (t = ...): " for an error found by deferred checks (mpm_checks_end) */
typedef struct {
  int frame, n;
  double t0, dt;
} frame_where;
static void frame_where_fn(void *user, int64_t k, char *buf, size_t size) {
  const frame_where *w = (const frame_where *)user;
  snprintf(buf, size, "frame %d, substep %lld of %d (t = %.5g s): ", w->frame, (long long)k + 1, w->n,
           w->t0 + (double)k * w->dt);
}

pl_status mpm_advance_frame(mpm_sim *s) {
  int n;
  double dt;
  PL_TRY(mpm_plan_frame(s, &n, &dt));
  double t0 = (double)s->frame * s->frame_dt;
  PL_TRY(mpm_checks_begin(s, n)); /* sync = frame: one host wait for the frame's particle checks, at its end */
  const int graph = mpm_graph_usable(s);
  if (graph) { /* graph = on: runs of up to 1024 substeps replay the captured substep (mpm_exec.c) */
    for (int k = 0; k < n; k += 1024) {
      int count = n - k < 1024 ? n - k : 1024;
      pl_status st = mpm_run_substeps(s, t0, dt, k, count);
      if (st != PL_OK) {
        mpm_checks_abort(s);
        return pl_fail_context(st, "frame %d, substeps %d..%d of %d: ", s->frame + 1, k + 1, k + count, n);
      }
      if (s->on_substeps && count == 1024) s->on_substeps(s->on_substeps_user, s->frame + 1, k + count, n);
    }
  }
  for (int k = 0; k < n && !graph; ++k) {
    s->time = t0 + k * dt; /* no drift over long runs */
    mpm_checks_substep(s, k);
    pl_status st = mpm_substep(s, (real)dt);
    if (st != PL_OK) {
      mpm_checks_abort(s);
      return pl_fail_context(st, "frame %d, substep %d of %d (t = %.5g s): ", s->frame + 1, k + 1, n, t0 + k * dt);
    }
    if (s->on_substeps && (k + 1) % 1024 == 0) s->on_substeps(s->on_substeps_user, s->frame + 1, k + 1, n);
  }
  frame_where w = {s->frame + 1, n, t0, dt};
  PL_TRY(mpm_checks_end(s, &s->state, frame_where_fn, &w));
  s->frame += 1;
  s->time = (double)s->frame * s->frame_dt;
  s->last_substeps = n;
  s->last_dt = dt;
  return PL_OK;
}
