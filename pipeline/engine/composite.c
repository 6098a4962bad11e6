/* composite.c: the CPU loops of the background-plate composite and dispatch through the backend tables (math in
 * composite.h). */
#include "pipeline/engine/composite.h"

static pl_status composite_cpu(int64_t npix, real *rgb, const real *alpha, const real *plate, const double bg[3]) {
  const real b0 = (real)bg[0], b1 = (real)bg[1], b2 = (real)bg[2];
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < npix; ++p) pl_composite_plate_px(rgb + 3 * p, alpha[p], plate + 3 * p, b0, b1, b2);
  return PL_OK;
}

static pl_status composite_vjp_cpu(int64_t npix, const real *v_rgb, const real *plate, const double bg[3],
                                   real *v_alpha) {
  const real b0 = (real)bg[0], b1 = (real)bg[1], b2 = (real)bg[2];
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < npix; ++p) pl_composite_plate_px_vjp(v_rgb + 3 * p, plate + 3 * p, b0, b1, b2, &v_alpha[p]);
  return PL_OK;
}

const pl_composite_backend_ops pl_composite_cpu_ops = {"cpu", composite_cpu, composite_vjp_cpu};

pl_status pl_composite_backend_ops_get(pl_backend backend, const pl_composite_backend_ops **ops) {
  const void *t;
  pl_status s = pl_backend_table(backend, &pl_composite_cpu_ops, PL_CUDA_TABLE(pl_composite_cuda_ops), "composite", &t);
  *ops = (const pl_composite_backend_ops *)t;
  return s;
}

pl_status pl_composite_plate(pl_backend backend, int64_t npix, real *rgb, const real *alpha, const real *plate,
                             const double bg[3]) {
  const pl_composite_backend_ops *ops;
  PL_TRY(pl_composite_backend_ops_get(backend, &ops));
  return ops->plate(npix, rgb, alpha, plate, bg);
}

pl_status pl_composite_plate_vjp(pl_backend backend, int64_t npix, const real *v_rgb, const real *plate,
                                 const double bg[3], real *v_alpha) {
  const pl_composite_backend_ops *ops;
  PL_TRY(pl_composite_backend_ops_get(backend, &ops));
  return ops->plate_vjp(npix, v_rgb, plate, bg, v_alpha);
}
