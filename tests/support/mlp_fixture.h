/* mlp_fixture.h - a two-layer MLP with a symbolic batch n, for VM and library tests:
 * main(x[n, MLP_IN], w1[MLP_IN, MLP_HID], w2[MLP_HID, MLP_OUT]) -> relu(x @ w1) @ w2. */
#ifndef MLCC_TEST_MLP_FIXTURE_H
#define MLCC_TEST_MLP_FIXTURE_H

#include "codegen/jit.h"
#include "runtime/vm.h"

enum { MLP_IN = 8, MLP_HID = 16, MLP_OUT = 4, MLP_MAX_N = 64 };

/* Kernels "dense_relu" and "dense". */
mlcc_prim_func **mlp_kernels(int *n);
mlcc_jit_module *mlp_build_kernels(void);
/* The VM program; storages sized for n <= MLP_MAX_N. */
mlcc_vm_exec *mlp_build_program(void);
/* The largest |y - relu(x w1) w2| over n rows, the MLP computed in float64. */
double mlp_max_error(const float *x, const float *w1, const float *w2, const float *y, int64_t n);

#endif
