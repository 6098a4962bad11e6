/* splat_object.h: a trained 3D Gaussian splatting scene (a 3DGS PLY) as a simulated object, PhysGaussian's
 * workflow: read the file, drop floaters (a crop box in the file's coordinates and an opacity threshold), and
 * place what is left in the simulation domain with the object's centre, scale and rotation (the placement meshes
 * use: p' = center + R (scale .* (p - c)), c the bounding-box centre of the kept means; Sigma' = (R S) Sigma (R S)^T).
 *
 * The result, in world coordinates, feeds both the simulator (mpm: the splats' filled density is the body to fill
 * with particles, mpm_splat_fill.c) and the upsampler (the Gaussians themselves, bound to those particles:
 * mu = sum w (x_p + F_p (X - X_p)), Sigma = F~ Sigma0 F~^T with Sigma0 the trained covariance; colours from the
 * degree-0 SH coefficient, opacities as trained). Higher SH bands, where the file has any non-zero, are kept as they
 * are (sh): the upsampler turns them with each Gaussian's rotation (PhysGaussian). */
#ifndef PL_SPLAT_OBJECT_H
#define PL_SPLAT_OBJECT_H

#include <stdint.h>

#include "core/status.h"

typedef struct pl_splat_set_s {
  int64_t n;
  double *means;     /* [n][3] world (m) */
  double *covs;      /* [n][6] world xx xy xz yy yz zz */
  double *colors;    /* [n][3] RGB: 0.28209479177387814 f_dc + 0.5, clamped to [0, 1] */
  double *opacities; /* [n] in (0, 1) */
  int64_t read, cropped, transparent; /* in the file; dropped by the crop box; dropped by the opacity threshold */
  int sh_degree;     /* of the file; 0 when every band above 0 is zero */
  double *sh;        /* [n][(sh_degree+1)^2][3] the file's SH coefficients (3DGS: colour = C0 sh_0 + 0.5 + ...),
                        NULL when sh_degree is 0 */
} pl_splat_set;

typedef struct {
  const char *path;        /* the 3DGS PLY file */
  const char *label;       /* for messages, e.g. "[object cube]" */
  double crop_min[3], crop_max[3]; /* in the file's coordinates; crop_min > crop_max on an axis: no crop there */
  double opacity_min;      /* Gaussians at or below this opacity are floaters */
  double center[3], scale[3], rotation_deg[3];
} pl_splat_load_desc;

pl_status pl_splat_set_load(const pl_splat_load_desc *d, pl_splat_set **out);
void pl_splat_set_free(pl_splat_set *s); /* NULL: no-op */

#endif
