#include "pipeline/io/particle_ply.h"

#include <string.h>

#include "core/byteorder.h"
#include "core/fileio.h"
#include "core/linalg.h"

pl_status pl_write_particle_ply(const char *path, int64_t n, const real *x, const real *v, const real *F,
                                const float *rgb, const int32_t *object, const real *mass, const real *vol0) {
  pl_out o;
  PL_TRY(pl_out_open(&o, path, 1));
  fprintf(o.f,
          "ply\nformat binary_little_endian 1.0\ncomment pipeline MPM particles\nelement vertex %lld\n"
          "property float x\nproperty float y\nproperty float z\n"
          "property uchar red\nproperty uchar green\nproperty uchar blue\n"
          "property float vx\nproperty float vy\nproperty float vz\n"
          "property float J\nproperty int object\nproperty float mass\nproperty float volume\n"
          "property float F00\nproperty float F01\nproperty float F02\nproperty float F10\nproperty float F11\n"
          "property float F12\nproperty float F20\nproperty float F21\nproperty float F22\nend_header\n",
          (long long)n);
  enum { REC = 4 * 3 + 3 + 4 * 3 + 4 + 4 + 4 * 11 };
  unsigned char buf[REC * 256];
  int k = 0;
  for (int64_t i = 0; i < n; ++i) {
    unsigned char *r = buf + REC * k;
    float f[7] = {(float)x[3 * i], (float)x[3 * i + 1], (float)x[3 * i + 2], 0, 0, 0, 1};
    if (v) f[3] = (float)v[3 * i], f[4] = (float)v[3 * i + 1], f[5] = (float)v[3 * i + 2];
    if (F) f[6] = (float)m3_det(m3_load(F + 9 * i));
    for (int j = 0; j < 3; ++j) pl_put_le32(r + 4 * j, &f[j]);
    for (int j = 0; j < 3; ++j) {
      float c = rgb ? rgb[3 * i + j] : 0.8f;
      c = c < 0 ? 0 : (c > 1 ? 1 : c);
      r[12 + j] = (unsigned char)(c * 255.0f + 0.5f);
    }
    for (int j = 0; j < 4; ++j) pl_put_le32(r + 15 + 4 * j, &f[3 + j]);
    int32_t ob = object ? object[i] : 0;
    pl_put_le32(r + 31, &ob);
    float extra[11] = {mass ? (float)mass[i] : 0, vol0 ? (float)(vol0[i] * f[6]) : 0, 1, 0, 0, 0, 1, 0, 0, 0, 1};
    if (F)
      for (int j = 0; j < 9; ++j) extra[2 + j] = (float)F[9 * i + j];
    for (int j = 0; j < 11; ++j) pl_put_le32(r + 35 + 4 * j, &extra[j]);
    if (++k == 256 || i == n - 1) {
      fwrite(buf, REC, (size_t)k, o.f);
      k = 0;
    }
  }
  return pl_out_commit(&o);
}
