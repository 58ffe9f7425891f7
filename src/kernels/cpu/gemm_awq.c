/* gemm_awq.c - the GEMM_NT_Q intrinsics of the per-group-zero-point layout (q4f16_awq and its
 * g64 / g32 variants; quant/scheme.h, docs/quantization.md): C[M, N] (= or +=) A[M, K] W[N, K]^T
 * with W stored as 4-bit codes, 8 per uint32 (value k of a row in word k / 8 at bits 4 (k % 8)),
 * and per group of G values a float16 scale and zero point side by side in S:
 *     W[n, k] = (q(n, k) - S[n, 2 (k / G) + 1]) * S[n, 2 (k / G)]
 * Two activation paths, as gemm_q.c's (docs/quantization.md says which is the default where):
 *   - float ("_a32", exact up to float32 summation order): a reduction chunk of up to
 *     MLCC_AWQ_KC values of 4 columns is decoded once into float32 (the 16 possible values of
 *     a group, (q - zero) * scale, are a 16-entry table: vpermps turns 16 codes into 16
 *     weights at once; the products are exact in float32), then every row of the tile runs
 *     FMAs over it. AVX-512 F/BW/VL, AVX2 + FMA + F16C, or plain C.
 *   - int8 ("_a8", as llama.cpp computes): each row of A is quantized once per call to int8
 *     per 32-block (d = amax / 127, round to nearest even: gemm_q.c's rule) and laid out per
 *     128-value chunk as its even and odd positions, so a 64-byte load of packed weights (128
 *     codes: low nibbles the even values, high nibbles the odd) meets them with two vpdpbusd
 *     whose 16 int32 lanes are the exact sums code x int8 of the chunk's 16 words. The zero
 *     point is folded per word: (L d - z (d x the word's int8 sum)) x scale, in float32 lanes
 *     added at the end. Up to 4 rows share each weight load. AVX-512 VNNI, or plain C.
 * A row's operations are the same whatever M and N are, so decode gives prefill's logits on
 * either path.
 *
 * Registered with the other GEMM_NT_Q intrinsics by gemm_q.c (cpu_intrin_awq_list); the
 * schedule (transform/schedule_quant.c) picks them through tensorize's structural match of the
 * group_zero dequantize expression. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "kernels/cpu/intrin.h"

#define MLCC_SRC(...) #__VA_ARGS__ "\n"

/* Helpers shared by every instance (guarded: each instance carries them). */
static const char awq_common[] =
    "#ifndef MLCC_AWQ_COMMON\n#define MLCC_AWQ_COMMON\n#include <stdint.h>\n#include <stdlib.h>\n#include <string.h>\n"
    "#define MLCC_AWQ_KC 512\n"
    "#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)\n#define MLCC_AWQ_ISA 2\n"
    "#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)\n#define MLCC_AWQ_ISA 1\n"
    "#else\n#define MLCC_AWQ_ISA 0\n#endif\n"
    "#if MLCC_AWQ_ISA == 2 && defined(__AVX512VNNI__)\n#define MLCC_AWQ_VNNI 1\n#else\n#define MLCC_AWQ_VNNI 0\n#endif\n"
    MLCC_SRC(
    /* The code of value k of a packed row. */
    static inline int mlcc_awq_code(const uint32_t *row, int64_t k) { return (int)(row[k / 8] >> (4 * (k % 8))) & 15; }
    /* Values k0 .. k0 + kn of a row (k0 a multiple of the group size G, which is a multiple
     * of 16) as float32 into out[0 .. round_up(kn, 16)), zero past kn. */
    static void mlcc_awq_decode(const uint32_t *row, const _Float16 *S, int G, int64_t k0, int64_t kn, float *out) {
        int64_t k = 0;
    )
    "#if MLCC_AWQ_ISA == 2\n"
    MLCC_SRC(
        const __m512 codes = _mm512_setr_ps(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        const __m128i nib = _mm_set1_epi8(0x0F);
        int64_t tg = -1;
        __m512 tbl = codes;
        for (; k + 16 <= kn; k += 16) {
            int64_t g = (k0 + k) / G;
            if (g != tg) /* the group's 16 values, once per group */
                tbl = _mm512_mul_ps(_mm512_sub_ps(codes, _mm512_set1_ps((float)S[2 * g + 1])), _mm512_set1_ps((float)S[2 * g])), tg = g;
            uint64_t w;
            memcpy(&w, row + (k0 + k) / 8, 8);
            __m128i v = _mm_cvtsi64_si128((long long)w);
            __m128i b = _mm_unpacklo_epi8(_mm_and_si128(v, nib), _mm_and_si128(_mm_srli_epi16(v, 4), nib));
            _mm512_storeu_ps(out + k, _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(b), tbl));
        }
    )
    "#elif MLCC_AWQ_ISA == 1\n"
    MLCC_SRC(
        const __m128i nib = _mm_set1_epi8(0x0F);
        for (; k + 8 <= kn; k += 8) {
            int64_t g = (k0 + k) / G;
            __m128i v = _mm_cvtsi32_si128((int)row[(k0 + k) / 8]);
            __m128i b = _mm_unpacklo_epi8(_mm_and_si128(v, nib), _mm_and_si128(_mm_srli_epi16(v, 4), nib));
            __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b));
            __m256 w = _mm256_mul_ps(_mm256_sub_ps(q, _mm256_set1_ps((float)S[2 * g + 1])), _mm256_set1_ps((float)S[2 * g]));
            _mm256_storeu_ps(out + k, w);
        }
    )
    "#endif\n"
    MLCC_SRC(
        for (; k < kn; k++) {
            int64_t g = (k0 + k) / G;
            out[k] = ((float)mlcc_awq_code(row, k0 + k) - (float)S[2 * g + 1]) * (float)S[2 * g];
        }
        for (; k % 16; k++) out[k] = 0.0f;
    }
    )
    "#if MLCC_AWQ_ISA == 1\n"
    MLCC_SRC(
    static inline float mlcc_awq_hsum8(__m256 v) {
        __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        x = _mm_add_ps(x, _mm_movehl_ps(x, x));
        x = _mm_add_ss(x, _mm_movehdup_ps(x));
        return _mm_cvtss_f32(x);
    }
    )
    "#endif\n"
    MLCC_SRC(
    /* t[j] = sum over k < kn of a[k] * w[j][k] for j < nr (w zero-padded to 16), in a fixed
     * order (16 or 8 lanes, then the lanes added), the same for any row. */
    static void mlcc_awq_dots(const float *a, const float *w, int64_t kn, int nr, float *t) {
    )
    "#if MLCC_AWQ_ISA == 2\n"
    MLCC_SRC(
        __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        int64_t k = 0;
        for (; k + 16 <= kn; k += 16) {
            __m512 x = _mm512_loadu_ps(a + k);
            for (int j = 0; j < nr; j++) s[j] = _mm512_fmadd_ps(x, _mm512_loadu_ps(w + j * MLCC_AWQ_KC + k), s[j]);
        }
        if (k < kn) {
            __m512 x = _mm512_maskz_loadu_ps((__mmask16)((1u << (kn - k)) - 1), a + k);
            for (int j = 0; j < nr; j++) s[j] = _mm512_fmadd_ps(x, _mm512_loadu_ps(w + j * MLCC_AWQ_KC + k), s[j]);
        }
        for (int j = 0; j < nr; j++) t[j] = _mm512_reduce_add_ps(s[j]);
    )
    "#elif MLCC_AWQ_ISA == 1\n"
    MLCC_SRC(
        __m256 s[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        int64_t k = 0;
        for (; k + 8 <= kn; k += 8) {
            __m256 x = _mm256_loadu_ps(a + k);
            for (int j = 0; j < nr; j++) s[j] = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + j * MLCC_AWQ_KC + k), s[j]);
        }
        for (int j = 0; j < nr; j++) {
            float r = mlcc_awq_hsum8(s[j]);
            for (int64_t i = k; i < kn; i++) r += a[i] * w[j * MLCC_AWQ_KC + i];
            t[j] = r;
        }
    )
    "#else\n"
    MLCC_SRC(
        for (int j = 0; j < nr; j++) {
            float r = 0.0f;
            for (int64_t k = 0; k < kn; k++) r += a[k] * w[j * MLCC_AWQ_KC + k];
            t[j] = r;
        }
    )
    "#endif\n"
    MLCC_SRC(
    }
    /* The intrinsic body for groups of G values. */
    static void mlcc_awq_gemm(float *C, const float *A, const uint32_t *QW, const _Float16 *S, int G, int64_t M, int64_t N,
                              int64_t K, int64_t ldc, int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        float pre[4 * MLCC_AWQ_KC] __attribute__((aligned(64)));
        for (int64_t k0 = 0; k0 < K; k0 += MLCC_AWQ_KC) {
            int64_t kn = K - k0 < MLCC_AWQ_KC ? K - k0 : MLCC_AWQ_KC;
            for (int64_t n = 0; n < N; n += 4) {
                int nr = N - n < 4 ? (int)(N - n) : 4;
                for (int j = 0; j < nr; j++) mlcc_awq_decode(QW + (n + j) * ldq, S + (n + j) * lds, G, k0, kn, pre + j * MLCC_AWQ_KC);
                for (int64_t m = 0; m < M; m++) {
                    float t[4];
                    mlcc_awq_dots(A + m * lda + k0, pre, kn, nr, t);
                    for (int j = 0; j < nr; j++) {
                        float *o = C + m * ldc + n + j;
                        *o = k0 ? *o + t[j] : acc ? *o + t[j] : t[j];
                    }
                }
            }
        }
    }

    /* ---- int8 activations ---- */
    /* x rounded to the nearest integer, ties to even (|x| < 2^22; no libm) */
    static inline float mlcc_awq_rne(float x) { return (x + 12582912.0f) - 12582912.0f; }
    /* Row a[0..K) as int8 per 32-block into q[0..Kp) (zero past K) and d[Kp / 32]: d = amax / 127,
     * q = round(a * 127 / amax): gemm_q.c's (and ggml's) rule. */
    static void mlcc_awq_quantize_row(const float *a, int64_t K, int64_t Kp, int8_t *q, float *d) {
        int64_t b = 0;
    )
    "#if MLCC_AWQ_VNNI\n"
    MLCC_SRC(
        /* the same formula a block at a time (vcvtps2dq rounds to nearest even) */
        for (; b < Kp / 32; b++) {
            int64_t k = b * 32, r = K - k;
            __mmask16 m0 = r >= 16 ? 0xFFFF : r <= 0 ? 0 : (__mmask16)((1u << r) - 1);
            __mmask16 m1 = r >= 32 ? 0xFFFF : r <= 16 ? 0 : (__mmask16)((1u << (r - 16)) - 1);
            __m512 v0 = _mm512_maskz_loadu_ps(m0, a + k), v1 = _mm512_maskz_loadu_ps(m1, a + k + 16);
            float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
            __m512 vid = _mm512_set1_ps(amax > 0.0f ? 127.0f / amax : 0.0f);
            d[b] = amax / 127.0f;
            _mm_storeu_si128((__m128i *)(q + k), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v0, vid))));
            _mm_storeu_si128((__m128i *)(q + k + 16), _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(v1, vid))));
        }
    )
    "#endif\n"
    MLCC_SRC(
        for (; b < Kp / 32; b++) {
            float amax = 0.0f;
            for (int64_t k = b * 32; k < b * 32 + 32 && k < K; k++) {
                float v = a[k] < 0 ? -a[k] : a[k];
                amax = v > amax ? v : amax;
            }
            float id = amax > 0.0f ? 127.0f / amax : 0.0f;
            d[b] = amax / 127.0f;
            for (int64_t k = b * 32; k < b * 32 + 32; k++) q[k] = (int8_t)(k < K ? mlcc_awq_rne(a[k] * id) : 0.0f);
        }
    }
    /* One row prepared, per 128-value chunk c: q8 (the int8 values), ev / od (the values of the
     * even / odd positions: byte b of a 64-byte weight chunk holds values 2b and 2b + 1 in its
     * low / high nibble), and per 8-value word i of the chunk dA (its block's activation scale)
     * and Ad (dA times the sum of the word's int8 values, for the zero point term). */
    typedef struct { int8_t *q8, *ev, *od; float *d, *dA, *Ad; } mlcc_awq_row;
    static void mlcc_awq_prepare(const float *a, int64_t K, int64_t nch, mlcc_awq_row *r) {
        mlcc_awq_quantize_row(a, K, nch * 128, r->q8, r->d);
        int64_t c = 0;
    )
    "#if MLCC_AWQ_VNNI\n"
    MLCC_SRC(
        /* even / odd bytes by narrowing 16-bit pairs; a word's sum as vpdpbusd with ones */
        const __m512i ones = _mm512_set1_epi8(1);
        const __m512i quad = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
        for (; c < nch; c++) {
            const int8_t *q = r->q8 + c * 128;
            __m512i x0 = _mm512_loadu_si512(q), x1 = _mm512_loadu_si512(q + 64);
            __m512i ev = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(x0)), _mm512_cvtepi16_epi8(x1), 1);
            __m512i od = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi16_epi8(_mm512_srai_epi16(x0, 8))),
                                            _mm512_cvtepi16_epi8(_mm512_srai_epi16(x1, 8)), 1);
            _mm512_storeu_si512(r->ev + c * 64, ev);
            _mm512_storeu_si512(r->od + c * 64, od);
            __m512i sum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), ones, ev), ones, od);
            __m512 dA = _mm512_permutexvar_ps(quad, _mm512_castps128_ps512(_mm_loadu_ps(r->d + c * 4)));
            _mm512_storeu_ps(r->dA + c * 16, dA);
            _mm512_storeu_ps(r->Ad + c * 16, _mm512_mul_ps(dA, _mm512_cvtepi32_ps(sum)));
        }
    )
    "#endif\n"
    MLCC_SRC(
        for (; c < nch; c++) {
            const int8_t *q = r->q8 + c * 128;
            for (int b = 0; b < 64; b++) r->ev[c * 64 + b] = q[2 * b], r->od[c * 64 + b] = q[2 * b + 1];
            for (int i = 0; i < 16; i++) {
                int sum = 0;
                for (int k = 0; k < 8; k++) sum += q[8 * i + k];
                r->dA[c * 16 + i] = r->d[c * 4 + i / 4];
                r->Ad[c * 16 + i] = r->d[c * 4 + i / 4] * (float)sum;
            }
        }
    }
    )
    "#if MLCC_AWQ_VNNI\n"
    MLCC_SRC(
    /* One chunk of one row: the 16 word sums code x int8 (two vpdpbusd over the low and high
     * nibbles), (L dA - z Ad) s added into acc. */
    static inline __attribute__((always_inline)) __m512 mlcc_awq_row_step(__m512 acc, const mlcc_awq_row *r, int64_t c, __m512i lo,
                                                                          __m512i hi, __m512 sv, __m512 zv) {
        __m512i L = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_loadu_si512(r->ev + 64 * c));
        L = _mm512_dpbusd_epi32(L, hi, _mm512_loadu_si512(r->od + 64 * c));
        __m512 x = _mm512_fnmadd_ps(zv, _mm512_loadu_ps(r->Ad + 16 * c), _mm512_mul_ps(_mm512_cvtepi32_ps(L), _mm512_loadu_ps(r->dA + 16 * c)));
        return _mm512_fmadd_ps(x, sv, acc);
    }
    )
    "#endif\n"
    MLCC_SRC(
    /* Column `row` (its packed words and (scale, zero) pairs) times the nr <= 4 prepared rows
     * r[0..nr) into t[0..nr): per word i the exact integer sum L of code * int8, then
     * (L dA - z Ad) s summed in float32 over 16 lanes (lane i: word i of each chunk), the lanes
     * added at the end. Each row's operations are the same whatever nr is. */
    static void mlcc_awq_dot_i8(const uint32_t *row, const _Float16 *S, int G, int64_t K, int64_t nch, const mlcc_awq_row *r,
                                int nr, const int32_t *gidx, float *t) {
        int64_t words = (K + 7) / 8, ng = (K + G - 1) / G;
    )
    "#if MLCC_AWQ_VNNI\n"
    MLCC_SRC(
        const __m512i nib = _mm512_set1_epi8(0x0F), gi = _mm512_loadu_si512(gidx);
        const uint32_t *pairs = (const uint32_t *)S;
        /* four accumulators in registers (an indexed array of them went through memory, a
         * store-to-load chain per chunk); rows past nr repeat the last one, their sums dropped */
        const mlcc_awq_row *r0 = &r[0], *r1 = &r[nr > 1 ? 1 : 0], *r2 = &r[nr > 2 ? 2 : 0], *r3 = &r[nr > 3 ? 3 : 0];
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (int64_t c = 0; c < nch; c++) {
            int64_t wv = words - 16 * c, g0 = c * 128 / G, gn = ng - g0 < 128 / G ? ng - g0 : 128 / G;
            /* the weights stream from memory in decode: fetch 2 KB ahead (the next columns' rows
             * follow this one) */
            _mm_prefetch((const char *)(row + 16 * c) + 2048, _MM_HINT_T0);
            __m512i w = _mm512_maskz_loadu_epi32(wv >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << wv) - 1), row + 16 * c);
            __m512i lo = _mm512_and_si512(w, nib), hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), nib);
            __m512 sv, zv;
            if (G == 128) { /* one group per chunk: two broadcasts (the shuffle port is the bottleneck) */
                sv = _mm512_set1_ps((float)S[2 * g0]), zv = _mm512_set1_ps((float)S[2 * g0 + 1]);
            } else {
                __m512i sz = _mm512_permutexvar_epi32(gi, _mm512_maskz_loadu_epi32((__mmask16)((1u << gn) - 1), pairs + g0));
                sv = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(sz)), zv = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(sz, 16)));
            }
            a0 = mlcc_awq_row_step(a0, r0, c, lo, hi, sv, zv);
            if (nr > 1) {
                a1 = mlcc_awq_row_step(a1, r1, c, lo, hi, sv, zv);
                a2 = mlcc_awq_row_step(a2, r2, c, lo, hi, sv, zv);
                a3 = mlcc_awq_row_step(a3, r3, c, lo, hi, sv, zv);
            }
        }
        float v[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1), _mm512_reduce_add_ps(a2), _mm512_reduce_add_ps(a3)};
        for (int j = 0; j < nr; j++) t[j] = v[j];
    )
    "#else\n"
    MLCC_SRC(
        (void)gidx;
        for (int j = 0; j < nr; j++) {
            float lanes[16] = {0};
            for (int64_t c = 0; c < nch; c++)
                for (int i = 0; i < 16; i++) {
                    int64_t word = 16 * c + i, g = (c * 128 + 8 * i) / G;
                    if (word >= words || g >= ng) continue;
                    int32_t L = 0;
                    for (int k = 0; k < 8; k++) L += (int32_t)((row[word] >> (4 * k)) & 15u) * r[j].q8[c * 128 + 8 * i + k];
                    float x = (float)L * r[j].dA[c * 16 + i] - (float)S[2 * g + 1] * r[j].Ad[c * 16 + i];
                    lanes[i] += x * (float)S[2 * g];
                }
            float total = 0.0f;
            for (int i = 0; i < 16; i++) total += lanes[i];
            t[j] = total;
        }
    )
    "#endif\n"
    MLCC_SRC(
    }
    static void mlcc_awq_gemm_i8(float *C, const float *A, const uint32_t *QW, const _Float16 *S, int G, int64_t M, int64_t N,
                                 int64_t K, int64_t ldc, int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        int64_t nch = (K + 127) / 128;
        int32_t gidx[16];
        for (int i = 0; i < 16; i++) gidx[i] = 8 * i / G;
        int8_t *buf = (int8_t *)malloc((size_t)(M * nch * 256));
        float *fb = (float *)malloc(sizeof(float) * (size_t)(M * nch * 36));
        mlcc_awq_row *rows = (mlcc_awq_row *)malloc(sizeof(mlcc_awq_row) * (size_t)M);
        if (!buf || !fb || !rows) abort();
        for (int64_t m = 0; m < M; m++) {
            mlcc_awq_row *r = &rows[m];
            r->q8 = buf + m * nch * 256, r->ev = r->q8 + nch * 128, r->od = r->ev + nch * 64;
            r->d = fb + m * nch * 36, r->dA = r->d + nch * 4, r->Ad = r->dA + nch * 16;
            mlcc_awq_prepare(A + m * lda, K, nch, r);
        }
        /* rows outer: a block of 4 prepared rows (6 KB per 1024 values) stays in L1 while the
         * columns' packed weights stream past it */
        for (int64_t m = 0; m < M; m += 4)
            for (int64_t n = 0; n < N; n++) {
                int nr = M - m < 4 ? (int)(M - m) : 4;
                float t[4];
                mlcc_awq_dot_i8(QW + n * ldq, S + n * lds, G, K, nch, &rows[m], nr, gidx, t);
                for (int j = 0; j < nr; j++) {
                    float *o = C + (m + j) * ldc + n;
                    *o = acc ? *o + t[j] : t[j];
                }
            }
        free(rows);
        free(fb);
        free(buf);
    }
    )
    "#endif\n";

/* One instance: MLCC_AWQ_NAME with groups of MLCC_AWQ_G. */
static const char awq_instance[] = MLCC_SRC(
    static void MLCC_AWQ_NAME(float *C, const float *A, const void *QW, const void *S, int64_t M, int64_t N, int64_t K,
                              int64_t ldc, int64_t lda, int64_t ldq, int64_t lds, int64_t acc) {
        MLCC_AWQ_BODY(C, A, (const uint32_t *)QW, (const _Float16 *)S, MLCC_AWQ_G, M, N, K, ldc, lda, ldq, lds, acc);
    }
);

static const int group_sizes[] = {128, 64, 32};
enum { NGROUPS = sizeof group_sizes / sizeof group_sizes[0], NINTRINS = 2 * NGROUPS };

static char names[NINTRINS][64];
static char *sources[NINTRINS];
static cpu_intrin intrins[NINTRINS];
static const cpu_intrin *list[NINTRINS + 1];

/* Instance i: groups of group_sizes[i / 2], int8 activations when i is odd. */
static void fill(void) {
    for (int i = 0; i < NINTRINS; i++) {
        int g = group_sizes[i / 2], i8 = i % 2;
        snprintf(names[i], sizeof names[i], "mlcc_k_gemm_nt_q4awq_g%d_f16_%s", g, i8 ? "a8" : "a32");
        size_t n = sizeof awq_common + sizeof awq_instance + 256;
        char *s = malloc(n);
        if (!s) abort();
        int len = snprintf(s, n, "%s#define MLCC_AWQ_NAME %s\n#define MLCC_AWQ_G %d\n#define MLCC_AWQ_BODY %s\n%s"
                           "#undef MLCC_AWQ_NAME\n#undef MLCC_AWQ_G\n#undef MLCC_AWQ_BODY\n",
                           awq_common, names[i], g, i8 ? "mlcc_awq_gemm_i8" : "mlcc_awq_gemm", awq_instance);
        if (len < 0 || (size_t)len >= n) abort();
        sources[i] = s;
        intrins[i] = (cpu_intrin){names[i], CPU_INTRIN_GEMM_NT_Q, {DT_FLOAT, 32, 1}, {DT_UINT, 32, 1}, {DT_FLOAT, 32, 1}, s, 4, 0,
                                  {DT_FLOAT, 16, 1}, i8, g, 1};
        list[i] = &intrins[i];
    }
    list[NINTRINS] = NULL;
}

const cpu_intrin *const *cpu_intrin_awq_list(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fill);
    return list;
}
