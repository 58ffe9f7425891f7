/* node.c - the IR arena and the constructors of TensorIR expressions (see tir.h). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ir/tir.h"
#include "support/alloc.h"
#include "support/hashmap.h"

/* ---- arena ---- */

typedef struct arena_scope {
    mlcc_arena arena;
    struct arena_scope *outer;
} arena_scope;

static mlcc_arena global_arena;
static _Thread_local arena_scope *current_scope;

mlcc_arena *ir_arena_current(void) {
    return current_scope ? &current_scope->arena : &global_arena;
}

void ir_scope_begin(void) {
    arena_scope *s = mlcc_xmalloc(sizeof *s);
    arena_init(&s->arena);
    s->outer = current_scope;
    current_scope = s;
}

void ir_scope_end(void) {
    arena_scope *s = current_scope;
    if (!s) return;
    current_scope = s->outer;
    arena_free(&s->arena);
    free(s);
}

void *ir_alloc(size_t size) {
    return arena_alloc(ir_arena_current(), size);
}

const char *ir_strdup(const char *s) {
    return arena_strdup(ir_arena_current(), s);
}

/* ---- expressions ---- */

static mlcc_expr *new_expr(mlcc_expr_kind kind, mlcc_dtype t) {
    mlcc_expr *e = ir_alloc(sizeof *e);
    e->kind = kind;
    e->dtype = t;
    return e;
}

mlcc_expr *ir_const_int(mlcc_dtype t, int64_t v) {
    mlcc_expr *e = new_expr(EXPR_INT, t);
    e->int_value = v;
    return e;
}

mlcc_expr *ir_int(int64_t v) {
    return ir_const_int(DT_I64, v);
}

mlcc_expr *ir_bool(int v) {
    return ir_const_int(DT_BOOL, v != 0);
}

mlcc_expr *ir_float(mlcc_dtype t, double v) {
    mlcc_expr *e = new_expr(EXPR_FLOAT, t);
    e->float_value = v;
    return e;
}

mlcc_expr *ir_var(const char *name, mlcc_dtype t) {
    mlcc_expr *e = new_expr(EXPR_VAR, t);
    e->var.name = ir_strdup(name);
    return e;
}

mlcc_expr *ir_size_var(const char *name) {
    mlcc_expr *e = ir_var(name, DT_I64);
    e->var.flags = VAR_SIZE;
    return e;
}

int expr_is_binary(mlcc_expr_kind k) {
    return k >= EXPR_ADD && k <= EXPR_OR;
}

int expr_is_compare(mlcc_expr_kind k) {
    return k >= EXPR_EQ && k <= EXPR_GE;
}

static int64_t floordiv64(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t floormod64(int64_t a, int64_t b) {
    int64_t m = a % b;
    return (m != 0 && ((m < 0) != (b < 0))) ? m + b : m;
}

/* Folds two integer immediates; returns 0 when the operation cannot be folded (division by
 * zero is left in the IR, where evaluation reports it). */
static int fold_int(mlcc_expr_kind k, int64_t a, int64_t b, int64_t *out) {
    switch (k) {
    case EXPR_ADD: *out = (int64_t)((uint64_t)a + (uint64_t)b); return 1;
    case EXPR_SUB: *out = (int64_t)((uint64_t)a - (uint64_t)b); return 1;
    case EXPR_MUL: *out = (int64_t)((uint64_t)a * (uint64_t)b); return 1;
    case EXPR_DIV: if (b == 0 || (a == INT64_MIN && b == -1)) return 0; *out = a / b; return 1;
    case EXPR_MOD: if (b == 0 || b == -1) return 0; *out = a % b; return 1;
    case EXPR_FLOORDIV: if (b == 0 || (a == INT64_MIN && b == -1)) return 0; *out = floordiv64(a, b); return 1;
    case EXPR_FLOORMOD: if (b == 0 || b == -1) return 0; *out = floormod64(a, b); return 1;
    case EXPR_MIN: *out = a < b ? a : b; return 1;
    case EXPR_MAX: *out = a > b ? a : b; return 1;
    case EXPR_EQ: *out = a == b; return 1;
    case EXPR_NE: *out = a != b; return 1;
    case EXPR_LT: *out = a < b; return 1;
    case EXPR_LE: *out = a <= b; return 1;
    case EXPR_GT: *out = a > b; return 1;
    case EXPR_GE: *out = a >= b; return 1;
    case EXPR_AND: *out = a && b; return 1;
    case EXPR_OR: *out = a || b; return 1;
    default: return 0;
    }
}

mlcc_expr *ir_binary(mlcc_expr_kind k, mlcc_expr *a, mlcc_expr *b) {
    mlcc_dtype t = a->dtype;
    if (expr_is_compare(k) || k == EXPR_AND || k == EXPR_OR)
        t = dtype_with_lanes(DT_BOOL, a->dtype.lanes > b->dtype.lanes ? a->dtype.lanes : b->dtype.lanes);
    else if (b->dtype.lanes > a->dtype.lanes)
        t = b->dtype;
    if (a->kind == EXPR_INT && b->kind == EXPR_INT) {
        int64_t v;
        if (fold_int(k, a->int_value, b->int_value, &v)) return ir_const_int(t, v);
    }
    if (dtype_is_int(t) && !expr_is_compare(k)) {
        switch (k) {
        case EXPR_ADD:
            if (expr_is_int(b, 0)) return a;
            if (expr_is_int(a, 0)) return b;
            break;
        case EXPR_SUB:
            if (expr_is_int(b, 0)) return a;
            break;
        case EXPR_MUL:
            if (expr_is_int(b, 1)) return a;
            if (expr_is_int(a, 1)) return b;
            if ((expr_is_int(a, 0) || expr_is_int(b, 0)) && a->dtype.lanes == 1 && b->dtype.lanes == 1)
                return ir_const_int(t, 0);
            break;
        case EXPR_FLOORDIV:
        case EXPR_DIV:
            if (expr_is_int(b, 1)) return a;
            break;
        case EXPR_FLOORMOD:
        case EXPR_MOD:
            if (expr_is_int(b, 1) && a->dtype.lanes == 1) return ir_const_int(t, 0);
            break;
        default: break;
        }
    }
    if (a->kind == EXPR_FLOAT && b->kind == EXPR_FLOAT && dtype_eq(a->dtype, b->dtype)) {
        double x = a->float_value, y = b->float_value;
        switch (k) {
        case EXPR_ADD: return ir_float(t, x + y);
        case EXPR_SUB: return ir_float(t, x - y);
        case EXPR_MUL: return ir_float(t, x * y);
        default: break;
        }
    }
    if (k == EXPR_AND) {
        if (expr_is_int(a, 1)) return b;
        if (expr_is_int(b, 1)) return a;
        if (expr_is_int(a, 0) || expr_is_int(b, 0)) return ir_const_int(t, 0);
    }
    if (k == EXPR_OR) {
        if (expr_is_int(a, 0)) return b;
        if (expr_is_int(b, 0)) return a;
        if (expr_is_int(a, 1) || expr_is_int(b, 1)) return ir_const_int(t, 1);
    }
    mlcc_expr *e = new_expr(k, t);
    e->bin.a = a;
    e->bin.b = b;
    return e;
}

mlcc_expr *ir_add(mlcc_expr *a, mlcc_expr *b) { return ir_binary(EXPR_ADD, a, b); }
mlcc_expr *ir_sub(mlcc_expr *a, mlcc_expr *b) { return ir_binary(EXPR_SUB, a, b); }
mlcc_expr *ir_mul(mlcc_expr *a, mlcc_expr *b) { return ir_binary(EXPR_MUL, a, b); }
mlcc_expr *ir_div(mlcc_expr *a, mlcc_expr *b) { return ir_binary(EXPR_DIV, a, b); }
mlcc_expr *ir_floordiv(mlcc_expr *a, mlcc_expr *b) { return ir_binary(EXPR_FLOORDIV, a, b); }
mlcc_expr *ir_floormod(mlcc_expr *a, mlcc_expr *b) { return ir_binary(EXPR_FLOORMOD, a, b); }
mlcc_expr *ir_min(mlcc_expr *a, mlcc_expr *b) { return ir_binary(EXPR_MIN, a, b); }
mlcc_expr *ir_max(mlcc_expr *a, mlcc_expr *b) { return ir_binary(EXPR_MAX, a, b); }
mlcc_expr *ir_eq(mlcc_expr *a, mlcc_expr *b) { return ir_binary(EXPR_EQ, a, b); }
mlcc_expr *ir_ne(mlcc_expr *a, mlcc_expr *b) { return ir_binary(EXPR_NE, a, b); }
mlcc_expr *ir_lt(mlcc_expr *a, mlcc_expr *b) { return ir_binary(EXPR_LT, a, b); }
mlcc_expr *ir_le(mlcc_expr *a, mlcc_expr *b) { return ir_binary(EXPR_LE, a, b); }
mlcc_expr *ir_gt(mlcc_expr *a, mlcc_expr *b) { return ir_binary(EXPR_GT, a, b); }
mlcc_expr *ir_ge(mlcc_expr *a, mlcc_expr *b) { return ir_binary(EXPR_GE, a, b); }
mlcc_expr *ir_and(mlcc_expr *a, mlcc_expr *b) { return ir_binary(EXPR_AND, a, b); }
mlcc_expr *ir_or(mlcc_expr *a, mlcc_expr *b) { return ir_binary(EXPR_OR, a, b); }

mlcc_expr *ir_not(mlcc_expr *a) {
    if (a->kind == EXPR_INT) return ir_const_int(a->dtype, !a->int_value);
    mlcc_expr *e = new_expr(EXPR_NOT, a->dtype);
    e->un.a = a;
    return e;
}

mlcc_expr *ir_cast(mlcc_dtype t, mlcc_expr *a) {
    if (dtype_eq(t, a->dtype)) return a;
    if (a->kind == EXPR_INT && (dtype_is_int(t) || dtype_is_bool(t))) {
        int64_t v = a->int_value;
        if (dtype_is_bool(t)) v = v != 0;
        else if (t.bits == 32) v = t.code == DT_INT ? (int64_t)(int32_t)v : (int64_t)(uint32_t)v;
        if (t.bits >= 32 || dtype_is_bool(t)) return ir_const_int(t, v);
    }
    if (a->kind == EXPR_INT && dtype_is_float(t) && t.lanes == 1) return ir_float(t, (double)a->int_value);
    mlcc_expr *e = new_expr(EXPR_CAST, t);
    e->un.a = a;
    return e;
}

mlcc_expr *ir_select(mlcc_expr *cond, mlcc_expr *t, mlcc_expr *f) {
    if (cond->kind == EXPR_INT) return cond->int_value ? t : f;
    mlcc_expr *e = new_expr(EXPR_SELECT, t->dtype);
    e->select.cond = cond;
    e->select.t = t;
    e->select.f = f;
    return e;
}

mlcc_expr *ir_call(mlcc_dtype t, const char *op, mlcc_expr **args, int nargs) {
    mlcc_expr *e = new_expr(EXPR_CALL, t);
    e->call.op = mlcc_intern(op);
    e->call.args = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nargs > 0 ? nargs : 1));
    for (int i = 0; i < nargs; i++) e->call.args[i] = args[i];
    e->call.nargs = nargs;
    return e;
}

mlcc_expr *ir_call1(const char *op, mlcc_expr *a) {
    return ir_call(a->dtype, op, &a, 1);
}

mlcc_expr *ir_call2(const char *op, mlcc_expr *a, mlcc_expr *b) {
    mlcc_expr *args[2] = {a, b};
    return ir_call(a->dtype, op, args, 2);
}

mlcc_expr *ir_load(mlcc_buffer *buf, mlcc_expr **indices, int nidx) {
    int lanes = 1;
    for (int i = 0; i < nidx; i++)
        if (indices[i]->dtype.lanes > lanes) lanes = indices[i]->dtype.lanes;
    mlcc_expr *e = new_expr(EXPR_LOAD, dtype_with_lanes(buf->dtype, lanes));
    e->load.buffer = buf;
    e->load.indices = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nidx > 0 ? nidx : 1));
    for (int i = 0; i < nidx; i++) e->load.indices[i] = indices[i];
    e->load.nidx = nidx;
    return e;
}

mlcc_expr *ir_ramp(mlcc_expr *base, mlcc_expr *stride, int lanes) {
    mlcc_expr *e = new_expr(EXPR_RAMP, dtype_with_lanes(base->dtype, lanes));
    e->ramp.base = base;
    e->ramp.stride = stride;
    return e;
}

mlcc_expr *ir_broadcast(mlcc_expr *value, int lanes) {
    if (lanes == 1) return value;
    mlcc_expr *e = new_expr(EXPR_BROADCAST, dtype_with_lanes(value->dtype, lanes));
    e->broadcast.value = value;
    return e;
}

mlcc_expr *ir_zero(mlcc_dtype t) {
    return dtype_is_float(t) ? ir_float(t, 0.0) : ir_const_int(t, 0);
}

mlcc_expr *ir_one(mlcc_dtype t) {
    return dtype_is_float(t) ? ir_float(t, 1.0) : ir_const_int(t, 1);
}

mlcc_expr *ir_min_value(mlcc_dtype t) {
    if (dtype_is_float(t)) return ir_float(t, -INFINITY);
    if (t.code == DT_UINT || dtype_is_bool(t)) return ir_const_int(t, 0);
    return ir_const_int(t, t.bits >= 64 ? INT64_MIN : -((int64_t)1 << (t.bits - 1)));
}

mlcc_expr *ir_max_value(mlcc_dtype t) {
    if (dtype_is_float(t)) return ir_float(t, INFINITY);
    if (dtype_is_bool(t)) return ir_const_int(t, 1);
    if (t.code == DT_UINT) return ir_const_int(t, t.bits >= 63 ? INT64_MAX : ((int64_t)1 << t.bits) - 1);
    return ir_const_int(t, t.bits >= 64 ? INT64_MAX : ((int64_t)1 << (t.bits - 1)) - 1);
}

/* ---- buffers ---- */

mlcc_buffer *ir_buffer_scoped(const char *name, mlcc_dtype t, mlcc_expr **shape, int ndim,
                              const char *scope) {
    mlcc_buffer *b = ir_alloc(sizeof *b);
    b->name = ir_strdup(name);
    b->dtype = t;
    b->ndim = ndim;
    b->shape = ir_alloc(sizeof(mlcc_expr *) * (size_t)(ndim > 0 ? ndim : 1));
    for (int i = 0; i < ndim; i++) b->shape[i] = shape[i];
    b->scope = mlcc_intern(scope ? scope : "global");
    return b;
}

mlcc_buffer *ir_buffer(const char *name, mlcc_dtype t, mlcc_expr **shape, int ndim) {
    return ir_buffer_scoped(name, t, shape, ndim, "global");
}

mlcc_buffer *ir_buffer_align(const mlcc_buffer *b, int axis, int64_t factor, int64_t offset) {
    mlcc_buffer *r = ir_buffer_scoped(b->name, b->dtype, b->shape, b->ndim, b->scope);
    mlcc_dim_align *al = ir_alloc(sizeof(mlcc_dim_align) * (size_t)(b->ndim > 0 ? b->ndim : 1));
    for (int d = 0; d < b->ndim; d++) al[d] = b->align ? b->align[d] : (mlcc_dim_align){0, 0};
    if (axis >= 0 && axis < b->ndim) al[axis] = (mlcc_dim_align){factor, offset};
    r->align = al;
    return r;
}

/* The stride of each dimension: compact row-major, padded where aligned. */
static mlcc_expr **buffer_strides(const mlcc_buffer *b) {
    mlcc_expr **st = ir_alloc(sizeof(mlcc_expr *) * (size_t)(b->ndim + 1));
    mlcc_expr *s = ir_int(1);
    for (int d = b->ndim - 1; d >= 0; d--) {
        if (b->align && b->align[d].factor > 0) {
            /* s + ((offset - s) mod factor): the next k * factor + offset at or above s */
            mlcc_expr *f = ir_int(b->align[d].factor);
            s = ir_add(s, ir_floormod(ir_sub(ir_int(b->align[d].offset), s), f));
        }
        st[d] = s;
        s = ir_mul(s, b->shape[d]);
    }
    st[b->ndim] = s;
    return st;
}

mlcc_expr *ir_buffer_offset(const mlcc_buffer *b, mlcc_expr **indices, int nidx) {
    mlcc_expr *idx = ir_int(0);
    if (!b->align || nidx != b->ndim) {
        for (int d = 0; d < nidx; d++) idx = ir_add(ir_mul(idx, b->shape[d]), indices[d]);
        return idx;
    }
    mlcc_expr **st = buffer_strides(b);
    for (int d = 0; d < nidx; d++) idx = ir_add(idx, ir_mul(indices[d], st[d]));
    return idx;
}

mlcc_expr *ir_buffer_elems(const mlcc_buffer *b) {
    if (!b->align) {
        mlcc_expr *n = ir_int(1);
        for (int d = 0; d < b->ndim; d++) n = ir_mul(n, b->shape[d]);
        return n;
    }
    /* the outermost dimension's extent times its (padded) stride */
    mlcc_expr **st = buffer_strides(b);
    return b->ndim ? ir_mul(b->shape[0], st[0]) : ir_int(1);
}

mlcc_buffer *ir_buffer_v(const char *name, mlcc_dtype t, ...) {
    mlcc_expr *shape[8];
    int n = 0;
    va_list ap;
    va_start(ap, t);
    for (mlcc_expr *e; n < 8 && (e = va_arg(ap, mlcc_expr *)) != NULL;) shape[n++] = e;
    va_end(ap);
    return ir_buffer(name, t, shape, n);
}
