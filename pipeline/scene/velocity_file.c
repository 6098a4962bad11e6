/* velocity_file.c: per-particle initial velocities from a CSV file (format and matching: velocity_file.h). */
#include "pipeline/scene/velocity_file.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse.h"

#define VF_MAXCOL 6

typedef struct {
  double *r;     /* rows [nrow][ncol] in the order x y z vx vy vz (ncol 6) or vx vy vz (ncol 3) */
  int64_t nrow, cap;
  int ncol;
} vf_table;

/* Split a line into tokens at commas, spaces and tabs; returns the count (at most max; max + 1 = too many). */
static int vf_split(char *line, char **tok, int max) {
  int n = 0;
  char *p = line;
  for (;;) {
    while (*p == ',' || *p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') ++p;
    if (!*p) break;
    if (n == max) return max + 1;
    tok[n++] = p;
    while (*p && *p != ',' && *p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') ++p;
    if (*p) *p++ = '\0';
  }
  return n;
}

/* A header line maps the named columns onto x y z vx vy vz (perm[k] = the file column of quantity k). */
static pl_status vf_header(const char *path, int line, char **tok, int ntok, int perm[VF_MAXCOL], int *ncol) {
  static const char *const names[VF_MAXCOL] = {"x", "y", "z", "vx", "vy", "vz"};
  for (int k = 0; k < VF_MAXCOL; ++k) perm[k] = -1;
  for (int t = 0; t < ntok; ++t) {
    int k = 0;
    while (k < VF_MAXCOL && strcmp(tok[t], names[k])) ++k;
    if (k == VF_MAXCOL)
      return pl_fail(PL_ERR_INVALID, "%s:%d: unknown column '%s' (the header names vx, vy, vz and optionally x, y, z)",
                     path, line, tok[t]);
    if (perm[k] >= 0) return pl_fail(PL_ERR_INVALID, "%s:%d: column '%s' named twice", path, line, tok[t]);
    perm[k] = t;
  }
  if (perm[3] < 0 || perm[4] < 0 || perm[5] < 0)
    return pl_fail(PL_ERR_INVALID, "%s:%d: the header must name vx, vy and vz", path, line);
  int npos = (perm[0] >= 0) + (perm[1] >= 0) + (perm[2] >= 0);
  if (npos != 0 && npos != 3)
    return pl_fail(PL_ERR_INVALID, "%s:%d: the header names only some of x, y, z (all three match by nearest position, "
                   "none by order)", path, line);
  *ncol = npos ? 6 : 3;
  if (ntok != *ncol) return pl_fail(PL_ERR_INVALID, "%s:%d: %d columns in the header, expected %d", path, line, ntok, *ncol);
  if (*ncol == 3)
    for (int k = 0; k < 3; ++k) perm[k] = perm[k + 3];
  return PL_OK;
}

static pl_status vf_read(const char *path, vf_table *t) {
  memset(t, 0, sizeof *t);
  FILE *f = fopen(path, "r");
  if (!f) return pl_fail(PL_ERR_IO, "%s: cannot open the velocity file", path);
  char buf[4096];
  char *tok[VF_MAXCOL + 1];
  int perm[VF_MAXCOL], line = 0, have_cols = 0;
  pl_status st = PL_OK;
  while (st == PL_OK && fgets(buf, sizeof buf, f)) {
    ++line;
    size_t len = strlen(buf);
    if (len == sizeof buf - 1 && buf[len - 1] != '\n' && !feof(f)) {
      st = pl_fail(PL_ERR_INVALID, "%s:%d: line longer than %d characters", path, line, (int)sizeof buf - 2);
      break;
    }
    char *p = buf;
    while (*p == ' ' || *p == '\t') ++p;
    if (*p == '#') continue;
    int ntok = vf_split(p, tok, VF_MAXCOL);
    if (ntok == 0) continue;
    if (ntok > VF_MAXCOL) {
      st = pl_fail(PL_ERR_INVALID, "%s:%d: more than %d columns (vx,vy,vz or x,y,z,vx,vy,vz)", path, line, VF_MAXCOL);
      break;
    }
    double val[VF_MAXCOL];
    if (!have_cols && !pl_parse_real(tok[0], &val[0]) && (isalpha((unsigned char)tok[0][0]) || tok[0][0] == '_')) {
      st = vf_header(path, line, tok, ntok, perm, &t->ncol);
      have_cols = 1;
      continue;
    }
    if (!have_cols) {
      if (ntok != 3 && ntok != 6) {
        st = pl_fail(PL_ERR_INVALID, "%s:%d: %d numbers; a row is vx,vy,vz (matched by order) or x,y,z,vx,vy,vz "
                     "(matched by nearest position)", path, line, ntok);
        break;
      }
      t->ncol = ntok;
      for (int k = 0; k < ntok; ++k) perm[k] = k;
      have_cols = 1;
    }
    if (ntok != t->ncol) {
      st = pl_fail(PL_ERR_INVALID, "%s:%d: %d numbers, expected %d like the rows before", path, line, ntok, t->ncol);
      break;
    }
    for (int k = 0; k < ntok; ++k)
      if (!pl_parse_real(tok[perm[k]], &val[k])) {
        st = pl_fail(PL_ERR_INVALID, "%s:%d: column %d: '%s' is not a finite number", path, line, perm[k] + 1, tok[perm[k]]);
        break;
      }
    if (st != PL_OK) break;
    if (t->nrow == t->cap) {
      int64_t cap = t->cap ? 2 * t->cap : 1024;
      double *r = (double *)realloc(t->r, (size_t)cap * (size_t)t->ncol * sizeof(double));
      if (!r) {
        st = pl_fail(PL_ERR_NOMEM, "%s: out of memory at line %d", path, line);
        break;
      }
      t->r = r, t->cap = cap;
    }
    memcpy(t->r + t->nrow * t->ncol, val, (size_t)t->ncol * sizeof(double));
    t->nrow++;
  }
  if (st == PL_OK && ferror(f)) st = pl_fail(PL_ERR_IO, "%s: read error", path);
  fclose(f);
  if (st == PL_OK && t->nrow == 0) st = pl_fail(PL_ERR_INVALID, "%s: no velocity rows", path);
  if (st != PL_OK) free(t->r), t->r = NULL;
  return st;
}

/* Nearest row to each particle: rows bucketed in a uniform grid over their bounding box (about 2 rows per
 * bucket), searched in growing shells of buckets until the shell is farther than the best row found. */
typedef struct {
  double lo[3], h;
  int nb[3];
  int64_t *start, *idx;
} vf_grid;

static int vf_cell(const vf_grid *g, const double *p, int a) {
  int c = (int)floor((p[a] - g->lo[a]) / g->h);
  return c < 0 ? 0 : c >= g->nb[a] ? g->nb[a] - 1 : c;
}

static pl_status vf_grid_build(const vf_table *t, vf_grid *g) {
  double hi[3];
  for (int a = 0; a < 3; ++a) g->lo[a] = hi[a] = t->r[a];
  for (int64_t r = 0; r < t->nrow; ++r)
    for (int a = 0; a < 3; ++a) g->lo[a] = fmin(g->lo[a], t->r[6 * r + a]), hi[a] = fmax(hi[a], t->r[6 * r + a]);
  double ext = fmax(hi[0] - g->lo[0], fmax(hi[1] - g->lo[1], hi[2] - g->lo[2]));
  double vol = 1;
  for (int a = 0; a < 3; ++a) vol *= fmax(hi[a] - g->lo[a], ext * 1e-3 + 1e-12);
  g->h = fmax(cbrt(2.0 * vol / (double)t->nrow), ext * 1e-3 + 1e-12);
  for (int a = 0; a < 3; ++a) g->h = fmax(g->h, (hi[a] - g->lo[a]) / 1000); /* at most ~1000 buckets per axis */
  int64_t nc = 1;
  for (int a = 0; a < 3; ++a) {
    g->nb[a] = (int)floor((hi[a] - g->lo[a]) / g->h) + 1;
    nc *= g->nb[a];
  }
  g->start = (int64_t *)calloc((size_t)nc + 1, sizeof(int64_t));
  g->idx = (int64_t *)malloc((size_t)t->nrow * sizeof(int64_t));
  if (!g->start || !g->idx) return pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int64_t r = 0; r < t->nrow; ++r) {
    const double *p = t->r + 6 * r;
    g->start[((int64_t)vf_cell(g, p, 0) * g->nb[1] + vf_cell(g, p, 1)) * g->nb[2] + vf_cell(g, p, 2) + 1]++;
  }
  for (int64_t c = 0; c < nc; ++c) g->start[c + 1] += g->start[c];
  int64_t *fill = (int64_t *)malloc((size_t)nc * sizeof(int64_t));
  if (!fill) return pl_fail(PL_ERR_NOMEM, "out of memory");
  memcpy(fill, g->start, (size_t)nc * sizeof(int64_t));
  for (int64_t r = 0; r < t->nrow; ++r) {
    const double *p = t->r + 6 * r;
    g->idx[fill[((int64_t)vf_cell(g, p, 0) * g->nb[1] + vf_cell(g, p, 1)) * g->nb[2] + vf_cell(g, p, 2)]++] = r;
  }
  free(fill);
  return PL_OK;
}

static int64_t vf_nearest(const vf_table *t, const vf_grid *g, const double *q) {
  int c[3];
  for (int a = 0; a < 3; ++a) c[a] = vf_cell(g, q, a);
  int maxr = g->nb[0] + g->nb[1] + g->nb[2];
  int64_t best = -1;
  double bd = INFINITY;
  for (int s = 0; s <= maxr; ++s) {
    /* every bucket at Chebyshev distance s from c */
    for (int i = c[0] - s; i <= c[0] + s; ++i) {
      if (i < 0 || i >= g->nb[0]) continue;
      for (int j = c[1] - s; j <= c[1] + s; ++j) {
        if (j < 0 || j >= g->nb[1]) continue;
        for (int k = c[2] - s; k <= c[2] + s; ++k) {
          if (k < 0 || k >= g->nb[2]) continue;
          if (abs(i - c[0]) != s && abs(j - c[1]) != s && abs(k - c[2]) != s) continue;
          int64_t b = ((int64_t)i * g->nb[1] + j) * g->nb[2] + k;
          for (int64_t e = g->start[b]; e < g->start[b + 1]; ++e) {
            const double *p = t->r + 6 * g->idx[e];
            double d = (p[0] - q[0]) * (p[0] - q[0]) + (p[1] - q[1]) * (p[1] - q[1]) + (p[2] - q[2]) * (p[2] - q[2]);
            if (d < bd || (d == bd && g->idx[e] < best)) bd = d, best = g->idx[e];
          }
        }
      }
    }
    /* rows in shells beyond s are at least s h away from q (q lies in bucket c, or is clamped outside the grid,
     * where the bound only grows) */
    if (best >= 0 && bd <= (s * g->h) * (s * g->h)) break;
  }
  return best;
}

pl_status pl_velocity_file_add(const char *path, const char *object_name, int obj, int64_t n, const real *x,
                               const int32_t *object, real *v) {
  vf_table t;
  PL_TRY(vf_read(path, &t));
  int64_t cnt = 0;
  for (int64_t i = 0; i < n; ++i) cnt += object[i] == obj;
  pl_status st = PL_OK;
  if (t.ncol == 3) {
    if (t.nrow != cnt)
      st = pl_fail(PL_ERR_INVALID, "%s: %lld velocity rows, but [object %s] has %lld particles (rows vx,vy,vz are "
                   "matched to the particles in sampling order; give x,y,z,vx,vy,vz to match by nearest position)",
                   path, (long long)t.nrow, object_name, (long long)cnt);
    for (int64_t i = 0, r = 0; i < n && st == PL_OK; ++i)
      if (object[i] == obj) {
        for (int k = 0; k < 3; ++k) v[3 * i + k] += (real)t.r[3 * r + k];
        ++r;
      }
  } else {
    vf_grid g;
    memset(&g, 0, sizeof g);
    st = vf_grid_build(&t, &g);
    for (int64_t i = 0; i < n && st == PL_OK; ++i)
      if (object[i] == obj) {
        double q[3] = {x[3 * i], x[3 * i + 1], x[3 * i + 2]};
        int64_t r = vf_nearest(&t, &g, q);
        for (int k = 0; k < 3; ++k) v[3 * i + k] += (real)t.r[6 * r + 3 + k];
      }
    free(g.start);
    free(g.idx);
  }
  free(t.r);
  return st;
}
