/* test_upsample_grad.c: the whole upsampler's adjoint (ups_backward) against central differences of
 * ups_forward, in double precision, for every input and every learnable parameter at once:
 * x [N,3], F [N,9], sigma0, thickness, opacity, per-Gaussian colours [M,3] and opacity offsets [M].
 * Cases: bound mode on a particle set's surface, bound mode on a mesh (vertex colours, rotated and scaled),
 * the particles mode, the runtime mode (with an isolated particle and particles in the weight's ramp), two
 * objects of different modes in one upsampler, and a trained splat object (its own rest covariances, colours and
 * opacities; sigma0 and thickness must not matter to it) beside a particle-set surface, and a trained splat object
 * with SH bands (degree 2, a rotated placement) beside a runtime blob: the outputs are then the SH (degree 0 from the
 * colours) and the frames Q = polar(Ft) R0 (ups_backward_sh). Relative error <= 1e-6; every parameter must get a
 * gradient. */
#include <stdio.h>

#include "core/rotation.h"
#include "tests/upsample/ups_test_util.h"

#ifndef PL_REAL_DOUBLE
#error "test_upsample_grad is built against the double-precision library"
#endif

typedef struct {
  ups *u;
  int n;
  int64_t m;
  int sh_k; /* > 0: the outputs are means, covs, SH, frames, opacities */
} gctx;

static int n_inputs(const gctx *c) { return (int)(12 * c->n + 3 + 4 * c->m); }
static int n_outputs(const gctx *c) { return (int)((c->sh_k ? 19 + 3 * c->sh_k : 13) * c->m); }

static void set_inputs(gctx *c, const double *x) {
  ups_params p;
  p.sigma0 = x[12 * c->n];
  p.thickness = x[12 * c->n + 1];
  p.opacity = x[12 * c->n + 2];
  pl_status s = ups_set_params(c->u, &p);
  CHECK(s == PL_OK, "set_params: %s", pl_last_error());
  real *col, *off;
  ups_param_buffers(c->u, &col, &off);
  memcpy(col, x + 12 * c->n + 3, sizeof(double) * 3 * (size_t)c->m);
  memcpy(off, x + 12 * c->n + 3 + 3 * c->m, sizeof(double) * (size_t)c->m);
}

static void f_all(const double *x, double *y, void *ctx) {
  gctx *c = (gctx *)ctx;
  set_inputs(c, x);
  ups_gaussians g;
  pl_status s = ups_forward(c->u, x, x + 3 * c->n, &g);
  CHECK(s == PL_OK, "forward: %s", pl_last_error());
  size_t m = (size_t)c->m, kb = 3 * (size_t)c->sh_k;
  memcpy(y, g.means, sizeof(double) * 3 * m);
  memcpy(y + 3 * m, g.covs, sizeof(double) * 6 * m);
  if (c->sh_k) {
    CHECK(g.sh && g.frames, "forward: no SH output");
    memcpy(y + 9 * m, g.sh, sizeof(double) * kb * m);
    memcpy(y + (9 + kb) * m, g.frames, sizeof(double) * 9 * m);
    memcpy(y + (18 + kb) * m, g.opacities, sizeof(double) * m);
    return;
  }
  memcpy(y + 9 * m, g.colors, sizeof(double) * 3 * m);
  memcpy(y + 12 * m, g.opacities, sizeof(double) * m);
}

static void v_all(const double *x, const double *vy, double *vx, void *ctx) {
  gctx *c = (gctx *)ctx;
  set_inputs(c, x);
  size_t m = (size_t)c->m;
  pl_status s = ups_zero_grads(c->u);
  CHECK(s == PL_OK, "zero_grads: %s", pl_last_error());
  const size_t kb = 3 * (size_t)c->sh_k;
  if (c->sh_k)
    s = ups_backward_sh(c->u, x, x + 3 * c->n, vy, vy + 3 * m, vy + 9 * m, vy + (9 + kb) * m, vy + (18 + kb) * m, vx,
                        vx + 3 * c->n);
  else
    s = ups_backward(c->u, x, x + 3 * c->n, vy, vy + 3 * m, vy + 9 * m, vy + 12 * m, vx, vx + 3 * c->n);
  CHECK(s == PL_OK, "backward: %s", pl_last_error());
  ups_grads g;
  ups_get_grads(c->u, &g);
  double *vp = vx + 12 * c->n;
  vp[0] += g.sigma0;
  vp[1] += g.thickness;
  vp[2] += g.opacity;
  for (size_t i = 0; i < 3 * m; ++i) vp[3 + i] += g.colors[i];
  for (size_t i = 0; i < m; ++i) vp[3 + 3 * m + i] += g.opacity_offsets[i];
}


/* The SH case's forward values and the frames' own path: at rest (x = X, F = I) each splat's frame is its placement
 * rotation R0 (Euler 25, -40, 70 degrees) and its higher bands are the trained ones; the degree-0 term is the trained
 * one moved by the colour parameter, sh_0 = f_dc + (c - c0) / C0; and a cotangent on the frames alone reaches F. */
static void check_sh_forward(gctx *c, double *x, const real *x0, const double *sh, const double *col, double *vy,
                             double *vx) {
  const int n = c->n, K = c->sh_k;
  const size_t m = (size_t)c->m;
  double *rest = (double *)malloc(sizeof(double) * 12 * (size_t)n);
  for (int p = 0; p < n; ++p) {
    for (int k = 0; k < 3; ++k) rest[3 * p + k] = x0[3 * p + k];
    for (int k = 0; k < 9; ++k) rest[3 * n + 9 * p + k] = k % 4 == 0;
  }
  set_inputs(c, x);
  ups_gaussians g;
  pl_status s = ups_forward(c->u, rest, rest + 3 * n, &g);
  CHECK(s == PL_OK, "SH forward at rest: %s", pl_last_error());
  double r0[9], ef = 0, eb = 0, e0 = 0;
  const double deg[3] = {25, -40, 70};
  pl_euler_xyz_deg(deg, r0);
  for (int i = 0; s == PL_OK && i < 40; ++i) {
    for (int k = 0; k < 9; ++k) ef = fmax(ef, fabs(g.frames[9 * i + k] - r0[k]));
    for (int k = 3; k < 3 * K; ++k) eb = fmax(eb, fabs(g.sh[3 * K * i + k] - sh[3 * K * i + k]));
    for (int ch = 0; ch < 3; ++ch)
      e0 = fmax(e0, fabs(g.sh[3 * K * i + ch] - (sh[3 * K * i + ch] + (g.colors[3 * i + ch] - col[3 * i + ch]) /
                                                                           0.28209479177387814)));
  }
  CHECK(ef < 1e-12 && eb == 0 && e0 < 1e-12, "SH at rest: frame off R0 by %.3g, bands by %.3g, degree 0 by %.3g", ef,
        eb, e0);
  for (size_t i = 0; i < m; ++i) /* the children's frames stay the identity */
    for (int k = 0; k < 9 && i >= 40; ++k) ef = fmax(ef, fabs(g.frames[9 * i + k] - (k % 4 == 0)));
  CHECK(ef < 1e-12, "SH: a frame other than a splat's is not the identity (%.3g)", ef);
  /* only the frames' cotangent: it must reach F */
  memset(vy, 0, sizeof(double) * (size_t)n_outputs(c));
  memset(vx, 0, sizeof(double) * (size_t)n_inputs(c));
  for (size_t i = 0; i < 9 * m; ++i) vy[(9 + 3 * (size_t)K) * m + i] = test_rand();
  v_all(x, vy, vx, c);
  double nf = 0;
  for (int i = 0; i < 9 * n; ++i) nf += fabs(vx[3 * n + i]);
  CHECK(nf > 0, "SH: the frames' cotangent does not reach F");
  fprintf(stderr, "   SH at rest: frames = R0 to %.2g, bands exact, degree 0 to %.2g; |v_F| from the frames alone %.3g\n",
          ef, e0, nf);
  free(rest);
}

typedef struct {
  const char *name;
  int kind; /* 0 bound pset, 1 bound mesh, 2 particles, 3 runtime, 4 mixed, 5 splats + bound pset, 6 SH splats +
               runtime */
} gcase;

static void run(const gcase *gc) {
  const double dp = 0.05, c0[3] = {0.5, 0.45, 0.55};
  real *x0;
  int n = ups_sphere_particles(c0, 2.6 * dp, dp, 0.5, 3, &x0);
  int nobj = 1;
  int *obj = (int *)calloc((size_t)n + 2, sizeof(int));
  pl_mesh ico;
  ups_icosahedron(&ico, 0.2, 0.6, 7, 3, 11);
  ups_object objs[2];
  memset(objs, 0, sizeof objs);
  objs[0].name = gc->name;
  objs[0].color[0] = 0.3, objs[0].color[1] = 0.6, objs[0].color[2] = 0.9;
  if (gc->kind == 0) objs[0].mode = UPS_BOUND;
  if (gc->kind == 1) {
    objs[0].mode = UPS_BOUND;
    objs[0].mesh = &ico;
    for (int k = 0; k < 3; ++k) {
      objs[0].center[k] = c0[k];
      objs[0].scale[k] = 2.4 * dp * (1 + 0.05 * k);
      objs[0].rotation_deg[k] = 10.0 * (k + 1);
    }
  }
  if (gc->kind == 2) objs[0].mode = UPS_PARTICLES;
  if (gc->kind == 3) {
    objs[0].mode = UPS_RUNTIME;
    /* an isolated particle far from the others */
    x0 = (real *)realloc(x0, sizeof(real) * 3 * ((size_t)n + 1));
    x0[3 * n] = (real)(c0[0] + 6 * dp), x0[3 * n + 1] = (real)c0[1], x0[3 * n + 2] = (real)c0[2];
    ++n;
  }
  if (gc->kind == 4) {
    /* object 0 bound (the sphere), object 1 runtime: a small blob next to it, close enough to share neighbours */
    nobj = 2;
    objs[0].mode = UPS_BOUND;
    objs[1].mode = UPS_RUNTIME;
    objs[1].name = "blob";
    real *blob;
    double c1[3] = {c0[0] + 4.2 * dp, c0[1], c0[2]};
    int nb = ups_sphere_particles(c1, 1.6 * dp, dp, 0.5, 5, &blob);
    x0 = (real *)realloc(x0, sizeof(real) * 3 * ((size_t)n + nb));
    obj = (int *)realloc(obj, sizeof(int) * ((size_t)n + nb));
    memcpy(x0 + 3 * n, blob, sizeof(real) * 3 * nb);
    for (int i = 0; i < nb; ++i) obj[n + i] = 1;
    n += nb;
    free(blob);
  }
  double *sp_mean = NULL, *sp_cov = NULL, *sp_col = NULL, *sp_op = NULL, *sp_sh = NULL;
  if (gc->kind == 5 || gc->kind == 6) {
    /* object 0: 40 trained Gaussians around the sphere's surface (random SPD covariances, colours, opacities);
     * object 1: a second sphere with a sampled surface (the disc Sigma0 rows beside the trained ones) */
    nobj = 2;
    const int ns = 40;
    sp_mean = (double *)malloc(sizeof(double) * 3 * ns), sp_cov = (double *)malloc(sizeof(double) * 6 * ns);
    sp_col = (double *)malloc(sizeof(double) * 3 * ns), sp_op = (double *)malloc(sizeof(double) * ns);
    for (int i = 0; i < ns; ++i) {
      double z = 1 - 2 * (i + 0.5) / ns, r = sqrt(1 - z * z), ph = 2.39996 * i, nrm[3] = {r * cos(ph), r * sin(ph), z};
      double a[9];
      for (int k = 0; k < 9; ++k) a[k] = 0.4 * dp * ((k % 4 == 0) + 0.3 * test_rand());
      for (int k = 0; k < 3; ++k) sp_mean[3 * i + k] = c0[k] + 2.6 * dp * nrm[k], sp_col[3 * i + k] = 0.5 + 0.3 * test_rand();
      int q = 0; /* A A^T + small I: symmetric positive definite */
      for (int u = 0; u < 3; ++u)
        for (int v = u; v < 3; ++v) {
          double acc = u == v ? 1e-4 * dp * dp : 0;
          for (int w = 0; w < 3; ++w) acc += a[3 * u + w] * a[3 * v + w];
          sp_cov[6 * i + q++] = acc;
        }
      sp_op[i] = 0.5 + 0.4 * test_rand();
    }
    objs[0].mode = UPS_BOUND;
    objs[0].splat_count = ns;
    objs[0].splat_means = sp_mean, objs[0].splat_covs = sp_cov, objs[0].splat_colors = sp_col;
    objs[0].splat_opacities = sp_op;
    if (gc->kind == 6) { /* degree 2 (9 coefficients per channel), a rotated placement: R0 != I */
      sp_sh = (double *)malloc(sizeof(double) * 27 * ns);
      for (int i = 0; i < 27 * ns; ++i) sp_sh[i] = 0.4 * test_rand();
      objs[0].splat_sh = sp_sh;
      objs[0].splat_sh_degree = 2;
      objs[0].rotation_deg[0] = 25, objs[0].rotation_deg[1] = -40, objs[0].rotation_deg[2] = 70;
    }
    objs[1].mode = gc->kind == 6 ? UPS_RUNTIME : UPS_BOUND;
    objs[1].name = gc->kind == 6 ? "runtime blob" : "second sphere";
    real *two;
    double c1[3] = {c0[0] + 6 * dp, c0[1], c0[2]};
    int n2 = ups_sphere_particles(c1, 2.0 * dp, dp, 0.5, 7, &two);
    x0 = (real *)realloc(x0, sizeof(real) * 3 * ((size_t)n + n2));
    obj = (int *)realloc(obj, sizeof(int) * ((size_t)n + n2));
    memcpy(x0 + 3 * n, two, sizeof(real) * 3 * n2);
    for (int i = 0; i < n2; ++i) obj[n + i] = 1;
    n += n2;
    free(two);
  }
  ups_desc d;
  memset(&d, 0, sizeof d);
  d.backend = PL_BACKEND_CPU;
  d.nparticles = n;
  d.rest_positions = x0;
  d.object_index = obj;
  d.nobjects = nobj;
  d.objects = objs;
  d.particle_spacing = dp;
  d.spacing = 0.5;
  d.children = 3;
  d.learn_colors = d.learn_opacities = 1;
  d.seed = 9;
  d.threads = 1; /* thousands of small evaluations: parallel regions would only add overhead */
  gctx c;
  c.n = n;
  pl_status s = ups_create(&c.u, &d);
  double *keep_sh = NULL, *keep_col = NULL; /* copies for the forward checks below (the inputs are freed now) */
  if (sp_sh) {
    keep_sh = (double *)malloc(sizeof(double) * 27 * 40), keep_col = (double *)malloc(sizeof(double) * 3 * 40);
    memcpy(keep_sh, sp_sh, sizeof(double) * 27 * 40), memcpy(keep_col, sp_col, sizeof(double) * 3 * 40);
  }
  free(sp_mean), free(sp_cov), free(sp_col), free(sp_op), free(sp_sh); /* borrowed during init only */
  CHECK(s == PL_OK, "%s: init: %s", gc->name, pl_last_error());
  if (s != PL_OK) {
    free(x0);
    free(obj);
    return;
  }
  ups_info info;
  ups_get_info(c.u, &info);
  c.m = info.count;
  c.sh_k = info.sh_degree > 0 ? (info.sh_degree + 1) * (info.sh_degree + 1) : 0;
  CHECK((gc->kind == 6) == (c.sh_k == 9), "%s: SH degree %d out", gc->name, info.sh_degree);
  /* the evaluation point: displaced positions, deformed F, parameters away from their defaults */
  int nin = n_inputs(&c);
  double *x = (double *)malloc(sizeof(double) * (size_t)nin);
  for (int p = 0; p < n; ++p) {
    for (int k = 0; k < 3; ++k) x[3 * p + k] = x0[3 * p + k] + 0.15 * dp * test_rand();
    for (int k = 0; k < 9; ++k) x[3 * n + 9 * p + k] = (k % 4 == 0 ? 1.0 : 0.0) + 0.2 * test_rand();
  }
  x[12 * n] = 0.9;
  x[12 * n + 1] = 0.3;
  x[12 * n + 2] = 0.8;
  for (int64_t i = 0; i < 3 * c.m; ++i) x[12 * n + 3 + i] = 0.5 + 0.4 * test_rand();
  for (int64_t i = 0; i < c.m; ++i) x[12 * n + 3 + 3 * c.m + i] = 0.5 * test_rand();
  char name[160];
  snprintf(name, sizeof name, "%s (N %d, M %lld)", gc->name, n, (long long)c.m);
  double err = test_vjp_error(name, f_all, v_all, &c, x, nin, n_outputs(&c), 1e-6, 1e-300, 1);
  CHECK(err <= 1e-6, "%s: relative error %.3e", name, err);

  /* every learnable parameter and both particle inputs receive a gradient */
  double *vy = (double *)malloc(sizeof(double) * (size_t)n_outputs(&c));
  double *vx = (double *)calloc((size_t)nin, sizeof(double));
  for (int i = 0; i < n_outputs(&c); ++i) vy[i] = test_rand();
  v_all(x, vy, vx, &c);
  double nx = 0, nf = 0, ncol = 0, noff = 0;
  for (int i = 0; i < 3 * n; ++i) nx += fabs(vx[i]);
  for (int i = 0; i < 9 * n; ++i) nf += fabs(vx[3 * n + i]);
  for (int64_t i = 0; i < 3 * c.m; ++i) ncol += fabs(vx[12 * n + 3 + i]);
  for (int64_t i = 0; i < c.m; ++i) noff += fabs(vx[12 * n + 3 + 3 * c.m + i]);
  const double *vp = vx + 12 * n;
  CHECK(nx > 0, "%s: no gradient reaches x", gc->name);
  CHECK(nf > 0, "%s: no gradient reaches F", gc->name);
  CHECK(vp[0] != 0, "%s: sigma0 gets no gradient", gc->name);
  CHECK(vp[1] != 0 || gc->kind == 2, "%s: thickness gets no gradient", gc->name);
  CHECK(gc->kind != 2 || vp[1] == 0, "%s: the particles mode is isotropic, thickness must not matter", gc->name);
  CHECK(vp[2] != 0, "%s: the global opacity gets no gradient", gc->name);
  CHECK(ncol > 0, "%s: per-Gaussian colours get no gradient", gc->name);
  CHECK(noff > 0, "%s: per-Gaussian opacity offsets get no gradient", gc->name);
  fprintf(stderr, "   |v_x| %.3g  |v_F| %.3g  v_sigma0 %.3g  v_thickness %.3g  v_opacity %.3g  |v_colours| %.3g  "
                  "|v_offsets| %.3g\n", nx, nf, vp[0], vp[1], vp[2], ncol, noff);
  if (keep_sh) check_sh_forward(&c, x, x0, keep_sh, keep_col, vy, vx);
  free(keep_sh), free(keep_col);
  free(vy);
  free(vx);
  free(x);
  ups_destroy(c.u);
  free(x0);
  free(obj);
}

int main(void) {
  const gcase cases[] = {{"bound, particle-set surface", 0},
                         {"bound, mesh with vertex colours", 1},
                         {"particles", 2},
                         {"runtime (with an isolated particle)", 3},
                         {"bound + runtime objects", 4},
                         {"trained splats + bound surface", 5},
                         {"trained splats with SH (degree 2, rotated) + runtime blob", 6}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) run(&cases[i]);
  return test_summary("test_upsample_grad");
}
