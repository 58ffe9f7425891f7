/* tir_kernels.h - small te-built kernels with a symbolic size `n`, and a harness that runs a
 * PrimFunc in the reference interpreter on seeded random inputs, for the schedule tests. */
#ifndef MLCC_TEST_TIR_KERNELS_H
#define MLCC_TEST_TIR_KERNELS_H

#include <stdint.h>

#include "ir/tir.h"
#include "schedule/schedule.h"

typedef enum {
    K_ELEMWISE,   /* B[i, j] = exp(A[i, j]) * 0.5 + A[i, j]           A: (n, 12) */
    K_BCAST_ADD,  /* C[i, j] = A[i, j] + bias[j]                      A: (n, 8), bias: (8,) */
    K_MATMUL,     /* C[i, j] = sum_k A[i, k] * B[k, j]                A: (n, 8), B: (8, 6) */
    K_ROWSUM,     /* S[i] = sum_k A[i, k]                             A: (n, 10) */
    K_TWO_STAGE,  /* B = A * 3 (intermediate); C = B + 1               A: (n, 8) */
    K_EPILOGUE,   /* B = A * A (intermediate); C = max(B, 0) + bias[j]  A: (n, 8) */
    K_SOFTMAX,    /* M = max A; E = exp(A - M); S = sum E; O = E / S   A: (n, 8) */
    K_MM_RELU,    /* C = matmul(A, B) (intermediate); D = max(C, 0)     A: (n, 8), B: (8, 6) */
    K_TRANSPOSE,  /* T[a, b] = A[b, a] (intermediate, (5, n)); O[i, j] = T[j, i] * 3  A: (n, 5) */
    K_COUNT
} kernel_kind;

const char *kernel_name(kernel_kind k);
/* A fresh PrimFunc (new vars and buffers each call). */
mlcc_prim_func *kernel_build(kernel_kind k);

/* Runs f with size var n on inputs drawn from seed; returns the concatenated contents of every
 * parameter buffer afterwards (malloc'ed, *len elements), or NULL with an error. Outputs start
 * filled with a marker value, so elements a schedule forgets to write are noticed. */
double *kernel_run(const mlcc_prim_func *f, int64_t n, uint64_t seed, int *len);
/* The same, optionally running parallel loops in reverse (see tir_interp_opts). */
double *kernel_run_opts(const mlcc_prim_func *f, int64_t n, uint64_t seed, int *len, int reverse_parallel);
/* Runs both functions (got with parallel loops reversed) and compares; 0 when equal within tolerance, else -1 with a message in
 * mlcc_last_error naming the first differing element. */
int kernel_compare(const mlcc_prim_func *ref, const mlcc_prim_func *got, int64_t n, uint64_t seed);

/* The golden text tests/unit/golden/<name>.txt (under $MLCC_SOURCE_DIR); malloc'ed, or NULL
 * when missing. With MLCC_UPDATE_GOLDEN=1 in the environment, writes `actual` there first (to
 * regenerate goldens after an intended change, e.g. a better simplifier) and returns a copy. */
char *golden_text(const char *name, const char *actual);
/* The function printed, then its schedule's trace (what the golden files hold). */
char *schedule_text(const mlcc_prim_func *f, const char *trace);
/* Replays s's printed trace on a fresh schedule of orig: 0 when that gives a structurally
 * equal function (tir_structural_equal), printing the same, and the same trace, else -1 with the difference described. */
int replay_matches(const mlcc_prim_func *orig, mlcc_schedule *s);
/* kernel_compare at n = 1, 7, 16, 33 (sizes that divide and do not divide typical factors). */
int compare_at_sizes(const mlcc_prim_func *ref, const mlcc_prim_func *got, uint64_t seed);

#endif
