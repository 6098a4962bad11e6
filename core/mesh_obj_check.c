/* mesh_obj_check.c: a strict pass over OBJ text before tinyobjloader reads it.
 *
 * tinyobjloader reads what it cannot parse as 0 (`v nan 1 1`, `v abc 1 1`, `v 1`) and wraps face indices that
 * overflow an int (4294967297 becomes 1). This pass refuses both, naming the file and line: every number of a
 * v / vt / vn line must be finite and fully parsed, a vertex needs x y z, and every index of an f / l / p line
 * must be an integer referring to an element defined before it (1..n, or -n..-1 counted back). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mesh.h"

#define OBJ_MAX_TOKENS 64

/* Split a line (modified in place) into space/tab separated tokens; returns the count (-1: too many). */
static int split(char *line, char **tok) {
  int n = 0;
  char *save = NULL;
  for (char *t = strtok_r(line, " \t\r\v\f", &save); t; t = strtok_r(NULL, " \t\r\v\f", &save)) {
    if (n == OBJ_MAX_TOKENS) return -1;
    tok[n++] = t;
  }
  return n;
}

static int finite_number(const char *t) {
  char *end;
  errno = 0;
  double v = strtod(t, &end);
  return end != t && *end == '\0' && errno != ERANGE && isfinite(v);
}

/* One index of a face corner ("" allowed when optional); 1 ok. *bad gets the reason. */
static int check_index(const char *t, size_t len, long count, int optional, const char **why, long *value) {
  *value = 0;
  if (len == 0) {
    *why = optional ? NULL : "is empty";
    return optional;
  }
  char buf[32];
  if (len >= sizeof buf) {
    *why = "is not an integer that fits";
    return 0;
  }
  memcpy(buf, t, len);
  buf[len] = '\0';
  char *end;
  errno = 0;
  long v = strtol(buf, &end, 10);
  *value = v;
  if (end == buf || *end || errno == ERANGE || v < INT_MIN + 1 || v > INT_MAX) {
    *why = "is not an integer that fits";
    return 0;
  }
  if (v == 0 || v > count || v < -count) {
    *why = "refers to an element not defined before this line";
    return 0;
  }
  return 1;
}

pl_status pl_obj_check_text(const char *text, size_t size, const char *path) {
  if (memchr(text, '\0', size)) return pl_fail(PL_ERR_PARSE, "%s: not a text file (contains NUL bytes)", path);
  long nv = 0, nvt = 0, nvn = 0;
  int lineno = 0;
  char line[4096];
  char *tok[OBJ_MAX_TOKENS];
  size_t pos = 0;
  while (pos < size) {
    const char *start = text + pos;
    const char *nl = memchr(start, '\n', size - pos);
    size_t len = nl ? (size_t)(nl - start) : size - pos;
    pos += len + (nl ? 1 : 0);
    if (lineno == INT_MAX) return pl_fail(PL_ERR_LIMIT, "%s: too many lines", path);
    ++lineno;
    if (len >= sizeof line) {
      /* long lines are fine for comments and names, not for the elements we check */
      if (len >= 2 && (start[0] == 'v' || start[0] == 'f' || start[0] == 'l' || start[0] == 'p') &&
          (start[1] == ' ' || start[1] == '\t' || start[1] == 't' || start[1] == 'n'))
        return pl_fail(PL_ERR_PARSE, "%s:%d: line too long (%zu characters)", path, lineno, len);
      continue;
    }
    memcpy(line, start, len);
    line[len] = '\0';
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    int n = split(line, tok);
    if (n < 0) return pl_fail(PL_ERR_PARSE, "%s:%d: more than %d values on one line", path, lineno, OBJ_MAX_TOKENS);
    if (n == 0) continue;
    const char *kw = tok[0];
    if (!strcmp(kw, "v") || !strcmp(kw, "vt") || !strcmp(kw, "vn")) {
      int lo = kw[1] == '\0' ? 3 : (kw[1] == 't' ? 1 : 3), hi = kw[1] == '\0' ? 7 : 3;
      if (n - 1 < lo || n - 1 > hi)
        return hi > lo ? pl_fail(PL_ERR_PARSE, "%s:%d: '%s' needs %d to %d numbers (found %d)", path, lineno, kw, lo,
                                 hi, n - 1)
                       : pl_fail(PL_ERR_PARSE, "%s:%d: '%s' needs %d numbers (found %d)", path, lineno, kw, lo, n - 1);
      for (int i = 1; i < n; ++i)
        if (!finite_number(tok[i]))
          return pl_fail(PL_ERR_PARSE, "%s:%d: '%s' value %d ('%s') is not a finite number", path, lineno, kw, i,
                         tok[i]);
      long *cnt = kw[1] == '\0' ? &nv : (kw[1] == 't' ? &nvt : &nvn);
      if (*cnt >= 100000000) return pl_fail(PL_ERR_LIMIT, "%s:%d: more than 10^8 '%s' lines", path, lineno, kw);
      ++*cnt;
    } else if (!strcmp(kw, "f") || !strcmp(kw, "l") || !strcmp(kw, "p")) {
      int need = kw[0] == 'f' ? 3 : (kw[0] == 'l' ? 2 : 1);
      if (n - 1 < need)
        return pl_fail(PL_ERR_PARSE, "%s:%d: '%s' needs at least %d corners (found %d)", path, lineno, kw, need, n - 1);
      for (int i = 1; i < n; ++i) {
        /* i, i/j, i//k, i/j/k */
        const char *t = tok[i];
        const char *s1 = strchr(t, '/');
        const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        if (s2 && strchr(s2 + 1, '/'))
          return pl_fail(PL_ERR_PARSE, "%s:%d: corner '%s' has more than three indices", path, lineno, t);
        const char *why = NULL;
        long v;
        size_t l0 = s1 ? (size_t)(s1 - t) : strlen(t);
        if (!check_index(t, l0, nv, 0, &why, &v))
          return pl_fail(PL_ERR_PARSE, "%s:%d: vertex index '%.*s' %s (the file has %ld vertices up to here)", path,
                         lineno, (int)l0, t, why, nv);
        if (s1) {
          size_t l1 = s2 ? (size_t)(s2 - s1 - 1) : strlen(s1 + 1);
          if (!check_index(s1 + 1, l1, nvt, 1, &why, &v) && why)
            return pl_fail(PL_ERR_PARSE, "%s:%d: texture index '%.*s' %s (the file has %ld up to here)", path, lineno,
                           (int)l1, s1 + 1, why, nvt);
        }
        if (s2) {
          size_t l2 = strlen(s2 + 1);
          if (!check_index(s2 + 1, l2, nvn, 1, &why, &v) && why)
            return pl_fail(PL_ERR_PARSE, "%s:%d: normal index '%.*s' %s (the file has %ld up to here)", path, lineno,
                           (int)l2, s2 + 1, why, nvn);
        }
      }
    }
  }
  return PL_OK;
}
