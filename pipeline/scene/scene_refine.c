/* scene_refine.c: a scene's world on a finer grid (scene_refine.h). */
#include "pipeline/scene/scene_refine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

int pl_refined_boundary_cells(int cells, int refine) { return refine * cells; }

static int is_cube(long n) {
  for (long k = 1; k * k * k <= n; ++k)
    if (k * k * k == n) return 1;
  return 0;
}

pl_status pl_scene_refined(pl_scene *dst, const pl_scene *src, int refine) {
  memset(dst, 0, sizeof *dst);
  if (refine < 1 || refine > 4) return pl_fail(PL_ERR_INVALID, "refine = %d: choose 1..4", refine);
  int band = pl_refined_boundary_cells(src->sim.boundary_cells, refine);
  if (band > 16)
    return pl_fail(PL_ERR_INVALID, "%s: [sim] boundary_cells = %d at %d x the grid needs a band of %d cells (at most "
                   "16): lower boundary_cells or the refinement", src->path, src->sim.boundary_cells, refine, band);
  int cap = 4 + 2 * src->nobjects;
  char *store = (char *)calloc((size_t)cap, 512);
  const char **sets = (const char **)calloc((size_t)cap, sizeof *sets);
  if (!store || !sets) {
    free(store);
    free(sets);
    return pl_fail(PL_ERR_NOMEM, "out of memory");
  }
  int n = 0;
#define ADD(...) (snprintf(store + 512 * n, 512, __VA_ARGS__), sets[n] = store + 512 * n, ++n)
  const pl_scene_sim *sim = &src->sim;
  ADD("sim.grid=%d", sim->grid_longest * refine);
  ADD("sim.domain_max=%.17g %.17g %.17g", sim->domain_min[0] + sim->grid[0] * sim->dx,
      sim->domain_min[1] + sim->grid[1] * sim->dx, sim->domain_min[2] + sim->grid[2] * sim->dx);
  ADD("sim.boundary_cells=%d", band);
  if (sim->substeps > 0) ADD("sim.substeps=%d", sim->substeps * refine);
  for (int o = 0; o < src->nobjects; ++o) { /* ppc per (finer) cell: refine x the density over refine^3 cells */
    const pl_scene_object *ob = &src->objects[o];
    long ppc = lround((double)ob->particles_per_cell * refine / (refine * refine * refine));
    if (ppc < 1) ppc = 1;
    ADD("object.%s.particles_per_cell=%ld", ob->name, ppc);
    if (!ob->jittered && !is_cube(ppc)) {
      PL_WARN("%s: object '%s': %ld particles per cell at %d x the grid is not a cube: sampled jittered, not regular",
              src->path, ob->name, ppc, refine);
      ADD("object.%s.sampling=jittered", ob->name);
    }
  }
#undef ADD
  pl_status st = pl_scene_with_overrides(dst, src, sets, n);
  free(store);
  free(sets);
  return st;
}
