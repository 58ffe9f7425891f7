/* functor.h - generic traversal and rewriting of TensorIR.
 *
 * A visitor walks expressions and statements in pre-order; its hooks may stop the descent into
 * a node's children. A mutator rebuilds a tree bottom-up: its hooks get the first word on each
 * node (returning NULL means "not handled, do the default", which mutates the children and
 * rebuilds the node only if a child changed, so untouched subtrees stay shared). The buffer
 * hook remaps buffers wherever they appear (loads, stores, regions, allocations). */
#ifndef MLCC_IR_FUNCTOR_H
#define MLCC_IR_FUNCTOR_H

#include "ir/tir.h"

typedef struct ir_visitor ir_visitor;
struct ir_visitor {
    /* Return 0 to skip the node's children. NULL hooks visit everything. */
    int (*expr)(ir_visitor *v, mlcc_expr *e);
    int (*stmt)(ir_visitor *v, mlcc_stmt *s);
    void *ctx;
};

void ir_visit_expr(ir_visitor *v, mlcc_expr *e);
void ir_visit_stmt(ir_visitor *v, mlcc_stmt *s);

typedef struct ir_mutator ir_mutator;
struct ir_mutator {
    mlcc_expr *(*expr)(ir_mutator *m, mlcc_expr *e);
    mlcc_stmt *(*stmt)(ir_mutator *m, mlcc_stmt *s);
    mlcc_buffer *(*buffer)(ir_mutator *m, mlcc_buffer *b);
    void *ctx;
};

mlcc_expr *ir_mutate_expr(ir_mutator *m, mlcc_expr *e);
mlcc_stmt *ir_mutate_stmt(ir_mutator *m, mlcc_stmt *s);
/* The default actions, for hooks that handle a node partly and then recurse. */
mlcc_expr *ir_mutate_expr_children(ir_mutator *m, mlcc_expr *e);
mlcc_stmt *ir_mutate_stmt_children(ir_mutator *m, mlcc_stmt *s);
mlcc_block *ir_mutate_block(ir_mutator *m, mlcc_block *b);
mlcc_buffer *ir_mutate_buffer(ir_mutator *m, mlcc_buffer *b);

/* Replaces vars (by identity) with values. */
mlcc_expr *expr_substitute(mlcc_expr *e, mlcc_expr **vars, mlcc_expr **values, int n);
mlcc_stmt *stmt_substitute(mlcc_stmt *s, mlcc_expr **vars, mlcc_expr **values, int n);
/* Replaces buffers (by identity) everywhere they appear. */
mlcc_stmt *stmt_replace_buffers(mlcc_stmt *s, mlcc_buffer **from, mlcc_buffer **to, int n);

/* Does e mention var (by identity)? Does it load from any buffer? */
int expr_uses_var(const mlcc_expr *e, const mlcc_expr *var);
int expr_has_load(const mlcc_expr *e);
int stmt_uses_var(mlcc_stmt *s, const mlcc_expr *var);

#endif
