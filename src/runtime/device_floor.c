/* device_floor.c - the timing loop and GEMM inputs that the CUDA and Vulkan floors share
 * (device_floor.h). */
#include "runtime/device_floor.h"

#include <stdlib.h>

#include "mlcc/mlcc_runtime.h"
#include "support/clock.h"

MLCCNDArray *device_floor_bytes(int device_type, int id, size_t n) {
    return mlcc_ndarray_empty(1, (int64_t[]){(int64_t)n}, (DLDataType){kDLUInt, 8, 1},
                              (DLDevice){device_type, id});
}

double device_floor_best_rate(int reps, int calls, double work, device_floor_op op, void *ctx,
                              int (*sync)(int device_id), int device_id) {
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = mlcc_now_seconds();
        int rc = 0;
        for (int i = 0; i < calls && rc == 0; i++)
            rc = op(ctx, i);
        if (rc || sync(device_id)) break;
        double rate = (double)calls * work / (mlcc_now_seconds() - t0);
        if (rate > best) best = rate;
    }
    return best;
}

void device_floor_gemm_inputs(size_t nn, float *x, uint16_t *w) {
    uint32_t s = 2463534242u;
    for (size_t i = 0; i < nn; i++) {
        s ^= s << 13, s ^= s >> 17, s ^= s << 5;
        x[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
        w[i] = mlcc_f32_to_f16((float)(s & 0xffff) / 65536.0f - 0.5f);
    }
}

typedef struct gemm_args {
    int device_id, n;
    void *x, *w, *y; /* device pointers */
    device_floor_linear_f16 linear;
} gemm_args;

static int gemm_op(void *ctx, int i) {
    gemm_args *g = ctx;
    (void)i;
    return g->linear(g->device_id, g->x, g->w, g->y, g->n, g->n, g->n);
}

double device_floor_gemm_f16_rate(int device_type, int device_id, int n, int reps, int calls,
                                  device_floor_linear_f16 linear, int (*sync)(int device_id)) {
    size_t nn = (size_t)n * (size_t)n;
    float *hx = malloc(sizeof(float) * nn);
    uint16_t *hw = malloc(sizeof(uint16_t) * nn);
    MLCCNDArray *x = device_floor_bytes(device_type, device_id, sizeof(float) * nn),
                *w = device_floor_bytes(device_type, device_id, 2 * nn),
                *y = device_floor_bytes(device_type, device_id, sizeof(float) * nn);
    double best = 0;
    if (hx && hw && x && w && y) {
        device_floor_gemm_inputs(nn, hx, hw);
        gemm_args g = {.device_id = device_id,
                       .n = n,
                       .x = x->dl.data,
                       .w = w->dl.data,
                       .y = y->dl.data,
                       .linear = linear};
        if (mlcc_ndarray_copy_from_bytes(x, hx, sizeof(float) * nn) == 0 &&
            mlcc_ndarray_copy_from_bytes(w, hw, 2 * nn) == 0 && gemm_op(&g, 0) == 0 &&
            sync(device_id) == 0)
            best = device_floor_best_rate(reps, calls, 2.0 * (double)n * n * n, gemm_op, &g, sync,
                                          device_id);
    }
    mlcc_ndarray_release(x), mlcc_ndarray_release(w), mlcc_ndarray_release(y);
    free(hx), free(hw);
    return best;
}
