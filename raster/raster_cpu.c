/* raster_cpu.c: the CPU backend (OpenMP), the reference. Loops only: every formula is in raster_kernels.h.
 *
 * Ordering and determinism. Per camera, the visible Gaussians are sorted by depth (stable LSD radix sort of
 * the float bits of z, so ties keep Gaussian order), then their tiles are binned with a stable counting sort
 * in that order: each tile's list is ordered by (depth, Gaussian index), exactly the order of the CUDA
 * backend's radix sort on (tile << 32 | depth) of pairs emitted in Gaussian order. Tiles are composited front
 * to back in parallel (dynamic schedule; a tile is one thread's work). The adjoint writes one gradient record
 * per pair (owned by the pair's tile), then sums each (camera, Gaussian)'s records in pair order and the
 * cameras in order: the result is bitwise identical run to run, for any thread count. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/log.h"
#include "raster/raster_internal.h"

/* The splats of a tile are scattered over memory (ranks increase along a tile's list, but sparsely): the tile
 * loops copy them BATCH at a time into a local buffer first, so that the cache misses overlap. */
#define BATCH 64

/* Small problems run on one thread: a parallel region costs more than it saves there, and far more when
 * the cores are oversubscribed (many small renders, as in gradient checks). */
#define PAR_MIN_ITEMS 4096
#define PAR_MIN_TILE_WORK 65536 /* pixels + 16 x pairs */

/* What the tile loops read of one visible splat, in one record (one cache line in float): the splat, its
 * colour, and its support's half extents. Stored in rank order. */
typedef struct {
  raster_splat s;
  real rgb[3];
  real hx, hy;
  real pad[3];
} cpu_splat;

/* Phase timings, logged at debug level (`--log debug` or PL_LOG=debug). */
static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* ------------------------------------------------------------------ input check */

static pl_status raster_cpu_check(raster_ctx *ctx, const raster_inputs *in, int64_t *bad, int *code) {
  const int64_t n = in->n;
  int64_t first = n;
#pragma omp parallel for num_threads(ctx->threads) schedule(static) if (n >= PAR_MIN_ITEMS) reduction(min : first)
  for (int64_t g = 0; g < n; ++g) {
    if (g < first && raster_check_gaussian(g, in->means, in->covs, in->scales, in->quats, in->opacities, in->colors,
                                           in->sh, in->sh_frames, in->sh_coeffs) != RASTER_BAD_NONE)
      first = g;
  }
  *bad = first < n ? first : -1;
  *code = first < n ? raster_check_gaussian(first, in->means, in->covs, in->scales, in->quats, in->opacities,
                                            in->colors, in->sh, in->sh_frames, in->sh_coeffs)
                    : RASTER_BAD_NONE;
  return PL_OK;
}

/* ------------------------------------------------------------------ helpers */

/* Stable LSD radix sort of (key, value) pairs by key, 8 bits per pass; passes where every key has the same
 * digit are skipped. The result ends in (k, v); (k2, v2) are scratch of the same length. */
static void radix_sort_u32(uint32_t *k, uint32_t *v, uint32_t *k2, uint32_t *v2, int64_t n) {
  uint32_t *sk = k, *sv = v, *dk = k2, *dv = v2;
  for (int shift = 0; shift < 32; shift += 8) {
    int64_t cnt[256];
    memset(cnt, 0, sizeof cnt);
    for (int64_t i = 0; i < n; ++i) ++cnt[(sk[i] >> shift) & 255u];
    int trivial = 0;
    for (int b = 0; b < 256; ++b)
      if (cnt[b] == n) trivial = 1;
    if (trivial) continue;
    int64_t acc = 0;
    for (int b = 0; b < 256; ++b) {
      int64_t c = cnt[b];
      cnt[b] = acc;
      acc += c;
    }
    for (int64_t i = 0; i < n; ++i) {
      int64_t p = cnt[(sk[i] >> shift) & 255u]++;
      dk[p] = sk[i];
      dv[p] = sv[i];
    }
    uint32_t *t = sk;
    sk = dk;
    dk = t;
    t = sv;
    sv = dv;
    dv = t;
  }
  if (sk != k) {
    memcpy(k, sk, sizeof(uint32_t) * (size_t)n);
    memcpy(v, sv, sizeof(uint32_t) * (size_t)n);
  }
}

/* First index r in [0, n] with a[r] >= x (a nondecreasing). */
static int64_t lower_bound_i64(const int64_t *a, int64_t n, int64_t x) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (a[mid] < x)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* ------------------------------------------------------------------ forward */

/* Pixel bounds [x0, x1] x [y0, y1] (inclusive) of tile tl of a camera. */
static inline void tile_bounds(const raster_cam *cam, int64_t tl, int *x0, int *y0, int *x1, int *y1) {
  const int tx = (int)(tl % cam->tiles_x), ty = (int)(tl / cam->tiles_x);
  *x0 = tx * RASTER_TILE, *y0 = ty * RASTER_TILE;
  *x1 = i_min(*x0 + RASTER_TILE, cam->width) - 1, *y1 = i_min(*y0 + RASTER_TILE, cam->height) - 1;
}

/* The alphas (and visibilities) of splat S over the span of row i within [x0, x1] that its support touches, in a
 * loop the compiler vectorises: al[q], vis[q] for pixel j0 + q. Returns the span's length (<= 0: none). */
static inline int row_alphas(const raster_splat *S, real hx, real hy, int i, int x0, int x1, int *j0, real *al,
                             real *vis) {
  int j1;
  raster_pixel_row_span(S, hx, hy, i, x0, x1, j0, &j1);
  const int n = j1 - *j0 + 1;
  const real py = (real)i + RC(0.5), px0 = (real)*j0 + RC(0.5);
  for (int q = 0; q < n; ++q) al[q] = raster_pixel_alpha_nb(S, px0 + (real)q, py, &vis[q]);
  return n;
}

/* Composite one tile front to back. Returns the number of alpha evaluations. */
static int64_t composite_tile(const raster_ctx *ctx, const raster_cam *cam, int64_t tl, int64_t s0, int64_t s1,
                              const cpu_splat *sp, const uint32_t *sorted, const raster_images *out, real *pT,
                              int32_t *pn, real *pd) {
  int x0, y0, x1, y1;
  tile_bounds(cam, tl, &x0, &y0, &x1, &y1);
  raster_pix px[RASTER_TILE_PIXELS];
  int live = 0, rowlive[RASTER_TILE];
  for (int i = y0; i <= y1; ++i) {
    for (int j = x0; j <= x1; ++j) raster_pix_init(&px[(i - y0) * RASTER_TILE + (j - x0)]);
    rowlive[i - y0] = x1 - x0 + 1;
    live += x1 - x0 + 1;
  }
  int64_t evals = 0;
  cpu_splat batch[BATCH];
  for (int64_t b = s0; b < s1 && live > 0; b += BATCH) {
    const int nb = (int)(s1 - b < BATCH ? s1 - b : BATCH);
    for (int q = 0; q < nb; ++q) batch[q] = sp[sorted[b + q]]; /* independent loads: the misses overlap */
    for (int qb = 0; qb < nb && live > 0; ++qb) {
      const cpu_splat *R = &batch[qb];
      const raster_splat *S = &R->s;
      const int32_t k = (int32_t)(b - s0 + qb);
      const real hx = R->hx, hy = R->hy;
      int i0, i1;
      raster_pixel_rows(S, hx, hy, y0, y1, &i0, &i1);
      for (int i = i0; i <= i1; ++i) {
        if (!rowlive[i - y0]) continue;
        int j0;
        real al[RASTER_TILE], vis[RASTER_TILE];
        const int n = row_alphas(S, hx, hy, i, x0, x1, &j0, al, vis); /* then the blends */
        if (n <= 0) continue;
        raster_pix *row = &px[(i - y0) * RASTER_TILE + (j0 - x0)];
        for (int q = 0; q < n; ++q) {
          if (row[q].done) continue;
          ++evals; /* counted as on the GPU: pixels still blending */
          if (al[q] == 0) continue;
          raster_pix_blend(&row[q], al[q], R->rgb, S->z, k, cam->t_min);
          if (row[q].done) --live, --rowlive[i - y0];
        }
      }
    }
  }
  for (int i = y0; i <= y1; ++i)
    for (int j = x0; j <= x1; ++j) {
      const raster_pix *p = &px[(i - y0) * RASTER_TILE + (j - x0)];
      const int64_t idx = cam->pix_offset + (int64_t)i * cam->width + j;
      real rgb[3], alpha, depth, ed;
      raster_pix_output(p, ctx->bg, rgb, &alpha, &depth, &ed);
      if (out->rgb) {
        out->rgb[3 * idx] = rgb[0];
        out->rgb[3 * idx + 1] = rgb[1];
        out->rgb[3 * idx + 2] = rgb[2];
      }
      if (out->alpha) out->alpha[idx] = alpha;
      if (out->depth) out->depth[idx] = depth;
      if (out->expected_depth) out->expected_depth[idx] = ed;
      pT[idx] = p->T;
      pn[idx] = p->n;
      pd[idx] = p->d;
    }
  return evals;
}

static pl_status raster_cpu_forward(raster_ctx *ctx, const raster_inputs *in, const raster_images *out) {
  const int64_t N = in->n, C = ctx->ncams, CN = C * N, T = ctx->ntiles;
  const int nt = ctx->threads;
  PL_TRY(raster_reserve(ctx, &ctx->splats, sizeof(raster_splat) * (size_t)CN));
  PL_TRY(raster_reserve(ctx, &ctx->colors, sizeof(real) * 3 * (size_t)CN));
  PL_TRY(raster_reserve(ctx, &ctx->counts, sizeof(int64_t) * (size_t)CN));
  PL_TRY(raster_reserve(ctx, &ctx->offsets, sizeof(int64_t) * (size_t)(CN + 1)));
  PL_TRY(raster_reserve(ctx, &ctx->order, sizeof(uint32_t) * (size_t)CN));
  PL_TRY(raster_reserve(ctx, &ctx->rank_of, sizeof(uint32_t) * (size_t)CN));
  PL_TRY(raster_reserve(ctx, &ctx->splats_r, sizeof(cpu_splat) * (size_t)CN));
  PL_TRY(raster_reserve(ctx, &ctx->nvis, sizeof(int64_t) * (size_t)(C + 1)));
  PL_TRY(raster_reserve(ctx, &ctx->sort_tmp, sizeof(uint32_t) * 4 * (size_t)N));
  PL_TRY(raster_reserve(ctx, &ctx->tile_start, sizeof(int64_t) * (size_t)(T + 1)));
  PL_TRY(raster_reserve(ctx, &ctx->pix_T, sizeof(real) * (size_t)ctx->npix));
  PL_TRY(raster_reserve(ctx, &ctx->pix_n, sizeof(int32_t) * (size_t)ctx->npix));
  PL_TRY(raster_reserve(ctx, &ctx->pix_d, sizeof(real) * (size_t)ctx->npix));
  raster_splat *sp = (raster_splat *)ctx->splats.ptr;
  cpu_splat *spr = (cpu_splat *)ctx->splats_r.ptr;
  real *col = (real *)ctx->colors.ptr;
  int64_t *counts = (int64_t *)ctx->counts.ptr, *off = (int64_t *)ctx->offsets.ptr;
  uint32_t *vis_cg = (uint32_t *)ctx->order.ptr, *rank_of = (uint32_t *)ctx->rank_of.ptr;
  int64_t *vbase = (int64_t *)ctx->nvis.ptr; /* [C + 1]: first rank of each camera */
  int64_t *tile_start = (int64_t *)ctx->tile_start.ptr;

  const double t0 = now_ms();
  /* 1. project every (camera, Gaussian) and count its tiles */
#pragma omp parallel for num_threads(nt) schedule(static, 256) if (CN >= PAR_MIN_ITEMS)
  for (int64_t cg = 0; cg < CN; ++cg) {
    const int64_t c = cg / N, g = cg % N;
    const raster_cam *cam = &ctx->cams[c];
    v3 mu = v3_load(in->means + 3 * g);
    m3 cov = raster_gaussian_cov(in->covs, in->scales, in->quats, g);
    raster_splat s;
    int64_t cnt = 0;
    if (raster_project(cam, mu, cov, in->opacities[g], ctx->antialiased, &s)) cnt = raster_tile_count(cam, &s);
    counts[cg] = cnt;
    rank_of[cg] = RASTER_NO_RANK;
    if (cnt) {
      sp[cg] = s;
      raster_gaussian_color(in->colors, in->sh, in->sh_frames, in->sh_degree, g, mu, cam, col + 3 * cg);
    }
  }

  const double t1 = now_ms();
  /* 2. per camera: the visible Gaussians sorted by depth get consecutive ranks v (cameras in order) */
  int64_t V = 0;
  for (int64_t c = 0; c < C; ++c) {
    uint32_t *k0 = (uint32_t *)ctx->sort_tmp.ptr, *v0 = k0 + N, *k1 = v0 + N, *v1 = k1 + N;
    int64_t nv = 0;
    for (int64_t g = 0; g < N; ++g)
      if (counts[c * N + g]) {
        k0[nv] = raster_depth_bits(ctx->sort_depth ? r_fmax(ctx->sort_depth[c * N + g], RC(0.0)) : sp[c * N + g].z);
        v0[nv] = (uint32_t)g;
        ++nv;
      }
    radix_sort_u32(k0, v0, k1, v1, nv);
    vbase[c] = V;
    for (int64_t r = 0; r < nv; ++r) vis_cg[V + r] = (uint32_t)(c * N + v0[r]);
    V += nv;
  }
  vbase[C] = V;
  /* gather splats and colours into rank order (independent loads), ranks of each (camera, Gaussian) */
#pragma omp parallel for num_threads(nt) schedule(static, 1024) if (V >= PAR_MIN_ITEMS)
  for (int64_t v = 0; v < V; ++v) {
    const uint32_t cg = vis_cg[v];
    cpu_splat *R = &spr[v];
    R->s = sp[cg];
    R->rgb[0] = col[3 * (int64_t)cg];
    R->rgb[1] = col[3 * (int64_t)cg + 1];
    R->rgb[2] = col[3 * (int64_t)cg + 2];
    raster_support_extent(&R->s, &R->hx, &R->hy);
    R->pad[0] = R->pad[1] = R->pad[2] = 0;
    rank_of[cg] = (uint32_t)v;
    off[v] = counts[cg];
  }
  /* pair offsets in rank order (64-bit) */
  int64_t total = 0;
  for (int64_t v = 0; v < V; ++v) {
    int64_t cnt = off[v];
    off[v] = total;
    total += cnt;
  }
  off[V] = total;
  if (total > ctx->max_pairs)
    return pl_fail(PL_ERR_LIMIT, "rasterizer: %lld Gaussian-tile pairs exceed the limit max_pairs = %lld; use fewer "
                   "or smaller Gaussians, smaller images or fewer cameras per call", (long long)total,
                   (long long)ctx->max_pairs);
  ctx->npairs = total;
  ctx->nvisible = V;
  ctx->stats.n_visible = V;
  ctx->stats.n_pairs = total;
  PL_TRY(raster_reserve(ctx, &ctx->sorted, sizeof(uint32_t) * (size_t)(total > 0 ? total : 1)));
  PL_TRY(raster_reserve(ctx, &ctx->inv, sizeof(uint32_t) * (size_t)(total > 0 ? total : 1)));
  uint32_t *sorted = (uint32_t *)ctx->sorted.ptr, *inv = (uint32_t *)ctx->inv.ptr;

  const double t2 = now_ms();
  /* 3. per camera: stable counting sort of the pairs by tile, in rank (depth) order; each thread takes a
   * chunk of ranks holding about the same number of pairs */
  for (int64_t c = 0; c < C; ++c) {
    const raster_cam *cam = &ctx->cams[c];
    const int64_t Tc = (int64_t)cam->tiles_x * cam->tiles_y, v0 = vbase[c], v1 = vbase[c + 1];
    const int64_t base = off[v0], Pc = off[v1] - base;
    int nchunk = v1 - v0 < 4096 ? 1 : nt;
    PL_TRY(raster_reserve(ctx, &ctx->hist, sizeof(int64_t) * (size_t)(nchunk * Tc + nchunk + 1)));
    int64_t *hist = (int64_t *)ctx->hist.ptr, *rb = hist + nchunk * Tc;
    memset(hist, 0, sizeof(int64_t) * (size_t)(nchunk * Tc));
    for (int k = 0; k <= nchunk; ++k)
      rb[k] = k == nchunk ? v1 : v0 + lower_bound_i64(off + v0, v1 - v0, base + Pc * k / nchunk);
#pragma omp parallel for num_threads(nt) schedule(static, 1) if (nchunk > 1)
    for (int k = 0; k < nchunk; ++k) {
      int64_t *h = hist + (int64_t)k * Tc;
      for (int64_t v = rb[k]; v < rb[k + 1]; ++v) {
        const raster_splat *S = &spr[v].s;
        const real hx = spr[v].hx, hy = spr[v].hy;
        int ty0, ty1;
        raster_tile_rows(cam, S, hx, hy, &ty0, &ty1);
        for (int ty = ty0; ty <= ty1; ++ty) {
          int tx0, tx1;
          raster_tile_row_span(cam, S, hx, hy, ty, &tx0, &tx1);
          for (int tx = tx0; tx <= tx1; ++tx) ++h[(int64_t)ty * cam->tiles_x + tx];
        }
      }
    }
    int64_t acc = base;
    for (int64_t t = 0; t < Tc; ++t) {
      tile_start[cam->tile_offset + t] = acc;
      for (int k = 0; k < nchunk; ++k) {
        int64_t n = hist[(int64_t)k * Tc + t];
        hist[(int64_t)k * Tc + t] = acc;
        acc += n;
      }
    }
#pragma omp parallel for num_threads(nt) schedule(static, 1) if (nchunk > 1)
    for (int k = 0; k < nchunk; ++k) {
      int64_t *h = hist + (int64_t)k * Tc;
      for (int64_t v = rb[k]; v < rb[k + 1]; ++v) {
        const raster_splat *S = &spr[v].s;
        int64_t e = off[v];
        const real hx = spr[v].hx, hy = spr[v].hy;
        int ty0, ty1;
        raster_tile_rows(cam, S, hx, hy, &ty0, &ty1);
        for (int ty = ty0; ty <= ty1; ++ty) {
          int tx0, tx1;
          raster_tile_row_span(cam, S, hx, hy, ty, &tx0, &tx1);
          for (int tx = tx0; tx <= tx1; ++tx) {
            int64_t pos = h[(int64_t)ty * cam->tiles_x + tx]++;
            sorted[pos] = (uint32_t)v;
            inv[e++] = (uint32_t)pos;
          }
        }
      }
    }
  }
  tile_start[T] = total;

  const double t3 = now_ms();
  /* 4. composite every tile (a tile's splats have increasing ranks: its reads move forward in memory) */
  const int par_tiles = ctx->npix + 16 * total >= PAR_MIN_TILE_WORK;
  real *pT = (real *)ctx->pix_T.ptr, *pd = (real *)ctx->pix_d.ptr;
  int32_t *pn = (int32_t *)ctx->pix_n.ptr;
  int64_t evals = 0;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) reduction(+ : evals) if (par_tiles)
  for (int64_t t = 0; t < T; ++t) {
    const int c = raster_camera_of_tile(ctx->cams, ctx->ncams, t);
    const raster_cam *cam = &ctx->cams[c];
    evals += composite_tile(ctx, cam, t - cam->tile_offset, tile_start[t], tile_start[t + 1], spr, sorted, out, pT,
                            pn, pd);
  }
  ctx->stats.fwd_evals = evals;
  PL_DEBUG("raster cpu forward: project %.2f ms, depth sort and gather %.2f ms, binning %.2f ms, composite %.2f ms "
           "(%lld pairs, %lld evaluations)", t1 - t0, t2 - t1, t3 - t2, now_ms() - t3, (long long)total,
           (long long)evals);
  return PL_OK;
}

/* ------------------------------------------------------------------ backward */

/* Walk one tile back to front; write one gradient record per pair of the tile. Returns the evaluations. */
static int64_t backward_tile(const raster_ctx *ctx, const raster_cam *cam, int64_t tl, int64_t s0, int64_t s1,
                             const cpu_splat *sp, const uint32_t *sorted,
                             const raster_images *v_out, const real *pT, const int32_t *pn, const real *pd,
                             real *pairgrad) {
  int x0, y0, x1, y1;
  tile_bounds(cam, tl, &x0, &y0, &x1, &y1);
  raster_pix_bwd st[RASTER_TILE_PIXELS];
  int32_t last[RASTER_TILE_PIXELS], rowmax[RASTER_TILE];
  int32_t nmax = 0;
  for (int i = y0; i <= y1; ++i) {
    rowmax[i - y0] = 0;
    for (int j = x0; j <= x1; ++j) {
      const int q = (i - y0) * RASTER_TILE + (j - x0);
      const int64_t idx = cam->pix_offset + (int64_t)i * cam->width + j;
      const real Tf = pT[idx];
      real v_a = v_out->alpha ? v_out->alpha[idx] : RC(0.0);
      real v_d = v_out->depth ? v_out->depth[idx] : RC(0.0);
      if (v_out->expected_depth) raster_expected_depth_vjp(pd[idx], 1 - Tf, v_out->expected_depth[idx], &v_d, &v_a);
      raster_pix_bwd_init(&st[q], Tf, v_out->rgb ? v_out->rgb + 3 * idx : NULL, v_a, v_d, ctx->bg);
      last[q] = pn[idx];
      if (last[q] > rowmax[i - y0]) rowmax[i - y0] = last[q];
    }
    if (rowmax[i - y0] > nmax) nmax = rowmax[i - y0];
  }
  for (int64_t s = s0 + nmax; s < s1; ++s)
    for (int m = 0; m < RASTER_NGRAD; ++m) pairgrad[RASTER_NGRAD * s + m] = 0;
  int64_t evals = 0;
  cpu_splat batch[BATCH];
  for (int64_t end = s0 + nmax; end > s0; end -= BATCH) {
    const int64_t beg = end - BATCH > s0 ? end - BATCH : s0;
    const int nb = (int)(end - beg);
    for (int q = 0; q < nb; ++q) batch[q] = sp[sorted[beg + q]];
    for (int qb = nb - 1; qb >= 0; --qb) {
      const int64_t s = beg + qb;
      const int32_t k = (int32_t)(s - s0);
      const cpu_splat *R = &batch[qb];
      const raster_splat *S = &R->s;
      const real *rgb = R->rgb;
      const real hx = R->hx, hy = R->hy;
      real acc[RASTER_NGRAD];
      for (int m = 0; m < RASTER_NGRAD; ++m) acc[m] = 0;
      int i0, i1;
      raster_pixel_rows(S, hx, hy, y0, y1, &i0, &i1);
      for (int i = i0; i <= i1; ++i) {
        if (k >= rowmax[i - y0]) continue;
        int j0;
        real al[RASTER_TILE], vis[RASTER_TILE];
        const int n = row_alphas(S, hx, hy, i, x0, x1, &j0, al, vis);
        if (n <= 0) continue;
        const real py = (real)i + RC(0.5), px0 = (real)j0 + RC(0.5);
        const int q0 = (i - y0) * RASTER_TILE + (j0 - x0);
        for (int q = 0; q < n; ++q) {
          if (k >= last[q0 + q]) continue;
          ++evals;
          if (al[q] == 0) continue;
          const real v_alpha = raster_pix_bwd_step(&st[q0 + q], al[q], rgb, S->z, acc);
          raster_pixel_alpha_vjp(S, px0 + (real)q, py, vis[q], v_alpha, acc);
        }
      }
      for (int m = 0; m < RASTER_NGRAD; ++m) pairgrad[RASTER_NGRAD * s + m] = acc[m];
    }
  }
  return evals;
}

/* 4. (grads.cameras) each camera's cotangent, summed over its visible Gaussians: chunks of a fixed size in
 * parallel, then the chunks in order (the same sum for any thread count) */
#define CAM_CHUNK 1024
static pl_status cpu_camera_grads(raster_ctx *ctx, const raster_inputs *in, const real *v2d, const uint32_t *rank_of,
                                  real *out) {
  const int64_t N = in->n, C = ctx->ncams, nch = (N + CAM_CHUNK - 1) / CAM_CHUNK;
  double *part = (double *)calloc((size_t)(nch > 0 ? nch : 1) * (size_t)C * 16, sizeof(double));
  if (!part) return pl_fail(PL_ERR_NOMEM, "out of memory (camera gradients)");
#pragma omp parallel for num_threads(ctx->threads) schedule(dynamic, 1) if (nch > 1)
  for (int64_t ch = 0; ch < nch; ++ch) {
    for (int64_t c = 0; c < C; ++c) {
      m3 vR = m3_zero();
      v3 vt = v3_zero();
      real vK[4] = {0, 0, 0, 0};
      const int64_t g1 = (ch + 1) * CAM_CHUNK < N ? (ch + 1) * CAM_CHUNK : N;
      for (int64_t g = ch * CAM_CHUNK; g < g1; ++g) {
        const uint32_t v = rank_of[c * N + g];
        if (v == RASTER_NO_RANK) continue;
        const real *vg = v2d + RASTER_NGRAD * (int64_t)v;
        if (raster_record_is_zero(vg)) continue;
        raster_project_camera_vjp(&ctx->cams[c], v3_load(in->means + 3 * g),
                                  raster_gaussian_cov(in->covs, in->scales, in->quats, g), in->opacities[g],
                                  ctx->antialiased, vg, &vR, &vt, vK);
      }
      double *p = part + ((size_t)ch * (size_t)C + (size_t)c) * 16;
      for (int a = 0; a < 3; ++a) {
        for (int b = 0; b < 3; ++b) p[4 * a + b] = (double)vR.m[a][b];
        p[4 * a + 3] = (double)v3_get(vt, a);
      }
      for (int k = 0; k < 4; ++k) p[12 + k] = (double)vK[k];
    }
  }
  for (int64_t c = 0; c < C; ++c)
    for (int k = 0; k < 16; ++k) {
      double s = 0;
      for (int64_t ch = 0; ch < nch; ++ch) s += part[((size_t)ch * (size_t)C + (size_t)c) * 16 + (size_t)k];
      out[16 * c + k] += (real)s;
    }
  free(part);
  return PL_OK;
}

static pl_status raster_cpu_backward(raster_ctx *ctx, const raster_inputs *in, const raster_images *v_out,
                              const raster_grads *gr) {
  const int64_t N = in->n, C = ctx->ncams, T = ctx->ntiles, P = ctx->npairs, V = ctx->nvisible;
  const int nt = ctx->threads;
  PL_TRY(raster_reserve(ctx, &ctx->pairgrad, sizeof(real) * RASTER_NGRAD * (size_t)(P > 0 ? P : 1)));
  PL_TRY(raster_reserve(ctx, &ctx->v2d, sizeof(real) * RASTER_NGRAD * (size_t)(V > 0 ? V : 1)));
  const cpu_splat *spr = (const cpu_splat *)ctx->splats_r.ptr;
  const int64_t *off = (const int64_t *)ctx->offsets.ptr;
  const int64_t *tile_start = (const int64_t *)ctx->tile_start.ptr;
  const uint32_t *sorted = (const uint32_t *)ctx->sorted.ptr, *inv = (const uint32_t *)ctx->inv.ptr;
  const uint32_t *rank_of = (const uint32_t *)ctx->rank_of.ptr;
  const real *pT = (const real *)ctx->pix_T.ptr, *pd = (const real *)ctx->pix_d.ptr;
  const int32_t *pn = (const int32_t *)ctx->pix_n.ptr;
  real *pairgrad = (real *)ctx->pairgrad.ptr, *v2d = (real *)ctx->v2d.ptr;

  const double t0 = now_ms();
  /* 1. per tile, back to front: one record per pair */
  const int par_tiles = ctx->npix + 16 * P >= PAR_MIN_TILE_WORK;
  int64_t evals = 0;
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) reduction(+ : evals) if (par_tiles)
  for (int64_t t = 0; t < T; ++t) {
    const int c = raster_camera_of_tile(ctx->cams, ctx->ncams, t);
    const raster_cam *cam = &ctx->cams[c];
    evals += backward_tile(ctx, cam, t - cam->tile_offset, tile_start[t], tile_start[t + 1], spr, sorted, v_out, pT,
                           pn, pd, pairgrad);
  }
  ctx->stats.bwd_evals = evals;

  const double t1 = now_ms();
  /* 2. per visible (camera, Gaussian): sum its records in pair order */
#pragma omp parallel for num_threads(nt) schedule(static, 256) if (V >= PAR_MIN_ITEMS)
  for (int64_t v = 0; v < V; ++v) {
    real acc[RASTER_NGRAD];
    for (int m = 0; m < RASTER_NGRAD; ++m) acc[m] = 0;
    for (int64_t e = off[v]; e < off[v + 1]; ++e) {
      const real *r = pairgrad + RASTER_NGRAD * (int64_t)inv[e];
      for (int m = 0; m < RASTER_NGRAD; ++m) acc[m] += r[m];
    }
    for (int m = 0; m < RASTER_NGRAD; ++m) v2d[RASTER_NGRAD * v + m] = acc[m];
  }

  const double t2 = now_ms();
  /* 3. per Gaussian, cameras in order: through the projection and the colour into the caller's gradients */
#pragma omp parallel for num_threads(nt) schedule(static, 256) if (N >= PAR_MIN_ITEMS)
  for (int64_t g = 0; g < N; ++g) {
    int any = 0;
    for (int64_t c = 0; c < C; ++c) {
      const uint32_t v = rank_of[c * N + g];
      any |= v != RASTER_NO_RANK && !raster_record_is_zero(v2d + RASTER_NGRAD * (int64_t)v);
    }
    if (!any) continue; /* culled, occluded or without cotangent everywhere: exactly zero */
    const v3 mu = v3_load(in->means + 3 * g);
    const m3 cov = raster_gaussian_cov(in->covs, in->scales, in->quats, g);
    const real op = in->opacities[g];
    v3 v_mu = v3_zero();
    m3 v_cov = m3_zero();
    real v_op = 0;
    for (int64_t c = 0; c < C; ++c) {
      const uint32_t v = rank_of[c * N + g];
      if (v == RASTER_NO_RANK) continue;
      const raster_cam *cam = &ctx->cams[c];
      const real *vg = v2d + RASTER_NGRAD * (int64_t)v;
      if (raster_record_is_zero(vg)) continue;
      raster_project_vjp(cam, mu, cov, op, ctx->antialiased, vg, &v_mu, &v_cov, &v_op);
      raster_gaussian_color_vjp(in->colors, in->sh, in->sh_frames, in->sh_degree, g, mu, cam, vg + RG_R, gr->colors,
                                gr->sh, gr->sh_frames, &v_mu);
    }
    if (gr->means) {
      gr->means[3 * g] += v_mu.x;
      gr->means[3 * g + 1] += v_mu.y;
      gr->means[3 * g + 2] += v_mu.z;
    }
    if (gr->opacities) gr->opacities[g] += v_op;
    raster_gaussian_cov_vjp(in->covs, in->scales, in->quats, g, v_cov, gr->covs, gr->scales, gr->quats);
  }
  PL_DEBUG("raster cpu backward: tiles %.2f ms, pair reduction %.2f ms, projection adjoint %.2f ms", t1 - t0,
           t2 - t1, now_ms() - t2);
  if (gr->cameras) return cpu_camera_grads(ctx, in, v2d, rank_of, gr->cameras);
  return PL_OK;
}

const raster_backend_ops raster_cpu_ops = {"cpu", raster_cpu_check, raster_cpu_forward, raster_cpu_backward};
