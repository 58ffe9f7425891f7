/* test_cpu_intrin_neon.c - the ARM NEON variant of the CPU tensor intrinsics against a float64
 * reference, on an x86 host: the registry's sources plus a driver are cross-compiled with
 * `aarch64-linux-gnu-gcc -march=armv8.2-a+fp16+dotprod -static` (and once more for plain
 * armv8-a, NEON without dotprod) and run under qemu-aarch64 (correctness only: qemu says
 * nothing about speed). The driver runs GEMM_NT with f32, f16 and
 * bf16 weights on ragged shapes (rows 1, 3, 17; columns 1, 5, 33; reductions 1, 7, 64, 1000:
 * tile, vector and KC-block tails), with and without accumulate, and checks the error against
 * float64 loops, that each row computed alone is bitwise the row of the whole call, and that no
 * element outside the tile is written; the same for the 4-bit int8-activation GEMM_NT_Q
 * intrinsics (q4f16_1, q4f32_1, ggml_q4_0 layouts, whose block sums use dotprod's SDOT) against
 * float64 sums of the codes times the int8 activations the path defines (reductions 7 .. 2080:
 * partial blocks, rows ending inside a 16-byte block, two reduction blocks). It prints the ISA
 * the sources compiled for and whether SDOT is on, so the test fails if an #if branch silently
 * fell back to plain C. Skips without the cross compiler or qemu. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/cpu/intrin.h"
#include "support/file.h"
#include "support/strbuf.h"
#include "intrin_check.h"
#include "test.h"

/* after intrin_check.h's checker: the 4-bit int8-activation checks and main */
static const char driver[] =
    "/* int8-activation 4-bit weights: zero point zp, scales f16 (sf == 0) or f32 */\n"
    "typedef void qfn(float *, const float *, const void *, const void *, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t);\n"
    "static int check_q(const char *name, qfn *fn, int zp, int sf, int64_t M, int64_t N, int64_t K, int acc) {\n"
    "    int64_t ldc = N + 3, lda = K + 1, ldq = (K + 7) / 8 + 1, lds = (K + 31) / 32 + 1, Kp = (K + 31) / 32 * 32;\n"
    "    float *A = malloc(sizeof(float) * M * lda), *C = malloc(sizeof(float) * M * ldc), *C0 = malloc(sizeof(float) * M * ldc);\n"
    "    float *R = malloc(sizeof(float) * ldc), *d = malloc(sizeof(float) * Kp / 32), *Sf = malloc(sizeof(float) * N * lds);\n"
    "    uint32_t *QW = malloc(4 * N * ldq); _Float16 *Sh = malloc(sizeof(_Float16) * N * lds); int8_t *q = malloc(Kp);\n"
    "    for (int64_t i = 0; i < M * lda; i++) A[i] = rnd();\n"
    "    for (int64_t i = 0; i < N * ldq; i++) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; QW[i] = (uint32_t)(rng >> 17); }\n"
    "    for (int64_t i = 0; i < N * lds; i++) { Sh[i] = (_Float16)(0.01f + 0.005f * rnd()); Sf[i] = sf ? 0.01f + 0.005f * rnd() : (float)Sh[i]; }\n"
    "    for (int64_t i = 0; i < M * ldc; i++) C[i] = C0[i] = rnd();\n"
    "    const void *S = sf ? (const void *)Sf : (const void *)Sh;\n"
    "    fn(C, A, QW, S, M, N, K, ldc, lda, ldq, lds, acc);\n"
    "    int bad = 0;\n"
    "    for (int64_t m = 0; m < M; m++) {\n"
    "        mlcc_q_quantize_row(A + m * lda, K, Kp, q, d); /* the int8 path's definition of its inputs */\n"
    "        for (int64_t n = 0; n < ldc; n++) {\n"
    "            if (n >= N) { if (memcmp(&C[m * ldc + n], &C0[m * ldc + n], 4)) bad |= 1; continue; }\n"
    "            double r = acc ? C0[m * ldc + n] : 0, mag = fabs(r);\n"
    "            for (int64_t k = 0; k < K; k++) {\n"
    "                int code = (int)((QW[n * ldq + k / 8] >> (4 * (k % 8))) & 15);\n"
    "                double p = (double)(code - zp) * q[k] * d[k / 32] * Sf[n * lds + k / 32];\n"
    "                r += p; mag += fabs(p);\n"
    "            }\n"
    "            if (!(fabs(C[m * ldc + n] - r) <= 1e-5 * mag + 1e-30)) bad |= 2;\n"
    "        }\n"
    "        memcpy(R, C0 + m * ldc, sizeof(float) * ldc);\n"
    "        fn(R, A + m * lda, QW, S, 1, N, K, ldc, lda, ldq, lds, acc);\n"
    "        if (memcmp(R, C + m * ldc, sizeof(float) * N)) bad |= 4;\n"
    "    }\n"
    "    if (bad && printed++ < 20) printf(\"FAIL %s M=%lld N=%lld K=%lld acc=%d: %s%s%s\\n\", name, (long long)M, (long long)N, (long long)K, acc,\n"
    "                    bad & 1 ? \"wrote outside the tile \" : \"\", bad & 2 ? \"wrong values \" : \"\", bad & 4 ? \"a row alone differs\" : \"\");\n"
    "    free(A); free(C); free(C0); free(R); free(d); free(Sf); free(QW); free(Sh); free(q);\n"
    "    return bad != 0;\n"
    "}\n"
    "int main(void) {\n"
    "    static const int64_t ms[] = {1, 3, 17}, ns[] = {1, 5, 33}, ks[] = {1, 7, 64, 1000};\n"
    "    int fails = 0, runs = 0;\n"
    "    for (int a = 0; a < 3; a++) for (int b = 0; b < 3; b++) for (int c = 0; c < 4; c++) for (int acc = 0; acc < 2; acc++)\n"
    "        for (int wt = 0; wt < 3; wt++) { fails += check(wt, ms[a], ns[b], ks[c], acc); runs++; }\n"
    "    static const int64_t qks[] = {7, 32, 64, 1000, 2080}; /* 2080: past one reduction block of 1024 */\n"
    "    static const struct { const char *name; qfn *fn; int zp, sf; } qs[] = {\n"
    "        {\"q4z7_f16_a8\", mlcc_k_gemm_nt_q4z7_f16_a8, 7, 0}, {\"q4z7_f32_a8\", mlcc_k_gemm_nt_q4z7_f32_a8, 7, 1},\n"
    "        {\"q4z8_f16_a8\", mlcc_k_gemm_nt_q4z8_f16_a8, 8, 0}};\n"
    "    for (int a = 0; a < 3; a++) for (int b = 0; b < 3; b++) for (int c = 0; c < 5; c++) for (int acc = 0; acc < 2; acc++)\n"
    "        for (int v = 0; v < 3; v++) { fails += check_q(qs[v].name, qs[v].fn, qs[v].zp, qs[v].sf, ms[a], ns[b], qks[c], acc); runs++; }\n"
    "    printf(\"isa %s, int8 sdot %d: %d runs, %d failed\\n\", MLCC_ISA, MLCC_Q_SDOT, runs, fails);\n"
    "    return fails != 0;\n"
    "}\n";

/* Is `prog` an executable on PATH? */
static int on_path(const char *prog) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s > /dev/null 2>&1", prog);
    return system(cmd) == 0;
}

int main(void) {
    const char *cc = "aarch64-linux-gnu-gcc", *qemu = "qemu-aarch64";
    if (!on_path(cc)) TEST_SKIP("no aarch64-linux-gnu-gcc (Debian: gcc-aarch64-linux-gnu libc6-dev-arm64-cross)");
    if (!on_path(qemu)) TEST_SKIP("no qemu-aarch64 (Debian: qemu-user)");
    char dir[] = "/tmp/mlcc-intrin-neon-XXXXXX";
    if (!mkdtemp(dir)) TEST_SKIP("cannot create a temporary folder");

    char *program = test_intrin_program(driver);

    /* armv8.2-a + dotprod: NEON float kernels and SDOT block sums; plain armv8-a: NEON float
     * kernels, the int8 path's scalar block sums */
    static const struct {
        const char *name, *march, *expect;
    } variants[] = {
        {"dotprod", "armv8.2-a+fp16+dotprod", "isa neon, int8 sdot 1:"},
        {"neon", "armv8-a", "isa neon, int8 sdot 0:"},
    };
    char path[128], exe[128], log[128], cmd[1024];
    snprintf(path, sizeof path, "%s/neon.c", dir);
    CHECK(mlcc_write_file_atomic(path, program, strlen(program)) == 0);
    for (int v = 0; v < 2; v++) {
        snprintf(exe, sizeof exe, "%s/%s", dir, variants[v].name);
        snprintf(log, sizeof log, "%s/%s.log", dir, variants[v].name);
        snprintf(cmd, sizeof cmd, "%s -std=gnu11 -O2 -march=%s -static -o %s %s -lm > %s 2>&1 && %s %s >> %s 2>&1", cc,
                 variants[v].march, exe, path, log, qemu, exe, log);
        int rc = system(cmd);
        char *out = mlcc_read_file(log, NULL);
        CHECK_MSG(rc == 0, "%s variant (-march=%s): %s", variants[v].name, variants[v].march, out ? out : "(no output)");
        CHECK_MSG(out && strstr(out, variants[v].expect), "%s variant: expected \"%s\", got: %s", variants[v].name,
                  variants[v].expect, out ? out : "(no output)");
        if (out && rc == 0) printf("-march=%s: %s", variants[v].march, out);
        free(out);
    }
    free(program);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("note: could not remove %s\n", dir);
    return test_finish();
}
