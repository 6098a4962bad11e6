/* sim_stats.c: whole-body diagnostics of a simulation state (see sim_stats.h). Sums in double, in particle
 * order (deterministic). */
#include "pipeline/report/sim_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void pl_sim_stats_sum(const mpm_sim *s, int64_t n, const real *x, const real *v, const real *C, const real *F,
                      const real *mass, const real *vol0, const int32_t *material, pl_sim_stats *o) {
  memset(o, 0, sizeof *o);
  const double D = 0.25 * (double)s->grid.dx * (double)s->grid.dx; /* sum_i w (x_i - x_p)(x_i - x_p)^T = dx^2/4 I */
  const double g[3] = {(double)s->grid.gravity.x, (double)s->grid.gravity.y, (double)s->grid.gravity.z};
  double vmax2 = 0;
  for (int64_t p = 0; p < n; ++p) {
    double m = mass[p], xp[3], vp[3];
    for (int a = 0; a < 3; ++a) xp[a] = x[3 * p + a], vp[a] = v[3 * p + a];
    const real *Cp = C + 9 * p;
    o->mass += m;
    double v2 = 0;
    for (int a = 0; a < 3; ++a) {
      o->momentum[a] += m * vp[a];
      v2 += vp[a] * vp[a];
      o->potential -= m * g[a] * xp[a];
    }
    if (v2 > vmax2) vmax2 = v2;
    o->kinetic += 0.5 * m * v2;
    /* x x v plus the affine part: the APIC angular momentum m D eps : C^T (Jiang et al. 2015) */
    o->angular_momentum[0] += m * (xp[1] * vp[2] - xp[2] * vp[1]) + m * D * (Cp[7] - Cp[5]);
    o->angular_momentum[1] += m * (xp[2] * vp[0] - xp[0] * vp[2]) + m * D * (Cp[2] - Cp[6]);
    o->angular_momentum[2] += m * (xp[0] * vp[1] - xp[1] * vp[0]) + m * D * (Cp[3] - Cp[1]);
    m3 Fp = m3_load(F + 9 * p);
    double J = (double)m3_det(Fp);
    o->volume += J * vol0[p];
    o->volume0 += vol0[p];
    int mi = material[p];
    if (mi >= 0 && mi < s->nmaterials) {
      const mpm_kmaterial *km = &s->kmaterials[mi];
      o->elastic += (double)vol0[p] * (double)mpm_energy_density(km->model, Fp, km->p);
    }
  }
  o->max_speed = sqrt(vmax2);
  o->time = s->time;
  o->substeps = s->frame > 0 ? s->last_substeps : 0;
  o->dt = s->frame > 0 ? s->last_dt : 0;
  o->cfl = o->dt * (s->wave_speed + o->max_speed) / (double)s->grid.dx;
}

pl_status pl_sim_stats_compute(const mpm_sim *s, pl_sim_stats *out) {
  mpm_particles h;
  PL_TRY(mpm_particles_alloc(&h, s->n));
  pl_status st = mpm_download(s, &s->state, &h);
  size_t nb = (size_t)s->n * sizeof(real);
  if (st == PL_OK) st = pl_buffer_download(&s->mass, 0, h.mass, nb);
  if (st == PL_OK) st = pl_buffer_download(&s->vol0, 0, h.vol0, nb);
  if (st == PL_OK) st = pl_buffer_download(&s->material, 0, h.material, (size_t)s->n * sizeof(int32_t));
  if (st == PL_OK) pl_sim_stats_sum(s, h.n, h.x, h.v, h.C, h.F, h.mass, h.vol0, h.material, out);
  mpm_particles_free(&h);
  return st;
}

void pl_sim_stats_csv_header(FILE *f) {
  fprintf(f, "frame,time,substeps,dt,mass,px,py,pz,Lx,Ly,Lz,kinetic,elastic,potential,total_energy,volume,"
             "volume_ratio,max_speed,cfl\n");
}

void pl_sim_stats_csv_row(FILE *f, int frame, const pl_sim_stats *t) {
  fprintf(f, "%d,%.9g,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.6g\n", frame,
          t->time, t->substeps, t->dt, t->mass, t->momentum[0], t->momentum[1], t->momentum[2],
          t->angular_momentum[0], t->angular_momentum[1], t->angular_momentum[2], t->kinetic, t->elastic, t->potential,
          t->kinetic + t->elastic + t->potential, t->volume, t->volume0 > 0 ? t->volume / t->volume0 : 0, t->max_speed,
          t->cfl);
}
