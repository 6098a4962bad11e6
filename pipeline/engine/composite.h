/* composite.h: a camera's background plate behind the rendered Gaussians, with its adjoint.
 *
 * The rasterizer composites a constant background b: rgb = C + T b, alpha = 1 - T (C the splats' colour sum,
 * T the transmittance left). A capture gives a per-pixel background P (the camera's photo of the empty scene);
 * the image the loss compares with the photo is C + T P, i.e.
 *     out = rgb + (1 - alpha) (P - b)
 * computed in place over rgb. Adjoint (out depends on rgb with identity and on alpha): v_rgb passes through,
 *     v_alpha += - sum_k v_out_k (P_k - b_k).
 * Derivation: docs/adjoints.md ("Background plates"); test: tests/pipeline/test_capture.c (central differences). */
#ifndef PL_COMPOSITE_H
#define PL_COMPOSITE_H

#include <stdint.h>

#include "core/backend.h"
#include "core/hd.h"

HD void pl_composite_plate_px(real *rgb, real alpha, const real *plate, real b0, real b1, real b2) {
  const real t = 1 - alpha;
  rgb[0] += t * (plate[0] - b0);
  rgb[1] += t * (plate[1] - b1);
  rgb[2] += t * (plate[2] - b2);
}

HD void pl_composite_plate_px_vjp(const real *v_out, const real *plate, real b0, real b1, real b2, real *v_alpha) {
  *v_alpha -= v_out[0] * (plate[0] - b0) + v_out[1] * (plate[1] - b1) + v_out[2] * (plate[2] - b2);
}

#ifdef __cplusplus
extern "C" {
#endif

/* Over npix pixels on `backend` (arrays there): rgb [npix][3] in place, alpha [npix], plate [npix][3]. */
pl_status pl_composite_plate(pl_backend backend, int64_t npix, real *rgb, const real *alpha, const real *plate,
                             const double bg[3]);
/* v_alpha [npix] += adjoint; v_rgb [npix][3] unchanged (identity). */
pl_status pl_composite_plate_vjp(pl_backend backend, int64_t npix, const real *v_rgb, const real *plate,
                                 const double bg[3], real *v_alpha);

/* A backend's table (composite.c, composite_cuda.cu), the two entry points above on that backend. */
typedef struct {
  const char *name;
  pl_status (*plate)(int64_t npix, real *rgb, const real *alpha, const real *plate, const double bg[3]);
  pl_status (*plate_vjp)(int64_t npix, const real *v_rgb, const real *plate, const double bg[3], real *v_alpha);
} pl_composite_backend_ops;

extern const pl_composite_backend_ops pl_composite_cpu_ops;
extern const pl_composite_backend_ops pl_composite_cuda_ops; /* builds with CUDA only */

/* The table of a resolved backend; one this build lacks is PL_ERR_UNSUPPORTED, with a message. */
pl_status pl_composite_backend_ops_get(pl_backend backend, const pl_composite_backend_ops **ops);

#ifdef __cplusplus
}
#endif
#endif
