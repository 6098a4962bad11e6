/* test_raster_robust.c: bad input fails with a clear error naming the Gaussian (or camera); hard but valid
 * input renders correctly with finite gradients: Gaussians behind, at and very near the camera, huge and
 * degenerate covariances, not-positive-definite covariances, zero Gaussians, empty tiles, one Gaussian
 * covering the whole image, far-away Gaussians, the pair limit, API misuse (SH frames included). */
#include "raster/raster_kernels.h"
#include "tests/raster/raster_test_util.h"

#define W 70
#define H 50
#define NP (W * H)

static raster_ctx *g_ctx;
static raster_camera g_cam;
static real g_rgb[3 * NP], g_alpha[NP], g_depth[NP], g_ed[NP];
static real g_vrgb[3 * NP], g_valpha[NP], g_vdepth[NP], g_ved[NP];

/* camera at the origin looking down +z */
static raster_camera axis_camera(void) {
  raster_camera c;
  memset(&c, 0, sizeof c);
  c.width = W, c.height = H, c.fx = c.fy = 60, c.cx = 0.5 * W, c.cy = 0.5 * H;
  c.viewmat[0] = c.viewmat[5] = c.viewmat[10] = c.viewmat[15] = 1;
  return c;
}

static pl_status render(const test_scene *s, const raster_options *opt) {
  raster_gaussians g = test_scene_view(s);
  raster_images out = {g_rgb, g_alpha, g_depth, g_ed};
  return raster_forward(g_ctx, &g, &g_cam, 1, opt, &out);
}

/* forward + backward with every cotangent; checks outputs and gradients are finite; returns |grad|_inf */
static double render_and_grad(const test_scene *s, const char *what, double *gmax_out) {
  pl_status st = render(s, NULL);
  CHECK(st == PL_OK, "%s: forward failed: %s", what, pl_last_error());
  if (st != PL_OK) return 0;
  CHECK(test_all_finite(g_rgb, 3 * NP) && test_all_finite(g_alpha, NP) && test_all_finite(g_depth, NP) &&
            test_all_finite(g_ed, NP),
        "%s: non-finite output", what);
  for (int i = 0; i < NP; ++i) {
    g_valpha[i] = RC(0.3);
    g_vdepth[i] = RC(0.01);
    g_ved[i] = RC(0.02);
    for (int c = 0; c < 3; ++c) g_vrgb[3 * i + c] = RC(1.0);
  }
  raster_images v = {g_vrgb, g_valpha, g_vdepth, g_ved};
  int64_t n = s->n > 0 ? s->n : 1;
  real *buf = (real *)calloc((size_t)n * 64, sizeof(real));
  raster_grads gr;
  memset(&gr, 0, sizeof gr);
  gr.means = buf;
  gr.opacities = buf + 3 * n;
  if (s->use_covs)
    gr.covs = buf + 4 * n;
  else
    gr.scales = buf + 4 * n, gr.quats = buf + 7 * n;
  if (s->use_sh)
    gr.sh = buf + 11 * n;
  else
    gr.colors = buf + 11 * n;
  raster_gaussians g = test_scene_view(s);
  st = raster_backward(g_ctx, &g, &g_cam, 1, NULL, &v, &gr);
  CHECK(st == PL_OK, "%s: backward failed: %s", what, pl_last_error());
  CHECK(test_all_finite(buf, n * 64), "%s: non-finite gradient", what);
  double m = 0;
  for (int64_t i = 0; i < n * 64; ++i) m = fmax(m, fabs(buf[i]));
  if (gmax_out) *gmax_out = m;
  free(buf);
  return m;
}

static int is_background(const raster_options *opt) {
  for (int i = 0; i < NP; ++i) {
    if (g_alpha[i] != 0 || g_depth[i] != 0 || g_ed[i] != 0) return 0;
    for (int c = 0; c < 3; ++c)
      if (g_rgb[3 * i + c] != (opt ? opt->background[c] : 0)) return 0;
  }
  return 1;
}

static void one_gaussian(test_scene *s, double x, double y, double z, double var, double o) {
  test_scene_alloc(s, 1, 1, 0, 0);
  s->means[0] = (real)x, s->means[1] = (real)y, s->means[2] = (real)z;
  s->covs[0] = s->covs[3] = s->covs[5] = (real)var;
  s->opacities[0] = (real)o;
  s->colors[0] = RC(0.8), s->colors[1] = RC(0.6), s->colors[2] = RC(0.1);
}

static void expect_error(pl_status st, pl_status code, const char *needle, const char *what) {
  CHECK(st == code, "%s: status %d (%s), want %d", what, (int)st, pl_last_error(), (int)code);
  CHECK(strstr(pl_last_error(), needle) != NULL, "%s: message '%s' lacks '%s'", what, pl_last_error(), needle);
}

static void test_bad_values(void) {
  test_scene s;
  test_scene_random(&s, 20, 1, 0, 0, 0.5, 0.05, 0.2, 0.2, 0.8);
  for (int64_t i = 0; i < s.n; ++i) s.means[3 * i + 2] += 3;
  CHECK(render(&s, NULL) == PL_OK, "valid scene: %s", pl_last_error());
  real keep;
  keep = s.means[3 * 7 + 1];
  s.means[3 * 7 + 1] = (real)NAN;
  expect_error(render(&s, NULL), PL_ERR_NUMERIC, "Gaussian 7: mean", "NaN mean");
  s.means[3 * 7 + 1] = keep;
  keep = s.covs[6 * 12 + 4];
  s.covs[6 * 12 + 4] = (real)INFINITY;
  expect_error(render(&s, NULL), PL_ERR_NUMERIC, "Gaussian 12: covariance", "Inf covariance");
  s.covs[6 * 12 + 4] = keep;
  keep = s.covs[6 * 3 + 3];
  s.covs[6 * 3 + 3] = -1;
  expect_error(render(&s, NULL), PL_ERR_INVALID, "Gaussian 3: covariance has a negative diagonal", "negative variance");
  s.covs[6 * 3 + 3] = keep;
  keep = s.opacities[19];
  s.opacities[19] = (real)NAN;
  expect_error(render(&s, NULL), PL_ERR_NUMERIC, "Gaussian 19: opacity", "NaN opacity");
  s.opacities[19] = RC(1.5);
  expect_error(render(&s, NULL), PL_ERR_INVALID, "Gaussian 19: opacity 1.5 is outside [0, 1]", "opacity > 1");
  s.opacities[19] = RC(-0.1);
  expect_error(render(&s, NULL), PL_ERR_INVALID, "Gaussian 19: opacity", "opacity < 0");
  s.opacities[19] = keep;
  keep = s.colors[3 * 5];
  s.colors[3 * 5] = (real)-INFINITY;
  expect_error(render(&s, NULL), PL_ERR_NUMERIC, "Gaussian 5: colour", "Inf colour");
  s.colors[3 * 5] = keep;
  /* the first bad index is reported when several are bad */
  s.means[3 * 9] = (real)NAN;
  s.means[3 * 4] = (real)NAN;
  expect_error(render(&s, NULL), PL_ERR_NUMERIC, "Gaussian 4:", "first bad index");
  s.means[3 * 9] = s.means[3 * 4] = 0;
  /* scale + quaternion and SH */
  s.use_covs = 0;
  s.quats[4 * 2] = s.quats[4 * 2 + 1] = s.quats[4 * 2 + 2] = s.quats[4 * 2 + 3] = 0;
  expect_error(render(&s, NULL), PL_ERR_INVALID, "Gaussian 2: quaternion has zero length", "zero quaternion");
  s.quats[4 * 2] = 1;
  s.scales[3 * 11] = (real)NAN;
  expect_error(render(&s, NULL), PL_ERR_NUMERIC, "Gaussian 11: scale", "NaN scale");
  s.scales[3 * 11] = RC(0.1);
  s.use_sh = 1;
  s.sh_degree = 3;
  s.sh[3 * 16 * 6 + 40] = (real)NAN;
  expect_error(render(&s, NULL), PL_ERR_NUMERIC, "Gaussian 6: an SH coefficient", "NaN SH");
  s.sh[3 * 16 * 6 + 40] = 0;
  /* SH frames: a non-finite entry names the Gaussian; finite frames need not be orthogonal */
  s.use_sh_frames = 1;
  s.sh_frames[9 * 8 + 4] = (real)NAN;
  expect_error(render(&s, NULL), PL_ERR_NUMERIC, "Gaussian 8: SH frame is not finite", "NaN SH frame");
  s.sh_frames[9 * 8 + 4] = RC(2.5);
  CHECK(render(&s, NULL) == PL_OK, "a finite, non-orthogonal SH frame renders: %s", pl_last_error());
  s.sh_frames[9 * 8 + 4] = 1;
  s.use_sh_frames = 0;
  CHECK(render(&s, NULL) == PL_OK, "repaired scene renders: %s", pl_last_error());
  /* skip_input_check: a NaN mean is not reported, and must not crash (its output is unspecified) */
  raster_options opt;
  memset(&opt, 0, sizeof opt);
  opt.skip_input_check = 1;
  s.means[0] = (real)NAN;
  CHECK(render(&s, &opt) == PL_OK, "skip_input_check with a NaN mean: %s", pl_last_error());
  test_scene_free(&s);
}

static void test_api_misuse(void) {
  test_scene s;
  one_gaussian(&s, 0, 0, 3, 0.01, 0.5);
  raster_gaussians g = test_scene_view(&s);
  raster_images out = {g_rgb, NULL, NULL, NULL};
  expect_error(raster_forward(NULL, &g, &g_cam, 1, NULL, &out), PL_ERR_INVALID, "context", "NULL context");
  expect_error(raster_forward(g_ctx, NULL, &g_cam, 1, NULL, &out), PL_ERR_INVALID, "NULL", "NULL Gaussians");
  expect_error(raster_forward(g_ctx, &g, &g_cam, 0, NULL, &out), PL_ERR_INVALID, "camera", "no camera");
  raster_gaussians both = g;
  both.scales = s.scales, both.quats = s.quats;
  expect_error(raster_forward(g_ctx, &both, &g_cam, 1, NULL, &out), PL_ERR_INVALID, "not both", "covs and scales");
  raster_gaussians sh = g;
  sh.colors = NULL, sh.sh = s.sh, sh.sh_degree = 4;
  expect_error(raster_forward(g_ctx, &sh, &g_cam, 1, NULL, &out), PL_ERR_INVALID, "sh_degree", "sh degree 4");
  raster_gaussians rgb_frames = g;
  rgb_frames.sh_frames = s.sh_frames;
  expect_error(raster_forward(g_ctx, &rgb_frames, &g_cam, 1, NULL, &out), PL_ERR_INVALID,
               "sh_frames given but the Gaussians have RGB colours", "SH frames with RGB colours");
  raster_camera bad[2] = {g_cam, g_cam};
  bad[1].viewmat[0] = 2;
  expect_error(raster_forward(g_ctx, &g, bad, 2, NULL, &out), PL_ERR_INVALID, "camera 1: viewmat is not a rigid",
               "non-rigid viewmat");
  bad[1] = g_cam;
  bad[1].fx = 0;
  expect_error(raster_forward(g_ctx, &g, bad, 2, NULL, &out), PL_ERR_INVALID, "camera 1: focal", "fx = 0");
  bad[1] = g_cam;
  bad[1].width = 0;
  expect_error(raster_forward(g_ctx, &g, bad, 2, NULL, &out), PL_ERR_INVALID, "camera 1: image size", "width 0");
  raster_options opt;
  memset(&opt, 0, sizeof opt);
  opt.near_plane = -1;
  expect_error(raster_forward(g_ctx, &g, &g_cam, 1, &opt, &out), PL_ERR_INVALID, "near_plane", "negative near plane");
  /* backward without a forward, and with different inputs */
  raster_ctx *fresh;
  raster_desc d;
  memset(&d, 0, sizeof d);
  d.backend = PL_BACKEND_CPU;
  CHECK(raster_create(&fresh, &d) == PL_OK, "init");
  real gm[3] = {0, 0, 0};
  raster_grads gr;
  memset(&gr, 0, sizeof gr);
  gr.means = gm;
  expect_error(raster_backward(fresh, &g, &g_cam, 1, NULL, NULL, &gr), PL_ERR_INVALID, "no successful raster_forward",
               "backward first");
  CHECK(raster_forward(fresh, &g, &g_cam, 1, NULL, &out) == PL_OK, "forward");
  raster_gaussians g2 = g;
  g2.n = 0;
  expect_error(raster_backward(fresh, &g2, &g_cam, 1, NULL, NULL, &gr), PL_ERR_INVALID, "differ", "mismatched backward");
  gr.scales = gm;
  expect_error(raster_backward(fresh, &g, &g_cam, 1, NULL, NULL, &gr), PL_ERR_INVALID, "grads.scales",
               "wrong gradient representation");
  gr.scales = NULL;
  real gf[9] = {0};
  gr.sh_frames = gf;
  expect_error(raster_backward(fresh, &g, &g_cam, 1, NULL, NULL, &gr), PL_ERR_INVALID,
               "grads.sh_frames given but the Gaussians have no SH frames", "frame gradients without frames");
  gr.sh_frames = NULL;
  /* SH frames in the forward but not in the backward */
  raster_gaussians shf = g;
  shf.colors = NULL, shf.sh = s.sh, shf.sh_degree = 1, shf.sh_frames = s.sh_frames;
  CHECK(raster_forward(fresh, &shf, &g_cam, 1, NULL, &out) == PL_OK, "forward with SH frames: %s", pl_last_error());
  raster_gaussians shn = shf;
  shn.sh_frames = NULL;
  expect_error(raster_backward(fresh, &shn, &g_cam, 1, NULL, NULL, &gr), PL_ERR_INVALID, "differ",
               "backward without the forward's SH frames");
  gr.sh_frames = gf;
  CHECK(raster_backward(fresh, &shf, &g_cam, 1, NULL, NULL, &gr) == PL_OK, "backward with SH frames: %s",
        pl_last_error());
  gr.sh_frames = NULL;
  /* a failed forward invalidates the saved state */
  CHECK(raster_forward(fresh, NULL, &g_cam, 1, NULL, &out) != PL_OK, "forward with NULL Gaussians fails");
  gr.scales = NULL;
  expect_error(raster_backward(fresh, &g, &g_cam, 1, NULL, NULL, &gr), PL_ERR_INVALID, "no successful",
               "backward after a failed forward");
  raster_destroy(fresh);
  raster_destroy(NULL);
  d.max_pairs = -5;
  expect_error(raster_create(&fresh, &d), PL_ERR_INVALID, "max_pairs", "negative max_pairs");
  test_scene_free(&s);
}

static void test_geometry_cases(void) {
  test_scene s;
  double gmax;
  raster_options opt;
  memset(&opt, 0, sizeof opt);
  /* zero Gaussians: the background, and a backward that does nothing */
  test_scene_alloc(&s, 0, 1, 0, 0);
  opt.background[0] = RC(0.25), opt.background[2] = RC(1.0);
  CHECK(render(&s, &opt) == PL_OK && is_background(&opt), "zero Gaussians: background expected (%s)", pl_last_error());
  render_and_grad(&s, "zero Gaussians", NULL);
  test_scene_free(&s);
  /* behind the camera, at the camera, just inside the near plane, beyond the far plane: culled, zero grads */
  const double zs[] = {-3.0, 0.0, 0.005, 2e10};
  for (int k = 0; k < 4; ++k) {
    one_gaussian(&s, 0, 0, zs[k], 0.5, 0.9);
    CHECK(render(&s, NULL) == PL_OK && is_background(NULL), "z = %g: must be culled", zs[k]);
    render_and_grad(&s, "culled", &gmax);
    CHECK(gmax == 0, "z = %g: culled Gaussian must get exactly zero gradient (max %g)", zs[k], gmax);
    test_scene_free(&s);
  }
  /* very near the camera (just beyond the near plane): covers the image, finite */
  one_gaussian(&s, 0.001, -0.002, 0.0101, 1e-4, 0.9);
  render_and_grad(&s, "very near the camera", &gmax);
  CHECK(g_alpha[NP / 2 + W / 2] > 0.5, "very near Gaussian should cover the centre (alpha %g)", (double)g_alpha[NP / 2 + W / 2]);
  test_scene_free(&s);
  /* off to the side, near the camera: the clamped Jacobian keeps the footprint bounded and finite */
  one_gaussian(&s, 5.0, 0.0, 0.05, 0.04, 0.9);
  render_and_grad(&s, "beside the camera (clamped Jacobian)", &gmax);
  test_scene_free(&s);
  /* huge covariance: covers every pixel with nearly constant alpha = opacity */
  one_gaussian(&s, 0, 0, 5, 1e8, 0.6);
  render_and_grad(&s, "huge covariance", &gmax);
  {
    int all = 1;
    for (int i = 0; i < NP; ++i) all &= fabs(g_alpha[i] - 0.6) < 1e-3;
    CHECK(all, "huge covariance: alpha must be ~0.6 everywhere (corner %g)", (double)g_alpha[0]);
  }
  test_scene_free(&s);
  /* one Gaussian covering the whole image, moderately: alpha > 0 everywhere, centre brightest */
  one_gaussian(&s, 0, 0, 2, 4.0, 0.8);
  render_and_grad(&s, "one Gaussian covering the image", &gmax);
  {
    int all = 1;
    for (int i = 0; i < NP; ++i) all &= g_alpha[i] > 0;
    CHECK(all, "covering Gaussian: every pixel must have alpha > 0");
    CHECK(gmax > 0, "covering Gaussian: gradient must be non-zero");
  }
  test_scene_free(&s);
  /* degenerate covariances: zero, rank one, and not positive semi-definite */
  const double degen[3][6] = {{0, 0, 0, 0, 0, 0}, {0.04, 0.04, 0.04, 0.04, 0.04, 0.04}, {0.01, 0.05, 0, 0.01, 0, 0.01}};
  for (int k = 0; k < 3; ++k) {
    one_gaussian(&s, 0.1, 0.1, 3, 0, 0.7);
    for (int q = 0; q < 6; ++q) s.covs[q] = (real)degen[k][q];
    render_and_grad(&s, "degenerate covariance", &gmax);
    if (k < 2) CHECK(g_alpha[(int)(0.5 * H + 2) * W + (int)(0.5 * W + 2)] > 0, "degenerate covariance %d: must still render", k);
    test_scene_free(&s);
  }
  /* a tiny Gaussian in a corner: most tiles empty */
  one_gaussian(&s, -0.55, -0.38, 1.0, 1e-5, 0.9);
  render_and_grad(&s, "empty tiles", &gmax);
  {
    int lit = 0;
    for (int i = 0; i < NP; ++i) lit += g_alpha[i] > 0;
    CHECK(lit > 0 && lit < 30, "corner Gaussian lights %d pixels", lit);
    raster_stats st;
    raster_get_stats(g_ctx, &st);
    CHECK(st.n_pairs == 1 && st.n_tiles == 5 * 4, "corner Gaussian: %lld pairs over %lld tiles", (long long)st.n_pairs,
          (long long)st.n_tiles);
  }
  test_scene_free(&s);
  /* scale + quaternion with zero scales (a point): renders as the eps2d blob, finite gradients */
  one_gaussian(&s, 0, 0, 3, 0, 0.8);
  s.use_covs = 0;
  s.quats[0] = 2;
  render_and_grad(&s, "zero scales", &gmax);
  test_scene_free(&s);
}

static void test_pair_limit(void) {
  test_scene s;
  test_scene_random(&s, 50, 1, 0, 0, 0.5, 0.1, 0.3, 0.5, 0.9);
  for (int64_t i = 0; i < s.n; ++i) s.means[3 * i + 2] += 3;
  raster_desc d;
  memset(&d, 0, sizeof d);
  d.backend = PL_BACKEND_CPU;
  d.max_pairs = 10;
  raster_ctx *ctx;
  CHECK(raster_create(&ctx, &d) == PL_OK, "init");
  raster_gaussians g = test_scene_view(&s);
  raster_images out = {g_rgb, NULL, NULL, NULL};
  expect_error(raster_forward(ctx, &g, &g_cam, 1, NULL, &out), PL_ERR_LIMIT, "Gaussian-tile pairs", "pair limit");
  raster_destroy(ctx);
  test_scene_free(&s);
}

/* Tile culling is exact enough: the tiled render equals a brute-force render that tests every pixel
 * against every splat (same kernels, no tiles), on a scene of elongated, rotated Gaussians. */
static void test_tiles_vs_brute_force(void) {
  test_scene s;
  test_scene_random(&s, 150, 0, 0, 0, 1.0, 0.01, 0.5, 0.05, 1.0);
  for (int64_t i = 0; i < s.n; ++i) s.scales[3 * i + i % 3] *= RC(0.05); /* flat, elongated */
  raster_camera cam = test_camera(W, H, 55, 3.5, 0.4, 0.3);
  raster_gaussians g = test_scene_view(&s);
  raster_images out = {g_rgb, g_alpha, NULL, NULL};
  CHECK(raster_forward(g_ctx, &g, &cam, 1, NULL, &out) == PL_OK, "forward: %s", pl_last_error());
  raster_cam k;
  raster_cam_init(&k, W, H, cam.fx, cam.fy, cam.cx, cam.cy, cam.viewmat, RASTER_NEAR_DEFAULT, RASTER_FAR_DEFAULT);
  raster_splat *sp = (raster_splat *)calloc((size_t)s.n, sizeof *sp);
  int *ord = (int *)calloc((size_t)s.n, sizeof(int));
  int nv = 0;
  for (int64_t i = 0; i < s.n; ++i)
    if (raster_project(&k, v3_load(s.means + 3 * i), raster_gaussian_cov(NULL, s.scales, s.quats, i), s.opacities[i], 0,
                       &sp[i]) &&
        raster_tile_count(&k, &sp[i]) > 0)
      ord[nv++] = (int)i;
  /* stable by depth bits, as the renderer */
  for (int a = 1; a < nv; ++a)
    for (int b = a; b > 0 && raster_depth_bits(sp[ord[b]].z) < raster_depth_bits(sp[ord[b - 1]].z); --b) {
      int t = ord[b];
      ord[b] = ord[b - 1];
      ord[b - 1] = t;
    }
  double err = 0;
  for (int i = 0; i < H; ++i)
    for (int j = 0; j < W; ++j) {
      raster_pix p;
      raster_pix_init(&p);
      for (int q = 0; q < nv && !p.done; ++q) {
        real vis;
        real a = raster_pixel_alpha(&sp[ord[q]], (real)j + RC(0.5), (real)i + RC(0.5), &vis);
        if (a > 0) raster_pix_blend(&p, a, s.colors + 3 * ord[q], sp[ord[q]].z, q, RASTER_T_MIN);
      }
      for (int c = 0; c < 3; ++c) err = fmax(err, fabs(p.c[c] - g_rgb[3 * (i * W + j) + c]));
    }
  CHECK(err == 0, "tiled render differs from the brute-force render by %g", err);
  free(sp);
  free(ord);
  test_scene_free(&s);
}

/* The host exp used in the compositing stays within 2 ulp of the library's, and the branchless alpha (CPU
 * row loops) equals the branchy one (CUDA) bit for bit wherever it is non-zero, and is 0 where that is. */
static void test_exp_and_alpha_variants(void) {
  int worst_ulp = 0;
  for (int i = 0; i <= 200000; ++i) {
    const real x = RC(-21.0) * (real)i / RC(200000.0); /* the widest support (alpha_min 1e-9) */
    const real a = raster_exp_neg(x), b = r_exp(x);
    const double rel = fabs((double)a - (double)b) / (double)b;
    const int ulp = (int)(rel / PL_REAL_EPS + 0.5);
    if (ulp > worst_ulp) worst_ulp = ulp;
  }
  CHECK(worst_ulp <= 2, "raster_exp_neg differs from exp by %d ulp", worst_ulp);
  int mismatches = 0, nonzero = 0;
  for (int t = 0; t < 20000; ++t) {
    raster_splat sp;
    sp.mx = (real)(8 + 4 * test_rand()), sp.my = (real)(8 + 4 * test_rand());
    sp.ca = (real)(0.05 + 0.5 * fabs(test_rand())), sp.cc = (real)(0.05 + 0.5 * fabs(test_rand()));
    sp.cb = (real)(0.9 * sqrt((double)sp.ca * sp.cc) * test_rand());
    sp.op = (real)(t % 7 == 0 ? 1.0 : 0.5 + 0.5 * test_rand());
    sp.z = 1;
    /* gsplat's cut-offs, and every other case the smallest alpha_min (the widest support) */
    sp.amin = (t & 1) ? RC(1e-9) : RASTER_ALPHA_MIN;
    sp.smax = r_fmin((t & 1) ? (real)log(1e9) : RASTER_SIGMA_CUT, r_log(sp.op / sp.amin));
    const real px = (real)(int)(16 * fabs(test_rand())) + RC(0.5), py = (real)(int)(16 * fabs(test_rand())) + RC(0.5);
    real v1 = -1, v2 = -2;
    const real a1 = raster_pixel_alpha(&sp, px, py, &v1), a2 = raster_pixel_alpha_nb(&sp, px, py, &v2);
    nonzero += a1 > 0;
    if (a1 != a2 || (a1 > 0 && v1 != v2)) ++mismatches;
  }
  CHECK(mismatches == 0 && nonzero > 1000, "branchless alpha differs in %d of 20000 cases (%d non-zero)", mismatches,
        nonzero);
}

int main(void) {
  raster_desc d;
  memset(&d, 0, sizeof d);
  d.backend = PL_BACKEND_CPU;
  if (raster_create(&g_ctx, &d) != PL_OK) return 1;
  g_cam = axis_camera();
  test_bad_values();
  test_api_misuse();
  test_geometry_cases();
  test_pair_limit();
  test_tiles_vs_brute_force();
  test_exp_and_alpha_variants();
  raster_destroy(g_ctx);
  return test_summary("test_raster_robust");
}
