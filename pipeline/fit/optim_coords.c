/* optim_coords.c: well-conditioned learned coordinates (optimize.coordinates = valley; optim.h has the maps).
 *
 * Two known valleys of the image loss, each straightened by a change of the learned coordinates w of a pair of
 * parameters (u: their own step-space values, optim.h), mapped back exactly:
 *
 *  - elastic E with a learned Poisson ratio nu: what the bounce and squash fix is about the P-wave modulus
 *    M = E (1 - nu) / ((1 + nu)(1 - 2 nu)), so E learns w_E = log M = u_E + f(nu) with
 *    f(nu) = log(1 - nu) - log(1 + nu) - log(1 - 2 nu); nu keeps w_nu = u_nu. Inverse: u_E = w_E - f(nu(w_nu)).
 *    Chain rule: dL/dw_E = dL/du_E, dL/dw_nu = dL/du_nu - dL/du_E f'(nu) dnu/du_nu,
 *    f'(nu) = -1/(1 - nu) - 1/(1 + nu) + 2/(1 - 2 nu).
 *  - yield stress with a learned E (von Mises plasticity, viscoplastic): the floor of the valley measured in
 *    issue 16 ((3e5, 1.5e4) .. (6.5e5, 2.4e4)) has yield ~ E^0.6: close to a constant modulus of resilience
 *    yield^2 / 2E (the elastic energy stored at yield, what the springback returns; it varies 18% along the
 *    floor where yield / E varies 26%). The yield stress learns w_y = u_y - u_E / 2 = log(yield / sqrt(E)),
 *    E keeps w_E = u_E. Inverse: u_y = w_y + w_E / 2; dL/dw_E = dL/du_E + dL/du_y / 2, dL/dw_y = dL/du_y.
 *
 * A pair is coupled only in a step where both of its parameters learn (the active mask); otherwise w = u. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "pipeline/fit/optim_coords.h"

#define RESILIENCE_POWER 0.5

static double pwave_f(double nu) { return log(1 - nu) - log(1 + nu) - log(1 - 2 * nu); }
static double pwave_df(double nu) { return -1 / (1 - nu) - 1 / (1 + nu) + 2 / (1 - 2 * nu); }

double pl_coords_pwave_f(double nu) { return pwave_f(nu); }

/* "material.NAME.KEY" -> the parameter of that material and key (scalar, learnable), -1 when none */
static int find_param(const pl_optimizer *o, const char *material, const char *key) {
  char addr[192];
  snprintf(addr, sizeof addr, "material.%s.%s", material, key);
  for (int i = 0; i < o->n; ++i)
    if (strcmp(o->p[i].address, addr) == 0 && o->p[i].components == 1 && !o->p[i].frozen) return i;
  return -1;
}

void pl_coords_setup(pl_optimizer *o, const pl_scene *s) {
  for (int i = 0; i < o->n; ++i) o->p[i].coord = PL_COORD_PLAIN, o->p[i].partner = -1;
  if (!s->optimize.coordinates) return;
  for (int m = 0; m < s->nmaterials; ++m) {
    const pl_scene_material *mat = &s->materials[m];
    int e = find_param(o, mat->name, "E");
    if (e < 0 || o->p[e].space != PL_SPACE_LOG) continue;
    if (mat->model == PL_MAT_FIXED_COROTATED || mat->model == PL_MAT_NEO_HOOKEAN) {
      int nu = find_param(o, mat->name, "nu");
      /* f needs nu inside (-1, 1/2) for every value the parameter can take */
      if (nu >= 0 && o->p[nu].space == PL_SPACE_BOUNDED && o->p[nu].lo >= -1 && o->p[nu].hi <= 0.5) {
        o->p[e].coord = PL_COORD_PWAVE;
        o->p[e].partner = nu;
        PL_INFO("optimize.coordinates = valley: %s learns as the log P-wave modulus with %s", o->p[e].address,
                o->p[nu].address);
      }
    } else if (mat->model == PL_MAT_STVK_VON_MISES || mat->model == PL_MAT_VISCOPLASTIC) {
      int y = find_param(o, mat->name, "yield_stress");
      if (y >= 0 && o->p[y].space == PL_SPACE_LOG) {
        o->p[y].coord = PL_COORD_RESILIENCE;
        o->p[y].partner = e;
        PL_INFO("optimize.coordinates = valley: %s learns as log(yield / sqrt(E)) with %s", o->p[y].address,
                o->p[e].address);
      }
    }
  }
}

int pl_coords_coupled(const pl_optimizer *o, int i, const unsigned char *active) {
  const pl_param *p = &o->p[i];
  if (p->coord == PL_COORD_PLAIN || p->partner < 0) return 0;
  return !active || (active[i] && active[p->partner]);
}

void pl_coords_get(const pl_optimizer *o, const unsigned char *active, double *w) {
  for (int i = 0; i < o->n; ++i) {
    const pl_param *p = &o->p[i];
    for (int k = 0; k < 3; ++k) w[3 * i + k] = k < p->components ? p->u[k] : 0;
    if (!pl_coords_coupled(o, i, active)) continue;
    const pl_param *q = &o->p[p->partner];
    if (p->coord == PL_COORD_PWAVE) w[3 * i] = p->u[0] + pwave_f(pl_param_value(q, 0));
    else w[3 * i] = p->u[0] - RESILIENCE_POWER * q->u[0];
  }
}

void pl_coords_set(pl_optimizer *o, const unsigned char *active, const double *w) {
  /* partners are plain: set every value from w first, then the coupled ones from their partner */
  for (int i = 0; i < o->n; ++i)
    for (int k = 0; k < o->p[i].components; ++k) o->p[i].u[k] = w[3 * i + k];
  for (int i = 0; i < o->n; ++i) {
    if (!pl_coords_coupled(o, i, active)) continue;
    pl_param *p = &o->p[i];
    const pl_param *q = &o->p[p->partner];
    double u = p->coord == PL_COORD_PWAVE ? w[3 * i] - pwave_f(pl_param_value(q, 0)) : w[3 * i] + RESILIENCE_POWER * q->u[0];
    p->u[0] = u > PL_MAX_LOG_U ? PL_MAX_LOG_U : u < -PL_MAX_LOG_U ? -PL_MAX_LOG_U : u;
  }
}

void pl_coords_grad(const pl_optimizer *o, const unsigned char *active, const double *gu, double *gw) {
  for (int j = 0; j < 3 * o->n; ++j) gw[j] = gu[j];
  for (int i = 0; i < o->n; ++i) {
    if (!pl_coords_coupled(o, i, active)) continue;
    const pl_param *p = &o->p[i], *q = &o->p[p->partner];
    if (p->coord == PL_COORD_PWAVE) {
      double nu = pl_param_value(q, 0);
      gw[3 * p->partner] -= gu[3 * i] * pwave_df(nu) * pl_space_dvalue(q->space, q->lo, q->hi, q->u[0]);
    } else {
      gw[3 * p->partner] += RESILIENCE_POWER * gu[3 * i];
    }
  }
}
