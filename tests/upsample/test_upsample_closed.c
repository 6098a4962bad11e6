/* test_upsample_closed.c: at the default settings, a sphere of particles renders without holes: the composited
 * opacity 1 - prod(1 - o_i G_i) of its Gaussians, projected with a pinhole camera (EWA, DESIGN.md section 4), is
 * >= 0.99 at every pixel inside its silhouette, in bound mode (particle-set surface), bound mode with the jittered
 * lattice, runtime mode (regular and jittered) and from several viewpoints.
 * This is a CPU-side stand-in for the rasterizer's render; re-run it through raster/ once merged. */
#include <stdio.h>

#include "tests/upsample/ups_test_util.h"

typedef struct {
  const char *name;
  ups_mode mode;
  double jitter;
} closed_case;

static void run_case(const closed_case *cc) {
  const double dp = 1.0 / 64, R = 0.2, c[3] = {0.5, 0.5, 0.5};
  real *x;
  int n = ups_sphere_particles(c, R, dp, cc->jitter, 11, &x);
  real *f = ups_identity_F(n);
  ups_object obj;
  ups_desc d;
  ups_desc_one(&d, &obj, cc->mode, PL_BACKEND_CPU, n, x, dp);
  obj.name = cc->name;
  ups *u = NULL;
  pl_status s = ups_create(&u, &d);
  CHECK(s == PL_OK, "%s: init: %s", cc->name, pl_last_error());
  if (s != PL_OK) {
    free(x);
    free(f);
    return;
  }
  ups_gaussians g;
  s = ups_forward(u, x, f, &g);
  CHECK(s == PL_OK, "%s: forward: %s", cc->name, pl_last_error());
  ups_info info;
  ups_get_info(u, &info);
  const double views[4][3] = {{0.5, 0.55, 1.6}, {1.4, 0.9, 0.8}, {0.2, 1.5, 0.3}, {-0.4, 0.1, -0.2}};
  int64_t total_bad = 0, total_in = 0;
  double dsum = 0, dsum2 = 0;
  double worst = 1;
  for (int v = 0; v < 4; ++v) {
    ups_camera cam;
    const double up[3] = {0, 1, 0};
    ups_look_at(&cam, 160, 160, 40, views[v], c, up);
    double *alpha = (double *)malloc(sizeof(double) * 160 * 160), *depth = (double *)malloc(sizeof(double) * 160 * 160);
    ups_composite_alpha_depth(&cam, g.count, g.means, g.covs, g.opacities, alpha, depth);
    /* inside the silhouette, one particle spacing in from its edge */
    int64_t bad = 0, in = 0;
    for (int i = 0; i < cam.h; ++i)
      for (int j = 0; j < cam.w; ++j) {
        double dir[3], oc[3], t = 0, d2 = 0;
        ups_pixel_ray(&cam, i, j, dir);
        for (int k = 0; k < 3; ++k) oc[k] = c[k] - cam.eye[k], t += oc[k] * dir[k];
        for (int k = 0; k < 3; ++k) d2 += (oc[k] - t * dir[k]) * (oc[k] - t * dir[k]);
        if (sqrt(d2) > R - dp) continue;
        ++in;
        double a = alpha[i * cam.w + j];
        if (a < worst) worst = a;
        if (!(a >= 0.99)) ++bad;
        /* the rendered (expected) depth against the sphere's: along the ray, z = t_hit (dir . forward) */
        double th = t - sqrt(fmax(0.0, R * R - d2)), fw = 0;
        for (int k = 0; k < 3; ++k) fw += dir[k] * cam.rot[2][k];
        double e = (depth[i * cam.w + j] - th * fw) / dp;
        dsum += e;
        dsum2 += e * e;
      }
    total_bad += bad;
    total_in += in;
    free(alpha);
    free(depth);
  }
  int64_t vis = 0;
  for (int64_t i = 0; i < g.count; ++i) vis += g.opacities[i] > 0.5;
  double dmean = dsum / total_in, drms = sqrt(dsum2 / total_in);
  fprintf(stderr, "%-20s %6d particles -> %7lld Gaussians, %7lld with opacity > 0.5 (x%.1f per surface particle); "
          "rendered depth - sphere depth: mean %+.2f, rms %.2f spacings; %lld pixels inside the silhouettes, %lld "
          "below alpha 0.99, min alpha %.5f\n", cc->name, n, (long long)g.count, (long long)vis,
          (double)vis / (4 * 3.14159265 * R * R / (dp * dp)), dmean, drms, (long long)total_in, (long long)total_bad,
          worst);
  CHECK(drms < 0.5, "%s: the rendered surface is %.2f spacings (rms) off the sphere", cc->name, drms);
  CHECK(total_in > 15000, "%s: silhouette too small (%lld pixels)", cc->name, (long long)total_in);
  CHECK(total_bad == 0, "%s: %lld of %lld pixels inside the silhouette have alpha < 0.99 (min %.4f)", cc->name,
        (long long)total_bad, (long long)total_in, worst);
  ups_destroy(u);
  free(x);
  free(f);
}

int main(void) {
  const closed_case cases[] = {
      {"bound, lattice", UPS_BOUND, 0.0},
      {"bound, jittered", UPS_BOUND, 1.0},
      {"runtime, lattice", UPS_RUNTIME, 0.0},
      {"runtime, jittered", UPS_RUNTIME, 1.0},
      {"particles, lattice", UPS_PARTICLES, 0.0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) run_case(&cases[i]);
  return test_summary("test_upsample_closed");
}
