/* compact.c - buffer compaction after compute_at / cache_read / cache_write (see compact.h),
 * after TVM's CompactBufferAllocation.
 *
 * compute_at moves a producer under a loop of its consumers, and cache_read / cache_write
 * copies move under a tile's loop, but their buffer keeps the whole shape it had at function
 * scope: each iteration of the loop writes and reads only its own tile of it. Here, on the
 * lowered function (loops, stores, loads, allocations), each allocated buffer whose every
 * access lies under one loop L, and moves with L (L's var appears in an index of every access),
 * gets an allocation inside L's body shaped like the region one iteration of L touches: the
 * accessed indices are relaxed over the loops under L (an affine index spans its minimum to its
 * maximum; predicates are ignored, which can only over-approximate), their union per dimension
 * gives [lo, lo + extent), and every access index d becomes `index - lo_d` (lo_d is an
 * expression in L's var and the loops above it, in scope at the allocation).
 *
 * Why the var test: the new allocation is fresh in every iteration of L and of the loops around
 * it. A buffer accumulated across the iterations of one of them (a reduction whose reduce loop
 * is there, running sums) must outlive an iteration; its indices do not involve that loop's
 * var, so it is not moved. The
 * tiles compute_at and the cache copies make are written and read within one iteration (an
 * iteration recomputes what it reads), so a fresh allocation per iteration holds the same
 * values. Only constant compacted shapes are made (codegen puts them on the stack, per thread
 * of a parallel L); buffers passed to an intrinsic by address (tensorized tiles: their strides
 * are arguments), with a padded layout (storage_align), or indexed non-affinely stay as they
 * are. */
#include "schedule/compact.h"

#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "ir/functor.h"
#include "support/vec.h"

enum { MAX_LOOPS = 64 };

typedef struct access {
    mlcc_expr **indices;
    mlcc_stmt *loops[MAX_LOOPS]; /* enclosing loops inside the allocation, outermost first */
    int nloops;
} access;

typedef struct collector {
    const mlcc_buffer *buf;
    MLCC_VEC(access) accesses;
    mlcc_stmt *stack[MAX_LOOPS];
    int depth;
    int opaque; /* used in a way compaction cannot follow */
} collector;

static void record(collector *c, mlcc_expr **indices) {
    if (c->depth > MAX_LOOPS) {
        c->opaque = 1;
        return;
    }
    access a = {indices, {0}, c->depth};
    memcpy(a.loops, c->stack, sizeof(mlcc_stmt *) * (size_t)c->depth);
    vec_push(&c->accesses, a);
}

static int visit_expr(ir_visitor *v, mlcc_expr *e) {
    collector *c = v->ctx;
    if (e->kind == EXPR_LOAD && e->load.buffer == c->buf) record(c, e->load.indices);
    if (e->kind == EXPR_CALL && !strcmp(e->call.op, "address_of"))
        for (int i = 0; i < e->call.nargs; i++)
            if (e->call.args[i]->kind == EXPR_LOAD && e->call.args[i]->load.buffer == c->buf) c->opaque = 1;
    return 1;
}

static void collect_expr(collector *c, mlcc_expr *e) {
    ir_visitor v = {visit_expr, NULL, c};
    if (e) ir_visit_expr(&v, e);
}

static void collect_stmt(collector *c, mlcc_stmt *s) {
    if (!s || c->opaque) return;
    switch (s->kind) {
    case STMT_FOR:
        collect_expr(c, s->for_.min);
        collect_expr(c, s->for_.extent);
        if (c->depth < MAX_LOOPS) c->stack[c->depth] = s;
        c->depth++;
        collect_stmt(c, s->for_.body);
        c->depth--;
        return;
    case STMT_STORE:
        if (s->store.buffer == c->buf) record(c, s->store.indices);
        for (int i = 0; i < s->store.nidx; i++) collect_expr(c, s->store.indices[i]);
        collect_expr(c, s->store.value);
        return;
    case STMT_ALLOCATE: collect_stmt(c, s->alloc.body); return;
    case STMT_IF:
        collect_expr(c, s->if_.cond);
        collect_stmt(c, s->if_.then_);
        collect_stmt(c, s->if_.else_);
        return;
    case STMT_SEQ:
        for (int i = 0; i < s->seq.n; i++) collect_stmt(c, s->seq.stmts[i]);
        return;
    case STMT_EVALUATE: collect_expr(c, s->eval.value); return;
    default: c->opaque = 1; return; /* blocks: not lowered */
    }
}

/* ---- the region one iteration of L touches ---- */

/* e with vars all 0, or vars[keep] = 1. */
static mlcc_expr *at_unit(mlcc_expr *e, mlcc_expr **vars, int n, int keep) {
    mlcc_expr **vals = ir_alloc(sizeof(mlcc_expr *) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) vals[i] = ir_int(i == keep);
    return arith_simplify_expr(expr_substitute(e, vars, vals, n));
}

/* [lo, hi] of e as vars run over [0, extents): e must be base + sum c_i vars_i with constant
 * c_i; -1 otherwise. */
static int relax(mlcc_expr *e, mlcc_expr **vars, mlcc_expr **extents, int n, mlcc_expr **lo, mlcc_expr **hi) {
    mlcc_expr *base = at_unit(e, vars, n, -1), *sum = base;
    *lo = *hi = base;
    for (int i = 0; i < n; i++) {
        mlcc_expr *coef = arith_simplify_expr(ir_sub(at_unit(e, vars, n, i), base));
        if (coef->kind != EXPR_INT) return -1;
        sum = ir_add(sum, ir_mul(coef, vars[i]));
        if (coef->int_value == 0) continue;
        mlcc_expr *span = ir_mul(coef, ir_sub(extents[i], ir_int(1)));
        if (coef->int_value > 0) *hi = ir_add(*hi, span);
        else *lo = ir_add(*lo, span);
    }
    if (!expr_is_int(arith_simplify_expr(ir_sub(e, sum)), 0)) return -1;
    *lo = arith_simplify_expr(*lo);
    *hi = arith_simplify_expr(*hi);
    return 0;
}

/* Widens [*lo, *hi] to hold [lo2, hi2]: the bounds must differ by constants. */
static int widen(mlcc_expr **lo, mlcc_expr **hi, mlcc_expr *lo2, mlcc_expr *hi2) {
    if (!*lo) {
        *lo = lo2, *hi = hi2;
        return 0;
    }
    mlcc_expr *dlo = arith_simplify_expr(ir_sub(lo2, *lo)), *dhi = arith_simplify_expr(ir_sub(hi2, *hi));
    if (dlo->kind != EXPR_INT || dhi->kind != EXPR_INT) return -1;
    if (dlo->int_value < 0) *lo = lo2;
    if (dhi->int_value > 0) *hi = hi2;
    return 0;
}

/* Does every access move with loop l (its var in one of the indices)? */
static int moves_with(const collector *c, int ndim, const mlcc_stmt *l) {
    for (size_t a = 0; a < c->accesses.len; a++) {
        int uses = 0;
        for (int d = 0; d < ndim && !uses; d++) uses = expr_uses_var(c->accesses.data[a].indices[d], l->for_.var);
        if (!uses) return 0;
    }
    return 1;
}

/* A serial or parallel loop: an allocation in a vectorized or unrolled body is not made. */
static int plain_loop(const mlcc_stmt *l) {
    return l->for_.kind == FOR_SERIAL || l->for_.kind == FOR_PARALLEL;
}

typedef struct plan {
    mlcc_stmt *loop;   /* L: the allocation goes into its body */
    mlcc_buffer *to;   /* the compacted buffer */
    mlcc_expr **lo;    /* per dimension: the index the compacted buffer starts at */
} plan;

/* The compaction of buf over the allocation's body, or 0 when there is none. L is the deepest
 * loop around every access such that L and the loops around it (inside the allocation) all move
 * every access. */
static int make_plan(const mlcc_buffer *buf, mlcc_stmt *body, plan *p) {
    if (buf->align || buf->ndim < 1) return 0;
    collector c;
    memset(&c, 0, sizeof c);
    c.buf = buf;
    collect_stmt(&c, body);
    int ok = !c.opaque && c.accesses.len > 0;
    /* L: the deepest loop around every access that every access moves with */
    int common = ok ? c.accesses.data[0].nloops : 0;
    for (size_t a = 1; ok && a < c.accesses.len; a++) {
        int k = 0;
        while (k < common && k < c.accesses.data[a].nloops && c.accesses.data[a].loops[k] == c.accesses.data[0].loops[k]) k++;
        common = k;
    }
    /* the allocation is made fresh per iteration of L and of every loop around L (inside the
     * old allocation): each of them must move the accesses */
    int at = -1;
    while (ok && at + 1 < common && plain_loop(c.accesses.data[0].loops[at + 1]) &&
           moves_with(&c, buf->ndim, c.accesses.data[0].loops[at + 1]))
        at++;
    ok = ok && at >= 0;
    mlcc_expr **lo = ok ? ir_alloc(sizeof(mlcc_expr *) * (size_t)buf->ndim) : NULL;
    mlcc_expr **hi = ok ? ir_alloc(sizeof(mlcc_expr *) * (size_t)buf->ndim) : NULL;
    for (int d = 0; ok && d < buf->ndim; d++) lo[d] = hi[d] = NULL;
    for (size_t a = 0; ok && a < c.accesses.len; a++) {
        const access *ac = &c.accesses.data[a];
        mlcc_expr *vars[MAX_LOOPS], *ext[MAX_LOOPS];
        int n = 0;
        for (int k = at + 1; ok && k < ac->nloops; k++) {
            if (!expr_is_int(arith_simplify_expr(ac->loops[k]->for_.min), 0)) ok = 0;
            vars[n] = ac->loops[k]->for_.var, ext[n++] = ac->loops[k]->for_.extent;
        }
        for (int d = 0; ok && d < buf->ndim; d++) {
            mlcc_expr *l, *h;
            ok = relax(ac->indices[d], vars, ext, n, &l, &h) == 0 && widen(&lo[d], &hi[d], l, h) == 0;
        }
    }
    /* a constant shape, smaller than the buffer's in some dimension */
    mlcc_expr **shape = ok ? ir_alloc(sizeof(mlcc_expr *) * (size_t)buf->ndim) : NULL;
    int smaller = 0;
    for (int d = 0; ok && d < buf->ndim; d++) {
        shape[d] = arith_simplify_expr(ir_add(ir_sub(hi[d], lo[d]), ir_int(1)));
        if (shape[d]->kind != EXPR_INT || shape[d]->int_value < 1) ok = 0;
        else if (!expr_is_int(buf->shape[d], shape[d]->int_value)) smaller = 1;
    }
    mlcc_stmt *loop = ok ? c.accesses.data[0].loops[at] : NULL;
    vec_free(&c.accesses);
    if (!ok || !smaller) return 0;
    p->loop = loop;
    p->lo = lo;
    p->to = ir_buffer_scoped(buf->name, buf->dtype, shape, buf->ndim, buf->scope);
    return 1;
}

/* ---- the rewrite ---- */

typedef struct rewriter {
    const mlcc_buffer *from;
    plan p;
} rewriter;

static mlcc_expr **shifted(ir_mutator *m, const rewriter *r, mlcc_expr **indices) {
    int nd = r->from->ndim;
    mlcc_expr **out = ir_alloc(sizeof(mlcc_expr *) * (size_t)nd);
    for (int d = 0; d < nd; d++) out[d] = arith_simplify_expr(ir_sub(ir_mutate_expr(m, indices[d]), r->p.lo[d]));
    return out;
}

static mlcc_expr *rewrite_expr(ir_mutator *m, mlcc_expr *e) {
    const rewriter *r = m->ctx;
    if (e->kind != EXPR_LOAD || e->load.buffer != r->from) return NULL;
    return ir_load(r->p.to, shifted(m, r, e->load.indices), e->load.nidx);
}

static mlcc_stmt *rewrite_stmt(ir_mutator *m, mlcc_stmt *s) {
    const rewriter *r = m->ctx;
    if (s->kind == STMT_STORE && s->store.buffer == r->from)
        return ir_store(r->p.to, ir_mutate_expr(m, s->store.value), shifted(m, r, s->store.indices), s->store.nidx);
    if (s == r->p.loop) {
        mlcc_stmt *body = ir_mutate_stmt(m, s->for_.body);
        return ir_for_update(s, s->for_.min, s->for_.extent, ir_allocate(r->p.to, body));
    }
    return NULL;
}

/* ---- the pass ---- */

static mlcc_stmt *compact_stmt(ir_mutator *m, mlcc_stmt *s) {
    if (s->kind != STMT_ALLOCATE) return NULL;
    mlcc_stmt *body = ir_mutate_stmt(m, s->alloc.body); /* inner allocations first */
    rewriter r = {s->alloc.buffer, {NULL, NULL, NULL}};
    if (!make_plan(s->alloc.buffer, body, &r.p)) return body == s->alloc.body ? s : ir_allocate(s->alloc.buffer, body);
    ir_mutator rw = {rewrite_expr, rewrite_stmt, NULL, &r};
    return ir_mutate_stmt(&rw, body); /* the allocation now lives in the loop's body */
}

mlcc_prim_func *tir_compact_buffers(const mlcc_prim_func *f) {
    ir_mutator m = {NULL, compact_stmt, NULL, NULL};
    mlcc_stmt *body = ir_mutate_stmt(&m, f->body);
    if (body == f->body) return (mlcc_prim_func *)f;
    mlcc_prim_func *out = prim_func_copy(f);
    out->body = body;
    return out;
}
