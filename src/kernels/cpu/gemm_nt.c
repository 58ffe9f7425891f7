/* gemm_nt.c - the GEMM_NT tensor intrinsics (see intrin.h): C[M, N] (= or +=) A[M, K] B[N, K]^T,
 * f32 activations and accumulation, f32 or f16 weights.
 *
 * The implementation below is C source text (it is compiled into each model library, not into
 * mlcc). It is written once over a small vector vocabulary (mlcc_vf, mlcc_vld, mlcc_vfma, ...)
 * that the common source defines for AVX-512, for AVX2 + FMA + F16C, and for plain C (one lane),
 * and instantiated per weight type by macros. Two kernels:
 *   - rows < 4 (decode's GEMV): dot products. A tile of MR x NR vector accumulators stays in
 *     registers over the whole reduction (both operands are contiguous in k, so nothing is
 *     packed), then each accumulator is summed across lanes: 1 x 8 for one row, so eight
 *     weight rows stream at once; MR x 4 otherwise (MR = 4 on AVX-512, 2 on AVX2).
 *   - rows >= 4 (prefill's GEMM): a panel of NR = 2 vectors of columns by KC = 256 reduction
 *     steps is packed k-major (float16 weights converted to float32 once per call), and a
 *     PMR x NR register-blocked micro-kernel (8 x 32 on AVX-512, 4 x 16 on AVX2) adds
 *     broadcast A elements times panel rows into C: no lane sums, 2 loads per 2 PMR FMAs.
 * Ragged edges (M, N not multiples of the block, K not a multiple of the vector length or
 * KC) run the same code with smaller blocks, zero-padded panels and masked (or zero-padded)
 * loads. */
#include <pthread.h>
#include <string.h>

#include "kernels/cpu/intrin.h"

/* Stringifies code (the preprocessor keeps it on one line; directives go in separate strings). */
#define MLCC_SRC(...) #__VA_ARGS__ "\n"

static const char common_source[] =
    "#include <immintrin.h>\n"
    "#define MLCC_CAT_(a, b) a##b\n"
    "#define MLCC_CAT(a, b) MLCC_CAT_(a, b)\n"
    "#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)\n"
    "#define MLCC_ISA \"avx512\"\n#define MLCC_VL 16\n#define MLCC_MR 4\n#define MLCC_PMR 8\n"
    MLCC_SRC(
    typedef __m512 mlcc_vf;
    static inline mlcc_vf mlcc_vzero(void) { return _mm512_setzero_ps(); }
    static inline mlcc_vf mlcc_vld(const float *p) { return _mm512_loadu_ps(p); }
    static inline mlcc_vf mlcc_vld_h(const _Float16 *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }
    static inline mlcc_vf mlcc_vld_tail(const float *p, int r) { return _mm512_maskz_loadu_ps((__mmask16)((1u << r) - 1), p); }
    static inline mlcc_vf mlcc_vld_h_tail(const _Float16 *p, int r) {
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16((__mmask16)((1u << r) - 1), p));
    }
    static inline mlcc_vf mlcc_vfma(mlcc_vf a, mlcc_vf b, mlcc_vf c) { return _mm512_fmadd_ps(a, b, c); }
    static inline float mlcc_vsum(mlcc_vf v) { return _mm512_reduce_add_ps(v); }
    static inline mlcc_vf mlcc_vbcast(float x) { return _mm512_set1_ps(x); }
    static inline void mlcc_vst(float *p, mlcc_vf v) { _mm512_storeu_ps(p, v); }
    static inline mlcc_vf mlcc_vadd(mlcc_vf a, mlcc_vf b) { return _mm512_add_ps(a, b); }
    )
    "#elif defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)\n"
    "#define MLCC_ISA \"avx2\"\n#define MLCC_VL 8\n#define MLCC_MR 2\n#define MLCC_PMR 4\n"
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
    static inline mlcc_vf mlcc_vfma(mlcc_vf a, mlcc_vf b, mlcc_vf c) { return _mm256_fmadd_ps(a, b, c); }
    static inline float mlcc_vsum(mlcc_vf v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        s = _mm_add_ss(s, _mm_movehdup_ps(s));
        return _mm_cvtss_f32(s);
    }
    static inline mlcc_vf mlcc_vbcast(float x) { return _mm256_set1_ps(x); }
    static inline void mlcc_vst(float *p, mlcc_vf v) { _mm256_storeu_ps(p, v); }
    static inline mlcc_vf mlcc_vadd(mlcc_vf a, mlcc_vf b) { return _mm256_add_ps(a, b); }
    )
    "#else\n"
    "#define MLCC_ISA \"scalar\"\n#define MLCC_VL 1\n#define MLCC_MR 4\n#define MLCC_PMR 4\n"
    MLCC_SRC(
    typedef float mlcc_vf;
    static inline mlcc_vf mlcc_vzero(void) { return 0.0f; }
    static inline mlcc_vf mlcc_vld(const float *p) { return *p; }
    static inline mlcc_vf mlcc_vld_h(const _Float16 *p) { return (float)*p; }
    static inline mlcc_vf mlcc_vld_tail(const float *p, int r) { (void)r; return *p; }
    static inline mlcc_vf mlcc_vld_h_tail(const _Float16 *p, int r) { (void)r; return (float)*p; }
    static inline mlcc_vf mlcc_vfma(mlcc_vf a, mlcc_vf b, mlcc_vf c) { return a * b + c; }
    static inline float mlcc_vsum(mlcc_vf v) { return v; }
    static inline mlcc_vf mlcc_vbcast(float x) { return x; }
    static inline void mlcc_vst(float *p, mlcc_vf v) { *p = v; }
    static inline mlcc_vf mlcc_vadd(mlcc_vf a, mlcc_vf b) { return a + b; }
    )
    "#endif\n"
    "#define MLCC_NR (2 * MLCC_VL)\n#define MLCC_KC 256\n"
    "const char *mlcc_kernels_isa = MLCC_ISA;\n";

/* The GEMM_NT body, over MLCC_GEMM_NAME (the function), MLCC_BT (the weight element type),
 * MLCC_VLDB / MLCC_VLDB_TAIL (its vector loads). */
static const char gemm_template[] = MLCC_SRC(
static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_GEMM_NAME, _tile)(
    float *C, const float *A, const MLCC_BT *B, int64_t K, int64_t ldc, int64_t lda, int64_t ldb, int64_t acc,
    const int mr, const int nr) {
    mlcc_vf s[4][8];
    _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++)
        _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) s[i][j] = mlcc_vzero();
    int64_t k = 0;
    for (; k + MLCC_VL <= K; k += MLCC_VL) {
        mlcc_vf b[8];
        _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) b[j] = MLCC_VLDB(B + j * ldb + k);
        _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++) {
            mlcc_vf a = mlcc_vld(A + i * lda + k);
            _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) s[i][j] = mlcc_vfma(a, b[j], s[i][j]);
        }
    }
    if (k < K) {
        int r = (int)(K - k);
        mlcc_vf b[8];
        _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) b[j] = MLCC_VLDB_TAIL(B + j * ldb + k, r);
        _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++) {
            mlcc_vf a = mlcc_vld_tail(A + i * lda + k, r);
            _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) s[i][j] = mlcc_vfma(a, b[j], s[i][j]);
        }
    }
    _Pragma("GCC unroll 4") for (int i = 0; i < mr; i++)
        _Pragma("GCC unroll 8") for (int j = 0; j < nr; j++) {
            float v = mlcc_vsum(s[i][j]);
            C[i * ldc + j] = acc ? C[i * ldc + j] + v : v;
        }
}
static inline __attribute__((always_inline)) void MLCC_CAT(MLCC_GEMM_NAME, _mk)(
    float *C, int64_t ldc, const float *A, int64_t lda, const float *Bp, int64_t kc, int64_t overwrite, const int mr,
    int nc) {
    mlcc_vf c0[MLCC_PMR], c1[MLCC_PMR];
    _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++) c0[i] = c1[i] = mlcc_vzero();
    for (int64_t k = 0; k < kc; k++) {
        mlcc_vf b0 = mlcc_vld(Bp + k * MLCC_NR), b1 = mlcc_vld(Bp + k * MLCC_NR + MLCC_VL);
        _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++) {
            mlcc_vf a = mlcc_vbcast(A[i * lda + k]);
            c0[i] = mlcc_vfma(a, b0, c0[i]);
            c1[i] = mlcc_vfma(a, b1, c1[i]);
        }
    }
    _Pragma("GCC unroll 8") for (int i = 0; i < mr; i++) {
        float *c = C + i * ldc;
        if (nc == MLCC_NR) {
            if (!overwrite) c0[i] = mlcc_vadd(c0[i], mlcc_vld(c)), c1[i] = mlcc_vadd(c1[i], mlcc_vld(c + MLCC_VL));
            mlcc_vst(c, c0[i]);
            mlcc_vst(c + MLCC_VL, c1[i]);
        } else {
            float t[MLCC_NR];
            mlcc_vst(t, c0[i]);
            mlcc_vst(t + MLCC_VL, c1[i]);
            for (int j = 0; j < nc; j++) c[j] = overwrite ? t[j] : c[j] + t[j];
        }
    }
}
static void MLCC_CAT(MLCC_GEMM_NAME, _packed)(float *C, const float *A, const MLCC_BT *B, int64_t M, int64_t N, int64_t K,
                                              int64_t ldc, int64_t lda, int64_t ldb, int64_t acc) {
    float Bp[MLCC_KC * MLCC_NR] __attribute__((aligned(64)));
    for (int64_t n0 = 0; n0 < N; n0 += MLCC_NR) {
        int nc = N - n0 < MLCC_NR ? (int)(N - n0) : MLCC_NR;
        for (int64_t k0 = 0; k0 < K; k0 += MLCC_KC) {
            int64_t kc = K - k0 < MLCC_KC ? K - k0 : MLCC_KC;
            for (int64_t k = 0; k < kc; k++)
                for (int j = 0; j < MLCC_NR; j++) Bp[k * MLCC_NR + j] = j < nc ? (float)B[(n0 + j) * ldb + k0 + k] : 0.0f;
            int64_t overwrite = k0 == 0 && !acc;
            int64_t m0 = 0;
            for (; m0 + MLCC_PMR <= M; m0 += MLCC_PMR)
                MLCC_CAT(MLCC_GEMM_NAME, _mk)(C + m0 * ldc + n0, ldc, A + m0 * lda + k0, lda, Bp, kc, overwrite, MLCC_PMR, nc);
            switch (M - m0) {
            case 7: if (MLCC_PMR > 7) MLCC_CAT(MLCC_GEMM_NAME, _mk)(C + m0 * ldc + n0, ldc, A + m0 * lda + k0, lda, Bp, kc, overwrite, 7, nc); break;
            case 6: if (MLCC_PMR > 6) MLCC_CAT(MLCC_GEMM_NAME, _mk)(C + m0 * ldc + n0, ldc, A + m0 * lda + k0, lda, Bp, kc, overwrite, 6, nc); break;
            case 5: if (MLCC_PMR > 5) MLCC_CAT(MLCC_GEMM_NAME, _mk)(C + m0 * ldc + n0, ldc, A + m0 * lda + k0, lda, Bp, kc, overwrite, 5, nc); break;
            case 4: if (MLCC_PMR > 4) MLCC_CAT(MLCC_GEMM_NAME, _mk)(C + m0 * ldc + n0, ldc, A + m0 * lda + k0, lda, Bp, kc, overwrite, 4, nc); break;
            case 3: if (MLCC_PMR > 3) MLCC_CAT(MLCC_GEMM_NAME, _mk)(C + m0 * ldc + n0, ldc, A + m0 * lda + k0, lda, Bp, kc, overwrite, 3, nc); break;
            case 2: if (MLCC_PMR > 2) MLCC_CAT(MLCC_GEMM_NAME, _mk)(C + m0 * ldc + n0, ldc, A + m0 * lda + k0, lda, Bp, kc, overwrite, 2, nc); break;
            case 1: if (MLCC_PMR > 1) MLCC_CAT(MLCC_GEMM_NAME, _mk)(C + m0 * ldc + n0, ldc, A + m0 * lda + k0, lda, Bp, kc, overwrite, 1, nc); break;
            default: break;
            }
        }
    }
}
static void MLCC_GEMM_NAME(float *C, const float *A, const void *Bv, int64_t M, int64_t N, int64_t K, int64_t ldc,
                           int64_t lda, int64_t ldb, int64_t acc) {
    const MLCC_BT *B = (const MLCC_BT *)Bv;
    int64_t n = 0;
    if (M >= 4) {
        MLCC_CAT(MLCC_GEMM_NAME, _packed)(C, A, B, M, N, K, ldc, lda, ldb, acc);
        return;
    }
    if (M == 1) {
        for (; n + 8 <= N; n += 8) MLCC_CAT(MLCC_GEMM_NAME, _tile)(C + n, A, B + n * ldb, K, ldc, lda, ldb, acc, 1, 8);
        for (; n + 4 <= N; n += 4) MLCC_CAT(MLCC_GEMM_NAME, _tile)(C + n, A, B + n * ldb, K, ldc, lda, ldb, acc, 1, 4);
        for (; n < N; n++) MLCC_CAT(MLCC_GEMM_NAME, _tile)(C + n, A, B + n * ldb, K, ldc, lda, ldb, acc, 1, 1);
        return;
    }
    for (; n + 4 <= N; n += 4) {
        int64_t m = 0;
        for (; m + MLCC_MR <= M; m += MLCC_MR)
            MLCC_CAT(MLCC_GEMM_NAME, _tile)(C + m * ldc + n, A + m * lda, B + n * ldb, K, ldc, lda, ldb, acc, MLCC_MR, 4);
        for (; m < M; m++)
            MLCC_CAT(MLCC_GEMM_NAME, _tile)(C + m * ldc + n, A + m * lda, B + n * ldb, K, ldc, lda, ldb, acc, 1, 4);
    }
    for (; n < N; n++) {
        int64_t m = 0;
        for (; m + MLCC_MR <= M; m += MLCC_MR)
            MLCC_CAT(MLCC_GEMM_NAME, _tile)(C + m * ldc + n, A + m * lda, B + n * ldb, K, ldc, lda, ldb, acc, MLCC_MR, 1);
        for (; m < M; m++)
            MLCC_CAT(MLCC_GEMM_NAME, _tile)(C + m * ldc + n, A + m * lda, B + n * ldb, K, ldc, lda, ldb, acc, 1, 1);
    }
}
);

#define GEMM_INSTANCE(fn, bt, vldb, vldb_tail)                                                                 \
    "#define MLCC_GEMM_NAME " fn "\n#define MLCC_BT " bt "\n#define MLCC_VLDB " vldb "\n#define MLCC_VLDB_TAIL " \
    vldb_tail "\n"

static char gemm_f32_source[sizeof gemm_template + 512];
static char gemm_f16_source[sizeof gemm_template + 512];
static const char undef_lines[] = "#undef MLCC_GEMM_NAME\n#undef MLCC_BT\n#undef MLCC_VLDB\n#undef MLCC_VLDB_TAIL\n";

static cpu_intrin gemm_f32 = {"mlcc_k_gemm_nt_f32", CPU_INTRIN_GEMM_NT, {DT_FLOAT, 32, 1}, {DT_FLOAT, 32, 1},
                              {DT_FLOAT, 32, 1}, gemm_f32_source};
static cpu_intrin gemm_f16 = {"mlcc_k_gemm_nt_f32_f16", CPU_INTRIN_GEMM_NT, {DT_FLOAT, 32, 1}, {DT_FLOAT, 16, 1},
                              {DT_FLOAT, 32, 1}, gemm_f16_source};
static const cpu_intrin *const all[] = {&gemm_f32, &gemm_f16, NULL};

static void fill_sources(void) {
    char *p = gemm_f32_source;
    p = stpcpy(p, GEMM_INSTANCE("mlcc_k_gemm_nt_f32", "float", "mlcc_vld", "mlcc_vld_tail"));
    p = stpcpy(p, gemm_template);
    stpcpy(p, undef_lines);
    p = gemm_f16_source;
    p = stpcpy(p, GEMM_INSTANCE("mlcc_k_gemm_nt_f32_f16", "_Float16", "mlcc_vld_h", "mlcc_vld_h_tail"));
    p = stpcpy(p, gemm_template);
    stpcpy(p, undef_lines);
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
    return NULL;
}

const cpu_intrin *cpu_intrin_gemm_nt(mlcc_dtype a, mlcc_dtype b, mlcc_dtype c) {
    const cpu_intrin *const *list = cpu_intrin_all();
    for (int i = 0; list[i]; i++)
        if (list[i]->kind == CPU_INTRIN_GEMM_NT && dtype_eq(list[i]->a, a) && dtype_eq(list[i]->b, b) &&
            dtype_eq(list[i]->c, c))
            return list[i];
    return NULL;
}
