/* holdout.h: scoring the fitted scene on images kept out of the fit (targets.holdout, targets.holdout_frames).
 *
 * After the fit, the held-out (camera, frame) images are rendered with the fitted parameters and compared with
 * the targets: the loss (optimize.loss, mean over the images, as in the fit), PSNR over all their pixels
 * (10 log10(1 / MSE), colours in [0,1]) and, where the targets have masks, the mask IoU (rendered alpha > 0.5
 * against target mask > 0.5, intersections and unions summed over the images). */
#ifndef PL_HOLDOUT_H
#define PL_HOLDOUT_H

#include "pipeline/engine/engine.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int images;          /* 0: nothing held out */
  double loss, mse, psnr;
  int masks;           /* images with a mask */
  double iou;          /* NAN without masks */
  char cameras[256], frames[256];
} pl_holdout_result;

int pl_scene_has_holdout(const pl_scene *s);

/* Render and score the hold-out images with the optimiser's current parameters. `train` (the fit's targets) is
 * set back on the engine afterwards. */
pl_status pl_holdout_evaluate(const pl_scene *s, pl_engine *e, pl_optimizer *o, const pl_targets *train, int quiet,
                              pl_holdout_result *r);
/* Add {"holdout": {...}} to an existing result.json (atomically rewritten). */
pl_status pl_holdout_add_to_json(const char *path, const pl_holdout_result *r);

#ifdef __cplusplus
}
#endif
#endif
