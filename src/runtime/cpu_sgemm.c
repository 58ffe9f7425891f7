/* cpu_sgemm.c - the packed function `mlcc.cpu.sgemm` that the CPU build's library dispatch
 * (transform/cpu_dispatch.c) calls in place of a float32 projection y = x W^T:
 *
 *     mlcc.cpu.sgemm(x f32 [..., in], w f32 [out, in], kernel, min_rows, y f32 [..., out])
 *
 * `kernel` is the projection's compiled kernel (kernel(x, w, y)), `min_rows` the dispatch
 * rule's row threshold. Calls with at least min_rows rows go to OpenBLAS's cblas_sgemm when it
 * loads (cpu_blas.c); the others, and every call when it does not, run the kernel. The row
 * count is only known here: it is the prompt's length in prefill, the batch in decode.
 * MLCC_CPU_BLAS=1 at run time sends every call to OpenBLAS, MLCC_CPU_BLAS=0 none. */
#include <stdlib.h>
#include <string.h>

#include "runtime/cpu_blas.h"
#include "runtime/packed.h"
#include "runtime/projection_args.h"
#include "support/error.h"

static const char *const fn_name = "mlcc.cpu.sgemm";

/* -1: the rule decides; 0 / 1: MLCC_CPU_BLAS forces the kernel / OpenBLAS. */
static int forced(void) {
    const char *e = getenv("MLCC_CPU_BLAS");
    if (!e || !*e) return -1;
    return strcmp(e, "0") != 0;
}

static int is_f32(const DLTensor *t) {
    return projection_is_dtype(t, kDLFloat, 32);
}

/* Checks the tensors: x[..., in] and y[..., out] of one rank and leading axes, w[out, in], all
 * float32, compact, on the CPU; *rows gets the product of the leading axes. */
static int check_shapes(const DLTensor *x, const DLTensor *w, const DLTensor *y, int64_t *rows) {
    const DLTensor *t[3] = {x, w, y};
    for (int i = 0; i < 3; i++) {
        if (t[i]->device.device_type != kDLCPU) return mlcc_set_error("%s: x, w and y must be on the CPU", fn_name);
        if (!is_f32(t[i])) return mlcc_set_error("%s: wants float32 x, w and y", fn_name);
        if (t[i]->strides) return mlcc_set_error("%s: wants compact tensors", fn_name);
    }
    if (x->ndim < 1 || y->ndim != x->ndim) return mlcc_set_error("%s: wants x[..., in] and y[..., out] of one rank", fn_name);
    int64_t in = x->shape[x->ndim - 1], out = y->shape[y->ndim - 1];
    if (w->ndim != 2 || w->shape[0] != out || w->shape[1] != in)
        return mlcc_set_error("%s: shapes do not match x[..., in] @ w[out, in]^T = y[..., out]", fn_name);
    *rows = 1;
    for (int i = 0; i + 1 < x->ndim; i++) {
        if (x->shape[i] != y->shape[i]) return mlcc_set_error("%s: x and y rows differ (axis %d)", fn_name, i);
        *rows *= x->shape[i];
    }
    return 0;
}

/* OpenBLAS's calls split over the runtime's pool: each thread runs a one-thread sgemm on its
 * slice of the output columns (a contiguous block of W's rows). */
typedef struct column_split {
    mlcc_cblas_sgemm_fn sgemm;
    const float *x, *w;
    float *y;
    int rows, out, in;
} column_split;

enum { SPLIT_COLUMNS = 64 }; /* columns per unit of work: whole cache lines of y */

static void sgemm_columns(int64_t begin, int64_t end, int task, void *ctx) {
    (void)task;
    const column_split *c = ctx;
    int j0 = (int)begin * SPLIT_COLUMNS, j1 = (int)end * SPLIT_COLUMNS < c->out ? (int)end * SPLIT_COLUMNS : c->out;
    if (j1 > j0)
        c->sgemm(MLCC_CBLAS_ROW_MAJOR, MLCC_CBLAS_NO_TRANS, MLCC_CBLAS_TRANS, c->rows, j1 - j0, c->in, 1.0f, c->x, c->in,
                 c->w + (size_t)j0 * (size_t)c->in, c->in, 0.0f, c->y + j0, c->out);
}

/* MLCC_CPU_BLAS_THREADS=openblas: OpenBLAS's own threads instead of the pool's. */
static int own_threads(void) {
    const char *e = getenv("MLCC_CPU_BLAS_THREADS");
    return e && !strcmp(e, "openblas");
}

static void run_sgemm(mlcc_cblas_sgemm_fn sgemm, const float *x, const float *w, float *y, int rows, int out, int in) {
    int threads = mlcc_threadpool_size();
    if (own_threads() || threads == 1) {
        mlcc_cpu_blas_set_threads(threads);
        sgemm(MLCC_CBLAS_ROW_MAJOR, MLCC_CBLAS_NO_TRANS, MLCC_CBLAS_TRANS, rows, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
        return;
    }
    mlcc_cpu_blas_set_threads(1);
    column_split c = {sgemm, x, w, y, rows, out, in};
    mlcc_parallel_for((out + SPLIT_COLUMNS - 1) / SPLIT_COLUMNS, sgemm_columns, &c);
}

static int fits_int(int64_t v) {
    return v >= 0 && v <= 0x7fffffff;
}

static int cpu_sgemm(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)ret, (void)ret_code, (void)res;
    DLTensor *x, *w, *y;
    MLCCObject *kernel;
    int64_t min_rows = 0, rows = 0;
    if (mlcc_check_num_args(n, 5) || mlcc_arg_tensor(args, codes, n, 0, &x) || mlcc_arg_tensor(args, codes, n, 1, &w) ||
        mlcc_arg_object(args, codes, n, 2, MLCC_OBJECT_FUNCTION, &kernel) || mlcc_arg_int(args, codes, n, 3, &min_rows) ||
        mlcc_arg_tensor(args, codes, n, 4, &y))
        return mlcc_prefix_error("%s", fn_name);
    if (check_shapes(x, w, y, &rows)) return -1;
    int64_t in = w->shape[1], out = w->shape[0];
    int force = forced();
    int use_blas = force >= 0 ? force : rows >= min_rows;
    mlcc_cblas_sgemm_fn sgemm = use_blas && rows > 0 ? mlcc_cpu_blas_sgemm() : NULL;
    if (sgemm && fits_int(rows) && fits_int(in) && fits_int(out)) {
        run_sgemm(sgemm, projection_data(x), projection_data(w), projection_data(y), (int)rows, (int)out, (int)in);
        return 0;
    }
    /* kernels take DLTensor handles (the VM passes arrays as objects) */
    MLCCValue kargs[3];
    kargs[0].v_handle = x, kargs[1].v_handle = w, kargs[2].v_handle = y;
    int kcodes[3] = {MLCC_TYPE_DLTENSOR, MLCC_TYPE_DLTENSOR, MLCC_TYPE_DLTENSOR};
    MLCCValue kret;
    int kret_code;
    if (mlcc_func_call((const MLCCFunction *)kernel, kargs, kcodes, 3, &kret, &kret_code)) return mlcc_prefix_error("%s", fn_name);
    mlcc_value_release(kret, kret_code);
    return 0;
}

MLCC_REGISTER_GLOBAL("mlcc.cpu.sgemm", cpu_sgemm)
