/* functor.c - generic traversal and rewriting of TensorIR (see functor.h). */
#include "ir/functor.h"

#include <string.h>

#include "support/alloc.h"
#include "support/hashmap.h"

/* ---- visitor ---- */

static void visit_region(ir_visitor *v, mlcc_region *r) {
    for (int d = 0; d < r->buffer->ndim; d++) {
        ir_visit_expr(v, r->ranges[d].min);
        ir_visit_expr(v, r->ranges[d].extent);
    }
}

void ir_visit_expr(ir_visitor *v, mlcc_expr *e) {
    if (!e) return;
    if (v->expr && !v->expr(v, e)) return;
    switch (e->kind) {
    case EXPR_INT:
    case EXPR_FLOAT:
    case EXPR_VAR: break;
    case EXPR_NOT:
    case EXPR_CAST: ir_visit_expr(v, e->un.a); break;
    case EXPR_SELECT:
        ir_visit_expr(v, e->select.cond);
        ir_visit_expr(v, e->select.t);
        ir_visit_expr(v, e->select.f);
        break;
    case EXPR_CALL:
        for (int i = 0; i < e->call.nargs; i++) ir_visit_expr(v, e->call.args[i]);
        break;
    case EXPR_LOAD:
        for (int i = 0; i < e->load.nidx; i++) ir_visit_expr(v, e->load.indices[i]);
        break;
    case EXPR_RAMP:
        ir_visit_expr(v, e->ramp.base);
        ir_visit_expr(v, e->ramp.stride);
        break;
    case EXPR_BROADCAST: ir_visit_expr(v, e->broadcast.value); break;
    default:
        ir_visit_expr(v, e->bin.a);
        ir_visit_expr(v, e->bin.b);
        break;
    }
}

void ir_visit_stmt(ir_visitor *v, mlcc_stmt *s) {
    if (!s) return;
    if (v->stmt && !v->stmt(v, s)) return;
    switch (s->kind) {
    case STMT_FOR:
        ir_visit_expr(v, s->for_.min);
        ir_visit_expr(v, s->for_.extent);
        ir_visit_stmt(v, s->for_.body);
        break;
    case STMT_BLOCK_REALIZE: {
        mlcc_block *b = s->realize.block;
        for (int i = 0; i < b->niters; i++) {
            ir_visit_expr(v, s->realize.iter_values[i]);
            ir_visit_expr(v, b->iters[i].dom.min);
            ir_visit_expr(v, b->iters[i].dom.extent);
        }
        ir_visit_expr(v, s->realize.predicate);
        for (int i = 0; i < b->nreads; i++) visit_region(v, &b->reads[i]);
        for (int i = 0; i < b->nwrites; i++) visit_region(v, &b->writes[i]);
        ir_visit_stmt(v, b->init);
        ir_visit_stmt(v, b->body);
        break;
    }
    case STMT_STORE:
        for (int i = 0; i < s->store.nidx; i++) ir_visit_expr(v, s->store.indices[i]);
        ir_visit_expr(v, s->store.value);
        break;
    case STMT_ALLOCATE: ir_visit_stmt(v, s->alloc.body); break;
    case STMT_IF:
        ir_visit_expr(v, s->if_.cond);
        ir_visit_stmt(v, s->if_.then_);
        ir_visit_stmt(v, s->if_.else_);
        break;
    case STMT_SEQ:
        for (int i = 0; i < s->seq.n; i++) ir_visit_stmt(v, s->seq.stmts[i]);
        break;
    case STMT_EVALUATE: ir_visit_expr(v, s->eval.value); break;
    }
}

/* ---- mutator ---- */

mlcc_buffer *ir_mutate_buffer(ir_mutator *m, mlcc_buffer *b) {
    if (!m->buffer) return b;
    mlcc_buffer *r = m->buffer(m, b);
    return r ? r : b;
}

mlcc_expr *ir_mutate_expr(ir_mutator *m, mlcc_expr *e) {
    if (!e) return NULL;
    if (m->expr) {
        mlcc_expr *r = m->expr(m, e);
        if (r) return r;
    }
    return ir_mutate_expr_children(m, e);
}

/* Mutates an array of expressions; returns the original array when nothing changed. */
static mlcc_expr **mutate_array(ir_mutator *m, mlcc_expr **xs, int n, int *changed) {
    mlcc_expr **out = NULL;
    for (int i = 0; i < n; i++) {
        mlcc_expr *x = ir_mutate_expr(m, xs[i]);
        if (x != xs[i] && !out) {
            out = ir_alloc(sizeof(mlcc_expr *) * (size_t)n);
            mlcc_memcpy(out, xs, sizeof(mlcc_expr *) * (size_t)i);
        }
        if (out) out[i] = x;
    }
    if (out) *changed = 1;
    return out ? out : xs;
}

mlcc_expr *ir_mutate_expr_children(ir_mutator *m, mlcc_expr *e) {
    switch (e->kind) {
    case EXPR_INT:
    case EXPR_FLOAT:
    case EXPR_VAR: return e;
    case EXPR_NOT: {
        mlcc_expr *a = ir_mutate_expr(m, e->un.a);
        return a == e->un.a ? e : ir_not(a);
    }
    case EXPR_CAST: {
        mlcc_expr *a = ir_mutate_expr(m, e->un.a);
        return a == e->un.a ? e : ir_cast(e->dtype, a);
    }
    case EXPR_SELECT: {
        mlcc_expr *c = ir_mutate_expr(m, e->select.cond), *t = ir_mutate_expr(m, e->select.t),
                  *f = ir_mutate_expr(m, e->select.f);
        if (c == e->select.cond && t == e->select.t && f == e->select.f) return e;
        return ir_select(c, t, f);
    }
    case EXPR_CALL: {
        int changed = 0;
        mlcc_expr **args = mutate_array(m, e->call.args, e->call.nargs, &changed);
        return changed ? ir_call(e->dtype, e->call.op, args, e->call.nargs) : e;
    }
    case EXPR_LOAD: {
        int changed = 0;
        mlcc_expr **idx = mutate_array(m, e->load.indices, e->load.nidx, &changed);
        mlcc_buffer *buf = ir_mutate_buffer(m, e->load.buffer);
        if (!changed && buf == e->load.buffer) return e;
        return ir_load(buf, idx, e->load.nidx);
    }
    case EXPR_RAMP: {
        mlcc_expr *b = ir_mutate_expr(m, e->ramp.base), *s = ir_mutate_expr(m, e->ramp.stride);
        if (b == e->ramp.base && s == e->ramp.stride) return e;
        return ir_ramp(b, s, e->dtype.lanes);
    }
    case EXPR_BROADCAST: {
        mlcc_expr *v = ir_mutate_expr(m, e->broadcast.value);
        return v == e->broadcast.value ? e : ir_broadcast(v, e->dtype.lanes);
    }
    default: {
        mlcc_expr *a = ir_mutate_expr(m, e->bin.a), *b = ir_mutate_expr(m, e->bin.b);
        if (a == e->bin.a && b == e->bin.b) return e;
        return ir_binary(e->kind, a, b);
    }
    }
}

static mlcc_region mutate_region(ir_mutator *m, mlcc_region r, int *changed) {
    mlcc_region out = r;
    mlcc_buffer *buf = ir_mutate_buffer(m, r.buffer);
    int local = buf != r.buffer;
    mlcc_range *ranges = ir_alloc(sizeof(mlcc_range) * (size_t)(r.buffer->ndim + 1));
    for (int d = 0; d < r.buffer->ndim; d++) {
        ranges[d].min = ir_mutate_expr(m, r.ranges[d].min);
        ranges[d].extent = ir_mutate_expr(m, r.ranges[d].extent);
        if (ranges[d].min != r.ranges[d].min || ranges[d].extent != r.ranges[d].extent) local = 1;
    }
    if (local) {
        out.buffer = buf;
        out.ranges = ranges;
        *changed = 1;
    }
    return out;
}

mlcc_block *ir_mutate_block(ir_mutator *m, mlcc_block *b) {
    int changed = 0;
    mlcc_block *nb = ir_block_copy(b);
    for (int i = 0; i < b->niters; i++) {
        nb->iters[i].dom.min = ir_mutate_expr(m, b->iters[i].dom.min);
        nb->iters[i].dom.extent = ir_mutate_expr(m, b->iters[i].dom.extent);
        if (nb->iters[i].dom.min != b->iters[i].dom.min ||
            nb->iters[i].dom.extent != b->iters[i].dom.extent)
            changed = 1;
    }
    for (int i = 0; i < b->nreads; i++) nb->reads[i] = mutate_region(m, b->reads[i], &changed);
    for (int i = 0; i < b->nwrites; i++) nb->writes[i] = mutate_region(m, b->writes[i], &changed);
    for (int i = 0; i < b->nalloc; i++) {
        nb->alloc_buffers[i] = ir_mutate_buffer(m, b->alloc_buffers[i]);
        if (nb->alloc_buffers[i] != b->alloc_buffers[i]) changed = 1;
    }
    nb->init = b->init ? ir_mutate_stmt(m, b->init) : NULL;
    nb->body = ir_mutate_stmt(m, b->body);
    if (nb->init != b->init || nb->body != b->body) changed = 1;
    return changed ? nb : b;
}

mlcc_stmt *ir_mutate_stmt(ir_mutator *m, mlcc_stmt *s) {
    if (!s) return NULL;
    if (m->stmt) {
        mlcc_stmt *r = m->stmt(m, s);
        if (r) return r;
    }
    return ir_mutate_stmt_children(m, s);
}

mlcc_stmt *ir_mutate_stmt_children(ir_mutator *m, mlcc_stmt *s) {
    switch (s->kind) {
    case STMT_FOR: {
        mlcc_expr *min = ir_mutate_expr(m, s->for_.min), *ext = ir_mutate_expr(m, s->for_.extent);
        return ir_for_update(s, min, ext, ir_mutate_stmt(m, s->for_.body));
    }
    case STMT_BLOCK_REALIZE: {
        int changed = 0;
        mlcc_expr **vals = mutate_array(m, s->realize.iter_values, s->realize.block->niters, &changed);
        mlcc_expr *pred = ir_mutate_expr(m, s->realize.predicate);
        mlcc_block *b = ir_mutate_block(m, s->realize.block);
        if (!changed && pred == s->realize.predicate && b == s->realize.block) return s;
        return ir_block_realize(vals, pred, b);
    }
    case STMT_STORE: {
        int changed = 0;
        mlcc_expr **idx = mutate_array(m, s->store.indices, s->store.nidx, &changed);
        mlcc_expr *val = ir_mutate_expr(m, s->store.value);
        mlcc_buffer *buf = ir_mutate_buffer(m, s->store.buffer);
        if (!changed && val == s->store.value && buf == s->store.buffer) return s;
        return ir_store(buf, val, idx, s->store.nidx);
    }
    case STMT_ALLOCATE: {
        mlcc_buffer *buf = ir_mutate_buffer(m, s->alloc.buffer);
        mlcc_stmt *body = ir_mutate_stmt(m, s->alloc.body);
        if (buf == s->alloc.buffer && body == s->alloc.body) return s;
        return ir_allocate(buf, body);
    }
    case STMT_IF: {
        mlcc_expr *c = ir_mutate_expr(m, s->if_.cond);
        mlcc_stmt *t = ir_mutate_stmt(m, s->if_.then_), *e = ir_mutate_stmt(m, s->if_.else_);
        if (c == s->if_.cond && t == s->if_.then_ && e == s->if_.else_) return s;
        return ir_if(c, t, e);
    }
    case STMT_SEQ: {
        mlcc_stmt **out = NULL;
        for (int i = 0; i < s->seq.n; i++) {
            mlcc_stmt *x = ir_mutate_stmt(m, s->seq.stmts[i]);
            if (x != s->seq.stmts[i] && !out) {
                out = ir_alloc(sizeof(mlcc_stmt *) * (size_t)s->seq.n);
                mlcc_memcpy(out, s->seq.stmts, sizeof(mlcc_stmt *) * (size_t)i);
            }
            if (out) out[i] = x;
        }
        return out ? ir_seq(out, s->seq.n) : s;
    }
    case STMT_EVALUATE: {
        mlcc_expr *v = ir_mutate_expr(m, s->eval.value);
        return v == s->eval.value ? s : ir_evaluate(v);
    }
    }
    return s;
}

/* ---- substitution ---- */

static mlcc_expr *subst_expr_hook(ir_mutator *m, mlcc_expr *e) {
    if (e->kind != EXPR_VAR) return NULL;
    mlcc_expr *r = u64map_get_p(m->ctx, e);
    return r ? r : e;
}

static void build_subst_map(mlcc_u64map *map, mlcc_expr **vars, mlcc_expr **values, int n) {
    u64map_init(map);
    for (int i = 0; i < n; i++) u64map_set_p(map, vars[i], values[i]);
}

mlcc_expr *expr_substitute(mlcc_expr *e, mlcc_expr **vars, mlcc_expr **values, int n) {
    mlcc_u64map map;
    build_subst_map(&map, vars, values, n);
    ir_mutator m = {subst_expr_hook, NULL, NULL, &map};
    mlcc_expr *r = ir_mutate_expr(&m, e);
    u64map_free(&map);
    return r;
}

mlcc_stmt *stmt_substitute(mlcc_stmt *s, mlcc_expr **vars, mlcc_expr **values, int n) {
    mlcc_u64map map;
    build_subst_map(&map, vars, values, n);
    ir_mutator m = {subst_expr_hook, NULL, NULL, &map};
    mlcc_stmt *r = ir_mutate_stmt(&m, s);
    u64map_free(&map);
    return r;
}

static mlcc_buffer *replace_buffer_hook(ir_mutator *m, mlcc_buffer *b) {
    return u64map_get_p(m->ctx, b);
}

mlcc_stmt *stmt_replace_buffers(mlcc_stmt *s, mlcc_buffer **from, mlcc_buffer **to, int n) {
    mlcc_u64map map;
    u64map_init(&map);
    for (int i = 0; i < n; i++) u64map_set_p(&map, from[i], to[i]);
    ir_mutator m = {NULL, NULL, replace_buffer_hook, &map};
    mlcc_stmt *r = ir_mutate_stmt(&m, s);
    u64map_free(&map);
    return r;
}

/* ---- queries ---- */

typedef struct {
    const mlcc_expr *var;
    int found;
} find_ctx;

static int find_var_hook(ir_visitor *v, mlcc_expr *e) {
    find_ctx *c = v->ctx;
    if (c->found) return 0;
    if (e == c->var) c->found = 1;
    return !c->found;
}

int expr_uses_var(const mlcc_expr *e, const mlcc_expr *var) {
    find_ctx c = {var, 0};
    ir_visitor v = {find_var_hook, NULL, &c};
    ir_visit_expr(&v, (mlcc_expr *)e);
    return c.found;
}

int stmt_uses_var(mlcc_stmt *s, const mlcc_expr *var) {
    find_ctx c = {var, 0};
    ir_visitor v = {find_var_hook, NULL, &c};
    ir_visit_stmt(&v, s);
    return c.found;
}

static int find_load_hook(ir_visitor *v, mlcc_expr *e) {
    find_ctx *c = v->ctx;
    if (e->kind == EXPR_LOAD) c->found = 1;
    return !c->found;
}

int expr_has_load(const mlcc_expr *e) {
    find_ctx c = {NULL, 0};
    ir_visitor v = {find_load_hook, NULL, &c};
    ir_visit_expr(&v, (mlcc_expr *)e);
    return c.found;
}
