/* gemm_qk.c - GEMM_NT intrinsics over llama.cpp's k-quant super-blocks (see intrin.h, kind
 * CPU_INTRIN_GEMM_NT_QK): C[M, N] (= or +=) A[M, K] W[N, K]^T where W's rows are Q4_K or Q6_K
 * super-blocks of 256 values as quant/scheme.h keeps them: q_weight uint32 [N, ldq] (per block
 * 35 words: scales[12] qs[128] for Q4_K; 52 words: ql[128] qh[64] scales[16] for Q6_K, ggml's
 * byte order) and q_scale float16 [N, lds] (per block d, dmin for Q4_K; d for Q6_K):
 *     Q4_K: W = (d sc) q - dmin m   8 sub-blocks of 32, 6-bit sc and m, q in 0..15
 *     Q6_K: W = (d sc) (q - 32)     16 sub-blocks of 16, int8 sc, q in 0..63
 * (ggml's dequantize_row_q4_K / _q6_K; loader/ggml_dequant.c is the reference.)
 *
 * Float activations (exact up to float32 summation order): each super-block of a weight row
 * is decoded once into 256 floats (16 AVX-512 vectors kept in registers; a buffer elsewhere)
 * and multiplied into up to MLCC_QK_MR (8) rows of A at a time. A row's sum over a block is four
 * FMA chains of four vectors, added pairwise, then into the row's running vector once per
 * block; the 16 lanes are summed at the end. That order does not depend on M or on which rows
 * share a decode, so a row's result is the same in decode and prefill. K must be a multiple of
 * 256 (the schemes only hold whole super-blocks).
 *
 * Int8 activations ("_a8", q8_K-style as llama.cpp computes k-quants): each row of A is
 * quantized once per 256-block (d = amax / 127, round to nearest even) with the sums of every 16
 * values; once per call, or once per matmul through the companions NAME_prep_bytes /
 * NAME_prep_row / NAME_pre that transform/lower_quant_prep.c calls around the parallel column
 * loop. vpdpbusd multiplies the unsigned codes by the signed activations with the codes laid out
 * one sub-block per 32-bit lane (Q4_K: two blocks per 8 vectors, 8 sub-blocks each; Q6_K: one
 * block per 4 vectors, 16 sub-blocks), the activations permuted to match when prepared, so each
 * lane's integer sum is converted and scaled once by its sub-block's d * sc; the Q4_K mins enter
 * through the activation sums (one FMA per pair of blocks), Q6_K's zero point 32 is folded into
 * the integers (a lane starts at -32 times its activations' sum). Integer sums are exact, so the
 * path adds only the activations' rounding. Decode (M 1) streams 4 weight rows at a time with the
 * next 4 prefetched; prefill prepares the blocks of 3 weight rows once per call and runs every
 * 4-row tile of A over them (12 accumulators, each weight vector loaded once per 4 rows, each
 * activation vector once per 3 columns). The same per-(row, column) steps either way, so a
 * row's result does not depend on M.
 *
 * AVX-512 F/BW/VL decodes with byte masks and shifts (Q6_K assembles its 6-bit codes from the
 * ql nibbles and qh bit pairs 32 at a time), VNNI runs the int8 path; elsewhere a plain C
 * decoder fills a buffer and the dot products run on 16-float lanes emulated by plain loops
 * (the int8 path: scalar integer sums), correct everywhere, fast only with AVX-512 (no AVX2
 * vector code yet). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/intrin.h"

#define MLCC_SRC(...) #__VA_ARGS__ "\n"

static const char qk_common[] =
    "#ifndef MLCC_QK_COMMON\n#define MLCC_QK_COMMON\n#include <stdint.h>\n#include <string.h>\n"
    "#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)\n#define MLCC_QK_AVX512 1\n"
    "#else\n#define MLCC_QK_AVX512 0\n#endif\n"
    "#ifndef MLCC_QK_MR\n#define MLCC_QK_MR 8\n#endif\n#ifndef MLCC_QK_TR\n#define MLCC_QK_TR 4\n#endif\n#ifndef MLCC_QK_NC\n#define MLCC_QK_NC 3\n#endif\n"
    "#ifndef MLCC_QK_PF\n#define MLCC_QK_PF 1\n#endif\n#ifndef MLCC_QK_PF_HINT\n#define MLCC_QK_PF_HINT _MM_HINT_T0\n#endif\n"
    MLCC_SRC(
    /* The 6-bit scale and min of sub-block j of a Q4_K block (ggml's get_scale_min_k4). */
    static inline void mlcc_qk_scale_min(int j, const uint8_t *q, int *sc, int *m) {
        if (j < 4) {
            *sc = q[j] & 63, *m = q[j + 4] & 63;
        } else {
            *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }
    /* Plain C decoders: block b of a row into w[256], as ggml's dequantizer computes it. */
    static inline void mlcc_qk45_decode_c(const uint8_t *q, const _Float16 *s, float *w, int five) {
        float d = (float)s[0], dmin = (float)s[1];
        const uint8_t *qh = q + 12, *qs = q + (five ? 44 : 12);
        for (int p = 0; p < 4; p++) {
            for (int h = 0; h < 2; h++) {
                int sc, m;
                mlcc_qk_scale_min(2 * p + h, q, &sc, &m);
                float d1 = d * (float)sc, m1 = dmin * (float)m;
                for (int l = 0; l < 32; l++) {
                    int c = (h ? qs[32 * p + l] >> 4 : qs[32 * p + l] & 0xF) + (five ? ((qh[l] >> (2 * p + h)) & 1) << 4 : 0);
                    w[64 * p + 32 * h + l] = d1 * (float)c - m1;
                }
            }
        }
    }
    static __attribute__((unused)) void mlcc_qk4_decode_c(const uint8_t *q, const _Float16 *s, float *w) { mlcc_qk45_decode_c(q, s, w, 0); }
    static __attribute__((unused)) void mlcc_qk5_decode_c(const uint8_t *q, const _Float16 *s, float *w) { mlcc_qk45_decode_c(q, s, w, 1); }
    static void mlcc_qk6_decode_c(const uint8_t *q, const _Float16 *s, float *w) {
        float d = (float)s[0];
        const int8_t *sc = (const int8_t *)(q + 192);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = q + 64 * h, *qh = q + 128 + 32 * h;
            for (int l = 0; l < 32; l++) {
                int is = 8 * h + l / 16;
                int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32, q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32, q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                w[128 * h + l] = d * (float)sc[is] * (float)q1;
                w[128 * h + l + 32] = d * (float)sc[is + 2] * (float)q2;
                w[128 * h + l + 64] = d * (float)sc[is + 4] * (float)q3;
                w[128 * h + l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
    )
    "#if MLCC_QK_AVX512\n"
    MLCC_SRC(
    /* 32 byte codes (0..255) as two vectors of floats */
    static inline void mlcc_qk_cvt32(__m256i x, __m512 *lo, __m512 *hi) {
        *lo = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(x)));
        *hi = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(x, 1)));
    }
    /* Q4_K, or Q5_K (five: qh[32] before qs, bit 2p + h of qh[l] adds 16 to value l of
     * sub-block 2p + h) */
    static inline void mlcc_qk45_decode(const uint8_t *q, const _Float16 *s, __m512 *w, int five) {
        float d = (float)s[0], dmin = (float)s[1];
        const uint8_t *qs = q + (five ? 44 : 12);
        const __m256i low4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
        __m256i qh = five ? _mm256_loadu_si256((const __m256i *)(q + 12)) : _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(qs + 32 * p));
            __m256i nib[2] = {_mm256_and_si256(x, low4), _mm256_and_si256(_mm256_srli_epi16(x, 4), low4)};
            for (int h = 0; h < 2; h++) {
                int sc, m;
                mlcc_qk_scale_min(2 * p + h, q, &sc, &m);
                __m512 d1 = _mm512_set1_ps(d * (float)sc), m1 = _mm512_set1_ps(dmin * (float)m), v0, v1;
                if (five) {
                    __m256i hb = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * p + h)), one);
                    nib[h] = _mm256_or_si256(nib[h], _mm256_slli_epi16(hb, 4));
                }
                mlcc_qk_cvt32(nib[h], &v0, &v1);
                w[4 * p + 2 * h] = _mm512_fmsub_ps(v0, d1, m1);
                w[4 * p + 2 * h + 1] = _mm512_fmsub_ps(v1, d1, m1);
            }
        }
    }
    static inline void mlcc_qk4_decode(const uint8_t *q, const _Float16 *s, __m512 *w) { mlcc_qk45_decode(q, s, w, 0); }
    static inline void mlcc_qk5_decode(const uint8_t *q, const _Float16 *s, __m512 *w) { mlcc_qk45_decode(q, s, w, 1); }
    static inline void mlcc_qk6_decode(const uint8_t *q, const _Float16 *s, __m512 *w) {
        float d = (float)s[0];
        const int8_t *sc = (const int8_t *)(q + 192);
        const __m256i low4 = _mm256_set1_epi8(0x0F), low2 = _mm256_set1_epi8(3);
        const __m512i c32 = _mm512_set1_epi32(32);
        for (int h = 0; h < 2; h++) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(q + 64 * h));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(q + 64 * h + 32));
            __m256i hb = _mm256_loadu_si256((const __m256i *)(q + 128 + 32 * h));
            __m256i code[4] = {
                _mm256_or_si256(_mm256_and_si256(l0, low4), _mm256_slli_epi16(_mm256_and_si256(hb, low2), 4)),
                _mm256_or_si256(_mm256_and_si256(l1, low4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), low2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), low2), 4)),
                _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low4),
                                _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), low2), 4))};
            for (int qq = 0; qq < 4; qq++) {
                __m512 v0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm256_castsi256_si128(code[qq])), c32));
                __m512 v1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_cvtepu8_epi32(_mm256_extracti128_si256(code[qq], 1)), c32));
                int is = 8 * h + 2 * qq;
                w[is] = _mm512_mul_ps(v0, _mm512_set1_ps(d * (float)sc[is]));
                w[is + 1] = _mm512_mul_ps(v1, _mm512_set1_ps(d * (float)sc[is + 1]));
            }
        }
    }
    /* One block's dot product with a row of A (256 floats): four chains, added pairwise. */
    static inline __m512 mlcc_qk_dot(const __m512 *w, const float *a) {
        __m512 c0 = _mm512_mul_ps(w[0], _mm512_loadu_ps(a)), c1 = _mm512_mul_ps(w[1], _mm512_loadu_ps(a + 16));
        __m512 c2 = _mm512_mul_ps(w[2], _mm512_loadu_ps(a + 32)), c3 = _mm512_mul_ps(w[3], _mm512_loadu_ps(a + 48));
        for (int v = 4; v < 16; v += 4) {
            c0 = _mm512_fmadd_ps(w[v], _mm512_loadu_ps(a + 16 * v), c0);
            c1 = _mm512_fmadd_ps(w[v + 1], _mm512_loadu_ps(a + 16 * v + 16), c1);
            c2 = _mm512_fmadd_ps(w[v + 2], _mm512_loadu_ps(a + 16 * v + 32), c2);
            c3 = _mm512_fmadd_ps(w[v + 3], _mm512_loadu_ps(a + 16 * v + 48), c3);
        }
        return _mm512_add_ps(_mm512_add_ps(c0, c1), _mm512_add_ps(c2, c3));
    }
    )
    "#else\n"
    MLCC_SRC(
    /* The same order of operations on emulated 16-lane vectors. */
    static inline void mlcc_qk_dot_c(const float *w, const float *a, float *sum) {
        float c[4][16];
        for (int i = 0; i < 4; i++)
            for (int l = 0; l < 16; l++) c[i][l] = w[16 * i + l] * a[16 * i + l];
        for (int v = 4; v < 16; v += 4)
            for (int i = 0; i < 4; i++)
                for (int l = 0; l < 16; l++) c[i][l] += w[16 * (v + i) + l] * a[16 * (v + i) + l];
        for (int l = 0; l < 16; l++) sum[l] += (c[0][l] + c[1][l]) + (c[2][l] + c[3][l]);
    }
    )
    "#endif\n"
    "#if MLCC_QK_AVX512 && defined(__AVX512VNNI__)\n#define MLCC_QK_VNNI 1\n#else\n#define MLCC_QK_VNNI 0\n#endif\n"
    MLCC_SRC(
    /* x rounded to the nearest integer, ties to even (|x| < 2^22; no libm) */
    static inline float mlcc_qk_rne(float x) { return (x + 12582912.0f) - 12582912.0f; }
    /* The int8 path's activations (every ISA): row a[0..K) (K a multiple of 256) quantized per
     * 256-block b to d[b] = amax / 127 and q = round(a * 127 / amax), with bsum[16 b + s] the sum
     * of q over values 16 s .. 16 s + 15 of the block (the zero point and mins use them). */
    static void mlcc_qk_quantize_row(const float *a, int64_t K, int8_t *q, float *d, int32_t *bsum) {
        int64_t b = 0;
    )
    "#if MLCC_QK_AVX512\n"
    MLCC_SRC(
        /* the same formula 16 values at a time (vcvtps2dq rounds to nearest even) */
        for (; b < K / 256; b++) {
            const float *x = a + 256 * b;
            __m512 m = _mm512_setzero_ps();
            for (int i = 0; i < 256; i += 16) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
            float amax = _mm512_reduce_max_ps(m);
            float id = amax > 0 ? 127.0f / amax : 0.0f;
            d[b] = amax / 127.0f;
            for (int s = 0; s < 16; s++) {
                __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + 16 * s), _mm512_set1_ps(id)));
                _mm_storeu_si128((__m128i *)(q + 256 * b + 16 * s), _mm512_cvtsepi32_epi8(v));
                bsum[16 * b + s] = _mm512_reduce_add_epi32(v);
            }
        }
    )
    "#endif\n"
    MLCC_SRC(
        for (; b < K / 256; b++) {
            const float *x = a + 256 * b;
            float amax = 0;
            for (int i = 0; i < 256; i++) {
                float v = x[i] < 0 ? -x[i] : x[i];
                amax = v > amax ? v : amax;
            }
            float id = amax > 0 ? 127.0f / amax : 0.0f;
            d[b] = amax / 127.0f;
            for (int s = 0; s < 16; s++) {
                int32_t sum = 0;
                for (int i = 0; i < 16; i++) {
                    int v = (int)mlcc_qk_rne(x[16 * s + i] * id);
                    q[256 * b + 16 * s + i] = (int8_t)v;
                    sum += v;
                }
                bsum[16 * b + s] = sum;
            }
        }
    }
    /* A prepared row (the int8 path's workspace, K / 256 blocks): x the int8 values (in the
     * vector code's order once permuted), bsf the sums of every 16 of them as floats (exact),
     * dx the blocks' scales. */
    typedef struct mlcc_qk_rows {
        int8_t *x;
        float *bsf, *dx;
    } mlcc_qk_rows;
    static inline int64_t mlcc_qk_row_bytes(int64_t K) { return K / 256 * (256 + 16 * 4 + 4); }
    static inline mlcc_qk_rows mlcc_qk_row_at(const void *P, int64_t K, int64_t m) {
        char *base = (char *)P + m * mlcc_qk_row_bytes(K);
        int64_t nb = K / 256;
        mlcc_qk_rows r = {(int8_t *)base, (float *)(base + 256 * nb), (float *)(base + 320 * nb)};
        return r;
    }
    /* Row a (K values) quantized into r, block by block. */
    static inline void mlcc_qk_prep_row(const float *a, int64_t K, mlcc_qk_rows r) {
        for (int64_t b = 0; b < K / 256; b++) {
            int32_t bs[16];
            mlcc_qk_quantize_row(a + 256 * b, 256, r.x + 256 * b, r.dx + b, bs);
            for (int s = 0; s < 16; s++) r.bsf[16 * b + s] = (float)bs[s];
        }
    }
    /* The 8 scales and 8 mins of a Q4_K block, one byte each (get_scale_min_k4 on whole words:
     * sub-blocks 0..3 keep the low 6 bits of bytes 0..3 / 4..7, sub-blocks 4..7 join the nibbles
     * of bytes 8..11 with the top 2 bits of bytes 0..3 / 4..7). */
    static inline void mlcc_qk4_scales(const uint8_t *q, uint64_t *sc, uint64_t *mn) {
        uint32_t w0, w1, w2;
        memcpy(&w0, q, 4), memcpy(&w1, q + 4, 4), memcpy(&w2, q + 8, 4);
        *sc = (uint64_t)(w0 & 0x3f3f3f3fu) | (uint64_t)((w2 & 0x0f0f0f0fu) | ((w0 >> 6) & 0x03030303u) << 4) << 32;
        *mn = (uint64_t)(w1 & 0x3f3f3f3fu) | (uint64_t)(((w2 >> 4) & 0x0f0f0f0fu) | ((w1 >> 6) & 0x03030303u) << 4) << 32;
    }
    /* Plain C int8 dot products of one block with one row: the integer sums, then the floats. */
    static inline float mlcc_qk45_dot8_c(const uint8_t *q, const _Float16 *s, const int8_t *x, const float *bs, float dx, int five) {
        uint64_t sc, mn;
        mlcc_qk4_scales(q, &sc, &mn);
        const uint8_t *qh = q + 12, *qs = q + (five ? 44 : 12);
        int32_t isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            int32_t dot = 0;
            for (int l = 0; l < 32; l++) {
                int c = (j & 1 ? qs[32 * (j / 2) + l] >> 4 : qs[32 * (j / 2) + l] & 0xF) + (five ? ((qh[l] >> j) & 1) << 4 : 0);
                dot += c * x[32 * j + l];
            }
            isum += (int32_t)((sc >> (8 * j)) & 0xFF) * dot;
            msum += (int32_t)((mn >> (8 * j)) & 0xFF) * ((int32_t)bs[2 * j] + (int32_t)bs[2 * j + 1]);
        }
        return (float)isum * ((float)s[0] * dx) - (float)msum * ((float)s[1] * dx);
    }
    static inline float mlcc_qk6_dot8_c(const uint8_t *q, const _Float16 *s, const int8_t *x, const float *bs, float dx) {
        const int8_t *sc = (const int8_t *)(q + 192);
        int32_t isum = 0;
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = q + 64 * h, *qh = q + 128 + 32 * h;
            for (int qq = 0; qq < 4; qq++) {
                int32_t dot[2] = {0, 0};
                for (int l = 0; l < 32; l++) {
                    int lo = qq & 2 ? ql[32 * (qq & 1) + l] >> 4 : ql[32 * (qq & 1) + l] & 0xF;
                    dot[l / 16] += (lo | ((qh[l] >> (2 * qq)) & 3) << 4) * x[128 * h + 32 * qq + l];
                }
                for (int i = 0; i < 2; i++) {
                    int sb = 8 * h + 2 * qq + i;
                    isum += sc[sb] * (dot[i] - 32 * (int32_t)bs[sb]);
                }
            }
        }
        return (float)isum * ((float)s[0] * dx);
    }
    )
    "#if MLCC_QK_VNNI\n"
    MLCC_SRC(
    /* The vector int8 path. vpdpbusd multiplies 64 unsigned weight codes by 64 signed
     * activations and adds each 4 products into one 32-bit lane; the codes are laid out so that
     * a lane keeps to one sub-block, the activations are permuted once per row to match, and a
     * lane's exact integer sum is converted once and scaled by its sub-block's d * sc.
     *
     * Q4_K: two blocks per set of 8 vectors ("a pair", one lane per sub-block): in step t (0..7)
     * lane j (0..7) holds the codes of values 32 j + 4 t .. +3 of the first block (sub-block j),
     * lane 8 + j the same of the second; qs dword 8 p + t carries them for sub-blocks 2 p (low
     * nibbles) and 2 p + 1 (high). A pair costs 8 vpdpbusd per (row, column), then one convert,
     * one scale, one FMA by the lanes' dx and one FMA for the mins (-dmin m times the
     * sub-block's activation sum, times dx). An odd last block pairs with zeros. */
    typedef struct mlcc_qk4_pair {
        __m512i code[8];
        __m512 scale, bmul;
    } mlcc_qk4_pair;
    static inline void mlcc_qk4_pair_prep(const uint8_t *q0, const _Float16 *s0, const uint8_t *q1, const _Float16 *s1, int five,
                                          mlcc_qk4_pair *p) {
        const __m512i nib = _mm512_set1_epi8(0x0F), hi = _mm512_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4);
        const int qs = five ? 44 : 12;
        __m512i a0 = _mm512_loadu_si512((const void *)(q0 + qs)), b0 = _mm512_loadu_si512((const void *)(q0 + qs + 64));
        __m512i a1 = q1 ? _mm512_loadu_si512((const void *)(q1 + qs)) : _mm512_setzero_si512();
        __m512i b1 = q1 ? _mm512_loadu_si512((const void *)(q1 + qs + 64)) : _mm512_setzero_si512();
        for (int t = 0; t < 8; t += 2) {
            __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 0, 8, 8, 16, 16, 24, 24, 1, 1, 9, 9, 17, 17, 25, 25), _mm512_set1_epi32(t));
            __m512i p0 = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutex2var_epi32(a0, idx, b0), hi), nib);
            __m512i p1 = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutex2var_epi32(a1, idx, b1), hi), nib);
            p->code[t] = _mm512_shuffle_i64x2(p0, p1, 0x44);
            p->code[t + 1] = _mm512_shuffle_i64x2(p0, p1, 0xEE);
        }
        if (five) {
            /* Q5_K: lane j of step t takes bit j of qh bytes 4t .. 4t + 3 (qh dword t) as 16 */
            const __m512i bit = _mm512_set1_epi8(1), lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7);
            __m512i h0 = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(q0 + 12)));
            __m512i h1 = q1 ? _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(q1 + 12))) : _mm512_setzero_si512();
            for (int t = 0; t < 8; t++) {
                __m512i idx = _mm512_mask_blend_epi32((__mmask16)0xFF00, _mm512_set1_epi32(t), _mm512_set1_epi32(16 + t));
                __m512i hb = _mm512_and_si512(_mm512_srlv_epi32(_mm512_permutex2var_epi32(h0, idx, h1), lane), bit);
                p->code[t] = _mm512_or_si512(p->code[t], _mm512_slli_epi32(hb, 4));
            }
        }
        uint64_t sc0, mn0, sc1 = 0, mn1 = 0;
        mlcc_qk4_scales(q0, &sc0, &mn0);
        if (q1) mlcc_qk4_scales(q1, &sc1, &mn1);
        __m512 d = _mm512_mask_blend_ps((__mmask16)0xFF00, _mm512_set1_ps((float)s0[0]), _mm512_set1_ps(q1 ? (float)s1[0] : 0.0f));
        __m512 dm = _mm512_mask_blend_ps((__mmask16)0xFF00, _mm512_set1_ps(-(float)s0[1]), _mm512_set1_ps(q1 ? -(float)s1[1] : 0.0f));
        p->scale = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_set_epi64x((long long)sc1, (long long)sc0))), d);
        p->bmul = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_set_epi64x((long long)mn1, (long long)mn0))), dm);
    }
    /* A Q4_K row prepared for pairs (nb blocks, (nb + 1) / 2 pairs of 640 bytes): x (512 int8
     * in the codes' order), dx (16 floats: the lanes' block scales), bsd (16 floats: each
     * sub-block's activation sum times dx). */
    typedef struct mlcc_qk4_rows {
        const int8_t *x;
        const float *dx, *bsd;
    } mlcc_qk4_rows;
    static inline int64_t mlcc_qk4_row_bytes(int64_t K) { return (K / 256 + 1) / 2 * 640; }
    static inline mlcc_qk4_rows mlcc_qk4_row_at(const void *P, int64_t K, int64_t m) {
        const char *base = (const char *)P + m * mlcc_qk4_row_bytes(K);
        int64_t np = (K / 256 + 1) / 2;
        mlcc_qk4_rows r = {(const int8_t *)base, (const float *)(base + 512 * np), (const float *)(base + 576 * np)};
        return r;
    }
    static inline void mlcc_qk4_prep_row(void *P, const float *a, int64_t K, int64_t m) {
        int64_t nb = K / 256, np = (nb + 1) / 2;
        char *base = (char *)P + m * mlcc_qk4_row_bytes(K);
        int8_t *x = (int8_t *)base;
        float *dx = (float *)(base + 512 * np), *bsd = (float *)(base + 576 * np);
        memset(x, 0, (size_t)(512 * np)), memset(dx, 0, sizeof(float) * (size_t)(32 * np));
        for (int64_t b = 0; b < nb; b++) {
            int8_t q[256];
            int32_t bs[16];
            float d;
            mlcc_qk_quantize_row(a + 256 * b, 256, q, &d, bs);
            int64_t h = b % 2, pr = b / 2;
            for (int j = 0; j < 8; j++) {
                dx[16 * pr + 8 * h + j] = d;
                bsd[16 * pr + 8 * h + j] = (float)(bs[2 * j] + bs[2 * j + 1]) * d;
                for (int t = 0; t < 8; t++) memcpy(x + 512 * pr + 64 * t + 32 * h + 4 * j, q + 32 * j + 4 * t, 4);
            }
        }
    }
    /* Q6_K, one block per 4 vectors (one lane per sub-block): the codes of values
     * 128 h + 64 k .. +63 (the ql nibble with the qh bit pair above it) hold sub-blocks
     * 8h + 4k .. +3, 4 lanes each; vector i takes lane i of each 4: lane l is sub-block l (its
     * values 4i .. 4i + 3). The zero point 32 is folded into the integers: a lane's sum starts
     * at -32 times its activations' sum (the row's "bias"), so a block costs 4 vpdpbusd, one
     * convert, one scale and one FMA by dx. */
    typedef struct mlcc_qk6_prep {
        __m512i code[4];
        __m512 scale;
    } mlcc_qk6_prep;
    /* Vector i of the layout from four vectors whose lanes hold sub-blocks as `lo` picks them:
     * lanes 0..7 from (c0, c1), lanes 8..15 from (c2, c3) with the same index pattern. */
    static inline __m512i mlcc_qk_gather(__m512i c0, __m512i c1, __m512i c2, __m512i c3, __m512i idx) {
        return _mm512_shuffle_i64x2(_mm512_permutex2var_epi32(c0, idx, c1), _mm512_permutex2var_epi32(c2, idx, c3), 0x44);
    }
    static inline void mlcc_qk6_block_prep(const uint8_t *q, const _Float16 *s, mlcc_qk6_prep *p) {
        const __m512i low4 = _mm512_set1_epi8(0x0F), low2 = _mm512_set1_epi8(3);
        const __m512i sh0 = _mm512_mask_blend_epi32((__mmask16)0xFF00, _mm512_set1_epi32(0), _mm512_set1_epi32(0x00020002));
        const __m512i sh1 = _mm512_mask_blend_epi32((__mmask16)0xFF00, _mm512_set1_epi32(0x00040004), _mm512_set1_epi32(0x00060006));
        __m512i c[4];
        for (int h = 0; h < 2; h++) {
            __m512i ql = _mm512_loadu_si512((const void *)(q + 64 * h));
            __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(q + 128 + 32 * h)));
            __m512i h0 = _mm512_and_si512(_mm512_srlv_epi16(qh, sh0), low2), h1 = _mm512_and_si512(_mm512_srlv_epi16(qh, sh1), low2);
            c[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, low4), _mm512_slli_epi16(h0, 4));
            c[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), low4), _mm512_slli_epi16(h1, 4));
        }
        for (int i = 0; i < 4; i++) {
            __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 0, 4, 8, 12, 16, 20, 24, 28), _mm512_set1_epi32(i));
            p->code[i] = mlcc_qk_gather(c[0], c[1], c[2], c[3], idx);
        }
        p->scale = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(q + 192)))),
                                 _mm512_set1_ps((float)s[0]));
    }
    /* A Q6_K row prepared (nb blocks of 324 bytes): x (256 int8 in the codes' order: vector i,
     * lane l takes values 16 l + 4 i .. +3), bias (16 int32: -32 times each sub-block's sum),
     * dx (the block's scale). */
    typedef struct mlcc_qk6_rows {
        const int8_t *x;
        const int32_t *bias;
        const float *dx;
    } mlcc_qk6_rows;
    static inline int64_t mlcc_qk6_row_bytes(int64_t K) { return K / 256 * 324; }
    static inline mlcc_qk6_rows mlcc_qk6_row_at(const void *P, int64_t K, int64_t m) {
        const char *base = (const char *)P + m * mlcc_qk6_row_bytes(K);
        int64_t nb = K / 256;
        mlcc_qk6_rows r = {(const int8_t *)base, (const int32_t *)(base + 256 * nb), (const float *)(base + 320 * nb)};
        return r;
    }
    static inline void mlcc_qk6_prep_row(void *P, const float *a, int64_t K, int64_t m) {
        int64_t nb = K / 256;
        char *base = (char *)P + m * mlcc_qk6_row_bytes(K);
        int8_t *x = (int8_t *)base;
        int32_t *bias = (int32_t *)(base + 256 * nb);
        float *dx = (float *)(base + 320 * nb);
        for (int64_t b = 0; b < nb; b++) {
            int8_t q[256];
            int32_t bs[16];
            mlcc_qk_quantize_row(a + 256 * b, 256, q, dx + b, bs);
            for (int l = 0; l < 16; l++) {
                bias[16 * b + l] = -32 * bs[l];
                for (int i = 0; i < 4; i++) memcpy(x + 256 * b + 64 * i + 4 * l, q + 16 * l + 4 * i, 4);
            }
        }
    }
    )
    "#endif\n#endif\n";

/* The driver, instantiated per type: MLCC_QKN (name), MLCC_QKT (4 or 6), MLCC_QKW (words per
 * block), MLCC_QKS (scales per block). */
static const char qk_template[] =
    MLCC_SRC(
    void MLCC_QKN(float *C, const float *A, const void *QWv, const void *Sv, int64_t M, int64_t N, int64_t K,
                  int64_t ldc, int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        const uint32_t *QW = (const uint32_t *)QWv;
        const _Float16 *S = (const _Float16 *)Sv;
        int64_t nb = K / 256;
        /* rows outermost: a tile of MLCC_QK_MR rows of A stays in cache while the weight rows
         * stream past it (the other order re-read all of A from L3 per weight row) */
        for (int64_t m0 = 0; m0 < M; m0 += MLCC_QK_MR) {
            int mr = M - m0 < MLCC_QK_MR ? (int)(M - m0) : MLCC_QK_MR;
            for (int64_t n = 0; n < N; n++) {
                const uint8_t *row = (const uint8_t *)(QW + n * ldq);
                const _Float16 *srow = S + n * lds;
    )
    "#if MLCC_QK_AVX512\n"
    MLCC_SRC(
                __m512 sum[MLCC_QK_MR];
                for (int r = 0; r < MLCC_QK_MR; r++) sum[r] = _mm512_setzero_ps();
                for (int64_t b = 0; b < nb; b++) {
                    __m512 w[16];
                    if (MLCC_QKT == 4) mlcc_qk4_decode(row + 4 * MLCC_QKW * b, srow + MLCC_QKS * b, w);
                    else if (MLCC_QKT == 5) mlcc_qk5_decode(row + 4 * MLCC_QKW * b, srow + MLCC_QKS * b, w);
                    else mlcc_qk6_decode(row + 4 * MLCC_QKW * b, srow + MLCC_QKS * b, w);
                    for (int r = 0; r < mr; r++) sum[r] = _mm512_add_ps(sum[r], mlcc_qk_dot(w, A + (m0 + r) * lda + 256 * b));
                }
                for (int r = 0; r < mr; r++) {
                    float v = _mm512_reduce_add_ps(sum[r]);
                    float *c = C + (m0 + r) * ldc + n;
                    *c = acc ? *c + v : v;
                }
    )
    "#else\n"
    MLCC_SRC(
                float sum[MLCC_QK_MR][16], w[256];
                memset(sum, 0, sizeof sum);
                for (int64_t b = 0; b < nb; b++) {
                    if (MLCC_QKT == 4) mlcc_qk4_decode_c(row + 4 * MLCC_QKW * b, srow + MLCC_QKS * b, w);
                    else if (MLCC_QKT == 5) mlcc_qk5_decode_c(row + 4 * MLCC_QKW * b, srow + MLCC_QKS * b, w);
                    else mlcc_qk6_decode_c(row + 4 * MLCC_QKW * b, srow + MLCC_QKS * b, w);
                    for (int r = 0; r < mr; r++) mlcc_qk_dot_c(w, A + (m0 + r) * lda + 256 * b, sum[r]);
                }
                for (int r = 0; r < mr; r++) {
                    float v = 0;
                    for (int l = 0; l < 16; l++) v += sum[r][l];
                    float *c = C + (m0 + r) * ldc + n;
                    *c = acc ? *c + v : v;
                }
    )
    "#endif\n"
    MLCC_SRC(
            }
        }
    }
    );

/* The int8-activation driver (MLCC_QKN and the rest as above), in three parts so that a
 * parallel loop of calls on the same rows can prepare them once (transform/lower_quant_prep.c,
 * as for gemm_q.c's int8 instances): MLCC_QKN_prep_bytes (the workspace for M rows),
 * MLCC_QKN_prep_row (row m quantized into it: mlcc_qk_prep_row, or for the vector code the
 * codes' order, mlcc_qk4_prep_row / mlcc_qk6_prep_row) and MLCC_QKN_pre (the GEMM on prepared
 * rows); MLCC_QKN itself prepares its own rows and calls _pre, so both forms give the same bits.
 * The vector code works in "units" (Q4_K: a pair of blocks, Q6_K: a block): _uprep prepares
 * one unit of a weight row, _udot multiplies it into one row, _tile does the same for a tile of
 * rows x columns over every unit. */
static const char qk8_template[] =
    "#if MLCC_QK_VNNI && MLCC_QKT != 6\n"
    "#define MLCC_QK_UNIT mlcc_qk4_pair\n#define MLCC_QK_ROWS mlcc_qk4_rows\n#define MLCC_QK_UNITS(nb) (((nb) + 1) / 2)\n"
    "#define MLCC_QK_ROW_BYTES mlcc_qk4_row_bytes\n#define MLCC_QK_ROW_AT mlcc_qk4_row_at\n#define MLCC_QK_PREP_ROW mlcc_qk4_prep_row\n"
    MLCC_SRC(
    /* unit u of a weight row: blocks 2u and 2u + 1 (zeros past the row); Q5_K as Q4_K with the
     * fifth bits */
    static inline void MLCC_CAT(MLCC_QKN, _uprep)(const uint8_t *row, const _Float16 *srow, int64_t u, int64_t nb, mlcc_qk4_pair *p) {
        const uint8_t *q1 = 2 * u + 1 < nb ? row + 4 * MLCC_QKW * (2 * u + 1) : NULL;
        mlcc_qk4_pair_prep(row + 4 * MLCC_QKW * 2 * u, srow + MLCC_QKS * 2 * u, q1, srow + MLCC_QKS * (2 * u + 1), MLCC_QKT == 5, p);
    }
    /* one unit times one row into tot (the tile below takes the same steps) */
    static inline __m512 MLCC_CAT(MLCC_QKN, _udot)(const mlcc_qk4_pair *p, const mlcc_qk4_rows *r, int64_t u, __m512 tot) {
        const int8_t *x = r->x + 512 * u;
        __m512i is = _mm512_dpbusd_epi32(_mm512_setzero_si512(), p->code[0], _mm512_loadu_si512((const void *)x));
        for (int t = 1; t < 8; t++) is = _mm512_dpbusd_epi32(is, p->code[t], _mm512_loadu_si512((const void *)(x + 64 * t)));
        __m512 blk = _mm512_mul_ps(_mm512_cvtepi32_ps(is), p->scale);
        tot = _mm512_fmadd_ps(blk, _mm512_loadu_ps(r->dx + 16 * u), tot);
        return _mm512_fmadd_ps(_mm512_loadu_ps(r->bsd + 16 * u), p->bmul, tot);
    }
    static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_QKN, _tile)(
        float *C, const mlcc_qk4_rows *R, const mlcc_qk4_pair *pre, int64_t nu, int64_t ldc, int64_t acc, const int mr, const int nr) {
        __m512 tot[MLCC_QK_TR][MLCC_QK_NC];
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++)
            tot[r][j] = _mm512_setzero_ps();
        for (int64_t u = 0; u < nu; u++) {
            const mlcc_qk4_pair *pu = pre + u * MLCC_QK_NC;
            __m512i is[MLCC_QK_TR][MLCC_QK_NC];
            _Pragma("GCC unroll 8") for (int t = 0; t < 8; t++) {
                __m512i w[MLCC_QK_NC];
                _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) w[j] = pu[j].code[t];
                _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {
                    __m512i a = _mm512_loadu_si512((const void *)(R[r].x + 512 * u + 64 * t));
                    _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++)
                        is[r][j] = _mm512_dpbusd_epi32(t ? is[r][j] : _mm512_setzero_si512(), w[j], a);
                }
            }
            _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {
                __m512 dx = _mm512_loadu_ps(R[r].dx + 16 * u), bsd = _mm512_loadu_ps(R[r].bsd + 16 * u);
                _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) {
                    __m512 blk = _mm512_mul_ps(_mm512_cvtepi32_ps(is[r][j]), pu[j].scale);
                    tot[r][j] = _mm512_fmadd_ps(blk, dx, tot[r][j]);
                    tot[r][j] = _mm512_fmadd_ps(bsd, pu[j].bmul, tot[r][j]);
                }
            }
        }
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) {
            float v = _mm512_reduce_add_ps(tot[r][j]);
            float *c = C + r * ldc + j;
            *c = acc ? *c + v : v;
        }
    }
    )
    "#elif MLCC_QK_VNNI\n"
    "#define MLCC_QK_UNIT mlcc_qk6_prep\n#define MLCC_QK_ROWS mlcc_qk6_rows\n#define MLCC_QK_UNITS(nb) (nb)\n"
    "#define MLCC_QK_ROW_BYTES mlcc_qk6_row_bytes\n#define MLCC_QK_ROW_AT mlcc_qk6_row_at\n#define MLCC_QK_PREP_ROW mlcc_qk6_prep_row\n"
    MLCC_SRC(
    static inline void MLCC_CAT(MLCC_QKN, _uprep)(const uint8_t *row, const _Float16 *srow, int64_t u, int64_t nb, mlcc_qk6_prep *p) {
        (void)nb;
        mlcc_qk6_block_prep(row + 4 * MLCC_QKW * u, srow + MLCC_QKS * u, p);
    }
    static inline __m512 MLCC_CAT(MLCC_QKN, _udot)(const mlcc_qk6_prep *p, const mlcc_qk6_rows *r, int64_t u, __m512 tot) {
        const int8_t *x = r->x + 256 * u;
        __m512i is = _mm512_loadu_si512((const void *)(r->bias + 16 * u));
        for (int i = 0; i < 4; i++) is = _mm512_dpbusd_epi32(is, p->code[i], _mm512_loadu_si512((const void *)(x + 64 * i)));
        __m512 blk = _mm512_mul_ps(_mm512_cvtepi32_ps(is), p->scale);
        return _mm512_fmadd_ps(blk, _mm512_set1_ps(r->dx[u]), tot);
    }
    static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_QKN, _tile)(
        float *C, const mlcc_qk6_rows *R, const mlcc_qk6_prep *pre, int64_t nu, int64_t ldc, int64_t acc, const int mr, const int nr) {
        __m512 tot[MLCC_QK_TR][MLCC_QK_NC];
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++)
            tot[r][j] = _mm512_setzero_ps();
        for (int64_t u = 0; u < nu; u++) {
            const mlcc_qk6_prep *pu = pre + u * MLCC_QK_NC;
            __m512i is[MLCC_QK_TR][MLCC_QK_NC];
            _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {
                __m512i b = _mm512_loadu_si512((const void *)(R[r].bias + 16 * u));
                _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) is[r][j] = b;
            }
            _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {
                __m512i w[MLCC_QK_NC];
                _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) w[j] = pu[j].code[i];
                _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {
                    __m512i a = _mm512_loadu_si512((const void *)(R[r].x + 256 * u + 64 * i));
                    _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) is[r][j] = _mm512_dpbusd_epi32(is[r][j], w[j], a);
                }
            }
            _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {
                __m512 dx = _mm512_set1_ps(R[r].dx[u]);
                _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++)
                    tot[r][j] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(is[r][j]), pu[j].scale), dx, tot[r][j]);
            }
        }
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) {
            float v = _mm512_reduce_add_ps(tot[r][j]);
            float *c = C + r * ldc + j;
            *c = acc ? *c + v : v;
        }
    }
    )
    "#endif\n"
    MLCC_SRC(
    static inline int64_t MLCC_CAT(MLCC_QKN, _prep_bytes)(int64_t M, int64_t K) {
    )
    "#if MLCC_QK_VNNI\n"
    MLCC_SRC(
        return M * MLCC_QK_ROW_BYTES(K);
    )
    "#else\n"
    MLCC_SRC(
        return M * mlcc_qk_row_bytes(K);
    )
    "#endif\n"
    MLCC_SRC(
    }
    static inline void MLCC_CAT(MLCC_QKN, _prep_row)(void *P, const float *A, int64_t M, int64_t K, int64_t lda, int64_t m) {
        (void)M;
    )
    "#if MLCC_QK_VNNI\n"
    MLCC_SRC(
        MLCC_QK_PREP_ROW(P, A + m * lda, K, m);
    )
    "#else\n"
    MLCC_SRC(
        mlcc_qk_prep_row(A + m * lda, K, mlcc_qk_row_at(P, K, m));
    )
    "#endif\n"
    MLCC_SRC(
    }
    )
    "#if MLCC_QK_VNNI\n"
    MLCC_SRC(
    static __attribute__((unused)) void MLCC_CAT(MLCC_QKN, _pre)(float *C, const float *A, const void *P, const void *QWv,
                                                                 const void *Sv, int64_t M, int64_t N, int64_t K, int64_t ldc,
                                                                 int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        (void)A, (void)lda;
        const uint32_t *QW = (const uint32_t *)QWv;
        const _Float16 *S = (const _Float16 *)Sv;
        const int64_t nb = K / 256, nu = MLCC_QK_UNITS(nb), ub = 4 * MLCC_QKW * (MLCC_QKT != 6 ? 2 : 1);
        if (M <= 0) return;
        if (M == 1) {
            MLCC_QK_ROWS r0 = MLCC_QK_ROW_AT(P, K, 0);
            /* decode: 4 weight rows at a time, their units interleaved (independent streams
             * for the memory system), the next 4 rows' units prefetched */
            for (int64_t n = 0; n < N; n += 4) {
                int nc = N - n < 4 ? (int)(N - n) : 4;
                __m512 sum[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
                for (int64_t u = 0; u < nu; u++) {
                    for (int j = 0; j < nc; j++) {
                        if (n + 4 + j < N)
                            for (int64_t l = 0; l < ub; l += 64)
                                _mm_prefetch((const char *)(QW + (n + 4 + j) * ldq) + ub * u + l, MLCC_QK_PF_HINT);
                        MLCC_QK_UNIT p;
                        MLCC_CAT(MLCC_QKN, _uprep)((const uint8_t *)(QW + (n + j) * ldq), S + (n + j) * lds, u, nb, &p);
                        sum[j] = MLCC_CAT(MLCC_QKN, _udot)(&p, &r0, u, sum[j]);
                    }
                }
                for (int j = 0; j < nc; j++) {
                    float v = _mm512_reduce_add_ps(sum[j]);
                    C[n + j] = acc ? C[n + j] + v : v;
                }
            }
            return;
        }
        /* prefill: per MLCC_QK_NC weight rows, every unit prepared once into pre, then every
         * tile of MLCC_QK_TR activation rows runs over them */
        MLCC_QK_UNIT *pre = (MLCC_QK_UNIT *)aligned_alloc(64, sizeof(MLCC_QK_UNIT) * (size_t)(MLCC_QK_NC * nu + 1));
        MLCC_QK_ROWS *R = (MLCC_QK_ROWS *)malloc(sizeof(MLCC_QK_ROWS) * (size_t)M);
        if (!pre || !R) abort();
        for (int64_t m = 0; m < M; m++) R[m] = MLCC_QK_ROW_AT(P, K, m);
        for (int64_t n = 0; n < N; n += MLCC_QK_NC) {
            int nr = N - n < MLCC_QK_NC ? (int)(N - n) : MLCC_QK_NC;
            for (int j = 0; j < nr; j++)
                for (int64_t u = 0; u < nu; u++)
                    MLCC_CAT(MLCC_QKN, _uprep)((const uint8_t *)(QW + (n + j) * ldq), S + (n + j) * lds, u, nb, pre + u * MLCC_QK_NC + j);
            int64_t m = 0;
            if (nr == MLCC_QK_NC) {
                for (; m + MLCC_QK_TR <= M; m += MLCC_QK_TR)
                    MLCC_CAT(MLCC_QKN, _tile)(C + m * ldc + n, R + m, pre, nu, ldc, acc, MLCC_QK_TR, MLCC_QK_NC);
                for (; m < M; m++) MLCC_CAT(MLCC_QKN, _tile)(C + m * ldc + n, R + m, pre, nu, ldc, acc, 1, MLCC_QK_NC);
            } else {
                for (int j = 0; j < nr; j++) {
                    for (m = 0; m + MLCC_QK_TR <= M; m += MLCC_QK_TR)
                        MLCC_CAT(MLCC_QKN, _tile)(C + m * ldc + n + j, R + m, pre + j, nu, ldc, acc, MLCC_QK_TR, 1);
                    for (; m < M; m++) MLCC_CAT(MLCC_QKN, _tile)(C + m * ldc + n + j, R + m, pre + j, nu, ldc, acc, 1, 1);
                }
            }
        }
        free(pre), free(R);
    }
    )
    "#undef MLCC_QK_UNIT\n#undef MLCC_QK_ROWS\n#undef MLCC_QK_UNITS\n#undef MLCC_QK_ROW_BYTES\n#undef MLCC_QK_ROW_AT\n#undef MLCC_QK_PREP_ROW\n"
    "#else\n"
    MLCC_SRC(
    static __attribute__((unused)) void MLCC_CAT(MLCC_QKN, _pre)(float *C, const float *A, const void *P, const void *QWv,
                                                                 const void *Sv, int64_t M, int64_t N, int64_t K, int64_t ldc,
                                                                 int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        (void)A, (void)lda;
        const uint32_t *QW = (const uint32_t *)QWv;
        const _Float16 *S = (const _Float16 *)Sv;
        int64_t nb = K / 256;
        for (int64_t n = 0; n < N; n++) {
            const uint8_t *row = (const uint8_t *)(QW + n * ldq);
            const _Float16 *srow = S + n * lds;
            for (int64_t m = 0; m < M; m++) {
                mlcc_qk_rows r = mlcc_qk_row_at(P, K, m);
                float v = 0;
                for (int64_t b = 0; b < nb; b++) {
                    if (MLCC_QKT != 6) v += mlcc_qk45_dot8_c(row + 4 * MLCC_QKW * b, srow + MLCC_QKS * b, r.x + 256 * b, r.bsf + 16 * b, r.dx[b], MLCC_QKT == 5);
                    else v += mlcc_qk6_dot8_c(row + 4 * MLCC_QKW * b, srow + MLCC_QKS * b, r.x + 256 * b, r.bsf + 16 * b, r.dx[b]);
                }
                float *c = C + m * ldc + n;
                *c = acc ? *c + v : v;
            }
        }
    }
    )
    "#endif\n"
    MLCC_SRC(
    void MLCC_QKN(float *C, const float *A, const void *QWv, const void *Sv, int64_t M, int64_t N, int64_t K,
                  int64_t ldc, int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        if (M <= 0) return;
        void *P = malloc((size_t)MLCC_CAT(MLCC_QKN, _prep_bytes)(M, K) + 1);
        if (!P) abort();
        for (int64_t m = 0; m < M; m++) MLCC_CAT(MLCC_QKN, _prep_row)(P, A, M, K, lda, m);
        MLCC_CAT(MLCC_QKN, _pre)(C, A, P, QWv, Sv, M, N, K, ldc, lda, ldq, lds, acc);
        free(P);
    }
    );

typedef struct qk_variant {
    int bits, ggml_type, words, scales, int8_act;
} qk_variant;

static const qk_variant variants[] = {
    {4, 12, 35, 2, 0}, {4, 12, 35, 2, 1}, /* ggml_q4_k */
    {5, 13, 43, 2, 0}, {5, 13, 43, 2, 1}, /* ggml_q5_k */
    {6, 14, 52, 1, 0}, {6, 14, 52, 1, 1}, /* ggml_q6_k */
};
enum { NVARIANTS = sizeof variants / sizeof variants[0] };

static char names[NVARIANTS][64];
static char *sources[NVARIANTS];
static cpu_intrin intrins[NVARIANTS];
static const cpu_intrin *list[NVARIANTS + 1];

static void fill(void) {
    for (int i = 0; i < NVARIANTS; i++) {
        const qk_variant *v = &variants[i];
        snprintf(names[i], sizeof names[i], "mlcc_k_gemm_nt_q%d_k_%s", v->bits, v->int8_act ? "a8" : "a32");
        size_t n = sizeof qk_common + sizeof qk8_template + sizeof qk_template + 512;
        char *s = malloc(n);
        if (!s) abort();
        snprintf(s, n, "%s#define MLCC_QKN %s\n#define MLCC_QKT %d\n#define MLCC_QKW %d\n#define MLCC_QKS %d\n%s"
                 "#undef MLCC_QKN\n#undef MLCC_QKT\n#undef MLCC_QKW\n#undef MLCC_QKS\n",
                 qk_common, names[i], v->bits, v->words, v->scales, v->int8_act ? qk8_template : qk_template);
        sources[i] = s;
        intrins[i] = (cpu_intrin){names[i], CPU_INTRIN_GEMM_NT_QK, {DT_FLOAT, 32, 1}, {DT_UINT, 32, 1},
                                  {DT_FLOAT, 32, 1}, s, v->bits, v->ggml_type, {DT_FLOAT, 16, 1}, v->int8_act, 0, 0};
        list[i] = &intrins[i];
    }
    list[NVARIANTS] = NULL;
}

const cpu_intrin *const *cpu_intrin_kquant_list(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fill);
    return list;
}
