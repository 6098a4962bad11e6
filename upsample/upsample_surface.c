/* upsample_surface.c: where the bound Gaussians come from. The mesh placement (shared with the simulator through
 * core/rotation.h), Poisson-disk samples of a placed mesh's surface (texture, vertex or flat colours) and of the
 * iso-surface of a particle set's smoothed density, and the particle-spacing estimate. Set-up only (host). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/rng.h"
#include "core/rotation.h"
#include "upsample/upsample_internal.h"

/* ================================================================== placement */

void ups_place_point(const double center[3], const double scale[3], const double rotation_deg[3],
                             const double lo[3], const double hi[3], const double p[3], double out[3]) {
  double r[9], q[3];
  pl_euler_xyz_deg(rotation_deg, r);
  for (int k = 0; k < 3; ++k) q[k] = (scale ? scale[k] : 1.0) * (p[k] - 0.5 * (lo[k] + hi[k]));
  for (int i = 0; i < 3; ++i) out[i] = center[i] + r[3 * i] * q[0] + r[3 * i + 1] * q[1] + r[3 * i + 2] * q[2];
}

pl_status ups_svec_push(ups_sample_vec *s, const ups_sample *x) {
  if (s->n == s->cap) {
    int64_t cap = s->cap ? 2 * s->cap : 1024;
    ups_sample *nv = (ups_sample *)realloc(s->v, sizeof(ups_sample) * (size_t)cap);
    if (!nv) return pl_fail(PL_ERR_NOMEM, "upsample: out of memory storing surface samples");
    s->v = nv;
    s->cap = cap;
  }
  s->v[s->n++] = *x;
  return PL_OK;
}

/* ================================================================== spacing estimate */

typedef struct {
  int self;
  double best;
} nn_ctx;
static void nn_visit(int idx, double d2, void *ctx) {
  nn_ctx *c = (nn_ctx *)ctx;
  if (idx != c->self && d2 < c->best) c->best = d2;
}
static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : (x > y);
}

pl_status ups_estimate_spacing(const real *pos, int n, double *spacing) {
  if (n < 2) return pl_fail(PL_ERR_INVALID, "upsample: cannot estimate the particle spacing from %d particle%s: "
                                            "set particle_spacing", n, n == 1 ? "" : "s");
  double *p = (double *)malloc(sizeof(double) * 3 * (size_t)n);
  double *d = (double *)malloc(sizeof(double) * (size_t)n);
  if (!p || !d) {
    free(p);
    free(d);
    return pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
  }
  double lo[3] = {DBL_MAX, DBL_MAX, DBL_MAX}, hi[3] = {-DBL_MAX, -DBL_MAX, -DBL_MAX};
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) {
      p[3 * (size_t)i + k] = (double)pos[3 * (size_t)i + k];
      if (!isfinite(p[3 * (size_t)i + k])) {
        free(p);
        free(d);
        return pl_fail(PL_ERR_NUMERIC, "upsample: particle %d has a non-finite rest position", i);
      }
      if (p[3 * (size_t)i + k] < lo[k]) lo[k] = p[3 * (size_t)i + k];
      if (p[3 * (size_t)i + k] > hi[k]) hi[k] = p[3 * (size_t)i + k];
    }
  double ext = fmax(hi[0] - lo[0], fmax(hi[1] - lo[1], hi[2] - lo[2]));
  double vol = 1;
  for (int k = 0; k < 3; ++k) vol *= fmax(hi[k] - lo[k], 1e-3 * ext);
  double cell = 2.0 * cbrt(vol / n);
  pl_status st = PL_OK;
  *spacing = 0;
  for (int attempt = 0; attempt < 12 && cell > 0 && isfinite(cell); ++attempt, cell *= 2) {
    pl_hash_grid g;
    st = ups_grid_build(&g, p, n, cell);
    if (st != PL_OK) break;
    int found = 0;
    for (int i = 0; i < n; ++i) {
      nn_ctx c = {i, DBL_MAX};
      pl_hash_grid_query(&g, p + 3 * (size_t)i, cell, nn_visit, &c);
      if (c.best < DBL_MAX) d[found++] = sqrt(c.best);
    }
    pl_hash_grid_free(&g);
    if (2 * found >= n) {
      qsort(d, (size_t)found, sizeof(double), cmp_double);
      *spacing = d[found / 2];
      break;
    }
  }
  free(p);
  free(d);
  if (st != PL_OK) return st;
  if (!(*spacing > 0))
    return pl_fail(PL_ERR_INVALID, "upsample: cannot estimate the particle spacing (coincident or isolated "
                                   "particles): set particle_spacing");
  return PL_OK;
}

/* ================================================================== Poisson-disk thinning */

/* Accept candidates in order when no accepted sample lies within r: cells of side r/2 hold at most one sample,
 * and a candidate looks at the 5^3 cells around it. */
typedef struct {
  pl_cellmap map;
  double r, inv;
} thinner;

static pl_status thin_try(thinner *t, ups_sample_vec *out, const ups_sample *c, const char *what) {
  int cc[3];
  if (!pl_cell_of(c->p, t->inv, cc))
    return pl_fail(PL_ERR_NUMERIC, "upsample: %s: a surface sample at (%g, %g, %g) is too far from the origin", what,
                   c->p[0], c->p[1], c->p[2]);
  double r2 = t->r * t->r;
  for (int di = -2; di <= 2; ++di)
    for (int dj = -2; dj <= 2; ++dj)
      for (int dk = -2; dk <= 2; ++dk) {
        int64_t id = pl_cellmap_get(&t->map, pl_cell_key(cc[0] + di, cc[1] + dj, cc[2] + dk));
        if (id < 0) continue;
        const double *q = out->v[id].p;
        double d2 = (q[0] - c->p[0]) * (q[0] - c->p[0]) + (q[1] - c->p[1]) * (q[1] - c->p[1]) +
                    (q[2] - c->p[2]) * (q[2] - c->p[2]);
        if (d2 < r2) return PL_OK;
      }
  PL_TRY(pl_cellmap_put(&t->map, pl_cell_key(cc[0], cc[1], cc[2]), out->n));
  return ups_svec_push(out, c);
}

/* ================================================================== mesh surfaces */

static double clamp01(double x) { return x < 0 ? 0 : (x > 1 ? 1 : x); }

static void tex_lookup(const ups_texture *t, double u, double v, double out[3]) {
  double x = (u - floor(u)) * t->w - 0.5, y = (1.0 - (v - floor(v))) * t->h - 0.5;
  int x0 = (int)floor(x), y0 = (int)floor(y);
  double fx = x - x0, fy = y - y0;
  for (int k = 0; k < 3; ++k) out[k] = 0;
  for (int dy = 0; dy < 2; ++dy)
    for (int dx = 0; dx < 2; ++dx) {
      int xi = ((x0 + dx) % t->w + t->w) % t->w, yi = ((y0 + dy) % t->h + t->h) % t->h;
      double wgt = (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy);
      const float *p = t->px + 3 * ((size_t)yi * (size_t)t->w + (size_t)xi);
      for (int k = 0; k < 3; ++k) out[k] += wgt * p[k];
    }
}

void ups_pmesh_free(ups_placed_mesh *pm) {
  free(pm->v);
  free(pm->vn);
  free(pm->area);
  free(pm->tex.px);
  memset(pm, 0, sizeof *pm);
}

pl_status ups_pmesh_make(ups_placed_mesh *pm, const pl_mesh *m, const ups_object *o, const char *name) {
  memset(pm, 0, sizeof *pm);
  pm->name = name;
  pm->mesh = m;
  pm->nv = m->nverts;
  pm->nf = m->nfaces;
  pm->v = (double *)malloc(sizeof(double) * 3 * (size_t)m->nverts);
  pm->vn = (double *)calloc(3 * (size_t)m->nverts, sizeof(double));
  pm->area = (double *)malloc(sizeof(double) * (size_t)m->nfaces);
  if (!pm->v || !pm->vn || !pm->area) {
    ups_pmesh_free(pm);
    return pl_fail(PL_ERR_NOMEM, "upsample: object '%s': out of memory placing the mesh", name);
  }
  double lo[3], hi[3], scale[3];
  pl_mesh_bounds(m, lo, hi);
  for (int k = 0; k < 3; ++k) {
    scale[k] = o->scale[k] == 0 ? 1.0 : o->scale[k];
    if (!isfinite(scale[k]) || !isfinite(o->center[k]) || !isfinite(o->rotation_deg[k])) {
      ups_pmesh_free(pm);
      return pl_fail(PL_ERR_INVALID, "upsample: object '%s': non-finite placement (center, scale or rotation)", name);
    }
  }
  for (int i = 0; i < m->nverts; ++i)
    ups_place_point(o->center, scale, o->rotation_deg, lo, hi, m->verts + 3 * (size_t)i, pm->v + 3 * (size_t)i);
  double total = 0;
  for (int f = 0; f < m->nfaces; ++f) {
    const int *ix = m->faces + 3 * (size_t)f;
    const double *a = pm->v + 3 * (size_t)ix[0], *b = pm->v + 3 * (size_t)ix[1], *c = pm->v + 3 * (size_t)ix[2];
    double e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    double cr[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]};
    /* area-weighted face normal (|cr| = 2 area) summed at the vertices */
    for (int c_ = 0; c_ < 3; ++c_)
      for (int k = 0; k < 3; ++k) pm->vn[3 * (size_t)ix[c_] + k] += cr[k];
    total += 0.5 * sqrt(cr[0] * cr[0] + cr[1] * cr[1] + cr[2] * cr[2]);
    pm->area[f] = total;
  }
  if (!(total > 0)) {
    ups_pmesh_free(pm);
    return pl_fail(PL_ERR_INVALID, "upsample: object '%s': the mesh has zero surface area", name);
  }
  for (int i = 0; i < m->nverts; ++i) {
    double *n = pm->vn + 3 * (size_t)i;
    double l = sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    if (l > 0)
      for (int k = 0; k < 3; ++k) n[k] /= l;
  }
  if (o->texture_path && o->texture_path[0]) {
    if (!m->uvs || !m->face_uvs)
      return ups_pmesh_free(pm), pl_fail(PL_ERR_INVALID, "upsample: object '%s': texture %s needs a mesh with texture "
                                                     "coordinates (vt), and the mesh has none", name, o->texture_path);
    pl_status s = pl_png_read_float(o->texture_path, 3, &pm->tex.w, &pm->tex.h, &pm->tex.px, NULL);
    if (s != PL_OK) {
      ups_pmesh_free(pm);
      return pl_fail_context(s, "upsample: object '%s': texture: ", name);
    }
    pm->has_tex = 1;
  }
  return PL_OK;
}

/* Surface point of face f at barycentrics (b0, b1, b2): position, smooth normal, colour. */
static void pmesh_point(const ups_placed_mesh *pm, int f, double b0, double b1, double b2, const double flat[3],
                        ups_sample *out) {
  const int *ix = pm->mesh->faces + 3 * (size_t)f;
  double bb[3] = {b0, b1, b2};
  double n[3] = {0, 0, 0};
  for (int k = 0; k < 3; ++k) {
    out->p[k] = 0;
    for (int c = 0; c < 3; ++c) {
      out->p[k] += bb[c] * pm->v[3 * (size_t)ix[c] + k];
      n[k] += bb[c] * pm->vn[3 * (size_t)ix[c] + k];
    }
  }
  double l = sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
  if (!(l > 1e-12)) { /* degenerate smooth normal: the face normal */
    const double *a = pm->v + 3 * (size_t)ix[0], *b = pm->v + 3 * (size_t)ix[1], *c = pm->v + 3 * (size_t)ix[2];
    double e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
    n[0] = e1[1] * e2[2] - e1[2] * e2[1];
    n[1] = e1[2] * e2[0] - e1[0] * e2[2];
    n[2] = e1[0] * e2[1] - e1[1] * e2[0];
    l = sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
  }
  for (int k = 0; k < 3; ++k) out->n[k] = l > 0 ? n[k] / l : (k == 2);
  const pl_mesh *m = pm->mesh;
  const int *fu = m->face_uvs ? m->face_uvs + 3 * (size_t)f : NULL;
  if (pm->has_tex && fu && fu[0] >= 0 && fu[1] >= 0 && fu[2] >= 0) {
    double u = 0, v = 0;
    for (int c = 0; c < 3; ++c) {
      u += bb[c] * m->uvs[2 * (size_t)fu[c]];
      v += bb[c] * m->uvs[2 * (size_t)fu[c] + 1];
    }
    tex_lookup(&pm->tex, u, v, out->c);
  } else if (m->colors) {
    for (int k = 0; k < 3; ++k) {
      out->c[k] = 0;
      for (int c = 0; c < 3; ++c) out->c[k] += bb[c] * m->colors[3 * (size_t)ix[c] + k];
    }
  } else {
    for (int k = 0; k < 3; ++k) out->c[k] = flat[k];
  }
  for (int k = 0; k < 3; ++k) out->c[k] = clamp01(out->c[k]);
}

/* Poisson-disk samples of a placed mesh's surface with radius r. */
pl_status ups_sample_mesh(const ups_placed_mesh *pm, double r, uint64_t seed, int obj, const double flat[3],
                             ups_sample_vec *out) {
  double total = pm->area[pm->nf - 1];
  double want = ceil(UPS_CANDIDATE_DENSITY * total / (r * r));
  if (!(want <= (double)UPS_MAX_CANDIDATES))
    return pl_fail(PL_ERR_LIMIT, "upsample: object '%s': %.3g surface candidates at sample spacing %g m exceed the "
                                 "limit of %lld (increase spacing or particle_spacing)", pm->name, want, r,
                   (long long)UPS_MAX_CANDIDATES);
  int64_t nc = (int64_t)want;
  thinner t;
  t.r = r;
  t.inv = 2.0 / r;
  PL_TRY(ups_cellmap_init(&t.map, (size_t)(4.0 * total / (r * r)) + 16));
  pl_status s = PL_OK;
  for (int64_t i = 0; i < nc && s == PL_OK; ++i) {
    real u[4];
    pl_rng_uniform4(seed, ups_stream_id(UPS_STREAM_MESH, (uint64_t)obj), (uint32_t)i, u);
    double a = (double)u[0] * total;
    int lo = 0, hi = pm->nf - 1;
    while (lo < hi) { /* first face whose cumulative area exceeds a */
      int mid = (lo + hi) / 2;
      if (pm->area[mid] > a) hi = mid;
      else lo = mid + 1;
    }
    double su = sqrt((double)u[1]), v = (double)u[2];
    ups_sample c;
    pmesh_point(pm, lo, 1 - su, su * (1 - v), su * v, flat, &c);
    s = thin_try(&t, out, &c, pm->name);
  }
  pl_cellmap_free(&t.map);
  return s;
}

/* ================================================================== particle-set surfaces */

double ups_lattice_sum(double smoothing) {
  double s = 0;
  int reach = (int)ceil(2 * smoothing) + 1;
  for (int i = -reach; i <= reach; ++i)
    for (int j = -reach; j <= reach; ++j)
      for (int k = -reach; k <= reach; ++k) s += (double)ups_kernel_f((real)(sqrt((double)(i * i + j * j + k * k)) / smoothing));
  return s;
}

uint32_t ups_pow2_at_least(uint64_t n) {
  uint64_t c = 16;
  while (c < n && c < (1ull << 31)) c *= 2;
  return (uint32_t)c;
}

/* A host copy of the runtime grid over some points, with the field parameters. */
typedef struct {
  real *pos;
  int n;
  int *start, *sorted;
  uint64_t *key;
  ups_grid grid;
  ups_field field;
} host_field;

static void hfield_free(host_field *h) {
  free(h->pos);
  free(h->start);
  free(h->sorted);
  free(h->key);
  memset(h, 0, sizeof *h);
}

static pl_status hfield_build(host_field *h, const double *pts, const int *idx, int n, double dp, double smoothing) {
  memset(h, 0, sizeof *h);
  h->n = n;
  uint32_t nb = ups_pow2_at_least(2 * (uint64_t)n);
  h->pos = (real *)malloc(sizeof(real) * 3 * (size_t)n);
  h->start = (int *)malloc(sizeof(int) * ((size_t)nb + 1));
  h->sorted = (int *)malloc(sizeof(int) * (size_t)n);
  h->key = (uint64_t *)malloc(sizeof(uint64_t) * (size_t)n);
  if (!h->pos || !h->start || !h->sorted || !h->key) {
    hfield_free(h);
    return pl_fail(PL_ERR_NOMEM, "upsample: out of memory (density field)");
  }
  for (int i = 0; i < n; ++i)
    for (int k = 0; k < 3; ++k) h->pos[3 * (size_t)i + k] = (real)pts[3 * (size_t)idx[i] + k];
  double hs = smoothing * dp;
  h->field.inv_h = (real)(1.0 / hs);
  h->field.inv_norm = (real)(1.0 / ups_lattice_sum(smoothing));
  h->field.support2 = (real)(4.0 * hs * hs);
  h->grid.inv_cell = (real)(1.0 / (2.0 * hs));
  h->grid.nbuckets = nb;
  int64_t bad;
  pl_status s = ups_cpu_build_grid(h->pos, n, h->grid.inv_cell, nb, h->start, h->sorted, h->key, &bad);
  if (s != PL_OK) {
    hfield_free(h);
    if (bad >= 0) return pl_fail(PL_ERR_NUMERIC, "upsample: particle %d is too far from the origin for the grid", idx[bad]);
    return s;
  }
  h->grid.start = h->start;
  h->grid.sorted = h->sorted;
  h->grid.key = h->key;
  return PL_OK;
}

ups_rt_shape ups_make_shape(const ups_desc *d, double dp) {
  ups_rt_shape sh;
  sh.thr = (real)d->surface_threshold;
  sh.band = (real)d->surface_band;
  sh.level = (real)d->surface_level;
  sh.eps = (real)(UPS_NORMAL_EPS / dp);
  sh.dmax = (real)(UPS_RT_DMAX * dp);
  sh.radius = (real)(UPS_RT_DISC_RADIUS * dp);
  return sh;
}

/* Samples of the iso-surface phi = level of an object's rest particles: candidates on the tangent discs of its
 * surface particles (around the particle moved onto the iso-surface), projected onto the iso-surface by Newton
 * steps (in parallel, each candidate into its own slot), then Poisson-disk thinned in candidate order. */
pl_status ups_sample_particle_set(const double *rest, const int *idx, int n, const ups_desc *d, double dp,
                                     double r, const double flat[3], const char *name, ups_sample_vec *out) {
  host_field hf;
  PL_TRY(hfield_build(&hf, rest, idx, n, dp, d->smoothing));
  ups_rt_shape sh = ups_make_shape(d, dp);
  const double disc = UPS_PSET_DISC_RADIUS * dp;
  /* the discs of two layers of surface particles, each about 2.5 dp^2, overlap on each patch of surface */
  int k = (int)ceil(0.5 * UPS_CANDIDATE_DENSITY * dp * dp / (r * r));
  if (k < 4) k = 4;
  if ((double)k * n > (double)UPS_MAX_CANDIDATES) {
    hfield_free(&hf);
    return pl_fail(PL_ERR_LIMIT, "upsample: object '%s': too many surface candidates (%d particles x %d); increase "
                                 "spacing", name, n, k);
  }
  real *cand = (real *)malloc(sizeof(real) * 6 * (size_t)n * (size_t)k);
  unsigned char *ok = (unsigned char *)calloc((size_t)n * (size_t)k, 1);
  if (!cand || !ok) {
    free(cand);
    free(ok);
    hfield_free(&hf);
    return pl_fail(PL_ERR_NOMEM, "upsample: object '%s': out of memory (surface candidates)", name);
  }
  const real level = (real)d->surface_level;
  const real gmin = (real)(0.02 / dp);
#pragma omp parallel for schedule(dynamic, 64)
  for (int i = 0; i < n; ++i) {
    real phi;
    v3 g;
    v3 xi = v3_load(hf.pos + 3 * (size_t)i);
    ups_density_at(xi, hf.pos, hf.grid, hf.field, &phi, &g);
    /* near the surface: its estimated distance to the iso-surface, (phi - level) / |grad phi|, below 2 dp */
    if (!(phi - level < RC(2.0) * (real)dp * v3_norm(g))) continue;
    real u[4];
    pl_rng_uniform4(d->seed, ups_stream_id(UPS_STREAM_PSET, (uint64_t)idx[i]), 0, u);
    v3 e = v3_normalize(v3_make(u[0] - RC(0.5), u[1] - RC(0.5), u[2] - RC(0.5) + RC(1e-3)));
    ups_rt_frame fr = ups_rt_frame_eval(phi, g, xi, m3_identity(), e, sh);
    for (int j = 0; j < k; ++j) {
      real ca, cb;
      ups_child_offset(j, k, RC(6.2831853) * u[3], &ca, &cb);
      v3 y = v3_axpy(v3_axpy(fr.base, (real)disc * ca, fr.t1), (real)disc * cb, fr.t2);
      for (int it = 0; it < 12; ++it) {
        real py;
        v3 gy;
        ups_density_at(y, hf.pos, hf.grid, hf.field, &py, &gy);
        real g2 = v3_norm2(gy);
        if (!(g2 > gmin * gmin)) break;
        if (r_fabs(py - level) < RC(1e-5)) {
          size_t at = (size_t)i * (size_t)k + (size_t)j;
          v3 nrm = v3_normalize(v3_neg(gy));
          v3_store(y, cand + 6 * at);
          v3_store(nrm, cand + 6 * at + 3);
          ok[at] = 1;
          break;
        }
        v3 step = v3_scale(gy, -(py - level) / g2);
        real sl = v3_norm(step), cap = RC(0.5) * (real)dp;
        if (sl > cap) step = v3_scale(step, cap / sl);
        y = v3_add(y, step);
      }
    }
  }
  thinner t;
  t.r = r;
  t.inv = 2.0 / r;
  pl_status s = ups_cellmap_init(&t.map, 4 * (size_t)n + 16);
  for (size_t at = 0; at < (size_t)n * (size_t)k && s == PL_OK; ++at) {
    if (!ok[at]) continue;
    ups_sample c;
    for (int q = 0; q < 3; ++q) {
      c.p[q] = (double)cand[6 * at + q];
      c.n[q] = (double)cand[6 * at + 3 + q];
      c.c[q] = flat[q];
    }
    s = thin_try(&t, out, &c, name);
  }
  if (t.map.keys) pl_cellmap_free(&t.map);
  free(cand);
  free(ok);
  hfield_free(&hf);
  return s;
}
