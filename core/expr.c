/* expr.c: recursive-descent parser and tree evaluator of the expression language in expr.h.
 *
 *   list    := expr (',' expr)*
 *   expr    := term (('+' | '-') term)*
 *   term    := unary (('*' | '/') unary)*
 *   unary   := ('+' | '-') unary | power
 *   power   := primary ('^' unary)?          (right-associative: 2^3^2 = 2^9)
 *   primary := number | name | name '(' expr (',' expr)? ')' | '(' expr ')' */
#include "core/expr.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { OP_NUM, OP_VAR, OP_NEG, OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW, OP_FN1, OP_FN2 };

typedef double (*fn1_t)(double);
typedef double (*fn2_t)(double, double);

static double f_abs(double x) { return fabs(x); }
static double f_min(double a, double b) { return a < b ? a : b; }
static double f_max(double a, double b) { return a > b ? a : b; }

static const struct {
  const char *name;
  fn1_t f;
} fn1s[] = {{"sin", sin},   {"cos", cos},   {"tan", tan},   {"asin", asin}, {"acos", acos}, {"atan", atan},
            {"sinh", sinh}, {"cosh", cosh}, {"tanh", tanh}, {"exp", exp},   {"log", log},   {"sqrt", sqrt},
            {"abs", f_abs}, {"floor", floor}, {"ceil", ceil}};
static const struct {
  const char *name;
  fn2_t f;
} fn2s[] = {{"atan2", atan2}, {"min", f_min}, {"max", f_max}, {"pow", pow}};
#define NFN1 ((int)(sizeof fn1s / sizeof fn1s[0]))
#define NFN2 ((int)(sizeof fn2s / sizeof fn2s[0]))

typedef struct {
  pl_expr *e;
  const char *text, *p;
  const char *const *vars;
  int nvars;
  int depth;
  pl_status st;
} parser;

static int col(const parser *ps) { return (int)(ps->p - ps->text) + 1; }

static int fail(parser *ps, const char *fmt, const char *arg) {
  if (ps->st == PL_OK) {
    char msg[256];
    snprintf(msg, sizeof msg, fmt, arg);
    ps->st = pl_fail(PL_ERR_INVALID, "column %d: %s in \"%.80s\"", col(ps), msg, ps->text);
  }
  return -1;
}

static void skip(parser *ps) {
  while (*ps->p && isspace((unsigned char)*ps->p)) ++ps->p;
}

static int node(parser *ps, int op, int a, int b, double v) {
  if (ps->e->nnodes >= PL_EXPR_MAX_NODES) return fail(ps, "expression too long (more than %s terms)", "512");
  pl_expr_node *n = &ps->e->nodes[ps->e->nnodes];
  n->op = op, n->a = a, n->b = b, n->value = v;
  return ps->e->nnodes++;
}

static int parse_expr(parser *ps);

static int parse_primary(parser *ps) {
  skip(ps);
  char c = *ps->p;
  if (c == '(') {
    ++ps->p;
    int r = parse_expr(ps);
    if (r < 0) return r;
    skip(ps);
    if (*ps->p != ')') return fail(ps, "expected ')'%s", *ps->p ? "" : " before the end");
    ++ps->p;
    return r;
  }
  if (isdigit((unsigned char)c) || c == '.') {
    char *end;
    double v = strtod(ps->p, &end);
    if (end == ps->p) return fail(ps, "bad number%s", "");
    if (!isfinite(v)) return fail(ps, "number out of range%s", "");
    ps->p = end;
    return node(ps, OP_NUM, 0, 0, v);
  }
  if (isalpha((unsigned char)c) || c == '_') {
    const char *s = ps->p;
    while (isalnum((unsigned char)*ps->p) || *ps->p == '_') ++ps->p;
    char name[32];
    size_t len = (size_t)(ps->p - s);
    if (len >= sizeof name) {
      ps->p = s;
      return fail(ps, "name too long%s", "");
    }
    memcpy(name, s, len);
    name[len] = 0;
    skip(ps);
    if (*ps->p == '(') {
      const char *at = ps->p;
      ++ps->p;
      for (int i = 0; i < NFN1; ++i)
        if (strcmp(name, fn1s[i].name) == 0) {
          int a = parse_expr(ps);
          if (a < 0) return a;
          skip(ps);
          if (*ps->p == ',') return fail(ps, "%s() takes one argument", name);
          if (*ps->p != ')') return fail(ps, "expected ')' after the argument of %s()", name);
          ++ps->p;
          return node(ps, OP_FN1, a, i, 0);
        }
      for (int i = 0; i < NFN2; ++i)
        if (strcmp(name, fn2s[i].name) == 0) {
          int a = parse_expr(ps);
          if (a < 0) return a;
          skip(ps);
          if (*ps->p != ',') return fail(ps, "%s() takes two arguments", name);
          ++ps->p;
          int b = parse_expr(ps);
          if (b < 0) return b;
          skip(ps);
          if (*ps->p != ')') return fail(ps, "expected ')' after the arguments of %s()", name);
          ++ps->p;
          return node(ps, OP_FN2, a, b, (double)i);
        }
      ps->p = s;
      (void)at;
      return fail(ps, "unknown function '%s' (functions: sin cos tan asin acos atan sinh cosh tanh exp log sqrt abs "
                      "floor ceil atan2 min max pow)", name);
    }
    for (int i = 0; i < ps->nvars; ++i)
      if (strcmp(name, ps->vars[i]) == 0) return node(ps, OP_VAR, i, 0, 0);
    if (strcmp(name, "pi") == 0) return node(ps, OP_NUM, 0, 0, 3.14159265358979323846);
    char list[128] = "";
    for (int i = 0; i < ps->nvars; ++i) {
      strncat(list, " ", sizeof list - strlen(list) - 1);
      strncat(list, ps->vars[i], sizeof list - strlen(list) - 1);
    }
    ps->p = s;
    char msg[200];
    snprintf(msg, sizeof msg, "unknown name '%s' (variables:%s; constant: pi)", name, list);
    return fail(ps, "%s", msg);
  }
  if (!c) return fail(ps, "expected a number, a name or '(' before the end%s", "");
  char ch[2] = {c, 0};
  return fail(ps, "unexpected '%s'", ch);
}

static int parse_unary(parser *ps);

static int parse_power(parser *ps) {
  int a = parse_primary(ps);
  if (a < 0) return a;
  skip(ps);
  if (*ps->p == '^') {
    ++ps->p;
    int b = parse_unary(ps);
    if (b < 0) return b;
    return node(ps, OP_POW, a, b, 0);
  }
  return a;
}

static int parse_unary(parser *ps) {
  if (++ps->depth > PL_EXPR_MAX_DEPTH) return fail(ps, "nested more than %s deep", "64");
  skip(ps);
  int r;
  if (*ps->p == '-') {
    ++ps->p;
    int a = parse_unary(ps);
    r = a < 0 ? a : node(ps, OP_NEG, a, 0, 0);
  }
  else if (*ps->p == '+') {
    ++ps->p;
    r = parse_unary(ps);
  }
  else
    r = parse_power(ps);
  --ps->depth;
  return r;
}

static int parse_term(parser *ps) {
  int a = parse_unary(ps);
  while (a >= 0) {
    skip(ps);
    char c = *ps->p;
    if (c != '*' && c != '/') break;
    ++ps->p;
    int b = parse_unary(ps);
    if (b < 0) return b;
    a = node(ps, c == '*' ? OP_MUL : OP_DIV, a, b, 0);
  }
  return a;
}

static int parse_expr(parser *ps) {
  if (++ps->depth > PL_EXPR_MAX_DEPTH) return fail(ps, "nested more than %s deep", "64");
  int a = parse_term(ps);
  while (a >= 0) {
    skip(ps);
    char c = *ps->p;
    if (c != '+' && c != '-') break;
    ++ps->p;
    int b = parse_term(ps);
    if (b < 0) return b;
    a = node(ps, c == '+' ? OP_ADD : OP_SUB, a, b, 0);
  }
  --ps->depth;
  return a;
}

pl_status pl_expr_parse_list(pl_expr *e, const char *text, int count, const char *const *vars, int nvars) {
  memset(e, 0, sizeof *e);
  if (!text) return pl_fail(PL_ERR_INVALID, "no expression given");
  if (count < 1 || count > PL_EXPR_MAX_VARS || nvars < 0 || nvars > PL_EXPR_MAX_VARS)
    return pl_fail(PL_ERR_INVALID, "expression list: bad count %d or %d variables", count, nvars);
  if (strlen(text) > 4096) return pl_fail(PL_ERR_INVALID, "expression longer than 4096 characters");
  parser ps = {e, text, text, vars, nvars, 0, PL_OK};
  for (int k = 0; k < count; ++k) {
    int r = parse_expr(&ps);
    if (r < 0) return ps.st;
    e->roots[e->nroots++] = r;
    skip(&ps);
    if (k + 1 < count) {
      if (*ps.p != ',') {
        char want[16];
        snprintf(want, sizeof want, "%d", count);
        fail(&ps, *ps.p ? "expected ',' and %s comma-separated expressions" : "expected %s comma-separated expressions, "
                                                                                "found fewer", want);
        return ps.st;
      }
      ++ps.p;
    }
  }
  skip(&ps);
  if (*ps.p) {
    char want[16];
    snprintf(want, sizeof want, "%d", count);
    fail(&ps, *ps.p == ',' ? "more than %s expressions" : "unexpected text after expression %s", want);
    return ps.st;
  }
  return PL_OK;
}

static double eval_node(const pl_expr *e, int i, const double *vars) {
  const pl_expr_node *n = &e->nodes[i];
  switch (n->op) {
    case OP_NUM: return n->value;
    case OP_VAR: return vars[n->a];
    case OP_NEG: return -eval_node(e, n->a, vars);
    case OP_ADD: return eval_node(e, n->a, vars) + eval_node(e, n->b, vars);
    case OP_SUB: return eval_node(e, n->a, vars) - eval_node(e, n->b, vars);
    case OP_MUL: return eval_node(e, n->a, vars) * eval_node(e, n->b, vars);
    case OP_DIV: return eval_node(e, n->a, vars) / eval_node(e, n->b, vars);
    case OP_POW: return pow(eval_node(e, n->a, vars), eval_node(e, n->b, vars));
    case OP_FN1: return fn1s[n->b].f(eval_node(e, n->a, vars));
    case OP_FN2: return fn2s[(int)n->value].f(eval_node(e, n->a, vars), eval_node(e, n->b, vars));
  }
  return NAN;
}

double pl_expr_eval(const pl_expr *e, int k, const double *vars) {
  if (k < 0 || k >= e->nroots) return NAN;
  return eval_node(e, e->roots[k], vars);
}
