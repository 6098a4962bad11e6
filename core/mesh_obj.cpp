// mesh_obj.cpp: the one C++ file of the project: OBJ loading through tinyobjloader, behind the C API of mesh.h.
#include <tiny_obj_loader.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/fileio.h"
#include "core/mesh.h"

extern "C" pl_status pl_mesh_load_obj(pl_mesh *m, const char *path) {
  std::memset(m, 0, sizeof *m);
  char *text = nullptr;
  size_t size = 0;
  pl_status st = pl_read_file_max(path, PL_OBJ_MAX_BYTES, &text, &size);
  if (st != PL_OK) return st;
  st = pl_mesh_load_obj_text(m, text, size, path);
  std::free(text);
  return st;
}

extern "C" pl_status pl_mesh_load_obj_text(pl_mesh *m, const char *text, size_t size, const char *path) {
  std::memset(m, 0, sizeof *m);
  PL_TRY(pl_obj_check_text(text, size, path));
  tinyobj::ObjReaderConfig cfg;
  cfg.triangulate = true;
  cfg.vertex_color = true;
  cfg.mtl_search_path = "";
  tinyobj::ObjReader reader;
  try {
    /* materials are not used (colours come from vertex colours or the scene's texture) */
    if (!reader.ParseFromString(std::string(text, size), std::string(), cfg)) {
      std::string err = reader.Error();
      while (!err.empty() && (err.back() == '\n' || err.back() == '\r')) err.pop_back();
      return pl_fail(PL_ERR_IO, "%s: cannot read OBJ mesh: %s", path, err.empty() ? "unknown error" : err.c_str());
    }
  } catch (const std::exception &ex) {
    return pl_fail(PL_ERR_PARSE, "%s: cannot parse OBJ mesh: %s", path, ex.what());
  }
  const tinyobj::attrib_t &at = reader.GetAttrib();
  const std::vector<tinyobj::shape_t> &shapes = reader.GetShapes();
  size_t nv = at.vertices.size() / 3, nuv = at.texcoords.size() / 2, nf = 0;
  for (const auto &sh : shapes) nf += sh.mesh.num_face_vertices.size();
  if (nv == 0 || nf == 0) return pl_fail(PL_ERR_PARSE, "%s: the OBJ file has no %s", path, nv == 0 ? "vertices" : "faces");
  if (nv > 100000000 || nf > 100000000) return pl_fail(PL_ERR_LIMIT, "%s: mesh too large", path);
  m->verts = (double *)std::malloc(sizeof(double) * 3 * nv);
  m->faces = (int *)std::malloc(sizeof(int) * 3 * nf);
  if (!m->verts || !m->faces) {
    pl_mesh_free(m);
    return pl_fail(PL_ERR_NOMEM, "%s: out of memory", path);
  }
  for (size_t i = 0; i < 3 * nv; ++i) m->verts[i] = at.vertices[i];
  bool has_color = at.colors.size() == 3 * nv;
  if (has_color) {
    bool non_default = false;
    for (size_t i = 0; i < 3 * nv; ++i) non_default |= at.colors[i] != 1.0f;
    has_color = non_default;  // tinyobjloader fills 1 1 1 when the file has no colours
  }
  if (has_color) {
    m->colors = (double *)std::malloc(sizeof(double) * 3 * nv);
    if (!m->colors) {
      pl_mesh_free(m);
      return pl_fail(PL_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < 3 * nv; ++i) m->colors[i] = at.colors[i];
  }
  if (nuv) {
    m->uvs = (double *)std::malloc(sizeof(double) * 2 * nuv);
    m->face_uvs = (int *)std::malloc(sizeof(int) * 3 * nf);
    if (!m->uvs || !m->face_uvs) {
      pl_mesh_free(m);
      return pl_fail(PL_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < 2 * nuv; ++i) m->uvs[i] = at.texcoords[i];
  }
  size_t f = 0;
  for (const auto &sh : shapes) {
    size_t off = 0;
    for (size_t k = 0; k < sh.mesh.num_face_vertices.size(); ++k) {
      int fv = sh.mesh.num_face_vertices[k];
      if (fv != 3) {
        pl_mesh_free(m);
        return pl_fail(PL_ERR_PARSE, "%s: face %zu has %d vertices after triangulation", path, f + 1, fv);
      }
      for (int c = 0; c < 3; ++c) {
        const tinyobj::index_t &ix = sh.mesh.indices[off + c];
        if (ix.vertex_index < 0 || (size_t)ix.vertex_index >= nv) {
          pl_mesh_free(m);
          return pl_fail(PL_ERR_PARSE, "%s: face %zu refers to vertex %d of %zu", path, f + 1, ix.vertex_index + 1, nv);
        }
        m->faces[3 * f + c] = ix.vertex_index;
        if (m->face_uvs) {
          int t = ix.texcoord_index;
          m->face_uvs[3 * f + c] = (t >= 0 && (size_t)t < nuv) ? t : -1;
        }
      }
      off += 3;
      ++f;
    }
  }
  for (size_t i = 0; i < 3 * nv; ++i)
    if (!std::isfinite(m->verts[i])) {
      size_t bad = i / 3;
      pl_mesh_free(m);
      return pl_fail(PL_ERR_PARSE, "%s: vertex %zu has a non-finite coordinate", path, bad + 1);
    }
  m->nverts = (int)nv;
  m->nfaces = (int)nf;
  m->nuvs = (int)nuv;
  return PL_OK;
}
