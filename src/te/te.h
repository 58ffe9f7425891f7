/* te.h - tensor expressions: a small language for describing a tensor computation, lowered to
 * a PrimFunc with one block per stage (DESIGN.md §3.4).
 *
 *     n = ir_size_var("n");
 *     A = te_placeholder("A", DT_F32, (mlcc_expr*[]){n, ir_int(64)}, 2);
 *     C = te_reduce("C", shape, 2, TE_SUM, (mlcc_expr*[]){ir_int(64)}, 1, body_fn, ctx);
 *     f = te_create_prim_func("matmul", (te_tensor*[]){A, B, C}, 3);
 *
 * A compute stage's body is given by a callback that receives the index variables (the spatial
 * ones, then the reduce ones) and returns the element value; it reads other tensors with
 * te_load. Tensors that are neither inputs nor outputs of te_create_prim_func become
 * intermediate buffers of the function. */
#ifndef MLCC_TE_TE_H
#define MLCC_TE_TE_H

#include "ir/tir.h"

typedef struct te_tensor te_tensor;

typedef enum { TE_SUM, TE_MAX, TE_MIN, TE_PROD } te_combiner;

/* Returns the value at `indices` (spatial axes first, then reduce axes). */
typedef mlcc_expr *(*te_body_fn)(mlcc_expr **indices, void *ctx);

struct te_tensor {
    mlcc_buffer *buffer;
    /* stage (NULL for placeholders) */
    int is_compute;
    int nreduce;
    mlcc_expr **reduce_extents;
    te_combiner combiner;
    mlcc_expr *body;            /* over axis_vars */
    mlcc_expr **axis_vars;      /* ndim spatial vars then nreduce reduce vars */
    te_tensor **inputs;         /* tensors the body reads */
    int ninputs;
};

te_tensor *te_placeholder(const char *name, mlcc_dtype t, mlcc_expr **shape, int ndim);
te_tensor *te_compute(const char *name, mlcc_dtype t, mlcc_expr **shape, int ndim, te_body_fn fn,
                      void *ctx);
te_tensor *te_reduce(const char *name, mlcc_dtype t, mlcc_expr **shape, int ndim,
                     te_combiner combiner, mlcc_expr **reduce_extents, int nreduce, te_body_fn fn,
                     void *ctx);
/* Axis names for the next te_compute/te_reduce (spatial then reduce; NULL-terminated), so
 * printed loops read `i, j, k` instead of `i0, i1, k0`. Applies to one call. */
void te_set_axis_names(const char **names);

/* A read of tensor t at indices, recorded as an input of the stage being built. */
mlcc_expr *te_load(te_tensor *t, mlcc_expr **indices, int nidx);
mlcc_expr *te_load1(te_tensor *t, mlcc_expr *i0);
mlcc_expr *te_load2(te_tensor *t, mlcc_expr *i0, mlcc_expr *i1);
mlcc_expr *te_load3(te_tensor *t, mlcc_expr *i0, mlcc_expr *i1, mlcc_expr *i2);

/* The PrimFunc computing the given tensors: args lists its parameters in order (placeholders
 * and outputs). NULL with an error if a needed input is not among args. */
mlcc_prim_func *te_create_prim_func(const char *name, te_tensor **args, int nargs);

#endif
