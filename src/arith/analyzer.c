/* analyzer.c - the analyzer's state (what is known about each variable) and the public API
 * (see analyzer.h). The work is done in rewrite.c (simplification), linear.c (canonical sums),
 * divmod.c (division by constants) and bounds.c (intervals and proofs). */
#include "arith/analyzer.h"

#include <stdlib.h>

#include "arith/arith_impl.h"
#include "support/alloc.h"

arith_analyzer *arith_new(void) {
    arith_analyzer *a = mlcc_xcalloc(1, sizeof(arith_analyzer));
    u64map_init(&a->vars);
    return a;
}

void arith_free(arith_analyzer *a) {
    if (!a) return;
    for (size_t i = 0; i < a->vars.cap; i++)
        if (a->vars.slots[i].used) free(a->vars.slots[i].value.p);
    u64map_free(&a->vars);
    free(a);
}

static arith_var_info *var_info(arith_analyzer *a, mlcc_expr *var) {
    arith_var_info *info = arith_var_lookup(a, var);
    if (!info) {
        info = mlcc_xcalloc(1, sizeof *info);
        info->lo = ARITH_NEG_INF;
        info->hi = ARITH_POS_INF;
        u64map_set_p(&a->vars, var, info);
    }
    return info;
}

void arith_bind_range(arith_analyzer *a, mlcc_expr *var, mlcc_expr *min, mlcc_expr *extent) {
    /* simplify the endpoints before the var's own range is known (a range never mentions
     * the var itself) */
    mlcc_expr *lo = arith_simp_top(a, min);
    mlcc_expr *hi = arith_simp_top(a, ir_sub(ir_add(min, extent), ir_int(1)));
    arith_var_info *info = var_info(a, var);
    info->min = lo;
    info->max = hi;
    info->symbolic = lo->kind != EXPR_INT || hi->kind != EXPR_INT;
}

void arith_bind_bounds(arith_analyzer *a, mlcc_expr *var, int64_t lo, int64_t hi) {
    arith_var_info *info = var_info(a, var);
    info->lo = lo;
    info->hi = hi;
}

mlcc_expr *arith_simplify(arith_analyzer *a, mlcc_expr *e) {
    return arith_simp_top(a, e);
}

int arith_prove(arith_analyzer *a, mlcc_expr *cond) {
    mlcc_expr *s = arith_simp_top(a, cond);
    return s->kind == EXPR_INT && s->int_value != 0;
}

void arith_const_bounds(arith_analyzer *a, mlcc_expr *e, int64_t *lo, int64_t *hi) {
    mlcc_expr *s = arith_simp_top(a, e);
    if (!arith_is_index(s)) {
        arith_bounds_of(a, s, lo, hi);
        return;
    }
    arith_lin l, neg;
    lin_init(&l);
    lin_init(&neg);
    lin_add_expr(&l, s, 1);
    lin_normalize(&l);
    lin_add_lin(&neg, &l, -1);
    lin_normalize(&neg);
    *hi = l.overflow ? ARITH_POS_INF : lin_upper(a, &l);
    int64_t nl = neg.overflow ? ARITH_POS_INF : lin_upper(a, &neg);
    *lo = (nl == ARITH_POS_INF || nl == ARITH_NEG_INF) ? ARITH_NEG_INF : -nl;
    lin_free(&l);
    lin_free(&neg);
}

int arith_prove_equal(arith_analyzer *a, mlcc_expr *x, mlcc_expr *y) {
    return arith_prove(a, ir_eq(x, y));
}

mlcc_expr *arith_simplify_expr(mlcc_expr *e) {
    arith_analyzer *a = arith_new();
    mlcc_expr *s = arith_simp_top(a, e);
    arith_free(a);
    return s;
}
