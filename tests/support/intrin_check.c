/* intrin_check.c - the program that checks the CPU tensor intrinsics (intrin_check.h). */
#include "intrin_check.h"

#include "kernels/cpu/intrin.h"

/* rnd() and check(): GEMM_NT with f32 / f16 / bf16 weights against float64 loops, each row
 * alone against the whole call (bitwise), nothing written outside the tile; the first 20
 * failures are printed. */
static const char check_source[] =
    "#include <math.h>\n#include <stdio.h>\n#include <string.h>\n"
    "static unsigned long long rng = 88172645463325252ull;\n"
    "static int printed; /* failures reported (the first 20) */\n"
    "static float rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (float)((rng >> 40) % 2001) / 1000.0f - 1.0f; }\n"
    "/* weights: 0 f32, 1 f16, 2 bf16 (B holds the same values as float) */\n"
    "static void gemm(int wt, float *C, const float *A, const float *B, const _Float16 *H, const uint16_t *Z, int64_t M, int64_t N, int64_t K, int64_t ldc, int64_t lda, int64_t ldb, int acc) {\n"
    "    if (wt == 1) mlcc_k_gemm_nt_f32_f16(C, A, H, M, N, K, ldc, lda, ldb, acc);\n"
    "    else if (wt == 2) mlcc_k_gemm_nt_f32_bf16(C, A, Z, M, N, K, ldc, lda, ldb, acc);\n"
    "    else mlcc_k_gemm_nt_f32(C, A, B, M, N, K, ldc, lda, ldb, acc);\n"
    "}\n"
    "static int check(int wt, int64_t M, int64_t N, int64_t K, int acc) {\n"
    "    int64_t ldc = N + 3, lda = K + 1, ldb = K + 2; /* padded rows: only the tile may change */\n"
    "    float *A = malloc(sizeof(float) * M * lda), *B = malloc(sizeof(float) * N * ldb);\n"
    "    _Float16 *H = malloc(sizeof(_Float16) * N * ldb);\n"
    "    uint16_t *Z = malloc(sizeof(uint16_t) * N * ldb);\n"
    "    float *C = malloc(sizeof(float) * M * ldc), *C0 = malloc(sizeof(float) * M * ldc), *R = malloc(sizeof(float) * ldc);\n"
    "    for (int64_t i = 0; i < M * lda; i++) A[i] = rnd();\n"
    "    for (int64_t i = 0; i < N * ldb; i++) {\n"
    "        float f = rnd(); uint32_t u; memcpy(&u, &f, 4); Z[i] = (uint16_t)(u >> 16); u = (uint32_t)Z[i] << 16;\n"
    "        H[i] = (_Float16)f;\n"
    "        if (wt == 1) B[i] = (float)H[i]; else if (wt == 2) memcpy(&B[i], &u, 4); else B[i] = f;\n"
    "    }\n"
    "    for (int64_t i = 0; i < M * ldc; i++) C[i] = C0[i] = rnd();\n"
    "    gemm(wt, C, A, B, H, Z, M, N, K, ldc, lda, ldb, acc);\n"
    "    int bad = 0;\n"
    "    for (int64_t m = 0; m < M; m++) {\n"
    "        for (int64_t n = 0; n < ldc; n++) {\n"
    "            if (n >= N) { if (memcmp(&C[m * ldc + n], &C0[m * ldc + n], 4)) bad |= 1; continue; }\n"
    "            double r = acc ? C0[m * ldc + n] : 0, mag = fabs(r);\n"
    "            for (int64_t k = 0; k < K; k++) { double p = (double)A[m * lda + k] * B[n * ldb + k]; r += p; mag += fabs(p); }\n"
    "            if (!(fabs(C[m * ldc + n] - r) <= 1e-6 * mag + 1e-30)) bad |= 2;\n"
    "        }\n"
    "        memcpy(R, C0 + m * ldc, sizeof(float) * ldc);\n"
    "        gemm(wt, R, A + m * lda, B, H, Z, 1, N, K, ldc, lda, ldb, acc);\n"
    "        if (memcmp(R, C + m * ldc, sizeof(float) * N)) bad |= 4;\n"
    "    }\n"
    "    if (bad && printed++ < 20) printf(\"FAIL %s M=%lld N=%lld K=%lld acc=%d: %s%s%s\\n\", wt == 1 ? \"f16\" : wt == 2 ? \"bf16\" : \"f32\", (long long)M, (long long)N, (long long)K, acc,\n"
    "                    bad & 1 ? \"wrote outside the tile \" : \"\", bad & 2 ? \"wrong values \" : \"\", bad & 4 ? \"a row alone differs\" : \"\");\n"
    "    free(A); free(B); free(H); free(Z); free(C); free(C0); free(R);\n"
    "    return bad != 0;\n"
    "}\n";

char *test_intrin_program(const char *driver_main) {
    mlcc_strbuf src = STRBUF_INIT;
    sb_append(&src, "#include <stdint.h>\n#include <stdlib.h>\n");
    sb_append(&src, cpu_intrin_common_source());
    const cpu_intrin *const *all = cpu_intrin_all();
    for (int i = 0; all[i]; i++) sb_append(&src, all[i]->source);
    sb_append(&src, check_source);
    sb_append(&src, driver_main);
    return sb_detach(&src);
}
