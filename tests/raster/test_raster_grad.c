/* test_raster_grad.c: raster_backward against central differences of raster_forward, in double, on random
 * small scenes (relative error of the whole gradient <= 1e-6). Each scene is checked to keep a margin from
 * the thresholds' discontinuities (support edge / alpha < 1/255, the 0.99 clamp, the transmittance stop);
 * a scene that fails the margin is redrawn. Also: culled Gaussians get exactly zero, gradients accumulate,
 * and the CPU backward is bitwise deterministic across runs and thread counts. Scenes with SH frames check the
 * frames' cotangent also on its own. */
#include "raster/raster_kernels.h"
#include "tests/raster/raster_test_util.h"

#ifndef PL_REAL_DOUBLE
#error "test_raster_grad is built against the double-precision library"
#endif

#define MAXCAM 3

typedef struct {
  const char *name;
  int n, use_covs, use_sh, sh_degree, aa, ncams;
  double omin, omax, smin, smax, spread;
  int want_clamp, want_stop; /* the scene must exercise the 0.99 clamp / the transmittance stop */
  int sh_frames;             /* random SH frames (rotations; differentiated as free 3x3 matrices) */
} grad_case;

typedef struct {
  test_scene sc;
  raster_camera cams[MAXCAM];
  int ncams;
  raster_options opt;
  raster_ctx *ctx;
  int64_t P;
  int nparam;
} problem;

/* parameter vector <-> scene: means, covs or scales + quats, opacities, colours or SH, then SH frames if any */
static int has_frames(const test_scene *s) { return s->use_sh && s->use_sh_frames; }
static int param_count(const test_scene *s) {
  int per = 3 + 1 + (s->use_covs ? 6 : 7) + (s->use_sh ? 3 * test_sh_coeffs(s->sh_degree) : 3) + 9 * has_frames(s);
  return per * (int)s->n;
}
static void scene_to_x(const test_scene *s, double *x) {
  int k = 0, K = test_sh_coeffs(s->sh_degree);
  for (int64_t i = 0; i < 3 * s->n; ++i) x[k++] = s->means[i];
  if (s->use_covs)
    for (int64_t i = 0; i < 6 * s->n; ++i) x[k++] = s->covs[i];
  else {
    for (int64_t i = 0; i < 3 * s->n; ++i) x[k++] = s->scales[i];
    for (int64_t i = 0; i < 4 * s->n; ++i) x[k++] = s->quats[i];
  }
  for (int64_t i = 0; i < s->n; ++i) x[k++] = s->opacities[i];
  if (s->use_sh)
    for (int64_t i = 0; i < 3 * K * s->n; ++i) x[k++] = s->sh[i];
  else
    for (int64_t i = 0; i < 3 * s->n; ++i) x[k++] = s->colors[i];
  if (has_frames(s))
    for (int64_t i = 0; i < 9 * s->n; ++i) x[k++] = s->sh_frames[i];
}
static void x_to_scene(const double *x, test_scene *s) {
  int k = 0, K = test_sh_coeffs(s->sh_degree);
  for (int64_t i = 0; i < 3 * s->n; ++i) s->means[i] = x[k++];
  if (s->use_covs)
    for (int64_t i = 0; i < 6 * s->n; ++i) s->covs[i] = x[k++];
  else {
    for (int64_t i = 0; i < 3 * s->n; ++i) s->scales[i] = x[k++];
    for (int64_t i = 0; i < 4 * s->n; ++i) s->quats[i] = x[k++];
  }
  for (int64_t i = 0; i < s->n; ++i) s->opacities[i] = x[k++];
  if (s->use_sh)
    for (int64_t i = 0; i < 3 * K * s->n; ++i) s->sh[i] = x[k++];
  else
    for (int64_t i = 0; i < 3 * s->n; ++i) s->colors[i] = x[k++];
  if (has_frames(s))
    for (int64_t i = 0; i < 9 * s->n; ++i) s->sh_frames[i] = x[k++];
}

/* y = [rgb 3P | alpha P | depth P | expected depth P] */
static void f_render(const double *x, double *y, void *vctx) {
  problem *pb = (problem *)vctx;
  test_scene s = pb->sc;
  test_scene tmp;
  test_scene_alloc(&tmp, s.n, s.use_covs, s.use_sh, s.sh_degree);
  tmp.use_sh_frames = s.use_sh_frames;
  x_to_scene(x, &tmp);
  raster_gaussians g = test_scene_view(&tmp);
  raster_images out = {y, y + 3 * pb->P, y + 4 * pb->P, y + 5 * pb->P};
  if (raster_forward(pb->ctx, &g, pb->cams, pb->ncams, &pb->opt, &out) != PL_OK) {
    fprintf(stderr, "forward failed: %s\n", pl_last_error());
    for (int64_t i = 0; i < 6 * pb->P; ++i) y[i] = NAN;
  }
  test_scene_free(&tmp);
}

static void vjp_render(const double *x, const double *vy, double *vx, void *vctx) {
  problem *pb = (problem *)vctx;
  test_scene tmp;
  test_scene_alloc(&tmp, pb->sc.n, pb->sc.use_covs, pb->sc.use_sh, pb->sc.sh_degree);
  tmp.use_sh_frames = pb->sc.use_sh_frames;
  x_to_scene(x, &tmp);
  raster_gaussians g = test_scene_view(&tmp);
  double *img = (double *)calloc(6 * (size_t)pb->P, sizeof(double));
  raster_images out = {img, img + 3 * pb->P, img + 4 * pb->P, img + 5 * pb->P};
  CHECK(raster_forward(pb->ctx, &g, pb->cams, pb->ncams, &pb->opt, &out) == PL_OK, "forward: %s", pl_last_error());
  raster_images v = {(real *)vy, (real *)vy + 3 * pb->P, (real *)vy + 4 * pb->P, (real *)vy + 5 * pb->P};
  /* gradients laid out like x */
  const int64_t n = tmp.n;
  const int K = test_sh_coeffs(tmp.sh_degree);
  raster_grads gr;
  memset(&gr, 0, sizeof gr);
  double *p = vx;
  gr.means = p;
  p += 3 * n;
  if (tmp.use_covs) {
    gr.covs = p;
    p += 6 * n;
  } else {
    gr.scales = p;
    p += 3 * n;
    gr.quats = p;
    p += 4 * n;
  }
  gr.opacities = p;
  p += n;
  if (tmp.use_sh) {
    gr.sh = p;
    p += 3 * K * n;
  } else {
    gr.colors = p;
    p += 3 * n;
  }
  if (has_frames(&tmp)) gr.sh_frames = p;
  CHECK(raster_backward(pb->ctx, &g, pb->cams, pb->ncams, &pb->opt, &v, &gr) == PL_OK, "backward: %s",
        pl_last_error());
  free(img);
  test_scene_free(&tmp);
}

/* Simulate every pixel with every splat (no tiles) and measure the distance to each threshold. Returns the
 * smallest relative margin; counts clamps and stops. */
static double scene_margin(problem *pb, int *nclamp, int *nstop) {
  const test_scene *s = &pb->sc;
  double worst = 1e30;
  *nclamp = *nstop = 0;
  for (int c = 0; c < pb->ncams; ++c) {
    raster_cam cam;
    const raster_camera *k = &pb->cams[c];
    raster_cam_init(&cam, k->width, k->height, k->fx, k->fy, k->cx, k->cy, k->viewmat, 0.01, 1e10);
    raster_splat *sp = (raster_splat *)calloc((size_t)s->n, sizeof(raster_splat));
    int *vis = (int *)calloc((size_t)s->n, sizeof(int)), *ord = (int *)calloc((size_t)s->n, sizeof(int));
    int nv = 0;
    for (int64_t i = 0; i < s->n; ++i) {
      m3 cov = raster_gaussian_cov(s->use_covs ? s->covs : NULL, s->scales, s->quats, i);
      vis[i] = raster_project(&cam, v3_load(s->means + 3 * i), cov, s->opacities[i], pb->opt.mode == RASTER_ANTIALIASED,
                              &sp[i]);
      if (vis[i]) {
        /* margin of the opacity cull and of the support definition switch (3.33 sigma vs ln(255 o)) */
        worst = fmin(worst, fabs(sp[i].op * 255 - 1));
        worst = fmin(worst, fabs(log(sp[i].op * 255) - RASTER_SIGMA_CUT) / RASTER_SIGMA_CUT);
        ord[nv++] = (int)i;
      }
    }
    for (int a = 1; a < nv; ++a) /* by depth */
      for (int b = a; b > 0 && sp[ord[b]].z < sp[ord[b - 1]].z; --b) {
        int t = ord[b];
        ord[b] = ord[b - 1];
        ord[b - 1] = t;
      }
    for (int i = 0; i < k->height; ++i)
      for (int j = 0; j < k->width; ++j) {
        double T = 1;
        for (int q = 0; q < nv; ++q) {
          const raster_splat *S = &sp[ord[q]];
          double dx = j + 0.5 - S->mx, dy = i + 0.5 - S->my;
          double sigma = 0.5 * (S->ca * dx * dx + S->cc * dy * dy) + S->cb * dx * dy;
          worst = fmin(worst, fabs(sigma - S->smax) / S->smax);
          if (sigma > S->smax) continue;
          double a = S->op * exp(-sigma);
          worst = fmin(worst, fabs(a * 255 - 1));
          worst = fmin(worst, fabs(a / RASTER_ALPHA_MAX - 1));
          if (a > RASTER_ALPHA_MAX) {
            a = RASTER_ALPHA_MAX;
            ++*nclamp;
          }
          double next = T * (1 - a);
          worst = fmin(worst, fabs(next / RASTER_T_MIN - 1));
          if (next <= RASTER_T_MIN) {
            ++*nstop;
            break;
          }
          T = next;
        }
      }
    free(sp);
    free(vis);
    free(ord);
  }
  return worst;
}

static void run_case(const grad_case *gc, raster_ctx *ctx) {
  problem pb;
  memset(&pb, 0, sizeof pb);
  pb.ctx = ctx;
  pb.ncams = gc->ncams;
  pb.opt.mode = gc->aa ? RASTER_ANTIALIASED : RASTER_CLASSIC;
  pb.opt.background[0] = RC(0.2), pb.opt.background[1] = RC(0.4), pb.opt.background[2] = RC(0.7);
  int tries = 0, nclamp = 0, nstop = 0;
  double margin = 0;
  for (;; ++tries) {
    test_scene_random(&pb.sc, gc->n, gc->use_covs, gc->use_sh, gc->sh_degree, gc->spread, gc->smin, gc->smax, gc->omin,
                      gc->omax);
    if (gc->sh_frames) test_scene_random_frames(&pb.sc);
    pb.cams[0] = test_camera(36, 28, 50, 4.0, 0.2 + 0.1 * test_rand(), 0.1);
    pb.cams[1] = test_camera(30, 34, 45, 4.5, 1.4, -0.3);
    pb.cams[2] = test_camera(24, 20, 60, 3.0, -2.0, 0.5);
    if (gc->n >= 10 && gc->ncams >= 2) {
      /* one Gaussian behind camera 0 and camera 1 ... culled everywhere: placed behind all cameras is hard;
         instead put it far off to the side of every camera */
      pb.sc.means[0] = 40, pb.sc.means[1] = 40, pb.sc.means[2] = -40;
    }
    pb.P = raster_total_pixels(pb.cams, pb.ncams);
    margin = scene_margin(&pb, &nclamp, &nstop);
    if (margin > 3e-4 && (!gc->want_clamp || nclamp > 0) && (!gc->want_stop || nstop > 0)) break;
    test_scene_free(&pb.sc);
    if (tries > 200) {
      CHECK(0, "%s: no scene with a safe margin in 200 draws", gc->name);
      return;
    }
  }
  pb.nparam = param_count(&pb.sc);
  double *x = (double *)malloc(sizeof(double) * (size_t)pb.nparam);
  scene_to_x(&pb.sc, x);
  double err = test_vjp_error(gc->name, f_render, vjp_render, &pb, x, pb.nparam, (int)(6 * pb.P), 1e-6, 1e-9, 0);
  fprintf(stderr, "%-58s rel.err %.2e  (%d params, %lld px, margin %.1e, %d clamped, %d stops, %d redraws)\n",
          gc->name, err, pb.nparam, (long long)pb.P, margin, nclamp, nstop, tries);
  CHECK(err <= 1e-6, "%s: relative error %g", gc->name, err);
  if (gc->sh_frames) {
    /* the frames' cotangent on its own (the other inputs held fixed). It is small beside the image, so rounding in
       the differences dominates at h = 1e-6; frames move only colours (no threshold), so h = 1e-5 is safe */
    const int nf = 9 * gc->n;
    double ef = test_vjp_error_slice(gc->name, f_render, vjp_render, &pb, x, pb.nparam, pb.nparam - nf, nf,
                                     (int)(6 * pb.P), 1e-5, 1e-9);
    fprintf(stderr, "%-58s rel.err %.2e  (%d params)\n", "  ... SH frames alone", ef, nf);
    CHECK(ef <= 1e-6, "%s: SH frames alone: relative error %g", gc->name, ef);
  }
  if (gc->n >= 10 && gc->ncams >= 2) {
    /* the far-away Gaussian 0 is culled everywhere: its gradient is exactly zero (accumulating onto 7.0) */
    double *vx = (double *)malloc(sizeof(double) * (size_t)pb.nparam);
    for (int i = 0; i < pb.nparam; ++i) vx[i] = 7.0;
    double *vy = (double *)malloc(sizeof(double) * 6 * (size_t)pb.P);
    for (int64_t i = 0; i < 6 * pb.P; ++i) vy[i] = 1.0;
    vjp_render(x, vy, vx, &pb);
    int zero = vx[0] == 7.0 && vx[1] == 7.0 && vx[2] == 7.0;
    int off = 3 * gc->n; /* covs or scales */
    for (int k = 0; k < (gc->use_covs ? 6 : 3); ++k) zero &= vx[off + k] == 7.0;
    CHECK(zero, "%s: a culled Gaussian must get exactly zero gradient", gc->name);
    int nonzero = 0;
    for (int i = 3; i < pb.nparam; ++i) nonzero += vx[i] != 7.0;
    CHECK(nonzero > pb.nparam / 3, "%s: too few non-zero gradients (%d of %d)", gc->name, nonzero, pb.nparam);
    free(vx);
    free(vy);
  }
  free(x);
  test_scene_free(&pb.sc);
}

/* ---- the cameras' cotangents (grads.cameras): x = per camera viewmat rows 0..2 (12) then fx fy cx cy */
static void x_to_cams(const double *x, problem *pb, raster_camera *cams) {
  for (int c = 0; c < pb->ncams; ++c) {
    cams[c] = pb->cams[c];
    for (int k = 0; k < 12; ++k) cams[c].viewmat[k] = x[16 * c + k];
    cams[c].fx = x[16 * c + 12], cams[c].fy = x[16 * c + 13], cams[c].cx = x[16 * c + 14], cams[c].cy = x[16 * c + 15];
  }
}
static void f_cams(const double *x, double *y, void *vctx) {
  problem *pb = (problem *)vctx;
  raster_camera cams[MAXCAM];
  x_to_cams(x, pb, cams);
  raster_gaussians g = test_scene_view(&pb->sc);
  raster_images out = {y, y + 3 * pb->P, y + 4 * pb->P, y + 5 * pb->P};
  if (raster_forward(pb->ctx, &g, cams, pb->ncams, &pb->opt, &out) != PL_OK)
    for (int64_t i = 0; i < 6 * pb->P; ++i) y[i] = NAN;
}
static void vjp_cams(const double *x, const double *vy, double *vx, void *vctx) {
  problem *pb = (problem *)vctx;
  raster_camera cams[MAXCAM];
  x_to_cams(x, pb, cams);
  raster_gaussians g = test_scene_view(&pb->sc);
  double *img = (double *)calloc(6 * (size_t)pb->P, sizeof(double));
  raster_images out = {img, img + 3 * pb->P, img + 4 * pb->P, img + 5 * pb->P};
  CHECK(raster_forward(pb->ctx, &g, cams, pb->ncams, &pb->opt, &out) == PL_OK, "forward: %s", pl_last_error());
  raster_images v = {(real *)vy, (real *)vy + 3 * pb->P, (real *)vy + 4 * pb->P, (real *)vy + 5 * pb->P};
  raster_grads gr;
  memset(&gr, 0, sizeof gr);
  gr.cameras = vx;
  CHECK(raster_backward(pb->ctx, &g, cams, pb->ncams, &pb->opt, &v, &gr) == PL_OK, "backward: %s", pl_last_error());
  free(img);
}

static void test_camera_grads(raster_ctx *ctx) {
  for (int aa = 0; aa < 2; ++aa) {
    problem pb;
    memset(&pb, 0, sizeof pb);
    pb.ctx = ctx;
    pb.ncams = 2;
    pb.opt.mode = aa ? RASTER_ANTIALIASED : RASTER_CLASSIC;
    pb.opt.background[0] = RC(0.2), pb.opt.background[1] = RC(0.4), pb.opt.background[2] = RC(0.7);
    int nclamp, nstop, tries = 0;
    double margin;
    for (;; ++tries) {
      test_scene_random(&pb.sc, 10, 1, 0, 0, 0.8, 0.08, 0.35, 0.1, 0.7);
      pb.cams[0] = test_camera(36, 28, 50, 4.0, 0.2 + 0.1 * test_rand(), 0.1);
      pb.cams[1] = test_camera(30, 34, 45, 4.5, 1.4, -0.3);
      pb.P = raster_total_pixels(pb.cams, pb.ncams);
      margin = scene_margin(&pb, &nclamp, &nstop);
      if (margin > 3e-4) break;
      test_scene_free(&pb.sc);
      if (tries > 200) {
        CHECK(0, "camera gradients: no scene with a safe margin in 200 draws");
        return;
      }
    }
    double x[16 * MAXCAM];
    for (int c = 0; c < pb.ncams; ++c) {
      for (int k = 0; k < 12; ++k) x[16 * c + k] = pb.cams[c].viewmat[k];
      x[16 * c + 12] = pb.cams[c].fx, x[16 * c + 13] = pb.cams[c].fy;
      x[16 * c + 14] = pb.cams[c].cx, x[16 * c + 15] = pb.cams[c].cy;
    }
    const char *name = aa ? "cameras (viewmat, fx fy cx cy), antialiased" : "cameras (viewmat, fx fy cx cy)";
    double err = test_vjp_error(name, f_cams, vjp_cams, &pb, x, 16 * pb.ncams, (int)(6 * pb.P), 1e-6, 1e-9, 0);
    fprintf(stderr, "%-58s rel.err %.2e  (margin %.1e, %d redraws)\n", name, err, margin, tries);
    CHECK(err <= 1e-6, "%s: relative error %g", name, err);
    test_scene_free(&pb.sc);
  }
}

/* Same backward twice and with 1 thread: bitwise identical. */
static void test_determinism(void) {
  test_scene sc;
  test_scene_random(&sc, 300, 0, 1, 2, 1.2, 0.03, 0.2, 0.1, 0.95);
  raster_camera cams[2] = {test_camera(96, 80, 50, 4.0, 0.3, 0.2), test_camera(64, 64, 40, 5.0, -1.0, 0.1)};
  int64_t P = raster_total_pixels(cams, 2);
  double *vrgb = (double *)malloc(sizeof(double) * 3 * (size_t)P), *rgb = (double *)malloc(sizeof(double) * 3 * (size_t)P);
  for (int64_t i = 0; i < 3 * P; ++i) vrgb[i] = test_rand();
  raster_gaussians g = test_scene_view(&sc);
  int K = test_sh_coeffs(2);
  size_t nb = sizeof(double) * (size_t)sc.n * (size_t)(3 + 3 + 4 + 1 + 3 * K);
  double *res[3];
  for (int run = 0; run < 3; ++run) {
    raster_desc d;
    memset(&d, 0, sizeof d);
    d.backend = PL_BACKEND_CPU;
    d.threads = run == 2 ? 1 : 0;
    raster_ctx *ctx;
    CHECK(raster_create(&ctx, &d) == PL_OK, "init");
    res[run] = (double *)calloc(1, nb);
    double *p = res[run];
    raster_grads gr;
    memset(&gr, 0, sizeof gr);
    gr.means = p;
    gr.scales = p + 3 * sc.n;
    gr.quats = p + 6 * sc.n;
    gr.opacities = p + 10 * sc.n;
    gr.sh = p + 11 * sc.n;
    raster_images out = {rgb, NULL, NULL, NULL}, v = {vrgb, NULL, NULL, NULL};
    CHECK(raster_forward(ctx, &g, cams, 2, NULL, &out) == PL_OK, "forward");
    CHECK(raster_backward(ctx, &g, cams, 2, NULL, &v, &gr) == PL_OK, "backward");
    raster_destroy(ctx);
  }
  CHECK(memcmp(res[0], res[1], nb) == 0, "backward differs between two identical runs");
  CHECK(memcmp(res[0], res[2], nb) == 0, "backward differs between the default thread count and 1 thread");
  for (int run = 0; run < 3; ++run) free(res[run]);
  free(vrgb);
  free(rgb);
  test_scene_free(&sc);
}

int main(void) {
  raster_ctx *ctx = test_cpu_ctx();
  if (!ctx) return 1;
  const grad_case cases[] = {
      /* name                                  n  covs sh deg aa cams omin  omax  smin  smax spread clamp stop frames */
      {"covariances, RGB, classic, 2 cameras", 10, 1, 0, 0, 0, 2, 0.1, 0.7, 0.08, 0.35, 0.8, 0, 0, 0},
      {"scale+quaternion, SH degree 3, antialiased, 2 cameras", 10, 0, 1, 3, 1, 2, 0.1, 0.8, 0.08, 0.35, 0.8, 0, 0, 0},
      {"covariances, SH degree 1, opaque (stop + clamp)", 12, 1, 1, 1, 0, 1, 0.6, 0.9, 0.25, 0.45, 0.3, 0, 1, 0},
      {"scale+quaternion, RGB, 3 cameras", 8, 0, 0, 0, 0, 3, 0.2, 0.9, 0.05, 0.3, 1.0, 0, 0, 0},
      {"covariances, SH degree 2, antialiased, 3 cameras", 7, 1, 1, 2, 1, 3, 0.3, 0.95, 0.1, 0.4, 0.9, 0, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) run_case(&cases[i], ctx);
  /* the 0.99 clamp: one near-opaque Gaussian among others */
  {
    grad_case gc = {"scale+quaternion, RGB, near-opaque (0.99 clamp)", 6, 0, 0, 0, 0, 1, 0.993, 0.999, 0.1, 0.25, 0.7,
                    1, 0, 0};
    run_case(&gc, ctx);
  }
  test_camera_grads(ctx);
  test_determinism();
  /* SH frames (PhysGaussian): the SH view direction turned into each Gaussian's rest frame */
  {
    grad_case gc = {"scale+quaternion, SH degree 3, SH frames, antialiased, 2 cameras", 10, 0, 1, 3, 1, 2, 0.1, 0.8,
                    0.08, 0.35, 0.8, 0, 0, 1};
    run_case(&gc, ctx);
    grad_case gc1 = {"covariances, SH degree 1, SH frames, 3 cameras", 7, 1, 1, 1, 0, 3, 0.3, 0.95, 0.1, 0.4, 0.9, 0,
                     0, 1};
    run_case(&gc1, ctx);
  }
  raster_destroy(ctx);
  return test_summary("test_raster_grad");
}
