/* mpm_adjoint.c: backpropagation through time for the MLS-MPM simulator: the tape (substep schedule,
 * checkpoints, cotangent sources), the re-simulation of one segment at a time, the adjoint substep (dispatch to
 * the CPU or CUDA loops), the memory bound, and the parameter gradients. Derivation: docs/adjoints.md,
 * "MPM backward through time". */
#include "mpm/mpm_adjoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "mpm/mpm_internal.h"

#define MB (1024.0 * 1024.0)

struct mpm_tape {
  mpm_sim *sim;
  const mpm_backend_ops *ops; /* the simulation's backend */
  int checkpoint_every;      /* > 0: every K substeps; 0: every frame; MPM_TAPE_AUTO: thinned within the bound */
  int64_t auto_k;            /* automatic mode: the current spacing (a power of two) */
  double limit_bytes;
  int64_t state_bytes;
  /* the recorded schedule: frame f (0-based run index) has nsub[f] substeps of dt[f] from time t0[f]; its
   * first substep has the global index first[f]; first[frames] = total */
  int frames, frames_cap;
  int *nsub;
  double *dt, *t0;
  int64_t *first;
  int64_t total;
  int recorded;
  /* checkpoints: ckpt[c] is the state before substep ckpt_at[c] */
  mpm_state *ckpt;
  int64_t *ckpt_at;
  int nckpt, ckpt_alloc, ckpt_cap;
  /* the segment: states after the checkpoint's first substep, seg_needed slots for the longest segment */
  mpm_state *seg;
  int seg_alloc, seg_needed;
  /* cotangent sources per frame 0..frames (NULL: none); cot_live[f]: holds a value for this forward */
  mpm_state **cot;
  unsigned char *cot_live;
  int cot_cap;
  /* work */
  mpm_state adj;
  pl_buffer grid_pre, v_gridv, v_par, glob_dev;
  double *row_acc;           /* CPU: [(n0 + 1)][MPM_ADJ_NGLOB] */
  double glob[MPM_ADJ_NGLOB];
  int64_t work_bytes, cur_bytes, peak_bytes;
  /* what the forward ran with (the backward refuses a changed simulation) */
  mpm_kmaterial *kmat_fwd;
  real *fric_fwd;            /* [MPM_FRICTION_SLOTS(ncolliders)]: colliders, then the six walls */
  v3 gravity_fwd;
  int had_pmu;
};

int64_t mpm_state_bytes(int64_t n) { return (n > 0 ? n : 1) * (int64_t)(3 + 3 + 9 + 9 + 1) * (int64_t)sizeof(real); }

/* ------------------------------------------------------------------ memory accounting */

static void account(mpm_tape *t, int64_t bytes) {
  t->cur_bytes += bytes;
  if (t->cur_bytes > t->peak_bytes) t->peak_bytes = t->cur_bytes;
}

static pl_status state_alloc_tracked(mpm_tape *t, mpm_state *st) {
  PL_TRY(mpm_state_alloc(st, t->sim->backend, t->sim->n));
  account(t, t->state_bytes);
  return PL_OK;
}
static void state_free_tracked(mpm_tape *t, mpm_state *st) {
  if (st->x.ptr) account(t, -t->state_bytes);
  mpm_state_free(st);
}

static pl_status buffer_alloc_tracked(mpm_tape *t, pl_buffer *b, size_t bytes) {
  PL_TRY(pl_buffer_alloc(b, t->sim->backend, bytes));
  account(t, (int64_t)bytes);
  t->work_bytes += (int64_t)bytes;
  return PL_OK;
}

static int ncot_alloc(const mpm_tape *t) {
  int c = 0;
  for (int f = 0; f < t->cot_cap; ++f) c += t->cot[f] != NULL;
  return c;
}

/* The tape's memory once the segment is allocated for the schedule recorded so far, plus `extra` bytes. */
static int64_t projected(const mpm_tape *t, int64_t extra) {
  int64_t seg_missing = t->seg_needed > t->seg_alloc ? (int64_t)(t->seg_needed - t->seg_alloc) * t->state_bytes : 0;
  return t->cur_bytes + seg_missing + extra;
}

static pl_status over_limit(const mpm_tape *t, int64_t total, int ckpts, int seg, const char *when) {
  double sb = (double)t->state_bytes / MB;
  int64_t S = t->total > 0 ? t->total : 1;
  int k = (int)ceil(sqrt((double)S));
  return pl_fail(PL_ERR_LIMIT,
                 "mpm tape: %s needs %d checkpoint(s) and a segment of %d state(s), %.4g MB each (%lld particles), plus "
                 "%.4g MB of cotangent sources (%d frames) and %.4g MB of work buffers: %.5g MB in all, over "
                 "memory_limit_mb = %g. Raise memory_limit_mb, or set checkpoint_every near sqrt(substeps) (%d for the "
                 "%lld substeps recorded so far; now %d%s) to balance the checkpoints against the segment",
                 when, ckpts, seg, sb, (long long)t->sim->n, (double)ncot_alloc(t) * sb, ncot_alloc(t),
                 (double)t->work_bytes / MB, (double)total / MB, t->limit_bytes / MB, k, (long long)t->total,
                 t->checkpoint_every,
                 t->checkpoint_every == 0 ? ": a checkpoint per frame" : t->checkpoint_every < 0 ? ": automatic" : "");
}

/* ------------------------------------------------------------------ create / free */

void mpm_tape_free(mpm_tape *t) {
  if (!t) return;
  for (int c = 0; c < t->ckpt_alloc; ++c) mpm_state_free(&t->ckpt[c]);
  for (int s = 0; s < t->seg_alloc; ++s) mpm_state_free(&t->seg[s]);
  for (int f = 0; f < t->cot_cap; ++f)
    if (t->cot[f]) {
      mpm_state_free(t->cot[f]);
      free(t->cot[f]);
    }
  mpm_state_free(&t->adj);
  pl_buffer_free(&t->grid_pre);
  pl_buffer_free(&t->v_gridv);
  pl_buffer_free(&t->v_par);
  pl_buffer_free(&t->glob_dev);
  free(t->row_acc);
  free(t->ckpt);
  free(t->ckpt_at);
  free(t->seg);
  free(t->cot);
  free(t->cot_live);
  free(t->nsub);
  free(t->dt);
  free(t->t0);
  free(t->first);
  free(t->kmat_fwd);
  free(t->fric_fwd);
  free(t);
}

pl_status mpm_tape_create(mpm_tape **out, mpm_sim *sim, const mpm_tape_desc *d) {
  *out = NULL;
  if (!sim || sim->n < 1 || !sim->state.x.ptr) return pl_fail(PL_ERR_INVALID, "mpm_tape_create: no initialised simulation");
  mpm_tape_desc dd;
  memset(&dd, 0, sizeof dd);
  if (d) dd = *d;
  if (dd.checkpoint_every < 0 && dd.checkpoint_every != MPM_TAPE_AUTO)
    return pl_fail(PL_ERR_INVALID, "mpm tape: checkpoint_every = %d: give 0 (a checkpoint per frame), K > 0 substeps "
                   "or %d (automatic, within memory_limit_mb)", dd.checkpoint_every, MPM_TAPE_AUTO);
  if (!(dd.memory_limit_mb >= 0) || !isfinite(dd.memory_limit_mb))
    return pl_fail(PL_ERR_INVALID, "mpm tape: memory_limit_mb = %g: give a size in MB (0: 4096)", dd.memory_limit_mb);
  const mpm_backend_ops *ops;
  PL_TRY(mpm_backend_ops_get(sim->backend, &ops));
  mpm_tape *t = (mpm_tape *)calloc(1, sizeof *t);
  if (!t) return pl_fail(PL_ERR_NOMEM, "out of memory");
  t->sim = sim;
  t->ops = ops;
  t->checkpoint_every = dd.checkpoint_every;
  t->limit_bytes = (dd.memory_limit_mb > 0 ? dd.memory_limit_mb : 4096.0) * MB;
  t->state_bytes = mpm_state_bytes(sim->n);
  const size_t n = (size_t)sim->n, nodes = mpm_node_count(&sim->grid);
  t->kmat_fwd = (mpm_kmaterial *)calloc((size_t)sim->nmaterials, sizeof(mpm_kmaterial));
  t->fric_fwd = (real *)calloc((size_t)MPM_FRICTION_SLOTS(sim->ncolliders), sizeof(real));
  t->row_acc = (double *)calloc((size_t)(sim->grid.n[0] + 1) * MPM_ADJ_NGLOB, sizeof(double));
  pl_status st = (t->kmat_fwd && t->fric_fwd && t->row_acc) ? PL_OK : pl_fail(PL_ERR_NOMEM, "out of memory");
  if (st == PL_OK) {
    account(t, (int64_t)((size_t)(sim->grid.n[0] + 1) * MPM_ADJ_NGLOB * sizeof(double)));
    t->work_bytes = t->cur_bytes;
  }
  /* the work buffers: the adjoint state, the grid before its update, the node-velocity cotangents, the
   * per-particle parameter cotangents */
  int64_t work = t->state_bytes + (int64_t)(nodes * 4 * sizeof(real)) + (int64_t)(nodes * 3 * sizeof(real)) +
                 (int64_t)(n * MPM_ADJ_NPAR * sizeof(double));
  if (st == PL_OK && (double)(t->cur_bytes + work + t->state_bytes) > t->limit_bytes) {
    st = pl_fail(PL_ERR_LIMIT, "mpm tape: the work buffers (%.4g MB: adjoint state, two grid-sized buffers for %zu "
                 "nodes, parameter cotangents for %zu particles) and one checkpoint (%.4g MB) exceed memory_limit_mb = "
                 "%g; raise it", (double)(t->cur_bytes + work) / MB, nodes, n, (double)t->state_bytes / MB,
                 t->limit_bytes / MB);
  }
  if (st == PL_OK && (st = state_alloc_tracked(t, &t->adj)) == PL_OK) t->work_bytes += t->state_bytes;
  if (st == PL_OK) st = buffer_alloc_tracked(t, &t->grid_pre, nodes * 4 * sizeof(real));
  if (st == PL_OK) st = buffer_alloc_tracked(t, &t->v_gridv, nodes * 3 * sizeof(real));
  if (st == PL_OK) st = buffer_alloc_tracked(t, &t->v_par, n * MPM_ADJ_NPAR * sizeof(double));
  if (st == PL_OK && sim->backend == PL_BACKEND_CUDA)
    st = buffer_alloc_tracked(t, &t->glob_dev, MPM_ADJ_NGLOB * sizeof(double));
  if (st != PL_OK) {
    mpm_tape_free(t);
    return st;
  }
  *out = t;
  return PL_OK;
}

void mpm_tape_memory(const mpm_tape *t, int64_t *checkpoint_bytes, int *checkpoints, int64_t *segment_bytes,
                     int64_t *peak_bytes) {
  if (checkpoint_bytes) *checkpoint_bytes = t ? t->state_bytes : 0;
  if (checkpoints) *checkpoints = t ? t->nckpt : 0;
  if (segment_bytes) *segment_bytes = t ? (int64_t)(t->seg_alloc > t->seg_needed ? t->seg_alloc : t->seg_needed) * t->state_bytes : 0;
  if (peak_bytes) *peak_bytes = t ? t->peak_bytes : 0;
}

/* ------------------------------------------------------------------ backend dispatch */

static pl_status be_axpy(mpm_tape *t, real *dst, const real *src, int64_t count) {
  return t->ops->axpy(t->sim, dst, src, count);
}

static pl_status state_axpy(mpm_tape *t, mpm_state *dst, const mpm_state *src) {
  int64_t n = t->sim->n;
  PL_TRY(be_axpy(t, (real *)dst->x.ptr, (const real *)src->x.ptr, 3 * n));
  PL_TRY(be_axpy(t, (real *)dst->v.ptr, (const real *)src->v.ptr, 3 * n));
  PL_TRY(be_axpy(t, (real *)dst->C.ptr, (const real *)src->C.ptr, 9 * n));
  PL_TRY(be_axpy(t, (real *)dst->F.ptr, (const real *)src->F.ptr, 9 * n));
  return be_axpy(t, (real *)dst->q.ptr, (const real *)src->q.ptr, n);
}

static pl_status state_zero(mpm_state *st) {
  PL_TRY(pl_buffer_zero(&st->x));
  PL_TRY(pl_buffer_zero(&st->v));
  PL_TRY(pl_buffer_zero(&st->C));
  PL_TRY(pl_buffer_zero(&st->F));
  return pl_buffer_zero(&st->q);
}

static pl_status first_nonfinite(mpm_tape *t, int64_t *first) {
  return t->ops->adj_first_nonfinite(t->sim, mpm_state_view(&t->adj), first);
}

/* The adjoint of one substep on the state `in` (the state before it), updating t->adj in place from the
 * cotangent of the substep's output to that of its input, and accumulating the parameter cotangents. */
static pl_status adjoint_substep(mpm_tape *t, const mpm_state *in, real dt, double time) {
  mpm_sim *s = t->sim;
  /* recompute the grid: P2G (the CPU keeps the block order and the affine matrices), keep (m, mv), update */
  PL_TRY(mpm_p2g(s, in, dt));
  PL_TRY(pl_buffer_copy(&t->grid_pre, 0, &s->gridbuf, 0, t->grid_pre.bytes));
  PL_TRY(mpm_grid_update(s, dt, time));
  mpm_adj_args a;
  a.in = mpm_state_view(in);
  a.adj = mpm_state_view(&t->adj);
  a.P = mpm_sim_kparticles(s);
  a.grid = (real *)s->gridbuf.ptr; /* (m, v) now; it receives (v_m, v_mv) from the grid adjoint */
  a.grid_pre = (const real *)t->grid_pre.ptr;
  a.v_gridv = (real *)t->v_gridv.ptr;
  a.v_par = (double *)t->v_par.ptr;
  a.row_acc = t->row_acc;
  a.glob = t->glob;
  a.glob_dev = (double *)t->glob_dev.ptr;
  a.dt = dt;
  a.t = (real)time;
  PL_TRY(t->ops->adj_g2p(s, &a));
  PL_TRY(t->ops->adj_grid(s, &a));
  return t->ops->adj_p2g(s, &a);
}

static int frame_of(const mpm_tape *t, int64_t i);

/* The context of an error found by deferred checks (mpm_checks_end): in the forward pass the span is one frame and
 * substeps count from first (the frame's first global substep); in the backward pass (first < 0) they are global. */
typedef struct {
  const mpm_tape *t;
  int64_t first;
} tape_where;
static void tape_where_fn(void *user, int64_t substep, char *buf, size_t size) {
  const tape_where *w = (const tape_where *)user;
  int64_t i = w->first >= 0 ? w->first + substep : substep;
  int f = w->first >= 0 ? w->t->frames : frame_of(w->t, i);
  int64_t k = i - w->t->first[f];
  snprintf(buf, size, "%sframe %d, substep %lld of %d (t = %.5g s): ", w->first >= 0 ? "" : "backward pass, ", f + 1,
           (long long)k + 1, w->t->nsub[f], w->t->t0[f] + (double)k * w->t->dt[f]);
}

/* ------------------------------------------------------------------ forward */

static void snapshot(mpm_tape *t) {
  mpm_sim *s = t->sim;
  for (int m = 0; m < s->nmaterials; ++m) t->kmat_fwd[m] = s->kmaterials[m];
  for (int c = 0; c < s->ncolliders; ++c) t->fric_fwd[c] = s->kcolliders[c].friction;
  for (int w = 0; w < 6; ++w) t->fric_fwd[s->ncolliders + w] = s->grid.wall_friction[w];
  t->gravity_fwd = s->grid.gravity;
  t->had_pmu = s->pmu.ptr != NULL;
}

static pl_status check_unchanged(const mpm_tape *t) {
  const mpm_sim *s = t->sim;
  for (int m = 0; m < s->nmaterials; ++m) {
    const mpm_kmaterial *a = &t->kmat_fwd[m], *b = &s->kmaterials[m];
    if (a->model != b->model || a->p.mu != b->p.mu || a->p.lambda != b->p.lambda || a->p.bulk != b->p.bulk ||
        a->p.viscosity != b->p.viscosity || a->p.yield_stress != b->p.yield_stress || a->p.alpha != b->p.alpha ||
        a->p.tr_apex != b->p.tr_apex)
      return pl_fail(PL_ERR_INVALID, "mpm_tape_backward: material '%s' changed since mpm_tape_forward; run the forward "
                     "pass again with the new parameters", s->material_names[m]);
  }
  for (int c = 0; c < MPM_FRICTION_SLOTS(s->ncolliders); ++c) {
    real f = c < s->ncolliders ? s->kcolliders[c].friction : s->grid.wall_friction[c - s->ncolliders];
    if (f != t->fric_fwd[c])
      return pl_fail(PL_ERR_INVALID, "mpm_tape_backward: the friction of %s%s%s changed since mpm_tape_forward",
                     c < s->ncolliders ? "collider " : "the ",
                     c < s->ncolliders ? s->collider_names[c] : mpm_wall_name(c - s->ncolliders),
                     c < s->ncolliders ? "" : " wall");
  }
  if (s->grid.gravity.x != t->gravity_fwd.x || s->grid.gravity.y != t->gravity_fwd.y ||
      s->grid.gravity.z != t->gravity_fwd.z)
    return pl_fail(PL_ERR_INVALID, "mpm_tape_backward: the gravity changed since mpm_tape_forward");
  if ((s->pmu.ptr != NULL) != t->had_pmu)
    return pl_fail(PL_ERR_INVALID, "mpm_tape_backward: per-particle moduli were %s since mpm_tape_forward",
                   t->had_pmu ? "cleared" : "set");
  return PL_OK;
}

static pl_status grow_schedule(mpm_tape *t, int frames) {
  if (frames <= t->frames_cap && t->first) return PL_OK;
  int cap = frames > 0 ? frames : 1; /* a run of frame 0 alone still needs first[0] */
  int *nsub = (int *)realloc(t->nsub, (size_t)cap * sizeof(int));
  if (nsub) t->nsub = nsub;
  double *dt = (double *)realloc(t->dt, (size_t)cap * sizeof(double));
  if (dt) t->dt = dt;
  double *t0 = (double *)realloc(t->t0, (size_t)cap * sizeof(double));
  if (t0) t->t0 = t0;
  int64_t *first = (int64_t *)realloc(t->first, (size_t)(cap + 1) * sizeof(int64_t));
  if (first) t->first = first;
  if (!nsub || !dt || !t0 || !first) return pl_fail(PL_ERR_NOMEM, "out of memory for the schedule of %d frames", frames);
  t->frames_cap = cap;
  return PL_OK;
}

/* Cotangent slots for frames 0..frames, all empty; slots beyond are freed. */
static pl_status resize_cot(mpm_tape *t, int frames) {
  int need = frames + 1;
  for (int f = need; f < t->cot_cap; ++f)
    if (t->cot[f]) {
      state_free_tracked(t, t->cot[f]);
      free(t->cot[f]);
      t->cot[f] = NULL;
    }
  if (need > t->cot_cap) {
    mpm_state **c = (mpm_state **)realloc(t->cot, (size_t)need * sizeof(mpm_state *));
    if (!c) return pl_fail(PL_ERR_NOMEM, "out of memory");
    t->cot = c;
    unsigned char *l = (unsigned char *)realloc(t->cot_live, (size_t)need);
    if (!l) return pl_fail(PL_ERR_NOMEM, "out of memory");
    t->cot_live = l;
    for (int f = t->cot_cap; f < need; ++f) t->cot[f] = NULL;
  }
  t->cot_cap = need;
  for (int f = 0; f < need; ++f) t->cot_live[f] = 0;
  return PL_OK;
}

static pl_status take_checkpoint(mpm_tape *t, int64_t at) {
  if (t->nckpt == t->ckpt_cap) {
    int cap = t->ckpt_cap ? 2 * t->ckpt_cap : 16;
    mpm_state *c = (mpm_state *)realloc(t->ckpt, (size_t)cap * sizeof(mpm_state));
    if (!c) return pl_fail(PL_ERR_NOMEM, "out of memory");
    t->ckpt = c;
    int64_t *a = (int64_t *)realloc(t->ckpt_at, (size_t)cap * sizeof(int64_t));
    if (!a) return pl_fail(PL_ERR_NOMEM, "out of memory");
    t->ckpt_at = a;
    t->ckpt_cap = cap;
  }
  if (t->nckpt == t->ckpt_alloc) {
    PL_TRY(state_alloc_tracked(t, &t->ckpt[t->nckpt]));
    t->ckpt_alloc++;
  }
  t->ckpt_at[t->nckpt] = at;
  PL_TRY(mpm_state_copy(&t->ckpt[t->nckpt], &t->sim->state));
  t->nckpt++;
  return PL_OK;
}

/* The longest segment between the checkpoints (the last one runs to the substeps recorded so far). */
static void recompute_segment(mpm_tape *t) {
  t->seg_needed = 0;
  for (int c = 0; c < t->nckpt; ++c) {
    int64_t len = (c + 1 < t->nckpt ? t->ckpt_at[c + 1] : t->total) - t->ckpt_at[c];
    if (len - 1 > t->seg_needed) t->seg_needed = (int)(len - 1);
  }
}

/* Automatic mode: double the spacing and keep every other checkpoint (those at multiples of the new spacing). */
static void auto_thin(mpm_tape *t) {
  t->auto_k *= 2;
  int kept = 0;
  for (int c = 0; c < t->nckpt; ++c) {
    if (t->ckpt_at[c] % t->auto_k != 0) continue;
    if (kept != c) {
      mpm_state tmp = t->ckpt[kept];
      t->ckpt[kept] = t->ckpt[c];
      t->ckpt[c] = tmp;
      t->ckpt_at[kept] = t->ckpt_at[c];
    }
    kept++;
  }
  t->nckpt = kept;
  while (t->ckpt_alloc > t->nckpt) state_free_tracked(t, &t->ckpt[--t->ckpt_alloc]);
  recompute_segment(t);
}

/* Automatic checkpoints: every auto_k substeps, with auto_k doubled (and every other checkpoint dropped) whenever
 * the checkpoints, the new one and a segment of auto_k - 1 states would not fit in the memory bound. Memory
 * stays within the bound whatever the number of substeps; the spacing settles near sqrt(substeps) once the
 * bound binds, and stays 1 (no re-simulation at all) while every state fits. */
static pl_status auto_due(mpm_tape *t, int frame, int *due) {
  int64_t at = t->total;
  int64_t other = t->cur_bytes - (int64_t)(t->ckpt_alloc + t->seg_alloc) * t->state_bytes;
  int64_t B = (int64_t)floor((t->limit_bytes - (double)other) / (double)t->state_bytes);
  for (;;) {
    *due = at % t->auto_k == 0;
    if (t->nckpt + *due + (t->auto_k - 1) <= B) return PL_OK;
    if (t->auto_k >= B || t->auto_k > ((int64_t)1 << 40)) {
      char when[96];
      snprintf(when, sizeof when, "frame %d (automatic checkpoints, spacing %lld)", frame + 1, (long long)t->auto_k);
      return over_limit(t, (int64_t)(t->nckpt + *due + t->auto_k - 1) * t->state_bytes + other, t->nckpt + *due,
                        (int)(t->auto_k - 1), when);
    }
    auto_thin(t);
  }
}

pl_status mpm_tape_forward(mpm_tape *t, const mpm_state *initial, int frames, mpm_frame_fn cb, void *user) {
  if (!t || !initial) return pl_fail(PL_ERR_INVALID, "mpm_tape_forward: no tape or no initial state");
  mpm_sim *s = t->sim;
  if (frames < 0) return pl_fail(PL_ERR_INVALID, "mpm_tape_forward: frames = %d", frames);
  if (initial->n != s->n)
    return pl_fail(PL_ERR_INVALID, "mpm_tape_forward: the initial state has %lld particles, the simulation %lld",
                   (long long)initial->n, (long long)s->n);
  if (initial->backend != s->backend)
    return pl_fail(PL_ERR_INVALID, "mpm_tape_forward: the initial state is on the %s backend, the simulation on %s",
                   pl_backend_name(initial->backend), pl_backend_name(s->backend));
  t->recorded = 0;
  PL_TRY(grow_schedule(t, frames));
  PL_TRY(resize_cot(t, frames));
  t->frames = 0;
  t->total = 0;
  t->first[0] = 0;
  t->nckpt = 0;
  t->seg_needed = 0;
  t->auto_k = 1;
  if (t->checkpoint_every < 0) /* the segment of an earlier run must not pin memory the checkpoints may use */
    while (t->seg_alloc > 0) state_free_tracked(t, &t->seg[--t->seg_alloc]);
  snapshot(t);
  if (initial->x.ptr != s->state.x.ptr) PL_TRY(mpm_state_copy(&s->state, initial));
  s->frame = 0;
  s->time = 0;
  if (cb) PL_TRY(cb(user, 0, &s->state));
  int64_t since = 0; /* substeps since the last checkpoint */
  for (int f = 0; f < frames; ++f) {
    int n;
    double dt;
    PL_TRY(mpm_plan_frame(s, &n, &dt));
    /* the memory this frame will need: its checkpoints and the longest segment (the automatic mode thins its
     * checkpoints to stay within the bound instead) */
    if (t->checkpoint_every >= 0) {
      int64_t at = t->total, sn = since;
      int new_ck = 0, seg = t->seg_needed;
      for (int k = 0; k < n; ++k, ++at) {
        int due = t->checkpoint_every > 0 ? (at % t->checkpoint_every == 0) : (k == 0);
        if (due) {
          new_ck++;
          sn = 0;
        }
        sn++;
        if (sn - 1 > seg) seg = (int)(sn - 1);
      }
      int64_t missing_ck = t->nckpt + new_ck > t->ckpt_alloc ? (int64_t)(t->nckpt + new_ck - t->ckpt_alloc) : 0;
      int64_t seg_missing = seg > t->seg_alloc ? (int64_t)(seg - t->seg_alloc) : 0;
      int64_t total = t->cur_bytes + (missing_ck + seg_missing) * t->state_bytes;
      if ((double)total > t->limit_bytes) {
        char when[96];
        snprintf(when, sizeof when, "frame %d (%d substeps)", f + 1, n);
        t->total = at;
        return over_limit(t, total, t->nckpt + new_ck, seg, when);
      }
    }
    t->nsub[f] = n;
    t->dt[f] = dt;
    double t0 = (double)s->frame * s->frame_dt;
    t->t0[f] = t0;
    PL_TRY(mpm_checks_begin(s, n)); /* sync = frame: the frame's particle checks read once, at its end (mpm_exec.c) */
    const int graph = mpm_graph_usable(s) && t->checkpoint_every >= 0; /* runs between checkpoints: one replay each */
    for (int k = 0; k < n;) {
      int due = t->checkpoint_every > 0 ? (t->total % t->checkpoint_every == 0) : (k == 0);
      if (t->checkpoint_every < 0) {
        pl_status st = auto_due(t, f, &due);
        if (st != PL_OK) return mpm_checks_abort(s), st;
      }
      if (due) {
        pl_status st = take_checkpoint(t, t->total);
        if (st != PL_OK) return mpm_checks_abort(s), st;
        since = t->total - t->ckpt_at[t->nckpt - 1];
      }
      if (t->checkpoint_every < 0) since = t->total - t->ckpt_at[t->nckpt - 1];
      /* this substep and, on the graph path (mpm_exec.c), the ones after it up to the next checkpoint */
      int run = 1;
      while (graph && k + run < n && !(t->checkpoint_every > 0 && (t->total + run) % t->checkpoint_every == 0)) run++;
      pl_status st = mpm_run_substeps(s, t0, dt, k, run); /* at t0 + k dt, as mpm_advance_frame: no drift */
      if (st != PL_OK) {
        mpm_checks_abort(s);
        if (run > 1) return pl_fail_context(st, "frame %d, substeps %d..%d of %d: ", f + 1, k + 1, k + run, n);
        return pl_fail_context(st, "frame %d, substep %d of %d (t = %.5g s): ", f + 1, k + 1, n, t0 + k * dt);
      }
      for (int j = 0; j < run; ++j) {
        since++;
        if (since - 1 > t->seg_needed) t->seg_needed = (int)(since - 1);
        t->total++;
      }
      k += run;
    }
    {
      tape_where w = {t, t->first[f]};
      PL_TRY(mpm_checks_end(s, &s->state, tape_where_fn, &w));
    }
    t->first[f + 1] = t->total;
    t->frames = f + 1;
    s->frame += 1;
    s->time = (double)s->frame * s->frame_dt;
    s->last_substeps = n;
    s->last_dt = dt;
    if (cb) PL_TRY(cb(user, f + 1, &s->state));
  }
  /* the longest segment between the checkpoints kept */
  recompute_segment(t);
  /* checkpoints a longer earlier run left are freed: the memory figures describe this tape */
  while (t->ckpt_alloc > t->nckpt) state_free_tracked(t, &t->ckpt[--t->ckpt_alloc]);
  t->recorded = 1;
  PL_DEBUG("mpm tape: %d frames, %lld substeps, %d checkpoints, segment of %d states", t->frames,
           (long long)t->total, t->nckpt, t->seg_needed);
  return PL_OK;
}

pl_status mpm_tape_add_cotangent(mpm_tape *t, int frame, const real *v_x, const real *v_v, const real *v_C,
                                 const real *v_F) {
  if (!t) return pl_fail(PL_ERR_INVALID, "mpm_tape_add_cotangent: no tape");
  /* from inside the frame callback the schedule is still being recorded: frames up to the one just run */
  if (frame < 0 || frame >= t->cot_cap)
    return pl_fail(PL_ERR_INVALID, "mpm_tape_add_cotangent: frame %d is outside the recorded frames 0..%d", frame,
                   t->cot_cap - 1);
  if (!v_x && !v_v && !v_C && !v_F) return PL_OK;
  mpm_state *c = t->cot[frame];
  if (!c) {
    /* the automatic mode makes room by thinning its checkpoints (a segment of auto_k - 1 states at most) */
    while (t->checkpoint_every < 0 && t->nckpt > 1 &&
           (double)(t->cur_bytes + (int64_t)(t->auto_k - 1 > t->seg_alloc ? t->auto_k - 1 - t->seg_alloc : 0) *
                                       t->state_bytes + t->state_bytes) > t->limit_bytes)
      auto_thin(t);
    if ((double)projected(t, t->state_bytes) > t->limit_bytes) {
      char when[96];
      snprintf(when, sizeof when, "the cotangent source of frame %d", frame);
      return over_limit(t, projected(t, t->state_bytes), t->nckpt, t->seg_needed, when);
    }
    c = (mpm_state *)calloc(1, sizeof *c);
    if (!c) return pl_fail(PL_ERR_NOMEM, "out of memory");
    pl_status st = state_alloc_tracked(t, c);
    if (st != PL_OK) {
      free(c);
      return st;
    }
    t->cot[frame] = c;
    t->cot_live[frame] = 0;
  }
  if (!t->cot_live[frame]) {
    PL_TRY(state_zero(c));
    t->cot_live[frame] = 1;
  }
  int64_t n = t->sim->n;
  if (v_x) PL_TRY(be_axpy(t, (real *)c->x.ptr, v_x, 3 * n));
  if (v_v) PL_TRY(be_axpy(t, (real *)c->v.ptr, v_v, 3 * n));
  if (v_C) PL_TRY(be_axpy(t, (real *)c->C.ptr, v_C, 9 * n));
  if (v_F) PL_TRY(be_axpy(t, (real *)c->F.ptr, v_F, 9 * n));
  return PL_OK;
}

/* ------------------------------------------------------------------ gradients */

pl_status mpm_grads_alloc(mpm_grads *g, const mpm_sim *sim) {
  memset(g, 0, sizeof *g);
  if (!sim || sim->n < 1) return pl_fail(PL_ERR_INVALID, "mpm_grads_alloc: no initialised simulation");
  int M = sim->nmaterials;
  size_t n = (size_t)sim->n;
  g->nmaterials = M;
  g->n = sim->n;
  g->ncolliders = sim->ncolliders;
  double **mf[8] = {&g->E, &g->nu, &g->density, &g->yield_stress, &g->viscosity, &g->friction_angle, &g->cohesion,
                    &g->bulk_modulus};
  int ok = 1;
  for (int i = 0; i < 8; ++i) ok &= (*mf[i] = (double *)calloc((size_t)M, sizeof(double))) != NULL;
  ok &= (g->collider_friction = (double *)calloc((size_t)sim->ncolliders + 1, sizeof(double))) != NULL;
  ok &= (g->x0 = (real *)calloc(n * 3, sizeof(real))) != NULL;
  ok &= (g->v0 = (real *)calloc(n * 3, sizeof(real))) != NULL;
  ok &= (g->C0 = (real *)calloc(n * 9, sizeof(real))) != NULL;
  ok &= (g->F0 = (real *)calloc(n * 9, sizeof(real))) != NULL;
  ok &= (g->q0 = (real *)calloc(n, sizeof(real))) != NULL;
  ok &= (g->particle_E = (double *)calloc(n, sizeof(double))) != NULL;
  ok &= (g->particle_nu = (double *)calloc(n, sizeof(double))) != NULL;
  if (!ok) {
    mpm_grads_free(g);
    return pl_fail(PL_ERR_NOMEM, "out of memory for the gradients of %lld particles", (long long)n);
  }
  return PL_OK;
}

void mpm_grads_free(mpm_grads *g) {
  if (!g) return;
  free(g->E), free(g->nu), free(g->density), free(g->yield_stress), free(g->viscosity), free(g->friction_angle);
  free(g->cohesion), free(g->bulk_modulus), free(g->collider_friction);
  free(g->x0), free(g->v0), free(g->C0), free(g->F0), free(g->q0), free(g->particle_E), free(g->particle_nu);
  memset(g, 0, sizeof *g);
}

pl_status mpm_grads_zero(mpm_grads *g) {
  if (!g || !g->x0) return pl_fail(PL_ERR_INVALID, "mpm_grads_zero: gradients not allocated (mpm_grads_alloc)");
  int M = g->nmaterials;
  size_t n = (size_t)g->n;
  double *mf[8] = {g->E, g->nu, g->density, g->yield_stress, g->viscosity, g->friction_angle, g->cohesion,
                   g->bulk_modulus};
  for (int i = 0; i < 8; ++i) memset(mf[i], 0, (size_t)M * sizeof(double));
  memset(g->collider_friction, 0, ((size_t)g->ncolliders + 1) * sizeof(double));
  g->gravity[0] = g->gravity[1] = g->gravity[2] = 0;
  g->boundary_friction = 0;
  for (int w = 0; w < 6; ++w) g->wall_friction[w] = 0;
  memset(g->x0, 0, n * 3 * sizeof(real));
  memset(g->v0, 0, n * 3 * sizeof(real));
  memset(g->C0, 0, n * 9 * sizeof(real));
  memset(g->F0, 0, n * 9 * sizeof(real));
  memset(g->q0, 0, n * sizeof(real));
  memset(g->particle_E, 0, n * sizeof(double));
  memset(g->particle_nu, 0, n * sizeof(double));
  return PL_OK;
}

/* A material's user-facing parameters as the kernels' parameter map takes them. */
static mpm_uparams material_uparams(const mpm_material *mm) {
  mpm_uparams u = mpm_uparams_zero();
  u.E = (real)mm->E, u.nu = (real)mm->nu, u.yield_stress = (real)mm->yield_stress, u.viscosity = (real)mm->viscosity;
  u.friction_angle = (real)mm->friction_angle, u.cohesion = (real)mm->cohesion, u.bulk_modulus = (real)mm->bulk_modulus;
  u.cone = mm->dp_cone;
  return u;
}

/* Drucker-Prager's apex under per-particle moduli (mpm_particle_params): tr_p = A / K_p with A = c cot(phi) =
 * tr_m K_m, the material's apex strain tr_m and bulk modulus K_m. Given the particle's cotangent v_t of tr_p:
 * returns the cotangent of the material's tr_m through A (v_t K_m / K_p: cohesion and friction angle only, the
 * material's E and nu do not enter A), and adds dL/dK_p = -v_t tr_p / K_p to the particle's Lame cotangents
 * (K = lambda + 2 mu / 3). */
static double apex_per_particle_vjp(mpm_mparams mat, double mu, double la, double v_t, double *v_mu, double *v_la) {
  double Km = (double)mpm_bulk_of(mat.mu, mat.lambda), Kp = (double)mpm_bulk_of((real)mu, (real)la);
  double trp = (double)mat.tr_apex * Km / Kp, vK = -v_t * trp / Kp;
  *v_mu += vK * 2.0 / 3.0;
  *v_la += vK;
  return v_t * Km / Kp;
}

/* The adjoint state (dL/d initial state) and the parameter cotangents into g. */
static pl_status finish_grads(mpm_tape *t, mpm_grads *g) {
  mpm_sim *s = t->sim;
  size_t n = (size_t)s->n;
  int M = s->nmaterials;
  pl_status st = PL_OK;
  real *buf = (real *)malloc(n * 9 * sizeof(real));
  double *par = (double *)malloc(n * MPM_ADJ_NPAR * sizeof(double));
  real *mass = (real *)malloc(n * sizeof(real));
  int32_t *mat = (int32_t *)malloc(n * sizeof(int32_t));
  double *msum = (double *)calloc((size_t)M * MPM_ADJ_NPAR, sizeof(double));
  double *dsum = (double *)calloc((size_t)M, sizeof(double));
  double *apex = (double *)calloc((size_t)M, sizeof(double)); /* per-particle moduli: the apex's tr_m cotangents */
  real *pmu = NULL, *pla = NULL;
  if (!buf || !par || !mass || !mat || !msum || !dsum || !apex) st = pl_fail(PL_ERR_NOMEM, "out of memory");
  /* initial state */
  struct {
    const pl_buffer *b;
    real *dst;
    size_t w;
  } parts[5] = {{&t->adj.x, g->x0, 3}, {&t->adj.v, g->v0, 3}, {&t->adj.C, g->C0, 9}, {&t->adj.F, g->F0, 9},
                {&t->adj.q, g->q0, 1}};
  for (int k = 0; st == PL_OK && k < 5; ++k) {
    st = pl_buffer_download(parts[k].b, 0, buf, n * parts[k].w * sizeof(real));
    for (size_t i = 0; st == PL_OK && i < n * parts[k].w; ++i) parts[k].dst[i] += buf[i];
  }
  if (st == PL_OK) st = pl_buffer_download(&t->v_par, 0, par, n * MPM_ADJ_NPAR * sizeof(double));
  if (st == PL_OK) st = pl_buffer_download(&s->mass, 0, mass, n * sizeof(real));
  if (st == PL_OK) st = pl_buffer_download(&s->material, 0, mat, n * sizeof(int32_t));
  int per_particle = s->pmu.ptr != NULL;
  if (st == PL_OK && per_particle) {
    pmu = (real *)malloc(n * sizeof(real));
    pla = (real *)malloc(n * sizeof(real));
    if (!pmu || !pla) st = pl_fail(PL_ERR_NOMEM, "out of memory");
    if (st == PL_OK) st = pl_buffer_download(&s->pmu, 0, pmu, n * sizeof(real));
    if (st == PL_OK) st = pl_buffer_download(&s->plambda, 0, pla, n * sizeof(real));
  }
  /* per material, summed in particle order (deterministic); the mass cotangent becomes density's:
   * m_p = rho V0_p, and mpm_set_material keeps m_p proportional to rho, so dm_p/drho = m_p / rho */
  for (size_t p = 0; st == PL_OK && p < n; ++p) {
    const double *vp = par + MPM_ADJ_NPAR * p;
    int m = mat[p];
    const int dp_apex = per_particle && s->materials[m].model == MPM_DRUCKER_PRAGER;
    for (int k = 0; k < MPM_ADJ_NPAR; ++k) {
      if (per_particle && (k == MPM_ADJ_MU || k == MPM_ADJ_LAMBDA)) continue;
      if (dp_apex && k == MPM_ADJ_TR_APEX) continue;
      msum[(size_t)m * MPM_ADJ_NPAR + (size_t)k] += vp[k];
    }
    dsum[m] += vp[MPM_ADJ_MASS] * (double)mass[p] / s->material_density[m];
    if (per_particle) {
      /* E and nu of the particle from its Lame parameters, then the parameter map's adjoint */
      double mu = pmu[p], la = pla[p], vmu = vp[MPM_ADJ_MU], vla = vp[MPM_ADJ_LAMBDA];
      if (dp_apex)
        apex[m] += apex_per_particle_vjp(mpm_params_from_user(material_uparams(&s->materials[m])), mu, la,
                                         vp[MPM_ADJ_TR_APEX], &vmu, &vla);
      real E = (real)(mu * (3 * la + 2 * mu) / (la + mu)), nu = (real)(la / (2 * (la + mu)));
      real vE = 0, vnu = 0;
      mpm_lame_vjp(E, nu, (real)vmu, (real)vla, &vE, &vnu);
      g->particle_E[p] += (double)vE;
      g->particle_nu[p] += (double)vnu;
    }
  }
  for (int m = 0; st == PL_OK && m < M; ++m) {
    const mpm_material *mm = &s->materials[m];
    const double *v = msum + (size_t)m * MPM_ADJ_NPAR;
    mpm_uparams u = material_uparams(mm), vu = mpm_uparams_zero();
    mpm_mparams vm = mpm_mparams_zero();
    vm.mu = (real)v[MPM_ADJ_MU], vm.lambda = (real)v[MPM_ADJ_LAMBDA], vm.bulk = (real)v[MPM_ADJ_BULK];
    vm.viscosity = (real)v[MPM_ADJ_VISCOSITY], vm.yield_stress = (real)v[MPM_ADJ_YIELD];
    vm.alpha = (real)v[MPM_ADJ_ALPHA], vm.tr_apex = (real)v[MPM_ADJ_TR_APEX];
    if (mm->model == MPM_NEWTONIAN_FLUID) vm.mu = vm.lambda = 0; /* the fluid has no Lame parameters */
    mpm_params_from_user_vjp(u, vm, &vu);
    if (apex[m] != 0) { /* per-particle moduli: the apex's numerator c cot(phi) only */
      mpm_mparams va = mpm_mparams_zero();
      mpm_uparams vua = mpm_uparams_zero();
      va.tr_apex = (real)apex[m];
      mpm_params_from_user_vjp(u, va, &vua);
      vu.cohesion += vua.cohesion, vu.friction_angle += vua.friction_angle;
    }
    g->E[m] += vu.E, g->nu[m] += vu.nu, g->yield_stress[m] += vu.yield_stress, g->viscosity[m] += vu.viscosity;
    g->friction_angle[m] += vu.friction_angle, g->cohesion[m] += vu.cohesion, g->bulk_modulus[m] += vu.bulk_modulus;
    g->density[m] += dsum[m];
  }
  if (st == PL_OK && s->backend == PL_BACKEND_CUDA) {
    double gd[MPM_ADJ_NGLOB];
    st = pl_buffer_download(&t->glob_dev, 0, gd, sizeof gd);
    for (int k = 0; st == PL_OK && k < MPM_ADJ_NGLOB; ++k) t->glob[k] += gd[k];
  }
  if (st == PL_OK) {
    for (int a = 0; a < 3; ++a) g->gravity[a] += t->glob[a];
    for (int c = 0; c < s->ncolliders; ++c) g->collider_friction[c] += t->glob[3 + c];
    for (int w = 0; w < 6; ++w) {
      g->wall_friction[w] += t->glob[3 + s->ncolliders + w];
      g->boundary_friction += t->glob[3 + s->ncolliders + w]; /* the shared coefficient feeds all six */
    }
  }
  free(buf), free(par), free(mass), free(mat), free(msum), free(dsum), free(apex), free(pmu), free(pla);
  return st;
}

/* A NaN/Inf in the adjoint state: name the particle, its object and material, and where. */
static pl_status adjoint_nonfinite(mpm_tape *t, int64_t p, int frame, const char *source) {
  mpm_sim *s = t->sim;
  int32_t mat = -1;
  pl_buffer_download(&s->material, (size_t)p * sizeof(int32_t), &mat, sizeof mat);
  int o = s->object_of ? s->object_of[p] : -1;
  return pl_fail(PL_ERR_NUMERIC, "backward pass: the adjoint of particle %lld (object '%s', material '%s') is NaN or "
                 "Inf at frame %d, %s", (long long)p, (o >= 0 && o < s->nobjects) ? s->object_names[o] : "(none)",
                 (mat >= 0 && mat < s->nmaterials) ? s->material_names[mat] : "?", frame, source);
}

/* The frame (0-based run index) that global substep i belongs to. */
static int frame_of(const mpm_tape *t, int64_t i) {
  int lo = 0, hi = t->frames - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (t->first[mid] <= i) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

pl_status mpm_tape_backward(mpm_tape *t, mpm_grads *g) {
  if (!t || !g || !g->x0) return pl_fail(PL_ERR_INVALID, "mpm_tape_backward: no tape or gradients not allocated");
  mpm_sim *s = t->sim;
  if (!t->recorded) return pl_fail(PL_ERR_INVALID, "mpm_tape_backward: no forward pass recorded (mpm_tape_forward)");
  if (g->n != s->n || g->nmaterials != s->nmaterials || g->ncolliders != s->ncolliders)
    return pl_fail(PL_ERR_INVALID, "mpm_tape_backward: the gradients were allocated for another simulation (%lld "
                   "particles, %d materials; this one has %lld, %d)", (long long)g->n, g->nmaterials, (long long)s->n,
                   s->nmaterials);
  PL_TRY(check_unchanged(t));
  /* the segment */
  if (t->seg_needed > t->seg_alloc) {
    if ((double)projected(t, 0) > t->limit_bytes)
      return over_limit(t, projected(t, 0), t->nckpt, t->seg_needed, "the backward pass");
    mpm_state *sg = (mpm_state *)realloc(t->seg, (size_t)t->seg_needed * sizeof(mpm_state));
    if (!sg) return pl_fail(PL_ERR_NOMEM, "out of memory");
    t->seg = sg;
    while (t->seg_alloc < t->seg_needed) {
      PL_TRY(state_alloc_tracked(t, &t->seg[t->seg_alloc]));
      t->seg_alloc++;
    }
  }
  PL_TRY(state_zero(&t->adj));
  PL_TRY(pl_buffer_zero(&t->v_par));
  for (int k = 0; k < MPM_ADJ_NGLOB; ++k) t->glob[k] = 0;
  if (t->glob_dev.ptr) PL_TRY(pl_buffer_zero(&t->glob_dev));
  int F = t->frames;
  if (t->cot[F] && t->cot_live[F]) PL_TRY(state_axpy(t, &t->adj, t->cot[F]));
  int64_t bad = -1;
  PL_TRY(first_nonfinite(t, &bad));
  if (bad >= 0) return adjoint_nonfinite(t, bad, F, "in the cotangent given for it");
  for (int c = t->nckpt - 1; c >= 0; --c) {
    int64_t start = t->ckpt_at[c], end = c + 1 < t->nckpt ? t->ckpt_at[c + 1] : t->total;
    /* sync = frame: the particle checks of the re-simulation and the recomputed grids are read at the end of the
     * segment and at each frame boundary (before the adjoint's own finite check), tagged by global substep */
    PL_TRY(mpm_checks_begin(s, t->total));
    /* re-simulate the segment: states start+1 .. end-1 into the segment slots */
    for (int64_t i = start; i + 1 < end; ++i) {
      int f = frame_of(t, i);
      int k = (int)(i - t->first[f]);
      double time = t->t0[f] + k * t->dt[f];
      real dt = (real)t->dt[f];
      const mpm_state *in = i == start ? &t->ckpt[c] : &t->seg[i - start - 1];
      mpm_state *out = &t->seg[i - start];
      mpm_checks_substep(s, i);
      pl_status st = mpm_p2g(s, in, dt);
      if (st == PL_OK) st = mpm_grid_update(s, dt, time);
      if (st == PL_OK) st = mpm_g2p(s, in, out, dt);
      if (st != PL_OK) {
        mpm_checks_abort(s);
        return pl_fail_context(st, "backward pass, re-simulating frame %d, substep %d of %d (t = %.5g s): ", f + 1,
                               k + 1, t->nsub[f], time);
      }
    }
    /* the adjoint substeps in reverse */
    for (int64_t i = end - 1; i >= start; --i) {
      int f = frame_of(t, i);
      int k = (int)(i - t->first[f]);
      double time = t->t0[f] + k * t->dt[f];
      const mpm_state *in = i == start ? &t->ckpt[c] : &t->seg[i - start - 1];
      mpm_checks_substep(s, i);
      pl_status st = adjoint_substep(t, in, (real)t->dt[f], time);
      if (st != PL_OK) {
        mpm_checks_abort(s);
        return pl_fail_context(st, "backward pass, frame %d, substep %d of %d (t = %.5g s): ", f + 1, k + 1,
                               t->nsub[f], time);
      }
      if (k == 0 || i == start) { /* before the finite check below, and at the segment's end */
        tape_where w = {t, -1};
        PL_TRY(mpm_checks_end(s, in, tape_where_fn, &w));
      }
      if (k == 0) {
        /* the state before this substep is the state at frame f (the end of the previous frame) */
        PL_TRY(first_nonfinite(t, &bad));
        if (bad >= 0) return adjoint_nonfinite(t, bad, f, "after the backward substeps of the frame that follows it");
        if (t->cot[f] && t->cot_live[f]) {
          PL_TRY(state_axpy(t, &t->adj, t->cot[f]));
          PL_TRY(first_nonfinite(t, &bad));
          if (bad >= 0) return adjoint_nonfinite(t, bad, f, "in the cotangent given for it");
        }
        if (i > start) PL_TRY(mpm_checks_begin(s, t->total)); /* the rest of the segment */
      }
    }
  }
  PL_TRY(finish_grads(t, g));
  g->peak_bytes = t->peak_bytes;
  for (int f = 0; f < t->cot_cap; ++f) t->cot_live[f] = 0;
  PL_DEBUG("mpm backward: %d frames, %lld substeps, %lld particles; %d checkpoints + a segment of %d states, "
          "%.4g MB each, + %.4g MB of work: peak %.4g MB (storing every substep: %.4g MB)", t->frames,
          (long long)t->total, (long long)s->n, t->nckpt, t->seg_needed, (double)t->state_bytes / MB,
          (double)t->work_bytes / MB, (double)t->peak_bytes / MB, (double)t->total * (double)t->state_bytes / MB);
  return PL_OK;
}
