/* fuzz_obj.c: the OBJ loader (core/mesh_obj_check.c, then tinyobjloader) on arbitrary text. A loaded mesh must
 * have finite vertices and in-range face indices. */
#include <math.h>

#include "core/mesh.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > (1 << 20)) return 0;
  pl_mesh m;
  if (pl_mesh_load_obj_text(&m, (const char *)data, size, "fuzz.obj") == PL_OK) {
    for (int i = 0; i < 3 * m.nverts; ++i)
      if (!isfinite(m.verts[i])) __builtin_trap();
    for (int i = 0; i < 3 * m.nfaces; ++i)
      if (m.faces[i] < 0 || m.faces[i] >= m.nverts) __builtin_trap();
    double lo[3], hi[3];
    pl_mesh_bounds(&m, lo, hi);
    (void)pl_mesh_boundary_edges(&m);
    (void)pl_mesh_signed_volume(&m);
    pl_mesh_free(&m);
  }
  return 0;
}
