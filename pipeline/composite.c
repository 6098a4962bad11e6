/* composite.c: the CPU loops of the background-plate composite and dispatch (math in composite.h). */
#include "pipeline/composite.h"

pl_status pl_composite_plate(pl_backend backend, int64_t npix, real *rgb, const real *alpha, const real *plate,
                             const double bg[3]) {
  if (backend == PL_BACKEND_CUDA) {
#ifdef PL_HAVE_CUDA
    return pl_composite_plate_cuda(npix, rgb, alpha, plate, bg);
#else
    return pl_fail(PL_ERR_UNSUPPORTED, "composite: this build has no CUDA backend");
#endif
  }
  const real b0 = (real)bg[0], b1 = (real)bg[1], b2 = (real)bg[2];
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < npix; ++p) pl_composite_plate_px(rgb + 3 * p, alpha[p], plate + 3 * p, b0, b1, b2);
  return PL_OK;
}

pl_status pl_composite_plate_vjp(pl_backend backend, int64_t npix, const real *v_rgb, const real *plate,
                                 const double bg[3], real *v_alpha) {
  if (backend == PL_BACKEND_CUDA) {
#ifdef PL_HAVE_CUDA
    return pl_composite_plate_vjp_cuda(npix, v_rgb, plate, bg, v_alpha);
#else
    return pl_fail(PL_ERR_UNSUPPORTED, "composite: this build has no CUDA backend");
#endif
  }
  const real b0 = (real)bg[0], b1 = (real)bg[1], b2 = (real)bg[2];
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < npix; ++p) pl_composite_plate_px_vjp(v_rgb + 3 * p, plate + 3 * p, b0, b1, b2, &v_alpha[p]);
  return PL_OK;
}
