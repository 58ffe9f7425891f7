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
 * quantized once per call per 256-block (d = amax / 127, round to nearest even) with the sums
 * of every 16 values; vpdpbusd multiplies the unsigned codes by the signed activations with the
 * codes laid out one sub-block per 32-bit lane, so each 32-bit lane's integer sum is scaled
 * once by its sub-block's d * sc; the Q4_K mins and the Q6_K zero point 32 enter through the
 * activation sums. Integer sums are exact, so the path adds only the activations' rounding.
 * Decode (M 1) streams 4 weight rows at a time with the next 4 prefetched; prefill decodes each
 * block once for 8 rows. The same per-(row, column) order either way.
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
    static void mlcc_qk4_decode_c(const uint8_t *q, const _Float16 *s, float *w) {
        float d = (float)s[0], dmin = (float)s[1];
        const uint8_t *qs = q + 12;
        for (int p = 0; p < 4; p++) {
            for (int h = 0; h < 2; h++) {
                int sc, m;
                mlcc_qk_scale_min(2 * p + h, q, &sc, &m);
                float d1 = d * (float)sc, m1 = dmin * (float)m;
                for (int l = 0; l < 32; l++) w[64 * p + 32 * h + l] = d1 * (float)(h ? qs[32 * p + l] >> 4 : qs[32 * p + l] & 0xF) - m1;
            }
        }
    }
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
    static inline void mlcc_qk4_decode(const uint8_t *q, const _Float16 *s, __m512 *w) {
        float d = (float)s[0], dmin = (float)s[1];
        const uint8_t *qs = q + 12;
        const __m256i low4 = _mm256_set1_epi8(0x0F);
        for (int p = 0; p < 4; p++) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(qs + 32 * p));
            __m256i nib[2] = {_mm256_and_si256(x, low4), _mm256_and_si256(_mm256_srli_epi16(x, 4), low4)};
            for (int h = 0; h < 2; h++) {
                int sc, m;
                mlcc_qk_scale_min(2 * p + h, q, &sc, &m);
                __m512 d1 = _mm512_set1_ps(d * (float)sc), m1 = _mm512_set1_ps(dmin * (float)m), v0, v1;
                mlcc_qk_cvt32(nib[h], &v0, &v1);
                w[4 * p + 2 * h] = _mm512_fmsub_ps(v0, d1, m1);
                w[4 * p + 2 * h + 1] = _mm512_fmsub_ps(v1, d1, m1);
            }
        }
    }
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
    static inline float mlcc_qk4_dot8_c(const uint8_t *q, const _Float16 *s, const int8_t *x, const float *bs, float dx) {
        uint64_t sc, mn;
        mlcc_qk4_scales(q, &sc, &mn);
        const uint8_t *qs = q + 12;
        int32_t isum = 0, msum = 0;
        for (int j = 0; j < 8; j++) {
            int32_t dot = 0;
            for (int l = 0; l < 32; l++) dot += (j & 1 ? qs[32 * (j / 2) + l] >> 4 : qs[32 * (j / 2) + l] & 0xF) * x[32 * j + l];
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
    /* A block's codes as four vectors of 64 unsigned bytes laid out "one sub-block per lane":
     * lane l of every vector holds 4 codes of the same sub-block, so the 4 vpdpbusd of a row
     * chain into one accumulator whose lane l sums 16 products of that sub-block; converted to
     * float once and scaled by `scale` (d times the lane's sub-block scale). bmul multiplies the
     * activations' sums of 16 (Q4_K: -dmin times the sub-block's min; Q6_K: -32 d times the
     * sub-block's scale, the zero point). No 32-bit integer multiplies (2 uops on the port
     * vpdpbusd needs); the activations are permuted to the codes' order (mlcc_qk_permute). */
    typedef struct mlcc_qk_prep {
        __m512i code[4];
        __m512 scale, bmul;
    } mlcc_qk_prep;
    /* Vector i of the layout from four vectors whose lanes hold sub-blocks as `lo` picks them:
     * lanes 0..7 from (c0, c1), lanes 8..15 from (c2, c3) with the same index pattern. */
    static inline __m512i mlcc_qk_gather(__m512i c0, __m512i c1, __m512i c2, __m512i c3, __m512i idx) {
        return _mm512_shuffle_i64x2(_mm512_permutex2var_epi32(c0, idx, c1), _mm512_permutex2var_epi32(c2, idx, c3), 0x44);
    }
    /* Q4_K: the nibble halves of qs bytes 0..63 and 64..127 hold sub-blocks (0 | 2), (1 | 3),
     * (4 | 6), (5 | 7), 8 lanes each; vector i takes lanes 2i, 2i + 1 of each: lanes 2j, 2j + 1
     * are sub-block j (its values 8i .. 8i + 7). */
    static inline void mlcc_qk4_prep(const uint8_t *q, const _Float16 *s, mlcc_qk_prep *p) {
        uint64_t sc, mn;
        mlcc_qk4_scales(q, &sc, &mn);
        const __m512i low4 = _mm512_set1_epi8(0x0F);
        __m512i qa = _mm512_loadu_si512((const void *)(q + 12)), qb = _mm512_loadu_si512((const void *)(q + 76));
        __m512i c0 = _mm512_and_si512(qa, low4), c1 = _mm512_and_si512(_mm512_srli_epi16(qa, 4), low4);
        __m512i c2 = _mm512_and_si512(qb, low4), c3 = _mm512_and_si512(_mm512_srli_epi16(qb, 4), low4);
        for (int i = 0; i < 4; i++) {
            __m512i idx = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 16, 17, 8, 9, 24, 25, 0, 1, 16, 17, 8, 9, 24, 25), _mm512_set1_epi32(2 * i));
            p->code[i] = mlcc_qk_gather(c0, c1, c2, c3, idx);
        }
        const __m512i pairs = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
        __m512 dsc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc))), _mm512_set1_ps((float)s[0]));
        p->scale = _mm512_permutexvar_ps(pairs, dsc);
        __m128i m8 = _mm_cvtsi64_si128((long long)mn);
        p->bmul = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_unpacklo_epi8(m8, m8))), _mm512_set1_ps(-(float)s[1]));
    }
    /* Q6_K: the codes of values 128 h + 64 k .. +63 (the ql nibble with the qh bit pair above it)
     * hold sub-blocks 8h + 4k .. +3, 4 lanes each; vector i takes lane i of each 4: lane l is
     * sub-block l (its values 4i .. 4i + 3). */
    static inline void mlcc_qk6_prep(const uint8_t *q, const _Float16 *s, mlcc_qk_prep *p) {
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
        p->bmul = _mm512_mul_ps(p->scale, _mm512_set1_ps(-32.0f));
    }
    /* One prepared block times one row's block x (as the codes order it), into acc. */
    static inline __m512 mlcc_qk_dot8(const mlcc_qk_prep *p, const int8_t *x, const float *bs, float dx, __m512 acc) {
        __m512i isum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), p->code[0], _mm512_loadu_si512((const void *)x));
        for (int i = 1; i < 4; i++) isum = _mm512_dpbusd_epi32(isum, p->code[i], _mm512_loadu_si512((const void *)(x + 64 * i)));
        __m512 blk = _mm512_mul_ps(_mm512_cvtepi32_ps(isum), p->scale);
        blk = _mm512_fmadd_ps(_mm512_loadu_ps(bs), p->bmul, blk);
        return _mm512_fmadd_ps(blk, _mm512_set1_ps(dx), acc);
    }
    /* The activations of each block in the codes' order: vector i (64 bytes), lane l takes
     * Q4_K: values 8i + 4 (l % 2) .. +3 of sub-block l / 2 (32 values each); Q6_K: values
     * 4i .. 4i + 3 of sub-block l (16 values each). */
    static inline void mlcc_qk_permute(int8_t *q, int64_t K, int q4) {
        int8_t tmp[256];
        for (int64_t b = 0; b < K / 256; b++) {
            memcpy(tmp, q + 256 * b, 256);
            for (int i = 0; i < 4; i++)
                for (int l = 0; l < 16; l++)
                    memcpy(q + 256 * b + 64 * i + 4 * l, tmp + (q4 ? 32 * (l / 2) + 8 * i + 4 * (l % 2) : 16 * l + 4 * i), 4);
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
        for (int64_t n = 0; n < N; n++) {
            const uint8_t *row = (const uint8_t *)(QW + n * ldq);
            const _Float16 *srow = S + n * lds;
            for (int64_t m0 = 0; m0 < M; m0 += MLCC_QK_MR) {
                int mr = M - m0 < MLCC_QK_MR ? (int)(M - m0) : MLCC_QK_MR;
    )
    "#if MLCC_QK_AVX512\n"
    MLCC_SRC(
                __m512 sum[MLCC_QK_MR];
                for (int r = 0; r < MLCC_QK_MR; r++) sum[r] = _mm512_setzero_ps();
                for (int64_t b = 0; b < nb; b++) {
                    __m512 w[16];
                    if (MLCC_QKT == 4) mlcc_qk4_decode(row + 4 * MLCC_QKW * b, srow + MLCC_QKS * b, w);
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
 * MLCC_QKN_prep_row (row m quantized into it: mlcc_qk_prep_row, then, for the vector code, each
 * block permuted to the codes' order) and MLCC_QKN_pre (the GEMM on prepared rows); MLCC_QKN
 * itself prepares its own rows and calls _pre, so both forms give the same bits. */
static const char qk8_template[] =
    MLCC_SRC(
    static inline int64_t MLCC_CAT(MLCC_QKN, _prep_bytes)(int64_t M, int64_t K) { return M * mlcc_qk_row_bytes(K); }
    static inline void MLCC_CAT(MLCC_QKN, _prep_row)(void *P, const float *A, int64_t M, int64_t K, int64_t lda, int64_t m) {
        (void)M;
        mlcc_qk_rows r = mlcc_qk_row_at(P, K, m);
        mlcc_qk_prep_row(A + m * lda, K, r);
    )
    "#if MLCC_QK_VNNI\n"
    MLCC_SRC(
        mlcc_qk_permute(r.x, K, MLCC_QKT == 4);
    )
    "#endif\n"
    MLCC_SRC(
    }
    )
    "#if MLCC_QK_VNNI\n"
    MLCC_SRC(
    /* Prefill tile: mr rows x nr columns over every block; pre holds the columns' blocks
     * prepared (block b of column j at pre[b * MLCC_QK_NC + j]). Per block and (row, column)
     * the same steps as mlcc_qk_dot8 (4 vpdpbusd from zero, convert, scale, the sums' term, one
     * FMA by the row's dx into the running vector), so a row's result is the decode path's. */
    static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_QKN, _tile)(
        float *C, const mlcc_qk_rows *R, const mlcc_qk_prep *pre, int64_t nb, int64_t ldc, int64_t acc, const int mr, const int nr) {
        __m512 tot[MLCC_QK_TR][MLCC_QK_NC];
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++)
            tot[r][j] = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            const mlcc_qk_prep *pb = pre + b * MLCC_QK_NC;
            __m512i is[MLCC_QK_TR][MLCC_QK_NC];
            _Pragma("GCC unroll 4") for (int i = 0; i < 4; i++) {
                __m512i w[MLCC_QK_NC];
                _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) w[j] = pb[j].code[i];
                _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {
                    __m512i a = _mm512_loadu_si512((const void *)(R[r].x + 256 * b + 64 * i));
                    _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++)
                        is[r][j] = _mm512_dpbusd_epi32(i ? is[r][j] : _mm512_setzero_si512(), w[j], a);
                }
            }
            _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) {
                __m512 bsf = _mm512_loadu_ps(R[r].bsf + 16 * b), dx = _mm512_set1_ps(R[r].dx[b]);
                _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) {
                    __m512 blk = _mm512_mul_ps(_mm512_cvtepi32_ps(is[r][j]), pb[j].scale);
                    blk = _mm512_fmadd_ps(bsf, pb[j].bmul, blk);
                    tot[r][j] = _mm512_fmadd_ps(blk, dx, tot[r][j]);
                }
            }
        }
        _Pragma("GCC unroll 8") for (int r = 0; r < mr; r++) _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) {
            float v = _mm512_reduce_add_ps(tot[r][j]);
            float *c = C + r * ldc + j;
            *c = acc ? *c + v : v;
        }
    }
    static __attribute__((unused)) void MLCC_CAT(MLCC_QKN, _pre)(float *C, const float *A, const void *P, const void *QWv,
                                                                 const void *Sv, int64_t M, int64_t N, int64_t K, int64_t ldc,
                                                                 int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        (void)A, (void)lda;
        const uint32_t *QW = (const uint32_t *)QWv;
        const _Float16 *S = (const _Float16 *)Sv;
        int64_t nb = K / 256;
        if (M <= 0) return;
        if (M == 1) {
            mlcc_qk_rows r0 = mlcc_qk_row_at(P, K, 0);
            /* decode: 4 weight rows at a time, their blocks interleaved (independent streams
             * for the memory system), the next 4 rows' blocks prefetched */
            for (int64_t n = 0; n < N; n += 4) {
                int nc = N - n < 4 ? (int)(N - n) : 4;
                __m512 sum[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
                for (int64_t b = 0; b < nb; b++) {
                    for (int j = 0; j < nc; j++) {
                        if (n + 4 + j < N)
                            for (int l = 0; l < 4 * MLCC_QKW; l += 64)
                                _mm_prefetch((const char *)(QW + (n + 4 + j) * ldq) + 4 * MLCC_QKW * b + l, MLCC_QK_PF_HINT);
                        mlcc_qk_prep p;
                        const uint8_t *row = (const uint8_t *)(QW + (n + j) * ldq);
                        if (MLCC_QKT == 4) mlcc_qk4_prep(row + 4 * MLCC_QKW * b, S + (n + j) * lds + MLCC_QKS * b, &p);
                        else mlcc_qk6_prep(row + 4 * MLCC_QKW * b, S + (n + j) * lds + MLCC_QKS * b, &p);
                        sum[j] = mlcc_qk_dot8(&p, r0.x + 256 * b, r0.bsf + 16 * b, r0.dx[b], sum[j]);
                    }
                }
                for (int j = 0; j < nc; j++) {
                    float v = _mm512_reduce_add_ps(sum[j]);
                    C[n + j] = acc ? C[n + j] + v : v;
                }
            }
            return;
        }
        /* prefill: per MLCC_QK_NC weight rows, every block prepared once into pre, then every
         * tile of MLCC_QK_TR activation rows runs over them */
        mlcc_qk_prep *pre = (mlcc_qk_prep *)aligned_alloc(64, sizeof(mlcc_qk_prep) * (size_t)(MLCC_QK_NC * nb + 1));
        mlcc_qk_rows *R = (mlcc_qk_rows *)malloc(sizeof(mlcc_qk_rows) * (size_t)M);
        if (!pre || !R) abort();
        for (int64_t m = 0; m < M; m++) R[m] = mlcc_qk_row_at(P, K, m);
        for (int64_t n = 0; n < N; n += MLCC_QK_NC) {
            int nr = N - n < MLCC_QK_NC ? (int)(N - n) : MLCC_QK_NC;
            for (int j = 0; j < nr; j++) {
                const uint8_t *row = (const uint8_t *)(QW + (n + j) * ldq);
                for (int64_t b = 0; b < nb; b++) {
                    if (MLCC_QKT == 4) mlcc_qk4_prep(row + 4 * MLCC_QKW * b, S + (n + j) * lds + MLCC_QKS * b, pre + b * MLCC_QK_NC + j);
                    else mlcc_qk6_prep(row + 4 * MLCC_QKW * b, S + (n + j) * lds + MLCC_QKS * b, pre + b * MLCC_QK_NC + j);
                }
            }
            int64_t m = 0;
            if (nr == MLCC_QK_NC) {
                for (; m + MLCC_QK_TR <= M; m += MLCC_QK_TR)
                    MLCC_CAT(MLCC_QKN, _tile)(C + m * ldc + n, R + m, pre, nb, ldc, acc, MLCC_QK_TR, MLCC_QK_NC);
                for (; m < M; m++) MLCC_CAT(MLCC_QKN, _tile)(C + m * ldc + n, R + m, pre, nb, ldc, acc, 1, MLCC_QK_NC);
            } else {
                for (int j = 0; j < nr; j++) {
                    for (m = 0; m + MLCC_QK_TR <= M; m += MLCC_QK_TR)
                        MLCC_CAT(MLCC_QKN, _tile)(C + m * ldc + n + j, R + m, pre + j, nb, ldc, acc, MLCC_QK_TR, 1);
                    for (; m < M; m++) MLCC_CAT(MLCC_QKN, _tile)(C + m * ldc + n + j, R + m, pre + j, nb, ldc, acc, 1, 1);
                }
            }
        }
        free(pre), free(R);
    }
    )
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
                    if (MLCC_QKT == 4) v += mlcc_qk4_dot8_c(row + 4 * MLCC_QKW * b, srow + MLCC_QKS * b, r.x + 256 * b, r.bsf + 16 * b, r.dx[b]);
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
