/* mpm_exec.c: the execution paths of the simulator (mpm_desc.sync, p2g, sort_every, graph and their environment
 * variables), the span of deferred particle checks (mpm_checks_begin / next / end, mpm.h) and the runs of substeps
 * inside a span that the CUDA backend replays as a graph (mpm_graph_usable, mpm_run_substeps).
 *
 * Deferred checks exist for the GPU: per-stage checks wait for the device after every P2G and G2P (two host
 * round trips per substep, docs/gpu.md). With sync = frame the stages fold their errors, tagged with the substep
 * and stage (mpm_tile.h), into one word on the backend, read once at the end of the span. The CPU backend keeps
 * the same protocol (its word is a host variable) so that the front's side of it is tested without a GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpm/mpm_internal.h"

/* One setting: the descriptor's value when set, else the environment variable's, else the default. */
static pl_status exec_choice(int given, const char *env, const char *names[2], int def, int *out) {
  if (given != 0) {
    if (given != 1 && given != 2)
      return pl_fail(PL_ERR_INVALID, "mpm: execution path %d for %s is not %s (1) or %s (2)", given, env, names[0],
                     names[1]);
    *out = given;
    return PL_OK;
  }
  const char *v = getenv(env);
  *out = def;
  if (!v || !v[0]) return PL_OK;
  for (int k = 0; k < 2; ++k)
    if (!strcmp(v, names[k])) {
      *out = k + 1;
      return PL_OK;
    }
  return pl_fail(PL_ERR_INVALID, "environment variable %s = '%s': choose %s or %s", env, v, names[0], names[1]);
}

pl_status mpm_exec_resolve(mpm_sim *s, const mpm_desc *d) {
  static const char *sync_names[2] = {"stage", "frame"}, *p2g_names[2] = {"atomic", "tiled"};
  PL_TRY(exec_choice(d->sync, "PL_MPM_SYNC", sync_names, MPM_SYNC_STAGE, &s->sync_mode));
  PL_TRY(exec_choice(d->p2g, "PL_MPM_P2G", p2g_names, MPM_P2G_ATOMIC, &s->p2g_mode));
  int every = d->sort_every;
  const char *v = getenv("PL_MPM_SORT_EVERY");
  if (every == 0 && v && v[0]) {
    char *end = NULL;
    long k = strtol(v, &end, 10);
    if (!end || *end || k < 1 || k > 1000000)
      return pl_fail(PL_ERR_INVALID, "environment variable PL_MPM_SORT_EVERY = '%s': a substep count 1..1000000", v);
    every = (int)k;
  }
  if (every < 0 || every > 1000000) return pl_fail(PL_ERR_INVALID, "mpm: sort_every = %d: choose 1..1000000 (0: 8)", every);
  s->sort_every = every ? every : 8;
  /* graph: 1 off, 2 on (PL_MPM_GRAPH = 0 | 1 | off | on); a graph cannot stop between stages for the host's
   * checks, so it needs sync = frame */
  s->graph_mode = MPM_GRAPH_OFF;
  const char *gv = getenv("PL_MPM_GRAPH");
  if (d->graph != 0) {
    if (d->graph != MPM_GRAPH_OFF && d->graph != MPM_GRAPH_ON)
      return pl_fail(PL_ERR_INVALID, "mpm: mpm_desc.graph = %d: choose 1 (off) or 2 (on; instead of PL_MPM_GRAPH)",
                     d->graph);
    s->graph_mode = d->graph;
  } else if (gv && gv[0]) {
    if (!strcmp(gv, "1") || !strcmp(gv, "on"))
      s->graph_mode = MPM_GRAPH_ON;
    else if (strcmp(gv, "0") && strcmp(gv, "off"))
      return pl_fail(PL_ERR_INVALID, "environment variable PL_MPM_GRAPH = '%s': choose 1 or on (CUDA graphs of "
                     "substeps), 0 or off", gv);
  }
  if (s->graph_mode == MPM_GRAPH_ON && s->sync_mode != MPM_SYNC_FRAME)
    return pl_fail(PL_ERR_INVALID, "mpm: CUDA graphs (%s) need the particle checks deferred to the frame's end "
                   "(sync = frame, PL_MPM_SYNC=frame): a graph cannot stop for the host between its stages",
                   d->graph ? "mpm_desc.graph = 2" : "PL_MPM_GRAPH=1");
  return PL_OK;
}

/* ------------------------------------------------------------------ graphs of substeps */

int mpm_graph_usable(const mpm_sim *s) {
  const mpm_backend_ops *ops;
  if (s->graph_mode != MPM_GRAPH_ON || s->defer_active != 1) return 0;
  if (mpm_backend_ops_get(s->backend, &ops) != PL_OK) {
    pl_clear_error();
    return 0;
  }
  return ops->substeps != NULL;
}

pl_status mpm_run_substeps(mpm_sim *s, double t0, double dt, int64_t k0, int64_t count) {
  if (count <= 0) return PL_OK;
  if (!mpm_graph_usable(s)) {
    for (int64_t k = k0; k < k0 + count; ++k) {
      s->time = t0 + (double)k * dt; /* no drift over long runs */
      mpm_checks_substep(s, k);
      PL_TRY(mpm_substep(s, (real)dt));
    }
    return PL_OK;
  }
  const mpm_backend_ops *ops;
  PL_TRY(mpm_backend_ops_get(s->backend, &ops));
  mpm_kclock clk = {t0, dt, k0};
  PL_TRY(ops->substeps(s, &clk, count));
  mpm_checks_substep(s, k0 + count - 1);
  s->time = t0 + (double)(k0 + count - 1) * dt + (double)(real)dt; /* as mpm_substep leaves it */
  s->substeps_done += count;
  s->particle_substeps += s->n * count;
  return PL_OK;
}

/* ------------------------------------------------------------------ deferred checks */

pl_status mpm_checks_begin(mpm_sim *s, int64_t span_substeps) {
  s->defer_active = 0;
  s->defer_substep = 0;
  if (s->sync_mode != MPM_SYNC_FRAME || s->n >= MPM_DEFER_MAX_PARTICLES || span_substeps > MPM_DEFER_MAX_SUBSTEPS)
    return PL_OK;
  const mpm_backend_ops *ops;
  PL_TRY(mpm_backend_ops_get(s->backend, &ops));
  PL_TRY(ops->defer_reset(s));
  s->defer_active = 1;
  s->defer_substep = 0;
  s->defer_tag = mpm_defer_tag(0, MPM_STAGE_P2G);
  return PL_OK;
}

void mpm_checks_substep(mpm_sim *s, int64_t substep) {
  if (s->defer_active && substep >= 0 && substep < MPM_DEFER_MAX_SUBSTEPS) s->defer_substep = substep;
}

void mpm_checks_abort(mpm_sim *s) {
  s->defer_active = 0;
  s->defer_substep = 0;
}

pl_status mpm_checks_end(mpm_sim *s, const mpm_state *state, mpm_checks_where where, void *user) {
  if (!s->defer_active) return PL_OK;
  mpm_checks_abort(s);
  const mpm_backend_ops *ops;
  PL_TRY(mpm_backend_ops_get(s->backend, &ops));
  uint64_t word = MPM_NO_ERROR;
  PL_TRY(ops->defer_read(s, &word));
  if (word == MPM_NO_ERROR) return PL_OK;
  int stage = mpm_defer_stage(word);
  pl_status st = mpm_particle_error(s, state, mpm_defer_key(word),
                                    stage == MPM_STAGE_P2G ? "the particle-to-grid transfer, checked at the end of the "
                                                             "span (sync = frame): values from its end"
                                                           : "the grid-to-particle transfer, checked at the end of the "
                                                             "span (sync = frame): values from its end");
  char buf[256] = "";
  if (where) where(user, mpm_defer_substep(word), buf, sizeof buf);
  return buf[0] ? pl_fail_context(st, "%s", buf) : st;
}
