/* test_splat_object.c: a trained 3DGS PLY as a simulated object (shape = gaussians).
 *
 * A synthetic "trained" splat scene: flat, tangent Gaussians covering a sphere of radius 0.12 (file coordinates
 * centred on (2, -1, 3)), coloured by position, opacity 0.9; plus 150 floaters of opacity 0.02 and 60 Gaussians
 * outside a crop box (a second, clean file is centred at (0.5, 0.5, 0.5)). Checked:
 *  - loading drops exactly the floaters and the cropped ones, and places the rest (bounding-box centre at the
 *    object's centre, covariances rotated with it);
 *  - the splats' filled body (mpm_splat_occupancy) holds the sphere: its volume is at least the sphere's and at
 *    most the sphere grown by one voxel; the sphere's centre is inside, a point beyond the shell not;
 *  - the particles fill it: count x (dx^3 / ppc) within 10 % of the sphere's volume;
 *  - `pipeline render` of a scene with this object writes, at frame 0, the same picture as `pipeline render-ply`
 *    of the same file from the same camera: PSNR >= 40 dB (no crop and no floaters in that file).
 * Usage: test_splat_object PIPELINE (the CLI, for the render comparison). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rng.h"
#include "mpm/mpm.h"
#include "mpm/mpm_splat_fill.h"
#include "pipeline/scene/splat_object.h"
#include "raster/ply.h"
#include "tests/test_util.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_NO_STDIO_WRITE
#include <stb/stb_image.h>

static const double CF[3] = {2, -1, 3}, CW[3] = {0.5, 0.5, 0.5}, R0 = 0.12;

/* n Gaussians on the sphere (Fibonacci lattice), flat discs tangent to it; then floaters and far ones. */
static int write_ply(const char *path, const double *C0, int n, int floaters, int far_ones, double bbc[3]) {
  int tot = n + floaters + far_ones;
  real *m = calloc((size_t)tot * 3, sizeof(real)), *cov = calloc((size_t)tot * 6, sizeof(real));
  real *col = calloc((size_t)tot * 3, sizeof(real)), *op = calloc((size_t)tot, sizeof(real));
  const double golden = 3.14159265358979323846 * (3 - sqrt(5.0));
  const double spacing = sqrt(4 * 3.14159265358979 * R0 * R0 / n), sig = 0.7 * spacing, thin = 0.1 * sig;
  for (int i = 0; i < tot; ++i) {
    double nrm[3];
    if (i < n) {
      double z = 1 - 2 * (i + 0.5) / n, r = sqrt(1 - z * z), ph = golden * i;
      nrm[0] = r * cos(ph), nrm[1] = r * sin(ph), nrm[2] = z;
    } else {
      real u[4];
      pl_rng_uniform4(5, 0, (uint32_t)i, u);
      double z = 2 * u[0] - 1, r = sqrt(1 - z * z), ph = 6.283185307 * u[1];
      nrm[0] = r * cos(ph), nrm[1] = r * sin(ph), nrm[2] = z;
    }
    double rad = i < n ? R0 : (i < n + floaters ? 0.3 * R0 + 0.5 * R0 * (i % 3) : 5 * R0);
    for (int k = 0; k < 3; ++k) m[3 * i + k] = (real)(C0[k] + rad * nrm[k]);
    /* Sigma = sig^2 (I - n n^T) + thin^2 n n^T */
    int q = 0;
    for (int a = 0; a < 3; ++a)
      for (int b = a; b < 3; ++b)
        cov[6 * i + q++] = (real)(sig * sig * ((a == b) - nrm[a] * nrm[b]) + thin * thin * nrm[a] * nrm[b]);
    col[3 * i] = (real)(0.5 + 0.4 * nrm[0]), col[3 * i + 1] = (real)(0.5 + 0.4 * nrm[1]);
    col[3 * i + 2] = (real)(0.5 + 0.4 * nrm[2]);
    op[i] = (real)(i < n ? 0.9 : (i < n + floaters ? 0.02 : 0.9));
  }
  for (int k = 0; k < 3; ++k) { /* bounding-box centre of the sphere's means */
    double a = 1e9, b = -1e9;
    for (int i = 0; i < n; ++i) a = fmin(a, m[3 * i + k]), b = fmax(b, m[3 * i + k]);
    bbc[k] = 0.5 * (a + b);
  }
  raster_gaussians g;
  memset(&g, 0, sizeof g);
  g.n = tot, g.means = m, g.covs = cov, g.colors = col, g.opacities = op;
  pl_status st = raster_ply_write(path, &g, NULL);
  free(m), free(cov), free(col), free(op);
  return st == PL_OK;
}

static double psnr_png(const char *a, const char *b, int *ok) {
  int wa, ha, ca, wb, hb, cb;
  unsigned char *ia = stbi_load(a, &wa, &ha, &ca, 3), *ib = stbi_load(b, &wb, &hb, &cb, 3);
  *ok = ia && ib && wa == wb && ha == hb;
  double se = 0;
  for (long i = 0; *ok && i < (long)wa * ha * 3; ++i) se += ((double)ia[i] - ib[i]) * ((double)ia[i] - ib[i]);
  double mse = *ok ? se / ((double)wa * ha * 3) : 0;
  stbi_image_free(ia);
  stbi_image_free(ib);
  return mse > 0 ? 10 * log10(255.0 * 255.0 / mse) : INFINITY;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: test_splat_object PIPELINE\n");
    return 2;
  }
  pl_log_set_level(PL_LOG_WARN);
  char dir[] = "/tmp/test_splat_XXXXXX";
  CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  char dirty[512], clean[512];
  snprintf(dirty, sizeof dirty, "%s/dirty.ply", dir);
  snprintf(clean, sizeof clean, "%s/clean.ply", dir);
  const int N = 3000;
  double bbd[3], bbc[3];
  CHECK(write_ply(dirty, CF, N, 150, 60, bbd), "writing %s: %s", dirty, pl_last_error());
  CHECK(write_ply(clean, CW, N, 0, 0, bbc), "writing %s: %s", clean, pl_last_error());

  /* loading: crop, threshold, placement */
  pl_splat_load_desc d;
  memset(&d, 0, sizeof d);
  d.path = dirty, d.label = "test";
  d.opacity_min = 0.05;
  for (int k = 0; k < 3; ++k) {
    d.crop_min[k] = CF[k] - 3 * R0, d.crop_max[k] = CF[k] + 3 * R0;
    d.center[k] = 0.5, d.scale[k] = 1;
  }
  d.rotation_deg[1] = 90;
  pl_splat_set *s = NULL;
  CHECK(pl_splat_set_load(&d, &s) == PL_OK, "load: %s", pl_last_error());
  if (!s) return test_summary("test_splat_object");
  printf("loaded: %lld kept of %lld, %lld cropped, %lld transparent\n", (long long)s->n, (long long)s->read,
         (long long)s->cropped, (long long)s->transparent);
  CHECK(s->n == N && s->cropped == 60 && s->transparent == 150, "kept %lld, cropped %lld, transparent %lld",
        (long long)s->n, (long long)s->cropped, (long long)s->transparent);
  double lo[3] = {1e9, 1e9, 1e9}, hi[3] = {-1e9, -1e9, -1e9};
  for (int64_t i = 0; i < s->n; ++i)
    for (int k = 0; k < 3; ++k) lo[k] = fmin(lo[k], s->means[3 * i + k]), hi[k] = fmax(hi[k], s->means[3 * i + k]);
  for (int k = 0; k < 3; ++k)
    CHECK(fabs(0.5 * (lo[k] + hi[k]) - 0.5) < 1e-6, "axis %d: placed bounding-box centre %.8f, want 0.5", k,
          0.5 * (lo[k] + hi[k]));
  /* a 90-degree turn about y maps the file's x axis to world -z: a point's world z offset is minus its file x offset;
   * its covariance turns with it: zz' = xx */
  {
    pl_splat_set *raw = NULL;
    pl_splat_load_desc d0 = d;
    d0.rotation_deg[1] = 0;
    CHECK(pl_splat_set_load(&d0, &raw) == PL_OK, "load: %s", pl_last_error());
    if (raw) {
      CHECK(fabs((s->means[2] - 0.5) + (raw->means[0] - 0.5)) < 1e-9, "rotation of the means");
      CHECK(fabs(s->covs[5] - raw->covs[0]) < 1e-12, "rotation of the covariances: zz' %.6g, xx %.6g", s->covs[5],
            raw->covs[0]);
    }
    pl_splat_set_free(raw);
  }

  /* the filled body */
  const double h = 1.0 / 64, vsphere = 4.0 / 3.0 * 3.14159265358979 * R0 * R0 * R0;
  mpm_occupancy occ;
  double olo[3], ohi[3];
  CHECK(mpm_splat_occupancy(s->means, s->covs, s->opacities, s->n, h, 0.5, "test", &occ, olo, ohi) == PL_OK, "fill: %s",
        pl_last_error());
  double vol = (double)occ.ninside * h * h * h, vmax = 4.0 / 3.0 * 3.14159265358979 * pow(R0 + h, 3);
  printf("filled body: %lld voxels of %.4g m = %.4g m^3 (sphere %.4g, sphere + 1 voxel %.4g), shell %lld\n",
         (long long)occ.ninside, h, vol, vsphere, vmax, (long long)occ.nshell);
  CHECK(vol >= 0.97 * vsphere && vol <= vmax, "filled volume %.4g outside [%.4g, %.4g]", vol, 0.97 * vsphere, vmax);
  double centre[3] = {0.5, 0.5, 0.5}, beyond[3] = {0.5 + R0 + 3 * h, 0.5, 0.5};
  CHECK(mpm_occupancy_at(&occ, centre) == 1, "the sphere's centre is not inside");
  CHECK(mpm_occupancy_at(&occ, beyond) == 0, "a point 3 voxels beyond the shell is inside");
  mpm_occupancy_free(&occ);

  /* particles in it */
  mpm_material mat;
  memset(&mat, 0, sizeof mat);
  mat.E = 1e4, mat.nu = 0.3, mat.density = 1000;
  mpm_desc md;
  memset(&md, 0, sizeof md);
  for (int k = 0; k < 3; ++k) md.domain_max[k] = 1;
  md.grid = 32;
  md.materials = &mat, md.nmaterials = 1;
  mpm_object o;
  memset(&o, 0, sizeof o);
  o.name = "splats", o.shape = MPM_SHAPE_GAUSSIANS, o.particles_per_cell = 8;
  o.splat_count = s->n, o.splat_means = s->means, o.splat_covs = s->covs, o.splat_opacities = s->opacities;
  mpm_particles p;
  CHECK(mpm_sample_objects(&md, &o, 1, &p) == PL_OK, "sampling: %s", pl_last_error());
  double pvol = (double)p.n * pow(1.0 / 32, 3) / 8;
  printf("particles: %lld, volume %.4g m^3 (sphere %.4g, %+.1f %%)\n", (long long)p.n, pvol, vsphere,
         100 * (pvol / vsphere - 1));
  CHECK(fabs(pvol / vsphere - 1) < 0.10, "particle volume %.4g against the sphere's %.4g", pvol, vsphere);
  mpm_particles_free(&p);
  pl_splat_set_free(s);

  /* frame 0 of a scene with the object against render-ply of the same file, same camera */
  char cfg[512], out[512], ref[512], cmd[4096];
  snprintf(cfg, sizeof cfg, "%s/scene.cfg", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  snprintf(ref, sizeof ref, "%s/ref.png", dir);
  FILE *f = fopen(cfg, "w");
  CHECK(f != NULL, "cannot write %s", cfg);
  if (!f) return test_summary("test_splat_object");
  fprintf(f, "[sim]\ngrid = 32\nframes = 1\n\n[material m]\nmodel = fixed_corotated\nE = 1e4\nnu = 0.3\n\n"
             "[object ball]\nshape = gaussians\nmaterial = m\nsplats = clean.ply\ncenter = %.17g %.17g %.17g\n\n"
             "[camera front]\neye = 0.5 0.6 1.3\ntarget = 0.5 0.5 0.5\nfov = 30\n\n"
             "[render]\nwidth = 160\nheight = 120\nbackground = 0 0 0\n",
          bbc[0], bbc[1], bbc[2]);
  fclose(f);
  /* the object placed where the file has it (its bounding-box centre, no rotation, scale 1), so render-ply sees the
   * same splats */
  snprintf(cmd, sizeof cmd, "'%s' render '%s' --frames 0 -o '%s' --quiet --backend cpu", argv[1], cfg, out);
  CHECK(system(cmd) == 0, "%s failed", cmd);
  snprintf(cmd, sizeof cmd,
           "'%s' render-ply '%s' -o '%s' --width 160 --height 120 --fov 30 --eye %.17g,%.17g,%.17g "
           "--target %.17g,%.17g,%.17g --background 0,0,0 --quiet --backend cpu",
           argv[1], clean, ref, 0.5, 0.6, 1.3, 0.5, 0.5, 0.5);
  CHECK(system(cmd) == 0, "%s failed", cmd);
  char got[600];
  snprintf(got, sizeof got, "%s/front/0000.png", out);
  int ok = 0;
  double psnr = psnr_png(got, ref, &ok);
  printf("frame 0 against render-ply: PSNR %.1f dB (%s vs %s)\n", psnr, got, ref);
  CHECK(ok, "could not read %s and %s as images of one size", got, ref);
  CHECK(psnr >= 40, "PSNR %.1f dB < 40", psnr);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (!getenv("KEEP")) CHECK(system(cmd) == 0, "cleanup");
  return test_summary("test_splat_object");
}
