/* structural.c - structural equality and hashing through a canonical serialization
 * (see structural.h). The serialization is injective on structure: every node writes its kind,
 * its dtype and its fields in a fixed order, variable-length lists write their length, and
 * vars/buffers write their first-appearance number (plus, at first appearance, their type). */
#include "ir/structural.h"

#include <stdlib.h>
#include <string.h>

#include "support/hashmap.h"
#include "support/strbuf.h"

typedef struct canon {
    mlcc_strbuf out;
    mlcc_u64map ids; /* var/buffer pointer -> number */
    int64_t next_id;
} canon;

static void put_expr(canon *c, const mlcc_expr *e);
static void put_stmt(canon *c, const mlcc_stmt *s);

static void put_dtype(canon *c, mlcc_dtype t) {
    sb_printf(&c->out, "%u.%u.%u;", t.code, t.bits, t.lanes);
}

/* Writes the node's number; returns 1 when this is its first appearance. */
static int put_ref(canon *c, const void *node, char tag) {
    int inserted;
    mlcc_u64map_entry *e = u64map_upsert(&c->ids, (uint64_t)(uintptr_t)node, &inserted);
    if (inserted) e->value.i = c->next_id++;
    sb_printf(&c->out, "%c%lld%s", tag, (long long)e->value.i, inserted ? "!" : ";");
    return inserted;
}

static void put_buffer(canon *c, const mlcc_buffer *b) {
    if (!put_ref(c, b, 'B')) return;
    put_dtype(c, b->dtype);
    sb_printf(&c->out, "%s,%d[", b->scope, b->ndim);
    for (int i = 0; i < b->ndim; i++) put_expr(c, b->shape[i]);
    sb_append_char(&c->out, ']');
    if (b->align)
        for (int i = 0; i < b->ndim; i++)
            sb_printf(&c->out, "a%lld,%lld;", (long long)b->align[i].factor, (long long)b->align[i].offset);
}

static void put_exprs(canon *c, mlcc_expr **xs, int n) {
    sb_printf(&c->out, "(%d", n);
    for (int i = 0; i < n; i++) put_expr(c, xs[i]);
    sb_append_char(&c->out, ')');
}

static void put_expr(canon *c, const mlcc_expr *e) {
    sb_printf(&c->out, "e%d:", e->kind);
    put_dtype(c, e->dtype);
    switch (e->kind) {
    case EXPR_INT: sb_printf(&c->out, "%lld;", (long long)e->int_value); return;
    case EXPR_FLOAT: sb_printf(&c->out, "%a;", e->float_value); return;
    case EXPR_VAR:
        if (put_ref(c, e, 'V')) sb_printf(&c->out, "%d;", e->var.flags);
        return;
    case EXPR_NOT:
    case EXPR_CAST: put_expr(c, e->un.a); return;
    case EXPR_SELECT:
        put_expr(c, e->select.cond);
        put_expr(c, e->select.t);
        put_expr(c, e->select.f);
        return;
    case EXPR_CALL:
        sb_printf(&c->out, "%s", e->call.op);
        put_exprs(c, e->call.args, e->call.nargs);
        return;
    case EXPR_LOAD:
        put_buffer(c, e->load.buffer);
        put_exprs(c, e->load.indices, e->load.nidx);
        return;
    case EXPR_RAMP:
        put_expr(c, e->ramp.base);
        put_expr(c, e->ramp.stride);
        return;
    case EXPR_BROADCAST: put_expr(c, e->broadcast.value); return;
    default:
        put_expr(c, e->bin.a);
        put_expr(c, e->bin.b);
        return;
    }
}

static void put_annotations(canon *c, const mlcc_annotation *a, int n) {
    sb_printf(&c->out, "A%d{", n);
    for (int i = 0; i < n; i++) {
        sb_printf(&c->out, "%s=", a[i].key);
        put_expr(c, a[i].value);
    }
    sb_append_char(&c->out, '}');
}

static void put_region(canon *c, const mlcc_region *r) {
    put_buffer(c, r->buffer);
    sb_printf(&c->out, "w%d", r->whole);
    for (int d = 0; d < r->buffer->ndim; d++) {
        put_expr(c, r->ranges[d].min);
        put_expr(c, r->ranges[d].extent);
    }
}

static void put_block(canon *c, const mlcc_block *b) {
    sb_printf(&c->out, "blk\"%s\"%d", b->name, b->niters);
    for (int i = 0; i < b->niters; i++) {
        put_expr(c, b->iters[i].var);
        sb_printf(&c->out, "t%d", b->iters[i].type);
        put_expr(c, b->iters[i].dom.min);
        put_expr(c, b->iters[i].dom.extent);
    }
    sb_printf(&c->out, "R%d", b->nreads);
    for (int i = 0; i < b->nreads; i++) put_region(c, &b->reads[i]);
    sb_printf(&c->out, "W%d", b->nwrites);
    for (int i = 0; i < b->nwrites; i++) put_region(c, &b->writes[i]);
    sb_printf(&c->out, "M%d", b->nalloc);
    for (int i = 0; i < b->nalloc; i++) put_buffer(c, b->alloc_buffers[i]);
    put_annotations(c, b->annotations, b->nannotations);
    sb_append(&c->out, "I");
    put_stmt(c, b->init);
    sb_append(&c->out, "D");
    put_stmt(c, b->body);
}

static void put_stmt(canon *c, const mlcc_stmt *s) {
    if (!s) {
        sb_append(&c->out, "s-;");
        return;
    }
    sb_printf(&c->out, "s%d:", s->kind);
    switch (s->kind) {
    case STMT_FOR:
        put_expr(c, s->for_.var);
        put_expr(c, s->for_.min);
        put_expr(c, s->for_.extent);
        sb_printf(&c->out, "k%d%s;", s->for_.kind, s->for_.thread_tag ? s->for_.thread_tag : "");
        put_annotations(c, s->for_.annotations, s->for_.nannotations);
        put_stmt(c, s->for_.body);
        return;
    case STMT_BLOCK_REALIZE:
        put_exprs(c, s->realize.iter_values, s->realize.block->niters);
        put_expr(c, s->realize.predicate);
        put_block(c, s->realize.block);
        return;
    case STMT_STORE:
        put_buffer(c, s->store.buffer);
        put_exprs(c, s->store.indices, s->store.nidx);
        put_expr(c, s->store.value);
        return;
    case STMT_ALLOCATE:
        put_buffer(c, s->alloc.buffer);
        put_stmt(c, s->alloc.body);
        return;
    case STMT_IF:
        put_expr(c, s->if_.cond);
        put_stmt(c, s->if_.then_);
        put_stmt(c, s->if_.else_);
        return;
    case STMT_SEQ:
        sb_printf(&c->out, "%d", s->seq.n);
        for (int i = 0; i < s->seq.n; i++) put_stmt(c, s->seq.stmts[i]);
        return;
    case STMT_EVALUATE: put_expr(c, s->eval.value); return;
    }
}

static void canon_init(canon *c) {
    memset(c, 0, sizeof *c);
    u64map_init(&c->ids);
}

static char *canon_finish(canon *c) {
    u64map_free(&c->ids);
    return sb_detach(&c->out);
}

char *tir_canonical_form(const mlcc_prim_func *f) {
    canon c;
    canon_init(&c);
    sb_printf(&c.out, "func%d", f->nparams);
    for (int i = 0; i < f->nparams; i++) {
        put_expr(&c, f->params[i].var);
        if (f->params[i].buffer) put_buffer(&c, f->params[i].buffer);
        else sb_append(&c.out, "scalar;");
    }
    sb_printf(&c.out, "M%d", f->nalloc);
    for (int i = 0; i < f->nalloc; i++) put_buffer(&c, f->alloc_buffers[i]);
    put_annotations(&c, f->attrs, f->nattrs);
    put_stmt(&c, f->body);
    return canon_finish(&c);
}

/* Both canonical forms are consumed (freed). */
static int canon_equal(char *x, char *y) {
    int eq = strcmp(x, y) == 0;
    free(x);
    free(y);
    return eq;
}

static uint64_t canon_hash(char *x) {
    uint64_t h = mlcc_hash_bytes(x, strlen(x));
    free(x);
    return h;
}

int tir_structural_equal(const mlcc_prim_func *a, const mlcc_prim_func *b) {
    return canon_equal(tir_canonical_form(a), tir_canonical_form(b));
}

uint64_t tir_structural_hash(const mlcc_prim_func *f) {
    return canon_hash(tir_canonical_form(f));
}

static char *expr_canon(const mlcc_expr *e) {
    canon c;
    canon_init(&c);
    put_expr(&c, e);
    return canon_finish(&c);
}

int tir_expr_structural_equal(const mlcc_expr *a, const mlcc_expr *b) {
    return canon_equal(expr_canon(a), expr_canon(b));
}

uint64_t tir_expr_structural_hash(const mlcc_expr *e) {
    return canon_hash(expr_canon(e));
}
