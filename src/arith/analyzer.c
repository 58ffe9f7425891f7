/* analyzer.c - PLACEHOLDER: interface of the arithmetic analyzer (see analyzer.h) with a
 * trivial implementation (constant folding only, proofs only of constant conditions), so the
 * layers above can build against it while the real simplifier is written. */
#include "arith/analyzer.h"

#include <stdlib.h>

#include "support/alloc.h"

struct arith_analyzer {
    int unused;
};

arith_analyzer *arith_new(void) {
    return mlcc_xcalloc(1, sizeof(arith_analyzer));
}

void arith_free(arith_analyzer *a) {
    free(a);
}

void arith_bind_range(arith_analyzer *a, mlcc_expr *var, mlcc_expr *min, mlcc_expr *extent) {
    (void)a, (void)var, (void)min, (void)extent;
}

void arith_bind_bounds(arith_analyzer *a, mlcc_expr *var, int64_t lo, int64_t hi) {
    (void)a, (void)var, (void)lo, (void)hi;
}

mlcc_expr *arith_simplify(arith_analyzer *a, mlcc_expr *e) {
    (void)a;
    return e;
}

int arith_prove(arith_analyzer *a, mlcc_expr *cond) {
    (void)a;
    return cond->kind == EXPR_INT && cond->int_value != 0;
}

void arith_const_bounds(arith_analyzer *a, mlcc_expr *e, int64_t *lo, int64_t *hi) {
    (void)a;
    if (e->kind == EXPR_INT) {
        *lo = *hi = e->int_value;
    } else {
        *lo = INT64_MIN;
        *hi = INT64_MAX;
    }
}

int arith_prove_equal(arith_analyzer *a, mlcc_expr *x, mlcc_expr *y) {
    return arith_prove(a, ir_eq(x, y));
}

mlcc_expr *arith_simplify_expr(mlcc_expr *e) {
    return e;
}
