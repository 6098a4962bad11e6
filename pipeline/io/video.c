/* video.c: MP4 through the ffmpeg program, or an animated GIF (GIF89a, LZW: see the GIF89a specification,
 * sections 20-23 and appendix F). */
#define _POSIX_C_SOURCE 200809L
#include "pipeline/io/video.h"

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct pl_video {
  int w, h;       /* frame size given */
  int ew, eh;     /* encoded size (even for H.264's 4:2:0) */
  double fps;
  int gif;
  FILE *f;        /* the ffmpeg pipe, or the GIF file */
  char path[4096], tmp[4200];
  unsigned char *buf;
  long frames;
  void (*old_sigpipe)(int);
};

static const char *ffmpeg_program(void) {
  const char *p = getenv("PIPELINE_FFMPEG");
  return p && p[0] ? p : "ffmpeg";
}

/* single quotes for the shell */
static void shell_quote(char *out, size_t size, const char *s) {
  size_t n = 0;
  if (size < 3) return;
  out[n++] = '\'';
  for (; *s && n + 5 < size; ++s) {
    if (*s == '\'') {
      memcpy(out + n, "'\\''", 4);
      n += 4;
    } else {
      out[n++] = *s;
    }
  }
  out[n++] = '\'';
  out[n] = '\0';
}

int pl_video_have_ffmpeg(void) {
  const char *prog = ffmpeg_program();
  if (strcmp(prog, "none") == 0) return 0;
  char q[1024], cmd[1200];
  shell_quote(q, sizeof q, prog);
  snprintf(cmd, sizeof cmd, "%s -hide_banner -version >/dev/null 2>&1", q);
  int rc = system(cmd);
  return rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
}

double pl_video_fps(int n, double sim_fps, double min_seconds) {
  double fps = sim_fps > 0 ? sim_fps : 30;
  if (n > 0 && n / fps < min_seconds) fps = n / min_seconds;
  return fps < 2 ? 2 : fps;
}

static unsigned char to_byte(float v) {
  if (!(v > 0)) return 0;
  if (v >= 1) return 255;
  return (unsigned char)lrintf(v * 255.0f);
}

/* ------------------------------------------------------------------ GIF */

/* the palette: 6 levels of red x 7 of green x 6 of blue = 252 colours (+ 4 unused) */
#define GIF_R 6
#define GIF_G 7
#define GIF_B 6

static void put16(FILE *f, int v) {
  fputc(v & 255, f);
  fputc((v >> 8) & 255, f);
}

static void gif_header(FILE *f, int w, int h) {
  fwrite("GIF89a", 1, 6, f);
  put16(f, w);
  put16(f, h);
  fputc(0xF7, f); /* global colour table, 8 bits colour resolution, 256 entries */
  fputc(0, f);    /* background colour index */
  fputc(0, f);    /* pixel aspect */
  for (int i = 0; i < 256; ++i) {
    int r = i / (GIF_G * GIF_B), g = (i / GIF_B) % GIF_G, b = i % GIF_B;
    if (i >= GIF_R * GIF_G * GIF_B) r = g = b = 0;
    fputc(r * 255 / (GIF_R - 1), f);
    fputc(g * 255 / (GIF_G - 1), f);
    fputc(b * 255 / (GIF_B - 1), f);
  }
  /* NETSCAPE2.0 application extension: loop forever */
  static const unsigned char loop[] = {0x21, 0xFF, 0x0B, 'N', 'E', 'T', 'S', 'C', 'A', 'P', 'E', '2', '.', '0',
                                       0x03, 0x01, 0x00, 0x00, 0x00};
  fwrite(loop, 1, sizeof loop, f);
}

/* LZW bit writer into 255-byte sub-blocks */
typedef struct {
  FILE *f;
  unsigned char block[255];
  int nblock;
  uint32_t acc;
  int nbits;
} bitw;

static void bw_byte(bitw *b, unsigned char c) {
  b->block[b->nblock++] = c;
  if (b->nblock == 255) {
    fputc(255, b->f);
    fwrite(b->block, 1, 255, b->f);
    b->nblock = 0;
  }
}
static void bw_code(bitw *b, int code, int width) {
  b->acc |= (uint32_t)code << b->nbits;
  b->nbits += width;
  while (b->nbits >= 8) {
    bw_byte(b, (unsigned char)(b->acc & 255));
    b->acc >>= 8;
    b->nbits -= 8;
  }
}
static void bw_flush(bitw *b) {
  if (b->nbits > 0) bw_byte(b, (unsigned char)(b->acc & 255));
  b->acc = 0;
  b->nbits = 0;
  if (b->nblock) {
    fputc(b->nblock, b->f);
    fwrite(b->block, 1, (size_t)b->nblock, b->f);
  }
  fputc(0, b->f); /* block terminator */
}

/* LZW with 8-bit roots: clear = 256, end = 257; the dictionary is a trie next[code][byte] (0 = none) and
 * restarts (clear code) when it reaches 4096 codes. */
static int gif_lzw(FILE *f, const unsigned char *idx, long n) {
  uint16_t *next = (uint16_t *)calloc(4096 * 256, sizeof(uint16_t));
  if (!next) return -1;
  enum { CLEAR = 256, END = 257 };
  fputc(8, f); /* minimum code size */
  bitw b = {f, {0}, 0, 0, 0};
  int width = 9, next_code = 258;
  bw_code(&b, CLEAR, width);
  int cur = idx[0];
  for (long i = 1; i < n; ++i) {
    int c = idx[i];
    int nx = next[cur * 256 + c];
    if (nx) {
      cur = nx;
      continue;
    }
    bw_code(&b, cur, width);
    if (next_code < 4096) {
      next[cur * 256 + c] = (uint16_t)next_code;
      /* the decoder widens its codes once it has assigned 2^width codes */
      if (next_code == (1 << width) && width < 12) width++;
      next_code++;
    } else {
      bw_code(&b, CLEAR, width);
      memset(next, 0, sizeof(uint16_t) * 4096 * 256);
      width = 9;
      next_code = 258;
    }
    cur = c;
  }
  bw_code(&b, cur, width);
  bw_code(&b, END, width);
  bw_flush(&b);
  free(next);
  return 0;
}

static int gif_frame(pl_video *v, const unsigned char *rgb) {
  /* 4x4 Bayer matrix: ordered dithering hides the palette's steps in gradients */
  static const int bayer[4][4] = {{0, 8, 2, 10}, {12, 4, 14, 6}, {3, 11, 1, 9}, {15, 7, 13, 5}};
  long n = (long)v->w * v->h;
  unsigned char *idx = v->buf;
  for (int y = 0; y < v->h; ++y)
    for (int x = 0; x < v->w; ++x) {
      const unsigned char *p = rgb + 3 * ((size_t)y * v->w + x);
      double t = (bayer[y & 3][x & 3] + 0.5) / 16.0;
      int r = (int)floor(p[0] / 255.0 * (GIF_R - 1) + t), g = (int)floor(p[1] / 255.0 * (GIF_G - 1) + t),
          b = (int)floor(p[2] / 255.0 * (GIF_B - 1) + t);
      r = r > GIF_R - 1 ? GIF_R - 1 : r, g = g > GIF_G - 1 ? GIF_G - 1 : g, b = b > GIF_B - 1 ? GIF_B - 1 : b;
      idx[(size_t)y * v->w + x] = (unsigned char)((r * GIF_G + g) * GIF_B + b);
    }
  /* graphic control extension: the frame's delay in 1/100 s */
  int delay = (int)lround(100.0 / v->fps);
  unsigned char gce[8] = {0x21, 0xF9, 0x04, 0x04 /* disposal: leave in place */, 0, 0, 0, 0};
  gce[4] = (unsigned char)(delay & 255);
  gce[5] = (unsigned char)((delay >> 8) & 255);
  fwrite(gce, 1, 8, v->f);
  fputc(0x2C, v->f); /* image descriptor: whole canvas, no local colour table */
  put16(v->f, 0);
  put16(v->f, 0);
  put16(v->f, v->w);
  put16(v->f, v->h);
  fputc(0, v->f);
  return gif_lzw(v->f, idx, n);
}

/* ------------------------------------------------------------------ API */

pl_status pl_video_open(pl_video **out, const char *base, int w, int h, double fps, char *path_out, size_t path_size) {
  *out = NULL;
  if (w <= 0 || h <= 0 || w > 16384 || h > 16384 || !(fps > 0))
    return pl_fail(PL_ERR_INVALID, "%s: a video of %dx%d at %g fps", base, w, h, fps);
  pl_video *v = (pl_video *)calloc(1, sizeof *v);
  if (!v) return pl_fail(PL_ERR_NOMEM, "out of memory");
  v->w = w, v->h = h, v->fps = fps;
  v->ew = w + (w & 1), v->eh = h + (h & 1);
  v->gif = !pl_video_have_ffmpeg();
  if (v->gif && (w > 65535 || h > 65535)) {
    free(v);
    return pl_fail(PL_ERR_INVALID, "%s: too large for a GIF", base);
  }
  snprintf(v->path, sizeof v->path, "%s.%s", base, v->gif ? "gif" : "mp4");
  snprintf(v->tmp, sizeof v->tmp, "%s.partial.%s", base, v->gif ? "gif" : "mp4");
  v->buf = (unsigned char *)malloc((size_t)v->ew * v->eh * 3);
  if (!v->buf) {
    free(v);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  if (v->gif) {
    v->f = fopen(v->tmp, "wb");
    if (v->f) gif_header(v->f, w, h);
  } else {
    char qp[1100], qo[8500], cmd[10000];
    shell_quote(qp, sizeof qp, ffmpeg_program());
    shell_quote(qo, sizeof qo, v->tmp);
    /* H.264 in yuv420p plays everywhere (browsers, phones); crf 18 keeps thin lines and text sharp */
    snprintf(cmd, sizeof cmd,
             "%s -hide_banner -loglevel error -y -f rawvideo -pix_fmt rgb24 -s %dx%d -framerate %.6g -i - -an "
             "-c:v libx264 -preset medium -crf 18 -pix_fmt yuv420p -movflags +faststart -f mp4 %s",
             qp, v->ew, v->eh, fps, qo);
    v->old_sigpipe = signal(SIGPIPE, SIG_IGN); /* a failing ffmpeg is an error here, not a signal */
    v->f = popen(cmd, "w");
  }
  if (!v->f) {
    pl_status s = pl_fail(PL_ERR_IO, "%s: cannot %s", v->tmp, v->gif ? "create" : "start ffmpeg for");
    if (!v->gif) signal(SIGPIPE, v->old_sigpipe);
    free(v->buf);
    free(v);
    return s;
  }
  if (path_out) snprintf(path_out, path_size, "%s", v->path);
  *out = v;
  return PL_OK;
}

pl_status pl_video_frame(pl_video *v, const float *rgb) {
  /* to bytes, padded with white to the encoded size */
  memset(v->buf, 255, (size_t)v->ew * v->eh * 3);
  for (int y = 0; y < v->h; ++y)
    for (int x = 0; x < v->w; ++x)
      for (int k = 0; k < 3; ++k)
        v->buf[3 * ((size_t)y * (v->gif ? v->w : v->ew) + x) + k] = to_byte(rgb[3 * ((size_t)y * v->w + x) + k]);
  if (v->gif) {
    unsigned char *rgb8 = (unsigned char *)malloc((size_t)v->w * v->h * 3);
    if (!rgb8) return pl_fail(PL_ERR_NOMEM, "out of memory");
    memcpy(rgb8, v->buf, (size_t)v->w * v->h * 3);
    int rc = gif_frame(v, rgb8);
    free(rgb8);
    if (rc != 0 || ferror(v->f)) return pl_fail(PL_ERR_IO, "%s: write failed", v->tmp);
  } else if (fwrite(v->buf, 1, (size_t)v->ew * v->eh * 3, v->f) != (size_t)v->ew * v->eh * 3) {
    return pl_fail(PL_ERR_IO, "%s: ffmpeg stopped taking frames (see its message above)", v->tmp);
  }
  v->frames++;
  return PL_OK;
}

pl_status pl_video_close(pl_video *v, int ok) {
  if (!v) return PL_OK;
  pl_status s = PL_OK;
  if (v->gif) {
    fputc(0x3B, v->f); /* trailer */
    int bad = ferror(v->f);
    if (fclose(v->f) != 0 || bad) s = pl_fail(PL_ERR_IO, "%s: write failed", v->tmp);
  } else {
    int rc = pclose(v->f);
    signal(SIGPIPE, v->old_sigpipe);
    if (ok && (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0))
      s = pl_fail(PL_ERR_IO, "%s: ffmpeg failed (exit status %d)", v->path, rc == -1 ? -1 : WEXITSTATUS(rc));
  }
  if (ok && s == PL_OK && v->frames == 0) s = pl_fail(PL_ERR_INVALID, "%s: no frames", v->path);
  if (ok && s == PL_OK && rename(v->tmp, v->path) != 0) s = pl_fail(PL_ERR_IO, "%s: cannot rename into place", v->path);
  if (!ok || s != PL_OK) remove(v->tmp);
  free(v->buf);
  free(v);
  return s;
}
