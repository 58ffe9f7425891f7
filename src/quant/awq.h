/* awq.h - AutoAWQ checkpoints (docs/quantization.md, "AWQ checkpoints"): the config.json
 * `quantization_config` that marks one, and the exact repacking of its tensors into the
 * q4f16_awq layout (quant/scheme.h).
 *
 * AutoAWQ's GEMM format, per linear layer `<prefix>` of weight W [out, in]:
 *   <prefix>.qweight  int32 [in, out / 8]: word (j, c) holds W's codes of input j for the 8
 *                     output columns 8c + AWQ_ORDER[p] at bits 4p .. 4p + 3, where
 *                     AWQ_ORDER = {0, 2, 4, 6, 1, 3, 5, 7} (value of column 8c + t sits in
 *                     nibble {0, 4, 1, 5, 2, 6, 3, 7}[t]);
 *   <prefix>.qzeros   int32 [in / group, out / 8]: the groups' zero points, packed the same way;
 *   <prefix>.scales   float16 [in / group, out];
 *   W[o, j] = (code(j, o) - zero(j / group, o)) * scales[j / group, o]. */
#ifndef MLCC_QUANT_AWQ_H
#define MLCC_QUANT_AWQ_H

#include <jansson.h>
#include <stdint.h>

/* Reads config.json's quantization_config `qc` (file names it in errors). No quantization
 * config: 0 with *group_size 0. quant_method "awq": checked (bits 4, zero_point true, version
 * "gemm", group_size 32, 64 or 128) and 0 with *group_size set; otherwise -1 + error naming
 * the file and the field. Another quant_method is an error too (its tensors are not
 * readable here). */
int awq_config_parse(json_t *qc, const char *file, int *group_size);

/* The 4-bit code of W[o, j] in AutoAWQ's int32 [rows, cols] packing (little-endian bytes,
 * possibly unaligned): word (j, o / 8), nibble AWQ_REVERSE_ORDER[o % 8]. */
int awq_code(const uint8_t *packed, int64_t cols, int64_t j, int64_t o);

/* Repacks one layer (qweight, qzeros as little-endian int32 bytes, scales as float16 bytes;
 * in % group == 0, out % 8 == 0) into q4f16_awq's q_weight uint32 [out, in / 8] and q_scale
 * float16 [out, 2 * in / group] ((scale, zero) per group). Exact: the values they stand for
 * are AutoAWQ's dequantized ones. */
void awq_repack(const uint8_t *qweight, const uint8_t *qzeros, const uint8_t *scales, int64_t in, int64_t out, int group,
                uint32_t *q_weight, uint16_t *q_scale);

#endif
