/* mpm_test_util.h: small helpers shared by the MPM tests. */
#ifndef PL_MPM_TEST_UTIL_H
#define PL_MPM_TEST_UTIL_H

#include <math.h>
#include <stdlib.h>

#include "mpm/mpm.h"
#include "tests/test_util.h"

/* A descriptor on the unit box with one material and no colliders. */
static mpm_desc tu_desc(int grid, const mpm_material *mats, int nmats) {
  mpm_desc d;
  memset(&d, 0, sizeof d);
  for (int a = 0; a < 3; ++a) d.domain_max[a] = 1;
  d.grid = grid;
  d.gravity[1] = -9.8;
  d.boundary = MPM_CONTACT_SLIP;
  d.frame_dt = 1.0 / 60;
  d.seed = 7;
  d.backend = PL_BACKEND_CPU;
  d.materials = mats;
  d.nmaterials = nmats;
  return d;
}

static mpm_material tu_material(int model, double E, double nu, double rho) {
  mpm_material m;
  memset(&m, 0, sizeof m);
  m.model = model;
  m.E = E;
  m.nu = nu;
  m.density = rho;
  return m;
}

static mpm_object tu_box(double cx, double cy, double cz, double sx, double sy, double sz, int material) {
  mpm_object o;
  memset(&o, 0, sizeof o);
  o.shape = MPM_SHAPE_BOX;
  o.center[0] = cx, o.center[1] = cy, o.center[2] = cz;
  o.size[0] = sx, o.size[1] = sy, o.size[2] = sz;
  o.material = material;
  o.particles_per_cell = 8;
  return o;
}

/* Sample and create; aborts the test on failure. */
static mpm_sim *tu_make(const mpm_desc *d, const mpm_object *objs, int nobj) {
  mpm_sim *s = NULL;
  mpm_particles p;
  pl_status st = mpm_sample_objects(d, objs, nobj, &p);
  if (st != PL_OK) {
    fprintf(stderr, "sampling failed: %s\n", pl_last_error());
    exit(1);
  }
  st = mpm_create(&s, d, &p, objs, nobj);
  mpm_particles_free(&p);
  if (st != PL_OK) {
    fprintf(stderr, "mpm_create failed: %s\n", pl_last_error());
    exit(1);
  }
  return s;
}

/* Download the state into freshly allocated host arrays (static fields too). */
static void tu_get(mpm_sim *s, mpm_particles *h) {
  if (h->n != s->n) {
    mpm_particles_free(h);
    if (mpm_particles_alloc(h, s->n) != PL_OK) exit(1);
    pl_buffer_download(&s->mass, 0, h->mass, (size_t)s->n * sizeof(real));
    pl_buffer_download(&s->vol0, 0, h->vol0, (size_t)s->n * sizeof(real));
    pl_buffer_download(&s->material, 0, h->material, (size_t)s->n * sizeof(int32_t));
  }
  if (mpm_download(s, &s->state, h) != PL_OK) {
    fprintf(stderr, "download failed: %s\n", pl_last_error());
    exit(1);
  }
}

/* A deposit's free surface along x: the top of the particles (height above y0) in nb columns of width dx from x0;
 * *hmax the highest column. Returns the least-squares slope dy/dx of the flank (the surface between 20% and 80%
 * of hmax, in the columns beyond the highest one, which leaves out the wall band where grains settle) and the
 * number of columns fitted (*ncols; a slope needs >= 3). */
static double tu_flank_slope(const mpm_particles *h, double x0, double y0, double dx, int nb, double *hmax_out,
                             double *ncols) {
  double *top = (double *)calloc((size_t)nb, sizeof(double));
  for (int64_t p = 0; p < h->n; ++p) {
    int i = (int)floor((h->x[3 * p] - x0) / dx);
    if (i >= 0 && i < nb) top[i] = fmax(top[i], h->x[3 * p + 1] - y0);
  }
  double hmax = 0;
  int ipk = 0;
  for (int i = 0; i < nb; ++i)
    if (top[i] > hmax) hmax = top[i], ipk = i;
  double sx = 0, sy = 0, sxx = 0, sxy = 0, n = 0;
  for (int i = ipk + 1; i < nb; ++i)
    if (top[i] > 0.2 * hmax && top[i] < 0.8 * hmax) {
      double x = (i + 0.5) * dx;
      sx += x, sy += top[i], sxx += x * x, sxy += x * top[i], n += 1;
    }
  free(top);
  *hmax_out = hmax;
  *ncols = n;
  return (n * sxy - sx * sy) / (n * sxx - sx * sx);
}

/* Run frames until time tmax, or until the kinetic energy per unit mass falls below ke_tol once the time passes
 * tmin; h holds the last state. */
static void tu_settle(mpm_sim *s, mpm_particles *h, double tmin, double tmax, double ke_tol) {
  while (s->time < tmax) {
    if (mpm_advance_frame(s) != PL_OK) {
      fprintf(stderr, "frame %d: %s\n", s->frame, pl_last_error());
      exit(1);
    }
    if (s->time < tmin) continue;
    tu_get(s, h);
    double ke = 0, M = 0;
    for (int64_t p = 0; p < h->n; ++p) {
      M += h->mass[p];
      for (int c = 0; c < 3; ++c) ke += 0.5 * h->mass[p] * h->v[3 * p + c] * h->v[3 * p + c];
    }
    if (ke / M < ke_tol) break;
  }
  tu_get(s, h);
}

/* The main of a test program with one CTest test per case: argv[1] names a case ("all" or none: every case;
 * an unknown name is a failure), "--small" anywhere after it sets *small (the sanitizer build's variants). */
typedef struct {
  const char *name;
  void (*run)(void);
} tu_case;

static int tu_main(int argc, char **argv, const tu_case *cases, int ncases, int *small, const char *program) {
  const char *which = argc > 1 ? argv[1] : "all";
  for (int i = 2; i < argc; ++i)
    if (strcmp(argv[i], "--small") == 0 && small) *small = 1;
  int all = strcmp(which, "all") == 0, ran = 0;
  for (int k = 0; k < ncases; ++k)
    if (all || strcmp(which, cases[k].name) == 0) {
      cases[k].run();
      ran++;
    }
  CHECK(ran > 0, "%s: no case named '%s'", program, which);
  return test_summary(program);
}

static void tu_centroid(const mpm_particles *h, double c[3]) {
  double m = 0;
  c[0] = c[1] = c[2] = 0;
  for (int64_t p = 0; p < h->n; ++p) {
    m += h->mass[p];
    for (int a = 0; a < 3; ++a) c[a] += h->mass[p] * h->x[3 * p + a];
  }
  for (int a = 0; a < 3; ++a) c[a] /= m;
}

#endif
