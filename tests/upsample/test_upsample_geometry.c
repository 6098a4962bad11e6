/* test_upsample_geometry.c (double precision):
 *  - at F = I and zero displacement the bound Gaussians reproduce the rest surface: means = rest samples,
 *    Sigma = Sigma0, colours and opacities as initialised; mesh samples lie on the placed mesh, particle-set
 *    samples on the iso-surface phi = 0.5 (checked with the test's own density sum), normals along -grad phi;
 *  - surface sampling: Poisson-disk (no two samples closer than the spacing) and covering (every point of the
 *    mesh surface is within 1.5 spacings of a sample);
 *  - a rigid motion of all particles (x -> R x + t, F -> R F) moves every Gaussian exactly: mu -> R mu + t,
 *    Sigma -> R Sigma R^T, opacity and colour unchanged, in every mode;
 *  - the placement convention (ups_place_point). */
#include <stdio.h>

#include "core/rotation.h"
#include "mpm/mpm.h"
#include "tests/upsample/ups_test_util.h"
#include "upsample/upsample_kernels.h"

#ifndef PL_REAL_DOUBLE
#error "test_upsample_geometry is built against the double-precision library"
#endif

static const double DP = 0.02, C0[3] = {0.31, 0.52, 0.47};

/* The test's own cubic B-spline and lattice normalisation (independent of upsample_kernels.h). */
static double spline(double q) {
  if (q < 1) return 1 - 1.5 * q * q + 0.75 * q * q * q;
  if (q < 2) return 0.25 * (2 - q) * (2 - q) * (2 - q);
  return 0;
}
static double spline_d(double q) {
  if (q < 1) return -3 * q + 2.25 * q * q;
  if (q < 2) return -0.75 * (2 - q) * (2 - q);
  return 0;
}
static void density(const real *pts, int n, const double y[3], double h, double *phi, double g[3]) {
  double norm = 0;
  for (int i = -4; i <= 4; ++i)
    for (int j = -4; j <= 4; ++j)
      for (int k = -4; k <= 4; ++k) norm += spline(DP * sqrt((double)(i * i + j * j + k * k)) / h);
  *phi = 0;
  g[0] = g[1] = g[2] = 0;
  for (int p = 0; p < n; ++p) {
    double r[3] = {y[0] - pts[3 * p], y[1] - pts[3 * p + 1], y[2] - pts[3 * p + 2]};
    double d = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
    *phi += spline(d / h) / norm;
    if (d > 0)
      for (int k = 0; k < 3; ++k) g[k] += spline_d(d / h) / (h * d) * r[k] / norm;
  }
}


/* distance from p to triangle abc (Ericson, Real-Time Collision Detection, closest point on triangle) */
static double tri_dist(const double p[3], const double a[3], const double b[3], const double c[3]) {
  double ab[3], ac[3], ap[3], q[3];
  for (int k = 0; k < 3; ++k) ab[k] = b[k] - a[k], ac[k] = c[k] - a[k], ap[k] = p[k] - a[k];
#define DOT(u, v) ((u)[0] * (v)[0] + (u)[1] * (v)[1] + (u)[2] * (v)[2])
  double d1 = DOT(ab, ap), d2 = DOT(ac, ap);
  if (d1 <= 0 && d2 <= 0) {
    for (int k = 0; k < 3; ++k) q[k] = a[k];
  } else {
    double bp[3], cp[3];
    for (int k = 0; k < 3; ++k) bp[k] = p[k] - b[k], cp[k] = p[k] - c[k];
    double d3 = DOT(ab, bp), d4 = DOT(ac, bp), d5 = DOT(ab, cp), d6 = DOT(ac, cp);
    double vc = d1 * d4 - d3 * d2, vb = d5 * d2 - d1 * d6, va = d3 * d6 - d5 * d4;
    if (d3 >= 0 && d4 <= d3) {
      for (int k = 0; k < 3; ++k) q[k] = b[k];
    } else if (d6 >= 0 && d5 <= d6) {
      for (int k = 0; k < 3; ++k) q[k] = c[k];
    } else if (vc <= 0 && d1 >= 0 && d3 <= 0) {
      double v = d1 / (d1 - d3);
      for (int k = 0; k < 3; ++k) q[k] = a[k] + v * ab[k];
    } else if (vb <= 0 && d2 >= 0 && d6 <= 0) {
      double w = d2 / (d2 - d6);
      for (int k = 0; k < 3; ++k) q[k] = a[k] + w * ac[k];
    } else if (va <= 0 && (d4 - d3) >= 0 && (d5 - d6) >= 0) {
      double w = (d4 - d3) / ((d4 - d3) + (d5 - d6));
      for (int k = 0; k < 3; ++k) q[k] = b[k] + w * (c[k] - b[k]);
    } else {
      double den = 1 / (va + vb + vc), v = vb * den, w = vc * den;
      for (int k = 0; k < 3; ++k) q[k] = a[k] + ab[k] * v + ac[k] * w;
    }
  }
#undef DOT
  double d = 0;
  for (int k = 0; k < 3; ++k) d += (p[k] - q[k]) * (p[k] - q[k]);
  return sqrt(d);
}

typedef struct {
  ups *u;
  real *x0;
  int *obj;
  int n;
  pl_mesh ico;
  double placed[12 * 3];
} setup;


/* kind: 0 bound particle set, 1 bound mesh, 2 particles, 3 runtime, 4 bound + runtime */
static int make(setup *s, int kind, double jitter) {
  memset(s, 0, sizeof *s);
  s->n = ups_sphere_particles(C0, 5 * DP, DP, jitter, 21, &s->x0);
  s->obj = (int *)calloc((size_t)s->n, sizeof(int));
  ups_icosahedron(&s->ico, 0, 0, 0, 0, 0);
  static ups_object objs[2];
  memset(objs, 0, sizeof objs);
  objs[0].mode = kind == 2 ? UPS_PARTICLES : (kind == 3 ? UPS_RUNTIME : UPS_BOUND);
  objs[1].mode = UPS_RUNTIME;
  const double scale[3] = {5 * DP, 4.5 * DP, 5.2 * DP}, rot[3] = {25, -40, 70};
  if (kind == 1) {
    objs[0].mesh = &s->ico;
    for (int k = 0; k < 3; ++k) objs[0].center[k] = C0[k], objs[0].scale[k] = scale[k], objs[0].rotation_deg[k] = rot[k];
    double lo[3], hi[3];
    pl_mesh_bounds(&s->ico, lo, hi);
    for (int i = 0; i < 12; ++i) ups_place_point(C0, scale, rot, lo, hi, s->ico.verts + 3 * i, s->placed + 3 * i);
  }
  if (kind == 4) /* the right half of the sphere is a second, runtime object */
    for (int p = 0; p < s->n; ++p) s->obj[p] = s->x0[3 * p] > C0[0] + 0.5 * DP;
  ups_desc d;
  memset(&d, 0, sizeof d);
  d.backend = PL_BACKEND_CPU;
  d.nparticles = s->n;
  d.rest_positions = s->x0;
  d.object_index = s->obj;
  d.nobjects = kind == 4 ? 2 : 1;
  d.objects = objs;
  d.particle_spacing = DP;
  d.children = 5;
  d.seed = 4;
  pl_status st = ups_create(&s->u, &d);
  CHECK(st == PL_OK, "init (kind %d): %s", kind, pl_last_error());
  return st == PL_OK;
}
static void drop(setup *s) {
  ups_destroy(s->u);
  free(s->x0);
  free(s->obj);
}

static void test_rest(int kind) {
  setup s;
  if (!make(&s, kind, kind == 0 ? 0.6 : 0.0)) return;
  ups_info info;
  ups_get_info(s.u, &info);
  int64_t nb = info.nbound;
  real *rp = (real *)malloc(sizeof(real) * 3 * (size_t)nb), *rn = (real *)malloc(sizeof(real) * 3 * (size_t)nb);
  CHECK(ups_rest_samples(s.u, rp, rn) == PL_OK, "rest samples: %s", pl_last_error());
  real *f = ups_identity_F(s.n);
  ups_gaussians g;
  CHECK(ups_forward(s.u, s.x0, f, &g) == PL_OK, "forward: %s", pl_last_error());
  real *col;
  ups_param_buffers(s.u, &col, NULL);
  ups_params prm;
  ups_get_params(s.u, &prm);
  double sigma = prm.sigma0 * (kind == 2 ? 0.5 * DP : info.sample_spacing);
  double emu = 0, ecov = 0, eop = 0, ecol = 0, enorm = 0;
  for (int64_t i = 0; i < nb; ++i) {
    v3 n = v3_load(rn + 3 * i);
    if (kind != 2) enorm = fmax(enorm, fabs(v3_norm(n) - 1));
    m3 s0 = ups_sigma0(sigma, prm.thickness, n);
    for (int k = 0; k < 3; ++k) emu = fmax(emu, fabs(g.means[3 * i + k] - rp[3 * i + k]));
    real c6[6];
    ups_sym6_store(s0, c6);
    for (int k = 0; k < 6; ++k) ecov = fmax(ecov, fabs(g.covs[6 * i + k] - c6[k]) / (sigma * sigma));
    for (int k = 0; k < 3; ++k) ecol = fmax(ecol, fabs(g.colors[3 * i + k] - col[3 * i + k]));
    eop = fmax(eop, fabs(g.opacities[i] - prm.opacity));
  }
  fprintf(stderr, "kind %d: %lld rest samples; |mu - X| %.2e, |Sigma - Sigma0|/sigma^2 %.2e, opacity %.2e, normals %.2e\n",
          kind, (long long)nb, emu, ecov, eop, enorm);
  CHECK(emu <= 1e-14, "kind %d: means differ from the rest samples by %g", kind, emu);
  CHECK(ecov <= 1e-13, "kind %d: covariances differ from Sigma0 by %g (relative)", kind, ecov);
  CHECK(eop <= 1e-14 && ecol == 0, "kind %d: opacity %g / colour %g not as initialised", kind, eop, ecol);
  CHECK(enorm <= 1e-12, "kind %d: rest normals not unit (%g)", kind, enorm);
  if (kind == 2) { /* one Gaussian per particle, at the particle */
    double e = 0;
    for (int p = 0; p < s.n; ++p)
      for (int k = 0; k < 3; ++k) e = fmax(e, fabs(rp[3 * p + k] - s.x0[3 * p + k]));
    CHECK(nb == s.n && e == 0, "particles mode: %lld Gaussians for %d particles (position error %g)", (long long)nb, s.n, e);
  }
  /* samples on the surface: the placed mesh, or the iso-surface phi = 0.5 with normal along -grad phi */
  double on = 0, nalign = 0, mind = 1e30;
  for (int64_t i = 0; i < nb && kind <= 1; ++i) {
    double p[3] = {rp[3 * i], rp[3 * i + 1], rp[3 * i + 2]};
    if (kind == 1) {
      double dmin = 1e30;
      for (int t = 0; t < 20; ++t) {
        const int *fc = s.ico.faces + 3 * t;
        dmin = fmin(dmin, tri_dist(p, s.placed + 3 * fc[0], s.placed + 3 * fc[1], s.placed + 3 * fc[2]));
      }
      on = fmax(on, dmin);
    } else {
      double phi, gr[3];
      density(s.x0, s.n, p, 1.5 * DP, &phi, gr);
      on = fmax(on, fabs(phi - 0.5));
      double gl = sqrt(gr[0] * gr[0] + gr[1] * gr[1] + gr[2] * gr[2]);
      double c = -(gr[0] * rn[3 * i] + gr[1] * rn[3 * i + 1] + gr[2] * rn[3 * i + 2]) / gl;
      nalign = fmax(nalign, 1 - c);
    }
    for (int64_t j = i + 1; j < nb; ++j) {
      double d2 = 0;
      for (int k = 0; k < 3; ++k) d2 += (rp[3 * i + k] - rp[3 * j + k]) * (rp[3 * i + k] - rp[3 * j + k]);
      mind = fmin(mind, sqrt(d2));
    }
  }
  if (kind == 0) {
    fprintf(stderr, "   particle-set samples: max |phi - 0.5| %.2e, max 1 - cos(normal, -grad phi) %.2e, min distance "
            "%.3f spacings\n", on, nalign, mind / info.sample_spacing);
    CHECK(on < 1e-4 && nalign < 1e-8, "samples off the iso-surface (%g) or normals off -grad phi (%g)", on, nalign);
  }
  if (kind == 1) {
    fprintf(stderr, "   mesh samples: max distance to the placed mesh %.2e, min distance %.3f spacings\n", on, mind / info.sample_spacing);
    CHECK(on < 1e-13, "mesh samples off the placed mesh by %g", on);
    /* coverage: random points of the placed mesh are all within 1.5 spacings of a sample */
    double worst = 0;
    for (int t = 0; t < 20; ++t)
      for (int r = 0; r < 200; ++r) {
        double a = fabs(test_rand()), b = fabs(test_rand());
        if (a + b > 1) a = 1 - a, b = 1 - b;
        const int *fc = s.ico.faces + 3 * t;
        double p[3], best = 1e30;
        for (int k = 0; k < 3; ++k)
          p[k] = s.placed[3 * fc[0] + k] + a * (s.placed[3 * fc[1] + k] - s.placed[3 * fc[0] + k]) +
                 b * (s.placed[3 * fc[2] + k] - s.placed[3 * fc[0] + k]);
        for (int64_t i = 0; i < nb; ++i) {
          double d2 = 0;
          for (int k = 0; k < 3; ++k) d2 += (p[k] - rp[3 * i + k]) * (p[k] - rp[3 * i + k]);
          best = fmin(best, d2);
        }
        worst = fmax(worst, sqrt(best));
      }
    fprintf(stderr, "   coverage: farthest surface point from a sample %.3f spacings\n", worst / info.sample_spacing);
    CHECK(worst <= 1.5 * info.sample_spacing, "a surface point is %.3f spacings from the nearest sample",
          worst / info.sample_spacing);
  }
  if (kind <= 1) CHECK(mind >= info.sample_spacing * (1 - 1e-12), "two samples closer than the spacing: %g", mind);
  free(rp);
  free(rn);
  free(f);
  drop(&s);
}

static void test_rigid(int kind) {
  setup s;
  if (!make(&s, kind, 0.7)) return;
  const int n = s.n;
  /* a deformed state, then a rigid motion on top of it */
  real *x = (real *)malloc(sizeof(real) * 3 * (size_t)n), *f = (real *)malloc(sizeof(real) * 9 * (size_t)n);
  real *x2 = (real *)malloc(sizeof(real) * 3 * (size_t)n), *f2 = (real *)malloc(sizeof(real) * 9 * (size_t)n);
  for (int p = 0; p < n; ++p) {
    for (int k = 0; k < 3; ++k) x[3 * p + k] = s.x0[3 * p + k] + 0.1 * DP * test_rand() + 0.05 * (s.x0[3 * p] - C0[0]) * (k == 1);
    m3 fp = m3_identity();
    fp.m[1][0] += 0.05;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) fp.m[i][j] += 0.05 * test_rand();
    m3_store(fp, f + 9 * p);
  }
  m3 rot = ups_rotation(0.3, -1.0, 0.5, 2.1);
  v3 tr = v3_make(0.7, -0.2, 1.3);
  for (int p = 0; p < n; ++p) {
    v3_store(v3_add(m3_mul_v(rot, v3_load(x + 3 * p)), tr), x2 + 3 * p);
    m3_store(m3_mul(rot, m3_load(f + 9 * p)), f2 + 9 * p);
  }
  ups_info info;
  ups_get_info(s.u, &info);
  size_t m = (size_t)info.count;
  real *a = (real *)malloc(sizeof(real) * 13 * m), *b = (real *)malloc(sizeof(real) * 13 * m);
  CHECK(ups_forward(s.u, x, f, NULL) == PL_OK, "forward: %s", pl_last_error());
  ups_download(s.u, a, a + 3 * m, a + 9 * m, a + 12 * m);
  CHECK(ups_forward(s.u, x2, f2, NULL) == PL_OK, "forward: %s", pl_last_error());
  ups_download(s.u, b, b + 3 * m, b + 9 * m, b + 12 * m);
  double emu = 0, ecov = 0, eop = 0, ecol = 0, scale = 0, visible = 0;
  for (size_t g = 0; g < m; ++g) {
    v3 mu = v3_add(m3_mul_v(rot, v3_load(a + 3 * g)), tr);
    m3 cv = ups_cov_push(rot, ups_sym6_load(a + 3 * m + 6 * g));
    real c6[6];
    ups_sym6_store(cv, c6);
    for (int k = 0; k < 3; ++k) emu = fmax(emu, fabs(b[3 * g + k] - v3_get(mu, k)));
    for (int k = 0; k < 6; ++k) ecov = fmax(ecov, fabs(b[3 * m + 6 * g + k] - c6[k]));
    for (int k = 0; k < 6; ++k) scale = fmax(scale, fabs(c6[k]));
    for (int k = 0; k < 3; ++k) ecol = fmax(ecol, fabs(b[9 * m + 3 * g + k] - a[9 * m + 3 * g + k]));
    eop = fmax(eop, fabs(b[12 * m + g] - a[12 * m + g]));
    visible += a[12 * m + g] > 0;
  }
  fprintf(stderr, "rigid motion, kind %d (%zu Gaussians, %.0f visible): |mu| %.2e, |Sigma|/max %.2e, opacity %.2e\n", kind,
          m, visible, emu, ecov / scale, eop);
  CHECK(emu <= 1e-12, "kind %d: means do not follow the rigid motion (error %g)", kind, emu);
  CHECK(ecov <= 1e-12 * scale, "kind %d: covariances do not rotate (error %g of %g)", kind, ecov, scale);
  CHECK(eop <= 1e-12 && ecol == 0, "kind %d: opacity (%g) or colour (%g) changed under a rigid motion", kind, eop, ecol);
  free(a);
  free(b);
  free(x);
  free(f);
  free(x2);
  free(f2);
  drop(&s);
}

static void test_placement(void) {
  /* a 90 degree rotation about z maps +x to +y; about x maps +y to +z; XYZ order: x first */
  double r[9];
  const double rz[3] = {0, 0, 90}, rx[3] = {90, 0, 0}, rxz[3] = {90, 0, 90};
  pl_euler_xyz_deg(rz, r);
  CHECK(fabs(r[3] - 1) < 1e-15 && fabs(r[0]) < 1e-15, "Rz(90) does not map x to y");
  pl_euler_xyz_deg(rx, r);
  CHECK(fabs(r[7] - 1) < 1e-15, "Rx(90) does not map y to z");
  /* Rz Ry Rx: y --Rx(90)--> z --Rz(90)--> z */
  pl_euler_xyz_deg(rxz, r);
  CHECK(fabs(r[7] - 1) < 1e-15, "XYZ order: y should map to z");
  /* particles (the simulator's mpm_euler_deg) and their Gaussians (ups_place_point) are placed by the
   * same rotation: bit for bit, at angles about all three axes */
  const double rot[3] = {17, -41, 123}, zero[3] = {0, 0, 0}, one[3] = {1, 1, 1};
  double rm[9];
  mpm_euler_deg(rot, rm);
  pl_euler_xyz_deg(rot, r);
  for (int k = 0; k < 9; ++k) CHECK(rm[k] == r[k], "mpm_euler_deg and pl_euler_xyz_deg differ at %d", k);
  for (int a = 0; a < 3; ++a) {
    double e[3] = {a == 0, a == 1, a == 2}, q[3];
    ups_place_point(zero, one, rot, zero, zero, e, q);
    for (int i = 0; i < 3; ++i)
      CHECK(q[i] == rm[3 * i + a], "placement column %d differs from the simulator's rotation (%g vs %g)", a, q[i],
            rm[3 * i + a]);
  }
  /* bounding-box centre lands at center; scale before rotation */
  const double lo[3] = {1, 2, 3}, hi[3] = {3, 6, 5}, c[3] = {0.5, 0.5, 0.5}, sc[3] = {2, 1, 1}, p[3] = {3, 4, 4};
  double o[3];
  ups_place_point(c, sc, rz, lo, hi, p, o);
  /* p - centre = (1, 0, 0); scaled (2, 0, 0); Rz(90) -> (0, 2, 0) */
  CHECK(fabs(o[0] - 0.5) < 1e-15 && fabs(o[1] - 2.5) < 1e-15 && fabs(o[2] - 0.5) < 1e-15, "placement: (%g %g %g)",
        o[0], o[1], o[2]);
}

int main(void) {
  test_placement();
  for (int kind = 0; kind <= 2; ++kind) test_rest(kind);
  for (int kind = 0; kind <= 4; ++kind) test_rigid(kind);
  return test_summary("test_upsample_geometry");
}
