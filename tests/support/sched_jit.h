/* sched_jit.h - numerical equality of a scheduled kernel with the unscheduled one, both
 * compiled through the C codegen and the JIT (the schedule tests' second check, after the
 * interpreter's). For the kernels of tir_kernels.h: float32 buffers whose shapes use one size
 * var n; every parameter but the last is an input. */
#ifndef MLCC_TEST_SCHED_JIT_H
#define MLCC_TEST_SCHED_JIT_H

#include <stdint.h>

#include "ir/tir.h"

/* Compiles ref and got, runs both at each n in sizes on the same random inputs (the output
 * starts filled with NaN, so elements left unwritten are noticed) and compares every parameter
 * buffer afterwards. 0 when equal within 1e-5 relative, else -1 with the first difference in
 * mlcc_last_error. */
int jit_compare(const mlcc_prim_func *ref, const mlcc_prim_func *got, const int64_t *sizes, int nsizes, uint64_t seed);
/* The same with relative tolerance rtol (0: bitwise equal, NaNs aside). */
int jit_compare_tol(const mlcc_prim_func *ref, const mlcc_prim_func *got, const int64_t *sizes, int nsizes,
                    uint64_t seed, double rtol);
/* jit_compare at n = 1, 5, 16, 33. */
int jit_compare_at_sizes(const mlcc_prim_func *ref, const mlcc_prim_func *got, uint64_t seed);

#endif
