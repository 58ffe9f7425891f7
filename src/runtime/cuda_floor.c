/* cuda_floor.c - the two ceilings of a CUDA device, measured in the run that compares with them
 * (`mlcc bench --device cuda`, bench/): the device-to-device copy rate (bytes read plus bytes
 * written, as decode streams weights) and the float16 tensor-core GEMM rate through the same
 * library path the prefill projections take (mlcc_cuda_linear_f16: cuBLASLt). Host clocks
 * around synchronized batches: each timed batch is many milliseconds long. */
#include <stdlib.h>

#include "runtime/cuda.h"
#include "support/clock.h"
#include "support/error.h"

static MLCCNDArray *device_bytes(int id, size_t n) {
    return mlcc_ndarray_empty(1, (int64_t[]){(int64_t)n}, (DLDataType){kDLUInt, 8, 1}, (DLDevice){kDLCUDA, id});
}

double mlcc_cuda_copy_bandwidth(int device_id, size_t bytes, int reps) {
    MLCCNDArray *a = device_bytes(device_id, bytes), *b = device_bytes(device_id, bytes);
    double best = 0;
    if (a && b && mlcc_cuda_memset(device_id, a->dl.data, 0x3c, bytes) == 0 && mlcc_ndarray_copy(b, a) == 0 &&
        mlcc_cuda_synchronize(device_id) == 0)
        for (int r = 0; r < reps; r++) {
            double t0 = mlcc_now_seconds();
            int rc = 0;
            for (int i = 0; i < 4 && rc == 0; i++) rc = mlcc_ndarray_copy(i % 2 ? a : b, i % 2 ? b : a);
            if (rc || mlcc_cuda_synchronize(device_id)) break;
            double rate = 4.0 * 2.0 * (double)bytes / (mlcc_now_seconds() - t0);
            if (rate > best) best = rate;
        }
    mlcc_ndarray_release(a), mlcc_ndarray_release(b);
    return best;
}

double mlcc_cuda_gemm_f16_rate(int device_id, int n, int reps) {
    size_t nn = (size_t)n * (size_t)n;
    float *hx = malloc(sizeof(float) * nn);
    uint16_t *hw = malloc(sizeof(uint16_t) * nn);
    uint32_t s = 2463534242u;
    for (size_t i = 0; i < nn; i++) { /* random data: zeros would run faster than real inputs */
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        hx[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
        hw[i] = mlcc_f32_to_f16((float)(s & 0xffff) / 65536.0f - 0.5f);
    }
    MLCCNDArray *x = device_bytes(device_id, sizeof(float) * nn), *w = device_bytes(device_id, 2 * nn),
                *y = device_bytes(device_id, sizeof(float) * nn);
    double best = 0;
    if (x && w && y && mlcc_ndarray_copy_from_bytes(x, hx, sizeof(float) * nn) == 0 &&
        mlcc_ndarray_copy_from_bytes(w, hw, 2 * nn) == 0 &&
        mlcc_cuda_linear_f16(device_id, x->dl.data, w->dl.data, y->dl.data, n, n, n) == 0 && /* warm-up: plan, kernels */
        mlcc_cuda_synchronize(device_id) == 0)
        for (int r = 0; r < reps; r++) {
            double t0 = mlcc_now_seconds();
            int rc = 0;
            for (int i = 0; i < 10 && rc == 0; i++) rc = mlcc_cuda_linear_f16(device_id, x->dl.data, w->dl.data, y->dl.data, n, n, n);
            if (rc || mlcc_cuda_synchronize(device_id)) break;
            double rate = 10.0 * 2.0 * (double)n * n * n / (mlcc_now_seconds() - t0);
            if (rate > best) best = rate;
        }
    mlcc_ndarray_release(x), mlcc_ndarray_release(w), mlcc_ndarray_release(y);
    free(hx), free(hw);
    return best;
}
