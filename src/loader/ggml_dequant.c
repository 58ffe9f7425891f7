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

/* Q4_1 (20 bytes): d, m (f16), 16 bytes of nibbles as Q4_0's; x = q d + m. */
static void dequant_q4_1(const uint8_t *src, uint64_t blocks, float *out) {
    for (uint64_t b = 0; b < blocks; b++, src += 4 + QK / 2, out += QK) {
        float d = mlcc_f16_to_f32(rd16(src)), m = mlcc_f16_to_f32(rd16(src + 2));
        const uint8_t *q = src + 4;
        for (int i = 0; i < QK / 2; i++) {
            out[i] = (float)(q[i] & 0x0F) * d + m;
            out[i + QK / 2] = (float)(q[i] >> 4) * d + m;
        }
    }
}

/* Q5_0 (22 bytes: d, qh[4], qs[16]) and Q5_1 (24 bytes: d, m, qh[4], qs[16]): 5-bit codes whose
 * low 4 bits are Q4_0's nibbles and whose fifth bit of element j is bit j of the little-endian
 * uint32 qh; x = (q - 16) d (Q5_0) or q d + m (Q5_1). */
static void dequant_q5(const uint8_t *src, uint64_t blocks, float *out, int with_min) {
    size_t head = with_min ? 4 : 2;
    for (uint64_t b = 0; b < blocks; b++, src += head + 4 + QK / 2, out += QK) {
        float d = mlcc_f16_to_f32(rd16(src)), m = with_min ? mlcc_f16_to_f32(rd16(src + 2)) : 0.0f;
        uint32_t qh = (uint32_t)src[head] | (uint32_t)src[head + 1] << 8 | (uint32_t)src[head + 2] << 16 |
                      (uint32_t)src[head + 3] << 24;
        const uint8_t *q = src + head + 4;
        for (int i = 0; i < QK / 2; i++) {
            int lo = (q[i] & 0x0F) | (int)((qh >> i) & 1) << 4, hi = (q[i] >> 4) | (int)((qh >> (i + 16)) & 1) << 4;
            if (with_min) {
                out[i] = (float)lo * d + m;
                out[i + QK / 2] = (float)hi * d + m;
            } else {
                out[i] = (float)(lo - 16) * d;
                out[i + QK / 2] = (float)(hi - 16) * d;
            }
        }
    }
}

/* ---- k-quants: super-blocks of 256 ---- */
enum { QK_K = 256 };

/* The 6-bit scale and min of sub-block j from the 12 packed bytes of Q4_K / Q5_K. */
static void scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q4_K (144 bytes): d, dmin (f16), scales[12], qs[128]; 8 sub-blocks of 32, x = d sc q - dmin m.
 * Q5_K (176 bytes): the same with qh[32] (the fifth bit) before qs. */
static void dequant_q45_k(const uint8_t *src, uint64_t blocks, float *out, int five) {
    size_t block_bytes = five ? 176 : 144;
    for (uint64_t b = 0; b < blocks; b++, src += block_bytes) {
        float d = mlcc_f16_to_f32(rd16(src)), dmin = mlcc_f16_to_f32(rd16(src + 2));
        const uint8_t *scales = src + 4, *qh = src + 16, *q = src + (five ? 48 : 16);
        for (int j = 0, is = 0; j < QK_K; j += 64, is += 2, q += 32) {
            uint8_t sc, m;
            scale_min_k4(is, scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            scale_min_k4(is + 1, scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            int lo_bit = 1 << is, hi_bit = 2 << is; /* qh bits of these two sub-blocks */
            for (int l = 0; l < 32; l++) *out++ = d1 * (float)((q[l] & 0xF) + (five && (qh[l] & lo_bit) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *out++ = d2 * (float)((q[l] >> 4) + (five && (qh[l] & hi_bit) ? 16 : 0)) - m2;
        }
    }
}

/* Q6_K (210 bytes): ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d (f16);
 * x = d scale (q - 32), 16 sub-blocks of 16. */
static void dequant_q6_k(const uint8_t *src, uint64_t blocks, float *out) {
    for (uint64_t b = 0; b < blocks; b++, src += 210) {
        const uint8_t *ql = src, *qh = src + 128;
        const int8_t *sc = (const int8_t *)(src + 192);
        float d = mlcc_f16_to_f32(rd16(src + 208));
        for (int n = 0; n < QK_K; n += 128, out += 128, ql += 64, qh += 32, sc += 8)
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                out[l] = d * sc[is] * (float)q1;
                out[l + 32] = d * sc[is + 2] * (float)q2;
                out[l + 64] = d * sc[is + 4] * (float)q3;
                out[l + 96] = d * sc[is + 6] * (float)q4;
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
    case MLCC_GGML_Q4_1: dequant_q4_1(src, blocks, out); return 0;
    case MLCC_GGML_Q5_0: dequant_q5(src, blocks, out, 0); return 0;
    case MLCC_GGML_Q5_1: dequant_q5(src, blocks, out, 1); return 0;
    case MLCC_GGML_Q4_K: dequant_q45_k(src, blocks, out, 0); return 0;
    case MLCC_GGML_Q5_K: dequant_q45_k(src, blocks, out, 1); return 0;
    case MLCC_GGML_Q6_K: dequant_q6_k(src, blocks, out); return 0;
    default:
        return mlcc_set_error("ggml type %s is not supported yet (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)",
                              mlcc_ggml_type_name(type));
    }
}
