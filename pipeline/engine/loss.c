/* loss.c: image-loss context (scratch on the backend), validation, and dispatch through the backend tables. */
#include "pipeline/engine/loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct pl_loss_ctx {
  pl_backend backend;
  const pl_loss_backend_ops *ops;
  int width, height;
  pl_buffer planes;   /* 6 planes of H*W reals */
  pl_buffer partial;  /* per-row (cpu) or per-block (cuda) partial sums */
  pl_loss_scratch scratch;
};

pl_status pl_loss_backend_ops_get(pl_backend backend, const pl_loss_backend_ops **ops) {
  const void *t;
  pl_status s = pl_backend_table(backend, &pl_loss_cpu_ops, PL_CUDA_TABLE(pl_loss_cuda_ops), "loss", &t);
  *ops = (const pl_loss_backend_ops *)t;
  return s;
}

pl_status pl_loss_ctx_create(pl_loss_ctx **out, pl_backend backend, int width, int height) {
  *out = NULL;
  if (width <= 0 || height <= 0) return pl_fail(PL_ERR_INVALID, "loss: bad image size %dx%d", width, height);
  const pl_loss_backend_ops *ops;
  PL_TRY(pl_loss_backend_ops_get(backend, &ops));
  pl_loss_ctx *c = (pl_loss_ctx *)calloc(1, sizeof *c);
  if (!c) return pl_fail(PL_ERR_NOMEM, "out of memory");
  c->backend = backend;
  c->ops = ops;
  c->width = width;
  c->height = height;
  size_t npix = (size_t)width * (size_t)height;
  size_t nparts = backend == PL_BACKEND_CPU ? 3 * (size_t)height : 3 * ((npix + 255) / 256);
  pl_status s = pl_buffer_alloc(&c->planes, backend, 6 * npix * sizeof(real));
  if (s == PL_OK) s = pl_buffer_alloc(&c->partial, backend, nparts * sizeof(double));
  if (s != PL_OK) {
    pl_loss_ctx_free(c);
    return s;
  }
  for (int k = 0; k < 5; ++k) c->scratch.blur[k] = (real *)c->planes.ptr + (size_t)k * npix;
  c->scratch.tmp = (real *)c->planes.ptr + 5 * npix;
  c->scratch.partial = (double *)c->partial.ptr;
  *out = c;
  return PL_OK;
}

void pl_loss_ctx_free(pl_loss_ctx *c) {
  if (!c) return;
  pl_buffer_free(&c->planes);
  pl_buffer_free(&c->partial);
  free(c);
}

pl_status pl_loss_eval(pl_loss_ctx *c, const double weights[PL_LOSS_COUNT], int width, int height, const real *rgb,
                       const real *alpha, const real *target_rgb, const real *target_alpha, double scale, real *v_rgb,
                       real *v_alpha, pl_loss_value *out) {
  memset(out, 0, sizeof *out);
  if (width != c->width || height != c->height)
    return pl_fail(PL_ERR_INVALID, "loss: image is %dx%d but the loss context was made for %dx%d", width, height,
                   c->width, c->height);
  if (!rgb || !target_rgb) return pl_fail(PL_ERR_INVALID, "loss: missing image");
  if (weights[PL_LOSS_MASK] != 0 && (!alpha || !target_alpha))
    return pl_fail(PL_ERR_INVALID, "loss: the mask term needs the rendered and the target alpha");
  for (int k = 0; k < PL_LOSS_COUNT; ++k)
    if (!(weights[k] >= 0) || !isfinite(weights[k])) return pl_fail(PL_ERR_INVALID, "loss: bad weight %g", weights[k]);
  pl_status s = c->ops->eval(&c->scratch, weights, width, height, rgb, alpha, target_rgb, target_alpha, scale, v_rgb,
                             v_alpha, out);
  if (s == PL_OK && !isfinite(out->total))
    return pl_fail(PL_ERR_NUMERIC, "loss: the loss is not finite (NaN or Inf in the rendered image?)");
  return s;
}
