// raster_cuda.cu: the CUDA backend. Kernels loop and call the per-element functions of raster_kernels.h,
// the same ones the CPU reference calls; nothing here computes a formula of its own.
//
//   k_check        input values, first bad Gaussian by atomicMin on (index << 8 | code)
//   k_project      per (camera, Gaussian): splat, colour, tile count (exact ellipse-tile test)
//   the pair order (ctx->sort_mode, PL_RASTER_SORT; raster_internal.h), the same (tile, depth, cg) order either way:
//     joint (default)  ExclusiveSum (CUB) of the counts: pair offsets, 64-bit; k_emit: one key per pair, global
//                      tile << 32 | depth bits, value camera * N + Gaussian; SortPairs (CUB radix sort, stable:
//                      equal depths keep Gaussian order, as on the CPU) over 32 + ceil(log2 T) bits
//     split (prepared) k_depth_keys + SortPairs: the (camera, Gaussian)s by depth (32-bit keys, stable);
//                      k_counts_ranked + ExclusiveSum: offsets in that order; k_emit_ranked: pairs in depth
//                      order, key = global tile; SortPairs by tile alone (ceil(log2 T) bits, stable), as the CPU's
//                      depth sort and counting sort by tile
//   k_tile_ranges  tile_start[t] from the sorted keys
//   k_composite    one 16x16 block per tile; splats loaded cooperatively into shared memory, 256 at a time
//   k_backward     back to front per pixel from its last blended splat; per splat, a warp-level sum of the
//                  10 cotangents (__shfl_down_sync), then one atomicAdd per warp into v2d
//   k_project_bwd  per Gaussian, cameras in order: projection and colour adjoints into the caller's grads
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>
#include <cuda_runtime.h>

#include <string.h>

#include "core/log.h"
#include "raster/raster_internal.h"

namespace {

constexpr int kBlock = RASTER_TILE_PIXELS;  // 256 threads: one per pixel of a tile

pl_status cuda_ok(cudaError_t e, const char *what) {
  if (e == cudaSuccess) return PL_OK;
  if (e == cudaErrorMemoryAllocation) return pl_fail(PL_ERR_NOMEM, "rasterizer (cuda): %s: out of GPU memory", what);
  return pl_fail(PL_ERR_CUDA, "rasterizer (cuda): %s: %s", what, cudaGetErrorString(e));
}

pl_status launched(const char *what) { return cuda_ok(cudaGetLastError(), what); }

struct rgb3 {
  real v[3];
};

unsigned grid_for(int64_t n, int block) { return (unsigned)((n + block - 1) / block); }

// ------------------------------------------------------------------ input check

__global__ void k_check(int64_t n, const real *means, const real *covs, const real *scales, const real *quats,
                        const real *opacities, const real *colors, const real *sh, const real *sh_frames,
                        int sh_coeffs, unsigned long long *first) {
  const int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (g >= n) return;
  const int code = raster_check_gaussian(g, means, covs, scales, quats, opacities, colors, sh, sh_frames, sh_coeffs);
  if (code != RASTER_BAD_NONE) atomicMin(first, ((unsigned long long)g << 8) | (unsigned long long)code);
}

// ------------------------------------------------------------------ projection and binning

__global__ void k_project(int64_t N, int64_t CN, const raster_cam *cams, const real *means, const real *covs,
                          const real *scales, const real *quats, const real *opacities, const real *colors,
                          const real *sh, const real *sh_frames, int sh_degree, int antialiased, raster_splat *sp,
                          real *col, int64_t *counts, unsigned long long *n_visible) {
  const int64_t cg = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  int64_t cnt = 0;
  if (cg < CN) {
    const int64_t c = cg / N, g = cg % N;
    const raster_cam *cam = &cams[c];
    const v3 mu = v3_load(means + 3 * g);
    const m3 cov = raster_gaussian_cov(covs, scales, quats, g);
    raster_splat s;
    if (raster_project(cam, mu, cov, opacities[g], antialiased, &s)) cnt = raster_tile_count(cam, &s);
    counts[cg] = cnt;
    if (cnt) {
      sp[cg] = s;
      raster_gaussian_color(colors, sh, sh_frames, sh_degree, g, mu, cam, col + 3 * cg);
    }
  }
  const unsigned vis = __ballot_sync(0xffffffffu, cnt > 0);
  if ((threadIdx.x & 31) == 0 && vis) atomicAdd(n_visible, (unsigned long long)__popc(vis));
}

// The depth key a splat is sorted by (the caller's sort_depth when given, as on the CPU).
__device__ __forceinline__ uint32_t depth_key(const raster_splat &s, const real *sort_depth, int64_t cg) {
  return raster_depth_bits(sort_depth ? r_fmax(sort_depth[cg], RC(0.0)) : s.z);
}

__global__ void k_emit(int64_t N, int64_t CN, const raster_cam *cams, const raster_splat *sp, const real *sort_depth,
                       const int64_t *counts,
                       const int64_t *offsets, unsigned long long *keys, uint32_t *vals) {
  const int64_t cg = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (cg >= CN || counts[cg] == 0) return;
  const raster_splat s = sp[cg];
  raster_emit_pairs(&cams[cg / N], &s, depth_key(s, sort_depth, cg), offsets[cg], keys, nullptr, vals, (uint32_t)cg);
}

// split sort, 1: the depth key of every (camera, Gaussian); those without pairs sort last (above every finite
// positive float's bits) and emit nothing
__global__ void k_depth_keys(int64_t CN, const raster_splat *sp, const real *sort_depth, const int64_t *counts,
                             uint32_t *keys, uint32_t *vals) {
  const int64_t cg = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (cg >= CN) return;
  keys[cg] = counts[cg] ? depth_key(sp[cg], sort_depth, cg) : 0xFFFFFFFFu;
  vals[cg] = (uint32_t)cg;
}

// split sort, 2: the tile counts in depth order (the input of the offsets' scan)
__global__ void k_counts_ranked(int64_t CN, const uint32_t *order, const int64_t *counts, int64_t *counts_r) {
  const int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (r < CN) counts_r[r] = counts[order[r]];
}

// split sort, 3: the pairs of the r-th splat in depth order from offsets_r[r] on, keyed by tile alone
__global__ void k_emit_ranked(int64_t N, int64_t CN, const raster_cam *cams, const raster_splat *sp,
                              const uint32_t *order, const int64_t *counts_r, const int64_t *offsets_r,
                              uint32_t *keys, uint32_t *vals) {
  const int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= CN || counts_r[r] == 0) return;
  const uint32_t cg = order[r];
  const raster_splat s = sp[cg];
  raster_emit_pairs(&cams[cg / N], &s, 0, offsets_r[r], nullptr, keys, vals, cg);
}

// The global tile of sorted pair s: the high word of a joint key, or a split key itself.
__device__ __forceinline__ int64_t tile_of_key(const void *keys, int split, int64_t s) {
  return split ? (int64_t)((const uint32_t *)keys)[s] : (int64_t)(((const unsigned long long *)keys)[s] >> 32);
}

// tile_start[u] for every tile u: the first sorted pair of tile u (tiles without pairs get an empty range).
__global__ void k_tile_ranges(int64_t P, int64_t T, const void *keys, int split, int64_t *tile_start) {
  const int64_t s = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (s >= P) return;
  const int64_t t = tile_of_key(keys, split, s);
  const int64_t prev = s > 0 ? tile_of_key(keys, split, s - 1) : -1;
  for (int64_t u = prev + 1; u <= t; ++u) tile_start[u] = s;
  if (s == P - 1)
    for (int64_t u = t + 1; u <= T; ++u) tile_start[u] = P;
}

// ------------------------------------------------------------------ compositing

// The pixel (row i, column j, centre px, py) of this thread in global tile t of camera cam (one thread per pixel of
// a 16 x 16 tile); false when it lies past the image's edge.
__device__ __forceinline__ bool thread_pixel(const raster_cam &cam, int64_t t, int *i, int *j, real *px, real *py) {
  const int64_t tl = t - cam.tile_offset;
  *i = (int)(tl / cam.tiles_x) * RASTER_TILE + (int)threadIdx.y;
  *j = (int)(tl % cam.tiles_x) * RASTER_TILE + (int)threadIdx.x;
  *px = (real)*j + RC(0.5), *py = (real)*i + RC(0.5);
  return *i < cam.height && *j < cam.width;
}

__global__ void __launch_bounds__(kBlock)
    k_composite(const raster_cam *cams, int ncams, const int64_t *tile_start, const uint32_t *sorted,
                const raster_splat *sp, const real *col, rgb3 bg, real *o_rgb, real *o_alpha, real *o_depth,
                real *o_ed, real *pT, int32_t *pn, real *pd, unsigned long long *n_evals) {
  __shared__ raster_cam scam;
  __shared__ raster_splat ssp[kBlock];
  __shared__ real scol[3 * kBlock];
  __shared__ unsigned long long sevals;
  const int64_t t = blockIdx.x;
  const int tid = threadIdx.y * RASTER_TILE + threadIdx.x;
  if (tid == 0) {
    scam = cams[raster_camera_of_tile(cams, ncams, t)];
    sevals = 0;
  }
  __syncthreads();
  int i, j;
  real px, py;
  const bool inside = thread_pixel(scam, t, &i, &j, &px, &py);
  raster_pix p;
  raster_pix_init(&p);
  p.done = !inside;
  const int64_t s0 = tile_start[t], s1 = tile_start[t + 1];
  unsigned long long evals = 0;
  for (int64_t b = s0; b < s1; b += kBlock) {
    // also the barrier that protects the shared batch of the previous round
    if (__syncthreads_count(p.done) == kBlock) break;
    const int64_t s = b + tid;
    if (s < s1) {
      const uint32_t cg = sorted[s];
      ssp[tid] = sp[cg];
      scol[3 * tid] = col[3 * (int64_t)cg];
      scol[3 * tid + 1] = col[3 * (int64_t)cg + 1];
      scol[3 * tid + 2] = col[3 * (int64_t)cg + 2];
    }
    __syncthreads();
    const int nb = (int)min((int64_t)kBlock, s1 - b);
    for (int k = 0; k < nb && !p.done; ++k) {
      ++evals;
      real vis;
      const real a = raster_pixel_alpha(&ssp[k], px, py, &vis);
      if (a == 0) continue;
      raster_pix_blend(&p, a, &scol[3 * k], ssp[k].z, (int32_t)(b - s0 + k), scam.t_min);
    }
  }
  if (inside) {
    const int64_t idx = scam.pix_offset + (int64_t)i * scam.width + j;
    real rgb[3], alpha, depth, ed;
    raster_pix_output(&p, bg.v, rgb, &alpha, &depth, &ed);
    if (o_rgb) {
      o_rgb[3 * idx] = rgb[0];
      o_rgb[3 * idx + 1] = rgb[1];
      o_rgb[3 * idx + 2] = rgb[2];
    }
    if (o_alpha) o_alpha[idx] = alpha;
    if (o_depth) o_depth[idx] = depth;
    if (o_ed) o_ed[idx] = ed;
    pT[idx] = p.T;
    pn[idx] = p.n;
    pd[idx] = p.d;
  }
  atomicAdd(&sevals, evals);
  __syncthreads();
  if (tid == 0) atomicAdd(n_evals, sevals);
}

// ------------------------------------------------------------------ adjoint

__device__ __forceinline__ real warp_sum(real v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}

__global__ void __launch_bounds__(kBlock)
    k_backward(const raster_cam *cams, int ncams, const int64_t *tile_start, const uint32_t *sorted,
               const raster_splat *sp, const real *col, rgb3 bg, const real *v_rgb, const real *v_alpha,
               const real *v_depth, const real *v_ed, const real *pT, const int32_t *pn, const real *pd, real *v2d,
               unsigned long long *n_evals) {
  __shared__ raster_cam scam;
  __shared__ raster_splat ssp[kBlock];
  __shared__ real scol[3 * kBlock];
  __shared__ uint32_t sid[kBlock];
  __shared__ int smax;
  __shared__ unsigned long long sevals;
  const int64_t t = blockIdx.x;
  const int tid = threadIdx.y * RASTER_TILE + threadIdx.x;
  const int lane = tid & 31;
  if (tid == 0) {
    scam = cams[raster_camera_of_tile(cams, ncams, t)];
    smax = 0;
    sevals = 0;
  }
  __syncthreads();
  int i, j;
  real px, py;
  const bool inside = thread_pixel(scam, t, &i, &j, &px, &py);
  raster_pix_bwd st;
  int32_t last = 0;
  if (inside) {
    const int64_t idx = scam.pix_offset + (int64_t)i * scam.width + j;
    const real Tf = pT[idx];
    real va = v_alpha ? v_alpha[idx] : RC(0.0);
    real vd = v_depth ? v_depth[idx] : RC(0.0);
    if (v_ed) raster_expected_depth_vjp(pd[idx], 1 - Tf, v_ed[idx], &vd, &va);
    raster_pix_bwd_init(&st, Tf, v_rgb ? v_rgb + 3 * idx : nullptr, va, vd, bg.v);
    last = pn[idx];
    atomicMax(&smax, last);
  } else {
    raster_pix_bwd_init(&st, RC(1.0), nullptr, RC(0.0), RC(0.0), bg.v);
  }
  __syncthreads();
  const int64_t s0 = tile_start[t];
  const int nmax = smax;
  unsigned long long evals = 0;
  for (int end = nmax; end > 0; end -= kBlock) {
    const int beg = end > kBlock ? end - kBlock : 0;
    const int nb = end - beg;
    __syncthreads();  // the previous batch is no longer read
    if (tid < nb) {
      const uint32_t cg = sorted[s0 + beg + tid];
      sid[tid] = cg;
      ssp[tid] = sp[cg];
      scol[3 * tid] = col[3 * (int64_t)cg];
      scol[3 * tid + 1] = col[3 * (int64_t)cg + 1];
      scol[3 * tid + 2] = col[3 * (int64_t)cg + 2];
    }
    __syncthreads();
    for (int k = nb - 1; k >= 0; --k) {
      bool valid = inside && beg + k < last;
      real a = 0, vis = 0;
      if (valid) {
        ++evals;
        a = raster_pixel_alpha(&ssp[k], px, py, &vis);
        valid = a > 0;
      }
      if (!__any_sync(0xffffffffu, valid)) continue;
      real g[RASTER_NGRAD];
      for (int m = 0; m < RASTER_NGRAD; ++m) g[m] = 0;
      if (valid) {
        const real v_a = raster_pix_bwd_step(&st, a, &scol[3 * k], ssp[k].z, g);
        raster_pixel_alpha_vjp(&ssp[k], px, py, vis, v_a, g);
      }
      for (int m = 0; m < RASTER_NGRAD; ++m) g[m] = warp_sum(g[m]);
      if (lane == 0) {
        real *dst = v2d + (int64_t)RASTER_NGRAD * sid[k];
        for (int m = 0; m < RASTER_NGRAD; ++m)
          if (g[m] != 0) atomicAdd(dst + m, g[m]);
      }
    }
  }
  atomicAdd(&sevals, evals);
  __syncthreads();
  if (tid == 0) atomicAdd(n_evals, sevals);
}

__global__ void k_project_bwd(int64_t N, int C, const raster_cam *cams, const real *means, const real *covs,
                              const real *scales, const real *quats, const real *opacities, const real *colors,
                              const real *sh, const real *sh_frames, int sh_degree, int antialiased,
                              const int64_t *counts, const real *v2d, real *g_means, real *g_covs, real *g_scales,
                              real *g_quats, real *g_opacities, real *g_colors, real *g_sh, real *g_sh_frames) {
  const int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (g >= N) return;
  bool any = false;
  for (int c = 0; c < C; ++c)
    any = any || (counts[c * N + g] != 0 && !raster_record_is_zero(v2d + (int64_t)RASTER_NGRAD * (c * N + g)));
  if (!any) return;  // culled, occluded or without cotangent everywhere: exactly zero
  const v3 mu = v3_load(means + 3 * g);
  const m3 cov = raster_gaussian_cov(covs, scales, quats, g);
  const real op = opacities[g];
  v3 v_mu = v3_zero();
  m3 v_cov = m3_zero();
  real v_op = 0;
  for (int c = 0; c < C; ++c) {
    const int64_t cg = c * N + g;
    if (!counts[cg]) continue;
    const real *v = v2d + (int64_t)RASTER_NGRAD * cg;
    if (raster_record_is_zero(v)) continue;
    raster_project_vjp(&cams[c], mu, cov, op, antialiased, v, &v_mu, &v_cov, &v_op);
    raster_gaussian_color_vjp(colors, sh, sh_frames, sh_degree, g, mu, &cams[c], v + RG_R, g_colors, g_sh,
                              g_sh_frames, &v_mu);
  }
  if (g_means) {
    g_means[3 * g] += v_mu.x;
    g_means[3 * g + 1] += v_mu.y;
    g_means[3 * g + 2] += v_mu.z;
  }
  if (g_opacities) g_opacities[g] += v_op;
  raster_gaussian_cov_vjp(covs, scales, quats, g, v_cov, g_covs, g_scales, g_quats);
}

// camera cotangents (grads.cameras): per Gaussian g and camera c, its 16 partials into part[(16 c + k) N + g]
// (zero where not visible), then one block per (c, k) sums its row in a fixed order (deterministic)
__global__ void k_camera_bwd(int64_t N, int C, const raster_cam *cams, const real *means, const real *covs,
                             const real *scales, const real *quats, const real *opacities, int antialiased,
                             const int64_t *counts, const real *v2d, real *part) {
  const int64_t g = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (g >= N) return;
  for (int c = 0; c < C; ++c) {
    m3 vR = m3_zero();
    v3 vt = v3_zero();
    real vK[4] = {0, 0, 0, 0};
    const int64_t cg = c * N + g;
    const real *v = v2d + (int64_t)RASTER_NGRAD * cg;
    if (counts[cg] && !raster_record_is_zero(v))
      raster_project_camera_vjp(&cams[c], v3_load(means + 3 * g), raster_gaussian_cov(covs, scales, quats, g),
                                opacities[g], antialiased, v, &vR, &vt, vK);
    real *p = part + (int64_t)16 * c * N + g;
    for (int a = 0; a < 3; ++a) {
      for (int b = 0; b < 3; ++b) p[(4 * a + b) * N] = vR.m[a][b];
      p[(4 * a + 3) * N] = v3_get(vt, a);
    }
    for (int k = 0; k < 4; ++k) p[(12 + k) * N] = vK[k];
  }
}

__global__ void k_sum_rows(int64_t N, const real *part, real *out) {
  __shared__ double s[256];
  const int64_t row = blockIdx.x;
  double acc = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) acc += (double)part[row * N + i];
  s[threadIdx.x] = acc;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) {
    if ((int)threadIdx.x < w) s[threadIdx.x] += s[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[row] += (real)s[0];
}

// scalars kept on the device during a call
enum { SC_FIRST_BAD = 0, SC_VISIBLE, SC_FWD_EVALS, SC_BWD_EVALS, SC_COUNT };

pl_status scalars(raster_ctx *ctx, unsigned long long **out) {
  PL_TRY(raster_reserve(ctx, &ctx->dev_scalars, sizeof(unsigned long long) * SC_COUNT));
  *out = (unsigned long long *)ctx->dev_scalars.ptr;
  return PL_OK;
}

// Phase times of a call, with PL_LOG=debug only (docs/gpu.md): events on the default stream between the phases,
// read after the call's last synchronisation. Off, they cost nothing.
struct phase_clock {
  cudaEvent_t ev[6];
  int n, on;
};
void phase_begin(phase_clock *pc) {
  static cudaEvent_t events[6];
  static int made = 0;
  pc->n = 0;
  pc->on = pl_log_get_level() >= PL_LOG_DEBUG;
  if (!pc->on) return;
  if (!made) {
    for (int k = 0; k < 6; ++k)
      if (cudaEventCreate(&events[k]) != cudaSuccess) {
        (void)cudaGetLastError();
        pc->on = 0;
        return;
      }
    made = 1;
  }
  memcpy(pc->ev, events, sizeof events);
}
void phase_mark(phase_clock *pc) {
  if (pc->on && pc->n < 6) cudaEventRecord(pc->ev[pc->n++], 0);
}
float phase_ms(const phase_clock *pc, int k) {
  float ms = 0;
  if (!pc->on || k + 1 >= pc->n || cudaEventElapsedTime(&ms, pc->ev[k], pc->ev[k + 1]) != cudaSuccess) return -1;
  return ms;
}

pl_status sync(const char *what) {
  PL_TRY(launched(what));
  return cuda_ok(cudaDeviceSynchronize(), what);
}

}  // namespace

// ------------------------------------------------------------------ entry points

static pl_status raster_cuda_check(raster_ctx *ctx, const raster_inputs *in, int64_t *bad, int *code) {
  unsigned long long *sc;
  PL_TRY(scalars(ctx, &sc));
  unsigned long long none = ~0ull;
  PL_TRY(cuda_ok(cudaMemcpy(sc + SC_FIRST_BAD, &none, sizeof none, cudaMemcpyHostToDevice), "input check"));
  k_check<<<grid_for(in->n, 256), 256>>>(in->n, in->means, in->covs, in->scales, in->quats, in->opacities, in->colors,
                                         in->sh, in->sh_frames, in->sh_coeffs, sc + SC_FIRST_BAD);
  PL_TRY(sync("input check kernel"));
  unsigned long long first;
  PL_TRY(cuda_ok(cudaMemcpy(&first, sc + SC_FIRST_BAD, sizeof first, cudaMemcpyDeviceToHost), "input check"));
  *bad = first == none ? -1 : (int64_t)(first >> 8);
  *code = first == none ? RASTER_BAD_NONE : (int)(first & 255u);
  return PL_OK;
}

static pl_status raster_cuda_forward(raster_ctx *ctx, const raster_inputs *in, const raster_images *out) {
  const int64_t N = in->n, C = ctx->ncams, CN = C * N, T = ctx->ntiles;
  PL_TRY(raster_reserve(ctx, &ctx->d_cams, sizeof(raster_cam) * (size_t)C));
  PL_TRY(raster_reserve(ctx, &ctx->splats, sizeof(raster_splat) * (size_t)CN));
  PL_TRY(raster_reserve(ctx, &ctx->colors, sizeof(real) * 3 * (size_t)CN));
  PL_TRY(raster_reserve(ctx, &ctx->counts, sizeof(int64_t) * (size_t)CN));
  PL_TRY(raster_reserve(ctx, &ctx->offsets, sizeof(int64_t) * (size_t)CN));
  PL_TRY(raster_reserve(ctx, &ctx->tile_start, sizeof(int64_t) * (size_t)(T + 1)));
  PL_TRY(raster_reserve(ctx, &ctx->pix_T, sizeof(real) * (size_t)ctx->npix));
  PL_TRY(raster_reserve(ctx, &ctx->pix_n, sizeof(int32_t) * (size_t)ctx->npix));
  PL_TRY(raster_reserve(ctx, &ctx->pix_d, sizeof(real) * (size_t)ctx->npix));
  unsigned long long *sc;
  PL_TRY(scalars(ctx, &sc));
  PL_TRY(cuda_ok(cudaMemset(sc, 0, sizeof(unsigned long long) * SC_COUNT), "scalars"));
  raster_cam *d_cams = (raster_cam *)ctx->d_cams.ptr;
  PL_TRY(cuda_ok(cudaMemcpy(d_cams, ctx->cams, sizeof(raster_cam) * (size_t)C, cudaMemcpyHostToDevice), "cameras"));
  raster_splat *sp = (raster_splat *)ctx->splats.ptr;
  real *col = (real *)ctx->colors.ptr;
  int64_t *counts = (int64_t *)ctx->counts.ptr, *offsets = (int64_t *)ctx->offsets.ptr;
  int64_t *tile_start = (int64_t *)ctx->tile_start.ptr;

  // 1. project and count tiles; 2. pair offsets (in cg order, or in depth order for the split sort)
  const int split = ctx->sort_mode == RASTER_SORT_SPLIT;
  phase_clock pc;
  phase_begin(&pc);
  phase_mark(&pc);
  int64_t total = 0;
  size_t scan_bytes = 0;
  const uint32_t *rank_cg = nullptr; // split: cg of the r-th splat in depth order
  if (CN > 0) {
    k_project<<<grid_for(CN, 256), 256>>>(N, CN, d_cams, in->means, in->covs, in->scales, in->quats, in->opacities,
                                          in->colors, in->sh, in->sh_frames, in->sh_degree, ctx->antialiased, sp, col,
                                          counts, sc + SC_VISIBLE);
    PL_TRY(launched("projection kernel"));
    const int64_t *scan_in = counts;
    if (split) {
      if (CN > 2147483647LL) return pl_fail(PL_ERR_LIMIT, "rasterizer (cuda, split sort): %lld (camera, Gaussian)s "
                                            "exceed the depth sort's 2^31 - 1", (long long)CN);
      PL_TRY(raster_reserve(ctx, &ctx->sort_tmp, sizeof(uint32_t) * 4 * (size_t)CN));
      PL_TRY(raster_reserve(ctx, &ctx->counts_r, sizeof(int64_t) * (size_t)CN));
      uint32_t *dk0 = (uint32_t *)ctx->sort_tmp.ptr, *dv0 = dk0 + CN, *dk1 = dv0 + CN, *dv1 = dk1 + CN;
      k_depth_keys<<<grid_for(CN, 256), 256>>>(CN, sp, ctx->sort_depth, counts, dk0, dv0);
      PL_TRY(launched("depth key kernel"));
      cub::DoubleBuffer<uint32_t> dk(dk0, dk1), dv(dv0, dv1);
      size_t dsort_bytes = 0; // CUB's scratch for the depth sort and the scan after it, reserved once (no free
                              // while the sort may still run)
      PL_TRY(cuda_ok(cub::DeviceRadixSort::SortPairs(nullptr, dsort_bytes, dk, dv, (int)CN, 0, 32), "depth sort (size)"));
      PL_TRY(cuda_ok(cub::DeviceScan::ExclusiveSum(nullptr, scan_bytes, (const int64_t *)ctx->counts_r.ptr, offsets, CN),
                     "scan (size)"));
      PL_TRY(raster_reserve(ctx, &ctx->cub_tmp, dsort_bytes > scan_bytes ? dsort_bytes : scan_bytes));
      PL_TRY(cuda_ok(cub::DeviceRadixSort::SortPairs(ctx->cub_tmp.ptr, dsort_bytes, dk, dv, (int)CN, 0, 32),
                     "depth sort"));
      rank_cg = dv.Current();
      k_counts_ranked<<<grid_for(CN, 256), 256>>>(CN, rank_cg, counts, (int64_t *)ctx->counts_r.ptr);
      PL_TRY(launched("ranked count kernel"));
      scan_in = (const int64_t *)ctx->counts_r.ptr;
    }
    PL_TRY(cuda_ok(cub::DeviceScan::ExclusiveSum(nullptr, scan_bytes, scan_in, offsets, CN), "scan (size)"));
    PL_TRY(raster_reserve(ctx, &ctx->cub_tmp, scan_bytes));
    PL_TRY(cuda_ok(cub::DeviceScan::ExclusiveSum(ctx->cub_tmp.ptr, scan_bytes, scan_in, offsets, CN), "scan"));
    int64_t last_off = 0, last_cnt = 0;
    PL_TRY(cuda_ok(cudaMemcpy(&last_off, offsets + CN - 1, sizeof last_off, cudaMemcpyDeviceToHost), "pair count"));
    PL_TRY(cuda_ok(cudaMemcpy(&last_cnt, scan_in + CN - 1, sizeof last_cnt, cudaMemcpyDeviceToHost), "pair count"));
    total = last_off + last_cnt;
  }
  if (total > ctx->max_pairs)
    return pl_fail(PL_ERR_LIMIT, "rasterizer: %lld Gaussian-tile pairs exceed the limit max_pairs = %lld; use fewer or "
                   "smaller Gaussians, smaller images or fewer cameras per call", (long long)total,
                   (long long)ctx->max_pairs);
  ctx->npairs = total;
  const size_t Pn = (size_t)(total > 0 ? total : 1);
  PL_TRY(raster_reserve(ctx, &ctx->keys, sizeof(unsigned long long) * Pn));
  PL_TRY(raster_reserve(ctx, &ctx->keys_alt, sizeof(unsigned long long) * Pn));
  PL_TRY(raster_reserve(ctx, &ctx->sorted, sizeof(uint32_t) * Pn));
  PL_TRY(raster_reserve(ctx, &ctx->vals_alt, sizeof(uint32_t) * Pn));

  // 3. emit, sort by (tile, depth), tile ranges
  phase_mark(&pc); // projection, (split: depth sort,) scan and the pair count read back
  PL_TRY(cuda_ok(cudaMemset(tile_start, 0, sizeof(int64_t) * (size_t)(T + 1)), "tile ranges"));
  if (total > 0) {
    const int tile_bits = raster_tile_key_bits(T); // tiles 0 .. T - 1: no key bit beyond them is sorted
    size_t sort_bytes = 0;
    void *keys_now = nullptr;
    uint32_t *vals_now = nullptr;
    if (split) { // the pairs in depth order, then a stable sort by tile alone (32-bit keys in the 64-bit buffers)
      k_emit_ranked<<<grid_for(CN, 256), 256>>>(N, CN, d_cams, sp, rank_cg, (const int64_t *)ctx->counts_r.ptr,
                                                offsets, (uint32_t *)ctx->keys.ptr, (uint32_t *)ctx->sorted.ptr);
      PL_TRY(launched("pair emission kernel"));
      cub::DoubleBuffer<uint32_t> dk((uint32_t *)ctx->keys.ptr, (uint32_t *)ctx->keys_alt.ptr);
      cub::DoubleBuffer<uint32_t> dv((uint32_t *)ctx->sorted.ptr, (uint32_t *)ctx->vals_alt.ptr);
      PL_TRY(cuda_ok(cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, dk, dv, total, 0, tile_bits), "sort (size)"));
      PL_TRY(raster_reserve(ctx, &ctx->cub_tmp, sort_bytes));
      PL_TRY(cuda_ok(cub::DeviceRadixSort::SortPairs(ctx->cub_tmp.ptr, sort_bytes, dk, dv, total, 0, tile_bits),
                     "sort"));
      keys_now = dk.Current();
      vals_now = dv.Current();
    } else {
      k_emit<<<grid_for(CN, 256), 256>>>(N, CN, d_cams, sp, ctx->sort_depth, counts, offsets,
                                         (unsigned long long *)ctx->keys.ptr, (uint32_t *)ctx->sorted.ptr);
      PL_TRY(launched("pair emission kernel"));
      cub::DoubleBuffer<unsigned long long> dk((unsigned long long *)ctx->keys.ptr,
                                               (unsigned long long *)ctx->keys_alt.ptr);
      cub::DoubleBuffer<uint32_t> dv((uint32_t *)ctx->sorted.ptr, (uint32_t *)ctx->vals_alt.ptr);
      PL_TRY(cuda_ok(cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, dk, dv, total, 0, 32 + tile_bits),
                     "sort (size)"));
      PL_TRY(raster_reserve(ctx, &ctx->cub_tmp, sort_bytes));
      PL_TRY(cuda_ok(cub::DeviceRadixSort::SortPairs(ctx->cub_tmp.ptr, sort_bytes, dk, dv, total, 0, 32 + tile_bits),
                     "sort"));
      keys_now = dk.Current();
      vals_now = dv.Current();
    }
    if (keys_now != ctx->keys.ptr) {
      pl_buffer tmp = ctx->keys;
      ctx->keys = ctx->keys_alt;
      ctx->keys_alt = tmp;
    }
    if (vals_now != (uint32_t *)ctx->sorted.ptr) {
      pl_buffer tmp = ctx->sorted;
      ctx->sorted = ctx->vals_alt;
      ctx->vals_alt = tmp;
    }
    phase_mark(&pc); // emission and the pair sort
    k_tile_ranges<<<grid_for(total, 256), 256>>>(total, T, ctx->keys.ptr, split, tile_start);
    PL_TRY(launched("tile range kernel"));
  } else {
    phase_mark(&pc);
  }
  phase_mark(&pc); // tile ranges

  // 4. composite
  rgb3 bg;
  for (int c = 0; c < 3; ++c) bg.v[c] = ctx->bg[c];
  k_composite<<<(unsigned)T, dim3(RASTER_TILE, RASTER_TILE)>>>(
      d_cams, (int)C, tile_start, (const uint32_t *)ctx->sorted.ptr, sp, col, bg, out->rgb, out->alpha, out->depth,
      out->expected_depth, (real *)ctx->pix_T.ptr, (int32_t *)ctx->pix_n.ptr, (real *)ctx->pix_d.ptr,
      sc + SC_FWD_EVALS);
  phase_mark(&pc);
  PL_TRY(sync("compositing kernel"));
  unsigned long long h[SC_COUNT];
  PL_TRY(cuda_ok(cudaMemcpy(h, sc, sizeof h, cudaMemcpyDeviceToHost), "statistics"));
  ctx->stats.n_visible = (int64_t)h[SC_VISIBLE];
  ctx->stats.n_pairs = total;
  ctx->stats.fwd_evals = (int64_t)h[SC_FWD_EVALS];
  if (pc.on)
    PL_DEBUG("raster cuda forward (%s sort): project, %sscan and pair count %.3f ms, emission and sort %.3f ms, tile "
             "ranges %.3f ms, composite %.3f ms (%lld pairs, %lld evaluations)", split ? "split" : "joint",
             split ? "depth sort, " : "", phase_ms(&pc, 0), phase_ms(&pc, 1), phase_ms(&pc, 2), phase_ms(&pc, 3),
             (long long)total, (long long)ctx->stats.fwd_evals);
  return PL_OK;
}

static pl_status raster_cuda_backward(raster_ctx *ctx, const raster_inputs *in, const raster_images *v_out,
                                          const raster_grads *gr) {
  const int64_t N = in->n, C = ctx->ncams, CN = C * N, T = ctx->ntiles;
  PL_TRY(raster_reserve(ctx, &ctx->v2d, sizeof(real) * RASTER_NGRAD * (size_t)CN));
  PL_TRY(cuda_ok(cudaMemset(ctx->v2d.ptr, 0, sizeof(real) * RASTER_NGRAD * (size_t)CN), "gradient buffer"));
  unsigned long long *sc;
  PL_TRY(scalars(ctx, &sc));
  PL_TRY(cuda_ok(cudaMemset(sc + SC_BWD_EVALS, 0, sizeof(unsigned long long)), "scalars"));
  const raster_cam *d_cams = (const raster_cam *)ctx->d_cams.ptr;
  rgb3 bg;
  for (int c = 0; c < 3; ++c) bg.v[c] = ctx->bg[c];
  real *v2d = (real *)ctx->v2d.ptr;
  phase_clock pc;
  phase_begin(&pc);
  phase_mark(&pc);
  k_backward<<<(unsigned)T, dim3(RASTER_TILE, RASTER_TILE)>>>(
      d_cams, (int)C, (const int64_t *)ctx->tile_start.ptr, (const uint32_t *)ctx->sorted.ptr,
      (const raster_splat *)ctx->splats.ptr, (const real *)ctx->colors.ptr, bg, v_out->rgb, v_out->alpha,
      v_out->depth, v_out->expected_depth, (const real *)ctx->pix_T.ptr, (const int32_t *)ctx->pix_n.ptr,
      (const real *)ctx->pix_d.ptr, v2d, sc + SC_BWD_EVALS);
  PL_TRY(launched("backward compositing kernel"));
  phase_mark(&pc);
  k_project_bwd<<<grid_for(N, 128), 128>>>(N, (int)C, d_cams, in->means, in->covs, in->scales, in->quats,
                                           in->opacities, in->colors, in->sh, in->sh_frames, in->sh_degree,
                                           ctx->antialiased, (const int64_t *)ctx->counts.ptr, v2d, gr->means,
                                           gr->covs, gr->scales, gr->quats, gr->opacities, gr->colors, gr->sh,
                                           gr->sh_frames);
  phase_mark(&pc);
  PL_TRY(sync("backward projection kernel"));
  if (pc.on)
    PL_DEBUG("raster cuda backward: tiles %.3f ms, projection adjoint %.3f ms", phase_ms(&pc, 0), phase_ms(&pc, 1));
  if (gr->cameras) {  // the CPU backend's pair-gradient scratch is free here: it holds the partials
    PL_TRY(raster_reserve(ctx, &ctx->pairgrad, sizeof(real) * 16 * (size_t)C * (size_t)(N > 0 ? N : 1)));
    real *part = (real *)ctx->pairgrad.ptr;
    k_camera_bwd<<<grid_for(N, 128), 128>>>(N, (int)C, d_cams, in->means, in->covs, in->scales, in->quats,
                                            in->opacities, ctx->antialiased, (const int64_t *)ctx->counts.ptr, v2d,
                                            part);
    PL_TRY(launched("camera gradient kernel"));
    k_sum_rows<<<(unsigned)(16 * C), 256>>>(N, part, gr->cameras);
    PL_TRY(sync("camera gradient reduction"));
  }
  unsigned long long ev = 0;
  PL_TRY(cuda_ok(cudaMemcpy(&ev, sc + SC_BWD_EVALS, sizeof ev, cudaMemcpyDeviceToHost), "statistics"));
  ctx->stats.bwd_evals = (int64_t)ev;
  return PL_OK;
}

extern "C" const raster_backend_ops raster_cuda_ops = {"cuda", raster_cuda_check, raster_cuda_forward,
                                                       raster_cuda_backward};
