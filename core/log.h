/* log.h: leveled logging to stderr. Level from pl_log_set_level() or the PL_LOG environment variable
 * (error, warn, info, debug). */
#ifndef PL_LOG_H
#define PL_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { PL_LOG_ERROR = 0, PL_LOG_WARN = 1, PL_LOG_INFO = 2, PL_LOG_DEBUG = 3 } pl_log_level;

void pl_log_set_level(pl_log_level level);
pl_log_level pl_log_get_level(void);
/* Parse "error|warn|info|debug"; returns 0 on success. */
int pl_log_parse_level(const char *name, pl_log_level *out);
void pl_log(pl_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#define PL_ERROR(...) pl_log(PL_LOG_ERROR, __VA_ARGS__)
#define PL_WARN(...) pl_log(PL_LOG_WARN, __VA_ARGS__)
#define PL_INFO(...) pl_log(PL_LOG_INFO, __VA_ARGS__)
#define PL_DEBUG(...) pl_log(PL_LOG_DEBUG, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
