/* test_backend_ops.c: the one parity driver, in the style of ggml's test-backend-ops: every op of every module on a
 * table of cases, run through the module's public API on the CPU (the reference) and on a second backend, one row
 * per (op, case) with the forward error, the gradient error and both timings.
 *
 *   test_backend_ops [--op mpm|raster|upsample|loss]             CUDA against the CPU; exits 77 without a device
 *   test_backend_ops --rounding [--op ...]                       the CPU against itself with its inputs moved by one
 *                                                                ulp: how far rounding alone moves each output (CI)
 *
 * Ops: mpm (forward: loss and state at the last loss frame; gradient: state and parameter cotangents; 36 cases,
 * tests/mpm/parity_mpm.h explains its branch-limited cases), raster (forward images rgb/alpha/depth; backward
 * cotangents of means, covariances or scales+quaternions, opacities, colours or SH), upsample (forward Gaussians;
 * backward v_x, v_F and the scalar and per-Gaussian parameter gradients), loss (L1 + L2 + D-SSIM + mask: value and
 * the image cotangents). Errors are normalised (test_norm_err, tests/test_util.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/backend.h"
#include "core/log.h"
#include "pipeline/engine/loss.h"
#include "upsample/upsample.h"

static double bo_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#include "tests/mpm/parity_mpm.h"
#include "tests/raster/raster_test_util.h"
#include "tests/upsample/ups_test_util.h"

/* ------------------------------------------------------------------ the run and its table */

typedef struct {
  int rounding;   /* second side: the CPU on inputs moved by one ulp, not CUDA */
  pl_backend be2; /* the second side's backend */
} bo_mode;

static void bo_header(const char *op, const bo_mode *m) {
  printf("\n%-9s %-44s %-9s %10s %10s %9s %9s  %s\n", "op", "case", "vs cpu", "forward", "gradient", "cpu s",
         m->rounding ? "cpu s" : "cuda s", "verdict");
  (void)op;
}

static void bo_row(const char *op, const char *cas, const bo_mode *m, double fwd, double grad, double t1, double t2,
                   int ok) {
  printf("%-9s %-44s %-9s %10.2e %10.2e %9.4f %9.4f  %s\n", op, cas, m->rounding ? "cpu+ulp" : "cuda", fwd, grad, t1,
         t2, ok ? "ok" : "FAIL");
  fflush(stdout);
}

/* One ulp of the working precision, alternating directions: the input change two backends' rounding makes. */
static void bo_nudge(real *a, size_t n) {
  for (size_t i = 0; i < n; ++i) {
#ifdef PL_REAL_DOUBLE
    a[i] = nextafter(a[i], (i % 2) ? 2.0 : -2.0);
#else
    a[i] = nextafterf(a[i], (i % 2) ? 2.f : -2.f);
#endif
  }
}

/* host <-> the second side's backend */
static real *bo_put(pl_buffer *b, pl_backend be, const real *h, size_t n) {
  memset(b, 0, sizeof *b);
  if (pl_buffer_alloc(b, be, sizeof(real) * (n ? n : 1)) != PL_OK) return NULL;
  if (h && n) CHECK(pl_buffer_upload(b, 0, h, sizeof(real) * n) == PL_OK, "upload: %s", pl_last_error());
  if (!h) CHECK(pl_buffer_zero(b) == PL_OK, "clear: %s", pl_last_error());
  return (real *)b->ptr;
}
/* Wait for the backend (the timings cover the work, not its launch). */
static pl_status bo_sync(pl_backend be) { return be == PL_BACKEND_CUDA ? pl_cuda_sync("parity driver") : PL_OK; }

static void bo_get(pl_backend be, const real *d, real *h, size_t n) {
  if (!n) return;
  pl_buffer b;
  b.ptr = (void *)d, b.bytes = sizeof(real) * n, b.backend = be;
  CHECK(pl_buffer_download(&b, 0, h, sizeof(real) * n) == PL_OK, "download: %s", pl_last_error());
}

/* ------------------------------------------------------------------ raster */

typedef struct {
  const char *name;
  int n, use_covs, use_sh, sh_degree, aa, ncams, w, h;
  double omin, omax;
} raster_case;

/* Forward and backward of scene s on backend be (host arrays copied there); images [6P] and grads [ng] to host. */
static int raster_run(pl_backend be, const test_scene *s, const raster_camera *cams, int ncams,
                      const raster_options *opt, const real *vimg, int64_t P, real *img, real *grad, double *secs) {
  raster_desc d = {0};
  d.backend = be;
  raster_ctx *ctx = NULL;
  if (raster_create(&ctx, &d) != PL_OK) return 0;
  const int64_t n = s->n;
  const int K = test_sh_coeffs(s->sh_degree);
  pl_buffer b[10];
  memset(b, 0, sizeof b);
  raster_gaussians g = test_scene_view(s);
  raster_gaussians gd = g;
  gd.means = bo_put(&b[0], be, s->means, 3 * (size_t)n);
  gd.opacities = bo_put(&b[1], be, s->opacities, (size_t)n);
  gd.covs = g.covs ? bo_put(&b[2], be, s->covs, 6 * (size_t)n) : NULL;
  gd.scales = g.scales ? bo_put(&b[3], be, s->scales, 3 * (size_t)n) : NULL;
  gd.quats = g.quats ? bo_put(&b[4], be, s->quats, 4 * (size_t)n) : NULL;
  gd.colors = g.colors ? bo_put(&b[5], be, s->colors, 3 * (size_t)n) : NULL;
  gd.sh = g.sh ? bo_put(&b[6], be, s->sh, 3 * (size_t)K * (size_t)n) : NULL;
  raster_grads tmp;
  const int64_t ng = test_grads_layout(s, NULL, &tmp);
  real *dimg = bo_put(&b[7], be, NULL, 6 * (size_t)P), *dv = bo_put(&b[8], be, vimg, 6 * (size_t)P);
  real *dg = bo_put(&b[9], be, NULL, (size_t)ng);
  raster_images out = {dimg, dimg + 3 * P, dimg + 4 * P, dimg + 5 * P};
  raster_images vout = {dv, dv + 3 * P, dv + 4 * P, dv + 5 * P};
  raster_grads gr;
  test_grads_layout(s, dg, &gr);
  double t0 = bo_now();
  int ok = raster_forward(ctx, &gd, cams, ncams, opt, &out) == PL_OK &&
           raster_backward(ctx, &gd, cams, ncams, opt, &vout, &gr) == PL_OK && bo_sync(be) == PL_OK;
  *secs = bo_now() - t0;
  if (ok) {
    bo_get(be, dimg, img, 6 * (size_t)P);
    bo_get(be, dg, grad, (size_t)ng);
  }
  for (int k = 0; k < 10; ++k) pl_buffer_free(&b[k]);
  raster_destroy(ctx);
  return ok;
}

static void op_raster(const bo_mode *m) {
  static const raster_case cases[] = {
      {"covariances, RGB, 1 camera", 300, 1, 0, 0, 0, 1, 64, 48, 0.1, 0.9},
      {"scales+quaternions, SH 3, antialiased, 2 cameras", 400, 0, 1, 3, 1, 2, 80, 64, 0.1, 0.95},
      {"opaque, SH 1, 2 cameras (clamp and stop)", 500, 1, 1, 1, 0, 2, 72, 56, 0.9, 1.0},
  };
  bo_header("raster", m);
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
    const raster_case *rc = &cases[k];
    test_scene s;
    test_scene_random(&s, rc->n, rc->use_covs, rc->use_sh, rc->sh_degree, 1.2, 0.03, 0.2, rc->omin, rc->omax);
    raster_camera cams[2];
    for (int c = 0; c < rc->ncams; ++c) cams[c] = test_camera(rc->w, rc->h, 50 + 5 * c, 4.0 + 0.5 * c, 0.7 * c, 0.2);
    raster_options opt;
    memset(&opt, 0, sizeof opt);
    opt.mode = rc->aa ? RASTER_ANTIALIASED : RASTER_CLASSIC;
    opt.background[0] = RC(0.3), opt.background[1] = RC(0.1), opt.background[2] = RC(0.6);
    if (m->rounding) { /* smooth cut-offs: a one-ulp move must not flip a pixel across 1/255 */
      opt.alpha_min = RASTER_ALPHA_MIN_FLOOR;
      opt.transmittance_min = 1e-12;
    }
    const int64_t P = raster_total_pixels(cams, rc->ncams);
    raster_grads tmp;
    const int64_t ng = test_grads_layout(&s, NULL, &tmp);
    real *vimg = (real *)malloc(sizeof(real) * 6 * (size_t)P);
    for (int64_t i = 0; i < 6 * P; ++i) vimg[i] = (real)test_rand();
    real *img1 = (real *)calloc(6 * (size_t)P, sizeof(real)), *img2 = (real *)calloc(6 * (size_t)P, sizeof(real));
    real *g1 = (real *)calloc((size_t)ng + 1, sizeof(real)), *g2 = (real *)calloc((size_t)ng + 1, sizeof(real));
    double t1 = 0, t2 = 0;
    int ok1 = raster_run(PL_BACKEND_CPU, &s, cams, rc->ncams, &opt, vimg, P, img1, g1, &t1);
    CHECK(ok1, "raster %s: cpu: %s", rc->name, pl_last_error());
    /* rounding: the appearance inputs move by one ulp; a mean's move can carry a pixel across its splat's support
       edge (3.33 sigma, a jump of alpha ~ 0.004 o: raster.h), which is an outlier, not rounding */
    if (m->rounding) {
      bo_nudge(s.colors, 3 * (size_t)s.n);
      bo_nudge(s.sh, 3 * 16 * (size_t)s.n);
      bo_nudge(s.opacities, (size_t)s.n);
    }
    int ok2 = raster_run(m->be2, &s, cams, rc->ncams, &opt, vimg, P, img2, g2, &t2);
    CHECK(ok2, "raster %s: second backend: %s", rc->name, pl_last_error());
    int finite = 1;
    double ef = test_norm_err(img1, img2, 6 * (size_t)P, TEST_NORM_L2, 1e-12, &finite);
    double eg = test_norm_err(g1, g2, (size_t)ng, TEST_NORM_L2, 1e-12, &finite);
    /* test_raster_cuda's bounds: images to 1e-4, gradients (float atomics on the device) to 2e-3, relative L2 */
    int ok = ok1 && ok2 && finite && ef < 1e-4 && eg < 2e-3;
    bo_row("raster", rc->name, m, ef, eg, t1, t2, ok);
    CHECK(ok, "raster %s: forward %.2e, gradient %.2e (finite %d)", rc->name, ef, eg, finite);
    free(vimg), free(img1), free(img2), free(g1), free(g2);
    test_scene_free(&s);
  }
}

/* ------------------------------------------------------------------ upsample */

typedef struct {
  const char *name;
  ups_mode mode;
  double radius; /* in particle spacings */
} ups_case;

/* Forward and backward on backend be: Gaussians [13 M] and the adjoint (v_x, v_F [12 N], scalar parameter
 * gradients [3], per-Gaussian colour and opacity-offset gradients [4 M]) to host. */
static int ups_run(pl_backend be, ups_desc d, const real *x, const real *f, const real *vy, size_t n,
                   size_t *mcount, real **fwd, real **grad, double *secs) {
  d.backend = be;
  ups *u = NULL;
  if (ups_create(&u, &d) != PL_OK) return 0;
  ups_info info;
  ups_get_info(u, &info);
  const size_t m = (size_t)info.count;
  *mcount = m;
  *fwd = (real *)calloc(13 * m + 1, sizeof(real));
  *grad = (real *)calloc(12 * n + 3 + 4 * m, sizeof(real));
  pl_buffer b[5];
  const real *dx = bo_put(&b[0], be, x, 3 * n), *df = bo_put(&b[1], be, f, 9 * n);
  const real *dvy = bo_put(&b[2], be, vy, 13 * m);
  real *dvx = bo_put(&b[3], be, NULL, 3 * n), *dvf = bo_put(&b[4], be, NULL, 9 * n);
  double t0 = bo_now();
  int ok = ups_forward(u, dx, df, NULL) == PL_OK &&
           ups_backward(u, dx, df, dvy, dvy + 3 * m, dvy + 9 * m, dvy + 12 * m, dvx, dvf) == PL_OK &&
           bo_sync(be) == PL_OK;
  *secs = bo_now() - t0;
  if (ok) {
    real *a = *fwd, *g = *grad;
    ups_download(u, a, a + 3 * m, a + 9 * m, a + 12 * m);
    bo_get(be, dvx, g, 3 * n);
    bo_get(be, dvf, g + 3 * n, 9 * n);
    ups_grads gr;
    ups_get_grads(u, &gr);
    g[12 * n] = (real)gr.sigma0, g[12 * n + 1] = (real)gr.thickness, g[12 * n + 2] = (real)gr.opacity;
    bo_get(be, gr.colors, g + 12 * n + 3, 3 * m);
    bo_get(be, gr.opacity_offsets, g + 12 * n + 3 + 3 * m, m);
  }
  for (int k = 0; k < 5; ++k) pl_buffer_free(&b[k]);
  ups_destroy(u);
  return ok;
}

static void op_upsample(const bo_mode *m) {
  static const ups_case cases[] = {
      {"bound particle set, radius 4", UPS_BOUND, 4},
      {"runtime, radius 5", UPS_RUNTIME, 5},
      {"particles (one Gaussian each), radius 4", UPS_PARTICLES, 4},
  };
  bo_header("upsample", m);
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
    const ups_case *uc = &cases[k];
    const double dp = 0.02, c0[3] = {0.4, 0.5, 0.45};
    real *x0;
    const int n = ups_sphere_particles(c0, uc->radius * dp, dp, 0.8, 17, &x0);
    ups_object obj;
    memset(&obj, 0, sizeof obj);
    obj.mode = uc->mode;
    obj.color[0] = 0.9, obj.color[1] = 0.4, obj.color[2] = 0.2;
    ups_desc d;
    memset(&d, 0, sizeof d);
    d.nparticles = n;
    d.rest_positions = x0;
    d.nobjects = 1;
    d.objects = &obj;
    d.particle_spacing = dp;
    d.learn_colors = d.learn_opacities = 1;
    d.seed = 5;
    /* a deformed frame */
    real *x = (real *)malloc(sizeof(real) * 3 * (size_t)n), *f = (real *)malloc(sizeof(real) * 9 * (size_t)n);
    for (int p = 0; p < n; ++p) {
      for (int j = 0; j < 3; ++j) x[3 * p + j] = x0[3 * p + j] + (real)(0.2 * dp * test_rand());
      for (int j = 0; j < 9; ++j) f[9 * p + j] = (real)((j % 4 == 0) + 0.15 * test_rand());
    }
    /* random output cotangents, sized by a first CPU instance's Gaussian count */
    ups *probe = NULL;
    d.backend = PL_BACKEND_CPU;
    pl_status st = ups_create(&probe, &d);
    CHECK(st == PL_OK, "upsample %s: init: %s", uc->name, pl_last_error());
    ups_info info;
    memset(&info, 0, sizeof info);
    if (st == PL_OK) ups_get_info(probe, &info);
    ups_destroy(probe);
    const size_t mc = (size_t)info.count;
    real *vy = (real *)malloc(sizeof(real) * (13 * mc + 1));
    for (size_t i = 0; i < 13 * mc; ++i) vy[i] = (real)test_rand();
    size_t m1 = 0, m2 = 0;
    real *y1 = NULL, *y2 = NULL, *g1 = NULL, *g2 = NULL;
    double t1 = 0, t2 = 0;
    int ok1 = st == PL_OK && ups_run(PL_BACKEND_CPU, d, x, f, vy, (size_t)n, &m1, &y1, &g1, &t1);
    CHECK(ok1, "upsample %s: cpu: %s", uc->name, pl_last_error());
    if (m->rounding) bo_nudge(x, 3 * (size_t)n);
    int ok2 = st == PL_OK && ups_run(m->be2, d, x, f, vy, (size_t)n, &m2, &y2, &g2, &t2);
    CHECK(ok2, "upsample %s: second backend: %s", uc->name, pl_last_error());
    int finite = 1;
    double ef = INFINITY, eg = INFINITY;
    if (ok1 && ok2 && m1 == m2 && m1 == mc) {
      ef = test_norm_err(y1, y2, 13 * m1, TEST_NORM_MAX, 1e-30, &finite);
      eg = test_norm_err(g1, g2, 12 * (size_t)n + 3 + 4 * m1, TEST_NORM_MAX, 1e-30, &finite);
    }
    /* test_upsample_cuda's bounds: forward 2e-5, backward 1e-3 (max-norm normalised) */
    int ok = finite && ef <= 2e-5 && eg <= 1e-3;
    bo_row("upsample", uc->name, m, ef, eg, t1, t2, ok);
    CHECK(ok, "upsample %s: forward %.2e, gradient %.2e (finite %d, %zu vs %zu Gaussians)", uc->name, ef, eg, finite,
          m1, m2);
    free(x0), free(x), free(f), free(vy), free(y1), free(y2), free(g1), free(g2);
  }
}

/* ------------------------------------------------------------------ loss */

/* The loss and its image cotangents on backend be: out [2] = (total, DSSIM term), grad [4 P] = v_rgb, v_alpha. */
static int loss_run(pl_backend be, int w, int h, const real *img, const real *tgt, double *out, real *grad,
                    double *secs) {
  const size_t P = (size_t)w * (size_t)h;
  const double weights[PL_LOSS_COUNT] = {0.8, 0.5, 0.2, 0.3};
  pl_loss_ctx *c = NULL;
  if (pl_loss_ctx_create(&c, be, w, h) != PL_OK) return 0;
  pl_buffer b[3];
  real *di = bo_put(&b[0], be, img, 4 * P), *dt = bo_put(&b[1], be, tgt, 4 * P), *dg = bo_put(&b[2], be, NULL, 4 * P);
  pl_loss_value v;
  double t0 = bo_now();
  int ok = pl_loss_eval(c, weights, w, h, di, di + 3 * P, dt, dt + 3 * P, 1.0, dg, dg + 3 * P, &v) == PL_OK &&
           bo_sync(be) == PL_OK;
  *secs = bo_now() - t0;
  if (ok) {
    out[0] = v.total, out[1] = v.term[PL_LOSS_DSSIM];
    bo_get(be, dg, grad, 4 * P);
  }
  for (int k = 0; k < 3; ++k) pl_buffer_free(&b[k]);
  pl_loss_ctx_free(c);
  return ok;
}

static void op_loss(const bo_mode *m) {
  static const int sizes[][2] = {{1, 1}, {7, 5}, {64, 48}, {257, 129}};
  bo_header("loss", m);
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; ++k) {
    const int w = sizes[k][0], h = sizes[k][1];
    const size_t P = (size_t)w * (size_t)h;
    real *img = (real *)malloc(sizeof(real) * 4 * P), *tgt = (real *)malloc(sizeof(real) * 4 * P);
    for (size_t i = 0; i < 4 * P; ++i) img[i] = (real)(0.5 + 0.4 * test_rand()), tgt[i] = (real)(0.5 + 0.4 * test_rand());
    real *g1 = (real *)calloc(4 * P, sizeof(real)), *g2 = (real *)calloc(4 * P, sizeof(real));
    double v1[2] = {0, 0}, v2[2] = {0, 0}, t1 = 0, t2 = 0;
    int ok1 = loss_run(PL_BACKEND_CPU, w, h, img, tgt, v1, g1, &t1);
    CHECK(ok1, "loss %dx%d: cpu: %s", w, h, pl_last_error());
    if (m->rounding) bo_nudge(img, 4 * P);
    int ok2 = loss_run(m->be2, w, h, img, tgt, v2, g2, &t2);
    CHECK(ok2, "loss %dx%d: second backend: %s", w, h, pl_last_error());
    int finite = 1;
    double ef = test_norm_err_d(v1, v2, 2, TEST_NORM_MAX, 1e-30, &finite);
    double eg = test_norm_err(g1, g2, 4 * P, TEST_NORM_L2, 1e-30, &finite);
    /* test_loss_cuda's bounds: the value to 1e-4 relative, the cotangents to 1e-3 relative L2 */
    int ok = ok1 && ok2 && finite && ef < 1e-4 && eg < 1e-3;
    char name[64];
    snprintf(name, sizeof name, "L1+L2+DSSIM+mask, %dx%d", w, h);
    bo_row("loss", name, m, ef, eg, t1, t2, ok);
    CHECK(ok, "loss %dx%d: forward %.2e, gradient %.2e (finite %d)", w, h, ef, eg, finite);
    free(img), free(tgt), free(g1), free(g2);
  }
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv) {
  bo_mode m = {0, PL_BACKEND_CUDA};
  const char *only = NULL;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--rounding"))
      m.rounding = 1, m.be2 = PL_BACKEND_CPU;
    else if (!strcmp(argv[i], "--op") && i + 1 < argc)
      only = argv[++i];
    else {
      fprintf(stderr, "usage: test_backend_ops [--rounding] [--op mpm|raster|upsample|loss]\n");
      return 2;
    }
  }
  pl_log_set_level(PL_LOG_WARN);
  if (!m.rounding) {
    char desc[1024] = "";
    if (!pl_cuda_compiled()) TEST_SKIP("this build has no CUDA backend");
    if (pl_cuda_device_count(desc, sizeof desc) == 0) TEST_SKIP("no CUDA device");
    printf("device: %s\n", desc);
  }
  const struct {
    const char *name;
    void (*run)(const bo_mode *);
  } ops[] = {{"raster", op_raster}, {"upsample", op_upsample}, {"loss", op_loss}};
  int known = only == NULL || !strcmp(only, "mpm");
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; ++k)
    if (!only || !strcmp(only, ops[k].name)) ops[k].run(&m), known = 1;
  if (!only || !strcmp(only, "mpm")) {
    printf("\nop mpm\n");
    op_mpm(m.rounding);
  }
  if (!known) {
    fprintf(stderr, "test_backend_ops: unknown op '%s' (mpm, raster, upsample, loss)\n", only);
    return 2;
  }
  return test_summary(m.rounding ? "test_backend_ops --rounding" : "test_backend_ops");
}
