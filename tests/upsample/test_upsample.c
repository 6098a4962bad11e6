#define _POSIX_C_SOURCE 200809L
/* test_upsample.c (float, the build the pipeline uses):
 *  - determinism: forward and backward are bitwise identical run to run and for 1, 2 and 3 threads;
 *  - bad input gives a clear error naming the particle / object / file / parameter, never a crash;
 *  - 3DGS export through raster_ply_write/read: the quaternion and scales reproduce each covariance;
 *  - spot.obj with spot_texture.png in bound mode: every Gaussian's colour is the texture at its surface point
 *    (and not the texture flipped), and the rendered cow has no holes (alpha >= 0.99 inside its silhouette). */
#include <stdio.h>
#include <unistd.h>

#include "core/fileio.h"
#include "raster/ply.h"
#include "tests/upsample/ups_test_util.h"
#include "upsample/upsample_kernels.h"

#ifdef PL_REAL_DOUBLE
#error "test_upsample uses the float library"
#endif

/* ---------------------------------------------------------------- determinism */

static void run_once(int threads, const real *x0, const int *obj, int n, const real *x, const real *f, real **res,
                     size_t *len) {
  ups_object objs[2];
  memset(objs, 0, sizeof objs);
  objs[0].mode = UPS_BOUND;
  objs[1].mode = UPS_RUNTIME;
  ups_desc d;
  memset(&d, 0, sizeof d);
  d.backend = PL_BACKEND_CPU;
  d.threads = threads;
  d.nparticles = n;
  d.rest_positions = x0;
  d.object_index = obj;
  d.nobjects = 2;
  d.objects = objs;
  d.particle_spacing = 0.02;
  d.learn_colors = d.learn_opacities = 1;
  ups *u;
  pl_status s = ups_create(&u, &d);
  CHECK(s == PL_OK, "init: %s", pl_last_error());
  if (s != PL_OK) return;
  ups_info info;
  ups_get_info(u, &info);
  size_t m = (size_t)info.count;
  *len = 13 * m + 12 * (size_t)n + 3 + 4 * m;
  real *r = (real *)calloc(*len, sizeof(real));
  CHECK(ups_forward(u, x, f, NULL) == PL_OK, "forward: %s", pl_last_error());
  ups_download(u, r, r + 3 * m, r + 9 * m, r + 12 * m);
  real *vy = (real *)malloc(sizeof(real) * 13 * m);
  for (size_t i = 0; i < 13 * m; ++i) vy[i] = (real)sin(0.37 * (double)i);
  real *vx = r + 13 * m;
  CHECK(ups_backward(u, x, f, vy, vy + 3 * m, vy + 9 * m, vy + 12 * m, vx, vx + 3 * n) == PL_OK, "backward: %s",
        pl_last_error());
  ups_grads g;
  ups_get_grads(u, &g);
  real *p = vx + 12 * n;
  p[0] = (real)g.sigma0, p[1] = (real)g.thickness, p[2] = (real)g.opacity;
  memcpy(p + 3, g.colors, sizeof(real) * 3 * m);
  memcpy(p + 3 + 3 * m, g.opacity_offsets, sizeof(real) * m);
  free(vy);
  ups_destroy(u);
  *res = r;
}

static void test_determinism(void) {
  const double c[3] = {0.5, 0.5, 0.5};
  real *x0;
  int n = ups_sphere_particles(c, 0.24, 0.02, 1.0, 2, &x0); /* large enough for every loop to run in parallel */
  int *obj = (int *)malloc(sizeof(int) * (size_t)n);
  real *x = (real *)malloc(sizeof(real) * 3 * (size_t)n), *f = ups_identity_F(n);
  for (int p = 0; p < n; ++p) {
    obj[p] = x0[3 * p + 2] > 0.5f;
    for (int k = 0; k < 3; ++k) x[3 * p + k] = x0[3 * p + k] + (real)(0.004 * sin(p * 1.7 + k));
    f[9 * p + 1] = (real)(0.1 * cos(p * 0.3));
  }
  real *ref = NULL, *other = NULL;
  size_t len = 0, len2 = 0;
  run_once(1, x0, obj, n, x, f, &ref, &len);
  const int threads[3] = {1, 2, 3};
  for (int t = 0; t < 3 && ref; ++t) {
    run_once(threads[t], x0, obj, n, x, f, &other, &len2);
    CHECK(other && len2 == len && memcmp(ref, other, sizeof(real) * len) == 0,
          "results with %d thread(s) differ from the first run with 1 thread", threads[t]);
    free(other);
    other = NULL;
  }
  fprintf(stderr, "determinism: %zu numbers bitwise identical for 1, 2 and 3 threads\n", len);
  free(ref);
  free(x0);
  free(obj);
  free(x);
  free(f);
}

/* ---------------------------------------------------------------- errors */

static void expect_fail(pl_status got, pl_status want, const char *needle, const char *what) {
  CHECK(got == want, "%s: status %d (%s), wanted %d; message: %s", what, (int)got, pl_status_name(got), (int)want,
        pl_last_error());
  CHECK(strstr(pl_last_error(), needle) != NULL, "%s: message '%s' does not mention '%s'", what, pl_last_error(), needle);
}

static void test_errors(void) {
  const double c[3] = {0.5, 0.5, 0.5};
  real *x0;
  int n = ups_sphere_particles(c, 0.08, 0.02, 0.0, 1, &x0);
  real *f = ups_identity_F(n);
  ups_object ob;
  memset(&ob, 0, sizeof ob);
  ob.name = "jelly";
  ups_desc d;
  ups *u = NULL;
#define RESET()                      \
  memset(&d, 0, sizeof d);           \
  d.backend = PL_BACKEND_CPU;        \
  d.nparticles = n;                  \
  d.rest_positions = x0;             \
  d.nobjects = 1;                    \
  d.objects = &ob;                   \
  d.particle_spacing = 0.02;         \
  memset(&ob, 0, sizeof ob);         \
  ob.name = "jelly";
  RESET();
  d.opacity = 1.5;
  expect_fail(ups_create(&u, &d), PL_ERR_INVALID, "opacity", "opacity out of range");
  CHECK(u == NULL, "a failed init left an upsampler");
  RESET();
  d.sigma0 = -1;
  expect_fail(ups_create(&u, &d), PL_ERR_INVALID, "sigma0", "negative sigma0");
  RESET();
  d.thickness = NAN;
  expect_fail(ups_create(&u, &d), PL_ERR_INVALID, "thickness", "NaN thickness");
  RESET();
  d.children = 1000;
  expect_fail(ups_create(&u, &d), PL_ERR_INVALID, "children", "too many children");
  RESET();
  d.nparticles = 0;
  expect_fail(ups_create(&u, &d), PL_ERR_INVALID, "no particles", "no particles");
  RESET();
  int *obj = (int *)calloc((size_t)n, sizeof(int));
  obj[7] = 3;
  d.object_index = obj;
  expect_fail(ups_create(&u, &d), PL_ERR_INVALID, "particle 7", "object index out of range");
  obj[7] = 0;
  RESET();
  ups_object two[2];
  memset(two, 0, sizeof two);
  two[1].name = "ghost";
  d.nobjects = 2;
  d.objects = two;
  expect_fail(ups_create(&u, &d), PL_ERR_INVALID, "'ghost'", "object without particles");
  RESET();
  real keep = x0[3 * 5 + 1];
  x0[3 * 5 + 1] = (real)INFINITY;
  expect_fail(ups_create(&u, &d), PL_ERR_NUMERIC, "particle 5", "non-finite rest position");
  x0[3 * 5 + 1] = keep;
  RESET();
  ob.mesh_path = "scenes/assets/no-such-mesh.obj";
  expect_fail(ups_create(&u, &d), PL_ERR_IO, "no-such-mesh.obj", "missing mesh file");
  RESET();
  ob.mesh_path = "scenes/assets/cow.obj";
  ob.texture_path = "scenes/assets/spot_texture.png";
  expect_fail(ups_create(&u, &d), PL_ERR_INVALID, "texture coordinates", "texture on a mesh without uvs");
  RESET();
  ob.texture_path = "scenes/assets/spot_texture.png";
  expect_fail(ups_create(&u, &d), PL_ERR_INVALID, "without a mesh", "texture without a mesh");
  RESET();
  ob.mesh_path = "scenes/assets/spot.obj";
  ob.texture_path = "scenes/assets/no-such-texture.png";
  for (int k = 0; k < 3; ++k) ob.center[k] = 0.5, ob.scale[k] = 0.1;
  expect_fail(ups_create(&u, &d), PL_ERR_IO, "no-such-texture.png", "missing texture");
  RESET();
  ob.mesh_path = "scenes/assets/spot.obj"; /* placed far away from its particles */
  for (int k = 0; k < 3; ++k) ob.center[k] = 5, ob.scale[k] = 0.1;
  expect_fail(ups_create(&u, &d), PL_ERR_INVALID, "no particle of its object", "mesh away from its particles");
  RESET();
  ob.color[0] = 2;
  expect_fail(ups_create(&u, &d), PL_ERR_INVALID, "colour", "colour out of range");
  RESET();
  d.particle_spacing = 0;
  d.nparticles = 1;
  expect_fail(ups_create(&u, &d), PL_ERR_INVALID, "particle_spacing", "spacing of one particle");
  RESET();
  d.nparticles = 1; /* a single particle encloses no volume at level 0.5 */
  expect_fail(ups_create(&u, &d), PL_ERR_INVALID, "no surface samples", "single-particle bound object");
  /* per-frame errors */
  RESET();
  ob.mode = UPS_RUNTIME;
  pl_status s = ups_create(&u, &d);
  CHECK(s == PL_OK, "runtime init: %s", pl_last_error());
  if (s == PL_OK) {
    real *x = (real *)malloc(sizeof(real) * 3 * (size_t)n);
    memcpy(x, x0, sizeof(real) * 3 * (size_t)n);
    x[3 * 11] = (real)NAN;
    expect_fail(ups_forward(u, x, f, NULL), PL_ERR_NUMERIC, "particle 11", "NaN position");
    expect_fail(ups_backward(u, x, f, NULL, NULL, NULL, NULL, NULL, NULL), PL_ERR_NUMERIC, "particle 11",
                "NaN position (backward)");
    x[3 * 11] = x0[3 * 11];
    x[3 * 12 + 2] = (real)1e30;
    expect_fail(ups_forward(u, x, f, NULL), PL_ERR_NUMERIC, "particle 12", "particle far away");
    x[3 * 12 + 2] = x0[3 * 12 + 2];
    f[9 * 3 + 4] = (real)INFINITY;
    expect_fail(ups_forward(u, x, f, NULL), PL_ERR_NUMERIC, "particle 3", "infinite F");
    f[9 * 3 + 4] = 1;
    CHECK(ups_forward(u, x, f, NULL) == PL_OK, "forward after errors: %s", pl_last_error());
    ups_params p = {1, 0.2, 1.0};
    expect_fail(ups_set_params(u, &p), PL_ERR_INVALID, "opacity", "set_params opacity 1");
    p.opacity = 0.5;
    p.sigma0 = 0;
    expect_fail(ups_set_params(u, &p), PL_ERR_INVALID, "sigma0", "set_params sigma0 0");
    expect_fail(ups_forward(u, NULL, f, NULL), PL_ERR_INVALID, "NULL", "NULL positions");
    free(x);
    ups_destroy(u);
  }
  ups_destroy(NULL);
  if (pl_cuda_compiled() && pl_cuda_device_count(NULL, 0) == 0) {
    RESET();
    d.backend = PL_BACKEND_CUDA;
    expect_fail(ups_create(&u, &d), PL_ERR_NO_DEVICE, "no CUDA device", "cuda without a device");
  }
#undef RESET
  free(obj);
  free(x0);
  free(f);
}

/* ---------------------------------------------------------------- 3DGS export */

/* The upsampler's Gaussians (covariances) through the 3DGS PLY writer and reader: the quaternion and scales
 * written must reproduce each covariance, also with repeated eigenvalues. */
static void test_export(void) {
  const int m = 5;
  real means[15], covs[30], colors[15], opac[5] = {0.5f, 0.3f, 0.999999f, 0.2f, 0.9f};
  for (int g = 0; g < m; ++g) {
    m3 rg = ups_rotation(1 + g, -0.5 * g, 0.3, 0.4 + 0.7 * g);
    v3 sd = v3_make((real)(0.01 * (g + 1)), (real)(0.004 + 0.001 * g), (real)(0.0007 * (g + 1)));
    if (g == 3) sd = v3_make(0.005f, 0.005f, 0.001f); /* repeated eigenvalues */
    m3 cv = m3_mul_bt(m3_mul(rg, m3_diag(v3_mul(sd, sd))), rg);
    ups_sym6_store(cv, covs + 6 * g);
    for (int k = 0; k < 3; ++k) means[3 * g + k] = (real)(0.1 * g + k), colors[3 * g + k] = (real)(0.2 * k + 0.1 * g);
  }
  raster_gaussians rg = {0};
  rg.n = m;
  rg.means = means;
  rg.covs = covs;
  rg.colors = colors;
  rg.opacities = opac;
  char path[] = "/tmp/pl_ups_export_XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0, "tmp");
  close(fd);
  CHECK(raster_ply_write(path, &rg, NULL) == PL_OK, "write: %s", pl_last_error());
  raster_ply p;
  CHECK(raster_ply_read(path, &p) == PL_OK && p.n == m, "read back: %s", pl_last_error());
  double worst = 0;
  for (int g = 0; g < m && p.n == m; ++g) {
    double w = p.quats[4 * g], x = p.quats[4 * g + 1], y = p.quats[4 * g + 2], z = p.quats[4 * g + 3];
    double r[3][3] = {{1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)},
                      {2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)},
                      {2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)}};
    double scale = 0;
    for (int k = 0; k < 6; ++k) scale = fmax(scale, fabs(covs[6 * g + k]));
    const int ij[6][2] = {{0, 0}, {0, 1}, {0, 2}, {1, 1}, {1, 2}, {2, 2}};
    for (int k = 0; k < 6; ++k) {
      double v = 0;
      for (int l = 0; l < 3; ++l) v += r[ij[k][0]][l] * (double)p.scales[3 * g + l] * p.scales[3 * g + l] * r[ij[k][1]][l];
      worst = fmax(worst, fabs(v - covs[6 * g + k]) / scale);
    }
    CHECK(fabs(p.opacities[g] - opac[g]) < 1e-5, "opacity round trip");
    for (int k = 0; k < 3; ++k) CHECK(p.means[3 * g + k] == means[3 * g + k], "position round trip");
  }
  fprintf(stderr, "export: covariance from the written quaternion and scales, worst relative error %.2e\n", worst);
  CHECK(worst < 1e-5, "export: quaternion/scales reproduce the covariance only to %g", worst);
  raster_ply_free(&p);
  unlink(path);
}

/* ---------------------------------------------------------------- textured mesh */

static void tex_nearest(const float *px, int w, int h, double u, double v, double out[3]) {
  int x = (int)floor((u - floor(u)) * w), y = (int)floor((1 - (v - floor(v))) * h);
  if (x >= w) x = w - 1;
  if (y >= h) y = h - 1;
  for (int k = 0; k < 3; ++k) out[k] = px[3 * ((size_t)y * w + x) + k];
}

static void test_texture_and_closure(void) {
  pl_mesh spot;
  pl_status s = pl_mesh_load_obj(&spot, "scenes/assets/spot.obj");
  CHECK(s == PL_OK, "spot.obj: %s", pl_last_error());
  if (s != PL_OK) return;
  const double center[3] = {0.5, 0.45, 0.5}, scale[3] = {0.3, 0.3, 0.3}, rot[3] = {0, 30, 0}, dp = 1.0 / 64;
  double *pv = ups_place_mesh(&spot, center, scale, rot);
  real *x0;
  int n = ups_mesh_particles(&spot, pv, dp, 1.0, 3, &x0);
  ups_object ob;
  ups_desc d;
  ups_desc_one(&d, &ob, UPS_BOUND, PL_BACKEND_CPU, n, x0, dp);
  ob.name = "spot";
  ob.mesh = &spot;
  ob.texture_path = "scenes/assets/spot_texture.png";
  for (int k = 0; k < 3; ++k) ob.center[k] = center[k], ob.scale[k] = scale[k], ob.rotation_deg[k] = rot[k];
  ups *u;
  s = ups_create(&u, &d);
  CHECK(s == PL_OK, "spot init: %s", pl_last_error());
  if (s != PL_OK) {
    free(pv);
    free(x0);
    pl_mesh_free(&spot);
    return;
  }
  real *f = ups_identity_F(n);
  ups_gaussians g;
  CHECK(ups_forward(u, x0, f, &g) == PL_OK, "spot forward: %s", pl_last_error());
  fprintf(stderr, "spot: %d particles -> %lld Gaussians\n", n, (long long)g.count);
  /* colours: find each sample's triangle and barycentrics, look the texture up (nearest texel) */
  int tw, th;
  float *tex;
  CHECK(pl_png_read_float("scenes/assets/spot_texture.png", 3, &tw, &th, &tex, NULL) == PL_OK, "texture: %s", pl_last_error());
  double dsum = 0, dflip = 0;
  int checked = 0;
  for (int64_t i = 0; i < g.count && checked < 300; i += g.count / 300 + 1) {
    double p[3] = {g.means[3 * i], g.means[3 * i + 1], g.means[3 * i + 2]}, best = 1e30, bu = 0, bv = 0;
    for (int t = 0; t < spot.nfaces; ++t) {
      const double *a = pv + 3 * spot.faces[3 * t], *b = pv + 3 * spot.faces[3 * t + 1], *c = pv + 3 * spot.faces[3 * t + 2];
      double e1[3], e2[3], ep[3], nn[3];
      for (int k = 0; k < 3; ++k) e1[k] = b[k] - a[k], e2[k] = c[k] - a[k], ep[k] = p[k] - a[k];
      nn[0] = e1[1] * e2[2] - e1[2] * e2[1], nn[1] = e1[2] * e2[0] - e1[0] * e2[2], nn[2] = e1[0] * e2[1] - e1[1] * e2[0];
      double nl2 = nn[0] * nn[0] + nn[1] * nn[1] + nn[2] * nn[2];
      if (nl2 == 0) continue;
      double dist = fabs(ep[0] * nn[0] + ep[1] * nn[1] + ep[2] * nn[2]) / sqrt(nl2);
      if (dist > 1e-5 || dist >= best) continue;
      /* barycentrics by projection */
      double d00 = e1[0] * e1[0] + e1[1] * e1[1] + e1[2] * e1[2], d01 = e1[0] * e2[0] + e1[1] * e2[1] + e1[2] * e2[2];
      double d11 = e2[0] * e2[0] + e2[1] * e2[1] + e2[2] * e2[2];
      double d20 = ep[0] * e1[0] + ep[1] * e1[1] + ep[2] * e1[2], d21 = ep[0] * e2[0] + ep[1] * e2[1] + ep[2] * e2[2];
      double den = d00 * d11 - d01 * d01, v = (d11 * d20 - d01 * d21) / den, w = (d00 * d21 - d01 * d20) / den;
      if (v < -1e-4 || w < -1e-4 || v + w > 1 + 1e-4) continue;
      best = dist;
      const int *fu = spot.face_uvs + 3 * t;
      bu = (1 - v - w) * spot.uvs[2 * fu[0]] + v * spot.uvs[2 * fu[1]] + w * spot.uvs[2 * fu[2]];
      bv = (1 - v - w) * spot.uvs[2 * fu[0] + 1] + v * spot.uvs[2 * fu[1] + 1] + w * spot.uvs[2 * fu[2] + 1];
    }
    if (best > 1e-5) continue;
    double want[3], flip[3];
    tex_nearest(tex, tw, th, bu, bv, want);
    tex_nearest(tex, tw, th, bu, 1 - bv, flip);
    for (int k = 0; k < 3; ++k) {
      dsum += fabs(g.colors[3 * i + k] - want[k]) / 3;
      dflip += fabs(g.colors[3 * i + k] - flip[k]) / 3;
    }
    ++checked;
  }
  dsum /= checked;
  dflip /= checked;
  fprintf(stderr, "spot: colour vs texture at %d samples: mean |difference| %.4f (flipped texture: %.4f)\n", checked,
          dsum, dflip);
  CHECK(checked >= 250, "only %d samples found on the mesh", checked);
  CHECK(dsum < 0.02, "Gaussian colours do not follow the texture (mean difference %.3f)", dsum);
  CHECK(dflip > 5 * dsum, "the texture test cannot tell the texture from its flip (%.3f vs %.3f)", dsum, dflip);
  free(tex);
  /* no holes: composited alpha >= 0.99 inside the mesh's silhouette (eroded by 1 pixel) from four views */
  const double views[4][3] = {{0.5, 0.6, 1.6}, {1.5, 0.8, 0.7}, {-0.4, 0.3, 0.1}, {0.45, 1.5, 0.45}};
  int64_t bad = 0, in = 0;
  double worst = 1;
  for (int v = 0; v < 4; ++v) {
    ups_camera cam;
    const double up[3] = {v == 3 ? 1 : 0, v == 3 ? 0 : 1, 0};
    ups_look_at(&cam, 160, 160, 40, views[v], center, up);
    unsigned char *mask = (unsigned char *)malloc(160 * 160);
    double *alpha = (double *)malloc(sizeof(double) * 160 * 160);
    ups_mesh_silhouette(&cam, &spot, pv, mask);
    ups_erode(mask, 160, 160, 1);
    ups_composite_alpha(&cam, g.count, g.means, g.covs, g.opacities, alpha);
    for (int i = 0; i < 160 * 160; ++i)
      if (mask[i]) {
        ++in;
        worst = fmin(worst, alpha[i]);
        bad += !(alpha[i] >= 0.99);
      }
    free(mask);
    free(alpha);
  }
  fprintf(stderr, "spot: %lld pixels inside the silhouettes, %lld below alpha 0.99, min alpha %.5f\n", (long long)in,
          (long long)bad, worst);
  CHECK(in > 10000 && bad == 0, "spot has holes: %lld of %lld pixels below 0.99 (min %.4f)", (long long)bad,
        (long long)in, worst);
  ups_destroy(u);
  /* the runtime mode colours particles from the texture too (nearest surface sample) */
  ob.mode = UPS_RUNTIME;
  s = ups_create(&u, &d);
  CHECK(s == PL_OK, "spot runtime init: %s", pl_last_error());
  if (s == PL_OK) {
    CHECK(ups_forward(u, x0, f, &g) == PL_OK, "spot runtime forward: %s", pl_last_error());
    double mean[3] = {0, 0, 0}, var = 0;
    int64_t vis = 0;
    for (int64_t i = 0; i < g.count; ++i)
      if (g.opacities[i] > 0.5) {
        for (int k = 0; k < 3; ++k) mean[k] += g.colors[3 * i + k];
        ++vis;
      }
    for (int k = 0; k < 3; ++k) mean[k] /= vis;
    for (int64_t i = 0; i < g.count; ++i)
      if (g.opacities[i] > 0.5)
        for (int k = 0; k < 3; ++k) var += (g.colors[3 * i + k] - mean[k]) * (g.colors[3 * i + k] - mean[k]) / vis;
    fprintf(stderr, "spot, runtime mode: %lld visible Gaussians, colour spread (std) %.3f\n", (long long)vis, sqrt(var));
    CHECK(vis > 1000 && sqrt(var) > 0.05, "runtime children do not carry the texture (colour std %.3f)", sqrt(var));
    ups_destroy(u);
  }
  free(f);
  free(pv);
  free(x0);
  pl_mesh_free(&spot);
}

int main(void) {
  test_determinism();
  test_errors();
  test_export();
  test_texture_and_closure();
  return test_summary("test_upsample");
}
