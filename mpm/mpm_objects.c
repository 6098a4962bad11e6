/* mpm_objects.c: filling shapes and meshes with particles (host code).
 *
 * Every cell of the grid that overlaps an object's bounding box gets particles_per_cell candidate points
 * (a regular lattice, or seeded Philox jitter: stratified in sub-cells when the count is a cube); a candidate
 * is kept when it lies inside the shape. Meshes use the generalized winding number (Jacobson et al. 2013):
 * w(q) = sum over triangles of their solid angle at q / 4 pi, inside when w >= 1/2, which stays correct for
 * meshes with holes. It is evaluated with a bounding-volume hierarchy whose far nodes use the dipole term of
 * Barill et al. 2018 (fast winding numbers): w_node(q) ~ a . (c - q) / (4 pi |c - q|^3), a the summed area
 * vectors and c the area-weighted centroid, when |c - q| > beta r (r the node's radius about c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mesh.h"
#include "core/rng.h"
#include "core/log.h"
#include "mpm/mpm.h"
#include "mpm/mpm_splat_fill.h"

#define WN_LEAF 8
#define WN_BETA 2.5
#define WN_PI 3.14159265358979323846

typedef struct {
  double c[3], r, a[3];
  int left, right;  /* -1 for a leaf */
  int first, count; /* range in perm */
} wn_node;

typedef struct {
  const double *V; /* [nv][3] */
  const int *T;    /* [nt][3] */
  int nt;
  int *perm;
  double *cen;     /* [nt][3] */
  wn_node *nodes;
  int nnodes, cap;
  double sign;
} wn_tree;

static void sub3(const double *a, const double *b, double *o) {
  o[0] = a[0] - b[0];
  o[1] = a[1] - b[1];
  o[2] = a[2] - b[2];
}
static double dot3(const double *a, const double *b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
static void cross3(const double *a, const double *b, double *o) {
  o[0] = a[1] * b[2] - a[2] * b[1];
  o[1] = a[2] * b[0] - a[0] * b[2];
  o[2] = a[0] * b[1] - a[1] * b[0];
}
static double norm3(const double *a) { return sqrt(dot3(a, a)); }

/* quickselect: perm[lo..hi) partially sorted so that perm[k] has the k-th smallest centroid along axis */
static void wn_select(wn_tree *t, int lo, int hi, int k, int axis) {
  while (hi - lo > 1) {
    double pivot = t->cen[3 * t->perm[lo + (hi - lo) / 2] + axis];
    int i = lo, j = hi - 1;
    while (i <= j) {
      while (t->cen[3 * t->perm[i] + axis] < pivot) ++i;
      while (t->cen[3 * t->perm[j] + axis] > pivot) --j;
      if (i <= j) {
        int tmp = t->perm[i];
        t->perm[i] = t->perm[j];
        t->perm[j] = tmp;
        ++i;
        --j;
      }
    }
    if (k <= j) hi = j + 1;
    else if (k >= i) lo = i;
    else return;
  }
}

static int wn_build(wn_tree *t, int lo, int hi) {
  if (t->nnodes == t->cap) {
    int cap = t->cap ? 2 * t->cap : 256;
    wn_node *nn = (wn_node *)realloc(t->nodes, (size_t)cap * sizeof *nn);
    if (!nn) return -1;
    t->nodes = nn;
    t->cap = cap;
  }
  int id = t->nnodes++;
  wn_node nd;
  memset(&nd, 0, sizeof nd);
  nd.first = lo;
  nd.count = hi - lo;
  nd.left = nd.right = -1;
  /* area vectors and area-weighted centroid */
  double area = 0, cl[3] = {1e300, 1e300, 1e300}, ch[3] = {-1e300, -1e300, -1e300};
  for (int i = lo; i < hi; ++i) {
    const int *f = t->T + 3 * t->perm[i];
    const double *p0 = t->V + 3 * f[0], *p1 = t->V + 3 * f[1], *p2 = t->V + 3 * f[2];
    double e1[3], e2[3], n[3];
    sub3(p1, p0, e1);
    sub3(p2, p0, e2);
    cross3(e1, e2, n);
    double ar = 0.5 * norm3(n);
    for (int k = 0; k < 3; ++k) {
      nd.a[k] += 0.5 * n[k];
      nd.c[k] += ar * t->cen[3 * t->perm[i] + k];
      cl[k] = fmin(cl[k], t->cen[3 * t->perm[i] + k]);
      ch[k] = fmax(ch[k], t->cen[3 * t->perm[i] + k]);
    }
    area += ar;
  }
  for (int k = 0; k < 3; ++k) nd.c[k] = area > 0 ? nd.c[k] / area : 0.5 * (cl[k] + ch[k]);
  for (int i = lo; i < hi; ++i) {
    const int *f = t->T + 3 * t->perm[i];
    for (int v = 0; v < 3; ++v) {
      double d[3];
      sub3(t->V + 3 * f[v], nd.c, d);
      nd.r = fmax(nd.r, norm3(d));
    }
  }
  if (hi - lo > WN_LEAF) {
    int axis = 0;
    for (int k = 1; k < 3; ++k)
      if (ch[k] - cl[k] > ch[axis] - cl[axis]) axis = k;
    int mid = lo + (hi - lo) / 2;
    wn_select(t, lo, hi, mid, axis);
    int l = wn_build(t, lo, mid);
    if (l < 0) return -1;
    int r = wn_build(t, mid, hi);
    if (r < 0) return -1;
    nd.left = l;
    nd.right = r;
  }
  t->nodes[id] = nd;
  return id;
}

static pl_status wn_init(wn_tree *t, const double *V, const int *T, int nt, double signed_volume) {
  memset(t, 0, sizeof *t);
  t->V = V;
  t->T = T;
  t->nt = nt;
  t->sign = signed_volume < 0 ? -1.0 : 1.0;
  t->perm = (int *)malloc((size_t)nt * sizeof(int));
  t->cen = (double *)malloc((size_t)nt * 3 * sizeof(double));
  if (!t->perm || !t->cen) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int i = 0; i < nt; ++i) {
    t->perm[i] = i;
    for (int k = 0; k < 3; ++k)
      t->cen[3 * i + k] = (V[3 * T[3 * i] + k] + V[3 * T[3 * i + 1] + k] + V[3 * T[3 * i + 2] + k]) / 3.0;
  }
  if (wn_build(t, 0, nt) < 0) return pl_fail(PL_ERR_NOMEM, "out of memory building the mesh hierarchy");
  return PL_OK;
}

static void wn_free(wn_tree *t) {
  free(t->perm);
  free(t->cen);
  free(t->nodes);
  memset(t, 0, sizeof *t);
}

/* solid angle of triangle (a, b, c) seen from q (Van Oosterom and Strackee 1983), positive when q is on the
 * side opposite to the right-hand normal */
static double tri_solid_angle(const double *pa, const double *pb, const double *pc, const double *q) {
  double a[3], b[3], c[3], bc[3];
  sub3(pa, q, a);
  sub3(pb, q, b);
  sub3(pc, q, c);
  double la = norm3(a), lb = norm3(b), lc = norm3(c);
  cross3(b, c, bc);
  double det = dot3(a, bc);
  double den = la * lb * lc + dot3(a, b) * lc + dot3(b, c) * la + dot3(c, a) * lb;
  return 2.0 * atan2(det, den);
}

/* Generalized winding number of q (signed so that the mesh's inside is +1). */
static double wn_eval(const wn_tree *t, const double *q) {
  int stack[128];
  int sp = 0;
  double w = 0;
  stack[sp++] = 0;
  while (sp) {
    const wn_node *nd = &t->nodes[stack[--sp]];
    double d[3];
    sub3(nd->c, q, d);
    double dist = norm3(d);
    if (dist > WN_BETA * nd->r && dist > 0) {
      w += dot3(nd->a, d) / (dist * dist * dist);
    } else if (nd->left < 0) {
      for (int i = nd->first; i < nd->first + nd->count; ++i) {
        const int *f = t->T + 3 * t->perm[i];
        w += tri_solid_angle(t->V + 3 * f[0], t->V + 3 * f[1], t->V + 3 * f[2], q);
      }
    } else if (sp + 2 <= 128) {
      stack[sp++] = nd->left;
      stack[sp++] = nd->right;
    }
  }
  return t->sign * w / (4.0 * WN_PI);
}

/* ------------------------------------------------------------------ shapes */

typedef struct {
  int shape;
  double c[3];
  double R[9];      /* local -> world */
  double half[3];   /* box half sizes; sphere (r); cylinder (r, h/2) */
  wn_tree tree;     /* mesh */
  mpm_occupancy occ;/* gaussians */
  double *V;        /* mesh vertices in world coordinates */
  pl_mesh mesh;
} shape_t;

static void to_local(const shape_t *s, const double *x, double *l) {
  double d[3];
  sub3(x, s->c, d);
  for (int r = 0; r < 3; ++r) l[r] = s->R[0 + r] * d[0] + s->R[3 + r] * d[1] + s->R[6 + r] * d[2]; /* R^T d */
}

/* returns the winding number for meshes (for the ambiguity statistic), 1/0 for the analytic shapes */
static double shape_inside(const shape_t *s, const double *x) {
  double l[3];
  switch (s->shape) {
    case MPM_SHAPE_BOX:
      to_local(s, x, l);
      return (fabs(l[0]) <= s->half[0] && fabs(l[1]) <= s->half[1] && fabs(l[2]) <= s->half[2]) ? 1.0 : 0.0;
    case MPM_SHAPE_SPHERE: {
      double d[3];
      sub3(x, s->c, d);
      return dot3(d, d) <= s->half[0] * s->half[0] ? 1.0 : 0.0;
    }
    case MPM_SHAPE_CYLINDER:
      to_local(s, x, l);
      return (l[0] * l[0] + l[2] * l[2] <= s->half[0] * s->half[0] && fabs(l[1]) <= s->half[1]) ? 1.0 : 0.0;
    case MPM_SHAPE_MESH: return wn_eval(&s->tree, x);
    case MPM_SHAPE_GAUSSIANS:
    case MPM_SHAPE_VOXELS: return mpm_occupancy_at(&s->occ, x) ? 1.0 : 0.0;
  }
  return 0.0;
}

static void shape_free(shape_t *s) {
  wn_free(&s->tree);
  mpm_occupancy_free(&s->occ);
  free(s->V);
  pl_mesh_free(&s->mesh);
}

static const char *obj_label(const mpm_object *o, int i, char *buf, size_t size) {
  if (o->name && o->name[0]) snprintf(buf, size, "object '%s'", o->name);
  else snprintf(buf, size, "object %d", i);
  return buf;
}

/* Build the shape and its world bounding box. */
static pl_status shape_make(const mpm_object *o, const char *label, double dx, shape_t *s, double lo[3], double hi[3]) {
  memset(s, 0, sizeof *s);
  s->shape = o->shape;
  memcpy(s->c, o->center, sizeof s->c);
  mpm_euler_deg(o->rotation, s->R);
  for (int a = 0; a < 3; ++a)
    if (!isfinite(o->center[a]) || !isfinite(o->rotation[a]))
      return pl_fail(PL_ERR_INVALID, "%s: non-finite centre or rotation", label);
  double corners_local[8][3];
  int ncorner = 8;
  switch (o->shape) {
    case MPM_SHAPE_BOX:
      for (int a = 0; a < 3; ++a) {
        double sz = o->size[a] != 0 ? o->size[a] : 0.2;
        if (!(sz > 0) || !isfinite(sz)) return pl_fail(PL_ERR_INVALID, "%s (box): size must be > 0 on every axis", label);
        s->half[a] = 0.5 * sz;
      }
      break;
    case MPM_SHAPE_SPHERE:
      s->half[0] = o->radius != 0 ? o->radius : 0.1;
      if (!(s->half[0] > 0) || !isfinite(s->half[0])) return pl_fail(PL_ERR_INVALID, "%s (sphere): radius must be > 0", label);
      for (int a = 0; a < 3; ++a) {
        lo[a] = s->c[a] - s->half[0];
        hi[a] = s->c[a] + s->half[0];
      }
      return PL_OK;
    case MPM_SHAPE_CYLINDER:
      s->half[0] = o->radius != 0 ? o->radius : 0.1;
      s->half[1] = 0.5 * (o->height != 0 ? o->height : 0.2);
      s->half[2] = s->half[0];
      if (!(s->half[0] > 0) || !(s->half[1] > 0) || !isfinite(s->half[0]) || !isfinite(s->half[1]))
        return pl_fail(PL_ERR_INVALID, "%s (cylinder): radius and height must be > 0", label);
      break;
    case MPM_SHAPE_MESH: {
      if (!o->mesh_path || !o->mesh_path[0]) return pl_fail(PL_ERR_INVALID, "%s: shape = mesh needs a mesh file", label);
      pl_status st = pl_mesh_load_obj(&s->mesh, o->mesh_path);
      if (st != PL_OK) return pl_fail_context(st, "%s: ", label);
      if (s->mesh.nfaces < 1) return pl_fail(PL_ERR_INVALID, "%s: mesh %s has no triangles", label, o->mesh_path);
      double mlo[3], mhi[3], sc[3];
      pl_mesh_bounds(&s->mesh, mlo, mhi);
      for (int a = 0; a < 3; ++a) {
        sc[a] = o->scale[a] != 0 ? o->scale[a] : 1.0;
        if (!(sc[a] > 0) || !isfinite(sc[a])) return pl_fail(PL_ERR_INVALID, "%s: scale must be > 0", label);
      }
      s->V = (double *)malloc((size_t)s->mesh.nverts * 3 * sizeof(double));
      if (!s->V) return pl_fail(PL_ERR_NOMEM, "out of memory");
      for (int a = 0; a < 3; ++a) {
        lo[a] = 1e300;
        hi[a] = -1e300;
      }
      for (int i = 0; i < s->mesh.nverts; ++i) {
        double l[3];
        for (int a = 0; a < 3; ++a) l[a] = sc[a] * (s->mesh.verts[3 * i + a] - 0.5 * (mlo[a] + mhi[a]));
        for (int a = 0; a < 3; ++a) {
          s->V[3 * i + a] = s->c[a] + s->R[3 * a] * l[0] + s->R[3 * a + 1] * l[1] + s->R[3 * a + 2] * l[2];
          lo[a] = fmin(lo[a], s->V[3 * i + a]);
          hi[a] = fmax(hi[a], s->V[3 * i + a]);
        }
      }
      /* a surface that bounds nothing: no volume at all, or (below) an ambiguous winding number */
      /* signed volume about the bounding-box centre (for an open surface it depends on that point; for a
       * closed one it does not) */
      double *Vc = (double *)malloc((size_t)s->mesh.nverts * 3 * sizeof(double));
      if (!Vc) return pl_fail(PL_ERR_NOMEM, "out of memory");
      for (int i = 0; i < s->mesh.nverts; ++i)
        for (int a = 0; a < 3; ++a) Vc[3 * i + a] = s->V[3 * i + a] - 0.5 * (lo[a] + hi[a]);
      pl_mesh tmp = s->mesh;
      tmp.verts = Vc;
      double vol = pl_mesh_signed_volume(&tmp);
      free(Vc);
      double bbv = (hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]);
      if (!(fabs(vol) > 1e-3 * bbv))
        return pl_fail(PL_ERR_INVALID, "%s: mesh %s encloses no volume (signed volume %.3g m^3 for a bounding box of "
                       "%.3g m^3): it is an open surface, not a solid", label, o->mesh_path, vol, bbv);
      return wn_init(&s->tree, s->V, s->mesh.faces, s->mesh.nfaces, vol);
    }
    case MPM_SHAPE_GAUSSIANS: {
      /* voxels of a quarter cell: finer than the particle lattice at 8 particles per cell, and a thin shell that
       * does not bridge narrow gaps (between legs) */
      if (o->splat_count < 1 || !o->splat_means || !o->splat_covs || !o->splat_opacities)
        return pl_fail(PL_ERR_INVALID, "%s: shape = gaussians needs Gaussians", label);
      pl_status st = mpm_splat_occupancy(o->splat_means, o->splat_covs, o->splat_opacities, o->splat_count, 0.25 * dx,
                                         o->fill_threshold > 0 ? o->fill_threshold : 0.5, label, &s->occ, lo, hi);
      if (st == PL_OK)
        PL_INFO("%s: %lld Gaussians enclose %lld voxels of %.4g m (%lld on the shell): %.4g m^3", label,
                (long long)o->splat_count, (long long)s->occ.ninside, s->occ.h, (long long)s->occ.nshell,
                (double)s->occ.ninside * s->occ.h * s->occ.h * s->occ.h);
      return st;
    }
    case MPM_SHAPE_VOXELS: { /* a copy of the given voxels; the box of the occupied ones */
      const mpm_occupancy *v = o->voxels;
      int64_t nv = v ? (int64_t)v->n[0] * v->n[1] * v->n[2] : 0;
      if (!v || nv < 1 || !v->inside || !(v->h > 0)) return pl_fail(PL_ERR_INVALID, "%s: shape = voxels needs voxels", label);
      s->occ = *v;
      s->occ.inside = (unsigned char *)malloc((size_t)nv);
      if (!s->occ.inside) return pl_fail(PL_ERR_NOMEM, "%s: out of memory", label);
      memcpy(s->occ.inside, v->inside, (size_t)nv);
      for (int a = 0; a < 3; ++a) lo[a] = 1e300, hi[a] = -1e300;
      for (int64_t q = 0; q < nv; ++q) {
        if (!v->inside[q]) continue;
        int c[3] = {(int)(q / ((int64_t)v->n[1] * v->n[2])), (int)((q / v->n[2]) % v->n[1]), (int)(q % v->n[2])};
        for (int a = 0; a < 3; ++a) {
          lo[a] = fmin(lo[a], v->origin[a] + c[a] * v->h);
          hi[a] = fmax(hi[a], v->origin[a] + (c[a] + 1) * v->h);
        }
      }
      if (!(lo[0] <= hi[0])) return pl_fail(PL_ERR_INVALID, "%s: no voxel is occupied", label);
      return PL_OK;
    }
    default: return pl_fail(PL_ERR_INVALID, "%s: unknown shape %d", label, o->shape);
  }
  /* box and cylinder: rotated corners of the local bounding box */
  for (int c = 0; c < ncorner; ++c)
    for (int a = 0; a < 3; ++a) corners_local[c][a] = ((c >> a) & 1) ? s->half[a] : -s->half[a];
  for (int a = 0; a < 3; ++a) {
    lo[a] = 1e300;
    hi[a] = -1e300;
  }
  for (int c = 0; c < ncorner; ++c)
    for (int a = 0; a < 3; ++a) {
      double w = s->c[a] + s->R[3 * a] * corners_local[c][0] + s->R[3 * a + 1] * corners_local[c][1] +
                 s->R[3 * a + 2] * corners_local[c][2];
      lo[a] = fmin(lo[a], w);
      hi[a] = fmax(hi[a], w);
    }
  return PL_OK;
}

/* candidate k of cell (i, j, l): position in world coordinates */
static void candidate(const double origin[3], double dx, int64_t cell, const int c3[3], int ppc, int k, int regular,
                      int strat, uint64_t seed, int obj, double out[3]) {
  double u[3];
  if (regular || strat > 0) {
    int kk = strat > 0 ? strat : 1;
    int sx = k / (kk * kk), sy = (k / kk) % kk, sz = k % kk;
    double off[3] = {0.5, 0.5, 0.5};
    if (!regular) {
      real r4[4];
      pl_rng_uniform4(seed, ((uint64_t)(uint32_t)obj << 48) ^ (uint64_t)cell, (uint32_t)k, r4);
      off[0] = r4[0], off[1] = r4[1], off[2] = r4[2];
    }
    u[0] = (sx + off[0]) / kk;
    u[1] = (sy + off[1]) / kk;
    u[2] = (sz + off[2]) / kk;
  } else {
    real r4[4];
    pl_rng_uniform4(seed, ((uint64_t)(uint32_t)obj << 48) ^ (uint64_t)cell, (uint32_t)k, r4);
    u[0] = r4[0], u[1] = r4[1], u[2] = r4[2];
  }
  (void)ppc;
  for (int a = 0; a < 3; ++a) out[a] = origin[a] + (c3[a] + u[a]) * dx;
}

static int cube_root(int n) {
  for (int k = 1; k * k * k <= n; ++k)
    if (k * k * k == n) return k;
  return 0;
}

typedef struct {
  int64_t n, cap;
  mpm_particles p;
} pbuf;

static pl_status pbuf_reserve(pbuf *b, int64_t extra) {
  if (b->n + extra <= b->cap) return PL_OK;
  int64_t cap = b->cap ? b->cap : 1024;
  while (cap < b->n + extra) cap *= 2;
  mpm_particles q;
  PL_TRY(mpm_particles_alloc(&q, cap));
  if (b->n) {
    memcpy(q.x, b->p.x, (size_t)b->n * 3 * sizeof(real));
    memcpy(q.v, b->p.v, (size_t)b->n * 3 * sizeof(real));
    memcpy(q.mass, b->p.mass, (size_t)b->n * sizeof(real));
    memcpy(q.vol0, b->p.vol0, (size_t)b->n * sizeof(real));
    memcpy(q.material, b->p.material, (size_t)b->n * sizeof(int32_t));
    memcpy(q.object, b->p.object, (size_t)b->n * sizeof(int32_t));
  }
  mpm_particles_free(&b->p);
  b->p = q;
  b->cap = cap;
  return PL_OK;
}

pl_status mpm_sample_objects(const mpm_desc *d, const mpm_object *objects, int nobjects, mpm_particles *out) {
  memset(out, 0, sizeof *out);
  int n[3];
  double dx, origin[3];
  PL_TRY(mpm_resolve_grid(d, n, &dx, origin));
  if (nobjects < 1 || !objects) return pl_fail(PL_ERR_INVALID, "no objects to fill with particles");
  int wc = d->boundary_cells ? d->boundary_cells : 3;
  double in_lo[3], in_hi[3], box_hi[3];
  for (int a = 0; a < 3; ++a) {
    in_lo[a] = origin[a] + wc * dx;
    in_hi[a] = origin[a] + (n[a] - wc) * dx;
    box_hi[a] = origin[a] + n[a] * dx;
  }
  pbuf buf;
  memset(&buf, 0, sizeof buf);
  pl_status st = PL_OK;
  unsigned char *flags = NULL;
  for (int oi = 0; oi < nobjects && st == PL_OK; ++oi) {
    const mpm_object *o = &objects[oi];
    char label[128];
    obj_label(o, oi, label, sizeof label);
    if (o->material < 0 || o->material >= d->nmaterials) {
      st = pl_fail(PL_ERR_INVALID, "%s: material index %d outside 0..%d", label, o->material, d->nmaterials - 1);
      break;
    }
    int ppc = o->particles_per_cell ? o->particles_per_cell : 8;
    if (ppc < 1 || ppc > 64) {
      st = pl_fail(PL_ERR_INVALID, "%s: particles_per_cell = %d: choose 1..64", label, ppc);
      break;
    }
    int strat = cube_root(ppc);
    if (o->regular && !strat) {
      st = pl_fail(PL_ERR_INVALID, "%s: regular sampling needs a cube number of particles per cell (1, 8, 27 or 64), "
                   "got %d", label, ppc);
      break;
    }
    for (int a = 0; a < 3; ++a)
      if (!isfinite(o->velocity[a]) || !isfinite(o->angular_velocity[a])) {
        st = pl_fail(PL_ERR_INVALID, "%s: non-finite initial velocity", label);
        break;
      }
    if (st != PL_OK) break;
    shape_t sh;
    double lo[3], hi[3];
    st = shape_make(o, label, dx, &sh, lo, hi);
    if (st != PL_OK) {
      shape_free(&sh);
      break;
    }
    for (int a = 0; a < 3 && st == PL_OK; ++a) {
      if (hi[a] <= origin[a] || lo[a] >= box_hi[a])
        st = pl_fail(PL_ERR_INVALID, "%s lies outside the simulation box: it spans %.4g..%.4g along %c, the box "
                     "%.4g..%.4g", label, lo[a], hi[a], "xyz"[a], origin[a], box_hi[a]);
      else if (lo[a] < in_lo[a] - 1e-6 * dx || hi[a] > in_hi[a] + 1e-6 * dx) {
        /* enough digits that the two ranges differ where they do; a box flush with the band (within 1e-6 dx
         * of it, what decimal input rounds to) is accepted */
        double over = lo[a] < in_lo[a] - 1e-6 * dx ? in_lo[a] - lo[a] : hi[a] - in_hi[a];
        st = pl_fail(PL_ERR_INVALID, "%s extends outside the simulation box less its wall band: it spans %.9g..%.9g "
                     "along %c, particles may lie in %.9g..%.9g (boundary_cells = %d of %.9g m), %.3g m too far; "
                     "move it, shrink it or enlarge the box", label, lo[a], hi[a], "xyz"[a], in_lo[a], in_hi[a], wc, dx,
                     over);
      }
    }
    if (st != PL_OK) {
      shape_free(&sh);
      break;
    }
    int c0[3], c1[3], nc[3];
    for (int a = 0; a < 3; ++a) {
      c0[a] = (int)floor((lo[a] - origin[a]) / dx);
      c1[a] = (int)ceil((hi[a] - origin[a]) / dx);
      if (c0[a] < 0) c0[a] = 0;
      if (c1[a] > n[a]) c1[a] = n[a];
      nc[a] = c1[a] - c0[a];
    }
    int64_t ncand = (int64_t)nc[0] * nc[1] * nc[2] * ppc;
    free(flags);
    flags = (unsigned char *)malloc((size_t)(ncand > 0 ? ncand : 1));
    if (!flags) {
      shape_free(&sh);
      st = pl_fail(PL_ERR_NOMEM, "%s: out of memory for %lld candidate particles", label, (long long)ncand);
      break;
    }
    int64_t inside = 0, ambiguous = 0, nonzero = 0;
#pragma omp parallel for schedule(dynamic, 256) reduction(+ : inside, ambiguous, nonzero) \
    if (o->shape == MPM_SHAPE_MESH || ncand >= 262144)
    for (int64_t c = 0; c < ncand; ++c) {
      int64_t cell = c / ppc;
      int k = (int)(c % ppc);
      int c3[3] = {c0[0] + (int)(cell / ((int64_t)nc[1] * nc[2])), c0[1] + (int)((cell / nc[2]) % nc[1]),
                   c0[2] + (int)(cell % nc[2])};
      int64_t gcell = ((int64_t)c3[0] * n[1] + c3[1]) * n[2] + c3[2];
      double x[3];
      candidate(origin, dx, gcell, c3, ppc, k, o->regular, strat, d->seed, oi, x);
      double w = shape_inside(&sh, x);
      unsigned char in = w >= 0.5;
      flags[c] = in;
      inside += in;
      double aw = fabs(w);
      nonzero += aw > 0.25;
      ambiguous += aw > 0.25 && aw < 0.75;
    }
    if (o->shape == MPM_SHAPE_MESH && (inside == 0 ? nonzero > 0 : ambiguous > 0.2 * nonzero)) {
      if (inside == 0)
        st = pl_fail(PL_ERR_INVALID, "%s: mesh %s encloses no volume: its winding number never reaches 1/2 at the "
                     "sample points (it is an open surface, not a solid)", label, o->mesh_path);
      else
        st = pl_fail(PL_ERR_INVALID, "%s: mesh %s encloses no volume: its winding number is ambiguous (between "
                     "0.25 and 0.75) at %.0f%% of the sample points near it, so it is an open surface, not a solid",
                     label, o->mesh_path, 100.0 * (double)ambiguous / (double)nonzero);
    } else if (inside == 0) {
      st = pl_fail(PL_ERR_INVALID, "%s has no particles: no sample point (%d per cell, dx = %.4g m) falls inside it%s",
                   label, ppc, dx, o->shape == MPM_SHAPE_MESH ? " (the mesh may be an open surface, or smaller than a cell)" : "; it is smaller than a cell");
    }
    if (st == PL_OK) st = pbuf_reserve(&buf, inside);
    if (st == PL_OK) {
      double R[3] = {o->angular_velocity[0], o->angular_velocity[1], o->angular_velocity[2]};
      double vol = dx * dx * dx / ppc;
      double rho = d->materials[o->material].density != 0 ? d->materials[o->material].density : 1000;
      for (int64_t c = 0; c < ncand; ++c) {
        if (!flags[c]) continue;
        int64_t cell = c / ppc;
        int k = (int)(c % ppc);
        int c3[3] = {c0[0] + (int)(cell / ((int64_t)nc[1] * nc[2])), c0[1] + (int)((cell / nc[2]) % nc[1]),
                     c0[2] + (int)(cell % nc[2])};
        int64_t gcell = ((int64_t)c3[0] * n[1] + c3[1]) * n[2] + c3[2];
        double x[3], r[3], w[3];
        candidate(origin, dx, gcell, c3, ppc, k, o->regular, strat, d->seed, oi, x);
        sub3(x, o->center, r);
        cross3(R, r, w);
        int64_t p = buf.n++;
        for (int a = 0; a < 3; ++a) {
          buf.p.x[3 * p + a] = (real)x[a];
          buf.p.v[3 * p + a] = (real)(o->velocity[a] + w[a]);
        }
        buf.p.mass[p] = (real)(rho * vol);
        buf.p.vol0[p] = (real)vol;
        buf.p.material[p] = o->material;
        buf.p.object[p] = oi;
      }
    }
    shape_free(&sh);
  }
  free(flags);
  if (st != PL_OK) {
    mpm_particles_free(&buf.p);
    return st;
  }
  /* shrink to fit: a fresh allocation of exactly n (F = I, C = 0, q = 0) */
  pl_status s2 = mpm_particles_alloc(out, buf.n);
  if (s2 != PL_OK) {
    mpm_particles_free(&buf.p);
    return s2;
  }
  size_t nn = (size_t)buf.n;
  memcpy(out->x, buf.p.x, nn * 3 * sizeof(real));
  memcpy(out->v, buf.p.v, nn * 3 * sizeof(real));
  memcpy(out->mass, buf.p.mass, nn * sizeof(real));
  memcpy(out->vol0, buf.p.vol0, nn * sizeof(real));
  memcpy(out->material, buf.p.material, nn * sizeof(int32_t));
  memcpy(out->object, buf.p.object, nn * sizeof(int32_t));
  mpm_particles_free(&buf.p);
  return PL_OK;
}
