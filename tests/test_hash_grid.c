/* test_hash_grid.c: core/hash_grid against brute force. The cell map (insert, overwrite, growth, misses), cell
 * keys (distinct for neighbouring cells, negative coordinates), and the static grid's radius queries: the same
 * neighbours as an all-pairs search, visited in the documented order (cells lexicographic, indices ascending
 * within a cell), and the too-far-from-the-origin error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash_grid.h"
#include "core/rotation.h"
#include "tests/test_util.h"

static void test_cellmap(void) {
  pl_cellmap m;
  CHECK(pl_cellmap_init(&m, 4) == PL_OK, "init");
  const int n = 5000; /* far past the initial 1024 slots: several growths */
  for (int i = 0; i < n; ++i) CHECK(pl_cellmap_put(&m, pl_cell_key(i % 17 - 8, i / 17 - 100, -i), i) == PL_OK, "put");
  CHECK(m.count == (size_t)n, "count %zu", m.count);
  int bad = 0;
  for (int i = 0; i < n; ++i) bad += pl_cellmap_get(&m, pl_cell_key(i % 17 - 8, i / 17 - 100, -i)) != i;
  CHECK(bad == 0, "%d keys lost after growth", bad);
  CHECK(pl_cellmap_get(&m, pl_cell_key(1000, 1000, 1000)) == -1, "a missing key must give -1");
  CHECK(pl_cellmap_put(&m, pl_cell_key(0, -100, -8), 77) == PL_OK && pl_cellmap_get(&m, pl_cell_key(0, -100, -8)) == 77,
        "overwrite");
  CHECK(m.count == (size_t)n, "an overwrite is not a new entry");
  pl_cellmap_free(&m);
  /* the 27 neighbours of a cell (negative coordinates included) have 27 distinct keys */
  uint64_t k[27];
  int e = 0;
  for (int di = -1; di <= 1; ++di)
    for (int dj = -1; dj <= 1; ++dj)
      for (int dk = -1; dk <= 1; ++dk) k[e++] = pl_cell_key(di, dj - 1, dk);
  for (int a = 0; a < 27; ++a)
    for (int b = a + 1; b < 27; ++b) CHECK(k[a] != k[b], "keys %d and %d collide", a, b);
}

typedef struct {
  int idx[4096];
  double d2[4096];
  int count;
} hits;

static void record(int idx, double d2, void *ctx) {
  hits *h = (hits *)ctx;
  if (h->count < 4096) h->idx[h->count] = idx, h->d2[h->count] = d2;
  h->count++;
}

static void test_grid(void) {
  const int n = 3000;
  double *p = (double *)malloc(sizeof(double) * 3 * n);
  for (int i = 0; i < 3 * n; ++i) p[i] = 2.0 * test_rand() - 1.3; /* negative and positive coordinates */
  pl_hash_grid g;
  const double cell = 0.11;
  CHECK(pl_hash_grid_build(&g, p, n, cell) == PL_OK, "build: %s", pl_last_error());
  int wrong = 0, order = 0;
  for (int t = 0; t < 200; ++t) {
    double y[3] = {2 * test_rand() - 1.3, 2 * test_rand() - 1.3, 2 * test_rand() - 1.3};
    double radius = t % 2 ? 0.07 : 0.25; /* below and above one cell */
    hits h;
    h.count = 0;
    pl_hash_grid_query(&g, y, radius, record, &h);
    int brute = 0;
    for (int i = 0; i < n; ++i) {
      double d2 = 0;
      for (int k = 0; k < 3; ++k) d2 += (p[3 * i + k] - y[k]) * (p[3 * i + k] - y[k]);
      if (d2 <= radius * radius) {
        ++brute;
        int found = 0;
        for (int j = 0; j < h.count; ++j) found |= h.idx[j] == i && h.d2[j] == d2;
        wrong += !found;
      }
    }
    wrong += brute != h.count;
    /* order: the cell of each hit is lexicographically non-decreasing, indices ascending within a cell */
    for (int j = 1; j < h.count; ++j) {
      int a[3], b[3];
      pl_cell_of(p + 3 * h.idx[j - 1], 1 / cell, a);
      pl_cell_of(p + 3 * h.idx[j], 1 / cell, b);
      int cmp = a[0] != b[0] ? (a[0] < b[0] ? -1 : 1) : a[1] != b[1] ? (a[1] < b[1] ? -1 : 1) : a[2] != b[2] ? (a[2] < b[2] ? -1 : 1) : 0;
      if (cmp > 0 || (cmp == 0 && h.idx[j - 1] >= h.idx[j])) ++order;
    }
  }
  CHECK(wrong == 0, "%d queries disagree with brute force", wrong);
  CHECK(order == 0, "%d hits out of the documented order", order);
  pl_hash_grid_free(&g);
  p[3 * 17 + 1] = 1e12; /* beyond the packed key range */
  CHECK(pl_hash_grid_build(&g, p, n, cell) == PL_ERR_NUMERIC, "a point too far from the origin must fail");
  CHECK(strstr(pl_last_error(), "point 17") != NULL, "the message names the point: %s", pl_last_error());
  free(p);
}

/* core/rotation.h: R = Rz Ry Rx, orthonormal, x rotated first. */
static void test_rotation(void) {
  double r[9];
  pl_euler_xyz_deg((const double[3]){90, 0, 90}, r); /* y --Rx--> z --Rz--> z; x --Rx--> x --Rz--> y */
  CHECK(fabs(r[7] - 1) < 1e-15 && fabs(r[3] - 1) < 1e-15, "XYZ order");
  pl_euler_xyz_deg((const double[3]){13, -71, 200}, r);
  double e = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      double d = r[3 * i] * r[3 * j] + r[3 * i + 1] * r[3 * j + 1] + r[3 * i + 2] * r[3 * j + 2];
      e = fmax(e, fabs(d - (i == j)));
    }
  CHECK(e < 1e-14, "R R^T = I (error %g)", e);
  /* pl_euler_xyz_deg_jac: the same R, and dR/d(angle) per radian against central differences */
  const double deg[3] = {13, -71, 200};
  double rj[9], dr[3][9], worst = 0, same = 0;
  pl_euler_xyz_deg_jac(deg, rj, dr);
  for (int k = 0; k < 9; ++k) same = fmax(same, fabs(rj[k] - r[k]));
  const double h = 1e-6 * 180 / 3.14159265358979323846; /* 1e-6 rad, in degrees */
  for (int j = 0; j < 3; ++j) {
    double dp[3] = {deg[0], deg[1], deg[2]}, dm[3] = {deg[0], deg[1], deg[2]}, rp[9], rm[9];
    dp[j] += h, dm[j] -= h;
    pl_euler_xyz_deg(dp, rp);
    pl_euler_xyz_deg(dm, rm);
    for (int k = 0; k < 9; ++k) worst = fmax(worst, fabs((rp[k] - rm[k]) / 2e-6 - dr[j][k]));
  }
  CHECK(same == 0, "the Jacobian variant's R differs from pl_euler_xyz_deg by %g", same);
  CHECK(worst < 1e-8, "dR/d(angle) against central differences: %g", worst);
  printf("rotation: dR/d(angle) vs central differences %.2g\n", worst);
}

int main(void) {
  test_cellmap();
  test_grid();
  test_rotation();
  return test_summary("test_hash_grid");
}
