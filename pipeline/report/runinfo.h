/* runinfo.h: what each output folder records about the run that wrote it (provenance).
 *
 * OUTPUT/run.json: command line, command, scene file and the --set overrides, version, git commit, build
 * type, precision, backend, device, threads, host, start time (UTC), wall time and the outcome; OUTPUT/scene.cfg:
 * the resolved scene (every value, defaults and overrides marked), which `pipeline check` reads back. optimize
 * also copies the same object into result.json ("run").
 *
 * A second run into a folder that already holds one says so (and run.json names the earlier one); with
 * --new-run the run takes a new folder OUTPUT/YYYYmmdd-HHMMSS instead. */
#ifndef PL_RUNINFO_H
#define PL_RUNINFO_H

#include "core/backend.h"
#include "core/fileio.h"
#include "pipeline/scene/scene.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  char folder[PL_PATH_MAX];   /* the run's output folder */
  char command[32];
  char started[32];           /* UTC, ISO 8601 */
  double t0;
  int resumed;
  char previous[160];         /* "COMMAND started TIME" of the run the folder held before; "" when none */
} pl_run;

/* Build facts (generated at build time: build_info.c). */
extern const char *const pl_build_version, *const pl_build_type, *const pl_build_commit;

/* Choose and create the folder (out, or a new out/YYYYmmdd-HHMMSS with new_run), warn when it holds an
 * earlier run (unless resuming it), write scene.cfg and a first run.json (outcome "running"). */
pl_status pl_run_begin(pl_run *r, const char *command, const pl_scene *s, const char *out, int new_run, int resume,
                       int quiet);
/* Finish run.json (outcome, wall time, backend, device); with add_to_result, also result.json's "run". */
pl_status pl_run_end(pl_run *r, const pl_scene *s, pl_backend backend, int ok, int add_to_result);
/* One line describing the device of a backend ("CPU: model, N threads" or the CUDA device). */
void pl_run_device(pl_backend backend, char *out, size_t size);

#ifdef __cplusplus
}
#endif
#endif
