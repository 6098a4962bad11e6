/* cmd_capture.c: `pipeline capture SCENE.cfg OUT/`: a synthetic multi-view capture of the scene's [truth], written
 * in the PAC-NeRF layout (or as a transforms.json), made with deliberately different settings from a fit of the same
 * scene: 2x the grid resolution and particles per unit volume, images rendered at 2x the capture size and
 * area-downsampled, each camera's scene in front of a textured background plate, Gaussian sensor noise, and
 * cameras on a ring (8 by default) instead of the scene's own. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/rng.h"
#include "pipeline/io/capture.h"
#include "pipeline/cli/cli.h"
#include "pipeline/engine/engine.h"
#include "pipeline/scene/scene_refine.h"

static const pl_cli_option capture_opts[] = {
    {"output", 'o', "DIR", "the capture's folder (or give it after the scene: capture SCENE.cfg DIR)"},
    {"layout", 0, "NAME", "pacnerf (all_data.json, data/r_C_F.png; default) or transforms (transforms.json)"},
    {"cameras", 0, "N", "cameras on the ring (default 8)"},
    {"overhead", 0, "N", "cameras added above, at 75 deg elevation and the ring's distance, between its azimuths "
                         "(default 0): they see the top of a body, which ring views leave uncarved"},
    {"width", 0, "W", "capture image width (default 2 x render.width)"},
    {"height", 0, "H", "capture image height (default 2 x render.height)"},
    {"supersample", 0, "S", "render at S x the capture size, then area-downsample (default 2)"},
    {"refine", 0, "R", "simulate at R x sim.grid with R x the particles per unit volume, the same walls (default 2)"},
    {"noise", 0, "SIGMA", "Gaussian sensor noise, [0,1] units (default 0.02)"},
    {"seed", 0, "N", "noise seed (default 1)"},
    {NULL, 0, NULL, NULL}};

typedef struct {
  const pl_scene *gen;
  int ncam, first;         /* ring cameras are gen cameras first..first+ncam-1 */
  int cw, ch, ss;          /* capture size, supersampling */
  double noise;
  unsigned long seed;
  float **plates;          /* [ncam] clean plates at the render size (rgb) */
  const char *outdir;
  int written;
} gen_ctx;

/* A textured plate: a checkerboard with a per-camera tint, soft stripes and a vertical gradient. */
static void make_plate(int k, int w, int h, float *rgb) {
  double tint[3] = {0.55 + 0.3 * sin(1.7 * k), 0.55 + 0.3 * sin(1.7 * k + 2.1), 0.55 + 0.3 * sin(1.7 * k + 4.2)};
  int sq = w / 10 > 2 ? w / 10 : 2;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      int check = ((x / sq) + (y / sq)) & 1;
      double g = 0.75 + 0.25 * (double)y / h, stripe = 0.08 * sin(0.21 * x + 0.13 * y + k);
      for (int q = 0; q < 3; ++q) {
        double v = (check ? 0.85 : 0.45) * tint[q] * g + stripe;
        rgb[3 * ((size_t)y * w + x) + q] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
      }
    }
}

/* downsample (area) rgb from render size to capture size, add noise, clamp, write as an 8-bit RGB PNG */
static pl_status write_photo(const gen_ctx *g, const float *rgb_big, int k, int frame, const char *name) {
  int bw = g->cw * g->ss, bh = g->ch * g->ss;
  size_t np = (size_t)g->cw * g->ch;
  float *small = (float *)malloc(sizeof(float) * 3 * np);
  if (!small) return pl_fail(PL_ERR_NOMEM, "out of memory");
  pl_capture_resample_area(rgb_big, bw, bh, 3, small, g->cw, g->ch);
  for (size_t p = 0; p < np; ++p) {
    real n2[2], n3[2];
    uint64_t stream = ((uint64_t)(k + 1) << 40) ^ ((uint64_t)(frame + 3) << 24);
    pl_rng_normal2(g->seed, stream, (uint32_t)(2 * p), n2);
    pl_rng_normal2(g->seed, stream, (uint32_t)(2 * p + 1), n3);
    double n[3] = {n2[0], n2[1], n3[0]};
    for (int q = 0; q < 3; ++q) {
      double v = small[3 * p + q] + g->noise * n[q];
      small[3 * p + q] = (float)(v < 0 ? 0 : v > 1 ? 1 : v);
    }
  }
  char path[PL_PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/data/%s", g->outdir, name);
  pl_status st = pl_png_write_float(path, g->cw, g->ch, 3, small);
  free(small);
  return st;
}

static pl_status gen_frame(void *user, pl_engine *e, int f) {
  gen_ctx *g = (gen_ctx *)user;
  int bw = g->cw * g->ss, bh = g->ch * g->ss;
  size_t np = (size_t)bw * bh;
  float *rgb = (float *)malloc(sizeof(float) * 3 * np), *a = (float *)malloc(sizeof(float) * np);
  pl_status st = rgb && a ? PL_OK : pl_fail(PL_ERR_NOMEM, "out of memory");
  const double *bg = g->gen->render.background;
  for (int k = 0; st == PL_OK && k < g->ncam; ++k) {
    st = pl_engine_download_camera(e, g->first + k, rgb, a);
    if (st != PL_OK) break;
    for (size_t p = 0; p < np; ++p) /* the plate behind the Gaussians: C + T P = rgb + (1 - alpha)(P - b) */
      for (int q = 0; q < 3; ++q) rgb[3 * p + q] += (1 - a[p]) * (g->plates[k][3 * p + q] - (float)bg[q]);
    char name[64];
    snprintf(name, sizeof name, "r_%d_%d.png", k, f);
    st = write_photo(g, rgb, k, f, name);
    g->written++;
  }
  free(rgb);
  free(a);
  return st;
}

/* The capture's camera file (all_data.json or transforms.json), intrinsics at the capture size. */
static pl_status write_cameras(const gen_ctx *g, int pacnerf, int frames, double fps) {
  pl_capture c;
  memset(&c, 0, sizeof c);
  c.cameras = (pl_capture_camera *)calloc((size_t)g->ncam, sizeof *c.cameras);
  c.frames = (pl_capture_frame *)calloc((size_t)g->ncam * (size_t)(frames + 1), sizeof *c.frames);
  if (!c.cameras || !c.frames) {
    pl_capture_free(&c);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  for (int k = 0; k < g->ncam; ++k) {
    const pl_scene_camera *sc = &g->gen->cameras[g->first + k];
    pl_capture_camera *cc = &c.cameras[c.ncameras++];
    double s = 1.0 / g->ss;
    snprintf(cc->name, sizeof cc->name, "%d", k);
    cc->width = g->cw;
    cc->height = g->ch;
    cc->fx = sc->fx * s, cc->fy = sc->fy * s, cc->cx = sc->cx * s, cc->cy = sc->cy * s;
    memcpy(cc->viewmat, sc->viewmat, sizeof cc->viewmat);
    snprintf(cc->background, sizeof cc->background, "data/r_%d_-1.png", k);
    for (int f = 0; f <= frames; ++f) {
      pl_capture_frame *fr = &c.frames[c.nframes++];
      fr->camera = k;
      fr->index = f;
      fr->time = f / fps;
      snprintf(fr->image, sizeof fr->image, "data/r_%d_%d.png", k, f);
    }
  }
  pl_status st = pl_capture_write(&c, pacnerf ? PL_CAPTURE_PACNERF : PL_CAPTURE_TRANSFORMS, g->outdir);
  pl_capture_free(&c);
  return st;
}

static int run_capture(const pl_cli_args *a) {
  pl_cli_apply_common(a);
  /* the folder: -o DIR (as every command's output), or the argument after the scene */
  const char *outdir = pl_cli_get(a, "output");
  if (a->npos < 1 || a->npos > 2 || (a->npos == 2 && outdir) || (a->npos == 1 && !outdir)) {
    fprintf(stderr, "pipeline capture: usage: pipeline capture SCENE.cfg -o OUT_FOLDER [options] (see --help)\n");
    return 2;
  }
  if (!outdir) outdir = a->pos[1];
  pl_cli_args scene_args = *a; /* the scene loader takes the scene alone */
  scene_args.npos = 1;
  const char *layout = pl_cli_get(a, "layout") ? pl_cli_get(a, "layout") : "pacnerf";
  int pacnerf = strcmp(layout, "pacnerf") == 0;
  if (!pacnerf && strcmp(layout, "transforms") != 0) {
    fprintf(stderr, "pipeline capture: --layout must be pacnerf or transforms (got '%s')\n", layout);
    return 2;
  }
  long ncam, nover, cw, ch, ss, refine, seed;
  double noise;
  pl_scene s;
  int rc = pl_cli_load_scene(&scene_args, "capture", &s);
  if (rc) return rc;
  if ((rc = pl_cli_int(a, "cameras", 8, &ncam)) || (rc = pl_cli_int(a, "width", 2L * s.render.width, &cw)) ||
      (rc = pl_cli_int(a, "height", 2L * s.render.height, &ch)) || (rc = pl_cli_int(a, "supersample", 2, &ss)) ||
      (rc = pl_cli_int(a, "refine", 2, &refine)) || (rc = pl_cli_int(a, "seed", 1, &seed)) ||
      (rc = pl_cli_int(a, "overhead", 0, &nover)) || (rc = pl_cli_real(a, "noise", 0.02, &noise))) {
    pl_scene_free(&s);
    return rc;
  }
  if (ncam < 1 || ncam > 64 || nover < 0 || nover > 8 || cw < 1 || ch < 1 || cw * ss > 8192 || ch * ss > 8192 ||
      ss < 1 || ss > 8 || refine < 1 || refine > 4 || !(noise >= 0 && noise < 1) || s.ncameras < 1) {
    fprintf(stderr, "pipeline capture: out of range: cameras 1..64, overhead 0..8, supersample 1..8, refine 1..4, "
                    "noise in [0,1), width x supersample <= 8192, and the scene needs one [camera] to place the ring\n");
    pl_scene_free(&s);
    return 2;
  }
  /* the ring: around the point of the first camera's optical axis nearest the objects' centre, at its distance
   * and height (every other camera higher), up = -gravity */
  const pl_scene_camera *c0 = &s.cameras[0];
  double ctr[3] = {0, 0, 0}, fwd[3] = {c0->viewmat[8], c0->viewmat[9], c0->viewmat[10]};
  for (int o = 0; o < s.nobjects; ++o)
    for (int j = 0; j < 3; ++j) ctr[j] += s.objects[o].center[j] / s.nobjects;
  double tpar = 0, up[3] = {-s.sim.gravity[0], -s.sim.gravity[1], -s.sim.gravity[2]};
  for (int j = 0; j < 3; ++j) tpar += (ctr[j] - c0->eye[j]) * fwd[j];
  double target[3], ul = sqrt(up[0] * up[0] + up[1] * up[1] + up[2] * up[2]);
  if (!(ul > 0)) up[0] = 0, up[1] = 1, up[2] = 0, ul = 1;
  for (int j = 0; j < 3; ++j) target[j] = c0->eye[j] + tpar * fwd[j], up[j] /= ul;
  double rel[3] = {c0->eye[0] - target[0], c0->eye[1] - target[1], c0->eye[2] - target[2]};
  double hgt = rel[0] * up[0] + rel[1] * up[1] + rel[2] * up[2];
  double hor[3] = {rel[0] - hgt * up[0], rel[1] - hgt * up[1], rel[2] - hgt * up[2]};
  double rad = sqrt(hor[0] * hor[0] + hor[1] * hor[1] + hor[2] * hor[2]);
  double e1[3] = {hor[0] / rad, hor[1] / rad, hor[2] / rad};
  double e2[3] = {up[1] * e1[2] - up[2] * e1[1], up[2] * e1[0] - up[0] * e1[2], up[0] * e1[1] - up[1] * e1[0]};
  double fov = 2 * atan(0.5 * c0->height / c0->fy) * 180 / 3.14159265358979323846;
  const long ntot = ncam + nover; /* the ring, then the overhead cameras */
  /* overrides: truth, render size, ring cameras, no capture of its own */
  int nsets = 0, cap = s.ntruth + s.nobjects + 8 + 4 * (int)ntot;
  char *store = (char *)calloc((size_t)cap, 512);
  const char **sets = (const char **)calloc((size_t)cap, sizeof *sets);
  pl_status st = store && sets ? PL_OK : pl_fail(PL_ERR_NOMEM, "out of memory");
#define ADD(...) (snprintf(store + 512 * nsets, 512, __VA_ARGS__), sets[nsets] = store + 512 * nsets, ++nsets)
  for (int i = 0; st == PL_OK && i < s.ntruth; ++i) ADD("%s=%s", s.truth[i].address, s.truth[i].value);
  if (st == PL_OK) {
    ADD("render.width=%ld", cw * ss);
    ADD("render.height=%ld", ch * ss);
    ADD("targets.source=truth");
    const double pi = 3.14159265358979323846, dist = sqrt(rad * rad + hgt * hgt), elev = 75 * pi / 180;
    for (int k = 0; k < ntot; ++k) {
      /* the ring (every other camera higher), then the overhead cameras between the ring's azimuths */
      int over = k >= ncam;
      double ang = over ? 2 * pi * (k - ncam + 0.5) / nover : 2 * pi * k / ncam, ca = cos(ang), sa = sin(ang);
      double r = over ? dist * cos(elev) : rad, h = over ? dist * sin(elev) : hgt * (k % 2 ? 1.8 : 1.0);
      double eye[3];
      for (int j = 0; j < 3; ++j) eye[j] = target[j] + r * (ca * e1[j] + sa * e2[j]) + h * up[j];
      ADD("camera.capture%d.eye=%.17g %.17g %.17g", k, eye[0], eye[1], eye[2]);
      ADD("camera.capture%d.target=%.17g %.17g %.17g", k, target[0], target[1], target[2]);
      ADD("camera.capture%d.up=%.17g %.17g %.17g", k, up[0], up[1], up[2]);
      ADD("camera.capture%d.fov=%.17g", k, fov);
    }
  }
#undef ADD
  /* the same world at refine x the resolution (scene_refine.h: the walls stay put), then the overrides above */
  pl_scene gen, fine;
  memset(&gen, 0, sizeof gen);
  memset(&fine, 0, sizeof fine);
  if (st == PL_OK) st = pl_scene_refined(&fine, &s, (int)refine);
  if (st == PL_OK) st = pl_scene_with_overrides(&gen, &fine, sets, nsets);
  pl_scene_free(&fine);
  gen_ctx g;
  memset(&g, 0, sizeof g);
  g.gen = &gen;
  g.ncam = (int)ntot;
  g.cw = (int)cw, g.ch = (int)ch, g.ss = (int)ss;
  g.noise = noise;
  g.seed = (unsigned long)seed;
  g.outdir = outdir;
  pl_engine *e = NULL;
  if (st == PL_OK) {
    g.first = pl_scene_camera_index(&gen, "capture0");
    g.plates = (float **)calloc((size_t)ntot, sizeof(float *));
    if (g.first < 0 || !g.plates) st = pl_fail(PL_ERR_INTERNAL, "capture: ring cameras not set up");
  }
  char dir[PL_PATH_MAX + 16];
  snprintf(dir, sizeof dir, "%s/data", g.outdir);
  if (st == PL_OK) st = pl_mkdirs(dir);
  for (int k = 0; st == PL_OK && k < ntot; ++k) {
    size_t np = (size_t)cw * ss * ch * ss;
    g.plates[k] = (float *)malloc(sizeof(float) * 3 * np);
    if (!g.plates[k]) {
      st = pl_fail(PL_ERR_NOMEM, "out of memory");
      break;
    }
    make_plate(k, (int)(cw * ss), (int)(ch * ss), g.plates[k]);
    char name[64];
    snprintf(name, sizeof name, "r_%d_-1.png", k);
    st = write_photo(&g, g.plates[k], k, -1, name);
  }
  double t0 = pl_now();
  if (st == PL_OK) st = pl_engine_create(&e, &gen);
  if (st == PL_OK) {
    PL_INFO("capture: %lld particles (grid %d), %ld cameras, rendered at %ldx%ld, written at %ldx%ld, noise %.3g",
            (long long)pl_engine_particles(e), gen.sim.grid_longest, ntot, cw * ss, ch * ss, cw, ch, noise);
    unsigned char *mask = (unsigned char *)malloc((size_t)gen.sim.frames + 1);
    if (!mask) st = pl_fail(PL_ERR_NOMEM, "out of memory");
    else {
      memset(mask, 1, (size_t)gen.sim.frames + 1);
      st = pl_engine_run(e, gen.sim.frames, mask, gen_frame, &g);
      free(mask);
    }
  }
  if (st == PL_OK) st = write_cameras(&g, pacnerf, gen.sim.frames, gen.sim.fps);
  if (st == PL_OK)
    fprintf(stderr, "pipeline capture: %d images of %ld cameras x %d frames (+ %ld background plates) in %s/ (%s layout, "
            "%.1f s)\n", g.written, ntot, gen.sim.frames + 1, ntot, g.outdir, layout, pl_now() - t0);
  rc = st == PL_OK ? 0 : pl_cli_report("capture", st);
  for (int k = 0; g.plates && k < ntot; ++k) free(g.plates[k]);
  free(g.plates);
  pl_engine_free(e);
  pl_scene_free(&gen);
  pl_scene_free(&s);
  free(store);
  free(sets);
  return rc;
}

const pl_cli_command pl_cmd_capture = {
    "capture", "Write a synthetic multi-view capture of the scene's [truth] (PAC-NeRF layout or transforms.json).",
    "SCENE.cfg -o OUT_FOLDER [options]",
    "Simulates the scene with its [truth] values at --refine x the grid resolution and particle density, renders\n"
    "--cameras views on a ring (placed from the first [camera]: its distance, height and field of view; every\n"
    "other camera higher; --overhead adds views from above) at --supersample x the capture size, puts a\n"
    "textured background plate behind the Gaussians, area-downsamples, adds Gaussian noise (--noise) and writes OUT/data/r_C_F.png (frames 0..N),\n"
    "OUT/data/r_C_-1.png (the plates, with their own noise) and OUT/all_data.json (or OUT/transforms.json).\n"
    "A fit reads it back with [targets] source = pacnerf (or transforms), path = OUT (docs/captures.md).",
    capture_opts, run_capture, 0};
