/* engine_appearance_internal.h: the per-Gaussian appearance state (engine_appearance.c), shared with its gradient
 * check (engine_appearance_check.c). Included by those two files only. */
#ifndef PL_ENGINE_APPEARANCE_INTERNAL_H
#define PL_ENGINE_APPEARANCE_INTERNAL_H

#include <string.h>

#include "pipeline/engine/engine_internal.h"
#include "pipeline/fit/fit.h"

typedef struct {
  int64_t m;
  long t;                  /* Adam steps taken */
  double *mc, *vc, *mb, *vb; /* moments [3m], [3m], [m], [m] */
  real *c, *gc, *b, *gb;   /* host copies: values and gradients */
  /* the fit's kept points (fit.h keep/restore): every own value (E-field cells, then colours, opacity offsets) */
  size_t nown;
  double *kept[PL_FIT_KEEP_SLOTS]; /* NULL: the slot is empty */
} appearance;

/* The engine's appearance state, allocated on first use. */
pl_status engine_appearance_state(pl_engine *e, appearance **out);

/* A device view of count reals at p on the engine's backend. */
static inline pl_buffer view(const pl_engine *e, real *p, size_t count) {
  pl_buffer b;
  memset(&b, 0, sizeof b);
  b.backend = e->backend;
  b.ptr = p;
  b.bytes = count * sizeof(real);
  return b;
}

#endif
