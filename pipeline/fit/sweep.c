#define _POSIX_C_SOURCE 200809L
#include "pipeline/fit/sweep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fileio.h"
#include "pipeline/scene/config.h"

pl_status pl_sweep_add_axis(pl_sweep *s, const char *spec) {
  if (s->naxes == PL_SWEEP_MAX_AXES) return pl_fail(PL_ERR_LIMIT, "--param: at most %d axes", PL_SWEEP_MAX_AXES);
  const char *eq = strchr(spec, '=');
  if (!eq || eq == spec)
    return pl_fail(PL_ERR_INVALID, "--param '%s': expected ADDRESS=LO:HI:N[:log] or ADDRESS=v1,v2,...", spec);
  pl_sweep_axis *a = &s->axes[s->naxes];
  memset(a, 0, sizeof *a);
  size_t al = (size_t)(eq - spec);
  if (al >= sizeof a->address) return pl_fail(PL_ERR_INVALID, "--param '%s': address too long", spec);
  memcpy(a->address, spec, al);
  const char *v = eq + 1;
  if (strchr(v, ':')) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", v);
    char *parts[5];
    int np = 0;
    for (char *p = buf, *save = NULL, *tok; (tok = strtok_r(p, ":", &save)) && np < 5; p = NULL) parts[np++] = tok;
    double lo, hi;
    long n;
    int logsp = np == 4 && strcmp(parts[3], "log") == 0;
    if ((np != 3 && !logsp) || !pl_parse_real(parts[0], &lo) || !pl_parse_real(parts[1], &hi) ||
        !pl_parse_int(parts[2], &n))
      return pl_fail(PL_ERR_INVALID, "--param '%s': expected LO:HI:N or LO:HI:N:log", spec);
    if (n < 1 || n > PL_SWEEP_MAX_VALUES)
      return pl_fail(PL_ERR_INVALID, "--param '%s': N must be in 1..%d", spec, PL_SWEEP_MAX_VALUES);
    if (logsp && !(lo > 0 && hi > 0)) return pl_fail(PL_ERR_INVALID, "--param '%s': log spacing needs LO, HI > 0", spec);
    for (long i = 0; i < n; ++i) {
      double t = n == 1 ? 0.0 : (double)i / (double)(n - 1);
      a->values[i] = logsp ? exp(log(lo) + t * (log(hi) - log(lo))) : lo + t * (hi - lo);
    }
    a->values[0] = lo; /* exact end points */
    if (n > 1) a->values[n - 1] = hi;
    a->n = (int)n;
  } else {
    int n = pl_parse_reals(v, a->values, PL_SWEEP_MAX_VALUES);
    if (n < 1) return pl_fail(PL_ERR_INVALID, "--param '%s': no values (expected v1,v2,...)", spec);
    if (n > PL_SWEEP_MAX_VALUES) return pl_fail(PL_ERR_INVALID, "--param '%s': too many values", spec);
    a->n = n;
  }
  s->naxes++;
  s->total = 1;
  for (int i = 0; i < s->naxes; ++i) {
    if (s->total > (1L << 40) / s->axes[i].n) return pl_fail(PL_ERR_LIMIT, "--param: the grid is too large");
    s->total *= s->axes[i].n;
  }
  if (s->nshards == 0) s->nshards = 1;
  return PL_OK;
}

pl_status pl_sweep_set_shard(pl_sweep *s, const char *spec) {
  long i, n;
  char buf[64];
  snprintf(buf, sizeof buf, "%s", spec);
  char *slash = strchr(buf, '/');
  if (!slash) return pl_fail(PL_ERR_INVALID, "--shard '%s': expected I/N", spec);
  *slash = '\0';
  if (!pl_parse_int(buf, &i) || !pl_parse_int(slash + 1, &n) || n < 1 || i < 0 || i >= n)
    return pl_fail(PL_ERR_INVALID, "--shard '%s': expected I/N with 0 <= I < N", spec);
  s->shard = (int)i;
  s->nshards = (int)n;
  return PL_OK;
}

int pl_sweep_point(const pl_sweep *s, long index, double *values) {
  long r = index;
  for (int a = s->naxes - 1; a >= 0; --a) {
    values[a] = s->axes[a].values[r % s->axes[a].n];
    r /= s->axes[a].n;
  }
  return (s->nshards <= 1) || (index % s->nshards == s->shard);
}

typedef struct {
  long index;
  char *line;
} csv_row;

static int cmp_row(const void *a, const void *b) {
  long x = ((const csv_row *)a)->index, y = ((const csv_row *)b)->index;
  return x < y ? -1 : (x > y);
}

pl_status pl_csv_merge(const char *const *inputs, int n, const char *out) {
  char *header = NULL;
  csv_row *rows = NULL;
  size_t nrows = 0, cap = 0;
  char **texts = (char **)calloc((size_t)(n ? n : 1), sizeof *texts);
  pl_status st = texts ? PL_OK : pl_fail(PL_ERR_NOMEM, "out of memory");
  for (int f = 0; f < n && st == PL_OK; ++f) {
    st = pl_read_file(inputs[f], &texts[f], NULL);
    if (st != PL_OK) break;
    char *save = NULL;
    int lineno = 0;
    for (char *line = strtok_r(texts[f], "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
      ++lineno;
      if (lineno == 1) {
        if (!header)
          header = line;
        else if (strcmp(header, line) != 0) {
          st = pl_fail(PL_ERR_INVALID, "%s: its header differs from %s's; not the same sweep", inputs[f], inputs[0]);
          break;
        }
        continue;
      }
      long idx;
      char first[32];
      size_t k = strcspn(line, ",");
      if (k >= sizeof first) k = sizeof first - 1;
      memcpy(first, line, k);
      first[k] = '\0';
      if (!pl_parse_int(first, &idx)) {
        st = pl_fail(PL_ERR_PARSE, "%s:%d: the first column is not a point index", inputs[f], lineno);
        break;
      }
      if (nrows == cap) {
        cap = cap ? 2 * cap : 256;
        csv_row *nr = (csv_row *)realloc(rows, cap * sizeof *nr);
        if (!nr) {
          st = pl_fail(PL_ERR_NOMEM, "out of memory");
          break;
        }
        rows = nr;
      }
      rows[nrows].index = idx;
      rows[nrows].line = line;
      nrows++;
    }
  }
  if (st == PL_OK && !header) st = pl_fail(PL_ERR_INVALID, "csv merge: no input has a header");
  if (st == PL_OK) {
    qsort(rows, nrows, sizeof *rows, cmp_row);
    for (size_t i = 1; i < nrows; ++i)
      if (rows[i].index == rows[i - 1].index) {
        st = pl_fail(PL_ERR_INVALID, "csv merge: point %ld appears twice (overlapping shards?)", rows[i].index);
        break;
      }
  }
  if (st == PL_OK) {
    pl_out o;
    st = pl_out_open(&o, out, 0);
    if (st == PL_OK) {
      fprintf(o.f, "%s\n", header);
      for (size_t i = 0; i < nrows; ++i) fprintf(o.f, "%s\n", rows[i].line);
      st = pl_out_commit(&o);
    }
  }
  for (int f = 0; f < n && texts; ++f) free(texts[f]);
  free(texts);
  free(rows);
  return st;
}
