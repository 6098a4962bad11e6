/* mpm_splat_fill.c: voxel occupancy of the body a set of Gaussians encloses (see mpm_splat_fill.h). */
#include "mpm/mpm_splat_fill.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void mpm_occupancy_free(mpm_occupancy *o) {
  if (!o) return;
  free(o->inside);
  memset(o, 0, sizeof *o);
}

static int64_t vox(const mpm_occupancy *o, int i, int j, int k) {
  return ((int64_t)i * o->n[1] + j) * o->n[2] + k;
}

/* voxel index -> (i, j, k) */
static void vox_coords(const mpm_occupancy *o, int64_t v, int c[3]) {
  c[2] = (int)(v % o->n[2]);
  c[1] = (int)((v / o->n[2]) % o->n[1]);
  c[0] = (int)(v / ((int64_t)o->n[1] * o->n[2]));
}

/* the 6-connected neighbours of voxel v inside the grid; returns how many */
static int neighbours(const mpm_occupancy *o, int64_t v, int64_t out[6]) {
  int c[3], n = 0;
  vox_coords(o, v, c);
  for (int a = 0; a < 3; ++a)
    for (int s = -1; s <= 1; s += 2) {
      int d[3] = {c[0], c[1], c[2]};
      d[a] += s;
      if (d[a] >= 0 && d[a] < o->n[a]) out[n++] = vox(o, d[0], d[1], d[2]);
    }
  return n;
}

int mpm_occupancy_at(const mpm_occupancy *o, const double x[3]) {
  int c[3];
  for (int a = 0; a < 3; ++a) {
    double t = floor((x[a] - o->origin[a]) / o->h);
    if (!(t >= 0 && t < o->n[a])) return 0;
    c[a] = (int)t;
  }
  return o->inside[vox(o, c[0], c[1], c[2])];
}

/* inverse of a symmetric 3x3 (packed xx xy xz yy yz zz); returns 0 when not positive definite */
static int sym_inverse(const double s[6], double inv[6]) {
  double a = s[0], b = s[1], c = s[2], d = s[3], e = s[4], f = s[5];
  double A = d * f - e * e, B = -(b * f - c * e), C = b * e - c * d;
  double det = a * A + b * B + c * C;
  if (!(det > 0) || !(a > 0)) return 0;
  inv[0] = A / det, inv[1] = B / det, inv[2] = C / det;
  inv[3] = (a * f - c * c) / det, inv[4] = -(a * e - b * c) / det, inv[5] = (a * d - b * b) / det;
  return 1;
}

pl_status mpm_splat_occupancy(const double *means, const double *covs, const double *opacities, int64_t n, double h,
                              double threshold, const char *label, mpm_occupancy *occ, double lo[3], double hi[3]) {
  memset(occ, 0, sizeof *occ);
  if (!(h > 0) || !isfinite(h)) return pl_fail(PL_ERR_INVALID, "%s: voxel size %g must be > 0", label, h);
  if (!(threshold > 0)) return pl_fail(PL_ERR_INVALID, "%s: fill_threshold must be > 0 (got %g)", label, threshold);
  if (n < 1) return pl_fail(PL_ERR_INVALID, "%s: no Gaussians to fill", label);
  const double reg = 0.25 * h * h; /* (h/2)^2 */
  double blo[3] = {INFINITY, INFINITY, INFINITY}, bhi[3] = {-INFINITY, -INFINITY, -INFINITY};
  for (int64_t i = 0; i < n; ++i) {
    const double *c = covs + 6 * i;
    const double diag[3] = {c[0], c[3], c[5]};
    for (int a = 0; a < 3; ++a) {
      double m = means[3 * i + a], r = 3 * sqrt(fmax(diag[a], 0) + reg);
      if (!isfinite(m) || !isfinite(r))
        return pl_fail(PL_ERR_INVALID, "%s: Gaussian %lld has a non-finite mean or covariance", label, (long long)i);
      blo[a] = fmin(blo[a], m - r);
      bhi[a] = fmax(bhi[a], m + r);
    }
  }
  double total = 1;
  for (int a = 0; a < 3; ++a) {
    occ->origin[a] = blo[a] - 2 * h; /* two empty voxels of padding: the flood fill starts there */
    occ->n[a] = (int)ceil((bhi[a] - blo[a]) / h) + 4;
    total *= occ->n[a];
  }
  occ->h = h;
  if (total > (double)(1 << 26))
    return pl_fail(PL_ERR_LIMIT, "%s: the Gaussians span %.4g x %.4g x %.4g m: %.3g voxels of %.4g m (at most 2^26); "
                   "crop the floaters (crop_min, crop_max, opacity_min) or lower the resolution", label,
                   bhi[0] - blo[0], bhi[1] - blo[1], bhi[2] - blo[2], total, h);
  const int64_t nv = (int64_t)total;
  float *dens = (float *)calloc((size_t)nv, sizeof(float));
  occ->inside = (unsigned char *)calloc((size_t)nv, 1);
  int64_t *queue = (int64_t *)malloc(sizeof(int64_t) * (size_t)nv);
  if (!dens || !occ->inside || !queue) {
    free(dens);
    free(queue);
    mpm_occupancy_free(occ);
    return pl_fail(PL_ERR_NOMEM, "%s: out of memory for %lld voxels", label, (long long)nv);
  }
  /* density at the voxel centres, each Gaussian within its 3-sigma box */
  for (int64_t i = 0; i < n; ++i) {
    const double *c = covs + 6 * i, *m = means + 3 * i;
    double s[6] = {c[0] + reg, c[1], c[2], c[3] + reg, c[4], c[5] + reg}, q[6];
    if (!sym_inverse(s, q)) continue; /* not a covariance: contributes nothing */
    int v0[3], v1[3];
    for (int a = 0; a < 3; ++a) {
      double r = 3 * sqrt(s[a == 0 ? 0 : a == 1 ? 3 : 5]);
      v0[a] = (int)floor((m[a] - r - occ->origin[a]) / h);
      v1[a] = (int)ceil((m[a] + r - occ->origin[a]) / h);
      if (v0[a] < 0) v0[a] = 0;
      if (v1[a] > occ->n[a] - 1) v1[a] = occ->n[a] - 1;
    }
    for (int x = v0[0]; x <= v1[0]; ++x)
      for (int y = v0[1]; y <= v1[1]; ++y)
        for (int z = v0[2]; z <= v1[2]; ++z) {
          double d0 = occ->origin[0] + (x + 0.5) * h - m[0], d1 = occ->origin[1] + (y + 0.5) * h - m[1],
                 d2 = occ->origin[2] + (z + 0.5) * h - m[2];
          double e = q[0] * d0 * d0 + q[3] * d1 * d1 + q[5] * d2 * d2 + 2 * (q[1] * d0 * d1 + q[2] * d0 * d2 + q[4] * d1 * d2);
          if (e < 18) dens[vox(occ, x, y, z)] += (float)(opacities[i] * exp(-0.5 * e));
        }
  }
  /* flood fill the outside from the padding through non-shell voxels; 2 = outside */
  int64_t head = 0, tail = 0;
  for (int64_t v = 0; v < nv; ++v) occ->inside[v] = dens[v] >= threshold ? 1 : 0;
  queue[tail++] = 0;
  occ->inside[0] = 2;
  while (head < tail) {
    int64_t v = queue[head++], nb[6];
    const int nn = neighbours(occ, v, nb);
    for (int t = 0; t < nn; ++t) {
      const int64_t w = nb[t];
      if (occ->inside[w] == 0) {
        occ->inside[w] = 2;
        queue[tail++] = w;
      }
    }
  }
  /* The shell is a band around the splats' surface, about 2 x 1.9 standard deviations (of the splats across the
   * surface, with the (h/2)^2 term) thick; the surface itself runs along its middle, where the means are. A shell
   * voxel belongs to the body when it is at least as close (6-connected steps through the shell) to the enclosed
   * interior as to the outside. A splat cloud that encloses no empty interior (a solid blob of Gaussians) keeps its
   * whole shell. Codes: 0 enclosed non-shell, 1 shell, 2 outside. */
  uint16_t *din = (uint16_t *)malloc(sizeof(uint16_t) * (size_t)nv), *dout = (uint16_t *)malloc(sizeof(uint16_t) * (size_t)nv);
  if (!din || !dout) {
    free(din), free(dout), free(dens), free(queue);
    mpm_occupancy_free(occ);
    return pl_fail(PL_ERR_NOMEM, "%s: out of memory for %lld voxels", label, (long long)nv);
  }
  int64_t ninterior = 0;
  for (int pass = 0; pass < 2; ++pass) { /* 0: distance from the interior, 1: from the outside */
    uint16_t *dist = pass == 0 ? din : dout;
    const unsigned char src = pass == 0 ? 0 : 2;
    head = tail = 0;
    for (int64_t v = 0; v < nv; ++v) {
      dist[v] = occ->inside[v] == src ? 0 : UINT16_MAX;
      if (occ->inside[v] == src) {
        queue[tail++] = v;
        if (pass == 0) ninterior++;
      }
    }
    while (head < tail) {
      int64_t v = queue[head++], nb[6];
      const int nn = neighbours(occ, v, nb);
      for (int t = 0; t < nn; ++t) {
        const int64_t w = nb[t];
        if (occ->inside[w] == 1 && dist[w] == UINT16_MAX && dist[v] < UINT16_MAX - 1) {
          dist[w] = (uint16_t)(dist[v] + 1);
          queue[tail++] = w;
        }
      }
    }
  }
  for (int a = 0; a < 3; ++a) lo[a] = INFINITY, hi[a] = -INFINITY;
  for (int64_t v = 0; v < nv; ++v) {
    const unsigned char code = occ->inside[v];
    if (code == 1) occ->nshell++;
    occ->inside[v] = code == 0 || (code == 1 && (ninterior == 0 || din[v] <= dout[v]));
    if (!occ->inside[v]) continue;
    occ->ninside++;
    int c[3];
    vox_coords(occ, v, c);
    for (int a = 0; a < 3; ++a) {
      lo[a] = fmin(lo[a], occ->origin[a] + c[a] * h);
      hi[a] = fmax(hi[a], occ->origin[a] + (c[a] + 1) * h);
    }
  }
  free(din);
  free(dout);
  free(dens);
  free(queue);
  if (occ->ninside == 0) {
    mpm_occupancy_free(occ);
    return pl_fail(PL_ERR_INVALID, "%s: no voxel reaches the density fill_threshold %g: the Gaussians are too sparse or "
                   "transparent to enclose a body (lower fill_threshold or opacity_min)", label, threshold);
  }
  return PL_OK;
}
