#include "core/mesh.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void pl_mesh_free(pl_mesh *m) {
  if (!m) return;
  free(m->verts);
  free(m->faces);
  free(m->uvs);
  free(m->face_uvs);
  free(m->colors);
  memset(m, 0, sizeof *m);
}

void pl_mesh_bounds(const pl_mesh *m, double lo[3], double hi[3]) {
  for (int k = 0; k < 3; ++k) {
    lo[k] = m->nverts ? m->verts[k] : 0;
    hi[k] = lo[k];
  }
  for (int i = 0; i < m->nverts; ++i)
    for (int k = 0; k < 3; ++k) {
      double v = m->verts[3 * i + k];
      if (v < lo[k]) lo[k] = v;
      if (v > hi[k]) hi[k] = v;
    }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : (x > y);
}

int pl_mesh_boundary_edges(const pl_mesh *m) {
  size_t ne = 3 * (size_t)m->nfaces;
  uint64_t *keys = (uint64_t *)malloc(ne * sizeof *keys);
  if (!keys) return -1;
  for (int f = 0; f < m->nfaces; ++f)
    for (int c = 0; c < 3; ++c) {
      uint32_t a = (uint32_t)m->faces[3 * f + c], b = (uint32_t)m->faces[3 * f + (c + 1) % 3];
      if (a > b) {
        uint32_t t = a;
        a = b;
        b = t;
      }
      keys[3 * (size_t)f + c] = ((uint64_t)a << 32) | b;
    }
  qsort(keys, ne, sizeof *keys, cmp_u64);
  int boundary = 0;
  for (size_t i = 0; i < ne;) {
    size_t j = i;
    while (j < ne && keys[j] == keys[i]) ++j;
    if (j - i == 1) ++boundary;
    i = j;
  }
  free(keys);
  return boundary;
}

double pl_mesh_signed_volume(const pl_mesh *m) {
  double v = 0;
  for (int f = 0; f < m->nfaces; ++f) {
    const double *a = m->verts + 3 * m->faces[3 * f], *b = m->verts + 3 * m->faces[3 * f + 1],
                 *c = m->verts + 3 * m->faces[3 * f + 2];
    v += a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) + a[2] * (b[0] * c[1] - b[1] * c[0]);
  }
  return v / 6.0;
}
