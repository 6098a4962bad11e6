/* test_config.c: scene files: valid files, typed values and defaults, --set, and every error path, each with
 * its file:line and key in the message. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>

#include "pipeline/scene/scene.h"
#include "tests/test_util.h"

static const char *BASE =
    "[sim]\n"
    "grid = 32\n"
    "frames = 10\n"
    "[material jelly]\n"
    "model = fixed_corotated\n"
    "E = 2e5 ; inline comment\n"
    "nu = 0.3  # another inline comment\n"
    "[object cube]\n"
    "shape = box\n"
    "material = jelly\n"
    "size = 0.25\n"
    "[camera front]\n"
    "eye = 0.5 0.5 2\n"
    "[param material.jelly.E]\n"
    "[truth]\n"
    "material.jelly.E = 1e5\n";

/* Load text; expect failure whose message contains every needle. */
static void expect_error(const char *label, const char *text, const char *set, const char *needle1,
                         const char *needle2) {
  pl_scene s;
  const char *sets[1] = {set};
  pl_status st = pl_scene_load_string(&s, text, "t.cfg", ".", sets, set ? 1 : 0);
  CHECK(st != PL_OK, "%s: expected an error", label);
  if (st == PL_OK) {
    pl_scene_free(&s);
    return;
  }
  const char *m = pl_last_error();
  CHECK(strstr(m, needle1) != NULL, "%s: message '%s' lacks '%s'", label, m, needle1);
  if (needle2) CHECK(strstr(m, needle2) != NULL, "%s: message '%s' lacks '%s'", label, m, needle2);
  CHECK(strchr(m, '\n') == NULL, "%s: message must be one line", label);
}

static void test_valid(void) {
  pl_scene s;
  pl_status st = pl_scene_load_string(&s, BASE, "t.cfg", ".", NULL, 0);
  CHECK(st == PL_OK, "base scene: %s", pl_last_error());
  if (st != PL_OK) return;
  CHECK(s.sim.grid[0] == 32 && fabs(s.sim.dx - 1.0 / 32) < 1e-15, "grid");
  CHECK(s.sim.frames == 10 && s.sim.fps == 30, "frames and default fps");
  CHECK(s.nmaterials == 1 && s.materials[0].E == 2e5 && s.materials[0].nu == 0.3, "material values");
  CHECK(s.materials[0].density == 1000, "default density");
  CHECK(s.nobjects == 1 && s.objects[0].size[1] == 0.25 && s.objects[0].material == 0, "broadcast size, material link");
  CHECK(s.ncameras == 1 && s.cameras[0].width == 256, "camera takes render.width");
  /* look-at: the target projects to the principal point, +y down */
  const double *v = s.cameras[0].viewmat;
  double p[3] = {0.5, 0.5, 0.5}, c[3];
  for (int i = 0; i < 3; ++i) c[i] = v[4 * i] * p[0] + v[4 * i + 1] * p[1] + v[4 * i + 2] * p[2] + v[4 * i + 3];
  CHECK(fabs(c[0]) < 1e-6 && fabs(c[1]) < 1e-6 && fabs(c[2] - 1.5) < 1e-6, "target in camera space %g %g %g", c[0],
        c[1], c[2]);
  double q[3] = {0.5, 0.7, 0.5};
  for (int i = 0; i < 3; ++i) c[i] = v[4 * i] * q[0] + v[4 * i + 1] * q[1] + v[4 * i + 2] * q[2] + v[4 * i + 3];
  CHECK(c[1] < 0, "a point above the target has negative camera y (OpenCV: y down): %g", c[1]);
  CHECK(fabs(s.cameras[0].eye[2] - 2) < 1e-6, "camera centre");
  CHECK(s.nparams == 1 && s.params[0].space == PL_SPACE_LOG && s.params[0].components == 1, "param resolved to log");
  CHECK(s.ntruth == 1 && strcmp(s.truth[0].address, "material.jelly.E") == 0, "truth");
  /* truth applied */
  pl_scene t;
  CHECK(pl_scene_with_truth(&t, &s) == PL_OK, "with truth: %s", pl_last_error());
  CHECK(t.materials[0].E == 1e5 && s.materials[0].E == 2e5, "truth applies to the copy only");
  pl_scene_free(&t);
  /* overrides */
  const char *sets[] = {"material.jelly.E=3e5", "sim.gravity=0 0 0", "object.cube.velocity = 1,2,3"};
  CHECK(pl_scene_with_overrides(&t, &s, sets, 3) == PL_OK, "overrides: %s", pl_last_error());
  CHECK(t.materials[0].E == 3e5 && t.sim.gravity[1] == 0 && t.objects[0].velocity[2] == 3, "override values");
  char where[256];
  pl_config_where(&t.config, "material", "jelly", "E", where, sizeof where);
  CHECK(strstr(where, "--set") != NULL, "where: %s", where);
  pl_config_where(&t.config, "material", "jelly", "nu", where, sizeof where);
  CHECK(strcmp(where, "t.cfg:7") == 0, "where: %s", where);
  pl_scene_free(&t);
  /* the resolved printout is itself a valid scene */
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  pl_scene_print(&s, f);
  fclose(f);
  CHECK(pl_scene_load_string(&t, buf, "printed.cfg", ".", NULL, 0) == PL_OK, "printed scene reloads: %s",
        pl_last_error());
  CHECK(t.materials[0].E == s.materials[0].E && t.sim.cfl == s.sim.cfl, "printed scene round trip");
  pl_scene_free(&t);
  free(buf);
  pl_scene_free(&s);
  pl_scene_free(&s); /* free twice is a no-op */
}

static void test_frames(void) {
  unsigned char m[10];
  CHECK(pl_frame_selection("all", 10, m) == PL_OK && m[0] && m[9], "all");
  CHECK(pl_frame_selection("0:10:3", 10, m) == PL_OK && m[0] && !m[1] && m[3] && m[9] && !m[8], "range step");
  CHECK(pl_frame_selection("1, 4 7", 10, m) == PL_OK && m[1] && m[4] && m[7] && !m[0], "list");
  CHECK(pl_frame_selection("12", 10, m) == PL_ERR_INVALID, "out of range");
  CHECK(pl_frame_selection("8:20", 10, m) == PL_OK && m[8] && m[9] && !m[7], "a range is cut at the last frame");
  CHECK(pl_frame_selection("10:20", 10, m) == PL_ERR_INVALID, "a range starting past the last frame");
  CHECK(pl_frame_selection("a:b", 10, m) == PL_ERR_INVALID, "malformed");
  CHECK(pl_frame_selection("", 10, m) == PL_ERR_INVALID, "empty");
}

static char g_text[8192];
static const char *with(const char *extra) {
  snprintf(g_text, sizeof g_text, "%s%s", BASE, extra);
  return g_text;
}

static void test_errors(void) {
  pl_scene s;
  CHECK(pl_scene_load(&s, "/nonexistent/scene.cfg", NULL, 0) == PL_ERR_IO, "missing file");
  CHECK(strstr(pl_last_error(), "/nonexistent/scene.cfg") != NULL, "missing file named: %s", pl_last_error());
  expect_error("bad number", "[sim]\ngrid = 3x\n", NULL, "t.cfg:2", "'grid'");
  expect_error("bad real", "[material m]\nmodel = neo_hookean\nE = fast\n", NULL, "t.cfg:3", "not a number");
  expect_error("out of range", "[material m]\nmodel = neo_hookean\nnu = 0.5\n", NULL, "t.cfg:3", "outside");
  expect_error("negative", "[material m]\nmodel = neo_hookean\nE = -1\n", NULL, "t.cfg:3", "> 0");
  expect_error("unknown key", "[material m]\nmodel = neo_hookean\ndensty = 3\n", NULL, "t.cfg:3",
               "did you mean 'density'");
  expect_error("unknown section", "[materiel m]\n", NULL, "t.cfg:1", "did you mean 'material'");
  expect_error("duplicate section", "[sim]\ngrid = 32\n\n[sim]\n", NULL, "t.cfg:4", "duplicate section [sim]");
  expect_error("duplicate named section", "[material a]\nmodel=neo_hookean\n[material a]\n", NULL, "t.cfg:3",
               "first defined at t.cfg:1");
  expect_error("duplicate key", "[sim]\ngrid = 32\ngrid = 16\n", NULL, "t.cfg:3", "duplicate key 'grid'");
  expect_error("missing required key", "[sim]\n[material a]\nE = 1\n", NULL, "t.cfg:2", "required key 'model'");
  expect_error("bad enum", "[material a]\nmodel = rubber\n", NULL, "t.cfg:2", "not one of");
  expect_error("syntax", "[sim]\ngrid 32\n", NULL, "t.cfg:2", "syntax error");
  expect_error("unterminated header", "[sim\n", NULL, "t.cfg:1", "without ']'");
  expect_error("key before any section", "grid = 3\n", NULL, "t.cfg:1", "outside any section");
  expect_error("unnamed needs name", "[material]\n", NULL, "t.cfg:1", "needs a name");
  expect_error("name on unnamed", "[sim fast]\n", NULL, "t.cfg:1", "takes no name");
  char longline[400];
  memset(longline, 'x', sizeof longline);
  memcpy(longline, "[sim]\nseed = ", 13);
  longline[sizeof longline - 2] = '\n';
  longline[sizeof longline - 1] = '\0';
  expect_error("long line", longline, NULL, "t.cfg:2", "too long");
  expect_error("bad vec3", "[sim]\ngravity = 0 -9.8\n", NULL, "t.cfg:2", "three numbers");
  expect_error("no objects", "[sim]\ngrid = 32\n", NULL, "no [object", NULL);
  expect_error("unknown material", with("[object b]\nshape = sphere\nmaterial = jely\n"), NULL, "jely",
               "did you mean 'jelly'");
  expect_error("mesh missing file", with("[object b]\nshape = mesh\nmaterial = jelly\nmesh = none.obj\n"), NULL,
               "none.obj", "cannot be read");
  expect_error("mesh key without mesh shape", with("[object b]\nshape = box\nmaterial = jelly\nmesh = x.obj\n"), NULL,
               "shape = mesh", NULL);
  expect_error("camera without pose", with("[camera c2]\nfov = 30\n"), NULL, "[camera c2]", "exactly one");
  expect_error("camera eye = target", with("[camera c2]\neye = 0.5 0.5 0.5\n"), NULL, "coincide", NULL);
  expect_error("camera bad viewmat", with("[camera c2]\nviewmat = 1 0 0 0 0 1 0 0 0 0 2 0\n"), NULL, "rigid", NULL);
  expect_error("param not learnable", with("[param sim.grid]\n"), NULL, "not a learnable", NULL);
  expect_error("param unknown section", with("[param material.rubber.E]\n"), NULL, "no [material rubber]", NULL);
  expect_error("param unknown stage", with("[param material.jelly.nu]\nstages = warmup\n"), NULL, "stage 'warmup'",
               NULL);
  expect_error("truth bad value", with("material.jelly.nu = 0.7\n"), NULL, "[truth]", "outside");
  expect_error("truth unknown key", with("material.jelly.Young = 1\n"), NULL, "[truth]", "no key 'Young'");
  expect_error("loss unknown", with("[optimize]\nloss = l3:1\n"), NULL, "unknown loss term 'l3'", NULL);
  expect_error("targets folder missing", with("[targets]\nsource = folder\n"), NULL, "targets.folder", NULL);
  expect_error("frames out of range", with("[render]\nframes = 50\n"), NULL, "render.frames", NULL);
  expect_error("domain inverted", "[sim]\ndomain_min = 0 0 0\ndomain_max = 1 -1 1\n", NULL, "domain_max", NULL);
  /* --set errors */
  expect_error("set bad value", BASE, "material.jelly.E=abc", "--set", "not a number");
  expect_error("set unknown key", BASE, "material.jelly.Ee=3", "--set", "did you mean 'E'");
  expect_error("set unknown section", BASE, "materal.jelly.E=3", "did you mean 'material'", NULL);
  expect_error("set no equals", BASE, "material.jelly.E", "expected address=value", NULL);
  expect_error("set named without name", BASE, "material.E=3", "material.NAME.KEY", NULL);
}

int main(void) {
  test_valid();
  test_frames();
  test_errors();
  return test_summary("test_config");
}
