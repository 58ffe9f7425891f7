/* cache_rw.c - cache_read and cache_write (see schedule.h), after TVM's
 * tir/schedule/primitive/cache_read_write.cc.
 *
 * Both add a buffer of the given storage scope, shaped like the one cached, and a copy block
 * over its whole shape, named after the new buffer ("A_local"). cache_read makes one block read
 * the copy: the copy goes right before the function-level statement that holds the block, and
 * nothing in that statement may write the buffer (the copy must see what the block would have
 * read). cache_write makes a block write (and, for a reduction, read back) the copy, which is
 * copied out right after the block's statement; the block must be the buffer's only writer and
 * nothing else in that statement may read it. The whole-buffer copies are the starting point:
 * compute_at / reverse_compute_at then move them under a tile's loop, which narrows them to the
 * tile. Only blocks of the function's own scope (not nested in another block) are handled. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/functor.h"
#include "schedule/state.h"
#include "support/error.h"

static int valid_scope(const char *scope) {
    return scope && (!strcmp(scope, "global") || !strcmp(scope, "local") || !strcmp(scope, "shared"));
}

/* A block name not taken yet: base, base_1, base_2, ... (interned). */
static const char *fresh_block_name(mlcc_schedule *s, const char *base) {
    char name[300];
    snprintf(name, sizeof name, "%s", base);
    for (int k = 1;; k++) {
        sch_path p;
        if (sch_find_block(s, name, &p)) return mlcc_intern(name);
        snprintf(name, sizeof name, "%s_%d", base, k);
    }
}

/* The copy dst[v] = src[v] over the whole shape, as loops ax0.. over one block. */
static mlcc_stmt *copy_nest(const char *name, mlcc_buffer *src, mlcc_buffer *dst) {
    int nd = src->ndim;
    mlcc_block *b = ir_block_new(name);
    b->niters = nd;
    b->iters = ir_alloc(sizeof(mlcc_iter_var) * (size_t)(nd + 1));
    mlcc_expr **vars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nd + 1));
    mlcc_expr **loops = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nd + 1));
    for (int d = 0; d < nd; d++) {
        char vn[32];
        snprintf(vn, sizeof vn, "v%d", d);
        vars[d] = ir_var(vn, DT_I64);
        snprintf(vn, sizeof vn, "ax%d", d);
        loops[d] = ir_var(vn, DT_I64);
        b->iters[d] = (mlcc_iter_var){vars[d], ir_range(ir_int(0), src->shape[d]), ITER_SPATIAL};
    }
    b->nreads = b->nwrites = 1;
    b->reads = ir_alloc(sizeof(mlcc_region));
    b->writes = ir_alloc(sizeof(mlcc_region));
    b->reads[0] = ir_region_point(src, vars);
    b->writes[0] = ir_region_point(dst, vars);
    b->body = ir_store(dst, ir_load(src, vars, nd), vars, nd);
    mlcc_stmt *st = ir_block_realize(loops, ir_bool(1), b);
    for (int d = nd - 1; d >= 0; d--) st = ir_for(loops[d], ir_int(0), src->shape[d], FOR_SERIAL, st);
    return st;
}

/* The function body with `st` inserted before (after = 0) or after top-level statement t. */
static mlcc_stmt *insert_top(mlcc_schedule *s, int t, int after, mlcc_stmt *st) {
    mlcc_stmt *body = s->func->body;
    int n = body->kind == STMT_SEQ ? body->seq.n : 1;
    mlcc_stmt **xs = ir_alloc(sizeof(mlcc_stmt *) * (size_t)(n + 2));
    int k = 0;
    for (int i = 0; i < n; i++) {
        mlcc_stmt *cur = body->kind == STMT_SEQ ? body->seq.stmts[i] : body;
        if (i == t && !after) xs[k++] = st;
        xs[k++] = cur;
        if (i == t && after) xs[k++] = st;
    }
    return ir_seq(xs, k);
}

static mlcc_stmt *top_stmt(mlcc_schedule *s, int t) {
    mlcc_stmt *body = s->func->body;
    return body->kind == STMT_SEQ ? body->seq.stmts[t] : body;
}

/* Common lookups: the block at function scope, its top-level statement index, the buffer. */
static int lookup(mlcc_schedule *s, const char *prim, const char *name, int index, int is_write, const char *scope,
                  sch_path *p, int *top, mlcc_buffer **buf) {
    if (!name || sch_find_block(s, name, p)) return mlcc_set_error("%s: no block named '%s'", prim, name ? name : "(null)");
    if (!valid_scope(scope))
        return mlcc_set_error("%s: storage scope '%s' is not one of global, local, shared", prim, scope ? scope : "(null)");
    const mlcc_block *b = p->nodes[p->n - 1]->realize.block;
    int count = is_write ? b->nwrites : b->nreads;
    if (index < 0 || index >= count)
        return mlcc_set_error("%s: block '%s' has %d %s region(s); index %d is out of range", prim, name, count,
                              is_write ? "write" : "read", index);
    for (int i = 0; i < p->n - 1; i++)
        if (p->nodes[i]->kind == STMT_BLOCK_REALIZE)
            return mlcc_set_error("%s: block '%s' is nested in block '%s' (only the function's own blocks are handled)",
                                  prim, name, p->nodes[i]->realize.block->name);
    *buf = is_write ? b->writes[index].buffer : b->reads[index].buffer;
    *top = sch_top_index(s, name);
    return 0;
}

static mlcc_buffer *cache_buffer(const mlcc_buffer *x, const char *scope) {
    char bn[300];
    snprintf(bn, sizeof bn, "%s_%s", x->name, scope);
    return ir_buffer_scoped(ir_strdup(bn), x->dtype, x->shape, x->ndim, mlcc_intern(scope));
}

static const char *finish(mlcc_schedule *s, const char *prim, const char *brv, int index, const char *scope,
                          const char *block) {
    const char *rv = sch_new_block_rv(s, block);
    char line[400];
    snprintf(line, sizeof line, "%s = sch.%s(%s, %d, \"%s\")", rv, prim, brv, index, scope);
    sch_record(s, line);
    return block;
}

const char *sch_cache_read(mlcc_schedule *s, const char *name, int index, const char *scope) {
    const char *prim = "cache_read";
    sch_path p;
    int t;
    mlcc_buffer *x;
    if (lookup(s, prim, name, index, 0, scope, &p, &t, &x)) return NULL;
    mlcc_stmt *realize = p.nodes[p.n - 1];
    if (sch_block_writes(realize->realize.block, x)) {
        mlcc_set_error("%s: block '%s' also writes '%s'", prim, name, x->name);
        return NULL;
    }
    mlcc_stmt **rs;
    int nr = sch_collect_realizes(top_stmt(s, t), 0, &rs);
    for (int r = 0; r < nr; r++)
        if (sch_block_writes(rs[r]->realize.block, x)) {
            mlcc_set_error("%s: block '%s' writes '%s' in the same loop nest as block '%s'", prim,
                           rs[r]->realize.block->name, x->name, name);
            return NULL;
        }
    const char *brv = sch_block_rv(s, name);
    mlcc_buffer *c = cache_buffer(x, scope);
    const char *cname = fresh_block_name(s, c->name);
    mlcc_stmt *redirected = stmt_replace_buffers(realize, (mlcc_buffer *[]){x}, (mlcc_buffer *[]){c}, 1);
    s->func->body = sch_path_replace(&p, redirected);
    prim_func_add_alloc(s->func, c);
    sch_commit(s, insert_top(s, t, 0, copy_nest(cname, x, c)));
    return finish(s, prim, brv, index, scope, cname);
}

const char *sch_cache_write(mlcc_schedule *s, const char *name, int index, const char *scope) {
    const char *prim = "cache_write";
    sch_path p;
    int t;
    mlcc_buffer *y;
    if (lookup(s, prim, name, index, 1, scope, &p, &t, &y)) return NULL;
    mlcc_stmt *realize = p.nodes[p.n - 1];
    mlcc_stmt **rs;
    int nr = sch_collect_realizes(s->func->body, 0, &rs);
    mlcc_stmt **inside;
    int ni = sch_collect_realizes(realize, 0, &inside);
    for (int r = 0; r < nr; r++) {
        int own = 0;
        for (int i = 0; i < ni; i++) own |= rs[r] == inside[i];
        if (own) continue;
        const mlcc_block *o = rs[r]->realize.block;
        if (sch_block_writes(o, y)) {
            mlcc_set_error("%s: buffer '%s' of block '%s' is also written by block '%s'", prim, y->name, name, o->name);
            return NULL;
        }
        if (sch_top_index(s, o->name) == t && (sch_block_reads(o, y) || sch_stmt_loads_buffer(rs[r], y))) {
            mlcc_set_error("%s: block '%s' reads '%s' in the same loop nest as block '%s'", prim, o->name, y->name, name);
            return NULL;
        }
    }
    const char *brv = sch_block_rv(s, name);
    mlcc_buffer *c = cache_buffer(y, scope);
    const char *cname = fresh_block_name(s, c->name);
    mlcc_stmt *redirected = stmt_replace_buffers(realize, (mlcc_buffer *[]){y}, (mlcc_buffer *[]){c}, 1);
    s->func->body = sch_path_replace(&p, redirected);
    prim_func_add_alloc(s->func, c);
    sch_commit(s, insert_top(s, t, 1, copy_nest(cname, c, y)));
    return finish(s, prim, brv, index, scope, cname);
}
