/* upsample_grid.h: the runtime neighbour grid both backends build per frame (HD): cells hashed into buckets, the
 * grid's arrays and the walk over the 27 cells around a point. Cell keys: pl_cell_key (core/hash_grid.h). */
#ifndef PL_UPSAMPLE_GRID_H
#define PL_UPSAMPLE_GRID_H

#include "core/hash_grid.h"
#include "core/hd.h"
#include "core/linalg.h"

/* ------------------------------------------------------------------ uniform hash grid */

/* Cells of side `cell` hashed into `nbuckets` (a power of two) buckets; particles are counting-sorted by bucket
 * (stable, so the order is deterministic). A query visits the 27 cells around a point and keeps only the
 * entries whose own cell is the visited one, so a bucket shared by two cells is never counted twice. */
/* Cell keys are packed by pl_cell_key (core/hash_grid.h): coordinates in (-2^20, 2^20), 21 bits each. */
HD int ups_cell_coord(real x, real inv_cell) { return (int)r_floor(x * inv_cell); }
HD uint32_t ups_cell_hash(int i, int j, int k, uint32_t nbuckets) {
  uint64_t h = (uint64_t)(uint32_t)i * 73856093ull ^ (uint64_t)(uint32_t)j * 19349663ull ^
               (uint64_t)(uint32_t)k * 83492791ull;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  return (uint32_t)(h & (uint64_t)(nbuckets - 1));
}
/* A position whose cell coordinates fit (finite and within the packed range). */
HD int ups_cell_ok(v3 x, real inv_cell) {
  if (!v3_isfinite(x)) return 0;
  real lim = RC(1048000.0);
  return r_fabs(x.x * inv_cell) < lim && r_fabs(x.y * inv_cell) < lim && r_fabs(x.z * inv_cell) < lim;
}

typedef struct {
  real inv_cell;
  uint32_t nbuckets;
  const int *start;      /* [nbuckets + 1] first sorted entry of each bucket */
  const int *sorted;     /* [n] particle index (into the runtime list) in bucket order */
  const uint64_t *key;   /* [n] cell key of each sorted entry */
} ups_grid;

/* The entries of the 27 cells around a point, in a fixed order (cell offsets lexicographic, then bucket order):
 *   ups_nbr_iter it = ups_nbr_begin(gr, y); int q; while (ups_nbr_next(gr, &it, &q)) ... */
typedef struct {
  int ci, cj, ck;  /* cell of the query point */
  int di, dj, dk;  /* offset being visited, each in -1..1 */
  int e, end;      /* remaining entries of its bucket */
  uint64_t key;    /* its cell key (entries of other cells sharing the bucket are skipped) */
} ups_nbr_iter;

/* Point the iterator at the bucket of the current offset's cell. */
HD void ups_nbr_enter(ups_grid gr, ups_nbr_iter *it) {
  int i = it->ci + it->di, j = it->cj + it->dj, k = it->ck + it->dk;
  uint32_t b = ups_cell_hash(i, j, k, gr.nbuckets);
  it->key = pl_cell_key(i, j, k);
  it->e = gr.start[b];
  it->end = gr.start[b + 1];
}

HD ups_nbr_iter ups_nbr_begin(ups_grid gr, v3 y) {
  ups_nbr_iter it;
  it.ci = ups_cell_coord(y.x, gr.inv_cell);
  it.cj = ups_cell_coord(y.y, gr.inv_cell);
  it.ck = ups_cell_coord(y.z, gr.inv_cell);
  it.di = it.dj = it.dk = -1;
  ups_nbr_enter(gr, &it);
  return it;
}

HD int ups_nbr_next(ups_grid gr, ups_nbr_iter *it, int *q) {
  for (;;) {
    for (; it->e < it->end; ++it->e)
      if (gr.key[it->e] == it->key) {
        *q = gr.sorted[it->e++];
        return 1;
      }
    if (++it->dk > 1) {
      it->dk = -1;
      if (++it->dj > 1) {
        it->dj = -1;
        if (++it->di > 1) return 0;
      }
    }
    ups_nbr_enter(gr, it);
  }
}

#endif /* PL_UPSAMPLE_GRID_H */
