/* mlcc_ir.h - the public compiler API: build graph functions over symbolic shapes, print any
 * stage, and compile an IRModule into a model library or a ready VM.
 *
 *     mlcc_ir_scope_begin();
 *     mlcc_ir_builder *b = mlcc_ir_builder_new();
 *     mlcc_ir_dim n = mlcc_ir_size_var("n");
 *     mlcc_ir_value x = mlcc_ir_param(b, "x", "float32", 2, (mlcc_ir_dim[]){n, mlcc_ir_const(64)});
 *     ...
 *     mlcc_ir_value y = mlcc_ir_op(b, "add", (mlcc_ir_value[]){x, x}, 2, "y");
 *     mlcc_ir_module *m = mlcc_ir_builder_finish(b, "main", y, 1024);  // n <= 1024
 *     char *text = mlcc_ir_module_print(m);  ... free(text);
 *     mlcc_ir_build_library(m, "lib.so");
 *     mlcc_ir_scope_end();
 *
 * The full internal API (src/ir/graph.h, src/op/op.h, src/codegen/build.h) offers more; this
 * header is the stable subset an application needs. Functions that fail return NULL or -1 and
 * leave a message in mlcc_last_error(). */
#ifndef MLCC_IR_H
#define MLCC_IR_H

#include <stdint.h>

#include "mlcc/mlcc_runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mlcc_ir_module mlcc_ir_module;
typedef struct mlcc_ir_builder mlcc_ir_builder;
typedef struct mlcc_expr *mlcc_ir_dim;   /* a dimension: constant or symbolic */
typedef struct rx_expr *mlcc_ir_value;   /* a graph value (parameter or op result) */

/* IR memory: everything built between begin and end is released at end. */
void mlcc_ir_scope_begin(void);
void mlcc_ir_scope_end(void);

mlcc_ir_dim mlcc_ir_const(int64_t v);
mlcc_ir_dim mlcc_ir_size_var(const char *name);

/* A builder of one graph function "main" with a dataflow block. */
mlcc_ir_builder *mlcc_ir_builder_new(void);
/* A tensor parameter (dtype "float32", "float16", "int32", ...). */
mlcc_ir_value mlcc_ir_param(mlcc_ir_builder *b, const char *name, const char *dtype, int ndim, const mlcc_ir_dim *shape);
/* A call of a registered op ("add", "multiply", "matmul", "nn.silu", "nn.softmax", ...) with
 * default attributes; NULL with an error naming the op and operands when shapes do not fit. */
mlcc_ir_value mlcc_ir_op(mlcc_ir_builder *b, const char *op, const mlcc_ir_value *args, int nargs, const char *name);
/* Ends the function returning `result`; every size var gets the upper bound `bound` (0: none)
 * for static memory planning. Frees the builder. */
mlcc_ir_module *mlcc_ir_builder_finish(mlcc_ir_builder *b, const char *func_name, mlcc_ir_value result, int64_t bound);

/* TVMScript-like text of the module (malloc'ed). */
char *mlcc_ir_module_print(const mlcc_ir_module *m);
/* The module after the named pass of the build pipeline (legalize, fuse_ops, fuse_tir, ...). */
char *mlcc_ir_module_print_after(const mlcc_ir_module *m, const char *pass);
/* Compiles to a model library file (atomically written). */
int mlcc_ir_build_library(const mlcc_ir_module *m, const char *path);

#ifdef __cplusplus
}
#endif

#endif
