/* eval.c - a reference evaluator for integer and boolean expressions, given values for the
 * variables. The property tests check the simplifier, the prover and the bounds against it, so
 * it is written independently of them: plain recursion over the tree with exact semantics
 * (floordiv/floormod round toward -inf, EXPR_DIV/EXPR_MOD truncate as C does; + - * wrap
 * around in two's complement as the generated code's int64 does). */
#include "arith/arith_impl.h"

typedef struct eval_env {
    mlcc_expr **vars;
    int64_t *values;
    int n;
    int strict; /* signed overflow of + - * is an error too */
} eval_env;

static int eval(const eval_env *env, mlcc_expr *e, int64_t *out);

static int eval_binary(const eval_env *env, mlcc_expr *e, int64_t *out) {
    int64_t x, y;
    if (eval(env, e->bin.a, &x) || eval(env, e->bin.b, &y)) return -1;
    int64_t r;
    if (env->strict && ((e->kind == EXPR_ADD && __builtin_add_overflow(x, y, &r)) ||
                        (e->kind == EXPR_SUB && __builtin_sub_overflow(x, y, &r)) ||
                        (e->kind == EXPR_MUL && __builtin_mul_overflow(x, y, &r))))
        return -1;
    switch (e->kind) {
    case EXPR_ADD: *out = (int64_t)((uint64_t)x + (uint64_t)y); break;
    case EXPR_SUB: *out = (int64_t)((uint64_t)x - (uint64_t)y); break;
    case EXPR_MUL: *out = (int64_t)((uint64_t)x * (uint64_t)y); break;
    case EXPR_DIV:
    case EXPR_MOD:
    case EXPR_FLOORDIV:
    case EXPR_FLOORMOD:
        if (y == 0 || (x == INT64_MIN && y == -1)) return -1;
        if (e->kind == EXPR_DIV) *out = x / y;
        else if (e->kind == EXPR_MOD) *out = x % y;
        else if (e->kind == EXPR_FLOORDIV) *out = arith_floordiv64(x, y);
        else *out = arith_floormod64(x, y);
        break;
    case EXPR_MIN: *out = x < y ? x : y; break;
    case EXPR_MAX: *out = x > y ? x : y; break;
    case EXPR_EQ: *out = x == y; break;
    case EXPR_NE: *out = x != y; break;
    case EXPR_LT: *out = x < y; break;
    case EXPR_LE: *out = x <= y; break;
    case EXPR_GT: *out = x > y; break;
    case EXPR_GE: *out = x >= y; break;
    case EXPR_AND: *out = x && y; break;
    case EXPR_OR: *out = x || y; break;
    default: return -1;
    }
    return 0;
}

static int64_t wrap_to(mlcc_dtype t, int64_t v) {
    if (dtype_is_bool(t)) return v != 0;
    if (t.bits == 32) return t.code == DT_INT ? (int64_t)(int32_t)v : (int64_t)(uint32_t)v;
    if (t.bits == 16) return t.code == DT_INT ? (int64_t)(int16_t)v : (int64_t)(uint16_t)v;
    if (t.bits == 8) return t.code == DT_INT ? (int64_t)(int8_t)v : (int64_t)(uint8_t)v;
    return v;
}

static int eval(const eval_env *env, mlcc_expr *e, int64_t *out) {
    if (e->dtype.lanes != 1 || dtype_is_float(e->dtype)) return -1;
    switch (e->kind) {
    case EXPR_INT: *out = e->int_value; return 0;
    case EXPR_VAR:
        for (int i = 0; i < env->n; i++)
            if (env->vars[i] == e) {
                *out = env->values[i];
                return 0;
            }
        return -1;
    case EXPR_NOT: {
        int64_t x;
        if (eval(env, e->un.a, &x)) return -1;
        *out = !x;
        return 0;
    }
    case EXPR_CAST: {
        int64_t x;
        if (dtype_is_float(e->un.a->dtype) || eval(env, e->un.a, &x)) return -1;
        *out = wrap_to(e->dtype, x);
        return 0;
    }
    case EXPR_SELECT: {
        int64_t c, t, f; /* both branches are evaluated (the IR's semantics) */
        if (eval(env, e->select.cond, &c) || eval(env, e->select.t, &t) || eval(env, e->select.f, &f))
            return -1;
        *out = c ? t : f;
        return 0;
    }
    case EXPR_FLOAT:
    case EXPR_CALL:
    case EXPR_LOAD:
    case EXPR_RAMP:
    case EXPR_BROADCAST: return -1;
    default: return eval_binary(env, e, out);
    }
}

int arith_eval_int(mlcc_expr *e, mlcc_expr **vars, int64_t *values, int n, int64_t *out) {
    eval_env env = {vars, values, n, 0};
    return eval(&env, e, out);
}

int arith_eval_int_strict(mlcc_expr *e, mlcc_expr **vars, int64_t *values, int n, int64_t *out) {
    eval_env env = {vars, values, n, 1};
    return eval(&env, e, out);
}
