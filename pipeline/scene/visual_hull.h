/* visual_hull.h: an object's volume carved from its silhouettes (space carving; Laurentini 1994, Kutulakos &
 * Seitz 2000), for shape = visual_hull: a capture has no mesh, so the first frame's masks of all cameras give the
 * initial state, as PAC-NeRF's voxel reconstruction of frame 0 does.
 *
 * Method: voxels of side h fill the box [box_min, box_max] (the simulation domain, or the object's hull_min /
 * hull_max). A voxel's centre is projected into every view (pinhole, OpenCV axes, pixel centres at +0.5): a view
 * whose image it falls outside (or behind) has no vote; otherwise the view votes "in" when the mask reaches 0.5 at
 * one of the 2 x 2 pixels around the projected point (the pixels bilinear interpolation would read: conservative
 * by at most one pixel, so that the true shape's voxels are kept despite pixel quantisation), else "out". A voxel is
 * kept when at most `misses` views vote out (k tolerated misses for noisy masks) and at least min(2, views) vote
 * in. Of what is kept, the largest 6-connected component is the object (specks from mask noise are dropped).
 *
 * Re-projection (pl_visual_hull_silhouette): a pixel belongs to the hull's silhouette when the ray through its
 * centre crosses a kept voxel (3D DDA, Amanatides & Woo 1987); the IoU against the mask (>= 0.5) measures how
 * well the hull explains each view. */
#ifndef PL_VISUAL_HULL_H
#define PL_VISUAL_HULL_H

#include <stdint.h>

#include "core/status.h"
#include "mpm/mpm_splat_fill.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  const char *name;       /* for messages */
  int width, height;      /* the mask's size */
  double fx, fy, cx, cy;  /* pixels, at that size */
  double viewmat[16];     /* world -> camera, OpenCV axes, row-major */
  const float *mask;      /* [height][width] in [0, 1]; the object where >= 0.5 */
} pl_hull_view;

typedef struct {
  const pl_hull_view *views;
  int nviews;
  double h;                         /* voxel side (m) */
  double box_min[3], box_max[3];    /* the carved box (world, m) */
  int misses;                       /* tolerated "out" votes per voxel (0: every view that sees it agrees) */
  int samples;                      /* 0 or 1: the voxel centre's conservative vote (above); n >= 2: sub-voxel
                                       carving: n^3 points per voxel, each voted on the bilinear mask (>= 0.5, no
                                       margin), the voxel kept when at least half its points are */
  double erode;                     /* m, >= 0: a point is kept only when its six neighbours at +-erode along the
                                       axes are too (sub-voxel path; erode > 0 implies it with n = max(samples, 1)) */
  const char *label;                /* for messages, e.g. "[object hull]" */
} pl_hull_desc;

typedef struct {
  int64_t voxels;         /* voxels of the box */
  int64_t carved_in;      /* voxels the votes keep */
  int64_t kept;           /* in the largest component */
  int components;         /* 6-connected components of the carved voxels */
  double volume;          /* kept * h^3 (m^3) */
  double centroid[3];     /* of the kept voxels' centres */
  double lo[3], hi[3];    /* bounding box of the kept voxels */
} pl_hull_info;

/* Carve (see above). occ gets the kept voxels (mpm_occupancy_free). Fails (naming d->label) when the box holds
 * more than 2^27 voxels, a view is malformed, or nothing is kept. */
pl_status pl_visual_hull_carve(const pl_hull_desc *d, mpm_occupancy *occ, pl_hull_info *info);

/* The hull's silhouette in view v (sil: [height][width], 1 where the pixel's ray crosses a kept voxel) and its IoU
 * with the mask (>= 0.5); sil may be NULL. An empty union gives IoU 1. */
pl_status pl_visual_hull_silhouette(const mpm_occupancy *occ, const pl_hull_view *v, unsigned char *sil, double *iou);

/* An object carved for shape = visual_hull (hull_object.h carves and reports it; the scene owns it and frees it
 * with pl_hull_object_free, which lives here so that scene.c needs nothing of hull_object.c). */
typedef struct pl_hull_object_s {
  mpm_occupancy occ;         /* the kept voxels (world) */
  pl_hull_info info;
  int misses;
  int nviews;
  char (*names)[64];         /* [nviews] camera names */
  double *iou;               /* [nviews] */
  int *width, *height;       /* [nviews] mask sizes */
  unsigned char **overlay;   /* [nviews] RGB overlays: both white, mask only red, hull only blue, neither black */
  pl_hull_view *views;       /* [nviews] the views carved from, with their masks (owned: masks[v]), kept for the
                              * appearance stage's pixel weights (scene/appearance_mask.h) */
  float **masks;
} pl_hull_object;
void pl_hull_object_free(pl_hull_object *h); /* NULL: no-op */

#ifdef __cplusplus
}
#endif
#endif
