/* gemm_nt.c - the GEMM_NT tensor intrinsics (see intrin.h): C[M, N] (= or +=) A[M, K] B[N, K]^T,
 * f32 activations and accumulation, f32, f16 or bf16 weights. bf16 weights are widened to f32
 * exactly (a 16-bit shift), so they compute what the f32 kernel computes on the same values;
 * AVX-512 BF16's dot instructions would round the activations to bf16 as well, which changes
 * results, and decode is bound by the weights' bytes, not by the widening.
 *
 * The implementation below is C source text (it is compiled into each model library, not into
 * mlcc). It is written once over a small vector vocabulary (mlcc_vf, mlcc_vld, mlcc_vfma, ...)
 * that the common source defines for AVX-512, for AVX2 + FMA + F16C, for aarch64 NEON (4 lanes),
 * and for plain C (one lane), and instantiated per weight type by macros.
 *
 * Every output element is one dot product computed the same way: vector lanes accumulate
 * A[m, k] * B[n, k] for k = lane (mod vector length) in order over the whole reduction (a
 * masked or zero-padded load ends it), then the lanes are summed by one fixed tree. Both
 * operands are contiguous in k, so nothing is packed. Tiles of MR rows x NR columns keep their
 * MR x NR accumulators in registers, so the MR + NR loads of a step feed MR x NR FMAs: 4 x 6
 * on the 32 registers of AVX-512 and NEON, 2 x 4 on AVX2's 16; one row (decode's GEMV) uses
 * 1 x 8, so eight weight rows stream at once (two vectors of each per step: whole cache lines of 16-bit
 * weights, prefetched 1 KiB ahead, and near the rows' end the start of the next eight rows,
 * which the hardware prefetcher would only pick up after their first misses). For two or more rows the reduction runs in blocks of
 * KC = 512 (a tile's operands then stay in L1 while the tile walks down the rows), the lane
 * sums carried from block to block in memory (stored and reloaded exactly), over MC x NC
 * (64 x 66) chunks of the output; 16-bit weights of a block are widened to float once per
 * column tile (exactly) rather than once per tile of rows, which took a third of the FMA ports. Since the tile shape or blocking only changes which
 * elements are computed together, never how, a row's result does not depend on how many rows
 * the call has: a prompt fed in chunks of any size, or token by token, gives bitwise the same
 * logits. Ragged edges use smaller tiles. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "kernels/cpu/intrin.h"

/* Stringifies code (the preprocessor keeps it on one line; directives go in separate strings). */
#define MLCC_SRC(...) #__VA_ARGS__ "\n"

static const char common_source[] =
    "#include <stdint.h>\n#include <string.h>\n"
    "#if defined(__x86_64__) || defined(__i386__)\n#include <immintrin.h>\n#endif\n"
    "#define MLCC_CAT_(a, b) a##b\n"
    "#define MLCC_CAT(a, b) MLCC_CAT_(a, b)\n"
    "#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)\n"
    "#define MLCC_ISA \"avx512\"\n#define MLCC_VL 16\n#define MLCC_DMR 4\n#define MLCC_DNR 6\n"
    MLCC_SRC(
    typedef __m512 mlcc_vf;
    static inline mlcc_vf mlcc_vzero(void) { return _mm512_setzero_ps(); }
    static inline mlcc_vf mlcc_vld(const float *p) { return _mm512_loadu_ps(p); }
    static inline mlcc_vf mlcc_vld_h(const _Float16 *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
    static inline mlcc_vf mlcc_vld_tail(const float *p, int r) { return _mm512_maskz_loadu_ps((__mmask16)((1u << r) - 1), p); }
    static inline mlcc_vf mlcc_vld_h_tail(const _Float16 *p, int r) {
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((__mmask16)((1u << r) - 1), p));
    }
    static inline mlcc_vf mlcc_vld_bf(const uint16_t *p) {
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
    }
    static inline mlcc_vf mlcc_vld_bf_tail(const uint16_t *p, int r) {
        __m256i h = _mm256_maskz_loadu_epi16((__mmask16)((1u << r) - 1), p);
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
    }
    static inline mlcc_vf mlcc_vfma(mlcc_vf a, mlcc_vf b, mlcc_vf c) { return _mm512_fmadd_ps(a, b, c); }
    static inline float mlcc_vsum(mlcc_vf v) { return _mm512_reduce_add_ps(v); }
    static inline void mlcc_vst(float *p, mlcc_vf v) { _mm512_storeu_ps(p, v); }
    )
    "#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)\n"
    "#define MLCC_ISA \"avx2\"\n#define MLCC_VL 8\n#define MLCC_DMR 2\n#define MLCC_DNR 4\n"
    MLCC_SRC(
    typedef __m256 mlcc_vf;
    static inline mlcc_vf mlcc_vzero(void) { return _mm256_setzero_ps(); }
    static inline mlcc_vf mlcc_vld(const float *p) { return _mm256_loadu_ps(p); }
    static inline mlcc_vf mlcc_vld_h(const _Float16 *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
    static inline mlcc_vf mlcc_vld_tail(const float *p, int r) {
        float t[8] = {0};
        for (int i = 0; i < r; i++) t[i] = p[i];
        return _mm256_loadu_ps(t);
    }
    static inline mlcc_vf mlcc_vld_h_tail(const _Float16 *p, int r) {
        _Float16 t[8] = {0};
        for (int i = 0; i < r; i++) t[i] = p[i];
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)t));
    }
    static inline mlcc_vf mlcc_vld_bf(const uint16_t *p) {
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
    }
    static inline mlcc_vf mlcc_vld_bf_tail(const uint16_t *p, int r) {
        uint16_t t[8] = {0};
        for (int i = 0; i < r; i++) t[i] = p[i];
        return mlcc_vld_bf(t);
    }
    static inline mlcc_vf mlcc_vfma(mlcc_vf a, mlcc_vf b, mlcc_vf c) { return _mm256_fmadd_ps(a, b, c); }
    static inline float mlcc_vsum(mlcc_vf v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    static inline void mlcc_vst(float *p, mlcc_vf v) { _mm256_storeu_ps(p, v); }
    )
    "#elif defined(__ARM_NEON) && defined(__aarch64__)\n"
    "#include <arm_neon.h>\n"
    "#define MLCC_ISA \"neon\"\n#define MLCC_VL 4\n#define MLCC_DMR 4\n#define MLCC_DNR 6\n"
    MLCC_SRC(
    typedef float32x4_t mlcc_vf;
    static inline mlcc_vf mlcc_vzero(void) { return vdupq_n_f32(0.0f); }
    static inline mlcc_vf mlcc_vld(const float *p) { return vld1q_f32(p); }
    static inline mlcc_vf mlcc_vld_h(const _Float16 *p) { return vcvt_f32_f16(vld1_f16((const float16_t *)p)); }
    static inline mlcc_vf mlcc_vld_tail(const float *p, int r) {
        float t[4] = {0};
        for (int i = 0; i < r; i++) t[i] = p[i];
        return vld1q_f32(t);
    }
    static inline mlcc_vf mlcc_vld_h_tail(const _Float16 *p, int r) {
        _Float16 t[4] = {0};
        for (int i = 0; i < r; i++) t[i] = p[i];
        return mlcc_vld_h(t);
    }
    static inline mlcc_vf mlcc_vld_bf(const uint16_t *p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }
    static inline mlcc_vf mlcc_vld_bf_tail(const uint16_t *p, int r) {
        uint16_t t[4] = {0};
        for (int i = 0; i < r; i++) t[i] = p[i];
        return mlcc_vld_bf(t);
    }
    static inline mlcc_vf mlcc_vfma(mlcc_vf a, mlcc_vf b, mlcc_vf c) { return vfmaq_f32(c, a, b); }
    static inline float mlcc_vsum(mlcc_vf v) { return vaddvq_f32(v); }
    static inline void mlcc_vst(float *p, mlcc_vf v) { vst1q_f32(p, v); }
    )
    "#else\n"
    "#define MLCC_ISA \"scalar\"\n#define MLCC_VL 1\n#define MLCC_DMR 4\n#define MLCC_DNR 4\n"
    MLCC_SRC(
    typedef float mlcc_vf;
    static inline mlcc_vf mlcc_vzero(void) { return 0.0f; }
    static inline mlcc_vf mlcc_vld(const float *p) { return *p; }
    static inline mlcc_vf mlcc_vld_h(const _Float16 *p) { return (float)*p; }
    static inline mlcc_vf mlcc_vld_tail(const float *p, int r) { (void)r; return *p; }
    static inline mlcc_vf mlcc_vld_h_tail(const _Float16 *p, int r) { (void)r; return (float)*p; }
    static inline mlcc_vf mlcc_vld_bf(const uint16_t *p) {
        uint32_t u = (uint32_t)*p << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    static inline mlcc_vf mlcc_vld_bf_tail(const uint16_t *p, int r) { (void)r; return mlcc_vld_bf(p); }
    static inline mlcc_vf mlcc_vfma(mlcc_vf a, mlcc_vf b, mlcc_vf c) { return a * b + c; }
    static inline float mlcc_vsum(mlcc_vf v) { return v; }
    static inline void mlcc_vst(float *p, mlcc_vf v) { *p = v; }
    )
    "#endif\n"
    "#define MLCC_KC 512\n#define MLCC_MC 64\n#define MLCC_NC 66\n#define MLCC_PART_STACK 8192\n"
    "const char *mlcc_kernels_isa = MLCC_ISA;\n";

/* The register tile, over MLCC_TILE (its name), MLCC_TBT (the weight element type), MLCC_TVLDB /
 * MLCC_TVLDB_TAIL (its vector loads): instantiated for the intrinsic's weight type and, for
 * 16-bit weights, once more for float weights (the converted blocks of a GEMM). */
static const char tile_template[] = MLCC_SRC(
static inline __attribute__((always_inline)) void MLCC_TILE(
    float *C, const float *A, const MLCC_TBT *B, int64_t kc, int64_t ldc, int64_t lda, int64_t ldb, int64_t acc,
    float *part, int64_t ldp, int first, int last, const int mr, const int nr) {
    mlcc_vf s[4][8];
    _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++)
        _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++)
            s[i][j] = first ? mlcc_vzero() : mlcc_vld(part + i * ldp + j * MLCC_VL);
    int64_t k = 0;
    if (mr == 1) {
        /* one row streams nr weight rows from memory: two vectors of each per step, so a step
         * reads whole 64-byte lines of 16-bit weights, and one prefetch per line, 1 KiB
         * ahead (each lane still accumulates its k in order: the same sums as below) */
        for (; k + 2 * MLCC_VL <= kc; k += 2 * MLCC_VL) {
            mlcc_vf b0[8], b1[8];
            /* near a row's end, fetch the start of the row nr further down instead (the next
             * group's): each row is its own stream, which the hardware prefetcher does not
             * start on its own before the first misses */
            const int64_t ahead = 1024 / sizeof(MLCC_TBT), next = k + ahead < kc ? k + ahead : nr * ldb + k + ahead - kc;
            _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) {
                const MLCC_TBT *row = B + j * ldb + k;
                __builtin_prefetch(B + j * ldb + next);
                if (2 * MLCC_VL * sizeof(MLCC_TBT) > 64) __builtin_prefetch(B + j * ldb + next + 64 / sizeof(MLCC_TBT));
                b0[j] = MLCC_TVLDB(row);
                b1[j] = MLCC_TVLDB(row + MLCC_VL);
            }
            mlcc_vf a0 = mlcc_vld(A + k), a1 = mlcc_vld(A + k + MLCC_VL);
            _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) s[0][j] = mlcc_vfma(a0, b0[j], s[0][j]);
            _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) s[0][j] = mlcc_vfma(a1, b1[j], s[0][j]);
        }
    }
    for (; k + MLCC_VL <= kc; k += MLCC_VL) {
        mlcc_vf b[8];
        _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) {
            /* one row streams 8 weight rows from memory: fetch 512 bytes ahead of each */
            if (mr == 1) __builtin_prefetch(B + j * ldb + k + 512 / sizeof(MLCC_TBT));
            b[j] = MLCC_TVLDB(B + j * ldb + k);
        }
        _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++) {
            mlcc_vf a = mlcc_vld(A + i * lda + k);
            _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) s[i][j] = mlcc_vfma(a, b[j], s[i][j]);
        }
    }
    if (k < kc) {
        int r = (int)(kc - k);
        mlcc_vf b[8];
        _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) b[j] = MLCC_TVLDB_TAIL(B + j * ldb + k, r);
        _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++) {
            mlcc_vf a = mlcc_vld_tail(A + i * lda + k, r);
            _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) s[i][j] = mlcc_vfma(a, b[j], s[i][j]);
        }
    }
    _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++)
        _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) {
            if (!last) {
                mlcc_vst(part + i * ldp + j * MLCC_VL, s[i][j]);
                continue;
            }
            float v = mlcc_vsum(s[i][j]);
            C[i * ldc + j] = acc ? C[i * ldc + j] + v : v;
        }
}
);

/* The GEMM_NT driver, over MLCC_GEMM_NAME (the function), MLCC_BT (the weight element type) and
 * the tiles MLCC_GEMM_NAME##_tile (weights as stored) and ##_ftile (float weights). */
static const char gemm_template[] = MLCC_SRC(
/* Columns [0, nr) of a block, rows [0, M), reduction [0, kc) (one KC block). 16-bit weights
 * are first widened into bw (nr rows of MLCC_KC floats, exact), so the rows of the block reuse
 * float weights from L1 instead of converting them again for every tile of rows. */
static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_GEMM_NAME, _cols)(
    float *C, const float *A, const MLCC_BT *B, int64_t M, int64_t kc, int64_t ldc, int64_t lda, int64_t ldb, int64_t acc,
    float *part, int64_t ldp, int first, int last, float *bw, const int nr) {
    int64_t m = 0;
    if (sizeof(MLCC_BT) == 2 && M > 1) {
        for (int j = 0; j < nr; j++) {
            int64_t k = 0;
            for (; k + MLCC_VL <= kc; k += MLCC_VL) mlcc_vst(bw + j * MLCC_KC + k, MLCC_VLDB(B + j * ldb + k));
            if (k < kc) mlcc_vst(bw + j * MLCC_KC + k, MLCC_VLDB_TAIL(B + j * ldb + k, (int)(kc - k)));
        }
        for (; m + MLCC_DMR <= M; m += MLCC_DMR)
            MLCC_CAT(MLCC_GEMM_NAME, _ftile)(C + m * ldc, A + m * lda, bw, kc, ldc, lda, MLCC_KC, acc, part + m * ldp, ldp,
                                             first, last, MLCC_DMR, nr);
        for (; m < M; m++)
            MLCC_CAT(MLCC_GEMM_NAME, _ftile)(C + m * ldc, A + m * lda, bw, kc, ldc, lda, MLCC_KC, acc, part + m * ldp, ldp,
                                             first, last, 1, nr);
        return;
    }
    for (; m + MLCC_DMR <= M; m += MLCC_DMR)
        MLCC_CAT(MLCC_GEMM_NAME, _tile)(C + m * ldc, A + m * lda, B, kc, ldc, lda, ldb, acc, part + m * ldp, ldp, first, last,
                                        MLCC_DMR, nr);
    for (; m < M; m++)
        MLCC_CAT(MLCC_GEMM_NAME, _tile)(C + m * ldc, A + m * lda, B, kc, ldc, lda, ldb, acc, part + m * ldp, ldp, first, last,
                                        1, nr);
}
/* Rows [0, M) x columns [0, N) (N <= MLCC_NC) over k in blocks of MLCC_KC, the lane sums
 * carried between blocks in part (M x N vectors). */
static void MLCC_CAT(MLCC_GEMM_NAME, _block)(float *C, const float *A, const MLCC_BT *B, int64_t M, int64_t N, int64_t K,
                                             int64_t ldc, int64_t lda, int64_t ldb, int64_t acc, float *part) {
    int64_t ldp = N * MLCC_VL;
    float bw[8 * MLCC_KC] __attribute__((aligned(64)));
    for (int64_t k0 = 0; k0 < K || k0 == 0; k0 += MLCC_KC) {
        int64_t kc = K - k0 < MLCC_KC ? K - k0 : MLCC_KC;
        int first = k0 == 0, last = k0 + kc >= K;
        int64_t n = 0;
        for (; n + MLCC_DNR <= N; n += MLCC_DNR)
            MLCC_CAT(MLCC_GEMM_NAME, _cols)(C + n, A + k0, B + n * ldb + k0, M, kc, ldc, lda, ldb, acc, part + n * MLCC_VL, ldp,
                                            first, last, bw, MLCC_DNR);
        for (; MLCC_DNR > 4 && n + 4 <= N; n += 4)
            MLCC_CAT(MLCC_GEMM_NAME, _cols)(C + n, A + k0, B + n * ldb + k0, M, kc, ldc, lda, ldb, acc, part + n * MLCC_VL, ldp,
                                            first, last, bw, 4);
        for (; n < N; n++)
            MLCC_CAT(MLCC_GEMM_NAME, _cols)(C + n, A + k0, B + n * ldb + k0, M, kc, ldc, lda, ldb, acc, part + n * MLCC_VL, ldp,
                                            first, last, bw, 1);
    }
}
static void MLCC_GEMM_NAME(float *C, const float *A, const void *Bv, int64_t M, int64_t N, int64_t K, int64_t ldc,
                           int64_t lda, int64_t ldb, int64_t acc) {
    const MLCC_BT *B = (const MLCC_BT *)Bv;
    if (M == 1) {
        int64_t n = 0;
        for (; n + 8 <= N; n += 8)
            MLCC_CAT(MLCC_GEMM_NAME, _tile)(C + n, A, B + n * ldb, K, ldc, lda, ldb, acc, 0, 0, 1, 1, 1, 8);
        for (; n + 4 <= N; n += 4)
            MLCC_CAT(MLCC_GEMM_NAME, _tile)(C + n, A, B + n * ldb, K, ldc, lda, ldb, acc, 0, 0, 1, 1, 1, 4);
        for (; n < N; n++) MLCC_CAT(MLCC_GEMM_NAME, _tile)(C + n, A, B + n * ldb, K, ldc, lda, ldb, acc, 0, 0, 1, 1, 1, 1);
        return;
    }
    /* the partial sums of one MC x NC chunk, no more than this call's rows and columns need: a
     * decode batch's few rows fit on the stack, so the thousands of calls of a step allocate
     * nothing (a large allocation per call is an mmap + munmap under some allocators) */
    int64_t mp = M < MLCC_MC ? M : MLCC_MC, np = N < MLCC_NC ? N : MLCC_NC;
    size_t part_bytes = (sizeof(float) * (size_t)(mp * np * MLCC_VL) + 63) / 64 * 64;
    float part_small[MLCC_PART_STACK] __attribute__((aligned(64)));
    float *part = part_bytes <= sizeof part_small ? part_small : (float *)aligned_alloc(64, part_bytes);
    for (int64_t m0 = 0; m0 < M; m0 += MLCC_MC)
        for (int64_t n0 = 0; n0 < N; n0 += MLCC_NC) {
            int64_t mc = M - m0 < MLCC_MC ? M - m0 : MLCC_MC, nc = N - n0 < MLCC_NC ? N - n0 : MLCC_NC;
            if (part)
                MLCC_CAT(MLCC_GEMM_NAME, _block)(C + m0 * ldc + n0, A + m0 * lda, B + n0 * ldb, mc, nc, K, ldc, lda, ldb, acc, part);
            else /* no memory for the partial sums: one block over the whole reduction (the same sums) */
                for (int64_t m = 0; m < mc; m++)
                    for (int64_t n = 0; n < nc; n++)
                        MLCC_CAT(MLCC_GEMM_NAME, _tile)(C + (m0 + m) * ldc + n0 + n, A + (m0 + m) * lda, B + (n0 + n) * ldb, K,
                                                        ldc, lda, ldb, acc, 0, 0, 1, 1, 1, 1);
        }
    if (part != part_small) free(part);
}
);

#define GEMM_INSTANCE(fn, bt, vldb, vldb_tail)                                                                 \
    "#define MLCC_GEMM_NAME " fn "\n#define MLCC_BT " bt "\n#define MLCC_VLDB " vldb "\n#define MLCC_VLDB_TAIL " \
    vldb_tail "\n"
#define TILE_INSTANCE(name, bt, vldb, vldb_tail)                                                               \
    "#define MLCC_TILE " name "\n#define MLCC_TBT " bt "\n#define MLCC_TVLDB " vldb "\n#define MLCC_TVLDB_TAIL " \
    vldb_tail "\n"
static const char tile_undef[] = "#undef MLCC_TILE\n#undef MLCC_TBT\n#undef MLCC_TVLDB\n#undef MLCC_TVLDB_TAIL\n";

enum { SOURCE_CAP = sizeof gemm_template + 2 * sizeof tile_template + 1024 };
static char gemm_f32_source[SOURCE_CAP];
static char gemm_f16_source[SOURCE_CAP];
static char gemm_bf16_source[SOURCE_CAP];
static const char undef_lines[] = "#undef MLCC_GEMM_NAME\n#undef MLCC_BT\n#undef MLCC_VLDB\n#undef MLCC_VLDB_TAIL\n";

static cpu_intrin gemm_f32 = {"mlcc_k_gemm_nt_f32", CPU_INTRIN_GEMM_NT, {DT_FLOAT, 32, 1}, {DT_FLOAT, 32, 1},
                              {DT_FLOAT, 32, 1}, gemm_f32_source, 0, 0, {0, 0, 0}, 0, 0, 0};
static cpu_intrin gemm_f16 = {"mlcc_k_gemm_nt_f32_f16", CPU_INTRIN_GEMM_NT, {DT_FLOAT, 32, 1}, {DT_FLOAT, 16, 1},
                              {DT_FLOAT, 32, 1}, gemm_f16_source, 0, 0, {0, 0, 0}, 0, 0, 0};
static cpu_intrin gemm_bf16 = {"mlcc_k_gemm_nt_f32_bf16", CPU_INTRIN_GEMM_NT, {DT_FLOAT, 32, 1}, {DT_BFLOAT, 16, 1},
                               {DT_FLOAT, 32, 1}, gemm_bf16_source, 0, 0, {0, 0, 0}, 0, 0, 0};
static const cpu_intrin *all[64] = {&gemm_f32, &gemm_f16, &gemm_bf16, NULL};

/* One intrinsic's source: its two tiles, then the driver. */
static void fill_source(char *p, const char *fn, const char *bt, const char *vldb, const char *vldb_tail) {
    char def[512];
    snprintf(def, sizeof def, TILE_INSTANCE("%s_tile", "%s", "%s", "%s"), fn, bt, vldb, vldb_tail);
    p = stpcpy(stpcpy(stpcpy(p, def), tile_template), tile_undef);
    snprintf(def, sizeof def, TILE_INSTANCE("%s_ftile", "float", "mlcc_vld", "mlcc_vld_tail"), fn);
    p = stpcpy(stpcpy(stpcpy(p, def), tile_template), tile_undef);
    snprintf(def, sizeof def, GEMM_INSTANCE("%s", "%s", "%s", "%s"), fn, bt, vldb, vldb_tail);
    stpcpy(stpcpy(stpcpy(p, def), gemm_template), undef_lines);
}

static void fill_sources(void) {
    fill_source(gemm_f32_source, "mlcc_k_gemm_nt_f32", "float", "mlcc_vld", "mlcc_vld_tail");
    fill_source(gemm_f16_source, "mlcc_k_gemm_nt_f32_f16", "_Float16", "mlcc_vld_h", "mlcc_vld_h_tail");
    fill_source(gemm_bf16_source, "mlcc_k_gemm_nt_f32_bf16", "uint16_t", "mlcc_vld_bf", "mlcc_vld_bf_tail");
    /* the quantized-weight intrinsics (gemm_q.c) follow the float ones */
    const cpu_intrin *const *q = cpu_intrin_quant_list();
    int n = 3;
    for (int i = 0; q[i] && n < 63; i++) all[n++] = q[i];
    q = cpu_intrin_kquant_list(); /* then the k-quant ones (gemm_qk.c) */
    for (int i = 0; q[i] && n < 63; i++) all[n++] = q[i];
    all[n] = NULL;
}

/* Fills the instantiated sources, once per process. */
static void init_sources(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, fill_sources);
}

const cpu_intrin *const *cpu_intrin_all(void) {
    init_sources();
    return all;
}

const char *cpu_intrin_common_source(void) {
    return common_source;
}

const cpu_intrin *cpu_intrin_find(const char *name) {
    const cpu_intrin *const *list = cpu_intrin_all();
    for (int i = 0; name && list[i]; i++)
        if (!strcmp(list[i]->name, name)) return list[i];
    return name ? cpu_intrin_quant_companion(name, NULL) : NULL;
}

const cpu_intrin *cpu_intrin_gemm_nt(mlcc_dtype a, mlcc_dtype b, mlcc_dtype c) {
    const cpu_intrin *const *list = cpu_intrin_all();
    for (int i = 0; list[i]; i++)
        if (list[i]->kind == CPU_INTRIN_GEMM_NT && dtype_eq(list[i]->a, a) && dtype_eq(list[i]->b, b) &&
            dtype_eq(list[i]->c, c))
            return list[i];
    return NULL;
}
