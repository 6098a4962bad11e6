/* upsample_setup.c: ups lifetime. Set-up as named steps: resolve the descriptor (defaults, validation), load the
 * particles, build each object's Gaussians on the host (splat, bound, particles or runtime mode: surface samples
 * from upsample_surface.c and upsample_holes.c, bound to particles here), then upload (upsample_upload.c) and let the
 * backend allocate its scratch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rotation.h"
#include "upsample/upsample_ops.h"

typedef struct {
  const int *obj_of;
  int obj;
  double r2;
  int *idx;
  double *w;
  int count, cap;
  int overflow;
} bind_ctx;

static void bind_visit(int q, double d2, void *ctx) {
  bind_ctx *b = (bind_ctx *)ctx;
  if (b->obj_of[q] != b->obj || d2 >= b->r2) return;
  if (b->count == b->cap) {
    int cap = b->cap ? 2 * b->cap : 64;
    int *ni = (int *)realloc(b->idx, sizeof(int) * (size_t)cap);
    if (ni) b->idx = ni;
    double *nw = (double *)realloc(b->w, sizeof(double) * (size_t)cap);
    if (nw) b->w = nw;
    if (!ni || !nw) {
      b->overflow = 1;
      return;
    }
    b->cap = cap;
  }
  double t = 1.0 - d2 / b->r2;
  b->idx[b->count] = q;
  b->w[b->count] = t * t * t;
  b->count++;
}


static pl_status csr_push(ups_csr_build *c, int q, real w) {
  if (c->nnz == c->cap) {
    int64_t cap = c->cap ? 2 * c->cap : 4096;
    int *ni = (int *)realloc(c->bidx, sizeof(int) * (size_t)cap);
    if (!ni) return pl_fail(PL_ERR_NOMEM, "upsample: out of memory (binding)");
    c->bidx = ni;
    real *nw = (real *)realloc(c->bw, sizeof(real) * (size_t)cap);
    if (!nw) return pl_fail(PL_ERR_NOMEM, "upsample: out of memory (binding)");
    c->bw = nw;
    c->cap = cap;
  }
  c->bidx[c->nnz] = q;
  c->bw[c->nnz] = w;
  c->nnz++;
  return PL_OK;
}

static pl_status check_pos(double v, const char *what) {
  if (!(v > 0) || !isfinite(v)) return pl_fail(PL_ERR_INVALID, "upsample: %s must be a finite number > 0 (got %g)", what, v);
  return PL_OK;
}

static pl_status resolve_desc(const ups_desc *in, ups_desc *d) {
  *d = *in;
  if (d->spacing == 0) d->spacing = 0.3;
  if (d->sigma0 == 0) d->sigma0 = 1.0;
  if (d->thickness == 0) d->thickness = 0.2;
  if (d->opacity == 0) d->opacity = 0.95;
  if (d->bind_radius == 0) d->bind_radius = 1.5;
  if (d->children == 0) d->children = 8;
  if (d->surface_threshold == 0) d->surface_threshold = 0.9;
  if (d->surface_band == 0) d->surface_band = 0.15;
  if (d->surface_level == 0) d->surface_level = 0.5;
  if (d->smoothing == 0) d->smoothing = 1.5;
  PL_TRY(check_pos(d->spacing, "spacing"));
  PL_TRY(check_pos(d->sigma0, "sigma0"));
  PL_TRY(check_pos(d->thickness, "thickness"));
  PL_TRY(check_pos(d->bind_radius, "bind_radius"));
  PL_TRY(check_pos(d->surface_threshold, "surface_threshold"));
  PL_TRY(check_pos(d->surface_band, "surface_band"));
  PL_TRY(check_pos(d->surface_level, "surface_level"));
  PL_TRY(check_pos(d->smoothing, "smoothing"));
  if (!(d->opacity > 0 && d->opacity < 1))
    return pl_fail(PL_ERR_INVALID, "upsample: opacity must be in (0, 1) (got %g)", d->opacity);
  if (d->children < 1 || d->children > 256)
    return pl_fail(PL_ERR_INVALID, "upsample: children must be in 1..256 (got %d)", d->children);
  if (d->particle_spacing != 0) PL_TRY(check_pos(d->particle_spacing, "particle_spacing"));
  if (d->threads < 0) return pl_fail(PL_ERR_INVALID, "upsample: threads must be >= 0 (got %d)", d->threads);
  if (d->nparticles < 1) return pl_fail(PL_ERR_INVALID, "upsample: no particles (nparticles = %d)", d->nparticles);
  if (!d->rest_positions) return pl_fail(PL_ERR_INVALID, "upsample: rest_positions is NULL");
  if (d->nobjects < 0 || (d->nobjects > 0 && !d->objects))
    return pl_fail(PL_ERR_INVALID, "upsample: nobjects = %d but objects is %s", d->nobjects, d->objects ? "set" : "NULL");
  return PL_OK;
}


static void hsetup_free(ups_host_setup *h) {
  free(h->csr.bstart);
  free(h->csr.bidx);
  free(h->csr.bw);
  free(h->gs.v);
  free(h->gunit);
  free(h->rt_index);
  free(h->rt_color);
  free(h->sig0);
  free(h->boff);
  free(h->shbase);
  free(h->frame0);
  memset(h, 0, sizeof *h);
}

static pl_status push_unit(ups_host_setup *h, int64_t upto, real unit) {
  if (upto > h->gunit_cap) {
    int64_t cap = h->gunit_cap ? h->gunit_cap : 1024;
    while (cap < upto) cap *= 2;
    real *nu = (real *)realloc(h->gunit, sizeof(real) * (size_t)cap);
    if (!nu) return pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
    h->gunit = nu;
    h->gunit_cap = cap;
  }
  for (int64_t g = h->nunit; g < upto; ++g) h->gunit[g] = unit;
  h->nunit = upto;
  return PL_OK;
}

#define UPS_SH_C0_HOST 0.28209479177387814

/* SH rows of samples [nsig, gs.n) for a scene whose output carries SH (h->sh_k > 0): for this splat object's
 * Gaussians [g0, gs.n), its trained bands padded to sh_k and the degree-0 term less the one its colour parameter
 * gives (sh_0 - (c - 0.5) / C0: non-zero where the trained colour was clamped to [0, 1]), and its placement rotation
 * R0; zero rows for Gaussians without SH (the colour alone, identity frame). */
static pl_status push_splat_sh(ups_host_setup *h, const ups_object *ob, int64_t g0, const char *name) {
  const int K = h->sh_k;
  double *sb = (double *)realloc(h->shbase, sizeof(double) * 3 * (size_t)K * (size_t)h->gs.n);
  if (sb) h->shbase = sb;
  double *fr = sb ? (double *)realloc(h->frame0, sizeof(double) * 9 * (size_t)h->gs.n) : NULL;
  if (fr) h->frame0 = fr;
  if (!sb || !fr) return pl_fail(PL_ERR_NOMEM, "upsample: out of memory (SH of object '%s')", name);
  memset(sb + 3 * (size_t)K * (size_t)h->nsig, 0, sizeof(double) * 3 * (size_t)K * (size_t)(h->gs.n - h->nsig));
  memset(fr + 9 * (size_t)h->nsig, 0, sizeof(double) * 9 * (size_t)(h->gs.n - h->nsig));
  const int deg = ob->splat_sh ? ob->splat_sh_degree : 0;
  if (deg <= 0) return PL_OK;
  const int Ko = (deg + 1) * (deg + 1);
  double r0[9];
  pl_euler_xyz_deg(ob->rotation_deg, r0);
  for (int64_t i = 0; i < ob->splat_count; ++i) {
    const double *src = ob->splat_sh + 3 * (size_t)Ko * (size_t)i;
    double *dst = sb + 3 * (size_t)K * (size_t)(g0 + i);
    for (int k = 0; k < 3 * Ko; ++k) {
      if (!isfinite(src[k]))
        return pl_fail(PL_ERR_INVALID, "upsample: object '%s': Gaussian %lld has a non-finite SH coefficient %d", name,
                       (long long)i, k);
      dst[k] = src[k];
    }
    for (int c = 0; c < 3; ++c) dst[c] -= (ob->splat_colors[3 * i + c] - 0.5) / UPS_SH_C0_HOST;
    memcpy(fr + 9 * (size_t)(g0 + i), r0, sizeof r0);
  }
  return PL_OK;
}

/* A splat object's Gaussians as samples [gs.n, gs.n + count): their means, colours, trained covariances and
 * opacities (as logit offsets from the global opacity o: b = logit(o_g) - logit(o)). */
static pl_status push_splats(ups_host_setup *h, const ups_object *ob, double global_opacity, const char *name) {
  const int64_t g0 = h->gs.n, count = ob->splat_count;
  for (int64_t i = 0; i < count; ++i) {
    ups_sample c;
    memset(&c, 0, sizeof c);
    for (int k = 0; k < 3; ++k) {
      c.p[k] = ob->splat_means[3 * i + k];
      c.c[k] = ob->splat_colors[3 * i + k];
    }
    if (!isfinite(c.p[0]) || !isfinite(c.p[1]) || !isfinite(c.p[2]))
      return pl_fail(PL_ERR_INVALID, "upsample: object '%s': Gaussian %lld has a non-finite mean", name, (long long)i);
    PL_TRY(ups_svec_push(&h->gs, &c));
  }
  double *s6 = (double *)realloc(h->sig0, sizeof(double) * 6 * (size_t)h->gs.n);
  if (s6) h->sig0 = s6;
  double *bo = s6 ? (double *)realloc(h->boff, sizeof(double) * (size_t)h->gs.n) : NULL;
  if (bo) h->boff = bo;
  if (!s6 || !bo) return pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
  for (int64_t g = h->nsig; g < g0; ++g) { /* samples of other objects before this one: the disc */
    for (int k = 0; k < 6; ++k) h->sig0[6 * g + k] = 0;
    h->boff[g] = 0;
  }
  const double eps = 1e-6, og = global_opacity;
  for (int64_t i = 0; i < count; ++i) {
    const double *c = ob->splat_covs + 6 * i;
    if (!(c[0] > 0 && c[3] > 0 && c[5] > 0))
      return pl_fail(PL_ERR_INVALID, "upsample: object '%s': Gaussian %lld has no positive covariance", name, (long long)i);
    for (int k = 0; k < 6; ++k) h->sig0[6 * (g0 + i) + k] = c[k];
    double o = ob->splat_opacities[i];
    o = o < eps ? eps : (o > 1 - eps ? 1 - eps : o);
    h->boff[g0 + i] = (log(o) - log1p(-o)) - (log(og) - log1p(-og));
  }
  if (h->sh_k > 0) PL_TRY(push_splat_sh(h, ob, g0, name));
  h->nsig = h->gs.n;
  return PL_OK;
}

/* Bind samples [g0, gs.n) of object `obj` to its particles. */
static pl_status bind_samples(ups_host_setup *h, int64_t g0, const pl_hash_grid *pg, const int *obj_of, int obj, double radius,
                              const char *name) {
  bind_ctx b;
  memset(&b, 0, sizeof b);
  b.obj_of = obj_of;
  b.obj = obj;
  pl_status s = PL_OK;
  int64_t *bs = (int64_t *)realloc(h->csr.bstart, sizeof(int64_t) * (size_t)(h->gs.n + 1));
  if (!bs) return pl_fail(PL_ERR_NOMEM, "upsample: out of memory (binding)");
  h->csr.bstart = bs;
  if (g0 == 0) h->csr.bstart[0] = 0;
  for (int64_t g = g0; g < h->gs.n && s == PL_OK; ++g) {
    double r = radius;
    b.count = 0;
    for (int attempt = 0; attempt < 5 && b.count == 0; ++attempt, r *= 2) {
      b.r2 = r * r;
      pl_hash_grid_query(pg, h->gs.v[g].p, r, bind_visit, &b);
    }
    if (b.overflow) {
      s = pl_fail(PL_ERR_NOMEM, "upsample: out of memory (binding)");
      break;
    }
    if (b.count == 0) {
      s = pl_fail(PL_ERR_INVALID, "upsample: object '%s': surface sample %lld at (%g, %g, %g) has no particle of its "
                                  "object within %g m (16 x bind_radius): is the mesh placed where its particles are?",
                  name, (long long)g, h->gs.v[g].p[0], h->gs.v[g].p[1], h->gs.v[g].p[2], r / 2);
      break;
    }
    double tot = 0;
    for (int i = 0; i < b.count; ++i) tot += b.w[i];
    for (int i = 0; i < b.count && s == PL_OK; ++i) s = csr_push(&h->csr, b.idx[i], (real)(b.w[i] / tot));
    h->csr.bstart[g + 1] = h->csr.nnz;
  }
  free(b.idx);
  free(b.w);
  return s;
}

/* ================================================================== per object */

/* What every mode's set-up needs to know about one object. */
typedef struct {
  const ups_object *ob;
  int index;
  const char *name;
  ups_mode mode;
  double flat[3];          /* flat colour */
  const int *idx;          /* its particles */
  int cnt;
  const pl_mesh *mesh;     /* NULL: none */
  ups_placed_mesh pm;      /* placed when mesh != NULL */
} obj_setup;

/* Name, mode and flat colour of object o, validated. */
static pl_status object_resolve(const ups_object *ob, int o, char namebuf[64], obj_setup *os) {
  os->ob = ob;
  os->index = o;
  os->name = ob->name && ob->name[0] ? ob->name : (snprintf(namebuf, 64, "object %d", o), namebuf);
  os->mode = ob->mode == 0 ? UPS_BOUND : ob->mode;
  if (os->mode != UPS_BOUND && os->mode != UPS_RUNTIME && os->mode != UPS_PARTICLES)
    return pl_fail(PL_ERR_INVALID, "upsample: object '%s': unknown mode %d (bound, runtime or particles)", os->name,
                   (int)os->mode);
  int unset = ob->color[0] == 0 && ob->color[1] == 0 && ob->color[2] == 0;
  for (int k = 0; k < 3; ++k) {
    os->flat[k] = unset ? 0.8 : ob->color[k];
    if (!(os->flat[k] >= 0 && os->flat[k] <= 1))
      return pl_fail(PL_ERR_INVALID, "upsample: object '%s': colour component %d = %g is outside [0, 1]", os->name, k,
                     os->flat[k]);
  }
  return PL_OK;
}

/* The object's mesh (borrowed, or loaded into `loaded`), placed. */
static pl_status object_mesh(obj_setup *os, pl_mesh *loaded) {
  const ups_object *ob = os->ob;
  os->mesh = ob->mesh;
  if (!os->mesh && ob->mesh_path && ob->mesh_path[0]) {
    pl_status s = pl_mesh_load_obj(loaded, ob->mesh_path);
    if (s != PL_OK) return pl_fail_context(s, "upsample: object '%s': ", os->name);
    os->mesh = loaded;
  }
  if (!os->mesh && ob->texture_path && ob->texture_path[0])
    return pl_fail(PL_ERR_INVALID, "upsample: object '%s': texture %s given without a mesh", os->name, ob->texture_path);
  return os->mesh ? ups_pmesh_make(&os->pm, os->mesh, ob, os->name) : PL_OK;
}

/* A splat object: its trained Gaussians, bound to its particles. */
static pl_status setup_splat(ups_host_setup *h, const ups_desc *d, const pl_hash_grid *pg, const int *obj_of,
                             double dp, double r, const obj_setup *os) {
  if (os->mode != UPS_BOUND)
    return pl_fail(PL_ERR_INVALID, "upsample: object '%s': a splat object needs the bound mode (it is %s)", os->name,
                   ups_mode_name(os->mode));
  int64_t g0 = h->gs.n;
  PL_TRY(push_splats(h, os->ob, d->opacity, os->name));
  PL_TRY(push_unit(h, h->gs.n, (real)r));
  return bind_samples(h, g0, pg, obj_of, os->index, d->bind_radius * dp, os->name);
}

/* Bound mode: Poisson-disk samples of the mesh surface (its holes closed) or of the particle set's iso-surface,
 * bound to the object's particles. */
static pl_status setup_bound(ups_host_setup *h, const ups_desc *d, const double *rest, const pl_hash_grid *pg,
                             const int *obj_of, double dp, double r, const obj_setup *os) {
  int64_t g0 = h->gs.n;
  if (os->mesh) {
    PL_TRY(ups_sample_mesh(&os->pm, r, d->seed, os->index, os->flat, &h->gs));
    int open_edges = pl_mesh_boundary_edges(os->mesh);
    if (open_edges > 0) {
      int64_t added = 0;
      PL_TRY(ups_fill_mesh_holes(rest, os->idx, os->cnt, d, dp, r, os->flat, os->name, &h->gs, g0, &added));
      PL_DEBUG("upsample: object '%s': the mesh has %d boundary edges; %lld particle-surface samples close its holes",
               os->name, open_edges, (long long)added);
    }
  } else {
    PL_TRY(ups_sample_particle_set(rest, os->idx, os->cnt, d, dp, r, os->flat, os->name, &h->gs));
  }
  if (h->gs.n == g0)
    return pl_fail(PL_ERR_INVALID, "upsample: object '%s': no surface samples (its %d particles enclose no volume at "
                                   "surface_level %g; too few particles?)", os->name, os->cnt, d->surface_level);
  PL_TRY(push_unit(h, h->gs.n, (real)r));
  return bind_samples(h, g0, pg, obj_of, os->index, d->bind_radius * dp, os->name);
}

/* Particles mode: one Gaussian per particle, bound to it alone, coloured from the mesh when there is one. */
static pl_status setup_particles(ups_host_setup *h, const ups_desc *d, const double *rest, double dp,
                                 double r, const obj_setup *os) {
  int64_t g0 = h->gs.n;
  for (int i = 0; i < os->cnt; ++i) {
    ups_sample c;
    for (int k = 0; k < 3; ++k) {
      c.p[k] = rest[3 * (size_t)os->idx[i] + k];
      c.n[k] = 0;
      c.c[k] = os->flat[k];
    }
    PL_TRY(ups_svec_push(&h->gs, &c));
  }
  if (os->mesh) {
    real *col = (real *)malloc(sizeof(real) * 3 * (size_t)(unsigned)os->cnt); /* cnt >= 1 here */
    if (!col) return pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
    pl_status s = ups_colors_from_mesh(&os->pm, rest, os->idx, os->cnt, r, dp, d->seed, os->index, os->flat, col);
    for (int i = 0; i < os->cnt && s == PL_OK; ++i)
      for (int k = 0; k < 3; ++k) h->gs.v[g0 + i].c[k] = col[3 * (size_t)i + k];
    free(col);
    PL_TRY(s);
  }
  PL_TRY(push_unit(h, h->gs.n, (real)(0.5 * dp)));
  int64_t *bs = (int64_t *)realloc(h->csr.bstart, sizeof(int64_t) * (size_t)(h->gs.n + 1));
  if (!bs) return pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
  h->csr.bstart = bs;
  for (int i = 0; i < os->cnt; ++i) {
    PL_TRY(csr_push(&h->csr, os->idx[i], RC(1.0)));
    h->csr.bstart[g0 + i + 1] = h->csr.nnz;
  }
  return PL_OK;
}

/* Runtime mode: the particles join the runtime list with their colours (flat, or from the mesh). */
static pl_status setup_runtime(ups_host_setup *h, const ups_desc *d, const double *rest, double dp, double r,
                               const obj_setup *os) {
  for (int i = 0; i < os->cnt; ++i) {
    h->rt_index[h->nrt + i] = os->idx[i];
    for (int k = 0; k < 3; ++k) h->rt_color[3 * (size_t)(h->nrt + i) + k] = (real)os->flat[k];
  }
  pl_status s = PL_OK;
  if (os->mesh)
    s = ups_colors_from_mesh(&os->pm, rest, os->idx, os->cnt, r, dp, d->seed, os->index, os->flat,
                             h->rt_color + 3 * (size_t)h->nrt);
  h->nrt += os->cnt;
  return s;
}

/* One object: its particles, its mesh, then its mode's set-up. idx: scratch of n ints. */
static pl_status setup_object(ups_host_setup *h, const ups_desc *d, const ups_object *ob, int o,
                              const double *rest, const int *obj_of, const pl_hash_grid *pg, double dp, double r,
                              int *idx) {
  obj_setup os;
  memset(&os, 0, sizeof os);
  char namebuf[64];
  PL_TRY(object_resolve(ob, o, namebuf, &os));
  int cnt = 0;
  for (int p = 0; p < d->nparticles; ++p)
    if (obj_of[p] == o) idx[cnt++] = p;
  if (cnt == 0) return pl_fail(PL_ERR_INVALID, "upsample: object '%s' (index %d) has no particles", os.name, o);
  os.idx = idx;
  os.cnt = cnt;
  pl_mesh loaded;
  memset(&loaded, 0, sizeof loaded);
  pl_status s = object_mesh(&os, &loaded);
  if (s == PL_OK) {
    if (ob->splat_count > 0) s = setup_splat(h, d, pg, obj_of, dp, r, &os);
    else if (os.mode == UPS_BOUND) s = setup_bound(h, d, rest, pg, obj_of, dp, r, &os);
    else if (os.mode == UPS_PARTICLES) s = setup_particles(h, d, rest, dp, r, &os);
    else s = setup_runtime(h, d, rest, dp, r, &os);
  }
  ups_pmesh_free(&os.pm);
  pl_mesh_free(&loaded);
  return s;
}

/* Every object's Gaussians on the host. */
static pl_status setup_objects(ups *u, const ups_desc *d, const double *rest, const int *obj_of,
                               ups_host_setup *h) {
  const int n = d->nparticles, nobj = d->nobjects > 0 ? d->nobjects : 1;
  ups_object defobj;
  memset(&defobj, 0, sizeof defobj);
  defobj.mode = UPS_BOUND;
  const double dp = u->dp, r = u->sample_spacing;
  pl_hash_grid pg; /* the particles, for binding */
  memset(&pg, 0, sizeof pg);
  int need_pgrid = 0;
  for (int o = 0; o < nobj; ++o) {
    const ups_object *ob = d->nobjects > 0 ? &d->objects[o] : &defobj;
    if ((ob->mode == 0 ? UPS_BOUND : ob->mode) == UPS_BOUND) need_pgrid = 1;
  }
  int sh_deg = 0; /* the output's SH degree: the largest of the splat objects' with bands above 0 */
  for (int o = 0; o < d->nobjects; ++o)
    if (d->objects[o].splat_count > 0 && d->objects[o].splat_sh && d->objects[o].splat_sh_degree > sh_deg)
      sh_deg = d->objects[o].splat_sh_degree;
  if (sh_deg > 3) return pl_fail(PL_ERR_INVALID, "upsample: SH degree %d (at most 3)", sh_deg);
  u->sh_degree = sh_deg;
  h->sh_k = sh_deg > 0 ? (sh_deg + 1) * (sh_deg + 1) : 0;
  if (need_pgrid) PL_TRY(ups_grid_build(&pg, rest, n, d->bind_radius * dp));
  int *idx = (int *)malloc(sizeof(int) * (size_t)n);
  h->rt_index = (int *)malloc(sizeof(int) * (size_t)n);
  h->rt_color = (real *)malloc(sizeof(real) * 3 * (size_t)n);
  h->csr.bstart = (int64_t *)calloc(1, sizeof(int64_t));
  pl_status s = PL_OK;
  if (!idx || !h->rt_index || !h->rt_color || !h->csr.bstart) s = pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
  for (int o = 0; o < nobj && s == PL_OK; ++o)
    s = setup_object(h, d, d->nobjects > 0 ? &d->objects[o] : &defobj, o, rest, obj_of, &pg, dp, r, idx);
  free(idx);
  pl_hash_grid_free(&pg);
  return s;
}

/* ================================================================== lifetime */

/* Rest positions (in double) and object indices, validated. */
static pl_status load_particles(const ups_desc *d, double **rest_out, int **obj_out) {
  const int n = d->nparticles, nobj = d->nobjects > 0 ? d->nobjects : 1;
  double *rest = (double *)malloc(sizeof(double) * 3 * (size_t)n);
  int *obj_of = (int *)malloc(sizeof(int) * (size_t)n);
  pl_status s = PL_OK;
  if (!rest || !obj_of) s = pl_fail(PL_ERR_NOMEM, "upsample: out of memory (%d particles)", n);
  for (int p = 0; p < n && s == PL_OK; ++p) {
    for (int k = 0; k < 3 && s == PL_OK; ++k) {
      rest[3 * (size_t)p + k] = (double)d->rest_positions[3 * (size_t)p + k];
      if (!isfinite(rest[3 * (size_t)p + k]))
        s = pl_fail(PL_ERR_NUMERIC, "upsample: particle %d has a non-finite rest position", p);
    }
    obj_of[p] = d->object_index ? d->object_index[p] : 0;
    if (s == PL_OK && (obj_of[p] < 0 || obj_of[p] >= nobj))
      s = pl_fail(PL_ERR_INVALID, "upsample: particle %d has object index %d, outside 0..%d", p, obj_of[p], nobj - 1);
  }
  if (s != PL_OK) {
    free(rest);
    free(obj_of);
    return s;
  }
  *rest_out = rest;
  *obj_out = obj_of;
  return PL_OK;
}

/* Scalars of the resolved descriptor, the backend and the particle spacing. */
static pl_status init_scalars(ups *u, const ups_desc *d) {
  u->threads = d->threads;
  u->skip_checks = d->skip_checks;
  u->learn_colors = d->learn_colors;
  u->learn_opacities = d->learn_opacities;
  u->n = d->nparticles;
  u->children = d->children;
  u->sigma0 = d->sigma0;
  u->thickness = d->thickness;
  u->opacity = d->opacity;
  u->dp = d->particle_spacing;
  pl_status s = pl_backend_resolve(d->backend, &u->backend, NULL, 0);
  if (s == PL_OK) s = ups_backend_ops_get(u->backend, &u->ops);
  if (s == PL_OK && u->dp == 0) s = ups_estimate_spacing(d->rest_positions, u->n, &u->dp);
  u->sample_spacing = d->spacing * u->dp;
  return s;
}

/* Counts of the host set-up, checked. */
static pl_status init_counts(ups *u, const ups_host_setup *h, int children) {
  u->nb = h->gs.n;
  u->nnz = h->csr.nnz;
  u->nrt = h->nrt;
  u->m = u->nb + (int64_t)h->nrt * children;
  if (u->m > (int64_t)INT32_MAX * 8)
    return pl_fail(PL_ERR_LIMIT, "upsample: %lld Gaussians exceed the limit", (long long)u->m);
  if (u->m == 0) return pl_fail(PL_ERR_INVALID, "upsample: no Gaussians to make");
  return PL_OK;
}

pl_status ups_create(ups **out, const ups_desc *desc) {
  if (!out || !desc) return pl_fail(PL_ERR_INVALID, "upsample: NULL argument to ups_create");
  *out = NULL;
  ups_desc d;
  PL_TRY(resolve_desc(desc, &d));
  double *rest = NULL;
  int *obj_of = NULL;
  PL_TRY(load_particles(&d, &rest, &obj_of));
  ups *u = (ups *)calloc(1, sizeof *u);
  if (!u) {
    free(rest);
    free(obj_of);
    return pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
  }
  ups_host_setup h;
  memset(&h, 0, sizeof h);
  pl_status s = init_scalars(u, &d);
  if (s == PL_OK) s = setup_objects(u, &d, rest, obj_of, &h);
  if (s == PL_OK) s = init_counts(u, &h, d.children);
  if (s == PL_OK) s = ups_upload(u, &d, rest, &h);
  if (s == PL_OK) s = u->ops->setup(u);
  free(rest);
  free(obj_of);
  hsetup_free(&h);
  if (s != PL_OK) {
    ups_destroy(u);
    return s;
  }
  PL_DEBUG("upsample: %lld Gaussians (%lld bound, %d runtime particles x %d), %lld bindings, spacing %g m",
           (long long)u->m, (long long)u->nb, u->nrt, d.children, (long long)u->nnz, u->dp);
  *out = u;
  return PL_OK;
}

void ups_destroy(ups *u) {
  if (!u) return;
  ups_free_buffers(u);
  free(u);
}
