/* test_cpu_intrin.c - every variant of the CPU tensor intrinsics against a float64 reference:
 * the registry's sources are compiled by the system compiler three times (plain x86-64: the
 * one-lane C variant; -mavx2 -mfma -mf16c: AVX2; -march=native: AVX-512 where the host has
 * it) with a driver that runs GEMM_NT on ragged shapes (rows 1..13, columns 1..70, reductions
 * 1..1100: every tile, vector and reduction-block tail), f32, f16 and bf16 weights, with and without
 * accumulate, and checks: the error against float64 loops, that each row computed alone is
 * bitwise the row of the whole call, and that no element outside the tile is written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/intrin.h"
#include "support/file.h"
#include "support/strbuf.h"
#include "native_build.h"
#include "test.h"

static const char driver[] =
    "#include <math.h>\n#include <stdio.h>\n#include <string.h>\n"
    "static unsigned long long rng = 88172645463325252ull;\n"
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
    "    if (bad) printf(\"FAIL %s M=%lld N=%lld K=%lld acc=%d: %s%s%s\\n\", wt == 1 ? \"f16\" : wt == 2 ? \"bf16\" : \"f32\", (long long)M, (long long)N, (long long)K, acc,\n"
    "                    bad & 1 ? \"wrote outside the tile \" : \"\", bad & 2 ? \"wrong values \" : \"\", bad & 4 ? \"a row alone differs\" : \"\");\n"
    "    free(A); free(B); free(H); free(Z); free(C); free(C0); free(R);\n"
    "    return bad != 0;\n"
    "}\n"
    "int main(void) {\n"
    "    static const int64_t ms[] = {1, 2, 3, 4, 5, 7, 13, 70}, ns[] = {1, 3, 4, 6, 7, 12, 16, 70}, ks[] = {1, 5, 16, 17, 511, 512, 513, 1100};\n"
    "    int fails = 0, runs = 0;\n"
    "    for (int a = 0; a < 8; a++) for (int b = 0; b < 8; b++) for (int c = 0; c < 8; c++) {\n"
    "        if (ms[a] * ns[b] * ks[c] > 200000) continue;\n"
    "        for (int wt = 0; wt < 3; wt++) { fails += check(wt, ms[a], ns[b], ks[c], (a + b + c) % 2); runs++; }\n"
    "    }\n"
    "    printf(\"isa %s: %d runs, %d failed\\n\", MLCC_ISA, runs, fails);\n"
    "    return fails != 0;\n"
    "}\n";

/* Compiles the intrinsics + driver with `flags` and runs it; its output into *out. */
static int build_and_run(const char *dir, const char *name, const char *flags, char **out) {
    mlcc_strbuf src = STRBUF_INIT;
    sb_append(&src, "#include <stdint.h>\n#include <stdlib.h>\n");
    sb_append(&src, cpu_intrin_common_source());
    const cpu_intrin *const *all = cpu_intrin_all();
    for (int i = 0; all[i]; i++) sb_append(&src, all[i]->source);
    sb_append(&src, driver);
    int rc = test_build_and_run(dir, name, sb_cstr(&src), flags, out);
    sb_free(&src);
    return rc;
}

int main(void) {
#if !defined(__x86_64__)
    TEST_SKIP("the ISA variants compared here are x86-64's");
#endif
    char dir[] = "/tmp/mlcc-intrin-XXXXXX";
    if (!mkdtemp(dir)) TEST_SKIP("cannot create a temporary folder");
    struct {
        const char *name, *flags, *isa, *needs;
    } variants[] = {
        {"plain", "", "isa scalar", NULL},
        {"avx2", "-mavx2 -mfma -mf16c", "isa avx2", "avx2"},
        {"native", "-march=native", NULL, NULL},
    };
    for (int v = 0; v < 3; v++) {
        if (variants[v].needs && !test_host_has_cpu_flag(variants[v].needs)) {
            printf("note: %s variant not run (the host has no %s)\n", variants[v].name, variants[v].needs);
            continue;
        }
        char *out = NULL;
        int rc = build_and_run(dir, variants[v].name, variants[v].flags, &out);
        CHECK_MSG(rc == 0, "%s variant: %s", variants[v].name, out ? out : "(no output)");
        if (variants[v].isa) CHECK_MSG(out && strstr(out, variants[v].isa), "%s variant: %s", variants[v].name, out ? out : "");
        if (out && rc == 0) printf("%s", out);
        free(out);
    }
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    return test_finish();
}
