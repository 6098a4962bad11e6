/* byteorder.h: little-endian binary records (PLY files): the host's byte order and 4-byte little-endian stores,
 * the one copy for every writer (raster/ply.c, pipeline/io/particle_ply.c). */
#ifndef PL_BYTEORDER_H
#define PL_BYTEORDER_H

#include <stdint.h>
#include <string.h>

/* 1 on a little-endian host. */
static inline int pl_host_little_endian(void) {
  const uint16_t one = 1;
  unsigned char b;
  memcpy(&b, &one, 1);
  return b == 1;
}

/* Store the 4 bytes at src (a float or a 32-bit integer) at dst, little-endian. */
static inline void pl_put_le32(unsigned char *dst, const void *src) {
  unsigned char b[4];
  memcpy(b, src, 4);
  if (pl_host_little_endian())
    memcpy(dst, b, 4);
  else
    for (int i = 0; i < 4; ++i) dst[i] = b[3 - i];
}

/* x as a little-endian 32-bit float. */
static inline void pl_put_f32le(unsigned char *dst, double x) {
  const float f = (float)x;
  pl_put_le32(dst, &f);
}

#endif
