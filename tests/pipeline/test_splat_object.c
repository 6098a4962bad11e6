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
 *    of the same file from the same camera: PSNR >= 40 dB (no crop and no floaters in that file); likewise with SH
 *    of degree 3 (view-dependent colour kept), and with SH of degree 1 placed with a turn against render-ply of the
 *    file turned the same way (means, covariances and the band; the band left unturned must fall 6 dB short);
 *  - the gradients through the SH frames of a spinning body: gradcheck in double and optimize --check-grad 0;
 *  - its per-frame 3DGS PLY (bands turned to world axes) renders as the frame does (render-ply, >= 40 dB).
 * Usage: test_splat_object PIPELINE (the CLI, for the render comparison). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/rng.h"
#include "core/rotation.h"
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

/* Optional view-dependent colour of write_ply's Gaussians: SH of degree deg (the degree-0 term from the colour, the
 * higher bands 0.3 x a fixed pseudo-random pattern), the whole set turned by rot (row-major, or NULL) about the
 * sphere's bounding-box centre: means and covariances turned, and the degree-1 band turned so that the colour seen
 * along d is the unturned set's along rot^T d (the band is C1 (-y, z, -x) . f: f' = P rot P^T f with P that map). */
typedef struct {
  int deg;
  const double *rot;
  int band_unturned; /* 1: turn the geometry only (a control that must not match) */
} sh_opts;

static void turn(const double *R, const double *v, double *o) {
  for (int i = 0; i < 3; ++i) o[i] = R[3 * i] * v[0] + R[3 * i + 1] * v[1] + R[3 * i + 2] * v[2];
}

static real *make_sh(int tot, const real *col, const sh_opts *sh) {
  const int K = (sh->deg + 1) * (sh->deg + 1);
  real *out = calloc((size_t)tot * 3 * K, sizeof(real));
  for (int i = 0; i < tot; ++i) {
    real *f = out + (size_t)3 * K * i;
    for (int c = 0; c < 3; ++c) f[c] = (real)((col[3 * i + c] - 0.5) / 0.28209479177387814);
    for (int k = 3; k < 3 * K; ++k) {
      real u[4];
      pl_rng_uniform4(11, (uint64_t)i, (uint32_t)k, u);
      f[k] = (real)(0.5 * (2 * u[0] - 1));
    }
    if (sh->rot && sh->deg >= 1 && !sh->band_unturned) /* P = [[0,-1,0],[0,0,1],[-1,0,0]]: (x, y, z) -> (-y, z, -x) */
      for (int c = 0; c < 3; ++c) {
        double b[3] = {f[3 + c], f[6 + c], f[9 + c]}, pb[3] = {-b[2], -b[0], b[1]}, r[3]; /* P^T b */
        turn(sh->rot, pb, r);
        f[3 + c] = (real)-r[1], f[6 + c] = (real)r[2], f[9 + c] = (real)-r[0]; /* P r */
      }
  }
  return out;
}

/* n Gaussians on the sphere (Fibonacci lattice), flat discs tangent to it; then floaters and far ones. */
static int write_ply_sh(const char *path, const double *C0, int n, int floaters, int far_ones, double bbc[3],
                        const sh_opts *sh);
static int write_ply(const char *path, const double *C0, int n, int floaters, int far_ones, double bbc[3]) {
  return write_ply_sh(path, C0, n, floaters, far_ones, bbc, NULL);
}
static int write_ply_sh(const char *path, const double *C0, int n, int floaters, int far_ones, double bbc[3],
                        const sh_opts *sh) {
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
  if (sh && sh->rot) /* the whole set turned about bbc: means, covariances (R Sigma R^T) */
    for (int i = 0; i < tot; ++i) {
      double d[3], r[3], S[9], T[9];
      for (int k = 0; k < 3; ++k) d[k] = m[3 * i + k] - bbc[k];
      turn(sh->rot, d, r);
      for (int k = 0; k < 3; ++k) m[3 * i + k] = (real)(bbc[k] + r[k]);
      const real *c = cov + 6 * i;
      double full[9] = {c[0], c[1], c[2], c[1], c[3], c[4], c[2], c[4], c[5]};
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) {
          S[3 * a + b] = 0;
          for (int q = 0; q < 3; ++q) S[3 * a + b] += sh->rot[3 * a + q] * full[3 * q + b];
        }
      for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) {
          T[3 * a + b] = 0;
          for (int q = 0; q < 3; ++q) T[3 * a + b] += S[3 * a + q] * sh->rot[3 * b + q];
        }
      real *o = cov + 6 * i;
      o[0] = (real)T[0], o[1] = (real)T[1], o[2] = (real)T[2], o[3] = (real)T[4], o[4] = (real)T[5], o[5] = (real)T[8];
    }
  raster_gaussians g;
  memset(&g, 0, sizeof g);
  g.n = tot, g.means = m, g.covs = cov, g.opacities = op;
  real *shc = sh ? make_sh(tot, col, sh) : NULL;
  if (shc) g.sh = shc, g.sh_degree = sh->deg;
  else g.colors = col;
  pl_status st = raster_ply_write(path, &g, NULL);
  free(m), free(cov), free(col), free(op), free(shc);
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

/* `pipeline render` of frame 0 of a scene whose object is scene_ply placed at bbc (turned by rot_deg, or not), against
 * `pipeline render-ply` of ref_ply from the same camera: the PSNR (-1 when a command or image failed). */
static double render_against_ply(const char *pipeline, const char *dir, const char *tag, const char *scene_ply,
                                 const char *ref_ply, const double bbc[3], const double *rot_deg) {
  char cfg[600], out[600], ref[600], got[700], cmd[4096];
  snprintf(cfg, sizeof cfg, "%s/%s.cfg", dir, tag);
  snprintf(out, sizeof out, "%s/out_%s", dir, tag);
  snprintf(ref, sizeof ref, "%s/ref_%s.png", dir, tag);
  FILE *f = fopen(cfg, "w");
  CHECK(f != NULL, "cannot write %s", cfg);
  if (!f) return -1;
  fprintf(f, "[sim]\ngrid = 32\nframes = 1\n\n[material m]\nmodel = fixed_corotated\nE = 1e4\nnu = 0.3\n\n"
             "[object ball]\nshape = gaussians\nmaterial = m\nsplats = %s\ncenter = %.17g %.17g %.17g\n",
          scene_ply, bbc[0], bbc[1], bbc[2]);
  if (rot_deg) fprintf(f, "rotation = %.17g %.17g %.17g\n", rot_deg[0], rot_deg[1], rot_deg[2]);
  fprintf(f, "\n[camera front]\neye = 0.5 0.6 1.3\ntarget = 0.5 0.5 0.5\nfov = 30\n\n"
             "[render]\nwidth = 160\nheight = 120\nbackground = 0 0 0\n");
  fclose(f);
  /* the object placed where the file has it (its bounding-box centre, scale 1), so render-ply sees the same splats */
  snprintf(cmd, sizeof cmd, "'%s' render '%s' --frames 0 -o '%s' --quiet --backend cpu", pipeline, cfg, out);
  int ok = system(cmd) == 0;
  CHECK(ok, "%s failed", cmd);
  snprintf(cmd, sizeof cmd,
           "'%s' render-ply '%s' -o '%s' --width 160 --height 120 --fov 30 --eye %.17g,%.17g,%.17g "
           "--target %.17g,%.17g,%.17g --background 0,0,0 --quiet --backend cpu",
           pipeline, ref_ply, ref, 0.5, 0.6, 1.3, 0.5, 0.5, 0.5);
  ok = ok && system(cmd) == 0;
  CHECK(ok, "%s failed", cmd);
  snprintf(got, sizeof got, "%s/front/0000.png", out);
  int same = 0;
  double psnr = ok ? psnr_png(got, ref, &same) : -1;
  CHECK(same, "%s: could not read %s and %s as images of one size", tag, got, ref);
  return same ? psnr : -1;
}

/* Gradients through the SH frames: a spinning, falling body of SH splats (degree 3, placed with a turn) whose E,
 * initial rotation (a learnt pose starts F at Q, so the frames start at Q R0) and per-Gaussian colours learn, with
 * an L2 loss (a colour moves pixels whose L1 residual sits at its kink, tiny in
 * test_gradients.sh likewise); `pipeline gradcheck --stage all` (double: the whole objective, the simulation, the
 * upsampler's inputs) must pass, and `optimize --check-grad 0` (float, the fit's own mode) must print no bad verdict. */
static void check_sh_gradients(const char *pipeline, const char *dir, const char *ply) {
  char cfg[600], out[600], log[600], cmd[4096];
  snprintf(cfg, sizeof cfg, "%s/gc.cfg", dir);
  snprintf(out, sizeof out, "%s/gc_fit", dir);
  snprintf(log, sizeof log, "%s/gc.log", dir);
  FILE *f = fopen(cfg, "w");
  CHECK(f != NULL, "cannot write %s", cfg);
  if (!f) return;
  fprintf(f, "[sim]\ngrid = 24\nframes = 3\nfps = 30\ngravity = 0 -9.8 0\n\n"
             "[material m]\nmodel = fixed_corotated\nE = 1e4\nnu = 0.3\ndensity = 1000\n\n"
             "[object ball]\nshape = gaussians\nmaterial = m\nsplats = %s\ncenter = 0.5 0.5 0.5\n"
             "rotation = 20 -35 50\nangular_velocity = 0 6 3\nparticles_per_cell = 2\n\n"
             "[camera front]\neye = 0.5 0.6 1.3\ntarget = 0.5 0.5 0.5\nfov = 30\n\n"
             "[camera side]\neye = 1.6 0.7 0.6\ntarget = 0.5 0.5 0.5\nfov = 30\n\n"
             "[render]\nwidth = 40\nheight = 32\nbackground = 0 0 0\n\n[upsample]\nlearn_colors = true\n\n"
             "[targets]\nframes = 1:4\n\n[optimize]\niterations = 1\nloss = l2:1\n\n[param material.m.E]\nspace = log\n\n[param object.ball.rotation]\n\n"
             "[truth]\nmaterial.m.E = 2e4\nobject.ball.rotation = 24 -30 55\n", ply);
  fclose(f);
  snprintf(cmd, sizeof cmd, "'%s' gradcheck '%s' --stage all -q > '%s' 2>&1", pipeline, cfg, log);
  int rc = system(cmd);
  snprintf(cmd, sizeof cmd, "cat '%s'", log);
  CHECK(rc == 0, "gradcheck of the SH splats failed (%d)", rc);
  if (rc != 0 && system(cmd) != 0) fprintf(stderr, "(no log)\n");
  snprintf(cmd, sizeof cmd, "grep -q '^material.m.E .* ok$' '%s' && grep -q '^object.ball.rotation.z .* ok$' '%s' && "
           "grep -q '^upsample: particle' '%s'", log, log, log);
  CHECK(system(cmd) == 0, "gradcheck of the SH splats: no E row ok or no upsample stage");
  snprintf(cmd, sizeof cmd,
           "'%s' optimize '%s' --check-grad 0 --no-video -q -o '%s' > '%s' 2>&1; r=$?; [ $r -le 3 ] && "
           "grep -q 'optimize --check-grad' '%s' && ! grep -Eq 'MISMATCH|NO GRADIENT|INSENSITIVE|NOISY|NON-SMOOTH' '%s'",
           pipeline, cfg, out, log, log, log);
  rc = system(cmd);
  CHECK(rc == 0, "optimize --check-grad 0 (float) on the SH splats: a bad verdict or no table");
  snprintf(cmd, sizeof cmd, "cat '%s'", log);
  if (rc != 0 && system(cmd) != 0) fprintf(stderr, "(no log)\n");
  printf("SH splats, spinning: gradcheck (double, whole objective, simulation, upsampler inputs) ok; float "
         "--check-grad 0 ok\n");
}

/* The per-frame 3DGS PLY of the spinning SH body (check_sh_gradients' scene, at 160 x 120): its bands are written
 * turned into world axes, so `render-ply` of the file at frames 0 (the placement's turn) and 2 (turned further by the
 * flow) must give the picture `pipeline render` gives with its frames: PSNR >= 40 dB. */
static void check_sh_export(const char *pipeline, const char *dir) {
  char cmd[4096], ref[700], got[700];
  snprintf(cmd, sizeof cmd, "'%s' render '%s/gc.cfg' --frames 0,2 --gaussian-ply -o '%s/exp' -q --backend cpu "
           "--set render.width=160 --set render.height=120", pipeline, dir, dir);
  CHECK(system(cmd) == 0, "%s failed", cmd);
  const char *frames[2] = {"0000", "0002"};
  double p[2] = {-1, -1};
  for (int k = 0; k < 2; ++k) {
    snprintf(ref, sizeof ref, "%s/exp/ref_%s.png", dir, frames[k]);
    snprintf(got, sizeof got, "%s/exp/front/%s.png", dir, frames[k]);
    snprintf(cmd, sizeof cmd, "'%s' render-ply '%s/exp/gaussians/%s.ply' -o '%s' --width 160 --height 120 --fov 30 "
             "--eye 0.5,0.6,1.3 --target 0.5,0.5,0.5 --background 0,0,0 --quiet --backend cpu", pipeline, dir,
             frames[k], ref);
    CHECK(system(cmd) == 0, "%s failed", cmd);
    int same = 0;
    p[k] = psnr_png(got, ref, &same);
    CHECK(same && p[k] >= 40, "frame %s: the exported PLY (SH turned to world axes) against the render: %.1f dB",
          frames[k], p[k]);
  }
  printf("SH splats, spinning: per-frame PLY against the render: frame 0 %.1f dB, frame 2 %.1f dB\n", p[0], p[1]);
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

  /* frame 0 of a scene with the object against render-ply of the same file, same camera: RGB colours; SH of degree
   * 3 (view-dependent colour kept); SH of degree 1 placed with a turn, against render-ply of the file turned the same
   * way (means, covariances and the band), which checks the direction the frames turn the view */
  double p1 = render_against_ply(argv[1], dir, "rgb", clean, clean, bbc, NULL);
  CHECK(p1 >= 40, "RGB: PSNR %.1f dB < 40", p1);
  char sh3[512], sh1[512], sh1t[512];
  snprintf(sh3, sizeof sh3, "%s/sh3.ply", dir);
  snprintf(sh1, sizeof sh1, "%s/sh1.ply", dir);
  snprintf(sh1t, sizeof sh1t, "%s/sh1_turned.ply", dir);
  double bb3[3], bb1[3], bb1t[3], rot[9];
  const double turn_deg[3] = {20, -35, 50};
  pl_euler_xyz_deg(turn_deg, rot);
  sh_opts o3 = {3, NULL, 0}, o1 = {1, NULL, 0}, o1t = {1, rot, 0};
  CHECK(write_ply_sh(sh3, CW, N, 0, 0, bb3, &o3), "writing %s: %s", sh3, pl_last_error());
  CHECK(write_ply_sh(sh1, CW, N, 0, 0, bb1, &o1), "writing %s: %s", sh1, pl_last_error());
  CHECK(write_ply_sh(sh1t, CW, N, 0, 0, bb1t, &o1t), "writing %s: %s", sh1t, pl_last_error());
  double p3 = render_against_ply(argv[1], dir, "sh3", sh3, sh3, bb3, NULL);
  CHECK(p3 >= 40, "SH degree 3: PSNR %.1f dB < 40", p3);
  double p1t = render_against_ply(argv[1], dir, "sh1_turned", sh1, sh1t, bb1, turn_deg);
  CHECK(p1t >= 40, "SH degree 1, turned: PSNR %.1f dB < 40", p1t);
  /* the band matters: the same turn with the file's band left unturned must not match, or the check above could
   * not fail */
  char sh1n[512];
  snprintf(sh1n, sizeof sh1n, "%s/sh1_band_unturned.ply", dir);
  double bb1n[3];
  sh_opts o1n = {1, rot, 1};
  CHECK(write_ply_sh(sh1n, CW, N, 0, 0, bb1n, &o1n), "writing %s: %s", sh1n, pl_last_error());
  double pn = render_against_ply(argv[1], dir, "sh1_band_unturned", sh1, sh1n, bb1, turn_deg);
  CHECK(pn < p1t - 6, "the band's turn is not seen: %.1f dB without it, %.1f dB with it", pn, p1t);
  printf("frame 0 against render-ply: RGB %.1f dB, SH degree 3 %.1f dB, SH degree 1 turned %.1f dB (control with the "
         "band unturned: %.1f dB)\n", p1, p3, p1t, pn);
  check_sh_gradients(argv[1], dir, sh3);
  check_sh_export(argv[1], dir);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (!getenv("KEEP")) CHECK(system(cmd) == 0, "cleanup");
  return test_summary("test_splat_object");
}
