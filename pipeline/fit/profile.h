/* profile.h: where an iteration's time goes. Exclusive wall time per phase of the pipeline (a nested phase's time
 * is not counted in the phase around it), and the peak device memory seen at phase ends.
 *
 *   pl_profile_begin(&e->prof, PL_PH_RASTER_FWD); ... ; pl_profile_end(&e->prof);
 *
 * On the CUDA backend kernels run asynchronously: with `sync` set, every phase boundary waits for the device
 * (cudaDeviceSynchronize), so the times are the phases' own; without it they are where the host waited. */
#ifndef PL_PROFILE_H
#define PL_PROFILE_H

#include <stdio.h>

#include "core/backend.h"

typedef enum {
  PL_PH_SIM_FWD = 0, /* MPM forward (substeps, checkpoints) */
  PL_PH_UPS_FWD,     /* upsampler forward */
  PL_PH_RASTER_FWD,  /* rasterizer forward */
  PL_PH_LOSS,        /* image loss and its cotangent */
  PL_PH_RASTER_BWD,  /* rasterizer adjoint */
  PL_PH_UPS_BWD,     /* upsampler adjoint */
  PL_PH_SIM_BWD,     /* MPM backward through time (re-simulated segments included) */
  PL_PH_COUNT
} pl_phase;

#define PL_PROFILE_DEPTH 8

typedef struct {
  int sync;                  /* wait for the device at each boundary (CUDA) */
  pl_backend backend;
  double seconds[PL_PH_COUNT];
  long calls[PL_PH_COUNT];
  size_t peak_device_bytes;
  int stack[PL_PROFILE_DEPTH];
  int depth;
  double t_last;
} pl_profile;

const char *pl_phase_name(int phase);
void pl_profile_begin(pl_profile *p, pl_phase phase);
void pl_profile_end(pl_profile *p);
/* Total seconds over every phase. */
double pl_profile_total(const pl_profile *p);
/* The table: total and per gradient evaluation, per phase (and the peak device memory when synchronised). */
void pl_profile_print(const pl_profile *p, FILE *f);

#endif
