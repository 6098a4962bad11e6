/* hd.h: the one header every per-element formula includes.
 *
 *   HD        a function both backends call: `static inline` under a C compiler,
 *             `static inline __host__ __device__` under nvcc.
 *   real      float by default; double when PL_REAL_DOUBLE is defined (the *_f64 libraries).
 *   RESTRICT  C99 `restrict` / CUDA `__restrict__`.
 *
 * Rules for code in HD headers: valid C11 and C++17 at once (no compound literals, no designated
 * initialisers, no VLAs), no globals, no allocation, no I/O, no host-only libraries (cglm is host-only).
 */
#ifndef PL_HD_H
#define PL_HD_H

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define HD static inline __host__ __device__
#define RESTRICT __restrict__
#define PL_ON_DEVICE_COMPILER 1
#elif defined(__cplusplus)
#define HD static inline
#define RESTRICT __restrict__
#else
#define HD static inline
#define RESTRICT restrict
#endif

#ifdef PL_REAL_DOUBLE
typedef double real;
#define PL_REAL_NAME "double"
#define RC(x) ((double)(x))
#define PL_REAL_EPS 2.220446049250313e-16
#else
typedef float real;
#define PL_REAL_NAME "float"
#define RC(x) ((float)(x))
#define PL_REAL_EPS 1.1920929e-07f
#endif

/* Type-generic elementary functions on `real` (sqrtf/sqrt etc. chosen once here). */
#ifdef PL_REAL_DOUBLE
HD real r_sqrt(real x) { return sqrt(x); }
HD real r_exp(real x) { return exp(x); }
HD real r_log(real x) { return log(x); }
HD real r_log1p(real x) { return log1p(x); }
HD real r_expm1(real x) { return expm1(x); }
HD real r_pow(real x, real y) { return pow(x, y); }
HD real r_sin(real x) { return sin(x); }
HD real r_cos(real x) { return cos(x); }
HD real r_tan(real x) { return tan(x); }
HD real r_atan2(real y, real x) { return atan2(y, x); }
HD real r_fabs(real x) { return fabs(x); }
HD real r_floor(real x) { return floor(x); }
HD real r_ceil(real x) { return ceil(x); }
HD real r_fmin(real a, real b) { return fmin(a, b); }
HD real r_fmax(real a, real b) { return fmax(a, b); }
#else
HD real r_sqrt(real x) { return sqrtf(x); }
HD real r_exp(real x) { return expf(x); }
HD real r_log(real x) { return logf(x); }
HD real r_log1p(real x) { return log1pf(x); }
HD real r_expm1(real x) { return expm1f(x); }
HD real r_pow(real x, real y) { return powf(x, y); }
HD real r_sin(real x) { return sinf(x); }
HD real r_cos(real x) { return cosf(x); }
HD real r_tan(real x) { return tanf(x); }
HD real r_atan2(real y, real x) { return atan2f(y, x); }
HD real r_fabs(real x) { return fabsf(x); }
HD real r_floor(real x) { return floorf(x); }
HD real r_ceil(real x) { return ceilf(x); }
HD real r_fmin(real a, real b) { return fminf(a, b); }
HD real r_fmax(real a, real b) { return fmaxf(a, b); }
#endif

HD real r_clamp(real x, real lo, real hi) { return x < lo ? lo : (x > hi ? hi : x); }
HD real r_sq(real x) { return x * x; }
HD int r_isfinite(real x) { return isfinite(x) ? 1 : 0; }
HD int i_min(int a, int b) { return a < b ? a : b; }
HD int i_max(int a, int b) { return a > b ? a : b; }

#define PL_PI RC(3.14159265358979323846)

#endif /* PL_HD_H */
