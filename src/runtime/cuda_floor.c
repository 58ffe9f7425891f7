/* cuda_floor.c - the two ceilings of a CUDA device, measured in the run that compares with them
 * (`mlcc bench --device cuda`, bench/): the device-to-device copy rate (bytes read plus bytes
 * written, as decode streams weights) and the float16 tensor-core GEMM rate through the same
 * library path the prefill projections take (mlcc_cuda_linear_f16: cuBLASLt). Host clocks
 * around synchronized batches: each timed batch is many milliseconds long. */
#include <stdlib.h>

#include "runtime/cuda.h"
#include "runtime/device_floor.h"
#include "support/error.h"

static MLCCNDArray *device_bytes(int id, size_t n) {
    return mlcc_ndarray_empty(1, (int64_t[]){(int64_t)n}, (DLDataType){kDLUInt, 8, 1}, (DLDevice){kDLCUDA, id});
}

typedef struct floor_args {
    int device_id;
    MLCCNDArray *a, *b;    /* copy: two buffers */
    void *x, *w, *y;       /* GEMM: device pointers */
    int n;
} floor_args;

static int copy_op(void *ctx, int i) {
    floor_args *f = ctx;
    return mlcc_ndarray_copy(i % 2 ? f->a : f->b, i % 2 ? f->b : f->a);
}

double mlcc_cuda_copy_bandwidth(int device_id, size_t bytes, int reps) {
    floor_args f = {.device_id = device_id, .a = device_bytes(device_id, bytes), .b = device_bytes(device_id, bytes)};
    double best = 0;
    if (f.a && f.b && mlcc_cuda_memset(device_id, f.a->dl.data, 0x3c, bytes) == 0 && mlcc_ndarray_copy(f.b, f.a) == 0 &&
        mlcc_cuda_synchronize(device_id) == 0)
        best = device_floor_best_rate(reps, 4, 2.0 * (double)bytes, copy_op, &f, mlcc_cuda_synchronize, device_id);
    mlcc_ndarray_release(f.a), mlcc_ndarray_release(f.b);
    return best;
}

static int gemm_op(void *ctx, int i) {
    floor_args *f = ctx;
    (void)i;
    return mlcc_cuda_linear_f16(f->device_id, f->x, f->w, f->y, f->n, f->n, f->n);
}

double mlcc_cuda_gemm_f16_rate(int device_id, int n, int reps) {
    size_t nn = (size_t)n * (size_t)n;
    float *hx = malloc(sizeof(float) * nn);
    uint16_t *hw = malloc(sizeof(uint16_t) * nn);
    MLCCNDArray *x = device_bytes(device_id, sizeof(float) * nn), *w = device_bytes(device_id, 2 * nn),
                *y = device_bytes(device_id, sizeof(float) * nn);
    double best = 0;
    if (hx && hw && x && w && y) {
        device_floor_gemm_inputs(nn, hx, hw);
        floor_args f = {.device_id = device_id, .x = x->dl.data, .w = w->dl.data, .y = y->dl.data, .n = n};
        if (mlcc_ndarray_copy_from_bytes(x, hx, sizeof(float) * nn) == 0 && mlcc_ndarray_copy_from_bytes(w, hw, 2 * nn) == 0 &&
            gemm_op(&f, 0) == 0 && mlcc_cuda_synchronize(device_id) == 0) /* warm-up: plan, kernels */
            best = device_floor_best_rate(reps, 10, 2.0 * (double)n * n * n, gemm_op, &f, mlcc_cuda_synchronize, device_id);
    }
    mlcc_ndarray_release(x), mlcc_ndarray_release(w), mlcc_ndarray_release(y);
    free(hx), free(hw);
    return best;
}
