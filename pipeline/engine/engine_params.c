/* engine_params.c: learnable values beyond the materials, gravity and initial velocities: friction of the
 * colliders and walls, each object's initial placement (centre and rotation), and the background colour.
 *
 *   collider.NAME.friction, sim.boundary_friction  mpm_set_friction; dL/dmu from the grid adjoint's contact
 *                                                  cotangents (mpm_grads.collider_friction, .boundary_friction)
 *   object.NAME.center, object.NAME.rotation       the object's initial particles are placed rigidly:
 *        x_p = c + Q (x0_p - c0),  F_p = Q,  v_p = v + w x (x_p - c),  Q = R(theta) R(theta0)^T
 *     with x0_p, c0, theta0 the sampled rest placement and R the XYZ Euler matrix (Rz Ry Rx, degrees) that the
 *     sampler and the upsampler use. F = Q starts every model at zero stress (they are rotation invariant), and
 *     the bound upsampler's Gaussians, mu = sum w (x_p + F_p (X - X_p)), Sigma = Ft Sigma0 Ft^T, turn with it.
 *     Cotangents from the initial state's (mpm_grads.x0, v0, F0):
 *        dL/dc = sum_p g_x,
 *        dL/dtheta_j = sum_p (g_x + g_v x w) . (dR/dtheta_j R0^T (x0_p - c0)) + g_F : (dR/dtheta_j R0^T)  (rad->deg)
 *   render.background                              out = sum c alpha T + T_final bg with T_final = 1 - alpha:
 *        dL/dbg_k = sum over the loss pixels of dL/dout_k (1 - alpha)                                        */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rotation.h"
#include "pipeline/engine/engine_params.h"
#include "pipeline/scene/sim_setup.h"

#define DEG (3.14159265358979323846 / 180.0)

typedef struct {
  double *cam;     /* [ncams][7]: translation offset, rotation offset (degrees), focal scale */
  pl_buffer vcam;  /* [ncams][16] cotangents of viewmat rows 0..2 and fx fy cx cy (raster_grads.cameras) */
  int learn_cams;
  double *pose;    /* [nobjects][6]: centre, rotation (degrees) as now */
  real *x0;        /* [n][3] sampled initial positions */
  double bg_grad[3];
  int learn_bg;
} params_state;

static params_state *state_of(pl_engine *e) {
  if (!e->extra_params) {
    params_state *p = (params_state *)calloc(1, sizeof *p);
    if (!p) return NULL;
    p->pose = (double *)calloc((size_t)e->nobjects * 6 + 1, sizeof(double));
    p->cam = (double *)calloc((size_t)e->ncams * 7 + 1, sizeof(double));
    if (!p->cam || pl_buffer_alloc(&p->vcam, e->backend, sizeof(real) * 16 * (size_t)(e->ncams + 1)) != PL_OK) {
      free(p->cam), free(p->pose), free(p);
      return NULL;
    }
    for (int c = 0; c < e->ncams; ++c) {
      const pl_config *cfg = &e->scene->config;
      const char *nm = e->scene->cameras[c].name;
      pl_config_vec3(cfg, "camera", nm, "translation_offset", p->cam + 7 * c, NULL);
      pl_config_vec3(cfg, "camera", nm, "rotation_offset", p->cam + 7 * c + 3, NULL);
      pl_config_real(cfg, "camera", nm, "focal_scale", p->cam + 7 * c + 6, NULL);
    }
    p->x0 = (real *)malloc(sizeof(real) * 3 * (size_t)(e->n > 0 ? e->n : 1));
    if (!p->pose || !p->x0) {
      free(p->pose), free(p->x0), free(p);
      return NULL;
    }
    for (int o = 0; o < e->nobjects; ++o)
      for (int k = 0; k < 3; ++k) {
        p->pose[6 * o + k] = e->scene->objects[o].center[k];
        p->pose[6 * o + 3 + k] = e->scene->objects[o].rotation[k];
      }
    memcpy(p->x0, e->init_host.x, sizeof(real) * 3 * (size_t)e->n);
    e->extra_params = p;
  }
  return (params_state *)e->extra_params;
}

void engine_params_free(pl_engine *e) {
  params_state *p = (params_state *)e->extra_params;
  if (!p) return;
  free(p->pose), free(p->x0), free(p->cam);
  pl_buffer_free(&p->vcam);
  free(p);
  e->extra_params = NULL;
}

const double *engine_object_center(pl_engine *e, int o) {
  params_state *p = (params_state *)e->extra_params;
  return p ? p->pose + 6 * o : e->scene->objects[o].center;
}

/* v_p = v + w x (x_p - c) for every particle of object o (then the scene's velocity_field), into the initial state */
pl_status engine_refresh_velocities(pl_engine *e) {
  const pl_scene *s = e->scene;
  for (int64_t i = 0; i < e->n; ++i) {
    int o = e->init_host.object[i];
    if (o < 0 || o >= s->nobjects) continue;
    const double *v = e->obj_velocity + 6 * o, *w = v + 3, *c = engine_object_center(e, o);
    double r[3] = {e->init_host.x[3 * i] - c[0], e->init_host.x[3 * i + 1] - c[1], e->init_host.x[3 * i + 2] - c[2]};
    e->init_host.v[3 * i] = (real)(v[0] + w[1] * r[2] - w[2] * r[1]);
    e->init_host.v[3 * i + 1] = (real)(v[1] + w[2] * r[0] - w[0] * r[2]);
    e->init_host.v[3 * i + 2] = (real)(v[2] + w[0] * r[1] - w[1] * r[0]);
  }
  PL_TRY(pl_sim_velocity_field(s, e->n, e->init_host.x, e->init_host.object, e->init_host.v));
  return pl_buffer_upload(&e->init.v, 0, e->init_host.v, sizeof(real) * 3 * (size_t)e->n);
}

/* R = Rz Ry Rx of rotation (degrees) and, when d is given, dR/drot_j (per radian): core/rotation.h, the one
 * Euler formula the simulator and the upsampler place with */
static void euler(const double rot[3], double R[3][3], double d[3][3][3]) {
  double r[9], dr[3][9];
  if (d) pl_euler_xyz_deg_jac(rot, r, dr);
  else pl_euler_xyz_deg(rot, r);
  for (int a = 0; a < 3; ++a)
    for (int b = 0; b < 3; ++b) {
      R[a][b] = r[3 * a + b];
      for (int k = 0; d && k < 3; ++k) d[k][a][b] = dr[k][3 * a + b];
    }
}

/* Q = R(rot) R(rot0)^T, and dQ_j = dR_j R0^T */
static void pose_q(const double rot[3], const double rot0[3], double Q[3][3], double dQ[3][3][3]) {
  double R[3][3], R0[3][3], dR[3][3][3];
  euler(rot, R, dR);
  euler(rot0, R0, NULL);
  for (int j = -1; j < 3; ++j) {
    double (*A)[3] = j < 0 ? R : dR[j], (*out)[3] = j < 0 ? Q : dQ[j];
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
        out[a][b] = 0;
        for (int k = 0; k < 3; ++k) out[a][b] += A[a][k] * R0[b][k];
      }
  }
}

/* place object o's initial particles at its current pose (x, F on the host and the backend) */
static pl_status apply_pose(pl_engine *e, int o) {
  params_state *p = state_of(e);
  const pl_scene_object *so = &e->scene->objects[o];
  double Q[3][3], dQ[3][3][3];
  pose_q(p->pose + 6 * o + 3, so->rotation, Q, dQ);
  const double *c = p->pose + 6 * o;
  for (int64_t i = 0; i < e->n; ++i) {
    if (e->init_host.object[i] != o) continue;
    double r[3];
    for (int k = 0; k < 3; ++k) r[k] = (double)p->x0[3 * i + k] - so->center[k];
    for (int a = 0; a < 3; ++a) {
      e->init_host.x[3 * i + a] = (real)(c[a] + Q[a][0] * r[0] + Q[a][1] * r[1] + Q[a][2] * r[2]);
      for (int b = 0; b < 3; ++b) e->init_host.F[9 * i + 3 * a + b] = (real)Q[a][b];
    }
  }
  size_t n = (size_t)e->n;
  PL_TRY(pl_buffer_upload(&e->init.x, 0, e->init_host.x, sizeof(real) * 3 * n));
  PL_TRY(pl_buffer_upload(&e->init.F, 0, e->init_host.F, sizeof(real) * 9 * n));
  return engine_refresh_velocities(e);
}

/* camera c's viewmat and focal lengths from the scene's and its corrections:
 * R' = Rd R, t' = Rd t + dt, (fx', fy') = s (fx, fy), Rd = Rz Ry Rx of the rotation offset */
static void apply_camera(pl_engine *e, int c) {
  params_state *p = (params_state *)e->extra_params;
  const pl_scene_camera *sc = &e->scene->cameras[c];
  const double *off = p->cam + 7 * c;
  double Rd[3][3];
  euler(off + 3, Rd, NULL);
  raster_camera *rc = &e->cams[c];
  for (int a = 0; a < 3; ++a) {
    for (int b = 0; b < 4; ++b) {
      double v = 0;
      for (int k = 0; k < 3; ++k) v += Rd[a][k] * sc->viewmat[4 * k + b];
      rc->viewmat[4 * a + b] = v + (b == 3 ? off[a] : 0);
    }
  }
  rc->fx = off[6] * sc->fx;
  rc->fy = off[6] * sc->fy;
}

/* camera (re)applied at set-up when a scene gives corrections without learning them */
pl_status engine_params_init_cameras(pl_engine *e) {
  int any = 0;
  for (int c = 0; c < e->scene->ncameras; ++c) {
    const pl_config *cfg = &e->scene->config;
    const char *nm = e->scene->cameras[c].name;
    any |= pl_config_text(cfg, "camera", nm, "translation_offset") != NULL ||
           pl_config_text(cfg, "camera", nm, "rotation_offset") != NULL ||
           pl_config_text(cfg, "camera", nm, "focal_scale") != NULL;
  }
  if (!any) return PL_OK;
  if (!state_of(e)) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int c = 0; c < e->ncams; ++c) apply_camera(e, c);
  return PL_OK;
}

real *engine_params_camera_grads(pl_engine *e) {
  params_state *p = (params_state *)e->extra_params;
  return p && p->learn_cams ? (real *)p->vcam.ptr : NULL;
}

pl_status engine_params_set_pose(pl_engine *e, int o, int field, const double *v, int ncomp, const char *address) {
  params_state *p = state_of(e);
  if (!p) return pl_fail(PL_ERR_NOMEM, "out of memory");
  if (ncomp != 3) return pl_fail(PL_ERR_INVALID, "%s: no [object %s] or not 3 values", address, e->scene->objects[o].name);
  if (e->scene->objects[o].field.learn_positions)
    return pl_fail(PL_ERR_INVALID, "%s: [object %s] learns its particles' positions (learn_positions), which include "
                   "its placement; learn one or the other", address, e->scene->objects[o].name);
  double *dst = p->pose + 6 * o + field;
  if (memcmp(dst, v, 3 * sizeof(double)) == 0) return PL_OK;
  memcpy(dst, v, 3 * sizeof(double));
  return apply_pose(e, o);
}

pl_status engine_params_set_camera(pl_engine *e, int c, int field, const double *v, int ncomp, const char *address) {
  params_state *p = state_of(e);
  if (!p) return pl_fail(PL_ERR_NOMEM, "out of memory");
  if (field == 6 && !(v[0] > 0)) return pl_fail(PL_ERR_INVALID, "%s = %g: must be > 0", address, v[0]);
  double *dst = p->cam + 7 * c + field;
  for (int k = 0; k < ncomp; ++k) dst[k] = v[k];
  p->learn_cams = 1;
  apply_camera(e, c);
  return PL_OK;
}

pl_status engine_params_set_background(pl_engine *e, const double *v, int ncomp, const char *address) {
  params_state *p = state_of(e);
  if (!p || ncomp != 3) return pl_fail(PL_ERR_INVALID, "%s needs 3 values", address);
  p->learn_bg = 1;
  for (int k = 0; k < 3; ++k) e->ropt.background[k] = (real)v[k];
  return PL_OK;
}

pl_status engine_params_zero_grads(pl_engine *e) {
  params_state *p = (params_state *)e->extra_params;
  if (p) memset(p->bg_grad, 0, sizeof p->bg_grad);
  if (p && p->learn_cams) PL_TRY(pl_buffer_zero(&p->vcam));
  return PL_OK;
}

pl_status engine_params_frame_adjoint(pl_engine *e) {
  params_state *p = (params_state *)e->extra_params;
  if (!p || !p->learn_bg) return PL_OK;
  /* sum over the pixels of v_rgb (1 - alpha); the cotangents of cameras without a loss are 0 */
  size_t np = (size_t)e->npix;
  real *v = (real *)malloc(sizeof(real) * 3 * (np ? np : 1)), *a = (real *)malloc(sizeof(real) * (np ? np : 1));
  pl_status st = (v && a) ? PL_OK : pl_fail(PL_ERR_NOMEM, "out of memory");
  if (st == PL_OK) st = pl_buffer_download(&e->vimg, 0, v, sizeof(real) * 3 * np);
  if (st == PL_OK) st = pl_buffer_download(&e->img, sizeof(real) * 3 * np, a, sizeof(real) * np);
  for (size_t i = 0; st == PL_OK && i < np; ++i)
    for (int k = 0; k < 3; ++k) p->bg_grad[k] += (double)v[3 * i + k] * (1.0 - (double)a[i]);
  free(v), free(a);
  return st;
}

void engine_params_background_gradient(pl_engine *e, pl_param *par) {
  params_state *p = (params_state *)e->extra_params;
  for (int k = 0; k < 3; ++k) par->grad[k] = p ? p->bg_grad[k] : 0;
}

pl_status engine_params_camera_gradient(pl_engine *e, int c, int field, pl_param *par) {
  params_state *p = (params_state *)e->extra_params;
  if (!p || !p->learn_cams) return pl_fail(PL_ERR_INTERNAL, "%s: no camera gradient recorded", par->address);
  real vc[16];
  PL_TRY(pl_buffer_download(&p->vcam, sizeof(real) * 16 * (size_t)c, vc, sizeof vc));
  const pl_scene_camera *sc = &e->scene->cameras[c];
  if (field == 0) {
    for (int k = 0; k < 3; ++k) par->grad[k] = (double)vc[4 * k + 3];
  } else if (field == 6) {
    par->grad[0] = (double)vc[12] * sc->fx + (double)vc[13] * sc->fy;
  } else { /* dL/dRd = V_R R^T + V_t t^T (R, t the scene's); dL/dtheta_j = <dL/dRd, dRd/dtheta_j> per degree */
    double Rd[3][3], dRd[3][3][3], G[3][3];
    euler(p->cam + 7 * c + 3, Rd, dRd);
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) {
        G[a][b] = (double)vc[4 * a + 3] * sc->viewmat[4 * b + 3];
        for (int k = 0; k < 3; ++k) G[a][b] += (double)vc[4 * a + k] * sc->viewmat[4 * b + k];
      }
    for (int j = 0; j < 3; ++j) {
      double t = 0;
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) t += G[a][b] * dRd[j][a][b];
      par->grad[j] = t * DEG;
    }
  }
  return PL_OK;
}

pl_status engine_params_pose_gradient(pl_engine *e, const mpm_grads *g, int o, int field, pl_param *par) {
  params_state *p = state_of(e);
  if (!p) return pl_fail(PL_ERR_INVALID, "%s: no such object", par->address);
  const pl_scene_object *so = &e->scene->objects[o];
  double Q[3][3], dQ[3][3][3], acc[3] = {0, 0, 0};
  pose_q(p->pose + 6 * o + 3, so->rotation, Q, dQ);
  const double *w = e->obj_velocity + 6 * o + 3;
  int rot = field == 3;
  for (int64_t i = 0; i < e->n; ++i) {
    if (e->init_host.object[i] != o) continue;
    const real *gx = g->x0 + 3 * i, *gv = g->v0 + 3 * i, *gF = g->F0 + 9 * i;
    if (!rot) {
      for (int k = 0; k < 3; ++k) acc[k] += gx[k];
      continue;
    }
    /* g_x + g_v x w */
    double a[3] = {gx[0] + (gv[1] * w[2] - gv[2] * w[1]), gx[1] + (gv[2] * w[0] - gv[0] * w[2]),
                   gx[2] + (gv[0] * w[1] - gv[1] * w[0])};
    double r[3];
    for (int k = 0; k < 3; ++k) r[k] = (double)p->x0[3 * i + k] - so->center[k];
    for (int j = 0; j < 3; ++j) {
      double t = 0;
      for (int q = 0; q < 3; ++q) {
        t += a[q] * (dQ[j][q][0] * r[0] + dQ[j][q][1] * r[1] + dQ[j][q][2] * r[2]);
        for (int b = 0; b < 3; ++b) t += (double)gF[3 * q + b] * dQ[j][q][b];
      }
      acc[j] += t * DEG;
    }
  }
  memcpy(par->grad, acc, sizeof acc);
  return PL_OK;
}
