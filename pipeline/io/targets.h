/* targets.h: the images the optimiser compares against, one per (camera, frame) that carries a loss.
 *
 * From a folder: FOLDER/CAMERA/FRAME.png with the frame as 4 digits (0000.png is frame 0, the initial state),
 * RGB or RGBA, 8 or 16 bit; the alpha channel is the target mask. Sizes must match the camera; a missing
 * file, a size mismatch, or a mask loss without alpha in the files is an error naming the file.
 * Synthesised targets (source = truth) are rendered by the pipeline and stored here the same way. */
#ifndef PL_TARGETS_H
#define PL_TARGETS_H

#include "core/status.h"
#include "pipeline/scene/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int ncameras, nframes;       /* nframes = sim.frames + 1 (frame 0 is the initial state) */
  unsigned char *camera_used;  /* [ncameras] */
  unsigned char *frame_used;   /* [nframes] */
  float **rgb;                 /* [ncameras * nframes] -> H*W*3 (NULL where unused) */
  float **alpha;               /* [ncameras * nframes] -> H*W  (NULL where unused or without alpha) */
  int has_alpha;               /* every used image has a mask */
  float **background;          /* [ncameras] -> H*W*3 background plate composited behind the Gaussians (or NULL) */
  unsigned char *pair_used;    /* [ncameras * nframes]: which (camera, frame) pairs to load; NULL: all used ones */
} pl_targets;

/* Which cameras and frames carry a loss (targets.cameras, targets.frames, less targets.holdout and
 * targets.holdout_frames); allocates t's arrays. */
pl_status pl_targets_select(const pl_scene *s, pl_targets *t);
/* The hold-out images: every pair of a held-out camera or a held-out frame (within targets.cameras/frames and
 * the held-out ones). Returns PL_OK with no pair selected when the scene holds nothing out. */
pl_status pl_targets_select_holdout(const pl_scene *s, pl_targets *t);
/* Whether (camera, frame) is to be loaded. */
int pl_targets_wanted(const pl_targets *t, int camera, int frame);
/* Load every selected image from targets.folder. */
pl_status pl_targets_load_folder(const pl_scene *s, pl_targets *t);
/* Store one synthesised image (copied). */
pl_status pl_targets_set(pl_targets *t, int camera, int frame, int npix, const float *rgb, const float *alpha);
int pl_targets_count(const pl_targets *t);
void pl_targets_free(pl_targets *t);

#ifdef __cplusplus
}
#endif
#endif
