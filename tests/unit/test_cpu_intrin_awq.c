/* test_cpu_intrin_awq.c - the per-group-zero-point GEMM_NT_Q intrinsics (kernels/cpu/gemm_awq.c,
 * q4f16_awq and its g64 / g32 variants, float and int8 activations) against float64 loops
 * written here: the registry's sources are compiled by the system compiler three times (plain
 * x86-64: the C version; -mavx2 -mfma -mf16c: AVX2 for the float path; -march=native: AVX-512
 * and VNNI where the host has them) with a driver that
 * packs random 4-bit codes, float16 scales and zero points 0..15 into the layout of
 * docs/quantization.md (codes 8 per uint32, value k at bits 4 (k % 8); S[n, 2 g] the scale and
 * S[n, 2 g + 1] the zero point of group g) and runs ragged shapes (rows 1..9, columns 1..17,
 * reductions 1..1100: partial groups, every vector and chunk tail), with and without
 * accumulate, padded strides holding garbage, and checks:
 *   - float path: |C - ref| <= 1e-6 * sum |products| (ref: float64 over (q - zero) * scale);
 *   - int8 path: the same against the float64 sum over the int8 activations its quantizer
 *     gives, relative to the sum of |activation| x 16 scale (it takes code x a and zero x a
 *     apart), and the rounding's own error against the float reference at most 2e-2 of
 *     sum |products| (9.3e-3 measured);
 *   - each row computed alone is bitwise the row of the whole call; nothing outside the tile
 *     is written;
 *   - the native build once more under AddressSanitizer + UBSan. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/intrin.h"
#include "native_build.h"
#include "support/strbuf.h"
#include "test.h"

static const char driver[] =
    "#include <math.h>\n#include <stdio.h>\n#include <string.h>\n"
    "typedef void (*qfn)(float *, const float *, const void *, const void *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);\n"
    "typedef struct { const char *name; qfn fn; int group, i8; } qv;\n"
    "static unsigned long long rng = 88172645463325252ull;\n"
    "static unsigned long long rnd64(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }\n"
    "static float rnd(void) { return (float)((rnd64() >> 40) % 2001) / 1000.0f - 1.0f; }\n"
    "static double worst_i8 = 0;\n"
    "static int check(const qv *v, int64_t M, int64_t N, int64_t K, int acc) {\n"
    "    int64_t G = v->group, ng = (K + G - 1) / G;\n"
    "    int64_t ldc = N + 3, lda = K + 1, ldq = (K + 7) / 8 + 2, lds = 2 * ng + 3;\n"
    "    float *A = malloc(sizeof(float) * M * lda), *W = malloc(sizeof(float) * N * (K + 1));\n"
    "    uint32_t *Q = malloc(4 * N * ldq);\n"
    "    _Float16 *S = malloc(2 * N * lds);\n"
    "    float *C = malloc(sizeof(float) * M * ldc), *C0 = malloc(sizeof(float) * M * ldc), *R = malloc(sizeof(float) * ldc);\n"
    "    int64_t Kp = (K + 127) / 128 * 128; int8_t *qa = malloc(Kp); float *da = malloc(sizeof(float) * (Kp / 32));\n"
    "    for (int64_t i = 0; i < M * lda; i++) A[i] = rnd();\n"
    "    for (int64_t i = 0; i < N * ldq; i++) Q[i] = (uint32_t)rnd64(); /* garbage in the padding */\n"
    "    for (int64_t i = 0; i < N * lds; i++) S[i] = (_Float16)(1000.0f * rnd());\n"
    "    for (int64_t n = 0; n < N; n++) {\n"
    "        for (int64_t g = 0; g < ng; g++) {\n"
    "            S[n * lds + 2 * g] = (_Float16)(0.01f + 0.02f * (rnd() + 1));\n"
    "            S[n * lds + 2 * g + 1] = (_Float16)(float)(rnd64() >> 60);\n"
    "        }\n"
    "        for (int64_t w = 0; w < (K + 7) / 8; w++) Q[n * ldq + w] = 0;\n"
    "        for (int64_t k = 0; k < K; k++) {\n"
    "            uint32_t c = (uint32_t)(rnd64() >> 50) & 15u;\n"
    "            Q[n * ldq + k / 8] |= c << (4 * (k % 8));\n"
    "            W[n * (K + 1) + k] = ((float)c - (float)S[n * lds + 2 * (k / G) + 1]) * (float)S[n * lds + 2 * (k / G)];\n"
    "        }\n"
    "    }\n"
    "    for (int64_t i = 0; i < M * ldc; i++) C[i] = C0[i] = rnd();\n"
    "    v->fn(C, A, Q, S, M, N, K, ldc, lda, ldq, lds, acc);\n"
    "    int bad = 0;\n"
    "    for (int64_t m = 0; m < M; m++) {\n"
    "        if (v->i8) mlcc_awq_quantize_row(A + m * lda, K, Kp, qa, da);\n"
    "        for (int64_t n = 0; n < ldc; n++) {\n"
    "            if (n >= N) { if (memcmp(&C[m * ldc + n], &C0[m * ldc + n], 4)) bad |= 1; continue; }\n"
    "            double r = acc ? C0[m * ldc + n] : 0, mag = fabs(r), ri = r, magi = fabs(r);\n"
    "            for (int64_t k = 0; k < K; k++) {\n"
    "                double w = W[n * (K + 1) + k], p = (double)A[m * lda + k] * w; r += p; mag += fabs(p);\n"
    "                if (v->i8) { double a8 = (double)qa[k] * da[k / 32]; ri += a8 * w; magi += fabs(a8) * 16.0 * (double)S[n * lds + 2 * (k / G)]; }\n"
    "            }\n"
    "            /* the int8 path works with code * a and zero * a apart: its rounding is relative to those terms */\n"
    "            if (!(fabs(C[m * ldc + n] - (v->i8 ? ri : r)) <= 1e-6 * (v->i8 ? magi : mag) + 1e-30)) bad |= 2;\n"
    "            if (v->i8 && mag > 0) { double e = fabs(C[m * ldc + n] - r) / mag; if (e > worst_i8) worst_i8 = e; if (e > 2e-2) bad |= 8; }\n"
    "        }\n"
    "        memcpy(R, C0 + m * ldc, sizeof(float) * ldc);\n"
    "        v->fn(R, A + m * lda, Q, S, 1, N, K, ldc, lda, ldq, lds, acc);\n"
    "        if (memcmp(R, C + m * ldc, sizeof(float) * N)) bad |= 4;\n"
    "    }\n"
    "    static int printed;\n"
    "    if (bad && printed++ < 20) printf(\"FAIL %s M=%lld N=%lld K=%lld acc=%d: %s%s%s%s\\n\", v->name, (long long)M, (long long)N, (long long)K, acc,\n"
    "                    bad & 1 ? \"wrote outside the tile \" : \"\", bad & 2 ? \"wrong values \" : \"\", bad & 4 ? \"a row alone differs \" : \"\",\n"
    "                    bad & 8 ? \"int8 rounding error too large\" : \"\");\n"
    "    free(A); free(W); free(Q); free(S); free(C); free(C0); free(R); free(qa); free(da);\n"
    "    return bad != 0;\n"
    "}\n"
    "int main(void) {\n"
    "    static const int64_t ms[] = {1, 2, 3, 4, 5, 9}, ns[] = {1, 3, 4, 7, 9, 17}, ks[] = {1, 7, 16, 31, 32, 100, 128, 129, 520, 1100};\n"
    "    int fails = 0, runs = 0;\n"
    "    for (int i = 0; i < (int)(sizeof variants / sizeof variants[0]); i++)\n"
    "        for (int a = 0; a < 6; a++) for (int b = 0; b < 6; b++) for (int c = 0; c < 10; c++) {\n"
    "            if ((a + b + c + i) % 2) continue; /* half of the grid per variant, different halves */\n"
    "            fails += check(&variants[i], ms[a], ns[b], ks[c], (a + b + c) % 3 == 0); runs++;\n"
    "        }\n"
    "    printf(\"isa %d vnni %d: %d runs, %d failed; int8 path worst error %.2e of sum |products|\\n\", MLCC_AWQ_ISA, MLCC_AWQ_VNNI, runs, fails, worst_i8);\n"
    "    return fails != 0;\n"
    "}\n";

/* The program: the intrinsics' sources, the driver's types, the table of intrinsics, the driver. */
static char *program(void) {
    mlcc_strbuf src = STRBUF_INIT, table = STRBUF_INIT;
    sb_append(&src, "#include <stdint.h>\n#include <stdlib.h>\n");
    sb_append(&src, cpu_intrin_common_source());
    const cpu_intrin *const *q = cpu_intrin_awq_list();
    sb_append(&table, "static const qv variants[] = {\n");
    int n = 0;
    for (int i = 0; q[i]; i++, n++) {
        sb_append(&src, q[i]->source);
        sb_printf(&table, "    {\"%s\", %s, %d, %d},\n", q[i]->name, q[i]->name, q[i]->group_size, q[i]->int8_act);
    }
    sb_append(&table, "};\n");
    CHECK_MSG(n == 6, "%d AWQ intrinsics (want groups of 128, 64, 32, each with float and int8 activations)", n);
    const char *split = strstr(driver, "static unsigned long long rng");
    sb_append_n(&src, driver, (size_t)(split - driver));
    sb_append(&src, table.data);
    sb_append(&src, split);
    sb_free(&table);
    return sb_detach(&src);
}

int main(void) {
#if !defined(__x86_64__)
    TEST_SKIP("the ISA variants compared here are x86-64's");
#endif
    char dir[] = "/tmp/mlcc-intrin-awq-XXXXXX";
    if (!mkdtemp(dir)) TEST_SKIP("cannot create a temporary folder");
    static const test_variant variants[] = {
        {.name = "plain", .flags = "", .expect = "isa 0 vnni 0:"},
        {.name = "avx2", .flags = "-mavx2 -mfma -mf16c", .needs = "avx2", .expect = "isa 1 vnni 0:"},
        {.name = "native", .flags = "-march=native", .needs = "avx512bw", .expect = "isa 2 vnni", .also = {{"avx512_vnni", "isa 2 vnni 1"}}},
        {.name = "native-asan", .flags = "-march=native -fsanitize=address,undefined -fno-sanitize-recover=all"},
    };
    char *source = program();
    test_run_variants(dir, source, variants, (int)(sizeof variants / sizeof variants[0]));
    free(source);
    test_remove_dir(dir);
    return test_finish();
}
