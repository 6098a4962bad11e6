/* fuzz_ply.c: the 3DGS PLY reader (raster/ply.c) on arbitrary bytes: header, counts against the data size,
 * ascii and binary records, value checks. Every input must load or fail with a status, never crash. */
#include "raster/ply.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  raster_ply p;
  if (raster_ply_read_memory(data, size, "fuzz.ply", &p) == PL_OK) {
    /* what a consumer reads: every value must be finite and in range */
    for (int64_t i = 0; i < p.n; ++i)
      if (!(p.opacities[i] >= 0 && p.opacities[i] <= 1) || !(p.scales[3 * i] >= 0)) __builtin_trap();
    raster_ply_free(&p);
  }
  return 0;
}
