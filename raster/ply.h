/* ply.h: 3D Gaussian splatting PLY files (the layout of the original 3DGS training code), read and write.
 *
 * The standard layout: `format binary_little_endian 1.0`, one element `vertex` with float properties
 *   x y z  nx ny nz  f_dc_0..2  f_rest_0..44  opacity  scale_0..2  rot_0..3
 * where f_dc is the degree-0 SH coefficient per channel (colour = 0.28209479177387814 f_dc + 0.5), f_rest
 * the higher-degree coefficients channel-major (f_rest[ch * 15 + k - 1] is coefficient k of channel ch),
 * opacity a logit, scale_i the log of a standard deviation, rot (w, x, y, z) a quaternion (any length).
 *
 * Reading accepts that layout and its variants: ascii, binary big- or little-endian, any scalar property
 * type, any order of properties, extra properties and elements (ignored), f_rest of degree 0..3 (0, 9, 24 or
 * 45 values). Values are converted: sigmoid(opacity), exp(scale), normalised quaternion. Errors name the
 * file and the header line, or the vertex and property for bad values.
 *
 * Writing takes raster_gaussians in host memory: covariances are converted with a symmetric
 * eigendecomposition to scale (square roots of the eigenvalues, floored at 1e-12) and rotation; RGB colours
 * become f_dc = (c - 0.5) / 0.28209479177387814. Opacities are stored as logits of values clamped to
 * [1e-6, 1 - 1e-6]. The file is written atomically (never half-written). */
#ifndef PL_RASTER_PLY_H
#define PL_RASTER_PLY_H

#include "core/status.h"
#include "raster/raster.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Gaussians read from a PLY file (host memory; owned, free with raster_ply_free). */
typedef struct {
  int64_t n;
  int sh_degree;   /* from the number of f_rest properties */
  real *means;     /* [n][3] */
  real *scales;    /* [n][3] standard deviations (exp of the stored values) */
  real *quats;     /* [n][4] w x y z, unit length */
  real *opacities; /* [n] in (0, 1) (sigmoid of the stored logits) */
  real *sh;        /* [n][(sh_degree+1)^2][3] */
} raster_ply;

pl_status raster_ply_read(const char *path, raster_ply *out);
/* The same reader on a buffer (tests, fuzzing); `name` is used in messages. */
pl_status raster_ply_read_memory(const void *data, size_t size, const char *name, raster_ply *out);
void raster_ply_free(raster_ply *p); /* NULL or zeroed: no-op */

/* View of a loaded file as rasterizer input (pointers into p). */
raster_gaussians raster_ply_gaussians(const raster_ply *p);

typedef struct {
  int compact;     /* 0 (default): the standard layout (normals, 45 f_rest, zero-padded); 1: f_rest only for
                      the input's SH degree, no normals */
} raster_ply_write_options;

/* Write Gaussians (host memory) to `path`. opt may be NULL. */
pl_status raster_ply_write(const char *path, const raster_gaussians *g, const raster_ply_write_options *opt);

/* Symmetric 3x3 eigendecomposition used by the writer: cov (xx xy xz yy yz zz) -> standard deviations
 * (descending, floored at 1e-12) and a unit quaternion (w x y z) with cov = R diag(scale^2) R^T. */
void raster_cov_to_scale_quat(const double cov[6], double scale[3], double quat[4]);

#ifdef __cplusplus
}
#endif
#endif
