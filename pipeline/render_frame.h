/* render_frame.h: THE PER-FRAME PNG HOOK of `pipeline render`.
 *
 * pl_render_frame_png() is the single place where a simulated frame becomes images. Until the rasterizer
 * (raster/) and the upsampler (upsample/) are merged it returns PL_ERR_UNSUPPORTED and `pipeline render`
 * writes particle PLYs only. When they land, implement it here: one Gaussian per particle (upsample mode
 * `particles`: mean x_p, covariance from F_p and the particle spacing, colour rgb[p]) or the upsampler's
 * Gaussians, rasterized for every [camera] of the scene into OUTDIR/CAMERA/FRAME.png (4-digit frame), on the
 * simulation's backend (sim->state.x / sim->state.F are device buffers when sim->backend is CUDA). */
#ifndef PL_RENDER_FRAME_H
#define PL_RENDER_FRAME_H

#include "mpm/mpm.h"
#include "pipeline/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Render frame `frame` of `sim` for every camera of `s` into `outdir`; *written gets the number of PNGs.
 * `rgb` [n][3] are the particles' colours (host). */
pl_status pl_render_frame_png(const pl_scene *s, const mpm_sim *sim, const float *rgb, int frame, const char *outdir,
                              int *written);

#ifdef __cplusplus
}
#endif
#endif
