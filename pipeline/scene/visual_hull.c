/* visual_hull.c: space carving from silhouettes (visual_hull.h). */
#include "pipeline/scene/visual_hull.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HULL_MAX_VOXELS ((int64_t)1 << 27)

static int64_t vox(const mpm_occupancy *o, int i, int j, int k) { return ((int64_t)i * o->n[1] + j) * o->n[2] + k; }

/* world -> pixel; returns 0 behind the camera */
static int project(const pl_hull_view *v, const double X[3], double *u, double *w) {
  const double *M = v->viewmat;
  double xc = M[0] * X[0] + M[1] * X[1] + M[2] * X[2] + M[3];
  double yc = M[4] * X[0] + M[5] * X[1] + M[6] * X[2] + M[7];
  double zc = M[8] * X[0] + M[9] * X[1] + M[10] * X[2] + M[11];
  if (!(zc > 1e-9)) return 0;
  *u = v->fx * xc / zc + v->cx;
  *w = v->fy * yc / zc + v->cy;
  return 1;
}

/* -1: the view does not see the point; 1: inside the mask (2 x 2 pixels around it); 0: outside */
static int vote(const pl_hull_view *v, const double X[3]) {
  double u, w;
  if (!project(v, X, &u, &w)) return -1;
  if (!(u >= 0 && u < v->width && w >= 0 && w < v->height)) return -1;
  int j0 = (int)floor(u - 0.5), i0 = (int)floor(w - 0.5);
  for (int di = 0; di < 2; ++di)
    for (int dj = 0; dj < 2; ++dj) {
      int i = i0 + di, j = j0 + dj;
      if (i < 0 || j < 0 || i >= v->height || j >= v->width) continue;
      if (v->mask[(size_t)i * v->width + j] >= 0.5f) return 1;
    }
  return 0;
}

/* The mask bilinearly interpolated at pixel coordinates (u, w) (pixel centres at +0.5; edges clamped). */
static double mask_bilinear(const pl_hull_view *v, double u, double w) {
  double x = u - 0.5, y = w - 0.5;
  int j0 = (int)floor(x), i0 = (int)floor(y);
  double fx = x - j0, fy = y - i0, acc = 0;
  for (int di = 0; di < 2; ++di)
    for (int dj = 0; dj < 2; ++dj) {
      int i = i0 + di, j = j0 + dj;
      i = i < 0 ? 0 : i >= v->height ? v->height - 1 : i;
      j = j < 0 ? 0 : j >= v->width ? v->width - 1 : j;
      acc += (di ? fy : 1 - fy) * (dj ? fx : 1 - fx) * v->mask[(size_t)i * v->width + j];
    }
  return acc;
}

/* the sub-voxel vote: -1 unseen; 1 when the bilinear mask at the projected point reaches 0.5; 0 otherwise */
static int vote_point(const pl_hull_view *v, const double X[3]) {
  double u, w;
  if (!project(v, X, &u, &w)) return -1;
  if (!(u >= 0 && u < v->width && w >= 0 && w < v->height)) return -1;
  return mask_bilinear(v, u, w) >= 0.5;
}

/* Does point X pass the votes (at most `misses` views out, at least need_in in)? */
static int point_kept(const pl_hull_desc *d, const double X[3], int need_in) {
  int in = 0, out = 0;
  for (int v = 0; v < d->nviews && out <= d->misses; ++v) {
    int r = vote_point(&d->views[v], X);
    in += r == 1;
    out += r == 0;
  }
  return out <= d->misses && in >= need_in;
}

/* Sub-voxel carving (samples >= 2): the fraction of the voxel's samples^3 points (cell centres of a samples^3
 * split) that are kept, a point being kept when it and, with erode > 0, its six neighbours at +-erode along the
 * axes pass the votes (an erosion of the hull by about `erode`). */
static double voxel_fraction(const pl_hull_desc *d, const double Xc[3], int need_in) {
  int n = d->samples < 1 ? 1 : d->samples, kept = 0;
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < n; ++b)
      for (int c = 0; c < n; ++c) {
        double X[3] = {Xc[0] + ((a + 0.5) / n - 0.5) * d->h, Xc[1] + ((b + 0.5) / n - 0.5) * d->h,
                       Xc[2] + ((c + 0.5) / n - 0.5) * d->h};
        int ok = point_kept(d, X, need_in);
        for (int q = 0; ok && d->erode > 0 && q < 6; ++q) {
          double Y[3] = {X[0], X[1], X[2]};
          Y[q / 2] += (q % 2 ? -1 : 1) * d->erode;
          ok = point_kept(d, Y, need_in);
        }
        kept += ok;
      }
  return (double)kept / ((double)n * n * n);
}

static pl_status check_view(const pl_hull_view *v, const char *label, int k) {
  const char *nm = v->name ? v->name : "?";
  if (v->width < 1 || v->height < 1 || !v->mask)
    return pl_fail(PL_ERR_INVALID, "%s: view %d (camera %s) has no mask", label, k, nm);
  if (!(v->fx > 0 && v->fy > 0 && isfinite(v->fx) && isfinite(v->fy) && isfinite(v->cx) && isfinite(v->cy)))
    return pl_fail(PL_ERR_INVALID, "%s: camera %s: focal lengths must be finite and > 0", label, nm);
  for (int q = 0; q < 16; ++q)
    if (!isfinite(v->viewmat[q])) return pl_fail(PL_ERR_INVALID, "%s: camera %s: view matrix is not finite", label, nm);
  return PL_OK;
}

/* Keep the largest 6-connected component of occ->inside (labels in a scratch array; breadth-first). */
static pl_status largest_component(mpm_occupancy *o, int *ncomp, int64_t *kept) {
  int64_t nv = (int64_t)o->n[0] * o->n[1] * o->n[2];
  int32_t *lab = (int32_t *)calloc((size_t)nv, sizeof *lab);
  int64_t *queue = (int64_t *)malloc(sizeof(int64_t) * (size_t)nv);
  if (!lab || !queue) {
    free(lab);
    free(queue);
    return pl_fail(PL_ERR_NOMEM, "out of memory (visual hull components)");
  }
  int32_t next = 0, best = 0;
  int64_t best_size = 0;
  for (int64_t s = 0; s < nv; ++s) {
    if (!o->inside[s] || lab[s]) continue;
    int32_t id = ++next;
    int64_t head = 0, tail = 0, size = 0;
    queue[tail++] = s;
    lab[s] = id;
    while (head < tail) {
      int64_t v = queue[head++];
      ++size;
      int c[3] = {(int)(v / ((int64_t)o->n[1] * o->n[2])), (int)((v / o->n[2]) % o->n[1]), (int)(v % o->n[2])};
      for (int a = 0; a < 3; ++a)
        for (int sgn = -1; sgn <= 1; sgn += 2) {
          int d[3] = {c[0], c[1], c[2]};
          d[a] += sgn;
          if (d[a] < 0 || d[a] >= o->n[a]) continue;
          int64_t u = vox(o, d[0], d[1], d[2]);
          if (o->inside[u] && !lab[u]) {
            lab[u] = id;
            queue[tail++] = u;
          }
        }
    }
    if (size > best_size) best_size = size, best = id;
  }
  for (int64_t s = 0; s < nv; ++s) o->inside[s] = o->inside[s] && lab[s] == best;
  free(lab);
  free(queue);
  *ncomp = (int)next;
  *kept = best_size;
  return PL_OK;
}

pl_status pl_visual_hull_carve(const pl_hull_desc *d, mpm_occupancy *occ, pl_hull_info *info) {
  const char *label = d->label ? d->label : "visual hull";
  memset(occ, 0, sizeof *occ);
  memset(info, 0, sizeof *info);
  if (d->nviews < 1 || !d->views) return pl_fail(PL_ERR_INVALID, "%s: no views to carve the hull from", label);
  if (!(d->h > 0) || !isfinite(d->h)) return pl_fail(PL_ERR_INVALID, "%s: voxel side must be > 0", label);
  if (d->misses < 0 || d->misses >= d->nviews)
    return pl_fail(PL_ERR_INVALID, "%s: hull_misses = %d must be in 0..%d (fewer than the %d views)", label, d->misses,
                   d->nviews - 1, d->nviews);
  if (d->samples < 0 || d->samples > 8)
    return pl_fail(PL_ERR_INVALID, "%s: hull_samples = %d must be in 0..8", label, d->samples);
  if (!(d->erode >= 0) || !isfinite(d->erode))
    return pl_fail(PL_ERR_INVALID, "%s: hull_erode = %g must be >= 0", label, d->erode);
  for (int k = 0; k < d->nviews; ++k) PL_TRY(check_view(&d->views[k], label, k));
  double nn[3];
  for (int a = 0; a < 3; ++a) {
    if (!(d->box_max[a] > d->box_min[a]) || !isfinite(d->box_min[a]) || !isfinite(d->box_max[a]))
      return pl_fail(PL_ERR_INVALID, "%s: the carved box [%g, %g] on axis %c is empty", label, d->box_min[a],
                     d->box_max[a], "xyz"[a]);
    /* whole voxels only: a voxel reaching past box_max would put particles outside the box (e.g. into the wall
     * band when the box is the simulation box less its band and its size is not a multiple of h) */
    nn[a] = floor((d->box_max[a] - d->box_min[a]) / d->h + 1e-9);
    if (nn[a] < 1)
      return pl_fail(PL_ERR_INVALID, "%s: the carved box [%g, %g] on axis %c is thinner than one voxel (%g m)", label,
                     d->box_min[a], d->box_max[a], "xyz"[a], d->h);
  }
  if (nn[0] * nn[1] * nn[2] > (double)HULL_MAX_VOXELS)
    return pl_fail(PL_ERR_LIMIT, "%s: %.0f x %.0f x %.0f voxels of %g m (more than 2^27): give a smaller box "
                   "(hull_min, hull_max) or a coarser grid", label, nn[0], nn[1], nn[2], d->h);
  for (int a = 0; a < 3; ++a) {
    occ->n[a] = (int)nn[a];
    occ->origin[a] = d->box_min[a];
  }
  occ->h = d->h;
  int64_t nv = (int64_t)occ->n[0] * occ->n[1] * occ->n[2];
  occ->inside = (unsigned char *)calloc((size_t)nv, 1);
  if (!occ->inside) return pl_fail(PL_ERR_NOMEM, "%s: out of memory for %lld voxels", label, (long long)nv);
  int need_in = d->nviews < 2 ? d->nviews : 2, subvoxel = d->samples >= 2 || d->erode > 0;
  int64_t carved = 0;
  for (int i = 0; i < occ->n[0]; ++i)
    for (int j = 0; j < occ->n[1]; ++j)
      for (int k = 0; k < occ->n[2]; ++k) {
        double X[3] = {occ->origin[0] + (i + 0.5) * d->h, occ->origin[1] + (j + 0.5) * d->h,
                       occ->origin[2] + (k + 0.5) * d->h};
        int keep;
        if (subvoxel) {
          keep = voxel_fraction(d, X, need_in) >= 0.5;
        } else {
          int in = 0, out = 0;
          for (int v = 0; v < d->nviews && out <= d->misses; ++v) {
            int r = vote(&d->views[v], X);
            in += r == 1;
            out += r == 0;
          }
          keep = out <= d->misses && in >= need_in;
        }
        if (keep) {
          occ->inside[vox(occ, i, j, k)] = 1;
          ++carved;
        }
      }
  info->voxels = nv;
  info->carved_in = carved;
  if (carved == 0) {
    mpm_occupancy_free(occ);
    return pl_fail(PL_ERR_INVALID, "%s: every voxel of the box is carved away (no point projects inside the masks of "
                   "the cameras that see it: check the masks, the cameras and the box)", label);
  }
  pl_status st = largest_component(occ, &info->components, &info->kept);
  if (st != PL_OK) {
    mpm_occupancy_free(occ);
    return st;
  }
  occ->ninside = info->kept;
  for (int a = 0; a < 3; ++a) info->lo[a] = INFINITY, info->hi[a] = -INFINITY;
  double sum[3] = {0, 0, 0};
  for (int i = 0; i < occ->n[0]; ++i)
    for (int j = 0; j < occ->n[1]; ++j)
      for (int k = 0; k < occ->n[2]; ++k) {
        if (!occ->inside[vox(occ, i, j, k)]) continue;
        int c[3] = {i, j, k};
        for (int a = 0; a < 3; ++a) {
          double x = occ->origin[a] + (c[a] + 0.5) * d->h;
          sum[a] += x;
          info->lo[a] = fmin(info->lo[a], x - 0.5 * d->h);
          info->hi[a] = fmax(info->hi[a], x + 0.5 * d->h);
        }
      }
  for (int a = 0; a < 3; ++a) info->centroid[a] = sum[a] / (double)info->kept;
  info->volume = (double)info->kept * d->h * d->h * d->h;
  return PL_OK;
}

/* Does the ray o + t dir (t > 0) cross a kept voxel? 3D DDA over the grid (Amanatides & Woo 1987). */
static int ray_hits(const mpm_occupancy *g, const double o[3], const double dir[3]) {
  double t0 = 0, t1 = INFINITY;
  for (int a = 0; a < 3; ++a) { /* slab test against the grid's box */
    double lo = g->origin[a], hi = g->origin[a] + g->n[a] * g->h;
    if (fabs(dir[a]) < 1e-300) {
      if (o[a] < lo || o[a] > hi) return 0;
      continue;
    }
    double ta = (lo - o[a]) / dir[a], tb = (hi - o[a]) / dir[a];
    if (ta > tb) {
      double t = ta;
      ta = tb, tb = t;
    }
    t0 = fmax(t0, ta);
    t1 = fmin(t1, tb);
  }
  if (!(t0 <= t1)) return 0;
  int c[3], step[3];
  double tmax[3], tdelta[3];
  for (int a = 0; a < 3; ++a) {
    double p = o[a] + t0 * dir[a];
    int ci = (int)floor((p - g->origin[a]) / g->h);
    c[a] = ci < 0 ? 0 : ci >= g->n[a] ? g->n[a] - 1 : ci;
    if (dir[a] > 0) {
      step[a] = 1;
      tmax[a] = (g->origin[a] + (c[a] + 1) * g->h - o[a]) / dir[a];
      tdelta[a] = g->h / dir[a];
    } else if (dir[a] < 0) {
      step[a] = -1;
      tmax[a] = (g->origin[a] + c[a] * g->h - o[a]) / dir[a];
      tdelta[a] = -g->h / dir[a];
    } else {
      step[a] = 0;
      tmax[a] = INFINITY;
      tdelta[a] = INFINITY;
    }
  }
  for (;;) {
    if (g->inside[vox(g, c[0], c[1], c[2])]) return 1;
    int a = tmax[0] < tmax[1] ? (tmax[0] < tmax[2] ? 0 : 2) : (tmax[1] < tmax[2] ? 1 : 2);
    if (tmax[a] > t1) return 0;
    c[a] += step[a];
    if (c[a] < 0 || c[a] >= g->n[a]) return 0;
    tmax[a] += tdelta[a];
  }
}

pl_status pl_visual_hull_silhouette(const mpm_occupancy *occ, const pl_hull_view *v, unsigned char *sil, double *iou) {
  PL_TRY(check_view(v, "visual hull", 0));
  const double *M = v->viewmat;
  /* camera centre -R^T t; ray directions R^T d_c */
  double eye[3];
  for (int a = 0; a < 3; ++a) eye[a] = -(M[0 + a] * M[3] + M[4 + a] * M[7] + M[8 + a] * M[11]);
  int64_t inter = 0, uni = 0;
  for (int i = 0; i < v->height; ++i)
    for (int j = 0; j < v->width; ++j) {
      double dc[3] = {(j + 0.5 - v->cx) / v->fx, (i + 0.5 - v->cy) / v->fy, 1.0}, dw[3];
      for (int a = 0; a < 3; ++a) dw[a] = M[0 + a] * dc[0] + M[4 + a] * dc[1] + M[8 + a] * dc[2];
      int hit = ray_hits(occ, eye, dw), in = v->mask[(size_t)i * v->width + j] >= 0.5f;
      if (sil) sil[(size_t)i * v->width + j] = (unsigned char)hit;
      inter += hit && in;
      uni += hit || in;
    }
  *iou = uni ? (double)inter / (double)uni : 1.0;
  return PL_OK;
}

void pl_hull_object_free(pl_hull_object *h) {
  if (!h) return;
  for (int v = 0; h->masks && v < h->nviews; ++v) free(h->masks[v]);
  free(h->masks);
  free(h->views);
  mpm_occupancy_free(&h->occ);
  for (int v = 0; h->overlay && v < h->nviews; ++v) free(h->overlay[v]);
  free(h->overlay);
  free(h->names);
  free(h->iou);
  free(h->width);
  free(h->height);
  free(h);
}
