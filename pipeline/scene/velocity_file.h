/* velocity_file.h: an object's initial velocity per particle from a CSV file (`[object] velocity_file`).
 *
 * Format: one particle per line, numbers separated by commas (spaces and tabs also separate); blank lines and
 * lines starting with '#' are skipped; a first line that is not numeric is a header naming the columns.
 *   3 columns  vx, vy, vz:          matched BY ORDER: the file must have exactly as many rows as the object has
 *                                   particles, row i going to the object's i-th particle in sampling order (the
 *                                   order `pipeline render --particle-ply` writes them, which is a pure function
 *                                   of the scene and its seed);
 *   6 columns  x, y, z, vx, vy, vz: matched BY NEAREST POSITION: each particle takes the velocity of the row whose
 *                                   (x, y, z) (world coordinates, m) is nearest to its initial position; any
 *                                   number of rows (a coarser or finer field than the particles).
 * A header may name the columns in any order (vx vy vz, optionally x y z; other names are an error).
 * The velocities are added to `velocity`, `angular_velocity` and `velocity_field`; they are constant with respect
 * to the learnable parameters. Errors name the file and line (a token that is not a number, a wrong number of
 * columns, a non-finite value), or the object and both counts (rows vs particles). */
#ifndef PL_VELOCITY_FILE_H
#define PL_VELOCITY_FILE_H

#include <stdint.h>

#include "core/hd.h"
#include "core/status.h"

/* Adds the file's velocities to v [n][3] of the particles with object[i] == obj (x [n][3] their initial
 * positions). `object_name` is for messages. */
pl_status pl_velocity_file_add(const char *path, const char *object_name, int obj, int64_t n, const real *x,
                               const int32_t *object, real *v);

#endif /* PL_VELOCITY_FILE_H */
