/* test_upsample_cuda.c: CUDA backend against the CPU reference, case by case (exit 77 without a device).
 * For each case: forward outputs (means, covariances, colours, opacities) and backward results (v_x, v_F, the
 * scalar parameter gradients, per-Gaussian colour and opacity-offset gradients) compared with a normalised error
 * max|cuda - cpu| / max(max|cpu|, tiny), and checked for NaN/Inf; the error paths (a NaN particle) must agree. */
#include <stdio.h>

#include "tests/upsample/ups_test_util.h"

#ifdef PL_REAL_DOUBLE
#error "the CUDA parity test uses the float library"
#endif

static double g_worst_fwd = 0, g_worst_bwd = 0;

static int all_finite(const real *a, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (!isfinite((double)a[i])) return 0;
  return 1;
}

static void dev_upload(pl_buffer *b, const void *host, size_t bytes) {
  pl_status s = pl_buffer_alloc(b, PL_BACKEND_CUDA, bytes);
  CHECK(s == PL_OK, "cuda alloc: %s", pl_last_error());
  if (s == PL_OK && host) CHECK(pl_buffer_upload(b, 0, host, bytes) == PL_OK, "upload: %s", pl_last_error());
}

static void dev_download(const void *dptr, void *host, size_t bytes) {
  pl_buffer b;
  b.ptr = (void *)dptr;
  b.bytes = bytes;
  b.backend = PL_BACKEND_CUDA;
  CHECK(pl_buffer_download(&b, 0, host, bytes) == PL_OK, "download: %s", pl_last_error());
}

typedef struct {
  const char *name;
  int kind;      /* 0 bound particle set, 1 bound mesh, 2 particles, 3 runtime, 4 bound + runtime, 5 large runtime */
  double radius; /* in particle spacings */
} pcase;


static void run_case(const pcase *pc) {
  const double dp = 0.02, c0[3] = {0.4, 0.5, 0.45};
  real *x0;
  int n = ups_sphere_particles(c0, pc->radius * dp, dp, 0.8, 17, &x0);
  int *obj = (int *)calloc((size_t)n, sizeof(int));
  pl_mesh ico;
  ups_icosahedron(&ico, 0.1, 0.8, 5, 1, 7);
  ups_object objs[2];
  memset(objs, 0, sizeof objs);
  objs[0].mode = pc->kind == 2 ? UPS_PARTICLES : (pc->kind == 3 || pc->kind == 5 ? UPS_RUNTIME : UPS_BOUND);
  objs[1].mode = UPS_RUNTIME;
  objs[0].color[0] = 0.9, objs[0].color[1] = 0.4, objs[0].color[2] = 0.2;
  if (pc->kind == 1) {
    objs[0].mesh = &ico;
    for (int k = 0; k < 3; ++k) objs[0].center[k] = c0[k], objs[0].scale[k] = pc->radius * dp, objs[0].rotation_deg[k] = 15 * k;
  }
  if (pc->kind == 4)
    for (int p = 0; p < n; ++p) obj[p] = x0[3 * p + 1] > c0[1];
  ups_desc d;
  memset(&d, 0, sizeof d);
  d.nparticles = n;
  d.rest_positions = x0;
  d.object_index = obj;
  d.nobjects = pc->kind == 4 ? 2 : 1;
  d.objects = objs;
  d.particle_spacing = dp;
  d.learn_colors = d.learn_opacities = 1;
  d.seed = 5;
  ups *cpu = NULL, *gpu = NULL;
  d.backend = PL_BACKEND_CPU;
  pl_status s = ups_create(&cpu, &d);
  CHECK(s == PL_OK, "%s: cpu init: %s", pc->name, pl_last_error());
  d.backend = PL_BACKEND_CUDA;
  if (s == PL_OK) s = ups_create(&gpu, &d);
  CHECK(s == PL_OK, "%s: cuda init: %s", pc->name, pl_last_error());
  if (s != PL_OK) {
    ups_destroy(cpu);
    free(x0);
    free(obj);
    return;
  }
  ups_info info;
  ups_get_info(cpu, &info);
  const size_t m = (size_t)info.count;
  /* a deformed frame */
  real *x = (real *)malloc(sizeof(real) * 3 * (size_t)n), *f = (real *)malloc(sizeof(real) * 9 * (size_t)n);
  for (int p = 0; p < n; ++p) {
    for (int k = 0; k < 3; ++k) x[3 * p + k] = x0[3 * p + k] + (real)(0.2 * dp * test_rand());
    for (int k = 0; k < 9; ++k) f[9 * p + k] = (real)((k % 4 == 0) + 0.15 * test_rand());
  }
  pl_buffer dx, df;
  dev_upload(&dx, x, sizeof(real) * 3 * (size_t)n);
  dev_upload(&df, f, sizeof(real) * 9 * (size_t)n);
  /* forward */
  real *a = (real *)malloc(sizeof(real) * 13 * m), *b = (real *)malloc(sizeof(real) * 13 * m);
  CHECK(ups_forward(cpu, x, f, NULL) == PL_OK, "%s: cpu forward: %s", pc->name, pl_last_error());
  CHECK(ups_forward(gpu, (const real *)dx.ptr, (const real *)df.ptr, NULL) == PL_OK, "%s: cuda forward: %s",
        pc->name, pl_last_error());
  ups_download(cpu, a, a + 3 * m, a + 9 * m, a + 12 * m);
  ups_download(gpu, b, b + 3 * m, b + 9 * m, b + 12 * m);
  const char *what[4] = {"means", "covariances", "colours", "opacities"};
  const size_t off[5] = {0, 3 * m, 9 * m, 12 * m, 13 * m};
  CHECK(all_finite(b, 13 * m), "%s: cuda forward has NaN/Inf", pc->name);
  for (int k = 0; k < 4; ++k) {
    double e = test_norm_err(a + off[k], b + off[k], off[k + 1] - off[k], TEST_NORM_MAX, 1e-30, NULL);
    g_worst_fwd = fmax(g_worst_fwd, e);
    CHECK(e <= 2e-5, "%s: forward %s differ: normalised error %.3e", pc->name, what[k], e);
  }
  /* backward with random cotangents */
  real *vy = (real *)malloc(sizeof(real) * 13 * m);
  for (size_t i = 0; i < 13 * m; ++i) vy[i] = (real)test_rand();
  pl_buffer dvy, dvx, dvf;
  dev_upload(&dvy, vy, sizeof(real) * 13 * m);
  dev_upload(&dvx, NULL, sizeof(real) * 3 * (size_t)n);
  dev_upload(&dvf, NULL, sizeof(real) * 9 * (size_t)n);
  real *cvx = (real *)calloc(12 * (size_t)n, sizeof(real)), *gvx = (real *)malloc(sizeof(real) * 12 * (size_t)n);
  CHECK(ups_backward(cpu, x, f, vy, vy + 3 * m, vy + 9 * m, vy + 12 * m, cvx, cvx + 3 * n) == PL_OK,
        "%s: cpu backward: %s", pc->name, pl_last_error());
  const real *dv = (const real *)dvy.ptr;
  CHECK(ups_backward(gpu, (const real *)dx.ptr, (const real *)df.ptr, dv, dv + 3 * m, dv + 9 * m, dv + 12 * m,
                             (real *)dvx.ptr, (real *)dvf.ptr) == PL_OK,
        "%s: cuda backward: %s", pc->name, pl_last_error());
  dev_download(dvx.ptr, gvx, sizeof(real) * 3 * (size_t)n);
  dev_download(dvf.ptr, gvx + 3 * n, sizeof(real) * 9 * (size_t)n);
  CHECK(all_finite(gvx, 12 * (size_t)n), "%s: cuda v_x/v_F has NaN/Inf", pc->name);
  double ex = test_norm_err(cvx, gvx, 3 * (size_t)n, TEST_NORM_MAX, 1e-30, NULL);
  double ef = test_norm_err(cvx + 3 * n, gvx + 3 * n, 9 * (size_t)n, TEST_NORM_MAX, 1e-30, NULL);
  ups_grads gc, gg;
  ups_get_grads(cpu, &gc);
  ups_get_grads(gpu, &gg);
  real *gcol = (real *)malloc(sizeof(real) * 4 * m);
  dev_download(gg.colors, gcol, sizeof(real) * 3 * m);
  dev_download(gg.opacity_offsets, gcol + 3 * m, sizeof(real) * m);
  double ecol = test_norm_err(gc.colors, gcol, 3 * m, TEST_NORM_MAX, 1e-30, NULL);
  double eoff = test_norm_err(gc.opacity_offsets, gcol + 3 * m, m, TEST_NORM_MAX, 1e-30, NULL);
  double es = 0;
  const double sc[3] = {gc.sigma0, gc.thickness, gc.opacity}, sg[3] = {gg.sigma0, gg.thickness, gg.opacity};
  for (int k = 0; k < 3; ++k) es = fmax(es, fabs(sc[k] - sg[k]) / fmax(fabs(sc[k]), 1e-30));
  CHECK(isfinite(sg[0]) && isfinite(sg[1]) && isfinite(sg[2]), "%s: cuda parameter gradients not finite", pc->name);
  double eb = fmax(fmax(ex, ef), fmax(fmax(ecol, eoff), es));
  g_worst_bwd = fmax(g_worst_bwd, eb);
  fprintf(stderr, "%-32s N %6d M %7zu  forward ok; backward: v_x %.1e v_F %.1e params %.1e colours %.1e offsets %.1e\n",
          pc->name, n, m, ex, ef, es, ecol, eoff);
  CHECK(eb <= 1e-3, "%s: backward differs (v_x %.2e, v_F %.2e, scalars %.2e, colours %.2e, offsets %.2e)", pc->name, ex,
        ef, es, ecol, eoff);
  /* the error path: a NaN in one particle's F is reported for the same particle */
  int bad = n / 3;
  real nanv = (real)NAN;
  pl_buffer_upload(&df, sizeof(real) * (9 * (size_t)bad + 4), &nanv, sizeof nanv);
  f[9 * bad + 4] = nanv;
  pl_status s1 = ups_forward(cpu, x, f, NULL);
  char m1[512];
  snprintf(m1, sizeof m1, "%s", pl_last_error());
  pl_status s2 = ups_forward(gpu, (const real *)dx.ptr, (const real *)df.ptr, NULL);
  CHECK(s1 == PL_ERR_NUMERIC && s2 == PL_ERR_NUMERIC && strcmp(m1, pl_last_error()) == 0,
        "%s: NaN particle: cpu '%s', cuda '%s'", pc->name, m1, pl_last_error());
  free(gcol);
  free(cvx);
  free(gvx);
  free(vy);
  free(a);
  free(b);
  free(x);
  free(f);
  pl_buffer_free(&dx);
  pl_buffer_free(&df);
  pl_buffer_free(&dvy);
  pl_buffer_free(&dvx);
  pl_buffer_free(&dvf);
  ups_destroy(cpu);
  ups_destroy(gpu);
  free(x0);
  free(obj);
}

/* Trained splats with SH (degree 3, a turned placement) bound to one object, a runtime object beside them: the SH
 * and frames forward, and the adjoint from random v_sh and v_frames (ups_backward_sh), CUDA against the CPU. */
static void run_sh_case(void) {
  const double dp = 0.02, c0[3] = {0.4, 0.5, 0.45};
  real *x0;
  int n = ups_sphere_particles(c0, 6 * dp, dp, 0.8, 23, &x0);
  int *obj = (int *)calloc((size_t)n, sizeof(int));
  for (int p = 0; p < n; ++p) obj[p] = x0[3 * p + 1] > c0[1] + 2 * dp; /* the top cap: runtime */
  enum { NS = 80, K = 16 };
  double *mean = (double *)malloc(sizeof(double) * 3 * NS), *cov = (double *)malloc(sizeof(double) * 6 * NS);
  double *col = (double *)malloc(sizeof(double) * 3 * NS), *op = (double *)malloc(sizeof(double) * NS);
  double *sh = (double *)malloc(sizeof(double) * 3 * K * NS);
  for (int i = 0; i < NS; ++i) { /* on the lower half of the sphere, isotropic, random colours and bands */
    double z = -(i + 0.5) / NS, r = sqrt(1 - z * z), ph = 2.39996 * i, nrm[3] = {r * cos(ph), z, r * sin(ph)};
    for (int k = 0; k < 3; ++k) mean[3 * i + k] = c0[k] + 5.5 * dp * nrm[k], col[3 * i + k] = 0.5 + 0.3 * test_rand();
    const double v = 0.25 * dp * dp, c6[6] = {v, 0, 0, v, 0, v};
    memcpy(cov + 6 * i, c6, sizeof c6);
    op[i] = 0.6 + 0.3 * test_rand();
    for (int k = 0; k < 3 * K; ++k) sh[3 * K * i + k] = 0.4 * test_rand();
  }
  ups_object objs[2];
  memset(objs, 0, sizeof objs);
  objs[0].mode = UPS_BOUND;
  objs[0].splat_count = NS;
  objs[0].splat_means = mean, objs[0].splat_covs = cov, objs[0].splat_colors = col, objs[0].splat_opacities = op;
  objs[0].splat_sh = sh, objs[0].splat_sh_degree = 3;
  objs[0].rotation_deg[0] = 30, objs[0].rotation_deg[1] = -20, objs[0].rotation_deg[2] = 60;
  objs[1].mode = UPS_RUNTIME;
  objs[1].color[0] = 0.2, objs[1].color[1] = 0.7, objs[1].color[2] = 0.4;
  ups_desc d;
  memset(&d, 0, sizeof d);
  d.nparticles = n, d.rest_positions = x0, d.object_index = obj, d.nobjects = 2, d.objects = objs;
  d.particle_spacing = dp;
  d.learn_colors = d.learn_opacities = 1;
  d.seed = 5;
  ups *cpu = NULL, *gpu = NULL;
  d.backend = PL_BACKEND_CPU;
  pl_status s = ups_create(&cpu, &d);
  CHECK(s == PL_OK, "SH: cpu init: %s", pl_last_error());
  d.backend = PL_BACKEND_CUDA;
  if (s == PL_OK) s = ups_create(&gpu, &d);
  CHECK(s == PL_OK, "SH: cuda init: %s", pl_last_error());
  free(mean), free(cov), free(col), free(op), free(sh);
  ups_info info;
  ups_get_info(cpu, &info);
  CHECK(s != PL_OK || info.sh_degree == 3, "SH: degree %d out, want 3", info.sh_degree);
  if (s != PL_OK || info.sh_degree != 3) {
    ups_destroy(cpu), ups_destroy(gpu), free(x0), free(obj);
    return;
  }
  const size_t m = (size_t)info.count, kb = 3 * K;
  real *x = (real *)malloc(sizeof(real) * 3 * (size_t)n), *f = (real *)malloc(sizeof(real) * 9 * (size_t)n);
  for (int p = 0; p < n; ++p) {
    for (int k = 0; k < 3; ++k) x[3 * p + k] = x0[3 * p + k] + (real)(0.2 * dp * test_rand());
    for (int k = 0; k < 9; ++k) f[9 * p + k] = (real)((k % 4 == 0) + 0.15 * test_rand());
  }
  pl_buffer dx, df, dvy, dvx, dvf;
  dev_upload(&dx, x, sizeof(real) * 3 * (size_t)n);
  dev_upload(&df, f, sizeof(real) * 9 * (size_t)n);
  CHECK(ups_forward(cpu, x, f, NULL) == PL_OK, "SH: cpu forward: %s", pl_last_error());
  CHECK(ups_forward(gpu, (const real *)dx.ptr, (const real *)df.ptr, NULL) == PL_OK, "SH: cuda forward: %s",
        pl_last_error());
  real *a = (real *)malloc(sizeof(real) * (kb + 9) * m), *b = (real *)malloc(sizeof(real) * (kb + 9) * m);
  CHECK(ups_download_sh(cpu, a, a + kb * m) == PL_OK && ups_download_sh(gpu, b, b + kb * m) == PL_OK,
        "SH: download: %s", pl_last_error());
  double esh = test_norm_err(a, b, kb * m, TEST_NORM_MAX, 1e-30, NULL);
  double efr = test_norm_err(a + kb * m, b + kb * m, 9 * m, TEST_NORM_MAX, 1e-30, NULL);
  g_worst_fwd = fmax(g_worst_fwd, fmax(esh, efr));
  CHECK(esh <= 2e-5 && efr <= 2e-5, "SH: forward SH %.3e, frames %.3e", esh, efr);
  /* the adjoint from v_means, v_covs, v_sh, v_frames, v_opacities */
  const size_t nv = (19 + kb) * m;
  real *vy = (real *)malloc(sizeof(real) * nv);
  for (size_t i = 0; i < nv; ++i) vy[i] = (real)test_rand();
  dev_upload(&dvy, vy, sizeof(real) * nv);
  dev_upload(&dvx, NULL, sizeof(real) * 3 * (size_t)n);
  dev_upload(&dvf, NULL, sizeof(real) * 9 * (size_t)n);
  real *cvx = (real *)calloc(12 * (size_t)n, sizeof(real)), *gvx = (real *)malloc(sizeof(real) * 12 * (size_t)n);
  CHECK(ups_backward_sh(cpu, x, f, vy, vy + 3 * m, vy + 9 * m, vy + (9 + kb) * m, vy + (18 + kb) * m, cvx,
                        cvx + 3 * n) == PL_OK, "SH: cpu backward: %s", pl_last_error());
  const real *dv = (const real *)dvy.ptr;
  CHECK(ups_backward_sh(gpu, (const real *)dx.ptr, (const real *)df.ptr, dv, dv + 3 * m, dv + 9 * m,
                        dv + (9 + kb) * m, dv + (18 + kb) * m, (real *)dvx.ptr, (real *)dvf.ptr) == PL_OK,
        "SH: cuda backward: %s", pl_last_error());
  dev_download(dvx.ptr, gvx, sizeof(real) * 3 * (size_t)n);
  dev_download(dvf.ptr, gvx + 3 * n, sizeof(real) * 9 * (size_t)n);
  double ex = test_norm_err(cvx, gvx, 3 * (size_t)n, TEST_NORM_MAX, 1e-30, NULL);
  double ef = test_norm_err(cvx + 3 * n, gvx + 3 * n, 9 * (size_t)n, TEST_NORM_MAX, 1e-30, NULL);
  ups_grads gc, gg;
  ups_get_grads(cpu, &gc);
  ups_get_grads(gpu, &gg);
  real *gcol = (real *)malloc(sizeof(real) * 3 * m);
  dev_download(gg.colors, gcol, sizeof(real) * 3 * m);
  double ecol = test_norm_err(gc.colors, gcol, 3 * m, TEST_NORM_MAX, 1e-30, NULL);
  double eb = fmax(fmax(ex, ef), ecol);
  g_worst_bwd = fmax(g_worst_bwd, eb);
  fprintf(stderr, "%-32s N %6d M %7zu  forward SH %.1e frames %.1e; backward: v_x %.1e v_F %.1e colours %.1e\n",
          "SH splats + runtime", n, m, esh, efr, ex, ef, ecol);
  CHECK(eb <= 1e-3, "SH: backward differs (v_x %.2e, v_F %.2e, colours %.2e)", ex, ef, ecol);
  free(gcol), free(cvx), free(gvx), free(vy), free(a), free(b), free(x), free(f);
  pl_buffer_free(&dx), pl_buffer_free(&df), pl_buffer_free(&dvy), pl_buffer_free(&dvx), pl_buffer_free(&dvf);
  ups_destroy(cpu), ups_destroy(gpu), free(x0), free(obj);
}

int main(void) {
  char desc[512];
  if (!pl_cuda_compiled()) TEST_SKIP("this build has no CUDA backend");
  if (pl_cuda_device_count(desc, sizeof desc) == 0) TEST_SKIP("no CUDA device");
  fprintf(stderr, "device %s\n", desc);
  const pcase cases[] = {{"bound, particle-set surface", 0, 6},
                         {"bound, mesh (vertex colours)", 1, 6},
                         {"particles", 2, 5},
                         {"runtime", 3, 6},
                         {"bound + runtime objects", 4, 7},
                         {"runtime, 60k particles", 5, 24}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) run_case(&cases[i]);
  run_sh_case();
  fprintf(stderr, "worst normalised error: forward %.3e, backward %.3e\n", g_worst_fwd, g_worst_bwd);
  return test_summary("test_upsample_cuda");
}
