/* ggml_dequant.h - ggml tensor data to float32: F32, F16, BF16 and the block formats Q8_0
 * (f16 scale d + 32 int8: x = q d) and Q4_0 (f16 scale d + 16 bytes of nibbles: x = (q - 8) d,
 * low nibbles are elements 0..15 of the block, high nibbles 16..31), Q4_1 (d, m: x = q d + m),
 * Q5_0 / Q5_1 (a fifth bit per element from a 32-bit mask), and the k-quants Q4_K,
 * Q5_K, Q6_K (super-blocks of 256 with 6- or 8-bit sub-block scales), as ggml's reference
 * dequantizers define them. */
#ifndef MLCC_LOADER_GGML_DEQUANT_H
#define MLCC_LOADER_GGML_DEQUANT_H

#include <stddef.h>
#include <stdint.h>

/* Converts n elements of `type` at data (nbytes long) into out. -1 + error when the type is
 * not supported or nbytes does not hold n elements (n must be a whole number of blocks). */
int ggml_dequantize_f32(uint32_t type, const void *data, size_t nbytes, uint64_t n, float *out);

#endif
