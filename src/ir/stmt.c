/* stmt.c - constructors of TensorIR statements, blocks and PrimFuncs (see tir.h). */
#include <string.h>

#include "ir/tir.h"
#include "support/alloc.h"
#include "support/hashmap.h"

static mlcc_stmt *new_stmt(mlcc_stmt_kind kind) {
    mlcc_stmt *s = ir_alloc(sizeof *s);
    s->kind = kind;
    return s;
}

static mlcc_expr **copy_exprs(mlcc_expr **src, int n) {
    mlcc_expr **out = ir_alloc(sizeof(mlcc_expr *) * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++) out[i] = src[i];
    return out;
}

mlcc_stmt *ir_for(mlcc_expr *var, mlcc_expr *min, mlcc_expr *extent, mlcc_for_kind kind,
                  mlcc_stmt *body) {
    mlcc_stmt *s = new_stmt(STMT_FOR);
    s->for_.var = var;
    s->for_.min = min;
    s->for_.extent = extent;
    s->for_.kind = kind;
    s->for_.body = body;
    return s;
}

mlcc_stmt *ir_for_thread(mlcc_expr *var, mlcc_expr *min, mlcc_expr *extent, const char *tag,
                         mlcc_stmt *body) {
    mlcc_stmt *s = ir_for(var, min, extent, FOR_THREAD_BINDING, body);
    s->for_.thread_tag = mlcc_intern(tag);
    return s;
}

mlcc_stmt *ir_for_update(mlcc_stmt *s, mlcc_expr *min, mlcc_expr *extent, mlcc_stmt *body) {
    if (min == s->for_.min && extent == s->for_.extent && body == s->for_.body) return s;
    mlcc_stmt *r = ir_alloc(sizeof *r);
    *r = *s;
    r->for_.min = min;
    r->for_.extent = extent;
    r->for_.body = body;
    return r;
}

mlcc_stmt *ir_store(mlcc_buffer *buf, mlcc_expr *value, mlcc_expr **indices, int nidx) {
    mlcc_stmt *s = new_stmt(STMT_STORE);
    s->store.buffer = buf;
    s->store.value = value;
    s->store.indices = copy_exprs(indices, nidx);
    s->store.nidx = nidx;
    return s;
}

mlcc_stmt *ir_allocate(mlcc_buffer *buf, mlcc_stmt *body) {
    mlcc_stmt *s = new_stmt(STMT_ALLOCATE);
    s->alloc.buffer = buf;
    s->alloc.body = body;
    return s;
}

mlcc_stmt *ir_if(mlcc_expr *cond, mlcc_stmt *then_, mlcc_stmt *else_) {
    mlcc_stmt *s = new_stmt(STMT_IF);
    s->if_.cond = cond;
    s->if_.then_ = then_;
    s->if_.else_ = else_;
    return s;
}

mlcc_stmt *ir_seq(mlcc_stmt **stmts, int n) {
    int count = 0;
    for (int i = 0; i < n; i++)
        if (stmts[i]) count += stmts[i]->kind == STMT_SEQ ? stmts[i]->seq.n : 1;
    if (count == 0) return NULL;
    mlcc_stmt **flat = ir_alloc(sizeof(mlcc_stmt *) * (size_t)count);
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (!stmts[i]) continue;
        if (stmts[i]->kind == STMT_SEQ)
            for (int j = 0; j < stmts[i]->seq.n; j++) flat[k++] = stmts[i]->seq.stmts[j];
        else
            flat[k++] = stmts[i];
    }
    if (count == 1) return flat[0];
    mlcc_stmt *s = new_stmt(STMT_SEQ);
    s->seq.stmts = flat;
    s->seq.n = count;
    return s;
}

mlcc_stmt *ir_seq2(mlcc_stmt *a, mlcc_stmt *b) {
    mlcc_stmt *pair[2] = {a, b};
    return ir_seq(pair, 2);
}

mlcc_stmt *ir_evaluate(mlcc_expr *value) {
    mlcc_stmt *s = new_stmt(STMT_EVALUATE);
    s->eval.value = value;
    return s;
}

mlcc_stmt *ir_block_realize(mlcc_expr **iter_values, mlcc_expr *predicate, mlcc_block *block) {
    mlcc_stmt *s = new_stmt(STMT_BLOCK_REALIZE);
    s->realize.iter_values = copy_exprs(iter_values, block->niters);
    s->realize.predicate = predicate ? predicate : ir_bool(1);
    s->realize.block = block;
    return s;
}

mlcc_block *ir_block_new(const char *name) {
    mlcc_block *b = ir_alloc(sizeof *b);
    b->name = ir_strdup(name);
    return b;
}

mlcc_block *ir_block_copy(const mlcc_block *src) {
    mlcc_block *b = ir_alloc(sizeof *b);
    *b = *src;
    b->iters = ir_alloc(sizeof(mlcc_iter_var) * (size_t)(src->niters + 1));
    mlcc_memcpy(b->iters, src->iters, sizeof(mlcc_iter_var) * (size_t)src->niters);
    b->reads = ir_alloc(sizeof(mlcc_region) * (size_t)(src->nreads + 1));
    mlcc_memcpy(b->reads, src->reads, sizeof(mlcc_region) * (size_t)src->nreads);
    b->writes = ir_alloc(sizeof(mlcc_region) * (size_t)(src->nwrites + 1));
    mlcc_memcpy(b->writes, src->writes, sizeof(mlcc_region) * (size_t)src->nwrites);
    b->alloc_buffers = ir_alloc(sizeof(mlcc_buffer *) * (size_t)(src->nalloc + 1));
    mlcc_memcpy(b->alloc_buffers, src->alloc_buffers, sizeof(mlcc_buffer *) * (size_t)src->nalloc);
    b->annotations = ir_alloc(sizeof(mlcc_annotation) * (size_t)(src->nannotations + 1));
    mlcc_memcpy(b->annotations, src->annotations, sizeof(mlcc_annotation) * (size_t)src->nannotations);
    return b;
}

mlcc_range ir_range(mlcc_expr *min, mlcc_expr *extent) {
    mlcc_range r = {min, extent};
    return r;
}

mlcc_region ir_region_point(mlcc_buffer *buf, mlcc_expr **indices) {
    mlcc_region r = {buf, ir_alloc(sizeof(mlcc_range) * (size_t)(buf->ndim + 1)), 0};
    for (int i = 0; i < buf->ndim; i++) r.ranges[i] = ir_range(indices[i], ir_int(1));
    return r;
}

mlcc_region ir_region_whole(mlcc_buffer *buf) {
    mlcc_region r = {buf, ir_alloc(sizeof(mlcc_range) * (size_t)(buf->ndim + 1)), 1};
    for (int i = 0; i < buf->ndim; i++) r.ranges[i] = ir_range(ir_int(0), buf->shape[i]);
    return r;
}

/* ---- PrimFunc ---- */

mlcc_prim_func *ir_prim_func(const char *name, mlcc_buffer **buffers, int nbuffers, mlcc_stmt *body) {
    mlcc_prim_func *f = ir_alloc(sizeof *f);
    f->name = ir_strdup(name);
    f->params = ir_alloc(sizeof(mlcc_param) * (size_t)(nbuffers + 1));
    for (int i = 0; i < nbuffers; i++) {
        f->params[i].var = ir_var(buffers[i]->name, DT_HANDLE_T);
        f->params[i].buffer = buffers[i];
    }
    f->nparams = nbuffers;
    f->body = body;
    return f;
}

void prim_func_add_scalar_param(mlcc_prim_func *f, mlcc_expr *var) {
    mlcc_param *p = ir_alloc(sizeof(mlcc_param) * (size_t)(f->nparams + 1));
    mlcc_memcpy(p, f->params, sizeof(mlcc_param) * (size_t)f->nparams);
    p[f->nparams].var = var;
    p[f->nparams].buffer = NULL;
    f->params = p;
    f->nparams++;
}

void prim_func_add_alloc(mlcc_prim_func *f, mlcc_buffer *buf) {
    mlcc_buffer **a = ir_alloc(sizeof(mlcc_buffer *) * (size_t)(f->nalloc + 1));
    mlcc_memcpy(a, f->alloc_buffers, sizeof(mlcc_buffer *) * (size_t)f->nalloc);
    a[f->nalloc++] = buf;
    f->alloc_buffers = a;
}

void prim_func_set_attr(mlcc_prim_func *f, const char *key, mlcc_expr *value) {
    const char *k = mlcc_intern(key);
    for (int i = 0; i < f->nattrs; i++)
        if (f->attrs[i].key == k) {
            f->attrs[i].value = value;
            return;
        }
    mlcc_annotation *a = ir_alloc(sizeof(mlcc_annotation) * (size_t)(f->nattrs + 1));
    mlcc_memcpy(a, f->attrs, sizeof(mlcc_annotation) * (size_t)f->nattrs);
    a[f->nattrs].key = k;
    a[f->nattrs].value = value;
    f->attrs = a;
    f->nattrs++;
}

mlcc_expr *prim_func_get_attr(const mlcc_prim_func *f, const char *key) {
    const char *k = mlcc_intern(key);
    for (int i = 0; i < f->nattrs; i++)
        if (f->attrs[i].key == k) return f->attrs[i].value;
    return NULL;
}

mlcc_prim_func *prim_func_copy(const mlcc_prim_func *src) {
    mlcc_prim_func *f = ir_alloc(sizeof *f);
    *f = *src;
    f->params = ir_alloc(sizeof(mlcc_param) * (size_t)(src->nparams + 1));
    mlcc_memcpy(f->params, src->params, sizeof(mlcc_param) * (size_t)src->nparams);
    f->alloc_buffers = ir_alloc(sizeof(mlcc_buffer *) * (size_t)(src->nalloc + 1));
    mlcc_memcpy(f->alloc_buffers, src->alloc_buffers, sizeof(mlcc_buffer *) * (size_t)src->nalloc);
    f->attrs = ir_alloc(sizeof(mlcc_annotation) * (size_t)(src->nattrs + 1));
    mlcc_memcpy(f->attrs, src->attrs, sizeof(mlcc_annotation) * (size_t)src->nattrs);
    return f;
}

static void collect_vars(mlcc_expr *e, mlcc_expr ***vars, int *n, int *cap) {
    switch (e->kind) {
    case EXPR_VAR:
        for (int i = 0; i < *n; i++)
            if ((*vars)[i] == e) return;
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 8;
            mlcc_expr **grown = ir_alloc(sizeof(mlcc_expr *) * (size_t)*cap);
            mlcc_memcpy(grown, *vars, sizeof(mlcc_expr *) * (size_t)*n);
            *vars = grown;
        }
        (*vars)[(*n)++] = e;
        return;
    case EXPR_INT:
    case EXPR_FLOAT: return;
    case EXPR_NOT:
    case EXPR_CAST: collect_vars(e->un.a, vars, n, cap); return;
    case EXPR_SELECT:
        collect_vars(e->select.cond, vars, n, cap);
        collect_vars(e->select.t, vars, n, cap);
        collect_vars(e->select.f, vars, n, cap);
        return;
    case EXPR_CALL:
        for (int i = 0; i < e->call.nargs; i++) collect_vars(e->call.args[i], vars, n, cap);
        return;
    case EXPR_LOAD:
        for (int i = 0; i < e->load.nidx; i++) collect_vars(e->load.indices[i], vars, n, cap);
        return;
    case EXPR_RAMP:
        collect_vars(e->ramp.base, vars, n, cap);
        collect_vars(e->ramp.stride, vars, n, cap);
        return;
    case EXPR_BROADCAST: collect_vars(e->broadcast.value, vars, n, cap); return;
    default:
        collect_vars(e->bin.a, vars, n, cap);
        collect_vars(e->bin.b, vars, n, cap);
        return;
    }
}

int prim_func_size_vars(const mlcc_prim_func *f, mlcc_expr ***out) {
    mlcc_expr **vars = NULL;
    int n = 0, cap = 0;
    for (int i = 0; i < f->nparams; i++) {
        mlcc_buffer *b = f->params[i].buffer;
        if (!b) continue;
        for (int d = 0; d < b->ndim; d++) collect_vars(b->shape[d], &vars, &n, &cap);
    }
    *out = vars;
    return n;
}
