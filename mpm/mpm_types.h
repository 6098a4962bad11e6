/* mpm_types.h: the small types the simulator's users and its kernels share: contact and collider kinds,
 * particle error codes, and the grid, collider, particle state and particle table as the kernels see them
 * (plain structs of values and pointers, no functions). mpm.h includes this, not the kernel headers; the
 * per-element formulas are in mpm_kernels.h and materials.h. materials.h is included for the constitutive
 * model enum and mpm_kmaterial, which live there. */
#ifndef PL_MPM_TYPES_H
#define PL_MPM_TYPES_H

#include <stdint.h>

#include "core/linalg.h"
#include "mpm/materials.h"

/* Contact types (walls and colliders). SLIP is 0 so that a zeroed descriptor has slip walls. */
enum { MPM_CONTACT_SLIP = 0, MPM_CONTACT_STICKY = 1, MPM_CONTACT_SEPARATE = 2 };
/* Collider shapes. */
enum { MPM_COLLIDER_PLANE = 0, MPM_COLLIDER_BOX = 1, MPM_COLLIDER_SPHERE = 2, MPM_COLLIDER_CYLINDER = 3 };

/* Error codes a particle check can raise (the low 4 bits of an error key; the particle index above). */
enum { MPM_PERR_NONE = 0, MPM_PERR_NAN = 1, MPM_PERR_INVERTED = 2, MPM_PERR_DOMAIN = 3, MPM_PERR_STRESS = 4 };

/* Upper bound on colliders (the grid-update adjoint keeps one intermediate velocity per contact). */
#define MPM_MAX_COLLIDERS 32
#define MPM_MAX_CONTACTS (MPM_MAX_COLLIDERS + 6)
/* Friction cotangent slots of the grid adjoint: one per collider, then one per wall (x min, x max, y min, ...). */
#define MPM_FRICTION_SLOTS(ncol) ((ncol) + 6)

/* The grid, walls and gravity as the kernels see them. */
typedef struct {
  int n[3];            /* cells per axis (n + 1 nodes) */
  real dx, inv_dx;
  v3 origin;           /* domain_min */
  v3 gravity;
  int wall_cells;      /* nodes with index < wall_cells or > n - wall_cells are wall nodes */
  int wall_type[6];    /* MPM_CONTACT_* per wall: x min, x max, y min, y max, z min, z max (mpm_wall_index) */
  real wall_friction[6]; /* Coulomb coefficient per wall (order of wall_type) */
  int plane_strain;    /* 0: none; 1, 2, 3: the velocity along x, y, z is zero at every node (mpm_desc) */
  real pic_blend;      /* the PIC share of the transfer, in [0, 1]: 0 is APIC (mpm_desc; mpm_pic_share) */
  real pic_rest_speed; /* > 0: the share applies only below this speed, fading with it (m/s; mpm_pic_share) */
} mpm_kgrid;

/* A collider as the kernels see it. Moving colliders translate: centre(t) = center + t velocity. */
typedef struct {
  int shape;           /* MPM_COLLIDER_* */
  int type;            /* MPM_CONTACT_* */
  real friction;       /* Coulomb coefficient */
  v3 center;           /* plane: a point on it; else the centre */
  v3 normal;           /* plane: unit normal into the free side */
  v3 half;             /* box: half extents; sphere: (radius, -, -); cylinder: (radius, half height, -) */
  m3 rot;              /* local -> world rotation (box, cylinder) */
  v3 velocity;
} mpm_kcollider;

/* Raw per-particle arrays (host or device pointers), the layout the upsampler and the adjoint share:
 * x, v [n][3]; C, F [n][9] row-major 3x3; q [n] plastic state. */
typedef struct {
  int64_t n;
  real *x, *v, *C, *F, *q;
} mpm_kstate;

/* Static per-particle data and tables. pmu/plambda (may be NULL) override the material's Lame parameters
 * per particle (heterogeneous E, nu). */
typedef struct {
  const real *mass, *vol0;
  const int32_t *mat;
  const real *pmu, *plambda;
  const mpm_kmaterial *materials;
  int nmaterials;
  const mpm_kcollider *colliders;
  int ncolliders;
} mpm_kparticles;

#endif /* PL_MPM_TYPES_H */
