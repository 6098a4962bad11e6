/* rng.h: a counter-based random number generator, Philox4x32-10 (Salmon et al., "Parallel random numbers:
 * as easy as 1, 2, 3", SC 2011). A number is a pure function of (seed, stream, counter), so the CPU and the
 * GPU give the same numbers whatever the thread layout: a particle's jitter is rng(seed, particle, k). */
#ifndef PL_RNG_H
#define PL_RNG_H

#include "core/hd.h"

typedef struct {
  uint32_t v[4];
} pl_u32x4;

HD uint32_t pl_mulhilo32(uint32_t a, uint32_t b, uint32_t *hi) {
  uint64_t p = (uint64_t)a * (uint64_t)b;
  *hi = (uint32_t)(p >> 32);
  return (uint32_t)p;
}

/* Philox4x32 with 10 rounds: counter ctr, key (k0, k1). */
HD pl_u32x4 pl_philox4x32(pl_u32x4 ctr, uint32_t k0, uint32_t k1) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0, hi1;
    uint32_t lo0 = pl_mulhilo32(M0, ctr.v[0], &hi0);
    uint32_t lo1 = pl_mulhilo32(M1, ctr.v[2], &hi1);
    pl_u32x4 n;
    n.v[0] = hi1 ^ ctr.v[1] ^ k0;
    n.v[1] = lo1;
    n.v[2] = hi0 ^ ctr.v[3] ^ k1;
    n.v[3] = lo0;
    ctr = n;
    k0 += W0;
    k1 += W1;
  }
  return ctr;
}

/* Four uniform 32-bit words for (seed, stream, counter). */
HD pl_u32x4 pl_rng_u32x4(uint64_t seed, uint64_t stream, uint32_t counter) {
  pl_u32x4 c;
  c.v[0] = counter;
  c.v[1] = (uint32_t)stream;
  c.v[2] = (uint32_t)(stream >> 32);
  c.v[3] = 0x5EEDu;
  return pl_philox4x32(c, (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* Uniform in [0, 1) from 24 bits (exact in float and double, so both precisions see the same numbers). */
HD real pl_u32_to_unit(uint32_t x) { return (real)(x >> 8) * RC(5.9604644775390625e-08); }

/* Four uniforms in [0,1) for (seed, stream, counter). */
HD void pl_rng_uniform4(uint64_t seed, uint64_t stream, uint32_t counter, real out[4]) {
  pl_u32x4 r = pl_rng_u32x4(seed, stream, counter);
  for (int i = 0; i < 4; ++i) out[i] = pl_u32_to_unit(r.v[i]);
}

/* Two standard normals (Box-Muller) for (seed, stream, counter). */
HD void pl_rng_normal2(uint64_t seed, uint64_t stream, uint32_t counter, real out[2]) {
  real u[4];
  pl_rng_uniform4(seed, stream, counter, u);
  real u1 = u[0] + RC(5.9604644775390625e-08); /* (0, 1]: log never sees 0 */
  real rad = r_sqrt(RC(-2.0) * r_log(u1));
  real th = RC(2.0) * PL_PI * u[1];
  out[0] = rad * r_cos(th);
  out[1] = rad * r_sin(th);
}

#endif
