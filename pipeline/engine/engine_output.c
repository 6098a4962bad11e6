/* engine_output.c: what the engine hands out: a camera's last images on the host, PNGs, particle and Gaussian
 * PLYs, and the target | rendered | difference strips of a fit. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "pipeline/io/canvas.h"
#include "pipeline/engine/engine_internal.h"
#include "pipeline/engine/engine_objective.h"
#include "pipeline/engine/particle_fields.h"
#include "pipeline/engine/sh_turn.h"
#include "pipeline/report/panels.h"
#include "pipeline/io/particle_ply.h"
#include "raster/ply.h"

pl_status pl_engine_download_camera(const pl_engine *e, int c, float *rgb, float *alpha) {
  int64_t off = e->cam_offset[c], np = e->cam_offset[c + 1] - off;
  real *tmp = (real *)malloc(sizeof(real) * 4 * (size_t)np);
  if (!tmp) return pl_fail(PL_ERR_NOMEM, "out of memory");
  pl_status st = pl_buffer_download(&e->img, sizeof(real) * 3 * (size_t)off, tmp, sizeof(real) * 3 * (size_t)np);
  if (st == PL_OK)
    st = pl_buffer_download(&e->img, sizeof(real) * (size_t)(3 * e->npix + off), tmp + 3 * np, sizeof(real) * (size_t)np);
  if (st == PL_OK) {
    for (int64_t i = 0; i < np; ++i) {
      if (rgb)
        for (int k = 0; k < 3; ++k) rgb[3 * i + k] = (float)tmp[3 * i + k];
      if (alpha) alpha[i] = (float)tmp[3 * np + i];
    }
    for (int64_t i = 0; i < 4 * np; ++i)
      if (!isfinite(tmp[i])) {
        st = pl_fail(PL_ERR_NUMERIC, "camera %s: the rendered image has a NaN or Inf at pixel %lld",
                     e->scene->cameras[c].name, (long long)((i < 3 * np ? i / 3 : i - 3 * np)));
        break;
      }
  }
  free(tmp);
  return st;
}

pl_status pl_engine_write_pngs(const pl_engine *e, const char *folder, int frame) {
  for (int c = 0; c < e->ncams; ++c) {
    const pl_scene_camera *sc = &e->scene->cameras[c];
    int64_t np = (int64_t)sc->width * sc->height;
    float *px = (float *)malloc(sizeof(float) * 4 * (size_t)np), *rgb = (float *)malloc(sizeof(float) * 3 * (size_t)np),
          *a = (float *)malloc(sizeof(float) * (size_t)np);
    pl_status st = (px && rgb && a) ? PL_OK : pl_fail(PL_ERR_NOMEM, "out of memory");
    char dir[PL_PATH_MAX + 80], path[PL_PATH_MAX + 96];
    snprintf(dir, sizeof dir, "%s/%s", folder, sc->name);
    if (st == PL_OK) st = pl_mkdirs(dir);
    if (st == PL_OK) st = pl_engine_download_camera(e, c, rgb, a);
    if (st == PL_OK) {
      for (int64_t i = 0; i < np; ++i) {
        for (int k = 0; k < 3; ++k) px[4 * i + k] = rgb[3 * i + k];
        px[4 * i + 3] = a[i];
      }
      snprintf(path, sizeof path, "%s/%04d.png", dir, frame);
      st = pl_png_write_float(path, sc->width, sc->height, 4, px);
    }
    free(px);
    free(rgb);
    free(a);
    PL_TRY(st);
  }
  return PL_OK;
}

pl_status pl_engine_write_particle_ply(const pl_engine *e, const char *path) {
  mpm_particles h;
  PL_TRY(mpm_particles_alloc(&h, e->n));
  pl_status st = mpm_download(e->sim, &e->sim->state, &h);
  if (st == PL_OK) st = pl_buffer_download(&e->sim->mass, 0, h.mass, (size_t)e->n * sizeof(real));
  if (st == PL_OK) st = pl_buffer_download(&e->sim->vol0, 0, h.vol0, (size_t)e->n * sizeof(real));
  if (st == PL_OK)
    st = pl_write_particle_ply(path, e->n, h.x, h.v, h.F, e->particle_rgb, e->init_host.object, h.mass, h.vol0);
  mpm_particles_free(&h);
  return st;
}

pl_status pl_engine_write_gaussian_ply(const pl_engine *e, const char *path) {
  size_t m = (size_t)e->m, kb = 3 * (size_t)e->sh_k; /* kb: SH values per Gaussian (0: RGB colours) */
  real *buf = (real *)malloc(sizeof(real) * (13 + kb + (kb ? 9 : 0)) * (m ? m : 1));
  if (!buf) return pl_fail(PL_ERR_NOMEM, "out of memory");
  real *means = buf, *covs = buf + 3 * m, *cols = buf + 9 * m, *op = buf + 12 * m, *sh = buf + 13 * m;
  real *frames = sh + kb * m;
  pl_status st = ups_download(e->ups, means, covs, cols, op);
  /* SH splats: the file has no frames, so their bands are written turned into world axes (sh_turn.h) */
  if (st == PL_OK && kb) st = ups_download_sh(e->ups, sh, frames);
  if (st == PL_OK && kb) st = pl_sh_turn_to_world((int)lround(sqrt((double)e->sh_k)) - 1, (int64_t)m, frames, sh);
  if (st == PL_OK) {
    /* leave out Gaussians of opacity 0 (runtime children deep inside a body) */
    size_t k = 0;
    for (size_t i = 0; i < m; ++i) {
      if (!(op[i] > 0)) continue;
      memmove(means + 3 * k, means + 3 * i, 3 * sizeof(real));
      memmove(covs + 6 * k, covs + 6 * i, 6 * sizeof(real));
      memmove(cols + 3 * k, cols + 3 * i, 3 * sizeof(real));
      if (kb) memmove(sh + kb * k, sh + kb * i, kb * sizeof(real));
      op[k] = op[i];
      ++k;
    }
    raster_gaussians g;
    memset(&g, 0, sizeof g);
    g.n = (int64_t)k;
    g.means = means;
    g.covs = covs;
    g.opacities = op;
    if (kb) {
      g.sh = sh;
      g.sh_degree = (int)lround(sqrt((double)e->sh_k)) - 1;
    } else {
      g.colors = cols;
    }
    st = raster_ply_write(path, &g, NULL);
  }
  free(buf);
  return st;
}

/* ------------------------------------------------------------------ strips */

typedef struct {
  const char *folder;
} strip_ctx;

static pl_status strip_frame(void *user, pl_engine *e, int f) {
  strip_ctx *sc = (strip_ctx *)user;
  const pl_scene *s = e->scene;
  int nf = s->sim.frames + 1;
  for (int c = 0; c < e->ncams; ++c) {
    int k = c * nf + f;
    if (!e->loss_cam[c] || !e->targets[k].ptr) continue;
    int w = e->cams[c].width, h = e->cams[c].height;
    int64_t np = (int64_t)w * h;
    float *ren = (float *)malloc(sizeof(float) * 3 * (size_t)np), *tgt = (float *)malloc(sizeof(float) * 3 * (size_t)np),
          *dif = (float *)malloc(sizeof(float) * 3 * (size_t)np);
    real *traw = (real *)malloc(sizeof(real) * 3 * (size_t)np);
    pl_status st = (ren && tgt && dif && traw) ? PL_OK : pl_fail(PL_ERR_NOMEM, "out of memory");
    if (st == PL_OK) st = pl_engine_download_camera(e, c, ren, NULL);
    if (st == PL_OK) st = pl_buffer_download(&e->targets[k], 0, traw, sizeof(real) * 3 * (size_t)np);
    if (st == PL_OK) {
      for (int64_t i = 0; i < 3 * np; ++i) {
        tgt[i] = (float)traw[i];
        dif[i] = 0;
      }
      pl_panels_difference(ren, tgt, np, 4.0f, dif); /* mean absolute error per pixel, x4 */
      const float white[3] = {1, 1, 1}, black[3] = {0, 0, 0};
      pl_canvas cv;
      int pad = 4, zoom = pl_panels_zoom(w, 128), head = pl_text_height(13) + 6;
      st = pl_canvas_create(&cv, 3 * w * zoom + 4 * pad, head + pl_panels_label_height(w * zoom) + h * zoom + pad, white);
      if (st == PL_OK) {
        char lab[160];
        snprintf(lab, sizeof lab, "camera %s, frame %d", s->cameras[c].name, f);
        pl_canvas_label(&cv, pad, 3, cv.w - 2 * pad, lab, black, 13);
        const float *img[3] = {tgt, ren, dif};
        const char *labels[3] = {"target", "rendered", "difference x4"};
        pl_panels_row(&cv, pad, head, 3, img, labels, w, h, zoom, pad);
        char path[PL_PATH_MAX + 128];
        snprintf(path, sizeof path, "%s/strip_%s_%04d.png", sc->folder, s->cameras[c].name, f);
        st = pl_canvas_save_png(&cv, path);
        pl_canvas_free(&cv);
      }
    }
    free(ren);
    free(tgt);
    free(dif);
    free(traw);
    PL_TRY(st);
  }
  return PL_OK;
}

pl_status pl_engine_write_strips(void *user, pl_optimizer *o, const char *folder) {
  pl_engine *e = (pl_engine *)user;
  const pl_scene *s = e->scene;
  int nf = s->sim.frames + 1;
  PL_TRY(pl_engine_apply(e, o));
  unsigned char *mask = (unsigned char *)calloc((size_t)nf, 1);
  if (!mask) return pl_fail(PL_ERR_NOMEM, "out of memory");
  pl_status st = PL_OK;
  if (strcmp(s->optimize.strip_frames, "auto") == 0) {
    /* first, middle and last loss frames */
    int fr[64], n = 0;
    for (int f = 0; f < nf && n < 64; ++f)
      if (e->loss_frame && e->loss_frame[f]) fr[n++] = f;
    if (n > 0) {
      mask[fr[0]] = 1;
      mask[fr[n / 2]] = 1;
      mask[fr[n - 1]] = 1;
    }
  } else {
    st = pl_frame_selection(s->optimize.strip_frames, nf, mask);
    if (st != PL_OK) pl_fail_context(st, "optimize.strip_frames: ");
  }
  int last = -1;
  for (int f = 0; f < nf; ++f)
    if (mask[f]) last = f;
  strip_ctx c = {folder};
  if (st == PL_OK && last >= 0) st = pl_engine_run(e, last, mask, strip_frame, &c);
  free(mask);
  return st;
}

/* The fit's results beside its strips: E_field.csv of a learnt E field, then the strips. */
pl_status pl_engine_write_results(void *user, pl_optimizer *o, const char *folder) {
  PL_TRY(pl_engine_fields_write_csv((pl_engine *)user, folder));
  return pl_engine_write_strips(user, o, folder);
}
