/* analyzer.h - integer arithmetic over symbolic variables (DESIGN.md §3.2).
 *
 * An analyzer holds what is known about variables (ranges from loops and block iterators,
 * size vars being >= 0, declared upper bounds) and answers three kinds of questions:
 *   - simplify: a canonical, simpler but equal expression (affine sums collected, constants
 *     folded, floordiv/floormod by constants resolved where ranges allow, min/max removed
 *     where one side provably wins);
 *   - prove: is a boolean condition true for every value of the variables in their ranges?
 *     ("don't know" answers 0, never a wrong 1);
 *   - bounds: constant lower/upper bounds of an integer expression.
 * Schedules use it (a split of a non-divisible extent inserts a predicate; fused loops'
 * index arithmetic simplifies), and later memory planning compares symbolic sizes with it.
 *
 * Guarantees. The simplified expression has the value of the input for every assignment of
 * the variables within their ranges where the input evaluates without int64 overflow (or
 * division by zero): a sum regrouped by the canonical form is only divided or compared when
 * its own value provably fits, so `x - y == 1` stays as it is for unbounded x and y, while
 * `x == y + 1` comes out when y is bounded. The output is a normal form: structurally equal
 * inputs print the same and simplifying it again changes nothing. Terms print products
 * first, then by decreasing |coefficient| (i * n + j, i * 32 + j, (n + 3) // 4 * 4 - n), then
 * by name; comparisons keep positive terms on the left (i * 4 + j < n, x <= y, n >= 1).
 * Only int64 scalar arithmetic is rewritten: float math, loads, calls, vectors and narrower
 * integers keep their structure, with their int64 parts simplified. Loads count as opaque
 * values (two loads of the same indices are equal). */
#ifndef MLCC_ARITH_ANALYZER_H
#define MLCC_ARITH_ANALYZER_H

#include <stdint.h>

#include "ir/tir.h"

typedef struct arith_analyzer arith_analyzer;

arith_analyzer *arith_new(void);
void arith_free(arith_analyzer *a);

/* var ranges over [min, min + extent) (expressions may be symbolic, e.g. j in [0, n)).
 * Binding again replaces the range; ranges and bounds of one var both hold. */
void arith_bind_range(arith_analyzer *a, mlcc_expr *var, mlcc_expr *min, mlcc_expr *extent);
/* var in [lo, hi] (constants; INT64_MIN/INT64_MAX for unbounded). */
void arith_bind_bounds(arith_analyzer *a, mlcc_expr *var, int64_t lo, int64_t hi);

mlcc_expr *arith_simplify(arith_analyzer *a, mlcc_expr *e);
/* 1 when cond is provably true under the known ranges, else 0. */
int arith_prove(arith_analyzer *a, mlcc_expr *cond);
/* Constant bounds of e (INT64_MIN / INT64_MAX when unknown). */
void arith_const_bounds(arith_analyzer *a, mlcc_expr *e, int64_t *lo, int64_t *hi);
int arith_prove_equal(arith_analyzer *a, mlcc_expr *x, mlcc_expr *y);

/* Simplify with no extra knowledge (size vars still count as >= 0). */
mlcc_expr *arith_simplify_expr(mlcc_expr *e);

/* Structural equality (vars by identity), and a total structural order (vars by name, then
 * identity) that canonical forms use to sort terms. */
int arith_expr_equal(const mlcc_expr *a, const mlcc_expr *b);
int arith_expr_compare(const mlcc_expr *a, const mlcc_expr *b);

/* Evaluates an integer/boolean scalar expression with vars[i] = values[i]: + - * wrap around
 * (int64), floordiv/floormod round toward -inf, EXPR_DIV/EXPR_MOD truncate. Returns 0, or -1
 * on division by zero (or INT64_MIN / -1), an unbound var, or a node it cannot evaluate
 * (floats, loads, calls, vectors). A reference for tests of the simplifier. */
int arith_eval_int(mlcc_expr *e, mlcc_expr **vars, int64_t *values, int n, int64_t *out);
/* The same, but signed overflow in + - * is also an error (-1): tells overflow-free inputs. */
int arith_eval_int_strict(mlcc_expr *e, mlcc_expr **vars, int64_t *values, int n, int64_t *out);

#endif
