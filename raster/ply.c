/* ply.c: 3DGS PLY files, read and write (host code). */
#define _POSIX_C_SOURCE 200809L
#include "raster/ply.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "core/byteorder.h"
#include "core/fileio.h"
#include "core/linalg.h"
#include "core/parse.h"

#define SH_C0 0.28209479177387814

/* ------------------------------------------------------------------ covariance -> scale, rotation */

static void rotmat_to_quat(const double r[3][3], double q[4]) {
  double tr = r[0][0] + r[1][1] + r[2][2];
  if (tr > 0) {
    double s = 2 * sqrt(tr + 1);
    q[0] = 0.25 * s, q[1] = (r[2][1] - r[1][2]) / s, q[2] = (r[0][2] - r[2][0]) / s, q[3] = (r[1][0] - r[0][1]) / s;
  } else if (r[0][0] > r[1][1] && r[0][0] > r[2][2]) {
    double s = 2 * sqrt(1 + r[0][0] - r[1][1] - r[2][2]);
    q[0] = (r[2][1] - r[1][2]) / s, q[1] = 0.25 * s, q[2] = (r[0][1] + r[1][0]) / s, q[3] = (r[0][2] + r[2][0]) / s;
  } else if (r[1][1] > r[2][2]) {
    double s = 2 * sqrt(1 + r[1][1] - r[0][0] - r[2][2]);
    q[0] = (r[0][2] - r[2][0]) / s, q[1] = (r[0][1] + r[1][0]) / s, q[2] = 0.25 * s, q[3] = (r[1][2] + r[2][1]) / s;
  } else {
    double s = 2 * sqrt(1 + r[2][2] - r[0][0] - r[1][1]);
    q[0] = (r[1][0] - r[0][1]) / s, q[1] = (r[0][2] + r[2][0]) / s, q[2] = (r[1][2] + r[2][1]) / s, q[3] = 0.25 * s;
  }
  double n = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]);
  for (int k = 0; k < 4; ++k) q[k] /= n;
  if (q[0] < 0)
    for (int k = 0; k < 4; ++k) q[k] = -q[k];
}

void raster_cov_to_scale_quat(const double cov[6], double scale[3], double quat[4]) {
  const m3 a = m3_from_rows(v3_make((real)cov[0], (real)cov[1], (real)cov[2]),
                            v3_make((real)cov[1], (real)cov[3], (real)cov[4]),
                            v3_make((real)cov[2], (real)cov[4], (real)cov[5]));
  /* A covariance is symmetric positive semi-definite: its rotation-variant SVD (core/linalg.h, the project's one
   * 3x3 decomposition) is its eigendecomposition, cov = V diag(sig) V^T, with sig descending and V a proper
   * rotation (a rounding-negative smallest eigenvalue keeps its sign in sig.z and is clamped below). */
  m3 u, v3m;
  v3 sig;
  m3_svd(a, &u, &sig, &v3m);
  double w[3] = {(double)sig.x, (double)sig.y, (double)sig.z}, v[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) v[i][j] = (double)v3m.m[i][j];
  for (int k = 0; k < 3; ++k) scale[k] = sqrt(fmax(w[k], 1e-24));
  rotmat_to_quat(v, quat);
}

/* ------------------------------------------------------------------ writing */

pl_status raster_ply_write(const char *path, const raster_gaussians *g, const raster_ply_write_options *opt) {
  if (!path || !g) return pl_fail(PL_ERR_INVALID, "raster_ply_write: path or Gaussians are NULL");
  raster_ply_write_options o;
  memset(&o, 0, sizeof o);
  if (opt) o = *opt;
  const int64_t n = g->n;
  if (n < 0) return pl_fail(PL_ERR_INVALID, "%s: negative Gaussian count", path);
  if (n > 0 && (!g->means || !g->opacities || !(g->covs || (g->scales && g->quats)) || !(g->colors || g->sh)))
    return pl_fail(PL_ERR_INVALID, "%s: need means, opacities, covariances (or scales + quaternions) and colours (or "
                   "SH coefficients)", path);
  const int deg_in = g->colors ? 0 : g->sh_degree;
  if (deg_in < 0 || deg_in > 3) return pl_fail(PL_ERR_INVALID, "%s: sh_degree must be 0..3 (got %d)", path, deg_in);
  const int K_in = (deg_in + 1) * (deg_in + 1);
  const int deg_out = o.compact ? deg_in : 3;
  const int K_out = (deg_out + 1) * (deg_out + 1);
  const int nrest = 3 * (K_out - 1);
  const int normals = !o.compact;
  const int nprop = 3 + (normals ? 3 : 0) + 3 + nrest + 1 + 3 + 4;
  for (int64_t i = 0; i < n; ++i) {
    int bad = 0;
    for (int k = 0; k < 3; ++k) bad |= !isfinite((double)g->means[3 * i + k]);
    bad |= !isfinite((double)g->opacities[i]);
    if (bad) return pl_fail(PL_ERR_NUMERIC, "%s: Gaussian %lld has a non-finite mean or opacity", path, (long long)i);
  }
  pl_out out;
  PL_TRY(pl_out_open(&out, path, 1));
  fprintf(out.f, "ply\nformat binary_little_endian 1.0\ncomment written by pipeline (raster/ply.c)\nelement vertex %lld\n",
          (long long)n);
  const char *names3[] = {"x", "y", "z"};
  for (int k = 0; k < 3; ++k) fprintf(out.f, "property float %s\n", names3[k]);
  if (normals) fprintf(out.f, "property float nx\nproperty float ny\nproperty float nz\n");
  for (int k = 0; k < 3; ++k) fprintf(out.f, "property float f_dc_%d\n", k);
  for (int k = 0; k < nrest; ++k) fprintf(out.f, "property float f_rest_%d\n", k);
  fprintf(out.f, "property float opacity\n");
  for (int k = 0; k < 3; ++k) fprintf(out.f, "property float scale_%d\n", k);
  for (int k = 0; k < 4; ++k) fprintf(out.f, "property float rot_%d\n", k);
  fprintf(out.f, "end_header\n");
  unsigned char *rec = (unsigned char *)malloc((size_t)nprop * 4);
  if (!rec) {
    pl_out_abort(&out);
    return pl_fail(PL_ERR_NOMEM, "%s: out of memory", path);
  }
  for (int64_t i = 0; i < n; ++i) {
    int p = 0;
    for (int k = 0; k < 3; ++k) pl_put_f32le(rec + 4 * p++, (double)g->means[3 * i + k]);
    if (normals)
      for (int k = 0; k < 3; ++k) pl_put_f32le(rec + 4 * p++, 0.0);
    const real *sh = g->sh ? g->sh + (int64_t)3 * K_in * i : NULL;
    for (int ch = 0; ch < 3; ++ch)
      pl_put_f32le(rec + 4 * p++, sh ? (double)sh[ch] : ((double)g->colors[3 * i + ch] - 0.5) / SH_C0);
    for (int ch = 0; ch < 3; ++ch)
      for (int k = 1; k < K_out; ++k) pl_put_f32le(rec + 4 * p++, (sh && k < K_in) ? (double)sh[3 * k + ch] : 0.0);
    double op = fmin(fmax((double)g->opacities[i], 1e-6), 1 - 1e-6);
    pl_put_f32le(rec + 4 * p++, log(op / (1 - op)));
    double sc[3], q[4];
    if (g->covs) {
      double c6[6];
      for (int k = 0; k < 6; ++k) c6[k] = (double)g->covs[6 * i + k];
      raster_cov_to_scale_quat(c6, sc, q);
    } else {
      double qn = 0;
      for (int k = 0; k < 3; ++k) sc[k] = fmax(fabs((double)g->scales[3 * i + k]), 1e-12);
      for (int k = 0; k < 4; ++k) {
        q[k] = (double)g->quats[4 * i + k];
        qn += q[k] * q[k];
      }
      if (!(qn > 0)) q[0] = 1, q[1] = q[2] = q[3] = 0;
    }
    for (int k = 0; k < 3; ++k) pl_put_f32le(rec + 4 * p++, log(sc[k]));
    for (int k = 0; k < 4; ++k) pl_put_f32le(rec + 4 * p++, q[k]);
    fwrite(rec, 4, (size_t)nprop, out.f);
  }
  free(rec);
  return pl_out_commit(&out);
}

/* ------------------------------------------------------------------ reading */

typedef enum { T_NONE = 0, T_I8, T_U8, T_I16, T_U16, T_I32, T_U32, T_F32, T_F64 } ptype;

static ptype parse_type(const char *s) {
  if (!strcmp(s, "char") || !strcmp(s, "int8")) return T_I8;
  if (!strcmp(s, "uchar") || !strcmp(s, "uint8")) return T_U8;
  if (!strcmp(s, "short") || !strcmp(s, "int16")) return T_I16;
  if (!strcmp(s, "ushort") || !strcmp(s, "uint16")) return T_U16;
  if (!strcmp(s, "int") || !strcmp(s, "int32")) return T_I32;
  if (!strcmp(s, "uint") || !strcmp(s, "uint32")) return T_U32;
  if (!strcmp(s, "float") || !strcmp(s, "float32")) return T_F32;
  if (!strcmp(s, "double") || !strcmp(s, "float64")) return T_F64;
  return T_NONE;
}
static int type_size(ptype t) {
  switch (t) {
    case T_I8: case T_U8: return 1;
    case T_I16: case T_U16: return 2;
    case T_I32: case T_U32: case T_F32: return 4;
    case T_F64: return 8;
    default: return 0;
  }
}

static double decode(const unsigned char *p, ptype t, int swap) {
  unsigned char b[8];
  int n = type_size(t);
  for (int i = 0; i < n; ++i) b[i] = swap ? p[n - 1 - i] : p[i];
  switch (t) {
    case T_I8: { int8_t v; memcpy(&v, b, 1); return v; }
    case T_U8: { uint8_t v; memcpy(&v, b, 1); return v; }
    case T_I16: { int16_t v; memcpy(&v, b, 2); return v; }
    case T_U16: { uint16_t v; memcpy(&v, b, 2); return v; }
    case T_I32: { int32_t v; memcpy(&v, b, 4); return v; }
    case T_U32: { uint32_t v; memcpy(&v, b, 4); return v; }
    case T_F32: { float v; memcpy(&v, b, 4); return v; }
    case T_F64: { double v; memcpy(&v, b, 8); return v; }
    default: return NAN;
  }
}

#define MAX_PROPS 512
#define MAX_ELEMS 16

typedef struct {
  char name[64];
  ptype type;
  int is_list;
  int offset; /* byte offset in a binary record */
} prop;

typedef struct {
  char name[64];
  long long count;
  int nprops;
  prop props[MAX_PROPS];
  int has_list;
  int record_bytes;
} elem;

/* indices of the properties we use, in the vertex element (-1 if absent) */
enum { P_X = 0, P_Y, P_Z, P_DC0, P_DC1, P_DC2, P_OP, P_S0, P_S1, P_S2, P_R0, P_R1, P_R2, P_R3, P_COUNT };
static const char *const wanted[P_COUNT] = {"x",       "y",       "z",       "f_dc_0", "f_dc_1", "f_dc_2", "opacity",
                                            "scale_0", "scale_1", "scale_2", "rot_0",  "rot_1",  "rot_2",  "rot_3"};

void raster_ply_free(raster_ply *p) {
  if (!p) return;
  free(p->means);
  free(p->scales);
  free(p->quats);
  free(p->opacities);
  free(p->sh);
  memset(p, 0, sizeof *p);
}

raster_gaussians raster_ply_gaussians(const raster_ply *p) {
  raster_gaussians g;
  memset(&g, 0, sizeof g);
  g.n = p->n;
  g.means = p->means;
  g.scales = p->scales;
  g.quats = p->quats;
  g.opacities = p->opacities;
  g.sh = p->sh;
  g.sh_degree = p->sh_degree;
  return g;
}

/* Read one header line (without the newline) into buf; returns 0 at EOF. */
static int read_line(FILE *f, char *buf, size_t size, int *too_long) {
  *too_long = 0;
  if (!fgets(buf, (int)size, f)) return 0;
  size_t len = strlen(buf);
  if (len && buf[len - 1] == '\n') {
    buf[--len] = '\0';
  } else if (!feof(f)) {
    *too_long = 1; /* the caller fails at once: never read on to find the line's end (/dev/zero has none) */
  }
  if (len && buf[len - 1] == '\r') buf[--len] = '\0';
  return 1;
}

static double sigmoid(double x) { return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x)); }

/* Bytes left in the stream after the current position (file_size known: regular file or memory). */
static int64_t bytes_left(FILE *f, int64_t file_size) {
  off_t pos = ftello(f);
  return pos < 0 || (int64_t)pos > file_size ? 0 : file_size - (int64_t)pos;
}

#define MAX_HEADER_LINES 4096

/* The reader proper, on an open stream of file_size bytes. Every count of the header is checked against the
 * bytes that are left before anything is allocated or skipped. */
static pl_status read_stream(FILE *f, int64_t file_size, const char *path, raster_ply *out) {
  elem *elems = (elem *)calloc(MAX_ELEMS, sizeof(elem));
  if (!elems) return pl_fail(PL_ERR_NOMEM, "%s: out of memory", path);
  pl_status st = PL_OK;
  unsigned char *rec = NULL;
  double *vals = NULL;
  int nelems = 0, format = -1, line = 0, ended = 0; /* format: 0 ascii, 1 binary LE, 2 binary BE */
  char buf[1024];
  int too_long;
#define FAIL(code, ...)                   \
  do {                                    \
    st = pl_fail(code, __VA_ARGS__);      \
    goto done;                            \
  } while (0)
  while (!ended && read_line(f, buf, sizeof buf, &too_long)) {
    ++line;
    if (too_long) FAIL(PL_ERR_PARSE, "%s:%d: header line too long (or not a text header)", path, line);
    if (line > MAX_HEADER_LINES) FAIL(PL_ERR_PARSE, "%s: header longer than %d lines", path, MAX_HEADER_LINES);
    char w0[64] = "", w1[64] = "", w2[64] = "", w3[64] = "", w4[64] = "";
    int nw = sscanf(buf, "%63s %63s %63s %63s %63s", w0, w1, w2, w3, w4);
    if (line == 1) {
      if (strcmp(buf, "ply") != 0) FAIL(PL_ERR_PARSE, "%s:1: not a PLY file (first line is not 'ply')", path);
      continue;
    }
    if (nw <= 0) continue;
    if (!strcmp(w0, "comment") || !strcmp(w0, "obj_info")) continue;
    if (!strcmp(w0, "format")) {
      if (nw < 3 || strcmp(w2, "1.0") != 0) FAIL(PL_ERR_PARSE, "%s:%d: unsupported format line '%s'", path, line, buf);
      if (!strcmp(w1, "ascii")) format = 0;
      else if (!strcmp(w1, "binary_little_endian")) format = 1;
      else if (!strcmp(w1, "binary_big_endian")) format = 2;
      else FAIL(PL_ERR_PARSE, "%s:%d: unknown format '%s' (ascii, binary_little_endian, binary_big_endian)", path,
                line, w1);
    } else if (!strcmp(w0, "element")) {
      if (nelems == MAX_ELEMS) FAIL(PL_ERR_PARSE, "%s:%d: too many elements", path, line);
      char *end = NULL;
      errno = 0;
      long long cnt = nw >= 3 ? strtoll(w2, &end, 10) : -1;
      if (nw < 3 || !end || *end || cnt < 0 || errno == ERANGE) FAIL(PL_ERR_PARSE, "%s:%d: malformed element line '%s'", path, line, buf);
      elem *e = &elems[nelems++];
      snprintf(e->name, sizeof e->name, "%s", w1);
      e->count = cnt;
    } else if (!strcmp(w0, "property")) {
      if (nelems == 0) FAIL(PL_ERR_PARSE, "%s:%d: property before any element", path, line);
      elem *e = &elems[nelems - 1];
      if (e->nprops == MAX_PROPS) FAIL(PL_ERR_PARSE, "%s:%d: too many properties (limit %d)", path, line, MAX_PROPS);
      prop *p = &e->props[e->nprops++];
      if (!strcmp(w1, "list")) {
        if (nw < 5 || !parse_type(w2) || !parse_type(w3))
          FAIL(PL_ERR_PARSE, "%s:%d: malformed list property '%s'", path, line, buf);
        p->is_list = 1;
        e->has_list = 1;
        snprintf(p->name, sizeof p->name, "%s", w4);
      } else {
        if (nw < 3) FAIL(PL_ERR_PARSE, "%s:%d: malformed property line '%s'", path, line, buf);
        p->type = parse_type(w1);
        if (!p->type) FAIL(PL_ERR_PARSE, "%s:%d: unknown property type '%s'", path, line, w1);
        snprintf(p->name, sizeof p->name, "%s", w2);
        p->offset = e->record_bytes;
        e->record_bytes += type_size(p->type);
      }
    } else if (!strcmp(w0, "end_header")) {
      ended = 1;
    } else {
      FAIL(PL_ERR_PARSE, "%s:%d: unexpected header line '%s'", path, line, buf);
    }
  }
  if (!ended) FAIL(PL_ERR_PARSE, "%s: header has no end_header (%d lines read)", path, line);
  if (format < 0) FAIL(PL_ERR_PARSE, "%s: header has no format line", path);
  int vi = -1;
  for (int i = 0; i < nelems; ++i)
    if (!strcmp(elems[i].name, "vertex")) {
      vi = i;
      break;
    }
  if (vi < 0) FAIL(PL_ERR_PARSE, "%s: no 'vertex' element in the header", path);
  elem *ve = &elems[vi];
  if (ve->has_list) FAIL(PL_ERR_PARSE, "%s: the vertex element has a list property (not a Gaussian splat file)", path);
  if (ve->count > 2147483647LL) FAIL(PL_ERR_LIMIT, "%s: %lld vertices exceed the limit of 2^31 - 1", path, ve->count);
  int idx[P_COUNT];
  for (int k = 0; k < P_COUNT; ++k) {
    idx[k] = -1;
    for (int j = 0; j < ve->nprops; ++j)
      if (!strcmp(ve->props[j].name, wanted[k])) idx[k] = j;
    if (idx[k] < 0)
      FAIL(PL_ERR_PARSE, "%s:%d: the vertex element has no property '%s' (is this a 3D Gaussian splatting file?)", path,
           line, wanted[k]);
  }
  int nrest = 0, rest_idx[45];
  for (;; ++nrest) {
    char nm[32];
    snprintf(nm, sizeof nm, "f_rest_%d", nrest);
    int found = -1;
    for (int j = 0; j < ve->nprops; ++j)
      if (!strcmp(ve->props[j].name, nm)) found = j;
    if (found < 0) break;
    if (nrest == 45) FAIL(PL_ERR_PARSE, "%s: more than 45 f_rest properties (SH degree > 3)", path);
    rest_idx[nrest] = found;
  }
  int deg;
  if (nrest == 0) deg = 0;
  else if (nrest == 9) deg = 1;
  else if (nrest == 24) deg = 2;
  else if (nrest == 45) deg = 3;
  else FAIL(PL_ERR_PARSE, "%s: %d f_rest properties (expected 0, 9, 24 or 45: SH degree 0..3)", path, nrest);
  const int K = (deg + 1) * (deg + 1);
  const int64_t n = ve->count;
  /* the data must hold every element before the vertices and the vertices themselves: an ascii value takes at
   * least two bytes (a digit and a separator), a binary record record_bytes */
  {
    int64_t need = 0;
    for (int i = 0; i <= vi && st == PL_OK; ++i) {
      const elem *e = &elems[i];
      int64_t per = format == 0 ? 2 * (int64_t)(e->nprops > 0 ? e->nprops : 1) : (int64_t)e->record_bytes;
      int64_t bytes;
      if (e->has_list && i < vi && format != 0) break; /* refused below with its own message */
      if (!pl_mul_i64(e->count, per, &bytes) || bytes > INT64_MAX - need)
        FAIL(PL_ERR_PARSE, "%s: element '%s' declares %lld records: more than any file can hold", path, e->name,
             e->count);
      need += bytes;
    }
    int64_t left = bytes_left(f, file_size);
    if (need > left + (format == 0)) /* ascii: the last value needs no separator */
      FAIL(PL_ERR_PARSE, "%s: the header declares %lld vertices (and %d element%s before them) needing at least %lld "
           "bytes, but only %lld bytes follow the header (truncated or corrupt)", path, ve->count, vi,
           vi == 1 ? "" : "s", (long long)need, (long long)left);
  }
  out->n = n;
  out->sh_degree = deg;
  size_t m = (size_t)(n > 0 ? n : 1);
  out->means = (real *)malloc(sizeof(real) * 3 * m);
  out->scales = (real *)malloc(sizeof(real) * 3 * m);
  out->quats = (real *)malloc(sizeof(real) * 4 * m);
  out->opacities = (real *)malloc(sizeof(real) * m);
  out->sh = (real *)malloc(sizeof(real) * 3 * (size_t)K * m);
  if (!out->means || !out->scales || !out->quats || !out->opacities || !out->sh)
    FAIL(PL_ERR_NOMEM, "%s: out of memory for %lld Gaussians", path, (long long)n);

  /* skip the elements before the vertex element */
  for (int i = 0; i < vi; ++i) {
    elem *e = &elems[i];
    if (format == 0) {
      for (long long r = 0; r < e->count; ++r) {
        int ch;
        while ((ch = fgetc(f)) != EOF && ch != '\n') {
        }
        if (ch == EOF) FAIL(PL_ERR_PARSE, "%s: truncated in element '%s'", path, e->name);
      }
    } else {
      if (e->has_list)
        FAIL(PL_ERR_PARSE, "%s: element '%s' before 'vertex' has list properties (cannot skip it)", path, e->name);
      if (fseeko(f, (off_t)(e->count * e->record_bytes), SEEK_CUR) != 0) /* checked against the size above */
        FAIL(PL_ERR_PARSE, "%s: truncated in element '%s'", path, e->name);
    }
  }
  const int swap = (format == 2) == pl_host_little_endian();
  rec = (unsigned char *)malloc((size_t)(ve->record_bytes > 0 ? ve->record_bytes : 1));
  vals = (double *)malloc(sizeof(double) * (size_t)ve->nprops);
  if (!rec || !vals) FAIL(PL_ERR_NOMEM, "%s: out of memory", path);
  for (int64_t i = 0; i < n; ++i) {
    if (format == 0) {
      for (int j = 0; j < ve->nprops; ++j)
        if (fscanf(f, "%lf", &vals[j]) != 1) {
          FAIL(PL_ERR_PARSE, "%s: vertex %lld: cannot read property '%s' (truncated or not a number)", path,
               (long long)i, ve->props[j].name);
        }
    } else {
      if (fread(rec, 1, (size_t)ve->record_bytes, f) != (size_t)ve->record_bytes) {
        FAIL(PL_ERR_PARSE, "%s: truncated: the data ends in vertex %lld of %lld", path, (long long)i, (long long)n);
      }
      for (int j = 0; j < ve->nprops; ++j) vals[j] = decode(rec + ve->props[j].offset, ve->props[j].type, swap);
    }
    for (int k = 0; k < P_COUNT; ++k)
      if (!isfinite(vals[idx[k]])) {
        FAIL(PL_ERR_NUMERIC, "%s: vertex %lld: property '%s' is not finite", path, (long long)i, wanted[k]);
      }
    for (int r = 0; r < nrest; ++r)
      if (!isfinite(vals[rest_idx[r]])) {
        FAIL(PL_ERR_NUMERIC, "%s: vertex %lld: property 'f_rest_%d' is not finite", path, (long long)i, r);
      }
    for (int k = 0; k < 3; ++k) out->means[3 * i + k] = (real)vals[idx[P_X + k]];
    double q[4], qn = 0;
    for (int k = 0; k < 4; ++k) {
      q[k] = vals[idx[P_R0 + k]];
      qn += q[k] * q[k];
    }
    if (!(qn > 0)) {
      FAIL(PL_ERR_NUMERIC, "%s: vertex %lld: rotation (rot_0..3) has zero length", path, (long long)i);
    }
    qn = sqrt(qn);
    for (int k = 0; k < 4; ++k) out->quats[4 * i + k] = (real)(q[k] / qn);
    for (int k = 0; k < 3; ++k) {
      double s = exp(vals[idx[P_S0 + k]]);
      if (!isfinite(s)) {
        FAIL(PL_ERR_NUMERIC, "%s: vertex %lld: scale_%d = %g overflows exp()", path, (long long)i, k, vals[idx[P_S0 + k]]);
      }
      out->scales[3 * i + k] = (real)s;
    }
    out->opacities[i] = (real)sigmoid(vals[idx[P_OP]]);
    real *sh = out->sh + (int64_t)3 * K * i;
    for (int ch = 0; ch < 3; ++ch) {
      sh[ch] = (real)vals[idx[P_DC0 + ch]];
      for (int k = 1; k < K; ++k) sh[3 * k + ch] = (real)vals[rest_idx[ch * (K - 1) + k - 1]];
    }
  }
done:
#undef FAIL
  free(rec);
  free(vals);
  free(elems);
  if (st != PL_OK) raster_ply_free(out);
  return st;
}

pl_status raster_ply_read(const char *path, raster_ply *out) {
  if (!out) return pl_fail(PL_ERR_INVALID, "raster_ply_read: output is NULL");
  memset(out, 0, sizeof *out);
  if (!path) return pl_fail(PL_ERR_INVALID, "raster_ply_read: path is NULL");
  FILE *f = fopen(path, "rb");
  if (!f) return pl_fail(PL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fclose(f);
    return pl_fail(PL_ERR_IO, "%s: not a regular file (a PLY file's size must be known to check its header)", path);
  }
  pl_status st = read_stream(f, (int64_t)sb.st_size, path, out);
  fclose(f);
  return st;
}

pl_status raster_ply_read_memory(const void *data, size_t size, const char *name, raster_ply *out) {
  if (!out) return pl_fail(PL_ERR_INVALID, "raster_ply_read_memory: output is NULL");
  memset(out, 0, sizeof *out);
  if (!data || size == 0) return pl_fail(PL_ERR_PARSE, "%s: empty", name);
  FILE *f = fmemopen((void *)data, size, "rb");
  if (!f) return pl_fail(PL_ERR_NOMEM, "%s: cannot open the buffer", name);
  pl_status st = read_stream(f, (int64_t)size, name, out);
  fclose(f);
  return st;
}
