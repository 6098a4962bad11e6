#include "core/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pl_backend_name(pl_backend b) {
  switch (b) {
    case PL_BACKEND_AUTO: return "auto";
    case PL_BACKEND_CPU: return "cpu";
    case PL_BACKEND_CUDA: return "cuda";
  }
  return "?";
}

pl_status pl_backend_parse(const char *name, pl_backend *out) {
  if (strcmp(name, "auto") == 0) *out = PL_BACKEND_AUTO;
  else if (strcmp(name, "cpu") == 0) *out = PL_BACKEND_CPU;
  else if (strcmp(name, "cuda") == 0) *out = PL_BACKEND_CUDA;
  else return pl_fail(PL_ERR_INVALID, "unknown backend '%s' (choose auto, cpu or cuda)", name);
  return PL_OK;
}

int pl_cuda_compiled(void) {
#ifdef PL_HAVE_CUDA
  return 1;
#else
  return 0;
#endif
}

#ifndef PL_HAVE_CUDA
/* A build without the CUDA backend (or the double-precision CPU build): no devices, and every device
 * operation reports that this build cannot serve it. */
int pl_cuda_device_count(char *desc, size_t desc_size) {
  if (desc && desc_size) desc[0] = '\0';
  return 0;
}
static pl_status no_cuda(void) { return pl_fail(PL_ERR_UNSUPPORTED, "this build has no CUDA backend"); }
pl_status pl_cuda_malloc(void **ptr, size_t bytes) {
  (void)bytes;
  *ptr = NULL;
  return no_cuda();
}
void pl_cuda_free(void *ptr) { (void)ptr; }
size_t pl_cuda_mem_used(void) { return 0; }
pl_status pl_cuda_set_allocator(pl_cuda_alloc_fn alloc, pl_cuda_free_fn free_fn, void *user) {
  (void)alloc, (void)free_fn, (void)user;
  return no_cuda();
}
pl_status pl_cuda_stream_sync(void *stream) {
  (void)stream;
  return no_cuda();
}
pl_status pl_cuda_memcpy_h2d(void *dst, const void *src, size_t bytes) {
  (void)dst, (void)src, (void)bytes;
  return no_cuda();
}
pl_status pl_cuda_memcpy_d2h(void *dst, const void *src, size_t bytes) {
  (void)dst, (void)src, (void)bytes;
  return no_cuda();
}
pl_status pl_cuda_memcpy_d2d(void *dst, const void *src, size_t bytes) {
  (void)dst, (void)src, (void)bytes;
  return no_cuda();
}
pl_status pl_cuda_memset0(void *ptr, size_t bytes) {
  (void)ptr, (void)bytes;
  return no_cuda();
}
pl_status pl_cuda_sync(const char *what) {
  (void)what;
  return PL_OK;
}
#endif

pl_status pl_backend_resolve(pl_backend requested, pl_backend *out, char *why, size_t why_size) {
  char scratch[8];
  if (!why) {
    why = scratch;
    why_size = sizeof scratch;
  }
  int compiled = pl_cuda_compiled();
  int ndev = compiled ? pl_cuda_device_count(NULL, 0) : 0;
  switch (requested) {
    case PL_BACKEND_CPU:
      *out = PL_BACKEND_CPU;
      snprintf(why, why_size, "cpu (requested)");
      return PL_OK;
    case PL_BACKEND_CUDA:
      if (!compiled)
        return pl_fail(PL_ERR_UNSUPPORTED, "backend 'cuda' requested but this build has no CUDA backend "
                                           "(rebuild with nvcc on PATH, or use backend=cpu)");
      if (ndev == 0)
        return pl_fail(PL_ERR_NO_DEVICE, "backend 'cuda' requested but no CUDA device was found");
      *out = PL_BACKEND_CUDA;
      snprintf(why, why_size, "cuda (requested, %d device%s)", ndev, ndev == 1 ? "" : "s");
      return PL_OK;
    case PL_BACKEND_AUTO:
      if (compiled && ndev > 0) {
        *out = PL_BACKEND_CUDA;
        snprintf(why, why_size, "cuda (auto: %d device%s found)", ndev, ndev == 1 ? "" : "s");
      } else {
        *out = PL_BACKEND_CPU;
        snprintf(why, why_size, "cpu (auto: %s)", compiled ? "no CUDA device found" : "built without CUDA");
      }
      return PL_OK;
  }
  return pl_fail(PL_ERR_INVALID, "invalid backend value %d", (int)requested);
}

pl_status pl_buffer_alloc(pl_buffer *b, pl_backend backend, size_t bytes) {
  memset(b, 0, sizeof *b);
  if (backend == PL_BACKEND_CPU) {
    b->ptr = bytes ? calloc(1, bytes) : NULL;
    if (bytes && !b->ptr) return pl_fail(PL_ERR_NOMEM, "out of host memory allocating %zu bytes", bytes);
  } else if (backend == PL_BACKEND_CUDA) {
    if (!pl_cuda_compiled()) return pl_fail(PL_ERR_UNSUPPORTED, "this build has no CUDA backend");
    if (bytes) {
      PL_TRY(pl_cuda_malloc(&b->ptr, bytes));
      pl_status s = pl_cuda_memset0(b->ptr, bytes);
      if (s != PL_OK) {
        pl_cuda_free(b->ptr);
        b->ptr = NULL;
        return s;
      }
    }
  } else {
    return pl_fail(PL_ERR_INVALID, "pl_buffer_alloc: resolve the backend first (got '%s')", pl_backend_name(backend));
  }
  b->bytes = bytes;
  b->backend = backend;
  return PL_OK;
}

void pl_buffer_free(pl_buffer *b) {
  if (!b || !b->ptr) return;
  if (b->backend == PL_BACKEND_CUDA) {
    if (pl_cuda_compiled()) pl_cuda_free(b->ptr);
  } else {
    free(b->ptr);
  }
  b->ptr = NULL;
  b->bytes = 0;
}

static pl_status check_range(const pl_buffer *b, size_t offset, size_t bytes, const char *what) {
  if (offset > b->bytes || bytes > b->bytes - offset)
    return pl_fail(PL_ERR_INTERNAL, "%s: range [%zu, %zu) outside buffer of %zu bytes", what, offset,
                   offset + bytes, b->bytes);
  return PL_OK;
}

pl_status pl_buffer_upload(pl_buffer *b, size_t offset, const void *host, size_t bytes) {
  PL_TRY(check_range(b, offset, bytes, "pl_buffer_upload"));
  if (!bytes) return PL_OK;
  if (b->backend == PL_BACKEND_CUDA) return pl_cuda_memcpy_h2d((char *)b->ptr + offset, host, bytes);
  memcpy((char *)b->ptr + offset, host, bytes);
  return PL_OK;
}

pl_status pl_buffer_download(const pl_buffer *b, size_t offset, void *host, size_t bytes) {
  PL_TRY(check_range(b, offset, bytes, "pl_buffer_download"));
  if (!bytes) return PL_OK;
  if (b->backend == PL_BACKEND_CUDA) return pl_cuda_memcpy_d2h(host, (const char *)b->ptr + offset, bytes);
  memcpy(host, (const char *)b->ptr + offset, bytes);
  return PL_OK;
}

pl_status pl_buffer_zero(pl_buffer *b) {
  if (!b->bytes) return PL_OK;
  if (b->backend == PL_BACKEND_CUDA) return pl_cuda_memset0(b->ptr, b->bytes);
  memset(b->ptr, 0, b->bytes);
  return PL_OK;
}

pl_status pl_buffer_copy(pl_buffer *dst, size_t dst_offset, const pl_buffer *src, size_t src_offset, size_t bytes) {
  PL_TRY(check_range(dst, dst_offset, bytes, "pl_buffer_copy (dst)"));
  PL_TRY(check_range(src, src_offset, bytes, "pl_buffer_copy (src)"));
  if (!bytes) return PL_OK;
  char *d = (char *)dst->ptr + dst_offset;
  const char *s = (const char *)src->ptr + src_offset;
  if (dst->backend == PL_BACKEND_CPU && src->backend == PL_BACKEND_CPU) {
    memmove(d, s, bytes);
    return PL_OK;
  }
  if (dst->backend == PL_BACKEND_CUDA && src->backend == PL_BACKEND_CUDA) return pl_cuda_memcpy_d2d(d, s, bytes);
  if (dst->backend == PL_BACKEND_CUDA) return pl_cuda_memcpy_h2d(d, s, bytes);
  return pl_cuda_memcpy_d2h(d, s, bytes);
}

pl_status pl_backend_table(pl_backend backend, const void *cpu, const void *cuda, const char *module,
                           const void **out) {
  *out = NULL;
  switch (backend) {
    case PL_BACKEND_CPU:
      *out = cpu;
      return PL_OK;
    case PL_BACKEND_CUDA:
      if (!cuda)
        return pl_fail(PL_ERR_UNSUPPORTED, "%s: backend 'cuda' requested but this build has no CUDA backend (rebuild "
                       "with nvcc on PATH, or use backend=cpu)", module);
      *out = cuda;
      return PL_OK;
    default:
      return pl_fail(PL_ERR_INVALID, "%s: backend %d is not a resolved backend (cpu or cuda)", module, (int)backend);
  }
}
