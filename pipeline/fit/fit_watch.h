/* fit_watch.h: learnable values that get no gradient during a fit are reported, never silently carried. */
#ifndef PL_FIT_WATCH_H
#define PL_FIT_WATCH_H

#include <cjson/cJSON.h>

#include "pipeline/fit/optim.h"

/* After an evaluation: count the iterations where an active parameter's gradient is exactly zero in every
 * component (zero[i]), warning in the log the first time for each parameter. */
void pl_fit_watch_gradients(const pl_optimizer *o, const unsigned char *active, long *zero, long iteration);
/* result.json: "gradient_warnings": [{"parameter", "zero_gradient_iterations", "message"}] (empty: none). */
void pl_fit_zero_gradient_json(cJSON *result, const pl_optimizer *o, const long *zero);

#endif
