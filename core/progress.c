#define _POSIX_C_SOURCE 200809L
#include "core/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int g_bar_live = 0; /* a bar line is on screen without a newline */

double pl_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void pl_progress_clear_line(void) {
  if (g_bar_live) {
    fputs("\r\033[K", stderr);
    g_bar_live = 0;
  }
}

/* "2.5/s" or "3.1 s each": the rate in the unit that reads best */
static void rate_text(char *out, size_t size, double per_second) {
  if (!(per_second > 0))
    snprintf(out, size, "-");
  else if (per_second >= 1)
    snprintf(out, size, "%.3g/s", per_second);
  else
    snprintf(out, size, "%.3g s each", 1 / per_second);
}

static void draw(pl_progress *p, int final) {
  double now = pl_now(), el = now - p->t_start;
  double frac = p->total > 0 ? (double)p->done / (double)p->total : 1.0;
  if (frac > 1) frac = 1;
  char rate[32], eta[32] = "";
  rate_text(rate, sizeof rate, el > 0 ? (double)p->done / el : 0);
  if (!final && frac > 0 && frac < 1) snprintf(eta, sizeof eta, ", eta %.0fs", el * (1 - frac) / frac);
  if (p->tty) {
    char bar[31];
    int filled = (int)(frac * 30 + 0.5);
    for (int i = 0; i < 30; ++i) bar[i] = i < filled ? '#' : '-';
    bar[30] = '\0';
    fprintf(stderr, "\r\033[K%s [%s] %lld/%lld %5.1f%% %.1fs, %s%s %s", p->label ? p->label : "", bar,
            (long long)p->done, (long long)p->total, 100 * frac, el, rate, eta, p->extra);
    if (final) {
      fputc('\n', stderr);
      g_bar_live = 0;
    } else {
      g_bar_live = 1;
    }
  } else {
    fprintf(stderr, "%s %lld/%lld (%.0f%%) %.1fs, %s%s %s\n", p->label ? p->label : "", (long long)p->done,
            (long long)p->total, 100 * frac, el, rate, eta, p->extra);
  }
  fflush(stderr);
  p->t_last_draw = now;
}

void pl_progress_begin(pl_progress *p, const char *label, int64_t total, int quiet) {
  memset(p, 0, sizeof *p);
  p->label = label;
  p->total = total;
  p->t_start = pl_now();
  p->tty = quiet ? -1 : isatty(fileno(stderr));
  p->last_decile = -1;
}

void pl_progress_update(pl_progress *p, int64_t done, const char *extra) {
  p->done = done;
  if (extra) {
    strncpy(p->extra, extra, sizeof p->extra - 1);
    p->extra[sizeof p->extra - 1] = '\0';
  }
  if (p->tty < 0) return;
  if (p->tty) {
    if (pl_now() - p->t_last_draw > 0.1 || done >= p->total) draw(p, 0);
  } else {
    int decile = p->total > 0 ? (int)(10 * done / p->total) : 10;
    if (decile != p->last_decile) {
      p->last_decile = decile;
      draw(p, 0);
    }
  }
}

void pl_progress_end(pl_progress *p) {
  if (p->tty < 0) return;
  if (p->tty)
    draw(p, 1);
  else if (p->last_decile != 10)
    draw(p, 1);
}
