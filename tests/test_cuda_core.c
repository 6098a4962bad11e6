/* test_cuda_core.c: device buffers on the CUDA backend (skipped, exit 77, without a device). */
#include <string.h>

#include "core/backend.h"
#include "tests/test_util.h"

int main(void) {
  if (!pl_cuda_compiled()) TEST_SKIP("this build has no CUDA backend");
  char desc[1024];
  if (pl_cuda_device_count(desc, sizeof desc) == 0) TEST_SKIP("no CUDA device");
  fprintf(stderr, "device: %s\n", desc);
  pl_buffer d, d2, h;
  float src[1000], dst[1000];
  for (int i = 0; i < 1000; ++i) src[i] = (float)i * 0.5f;
  CHECK(pl_buffer_alloc(&d, PL_BACKEND_CUDA, sizeof src) == PL_OK, "alloc: %s", pl_last_error());
  CHECK(pl_buffer_alloc(&d2, PL_BACKEND_CUDA, sizeof src) == PL_OK, "alloc 2");
  CHECK(pl_buffer_alloc(&h, PL_BACKEND_CPU, sizeof src) == PL_OK, "alloc host");
  CHECK(pl_buffer_download(&d, 0, dst, sizeof dst) == PL_OK && dst[999] == 0.0f, "zero-filled on device");
  CHECK(pl_buffer_upload(&d, 0, src, sizeof src) == PL_OK, "upload");
  CHECK(pl_buffer_copy(&d2, 0, &d, 0, sizeof src) == PL_OK, "device->device");
  CHECK(pl_buffer_copy(&h, 0, &d2, 0, sizeof src) == PL_OK, "device->host buffer");
  CHECK(memcmp(h.ptr, src, sizeof src) == 0, "round trip");
  CHECK(pl_buffer_zero(&d2) == PL_OK && pl_buffer_download(&d2, 4 * 10, dst, 4) == PL_OK && dst[0] == 0.0f, "zero");
  pl_buffer_free(&d);
  pl_buffer_free(&d2);
  pl_buffer_free(&h);
  return test_summary("test_cuda_core");
}
