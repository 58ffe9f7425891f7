/* ggml_quant.h - float32 to ggml tensor data, as ggml's reference quantizers write it (so a file
 * made here is bit-identical to one llama.cpp's tools would make from the same floats):
 *   F32  copied;  F16  rounded to nearest, ties to even;
 *   Q8_0 blocks of 32: d = max|x| / 127 (stored as f16), q = round(x / d) (int8);
 *   Q4_0 blocks of 32: m = the element of largest magnitude (with its sign), d = m / -8 (f16),
 *        q = min(15, (int8)(x / d + 8.5)); byte j holds element j in its low nibble and
 *        element j + 16 in its high nibble.
 *   Q4_K, Q6_K super-blocks of 256 (ggml_quant_k.h).
 * The inverse is ggml_dequant.h. */
#ifndef MLCC_LOADER_GGML_QUANT_H
#define MLCC_LOADER_GGML_QUANT_H

#include <stddef.h>
#include <stdint.h>

/* Bytes that n elements of `type` take (n a whole number of blocks); 0 when the type is not
 * one of F32, F16, Q8_0, Q4_0, Q4_K, Q6_K or n does not fill whole blocks. */
size_t ggml_quant_size(uint32_t type, uint64_t n);
/* Writes ggml_quant_size(type, n) bytes to dst. -1 + error for an unsupported type or a count
 * that is not a whole number of blocks. */
int ggml_quantize(uint32_t type, const float *src, uint64_t n, void *dst);

#endif
