/* op.h - graph operators (DESIGN.md §3.6): a registry by name, and constructors that build
 * calls of them for the block builder (struct info is deduced when the call is emitted).
 *
 * Each op (rx_op_def) has a struct-info inference hook, which checks operands and reports a
 * mismatch naming the op, the operands and their shapes, and a legalization hook that writes
 * the op as a te computation: legalize adds the resulting PrimFunc to the module and replaces
 * the call with call_tir. Op names follow TVM Relax ("add", "matmul", "nn.softmax", ...).
 *
 * Attributes (rx_attrs) used by ops:
 *   matmul: transpose_b (int, 0/1: x @ W^T with W stored [out, in]), out_dtype (dtype)
 *   permute_dims: axes (ints; absent: reversed)   concat/split/take/softmax: axis (int)
 *   split: sections (int) or indices (ints)        astype/full/zeros: dtype
 *   strided_slice: axes, begin, end, strides (ints; end clamps, INT64_MAX = to the end)
 *   sum/max/mean: axis (ints; absent: all), keepdims (int)
 *   nn.rms_norm / nn.layer_norm: axes (ints; the last axis), epsilon (float) */
#ifndef MLCC_OP_OP_H
#define MLCC_OP_OP_H

#include "ir/block_builder.h"

/* The op named `name` (NULL when unknown). */
const rx_op_def *op_get(const char *name);
/* Every registered op, for listing (count in *n). */
const rx_op_def *const *op_list(int *n);

/* A call of op `name`; NULL operands propagate (so a failed emit makes later ones fail
 * quietly). An unknown name is a programming error: reported through the builder's emit. */
rx_expr *op_call(const char *name, rx_expr **args, int nargs, rx_attrs attrs);

/* ---- constructors ---- */
rx_expr *op_binary(const char *name, rx_expr *x, rx_expr *y); /* add, subtract, ... power */
rx_expr *op_add(rx_expr *x, rx_expr *y);
rx_expr *op_subtract(rx_expr *x, rx_expr *y);
rx_expr *op_multiply(rx_expr *x, rx_expr *y);
rx_expr *op_divide(rx_expr *x, rx_expr *y);
rx_expr *op_maximum(rx_expr *x, rx_expr *y);
rx_expr *op_minimum(rx_expr *x, rx_expr *y);
rx_expr *op_power(rx_expr *x, rx_expr *y);
rx_expr *op_unary(const char *name, rx_expr *x); /* exp, tanh, sqrt, rsqrt, negative, sigmoid,
                                                    nn.silu, nn.gelu, nn.gelu_tanh, log */
rx_expr *op_matmul(rx_expr *x, rx_expr *y);
rx_expr *op_linear(rx_expr *x, rx_expr *weight); /* x @ weight^T: weight [out, in] */
rx_expr *op_reshape(rx_expr *x, mlcc_expr **shape, int ndim); /* one entry may be ir_int(-1) */
rx_expr *op_permute_dims(rx_expr *x, const int64_t *axes, int naxes); /* axes NULL: reverse */
rx_expr *op_concat(rx_expr **xs, int n, int axis);
rx_expr *op_split(rx_expr *x, int sections, int axis);
rx_expr *op_split_at(rx_expr *x, const int64_t *indices, int nindices, int axis);
rx_expr *op_take(rx_expr *x, rx_expr *indices, int axis);
rx_expr *op_strided_slice(rx_expr *x, const int64_t *axes, const int64_t *begin, const int64_t *end,
                          const int64_t *strides, int n); /* strides NULL: 1 */
rx_expr *op_astype(rx_expr *x, mlcc_dtype t);
rx_expr *op_rms_norm(rx_expr *x, rx_expr *weight, double eps);
rx_expr *op_layer_norm(rx_expr *x, rx_expr *gamma, rx_expr *beta, double eps);
rx_expr *op_softmax(rx_expr *x, int axis);
/* name: "sum", "max", "mean"; axes NULL: all axes. */
rx_expr *op_reduce(const char *name, rx_expr *x, const int64_t *axes, int naxes, int keepdims);
/* Rotary embedding of x [n, heads, head_dim] with inv_freq [head_dim/2] (float64) at positions
 * [n] (NULL: 0..n-1); see rope.c. */
rx_expr *op_rope(rx_expr *x, rx_expr *inv_freq, rx_expr *positions);
/* nn.rope_table: cos and sin of every (position, frequency) [n, 2, half] float64, and nn.rope
 * reading them from it (the same results as op_rope; see rope.c). */
rx_expr *op_rope_table(rx_expr *inv_freq, rx_expr *positions);
rx_expr *op_rope_with_table(rx_expr *x, rx_expr *table);
/* Causal attention of q [n, heads, D] over k, v [m, kv_heads, D] (queries are the last n
 * positions); window 0 = unlimited, softcap 0 = none; see attention.c. */
rx_expr *op_attention(rx_expr *q, rx_expr *k, rx_expr *v, double scale, int64_t window, double softcap);
/* A quantized weight back to float32 [out, in_features] (quantize.c, docs/quantization.md):
 * bits 4/8 with q_scale, w = (q - zero_point) * scale; or bits 0 (q_scale NULL): a float16
 * weight cast. */
rx_expr *op_dequantize(rx_expr *q_weight, rx_expr *q_scale, int bits, int group_size, int zero_point, int64_t in_features);
/* The same; group_zero 1: q_scale holds (scale, zero) per group and w = (q - zero) * scale. */
rx_expr *op_dequantize_group_zero(rx_expr *q_weight, rx_expr *q_scale, int bits, int group_size, int zero_point, int group_zero,
                                  int64_t in_features);
/* quant.dequantize of k-quant super-blocks (ggml_type 12 Q4_K, 13 Q5_K, 14 Q6_K; quant/scheme.h). */
rx_expr *op_dequantize_kquant(rx_expr *q_weight, rx_expr *q_scale, int ggml_type, int64_t in_features);
rx_expr *op_full(mlcc_expr **shape, int ndim, double value, mlcc_dtype t);
rx_expr *op_zeros(mlcc_expr **shape, int ndim, mlcc_dtype t);

/* Destination-passing and packed calls: struct info from out_sinfo (no legalization). */
rx_expr *op_call_tir(rx_expr *prim_gv, rx_expr **args, int nargs, rx_sinfo *out_sinfo);
rx_expr *op_call_dps_packed(const char *func, rx_expr **args, int nargs, rx_sinfo *out_sinfo);
rx_expr *op_call_packed(const char *func, rx_expr **args, int nargs, rx_sinfo *ret_sinfo);

#endif
