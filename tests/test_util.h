/* test_util.h: a minimal test harness and a finite-difference gradient checker (double precision).
 *
 *   CHECK(cond, fmt, ...)      records a failure (with file:line) and continues
 *   TEST_SKIP(fmt, ...)        exits 77 (CTest reports the test as skipped)
 *   test_vjp(...)              compares a _vjp against central differences of <v_out, f(x)>
 *   test_norm_err(...)         the normalised error of two arrays (max or 2-norm), the one such helper
 *   return test_summary("name") at the end of main. */
#ifndef PL_TEST_UTIL_H
#define PL_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hd.h"

static int g_test_failures = 0;
static int g_test_checks = 0;

#define CHECK(cond, ...)                                                          \
  do {                                                                            \
    ++g_test_checks;                                                              \
    if (!(cond)) {                                                                \
      fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);    \
      fprintf(stderr, __VA_ARGS__);                                               \
      fputc('\n', stderr);                                                        \
      ++g_test_failures;                                                          \
    }                                                                             \
  } while (0)

#define TEST_SKIP(...)                 \
  do {                                 \
    fprintf(stderr, "SKIP: ");         \
    fprintf(stderr, __VA_ARGS__);      \
    fputc('\n', stderr);               \
    exit(77);                          \
  } while (0)

static int test_summary(const char *name) {
  if (g_test_failures)
    fprintf(stderr, "%s: %d of %d checks FAILED\n", name, g_test_failures, g_test_checks);
  else
    fprintf(stderr, "%s: all %d checks passed\n", name, g_test_checks);
  return g_test_failures ? 1 : 0;
}

/* Normalised error of two arrays: ||a - b|| / max(||a||, ||b||, floor_), in the max norm (TEST_NORM_MAX) or the
 * 2-norm (TEST_NORM_L2), in double. A NaN or Inf in either array clears *finite (when given) and makes the result
 * INFINITY: a non-finite value never reads as a small error. a and b hold `real`s, or doubles with the _d twin. */
enum { TEST_NORM_MAX = 0, TEST_NORM_L2 = 1 };
static double test_norm_err_any(const void *a, const void *b, int doubles, size_t n, int norm, double floor_,
                                int *finite) {
  double num = 0, na = 0, nb = 0;
  int ok = 1;
  for (size_t i = 0; i < n; ++i) {
    const double x = doubles ? ((const double *)a)[i] : (double)((const real *)a)[i];
    const double y = doubles ? ((const double *)b)[i] : (double)((const real *)b)[i];
    if (!isfinite(x) || !isfinite(y)) {
      ok = 0;
      continue;
    }
    const double d = fabs(x - y);
    if (norm == TEST_NORM_L2) {
      num += d * d, na += x * x, nb += y * y;
    } else {
      num = fmax(num, d), na = fmax(na, fabs(x)), nb = fmax(nb, fabs(y));
    }
  }
  if (norm == TEST_NORM_L2) num = sqrt(num), na = sqrt(na), nb = sqrt(nb);
  if (!ok && finite) *finite = 0;
  return ok ? num / fmax(fmax(na, nb), floor_) : INFINITY;
}
static double test_norm_err(const real *a, const real *b, size_t n, int norm, double floor_, int *finite) {
  return test_norm_err_any(a, b, 0, n, norm, floor_, finite);
}
static double test_norm_err_d(const double *a, const double *b, size_t n, int norm, double floor_, int *finite) {
  return test_norm_err_any(a, b, 1, n, norm, floor_, finite);
}

/* deterministic uniform in [-1, 1) for test data (splitmix64) */
static uint64_t g_test_rng = 0x1234567ull;
static double test_rand(void) {
  uint64_t z = (g_test_rng += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (double)(z >> 11) * (2.0 / 9007199254740992.0) - 1.0;
}

typedef void (*test_fn)(const double *x, double *y, void *ctx);
/* accumulates v_x += J^T v_y */
typedef void (*test_vjp_fn)(const double *x, const double *v_y, double *v_x, void *ctx);

static double test_dot(const double *a, const double *b, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

/* Directional central difference of L(x) = <v_y, f(x)> along e_i, Richardson-extrapolated (O(h^4)). */
static double test_fd_component(test_fn f, void *ctx, const double *x, int n_in, int n_out, const double *v_y,
                                int i, double h) {
  double *xp = (double *)malloc(sizeof(double) * (size_t)n_in);
  double *y = (double *)malloc(sizeof(double) * (size_t)n_out);
  double d[2];
  for (int r = 0; r < 2; ++r) {
    double hh = r == 0 ? h : h / 2;
    memcpy(xp, x, sizeof(double) * (size_t)n_in);
    xp[i] = x[i] + hh;
    f(xp, y, ctx);
    double lp = test_dot(v_y, y, n_out);
    xp[i] = x[i] - hh;
    f(xp, y, ctx);
    double lm = test_dot(v_y, y, n_out);
    d[r] = (lp - lm) / (2 * hh);
  }
  free(xp);
  free(y);
  return (4 * d[1] - d[0]) / 3;
}

/* Compare the vjp with central differences for a random cotangent. Returns the relative error
 * ||g_vjp - g_fd|| / max(||g_vjp||, ||g_fd||, abs_floor). Also checks that the vjp accumulates. */
static double test_vjp_error(const char *name, test_fn f, test_vjp_fn vjp, void *ctx, const double *x, int n_in,
                             int n_out, double h, double abs_floor, int verbose) {
  double *v_y = (double *)malloc(sizeof(double) * (size_t)n_out);
  double *g = (double *)calloc((size_t)n_in, sizeof(double));
  double *g2 = (double *)calloc((size_t)n_in, sizeof(double));
  double *fd = (double *)malloc(sizeof(double) * (size_t)n_in);
  for (int k = 0; k < n_out; ++k) v_y[k] = test_rand();
  vjp(x, v_y, g, ctx);
  memcpy(g2, g, sizeof(double) * (size_t)n_in);
  vjp(x, v_y, g2, ctx); /* accumulation: g2 must be 2 g */
  double acc_err = 0;
  for (int i = 0; i < n_in; ++i) acc_err = fmax(acc_err, fabs(g2[i] - 2 * g[i]));
  for (int i = 0; i < n_in; ++i) {
    double hi = h * fmax(1.0, fabs(x[i]));
    fd[i] = test_fd_component(f, ctx, x, n_in, n_out, v_y, i, hi);
  }
  double num = 0, na = 0, nb = 0;
  for (int i = 0; i < n_in; ++i) {
    num += (g[i] - fd[i]) * (g[i] - fd[i]);
    na += g[i] * g[i];
    nb += fd[i] * fd[i];
  }
  double den = fmax(fmax(sqrt(na), sqrt(nb)), abs_floor);
  double err = sqrt(num) / den;
  if (acc_err > 1e-12 * fmax(1.0, sqrt(na))) {
    fprintf(stderr, "%s: the vjp does not accumulate (second call changed the result by %g)\n", name, acc_err);
    err = INFINITY;
  }
  if (verbose || !(err <= 1e-6)) {
    fprintf(stderr, "%-48s rel.err %.3e  |g| %.3e\n", name, err, sqrt(na));
    if (!(err <= 1e-6))
      for (int i = 0; i < n_in; ++i) fprintf(stderr, "   [%d] vjp % .10e  fd % .10e\n", i, g[i], fd[i]);
  }
  free(v_y);
  free(g);
  free(g2);
  free(fd);
  return err;
}

#endif
