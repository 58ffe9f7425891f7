/* test_cpu_intrin_qk.c - the k-quant GEMM_NT intrinsics (kernels/cpu/gemm_qk.c: Q4_K, Q5_K, Q6_K
 * super-blocks) against float64 loops over the values ggml's dequantizer gives
 * (loader/ggml_dequant.c, the independent reference). This process writes, per type, rows of
 * random ggml blocks (every byte random but the float16 d / dmin, kept finite and small), splits
 * them as the scheme keeps them (quant_repack_ggml) and dequantizes the original blocks to
 * float32 with ggml_dequantize_f32; a driver compiled from the registry's sources (plain
 * x86-64: the C version; -march=native: AVX-512 where the host has it; the native build again
 * under AddressSanitizer + UBSan) reads them and checks, over rows M in {1, 3, 17, 128, 300}
 * (the int8 prefill tile is 4 rows x 3 columns: ragged in both), columns N in {1, 5, 17, 33} and
 * reductions K in {256, 512, 1280} (Q4_K's int8 path pairs blocks: 1280 leaves one alone), with
 * and without accumulate, row strides longer than the rows (the padding is the next blocks: read
 * by nothing):
 *   - float path: |C - ref| <= 1e-5 * sum |products| (ref: float64 over the dequantized values;
 *     the kernel differs by float32 rounding: summation order and Q4_K's fused d sc q - dmin m);
 *   - int8 path: the same bound against the float64 sum over the int8 activations its quantizer
 *     (mlcc_qk_quantize_row: per 256-block, amax / 127) gives, and the rounding's own error
 *     against the float reference at most 2e-2 * sum |products|;
 *   - each row computed alone is bitwise the row of the whole call, and (int8 path) so is the
 *     prepared form: the rows prepared once (_prep_row), then _pre on two column ranges;
 *   - nothing outside the tile is written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/intrin.h"
#include "loader/ggml_dequant.h"
#include "loader/gguf.h"
#include "mlcc/mlcc_runtime.h"
#include "native_build.h"
#include "quant/scheme.h"
#include "support/file.h"
#include "support/strbuf.h"
#include "test.h"

enum { NMAX = 33, KMAX = 1280 };

static const char driver[] =
    "#include <math.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
    "typedef void (*qfn)(float *, const float *, const void *, const void *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);\n"
    "typedef int64_t (*qbytes)(int64_t, int64_t);\n"
    "typedef void (*qrow)(void *, const float *, int64_t, int64_t, int64_t, int64_t);\n"
    "typedef void (*qpre)(float *, const float *, const void *, const void *, const void *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);\n"
    "typedef struct { const char *name; qfn fn; int type, i8; qbytes bytes; qrow row; qpre pre; } qv;\n"
    "static unsigned long long rng = 88172645463325252ull;\n"
    "static double worst_i8 = 0;\n"
    "static float rnd(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (float)((rng >> 40) % 2001) / 1000.0f - 1.0f; }\n"
    "typedef struct { int64_t ldq, lds; uint32_t *Q; uint16_t *S; float *W; } qdata;\n"
    "static int load(int type, qdata *d) {\n"
    "    char path[512]; snprintf(path, sizeof path, \"%s/qk%d.bin\", DATA_DIR, type);\n"
    "    FILE *f = fopen(path, \"rb\"); if (!f) return -1;\n"
    "    int64_t h[2]; if (fread(h, sizeof h, 1, f) != 1) return -1;\n"
    "    d->ldq = h[0], d->lds = h[1];\n"
    "    d->Q = malloc(4 * NMAX * d->ldq); d->S = malloc(2 * NMAX * d->lds); d->W = malloc(4 * NMAX * KMAX);\n"
    "    int ok = fread(d->Q, 4, NMAX * d->ldq, f) == (size_t)(NMAX * d->ldq) && fread(d->S, 2, NMAX * d->lds, f) == (size_t)(NMAX * d->lds)\n"
    "             && fread(d->W, 4, NMAX * KMAX, f) == (size_t)(NMAX * KMAX);\n"
    "    fclose(f); return ok ? 0 : -1;\n"
    "}\n"
    "static int check(const qv *v, const qdata *d, int64_t M, int64_t N, int64_t K, int acc) {\n"
    "    int64_t ldc = N + 3, lda = K + 5;\n"
    "    float *A = malloc(sizeof(float) * M * lda), *C = malloc(sizeof(float) * M * ldc), *C0 = malloc(sizeof(float) * M * ldc);\n"
    "    float *R = malloc(sizeof(float) * ldc);\n"
    "    for (int64_t i = 0; i < M * lda; i++) A[i] = rnd();\n"
    "    for (int64_t i = 0; i < M * ldc; i++) C[i] = C0[i] = rnd();\n"
    "    v->fn(C, A, d->Q, d->S, M, N, K, ldc, lda, d->ldq, d->lds, acc);\n"
    "    int bad = 0; double worst = 0;\n"
    "    int8_t *qa = malloc(K); float *da = malloc(sizeof(float) * (K / 256)); int32_t *bs = malloc(sizeof(int32_t) * (K / 16));\n"
    "    for (int64_t m = 0; m < M; m++) {\n"
    "        if (v->i8) mlcc_qk_quantize_row(A + m * lda, K, qa, da, bs);\n"
    "        for (int64_t n = 0; n < ldc; n++) {\n"
    "            if (n >= N) { if (memcmp(&C[m * ldc + n], &C0[m * ldc + n], 4)) bad |= 1; continue; }\n"
    "            double r = acc ? C0[m * ldc + n] : 0, mag = fabs(r), ri = r;\n"
    "            for (int64_t k = 0; k < K; k++) {\n"
    "                double w = d->W[n * KMAX + k], p = (double)A[m * lda + k] * w; r += p; mag += fabs(p);\n"
    "                if (v->i8) ri += (double)qa[k] * da[k / 256] * w;\n"
    "            }\n"
    "            double e = fabs(C[m * ldc + n] - (v->i8 ? ri : r));\n"
    "            if (!(e <= 1e-5 * mag + 1e-30)) bad |= 2;\n"
    "            if (v->i8 && mag > 0) { double ef = fabs(C[m * ldc + n] - r) / mag; if (ef > worst_i8) worst_i8 = ef; if (ef > 2e-2) bad |= 8; }\n"
    "            if (mag > 0 && e / mag > worst) worst = e / mag;\n"
    "        }\n"
    "        if (v->i8 && m == 0 && N > 1) { /* rows prepared once, then column ranges (lower_quant_prep's form) */\n"
    "            void *P = malloc(v->bytes(M, K) + 1); float *D = malloc(sizeof(float) * M * ldc);\n"
    "            memcpy(D, C0, sizeof(float) * M * ldc);\n"
    "            for (int64_t i = 0; i < M; i++) v->row(P, A, M, K, lda, i);\n"
    "            int64_t h = N / 2;\n"
    "            v->pre(D, A, P, d->Q, d->S, M, h, K, ldc, lda, d->ldq, d->lds, acc);\n"
    "            v->pre(D + h, A, P, d->Q + h * d->ldq, d->S + h * d->lds, M, N - h, K, ldc, lda, d->ldq, d->lds, acc);\n"
    "            if (memcmp(D, C, sizeof(float) * M * ldc)) bad |= 16;\n"
    "            free(P); free(D);\n"
    "        }\n"
    "        memcpy(R, C0 + m * ldc, sizeof(float) * ldc);\n"
    "        v->fn(R, A + m * lda, d->Q, d->S, 1, N, K, ldc, lda, d->ldq, d->lds, acc);\n"
    "        if (memcmp(R, C + m * ldc, sizeof(float) * N)) bad |= 4;\n"
    "    }\n"
    "    static int printed;\n"
    "    if (bad && printed++ < 20) printf(\"FAIL %s M=%lld N=%lld K=%lld acc=%d: %s%s%s%s%s (worst %.2e)\\n\", v->name, (long long)M, (long long)N,\n"
    "                    (long long)K, acc, bad & 1 ? \"wrote outside the tile \" : \"\", bad & 2 ? \"wrong values \" : \"\",\n"
    "                    bad & 4 ? \"a row alone differs \" : \"\", bad & 8 ? \"int8 rounding error too large \" : \"\",\n"
    "                    bad & 16 ? \"prepared rows + column ranges differ\" : \"\", worst);\n"
    "    free(A); free(C); free(C0); free(R); free(qa); free(da); free(bs);\n"
    "    return bad != 0;\n"
    "}\n"
    "int main(void) {\n"
    "    static const int64_t ms[] = {1, 3, 17, 128, 300}, ns[] = {1, 5, 17, 33}, ks[] = {256, 512, 1280};\n"
    "    int fails = 0, runs = 0;\n"
    "    for (int i = 0; i < (int)(sizeof variants / sizeof variants[0]); i++) {\n"
    "        qdata d;\n"
    "        if (load(variants[i].type, &d)) { printf(\"cannot read the data of %s\\n\", variants[i].name); return 1; }\n"
    "        for (int a = 0; a < 5; a++) for (int b = 0; b < 4; b++) for (int c = 0; c < 3; c++) {\n"
    "            if (ms[a] >= 128 && (b + c + a) % 2) continue; /* the widest rows on half the grid */\n"
    "            fails += check(&variants[i], &d, ms[a], ns[b], ks[c], (a + b + c) % 2); runs++;\n"
    "        }\n"
    "        free(d.Q); free(d.S); free(d.W);\n"
    "    }\n"
    "    printf(\"avx512 %d vnni %d: %d runs, %d failed; int8 path worst error %.2e of sum |products|\\n\", MLCC_QK_AVX512, MLCC_QK_VNNI, runs, fails, worst_i8);\n"
    "    return fails != 0;\n"
    "}\n";

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd64(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

/* NMAX rows of KMAX / 256 random blocks of `type`: split into dir/qk<type>.bin with the
 * dequantized values. */
static int write_data(const char *dir, const char *scheme_name, uint32_t type) {
    const mlcc_quant_scheme *s = quant_scheme_find(scheme_name);
    CHECK(s != NULL && quant_is_kquant(s));
    if (!s) return -1;
    uint64_t block_bytes = 0, block_elems = 0;
    CHECK(mlcc_ggml_type_layout(type, &block_bytes, &block_elems) && block_elems == 256);
    int64_t nb = KMAX / 256, ldq = quant_packed_cols(s, KMAX), lds = quant_scale_cols(s, KMAX);
    size_t nbytes = (size_t)(NMAX * nb) * block_bytes;
    uint8_t *blocks = malloc(nbytes);
    for (size_t i = 0; i < nbytes; i++) blocks[i] = (uint8_t)(rnd64() >> 32);
    for (int64_t b = 0; b < NMAX * nb; b++) { /* finite, modest d (and dmin) */
        uint8_t *blk = blocks + (size_t)b * block_bytes;
        int nd = type == MLCC_GGML_Q6_K ? 1 : 2;
        uint8_t *d = type == MLCC_GGML_Q6_K ? blk + 208 : blk;
        for (int h = 0; h < nd; h++) {
            uint16_t v = mlcc_f32_to_f16((float)(rnd64() % 1000 + 1) * 1e-5f);
            d[2 * h] = (uint8_t)(v & 0xFF), d[2 * h + 1] = (uint8_t)(v >> 8);
        }
    }
    uint32_t *q = malloc(sizeof(uint32_t) * (size_t)(NMAX * ldq));
    uint16_t *sc = malloc(sizeof(uint16_t) * (size_t)(NMAX * lds));
    float *w = malloc(sizeof(float) * NMAX * KMAX);
    quant_repack_ggml(s, blocks, NMAX, KMAX, q, sc);
    int rc = ggml_dequantize_f32(type, blocks, nbytes, (uint64_t)NMAX * KMAX, w);
    CHECK_MSG(rc == 0, "dequantize: %s", mlcc_last_error());
    char path[512];
    snprintf(path, sizeof path, "%s/qk%u.bin", dir, type);
    FILE *f = fopen(path, "wb");
    int64_t h[2] = {ldq, lds};
    int ok = f && fwrite(h, sizeof h, 1, f) == 1 && fwrite(q, 4, (size_t)(NMAX * ldq), f) == (size_t)(NMAX * ldq) &&
             fwrite(sc, 2, (size_t)(NMAX * lds), f) == (size_t)(NMAX * lds) &&
             fwrite(w, 4, (size_t)NMAX * KMAX, f) == (size_t)NMAX * KMAX;
    if (f) fclose(f);
    CHECK_MSG(ok, "cannot write %s", path);
    free(blocks), free(q), free(sc), free(w);
    return ok && rc == 0 ? 0 : -1;
}

/* The program: the intrinsics' sources, the driver's types, the table of intrinsics, the driver. */
static char *program(const char *dir) {
    mlcc_strbuf src = STRBUF_INIT;
    sb_printf(&src, "#include <stdint.h>\n#include <stdlib.h>\n#define DATA_DIR \"%s\"\n#define NMAX %d\n#define KMAX %d\n", dir,
              NMAX, KMAX);
    sb_append(&src, cpu_intrin_common_source());
    const cpu_intrin *const *q = cpu_intrin_kquant_list();
    for (int i = 0; q[i]; i++) sb_append(&src, q[i]->source);
    mlcc_strbuf table = STRBUF_INIT;
    sb_append(&table, "static const qv variants[] = {\n");
    for (int i = 0; q[i]; i++)
        if (q[i]->int8_act)
            sb_printf(&table, "    {\"%s\", %s, %d, 1, %s_prep_bytes, %s_prep_row, %s_pre},\n", q[i]->name, q[i]->name,
                      q[i]->zero_point, q[i]->name, q[i]->name, q[i]->name);
        else
            sb_printf(&table, "    {\"%s\", %s, %d, 0, 0, 0, 0},\n", q[i]->name, q[i]->name, q[i]->zero_point);
    sb_append(&table, "};\n");
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
    char dir[] = "/tmp/mlcc-intrin-qk-XXXXXX";
    if (!mkdtemp(dir)) TEST_SKIP("cannot create a temporary folder");
    const cpu_intrin *const *q = cpu_intrin_kquant_list();
    int n = 0;
    for (; q[n]; n++) CHECK(q[n]->kind == CPU_INTRIN_GEMM_NT_QK && cpu_intrin_find(q[n]->name) == q[n]);
    CHECK_EQ_INT(n, 6);
    if (write_data(dir, "ggml_q4_k", MLCC_GGML_Q4_K) || write_data(dir, "ggml_q5_k", MLCC_GGML_Q5_K) ||
        write_data(dir, "ggml_q6_k", MLCC_GGML_Q6_K))
        return test_finish();
    static const test_variant variants[] = {
        {.name = "plain", .flags = "", .expect = "avx512 0"},
        {.name = "native", .flags = "-march=native", .also = {{"avx512bw", "avx512 1"}, {"avx512_vnni", "vnni 1"}}},
        {.name = "native-asan", .flags = "-march=native -fsanitize=address,undefined -fno-sanitize-recover=all"},
    };
    char *source = program(dir);
    test_run_variants(dir, source, variants, (int)(sizeof variants / sizeof variants[0]));
    free(source);
    test_remove_dir(dir);
    return test_finish();
}
