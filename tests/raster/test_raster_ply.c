/* test_raster_ply.c: 3DGS PLY files.
 *   - round trips: covariances (eigendecomposition), scales + quaternions, RGB, SH degree 2 (standard and
 *     compact layouts); renders of the read-back scene equal renders of the original
 *   - a file written by hand in the exact layout of the 3DGS training code is read field by field
 *   - variants: ascii, big-endian, double properties, extra properties and elements
 *   - errors: missing file, not a PLY, missing property, bad f_rest count, truncated data, non-finite value
 * With `--fixtures DIR` it writes DIR/ours.ply (our writer) and DIR/standard.ply (hand-written 3DGS layout)
 * for the CLI test and exits. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <unistd.h>

#include "core/fileio.h"
#include "raster/ply.h"
#include "raster/raster_kernels.h"
#include "tests/raster/raster_test_util.h"

static char g_dir[512];

static void path_in(char *buf, size_t size, const char *name) { snprintf(buf, size, "%s/%s", g_dir, name); }

static void put_f32(FILE *f, float v) { fwrite(&v, 4, 1, f); } /* the test machines are little-endian */

/* The exact layout of 3DGS's save_ply: binary_little_endian 1.0, float x y z nx ny nz f_dc_0..2
 * f_rest_0..44 opacity scale_0..2 rot_0..3. Gaussian i: mean (i, 2i, -1), f_dc (0.1, 0.2, 0.3) + i,
 * f_rest_j = 0.01 j, opacity logit 0 (-> 0.5), log scales (-1, -2, -3), rot (2, 0, 0, 0) (-> identity). */
static void write_standard(const char *path, int n) {
  FILE *f = fopen(path, "wb");
  fprintf(f, "ply\nformat binary_little_endian 1.0\nelement vertex %d\n", n);
  const char *head[] = {"x", "y", "z", "nx", "ny", "nz"};
  for (int k = 0; k < 6; ++k) fprintf(f, "property float %s\n", head[k]);
  for (int k = 0; k < 3; ++k) fprintf(f, "property float f_dc_%d\n", k);
  for (int k = 0; k < 45; ++k) fprintf(f, "property float f_rest_%d\n", k);
  fprintf(f, "property float opacity\n");
  for (int k = 0; k < 3; ++k) fprintf(f, "property float scale_%d\n", k);
  for (int k = 0; k < 4; ++k) fprintf(f, "property float rot_%d\n", k);
  fprintf(f, "end_header\n");
  for (int i = 0; i < n; ++i) {
    put_f32(f, (float)(0.1 * i)), put_f32(f, (float)(0.05 * i)), put_f32(f, 0.2f);
    put_f32(f, 0), put_f32(f, 0), put_f32(f, 0);
    put_f32(f, 0.1f + (float)i * 0.01f), put_f32(f, 0.2f), put_f32(f, 0.3f);
    for (int k = 0; k < 45; ++k) put_f32(f, 0.01f * (float)k);
    put_f32(f, 0.0f);
    put_f32(f, -1.0f), put_f32(f, -2.0f), put_f32(f, -3.0f);
    put_f32(f, 2.0f), put_f32(f, 0), put_f32(f, 0), put_f32(f, 0);
  }
  fclose(f);
}

static void test_standard_layout(void) {
  char p[600];
  path_in(p, sizeof p, "standard.ply");
  write_standard(p, 5);
  raster_ply ply;
  pl_status st = raster_ply_read(p, &ply);
  CHECK(st == PL_OK, "read standard layout: %s", pl_last_error());
  if (st != PL_OK) return;
  CHECK(ply.n == 5 && ply.sh_degree == 3, "n %lld degree %d", (long long)ply.n, ply.sh_degree);
  double e = 0;
  for (int i = 0; i < 5; ++i) {
    e = fmax(e, fabs(ply.means[3 * i] - 0.1 * i) + fabs(ply.means[3 * i + 1] - 0.05 * i) + fabs(ply.means[3 * i + 2] - 0.2));
    e = fmax(e, fabs(ply.opacities[i] - 0.5));
    e = fmax(e, fabs(ply.scales[3 * i] - exp(-1.0)) + fabs(ply.scales[3 * i + 1] - exp(-2.0)) +
                    fabs(ply.scales[3 * i + 2] - exp(-3.0)));
    e = fmax(e, fabs(ply.quats[4 * i] - 1) + fabs(ply.quats[4 * i + 1]) + fabs(ply.quats[4 * i + 2]) + fabs(ply.quats[4 * i + 3]));
    const real *sh = ply.sh + 48 * i;
    e = fmax(e, fabs(sh[0] - (0.1 + 0.01 * i)) + fabs(sh[1] - 0.2) + fabs(sh[2] - 0.3));
    for (int ch = 0; ch < 3; ++ch)
      for (int k = 1; k < 16; ++k) e = fmax(e, fabs(sh[3 * k + ch] - 0.01 * (ch * 15 + k - 1)));
  }
  CHECK(e < 1e-6, "standard layout: fields differ by %g", e);
  /* and it renders */
  raster_ctx *ctx;
  raster_desc d;
  memset(&d, 0, sizeof d);
  d.backend = PL_BACKEND_CPU;
  raster_create(&ctx, &d);
  raster_gaussians g = raster_ply_gaussians(&ply);
  raster_camera cam = test_camera(32, 32, 60, 3, 0, 0);
  real rgb[32 * 32 * 3], al[32 * 32];
  raster_images out = {rgb, al, NULL, NULL};
  CHECK(raster_forward(ctx, &g, &cam, 1, NULL, &out) == PL_OK, "render standard file: %s", pl_last_error());
  raster_destroy(ctx);
  raster_ply_free(&ply);
}

static double render_diff(const raster_gaussians *a, const raster_gaussians *b) {
  raster_ctx *ctx;
  raster_desc d;
  memset(&d, 0, sizeof d);
  d.backend = PL_BACKEND_CPU;
  raster_create(&ctx, &d);
  raster_camera cam = test_camera(48, 40, 50, 4, 0.5, 0.2);
  static real r1[48 * 40 * 3], r2[48 * 40 * 3];
  raster_images o1 = {r1, NULL, NULL, NULL}, o2 = {r2, NULL, NULL, NULL};
  CHECK(raster_forward(ctx, a, &cam, 1, NULL, &o1) == PL_OK, "render a: %s", pl_last_error());
  CHECK(raster_forward(ctx, b, &cam, 1, NULL, &o2) == PL_OK, "render b: %s", pl_last_error());
  raster_destroy(ctx);
  return test_max_abs_diff(r1, r2, 48 * 40 * 3);
}

static void test_round_trips(void) {
  char p[600];
  path_in(p, sizeof p, "rt.ply");
  for (int mode = 0; mode < 4; ++mode) {
    /* 0: covs + RGB standard; 1: covs + SH2 compact; 2: scales/quats + SH2 standard; 3: scales/quats + RGB compact */
    test_scene s;
    test_scene_random(&s, 40, mode < 2, mode == 1 || mode == 2, 2, 1.0, 0.02, 0.3, 0.05, 0.95);
    raster_gaussians g = test_scene_view(&s);
    raster_ply_write_options o;
    o.compact = mode % 2;
    CHECK(raster_ply_write(p, &g, &o) == PL_OK, "write mode %d: %s", mode, pl_last_error());
    raster_ply ply;
    CHECK(raster_ply_read(p, &ply) == PL_OK, "read mode %d: %s", mode, pl_last_error());
    int want_deg = o.compact ? (s.use_sh ? 2 : 0) : 3;
    CHECK(ply.n == 40 && ply.sh_degree == want_deg, "mode %d: n %lld degree %d (want %d)", mode, (long long)ply.n,
          ply.sh_degree, want_deg);
    double ecov = 0, eop = 0, ecol = 0, emean = 0;
    for (int64_t i = 0; i < s.n && ply.n == 40; ++i) {
      /* covariance from the file's scale + rotation vs the input */
      double w = ply.quats[4 * i], x = ply.quats[4 * i + 1], y = ply.quats[4 * i + 2], z = ply.quats[4 * i + 3];
      double R[3][3] = {{1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)},
                        {2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)},
                        {2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)}};
      double C[3][3];
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) {
          C[a][b] = 0;
          for (int k = 0; k < 3; ++k) C[a][b] += R[a][k] * R[b][k] * ply.scales[3 * i + k] * ply.scales[3 * i + k];
        }
      double want[6];
      if (s.use_covs) {
        for (int k = 0; k < 6; ++k) want[k] = s.covs[6 * i + k];
      } else { /* the covariance of the input scales/quats, as the renderer builds it */
        m3 c = raster_quat_scale_to_cov(s.quats + 4 * i, s.scales + 3 * i);
        want[0] = c.m[0][0], want[1] = c.m[0][1], want[2] = c.m[0][2], want[3] = c.m[1][1], want[4] = c.m[1][2];
        want[5] = c.m[2][2];
      }
      double got[6] = {C[0][0], C[0][1], C[0][2], C[1][1], C[1][2], C[2][2]};
      double scale = fmax(fmax(want[0], want[3]), want[5]);
      for (int k = 0; k < 6; ++k) ecov = fmax(ecov, fabs(got[k] - want[k]) / scale);
      eop = fmax(eop, fabs(ply.opacities[i] - s.opacities[i]));
      for (int k = 0; k < 3; ++k) emean = fmax(emean, fabs(ply.means[3 * i + k] - s.means[3 * i + k]));
      int Kf = (ply.sh_degree + 1) * (ply.sh_degree + 1);
      for (int ch = 0; ch < 3; ++ch) {
        if (s.use_sh) {
          for (int k = 0; k < Kf; ++k) {
            double want_c = k < 9 ? s.sh[27 * i + 3 * k + ch] : 0.0;
            ecol = fmax(ecol, fabs(ply.sh[3 * Kf * i + 3 * k + ch] - want_c));
          }
        } else {
          ecol = fmax(ecol, fabs(0.28209479177387814 * ply.sh[3 * Kf * i + ch] + 0.5 - s.colors[3 * i + ch]));
        }
      }
    }
    CHECK(ecov < 1e-5, "mode %d: covariance round trip error %g", mode, ecov);
    CHECK(eop < 1e-6 && emean < 1e-6 && ecol < 1e-6, "mode %d: opacity %g mean %g colour %g", mode, eop, emean, ecol);
    /* the read-back scene renders like the original */
    raster_gaussians gb = raster_ply_gaussians(&ply);
    double dr = render_diff(&g, &gb);
    CHECK(dr < 1e-4, "mode %d: render of the read-back scene differs by %g", mode, dr);
    raster_ply_free(&ply);
    test_scene_free(&s);
  }
  /* the eigendecomposition on degenerate covariances: zero, rank one, isotropic */
  const double covs[3][6] = {{0, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1}, {2, 0, 0, 2, 0, 2}};
  for (int k = 0; k < 3; ++k) {
    double sc[3], q[4];
    raster_cov_to_scale_quat(covs[k], sc, q);
    double qn = q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3];
    CHECK(isfinite(sc[0] + sc[1] + sc[2]) && fabs(qn - 1) < 1e-12 && sc[2] >= 1e-12, "degenerate covariance %d", k);
  }
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  fputs(text, f);
  fclose(f);
}

static const char *k_ascii =
    "ply\nformat ascii 1.0\ncomment ascii variant with extra element and property\nelement camera 1\nproperty float "
    "fov\nelement vertex 2\nproperty double x\nproperty double y\nproperty double z\nproperty float f_dc_0\nproperty "
    "float f_dc_1\nproperty float f_dc_2\nproperty uchar red\nproperty float opacity\nproperty float scale_0\n"
    "property float scale_1\nproperty float scale_2\nproperty float rot_0\nproperty float rot_1\nproperty float "
    "rot_2\nproperty float rot_3\nend_header\n55\n1 2 3 0.5 0.5 0.5 200 2.0 -1 -1 -1 0 1 0 0\n-1 0 1 0 0 0 7 -2.0 "
    "0 0 0 1 0 0 0\n";

static void test_variants_and_errors(void) {
  char p[600], msg[2048];
  raster_ply ply;
  /* ascii with an extra element before the vertices and an extra property */
  path_in(p, sizeof p, "ascii.ply");
  write_text(p, k_ascii);
  CHECK(raster_ply_read(p, &ply) == PL_OK, "ascii: %s", pl_last_error());
  CHECK(ply.n == 2 && ply.sh_degree == 0 && ply.means[2] == 3 && fabs(ply.quats[1] - 1) < 1e-12 &&
            fabs(ply.opacities[0] - 1 / (1 + exp(-2.0))) < 1e-6,
        "ascii values");
  raster_ply_free(&ply);
  /* big-endian binary, double properties, degree 1 */
  path_in(p, sizeof p, "be.ply");
  {
    FILE *f = fopen(p, "wb");
    fprintf(f, "ply\nformat binary_big_endian 1.0\nelement vertex 1\n");
    const char *names[] = {"x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2"};
    for (int k = 0; k < 6; ++k) fprintf(f, "property double %s\n", names[k]);
    for (int k = 0; k < 9; ++k) fprintf(f, "property double f_rest_%d\n", k);
    fprintf(f, "property double opacity\nproperty double scale_0\nproperty double scale_1\nproperty double scale_2\n"
               "property double rot_0\nproperty double rot_1\nproperty double rot_2\nproperty double rot_3\nend_header\n");
    double v[23] = {1.5, -2.5, 3.25, 0.1, 0.2, 0.3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0.5, 0.25, 0.125, 0, 0, 0, 3};
    for (int k = 0; k < 23; ++k) {
      unsigned char b[8];
      memcpy(b, &v[k], 8);
      for (int j = 7; j >= 0; --j) fputc(b[j], f);
    }
    fclose(f);
  }
  CHECK(raster_ply_read(p, &ply) == PL_OK, "big-endian: %s", pl_last_error());
  CHECK(ply.n == 1 && ply.sh_degree == 1 && ply.means[1] == -2.5 && fabs(ply.scales[0] - exp(0.5)) < 1e-6 &&
            fabs(ply.quats[3] - 1) < 1e-12 && fabs(ply.sh[3 * 2 + 1] - 5) < 1e-6,
        "big-endian values (f_rest channel-major: sh[2][g] = f_rest_4 = 5, got %g)", ply.n ? (double)ply.sh[7] : 0.0);
  raster_ply_free(&ply);
  /* errors */
  path_in(p, sizeof p, "none.ply");
  CHECK(raster_ply_read(p, &ply) == PL_ERR_IO && strstr(pl_last_error(), "none.ply"), "missing file: %s", pl_last_error());
  path_in(p, sizeof p, "bad1.ply");
  write_text(p, "plx\nformat ascii 1.0\nend_header\n");
  CHECK(raster_ply_read(p, &ply) == PL_ERR_PARSE && strstr(pl_last_error(), "bad1.ply:1:"), "not ply: %s", pl_last_error());
  write_text(p, "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty flaot y\nend_header\n");
  CHECK(raster_ply_read(p, &ply) == PL_ERR_PARSE && strstr(pl_last_error(), "bad1.ply:5: unknown property type 'flaot'"),
        "bad type: %s", pl_last_error());
  write_text(p, "ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\nend_header\n1 2 3\n");
  CHECK(raster_ply_read(p, &ply) == PL_ERR_PARSE && strstr(pl_last_error(), "no property 'f_dc_0'"), "missing property: %s",
        pl_last_error());
  /* bad f_rest count: take the ascii file and add 2 f_rest */
  {
    const char *at = strstr(k_ascii, "property float opacity");
    snprintf(msg, sizeof msg, "%.*sproperty float f_rest_0\nproperty float f_rest_1\n%s", (int)(at - k_ascii), k_ascii, at);
    write_text(p, msg);
    CHECK(raster_ply_read(p, &ply) == PL_ERR_PARSE && strstr(pl_last_error(), "2 f_rest properties"), "f_rest count: %s",
          pl_last_error());
  }
  /* truncated binary data */
  path_in(p, sizeof p, "standard.ply");
  write_standard(p, 6);
  {
    FILE *f = fopen(p, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    CHECK(truncate(p, size - 100) == 0, "truncate");
  }
  /* the vertex count is checked against the file size before anything is read (issue 12, D8) */
  CHECK(raster_ply_read(p, &ply) == PL_ERR_PARSE && strstr(pl_last_error(), "6 vertices") &&
            strstr(pl_last_error(), "truncated"), "truncated: %s", pl_last_error());
  /* non-finite value in the ascii variant */
  path_in(p, sizeof p, "nan.ply");
  {
    char t[2048];
    snprintf(t, sizeof t, "%s", k_ascii);
    char *q = strstr(t, "-1 0 1 0 0 0 7 -2.0");
    memcpy(q, "-1 0 1 0 0 0 7 nan ", 19);
    write_text(p, t);
  }
  CHECK(raster_ply_read(p, &ply) == PL_ERR_NUMERIC && strstr(pl_last_error(), "vertex 1: property 'opacity' is not finite"),
        "nan value: %s", pl_last_error());
  CHECK(ply.n == 0 && ply.means == NULL, "a failed read leaves an empty result");
  /* writer: unwritable path fails cleanly, non-finite input is refused */
  test_scene s;
  test_scene_random(&s, 3, 1, 0, 0, 1, 0.1, 0.2, 0.5, 0.6);
  raster_gaussians g = test_scene_view(&s);
  CHECK(raster_ply_write("/nonexistent-dir/x.ply", &g, NULL) == PL_ERR_IO, "unwritable path: %s", pl_last_error());
  s.means[4] = (real)NAN;
  path_in(p, sizeof p, "w.ply");
  CHECK(raster_ply_write(p, &g, NULL) == PL_ERR_NUMERIC && strstr(pl_last_error(), "Gaussian 1"), "NaN write: %s",
        pl_last_error());
  CHECK(access(p, F_OK) != 0, "a refused write leaves no file");
  test_scene_free(&s);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--fixtures") == 0) {
    snprintf(g_dir, sizeof g_dir, "%s", argv[2]);
    char p[600];
    path_in(p, sizeof p, "standard.ply");
    write_standard(p, 64);
    test_scene s;
    test_scene_random(&s, 500, 1, 1, 3, 1.0, 0.02, 0.15, 0.3, 0.95);
    raster_gaussians g = test_scene_view(&s);
    path_in(p, sizeof p, "ours.ply");
    pl_status st = raster_ply_write(p, &g, NULL);
    test_scene_free(&s);
    if (st != PL_OK) fprintf(stderr, "%s\n", pl_last_error());
    return st == PL_OK ? 0 : 1;
  }
  snprintf(g_dir, sizeof g_dir, "/tmp/test_raster_ply.%ld", (long)getpid());
  if (pl_mkdirs(g_dir) != PL_OK) {
    fprintf(stderr, "cannot create %s: %s\n", g_dir, pl_last_error());
    return 1;
  }
  test_standard_layout();
  test_round_trips();
  test_variants_and_errors();
  const char *names[] = {"standard.ply", "rt.ply", "ascii.ply", "be.ply", "bad1.ply", "nan.ply"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
    char p[600];
    path_in(p, sizeof p, names[i]);
    remove(p);
  }
  rmdir(g_dir);
  return test_summary("test_raster_ply");
}
