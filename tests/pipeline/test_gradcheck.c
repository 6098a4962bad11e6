/* test_gradcheck.c: the checker itself: correct gradients pass; a wrong-scale gradient is a mismatch; a cut
 * (zero) gradient is "no gradient"; a parameter the loss ignores is "insensitive"; one in no stage "frozen".
 * Branch-aware differences: a kink close to the point spoils every step of the old ladder (a failure without the
 * trace), a traced objective takes the one-sided difference on the side that keeps the point's branches; a kink at the point itself is checked one-sided on the side that keeps the point's branch (ok, or MISMATCH
 * for a wrong adjoint), NON-SMOOTH when neither side keeps it and the central difference disagrees. */
#include "pipeline/fit/gradcheck.h"
#include "tests/test_util.h"

static const char *SCENE =
    "[sim]\ngrid = 16\n"
    "[material m]\nmodel = stvk_von_mises\nE = 5e4\nnu = 0.2\ndensity = 900\nyield_stress = 3e3\n"
    "[object o]\nshape = box\nmaterial = m\nvelocity = 1 0 -2\n"
    "[stage s1]\niterations = 3\n"
    "[param object.o.velocity]\n"
    "[param material.m.E]\n"
    "[param material.m.nu]\nlo = 0\nhi = 0.45\n"
    "[param material.m.density]\n"
    "[param material.m.yield_stress]\nstages = s1\n";

/* mode 0: correct; 1: E gradient x1.1; 2: nu gradient cut */
static int g_mode;

/* L = sum of smooth functions of the parameters, density ignored; yield stress used */
static pl_status eval(void *user, pl_optimizer *o, const char *frames, int want_grad, pl_loss_value *loss) {
  (void)user, (void)frames;
  memset(loss, 0, sizeof *loss);
  double v[3], E = pl_param_value(&o->p[1], 0), nu = pl_param_value(&o->p[2], 0),
               ys = pl_param_value(&o->p[4], 0);
  for (int k = 0; k < 3; ++k) v[k] = pl_param_value(&o->p[0], k);
  double L = sin(v[0]) + (v[1] + 1) * (v[1] + 1) * v[2] + log(E) * log(E) + nu * nu * nu + sqrt(ys);
  loss->total = L;
  if (want_grad) {
    o->p[0].grad[0] = cos(v[0]);
    o->p[0].grad[1] = 2 * (v[1] + 1) * v[2];
    o->p[0].grad[2] = (v[1] + 1) * (v[1] + 1);
    o->p[1].grad[0] = 2 * log(E) / E * (g_mode == 1 ? 1.1 : 1.0);
    o->p[2].grad[0] = g_mode == 2 ? 0.0 : 3 * nu * nu;
    o->p[3].grad[0] = 0;
    o->p[4].grad[0] = 0.5 / sqrt(ys);
  }
  return PL_OK;
}

/* A kink (a branch: |E - a| changes slope at a) near E0 = 5e4, with its branch traced like the engine traces a
 * return map: L = log(E)^2 + 20 |E - a| / E0; the adjoint is the derivative of the branch the point is on. */
static double g_kink;
static int g_right; /* the branch at the kink itself: 0 its own (a band), 1 the right side's, -1 the left side's */
static int g_adjoint_side = 2; /* the adjoint at the kink itself: 2 that branch's derivative, else this side's */
static int g_slot = -1;
static int g_branch[3];
static pl_status eval_kink(void *user, pl_optimizer *o, const char *frames, int want_grad, pl_loss_value *loss) {
  (void)user, (void)frames;
  memset(loss, 0, sizeof *loss);
  double E = pl_param_value(&o->p[0], 0), E0 = 5e4, side = E > g_kink ? 1 : (E < g_kink ? -1 : g_right);
  loss->total = log(E) * log(E) + 20 * fabs(E - g_kink) / E0;
  if (g_slot >= 0) g_branch[g_slot] = (int)side;
  double adj_side = E == g_kink && g_adjoint_side != 2 ? g_adjoint_side : side;
  if (want_grad) o->p[0].grad[0] = 2 * log(E) / E + 20 * adj_side / E0;
  return PL_OK;
}
static pl_status trace_kink(void *user, int slot) {
  (void)user;
  g_slot = slot;
  return PL_OK;
}
static pl_status trace_diff_kink(void *user, int a, int b, int64_t counts[3]) {
  (void)user;
  counts[0] = g_branch[a] != g_branch[b];
  counts[1] = counts[2] = 0;
  return PL_OK;
}

static void branch_aware(void) {
  pl_scene s;
  CHECK(pl_scene_load_string(&s, "[sim]\ngrid = 16\n[material m]\nmodel = neo_hookean\nE = 5e4\nnu = 0.3\n"
                             "[object o]\nshape = box\nmaterial = m\n[param material.m.E]\nspace = linear\n",
                             "k.cfg", ".", NULL, 0) == PL_OK, "scene: %s", pl_last_error());
  pl_optimizer o;
  pl_optimizer_init(&o, &s);
  pl_gc_options opt = {1e-5, 1e-6, 1e-12, "all"}; /* h0 = 0.5: steps 0.5, 0.05, 5, 0.005 (and halves) */
  pl_gc_row r;
  int n;
  /* a kink 0.002 above the point: every step of the old ladder straddles it */
  g_kink = 5e4 + 0.002;
  pl_objective plain = {.user = NULL, .eval = eval_kink};
  CHECK(pl_gradcheck(&s, &o, &plain, &opt, &r, 1, &n) == PL_OK && n == 1, "kink, untraced");
  pl_gc_print(&r, 1, stderr);
  CHECK(r.verdict != PL_GC_OK && !r.traced, "untraced: every step straddles the kink, not ok (%s)",
        pl_gc_verdict_name(r.verdict));
  pl_objective traced = {.user = NULL, .eval = eval_kink, .trace = trace_kink, .trace_diff = trace_diff_kink};
  CHECK(pl_gradcheck(&s, &o, &traced, &opt, &r, 1, &n) == PL_OK && n == 1, "kink, traced");
  pl_gc_print(&r, 1, stderr);
  CHECK(r.verdict == PL_GC_OK && r.traced && r.steps_crossing == 1 && r.one_sided == -1 && r.step == 0.5 &&
            r.branches[0] == 1 && r.rel_error < 1e-6,
        "traced: step 0.5 straddles, its - side keeps the point's branch: one-sided there, ok (%s, %d straddled, "
        "step %g, side %d)", pl_gc_verdict_name(r.verdict), r.steps_crossing, r.step, r.one_sided);
  /* the kink at the point, the point on the right branch and the adjoint its derivative: every central step
   * straddles, the + side keeps the base's branch: one-sided there, ok */
  g_kink = 5e4, g_right = 1;
  CHECK(pl_gradcheck(&s, &o, &traced, &opt, &r, 1, &n) == PL_OK && n == 1, "kink at the point");
  pl_gc_print(&r, 1, stderr);
  CHECK(r.verdict == PL_GC_OK && r.one_sided == 1 && r.branches[0] == 1 && pl_gc_all_ok(&r, 1),
        "kink at the point, right branch: one-sided (+) and ok (%s, side %d)", pl_gc_verdict_name(r.verdict),
        r.one_sided);
  g_right = -1; /* the left branch: one-sided (-) */
  CHECK(pl_gradcheck(&s, &o, &traced, &opt, &r, 1, &n) == PL_OK && n == 1, "kink at the point, left");
  pl_gc_print(&r, 1, stderr);
  CHECK(r.verdict == PL_GC_OK && r.one_sided == -1 && pl_gc_all_ok(&r, 1),
        "kink at the point, left branch: one-sided (-) and ok (%s, side %d)", pl_gc_verdict_name(r.verdict),
        r.one_sided);
  /* a wrong adjoint at the kink (the other side's slope): the one-sided difference catches it */
  g_right = 1, g_adjoint_side = -1;
  CHECK(pl_gradcheck(&s, &o, &traced, &opt, &r, 1, &n) == PL_OK && n == 1, "kink at the point, wrong side");
  pl_gc_print(&r, 1, stderr);
  CHECK(r.verdict == PL_GC_MISMATCH && r.one_sided == 1 && !pl_gc_all_ok(&r, 1),
        "kink at the point, the adjoint of the other branch: MISMATCH (%s)", pl_gc_verdict_name(r.verdict));
  /* the point on a branch of its own (neither side keeps it), the adjoint the right side's: every step
   * straddles, no side is clean, the central difference (the mean of the sides) disagrees: NON-SMOOTH, a failure */
  g_right = 0, g_adjoint_side = 1;
  CHECK(pl_gradcheck(&s, &o, &traced, &opt, &r, 1, &n) == PL_OK && n == 1, "kink at the point, own branch");
  pl_gc_print(&r, 1, stderr);
  CHECK(r.verdict == PL_GC_NONSMOOTH && r.branches[0] == 1 && !r.one_sided && !pl_gc_all_ok(&r, 1),
        "kink at the point, own branch: NON-SMOOTH with 1 branch change, not ok (%s)", pl_gc_verdict_name(r.verdict));
  /* the same with the adjoint the mean of both sides: the difference agrees: "non-smooth", not a failure */
  g_adjoint_side = 0;
  CHECK(pl_gradcheck(&s, &o, &traced, &opt, &r, 1, &n) == PL_OK && n == 1, "kink at the point, mean");
  pl_gc_print(&r, 1, stderr);
  CHECK(r.verdict == PL_GC_NONSMOOTH_AGREES && r.branches[0] == 1 && pl_gc_all_ok(&r, 1),
        "kink at the point, agreeing: non-smooth, not a failure (%s)", pl_gc_verdict_name(r.verdict));
  pl_optimizer_free(&o);
  pl_scene_free(&s);
}

int main(void) {
  branch_aware();
  pl_scene s;
  CHECK(pl_scene_load_string(&s, SCENE, "t.cfg", ".", NULL, 0) == PL_OK, "scene: %s", pl_last_error());
  pl_optimizer o;
  pl_optimizer_init(&o, &s);
  pl_objective obj = {.user = NULL, .eval = eval};
  pl_gc_options opt = {1e-4, 1e-6, 1e-12, "all"};
  pl_gc_row rows[16];
  int n;
  g_mode = 0;
  CHECK(pl_gradcheck(&s, &o, &obj, &opt, rows, 16, &n) == PL_OK && n == 7, "rows %d", n);
  pl_gc_print(rows, n, stderr);
  for (int i = 0; i < 5; ++i) CHECK(rows[i].verdict == PL_GC_OK, "%s: %s (%g)", rows[i].name, pl_gc_verdict_name(rows[i].verdict), rows[i].rel_error);
  CHECK(rows[5].verdict == PL_GC_INSENSITIVE, "density ignored -> insensitive (%s)", pl_gc_verdict_name(rows[5].verdict));
  CHECK(rows[6].verdict == PL_GC_OK, "yield stress learns in s1");
  CHECK(!pl_gc_all_ok(rows, n), "an insensitive parameter makes the check fail");
  g_mode = 1;
  pl_gradcheck(&s, &o, &obj, &opt, rows, 16, &n);
  CHECK(rows[3].verdict == PL_GC_MISMATCH && fabs(rows[3].rel_error - 0.1 / 1.1) < 1e-4, "wrong scale -> mismatch (%g)",
        rows[3].rel_error);
  g_mode = 2;
  pl_gradcheck(&s, &o, &obj, &opt, rows, 16, &n);
  CHECK(rows[4].verdict == PL_GC_NO_GRADIENT, "cut gradient -> no gradient (%s)", pl_gc_verdict_name(rows[4].verdict));
  /* frozen */
  g_mode = 0;
  o.p[3].frozen = 1; /* density: row 5 */
  pl_gradcheck(&s, &o, &obj, &opt, rows, 16, &n);
  CHECK(rows[5].verdict == PL_GC_FROZEN, "frozen (%s)", pl_gc_verdict_name(rows[5].verdict));
  CHECK(pl_gc_all_ok(rows, n), "frozen is not a failure");
  pl_optimizer_free(&o);
  pl_scene_free(&s);
  return test_summary("test_gradcheck");
}
