/* device_floor.c - the timing loop and GEMM inputs that the CUDA and Vulkan floors share
 * (device_floor.h). */
#include "runtime/device_floor.h"

#include "mlcc/mlcc_runtime.h"
#include "support/clock.h"

double device_floor_best_rate(int reps, int calls, double work, device_floor_op op, void *ctx,
                              int (*sync)(int device_id), int device_id) {
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = mlcc_now_seconds();
        int rc = 0;
        for (int i = 0; i < calls && rc == 0; i++) rc = op(ctx, i);
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
