/* cuda_floor.c - the two ceilings of a CUDA device, measured in the run that compares with them
 * (`mlcc bench --device cuda`, bench/): the device-to-device copy rate (bytes read plus bytes
 * written, as decode streams weights) and the float16 tensor-core GEMM rate through the same
 * library path the prefill projections take (mlcc_cuda_linear_f16: cuBLASLt). Host clocks
 * around synchronized batches: each timed batch is many milliseconds long. */
#include <stdlib.h>

#include "runtime/cuda.h"
#include "runtime/device_floor.h"
#include "support/error.h"

typedef struct floor_args {
    int device_id;
    MLCCNDArray *a, *b; /* copy: two buffers */
} floor_args;

static int copy_op(void *ctx, int i) {
    floor_args *f = ctx;
    return mlcc_ndarray_copy(i % 2 ? f->a : f->b, i % 2 ? f->b : f->a);
}

double mlcc_cuda_copy_bandwidth(int device_id, size_t bytes, int reps) {
    floor_args f = {.device_id = device_id,
                    .a = device_floor_bytes(kDLCUDA, device_id, bytes),
                    .b = device_floor_bytes(kDLCUDA, device_id, bytes)};
    double best = 0;
    if (f.a && f.b && mlcc_cuda_memset(device_id, f.a->dl.data, 0x3c, bytes) == 0 &&
        mlcc_ndarray_copy(f.b, f.a) == 0 && mlcc_cuda_synchronize(device_id) == 0)
        best = device_floor_best_rate(reps, 4, 2.0 * (double)bytes, copy_op, &f,
                                      mlcc_cuda_synchronize, device_id);
    mlcc_ndarray_release(f.a), mlcc_ndarray_release(f.b);
    return best;
}

double mlcc_cuda_gemm_f16_rate(int device_id, int n, int reps) {
    return device_floor_gemm_f16_rate(kDLCUDA, device_id, n, reps, 10, mlcc_cuda_linear_f16,
                                      mlcc_cuda_synchronize);
}
