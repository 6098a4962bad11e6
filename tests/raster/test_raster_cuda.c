/* test_raster_cuda.c: the CUDA backend against the CPU reference on a table of cases (skipped, exit 77,
 * without a device). Images and gradients are compared with a normalised error (relative L2 per output
 * array, plus a bound on the fraction of outlier pixels; see compare()) after checking that neither side
 * has NaN or Inf. Pair and visible counts must agree up to a handful (the
 * same kernels decide them; FMA contraction on the device can move an edge by an ulp); the CUDA backward
 * sums with float atomics, so gradients agree to rounding. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <stdlib.h>

#include "raster/raster_internal.h"
#include "tests/raster/raster_test_util.h"

typedef struct {
  const char *name;
  int n, use_covs, use_sh, sh_degree, aa, ncams, w, h;
  double spread, smin, smax, omin, omax;
  int special; /* 0 none, 1 huge Gaussian, 2 some behind the camera, 3 all in one tile, 4 depth ties, 5 off-centre
                  principal point, 6 random SH frames */
} parity_case;

static const parity_case k_cases[] = {
    {"small random, covariances, RGB", 50, 1, 0, 0, 0, 1, 64, 48, 1.0, 0.03, 0.2, 0.1, 0.9, 0},
    {"SH degree 3, antialiased, 3 cameras", 400, 0, 1, 3, 1, 3, 96, 80, 1.2, 0.02, 0.15, 0.1, 0.95, 0},
    {"opaque (clamp and stop)", 600, 1, 1, 1, 0, 2, 80, 64, 0.5, 0.1, 0.3, 0.9, 1.0, 0},
    {"huge Gaussian over everything", 100, 1, 0, 0, 0, 1, 70, 50, 1.0, 0.05, 0.2, 0.2, 0.8, 1},
    {"some behind the camera", 200, 0, 0, 0, 1, 2, 64, 64, 4.0, 0.05, 0.3, 0.2, 0.8, 2},
    {"3000 Gaussians in one tile (batches)", 3000, 1, 0, 0, 0, 1, 40, 40, 0.05, 0.002, 0.01, 0.02, 0.3, 3},
    {"depth ties", 300, 1, 1, 2, 0, 1, 64, 48, 0.8, 0.05, 0.2, 0.2, 0.7, 4},
    {"odd sizes, off-centre principal point", 500, 0, 1, 1, 1, 2, 123, 77, 1.5, 0.02, 0.2, 0.1, 0.9, 5},
    {"20000 Gaussians at 256x256", 20000, 0, 1, 3, 0, 1, 256, 256, 1.5, 0.005, 0.05, 0.05, 0.95, 0},
    {"zero Gaussians", 0, 1, 0, 0, 0, 2, 50, 30, 1.0, 0.1, 0.2, 0.5, 0.6, 0},
    {"SH frames, degree 3, antialiased, 3 cameras", 400, 0, 1, 3, 1, 3, 96, 80, 1.2, 0.02, 0.15, 0.1, 0.95, 6},
};

static int g_fail_nonfinite = 0;

/* Comparison of one output array: relative L2 error ||cuda - cpu|| / ||cpu|| and the fraction of elements
 * off by more than 1e-3 x max |cpu|. A pixel whose splat edge sits within an ulp of a threshold (support edge,
 * alpha = 1/255) may legitimately flip between backends (FMA contraction, expf vs the host polynomial),
 * changing that pixel by up to ~1/255: a handful of such outliers is allowed, a systematic error is not. */
typedef struct {
  double rel_l2, outliers;
} cmp_result;

static cmp_result compare(const char *what, const char *case_name, const real *cpu, const real *gpu, int64_t n) {
  cmp_result r = {0, 0};
  if (!test_all_finite(cpu, n) || !test_all_finite(gpu, n)) {
    fprintf(stderr, "%s: %s: NaN or Inf (cpu finite %d, cuda finite %d)\n", case_name, what, test_all_finite(cpu, n),
            test_all_finite(gpu, n));
    ++g_fail_nonfinite;
    r.rel_l2 = r.outliers = INFINITY;
    return r;
  }
  double m = 0, d2 = 0, c2 = 0;
  for (int64_t i = 0; i < n; ++i) {
    m = fmax(m, fabs(cpu[i]));
    d2 += ((double)cpu[i] - gpu[i]) * ((double)cpu[i] - gpu[i]);
    c2 += (double)cpu[i] * cpu[i];
  }
  int64_t out = 0;
  for (int64_t i = 0; i < n; ++i) out += fabs((double)cpu[i] - gpu[i]) > 1e-3 * fmax(m, 1e-6);
  r.rel_l2 = sqrt(d2) / fmax(sqrt(c2), 1e-12);
  r.outliers = n > 0 ? (double)out / (double)n : 0;
  return r;
}

/* host arrays <-> buffers on the second context's backend (CUDA; the CPU in the harness self-check) */
static pl_backend g_be2 = PL_BACKEND_CUDA;
static real *to_device(pl_buffer *b, const real *h, int64_t n) {
  size_t bytes = sizeof(real) * (size_t)(n > 0 ? n : 1);
  if (pl_buffer_alloc(b, g_be2, bytes) != PL_OK) return NULL;
  if (h && n > 0) pl_buffer_upload(b, 0, h, sizeof(real) * (size_t)n);
  return (real *)b->ptr;
}

static void run_case(const parity_case *pc, raster_ctx *cpu, raster_ctx *gpu) {
  test_scene s;
  test_scene_random(&s, pc->n, pc->use_covs, pc->use_sh, pc->sh_degree, pc->spread, pc->smin, pc->smax, pc->omin,
                    pc->omax);
  raster_camera cams[3];
  for (int c = 0; c < pc->ncams; ++c) cams[c] = test_camera(pc->w, pc->h, 50 + 5 * c, 4.0 + 0.5 * c, 0.7 * c, 0.2);
  if (pc->special == 1) { /* one huge Gaussian */
    s.covs[0] = s.covs[3] = s.covs[5] = RC(1e6);
    s.covs[1] = s.covs[2] = s.covs[4] = 0;
  }
  if (pc->special == 5)
    for (int c = 0; c < pc->ncams; ++c) cams[c].cx = 0.2 * pc->w, cams[c].cy = 0.85 * pc->h;
  if (pc->special == 6) test_scene_random_frames(&s);
  if (pc->special == 3) { /* all near the image centre: one tile holds them all */
    for (int64_t i = 0; i < s.n; ++i) s.means[3 * i + 2] *= RC(0.1);
  }
  if (pc->special == 4) /* pairs of Gaussians at identical depths */
    for (int64_t i = 1; i < s.n; i += 2) {
      s.means[3 * i] = s.means[3 * (i - 1)] + RC(0.05);
      s.means[3 * i + 1] = s.means[3 * (i - 1) + 1];
      s.means[3 * i + 2] = s.means[3 * (i - 1) + 2];
    }
  raster_options opt;
  memset(&opt, 0, sizeof opt);
  opt.mode = pc->aa ? RASTER_ANTIALIASED : RASTER_CLASSIC;
  opt.background[0] = RC(0.3), opt.background[1] = RC(0.1), opt.background[2] = RC(0.6);
  const int64_t P = raster_total_pixels(cams, pc->ncams), n = s.n;
  const int K = test_sh_coeffs(s.sh_degree);
  /* CPU */
  real *img_c = (real *)calloc((size_t)P * 6, sizeof(real)), *img_g = (real *)calloc((size_t)P * 6, sizeof(real));
  real *vimg = (real *)malloc(sizeof(real) * (size_t)P * 6);
  for (int64_t i = 0; i < 6 * P; ++i) vimg[i] = (real)test_rand();
  raster_gaussians g = test_scene_view(&s);
  raster_images out = {img_c, img_c + 3 * P, img_c + 4 * P, img_c + 5 * P};
  CHECK(raster_forward(cpu, &g, cams, pc->ncams, &opt, &out) == PL_OK, "%s: cpu forward: %s", pc->name, pl_last_error());
  const int64_t nf = s.use_sh_frames ? 9 * n : 0; /* SH frames' cotangents, after the others */
  const int64_t ng = n * (3 + 6 + 4 + 1 + 3 * K) + nf;
  real *gc = (real *)calloc((size_t)(ng > 0 ? ng : 1), sizeof(real)), *gg = (real *)calloc((size_t)(ng > 0 ? ng : 1), sizeof(real));
  raster_grads grc;
  test_grads_layout(&s, gc, &grc);
  raster_images vout = {vimg, vimg + 3 * P, vimg + 4 * P, vimg + 5 * P};
  CHECK(raster_backward(cpu, &g, cams, pc->ncams, &opt, &vout, &grc) == PL_OK, "%s: cpu backward: %s", pc->name,
        pl_last_error());
  raster_stats sc, sg;
  raster_get_stats(cpu, &sc);
  /* CUDA: the same on device buffers */
  pl_buffer b[16];
  memset(b, 0, sizeof b);
  raster_gaussians gd = g;
  gd.means = to_device(&b[0], s.means, 3 * n);
  gd.opacities = to_device(&b[1], s.opacities, n);
  if (g.covs) gd.covs = to_device(&b[2], s.covs, 6 * n);
  if (g.scales) gd.scales = to_device(&b[3], s.scales, 3 * n), gd.quats = to_device(&b[4], s.quats, 4 * n);
  if (g.colors) gd.colors = to_device(&b[5], s.colors, 3 * n);
  if (g.sh) gd.sh = to_device(&b[6], s.sh, 3 * K * n);
  if (g.sh_frames) gd.sh_frames = to_device(&b[10], s.sh_frames, 9 * n);
  real *dimg = to_device(&b[7], NULL, 6 * P), *dv = to_device(&b[8], vimg, 6 * P), *dg = to_device(&b[9], NULL, ng);
  raster_images outd = {dimg, dimg + 3 * P, dimg + 4 * P, dimg + 5 * P};
  raster_images voutd = {dv, dv + 3 * P, dv + 4 * P, dv + 5 * P};
  raster_grads grd;
  test_grads_layout(&s, dg, &grd);
  CHECK(raster_forward(gpu, &gd, cams, pc->ncams, &opt, &outd) == PL_OK, "%s: cuda forward: %s", pc->name,
        pl_last_error());
  CHECK(raster_backward(gpu, &gd, cams, pc->ncams, &opt, &voutd, &grd) == PL_OK, "%s: cuda backward: %s", pc->name,
        pl_last_error());
  raster_get_stats(gpu, &sg);
  pl_buffer_download(&b[7], 0, img_g, sizeof(real) * 6 * (size_t)P);
  if (ng > 0) pl_buffer_download(&b[9], 0, gg, sizeof(real) * (size_t)ng);
  /* the same kernels decide visibility and tiles; nvcc's FMA contraction may move a splat's edge by an ulp
     across a tile boundary or the 1/255 opacity cut, so allow a handful of differences */
  CHECK(llabs((long long)(sc.n_pairs - sg.n_pairs)) <= 2 + sc.n_pairs / 10000 &&
            llabs((long long)(sc.n_visible - sg.n_visible)) <= 2,
        "%s: pairs %lld vs %lld, visible %lld vs %lld", pc->name, (long long)sc.n_pairs, (long long)sg.n_pairs,
        (long long)sc.n_visible, (long long)sg.n_visible);
  const char *names[4] = {"rgb", "alpha", "depth", "expected depth"};
  const int64_t offs[5] = {0, 3 * P, 4 * P, 5 * P, 6 * P};
  double worst_img = 0, worst_grad = 0, worst_out = 0;
  for (int k = 0; k < 4; ++k) {
    cmp_result e = compare(names[k], pc->name, img_c + offs[k], img_g + offs[k], offs[k + 1] - offs[k]);
    worst_img = fmax(worst_img, e.rel_l2);
    worst_out = fmax(worst_out, e.outliers);
    CHECK(e.rel_l2 < 1e-4 && e.outliers <= 1e-3, "%s: %s: relative L2 error %g, %.3g%% outliers", pc->name, names[k],
          e.rel_l2, 100 * e.outliers);
  }
  /* test_grads_layout: means, covariances or scales+quaternions, opacities, colours or SH, SH frames */
  raster_grads none;
  const int64_t nl = test_grads_layout(&s, NULL, &none);
  const char *gn[5] = {"means", "covariances or scales+quaternions", "opacities", "colours or SH", "SH frames"};
  const int64_t go[6] = {0, 3 * n, 10 * n, 11 * n, nl - nf, nl};
  for (int k = 0; k < (nf ? 5 : 4); ++k) {
    cmp_result e = compare(gn[k], pc->name, gc + go[k], gg + go[k], go[k + 1] - go[k]);
    worst_grad = fmax(worst_grad, e.rel_l2);
    CHECK(e.rel_l2 < 2e-3, "%s: gradient of %s: relative L2 error %g", pc->name, gn[k], e.rel_l2);
  }
  fprintf(stderr, "%-44s pairs %8lld  image L2 err %.1e (outliers %.2g%%)  gradient L2 err %.1e\n", pc->name,
          (long long)sg.n_pairs, worst_img, 100 * worst_out, worst_grad);
  for (int k = 0; k < 16; ++k) pl_buffer_free(&b[k]);
  free(img_c);
  free(img_g);
  free(vimg);
  free(gc);
  free(gg);
  test_scene_free(&s);
}

static void test_cuda_input_check(raster_ctx *gpu) {
  test_scene s;
  test_scene_random(&s, 100, 1, 0, 0, 1.0, 0.05, 0.2, 0.2, 0.8);
  s.opacities[42] = RC(2.0);
  s.means[3 * 77] = (real)NAN;
  pl_buffer b[4];
  memset(b, 0, sizeof b);
  raster_gaussians g = test_scene_view(&s);
  g.means = to_device(&b[0], s.means, 300);
  g.covs = to_device(&b[1], s.covs, 600);
  g.opacities = to_device(&b[2], s.opacities, 100);
  g.colors = to_device(&b[3], s.colors, 300);
  raster_camera cam = test_camera(32, 32, 50, 4, 0, 0);
  raster_images out;
  memset(&out, 0, sizeof out);
  pl_status st = raster_forward(gpu, &g, &cam, 1, NULL, &out);
  CHECK(st == PL_ERR_INVALID && strstr(pl_last_error(), "Gaussian 42: opacity 2"), "cuda input check: %s",
        pl_last_error());
  for (int k = 0; k < 4; ++k) pl_buffer_free(&b[k]);
  test_scene_free(&s);
  /* a NaN SH frame entry, named with its values fetched from the device */
  test_scene_random(&s, 50, 1, 1, 1, 1.0, 0.05, 0.2, 0.2, 0.8);
  test_scene_random_frames(&s);
  s.sh_frames[9 * 13 + 5] = (real)NAN;
  pl_buffer f[5];
  memset(f, 0, sizeof f);
  g = test_scene_view(&s);
  g.means = to_device(&f[0], s.means, 150);
  g.covs = to_device(&f[1], s.covs, 300);
  g.opacities = to_device(&f[2], s.opacities, 50);
  g.sh = to_device(&f[3], s.sh, 3 * 4 * 50);
  g.sh_frames = to_device(&f[4], s.sh_frames, 450);
  st = raster_forward(gpu, &g, &cam, 1, NULL, &out);
  CHECK(st == PL_ERR_NUMERIC && strstr(pl_last_error(), "Gaussian 13: SH frame is not finite") &&
            strstr(pl_last_error(), "nan"),
        "cuda input check (SH frame): %s", pl_last_error());
  for (int k = 0; k < 5; ++k) pl_buffer_free(&f[k]);
  test_scene_free(&s);
}

/* Without a device: run the whole table with the CPU on both sides (1 thread against all threads), so that
 * the harness itself is exercised in CI (and the CPU's thread-count determinism with it), then skip. */
static int self_check(void) {
  raster_desc d;
  memset(&d, 0, sizeof d);
  d.backend = PL_BACKEND_CPU;
  raster_ctx *a, *b;
  d.threads = 1;
  if (raster_create(&a, &d) != PL_OK) return 1;
  d.threads = 0;
  if (raster_create(&b, &d) != PL_OK) return 1;
  g_be2 = PL_BACKEND_CPU;
  for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; ++i) run_case(&k_cases[i], a, b);
  raster_destroy(a);
  raster_destroy(b);
  CHECK(g_fail_nonfinite == 0, "%d outputs with NaN or Inf", g_fail_nonfinite);
  return test_summary("test_raster_cuda (harness self-check, CPU vs CPU)");
}

int main(void) {
  char desc[1024] = "";
  if (!pl_cuda_compiled() || pl_cuda_device_count(desc, sizeof desc) == 0) {
    if (self_check() != 0) return 1;
    TEST_SKIP("%s", pl_cuda_compiled() ? "no CUDA device (the harness self-check on the CPU passed)"
                                       : "this build has no CUDA backend (the harness self-check on the CPU passed)");
  }
  fprintf(stderr, "device: %s\n", desc);
  raster_desc d;
  memset(&d, 0, sizeof d);
  raster_ctx *cpu, *gpu;
  d.backend = PL_BACKEND_CPU;
  if (raster_create(&cpu, &d) != PL_OK) return 1;
  d.backend = PL_BACKEND_CUDA;
  if (raster_create(&gpu, &d) != PL_OK) {
    fprintf(stderr, "cuda context: %s\n", pl_last_error());
    return 1;
  }
  for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; ++i) run_case(&k_cases[i], cpu, gpu);
  test_cuda_input_check(gpu);
  /* the prepared pair sort (PL_RASTER_SORT=split: depth sort, then pairs by tile alone; raster_internal.h): the
   * same cases against the CPU (its pair order is the same by construction, test_raster_sort) */
  setenv("PL_RASTER_SORT", "split", 1);
  raster_ctx *split = NULL;
  CHECK(raster_create(&split, &d) == PL_OK && split->sort_mode == RASTER_SORT_SPLIT, "split context: %s",
        pl_last_error());
  unsetenv("PL_RASTER_SORT");
  if (split) {
    fprintf(stderr, "-- the split pair sort (PL_RASTER_SORT=split)\n");
    for (size_t i = 0; i < sizeof k_cases / sizeof k_cases[0]; ++i) run_case(&k_cases[i], cpu, split);
    raster_destroy(split);
  }
  CHECK(g_fail_nonfinite == 0, "%d outputs with NaN or Inf", g_fail_nonfinite);
  raster_destroy(cpu);
  raster_destroy(gpu);
  return test_summary("test_raster_cuda");
}
