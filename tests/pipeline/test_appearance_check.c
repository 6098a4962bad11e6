/* test_appearance_check.c: the check of per-Gaussian colours and opacity offsets in float (the precision optimize
 * --check-grad runs in) tells a right gradient from one 10 % off (issue 11): the right one passes every sampled
 * entry, the same gradient times 1.1 (pl_appearance_check_fault) fails every one. Before, a measured uncertainty
 * as large as the error let such an entry pass. */
#include "pipeline/engine/engine.h"
#include "pipeline/engine/engine_objective.h"
#include "pipeline/io/targets.h"
#include "tests/pipeline/engine_fixture.h"
#include "tests/test_util.h"

static const char *SCENE =
    "[sim]\ngrid = 20\nframes = 3\nfps = 30\nboundary = separate\n"
    "[material jelly]\nmodel = fixed_corotated\nE = 4e4\nnu = 0.3\ndensity = 1000\ncolor = 0.85 0.35 0.3\n"
    "[object cube]\nshape = box\nmaterial = jelly\ncenter = 0.5 0.42 0.5\nsize = 0.3\nrotation = 0 25 0\n"
    "velocity = 0 -2.5 0\n"
    "[collider floor]\nshape = plane\npoint = 0 0.15 0\nnormal = 0 1 0\ntype = separate\nfriction = 0.6\n"
    "[camera front]\neye = 0.5 0.5 2.1\ntarget = 0.5 0.32 0.5\nfov = 35\n"
    "[render]\nwidth = 24\nheight = 24\nbackground = 1 1 1\n"
    "[upsample]\nlearn_colors = true\nlearn_opacities = true\n"
    "[targets]\nframes = 1:4\n"
    "[optimize]\nloss = l2:1 mask:0.5\n"
    "[param material.jelly.E]\n"
    "[truth]\nmaterial.jelly.E = 2e4\n";

static int count_ok(const pl_gc_row *rows, int n, const char *kind, int *total) {
  int ok = 0;
  *total = 0;
  for (int i = 0; i < n; ++i) {
    if (!strstr(rows[i].name, kind)) continue;
    ++*total;
    ok += rows[i].verdict == PL_GC_OK;
  }
  return ok;
}

int main(void) {
  pl_test_engine f;
  pl_status st = pl_test_engine_open(&f, SCENE);
  pl_engine *const e = f.e;
  CHECK(st == PL_OK, "set-up: %s", pl_last_error());
  if (st != PL_OK) {
    pl_test_engine_close(&f);
    return test_summary("test_appearance_check");
  }
  double step, tol;
  pl_gc_defaults(&step, NULL, &tol);
  pl_gc_row rows[32];
  int n = 0, total = 0;
  for (int fault = 0; fault < 2; ++fault) {
    pl_appearance_check_fault = fault ? 1.1 : 1.0;
    CHECK(pl_engine_appearance_check(e, &f.o, step, tol, 3, rows, 32, &n) == PL_OK, "check: %s", pl_last_error());
    pl_engine_release_check(e);
    for (int i = 0; i < n; ++i)
      printf("%s %-34s adjoint %12.6g  fd %12.6g  rel.err %9.2e  uncert. %9.2e  %s\n", fault ? "x1.1" : "    ",
             rows[i].name, rows[i].adjoint, rows[i].fd, rows[i].rel_error,
             rows[i].fd_err / fmax(fmax(fabs(rows[i].adjoint), fabs(rows[i].fd)), 1e-300),
             pl_gc_verdict_name(rows[i].verdict));
    int okc = count_ok(rows, n, "color", &total), oko, to;
    oko = count_ok(rows, n, "opacity_offset", &to);
    CHECK(total == 3 && to == 3, "3 colour and 3 opacity entries checked (%d, %d)", total, to);
    if (!fault) {
      CHECK(okc == total && oko == to, "right gradient: every entry ok (colours %d of %d, opacity offsets %d of %d)",
            okc, total, oko, to);
    } else {
      CHECK(okc == 0 && oko == 0, "gradient x1.1: every entry fails (ok: colours %d, opacity offsets %d)", okc, oko);
      CHECK(!pl_gc_all_ok(rows, n), "gradient x1.1: the check fails");
    }
  }
  pl_appearance_check_fault = 1.0;
  pl_test_engine_close(&f);
  return test_summary("test_appearance_check");
}
