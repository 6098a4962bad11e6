/* mpm_kernels.h: every per-element formula of the MLS-MPM step, once, for both backends (HD), with the
 * adjoint (_vjp, accumulating) of each differentiable one beside it. mpm_cpu.c and mpm_cuda.cu only loop
 * and call these.
 *
 * Grid: nodes at origin + (i, j, k) dx, i in 0..n[0] (n cells, n + 1 nodes per axis), stored as
 * [node][4] = (mass, momentum) after P2G and (mass, velocity) after the grid update.
 * A particle at x has grid coordinate X = (x - origin)/dx, stencil base = floor(X - 1/2), fractional
 * position f = X - base in [1/2, 3/2), and touches the 3x3x3 nodes base + (0..2).
 *
 * One substep (DESIGN.md section 4):
 *   P2G    A_p = m_p C_p - dt V_p D^-1 tau_p,  D^-1 = 4/dx^2;   m_i += w m_p,  (mv)_i += w (m_p v_p + A_p (x_i - x_p))
 *   grid   v_i = (mv)_i / m_i + dt g, then the domain walls, then each collider in order
 *   G2P    v_p = sum w v_i,  C_p = D^-1 sum w v_i (x_i - x_p)^T,  F_p <- plastic((I + dt C_p) F_p),  x_p += dt v_p
 *
 * Every function is valid C11 and CUDA C++. Math: docs/mpm.md; adjoints: docs/adjoints.md. */
#ifndef PL_MPM_KERNELS_H
#define PL_MPM_KERNELS_H

#include <stddef.h>

#include "core/linalg.h"
#include "mpm/materials.h"
#include "mpm/mpm_types.h" /* mpm_kgrid, mpm_kcollider, mpm_kstate, mpm_kparticles, contact kinds */

HD size_t mpm_node_index(const mpm_kgrid *g, int i, int j, int k) {
  return ((size_t)i * (size_t)(g->n[1] + 1) + (size_t)j) * (size_t)(g->n[2] + 1) + (size_t)k;
}
HD size_t mpm_node_count(const mpm_kgrid *g) {
  return (size_t)(g->n[0] + 1) * (size_t)(g->n[1] + 1) * (size_t)(g->n[2] + 1);
}

/* ------------------------------------------------------------------ domain walls */

/* Wall index of axis a (0..2), side 0 (min) or 1 (max): 2a + side. */
HD int mpm_wall_index(int a, int side) { return 2 * a + side; }

/* Is node index idx on axis a inside the band of wall (a, side)? If so, *n gets the wall's inward normal and
 * *type its contact type. */
HD int mpm_wall_hit(const mpm_kgrid *g, int a, int side, int idx, v3 *n, int *type) {
  int in = side == 0 ? idx < g->wall_cells : idx > g->n[a] - g->wall_cells;
  if (!in) return 0;
  *n = v3_zero();
  v3_set(n, a, side == 0 ? RC(1.0) : RC(-1.0));
  *type = g->wall_type[mpm_wall_index(a, side)];
  return 1;
}

/* ------------------------------------------------------------------ quadratic B-spline */

/* Weights of the three nodes base, base+1, base+2 for grid coordinate X, and their derivatives dw/dX. */
HD void mpm_bspline(real X, int *base, real w[3], real dw[3]) {
  real b = r_floor(X - RC(0.5));
  real f = X - b;
  *base = (int)b;
  w[0] = RC(0.5) * (RC(1.5) - f) * (RC(1.5) - f);
  w[1] = RC(0.75) - (f - 1) * (f - 1);
  w[2] = RC(0.5) * (f - RC(0.5)) * (f - RC(0.5));
  dw[0] = f - RC(1.5);
  dw[1] = RC(-2.0) * (f - 1);
  dw[2] = f - RC(0.5);
}
/* With the base held fixed (the weights are C1 across a base change): v_X += sum_k v_w[k] dw_k/dX. */
HD void mpm_bspline_vjp(real X, const real v_w[3], real *v_X) {
  int base;
  real w[3], dw[3];
  mpm_bspline(X, &base, w, dw);
  *v_X += v_w[0] * dw[0] + v_w[1] * dw[1] + v_w[2] * dw[2];
}

/* A particle's stencil: base node, per-axis weights and the fractional position f = X - base. */
typedef struct {
  int base[3];
  real w[3][3];  /* [axis][node] */
  real dw[3][3]; /* dw/dX */
  real f[3];
} mpm_stencil;

HD mpm_stencil mpm_stencil_of(const mpm_kgrid *g, v3 x) {
  mpm_stencil s;
  real X[3] = {(x.x - g->origin.x) * g->inv_dx, (x.y - g->origin.y) * g->inv_dx, (x.z - g->origin.z) * g->inv_dx};
  for (int a = 0; a < 3; ++a) {
    mpm_bspline(X[a], &s.base[a], s.w[a], s.dw[a]);
    s.f[a] = X[a] - (real)s.base[a];
  }
  return s;
}

/* 1 if the stencil of x lies inside the grid with a margin: 1 <= X <= n - 1 on every axis (the stencil
 * itself needs 1/2 <= X < n - 1/2). Written so that NaN fails. */
HD int mpm_in_domain(const mpm_kgrid *g, v3 x) {
  real X[3] = {(x.x - g->origin.x) * g->inv_dx, (x.y - g->origin.y) * g->inv_dx, (x.z - g->origin.z) * g->inv_dx};
  for (int a = 0; a < 3; ++a)
    if (!(X[a] >= RC(1.0) && X[a] <= (real)g->n[a] - RC(1.0))) return 0;
  return 1;
}

/* Node offset (a, b, c) in 0..2: weight and x_i - x_p. */
HD real mpm_stencil_weight(const mpm_stencil *s, int a, int b, int c) { return s->w[0][a] * s->w[1][b] * s->w[2][c]; }
HD v3 mpm_stencil_dpos(const mpm_stencil *s, int a, int b, int c, real dx) {
  return v3_make(((real)a - s->f[0]) * dx, ((real)b - s->f[1]) * dx, ((real)c - s->f[2]) * dx);
}

/* ------------------------------------------------------------------ P2G */

/* Bulk modulus K = lambda + 2 mu / 3 (= E / (3 (1 - 2 nu))). */
HD real mpm_bulk_of(real mu, real lambda) { return lambda + RC(2.0) * mu / RC(3.0); }

/* The per-particle material parameters (per-particle Lame override when present). Drucker-Prager's apex strain
 * tr_apex = c cot(phi) / K divides by the particle's own bulk modulus: the material's tr_apex scaled by
 * K_material / K_particle (mpm_adjoint.c's parameter reduction carries the matching cotangents). */
HD mpm_mparams mpm_particle_params(const mpm_kparticles *P, int64_t p, int *model) {
  const mpm_kmaterial *km = &P->materials[P->mat[p]];
  mpm_mparams mp = km->p;
  *model = km->model;
  if (P->pmu) mp.mu = P->pmu[p];
  if (P->plambda) mp.lambda = P->plambda[p];
  if ((P->pmu || P->plambda) && km->model == MPM_DRUCKER_PRAGER)
    mp.tr_apex = km->p.tr_apex * (mpm_bulk_of(km->p.mu, km->p.lambda) / mpm_bulk_of(mp.mu, mp.lambda));
  return mp;
}

/* The particle's PIC share of the transfer (sim.pic_blend, sim.pic_rest_speed): the share beta everywhere when
 * rest_speed is 0, else only for material at rest, fading linearly with the particle's speed,
 *   beta_p = beta max(0, 1 - |v| / v0),
 * so a flow keeps its APIC transfer and a deposit's sub-cell velocity modes (which let a slope below the friction
 * angle creep) are damped (docs/mpm.md, "Why the heap is low", item 11). */
HD real mpm_pic_share(real beta, real rest_speed, v3 v) {
  if (!(rest_speed > 0)) return beta;
  real r = RC(1.0) - v3_norm(v) / rest_speed;
  return r > 0 ? beta * r : RC(0.0);
}
/* d beta_p / dv = -beta v / (v0 |v|) inside the cone of rest, 0 outside and at v = 0 (the kink's subgradient). */
HD void mpm_pic_share_vjp(real beta, real rest_speed, v3 v, real v_share, v3 *v_v) {
  if (!(rest_speed > 0)) return;
  real sp = v3_norm(v);
  if (!(sp > 0) || sp >= rest_speed) return;
  v3_accum(v_v, v3_scale(v, -v_share * beta / (rest_speed * sp)));
}

/* A_p = (1 - pic) m C - dt V0 D^-1 tau(F, C). pic (mpm_pic_share) is the particle's PIC share of the transfer: 0 is
 * APIC (Jiang et al. 2015: the affine momentum m C keeps the particle's velocity gradient), 1 is PIC (only m v is
 * scattered, which damps the sub-cell velocity modes); C still enters the stress (viscosity) and F's update. */
HD m3 mpm_p2g_affine(int model, mpm_mparams mp, real mass, real vol0, real dt, real inv_dx, m3 C, m3 F, real pic) {
  m3 tau = mpm_kirchhoff(model, F, C, mp);
  return m3_axpy(m3_scale(C, (RC(1.0) - pic) * mass), -dt * vol0 * RC(4.0) * inv_dx * inv_dx, tau);
}
/* v_pic (may be NULL when the share is a constant) receives the share's cotangent, -m (v_A : C). */
HD void mpm_p2g_affine_vjp(int model, mpm_mparams mp, real mass, real vol0, real dt, real inv_dx, m3 C, m3 F,
                           real pic, m3 v_A, m3 *v_C, m3 *v_F, real *v_mass, mpm_mparams *v_p, real *v_pic) {
  m3_accum(v_C, m3_scale(v_A, (RC(1.0) - pic) * mass));
  real AC = m3_ddot(v_A, C);
  *v_mass += (RC(1.0) - pic) * AC;
  if (v_pic) *v_pic += -mass * AC;
  mpm_kirchhoff_vjp(model, F, C, mp, m3_scale(v_A, -dt * vol0 * RC(4.0) * inv_dx * inv_dx), v_F, v_C, v_p);
}

/* The affine matrix of particle (v, C, F) with the grid's transfer settings, and its vjp (v's cotangent through
 * the share of material at rest). */
HD m3 mpm_p2g_affine_at(const mpm_kgrid *g, int model, mpm_mparams mp, real mass, real vol0, real dt, v3 v, m3 C,
                        m3 F) {
  return mpm_p2g_affine(model, mp, mass, vol0, dt, g->inv_dx, C, F, mpm_pic_share(g->pic_blend, g->pic_rest_speed, v));
}
HD void mpm_p2g_affine_at_vjp(const mpm_kgrid *g, int model, mpm_mparams mp, real mass, real vol0, real dt, v3 v,
                              m3 C, m3 F, m3 v_A, v3 *v_v, m3 *v_C, m3 *v_F, real *v_mass, mpm_mparams *v_p) {
  real pic = mpm_pic_share(g->pic_blend, g->pic_rest_speed, v), v_pic = 0;
  mpm_p2g_affine_vjp(model, mp, mass, vol0, dt, g->inv_dx, C, F, pic, v_A, v_C, v_F, v_mass, v_p, &v_pic);
  mpm_pic_share_vjp(g->pic_blend, g->pic_rest_speed, v, v_pic, v_v);
}

/* One node's share of a particle: dm = w m, dmom = w (m v + A dpos). */
HD void mpm_p2g_contrib(real w, v3 dpos, real mass, v3 v, m3 A, real *dm, v3 *dmom) {
  *dm = w * mass;
  *dmom = v3_scale(v3_add(v3_scale(v, mass), m3_mul_v(A, dpos)), w);
}

/* The whole per-particle P2G as one function (what the adjoint differentiates): out[27][4] holds
 * (dm, dmom) for node base + (a, b, c), index 9a + 3b + c. */
HD void mpm_p2g_particle(const mpm_kgrid *g, int model, mpm_mparams mp, real mass, real vol0, real dt, v3 x, v3 v,
                         m3 C, m3 F, int base[3], real out[27][4]) {
  mpm_stencil s = mpm_stencil_of(g, x);
  m3 A = mpm_p2g_affine_at(g, model, mp, mass, vol0, dt, v, C, F);
  for (int a = 0; a < 3; ++a) base[a] = s.base[a];
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 3; ++c) {
        real dm;
        v3 dmom;
        mpm_p2g_contrib(mpm_stencil_weight(&s, a, b, c), mpm_stencil_dpos(&s, a, b, c, g->dx), mass, v, A, &dm, &dmom);
        int k = 9 * a + 3 * b + c;
        out[k][0] = dm;
        out[k][1] = dmom.x;
        out[k][2] = dmom.y;
        out[k][3] = dmom.z;
      }
}

/* The scatter part of the P2G adjoint with the affine matrix A given (the CPU backward pass reuses the A its
 * P2G recomputation stored, so the stress is evaluated once): node cotangents v_out[27][4] of
 * (dm, dmom) -> v_x, v_v, v_A, v_mass. The position enters through the weights (dw/dX / dx) and through
 * dpos = (o - f) dx. */
HD void mpm_p2g_scatter_vjp(const mpm_kgrid *g, const mpm_stencil *s, real mass, v3 v, m3 A, const real v_out[27][4],
                            v3 *v_x, v3 *v_v, m3 *v_A, real *v_mass) {
  /* per node: dm = w m, dmom = w (m v + A d), d = (o - f) dx. A d is separable: the sum over the axes j of
   * dx (o_j - f_j) (column j of A). The sums over the nodes that do not need the weights per node are taken once:
   * with S = sum w v_dmom, v_v = m S, v_x gets -A^T S from d, and v_A = sum w v_dmom d^T
   * = dx [sum_j (sum_o o S_j[o]) e_j^T - S f^T] from the per-axis partial sums S_j[o]. */
  v3 Q[3][3];
  for (int j = 0; j < 3; ++j) {
    v3 col = m3_col(A, j);
    for (int o = 0; o < 3; ++o) Q[j][o] = v3_scale(col, ((real)o - s->f[j]) * g->dx);
  }
  v3 mv = v3_scale(v, mass);
  real v_w[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
  v3 Sa[3] = {v3_zero(), v3_zero(), v3_zero()}, Sb[3] = {v3_zero(), v3_zero(), v3_zero()};
  v3 Sc[3] = {v3_zero(), v3_zero(), v3_zero()};
  real wm = 0;
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      real wab = s->w[0][a] * s->w[1][b];
      v3 mab = v3_add(v3_add(mv, Q[0][a]), Q[1][b]);
      for (int c = 0; c < 3; ++c) {
        int k = 9 * a + 3 * b + c;
        real w = wab * s->w[2][c];
        v3 vm = v3_make(v_out[k][1], v_out[k][2], v_out[k][3]);
        v3 mom = v3_add(mab, Q[2][c]); /* dmom = w mom */
        real v_wk = v_out[k][0] * mass + v3_dot(vm, mom);
        v_w[0][a] += v_wk * s->w[1][b] * s->w[2][c];
        v_w[1][b] += v_wk * s->w[0][a] * s->w[2][c];
        v_w[2][c] += v_wk * wab;
        wm += w * v_out[k][0];
        v3 wvm = v3_scale(vm, w);
        v3_accum(&Sa[a], wvm);
        v3_accum(&Sb[b], wvm);
        v3_accum(&Sc[c], wvm);
      }
    }
  v3 S = v3_add(v3_add(Sa[0], Sa[1]), Sa[2]);
  *v_mass += wm + v3_dot(S, v);
  v3_accum(v_v, v3_scale(S, mass));
  v3 Tj[3] = {v3_axpy(Sa[1], RC(2.0), Sa[2]), v3_axpy(Sb[1], RC(2.0), Sb[2]), v3_axpy(Sc[1], RC(2.0), Sc[2])};
  for (int j = 0; j < 3; ++j) {
    v3 colj = v3_scale(v3_axpy(Tj[j], -s->f[j], S), g->dx); /* column j of sum w v_dmom d^T */
    v_A->m[0][j] += colj.x;
    v_A->m[1][j] += colj.y;
    v_A->m[2][j] += colj.z;
  }
  /* d = (o - f) dx, f = X - base: d d / dx = -I; weights: dw/dx = dw/dX inv_dx */
  v3 vx = v3_neg(m3_tmul_v(A, S));
  vx.x += (v_w[0][0] * s->dw[0][0] + v_w[0][1] * s->dw[0][1] + v_w[0][2] * s->dw[0][2]) * g->inv_dx;
  vx.y += (v_w[1][0] * s->dw[1][0] + v_w[1][1] * s->dw[1][1] + v_w[1][2] * s->dw[1][2]) * g->inv_dx;
  vx.z += (v_w[2][0] * s->dw[2][0] + v_w[2][1] * s->dw[2][1] + v_w[2][2] * s->dw[2][2]) * g->inv_dx;
  v3_accum(v_x, vx);
}

/* Adjoint of mpm_p2g_particle given the node cotangents v_out[27][4] (gathered from the grid cotangent):
 * the scatter adjoint above, then the affine matrix's (stress) adjoint. */
HD void mpm_p2g_particle_vjp(const mpm_kgrid *g, int model, mpm_mparams mp, real mass, real vol0, real dt, v3 x,
                             v3 v, m3 C, m3 F, const real v_out[27][4], v3 *v_x, v3 *v_v, m3 *v_C, m3 *v_F,
                             real *v_mass, mpm_mparams *v_p) {
  mpm_stencil s = mpm_stencil_of(g, x);
  m3 A = mpm_p2g_affine_at(g, model, mp, mass, vol0, dt, v, C, F);
  m3 v_A = m3_zero();
  mpm_p2g_scatter_vjp(g, &s, mass, v, A, v_out, v_x, v_v, &v_A, v_mass);
  mpm_p2g_affine_at_vjp(g, model, mp, mass, vol0, dt, v, C, F, v_A, v_v, v_C, v_F, v_mass, v_p);
}

/* ------------------------------------------------------------------ grid update */

/* v = mom / m + dt g   (m > 0) */
HD v3 mpm_grid_velocity(real m, v3 mom, v3 gravity, real dt) { return v3_axpy(v3_scale(mom, RC(1.0) / m), dt, gravity); }
HD void mpm_grid_velocity_vjp(real m, v3 mom, real dt, v3 v_v, real *v_m, v3 *v_mom, v3 *v_gravity) {
  real inv = RC(1.0) / m;
  v3_accum(v_mom, v3_scale(v_v, inv));
  *v_m += -v3_dot(mom, v_v) * inv * inv;
  v3_accum(v_gravity, v3_scale(v_v, dt));
}

/* Contact with a surface of outward normal n moving at vc (Stomakhin 2013, Klar 2016):
 *   sticky:   v = vc
 *   slip:     remove the normal part of v - vc, then Coulomb friction on the tangential part
 *   separate: as slip, but only when approaching ((v - vc).n < 0)
 * Friction: vt <- vt max(0, 1 - mu |vn| / |vt|) (static friction when |vt| <= mu |vn|). */
HD v3 mpm_contact(v3 v, v3 n, v3 vc, int type, real mu) {
  if (type == MPM_CONTACT_STICKY) return vc;
  v3 vr = v3_sub(v, vc);
  real vn = v3_dot(vr, n);
  if (type == MPM_CONTACT_SEPARATE && vn >= 0) return v;
  v3 vt = v3_axpy(vr, -vn, n);
  real lt = v3_norm(vt);
  real fr = mu * r_fabs(vn);
  if (fr > 0 && lt <= fr) return vc;
  if (fr > 0) vt = v3_scale(vt, 1 - fr / lt);
  return v3_add(vc, vt);
}
HD void mpm_contact_vjp(v3 v, v3 n, v3 vc, int type, real mu, v3 v_out, v3 *v_v, v3 *v_vc, real *v_mu) {
  if (type == MPM_CONTACT_STICKY) {
    v3_accum(v_vc, v_out);
    return;
  }
  v3 vr = v3_sub(v, vc);
  real vn = v3_dot(vr, n);
  if (type == MPM_CONTACT_SEPARATE && vn >= 0) {
    v3_accum(v_v, v_out);
    return;
  }
  v3 vt = v3_axpy(vr, -vn, n);
  real lt = v3_norm(vt);
  real fr = mu * r_fabs(vn);
  if (fr > 0 && lt <= fr) {
    v3_accum(v_vc, v_out);
    return;
  }
  v3_accum(v_vc, v_out);
  v3 v_vt = v_out; /* out = vc + s vt, s = 1 - fr/lt (or 1 when fr = 0) */
  if (fr > 0) {
    v3 t = v3_scale(vt, RC(1.0) / lt);
    real s = 1 - fr / lt;
    real tv = v3_dot(t, v_out);
    /* d(s vt) = s dvt + vt ds, ds = -dfr/lt + fr dlt/lt^2, dlt = t.dvt: so
     * v_vt = s v_out + (fr/lt) t (t.v_out) and v_fr = -(t.v_out) */
    v_vt = v3_axpy(v3_scale(v_out, s), fr / lt * tv, t);
    real v_fr = -tv;
    real sgn = vn > 0 ? RC(1.0) : (vn < 0 ? RC(-1.0) : RC(0.0));
    *v_mu += v_fr * r_fabs(vn);
    real v_vn_f = v_fr * mu * sgn;
    /* vr contributes through vn as well */
    v3 g = v3_scale(n, v_vn_f);
    v3_accum(v_v, g);
    v3_accum(v_vc, v3_neg(g));
  }
  else if (mu == 0 && lt > 0) {
    /* mu = 0 is the edge of mu >= 0: give the right derivative d out / d mu = -|vn| t so that a friction
     * coefficient learnt from zero still receives a gradient */
    *v_mu += -v3_dot(v3_scale(vt, RC(1.0) / lt), v_out) * r_fabs(vn);
  }
  /* vt = vr - (vr.n) n: v_vr = v_vt - n (n.v_vt) */
  v3 v_vr = v3_axpy(v_vt, -v3_dot(n, v_vt), n);
  v3_accum(v_v, v_vr);
  v3_accum(v_vc, v3_neg(v_vr));
}

/* Tolerance of the collider test at grid nodes, in cells: a node within it of a collider's surface counts as
 * inside. A surface placed exactly on a row of nodes (a floor at 3 dx) is then inside in float and in double
 * alike, instead of falling to whichever side the rounding of origin + j dx and of the surface put it. */
#define MPM_COLLIDER_TOL_CELLS RC(1e-3)

/* Does the collider contain the world point xw at time t (within tol of its surface counts as inside)? If so,
 * *n gets the outward unit normal of the nearest surface. */
HD int mpm_collider_hit(const mpm_kcollider *c, v3 xw, real t, real tol, v3 *n) {
  v3 ctr = v3_axpy(c->center, t, c->velocity);
  v3 d = v3_sub(xw, ctr);
  switch (c->shape) {
    case MPM_COLLIDER_PLANE:
      if (v3_dot(d, c->normal) > tol) return 0;
      *n = c->normal;
      return 1;
    case MPM_COLLIDER_SPHERE: {
      real l = v3_norm(d);
      if (l > c->half.x + tol) return 0;
      *n = l > 0 ? v3_scale(d, RC(1.0) / l) : v3_make(0, 1, 0);
      return 1;
    }
    case MPM_COLLIDER_BOX: {
      v3 pl = m3_tmul_v(c->rot, d);
      real q[3] = {r_fabs(pl.x) - c->half.x, r_fabs(pl.y) - c->half.y, r_fabs(pl.z) - c->half.z};
      if (q[0] > tol || q[1] > tol || q[2] > tol) return 0;
      int ax = 0;
      if (q[1] > q[ax]) ax = 1;
      if (q[2] > q[ax]) ax = 2;
      v3 nl = v3_zero();
      v3_set(&nl, ax, v3_get(pl, ax) >= 0 ? RC(1.0) : RC(-1.0));
      *n = m3_mul_v(c->rot, nl);
      return 1;
    }
    case MPM_COLLIDER_CYLINDER: {
      v3 pl = m3_tmul_v(c->rot, d);
      real rho = r_sqrt(pl.x * pl.x + pl.z * pl.z);
      real ds = rho - c->half.x, dc = r_fabs(pl.y) - c->half.y;
      if (ds > tol || dc > tol) return 0;
      v3 nl;
      if (ds > dc && rho > 0)
        nl = v3_make(pl.x / rho, 0, pl.z / rho);
      else
        nl = v3_make(0, pl.y >= 0 ? RC(1.0) : RC(-1.0), 0);
      *n = m3_mul_v(c->rot, nl);
      return 1;
    }
  }
  return 0;
}

/* The contacts acting on node (i, j, k) at time t, in order: walls (x low, x high, y low, ...), then the
 * colliders. Fills normals, velocities, types and friction coefficients; returns how many. fidx[c] is the
 * collider index, or ncolliders for a wall (for the friction cotangents). */
HD int mpm_node_contacts(const mpm_kgrid *g, const mpm_kcollider *cols, int ncol, int i, int j, int k, real t,
                         v3 *nrm, v3 *vel, int *type, real *mu, int *fidx) {
  int cnt = 0;
  int idx[3] = {i, j, k};
  for (int a = 0; a < 3; ++a)
    for (int side = 0; side < 2; ++side)
      if (mpm_wall_hit(g, a, side, idx[a], &nrm[cnt], &type[cnt])) {
        vel[cnt] = v3_zero();
        mu[cnt] = g->wall_friction[mpm_wall_index(a, side)];
        fidx[cnt] = ncol + mpm_wall_index(a, side);
        ++cnt;
      }
  v3 xw = v3_make(g->origin.x + (real)i * g->dx, g->origin.y + (real)j * g->dx, g->origin.z + (real)k * g->dx);
  for (int c = 0; c < ncol && c < MPM_MAX_COLLIDERS; ++c) {
    v3 n;
    if (mpm_collider_hit(&cols[c], xw, t, MPM_COLLIDER_TOL_CELLS * g->dx, &n)) {
      nrm[cnt] = n;
      vel[cnt] = cols[c].velocity;
      type[cnt] = cols[c].type;
      mu[cnt] = cols[c].friction;
      fidx[cnt] = c;
      ++cnt;
    }
  }
  return cnt;
}

/* Plane strain (mpm_desc.plane_strain): the velocity along the fixed axis is zero at every node, so a slab
 * neither thickens nor thins along it (a quasi-2D body between walls otherwise leaks into their bands). A linear
 * projection: it is its own adjoint. */
HD v3 mpm_plane_strain(const mpm_kgrid *g, v3 v) {
  if (g->plane_strain == 1) v.x = 0;
  else if (g->plane_strain == 2) v.y = 0;
  else if (g->plane_strain == 3) v.z = 0;
  return v;
}

/* The whole node update: (m, mom) -> v, with gravity, walls and colliders. m <= 0 gives v = 0. The contacts
 * are applied in the order of mpm_node_contacts, without its arrays (the forward pass keeps no state). */
HD v3 mpm_grid_node(const mpm_kgrid *g, const mpm_kcollider *cols, int ncol, int i, int j, int k, real t, real dt,
                    real m, v3 mom) {
  if (!(m > 0)) return v3_zero();
  v3 v = mpm_plane_strain(g, mpm_grid_velocity(m, mom, g->gravity, dt));
  int idx[3] = {i, j, k};
  for (int a = 0; a < 3; ++a)
    for (int side = 0; side < 2; ++side) {
      v3 n;
      int type;
      if (mpm_wall_hit(g, a, side, idx[a], &n, &type)) v = mpm_contact(v, n, v3_zero(), type, g->wall_friction[mpm_wall_index(a, side)]);
    }
  if (ncol > 0) {
    v3 xw = v3_make(g->origin.x + (real)i * g->dx, g->origin.y + (real)j * g->dx, g->origin.z + (real)k * g->dx);
    for (int c = 0; c < ncol && c < MPM_MAX_COLLIDERS; ++c) {
      v3 n;
      if (mpm_collider_hit(&cols[c], xw, t, MPM_COLLIDER_TOL_CELLS * g->dx, &n)) v = mpm_contact(v, n, cols[c].velocity, cols[c].type, cols[c].friction);
    }
  }
  return v;
}
/* Branch trace (mpm_sim.particle_trace / node_trace): one code folded into a hash of the sequence of codes. */
HD uint64_t mpm_trace_fold(uint64_t h, uint64_t code) {
  h ^= code + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 31);
}

/* The trace's band around a switching surface: a point within MPM_TRACE_BAND (relative) of it gets its own code
 * ("on the surface") instead of either side's. There rounding decides the branch, and since the branches agree
 * on the surface (continuous switches) the output differs between them by O(band): counting such a flip as a
 * branch change would report rounding as a kink. A real crossing by a step leaves the band on both sides. */
#define MPM_TRACE_BAND (RC(64.0) * PL_REAL_EPS)

/* Which branch mpm_contact takes: 0 passes v through (a separating contact moving away), 1 sets v = vc (sticky,
 * or static friction |vt| <= mu |vn|), 2 slides (the normal part removed, friction scaling the tangential one),
 * 3 on a switching surface (within MPM_TRACE_BAND). */
HD unsigned mpm_contact_branch(v3 v, v3 n, v3 vc, int type, real mu) {
  if (type == MPM_CONTACT_STICKY) return 1;
  v3 vr = v3_sub(v, vc);
  real vn = v3_dot(vr, n), band = MPM_TRACE_BAND * (v3_norm(vr) + v3_norm(vc));
  if (type == MPM_CONTACT_SEPARATE && r_fabs(vn) <= band) return 3;
  if (type == MPM_CONTACT_SEPARATE && vn >= 0) return 0;
  v3 vt = v3_axpy(vr, -vn, n);
  real fr = mu * r_fabs(vn), lt = v3_norm(vt);
  if (fr > 0 && r_fabs(lt - fr) <= band) return 3;
  return (fr > 0 && lt <= fr) ? 1 : 2;
}

/* The branch code the trace folds for a particle's return map: mpm_plastic_branch (elastic / yield / apex), or
 * 3 within MPM_TRACE_BAND of a switching surface (Drucker-Prager: ts = 0 or n + beta ts = 0; von Mises: n = r). */
HD unsigned mpm_trace_branch(int model, m3 F, real q, mpm_mparams p) {
  if (model == MPM_DRUCKER_PRAGER) {
    mpm_hencky_strain h = mpm_hencky_of(F);
    real ts = RC(3.0) * h.m + q - p.tr_apex;
    if (r_fabs(ts) <= MPM_TRACE_BAND * (1 + r_fabs(RC(3.0) * h.m) + r_fabs(q) + r_fabs(p.tr_apex))) return 3;
    if (ts >= 0) return MPM_BRANCH_APEX;
    real beta = (RC(3.0) * p.lambda + RC(2.0) * p.mu) * p.alpha / (RC(2.0) * p.mu), dg = h.n + beta * ts;
    if (r_fabs(dg) <= MPM_TRACE_BAND * (1 + h.n + r_fabs(beta * ts))) return 3;
    return dg > 0 ? MPM_BRANCH_YIELD : MPM_BRANCH_ELASTIC;
  }
  if (model == MPM_STVK_VON_MISES || model == MPM_VISCOPLASTIC) {
    mpm_hencky_strain h = mpm_hencky_of(F);
    real r = p.yield_stress / (RC(2.0) * p.mu);
    if (r_fabs(h.n - r) <= MPM_TRACE_BAND * (1 + h.n + r)) return 3;
    return h.n > r ? MPM_BRANCH_YIELD : MPM_BRANCH_ELASTIC;
  }
  return (unsigned)mpm_plastic_branch(model, F, q, p);
}

/* The side of the PIC share for material at rest (mpm_pic_share) the particle's velocity v puts it on for the next
 * P2G: 0 without the rest share (sim.pic_rest_speed = 0) or above v0, 1 inside (0 < |v| < v0), 2 at rest (v = 0),
 * 3 within MPM_TRACE_BAND of |v| = v0. Folded after the return map's code, offset by 16 (MPM_TRACE_SHARE). */
#define MPM_TRACE_SHARE 16u
HD unsigned mpm_pic_share_branch(real rest_speed, v3 v) {
  if (!(rest_speed > 0)) return 0;
  real sp = v3_norm(v);
  if (r_fabs(sp - rest_speed) <= MPM_TRACE_BAND * (sp + rest_speed)) return 3;
  if (sp >= rest_speed) return 0;
  return sp > 0 ? 1 : 2;
}

/* The branches of the contacts of node (i, j, k) as mpm_grid_node applies them, 2 bits each in order (0: none
 * acts, or every one passes v through). A sticky contact has one branch only and adds nothing. A node entering or
 * leaving a particle's support (a smooth event: its weight is C1 at 0) may change this code too, so a count of
 * nodes whose codes differ between two runs is an upper bound on the contact branches that changed. */
HD unsigned mpm_grid_node_branches(const mpm_kgrid *g, const mpm_kcollider *cols, int ncol, int i, int j, int k, real t,
                                   real dt, real m, v3 mom) {
  if (!(m > 0)) return 0;
  v3 nrm[MPM_MAX_CONTACTS], vel[MPM_MAX_CONTACTS];
  int type[MPM_MAX_CONTACTS], fidx[MPM_MAX_CONTACTS];
  real mu[MPM_MAX_CONTACTS];
  int cnt = mpm_node_contacts(g, cols, ncol, i, j, k, t, nrm, vel, type, mu, fidx);
  v3 v = mpm_grid_velocity(m, mom, g->gravity, dt);
  unsigned code = 0;
  for (int c = 0; c < cnt; ++c) {
    if (type[c] != MPM_CONTACT_STICKY) code = code << 2 | mpm_contact_branch(v, nrm[c], vel[c], type[c], mu[c]);
    v = mpm_contact(v, nrm[c], vel[c], type[c], mu[c]);
  }
  return code;
}

/* Adjoint: v_m, v_mom, v_gravity; v_friction[MPM_FRICTION_SLOTS(ncol)] (may be NULL) gets the colliders'
 * friction cotangents, then the six walls'. */
HD void mpm_grid_node_vjp(const mpm_kgrid *g, const mpm_kcollider *cols, int ncol, int i, int j, int k, real t,
                          real dt, real m, v3 mom, v3 v_out, real *v_m, v3 *v_mom, v3 *v_gravity, real *v_friction) {
  if (!(m > 0)) return;
  v3 nrm[MPM_MAX_CONTACTS], vel[MPM_MAX_CONTACTS], vs[MPM_MAX_CONTACTS + 1];
  int type[MPM_MAX_CONTACTS], fidx[MPM_MAX_CONTACTS];
  real mu[MPM_MAX_CONTACTS];
  int cnt = mpm_node_contacts(g, cols, ncol, i, j, k, t, nrm, vel, type, mu, fidx);
  vs[0] = mpm_plane_strain(g, mpm_grid_velocity(m, mom, g->gravity, dt));
  for (int c = 0; c < cnt; ++c) vs[c + 1] = mpm_contact(vs[c], nrm[c], vel[c], type[c], mu[c]);
  v3 vv = v_out;
  for (int c = cnt - 1; c >= 0; --c) {
    v3 v_in = v3_zero(), v_vc = v3_zero();
    real v_mu = 0;
    mpm_contact_vjp(vs[c], nrm[c], vel[c], type[c], mu[c], vv, &v_in, &v_vc, &v_mu);
    if (v_friction) v_friction[fidx[c]] += v_mu;
    vv = v_in;
  }
  mpm_grid_velocity_vjp(m, mom, dt, mpm_plane_strain(g, vv), v_m, v_mom, v_gravity); /* linear: its own adjoint */
}

/* ------------------------------------------------------------------ G2P */

/* Gathered velocities gv[27] of the nodes base + (a, b, c), index 9a + 3b + c. Outputs the new particle
 * state. F_out is the plastic projection of (I + dt C) F. */
HD void mpm_g2p_particle(const mpm_kgrid *g, int model, mpm_mparams mp, real dt, v3 x, m3 F, real q, const v3 gv[27],
                         v3 *x_out, v3 *v_out, m3 *C_out, m3 *F_out, real *q_out, m3 *F_trial) {
  mpm_stencil s = mpm_stencil_of(g, x);
  v3 v = v3_zero();
  m3 B = m3_zero();
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 3; ++c) {
        int k = 9 * a + 3 * b + c;
        real w = mpm_stencil_weight(&s, a, b, c);
        v3 wv = v3_scale(gv[k], w);
        v = v3_add(v, wv);
        m3_accum(&B, m3_outer(wv, mpm_stencil_dpos(&s, a, b, c, g->dx)));
      }
  m3 C = m3_scale(B, RC(4.0) * g->inv_dx * g->inv_dx);
  m3 Ft = m3_mul(m3_axpy(m3_identity(), dt, C), F);
  if (F_trial) *F_trial = Ft;
  mpm_mparams pe = mp; /* the step's parameters: with mu(I), the cone slope of this rate and pressure */
  if (model == MPM_DRUCKER_PRAGER) pe.alpha = mpm_mui_alpha(mp, C, Ft);
  *F_out = mpm_plastic(model, Ft, q, pe, dt, q_out);
  *v_out = v;
  *C_out = C;
  *x_out = v3_axpy(x, dt, v);
}

/* Adjoint of mpm_g2p_particle: cotangents of (x_out, v_out, C_out, F_out, q_out) give v_x, v_F, v_q, the
 * gathered node velocities' cotangents v_gv[27] (accumulated; the caller scatters them to the grid) and the
 * material parameters' cotangents. */
HD void mpm_g2p_particle_vjp(const mpm_kgrid *g, int model, mpm_mparams mp, real dt, v3 x, m3 F, real q,
                             const v3 gv[27], v3 vx_out, v3 vv_out, m3 vC_out, m3 vF_out, real vq_out, v3 *v_x,
                             m3 *v_F, real *v_q, v3 v_gv[27], mpm_mparams *v_p) {
  mpm_stencil s = mpm_stencil_of(g, x);
  m3 B = m3_zero();
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b)
      for (int c = 0; c < 3; ++c) {
        int k = 9 * a + 3 * b + c;
        real w = mpm_stencil_weight(&s, a, b, c);
        m3_accum(&B, m3_outer(v3_scale(gv[k], w), mpm_stencil_dpos(&s, a, b, c, g->dx)));
      }
  real D = RC(4.0) * g->inv_dx * g->inv_dx;
  m3 C = m3_scale(B, D);
  m3 Mx = m3_axpy(m3_identity(), dt, C);
  m3 Ft = m3_mul(Mx, F);
  /* F_out = plastic(Ft) with the step's cone slope alpha(C, Ft) (mu(I)): its cotangent goes on to C and Ft */
  m3 v_Ft = m3_zero(), v_Cm = m3_zero();
  if (model == MPM_DRUCKER_PRAGER && mp.mui_dalpha > 0) {
    mpm_mparams pe = mp, vloc = mpm_mparams_zero();
    mpm_mui_state ms = mpm_mui_eval(mp, C, Ft); /* once, for the slope and its vjp */
    pe.alpha = mpm_mui_alpha_of(mp, &ms);
    mpm_plastic_vjp(model, Ft, q, pe, dt, vF_out, vq_out, &v_Ft, v_q, &vloc);
    mpm_mui_alpha_vjp_at(mp, Ft, ms, vloc.alpha, &v_Cm, &v_Ft, &vloc);
    mpm_mparams_accum(v_p, vloc);
  } else {
    mpm_plastic_vjp(model, Ft, q, mp, dt, vF_out, vq_out, &v_Ft, v_q, v_p);
  }
  /* Ft = (I + dt C) F */
  m3 v_Mx = m3_zero();
  m3_mul_vjp(Mx, F, v_Ft, &v_Mx, v_F);
  m3 v_C = m3_add(m3_axpy(vC_out, dt, v_Mx), v_Cm);
  m3 v_B = m3_scale(v_C, D);
  /* x_out = x + dt v */
  v3_accum(v_x, vx_out);
  v3 v_v = v3_axpy(vv_out, dt, vx_out);
  /* per node (v += w gv, B += w gv d^T with d = (o - f) dx): v_gv += w (v_v + v_B d), v_w = (v_v + v_B d).gv,
   * v_d = w v_B^T gv. v_B d is separable: sum over the axes j of dx (o_j - f_j) (column j of v_B); and
   * sum_i v_d_i = v_B^T sum_i w_i gv_i = v_B^T v' needs no work per node. */
  v3 P[3][3];
  for (int j = 0; j < 3; ++j) {
    v3 col = m3_col(v_B, j);
    for (int o = 0; o < 3; ++o) P[j][o] = v3_scale(col, ((real)o - s.f[j]) * g->dx);
  }
  real v_w[3][3] = {{0, 0, 0}, {0, 0, 0}, {0, 0, 0}};
  v3 vsum = v3_zero();
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      real wab = s.w[0][a] * s.w[1][b];
      v3 uab = v3_add(v3_add(v_v, P[0][a]), P[1][b]);
      for (int c = 0; c < 3; ++c) {
        int k = 9 * a + 3 * b + c;
        real w = wab * s.w[2][c];
        v3 u = v3_add(uab, P[2][c]);
        v3_accum(&v_gv[k], v3_scale(u, w));
        vsum = v3_axpy(vsum, w, gv[k]);
        real v_wk = v3_dot(u, gv[k]);
        v_w[0][a] += v_wk * s.w[1][b] * s.w[2][c];
        v_w[1][b] += v_wk * s.w[0][a] * s.w[2][c];
        v_w[2][c] += v_wk * wab;
      }
    }
  v3 vx = v3_neg(m3_tmul_v(v_B, vsum));
  vx.x += (v_w[0][0] * s.dw[0][0] + v_w[0][1] * s.dw[0][1] + v_w[0][2] * s.dw[0][2]) * g->inv_dx;
  vx.y += (v_w[1][0] * s.dw[1][0] + v_w[1][1] * s.dw[1][1] + v_w[1][2] * s.dw[1][2]) * g->inv_dx;
  vx.z += (v_w[2][0] * s.dw[2][0] + v_w[2][1] * s.dw[2][1] + v_w[2][2] * s.dw[2][2]) * g->inv_dx;
  v3_accum(v_x, vx);
}

/* ------------------------------------------------------------------ adjoint accumulators */

/* Per-particle parameter cotangents of the backward pass through time, [n][MPM_ADJ_NPAR] doubles summed over
 * the substeps: the fields of mpm_mparams, then the mass. */
enum { MPM_ADJ_MU = 0, MPM_ADJ_LAMBDA, MPM_ADJ_BULK, MPM_ADJ_VISCOSITY, MPM_ADJ_YIELD, MPM_ADJ_ALPHA, MPM_ADJ_TR_APEX,
       MPM_ADJ_MASS, MPM_ADJ_NPAR };
/* Global cotangents of the grid adjoint: gravity (3), the friction of each collider, then the walls'. */
#define MPM_ADJ_NGLOB (3 + MPM_FRICTION_SLOTS(MPM_MAX_COLLIDERS))

HD void mpm_adj_par_accum(double *v_par, mpm_mparams v, real v_mass) {
  v_par[MPM_ADJ_MU] += (double)v.mu;
  v_par[MPM_ADJ_LAMBDA] += (double)v.lambda;
  v_par[MPM_ADJ_BULK] += (double)v.bulk;
  v_par[MPM_ADJ_VISCOSITY] += (double)v.viscosity;
  v_par[MPM_ADJ_YIELD] += (double)v.yield_stress;
  v_par[MPM_ADJ_ALPHA] += (double)v.alpha;
  v_par[MPM_ADJ_TR_APEX] += (double)v.tr_apex;
  v_par[MPM_ADJ_MASS] += (double)v_mass;
}

/* Checks on a particle's new state: finite values, det F > 0 for the trial and projected F, and the
 * stencil inside the grid. Returns MPM_PERR_*. */
HD int mpm_check_particle(const mpm_kgrid *g, v3 x, v3 v, m3 C, m3 F_trial, m3 F) {
  if (!v3_isfinite(x) || !v3_isfinite(v) || !m3_isfinite(C) || !m3_isfinite(F)) return MPM_PERR_NAN;
  if (!(m3_det(F_trial) > 0) || !(m3_det(F) > 0)) return MPM_PERR_INVERTED;
  if (!mpm_in_domain(g, x)) return MPM_PERR_DOMAIN;
  return MPM_PERR_NONE;
}

/* Error key: the smallest key wins, so the lowest particle index is reported whatever the thread order. */
HD uint64_t mpm_error_key(int64_t p, int code) { return ((uint64_t)p << 4) | (uint64_t)code; }

#endif /* PL_MPM_KERNELS_H */
