/* ups_test_util.h: particle generators, a reference composited-alpha evaluator (EWA splatting of the Gaussians
 * with a pinhole camera, the rasterizer's constants) and small helpers shared by the upsampler tests. */
#ifndef PL_UPS_TEST_UTIL_H
#define PL_UPS_TEST_UTIL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/linalg.h"
#include "core/rng.h"
#include "tests/test_util.h"
#include "upsample/upsample.h"

/* Particles on a (jittered) lattice of spacing dp filling a shape; returns the count, *out malloc'ed [n,3].
 * Cell centres sit at c + (i + 0.5) dp; jitter moves each by up to +-jitter/2 dp per axis (Philox, seed). */
typedef int (*ups_inside_fn)(const double p[3], const void *ctx);

static int ups_fill(ups_inside_fn inside, const void *ctx, const double lo[3], const double hi[3], double dp,
                    double jitter, uint64_t seed, real **out) {
  int nx = (int)ceil((hi[0] - lo[0]) / dp), ny = (int)ceil((hi[1] - lo[1]) / dp), nz = (int)ceil((hi[2] - lo[2]) / dp);
  size_t cap = (size_t)nx * ny * nz;
  real *p = (real *)malloc(sizeof(real) * 3 * (cap ? cap : 1));
  int n = 0;
  for (int i = 0; i < nx; ++i)
    for (int j = 0; j < ny; ++j)
      for (int k = 0; k < nz; ++k) {
        double c[3] = {lo[0] + (i + 0.5) * dp, lo[1] + (j + 0.5) * dp, lo[2] + (k + 0.5) * dp};
        if (!inside(c, ctx)) continue;
        if (jitter > 0) {
          real u[4];
          pl_rng_uniform4(seed, (uint64_t)((i * 1000003LL + j) * 1000033LL + k), 7, u);
          for (int a = 0; a < 3; ++a) c[a] += jitter * dp * ((double)u[a] - 0.5);
        }
        for (int a = 0; a < 3; ++a) p[3 * n + a] = (real)c[a];
        ++n;
      }
  *out = p;
  return n;
}

typedef struct {
  double c[3], r;
} ups_sphere;
static int ups_in_sphere(const double p[3], const void *ctx) {
  const ups_sphere *s = (const ups_sphere *)ctx;
  double d2 = 0;
  for (int k = 0; k < 3; ++k) d2 += (p[k] - s->c[k]) * (p[k] - s->c[k]);
  return d2 < s->r * s->r;
}
static int ups_sphere_particles(const double c[3], double r, double dp, double jitter, uint64_t seed, real **out) {
  ups_sphere s = {{c[0], c[1], c[2]}, r};
  double lo[3] = {c[0] - r, c[1] - r, c[2] - r}, hi[3] = {c[0] + r, c[1] + r, c[2] + r};
  return ups_fill(ups_in_sphere, &s, lo, hi, dp, jitter, seed, out);
}

/* Identity deformation gradients. */
static real *ups_identity_F(int n) {
  real *f = (real *)calloc(9 * (size_t)n, sizeof(real));
  for (int p = 0; p < n; ++p) f[9 * p] = f[9 * p + 4] = f[9 * p + 8] = 1;
  return f;
}

static m3 ups_rotation(double ax, double ay, double az, double angle) {
  v3 a = v3_normalize(v3_make((real)ax, (real)ay, (real)az));
  m3 k = m3_skew(a);
  return m3_add(m3_add(m3_identity(), m3_scale(k, (real)sin(angle))), m3_scale(m3_mul(k, k), (real)(1 - cos(angle))));
}

/* ---------------------------------------------------------------- composited alpha */

typedef struct {
  int w, h;
  double fx, fy, cx, cy;
  double rot[3][3]; /* world -> camera rotation (rows: right, down, forward: OpenCV) */
  double eye[3];
} ups_camera;

static void ups_look_at(ups_camera *c, int w, int h, double fov_deg, const double eye[3], const double target[3],
                        const double up[3]) {
  c->w = w;
  c->h = h;
  c->fy = 0.5 * h / tan(0.5 * fov_deg * 3.14159265358979 / 180);
  c->fx = c->fy;
  c->cx = 0.5 * w;
  c->cy = 0.5 * h;
  double f[3], r[3], d[3], l = 0;
  for (int k = 0; k < 3; ++k) f[k] = target[k] - eye[k], l += f[k] * f[k];
  l = sqrt(l);
  for (int k = 0; k < 3; ++k) f[k] /= l, c->eye[k] = eye[k];
  /* right = forward x up... OpenCV: x right, y down, z forward; right = f x up normalised, down = f x right */
  r[0] = f[1] * up[2] - f[2] * up[1];
  r[1] = f[2] * up[0] - f[0] * up[2];
  r[2] = f[0] * up[1] - f[1] * up[0];
  l = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
  for (int k = 0; k < 3; ++k) r[k] /= l;
  d[0] = f[1] * r[2] - f[2] * r[1];
  d[1] = f[2] * r[0] - f[0] * r[2];
  d[2] = f[0] * r[1] - f[1] * r[0];
  for (int k = 0; k < 3; ++k) {
    c->rot[0][k] = r[k];
    c->rot[1][k] = d[k];
    c->rot[2][k] = f[k];
  }
}

/* Ray direction (world) through the centre of pixel (i row, j column). */
static void ups_pixel_ray(const ups_camera *c, int i, int j, double dir[3]) {
  double xc = (j + 0.5 - c->cx) / c->fx, yc = (i + 0.5 - c->cy) / c->fy, l = 0;
  for (int k = 0; k < 3; ++k) {
    dir[k] = c->rot[0][k] * xc + c->rot[1][k] * yc + c->rot[2][k];
    l += dir[k] * dir[k];
  }
  l = sqrt(l);
  for (int k = 0; k < 3; ++k) dir[k] /= l;
}

/* alpha[h*w] = 1 - prod_i (1 - min(0.99, o_i exp(-1/2 d^T Sigma2_i^-1 d))), Sigma2 = J W Sigma W^T J^T + 0.3 I,
 * the EWA projection of DESIGN.md section 4 (Jacobian with x/z, y/z clamped to 1.3 tan(half fov)); terms below
 * 1/255 are skipped as the rasterizer does. */
static void ups_composite_alpha(const ups_camera *c, int64_t m, const real *means, const real *covs,
                                const real *opac, double *alpha) {
  double *tr = (double *)malloc(sizeof(double) * (size_t)c->w * c->h);
  for (int i = 0; i < c->w * c->h; ++i) tr[i] = 1;
  double limx = 1.3 * (0.5 * c->w / c->fx), limy = 1.3 * (0.5 * c->h / c->fy);
  for (int64_t g = 0; g < m; ++g) {
    double o = opac[g];
    if (!(o * 0.99 >= 1.0 / 255)) continue;
    double p[3], t[3];
    for (int k = 0; k < 3; ++k) p[k] = means[3 * g + k] - c->eye[k];
    for (int a = 0; a < 3; ++a) t[a] = c->rot[a][0] * p[0] + c->rot[a][1] * p[1] + c->rot[a][2] * p[2];
    if (t[2] < 0.01) continue;
    double s[3][3] = {{covs[6 * g], covs[6 * g + 1], covs[6 * g + 2]},
                      {covs[6 * g + 1], covs[6 * g + 3], covs[6 * g + 4]},
                      {covs[6 * g + 2], covs[6 * g + 4], covs[6 * g + 5]}};
    double sc[3][3], tmp[3][3];
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
        tmp[a][b] = 0;
        for (int k = 0; k < 3; ++k) tmp[a][b] += c->rot[a][k] * s[k][b];
      }
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
        sc[a][b] = 0;
        for (int k = 0; k < 3; ++k) sc[a][b] += tmp[a][k] * c->rot[b][k];
      }
    double z = t[2];
    double tx = fmin(fmax(t[0] / z, -limx), limx) * z, ty = fmin(fmax(t[1] / z, -limy), limy) * z;
    double J[2][3] = {{c->fx / z, 0, -c->fx * tx / (z * z)}, {0, c->fy / z, -c->fy * ty / (z * z)}};
    double js[2][3], s2[2][2];
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 3; ++b) {
        js[a][b] = 0;
        for (int k = 0; k < 3; ++k) js[a][b] += J[a][k] * sc[k][b];
      }
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 2; ++b) {
        s2[a][b] = 0;
        for (int k = 0; k < 3; ++k) s2[a][b] += js[a][k] * J[b][k];
      }
    s2[0][0] += 0.3;
    s2[1][1] += 0.3;
    double det = s2[0][0] * s2[1][1] - s2[0][1] * s2[1][0];
    if (!(det > 0)) continue;
    double qa = s2[1][1] / det, qb = -s2[0][1] / det, qc = s2[0][0] / det;
    double u = c->fx * t[0] / z + c->cx, v = c->fy * t[1] / z + c->cy;
    double mid = 0.5 * (s2[0][0] + s2[1][1]);
    double lam = mid + sqrt(fmax(0.1, mid * mid - det));
    double rad = ceil(3.33 * sqrt(lam));
    int j0 = (int)floor(u - rad), j1 = (int)ceil(u + rad), i0 = (int)floor(v - rad), i1 = (int)ceil(v + rad);
    if (j0 < 0) j0 = 0;
    if (i0 < 0) i0 = 0;
    if (j1 > c->w - 1) j1 = c->w - 1;
    if (i1 > c->h - 1) i1 = c->h - 1;
    for (int i = i0; i <= i1; ++i)
      for (int j = j0; j <= j1; ++j) {
        double dx = j + 0.5 - u, dy = i + 0.5 - v;
        double pw = -0.5 * (qa * dx * dx + 2 * qb * dx * dy + qc * dy * dy);
        if (pw > 0) continue;
        double al = fmin(0.99, o * exp(pw));
        if (al < 1.0 / 255) continue;
        tr[i * c->w + j] *= 1 - al;
      }
  }
  for (int i = 0; i < c->w * c->h; ++i) alpha[i] = 1 - tr[i];
  free(tr);
}

#endif
