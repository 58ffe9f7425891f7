/* order.c - a total structural order on expressions, so that canonical forms sort their terms
 * and operands the same way whatever order the input had (deterministic printing). Vars
 * compare by name first; two distinct vars with one name fall back to their addresses. */
#include <string.h>

#include "arith/arith_impl.h"

static int cmp_i64(int64_t a, int64_t b) {
    return a < b ? -1 : a > b;
}

static int cmp_ptr(const void *a, const void *b) {
    return cmp_i64((int64_t)(uintptr_t)a, (int64_t)(uintptr_t)b);
}

static int cmp_dtype(mlcc_dtype a, mlcc_dtype b) {
    if (a.code != b.code) return a.code < b.code ? -1 : 1;
    if (a.bits != b.bits) return a.bits < b.bits ? -1 : 1;
    return cmp_i64(a.lanes, b.lanes);
}

static int cmp_list(mlcc_expr **a, int na, mlcc_expr **b, int nb) {
    if (na != nb) return na < nb ? -1 : 1;
    for (int i = 0; i < na; i++) {
        int c = arith_expr_compare(a[i], b[i]);
        if (c) return c;
    }
    return 0;
}

int arith_expr_compare(const mlcc_expr *a, const mlcc_expr *b) {
    if (a == b) return 0;
    if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
    int c = cmp_dtype(a->dtype, b->dtype);
    if (c) return c;
    switch (a->kind) {
    case EXPR_INT: return cmp_i64(a->int_value, b->int_value);
    case EXPR_FLOAT: return memcmp(&a->float_value, &b->float_value, sizeof(double)) < 0 ? -1
                          : memcmp(&a->float_value, &b->float_value, sizeof(double)) > 0;
    case EXPR_VAR:
        c = strcmp(a->var.name, b->var.name);
        if (c) return c < 0 ? -1 : 1;
        if (a->var.flags != b->var.flags) return a->var.flags < b->var.flags ? -1 : 1;
        return cmp_ptr(a, b);
    case EXPR_NOT:
    case EXPR_CAST: return arith_expr_compare(a->un.a, b->un.a);
    case EXPR_SELECT:
        if ((c = arith_expr_compare(a->select.cond, b->select.cond))) return c;
        if ((c = arith_expr_compare(a->select.t, b->select.t))) return c;
        return arith_expr_compare(a->select.f, b->select.f);
    case EXPR_CALL:
        c = strcmp(a->call.op, b->call.op);
        if (c) return c < 0 ? -1 : 1;
        return cmp_list(a->call.args, a->call.nargs, b->call.args, b->call.nargs);
    case EXPR_LOAD:
        if (a->load.buffer != b->load.buffer) {
            c = strcmp(a->load.buffer->name, b->load.buffer->name);
            return c ? (c < 0 ? -1 : 1) : cmp_ptr(a->load.buffer, b->load.buffer);
        }
        return cmp_list(a->load.indices, a->load.nidx, b->load.indices, b->load.nidx);
    case EXPR_RAMP:
        if ((c = arith_expr_compare(a->ramp.base, b->ramp.base))) return c;
        return arith_expr_compare(a->ramp.stride, b->ramp.stride);
    case EXPR_BROADCAST: return arith_expr_compare(a->broadcast.value, b->broadcast.value);
    default:
        if ((c = arith_expr_compare(a->bin.a, b->bin.a))) return c;
        return arith_expr_compare(a->bin.b, b->bin.b);
    }
}

int arith_expr_equal(const mlcc_expr *a, const mlcc_expr *b) {
    return arith_expr_compare(a, b) == 0;
}
