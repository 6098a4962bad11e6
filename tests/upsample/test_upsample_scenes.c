/* test_upsample_scenes.c: every shipped scene (the .cfg files in scenes/) renders as a closed surface in both modes.
 * The scene's objects are filled with particles the way the simulator does (a lattice of particles_per_cell per
 * grid cell, jittered when the object says so, placed with the object's centre, rotation and scale), the
 * upsampler is built from the scene's [upsample] section (upsample_desc_from_scene shows the wiring the pipeline
 * needs), and from each of the scene's cameras, at its resolution and at 4x, the composited alpha must be >= 0.99 at every pixel well inside
 * the silhouette (the particles' projected discs, eroded by 1.5 particle spacings).
 * CPU-side stand-in for the rasterizer: re-run through raster/ once merged. */
#include <dirent.h>
#include <stdio.h>

#include "core/fileio.h"
#include "pipeline/scene.h"
#include "tests/upsample/ups_test_util.h"

typedef struct {
  int n;
  real *x;
  int *obj;
  pl_mesh *meshes; /* per object (loaded for shape = mesh) */
} particles;

static int inside_object(const pl_scene_object *o, const pl_mesh *mesh, const double *pv, const double p[3]) {
  (void)mesh;
  (void)pv;
  double r[3][3], d[3], l[3];
  pl_upsample_placement_matrix(o->rotation, r);
  for (int k = 0; k < 3; ++k) d[k] = p[k] - o->center[k];
  for (int k = 0; k < 3; ++k) l[k] = r[0][k] * d[0] + r[1][k] * d[1] + r[2][k] * d[2]; /* R^T d */
  switch (o->shape) {
    case PL_SHAPE_BOX: return fabs(l[0]) < 0.5 * o->size[0] && fabs(l[1]) < 0.5 * o->size[1] && fabs(l[2]) < 0.5 * o->size[2];
    case PL_SHAPE_SPHERE: return l[0] * l[0] + l[1] * l[1] + l[2] * l[2] < o->radius * o->radius;
    case PL_SHAPE_CYLINDER: return l[0] * l[0] + l[2] * l[2] < o->radius * o->radius && fabs(l[1]) < 0.5 * o->height;
    default: return 0;
  }
}

static int fill_scene(const pl_scene *s, particles *P) {
  memset(P, 0, sizeof *P);
  size_t cap = 1024;
  P->x = (real *)malloc(sizeof(real) * 3 * cap);
  P->obj = (int *)malloc(sizeof(int) * cap);
  P->meshes = (pl_mesh *)calloc((size_t)s->nobjects, sizeof(pl_mesh));
  for (int o = 0; o < s->nobjects; ++o) {
    const pl_scene_object *ob = &s->objects[o];
    int per = (int)round(cbrt((double)ob->particles_per_cell));
    if (per < 1) per = 1;
    double dp = s->sim.dx / per;
    real *pts = NULL;
    int cnt = 0;
    if (ob->shape == PL_SHAPE_MESH) {
      if (pl_mesh_load_obj(&P->meshes[o], ob->mesh) != PL_OK) return 0;
      double *pv = ups_place_mesh(&P->meshes[o], ob->center, ob->scale, ob->rotation);
      cnt = ups_mesh_particles(&P->meshes[o], pv, dp, ob->jittered ? 1.0 : 0.0, s->sim.seed, &pts);
      free(pv);
    } else {
      /* lattice aligned with the simulation grid */
      int nc[3];
      for (int k = 0; k < 3; ++k) nc[k] = (int)ceil((s->sim.domain_max[k] - s->sim.domain_min[k]) / dp);
      pts = (real *)malloc(sizeof(real) * 3 * 1024);
      size_t pc = 1024;
      for (int i = 0; i < nc[0]; ++i)
        for (int j = 0; j < nc[1]; ++j)
          for (int k = 0; k < nc[2]; ++k) {
            double p[3] = {s->sim.domain_min[0] + (i + 0.5) * dp, s->sim.domain_min[1] + (j + 0.5) * dp,
                           s->sim.domain_min[2] + (k + 0.5) * dp};
            if (!inside_object(ob, NULL, NULL, p)) continue;
            if (ob->jittered) {
              real u[4];
              pl_rng_uniform4(s->sim.seed, (uint64_t)((i * 1000003LL + j) * 1000033LL + k), (uint32_t)o, u);
              for (int a = 0; a < 3; ++a) p[a] += dp * ((double)u[a] - 0.5);
            }
            if ((size_t)cnt == pc) {
              pc *= 2;
              pts = (real *)realloc(pts, sizeof(real) * 3 * pc);
            }
            for (int a = 0; a < 3; ++a) pts[3 * cnt + a] = (real)p[a];
            ++cnt;
          }
    }
    while ((size_t)(P->n + cnt) > cap) {
      cap *= 2;
      P->x = (real *)realloc(P->x, sizeof(real) * 3 * cap);
      P->obj = (int *)realloc(P->obj, sizeof(int) * cap);
    }
    memcpy(P->x + 3 * P->n, pts, sizeof(real) * 3 * (size_t)cnt);
    for (int i = 0; i < cnt; ++i) P->obj[P->n + i] = o;
    P->n += cnt;
    free(pts);
  }
  return P->n > 0;
}

/* The wiring the pipeline needs: [upsample] and [object] sections -> an upsampler description.
 * mode auto: runtime for materials that tear or flow (sand, fluids, viscoplastic), bound otherwise. */
static void upsample_desc_from_scene(const pl_scene *s, const particles *P, pl_upsample_object *objs,
                                     pl_upsample_desc *d) {
  const pl_scene_upsample *u = &s->upsample;
  memset(d, 0, sizeof *d);
  d->backend = PL_BACKEND_CPU;
  d->threads = s->sim.threads;
  d->nparticles = P->n;
  d->rest_positions = P->x;
  d->object_index = P->obj;
  d->nobjects = s->nobjects;
  d->objects = objs;
  d->particle_spacing = s->sim.dx / cbrt((double)s->objects[0].particles_per_cell);
  d->spacing = u->spacing;
  d->sigma0 = u->sigma0;
  d->thickness = u->thickness;
  d->opacity = u->opacity;
  d->bind_radius = u->bind_radius;
  d->children = u->children;
  d->surface_threshold = u->surface_threshold;
  d->surface_band = u->surface_band;
  d->surface_level = u->surface_level;
  d->smoothing = u->smoothing;
  d->learn_colors = u->learn_colors;
  d->learn_opacities = u->learn_opacities;
  d->seed = s->sim.seed;
  for (int o = 0; o < s->nobjects; ++o) {
    const pl_scene_object *ob = &s->objects[o];
    pl_upsample_object *t = &objs[o];
    memset(t, 0, sizeof *t);
    t->name = ob->name;
    pl_material_model mm = s->materials[ob->material].model;
    int flows = mm == PL_MAT_DRUCKER_PRAGER || mm == PL_MAT_NEWTONIAN_FLUID || mm == PL_MAT_VISCOPLASTIC;
    switch (u->mode) {
      case PL_UPSAMPLE_BOUND: t->mode = PL_UPS_BOUND; break;
      case PL_UPSAMPLE_RUNTIME: t->mode = PL_UPS_RUNTIME; break;
      case PL_UPSAMPLE_PARTICLES: t->mode = PL_UPS_PARTICLES; break;
      default: t->mode = flows ? PL_UPS_RUNTIME : PL_UPS_BOUND; break;
    }
    if (ob->shape == PL_SHAPE_MESH) t->mesh_path = ob->mesh;
    if (ob->texture[0]) t->texture_path = ob->texture;
    for (int k = 0; k < 3; ++k) {
      t->center[k] = ob->center[k];
      t->scale[k] = ob->scale[k];
      t->rotation_deg[k] = ob->rotation[k];
      t->color[k] = ob->color[k];
    }
  }
}

static void check_scene(const char *path, const char *mode) {
  char set[64];
  snprintf(set, sizeof set, "upsample.mode=%s", mode);
  const char *sets[1] = {set};
  pl_scene s;
  pl_status st = pl_scene_load(&s, path, sets, 1);
  CHECK(st == PL_OK, "%s: %s", path, pl_last_error());
  if (st != PL_OK) return;
  particles P;
  CHECK(fill_scene(&s, &P), "%s: could not fill the objects with particles", path);
  pl_upsample_object *objs = (pl_upsample_object *)calloc((size_t)s.nobjects, sizeof *objs);
  pl_upsample_desc d;
  upsample_desc_from_scene(&s, &P, objs, &d);
  pl_upsample *u = NULL;
  st = pl_upsample_init(&u, &d);
  CHECK(st == PL_OK, "%s (%s): init: %s", path, mode, pl_last_error());
  real *f = ups_identity_F(P.n);
  pl_ups_gaussians g;
  if (st == PL_OK) st = pl_upsample_forward(u, P.x, f, &g);
  CHECK(st == PL_OK, "%s (%s): forward: %s", path, mode, pl_last_error());
  if (st == PL_OK) {
    for (int c = 0; c < 2 * s.ncameras; ++c) {
      const pl_scene_camera *sc = &s.cameras[c / 2];
      const int zoom = c % 2 ? 4 : 1;
      ups_camera cam;
      cam.w = sc->width * zoom;
      cam.h = sc->height * zoom;
      cam.fx = sc->fx * zoom, cam.fy = sc->fy * zoom, cam.cx = sc->cx * zoom, cam.cy = sc->cy * zoom;
      for (int a = 0; a < 3; ++a) {
        cam.eye[a] = sc->eye[a];
        for (int b = 0; b < 3; ++b) cam.rot[a][b] = sc->viewmat[4 * a + b];
      }
      size_t np = (size_t)cam.w * cam.h;
      unsigned char *mask = (unsigned char *)calloc(np, 1);
      /* silhouette: particles as discs of radius 0.9 spacing */
      double dp = d.particle_spacing, zmean = 0;
      for (int p = 0; p < P.n; ++p) {
        double t[3], q[3];
        for (int k = 0; k < 3; ++k) q[k] = P.x[3 * p + k] - cam.eye[k];
        for (int a = 0; a < 3; ++a) t[a] = cam.rot[a][0] * q[0] + cam.rot[a][1] * q[1] + cam.rot[a][2] * q[2];
        if (t[2] < 0.01) continue;
        zmean += t[2] / P.n;
        double uu = cam.fx * t[0] / t[2] + cam.cx, vv = cam.fy * t[1] / t[2] + cam.cy, rr = 0.9 * dp * cam.fx / t[2];
        for (int i = (int)floor(vv - rr); i <= (int)ceil(vv + rr); ++i)
          for (int j = (int)floor(uu - rr); j <= (int)ceil(uu + rr); ++j)
            if (i >= 0 && j >= 0 && i < cam.h && j < cam.w && (j + 0.5 - uu) * (j + 0.5 - uu) + (i + 0.5 - vv) * (i + 0.5 - vv) < rr * rr)
              mask[i * cam.w + j] = 1;
      }
      int erode = (int)ceil(1.5 * dp * cam.fx / zmean);
      ups_erode(mask, cam.w, cam.h, erode);
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
      fprintf(stderr, "%s, mode %s, camera %s x%d: %d particles -> %lld Gaussians; %lld pixels inside the silhouette "
              "(eroded by %d px), %lld below alpha 0.99, min %.5f\n", path, mode, sc->name, zoom, P.n, (long long)g.count,
              (long long)in, erode, (long long)bad, worst);
      CHECK(in > 500, "%s (%s) camera %s: silhouette too small (%lld pixels)", path, mode, sc->name, (long long)in);
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
  pl_upsample_free(u);
  free(f);
  free(objs);
  for (int o = 0; o < s.nobjects; ++o) pl_mesh_free(&P.meshes[o]);
  free(P.meshes);
  free(P.x);
  free(P.obj);
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
