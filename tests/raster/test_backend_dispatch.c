/* test_backend_dispatch.c: the backend tables of the rasterizer, the image loss and the background composite.
 * Each module reaches its backends only through its table (raster_backend_ops, pl_loss_backend_ops,
 * pl_composite_backend_ops); asking for a backend the build lacks is PL_ERR_UNSUPPORTED with a message naming it,
 * never a silent no-op. Built twice: against the double libraries (no CUDA backend in them, as in a CPU-only build:
 * the refusals are checked) and the float ones (with CUDA when nvcc was found: the CUDA tables are checked). */
#include "pipeline/engine/composite.h"
#include "pipeline/engine/loss.h"
#include "raster/raster_internal.h"
#include "tests/test_util.h"

static int refused(pl_status s, const char *module) {
  return s == PL_ERR_UNSUPPORTED && strstr(pl_last_error(), module) && strstr(pl_last_error(), "CUDA");
}

int main(void) {
#ifdef PL_REAL_DOUBLE
  const int cuda = 0; /* the double libraries never hold the CUDA backend */
#else
  const int cuda = pl_cuda_compiled();
#endif
  const raster_backend_ops *ro = NULL;
  const pl_loss_backend_ops *lo = NULL;
  const pl_composite_backend_ops *co = NULL;
  /* the CPU tables: complete */
  CHECK(raster_backend_ops_get(PL_BACKEND_CPU, &ro) == PL_OK && ro && !strcmp(ro->name, "cpu") && ro->check &&
            ro->forward && ro->backward,
        "raster cpu table: %s", pl_last_error());
  CHECK(pl_loss_backend_ops_get(PL_BACKEND_CPU, &lo) == PL_OK && lo && !strcmp(lo->name, "cpu") && lo->eval,
        "loss cpu table: %s", pl_last_error());
  CHECK(pl_composite_backend_ops_get(PL_BACKEND_CPU, &co) == PL_OK && co && !strcmp(co->name, "cpu") && co->plate &&
            co->plate_vjp,
        "composite cpu table: %s", pl_last_error());
  /* CUDA: its tables when compiled in, a refusal naming the module otherwise */
  pl_status s = raster_backend_ops_get(PL_BACKEND_CUDA, &ro);
  if (cuda)
    CHECK(s == PL_OK && ro && !strcmp(ro->name, "cuda") && ro->forward, "raster cuda table: %s", pl_last_error());
  else
    CHECK(refused(s, "rasterizer") && ro == NULL, "raster cuda lookup: status %d, '%s'", (int)s, pl_last_error());
  s = pl_loss_backend_ops_get(PL_BACKEND_CUDA, &lo);
  if (cuda)
    CHECK(s == PL_OK && lo && !strcmp(lo->name, "cuda") && lo->eval, "loss cuda table: %s", pl_last_error());
  else
    CHECK(refused(s, "loss") && lo == NULL, "loss cuda lookup: status %d, '%s'", (int)s, pl_last_error());
  s = pl_composite_backend_ops_get(PL_BACKEND_CUDA, &co);
  if (cuda)
    CHECK(s == PL_OK && co && !strcmp(co->name, "cuda") && co->plate, "composite cuda table: %s", pl_last_error());
  else
    CHECK(refused(s, "composite") && co == NULL, "composite cuda lookup: status %d, '%s'", (int)s, pl_last_error());
  if (!cuda) {
    /* through the public entry points */
    raster_desc d = {0};
    d.backend = PL_BACKEND_CUDA;
    raster_ctx *ctx = NULL;
    s = raster_create(&ctx, &d);
    CHECK(s == PL_ERR_UNSUPPORTED && ctx == NULL && strstr(pl_last_error(), "CUDA"), "raster_create(cuda): %d, '%s'",
          (int)s, pl_last_error());
    pl_loss_ctx *lc = NULL;
    s = pl_loss_ctx_create(&lc, PL_BACKEND_CUDA, 8, 8);
    CHECK(refused(s, "loss") && lc == NULL, "pl_loss_ctx_create(cuda): %d, '%s'", (int)s, pl_last_error());
    real rgb[3] = {0, 0, 0}, alpha[1] = {0}, plate[3] = {1, 1, 1};
    const double bg[3] = {0, 0, 0};
    s = pl_composite_plate(PL_BACKEND_CUDA, 1, rgb, alpha, plate, bg);
    CHECK(refused(s, "composite") && rgb[0] == 0, "pl_composite_plate(cuda): %d, '%s'", (int)s, pl_last_error());
  }
  /* a backend value that is not a resolved one */
  s = raster_backend_ops_get(PL_BACKEND_AUTO, &ro);
  CHECK(s == PL_ERR_INVALID && ro == NULL, "raster lookup of auto: %d", (int)s);
  fprintf(stderr, "backend tables: cpu complete; cuda %s\n", cuda ? "present" : "refused with PL_ERR_UNSUPPORTED");
  return test_summary(cuda ? "test_backend_dispatch" : "test_backend_dispatch (no CUDA backend)");
}
