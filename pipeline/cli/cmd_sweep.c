/* cmd_sweep.c: `pipeline sweep SCENE.cfg --param ADDRESS=LO:HI:N[:log] ...`: a grid over scene values, a CSV row of
 * loss and metrics per point, a contact sheet of one frame per point; `--shard I/N` splits the grid for a job
 * array, `--merge` joins the shards' CSVs. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "core/log.h"
#include "core/progress.h"
#include "pipeline/io/canvas.h"
#include "pipeline/cli/cli.h"
#include "pipeline/engine/engine.h"
#include "pipeline/report/report.h"
#include "pipeline/report/runinfo.h"
#include "pipeline/fit/sweep.h"
#include "pipeline/fit/sweep_profile.h"

/* "address=value" for --set; a vector key (sim.gravity, an object's hull_min) takes the value in all three components
 * (the help's promise; the scene format itself broadcasts one number only where a key says so) */
static void axis_assignment(const pl_config *c, const char *address, double v, char *out, size_t size) {
  char type[128], name[128], key[128];
  const pl_key_spec *k = NULL;
  if (pl_config_split_address(c, address, type, name, key, sizeof key) == PL_OK) {
    const pl_section_spec *sec = pl_schema_section(c->schema, type);
    k = sec ? pl_schema_key(sec, key) : NULL;
  }
  pl_clear_error();
  if (k && k->kind == PL_KT_VEC3) snprintf(out, size, "%s=%.17g %.17g %.17g", address, v, v, v);
  else snprintf(out, size, "%s=%.17g", address, v);
}

static const pl_cli_option sweep_opts[] = {
    {"param", 'p', "ADDRESS=LO:HI:N[:log]", "an axis of the grid (repeatable; or ADDRESS=v1,v2,...)"},
    {"shard", 0, "I/N", "run only the points with index % N == I (0 <= I < N), e.g. $SLURM_ARRAY_TASK_ID/N"},
    {"output", 'o', "DIR", "output folder (default: render.output/sweep)"},
    {"frame", 0, "F", "frame shown in the contact sheet and measured (default: the last frame)"},
    {"camera", 0, "NAME", "camera of the contact sheet (default: the first)"},
    {"around", 0, "RESULT.json", "hold every other learnable value at its fit (a profile through the fitted point)"},
    {"merge", 0, "OUT.csv", "merge the CSV files given as arguments (shards) into OUT.csv and exit"},
    {"new-run", 0, NULL, "write to a new folder OUTPUT/YYYYmmdd-HHMMSS instead of replacing the run in OUTPUT"},
    {NULL, 0, NULL, NULL}};

typedef struct {
  int frame, cam;
  float *tile;   /* rgb of the camera at the frame */
  double centroid[3], max_speed;
} point_ctx;

static pl_status grab(void *user, pl_engine *e, int f) {
  point_ctx *c = (point_ctx *)user;
  (void)f;
  return c->cam >= 0 ? pl_engine_download_camera(e, c->cam, c->tile, NULL) : PL_OK;
}

static pl_status metrics(pl_engine *e, point_ctx *c) {
  const mpm_sim *sim = pl_engine_sim(e);
  int64_t n = sim->n;
  real *x = (real *)malloc(sizeof(real) * 3 * (size_t)n), *v = (real *)malloc(sizeof(real) * 3 * (size_t)n);
  pl_status st = (x && v) ? PL_OK : pl_fail(PL_ERR_NOMEM, "out of memory");
  if (st == PL_OK) st = pl_buffer_download(&sim->state.x, 0, x, sizeof(real) * 3 * (size_t)n);
  if (st == PL_OK) st = pl_buffer_download(&sim->state.v, 0, v, sizeof(real) * 3 * (size_t)n);
  if (st == PL_OK) {
    memset(c->centroid, 0, sizeof c->centroid);
    c->max_speed = 0;
    for (int64_t i = 0; i < n; ++i) {
      for (int k = 0; k < 3; ++k) c->centroid[k] += x[3 * i + k] / (double)n;
      double sp = sqrt((double)v[3 * i] * v[3 * i] + (double)v[3 * i + 1] * v[3 * i + 1] + (double)v[3 * i + 2] * v[3 * i + 2]);
      if (sp > c->max_speed) c->max_speed = sp;
    }
  }
  free(x);
  free(v);
  return st;
}

static int run_sweep(const pl_cli_args *a) {
  pl_cli_apply_common(a);
  if (pl_cli_get(a, "merge")) {
    if (pl_cli_count(a, "set")) {
      fprintf(stderr, "pipeline sweep --merge: --set changes a scene's value, and --merge takes no scene\n");
      return 2;
    }
    if (a->npos < 1) {
      fprintf(stderr, "pipeline sweep --merge OUT.csv: give the shard CSV files as arguments\n");
      return 2;
    }
    pl_status st = pl_csv_merge(a->pos, a->npos, pl_cli_get(a, "merge"));
    if (st != PL_OK) return pl_cli_report("sweep", st);
    fprintf(stderr, "pipeline sweep: merged %d file%s into %s\n", a->npos, a->npos == 1 ? "" : "s", pl_cli_get(a, "merge"));
    return 0;
  }
  pl_sweep sw;
  memset(&sw, 0, sizeof sw);
  sw.nshards = 1;
  int naxes = pl_cli_count(a, "param");
  if (naxes == 0) {
    fprintf(stderr, "pipeline sweep: give at least one --param ADDRESS=LO:HI:N[:log] (see --help)\n");
    return 2;
  }
  for (int i = 0; i < naxes; ++i)
    if (pl_sweep_add_axis(&sw, pl_cli_get_nth(a, "param", i)) != PL_OK) return pl_cli_report("sweep", PL_ERR_INVALID);
  if (pl_cli_get(a, "shard") && pl_sweep_set_shard(&sw, pl_cli_get(a, "shard")) != PL_OK)
    return pl_cli_report("sweep", PL_ERR_INVALID);
  pl_scene s;
  int rc = pl_cli_load_scene(a, "sweep", &s);
  if (rc) return rc;
  pl_status st = PL_OK;
  if (pl_cli_get(a, "around")) { /* the base scene at the fitted point (the swept value is the axis) */
    pl_scene fitted;
    st = pl_sweep_apply_fitted(&fitted, &s, pl_cli_get(a, "around"), sw.naxes == 1 ? sw.axes[0].address : NULL);
    if (st == PL_OK) {
      pl_scene_free(&s);
      s = fitted;
    }
  }
  /* every axis must address a value of the scene */
  for (int i = 0; i < sw.naxes && st == PL_OK; ++i) {
    char set[256];
    axis_assignment(&s.config, sw.axes[i].address, sw.axes[i].values[0], set, sizeof set);
    const char *sets[1] = {set};
    pl_scene probe;
    st = pl_scene_with_overrides(&probe, &s, sets, 1);
    if (st != PL_OK) pl_fail_context(st, "--param %s: ", sw.axes[i].address);
    pl_scene_free(&probe);
  }
  char outdir[PL_PATH_MAX + 16];
  snprintf(outdir, sizeof outdir, "%s", pl_cli_get(a, "output") ? pl_cli_get(a, "output") : s.render.output);
  if (!pl_cli_get(a, "output")) strncat(outdir, "/sweep", sizeof outdir - strlen(outdir) - 1);
  long frame;
  if (pl_cli_int(a, "frame", s.sim.frames, &frame)) {
    pl_scene_free(&s);
    return 2;
  }
  if (st == PL_OK && (frame < 0 || frame > s.sim.frames)) st = pl_fail(PL_ERR_INVALID, "--frame %ld outside 0..%d", frame, s.sim.frames);
  int cam = s.ncameras ? 0 : -1;
  if (st == PL_OK && pl_cli_get(a, "camera")) {
    cam = pl_scene_camera_index(&s, pl_cli_get(a, "camera"));
    if (cam < 0) st = pl_fail(PL_ERR_INVALID, "--camera %s: no such camera", pl_cli_get(a, "camera"));
  }
  /* targets once, from the base scene (truth or folder); without them the sweep reports metrics only */
  pl_targets t;
  memset(&t, 0, sizeof t);
  int have_targets = 0;
  if (st == PL_OK && (s.ntruth > 0 || s.targets.source != PL_TARGETS_TRUTH) && s.ncameras > 0) {
    st = pl_engine_make_targets(&s, &t, pl_cli_quiet(a));
    have_targets = st == PL_OK;
  }
  pl_run run;
  int run_started = 0;
  if (st == PL_OK) {
    st = pl_run_begin(&run, "sweep", &s, outdir, pl_cli_count(a, "new-run") > 0, 0, pl_cli_quiet(a));
    run_started = st == PL_OK;
    if (run_started) snprintf(outdir, sizeof outdir, "%s", run.folder);
  }
  pl_backend used_backend = PL_BACKEND_AUTO;
  char csv[PL_PATH_MAX + 64], sheet[PL_PATH_MAX + 64], curve[PL_PATH_MAX + 64];
  if (sw.nshards > 1) {
    snprintf(csv, sizeof csv, "%s/sweep_%d_of_%d.csv", outdir, sw.shard, sw.nshards);
    snprintf(sheet, sizeof sheet, "%s/contact_%d_of_%d.png", outdir, sw.shard, sw.nshards);
    snprintf(curve, sizeof curve, "%s/sweep_loss_%d_of_%d.png", outdir, sw.shard, sw.nshards);
  } else {
    snprintf(curve, sizeof curve, "%s/sweep_loss.png", outdir);
    snprintf(csv, sizeof csv, "%s/sweep.csv", outdir);
    snprintf(sheet, sizeof sheet, "%s/contact.png", outdir);
  }
  long mine = 0;
  double *vals = (double *)malloc(sizeof(double) * PL_SWEEP_MAX_AXES);
  for (long i = 0; i < sw.total; ++i) mine += pl_sweep_point(&sw, i, vals);
  int iw = cam >= 0 ? s.cameras[cam].width : 0, ih = cam >= 0 ? s.cameras[cam].height : 0;
  int zoom = iw > 0 && iw < 120 ? (120 + iw - 1) / iw : 1; /* small images are enlarged for the labels */
  int tw = iw * zoom, th = ih * zoom;
  int lab_h = tw > 0 ? 2 * pl_text_height(pl_text_size_for(tw)) + 6 : 0; /* two label lines above a tile */
  int cols = (int)ceil(sqrt((double)(mine ? mine : 1))), rows = (int)((mine + cols - 1) / (cols ? cols : 1));
  pl_canvas cv;
  memset(&cv, 0, sizeof cv);
  const float white[3] = {1, 1, 1}, black[3] = {0, 0, 0};
  if (st == PL_OK && cam >= 0) st = pl_canvas_create(&cv, cols * (tw + 4) + 4, rows * (th + lab_h + 4) + 4, white);
  pl_out out;
  memset(&out, 0, sizeof out);
  if (st == PL_OK) st = pl_out_open(&out, csv, 0);
  if (st == PL_OK) {
    fprintf(out.f, "point");
    for (int k = 0; k < sw.naxes; ++k) fprintf(out.f, ",%s", sw.axes[k].address);
    fprintf(out.f, ",loss,l1,l2,dssim,mask,centroid_x,centroid_y,centroid_z,max_speed,seconds\n");
  }
  pl_progress bar;
  pl_progress_begin(&bar, "sweep", mine, pl_cli_quiet(a));
  long done = 0;
  float *tile = (float *)malloc(sizeof(float) * 3 * (size_t)(iw * ih > 0 ? iw * ih : 1));
  float *big = (float *)malloc(sizeof(float) * 3 * (size_t)(tw * th > 0 ? tw * th : 1));
  /* one axis, one shard: profile.png (loss against the axis) */
  double *px = sw.naxes == 1 && sw.nshards == 1 ? (double *)malloc(sizeof(double) * (size_t)(sw.total + 1)) : NULL;
  double *py = px ? (double *)malloc(sizeof(double) * (size_t)(sw.total + 1)) : NULL;
  int np = 0;
  for (long i = 0; i < sw.total && st == PL_OK; ++i) {
    if (!pl_sweep_point(&sw, i, vals)) continue;
    double t0 = pl_now();
    char store[PL_SWEEP_MAX_AXES][256];
    const char *sets[PL_SWEEP_MAX_AXES];
    for (int k = 0; k < sw.naxes; ++k) {
      axis_assignment(&s.config, sw.axes[k].address, vals[k], store[k], sizeof store[k]);
      sets[k] = store[k];
    }
    pl_scene ps;
    pl_engine *e = NULL;
    st = pl_scene_with_overrides(&ps, &s, sets, sw.naxes);
    if (st == PL_OK) {
      st = pl_engine_create(&e, &ps);
      if (st == PL_OK) used_backend = pl_engine_backend(e);
      pl_loss_value loss;
      memset(&loss, 0, sizeof loss);
      for (int q = 0; q < PL_LOSS_COUNT; ++q) loss.term[q] = NAN;
      loss.total = NAN;
      if (st == PL_OK && have_targets) {
        st = pl_engine_set_targets(e, &t);
        if (st == PL_OK) st = pl_engine_eval(e, "all", 0, NULL, &loss);
      }
      point_ctx pc = {(int)frame, cam, tile, {0, 0, 0}, 0};
      unsigned char *mask = (unsigned char *)calloc((size_t)s.sim.frames + 1, 1);
      if (st == PL_OK && !mask) st = pl_fail(PL_ERR_NOMEM, "out of memory");
      if (st == PL_OK) {
        mask[frame] = cam >= 0;
        st = pl_engine_run(e, (int)frame, mask, grab, &pc);
      }
      free(mask);
      if (st == PL_OK) st = metrics(e, &pc);
      if (st == PL_OK) {
        fprintf(out.f, "%ld", i);
        for (int k = 0; k < sw.naxes; ++k) fprintf(out.f, ",%.9g", vals[k]);
        fprintf(out.f, ",%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.9g,%.3f\n", loss.total, loss.term[0], loss.term[1],
                loss.term[2], loss.term[3], pc.centroid[0], pc.centroid[1], pc.centroid[2], pc.max_speed,
                pl_now() - t0);
        fflush(out.f);
        if (px && py) px[np] = vals[0], py[np++] = loss.total;
        if (cam >= 0) {
          int cx = (int)(done % cols), cy = (int)(done / cols);
          int x0 = 4 + cx * (tw + 4), y0 = 4 + cy * (th + lab_h + 4);
          for (int yy = 0; yy < th; ++yy)
            for (int xx = 0; xx < tw; ++xx)
              memcpy(big + 3 * ((size_t)yy * tw + xx), tile + 3 * ((size_t)(yy / zoom) * iw + xx / zoom), 3 * sizeof(float));
          pl_canvas_blit(&cv, x0, y0 + lab_h, tw, th, big);
          /* "#point  loss" on the first line, the axes' short names and values on the second */
          char lab[160];
          double ts = pl_text_size_for(tw);
          if (have_targets)
            snprintf(lab, sizeof lab, "#%ld  loss %.3g", i, loss.total);
          else
            snprintf(lab, sizeof lab, "#%ld", i);
          pl_canvas_label(&cv, x0, y0, tw, lab, black, ts);
          int len = 0;
          lab[0] = '\0';
          for (int k = 0; k < sw.naxes && k < 3; ++k) {
            const char *short_name = strrchr(sw.axes[k].address, '.');
            len += snprintf(lab + len, sizeof lab - (size_t)len, "%s%s %.3g", k ? ", " : "",
                            short_name ? short_name + 1 : sw.axes[k].address, vals[k]);
          }
          pl_canvas_label(&cv, x0, y0 + pl_text_height(ts) + 1, tw, lab, black, ts);
        }
      }
      if (st != PL_OK) pl_fail_context(st, "sweep point %ld: ", i);
    }
    pl_engine_free(e);
    pl_scene_free(&ps);
    done++;
    char msg[96];
    snprintf(msg, sizeof msg, "point %ld", i);
    pl_progress_update(&bar, done, msg);
  }
  pl_progress_end(&bar);
  free(tile);
  free(big);
  free(vals);
  if (st == PL_OK) {
    st = pl_out_commit(&out);
    if (st == PL_OK && cam >= 0) st = pl_canvas_save_png(&cv, sheet);
    if (st == PL_OK && have_targets) st = pl_report_sweep(&sw, csv, curve);
    if (st == PL_OK && px && py && have_targets && np > 1) {
      char prof[PL_PATH_MAX + 64];
      snprintf(prof, sizeof prof, "%s/profile.png", outdir);
      st = pl_sweep_profile_png(prof, sw.axes[0].address, np, px, py);
      if (st == PL_OK) fprintf(stderr, "pipeline sweep: loss profile in %s\n", prof);
    }
  } else if (out.f) {
    pl_out_abort(&out);
  }
  pl_canvas_free(&cv);
  free(px);
  free(py);
  pl_targets_free(&t);
  if (run_started) {
    pl_status rs = pl_run_end(&run, &s, used_backend, st == PL_OK, 0);
    if (st == PL_OK) st = rs;
  }
  if (st == PL_OK) {
    fprintf(stderr, "pipeline sweep: %ld of %ld points%s; wrote %s%s%s%s%s\n", done, sw.total,
            sw.nshards > 1 ? " (this shard)" : "", csv, cam >= 0 ? ", " : "", cam >= 0 ? sheet : "",
            have_targets ? ", " : "", have_targets ? curve : "");
    if (!have_targets) fprintf(stderr, "pipeline sweep: the scene has no targets ([truth] or targets.folder): no loss columns\n");
    rc = 0;
  } else {
    rc = pl_cli_report("sweep", st);
  }
  pl_scene_free(&s);
  return rc;
}

const pl_cli_command pl_cmd_sweep = {
    "sweep", "Run the scene over a grid of values: a CSV of loss and metrics per point, and a contact sheet.",
    "SCENE.cfg --param ADDRESS=LO:HI:N[:log] [--param ...] [options]\n       pipeline sweep --merge OUT.csv SHARD.csv ...",
    "Any scene value can be an axis (material.jelly.E, sim.gravity, ...; vectors take one number for all three\n"
    "components). The grid is the cartesian product, the last axis varying fastest; point indices are stable, so\n"
    "a job array can split it with --shard I/N (Slurm: --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT) and\n"
    "--merge joins the shards' CSVs. Columns: point, the axes, the loss against the targets ([truth] or folder;\n"
    "empty without targets) and its terms, the particles' centroid and fastest speed at --frame, seconds.",
    sweep_opts, run_sweep, 0};
