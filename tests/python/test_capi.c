/* test_capi.c: the public C API of libpipeline.so in both precisions in one process, linked together with the
 * static float and double rasterizer libraries (which must not clash: the double symbols end in _f64).
 * One Gaussian seen by one camera: float and double images agree; a handle of the other precision and bad
 * arguments are refused with a message; backward accumulates gradients of the right sign. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "capi/pipeline_api.h"

static int failures = 0;
#define CHECK(c, ...)                                   \
  do {                                                  \
    if (!(c)) {                                         \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);       \
      printf(__VA_ARGS__);                              \
      printf("\n");                                     \
      ++failures;                                       \
    }                                                   \
  } while (0)

int main(void) {
  enum { W = 16, H = 12 };
  double view[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}, K[9] = {20, 0, 8.3, 0, 21, 6.1, 0, 0, 1};
  float mf[3] = {0.05f, -0.02f, 2}, cf[6] = {0.01f, 0.002f, 0, 0.012f, 0, 0.01f}, of[1] = {0.7f}, kf[3] = {1, 0.5f, 0};
  double md[3] = {0.05, -0.02, 2}, cd[6] = {0.01, 0.002, 0, 0.012, 0, 0.01}, od[1] = {0.7}, kd[3] = {1, 0.5, 0};
  float rgbf[W * H * 3], af[W * H];
  double rgbd[W * H * 3], ad[W * H];
  plapi_raster_desc d;
  memset(&d, 0, sizeof d);
  d.device.backend = PLAPI_CPU;
  d.device.threads = 1;
  plapi_raster *rf = NULL, *rd = NULL;
  CHECK(plapi_raster_create(&rf, &d) == PLAPI_OK, "create float: %s", plapi_last_error());
  CHECK(plapi_raster_create_f64(&rd, &d) == PLAPI_OK, "create double: %s", plapi_last_error_f64());
  CHECK(plapi_real_size() == 4 && plapi_real_size_f64() == 8, "real sizes");
  plapi_raster_inputs inf = {1, mf, NULL, NULL, cf, of, kf, -1, 1, W, H, view, K};
  plapi_raster_inputs ind = {1, md, NULL, NULL, cd, od, kd, -1, 1, W, H, view, K};
  plapi_raster_images outf = {rgbf, af, NULL, NULL}, outd = {rgbd, ad, NULL, NULL};
  CHECK(plapi_raster_forward(rf, &inf, &outf) == PLAPI_OK, "forward float: %s", plapi_last_error());
  CHECK(plapi_raster_forward_f64(rd, &ind, &outd) == PLAPI_OK, "forward double: %s", plapi_last_error_f64());
  double maxdiff = 0, amax = 0;
  for (int i = 0; i < W * H; ++i) {
    maxdiff = fmax(maxdiff, fabs((double)af[i] - ad[i]));
    amax = fmax(amax, ad[i]);
  }
  CHECK(amax > 0.5 && maxdiff < 1e-5, "float vs double alpha: max %g, diff %g", amax, maxdiff);
  /* a float handle given to the double function */
  CHECK(plapi_raster_forward_f64(rf, &ind, &outd) != PLAPI_OK && strstr(plapi_last_error_f64(), "precision"),
        "a handle of the other precision is refused: '%s'", plapi_last_error_f64());
  /* bad arguments: no colours; a K with skew */
  plapi_raster_inputs bad = inf;
  bad.colors = NULL;
  CHECK(plapi_raster_forward(rf, &bad, &outf) != PLAPI_OK && strstr(plapi_last_error(), "colors"), "colors NULL");
  double Kbad[9] = {20, 1, 8, 0, 20, 6, 0, 0, 1};
  bad = inf;
  bad.Ks = Kbad;
  CHECK(plapi_raster_forward(rf, &bad, &outf) != PLAPI_OK && strstr(plapi_last_error(), "Ks[0]"), "skewed K");
  /* backward: d(sum alpha)/d opacity > 0, accumulated twice = twice */
  double v_alpha[W * H], g_op[1] = {0}, g_means[3] = {0};
  for (int i = 0; i < W * H; ++i) v_alpha[i] = 1;
  plapi_raster_images v = {NULL, v_alpha, NULL, NULL};
  plapi_raster_grads g;
  memset(&g, 0, sizeof g);
  g.opacities = g_op;
  g.means = g_means;
  CHECK(plapi_raster_forward_f64(rd, &ind, &outd) == PLAPI_OK, "forward again");
  CHECK(plapi_raster_backward_f64(rd, &ind, &v, &g) == PLAPI_OK, "backward: %s", plapi_last_error_f64());
  double once = g_op[0];
  CHECK(plapi_raster_backward_f64(rd, &ind, &v, &g) == PLAPI_OK, "backward again");
  CHECK(once > 0 && fabs(g_op[0] - 2 * once) < 1e-12 * once, "accumulation: %g then %g", once, g_op[0]);
  plapi_raster_free(rf);
  plapi_raster_free_f64(rd);
  plapi_raster_free(NULL);
  printf("test_capi: %s\n", failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
