/* tensor_util.h - helpers for tests that run compiled kernels on host tensors: a deterministic
 * random source, DLTensor views, calling a packed function on tensors, and error measures
 * against float64 references. */
#ifndef MLCC_TEST_TENSOR_UTIL_H
#define MLCC_TEST_TENSOR_UTIL_H

#include <dlpack/dlpack.h>
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

#endif
