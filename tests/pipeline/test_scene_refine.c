/* test_scene_refine.c: `pipeline capture --refine` simulates the same world as the scene it refines
 * (pipeline/scene/scene_refine.h, issue 20).
 *
 *   floor   an elastic block dropped on the floor of the domain's wall band (sticky, as sand.cfg's) rests at the
 *           same height at grid 16 and at 2x and 3x that grid: its lowest particles and its mean height within 0.25
 *           of the coarse cell (time averages over 0.5..1 s). Before, the band was 3 cells at every resolution, so
 *           the refined floor lay 1.5 (2x) or 2 (3x) coarse cells lower;
 *   box     a box that is not a whole number of cells keeps its far walls (the refined grid spans the same box);
 *   keys    a fixed substep count is scaled with the grid, particles per unit volume by the refinement, a regular
 *           lattice whose refined count is not a cube falls back to jittered, and a band too wide for 16 cells at
 *           the refined grid is refused naming the key. */
#include "pipeline/scene/scene_refine.h"
#include "pipeline/scene/sim_setup.h"
#include "tests/mpm/mpm_test_util.h"

static const char *SCENE =
    "[sim]\ndomain_min = 0 0 0\ndomain_max = 0.5 0.4 0.5\ngrid = 16\nframes = 30\nfps = 30\nboundary = sticky\n"
    "[material jelly]\nmodel = fixed_corotated\nE = 3e4\nnu = 0.3\ndensity = 1000\n"
    "[object block]\nshape = box\nmaterial = jelly\ncenter = 0.25 0.17 0.25\nsize = 0.15 0.1 0.15\n"
    "particles_per_cell = 8\n"
    "[camera front]\neye = 0.25 0.3 1.5\ntarget = 0.25 0.15 0.25\nfov = 35\n";

/* The block dropped 2.6 cm onto the floor bounces and rocks on it for a while (differently at each resolution), so
 * its rest height is a time average over frames 16..30 (0.5..1 s): of the mean height of its lowest 5 % of
 * particles, and of all of them. */
static void rest_height(const pl_scene *s, double *bottom, double *mean) {
  mpm_sim *sim = NULL;
  if (pl_sim_setup(s, &sim, NULL) != PL_OK) {
    fprintf(stderr, "setup: %s\n", pl_last_error());
    exit(1);
  }
  mpm_particles h = {0};
  double *y = NULL;
  int navg = 0;
  *bottom = *mean = 0;
  for (int f = 1; f <= s->sim.frames; ++f) {
    if (mpm_advance_frame(sim) != PL_OK) {
      fprintf(stderr, "frame %d: %s\n", f, pl_last_error());
      exit(1);
    }
    if (f < 16) continue;
    tu_get(sim, &h);
    if (!y) y = (double *)malloc(sizeof(double) * (size_t)h.n);
    double sum = 0, low = 0;
    for (int64_t p = 0; p < h.n; ++p) y[p] = h.x[3 * p + 1], sum += y[p];
    /* the lowest 5 %: a partial selection by repeated minimum is enough for a few thousand particles */
    int64_t k = h.n / 20 > 0 ? h.n / 20 : 1;
    for (int64_t i = 0; i < k; ++i) {
      int64_t m = i;
      for (int64_t p = i + 1; p < h.n; ++p)
        if (y[p] < y[m]) m = p;
      double t = y[i];
      y[i] = y[m], y[m] = t;
      low += y[i];
    }
    *bottom += low / (double)k;
    *mean += sum / (double)h.n;
    ++navg;
  }
  *bottom /= navg;
  *mean /= navg;
  free(y);
  mpm_particles_free(&h);
  mpm_destroy(sim);
}

static void test_floor(void) {
  pl_scene s;
  CHECK(pl_scene_load_string(&s, SCENE, "refine.cfg", ".", NULL, 0) == PL_OK, "scene: %s", pl_last_error());
  double b1, m1;
  rest_height(&s, &b1, &m1);
  double dx = s.sim.dx;
  printf("floor: grid %d, band %d cells (top %.4f m): block's lowest 5%% at %.4f m, mean height %.4f m (means over 0.5..1 s)\n",
         s.sim.grid_longest, s.sim.boundary_cells, s.sim.boundary_cells * dx, b1, m1);
  for (int r = 2; r <= 3; ++r) {
    pl_scene f;
    CHECK(pl_scene_refined(&f, &s, r) == PL_OK, "refine %d: %s", r, pl_last_error());
    double br, mr;
    rest_height(&f, &br, &mr);
    printf("floor: grid %d, band %d cells (top %.4f m): block's lowest 5%% at %.4f m (%+.2f coarse cells), mean "
           "height %.4f m (%+.2f)\n", f.sim.grid_longest, f.sim.boundary_cells, f.sim.boundary_cells * f.sim.dx, br,
           (br - b1) / dx, mr, (mr - m1) / dx);
    CHECK(fabs(br - b1) < 0.25 * dx, "refine %d: the block rests %.3f coarse cells from where the coarse grid puts it",
          r, (br - b1) / dx);
    CHECK(fabs(mr - m1) < 0.25 * dx, "refine %d: the block's mean height moved by %.3f coarse cells", r,
          (mr - m1) / dx);
    pl_scene_free(&f);
  }
  pl_scene_free(&s);
}

static void test_box_and_keys(void) {
  /* 0.5 x 0.37 x 0.5 at grid 16: 12 cells along y (0.375 m, rounded up); refined, still 0.375 m */
  const char *sets[] = {"sim.domain_max=0.5 0.37 0.5", "sim.substeps=40", "object.block.sampling=regular"};
  pl_scene s, f;
  CHECK(pl_scene_load_string(&s, SCENE, "refine.cfg", ".", sets, 3) == PL_OK, "scene: %s", pl_last_error());
  CHECK(pl_scene_refined(&f, &s, 2) == PL_OK, "refine: %s", pl_last_error());
  for (int a = 0; a < 3; ++a)
    CHECK(f.sim.grid[a] == 2 * s.sim.grid[a] && fabs(f.sim.grid[a] * f.sim.dx - s.sim.grid[a] * s.sim.dx) < 1e-12,
          "axis %d: %d cells of %g m refined to %d of %g m: the far wall moved", a, s.sim.grid[a], s.sim.dx,
          f.sim.grid[a], f.sim.dx);
  CHECK(f.sim.substeps == 80, "substeps %d, expected 80", f.sim.substeps);
  CHECK(f.objects[0].particles_per_cell == 2, "particles per cell %d, expected 2 (8 x 2 / 8)",
        f.objects[0].particles_per_cell);
  CHECK(f.objects[0].jittered, "2 particles per cell cannot be a regular lattice: expected jittered");
  CHECK(f.sim.boundary_cells == pl_refined_boundary_cells(3, 2) && f.sim.boundary_cells == 6, "band %d cells",
        f.sim.boundary_cells);
  pl_scene_free(&f);
  /* a band of 8 cells at 3x: 22 cells, more than the 16 allowed */
  const char *wide[] = {"sim.boundary_cells=8"};
  pl_scene w;
  CHECK(pl_scene_load_string(&w, SCENE, "refine.cfg", ".", wide, 1) == PL_OK, "scene: %s", pl_last_error());
  CHECK(pl_scene_refined(&f, &w, 3) != PL_OK && strstr(pl_last_error(), "boundary_cells"),
        "a 22-cell band was accepted (or the error does not name boundary_cells: %s)", pl_last_error());
  pl_scene_free(&w);
  pl_scene_free(&s);
}

int main(void) {
  test_box_and_keys();
  test_floor();
  return test_summary("test_scene_refine");
}
