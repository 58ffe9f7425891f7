/* lower_tir.c - block form to loop form (see lower_tir.h). */
#include "transform/lower_tir.h"

#include "arith/analyzer.h"
#include "ir/functor.h"

static mlcc_stmt *lower_realize(ir_mutator *m, mlcc_stmt *s);

static mlcc_stmt *lower_hook(ir_mutator *m, mlcc_stmt *s) {
    return s->kind == STMT_BLOCK_REALIZE ? lower_realize(m, s) : NULL;
}

/* The condition under which a reduction block's init runs: every reduce iter at its start. */
static mlcc_expr *first_reduce_step(const mlcc_block *b, mlcc_expr **values) {
    mlcc_expr *cond = ir_bool(1);
    for (int i = 0; i < b->niters; i++)
        if (b->iters[i].type == ITER_REDUCE) cond = ir_and(cond, ir_eq(values[i], b->iters[i].dom.min));
    return cond;
}

static mlcc_stmt *lower_realize(ir_mutator *m, mlcc_stmt *s) {
    const mlcc_block *b = s->realize.block;
    mlcc_expr **vars = ir_alloc(sizeof(mlcc_expr *) * (size_t)(b->niters + 1));
    for (int i = 0; i < b->niters; i++) vars[i] = b->iters[i].var;
    mlcc_expr **values = s->realize.iter_values;

    mlcc_stmt *body = ir_mutate_stmt(m, b->body);
    if (b->init) {
        mlcc_stmt *init = ir_mutate_stmt(m, b->init);
        mlcc_expr *cond = first_reduce_step(b, vars);
        body = ir_seq2(expr_is_int(cond, 1) ? init : ir_if(cond, init, NULL), body);
    }
    body = stmt_substitute(body, vars, values, b->niters);
    for (int i = b->nalloc - 1; i >= 0; i--) body = ir_allocate(b->alloc_buffers[i], body);
    mlcc_expr *pred = arith_simplify_expr(s->realize.predicate);
    if (!expr_is_int(pred, 1)) body = ir_if(pred, body, NULL);
    return body;
}

mlcc_prim_func *tir_lower_blocks(const mlcc_prim_func *f) {
    ir_mutator m = {NULL, lower_hook, NULL, NULL};
    mlcc_prim_func *out = prim_func_copy(f);
    mlcc_stmt *body = ir_mutate_stmt(&m, f->body);
    for (int i = f->nalloc - 1; i >= 0; i--) body = ir_allocate(f->alloc_buffers[i], body);
    out->body = body;
    out->alloc_buffers = NULL;
    out->nalloc = 0;
    return out;
}
