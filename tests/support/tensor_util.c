/* tensor_util.c - see tensor_util.h. */
#include "tensor_util.h"

#include <math.h>
#include <string.h>

static uint64_t rng_state = 0x12345678;

void test_rng_seed(uint64_t seed) {
    rng_state = seed;
}

float test_rand_float(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng_state >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

DLTensor test_tensor(void *data, uint8_t code, uint8_t bits, int ndim, int64_t *shape) {
    DLTensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.device.device_type = kDLCPU;
    t.ndim = ndim;
    t.dtype.code = code;
    t.dtype.bits = bits;
    t.dtype.lanes = 1;
    t.shape = shape;
    return t;
}

int test_call_tensors(MLCCPackedCFunc fn, DLTensor **ts, int n) {
    MLCCValue args[16];
    int codes[16];
    if (n > 16) return -1;
    for (int i = 0; i < n; i++) {
        args[i].v_tensor = ts[i];
        codes[i] = MLCC_TYPE_DLTENSOR;
    }
    MLCCValue ret;
    int ret_code;
    return fn(args, codes, n, &ret, &ret_code, NULL);
}

double test_max_rel_error(const float *got, const double *want, int64_t n) {
    double max_err = 0, max_ref = 1e-30;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (isnan(e)) max_err = INFINITY;
        else if (e > max_err) max_err = e;
        if (fabs(want[i]) > max_ref) max_ref = fabs(want[i]);
    }
    return max_err / max_ref;
}
