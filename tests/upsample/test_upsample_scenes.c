/* test_upsample_scenes.c: every shipped scene (the .cfg files in scenes/) renders as a closed surface in both modes.
 * The scene's objects are filled with particles by the simulator's own sampler (pipeline/scene/sim_setup.c), the
 * upsampler is built by the pipeline's glue (pipeline/scene/ups_setup.c), and from each of the scene's cameras, at its resolution and at 4x, the composited alpha must be >= 0.99 at every pixel well inside
 * the silhouette (the particles' projected discs, eroded by 1.5 particle spacings).
 * The composited alpha is evaluated on the CPU from the Gaussians directly (ups_composite_alpha). */
#include <dirent.h>
#include <stdio.h>

#include "core/fileio.h"
#include "pipeline/scene/scene.h"
#include "pipeline/scene/sim_setup.h"
#include "pipeline/scene/ups_setup.h"
#include "tests/upsample/ups_test_util.h"

/* The scene's particles exactly as the simulator makes them (pipeline/scene/sim_setup.c, mpm_sample_objects). */
static int fill_scene(const pl_scene *s, mpm_particles *P) {
  mpm_material *mats = (mpm_material *)calloc((size_t)s->nmaterials, sizeof *mats);
  mpm_collider *cols = (mpm_collider *)calloc((size_t)(s->ncolliders ? s->ncolliders : 1), sizeof *cols);
  mpm_object *objs = (mpm_object *)calloc((size_t)s->nobjects, sizeof *objs);
  mpm_desc d;
  pl_sim_desc(s, mats, cols, &d);
  for (int o = 0; o < s->nobjects; ++o) pl_sim_object(s, o, &objs[o]);
  pl_status st = mpm_sample_objects(&d, objs, s->nobjects, P);
  if (st != PL_OK) fprintf(stderr, "%s\n", pl_last_error());
  free(mats);
  free(cols);
  free(objs);
  return st == PL_OK && P->n > 0;
}

static void check_scene(const char *path, const char *mode) {
  char set[64];
  snprintf(set, sizeof set, "upsample.mode=%s", mode);
  const char *sets[1] = {set};
  pl_scene s;
  pl_status st = pl_scene_load(&s, path, sets, 1);
  CHECK(st == PL_OK, "%s: %s", path, pl_last_error());
  if (st != PL_OK) return;
  mpm_particles P;
  CHECK(fill_scene(&s, &P), "%s: could not fill the objects with particles", path);
  ups *u = NULL;
  st = pl_ups_setup(&s, PL_BACKEND_CPU, P.n, P.x, P.object, &u);
  CHECK(st == PL_OK, "%s (%s): init: %s", path, mode, pl_last_error());
  double spacing = s.sim.dx / cbrt((double)s.objects[0].particles_per_cell);
  real *f = ups_identity_F(P.n);
  ups_gaussians g;
  if (st == PL_OK) st = ups_forward(u, P.x, f, &g);
  CHECK(st == PL_OK, "%s (%s): forward: %s", path, mode, pl_last_error());
  if (st == PL_OK) {
    for (int c = 0; c < 2 * s.ncameras; ++c) {
      const pl_scene_camera *sc = &s.cameras[c / 2];
      /* at least 128 pixels wide (tiny scenes render at 40x40), and 4x that */
      const int base = sc->width < 128 ? (128 + sc->width - 1) / sc->width : 1;
      const int zoom = base * (c % 2 ? 4 : 1);
      ups_camera cam;
      cam.w = sc->width * zoom;
      cam.h = sc->height * zoom;
      cam.fx = sc->fx * zoom, cam.fy = sc->fy * zoom, cam.cx = sc->cx * zoom, cam.cy = sc->cy * zoom;
      for (int a = 0; a < 3; ++a) {
        cam.eye[a] = sc->eye[a];
        for (int b = 0; b < 3; ++b) cam.rot[a][b] = sc->viewmat[4 * a + b];
      }
      size_t np = (size_t)cam.w * cam.h;
      unsigned char *mask = (unsigned char *)calloc(np, 1), *one = (unsigned char *)malloc(np);
      /* silhouette: each object's particles as discs of radius 0.9 spacing, eroded by 1.5 spacings, then the
       * union: every object's own surface must be closed (a seam where two objects meet in the image is not
       * inside either) */
      double dp = spacing, zmean = 0;
      int erode = 1;
      for (int p = 0; p < P.n; ++p) {
        double t[3], q[3];
        for (int k = 0; k < 3; ++k) q[k] = P.x[3 * p + k] - cam.eye[k];
        for (int a = 0; a < 3; ++a) t[a] = cam.rot[a][0] * q[0] + cam.rot[a][1] * q[1] + cam.rot[a][2] * q[2];
        if (t[2] >= 0.01) zmean += t[2] / P.n;
      }
      erode = (int)ceil(1.5 * dp * cam.fx / zmean);
      for (int o = 0; o < s.nobjects; ++o) {
        memset(one, 0, np);
        for (int p = 0; p < P.n; ++p) {
          if (P.object[p] != o) continue;
          double t[3], q[3];
          for (int k = 0; k < 3; ++k) q[k] = P.x[3 * p + k] - cam.eye[k];
          for (int a = 0; a < 3; ++a) t[a] = cam.rot[a][0] * q[0] + cam.rot[a][1] * q[1] + cam.rot[a][2] * q[2];
          if (t[2] < 0.01) continue;
          double uu = cam.fx * t[0] / t[2] + cam.cx, vv = cam.fy * t[1] / t[2] + cam.cy, rr = 0.9 * dp * cam.fx / t[2];
          for (int i = (int)floor(vv - rr); i <= (int)ceil(vv + rr); ++i)
            for (int j = (int)floor(uu - rr); j <= (int)ceil(uu + rr); ++j)
              if (i >= 0 && j >= 0 && i < cam.h && j < cam.w && (j + 0.5 - uu) * (j + 0.5 - uu) + (i + 0.5 - vv) * (i + 0.5 - vv) < rr * rr)
                one[i * cam.w + j] = 1;
        }
        ups_erode(one, cam.w, cam.h, erode);
        for (size_t i = 0; i < np; ++i) mask[i] |= one[i];
      }
      free(one);
      double *alpha = (double *)malloc(sizeof(double) * np);
      ups_composite_alpha(&cam, g.count, g.means, g.covs, g.opacities, alpha);
      int64_t in = 0, bad = 0;
      double worst = 1;
      for (size_t i = 0; i < np; ++i)
        if (mask[i]) {
          ++in;
          worst = fmin(worst, alpha[i]);
          bad += !(alpha[i] >= 0.99);
        }
      fprintf(stderr, "%s, mode %s, camera %s x%d: %lld particles -> %lld Gaussians; %lld pixels inside the silhouette "
              "(eroded by %d px), %lld below alpha 0.99, min %.5f\n", path, mode, sc->name, zoom, (long long)P.n, (long long)g.count,
              (long long)in, erode, (long long)bad, worst);
      CHECK(in > 300 * (zoom / base) * (zoom / base), "%s (%s) camera %s: silhouette too small (%lld pixels)", path, mode, sc->name, (long long)in);
      CHECK(bad == 0, "%s (%s) camera %s: %lld pixels inside the silhouette have alpha < 0.99 (min %.4f)", path, mode,
            sc->name, (long long)bad, worst);
      if (getenv("UPS_DEBUG_PNG")) {
        float *img = (float *)malloc(sizeof(float) * 3 * np);
        for (size_t i = 0; i < np; ++i) {
          img[3 * i] = (float)alpha[i];
          img[3 * i + 1] = mask[i] && alpha[i] < 0.99 ? 1.0f : (float)alpha[i] * 0.5f;
          img[3 * i + 2] = mask[i] ? 0.3f : 0.0f;
        }
        char fn[256];
        snprintf(fn, sizeof fn, "/tmp/ups_%s_%s_%d.png", mode, sc->name, zoom);
        pl_png_write_float(fn, cam.w, cam.h, 3, img);
        free(img);
      }
      free(alpha);
      free(mask);
    }
  }
  ups_destroy(u);
  free(f);
  mpm_particles_free(&P);
  pl_scene_free(&s);
}

int main(void) {
  DIR *dir = opendir("scenes");
  CHECK(dir != NULL, "cannot open scenes/ (run from the repository root)");
  if (!dir) return test_summary("test_upsample_scenes");
  int nscenes = 0;
  struct dirent *e;
  char names[64][256];
  while ((e = readdir(dir)) != NULL && nscenes < 64) {
    size_t l = strlen(e->d_name);
    if (l > 4 && strcmp(e->d_name + l - 4, ".cfg") == 0) snprintf(names[nscenes++], 256, "scenes/%s", e->d_name);
  }
  closedir(dir);
  qsort(names, (size_t)nscenes, sizeof names[0], (int (*)(const void *, const void *))strcmp);
  CHECK(nscenes > 0, "no scenes found");
  for (int i = 0; i < nscenes; ++i) {
    check_scene(names[i], "bound");
    check_scene(names[i], "runtime");
  }
  return test_summary("test_upsample_scenes");
}
