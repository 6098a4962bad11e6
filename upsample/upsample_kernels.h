/* upsample_kernels.h: every per-element formula of the upsampler, once, for both backends (HD).
 *
 * Each differentiable function f has its adjoint f_vjp beside it; a _vjp takes the forward inputs and the
 * cotangents of the outputs (v_ prefix) and ACCUMULATES (+=) into the cotangents of the inputs.
 * upsample_cpu.c and upsample_cuda.cu only loop over elements and call the *_one functions at the end of this
 * file; they do no math of their own. Derivations: docs/adjoints.md, section "Upsampler"; the method and
 * its parameters: docs/upsampler.md.
 *
 * Shapes (// [N, 3] etc.) follow gsplat's habit. Covariances are packed as 6 numbers (xx, xy, xz, yy, yz, zz);
 * the cotangent of a packed covariance is the derivative with respect to those 6 stored numbers (an
 * off-diagonal cotangent counts both symmetric entries), which is what the rasterizer's backward produces.
 *
 * Rules: valid C11 and CUDA C++ at once (no compound literals, no designated initialisers, no VLAs).
 */
#ifndef PL_UPSAMPLE_KERNELS_H
#define PL_UPSAMPLE_KERNELS_H

#include "core/hd.h"
#include "core/linalg.h"
#include "upsample/upsample_grid.h"

/* ------------------------------------------------------------------ constants */

/* Golden angle (radians): successive children on the tangent disc follow a Vogel (sunflower) spiral. */
#define UPS_GOLDEN_ANGLE RC(2.39996322972865332)
/* Regularisation of the density gradient when it is turned into a normal: |g| -> sqrt(|g|^2 + eps^2) with
 * eps = UPS_NORMAL_EPS / particle spacing (a surface gradient is about 0.45 / spacing). */
#define UPS_NORMAL_EPS RC(0.05)
/* Regularisation of the tangent direction's length (relative to |F e|, which is about 1). */
#define UPS_TANGENT_EPS RC(1e-6)

/* ------------------------------------------------------------------ small helpers */

#ifdef PL_REAL_DOUBLE
HD real ups_tanh(real x) { return tanh(x); }
#else
HD real ups_tanh(real x) { return tanhf(x); }
#endif

HD real ups_sigmoid(real z) {
  if (z >= 0) {
    real e = r_exp(-z);
    return RC(1.0) / (RC(1.0) + e);
  }
  real e = r_exp(z);
  return e / (RC(1.0) + e);
}
/* logit(p) = log(p / (1 - p)); the caller keeps p in (0, 1). */
HD real ups_logit(real p) { return r_log(p) - r_log1p(-p); }

/* Smootherstep on [0, 1] (C2): s(u) = u^3 (6u^2 - 15u + 10), clamped outside. */
HD real ups_smootherstep(real u) {
  if (u <= 0) return 0;
  if (u >= 1) return 1;
  return u * u * u * (u * (u * RC(6.0) - RC(15.0)) + RC(10.0));
}
HD real ups_smootherstep_deriv(real u) {
  if (u <= 0 || u >= 1) return 0;
  real w = u * (1 - u);
  return RC(30.0) * w * w;
}

/* Packed symmetric matrix (xx, xy, xz, yy, yz, zz). */
HD void ups_sym6_store(m3 s, real *o) {
  o[0] = s.m[0][0];
  o[1] = RC(0.5) * (s.m[0][1] + s.m[1][0]);
  o[2] = RC(0.5) * (s.m[0][2] + s.m[2][0]);
  o[3] = s.m[1][1];
  o[4] = RC(0.5) * (s.m[1][2] + s.m[2][1]);
  o[5] = s.m[2][2];
}
HD m3 ups_sym6_load(const real *o) { return m3_make(o[0], o[1], o[2], o[1], o[3], o[4], o[2], o[4], o[5]); }
/* The cotangent of the packed numbers as a symmetric 3x3 cotangent G with <G, dS> = sum_k v6[k] dS6[k] for
 * symmetric dS: off-diagonal entries are halved. */
HD m3 ups_sym6_cotangent(const real *v6) {
  const real h = RC(0.5);
  return m3_make(v6[0], h * v6[1], h * v6[2], h * v6[1], v6[3], h * v6[4], h * v6[2], h * v6[4], v6[5]);
}

/* ------------------------------------------------------------------ the flat disc Sigma0 */

/* Sigma0 = sigma^2 (I - (1 - t^2) n n^T). For a unit normal n this is a disc: variance sigma^2 in the tangent
 * plane and (sigma t)^2 along n. For |n| < 1 it blends smoothly towards the isotropic ball sigma^2 I (n = 0),
 * which the runtime mode uses where the normal is ill-defined and the particles mode uses always. */
HD m3 ups_sigma0(real sigma, real t, v3 n) {
  real k = RC(1.0) - t * t;
  m3 s = m3_scalar(RC(1.0));
  s = m3_axpy(s, -k, m3_outer(n, n));
  return m3_scale(s, sigma * sigma);
}
HD void ups_sigma0_vjp(real sigma, real t, v3 n, m3 v_s, real *v_sigma, real *v_t, v3 *v_n) {
  real k = RC(1.0) - t * t;
  v3 vn = m3_mul_v(v_s, n), vtn = m3_tmul_v(v_s, n);
  real nvn = v3_dot(n, vn);
  if (v_sigma) *v_sigma += RC(2.0) * sigma * (m3_trace(v_s) - k * nvn);
  if (v_t) *v_t += sigma * sigma * RC(2.0) * t * nvn;
  if (v_n) v3_accum(v_n, v3_scale(v3_add(vn, vtn), -sigma * sigma * k));
}

/* ------------------------------------------------------------------ Sigma = A Sigma0 A^T */

HD m3 ups_cov_push(m3 a, m3 s0) { return m3_mul_bt(m3_mul(a, s0), a); }
/* v_A += (G + G^T) A Sigma0 (Sigma0 symmetric), v_Sigma0 += A^T G A. */
HD void ups_cov_push_vjp(m3 a, m3 s0, m3 g, m3 *v_a, m3 *v_s0) {
  if (v_a) m3_accum(v_a, m3_mul(m3_mul(m3_add(g, m3_transpose(g)), a), s0));
  if (v_s0) m3_accum(v_s0, m3_mul(m3_mul_at(a, g), a));
}

/* ------------------------------------------------------------------ opacity and colour */

/* o = s * sigmoid(logit(o_global) + b): a global opacity, a per-Gaussian logit offset b (0 at start, so that
 * o = o_global exactly), and a surface weight s (1 in bound mode). */
HD real ups_opacity(real o_logit, real b, real s) { return s * ups_sigmoid(o_logit + b); }
HD void ups_opacity_vjp(real o_logit, real b, real s, real v_o, real *v_ologit, real *v_b, real *v_s) {
  real sg = ups_sigmoid(o_logit + b);
  real vz = v_o * s * sg * (RC(1.0) - sg);
  if (v_ologit) *v_ologit += vz;
  if (v_b) *v_b += vz;
  if (v_s) *v_s += v_o * sg;
}

/* Colours are their own parameters; the output is clamped to [0, 1] and the cotangent passes where the
 * parameter is inside (a projected-gradient convention: the optimiser keeps colours in [0, 1]). */
HD real ups_color(real c) { return r_clamp(c, RC(0.0), RC(1.0)); }
HD void ups_color_vjp(real c, real v_out, real *v_c) {
  if (c >= 0 && c <= 1) *v_c += v_out;
}

/* ------------------------------------------------------------------ bound mode */

/* One binding term of the mean: w (x_q + F_q (X - X_q)). */
HD v3 ups_bind_mean_term(real w, v3 xq, m3 fq, v3 rest_g, v3 rest_q) {
  return v3_scale(v3_add(xq, m3_mul_v(fq, v3_sub(rest_g, rest_q))), w);
}
HD void ups_bind_mean_term_vjp(real w, v3 rest_g, v3 rest_q, v3 v_mu, v3 *v_xq, m3 *v_fq) {
  if (v_xq) v3_accum(v_xq, v3_scale(v_mu, w));
  if (v_fq) m3_accum(v_fq, m3_outer(v3_scale(v_mu, w), v3_sub(rest_g, rest_q)));
}

/* ------------------------------------------------------------------ the density kernel (cubic B-spline) */

/* Radial profile f(q) of the cubic B-spline (M4) kernel, support q < 2 (q = r / h), C2:
 *   f = 1 - 1.5 q^2 + 0.75 q^3 (q < 1),  0.25 (2 - q)^3 (1 <= q < 2),  0 beyond.
 * a(q) = f'(q) / q and b(q) = a'(q) / q give the gradient and Hessian without dividing by r:
 *   grad W(r) = a(q) / h^2 r,   Hess W(r) = a(q) / h^2 I + b(q) / h^4 r r^T.
 * The normalising constant is left out: densities are divided by the same kernel summed over a cubic lattice
 * with the particle spacing (ups_lattice_sum), so that a filled lattice has density exactly 1. */
HD real ups_kernel_f(real q) {
  if (q < 1) return RC(1.0) - q * q * (RC(1.5) - RC(0.75) * q);
  if (q < 2) {
    real u = 2 - q;
    return RC(0.25) * u * u * u;
  }
  return 0;
}
HD real ups_kernel_a(real q) {
  if (q < 1) return RC(-3.0) + RC(2.25) * q;
  if (q < 2) {
    real u = 2 - q;
    return RC(-0.75) * u * u / q;
  }
  return 0;
}
/* b(q) r r^T: for q < 1, b = 2.25 / q, so the product is 2.25 |r| r^T r / h... evaluated as
 * (2.25 / q) (r r^T) only for q > 0 (it tends to 0 at r = 0). */
HD real ups_kernel_b(real q) {
  if (q <= 0) return 0;
  if (q < 1) return RC(2.25) / q;
  if (q < 2) return RC(0.75) * (2 - q) * (q + 2) / (q * q * q);
  return 0;
}
/* Value, gradient (with respect to the evaluation point y, r = y - x_q) and Hessian of f(|r| / h). */
HD real ups_kernel_value(v3 r, real inv_h) { return ups_kernel_f(v3_norm(r) * inv_h); }
HD v3 ups_kernel_grad(v3 r, real inv_h) {
  real q = v3_norm(r) * inv_h;
  return v3_scale(r, ups_kernel_a(q) * inv_h * inv_h);
}
HD m3 ups_kernel_hess(v3 r, real inv_h) {
  real q = v3_norm(r) * inv_h;
  real ih2 = inv_h * inv_h;
  m3 h = m3_scalar(ups_kernel_a(q) * ih2);
  return m3_axpy(h, ups_kernel_b(q) * ih2 * ih2, m3_outer(r, r));
}

/* ------------------------------------------------------------------ runtime mode: density field */

typedef struct {
  real inv_h;       /* 1 / smoothing length */
  real inv_norm;    /* 1 / lattice sum */
  real support2;    /* (2 h)^2 */
} ups_field;

/* phi(y) = sum_q f(|y - x_q| / h) / S0 and its gradient g(y). pts: [n, 3] positions of the runtime particles. */
HD void ups_density_at(v3 y, const real *pts, ups_grid gr, ups_field fd, real *phi_out, v3 *g_out) {
  real phi = 0;
  v3 g = v3_zero();
  ups_nbr_iter it = ups_nbr_begin(gr, y);
  int q;
  while (ups_nbr_next(gr, &it, &q)) {
    v3 r = v3_sub(y, v3_load(pts + 3 * (size_t)q));
    real r2 = v3_norm2(r);
    if (r2 >= fd.support2) continue;
    real qq = r_sqrt(r2) * fd.inv_h;
    phi += ups_kernel_f(qq);
    g = v3_axpy(g, ups_kernel_a(qq) * fd.inv_h * fd.inv_h, r);
  }
  *phi_out = phi * fd.inv_norm;
  *g_out = v3_scale(g, fd.inv_norm);
}

/* ------------------------------------------------------------------ runtime mode: per-particle frame */

typedef struct {
  real thr, band;      /* surface weight: 1 for phi <= thr, 0 for phi >= thr + band (smootherstep between) */
  real level;          /* iso-level of the surface (0.5: the boundary of the volume the particles fill) */
  real eps;            /* normal regularisation (1 / length) */
  real dmax;           /* saturation of the offset to the iso-surface (length) */
  real radius;         /* radius of the children's disc (length) */
} ups_rt_shape;

typedef struct {
  v3 n;        /* regularised outward normal  -g / sqrt(|g|^2 + eps^2) */
  v3 base;     /* particle moved to the iso-surface: x + delta n */
  v3 t1, t2;   /* tangent directions */
  real s;      /* surface weight in [0, 1] */
  real delta;  /* offset along n */
} ups_rt_frame;

/* From the density phi and its gradient g at a particle x with deformation gradient F and fixed unit reference
 * direction e (material-attached: the tangent frame follows F e, so a rigid motion rotates it exactly). */
HD ups_rt_frame ups_rt_frame_eval(real phi, v3 g, v3 x, m3 f, v3 e, ups_rt_shape sh) {
  ups_rt_frame o;
  real nn = r_sqrt(v3_norm2(g) + sh.eps * sh.eps);
  o.n = v3_scale(g, RC(-1.0) / nn);
  o.s = ups_smootherstep((sh.thr + sh.band - phi) / sh.band);
  real z = (phi - sh.level) / (nn * sh.dmax);
  o.delta = sh.dmax * ups_tanh(z);
  o.base = v3_axpy(x, o.delta, o.n);
  v3 ep = m3_mul_v(f, e);
  v3 v = v3_axpy(ep, -v3_dot(o.n, ep), o.n);
  real l = r_sqrt(v3_norm2(v) + UPS_TANGENT_EPS * UPS_TANGENT_EPS);
  o.t1 = v3_scale(v, RC(1.0) / l);
  o.t2 = v3_cross(o.n, o.t1);
  return o;
}

/* Cotangents of the frame's outputs -> phi, g, x, F. */
HD void ups_rt_frame_vjp(real phi, v3 g, v3 x, m3 f, v3 e, ups_rt_shape sh, v3 v_n_in, v3 v_base, v3 v_t1_in,
                         v3 v_t2, real v_s, real *v_phi, v3 *v_g, v3 *v_x, m3 *v_f) {
  (void)x;
  /* recompute the forward intermediates */
  real nn = r_sqrt(v3_norm2(g) + sh.eps * sh.eps);
  v3 n = v3_scale(g, RC(-1.0) / nn);
  real u = (sh.thr + sh.band - phi) / sh.band;
  real z = (phi - sh.level) / (nn * sh.dmax);
  real th = ups_tanh(z);
  real delta = sh.dmax * th;
  v3 ep = m3_mul_v(f, e);
  real ne = v3_dot(n, ep);
  v3 v = v3_axpy(ep, -ne, n);
  real l = r_sqrt(v3_norm2(v) + UPS_TANGENT_EPS * UPS_TANGENT_EPS);
  v3 t1 = v3_scale(v, RC(1.0) / l);

  v3 v_n = v_n_in, v_t1 = v_t1_in;
  /* base = x + delta n */
  if (v_x) v3_accum(v_x, v_base);
  real v_delta = v3_dot(v_base, n);
  v_n = v3_axpy(v_n, delta, v_base);
  /* t2 = n x t1 */
  v3_cross_vjp(n, t1, v_t2, &v_n, &v_t1);
  /* t1 = v / l,  l = sqrt(|v|^2 + eps^2) */
  v3 v_v = v3_axpy(v3_scale(v_t1, RC(1.0) / l), -v3_dot(v, v_t1) / (l * l * l), v);
  /* v = ep - (n . ep) n */
  real nvv = v3_dot(n, v_v);
  v3 v_ep = v3_axpy(v_v, -nvv, n);
  v_n = v3_axpy(v3_axpy(v_n, -nvv, ep), -ne, v_v);
  /* ep = F e */
  if (v_f) m3_accum(v_f, m3_outer(v_ep, e));
  /* delta = dmax tanh(z), z = (phi - level) / (nn dmax) */
  real v_z = v_delta * sh.dmax * (RC(1.0) - th * th);
  real v_nn = -v_z * z / nn;
  real vphi = v_z / (nn * sh.dmax);
  /* s = smootherstep(u), u = (thr + band - phi) / band */
  vphi += -v_s * ups_smootherstep_deriv(u) / sh.band;
  /* n = -g / nn */
  v3 vg = v3_scale(v_n, RC(-1.0) / nn);
  v_nn += v3_dot(g, v_n) / (nn * nn);
  /* nn = sqrt(|g|^2 + eps^2) */
  vg = v3_axpy(vg, v_nn / nn, g);
  if (v_phi) *v_phi += vphi;
  if (v_g) v3_accum(v_g, vg);
}

/* Child j's position on the tangent disc (Vogel spiral, rotated by a per-particle phase). */
HD void ups_child_offset(int j, int nchildren, real phase, real *a, real *b) {
  real rho = r_sqrt((RC(j) + RC(0.5)) / RC(nchildren));
  real th = RC(j) * UPS_GOLDEN_ANGLE + phase;
  *a = rho * r_cos(th);
  *b = rho * r_sin(th);
}
HD v3 ups_child_mean(ups_rt_frame fr, real radius, real a, real b) {
  return v3_axpy(v3_axpy(fr.base, radius * a, fr.t1), radius * b, fr.t2);
}

/* ================================================================== per-element entry points
 * One struct of pointers and scalars describes a frame; the backends loop over elements and call these. */

typedef struct {
  /* particles (all N) */
  const real *x;        /* [N, 3] current positions */
  const real *f;        /* [N, 9] deformation gradients, row-major */
  const real *rest;     /* [N, 3] rest positions X_p */
  /* bound Gaussians [0, nb): CSR Gaussian -> particles */
  int64_t nb;
  const int64_t *bstart; /* [nb + 1] */
  const int *bidx;       /* [nnz] particle */
  const real *bw;        /* [nnz] normalised weight */
  const real *grest;     /* [nb, 3] rest position of the sample */
  const real *gnormal;   /* [nb, 3] rest normal (0 for the isotropic particles mode) */
  const real *gunit;     /* [nb] world length of one unit of sigma0 */
  const real *gsig0;     /* [nb, 6] a trained rest covariance per Gaussian (splat objects), or NULL; a row with a
                            zero diagonal: the disc Sigma0 of sigma0 and thickness */
  /* transposed CSR: particle -> binding slots (ascending Gaussian) */
  const int64_t *pstart; /* [N + 1] */
  const int64_t *pslot;  /* [nnz] slot in the Gaussian CSR */
  const int64_t *pgauss; /* [nnz] Gaussian of that slot */
  /* runtime Gaussians [nb, nb + nrt * children) */
  int nrt;
  const int *rt_index;   /* [nrt] particle index */
  const real *rt_dir;    /* [nrt, 3] fixed unit reference direction */
  const real *rt_phase;  /* [nrt] phase of the child spiral */
  real *rt_pos;          /* [nrt, 3] gathered positions (what the grid indexes) */
  real *rt_pg;           /* [nrt, 4] phi, grad phi */
  real *rt_vpg;          /* [nrt, 4] cotangents of phi, grad phi (backward) */
  int children;
  real rt_unit;          /* world length of one unit of sigma0 for runtime children */
  ups_rt_shape shape;
  ups_field field;
  ups_grid grid;
  /* parameters */
  real sigma0, thick, o_logit;
  const real *cparam;    /* [M, 3] colours */
  const real *bparam;    /* [M] opacity logit offsets */
  /* forward outputs */
  real *means, *covs, *colors, *opac; /* [M, 3], [M, 6], [M, 3], [M] */
  /* backward */
  const real *v_means, *v_covs, *v_colors, *v_opac; /* [M, ...] or NULL */
  real *v_x, *v_f;         /* [N, 3], [N, 9] accumulated, or NULL */
  real *v_cparam, *v_bparam; /* [M, 3], [M] accumulated, or NULL */
  /* SH (sh_k > 0: splat objects with bands above degree 0; upsample.h, ups_gaussians.sh) */
  int sh_k;                /* coefficients per Gaussian */
  const real *shbase;      /* [nb, sh_k, 3] trained bands and the DC less its colour's (zero rows: none) */
  const real *gframe0;     /* [nb, 9] rest frame R0 (zero rows: no frame, the output row stays the identity) */
  real *sh, *frames;       /* [M, sh_k, 3], [M, 9] outputs */
  const real *v_sh, *v_frames; /* backward: their cotangents, or NULL */
  const real *v_colors_rgb;    /* backward with SH: the colours' own cotangent (or NULL), added to v_sh's */
  real *vcol;              /* [M, 3] backward with SH: the colours' total cotangent (v_colors points to it) */
  real *scratch_vf;        /* [nb, 9] cotangent of each bound Gaussian's averaged F */
  real *partial;           /* [nb + nrt, 3] per-element cotangents of (sigma0, thickness, logit opacity) */
} ups_args;

HD int ups_particle_finite(ups_args a, int64_t p) {
  return v3_isfinite(v3_load(a.x + 3 * p)) && m3_isfinite(m3_load(a.f + 9 * p));
}
HD int ups_gaussian_finite(ups_args a, int64_t g) {
  for (int k = 0; k < 3; ++k)
    if (!r_isfinite(a.means[3 * g + k]) || !r_isfinite(a.colors[3 * g + k])) return 0;
  for (int k = 0; k < 6; ++k)
    if (!r_isfinite(a.covs[6 * g + k])) return 0;
  return r_isfinite(a.opac[g]);
}

/* ---- SH frames and coefficients (splat objects with bands above degree 0) */

#define UPS_SH_C0 RC(0.28209479177387814)

/* Gaussian g's rest frame R0, if it has one (a bound SH splat; a rotation's first row is never zero). */
HD int ups_sh_rest_frame(ups_args a, int64_t g, m3 *r0) {
  if (!a.gframe0 || g >= a.nb) return 0;
  const real *q = a.gframe0 + 9 * g;
  if (q[0] == 0 && q[1] == 0 && q[2] == 0) return 0;
  *r0 = m3_load(q);
  return 1;
}

/* The frame the SH are evaluated in, Q = R R0 with R the rotation of Ft's polar decomposition (Ft = R S): the rest
 * orientation carried by the material's local rotation (PhysGaussian, Xie et al. 2024, eq. 11: the view direction is
 * turned back by R^T). Its vjp: v_R = v_Q R0^T, then through the polar decomposition (core/linalg.h). */
HD m3 ups_sh_frame(m3 ft, m3 r0) {
  m3 r, sm;
  m3_polar(ft, &r, &sm);
  return m3_mul(r, r0);
}
HD void ups_sh_frame_vjp(m3 ft, m3 r0, m3 v_q, m3 *v_ft) {
  m3 r, sm;
  m3_polar(ft, &r, &sm);
  m3_polar_vjp(ft, r, sm, m3_mul_bt(v_q, r0), m3_zero(), v_ft);
}

/* Gaussian g's SH: its base plus the degree-0 term of its colour, sh_0 = base_0 + (c - 1/2) / C0 (the 3DGS colour
 * c = C0 sh_0 + 1/2 read backwards), so a colour parameter still learns and a splat starts at its trained value. */
HD void ups_sh_forward_one(ups_args a, int64_t g) {
  const size_t kb = 3 * (size_t)a.sh_k;
  real *o = a.sh + kb * (size_t)g;
  for (size_t k = 0; k < kb; ++k) o[k] = g < a.nb ? a.shbase[kb * (size_t)g + k] : RC(0.0);
  for (int c = 0; c < 3; ++c) o[c] += (a.colors[3 * g + c] - RC(0.5)) / UPS_SH_C0;
}
/* Its adjoint to the colour: v_c = v_sh_0 / C0, added to the colour's own cotangent. */
HD void ups_sh_backward_one(ups_args a, int64_t g) {
  for (int c = 0; c < 3; ++c) {
    real v = a.v_colors_rgb ? a.v_colors_rgb[3 * g + c] : RC(0.0);
    if (a.v_sh) v += a.v_sh[3 * (size_t)a.sh_k * (size_t)g + c] / UPS_SH_C0;
    a.vcol[3 * g + c] = v;
  }
}

/* ---- bound mode */

/* mu = sum w (x_q + F_q (X - X_q)), Ft = sum w F_q; Sigma = Ft Sigma0 Ft^T. */
HD void ups_bound_blend(ups_args a, int64_t g, v3 *mu, m3 *ft) {
  v3 rg = v3_load(a.grest + 3 * g);
  v3 m = v3_zero();
  m3 fa = m3_zero();
  for (int64_t s = a.bstart[g]; s < a.bstart[g + 1]; ++s) {
    int q = a.bidx[s];
    real w = a.bw[s];
    m3 fq = m3_load(a.f + 9 * (size_t)q);
    m = v3_add(m, ups_bind_mean_term(w, v3_load(a.x + 3 * (size_t)q), fq, rg, v3_load(a.rest + 3 * (size_t)q)));
    fa = m3_axpy(fa, w, fq);
  }
  *mu = m;
  *ft = fa;
}

/* The Gaussian's own rest covariance (a splat object's trained one), if it has one. */
HD int ups_explicit_sigma0(ups_args a, int64_t g, m3 *s0) {
  if (!a.gsig0) return 0;
  const real *q = a.gsig0 + 6 * g;
  if (q[0] == 0 && q[3] == 0 && q[5] == 0) return 0;
  *s0 = ups_sym6_load(q);
  return 1;
}

HD void ups_bound_forward_one(ups_args a, int64_t g) {
  v3 mu;
  m3 ft;
  ups_bound_blend(a, g, &mu, &ft);
  m3 s0;
  if (!ups_explicit_sigma0(a, g, &s0)) s0 = ups_sigma0(a.sigma0 * a.gunit[g], a.thick, v3_load(a.gnormal + 3 * g));
  v3_store(mu, a.means + 3 * g);
  ups_sym6_store(ups_cov_push(ft, s0), a.covs + 6 * g);
  m3 r0;
  if (a.frames && ups_sh_rest_frame(a, g, &r0)) m3_store(ups_sh_frame(ft, r0), a.frames + 9 * g);
  for (int k = 0; k < 3; ++k) a.colors[3 * g + k] = ups_color(a.cparam[3 * g + k]);
  a.opac[g] = ups_opacity(a.o_logit, a.bparam[g], RC(1.0));
}

/* Stage 1 of the bound backward: per Gaussian, the cotangent of Ft (kept for the particle gather), the
 * parameter partials, and the per-Gaussian parameters' gradients. */
HD void ups_bound_backward_gauss_one(ups_args a, int64_t g) {
  real part[3] = {0, 0, 0};
  m3 v_ft = m3_zero(), r0;
  const int framed = a.v_frames && ups_sh_rest_frame(a, g, &r0);
  v3 mu;
  m3 ft;
  if (a.v_covs || framed) ups_bound_blend(a, g, &mu, &ft);
  if (framed) ups_sh_frame_vjp(ft, r0, m3_load(a.v_frames + 9 * g), &v_ft);
  if (a.v_covs) {
    m3 gg = ups_sym6_cotangent(a.v_covs + 6 * g);
    m3 v_s0 = m3_zero(), s0;
    if (ups_explicit_sigma0(a, g, &s0)) { /* a trained covariance: no sigma0 or thickness dependence */
      ups_cov_push_vjp(ft, s0, gg, &v_ft, &v_s0);
    } else {
      real sig = a.sigma0 * a.gunit[g];
      v3 n = v3_load(a.gnormal + 3 * g);
      s0 = ups_sigma0(sig, a.thick, n);
      ups_cov_push_vjp(ft, s0, gg, &v_ft, &v_s0);
      real v_sig = 0;
      ups_sigma0_vjp(sig, a.thick, n, v_s0, &v_sig, &part[1], (v3 *)0);
      part[0] = v_sig * a.gunit[g];
    }
  }
  m3_store(v_ft, a.scratch_vf + 9 * g);
  if (a.v_opac) {
    real *vb = a.v_bparam ? a.v_bparam + g : (real *)0;
    ups_opacity_vjp(a.o_logit, a.bparam[g], RC(1.0), a.v_opac[g], &part[2], vb, (real *)0);
  }
  if (a.v_colors && a.v_cparam)
    for (int k = 0; k < 3; ++k) ups_color_vjp(a.cparam[3 * g + k], a.v_colors[3 * g + k], a.v_cparam + 3 * g + k);
  for (int k = 0; k < 3; ++k) a.partial[3 * g + k] = part[k];
}

/* Stage 2: per particle, gather over the Gaussians bound to it (fixed order: no atomics, deterministic). */
HD void ups_bound_backward_particle_one(ups_args a, int64_t p) {
  if (a.pstart[p] == a.pstart[p + 1]) return;
  v3 vx = v3_zero();
  m3 vf = m3_zero();
  v3 rp = v3_load(a.rest + 3 * p);
  for (int64_t e = a.pstart[p]; e < a.pstart[p + 1]; ++e) {
    int64_t s = a.pslot[e], g = a.pgauss[e];
    real w = a.bw[s];
    if (a.v_means) ups_bind_mean_term_vjp(w, v3_load(a.grest + 3 * g), rp, v3_load(a.v_means + 3 * g), &vx, &vf);
    vf = m3_axpy(vf, w, m3_load(a.scratch_vf + 9 * g));
  }
  if (a.v_x) {
    real *o = a.v_x + 3 * p;
    o[0] += vx.x;
    o[1] += vx.y;
    o[2] += vx.z;
  }
  if (a.v_f) {
    real *o = a.v_f + 9 * p;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) o[3 * i + j] += vf.m[i][j];
  }
}

/* ---- runtime mode */

HD void ups_rt_gather_one(ups_args a, int64_t i) {
  int p = a.rt_index[i];
  for (int k = 0; k < 3; ++k) a.rt_pos[3 * i + k] = a.x[3 * (size_t)p + k];
}

/* Cell key and bucket of runtime particle i (the position must pass ups_cell_ok). */
HD void ups_rt_cell_one(ups_args a, int64_t i, uint64_t *key, uint32_t *bucket) {
  v3 y = v3_load(a.rt_pos + 3 * i);
  int ci = ups_cell_coord(y.x, a.grid.inv_cell), cj = ups_cell_coord(y.y, a.grid.inv_cell),
      ck = ups_cell_coord(y.z, a.grid.inv_cell);
  *key = pl_cell_key(ci, cj, ck);
  *bucket = ups_cell_hash(ci, cj, ck, a.grid.nbuckets);
}

HD void ups_rt_density_one(ups_args a, int64_t i) {
  real phi;
  v3 g;
  ups_density_at(v3_load(a.rt_pos + 3 * i), a.rt_pos, a.grid, a.field, &phi, &g);
  a.rt_pg[4 * i] = phi;
  a.rt_pg[4 * i + 1] = g.x;
  a.rt_pg[4 * i + 2] = g.y;
  a.rt_pg[4 * i + 3] = g.z;
}

HD ups_rt_frame ups_rt_frame_of(ups_args a, int64_t i) {
  int p = a.rt_index[i];
  v3 g = v3_make(a.rt_pg[4 * i + 1], a.rt_pg[4 * i + 2], a.rt_pg[4 * i + 3]);
  return ups_rt_frame_eval(a.rt_pg[4 * i], g, v3_load(a.x + 3 * (size_t)p), m3_load(a.f + 9 * (size_t)p),
                           v3_load(a.rt_dir + 3 * i), a.shape);
}

HD void ups_rt_forward_one(ups_args a, int64_t i) {
  ups_rt_frame fr = ups_rt_frame_of(a, i);
  m3 s0 = ups_sigma0(a.sigma0 * a.rt_unit, a.thick, fr.n);
  real c6[6];
  ups_sym6_store(s0, c6);
  for (int j = 0; j < a.children; ++j) {
    int64_t g = a.nb + i * (int64_t)a.children + j;
    real ca, cb;
    ups_child_offset(j, a.children, a.rt_phase[i], &ca, &cb);
    v3_store(ups_child_mean(fr, a.shape.radius, ca, cb), a.means + 3 * g);
    for (int k = 0; k < 6; ++k) a.covs[6 * g + k] = c6[k];
    for (int k = 0; k < 3; ++k) a.colors[3 * g + k] = ups_color(a.cparam[3 * g + k]);
    a.opac[g] = ups_opacity(a.o_logit, a.bparam[g], fr.s);
  }
}

/* Stage A of the runtime backward: per particle, the children's cotangents -> the cotangents of phi and grad
 * phi (kept for stage B), of x and F (direct terms), and the parameter partials. */
HD void ups_rt_backward_particle_one(ups_args a, int64_t i) {
  int p = a.rt_index[i];
  real phi = a.rt_pg[4 * i];
  v3 g = v3_make(a.rt_pg[4 * i + 1], a.rt_pg[4 * i + 2], a.rt_pg[4 * i + 3]);
  v3 x = v3_load(a.x + 3 * (size_t)p);
  m3 f = m3_load(a.f + 9 * (size_t)p);
  v3 e = v3_load(a.rt_dir + 3 * i);
  ups_rt_frame fr = ups_rt_frame_eval(phi, g, x, f, e, a.shape);
  real sig = a.sigma0 * a.rt_unit;
  v3 v_n = v3_zero(), v_base = v3_zero(), v_t1 = v3_zero(), v_t2 = v3_zero();
  real v_s = 0, part[3] = {0, 0, 0};
  m3 v_s0 = m3_zero();
  for (int j = 0; j < a.children; ++j) {
    int64_t g_ = a.nb + i * (int64_t)a.children + j;
    real ca, cb;
    ups_child_offset(j, a.children, a.rt_phase[i], &ca, &cb);
    if (a.v_means) {
      v3 vm = v3_load(a.v_means + 3 * g_);
      v_base = v3_add(v_base, vm);
      v_t1 = v3_axpy(v_t1, a.shape.radius * ca, vm);
      v_t2 = v3_axpy(v_t2, a.shape.radius * cb, vm);
    }
    if (a.v_covs) m3_accum(&v_s0, ups_sym6_cotangent(a.v_covs + 6 * g_));
    if (a.v_opac) {
      real *vb = a.v_bparam ? a.v_bparam + g_ : (real *)0;
      ups_opacity_vjp(a.o_logit, a.bparam[g_], fr.s, a.v_opac[g_], &part[2], vb, &v_s);
    }
    if (a.v_colors && a.v_cparam)
      for (int k = 0; k < 3; ++k)
        ups_color_vjp(a.cparam[3 * g_ + k], a.v_colors[3 * g_ + k], a.v_cparam + 3 * g_ + k);
  }
  real v_sig = 0;
  ups_sigma0_vjp(sig, a.thick, fr.n, v_s0, &v_sig, &part[1], &v_n);
  part[0] = v_sig * a.rt_unit;
  real v_phi = 0;
  v3 v_g = v3_zero(), v_x = v3_zero();
  m3 v_f = m3_zero();
  ups_rt_frame_vjp(phi, g, x, f, e, a.shape, v_n, v_base, v_t1, v_t2, v_s, &v_phi, &v_g, &v_x, &v_f);
  a.rt_vpg[4 * i] = v_phi;
  a.rt_vpg[4 * i + 1] = v_g.x;
  a.rt_vpg[4 * i + 2] = v_g.y;
  a.rt_vpg[4 * i + 3] = v_g.z;
  if (a.v_x) {
    real *o = a.v_x + 3 * (size_t)p;
    o[0] += v_x.x;
    o[1] += v_x.y;
    o[2] += v_x.z;
  }
  if (a.v_f) {
    real *o = a.v_f + 9 * (size_t)p;
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) o[3 * r + c] += v_f.m[r][c];
  }
  for (int k = 0; k < 3; ++k) a.partial[3 * (a.nb + i) + k] = part[k];
}

/* Stage B: the density field's adjoint as a gather over neighbours (symmetric neighbour relation):
 *   v_x_k += sum_q [(v_phi_k + v_phi_q) grad W(x_k - x_q) + Hess W(x_k - x_q) (v_g_k - v_g_q)] / S0. */
HD void ups_rt_backward_pair_one(ups_args a, int64_t i) {
  v3 y = v3_load(a.rt_pos + 3 * i);
  real vphi_i = a.rt_vpg[4 * i];
  v3 vg_i = v3_make(a.rt_vpg[4 * i + 1], a.rt_vpg[4 * i + 2], a.rt_vpg[4 * i + 3]);
  ups_grid gr = a.grid;
  v3 acc = v3_zero();
  ups_nbr_iter it = ups_nbr_begin(gr, y);
  int q;
  while (ups_nbr_next(gr, &it, &q)) {
    if (q == (int)i) continue;
    v3 r = v3_sub(y, v3_load(a.rt_pos + 3 * (size_t)q));
    if (v3_norm2(r) >= a.field.support2) continue;
    v3 vg_q = v3_make(a.rt_vpg[4 * (size_t)q + 1], a.rt_vpg[4 * (size_t)q + 2], a.rt_vpg[4 * (size_t)q + 3]);
    acc = v3_axpy(acc, vphi_i + a.rt_vpg[4 * (size_t)q], ups_kernel_grad(r, a.field.inv_h));
    acc = v3_add(acc, m3_mul_v(ups_kernel_hess(r, a.field.inv_h), v3_sub(vg_i, vg_q)));
  }
  if (a.v_x) {
    real *o = a.v_x + 3 * (size_t)a.rt_index[i];
    o[0] += acc.x * a.field.inv_norm;
    o[1] += acc.y * a.field.inv_norm;
    o[2] += acc.z * a.field.inv_norm;
  }
}

#endif /* PL_UPSAMPLE_KERNELS_H */
