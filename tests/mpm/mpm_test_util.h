/* mpm_test_util.h: small helpers shared by the MPM tests. */
#ifndef PL_MPM_TEST_UTIL_H
#define PL_MPM_TEST_UTIL_H

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
