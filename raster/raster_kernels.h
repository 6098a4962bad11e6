/* raster_kernels.h: every per-element formula of the Gaussian-splat rasterizer, once, for both backends.
 *
 * Each differentiable function has its `_vjp` twin beside it; a `_vjp` takes the forward inputs and the
 * cotangents of the outputs (`v_` prefix) and ACCUMULATES (+=) into the cotangents of the inputs.
 * raster_cpu.c and raster_cuda.cu only loop over Gaussians, tiles and pixels and call these functions.
 * Conventions (gsplat's; DESIGN.md section 4): OpenCV camera (+x right, +y down, +z forward), world->camera
 * view matrix, K in pixels, pixel (row i, column j) has its centre at (j + 0.5, i + 0.5).
 * Derivations: docs/adjoints.md, section "Rasterizer".
 *
 * Shapes in comments: [N, 3] etc. Symmetric 2x2 matrices are stored as 3 values (xx, xy, yy); their
 * cotangents are with respect to those 3 values (so the off-diagonal cotangent counts both xy and yx).
 * 3D covariances at the API are 6 values (xx, xy, xz, yy, yz, zz), same rule. */
#ifndef PL_RASTER_KERNELS_H
#define PL_RASTER_KERNELS_H

#include "core/hd.h"
#include "core/linalg.h"

/* ------------------------------------------------------------------ constants (one set, both backends) */

#define RASTER_TILE 16                          /* tiles are 16 x 16 pixels */
#define RASTER_TILE_PIXELS (RASTER_TILE * RASTER_TILE)
#define RASTER_NEAR_DEFAULT 0.01                /* cull z < near */
#define RASTER_FAR_DEFAULT 1e10                 /* cull z > far */
#define RASTER_EPS2D RC(0.3)                    /* screen-space blur added to the 2D covariance (px^2) */
#define RASTER_FOV_MARGIN RC(0.3)               /* J clamps x/z, y/z to the image edge + 0.3 tan(half fov) */
#define RASTER_ALPHA_MAX RC(0.99)               /* alpha = min(0.99, o exp(-sigma)) */
#define RASTER_ALPHA_MIN RC(0.00392156862745098) /* skip alpha < 1/255 */
#define RASTER_T_MIN RC(1e-4)                   /* stop before T would fall to <= 1e-4 */
#define RASTER_EXTEND RC(3.33)                  /* support: 3.33 sigma (tightened by opacity) */
#define RASTER_SIGMA_CUT RC(5.544450)           /* 0.5 * 3.33^2 */
#define RASTER_SH_MAX_DEGREE 3
#define RASTER_SH_MAX_COEFFS 16

/* Per-(camera, Gaussian) cotangent of the 2D splat: layout of the 10-value gradient records. */
enum {
  RG_MX = 0, /* mean2d.x */
  RG_MY,     /* mean2d.y */
  RG_CA,     /* conic xx */
  RG_CB,     /* conic xy */
  RG_CC,     /* conic yy */
  RG_OP,     /* effective opacity (opacity x compensation) */
  RG_Z,      /* camera-space depth of the mean */
  RG_R,      /* colour */
  RG_G,
  RG_B,
  RASTER_NGRAD
};

/* ------------------------------------------------------------------ camera */

typedef struct {
  m3 R;             /* world -> camera rotation */
  v3 t;             /* world -> camera translation */
  v3 eye;           /* camera centre in world coordinates, -R^T t */
  real fx, fy, cx, cy;
  real lim_x_pos, lim_x_neg, lim_y_pos, lim_y_neg; /* J clamps x/z to [-lim_x_neg, lim_x_pos] (same for y) */
  real near_plane, far_plane;
  real alpha_min;   /* splats and pixels with alpha below it are skipped (default 1/255) */
  real sigma_cut;   /* support of a splat: sigma = d^T conic d / 2 <= min(sigma_cut, ln(op / alpha_min)) */
  real t_min;       /* compositing stops before T would fall to <= t_min (default 1e-4) */
  int width, height, tiles_x, tiles_y;
  int64_t pix_offset;  /* first pixel of this camera in the packed output images */
  int64_t tile_offset; /* first tile of this camera in the global tile numbering */
} raster_cam;

/* Fill a kernel camera from host values (viewmat: row-major 4x4 world->camera; the last row is ignored). */
HD void raster_cam_init(raster_cam *k, int width, int height, double fx, double fy, double cx, double cy,
                        const double *viewmat, double near_plane, double far_plane) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) k->R.m[i][j] = (real)viewmat[4 * i + j];
  k->t = v3_make((real)viewmat[3], (real)viewmat[7], (real)viewmat[11]);
  k->eye = v3_neg(m3_tmul_v(k->R, k->t));
  k->fx = (real)fx;
  k->fy = (real)fy;
  k->cx = (real)cx;
  k->cy = (real)cy;
  const double tan_fovx = 0.5 * width / fx, tan_fovy = 0.5 * height / fy;
  k->lim_x_pos = (real)((width - cx) / fx + (double)RASTER_FOV_MARGIN * tan_fovx);
  k->lim_x_neg = (real)(cx / fx + (double)RASTER_FOV_MARGIN * tan_fovx);
  k->lim_y_pos = (real)((height - cy) / fy + (double)RASTER_FOV_MARGIN * tan_fovy);
  k->lim_y_neg = (real)(cy / fy + (double)RASTER_FOV_MARGIN * tan_fovy);
  k->near_plane = (real)near_plane;
  k->far_plane = (real)far_plane;
  k->alpha_min = RASTER_ALPHA_MIN;
  k->sigma_cut = RASTER_SIGMA_CUT;
  k->t_min = RASTER_T_MIN;
  k->width = width;
  k->height = height;
  k->tiles_x = (width + RASTER_TILE - 1) / RASTER_TILE;
  k->tiles_y = (height + RASTER_TILE - 1) / RASTER_TILE;
  k->pix_offset = 0;
  k->tile_offset = 0;
}

/* Other cut-offs than gsplat's (alpha_min 1/255, t_min 1e-4); 0 keeps a default. The support becomes
 * sigma <= ln(1 / alpha_min), where alpha_min makes an opaque splat vanish. Small values (e.g. 1e-10, 1e-12) make
 * the image a smooth function of the Gaussians, for finite-difference checks (docs/rasterizer.md). */
HD void raster_cam_set_cutoffs(raster_cam *k, double alpha_min, double t_min) {
  if (alpha_min > 0) {
    k->alpha_min = (real)alpha_min;
    k->sigma_cut = alpha_min == (double)RASTER_ALPHA_MIN ? RASTER_SIGMA_CUT : (real)log(1.0 / alpha_min);
  }
  if (t_min > 0) k->t_min = (real)t_min;
}

/* The camera owning global tile t (each camera's tiles are consecutive; binary search). */
HD int raster_camera_of_tile(const raster_cam *cams, int ncams, int64_t t) {
  int lo = 0, hi = ncams - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (cams[mid].tile_offset <= t)
      lo = mid;
    else
      hi = mid - 1;
  }
  return lo;
}

/* ------------------------------------------------------------------ 3D covariance */

/* [6] (xx, xy, xz, yy, yz, zz) -> symmetric m3 */
HD m3 raster_cov6_to_m3(const real *c) {
  return m3_make(c[0], c[1], c[2], c[1], c[3], c[4], c[2], c[4], c[5]);
}
/* cotangent of the full matrix -> cotangent of the 6 values (accumulates) */
HD void raster_cov6_vjp(m3 v_m, real *v_c) {
  v_c[0] += v_m.m[0][0];
  v_c[1] += v_m.m[0][1] + v_m.m[1][0];
  v_c[2] += v_m.m[0][2] + v_m.m[2][0];
  v_c[3] += v_m.m[1][1];
  v_c[4] += v_m.m[1][2] + v_m.m[2][1];
  v_c[5] += v_m.m[2][2];
}

/* Rotation of a unit quaternion (w, x, y, z). */
HD m3 raster_quat_unit_to_rotmat(real w, real x, real y, real z) {
  return m3_make(1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
                 2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
                 2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y));
}
HD void raster_quat_unit_to_rotmat_vjp(real w, real x, real y, real z, m3 g, real v_q[4]) {
  v_q[0] += 2 * (-z * g.m[0][1] + y * g.m[0][2] + z * g.m[1][0] - x * g.m[1][2] - y * g.m[2][0] + x * g.m[2][1]);
  v_q[1] += 2 * (y * g.m[0][1] + z * g.m[0][2] + y * g.m[1][0] - 2 * x * g.m[1][1] - w * g.m[1][2] + z * g.m[2][0] +
                 w * g.m[2][1] - 2 * x * g.m[2][2]);
  v_q[2] += 2 * (-2 * y * g.m[0][0] + x * g.m[0][1] + w * g.m[0][2] + x * g.m[1][0] + z * g.m[1][2] - w * g.m[2][0] +
                 z * g.m[2][1] - 2 * y * g.m[2][2]);
  v_q[3] += 2 * (-2 * z * g.m[0][0] - w * g.m[0][1] + x * g.m[0][2] + w * g.m[1][0] - 2 * z * g.m[1][1] +
                 y * g.m[1][2] + x * g.m[2][0] + y * g.m[2][1]);
}

/* q (any non-zero length) -> unit quaternion; returns the length. */
HD real raster_quat_normalize(const real *q, real u[4]) {
  real n = r_sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  real inv = RC(1.0) / n;
  for (int i = 0; i < 4; ++i) u[i] = q[i] * inv;
  return n;
}

/* Sigma = R(q) diag(s)^2 R(q)^T, q = (w, x, y, z) normalised inside. */
HD m3 raster_quat_scale_to_cov(const real *q, const real *s) {
  real u[4];
  raster_quat_normalize(q, u);
  m3 r = raster_quat_unit_to_rotmat(u[0], u[1], u[2], u[3]);
  m3 m = m3_mul(r, m3_diag(v3_make(s[0], s[1], s[2])));
  return m3_mul_bt(m, m);
}
/* v_cov: cotangent of the full 3x3 matrix. */
HD void raster_quat_scale_to_cov_vjp(const real *q, const real *s, m3 v_cov, real *v_q, real *v_s) {
  real u[4];
  real n = raster_quat_normalize(q, u);
  m3 r = raster_quat_unit_to_rotmat(u[0], u[1], u[2], u[3]);
  m3 m = m3_mul(r, m3_diag(v3_make(s[0], s[1], s[2])));
  /* Sigma = M M^T: v_M = (G + G^T) M */
  m3 v_m = m3_mul(m3_add(v_cov, m3_transpose(v_cov)), m);
  real sv[3] = {s[0], s[1], s[2]};
  m3 v_r;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) v_r.m[i][j] = v_m.m[i][j] * sv[j];
  for (int j = 0; j < 3; ++j) {
    real acc = 0;
    for (int i = 0; i < 3; ++i) acc += v_m.m[i][j] * r.m[i][j];
    v_s[j] += acc;
  }
  real v_u[4] = {0, 0, 0, 0};
  raster_quat_unit_to_rotmat_vjp(u[0], u[1], u[2], u[3], v_r, v_u);
  /* u = q/|q|: v_q = (v_u - u (u . v_u)) / |q| */
  real d = u[0] * v_u[0] + u[1] * v_u[1] + u[2] * v_u[2] + u[3] * v_u[3];
  for (int i = 0; i < 4; ++i) v_q[i] += (v_u[i] - u[i] * d) / n;
}

/* ------------------------------------------------------------------ world -> camera */

HD v3 raster_point_to_cam(const raster_cam *c, v3 mu) { return v3_add(m3_mul_v(c->R, mu), c->t); }
HD void raster_point_to_cam_vjp(const raster_cam *c, v3 v_p, v3 *v_mu) { v3_accum(v_mu, m3_tmul_v(c->R, v_p)); }

/* Sigma_c = R Sigma R^T */
HD m3 raster_cov_to_cam(const raster_cam *c, m3 cov) { return m3_mul_bt(m3_mul(c->R, cov), c->R); }
HD void raster_cov_to_cam_vjp(const raster_cam *c, m3 v_covc, m3 *v_cov) {
  m3_accum(v_cov, m3_mul(m3_mul_at(c->R, v_covc), c->R));
}

/* ------------------------------------------------------------------ perspective projection (EWA) */

/* Mean: mean2d = (fx x/z + cx, fy y/z + cy), unclamped. Covariance: cov2d = J Sigma_c J^T with the
 * Jacobian of the projection at the mean, x/z and y/z clamped to the (enlarged) field of view:
 *   J = [fx/z, 0, -fx u/z; 0, fy/z, -fy v/z],  u = clamp(x/z, -lim_x_neg, lim_x_pos), v likewise.
 * Requires p.z > 0 (the caller culls z < near). */
HD void raster_persp_jacobian(const raster_cam *c, v3 p, real j[2][3]) {
  real rz = RC(1.0) / p.z;
  real u = r_clamp(p.x * rz, -c->lim_x_neg, c->lim_x_pos);
  real v = r_clamp(p.y * rz, -c->lim_y_neg, c->lim_y_pos);
  j[0][0] = c->fx * rz;
  j[0][1] = 0;
  j[0][2] = -c->fx * u * rz;
  j[1][0] = 0;
  j[1][1] = c->fy * rz;
  j[1][2] = -c->fy * v * rz;
}

HD void raster_persp_proj(const raster_cam *c, v3 p, m3 covc, real mean2d[2], real cov2d[3]) {
  real rz = RC(1.0) / p.z;
  mean2d[0] = c->fx * p.x * rz + c->cx;
  mean2d[1] = c->fy * p.y * rz + c->cy;
  real j[2][3];
  raster_persp_jacobian(c, p, j);
  real t[2][3]; /* J Sigma_c */
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b) t[a][b] = j[a][0] * covc.m[0][b] + j[a][1] * covc.m[1][b] + j[a][2] * covc.m[2][b];
  cov2d[0] = t[0][0] * j[0][0] + t[0][1] * j[0][1] + t[0][2] * j[0][2];
  cov2d[1] = t[0][0] * j[1][0] + t[0][1] * j[1][1] + t[0][2] * j[1][2];
  cov2d[2] = t[1][0] * j[1][0] + t[1][1] * j[1][1] + t[1][2] * j[1][2];
}

/* The cotangent of the projection's Jacobian J from the 2x2 cotangent G of cov2d = J Sigma_c J^T:
 * v_J = G J Sigma_c^T + G^T J Sigma_c = G J (Sigma_c + Sigma_c^T) (G symmetric). Shared by the point / covariance
 * and the camera adjoints. */
HD void raster_persp_v_jacobian(real j[2][3], real g[2][2], m3 covc, real vj[2][3]) {
  m3 ss = m3_add(covc, m3_transpose(covc));
  real gj[2][3];
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b) gj[a][b] = g[a][0] * j[0][b] + g[a][1] * j[1][b];
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b) vj[a][b] = gj[a][0] * ss.m[0][b] + gj[a][1] * ss.m[1][b] + gj[a][2] * ss.m[2][b];
}

HD void raster_persp_proj_vjp(const raster_cam *c, v3 p, m3 covc, const real v_mean2d[2], const real v_cov2d[3],
                              v3 *v_p, m3 *v_covc) {
  real rz = RC(1.0) / p.z, rz2 = rz * rz;
  real j[2][3];
  raster_persp_jacobian(c, p, j);
  /* the 2x2 cotangent as a matrix: the off-diagonal value appears twice */
  real g[2][2] = {{v_cov2d[0], RC(0.5) * v_cov2d[1]}, {RC(0.5) * v_cov2d[1], v_cov2d[2]}};
  /* v_Sigma_c = J^T G J */
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      real s = 0;
      for (int k = 0; k < 2; ++k)
        for (int l = 0; l < 2; ++l) s += j[k][a] * g[k][l] * j[l][b];
      v_covc->m[a][b] += s;
    }
  /* v_J = G J Sigma_c^T + G^T J Sigma_c = G J (Sigma_c + Sigma_c^T) */
  real vj[2][3];
  raster_persp_v_jacobian(j, g, covc, vj);
  /* J(p): J00 = fx/z, J11 = fy/z, J02 = -fx u/z, J12 = -fy v/z (u, v clamped: no x, y dependence there) */
  real ux = p.x * rz, vy = p.y * rz;
  int x_in = ux >= -c->lim_x_neg && ux <= c->lim_x_pos;
  int y_in = vy >= -c->lim_y_neg && vy <= c->lim_y_pos;
  real u = r_clamp(ux, -c->lim_x_neg, c->lim_x_pos), v = r_clamp(vy, -c->lim_y_neg, c->lim_y_pos);
  real gx = 0, gy = 0, gz = 0;
  gz += -c->fx * rz2 * vj[0][0] - c->fy * rz2 * vj[1][1];
  if (x_in) { /* J02 = -fx x / z^2 */
    gx += -c->fx * rz2 * vj[0][2];
    gz += 2 * c->fx * p.x * rz2 * rz * vj[0][2];
  } else { /* J02 = -fx u / z */
    gz += c->fx * u * rz2 * vj[0][2];
  }
  if (y_in) {
    gy += -c->fy * rz2 * vj[1][2];
    gz += 2 * c->fy * p.y * rz2 * rz * vj[1][2];
  } else {
    gz += c->fy * v * rz2 * vj[1][2];
  }
  /* mean2d */
  gx += c->fx * rz * v_mean2d[0];
  gy += c->fy * rz * v_mean2d[1];
  gz += -c->fx * p.x * rz2 * v_mean2d[0] - c->fy * p.y * rz2 * v_mean2d[1];
  v_p->x += gx;
  v_p->y += gy;
  v_p->z += gz;
}

/* ------------------------------------------------------------------ 2D covariance -> conic, compensation */

/* conic = (cov2d + eps2d I)^-1, computed on a scaled copy so that huge covariances do not overflow.
 * compensation = sqrt(max(0, det(cov2d) / det(cov2d + eps2d I))) when antialiased, else 1.
 * Returns 0 (and leaves the outputs unset) when the blurred matrix is not positive definite or not finite. */
HD int raster_conic(const real cov2d[3], int antialiased, real conic[3], real *comp) {
  real b00 = cov2d[0] + RASTER_EPS2D, b01 = cov2d[1], b11 = cov2d[2] + RASTER_EPS2D;
  if (!(b00 > 0 && b11 > 0) || !r_isfinite(b00) || !r_isfinite(b11) || !r_isfinite(b01)) return 0;
  real s = r_fmax(b00, b11);
  real n00 = b00 / s, n01 = b01 / s, n11 = b11 / s;
  real detn = n00 * n11 - n01 * n01;
  if (!(detn > 0)) return 0;
  real inv = RC(1.0) / (detn * s);
  conic[0] = n11 * inv;
  conic[1] = -n01 * inv;
  conic[2] = n00 * inv;
  if (antialiased) {
    real o00 = cov2d[0] / s, o11 = cov2d[2] / s;
    real ratio = (o00 * o11 - n01 * n01) / detn;
    *comp = ratio > 0 ? r_sqrt(ratio) : RC(0.0);
  } else {
    *comp = RC(1.0);
  }
  return 1;
}

/* Cotangents of conic (3 values) and compensation -> cotangent of cov2d (3 values). Call only where
 * raster_conic returned 1. */
HD void raster_conic_vjp(const real cov2d[3], int antialiased, const real conic[3], real comp, const real v_conic[3],
                         real v_comp, real v_cov2d[3]) {
  /* d(Q) = -Q dB Q with G = [v_a, v_b/2; v_b/2, v_c]: M = -Q G Q; v_B00 = M00, v_B01 = 2 M01, v_B11 = M11 */
  real q00 = conic[0], q01 = conic[1], q11 = conic[2];
  real g00 = v_conic[0], g01 = RC(0.5) * v_conic[1], g11 = v_conic[2];
  real t00 = q00 * g00 + q01 * g01, t01 = q00 * g01 + q01 * g11; /* Q G */
  real t10 = q01 * g00 + q11 * g01, t11 = q01 * g01 + q11 * g11;
  real m00 = -(t00 * q00 + t01 * q01), m01 = -(t00 * q01 + t01 * q11), m11 = -(t10 * q01 + t11 * q11);
  v_cov2d[0] += m00;
  v_cov2d[1] += 2 * m01;
  v_cov2d[2] += m11;
  if (antialiased && comp > 0 && v_comp != 0) {
    /* comp = sqrt(r), r = det0 / detb; d comp = dr / (2 comp) */
    real a = cov2d[0], b = cov2d[1], c = cov2d[2];
    real ab = a + RASTER_EPS2D, cb = c + RASTER_EPS2D;
    real det0 = a * c - b * b, detb = ab * cb - b * b;
    real v_r = v_comp / (2 * comp);
    real v_det0 = v_r / detb, v_detb = -v_r * det0 / (detb * detb);
    v_cov2d[0] += v_det0 * c + v_detb * cb;
    v_cov2d[1] += -2 * b * (v_det0 + v_detb);
    v_cov2d[2] += v_det0 * a + v_detb * ab;
  }
}

/* ------------------------------------------------------------------ spherical harmonics (3DGS convention) */

#define RASTER_SH_C0 RC(0.28209479177387814)
#define RASTER_SH_C1 RC(0.4886025119029199)

HD int raster_sh_coeffs(int degree) { return (degree + 1) * (degree + 1); }

/* Real SH basis at a unit direction d, up to `degree` (0..3), in the 3DGS ordering and signs. */
HD void raster_sh_basis(int degree, v3 d, real b[RASTER_SH_MAX_COEFFS]) {
  const real x = d.x, y = d.y, z = d.z;
  b[0] = RASTER_SH_C0;
  if (degree < 1) return;
  b[1] = -RASTER_SH_C1 * y;
  b[2] = RASTER_SH_C1 * z;
  b[3] = -RASTER_SH_C1 * x;
  if (degree < 2) return;
  const real xx = x * x, yy = y * y, zz = z * z;
  b[4] = RC(1.0925484305920792) * x * y;
  b[5] = RC(-1.0925484305920792) * y * z;
  b[6] = RC(0.31539156525252005) * (2 * zz - xx - yy);
  b[7] = RC(-1.0925484305920792) * x * z;
  b[8] = RC(0.5462742152960396) * (xx - yy);
  if (degree < 3) return;
  b[9] = RC(-0.5900435899266435) * y * (3 * xx - yy);
  b[10] = RC(2.890611442640554) * x * y * z;
  b[11] = RC(-0.4570457994644658) * y * (4 * zz - xx - yy);
  b[12] = RC(0.3731763325901154) * z * (2 * zz - 3 * xx - 3 * yy);
  b[13] = RC(-0.4570457994644658) * x * (4 * zz - xx - yy);
  b[14] = RC(1.445305721320277) * z * (xx - yy);
  b[15] = RC(-0.5900435899266435) * x * (xx - 3 * yy);
}

/* v_d += sum_k v_b[k] d b_k / d d (d treated as a free 3-vector). */
HD void raster_sh_basis_vjp(int degree, v3 d, const real v_b[RASTER_SH_MAX_COEFFS], v3 *v_d) {
  if (degree < 1) return;
  const real x = d.x, y = d.y, z = d.z;
  real gx = 0, gy = 0, gz = 0;
  gx += -RASTER_SH_C1 * v_b[3];
  gy += -RASTER_SH_C1 * v_b[1];
  gz += RASTER_SH_C1 * v_b[2];
  if (degree >= 2) {
    const real c0 = RC(1.0925484305920792), c1 = RC(-1.0925484305920792), c2 = RC(0.31539156525252005),
               c3 = RC(-1.0925484305920792), c4 = RC(0.5462742152960396);
    gx += c0 * y * v_b[4] + c2 * (-2 * x) * v_b[6] + c3 * z * v_b[7] + c4 * (2 * x) * v_b[8];
    gy += c0 * x * v_b[4] + c1 * z * v_b[5] + c2 * (-2 * y) * v_b[6] + c4 * (-2 * y) * v_b[8];
    gz += c1 * y * v_b[5] + c2 * (4 * z) * v_b[6] + c3 * x * v_b[7];
  }
  if (degree >= 3) {
    const real xx = x * x, yy = y * y, zz = z * z;
    const real k0 = RC(-0.5900435899266435), k1 = RC(2.890611442640554), k2 = RC(-0.4570457994644658),
               k3 = RC(0.3731763325901154), k4 = RC(-0.4570457994644658), k5 = RC(1.445305721320277),
               k6 = RC(-0.5900435899266435);
    gx += k0 * (6 * x * y) * v_b[9] + k1 * (y * z) * v_b[10] + k2 * (-2 * x * y) * v_b[11] +
          k3 * (-6 * x * z) * v_b[12] + k4 * (4 * zz - 3 * xx - yy) * v_b[13] + k5 * (2 * x * z) * v_b[14] +
          k6 * (3 * xx - 3 * yy) * v_b[15];
    gy += k0 * (3 * xx - 3 * yy) * v_b[9] + k1 * (x * z) * v_b[10] + k2 * (4 * zz - xx - 3 * yy) * v_b[11] +
          k3 * (-6 * y * z) * v_b[12] + k4 * (-2 * x * y) * v_b[13] + k5 * (-2 * y * z) * v_b[14] +
          k6 * (-6 * x * y) * v_b[15];
    gz += k1 * (x * y) * v_b[10] + k2 * (8 * y * z) * v_b[11] + k3 * (6 * zz - 3 * xx - 3 * yy) * v_b[12] +
          k4 * (8 * x * z) * v_b[13] + k5 * (xx - yy) * v_b[14];
  }
  v_d->x += gx;
  v_d->y += gy;
  v_d->z += gz;
}

/* Colour of a Gaussian seen along dir = mu - eye (not normalised; |dir| > 0, guaranteed for any Gaussian in
 * front of the near plane): rgb = max(0, sum_k basis_k(dir/|dir|) sh[k] + 0.5). sh: [K][3]. */
HD void raster_sh_color(int degree, const real *sh, v3 dir, real rgb[3]) {
  real b[RASTER_SH_MAX_COEFFS];
  raster_sh_basis(degree, v3_normalize(dir), b);
  const int k = raster_sh_coeffs(degree);
  for (int ch = 0; ch < 3; ++ch) {
    real s = 0;
    for (int i = 0; i < k; ++i) s += b[i] * sh[3 * i + ch];
    s += RC(0.5);
    rgb[ch] = s > 0 ? s : RC(0.0);
  }
}
HD void raster_sh_color_vjp(int degree, const real *sh, v3 dir, const real v_rgb[3], real *v_sh, v3 *v_dir) {
  real b[RASTER_SH_MAX_COEFFS], v_b[RASTER_SH_MAX_COEFFS];
  v3 n = v3_normalize(dir);
  raster_sh_basis(degree, n, b);
  const int k = raster_sh_coeffs(degree);
  real g[3];
  for (int ch = 0; ch < 3; ++ch) {
    real s = 0;
    for (int i = 0; i < k; ++i) s += b[i] * sh[3 * i + ch];
    g[ch] = s + RC(0.5) > 0 ? v_rgb[ch] : RC(0.0); /* clamped at 0: no gradient */
  }
  for (int i = 0; i < k; ++i) {
    v_sh[3 * i + 0] += b[i] * g[0];
    v_sh[3 * i + 1] += b[i] * g[1];
    v_sh[3 * i + 2] += b[i] * g[2];
    v_b[i] = sh[3 * i + 0] * g[0] + sh[3 * i + 1] * g[1] + sh[3 * i + 2] * g[2];
  }
  if (degree < 1 || !v_dir) return;
  v3 v_n = v3_zero();
  raster_sh_basis_vjp(degree, n, v_b, &v_n);
  v3_normalize_vjp(dir, v_n, v_dir);
}

/* ------------------------------------------------------------------ the 2D splat */

/* What compositing needs of one (camera, Gaussian): 8 reals (32 bytes in float). */
typedef struct {
  real mx, my;     /* mean in pixels */
  real ca, cb, cc; /* conic (inverse blurred 2D covariance): xx, xy, yy */
  real op;         /* effective opacity (x compensation when antialiased) */
  real z;          /* camera-space depth of the mean */
  real smax;       /* support: sigma <= smax = min(3.33^2/2, ln(255 op)) (defaults; raster_cam_set_cutoffs) */
  real amin;       /* alpha below it is skipped (the camera's alpha_min) */
} raster_splat;

/* Project one Gaussian for one camera. Returns 1 and fills *sp when it can be visible: in front of the near
 * plane (and before the far plane), with a positive definite blurred 2D covariance and an effective opacity
 * >= 1/255; returns 0 otherwise (culled: it contributes nothing and gets zero gradient). The image bounds are
 * not tested here (raster_tile_count is 0 for a splat that misses the image). */
HD int raster_project(const raster_cam *c, v3 mu, m3 cov, real opacity, int antialiased, raster_splat *sp) {
  v3 p = raster_point_to_cam(c, mu);
  if (!(p.z >= c->near_plane && p.z <= c->far_plane)) return 0;
  m3 covc = raster_cov_to_cam(c, cov);
  real mean2d[2], cov2d[3], conic[3], comp;
  raster_persp_proj(c, p, covc, mean2d, cov2d);
  if (!raster_conic(cov2d, antialiased, conic, &comp)) return 0;
  real op = opacity * comp;
  if (!(op >= c->alpha_min)) return 0;
  if (!r_isfinite(mean2d[0]) || !r_isfinite(mean2d[1]) || !r_isfinite(conic[0]) || !r_isfinite(conic[1]) ||
      !r_isfinite(conic[2]))
    return 0;
  sp->mx = mean2d[0];
  sp->my = mean2d[1];
  sp->ca = conic[0];
  sp->cb = conic[1];
  sp->cc = conic[2];
  sp->op = op;
  sp->z = p.z;
  sp->smax = r_fmin(c->sigma_cut, r_log(op / c->alpha_min));
  sp->amin = c->alpha_min;
  return 1;
}

/* 1 if a 10-value cotangent record is all zero (a splat that reached no pixel, or only pixels without
 * cotangent): its adjoint adds exactly nothing and can be skipped. */
HD int raster_record_is_zero(const real *v2d) {
  int z = 1;
  for (int m = 0; m < RASTER_NGRAD; ++m) z &= v2d[m] == 0;
  return z;
}

/* Adjoint of raster_project for a visible splat: v2d holds the cotangents of (mx, my, ca, cb, cc, op, z)
 * (indices RG_*). Accumulates into v_mu, v_cov (full 3x3 matrix) and v_opacity. */
/* The part of the projection's adjoint that both raster_project_vjp and raster_project_camera_vjp need: re-project
 * the splat, then take v2d back through the conic and the perspective projection to the cotangents of the
 * camera-space mean and covariance. */
typedef struct {
  v3 p;            /* camera-space mean */
  m3 covc;         /* camera-space covariance */
  real comp;       /* antialiasing compensation (1 in classic mode) */
  real v_cov2d[3]; /* cotangent of the 2D covariance */
  v3 v_p;          /* cotangent of p (including the depth's) */
  m3 v_covc;       /* cotangent of covc */
} raster_proj_adj;

HD void raster_project_back(const raster_cam *c, v3 mu, m3 cov, real opacity, int antialiased, const real *v2d,
                            raster_proj_adj *a) {
  a->p = raster_point_to_cam(c, mu);
  a->covc = raster_cov_to_cam(c, cov);
  real mean2d[2], cov2d[3], conic[3] = {0, 0, 0};
  a->comp = 1;
  raster_persp_proj(c, a->p, a->covc, mean2d, cov2d);
  raster_conic(cov2d, antialiased, conic, &a->comp);
  real v_comp = opacity * v2d[RG_OP];
  a->v_cov2d[0] = a->v_cov2d[1] = a->v_cov2d[2] = 0;
  raster_conic_vjp(cov2d, antialiased, conic, a->comp, v2d + RG_CA, v_comp, a->v_cov2d);
  a->v_p = v3_zero();
  a->v_covc = m3_zero();
  raster_persp_proj_vjp(c, a->p, a->covc, v2d + RG_MX, a->v_cov2d, &a->v_p, &a->v_covc);
  a->v_p.z += v2d[RG_Z];
}

HD void raster_project_vjp(const raster_cam *c, v3 mu, m3 cov, real opacity, int antialiased, const real *v2d,
                           v3 *v_mu, m3 *v_cov, real *v_opacity) {
  raster_proj_adj a;
  raster_project_back(c, mu, cov, opacity, antialiased, v2d, &a);
  *v_opacity += a.comp * v2d[RG_OP];
  raster_cov_to_cam_vjp(c, a.v_covc, v_cov);
  raster_point_to_cam_vjp(c, a.v_p, v_mu);
}

/* ------------------------------------------------------------------ camera cotangents */

/* Cotangents of the camera of raster_persp_proj: v_K = (v_fx, v_fy, v_cx, v_cy), ACCUMULATED. The mean is
 * mean2d = (fx x/z + cx, fy y/z + cy); the Jacobian J00 = fx/z, J02 = -fx u/z, J11 = fy/z, J12 = -fy v/z with
 * u = clamp(x/z, -lim_x_neg, lim_x_pos), where (raster_cam_init) lim_x_pos = (W - cx)/fx + m W/(2 fx) and
 * lim_x_neg = cx/fx + m W/(2 fx) (m = RASTER_FOV_MARGIN): a clamped u depends on fx and cx too. */
HD void raster_persp_proj_camera_vjp(const raster_cam *c, v3 p, m3 covc, const real v_mean2d[2],
                                     const real v_cov2d[3], real v_K[4]) {
  real rz = RC(1.0) / p.z;
  real j[2][3];
  raster_persp_jacobian(c, p, j);
  real g[2][2] = {{v_cov2d[0], RC(0.5) * v_cov2d[1]}, {RC(0.5) * v_cov2d[1], v_cov2d[2]}};
  real vj[2][3];
  raster_persp_v_jacobian(j, g, covc, vj);
  const real m = (real)RASTER_FOV_MARGIN;
  for (int axis = 0; axis < 2; ++axis) {
    real f = axis ? c->fy : c->fx, cc = axis ? c->cy : c->cx, ext = (real)(axis ? c->height : c->width);
    real q = (axis ? p.y : p.x) * rz;
    real lpos = axis ? c->lim_y_pos : c->lim_x_pos, lneg = axis ? c->lim_y_neg : c->lim_x_neg;
    real u = r_clamp(q, -lneg, lpos);
    real v_f = v_mean2d[axis] * q + vj[axis][axis] * rz - vj[axis][2] * u * rz, v_c = v_mean2d[axis];
    real v_u = -vj[axis][2] * f * rz; /* J[axis][2] = -f u / z */
    if (q > lpos) { /* u = lim_pos = (ext - cc + m ext / 2) / f */
      v_f += v_u * (-(ext - cc + RC(0.5) * m * ext) / (f * f));
      v_c += v_u * (-RC(1.0) / f);
    } else if (q < -lneg) { /* u = -lim_neg = -(cc + m ext / 2) / f */
      v_f += v_u * ((cc + RC(0.5) * m * ext) / (f * f));
      v_c += v_u * (-RC(1.0) / f);
    }
    v_K[axis] += v_f;
    v_K[2 + axis] += v_c;
  }
}

/* Cotangents of the camera of raster_project for a visible splat (v2d as raster_project_vjp): v_R, v_t of the
 * world->camera transform p = R mu + t (v_viewmat[a][b] = v_R[a][b], v_viewmat[a][3] = v_t[a]) and v_K =
 * (v_fx, v_fy, v_cx, v_cy), ACCUMULATED. Sigma_c = R Sigma R^T gives v_R += G R Sigma^T + G^T R Sigma. */
HD void raster_project_camera_vjp(const raster_cam *c, v3 mu, m3 cov, real opacity, int antialiased,
                                  const real *v2d, m3 *v_R, v3 *v_t, real v_K[4]) {
  raster_proj_adj a;
  raster_project_back(c, mu, cov, opacity, antialiased, v2d, &a);
  raster_persp_proj_camera_vjp(c, a.p, a.covc, v2d + RG_MX, a.v_cov2d, v_K);
  /* p = R mu + t */
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) v_R->m[i][j] += v3_get(a.v_p, i) * v3_get(mu, j);
  v3_accum(v_t, a.v_p);
  /* Sigma_c = R Sigma R^T */
  m3_accum(v_R, m3_add(m3_mul_bt(m3_mul(a.v_covc, c->R), cov), m3_mul(m3_mul_at(a.v_covc, c->R), cov)));
}

/* ------------------------------------------------------------------ support of a splat: rows, spans, tiles */

/* The support is the ellipse a dx^2 + 2 b dx dy + c dy^2 <= K, K = 2 smax (dx = x - mx). Half extents:
 * hy = sqrt(K a / det), hx = sqrt(K c / det). Returns 0 for an empty support. */
HD int raster_support_extent(const raster_splat *s, real *hx, real *hy) {
  real det = s->ca * s->cc - s->cb * s->cb;
  real k = 2 * s->smax;
  *hx = *hy = 0;
  if (!(det > 0) || !(k >= 0)) return 0;
  *hx = r_sqrt(k * s->cc / det);
  *hy = r_sqrt(k * s->ca / det);
  return 1;
}

/* Geometric margin (pixels) added around the support so that rounding never loses a pixel whose centre
 * passes the sigma test; extra pixels cost an evaluation and are rejected by that test. */
HD real raster_support_margin(real hx, real hy) { return RC(0.25) + RC(1e-5) * (hx + hy); }

/* ceil(x) clamped to [lo, hi] (NaN gives lo) and floor(x) clamped to [lo, hi] (NaN gives hi), without libm
 * calls; callers pass lo >= -1 and |hi| < 2^24. Clamping to one beyond the range they care about keeps an
 * empty interval empty. */
HD int raster_ceil_clamp(real x, int lo, int hi) {
  if (!(x > (real)lo)) return lo;
  if (!(x < (real)hi)) return hi;
  int i = (int)x; /* x in (lo, hi), lo >= -1: truncation is floor for x >= 0 and 0 = ceil for x in (-1, 0) */
  return (real)i < x ? i + 1 : i;
}
HD int raster_floor_clamp(real x, int lo, int hi) {
  if (!(x < (real)hi)) return hi;
  if (!(x > (real)lo)) return lo;
  int i = (int)x;
  return (real)i > x ? i - 1 : i;
}

/* x-interval of the support over the horizontal band dy in [lo, hi] (offsets from my), already clipped to
 * the support's own y-extent by the caller. x_right(dy) is concave and x_left(dy) convex, so their extremes
 * over the band are at the clamped stationary points dy = -+ b hx / c. */
HD void raster_support_xrange(const raster_splat *s, real hx, real lo, real hi, real *xl, real *xr) {
  const real a = s->ca, b = s->cb, c = s->cc;
  const real det = a * c - b * b, k = 2 * s->smax;
  real dyr = r_clamp(-b * hx / c, lo, hi), dyl = r_clamp(b * hx / c, lo, hi);
  real qr = a * k - det * dyr * dyr, ql = a * k - det * dyl * dyl;
  qr = qr > 0 ? qr : RC(0.0);
  ql = ql > 0 ? ql : RC(0.0);
  *xr = s->mx + (-b * dyr + r_sqrt(qr)) / a;
  *xl = s->mx + (-b * dyl - r_sqrt(ql)) / a;
}

/* Tile rows [*ty0, *ty1] of one camera touched by a splat's support (hx, hy from raster_support_extent);
 * empty when ty0 > ty1. */
HD void raster_tile_rows(const raster_cam *c, const raster_splat *s, real hx, real hy, int *ty0, int *ty1) {
  real m = raster_support_margin(hx, hy);
  /* pixel rows i with centre i + 0.5 in [my - hy - m, my + hy + m] */
  int i0 = raster_ceil_clamp(s->my - hy - m - RC(0.5), 0, c->height);
  int i1 = raster_floor_clamp(s->my + hy + m - RC(0.5), -1, c->height - 1);
  *ty0 = 1;
  *ty1 = 0;
  if (i0 > i1) return;
  *ty0 = i0 / RASTER_TILE;
  *ty1 = i1 / RASTER_TILE;
}

/* Tile columns [*tx0, *tx1] of tile row ty touched by the support (empty when tx0 > tx1). */
HD void raster_tile_row_span(const raster_cam *c, const raster_splat *s, real hx, real hy, int ty, int *tx0,
                             int *tx1) {
  real m = raster_support_margin(hx, hy);
  int r0 = ty * RASTER_TILE, r1 = i_min(r0 + RASTER_TILE, c->height) - 1;
  real lo = (real)r0 + RC(0.5) - m - s->my, hi = (real)r1 + RC(0.5) + m - s->my;
  lo = lo > -hy ? lo : -hy;
  hi = hi < hy ? hi : hy;
  *tx0 = 1;
  *tx1 = 0;
  if (!(lo <= hi)) return;
  real xl, xr;
  raster_support_xrange(s, hx, lo, hi, &xl, &xr);
  int j0 = raster_ceil_clamp(xl - m - RC(0.5), 0, c->width), j1 = raster_floor_clamp(xr + m - RC(0.5), -1, c->width - 1);
  if (j0 > j1) return;
  *tx0 = j0 / RASTER_TILE;
  *tx1 = j1 / RASTER_TILE;
}

/* Number of tiles a splat touches (0: it misses the image). */
HD int64_t raster_tile_count(const raster_cam *c, const raster_splat *s) {
  real hx, hy;
  if (!raster_support_extent(s, &hx, &hy)) return 0;
  int ty0, ty1;
  raster_tile_rows(c, s, hx, hy, &ty0, &ty1);
  int64_t n = 0;
  for (int ty = ty0; ty <= ty1; ++ty) {
    int tx0, tx1;
    raster_tile_row_span(c, s, hx, hy, ty, &tx0, &tx1);
    if (tx0 <= tx1) n += tx1 - tx0 + 1;
  }
  return n;
}

/* Pixel columns [*j0, *j1] of pixel row i (within columns [c0, c1]) whose centres may pass the sigma test.
 * For small splats (half width <= 2 px) the bounding box's columns: cheaper than the exact row span, and it
 * contains it (the sigma test decides). */
HD void raster_pixel_row_span(const raster_splat *s, real hx, real hy, int i, int c0, int c1, int *j0, int *j1) {
  real m = raster_support_margin(hx, hy);
  real dy = (real)i + RC(0.5) - s->my;
  *j0 = 1;
  *j1 = 0;
  if (!(r_fabs(dy) <= hy + m)) return;
  if (hx <= RC(2.0)) {
    *j0 = raster_ceil_clamp(s->mx - hx - m - RC(0.5), c0, c1 + 1);
    *j1 = raster_floor_clamp(s->mx + hx + m - RC(0.5), c0 - 1, c1);
    return;
  }
  real d = r_clamp(dy, -hy, hy);
  real xl, xr;
  raster_support_xrange(s, hx, d, d, &xl, &xr);
  *j0 = raster_ceil_clamp(xl - m - RC(0.5), c0, c1 + 1);
  *j1 = raster_floor_clamp(xr + m - RC(0.5), c0 - 1, c1);
}

/* Pixel rows [*i0, *i1] (within rows [r0, r1]) whose centres may pass the sigma test. */
HD void raster_pixel_rows(const raster_splat *s, real hx, real hy, int r0, int r1, int *i0, int *i1) {
  real m = raster_support_margin(hx, hy);
  *i0 = raster_ceil_clamp(s->my - hy - m - RC(0.5), r0, r1 + 1);
  *i1 = raster_floor_clamp(s->my + hy + m - RC(0.5), r0 - 1, r1);
}

/* Sort key of a depth: the bits of the float value (monotone for z > 0). */
HD uint32_t raster_depth_bits(real z) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint((float)z);
#else
  union {
    float f;
    uint32_t u;
  } c;
  c.f = (float)z;
  return c.u;
#endif
}

/* ------------------------------------------------------------------ per pixel */

/* exp(x) for x in [-sigma_cut, 0], the only range the compositing needs (sigma_cut <= 21). On the host in float, an
 * inlinable polynomial (no libm call, so the CPU loops over a pixel row vectorise): x = -m ln2 + r with
 * |r| <= ln2/2 (Cody-Waite split of ln2), exp(r) by its degree-7 Taylor polynomial (truncation < 6e-9),
 * times 2^-m built exactly from m's bits; within 2 ulp of expf. On the device, and in double, the
 * library's exp. Arguments below -21 are clamped (their result is never used). */
HD real raster_exp_neg(real x) {
#if defined(PL_REAL_DOUBLE) || defined(__CUDA_ARCH__)
  return r_exp(x);
#else
  x = x > RC(-21.0) ? x : RC(-21.0);
  x = x < RC(0.0) ? x : RC(0.0);
  const int m = (int)(x * RC(-1.4426950408889634) + RC(0.5)); /* 0..30 */
  const real mf = (real)m;
  const real r = (x + mf * RC(0.693145751953125)) + mf * RC(1.428606820309417e-06);
  real p = RC(1.0) / RC(5040.0);
  p = p * r + RC(1.0) / RC(720.0);
  p = p * r + RC(1.0) / RC(120.0);
  p = p * r + RC(1.0) / RC(24.0);
  p = p * r + RC(1.0) / RC(6.0);
  p = p * r + RC(0.5);
  p = p * r + RC(1.0);
  p = p * r + RC(1.0);
  const real s1 = (m & 1) ? RC(0.5) : RC(1.0), s2 = (m & 2) ? RC(0.25) : RC(1.0);
  const real s4 = (m & 4) ? RC(0.0625) : RC(1.0), s8 = (m & 8) ? RC(0.00390625) : RC(1.0);
  const real s16 = (m & 16) ? RC(1.52587890625e-05) : RC(1.0);
  return p * ((s1 * s2) * (s4 * s8)) * s16;
#endif
}

/* Alpha of a splat at pixel centre (px, py): min(0.99, op exp(-sigma)) inside the support, 0 outside or
 * below 1/255. *vis gets exp(-sigma) (needed by the adjoint). */
HD real raster_pixel_alpha(const raster_splat *s, real px, real py, real *vis) {
  real dx = px - s->mx, dy = py - s->my;
  real sigma = RC(0.5) * (s->ca * dx * dx + s->cc * dy * dy) + s->cb * dx * dy;
  if (!(sigma >= 0 && sigma <= s->smax)) return 0;
  real g = raster_exp_neg(-sigma);
  real a = s->op * g;
  *vis = g;
  if (a < s->amin) return 0;
  return a < RASTER_ALPHA_MAX ? a : RASTER_ALPHA_MAX;
}

/* The same value without branches (for loops the compiler vectorises): computes exp everywhere and selects;
 * where raster_pixel_alpha returns > 0 both return the same alpha and *vis, bit for bit. */
HD real raster_pixel_alpha_nb(const raster_splat *s, real px, real py, real *vis) {
  const real dx = px - s->mx, dy = py - s->my;
  const real sigma = RC(0.5) * (s->ca * dx * dx + s->cc * dy * dy) + s->cb * dx * dy;
  const real sc = sigma < s->smax ? sigma : s->smax; /* smax >= 0 for a visible splat */
  const real g = raster_exp_neg(-(sc > 0 ? sc : RC(0.0)));
  const real a = s->op * g;
  const int ok = (sigma >= 0) & (sigma <= s->smax) & (a >= s->amin);
  *vis = g;
  return ok ? (a < RASTER_ALPHA_MAX ? a : RASTER_ALPHA_MAX) : RC(0.0);
}

/* Adjoint of raster_pixel_alpha (where it returned alpha > 0): accumulates into the splat cotangent record
 * v2d[RG_MX..RG_OP]. No gradient where alpha is clamped at 0.99. */
HD void raster_pixel_alpha_vjp(const raster_splat *s, real px, real py, real vis, real v_alpha, real *v2d) {
  if (s->op * vis > RASTER_ALPHA_MAX) return;
  real dx = px - s->mx, dy = py - s->my;
  v2d[RG_OP] += vis * v_alpha;
  real v_sigma = -s->op * vis * v_alpha;
  v2d[RG_CA] += RC(0.5) * dx * dx * v_sigma;
  v2d[RG_CB] += dx * dy * v_sigma;
  v2d[RG_CC] += RC(0.5) * dy * dy * v_sigma;
  v2d[RG_MX] += -(s->ca * dx + s->cb * dy) * v_sigma;
  v2d[RG_MY] += -(s->cb * dx + s->cc * dy) * v_sigma;
}

/* Front-to-back state of one pixel. */
typedef struct {
  real T;      /* transmittance */
  real c[3];   /* sum c alpha T */
  real d;      /* sum z alpha T */
  int32_t n;   /* 1 + position (in the tile's list) of the last blended splat; 0 if none */
  int32_t done;
} raster_pix;

HD void raster_pix_init(raster_pix *p) {
  p->T = 1;
  p->c[0] = p->c[1] = p->c[2] = 0;
  p->d = 0;
  p->n = 0;
  p->done = 0;
}

/* Blend splat number `k` of the tile (alpha > 0). Stops (done) before T would fall to <= t_min (1e-4). */
HD void raster_pix_blend(raster_pix *p, real alpha, const real *rgb, real z, int32_t k, real t_min) {
  real next = p->T * (1 - alpha);
  if (next <= t_min) {
    p->done = 1;
    return;
  }
  real w = alpha * p->T;
  p->c[0] += rgb[0] * w;
  p->c[1] += rgb[1] * w;
  p->c[2] += rgb[2] * w;
  p->d += z * w;
  p->T = next;
  p->n = k + 1;
}

/* Final values of a pixel: rgb = C + T bg, alpha = 1 - T, depth = D, expected depth = D / alpha (0 when
 * alpha = 0). */
HD real raster_expected_depth(real d, real alpha) { return alpha > 0 ? d / alpha : RC(0.0); }
/* v_d, v_alpha += cotangents from v_ed. */
HD void raster_expected_depth_vjp(real d, real alpha, real v_ed, real *v_d, real *v_alpha) {
  if (!(alpha > 0)) return;
  *v_d += v_ed / alpha;
  *v_alpha += -v_ed * d / (alpha * alpha);
}

/* Back-to-front state of one pixel for the adjoint. Only the cotangent-weighted sums are needed: with
 * q_k = v_rgb . c_k + v_depth z_k (the cotangent of blending splat k with weight 1),
 *   dL/d alpha_k = T_k q_k - S_k / (1 - alpha_k),
 *   S_k = sum_{i>k} q_i alpha_i T_i + T_N (v_rgb . bg) - v_alpha T_N,
 * so one running scalar S replaces the running colour and depth sums. */
typedef struct {
  real T;      /* transmittance in front of the splat being visited (starts at the final T) */
  real S;      /* see above; starts at T_N (v_rgb . bg - v_alpha) */
  real v_c[3]; /* pixel cotangents: rgb, accumulated depth */
  real v_d;
} raster_pix_bwd;

HD void raster_pix_bwd_init(raster_pix_bwd *b, real T_final, const real *v_rgb, real v_alpha, real v_depth,
                            const real *bg) {
  b->T = T_final;
  for (int ch = 0; ch < 3; ++ch) b->v_c[ch] = v_rgb ? v_rgb[ch] : RC(0.0);
  b->v_d = v_depth;
  b->S = T_final * (bg[0] * b->v_c[0] + bg[1] * b->v_c[1] + bg[2] * b->v_c[2] - v_alpha);
}

/* Visit one blended splat (back to front): recover T in front of it by division (1 - alpha >= 0.01), and
 * accumulate the cotangents of its colour and depth into v2d[RG_R..RG_B], v2d[RG_Z]; returns the cotangent
 * of its alpha (the derivation is in docs/adjoints.md):
 *   d rgb/d alpha_k   = c_k T_k - (sum_{i>k} c_i alpha_i T_i + T_N bg) / (1 - alpha_k)
 *   d alpha/d alpha_k = T_N / (1 - alpha_k)      d depth/d alpha_k = z_k T_k - sum_{i>k} z_i alpha_i T_i / (1 - alpha_k) */
HD real raster_pix_bwd_step(raster_pix_bwd *b, real alpha, const real *rgb, real z, real *v2d) {
  const real ra = RC(1.0) / (1 - alpha);
  const real T = b->T * ra;
  const real w = alpha * T;
  v2d[RG_R] += w * b->v_c[0];
  v2d[RG_G] += w * b->v_c[1];
  v2d[RG_B] += w * b->v_c[2];
  v2d[RG_Z] += w * b->v_d;
  const real q = b->v_c[0] * rgb[0] + b->v_c[1] * rgb[1] + b->v_c[2] * rgb[2] + b->v_d * z;
  const real va = T * q - b->S * ra;
  b->S += q * w;
  b->T = T;
  return va;
}

/* Final values of a pixel: rgb = C + T bg, alpha = 1 - T, accumulated depth D, expected depth D / alpha. */
HD void raster_pix_output(const raster_pix *p, const real *bg, real *rgb, real *alpha, real *depth, real *ed) {
  for (int ch = 0; ch < 3; ++ch) rgb[ch] = p->c[ch] + p->T * bg[ch];
  *alpha = 1 - p->T;
  *depth = p->d;
  *ed = raster_expected_depth(p->d, *alpha);
}

/* ------------------------------------------------------------------ one Gaussian's inputs */

/* World covariance of Gaussian g from the 6 stored values or from scale + quaternion. */
HD m3 raster_gaussian_cov(const real *covs, const real *scales, const real *quats, int64_t g) {
  if (covs) return raster_cov6_to_m3(covs + 6 * g);
  return raster_quat_scale_to_cov(quats + 4 * g, scales + 3 * g);
}
/* Accumulate the cotangent of the full covariance matrix into the stored inputs (any output may be NULL). */
HD void raster_gaussian_cov_vjp(const real *covs, const real *scales, const real *quats, int64_t g, m3 v_cov,
                                real *v_covs, real *v_scales, real *v_quats) {
  if (covs) {
    if (v_covs) raster_cov6_vjp(v_cov, v_covs + 6 * g);
    return;
  }
  if (!v_scales && !v_quats) return;
  real vs[3] = {0, 0, 0}, vq[4] = {0, 0, 0, 0};
  raster_quat_scale_to_cov_vjp(quats + 4 * g, scales + 3 * g, v_cov, vq, vs);
  if (v_scales)
    for (int k = 0; k < 3; ++k) v_scales[3 * g + k] += vs[k];
  if (v_quats)
    for (int k = 0; k < 4; ++k) v_quats[4 * g + k] += vq[k];
}

/* Colour of Gaussian g seen from camera c: the stored RGB, or SH evaluated along d = mu - eye; with SH frames
 * (frames: [N][9] row-major R_g, or NULL) along d0 = R_g^T d, the view direction in the Gaussian's rest frame. */
HD void raster_gaussian_color(const real *colors, const real *sh, const real *frames, int sh_degree, int64_t g, v3 mu,
                              const raster_cam *c, real *rgb) {
  if (colors) {
    rgb[0] = colors[3 * g];
    rgb[1] = colors[3 * g + 1];
    rgb[2] = colors[3 * g + 2];
    return;
  }
  v3 dir = v3_sub(mu, c->eye);
  if (frames) dir = m3_tmul_v(m3_load(frames + 9 * g), dir);
  raster_sh_color(sh_degree, sh + (int64_t)3 * raster_sh_coeffs(sh_degree) * g, dir, rgb);
}
/* v_colors / v_sh / v_frames at Gaussian g (any may be NULL), and v_mu through the view direction. With a frame,
 * d0_j = sum_i R_ij d_i: v_d = R v_d0 and v_R_ij = d_i v_d0_j (R a free 3x3 matrix). */
HD void raster_gaussian_color_vjp(const real *colors, const real *sh, const real *frames, int sh_degree, int64_t g,
                                  v3 mu, const raster_cam *c, const real *v_rgb, real *v_colors, real *v_sh,
                                  real *v_frames, v3 *v_mu) {
  if (colors) {
    if (v_colors)
      for (int k = 0; k < 3; ++k) v_colors[3 * g + k] += v_rgb[k];
    return;
  }
  const int64_t off = (int64_t)3 * raster_sh_coeffs(sh_degree) * g;
  real tmp[3 * RASTER_SH_MAX_COEFFS];
  for (int k = 0; k < 3 * RASTER_SH_MAX_COEFFS; ++k) tmp[k] = 0;
  const v3 dir = v3_sub(mu, c->eye);
  if (frames) {
    const m3 r = m3_load(frames + 9 * g);
    v3 v_d0 = v3_zero();
    raster_sh_color_vjp(sh_degree, sh + off, m3_tmul_v(r, dir), v_rgb, tmp, &v_d0);
    v3_accum(v_mu, m3_mul_v(r, v_d0));
    if (v_frames) {
      const m3 v_r = m3_outer(dir, v_d0);
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) v_frames[9 * g + 3 * i + j] += v_r.m[i][j];
    }
  } else {
    raster_sh_color_vjp(sh_degree, sh + off, dir, v_rgb, tmp, v_mu);
  }
  if (v_sh)
    for (int k = 0; k < 3 * raster_sh_coeffs(sh_degree); ++k) v_sh[off + k] += tmp[k];
}

/* ------------------------------------------------------------------ input checks */

/* Codes of raster_check_gaussian (0 = fine). */
enum {
  RASTER_BAD_NONE = 0,
  RASTER_BAD_MEAN,
  RASTER_BAD_COV,
  RASTER_BAD_COV_DIAG,
  RASTER_BAD_SCALE,
  RASTER_BAD_QUAT,
  RASTER_BAD_QUAT_ZERO,
  RASTER_BAD_OPACITY,
  RASTER_BAD_OPACITY_RANGE,
  RASTER_BAD_COLOR,
  RASTER_BAD_SH,
  RASTER_BAD_SH_FRAME
};

/* Check one Gaussian's inputs (any pointer may be NULL when that input is not used). */
HD int raster_check_gaussian(int64_t g, const real *means, const real *covs, const real *scales, const real *quats,
                             const real *opacities, const real *colors, const real *sh, const real *frames,
                             int sh_coeffs) {
  for (int k = 0; k < 3; ++k)
    if (!r_isfinite(means[3 * g + k])) return RASTER_BAD_MEAN;
  if (covs) {
    for (int k = 0; k < 6; ++k)
      if (!r_isfinite(covs[6 * g + k])) return RASTER_BAD_COV;
    if (covs[6 * g + 0] < 0 || covs[6 * g + 3] < 0 || covs[6 * g + 5] < 0) return RASTER_BAD_COV_DIAG;
  } else {
    for (int k = 0; k < 3; ++k)
      if (!r_isfinite(scales[3 * g + k])) return RASTER_BAD_SCALE;
    real n2 = 0;
    for (int k = 0; k < 4; ++k) {
      real q = quats[4 * g + k];
      if (!r_isfinite(q)) return RASTER_BAD_QUAT;
      n2 += q * q;
    }
    if (!(n2 > 0) || !r_isfinite(n2)) return RASTER_BAD_QUAT_ZERO;
  }
  real o = opacities[g];
  if (!r_isfinite(o)) return RASTER_BAD_OPACITY;
  if (o < 0 || o > 1) return RASTER_BAD_OPACITY_RANGE;
  if (colors) {
    for (int k = 0; k < 3; ++k)
      if (!r_isfinite(colors[3 * g + k])) return RASTER_BAD_COLOR;
  } else {
    for (int k = 0; k < 3 * sh_coeffs; ++k)
      if (!r_isfinite(sh[(int64_t)3 * sh_coeffs * g + k])) return RASTER_BAD_SH;
  }
  if (frames) /* finite only: orthogonality is not required */
    for (int k = 0; k < 9; ++k)
      if (!r_isfinite(frames[9 * g + k])) return RASTER_BAD_SH_FRAME;
  return RASTER_BAD_NONE;
}

/* The pairs of splat s of camera c (raster_tile_count of them), written from position e on in emission order (tile
 * rows top to bottom, tiles left to right), each with value val and key64[e] = global tile << 32 | depth (the CUDA
 * backend's joint sort) or key32[e] = global tile (its split sort); either key array may be NULL. Returns the
 * position after the last. */
HD int64_t raster_emit_pairs(const raster_cam *c, const raster_splat *s, uint32_t depth, int64_t e,
                             unsigned long long *key64, uint32_t *key32, uint32_t *vals, uint32_t val) {
  real hx, hy;
  if (!raster_support_extent(s, &hx, &hy)) return e;
  int ty0, ty1;
  raster_tile_rows(c, s, hx, hy, &ty0, &ty1);
  for (int ty = ty0; ty <= ty1; ++ty) {
    int tx0, tx1;
    raster_tile_row_span(c, s, hx, hy, ty, &tx0, &tx1);
    for (int tx = tx0; tx <= tx1; ++tx) {
      const int64_t tile = c->tile_offset + (int64_t)ty * c->tiles_x + tx;
      if (key64) key64[e] = ((unsigned long long)tile << 32) | depth;
      if (key32) key32[e] = (uint32_t)tile;
      vals[e] = val;
      ++e;
    }
  }
  return e;
}

#endif /* PL_RASTER_KERNELS_H */
