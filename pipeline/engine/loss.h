/* loss.h: image losses between a rendered image and a target, with their adjoint.
 *
 * Images are `real` arrays on the context's backend (host memory for cpu, device memory for cuda):
 * rgb [H][W][3], alpha [H][W]; the target the same (target alpha may be NULL when the mask term is off).
 * pl_loss_eval returns the weighted loss and its terms, and when v_rgb / v_alpha are given ACCUMULATES
 * scale * dL/drgb and scale * dL/dalpha into them. Terms with weight 0 cost nothing. */
#ifndef PL_LOSS_H
#define PL_LOSS_H

#include "core/backend.h"
#include "core/hd.h"
#include "pipeline/scene/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  double total;                 /* sum of weight * term */
  double term[PL_LOSS_COUNT];   /* each term unweighted: L1, L2, DSSIM, mask */
} pl_loss_value;

typedef struct pl_loss_ctx pl_loss_ctx;

/* Scratch for images of up to width x height on `backend` (cpu or cuda). */
pl_status pl_loss_ctx_create(pl_loss_ctx **ctx, pl_backend backend, int width, int height);
void pl_loss_ctx_free(pl_loss_ctx *ctx);

pl_status pl_loss_eval(pl_loss_ctx *ctx, const double weights[PL_LOSS_COUNT], int width, int height,
                       const real *rgb, const real *alpha, const real *target_rgb, const real *target_alpha,
                       double scale, real *v_rgb, real *v_alpha, pl_loss_value *out);

/* Scratch handed to the backends. */
typedef struct {
  real *blur[5];  /* 5 planes of H*W: filtered statistics (and reused for cotangents) */
  real *tmp;      /* one plane of H*W: separable-filter intermediate */
  double *partial; /* per-row partial sums (CPU) or per-block (CUDA) */
} pl_loss_scratch;

/* A backend's table (loss_cpu.c, loss_cuda.cu): eval has pl_loss_eval's contract, with the scratch given. */
typedef struct {
  const char *name;
  pl_status (*eval)(const pl_loss_scratch *s, const double weights[PL_LOSS_COUNT], int width, int height,
                    const real *rgb, const real *alpha, const real *target_rgb, const real *target_alpha,
                    double scale, real *v_rgb, real *v_alpha, pl_loss_value *out);
} pl_loss_backend_ops;

extern const pl_loss_backend_ops pl_loss_cpu_ops;
extern const pl_loss_backend_ops pl_loss_cuda_ops; /* builds with CUDA only */

/* The table of a resolved backend; one this build lacks is PL_ERR_UNSUPPORTED, with a message. */
pl_status pl_loss_backend_ops_get(pl_backend backend, const pl_loss_backend_ops **ops);

#ifdef __cplusplus
}
#endif
#endif
