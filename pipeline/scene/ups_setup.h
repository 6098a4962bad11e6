/* ups_setup.h: the glue from a scene ([upsample] and [object] sections) to the upsampler (upsample/upsample.h).
 *
 * Mode auto: runtime for materials that tear or flow (Drucker-Prager sand, fluids, viscoplastic), bound
 * otherwise. The particle spacing is dx / cbrt(particles per cell) of the first object. */
#ifndef PL_UPS_SETUP_H
#define PL_UPS_SETUP_H

#include "pipeline/scene/scene.h"
#include "upsample/upsample.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fill an upsampler description (objs: room for s->nobjects). rest [n][3] and object [n] are host arrays that
 * must outlive ups_create. */
void pl_ups_desc(const pl_scene *s, pl_backend backend, int64_t n, const real *rest, const int *object,
                 ups_object *objs, ups_desc *d);
/* Build the upsampler for a scene's initial particles. */
pl_status pl_ups_setup(const pl_scene *s, pl_backend backend, int64_t n, const real *rest, const int32_t *object,
                       ups **out);

#ifdef __cplusplus
}
#endif
#endif
