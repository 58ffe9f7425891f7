/* tensor_util.c - see tensor_util.h. */
#include "tensor_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/vm.h"
#include "support/error.h"

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


test_arg test_arg_tensor(DLDataType t, void *host, int ndim, const int64_t *shape) {
    test_arg a = {1, 0, t, ndim, {0}, host};
    memcpy(a.shape, shape, sizeof(int64_t) * (size_t)ndim);
    return a;
}

test_arg test_arg_scalar(int64_t v) {
    test_arg a = {0};
    a.ival = v;
    return a;
}

int test_run_args(MLCCPackedCFunc fn, DLDevice dev, test_arg *args, int n, int out_index, void *out, MLCCNDArray **keep) {
    MLCCValue v[8] = {0}, ret;
    int codes[8] = {0}, code;
    MLCCNDArray *arrs[8] = {0};
    if (n > 8) return mlcc_set_error("test_run_args: %d arguments (at most 8)", n);
    for (int i = 0; i < n; i++) {
        if (!args[i].is_tensor) {
            v[i].v_int64 = args[i].ival, codes[i] = MLCC_TYPE_INT;
            continue;
        }
        arrs[i] = keep && keep[i] ? keep[i] : mlcc_ndarray_empty(args[i].ndim, args[i].shape, args[i].dtype, dev);
        size_t nb = mlcc_ndarray_nbytes(arrs[i]);
        if (!(keep && keep[i])) {
            void *zero = calloc(1, nb ? nb : 1);
            mlcc_ndarray_copy_from_bytes(arrs[i], args[i].host ? args[i].host : zero, nb);
            free(zero);
        }
        v[i].v_tensor = &arrs[i]->dl, codes[i] = MLCC_TYPE_DLTENSOR;
    }
    int rc = fn(v, codes, n, &ret, &code, NULL);
    if (rc == 0) mlcc_ndarray_copy_to_bytes(arrs[out_index], out, mlcc_ndarray_nbytes(arrs[out_index]));
    for (int i = 0; i < n; i++) {
        if (keep && arrs[i] && !keep[i]) keep[i] = arrs[i];
        else if (!(keep && keep[i] == arrs[i])) mlcc_ndarray_release(arrs[i]);
    }
    return rc;
}

double test_rel_diff(const float *a, const float *b, size_t n) {
    double err = 0, ref = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - b[i]);
        if (e > err || isnan(e)) err = isnan(e) ? INFINITY : e;
        if (fabs(b[i]) > ref) ref = fabs(b[i]);
    }
    return err / ref;
}

MLCCNDArray *test_random_ndarray(int ndim, const int64_t *shape) {
    MLCCNDArray *a = mlcc_ndarray_empty(ndim, shape, MLCC_DTYPE_F32, MLCC_CPU);
    float *p = a->dl.data;
    for (int64_t i = 0; i < mlcc_ndarray_numel(a); i++) p[i] = test_rand_float();
    return a;
}

MLCCNDArray *test_ndarray_from(int ndim, const int64_t *shape, DLDataType t, DLDevice dev, const void *host) {
    MLCCNDArray *a = mlcc_ndarray_empty(ndim, shape, t, dev);
    size_t n = mlcc_dtype_bytes(t);
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    if (a && host && mlcc_ndarray_copy_from_bytes(a, host, n)) {
        mlcc_ndarray_release(a);
        return NULL;
    }
    return a;
}

static int64_t numel(const MLCCNDArray *a) {
    int64_t n = 1;
    for (int i = 0; i < a->dl.ndim; i++) n *= a->dl.shape[i];
    return n;
}

double test_ndarray_rel_error(const MLCCNDArray *got, const MLCCNDArray *want) {
    int64_t n = numel(got);
    if (n != numel(want)) return INFINITY;
    float *g = malloc(sizeof(float) * (size_t)(n ? n : 1)), *w = malloc(sizeof(float) * (size_t)(n ? n : 1));
    double *ref = malloc(sizeof(double) * (size_t)(n ? n : 1)), err = INFINITY;
    if (g && w && ref && mlcc_ndarray_copy_to_bytes(got, g, sizeof(float) * (size_t)n) == 0 &&
        mlcc_ndarray_copy_to_bytes(want, w, sizeof(float) * (size_t)n) == 0) {
        for (int64_t i = 0; i < n; i++) ref[i] = w[i];
        err = test_max_rel_error(g, ref, n);
    }
    free(g), free(w), free(ref);
    return err;
}

int test_count_substr(const char *s, const char *what) {
    int k = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) k++;
    return k;
}

MLCCNDArray *test_vm_main(MLCCVM *vm, MLCCNDArray **in, int n) {
    MLCCValue args[8], ret;
    int codes[8], code;
    if (n > 8) {
        mlcc_set_error("test_vm_main: %d arguments, at most 8", n);
        return NULL;
    }
    for (int i = 0; i < n; i++) args[i].v_handle = in[i], codes[i] = MLCC_TYPE_OBJECT;
    if (mlcc_vm_invoke(vm, "main", args, codes, n, &ret, &code) != 0) return NULL;
    return code == MLCC_TYPE_OBJECT ? ret.v_handle : NULL;
}
