/* appearance_mask.h: the first frame's masks as pixel weights of the appearance stage (optimize.appearance_mask).
 *
 * A visual hull is carved from the first frame's silhouettes, and the Gaussians the upsampler puts on its surface
 * overhang them: at the silhouette's edge their footprints cover background pixels. Fitted to every pixel of the
 * first frame, those Gaussians learn the background plate's colours; when the body turns and deforms later they
 * show as patches of background on it, and the material that hides them best wins (issue 20: the plasticine
 * capture's yield stress came out 48 % low; with the material's true colour, +6.9 %). With the masks, the stage
 * learns colours from the pixels wholly inside them only (pl_engine_set_rgb_weights): what lies outside says
 * nothing about the object's colour. */
#ifndef PL_APPEARANCE_MASK_H
#define PL_APPEARANCE_MASK_H

#include <stdint.h>

#include "core/hd.h"
#include "core/status.h"
#include "pipeline/scene/visual_hull.h"

#ifdef __cplusplus
extern "C" {
#endif

/* weights [h][w] for a camera of w x h pixels over the same view as the mask (v->width x v->height, any size): 1
 * where every mask pixel the camera pixel covers (by area) is >= 0.5, else 0; *inside counts the ones. */
void pl_mask_pixel_weights(const pl_hull_view *v, int w, int h, real *weights, int64_t *inside);

#ifdef __cplusplus
}
#endif
#endif
