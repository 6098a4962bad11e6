/* sh_turn.h: SH coefficients turned into world axes, for files that carry no frame (the per-frame 3DGS PLY).
 *
 * The rasterizer evaluates a Gaussian's SH along Q^T (mu - eye), Q its frame (upsample.h). A PLY has no frame, so the
 * coefficients written must give along d what the frame gives along Q^T d. Each band l is closed under rotation, so
 * the turned band is a linear map of the band: f'_l = M_l(Q) f_l, found here by least squares on fixed directions
 * d_s: A_l f'_l = A'_l f_l with A_l[s][k] = b_k(d_s), A'_l[s][k] = b_k(Q^T d_s) (b the 3DGS basis,
 * raster_sh_basis), exact for any Q because both sides are band-l functions. */
#ifndef PL_SH_TURN_H
#define PL_SH_TURN_H

#include <stdint.h>

#include "core/hd.h"
#include "core/status.h"

/* sh [n][(degree+1)^2][3] in place, frames [n][9] row-major rotations (host memory). degree 0..3. */
pl_status pl_sh_turn_to_world(int degree, int64_t n, const real *frames, real *sh);

#endif
