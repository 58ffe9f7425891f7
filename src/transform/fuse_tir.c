/* fuse_tir.c - turns each Primitive graph function (from fuse_ops) into one PrimFunc and its
 * calls into call_tir of it (see pass.h).
 *
 * The PrimFuncs the group calls are inlined one after another: their parameter buffers are
 * replaced by the fused function's buffers (its parameters, or an intermediate buffer per
 * inner binding, allocated in the function), their size vars bound to the shapes they are
 * called with (a PrimFunc shared by calls of different shapes is specialized per call), and
 * their loop and block vars renamed fresh so the fused body never defines a var twice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/functor.h"
#include "ir/structural.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "support/strbuf.h"
#include "op/op.h"
#include "schedule/schedule.h"
#include "transform/graph_rewrite.h"
#include "transform/pass.h"

typedef struct inliner {
    mlcc_u64map vars;    /* PrimFunc var -> expression in the fused function */
    mlcc_u64map buffers; /* PrimFunc buffer -> fused function buffer */
    mlcc_strmap *block_names; /* names taken in the fused function */
} inliner;

/* Block names stay unique in the fused function (schedules find blocks by name): a second
 * "T_add" becomes "T_add_1". */
static const char *unique_block_name(inliner *in, const char *name) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", name);
    for (int i = 1; strmap_find(in->block_names, buf, strlen(buf)); i++) snprintf(buf, sizeof buf, "%s_%d", name, i);
    strmap_upsert(in->block_names, buf, strlen(buf), NULL);
    return ir_strdup(buf);
}

static mlcc_expr *inline_expr(ir_mutator *m, mlcc_expr *e) {
    if (e->kind != EXPR_VAR) return NULL;
    inliner *in = m->ctx;
    mlcc_expr *r = u64map_get_p(&in->vars, e);
    return r ? r : e;
}

static mlcc_buffer *inline_buffer(ir_mutator *m, mlcc_buffer *b) {
    inliner *in = m->ctx;
    return u64map_get_p(&in->buffers, b);
}

static mlcc_expr *fresh_var(inliner *in, mlcc_expr *v) {
    mlcc_expr *f = ir_var(v->var.name, v->dtype);
    u64map_set_p(&in->vars, v, f);
    return f;
}

/* Loops and blocks get fresh vars (the same PrimFunc may be inlined twice). */
static mlcc_stmt *inline_stmt(ir_mutator *m, mlcc_stmt *s) {
    inliner *in = m->ctx;
    if (s->kind == STMT_FOR) {
        mlcc_expr *v = fresh_var(in, s->for_.var);
        mlcc_stmt *r = ir_alloc(sizeof *r);
        *r = *s;
        r->for_.var = v;
        r->for_.min = ir_mutate_expr(m, s->for_.min);
        r->for_.extent = ir_mutate_expr(m, s->for_.extent);
        r->for_.body = ir_mutate_stmt(m, s->for_.body);
        return r;
    }
    if (s->kind == STMT_BLOCK_REALIZE) {
        mlcc_block *b = s->realize.block;
        mlcc_expr **fresh = ir_alloc(sizeof(mlcc_expr *) * (size_t)(b->niters + 1));
        for (int i = 0; i < b->niters; i++) fresh[i] = fresh_var(in, b->iters[i].var);
        mlcc_stmt *r = ir_mutate_stmt_children(m, s);
        mlcc_block *nb = r->realize.block == b ? ir_block_copy(b) : r->realize.block;
        for (int i = 0; i < b->niters; i++) nb->iters[i].var = fresh[i];
        nb->name = unique_block_name(in, b->name);
        return ir_block_realize(r->realize.iter_values, r->realize.predicate, nb);
    }
    return NULL;
}

static mlcc_expr **subst_shape(ir_mutator *m, mlcc_expr **shape, int ndim) {
    mlcc_expr **out = ir_alloc(sizeof(mlcc_expr *) * (size_t)(ndim + 1));
    for (int d = 0; d < ndim; d++) out[d] = ir_mutate_expr(m, shape[d]);
    return out;
}

/* Binds the size vars in a PrimFunc buffer's shape to the shape it is called with. */
static int bind_shape(inliner *in, const mlcc_buffer *formal, const mlcc_buffer *actual, const char *fname) {
    if (formal->ndim != actual->ndim || !dtype_eq(formal->dtype, actual->dtype))
        return mlcc_set_error("fuse_tir: PrimFunc '%s' buffer '%s' does not match its argument '%s'", fname,
                              formal->name, actual->name);
    for (int d = 0; d < formal->ndim; d++) {
        mlcc_expr *f = formal->shape[d];
        if (f->kind == EXPR_VAR && !u64map_find(&in->vars, (uint64_t)(uintptr_t)f)) u64map_set_p(&in->vars, f, actual->shape[d]);
    }
    return 0;
}

typedef struct fused_builder {
    mlcc_u64map buf_of;  /* graph var -> buffer */
    mlcc_strmap block_names;
    mlcc_stmt **stmts;
    int nstmts;
    mlcc_buffer **allocs;
    int nallocs, cap_allocs;
} fused_builder;

static void add_alloc(fused_builder *fb, mlcc_buffer *b) {
    if (fb->nallocs == fb->cap_allocs) {
        fb->cap_allocs = fb->cap_allocs ? fb->cap_allocs * 2 : 8;
        fb->allocs = mlcc_xrealloc(fb->allocs, sizeof(mlcc_buffer *) * (size_t)fb->cap_allocs);
    }
    fb->allocs[fb->nallocs++] = b;
}

static mlcc_buffer *buffer_for(const rx_expr *v, const char *name) {
    rx_sinfo *s = v->sinfo;
    if (!s || s->kind != SI_TENSOR || !s->shape) return NULL;
    return ir_buffer(name, s->dtype, s->shape, s->ndim);
}

/* Inlines one call_tir binding of the group. */
static int inline_call(const mlcc_ir_module *m, fused_builder *fb, const rx_binding *b, mlcc_buffer *out) {
    const rx_expr *call = b->value;
    const char *pname = call->call.args[0]->var.name;
    mlcc_prim_func *f = irmod_get_prim(m, pname);
    const rx_expr *tuple = call->call.args[1];
    if (!f) return mlcc_set_error("fuse_tir: no PrimFunc '%s'", pname);
    if (f->nparams != tuple->tuple.n + 1)
        return mlcc_set_error("fuse_tir: PrimFunc '%s' takes %d parameters, called with %d inputs and one output", pname,
                              f->nparams, tuple->tuple.n);
    inliner in;
    u64map_init(&in.vars);
    u64map_init(&in.buffers);
    in.block_names = &fb->block_names;
    int rc = 0;
    for (int k = 0; k <= tuple->tuple.n && !rc; k++) {
        mlcc_buffer *actual = k < tuple->tuple.n ? u64map_get_p(&fb->buf_of, tuple->tuple.fields[k]) : out;
        mlcc_buffer *formal = f->params[k].buffer;
        if (!actual || !formal) {
            rc = mlcc_set_error("fuse_tir: argument %d of '%s' is not a tensor of known shape", k, pname);
            break;
        }
        rc = bind_shape(&in, formal, actual, pname);
        u64map_set_p(&in.buffers, formal, actual);
    }
    if (!rc) {
        ir_mutator mut = {inline_expr, inline_stmt, inline_buffer, &in};
        for (int a = 0; a < f->nalloc; a++) {
            mlcc_buffer *o = f->alloc_buffers[a];
            mlcc_buffer *nb = ir_buffer_scoped(o->name, o->dtype, subst_shape(&mut, o->shape, o->ndim), o->ndim, o->scope);
            u64map_set_p(&in.buffers, o, nb);
            add_alloc(fb, nb);
        }
        fb->stmts = mlcc_xrealloc(fb->stmts, sizeof(mlcc_stmt *) * (size_t)(fb->nstmts + 1));
        fb->stmts[fb->nstmts++] = ir_mutate_stmt(&mut, f->body);
    }
    u64map_free(&in.vars);
    u64map_free(&in.buffers);
    return rc;
}

/* The PrimFunc for a Primitive graph function, or NULL + error. */
static mlcc_prim_func *fuse_function(const mlcc_ir_module *m, const char *name, const rx_expr *fn) {
    fused_builder fb;
    memset(&fb, 0, sizeof fb);
    u64map_init(&fb.buf_of);
    strmap_init(&fb.block_names);
    int n = fn->func.nparams;
    mlcc_buffer **params = ir_alloc(sizeof(mlcc_buffer *) * (size_t)(n + 2));
    mlcc_prim_func *result = NULL;
    const rx_expr *body = fn->func.body;
    rx_expr *ret = body->kind == RX_SEQ ? body->seq.body : NULL;
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        params[i] = buffer_for(fn->func.params[i], fn->func.params[i]->var.name);
        if (!params[i]) rc = mlcc_set_error("fuse_tir: '%s': parameter %d is not a tensor of known shape", name, i);
        else u64map_set_p(&fb.buf_of, fn->func.params[i], params[i]);
    }
    if (!rc && (!ret || !rx_is_var(ret))) rc = mlcc_set_error("fuse_tir: '%s' does not return a bound var", name);
    for (int bi = 0; !rc && bi < body->seq.nblocks; bi++) {
        const rx_block *blk = &body->seq.blocks[bi];
        for (int j = 0; !rc && j < blk->n; j++) {
            const rx_binding *b = &blk->bindings[j];
            if (!rx_is_op_call(b->value, "call_tir") || b->cast) {
                rc = mlcc_set_error("fuse_tir: '%s': binding '%s' is not a call_tir", name, b->var->var.name);
                break;
            }
            int is_result = b->var == ret;
            mlcc_buffer *out = buffer_for(b->var, is_result ? "T_out" : b->var->var.name);
            if (!out) {
                rc = mlcc_set_error("fuse_tir: '%s': '%s' is not a tensor of known shape", name, b->var->var.name);
                break;
            }
            if (is_result) params[n] = out;
            else add_alloc(&fb, out);
            u64map_set_p(&fb.buf_of, b->var, out);
            rc = inline_call(m, &fb, b, out);
        }
    }
    if (!rc) {
        result = ir_prim_func(name, params, n + 1, ir_seq(fb.stmts, fb.nstmts));
        for (int i = 0; i < fb.nallocs; i++) prim_func_add_alloc(result, fb.allocs[i]);
        /* the origin names the fused group: the PrimFuncs it was made of, in order */
        mlcc_strbuf origin = STRBUF_INIT;
        sb_append(&origin, "fused:");
        for (int bi = 0; bi < body->seq.nblocks; bi++)
            for (int j = 0; j < body->seq.blocks[bi].n; j++)
                sb_printf(&origin, " %s", body->seq.blocks[bi].bindings[j].value->call.args[0]->var.name);
        result->origin = ir_strdup(sb_cstr(&origin));
        sb_free(&origin);
    }
    free(fb.stmts);
    free(fb.allocs);
    u64map_free(&fb.buf_of);
    strmap_free(&fb.block_names);
    return result;
}

/* Does the Primitive function call a dequantize PrimFunc (op/quantize.c marks them)? */
static int calls_dequantize(const mlcc_ir_module *m, const rx_expr *fn) {
    const rx_expr *body = fn->func.body;
    for (int bi = 0; body->kind == RX_SEQ && bi < body->seq.nblocks; bi++)
        for (int j = 0; j < body->seq.blocks[bi].n; j++) {
            const rx_expr *v = body->seq.blocks[bi].bindings[j].value;
            const mlcc_prim_func *f = rx_is_op_call(v, "call_tir") ? irmod_get_prim(m, v->call.args[0]->var.name) : NULL;
            if (f && prim_func_get_attr(f, "mlcc.dequantize")) return 1;
        }
    return 0;
}

/* The dequantize blocks of a fused group (when `dequantize`) are inlined into the matmul that
 * reads them, so the kernel reads the packed weight and never materializes the float32 one (a
 * dequantize that is the group's output, after an embedding's take, stays). Strided slices
 * (the parts of a combined projection's output: models/fuse_proj.c) are inlined into their
 * readers: a slice only loads at an offset, so rope or silu * up read the projection's output
 * in place instead of from a copy made in a parallel pass of its own; in such a group SiLU is
 * inlined into the gate multiply that reads it too (one pass over the combined gate/up output
 * instead of two; other groups keep their SiLU block for the GEMM epilogue rule). The output
 * block of a group (a SiLU epilogue of a GEMM) cannot be inlined and stays. A block that cannot
 * be inlined stays as it is: still correct, only slower. */
static mlcc_prim_func *inline_loads(mlcc_prim_func *f, int dequantize) {
    mlcc_schedule *s = sch_create(f);
    const char **blocks;
    int n = sch_get_blocks(s, &blocks), inlined = 0, sliced = 0;
    for (int i = 0; i < n; i++) sliced |= !strncmp(blocks[i], "T_strided_slice", 15);
    for (int i = 0; i < n; i++) {
        int wanted = (dequantize && !strncmp(blocks[i], "T_dequantize", 12)) || !strncmp(blocks[i], "T_strided_slice", 15) ||
                     (sliced && !strcmp(blocks[i], "T_silu"));
        if (!wanted) continue;
        mlcc_schedule *attempt = sch_copy(s);
        if (sch_compute_inline(attempt, blocks[i]) == 0) {
            sch_free(s);
            s = attempt;
            inlined = 1;
        } else {
            sch_free(attempt);
        }
    }
    mlcc_prim_func *out = inlined ? prim_func_copy(sch_func(s)) : f;
    sch_free(s);
    mlcc_clear_error();
    return out;
}

typedef struct fuse_tir_ctx {
    const mlcc_ir_module *in;
    mlcc_strmap canonical; /* Primitive function name -> name of the (shared) fused PrimFunc */
} fuse_tir_ctx;

/* A call of a Primitive function becomes call_tir of its fused PrimFunc. */
static int rewrite_binding(rx_builder *bb, rx_binding b, void *ctx) {
    fuse_tir_ctx *c = ctx;
    rx_expr *v = b.value;
    if (v->kind == RX_CALL && v->call.callee->kind == RX_GLOBAL_VAR) {
        const char *target = strmap_get_p(&c->canonical, v->call.callee->var.name);
        if (target) {
            rx_expr *gv = rx_global_var(target);
            gv->sinfo = rx_sinfo_func(NULL, -1, rx_sinfo_object());
            b.value = rx_with_sinfo(op_call_tir(gv, v->call.args, v->call.nargs, v->sinfo), v->sinfo);
        }
    }
    bb_emit_binding(bb, b);
    return 0;
}

/* Identical groups (every layer of a model) give structurally equal PrimFuncs: the first one
 * is kept and the others' calls are pointed at it. */
mlcc_ir_module *pass_fuse_tir(const mlcc_ir_module *m, void *ctx) {
    (void)ctx;
    mlcc_ir_module *fused = irmod_copy(m);
    fuse_tir_ctx c = {m, {NULL, 0, 0}};
    strmap_init(&c.canonical);
    mlcc_u64map by_hash;
    u64map_init(&by_hash);
    int failed = 0;
    for (int i = 0; i < m->n && !failed; i++) {
        const irmod_entry *e = &m->entries[i];
        if (e->kind != IRMOD_GRAPH || !rx_attrs_int(e->graph->func.attrs, "Primitive", 0)) continue;
        mlcc_prim_func *f = fuse_function(m, e->name, e->graph);
        if (!f) {
            failed = 1;
            break;
        }
        f = inline_loads(f, calls_dequantize(m, e->graph));
        uint64_t h = tir_structural_hash(f);
        mlcc_u64map_entry *seen = u64map_find(&by_hash, h);
        const char *name = e->name;
        if (seen && tir_structural_equal(irmod_get_prim(fused, seen->value.p), f)) name = seen->value.p;
        else if (!seen) u64map_upsert(&by_hash, h, NULL)->value.p = (void *)e->name;
        if (name == e->name) irmod_set_prim(fused, e->name, f);
        strmap_set_p(&c.canonical, e->name, (void *)name);
    }
    mlcc_ir_module *out = failed ? NULL : rx_rewrite_module(fused, "fuse_tir", rewrite_binding, &c, NULL);
    strmap_free(&c.canonical);
    u64map_free(&by_hash);
    return out ? remove_unreachable_functions(out) : NULL;
}
