/* rotation.h: the XYZ Euler rotation shared by the simulator (particles of a placed mesh, mpm_euler_deg) and the
 * upsampler (its Gaussians, ups placement): one formula, so particles and their Gaussians can never drift apart. */
#ifndef PL_ROTATION_H
#define PL_ROTATION_H

#include <math.h>

/* R = Rz(rz) Ry(ry) Rx(rx) for deg = (rx, ry, rz) in degrees: rotate about the world x axis first, then y, then z
 * (extrinsic XYZ Euler angles). R is row-major [9]: R[3 i + j]. */
static inline void pl_euler_xyz_deg(const double deg[3], double R[9]) {
  const double k = 3.14159265358979323846 / 180.0;
  const double cx = cos(deg[0] * k), sx = sin(deg[0] * k);
  const double cy = cos(deg[1] * k), sy = sin(deg[1] * k);
  const double cz = cos(deg[2] * k), sz = sin(deg[2] * k);
  R[0] = cz * cy;
  R[1] = cz * sy * sx - sz * cx;
  R[2] = cz * sy * cx + sz * sx;
  R[3] = sz * cy;
  R[4] = sz * sy * sx + cz * cx;
  R[5] = sz * sy * cx - cz * sx;
  R[6] = -sy;
  R[7] = cy * sx;
  R[8] = cy * cx;
}

#endif /* PL_ROTATION_H */
