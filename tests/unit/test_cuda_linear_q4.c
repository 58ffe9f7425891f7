/* test_cuda_linear_q4.c - the CUDA fused dequantize-GEMV for 4-bit weights (issues 15, 17):
 *   - the dispatch pass turns `linear(x, dequantize(q_weight, q_scale))` (4 bits, groups of 32,
 *     float16 scales) into call_dps_packed mlcc.cuda.linear_q4f16 (zero point 7) or
 *     mlcc.cuda.linear_q4f16_zp8 (8) in the cuda build, and leaves other zero points and the C
 *     build alone;
 *   - the kernels of runtime/cuda_linear_q4.c compile with NVRTC for sm_90, with 16-byte loads;
 *   - on a GPU: mlcc_cuda_linear_q4 against a float64 reference built by the CPU's
 *     quant_unpack (an independent scalar decoder) on fresh random weights quantized by
 *     quant_pack, at odd sizes (in not a multiple of 32: the scalar kernel; outputs not a
 *     multiple of 4; both outputs-per-warp variants), through the GEMV (rows <= 16 here: 1e-5 of
 *     sum |x w|; the int8 GEMV, which rounds x to int8 per group of 32 with d = max|x| / 127,
 *     within sum_k |w_k| d_k / 2 more: the rounding's own bound, checked per output) and the
 *     dequantize + cuBLASLt path and the tensor-core GEMM for 9-64 rows (x and W rounded to
 *     float16: 3e-3), every
 *     output written (poisoned with NaN first); and a compiled graph on cuda:0 against the CPU
 *     build (1e-2: the CPU rounds x to int8); the gate_up GEMV with silu * up (fuse_gemv's
 *     mlcc.cuda.linear_q4f16[_zp8]_silu) against float64 silu * up over the plain GEMV's sums. Without NVRTC it skips; without a GPU the NVRTC and dispatch checks run, then it
 *     skips. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codegen/build.h"
#include "ir/block_builder.h"
#include "op/op.h"
#include "quant/scheme.h"
#include "runtime/cuda.h"
#include "runtime/cuda_gemm_q4.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"

enum { IN = 96, OUT = 40, BOUND = 64 };

static mlcc_ir_module *build_module(int zero_point) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(IN), NULL));
    rx_expr *qw = rx_var("qw", rx_sinfo_tensor_v(DT_U32, ir_int(OUT), ir_int(IN / 8), NULL));
    rx_expr *qs = rx_var("qs", rx_sinfo_tensor_v(DT_F16, ir_int(OUT), ir_int(IN / 32), NULL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "main", (rx_expr *[]){x, qw, qs}, 3);
    rx_attrs none = {NULL, 0};
    bb_set_function_attrs(bb, rx_attrs_set_int(none, "var_upper_bound:n", BOUND));
    bb_begin_dataflow(bb);
    rx_expr *w32 = bb_emit(bb, op_dequantize(qw, qs, 4, 32, zero_point, IN), "w32");
    rx_expr *y = bb_emit(bb, op_linear(x, w32), "y");
    rx_expr *out = bb_emit_output(bb, op_unary("nn.silu", y), "out");
    bb_end_dataflow(bb);
    CHECK_MSG(bb_end_function(bb, out) != NULL, "%s", bb_error(bb));
    bb_free(bb);
    return mod;
}

/* out = silu(gu[:, :OUT/2]) * gu[:, OUT/2:], gu = linear(x, dequantize(qw, qs)): a 4-bit gate_up */
static mlcc_ir_module *build_gate_up_module(int zero_point) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(IN), NULL));
    rx_expr *qw = rx_var("qw", rx_sinfo_tensor_v(DT_U32, ir_int(OUT), ir_int(IN / 8), NULL));
    rx_expr *qs = rx_var("qs", rx_sinfo_tensor_v(DT_F16, ir_int(OUT), ir_int(IN / 32), NULL));
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "batch_decode", (rx_expr *[]){x, qw, qs}, 3);
    bb_begin_dataflow(bb);
    rx_expr *gu = bb_emit(bb, op_linear(x, bb_emit(bb, op_dequantize(qw, qs, 4, 32, zero_point, IN), "w32")), "gu");
    int64_t axis = 1, b0 = 0, e0 = OUT / 2, b1 = OUT / 2, e1 = OUT;
    rx_expr *g = bb_emit(bb, op_strided_slice(gu, &axis, &b0, &e0, NULL, 1), "g");
    rx_expr *u = bb_emit(bb, op_strided_slice(gu, &axis, &b1, &e1, NULL, 1), "u");
    rx_expr *out = bb_emit_output(bb, op_multiply(bb_emit(bb, op_unary("nn.silu", g), "act"), u), "out");
    bb_end_dataflow(bb);
    CHECK_MSG(bb_end_function(bb, out) != NULL, "%s", bb_error(bb));
    bb_free(bb);
    return mod;
}

static void check_dispatch(void) {
    static const struct { int zero; const char *want; } cases[] = {
        {7, "mlcc.cuda.linear_q4f16"}, {8, "mlcc.cuda.linear_q4f16_zp8"}, {5, NULL}};
    for (int i = 0; i < 3; i++) {
        mlcc_ir_module *mod = build_module(cases[i].zero);
        char *src = mlcc_build_source_target(mod, NULL, "cuda");
        CHECK_MSG(src != NULL, "%s", mlcc_last_error());
        if (cases[i].want) CHECK_MSG(src && strstr(src, cases[i].want) != NULL, "zero point %d: no %s", cases[i].zero, cases[i].want);
        else CHECK(src && strstr(src, "mlcc.cuda.linear_q4") == NULL);
        free(src);
        src = mlcc_build_source_target(mod, NULL, "c");
        CHECK(src && strstr(src, "mlcc.cuda.linear_q4") == NULL);
        free(src);
        if (!cases[i].want) continue;
        char want[64]; /* fuse_gemv: silu * up goes into the 4-bit gate_up */
        snprintf(want, sizeof want, "%s_silu", cases[i].want);
        src = mlcc_build_source_target(build_gate_up_module(cases[i].zero), NULL, "cuda");
        CHECK_MSG(src && strstr(src, want) != NULL, "zero point %d: no %s", cases[i].zero, want);
        free(src);
    }
}

static void check_nvrtc(void) {
    char *ptx = NULL;
    CHECK_MSG(mlcc_nvrtc_compile_ptx(mlcc_cuda_linear_q4_kernel_source(), 90, &ptx) == 0, "%s", mlcc_last_error());
    CHECK(ptx && strstr(ptx, ".entry mlcc_gemv_q4_1_4") != NULL && strstr(ptx, ".entry mlcc_gemv_q4_16_1") != NULL && strstr(ptx, ".entry mlcc_dequant_q4_f16") != NULL);
    CHECK_MSG(ptx && strstr(ptx, "ld.global.nc.v4") != NULL, "the GEMV's weight loads are not 16 bytes wide");
    CHECK(ptx && strstr(ptx, ".entry mlcc_gemv_q4i_8_4") != NULL && strstr(ptx, ".entry mlcc_gemv_q4t_2_2") != NULL);
    CHECK_MSG(ptx && strstr(ptx, "ld.global.nc.L1::no_allocate.v4") != NULL && strstr(ptx, "dp4a") != NULL,
              "the int8 GEMV has no streaming 16-byte loads or no dp4a");
    free(ptx);
    ptx = NULL;
    CHECK_MSG(mlcc_nvrtc_compile_ptx(mlcc_cuda_gemm_q4_kernel_source(), 90, &ptx) == 0, "%s", mlcc_last_error());
    CHECK(ptx && strstr(ptx, ".entry mlcc_gemm_q4_1_1") != NULL && strstr(ptx, ".entry mlcc_gemm_q4_4_8") != NULL);
    CHECK_MSG(ptx && strstr(ptx, "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32") != NULL &&
                  strstr(ptx, "ld.global.nc.L1::no_allocate.v4") != NULL && strstr(ptx, "barrier.cluster") != NULL,
              "the 4-bit GEMM has no mma.sync, no streaming 16-byte loads or no cluster barrier");
    free(ptx);
}


/* Set while the int8 GEMV is on (MLCC_CUDA_Q4_DP4A unset): each output may also be off by x's
 * rounding to int8, at most sum_k |w_k| * d_k / 2 (d_k = max |x| / 127 over k's group of 32; a
 * little slack for d and 127 / max |x| being rounded floats). */
static int x_as_int8;

static double int8_rounding_bound(const float *x, const float *w, int64_t in) {
    double bound = 0;
    for (int64_t g = 0; g < in; g += 32) {
        double m = 0;
        for (int64_t k = g; k < g + 32 && k < in; k++) m = fmax(m, fabs(x[k]));
        for (int64_t k = g; k < g + 32 && k < in; k++) bound += fabs(w[k]) * m / 127 * 0.5 * 1.001;
    }
    return bound;
}

static MLCCNDArray *on_device(const void *host, size_t nbytes) {
    MLCCNDArray *a = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)nbytes}, (DLDataType){kDLUInt, 8, 1}, (DLDevice){kDLCUDA, 0});
    CHECK_MSG(a && (!host || mlcc_ndarray_copy_from_bytes(a, host, nbytes) == 0), "%s", mlcc_last_error());
    return a;
}

/* y = x @ W^T for rows x out x in with W quantized by `scheme`, against float64 over the
 * CPU's dequantized W; tol is relative to sum |x w| per output. */
static void check_linear(const char *scheme, int64_t rows, int64_t out, int64_t in, double tol) {
    const mlcc_quant_scheme *s = quant_scheme_find(scheme);
    int64_t pc = quant_packed_cols(s, in), sc = quant_scale_cols(s, in);
    float *x = malloc(sizeof(float) * (size_t)(rows * in)), *y = malloc(sizeof(float) * (size_t)(rows * out));
    float *w = malloc(sizeof(float) * (size_t)(out * in)), *wq = malloc(sizeof(float) * (size_t)(out * in));
    uint32_t *packed = malloc(sizeof(uint32_t) * (size_t)(out * pc));
    uint16_t *scales = malloc(sizeof(uint16_t) * (size_t)(out * sc));
    for (int64_t i = 0; i < rows * in; i++) x[i] = test_rand_float();
    for (int64_t i = 0; i < out * in; i++) w[i] = test_rand_float();
    quant_pack(s, w, out, in, packed, scales);
    quant_unpack(s, packed, scales, out, in, wq);
    size_t ybytes = sizeof(float) * (size_t)(rows * out);
    MLCCNDArray *dx = on_device(x, sizeof(float) * (size_t)(rows * in));
    MLCCNDArray *dq = on_device(packed, sizeof(uint32_t) * (size_t)(out * pc));
    MLCCNDArray *ds = on_device(scales, sizeof(uint16_t) * (size_t)(out * sc)), *dy = on_device(NULL, ybytes);
    CHECK_EQ_INT(mlcc_cuda_memset(0, dy->dl.data, 0xff, ybytes), 0); /* NaN */
    int rc = mlcc_cuda_linear_q4(0, dx->dl.data, dq->dl.data, ds->dl.data, dy->dl.data, rows, out, in, s->zero_point);
    CHECK_MSG(rc == 0, "%s %lld x %lld x %lld: %s", scheme, (long long)rows, (long long)out, (long long)in, mlcc_last_error());
    CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dy, y, ybytes), 0);
    double worst = 0, raw = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < out; o++) {
            double ref = 0, mag = 1e-30;
            for (int64_t k = 0; k < in; k++) {
                double p = (double)x[r * in + k] * wq[o * in + k];
                ref += p, mag += fabs(p);
            }
            double err = fabs(y[r * out + o] - ref), e = err / mag;
            if (x_as_int8 && tol < 1e-4) {
                double b = int8_rounding_bound(x + r * in, wq + o * in, in);
                e = err <= b ? 0 : (err - b) / mag;
                if (!(err / mag <= raw)) raw = err / mag;
            }
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
    CHECK_MSG(worst <= tol, "%s %lld x %lld x %lld: error %g of sum |x w| (tolerance %g)", scheme, (long long)rows,
              (long long)out, (long long)in, worst, tol);
    if (x_as_int8 && tol < 1e-4)
        printf("linear_q4 int8 x %s %lld x %lld x %lld: %.3g of sum |x w| (beyond the rounding bound: %.3g)\n", scheme,
               (long long)rows, (long long)out, (long long)in, raw, worst);
    else
        printf("linear_q4 %s %lld x %lld x %lld: %.3g\n", scheme, (long long)rows, (long long)out, (long long)in, worst);
    mlcc_ndarray_release(dx), mlcc_ndarray_release(dq), mlcc_ndarray_release(ds), mlcc_ndarray_release(dy);
    free(x), free(y), free(w), free(wq), free(packed), free(scales);
}

/* mlcc_cuda_linear_q4_silu against float64 silu(gate) * up over mlcc_cuda_linear_q4's gate_up
 * sums (checked above against float64): the int8 GEMV with silu * up for 1-2 rows (the same
 * sums, so 1e-5 of |silu(gate) * up| + 1e-6 of the largest), the GEMV or GEMM into a workspace
 * and a silu * up kernel for more; out = 2I, every output written (NaN first). */
static void check_silu(const char *scheme, int64_t rows, int64_t out, int64_t in) {
    const mlcc_quant_scheme *s = quant_scheme_find(scheme);
    int64_t pc = quant_packed_cols(s, in), sc = quant_scale_cols(s, in), half = out / 2;
    float *x = malloc(sizeof(float) * (size_t)(rows * in)), *w = malloc(sizeof(float) * (size_t)(out * in));
    float *gu = malloc(sizeof(float) * (size_t)(rows * out)), *y = malloc(sizeof(float) * (size_t)(rows * half));
    uint32_t *packed = malloc(sizeof(uint32_t) * (size_t)(out * pc));
    uint16_t *scales = malloc(sizeof(uint16_t) * (size_t)(out * sc));
    for (int64_t i = 0; i < rows * in; i++) x[i] = test_rand_float();
    for (int64_t i = 0; i < out * in; i++) w[i] = test_rand_float();
    quant_pack(s, w, out, in, packed, scales);
    MLCCNDArray *dx = on_device(x, sizeof(float) * (size_t)(rows * in));
    MLCCNDArray *dq = on_device(packed, sizeof(uint32_t) * (size_t)(out * pc));
    MLCCNDArray *ds = on_device(scales, sizeof(uint16_t) * (size_t)(out * sc));
    MLCCNDArray *dg = on_device(NULL, sizeof(float) * (size_t)(rows * out)), *dy = on_device(NULL, sizeof(float) * (size_t)(rows * half));
    CHECK_EQ_INT(mlcc_cuda_memset(0, dy->dl.data, 0xff, sizeof(float) * (size_t)(rows * half)), 0); /* NaN */
    int rc = mlcc_cuda_linear_q4(0, dx->dl.data, dq->dl.data, ds->dl.data, dg->dl.data, rows, out, in, s->zero_point);
    if (rc == 0) rc = mlcc_cuda_linear_q4_silu(0, dx->dl.data, dq->dl.data, ds->dl.data, dy->dl.data, rows, out, in, s->zero_point);
    CHECK_MSG(rc == 0, "silu %s %lld x %lld x %lld: %s", scheme, (long long)rows, (long long)out, (long long)in, mlcc_last_error());
    CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dg, gu, sizeof(float) * (size_t)(rows * out)), 0);
    CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dy, y, sizeof(float) * (size_t)(rows * half)), 0);
    double largest = 0, worst = 0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < half; o++) {
            double g = gu[r * out + o];
            largest = fmax(largest, fabs(g / (1 + exp(-g)) * gu[r * out + half + o]));
        }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < half; o++) {
            double g = gu[r * out + o], want = g / (1 + exp(-g)) * gu[r * out + half + o];
            double e = fabs(y[r * half + o] - want) / (fabs(want) + 1e-6 * largest + 1e-30);
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
    CHECK_MSG(worst <= 1e-5, "silu %s %lld x %lld x %lld: error %g", scheme, (long long)rows, (long long)out, (long long)in, worst);
    printf("linear_q4 + silu * up %s %lld x %lld x %lld: %.3g\n", scheme, (long long)rows, (long long)out, (long long)in, worst);
    mlcc_ndarray_release(dx), mlcc_ndarray_release(dq), mlcc_ndarray_release(ds), mlcc_ndarray_release(dg);
    mlcc_ndarray_release(dy);
    free(x), free(w), free(gu), free(y), free(packed), free(scales);
}

/* The tensor-core GEMM (cuda_gemm_q4.c): x and the dequantized W rounded to float16, float32
 * sums, so 3e-3 of sum |x w| as the dequantize + cuBLASLt path. Shapes: 1-4 m16 tiles with
 * ragged rows (9, 17, 33, 48, 64), outputs not a multiple of the 128-output tile, K a multiple of
 * 32 but not of a 128-value slice (96, 4128), clusters of 1-8 blocks (4096 outputs over 4096:
 * 8; 300 over 4128: 4 with a ragged last range; 40000 outputs: 1, four rounds), under 9 rows
 * when the GEMV is off, and more than 64 rows in chunks; with the weights through registers
 * (the default) and staged by cp.async (MLCC_CUDA_Q4_MMA_ASYNC=1, where in % 64 == 0). */
static void check_mma_gemm(void) {
    static const int64_t shapes[][3] = {{9, 130, 96}, {16, 4096, 4096}, {17, 300, 4128}, {33, 1000, 1024},
                                        {64, 257, 14336}, {48, 64, 32}, {24, 1100, 2048}, {57, 129, 4096},
                                        {12, 40000, 1024}};
    setenv("MLCC_CUDA_Q4_GEMV_ROWS", "0", 1);
    /* weights through registers (the default), then cp.async stages (opt-in; where in % 64 == 0) */
    for (int pass = 0; pass < 2; pass++) {
        if (pass) setenv("MLCC_CUDA_Q4_MMA_ASYNC", "1", 1);
        for (int i = 0; i < 9; i++)
            check_linear(i % 2 ? "ggml_q4_0" : "q4f16_1", shapes[i][0], shapes[i][1], shapes[i][2], 3e-3);
    }
    unsetenv("MLCC_CUDA_Q4_MMA_ASYNC");
    check_linear("q4f16_1", 1, 37, 64, 3e-3);
    check_linear("ggml_q4_0", 5, 2200, 4096, 3e-3);
    setenv("MLCC_CUDA_Q4_MMA_ROWS", "1000", 1);
    check_linear("q4f16_1", 100, 520, 256, 3e-3);
    check_linear("ggml_q4_0", 130, 136, 4096, 3e-3);
    setenv("MLCC_CUDA_Q4_MMA_ROWS", "0", 1); /* the dequantize + cuBLASLt path as before */
    check_linear("q4f16_1", 16, 300, 4096, 3e-3);
    unsetenv("MLCC_CUDA_Q4_MMA_ROWS");
    unsetenv("MLCC_CUDA_Q4_GEMV_ROWS");
}

static void check_graph(void) {
    mlcc_ir_module *mod = build_module(7);
    MLCCVM *cpu = mlcc_build_vm(mod, NULL), *gpu = mlcc_build_vm_target(mod, NULL, "cuda");
    CHECK_MSG(cpu && gpu, "%s", mlcc_last_error());
    const mlcc_quant_scheme *s = quant_scheme_find("q4f16_1");
    float *w = malloc(sizeof(float) * OUT * IN);
    for (int64_t j = 0; j < OUT * IN; j++) w[j] = test_rand_float();
    int64_t sq[2] = {OUT, IN / 8}, ss[2] = {OUT, IN / 32};
    MLCCNDArray *hq = mlcc_ndarray_empty(2, sq, (DLDataType){kDLUInt, 32, 1}, MLCC_CPU);
    MLCCNDArray *hs = mlcc_ndarray_empty(2, ss, (DLDataType){kDLFloat, 16, 1}, MLCC_CPU);
    quant_pack(s, w, OUT, IN, hq->dl.data, hs->dl.data);
    MLCCNDArray *dq = mlcc_ndarray_empty(2, sq, hq->dl.dtype, (DLDevice){kDLCUDA, 0});
    MLCCNDArray *ds = mlcc_ndarray_empty(2, ss, hs->dl.dtype, (DLDevice){kDLCUDA, 0});
    mlcc_ndarray_copy(dq, hq), mlcc_ndarray_copy(ds, hs);
    int64_t ns[] = {1, 3, 16, 17, 64};
    for (int i = 0; cpu && gpu && i < 5; i++) {
        int64_t sx[2] = {ns[i], IN};
        MLCCNDArray *hx = mlcc_ndarray_empty(2, sx, MLCC_DTYPE_F32, MLCC_CPU);
        for (int64_t j = 0; j < ns[i] * IN; j++) ((float *)hx->dl.data)[j] = test_rand_float();
        MLCCNDArray *dx = mlcc_ndarray_empty(2, sx, MLCC_DTYPE_F32, (DLDevice){kDLCUDA, 0});
        mlcc_ndarray_copy(dx, hx);
        MLCCValue a[3], rh, rd;
        int codes[3] = {MLCC_TYPE_OBJECT, MLCC_TYPE_OBJECT, MLCC_TYPE_OBJECT}, ch, cd;
        a[0].v_handle = hx, a[1].v_handle = hq, a[2].v_handle = hs;
        int r1 = mlcc_vm_invoke(cpu, "main", a, codes, 3, &rh, &ch);
        a[0].v_handle = dx, a[1].v_handle = dq, a[2].v_handle = ds;
        int r2 = mlcc_vm_invoke(gpu, "main", a, codes, 3, &rd, &cd);
        CHECK_MSG(r1 == 0 && r2 == 0, "n=%lld: %s", (long long)ns[i], mlcc_last_error());
        if (r1 == 0 && r2 == 0) {
            MLCCNDArray *want = rh.v_handle, *got = rd.v_handle;
            double err = test_ndarray_rel_error(got, want);
            /* the CPU's 4-bit matmul rounds x to int8 (issue 15: within 4e-3 of float; measured
             * 2.7e-3..4.3e-3 here), so this compares the plumbing, not the arithmetic (above) */
            CHECK_MSG(err < 1e-2, "graph n=%lld: cuda vs cpu %g", (long long)ns[i], err);
            printf("graph q4f16_1 n=%lld: cuda vs cpu %.3g\n", (long long)ns[i], err);
            mlcc_ndarray_release(want), mlcc_ndarray_release(got);
        }
        mlcc_ndarray_release(hx), mlcc_ndarray_release(dx);
    }
    mlcc_ndarray_release(hq), mlcc_ndarray_release(hs), mlcc_ndarray_release(dq), mlcc_ndarray_release(ds);
    free(w);
    mlcc_vm_free(cpu), mlcc_vm_free(gpu);
}

int main(void) {
    if (!mlcc_nvrtc_available()) TEST_SKIP("%s", mlcc_nvrtc_status());
    check_dispatch();
    check_nvrtc();
    if (!mlcc_cuda_available()) {
        if (test_checks_failed) return test_finish();
        TEST_SKIP("%s", mlcc_cuda_status());
    }
    setenv("MLCC_CUDA_Q4_GEMV_ROWS", "16", 1); /* every GEMV variant (1..16 rows) here; more rows: dequantize + cuBLASLt */
    static const int64_t shapes[][3] = {{1, 37, 64}, {3, 100, 96}, {5, 33, 13}, {8, 256, 4096}, {2, 4099, 1024},
                                        {1, 8195, 256}, {16, 8200, 128}, {9, 130, 72}, {15, 64, 4096}, {64, 512, 256},
                                        {300, 1000, 4096}, {17, 7, 13}, {1, 1, 32}};
    /* the int8 GEMV (default), then the float one (MLCC_CUDA_Q4_DP4A=0) */
    for (int pass = 0; pass < 2; pass++) {
        x_as_int8 = pass == 0;
        if (pass) setenv("MLCC_CUDA_Q4_DP4A", "0", 1);
        for (int i = 0; i < 13; i++)
            check_linear(i % 2 ? "ggml_q4_0" : "q4f16_1", shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][0] <= 16 ? 1e-5 : 3e-3);
        /* the block GEMV's wider blocks (2, 4, 8 outputs: out >= 528, 1056, 2112), several rounds over K,
         * 8 rows of x a pass (int8: 4 outputs a block) and its remainders */
        check_linear("q4f16_1", 1, 2200, 14336, 1e-5);
        check_linear("ggml_q4_0", 3, 1100, 8224, 1e-5);
        check_linear("q4f16_1", 6, 600, 2048, 1e-5);
        check_linear("q4f16_1", 8, 2200, 4096, 1e-5);
        check_linear("ggml_q4_0", 13, 1060, 1024, 1e-5);
        /* one row through the int8 tile GEMV (opt-in): 8 x 1 (a ragged last tile), 4 x 1 (lanes
         * past the groups), 4 x 2 and 2 x 2 (several groups a thread) */
        setenv("MLCC_CUDA_Q4_TILES", "1", 1);
        check_linear("q4f16_1", 1, 9001, 4096, 1e-5);
        check_linear("ggml_q4_0", 1, 8500, 64, 1e-5);
        check_linear("ggml_q4_0", 1, 2200, 14336, 1e-5);
        check_linear("q4f16_1", 1, 1100, 8224, 1e-5);
        unsetenv("MLCC_CUDA_Q4_TILES");
    }
    x_as_int8 = 0; /* MLCC_CUDA_Q4_DP4A=0 from here on: the float kernels' 1e-5 */
    setenv("MLCC_CUDA_Q4_PASSES", "3", 1); /* one row, x in registers: several passes per block, ragged ends */
    check_linear("q4f16_1", 1, 37, 64, 1e-5);
    check_linear("ggml_q4_0", 1, 2200, 14336, 1e-5);
    check_linear("q4f16_1", 1, 1100, 8192, 1e-5);
    unsetenv("MLCC_CUDA_Q4_PASSES");
    setenv("MLCC_CUDA_Q4_BLOCK", "0", 1); /* the warp-per-output GEMV too */
    for (int i = 0; i < 13; i++)
        if (shapes[i][0] <= 16) check_linear(i % 2 ? "ggml_q4_0" : "q4f16_1", shapes[i][0], shapes[i][1], shapes[i][2], 1e-5);
    setenv("MLCC_CUDA_Q4_OPW", "4", 1); /* four outputs per warp (one-row passes) at small sizes too */
    check_linear("q4f16_1", 1, 37, 96, 1e-5);
    check_linear("q4f16_1", 5, 6, 4096, 1e-5);
    check_linear("ggml_q4_0", 1, 3, 64, 1e-5);
    unsetenv("MLCC_CUDA_Q4_OPW");
    unsetenv("MLCC_CUDA_Q4_BLOCK");
    unsetenv("MLCC_CUDA_Q4_DP4A");
    unsetenv("MLCC_CUDA_Q4_GEMV_ROWS"); /* the default: 16 rows take the tensor-core GEMM */
    check_linear("q4f16_1", 16, 300, 4096, 3e-3);
    /* silu * up: the int8 GEMV (2, 4, 8 outputs a block: a ragged tail, several rounds over K),
     * in % 32 != 0 and 3, 16 rows (a workspace, then the kernel) */
    static const int64_t silu_shapes[][3] = {{1, 38, 64}, {2, 600, 4096}, {1, 1100, 1024}, {2, 4400, 14336}, {1, 10, 13},
                                             {3, 100, 96}, {16, 300, 4096}};
    for (int i = 0; i < 7; i++) check_silu(i % 2 ? "ggml_q4_0" : "q4f16_1", silu_shapes[i][0], silu_shapes[i][1], silu_shapes[i][2]);
    check_mma_gemm();
    check_graph();
    mlcc_cuda_linear_release(0);
    CHECK_EQ_INT(mlcc_cuda_synchronize(0), 0);
    return test_finish();
}
