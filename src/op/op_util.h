/* op_util.h - helpers shared by the op definitions: operand checks with messages that name the
 * op, the operands and their shapes; symbolic dimension comparison; and the te plumbing that
 * turns a legalized computation into a call_tir. Internal to src/op/. */
#ifndef MLCC_OP_OP_UTIL_H
#define MLCC_OP_OP_UTIL_H

#include "op/op.h"
#include "te/te.h"

/* The most dimensions an op operand may have (ops index with fixed arrays of this size). */
#define OP_MAX_NDIM 8

/* The op name without its namespace ("nn.softmax" -> "softmax"), for messages and kernels. */
const char *op_short_name(const rx_expr *call);
/* `x: Tensor((n, 64), "float32")` for operand i (the operand's var name, else "operand i"). */
char *op_operand_desc(const rx_expr *call, int i);
/* Operand i as a tensor, else NULL + error "<op>: operand ... is not a tensor". */
rx_sinfo *op_tensor_arg(const rx_expr *call, int i);
/* As op_tensor_arg, and the shape must be known. */
rx_sinfo *op_tensor_arg_shaped(const rx_expr *call, int i);
/* Same-dtype check of operands i and j. */
int op_check_same_dtype(const rx_expr *call, int i, int j);
/* Normalizes a possibly negative axis against ndim; -1 + error naming the op when out of range. */
int op_normalize_axis(const rx_expr *call, int64_t axis, int ndim, int *out);

/* Are two extents equal: the same expression, or provably equal by the arith analyzer. */
int dim_equal(mlcc_expr *a, mlcc_expr *b);
/* Provably different (both constants and unequal). */
int dim_differ(mlcc_expr *a, mlcc_expr *b);
/* The product of extents (folded where constant). */
mlcc_expr *dims_product(mlcc_expr **dims, int n);

/* ---- legalization ---- */
/* The te placeholder for tensor operand i. */
te_tensor *leg_input(const rx_expr *call, int i, const char *name);
/* The te placeholder for a tensor-valued leaf expression. */
te_tensor *leg_input_expr(const rx_expr *e, const char *name);
/* Builds the PrimFunc over (inputs..., outputs...), adds it to the module and returns the
 * call_tir that replaces `call`, passing args (one per input). */
rx_expr *leg_finish(rx_builder *bb, const rx_expr *call, te_tensor **inputs, rx_expr **args, int ninputs,
                    te_tensor **outputs, int noutputs);
/* "T_<op>": the output tensor name, as TVM names them. */
const char *leg_out_name(const rx_expr *call);
/* Output shape of the call (its sinfo must be a shaped tensor). */
mlcc_expr **leg_out_shape(const rx_expr *call, int *ndim);

/* ---- registry plumbing (registry.c) ---- */
void op_register(const rx_op_def *op);
void op_register_elementwise(void);
void op_register_linear(void);
void op_register_manip(void);
void op_register_nn(void);
void op_register_reduce(void);
void op_register_create(void);
void op_register_calls(void);
void op_register_rope(void);
void op_register_attention(void);
void op_register_quantize(void);

#endif
