/* interp.c - the block-level TensorIR reference interpreter (see interp.h). */
#include "ir/interp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "support/strbuf.h"

/* The storage behind one buffer: dense row-major, float64 or int64 elements. */
typedef struct storage {
    double *f64;
    int64_t *i64;
    int64_t shape[8];
    int ndim;
    int64_t size;
    int owned;
} storage;

typedef struct value {
    double f;
    int64_t i;
} value;

typedef struct interp {
    mlcc_u64map vars;    /* var -> value bits (int64, or a double's bits for float vars) */
    mlcc_u64map buffers; /* buffer -> storage* */
    int reverse_parallel;
    int64_t iterations_left; /* -1: unlimited */
} interp;

#define POISON_INT ((int64_t)0x5eadbeef5eadbeefLL)

double tir_round_float(double v, mlcc_dtype t) {
    if (!dtype_is_float(t) || (t.code == DT_FLOAT && t.bits == 64) || !isfinite(v) || v == 0) return v;
    if (t.code == DT_FLOAT && t.bits == 32) return (double)(float)v;
    int mant_bits, min_exp;
    double max_val;
    if (t.code == DT_BFLOAT) {
        mant_bits = 7, min_exp = -126, max_val = 3.3895313892515355e38;
    } else { /* float16 */
        mant_bits = 10, min_exp = -14, max_val = 65504.0;
    }
    int e;
    frexp(v, &e); /* v = m * 2^e, 0.5 <= |m| < 1 */
    if (e - 1 < min_exp) e = min_exp + 1;
    double q = ldexp(1.0, e - 1 - mant_bits);
    double r = nearbyint(v / q) * q;
    if (fabs(r) > max_val) {
        /* halfway past the largest finite value rounds to infinity */
        double half_ulp = ldexp(1.0, (t.code == DT_BFLOAT ? 127 : 15) - mant_bits - 1);
        if (fabs(v) >= max_val + half_ulp) return v < 0 ? -INFINITY : INFINITY;
        return v < 0 ? -max_val : max_val;
    }
    return r;
}

/* Wraps an integer to the width of its dtype (two's complement), bool to 0/1. */
static int64_t wrap_int(int64_t v, mlcc_dtype t) {
    if (dtype_is_bool(t)) return v != 0;
    if (t.bits >= 64) return v;
    uint64_t mask = ((uint64_t)1 << t.bits) - 1;
    uint64_t u = (uint64_t)v & mask;
    if (t.code == DT_INT && (u >> (t.bits - 1)) & 1) u |= ~mask;
    return (int64_t)u;
}

/* ---- variables ---- */

static void bind_var(interp *ip, const mlcc_expr *var, value v) {
    int64_t bits = v.i;
    if (dtype_is_float(var->dtype)) memcpy(&bits, &v.f, sizeof bits);
    u64map_upsert(&ip->vars, (uint64_t)(uintptr_t)var, NULL)->value.i = bits;
}

static void unbind_var(interp *ip, const mlcc_expr *var) {
    u64map_remove(&ip->vars, (uint64_t)(uintptr_t)var);
}

static int lookup_var(interp *ip, const mlcc_expr *var, value *out) {
    mlcc_u64map_entry *e = u64map_find(&ip->vars, (uint64_t)(uintptr_t)var);
    if (!e) return mlcc_set_error("interp: variable '%s' is not bound here", var->var.name);
    out->i = e->value.i;
    out->f = 0;
    if (dtype_is_float(var->dtype)) memcpy(&out->f, &e->value.i, sizeof out->f);
    return 0;
}

/* ---- buffers ---- */

static storage *find_storage(interp *ip, const mlcc_buffer *b) {
    return u64map_get_p(&ip->buffers, b);
}

static int eval(interp *ip, const mlcc_expr *e, value *out);

static int eval_int(interp *ip, const mlcc_expr *e, int64_t *out) {
    value v;
    if (eval(ip, e, &v)) return -1;
    if (dtype_is_float(e->dtype)) return mlcc_set_error("interp: expected an integer expression");
    *out = v.i;
    return 0;
}

/* Allocates storage for an intermediate buffer, filled with poison. */
static int alloc_storage(interp *ip, const mlcc_buffer *b) {
    if (b->ndim > 8) return mlcc_set_error("interp: buffer '%s' has more than 8 dimensions", b->name);
    storage *s = mlcc_xcalloc(1, sizeof *s);
    s->ndim = b->ndim;
    s->size = 1;
    s->owned = 1;
    for (int d = 0; d < b->ndim; d++) {
        if (eval_int(ip, b->shape[d], &s->shape[d])) {
            free(s);
            return mlcc_prefix_error("interp: shape of buffer '%s'", b->name);
        }
        if (s->shape[d] < 0 || (s->shape[d] > 0 && s->size > ((int64_t)1 << 40) / s->shape[d])) {
            int64_t bad = s->shape[d];
            free(s);
            return mlcc_set_error("interp: buffer '%s' dimension %d has bad extent %lld", b->name, d,
                                  (long long)bad);
        }
        s->size *= s->shape[d];
    }
    size_t n = (size_t)(s->size > 0 ? s->size : 1);
    if (dtype_is_float(b->dtype)) {
        s->f64 = mlcc_xmalloc(n * sizeof(double));
        for (size_t i = 0; i < n; i++) s->f64[i] = NAN;
    } else {
        s->i64 = mlcc_xmalloc(n * sizeof(int64_t));
        for (size_t i = 0; i < n; i++) s->i64[i] = POISON_INT;
    }
    u64map_set_p(&ip->buffers, b, s);
    return 0;
}

static void free_storage(interp *ip, const mlcc_buffer *b) {
    storage *s = find_storage(ip, b);
    if (!s) return;
    u64map_remove(&ip->buffers, (uint64_t)(uintptr_t)b);
    if (s->owned) {
        free(s->f64);
        free(s->i64);
    }
    free(s);
}

/* The flat offset of buffer[indices], bounds-checked. */
static int element_offset(interp *ip, const mlcc_buffer *b, mlcc_expr **indices, int nidx,
                          const char *what, storage **out_s, int64_t *out_off) {
    storage *s = find_storage(ip, b);
    if (!s) return mlcc_set_error("interp: %s of buffer '%s', which is not allocated here", what, b->name);
    if (nidx != s->ndim)
        return mlcc_set_error("interp: %s of buffer '%s' with %d indices (it has %d dimensions)", what,
                              b->name, nidx, s->ndim);
    int64_t idx[8], off = 0;
    for (int d = 0; d < nidx; d++) {
        if (indices[d]->dtype.lanes != 1)
            return mlcc_set_error("interp: vector index in %s of buffer '%s' (run before lowering)", what, b->name);
        if (eval_int(ip, indices[d], &idx[d])) return -1;
    }
    for (int d = 0; d < nidx; d++) {
        if (idx[d] < 0 || idx[d] >= s->shape[d]) {
            mlcc_strbuf sb = STRBUF_INIT;
            for (int k = 0; k < nidx; k++) sb_printf(&sb, "%s%lld", k ? ", " : "", (long long)idx[k]);
            sb_append(&sb, "] (shape [");
            for (int k = 0; k < nidx; k++) sb_printf(&sb, "%s%lld", k ? ", " : "", (long long)s->shape[k]);
            mlcc_set_error("interp: out-of-bounds %s %s[%s])", what, b->name, sb_cstr(&sb));
            sb_free(&sb);
            return -1;
        }
        off = off * s->shape[d] + idx[d];
    }
    *out_s = s;
    *out_off = off;
    return 0;
}

/* ---- expressions ---- */

static int eval_call(interp *ip, const mlcc_expr *e, value *out) {
    const char *op = e->call.op;
    double a[3] = {0, 0, 0};
    int n = e->call.nargs;
    if (n > 3) return mlcc_set_error("interp: call to '%s' with %d arguments", op, n);
    for (int i = 0; i < n; i++) {
        value v;
        if (eval(ip, e->call.args[i], &v)) return -1;
        a[i] = dtype_is_float(e->call.args[i]->dtype) ? v.f : (double)v.i;
    }
    double r;
    int want = 1;
    if (!strcmp(op, "exp")) r = exp(a[0]);
    else if (!strcmp(op, "exp2")) r = exp2(a[0]);
    else if (!strcmp(op, "log")) r = log(a[0]);
    else if (!strcmp(op, "sqrt")) r = sqrt(a[0]);
    else if (!strcmp(op, "rsqrt")) r = 1.0 / sqrt(a[0]);
    else if (!strcmp(op, "tanh")) r = tanh(a[0]);
    else if (!strcmp(op, "erf")) r = erf(a[0]);
    else if (!strcmp(op, "fabs")) r = fabs(a[0]);
    else if (!strcmp(op, "sigmoid")) r = 1.0 / (1.0 + exp(-a[0]));
    else if (!strcmp(op, "floor")) r = floor(a[0]);
    else if (!strcmp(op, "ceil")) r = ceil(a[0]);
    else if (!strcmp(op, "round")) r = nearbyint(a[0]);
    else if (!strcmp(op, "pow")) r = pow(a[0], a[1]), want = 2;
    else return mlcc_set_error("interp: unknown intrinsic '%s'", op);
    if (n != want) return mlcc_set_error("interp: '%s' takes %d argument(s), got %d", op, want, n);
    if (dtype_is_float(e->dtype)) out->f = tir_round_float(r, e->dtype);
    else if (!(r > -9.2e18 && r < 9.2e18))
        return mlcc_set_error("interp: '%s' gives %g, out of range of its integer type", op, r);
    else out->i = wrap_int((int64_t)r, e->dtype);
    return 0;
}

static int eval_cast(const mlcc_expr *e, const value *in, mlcc_dtype from, value *out) {
    mlcc_dtype to = e->dtype;
    if (dtype_is_float(to)) {
        out->f = tir_round_float(dtype_is_float(from) ? in->f : (double)in->i, to);
    } else if (dtype_is_float(from)) {
        double f = in->f;
        if (dtype_is_bool(to)) out->i = f != 0;
        else if (!isfinite(f) || f >= 9.2e18 || f <= -9.2e18)
            return mlcc_set_error("interp: cast of %g to an integer type overflows", f);
        else out->i = wrap_int((int64_t)f, to);
    } else {
        out->i = wrap_int(in->i, to);
    }
    return 0;
}

static int eval_int_binary(mlcc_expr_kind k, int64_t a, int64_t b, int64_t *out) {
    switch (k) {
    case EXPR_ADD: *out = (int64_t)((uint64_t)a + (uint64_t)b); return 0;
    case EXPR_SUB: *out = (int64_t)((uint64_t)a - (uint64_t)b); return 0;
    case EXPR_MUL: *out = (int64_t)((uint64_t)a * (uint64_t)b); return 0;
    case EXPR_DIV:
    case EXPR_MOD:
    case EXPR_FLOORDIV:
    case EXPR_FLOORMOD:
        if (b == 0) return mlcc_set_error("interp: integer division by zero");
        if (b == -1) { /* avoids INT64_MIN / -1 */
            *out = (k == EXPR_DIV || k == EXPR_FLOORDIV) ? (int64_t)(0 - (uint64_t)a) : 0;
            return 0;
        }
        if (k == EXPR_DIV) *out = a / b;
        else if (k == EXPR_MOD) *out = a % b;
        else {
            int64_t q = a / b, r = a % b;
            if (r != 0 && ((r < 0) != (b < 0))) q -= 1, r += b;
            *out = k == EXPR_FLOORDIV ? q : r;
        }
        return 0;
    case EXPR_MIN: *out = a < b ? a : b; return 0;
    case EXPR_MAX: *out = a > b ? a : b; return 0;
    case EXPR_EQ: *out = a == b; return 0;
    case EXPR_NE: *out = a != b; return 0;
    case EXPR_LT: *out = a < b; return 0;
    case EXPR_LE: *out = a <= b; return 0;
    case EXPR_GT: *out = a > b; return 0;
    case EXPR_GE: *out = a >= b; return 0;
    case EXPR_AND: *out = a && b; return 0;
    case EXPR_OR: *out = a || b; return 0;
    default: return mlcc_set_error("interp: bad integer operator");
    }
}

static int eval_float_binary(mlcc_expr_kind k, double a, double b, value *out) {
    switch (k) {
    case EXPR_ADD: out->f = a + b; return 0;
    case EXPR_SUB: out->f = a - b; return 0;
    case EXPR_MUL: out->f = a * b; return 0;
    case EXPR_DIV: out->f = a / b; return 0;
    case EXPR_FLOORDIV: out->f = floor(a / b); return 0;
    case EXPR_MOD: out->f = fmod(a, b); return 0;
    case EXPR_FLOORMOD: out->f = a - floor(a / b) * b; return 0;
    case EXPR_MIN: out->f = a < b ? a : b; return 0;
    case EXPR_MAX: out->f = a > b ? a : b; return 0;
    case EXPR_EQ: out->i = a == b; return 0;
    case EXPR_NE: out->i = a != b; return 0;
    case EXPR_LT: out->i = a < b; return 0;
    case EXPR_LE: out->i = a <= b; return 0;
    case EXPR_GT: out->i = a > b; return 0;
    case EXPR_GE: out->i = a >= b; return 0;
    default: return mlcc_set_error("interp: bad float operator");
    }
}

static int eval(interp *ip, const mlcc_expr *e, value *out) {
    out->f = 0;
    out->i = 0;
    if (e->dtype.lanes != 1)
        return mlcc_set_error("interp: vector expression (%d lanes); run the interpreter before lowering",
                              e->dtype.lanes);
    switch (e->kind) {
    case EXPR_INT: out->i = e->int_value; return 0;
    case EXPR_FLOAT: out->f = tir_round_float(e->float_value, e->dtype); return 0;
    case EXPR_VAR: return lookup_var(ip, e, out);
    case EXPR_NOT: {
        value a;
        if (eval(ip, e->un.a, &a)) return -1;
        out->i = !a.i;
        return 0;
    }
    case EXPR_CAST: {
        value a;
        if (eval(ip, e->un.a, &a)) return -1;
        return eval_cast(e, &a, e->un.a->dtype, out);
    }
    case EXPR_SELECT: {
        value c, t, f;
        if (eval(ip, e->select.cond, &c) || eval(ip, e->select.t, &t) || eval(ip, e->select.f, &f)) return -1;
        *out = c.i ? t : f;
        return 0;
    }
    case EXPR_CALL: return eval_call(ip, e, out);
    case EXPR_LOAD: {
        storage *s;
        int64_t off;
        if (element_offset(ip, e->load.buffer, e->load.indices, e->load.nidx, "load", &s, &off)) return -1;
        if (s->f64) out->f = s->f64[off];
        else out->i = s->i64[off];
        return 0;
    }
    case EXPR_RAMP:
    case EXPR_BROADCAST:
        return mlcc_set_error("interp: vector expression; run the interpreter before lowering");
    default: break;
    }
    /* binary operators */
    value a, b;
    if (eval(ip, e->bin.a, &a)) return -1;
    /* `and`/`or` short-circuit, so a guard like `i < n and A[i] > 0` stays in bounds */
    if (e->kind == EXPR_AND && !a.i) return 0;
    if (e->kind == EXPR_OR && a.i) {
        out->i = 1;
        return 0;
    }
    if (eval(ip, e->bin.b, &b)) return -1;
    if (dtype_is_float(e->bin.a->dtype)) {
        if (eval_float_binary(e->kind, a.f, b.f, out)) return -1;
        if (dtype_is_float(e->dtype)) out->f = tir_round_float(out->f, e->dtype);
        return 0;
    }
    if (eval_int_binary(e->kind, a.i, b.i, &out->i)) return -1;
    out->i = wrap_int(out->i, e->dtype);
    return 0;
}

/* ---- statements ---- */

static int exec(interp *ip, const mlcc_stmt *s);

static int exec_for(interp *ip, const mlcc_stmt *s) {
    int64_t min, extent;
    if (eval_int(ip, s->for_.min, &min) || eval_int(ip, s->for_.extent, &extent)) return -1;
    int rc = 0;
    mlcc_for_kind k = s->for_.kind;
    int reverse = ip->reverse_parallel && (k == FOR_PARALLEL || k == FOR_VECTORIZED || k == FOR_THREAD_BINDING);
    for (int64_t i = 0; i < extent && rc == 0; i++) {
        if (ip->iterations_left >= 0 && ip->iterations_left-- == 0) {
            rc = mlcc_set_error("interp: iteration budget exhausted");
            break;
        }
        value v = {0, reverse ? min + extent - 1 - i : min + i};
        bind_var(ip, s->for_.var, v);
        rc = exec(ip, s->for_.body);
    }
    unbind_var(ip, s->for_.var);
    return rc;
}

static int exec_block(interp *ip, const mlcc_stmt *s) {
    const mlcc_block *b = s->realize.block;
    value pred;
    if (eval(ip, s->realize.predicate, &pred)) return mlcc_prefix_error("block '%s' predicate", b->name);
    if (!pred.i) return 0;
    int64_t vals[64];
    if (b->niters > 64) return mlcc_set_error("interp: block '%s' has too many iter vars", b->name);
    int first_reduce = 1;
    for (int i = 0; i < b->niters; i++) {
        int64_t min = 0, extent = 0;
        if (eval_int(ip, s->realize.iter_values[i], &vals[i]) || eval_int(ip, b->iters[i].dom.min, &min) ||
            eval_int(ip, b->iters[i].dom.extent, &extent))
            return mlcc_prefix_error("block '%s'", b->name);
        if (vals[i] < min || vals[i] >= min + extent)
            return mlcc_set_error("interp: block '%s': iter var '%s' bound to %lld, outside its domain [%lld, %lld)",
                                  b->name, b->iters[i].var->var.name, (long long)vals[i], (long long)min,
                                  (long long)(min + extent));
        if (b->iters[i].type == ITER_REDUCE && vals[i] != min) first_reduce = 0;
    }
    for (int i = 0; i < b->niters; i++) {
        value v = {0, vals[i]};
        bind_var(ip, b->iters[i].var, v);
    }
    int rc = 0;
    int nalloc = 0;
    for (; nalloc < b->nalloc && rc == 0; nalloc++) rc = alloc_storage(ip, b->alloc_buffers[nalloc]);
    if (rc == 0 && b->init && first_reduce) rc = exec(ip, b->init);
    if (rc == 0) rc = exec(ip, b->body);
    for (int i = 0; i < nalloc; i++) free_storage(ip, b->alloc_buffers[i]);
    for (int i = 0; i < b->niters; i++) unbind_var(ip, b->iters[i].var);
    return rc;
}

static int exec_store(interp *ip, const mlcc_stmt *s) {
    value v;
    if (s->store.value->dtype.lanes != 1)
        return mlcc_set_error("interp: vector store to '%s'; run the interpreter before lowering",
                              s->store.buffer->name);
    if (eval(ip, s->store.value, &v)) return -1;
    storage *st;
    int64_t off;
    if (element_offset(ip, s->store.buffer, s->store.indices, s->store.nidx, "store", &st, &off)) return -1;
    mlcc_dtype t = s->store.buffer->dtype;
    int from_float = dtype_is_float(s->store.value->dtype);
    if (st->f64) {
        st->f64[off] = tir_round_float(from_float ? v.f : (double)v.i, t);
    } else if (from_float) {
        if (!(v.f > -9.2e18 && v.f < 9.2e18))
            return mlcc_set_error("interp: storing %g into the integer buffer '%s'", v.f, s->store.buffer->name);
        st->i64[off] = wrap_int((int64_t)v.f, t);
    } else {
        st->i64[off] = wrap_int(v.i, t);
    }
    return 0;
}

static int exec(interp *ip, const mlcc_stmt *s) {
    if (!s) return 0;
    switch (s->kind) {
    case STMT_FOR: return exec_for(ip, s);
    case STMT_BLOCK_REALIZE: return exec_block(ip, s);
    case STMT_STORE: return exec_store(ip, s);
    case STMT_ALLOCATE: {
        if (alloc_storage(ip, s->alloc.buffer)) return -1;
        int rc = exec(ip, s->alloc.body);
        free_storage(ip, s->alloc.buffer);
        return rc;
    }
    case STMT_IF: {
        value c;
        if (eval(ip, s->if_.cond, &c)) return -1;
        return exec(ip, c.i ? s->if_.then_ : s->if_.else_);
    }
    case STMT_SEQ:
        for (int i = 0; i < s->seq.n; i++)
            if (exec(ip, s->seq.stmts[i])) return -1;
        return 0;
    case STMT_EVALUATE: {
        value v;
        return eval(ip, s->eval.value, &v);
    }
    }
    return mlcc_set_error("interp: unknown statement kind %d", (int)s->kind);
}

/* ---- parameters ---- */

/* Binds size vars from argument shapes (a dimension that is a lone unbound var), then checks
 * every dimension against the shape given. */
static int bind_params(interp *ip, const mlcc_prim_func *f, const tir_interp_arg *args) {
    for (int i = 0; i < f->nparams; i++) {
        const mlcc_param *p = &f->params[i];
        const tir_interp_arg *a = &args[i];
        if (!p->buffer) {
            value v = {a->f, a->i};
            bind_var(ip, p->var, v);
            continue;
        }
        mlcc_buffer *b = p->buffer;
        if (a->ndim != b->ndim || b->ndim > 8)
            return mlcc_set_error("interp: parameter '%s' has %d dimensions, the array given %d", b->name,
                                  b->ndim, a->ndim);
        if (dtype_is_float(b->dtype) ? !a->f64 : !a->i64)
            return mlcc_set_error("interp: parameter '%s' needs %s data", b->name,
                                  dtype_is_float(b->dtype) ? "f64" : "i64");
        for (int d = 0; d < b->ndim; d++) {
            mlcc_expr *dim = b->shape[d];
            if (dim->kind == EXPR_VAR && !u64map_find(&ip->vars, (uint64_t)(uintptr_t)dim)) {
                value v = {0, a->shape[d]};
                bind_var(ip, dim, v);
            }
        }
    }
    for (int i = 0; i < f->nparams; i++) {
        const mlcc_param *p = &f->params[i];
        if (!p->buffer) continue;
        storage *s = mlcc_xcalloc(1, sizeof *s);
        s->ndim = p->buffer->ndim;
        s->size = 1;
        s->f64 = args[i].f64;
        s->i64 = args[i].i64;
        u64map_set_p(&ip->buffers, p->buffer, s);
        for (int d = 0; d < s->ndim; d++) {
            int64_t want = 0;
            if (eval_int(ip, p->buffer->shape[d], &want)) return mlcc_prefix_error("interp: shape of '%s'", p->buffer->name);
            if (want != args[i].shape[d])
                return mlcc_set_error("interp: parameter '%s' dimension %d is %lld, the array given has %lld",
                                      p->buffer->name, d, (long long)want, (long long)args[i].shape[d]);
            s->shape[d] = want;
            s->size *= want;
        }
    }
    return 0;
}

int tir_interp_run(const mlcc_prim_func *f, const tir_interp_arg *args, int nargs) {
    return tir_interp_run_opts(f, args, nargs, NULL);
}

int tir_interp_run_opts(const mlcc_prim_func *f, const tir_interp_arg *args, int nargs,
                        const tir_interp_opts *opts) {
    if (nargs != f->nparams)
        return mlcc_set_error("interp: '%s' takes %d arguments, %d given", f->name, f->nparams, nargs);
    interp ip;
    u64map_init(&ip.vars);
    u64map_init(&ip.buffers);
    ip.reverse_parallel = opts && opts->reverse_parallel;
    ip.iterations_left = opts && opts->max_iterations > 0 ? opts->max_iterations : -1;
    int rc = bind_params(&ip, f, args);
    int nalloc = 0;
    for (; rc == 0 && nalloc < f->nalloc; nalloc++) rc = alloc_storage(&ip, f->alloc_buffers[nalloc]);
    if (rc == 0) rc = exec(&ip, f->body);
    for (size_t i = 0; i < ip.buffers.cap; i++) {
        if (!ip.buffers.slots[i].used) continue;
        storage *s = ip.buffers.slots[i].value.p;
        if (s->owned) {
            free(s->f64);
            free(s->i64);
        }
        free(s);
    }
    u64map_free(&ip.vars);
    u64map_free(&ip.buffers);
    if (rc) mlcc_prefix_error("running '%s'", f->name);
    return rc;
}
