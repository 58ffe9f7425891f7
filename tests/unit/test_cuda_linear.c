/* test_cuda_linear.c - the CUDA library dispatch of float16-weight projections (issue 17):
 *   - the dispatch pass turns `linear(x, dequantize(w16))` into call_dps_packed
 *     mlcc.cuda.linear_f16 in the cuda build (not in the C build, nor with MLCC_CUDA_DISPATCH=0);
 *   - the kernels of runtime/cuda_linear.c compile with NVRTC for sm_90, with 16-byte loads;
 *   - on a GPU: mlcc_cuda_linear_f16 against a float64 reference on fresh random inputs at odd
 *     sizes, through the GEMV (every variant, 1..16 rows, forced with MLCC_CUDA_GEMV_ROWS=16;
 *     relative 1e-5 of sum |x w|) and cuBLASLt (x rounded to float16: 2e-3 of sum |x w|; the
 *     default from 3 rows), every output written (poisoned with NaN first); and the compiled
 *     graph on cuda:0 against the CPU build at several row counts (5e-3 from 3 rows);
 *   - fuse_gemv: a decode function's RMSNorm and silu * up go into the gate_up projection
 *     (mlcc.cuda.linear_f16_norm_silu); on a GPU, mlcc_cuda_linear_f16_fused against float64
 *     (the GEMV and the kernels-apart paths; silu * up with a float32 or a half y, decode's
 *     half activations) and such a module against the CPU build, with and without
 *     MLCC_CUDA_HALF_DECODE=0.
 * Without NVRTC it skips; without a GPU the NVRTC and dispatch checks run, then it skips. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/build.h"
#include "ir/block_builder.h"
#include "op/op.h"
#include "runtime/cuda.h"
#include "runtime/cuda_skinny.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"

enum { IN = 72, OUT = 48, BOUND = 64 };

static mlcc_ir_module *build_module(void) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(IN), NULL));
    rx_expr *w = rx_var("w", rx_sinfo_tensor_v(DT_F16, ir_int(OUT), ir_int(IN), NULL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", (rx_expr *[]){x, w}, 2);
    rx_attrs none = {NULL, 0};
    bb_set_function_attrs(bb, rx_attrs_set_int(none, "var_upper_bound:n", BOUND));
    bb_begin_dataflow(bb);
    rx_expr *w32 = bb_emit(bb, op_dequantize(w, NULL, 0, 0, 0, IN), "w32");
    rx_expr *y = bb_emit(bb, op_linear(x, w32), "y");
    rx_expr *out = bb_emit_output(bb, op_unary("nn.silu", y), "out");
    bb_end_dataflow(bb);
    CHECK_MSG(bb_end_function(bb, out) != NULL, "%s", bb_error(bb));
    bb_free(bb);
    return mod;
}

/* out = add(r, linear(x, dequantize(w))) (shared: times the projection again, so the projection
 * has a second reader and stays a call of its own) */
static mlcc_ir_module *build_add_module(int shared) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(IN), NULL));
    rx_expr *w = rx_var("w", rx_sinfo_tensor_v(DT_F16, ir_int(OUT), ir_int(IN), NULL));
    rx_expr *r = rx_var("r", rx_sinfo_tensor_v(DT_F32, n, ir_int(OUT), NULL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", (rx_expr *[]){x, w, r}, 3);
    rx_attrs none = {NULL, 0};
    bb_set_function_attrs(bb, rx_attrs_set_int(none, "var_upper_bound:n", BOUND));
    bb_begin_dataflow(bb);
    rx_expr *w32 = bb_emit(bb, op_dequantize(w, NULL, 0, 0, 0, IN), "w32");
    rx_expr *y = bb_emit(bb, op_linear(x, w32), "y");
    rx_expr *h = bb_emit(bb, op_add(r, y), "h");
    rx_expr *out = bb_emit_output(bb, shared ? op_binary("multiply", h, y) : op_unary("nn.silu", h), "out");
    bb_end_dataflow(bb);
    CHECK_MSG(bb_end_function(bb, out) != NULL, "%s", bb_error(bb));
    bb_free(bb);
    return mod;
}

static void check_add_dispatch(mlcc_ir_module *fused, mlcc_ir_module *shared) {
    char *src = mlcc_build_source_target(fused, NULL, "cuda");
    CHECK_MSG(src && strstr(src, "mlcc.cuda.linear_f16_add") != NULL, "the residual add is not folded: %s",
              src ? "" : mlcc_last_error());
    free(src);
    src = mlcc_build_source_target(shared, NULL, "cuda");
    CHECK_MSG(src && strstr(src, "mlcc.cuda.linear_f16") != NULL && strstr(src, "mlcc.cuda.linear_f16_add") == NULL,
              "a projection read twice was folded into its add");
    free(src);
    setenv("MLCC_CUDA_FUSE_ADD", "0", 1);
    src = mlcc_build_source_target(fused, NULL, "cuda");
    CHECK(src && strstr(src, "mlcc.cuda.linear_f16") != NULL && strstr(src, "mlcc.cuda.linear_f16_add") == NULL);
    free(src);
    unsetenv("MLCC_CUDA_FUSE_ADD");
    src = mlcc_build_source_target(fused, NULL, "vulkan");
    CHECK(src && strstr(src, "linear_f16_add") == NULL);
    free(src);
}

enum { HID = 40 }; /* the MLP module's intermediate width (gate_up: 2 * HID) */

/* out = add(r, linear(silu(gu[:, :HID]) * gu[:, HID:], w2)), gu = linear(rms_norm(x, gamma), w1):
 * a decoder layer's MLP; shared: the norm is read again (out also adds columns of it), so it
 * stays a kernel and only silu * up goes into its projection. `name`: the function's name. */
static mlcc_ir_module *build_mlp_module(const char *name, int shared) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(IN), NULL));
    rx_expr *gamma = rx_var("gamma", rx_sinfo_tensor_v(DT_F32, ir_int(IN), NULL));
    rx_expr *w1 = rx_var("w1", rx_sinfo_tensor_v(DT_F16, ir_int(2 * HID), ir_int(IN), NULL));
    rx_expr *w2 = rx_var("w2", rx_sinfo_tensor_v(DT_F16, ir_int(OUT), ir_int(HID), NULL));
    rx_expr *r = rx_var("r", rx_sinfo_tensor_v(DT_F32, n, ir_int(OUT), NULL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, name, (rx_expr *[]){x, gamma, w1, w2, r}, 5);
    rx_attrs none = {NULL, 0};
    bb_set_function_attrs(bb, rx_attrs_set_int(none, "var_upper_bound:n", BOUND));
    bb_begin_dataflow(bb);
    rx_expr *h = bb_emit(bb, op_rms_norm(x, gamma, 1e-5), "h");
    rx_expr *gu = bb_emit(bb, op_linear(h, bb_emit(bb, op_dequantize(w1, NULL, 0, 0, 0, IN), "w1_32")), "gu");
    int64_t axis = 1, b0 = 0, e0 = HID, b1 = HID, e1 = 2 * HID;
    rx_expr *g = bb_emit(bb, op_strided_slice(gu, &axis, &b0, &e0, NULL, 1), "g");
    rx_expr *u = bb_emit(bb, op_strided_slice(gu, &axis, &b1, &e1, NULL, 1), "u");
    rx_expr *m = bb_emit(bb, op_multiply(bb_emit(bb, op_unary("nn.silu", g), "act"), u), "m");
    rx_expr *y = bb_emit(bb, op_linear(m, bb_emit(bb, op_dequantize(w2, NULL, 0, 0, 0, HID), "w2_32")), "y");
    rx_expr *out = op_add(r, y);
    if (shared) {
        int64_t c0 = 0, c1 = OUT;
        out = op_add(bb_emit(bb, out, "sum"), bb_emit(bb, op_strided_slice(h, &axis, &c0, &c1, NULL, 1), "hs"));
    }
    out = bb_emit_output(bb, out, "out");
    bb_end_dataflow(bb);
    CHECK_MSG(bb_end_function(bb, out) != NULL, "%s", bb_error(bb));
    bb_free(bb);
    return mod;
}

/* out = linear(rms_norm(x, gamma), w): a qkv projection */
static mlcc_ir_module *build_norm_module(void) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(IN), NULL));
    rx_expr *gamma = rx_var("gamma", rx_sinfo_tensor_v(DT_F32, ir_int(IN), NULL));
    rx_expr *w = rx_var("w", rx_sinfo_tensor_v(DT_F16, ir_int(OUT), ir_int(IN), NULL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "decode", (rx_expr *[]){x, gamma, w}, 3);
    bb_begin_dataflow(bb);
    rx_expr *h = bb_emit(bb, op_rms_norm(x, gamma, 1e-6), "h");
    rx_expr *out = bb_emit_output(bb, op_linear(h, bb_emit(bb, op_dequantize(w, NULL, 0, 0, 0, IN), "w32")), "out");
    bb_end_dataflow(bb);
    CHECK_MSG(bb_end_function(bb, out) != NULL, "%s", bb_error(bb));
    bb_free(bb);
    return mod;
}

/* fuse_gemv: silu * up goes into the gate_up projection, its norm too with
 * MLCC_CUDA_FUSE_GEMV_NORM_SILU=1 (linear_f16_norm_silu), and a norm into any other projection
 * (linear_f16_norm); not in a prefill function, nor with MLCC_CUDA_FUSE_GEMV=0; a norm read
 * elsewhere too stays a kernel */
static void check_fuse_gemv(mlcc_ir_module *decode, mlcc_ir_module *prefill, mlcc_ir_module *shared) {
    mlcc_ir_module *norm = build_norm_module();
    char *src = mlcc_build_source_target(norm, NULL, "cuda");
    CHECK_MSG(src && strstr(src, "mlcc.cuda.linear_f16_norm") && !strstr(src, "rms_norm"), "the norm was not fused: %s",
              src ? "" : mlcc_last_error());
    free(src);
    src = mlcc_build_source_target(decode, NULL, "cuda");
    CHECK_MSG(src && strstr(src, "mlcc.cuda.linear_f16_silu") && !strstr(src, "linear_f16_norm") && strstr(src, "rms_norm"),
              "silu * up was not fused (or its norm was, by default): %s", src ? "" : mlcc_last_error());
    free(src);
    setenv("MLCC_CUDA_FUSE_GEMV_NORM_SILU", "1", 1);
    src = mlcc_build_source_target(decode, NULL, "cuda");
    unsetenv("MLCC_CUDA_FUSE_GEMV_NORM_SILU");
    CHECK_MSG(src && strstr(src, "mlcc.cuda.linear_f16_norm_silu") &&
                  test_count_substr(src, "mlcc.cuda.linear_f16") ==
                      test_count_substr(src, "mlcc.cuda.linear_f16_norm_silu") + test_count_substr(src, "mlcc.cuda.linear_f16_add"),
              "the norm and silu * up were not fused: %s", src ? "" : mlcc_last_error());
    free(src);
    src = mlcc_build_source_target(prefill, NULL, "cuda");
    CHECK_MSG(src && !strstr(src, "linear_f16_norm") && !strstr(src, "linear_f16_silu"), "a prefill function's norm was fused");
    free(src);
    src = mlcc_build_source_target(shared, NULL, "cuda");
    CHECK_MSG(src && !strstr(src, "linear_f16_norm") && strstr(src, "mlcc.cuda.linear_f16_silu"),
              "a norm with another reader was fused, or silu * up was not");
    free(src);
    setenv("MLCC_CUDA_FUSE_GEMV", "0", 1);
    src = mlcc_build_source_target(decode, NULL, "cuda");
    CHECK(src && !strstr(src, "linear_f16_norm") && !strstr(src, "linear_f16_silu") && strstr(src, "mlcc.cuda.linear_f16_add"));
    free(src);
    src = mlcc_build_source_target(norm, NULL, "cuda");
    CHECK(src && !strstr(src, "linear_f16_norm"));
    free(src);
    unsetenv("MLCC_CUDA_FUSE_GEMV");
}

static void check_dispatch(mlcc_ir_module *mod) {
    char *src = mlcc_build_source_target(mod, NULL, "cuda");
    CHECK_MSG(src != NULL, "%s", mlcc_last_error());
    CHECK(src && strstr(src, "mlcc.cuda.linear_f16") != NULL);
    free(src);
    src = mlcc_build_source_target(mod, NULL, "c");
    CHECK(src && strstr(src, "mlcc.cuda.linear_f16") == NULL);
    free(src);
    setenv("MLCC_CUDA_DISPATCH", "0", 1);
    src = mlcc_build_source_target(mod, NULL, "cuda");
    CHECK(src && strstr(src, "mlcc.cuda.linear_f16") == NULL);
    free(src);
    unsetenv("MLCC_CUDA_DISPATCH");
}

static void check_nvrtc(void) {
    char *ptx = NULL;
    CHECK_MSG(mlcc_nvrtc_compile_ptx(mlcc_cuda_linear_kernel_source(), 90, &ptx) == 0, "%s", mlcc_last_error());
    CHECK(ptx && strstr(ptx, ".entry mlcc_gemv_f16w_8") != NULL);
    CHECK_MSG(ptx && strstr(ptx, "ld.global.nc.v4") != NULL, "the GEMV's weight loads are not 16 bytes wide");
    free(ptx);
    ptx = NULL; /* the skinny matmul: mma.sync, cp.async */
    CHECK_MSG(mlcc_nvrtc_compile_ptx(mlcc_cuda_skinny_kernel_source(), 90, &ptx) == 0, "%s", mlcc_last_error());
    CHECK(ptx && strstr(ptx, ".entry mlcc_skinny4_f16_4_1") != NULL && strstr(ptx, ".entry mlcc_skinny8_f16_1_0") != NULL);
    CHECK(ptx && strstr(ptx, ".entry mlcc_skinny_reduce") != NULL);
    CHECK(ptx && strstr(ptx, "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32") != NULL);
    CHECK(ptx && strstr(ptx, "cp.async.cg.shared.global") != NULL);
    free(ptx);
    printf("%s\n", mlcc_cublaslt_status());
}

/* A byte array of nbytes on cuda:0 holding host (or uninitialised when host is NULL). */
static MLCCNDArray *on_device(const void *host, size_t nbytes) {
    MLCCNDArray *a = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)nbytes}, (DLDataType){kDLUInt, 8, 1}, (DLDevice){kDLCUDA, 0});
    CHECK_MSG(a && (!host || mlcc_ndarray_copy_from_bytes(a, host, nbytes) == 0), "%s", mlcc_last_error());
    return a;
}

/* The largest error of y [rows, out] against x @ w^T (+ res when not NULL) in float64, relative
 * to sum |x w| (+ |res|) per output; a NaN in y counts as infinite. */
static double linear_error(const float *x, const uint16_t *w, const float *res, const float *y, int64_t rows, int64_t out,
                           int64_t in) {
    double worst = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < out; o++) {
            double ref = res ? res[r * out + o] : 0, mag = 1e-30 + fabs(ref);
            for (int64_t k = 0; k < in; k++) {
                double p = (double)x[r * in + k] * mlcc_f16_to_f32(w[o * in + k]);
                ref += p, mag += fabs(p);
            }
            double e = fabs(y[r * out + o] - ref) / mag;
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
    return worst;
}

/* y = x @ w^T (+ r when residual: mlcc_cuda_linear_f16_add; r_offset floats into its buffer, 1
 * for a residual the epilogue cannot take) for rows x out x in against float64; tol is
 * relative to sum |x w| (+ |r|) per output. */
static void check_linear_add(int64_t rows, int64_t out, int64_t in, double tol, int residual, int r_offset) {
    float *x = malloc(sizeof(float) * (size_t)(rows * in)), *y = malloc(sizeof(float) * (size_t)(rows * out));
    uint16_t *w = malloc(sizeof(uint16_t) * (size_t)(out * in));
    for (int64_t i = 0; i < rows * in; i++) x[i] = test_rand_float();
    for (int64_t i = 0; i < out * in; i++) w[i] = mlcc_f32_to_f16(test_rand_float());
    size_t ybytes = sizeof(float) * (size_t)(rows * out);
    MLCCNDArray *dx = on_device(x, sizeof(float) * (size_t)(rows * in)), *dw = on_device(w, sizeof(uint16_t) * (size_t)(out * in));
    MLCCNDArray *dy = on_device(NULL, ybytes);
    float *res = malloc(ybytes + sizeof(float) * (size_t)r_offset);
    for (int64_t i = 0; i < rows * out + r_offset; i++) res[i] = 4 * test_rand_float();
    MLCCNDArray *dr = residual ? on_device(res, ybytes + sizeof(float) * (size_t)r_offset) : NULL;
    const float *r = residual ? (const float *)dr->dl.data + r_offset : NULL, *rh = res + r_offset;
    CHECK_EQ_INT(mlcc_cuda_memset(0, dy->dl.data, 0xff, ybytes), 0); /* NaN */
    int rc = residual ? mlcc_cuda_linear_f16_add(0, dx->dl.data, dw->dl.data, r, dy->dl.data, rows, out, in)
                      : mlcc_cuda_linear_f16(0, dx->dl.data, dw->dl.data, dy->dl.data, rows, out, in);
    CHECK_MSG(rc == 0, "%lld x %lld x %lld: %s", (long long)rows, (long long)out, (long long)in, mlcc_last_error());
    CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dy, y, ybytes), 0);
    double worst = linear_error(x, w, residual ? rh : NULL, y, rows, out, in);
    CHECK_MSG(worst <= tol, "%lld x %lld x %lld: error %g of sum |x w| (tolerance %g)", (long long)rows, (long long)out,
              (long long)in, worst, tol);
    printf("linear_f16%s %lld x %lld x %lld: %.3g\n", residual ? (r_offset ? "_add (unaligned r)" : "_add") : "",
           (long long)rows, (long long)out, (long long)in, worst);
    mlcc_ndarray_release(dx), mlcc_ndarray_release(dw), mlcc_ndarray_release(dy), mlcc_ndarray_release(dr);
    free(x), free(y), free(w), free(res);
}

/* mlcc_cuda_linear_f16_mixed with a float16 x (x_half; the reference uses the same rounded x)
 * and/or a float16 y (y_half: the tolerance includes y's rounding, 2^-11 of |y| <= sum |x w|),
 * plus a residual r when r_kind is 1 (float32) or 2 (float16, the reference reads it rounded),
 * r_offset elements into its buffer (1: not aligned for cuBLASLt's C): prefill's half
 * activations and half residual stream (transform/half_activations.c) through the GEMV (1-2
 * rows) and cuBLASLt paths, where a residual of the other dtype than y's, or a float16 one not
 * aligned, is copied into y first. */
static void check_linear_mixed(int64_t rows, int64_t out, int64_t in, int x_half, int y_half, int r_kind, int r_offset,
                               double tol) {
    size_t nx = (size_t)(rows * in), ny = (size_t)(rows * out), rsize = r_kind == 2 ? 2 : 4;
    float *x = malloc(sizeof(float) * nx), *y = malloc(sizeof(float) * ny), *res = malloc(sizeof(float) * (ny + 1));
    uint16_t *x16 = malloc(2 * nx), *w = malloc(sizeof(uint16_t) * (size_t)(out * in)), *y16 = malloc(2 * ny);
    uint16_t *r16 = malloc(2 * (ny + 1));
    for (size_t i = 0; i < nx; i++) {
        x16[i] = mlcc_f32_to_f16(test_rand_float());
        x[i] = x_half ? mlcc_f16_to_f32(x16[i]) : test_rand_float();
    }
    for (int64_t i = 0; i < out * in; i++) w[i] = mlcc_f32_to_f16(test_rand_float());
    for (size_t i = 0; i < ny + 1; i++) {
        res[i] = 4 * test_rand_float();
        r16[i] = mlcc_f32_to_f16(res[i]);
        if (r_kind == 2) res[i] = mlcc_f16_to_f32(r16[i]);
    }
    MLCCNDArray *dx = x_half ? on_device(x16, 2 * nx) : on_device(x, sizeof(float) * nx);
    MLCCNDArray *dw = on_device(w, sizeof(uint16_t) * (size_t)(out * in)), *dy = on_device(NULL, (y_half ? 2 : 4) * ny);
    MLCCNDArray *dr = r_kind == 1 ? on_device(res, 4 * (ny + 1)) : r_kind == 2 ? on_device(r16, 2 * (ny + 1)) : NULL;
    CHECK_EQ_INT(mlcc_cuda_memset(0, dy->dl.data, 0xff, (y_half ? 2 : 4) * ny), 0); /* NaN */
    const void *r = dr ? (const char *)dr->dl.data + rsize * (size_t)r_offset : NULL;
    int rc = mlcc_cuda_linear_f16_mixed(0, dx->dl.data, x_half, dw->dl.data, r, r_kind == 2, dy->dl.data, y_half, rows, out, in);
    CHECK_MSG(rc == 0, "mixed %lld x %lld x %lld: %s", (long long)rows, (long long)out, (long long)in, mlcc_last_error());
    if (y_half) {
        CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dy, y16, 2 * ny), 0);
        for (size_t i = 0; i < ny; i++) y[i] = mlcc_f16_to_f32(y16[i]);
    } else {
        CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dy, y, 4 * ny), 0);
    }
    static const char *const r_names[] = {"", " + r", " + r half"};
    double worst = linear_error(x, w, r_kind ? res + r_offset : NULL, y, rows, out, in);
    CHECK_MSG(worst <= tol, "mixed (x %s, y %s%s%s) %lld x %lld x %lld: error %g of sum |x w| (tolerance %g)",
              x_half ? "half" : "float", y_half ? "half" : "float", r_names[r_kind], r_offset ? " misaligned" : "",
              (long long)rows, (long long)out, (long long)in, worst, tol);
    printf("linear_f16 x %s, y %s%s%s %lld x %lld x %lld: %.3g\n", x_half ? "half" : "float", y_half ? "half" : "float",
           r_names[r_kind], r_offset ? " (misaligned)" : "", (long long)rows, (long long)out, (long long)in, worst);
    mlcc_ndarray_release(dx), mlcc_ndarray_release(dw), mlcc_ndarray_release(dy), mlcc_ndarray_release(dr);
    free(x), free(y), free(res), free(x16), free(w), free(y16), free(r16);
}

static void check_linear(int64_t rows, int64_t out, int64_t in, double tol) {
    check_linear_add(rows, out, in, tol, 0, 0);
}

/* mlcc_cuda_linear_f16_fused against float64: x = rms_norm(a, gamma, eps) when norm (else a),
 * g = x @ w^T, y = silu(g[:, :out/2]) * g[:, out/2:] when silu (else g). The error is relative
 * to the magnitude of the float64 sums (sum |x w|, and for silu * up |silu(gate)| * sum |x w_up|
 * + |up| * sum |x w_gate|, which bounds what rounding the sums can do to y). The GEMV does it
 * all at 1-2 rows with K % 8 == 0; other calls run the norm and the silu * up apart (x and g in
 * float16 for cuBLASLt: tol 2e-3). y_half (silu only): y is stored as half (decode's half
 * activations), which adds its rounding, 2^-11 of |y| <= the magnitude, to the tolerance. */
static void check_fused(int norm, int silu, int y_half, int64_t rows, int64_t out, int64_t in, double tol) {
    int64_t cols = silu ? out / 2 : out;
    float *a = malloc(sizeof(float) * (size_t)(rows * in)), *gamma = malloc(sizeof(float) * (size_t)in);
    float *y = malloc(sizeof(float) * (size_t)(rows * cols)), eps = 1e-5f;
    double *x = malloc(sizeof(double) * (size_t)in), *g = malloc(sizeof(double) * (size_t)out), *mag = malloc(sizeof(double) * (size_t)out);
    uint16_t *w = malloc(sizeof(uint16_t) * (size_t)(out * in));
    for (int64_t i = 0; i < rows * in; i++) a[i] = 3 * test_rand_float();
    for (int64_t i = 0; i < in; i++) gamma[i] = 1 + test_rand_float();
    for (int64_t i = 0; i < out * in; i++) w[i] = mlcc_f32_to_f16(test_rand_float());
    MLCCNDArray *da = on_device(a, sizeof(float) * (size_t)(rows * in)), *dg = on_device(gamma, sizeof(float) * (size_t)in);
    MLCCNDArray *de = on_device(&eps, sizeof eps), *dw = on_device(w, sizeof(uint16_t) * (size_t)(out * in));
    size_t ysize = y_half ? 2 : 4, ny = (size_t)(rows * cols);
    MLCCNDArray *dy = on_device(NULL, ysize * ny);
    CHECK_EQ_INT(mlcc_cuda_memset(0, dy->dl.data, 0xff, ysize * ny), 0); /* NaN */
    mlcc_linear_fusion f = {norm ? dg->dl.data : NULL, norm ? de->dl.data : NULL, silu};
    int rc = mlcc_cuda_linear_f16_fused(0, &f, da->dl.data, dw->dl.data, dy->dl.data, y_half, rows, out, in);
    const char *what = norm && silu ? y_half ? "rms_norm, silu * up, y half" : "rms_norm, silu * up"
                       : norm       ? "rms_norm"
                       : y_half     ? "silu * up, y half"
                                    : "silu * up";
    CHECK_MSG(rc == 0, "%s %lld x %lld x %lld: %s", what, (long long)rows, (long long)out, (long long)in, mlcc_last_error());
    if (y_half) {
        uint16_t *y16 = malloc(2 * ny);
        CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dy, y16, 2 * ny), 0);
        for (size_t i = 0; i < ny; i++) y[i] = mlcc_f16_to_f32(y16[i]);
        free(y16);
        tol += 5e-4;
    } else {
        CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dy, y, 4 * ny), 0);
    }
    double worst = 0;
    for (int64_t r = 0; r < rows; r++) {
        double ss = 0;
        for (int64_t k = 0; k < in; k++) ss += (double)a[r * in + k] * a[r * in + k];
        double scale = norm ? 1 / sqrt(ss / (double)in + eps) : 1;
        for (int64_t k = 0; k < in; k++) x[k] = a[r * in + k] * (norm ? scale * gamma[k] : 1);
        for (int64_t o = 0; o < out; o++) {
            g[o] = 0, mag[o] = 1e-30;
            for (int64_t k = 0; k < in; k++) g[o] += x[k] * mlcc_f16_to_f32(w[o * in + k]), mag[o] += fabs(x[k] * mlcc_f16_to_f32(w[o * in + k]));
        }
        for (int64_t o = 0; o < cols; o++) {
            double want = g[o], m = mag[o];
            if (silu) {
                double sg = g[o] / (1 + exp(-g[o])), up = g[cols + o];
                want = sg * up, m = fabs(sg) * mag[cols + o] + fabs(up) * mag[o] + 1e-30;
            }
            double e = fabs(y[r * cols + o] - want) / m;
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
    }
    CHECK_MSG(worst <= tol, "linear_f16 with %s %lld x %lld x %lld: error %g (tolerance %g)", what, (long long)rows, (long long)out,
              (long long)in, worst, tol);
    printf("linear_f16 with %s %lld x %lld x %lld: %.3g\n", what, (long long)rows, (long long)out, (long long)in, worst);
    mlcc_ndarray_release(da), mlcc_ndarray_release(dg), mlcc_ndarray_release(de), mlcc_ndarray_release(dw);
    mlcc_ndarray_release(dy);
    free(a), free(gamma), free(y), free(x), free(g), free(mag), free(w);
}

/* every fusion at 1-2 rows (the GEMV: one and several blocks' worth of outputs, a tail block,
 * K = 13 without 16-byte loads) and at 3 and 64 rows (kernels apart, cuBLASLt); silu * up with
 * a float32 and a half y */
static void check_fusions(void) {
    static const int64_t shapes[][3] = {{1, 38, 64}, {2, 300, 520}, {1, 2200, 4096}, {2, 1102, 1024}, {1, 100, 13},
                                        {2, 22, 36}, {3, 100, 72}, {64, 512, 256}, {5, 34, 13}, {1, 1058, 64}};
    for (int k = 1; k <= 3; k++)
        for (int y_half = 0; y_half <= (k >> 1); y_half++)
            for (int i = 0; i < 10; i++)
                check_fused(k & 1, k >> 1, y_half, shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][0] <= 2 ? 1e-5 : 2e-3);
    setenv("MLCC_CUDA_GEMV_ROWS", "16", 1); /* 3..16 rows: x normed in float32 for the GEMV */
    check_fused(1, 0, 0, 5, 33, 16, 1e-5);
    check_fused(1, 1, 0, 9, 40, 24, 1e-5);
    check_fused(1, 1, 1, 9, 40, 24, 1e-5);
    unsetenv("MLCC_CUDA_GEMV_ROWS");
    /* a half y is taken after silu * up only */
    mlcc_linear_fusion f = {NULL, NULL, 0};
    CHECK(mlcc_cuda_linear_f16_fused(0, &f, NULL, NULL, NULL, 1, 1, 8, 8) != 0 && strstr(mlcc_last_error(), "silu"));
}

/* The MLP module compiled for cuda:0 against the CPU build, at decode's row counts and more;
 * norm_silu: with MLCC_CUDA_FUSE_GEMV_NORM_SILU=1. half_decode: silu * up is rounded to half for
 * the down projection (transform/half_activations.c's decode rule, the default), which at 1-2
 * rows allows 1e-3 (2^-11 of each value of m through the down sums); with
 * MLCC_CUDA_HALF_DECODE=0 the 1-2 row GEMVs keep float32 throughout (1e-4). */
static void check_mlp_graph(mlcc_ir_module *mod, int norm_silu, int half_decode) {
    if (norm_silu) setenv("MLCC_CUDA_FUSE_GEMV_NORM_SILU", "1", 1);
    if (!half_decode) setenv("MLCC_CUDA_HALF_DECODE", "0", 1);
    MLCCVM *cpu = mlcc_build_vm(mod, NULL), *gpu = mlcc_build_vm_target(mod, NULL, "cuda");
    unsetenv("MLCC_CUDA_FUSE_GEMV_NORM_SILU");
    unsetenv("MLCC_CUDA_HALF_DECODE");
    CHECK_MSG(cpu && gpu, "%s", mlcc_last_error());
    int64_t ns[] = {1, 2, 3, 17};
    for (int i = 0; cpu && gpu && i < 4; i++) {
        /* x, gamma, w1, w2, r */
        int64_t shapes[5][2] = {{ns[i], IN}, {IN, 1}, {2 * HID, IN}, {OUT, HID}, {ns[i], OUT}};
        int ndims[5] = {2, 1, 2, 2, 2};
        DLDataType f16 = {kDLFloat, 16, 1}, types[5] = {MLCC_DTYPE_F32, MLCC_DTYPE_F32, f16, f16, MLCC_DTYPE_F32};
        MLCCNDArray *host[5], *dev[5];
        for (int j = 0; j < 5; j++) {
            int64_t count = shapes[j][0] * (ndims[j] == 2 ? shapes[j][1] : 1);
            float *v = malloc(sizeof(float) * (size_t)count);
            uint16_t *h = malloc(sizeof(uint16_t) * (size_t)count);
            for (int64_t k = 0; k < count; k++) {
                v[k] = j == 1 ? 1 + test_rand_float() : 2 * test_rand_float(); /* gamma around 1 */
                h[k] = mlcc_f32_to_f16(v[k]);
            }
            const void *bytes = types[j].bits == 16 ? (const void *)h : (const void *)v;
            host[j] = test_ndarray_from(ndims[j], shapes[j], types[j], MLCC_CPU, bytes);
            dev[j] = test_ndarray_from(ndims[j], shapes[j], types[j], (DLDevice){kDLCUDA, 0}, bytes);
            CHECK_MSG(host[j] && dev[j], "%s", mlcc_last_error());
            free(v), free(h);
        }
        MLCCNDArray *want = test_vm_main(cpu, host, 5), *got = want ? test_vm_main(gpu, dev, 5) : NULL;
        CHECK_MSG(want && got, "MLP graph n=%lld: %s", (long long)ns[i], mlcc_last_error());
        if (want && got) {
            double err = test_ndarray_rel_error(got, want);
            CHECK_MSG(err < (ns[i] > 2 ? 5e-3 : half_decode ? 1e-3 : 1e-4), "MLP graph n=%lld%s: cuda vs cpu %g", (long long)ns[i],
                      half_decode ? "" : " (float32 decode)", err);
            printf("MLP graph n=%lld%s: cuda vs cpu %.3g\n", (long long)ns[i], half_decode ? "" : " (float32 decode)", err);
        }
        mlcc_ndarray_release(want), mlcc_ndarray_release(got);
        for (int j = 0; j < 5; j++) mlcc_ndarray_release(host[j]), mlcc_ndarray_release(dev[j]);
    }
    mlcc_vm_free(cpu), mlcc_vm_free(gpu);
}

/* The skinny tensor-core matmul (MLCC_CUDA_SKINNY=1: 3..64 rows) against float64: rows that
 * are not multiples of 16, outputs that are not multiples of the 128-output tile, K that is not
 * a multiple of the 64-k stage, with and without split-K (small out, long K), x read as float32
 * and rounded to half first, with a residual (also one the cuBLASLt epilogue could not take);
 * and a split call twice, bit for bit (the splits are summed in a fixed order). */
static void check_skinny(void) {
    static const int64_t shapes[][3] = {{3, 100, 72},     {9, 130, 96},      {16, 200, 136},  {17, 7, 13},
                                        {33, 1000, 4104}, {50, 4099, 512},   {64, 512, 256},  {64, 300, 14336},
                                        {63, 129, 4096},  {20, 2000, 2056},  {64, 4096, 1024}};
    setenv("MLCC_CUDA_SKINNY", "1", 1);
    for (int xf = 0; xf < 2; xf++) {
        setenv("MLCC_CUDA_SKINNY_XF32", xf ? "1" : "0", 1);
        for (int i = 0; i < 11; i++) check_linear(shapes[i][0], shapes[i][1], shapes[i][2], 2e-3);
        check_linear_add(5, 33, 16, 2e-3, 1, 0);
        check_linear_add(64, 520, 4096, 2e-3, 1, 0);
        check_linear_add(41, 700, 1032, 2e-3, 1, 1);
    }
    unsetenv("MLCC_CUDA_SKINNY_XF32");
    setenv("MLCC_CUDA_SKINNY_WAVES", "1", 1);
    check_linear(64, 300, 14336, 2e-3);
    check_linear(47, 1000, 4104, 2e-3);
    check_linear_add(30, 4099, 512, 2e-3, 1, 0);
    unsetenv("MLCC_CUDA_SKINNY_WAVES");
    setenv("MLCC_CUDA_SKINNY_WARPS", "8", 1); /* blocks of 256 outputs */
    check_linear(64, 300, 14336, 2e-3);
    check_linear(9, 1000, 4104, 2e-3);
    check_linear_add(47, 600, 2056, 2e-3, 1, 1);
    unsetenv("MLCC_CUDA_SKINNY_WARPS");
    /* split-K is deterministic: the same call twice gives the same bits */
    int64_t rows = 37, out = 1000, in = 8192;
    float *x = malloc(sizeof(float) * (size_t)(rows * in)), *y1 = malloc(sizeof(float) * (size_t)(rows * out));
    float *y2 = malloc(sizeof(float) * (size_t)(rows * out));
    uint16_t *w = malloc(sizeof(uint16_t) * (size_t)(out * in));
    for (int64_t i = 0; i < rows * in; i++) x[i] = test_rand_float();
    for (int64_t i = 0; i < out * in; i++) w[i] = mlcc_f32_to_f16(test_rand_float());
    MLCCNDArray *dx = on_device(x, sizeof(float) * (size_t)(rows * in)), *dw = on_device(w, sizeof(uint16_t) * (size_t)(out * in));
    MLCCNDArray *dy = on_device(NULL, sizeof(float) * (size_t)(rows * out));
    for (int rep = 0; rep < 2; rep++) {
        CHECK_EQ_INT(mlcc_cuda_linear_f16(0, dx->dl.data, dw->dl.data, dy->dl.data, rows, out, in), 0);
        CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dy, rep ? y2 : y1, sizeof(float) * (size_t)(rows * out)), 0);
    }
    CHECK_MSG(memcmp(y1, y2, sizeof(float) * (size_t)(rows * out)) == 0, "the split-K matmul gave other bits the second time");
    mlcc_ndarray_release(dx), mlcc_ndarray_release(dw), mlcc_ndarray_release(dy);
    free(x), free(y1), free(y2), free(w);
    unsetenv("MLCC_CUDA_SKINNY");
}

/* The compiled graph on cuda:0 against the CPU build; residual: the module takes r [n, OUT] too. */
static void check_graph(mlcc_ir_module *mod, int residual) {
    MLCCVM *cpu = mlcc_build_vm(mod, NULL), *gpu = mlcc_build_vm_target(mod, NULL, "cuda");
    CHECK_MSG(cpu && gpu, "%s", mlcc_last_error());
    int64_t ns[] = {1, 3, 8, 17, 64};
    for (int i = 0; cpu && gpu && i < 5; i++) {
        int64_t sx[2] = {ns[i], IN}, sw[2] = {OUT, IN}, sr[2] = {ns[i], OUT};
        MLCCNDArray *hr = mlcc_ndarray_empty(2, sr, MLCC_DTYPE_F32, MLCC_CPU);
        MLCCNDArray *dr = mlcc_ndarray_empty(2, sr, MLCC_DTYPE_F32, (DLDevice){kDLCUDA, 0});
        for (int64_t j = 0; j < ns[i] * OUT; j++) ((float *)hr->dl.data)[j] = test_rand_float();
        mlcc_ndarray_copy(dr, hr);
        MLCCNDArray *hx = mlcc_ndarray_empty(2, sx, MLCC_DTYPE_F32, MLCC_CPU);
        MLCCNDArray *hw = mlcc_ndarray_empty(2, sw, (DLDataType){kDLFloat, 16, 1}, MLCC_CPU);
        for (int64_t j = 0; j < ns[i] * IN; j++) ((float *)hx->dl.data)[j] = test_rand_float();
        for (int64_t j = 0; j < OUT * IN; j++) ((uint16_t *)hw->dl.data)[j] = mlcc_f32_to_f16(test_rand_float());
        MLCCNDArray *dx = mlcc_ndarray_empty(2, sx, MLCC_DTYPE_F32, (DLDevice){kDLCUDA, 0});
        MLCCNDArray *dw = mlcc_ndarray_empty(2, sw, hw->dl.dtype, (DLDevice){kDLCUDA, 0});
        mlcc_ndarray_copy(dx, hx), mlcc_ndarray_copy(dw, hw);
        MLCCValue a[3], rh, rd;
        int codes[3] = {MLCC_TYPE_OBJECT, MLCC_TYPE_OBJECT, MLCC_TYPE_OBJECT}, ch, cd, na = residual ? 3 : 2;
        a[0].v_handle = hx, a[1].v_handle = hw, a[2].v_handle = hr;
        int r1 = mlcc_vm_invoke(cpu, "main", a, codes, na, &rh, &ch);
        a[0].v_handle = dx, a[1].v_handle = dw, a[2].v_handle = dr;
        int r2 = mlcc_vm_invoke(gpu, "main", a, codes, na, &rd, &cd);
        CHECK_MSG(r1 == 0 && r2 == 0, "n=%lld: %s", (long long)ns[i], mlcc_last_error());
        if (r1 == 0 && r2 == 0) {
            MLCCNDArray *want = rh.v_handle, *got = rd.v_handle;
            double err = test_ndarray_rel_error(got, want);
            CHECK_MSG(err < (ns[i] > 2 ? 5e-3 : 1e-5), "graph%s n=%lld: cuda vs cpu %g", residual ? " (residual)" : "",
                      (long long)ns[i], err);
            printf("graph%s n=%lld: cuda vs cpu %.3g\n", residual ? " (residual)" : "", (long long)ns[i], err);
            mlcc_ndarray_release(want), mlcc_ndarray_release(got);
        }
        mlcc_ndarray_release(hx), mlcc_ndarray_release(hw), mlcc_ndarray_release(dx), mlcc_ndarray_release(dw);
        mlcc_ndarray_release(hr), mlcc_ndarray_release(dr);
    }
    mlcc_vm_free(cpu), mlcc_vm_free(gpu);
}

int main(void) {
    if (!mlcc_nvrtc_available()) TEST_SKIP("%s", mlcc_nvrtc_status());
    mlcc_ir_module *mod = build_module(), *fused = build_add_module(0), *shared = build_add_module(1);
    check_dispatch(mod);
    check_add_dispatch(fused, shared);
    mlcc_ir_module *mlp = build_mlp_module("main", 0), *mlp_prefill = build_mlp_module("batch_prefill", 0);
    mlcc_ir_module *mlp_shared = build_mlp_module("main", 1);
    check_fuse_gemv(mlp, mlp_prefill, mlp_shared);
    check_nvrtc();
    if (!mlcc_cuda_available()) {
        if (test_checks_failed) return test_finish();
        TEST_SKIP("%s", mlcc_cuda_status());
    }
    static const int64_t shapes[][3] = {{1, 37, 64}, {3, 100, 72}, {5, 33, 13}, {8, 256, 4096}, {2, 4099, 1000},
                                        {9, 130, 96}, {16, 200, 136}, {15, 64, 4096}, {64, 512, 256},
                                        {300, 1000, 4096}, {17, 7, 13}};
    setenv("MLCC_CUDA_GEMV_ROWS", "16", 1); /* every GEMV variant (1..16 rows) here; more rows: cuBLASLt */
    for (int i = 0; i < 11; i++) check_linear(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][0] <= 16 ? 1e-5 : 2e-3);
    /* the block GEMV's wider blocks (2, 4, 8 outputs: out >= 528, 1056, 2112) and several rounds over K */
    check_linear(1, 2200, 14336, 1e-5);
    check_linear(3, 1100, 4104, 1e-5);
    check_linear(13, 600, 2056, 1e-5);
    setenv("MLCC_CUDA_GEMV_BLOCK", "0", 1); /* the warp-per-output GEMV too */
    for (int i = 0; i < 11; i++)
        if (shapes[i][0] <= 16) check_linear(shapes[i][0], shapes[i][1], shapes[i][2], 1e-5);
    unsetenv("MLCC_CUDA_GEMV_BLOCK");
    unsetenv("MLCC_CUDA_GEMV_ROWS"); /* the default: the GEMV for 1 and 2 rows, cuBLASLt from 3 */
    check_linear(2, 300, 520, 1e-5);
    check_linear(3, 100, 72, 2e-3);
    check_linear(16, 200, 136, 2e-3);
    /* y = x w^T + r: the GEMV adding r as it stores (1, 2 rows), cuBLASLt's epilogue (more), and a
     * residual 4 bytes off the alignment the epilogue wants (copied into y, cuBLASLt adding in place) */
    check_linear_add(1, 37, 64, 1e-5, 1, 0);
    check_linear_add(2, 300, 520, 1e-5, 1, 1);
    check_linear_add(5, 33, 13, 2e-3, 1, 0);
    check_linear_add(64, 512, 256, 2e-3, 1, 0);
    check_linear_add(300, 1000, 4096, 2e-3, 1, 1);
    /* float16 x, y and r (prefill's half activations and half residual stream; decode's half x
     * of o_proj and down_proj, which the block GEMV reads as it is at 1-2 rows): GEMV rows 1-2,
     * cuBLASLt above; the residual in y's dtype or the other (copied into y first), aligned or not */
    int64_t mixed[][3] = {{1, 37, 64},       {2, 300, 520},   {3, 100, 72},     {64, 512, 256},
                          {256, 384, 1024}, {136, 520, 4096}, {1, 1100, 136}, {2, 4100, 4096}};
    for (int i = 0; i < 8; i++) {
        int64_t rows = mixed[i][0], out = mixed[i][1], in = mixed[i][2];
        double tol = rows <= 2 ? 1e-5 : 2e-3;
        check_linear_mixed(rows, out, in, 1, 0, 0, 0, tol);
        check_linear_mixed(rows, out, in, 1, 1, 0, 0, tol + 1e-3);
        check_linear_mixed(rows, out, in, 0, 1, 0, 0, tol + 1e-3);
        check_linear_mixed(rows, out, in, 1, 0, 1, 0, tol);
        check_linear_mixed(rows, out, in, 1, 1, 2, 0, tol + 1e-3);
        check_linear_mixed(rows, out, in, 1, 1, 1, 0, tol + 2e-3); /* r rounded into y, then y */
        check_linear_mixed(rows, out, in, 1, 0, 2, 0, tol);
        check_linear_mixed(rows, out, in, 1, 1, 2, 1, tol + 1e-3);
        check_linear_mixed(rows, out, in, 0, 0, 2, 1, tol);
    }
    check_skinny();
    check_graph(mod, 0);
    check_graph(fused, 1);
    check_graph(shared, 1);
    check_fusions();
    check_mlp_graph(mlp, 0, 1);
    check_mlp_graph(mlp, 0, 0);
    check_mlp_graph(mlp, 1, 1);
    check_mlp_graph(mlp_shared, 0, 1);
    check_mlp_graph(mlp_shared, 0, 0);
    mlcc_cuda_linear_release(0);
    CHECK_EQ_INT(mlcc_cuda_synchronize(0), 0);
    return test_finish();
}
