/* particle_fields_internal.h: the state of the per-particle moduli and learnt E fields (particle_fields.h), shared
 * by particle_fields.c (set-up, apply, gradient, Adam, save/load) and particle_fields_check.c (the gradient check
 * of the grid values). Included by those two files only. */
#ifndef PL_PARTICLE_FIELDS_INTERNAL_H
#define PL_PARTICLE_FIELDS_INTERNAL_H

#include "pipeline/engine/engine_internal.h"
#include "pipeline/engine/particle_fields.h"

typedef struct {
  int object;
  int dims[3], cells, nk;
  double lo[3], hi[3];   /* the object's bounding box at rest */
  double *u, *g, *m, *v; /* [nk] log E, dL/du, Adam moments */
  int64_t np;            /* particles of the object */
  int64_t *pidx;         /* [np] */
  int *node;             /* [np][8] grid values weighted (-1: none) */
  double *w;             /* [np][8] */
} grid_field;

typedef struct {
  int nfields;
  grid_field *f;
  double *E, *nu;        /* [n] current per-particle values */
  signed char *E_src, *nu_src; /* [n] 0 material, 1 expression, 2 learnt grid */
  double *E_expr, *nu_expr;    /* [n] expression values */
  long t;                /* Adam steps */
} fields_state;

static inline fields_state *state(const pl_engine *e) { return (fields_state *)e->fields; }

#endif
