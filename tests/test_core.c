/* test_core.c: status messages, backend selection, buffers, the counter-based RNG (known-answer vectors),
 * atomic output files, PNG round trip, OBJ meshes. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <unistd.h>

#include "core/backend.h"
#include "core/fileio.h"
#include "core/log.h"
#include "core/mesh.h"
#include "core/progress.h"
#include "core/rng.h"
#include "core/status.h"
#include "tests/test_util.h"

static void test_status(void) {
  pl_status s = pl_fail(PL_ERR_INVALID, "particle %d at frame %d", 7, 3);
  CHECK(s == PL_ERR_INVALID, "pl_fail returns its code");
  CHECK(strcmp(pl_last_error(), "particle 7 at frame 3") == 0, "message: %s", pl_last_error());
  pl_fail_context(s, "scene.cfg:12: ");
  CHECK(strcmp(pl_last_error(), "scene.cfg:12: particle 7 at frame 3") == 0, "context: %s", pl_last_error());
  CHECK(pl_status_exit_code(PL_OK) == 0 && pl_status_exit_code(PL_ERR_PARSE) == 2 &&
            pl_status_exit_code(PL_ERR_NUMERIC) == 1,
        "exit codes");
  for (int c = 0; c <= PL_ERR_INTERNAL; ++c) CHECK(strlen(pl_status_name((pl_status)c)) > 0, "name of %d", c);
}

static void test_backend(void) {
  pl_backend b;
  char why[256];
  CHECK(pl_backend_parse("cpu", &b) == PL_OK && b == PL_BACKEND_CPU, "parse cpu");
  CHECK(pl_backend_parse("gpu", &b) == PL_ERR_INVALID, "parse gpu must fail");
  CHECK(strstr(pl_last_error(), "auto, cpu or cuda") != NULL, "message lists choices: %s", pl_last_error());
  CHECK(pl_backend_resolve(PL_BACKEND_AUTO, &b, why, sizeof why) == PL_OK, "auto resolves");
  int ndev = pl_cuda_device_count(NULL, 0);
  CHECK(b == (ndev > 0 ? PL_BACKEND_CUDA : PL_BACKEND_CPU), "auto picks %s", why);
  CHECK(strlen(why) > 0, "auto says why");
  if (ndev == 0) {
    pl_status s = pl_backend_resolve(PL_BACKEND_CUDA, &b, why, sizeof why);
    CHECK(s == PL_ERR_NO_DEVICE || s == PL_ERR_UNSUPPORTED, "cuda without a device must fail");
  }
}

static void test_buffers(void) {
  pl_buffer a, c;
  float src[100], dst[100];
  for (int i = 0; i < 100; ++i) src[i] = (float)i;
  CHECK(pl_buffer_alloc(&a, PL_BACKEND_CPU, sizeof src) == PL_OK, "alloc");
  CHECK(((float *)a.ptr)[5] == 0.0f, "zero-filled");
  CHECK(pl_buffer_upload(&a, 0, src, sizeof src) == PL_OK, "upload");
  CHECK(pl_buffer_alloc(&c, PL_BACKEND_CPU, sizeof src) == PL_OK, "alloc 2");
  CHECK(pl_buffer_copy(&c, 0, &a, 0, sizeof src) == PL_OK, "copy");
  CHECK(pl_buffer_download(&c, 4 * 10, dst, 4 * 5) == PL_OK && dst[0] == 10.0f && dst[4] == 14.0f, "download");
  CHECK(pl_buffer_download(&c, 4 * 98, dst, 4 * 5) == PL_ERR_INTERNAL, "out-of-range download is refused");
  CHECK(pl_buffer_zero(&c) == PL_OK && ((float *)c.ptr)[50] == 0.0f, "zero");
  pl_buffer bad;
  CHECK(pl_buffer_alloc(&bad, PL_BACKEND_AUTO, 4) == PL_ERR_INVALID && bad.ptr == NULL, "alloc on AUTO refused");
  pl_buffer_free(&a);
  pl_buffer_free(&a); /* double free is a no-op */
  pl_buffer_free(NULL);
  pl_buffer_free(&c);
}

static void test_rng(void) {
  /* Known-answer vectors of Philox4x32-10 (Salmon et al. 2011, Random123 kat_vectors) */
  pl_u32x4 z = {{0, 0, 0, 0}};
  pl_u32x4 r = pl_philox4x32(z, 0, 0);
  CHECK(r.v[0] == 0x6627e8d5u && r.v[1] == 0xe169c58du && r.v[2] == 0xbc57ac4cu && r.v[3] == 0x9b00dbd8u,
        "philox KAT zero: %08x %08x %08x %08x", r.v[0], r.v[1], r.v[2], r.v[3]);
  pl_u32x4 f = {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}};
  r = pl_philox4x32(f, 0xffffffffu, 0xffffffffu);
  CHECK(r.v[0] == 0x408f276du && r.v[1] == 0x41c83b0eu && r.v[2] == 0xa20bc7c6u && r.v[3] == 0x6d5451fdu,
        "philox KAT ones: %08x %08x %08x %08x", r.v[0], r.v[1], r.v[2], r.v[3]);
  /* uniform moments over many draws */
  double sum = 0, sum2 = 0, mn = 1, mx = 0;
  int n = 0;
  for (uint32_t i = 0; i < 50000; ++i) {
    real u[4];
    pl_rng_uniform4(42, 7, i, u);
    for (int k = 0; k < 4; ++k) {
      sum += u[k];
      sum2 += (double)u[k] * u[k];
      mn = fmin(mn, u[k]);
      mx = fmax(mx, u[k]);
      ++n;
    }
  }
  double mean = sum / n, var = sum2 / n - mean * mean;
  CHECK(fabs(mean - 0.5) < 0.005 && fabs(var - 1.0 / 12) < 0.002 && mn >= 0 && mx < 1, "uniform: mean %g var %g", mean,
        var);
  real g[2];
  double gs = 0, gs2 = 0;
  for (uint32_t i = 0; i < 50000; ++i) {
    pl_rng_normal2(1, 2, i, g);
    gs += g[0] + g[1];
    gs2 += (double)g[0] * g[0] + (double)g[1] * g[1];
  }
  CHECK(fabs(gs / 100000) < 0.02 && fabs(gs2 / 100000 - 1) < 0.02, "normal moments %g %g", gs / 1e5, gs2 / 1e5);
  /* different streams differ */
  pl_u32x4 a = pl_rng_u32x4(1, 0, 0), b = pl_rng_u32x4(1, 1, 0);
  CHECK(memcmp(&a, &b, sizeof a) != 0, "streams differ");
}

static void test_files(void) {
  char dir[] = "/tmp/pl_test_core_XXXXXX";
  CHECK(mkdtemp(dir) != NULL, "mkdtemp");
  char path[320], sub[256];
  snprintf(sub, sizeof sub, "%s/a/b/c", dir);
  CHECK(pl_mkdirs(sub) == PL_OK, "mkdirs: %s", pl_last_error());
  CHECK(pl_mkdirs(sub) == PL_OK, "mkdirs twice");
  snprintf(path, sizeof path, "%s/img.png", sub);
  float px[4 * 3 * 3];
  for (int i = 0; i < 36; ++i) px[i] = (float)(i % 11) / 10.0f;
  CHECK(pl_png_write_float(path, 4, 3, 3, px) == PL_OK, "png write: %s", pl_last_error());
  int w, h;
  float *back = NULL;
  CHECK(pl_png_read_float(path, 4, &w, &h, &back, NULL) == PL_OK && w == 4 && h == 3, "png read");
  if (back) {
    double e = 0;
    for (int i = 0; i < 12; ++i)
      for (int c = 0; c < 3; ++c) e = fmax(e, fabs(back[4 * i + c] - px[3 * i + c]));
    CHECK(e <= 0.5 / 255 + 1e-6, "png round trip error %g", e);
    CHECK(back[3] == 1.0f, "alpha filled with 1");
    free(back);
  }
  /* aborted output leaves nothing behind */
  pl_out o;
  snprintf(path, sizeof path, "%s/never.txt", dir);
  CHECK(pl_out_open(&o, path, 0) == PL_OK, "open");
  fputs("partial", o.f);
  pl_out_abort(&o);
  CHECK(access(path, F_OK) != 0, "an aborted file must not exist");
  CHECK(pl_png_read_float("/nonexistent.png", 3, &w, &h, &back, NULL) == PL_ERR_IO, "missing png");
  snprintf(path, sizeof path, "%s/a", dir);
  CHECK(pl_png_write_float(path, 2, 2, 3, px) == PL_ERR_IO, "writing over a folder fails cleanly");
}

static void test_meshes(void) {
  pl_mesh m;
  CHECK(pl_mesh_load_obj(&m, "scenes/assets/spot.obj") == PL_OK, "spot: %s", pl_last_error());
  CHECK(m.nverts == 2930 && m.nfaces == 5856, "spot counts %d %d", m.nverts, m.nfaces);
  CHECK(pl_mesh_boundary_edges(&m) == 0, "spot is watertight");
  CHECK(m.face_uvs != NULL && m.nuvs > 0, "spot has texture coordinates");
  CHECK(fabs(pl_mesh_signed_volume(&m)) > 1e-3, "spot encloses volume");
  pl_mesh_free(&m);
  CHECK(pl_mesh_load_obj(&m, "scenes/assets/stanford-bunny.obj") == PL_OK, "bunny");
  CHECK(m.nverts == 35947 && m.nfaces == 69451, "bunny counts %d %d", m.nverts, m.nfaces);
  CHECK(pl_mesh_boundary_edges(&m) == 223, "bunny boundary edges %d", pl_mesh_boundary_edges(&m));
  pl_mesh_free(&m);
  CHECK(pl_mesh_load_obj(&m, "scenes/assets/teapot.obj") == PL_OK, "teapot");
  CHECK(pl_mesh_boundary_edges(&m) == 1036, "teapot boundary edges %d", pl_mesh_boundary_edges(&m));
  pl_mesh_free(&m);
  CHECK(pl_mesh_load_obj(&m, "scenes/assets/nothing.obj") == PL_ERR_IO, "missing mesh");
  CHECK(strstr(pl_last_error(), "nothing.obj") != NULL, "message names the file: %s", pl_last_error());
  pl_mesh_free(&m);
  pl_mesh_free(NULL);
}

static void test_progress(void) {
  pl_progress p;
  pl_progress_begin(&p, "test", 5, 0);
  for (int i = 1; i <= 5; ++i) pl_progress_update(&p, i, "loss 1.0");
  pl_progress_end(&p);
  PL_INFO("a log line after a progress bar");
  CHECK(pl_now() > 0, "clock");
}

int main(void) {
  test_status();
  test_backend();
  test_buffers();
  test_rng();
  test_files();
  test_meshes();
  test_progress();
  return test_summary("test_core");
}
