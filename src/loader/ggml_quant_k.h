/* ggml_quant_k.h - ggml's reference k-quant quantizers (quantize_row_q4_K_ref, _q5_K_ref,
 * quantize_row_q6_K_ref in llama.cpp's ggml-quants.c), one 256-value super-block at a time, for
 * the GGUF writer (ggml_quant.c):
 *   Q4_K (144 bytes): 8 sub-blocks of 32, each fitted with a scale and a min by a weighted
 *        least-squares search over 21 candidate steps; the 8 scales and 8 mins quantized to 6
 *        bits against d = max scale / 63 and dmin = max min / 63; x = d sc q - dmin m, q in 0..15;
 *   Q5_K (176 bytes): the same with 16 candidate steps from -0.5, q in 0..31 (the fifth bits in
 *        qh[32]);
 *   Q6_K (210 bytes): 16 sub-blocks of 16, each fitted with a signed scale (19 candidate steps,
 *        weights x^2); the scales quantized to int8 against d = max |scale| / 128 (sign kept);
 *        x = d sc (q - 32), q in 0..63.
 * The arithmetic follows the reference step by step (float32, the same operation order), so
 * the bytes match a build of ggml that does not contract a * b + c into fused multiply-adds. */
#ifndef MLCC_LOADER_GGML_QUANT_K_H
#define MLCC_LOADER_GGML_QUANT_K_H

#include <stdint.h>

enum { GGML_QK_K = 256, GGML_Q4_K_BYTES = 144, GGML_Q5_K_BYTES = 176, GGML_Q6_K_BYTES = 210 };

void ggml_quantize_block_q4_k(const float *x, uint8_t *out);
void ggml_quantize_block_q5_k(const float *x, uint8_t *out);
void ggml_quantize_block_q6_k(const float *x, uint8_t *out);

#endif
