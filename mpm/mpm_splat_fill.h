/* mpm_splat_fill.h: the body a set of 3D Gaussians (a trained splat scene) encloses, as a voxel occupancy that
 * the particle sampler asks "inside?" (shape = gaussians).
 *
 * Method: the opacity-weighted density D(y) = sum_i o_i exp(-1/2 d^T (Sigma_i + (h/2)^2 I)^-1 d), d = y - mu_i,
 * is evaluated at the centres of voxels of side h (each Gaussian within 3 standard deviations; the (h/2)^2 I
 * term lets flat surface splats, thinner than a voxel, still mark the voxels they cross). Voxels with D >=
 * threshold form the shell; every voxel that the outside of the padded bounding box reaches through non-shell
 * voxels (6-connected flood fill) is outside, and what the shell encloses is the body, with the inner half of the
 * shell (the surface runs along the shell's middle, where the splats' means are). A cloud that encloses nothing
 * (a solid blob of Gaussians) is its whole shell. This fills the interior of a closed splat surface, as
 * PhysGaussian's internal filling does, without a mesh. */
#ifndef PL_MPM_SPLAT_FILL_H
#define PL_MPM_SPLAT_FILL_H

#include <stdint.h>

#include "core/status.h"

typedef struct mpm_occupancy_s {
  int n[3];             /* voxels per axis */
  double origin[3];     /* corner of voxel (0, 0, 0) */
  double h;             /* voxel side (m) */
  unsigned char *inside;/* [n0][n1][n2], x slowest */
  int64_t ninside, nshell;
} mpm_occupancy;

/* means [n][3], covs [n][6] (xx xy xz yy yz zz), opacities [n] in world units. lo/hi get the bounding box of the
 * inside voxels. Fails (naming `label`) when nothing is inside or the grid would exceed 2^26 voxels. */
pl_status mpm_splat_occupancy(const double *means, const double *covs, const double *opacities, int64_t n, double h,
                              double threshold, const char *label, mpm_occupancy *occ, double lo[3], double hi[3]);
int mpm_occupancy_at(const mpm_occupancy *o, const double x[3]);
void mpm_occupancy_free(mpm_occupancy *o);

#endif
