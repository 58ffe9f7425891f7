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
#include "intrin_check.h"
#include "native_build.h"
#include "test.h"

/* after intrin_check.h's checker: main */
static const char driver[] =
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

int main(void) {
#if !defined(__x86_64__)
    TEST_SKIP("the ISA variants compared here are x86-64's");
#endif
    char dir[] = "/tmp/mlcc-intrin-XXXXXX";
    if (!mkdtemp(dir)) TEST_SKIP("cannot create a temporary folder");
    static const test_variant variants[] = {
        {.name = "plain", .flags = "", .expect = "isa scalar"},
        {.name = "avx2", .flags = "-mavx2 -mfma -mf16c", .needs = "avx2", .expect = "isa avx2"},
        {.name = "native", .flags = "-march=native"},
    };
    char *program = test_intrin_program(driver);
    test_run_variants(dir, program, variants, 3);
    free(program);
    test_remove_dir(dir);
    return test_finish();
}
