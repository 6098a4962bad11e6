/* cmd_render.c: `pipeline render SCENE.cfg`: simulate the scene forward and write the selected frames: PNGs per
 * camera (the upsampler's Gaussians through the rasterizer), and optionally particle and Gaussian PLYs. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/log.h"
#include "core/progress.h"
#include "pipeline/cli/cli.h"
#include "pipeline/engine/engine.h"
#include "pipeline/report/panels.h"
#include "pipeline/report/runinfo.h"
#include "pipeline/report/sim_stats.h"
#include "pipeline/io/video.h"
#include "pipeline/scene/hull_object.h"

static const pl_cli_option render_opts[] = {
    {"output", 'o', "DIR", "output folder (default: render.output)"},
    {"frames", 0, "SEL", "frames to write: all, a list (0 5 10) or a range (0:30:5) (default: render.frames)"},
    {"particle-ply", 0, NULL, "also write particles as PLY per frame (render.particle_ply)"},
    {"gaussian-ply", 0, NULL, "also write Gaussians as 3DGS PLY per frame (render.gaussian_ply)"},
    {"truth", 0, NULL, "render with the [truth] values (what synthesised targets look like)"},
    {"video", 0, NULL, "also write OUTPUT/video.mp4 (video.gif without ffmpeg): every camera tiled, each frame written"},
    {"new-run", 0, NULL, "write to a new folder OUTPUT/YYYYmmdd-HHMMSS instead of replacing the run in OUTPUT"},
    {"stats", 0, NULL, "also write OUTPUT/stats.csv: a row of conservation and stability diagnostics per frame"},
    {NULL, 0, NULL, NULL}};

typedef struct {
  const char *outdir;
  int particle_ply, gaussian_ply;
  int pngs, plys, gplys;
  pl_out *stats;     /* stats.csv (written atomically at the end), or NULL */
  pl_progress *bar;
  int nframes;
  double t0;
  /* the video: every camera tiled */
  const pl_scene *scene;
  pl_video *video;
  pl_canvas sheet;
  float *cam_rgb;
  int tile_w, tile_h, zoom, cols, label_h;
} render_ctx;

/* Tile size, zoom and the sheet for the video of every camera. */
static pl_status video_begin(render_ctx *c, int nwritten, char *path, size_t size) {
  const pl_scene *s = c->scene;
  size_t maxpix = 1;
  for (int i = 0; i < s->ncameras; ++i) {
    c->tile_w = s->cameras[i].width > c->tile_w ? s->cameras[i].width : c->tile_w;
    c->tile_h = s->cameras[i].height > c->tile_h ? s->cameras[i].height : c->tile_h;
    if ((size_t)s->cameras[i].width * s->cameras[i].height > maxpix) maxpix = (size_t)s->cameras[i].width * s->cameras[i].height;
  }
  c->zoom = pl_panels_zoom(c->tile_w, 160);
  c->cols = 1;
  while (c->cols * c->cols < s->ncameras) c->cols++;
  int rows = (s->ncameras + c->cols - 1) / c->cols, pad = 6, pw = c->tile_w * c->zoom;
  c->label_h = pl_text_height(13) + 6;
  int W = c->cols * (pw + pad) + pad, H = c->label_h + rows * (pl_panels_label_height(pw) + c->tile_h * c->zoom + pad);
  const float white[3] = {1, 1, 1};
  c->cam_rgb = (float *)malloc(sizeof(float) * 3 * maxpix * (size_t)s->ncameras);
  if (!c->cam_rgb) return pl_fail(PL_ERR_NOMEM, "out of memory");
  PL_TRY(pl_canvas_create(&c->sheet, W, H, white));
  char base[PL_PATH_MAX + 16];
  snprintf(base, sizeof base, "%s/video", c->outdir);
  return pl_video_open(&c->video, base, W, H, pl_video_fps(nwritten, s->sim.fps, 4.0), path, size);
}

static pl_status video_frame(render_ctx *c, pl_engine *e, int f) {
  const pl_scene *s = c->scene;
  const float white[3] = {1, 1, 1}, black[3] = {0, 0, 0};
  int pad = 6, pw = c->tile_w * c->zoom, row_h = pl_panels_label_height(pw) + c->tile_h * c->zoom + pad;
  pl_canvas_rect(&c->sheet, 0, 0, c->sheet.w - 1, c->sheet.h - 1, white, 1);
  char lab[160];
  snprintf(lab, sizeof lab, "frame %d, t = %.3f s", f, f / s->sim.fps);
  pl_canvas_label(&c->sheet, pad, 3, c->sheet.w - 2 * pad, lab, black, 13);
  size_t off = 0;
  for (int i = 0; i < s->ncameras; ++i) {
    float *img = c->cam_rgb + off;
    off += 3 * (size_t)s->cameras[i].width * s->cameras[i].height;
    PL_TRY(pl_engine_download_camera(e, i, img, NULL));
    snprintf(lab, sizeof lab, "camera %s", s->cameras[i].name);
    const float *imgs[1] = {img};
    const char *labels[1] = {lab};
    pl_panels_row(&c->sheet, pad + (i % c->cols) * (pw + pad), c->label_h + (i / c->cols) * row_h, 1, imgs, labels,
                  s->cameras[i].width, s->cameras[i].height, c->zoom, pad);
  }
  return pl_video_frame(c->video, c->sheet.rgb);
}

static pl_status on_frame(void *user, pl_engine *e, int f) {
  render_ctx *c = (render_ctx *)user;
  PL_TRY(pl_engine_write_pngs(e, c->outdir, f));
  if (c->video) PL_TRY(video_frame(c, e, f));
  c->pngs += e ? 1 : 0;
  char path[PL_PATH_MAX + 64];
  if (c->particle_ply) {
    snprintf(path, sizeof path, "%s/particles/%04d.ply", c->outdir, f);
    PL_TRY(pl_engine_write_particle_ply(e, path));
    c->plys++;
  }
  if (c->gaussian_ply) {
    snprintf(path, sizeof path, "%s/gaussians/%04d.ply", c->outdir, f);
    PL_TRY(pl_engine_write_gaussian_ply(e, path));
    c->gplys++;
  }
  const mpm_sim *sim = pl_engine_sim(e);
  if (c->stats) {
    pl_sim_stats t;
    PL_TRY(pl_sim_stats_compute(sim, &t));
    pl_sim_stats_csv_row(c->stats->f, f, &t);
  }
  char extra[96];
  if (f == 0)
    snprintf(extra, sizeof extra, "initial state");
  else
    snprintf(extra, sizeof extra, "t %.3f s, %d substeps/frame", sim->time, sim->last_substeps);
  pl_progress_update(c->bar, f, extra);
  return PL_OK;
}

/* inside a frame that needs many substeps (a stiff material at a fine grid): say how far it is */
static void on_substeps(void *user, int frame, int done, int of) {
  render_ctx *c = (render_ctx *)user;
  char extra[96];
  snprintf(extra, sizeof extra, "frame %d: substep %d of %d", frame, done, of);
  pl_progress_update(c->bar, frame - 1, extra);
}

/* what killed runs left behind (FRAME.ply.tmpPID) goes before this run writes */
static void remove_stale(const char *dir) {
  int n = pl_remove_stale_tmp(dir);
  if (n) PL_INFO("removed %d temporary file%s left in %s by a killed run", n, n == 1 ? "" : "s", dir);
}

static int run_render(const pl_cli_args *a) {
  pl_cli_apply_common(a);
  pl_scene s, truth;
  memset(&truth, 0, sizeof truth);
  int rc = pl_cli_load_scene(a, "render", &s);
  if (rc) return rc;
  const pl_scene *use = &s;
  pl_status st = PL_OK;
  if (pl_cli_count(a, "truth")) {
    if (s.ntruth == 0) st = pl_fail(PL_ERR_INVALID, "%s: --truth given but the scene has no [truth] section", s.path);
    else st = pl_scene_with_truth(&truth, &s);
    use = &truth;
  }
  render_ctx c;
  memset(&c, 0, sizeof c);
  c.outdir = pl_cli_get(a, "output") ? pl_cli_get(a, "output") : s.render.output;
  c.scene = use;
  int want_video = pl_cli_count(a, "video") > 0;
  pl_run run;
  int run_started = 0;
  if (st == PL_OK) {
    st = pl_run_begin(&run, "render", use, c.outdir, pl_cli_count(a, "new-run") > 0, 0, pl_cli_quiet(a));
    run_started = st == PL_OK;
    if (run_started) c.outdir = run.folder;
  }
  c.particle_ply = s.render.particle_ply || pl_cli_count(a, "particle-ply");
  c.gaussian_ply = s.render.gaussian_ply || pl_cli_count(a, "gaussian-ply");
  const char *sel = pl_cli_get(a, "frames") ? pl_cli_get(a, "frames") : s.render.frames;
  int nframes = s.sim.frames;
  unsigned char *mask = (unsigned char *)malloc((size_t)nframes + 1);
  if (st == PL_OK && !mask) st = pl_fail(PL_ERR_NOMEM, "out of memory");
  if (st == PL_OK) {
    st = pl_frame_selection(sel, nframes + 1, mask);
    if (st != PL_OK) pl_fail_context(st, "%s: ", pl_cli_get(a, "frames") ? "--frames" : "render.frames");
  }
  char sub[PL_PATH_MAX + 32];
  if (st == PL_OK) st = pl_mkdirs(c.outdir);
  if (st == PL_OK) remove_stale(c.outdir);
  if (st == PL_OK) st = pl_scene_write_hull_images(use, c.outdir); /* shape = visual_hull: the masks against the hull */
  if (st == PL_OK && c.particle_ply) {
    snprintf(sub, sizeof sub, "%s/particles", c.outdir);
    st = pl_mkdirs(sub);
  }
  if (st == PL_OK && c.gaussian_ply) {
    snprintf(sub, sizeof sub, "%s/gaussians", c.outdir);
    st = pl_mkdirs(sub);
  }
  if (st == PL_OK && s.ncameras == 0 && !c.particle_ply && !c.gaussian_ply && !pl_cli_count(a, "stats"))
    st = pl_fail(PL_ERR_INVALID, "%s: no [camera], no PLY output and no --stats asked for: nothing to write", s.path);
  if (st == PL_OK && want_video && s.ncameras == 0)
    st = pl_fail(PL_ERR_INVALID, "%s: --video needs a [camera]", s.path);
  pl_out stats;
  if (st == PL_OK && pl_cli_count(a, "stats")) {
    snprintf(sub, sizeof sub, "%s/stats.csv", c.outdir);
    st = pl_out_open(&stats, sub, 0);
    if (st == PL_OK) {
      c.stats = &stats;
      pl_sim_stats_csv_header(stats.f);
    }
  }
  char video_path[PL_PATH_MAX + 16] = "";
  if (st == PL_OK && want_video) {
    int nwritten = 0;
    for (int f = 0; f <= nframes; ++f) nwritten += mask[f] != 0;
    st = video_begin(&c, nwritten, video_path, sizeof video_path);
  }
  double t0 = pl_now();
  pl_engine *e = NULL;
  if (st == PL_OK) st = pl_engine_create(&e, use);
  if (st == PL_OK) {
    const mpm_sim *sim = pl_engine_sim(e);
    PL_INFO("render: %lld particles -> %lld Gaussians, grid %d x %d x %d (dx %.4g m), %s backend, %d frames at %g fps "
            "(set-up %.2f s)",
            (long long)pl_engine_particles(e), (long long)pl_engine_gaussians(e), sim->grid.n[0], sim->grid.n[1],
            sim->grid.n[2], (double)sim->grid.dx, pl_backend_name(pl_engine_backend(e)), nframes, s.sim.fps,
            pl_now() - t0);
    int last = -1;
    for (int f = 0; f <= nframes; ++f)
      if (mask[f]) last = f;
    pl_progress bar;
    pl_progress_begin(&bar, "render", last, pl_cli_quiet(a));
    c.bar = &bar;
    mpm_sim *msim = (mpm_sim *)pl_engine_sim(e); /* the engine owns it; only the progress hook is set */
    msim->on_substeps = on_substeps;
    msim->on_substeps_user = &c;
    double t1 = pl_now();
    st = pl_engine_run(e, last, mask, on_frame, &c);
    pl_progress_end(&bar);
    if (st == PL_OK) {
      const mpm_sim *sm = pl_engine_sim(e);
      double el = pl_now() - t1;
      fprintf(stderr, "pipeline render: %s: %d frames simulated (%lld substeps, %lld particles) in %.2f s on %s; wrote "
              "%d frame%s x %d camera%s of PNGs to %s", use->path, last, (long long)sm->substeps_done,
              (long long)sm->n, el, pl_backend_name(pl_engine_backend(e)), c.pngs, c.pngs == 1 ? "" : "s", s.ncameras,
              s.ncameras == 1 ? "" : "s", c.outdir);
      if (c.plys) fprintf(stderr, ", %d particle PLYs", c.plys);
      if (c.gplys) fprintf(stderr, ", %d Gaussian PLYs", c.gplys);
      if (c.stats) fprintf(stderr, ", stats.csv");
      fprintf(stderr, "\n");
    }
  }
  if (c.stats) {
    if (st == PL_OK) st = pl_out_commit(c.stats);
    else pl_out_abort(c.stats);
  }
  if (c.video) {
    pl_status vs = pl_video_close(c.video, st == PL_OK);
    if (st == PL_OK) st = vs;
    if (st == PL_OK) fprintf(stderr, "pipeline render: video %s\n", video_path);
  }
  pl_canvas_free(&c.sheet);
  free(c.cam_rgb);
  if (run_started) {
    pl_status rs = pl_run_end(&run, use, e ? pl_engine_backend(e) : PL_BACKEND_AUTO, st == PL_OK, 0);
    if (st == PL_OK) st = rs;
  }
  rc = st == PL_OK ? 0 : pl_cli_report("render", st);
  pl_engine_free(e);
  free(mask);
  pl_scene_free(&truth);
  pl_scene_free(&s);
  return rc;
}

const pl_cli_command pl_cmd_render = {
    "render", "Simulate a scene forward and write its frames: PNGs per camera, optional particle and Gaussian PLYs.",
    "SCENE.cfg [options]",
    "Frames 0 (the initial state) to sim.frames; render.frames (or --frames) picks which are written.\n"
    "PNGs (RGBA: the alpha channel is the rendered coverage) go to OUTPUT/CAMERA/FRAME.png, particle PLYs to\n"
    "OUTPUT/particles/FRAME.ply (x y z, colour, velocity, J = det F, object, mass, volume J V0, F row-major),\n"
    "Gaussian PLYs (3DGS layout, opens in splat viewers) to OUTPUT/gaussians/FRAME.ply. --video adds\n"
    "OUTPUT/video.mp4 (video.gif without ffmpeg): the written frames with every camera tiled. --stats writes\n"
    "OUTPUT/stats.csv, one row per written frame: time, substeps, dt, mass, linear momentum px py pz, angular\n"
    "momentum Lx Ly Lz about the origin (with the APIC term), kinetic, elastic and gravitational energy and their\n"
    "sum, volume (sum J V0) and its ratio to the initial, the fastest particle and the CFL number of the last substep.\n"
    "A shape = visual_hull object adds OUTPUT/hull_OBJECT_CAMERA.png per carving camera, at the capture's size: its\n"
    "mask (>= 0.5) against the hull's re-projection (white both, red mask only, blue hull only, black neither).\n"
    "OUTPUT/run.json and OUTPUT/scene.cfg record how the run was made (see optimize --help). Errors name the\n"
    "object, particle, frame and substep involved.",
    render_opts, run_render, 0};
