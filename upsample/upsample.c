/* upsample.c: validation, set-up (surface sampling, binding, runtime particle lists), dispatch to the backends,
 * parameters and gradients. Per-element math lives in upsample_kernels.h. */
#include "upsample/upsample.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/linalg.h"
#include "core/log.h"
#include "core/rng.h"
#include "upsample/upsample_impl.h"

/* Candidate points per unit (sample spacing)^2 of surface before Poisson-disk thinning. */
#define UPS_CANDIDATE_DENSITY 12.0
/* Runtime children's disc radius and the iso-surface offset's saturation, in particle spacings. */
#define UPS_RT_DISC_RADIUS 0.7
#define UPS_RT_DMAX 1.0
/* Radius of the candidate discs around surface particles when sampling a particle set's surface. */
#define UPS_PSET_DISC_RADIUS 0.9
/* Largest number of candidate points (memory bound of the set-up). */
#define UPS_MAX_CANDIDATES 200000000LL

/* RNG streams (the counter-based generator gives the same numbers on every machine). */
#define UPS_STREAM_MESH 1ull
#define UPS_STREAM_PSET 2ull
#define UPS_STREAM_RUNTIME 3ull
static uint64_t stream_id(uint64_t tag, uint64_t index) { return (tag << 48) | index; }

const char *pl_ups_mode_name(pl_ups_mode m) {
  switch (m) {
    case PL_UPS_BOUND: return "bound";
    case PL_UPS_RUNTIME: return "runtime";
    case PL_UPS_PARTICLES: return "particles";
  }
  return "?";
}

/* ================================================================== placement */

void pl_upsample_placement_matrix(const double rotation_deg[3], double r[3][3]) {
  const double d2r = 3.14159265358979323846 / 180.0;
  double cx = cos(rotation_deg[0] * d2r), sx = sin(rotation_deg[0] * d2r);
  double cy = cos(rotation_deg[1] * d2r), sy = sin(rotation_deg[1] * d2r);
  double cz = cos(rotation_deg[2] * d2r), sz = sin(rotation_deg[2] * d2r);
  /* Rz Ry Rx */
  r[0][0] = cz * cy;
  r[0][1] = cz * sy * sx - sz * cx;
  r[0][2] = cz * sy * cx + sz * sx;
  r[1][0] = sz * cy;
  r[1][1] = sz * sy * sx + cz * cx;
  r[1][2] = sz * sy * cx - cz * sx;
  r[2][0] = -sy;
  r[2][1] = cy * sx;
  r[2][2] = cy * cx;
}

void pl_upsample_place_point(const double center[3], const double scale[3], const double rotation_deg[3],
                             const double lo[3], const double hi[3], const double p[3], double out[3]) {
  double r[3][3], q[3];
  pl_upsample_placement_matrix(rotation_deg, r);
  for (int k = 0; k < 3; ++k) q[k] = (scale ? scale[k] : 1.0) * (p[k] - 0.5 * (lo[k] + hi[k]));
  for (int i = 0; i < 3; ++i) out[i] = center[i] + r[i][0] * q[0] + r[i][1] * q[1] + r[i][2] * q[2];
}

/* ================================================================== growable arrays, cell maps */

typedef struct {
  double p[3], n[3], c[3];
} sample;

typedef struct {
  sample *v;
  int64_t n, cap;
} sample_vec;

static pl_status svec_push(sample_vec *s, const sample *x) {
  if (s->n == s->cap) {
    int64_t cap = s->cap ? 2 * s->cap : 1024;
    sample *nv = (sample *)realloc(s->v, sizeof(sample) * (size_t)cap);
    if (!nv) return pl_fail(PL_ERR_NOMEM, "upsample: out of memory storing surface samples");
    s->v = nv;
    s->cap = cap;
  }
  s->v[s->n++] = *x;
  return PL_OK;
}

/* Open-addressing map cell key -> int (one accepted sample per cell). */
typedef struct {
  uint64_t *keys;
  int64_t *vals;
  size_t cap, count;
} cellmap;

static uint64_t mix64(uint64_t z) {
  z ^= z >> 30;
  z *= 0xBF58476D1CE4E5B9ull;
  z ^= z >> 27;
  z *= 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static pl_status cellmap_init(cellmap *m, size_t cap) {
  size_t c = 1024;
  while (c < cap) c *= 2;
  m->keys = (uint64_t *)malloc(sizeof(uint64_t) * c);
  m->vals = (int64_t *)malloc(sizeof(int64_t) * c);
  if (!m->keys || !m->vals) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
    return pl_fail(PL_ERR_NOMEM, "upsample: out of memory (sample map)");
  }
  for (size_t i = 0; i < c; ++i) m->keys[i] = UINT64_MAX;
  m->cap = c;
  m->count = 0;
  return PL_OK;
}
static void cellmap_free(cellmap *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}
static int64_t cellmap_get(const cellmap *m, uint64_t key) {
  size_t i = (size_t)mix64(key) & (m->cap - 1);
  while (m->keys[i] != UINT64_MAX) {
    if (m->keys[i] == key) return m->vals[i];
    i = (i + 1) & (m->cap - 1);
  }
  return -1;
}
static pl_status cellmap_put(cellmap *m, uint64_t key, int64_t val) {
  if (2 * (m->count + 1) > m->cap) {
    cellmap bigger;
    PL_TRY(cellmap_init(&bigger, m->cap * 2));
    for (size_t i = 0; i < m->cap; ++i)
      if (m->keys[i] != UINT64_MAX) {
        size_t j = (size_t)mix64(m->keys[i]) & (bigger.cap - 1);
        while (bigger.keys[j] != UINT64_MAX) j = (j + 1) & (bigger.cap - 1);
        bigger.keys[j] = m->keys[i];
        bigger.vals[j] = m->vals[i];
      }
    bigger.count = m->count;
    cellmap_free(m);
    *m = bigger;
  }
  size_t i = (size_t)mix64(key) & (m->cap - 1);
  while (m->keys[i] != UINT64_MAX && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
  if (m->keys[i] == UINT64_MAX) m->count++;
  m->keys[i] = key;
  m->vals[i] = val;
  return PL_OK;
}

/* Cell coordinates of a point for a cell size; fails when they do not fit in the packed key. */
static int cell_of(const double p[3], double inv_cell, int c[3]) {
  for (int k = 0; k < 3; ++k) {
    double v = floor(p[k] * inv_cell);
    if (!(fabs(v) < 1048000.0)) return 0;
    c[k] = (int)v;
  }
  return 1;
}

/* ================================================================== a static host grid over points (set-up) */

typedef struct {
  const double *pts;
  int n;
  double cell, inv;
  cellmap map;        /* cell key -> index into cstart */
  int64_t *cstart;    /* [ncells + 1] */
  int *items;         /* [n] point indices grouped by cell */
  int64_t ncells;
} sgrid;

static void sgrid_free(sgrid *g) {
  cellmap_free(&g->map);
  free(g->cstart);
  free(g->items);
  memset(g, 0, sizeof *g);
}

static pl_status sgrid_build(sgrid *g, const double *pts, int n, double cell) {
  memset(g, 0, sizeof *g);
  g->pts = pts;
  g->n = n;
  g->cell = cell;
  g->inv = 1.0 / cell;
  int64_t *cellid = (int64_t *)malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
  if (!cellid) return pl_fail(PL_ERR_NOMEM, "upsample: out of memory (grid)");
  pl_status s = cellmap_init(&g->map, 2 * (size_t)n + 16);
  if (s != PL_OK) {
    free(cellid);
    return s;
  }
  int64_t ncells = 0;
  for (int i = 0; i < n; ++i) {
    int c[3];
    if (!cell_of(pts + 3 * (size_t)i, g->inv, c)) {
      free(cellid);
      sgrid_free(g);
      return pl_fail(PL_ERR_NUMERIC, "upsample: point %d (%g, %g, %g) is too far from the origin for the neighbour grid",
                     i, pts[3 * (size_t)i], pts[3 * (size_t)i + 1], pts[3 * (size_t)i + 2]);
    }
    uint64_t key = ups_cell_key(c[0], c[1], c[2]);
    int64_t id = cellmap_get(&g->map, key);
    if (id < 0) {
      id = ncells++;
      s = cellmap_put(&g->map, key, id);
      if (s != PL_OK) {
        free(cellid);
        sgrid_free(g);
        return s;
      }
    }
    cellid[i] = id;
  }
  g->ncells = ncells;
  g->cstart = (int64_t *)calloc((size_t)ncells + 1, sizeof(int64_t));
  g->items = (int *)malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
  int64_t *cur = (int64_t *)malloc(sizeof(int64_t) * (size_t)(ncells > 0 ? ncells : 1));
  if (!g->cstart || !g->items || !cur) {
    free(cellid);
    free(cur);
    sgrid_free(g);
    return pl_fail(PL_ERR_NOMEM, "upsample: out of memory (grid)");
  }
  for (int i = 0; i < n; ++i) g->cstart[cellid[i] + 1]++;
  for (int64_t c = 0; c < ncells; ++c) g->cstart[c + 1] += g->cstart[c];
  memcpy(cur, g->cstart, sizeof(int64_t) * (size_t)ncells);
  for (int i = 0; i < n; ++i) g->items[cur[cellid[i]]++] = i;
  free(cur);
  free(cellid);
  return PL_OK;
}

/* Visit the points within `radius` (<= reach * cell) of y, in a fixed order. */
typedef void (*sgrid_visit)(int idx, double d2, void *ctx);
static void sgrid_query(const sgrid *g, const double y[3], double radius, sgrid_visit fn, void *ctx) {
  int c[3];
  if (!cell_of(y, g->inv, c)) return;
  int reach = (int)ceil(radius * g->inv);
  if (reach < 1) reach = 1;
  double r2 = radius * radius;
  for (int di = -reach; di <= reach; ++di)
    for (int dj = -reach; dj <= reach; ++dj)
      for (int dk = -reach; dk <= reach; ++dk) {
        int64_t id = cellmap_get(&g->map, ups_cell_key(c[0] + di, c[1] + dj, c[2] + dk));
        if (id < 0) continue;
        for (int64_t e = g->cstart[id]; e < g->cstart[id + 1]; ++e) {
          int q = g->items[e];
          const double *p = g->pts + 3 * (size_t)q;
          double d2 = (p[0] - y[0]) * (p[0] - y[0]) + (p[1] - y[1]) * (p[1] - y[1]) + (p[2] - y[2]) * (p[2] - y[2]);
          if (d2 <= r2) fn(q, d2, ctx);
        }
      }
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

pl_status pl_upsample_estimate_spacing(const real *pos, int n, double *spacing) {
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
    sgrid g;
    st = sgrid_build(&g, p, n, cell);
    if (st != PL_OK) break;
    int found = 0;
    for (int i = 0; i < n; ++i) {
      nn_ctx c = {i, DBL_MAX};
      sgrid_query(&g, p + 3 * (size_t)i, cell, nn_visit, &c);
      if (c.best < DBL_MAX) d[found++] = sqrt(c.best);
    }
    sgrid_free(&g);
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
  cellmap map;
  double r, inv;
} thinner;

static pl_status thin_try(thinner *t, sample_vec *out, const sample *c, const char *what) {
  int cc[3];
  if (!cell_of(c->p, t->inv, cc))
    return pl_fail(PL_ERR_NUMERIC, "upsample: %s: a surface sample at (%g, %g, %g) is too far from the origin", what,
                   c->p[0], c->p[1], c->p[2]);
  double r2 = t->r * t->r;
  for (int di = -2; di <= 2; ++di)
    for (int dj = -2; dj <= 2; ++dj)
      for (int dk = -2; dk <= 2; ++dk) {
        int64_t id = cellmap_get(&t->map, ups_cell_key(cc[0] + di, cc[1] + dj, cc[2] + dk));
        if (id < 0) continue;
        const double *q = out->v[id].p;
        double d2 = (q[0] - c->p[0]) * (q[0] - c->p[0]) + (q[1] - c->p[1]) * (q[1] - c->p[1]) +
                    (q[2] - c->p[2]) * (q[2] - c->p[2]);
        if (d2 < r2) return PL_OK;
      }
  PL_TRY(cellmap_put(&t->map, ups_cell_key(cc[0], cc[1], cc[2]), out->n));
  return svec_push(out, c);
}

/* ================================================================== mesh surfaces */

static double clamp01(double x) { return x < 0 ? 0 : (x > 1 ? 1 : x); }

typedef struct {
  int w, h;
  float *px; /* RGB */
} texture;

static void tex_lookup(const texture *t, double u, double v, double out[3]) {
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

typedef struct {
  const char *name;
  int nv, nf;
  double *v;      /* placed vertices */
  double *vn;     /* smooth vertex normals */
  double *area;   /* cumulative face areas [nf] */
  const pl_mesh *mesh;
  texture tex;
  int has_tex;
} placed_mesh;

static void pmesh_free(placed_mesh *pm) {
  free(pm->v);
  free(pm->vn);
  free(pm->area);
  free(pm->tex.px);
  memset(pm, 0, sizeof *pm);
}

static pl_status pmesh_make(placed_mesh *pm, const pl_mesh *m, const pl_upsample_object *o, const char *name) {
  memset(pm, 0, sizeof *pm);
  pm->name = name;
  pm->mesh = m;
  pm->nv = m->nverts;
  pm->nf = m->nfaces;
  pm->v = (double *)malloc(sizeof(double) * 3 * (size_t)m->nverts);
  pm->vn = (double *)calloc(3 * (size_t)m->nverts, sizeof(double));
  pm->area = (double *)malloc(sizeof(double) * (size_t)m->nfaces);
  if (!pm->v || !pm->vn || !pm->area) {
    pmesh_free(pm);
    return pl_fail(PL_ERR_NOMEM, "upsample: object '%s': out of memory placing the mesh", name);
  }
  double lo[3], hi[3], scale[3];
  pl_mesh_bounds(m, lo, hi);
  for (int k = 0; k < 3; ++k) {
    scale[k] = o->scale[k] == 0 ? 1.0 : o->scale[k];
    if (!isfinite(scale[k]) || !isfinite(o->center[k]) || !isfinite(o->rotation_deg[k])) {
      pmesh_free(pm);
      return pl_fail(PL_ERR_INVALID, "upsample: object '%s': non-finite placement (center, scale or rotation)", name);
    }
  }
  for (int i = 0; i < m->nverts; ++i)
    pl_upsample_place_point(o->center, scale, o->rotation_deg, lo, hi, m->verts + 3 * (size_t)i, pm->v + 3 * (size_t)i);
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
    pmesh_free(pm);
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
      return pmesh_free(pm), pl_fail(PL_ERR_INVALID, "upsample: object '%s': texture %s needs a mesh with texture "
                                                     "coordinates (vt), and the mesh has none", name, o->texture_path);
    pl_status s = pl_png_read_float(o->texture_path, 3, &pm->tex.w, &pm->tex.h, &pm->tex.px, NULL);
    if (s != PL_OK) {
      pmesh_free(pm);
      return pl_fail_context(s, "upsample: object '%s': texture: ", name);
    }
    pm->has_tex = 1;
  }
  return PL_OK;
}

/* Surface point of face f at barycentrics (b0, b1, b2): position, smooth normal, colour. */
static void pmesh_point(const placed_mesh *pm, int f, double b0, double b1, double b2, const double flat[3],
                        sample *out) {
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
static pl_status sample_mesh(const placed_mesh *pm, double r, uint64_t seed, int obj, const double flat[3],
                             sample_vec *out) {
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
  PL_TRY(cellmap_init(&t.map, (size_t)(4.0 * total / (r * r)) + 16));
  pl_status s = PL_OK;
  for (int64_t i = 0; i < nc && s == PL_OK; ++i) {
    real u[4];
    pl_rng_uniform4(seed, stream_id(UPS_STREAM_MESH, (uint64_t)obj), (uint32_t)i, u);
    double a = (double)u[0] * total;
    int lo = 0, hi = pm->nf - 1;
    while (lo < hi) { /* first face whose cumulative area exceeds a */
      int mid = (lo + hi) / 2;
      if (pm->area[mid] > a) hi = mid;
      else lo = mid + 1;
    }
    double su = sqrt((double)u[1]), v = (double)u[2];
    sample c;
    pmesh_point(pm, lo, 1 - su, su * (1 - v), su * v, flat, &c);
    s = thin_try(&t, out, &c, pm->name);
  }
  cellmap_free(&t.map);
  return s;
}

/* ================================================================== particle-set surfaces */

static double lattice_sum(double smoothing) {
  double s = 0;
  int reach = (int)ceil(2 * smoothing) + 1;
  for (int i = -reach; i <= reach; ++i)
    for (int j = -reach; j <= reach; ++j)
      for (int k = -reach; k <= reach; ++k) s += (double)ups_kernel_f((real)(sqrt((double)(i * i + j * j + k * k)) / smoothing));
  return s;
}

static uint32_t pow2_at_least(uint64_t n) {
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
  uint32_t nb = pow2_at_least(2 * (uint64_t)n);
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
  h->field.inv_norm = (real)(1.0 / lattice_sum(smoothing));
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

static ups_rt_shape make_shape(const pl_upsample_desc *d, double dp) {
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
static pl_status sample_particle_set(const double *rest, const int *idx, int n, const pl_upsample_desc *d, double dp,
                                     double r, const double flat[3], const char *name, sample_vec *out) {
  host_field hf;
  PL_TRY(hfield_build(&hf, rest, idx, n, dp, d->smoothing));
  ups_rt_shape sh = make_shape(d, dp);
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
    pl_rng_uniform4(d->seed, stream_id(UPS_STREAM_PSET, (uint64_t)idx[i]), 0, u);
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
  pl_status s = cellmap_init(&t.map, 4 * (size_t)n + 16);
  for (size_t at = 0; at < (size_t)n * (size_t)k && s == PL_OK; ++at) {
    if (!ok[at]) continue;
    sample c;
    for (int q = 0; q < 3; ++q) {
      c.p[q] = (double)cand[6 * at + q];
      c.n[q] = (double)cand[6 * at + 3 + q];
      c.c[q] = flat[q];
    }
    s = thin_try(&t, out, &c, name);
  }
  if (t.map.keys) cellmap_free(&t.map);
  free(cand);
  free(ok);
  hfield_free(&hf);
  return s;
}

/* ================================================================== holes in a mesh */

typedef struct {
  const sample *v;
  double best;
  int64_t pick;
} nearest_ctx;

static void nearest_visit(int q, double d2, void *ctx) {
  nearest_ctx *n = (nearest_ctx *)ctx;
  if (d2 < n->best || (d2 == n->best && q < n->pick)) n->best = d2, n->pick = q;
}

/* A mesh with holes (boundary edges, e.g. the scanned bunny's open bottom) leaves holes in its sampled surface
 * although the particles fill it (the winding-number inside test is robust to holes). Close them with samples
 * of the particle set's own surface that lie farther than 0.75 particle spacings from every mesh sample; each
 * takes the colour of the nearest mesh sample (texture), or the flat colour when none is near. Deterministic:
 * candidates are visited in order and the nearest-sample ties broken by index. */
static pl_status fill_mesh_holes(const double *rest, const int *idx, int cnt, const pl_upsample_desc *d, double dp,
                                 double r, const double flat[3], const char *name, sample_vec *gs, int64_t g0,
                                 int64_t *added) {
  *added = 0;
  sample_vec ps;
  memset(&ps, 0, sizeof ps);
  pl_status s = sample_particle_set(rest, idx, cnt, d, dp, r, flat, name, &ps);
  if (s != PL_OK) {
    free(ps.v);
    return s;
  }
  int64_t nm = gs->n - g0;
  double *pos = (double *)malloc(sizeof(double) * 3 * (size_t)(nm > 0 ? nm : 1));
  if (!pos) {
    free(ps.v);
    return pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
  }
  for (int64_t i = 0; i < nm; ++i)
    for (int k = 0; k < 3; ++k) pos[3 * i + k] = gs->v[g0 + i].p[k];
  sgrid g;
  s = sgrid_build(&g, pos, (int)nm, dp);
  const double gap = 0.75 * dp, reach = 8 * r > dp ? 8 * r : dp;
  for (int64_t i = 0; i < ps.n && s == PL_OK; ++i) {
    nearest_ctx nc = {gs->v + g0, gap * gap, -1};
    sgrid_query(&g, ps.v[i].p, gap, nearest_visit, &nc);
    if (nc.pick >= 0) continue; /* the mesh covers this patch */
    sample c = ps.v[i];
    nearest_ctx far = {gs->v + g0, reach * reach, -1};
    sgrid_query(&g, c.p, reach, nearest_visit, &far);
    for (int k = 0; k < 3; ++k) c.c[k] = far.pick >= 0 ? gs->v[g0 + far.pick].c[k] : flat[k];
    s = svec_push(gs, &c);
    if (s == PL_OK) (*added)++;
  }
  sgrid_free(&g);
  free(pos);
  free(ps.v);
  return s;
}

/* ================================================================== binding */

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

/* ================================================================== init */

typedef struct {
  int64_t *bstart;
  int *bidx;
  real *bw;
  int64_t nnz, cap;
} csr_build;

static pl_status csr_push(csr_build *c, int q, real w) {
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

static pl_status resolve_desc(const pl_upsample_desc *in, pl_upsample_desc *d) {
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

static void free_buffers(pl_upsample *u) {
  pl_buffer *bufs[] = {&u->rest,        &u->bstart,       &u->bidx,       &u->bw,          &u->grest,
                       &u->gnormal,     &u->gunit,        &u->gsig0,      &u->pstart,     &u->pslot,       &u->pgauss,
                       &u->rt_index,    &u->rt_dir,       &u->rt_phase,   &u->rt_pos,      &u->rt_pg,
                       &u->rt_vpg,      &u->grid_start,   &u->grid_sorted, &u->grid_key,   &u->cparam,
                       &u->bparam,      &u->v_cparam,     &u->v_bparam,   &u->means,       &u->covs,
                       &u->colors,      &u->opac,         &u->scratch_vf, &u->partial,     &u->cu_bucket_in,
                       &u->cu_bucket_out, &u->cu_val_in,  &u->cu_sort_temp, &u->cu_flag,
                       &u->cu_chunks};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i) pl_buffer_free(bufs[i]);
}

void pl_upsample_free(pl_upsample *u) {
  if (!u) return;
  free_buffers(u);
  free(u);
}

/* Allocate a backend buffer of `bytes` and upload `host` (may be NULL: zeros). */
static pl_status put(pl_upsample *u, pl_buffer *b, const void *host, size_t bytes) {
  PL_TRY(pl_buffer_alloc(b, u->backend, bytes ? bytes : 16));
  if (host && bytes) PL_TRY(pl_buffer_upload(b, 0, host, bytes));
  return PL_OK;
}

/* Everything built on the host before upload. */
typedef struct {
  csr_build csr;
  sample_vec gs;            /* bound samples: rest pos, normal, colour */
  real *gunit;              /* [nb] */
  int64_t gunit_cap, nunit;
  int *rt_index;
  int nrt;
  real *rt_color;           /* [nrt, 3] */
  double *sig0;             /* [nsig, 6] splat objects' trained covariances (zero rows: the disc), or NULL */
  double *boff;             /* [nsig] their opacity logit offsets */
  int64_t nsig;
} host_setup;

static void hsetup_free(host_setup *h) {
  free(h->csr.bstart);
  free(h->csr.bidx);
  free(h->csr.bw);
  free(h->gs.v);
  free(h->gunit);
  free(h->rt_index);
  free(h->rt_color);
  free(h->sig0);
  free(h->boff);
  memset(h, 0, sizeof *h);
}

static pl_status push_unit(host_setup *h, int64_t upto, real unit) {
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

/* A splat object's Gaussians as samples [gs.n, gs.n + count): their means, colours, trained covariances and
 * opacities (as logit offsets from the global opacity o: b = logit(o_g) - logit(o)). */
static pl_status push_splats(host_setup *h, const pl_upsample_object *ob, double global_opacity, const char *name) {
  const int64_t g0 = h->gs.n, count = ob->splat_count;
  for (int64_t i = 0; i < count; ++i) {
    sample c;
    memset(&c, 0, sizeof c);
    for (int k = 0; k < 3; ++k) {
      c.p[k] = ob->splat_means[3 * i + k];
      c.c[k] = ob->splat_colors[3 * i + k];
    }
    if (!isfinite(c.p[0]) || !isfinite(c.p[1]) || !isfinite(c.p[2]))
      return pl_fail(PL_ERR_INVALID, "upsample: object '%s': Gaussian %lld has a non-finite mean", name, (long long)i);
    PL_TRY(svec_push(&h->gs, &c));
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
  h->nsig = h->gs.n;
  return PL_OK;
}

/* Bind samples [g0, gs.n) of object `obj` to its particles. */
static pl_status bind_samples(host_setup *h, int64_t g0, const sgrid *pg, const int *obj_of, int obj, double radius,
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
      sgrid_query(pg, h->gs.v[g].p, r, bind_visit, &b);
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

/* Colour of each particle of a runtime object from the nearest surface sample of its mesh. */
typedef struct {
  double best;
  int idx;
} near_ctx;
static void near_visit(int q, double d2, void *ctx) {
  near_ctx *c = (near_ctx *)ctx;
  if (d2 < c->best) {
    c->best = d2;
    c->idx = q;
  }
}

/* Colour of each particle of a runtime (or particles-mode) object: the colour of the nearest surface sample of its
 * mesh within 8 particle spacings; particles deeper than that take the object's colour. */
static pl_status runtime_colors_from_mesh(const placed_mesh *pm, const double *rest, const int *idx, int n, double r,
                                          double dp, uint64_t seed, int obj, const double flat[3], real *col) {
  sample_vec sv = {NULL, 0, 0};
  PL_TRY(sample_mesh(pm, r, seed, obj, flat, &sv));
  double *pts = (double *)malloc(sizeof(double) * 3 * (size_t)(sv.n > 0 ? sv.n : 1));
  if (!pts) {
    free(sv.v);
    return pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
  }
  for (int64_t i = 0; i < sv.n; ++i)
    for (int k = 0; k < 3; ++k) pts[3 * i + k] = sv.v[i].p[k];
  sgrid g;
  pl_status s = sgrid_build(&g, pts, (int)sv.n, 2 * dp);
  if (s == PL_OK) {
    for (int i = 0; i < n; ++i) {
      near_ctx c = {DBL_MAX, -1};
      for (double rad = 2 * dp; c.idx < 0 && rad <= 8.5 * dp; rad *= 2)
        sgrid_query(&g, rest + 3 * (size_t)idx[i], rad, near_visit, &c);
      for (int k = 0; k < 3; ++k) col[3 * (size_t)i + k] = (real)(c.idx >= 0 ? sv.v[c.idx].c[k] : flat[k]);
    }
    sgrid_free(&g);
  }
  free(pts);
  free(sv.v);
  return s;
}

static pl_status init_host(pl_upsample *u, const pl_upsample_desc *d, const double *rest, const int *obj_of,
                           host_setup *h) {
  const int n = d->nparticles, nobj = d->nobjects > 0 ? d->nobjects : 1;
  pl_upsample_object defobj;
  memset(&defobj, 0, sizeof defobj);
  defobj.mode = PL_UPS_BOUND;
  const double dp = u->dp, r = u->sample_spacing;
  sgrid pg;
  memset(&pg, 0, sizeof pg);
  int need_pgrid = 0;
  for (int o = 0; o < nobj; ++o) {
    const pl_upsample_object *ob = d->nobjects > 0 ? &d->objects[o] : &defobj;
    pl_ups_mode m = ob->mode == 0 ? PL_UPS_BOUND : ob->mode;
    if (m == PL_UPS_BOUND) need_pgrid = 1;
  }
  if (need_pgrid) PL_TRY(sgrid_build(&pg, rest, n, d->bind_radius * dp));
  int *idx = (int *)malloc(sizeof(int) * (size_t)n);
  h->rt_index = (int *)malloc(sizeof(int) * (size_t)n);
  h->rt_color = (real *)malloc(sizeof(real) * 3 * (size_t)n);
  if (!idx || !h->rt_index || !h->rt_color) {
    free(idx);
    sgrid_free(&pg);
    return pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
  }
  h->csr.bstart = (int64_t *)calloc(1, sizeof(int64_t));
  if (!h->csr.bstart) {
    free(idx);
    sgrid_free(&pg);
    return pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
  }
  pl_status s = PL_OK;
  for (int o = 0; o < nobj && s == PL_OK; ++o) {
    const pl_upsample_object *ob = d->nobjects > 0 ? &d->objects[o] : &defobj;
    char namebuf[64];
    const char *name = ob->name && ob->name[0] ? ob->name : (snprintf(namebuf, sizeof namebuf, "object %d", o), namebuf);
    pl_ups_mode mode = ob->mode == 0 ? PL_UPS_BOUND : ob->mode;
    if (mode != PL_UPS_BOUND && mode != PL_UPS_RUNTIME && mode != PL_UPS_PARTICLES) {
      s = pl_fail(PL_ERR_INVALID, "upsample: object '%s': unknown mode %d (bound, runtime or particles)", name, (int)mode);
      break;
    }
    double flat[3];
    int unset = ob->color[0] == 0 && ob->color[1] == 0 && ob->color[2] == 0;
    for (int k = 0; k < 3; ++k) {
      flat[k] = unset ? 0.8 : ob->color[k];
      if (!(flat[k] >= 0 && flat[k] <= 1)) {
        s = pl_fail(PL_ERR_INVALID, "upsample: object '%s': colour component %d = %g is outside [0, 1]", name, k, flat[k]);
        break;
      }
    }
    if (s != PL_OK) break;
    int cnt = 0;
    for (int p = 0; p < n; ++p)
      if (obj_of[p] == o) idx[cnt++] = p;
    if (cnt == 0) {
      s = pl_fail(PL_ERR_INVALID, "upsample: object '%s' (index %d) has no particles", name, o);
      break;
    }
    /* the mesh, if any */
    pl_mesh loaded;
    memset(&loaded, 0, sizeof loaded);
    const pl_mesh *mesh = ob->mesh;
    if (!mesh && ob->mesh_path && ob->mesh_path[0]) {
      s = pl_mesh_load_obj(&loaded, ob->mesh_path);
      if (s != PL_OK) {
        pl_fail_context(s, "upsample: object '%s': ", name);
        break;
      }
      mesh = &loaded;
    }
    if (!mesh && ob->texture_path && ob->texture_path[0]) {
      s = pl_fail(PL_ERR_INVALID, "upsample: object '%s': texture %s given without a mesh", name, ob->texture_path);
      break;
    }
    placed_mesh pm;
    memset(&pm, 0, sizeof pm);
    if (mesh) s = pmesh_make(&pm, mesh, ob, name);
    if (s == PL_OK) {
      int64_t g0 = h->gs.n;
      if (mode == PL_UPS_BOUND && ob->splat_count > 0) {
        s = push_splats(h, ob, d->opacity, name);
        if (s == PL_OK) s = push_unit(h, h->gs.n, (real)r);
        if (s == PL_OK) s = bind_samples(h, g0, &pg, obj_of, o, d->bind_radius * dp, name);
      } else if (ob->splat_count > 0) {
        s = pl_fail(PL_ERR_INVALID, "upsample: object '%s': a splat object needs the bound mode (it is %s)", name,
                    pl_ups_mode_name(mode));
      } else if (mode == PL_UPS_BOUND) {
        if (mesh) {
          s = sample_mesh(&pm, r, d->seed, o, flat, &h->gs);
          int open_edges = s == PL_OK ? pl_mesh_boundary_edges(mesh) : 0;
          if (open_edges > 0) {
            int64_t added = 0;
            s = fill_mesh_holes(rest, idx, cnt, d, dp, r, flat, name, &h->gs, g0, &added);
            if (s == PL_OK)
              PL_DEBUG("upsample: object '%s': the mesh has %d boundary edges; %lld particle-surface samples close "
                       "its holes", name, open_edges, (long long)added);
          }
        } else {
          s = sample_particle_set(rest, idx, cnt, d, dp, r, flat, name, &h->gs);
        }
        if (s == PL_OK && h->gs.n == g0)
          s = pl_fail(PL_ERR_INVALID, "upsample: object '%s': no surface samples (its %d particles enclose no volume "
                                      "at surface_level %g; too few particles?)", name, cnt, d->surface_level);
        if (s == PL_OK) s = push_unit(h, h->gs.n, (real)r);
        if (s == PL_OK) s = bind_samples(h, g0, &pg, obj_of, o, d->bind_radius * dp, name);
      } else if (mode == PL_UPS_PARTICLES) {
        for (int i = 0; i < cnt && s == PL_OK; ++i) {
          sample c;
          for (int k = 0; k < 3; ++k) {
            c.p[k] = rest[3 * (size_t)idx[i] + k];
            c.n[k] = 0;
            c.c[k] = flat[k];
          }
          s = svec_push(&h->gs, &c);
        }
        if (s == PL_OK && mesh) {
          real *col = (real *)malloc(sizeof(real) * 3 * (size_t)(unsigned)cnt); /* cnt >= 1 here */
          if (!col) s = pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
          if (s == PL_OK) s = runtime_colors_from_mesh(&pm, rest, idx, cnt, r, dp, d->seed, o, flat, col);
          for (int i = 0; i < cnt && s == PL_OK; ++i)
            for (int k = 0; k < 3; ++k) h->gs.v[g0 + i].c[k] = col[3 * (size_t)i + k];
          free(col);
        }
        if (s == PL_OK) s = push_unit(h, h->gs.n, (real)(0.5 * dp));
        if (s == PL_OK) {
          int64_t *bs = (int64_t *)realloc(h->csr.bstart, sizeof(int64_t) * (size_t)(h->gs.n + 1));
          if (!bs) s = pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
          else h->csr.bstart = bs;
          for (int i = 0; i < cnt && s == PL_OK; ++i) {
            s = csr_push(&h->csr, idx[i], RC(1.0));
            h->csr.bstart[g0 + i + 1] = h->csr.nnz;
          }
        }
      } else { /* runtime */
        for (int i = 0; i < cnt; ++i) {
          h->rt_index[h->nrt + i] = idx[i];
          for (int k = 0; k < 3; ++k) h->rt_color[3 * (size_t)(h->nrt + i) + k] = (real)flat[k];
        }
        if (mesh) s = runtime_colors_from_mesh(&pm, rest, idx, cnt, r, dp, d->seed, o, flat, h->rt_color + 3 * (size_t)h->nrt);
        h->nrt += cnt;
      }
    }
    pmesh_free(&pm);
    pl_mesh_free(&loaded);
  }
  free(idx);
  sgrid_free(&pg);
  return s;
}

pl_status pl_upsample_init(pl_upsample **out, const pl_upsample_desc *desc) {
  if (!out || !desc) return pl_fail(PL_ERR_INVALID, "upsample: NULL argument to pl_upsample_init");
  *out = NULL;
  pl_upsample_desc d;
  PL_TRY(resolve_desc(desc, &d));
  const int n = d.nparticles, nobj = d.nobjects > 0 ? d.nobjects : 1;
  /* rest positions and objects */
  double *rest = (double *)malloc(sizeof(double) * 3 * (size_t)n);
  int *obj_of = (int *)malloc(sizeof(int) * (size_t)n);
  if (!rest || !obj_of) {
    free(rest);
    free(obj_of);
    return pl_fail(PL_ERR_NOMEM, "upsample: out of memory (%d particles)", n);
  }
  for (int p = 0; p < n; ++p) {
    for (int k = 0; k < 3; ++k) {
      rest[3 * (size_t)p + k] = (double)d.rest_positions[3 * (size_t)p + k];
      if (!isfinite(rest[3 * (size_t)p + k])) {
        free(rest);
        free(obj_of);
        return pl_fail(PL_ERR_NUMERIC, "upsample: particle %d has a non-finite rest position", p);
      }
    }
    obj_of[p] = d.object_index ? d.object_index[p] : 0;
    if (obj_of[p] < 0 || obj_of[p] >= nobj) {
      int bad = obj_of[p];
      free(rest);
      free(obj_of);
      return pl_fail(PL_ERR_INVALID, "upsample: particle %d has object index %d, outside 0..%d", p, bad, nobj - 1);
    }
  }
  pl_upsample *u = (pl_upsample *)calloc(1, sizeof *u);
  if (!u) {
    free(rest);
    free(obj_of);
    return pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
  }
  pl_status s = pl_backend_resolve(d.backend, &u->backend, NULL, 0);
  u->threads = d.threads;
  u->skip_checks = d.skip_checks;
  u->learn_colors = d.learn_colors;
  u->learn_opacities = d.learn_opacities;
  u->n = n;
  u->children = d.children;
  u->sigma0 = d.sigma0;
  u->thickness = d.thickness;
  u->opacity = d.opacity;
  u->dp = d.particle_spacing;
  if (s == PL_OK && u->dp == 0) s = pl_upsample_estimate_spacing(d.rest_positions, n, &u->dp);
  u->sample_spacing = d.spacing * u->dp;
  host_setup h;
  memset(&h, 0, sizeof h);
  if (s == PL_OK) s = init_host(u, &d, rest, obj_of, &h);
  free(obj_of);
  obj_of = NULL;
  int64_t nb = h.gs.n, nnz = h.csr.nnz;
  u->nb = nb;
  u->nnz = nnz;
  u->nrt = h.nrt;
  u->m = nb + (int64_t)h.nrt * d.children;
  if (s == PL_OK && u->m > (int64_t)INT32_MAX * 8)
    s = pl_fail(PL_ERR_LIMIT, "upsample: %lld Gaussians exceed the limit", (long long)u->m);
  if (s == PL_OK && u->m == 0) s = pl_fail(PL_ERR_INVALID, "upsample: no Gaussians to make");
  /* transposed CSR: particle -> (slot, Gaussian), Gaussians ascending */
  int64_t *pstart = NULL, *pslot = NULL, *pgauss = NULL;
  real *hbuf = NULL;
  if (s == PL_OK) {
    pstart = (int64_t *)calloc((size_t)n + 1, sizeof(int64_t));
    pslot = (int64_t *)malloc(sizeof(int64_t) * (size_t)(nnz > 0 ? nnz : 1));
    pgauss = (int64_t *)malloc(sizeof(int64_t) * (size_t)(nnz > 0 ? nnz : 1));
    size_t hb = (size_t)(u->m > n ? u->m : n);
    hbuf = (real *)malloc(sizeof(real) * 9 * (hb > 1 ? hb : 1));
    if (!pstart || !pslot || !pgauss || !hbuf) s = pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
  }
  if (s == PL_OK) {
    for (int64_t e = 0; e < nnz; ++e) pstart[h.csr.bidx[e] + 1]++;
    for (int p = 0; p < n; ++p) pstart[p + 1] += pstart[p];
    int64_t *cur = (int64_t *)malloc(sizeof(int64_t) * (size_t)n);
    if (!cur) s = pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
    else {
      memcpy(cur, pstart, sizeof(int64_t) * (size_t)n);
      for (int64_t g = 0; g < nb; ++g)
        for (int64_t e = h.csr.bstart[g]; e < h.csr.bstart[g + 1]; ++e) {
          int64_t at = cur[h.csr.bidx[e]]++;
          pslot[at] = e;
          pgauss[at] = g;
        }
      free(cur);
    }
  }
  /* upload */
  if (s == PL_OK) {
    for (int p = 0; p < n; ++p)
      for (int k = 0; k < 3; ++k) hbuf[3 * (size_t)p + k] = (real)rest[3 * (size_t)p + k];
    s = put(u, &u->rest, hbuf, sizeof(real) * 3 * (size_t)n);
  }
  if (s == PL_OK) s = put(u, &u->bstart, h.csr.bstart, sizeof(int64_t) * (size_t)(nb + 1));
  if (s == PL_OK) s = put(u, &u->bidx, h.csr.bidx, sizeof(int) * (size_t)nnz);
  if (s == PL_OK) s = put(u, &u->bw, h.csr.bw, sizeof(real) * (size_t)nnz);
  if (s == PL_OK) {
    for (int64_t g = 0; g < nb; ++g)
      for (int k = 0; k < 3; ++k) hbuf[3 * g + k] = (real)h.gs.v[g].p[k];
    s = put(u, &u->grest, hbuf, sizeof(real) * 3 * (size_t)nb);
  }
  if (s == PL_OK) {
    for (int64_t g = 0; g < nb; ++g)
      for (int k = 0; k < 3; ++k) hbuf[3 * g + k] = (real)h.gs.v[g].n[k];
    s = put(u, &u->gnormal, hbuf, sizeof(real) * 3 * (size_t)nb);
  }
  if (s == PL_OK) s = put(u, &u->gunit, h.gunit, sizeof(real) * (size_t)nb);
  if (s == PL_OK && h.nsig > 0) { /* splat objects: their trained covariances (zero rows past the last: the disc) */
    for (int64_t g = 0; g < nb; ++g)
      for (int k = 0; k < 6; ++k) hbuf[6 * g + k] = g < h.nsig ? (real)h.sig0[6 * g + k] : RC(0.0);
    s = put(u, &u->gsig0, hbuf, sizeof(real) * 6 * (size_t)nb);
  }
  if (s == PL_OK) s = put(u, &u->pstart, pstart, sizeof(int64_t) * ((size_t)n + 1));
  if (s == PL_OK) s = put(u, &u->pslot, pslot, sizeof(int64_t) * (size_t)nnz);
  if (s == PL_OK) s = put(u, &u->pgauss, pgauss, sizeof(int64_t) * (size_t)nnz);
  /* runtime particles: fixed reference directions and phases */
  const int nrt = h.nrt;
  if (s == PL_OK) s = put(u, &u->rt_index, h.rt_index, sizeof(int) * (size_t)nrt);
  if (s == PL_OK) {
    for (int i = 0; i < nrt; ++i) {
      real uu[4];
      pl_rng_uniform4(d.seed, stream_id(UPS_STREAM_RUNTIME, (uint64_t)h.rt_index[i]), 0, uu);
      /* a uniform direction on the sphere */
      double z = 2.0 * uu[0] - 1.0, ph = 6.283185307179586 * uu[1], rr = sqrt(fmax(0.0, 1.0 - z * z));
      hbuf[3 * (size_t)i] = (real)(rr * cos(ph));
      hbuf[3 * (size_t)i + 1] = (real)(rr * sin(ph));
      hbuf[3 * (size_t)i + 2] = (real)z;
    }
    s = put(u, &u->rt_dir, hbuf, sizeof(real) * 3 * (size_t)nrt);
  }
  if (s == PL_OK) {
    for (int i = 0; i < nrt; ++i) {
      real uu[4];
      pl_rng_uniform4(d.seed, stream_id(UPS_STREAM_RUNTIME, (uint64_t)h.rt_index[i]), 0, uu);
      hbuf[i] = (real)(6.283185307179586 * uu[2]);
    }
    s = put(u, &u->rt_phase, hbuf, sizeof(real) * (size_t)nrt);
  }
  u->nbuckets = pow2_at_least(2 * (uint64_t)(nrt > 0 ? nrt : 1));
  if (s == PL_OK) s = put(u, &u->rt_pos, NULL, sizeof(real) * 3 * (size_t)nrt);
  if (s == PL_OK) s = put(u, &u->rt_pg, NULL, sizeof(real) * 4 * (size_t)nrt);
  if (s == PL_OK) s = put(u, &u->rt_vpg, NULL, sizeof(real) * 4 * (size_t)nrt);
  if (s == PL_OK) s = put(u, &u->grid_start, NULL, sizeof(int) * ((size_t)u->nbuckets + 1));
  if (s == PL_OK) s = put(u, &u->grid_sorted, NULL, sizeof(int) * (size_t)nrt);
  if (s == PL_OK) s = put(u, &u->grid_key, NULL, sizeof(uint64_t) * (size_t)nrt);
  /* parameters: colours per Gaussian, opacity offsets 0 */
  const int64_t m = u->m;
  if (s == PL_OK) {
    for (int64_t g = 0; g < nb; ++g)
      for (int k = 0; k < 3; ++k) hbuf[3 * g + k] = (real)h.gs.v[g].c[k];
    for (int i = 0; i < nrt; ++i)
      for (int j = 0; j < d.children; ++j)
        for (int k = 0; k < 3; ++k) hbuf[3 * (nb + (int64_t)i * d.children + j) + k] = h.rt_color[3 * (size_t)i + k];
    s = put(u, &u->cparam, hbuf, sizeof(real) * 3 * (size_t)m);
  }
  if (s == PL_OK) {
    for (int64_t g = 0; g < m; ++g) hbuf[g] = g < h.nsig ? (real)h.boff[g] : RC(0.0);
    s = put(u, &u->bparam, hbuf, sizeof(real) * (size_t)m);
  }
  if (s == PL_OK && u->learn_colors) s = put(u, &u->v_cparam, NULL, sizeof(real) * 3 * (size_t)m);
  if (s == PL_OK && u->learn_opacities) s = put(u, &u->v_bparam, NULL, sizeof(real) * (size_t)m);
  if (s == PL_OK) s = put(u, &u->means, NULL, sizeof(real) * 3 * (size_t)m);
  if (s == PL_OK) s = put(u, &u->covs, NULL, sizeof(real) * 6 * (size_t)m);
  if (s == PL_OK) s = put(u, &u->colors, NULL, sizeof(real) * 3 * (size_t)m);
  if (s == PL_OK) s = put(u, &u->opac, NULL, sizeof(real) * (size_t)m);
  if (s == PL_OK) s = put(u, &u->scratch_vf, NULL, sizeof(real) * 9 * (size_t)nb);
  if (s == PL_OK) s = put(u, &u->partial, NULL, sizeof(real) * 3 * (size_t)(nb + nrt));
  free(pstart);
  free(pslot);
  free(pgauss);
  free(hbuf);
  free(rest);
  hsetup_free(&h);

  /* the constant part of the per-frame arguments */
  ups_args *t = &u->tmpl;
  memset(t, 0, sizeof *t);
  if (s == PL_OK) {
    t->rest = (const real *)u->rest.ptr;
    t->nb = nb;
    t->bstart = (const int64_t *)u->bstart.ptr;
    t->bidx = (const int *)u->bidx.ptr;
    t->bw = (const real *)u->bw.ptr;
    t->grest = (const real *)u->grest.ptr;
    t->gnormal = (const real *)u->gnormal.ptr;
    t->gunit = (const real *)u->gunit.ptr;
    t->gsig0 = (const real *)u->gsig0.ptr;
    t->pstart = (const int64_t *)u->pstart.ptr;
    t->pslot = (const int64_t *)u->pslot.ptr;
    t->pgauss = (const int64_t *)u->pgauss.ptr;
    t->nrt = nrt;
    t->rt_index = (const int *)u->rt_index.ptr;
    t->rt_dir = (const real *)u->rt_dir.ptr;
    t->rt_phase = (const real *)u->rt_phase.ptr;
    t->rt_pos = (real *)u->rt_pos.ptr;
    t->rt_pg = (real *)u->rt_pg.ptr;
    t->rt_vpg = (real *)u->rt_vpg.ptr;
    t->children = d.children;
    t->shape = make_shape(&d, u->dp);
    t->rt_unit = (real)(UPS_RT_DISC_RADIUS * u->dp * sqrt(3.14159265358979323846 / d.children));
    double hs = d.smoothing * u->dp;
    t->field.inv_h = (real)(1.0 / hs);
    t->field.inv_norm = (real)(1.0 / lattice_sum(d.smoothing));
    t->field.support2 = (real)(4.0 * hs * hs);
    t->grid.inv_cell = (real)(1.0 / (2.0 * hs));
    t->grid.nbuckets = u->nbuckets;
    t->grid.start = (const int *)u->grid_start.ptr;
    t->grid.sorted = (const int *)u->grid_sorted.ptr;
    t->grid.key = (const uint64_t *)u->grid_key.ptr;
    t->cparam = (const real *)u->cparam.ptr;
    t->bparam = (const real *)u->bparam.ptr;
    t->means = (real *)u->means.ptr;
    t->covs = (real *)u->covs.ptr;
    t->colors = (real *)u->colors.ptr;
    t->opac = (real *)u->opac.ptr;
    t->scratch_vf = (real *)u->scratch_vf.ptr;
    t->partial = (real *)u->partial.ptr;
  }
#ifdef PL_HAVE_CUDA
  if (s == PL_OK && u->backend == PL_BACKEND_CUDA) s = ups_cuda_setup(u);
#endif
  if (s != PL_OK) {
    pl_upsample_free(u);
    return s;
  }
  PL_DEBUG("upsample: %lld Gaussians (%lld bound, %d runtime particles x %d), %lld bindings, spacing %g m",
           (long long)u->m, (long long)nb, nrt, d.children, (long long)nnz, u->dp);
  *out = u;
  return PL_OK;
}

/* ================================================================== per frame */

void pl_upsample_get_info(const pl_upsample *u, pl_upsample_info *info) {
  memset(info, 0, sizeof *info);
  if (!u) return;
  info->count = u->m;
  info->nbound = u->nb;
  info->nruntime_particles = u->nrt;
  info->children = u->children;
  info->nparticles = u->n;
  info->particle_spacing = u->dp;
  info->sample_spacing = u->sample_spacing;
  info->sigma_bound = u->sigma0 * u->sample_spacing;
  info->sigma_runtime = u->sigma0 * (double)u->tmpl.rt_unit;
  info->bindings = u->nnz;
  info->backend = u->backend;
}

static ups_args frame_args(const pl_upsample *u, const real *x, const real *f) {
  ups_args a = u->tmpl;
  a.x = x;
  a.f = f;
  a.sigma0 = (real)u->sigma0;
  a.thick = (real)u->thickness;
  a.o_logit = (real)log(u->opacity / (1.0 - u->opacity));
  return a;
}

pl_status ups_fail_particle(const pl_upsample *u, int64_t p, const real *x, const real *f) {
  (void)u;
  return pl_fail(PL_ERR_NUMERIC,
                 "upsample: particle %lld has a non-finite position or deformation gradient: x = (%g, %g, %g), "
                 "F = [%g %g %g; %g %g %g; %g %g %g]",
                 (long long)p, (double)x[0], (double)x[1], (double)x[2], (double)f[0], (double)f[1], (double)f[2],
                 (double)f[3], (double)f[4], (double)f[5], (double)f[6], (double)f[7], (double)f[8]);
}

pl_status ups_fail_gaussian(const pl_upsample *u, int64_t g) {
  if (g < u->nb) return pl_fail(PL_ERR_NUMERIC, "upsample: Gaussian %lld (bound) came out non-finite", (long long)g);
  int64_t i = (g - u->nb) / u->children;
  return pl_fail(PL_ERR_NUMERIC, "upsample: Gaussian %lld (child %lld of runtime particle list entry %lld) came out "
                                 "non-finite", (long long)g, (long long)((g - u->nb) % u->children), (long long)i);
}

pl_status ups_fail_cell(const pl_upsample *u, int64_t p, const real *x) {
  (void)u;
  return pl_fail(PL_ERR_NUMERIC, "upsample: particle %lld at (%g, %g, %g) is too far from the origin for the runtime "
                                 "neighbour grid (more than a million kernel supports)",
                 (long long)p, (double)x[0], (double)x[1], (double)x[2]);
}

pl_status pl_upsample_forward(pl_upsample *u, const real *x, const real *F, pl_ups_gaussians *out) {
  if (!u || !x || !F) return pl_fail(PL_ERR_INVALID, "upsample: NULL argument to pl_upsample_forward");
  ups_args a = frame_args(u, x, F);
  pl_status s;
  if (u->backend == PL_BACKEND_CUDA) {
#ifdef PL_HAVE_CUDA
    s = ups_cuda_forward(u, a);
#else
    s = pl_fail(PL_ERR_UNSUPPORTED, "upsample: this build has no CUDA backend");
#endif
  } else {
    s = ups_cpu_forward(u, a);
  }
  u->have_forward = s == PL_OK;
  if (out) {
    out->count = u->m;
    out->means = (real *)u->means.ptr;
    out->covs = (real *)u->covs.ptr;
    out->colors = (real *)u->colors.ptr;
    out->opacities = (real *)u->opac.ptr;
  }
  return s;
}

pl_status pl_upsample_backward(pl_upsample *u, const real *x, const real *F, const real *v_means, const real *v_covs,
                               const real *v_colors, const real *v_opacities, real *v_x, real *v_F) {
  if (!u || !x || !F) return pl_fail(PL_ERR_INVALID, "upsample: NULL argument to pl_upsample_backward");
  ups_args a = frame_args(u, x, F);
  a.v_means = v_means;
  a.v_covs = v_covs;
  a.v_colors = v_colors;
  a.v_opac = v_opacities;
  a.v_x = v_x;
  a.v_f = v_F;
  a.v_cparam = u->learn_colors ? (real *)u->v_cparam.ptr : NULL;
  a.v_bparam = u->learn_opacities ? (real *)u->v_bparam.ptr : NULL;
  double sums[3] = {0, 0, 0};
  pl_status s;
  if (u->backend == PL_BACKEND_CUDA) {
#ifdef PL_HAVE_CUDA
    s = ups_cuda_backward(u, a, sums);
#else
    s = pl_fail(PL_ERR_UNSUPPORTED, "upsample: this build has no CUDA backend");
#endif
  } else {
    s = ups_cpu_backward(u, a, sums);
  }
  if (s != PL_OK) return s;
  /* partials are with respect to (sigma0, thickness, logit(opacity)) */
  u->grad[0] += sums[0];
  u->grad[1] += sums[1];
  u->grad[2] += sums[2] / (u->opacity * (1.0 - u->opacity));
  return PL_OK;
}

void pl_upsample_get_params(const pl_upsample *u, pl_upsample_params *p) {
  p->sigma0 = u->sigma0;
  p->thickness = u->thickness;
  p->opacity = u->opacity;
}

pl_status pl_upsample_set_params(pl_upsample *u, const pl_upsample_params *p) {
  if (!(p->sigma0 > 0) || !isfinite(p->sigma0))
    return pl_fail(PL_ERR_INVALID, "upsample: sigma0 must be a finite number > 0 (got %g)", p->sigma0);
  if (!(p->thickness > 0) || !isfinite(p->thickness))
    return pl_fail(PL_ERR_INVALID, "upsample: thickness must be a finite number > 0 (got %g)", p->thickness);
  if (!(p->opacity > 0 && p->opacity < 1))
    return pl_fail(PL_ERR_INVALID, "upsample: opacity must be in (0, 1) (got %g)", p->opacity);
  u->sigma0 = p->sigma0;
  u->thickness = p->thickness;
  u->opacity = p->opacity;
  return PL_OK;
}

void pl_upsample_param_buffers(pl_upsample *u, real **colors, real **opacity_offsets) {
  if (colors) *colors = (real *)u->cparam.ptr;
  if (opacity_offsets) *opacity_offsets = (real *)u->bparam.ptr;
}

void pl_upsample_get_grads(const pl_upsample *u, pl_upsample_grads *g) {
  g->sigma0 = u->grad[0];
  g->thickness = u->grad[1];
  g->opacity = u->grad[2];
  g->colors = u->learn_colors ? (real *)u->v_cparam.ptr : NULL;
  g->opacity_offsets = u->learn_opacities ? (real *)u->v_bparam.ptr : NULL;
}

pl_status pl_upsample_zero_grads(pl_upsample *u) {
  u->grad[0] = u->grad[1] = u->grad[2] = 0;
  if (u->learn_colors) PL_TRY(pl_buffer_zero(&u->v_cparam));
  if (u->learn_opacities) PL_TRY(pl_buffer_zero(&u->v_bparam));
  return PL_OK;
}

pl_status pl_upsample_download(const pl_upsample *u, real *means, real *covs, real *colors, real *opacities) {
  if (!u->have_forward) return pl_fail(PL_ERR_INVALID, "upsample: no forward pass to download yet");
  size_t m = (size_t)u->m;
  if (means) PL_TRY(pl_buffer_download(&u->means, 0, means, sizeof(real) * 3 * m));
  if (covs) PL_TRY(pl_buffer_download(&u->covs, 0, covs, sizeof(real) * 6 * m));
  if (colors) PL_TRY(pl_buffer_download(&u->colors, 0, colors, sizeof(real) * 3 * m));
  if (opacities) PL_TRY(pl_buffer_download(&u->opac, 0, opacities, sizeof(real) * m));
  return PL_OK;
}

pl_status pl_upsample_rest_samples(const pl_upsample *u, real *positions, real *normals) {
  size_t nb = (size_t)u->nb;
  if (positions) PL_TRY(pl_buffer_download(&u->grest, 0, positions, sizeof(real) * 3 * nb));
  if (normals) PL_TRY(pl_buffer_download(&u->gnormal, 0, normals, sizeof(real) * 3 * nb));
  return PL_OK;
}
