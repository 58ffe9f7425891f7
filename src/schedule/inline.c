/* inline.c - compute_inline and reverse_compute_inline (see schedule.h), after TVM's
 * tir/schedule/primitive/compute_inline.cc.
 *
 * Both need an injective block: spatial iter vars only, no init, a body that is one store.
 * compute_inline replaces every load of the producer's buffer by the stored expression;
 * reverse_compute_inline moves a consumer's computation into the store of its producer.
 * Beyond TVM's checks, both verify that moving a computation in program order does not make
 * it read a buffer at a time when another block has (or has not yet) written it: a block
 * writing such a buffer must lie wholly before or after the stretch the computation moves
 * across (judged on the function's top-level statements). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/functor.h"
#include "schedule/state.h"
#include "support/error.h"

typedef MLCC_VEC(mlcc_expr *) expr_vec;

/* Checks a block is injective and a single store; returns its store. */
static mlcc_stmt *injective_store(const mlcc_block *b, const char *prim, const char *role) {
    if (b->init) {
        mlcc_set_error("%s: %s '%s' is a reduction (it has an init)", prim, role, b->name);
        return NULL;
    }
    for (int i = 0; i < b->niters; i++)
        if (b->iters[i].type != ITER_SPATIAL) {
            mlcc_set_error("%s: %s '%s' is not injective: iter var '%s' is not spatial%s", prim, role, b->name,
                           b->iters[i].var->var.name, b->iters[i].type == ITER_REDUCE ? " (it is a reduction)" : "");
            return NULL;
        }
    if (b->nwrites != 1 || !b->body || b->body->kind != STMT_STORE || b->body->store.buffer != b->writes[0].buffer ||
        b->nalloc) {
        mlcc_set_error("%s: the body of %s '%s' is not a single store to the one buffer it writes", prim, role, b->name);
        return NULL;
    }
    return b->body;
}

/* Are the indices distinct iter vars of b covering all of them? Fills pos[d] = iter index. */
static int indices_are_iters(const mlcc_block *b, mlcc_expr **idx, int nidx, int *pos) {
    if (nidx != b->niters) return 0;
    for (int d = 0; d < nidx; d++) {
        pos[d] = -1;
        for (int i = 0; i < b->niters; i++)
            if (idx[d] == b->iters[i].var) pos[d] = i;
        if (pos[d] < 0) return 0;
        for (int e = 0; e < d; e++)
            if (pos[e] == pos[d]) return 0;
    }
    return 1;
}

/* Does the iter var at iters[pos[d]] range over the whole of dimension d of buf? */
static int covers_buffer(const mlcc_block *b, const int *pos, const mlcc_buffer *buf) {
    for (int d = 0; d < buf->ndim; d++) {
        const mlcc_iter_var *iv = &b->iters[pos[d]];
        if (!expr_is_int(iv->dom.min, 0) || !sch_expr_equal(iv->dom.extent, buf->shape[d])) return 0;
    }
    return 1;
}

typedef struct {
    expr_vec bufs;
} buffer_list;

static int collect_loaded(ir_visitor *v, mlcc_expr *e) {
    buffer_list *l = v->ctx;
    if (e->kind != EXPR_LOAD) return 1;
    for (size_t i = 0; i < l->bufs.len; i++)
        if ((void *)l->bufs.data[i] == (void *)e->load.buffer) return 1;
    vec_push(&l->bufs, (mlcc_expr *)(void *)e->load.buffer);
    return 1;
}

/* The buffers an expression loads (as an array of buffer pointers; caller frees). */
static mlcc_buffer **loaded_buffers(mlcc_expr *e, int *n) {
    buffer_list l = {{0}};
    ir_visitor v = {collect_loaded, NULL, &l};
    ir_visit_expr(&v, e);
    *n = (int)l.bufs.len;
    return (mlcc_buffer **)(void *)l.bufs.data;
}

/* A block other than `a` and `b`, placed (by top-level statement) within [lo, hi], that writes
 * (or, with reads_too, reads) buf; NULL if none. */
static const char *block_in_span(mlcc_schedule *s, mlcc_stmt **rs, int nr, const char *a, const char *b,
                                 const mlcc_buffer *buf, int reads_too, int lo, int hi) {
    for (int r = 0; r < nr; r++) {
        const mlcc_block *w = rs[r]->realize.block;
        if (!strcmp(w->name, a) || !strcmp(w->name, b)) continue;
        if (!sch_block_writes(w, buf) && !(reads_too && (sch_block_reads(w, buf) || sch_stmt_loads_buffer(rs[r], buf))))
            continue;
        int t = sch_top_index(s, w->name);
        if (t >= lo && t <= hi) return w->name;
    }
    return NULL;
}

/* ---- compute_inline ---- */

typedef struct {
    const mlcc_buffer *buf;   /* the inlined buffer */
    mlcc_expr *value;         /* what the producer stores */
    mlcc_expr **vars;         /* the producer's store index vars, per dimension */
    const mlcc_block *producer;
} inliner;

static mlcc_expr *inline_load_hook(ir_mutator *m, mlcc_expr *e) {
    inliner *in = m->ctx;
    if (e->kind != EXPR_LOAD || e->load.buffer != in->buf) return NULL;
    mlcc_expr **idx = ir_alloc(sizeof(mlcc_expr *) * (size_t)(e->load.nidx + 1));
    for (int d = 0; d < e->load.nidx; d++) idx[d] = ir_mutate_expr(m, e->load.indices[d]);
    return expr_substitute(in->value, in->vars, idx, e->load.nidx);
}

typedef struct {
    const mlcc_buffer *buf;
    MLCC_VEC(mlcc_expr **) tuples;
} load_tuples;

static int collect_tuple(ir_visitor *v, mlcc_expr *e) {
    load_tuples *t = v->ctx;
    if (e->kind != EXPR_LOAD || e->load.buffer != t->buf) return 1;
    for (size_t i = 0; i < t->tuples.len; i++) {
        int same = 1;
        for (int d = 0; d < e->load.nidx && same; d++) same = sch_expr_equal(t->tuples.data[i][d], e->load.indices[d]);
        if (same) return 1;
    }
    vec_push(&t->tuples, e->load.indices);
    return 1;
}

/* A consumer's read regions with the inlined buffer's replaced by the producer's reads at the
 * places the consumer loaded it. */
static void inline_regions(inliner *in, const mlcc_block *c, mlcc_region **out, int *nout) {
    load_tuples t = {in->buf, {0}};
    ir_visitor v = {collect_tuple, NULL, &t};
    ir_visit_stmt(&v, c->init);
    ir_visit_stmt(&v, c->body);
    const mlcc_block *p = in->producer;
    int cap = c->nreads + (int)t.tuples.len * p->nreads + 1;
    mlcc_region *rs = ir_alloc(sizeof(mlcc_region) * (size_t)cap);
    int n = 0;
    /* the producer's reads take the place of the inlined buffer's region */
    for (int i = 0; i < c->nreads; i++) {
        if (c->reads[i].buffer != in->buf) {
            rs[n++] = c->reads[i];
            continue;
        }
        for (size_t k = 0; k < t.tuples.len; k++)
            for (int j = 0; j < p->nreads; j++)
                rs[n++] = sch_region_substitute(p->reads[j], in->vars, t.tuples.data[k], in->buf->ndim);
        t.tuples.len = 0;
    }
    for (size_t k = 0; k < t.tuples.len; k++) /* loads the consumer did not declare */
        for (int j = 0; j < p->nreads; j++)
            rs[n++] = sch_region_substitute(p->reads[j], in->vars, t.tuples.data[k], in->buf->ndim);
    vec_free(&t.tuples);
    *nout = sch_merge_regions(rs, n, out);
}

static mlcc_stmt *inline_block_hook(ir_mutator *m, mlcc_stmt *st) {
    inliner *in = m->ctx;
    if (st->kind != STMT_BLOCK_REALIZE) return NULL;
    const mlcc_block *b = st->realize.block;
    if (!sch_block_reads(b, in->buf) && !sch_stmt_loads_buffer(st, in->buf)) return NULL;
    mlcc_region *reads;
    int nreads;
    inline_regions(in, b, &reads, &nreads);
    mlcc_stmt *r = ir_mutate_stmt_children(m, st);
    mlcc_block *nb = ir_block_copy(r->realize.block);
    nb->reads = reads;
    nb->nreads = nreads;
    return ir_block_realize(r->realize.iter_values, r->realize.predicate, nb);
}

int sch_compute_inline(mlcc_schedule *s, const char *name) {
    const char *prim = "compute_inline";
    sch_path p;
    if (!name || sch_find_block(s, name, &p)) return mlcc_set_error("%s: no block named '%s'", prim, name ? name : "(null)");
    const mlcc_block *b = p.nodes[p.n - 1]->realize.block;
    mlcc_stmt *store = injective_store(b, prim, "block");
    if (!store) return -1;
    const mlcc_buffer *x = store->store.buffer;
    int pos[16];
    if (x->ndim > 16 || !indices_are_iters(b, store->store.indices, store->store.nidx, pos))
        return mlcc_set_error("%s: block '%s' does not store to its buffer '%s' at exactly its iter vars", prim, name,
                              x->name);
    if (sch_is_param_buffer(s, x))
        return mlcc_set_error("%s: the buffer '%s' of block '%s' is an output of the function", prim, x->name, name);
    if (!covers_buffer(b, pos, x))
        return mlcc_set_error("%s: block '%s' does not write the whole of buffer '%s'", prim, name, x->name);
    mlcc_expr *value = store->store.value;
    mlcc_expr *foreign = sch_foreign_var(s, value, store->store.indices, store->store.nidx);
    if (foreign)
        return mlcc_set_error("%s: the value block '%s' stores uses '%s', which is not one of its iter vars", prim, name,
                              foreign->var.name);
    if (sch_expr_loads_buffer(value, x))
        return mlcc_set_error("%s: block '%s' reads the buffer '%s' it writes", prim, name, x->name);

    mlcc_stmt **rs;
    int nr = sch_collect_realizes(s->func->body, 0, &rs);
    int top_b = sch_top_index(s, name), last_use = top_b, seen_b = 0;
    for (int r = 0; r < nr; r++) {
        const mlcc_block *w = rs[r]->realize.block;
        if (w == b) {
            seen_b = 1;
            continue;
        }
        if (!seen_b && sch_stmt_loads_buffer(rs[r], x))
            return mlcc_set_error("%s: block '%s' reads '%s' before block '%s' writes it", prim, w->name, x->name, name);
        if (sch_block_writes(w, x))
            return mlcc_set_error("%s: buffer '%s' of block '%s' is also written by block '%s'", prim, x->name, name, w->name);
        if (sch_stmt_loads_buffer(rs[r], x)) {
            int t = sch_top_index(s, w->name);
            if (t > last_use) last_use = t;
        }
    }
    /* the inlined value must read the same data at its new places */
    int nload;
    mlcc_buffer **loads = loaded_buffers(value, &nload);
    for (int i = 0; i < nload; i++) {
        const char *w = block_in_span(s, rs, nr, name, name, loads[i], 0, top_b, last_use);
        if (w) {
            mlcc_set_error("%s: block '%s' reads '%s', which block '%s' writes between it and its consumers", prim,
                           name, loads[i]->name, w);
            free(loads);
            return -1;
        }
    }
    free(loads);

    const char *brv = sch_block_rv(s, name);
    mlcc_expr **vars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(x->ndim + 1));
    for (int d = 0; d < x->ndim; d++) vars[d] = store->store.indices[d];
    inliner in = {x, value, vars, b};
    ir_mutator m = {inline_load_hook, inline_block_hook, NULL, &in};
    mlcc_stmt *body = ir_mutate_stmt(&m, s->func->body);
    /* remove the producer (its realize is untouched by the rewrite: it does not load x) */
    mlcc_stmt *saved = s->func->body;
    s->func->body = body;
    if (sch_find_block(s, name, &p)) {
        s->func->body = saved;
        return mlcc_set_error("%s: internal error: block '%s' vanished", prim, name);
    }
    body = sch_path_replace(&p, NULL);
    body = sch_remove_alloc(s, body, x);
    sch_commit(s, body);
    char line[256];
    snprintf(line, sizeof line, "sch.compute_inline(%s)", brv);
    sch_record(s, line);
    return 0;
}

/* ---- reverse_compute_inline ---- */

typedef struct {
    const mlcc_buffer *buf;
    mlcc_expr *value;
} load_replacer;

static mlcc_expr *replace_load_hook(ir_mutator *m, mlcc_expr *e) {
    load_replacer *lr = m->ctx;
    if (e->kind == EXPR_LOAD && e->load.buffer == lr->buf) return lr->value;
    return NULL;
}

/* The index of the realize writing buf (the only one), or -1; *count tells how many. */
static int writer_of(mlcc_stmt **rs, int nr, const mlcc_buffer *buf, int *count) {
    int found = -1;
    *count = 0;
    for (int r = 0; r < nr; r++)
        if (sch_block_writes(rs[r]->realize.block, buf)) {
            found = r;
            (*count)++;
        }
    return found;
}

int sch_reverse_compute_inline(mlcc_schedule *s, const char *name) {
    const char *prim = "reverse_compute_inline";
    sch_path p;
    if (!name || sch_find_block(s, name, &p)) return mlcc_set_error("%s: no block named '%s'", prim, name ? name : "(null)");
    const mlcc_block *c = p.nodes[p.n - 1]->realize.block;
    mlcc_stmt *store = injective_store(c, prim, "block");
    if (!store) return -1;
    const mlcc_buffer *y = store->store.buffer;
    mlcc_stmt **rs;
    int nr = sch_collect_realizes(s->func->body, 0, &rs);

    /* the buffer to inline through: of the buffers c loads, the one produced last */
    int nload;
    mlcc_buffer **loads = loaded_buffers(store->store.value, &nload);
    int prod = -1, at = 0;
    while (at < nr && rs[at]->realize.block != c) at++;
    const mlcc_buffer *x = NULL;
    for (int i = 0; i < nload; i++) {
        int count, w = writer_of(rs, nr, loads[i], &count);
        if (w >= 0 && w < at && w > prod) prod = w, x = loads[i];
    }
    int rc = 0;
    if (!x) rc = mlcc_set_error("%s: block '%s' reads no buffer produced by another block", prim, name);
    int count = 0;
    if (!rc) writer_of(rs, nr, x, &count);
    if (!rc && count != 1)
        rc = mlcc_set_error("%s: buffer '%s' read by block '%s' has %d writers", prim, x->name, name, count);
    if (rc) {
        free(loads);
        return -1;
    }
    const mlcc_block *pb = rs[prod]->realize.block;
    /* every load of x in c is at the same indices: exactly c's iter vars */
    load_tuples t = {x, {0}};
    ir_visitor v = {collect_tuple, NULL, &t};
    ir_visit_expr(&v, store->store.value);
    int pos[16];
    int ok = t.tuples.len == 1 && x->ndim <= 16 && indices_are_iters(c, t.tuples.data[0], x->ndim, pos);
    mlcc_expr **cvars = ok ? t.tuples.data[0] : NULL;
    vec_free(&t.tuples);
    if (!ok) rc = mlcc_set_error("%s: block '%s' does not load '%s' at exactly its iter vars", prim, name, x->name);
    else if (!covers_buffer(c, pos, x))
        rc = mlcc_set_error("%s: block '%s' does not read the whole of buffer '%s'", prim, name, x->name);
    else if (sch_is_param_buffer(s, x))
        rc = mlcc_set_error("%s: the buffer '%s' that block '%s' reads is a parameter of the function", prim, x->name, name);
    for (int r = 0; !rc && r < nr; r++) {
        const mlcc_block *o = rs[r]->realize.block;
        if (o != c && o != pb && (sch_block_reads(o, x) || sch_stmt_loads_buffer(rs[r], x)))
            rc = mlcc_set_error("%s: buffer '%s' is also read by block '%s'", prim, x->name, o->name);
    }
    mlcc_expr *foreign = NULL;
    if (!rc) foreign = sch_foreign_var(s, store->store.value, c->niters ? cvars : NULL, c->niters);
    for (int d = 0; !rc && !foreign && d < store->store.nidx; d++)
        foreign = sch_foreign_var(s, store->store.indices[d], cvars, c->niters);
    if (!rc && foreign)
        rc = mlcc_set_error("%s: block '%s' uses '%s', which is not one of its iter vars", prim, name, foreign->var.name);
    mlcc_stmt *pstore = NULL;
    if (!rc) pstore = injective_store(pb, prim, "producer");
    if (!rc && !pstore) rc = -1;
    if (!rc && sch_expr_loads_buffer(pstore->store.value, x))
        rc = mlcc_set_error("%s: producer '%s' reads the buffer '%s' it writes", prim, pb->name, x->name);
    int ppos[16];
    if (!rc && (!indices_are_iters(pb, pstore->store.indices, pstore->store.nidx, ppos) || !covers_buffer(pb, ppos, x)))
        rc = mlcc_set_error("%s: producer '%s' does not write the whole of buffer '%s' once per element", prim,
                            pb->name, x->name);
    if (!rc && sch_expr_loads_buffer(store->store.value, y))
        rc = mlcc_set_error("%s: block '%s' reads the buffer '%s' it writes", prim, name, y->name);
    /* c's computation moves up to the producer: what it reads and writes must not change hands
     * between the two */
    int top_p = sch_top_index(s, pb->name), top_c = sch_top_index(s, name);
    for (int i = 0; !rc && i < nload; i++) {
        if (loads[i] == x) continue;
        const char *w = block_in_span(s, rs, nr, name, pb->name, loads[i], 0, top_p, top_c);
        if (w) rc = mlcc_set_error("%s: block '%s' reads '%s', which block '%s' writes between '%s' and it", prim,
                                   name, loads[i]->name, w, pb->name);
    }
    if (!rc) {
        const char *w = block_in_span(s, rs, nr, name, pb->name, y, 1, top_p, top_c);
        if (w) rc = mlcc_set_error("%s: block '%s' writes '%s', which block '%s' uses between '%s' and it", prim, name,
                                   y->name, w, pb->name);
        if (!rc && sch_expr_loads_buffer(pstore->store.value, y))
            rc = mlcc_set_error("%s: producer '%s' reads '%s', which block '%s' writes", prim, pb->name, y->name, name);
    }
    free(loads);
    if (rc) return -1;
    const char *brv = sch_block_rv(s, name);

    /* c's iter vars take the producer's store indices; loads of x become the stored value */
    mlcc_expr **vals = pstore->store.indices;
    int nv = x->ndim;
    mlcc_expr *value = expr_substitute(store->store.value, cvars, vals, nv);
    load_replacer lr = {x, pstore->store.value};
    ir_mutator m = {replace_load_hook, NULL, NULL, &lr};
    value = ir_mutate_expr(&m, value);
    mlcc_expr **idx = ir_alloc(sizeof(mlcc_expr *) * (size_t)(store->store.nidx + 1));
    for (int d = 0; d < store->store.nidx; d++) idx[d] = expr_substitute(store->store.indices[d], cvars, vals, nv);
    mlcc_block *nb = ir_block_copy(pb);
    nb->body = ir_store((mlcc_buffer *)y, value, idx, store->store.nidx);
    nb->writes = ir_alloc(sizeof(mlcc_region));
    nb->writes[0] = sch_region_substitute(c->writes[0], cvars, vals, nv);
    mlcc_region *reads = ir_alloc(sizeof(mlcc_region) * (size_t)(pb->nreads + c->nreads + 1));
    int n = 0;
    for (int i = 0; i < pb->nreads; i++) reads[n++] = pb->reads[i];
    for (int i = 0; i < c->nreads; i++)
        if (c->reads[i].buffer != x) reads[n++] = sch_region_substitute(c->reads[i], cvars, vals, nv);
    nb->nreads = sch_merge_regions(reads, n, &nb->reads);

    sch_path pp;
    sch_find_block(s, pb->name, &pp);
    mlcc_stmt *old = pp.nodes[pp.n - 1];
    mlcc_stmt *saved = s->func->body;
    s->func->body = sch_path_replace(&pp, ir_block_realize(old->realize.iter_values, old->realize.predicate, nb));
    if (sch_find_block(s, name, &p)) {
        s->func->body = saved;
        return mlcc_set_error("%s: internal error: block '%s' vanished", prim, name);
    }
    mlcc_stmt *body = sch_path_replace(&p, NULL);
    body = sch_remove_alloc(s, body, x);
    sch_commit(s, body);
    char line[256];
    snprintf(line, sizeof line, "sch.reverse_compute_inline(%s)", brv);
    sch_record(s, line);
    return 0;
}
