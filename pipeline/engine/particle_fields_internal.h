/* particle_fields_internal.h: the state of the per-particle moduli and learnt E fields (particle_fields.h), shared
 * by particle_fields.c (set-up, apply, gradient, Adam, save/load) and particle_fields_check.c (the gradient check
 * of the grid values). Included by those two files only. */
#ifndef PL_PARTICLE_FIELDS_INTERNAL_H
#define PL_PARTICLE_FIELDS_INTERNAL_H

#include <stdio.h>

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

/* A learnt displacement of an object's initial particles (learn_positions; particle_positions.c): the grid's
 * geometry, particles and weights as a grid_field's, its u, g, m, v holding 3 values per node (d_x, d_y, d_z). */
typedef struct {
  grid_field f;
  real *base;            /* [np][3] the particles' sampled positions (the displacement is added to them) */
} pos_field;

typedef struct {
  int nfields;
  grid_field *f;
  int npos;
  pos_field *pf;
  long tp;               /* Adam steps of the displacements */
  double *E, *nu;        /* [n] current per-particle values */
  signed char *E_src, *nu_src; /* [n] 0 material, 1 expression, 2 learnt grid */
  double *E_expr, *nu_expr;    /* [n] expression values */
  long t;                /* Adam steps */
} fields_state;

static inline fields_state *state(const pl_engine *e) { return (fields_state *)e->fields; }

/* Shared by the two kinds of learnt grid (particle_fields.c): the grid of object o over its particles' bounding
 * box at rest (dims, cells as given), its particles and their weights, ncomp values per grid value allocated
 * (zeroed); the point of grid value k. */
pl_status fields_bind_grid(pl_engine *e, grid_field *f, int o, const int dims[3], int cells, int ncomp,
                           const char *key);
void fields_grid_point(const grid_field *f, int k, double x[3]);
/* The learnt displacements and then the per-particle moduli, after a learnt value changed (engine_fields_apply
 * alone serves a material's change: it leaves the initial positions as they are). */
pl_status fields_apply_all(pl_engine *e);
/* One Adam update of value k's moments from its gradient; returns the bias-corrected step (to subtract). */
double fields_adam_step(grid_field *f, int k, double b1, double b2, double c1, double c2, double lr);
/* nk (int64) and nv x (u, m, v) as doubles: the save format of both kinds of learnt grid */
void fields_write_values(FILE *out, const grid_field *f, int nv);

/* particle_positions.c: learn_positions */
pl_status positions_create(pl_engine *e, fields_state *s);
pl_status positions_apply(pl_engine *e);
pl_status positions_gradient(pl_engine *e, const mpm_grads *g);
double positions_regularise(pl_engine *e, int want_grad);
pl_status positions_step(pl_engine *e, double lr_scale);
size_t positions_count(const fields_state *s);
pl_status positions_save(pl_engine *e, const char *folder);
pl_status positions_load(pl_engine *e, const char *folder);
pl_status positions_write_csv(pl_engine *e, const char *folder);
void positions_free(fields_state *s);

#endif
