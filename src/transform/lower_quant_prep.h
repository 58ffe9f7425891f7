/* lower_quant_prep.h - int8 activations prepared once per quantized matmul (see the .c file). */
#ifndef MLCC_TRANSFORM_LOWER_QUANT_PREP_H
#define MLCC_TRANSFORM_LOWER_QUANT_PREP_H

#include "ir/tir.h"

/* f (loop form, after tir_lower_blocks) with each parallel loop of int8-activation GEMM_NT_Q
 * calls on the same rows preceded by one preparation of those rows; f itself when none. */
mlcc_prim_func *lower_quant_prep(const mlcc_prim_func *f);

#endif
