/* capture_scene.h: a capture (capture.h) as a scene's cameras and as its target images.
 *
 * [targets] source = pacnerf | transforms (path = the capture), or source = folder when the folder holds a COLMAP
 * text model: every camera of the capture becomes a scene camera (named as in the capture: PAC-NeRF's camera
 * number, transforms.json's "camera" or cam0, cam1... in order of appearance, COLMAP's image folder), rendered
 * at [render] width x height with its intrinsics scaled from the images' size. [camera] sections may add more.
 *
 * Timing: capture frame k (or time t, as k = t * fps) is simulation frame (k - offset) * sim.fps / fps; capture
 * frames that fall between simulation frames (more than 1e-3 of a frame away) or outside 0..sim.frames are not
 * used (the log says how many). */
#ifndef PL_CAPTURE_SCENE_H
#define PL_CAPTURE_SCENE_H

#include "pipeline/io/capture.h"
#include "pipeline/scene/scene.h"
#include "pipeline/io/targets.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called while the scene is built: reads targets.path/fps/offset/holdout/holdout_frames and adds the capture's
 * cameras to s->cameras. */
pl_status pl_scene_capture_setup(pl_scene *s);

/* The simulation frame a capture frame falls on (-1: none). */
int pl_capture_sim_frame(const pl_scene *s, const pl_capture_frame *f);

/* Load the selected targets from the capture: images resampled (area filter) to each camera's render size,
 * masks from mask files or the images' alpha, background plates. */
pl_status pl_targets_load_capture(const pl_scene *s, pl_targets *t, int quiet);

#ifdef __cplusplus
}
#endif
#endif
