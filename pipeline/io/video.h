/* video.h: write a sequence of RGB frames as a video: MP4 (H.264) through the ffmpeg program when it is
 * installed (frames are piped to it as raw RGB), else an animated GIF written here (a fixed 6x7x6 colour cube
 * with ordered dithering, LZW-compressed, looping). The file appears only when it is complete: both are
 * written to a temporary name and renamed at the end.
 *
 * The environment variable PIPELINE_FFMPEG names the ffmpeg program (default "ffmpeg"); PIPELINE_FFMPEG=none
 * forces the GIF. */
#ifndef PL_VIDEO_H
#define PL_VIDEO_H

#include <stddef.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_video pl_video;

/* Open `base` + ".mp4" (or ".gif" without ffmpeg) for w x h frames at `fps` frames per second. The chosen
 * path is copied to path_out (may be NULL). */
pl_status pl_video_open(pl_video **v, const char *base, int w, int h, double fps, char *path_out, size_t path_size);
/* Append a frame (w x h x 3 floats in [0, 1], the size given at open). */
pl_status pl_video_frame(pl_video *v, const float *rgb);
/* Finish and rename into place (ok = 1), or drop the partial file (ok = 0). Frees v. */
pl_status pl_video_close(pl_video *v, int ok);
/* Whether the ffmpeg program can be run (what pl_video_open will use). */
int pl_video_have_ffmpeg(void);
/* Playback rate for n frames simulated at sim_fps: real time, slowed down so that the video lasts at least
 * `min_seconds` (never below 2 frames per second). */
double pl_video_fps(int n, double sim_fps, double min_seconds);

#ifdef __cplusplus
}
#endif
#endif
