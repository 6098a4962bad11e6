/* test_sweep.c: sweep axes, grid order, shards covering the grid exactly once, CSV merge. */
#define _POSIX_C_SOURCE 200809L
#include <unistd.h>

#include "core/fileio.h"
#include "pipeline/fit/sweep.h"
#include "tests/test_util.h"

int main(void) {
  pl_sweep s;
  memset(&s, 0, sizeof s);
  CHECK(pl_sweep_add_axis(&s, "material.m.E=1e4:1e6:3:log") == PL_OK, "log axis");
  CHECK(fabs(s.axes[0].values[1] - 1e5) < 1e-6 && s.axes[0].values[2] == 1e6, "log values %g", s.axes[0].values[1]);
  CHECK(pl_sweep_add_axis(&s, "material.m.nu=0.1:0.4:4") == PL_OK, "linear axis");
  CHECK(fabs(s.axes[1].values[1] - 0.2) < 1e-15 && s.axes[1].values[3] == 0.4, "linear values");
  CHECK(pl_sweep_add_axis(&s, "sim.seed=1,2") == PL_OK, "list axis");
  CHECK(s.total == 24, "grid size %ld", s.total);
  double v[3];
  pl_sweep_point(&s, 0, v);
  CHECK(v[0] == 1e4 && v[1] == 0.1 && v[2] == 1, "first point");
  pl_sweep_point(&s, 1, v);
  CHECK(v[2] == 2 && v[1] == 0.1, "last axis fastest");
  pl_sweep_point(&s, 23, v);
  CHECK(v[0] == 1e6 && v[1] == 0.4 && v[2] == 2, "last point");
  /* shards partition the grid */
  int seen[24] = {0};
  for (int sh = 0; sh < 5; ++sh) {
    char spec[16];
    snprintf(spec, sizeof spec, "%d/5", sh);
    CHECK(pl_sweep_set_shard(&s, spec) == PL_OK, "shard");
    for (long i = 0; i < s.total; ++i)
      if (pl_sweep_point(&s, i, v)) seen[i]++;
  }
  int ok = 1;
  for (int i = 0; i < 24; ++i) ok &= seen[i] == 1;
  CHECK(ok, "every point in exactly one shard");
  CHECK(pl_sweep_set_shard(&s, "5/5") == PL_ERR_INVALID && pl_sweep_set_shard(&s, "x") == PL_ERR_INVALID, "bad shard");
  CHECK(pl_sweep_add_axis(&s, "E") == PL_ERR_INVALID, "no =");
  CHECK(pl_sweep_add_axis(&s, "a.b=1:2") == PL_ERR_INVALID, "missing N");
  CHECK(pl_sweep_add_axis(&s, "a.b=-1:2:3:log") == PL_ERR_INVALID, "log of negative");
  /* merge */
  char dir[] = "/tmp/pl_sweep_XXXXXX";
  CHECK(mkdtemp(dir) != NULL, "tmp");
  char a[300], b[300], out[300];
  snprintf(a, sizeof a, "%s/a.csv", dir);
  snprintf(b, sizeof b, "%s/b.csv", dir);
  snprintf(out, sizeof out, "%s/all.csv", dir);
  FILE *f = fopen(a, "w");
  fputs("point,E,loss\n2,3,0.5\n0,1,0.1\n", f);
  fclose(f);
  f = fopen(b, "w");
  fputs("point,E,loss\n1,2,0.2\n", f);
  fclose(f);
  const char *in[] = {a, b};
  CHECK(pl_csv_merge(in, 2, out) == PL_OK, "merge: %s", pl_last_error());
  char *text = NULL;
  pl_read_file(out, &text, NULL);
  CHECK(text && strcmp(text, "point,E,loss\n0,1,0.1\n1,2,0.2\n2,3,0.5\n") == 0, "merged: %s", text ? text : "");
  free(text);
  const char *dup[] = {a, a};
  CHECK(pl_csv_merge(dup, 2, out) == PL_ERR_INVALID, "duplicate points refused");
  f = fopen(b, "w");
  fputs("point,nu,loss\n1,2,0.2\n", f);
  fclose(f);
  CHECK(pl_csv_merge(in, 2, out) == PL_ERR_INVALID, "different headers refused");
  unlink(a);
  unlink(b);
  unlink(out);
  rmdir(dir);
  return test_summary("test_sweep");
}
