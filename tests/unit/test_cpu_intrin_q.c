/* test_cpu_intrin_q.c - every quantized GEMM_NT intrinsic (kernels/cpu/gemm_q.c) against float64
 * loops written here: the registry's sources are compiled by the system compiler three times
 * (plain x86-64: the C version; -mavx2 -mfma -mf16c: AVX2 for the float path, C for int8;
 * -march=native: AVX-512 and VNNI where the host has them) with a driver that packs random codes into the layout of
 * docs/quantization.md and runs ragged shapes (rows 1..9, columns 1..17, reductions 1..1100:
 * every tile, block, chunk and reduction-block tail), with and without accumulate, padded
 * strides whose padding holds garbage (read by nothing), and checks:
 *   - float path: |C - ref| <= 1e-6 * sum |products| (ref: float64 over the dequantized values);
 *   - int8 path: the same bound against the float64 sum over the int8 activations its
 *     quantizer gives (the path is exact but for that rounding), and the rounding's own error
 *     against the float reference is at most 2e-2 * sum |products| (it is ~4e-3 measured);
 *   - each row computed alone is bitwise the row of the whole call, nothing outside the tile
 *     is written;
 *   - the native build once more under AddressSanitizer + UBSan (exact-size heap buffers for the
 *     last rows' padding aside, any read past a row's words or scales lands in garbage that the
 *     value checks catch). */
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
    "typedef void (*qfn)(float *, const float *, const void *, const void *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);\n"
    "typedef struct { const char *name; qfn fn; int bits, zp, f32s, i8; } qv;\n"
    "static unsigned long long rng = 88172645463325252ull;\n"
    "static unsigned long long rnd64(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }\n"
    "static float rnd(void) { return (float)((rnd64() >> 40) % 2001) / 1000.0f - 1.0f; }\n"
    "static double worst_i8 = 0;\n"
    "static int check(const qv *v, int64_t M, int64_t N, int64_t K, int acc) {\n"
    "    int per = 32 / v->bits;\n"
    "    int64_t ldc = N + 3, lda = K + 1, ldq = (K + per - 1) / per + 2, lds = (K + 31) / 32 + 1;\n"
    "    float *A = malloc(sizeof(float) * M * lda), *W = malloc(sizeof(float) * N * (K + 1));\n"
    "    uint32_t *Q = malloc(4 * N * ldq);\n"
    "    _Float16 *SH = malloc(2 * N * lds); float *SF = malloc(4 * N * lds);\n"
    "    float *C = malloc(sizeof(float) * M * ldc), *C0 = malloc(sizeof(float) * M * ldc), *R = malloc(sizeof(float) * ldc);\n"
    "    int8_t *qa = malloc(K + 64); float *da = malloc(sizeof(float) * (K / 32 + 2));\n"
    "    for (int64_t i = 0; i < M * lda; i++) A[i] = rnd();\n"
    "    for (int64_t i = 0; i < N * ldq; i++) Q[i] = (uint32_t)rnd64(); /* garbage in the padding */\n"
    "    for (int64_t i = 0; i < N * lds; i++) { SH[i] = (_Float16)(0.01f + 0.02f * (rnd() + 1)); SF[i] = v->f32s ? 0.01f + 0.02f * (rnd() + 1) : (float)SH[i]; }\n"
    "    for (int64_t n = 0; n < N; n++) {\n"
    "        for (int64_t w = 0; w < (K + per - 1) / per; w++) Q[n * ldq + w] = 0;\n"
    "        for (int64_t k = 0; k < K; k++) {\n"
    "            uint32_t c = (uint32_t)(rnd64() >> 50) & ((1u << v->bits) - 1);\n"
    "            if (v->bits == 4 && v->zp == 7 && c == 15) c = 14;\n"
    "            if (v->bits == 8 && v->zp == 127 && c == 255) c = 254;\n"
    "            Q[n * ldq + k / per] |= c << (v->bits * (k % per));\n"
    "            W[n * (K + 1) + k] = (float)((int)c - v->zp) * SF[n * lds + k / 32];\n"
    "        }\n"
    "    }\n"
    "    for (int64_t i = 0; i < M * ldc; i++) C[i] = C0[i] = rnd();\n"
    "    const void *S = v->f32s ? (const void *)SF : (const void *)SH;\n"
    "    v->fn(C, A, Q, S, M, N, K, ldc, lda, ldq, lds, acc);\n"
    "    int bad = 0;\n"
    "    for (int64_t m = 0; m < M; m++) {\n"
    "        int64_t Kp = (K + 31) / 32 * 32;\n"
    "        if (v->i8) mlcc_q_quantize_row(A + m * lda, K, Kp, qa, da);\n"
    "        for (int64_t n = 0; n < ldc; n++) {\n"
    "            if (n >= N) { if (memcmp(&C[m * ldc + n], &C0[m * ldc + n], 4)) bad |= 1; continue; }\n"
    "            double r = acc ? C0[m * ldc + n] : 0, mag = fabs(r), ri = r;\n"
    "            for (int64_t k = 0; k < K; k++) {\n"
    "                double w = W[n * (K + 1) + k], p = (double)A[m * lda + k] * w; r += p; mag += fabs(p);\n"
    "                if (v->i8) ri += (double)qa[k] * da[k / 32] * w;\n"
    "            }\n"
    "            double want = v->i8 ? ri : r;\n"
    "            if (!(fabs(C[m * ldc + n] - want) <= 1e-6 * mag + 1e-30)) bad |= 2;\n"
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
    "    free(A); free(W); free(Q); free(SH); free(SF); free(C); free(C0); free(R); free(qa); free(da);\n"
    "    return bad != 0;\n"
    "}\n"
    "int main(void) {\n"
    "    setenv(\"MLCC_QUANT_AMX\", \"1\", 1); /* the AMX prefill (opt-in) where the host has it */\n"
    "    static const int64_t ms[] = {1, 2, 3, 4, 5, 9}, ns[] = {1, 3, 7, 8, 9, 17}, ks[] = {1, 31, 32, 33, 100, 128, 129, 200, 1100};\n"
    "    int fails = 0, runs = 0;\n"
    "    for (int i = 0; i < (int)(sizeof variants / sizeof variants[0]); i++)\n"
    "        for (int a = 0; a < 6; a++) for (int b = 0; b < 6; b++) for (int c = 0; c < 9; c++) {\n"
    "            if ((a + b + c + i) % 3) continue; /* a third of the grid per variant, different thirds */\n"
    "            fails += check(&variants[i], ms[a], ns[b], ks[c], (a + b + c) % 2); runs++;\n"
    "        }\n"
    "    /* 16 rows or more: the 4-bit int8 path's AMX tiles where the host has them (ragged row and\n"
    "     * column tiles, a reduction past one MLCC_QKC8 block) */\n"
    "    static const int64_t big[][3] = {{16, 32, 512}, {17, 9, 1100}, {33, 40, 100}, {20, 33, 8200}};\n"
    "    for (int i = 0; i < (int)(sizeof variants / sizeof variants[0]); i++)\n"
    "        for (int c = 0; c < 4; c++) { fails += check(&variants[i], big[c][0], big[c][1], big[c][2], c % 2); runs++; }\n"
    "    printf(\"avx512 %d vnni %d avx2 %d amx %d: %d runs, %d failed; int8 path worst error %.2e of sum |products|\\n\", MLCC_Q_AVX512, MLCC_Q_VNNI, MLCC_Q_AVX2, MLCC_Q_AMX, runs, fails, worst_i8);\n"
    "    return fails != 0;\n"
    "}\n";

/* The program: the intrinsics' sources, the driver's types, the table of intrinsics, the driver. */
static char *program(void) {
    mlcc_strbuf src = STRBUF_INIT;
    sb_append(&src, "#include <stdint.h>\n#include <stdlib.h>\n");
    sb_append(&src, cpu_intrin_common_source());
    const cpu_intrin *const *q = cpu_intrin_quant_list();
    for (int i = 0; q[i]; i++)
        if (!q[i]->group_zero) sb_append(&src, q[i]->source);
    mlcc_strbuf table = STRBUF_INIT;
    sb_append(&table, "static const qv variants[] = {\n");
    for (int i = 0; q[i]; i++)
        if (!q[i]->group_zero) /* per-group zero points: test_cpu_intrin_awq.c */
            sb_printf(&table, "    {\"%s\", %s, %d, %d, %d, %d},\n", q[i]->name, q[i]->name, q[i]->bits, q[i]->zero_point,
                      q[i]->scale.bits == 32, q[i]->int8_act);
    sb_append(&table, "};\n");
    /* the driver's types come first, then the table */
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
    char dir[] = "/tmp/mlcc-intrin-q-XXXXXX";
    if (!mkdtemp(dir)) TEST_SKIP("cannot create a temporary folder");
    static const test_variant variants[] = {
        {.name = "plain", .flags = ""},
        {.name = "avx2", .flags = "-mavx2 -mfma -mf16c", .needs = "avx2", .expect = "avx512 0 vnni 0 avx2 1"},
        {.name = "native", .flags = "-march=native", .also = {{"avx512_vnni", "avx512 1 vnni 1"}}},
        /* the same under AddressSanitizer + UBSan: no read outside the weights, scales or rows */
        {.name = "native-asan", .flags = "-march=native -fsanitize=address,undefined -fno-sanitize-recover=all"},
    };
    char *source = program();
    test_run_variants(dir, source, variants, (int)(sizeof variants / sizeof variants[0]));
    free(source);
    test_remove_dir(dir);
    return test_finish();
}
