#define _POSIX_C_SOURCE 200809L
#include "core/parse.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int pl_parse_real(const char *s, double *out) {
  char *end;
  if (!s) return 0;
  while (isspace((unsigned char)*s)) ++s;
  if (!*s) return 0;
  errno = 0;
  double v = strtod(s, &end);
  if (end == s) return 0;
  while (isspace((unsigned char)*end)) ++end;
  if (*end || errno == ERANGE || !isfinite(v)) return 0;
  *out = v;
  return 1;
}

int pl_parse_int(const char *s, long *out) {
  char *end;
  if (!s) return 0;
  while (isspace((unsigned char)*s)) ++s;
  if (!*s) return 0;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (end == s) return 0;
  while (isspace((unsigned char)*end)) ++end;
  if (*end || errno == ERANGE) return 0;
  *out = v;
  return 1;
}

int pl_parse_int_in(const char *s, long lo, long hi, long *out) {
  long v;
  if (!pl_parse_int(s, &v)) return 0;
  if (v < lo || v > hi) return -1;
  *out = v;
  return 1;
}

int pl_parse_bool(const char *s, int *out) {
  static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
  for (int i = 0; i < 4; ++i) {
    if (strcmp(s, yes[i]) == 0) {
      *out = 1;
      return 1;
    }
    if (strcmp(s, no[i]) == 0) {
      *out = 0;
      return 1;
    }
  }
  return 0;
}

int pl_parse_reals(const char *s, double *out, int max) {
  int n = 0;
  const char *p = s;
  for (;;) {
    while (*p && (isspace((unsigned char)*p) || *p == ',')) ++p;
    if (!*p) break;
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (end == p || errno == ERANGE || !isfinite(v)) return -1;
    if (*end && !isspace((unsigned char)*end) && *end != ',') return -1;
    if (n < max) out[n] = v;
    if (n == INT_MAX) return -1;
    ++n;
    p = end;
  }
  return n;
}

/* ------------------------------------------------------------------ selections */

/* One token "a", "a:b" or "a:b:step" into mask[0..n-1]. */
static pl_status select_token(char *tok, const char *text, int n, unsigned char *mask) {
  long a, b, step = 1;
  char *colon = strchr(tok, ':');
  if (colon) {
    *colon = '\0';
    char *colon2 = strchr(colon + 1, ':');
    if (colon2) *colon2 = '\0';
    if (!pl_parse_int(tok, &a) || !pl_parse_int(colon + 1, &b) || (colon2 && !pl_parse_int(colon2 + 1, &step)))
      return pl_fail(PL_ERR_INVALID, "frame selection '%s': bad range (expected a:b or a:b:step, integers)", text);
    if (step <= 0) return pl_fail(PL_ERR_INVALID, "frame selection '%s': the step must be >= 1", text);
    if (a < 0 || a >= n) return pl_fail(PL_ERR_INVALID, "frame selection '%s': frames must lie in 0..%d (a range must start there)", text, n - 1);
    if (b > n) b = n; /* a range may run past the end: it is cut there */
    if (b <= a) return pl_fail(PL_ERR_INVALID, "frame selection '%s': empty range %ld:%ld", text, a, b);
  } else {
    if (!pl_parse_int(tok, &a))
      return pl_fail(PL_ERR_INVALID, "frame selection '%s': '%s' is not a number (nor 'all' or a range a:b)", text, tok);
    if (a < 0 || a >= n) return pl_fail(PL_ERR_INVALID, "frame selection '%s': frames must lie in 0..%d (%s is outside)", text, n - 1, tok);
    b = a + 1; /* a < n <= INT_MAX: no overflow */
  }
  /* a <= f < b <= n; the next f is only formed when it stays below b, so f + step never overflows */
  for (long f = a;;) {
    mask[f] = 1;
    if (b - f <= step) break;
    f += step;
  }
  return PL_OK;
}

pl_status pl_parse_selection(const char *text, int n, unsigned char *mask) {
  if (n <= 0) return pl_fail(PL_ERR_INVALID, "frame selection '%s': there is nothing to select from", text ? text : "");
  memset(mask, 0, (size_t)n);
  if (!text) return pl_fail(PL_ERR_INVALID, "frame selection is empty");
  if (strlen(text) > 4096) return pl_fail(PL_ERR_INVALID, "frame selection is too long (%zu characters)", strlen(text));
  char *buf = strdup(text);
  if (!buf) return pl_fail(PL_ERR_NOMEM, "out of memory");
  char *save = NULL;
  int any = 0;
  pl_status st = PL_OK;
  for (char *tok = strtok_r(buf, " ,\t", &save); tok && st == PL_OK; tok = strtok_r(NULL, " ,\t", &save)) {
    any = 1;
    if (strcmp(tok, "all") == 0)
      memset(mask, 1, (size_t)n);
    else
      st = select_token(tok, text, n, mask);
  }
  free(buf);
  if (st == PL_OK && !any) st = pl_fail(PL_ERR_INVALID, "frame selection is empty");
  return st;
}

/* ------------------------------------------------------------------ checked arithmetic */

int pl_mul_size(size_t a, size_t b, size_t *out) {
  if (a != 0 && b > SIZE_MAX / a) return 0;
  *out = a * b;
  return 1;
}

int pl_add_size(size_t a, size_t b, size_t *out) {
  if (b > SIZE_MAX - a) return 0;
  *out = a + b;
  return 1;
}

int pl_mul_i64(int64_t a, int64_t b, int64_t *out) {
  if (a < 0 || b < 0) return 0;
  if (a != 0 && b > INT64_MAX / a) return 0;
  *out = a * b;
  return 1;
}
