/* expr.h: a small, safe arithmetic expression language for scene values that vary in space (an initial velocity
 * field). No code is run but the evaluator's own: the text is parsed once into a tree of at most
 * PL_EXPR_MAX_NODES nodes, nested at most PL_EXPR_MAX_DEPTH deep; evaluation touches only that tree.
 *
 *   numbers     1, 0.5, 2e-3
 *   variables   the names the caller gives (e.g. x y z), and the constant pi
 *   operators   + - * / ^ (power, right-associative), unary + -, parentheses
 *   functions   sin cos tan asin acos atan sinh cosh tanh exp log sqrt abs floor ceil (one argument),
 *               atan2 min max pow (two)
 *
 * A text may hold several expressions separated by top-level commas (pl_expr_parse_list). Errors give the
 * column (1-based) and what was expected, e.g. "column 7: unknown name 'w' (variables: x y z)". */
#ifndef PL_EXPR_H
#define PL_EXPR_H

#include "core/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_EXPR_MAX_NODES 512
#define PL_EXPR_MAX_DEPTH 64
#define PL_EXPR_MAX_VARS 8

typedef struct {
  int op;        /* node kind (expr.c) */
  int a, b;      /* children (node indices), or the variable index */
  double value;  /* a number */
} pl_expr_node;

typedef struct {
  pl_expr_node nodes[PL_EXPR_MAX_NODES];
  int nnodes;
  int nroots;
  int roots[PL_EXPR_MAX_VARS]; /* one root per expression of a list */
} pl_expr;

/* Parse `text` as exactly `count` comma-separated expressions (1..PL_EXPR_MAX_VARS) in the variables
 * vars[0..nvars-1]. Fails with PL_ERR_INVALID and a message naming the column. */
pl_status pl_expr_parse_list(pl_expr *e, const char *text, int count, const char *const *vars, int nvars);
/* Value of expression k at the variables' values (may be NaN or Inf: the caller checks). */
double pl_expr_eval(const pl_expr *e, int k, const double *vars);

#ifdef __cplusplus
}
#endif
#endif
