/* intrin_check.h - what test_cpu_intrin (x86 variants, native) and test_cpu_intrin_neon (ARM,
 * under qemu) share: one C program made of the registry's intrinsic sources, a GEMM_NT checker
 * (`static int check(int wt, int64_t M, int64_t N, int64_t K, int acc)`: 0 when right, weights
 * 0 f32, 1 f16, 2 bf16; `rnd()`, a float in [-1, 1], from the xorshift state `rng`; `printed`,
 * the failures reported so far, at most 20 printed) and the caller's driver with main(). */
#ifndef MLCC_TEST_INTRIN_CHECK_H
#define MLCC_TEST_INTRIN_CHECK_H

#include "support/strbuf.h"

/* The whole program's source (malloc'ed): intrinsics, checker, then driver_main. */
char *test_intrin_program(const char *driver_main);

#endif
