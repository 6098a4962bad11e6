/* mpm_tile.h: grid blocks and their node tiles, the bookkeeping of a block-ordered P2G (no physics here), and the
 * key a deferred particle check reports. Plain HD functions: the CPU backend, the CUDA backend and the CPU
 * emulation in tests/mpm/test_mpm_tile.c call the same ones.
 *
 * Blocks. The grid's base nodes (a particle's stencil starts at its base node, which runs 0 .. n - 2 on each axis
 * for a particle inside the domain) are grouped into blocks of MPM_TILE_BLOCK^3; a particle belongs to the block of
 * its base node. The key of block (bx, by, bz) is (bx nb1 + by) nb2 + bz, so that sorting particles by key sorts
 * them by block in x-major order (Gao et al. 2018, "GPU optimization of material point methods", ACM TOG 37(6),
 * sec. 4: particles binned by grid block so that a block's particles scatter into one small set of nodes).
 *
 * Tiles. The particles of one block write only to nodes origin + 0 .. MPM_TILE_BLOCK + 1 on each axis (the
 * quadratic stencil reaches base + 2): a tile of MPM_TILE_NODES^3 nodes. A GPU block can sum its particles'
 * contributions in shared memory over that tile and add each node to global memory once. */
#ifndef PL_MPM_TILE_H
#define PL_MPM_TILE_H

#include <stdint.h>

#include "core/hd.h"
#include "mpm/mpm_types.h"

#define MPM_TILE_BLOCK 4                                            /* cells per block edge */
#define MPM_TILE_NODES (MPM_TILE_BLOCK + 2)                         /* nodes per tile edge */
#define MPM_TILE_SLOTS (MPM_TILE_NODES * MPM_TILE_NODES * MPM_TILE_NODES) /* 216 */

/* Blocks per axis of a grid: base nodes 0 .. n - 2 need ceil((n - 1) / B) blocks; ceil(n / B) covers them. */
typedef struct {
  int nb[3];
} mpm_ktiles;

HD mpm_ktiles mpm_tiles_of(const mpm_kgrid *g) {
  mpm_ktiles t;
  for (int a = 0; a < 3; ++a) t.nb[a] = (g->n[a] + MPM_TILE_BLOCK - 1) / MPM_TILE_BLOCK;
  return t;
}
HD int64_t mpm_tiles_count(const mpm_ktiles *t) { return (int64_t)t->nb[0] * t->nb[1] * t->nb[2]; }

/* The key of the block holding base node `base`. */
HD uint32_t mpm_tile_key(const mpm_ktiles *t, const int base[3]) {
  int bx = base[0] / MPM_TILE_BLOCK, by = base[1] / MPM_TILE_BLOCK, bz = base[2] / MPM_TILE_BLOCK;
  return (uint32_t)(((int64_t)bx * t->nb[1] + by) * t->nb[2] + bz);
}
/* The key a particle outside the domain gets: one past the last block (it sorts last and matches no tile). */
HD uint32_t mpm_tile_key_none(const mpm_ktiles *t) { return (uint32_t)mpm_tiles_count(t); }

/* Bits a radix sort of keys 0 .. none needs. */
HD int mpm_tile_key_bits(const mpm_ktiles *t) {
  int bits = 1;
  while (bits < 32 && ((uint64_t)1 << bits) <= (uint64_t)mpm_tile_key_none(t)) ++bits;
  return bits;
}

/* The first node (lowest i, j, k) of block `key`'s tile. */
HD void mpm_tile_origin(const mpm_ktiles *t, uint32_t key, int origin[3]) {
  int bz = (int)(key % (uint32_t)t->nb[2]);
  int by = (int)((key / (uint32_t)t->nb[2]) % (uint32_t)t->nb[1]);
  int bx = (int)(key / ((uint32_t)t->nb[2] * (uint32_t)t->nb[1]));
  origin[0] = bx * MPM_TILE_BLOCK;
  origin[1] = by * MPM_TILE_BLOCK;
  origin[2] = bz * MPM_TILE_BLOCK;
}

/* Slot of node (i, j, k) in the tile starting at `origin`, or -1 when the node is not in that tile. */
HD int mpm_tile_slot(const int origin[3], int i, int j, int k) {
  int di = i - origin[0], dj = j - origin[1], dk = k - origin[2];
  if (di < 0 || dj < 0 || dk < 0 || di >= MPM_TILE_NODES || dj >= MPM_TILE_NODES || dk >= MPM_TILE_NODES) return -1;
  return (di * MPM_TILE_NODES + dj) * MPM_TILE_NODES + dk;
}

/* The node of a slot; 0 when it lies outside the grid (the last blocks' tiles overhang it), else 1. */
HD int mpm_tile_node(const mpm_kgrid *g, const int origin[3], int slot, int ijk[3]) {
  ijk[0] = origin[0] + slot / (MPM_TILE_NODES * MPM_TILE_NODES);
  ijk[1] = origin[1] + (slot / MPM_TILE_NODES) % MPM_TILE_NODES;
  ijk[2] = origin[2] + slot % MPM_TILE_NODES;
  return ijk[0] <= g->n[0] && ijk[1] <= g->n[1] && ijk[2] <= g->n[2];
}

/* A chunk of consecutive particles of the block order spans one block, or two when it crosses a block boundary:
 * the GPU block keeps two tiles, those of the chunk's first and last particles (`first`, `last`); tile 1 is unused
 * (none) when both are the same block. */
#define MPM_TILES_PER_CHUNK 2
#define MPM_TILE_CHUNK 128 /* particles (threads) per CUDA block of the tiled kernels */
HD void mpm_tile_pick(uint32_t first, uint32_t last, uint32_t none, uint32_t keys[2]) {
  keys[0] = first;
  keys[1] = last == first ? none : last;
}
/* Which of the chunk's tiles holds a particle of block `key`: 0, 1, or -1 (it adds to global memory directly).
 * The none key never matches: a particle outside the domain does not scatter. */
HD int mpm_tile_which(uint32_t key, const uint32_t keys[2]) { return key == keys[0] ? 0 : key == keys[1] ? 1 : -1; }

/* ------------------------------------------------------------------ deferred particle checks
 *
 * With checks deferred (mpm_desc.sync = MPM_SYNC_FRAME) the stages of a whole frame (or backward segment) fold
 * their errors into one word that the host reads once. Each error is tagged with the substep within that span
 * and the stage, above the particle's error key (mpm_error_key: particle << 4 | code), so that the smallest word
 * is the first error in execution order, the one the per-stage checks would have stopped at:
 *   bits 37..63 substep, bit 36 stage (0 P2G, 1 G2P), bits 4..35 particle, bits 0..3 code.
 * Spans longer than 2^27 substeps or simulations of 2^32 particles or more use the per-stage checks. */
enum { MPM_STAGE_P2G = 0, MPM_STAGE_G2P = 1 };
#define MPM_DEFER_MAX_SUBSTEPS ((int64_t)1 << 27)
#define MPM_DEFER_MAX_PARTICLES ((int64_t)1 << 32)

HD uint64_t mpm_defer_tag(int64_t substep, int stage) { return ((uint64_t)substep << 37) | ((uint64_t)stage << 36); }
HD int64_t mpm_defer_substep(uint64_t word) { return (int64_t)(word >> 37); }
HD int mpm_defer_stage(uint64_t word) { return (int)((word >> 36) & 1u); }
/* The particle's error key (particle << 4 | code) inside a tagged word. */
HD uint64_t mpm_defer_key(uint64_t word) { return word & (((uint64_t)1 << 36) - 1); }

#ifdef __CUDACC__
/* The end of a tiled chunk (after __syncthreads): each non-zero node of the chunk's shared tiles, C channels per node,
 * is added to the global grid (stride C per node) once, where the particles' own atomics would have been many. */
template <int C>
__device__ inline void mpm_tile_flush(const mpm_kgrid &g, const mpm_ktiles &tl, const real (*tile)[C * MPM_TILE_SLOTS],
                                      const uint32_t tile_key[MPM_TILES_PER_CHUNK],
                                      const int origin[MPM_TILES_PER_CHUNK][3], real *grid) {
  for (int t = 0; t < MPM_TILES_PER_CHUNK; ++t) {
    if (tile_key[t] == mpm_tile_key_none(&tl)) continue;
    for (int q = threadIdx.x; q < C * MPM_TILE_SLOTS; q += blockDim.x) {
      const real val = tile[t][q];
      int ijk[3];
      if (val != 0 && mpm_tile_node(&g, origin[t], q / C, ijk))
        atomicAdd(grid + C * mpm_node_index(&g, ijk[0], ijk[1], ijk[2]) + q % C, val);
    }
  }
}
#endif

#endif /* PL_MPM_TILE_H */
