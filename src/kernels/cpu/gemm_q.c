/* gemm_q.c - the quantized GEMM_NT intrinsics (see intrin.h): C[M, N] (= or +=) A[M, K] W[N, K]^T
 * where W is stored packed as quant/scheme.c lays it out (q_weight uint32 [N, ldq], value k of a
 * row in word k / per at bits bits * (k % per); q_scale [N, lds], one scale per 32 values):
 *     W[n, k] = (q(n, k) - zero_point) * scale[n, k / 32]
 * One instance per (bits, zero point, scale type, activation path) that a scheme uses:
 * q4f16_1 / q4f32_1 (4 bits, zero 7), ggml_q4_0 (4, 8), q8f16_1 (8, 127), ggml_q8_0 (8, 128).
 *
 * Two activation paths (docs/quantization.md says which is the default where):
 *   - float ("_a32", exact): each 32-value block of a weight row is dequantized into two
 *     vectors and multiplied into float32 activations with f32 FMAs. The activations are first
 *     copied once per call into the block's nibble order (the even values of a block then its
 *     odd ones, for 4 bits), so a block's 16 bytes unpack with one zero-extension, one shift and
 *     two table look-ups (vpermps maps a 4-bit code straight to the float q - zero_point).
 *   - int8 ("_a8", as llama.cpp computes): each row of A is quantized once per call to int8 per
 *     32-block (scale amax / 127, round to nearest even), and the dot products run on integers:
 *     vpdpbusd multiplies the unsigned weight codes by the signed activations, four products
 *     per 32-bit lane; the zero point is folded in by starting each lane at -zero_point times
 *     the sum of its activations, and each lane's integer sum is scaled by the product of its
 *     block's two scales into f32 accumulators. Integer sums are exact, so the path only adds
 *     the activation rounding (measured in tests/unit/test_cpu_intrin_q.c).
 * A chunk of work is 64 weight bytes of a row (128 values at 4 bits, 64 at 8); the reduction
 * runs in blocks of MLCC_QKC values whose lane sums are reduced and added in order, and tiles
 * only change which rows and columns are computed together, so a row's result does not depend
 * on how many rows the call has (decode gives prefill's logits bitwise). Ragged K is handled by
 * copying the last, partial chunk of each row into zeroed scratch (never reading past a row).
 *
 * The vector code needs AVX-512 F/BW/VL (+VNNI for the int8 path); the float path also has an
 * AVX2 + FMA + F16C version; elsewhere a plain C version computes the same formulas one value at
 * a time. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/intrin.h"

#define MLCC_SRC(...) #__VA_ARGS__ "\n"

/* Helpers shared by every instance, emitted once (guarded: each instance carries them). */
static const char q_common[] =
    "#ifndef MLCC_Q_COMMON\n#define MLCC_Q_COMMON\n#include <stdint.h>\n#include <stdlib.h>\n#include <string.h>\n"
    "#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)\n#define MLCC_Q_AVX512 1\n"
    "#else\n#define MLCC_Q_AVX512 0\n#endif\n"
    "#if MLCC_Q_AVX512 && defined(__AVX512VNNI__)\n#define MLCC_Q_VNNI 1\n#else\n#define MLCC_Q_VNNI 0\n#endif\n"
    "#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)\n#define MLCC_Q_AVX2 1\n#else\n#define MLCC_Q_AVX2 0\n#endif\n"
    "#define MLCC_QKC 1024\n#ifndef MLCC_QPF\n#define MLCC_QPF 1\n#endif\n#ifndef MLCC_QNR\n#define MLCC_QNR 8\n#endif\n#ifndef MLCC_QPF_LOCALITY\n#define MLCC_QPF_LOCALITY 2\n#endif\n"
    MLCC_SRC(
    /* x rounded to the nearest integer, ties to even (|x| < 2^22; no libm) */
    static inline float mlcc_q_rne(float x) { return (x + 12582912.0f) - 12582912.0f; }
    /* Row a[0..K) quantized to int8 per 32-block into q[0..Kp) (zero past K) and d[Kp / 32]:
     * d = amax / 127, q = round(a * 127 / amax). The int8 path's definition, every ISA. */
    static void mlcc_q_quantize_row(const float *a, int64_t K, int64_t Kp, int8_t *q, float *d) {
        int64_t b0 = 0;
    )
    "#if MLCC_Q_AVX512\n"
    MLCC_SRC(
        /* the same formula 16 lanes at a time (vcvtps2dq rounds to nearest even) */
        for (; b0 < Kp / 32; b0++) {
            int64_t k = b0 * 32, r = K - k;
            __mmask16 m0 = r >= 16 ? 0xFFFF : r <= 0 ? 0 : (__mmask16)((1u << r) - 1);
            __mmask16 m1 = r >= 32 ? 0xFFFF : r <= 16 ? 0 : (__mmask16)((1u << (r - 16)) - 1);
            __m512 v0 = _mm512_maskz_loadu_ps(m0, a + k), v1 = _mm512_maskz_loadu_ps(m1, a + k + 16);
            float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
            float id = amax > 0.0f ? 127.0f / amax : 0.0f;
            d[b0] = amax / 127.0f;
            __m512 vid = _mm512_set1_ps(id);
            _mm_storeu_si128((__m128i *)(q + k), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, vid))));
            _mm_storeu_si128((__m128i *)(q + k + 16), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, vid))));
        }
    )
    "#endif\n"
    MLCC_SRC(
        for (int64_t b = b0; b < Kp / 32; b++) {
            float amax = 0.0f;
            for (int64_t k = b * 32; k < b * 32 + 32 && k < K; k++) {
                float v = a[k] < 0 ? -a[k] : a[k];
                amax = v > amax ? v : amax;
            }
            float id = amax > 0.0f ? 127.0f / amax : 0.0f;
            d[b] = amax / 127.0f;
            for (int64_t k = b * 32; k < b * 32 + 32; k++) q[k] = (int8_t)(k < K ? mlcc_q_rne(a[k] * id) : 0.0f);
        }
    }
    static inline int64_t mlcc_q_round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }
    )
    "#endif\n";

/* One instance over MLCC_QN (the function), MLCC_QBITS (4 or 8), MLCC_QZP (zero point),
 * MLCC_QST (the scale type) and MLCC_QI8 (1: int8 activations). */
static const char q_template[] =
    MLCC_SRC(
    /* Code q of value k of a packed row (the scalar definition). */
    static inline int MLCC_CAT(MLCC_QN, _code)(const uint32_t *row, int64_t k) {
        return (int)((row[k / (32 / MLCC_QBITS)] >> (MLCC_QBITS * (k % (32 / MLCC_QBITS)))) & ((1u << MLCC_QBITS) - 1));
    }
    )
    "#if !MLCC_Q_AVX512 || (MLCC_QI8 && !MLCC_Q_VNNI)\n"
    "#if MLCC_QI8\n"
    MLCC_SRC(
    static void MLCC_QN(float *C, const float *A, const void *QWv, const void *Sv, int64_t M, int64_t N, int64_t K,
                        int64_t ldc, int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        const uint32_t *QW = (const uint32_t *)QWv;
        const MLCC_QST *S = (const MLCC_QST *)Sv;
        int64_t Kp = mlcc_q_round_up(K, 32);
        int8_t *q = (int8_t *)malloc((size_t)Kp);
        float *d = (float *)malloc(sizeof(float) * (size_t)(Kp / 32));
        if (!q || !d) abort();
        for (int64_t m = 0; m < M; m++) {
            mlcc_q_quantize_row(A + m * lda, K, Kp, q, d);
            for (int64_t n = 0; n < N; n++) {
                float total = 0.0f;
                for (int64_t k0 = 0; k0 < Kp; k0 += MLCC_QKC) {
                    float part = 0.0f;
                    for (int64_t b = k0 / 32; b < (k0 + MLCC_QKC < Kp ? k0 + MLCC_QKC : Kp) / 32; b++) {
                        int32_t s = 0;
                        for (int64_t k = b * 32; k < b * 32 + 32 && k < K; k++)
                            s += (MLCC_CAT(MLCC_QN, _code)(QW + n * ldq, k) - MLCC_QZP) * q[k];
                        part += (float)s * (d[b] * (float)S[n * lds + b]);
                    }
                    total += part;
                }
                C[m * ldc + n] = acc ? C[m * ldc + n] + total : total;
            }
        }
        free(q);
        free(d);
    }
    )
    "#elif MLCC_Q_AVX2\n"
    MLCC_SRC(
    /* float path, AVX2 + FMA + F16C: the AVX-512 version's structure with 8 lanes. Each row is
     * first copied in the blocks' unpacking order (4 bits: a block's even values, then its odd
     * ones); a block of a column decodes into four vectors of scaled values. */
    enum { MLCC_CAT(MLCC_QN, _BPK) = MLCC_QKC / 32 };
    static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_QN, _a2dec)(
        const uint32_t *QW, const MLCC_QST *S, int64_t b, int64_t RB, __m256 *w) {
        const int BB = 4 * MLCC_QBITS;
        const uint8_t *wb = (const uint8_t *)QW + b * BB;
        uint8_t t[32];
        if ((b + 1) * BB > RB) {
            memset(t, 0, sizeof t);
            memcpy(t, wb, (size_t)(RB - b * BB));
            wb = t;
        }
        __m128i v[4];
        if (MLCC_QBITS == 4) {
            __m128i raw = _mm_loadu_si128((const __m128i *)wb), nib = _mm_set1_epi8(0x0F);
            __m128i lo = _mm_and_si128(raw, nib), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), nib);
            v[0] = lo, v[1] = _mm_srli_si128(lo, 8), v[2] = hi, v[3] = _mm_srli_si128(hi, 8);
        } else {
            __m128i r0 = _mm_loadu_si128((const __m128i *)wb), r1 = _mm_loadu_si128((const __m128i *)(wb + 16));
            v[0] = r0, v[1] = _mm_srli_si128(r0, 8), v[2] = r1, v[3] = _mm_srli_si128(r1, 8);
        }
        const __m256 s = _mm256_set1_ps((float)S[b]), zp = _mm256_set1_ps((float)MLCC_QZP);
        for (int i = 0; i < 4; i++) w[i] = _mm256_mul_ps(_mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v[i])), zp), s);
    }
    static inline float MLCC_CAT(MLCC_QN, _a2sum)(__m256 v) {
        __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        x = _mm_add_ps(x, _mm_movehl_ps(x, x));
        x = _mm_add_ss(x, _mm_movehdup_ps(x));
        return _mm_cvtss_f32(x);
    }
    static void MLCC_QN(float *C, const float *A, const void *QWv, const void *Sv, int64_t M, int64_t N, int64_t K,
                        int64_t ldc, int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        const uint32_t *QW = (const uint32_t *)QWv;
        const MLCC_QST *S = (const MLCC_QST *)Sv;
        int64_t Kp = mlcc_q_round_up(K, 32), nb = Kp / 32;
        int64_t RB = (K + 32 / MLCC_QBITS - 1) / (32 / MLCC_QBITS) * 4;
        const int64_t BPK = MLCC_CAT(MLCC_QN, _BPK);
        float *Ap = (float *)aligned_alloc(64, sizeof(float) * (size_t)(M * Kp));
        float *pre = (float *)aligned_alloc(64, sizeof(float) * (size_t)(4 * BPK * 32));
        if (!Ap || !pre) abort();
        for (int64_t m = 0; m < M; m++)
            for (int64_t b = 0; b < nb; b++)
                for (int i = 0; i < 32; i++) {
                    int64_t k = b * 32 + (MLCC_QBITS == 4 ? (i < 16 ? 2 * i : 2 * (i - 16) + 1) : i);
                    Ap[m * Kp + b * 32 + i] = k < K ? A[m * lda + k] : 0.0f;
                }
        /* per reduction block and 4 columns: decode once, then every row (the same values and
         * order for any M, so a row alone gives the same result) */
        for (int64_t b0 = 0; b0 < nb; b0 += BPK) {
            int64_t b1 = b0 + BPK < nb ? b0 + BPK : nb;
            for (int64_t n = 0; n < N; n += 4) {
                int nr = N - n < 4 ? (int)(N - n) : 4;
                for (int j = 0; j < nr; j++)
                    for (int64_t b = b0; b < b1; b++) {
                        __m256 w[4];
                        MLCC_CAT(MLCC_QN, _a2dec)(QW + (n + j) * ldq, S + (n + j) * lds, b, RB, w);
                        for (int i = 0; i < 4; i++) _mm256_store_ps(pre + (j * BPK + (b - b0)) * 32 + 8 * i, w[i]);
                    }
                for (int64_t m = 0; m < M; m++) {
                    const float *ar = Ap + m * Kp;
                    for (int j = 0; j < nr; j++) {
                        __m256 t = _mm256_setzero_ps();
                        for (int64_t b = b0; b < b1; b++) {
                            const float *w = pre + (j * BPK + (b - b0)) * 32;
                            for (int i = 0; i < 4; i++)
                                t = _mm256_fmadd_ps(_mm256_loadu_ps(ar + b * 32 + 8 * i), _mm256_load_ps(w + 8 * i), t);
                        }
                        float v = MLCC_CAT(MLCC_QN, _a2sum)(t), *o = C + m * ldc + n + j;
                        if (b0) *o += v;
                        else *o = acc ? *o + v : v;
                    }
                }
            }
        }
        free(pre);
        free(Ap);
    }
    )
    "#else\n"
    MLCC_SRC(
    static void MLCC_QN(float *C, const float *A, const void *QWv, const void *Sv, int64_t M, int64_t N, int64_t K,
                        int64_t ldc, int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        const uint32_t *QW = (const uint32_t *)QWv;
        const MLCC_QST *S = (const MLCC_QST *)Sv;
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                float total = 0.0f;
                for (int64_t k = 0; k < K; k++)
                    total += A[m * lda + k] *
                             ((float)(MLCC_CAT(MLCC_QN, _code)(QW + n * ldq, k) - MLCC_QZP) * (float)S[n * lds + k / 32]);
                C[m * ldc + n] = acc ? C[m * ldc + n] + total : total;
            }
    }
    )
    "#endif\n"
    "#elif MLCC_QI8\n"
    MLCC_SRC(
    /* int8 path, AVX-512 VNNI. Per row and 64-byte chunk c the prepared activations hold
     * X[c] (64 or 128 int8: for 4 bits the codes matching the low nibbles, then the high),
     * bias[c] (16 int32: -zero_point * the sum of the lane's activations) and sa[c] (16 floats:
     * the lane's activation scale). */
    typedef struct { int8_t *x; int32_t *bias; float *sa; } MLCC_CAT(MLCC_QN, _rows);
    enum { MLCC_CAT(MLCC_QN, _XB) = MLCC_QBITS == 4 ? 128 : 64 };
    enum { MLCC_CAT(MLCC_QN, _CPK) = MLCC_QKC / MLCC_CAT(MLCC_QN, _XB) }; /* chunks per reduction block */
    /* Chunk c of one weight row: its codes (4 bits: low nibbles in wlo, high in whi) and its
     * scales spread over the lanes of their blocks; a ragged last chunk is read through zeroed
     * copies, never past the row. */
    static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_QN, _wdec)(
        const uint32_t *QW, const MLCC_QST *S, int64_t c, int64_t RB, int64_t NS, int64_t prefetch, __m512i *wlo,
        __m512i *whi, __m512 *sw) {
        const int SPC = MLCC_QBITS == 4 ? 4 : 2;
        const __m512i sidx = MLCC_QBITS == 4 ? _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)
                                             : _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
        const __m512i nib = _mm512_set1_epi8(0x0F);
        const uint8_t *wb = (const uint8_t *)QW + c * 64;
        const MLCC_QST *sp = S + c * SPC;
        __m512i x;
        MLCC_QST st[4] = {0, 0, 0, 0};
        if ((c + 1) * 64 <= RB) {
            if (prefetch) __builtin_prefetch(wb + prefetch, 0, MLCC_QPF_LOCALITY);
            x = _mm512_loadu_si512(wb);
        } else {
            uint8_t t[64] = {0};
            memcpy(t, wb, (size_t)(RB - c * 64));
            x = _mm512_loadu_si512(t);
        }
        if ((c + 1) * SPC > NS) {
            for (int i = 0; i < SPC && c * SPC + i < NS; i++) st[i] = sp[i];
            sp = st;
        }
        /* the chunk's scales (copied: memcpy keeps the loads legal for any type) */
        __m128 s4;
        if (sizeof(MLCC_QST) == 2) {
            int64_t h = 0;
            memcpy(&h, sp, sizeof(MLCC_QST) * SPC);
            s4 = _mm_cvtph_ps(_mm_cvtsi64_si128(h));
        } else {
            float f[4] = {0, 0, 0, 0};
            memcpy(f, sp, sizeof(MLCC_QST) * SPC);
            s4 = _mm_loadu_ps(f);
        }
        *sw = _mm512_permutexvar_ps(sidx, _mm512_castps128_ps512(s4));
        *wlo = *whi = x;
        if (MLCC_QBITS == 4) {
            *wlo = _mm512_and_si512(x, nib);
            *whi = _mm512_and_si512(_mm512_srli_epi16(x, 4), nib);
        }
    }
    static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_QN, _tile)(
        float *C, const MLCC_CAT(MLCC_QN, _rows) *P, int64_t m0, const uint32_t *QW, const MLCC_QST *S, int64_t c0,
        int64_t c1, int64_t ldc, int64_t ldq, int64_t lds, int64_t RB, int64_t NS, int first, int64_t acc,
        const __m512i *pre, const int mr, const int nr) {
        const int XB = MLCC_CAT(MLCC_QN, _XB);
        __m512 tot[4][8];
        _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++) _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++)
            tot[r][j] = _mm512_setzero_ps();
        for (int64_t c = c0; c < c1; c++) {
            /* the rows' activations for this chunk stay in registers across the columns */
            __m512i alo[4], ahi[4], bias[4];
            __m512 sa[4];
            _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++) {
                const int8_t *xr = P[m0 + r].x + c * XB;
                bias[r] = _mm512_loadu_si512(P[m0 + r].bias + c * 16);
                sa[r] = _mm512_loadu_ps(P[m0 + r].sa + c * 16);
                alo[r] = _mm512_loadu_si512(xr);
                ahi[r] = MLCC_QBITS == 4 ? _mm512_loadu_si512(xr + 64) : alo[r];
            }
            _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) {
                __m512i wlo, whi;
                __m512 sw;
                if (pre) {
                    const __m512i *w = pre + (j * MLCC_CAT(MLCC_QN, _CPK) + (c - c0)) * 3;
                    wlo = w[0], whi = w[1], sw = _mm512_castsi512_ps(w[2]);
                } else {
                    MLCC_CAT(MLCC_QN, _wdec)(QW + j * ldq, S + j * lds, c, RB, NS, mr == 1 ? MLCC_QPF * nr * ldq * 4 : 0, &wlo, &whi,
                                             &sw);
                }
                _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++) {
                    __m512i dot = _mm512_dpbusd_epi32(bias[r], wlo, alo[r]);
                    if (MLCC_QBITS == 4) dot = _mm512_dpbusd_epi32(dot, whi, ahi[r]);
                    tot[r][j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(sw, sa[r]), tot[r][j]);
                }
            }
        }
        _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++) _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) {
            float v = _mm512_reduce_add_ps(tot[r][j]);
            float *o = C + r * ldc + j;
            if (!first) *o += v;
            else *o = acc ? *o + v : v;
        }
    }
    static void MLCC_QN(float *C, const float *A, const void *QWv, const void *Sv, int64_t M, int64_t N, int64_t K,
                        int64_t ldc, int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        const uint32_t *QW = (const uint32_t *)QWv;
        const MLCC_QST *S = (const MLCC_QST *)Sv;
        const int XB = MLCC_CAT(MLCC_QN, _XB);
        int64_t Kp = mlcc_q_round_up(K, XB), nch = Kp / XB;
        int64_t RB = (K + 32 / MLCC_QBITS - 1) / (32 / MLCC_QBITS) * 4, NS = (K + 31) / 32;
        size_t per_row = (size_t)(Kp + nch * 16 * 8);
        char *mem = (char *)aligned_alloc(64, (size_t)mlcc_q_round_up((int64_t)(per_row * (size_t)M + (size_t)Kp * 5), 64));
        MLCC_CAT(MLCC_QN, _rows) *P = (MLCC_CAT(MLCC_QN, _rows) *)malloc(sizeof(*P) * (size_t)M);
        if (!mem || !P) abort();
        int8_t *q = (int8_t *)(mem + per_row * (size_t)M);
        float *d = (float *)(q + Kp);
        for (int64_t m = 0; m < M; m++) {
            char *base = mem + per_row * (size_t)m;
            P[m].bias = (int32_t *)base;
            P[m].sa = (float *)(base + nch * 64);
            P[m].x = (int8_t *)(base + nch * 128);
            mlcc_q_quantize_row(A + m * lda, K, Kp, q, d);
            /* per chunk: for 4 bits the even values of each block (low nibbles' partners) then
             * the odd ones; the lane biases (lane l covers natural values 8l..8l+7 at 4 bits,
             * 4l..4l+3 at 8) and the lanes' activation scales */
            const __m512i ones = _mm512_set1_epi8(1), zero = _mm512_setzero_si512(), nzp = _mm512_set1_epi32(-MLCC_QZP);
            const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
            const __m512i od = _mm512_add_epi32(ev, _mm512_set1_epi32(1));
            const __m512i sidx = MLCC_QBITS == 4 ? _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3)
                                                 : _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
            for (int64_t c = 0; c < nch; c++) {
                int8_t *x = P[m].x + c * XB;
                const int8_t *qc = q + c * XB;
                __m512i q0 = _mm512_loadu_si512(qc), s0 = _mm512_dpbusd_epi32(zero, ones, q0), sum = s0;
                if (MLCC_QBITS == 4) {
                    __m512i q1 = _mm512_loadu_si512(qc + 64), s1 = _mm512_dpbusd_epi32(zero, ones, q1);
                    _mm256_storeu_si256((__m256i *)x, _mm512_cvtepi16_epi8(q0));
                    _mm256_storeu_si256((__m256i *)(x + 32), _mm512_cvtepi16_epi8(q1));
                    _mm256_storeu_si256((__m256i *)(x + 64), _mm512_cvtepi16_epi8(_mm512_srai_epi16(q0, 8)));
                    _mm256_storeu_si256((__m256i *)(x + 96), _mm512_cvtepi16_epi8(_mm512_srai_epi16(q1, 8)));
                    sum = _mm512_add_epi32(_mm512_permutex2var_epi32(s0, ev, s1), _mm512_permutex2var_epi32(s0, od, s1));
                } else {
                    _mm512_storeu_si512(x, q0);
                }
                _mm512_storeu_si512(P[m].bias + c * 16, _mm512_mullo_epi32(sum, nzp));
                float f[4] = {0, 0, 0, 0};
                memcpy(f, d + c * (XB / 32), sizeof(float) * (XB / 32));
                _mm512_storeu_ps(P[m].sa + c * 16, _mm512_permutexvar_ps(sidx, _mm512_castps128_ps512(_mm_loadu_ps(f))));
            }
        }
        const int64_t CPK = MLCC_CAT(MLCC_QN, _CPK);
        /* prefill: the weights of 3 columns over one reduction block, decoded once for all rows */
        __m512i pre[3 * MLCC_CAT(MLCC_QN, _CPK) * 3] __attribute__((aligned(64)));
        for (int64_t c0 = 0; c0 < nch; c0 += CPK) {
            int64_t c1 = c0 + CPK < nch ? c0 + CPK : nch;
            int first = c0 == 0;
            int64_t n = 0;
            if (M == 1) break; /* decode: below, row by row */
            for (; n < N; n += 3) {
                int nr = N - n < 3 ? (int)(N - n) : 3;
                for (int j = 0; j < nr; j++)
                    for (int64_t c = c0; c < c1; c++) {
                        __m512i *w = pre + (j * CPK + (c - c0)) * 3;
                        __m512 sw;
                        MLCC_CAT(MLCC_QN, _wdec)(QW + (n + j) * ldq, S + (n + j) * lds, c, RB, NS, 0, &w[0], &w[1], &sw);
                        w[2] = _mm512_castps_si512(sw);
                    }
                int64_t m = 0;
                if (nr == 3) {
                    for (; m + 4 <= M; m += 4)
                        MLCC_CAT(MLCC_QN, _tile)(C + m * ldc + n, P, m, QW, S, c0, c1, ldc, ldq, lds, RB, NS, first, acc, pre, 4, 3);
                    for (; m < M; m++)
                        MLCC_CAT(MLCC_QN, _tile)(C + m * ldc + n, P, m, QW, S, c0, c1, ldc, ldq, lds, RB, NS, first, acc, pre, 1, 3);
                } else {
                    for (; m + 4 <= M; m += 4)
                        for (int j = 0; j < nr; j++)
                            MLCC_CAT(MLCC_QN, _tile)(C + m * ldc + n + j, P, m, QW, S, c0, c1, ldc, ldq, lds, RB, NS, first, acc, pre + j * CPK * 3, 4, 1);
                    for (; m < M; m++)
                        for (int j = 0; j < nr; j++)
                            MLCC_CAT(MLCC_QN, _tile)(C + m * ldc + n + j, P, m, QW, S, c0, c1, ldc, ldq, lds, RB, NS, first, acc, pre + j * CPK * 3, 1, 1);
                }
            }
        }
        /* Decode (one row): a tile of MLCC_QNR weight rows runs through all its reduction blocks
         * before the next tile starts (the same block sums, added in the same order, as the
         * block-major loop above), so each weight row is read front to back once, and every
         * chunk load prefetches the same chunk of the next tile's rows: the hardware prefetcher
         * alone starts each 1-4 KiB row late. */
        for (int64_t n = 0; M == 1 && n < N;) {
            int full = n + MLCC_QNR <= N;
            for (int64_t c0 = 0; c0 < nch; c0 += CPK) {
                int64_t c1 = c0 + CPK < nch ? c0 + CPK : nch;
                if (full)
                    MLCC_CAT(MLCC_QN, _tile)(C + n, P, 0, QW + n * ldq, S + n * lds, c0, c1, ldc, ldq, lds, RB, NS, c0 == 0, acc, 0, 1, MLCC_QNR);
                else
                    MLCC_CAT(MLCC_QN, _tile)(C + n, P, 0, QW + n * ldq, S + n * lds, c0, c1, ldc, ldq, lds, RB, NS, c0 == 0, acc, 0, 1, 1);
            }
            n += full ? MLCC_QNR : 1;
        }
        free(P);
        free(mem);
    }
    )
    "#else\n"
    MLCC_SRC(
    enum { MLCC_CAT(MLCC_QN, _BPK) = MLCC_QKC / 32 }; /* blocks per reduction block */
    /* Block b of one weight row as two vectors of scaled values (w0: the block's even values at
     * 4 bits, its first 16 at 8; w1: the rest); a ragged last block is read through a zeroed copy. */
    static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_QN, _fdec)(
        const uint32_t *QW, const MLCC_QST *S, int64_t b, int64_t RB, int64_t prefetch, __m512 *w0, __m512 *w1) {
        const int BB = 4 * MLCC_QBITS; /* bytes per 32-value block */
        const __m512 table = _mm512_setr_ps(0 - MLCC_QZP, 1 - MLCC_QZP, 2 - MLCC_QZP, 3 - MLCC_QZP, 4 - MLCC_QZP,
                                            5 - MLCC_QZP, 6 - MLCC_QZP, 7 - MLCC_QZP, 8 - MLCC_QZP, 9 - MLCC_QZP,
                                            10 - MLCC_QZP, 11 - MLCC_QZP, 12 - MLCC_QZP, 13 - MLCC_QZP, 14 - MLCC_QZP,
                                            15 - MLCC_QZP);
        const __m512 zp = _mm512_set1_ps((float)MLCC_QZP);
        const uint8_t *wb = (const uint8_t *)QW + b * BB;
        uint8_t t[32];
        if ((b + 1) * BB > RB) {
            memset(t, 0, sizeof t);
            memcpy(t, wb, (size_t)(RB - b * BB));
            wb = t;
        } else if (prefetch && (b * BB) % 64 == 0) {
            __builtin_prefetch(wb + prefetch, 0, MLCC_QPF_LOCALITY);
        }
        __m512 s = _mm512_set1_ps((float)S[b]);
        if (MLCC_QBITS == 4) {
            __m512i dw = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)wb));
            *w0 = _mm512_mul_ps(_mm512_permutexvar_ps(dw, table), s);
            *w1 = _mm512_mul_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(dw, 4), table), s);
        } else {
            *w0 = _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)wb))), zp), s);
            *w1 = _mm512_mul_ps(_mm512_sub_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(wb + 16)))), zp), s);
        }
    }
    /* float path, AVX-512. The prepared activations hold each row in the blocks' unpacking
     * order (zero past K): 32 floats per block. pre: the columns' blocks already decoded. */
    static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_QN, _ftile)(
        float *C, const float *Ap, int64_t ldap, const uint32_t *QW, const MLCC_QST *S, int64_t b0, int64_t b1,
        int64_t ldc, int64_t ldq, int64_t lds, int64_t RB, int first, int64_t acc, const float *pre, const int mr,
        const int nr) {
        __m512 tot[4][8];
        _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++) _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++)
            tot[r][j] = _mm512_setzero_ps();
        for (int64_t b = b0; b < b1; b++) {
            _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) {
                __m512 w0, w1;
                if (pre) {
                    const float *w = pre + (j * MLCC_CAT(MLCC_QN, _BPK) + (b - b0)) * 32;
                    w0 = _mm512_load_ps(w), w1 = _mm512_load_ps(w + 16);
                } else {
                    MLCC_CAT(MLCC_QN, _fdec)(QW + j * ldq, S + j * lds, b, RB, mr == 1 ? MLCC_QPF * nr * ldq * 4 : 0, &w0, &w1);
                }
                _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++) {
                    tot[r][j] = _mm512_fmadd_ps(_mm512_loadu_ps(Ap + r * ldap + b * 32), w0, tot[r][j]);
                    tot[r][j] = _mm512_fmadd_ps(_mm512_loadu_ps(Ap + r * ldap + b * 32 + 16), w1, tot[r][j]);
                }
            }
        }
        _Pragma("GCC unroll 4") for (int r = 0; r < mr; r++) _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) {
            float v = _mm512_reduce_add_ps(tot[r][j]);
            float *o = C + r * ldc + j;
            if (!first) *o += v;
            else *o = acc ? *o + v : v;
        }
    }
    static void MLCC_QN(float *C, const float *A, const void *QWv, const void *Sv, int64_t M, int64_t N, int64_t K,
                        int64_t ldc, int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        const uint32_t *QW = (const uint32_t *)QWv;
        const MLCC_QST *S = (const MLCC_QST *)Sv;
        int64_t Kp = mlcc_q_round_up(K, 32), nb = Kp / 32;
        int64_t RB = (K + 32 / MLCC_QBITS - 1) / (32 / MLCC_QBITS) * 4;
        float *Ap = (float *)aligned_alloc(64, sizeof(float) * (size_t)(M * Kp));
        if (!Ap) abort();
        for (int64_t m = 0; m < M; m++)
            for (int64_t b = 0; b < nb; b++)
                for (int i = 0; i < 32; i++) {
                    int64_t k = b * 32 + (MLCC_QBITS == 4 ? (i < 16 ? 2 * i : 2 * (i - 16) + 1) : i);
                    Ap[m * Kp + b * 32 + i] = k < K ? A[m * lda + k] : 0.0f;
                }
        const int64_t BPK = MLCC_CAT(MLCC_QN, _BPK);
        /* prefill: 4 columns' weights over one reduction block, decoded once for all rows */
        float pre[4 * MLCC_CAT(MLCC_QN, _BPK) * 32] __attribute__((aligned(64)));
        for (int64_t b0 = 0; b0 < nb; b0 += BPK) {
            int64_t b1 = b0 + BPK < nb ? b0 + BPK : nb;
            int first = b0 == 0;
            int64_t n = 0;
            if (M == 1) break; /* decode: below, row by row */
            for (; n < N; n += 4) {
                int nr = N - n < 4 ? (int)(N - n) : 4;
                for (int j = 0; j < nr; j++)
                    for (int64_t b = b0; b < b1; b++) {
                        __m512 w0, w1;
                        float *w = pre + (j * BPK + (b - b0)) * 32;
                        MLCC_CAT(MLCC_QN, _fdec)(QW + (n + j) * ldq, S + (n + j) * lds, b, RB, 0, &w0, &w1);
                        _mm512_store_ps(w, w0), _mm512_store_ps(w + 16, w1);
                    }
                int64_t m = 0;
                if (nr == 4) {
                    for (; m + 4 <= M; m += 4)
                        MLCC_CAT(MLCC_QN, _ftile)(C + m * ldc + n, Ap + m * Kp, Kp, QW, S, b0, b1, ldc, ldq, lds, RB, first, acc, pre, 4, 4);
                    for (; m < M; m++)
                        MLCC_CAT(MLCC_QN, _ftile)(C + m * ldc + n, Ap + m * Kp, Kp, QW, S, b0, b1, ldc, ldq, lds, RB, first, acc, pre, 1, 4);
                } else {
                    for (int j = 0; j < nr; j++)
                        for (m = 0; m < M; m++)
                            MLCC_CAT(MLCC_QN, _ftile)(C + m * ldc + n + j, Ap + m * Kp, Kp, QW, S, b0, b1, ldc, ldq, lds, RB, first, acc, pre + j * BPK * 32, 1, 1);
                }
            }
        }
        /* Decode: a tile of 8 weight rows through all its reduction blocks, prefetching the next
         * tile's rows (as the int8 path does: same sums in the same order as above). */
        for (int64_t n = 0; M == 1 && n < N;) {
            int full = n + 8 <= N;
            for (int64_t b0 = 0; b0 < nb; b0 += BPK) {
                int64_t b1 = b0 + BPK < nb ? b0 + BPK : nb;
                if (full)
                    MLCC_CAT(MLCC_QN, _ftile)(C + n, Ap, Kp, QW + n * ldq, S + n * lds, b0, b1, ldc, ldq, lds, RB, b0 == 0, acc, 0, 1, 8);
                else
                    MLCC_CAT(MLCC_QN, _ftile)(C + n, Ap, Kp, QW + n * ldq, S + n * lds, b0, b1, ldc, ldq, lds, RB, b0 == 0, acc, 0, 1, 1);
            }
            n += full ? 8 : 1;
        }
        free(Ap);
    }
    )
    "#endif\n";

typedef struct q_variant {
    int bits, zero_point, f32_scale, int8_act;
} q_variant;

/* The layouts the schemes use (quant/scheme.c), each with both activation paths. */
static const q_variant variants[] = {
    {4, 7, 0, 0}, {4, 7, 0, 1},     /* q4f16_1 */
    {4, 7, 1, 0}, {4, 7, 1, 1},     /* q4f32_1 */
    {4, 8, 0, 0}, {4, 8, 0, 1},     /* ggml_q4_0 */
    {8, 127, 0, 0}, {8, 127, 0, 1}, /* q8f16_1 */
    {8, 128, 0, 0}, {8, 128, 0, 1}, /* ggml_q8_0 */
};
enum { NVARIANTS = sizeof variants / sizeof variants[0] };

static char names[NVARIANTS][64];
static char *sources[NVARIANTS];
static cpu_intrin intrins[NVARIANTS];
static const cpu_intrin *list[NVARIANTS + 1];

static void fill(void) {
    for (int i = 0; i < NVARIANTS; i++) {
        const q_variant *v = &variants[i];
        snprintf(names[i], sizeof names[i], "mlcc_k_gemm_nt_q%dz%d_%s_%s", v->bits, v->zero_point,
                 v->f32_scale ? "f32" : "f16", v->int8_act ? "a8" : "a32");
        size_t n = sizeof q_common + sizeof q_template + 1024;
        char *s = malloc(n);
        snprintf(s, n, "%s#define MLCC_QN %s\n#define MLCC_QBITS %d\n#define MLCC_QZP %d\n#define MLCC_QST %s\n"
                 "#define MLCC_QI8 %d\n%s#undef MLCC_QN\n#undef MLCC_QBITS\n#undef MLCC_QZP\n#undef MLCC_QST\n"
                 "#undef MLCC_QI8\n", q_common, names[i], v->bits, v->zero_point, v->f32_scale ? "float" : "_Float16",
                 v->int8_act, q_template);
        sources[i] = s;
        intrins[i] = (cpu_intrin){names[i], CPU_INTRIN_GEMM_NT_Q, {DT_FLOAT, 32, 1}, {DT_UINT, 32, 1},
                                  {DT_FLOAT, 32, 1}, s, v->bits, v->zero_point,
                                  v->f32_scale ? (mlcc_dtype){DT_FLOAT, 32, 1} : (mlcc_dtype){DT_FLOAT, 16, 1},
                                  v->int8_act};
        list[i] = &intrins[i];
    }
    list[NVARIANTS] = NULL;
}

const cpu_intrin *const *cpu_intrin_quant_list(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fill);
    return list;
}

const cpu_intrin *cpu_intrin_gemm_nt_q(int bits, int zero_point, mlcc_dtype scale, int int8_act) {
    const cpu_intrin *const *l = cpu_intrin_quant_list();
    for (int i = 0; l[i]; i++)
        if (l[i]->bits == bits && l[i]->zero_point == zero_point && dtype_eq(l[i]->scale, scale) &&
            l[i]->int8_act == int8_act)
            return l[i];
    return NULL;
}
