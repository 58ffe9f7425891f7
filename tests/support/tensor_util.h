/* tensor_util.h - helpers for tests that run compiled kernels on host tensors: a deterministic
 * random source, DLTensor views, calling a packed function on tensors, and error measures
 * against float64 references. */
#ifndef MLCC_TEST_TENSOR_UTIL_H
#define MLCC_TEST_TENSOR_UTIL_H

#include <dlpack/dlpack.h>
#include <stddef.h>
#include <stdint.h>

#include "mlcc/mlcc_runtime.h"

/* Uniform in [-1, 1), from a fixed-seed generator (test_rng_seed resets it). */
float test_rand_float(void);
void test_rng_seed(uint64_t seed);
/* A CPU DLTensor view of data (not owned). code: kDLFloat / kDLInt. */
DLTensor test_tensor(void *data, uint8_t code, uint8_t bits, int ndim, int64_t *shape);
/* Calls fn with the tensors as arguments; returns its status. */
int test_call_tensors(MLCCPackedCFunc fn, DLTensor **ts, int n);
/* max |got - want| / max(|want|), NaN counting as infinite error. */
double test_max_rel_error(const float *got, const double *want, int64_t n);
/* A float32 array on the CPU of the given shape, filled from test_rand_float (the caller
 * releases it). */
MLCCNDArray *test_random_ndarray(int ndim, const int64_t *shape);
/* An array of the shape and type on dev holding a copy of host's bytes (host NULL: left as
 * allocated); NULL when allocating or copying fails (mlcc_last_error). */
MLCCNDArray *test_ndarray_from(int ndim, const int64_t *shape, DLDataType t, DLDevice dev, const void *host);
/* The VM's function "main" called with the arrays (at most 8) as arguments: the array it
 * returns, NULL when the call fails or returns something else (mlcc_last_error). */
struct MLCCVM;
MLCCNDArray *test_vm_main(struct MLCCVM *vm, MLCCNDArray **in, int n);
/* test_max_rel_error of float32 `got` against float32 `want` (each on any device, the same number
 * of elements); INFINITY when they differ in size or a copy fails. */
double test_ndarray_rel_error(const MLCCNDArray *got, const MLCCNDArray *want);
/* How many times `what` occurs in s (overlapping occurrences count). */
int test_count_substr(const char *s, const char *what);


/* An argument of a kernel run on a device by test_run_args: a tensor (host data copied to the
 * device, or zeros for an output when host is NULL) or an int64 scalar. */
typedef struct test_arg {
    int is_tensor;
    int64_t ival;
    DLDataType dtype;
    int ndim;
    int64_t shape[5];
    void *host;
} test_arg;
test_arg test_arg_tensor(DLDataType t, void *host, int ndim, const int64_t *shape);
test_arg test_arg_scalar(int64_t v);
/* Runs fn over device copies of args (at most 8) on dev and copies tensor `out_index` back
 * into out. keep (NULL or n slots): arrays kept across calls (a filled slot is passed as is,
 * an empty one receives the array made for it; the caller releases them). */
int test_run_args(MLCCPackedCFunc fn, DLDevice dev, test_arg *args, int n, int out_index, void *out, MLCCNDArray **keep);
/* max |a - b| / max(|b|), NaN counting as infinite error. */
double test_rel_diff(const float *a, const float *b, size_t n);

#endif
