/* bench_upsample: upsampler throughput on a sphere of particles (bound and runtime modes), forward and backward,
 * on the chosen backend, against a physical bound: the memory bandwidth this process gets from a large copy
 * (CPU: memcpy; CUDA: device-to-device copy). Prints the workload (particles, Gaussians, bindings, neighbour
 * pairs), times (median of 7), Gaussians per second and the achieved fraction of that bandwidth, counting only
 * the compulsory traffic (every input read once, every output written once).
 *   bench_upsample [--backend cpu|cuda|auto] [--radius R_in_particle_spacings] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend.h"
#include "core/progress.h"
#include "tests/upsample/ups_test_util.h"
#include "upsample/upsample.h"

static int cmpd(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : (x > y);
}

static double copy_bandwidth(pl_backend be) {
  size_t bytes = (size_t)256 << 20;
  pl_buffer a, b;
  if (pl_buffer_alloc(&a, be, bytes) != PL_OK || pl_buffer_alloc(&b, be, bytes) != PL_OK) return 0;
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    double t0 = pl_now();
    pl_buffer_copy(&b, 0, &a, 0, bytes);
    if (be == PL_BACKEND_CUDA) pl_cuda_sync("copy");
    best = fmin(best, pl_now() - t0);
  }
  pl_buffer_free(&a);
  pl_buffer_free(&b);
  return 2.0 * bytes / best; /* read + write */
}

int main(int argc, char **argv) {
  pl_backend req = PL_BACKEND_AUTO, be;
  double radius = 30;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
      if (pl_backend_parse(argv[++i], &req) != PL_OK) return fprintf(stderr, "%s\n", pl_last_error()), 2;
    } else if (!strcmp(argv[i], "--radius") && i + 1 < argc) {
      radius = atof(argv[++i]);
    } else {
      fprintf(stderr, "usage: bench_upsample [--backend cpu|cuda|auto] [--radius R]\n");
      return 2;
    }
  }
  char why[256];
  if (pl_backend_resolve(req, &be, why, sizeof why) != PL_OK) return fprintf(stderr, "%s\n", pl_last_error()), 1;
  const double dp = 0.01, c = 0.5;
  int nmax = (int)(8 * radius * radius * radius + 1);
  real *x = (real *)malloc(sizeof(real) * 3 * (size_t)nmax), *f;
  int n = 0, R = (int)ceil(radius);
  for (int i = -R; i < R; ++i)
    for (int j = -R; j < R; ++j)
      for (int k = -R; k < R; ++k) {
        double p[3] = {(i + 0.5), (j + 0.5), (k + 0.5)};
        if (p[0] * p[0] + p[1] * p[1] + p[2] * p[2] >= radius * radius) continue;
        double jit = 0.3 * sin(1.7 * i + 2.3 * j + 3.1 * k);
        for (int a = 0; a < 3; ++a) x[3 * n + a] = (real)(c + dp * (p[a] + jit * (a == 0 ? 1 : -0.5)));
        ++n;
      }
  f = (real *)calloc(9 * (size_t)n, sizeof(real));
  for (int p = 0; p < n; ++p) f[9 * p] = f[9 * p + 4] = f[9 * p + 8] = 1;
  double bw = copy_bandwidth(be);
  printf("bench_upsample: backend %s (%s); copy bandwidth %.1f GB/s\n", pl_backend_name(be), why, bw / 1e9);
  pl_buffer dx, df, dv, dvx;
  pl_buffer_alloc(&dx, be, sizeof(real) * 3 * (size_t)n);
  pl_buffer_alloc(&df, be, sizeof(real) * 9 * (size_t)n);
  pl_buffer_upload(&dx, 0, x, sizeof(real) * 3 * (size_t)n);
  pl_buffer_upload(&df, 0, f, sizeof(real) * 9 * (size_t)n);
  pl_buffer_alloc(&dvx, be, sizeof(real) * 12 * (size_t)n);
  const ups_mode modes[2] = {UPS_BOUND, UPS_RUNTIME};
  for (int mi = 0; mi < 2; ++mi) {
    ups_object ob;
    ups_desc d;
    ups_desc_one(&d, &ob, modes[mi], be, n, x, dp);
    ups *u;
    double t0 = pl_now();
    if (ups_create(&u, &d) != PL_OK) return fprintf(stderr, "%s\n", pl_last_error()), 1;
    double tinit = pl_now() - t0;
    ups_info info;
    ups_get_info(u, &info);
    size_t m = (size_t)info.count;
    pl_buffer_alloc(&dv, be, sizeof(real) * 13 * m);
    real *hv = (real *)malloc(sizeof(real) * 13 * m);
    for (size_t i = 0; i < 13 * m; ++i) hv[i] = (real)sin(0.1 * (double)i);
    pl_buffer_upload(&dv, 0, hv, sizeof(real) * 13 * m);
    free(hv);
    const real *v = (const real *)dv.ptr;
    double tf[7], tb[7];
    for (int r = 0; r < 7; ++r) {
      t0 = pl_now();
      if (ups_forward(u, (const real *)dx.ptr, (const real *)df.ptr, NULL) != PL_OK)
        return fprintf(stderr, "%s\n", pl_last_error()), 1;
      tf[r] = pl_now() - t0;
      t0 = pl_now();
      if (ups_backward(u, (const real *)dx.ptr, (const real *)df.ptr, v, v + 3 * m, v + 9 * m, v + 12 * m,
                               (real *)dvx.ptr, (real *)dvx.ptr + 3 * (size_t)n) != PL_OK)
        return fprintf(stderr, "%s\n", pl_last_error()), 1;
      tb[r] = pl_now() - t0;
    }
    qsort(tf, 7, sizeof(double), cmpd);
    qsort(tb, 7, sizeof(double), cmpd);
    double sz = sizeof(real);
    /* compulsory traffic: bound: x, F, rest of bound particles + bindings + samples in, 13 numbers out per Gaussian;
     * runtime: x, F in, 13 out per Gaussian (+ the density field's 4 per particle written and read) */
    double fbytes, bbytes;
    if (modes[mi] == UPS_BOUND) {
      fbytes = sz * (15.0 * n + 7.0 * m + 13.0 * m) + (sz + 4.0) * info.bindings + 8.0 * m;
      bbytes = fbytes + sz * (13.0 * m + 12.0 * n + 12.0 * m) + 16.0 * info.bindings;
    } else {
      fbytes = sz * (12.0 * n + 8.0 * n + 13.0 * m);
      bbytes = sz * (12.0 * n + 8.0 * n + 16.0 * n + 13.0 * m + 12.0 * n);
    }
    printf("%-8s N %7d  M %9zu (%lld bound, %d runtime x %d)  bindings %lld  init %.3f s\n",
           ups_mode_name(modes[mi]), n, m, (long long)info.nbound, info.nruntime_particles, info.children,
           (long long)info.bindings, tinit);
    printf("         forward  %8.3f ms  %7.1f M Gaussians/s  %6.1f GB/s compulsory = %5.1f%% of copy bandwidth\n",
           1e3 * tf[3], m / tf[3] / 1e6, fbytes / tf[3] / 1e9, 100 * fbytes / tf[3] / bw);
    printf("         backward %8.3f ms  %7.1f M Gaussians/s  %6.1f GB/s compulsory = %5.1f%% of copy bandwidth\n",
           1e3 * tb[3], m / tb[3] / 1e6, bbytes / tb[3] / 1e9, 100 * bbytes / tb[3] / bw);
    pl_buffer_free(&dv);
    ups_destroy(u);
  }
  pl_buffer_free(&dx);
  pl_buffer_free(&df);
  pl_buffer_free(&dvx);
  free(x);
  free(f);
  return 0;
}
