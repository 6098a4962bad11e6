/* fit_watch.c: see fit_watch.h. An exactly zero gradient is the mark of a cut adjoint or of a value the loss
 * cannot see (an occluded object, a frame selection that misses the motion, a model branch never taken). */
#include "pipeline/fit/fit_watch.h"

#include <stdio.h>

#include "core/log.h"

void pl_fit_watch_gradients(const pl_optimizer *o, const unsigned char *active, long *zero, long iteration) {
  for (int i = 0; i < o->n; ++i) {
    if ((active && !active[i]) || o->p[i].frozen) continue;
    int all_zero = 1;
    for (int k = 0; k < o->p[i].components; ++k) all_zero &= o->p[i].grad[k] == 0;
    if (!all_zero) continue;
    if (zero[i]++ == 0)
      PL_WARN("iteration %ld: %s gets an exactly zero gradient: the loss does not see it here (it keeps its value "
              "while the gradient is zero; reported in result.json)", iteration, o->p[i].address);
  }
}

void pl_fit_zero_gradient_json(cJSON *result, const pl_optimizer *o, const long *zero) {
  cJSON *arr = cJSON_AddArrayToObject(result, "gradient_warnings");
  for (int i = 0; zero && i < o->n; ++i) {
    if (zero[i] == 0) continue;
    cJSON *w = cJSON_CreateObject();
    cJSON_AddStringToObject(w, "parameter", o->p[i].address);
    cJSON_AddNumberToObject(w, "zero_gradient_iterations", (double)zero[i]);
    char msg[320];
    snprintf(msg, sizeof msg, "%s got an exactly zero gradient in %ld iteration%s", o->p[i].address, zero[i],
             zero[i] == 1 ? "" : "s");
    cJSON_AddStringToObject(w, "message", msg);
    cJSON_AddItemToArray(arr, w);
  }
}
