/* test_mpm_objects.c: filling shapes and meshes with particles. Counts against volume x particles per cell /
 * dx^3 for boxes, spheres, cylinders and meshes (watertight spot, the bunny with holes, the teapot with open
 * seams), errors for open surfaces, objects outside the box or in the wall band, bad settings; seeded,
 * reproducible jitter; initial velocities. Prints each measured count. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/mesh.h"
#include "core/progress.h"
#include "tests/mpm/mpm_test_util.h"

#define PI_ 3.14159265358979323846

static mpm_material g_mat;

static mpm_desc desc64(void) {
  g_mat = tu_material(MPM_FIXED_COROTATED, 1e5, 0.3, 1200);
  mpm_desc d = tu_desc(64, &g_mat, 1);
  return d;
}

static int64_t count_of(const mpm_desc *d, const mpm_object *o, pl_status *st) {
  mpm_particles p;
  *st = mpm_sample_objects(d, o, 1, &p);
  int64_t n = *st == PL_OK ? p.n : -1;
  mpm_particles_free(&p);
  return n;
}

static void expect_count(const char *what, const mpm_desc *d, const mpm_object *o, double volume, double tol) {
  pl_status st;
  int64_t n = count_of(d, o, &st);
  double dx = 1.0 / d->grid, expect = volume * o->particles_per_cell / (dx * dx * dx);
  printf("%-44s %8lld particles, expected %9.0f from its volume (%+.2f%%)\n", what, (long long)n, expect,
         100 * (n - expect) / expect);
  CHECK(st == PL_OK, "%s: %s", what, pl_last_error());
  CHECK(fabs(n - expect) <= tol * expect, "%s: %lld particles, expected %.0f", what, (long long)n, expect);
}

static void expect_error(const char *what, const mpm_desc *d, const mpm_object *o, const char *needle) {
  pl_status st;
  count_of(d, o, &st);
  printf("%-44s -> %s\n", what, st == PL_OK ? "(accepted)" : pl_last_error());
  CHECK(st != PL_OK, "%s: accepted", what);
  CHECK(strstr(pl_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", what, pl_last_error(), needle);
}

static double mesh_volume(const char *path) {
  pl_mesh m;
  if (pl_mesh_load_obj(&m, path) != PL_OK) return NAN;
  double v = fabs(pl_mesh_signed_volume(&m));
  pl_mesh_free(&m);
  return v;
}
static double mesh_extent(const char *path) {
  pl_mesh m;
  if (pl_mesh_load_obj(&m, path) != PL_OK) return NAN;
  double lo[3], hi[3];
  pl_mesh_bounds(&m, lo, hi);
  pl_mesh_free(&m);
  return fmax(hi[0] - lo[0], fmax(hi[1] - lo[1], hi[2] - lo[2]));
}

static void test_shapes(void) {
  mpm_desc d = desc64();
  mpm_object o = tu_box(0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0);
  o.regular = 1;
  expect_count("box 0.25^3, grid-aligned, regular", &d, &o, 0.25 * 0.25 * 0.25, 0);
  o.regular = 0;
  o.rotation[0] = 30, o.rotation[1] = 45, o.rotation[2] = 10;
  o.size[1] = 0.15;
  expect_count("box 0.25 x 0.15 x 0.25, rotated, jittered", &d, &o, 0.25 * 0.15 * 0.25, 0.03);
  mpm_object s = o;
  s.shape = MPM_SHAPE_SPHERE;
  s.radius = 0.15;
  expect_count("sphere r = 0.15", &d, &s, 4.0 / 3.0 * PI_ * pow(0.15, 3), 0.03);
  mpm_object c = o;
  c.shape = MPM_SHAPE_CYLINDER;
  c.radius = 0.1, c.height = 0.3;
  c.particles_per_cell = 5; /* not a cube: uniform jitter */
  expect_count("cylinder r = 0.1, h = 0.3, rotated, 5 per cell", &d, &c, PI_ * 0.01 * 0.3, 0.03);
}

static void test_meshes(void) {
  mpm_desc d = desc64();
  struct {
    const char *label, *path;
    double size, tol;
  } ms[] = {{"mesh spot (watertight)", "scenes/assets/spot.obj", 0.4, 0.03},
            {"mesh stanford-bunny (holes)", "scenes/assets/stanford-bunny.obj", 0.4, 0.04},
            {"mesh teapot (open seams, solid by winding)", "scenes/assets/teapot.obj", 0.4, 0.10}};
  for (int i = 0; i < 3; ++i) {
    double ext = mesh_extent(ms[i].path), vol = mesh_volume(ms[i].path);
    CHECK(isfinite(ext) && isfinite(vol), "%s cannot be read: %s", ms[i].path, pl_last_error());
    if (!isfinite(ext)) continue;
    mpm_object o;
    memset(&o, 0, sizeof o);
    o.shape = MPM_SHAPE_MESH;
    o.mesh_path = ms[i].path;
    o.center[0] = o.center[1] = o.center[2] = 0.5;
    double k = ms[i].size / ext;
    o.scale[0] = o.scale[1] = o.scale[2] = k;
    o.rotation[1] = 30;
    o.particles_per_cell = 8;
    double t0 = pl_now();
    expect_count(ms[i].label, &d, &o, vol * k * k * k, ms[i].tol);
    printf("   (sampled in %.2f s)\n", pl_now() - t0);
  }
  /* open surfaces: a flat sheet and an open hemispherical bowl */
  char dir[] = "/tmp/pl_mpm_objXXXXXX";
  if (!mkdtemp(dir)) return;
  char sheet[256], bowl[256], missing[256];
  snprintf(sheet, sizeof sheet, "%s/sheet.obj", dir);
  snprintf(bowl, sizeof bowl, "%s/bowl.obj", dir);
  snprintf(missing, sizeof missing, "%s/none.obj", dir);
  FILE *f = fopen(sheet, "w");
  fprintf(f, "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nf 1 2 3\nf 1 3 4\n");
  fclose(f);
  f = fopen(bowl, "w");
  const int nu = 24, nv = 8;
  fprintf(f, "v 0 0 -1\n");
  for (int j = 1; j <= nv; ++j)
    for (int i = 0; i < nu; ++i) {
      double th = PI_ / 2 * j / nv, ph = 2 * PI_ * i / nu;
      fprintf(f, "v %g %g %g\n", sin(th) * cos(ph), sin(th) * sin(ph), -cos(th));
    }
  for (int i = 0; i < nu; ++i) fprintf(f, "f 1 %d %d\n", 2 + (i + 1) % nu, 2 + i);
  for (int j = 1; j < nv; ++j)
    for (int i = 0; i < nu; ++i) {
      int a = 2 + (j - 1) * nu + i, b = 2 + (j - 1) * nu + (i + 1) % nu, c = 2 + j * nu + i, e = 2 + j * nu + (i + 1) % nu;
      fprintf(f, "f %d %d %d\nf %d %d %d\n", a, b, e, a, e, c);
    }
  fclose(f);
  mpm_object o;
  memset(&o, 0, sizeof o);
  o.shape = MPM_SHAPE_MESH;
  o.name = "sheet";
  o.center[0] = o.center[1] = o.center[2] = 0.5;
  o.scale[0] = o.scale[1] = o.scale[2] = 0.3;
  o.mesh_path = sheet;
  expect_error("flat sheet", &d, &o, "encloses no volume");
  o.name = "bowl";
  o.mesh_path = bowl;
  o.scale[0] = o.scale[1] = o.scale[2] = 0.15;
  expect_error("open hemispherical bowl", &d, &o, "encloses no volume");
  o.name = "ghost";
  o.mesh_path = missing;
  expect_error("missing mesh file", &d, &o, "ghost");
  unlink(sheet);
  unlink(bowl);
  rmdir(dir);
}

static void test_errors(void) {
  mpm_desc d = desc64();
  mpm_object o = tu_box(2.0, 0.5, 0.5, 0.2, 0.2, 0.2, 0);
  o.name = "far";
  expect_error("box outside the domain", &d, &o, "lies outside the simulation box");
  o = tu_box(0.5, 0.11, 0.5, 0.2, 0.2, 0.2, 0);
  o.name = "low";
  expect_error("box reaching into the wall band", &d, &o, "wall band");
  mpm_object m;
  memset(&m, 0, sizeof m);
  m.shape = MPM_SHAPE_MESH;
  m.name = "bigbunny";
  m.mesh_path = "scenes/assets/stanford-bunny.obj";
  m.center[0] = m.center[1] = m.center[2] = 0.5;
  m.scale[0] = m.scale[1] = m.scale[2] = 10; /* 1.5 m: larger than the box */
  expect_error("mesh larger than the domain", &d, &m, "bigbunny");
  o = tu_box(0.5, 0.5, 0.5, 0.2, 0.2, 0.2, 0);
  o.name = "reg5";
  o.regular = 1;
  o.particles_per_cell = 5;
  expect_error("regular sampling, 5 per cell", &d, &o, "cube number");
  o.regular = 0;
  o.material = 3;
  expect_error("unknown material index", &d, &o, "material index");
  o.material = 0;
  o.shape = MPM_SHAPE_SPHERE;
  o.radius = 1e-4;
  o.name = "speck";
  expect_error("sphere smaller than a sample spacing", &d, &o, "no particles");
}

static void test_jitter_and_velocity(void) {
  mpm_desc d = desc64();
  mpm_object o = tu_box(0.5, 0.5, 0.5, 0.2, 0.2, 0.2, 0);
  o.velocity[0] = 1, o.velocity[1] = 2, o.velocity[2] = 3;
  o.angular_velocity[2] = 5;
  mpm_particles a, b, c;
  CHECK(mpm_sample_objects(&d, &o, 1, &a) == PL_OK, "%s", pl_last_error());
  CHECK(mpm_sample_objects(&d, &o, 1, &b) == PL_OK, "%s", pl_last_error());
  d.seed = 8;
  CHECK(mpm_sample_objects(&d, &o, 1, &c) == PL_OK, "%s", pl_last_error());
  CHECK(a.n == b.n && memcmp(a.x, b.x, (size_t)a.n * 3 * sizeof(real)) == 0, "same seed, different particles");
  CHECK(a.n != c.n || memcmp(a.x, c.x, (size_t)a.n * 3 * sizeof(real)) != 0, "another seed gives the same jitter");
  double err = 0, dmin = 1;
  for (int64_t p = 0; p < a.n; ++p) {
    double rx = a.x[3 * p] - 0.5, ry = a.x[3 * p + 1] - 0.5;
    err = fmax(err, fabs(a.v[3 * p] - (1 - 5 * ry)));
    err = fmax(err, fabs(a.v[3 * p + 1] - (2 + 5 * rx)));
    err = fmax(err, fabs(a.v[3 * p + 2] - 3));
    CHECK(a.material[p] == 0 && a.object[p] == 0, "material/object tags");
    CHECK(fabs(a.mass[p] - 1200 * a.vol0[p]) < 1e-6 * a.mass[p], "mass = density x volume");
    if (p > 0) dmin = fmin(dmin, fabs(a.x[3 * p] - a.x[3 * p - 3]) + fabs(a.x[3 * p + 1] - a.x[3 * p - 2]) + fabs(a.x[3 * p + 2] - a.x[3 * p - 1]));
  }
  printf("initial velocity v0 + w x (x - c): max error %.2e m/s over %lld particles\n", err, (long long)a.n);
  CHECK(err < 1e-5, "initial velocity field off by %g", err);
  CHECK(dmin > 0, "two particles at the same place");
  mpm_particles_free(&a);
  mpm_particles_free(&b);
  mpm_particles_free(&c);
}

int main(void) {
  test_shapes();
  test_meshes();
  test_errors();
  test_jitter_and_velocity();
  return test_summary("test_mpm_objects");
}
