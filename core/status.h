/* status.h: status codes and the last error message (SQLite-style).
 *
 * Library functions return pl_status. A failing function records a message naming what failed (file and
 * line, key, particle, frame...) with pl_fail(), and returns its code; the caller prints pl_last_error().
 * The message is thread-local. Nothing in the library aborts on bad input. */
#ifndef PL_STATUS_H
#define PL_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  PL_OK = 0,
  PL_ERR_INVALID = 1,     /* bad argument or input value (user input error) */
  PL_ERR_PARSE = 2,       /* malformed input file */
  PL_ERR_IO = 3,          /* a file could not be read or written */
  PL_ERR_NOMEM = 4,       /* an allocation failed */
  PL_ERR_NO_DEVICE = 5,   /* the CUDA backend was asked for and is not available */
  PL_ERR_CUDA = 6,        /* a CUDA call failed */
  PL_ERR_NUMERIC = 7,     /* NaN/Inf, inverted F, a particle leaving the domain... */
  PL_ERR_LIMIT = 8,       /* a size limit would be exceeded (counts, memory bound) */
  PL_ERR_UNSUPPORTED = 9, /* a valid request this build or backend cannot serve */
  PL_ERR_INTERNAL = 10    /* a bug: please report */
} pl_status;

/* Short name of a code ("invalid input", ...). */
const char *pl_status_name(pl_status s);

/* Record a printf-style message for the current thread and return `code`. */
pl_status pl_fail(pl_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prefix the current message with more context ("scene.cfg:12: " + message); returns `code`. */
pl_status pl_fail_context(pl_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The last message recorded on this thread ("" if none). */
const char *pl_last_error(void);
void pl_clear_error(void);

/* CLI exit code for a status: 0 ok, 2 for input errors (invalid, parse, missing input file), 1 otherwise. */
int pl_status_exit_code(pl_status s);

/* Propagate a failure: PL_TRY(f(...)); */
#define PL_TRY(expr)                 \
  do {                               \
    pl_status pl_try_s_ = (expr);    \
    if (pl_try_s_ != PL_OK) return pl_try_s_; \
  } while (0)

#ifdef __cplusplus
}
#endif
#endif
