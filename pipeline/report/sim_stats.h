/* sim_stats.h: whole-body diagnostics of a simulation state (what `pipeline render --stats` writes per frame):
 * mass, linear and angular momentum (with the APIC term), kinetic, elastic and gravitational energy, volume
 * (sum J V0), the fastest particle and the CFL number of the last substep. */
#ifndef PL_SIM_STATS_H
#define PL_SIM_STATS_H

#include <stdio.h>

#include "mpm/mpm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  double time;              /* simulated seconds */
  int substeps;             /* substeps of the last frame (0 at frame 0) */
  double dt;                /* their dt (s) */
  double mass;              /* sum m (kg) */
  double momentum[3];       /* sum m v (kg m/s) */
  double angular_momentum[3]; /* about the origin: sum m x x v + m (dx^2/4) eps : C^T (kg m^2/s) */
  double kinetic;           /* sum m |v|^2 / 2 (J) */
  double elastic;           /* sum V0 psi(F) (J; materials.h mpm_energy_density) */
  double potential;         /* -sum m g . x (J, zero at the origin) */
  double volume;            /* sum J V0 (m^3) */
  double volume0;           /* sum V0 (m^3) */
  double max_speed;         /* fastest particle (m/s) */
  double cfl;               /* dt (c + max speed) / dx of the last substep: the CFL number it ran at */
} pl_sim_stats;

/* The diagnostics of the simulator's current state (downloads it). */
pl_status pl_sim_stats_compute(const mpm_sim *s, pl_sim_stats *out);
/* Per particle, on host arrays: the same sums (x, v, C, F [n][..], mass, vol0, material [n]). */
void pl_sim_stats_sum(const mpm_sim *s, int64_t n, const real *x, const real *v, const real *C, const real *F,
                      const real *mass, const real *vol0, const int32_t *material, pl_sim_stats *out);

/* CSV: the header line and one row per frame. */
void pl_sim_stats_csv_header(FILE *f);
void pl_sim_stats_csv_row(FILE *f, int frame, const pl_sim_stats *st);

#ifdef __cplusplus
}
#endif
#endif
