/* cmd_render.c: `pipeline render SCENE.cfg`: simulate the scene forward and write the selected frames:
 * particle PLYs (render.particle_ply, or always while no rasterizer is built in) and PNGs per camera through
 * pl_render_frame_png (render_frame.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/log.h"
#include "core/progress.h"
#include "pipeline/cli.h"
#include "pipeline/particle_ply.h"
#include "pipeline/render_frame.h"
#include "pipeline/sim_setup.h"

static const pl_cli_option render_opts[] = {
    {"output", 'o', "DIR", "output folder (default: render.output)"},
    {"frames", 0, "SEL", "frames to write: all, a list (0 5 10) or a range (0:30:5) (default: render.frames)"},
    {NULL, 0, NULL, NULL}};

static int run_render(const pl_cli_args *a) {
  pl_cli_apply_common(a);
  int quiet = pl_cli_quiet(a);
  pl_scene s;
  int rc = pl_cli_load_scene(a, "render", &s);
  if (rc) return rc;
  const char *outdir = pl_cli_get(a, "output") ? pl_cli_get(a, "output") : s.render.output;
  const char *sel = pl_cli_get(a, "frames") ? pl_cli_get(a, "frames") : s.render.frames;
  int nframes = s.sim.frames;
  unsigned char *mask = (unsigned char *)malloc((size_t)nframes + 1);
  float *rgb = NULL;
  mpm_sim sim;
  memset(&sim, 0, sizeof sim);
  mpm_particles host;
  memset(&host, 0, sizeof host);
  pl_status st = mask ? PL_OK : pl_fail(PL_ERR_NOMEM, "out of memory");
  if (st == PL_OK) {
    st = pl_frame_selection(sel, nframes + 1, mask);
    if (st != PL_OK) pl_fail_context(st, "%s: ", pl_cli_get(a, "frames") ? "--frames" : "render.frames");
  }
  char sub[PL_PATH_MAX + 32];
  snprintf(sub, sizeof sub, "%s/particles", outdir);
  if (st == PL_OK) st = pl_mkdirs(sub);
  double t0 = pl_now();
  if (st == PL_OK) st = pl_sim_setup(&s, &sim, &rgb);
  if (st == PL_OK) {
    PL_INFO("render: %lld particles, grid %d x %d x %d (dx %.4g m), %s backend, %d frames at %g fps (setup %.2f s)",
            (long long)sim.n, sim.grid.n[0], sim.grid.n[1], sim.grid.n[2], (double)sim.grid.dx,
            pl_backend_name(sim.backend), nframes, s.sim.fps, pl_now() - t0);
    st = mpm_particles_alloc(&host, sim.n);
  }
  int write_ply = s.render.particle_ply, png_ok = 1, plys = 0, pngs = 0;
  pl_progress bar;
  pl_progress_begin(&bar, "render", nframes, quiet);
  double tsim = 0;
  for (int f = 0; f <= nframes && st == PL_OK; ++f) {
    if (f > 0) {
      double t1 = pl_now();
      st = mpm_advance_frame(&sim);
      tsim += pl_now() - t1;
      if (st != PL_OK) break;
      char extra[96];
      snprintf(extra, sizeof extra, "t %.3f s, %d substeps", sim.time, sim.last_substeps);
      pl_progress_update(&bar, f, extra);
    }
    if (!mask[f]) continue;
    if (png_ok) {
      int w = 0;
      pl_status ps = pl_render_frame_png(&s, &sim, rgb, f, outdir, &w);
      if (ps == PL_ERR_UNSUPPORTED) {
        png_ok = 0;
        if (!write_ply) {
          pl_progress_clear_line();
          PL_WARN("render: %s; writing particle PLYs (render.particle_ply forced on)", pl_last_error());
          write_ply = 1;
        }
        pl_clear_error();
      } else if (ps != PL_OK) {
        st = ps;
        break;
      }
      pngs += w;
    }
    if (write_ply) {
      if ((st = mpm_download(&sim, &sim.state, &host)) != PL_OK) break;
      char path[PL_PATH_MAX + 64];
      snprintf(path, sizeof path, "%s/%04d.ply", sub, f);
      if ((st = pl_write_particle_ply(path, host.n, host.x, host.v, host.F, rgb, host.object)) != PL_OK) break;
      plys++;
    }
  }
  pl_progress_end(&bar);
  if (st == PL_OK) {
    fprintf(stderr, "pipeline render: %s: %d frames simulated (%lld substeps, %lld particles, %.3g particle-substeps/s "
            "on %s); wrote %d particle PLY%s to %s/particles%s\n", s.path, nframes, (long long)sim.substeps_done,
            (long long)sim.n, tsim > 0 ? (double)sim.particle_substeps / tsim : 0.0, pl_backend_name(sim.backend),
            plys, plys == 1 ? "" : "s", outdir, pngs ? " and PNGs per camera" : "");
    rc = 0;
  } else {
    rc = pl_cli_report("render", st);
  }
  free(mask);
  free(rgb);
  mpm_particles_free(&host);
  mpm_free(&sim);
  pl_scene_free(&s);
  return rc;
}

const pl_cli_command pl_cmd_render = {
    "render", "Simulate a scene forward and write the selected frames (particle PLYs; PNGs once the rasterizer is in).",
    "SCENE.cfg [options]",
    "Frames 0 (the initial state) to sim.frames; render.frames picks which are written. Particle PLYs go to\n"
    "OUTPUT/particles/FRAME.ply (x y z, colour, velocity, J = det F, object). Errors name the object, particle,\n"
    "frame and substep involved.",
    render_opts, run_render};
