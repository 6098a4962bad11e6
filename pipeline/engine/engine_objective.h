/* engine_objective.h: the objective optimize descends and gradcheck checks (cut-offs, substep schedule, depth
 * order); the reasons are in engine_objective.c and docs/adjoints.md. */
#ifndef PL_ENGINE_OBJECTIVE_H
#define PL_ENGINE_OBJECTIVE_H

#include "pipeline/engine/engine.h"
#include "pipeline/fit/gradcheck.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1: later runs use each frame's substep count of the last run (recorded); 0: automatic again. */
void pl_engine_hold_schedule(pl_engine *e, int hold);
/* The objective as gradcheck evaluates it: with gradients, at the automatic schedule (recording it and the depth
 * order); without, with the recorded schedule and order held. A pl_objective eval (user = the engine). */
pl_status pl_engine_checked_eval(void *user, pl_optimizer *o, const char *frames, int want_grad, pl_loss_value *loss);
/* Back to optimize's evaluation (own depth order, automatic schedule). */
void pl_engine_release_check(pl_engine *e);

/* Per-Gaussian appearance (upsample.learn_colors / learn_opacities; engine_appearance.c). */
/* Whether the engine learns per-Gaussian colours or opacity offsets. */
int pl_engine_learns_appearance(const pl_engine *e);
/* One Adam step of everything the engine learns itself from the last gradient evaluation: the per-Gaussian colours
 * / opacity offsets, the learnt E fields and displacements (a pl_objective step; lr_scale: schedule x stage
 * factor). */
pl_status pl_engine_appearance_step(void *user, double lr_scale);
/* The same for the per-Gaussian colours / opacity offsets alone (the first-frame appearance stage, where the
 * material and the shape are held). */
pl_status pl_engine_appearance_only_step(pl_engine *e, double lr_scale);
/* Hold the per-Gaussian colours (hold = 1: pl_engine_appearance_step leaves them as they are; optimize.appearance_hold)
 * or learn them again (0). */
void pl_engine_hold_colors(pl_engine *e, int hold);
/* Save / load the per-Gaussian values and their Adam moments (FOLDER/appearance.bin; --resume). */
pl_status pl_engine_appearance_save(void *user, const char *folder);
pl_status pl_engine_appearance_load(void *user, const char *folder);
/* The fit's kept points (fit.h: keep / restore; user = the engine): every value the engine learns itself, the
 * E-field cells and the per-Gaussian colours and opacity offsets, copied into or back from a slot. The save /
 * load above carry the slots (FOLDER/kept.bin). */
pl_status pl_engine_keep(void *user, int slot);
pl_status pl_engine_restore(void *user, int slot, int *restored);
/* The fit's results for the reported point: E_field.csv and the image strips (a pl_objective write_images). */
pl_status pl_engine_write_results(void *user, pl_optimizer *o, const char *folder);
/* gradcheck rows for `samples` per-Gaussian entries (largest adjoints first), central differences. */
pl_status pl_engine_appearance_check(pl_engine *e, pl_optimizer *o, double rel_step, double tol, int samples,
                                     pl_gc_row *rows, int max, int *nrows);

/* Testing only: the per-Gaussian adjoints the check reads are multiplied by this (1: none), so that a test can
 * show that a wrong gradient fails the check. */
extern double pl_appearance_check_fault;

/* Check the gradient of the current point (pl_gradcheck on pl_engine_checked_eval, plus sampled per-Gaussian
 * entries) into rows (check_grad.c) ... */
pl_status pl_engine_collect_check(pl_engine *e, pl_optimizer *o, double step, double tol, const char *frames,
                                  pl_gc_row *rows, int max, int *nrows);
/* ... or print gradcheck's table of them under `title`; *all_ok &= every verdict is good. */
pl_status pl_engine_print_check(pl_engine *e, pl_optimizer *o, double step, double tol, const char *frames,
                                const char *title, int *all_ok);
/* optimize --check-grad: a pl_objective check (user = the engine), the precision's default step and tolerance. */
pl_status pl_engine_check_grad(void *user, pl_optimizer *o, const char *frames);

#ifdef __cplusplus
}
#endif
#endif
