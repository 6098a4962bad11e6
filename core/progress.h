/* progress.h: a progress bar on stderr. On a terminal it redraws one line in place (with rate and ETA);
 * elsewhere (logs, CI) it prints a plain line at every 10% so logs stay readable; both show the rate and ETA. */
#ifndef PL_PROGRESS_H
#define PL_PROGRESS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  const char *label;  /* shown before the bar */
  int64_t total;      /* number of steps */
  /* internal */
  int64_t done;
  double t_start;
  double t_last_draw;
  int tty;
  int last_decile;
  char extra[160];
} pl_progress;

/* Start a bar. quiet != 0 draws nothing (pl_progress_* stay valid calls). */
void pl_progress_begin(pl_progress *p, const char *label, int64_t total, int quiet);
/* Advance to `done` steps; `extra` (may be NULL) is shown after the bar, e.g. "loss 0.0123". */
void pl_progress_update(pl_progress *p, int64_t done, const char *extra);
void pl_progress_end(pl_progress *p);
/* Erase a live bar's line so that a log message prints cleanly (no-op when none is drawn). */
void pl_progress_clear_line(void);
/* Wall-clock seconds (monotonic). */
double pl_now(void);

#ifdef __cplusplus
}
#endif
#endif
