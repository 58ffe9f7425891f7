/* interp.h - a reference interpreter for TensorIR at block level.
 *
 * Runs a PrimFunc as written (no lowering) on host arrays, so that a scheduled kernel can be
 * checked against its unscheduled original: same inputs, same outputs. It is deliberately
 * simple and strict rather than fast:
 *   - floating-point buffers hold float64 arrays, integer/bool buffers int64 arrays; every float
 *     operation and store is rounded to its dtype's precision (float32 through (float), float16
 *     and bfloat16 by rounding the mantissa), so results match what compiled code computes;
 *   - size vars are bound from the shapes of the arrays given for buffer parameters;
 *   - a BlockRealize is skipped where its predicate is false; its iter values must lie in their
 *     domains (an error otherwise: a schedule produced an out-of-domain binding); the block's
 *     `init` runs when every reduce iter value equals its domain min, as TVM's lowering does;
 *   - loads and stores are bounds-checked (an error naming the buffer and index, never a
 *     crash); intermediate buffers start filled with NaN (floats) or a poison integer so that
 *     reading an element nobody wrote shows up in the results;
 *   - loops of every kind (parallel, vectorized, unrolled, thread-bound) run serially, in
 *     order or (an option) parallel ones in reverse; vector expressions (lanes > 1) are
 *     rejected, they exist only after lowering.
 * Errors are reported through mlcc_set_error with an "interp: " prefix. */
#ifndef MLCC_IR_INTERP_H
#define MLCC_IR_INTERP_H

#include <stdint.h>

#include "ir/tir.h"

/* One argument per PrimFunc parameter, in order. A buffer parameter gives its array (f64 for
 * float dtypes, i64 for integer and bool dtypes; row-major, dense) and its shape; a scalar
 * parameter gives its value in f (float vars) or i (integer vars). */
typedef struct tir_interp_arg {
    double *f64;
    int64_t *i64;
    const int64_t *shape;
    int ndim;
    double f;
    int64_t i;
} tir_interp_arg;

/* Runs f; 0 on success, -1 with an error. */
int tir_interp_run(const mlcc_prim_func *f, const tir_interp_arg *args, int nargs);

typedef struct tir_interp_opts {
    /* Run parallel, vectorized and thread-bound loops last iteration first. Iterations of a
     * legally parallel loop are independent, so this changes nothing; a loop that wrongly
     * runs a reduction in parallel shows up (its init then runs after the updates). */
    int reverse_parallel;
    /* Stop with an error after this many loop iterations in all (0: no limit), for callers
     * that run untrusted schedules. */
    int64_t max_iterations;
} tir_interp_opts;

int tir_interp_run_opts(const mlcc_prim_func *f, const tir_interp_arg *args, int nargs,
                        const tir_interp_opts *opts);

/* Rounds v to the precision of a float dtype (float16, bfloat16, float32; float64 unchanged). */
double tir_round_float(double v, mlcc_dtype t);

#endif
