/* upsample_ops.h: picking a backend's kernel table (the front's only view of the backends). */
#ifndef PL_UPSAMPLE_OPS_H
#define PL_UPSAMPLE_OPS_H

#include "upsample/upsample_internal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The ops of a resolved backend (cpu or cuda). A backend not compiled into this build (CUDA in a CPU-only build)
 * or unknown: PL_ERR_UNSUPPORTED with a message naming it, *out = NULL. */
pl_status ups_backend_ops_get(pl_backend backend, const ups_backend_ops **out);

#ifdef __cplusplus
}
#endif
#endif /* PL_UPSAMPLE_OPS_H */
