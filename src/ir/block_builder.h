/* block_builder.h - builds graph functions binding by binding, deducing struct info as it goes.
 *
 *     rx_builder *bb = bb_new(mod);
 *     n = ir_size_var("n");
 *     x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(64), NULL));
 *     bb_begin_function(bb, "main", (rx_expr *[]){x, w}, 2);
 *     bb_begin_dataflow(bb);
 *     lv = bb_emit(bb, op_matmul(x, w), "lv");   // lv: R.Tensor((n, 32), "float32")
 *     gv = bb_emit_output(bb, lv, "gv");
 *     bb_end_dataflow(bb);
 *     bb_end_function(bb, gv);                   // adds "main" to mod
 *
 * emit normalizes its value first: every nested call is bound to its own var (so bindings are
 * flat, A-normal form), then the value's struct info is deduced (the op's infer hook, the
 * callee's Func sinfo, or the sinfo_args of call_tir). A deduction error (a shape mismatch)
 * makes emit return NULL with the op's message; the builder remembers the first error, further
 * emits with NULL operands return NULL quietly, and bb_end_function reports that first error -
 * so a model builder can emit a whole graph and check once. */
#ifndef MLCC_IR_BLOCK_BUILDER_H
#define MLCC_IR_BLOCK_BUILDER_H

#include "ir/module.h"

rx_builder *bb_new(mlcc_ir_module *mod);
void bb_free(rx_builder *bb);
mlcc_ir_module *bb_module(rx_builder *bb);

/* Starts a function with the given parameter vars (each with struct info). */
void bb_begin_function(rx_builder *bb, const char *name, rx_expr **params, int nparams);
/* Ends the current block (if any), makes `result` the body and adds the function to the
 * module (as an RX_FUNCTION with attr global_symbol = name). Returns its global var, or NULL
 * with the builder's first error. */
rx_expr *bb_end_function(rx_builder *bb, rx_expr *result);
/* Function attrs for the function being built. */
void bb_set_function_attrs(rx_builder *bb, rx_attrs attrs);
/* The function being built gets no global_symbol: it is private to the module (callable from
 * its other functions; dead-code elimination drops it when nothing calls it). */
void bb_set_function_private(rx_builder *bb);

void bb_begin_dataflow(rx_builder *bb);
int bb_end_dataflow(rx_builder *bb); /* -1 if no dataflow block is open */

/* Binds value (normalized) to a fresh var named name_hint (a DataflowVar inside a dataflow
 * block). NULL + error on failure. */
rx_expr *bb_emit(rx_builder *bb, rx_expr *value, const char *name_hint);
/* Binds value to a (non-dataflow) Var that is visible after the dataflow block. */
rx_expr *bb_emit_output(rx_builder *bb, rx_expr *value, const char *name_hint);
/* Binds value to a var of struct info `sinfo`, checked when the function runs; fresh size vars
 * in sinfo's shape become defined by the value's runtime shape. */
rx_expr *bb_match_cast(rx_builder *bb, rx_expr *value, rx_sinfo *sinfo, const char *name_hint);

/* Normalizes e: nested calls / non-leaf tuple fields are emitted as bindings in the current
 * block, struct info deduced. The result is a leaf or a call of leaves with sinfo set. */
rx_expr *bb_normalize(rx_builder *bb, rx_expr *e);
/* Struct info of a value whose operands are normalized (what emit uses). */
rx_sinfo *bb_infer(rx_builder *bb, const rx_expr *e);

/* Adds a PrimFunc under a name derived from name_hint, unless a structurally equal one is
 * already in the module, whose global var is then returned instead. */
rx_expr *bb_add_prim_func(rx_builder *bb, mlcc_prim_func *f, const char *name_hint);
/* Adds a graph function (e.g. one a pass rebuilt) under a unique name; returns its global. */
rx_expr *bb_add_graph_func(rx_builder *bb, rx_expr *func, const char *name_hint);

/* The first error recorded (NULL when none). */
const char *bb_error(rx_builder *bb);

/* Lower-level access for passes that rebuild functions: open a plain or dataflow block and
 * collect the bindings emitted into it. */
void bb_begin_block(rx_builder *bb, int is_dataflow);
rx_block bb_end_block(rx_builder *bb);
/* Appends an existing binding (var kept) to the current block. */
void bb_emit_binding(rx_builder *bb, rx_binding b);
/* Is the builder inside a dataflow block? */
int bb_in_dataflow(rx_builder *bb);

#endif
