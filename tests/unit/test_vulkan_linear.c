/* test_vulkan_linear.c - mlcc.vulkan.linear_f16 (runtime/vulkan_linear.c), the kernel the Vulkan
 * build calls for float16-weight projections, against a float64 product on the host:
 *   - the GEMV (16-byte loads) at 1..16 rows: passes of 16, 8, 4, 2 and 1 rows (1, 5, 15, 16 rows);
 *   - the tiled GEMM above 16 rows (17, 70: partial 64-row tiles, out 130: a partial column tile;
 *     in = 40, not a multiple of the 16-wide k step);
 *   - the scalar kernel where 16-byte loads do not apply (in = 36; x at a 4-byte offset);
 *   - the packed function through the registry, and its argument errors;
 * and, with MLCC_VULKAN_PROFILE=1, that each case ran the kernel it should. Without a device
 * (or glslang, or float16 storage) it skips, printing why. */
#include <math.h>

#include "runtime/vulkan.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"

static const DLDevice VK0 = {kDLVulkan, 0};

static float f16_round(float v, uint16_t *bits) {
    *bits = mlcc_f32_to_f16(v);
    return mlcc_f16_to_f32(*bits);
}

static long calls_of(const char *kernel) {
    long calls = 0;
    double ms = 0;
    mlcc_vulkan_kernel_profile(kernel, &calls, &ms);
    return calls;
}

/* One product: y[rows, out] = x[rows, in] @ w[out, in]^T; x_shift floats of padding before x in
 * its buffer. Checks the result and that `kernel` ran. */
static void check_linear(int64_t rows, int64_t out, int64_t in, int x_shift, const char *kernel) {
    size_t nx = (size_t)(rows * in), nw = (size_t)(out * in), ny = (size_t)(rows * out);
    float *x = malloc(sizeof(float) * (nx + (size_t)x_shift)), *wf = malloc(sizeof(float) * nw), *y = malloc(sizeof(float) * ny);
    uint16_t *w = malloc(2 * nw);
    double *want = malloc(sizeof(double) * ny);
    for (size_t i = 0; i < nx + (size_t)x_shift; i++) x[i] = test_rand_float();
    for (size_t i = 0; i < nw; i++) wf[i] = f16_round(test_rand_float(), &w[i]);
    const float *xs = x + x_shift;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = 0;
            for (int64_t k = 0; k < in; k++) s += (double)xs[r * in + k] * wf[o * in + k];
            want[r * out + o] = s;
        }
    MLCCNDArray *dx = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)(nx + (size_t)x_shift)}, MLCC_DTYPE_F32, VK0);
    MLCCNDArray *dw = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)nw}, (DLDataType){kDLFloat, 16, 1}, VK0);
    MLCCNDArray *dy = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)ny}, MLCC_DTYPE_F32, VK0);
    CHECK(dx && dw && dy);
    long before = calls_of(kernel);
    if (dx && dw && dy) {
        CHECK(mlcc_ndarray_copy_from_bytes(dx, x, sizeof(float) * (nx + (size_t)x_shift)) == 0);
        CHECK(mlcc_ndarray_copy_from_bytes(dw, w, 2 * nw) == 0);
        int rc = mlcc_vulkan_linear_f16(0, (const float *)dx->dl.data + x_shift, dw->dl.data, dy->dl.data, rows, out, in);
        CHECK_MSG(rc == 0, "linear %lld x %lld x %lld: %s", (long long)rows, (long long)out, (long long)in, mlcc_last_error());
        CHECK(mlcc_ndarray_copy_to_bytes(dy, y, sizeof(float) * ny) == 0);
        double e = test_max_rel_error(y, want, (int64_t)ny);
        /* float32 sums of products of float32 and float16-exact values: rounding of the sums only */
        CHECK_MSG(e <= 1e-5, "linear %lld x %lld x %lld (x shifted %d): relative error %g", (long long)rows, (long long)out,
                  (long long)in, x_shift, e);
    }
    CHECK_MSG(calls_of(kernel) > before, "linear %lld x %lld x %lld: %s did not run", (long long)rows, (long long)out,
              (long long)in, kernel);
    mlcc_ndarray_release(dx), mlcc_ndarray_release(dw), mlcc_ndarray_release(dy);
    free(x), free(wf), free(w), free(y), free(want);
}

static void check_packed_errors(void) {
    MLCCFunction *f = mlcc_func_get_global("mlcc.vulkan.linear_f16");
    CHECK_MSG(f != NULL, "mlcc.vulkan.linear_f16 is not registered");
    if (!f) return;
    float xh[2 * 16], yh[2 * 3];
    uint16_t wh[3 * 16];
    for (int i = 0; i < 32; i++) xh[i] = test_rand_float();
    for (int i = 0; i < 48; i++) wh[i] = mlcc_f32_to_f16(test_rand_float());
    /* through the registry on device arrays: equal to the direct call */
    MLCCNDArray *dx = mlcc_ndarray_empty(2, (int64_t[]){2, 16}, MLCC_DTYPE_F32, VK0);
    MLCCNDArray *dw = mlcc_ndarray_empty(2, (int64_t[]){3, 16}, (DLDataType){kDLFloat, 16, 1}, VK0);
    MLCCNDArray *dy = mlcc_ndarray_empty(2, (int64_t[]){2, 3}, MLCC_DTYPE_F32, VK0);
    MLCCNDArray *bad = mlcc_ndarray_empty(2, (int64_t[]){2, 4}, MLCC_DTYPE_F32, VK0);
    CHECK(dx && dw && dy && bad);
    if (dx && dw && dy && bad) {
        mlcc_ndarray_copy_from_bytes(dx, xh, sizeof xh);
        mlcc_ndarray_copy_from_bytes(dw, wh, sizeof wh);
        DLTensor *ok[3] = {&dx->dl, &dw->dl, &dy->dl};
        CHECK_MSG(test_call_tensors(f->fn, ok, 3) == 0, "packed call: %s", mlcc_last_error());
        CHECK(mlcc_ndarray_copy_to_bytes(dy, yh, sizeof yh) == 0);
        double want[6];
        for (int r = 0; r < 2; r++)
            for (int o = 0; o < 3; o++) {
                double s = 0;
                for (int k = 0; k < 16; k++) s += (double)xh[r * 16 + k] * mlcc_f16_to_f32(wh[o * 16 + k]);
                want[r * 3 + o] = s;
            }
        CHECK(test_max_rel_error(yh, want, 6) <= 1e-5);
        DLTensor *mismatch[3] = {&dx->dl, &dw->dl, &bad->dl};
        CHECK(test_call_tensors(f->fn, mismatch, 3) != 0);
        CHECK_MSG(strstr(mlcc_last_error(), "shapes do not match") != NULL, "%s", mlcc_last_error());
        DLTensor *types[3] = {&dx->dl, &dx->dl, &dy->dl};
        CHECK(test_call_tensors(f->fn, types, 3) != 0);
        CHECK_MSG(strstr(mlcc_last_error(), "float16 w") != NULL, "%s", mlcc_last_error());
        DLTensor host = test_tensor(xh, kDLFloat, 32, 2, (int64_t[]){2, 16});
        DLTensor *where[3] = {&host, &dw->dl, &dy->dl};
        CHECK(test_call_tensors(f->fn, where, 3) != 0);
        CHECK_MSG(strstr(mlcc_last_error(), "one Vulkan device") != NULL, "%s", mlcc_last_error());
    }
    mlcc_ndarray_release(dx), mlcc_ndarray_release(dw), mlcc_ndarray_release(dy), mlcc_ndarray_release(bad);
}

int main(void) {
    setenv("MLCC_VULKAN_PROFILE", "1", 1); /* before the device is created */
    if (!mlcc_vulkan_available()) TEST_SKIP("%s", mlcc_vulkan_status());
    if (!mlcc_glsl_compiler_available()) TEST_SKIP("%s", mlcc_glsl_compiler_status());
    if (!mlcc_vulkan_has_float16(0)) TEST_SKIP("vulkan:0 has no float16 storage (the scalar kernel needs it)");
    test_rng_seed(7);
    check_linear(1, 37, 64, 0, "linear_f16_gemv_r1");
    check_linear(5, 37, 64, 0, "linear_f16_gemv_r4");   /* 4 + 1 */
    check_linear(16, 130, 520, 0, "linear_f16_gemv_r16"); /* 520 / 8 = 65 uvec4: the 4-way loop and a tail */
    check_linear(15, 9, 1032, 0, "linear_f16_gemv_r2");   /* 8 + 4 + 2 + 1 */
    check_linear(17, 130, 40, 0, "linear_f16_gemm_tiled");
    check_linear(70, 67, 64, 0, "linear_f16_gemm_tiled");
    check_linear(3, 20, 36, 0, "linear_f16_gemv_scalar");  /* in % 8 != 0 */
    check_linear(20, 20, 64, 1, "linear_f16_gemv_scalar"); /* x at a 4-byte offset */
    check_packed_errors();
    mlcc_vulkan_synchronize(0);
    return test_finish();
}
