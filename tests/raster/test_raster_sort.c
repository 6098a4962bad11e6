/* test_raster_sort.c: the CUDA backend's two pair orders (raster_internal.h: joint, the verified default; split, the
 * prepared one), emulated on the host with the same per-element calls its kernels make (raster_project,
 * raster_tile_count, raster_emit_pairs, raster_depth_bits, raster_tile_key_bits) and stable sorts over exactly the
 * key bits the kernels sort, against the order of the CPU backend (the reference): every pair's (camera, Gaussian)
 * in the same place, tile by tile, on scenes with depth ties, several cameras, a sort depth given by the caller,
 * culled Gaussians and tile counts at and off powers of two. Runs without a GPU (the kernels themselves are checked
 * against the CPU by test_raster_cuda on a device). */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdint.h>
#include <stdlib.h>

#include "raster/raster_internal.h"
#include "tests/raster/raster_test_util.h"

/* Stable LSD radix sort of (key, value) by key bits [0, bits), 8 bits per pass, as CUB's DeviceRadixSort is stable. */
static void stable_sort_u64(unsigned long long *k, uint32_t *v, int64_t n, int bits) {
  unsigned long long *k2 = (unsigned long long *)malloc(sizeof *k2 * (size_t)(n > 0 ? n : 1));
  uint32_t *v2 = (uint32_t *)malloc(sizeof *v2 * (size_t)(n > 0 ? n : 1));
  for (int shift = 0; shift < bits; shift += 8) {
    int64_t cnt[257] = {0};
    const int w = bits - shift < 8 ? bits - shift : 8;
    const unsigned long long mask = ((unsigned long long)1 << w) - 1;
    for (int64_t i = 0; i < n; ++i) cnt[((k[i] >> shift) & mask) + 1]++;
    for (int d = 0; d < 256; ++d) cnt[d + 1] += cnt[d];
    for (int64_t i = 0; i < n; ++i) {
      const int64_t at = cnt[(k[i] >> shift) & mask]++;
      k2[at] = k[i];
      v2[at] = v[i];
    }
    memcpy(k, k2, sizeof *k * (size_t)n);
    memcpy(v, v2, sizeof *v * (size_t)n);
  }
  free(k2);
  free(v2);
}

typedef struct {
  int64_t P;
  uint32_t *cg;      /* [P] the (camera, Gaussian) of each sorted pair */
  int64_t *tile;     /* [P] its global tile */
} pair_order;

static void pair_order_free(pair_order *o) {
  free(o->cg);
  free(o->tile);
}

/* The projection pass of k_project: splats and tile counts of every (camera, Gaussian). */
static void project_all(const raster_ctx *ctx, const test_scene *s, int antialiased, raster_splat *sp, int64_t *counts) {
  const int64_t N = s->n;
  for (int c = 0; c < ctx->ncams; ++c)
    for (int64_t g = 0; g < N; ++g) {
      const int64_t cg = c * N + g;
      const m3 cov = raster_gaussian_cov(s->use_covs ? s->covs : NULL, s->scales, s->quats, g);
      counts[cg] = raster_project(&ctx->cams[c], v3_load(s->means + 3 * g), cov, s->opacities[g], antialiased, &sp[cg])
                       ? raster_tile_count(&ctx->cams[c], &sp[cg])
                       : 0;
    }
}

static uint32_t depth_key(const raster_splat *sp, const real *sort_depth, int64_t cg) {
  return raster_depth_bits(sort_depth ? r_fmax(sort_depth[cg], RC(0.0)) : sp[cg].z);
}

/* joint: pairs emitted in cg order with keys tile << 32 | depth, sorted over 32 + tile bits (k_emit, SortPairs) */
static pair_order order_joint(const raster_ctx *ctx, int64_t N, const raster_splat *sp, const int64_t *counts,
                              const real *sort_depth) {
  const int64_t CN = ctx->ncams * N;
  pair_order o;
  o.P = 0;
  for (int64_t cg = 0; cg < CN; ++cg) o.P += counts[cg];
  unsigned long long *keys = (unsigned long long *)malloc(sizeof *keys * (size_t)(o.P + 1));
  o.cg = (uint32_t *)malloc(sizeof *o.cg * (size_t)(o.P + 1));
  int64_t e = 0;
  for (int64_t cg = 0; cg < CN; ++cg)
    if (counts[cg]) {
      const int64_t end = raster_emit_pairs(&ctx->cams[cg / N], &sp[cg], depth_key(sp, sort_depth, cg), e, keys, NULL,
                                            o.cg, (uint32_t)cg);
      CHECK(end - e == counts[cg], "joint: (camera, Gaussian) %lld emits %lld pairs, counted %lld", (long long)cg,
            (long long)(end - e), (long long)counts[cg]);
      e = end;
    }
  stable_sort_u64(keys, o.cg, o.P, 32 + raster_tile_key_bits(ctx->ntiles));
  o.tile = (int64_t *)malloc(sizeof *o.tile * (size_t)(o.P + 1));
  for (int64_t i = 0; i < o.P; ++i) o.tile[i] = (int64_t)(keys[i] >> 32);
  free(keys);
  return o;
}

/* split: the (camera, Gaussian)s sorted by depth (culled last), their pairs emitted in that order keyed by tile, a
 * stable sort over the tile bits alone (k_depth_keys, k_counts_ranked, k_emit_ranked, SortPairs) */
static pair_order order_split(const raster_ctx *ctx, int64_t N, const raster_splat *sp, const int64_t *counts,
                              const real *sort_depth) {
  const int64_t CN = ctx->ncams * N;
  unsigned long long *dk = (unsigned long long *)malloc(sizeof *dk * (size_t)(CN + 1));
  uint32_t *rank_cg = (uint32_t *)malloc(sizeof *rank_cg * (size_t)(CN + 1));
  for (int64_t cg = 0; cg < CN; ++cg) {
    dk[cg] = counts[cg] ? depth_key(sp, sort_depth, cg) : 0xFFFFFFFFu;
    rank_cg[cg] = (uint32_t)cg;
  }
  stable_sort_u64(dk, rank_cg, CN, 32);
  pair_order o;
  o.P = 0;
  for (int64_t cg = 0; cg < CN; ++cg) o.P += counts[cg];
  uint32_t *key32 = (uint32_t *)malloc(sizeof *key32 * (size_t)(o.P + 1));
  o.cg = (uint32_t *)malloc(sizeof *o.cg * (size_t)(o.P + 1));
  int64_t e = 0; /* the exclusive scan of the counts in depth order */
  for (int64_t r = 0; r < CN; ++r) {
    const uint32_t cg = rank_cg[r];
    if (counts[cg]) e = raster_emit_pairs(&ctx->cams[cg / N], &sp[cg], 0, e, NULL, key32, o.cg, cg);
  }
  CHECK(e == o.P, "split: %lld pairs emitted, %lld counted", (long long)e, (long long)o.P);
  unsigned long long *k = (unsigned long long *)malloc(sizeof *k * (size_t)(o.P + 1));
  for (int64_t i = 0; i < o.P; ++i) k[i] = key32[i];
  stable_sort_u64(k, o.cg, o.P, raster_tile_key_bits(ctx->ntiles));
  o.tile = (int64_t *)malloc(sizeof *o.tile * (size_t)(o.P + 1));
  for (int64_t i = 0; i < o.P; ++i) o.tile[i] = (int64_t)k[i];
  free(k);
  free(key32);
  free(dk);
  free(rank_cg);
  return o;
}

/* One scene: the CPU backend's forward, then both emulated orders against its pairs. */
static void check_scene(const char *name, const test_scene *s, const raster_camera *cams, int ncams, int antialiased,
                        int with_sort_depth) {
  raster_ctx *ctx = test_cpu_ctx();
  const int64_t N = s->n, CN = ncams * N;
  real *sort_depth = NULL;
  raster_options opt;
  memset(&opt, 0, sizeof opt);
  opt.mode = antialiased ? RASTER_ANTIALIASED : RASTER_CLASSIC;
  if (with_sort_depth) { /* a caller's depth with many ties (a few levels) */
    sort_depth = (real *)malloc(sizeof(real) * (size_t)(CN + 1));
    for (int64_t cg = 0; cg < CN; ++cg) sort_depth[cg] = (real)(1 + (cg * 7919) % 5);
    opt.sort_depth = sort_depth;
  }
  int64_t npix = 0;
  for (int c = 0; c < ncams; ++c) npix += (int64_t)cams[c].width * cams[c].height;
  real *rgb = (real *)calloc(3 * (size_t)npix, sizeof(real));
  raster_images out = {rgb, NULL, NULL, NULL};
  raster_gaussians g = test_scene_view(s);
  CHECK(raster_forward(ctx, &g, cams, ncams, &opt, &out) == PL_OK, "%s: %s", name, pl_last_error());
  /* the CPU's pairs: sorted holds ranks, order maps a rank to its (camera, Gaussian) */
  const int64_t P = ctx->npairs, T = ctx->ntiles;
  const uint32_t *ranks = (const uint32_t *)ctx->sorted.ptr, *order = (const uint32_t *)ctx->order.ptr;
  const int64_t *tile_start = (const int64_t *)ctx->tile_start.ptr;
  raster_splat *sp = (raster_splat *)calloc((size_t)(CN + 1), sizeof *sp);
  int64_t *counts = (int64_t *)calloc((size_t)(CN + 1), sizeof *counts);
  project_all(ctx, s, antialiased, sp, counts);
  pair_order o[2] = {order_joint(ctx, N, sp, counts, sort_depth), order_split(ctx, N, sp, counts, sort_depth)};
  for (int m = 0; m < 2; ++m) {
    CHECK(o[m].P == P, "%s (%s): %lld pairs, the CPU %lld", name, m ? "split" : "joint", (long long)o[m].P,
          (long long)P);
    int64_t bad = -1;
    for (int64_t t = 0; t < T && bad < 0 && o[m].P == P; ++t)
      for (int64_t i = tile_start[t]; i < tile_start[t + 1]; ++i)
        if (o[m].tile[i] != t || o[m].cg[i] != order[ranks[i]]) {
          bad = i;
          break;
        }
    CHECK(bad < 0, "%s (%s): pair %lld is (camera, Gaussian) %u of tile %lld, the CPU's %u", name,
          m ? "split" : "joint", (long long)bad, bad >= 0 ? o[m].cg[bad] : 0, bad >= 0 ? (long long)o[m].tile[bad] : 0,
          bad >= 0 ? order[ranks[bad]] : 0);
  }
  printf("%-44s %lld pairs over %lld tiles (%d tile key bits): joint and split orders = the CPU's\n", name,
         (long long)P, (long long)T, raster_tile_key_bits(T));
  pair_order_free(&o[0]);
  pair_order_free(&o[1]);
  free(sp);
  free(counts);
  free(rgb);
  free(sort_depth);
  raster_destroy(ctx);
}

int main(void) {
  /* the tile key bits: indices 0 .. T - 1, no more */
  const int64_t tb[][2] = {{1, 1}, {2, 1}, {3, 2}, {4, 2}, {255, 8}, {256, 8}, {257, 9}, {8160, 13}, {8192, 13}};
  for (size_t k = 0; k < sizeof tb / sizeof tb[0]; ++k)
    CHECK(raster_tile_key_bits(tb[k][0]) == tb[k][1], "raster_tile_key_bits(%lld) = %d, want %lld",
          (long long)tb[k][0], raster_tile_key_bits(tb[k][0]), (long long)tb[k][1]);
  /* the switch: PL_RASTER_SORT = joint | split, anything else refused by name */
  const char *names[3] = {"joint", "split", "radix"};
  for (int k = 0; k < 3; ++k) {
    setenv("PL_RASTER_SORT", names[k], 1);
    raster_desc d;
    memset(&d, 0, sizeof d);
    d.backend = PL_BACKEND_CPU;
    raster_ctx *ctx = NULL;
    pl_status st = raster_create(&ctx, &d);
    if (k < 2)
      CHECK(st == PL_OK && ctx->sort_mode == (k ? RASTER_SORT_SPLIT : RASTER_SORT_JOINT), "PL_RASTER_SORT=%s: %s",
            names[k], pl_last_error());
    else
      CHECK(st == PL_ERR_INVALID && strstr(pl_last_error(), "PL_RASTER_SORT = 'radix'"), "PL_RASTER_SORT=radix: '%s'",
            pl_last_error());
    raster_destroy(ctx);
  }
  unsetenv("PL_RASTER_SORT");
  test_scene s;
  test_scene_random(&s, 3000, 1, 0, 0, 1.0, 0.01, 0.12, 0.1, 0.9);
  for (int64_t i = 1; i < s.n; i += 3) { /* depth ties: pairs at the same z, seen straight along z */
    s.means[3 * i] = s.means[3 * (i - 1)] + RC(0.03);
    s.means[3 * i + 1] = s.means[3 * (i - 1) + 1];
    s.means[3 * i + 2] = s.means[3 * (i - 1) + 2];
  }
  raster_camera cams[3] = {test_camera(256, 256, 50, 3.5, 0, 0), test_camera(123, 77, 60, 3.0, 0.7, 0.3),
                           test_camera(64, 48, 45, 2.5, -1.1, -0.2)};
  check_scene("one camera, 256 tiles, depth ties", &s, cams, 1, 0, 0);
  check_scene("three cameras, antialiased", &s, cams, 3, 1, 0);
  check_scene("two cameras, caller's sort depth (ties)", &s, cams + 1, 2, 0, 1);
  test_scene_free(&s);
  test_scene_random(&s, 2000, 0, 0, 0, 4.0, 0.02, 0.3, 0.2, 0.8); /* many behind the camera or off-screen: culled */
  check_scene("culled and off-screen Gaussians", &s, cams + 1, 1, 0, 0);
  test_scene_free(&s);
  return test_summary("test_raster_sort");
}
