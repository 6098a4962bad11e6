/* bench_mpm: particle-substeps per second of the MLS-MPM solver, per material and particle count, on the CPU
 * (and on CUDA when a device is present), side by side with a peer run in the same session (Taichi running
 * bench/mpm/peers/taichi_mpm.py, the same scene written with the Taichi API; on its CPU backend beside our
 * CPU rows and with --arch cuda beside our CUDA rows).
 *
 * Scene: the unit box on G^3 cells, a cube of side 1/2 at the centre filled with 8 particles per cell on a
 * regular lattice (N = G^3), falling at 1 m/s under gravity, separate (frictionless) walls 3 cells thick,
 * fixed dt = 1e-4 s. Materials: E = 1e5 Pa, nu = 0.3, rho = 1000, yield stress 1e3 Pa, friction angle 30 deg,
 * fluid bulk modulus 1e5 Pa and viscosity 1e-2 Pa s.
 *
 *   bench_mpm [--sizes 22,46,100] [--materials all|NAME,...] [--steps K] [--repeat R] [--backend cpu|cuda|all]
 *             [--peer "python3 bench/mpm/peers/taichi_mpm.py"] [--no-peer] [--peer-materials all|NAME,...]
 *             [--paths atomic,tiled,graph]
 * Sizes are grid resolutions G (N = G^3 particles: 22 -> 10,648; 46 -> 97,336; 100 -> 10^6).
 *
 * CUDA rows, one per path (--paths; docs/gpu.md "Prepared GPU paths"): "cuda" is the verified path (P2G with
 * global atomics, particle checks read after every stage), "cuda-t" the prepared one (particles sorted by grid
 * block, P2G summed per block in shared memory, checks read once after the K timed substeps), "cuda-tg" the
 * prepared one with CUDA graphs (mpm_desc.graph: the K substeps replay one captured substep, mpm_run_substeps;
 * no per-stage line, the stages run inside the graph). Each CUDA row also
 * prints the fraction of the device's copy bandwidth (a large device-to-device copy, read + write) that the
 * compulsory traffic reaches: per particle-substep 264 bytes (P2G reads x v C F mass vol0 material, G2P reads
 * x F q material and writes x v C F q, 4-byte reals) and per grid node 64 bytes (zeroed, scattered into,
 * updated in place, gathered: 4 passes over 16 bytes). Atomics, stencil reuse and the sort are not counted. */
#define _DEFAULT_SOURCE /* getloadavg */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/mpm/bench_mpm_scene.h"
#include "core/progress.h"
#include "mpm/mpm.h"

/* the scene on path 0 (verified: atomic P2G, per-stage checks), 1 (tiled P2G, deferred checks) or 2 (as 1, with
 * CUDA graphs); returns 0 on failure (message printed) */
static int make_sim(mpm_sim **s, int G, int model, pl_backend be, int path) {
  mpm_material m = bench_material(model);
  mpm_desc d = bench_desc(G, be);
  d.materials = &m;
  d.nmaterials = 1;
  d.p2g = path ? MPM_P2G_TILED : MPM_P2G_ATOMIC;
  d.sync = path ? MPM_SYNC_FRAME : MPM_SYNC_STAGE;
  d.graph = path == 2 ? MPM_GRAPH_ON : MPM_GRAPH_OFF;
  return bench_cube_sim(s, &d, "bench_mpm");
}

/* The device's copy bandwidth (bytes/s, read + write of a 256 MB device-to-device copy, best of 5). */
static double copy_bandwidth(pl_backend be) {
  size_t bytes = (size_t)256 << 20;
  pl_buffer a, b;
  if (pl_buffer_alloc(&a, be, bytes) != PL_OK) return 0;
  if (pl_buffer_alloc(&b, be, bytes) != PL_OK) {
    pl_buffer_free(&a);
    return 0;
  }
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    double t0 = pl_now();
    pl_buffer_copy(&b, 0, &a, 0, bytes);
    if (be == PL_BACKEND_CUDA) pl_cuda_sync("copy");
    best = fmin(best, pl_now() - t0);
  }
  pl_buffer_free(&a);
  pl_buffer_free(&b);
  return 2.0 * (double)bytes / best;
}

/* best-of-R wall time of K substeps; *nodes gets the grid's node count */
static double run(int G, int model, pl_backend be, int path, int steps, int repeat, int64_t *n, int64_t *nodes) {
  double best = INFINITY;
  for (int r = 0; r < repeat; ++r) {
    mpm_sim *s = NULL;
    if (!make_sim(&s, G, model, be, path)) return NAN;
    *n = s->n;
    *nodes = (int64_t)(s->grid.n[0] + 1) * (s->grid.n[1] + 1) * (s->grid.n[2] + 1);
    const real dt = (real)1e-4;
    if (mpm_substep(s, dt) != PL_OK) { /* warm-up */
      fprintf(stderr, "bench_mpm: %s\n", pl_last_error());
      mpm_destroy(s);
      return NAN;
    }
    double vmax;
    mpm_max_speed(s, &s->state, &vmax); /* synchronises the device */
    double t0 = pl_now();
    pl_status st = mpm_checks_begin(s, steps); /* paths 1, 2: the particle checks of the K substeps read once */
    if (st == PL_OK) st = mpm_run_substeps(s, s->time, (double)dt, 0, steps); /* path 2: K replays of one graph */
    if (st == PL_OK) st = mpm_checks_end(s, &s->state, NULL, NULL);
    else mpm_checks_abort(s);
    if (st != PL_OK) {
      fprintf(stderr, "bench_mpm: %s\n", pl_last_error());
      mpm_destroy(s);
      return NAN;
    }
    mpm_max_speed(s, &s->state, &vmax);
    double t = pl_now() - t0;
    if (t < best) best = t;
    mpm_destroy(s);
  }
  return best;
}

/* Milliseconds per substep of each stage (P2G with its sort, grid update, G2P) over K substeps, the device
 * waited for after each stage (so the sum exceeds the pipelined substep time by the launch gaps). */
static void stage_times(int G, int model, int path, int steps, double ms[3]) {
  ms[0] = ms[1] = ms[2] = NAN;
  mpm_sim *s = NULL;
  if (!make_sim(&s, G, model, PL_BACKEND_CUDA, path)) return;
  const real dt = (real)1e-4;
  double acc[3] = {0, 0, 0};
  pl_status st = mpm_substep(s, dt); /* warm-up */
  if (st == PL_OK) st = pl_cuda_sync("bench_mpm");
  for (int k = 0; k < steps && st == PL_OK; ++k) {
    double t0 = pl_now();
    st = mpm_p2g(s, &s->state, dt);
    if (st == PL_OK) st = pl_cuda_sync("bench_mpm");
    double t1 = pl_now();
    if (st == PL_OK) st = mpm_grid_update(s, dt, 0);
    if (st == PL_OK) st = pl_cuda_sync("bench_mpm");
    double t2 = pl_now();
    if (st == PL_OK) st = mpm_g2p(s, &s->state, &s->state, dt);
    if (st == PL_OK) st = pl_cuda_sync("bench_mpm");
    acc[0] += t1 - t0, acc[1] += t2 - t1, acc[2] += pl_now() - t2;
  }
  if (st == PL_OK)
    for (int q = 0; q < 3; ++q) ms[q] = 1e3 * acc[q] / steps;
  else
    fprintf(stderr, "bench_mpm: %s\n", pl_last_error());
  mpm_destroy(s);
}

static double run_peer(const char *peer, int G, const char *model, int steps, int repeat, char *version, size_t vsize) {
  double best = 0;
  for (int r = 0; r < repeat; ++r) {
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "%s --grid %d --steps %d --material %s 2>/dev/null", peer, G, steps, model);
    FILE *f = popen(cmd, "r");
    if (!f) return NAN;
    char line[1024];
    double rate = NAN;
    while (fgets(line, sizeof line, f)) {
      const char *k = strstr(line, "particle_substeps_per_s=");
      if (k) rate = atof(k + strlen("particle_substeps_per_s="));
      if (strncmp(line, "taichi ", 7) == 0 && version) {
        const char *e = strstr(line, " arch=");
        snprintf(version, vsize, "%.*s", e ? (int)(e - line) : 20, line);
      }
    }
    int rc = pclose(f);
    if (rc != 0 || !(rate > 0)) return NAN;
    if (rate > best) best = rate;
  }
  return best;
}

int main(int argc, char **argv) {
  const char *sizes = "22,46", *materials = "all", *backend = "all", *peer_materials = "fixed_corotated,drucker_prager";
  const char *peer = "python3 bench/mpm/peers/taichi_mpm.py", *paths = "atomic,tiled,graph";
  int steps = 0, repeat = 3, use_peer = 1;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--sizes") && val) sizes = val, ++i;
    else if (!strcmp(a, "--materials") && val) materials = val, ++i;
    else if (!strcmp(a, "--steps") && val) steps = atoi(val), ++i;
    else if (!strcmp(a, "--repeat") && val) repeat = atoi(val), ++i;
    else if (!strcmp(a, "--backend") && val) backend = val, ++i;
    else if (!strcmp(a, "--peer") && val) peer = val, ++i;
    else if (!strcmp(a, "--peer-materials") && val) peer_materials = val, ++i;
    else if (!strcmp(a, "--no-peer")) use_peer = 0;
    else if (!strcmp(a, "--paths") && val) paths = val, ++i;
    else {
      fprintf(stderr, "usage: bench_mpm [--sizes G1,G2,...] [--materials all|NAMES] [--steps K] [--repeat R] "
                      "[--backend cpu|cuda|all] [--peer CMD] [--peer-materials all|NAMES] [--no-peer] "
                      "[--paths atomic,tiled,graph]\n");
      return 2;
    }
  }
  if (repeat < 1) repeat = 1;
  int do_cpu, do_cuda;
  bench_machine("MPM benchmark", backend, &do_cpu, &do_cuda);
  printf("scene: cube of side 1/2 in the unit box, 8 particles/cell (N = G^3), separate walls, gravity, dt = 1e-4 s\n"
         "ours and the peer alternate, best of %d runs each; load = 1-minute load average before the row (a shared\n"
         "machine: other processes' load slows OpenMP barriers)\n\n", repeat);
  double bw = do_cuda ? copy_bandwidth(PL_BACKEND_CUDA) : 0;
  if (do_cuda) printf("CUDA copy bandwidth (device to device, read + write): %.1f GB/s\n\n", bw / 1e9);
  printf("%-16s %8s %6s %6s | %-7s %14s %9s | %14s %8s | %s\n", "material", "N", "grid", "steps", "ours",
         "p-substeps/s", "seconds", "peer p-sub/s", "ratio", "compulsory traffic / copy bandwidth");
  char sz[256];
  snprintf(sz, sizeof sz, "%s", sizes);
  char version[64] = "peer";
  for (char *save = NULL, *t = strtok_r(sz, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    int G = atoi(t);
    if (G < 8) continue;
    int64_t n = (int64_t)(G / 2) * (G / 2) * (G / 2) * 8;
    int K = steps > 0 ? steps : (n <= 20000 ? 100 : (n <= 200000 ? 20 : 5));
    for (int m = 0; m < MPM_MODEL_COUNT; ++m) {
      if (!in_list(materials, g_models[m])) continue;
      double cuda_peer = NAN; /* the peer's CUDA figure, measured beside the first CUDA path, reused for the others */
      for (int b = 0; b < 4; ++b) {
        if ((b == 0 && !do_cpu) || (b >= 1 && !do_cuda)) continue;
        if ((b == 1 && !in_list(paths, "atomic")) || (b == 2 && !in_list(paths, "tiled")) ||
            (b == 3 && !in_list(paths, "graph")))
          continue;
        pl_backend be = b == 0 ? PL_BACKEND_CPU : PL_BACKEND_CUDA;
        const int path = b >= 2 ? b - 1 : 0;
        const char *row = b == 0 ? "cpu" : b == 1 ? "cuda" : b == 2 ? "cuda-t" : "cuda-tg";
        int64_t np = 0, nodes = 0;
        int with_peer = use_peer && in_list(peer_materials, g_models[m]) && m != MPM_VISCOPLASTIC;
        if (b >= 2 && isfinite(cuda_peer)) with_peer = 0;
        char peer_cmd[1100]; /* the GPU row runs the peer on the GPU too */
        snprintf(peer_cmd, sizeof peer_cmd, "%s%s", peer, b >= 1 ? " --arch cuda" : "");
        /* ours and the peer alternate, best of `repeat` each: both see the same quiet and busy moments */
        double secs = INFINITY, prate = with_peer ? 0 : NAN;
        double la[3] = {0, 0, 0};
        if (getloadavg(la, 3) < 1) la[0] = NAN;
        for (int r = 0; r < repeat; ++r) {
          double t1 = run(G, m, be, path, K, 1, &np, &nodes);
          if (!(t1 >= secs)) secs = t1;
          if (with_peer) {
            double p1 = run_peer(peer_cmd, G, g_models[m], K, 1, version, sizeof version);
            if (!(p1 <= prate)) prate = p1;
          }
        }
        if (b == 1 && with_peer) cuda_peer = prate;
        if (b >= 2 && !with_peer) prate = cuda_peer;
        double rate = (double)np * K / secs;
        printf("%-16s %8lld %5d^3 %6d | %-7s %14.4g %9.3f | ", g_models[m], (long long)np, G, K, row, rate, secs);
        if (isfinite(prate) && prate > 0)
          printf("%14.4g %7.2fx | ", prate, rate / prate);
        else
          printf("%14s %8s | ", with_peer ? "(no peer)" : "-", "-");
        if (b >= 1 && bw > 0) {
          double bytes = (264.0 * (double)np + 64.0 * (double)nodes) * K;
          printf("%6.1f GB/s = %5.1f %%  (load %.1f)\n", bytes / secs / 1e9, 100 * bytes / secs / bw, la[0]);
          double ms[3];
          if (path < 2) { /* a graph's stages cannot be waited for one by one */
            stage_times(G, m, path, K, ms);
            printf("%-16s %8s %6s %6s | %-7s stages, each waited for: P2G (with its sort) %.3f ms, grid %.3f ms, G2P "
                   "%.3f ms a substep\n", "", "", "", "", row, ms[0], ms[1], ms[2]);
          }
        } else {
          printf("(load %.1f)\n", la[0]);
        }
        fflush(stdout);
      }
    }
  }
  if (use_peer) printf("\npeer: %s on the CPU (%s)\n", version, peer);
  return 0;
}
