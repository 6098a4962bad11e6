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
#include "raster/raster.h"
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

/* The camera pose from the rasterizer's look-at (raster_viewmat_look_at: OpenCV axes, one copy in the tree). */
static void ups_look_at(ups_camera *c, int w, int h, double fov_deg, const double eye[3], const double target[3],
                        const double up[3]) {
  raster_camera rc;
  raster_camera_look_at(&rc, w, h, fov_deg, eye, target, up);
  c->w = w;
  c->h = h;
  c->fx = rc.fx, c->fy = rc.fy, c->cx = rc.cx, c->cy = rc.cy;
  for (int r = 0; r < 3; ++r)
    for (int k = 0; k < 3; ++k) c->rot[r][k] = rc.viewmat[4 * r + k];
  for (int k = 0; k < 3; ++k) c->eye[k] = eye[k];
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
 * 1/255 are skipped as the rasterizer does. Gaussians are composited front to back (sorted by camera depth of
 * their means); depth (may be NULL) gets the expected depth sum(z alpha T) / alpha of each pixel. */
typedef struct {
  double z;
  int64_t g;
} ups_zsort;
static int ups_cmp_z(const void *a, const void *b) {
  const ups_zsort *x = (const ups_zsort *)a, *y = (const ups_zsort *)b;
  return x->z < y->z ? -1 : (x->z > y->z ? 1 : (x->g < y->g ? -1 : (x->g > y->g)));
}

static void ups_composite_alpha_depth(const ups_camera *c, int64_t m, const real *means, const real *covs,
                                      const real *opac, double *alpha, double *depth) {
  double *tr = (double *)malloc(sizeof(double) * (size_t)c->w * c->h);
  double *dz = (double *)calloc((size_t)c->w * c->h, sizeof(double));
  for (int i = 0; i < c->w * c->h; ++i) tr[i] = 1;
  double limx = 1.3 * (0.5 * c->w / c->fx), limy = 1.3 * (0.5 * c->h / c->fy);
  ups_zsort *order = (ups_zsort *)malloc(sizeof(ups_zsort) * (size_t)(m > 0 ? m : 1));
  int64_t no = 0;
  for (int64_t g = 0; g < m; ++g) {
    if (!(opac[g] * 0.99 >= 1.0 / 255)) continue;
    double z = 0;
    for (int k = 0; k < 3; ++k) z += c->rot[2][k] * (means[3 * g + k] - c->eye[k]);
    order[no].z = z;
    order[no++].g = g;
  }
  qsort(order, (size_t)no, sizeof(ups_zsort), ups_cmp_z);
  for (int64_t oi = 0; oi < no; ++oi) {
    int64_t g = order[oi].g;
    double o = opac[g];
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
        dz[i * c->w + j] += z * al * tr[i * c->w + j];
        tr[i * c->w + j] *= 1 - al;
      }
  }
  for (int i = 0; i < c->w * c->h; ++i) {
    alpha[i] = 1 - tr[i];
    if (depth) depth[i] = alpha[i] > 0 ? dz[i] / alpha[i] : 0;
  }
  free(order);
  free(tr);
  free(dz);
}

static void ups_composite_alpha(const ups_camera *c, int64_t m, const real *means, const real *covs,
                                const real *opac, double *alpha) {
  ups_composite_alpha_depth(c, m, means, covs, opac, alpha, NULL);
}

/* ---------------------------------------------------------------- meshes */

/* A descriptor with one object (ob, zeroed, then its mode set) over particles x [n, 3] at spacing dp: the set-up
 * most tests and the benchmark start from. The caller sets what else applies. */
static void ups_desc_one(ups_desc *d, ups_object *ob, ups_mode mode, pl_backend be, int n,
                         const real *x, double dp) {
  memset(ob, 0, sizeof *ob);
  ob->mode = mode;
  memset(d, 0, sizeof *d);
  d->backend = be;
  d->nparticles = n;
  d->rest_positions = x;
  d->nobjects = 1;
  d->objects = ob;
  d->particle_spacing = dp;
}

/* An icosahedron of circumradius 1 (static storage per test file), with vertex colours when mod > 1
 * (c_ik = base + span * ((i * mi + k * mk) % mod) / (mod - 1)), else none. */
static void ups_icosahedron(pl_mesh *m, double base, double span, int mi, int mk, int mod) {
  static double verts[12 * 3], colors[12 * 3];
  static int faces[20 * 3] = {0, 11, 5, 0, 5,  1, 0, 1, 7, 0, 7,  10, 0, 10, 11, 1, 5, 9, 5, 11, 4, 11, 10, 2, 10, 7, 6, 7, 1, 8,
                              3, 9,  4, 3, 4,  2, 3, 2, 6, 3, 6,  8,  3, 8,  9,  4, 9, 5, 2, 4,  11, 6, 2,  10, 8, 6, 7, 9, 8, 1};
  const double t = (1 + sqrt(5.0)) / 2, l = sqrt(1 + t * t);
  const double v[12][3] = {{-1, t, 0}, {1, t, 0}, {-1, -t, 0}, {1, -t, 0}, {0, -1, t}, {0, 1, t},
                           {0, -1, -t}, {0, 1, -t}, {t, 0, -1}, {t, 0, 1}, {-t, 0, -1}, {-t, 0, 1}};
  for (int i = 0; i < 12; ++i)
    for (int k = 0; k < 3; ++k) {
      verts[3 * i + k] = v[i][k] / l;
      if (mod > 1) colors[3 * i + k] = base + span * ((i * mi + k * mk) % mod) / (double)(mod - 1);
    }
  memset(m, 0, sizeof *m);
  m->nverts = 12;
  m->nfaces = 20;
  m->verts = verts;
  m->faces = faces;
  m->colors = mod > 1 ? colors : NULL;
}

/* Placed vertices of a mesh (ups_place_point), malloc'ed [nverts, 3]. */
static double *ups_place_mesh(const pl_mesh *m, const double center[3], const double scale[3], const double rot[3]) {
  double lo[3], hi[3];
  pl_mesh_bounds(m, lo, hi);
  double *v = (double *)malloc(sizeof(double) * 3 * (size_t)m->nverts);
  for (int i = 0; i < m->nverts; ++i) ups_place_point(center, scale, rot, lo, hi, m->verts + 3 * i, v + 3 * i);
  return v;
}

static int cmp_dbl(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : (x > y);
}

/* Particles on a (jittered) lattice inside a closed mesh (placed vertices pv): each lattice row along x is cut
 * with every triangle and the crossings, sorted, give the inside intervals (parity). */
static int ups_mesh_particles(const pl_mesh *m, const double *pv, double dp, double jitter, uint64_t seed, real **out) {
  double lo[3] = {1e30, 1e30, 1e30}, hi[3] = {-1e30, -1e30, -1e30};
  for (int i = 0; i < m->nverts; ++i)
    for (int k = 0; k < 3; ++k) lo[k] = fmin(lo[k], pv[3 * i + k]), hi[k] = fmax(hi[k], pv[3 * i + k]);
  int nx = (int)ceil((hi[0] - lo[0]) / dp) + 1, ny = (int)ceil((hi[1] - lo[1]) / dp) + 1, nz = (int)ceil((hi[2] - lo[2]) / dp) + 1;
  real *p = (real *)malloc(sizeof(real) * 3 * (size_t)nx * ny * nz);
  double *xs = (double *)malloc(sizeof(double) * (size_t)m->nfaces);
  int n = 0;
  for (int j = 0; j < ny; ++j)
    for (int k = 0; k < nz; ++k) {
      double y = lo[1] + (j + 0.5) * dp + 1e-9, z = lo[2] + (k + 0.5) * dp + 1.3e-9;
      int nc = 0;
      for (int f = 0; f < m->nfaces; ++f) {
        const double *a = pv + 3 * m->faces[3 * f], *b = pv + 3 * m->faces[3 * f + 1], *c = pv + 3 * m->faces[3 * f + 2];
        double d = (b[1] - a[1]) * (c[2] - a[2]) - (c[1] - a[1]) * (b[2] - a[2]);
        if (d == 0) continue;
        double u = ((y - a[1]) * (c[2] - a[2]) - (c[1] - a[1]) * (z - a[2])) / d;
        double v = ((b[1] - a[1]) * (z - a[2]) - (y - a[1]) * (b[2] - a[2])) / d;
        if (u < 0 || v < 0 || u + v > 1) continue;
        xs[nc++] = a[0] + u * (b[0] - a[0]) + v * (c[0] - a[0]);
      }
      qsort(xs, (size_t)nc, sizeof(double), cmp_dbl);
      for (int i = 0; i < nx; ++i) {
        double x = lo[0] + (i + 0.5) * dp;
        int cross = 0;
        while (cross < nc && xs[cross] < x) ++cross;
        if (!(cross & 1)) continue;
        double c3[3] = {x, y, z};
        if (jitter > 0) {
          real u[4];
          pl_rng_uniform4(seed, (uint64_t)((i * 1000003LL + j) * 1000033LL + k), 7, u);
          for (int a = 0; a < 3; ++a) c3[a] += jitter * dp * ((double)u[a] - 0.5);
        }
        for (int a = 0; a < 3; ++a) p[3 * n + a] = (real)c3[a];
        ++n;
      }
    }
  free(xs);
  *out = p;
  return n;
}

/* Pixels covered by the projected triangles of a mesh (placed vertices pv), mask[h*w]. */
static void ups_mesh_silhouette(const ups_camera *c, const pl_mesh *m, const double *pv, unsigned char *mask) {
  memset(mask, 0, (size_t)c->w * c->h);
  for (int f = 0; f < m->nfaces; ++f) {
    double px[3], py[3];
    int ok = 1;
    for (int v = 0; v < 3; ++v) {
      const double *q = pv + 3 * m->faces[3 * f + v];
      double d[3], t[3];
      for (int k = 0; k < 3; ++k) d[k] = q[k] - c->eye[k];
      for (int a = 0; a < 3; ++a) t[a] = c->rot[a][0] * d[0] + c->rot[a][1] * d[1] + c->rot[a][2] * d[2];
      if (t[2] < 0.01) ok = 0;
      px[v] = c->fx * t[0] / t[2] + c->cx;
      py[v] = c->fy * t[1] / t[2] + c->cy;
    }
    if (!ok) continue;
    double area = (px[1] - px[0]) * (py[2] - py[0]) - (px[2] - px[0]) * (py[1] - py[0]);
    if (area == 0) continue;
    int j0 = (int)floor(fmin(px[0], fmin(px[1], px[2]))), j1 = (int)ceil(fmax(px[0], fmax(px[1], px[2])));
    int i0 = (int)floor(fmin(py[0], fmin(py[1], py[2]))), i1 = (int)ceil(fmax(py[0], fmax(py[1], py[2])));
    for (int i = i0 < 0 ? 0 : i0; i <= i1 && i < c->h; ++i)
      for (int j = j0 < 0 ? 0 : j0; j <= j1 && j < c->w; ++j) {
        double x = j + 0.5, y = i + 0.5;
        double w0 = (px[1] - x) * (py[2] - y) - (px[2] - x) * (py[1] - y);
        double w1 = (px[2] - x) * (py[0] - y) - (px[0] - x) * (py[2] - y);
        double w2 = (px[0] - x) * (py[1] - y) - (px[1] - x) * (py[0] - y);
        if ((w0 >= 0 && w1 >= 0 && w2 >= 0) || (w0 <= 0 && w1 <= 0 && w2 <= 0)) mask[i * c->w + j] = 1;
      }
  }
}

/* Erode a mask by r pixels (a pixel stays when every pixel within the (2r+1)^2 square is set). */
static void ups_erode(unsigned char *mask, int w, int h, int r) {
  unsigned char *o = (unsigned char *)malloc((size_t)w * h);
  for (int i = 0; i < h; ++i)
    for (int j = 0; j < w; ++j) {
      int keep = mask[i * w + j];
      for (int di = -r; di <= r && keep; ++di)
        for (int dj = -r; dj <= r && keep; ++dj) {
          int y = i + di, x = j + dj;
          if (y < 0 || x < 0 || y >= h || x >= w || !mask[y * w + x]) keep = 0;
        }
      o[i * w + j] = (unsigned char)keep;
    }
  memcpy(mask, o, (size_t)w * h);
  free(o);
}

#endif
