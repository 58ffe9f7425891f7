/* test_ggml_dequant.c - ggml block formats decoded to float32. Blocks are packed here the way
 * ggml's reference quantizers pack them (quantize_row_*_ref: scale packing, nibble and high-bit
 * placement), from known integer codes and scales, and the decoder must return exactly
 * d * scale * code (- dmin * min) for every element: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K; plus the
 * length checks. */
#include <string.h>

#include "loader/ggml_dequant.h"
#include "loader/gguf.h"
#include "mlcc/mlcc_runtime.h"
#include "support/error.h"
#include "test.h"

static uint32_t seed = 12345;
static int rnd(int n) {
    seed = seed * 1103515245u + 12345u;
    return (int)((seed >> 16) % (uint32_t)n);
}

static void put_f16(uint8_t *p, float f) {
    _Float16 h = (_Float16)f;
    memcpy(p, &h, 2);
}

static void check_all(const float *got, const float *want, int n, const char *what) {
    int bad = 0;
    for (int i = 0; i < n; i++) bad += got[i] != want[i];
    CHECK_MSG(bad == 0, "%s: %d of %d elements differ", what, bad, n);
}

static void test_q8_0_q4_0(void) {
    uint8_t b8[34], b4[18];
    float want8[32], want4[32], got[32];
    put_f16(b8, 0.125f), put_f16(b4, 0.5f);
    for (int i = 0; i < 32; i++) {
        int8_t q = (int8_t)(rnd(255) - 127);
        b8[2 + i] = (uint8_t)q;
        want8[i] = 0.125f * q;
    }
    memset(b4 + 2, 0, 16);
    for (int i = 0; i < 32; i++) {
        int q = rnd(16);
        b4[2 + i % 16] |= (uint8_t)(i < 16 ? q : q << 4);
        want4[i] = 0.5f * (q - 8);
    }
    CHECK_EQ_INT(ggml_dequantize_f32(MLCC_GGML_Q8_0, b8, sizeof b8, 32, got), 0);
    check_all(got, want8, 32, "Q8_0");
    CHECK_EQ_INT(ggml_dequantize_f32(MLCC_GGML_Q4_0, b4, sizeof b4, 32, got), 0);
    check_all(got, want4, 32, "Q4_0");
}

/* Q4_1 / Q5_0 / Q5_1 blocks packed as ggml's quantize_row_q4_1_ref / q5_0 / q5_1 write them:
 * nibble j holds the low 4 bits of elements j (low) and j + 16 (high); Q5's fifth bit of element
 * j is bit j of the little-endian uint32 qh. */
static void test_q4_1_q5(void) {
    uint8_t b41[20], b50[22], b51[24];
    float w41[32], w50[32], w51[32], got[32];
    put_f16(b41, 0.25f), put_f16(b41 + 2, -1.5f);
    put_f16(b50, 0.375f);
    put_f16(b51, 0.125f), put_f16(b51 + 2, 2.0f);
    memset(b41 + 4, 0, 16), memset(b50 + 2, 0, 20), memset(b51 + 4, 0, 20);
    uint32_t qh0 = 0, qh1 = 0;
    for (int i = 0; i < 32; i++) {
        int q4 = rnd(16), q5a = rnd(32), q5b = rnd(32);
        int sh = i < 16 ? 0 : 4;
        b41[4 + i % 16] |= (uint8_t)(q4 << sh);
        b50[6 + i % 16] |= (uint8_t)((q5a & 15) << sh);
        b51[8 + i % 16] |= (uint8_t)((q5b & 15) << sh);
        qh0 |= (uint32_t)(q5a >> 4) << i;
        qh1 |= (uint32_t)(q5b >> 4) << i;
        w41[i] = 0.25f * q4 + -1.5f;
        w50[i] = 0.375f * (q5a - 16);
        w51[i] = 0.125f * q5b + 2.0f;
    }
    for (int k = 0; k < 4; k++) b50[2 + k] = (uint8_t)(qh0 >> (8 * k)), b51[4 + k] = (uint8_t)(qh1 >> (8 * k));
    CHECK_EQ_INT(ggml_dequantize_f32(MLCC_GGML_Q4_1, b41, sizeof b41, 32, got), 0);
    check_all(got, w41, 32, "Q4_1");
    CHECK_EQ_INT(ggml_dequantize_f32(MLCC_GGML_Q5_0, b50, sizeof b50, 32, got), 0);
    check_all(got, w50, 32, "Q5_0");
    CHECK_EQ_INT(ggml_dequantize_f32(MLCC_GGML_Q5_1, b51, sizeof b51, 32, got), 0);
    check_all(got, w51, 32, "Q5_1");
    CHECK(ggml_dequantize_f32(MLCC_GGML_Q5_1, b51, sizeof b51 - 1, 32, got) != 0); /* one byte short */
}

/* ggml's packing of eight 6-bit (scale, min) pairs into 12 bytes */
static void pack_scales(uint8_t *s, const int *ls, const int *lm) {
    memset(s, 0, 12);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] = (uint8_t)ls[j];
            s[j + 4] = (uint8_t)lm[j];
        } else {
            s[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            s[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

static void test_q4_k_q5_k(int five) {
    enum { N = 512 }; /* two super-blocks */
    size_t bytes = five ? 176 : 144;
    uint8_t blocks[2 * 176];
    float want[N], got[N];
    memset(blocks, 0, sizeof blocks);
    for (int b = 0; b < 2; b++) {
        uint8_t *y = blocks + b * bytes;
        float d = b ? 0.25f : 0.0625f, dmin = b ? 0.5f : 0.03125f;
        put_f16(y, d), put_f16(y + 2, dmin);
        int ls[8], lm[8], L[256];
        for (int j = 0; j < 8; j++) ls[j] = rnd(64), lm[j] = rnd(64);
        pack_scales(y + 4, ls, lm);
        for (int e = 0; e < 256; e++) {
            L[e] = rnd(five ? 32 : 16);
            want[b * 256 + e] = d * ls[e / 32] * L[e] - dmin * lm[e / 32];
        }
        uint8_t *qh = y + 16, *ql = y + (five ? 48 : 16);
        int m1 = 1, m2 = 2;
        for (int n = 0; n < 256; n += 64, ql += 32, m1 <<= 2, m2 <<= 2)
            for (int j = 0; j < 32; j++) {
                int l1 = L[n + j], l2 = L[n + j + 32];
                if (l1 > 15) l1 -= 16, qh[j] |= (uint8_t)m1;
                if (l2 > 15) l2 -= 16, qh[j] |= (uint8_t)m2;
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
    }
    CHECK_EQ_INT(ggml_dequantize_f32(five ? MLCC_GGML_Q5_K : MLCC_GGML_Q4_K, blocks, 2 * bytes, N, got), 0);
    /* the products are exact in float only up to rounding of d*sc*q; compare with the same order */
    int bad = 0;
    for (int i = 0; i < N; i++) bad += !(got[i] - want[i] < 1e-6f && want[i] - got[i] < 1e-6f);
    CHECK_MSG(bad == 0, "%s: %d of %d elements differ", five ? "Q5_K" : "Q4_K", bad, N);
}

static void test_q6_k(void) {
    uint8_t y[210];
    float want[256], got[256];
    memset(y, 0, sizeof y);
    int L[256], sc[16];
    for (int s = 0; s < 16; s++) sc[s] = rnd(255) - 127, y[192 + s] = (uint8_t)(int8_t)sc[s];
    put_f16(y + 208, 0.125f);
    for (int e = 0; e < 256; e++) L[e] = rnd(64), want[e] = 0.125f * sc[e / 16] * (L[e] - 32);
    uint8_t *ql = y, *qh = y + 128;
    for (int j = 0; j < 256; j += 128, ql += 64, qh += 32)
        for (int l = 0; l < 32; l++) {
            int q1 = L[j + l] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
            ql[l] = (uint8_t)(q1 | (q3 << 4));
            ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
            qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
        }
    CHECK_EQ_INT(ggml_dequantize_f32(MLCC_GGML_Q6_K, y, sizeof y, 256, got), 0);
    check_all(got, want, 256, "Q6_K");
}

static void test_lengths(void) {
    uint8_t buf[300] = {0};
    float out[256];
    CHECK(ggml_dequantize_f32(MLCC_GGML_Q6_K, buf, 209, 256, out) != 0); /* one byte short */
    CHECK(ggml_dequantize_f32(MLCC_GGML_Q4_0, buf, sizeof buf, 31, out) != 0); /* not whole blocks */
    CHECK(ggml_dequantize_f32(MLCC_GGML_Q2_K, buf, sizeof buf, 256, out) != 0);
    CHECK_MSG(strstr(mlcc_last_error(), "Q2_K") != NULL, "%s", mlcc_last_error());
}

int main(void) {
    test_q8_0_q4_0();
    test_q4_1_q5();
    test_q4_k_q5_k(0);
    test_q4_k_q5_k(1);
    test_q6_k();
    test_lengths();
    return test_finish();
}
