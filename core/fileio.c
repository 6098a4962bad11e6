#define _POSIX_C_SOURCE 200809L
#include "core/fileio.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <dirent.h>
#include <signal.h>

#include <stb_image.h>
#include <stb_image_write.h>

pl_status pl_out_open(pl_out *o, const char *path, int binary) {
  memset(o, 0, sizeof *o);
  if (strlen(path) >= sizeof o->path) return pl_fail(PL_ERR_INVALID, "output path too long: %s", path);
  snprintf(o->path, sizeof o->path, "%s", path);
  snprintf(o->tmp, sizeof o->tmp, "%s.tmp%ld", path, (long)getpid());
  o->f = fopen(o->tmp, binary ? "wb" : "w");
  if (!o->f) return pl_fail(PL_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
  return PL_OK;
}

pl_status pl_out_commit(pl_out *o) {
  if (!o->f) return pl_fail(PL_ERR_INTERNAL, "pl_out_commit on a closed file");
  int bad = ferror(o->f);
  if (fclose(o->f) != 0) bad = 1;
  o->f = NULL;
  if (bad) {
    remove(o->tmp);
    return pl_fail(PL_ERR_IO, "%s: write failed (disk full?)", o->path);
  }
  if (rename(o->tmp, o->path) != 0) {
    int e = errno;
    remove(o->tmp);
    return pl_fail(PL_ERR_IO, "%s: cannot move into place: %s", o->path, strerror(e));
  }
  return PL_OK;
}

void pl_out_abort(pl_out *o) {
  if (o->f) {
    fclose(o->f);
    o->f = NULL;
    remove(o->tmp);
  }
}

pl_status pl_mkdirs(const char *path) {
  char buf[1024];
  if (strlen(path) >= sizeof buf) return pl_fail(PL_ERR_INVALID, "path too long: %s", path);
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; ++p) {
    if (*p == '/') {
      *p = '\0';
      if (mkdir(buf, 0777) != 0 && errno != EEXIST) return pl_fail(PL_ERR_IO, "%s: cannot create folder: %s", buf, strerror(errno));
      *p = '/';
    }
  }
  if (mkdir(buf, 0777) != 0 && errno != EEXIST) return pl_fail(PL_ERR_IO, "%s: cannot create folder: %s", buf, strerror(errno));
  struct stat st;
  if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) return pl_fail(PL_ERR_IO, "%s: exists and is not a folder", buf);
  return PL_OK;
}

void pl_dirname(const char *path, char *out, size_t size) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(out, size, ".");
  else if (slash == path)
    snprintf(out, size, "/");
  else
    snprintf(out, size, "%.*s", (int)(slash - path), path);
}

pl_status pl_read_file(const char *path, char **data, size_t *size) {
  return pl_read_file_max(path, PL_READ_MAX_DEFAULT, data, size);
}

pl_status pl_read_file_max(const char *path, size_t max_bytes, char **data, size_t *size) {
  *data = NULL;
  if (size) *size = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return pl_fail(PL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
    fclose(f);
    return pl_fail(PL_ERR_IO, "%s: is a folder, not a file", path);
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = (char *)malloc(cap);
  if (!buf) {
    fclose(f);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  for (;;) {
    if (n > max_bytes) { /* a special file (/dev/zero) or the wrong file: stop instead of reading for ever */
      free(buf);
      fclose(f);
      return pl_fail(PL_ERR_LIMIT, "%s: larger than the limit of %zu MiB for this kind of file (is it the right file?)",
                     path, max_bytes >> 20);
    }
    if (n + 1 >= cap) {
      char *nb = (char *)realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        fclose(f);
        return pl_fail(PL_ERR_NOMEM, "out of memory reading %s", path);
      }
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - 1 - n, f);
    n += got;
    if (got == 0) break;
  }
  int err = ferror(f);
  fclose(f);
  if (err) {
    free(buf);
    return pl_fail(PL_ERR_IO, "%s: read error", path);
  }
  buf[n] = '\0';
  *data = buf;
  if (size) *size = n;
  return PL_OK;
}

static void png_sink(void *ctx, void *data, int size) {
  pl_out *o = (pl_out *)ctx;
  if (fwrite(data, 1, (size_t)size, o->f) != (size_t)size) { /* ferror is checked on commit */ }
}

pl_status pl_png_write_float(const char *path, int w, int h, int channels, const float *pixels) {
  if (w <= 0 || h <= 0 || (channels != 1 && channels != 3 && channels != 4))
    return pl_fail(PL_ERR_INVALID, "%s: bad image shape %dx%dx%d", path, w, h, channels);
  size_t n = (size_t)w * (size_t)h * (size_t)channels;
  unsigned char *px = (unsigned char *)malloc(n);
  if (!px) return pl_fail(PL_ERR_NOMEM, "out of memory writing %s", path);
  for (size_t i = 0; i < n; ++i) {
    float v = pixels[i];
    if (!(v >= 0)) v = 0; /* also maps NaN to 0; callers check finiteness before */
    if (v > 1) v = 1;
    px[i] = (unsigned char)(v * 255.0f + 0.5f);
  }
  pl_out o;
  pl_status s = pl_out_open(&o, path, 1);
  if (s != PL_OK) {
    free(px);
    return s;
  }
  int ok = stbi_write_png_to_func(png_sink, &o, w, h, channels, px, w * channels);
  free(px);
  if (!ok) {
    pl_out_abort(&o);
    return pl_fail(PL_ERR_IO, "%s: PNG encoding failed", path);
  }
  return pl_out_commit(&o);
}

pl_status pl_png_read_float(const char *path, int want_channels, int *w, int *h, float **pixels, int *file_channels) {
  *pixels = NULL;
  if (want_channels != 3 && want_channels != 4) return pl_fail(PL_ERR_INVALID, "pl_png_read_float: channels must be 3 or 4");
  FILE *f = fopen(path, "rb");
  if (!f) return pl_fail(PL_ERR_IO, "%s: cannot open image: %s", path, strerror(errno));
  int x, y, comp;
  int is16 = stbi_is_16_bit_from_file(f);
  fseek(f, 0, SEEK_SET);
  float *out = NULL;
  if (is16) {
    stbi_us *d = stbi_load_from_file_16(f, &x, &y, &comp, want_channels);
    fclose(f);
    if (!d) return pl_fail(PL_ERR_PARSE, "%s: cannot decode image: %s", path, stbi_failure_reason());
    size_t n = (size_t)x * (size_t)y * (size_t)want_channels;
    out = (float *)malloc(n * sizeof *out);
    if (out)
      for (size_t i = 0; i < n; ++i) out[i] = (float)d[i] / 65535.0f;
    stbi_image_free(d);
  } else {
    stbi_uc *d = stbi_load_from_file(f, &x, &y, &comp, want_channels);
    fclose(f);
    if (!d) return pl_fail(PL_ERR_PARSE, "%s: cannot decode image: %s", path, stbi_failure_reason());
    size_t n = (size_t)x * (size_t)y * (size_t)want_channels;
    out = (float *)malloc(n * sizeof *out);
    if (out)
      for (size_t i = 0; i < n; ++i) out[i] = (float)d[i] / 255.0f;
    stbi_image_free(d);
  }
  if (!out) return pl_fail(PL_ERR_NOMEM, "out of memory reading %s", path);
  *w = x;
  *h = y;
  *pixels = out;
  if (file_channels) *file_channels = comp;
  return PL_OK;
}

/* ------------------------------------------------------------------ stale temporary files */

/* "NAME.tmpPID" with PID all digits: the pid, else 0 */
static long tmp_pid(const char *name) {
  const char *t = strstr(name, ".tmp");
  if (!t || t == name) return 0;
  for (const char *n = strstr(t + 4, ".tmp"); n; n = strstr(n + 4, ".tmp")) t = n; /* the last ".tmp" */
  const char *d = t + 4;
  if (!*d || strlen(d) > 9) return 0;
  for (const char *p = d; *p; ++p)
    if (*p < '0' || *p > '9') return 0;
  return strtol(d, NULL, 10);
}

static int remove_in(const char *dir, int depth) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int removed = 0;
  struct dirent *en;
  char path[2048];
  while ((en = readdir(d)) != NULL) {
    if (en->d_name[0] == '.' && (!en->d_name[1] || (en->d_name[1] == '.' && !en->d_name[2]))) continue;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, en->d_name) >= sizeof path) continue;
    struct stat st;
    if (lstat(path, &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      if (depth > 0) removed += remove_in(path, depth - 1);
      continue;
    }
    long pid = tmp_pid(en->d_name);
    if (!S_ISREG(st.st_mode) || pid <= 0 || pid == (long)getpid()) continue;
    /* the writer is gone (no such process): what it left can never be committed */
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH && unlink(path) == 0) ++removed;
  }
  closedir(d);
  return removed;
}

int pl_remove_stale_tmp(const char *dir) { return remove_in(dir, 1); }
