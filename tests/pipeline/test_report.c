/* test_report.c: the report pictures people read.
 *  - labels: drawn with a real font (ink of a legible height), each one inside its own panel, also for 40-px
 *    panels (the strips of scenes/tiny.cfg): no label runs into its neighbour;
 *  - plots: a total drawn under a term with the same values leaves both visible, on a log axis;
 *  - video: the GIF written here and the MP4 written through ffmpeg decode (with ffmpeg, an independent
 *    decoder) to the frames given, within the palette's / the codec's error. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/fileio.h"
#include "pipeline/report/panels.h"
#include "pipeline/report/plot.h"
#include "pipeline/io/video.h"
#include "tests/test_util.h"

/* columns and rows of the canvas with ink (darker than the white background) */
static void ink_box(const pl_canvas *c, int *x0, int *x1, int *y0, int *y1) {
  *x0 = c->w, *x1 = -1, *y0 = c->h, *y1 = -1;
  for (int y = 0; y < c->h; ++y)
    for (int x = 0; x < c->w; ++x)
      if (c->rgb[3 * ((size_t)y * c->w + x)] < 0.9f) {
        if (x < *x0) *x0 = x;
        if (x > *x1) *x1 = x;
        if (y < *y0) *y0 = y;
        if (y > *y1) *y1 = y;
      }
}

static void test_labels(void) {
  const float white[3] = {1, 1, 1};
  const char *labels[3] = {"target front frame 16", "rendered", "difference x4"};
  static const int sizes[3] = {40, 96, 256};
  for (int si = 0; si < 3; ++si) {
    const int pw = sizes[si];
    const int gap = 4, w = pw, h = pw;
    float *img = (float *)malloc(sizeof(float) * 3 * (size_t)w * h);
    for (int i = 0; i < 3 * w * h; ++i) img[i] = 1.0f; /* white images: only the labels have ink */
    for (int k = 0; k < 3; ++k) {
      pl_canvas c;
      CHECK(pl_canvas_create(&c, 3 * w + 4 * gap, h + 40, white) == PL_OK, "canvas");
      const float *imgs[3] = {img, img, img};
      const char *one[3] = {NULL, NULL, NULL};
      one[k] = labels[k];
      int rh = pl_panels_row(&c, gap, 0, 3, imgs, one, w, h, 1, gap);
      int x0, x1, y0, y1;
      ink_box(&c, &x0, &x1, &y0, &y1);
      int px0 = gap + k * (w + gap), lh = pl_panels_label_height(w);
      CHECK(x1 >= 0, "%d-px panel: label '%s' drew nothing", pw, labels[k]);
      CHECK(x0 >= px0 && x1 < px0 + w, "%d-px panel %d: label '%s' spans x %d..%d, outside its panel %d..%d", pw, k,
            labels[k], x0, x1, px0, px0 + w - 1);
      CHECK(y1 < lh, "%d-px panel: label '%s' reaches row %d, into the image (label height %d)", pw, labels[k], y1, lh);
      CHECK(y1 - y0 + 1 >= 6, "%d-px panel: label '%s' only %d px tall: not legible", pw, labels[k], y1 - y0 + 1);
      CHECK(rh == lh + h, "row height %d, expected %d", rh, lh + h);
      pl_canvas_free(&c);
    }
    free(img);
  }
  /* a short label at the default size is not shortened: its ink is wider than "..." alone */
  pl_canvas c;
  CHECK(pl_canvas_create(&c, 200, 30, white) == PL_OK, "canvas");
  const float black[3] = {0, 0, 0};
  int drawn = pl_canvas_label(&c, 0, 0, 200, "rendered", black, 12);
  CHECK(fabs(drawn - pl_text_width("rendered", 12)) < 1.0, "label drawn %d px wide, measured %.1f", drawn,
        pl_text_width("rendered", 12));
  CHECK(pl_text_width("WWWW", 12) > pl_text_width("iiii", 12) * 1.5, "a proportional font: W wider than i");
  pl_canvas_free(&c);
}

static void test_plot(const char *dir) {
  enum { N = 60 };
  double x[N], total[N], term[N], other[N];
  for (int i = 0; i < N; ++i) {
    x[i] = i;
    total[i] = term[i] = 0.5 * exp(-0.08 * i); /* the term equals the total: both must stay visible */
    other[i] = 1e-4 * exp(-0.02 * i);          /* three decades below */
  }
  const double *ys[3] = {total, term, other};
  const char *names[3] = {"loss", "mask", "l1"};
  char path[512];
  snprintf(path, sizeof path, "%s/loss.png", dir);
  CHECK(pl_plot_png(path, "loss", "iteration", N, x, 3, ys, names, 1) == PL_OK, "plot: %s", pl_last_error());
  int w, h;
  float *px = NULL;
  CHECK(pl_png_read_float(path, 3, &w, &h, &px, NULL) == PL_OK, "read back %s", path);
  if (!px) return;
  long grey = 0, blue = 0, orange = 0;
  for (int i = 0; i < w * h; ++i) {
    float r = px[3 * i], g = px[3 * i + 1], b = px[3 * i + 2];
    if (fabsf(r - 0.5f) < 0.04f && fabsf(g - 0.5f) < 0.04f && fabsf(b - 0.5f) < 0.04f) grey++;   /* total */
    if (r < 0.2f && g > 0.4f && g < 0.55f && b > 0.6f) blue++;                                  /* first term */
    if (r > 0.9f && g > 0.4f && g < 0.6f && b < 0.15f) orange++;                                /* second term */
  }
  CHECK(grey > 200, "the total's curve is hidden (%ld pixels)", grey);
  CHECK(blue > 200, "the term equal to the total is hidden (%ld pixels)", blue);
  CHECK(orange > 200, "the small term is not drawn on the log axis (%ld pixels)", orange);
  free(px);
  /* several panels with a truth line */
  pl_plot_series s = {"fitted", x, other, N, 0, 2, 1, 0};
  pl_plot_hline t = {2e-5, "truth"};
  pl_plot p[2] = {{"E", "iteration", NULL, 0, 1, &s, 1, &t, 1, NULL, 0}, {"nu", "iteration", NULL, 0, 0, &s, 1, &t, 1, NULL, 0}};
  snprintf(path, sizeof path, "%s/params.png", dir);
  CHECK(pl_plot_save(path, p, 2, 2, 400, 300) == PL_OK, "panels: %s", pl_last_error());
  CHECK(pl_png_read_float(path, 3, &w, &h, &px, NULL) == PL_OK && w == 800 && h == 300, "panels image %dx%d", w, h);
  free(px);
}

/* frames: smooth gradients and blocks that move (what simulation frames look like) */
static void make_frame(float *rgb, int w, int h, int k) {
  if (k >= 4) { /* noise: the LZW dictionary fills up (4096 codes) and restarts within the frame */
    uint32_t r = 12345u;
    for (int i = 0; i < 3 * w * h; ++i) r = r * 1664525u + 1013904223u, rgb[i] = (float)(r >> 8) / 16777216.0f;
    return;
  }
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      float *p = rgb + 3 * ((size_t)y * w + x);
      p[0] = (float)x / (w - 1);
      p[1] = (float)y / (h - 1);
      p[2] = 0.5f + 0.5f * sinf(0.2f * (x + y) + k);
      if (x > 10 + 8 * k && x < 30 + 8 * k && y > 12 && y < 40) p[0] = 0.85f, p[1] = 0.35f, p[2] = 0.3f;
    }
}

/* decode a video with ffmpeg into nframes * w * h * 3 bytes; returns the number of frames read */
static int ffmpeg_decode(const char *path, int w, int h, unsigned char *out, int max_frames) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "ffmpeg -hide_banner -loglevel error -i '%s' -f rawvideo -pix_fmt rgb24 -", path);
  FILE *f = popen(cmd, "r");
  if (!f) return -1;
  size_t fsz = (size_t)w * h * 3;
  int n = 0;
  while (n < max_frames && fread(out + (size_t)n * fsz, 1, fsz, f) == fsz) n++;
  unsigned char sink[4096];
  while (fread(sink, 1, sizeof sink, f) > 0) {
  }
  int rc = pclose(f);
  return (rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0) ? n : -1;
}

static void test_video(const char *dir, int gif) {
  enum { W = 97, H = 61 };  /* odd sizes: the MP4 is padded to even ones */
  const int NF = gif ? 5 : 4; /* the GIF also gets a frame of noise */
  setenv("PIPELINE_FFMPEG", gif ? "none" : "ffmpeg", 1);
  char base[512], path[600];
  snprintf(base, sizeof base, "%s/video_%s", dir, gif ? "gif" : "mp4");
  pl_video *v = NULL;
  CHECK(pl_video_open(&v, base, W, H, 10, path, sizeof path) == PL_OK, "open: %s", pl_last_error());
  if (!v) return;
  CHECK(strstr(path, gif ? ".gif" : ".mp4") != NULL, "file %s", path);
  float *rgb = (float *)malloc(sizeof(float) * 3 * W * H);
  for (int k = 0; k < NF; ++k) {
    make_frame(rgb, W, H, k);
    CHECK(pl_video_frame(v, rgb) == PL_OK, "frame %d: %s", k, pl_last_error());
  }
  char partial[600];
  snprintf(partial, sizeof partial, "%s.partial.%s", base, gif ? "gif" : "mp4");
  CHECK(access(path, F_OK) != 0, "%s exists before it is complete", path);
  CHECK(pl_video_close(v, 1) == PL_OK, "close: %s", pl_last_error());
  CHECK(access(path, F_OK) == 0 && access(partial, F_OK) != 0, "%s in place, no partial file left", path);
  FILE *f = fopen(path, "rb");
  unsigned char head[8] = {0};
  if (f) {
    CHECK(fread(head, 1, 8, f) == 8, "read %s", path);
    fclose(f);
  }
  if (gif) CHECK(memcmp(head, "GIF89a", 6) == 0, "not a GIF89a file");
  if (!gif) CHECK(memcmp(head + 4, "ftyp", 4) == 0, "not an MP4 file");
  setenv("PIPELINE_FFMPEG", "ffmpeg", 1);
  if (pl_video_have_ffmpeg()) {
    int ew = gif ? W : W + 1, eh = gif ? H : H + 1;
    unsigned char *dec = (unsigned char *)malloc((size_t)ew * eh * 3 * (NF + 2));
    int n = ffmpeg_decode(path, ew, eh, dec, NF + 2);
    CHECK(n == NF, "%s: ffmpeg decoded %d frames, expected %d", path, n, NF);
    for (int k = 0; k < n && k < NF; ++k) {
      make_frame(rgb, W, H, k);
      double sum = 0, worst = 0;
      for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
          for (int c = 0; c < 3; ++c) {
            double d = fabs(dec[(((size_t)k * eh + y) * ew + x) * 3 + c] / 255.0 - rgb[3 * ((size_t)y * W + x) + c]);
            sum += d;
            if (d > worst) worst = d;
          }
      double mean = sum / (3.0 * W * H);
      /* GIF: ordered dithering to a 6x7x6 cube errs by less than one level (1/5); H.264 at crf 18: a little */
      if (k < 4) CHECK(mean < (gif ? 0.11 : 0.03), "%s frame %d: mean error %.3f", path, k, mean);
      if (gif) CHECK(worst <= 0.2 + 1e-6, "%s frame %d: worst error %.3f above a palette step", path, k, worst);
    }
    free(dec);
  }
  free(rgb);
}

int main(void) {
  char dir[] = "/tmp/test_report_XXXXXX";
  if (!mkdtemp(dir)) TEST_SKIP("no temporary folder");
  test_labels();
  test_plot(dir);
  test_video(dir, 1);
  setenv("PIPELINE_FFMPEG", "ffmpeg", 1);
  if (pl_video_have_ffmpeg())
    test_video(dir, 0);
  else
    fprintf(stderr, "test_report: ffmpeg not installed: the MP4 path and the GIF decode check are not run\n");
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  return test_summary("test_report");
}
