/* dequant_expr.h - the TIR expression of one dequantized weight value (docs/quantization.md),
 * shared by the op that emits it (op/quantize.c) and the schedule that recognizes it inside a
 * fused matmul (schedule/tensorize.c matches a block's weight operand against this form). */
#ifndef MLCC_QUANT_DEQUANT_EXPR_H
#define MLCC_QUANT_DEQUANT_EXPR_H

#include "ir/tir.h"

/* float32((word >> (bits * (j % per))) % 2^bits - zero) * float32(scale), written with constant
 * divisors and a select tree over j % per (TIR has no shifts): `word` is the uint32 load of the
 * packed word holding value j, `scale` the load of its group's scale. */
mlcc_expr *quant_dequant_value(mlcc_expr *word, mlcc_expr *j, mlcc_expr *scale, int bits, int zero_point);

/* Per-group zero points (group_zero schemes: q_scale holds (scale, zero) per group):
 * (float32(q) - float32(zero)) * float32(scale), `zero` the load of the group's zero point. */
mlcc_expr *quant_dequant_value_zero(mlcc_expr *word, mlcc_expr *j, mlcc_expr *scale, mlcc_expr *zero, int bits);
/* The q_scale column of value j's scale (which 0) or zero point (which 1) in a group_zero
 * layout: (j // group) * 2 + which. */
mlcc_expr *quant_group_zero_col(mlcc_expr *j, int group, int which);
/* Loads for quant_kquant_value: which 0 is q_weight's word at column `col` of the row, which 1
 * q_scale's float16 at column `col` (the caller fixes the row). */
typedef mlcc_expr *(*quant_kquant_load)(void *ctx, int which, mlcc_expr *col);

/* Value j of a row of k-quant super-blocks (ggml type 12 Q4_K, 13 Q5_K, 14 Q6_K; the layout of
 * quant/scheme.h), as float32, computed as ggml's dequantizer does; NULL for other types. Byte
 * B of the row's words is word B // 4 picked apart by a select tree over B % 4. */
mlcc_expr *quant_kquant_value(int ggml_type, mlcc_expr *j, quant_kquant_load load, void *ctx);

#endif
