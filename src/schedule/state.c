/* state.c - schedule state, statement paths, simplification after primitives, and the small
 * IR utilities the primitives share (see state.h). */
#include "schedule/state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "ir/functor.h"
#include "support/error.h"
#include "support/strbuf.h"

mlcc_schedule *sch_create(const mlcc_prim_func *f) {
    mlcc_schedule *s = mlcc_xcalloc(1, sizeof *s);
    s->func = prim_func_copy(f);
    u64map_init(&s->loop_rv);
    strmap_init(&s->block_rv);
    return s;
}

mlcc_schedule *sch_copy(const mlcc_schedule *src) {
    mlcc_schedule *s = mlcc_xcalloc(1, sizeof *s);
    s->func = prim_func_copy(src->func);
    s->next_rv = src->next_rv;
    for (size_t i = 0; i < src->trace.len; i++) vec_push(&s->trace, mlcc_xstrdup(src->trace.data[i]));
    u64map_init(&s->loop_rv);
    strmap_init(&s->block_rv);
    for (size_t i = 0; i < src->loop_rv.cap; i++)
        if (src->loop_rv.slots[i].used)
            u64map_upsert(&s->loop_rv, src->loop_rv.slots[i].key, NULL)->value.p =
                mlcc_xstrdup(src->loop_rv.slots[i].value.p);
    for (size_t i = 0; i < src->block_rv.cap; i++)
        if (src->block_rv.slots[i].key)
            strmap_set_p(&s->block_rv, src->block_rv.slots[i].key, mlcc_xstrdup(src->block_rv.slots[i].value.p));
    return s;
}

void sch_free(mlcc_schedule *s) {
    if (!s) return;
    for (size_t i = 0; i < s->trace.len; i++) free(s->trace.data[i]);
    vec_free(&s->trace);
    for (size_t i = 0; i < s->loop_rv.cap; i++)
        if (s->loop_rv.slots[i].used) free(s->loop_rv.slots[i].value.p);
    for (size_t i = 0; i < s->block_rv.cap; i++)
        if (s->block_rv.slots[i].key) free(s->block_rv.slots[i].value.p);
    u64map_free(&s->loop_rv);
    strmap_free(&s->block_rv);
    free(s);
}

mlcc_prim_func *sch_func(mlcc_schedule *s) {
    return s->func;
}

mlcc_expr *sch_loop_extent(mlcc_schedule *s, mlcc_expr *loop) {
    sch_path p;
    if (!loop || sch_find_loop(s, loop, &p)) {
        mlcc_set_error("loop_extent: '%s' is not a loop of the function", loop && loop->kind == EXPR_VAR ? loop->var.name : "?");
        return NULL;
    }
    return p.nodes[p.n - 1]->for_.extent;
}

const mlcc_stmt *sch_block_realize(mlcc_schedule *s, const char *block) {
    sch_path p;
    if (!block || sch_find_block(s, block, &p)) {
        mlcc_set_error("block_realize: no block named '%s'", block ? block : "(null)");
        return NULL;
    }
    return p.nodes[p.n - 1];
}

int sch_loop_kind(mlcc_schedule *s, mlcc_expr *loop) {
    sch_path p;
    if (!loop || sch_find_loop(s, loop, &p))
        return mlcc_set_error("loop_kind: '%s' is not a loop of the function", loop && loop->kind == EXPR_VAR ? loop->var.name : "?");
    return (int)p.nodes[p.n - 1]->for_.kind;
}

/* ---- paths ---- */

typedef int (*stmt_match)(const mlcc_stmt *st, const void *key);

static int find_path(mlcc_stmt *st, stmt_match match, const void *key, sch_path *p) {
    if (!st || p->n >= SCH_MAX_DEPTH) return 0;
    p->nodes[p->n++] = st;
    if (match(st, key)) return 1;
    switch (st->kind) {
    case STMT_FOR:
        if (find_path(st->for_.body, match, key, p)) return 1;
        break;
    case STMT_BLOCK_REALIZE:
        if (find_path(st->realize.block->init, match, key, p)) return 1;
        if (find_path(st->realize.block->body, match, key, p)) return 1;
        break;
    case STMT_ALLOCATE:
        if (find_path(st->alloc.body, match, key, p)) return 1;
        break;
    case STMT_IF:
        if (find_path(st->if_.then_, match, key, p) || find_path(st->if_.else_, match, key, p)) return 1;
        break;
    case STMT_SEQ:
        for (int i = 0; i < st->seq.n; i++)
            if (find_path(st->seq.stmts[i], match, key, p)) return 1;
        break;
    default: break;
    }
    p->n--;
    return 0;
}

static int match_loop(const mlcc_stmt *st, const void *var) {
    return st->kind == STMT_FOR && st->for_.var == var;
}

static int match_block(const mlcc_stmt *st, const void *name) {
    return st->kind == STMT_BLOCK_REALIZE && strcmp(st->realize.block->name, name) == 0;
}

int sch_find_loop(mlcc_schedule *s, const mlcc_expr *var, sch_path *p) {
    p->n = 0;
    return find_path(s->func->body, match_loop, var, p) ? 0 : -1;
}

int sch_find_block(mlcc_schedule *s, const char *name, sch_path *p) {
    p->n = 0;
    return find_path(s->func->body, match_block, name, p) ? 0 : -1;
}

/* parent with its child `old` replaced by `with` (NULL when the parent becomes empty). */
static mlcc_stmt *replace_child(mlcc_stmt *parent, mlcc_stmt *old, mlcc_stmt *with) {
    mlcc_stmt *r;
    switch (parent->kind) {
    case STMT_FOR:
        if (!with) return NULL;
        r = ir_alloc(sizeof *r);
        *r = *parent;
        r->for_.body = with;
        return r;
    case STMT_BLOCK_REALIZE: {
        mlcc_block *b = ir_block_copy(parent->realize.block);
        if (b->init == old) b->init = with;
        else b->body = with;
        return ir_block_realize(parent->realize.iter_values, parent->realize.predicate, b);
    }
    case STMT_ALLOCATE: return with ? ir_allocate(parent->alloc.buffer, with) : NULL;
    case STMT_IF:
        if (parent->if_.then_ == old) {
            if (!with && !parent->if_.else_) return NULL;
            return ir_if(parent->if_.cond, with ? with : ir_evaluate(ir_int(0)), parent->if_.else_);
        }
        return ir_if(parent->if_.cond, parent->if_.then_, with);
    case STMT_SEQ: {
        mlcc_stmt **xs = ir_alloc(sizeof(mlcc_stmt *) * (size_t)parent->seq.n);
        for (int i = 0; i < parent->seq.n; i++) xs[i] = parent->seq.stmts[i] == old ? with : parent->seq.stmts[i];
        return ir_seq(xs, parent->seq.n);
    }
    default: return parent;
    }
}

mlcc_stmt *sch_path_replace(const sch_path *p, mlcc_stmt *with) {
    mlcc_stmt *cur = with;
    for (int i = p->n - 2; i >= 0; i--) cur = replace_child(p->nodes[i], p->nodes[i + 1], cur);
    return cur;
}

/* ---- simplification ---- */

/* Simplifies loop extents, block bindings and predicates with the ranges of the loops and
 * block iters around them known (all vars are distinct, so one analyzer serves the walk). */
static mlcc_stmt *simplify_hook(ir_mutator *m, mlcc_stmt *st) {
    arith_analyzer *a = m->ctx;
    if (st->kind == STMT_FOR) {
        mlcc_expr *min = arith_simplify(a, st->for_.min), *ext = arith_simplify(a, st->for_.extent);
        arith_bind_range(a, st->for_.var, min, ext);
        return ir_for_update(st, min, ext, ir_mutate_stmt(m, st->for_.body));
    }
    if (st->kind == STMT_BLOCK_REALIZE) {
        mlcc_block *b = st->realize.block;
        int changed = 0;
        mlcc_expr **vals = ir_alloc(sizeof(mlcc_expr *) * (size_t)(b->niters + 1));
        for (int i = 0; i < b->niters; i++) {
            vals[i] = arith_simplify(a, st->realize.iter_values[i]);
            changed |= vals[i] != st->realize.iter_values[i];
        }
        /* drop conjuncts of the predicate that hold anyway */
        mlcc_expr *conj[64];
        int nc = sch_conjuncts(st->realize.predicate, conj, 64);
        mlcc_expr *pred = ir_bool(1);
        for (int i = 0; i < nc; i++) {
            mlcc_expr *c = arith_simplify(a, conj[i]);
            if (!arith_prove(a, c)) pred = ir_and(pred, c);
        }
        if (nc > 64) pred = st->realize.predicate;
        if (!sch_expr_equal(pred, st->realize.predicate)) changed = 1;
        else pred = st->realize.predicate;
        for (int i = 0; i < b->niters; i++)
            arith_bind_range(a, b->iters[i].var, b->iters[i].dom.min, b->iters[i].dom.extent);
        mlcc_block *nb = ir_mutate_block(m, b);
        if (!changed && nb == b) return st;
        return ir_block_realize(vals, pred, nb);
    }
    return NULL;
}

void sch_commit(mlcc_schedule *s, mlcc_stmt *body) {
    arith_analyzer *a = arith_new();
    mlcc_expr **size_vars;
    int nsize = prim_func_size_vars(s->func, &size_vars);
    for (int i = 0; i < nsize; i++) arith_bind_bounds(a, size_vars[i], 0, INT64_MAX);
    ir_mutator m = {NULL, simplify_hook, NULL, a};
    s->func->body = ir_mutate_stmt(&m, body);
    arith_free(a);
}

/* ---- queries ---- */

typedef struct {
    MLCC_VEC(mlcc_stmt *) found;
    int top_only;
} realize_collector;

static int collect_realize(ir_visitor *v, mlcc_stmt *st) {
    realize_collector *c = v->ctx;
    if (st->kind != STMT_BLOCK_REALIZE) return 1;
    vec_push(&c->found, st);
    return !c->top_only;
}

int sch_collect_realizes(mlcc_stmt *root, int top_only, mlcc_stmt ***out) {
    realize_collector c = {{0}, top_only};
    ir_visitor v = {NULL, collect_realize, &c};
    ir_visit_stmt(&v, root);
    mlcc_stmt **xs = ir_alloc(sizeof(mlcc_stmt *) * (c.found.len + 1));
    if (c.found.len) memcpy(xs, c.found.data, sizeof(mlcc_stmt *) * c.found.len);
    int n = (int)c.found.len;
    vec_free(&c.found);
    *out = xs;
    return n;
}

int sch_get_blocks(mlcc_schedule *s, const char ***out) {
    mlcc_stmt **rs;
    int n = sch_collect_realizes(s->func->body, 0, &rs);
    const char **names = ir_alloc(sizeof(char *) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) names[i] = rs[i]->realize.block->name;
    *out = names;
    return n;
}

int sch_top_index(mlcc_schedule *s, const char *name) {
    mlcc_stmt *body = s->func->body;
    if (!body || body->kind != STMT_SEQ) return 0;
    for (int i = 0; i < body->seq.n; i++) {
        sch_path p = {.n = 0};
        if (find_path(body->seq.stmts[i], match_block, name, &p)) return i;
    }
    return -1;
}

int sch_block_writes(const mlcc_block *b, const mlcc_buffer *buf) {
    for (int i = 0; i < b->nwrites; i++)
        if (b->writes[i].buffer == buf) return 1;
    return 0;
}

int sch_block_reads(const mlcc_block *b, const mlcc_buffer *buf) {
    for (int i = 0; i < b->nreads; i++)
        if (b->reads[i].buffer == buf) return 1;
    return 0;
}

typedef struct {
    const mlcc_buffer *buf;
    int found;
} load_finder;

static int find_load(ir_visitor *v, mlcc_expr *e) {
    load_finder *f = v->ctx;
    if (e->kind == EXPR_LOAD && e->load.buffer == f->buf) f->found = 1;
    return !f->found;
}

int sch_stmt_loads_buffer(mlcc_stmt *st, const mlcc_buffer *buf) {
    load_finder f = {buf, 0};
    ir_visitor v = {find_load, NULL, &f};
    ir_visit_stmt(&v, st);
    return f.found;
}

int sch_expr_loads_buffer(mlcc_expr *e, const mlcc_buffer *buf) {
    load_finder f = {buf, 0};
    ir_visitor v = {find_load, NULL, &f};
    ir_visit_expr(&v, e);
    return f.found;
}

int sch_is_param_buffer(mlcc_schedule *s, const mlcc_buffer *buf) {
    for (int i = 0; i < s->func->nparams; i++)
        if (s->func->params[i].buffer == buf) return 1;
    return 0;
}

static mlcc_stmt *remove_alloc_hook(ir_mutator *m, mlcc_stmt *st) {
    const mlcc_buffer *buf = m->ctx;
    if (st->kind == STMT_ALLOCATE && st->alloc.buffer == buf) return ir_mutate_stmt(m, st->alloc.body);
    if (st->kind == STMT_BLOCK_REALIZE) {
        mlcc_block *b = st->realize.block;
        for (int i = 0; i < b->nalloc; i++) {
            if (b->alloc_buffers[i] != buf) continue;
            mlcc_block *nb = ir_block_copy(b);
            memmove(nb->alloc_buffers + i, nb->alloc_buffers + i + 1, sizeof(mlcc_buffer *) * (size_t)(b->nalloc - i - 1));
            nb->nalloc--;
            mlcc_stmt *r = ir_block_realize(st->realize.iter_values, st->realize.predicate, nb);
            return ir_mutate_stmt_children(m, r);
        }
    }
    return NULL;
}

mlcc_stmt *sch_remove_alloc(mlcc_schedule *s, mlcc_stmt *body, const mlcc_buffer *buf) {
    mlcc_prim_func *f = s->func;
    for (int i = 0; i < f->nalloc; i++) {
        if (f->alloc_buffers[i] != buf) continue;
        mlcc_buffer **a = ir_alloc(sizeof(mlcc_buffer *) * (size_t)(f->nalloc + 1));
        int k = 0;
        for (int j = 0; j < f->nalloc; j++)
            if (j != i) a[k++] = f->alloc_buffers[j];
        f->alloc_buffers = a;
        f->nalloc = k;
        return body;
    }
    ir_mutator m = {NULL, remove_alloc_hook, NULL, (void *)buf};
    return ir_mutate_stmt(&m, body);
}

typedef struct {
    mlcc_schedule *s;
    mlcc_expr **vars;
    int n;
    mlcc_expr *foreign;
} foreign_finder;

static int find_foreign(ir_visitor *v, mlcc_expr *e) {
    foreign_finder *f = v->ctx;
    if (f->foreign) return 0;
    if (e->kind != EXPR_VAR) return 1;
    for (int i = 0; i < f->n; i++)
        if (f->vars[i] == e) return 0;
    if (e->var.flags & VAR_SIZE) return 0;
    for (int i = 0; i < f->s->func->nparams; i++)
        if (f->s->func->params[i].var == e) return 0;
    mlcc_expr **size_vars;
    int nsize = prim_func_size_vars(f->s->func, &size_vars);
    for (int i = 0; i < nsize; i++)
        if (size_vars[i] == e) return 0;
    f->foreign = e;
    return 0;
}

mlcc_expr *sch_foreign_var(mlcc_schedule *s, mlcc_expr *e, mlcc_expr **vars, int n) {
    foreign_finder f = {s, vars, n, NULL};
    ir_visitor v = {find_foreign, NULL, &f};
    ir_visit_expr(&v, e);
    return f.foreign;
}

/* ---- expressions and regions ---- */

int sch_expr_equal(const mlcc_expr *a, const mlcc_expr *b) {
    if (a == b) return 1;
    if (!a || !b || a->kind != b->kind || !dtype_eq(a->dtype, b->dtype)) return 0;
    switch (a->kind) {
    case EXPR_INT: return a->int_value == b->int_value;
    case EXPR_FLOAT: return a->float_value == b->float_value;
    case EXPR_VAR: return 0; /* identity only */
    case EXPR_NOT:
    case EXPR_CAST: return sch_expr_equal(a->un.a, b->un.a);
    case EXPR_SELECT:
        return sch_expr_equal(a->select.cond, b->select.cond) && sch_expr_equal(a->select.t, b->select.t) &&
               sch_expr_equal(a->select.f, b->select.f);
    case EXPR_CALL:
        if (a->call.op != b->call.op || a->call.nargs != b->call.nargs) return 0;
        for (int i = 0; i < a->call.nargs; i++)
            if (!sch_expr_equal(a->call.args[i], b->call.args[i])) return 0;
        return 1;
    case EXPR_LOAD:
        if (a->load.buffer != b->load.buffer || a->load.nidx != b->load.nidx) return 0;
        for (int i = 0; i < a->load.nidx; i++)
            if (!sch_expr_equal(a->load.indices[i], b->load.indices[i])) return 0;
        return 1;
    case EXPR_RAMP: return sch_expr_equal(a->ramp.base, b->ramp.base) && sch_expr_equal(a->ramp.stride, b->ramp.stride);
    case EXPR_BROADCAST: return sch_expr_equal(a->broadcast.value, b->broadcast.value);
    default: return sch_expr_equal(a->bin.a, b->bin.a) && sch_expr_equal(a->bin.b, b->bin.b);
    }
}

int sch_merge_regions(const mlcc_region *in, int n, mlcc_region **out) {
    mlcc_region *rs = ir_alloc(sizeof(mlcc_region) * (size_t)(n + 1));
    int k = 0;
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < k && rs[j].buffer != in[i].buffer) j++;
        if (j == k) {
            rs[k] = in[i];
            rs[k].ranges = ir_alloc(sizeof(mlcc_range) * (size_t)(in[i].buffer->ndim + 1));
            memcpy(rs[k].ranges, in[i].ranges, sizeof(mlcc_range) * (size_t)in[i].buffer->ndim);
            k++;
            continue;
        }
        mlcc_region *r = &rs[j];
        if (r->whole) continue;
        if (in[i].whole) {
            *r = ir_region_whole(r->buffer);
            continue;
        }
        for (int d = 0; d < r->buffer->ndim; d++)
            if (!sch_expr_equal(r->ranges[d].min, in[i].ranges[d].min) ||
                !sch_expr_equal(r->ranges[d].extent, in[i].ranges[d].extent))
                r->ranges[d] = ir_range(ir_int(0), r->buffer->shape[d]);
    }
    *out = rs;
    return k;
}

mlcc_region sch_region_substitute(mlcc_region r, mlcc_expr **vars, mlcc_expr **values, int n) {
    mlcc_region out = r;
    out.ranges = ir_alloc(sizeof(mlcc_range) * (size_t)(r.buffer->ndim + 1));
    for (int d = 0; d < r.buffer->ndim; d++) {
        out.ranges[d].min = expr_substitute(r.ranges[d].min, vars, values, n);
        out.ranges[d].extent = expr_substitute(r.ranges[d].extent, vars, values, n);
    }
    return out;
}

int sch_conjuncts(mlcc_expr *pred, mlcc_expr **out, int cap) {
    if (pred->kind == EXPR_AND) {
        int n = sch_conjuncts(pred->bin.a, out, cap);
        return n + sch_conjuncts(pred->bin.b, out + (n < cap ? n : cap), n < cap ? cap - n : 0);
    }
    if (expr_is_int(pred, 1)) return 0;
    if (cap > 0) out[0] = pred;
    return 1;
}

/* ---- trace names ---- */

const char *sch_loop_rv(mlcc_schedule *s, const mlcc_expr *loop, const char *prim) {
    const char *rv = u64map_get_p(&s->loop_rv, loop);
    if (!rv) {
        if (!loop || loop->kind != EXPR_VAR) mlcc_set_error("%s: expected a loop var", prim);
        else mlcc_set_error("%s: loop '%s' was not obtained from this schedule (use sch_get_loops)", prim, loop->var.name);
    }
    return rv;
}

const char *sch_new_loop_rv(mlcc_schedule *s, const mlcc_expr *loop) {
    char buf[32];
    snprintf(buf, sizeof buf, "l%d", s->next_rv++);
    char *old = u64map_get_p(&s->loop_rv, loop);
    free(old);
    char *name = mlcc_xstrdup(buf);
    u64map_set_p(&s->loop_rv, loop, name);
    return name;
}

const char *sch_new_block_rv(mlcc_schedule *s, const char *block) {
    char buf[32];
    snprintf(buf, sizeof buf, "b%d", s->next_rv++);
    char *old = strmap_get_p(&s->block_rv, block);
    free(old);
    char *name = mlcc_xstrdup(buf);
    strmap_set_p(&s->block_rv, block, name);
    return name;
}

const char *sch_block_rv(mlcc_schedule *s, const char *block) {
    const char *rv = strmap_get_p(&s->block_rv, block);
    if (rv) return rv;
    /* a block named directly: the trace gets it the way a reader would */
    rv = sch_new_block_rv(s, block);
    char line[300];
    snprintf(line, sizeof line, "%s = sch.get_block(\"%s\")", rv, block);
    sch_record(s, line);
    return rv;
}

void sch_record(mlcc_schedule *s, const char *line) {
    vec_push(&s->trace, mlcc_xstrdup(line));
}

int sch_trace_len(const mlcc_schedule *s) {
    return (int)s->trace.len;
}

char *sch_trace_str(const mlcc_schedule *s) {
    mlcc_strbuf sb = STRBUF_INIT;
    for (size_t i = 0; i < s->trace.len; i++) {
        sb_append(&sb, s->trace.data[i]);
        sb_append_char(&sb, '\n');
    }
    if (!s->trace.len) sb_append(&sb, "");
    return sb_detach(&sb);
}

/* ---- lookups ---- */

const char *sch_get_block(mlcc_schedule *s, const char *name) {
    sch_path p;
    if (!name || sch_find_block(s, name, &p)) {
        mlcc_set_error("get_block: no block named '%s'", name ? name : "(null)");
        return NULL;
    }
    const char *interned = mlcc_intern(name);
    const char *rv = sch_new_block_rv(s, interned);
    char line[300];
    snprintf(line, sizeof line, "%s = sch.get_block(\"%s\")", rv, interned);
    sch_record(s, line);
    return interned;
}

int sch_get_loops(mlcc_schedule *s, const char *block, mlcc_expr ***out) {
    sch_path p;
    if (!block || sch_find_block(s, block, &p)) return mlcc_set_error("get_loops: no block named '%s'", block ? block : "(null)");
    /* loops between the nearest enclosing block (or the function body) and the block */
    int start = 0;
    for (int i = 0; i < p.n - 1; i++)
        if (p.nodes[i]->kind == STMT_BLOCK_REALIZE) start = i + 1;
    mlcc_expr **loops = ir_alloc(sizeof(mlcc_expr *) * (size_t)(p.n + 1));
    int n = 0;
    for (int i = start; i < p.n - 1; i++)
        if (p.nodes[i]->kind == STMT_FOR) loops[n++] = p.nodes[i]->for_.var;
    const char *brv = sch_block_rv(s, block);
    mlcc_strbuf sb = STRBUF_INIT;
    for (int i = 0; i < n; i++) sb_printf(&sb, "%s%s", i ? ", " : "", sch_new_loop_rv(s, loops[i]));
    sb_printf(&sb, "%ssch.get_loops(%s)", n ? " = " : "", brv);
    sch_record(s, sb_cstr(&sb));
    sb_free(&sb);
    *out = loops;
    return n;
}
