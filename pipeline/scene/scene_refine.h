/* scene_refine.h: the same world simulated on a finer grid (`pipeline capture --refine R`).
 *
 * A capture is meant to differ from a fit of the same scene only in its discretisation, never in its world. Keys
 * that are counted in cells would otherwise move the world with the resolution, so the refined scene sets:
 *   sim.grid               R x the grid (dx / R);
 *   sim.domain_max         domain_min + (cells per axis) x dx of the original grid, so that the far walls stay where
 *                          the original grid puts them (the box is rounded up to whole cells per axis);
 *   sim.boundary_cells     R b for the original b: the band is as thick in metres (b dx), so particles rest on a
 *                          floor at the same height (tests/pipeline/test_scene_refine: an elastic block at 2x and 3x
 *                          rests within 0.1 of the coarse cell of where the coarse grid puts it; with b cells at
 *                          every resolution it sank 1.3 and 1.9 coarse cells);
 *   sim.substeps           R x the given count (same CFL number), when not automatic;
 *   particles_per_cell     R x the particles per unit volume: round(ppc R / R^3), at least 1, per object; an object
 *                          sampled on a regular lattice whose new count is not a cube is sampled jittered instead
 *                          (with a warning).
 * What stays resolution-dependent on purpose: the CFL substep count, the particle spacing (and the Gaussians the
 * upsampler puts on the particles) and the MPM discretisation itself. */
#ifndef PL_SCENE_REFINE_H
#define PL_SCENE_REFINE_H

#include "pipeline/scene/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The band thickness (cells) of the refined grid for an original band of `cells` cells. */
int pl_refined_boundary_cells(int cells, int refine);

/* *dst = src simulated at `refine` (1..4) x the grid resolution, as above (pl_scene_free it; zeroed on failure).
 * A refined band wider than the schema allows (16 cells) is an error naming the key. */
pl_status pl_scene_refined(pl_scene *dst, const pl_scene *src, int refine);

#ifdef __cplusplus
}
#endif
#endif
