/* particle_ply.h: particles as a binary little-endian PLY point cloud (MeshLab, CloudCompare, Blender, Open3D
 * read it): per vertex float x y z, uchar red green blue, float vx vy vz, float J (det F, the volume ratio),
 * int object, float mass (kg), float volume (J V0, m^3), float F00 F01 F02 F10 ... F22 (the deformation
 * gradient, row-major). Written atomically (core/fileio.h). */
#ifndef PL_PARTICLE_PLY_H
#define PL_PARTICLE_PLY_H

#include <stdint.h>

#include "core/hd.h"
#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* x, v [n][3]; F [n][9] (NULL: I); rgb [n][3] in [0,1] (NULL: grey); object [n] (NULL: 0); mass, vol0 [n]
 * (NULL: 0). */
pl_status pl_write_particle_ply(const char *path, int64_t n, const real *x, const real *v, const real *F,
                                const float *rgb, const int32_t *object, const real *mass, const real *vol0);

#ifdef __cplusplus
}
#endif
#endif
