/* test_loss_cuda.c: CUDA vs CPU image losses and gradients (float), skipped without a device. */
#include <string.h>

#include "pipeline/engine/loss.h"
#include "tests/test_util.h"

int main(void) {
  if (!pl_cuda_compiled()) TEST_SKIP("this build has no CUDA backend");
  if (pl_cuda_device_count(NULL, 0) == 0) TEST_SKIP("no CUDA device");
  const int sizes[][2] = {{1, 1}, {7, 5}, {64, 48}, {257, 129}};
  for (int sc = 0; sc < 4; ++sc) {
    int w = sizes[sc][0], h = sizes[sc][1];
    size_t n = (size_t)w * h;
    real *buf = (real *)calloc(12 * n, sizeof(real));
    real *rgb = buf, *alpha = buf + 3 * n, *trgb = buf + 4 * n, *talpha = buf + 7 * n;
    for (size_t i = 0; i < 3 * n; ++i) rgb[i] = (real)(0.5 + 0.4 * test_rand()), trgb[i] = (real)(0.5 + 0.4 * test_rand());
    for (size_t i = 0; i < n; ++i) alpha[i] = (real)(0.5 + 0.4 * test_rand()), talpha[i] = (real)(0.5 + 0.4 * test_rand());
    double wts[PL_LOSS_COUNT] = {0.7, 0.3, 0.2, 0.1};
    pl_loss_ctx *cc, *gc;
    pl_loss_value vc, vg;
    real *gr_c = (real *)calloc(4 * n, sizeof(real)), *gr_g = (real *)calloc(4 * n, sizeof(real));
    CHECK(pl_loss_ctx_create(&cc, PL_BACKEND_CPU, w, h) == PL_OK, "cpu ctx");
    CHECK(pl_loss_ctx_create(&gc, PL_BACKEND_CUDA, w, h) == PL_OK, "cuda ctx: %s", pl_last_error());
    CHECK(pl_loss_eval(cc, wts, w, h, rgb, alpha, trgb, talpha, 1, gr_c, gr_c + 3 * n, &vc) == PL_OK, "cpu eval");
    pl_buffer d;
    CHECK(pl_buffer_alloc(&d, PL_BACKEND_CUDA, 12 * n * sizeof(real)) == PL_OK, "device buffer");
    pl_buffer_upload(&d, 0, buf, 8 * n * sizeof(real));
    real *db = (real *)d.ptr;
    CHECK(pl_loss_eval(gc, wts, w, h, db, db + 3 * n, db + 4 * n, db + 7 * n, 1, db + 8 * n, db + 11 * n, &vg) == PL_OK,
          "cuda eval: %s", pl_last_error());
    pl_buffer_download(&d, 8 * n * sizeof(real), gr_g, 4 * n * sizeof(real));
    for (int k = 0; k < PL_LOSS_COUNT; ++k)
      CHECK(fabs(vc.term[k] - vg.term[k]) <= 1e-5 * fmax(1e-3, fabs(vc.term[k])), "%dx%d term %d: cpu %g cuda %g", w, h, k,
            vc.term[k], vg.term[k]);
    double e = test_norm_err(gr_g, gr_c, 4 * n, TEST_NORM_L2, 1e-30, NULL);
    CHECK(e < 1e-5, "%dx%d gradient parity %g", w, h, e);
    fprintf(stderr, "%dx%d: loss cpu %.8g cuda %.8g, gradient rel. diff %.2e\n", w, h, vc.total, vg.total, e);
    pl_buffer_free(&d);
    pl_loss_ctx_free(cc);
    pl_loss_ctx_free(gc);
    free(buf);
    free(gr_c);
    free(gr_g);
  }
  return test_summary("test_loss_cuda");
}
