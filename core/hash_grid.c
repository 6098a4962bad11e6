/* hash_grid.c: the cell map and the static point grid of hash_grid.h. */
#include "core/hash_grid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int pl_cell_of(const double p[3], double inv_cell, int c[3]) {
  for (int k = 0; k < 3; ++k) {
    double v = floor(p[k] * inv_cell);
    if (!(fabs(v) < 1048000.0)) return 0;
    c[k] = (int)v;
  }
  return 1;
}

pl_status pl_cellmap_init(pl_cellmap *m, size_t cap) {
  size_t c = 1024;
  while (c < cap) c *= 2;
  m->keys = (uint64_t *)malloc(sizeof(uint64_t) * c);
  m->vals = (int64_t *)malloc(sizeof(int64_t) * c);
  if (!m->keys || !m->vals) {
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
    return pl_fail(PL_ERR_NOMEM, "out of memory (cell map)");
  }
  for (size_t i = 0; i < c; ++i) m->keys[i] = UINT64_MAX;
  m->cap = c;
  m->count = 0;
  return PL_OK;
}

void pl_cellmap_free(pl_cellmap *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

pl_status pl_cellmap_put(pl_cellmap *m, uint64_t key, int64_t val) {
  if (2 * (m->count + 1) > m->cap) {
    pl_cellmap bigger;
    PL_TRY(pl_cellmap_init(&bigger, m->cap * 2));
    for (size_t i = 0; i < m->cap; ++i)
      if (m->keys[i] != UINT64_MAX) {
        size_t j = (size_t)pl_mix64(m->keys[i]) & (bigger.cap - 1);
        while (bigger.keys[j] != UINT64_MAX) j = (j + 1) & (bigger.cap - 1);
        bigger.keys[j] = m->keys[i];
        bigger.vals[j] = m->vals[i];
      }
    bigger.count = m->count;
    pl_cellmap_free(m);
    *m = bigger;
  }
  size_t i = (size_t)pl_mix64(key) & (m->cap - 1);
  while (m->keys[i] != UINT64_MAX && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
  if (m->keys[i] == UINT64_MAX) m->count++;
  m->keys[i] = key;
  m->vals[i] = val;
  return PL_OK;
}

void pl_hash_grid_free(pl_hash_grid *g) {
  pl_cellmap_free(&g->map);
  free(g->cstart);
  free(g->items);
  memset(g, 0, sizeof *g);
}

pl_status pl_hash_grid_build(pl_hash_grid *g, const double *pts, int n, double cell) {
  memset(g, 0, sizeof *g);
  g->pts = pts;
  g->n = n;
  g->cell = cell;
  g->inv = 1.0 / cell;
  int64_t *cellid = (int64_t *)malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
  if (!cellid) return pl_fail(PL_ERR_NOMEM, "out of memory (grid)");
  pl_status s = pl_cellmap_init(&g->map, 2 * (size_t)n + 16);
  if (s != PL_OK) {
    free(cellid);
    return s;
  }
  int64_t ncells = 0;
  for (int i = 0; i < n; ++i) {
    int c[3];
    if (!pl_cell_of(pts + 3 * (size_t)i, g->inv, c)) {
      free(cellid);
      pl_hash_grid_free(g);
      return pl_fail(PL_ERR_NUMERIC, "point %d (%g, %g, %g) is too far from the origin for the neighbour grid", i,
                     pts[3 * (size_t)i], pts[3 * (size_t)i + 1], pts[3 * (size_t)i + 2]);
    }
    uint64_t key = pl_cell_key(c[0], c[1], c[2]);
    int64_t id = pl_cellmap_get(&g->map, key);
    if (id < 0) {
      id = ncells++;
      s = pl_cellmap_put(&g->map, key, id);
      if (s != PL_OK) {
        free(cellid);
        pl_hash_grid_free(g);
        return s;
      }
    }
    cellid[i] = id;
  }
  g->ncells = ncells;
  g->cstart = (int64_t *)calloc((size_t)ncells + 1, sizeof(int64_t));
  g->items = (int *)malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
  int64_t *cur = (int64_t *)malloc(sizeof(int64_t) * (size_t)(ncells > 0 ? ncells : 1));
  if (!g->cstart || !g->items || !cur) {
    free(cellid);
    free(cur);
    pl_hash_grid_free(g);
    return pl_fail(PL_ERR_NOMEM, "out of memory (grid)");
  }
  for (int i = 0; i < n; ++i) g->cstart[cellid[i] + 1]++;
  for (int64_t c = 0; c < ncells; ++c) g->cstart[c + 1] += g->cstart[c];
  memcpy(cur, g->cstart, sizeof(int64_t) * (size_t)ncells);
  for (int i = 0; i < n; ++i) g->items[cur[cellid[i]]++] = i;
  free(cur);
  free(cellid);
  return PL_OK;
}

void pl_hash_grid_query(const pl_hash_grid *g, const double y[3], double radius, pl_hash_grid_visit fn, void *ctx) {
  int c[3];
  if (!pl_cell_of(y, g->inv, c)) return;
  int reach = (int)ceil(radius * g->inv);
  if (reach < 1) reach = 1;
  double r2 = radius * radius;
  for (int di = -reach; di <= reach; ++di)
    for (int dj = -reach; dj <= reach; ++dj)
      for (int dk = -reach; dk <= reach; ++dk) {
        int64_t id = pl_cellmap_get(&g->map, pl_cell_key(c[0] + di, c[1] + dj, c[2] + dk));
        if (id < 0) continue;
        for (int64_t e = g->cstart[id]; e < g->cstart[id + 1]; ++e) {
          int q = g->items[e];
          const double *p = g->pts + 3 * (size_t)q;
          double d2 = (p[0] - y[0]) * (p[0] - y[0]) + (p[1] - y[1]) * (p[1] - y[1]) + (p[2] - y[2]) * (p[2] - y[2]);
          if (d2 <= r2) fn(q, d2, ctx);
        }
      }
}
