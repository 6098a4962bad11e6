/* test_mpm_tile.c: the block/tile bookkeeping of the tiled P2G (mpm_tile.h) on the CPU, where no GPU is needed.
 *
 * 1. layout: for every base node of grids whose sizes are not multiples of the block, its key lies in range, the
 *    block's origin contains it, its 27 stencil nodes have distinct slots in the tile and map back to themselves;
 *    the key bits cover the "none" key.
 * 2. an emulation of the CUDA kernel mpm_k_p2g_tiled (mpm_cuda.cu), step for step on the host: chunks of 128
 *    particles of an order, the tiles of the chunk's first and last particles (mpm_tile_pick), tile sums for
 *    their blocks' particles and direct adds for the others, then the flush. Its grid must equal the CPU backend's P2G (to float rounding) for the
 *    block-sorted order, for an unsorted one, for a random permutation and for an order made before the particles
 *    moved (the kernel's result must never depend on the order being fresh); and the sorted order must send almost
 *    every contribution through the tile (what makes the kernel fast).
 * 3. the deferred-check word (mpm_tile.h): tags order errors by substep, then stage, then particle. */
#include <math.h>

#include "mpm/mpm_internal.h"
#include "tests/mpm/mpm_test_util.h"

#define CHUNK MPM_TILE_CHUNK

static void test_layout(void) {
  const int sizes[][3] = {{8, 8, 8}, {13, 9, 17}, {24, 10, 31}};
  for (int c = 0; c < 3; ++c) {
    mpm_kgrid g;
    memset(&g, 0, sizeof g);
    for (int a = 0; a < 3; ++a) g.n[a] = sizes[c][a];
    mpm_ktiles tl = mpm_tiles_of(&g);
    const uint32_t none = mpm_tile_key_none(&tl);
    CHECK(((uint64_t)1 << mpm_tile_key_bits(&tl)) > none, "grid %d: %d key bits do not hold %u", c,
          mpm_tile_key_bits(&tl), none);
    int bad = 0;
    for (int i = 0; i <= g.n[0] - 2; ++i)
      for (int j = 0; j <= g.n[1] - 2; ++j)
        for (int k = 0; k <= g.n[2] - 2; ++k) {
          int base[3] = {i, j, k}, org[3];
          uint32_t key = mpm_tile_key(&tl, base);
          if (key >= none) {
            bad++;
            continue;
          }
          mpm_tile_origin(&tl, key, org);
          for (int a = 0; a < 3; ++a)
            if (base[a] < org[a] || base[a] >= org[a] + MPM_TILE_BLOCK) bad++;
          unsigned char used[MPM_TILE_SLOTS];
          memset(used, 0, sizeof used);
          for (int q = 0; q < 27; ++q) {
            int ni = i + q / 9, nj = j + (q / 3) % 3, nk = k + q % 3, back[3];
            int slot = mpm_tile_slot(org, ni, nj, nk);
            if (slot < 0 || slot >= MPM_TILE_SLOTS || used[slot]) {
              bad++;
              continue;
            }
            used[slot] = 1;
            if (!mpm_tile_node(&g, org, slot, back) || back[0] != ni || back[1] != nj || back[2] != nk) bad++;
          }
        }
    CHECK(bad == 0, "grid %d x %d x %d: %d layout violations", g.n[0], g.n[1], g.n[2], bad);
  }
}

/* A particle's block key as the kernel's thread computes it (none outside the domain). */
static uint32_t key_of(const mpm_kgrid *g, const mpm_ktiles *tl, const mpm_particles *h, int64_t p) {
  v3 x = v3_load(h->x + 3 * p);
  return mpm_in_domain(g, x) ? mpm_tile_key(tl, mpm_stencil_of(g, x).base) : mpm_tile_key_none(tl);
}

/* The host emulation of mpm_k_p2g_tiled over the whole order; *tiled_share gets the fraction of contributions
 * summed in a tile. */
static void emulate_tiled_p2g(const mpm_kgrid *g, const mpm_kparticles *P, const mpm_particles *h, const uint32_t *order,
                              real dt, real *grid, double *tiled_share) {
  const mpm_ktiles tl = mpm_tiles_of(g);
  memset(grid, 0, mpm_node_count(g) * 4 * sizeof(real));
  int64_t in_tile_count = 0, total = 0;
  real tile[2][4 * MPM_TILE_SLOTS];
  for (int64_t c0 = 0; c0 < h->n; c0 += CHUNK) {
    memset(tile, 0, sizeof tile);
    const int64_t c1 = c0 + CHUNK < h->n ? c0 + CHUNK : h->n; /* the chunk's end */
    uint32_t tile_key[2];
    mpm_tile_pick(key_of(g, &tl, h, order[c0]), key_of(g, &tl, h, order[c1 - 1]), mpm_tile_key_none(&tl), tile_key);
    int origin[2][3];
    mpm_tile_origin(&tl, tile_key[0], origin[0]);
    mpm_tile_origin(&tl, tile_key[1], origin[1]);
    for (int64_t i = c0; i < c1; ++i) {
      const int64_t p = order[i];
      v3 x = v3_load(h->x + 3 * p);
      if (!mpm_in_domain(g, x)) continue;
      int model;
      mpm_mparams mp = mpm_particle_params(P, p, &model);
      m3 A = mpm_p2g_affine_at(g, model, mp, h->mass[p], h->vol0[p], dt, v3_load(h->v + 3 * p), m3_load(h->C + 9 * p),
                               m3_load(h->F + 9 * p));
      mpm_stencil s = mpm_stencil_of(g, x);
      const int t = mpm_tile_which(mpm_tile_key(&tl, s.base), tile_key);
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b)
          for (int c = 0; c < 3; ++c) {
            real dm;
            v3 dmom;
            mpm_p2g_contrib(mpm_stencil_weight(&s, a, b, c), mpm_stencil_dpos(&s, a, b, c, g->dx), h->mass[p],
                            v3_load(h->v + 3 * p), A, &dm, &dmom);
            const int ni = s.base[0] + a, nj = s.base[1] + b, nk = s.base[2] + c;
            real *node = t >= 0 ? tile[t] + 4 * mpm_tile_slot(origin[t], ni, nj, nk)
                                : grid + 4 * mpm_node_index(g, ni, nj, nk);
            node[0] += dm, node[1] += dmom.x, node[2] += dmom.y, node[3] += dmom.z;
            in_tile_count += t >= 0;
            total++;
          }
    }
    for (int t = 0; t < 2; ++t) {
      if (tile_key[t] == mpm_tile_key_none(&tl)) continue;
      for (int q = 0; q < 4 * MPM_TILE_SLOTS; ++q) {
        int ijk[3];
        if (tile[t][q] != 0 && mpm_tile_node(g, origin[t], q / 4, ijk))
          grid[4 * mpm_node_index(g, ijk[0], ijk[1], ijk[2]) + (q & 3)] += tile[t][q];
      }
    }
  }
  *tiled_share = total ? (double)in_tile_count / (double)total : 0;
}

/* The order the CUDA path sorts to: stable by block key (a counting sort here, CUB's radix sort there). */
static void block_order(const mpm_kgrid *g, const mpm_particles *h, uint32_t *order) {
  const mpm_ktiles tl = mpm_tiles_of(g);
  const size_t nk = (size_t)mpm_tile_key_none(&tl) + 1;
  uint32_t *count = (uint32_t *)calloc(nk + 1, sizeof(uint32_t)), *key = (uint32_t *)malloc((size_t)h->n * sizeof(uint32_t));
  for (int64_t p = 0; p < h->n; ++p) {
    v3 x = v3_load(h->x + 3 * p);
    key[p] = mpm_in_domain(g, x) ? mpm_tile_key(&tl, mpm_stencil_of(g, x).base) : mpm_tile_key_none(&tl);
    count[key[p] + 1]++;
  }
  for (size_t k = 0; k < nk; ++k) count[k + 1] += count[k];
  for (int64_t p = 0; p < h->n; ++p) order[count[key[p]]++] = (uint32_t)p;
  free(count);
  free(key);
}

static void test_emulated_p2g(void) {
  mpm_material m = tu_material(MPM_FIXED_COROTATED, 3e4, 0.3, 1000);
  mpm_desc d = tu_desc(20, &m, 1);
  mpm_object o[2] = {tu_box(0.45, 0.5, 0.5, 0.3, 0.25, 0.35, 0), tu_box(0.7, 0.3, 0.4, 0.1, 0.15, 0.1, 0)};
  o[0].velocity[1] = -1, o[0].angular_velocity[2] = 4;
  mpm_sim *s = tu_make(&d, o, 2);
  const real dt = (real)2e-4;
  /* a deformed state: a few substeps of the CPU backend */
  for (int k = 0; k < 20; ++k) CHECK(mpm_substep(s, dt) == PL_OK, "%s", pl_last_error());
  mpm_particles h = {0};
  tu_get(s, &h);
  const size_t nodes = mpm_node_count(&s->grid);
  real *ref = (real *)malloc(nodes * 4 * sizeof(real)), *emu = (real *)malloc(nodes * 4 * sizeof(real));
  uint32_t *order = (uint32_t *)malloc((size_t)h.n * sizeof(uint32_t));
  CHECK(mpm_p2g(s, &s->state, dt) == PL_OK, "%s", pl_last_error());
  memcpy(ref, s->gridbuf.ptr, nodes * 4 * sizeof(real));
  const mpm_kparticles P = mpm_sim_kparticles(s);
  const char *names[4] = {"sorted by block", "particle index", "random permutation", "sorted 40 substeps ago"};
  for (int v = 0; v < 4; ++v) {
    if (v == 0) block_order(&s->grid, &h, order);
    for (int64_t p = 0; v == 1 && p < h.n; ++p) order[p] = (uint32_t)p;
    if (v == 2) {
      for (int64_t p = 0; p < h.n; ++p) order[p] = (uint32_t)p;
      for (int64_t p = h.n - 1; p > 0; --p) {
        int64_t q = (int64_t)(0.5 * (test_rand() + 1) * (double)(p + 1));
        if (q > p) q = p;
        uint32_t t = order[p];
        order[p] = order[q], order[q] = t;
      }
    }
    if (v == 3) { /* the order of the current positions, used on the state 40 substeps later */
      block_order(&s->grid, &h, order);
      for (int k = 0; k < 40; ++k) CHECK(mpm_substep(s, dt) == PL_OK, "%s", pl_last_error());
      tu_get(s, &h);
      CHECK(mpm_p2g(s, &s->state, dt) == PL_OK, "%s", pl_last_error());
      memcpy(ref, s->gridbuf.ptr, nodes * 4 * sizeof(real));
    }
    double share = 0;
    emulate_tiled_p2g(&s->grid, &P, &h, order, dt, emu, &share);
    int finite = 1;
    double e = test_norm_err(ref, emu, nodes * 4, TEST_NORM_MAX, 1e-12, &finite);
    printf("%-24s grid vs the CPU P2G %.2e (max-norm), contributions summed in a tile %5.1f %%\n", names[v], e,
           100 * share);
    CHECK(finite && e < 1e-5, "%s: the emulated tiled P2G differs from the CPU's by %.3e", names[v], e);
    if (v == 0) CHECK(share > 0.8, "sorted by block, only %.1f %% of the contributions go through a tile", 100 * share);
  }
  free(ref), free(emu), free(order);
  mpm_particles_free(&h);
  mpm_destroy(s);
}

static void test_defer_words(void) {
  const uint64_t a = mpm_defer_tag(2, MPM_STAGE_G2P) | mpm_error_key(5, MPM_PERR_NAN);
  const uint64_t b = mpm_defer_tag(3, MPM_STAGE_P2G) | mpm_error_key(0, MPM_PERR_DOMAIN);
  const uint64_t c = mpm_defer_tag(2, MPM_STAGE_P2G) | mpm_error_key(100, MPM_PERR_STRESS);
  CHECK(c < a && a < b, "tags must order errors by substep, then stage, then particle");
  CHECK(mpm_defer_substep(a) == 2 && mpm_defer_stage(a) == MPM_STAGE_G2P && mpm_defer_key(a) == mpm_error_key(5, 1),
        "decode");
  const uint64_t big = mpm_defer_tag(MPM_DEFER_MAX_SUBSTEPS - 1, MPM_STAGE_G2P) |
                       mpm_error_key(MPM_DEFER_MAX_PARTICLES - 1, MPM_PERR_STRESS);
  CHECK(big < MPM_NO_ERROR && mpm_defer_substep(big) == MPM_DEFER_MAX_SUBSTEPS - 1 &&
            mpm_defer_key(big) == mpm_error_key(MPM_DEFER_MAX_PARTICLES - 1, MPM_PERR_STRESS),
        "the largest word");
  uint64_t w = MPM_NO_ERROR;
  mpm_defer_fold(&w, mpm_defer_tag(4, 0), MPM_NO_ERROR);
  CHECK(w == MPM_NO_ERROR, "no error folds to none");
  mpm_defer_fold(&w, mpm_defer_tag(4, 1), mpm_error_key(7, 1));
  mpm_defer_fold(&w, mpm_defer_tag(5, 0), mpm_error_key(1, 1));
  CHECK(w == (mpm_defer_tag(4, 1) | mpm_error_key(7, 1)), "the first error stays");
}

int main(void) {
  test_layout();
  test_emulated_p2g();
  test_defer_words();
  return test_summary("test_mpm_tile");
}
