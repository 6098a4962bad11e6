/* capi_so.c: the one source of libpipeline.so itself; the API (capi.c, both precisions) comes from the static
 * libraries capi and capi_f64, linked whole. */
#include "capi/pipeline_api.h"

/* The C API version this library was built with (PLAPI_VERSION). */
int plapi_version(void) { return PLAPI_VERSION; }
