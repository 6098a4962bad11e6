/* profile.c: exclusive per-phase wall time (see profile.h). */
#include "pipeline/fit/profile.h"

#include "core/progress.h"

const char *pl_phase_name(int phase) {
  static const char *names[PL_PH_COUNT] = {"simulation forward", "upsample forward",  "raster forward",
                                           "loss",               "raster backward",   "upsample backward",
                                           "simulation backward"};
  return phase >= 0 && phase < PL_PH_COUNT ? names[phase] : "?";
}

/* Charge the time since the last boundary to the phase on top of the stack. */
static void charge(pl_profile *p) {
  if (p->sync && p->backend == PL_BACKEND_CUDA) {
    pl_cuda_sync("profile");
    size_t used = pl_cuda_mem_used();
    if (used > p->peak_device_bytes) p->peak_device_bytes = used;
  }
  double t = pl_now();
  if (p->depth > 0 && p->depth <= PL_PROFILE_DEPTH) p->seconds[p->stack[p->depth - 1]] += t - p->t_last;
  p->t_last = t;
}

void pl_profile_begin(pl_profile *p, pl_phase phase) {
  charge(p);
  if (p->depth < PL_PROFILE_DEPTH) p->stack[p->depth] = (int)phase;
  p->depth++;
  p->calls[phase]++;
}

void pl_profile_end(pl_profile *p) {
  charge(p);
  if (p->depth > 0) p->depth--;
}

double pl_profile_total(const pl_profile *p) {
  double s = 0;
  for (int i = 0; i < PL_PH_COUNT; ++i) s += p->seconds[i];
  return s;
}

void pl_profile_print(const pl_profile *p, FILE *f) {
  double total = pl_profile_total(p);
  long evals = p->calls[PL_PH_SIM_BWD];
  fprintf(f, "time per phase (%s%s), over %ld gradient evaluation%s:\n", pl_backend_name(p->backend),
          p->backend == PL_BACKEND_CUDA ? (p->sync ? ", device-synchronised" : ", not synchronised: --profile") : "",
          evals, evals == 1 ? "" : "s");
  fprintf(f, "  %-22s %10s %14s %7s\n", "phase", "total s", "per eval ms", "share");
  for (int i = 0; i < PL_PH_COUNT; ++i)
    fprintf(f, "  %-22s %10.3f %14.2f %6.1f%%\n", pl_phase_name(i), p->seconds[i],
            evals ? 1e3 * p->seconds[i] / (double)evals : 0.0, total > 0 ? 100 * p->seconds[i] / total : 0.0);
  if (p->peak_device_bytes)
    fprintf(f, "  peak device memory in use %.1f MiB (CUDA context included)\n",
            (double)p->peak_device_bytes / 1048576.0);
}
