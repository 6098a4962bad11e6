/* engine_trace.c: the branch trace of an evaluation (engine_trace.h). */
#include "pipeline/engine/engine_trace.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mpm/mpm_kernels.h"
#include "pipeline/engine/engine_internal.h"

typedef struct {
  uint64_t *particle[PL_TRACE_SLOTS], *node[PL_TRACE_SLOTS], *residual[PL_TRACE_SLOTS]; /* [n], [nodes], [npix][4] */
  size_t nparticle, nnode, nresidual;
  int slot; /* recording into, or -1 */
} engine_trace;

int pl_engine_can_trace(const pl_engine *e) { return e->backend == PL_BACKEND_CPU; }

pl_status pl_engine_trace(pl_engine *e, int slot) {
  if (slot >= PL_TRACE_SLOTS) return pl_fail(PL_ERR_INVALID, "branch trace: slot %d of %d", slot, PL_TRACE_SLOTS);
  engine_trace *t = (engine_trace *)e->trace;
  if (slot < 0) {
    if (t) t->slot = -1;
    e->sim->particle_trace = e->sim->node_trace = NULL;
    return PL_OK;
  }
  if (!pl_engine_can_trace(e)) return pl_fail(PL_ERR_UNSUPPORTED, "branch trace: CPU backend only");
  if (!t) {
    t = (engine_trace *)calloc(1, sizeof *t);
    if (!t) return pl_fail(PL_ERR_NOMEM, "out of memory (branch trace)");
    e->trace = t;
    t->nparticle = (size_t)e->n;
    t->nnode = mpm_node_count(&e->sim->grid);
    t->nresidual = 4 * (size_t)e->npix;
    for (int s = 0; s < PL_TRACE_SLOTS; ++s) {
      t->particle[s] = (uint64_t *)calloc(t->nparticle + 1, sizeof(uint64_t));
      t->node[s] = (uint64_t *)calloc(t->nnode + 1, sizeof(uint64_t));
      t->residual[s] = (uint64_t *)calloc(t->nresidual + 1, sizeof(uint64_t));
      if (!t->particle[s] || !t->node[s] || !t->residual[s]) return pl_fail(PL_ERR_NOMEM, "out of memory (branch trace)");
    }
  }
  t->slot = slot;
  return PL_OK;
}

void engine_trace_run_begin(pl_engine *e) {
  engine_trace *t = (engine_trace *)e->trace;
  if (!t || t->slot < 0) {
    e->sim->particle_trace = e->sim->node_trace = NULL;
    return;
  }
  int s = t->slot;
  memset(t->particle[s], 0, t->nparticle * sizeof(uint64_t));
  memset(t->node[s], 0, t->nnode * sizeof(uint64_t));
  memset(t->residual[s], 0, t->nresidual * sizeof(uint64_t));
  e->sim->particle_trace = t->particle[s];
  e->sim->node_trace = t->node[s];
  /* nodes lighter than 1e-6 of the lightest particle (a weight below 1e-6: at the edge of a support) untraced */
  double mmin = INFINITY;
  for (int64_t p = 0; p < e->n; ++p) mmin = fmin(mmin, (double)e->init_host.mass[p]);
  e->sim->trace_node_mass = e->n > 0 ? 1e-6 * mmin : 0;
}

/* the sign of r - t as a branch: 0 below, 1 within the rounding band of 0 (64 ulp of the larger: there rounding
 * decides the sign, and |r - t| differs between the sides by no more than the band; MPM_TRACE_BAND), 2 above */
static uint64_t sign_code(real r, real t) {
  double band = 64.0 * PL_REAL_EPS * fmax(1.0, fmax(fabs((double)r), fabs((double)t)));
  double d = (double)r - (double)t;
  return d > band ? 2 : (d < -band ? 0 : 1);
}

void engine_trace_residuals(pl_engine *e, int camera, int frame, const double *weights, const real *rgb,
                            const real *alpha, const real *trgb, const real *talpha, int64_t npix, int64_t offset) {
  engine_trace *t = (engine_trace *)e->trace;
  if (!t || t->slot < 0) return;
  uint64_t *h = t->residual[t->slot] + 4 * (size_t)offset;
  const uint64_t fr = (uint64_t)frame << 8 | (uint64_t)camera << 40;
  for (int64_t p = 0; p < npix; ++p) {
    if (weights[PL_LOSS_L1] > 0)
      for (int c = 0; c < 3; ++c) h[4 * p + c] = mpm_trace_fold(h[4 * p + c], fr | sign_code(rgb[3 * p + c], trgb[3 * p + c]));
    if (weights[PL_LOSS_MASK] > 0 && alpha && talpha)
      h[4 * p + 3] = mpm_trace_fold(h[4 * p + 3], fr | sign_code(alpha[p], talpha[p]));
  }
}

static int64_t count_diff(const uint64_t *a, const uint64_t *b, size_t n) {
  int64_t k = 0;
  for (size_t i = 0; i < n; ++i) k += a[i] != b[i];
  return k;
}

pl_status pl_engine_trace_diff(const pl_engine *e, int a, int b, pl_branch_changes *out) {
  memset(out, 0, sizeof *out);
  const engine_trace *t = (const engine_trace *)e->trace;
  if (!t || a < 0 || b < 0 || a >= PL_TRACE_SLOTS || b >= PL_TRACE_SLOTS)
    return pl_fail(PL_ERR_INVALID, "branch trace: no slots %d and %d recorded", a, b);
  out->particles = count_diff(t->particle[a], t->particle[b], t->nparticle);
  out->nodes = count_diff(t->node[a], t->node[b], t->nnode);
  out->residuals = count_diff(t->residual[a], t->residual[b], t->nresidual);
  return PL_OK;
}

pl_status pl_engine_objective_trace(void *user, int slot) { return pl_engine_trace((pl_engine *)user, slot); }

pl_status pl_engine_objective_trace_diff(void *user, int a, int b, int64_t counts[3]) {
  pl_branch_changes c;
  PL_TRY(pl_engine_trace_diff((const pl_engine *)user, a, b, &c));
  counts[0] = c.particles;
  counts[1] = c.nodes;
  counts[2] = c.residuals;
  return PL_OK;
}

void engine_trace_free(pl_engine *e) {
  engine_trace *t = (engine_trace *)e->trace;
  if (!t) return;
  for (int s = 0; s < PL_TRACE_SLOTS; ++s) free(t->particle[s]), free(t->node[s]), free(t->residual[s]);
  free(t);
  e->trace = NULL;
}
