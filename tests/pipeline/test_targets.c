/* test_targets.c: target PNGs from a folder: loading, masks, and the errors (missing frame, size mismatch,
 * mask loss without alpha). */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "core/fileio.h"
#include "pipeline/io/targets.h"
#include "tests/test_util.h"

static char g_dir[] = "/tmp/pl_targets_XXXXXX";

static void write_png(const char *cam, int frame, int w, int h, int ch) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", g_dir, cam);
  pl_mkdirs(path);
  snprintf(path, sizeof path, "%s/%s/%04d.png", g_dir, cam, frame);
  float *px = (float *)malloc(sizeof(float) * (size_t)(w * h * ch));
  for (int i = 0; i < w * h * ch; ++i) px[i] = (float)((i * 7) % 256) / 255.0f;
  pl_png_write_float(path, w, h, ch, px);
  free(px);
}

static pl_status load(const char *extra, pl_targets *t, pl_scene *s) {
  char text[2048];
  snprintf(text, sizeof text,
           "[sim]\ngrid = 16\nframes = 2\n[material m]\nmodel = neo_hookean\n[object o]\nshape = box\nmaterial = m\n"
           "[render]\nwidth = 8\nheight = 6\n[camera a]\neye = 0.5 0.5 2\n[camera b]\neye = 2 0.5 0.5\n"
           "[targets]\nsource = folder\nfolder = %s\n%s",
           g_dir, extra);
  PL_TRY(pl_scene_load_string(s, text, "t.cfg", ".", NULL, 0));
  pl_status st = pl_targets_select(s, t);
  if (st == PL_OK) st = pl_targets_load_folder(s, t);
  return st;
}

int main(void) {
  CHECK(mkdtemp(g_dir) != NULL, "tmp");
  for (int f = 0; f <= 2; ++f) {
    write_png("a", f, 8, 6, 4);
    write_png("b", f, 8, 6, 4);
  }
  pl_targets t;
  pl_scene s;
  CHECK(load("[optimize]\nloss = l1:1 mask:0.5\n", &t, &s) == PL_OK, "load: %s", pl_last_error());
  CHECK(pl_targets_count(&t) == 6 && t.has_alpha, "6 images with masks");
  CHECK(fabs(t.rgb[1 * 3 + 2][3] - (float)(((4 * 7) % 256) / 255.0)) < 1e-6, "pixel value round trip");
  CHECK(fabs(t.alpha[0][1] - (float)(((7 * 7) % 256) / 255.0)) < 1e-6, "alpha channel");
  pl_targets_free(&t);
  pl_scene_free(&s);
  CHECK(load("frames = 0 2\ncameras = b\n", &t, &s) == PL_OK && pl_targets_count(&t) == 2, "selection");
  CHECK(t.rgb[0] == NULL && t.rgb[3 + 1] == NULL && t.rgb[3 + 2] != NULL, "only selected images loaded");
  pl_targets_free(&t);
  pl_scene_free(&s);
  write_png("b", 1, 9, 6, 4);
  CHECK(load("", &t, &s) == PL_ERR_INVALID && strstr(pl_last_error(), "0001.png is 9x6"), "size mismatch: %s",
        pl_last_error());
  pl_targets_free(&t);
  pl_scene_free(&s);
  write_png("b", 1, 8, 6, 3);
  CHECK(load("", &t, &s) == PL_OK && !t.has_alpha, "RGB file loads without mask");
  pl_targets_free(&t);
  pl_scene_free(&s);
  CHECK(load("[optimize]\nloss = l1 mask:0.1\n", &t, &s) == PL_ERR_INVALID && strstr(pl_last_error(), "alpha"),
        "mask without alpha: %s", pl_last_error());
  pl_targets_free(&t);
  pl_scene_free(&s);
  char path[600];
  snprintf(path, sizeof path, "%s/a/0002.png", g_dir);
  unlink(path);
  CHECK(load("", &t, &s) == PL_ERR_IO && strstr(pl_last_error(), "a/0002.png is missing"), "missing: %s", pl_last_error());
  pl_targets_free(&t);
  pl_scene_free(&s);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
  CHECK(system(cmd) == 0, "cleanup");
  return test_summary("test_targets");
}
