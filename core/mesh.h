/* mesh.h: triangle meshes from OBJ files (tinyobjloader, through a C API).
 *
 * Faces are triangulated. Texture coordinates are kept per face corner when the file has them. Indices are
 * validated on load (an OBJ with an out-of-range index is an error naming the face). */
#ifndef PL_MESH_H
#define PL_MESH_H

#include <stddef.h>

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int nverts, nfaces;
  double *verts;     /* [nverts][3] */
  int *faces;        /* [nfaces][3] vertex indices */
  int nuvs;
  double *uvs;       /* [nuvs][2], may be NULL */
  int *face_uvs;     /* [nfaces][3] indices into uvs, -1 where absent; NULL when the file has none */
  double *colors;    /* [nverts][3] vertex colours when the file has them (v x y z r g b), else NULL */
} pl_mesh;

/* Load an OBJ file (at most PL_OBJ_MAX_BYTES). Errors name the file and line (or face). */
#define PL_OBJ_MAX_BYTES ((size_t)1 << 30)
pl_status pl_mesh_load_obj(pl_mesh *m, const char *path);
/* The same from OBJ text in memory (size bytes; tests, fuzzing); `name` is used in messages. */
pl_status pl_mesh_load_obj_text(pl_mesh *m, const char *text, size_t size, const char *name);
/* The strict pass both run first (mesh_obj_check.c): non-finite or malformed numbers, vertices without x y z,
 * indices that overflow or refer to undefined elements are errors naming file:line. */
pl_status pl_obj_check_text(const char *text, size_t size, const char *path);
void pl_mesh_free(pl_mesh *m);

/* Bounding box. */
void pl_mesh_bounds(const pl_mesh *m, double lo[3], double hi[3]);
/* Number of edges used by exactly one triangle (0 for a closed, watertight mesh). */
int pl_mesh_boundary_edges(const pl_mesh *m);
/* Signed volume (divergence theorem); about 0 for a mesh that encloses nothing. */
double pl_mesh_signed_volume(const pl_mesh *m);

#ifdef __cplusplus
}
#endif
#endif
