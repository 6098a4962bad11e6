/* upsample_holes.c: what the mesh alone leaves uncovered or uncoloured. Holes of an open mesh closed with samples of
 * the particle set's own surface, and colours of runtime / particles-mode particles taken from the nearest mesh
 * sample. Set-up only (host). */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "upsample/upsample_internal.h"

typedef struct {
  const ups_sample *v;
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
pl_status ups_fill_mesh_holes(const double *rest, const int *idx, int cnt, const ups_desc *d, double dp,
                                 double r, const double flat[3], const char *name, ups_sample_vec *gs, int64_t g0,
                                 int64_t *added) {
  *added = 0;
  ups_sample_vec ps;
  memset(&ps, 0, sizeof ps);
  pl_status s = ups_sample_particle_set(rest, idx, cnt, d, dp, r, flat, name, &ps);
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
  pl_hash_grid g;
  s = ups_grid_build(&g, pos, (int)nm, dp);
  const double gap = 0.75 * dp, reach = 8 * r > dp ? 8 * r : dp;
  for (int64_t i = 0; i < ps.n && s == PL_OK; ++i) {
    nearest_ctx nc = {gs->v + g0, gap * gap, -1};
    pl_hash_grid_query(&g, ps.v[i].p, gap, nearest_visit, &nc);
    if (nc.pick >= 0) continue; /* the mesh covers this patch */
    ups_sample c = ps.v[i];
    nearest_ctx far = {gs->v + g0, reach * reach, -1};
    pl_hash_grid_query(&g, c.p, reach, nearest_visit, &far);
    for (int k = 0; k < 3; ++k) c.c[k] = far.pick >= 0 ? gs->v[g0 + far.pick].c[k] : flat[k];
    s = ups_svec_push(gs, &c);
    if (s == PL_OK) (*added)++;
  }
  pl_hash_grid_free(&g);
  free(pos);
  free(ps.v);
  return s;
}

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
pl_status ups_colors_from_mesh(const ups_placed_mesh *pm, const double *rest, const int *idx, int n, double r,
                                          double dp, uint64_t seed, int obj, const double flat[3], real *col) {
  ups_sample_vec sv = {NULL, 0, 0};
  PL_TRY(ups_sample_mesh(pm, r, seed, obj, flat, &sv));
  double *pts = (double *)malloc(sizeof(double) * 3 * (size_t)(sv.n > 0 ? sv.n : 1));
  if (!pts) {
    free(sv.v);
    return pl_fail(PL_ERR_NOMEM, "upsample: out of memory");
  }
  for (int64_t i = 0; i < sv.n; ++i)
    for (int k = 0; k < 3; ++k) pts[3 * i + k] = sv.v[i].p[k];
  pl_hash_grid g;
  pl_status s = ups_grid_build(&g, pts, (int)sv.n, 2 * dp);
  if (s == PL_OK) {
    for (int i = 0; i < n; ++i) {
      near_ctx c = {DBL_MAX, -1};
      for (double rad = 2 * dp; c.idx < 0 && rad <= 8.5 * dp; rad *= 2)
        pl_hash_grid_query(&g, rest + 3 * (size_t)idx[i], rad, near_visit, &c);
      for (int k = 0; k < 3; ++k) col[3 * (size_t)i + k] = (real)(c.idx >= 0 ? sv.v[c.idx].c[k] : flat[k]);
    }
    pl_hash_grid_free(&g);
  }
  free(pts);
  free(sv.v);
  return s;
}
