/* bench_mpm_adjoint: the cost of the MPM backward pass (backpropagation through time with checkpoints) as a
 * multiple of the forward pass, and the tape's peak memory against storing every substep, per material and
 * particle count, on the CPU (and CUDA when a device is present).
 *
 * Scene: the bench_mpm cube (the unit box on G^3 cells, a cube of side 1/2 at the centre, 8 particles per cell on a
 * regular lattice, N = G^3, falling at 1 m/s under gravity, separate walls), a slip floor collider with friction
 * 0.3 under it, dt = 1e-4 s, F frames of S substeps. Loss: random weights on x, v and F at the middle and last
 * frames (two cotangent sources).
 *
 * Timed: the plain forward (mpm_advance_frame, no tape), the taped forward (mpm_tape_forward: the same plus the
 * checkpoint copies) and the backward (mpm_tape_backward: the re-simulation of every segment, the grid recomputed
 * per substep, the adjoint kernels). Ratios: backward / forward and (taped forward + backward) / forward.
 * Memory: the tape's measured peak (checkpoints + segment + cotangent sources + work buffers) against storing every
 * substep's state (x, v, C, F, q: 100 bytes per particle per substep in float; DiffTaichi's tape keeps x, v, C, F,
 * 96 bytes).
 *
 *   bench_mpm_adjoint [--sizes 22,46] [--materials all|NAME,...] [--frames F] [--substeps S]
 *                     [--checkpoint K|frame|auto] [--limit-mb M] [--repeat R] [--backend cpu|cuda|all] */
#define _DEFAULT_SOURCE /* getloadavg */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/mpm/bench_mpm_scene.h"
#include "core/progress.h"
#include "mpm/mpm_adjoint.h"

static int make_sim(mpm_sim **s, int G, int model, pl_backend be, int substeps, mpm_material *m, mpm_collider *c) {
  *m = bench_material(model);
  memset(c, 0, sizeof *c);
  c->shape = MPM_COLLIDER_PLANE, c->type = MPM_CONTACT_SLIP, c->friction = 0.3;
  c->point[1] = 0.24, c->normal[1] = 1;
  mpm_desc d = bench_desc(G, be);
  d.materials = m;
  d.nmaterials = 1;
  d.colliders = c;
  d.ncolliders = 1;
  d.substeps = substeps;
  d.frame_dt = 1e-4 * substeps;
  return bench_cube_sim(s, &d, "bench_mpm_adjoint");
}

typedef struct {
  mpm_tape *tape;
  int frames;
  pl_buffer w[4];
} loss_ctx;

static pl_status add_loss(void *u, int frame, const mpm_state *st) {
  (void)st;
  loss_ctx *l = (loss_ctx *)u;
  if (frame != l->frames && frame != l->frames / 2) return PL_OK;
  return mpm_tape_add_cotangent(l->tape, frame, (const real *)l->w[0].ptr, (const real *)l->w[1].ptr, NULL,
                                (const real *)l->w[3].ptr);
}

typedef struct {
  double fwd, tape_fwd, bwd;
  int64_t n, peak, state_bytes, seg_bytes;
  int checkpoints;
} result;

static int run(int G, int model, pl_backend be, int frames, int substeps, int every, double limit_mb, result *r) {
  mpm_sim *s = NULL;
  mpm_material m;
  mpm_collider c;
  if (!make_sim(&s, G, model, be, substeps, &m, &c)) return 0;
  r->n = s->n;
  mpm_state init;
  mpm_state_alloc(&init, s->backend, s->n);
  mpm_state_copy(&init, &s->state);
  double vmax;
  /* plain forward */
  mpm_max_speed(s, &s->state, &vmax);
  double t0 = pl_now();
  for (int f = 0; f < frames; ++f)
    if (mpm_advance_frame(s) != PL_OK) {
      fprintf(stderr, "bench_mpm_adjoint: %s\n", pl_last_error());
      return 0;
    }
  mpm_max_speed(s, &s->state, &vmax);
  r->fwd = pl_now() - t0;
  /* taped forward and backward */
  mpm_tape_desc td = {every, limit_mb};
  loss_ctx l;
  memset(&l, 0, sizeof l);
  l.frames = frames;
  mpm_grads g;
  if (mpm_tape_create(&l.tape, s, &td) != PL_OK || mpm_grads_alloc(&g, s) != PL_OK) {
    fprintf(stderr, "bench_mpm_adjoint: %s\n", pl_last_error());
    return 0;
  }
  size_t n = (size_t)s->n;
  real *h = (real *)malloc(n * 9 * sizeof(real));
  uint64_t z = 12345;
  for (size_t i = 0; i < n * 9; ++i) {
    z = z * 6364136223846793005ull + 1442695040888963407ull;
    h[i] = (real)((double)(z >> 11) / 9007199254740992.0 - 0.5);
  }
  const int width[4] = {3, 3, 9, 9};
  for (int k = 0; k < 4; ++k) {
    pl_buffer_alloc(&l.w[k], s->backend, n * (size_t)width[k] * sizeof(real));
    pl_buffer_upload(&l.w[k], 0, h, n * (size_t)width[k] * sizeof(real));
  }
  free(h);
  t0 = pl_now();
  pl_status st = mpm_tape_forward(l.tape, &init, frames, add_loss, &l);
  mpm_max_speed(s, &s->state, &vmax);
  r->tape_fwd = pl_now() - t0;
  if (st == PL_OK) {
    mpm_grads_zero(&g);
    t0 = pl_now();
    st = mpm_tape_backward(l.tape, &g);
    r->bwd = pl_now() - t0; /* ends with the download of the gradients: synchronised */
  }
  if (st != PL_OK) fprintf(stderr, "bench_mpm_adjoint: %s\n", pl_last_error());
  mpm_tape_memory(l.tape, &r->state_bytes, &r->checkpoints, &r->seg_bytes, &r->peak);
  for (int k = 0; k < 4; ++k) pl_buffer_free(&l.w[k]);
  mpm_grads_free(&g);
  mpm_tape_free(l.tape);
  mpm_state_free(&init);
  mpm_destroy(s);
  return st == PL_OK;
}

int main(int argc, char **argv) {
  const char *sizes = "22,46", *materials = "all", *backend = "all", *ckpt = "frame";
  int frames = 6, substeps = 20, repeat = 3;
  double limit_mb = 0;
  setvbuf(stdout, NULL, _IOLBF, 0); /* rows and the tape's [info] lines (stderr) in order */
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--sizes") && val) sizes = val, ++i;
    else if (!strcmp(a, "--materials") && val) materials = val, ++i;
    else if (!strcmp(a, "--frames") && val) frames = atoi(val), ++i;
    else if (!strcmp(a, "--substeps") && val) substeps = atoi(val), ++i;
    else if (!strcmp(a, "--checkpoint") && val) ckpt = val, ++i;
    else if (!strcmp(a, "--limit-mb") && val) limit_mb = atof(val), ++i;
    else if (!strcmp(a, "--repeat") && val) repeat = atoi(val), ++i;
    else if (!strcmp(a, "--backend") && val) backend = val, ++i;
    else {
      fprintf(stderr, "usage: bench_mpm_adjoint [--sizes G1,G2,...] [--materials all|NAMES] [--frames F] "
                      "[--substeps S] [--checkpoint K|frame|auto] [--limit-mb M] [--repeat R] [--backend cpu|cuda|all]\n");
      return 2;
    }
  }
  if (repeat < 1) repeat = 1;
  if (frames < 2) frames = 2;
  int every = !strcmp(ckpt, "frame") ? 0 : !strcmp(ckpt, "auto") ? MPM_TAPE_AUTO : atoi(ckpt);
  int do_cpu, do_cuda;
  bench_machine("MPM adjoint benchmark", backend, &do_cpu, &do_cuda);
  printf("scene: cube of side 1/2 (8 particles/cell, N = G^3) falling on a slip floor (friction 0.3), dt = 1e-4 s, "
         "%d frames x %d substeps;\nloss on x, v, F at frames %d and %d; checkpoints: %s%s; best of %d runs\n\n",
         frames, substeps, frames / 2, frames, every == 0 ? "every frame" : every < 0 ? "automatic" : ckpt,
         every > 0 ? " substeps" : "", repeat);
  printf("%-16s %8s %5s %4s | %9s %9s %9s | %7s %7s | %5s %9s %9s %9s %6s\n", "material", "N", "grid", "be",
         "fwd s", "tape fwd", "bwd s", "bwd/fwd", "all/fwd", "ckpts", "peak MB", "full MB", "DT MB", "ratio");
  char sz[256];
  snprintf(sz, sizeof sz, "%s", sizes);
  for (char *save = NULL, *t = strtok_r(sz, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    int G = atoi(t);
    if (G < 8) continue;
    for (int m = 0; m < MPM_MODEL_COUNT; ++m) {
      if (!in_list(materials, g_models[m])) continue;
      for (int b = 0; b < 2; ++b) {
        if ((b == 0 && !do_cpu) || (b == 1 && !do_cuda)) continue;
        result best, r;
        memset(&best, 0, sizeof best);
        best.fwd = best.tape_fwd = best.bwd = INFINITY;
        int ok = 1;
        for (int k = 0; k < repeat && ok; ++k) {
          ok = run(G, m, b ? PL_BACKEND_CUDA : PL_BACKEND_CPU, frames, substeps, every, limit_mb, &r);
          if (!ok) break;
          if (r.fwd < best.fwd) best.fwd = r.fwd;
          if (r.tape_fwd < best.tape_fwd) best.tape_fwd = r.tape_fwd;
          if (r.bwd < best.bwd) best.bwd = r.bwd;
          best.n = r.n, best.peak = r.peak, best.state_bytes = r.state_bytes, best.checkpoints = r.checkpoints;
          best.seg_bytes = r.seg_bytes;
        }
        if (!ok) {
          printf("%-16s (failed)\n", g_models[m]);
          continue;
        }
        double S = (double)frames * substeps;
        double full = S * (double)best.state_bytes / 1048576.0, dt = S * 96.0 * (double)best.n / 1048576.0;
        printf("%-16s %8lld %4d^3 %4s | %9.3f %9.3f %9.3f | %6.2fx %6.2fx | %5d %9.2f %9.2f %9.2f %5.1f%%\n",
               g_models[m], (long long)best.n, G, b ? "cuda" : "cpu", best.fwd, best.tape_fwd, best.bwd,
               best.bwd / best.fwd, (best.tape_fwd + best.bwd) / best.fwd, best.checkpoints,
               (double)best.peak / 1048576.0, full, dt, 100.0 * (double)best.peak / 1048576.0 / dt);
        fflush(stdout);
      }
    }
  }
  printf("\nfull MB: every substep's state stored (100 B/particle/substep); DT MB: DiffTaichi's 96 B/particle/substep;\n"
         "ratio: our peak / DT. The peak includes the work buffers (adjoint state, two grid-sized buffers, parameter\n"
         "cotangents) and the two cotangent sources.\n");
  return 0;
}
