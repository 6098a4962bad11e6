/* fileio.h: output files that are never half-written, folders, and PNG images.
 *
 * pl_out_open writes to a temporary file beside the target; pl_out_commit renames it into place (atomic on
 * POSIX), pl_out_abort removes it. A crash or an error leaves either the old file or none, never a torn one. */
#ifndef PL_FILEIO_H
#define PL_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  FILE *f;
  char path[1024];
  char tmp[1100];
} pl_out;

pl_status pl_out_open(pl_out *o, const char *path, int binary);
pl_status pl_out_commit(pl_out *o);  /* flush, fsync-free close, rename; reports write errors (disk full) */
void pl_out_abort(pl_out *o);

/* Remove the NAME.tmpPID files that a killed writer left in `dir` and its immediate subfolders (only those
 * whose process no longer exists). Returns how many were removed. */
int pl_remove_stale_tmp(const char *dir);

/* mkdir -p */
pl_status pl_mkdirs(const char *path);
/* Folder part of a path into out ("." when none). */
void pl_dirname(const char *path, char *out, size_t size);
/* Read a whole file (NUL-terminated; *size without the NUL). Caller frees. Files over max_bytes (special files
 * such as /dev/zero included) fail with PL_ERR_LIMIT after reading at most max_bytes + 64 KiB; pl_read_file
 * uses PL_READ_MAX_DEFAULT. */
#define PL_READ_MAX_DEFAULT ((size_t)1 << 30)
#define PL_READ_MAX_TEXT ((size_t)16 << 20) /* scene files, JSON state */
pl_status pl_read_file(const char *path, char **data, size_t *size);
pl_status pl_read_file_max(const char *path, size_t max_bytes, char **data, size_t *size);

/* PNG out: w x h pixels, `channels` (1, 3 or 4) floats per pixel in [0,1] (clamped), row-major, top row
 * first. Atomic. */
pl_status pl_png_write_float(const char *path, int w, int h, int channels, const float *pixels);
/* PNG in: 8- or 16-bit files to floats in [0,1], converted to `want_channels` (3 or 4: alpha = 1 when the
 * file has none). `file_channels` (may be NULL) gets the file's own channel count (2 or 4: it has alpha).
 * Caller frees *pixels. */
pl_status pl_png_read_float(const char *path, int want_channels, int *w, int *h, float **pixels, int *file_channels);

#ifdef __cplusplus
}
#endif
#endif
