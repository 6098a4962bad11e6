/* fit_state.h: what --resume may trust in a saved state.json.
 *
 * A state file is input like any other: it may come from another scene, an older build, a hand edit or a
 * corrupt disk. The fit keeps a hash of the resolved scene in it and, on resume, checks the hash and the range
 * of every field before using any of them (stage and iteration counters, the loss history, Adam's step count,
 * each parameter's step-space value and moments). Each function returns PL_OK or an error naming the file
 * and the field. */
#ifndef PL_FIT_STATE_H
#define PL_FIT_STATE_H

#include <stdint.h>

#include "pipeline/fit/optim.h"
#include "pipeline/scene/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

/* FNV-1a hash of the resolved scene (every key of every section, defaults filled in) without the keys that only
 * steer the run (threads, backend, output folders, iteration counts, early stop, checkpointing, what is
 * written), as 16 hex digits into hex[17]. Two scenes with the same hash fit the same thing. */
void pl_fit_scene_hash(const pl_scene *s, char hex[17]);

/* A number field of a JSON object (cJSON *) that must be an integer in [lo, hi]. */
pl_status pl_state_get_count(const void *obj, const char *key, double lo, double hi, long *out, const char *path);
/* A number field that must be finite and in [lo, hi]. */
pl_status pl_state_get_real(const void *obj, const char *key, double lo, double hi, double *out, const char *path);

/* Every parameter's physical value is representable: finite, > 0 in the log space, strictly inside (lo, hi)
 * in the bounded space (a saturated logistic map has no gradient), and its Adam moments finite (v >= 0).
 * `when` says where we are ("after iteration 12", "state.json"). */
pl_status pl_fit_check_params(const pl_optimizer *o, const char *when);

#ifdef __cplusplus
}
#endif
#endif
