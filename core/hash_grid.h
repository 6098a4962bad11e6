/* hash_grid.h: host-side spatial hashing for set-up work (neighbour queries over a fixed point set).
 *
 *   pl_cell_key      packs integer cell coordinates (each in (-2^20, 2^20)) into one 64-bit key; HD, so the
 *                    device-side grids (upsample_kernels.h) pack their keys the same way.
 *   pl_cellmap       open-addressing map cell key -> int64 (linear probing, grows at half full).
 *   pl_hash_grid     a static grid over n points (borrowed) with cells of a given side: points grouped by cell in
 *                    index order, so every query visits its neighbours in a fixed, machine-independent order.
 * Errors are pl_status with a message (no prefix: the caller adds its own with pl_fail_context). */
#ifndef PL_HASH_GRID_H
#define PL_HASH_GRID_H

#include <stddef.h>
#include <stdint.h>

#include "core/hd.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_CELL_BIAS 1048576 /* 2^20: cell coordinates are kept in (-2^20, 2^20) and packed in 21 bits each */

HD uint64_t pl_cell_key(int i, int j, int k) {
  return ((uint64_t)(uint32_t)(i + PL_CELL_BIAS) << 42) | ((uint64_t)(uint32_t)(j + PL_CELL_BIAS) << 21) |
         (uint64_t)(uint32_t)(k + PL_CELL_BIAS);
}

/* Cell coordinates of p for cells of side 1 / inv_cell; 0 when they do not fit in the packed key. */
int pl_cell_of(const double p[3], double inv_cell, int c[3]);

typedef struct {
  uint64_t *keys;
  int64_t *vals;
  size_t cap, count;
} pl_cellmap;

/* Room for about cap / 2 entries before the first growth. */
pl_status pl_cellmap_init(pl_cellmap *m, size_t cap);
void pl_cellmap_free(pl_cellmap *m);
/* SplitMix64 finaliser (Steele et al. 2014): spreads packed keys over the table. */
static inline uint64_t pl_mix64(uint64_t z) {
  z ^= z >> 30;
  z *= 0xBF58476D1CE4E5B9ull;
  z ^= z >> 27;
  z *= 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* The value stored for key, or -1. Inline: set-up calls it in its innermost loops (Poisson-disk thinning). */
static inline int64_t pl_cellmap_get(const pl_cellmap *m, uint64_t key) {
  size_t i = (size_t)pl_mix64(key) & (m->cap - 1);
  while (m->keys[i] != UINT64_MAX) {
    if (m->keys[i] == key) return m->vals[i];
    i = (i + 1) & (m->cap - 1);
  }
  return -1;
}
/* Insert or overwrite. */
pl_status pl_cellmap_put(pl_cellmap *m, uint64_t key, int64_t val);

typedef struct {
  const double *pts;  /* [n, 3] borrowed */
  int n;
  double cell, inv;
  pl_cellmap map;     /* cell key -> index into cstart */
  int64_t *cstart;    /* [ncells + 1] */
  int *items;         /* [n] point indices grouped by cell */
  int64_t ncells;
} pl_hash_grid;

pl_status pl_hash_grid_build(pl_hash_grid *g, const double *pts, int n, double cell);
void pl_hash_grid_free(pl_hash_grid *g);

/* Call fn(index, squared distance, ctx) for every point within `radius` of y, in a fixed order (cells in
 * lexicographic offset order, points by index within a cell). */
typedef void (*pl_hash_grid_visit)(int idx, double d2, void *ctx);
void pl_hash_grid_query(const pl_hash_grid *g, const double y[3], double radius, pl_hash_grid_visit fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif /* PL_HASH_GRID_H */
