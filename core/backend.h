/* backend.h: where data lives and kernels run, and host/device buffers.
 *
 * Backend choice: "cpu", "cuda", or "auto" (cuda when this build has the CUDA backend and a device is
 * present, else cpu; pl_backend_resolve says which and why). A pl_buffer remembers its backend: on the
 * CPU it is plain host memory, on CUDA device memory; upload/download copy from/to host memory either way,
 * so callers write one code path. pl_buffer_free(NULL) and freeing a zeroed buffer are no-ops. */
#ifndef PL_BACKEND_H
#define PL_BACKEND_H

#include <stddef.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { PL_BACKEND_AUTO = 0, PL_BACKEND_CPU = 1, PL_BACKEND_CUDA = 2 } pl_backend;

const char *pl_backend_name(pl_backend b);
/* "auto" | "cpu" | "cuda" -> backend; PL_ERR_INVALID (message lists the choices) otherwise. */
pl_status pl_backend_parse(const char *name, pl_backend *out);
/* Resolve AUTO. Asking for CUDA when it is unavailable fails with PL_ERR_NO_DEVICE (or PL_ERR_UNSUPPORTED
 * when the build has no CUDA backend). `why` (may be NULL, >= 128 bytes) gets a one-line explanation. */
pl_status pl_backend_resolve(pl_backend requested, pl_backend *out, char *why, size_t why_size);

/* 1 if this build contains the CUDA backend. */
int pl_cuda_compiled(void);
/* Number of CUDA devices (0 when none or not compiled). `desc` (may be NULL) gets a description line per
 * device ("0: NVIDIA H100 80GB HBM3, sm_90, 79.1 GiB"). */
int pl_cuda_device_count(char *desc, size_t desc_size);

typedef struct {
  void *ptr;
  size_t bytes;
  pl_backend backend; /* CPU or CUDA once allocated */
} pl_buffer;

/* Allocate `bytes` (zero-filled) on `backend` (CPU or CUDA; AUTO is an error here). */
pl_status pl_buffer_alloc(pl_buffer *b, pl_backend backend, size_t bytes);
void pl_buffer_free(pl_buffer *b);
/* Copy `bytes` host -> buffer at byte offset `offset`. */
pl_status pl_buffer_upload(pl_buffer *b, size_t offset, const void *host, size_t bytes);
/* Copy `bytes` buffer at `offset` -> host. */
pl_status pl_buffer_download(const pl_buffer *b, size_t offset, void *host, size_t bytes);
pl_status pl_buffer_zero(pl_buffer *b);
/* Copy between two buffers of any backends. */
pl_status pl_buffer_copy(pl_buffer *dst, size_t dst_offset, const pl_buffer *src, size_t src_offset, size_t bytes);

/* CUDA side (core/backend_cuda.cu); only called when pl_cuda_compiled(). */
pl_status pl_cuda_malloc(void **ptr, size_t bytes);
void pl_cuda_free(void *ptr);
pl_status pl_cuda_memcpy_h2d(void *dst, const void *src, size_t bytes);
pl_status pl_cuda_memcpy_d2h(void *dst, const void *src, size_t bytes);
pl_status pl_cuda_memcpy_d2d(void *dst, const void *src, size_t bytes);
pl_status pl_cuda_memset0(void *ptr, size_t bytes);
pl_status pl_cuda_sync(const char *what);
/* Device memory in use now (total - free, the CUDA context included); 0 without a device. */
size_t pl_cuda_mem_used(void);
/* Device memory allocator of pl_cuda_malloc/pl_cuda_free (e.g. a framework's caching allocator); alloc == NULL
 * restores cudaMalloc/cudaFree. Process-wide; changing it while memory from the current one is outstanding is
 * PL_ERR_INVALID (memory must go back to the allocator that gave it). */
typedef void *(*pl_cuda_alloc_fn)(void *user, size_t bytes);
typedef void (*pl_cuda_free_fn)(void *user, void *ptr);
pl_status pl_cuda_set_allocator(pl_cuda_alloc_fn alloc, pl_cuda_free_fn free_fn, void *user);
/* Wait until the work queued on a CUDA stream (a cudaStream_t; NULL: the default stream) has finished. */
pl_status pl_cuda_stream_sync(void *stream);

/* Backend tables (each module's X_backend_ops): PL_CUDA_TABLE(sym) is &sym in a build with the CUDA backend and
 * NULL without it (the one place that knows); pl_backend_table picks a resolved backend's table, and fails with
 * PL_ERR_UNSUPPORTED naming `module` when that backend is not compiled in (never a silent no-op). */
#ifdef PL_HAVE_CUDA
#define PL_CUDA_TABLE(sym) ((const void *)&(sym))
#else
#define PL_CUDA_TABLE(sym) ((const void *)0)
#endif
pl_status pl_backend_table(pl_backend backend, const void *cpu, const void *cuda, const char *module,
                           const void **out);

#ifdef __cplusplus
}
#endif
#endif
