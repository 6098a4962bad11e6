/* test_loss.c: image losses (double): values against direct computation, SSIM of identical images, and every
 * term's adjoint (and their weighted sum) against central differences. */
#include "pipeline/engine/loss.h"
#include "tests/test_util.h"

#define W 13
#define H 9
#define NPIX (W * H)

typedef struct {
  pl_loss_ctx *ctx;
  double weights[PL_LOSS_COUNT];
  real trgb[3 * NPIX], talpha[NPIX];
} loss_case;

/* x = rgb (3*NPIX) then alpha (NPIX) */
static void f_loss(const double *x, double *y, void *p) {
  loss_case *c = (loss_case *)p;
  pl_loss_value v;
  pl_status s = pl_loss_eval(c->ctx, c->weights, W, H, x, x + 3 * NPIX, c->trgb, c->talpha, 1.0, NULL, NULL, &v);
  y[0] = s == PL_OK ? v.total : NAN;
}
static void v_loss(const double *x, const double *vy, double *vx, void *p) {
  loss_case *c = (loss_case *)p;
  pl_loss_value v;
  pl_loss_eval(c->ctx, c->weights, W, H, x, x + 3 * NPIX, c->trgb, c->talpha, vy[0], vx, vx + 3 * NPIX, &v);
}

int main(void) {
  loss_case c;
  CHECK(pl_loss_ctx_create(&c.ctx, PL_BACKEND_CPU, W, H) == PL_OK, "ctx");
  double x[4 * NPIX];
  for (int i = 0; i < 3 * NPIX; ++i) {
    x[i] = 0.5 + 0.4 * test_rand();
    c.trgb[i] = 0.5 + 0.4 * test_rand();
  }
  for (int i = 0; i < NPIX; ++i) {
    x[3 * NPIX + i] = 0.5 + 0.45 * test_rand();
    c.talpha[i] = 0.5 + 0.45 * test_rand();
  }
  /* values */
  double w1[PL_LOSS_COUNT] = {1, 1, 1, 1};
  pl_loss_value v;
  CHECK(pl_loss_eval(c.ctx, w1, W, H, x, x + 3 * NPIX, c.trgb, c.talpha, 1, NULL, NULL, &v) == PL_OK, "eval");
  double l1 = 0, l2 = 0, m = 0;
  for (int i = 0; i < 3 * NPIX; ++i) {
    l1 += fabs(x[i] - c.trgb[i]);
    l2 += (x[i] - c.trgb[i]) * (x[i] - c.trgb[i]);
  }
  for (int i = 0; i < NPIX; ++i) m += fabs(x[3 * NPIX + i] - c.talpha[i]);
  CHECK(fabs(v.term[PL_LOSS_L1] - l1 / (3 * NPIX)) < 1e-14, "L1 %g vs %g", v.term[PL_LOSS_L1], l1 / (3 * NPIX));
  CHECK(fabs(v.term[PL_LOSS_L2] - l2 / (3 * NPIX)) < 1e-14, "L2");
  CHECK(fabs(v.term[PL_LOSS_MASK] - m / NPIX) < 1e-14, "mask");
  CHECK(v.term[PL_LOSS_DSSIM] > 0.05 && v.term[PL_LOSS_DSSIM] < 1, "DSSIM of unrelated images %g", v.term[PL_LOSS_DSSIM]);
  CHECK(fabs(v.total - (v.term[0] + v.term[1] + v.term[2] + v.term[3])) < 1e-14, "total");
  /* identical images: every term 0, SSIM exactly 1 up to rounding */
  real same[3 * NPIX];
  for (int i = 0; i < 3 * NPIX; ++i) same[i] = c.trgb[i];
  CHECK(pl_loss_eval(c.ctx, w1, W, H, same, c.talpha, c.trgb, c.talpha, 1, NULL, NULL, &v) == PL_OK, "eval same");
  CHECK(fabs(v.total) < 1e-12, "loss of identical images %g", v.total);
  /* SSIM is invariant to nothing trivial: a constant shift lowers it */
  for (int i = 0; i < 3 * NPIX; ++i) same[i] = c.trgb[i] + 0.2;
  pl_loss_eval(c.ctx, w1, W, H, same, c.talpha, c.trgb, c.talpha, 1, NULL, NULL, &v);
  CHECK(v.term[PL_LOSS_DSSIM] > 1e-3, "shifted image DSSIM %g", v.term[PL_LOSS_DSSIM]);
  /* adjoints, term by term and together */
  const char *names[] = {"L1", "L2", "DSSIM", "mask", "weighted sum"};
  for (int t = 0; t <= PL_LOSS_COUNT; ++t) {
    for (int k = 0; k < PL_LOSS_COUNT; ++k) c.weights[k] = (t == PL_LOSS_COUNT) ? 0.3 + 0.2 * k : (k == t);
    char name[64];
    snprintf(name, sizeof name, "loss vjp: %s", names[t]);
    double e = test_vjp_error(name, f_loss, v_loss, &c, x, 4 * NPIX, 1, 1e-6, 1e-12, 1);
    CHECK(e <= 1e-6, "%s: relative error %g", name, e);
  }
  /* errors */
  CHECK(pl_loss_eval(c.ctx, w1, W + 1, H, x, x, c.trgb, c.talpha, 1, NULL, NULL, &v) == PL_ERR_INVALID, "size mismatch");
  CHECK(pl_loss_eval(c.ctx, w1, W, H, x, NULL, c.trgb, c.talpha, 1, NULL, NULL, &v) == PL_ERR_INVALID, "mask needs alpha");
  x[7] = NAN;
  CHECK(pl_loss_eval(c.ctx, w1, W, H, x, x + 3 * NPIX, c.trgb, c.talpha, 1, NULL, NULL, &v) == PL_ERR_NUMERIC, "NaN image");
  pl_loss_ctx_free(c.ctx);
  return test_summary("test_loss");
}
