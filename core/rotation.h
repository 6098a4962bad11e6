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

/* The same R and its derivatives dR[j] = dR/d(deg_j), per radian of angle j (R = Z Y X, so dR/drx = Z Y X',
 * dR/dry = Z Y' X, dR/drz = Z' Y X): the pose gradients of the engine (pipeline/engine/engine_params.c). */
static inline void pl_euler_xyz_deg_jac(const double deg[3], double R[9], double dR[3][9]) {
  const double k = 3.14159265358979323846 / 180.0;
  double c[3], s[3];
  for (int a = 0; a < 3; ++a) c[a] = cos(deg[a] * k), s[a] = sin(deg[a] * k);
  pl_euler_xyz_deg(deg, R);
  const double X[9] = {1, 0, 0, 0, c[0], -s[0], 0, s[0], c[0]}, dX[9] = {0, 0, 0, 0, -s[0], -c[0], 0, c[0], -s[0]};
  const double Y[9] = {c[1], 0, s[1], 0, 1, 0, -s[1], 0, c[1]}, dY[9] = {-s[1], 0, c[1], 0, 0, 0, -c[1], 0, -s[1]};
  const double Z[9] = {c[2], -s[2], 0, s[2], c[2], 0, 0, 0, 1}, dZ[9] = {-s[2], -c[2], 0, c[2], -s[2], 0, 0, 0, 0};
  for (int j = 0; j < 3; ++j) {
    const double *A = j == 2 ? dZ : Z, *B = j == 1 ? dY : Y, *C = j == 0 ? dX : X;
    double T[9];
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) T[3 * a + b] = A[3 * a] * B[b] + A[3 * a + 1] * B[3 + b] + A[3 * a + 2] * B[6 + b];
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b)
        dR[j][3 * a + b] = T[3 * a] * C[b] + T[3 * a + 1] * C[3 + b] + T[3 * a + 2] * C[6 + b];
  }
}

#endif /* PL_ROTATION_H */
