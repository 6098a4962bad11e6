/* fit_appearance.h: the appearance stage of optimize (optimize.appearance_iters = N, default 0: none).
 *
 * Before the physics fit, the per-Gaussian colours and opacity offsets (upsample.learn_colors / learn_opacities;
 * engine_appearance.c's Adam at upsample.colors_lr / opacities_lr) are fitted to the FIRST frame's images of the
 * training cameras alone, the learnable physical parameters held: frame 0 is the initial state, so its images say
 * nothing about the material and everything about the object's look (PAC-NeRF and GIC fit the first frame's
 * appearance before the dynamics too). The first-frame PSNR before and after goes to the terminal and to
 * result.json ("appearance"), with one picture per camera (appearance_CAMERA.png: target | before | after).
 * Skipped (said so) for a scene with a shape = gaussians object, whose appearance is trained, and on --resume (the
 * run's appearance.bin has the values).
 * With optimize.appearance_mask (auto: with a shape = visual_hull object, whose first-frame masks it uses) the
 * colours are learnt from the pixels wholly inside the masks only (scene/appearance_mask.h); the share of such
 * pixels and the PSNR over them go to the log and to result.json. With optimize.appearance_hold the colours are
 * held afterwards (pl_engine_hold_colors): the physics fit steps the material only (PAC-NeRF's two steps). */
#ifndef PL_FIT_APPEARANCE_H
#define PL_FIT_APPEARANCE_H

#include "pipeline/engine/engine.h"
#include "pipeline/fit/optim.h"
#include "pipeline/scene/scene.h"
#include "pipeline/io/targets.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int iterations;            /* Adam steps taken (0: no stage) */
  int images;                /* first-frame images */
  double loss_before, loss_after;
  double psnr_before, psnr_after; /* dB over the first frame's images (RGB) */
  int masked;                /* optimize.appearance_mask: colours learnt from the pixels inside the masks */
  int64_t masked_pixels, inside_pixels; /* pixels of the cameras with a mask, and those wholly inside it */
  double psnr_in_before, psnr_in_after; /* dB over the pixels inside */
  int colors_held;           /* optimize.appearance_hold: the physics fit does not step the colours */
} pl_appearance_result;

/* Run the stage (nothing when appearance_iters = 0); `folder` gets the pictures (NULL: none). The engine's targets
 * are `train` again afterwards. */
pl_status pl_appearance_stage(const pl_scene *s, pl_engine *e, pl_optimizer *o, const pl_targets *train, int resume,
                              int quiet, const char *folder, pl_appearance_result *r);
/* Add "appearance" {iterations, images, loss_before, loss_after, psnr_before_db, psnr_after_db} to result.json. */
pl_status pl_appearance_add_to_json(const char *path, const pl_appearance_result *r);

#ifdef __cplusplus
}
#endif
#endif
