/* parse.h: the one place where text becomes numbers.
 *
 * Every integer, real, range and selection read from a scene file, a --set, a command-line option or a data
 * file goes through these functions. They read the whole string (trailing junk is an error), refuse
 * values that overflow (errno ERANGE) or are not finite (nan, inf), and the range-checked forms refuse values
 * outside [lo, hi] before anything is narrowed to a smaller type. Size arithmetic on counts read from files
 * uses the checked multiply/add below (false on overflow). See docs/robustness.md. */
#ifndef PL_PARSE_H
#define PL_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One finite real (leading/trailing spaces allowed). Returns 1 and sets *out, or 0. */
int pl_parse_real(const char *s, double *out);
/* One decimal integer that fits in a long. Returns 1 and sets *out, or 0. */
int pl_parse_int(const char *s, long *out);
/* One decimal integer in [lo, hi]: 1 ok, 0 not an integer (or overflows a long), -1 outside [lo, hi]. */
int pl_parse_int_in(const char *s, long lo, long hi, long *out);
/* true/false/yes/no/on/off/1/0. */
int pl_parse_bool(const char *s, int *out);
/* Up to max finite numbers separated by spaces/commas; returns the count, or -1 on a malformed or non-finite
 * number. */
int pl_parse_reals(const char *s, double *out, int max);

/* A selection of items 0..n-1 (frames): "all", numbers and ranges a:b (b excluded) or a:b:step, separated by
 * spaces or commas. A range may run past n-1 (it is cut there); a single item or a range start must exist.
 * mask gets n bytes (1 = selected). Never overflows: every number is checked before any arithmetic.
 * Errors (PL_ERR_INVALID) quote the text; callers add where it came from with pl_fail_context. */
pl_status pl_parse_selection(const char *text, int n, unsigned char *mask);

/* Checked size arithmetic: 1 and *out = a*b (a+b), or 0 on overflow. */
int pl_mul_size(size_t a, size_t b, size_t *out);
int pl_add_size(size_t a, size_t b, size_t *out);
int pl_mul_i64(int64_t a, int64_t b, int64_t *out); /* a, b >= 0 */

/* Threads: a count given by the user must lie in 1..PL_MAX_THREADS (0 where "all cores" is meant). */
#define PL_MAX_THREADS 1024

#ifdef __cplusplus
}
#endif
#endif
