/* test_codegen_c.c - TensorIR kernels with a symbolic n compiled to C, run, and compared with
 * float64 loops written here: elementwise, broadcast, softmax, RMS norm, matmul. Also: entry
 * checks reject wrong tensors with a message instead of reading out of bounds, and a second
 * build of the same kernels is served from the compile cache. */
#include <dlpack/dlpack.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "codegen/jit.h"
#include "ir/printer.h"
#include "support/error.h"
#include "te/te.h"
#include "te_bodies.h"
#include "tensor_util.h"
#include "test.h"

static uint64_t rng = 0x12345678;

static float rand_float(void) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

static DLTensor tensor_f32(float *data, int ndim, int64_t *shape) {
    DLTensor t = {0};
    t.data = data;
    t.device.device_type = kDLCPU;
    t.ndim = ndim;
    t.dtype.code = kDLFloat;
    t.dtype.bits = 32;
    t.dtype.lanes = 1;
    t.shape = shape;
    return t;
}

static int call(MLCCPackedCFunc fn, DLTensor **ts, int n) {
    MLCCValue args[8];
    int codes[8];
    for (int i = 0; i < n; i++) {
        args[i].v_tensor = ts[i];
        codes[i] = MLCC_TYPE_DLTENSOR;
    }
    MLCCValue ret;
    int ret_code;
    return fn(args, codes, n, &ret, &ret_code, NULL);
}

/* ---- kernels ---- */

enum { COLS = 37, K = 24 };

static void test_kernels(void) {
    mlcc_expr *n = ir_size_var("n");
    mlcc_expr *cols = ir_int(COLS);
    test_te t = {.cols = cols};
    t.x = te_placeholder("X", DT_F32, (mlcc_expr *[]){n, cols}, 2);
    t.y = te_placeholder("Y", DT_F32, (mlcc_expr *[]){n, cols}, 2);
    t.w = te_placeholder("W", DT_F32, (mlcc_expr *[]){cols}, 1);
    mlcc_expr *shape[2] = {n, cols};

    te_tensor *out_ew = te_compute("Z", DT_F32, shape, 2, test_te_add_mul, &t);
    mlcc_prim_func *f_ew = te_create_prim_func("ew", (te_tensor *[]){t.x, t.y, out_ew}, 3);
    te_tensor *out_bc = te_compute("Z", DT_F32, shape, 2, test_te_sub_w, &t);
    mlcc_prim_func *f_bc = te_create_prim_func("bcast", (te_tensor *[]){t.x, t.w, out_bc}, 3);

    t.rowmax = te_reduce("M", DT_F32, &n, 1, TE_MAX, &cols, 1, test_te_x, &t);
    t.exps = te_compute("E", DT_F32, shape, 2, test_te_exp_minus_max, &t);
    t.rowsum = te_reduce("S", DT_F32, &n, 1, TE_SUM, &cols, 1, test_te_exps, &t);
    te_tensor *out_sm = te_compute("P", DT_F32, shape, 2, test_te_softmax_div, &t);
    mlcc_prim_func *f_sm = te_create_prim_func("softmax", (te_tensor *[]){t.x, out_sm}, 2);

    t.sumsq = te_reduce("SQ", DT_F32, &n, 1, TE_SUM, &cols, 1, test_te_square, &t);
    te_tensor *out_rms = te_compute("R", DT_F32, shape, 2, test_te_rms, &t);
    mlcc_prim_func *f_rms = te_create_prim_func("rms_norm", (te_tensor *[]){t.x, t.w, out_rms}, 3);

    te_tensor *A = te_placeholder("A", DT_F32, (mlcc_expr *[]){n, ir_int(K)}, 2);
    te_tensor *B = te_placeholder("B", DT_F32, (mlcc_expr *[]){ir_int(K), cols}, 2);
    t.x = A, t.y = B;
    te_tensor *out_mm = te_reduce("C", DT_F32, shape, 2, TE_SUM, (mlcc_expr *[]){ir_int(K)}, 1, test_te_matmul, &t);
    mlcc_prim_func *f_mm = te_create_prim_func("matmul", (te_tensor *[]){A, B, out_mm}, 3);

    mlcc_prim_func *funcs[] = {f_ew, f_bc, f_sm, f_rms, f_mm};
    mlcc_jit_module *mod = mlcc_jit_build(funcs, 5);
    CHECK_MSG(mod != NULL, "%s", mlcc_last_error());
    if (!mod) return;

    int64_t sizes[] = {1, 7, 16, 33};
    for (int si = 0; si < 4; si++) {
        int64_t rows = sizes[si];
        int64_t sh2[2] = {rows, COLS}, sh1[1] = {COLS}, sha[2] = {rows, K}, shb[2] = {K, COLS};
        float *x = malloc(sizeof(float) * rows * COLS), *y = malloc(sizeof(float) * rows * COLS);
        float *w = malloc(sizeof(float) * COLS), *z = malloc(sizeof(float) * rows * COLS);
        float *a = malloc(sizeof(float) * rows * K), *b = malloc(sizeof(float) * K * COLS);
        double *ref = malloc(sizeof(double) * rows * COLS);
        for (int64_t i = 0; i < rows * COLS; i++) x[i] = rand_float() * 3, y[i] = rand_float();
        for (int64_t i = 0; i < COLS; i++) w[i] = rand_float();
        for (int64_t i = 0; i < rows * K; i++) a[i] = rand_float();
        for (int64_t i = 0; i < K * COLS; i++) b[i] = rand_float();
        DLTensor tx = tensor_f32(x, 2, sh2), ty = tensor_f32(y, 2, sh2), tw = tensor_f32(w, 1, sh1),
                 tz = tensor_f32(z, 2, sh2), ta = tensor_f32(a, 2, sha), tb = tensor_f32(b, 2, shb);

        /* elementwise */
        CHECK_EQ_INT(call(mlcc_jit_get_function(mod, "ew"), (DLTensor *[]){&tx, &ty, &tz}, 3), 0);
        for (int64_t i = 0; i < rows * COLS; i++) ref[i] = (double)x[i] * y[i] + exp((double)x[i]);
        CHECK_MSG(test_max_rel_error(z, ref, rows * COLS) < 1e-6, "ew n=%lld", (long long)rows);
        /* broadcast */
        CHECK_EQ_INT(call(mlcc_jit_get_function(mod, "bcast"), (DLTensor *[]){&tx, &tw, &tz}, 3), 0);
        for (int64_t r = 0; r < rows; r++)
            for (int c = 0; c < COLS; c++) ref[r * COLS + c] = (double)x[r * COLS + c] - w[c];
        CHECK_MSG(test_max_rel_error(z, ref, rows * COLS) < 1e-6, "bcast n=%lld", (long long)rows);
        /* softmax */
        CHECK_EQ_INT(call(mlcc_jit_get_function(mod, "softmax"), (DLTensor *[]){&tx, &tz}, 2), 0);
        for (int64_t r = 0; r < rows; r++) {
            double mx = -INFINITY, sum = 0;
            for (int c = 0; c < COLS; c++) mx = fmax(mx, x[r * COLS + c]);
            for (int c = 0; c < COLS; c++) sum += exp(x[r * COLS + c] - mx);
            for (int c = 0; c < COLS; c++) ref[r * COLS + c] = exp(x[r * COLS + c] - mx) / sum;
        }
        CHECK_MSG(test_max_rel_error(z, ref, rows * COLS) < 1e-6, "softmax n=%lld", (long long)rows);
        /* RMS norm */
        CHECK_EQ_INT(call(mlcc_jit_get_function(mod, "rms_norm"), (DLTensor *[]){&tx, &tw, &tz}, 3), 0);
        for (int64_t r = 0; r < rows; r++) {
            double ss = 0;
            for (int c = 0; c < COLS; c++) ss += (double)x[r * COLS + c] * x[r * COLS + c];
            double scale = 1 / sqrt(ss / COLS + 1e-5);
            for (int c = 0; c < COLS; c++) ref[r * COLS + c] = x[r * COLS + c] * scale * w[c];
        }
        CHECK_MSG(test_max_rel_error(z, ref, rows * COLS) < 1e-6, "rms_norm n=%lld", (long long)rows);
        /* matmul */
        CHECK_EQ_INT(call(mlcc_jit_get_function(mod, "matmul"), (DLTensor *[]){&ta, &tb, &tz}, 3), 0);
        for (int64_t r = 0; r < rows; r++)
            for (int c = 0; c < COLS; c++) {
                double s = 0;
                for (int k = 0; k < K; k++) s += (double)a[r * K + k] * b[k * COLS + c];
                ref[r * COLS + c] = s;
            }
        CHECK_MSG(test_max_rel_error(z, ref, rows * COLS) < 1e-6, "matmul n=%lld", (long long)rows);

        if (si == 1) {
            /* entry checks: a mismatched shape, dtype or ndim is an error, never a wild read */
            MLCCPackedCFunc mm = mlcc_jit_get_function(mod, "matmul");
            int64_t bad_shape[2] = {rows, K + 1};
            DLTensor tbad = tensor_f32(a, 2, bad_shape);
            mlcc_clear_error();
            CHECK(call(mm, (DLTensor *[]){&tbad, &tb, &tz}, 3) != 0);
            CHECK_MSG(strstr(mlcc_last_error(), "A.shape[1]") != NULL, "%s", mlcc_last_error());
            int64_t other_rows[2] = {rows + 1, COLS};
            DLTensor tz2 = tensor_f32(z, 2, other_rows);
            CHECK(call(mm, (DLTensor *[]){&ta, &tb, &tz2}, 3) != 0);
            CHECK_MSG(strstr(mlcc_last_error(), "C.shape[0]") != NULL, "%s", mlcc_last_error());
            DLTensor tint = ta;
            tint.dtype.code = kDLInt;
            CHECK(call(mm, (DLTensor *[]){&tint, &tb, &tz}, 3) != 0);
            CHECK_MSG(strstr(mlcc_last_error(), "float32") != NULL, "%s", mlcc_last_error());
            DLTensor t1d = tensor_f32(a, 1, sh1);
            CHECK(call(mm, (DLTensor *[]){&t1d, &tb, &tz}, 3) != 0);
            CHECK_MSG(strstr(mlcc_last_error(), "dimensions") != NULL, "%s", mlcc_last_error());
            CHECK(call(mm, (DLTensor *[]){&ta, &tb}, 2) != 0);
            CHECK_MSG(strstr(mlcc_last_error(), "expected 3 arguments") != NULL, "%s", mlcc_last_error());
        }
        free(x), free(y), free(w), free(z), free(a), free(b), free(ref);
    }

    /* the same kernels again come from the cache, with no compiler run */
    mlcc_jit_stats before = mlcc_jit_get_stats();
    mlcc_jit_module *again = mlcc_jit_build(funcs, 5);
    mlcc_jit_stats after = mlcc_jit_get_stats();
    CHECK(again != NULL);
    const char *policy = getenv("MLCC_JIT_POLICY");
    if (!policy || strcmp(policy, "ON") == 0) {
        CHECK_EQ_INT(after.compiles, before.compiles);
        CHECK_EQ_INT(after.cache_hits, before.cache_hits + 1);
    }
    mlcc_jit_free(again);
    mlcc_jit_free(mod);
}

/* The generated float32 exp (mlcc_expf of the prelude, vectorizable) against glibc's expf: within
 * 1 ulp on every 997th float of [-110, 95] (about 2.3 million values), and the same at the edges:
 * +-inf, NaN, overflow to inf, underflow through the subnormals to 0, exp(+-0) = 1. */
static mlcc_expr *exp_body(mlcc_expr **i, void *c) {
    return ir_call1("exp", te_load1((te_tensor *)c, i[0]));
}

static int64_t float_order(float f) {
    int32_t i;
    memcpy(&i, &f, 4);
    return i < 0 ? -(int64_t)(i & 0x7fffffff) : i;
}

static void test_exp_accuracy(void) {
    mlcc_expr *n = ir_size_var("n");
    te_tensor *x = te_placeholder("X", DT_F32, &n, 1);
    te_tensor *e = te_compute("E", DT_F32, &n, 1, exp_body, x);
    mlcc_prim_func *f = te_create_prim_func("exp_all", (te_tensor *[]){x, e}, 2);
    mlcc_jit_module *mod = f ? mlcc_jit_build(&f, 1) : NULL;
    CHECK_MSG(mod != NULL, "%s", mlcc_last_error());
    if (!mod) return;
    static const float edges[] = {INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 88.72f, 88.73f, 89.5f, 1e30f, -87.3f, -87.4f,
                                  -100.0f, -103.9f, -103.98f, -104.5f, -1e30f, 1e-30f, -1e-30f, 1e-45f};
    int64_t count = sizeof edges / sizeof edges[0];
    for (uint32_t u = 0; u < 0xFFFFFFFFu - 997; u += 997) {
        float v;
        memcpy(&v, &u, 4);
        count += v > -110.0f && v < 95.0f;
    }
    float *in = malloc(sizeof(float) * (size_t)count), *out = malloc(sizeof(float) * (size_t)count);
    int64_t k = 0;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) in[k++] = edges[i];
    for (uint32_t u = 0; u < 0xFFFFFFFFu - 997; u += 997) {
        float v;
        memcpy(&v, &u, 4);
        if (v > -110.0f && v < 95.0f) in[k++] = v;
    }
    int64_t shape[1] = {count};
    DLTensor tx = tensor_f32(in, 1, shape), te = tensor_f32(out, 1, shape);
    CHECK_EQ_INT(call(mlcc_jit_get_function(mod, "exp_all"), (DLTensor *[]){&tx, &te}, 2), 0);
    int64_t worst = 0, at = 0;
    for (int64_t i = 0; i < count; i++) {
        float want = expf(in[i]);
        int64_t d = isnan(want) ? (isnan(out[i]) ? 0 : INT64_MAX) : float_order(out[i]) - float_order(want);
        if (d < 0) d = -d;
        if (d > worst) worst = d, at = i;
    }
    CHECK_MSG(worst <= 1, "exp(%.9g) = %.9g, libm %.9g: %lld ulp apart", in[at], out[at], expf(in[at]), (long long)worst);
    free(in), free(out);
    mlcc_jit_free(mod);
}

static void test_compile_error_reported(void) {
    mlcc_jit_module *m = mlcc_jit_compile_source("this is not C;\n");
    CHECK(m == NULL);
    CHECK_MSG(strstr(mlcc_last_error(), "failed") != NULL, "%s", mlcc_last_error());
}

int main(void) {
    ir_scope_begin();
    test_kernels();
    test_exp_accuracy();
    test_compile_error_reported();
    ir_scope_end();
    return test_finish();
}
