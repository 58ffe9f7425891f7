/* te.c - tensor expressions lowered to PrimFuncs (see te.h). */
#include "te/te.h"

#include <stdio.h>
#include <string.h>

#include "ir/functor.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "support/strbuf.h"

/* The stage being built records what its body reads; set only inside te_compute/te_reduce. */
static _Thread_local te_tensor *building;
static _Thread_local const char **pending_axis_names;

static te_tensor *new_tensor(const char *name, mlcc_dtype t, mlcc_expr **shape, int ndim) {
    te_tensor *x = ir_alloc(sizeof *x);
    x->buffer = ir_buffer(name, t, shape, ndim);
    return x;
}

te_tensor *te_placeholder(const char *name, mlcc_dtype t, mlcc_expr **shape, int ndim) {
    return new_tensor(name, t, shape, ndim);
}

void te_set_axis_names(const char **names) {
    pending_axis_names = names;
}

static const char *axis_name(int i, int is_reduce, int ndim, char *buf, size_t cap) {
    const char **names = pending_axis_names;
    int k = 0;
    if (names)
        for (; names[k] && k < i; k++) {
        }
    if (names && names[k] && k == i) return names[k];
    snprintf(buf, cap, is_reduce ? "k%d" : "i%d", is_reduce ? i - ndim : i);
    return buf;
}

static void record_input(te_tensor *t) {
    te_tensor *b = building;
    if (!b) return;
    for (int i = 0; i < b->ninputs; i++)
        if (b->inputs[i] == t) return;
    te_tensor **grown = ir_alloc(sizeof(te_tensor *) * (size_t)(b->ninputs + 1));
    mlcc_memcpy(grown, b->inputs, sizeof(te_tensor *) * (size_t)b->ninputs);
    grown[b->ninputs++] = t;
    b->inputs = grown;
}

mlcc_expr *te_load(te_tensor *t, mlcc_expr **indices, int nidx) {
    record_input(t);
    return ir_load(t->buffer, indices, nidx);
}

mlcc_expr *te_load1(te_tensor *t, mlcc_expr *i0) {
    return te_load(t, &i0, 1);
}

mlcc_expr *te_load2(te_tensor *t, mlcc_expr *i0, mlcc_expr *i1) {
    mlcc_expr *idx[2] = {i0, i1};
    return te_load(t, idx, 2);
}

mlcc_expr *te_load3(te_tensor *t, mlcc_expr *i0, mlcc_expr *i1, mlcc_expr *i2) {
    mlcc_expr *idx[3] = {i0, i1, i2};
    return te_load(t, idx, 3);
}

static te_tensor *build_stage(const char *name, mlcc_dtype t, mlcc_expr **shape, int ndim,
                              te_combiner combiner, mlcc_expr **reduce_extents, int nreduce,
                              te_body_fn fn, void *ctx) {
    te_tensor *x = new_tensor(name, t, shape, ndim);
    x->is_compute = 1;
    x->combiner = combiner;
    x->nreduce = nreduce;
    x->reduce_extents = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nreduce + 1));
    for (int i = 0; i < nreduce; i++) x->reduce_extents[i] = reduce_extents[i];
    x->axis_vars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(ndim + nreduce + 1));
    for (int i = 0; i < ndim + nreduce; i++) {
        char buf[32];
        x->axis_vars[i] = ir_var(axis_name(i, i >= ndim, ndim, buf, sizeof buf), DT_I64);
    }
    pending_axis_names = NULL;
    te_tensor *outer = building;
    building = x;
    x->body = fn(x->axis_vars, ctx);
    building = outer;
    if (!dtype_eq(x->body->dtype, t)) x->body = ir_cast(t, x->body);
    return x;
}

te_tensor *te_compute(const char *name, mlcc_dtype t, mlcc_expr **shape, int ndim, te_body_fn fn,
                      void *ctx) {
    return build_stage(name, t, shape, ndim, TE_SUM, NULL, 0, fn, ctx);
}

te_tensor *te_reduce(const char *name, mlcc_dtype t, mlcc_expr **shape, int ndim,
                     te_combiner combiner, mlcc_expr **reduce_extents, int nreduce, te_body_fn fn,
                     void *ctx) {
    return build_stage(name, t, shape, ndim, combiner, reduce_extents, nreduce, fn, ctx);
}

/* ---- lowering to a PrimFunc ---- */

typedef struct {
    mlcc_buffer *buffer;
    mlcc_expr **indices; /* the one index tuple seen, or NULL when several differ */
    int whole;
} read_info;

typedef struct {
    read_info *reads;
    int n, cap;
} read_collector;

static int same_indices(mlcc_expr **a, mlcc_expr **b, int n) {
    for (int i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static int collect_read(ir_visitor *v, mlcc_expr *e) {
    if (e->kind != EXPR_LOAD) return 1;
    read_collector *c = v->ctx;
    int whole = 0;
    for (int i = 0; i < e->load.nidx; i++)
        if (expr_has_load(e->load.indices[i])) whole = 1;
    for (int i = 0; i < c->n; i++) {
        if (c->reads[i].buffer != e->load.buffer) continue;
        if (!c->reads[i].whole && !same_indices(c->reads[i].indices, e->load.indices, e->load.nidx))
            c->reads[i].whole = 1;
        c->reads[i].whole |= whole;
        return 1;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4;
        read_info *grown = ir_alloc(sizeof(read_info) * (size_t)c->cap);
        mlcc_memcpy(grown, c->reads, sizeof(read_info) * (size_t)c->n);
        c->reads = grown;
    }
    c->reads[c->n].buffer = e->load.buffer;
    c->reads[c->n].indices = e->load.indices;
    c->reads[c->n].whole = whole;
    c->n++;
    return 1;
}

static mlcc_expr *combine(te_combiner c, mlcc_expr *acc, mlcc_expr *v) {
    switch (c) {
    case TE_SUM: return ir_add(acc, v);
    case TE_MAX: return ir_max(acc, v);
    case TE_MIN: return ir_min(acc, v);
    case TE_PROD: return ir_mul(acc, v);
    }
    return acc;
}

static mlcc_expr *identity(te_combiner c, mlcc_dtype t) {
    switch (c) {
    case TE_SUM: return ir_zero(t);
    case TE_MAX: return ir_min_value(t);
    case TE_MIN: return ir_max_value(t);
    case TE_PROD: return ir_one(t);
    }
    return ir_zero(t);
}

/* One stage: loops over the spatial then reduce axes around one block. */
static mlcc_stmt *lower_stage(te_tensor *x) {
    int ndim = x->buffer->ndim, nall = ndim + x->nreduce;
    mlcc_block *b = ir_block_new(x->buffer->name);
    b->niters = nall;
    b->iters = ir_alloc(sizeof(mlcc_iter_var) * (size_t)(nall + 1));
    mlcc_expr **loop_vars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nall + 1));
    mlcc_expr **block_vars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nall + 1));
    for (int i = 0; i < nall; i++) {
        char name[80];
        loop_vars[i] = ir_var(x->axis_vars[i]->var.name, DT_I64);
        snprintf(name, sizeof name, "v_%s", x->axis_vars[i]->var.name);
        block_vars[i] = ir_var(name, DT_I64);
        b->iters[i].var = block_vars[i];
        b->iters[i].dom = ir_range(ir_int(0), i < ndim ? x->buffer->shape[i] : x->reduce_extents[i - ndim]);
        b->iters[i].type = i < ndim ? ITER_SPATIAL : ITER_REDUCE;
    }
    mlcc_expr *value = expr_substitute(x->body, x->axis_vars, block_vars, nall);

    read_collector rc = {0};
    ir_visitor v = {collect_read, NULL, &rc};
    ir_visit_expr(&v, value);
    /* As in TVM, a reduction block does not list its own output among its reads: the
     * init/update pair is what makes it a reduction. */
    b->nreads = rc.n;
    b->reads = ir_alloc(sizeof(mlcc_region) * (size_t)(b->nreads + 1));
    int k = 0;
    for (int i = 0; i < rc.n; i++)
        b->reads[k++] = rc.reads[i].whole ? ir_region_whole(rc.reads[i].buffer)
                                          : ir_region_point(rc.reads[i].buffer, rc.reads[i].indices);
    b->nwrites = 1;
    b->writes = ir_alloc(sizeof(mlcc_region));
    b->writes[0] = ir_region_point(x->buffer, block_vars);

    if (x->nreduce > 0) {
        b->init = ir_store(x->buffer, identity(x->combiner, x->buffer->dtype), block_vars, ndim);
        value = combine(x->combiner, ir_load(x->buffer, block_vars, ndim), value);
    }
    b->body = ir_store(x->buffer, value, block_vars, ndim);
    mlcc_stmt *s = ir_block_realize(loop_vars, NULL, b);
    for (int i = nall - 1; i >= 0; i--) s = ir_for(loop_vars[i], ir_int(0), b->iters[i].dom.extent, FOR_SERIAL, s);
    return s;
}

typedef struct {
    te_tensor **order;
    int n, cap;
    mlcc_u64map state; /* tensor -> 1 visiting, 2 done */
} topo;

static int visit_tensor(topo *t, te_tensor *x, te_tensor **args, int nargs) {
    mlcc_u64map_entry *e = u64map_find(&t->state, (uint64_t)(uintptr_t)x);
    if (e && e->value.i == 2) return 0;
    if (e && e->value.i == 1) return mlcc_set_error("te: cycle through tensor '%s'", x->buffer->name);
    int is_arg = 0;
    for (int i = 0; i < nargs; i++) is_arg |= args[i] == x;
    if (!x->is_compute) {
        if (!is_arg)
            return mlcc_set_error("te: placeholder '%s' is read but is not a parameter", x->buffer->name);
        u64map_upsert(&t->state, (uint64_t)(uintptr_t)x, NULL)->value.i = 2;
        return 0;
    }
    u64map_upsert(&t->state, (uint64_t)(uintptr_t)x, NULL)->value.i = 1;
    for (int i = 0; i < x->ninputs; i++)
        if (visit_tensor(t, x->inputs[i], args, nargs)) return -1;
    u64map_upsert(&t->state, (uint64_t)(uintptr_t)x, NULL)->value.i = 2;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 8;
        te_tensor **grown = ir_alloc(sizeof(te_tensor *) * (size_t)t->cap);
        mlcc_memcpy(grown, t->order, sizeof(te_tensor *) * (size_t)t->n);
        t->order = grown;
    }
    t->order[t->n++] = x;
    return 0;
}

mlcc_prim_func *te_create_prim_func(const char *name, te_tensor **args, int nargs) {
    topo t = {0};
    u64map_init(&t.state);
    for (int i = 0; i < nargs; i++)
        if (visit_tensor(&t, args[i], args, nargs)) {
            u64map_free(&t.state);
            return NULL;
        }
    u64map_free(&t.state);
    mlcc_stmt **stages = ir_alloc(sizeof(mlcc_stmt *) * (size_t)(t.n + 1));
    for (int i = 0; i < t.n; i++) stages[i] = lower_stage(t.order[i]);
    mlcc_buffer **bufs = ir_alloc(sizeof(mlcc_buffer *) * (size_t)(nargs + 1));
    for (int i = 0; i < nargs; i++) bufs[i] = args[i]->buffer;
    mlcc_prim_func *f = ir_prim_func(name, bufs, nargs, ir_seq(stages, t.n));
    mlcc_strbuf origin = STRBUF_INIT;
    sb_append(&origin, "te:");
    for (int i = 0; i < t.n; i++) sb_printf(&origin, " %s", t.order[i]->buffer->name);
    f->origin = ir_strdup(sb_cstr(&origin));
    sb_free(&origin);
    for (int i = 0; i < t.n; i++) {
        int is_arg = 0;
        for (int j = 0; j < nargs; j++) is_arg |= args[j] == t.order[i];
        if (!is_arg) prim_func_add_alloc(f, t.order[i]->buffer);
    }
    return f;
}
