/* ggml_dequant.c - see ggml_dequant.h. */
#include "loader/ggml_dequant.h"

#include <string.h>

#include "loader/gguf.h"
#include "mlcc/mlcc_runtime.h"
#include "support/error.h"

enum { QK = 32 };

static uint16_t rd16(const uint8_t *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}

static void dequant_q8_0(const uint8_t *src, uint64_t blocks, float *out) {
    for (uint64_t b = 0; b < blocks; b++, src += 2 + QK) {
        float d = mlcc_f16_to_f32(rd16(src));
        const int8_t *q = (const int8_t *)(src + 2);
        for (int i = 0; i < QK; i++) *out++ = (float)q[i] * d;
    }
}

static void dequant_q4_0(const uint8_t *src, uint64_t blocks, float *out) {
    for (uint64_t b = 0; b < blocks; b++, src += 2 + QK / 2, out += QK) {
        float d = mlcc_f16_to_f32(rd16(src));
        const uint8_t *q = src + 2;
        for (int i = 0; i < QK / 2; i++) {
            out[i] = (float)((q[i] & 0x0F) - 8) * d;
            out[i + QK / 2] = (float)((q[i] >> 4) - 8) * d;
        }
    }
}

int ggml_dequantize_f32(uint32_t type, const void *data, size_t nbytes, uint64_t n, float *out) {
    uint64_t block_bytes, block_elems;
    if (!mlcc_ggml_type_layout(type, &block_bytes, &block_elems)) return mlcc_set_error("ggml type %u is unknown", type);
    if (n % block_elems) return mlcc_set_error("%llu elements are not whole %s blocks", (unsigned long long)n, mlcc_ggml_type_name(type));
    uint64_t blocks = n / block_elems;
    if (blocks > SIZE_MAX / block_bytes || blocks * block_bytes > nbytes)
        return mlcc_set_error("%s data is shorter than %llu elements", mlcc_ggml_type_name(type), (unsigned long long)n);
    const uint8_t *src = data;
    switch (type) {
    case MLCC_GGML_F32: memcpy(out, src, n * sizeof(float)); return 0;
    case MLCC_GGML_F16:
        for (uint64_t i = 0; i < n; i++) out[i] = mlcc_f16_to_f32(rd16(src + 2 * i));
        return 0;
    case MLCC_GGML_BF16:
        for (uint64_t i = 0; i < n; i++) out[i] = mlcc_bf16_to_f32(rd16(src + 2 * i));
        return 0;
    case MLCC_GGML_Q8_0: dequant_q8_0(src, blocks, out); return 0;
    case MLCC_GGML_Q4_0: dequant_q4_0(src, blocks, out); return 0;
    default: return mlcc_set_error("ggml type %s is not supported yet (F32, F16, BF16, Q8_0, Q4_0)", mlcc_ggml_type_name(type));
    }
}
