#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/progress.h"

static int g_level = -1;

int pl_log_parse_level(const char *name, pl_log_level *out) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; ++i)
    if (strcmp(name, names[i]) == 0) {
      *out = (pl_log_level)i;
      return 0;
    }
  return -1;
}

pl_log_level pl_log_get_level(void) {
  if (g_level < 0) {
    pl_log_level lv = PL_LOG_INFO;
    const char *env = getenv("PL_LOG");
    if (env) pl_log_parse_level(env, &lv);
    g_level = (int)lv;
  }
  return (pl_log_level)g_level;
}

void pl_log_set_level(pl_log_level level) { g_level = (int)level; }

void pl_log(pl_log_level level, const char *fmt, ...) {
  if ((int)level > (int)pl_log_get_level()) return;
  static const char *tags[] = {"error", "warning", "info", "debug"};
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  pl_progress_clear_line(); /* never print through a live progress bar */
  fprintf(stderr, "[%s] %s\n", tags[level], buf);
  fflush(stderr);
}
