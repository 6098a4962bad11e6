/* materials.h: constitutive models of the MLS-MPM solver, once, for both backends (HD), each with its
 * adjoint (_vjp, accumulating) beside it.
 *
 *   Kirchhoff stress tau(F, C; params)       mpm_kirchhoff / mpm_kirchhoff_vjp
 *   plastic projection of the trial F        mpm_plastic / mpm_plastic_vjp
 *   user parameters -> kernel parameters     mpm_params_from_user / mpm_params_from_user_vjp
 *
 * Models (DESIGN.md section 4; the math is written out in docs/mpm.md, the adjoints in docs/adjoints.md):
 *   fixed corotated   tau = 2 mu (F - R) F^T + lambda (J - 1) J I                         (Stomakhin 2012)
 *   neo-Hookean       tau = mu (F F^T - I) + lambda ln J I
 *   StVK-Hencky       tau = U (2 mu ln S + lambda tr(ln S) I) U^T   (von Mises, Drucker-Prager, viscoplastic)
 *   Newtonian fluid   tau = kappa J (J - 1) I + J eta (C + C^T - 2/3 tr C I),  F kept as J^(1/3) I
 * Return maps on the Hencky strain e = ln S of the trial F = U S V^T (e^ = e - tr(e)/3 I,
 * n = sqrt(|e^|^2 + eps^2)):
 *   von Mises         yield when n > r = tau_Y / (2 mu); e <- e - k (n - r) e^/n with the Perzyna factor
 *                     k = 2 mu dt / (2 mu dt + eta) (k = 1 when eta = 0: rate independent)
 *   viscoplastic      Bingham (Herschel-Bulkley with exponent 1, Yue et al. 2015): the same return with the
 *                     viscosity mandatory; in this Hencky setting the Bingham update and the Perzyna
 *                     von Mises update coincide
 *   Drucker-Prager    Klar et al. 2016 with the cone apex shifted by cohesion and a volume correction
 *                     (the plastic state q stores the volume gained at the apex, Tampubolon et al. 2017); the
 *                     cone fitted to Mohr-Coulomb in plane strain, triaxial compression or simple shear
 *                     (MPM_DP_CONE_*)
 *   fluid             F <- J^(1/3) I
 *
 * Everything here is valid C11 and CUDA C++ (no compound literals, designated initialisers or VLAs). */
#ifndef PL_MPM_MATERIALS_H
#define PL_MPM_MATERIALS_H

#include "core/linalg.h"

/* Constitutive models (the order of the scene file's `model` choices). */
enum {
  MPM_FIXED_COROTATED = 0,
  MPM_NEO_HOOKEAN = 1,
  MPM_STVK_VON_MISES = 2,
  MPM_DRUCKER_PRAGER = 3,
  MPM_NEWTONIAN_FLUID = 4,
  MPM_VISCOPLASTIC = 5,
  MPM_MODEL_COUNT = 6
};

/* How the Drucker-Prager cone ||dev tau|| = 3 alpha p is fitted to the Mohr-Coulomb friction angle phi:
 *   SHEAR (default): alpha = sqrt(2) tan(phi) / 3, sqrt(J2) = tan(phi) p (the mu = tan(phi) convention of
 *     granular rheology): with the isochoric coaxial return a layer in steady simple shear has its principal
 *     axes at 45 degrees to the shear plane and zero normal deviatoric stress on it, so the plane's
 *     shear/normal stress ratio is sqrt(J2) / p = tan(phi). Of the three, the one whose column collapses run
 *     out closest to the experiments at the finer grid (tests/physics, docs/mpm.md "Against experiments").
 *   PLANE_STRAIN: alpha = sqrt(2) sin(phi) / 3, Mohr-Coulomb's sqrt(J2) = sin(phi) p at Lode angle 0 (plane
 *     flow with the isochoric return): 0.87x the shear cone at 30 deg; runs out 20-30% long at grid 120.
 *   COMPRESSION: alpha = sqrt(2/3) 2 sin(phi) / (3 - sin(phi)), the cone through Mohr-Coulomb's triaxial
 *     compression meridian (Klar et al. 2016, PAC-NeRF, PhysGaussian): 1.2x the shear cone at 30 deg, runs
 *     out about 30% short. */
enum { MPM_DP_CONE_SHEAR = 0, MPM_DP_CONE_PLANE_STRAIN = 1, MPM_DP_CONE_COMPRESSION = 2 };

/* Which branch a plastic projection took (tests use it to pick points away from the yield surface). */
enum { MPM_BRANCH_ELASTIC = 0, MPM_BRANCH_YIELD = 1, MPM_BRANCH_APEX = 2 };

/* The user-facing, differentiable material parameters (SI units; friction angle in degrees). Density is
 * not here: it enters through the particle mass (m = rho V0). */
typedef struct {
  real E, nu;           /* Young's modulus (Pa), Poisson's ratio */
  real yield_stress;    /* von Mises / Bingham yield stress (Pa) */
  real viscosity;       /* dynamic viscosity (Pa s) */
  real friction_angle;  /* Drucker-Prager friction angle (degrees) */
  real cohesion;        /* Drucker-Prager cohesion (Pa) */
  real bulk_modulus;    /* fluid bulk modulus (Pa) */
  int cone;             /* MPM_DP_CONE_* (a choice, not differentiated) */
  real mui_delta;       /* Drucker-Prager mu(I): the friction's rise mu_2 - mu_s at large I (0: rate-independent) */
  real mui_i0;          /* mu(I): the inertial number I0 of half the rise */
  real grain_size;      /* mu(I): grain diameter d (m) */
  real grain_density;   /* mu(I): grain density rho_s (kg/m^3) */
} mpm_uparams;

/* The parameters the kernels use, derived from mpm_uparams by mpm_params_from_user. */
typedef struct {
  real mu, lambda;      /* Lame parameters */
  real bulk;            /* fluid bulk modulus kappa */
  real viscosity;       /* eta */
  real yield_stress;    /* tau_Y */
  real alpha;           /* Drucker-Prager cone slope: sqrt(2) sin(phi) / 3, sqrt(2/3) 2 sin(phi) / (3 - sin(phi)) or
                         * sqrt(2) tan(phi) / 3 (MPM_DP_CONE_*) */
  real tr_apex;         /* trace of the Hencky strain at the cone apex: c cot(phi) / K, K = lambda + 2 mu / 3 */
  real mui_dalpha;      /* mu(I) on the shear cone: sqrt(2) (mu_2 - mu_s) / 3, the cone slope's rise (0: off) */
  real mui_i0;          /* mu(I): I0 */
  real mui_scale;       /* mu(I): d sqrt(rho_s), so I = gdot mui_scale / sqrt(p) (mpm_mui_alpha) */
} mpm_mparams;

/* A material as the kernels see it. */
typedef struct {
  int model;
  mpm_mparams p;
} mpm_kmaterial;

/* eps inside |e^| = sqrt(|e^|^2 + eps^2) (keeps the return maps finite for a purely volumetric strain) */
#define MPM_NORM_EPS RC(1e-10)

HD mpm_mparams mpm_mparams_zero(void) {
  mpm_mparams p;
  p.mu = p.lambda = p.bulk = p.viscosity = p.yield_stress = p.alpha = p.tr_apex = 0;
  p.mui_dalpha = p.mui_i0 = p.mui_scale = 0;
  return p;
}
HD void mpm_mparams_accum(mpm_mparams *a, mpm_mparams b) {
  a->mu += b.mu, a->lambda += b.lambda, a->bulk += b.bulk, a->viscosity += b.viscosity;
  a->yield_stress += b.yield_stress, a->alpha += b.alpha, a->tr_apex += b.tr_apex;
  a->mui_dalpha += b.mui_dalpha, a->mui_i0 += b.mui_i0, a->mui_scale += b.mui_scale;
}
HD mpm_uparams mpm_uparams_zero(void) {
  mpm_uparams u;
  u.E = u.nu = u.yield_stress = u.viscosity = u.friction_angle = u.cohesion = u.bulk_modulus = 0;
  u.cone = MPM_DP_CONE_SHEAR;
  u.mui_delta = u.mui_i0 = u.grain_size = u.grain_density = 0;
  return u;
}

/* ------------------------------------------------------------------ parameters */

HD real mpm_deg2rad(real d) { return d * (PL_PI / RC(180.0)); }

/* mu = E / (2 (1 + nu)), lambda = E nu / ((1 + nu)(1 - 2 nu)) */
HD void mpm_lame(real E, real nu, real *mu, real *lambda) {
  *mu = E / (RC(2.0) * (1 + nu));
  *lambda = E * nu / ((1 + nu) * (1 - RC(2.0) * nu));
}
HD void mpm_lame_vjp(real E, real nu, real v_mu, real v_lambda, real *v_E, real *v_nu) {
  real a = (1 + nu) * (1 - RC(2.0) * nu);
  *v_E += v_mu / (RC(2.0) * (1 + nu)) + v_lambda * nu / a;
  *v_nu += -v_mu * E / (RC(2.0) * (1 + nu) * (1 + nu)) + v_lambda * E * (1 + RC(2.0) * nu * nu) / (a * a);
}

/* Every field is derived whatever the model (the kernels read only what their model needs). */
HD mpm_mparams mpm_params_from_user(mpm_uparams u) {
  mpm_mparams p;
  mpm_lame(u.E, u.nu, &p.mu, &p.lambda);
  p.bulk = u.bulk_modulus;
  p.viscosity = u.viscosity;
  p.yield_stress = u.yield_stress;
  real phi = mpm_deg2rad(u.friction_angle), s = r_sin(phi), c = r_cos(phi);
  p.alpha = u.cone == MPM_DP_CONE_COMPRESSION ? r_sqrt(RC(2.0) / RC(3.0)) * RC(2.0) * s / (RC(3.0) - s)
            : u.cone == MPM_DP_CONE_SHEAR     ? r_sqrt(RC(2.0)) * s / (RC(3.0) * c)
                                              : r_sqrt(RC(2.0)) * s / RC(3.0);
  real kappa = u.E / (RC(3.0) * (1 - RC(2.0) * u.nu));
  p.tr_apex = u.cohesion * c / (s * kappa);
  /* mu(I) adds to mu = tan(phi), so it rides on the shear cone's alpha = sqrt(2) mu / 3 (mpm_create refuses it on
   * the other cones); its values are settings, not learnable */
  p.mui_dalpha = u.cone == MPM_DP_CONE_SHEAR && u.mui_delta > 0 ? r_sqrt(RC(2.0)) * u.mui_delta / RC(3.0) : RC(0.0);
  p.mui_i0 = u.mui_i0;
  p.mui_scale = u.grain_size * r_sqrt(u.grain_density);
  return p;
}
HD void mpm_params_from_user_vjp(mpm_uparams u, mpm_mparams v, mpm_uparams *vu) {
  mpm_lame_vjp(u.E, u.nu, v.mu, v.lambda, &vu->E, &vu->nu);
  vu->bulk_modulus += v.bulk;
  vu->viscosity += v.viscosity;
  vu->yield_stress += v.yield_stress;
  real phi = mpm_deg2rad(u.friction_angle), s = r_sin(phi), c = r_cos(phi);
  real dphi = mpm_deg2rad(RC(1.0));
  real k23 = r_sqrt(RC(2.0) / RC(3.0));
  /* d alpha / d phi: compression 2 k23 * 3 / (3 - s)^2 * cos; plane strain sqrt(2) / 3 * cos;
   * shear sqrt(2) / 3 * d tan / d phi = sqrt(2) / (3 cos^2) */
  real dalpha_dphi = u.cone == MPM_DP_CONE_COMPRESSION ? RC(6.0) * k23 / ((RC(3.0) - s) * (RC(3.0) - s)) * c
                     : u.cone == MPM_DP_CONE_SHEAR     ? r_sqrt(RC(2.0)) / (RC(3.0) * c * c)
                                                       : r_sqrt(RC(2.0)) / RC(3.0) * c;
  vu->friction_angle += v.alpha * dalpha_dphi * dphi;
  real kappa = u.E / (RC(3.0) * (1 - RC(2.0) * u.nu));
  real tr = u.cohesion * c / (s * kappa);
  vu->cohesion += v.tr_apex * c / (s * kappa);
  vu->friction_angle += v.tr_apex * (-u.cohesion / (s * s * kappa)) * dphi; /* d cot = -1/sin^2 */
  /* kappa = E / (3 - 6 nu): d kappa/dE = kappa/E, d kappa/d nu = 6 E / (3 - 6 nu)^2 */
  real dk_dnu = RC(6.0) * u.E / ((RC(3.0) - RC(6.0) * u.nu) * (RC(3.0) - RC(6.0) * u.nu));
  vu->E += v.tr_apex * (-tr / u.E);
  vu->nu += v.tr_apex * (-tr / kappa) * dk_dnu;
}

/* ------------------------------------------------------------------ helpers */

HD m3 mpm_add_diag(m3 a, real s) {
  a.m[0][0] += s;
  a.m[1][1] += s;
  a.m[2][2] += s;
  return a;
}

/* sigma^a with its divided differences, for functions g_i = e^b sigma_i^a (a, b symmetric in sigma):
 * (g_i - g_j)/(s_i - s_j) = e^b (s_i^a - s_j^a)/(s_i - s_j), whose limit is e^b a s^(a-1). */
HD void mpm_powfunc_diffs(const real s[3], const real g[3], real a, real eb, real dd[3], real sd[3]) {
  for (int i = 0; i < 3; ++i)
    for (int j = i + 1; j < 3; ++j) {
      int p = m3_pair_index(i, j);
      real mid = RC(0.5) * (s[i] + s[j]);
      dd[p] = eb * pl_divdiff(r_pow(s[i], a), r_pow(s[j], a), s[i], s[j], a * r_pow(mid, a - 1));
      sd[p] = pl_sumdiv(g[i], g[j], s[i], s[j]);
    }
}

/* ------------------------------------------------------------------ Kirchhoff stresses */

/* fixed corotated: tau = 2 mu (F - R) F^T + lambda (J - 1) J I */
HD m3 mpm_tau_corotated(m3 F, real mu, real lambda) {
  m3 R, S;
  m3_polar(F, &R, &S);
  real J = m3_det(F);
  return mpm_add_diag(m3_scale(m3_mul_bt(m3_sub(F, R), F), RC(2.0) * mu), lambda * (J - 1) * J);
}
HD void mpm_tau_corotated_vjp(m3 F, real mu, real lambda, m3 V, m3 *v_F, real *v_mu, real *v_lambda) {
  m3 R, S;
  m3_polar(F, &R, &S);
  real J = m3_det(F), trV = m3_trace(V);
  /* <V, F F^T> -> (V + V^T) F;  <V, R F^T> -> d/dF: V^T R, d/dR: V F */
  m3 Vs = m3_add(V, m3_transpose(V));
  m3_accum(v_F, m3_scale(m3_sub(m3_mul(Vs, F), m3_mul_at(V, R)), RC(2.0) * mu));
  m3 v_R = m3_scale(m3_mul(V, F), RC(-2.0) * mu);
  m3_polar_vjp(F, R, S, v_R, m3_zero(), v_F);
  m3_accum(v_F, m3_scale(m3_cofactor(F), lambda * (RC(2.0) * J - 1) * trV));
  *v_mu += RC(2.0) * m3_ddot(V, m3_mul_bt(m3_sub(F, R), F));
  *v_lambda += (J - 1) * J * trV;
}

/* neo-Hookean: tau = mu (F F^T - I) + lambda ln J I   (J > 0) */
HD m3 mpm_tau_neohookean(m3 F, real mu, real lambda) {
  real J = m3_det(F);
  return mpm_add_diag(m3_scale(m3_mul_bt(F, F), mu), lambda * r_log(J) - mu);
}
HD void mpm_tau_neohookean_vjp(m3 F, real mu, real lambda, m3 V, m3 *v_F, real *v_mu, real *v_lambda) {
  real J = m3_det(F), trV = m3_trace(V);
  m3 Vs = m3_add(V, m3_transpose(V));
  m3_accum(v_F, m3_scale(m3_mul(Vs, F), mu));
  m3_accum(v_F, m3_scale(m3_cofactor(F), lambda * trV / J));
  *v_mu += m3_ddot(V, m3_mul_bt(F, F)) - trV;
  *v_lambda += r_log(J) * trV;
}

/* StVK-Hencky: tau = U diag(2 mu e + lambda tr e) U^T, e = ln sigma   (sigma > 0) */
HD m3 mpm_tau_hencky(m3 F, real mu, real lambda) {
  m3 U, V;
  v3 sg;
  m3_svd(F, &U, &sg, &V);
  real e0 = r_log(sg.x), e1 = r_log(sg.y), e2 = r_log(sg.z), tr = e0 + e1 + e2;
  v3 h = v3_make(RC(2.0) * mu * e0 + lambda * tr, RC(2.0) * mu * e1 + lambda * tr, RC(2.0) * mu * e2 + lambda * tr);
  return m3_mul_bt(m3_mul(U, m3_diag(h)), U);
}
HD void mpm_tau_hencky_vjp(m3 F, real mu, real lambda, m3 Vt, m3 *v_F, real *v_mu, real *v_lambda) {
  m3 U, V;
  v3 sg;
  m3_svd(F, &U, &sg, &V);
  real s[3] = {sg.x, sg.y, sg.z};
  real e[3] = {r_log(s[0]), r_log(s[1]), r_log(s[2])};
  real tr = e[0] + e[1] + e[2];
  real h[3];
  for (int i = 0; i < 3; ++i) h[i] = RC(2.0) * mu * e[i] + lambda * tr;
  m3 jac;
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) jac.m[i][k] = ((i == k) ? RC(2.0) * mu + lambda : lambda) / s[k];
  real dd[3], ed[3];
  for (int i = 0; i < 3; ++i)
    for (int j = i + 1; j < 3; ++j) {
      int p = m3_pair_index(i, j);
      dd[p] = RC(2.0) * mu * pl_divdiff(e[i], e[j], s[i], s[j], RC(2.0) / (s[i] + s[j]));
      ed[p] = pl_sumdiv(h[j], -h[i], s[i], s[j]);
    }
  m3_svd_symfunc_vjp(U, V, jac, dd, ed, Vt, v_F);
  m3 W = m3_mul(m3_mul_at(U, Vt), U);
  for (int i = 0; i < 3; ++i) {
    *v_mu += W.m[i][i] * RC(2.0) * e[i];
    *v_lambda += W.m[i][i] * tr;
  }
}

/* Newtonian fluid: tau = kappa J (J - 1) I + J eta (C + C^T - 2/3 tr C I) */
HD m3 mpm_tau_fluid(m3 F, m3 C, real kappa, real eta) {
  real J = m3_det(F);
  m3 D = mpm_add_diag(m3_add(C, m3_transpose(C)), RC(-2.0) / RC(3.0) * m3_trace(C));
  return mpm_add_diag(m3_scale(D, J * eta), kappa * J * (J - 1));
}
HD void mpm_tau_fluid_vjp(m3 F, m3 C, real kappa, real eta, m3 Vt, m3 *v_F, m3 *v_C, real *v_kappa, real *v_eta) {
  real J = m3_det(F), trV = m3_trace(Vt);
  m3 D = mpm_add_diag(m3_add(C, m3_transpose(C)), RC(-2.0) / RC(3.0) * m3_trace(C));
  real VD = m3_ddot(Vt, D);
  m3_accum(v_F, m3_scale(m3_cofactor(F), kappa * (RC(2.0) * J - 1) * trV + eta * VD));
  m3_accum(v_C, m3_scale(mpm_add_diag(m3_add(Vt, m3_transpose(Vt)), RC(-2.0) / RC(3.0) * trV), J * eta));
  *v_kappa += J * (J - 1) * trV;
  *v_eta += J * VD;
}

/* Kirchhoff stress of any model. C (the particle's affine velocity matrix) matters for the fluid only. */
HD m3 mpm_kirchhoff(int model, m3 F, m3 C, mpm_mparams p) {
  switch (model) {
    case MPM_FIXED_COROTATED: return mpm_tau_corotated(F, p.mu, p.lambda);
    case MPM_NEO_HOOKEAN: return mpm_tau_neohookean(F, p.mu, p.lambda);
    case MPM_NEWTONIAN_FLUID: return mpm_tau_fluid(F, C, p.bulk, p.viscosity);
    default: return mpm_tau_hencky(F, p.mu, p.lambda);
  }
}
HD void mpm_kirchhoff_vjp(int model, m3 F, m3 C, mpm_mparams p, m3 v_tau, m3 *v_F, m3 *v_C, mpm_mparams *v_p) {
  switch (model) {
    case MPM_FIXED_COROTATED: mpm_tau_corotated_vjp(F, p.mu, p.lambda, v_tau, v_F, &v_p->mu, &v_p->lambda); break;
    case MPM_NEO_HOOKEAN: mpm_tau_neohookean_vjp(F, p.mu, p.lambda, v_tau, v_F, &v_p->mu, &v_p->lambda); break;
    case MPM_NEWTONIAN_FLUID:
      mpm_tau_fluid_vjp(F, C, p.bulk, p.viscosity, v_tau, v_F, v_C, &v_p->bulk, &v_p->viscosity);
      break;
    default: mpm_tau_hencky_vjp(F, p.mu, p.lambda, v_tau, v_F, &v_p->mu, &v_p->lambda); break;
  }
}

/* ------------------------------------------------------------------ stored energy (diagnostics) */

/* Elastic energy per unit reference volume psi(F), whose derivative gives each model's stress,
 * tau = (d psi / d F) F^T (tests/mpm/test_mpm_kernels.c checks it by central differences):
 *   fixed corotated   mu |F - R|^2 + lambda/2 (J - 1)^2
 *   neo-Hookean       mu/2 (tr(F^T F) - 3) - mu ln J + lambda/2 (ln J)^2
 *   Hencky            mu |ln sigma|^2 + lambda/2 (tr ln sigma)^2
 *   fluid             kappa/2 (J - 1)^2   (the viscous part stores nothing)
 * It is a diagnostic (`pipeline render --stats`), not on the differentiable path, so it has no _vjp. */
HD real mpm_energy_density(int model, m3 F, mpm_mparams p) {
  real J = m3_det(F);
  switch (model) {
    case MPM_FIXED_COROTATED: {
      m3 R, S;
      m3_polar(F, &R, &S);
      m3 D = m3_sub(F, R);
      return p.mu * m3_ddot(D, D) + RC(0.5) * p.lambda * (J - 1) * (J - 1);
    }
    case MPM_NEO_HOOKEAN: {
      real lj = r_log(J);
      return RC(0.5) * p.mu * (m3_ddot(F, F) - RC(3.0)) - p.mu * lj + RC(0.5) * p.lambda * lj * lj;
    }
    case MPM_NEWTONIAN_FLUID: return RC(0.5) * p.bulk * (J - 1) * (J - 1);
    default: {
      m3 U, V;
      v3 sg;
      m3_svd(F, &U, &sg, &V);
      real e0 = r_log(sg.x), e1 = r_log(sg.y), e2 = r_log(sg.z), tr = e0 + e1 + e2;
      return p.mu * (e0 * e0 + e1 * e1 + e2 * e2) + RC(0.5) * p.lambda * tr * tr;
    }
  }
}

/* ------------------------------------------------------------------ von Mises (and Bingham) return map */

/* Shared pieces: Hencky strain of the trial F and its deviatoric norm. */
typedef struct {
  m3 U, V;
  real s[3], e[3], m, eh[3], n;
} mpm_hencky_strain;

HD mpm_hencky_strain mpm_hencky_of(m3 F) {
  mpm_hencky_strain h;
  v3 sg;
  m3_svd(F, &h.U, &sg, &h.V);
  h.s[0] = sg.x;
  h.s[1] = sg.y;
  h.s[2] = sg.z;
  for (int i = 0; i < 3; ++i) h.e[i] = r_log(h.s[i]);
  h.m = (h.e[0] + h.e[1] + h.e[2]) / RC(3.0);
  real n2 = 0;
  for (int i = 0; i < 3; ++i) {
    h.eh[i] = h.e[i] - h.m;
    n2 += h.eh[i] * h.eh[i];
  }
  h.n = r_sqrt(n2 + MPM_NORM_EPS * MPM_NORM_EPS);
  return h;
}

/* Perzyna factor k = 2 mu dt / (2 mu dt + eta) and r = tau_Y / (2 mu). */
HD int mpm_von_mises_branch(m3 F, real mu, real tau_y) {
  mpm_hencky_strain h = mpm_hencky_of(F);
  return h.n > tau_y / (RC(2.0) * mu) ? MPM_BRANCH_YIELD : MPM_BRANCH_ELASTIC;
}

HD m3 mpm_project_von_mises(m3 F, real mu, real tau_y, real eta, real dt) {
  mpm_hencky_strain h = mpm_hencky_of(F);
  real r = tau_y / (RC(2.0) * mu);
  if (!(h.n > r)) return F;
  real k = RC(2.0) * mu * dt / (RC(2.0) * mu * dt + eta);
  real a = 1 - k + k * r / h.n;
  v3 g = v3_make(r_exp(a * h.e[0] + (1 - a) * h.m), r_exp(a * h.e[1] + (1 - a) * h.m), r_exp(a * h.e[2] + (1 - a) * h.m));
  return m3_usv(h.U, g, h.V);
}

HD void mpm_project_von_mises_vjp(m3 F, real mu, real tau_y, real eta, real dt, m3 v_G, m3 *v_F, real *v_mu,
                                  real *v_tau_y, real *v_eta) {
  mpm_hencky_strain h = mpm_hencky_of(F);
  real r = tau_y / (RC(2.0) * mu);
  if (!(h.n > r)) {
    m3_accum(v_F, v_G);
    return;
  }
  real den = RC(2.0) * mu * dt + eta;
  real k = RC(2.0) * mu * dt / den;
  real a = 1 - k + k * r / h.n;
  real g[3];
  for (int i = 0; i < 3; ++i) g[i] = r_exp(a * h.e[i] + (1 - a) * h.m);
  /* dy_i/de_k = d_ik - k (d_ik - 1/3) + k r [(d_ik - 1/3)/n - eh_i eh_k / n^3] */
  m3 jac;
  real n3 = h.n * h.n * h.n;
  for (int i = 0; i < 3; ++i)
    for (int kk = 0; kk < 3; ++kk) {
      real dik = (i == kk) ? RC(1.0) : RC(0.0);
      real dy = dik - k * (dik - RC(1.0) / RC(3.0)) + k * r * ((dik - RC(1.0) / RC(3.0)) / h.n - h.eh[i] * h.eh[kk] / n3);
      jac.m[i][kk] = g[i] * dy / h.s[kk];
    }
  real dd[3], sd[3];
  mpm_powfunc_diffs(h.s, g, a, r_exp((1 - a) * h.m), dd, sd);
  m3_svd_func_vjp(h.U, h.V, jac, dd, sd, v_G, v_F);
  /* parameters: dy_i/dr = k eh_i / n, dy_i/dk = -eh_i (1 - r/n) */
  m3 W = m3_mul(m3_mul_at(h.U, v_G), h.V);
  real v_r = 0, v_k = 0;
  for (int i = 0; i < 3; ++i) {
    real wg = W.m[i][i] * g[i];
    v_r += wg * k * h.eh[i] / h.n;
    v_k += wg * (-h.eh[i]) * (1 - r / h.n);
  }
  /* r = tau_y / (2 mu); k = 2 mu dt / (2 mu dt + eta) */
  *v_tau_y += v_r / (RC(2.0) * mu);
  *v_mu += v_r * (-r / mu) + v_k * RC(2.0) * dt * eta / (den * den);
  *v_eta += v_k * (-RC(2.0) * mu * dt / (den * den));
}

/* ------------------------------------------------------------------ Drucker-Prager sand */

/* mu(I) rheology on the shear cone (Jop, Forterre & Pouliquen 2006): the friction coefficient rises with the
 * inertial number, mu = tan(phi) + (mu_2 - mu_s) I / (I0 + I), I = gdot d / sqrt(p / rho_s), so the cone slope
 * alpha = sqrt(2) mu / 3 becomes alpha + mui_dalpha I / (I0 + I). gdot = sqrt(2) |dev sym C| (the shear rate: gdot
 * for simple shear at that rate) and p = -K ln det Ft, the trial state's Kirchhoff pressure in Hencky strain
 * (K = lambda + 2 mu / 3), floored at MPM_MUI_PMIN K so that I stays finite at the free surface and in tension
 * (where the apex takes the particle anyway). At rest I = 0 and the static cone is unchanged. */
#define MPM_MUI_PMIN RC(1e-6)
typedef struct {
  m3 s;        /* dev sym C */
  real gdot, K, J, p, I;
  int floored; /* p at its floor MPM_MUI_PMIN K (no dependence on F) */
} mpm_mui_state;
HD mpm_mui_state mpm_mui_eval(mpm_mparams p, m3 C, m3 Ft) {
  mpm_mui_state m;
  m.s = m3_sym(C);
  m.s = mpm_add_diag(m.s, -m3_trace(m.s) / RC(3.0));
  m.gdot = r_sqrt(RC(2.0) * m3_ddot(m.s, m.s));
  m.K = p.lambda + RC(2.0) * p.mu / RC(3.0);
  m.J = m3_det(Ft);
  real pmin = MPM_MUI_PMIN * m.K;
  m.p = m.J > 0 ? -m.K * r_log(m.J) : pmin;
  m.floored = !(m.p > pmin);
  if (m.floored) m.p = pmin;
  m.I = m.gdot * p.mui_scale / r_sqrt(m.p);
  return m;
}
/* The cone slope of the step: p.alpha, or with mu(I) (p.mui_dalpha > 0) its rate-dependent value. */
HD real mpm_mui_alpha_of(mpm_mparams p, const mpm_mui_state *m) {
  return p.alpha + p.mui_dalpha * m->I / (p.mui_i0 + m->I);
}
HD real mpm_mui_alpha(mpm_mparams p, m3 C, m3 Ft) {
  if (!(p.mui_dalpha > 0)) return p.alpha;
  mpm_mui_state m = mpm_mui_eval(p, C, Ft);
  return mpm_mui_alpha_of(p, &m);
}
/* Cotangents of mpm_mui_alpha given v_a at the evaluated state m (mpm_mui_eval), except alpha's own, which passes through unchanged (d/d alpha = 1):
 * dI/dgdot = I / gdot, dgdot/dC = 2 dev sym C / gdot (0 at gdot = 0), dI/dp = -I / (2 p), dp/dFt = -K Ft^-T
 * = -K cof(Ft) / J, dp/dK = -ln J (at the floor: dp/dK = MPM_MUI_PMIN, no F) with dK/dlambda = 1, dK/dmu = 2/3. */
HD void mpm_mui_alpha_vjp_at(mpm_mparams p, m3 Ft, mpm_mui_state m, real v_a, m3 *v_C, m3 *v_Ft, mpm_mparams *v_p) {
  real den = p.mui_i0 + m.I;
  v_p->mui_dalpha += v_a * m.I / den;
  v_p->mui_i0 += v_a * (-p.mui_dalpha * m.I / (den * den));
  real v_I = v_a * p.mui_dalpha * p.mui_i0 / (den * den);
  v_p->mui_scale += v_I * m.gdot / r_sqrt(m.p);
  if (m.gdot > 0) m3_accum(v_C, m3_scale(m.s, v_I * p.mui_scale / r_sqrt(m.p) * RC(2.0) / m.gdot));
  real v_pr = v_I * (-m.I / (RC(2.0) * m.p));
  real v_K = v_pr * (m.floored ? MPM_MUI_PMIN : -r_log(m.J)); /* the floor is MPM_MUI_PMIN K */
  v_p->lambda += v_K;
  v_p->mu += v_K * RC(2.0) / RC(3.0);
  if (!m.floored) m3_accum(v_Ft, m3_scale(m3_cofactor(Ft), -v_pr * m.K / m.J));
}
/* The same from (C, Ft), for callers that have not evaluated the state. */
HD void mpm_mui_alpha_vjp(mpm_mparams p, m3 C, m3 Ft, real v_a, m3 *v_C, m3 *v_Ft, mpm_mparams *v_p) {
  if (!(p.mui_dalpha > 0)) return;
  mpm_mui_alpha_vjp_at(p, Ft, mpm_mui_eval(p, C, Ft), v_a, v_C, v_Ft, v_p);
}

/* ts = tr(e) + q - tr_apex: >= 0 projects to the apex (q_out = ts remembers the volume gained);
 * otherwise q_out = 0 and dgamma = n + beta ts, beta = (3 lambda + 2 mu) alpha / (2 mu), projects the
 * deviatoric strain onto the cone when dgamma > 0. */
HD int mpm_sand_branch(m3 F, real q, mpm_mparams p) {
  mpm_hencky_strain h = mpm_hencky_of(F);
  real ts = RC(3.0) * h.m + q - p.tr_apex;
  if (ts >= 0) return MPM_BRANCH_APEX;
  real beta = (RC(3.0) * p.lambda + RC(2.0) * p.mu) * p.alpha / (RC(2.0) * p.mu);
  return h.n + beta * ts > 0 ? MPM_BRANCH_YIELD : MPM_BRANCH_ELASTIC;
}

HD m3 mpm_project_sand(m3 F, real q, mpm_mparams p, real *q_out) {
  mpm_hencky_strain h = mpm_hencky_of(F);
  real ts = RC(3.0) * h.m + q - p.tr_apex;
  if (ts >= 0) {
    *q_out = ts;
    return m3_scale(m3_mul_bt(h.U, h.V), r_exp(p.tr_apex / RC(3.0)));
  }
  /* Volume correction (Tampubolon et al. 2017, sec. 4.3.1): the stored volume q is added to the trial strain's
   * trace, eps + (q/3) I, before the projection, and used up: the cone projection keeps that trace, so the log
   * volume it drops is 0. (ts already holds it.) Applied in every branch, the map is continuous at ts = 0: there
   * the cone branch returns exp(m + q/3) = exp(tr_apex/3) I, as the apex branch does. */
  *q_out = 0;
  real beta = (RC(3.0) * p.lambda + RC(2.0) * p.mu) * p.alpha / (RC(2.0) * p.mu);
  real dg = h.n + beta * ts, q3 = q / RC(3.0);
  if (!(dg > 0)) return m3_scale(F, r_exp(q3)); /* exp(eps + q/3 I) = e^(q/3) F */
  real a = -beta * ts / h.n;
  v3 g = v3_make(r_exp(a * h.e[0] + (1 - a) * h.m + q3), r_exp(a * h.e[1] + (1 - a) * h.m + q3),
                 r_exp(a * h.e[2] + (1 - a) * h.m + q3));
  return m3_usv(h.U, g, h.V);
}

HD void mpm_project_sand_vjp(m3 F, real q, mpm_mparams p, m3 v_G, real v_qout, m3 *v_F, real *v_q, mpm_mparams *v_p) {
  mpm_hencky_strain h = mpm_hencky_of(F);
  real ts = RC(3.0) * h.m + q - p.tr_apex;
  if (ts >= 0) {
    /* G = c U V^T, c = exp(tr_apex / 3); q_out = tr(ln sigma) + q - tr_apex */
    real c = r_exp(p.tr_apex / RC(3.0));
    real g[3] = {c, c, c}, dd[3] = {0, 0, 0}, sd[3];
    for (int i = 0; i < 3; ++i)
      for (int j = i + 1; j < 3; ++j) sd[m3_pair_index(i, j)] = pl_sumdiv(g[i], g[j], h.s[i], h.s[j]);
    m3_svd_func_vjp(h.U, h.V, m3_zero(), dd, sd, v_G, v_F);
    m3 W = m3_mul(m3_mul_at(h.U, v_G), h.V);
    v_p->tr_apex += (c / RC(3.0)) * (W.m[0][0] + W.m[1][1] + W.m[2][2]) - v_qout;
    /* d tr(ln sigma) / dF = U diag(1/sigma) V^T */
    m3_accum(v_F, m3_usv(h.U, v3_make(v_qout / h.s[0], v_qout / h.s[1], v_qout / h.s[2]), h.V));
    *v_q += v_qout;
    return;
  }
  real beta = (RC(3.0) * p.lambda + RC(2.0) * p.mu) * p.alpha / (RC(2.0) * p.mu);
  real dg = h.n + beta * ts, q3 = q / RC(3.0);
  if (!(dg > 0)) { /* G = e^(q/3) F */
    real c = r_exp(q3);
    m3_accum(v_F, m3_scale(v_G, c));
    real vg = 0;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) vg += v_G.m[i][j] * F.m[i][j];
    *v_q += c * vg / RC(3.0);
    return;
  }
  real a = -beta * ts / h.n;
  real g[3];
  for (int i = 0; i < 3; ++i) g[i] = r_exp(a * h.e[i] + (1 - a) * h.m + q3);
  /* y_i = m - beta ts eh_i / n:
   * dy_i/de_k = 1/3 - beta eh_i / n - beta ts [(d_ik - 1/3)/n - eh_i eh_k / n^3] */
  m3 jac;
  real n3 = h.n * h.n * h.n;
  for (int i = 0; i < 3; ++i)
    for (int k = 0; k < 3; ++k) {
      real dik = (i == k) ? RC(1.0) : RC(0.0);
      real dy = RC(1.0) / RC(3.0) - beta * h.eh[i] / h.n -
                beta * ts * ((dik - RC(1.0) / RC(3.0)) / h.n - h.eh[i] * h.eh[k] / n3);
      jac.m[i][k] = g[i] * dy / h.s[k];
    }
  real dd[3], sd[3];
  mpm_powfunc_diffs(h.s, g, a, r_exp((1 - a) * h.m + q3), dd, sd);
  m3_svd_func_vjp(h.U, h.V, jac, dd, sd, v_G, v_F);
  /* dy_i/dq = -beta eh_i/n + 1/3 (through ts, and the correction's shift), dy_i/dtr_apex = +beta eh_i/n,
   * dy_i/dbeta = -ts eh_i/n */
  m3 W = m3_mul(m3_mul_at(h.U, v_G), h.V);
  real v_ts = 0, v_beta = 0;
  for (int i = 0; i < 3; ++i) {
    real wg = W.m[i][i] * g[i];
    v_ts += wg * (-beta * h.eh[i] / h.n);
    v_beta += wg * (-ts * h.eh[i] / h.n);
    *v_q += wg / RC(3.0);
  }
  *v_q += v_ts;
  v_p->tr_apex -= v_ts;
  v_p->lambda += v_beta * RC(3.0) * p.alpha / (RC(2.0) * p.mu);
  v_p->mu += v_beta * (-RC(3.0) * p.lambda * p.alpha / (RC(2.0) * p.mu * p.mu));
  v_p->alpha += v_beta * (RC(3.0) * p.lambda + RC(2.0) * p.mu) / (RC(2.0) * p.mu);
}

/* ------------------------------------------------------------------ fluid: keep J only */

HD m3 mpm_project_fluid(m3 F) {
  real J = m3_det(F);
  return m3_scalar(r_pow(J, RC(1.0) / RC(3.0)));
}
HD void mpm_project_fluid_vjp(m3 F, m3 v_G, m3 *v_F) {
  real J = m3_det(F);
  real d = r_pow(J, RC(-2.0) / RC(3.0)) / RC(3.0);
  m3_accum(v_F, m3_scale(m3_cofactor(F), d * m3_trace(v_G)));
}

/* ------------------------------------------------------------------ dispatch */

/* Plastic projection of the trial deformation gradient (elastic models: the identity). q is the
 * per-particle plastic state (Drucker-Prager volume correction; passed through by the others). */
HD m3 mpm_plastic(int model, m3 F, real q, mpm_mparams p, real dt, real *q_out) {
  switch (model) {
    case MPM_STVK_VON_MISES:
    case MPM_VISCOPLASTIC:
      *q_out = q;
      return mpm_project_von_mises(F, p.mu, p.yield_stress, p.viscosity, dt);
    case MPM_DRUCKER_PRAGER: return mpm_project_sand(F, q, p, q_out);
    case MPM_NEWTONIAN_FLUID: *q_out = q; return mpm_project_fluid(F);
    default: *q_out = q; return F;
  }
}
HD void mpm_plastic_vjp(int model, m3 F, real q, mpm_mparams p, real dt, m3 v_G, real v_qout, m3 *v_F, real *v_q,
                        mpm_mparams *v_p) {
  switch (model) {
    case MPM_STVK_VON_MISES:
    case MPM_VISCOPLASTIC:
      *v_q += v_qout;
      mpm_project_von_mises_vjp(F, p.mu, p.yield_stress, p.viscosity, dt, v_G, v_F, &v_p->mu, &v_p->yield_stress,
                                &v_p->viscosity);
      break;
    case MPM_DRUCKER_PRAGER: mpm_project_sand_vjp(F, q, p, v_G, v_qout, v_F, v_q, v_p); break;
    case MPM_NEWTONIAN_FLUID:
      *v_q += v_qout;
      mpm_project_fluid_vjp(F, v_G, v_F);
      break;
    default:
      *v_q += v_qout;
      m3_accum(v_F, v_G);
      break;
  }
}
HD int mpm_plastic_branch(int model, m3 F, real q, mpm_mparams p) {
  switch (model) {
    case MPM_STVK_VON_MISES:
    case MPM_VISCOPLASTIC: return mpm_von_mises_branch(F, p.mu, p.yield_stress);
    case MPM_DRUCKER_PRAGER: return mpm_sand_branch(F, q, p);
    default: return MPM_BRANCH_ELASTIC;
  }
}

/* Does the model need det F > 0 (log of the singular values or of J)? All do here: an inverted F is
 * reported as an error rather than simulated. */
HD int mpm_model_is_fluid(int model) { return model == MPM_NEWTONIAN_FLUID; }

#endif /* PL_MPM_MATERIALS_H */
