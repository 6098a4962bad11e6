/* sh_turn.c: SH coefficients turned into world axes (see sh_turn.h). */
#include "pipeline/engine/sh_turn.h"

#include <math.h>
#include <string.h>

#include "raster/raster_kernels.h"

#define SH_TURN_DIRS 24 /* sample directions: more than the 7 coefficients of band 3, spread over the sphere */

/* Fibonacci-lattice direction s of SH_TURN_DIRS. */
static void sample_dir(int s, double d[3]) {
  const double z = 1 - 2 * (s + 0.5) / SH_TURN_DIRS, r = sqrt(1 - z * z), ph = 2.399963229728653 * s;
  d[0] = r * cos(ph), d[1] = r * sin(ph), d[2] = z;
}

/* Solve the n x n system a x = b in place (Gaussian elimination with partial pivoting); 0 when singular. */
static int solve(int n, double a[7][7], double b[7]) {
  for (int c = 0; c < n; ++c) {
    int p = c;
    for (int r = c + 1; r < n; ++r)
      if (fabs(a[r][c]) > fabs(a[p][c])) p = r;
    if (fabs(a[p][c]) < 1e-12) return 0;
    for (int k = 0; k < n; ++k) {
      double t = a[c][k];
      a[c][k] = a[p][k], a[p][k] = t;
    }
    double t = b[c];
    b[c] = b[p], b[p] = t;
    for (int r = c + 1; r < n; ++r) {
      double f = a[r][c] / a[c][c];
      for (int k = c; k < n; ++k) a[r][k] -= f * a[c][k];
      b[r] -= f * b[c];
    }
  }
  for (int c = n - 1; c >= 0; --c) {
    for (int k = c + 1; k < n; ++k) b[c] -= a[c][k] * b[k];
    b[c] /= a[c][c];
  }
  return 1;
}

pl_status pl_sh_turn_to_world(int degree, int64_t n, const real *frames, real *sh) {
  if (degree < 0 || degree > 3) return pl_fail(PL_ERR_INVALID, "SH turn: degree %d (0..3)", degree);
  if (degree == 0) return PL_OK; /* the degree-0 term looks the same from everywhere */
  const int K = (degree + 1) * (degree + 1);
  double basis[SH_TURN_DIRS][RASTER_SH_MAX_COEFFS], dirs[SH_TURN_DIRS][3];
  for (int s = 0; s < SH_TURN_DIRS; ++s) {
    real b[RASTER_SH_MAX_COEFFS];
    sample_dir(s, dirs[s]);
    raster_sh_basis(degree, v3_make((real)dirs[s][0], (real)dirs[s][1], (real)dirs[s][2]), b);
    for (int k = 0; k < K; ++k) basis[s][k] = b[k];
  }
  for (int64_t g = 0; g < n; ++g) {
    const real *q = frames + 9 * g;
    double turned[SH_TURN_DIRS][RASTER_SH_MAX_COEFFS]; /* b_k(Q^T d_s) */
    for (int s = 0; s < SH_TURN_DIRS; ++s) {
      real b[RASTER_SH_MAX_COEFFS], d0[3];
      for (int j = 0; j < 3; ++j) d0[j] = (real)(q[j] * dirs[s][0] + q[3 + j] * dirs[s][1] + q[6 + j] * dirs[s][2]);
      raster_sh_basis(degree, v3_make(d0[0], d0[1], d0[2]), b);
      for (int k = 0; k < K; ++k) turned[s][k] = b[k];
    }
    real *f = sh + (size_t)3 * K * g;
    for (int l = 1; l <= degree; ++l) {
      const int k0 = l * l, w = 2 * l + 1;
      for (int c = 0; c < 3; ++c) { /* normal equations A^T A f' = A^T A' f on the band's columns */
        double ata[7][7], rhs[7];
        for (int i = 0; i < w; ++i) {
          rhs[i] = 0;
          for (int j = 0; j < w; ++j) ata[i][j] = 0;
          for (int s = 0; s < SH_TURN_DIRS; ++s) {
            double val = 0;
            for (int j = 0; j < w; ++j) val += turned[s][k0 + j] * (double)f[3 * (k0 + j) + c];
            rhs[i] += basis[s][k0 + i] * val;
            for (int j = 0; j < w; ++j) ata[i][j] += basis[s][k0 + i] * basis[s][k0 + j];
          }
        }
        if (!solve(w, ata, rhs)) return pl_fail(PL_ERR_INTERNAL, "SH turn: singular band %d", l);
        for (int i = 0; i < w; ++i) f[3 * (k0 + i) + c] = (real)rhs[i];
      }
    }
  }
  return PL_OK;
}
