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
 * and multiplied into up to MLCC_QK_MR rows of A at a time. A row's sum over a block is four
 * FMA chains of four vectors, added pairwise, then into the row's running vector once per
 * block; the 16 lanes are summed at the end. That order does not depend on M or on which rows
 * share a decode, so a row's result is the same in decode and prefill. K must be a multiple of
 * 256 (the schemes only hold whole super-blocks).
 *
 * AVX-512 F/BW/VL decodes with byte masks and shifts (Q6_K assembles its 6-bit codes from the
 * ql nibbles and qh bit pairs 32 at a time); elsewhere a plain C decoder fills the buffer and
 * the dot products run on 16-float lanes emulated by plain loops (AVX2 gets them vectorized by
 * the compiler where it can; correct everywhere, fast only with AVX-512). */
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
    "#ifndef MLCC_QK_MR\n#define MLCC_QK_MR 6\n#endif\n"
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

typedef struct qk_variant {
    int bits, ggml_type, words, scales;
} qk_variant;

static const qk_variant variants[] = {
    {4, 12, 35, 2}, /* ggml_q4_k */
    {6, 14, 52, 1}, /* ggml_q6_k */
};
enum { NVARIANTS = sizeof variants / sizeof variants[0] };

static char names[NVARIANTS][64];
static char *sources[NVARIANTS];
static cpu_intrin intrins[NVARIANTS];
static const cpu_intrin *list[NVARIANTS + 1];

static void fill(void) {
    for (int i = 0; i < NVARIANTS; i++) {
        const qk_variant *v = &variants[i];
        snprintf(names[i], sizeof names[i], "mlcc_k_gemm_nt_q%d_k_a32", v->bits);
        size_t n = sizeof qk_common + sizeof qk_template + 512;
        char *s = malloc(n);
        if (!s) abort();
        snprintf(s, n, "%s#define MLCC_QKN %s\n#define MLCC_QKT %d\n#define MLCC_QKW %d\n#define MLCC_QKS %d\n%s"
                 "#undef MLCC_QKN\n#undef MLCC_QKT\n#undef MLCC_QKW\n#undef MLCC_QKS\n",
                 qk_common, names[i], v->bits, v->words, v->scales, qk_template);
        sources[i] = s;
        intrins[i] = (cpu_intrin){names[i], CPU_INTRIN_GEMM_NT_QK, {DT_FLOAT, 32, 1}, {DT_UINT, 32, 1},
                                  {DT_FLOAT, 32, 1}, s, v->bits, v->ggml_type, {DT_FLOAT, 16, 1}, 0};
        list[i] = &intrins[i];
    }
    list[NVARIANTS] = NULL;
}

const cpu_intrin *const *cpu_intrin_kquant_list(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fill);
    return list;
}
