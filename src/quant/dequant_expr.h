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

#endif
