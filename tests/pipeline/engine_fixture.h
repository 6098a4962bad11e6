/* engine_fixture.h: a test's engine from an in-memory scene, as `pipeline optimize` builds it (the scene's [truth]
 * rendered as targets, the engine created with them, the optimiser at the scene's start values applied), and its
 * release. For tests that drive pl_engine_* directly. */
#ifndef PL_TESTS_ENGINE_FIXTURE_H
#define PL_TESTS_ENGINE_FIXTURE_H

#include <string.h>

#include "pipeline/engine/engine.h"
#include "pipeline/io/targets.h"

typedef struct {
  pl_scene s;
  pl_targets t;
  pl_engine *e;
  pl_optimizer o;
} pl_test_engine;

/* Loads `scene_text` (named "t.cfg") and builds the rest; on failure the error is pl_last_error(). Close it in
 * either case (safe on a part-built fixture). */
static inline pl_status pl_test_engine_open(pl_test_engine *f, const char *scene_text) {
  memset(f, 0, sizeof *f);
  pl_status st = pl_scene_load_string(&f->s, scene_text, "t.cfg", ".", NULL, 0);
  if (st != PL_OK) return st;
  st = pl_engine_make_targets(&f->s, &f->t, 1);
  if (st == PL_OK) st = pl_engine_create(&f->e, &f->s);
  if (st == PL_OK) st = pl_engine_set_targets(f->e, &f->t);
  if (st == PL_OK) st = pl_optimizer_init(&f->o, &f->s);
  if (st == PL_OK) st = pl_engine_apply(f->e, &f->o);
  return st;
}

static inline void pl_test_engine_close(pl_test_engine *f) {
  pl_optimizer_free(&f->o);
  pl_engine_free(f->e);
  pl_targets_free(&f->t);
  pl_scene_free(&f->s);
  memset(f, 0, sizeof *f);
}

#endif
