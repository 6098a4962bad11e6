/* splat_object.c: a 3DGS PLY as an object (see splat_object.h). */
#include "pipeline/scene/splat_object.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/rotation.h"
#include "raster/ply.h"
#include "upsample/upsample.h"

#define SH_C0 0.28209479177387814

void pl_splat_set_free(pl_splat_set *s) {
  if (!s) return;
  free(s->means);
  free(s->covs);
  free(s->colors);
  free(s->opacities);
  free(s->sh);
  free(s);
}

/* Sigma = R diag(s^2) R^T from a unit quaternion (w, x, y, z), packed xx xy xz yy yz zz. */
static void cov_of(const real *q, const real *s, double cov[6]) {
  double w = q[0], x = q[1], y = q[2], z = q[3];
  double R[3][3] = {{1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)},
                    {2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)},
                    {2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)}};
  double v[3] = {(double)s[0] * s[0], (double)s[1] * s[1], (double)s[2] * s[2]};
  int k = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = i; j < 3; ++j) {
      double a = 0;
      for (int m = 0; m < 3; ++m) a += R[i][m] * v[m] * R[j][m];
      cov[k++] = a;
    }
}

pl_status pl_splat_set_load(const pl_splat_load_desc *d, pl_splat_set **out) {
  *out = NULL;
  const char *label = d->label ? d->label : "object";
  if (!(d->opacity_min >= 0 && d->opacity_min < 1))
    return pl_fail(PL_ERR_INVALID, "%s: opacity_min must be in [0, 1) (got %g)", label, d->opacity_min);
  raster_ply ply;
  memset(&ply, 0, sizeof ply);
  pl_status st = raster_ply_read(d->path, &ply);
  if (st != PL_OK) return pl_fail_context(st, "%s: ", label);
  pl_splat_set *s = (pl_splat_set *)calloc(1, sizeof *s);
  int64_t n = ply.n;
  if (s) {
    s->means = (double *)malloc(sizeof(double) * 3 * (size_t)(n > 0 ? n : 1));
    s->covs = (double *)malloc(sizeof(double) * 6 * (size_t)(n > 0 ? n : 1));
    s->colors = (double *)malloc(sizeof(double) * 3 * (size_t)(n > 0 ? n : 1));
    s->opacities = (double *)malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
  }
  if (!s || !s->means || !s->covs || !s->colors || !s->opacities) {
    raster_ply_free(&ply);
    pl_splat_set_free(s);
    return pl_fail(PL_ERR_NOMEM, "%s: out of memory for %lld Gaussians of %s", label, (long long)n, d->path);
  }
  s->read = n;
  s->sh_degree = ply.sh_degree;
  const int K = (ply.sh_degree + 1) * (ply.sh_degree + 1);
  int view_dependent = 0; /* any non-zero coefficient above degree 0 (writers pad f_rest with zeros) */
  for (int64_t i = 0; i < n && !view_dependent; ++i)
    for (int k = 3; k < 3 * K; ++k)
      if (ply.sh[(size_t)i * (size_t)K * 3 + (size_t)k] != 0) {
        view_dependent = 1;
        break;
      }
  if (view_dependent) { /* the bands above degree 0 are kept: the colour turns with the material (upsample.h) */
    s->sh = (double *)malloc(sizeof(double) * 3 * (size_t)K * (size_t)(n > 0 ? n : 1));
    if (!s->sh) {
      raster_ply_free(&ply);
      pl_splat_set_free(s);
      return pl_fail(PL_ERR_NOMEM, "%s: out of memory for the SH coefficients of %s", label, d->path);
    }
  }
  double lo[3] = {INFINITY, INFINITY, INFINITY}, hi[3] = {-INFINITY, -INFINITY, -INFINITY};
  for (int64_t i = 0; i < n; ++i) {
    const real *m = ply.means + 3 * i;
    int inside = 1;
    for (int a = 0; a < 3; ++a)
      if (d->crop_min[a] <= d->crop_max[a] && !(m[a] >= d->crop_min[a] && m[a] <= d->crop_max[a])) inside = 0;
    if (!inside) {
      s->cropped++;
      continue;
    }
    if (!(ply.opacities[i] > d->opacity_min)) {
      s->transparent++;
      continue;
    }
    int64_t k = s->n++;
    for (int a = 0; a < 3; ++a) {
      s->means[3 * k + a] = m[a];
      lo[a] = fmin(lo[a], m[a]);
      hi[a] = fmax(hi[a], m[a]);
      double c = SH_C0 * (double)ply.sh[(size_t)i * (size_t)K * 3 + (size_t)a] + 0.5;
      s->colors[3 * k + a] = c < 0 ? 0 : (c > 1 ? 1 : c);
    }
    cov_of(ply.quats + 4 * i, ply.scales + 3 * i, s->covs + 6 * k);
    s->opacities[k] = ply.opacities[i];
    for (int c = 0; s->sh && c < 3 * K; ++c)
      s->sh[(size_t)k * (size_t)K * 3 + (size_t)c] = (double)ply.sh[(size_t)i * (size_t)K * 3 + (size_t)c];
  }
  raster_ply_free(&ply);
  if (s->n == 0) {
    pl_status e = pl_fail(PL_ERR_INVALID, "%s: no Gaussian of %s is left (%lld read, %lld outside the crop box, %lld at "
                          "or below opacity_min %g)", label, d->path, (long long)s->read, (long long)s->cropped,
                          (long long)s->transparent, d->opacity_min);
    pl_splat_set_free(s);
    return e;
  }
  if (view_dependent)
    PL_INFO("%s: %s has SH degree %d: view-dependent colour kept, turning with each Gaussian's rotation",
            label, d->path, s->sh_degree);
  else
    s->sh_degree = 0; /* every band above 0 is zero: one RGB colour per Gaussian */
  /* placement: p' = center + R (scale .* (p - c)); Sigma' = A Sigma A^T with A = R diag(scale) */
  double R[9], A[3][3], sc[3];
  pl_euler_xyz_deg(d->rotation_deg, R);
  for (int a = 0; a < 3; ++a) sc[a] = d->scale[a] != 0 ? d->scale[a] : 1.0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) A[i][j] = R[3 * i + j] * sc[j];
  for (int64_t k = 0; k < s->n; ++k) {
    double p[3];
    memcpy(p, s->means + 3 * k, sizeof p);
    ups_place_point(d->center, sc, d->rotation_deg, lo, hi, p, s->means + 3 * k);
    const double *c = s->covs + 6 * k;
    double S[3][3] = {{c[0], c[1], c[2]}, {c[1], c[3], c[4]}, {c[2], c[4], c[5]}}, AS[3][3], P[3][3];
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) AS[i][j] = A[i][0] * S[0][j] + A[i][1] * S[1][j] + A[i][2] * S[2][j];
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) P[i][j] = AS[i][0] * A[j][0] + AS[i][1] * A[j][1] + AS[i][2] * A[j][2];
    double *o = s->covs + 6 * k;
    o[0] = P[0][0], o[1] = P[0][1], o[2] = P[0][2], o[3] = P[1][1], o[4] = P[1][2], o[5] = P[2][2];
  }
  PL_INFO("%s: %s: %lld Gaussians kept of %lld (%lld outside the crop box, %lld at or below opacity %g)", label,
          d->path, (long long)s->n, (long long)s->read, (long long)s->cropped, (long long)s->transparent,
          d->opacity_min);
  *out = s;
  return PL_OK;
}
