/* linalg.h: 3-vectors and 3x3 matrices for both backends (HD), with the adjoint (_vjp) of every
 * non-trivial differentiable function beside it.
 *
 * Conventions
 *   v3 {x,y,z}; m3 m[row][col]. Functions take and return values (small structs, no aliasing worries).
 *   A `_vjp` function takes the forward inputs (and outputs where useful) plus the cotangent of the outputs
 *   (`v_` prefix) and ACCUMULATES (+=) into the cotangents of the inputs.
 *   Names are v3_/m3_ so that this header can sit next to cglm (whose vec3/mat3 are arrays) in host code.
 *
 * Derivations of the polar and SVD adjoints: docs/adjoints.md, section "Core linear algebra".
 */
#ifndef PL_LINALG_H
#define PL_LINALG_H

#include "core/hd.h"

typedef struct {
  real x, y, z;
} v3;

typedef struct {
  real m[3][3];
} m3;

/* ---------------------------------------------------------------- vectors */

HD v3 v3_make(real x, real y, real z) {
  v3 r;
  r.x = x;
  r.y = y;
  r.z = z;
  return r;
}
HD v3 v3_zero(void) { return v3_make(0, 0, 0); }
HD v3 v3_splat(real s) { return v3_make(s, s, s); }
HD v3 v3_load(const real *p) { return v3_make(p[0], p[1], p[2]); }
HD void v3_store(v3 a, real *p) {
  p[0] = a.x;
  p[1] = a.y;
  p[2] = a.z;
}
HD real v3_get(v3 a, int i) { return i == 0 ? a.x : (i == 1 ? a.y : a.z); }
HD void v3_set(v3 *a, int i, real s) {
  if (i == 0)
    a->x = s;
  else if (i == 1)
    a->y = s;
  else
    a->z = s;
}
HD v3 v3_add(v3 a, v3 b) { return v3_make(a.x + b.x, a.y + b.y, a.z + b.z); }
HD v3 v3_sub(v3 a, v3 b) { return v3_make(a.x - b.x, a.y - b.y, a.z - b.z); }
HD v3 v3_neg(v3 a) { return v3_make(-a.x, -a.y, -a.z); }
HD v3 v3_scale(v3 a, real s) { return v3_make(a.x * s, a.y * s, a.z * s); }
HD v3 v3_mul(v3 a, v3 b) { return v3_make(a.x * b.x, a.y * b.y, a.z * b.z); }
/* a + s*b */
HD v3 v3_axpy(v3 a, real s, v3 b) { return v3_make(a.x + s * b.x, a.y + s * b.y, a.z + s * b.z); }
HD real v3_dot(v3 a, v3 b) { return a.x * b.x + a.y * b.y + a.z * b.z; }
HD v3 v3_cross(v3 a, v3 b) {
  return v3_make(a.y * b.z - a.z * b.y, a.z * b.x - a.x * b.z, a.x * b.y - a.y * b.x);
}
HD real v3_norm2(v3 a) { return v3_dot(a, a); }
HD real v3_norm(v3 a) { return r_sqrt(v3_dot(a, a)); }
HD real v3_max_abs(v3 a) { return r_fmax(r_fabs(a.x), r_fmax(r_fabs(a.y), r_fabs(a.z))); }
HD int v3_isfinite(v3 a) { return r_isfinite(a.x) && r_isfinite(a.y) && r_isfinite(a.z); }
HD void v3_accum(v3 *acc, v3 a) {
  acc->x += a.x;
  acc->y += a.y;
  acc->z += a.z;
}

/* cross product adjoint: c = a x b */
HD void v3_cross_vjp(v3 a, v3 b, v3 v_c, v3 *v_a, v3 *v_b) {
  v3_accum(v_a, v3_cross(b, v_c));
  v3_accum(v_b, v3_cross(v_c, a));
}

/* n = a / |a|; |a| must be > 0 (callers guard). */
HD v3 v3_normalize(v3 a) { return v3_scale(a, RC(1.0) / v3_norm(a)); }
HD void v3_normalize_vjp(v3 a, v3 v_n, v3 *v_a) {
  real inv = RC(1.0) / v3_norm(a);
  v3 n = v3_scale(a, inv);
  v3_accum(v_a, v3_scale(v3_axpy(v_n, -v3_dot(n, v_n), n), inv));
}

/* |a| adjoint */
HD void v3_norm_vjp(v3 a, real v_len, v3 *v_a) {
  real len = v3_norm(a);
  if (len > 0) v3_accum(v_a, v3_scale(a, v_len / len));
}

/* ---------------------------------------------------------------- matrices */

HD m3 m3_zero(void) {
  m3 r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r.m[i][j] = 0;
  return r;
}
HD m3 m3_identity(void) {
  m3 r = m3_zero();
  r.m[0][0] = r.m[1][1] = r.m[2][2] = 1;
  return r;
}
HD m3 m3_scalar(real s) {
  m3 r = m3_zero();
  r.m[0][0] = r.m[1][1] = r.m[2][2] = s;
  return r;
}
HD m3 m3_diag(v3 d) {
  m3 r = m3_zero();
  r.m[0][0] = d.x;
  r.m[1][1] = d.y;
  r.m[2][2] = d.z;
  return r;
}
HD m3 m3_make(real a00, real a01, real a02, real a10, real a11, real a12, real a20, real a21, real a22) {
  m3 r;
  r.m[0][0] = a00; r.m[0][1] = a01; r.m[0][2] = a02;
  r.m[1][0] = a10; r.m[1][1] = a11; r.m[1][2] = a12;
  r.m[2][0] = a20; r.m[2][1] = a21; r.m[2][2] = a22;
  return r;
}
/* row-major load/store of 9 reals */
HD m3 m3_load(const real *p) {
  m3 r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r.m[i][j] = p[3 * i + j];
  return r;
}
HD void m3_store(m3 a, real *p) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) p[3 * i + j] = a.m[i][j];
}
HD m3 m3_from_cols(v3 c0, v3 c1, v3 c2) {
  return m3_make(c0.x, c1.x, c2.x, c0.y, c1.y, c2.y, c0.z, c1.z, c2.z);
}
HD m3 m3_from_rows(v3 r0, v3 r1, v3 r2) {
  return m3_make(r0.x, r0.y, r0.z, r1.x, r1.y, r1.z, r2.x, r2.y, r2.z);
}
HD v3 m3_col(m3 a, int j) { return v3_make(a.m[0][j], a.m[1][j], a.m[2][j]); }
HD v3 m3_row(m3 a, int i) { return v3_make(a.m[i][0], a.m[i][1], a.m[i][2]); }
HD void m3_set_col(m3 *a, int j, v3 c) {
  a->m[0][j] = c.x;
  a->m[1][j] = c.y;
  a->m[2][j] = c.z;
}
HD m3 m3_add(m3 a, m3 b) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) a.m[i][j] += b.m[i][j];
  return a;
}
HD m3 m3_sub(m3 a, m3 b) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) a.m[i][j] -= b.m[i][j];
  return a;
}
HD m3 m3_scale(m3 a, real s) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) a.m[i][j] *= s;
  return a;
}
/* a + s*b */
HD m3 m3_axpy(m3 a, real s, m3 b) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) a.m[i][j] += s * b.m[i][j];
  return a;
}
HD void m3_accum(m3 *acc, m3 a) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) acc->m[i][j] += a.m[i][j];
}
HD m3 m3_transpose(m3 a) {
  m3 r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r.m[i][j] = a.m[j][i];
  return r;
}
HD m3 m3_sym(m3 a) { return m3_scale(m3_add(a, m3_transpose(a)), RC(0.5)); }
HD m3 m3_mul(m3 a, m3 b) {
  m3 r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r.m[i][j] = a.m[i][0] * b.m[0][j] + a.m[i][1] * b.m[1][j] + a.m[i][2] * b.m[2][j];
  return r;
}
/* a^T b */
HD m3 m3_mul_at(m3 a, m3 b) {
  m3 r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r.m[i][j] = a.m[0][i] * b.m[0][j] + a.m[1][i] * b.m[1][j] + a.m[2][i] * b.m[2][j];
  return r;
}
/* a b^T */
HD m3 m3_mul_bt(m3 a, m3 b) {
  m3 r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) r.m[i][j] = a.m[i][0] * b.m[j][0] + a.m[i][1] * b.m[j][1] + a.m[i][2] * b.m[j][2];
  return r;
}
/* C = A B adjoint: v_A += v_C B^T, v_B += A^T v_C */
HD void m3_mul_vjp(m3 a, m3 b, m3 v_c, m3 *v_a, m3 *v_b) {
  if (v_a) m3_accum(v_a, m3_mul_bt(v_c, b));
  if (v_b) m3_accum(v_b, m3_mul_at(a, v_c));
}
HD v3 m3_mul_v(m3 a, v3 v) {
  return v3_make(a.m[0][0] * v.x + a.m[0][1] * v.y + a.m[0][2] * v.z,
                 a.m[1][0] * v.x + a.m[1][1] * v.y + a.m[1][2] * v.z,
                 a.m[2][0] * v.x + a.m[2][1] * v.y + a.m[2][2] * v.z);
}
/* a^T v */
HD v3 m3_tmul_v(m3 a, v3 v) {
  return v3_make(a.m[0][0] * v.x + a.m[1][0] * v.y + a.m[2][0] * v.z,
                 a.m[0][1] * v.x + a.m[1][1] * v.y + a.m[2][1] * v.z,
                 a.m[0][2] * v.x + a.m[1][2] * v.y + a.m[2][2] * v.z);
}
/* y = A v adjoint */
HD m3 m3_outer(v3 a, v3 b) {
  return m3_make(a.x * b.x, a.x * b.y, a.x * b.z, a.y * b.x, a.y * b.y, a.y * b.z, a.z * b.x, a.z * b.y, a.z * b.z);
}
HD void m3_mul_v_vjp(m3 a, v3 v, v3 v_y, m3 *v_a, v3 *v_v) {
  if (v_a) m3_accum(v_a, m3_outer(v_y, v));
  if (v_v) v3_accum(v_v, m3_tmul_v(a, v_y));
}
HD real m3_trace(m3 a) { return a.m[0][0] + a.m[1][1] + a.m[2][2]; }
/* Frobenius inner product <a, b> = sum_ij a_ij b_ij */
HD real m3_ddot(m3 a, m3 b) {
  real s = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) s += a.m[i][j] * b.m[i][j];
  return s;
}
HD real m3_frob(m3 a) { return r_sqrt(m3_ddot(a, a)); }
HD real m3_max_abs(m3 a) {
  real s = 0;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) s = r_fmax(s, r_fabs(a.m[i][j]));
  return s;
}
HD int m3_isfinite(m3 a) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      if (!r_isfinite(a.m[i][j])) return 0;
  return 1;
}
/* [w]x : the skew matrix with [w]x v = w x v */
HD m3 m3_skew(v3 w) { return m3_make(0, -w.z, w.y, w.z, 0, -w.x, -w.y, w.x, 0); }
/* axial(K) = (K21... ) chosen so that axial([w]x) = w and <[h]x, N> = h . axial(N - N^T) */
HD v3 m3_axial(m3 k) { return v3_make(k.m[2][1], k.m[0][2], k.m[1][0]); }

/* ---------------------------------------------------------------- determinant, cofactor, inverse */

HD real m3_det(m3 a) {
  return a.m[0][0] * (a.m[1][1] * a.m[2][2] - a.m[1][2] * a.m[2][1]) -
         a.m[0][1] * (a.m[1][0] * a.m[2][2] - a.m[1][2] * a.m[2][0]) +
         a.m[0][2] * (a.m[1][0] * a.m[2][1] - a.m[1][1] * a.m[2][0]);
}
/* cof(A) = det(A) A^-T, defined also for singular A: d det(A) / dA = cof(A) */
HD m3 m3_cofactor(m3 a) {
  m3 c;
  c.m[0][0] = a.m[1][1] * a.m[2][2] - a.m[1][2] * a.m[2][1];
  c.m[0][1] = a.m[1][2] * a.m[2][0] - a.m[1][0] * a.m[2][2];
  c.m[0][2] = a.m[1][0] * a.m[2][1] - a.m[1][1] * a.m[2][0];
  c.m[1][0] = a.m[0][2] * a.m[2][1] - a.m[0][1] * a.m[2][2];
  c.m[1][1] = a.m[0][0] * a.m[2][2] - a.m[0][2] * a.m[2][0];
  c.m[1][2] = a.m[0][1] * a.m[2][0] - a.m[0][0] * a.m[2][1];
  c.m[2][0] = a.m[0][1] * a.m[1][2] - a.m[0][2] * a.m[1][1];
  c.m[2][1] = a.m[0][2] * a.m[1][0] - a.m[0][0] * a.m[1][2];
  c.m[2][2] = a.m[0][0] * a.m[1][1] - a.m[0][1] * a.m[1][0];
  return c;
}
HD void m3_det_vjp(m3 a, real v_det, m3 *v_a) { m3_accum(v_a, m3_scale(m3_cofactor(a), v_det)); }

/* A^-1 = cof(A)^T / det(A). The caller checks det != 0 where it can be. */
HD m3 m3_inverse(m3 a) { return m3_scale(m3_transpose(m3_cofactor(a)), RC(1.0) / m3_det(a)); }
/* B = A^-1:  v_A += -B^T v_B B^T */
HD void m3_inverse_vjp(m3 a_inv, m3 v_inv, m3 *v_a) {
  m3_accum(v_a, m3_scale(m3_mul_bt(m3_mul_at(a_inv, v_inv), a_inv), RC(-1.0)));
}

/* Solve the symmetric 3x3 system S x = b (Cramer via cofactors). */
HD v3 m3_solve(m3 a, v3 b) { return m3_mul_v(m3_inverse(a), b); }

/* ---------------------------------------------------------------- SVD (rotation variant) */

/* F = U diag(sig) V^T with U, V proper rotations (det = +1), sig.x >= sig.y >= |sig.z|, and
 * sign(sig.z) = sign(det F): an inverted F gives a negative last singular value, which is what
 * elasticity wants (Irving et al. 2004, Stomakhin et al. 2012).
 *
 * Method: one-sided (Hestenes) Jacobi on the columns of F, which works on F itself and not on F^T F,
 * so small singular values keep full relative accuracy; then U from the orthogonal columns with
 * Gram-Schmidt and a cross product, which also handles rank-deficient F. At F = I (or any F with
 * orthogonal columns) no rotation is applied at all, and repeated singular values need no special case. */
HD void m3_svd(m3 f, m3 *u_out, v3 *sig_out, m3 *v_out) {
  m3 b = f;
  m3 v = m3_identity();
  const int pairs[3][2] = {{0, 1}, {0, 2}, {1, 2}};
  for (int sweep = 0; sweep < 30; ++sweep) {
    int rotated = 0;
    for (int k = 0; k < 3; ++k) {
      const int p = pairs[k][0], q = pairs[k][1];
      real alpha = 0, beta = 0, gamma = 0;
      for (int i = 0; i < 3; ++i) {
        alpha += b.m[i][p] * b.m[i][p];
        beta += b.m[i][q] * b.m[i][q];
        gamma += b.m[i][p] * b.m[i][q];
      }
      if (gamma == 0 || r_fabs(gamma) <= PL_REAL_EPS * r_sqrt(alpha * beta)) continue;
      rotated = 1;
      const real zeta = (beta - alpha) / (2 * gamma);
      const real t = (zeta >= 0 ? RC(1.0) : RC(-1.0)) / (r_fabs(zeta) + r_sqrt(1 + zeta * zeta));
      const real c = 1 / r_sqrt(1 + t * t), s = c * t;
      for (int i = 0; i < 3; ++i) {
        const real bp = b.m[i][p], bq = b.m[i][q];
        b.m[i][p] = c * bp - s * bq;
        b.m[i][q] = s * bp + c * bq;
        const real vp = v.m[i][p], vq = v.m[i][q];
        v.m[i][p] = c * vp - s * vq;
        v.m[i][q] = s * vp + c * vq;
      }
    }
    if (!rotated) break;
  }
  /* sort columns by norm, descending (a permutation of V's columns keeps F V = B) */
  real n[3];
  for (int j = 0; j < 3; ++j) n[j] = v3_norm(m3_col(b, j));
  for (int pass = 0; pass < 2; ++pass)
    for (int j = 0; j < 2 - pass; ++j)
      if (n[j] < n[j + 1]) {
        real tn = n[j];
        n[j] = n[j + 1];
        n[j + 1] = tn;
        for (int i = 0; i < 3; ++i) {
          real tb = b.m[i][j];
          b.m[i][j] = b.m[i][j + 1];
          b.m[i][j + 1] = tb;
          real tv = v.m[i][j];
          v.m[i][j] = v.m[i][j + 1];
          v.m[i][j + 1] = tv;
        }
      }
  /* V must be a proper rotation: flipping a column of V flips the same column of B */
  if (m3_det(v) < 0) {
    for (int i = 0; i < 3; ++i) {
      v.m[i][2] = -v.m[i][2];
      b.m[i][2] = -b.m[i][2];
    }
  }
  /* U: u0 = b0/|b0|, u1 = the part of b1 orthogonal to u0, u2 = u0 x u1 (so det U = +1) */
  const real tiny = PL_REAL_EPS * PL_REAL_EPS;
  v3 u0, u1;
  if (n[0] > tiny) {
    u0 = v3_scale(m3_col(b, 0), 1 / n[0]);
  } else {
    u0 = v3_make(1, 0, 0);
  }
  v3 b1 = m3_col(b, 1);
  b1 = v3_axpy(b1, -v3_dot(u0, b1), u0);
  real nb1 = v3_norm(b1);
  if (nb1 > PL_REAL_EPS * n[0] && nb1 > tiny) {
    u1 = v3_scale(b1, 1 / nb1);
  } else {
    /* any unit vector orthogonal to u0: cross with the axis least aligned with it */
    v3 axis = r_fabs(u0.x) < RC(0.57735) ? v3_make(1, 0, 0) : (r_fabs(u0.y) < RC(0.57735) ? v3_make(0, 1, 0) : v3_make(0, 0, 1));
    u1 = v3_normalize(v3_cross(u0, axis));
  }
  v3 u2 = v3_cross(u0, u1);
  /* the singular values as projections keep F = U S V^T exact to rounding; the last one is signed */
  sig_out->x = v3_dot(u0, m3_col(b, 0));
  sig_out->y = v3_dot(u1, m3_col(b, 1));
  sig_out->z = v3_dot(u2, m3_col(b, 2));
  *u_out = m3_from_cols(u0, u1, u2);
  *v_out = v;
}

/* Reconstruct U diag(s) V^T. */
HD m3 m3_usv(m3 u, v3 s, m3 v) { return m3_mul_bt(m3_mul(u, m3_diag(s)), v); }

/* Index of the unordered pair (i,j), i != j, in arrays of three: (0,1)->0, (0,2)->1, (1,2)->2. */
HD int m3_pair_index(int i, int j) { return i + j - 1; }

/* Relative threshold under which two singular values count as equal in divided differences:
 * cbrt(eps) balances the cancellation error (eps/t) against the midpoint-rule error (t^2). */
#ifdef PL_REAL_DOUBLE
#define PL_DIVDIFF_TOL RC(6.0e-6)
#else
#define PL_DIVDIFF_TOL RC(4.9e-3)
#endif

/* (fa - fb) / (a - b), replaced by the supplied derivative at the midpoint when a and b are close. */
HD real pl_divdiff(real fa, real fb, real a, real b, real dfmid) {
  real scale = r_fmax(RC(1.0), r_fmax(r_fabs(a), r_fabs(b)));
  if (r_fabs(a - b) <= PL_DIVDIFF_TOL * scale) return dfmid;
  return (fa - fb) / (a - b);
}
/* (fa + fb) / (a + b) with the denominator kept away from zero (a = -b only for inverted F). */
HD real pl_sumdiv(real fa, real fb, real a, real b) {
  real d = a + b;
  real floor_ = PL_REAL_EPS * r_fmax(RC(1.0), r_fmax(r_fabs(a), r_fabs(b)));
  if (r_fabs(d) < floor_) d = d < 0 ? -floor_ : floor_;
  return (fa + fb) / d;
}

/* Generic SVD adjoint: cotangents v_U, v_sig, v_V of F = U diag(sig) V^T give v_F (accumulated).
 * Off-diagonal terms are written with partial fractions 1/(s_j - s_i) and 1/(s_j + s_i) (docs/adjoints.md).
 * When two singular values coincide, U and V are not unique and the 1/(s_j - s_i) term is only finite
 * for cotangents that do not depend on that freedom; this function then drops the term (its value for
 * such cotangents is their limit, which the caller knows better). For functions of F built from its SVD use
 * m3_svd_func_vjp / m3_svd_symfunc_vjp, which are exact at repeated singular values. */
HD void m3_svd_vjp(m3 u, v3 sig, m3 v, m3 v_u, v3 v_sig, m3 v_v, m3 *v_f) {
  m3 ub = m3_mul_at(u, v_u); /* U^T v_U */
  m3 vb = m3_mul_at(v, v_v); /* V^T v_V */
  real s[3] = {sig.x, sig.y, sig.z};
  m3 vp = m3_diag(v_sig);
  for (int i = 0; i < 3; ++i)
    for (int j = i + 1; j < 3; ++j) {
      real a = ub.m[i][j] - ub.m[j][i];
      real b = vb.m[i][j] - vb.m[j][i];
      real scale = r_fmax(RC(1.0), r_fmax(r_fabs(s[i]), r_fabs(s[j])));
      real dif = s[j] - s[i];
      real inv_dif = r_fabs(dif) <= PL_DIVDIFF_TOL * scale ? RC(0.0) : RC(1.0) / dif;
      real inv_sum = pl_sumdiv(RC(1.0), RC(0.0), s[i], s[j]);
      real t1 = RC(0.5) * (a + b) * inv_dif, t2 = RC(0.5) * (a - b) * inv_sum;
      vp.m[i][j] += t1 + t2;
      vp.m[j][i] += t1 - t2;
    }
  m3_accum(v_f, m3_mul_bt(m3_mul(u, vp), v));
}

/* Adjoint of G(F) = U diag(g(sig)) V^T, an isotropic matrix function of F.
 *   jac   dg_i/dsig_k (row i, column k)
 *   dd[p] (g_i - g_j)/(s_i - s_j) for pair p = m3_pair_index(i,j), with its analytic limit when s_i = s_j
 *   sd[p] (g_i + g_j)/(s_i + s_j)
 * In the SVD basis (P = U^T dF V, Q = U^T dG V): Q_ii = sum_k jac_ik P_kk, and for i != j the symmetric part
 * of (P_ij, P_ji) scales by dd, the antisymmetric part by sd. The map is exact at repeated singular values. */
HD void m3_svd_func_vjp(m3 u, m3 v, m3 jac, const real dd[3], const real sd[3], m3 v_g, m3 *v_f) {
  m3 w = m3_mul(m3_mul_at(u, v_g), v); /* U^T v_G V */
  m3 vp = m3_zero();
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < 3; ++i) vp.m[k][k] += jac.m[i][k] * w.m[i][i];
  for (int i = 0; i < 3; ++i)
    for (int j = i + 1; j < 3; ++j) {
      int p = m3_pair_index(i, j);
      real hp = RC(0.5) * (dd[p] + sd[p]), hm = RC(0.5) * (dd[p] - sd[p]);
      vp.m[i][j] += hp * w.m[i][j] + hm * w.m[j][i];
      vp.m[j][i] += hm * w.m[i][j] + hp * w.m[j][i];
    }
  m3_accum(v_f, m3_mul_bt(m3_mul(u, vp), v));
}

/* Adjoint of T(F) = U diag(h(sig)) U^T (a symmetric isotropic function, e.g. the Hencky Kirchhoff stress).
 *   jac   dh_i/dsig_k;  dd[p] (h_i - h_j)/(s_i - s_j) with its analytic limit;  ed[p] (h_j - h_i)/(s_i + s_j)
 * In the SVD basis Q_ij = Q_ji = 1/2 [(P_ij + P_ji) dd + (P_ij - P_ji) ed]. */
HD void m3_svd_symfunc_vjp(m3 u, m3 v, m3 jac, const real dd[3], const real ed[3], m3 v_t, m3 *v_f) {
  m3 w = m3_mul(m3_mul_at(u, v_t), u); /* U^T v_T U */
  m3 vp = m3_zero();
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < 3; ++i) vp.m[k][k] += jac.m[i][k] * w.m[i][i];
  for (int i = 0; i < 3; ++i)
    for (int j = i + 1; j < 3; ++j) {
      int p = m3_pair_index(i, j);
      real ws = w.m[i][j] + w.m[j][i];
      vp.m[i][j] += RC(0.5) * ws * (dd[p] + ed[p]);
      vp.m[j][i] += RC(0.5) * ws * (dd[p] - ed[p]);
    }
  m3_accum(v_f, m3_mul_bt(m3_mul(u, vp), v));
}

/* ---------------------------------------------------------------- polar decomposition */

/* F = R S, R a proper rotation, S symmetric (positive definite unless F is inverted). */
HD void m3_polar(m3 f, m3 *r_out, m3 *s_out) {
  m3 u, v;
  v3 sig;
  m3_svd(f, &u, &sig, &v);
  *r_out = m3_mul_bt(u, v);
  *s_out = m3_mul_bt(m3_mul(v, m3_diag(sig)), v);
}

/* Adjoint of the polar decomposition. With S = R^T F, the S cotangent gives v_F += R v_S and adds F v_S^T
 * to v_R. For R: dR = R [w]x with (tr S I - S) w = axial(R^T dF - dF^T R), so
 * v_F += R [h]x,  h = (tr S I - S)^-1 axial(M - M^T),  M = R^T v_R.
 * (tr S I - S) has eigenvalues s_i + s_j: at rest it is 2I; it is singular only when s_i = -s_j. */
HD void m3_polar_vjp(m3 f, m3 r, m3 s, m3 v_r, m3 v_s, m3 *v_f) {
  m3 vr_total = m3_add(v_r, m3_mul_bt(f, v_s));
  m3_accum(v_f, m3_mul(r, v_s));
  m3 mm = m3_mul_at(r, vr_total);
  v3 g = m3_axial(m3_sub(mm, m3_transpose(mm)));
  m3 a = m3_sub(m3_scalar(m3_trace(s)), s);
  v3 h = m3_solve(a, g);
  m3_accum(v_f, m3_mul(r, m3_skew(h)));
}

#endif /* PL_LINALG_H */
