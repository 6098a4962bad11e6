/* upsample_ops.c: the table of backends (the one place that knows which backends this build has). */
#include "upsample/upsample_ops.h"

pl_status ups_backend_ops_get(pl_backend backend, const ups_backend_ops **out) {
  *out = NULL;
  switch (backend) {
    case PL_BACKEND_CPU: *out = &ups_cpu_ops; return PL_OK;
    case PL_BACKEND_CUDA:
#ifdef PL_HAVE_CUDA
      *out = &ups_cuda_ops;
      return PL_OK;
#else
      return pl_fail(PL_ERR_UNSUPPORTED, "upsample: the cuda backend was asked for, but this build has no CUDA "
                                         "(configure with nvcc on the PATH, or use backend = cpu)");
#endif
    default: break;
  }
  return pl_fail(PL_ERR_UNSUPPORTED, "upsample: no kernels for backend %d (cpu or cuda)", (int)backend);
}
