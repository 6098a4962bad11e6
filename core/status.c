#define _POSIX_C_SOURCE 200809L
#include "core/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define PL_MSG_MAX 2048
static _Thread_local char g_msg[PL_MSG_MAX];

const char *pl_status_name(pl_status s) {
  switch (s) {
    case PL_OK: return "ok";
    case PL_ERR_INVALID: return "invalid input";
    case PL_ERR_PARSE: return "parse error";
    case PL_ERR_IO: return "I/O error";
    case PL_ERR_NOMEM: return "out of memory";
    case PL_ERR_NO_DEVICE: return "no CUDA device";
    case PL_ERR_CUDA: return "CUDA error";
    case PL_ERR_NUMERIC: return "numerical failure";
    case PL_ERR_LIMIT: return "limit exceeded";
    case PL_ERR_UNSUPPORTED: return "unsupported";
    case PL_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

pl_status pl_fail(pl_status code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_msg, sizeof g_msg, fmt, ap);
  va_end(ap);
  return code;
}

pl_status pl_fail_context(pl_status code, const char *fmt, ...) {
  char prefix[PL_MSG_MAX], old[PL_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, g_msg, sizeof old);
  size_t lp = strnlen(prefix, sizeof prefix - 1);
  memcpy(g_msg, prefix, lp);
  size_t lo = strnlen(old, sizeof g_msg - 1 - lp);
  memcpy(g_msg + lp, old, lo);
  g_msg[lp + lo] = '\0';
  return code;
}

const char *pl_last_error(void) { return g_msg; }
void pl_clear_error(void) { g_msg[0] = '\0'; }

int pl_status_exit_code(pl_status s) {
  switch (s) {
    case PL_OK: return 0;
    case PL_ERR_INVALID:
    case PL_ERR_PARSE:
    case PL_ERR_IO: return 2;
    default: return 1;
  }
}
