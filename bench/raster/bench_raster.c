/* bench_raster.c: forward and backward of the rasterizer at 256^2 and 1920x1080 with 10^4..10^6 Gaussians,
 * on the CPU and (when a device is present) on CUDA.
 *
 * Workload ("surface", the default): Gaussians on the surfaces of 12 random spheres, as flat discs tangent
 * to the surface (sigma = 0.7 x the sample spacing, thickness 0.1 sigma), opacity U(0.5, 1), RGB colour;
 * this is what the upsampler produces. "cloud": means uniform in a ball, isotropic-ish random ellipsoids.
 * The camera frames the whole scene. Each figure is the best of --reps timed runs after one warm-up (the
 * fastest run is the least disturbed by other processes on a shared machine).
 *
 * Printed per row: N, visible (camera, Gaussian) projections, Gaussian-tile pairs (and, for comparison, the
 * pairs gsplat's bounding-box binning would make of the same splats), pixel-Gaussian alpha
 * evaluations of the forward and backward passes, milliseconds, evaluations per second, backward / forward
 * (gsplat 1.0: ~1.8, target <= 1.5), and on the GPU gsplat's own times on the same workload, run side by side in
 * the same session, with ours/gsplat speed-ups: when a device is present and `import torch, gsplat` works (with a
 * CUDA device) in /usr/bin/python3 (Debian's packages) or else in the python3 on PATH (--peer auto, the default;
 * --python PATH forces one), the workloads are dumped to a temporary folder and bench/raster/gsplat_peer.py times
 * gsplat on them first with that interpreter (its figures include its Python call overhead); otherwise one line
 * says why there are no gsplat columns.
 * Workloads: 10^4, 10^5, 10^6 Gaussians at 256^2 and 1080p, and the named workload "gsplat-profile": 2.8 M
 * Gaussians at 1920x1080, the size of the run gsplat publishes its profile on (docs.gsplat.studio, "Profiling",
 * tests/profile: `profiling/main.py --batch_size 1 --scene_grid 5 --channels 3`, its test Garden scene repeated
 * on a 5 x 5 grid, gsplat 1.0 on a TITAN RTX; the 2.8 M figure is the one issue #19 and docs/benchmarks.md give
 * for it, not recounted here). Our surface generator at that N, not gsplat's data. CUDA only unless asked for
 * (--workload gsplat-profile, or --n 2800000).
 *
 *   bench_raster [--quick] [--backend cpu|cuda|all] [--reps N] [--scene surface|cloud] [--threads N]
 *                [--size 256x256|1920x1080] [--n 10000|100000|1000000|2800000] [--workload gsplat-profile]
 *                [--cpu-time] [--dump DIR] [--peer auto|none] [--peer-script PATH] [--python PATH]
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/backend.h"
#include "core/rng.h"
#include "raster/ply.h"
#include "raster/raster.h"
#include "raster/raster_kernels.h"

/* Wall clock, or (--cpu-time, for single-thread runs on a shared machine) the process's CPU time, which
 * does not count the time other processes hold the core. */
static int g_cpu_timer = 0;
static double now_ms(void) {
  struct timespec ts;
  clock_gettime(g_cpu_timer ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct {
  int64_t n;
  real *means, *covs, *opacities, *colors;
} scene;

static void make_scene(scene *s, int64_t n, int cloud) {
  s->n = n;
  s->means = (real *)malloc(sizeof(real) * 3 * (size_t)n);
  s->covs = (real *)malloc(sizeof(real) * 6 * (size_t)n);
  s->opacities = (real *)malloc(sizeof(real) * (size_t)n);
  s->colors = (real *)malloc(sizeof(real) * 3 * (size_t)n);
  enum { NS = 12 };
  double cen[NS][3], rad[NS], area = 0;
  for (int k = 0; k < NS; ++k) {
    real u[4];
    pl_rng_uniform4(7, 1000 + (uint64_t)k, 0, u);
    for (int a = 0; a < 3; ++a) cen[k][a] = 1.6 * (u[a] - 0.5);
    rad[k] = 0.15 + 0.35 * u[3];
    area += 4 * 3.141592653589793 * rad[k] * rad[k];
  }
  const double spacing = cloud ? 2.0 / cbrt((double)n) : sqrt(area / (double)n);
  for (int64_t i = 0; i < n; ++i) {
    real u[4], v[4], w[2];
    pl_rng_uniform4(11, (uint64_t)i, 0, u);
    pl_rng_uniform4(11, (uint64_t)i, 1, v);
    pl_rng_normal2(11, (uint64_t)i, 2, w);
    double nrm[3], p[3];
    if (cloud) {
      double r = cbrt((double)u[0]);
      double z = 2 * u[1] - 1, ph = 2 * 3.141592653589793 * u[2], sq = sqrt(1 - z * z);
      nrm[0] = sq * cos(ph), nrm[1] = sq * sin(ph), nrm[2] = z;
      for (int a = 0; a < 3; ++a) p[a] = r * nrm[a];
    } else {
      int k = (int)(u[0] * NS) % NS;
      double z = 2 * u[1] - 1, ph = 2 * 3.141592653589793 * u[2], sq = sqrt(1 - z * z);
      nrm[0] = sq * cos(ph), nrm[1] = sq * sin(ph), nrm[2] = z;
      for (int a = 0; a < 3; ++a) p[a] = cen[k][a] + rad[k] * nrm[a];
    }
    for (int a = 0; a < 3; ++a) s->means[3 * i + a] = (real)p[a];
    /* disc: sigma_t^2 (I - n n^T) + sigma_n^2 n n^T */
    double st = 0.7 * spacing * (0.8 + 0.4 * u[3]), sn = cloud ? st * (0.5 + 0.5 * v[3]) : 0.1 * st;
    double c[3][3];
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) c[a][b] = st * st * ((a == b) - nrm[a] * nrm[b]) + sn * sn * nrm[a] * nrm[b];
    real *cv = s->covs + 6 * i;
    cv[0] = (real)c[0][0], cv[1] = (real)c[0][1], cv[2] = (real)c[0][2], cv[3] = (real)c[1][1], cv[4] = (real)c[1][2];
    cv[5] = (real)c[2][2];
    s->opacities[i] = (real)(0.5 + 0.5 * v[0]);
    for (int a = 0; a < 3; ++a) s->colors[3 * i + a] = (real)(0.5 + 0.25 * (a == 0 ? w[0] : a == 1 ? w[1] : v[1] - 0.5));
  }
}

static void free_scene(scene *s) {
  free(s->means);
  free(s->covs);
  free(s->opacities);
  free(s->colors);
}

/* Pairs that gsplat's bounding-box binning would make for the same splats: per visible splat, the tiles
 * of the box mean +- ceil(extend * sqrt(cov2d_ii)) (gsplat 1.x), against our exact ellipse-tile test. */
static int64_t box_pairs(const scene *s, const raster_camera *cam) {
  raster_cam k;
  raster_cam_init(&k, cam->width, cam->height, cam->fx, cam->fy, cam->cx, cam->cy, cam->viewmat, RASTER_NEAR_DEFAULT,
                  RASTER_FAR_DEFAULT);
  int64_t total = 0;
  for (int64_t i = 0; i < s->n; ++i) {
    raster_splat sp;
    if (!raster_project(&k, v3_load(s->means + 3 * i), raster_cov6_to_m3(s->covs + 6 * i), s->opacities[i], 0, &sp))
      continue;
    const double det = (double)sp.ca * sp.cc - (double)sp.cb * sp.cb, ext = sqrt(2.0 * (double)sp.smax);
    const double rx = ceil(ext * sqrt(sp.cc / det)), ry = ceil(ext * sqrt(sp.ca / det));
    const double tx = (double)k.tiles_x, ty = (double)k.tiles_y;
    double x0 = fmin(fmax(floor((sp.mx - rx) / RASTER_TILE), 0), tx), x1 = fmin(fmax(ceil((sp.mx + rx) / RASTER_TILE), 0), tx);
    double y0 = fmin(fmax(floor((sp.my - ry) / RASTER_TILE), 0), ty), y1 = fmin(fmax(ceil((sp.my + ry) / RASTER_TILE), 0), ty);
    total += (int64_t)((x1 - x0) * (y1 - y0));
  }
  return total;
}

/* The camera of every run (so that a peer renders the same view). */
static raster_camera bench_camera(int w, int h) {
  double eye[3] = {0.3, 0.5, 3.6}, target[3] = {0, 0, 0}, up[3] = {0, 1, 0};
  raster_camera cam;
  raster_camera_look_at(&cam, w, h, 50.0, eye, target, up);
  return cam;
}

typedef struct {
  double fwd_ms, bwd_ms;
  raster_stats st;
  int ok;
} result;

static result run(pl_backend be, int threads, const scene *s, int w, int h, int reps) {
  result r;
  memset(&r, 0, sizeof r);
  raster_desc d;
  memset(&d, 0, sizeof d);
  d.backend = be;
  d.threads = threads;
  raster_ctx *ctx;
  if (raster_create(&ctx, &d) != PL_OK) {
    fprintf(stderr, "bench: %s\n", pl_last_error());
    return r;
  }
  raster_camera cam = bench_camera(w, h);
  const int64_t P = (int64_t)w * h, n = s->n;
  /* buffers on the backend */
  pl_buffer b[10];
  memset(b, 0, sizeof b);
  const size_t sizes[10] = {3 * (size_t)n, 6 * (size_t)n, (size_t)n, 3 * (size_t)n, 3 * (size_t)P, (size_t)P,
                            3 * (size_t)P, 3 * (size_t)n, 6 * (size_t)n, 4 * (size_t)n};
  const real *src[10] = {s->means, s->covs, s->opacities, s->colors, NULL, NULL, NULL, NULL, NULL, NULL};
  real *vr = (real *)malloc(sizeof(real) * 3 * (size_t)P);
  for (int64_t i = 0; i < 3 * P; ++i) vr[i] = (real)((double)((i * 2654435761u) % 1000) / 1000.0 - 0.5);
  src[6] = vr;
  for (int k = 0; k < 10; ++k) {
    if (pl_buffer_alloc(&b[k], be == PL_BACKEND_AUTO ? raster_ctx_backend(ctx) : be, sizeof(real) * sizes[k]) != PL_OK) {
      fprintf(stderr, "bench: %s\n", pl_last_error());
      goto out;
    }
    if (src[k]) pl_buffer_upload(&b[k], 0, src[k], sizeof(real) * sizes[k]);
  }
  raster_gaussians g;
  memset(&g, 0, sizeof g);
  g.n = n;
  g.means = (real *)b[0].ptr, g.covs = (real *)b[1].ptr, g.opacities = (real *)b[2].ptr, g.colors = (real *)b[3].ptr;
  raster_images out = {(real *)b[4].ptr, (real *)b[5].ptr, NULL, NULL};
  raster_images vout = {(real *)b[6].ptr, NULL, NULL, NULL};
  raster_grads gr;
  memset(&gr, 0, sizeof gr);
  gr.means = (real *)b[7].ptr, gr.covs = (real *)b[8].ptr, gr.opacities = (real *)b[9].ptr,
  gr.colors = (real *)b[9].ptr + n;
  double *tf = (double *)malloc(sizeof(double) * (size_t)(reps + 1)), *tb = (double *)malloc(sizeof(double) * (size_t)(reps + 1));
  for (int rep = 0; rep <= reps; ++rep) {
    double t0 = now_ms();
    if (raster_forward(ctx, &g, &cam, 1, NULL, &out) != PL_OK) {
      fprintf(stderr, "bench: forward: %s\n", pl_last_error());
      break;
    }
    double t1 = now_ms();
    if (raster_backward(ctx, &g, &cam, 1, NULL, &vout, &gr) != PL_OK) {
      fprintf(stderr, "bench: backward: %s\n", pl_last_error());
      break;
    }
    double t2 = now_ms();
    tf[rep] = t1 - t0;
    tb[rep] = t2 - t1;
    if (rep == reps) r.ok = 1;
  }
  if (r.ok) {
    qsort(tf + 1, (size_t)reps, sizeof(double), cmp_d);
    qsort(tb + 1, (size_t)reps, sizeof(double), cmp_d);
    r.fwd_ms = tf[1]; /* best of the timed runs: the machine may be shared */
    r.bwd_ms = tb[1];
    raster_get_stats(ctx, &r.st);
  }
  free(tf);
  free(tb);
out:
  free(vr);
  for (int k = 0; k < 10; ++k) pl_buffer_free(&b[k]);
  raster_destroy(ctx);
  return r;
}

/* --dump DIR: write each workload as DIR/scene_N.ply (standard 3DGS layout) and the cameras as
 * DIR/cameras.txt (W H fx fy cx cy and the 16 viewmat values per line), for bench/raster/gsplat_peer.py. */
#define NCOUNTS 4
static const int64_t g_counts[NCOUNTS] = {10000, 100000, 1000000, 2800000};
static int dump_scenes(const char *dir, int cloud) {
  const int64_t *counts = g_counts;
  char path[1024];
  for (int ci = 0; ci < NCOUNTS; ++ci) {
    scene s;
    make_scene(&s, counts[ci], cloud);
    raster_gaussians g;
    memset(&g, 0, sizeof g);
    g.n = s.n, g.means = s.means, g.covs = s.covs, g.opacities = s.opacities, g.colors = s.colors;
    snprintf(path, sizeof path, "%s/scene_%lld.ply", dir, (long long)counts[ci]);
    pl_status st = raster_ply_write(path, &g, NULL);
    free_scene(&s);
    if (st != PL_OK) {
      fprintf(stderr, "bench: %s\n", pl_last_error());
      return 1;
    }
  }
  snprintf(path, sizeof path, "%s/cameras.txt", dir);
  FILE *f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "bench: cannot write %s\n", path);
    return 1;
  }
  const int sizes[2][2] = {{256, 256}, {1920, 1080}};
  for (int si = 0; si < 2; ++si) {
    raster_camera c = bench_camera(sizes[si][0], sizes[si][1]);
    fprintf(f, "%d %d %.17g %.17g %.17g %.17g", c.width, c.height, c.fx, c.fy, c.cx, c.cy);
    for (int k = 0; k < 16; ++k) fprintf(f, " %.17g", c.viewmat[k]);
    fprintf(f, "\n");
  }
  fclose(f);
  printf("wrote %s/scene_{10000,100000,1000000,2800000}.ply and %s\n", dir, path);
  return 0;
}

/* gsplat's figures, side by side: one run of the peer script over the rows we measure, parsed from its table
 * ("| gsplat | WxH | N | fwd ms | bwd ms | bwd/fwd |"). */
typedef struct {
  int w, h;
  long long n;
  double fwd, bwd;
} peer_row;
/* The interpreter that can run the peer: `python` when given, else the first of /usr/bin/python3 (Debian's
 * python3-torch) and python3 on PATH in which `import torch, gsplat` works with a CUDA device; NULL (and a line
 * saying why) when none. */
static const char *peer_python(const char *python) {
  static const char *candidates[2] = {"/usr/bin/python3", "python3"};
  for (int k = 0; k < 2; ++k) {
    const char *py = python ? python : candidates[k];
    if (python && k) break;
    if (py[0] == '/' && access(py, X_OK) != 0) continue;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import sys, torch, gsplat; sys.exit(0 if torch.cuda.is_available() else 1)' "
             ">/dev/null 2>&1", py);
    if (system(cmd) == 0) return py;
  }
  printf("# gsplat peer: `import torch, gsplat` with a CUDA device failed in %s: no gsplat columns\n",
         python ? python : "/usr/bin/python3 and python3");
  return NULL;
}

static int run_gsplat_peer(const char *script, const char *python, const char *rows, int cloud, int reps,
                           peer_row *out, int max) {
  if (access(script, R_OK) != 0) {
    printf("# gsplat peer: %s not found (run from the repository root or pass --peer-script)\n", script);
    return 0;
  }
  const char *py = peer_python(python);
  if (!py) return 0;
  char dir[] = "/tmp/bench_raster_peer_XXXXXX";
  if (!mkdtemp(dir)) return 0;
  int n = 0;
  if (dump_scenes(dir, cloud) == 0) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s' --dir '%s' --reps %d --rows '%s' 2>&1", py, script, dir, reps, rows);
    FILE *p = popen(cmd, "r");
    char line[1024];
    while (p && fgets(line, sizeof line, p)) {
      peer_row r;
      if (line[0] == '#') fputs(line, stdout);
      if (n < max && sscanf(line, "| gsplat | %dx%d | %lld | %lf | %lf |", &r.w, &r.h, &r.n, &r.fwd, &r.bwd) == 5)
        out[n++] = r;
      else if (strstr(line, "Error") || strstr(line, "error"))
        printf("# gsplat peer: %s", line);
    }
    if (p) pclose(p);
  }
  char rm[256];
  snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
  if (system(rm) != 0) fprintf(stderr, "bench_raster: could not remove %s\n", dir);
  return n;
}

/* Rows to run: the 2.8 M workload only at 1080p, and on the CPU only when asked for by --n. */
static int want_row(int be, int si, int ci, int quick, int only_w, int only_h, long long only_n,
                    const int sizes[2][2]) {
  if (quick && (si == 1 || ci >= 2)) return 0;
  if (only_w && (sizes[si][0] != only_w || sizes[si][1] != only_h)) return 0;
  if (only_n && g_counts[ci] != only_n) return 0;
  if (ci == 3 && (si != 1 || (be == 0 && only_n != g_counts[3]))) return 0;
  return 1;
}

int main(int argc, char **argv) {
  int quick = 0, reps = 3, cloud = 0, threads = 0, only_w = 0, only_h = 0;
  const char *dump = NULL;
  long long only_n = 0;
  const char *backend = "all";
  const char *peer = "auto", *peer_script = "bench/raster/gsplat_peer.py", *python = NULL;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--backend") && i + 1 < argc) backend = argv[++i];
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--scene") && i + 1 < argc) cloud = !strcmp(argv[++i], "cloud");
    else if (!strcmp(argv[i], "--size") && i + 1 < argc) sscanf(argv[++i], "%dx%d", &only_w, &only_h);
    else if (!strcmp(argv[i], "--n") && i + 1 < argc) only_n = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--dump") && i + 1 < argc) dump = argv[++i];
    else if (!strcmp(argv[i], "--cpu-time")) g_cpu_timer = 1;
    else if (!strcmp(argv[i], "--peer") && i + 1 < argc) peer = argv[++i];
    else if (!strcmp(argv[i], "--peer-script") && i + 1 < argc) peer_script = argv[++i];
    else if (!strcmp(argv[i], "--python") && i + 1 < argc) python = argv[++i];
    else if (!strcmp(argv[i], "--workload") && i + 1 < argc) {
      const char *w = argv[++i];
      if (strcmp(w, "gsplat-profile") != 0) {
        fprintf(stderr, "bench_raster: --workload '%s': the named workload is gsplat-profile\n", w);
        return 2;
      }
      only_w = 1920, only_h = 1080, only_n = 2800000;
    } else {
      fprintf(stderr, "usage: bench_raster [--quick] [--backend cpu|cuda|all] [--reps N] [--scene surface|cloud] "
                      "[--threads N] [--size WxH] [--n N] [--workload gsplat-profile] [--dump DIR] [--cpu-time] "
                      "[--peer auto|none] [--peer-script PATH] [--python PATH]\n");
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  if (strcmp(peer, "auto") != 0 && strcmp(peer, "none") != 0) {
    fprintf(stderr, "bench_raster: --peer '%s': choose auto or none\n", peer);
    return 2;
  }
  if (dump) return dump_scenes(dump, cloud);
  char dev[1024] = "";
  int ndev = pl_cuda_device_count(dev, sizeof dev);
  int do_cpu = strcmp(backend, "cuda") != 0, do_cuda = strcmp(backend, "cpu") != 0 && ndev > 0;
#ifdef _OPENMP
  int nt = threads > 0 ? threads : omp_get_max_threads();
#else
  int nt = 1;
#endif
  if (g_cpu_timer && (nt != 1 || strcmp(backend, "cpu") != 0)) {
    fprintf(stderr, "bench_raster: --cpu-time needs --threads 1 --backend cpu\n");
    return 2;
  }
  printf("# bench_raster: %s scene, real = %s, best of %d runs after a warm-up (%s), CPU threads %d, CUDA %s\n",
         cloud ? "cloud" : "surface", sizeof(real) == 4 ? "float" : "double", reps,
         g_cpu_timer ? "process CPU time" : "wall clock", nt,
         ndev > 0 ? dev : (pl_cuda_compiled() ? "compiled, no device" : "not compiled"));
  if (!strcmp(backend, "cuda") && ndev == 0) printf("# no CUDA device: the CUDA rows cannot be measured here\n");
  const int sizes[2][2] = {{256, 256}, {1920, 1080}};
  const int64_t *counts = g_counts;
  peer_row prow[2 * NCOUNTS];
  int npeer = 0;
  if (do_cuda && strcmp(peer, "none") != 0) {
    char rows[512] = "";
    for (int si = 0; si < 2; ++si)
      for (int ci = 0; ci < NCOUNTS; ++ci)
        if (want_row(1, si, ci, quick, only_w, only_h, only_n, sizes))
          snprintf(rows + strlen(rows), sizeof rows - strlen(rows), "%s%dx%d:%lld", rows[0] ? "," : "", sizes[si][0],
                   sizes[si][1], (long long)counts[ci]);
    npeer = run_gsplat_peer(peer_script, python, rows, cloud, reps, prow, 2 * NCOUNTS);
  } else if (strcmp(peer, "none") != 0) {
    printf("# gsplat peer: gsplat runs on CUDA only; no CUDA rows here, so no gsplat columns\n");
  }
  printf("| backend | image | N | visible | pairs | box pairs | fwd evals | fwd ms | fwd Geval/s | bwd evals | bwd ms |"
         " bwd/fwd | gsplat fwd / bwd ms | speed-up fwd / bwd |\n");
  printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (int be = 0; be < 2; ++be) {
    if ((be == 0 && !do_cpu) || (be == 1 && !do_cuda)) continue;
    for (int si = 0; si < 2; ++si)
      for (int ci = 0; ci < NCOUNTS; ++ci) {
        if (!want_row(be, si, ci, quick, only_w, only_h, only_n, sizes)) continue;
        scene s;
        make_scene(&s, counts[ci], cloud);
        result r = run(be == 0 ? PL_BACKEND_CPU : PL_BACKEND_CUDA, threads, &s, sizes[si][0], sizes[si][1], reps);
        raster_camera bc = bench_camera(sizes[si][0], sizes[si][1]);
        const int64_t bp = box_pairs(&s, &bc);
        free_scene(&s);
        if (!r.ok) continue;
        char peer_ms[64] = "-", vs[64] = "-";
        for (int k = 0; be == 1 && k < npeer; ++k)
          if (prow[k].w == sizes[si][0] && prow[k].h == sizes[si][1] && prow[k].n == (long long)counts[ci]) {
            snprintf(peer_ms, sizeof peer_ms, "%.2f / %.2f", prow[k].fwd, prow[k].bwd);
            snprintf(vs, sizeof vs, "%.2fx / %.2fx", prow[k].fwd / r.fwd_ms, prow[k].bwd / r.bwd_ms);
          }
        printf("| %s | %dx%d | %lld%s | %lld | %lld | %lld | %.3g | %.2f | %.3f | %.3g | %.2f | %.2f | %s | %s |\n",
               be == 0 ? "cpu" : "cuda", sizes[si][0], sizes[si][1], (long long)counts[ci],
               ci == 3 ? " (gsplat-profile)" : "", (long long)r.st.n_visible,
               (long long)r.st.n_pairs, (long long)bp, (double)r.st.fwd_evals, r.fwd_ms, (double)r.st.fwd_evals / r.fwd_ms * 1e-6,
               (double)r.st.bwd_evals, r.bwd_ms, r.bwd_ms / r.fwd_ms, peer_ms, vs);
        fflush(stdout);
      }
  }
  return 0;
}
