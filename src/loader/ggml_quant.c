/* ggml_quant.c - ggml's reference quantizers (quantize_row_q8_0_ref, quantize_row_q4_0_ref;
 * the k-quants Q4_K, Q5_K and Q6_K in ggml_quant_k.c) and F16/F32 rows, for the GGUF writer. */
#include "loader/ggml_quant.h"

#include <math.h>
#include <string.h>

#include "loader/ggml_quant_k.h"
#include "loader/gguf.h"
#include "mlcc/mlcc_runtime.h"
#include "support/error.h"

enum { QK = 32 };

static void put_f16(uint8_t *p, float v) {
    uint16_t h = mlcc_f32_to_f16(v);
    p[0] = (uint8_t)(h & 0xff), p[1] = (uint8_t)(h >> 8);
}

static void quantize_block_q8_0(const float *x, uint8_t *out) {
    float amax = 0;
    for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    put_f16(out, d);
    for (int j = 0; j < QK; j++) out[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

static void quantize_block_q4_0(const float *x, uint8_t *out) {
    float amax = 0, max = 0; /* max keeps the sign of the largest-magnitude element */
    for (int j = 0; j < QK; j++)
        if (amax < fabsf(x[j])) amax = fabsf(x[j]), max = x[j];
    const float d = max / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
    put_f16(out, d);
    for (int j = 0; j < QK / 2; j++) {
        int8_t a = (int8_t)(x[j] * id + 8.5f), b = (int8_t)(x[QK / 2 + j] * id + 8.5f);
        uint8_t lo = (uint8_t)(a < 15 ? a : 15), hi = (uint8_t)(b < 15 ? b : 15);
        out[2 + j] = (uint8_t)(lo | (hi << 4));
    }
}

size_t ggml_quant_size(uint32_t type, uint64_t n) {
    switch (type) {
    case MLCC_GGML_F32: return (size_t)n * 4;
    case MLCC_GGML_F16: return (size_t)n * 2;
    case MLCC_GGML_Q8_0: return n % QK ? 0 : (size_t)(n / QK) * 34;
    case MLCC_GGML_Q4_0: return n % QK ? 0 : (size_t)(n / QK) * 18;
    case MLCC_GGML_Q4_K: return n % GGML_QK_K ? 0 : (size_t)(n / GGML_QK_K) * GGML_Q4_K_BYTES;
    case MLCC_GGML_Q5_K: return n % GGML_QK_K ? 0 : (size_t)(n / GGML_QK_K) * GGML_Q5_K_BYTES;
    case MLCC_GGML_Q6_K: return n % GGML_QK_K ? 0 : (size_t)(n / GGML_QK_K) * GGML_Q6_K_BYTES;
    default: return 0;
    }
}

int ggml_quantize(uint32_t type, const float *src, uint64_t n, void *dst) {
    uint8_t *out = dst;
    if (n == 0) return 0;
    if (ggml_quant_size(type, n) == 0)
        return mlcc_set_error("quantize: %llu elements cannot be written as %s (F32, F16, Q8_0/Q4_0 in blocks of 32, "
                              "Q4_K/Q5_K/Q6_K in blocks of 256)",
                              (unsigned long long)n, mlcc_ggml_type_name(type));
    switch (type) {
    case MLCC_GGML_F32: memcpy(out, src, (size_t)n * 4); break;
    case MLCC_GGML_F16:
        for (uint64_t i = 0; i < n; i++) put_f16(out + 2 * i, src[i]);
        break;
    case MLCC_GGML_Q8_0:
        for (uint64_t b = 0; b < n / QK; b++) quantize_block_q8_0(src + b * QK, out + b * 34);
        break;
    case MLCC_GGML_Q4_K:
        for (uint64_t b = 0; b < n / GGML_QK_K; b++) ggml_quantize_block_q4_k(src + b * GGML_QK_K, out + b * GGML_Q4_K_BYTES);
        break;
    case MLCC_GGML_Q5_K:
        for (uint64_t b = 0; b < n / GGML_QK_K; b++) ggml_quantize_block_q5_k(src + b * GGML_QK_K, out + b * GGML_Q5_K_BYTES);
        break;
    case MLCC_GGML_Q6_K:
        for (uint64_t b = 0; b < n / GGML_QK_K; b++) ggml_quantize_block_q6_k(src + b * GGML_QK_K, out + b * GGML_Q6_K_BYTES);
        break;
    default: /* Q4_0 */
        for (uint64_t b = 0; b < n / QK; b++) quantize_block_q4_0(src + b * QK, out + b * 18);
        break;
    }
    return 0;
}
