/* test_expr.c: the scene expression language (core/expr.h): values, precedence, functions, and a clear error
 * with its column for every kind of bad input. */
#include "core/expr.h"
#include "tests/test_util.h"

static const char *const XYZ[3] = {"x", "y", "z"};

static double ev1(const char *text, double x, double y, double z) {
  pl_expr e;
  if (pl_expr_parse_list(&e, text, 1, XYZ, 3) != PL_OK) {
    fprintf(stderr, "parse of '%s' failed: %s\n", text, pl_last_error());
    return NAN;
  }
  double v[3] = {x, y, z};
  return pl_expr_eval(&e, 0, v);
}

static void expect_value(const char *text, double want) {
  double got = ev1(text, 0.25, -0.5, 2.0);
  CHECK(fabs(got - want) <= 1e-12 * fmax(1, fabs(want)), "'%s' = %.17g, expected %.17g", text, got, want);
}

static void expect_error(const char *text, int count, const char *needle) {
  pl_expr e;
  pl_status st = pl_expr_parse_list(&e, text, count, XYZ, 3);
  CHECK(st == PL_ERR_INVALID, "'%s' should be refused", text);
  if (st != PL_OK) {
    CHECK(strstr(pl_last_error(), needle) != NULL, "'%s': message '%s' lacks '%s'", text, pl_last_error(), needle);
    printf("  %-28.28s -> %.160s\n", text, pl_last_error());
  }
}

int main(void) {
  /* x = 0.25, y = -0.5, z = 2 */
  expect_value("1 + 2 * 3", 7);
  expect_value("(1 + 2) * 3", 9);
  expect_value("2 ^ 3 ^ 2", 512);
  expect_value("-2 ^ 2", -4);
  expect_value("2 ^ -1", 0.5);
  expect_value("x * y + z", 1.875);
  expect_value("-2 * (y - 0.5)", 2);
  expect_value("sin(pi * x) * cos(0)", sin(3.14159265358979323846 * 0.25));
  expect_value("atan2(y, x) + max(x, z) - min(1, abs(y))", atan2(-0.5, 0.25) + 2 - 0.5);
  expect_value("sqrt(z) * exp(log(3)) / pow(2, 3)", sqrt(2.0) * 3 / 8);
  expect_value("1e-3 * .5 + 2.5E2", 250.0005);
  expect_value("floor(z - 0.3) + ceil(y)", 1 + 0);
  expect_value("  x  ", 0.25);
  /* lists */
  pl_expr e;
  CHECK(pl_expr_parse_list(&e, "-2*(y-0.5), 2*(x-0.5), max(0, z)", 3, XYZ, 3) == PL_OK, "%s", pl_last_error());
  double p[3] = {0.25, -0.5, 2};
  CHECK(pl_expr_eval(&e, 0, p) == 2 && pl_expr_eval(&e, 1, p) == -0.5 && pl_expr_eval(&e, 2, p) == 2, "list values");
  /* errors name the column and the problem */
  printf("errors:\n");
  expect_error("", 1, "before the end");
  expect_error("1 +", 1, "column 4");
  expect_error("2 * w", 1, "unknown name 'w'");
  expect_error("foo(x)", 1, "unknown function 'foo'");
  expect_error("sin(x, y)", 1, "one argument");
  expect_error("atan2(x)", 1, "two arguments");
  expect_error("(x + 1", 1, "expected ')'");
  expect_error("x y", 1, "unexpected text");
  expect_error("x, y", 3, "found fewer");
  expect_error("x, y, z, 1", 3, "more than 3");
  expect_error("x $ 2", 1, "unexpected text");
  expect_error("1e999", 1, "out of range");
  expect_error("3 * # 2", 1, "unexpected '#'");
  /* limits: deep nesting and long input are refused, never a stack overflow */
  char deep[400];
  int k = 0;
  for (int i = 0; i < 150; ++i) deep[k++] = '(';
  deep[k++] = '1';
  for (int i = 0; i < 150; ++i) deep[k++] = ')';
  deep[k] = 0;
  expect_error(deep, 1, "nested more than");
  char neg[300];
  for (k = 0; k < 200; ++k) neg[k] = '-';
  neg[k++] = '1', neg[k] = 0;
  expect_error(neg, 1, "nested more than");
  static char longsum[6000];
  k = 0;
  for (int i = 0; i < 2100; ++i) longsum[k++] = '1', longsum[k++] = '+';
  longsum[k++] = '1', longsum[k] = 0;
  expect_error(longsum, 1, "longer than 4096");
  static char many[3000];
  k = 0;
  for (int i = 0; i < 700; ++i) many[k++] = 'x', many[k++] = '+';
  many[k++] = '1', many[k] = 0;
  expect_error(many, 1, "too long");
  /* NaN is the caller's to check: the evaluator returns it, it does not crash */
  CHECK(isnan(ev1("sqrt(y)", 0.25, -0.5, 2)), "sqrt of a negative is NaN");
  CHECK(isinf(ev1("1 / (x - 0.25)", 0.25, -0.5, 2)), "1/0 is inf");
  return test_summary("test_expr");
}
