/* fit_video.h: the video of a fit: at every target frame, for every camera with targets, the target, the
 * rendering at the start parameters and its difference, and the rendering at the fitted parameters and its
 * difference (OUTPUT/fit.mp4, or fit.gif without ffmpeg; see video.h). */
#ifndef PL_FIT_VIDEO_H
#define PL_FIT_VIDEO_H

#include "pipeline/engine/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The renderings of one parameter set at the target frames: img[c * nframes + f] (NULL where no target). */
typedef struct {
  int ncameras, nframes;
  float **img;
  char params[256];   /* "E 4e+04, nu 0.2": the values rendered (first few parameters) */
} pl_fit_frames;

/* Render every target (camera, frame) with the optimiser's current values (sets them on the engine). */
pl_status pl_fit_frames_capture(pl_engine *e, const pl_scene *s, const pl_optimizer *o, const pl_targets *t, pl_fit_frames *out);
void pl_fit_frames_free(pl_fit_frames *f);
/* Write base.mp4 (or .gif); the file name goes to path_out. */
pl_status pl_fit_video_write(const pl_scene *s, const pl_targets *t, const pl_fit_frames *start,
                             const pl_fit_frames *end, const char *base, char *path_out, size_t path_size);

#ifdef __cplusplus
}
#endif
#endif
