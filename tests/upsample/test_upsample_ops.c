/* test_upsample_ops.c: the backend ops table. The CPU table is complete; CUDA gives its table in a CUDA build and
 * PL_ERR_UNSUPPORTED with a message naming it in a build without (never a silent no-op); an unknown backend fails
 * the same way; an upsampler asked for CUDA in a CPU-only build fails at set-up with that error. */
#include <string.h>

#include "tests/upsample/ups_test_util.h"
#include "upsample/upsample_ops.h"

int main(void) {
  const ups_backend_ops *ops = NULL;
  CHECK(ups_backend_ops_get(PL_BACKEND_CPU, &ops) == PL_OK && ops, "cpu ops: %s", pl_last_error());
  if (ops) {
    CHECK(strcmp(ops->name, "cpu") == 0, "cpu table named %s", ops->name);
    CHECK(ops->setup && ops->forward && ops->backward, "cpu table incomplete");
  }
  pl_status s = ups_backend_ops_get(PL_BACKEND_CUDA, &ops);
#ifdef PL_HAVE_CUDA
  CHECK(s == PL_OK && ops && strcmp(ops->name, "cuda") == 0, "cuda ops in a CUDA build: %s", pl_last_error());
  CHECK(ops && ops->setup && ops->forward && ops->backward, "cuda table incomplete");
#else
  CHECK(s == PL_ERR_UNSUPPORTED && ops == NULL, "cuda in a CPU-only build must be PL_ERR_UNSUPPORTED (got %d)", (int)s);
  CHECK(strstr(pl_last_error(), "cuda") != NULL && strstr(pl_last_error(), "no CUDA") != NULL,
        "the message must name the missing backend: %s", pl_last_error());
  /* and through the public API: set-up fails, it does not fall back or do nothing */
  real *x;
  int n = ups_sphere_particles((const double[3]){0, 0, 0}, 0.1, 0.02, 0.0, 1, &x);
  ups_desc d;
  memset(&d, 0, sizeof d);
  d.backend = PL_BACKEND_CUDA;
  d.nparticles = n;
  d.rest_positions = x;
  d.particle_spacing = 0.02;
  ups *u = NULL;
  CHECK(ups_create(&u, &d) == PL_ERR_UNSUPPORTED && u == NULL, "cuda set-up in a CPU-only build must fail");
  free(x);
#endif
  CHECK(ups_backend_ops_get((pl_backend)7, &ops) == PL_ERR_UNSUPPORTED && ops == NULL, "unknown backend must fail");
  CHECK(strstr(pl_last_error(), "7") != NULL, "the message names the backend: %s", pl_last_error());
  return test_summary("test_upsample_ops");
}
