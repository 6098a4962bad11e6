/* raster_backend.c: what the front (raster.c) and the backends (raster_cpu.c, raster_cuda.cu) share: the
 * backend tables by name, and the context's scratch buffers. The backends include only raster_internal.h and
 * call only this file; raster.c reaches them only through their tables. */
#include <stdlib.h>
#include <string.h>

#include "raster/raster_internal.h"

pl_status raster_backend_ops_get(pl_backend backend, const raster_backend_ops **ops) {
  const void *t;
  pl_status s = pl_backend_table(backend, &raster_cpu_ops, PL_CUDA_TABLE(raster_cuda_ops), "rasterizer", &t);
  *ops = (const raster_backend_ops *)t;
  return s;
}

pl_status raster_reserve(raster_ctx *ctx, pl_buffer *b, size_t bytes) {
  if (b->ptr && b->bytes >= bytes) return PL_OK;
  size_t want = bytes + bytes / 4;
  if (want < 256) want = 256;
  pl_buffer_free(b);
  pl_status s = pl_buffer_alloc(b, ctx->backend, want);
  if (s != PL_OK) {
    memset(b, 0, sizeof *b);
    return pl_fail_context(s, "rasterizer scratch (%zu bytes): ", bytes);
  }
  return PL_OK;
}

/* Every scratch buffer of a context, once (free and size walk the same list). */
#define RASTER_SCRATCH_LIST(ctx)                                                                                   \
  {&(ctx)->d_cams,  &(ctx)->splats,   &(ctx)->colors,   &(ctx)->counts,   &(ctx)->offsets,    &(ctx)->tile_start, \
   &(ctx)->sorted,  &(ctx)->pix_T,    &(ctx)->pix_n,    &(ctx)->pix_d,    &(ctx)->v2d,        &(ctx)->order,      \
   &(ctx)->nvis,    &(ctx)->sort_tmp, &(ctx)->rank_of,  &(ctx)->hist,     &(ctx)->inv,        &(ctx)->pairgrad,   \
   &(ctx)->keys,    &(ctx)->keys_alt, &(ctx)->vals_alt, &(ctx)->cub_tmp,  &(ctx)->dev_scalars, &(ctx)->splats_r, \
   &(ctx)->counts_r}

void raster_scratch_free(raster_ctx *ctx) {
  pl_buffer *bufs[] = RASTER_SCRATCH_LIST(ctx);
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i) pl_buffer_free(bufs[i]);
}

int64_t raster_scratch_bytes(const raster_ctx *ctx) {
  const pl_buffer *bufs[] = RASTER_SCRATCH_LIST(ctx);
  int64_t total = 0;
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; ++i) total += (int64_t)bufs[i]->bytes;
  return total;
}
