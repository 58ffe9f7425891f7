/* schedule_quant.h - the default CPU schedule's rule for fused dequantize + matmul blocks
 * (schedule_quant.c). */
#ifndef MLCC_TRANSFORM_SCHEDULE_QUANT_H
#define MLCC_TRANSFORM_SCHEDULE_QUANT_H

#include "schedule/schedule.h"

/* Schedules `block` of *s onto a quantized GEMM_NT intrinsic; 0 when applied (*s replaced by
 * the scheduled schedule, the intrinsic's name in *used), -1 with the reason otherwise (*s
 * unchanged). */
int schedule_quant_rule(mlcc_schedule **s, const char *block, const char **used);
/* Whether `bits`-bit weights use the int8-activation path (MLCC_QUANT_ACT, else the default). */
int schedule_quant_int8_activations(int bits);

#endif
