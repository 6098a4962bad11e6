/* test_rgb_weights.c: the image loss's per-pixel RGB weights (pl_engine_set_rgb_weights; the appearance stage's
 * masks, optimize.appearance_mask). With 0/1 weights the gradient must be that of the L2 loss over the weight-1
 * pixels. Checked against an independent route to the same function: the unweighted loss whose targets outside
 * the weights are the rendered image itself (zero residual there, so zero L2 gradient), at the same point. Both
 * routes differ in everything but the loss code: one weighs the cotangents, the other changes the targets.
 * Per-Gaussian colour gradients (upsampler) and the material's dL/dE (through the simulation), in float. Also:
 * weights 0 give no colour gradient at all, and setting NULL gives back the unweighted gradient. And
 * pl_engine_hold_colors (optimize.appearance_hold): a held engine's appearance step leaves the colours. */
#include <math.h>

#include "pipeline/engine/engine.h"
#include "pipeline/engine/engine_objective.h"
#include "pipeline/engine/engine_internal.h"
#include "pipeline/io/targets.h"
#include "tests/pipeline/engine_fixture.h"
#include "tests/test_util.h"

static const char *SCENE =
    "[sim]\ngrid = 20\nframes = 2\nfps = 30\nboundary = separate\n"
    "[material jelly]\nmodel = fixed_corotated\nE = 4e4\nnu = 0.3\ndensity = 1000\ncolor = 0.85 0.35 0.3\n"
    "[object cube]\nshape = box\nmaterial = jelly\ncenter = 0.5 0.42 0.5\nsize = 0.3\nrotation = 0 25 0\n"
    "velocity = 0 -2.5 0\n"
    "[camera front]\neye = 0.5 0.5 2.1\ntarget = 0.5 0.42 0.5\nfov = 30\n"
    "[render]\nwidth = 24\nheight = 24\nbackground = 1 1 1\n"
    "[upsample]\nlearn_colors = true\n"
    "[targets]\nframes = 2\n"
    "[optimize]\nloss = l2:1\n"
    "[param material.jelly.E]\n"
    "[truth]\nmaterial.jelly.E = 2e4\n";

/* the per-Gaussian colour gradients and dL/dE after a gradient evaluation of frame 2 */
static pl_status grads(pl_engine *e, pl_optimizer *o, real *gc, double *dE) {
  pl_loss_value v;
  PL_TRY(pl_engine_eval(e, "2", 1, o, &v));
  ups_grads g;
  ups_get_grads(e->ups, &g);
  memcpy(gc, g.colors, 3 * (size_t)e->m * sizeof(real)); /* CPU backend: host memory */
  *dE = o->p[0].grad[0];
  return PL_OK;
}

static double max_abs(const real *a, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = fmax(m, fabs((double)a[i]));
  return m;
}

int main(void) {
  pl_test_engine f;
  pl_status st = pl_test_engine_open(&f, SCENE);
  pl_engine *const e = f.e;
  CHECK(st == PL_OK && e->backend == PL_BACKEND_CPU, "set-up (CPU): %s", pl_last_error());
  if (st != PL_OK) {
    pl_test_engine_close(&f);
    return test_summary("test_rgb_weights");
  }
  const int w = f.s.cameras[0].width, h = f.s.cameras[0].height, np = w * h;
  size_t n3 = 3 * (size_t)e->m;
  real *g_all = (real *)malloc(n3 * sizeof(real)), *g_w = (real *)malloc(n3 * sizeof(real));
  real *g_ref = (real *)malloc(n3 * sizeof(real)), *g_0 = (real *)malloc(n3 * sizeof(real));
  real *weight = (real *)malloc((size_t)np * sizeof(real)), *zero = (real *)calloc((size_t)np, sizeof(real));
  float *rgb = (float *)malloc(3 * (size_t)np * sizeof(float));
  double dE_all, dE_w, dE_ref, dE_0, dE_back;
  /* the weights: a disc around the image's centre-left (part of the body, part of the background) */
  int64_t ones = 0;
  for (int i = 0; i < h; ++i)
    for (int j = 0; j < w; ++j) {
      double di = i - h * 0.5, dj = j - w * 0.4;
      weight[i * w + j] = di * di + dj * dj <= 0.3 * w * 0.3 * w ? 1 : 0;
      ones += weight[i * w + j] > 0;
    }
  CHECK(grads(e, &f.o, g_all, &dE_all) == PL_OK, "unweighted: %s", pl_last_error());
  CHECK(pl_engine_set_rgb_weights(e, weight) == PL_OK, "weights");
  CHECK(grads(e, &f.o, g_w, &dE_w) == PL_OK, "weighted: %s", pl_last_error());
  CHECK(pl_engine_download_camera(e, 0, rgb, NULL) == PL_OK, "the rendered frame: %s", pl_last_error());
  CHECK(pl_engine_set_rgb_weights(e, zero) == PL_OK, "zero weights");
  CHECK(grads(e, &f.o, g_0, &dE_0) == PL_OK, "zero-weighted: %s", pl_last_error());
  CHECK(pl_engine_set_rgb_weights(e, NULL) == PL_OK, "no weights");
  CHECK(grads(e, &f.o, g_ref, &dE_back) == PL_OK, "unweighted again: %s", pl_last_error());
  double back = 0;
  for (size_t i = 0; i < n3; ++i) back = fmax(back, fabs((double)(g_ref[i] - g_all[i])));
  CHECK(back == 0 && dE_back == dE_all, "NULL weights give back the unweighted gradient (%.3g)", back);
  CHECK(max_abs(g_0, n3) == 0 && dE_0 == 0, "weights 0: no colour gradient (%.3g), dL/dE %.3g",
        max_abs(g_0, n3), dE_0);
  /* the independent route: the targets outside the weights set to the rendered image */
  int k = 0 * f.t.nframes + 2;
  CHECK(f.t.rgb[k] != NULL, "target of frame 2");
  for (int p = 0; p < np; ++p)
    if (weight[p] == 0)
      for (int c = 0; c < 3; ++c) f.t.rgb[k][3 * p + c] = rgb[3 * p + c];
  CHECK(pl_engine_set_targets(e, &f.t) == PL_OK, "modified targets: %s", pl_last_error());
  CHECK(grads(e, &f.o, g_ref, &dE_ref) == PL_OK, "modified targets: %s", pl_last_error());
  double err = 0, sc = max_abs(g_ref, n3), diff_all = 0;
  for (size_t i = 0; i < n3; ++i) {
    err = fmax(err, fabs((double)(g_w[i] - g_ref[i])));
    diff_all = fmax(diff_all, fabs((double)(g_w[i] - g_all[i])));
  }
  printf("weights: %lld of %d pixels; colour gradients: |weighted - reference| %.3g of %.3g, |weighted - "
         "unweighted| %.3g; dL/dE weighted %.6g, reference %.6g, unweighted %.6g\n",
         (long long)ones, np, err, sc, diff_all, dE_w, dE_ref, dE_all);
  CHECK(sc > 0 && err <= 1e-5 * sc, "weighted colour gradients = the reference route's (%.3g of %.3g)", err, sc);
  CHECK(diff_all > 1e-2 * sc, "the weights change the colour gradients (%.3g of %.3g)", diff_all, sc);
  CHECK(fabs(dE_w - dE_ref) <= 1e-4 * fabs(dE_ref) && fabs(dE_w - dE_all) > 1e-3 * fabs(dE_all),
        "dL/dE weighted = the reference route's (%.6g vs %.6g), and differs from the unweighted (%.6g)", dE_w, dE_ref,
        dE_all);
  /* optimize.appearance_hold: a held engine's appearance step leaves the colours; released, it moves them */
  real *cbuf, *bbuf, *before = (real *)malloc(n3 * sizeof(real));
  ups_param_buffers(e->ups, &cbuf, &bbuf);
  for (int hold = 1; hold >= 0; --hold) {
    pl_engine_hold_colors(e, hold);
    CHECK(grads(e, &f.o, g_w, &dE_w) == PL_OK, "gradient: %s", pl_last_error());
    memcpy(before, cbuf, n3 * sizeof(real));
    CHECK(pl_engine_appearance_step(e, 1.0) == PL_OK, "appearance step: %s", pl_last_error());
    double moved = 0;
    for (size_t i = 0; i < n3; ++i) moved = fmax(moved, fabs((double)(cbuf[i] - before[i])));
    CHECK(hold ? moved == 0 : moved > 0, "appearance step with the colours %s: they moved by %.3g",
          hold ? "held" : "learnt", moved);
  }
  free(before);
  free(g_all), free(g_w), free(g_ref), free(g_0), free(weight), free(zero), free(rgb);
  pl_test_engine_close(&f);
  return test_summary("test_rgb_weights");
}
