/* engine.h: the whole pipeline for one scene: MLS-MPM simulation -> upsampler -> rasterizer -> image loss,
 * forward and adjoint, with state kept on the scene's backend between stages.
 *
 * One engine serves every command: `render` (forward, images and PLYs per frame), `optimize` and `gradcheck`
 * (loss and gradients of every learnable parameter), `sweep` (loss per grid point). Nothing goes to the host in
 * the inner loop but the loss scalars and the images the user asked for.
 *
 * Frames: frame 0 is the initial state, frame f the state after f frame times (1/fps each).
 *
 * Gradients (pl_engine_eval with want_grad): the forward pass runs the simulation on a checkpointing tape; at
 * each frame that carries a loss the Gaussians are rendered for every loss camera, the image loss is taken
 * against the targets, and its adjoint goes back through the rasterizer and the upsampler at once, giving
 * dL/dx and dL/dF of that frame's particles, which the tape stores as sources. The tape's backward pass then
 * carries them back through time to the material parameters, gravity and the initial state; the engine maps the
 * initial velocities to the objects' velocity and angular velocity. */
#ifndef PL_ENGINE_H
#define PL_ENGINE_H

#include "mpm/mpm.h"
#include "pipeline/engine/loss.h"
#include "pipeline/fit/optim.h"
#include "pipeline/fit/profile.h"
#include "pipeline/scene/scene.h"
#include "pipeline/io/targets.h"
#include "raster/raster.h"
#include "upsample/upsample.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pl_engine pl_engine;

/* Build the simulation (particles from the scene's objects), the upsampler bound to the initial particles,
 * the rasterizer, and the image buffers, on the scene's backend. The scene must outlive the engine. */
pl_status pl_engine_create(pl_engine **e, const pl_scene *s);
void pl_engine_free(pl_engine *e);

pl_backend pl_engine_backend(const pl_engine *e);
/* Time per phase of every evaluation so far (profile.h); with `sync`, phases wait for the device (CUDA) so that
 * each is timed on its own (slower; `optimize --profile`). */
const pl_profile *pl_engine_profile(const pl_engine *e);
void pl_engine_profile_sync(pl_engine *e, int sync);
int64_t pl_engine_particles(const pl_engine *e);
int64_t pl_engine_gaussians(const pl_engine *e);
/* 1 when the Gaussians carry SH (a splat object with bands above degree 0): the rasterizer reads SH and frames. */
int pl_engine_gaussians_have_sh(const pl_engine *e);
const mpm_sim *pl_engine_sim(const pl_engine *e);

/* Set the learnable parameters to the optimiser's current values (materials, gravity, initial velocities,
 * upsampler scalars). Values are validated (a material's E must stay > 0, ...): errors name the parameter. */
pl_status pl_engine_apply(pl_engine *e, const pl_optimizer *o);

/* Called at each frame the caller asked for, with that frame's images rendered (pl_engine_images). */
typedef pl_status (*pl_engine_frame_fn)(void *user, pl_engine *e, int frame);

/* Simulate frames 0..last_frame from the initial state; at the frames with mask[f] set (NULL: none), upsample
 * and render every camera, then call cb (may be NULL). */
pl_status pl_engine_run(pl_engine *e, int last_frame, const unsigned char *mask, pl_engine_frame_fn cb, void *user);

/* The last rendered images on the backend, all cameras packed (camera c starts at pixel offset(c)). */
void pl_engine_images(const pl_engine *e, real **rgb, real **alpha);
int64_t pl_engine_camera_offset(const pl_engine *e, int camera);
/* Download camera c's last images to host floats (rgb [H][W][3], alpha [H][W]; either may be NULL). */
pl_status pl_engine_download_camera(const pl_engine *e, int camera, float *rgb, float *alpha);
/* Per-pixel weights of the image loss's RGB cotangents, all cameras packed as the images (w [offset(ncameras)] on
 * the host, copied; NULL: every weight 1). With 0/1 weights the gradient is that of the L1 / L2 terms summed over
 * the pixels of weight 1 (DSSIM's windows reach across: there it is the masked cotangent); the loss value is the
 * whole image's. The appearance stage uses it to learn colours from the first frame's masked pixels only. */
pl_status pl_engine_set_rgb_weights(pl_engine *e, const real *w);
/* Write the last frame's particles (PLY), Gaussians (3DGS PLY) or images (RGBA PNG per camera). */
pl_status pl_engine_write_particle_ply(const pl_engine *e, const char *path);
pl_status pl_engine_write_gaussian_ply(const pl_engine *e, const char *path);
pl_status pl_engine_write_pngs(const pl_engine *e, const char *folder, int frame);

/* The rasterizer's cut-offs for every later render (raster_options: alpha_min, transmittance_min; 0 = gsplat's
 * 1/255 and 1e-4). Small values make the image a smooth function of the parameters (gradcheck). */
void pl_engine_set_cutoffs(pl_engine *e, double alpha_min, double transmittance_min);

/* Depth order for every later render: 0 each Gaussian's own depth (as optimize renders); 1 record the camera
 * depths of every frame rendered and sort by them; 2 sort by the recorded ones (frames recorded in mode 1).
 * With the order frozen at a point, the loss near it is smooth (two overlapping splats of different colours
 * trading places is a jump), and the adjoint at that point is its derivative. */
void pl_engine_freeze_order(pl_engine *e, int mode);
/* The objective's rasterizer cut-offs (every loss is taken with them: pl_engine_set_targets sets them). */
#define PL_OBJECTIVE_ALPHA_MIN 1e-9
#define PL_OBJECTIVE_T_MIN 1e-12
void pl_engine_objective_cutoffs(pl_engine *e);

/* Upload the targets (host images) to the backend; they are the reference of pl_engine_eval. */
pl_status pl_engine_set_targets(pl_engine *e, const pl_targets *t);

/* Loss of the current parameters on the loss frames (targets' frames within `frames`, a frame selection) and,
 * when want_grad, dL/dtheta into o->p[i].grad for every parameter of o (o may be NULL without want_grad).
 * The loss is the mean over the (camera, frame) images of the weighted terms. */
pl_status pl_engine_eval(pl_engine *e, const char *frames, int want_grad, pl_optimizer *o, pl_loss_value *loss);

/* Render the targets of the scene from its [truth] values (source = truth) or load them from the folder. */
pl_status pl_engine_make_targets(const pl_scene *s, pl_targets *t, int quiet);
/* The same for targets already selected (pl_targets_select, pl_targets_select_holdout). */
pl_status pl_engine_fill_targets(const pl_scene *s, pl_targets *t, int quiet);

/* The objective of pl_fit / pl_gradcheck on this engine (user = the engine). */
pl_status pl_engine_objective_eval(void *user, pl_optimizer *o, const char *frames, int want_grad, pl_loss_value *loss);
/* target | rendered | difference strips for the scene's strip frames and every loss camera, into `folder`. */
pl_status pl_engine_write_strips(void *user, pl_optimizer *o, const char *folder);

#ifdef __cplusplus
}
#endif
#endif
