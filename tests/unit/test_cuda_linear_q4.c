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
 *     mlcc.cuda.linear_q4f16[_zp8]_silu) against float64 silu * up over the plain GEMV's sums;
 *   - a decoder layer's residual adds folded into its 4-bit projections (_add) and, asked for,
 *     its norms (_norm, _norm_silu), in the graph; on a GPU mlcc_cuda_linear_q4_fused against
 *     float64 (norm, silu * up, residual; the GEMV and the kernels apart) and the layer compiled
 *     with and without the fusions against each other and the CPU build;
 *   - one row with x rounded to int8 once for the projection (mlcc_quantize_x8) gives the same
 *     bits as each block rounding its own copy (MLCC_CUDA_Q4_XQ=0), and the kernel without a
 *     group loop (a group a thread at most) the same bits as the loop (MLCC_CUDA_Q4_ONE=0);
 *   - mlcc_cuda_linear_q4_mixed (prefill's half activations): x, r, y each float32 or float16,
 *     at a prompt's rows (dequantize + float16) and a short prompt's (widened), against float64
 *     over the same rounded x and r;
 *   - one row through the streaming GEMV (bulk copies through shared memory on sm_90,
 *     MLCC_CUDA_Q4_STREAM=1) in one launch, against float64 and the block GEMV (the default).
 * Without NVRTC it skips; without a GPU the NVRTC and dispatch checks run, then it skips. */
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
#include "support/strbuf.h"
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

/* A decoder layer's 4-bit projections around its norms (D = 64, I = 96, 40 outputs):
 *     h = r + x W1^T;  gu = rms_norm(h, gamma) W2^T;  d = (silu(g) * u) W3^T + h;
 *     out = rms_norm(d, gamma) W4^T
 * which cuda_dispatch and fuse_gemv turn into linear_q4f16[_zp8]_add (o_proj, down),
 * _norm_silu (gate_up) and _norm (the head). With head_gamma_computed the head's norm takes
 * gamma + 1 (gemma's norms), a value the function computes. */
enum { LD = 64, LI = 96, LV = 40 };

static rx_expr *q4_weight(rx_builder *bb, rx_expr *qw, rx_expr *qs, int zero, int in) {
    return bb_emit(bb, op_dequantize(qw, qs, 4, 32, zero, in), "w32");
}

static mlcc_ir_module *build_layer_module_as(const char *name, int zero, int head_gamma_computed) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(LD), NULL));
    rx_expr *r = rx_var("r", rx_sinfo_tensor_v(DT_F32, n, ir_int(LD), NULL));
    rx_expr *gamma = rx_var("gamma", rx_sinfo_tensor_v(DT_F32, ir_int(LD), NULL));
    static const int shapes[4][2] = {{LD, LD}, {2 * LI, LD}, {LD, LI}, {LV, LD}};
    rx_expr *params[11] = {x, r, gamma};
    for (int i = 0; i < 4; i++) {
        params[3 + 2 * i] = rx_var("qw", rx_sinfo_tensor_v(DT_U32, ir_int(shapes[i][0]), ir_int(shapes[i][1] / 8), NULL));
        params[4 + 2 * i] = rx_var("qs", rx_sinfo_tensor_v(DT_F16, ir_int(shapes[i][0]), ir_int(shapes[i][1] / 32), NULL));
    }
    mlcc_ir_module *mod = irmod_new();
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, name, params, 11);
    rx_attrs none = {NULL, 0};
    bb_set_function_attrs(bb, rx_attrs_set_int(none, "var_upper_bound:n", BOUND));
    bb_begin_dataflow(bb);
    rx_expr *w[4];
    for (int i = 0; i < 4; i++) w[i] = q4_weight(bb, params[3 + 2 * i], params[4 + 2 * i], zero, shapes[i][1]);
    rx_expr *h = bb_emit(bb, op_add(r, bb_emit(bb, op_linear(x, w[0]), "o")), "h");
    rx_expr *gu = bb_emit(bb, op_linear(bb_emit(bb, op_rms_norm(h, gamma, 1e-5), "n1"), w[1]), "gu");
    int64_t axis = 1, b0 = 0, e0 = LI, b1 = LI, e1 = 2 * LI;
    rx_expr *g = bb_emit(bb, op_strided_slice(gu, &axis, &b0, &e0, NULL, 1), "g");
    rx_expr *u = bb_emit(bb, op_strided_slice(gu, &axis, &b1, &e1, NULL, 1), "u");
    rx_expr *m = bb_emit(bb, op_multiply(bb_emit(bb, op_unary("nn.silu", g), "act"), u), "m");
    rx_expr *d = bb_emit(bb, op_add(bb_emit(bb, op_linear(m, w[2]), "down"), h), "d");
    rx_expr *head_gamma = gamma;
    if (head_gamma_computed) {
        int64_t one = 1;
        float plus = 1.0f;
        head_gamma = bb_emit(bb, op_add(gamma, rx_constant(DT_F32, &one, 1, &plus)), "gamma1");
    }
    rx_expr *out = bb_emit_output(bb, op_linear(bb_emit(bb, op_rms_norm(d, head_gamma, 1e-5), "n2"), w[3]), "out");
    bb_end_dataflow(bb);
    CHECK_MSG(bb_end_function(bb, out) != NULL, "%s", bb_error(bb));
    bb_free(bb);
    return mod;
}

static mlcc_ir_module *build_layer_module(const char *name, int zero) {
    return build_layer_module_as(name, zero, 0);
}

/* The module after the passes up to fuse_add_norm (the graph, before lowering), as text */
static char *graph_after_fusions_as(const char *name, int zero, int head_gamma_computed) {
    mlcc_strbuf printed = {0};
    mlcc_build_options opt = {0};
    opt.print_after = "fuse_add_norm", opt.printed = &printed;
    char *src = mlcc_build_source_target(build_layer_module_as(name, zero, head_gamma_computed), &opt, "cuda");
    CHECK_MSG(src != NULL, "%s", mlcc_last_error());
    free(src);
    return printed.data;
}

static char *graph_after_fusions(const char *name, int zero) {
    return graph_after_fusions_as(name, zero, 0);
}

/* The layer's residual adds go into o_proj and down (every function) and silu * up into gate_up
 * (not in a prefill); its norms go into gate_up (_norm_silu) and the head (_norm) unless
 * MLCC_CUDA_FUSE_GEMV_NORM_Q4=0, and not where gamma is computed (the 4-bit GEMV's norm reads
 * gamma before PDL's wait) */
static void check_layer_fusions(void) {
    static const struct { int zero; const char *fn; } kinds[] = {{7, "mlcc.cuda.linear_q4f16"}, {8, "mlcc.cuda.linear_q4f16_zp8"}};
    for (int k = 0; k < 2; k++) {
        char add[64], norm[64], norm_silu[64], silu[64];
        snprintf(add, sizeof add, "%s_add\"", kinds[k].fn), snprintf(norm, sizeof norm, "%s_norm\"", kinds[k].fn);
        snprintf(norm_silu, sizeof norm_silu, "%s_norm_silu\"", kinds[k].fn), snprintf(silu, sizeof silu, "%s_silu\"", kinds[k].fn);
        setenv("MLCC_CUDA_FUSE_GEMV_NORM_Q4", "0", 1);
        char *g = graph_after_fusions("decode", kinds[k].zero);
        CHECK_MSG(g && test_count_substr(g, add) == 2 && test_count_substr(g, silu) == 1 && !strstr(g, "_norm\"") &&
                      !strstr(g, "_norm_silu\"") && test_count_substr(g, "rms_norm(") == 2,
                  "zero point %d: the adds or silu * up did not go into the projections, or the norms did "
                  "(MLCC_CUDA_FUSE_GEMV_NORM_Q4=0):\n%s",
                  kinds[k].zero, g ? g : "");
        free(g);
        unsetenv("MLCC_CUDA_FUSE_GEMV_NORM_Q4");
        g = graph_after_fusions("decode", kinds[k].zero);
        CHECK_MSG(g && test_count_substr(g, add) == 2 && test_count_substr(g, norm_silu) == 1 && test_count_substr(g, norm) == 1 &&
                      !strstr(g, "rms_norm"),
                  "zero point %d: the norms did not go into the projections:\n%s", kinds[k].zero, g ? g : "");
        free(g);
        g = graph_after_fusions_as("decode", kinds[k].zero, 1);
        CHECK_MSG(g && test_count_substr(g, norm_silu) == 1 && !strstr(g, "_norm\"") && test_count_substr(g, "rms_norm(") == 1,
                  "zero point %d: a norm whose gamma the function computes went into the head's projection, or the "
                  "other norm did not go into gate_up:\n%s",
                  kinds[k].zero, g ? g : "");
        free(g);
        g = graph_after_fusions("prefill", kinds[k].zero);
        CHECK_MSG(g && test_count_substr(g, add) == 2 && !strstr(g, "_norm\"") && !strstr(g, "_silu\"") &&
                      test_count_substr(g, "rms_norm(") == 2,
                  "zero point %d: a prefill's adds were not folded, or its norms or silu were:\n%s", kinds[k].zero, g ? g : "");
        free(g);
    }
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
    CHECK(ptx && strstr(ptx, ".entry mlcc_gemv_q4i_8_4") != NULL && strstr(ptx, ".entry mlcc_gemv_q4i_xq_silu_16_1") != NULL &&
          strstr(ptx, ".entry mlcc_gemv_q4i_xq1_silu_16_1") != NULL && strstr(ptx, ".entry mlcc_gemv_q4i_xq1_1_1") != NULL &&
          strstr(ptx, ".entry mlcc_quantize_x8") != NULL && strstr(ptx, ".entry mlcc_norm_quantize_x8") != NULL);
    CHECK_MSG(ptx && strstr(ptx, ".entry mlcc_gemv_q4i_norm_1_1") && strstr(ptx, ".entry mlcc_gemv_q4i_norm_silu_8_2") &&
                  strstr(ptx, ".entry mlcc_gemv_q4i_silu_2_1") && strstr(ptx, ".entry mlcc_gemv_q4i_16_1") &&
                  strstr(ptx, ".entry mlcc_gemv_q4i_norm_silu_16_1"),
              "the fused int8 GEMVs are missing");
    CHECK_MSG(ptx && strstr(ptx, "ld.global.nc.L1::no_allocate.v4") != NULL && strstr(ptx, "dp4a") != NULL,
              "the int8 GEMV has no streaming 16-byte loads or no dp4a");
    CHECK_MSG(ptx && strstr(ptx, ".entry mlcc_gemv_q4s(") && strstr(ptx, ".entry mlcc_gemv_q4s_norm_silu(") &&
                  strstr(ptx, "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes") &&
                  strstr(ptx, "mbarrier.try_wait.parity"),
              "the streaming GEMV is missing or has no bulk copies on mbarriers");
    free(ptx);
    ptx = NULL;
    CHECK_MSG(mlcc_nvrtc_compile_ptx(mlcc_cuda_gemm_q4_kernel_source(), 90, &ptx) == 0, "%s", mlcc_last_error());
    CHECK(ptx && strstr(ptx, ".entry mlcc_gemm_q4_1_1") != NULL && strstr(ptx, ".entry mlcc_gemm_q4_4_8") != NULL &&
          strstr(ptx, ".entry mlcc_gemm_q4_half_1_1") != NULL && strstr(ptx, ".entry mlcc_gemm_q4_half_4_8") != NULL);
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

/* mlcc_cuda_linear_q4_mixed (prefill's half activations, transform/half_activations.c): x, r and
 * y each float32 or float16, against float64 over the same rounded x and r and the CPU's
 * dequantized W: past the tensor-core GEMM's rows the dequantize + float16 path reads and
 * writes the half values as they are; up to them (a short prompt) x and r are widened and y
 * rounded around the float32 path. tol as check_linear's, plus a half's rounding of y. Every
 * output written (NaN first). */
static void check_mixed(const char *scheme, int64_t rows, int64_t out, int64_t in, int x_half, int r_half, int y_half,
                        int with_r, double tol) {
    const mlcc_quant_scheme *s = quant_scheme_find(scheme);
    int64_t pc = quant_packed_cols(s, in), sc = quant_scale_cols(s, in);
    size_t xs = x_half ? 2 : 4, rs = r_half ? 2 : 4, ys = y_half ? 2 : 4;
    float *x = malloc(sizeof(float) * (size_t)(rows * in)), *r = malloc(sizeof(float) * (size_t)(rows * out));
    float *w = malloc(sizeof(float) * (size_t)(out * in)), *wq = malloc(sizeof(float) * (size_t)(out * in));
    void *xb = malloc(xs * (size_t)(rows * in)), *rb = malloc(rs * (size_t)(rows * out)), *yb = malloc(ys * (size_t)(rows * out));
    uint32_t *packed = malloc(sizeof(uint32_t) * (size_t)(out * pc));
    uint16_t *scales = malloc(sizeof(uint16_t) * (size_t)(out * sc));
    for (int64_t i = 0; i < rows * in; i++) { /* x as the device gets it */
        float v = test_rand_float();
        if (x_half) ((uint16_t *)xb)[i] = mlcc_f32_to_f16(v), x[i] = mlcc_f16_to_f32(((uint16_t *)xb)[i]);
        else ((float *)xb)[i] = x[i] = v;
    }
    for (int64_t i = 0; i < rows * out; i++) {
        float v = with_r ? test_rand_float() : 0;
        if (r_half) ((uint16_t *)rb)[i] = mlcc_f32_to_f16(v), r[i] = mlcc_f16_to_f32(((uint16_t *)rb)[i]);
        else ((float *)rb)[i] = r[i] = v;
    }
    for (int64_t i = 0; i < out * in; i++) w[i] = test_rand_float();
    quant_pack(s, w, out, in, packed, scales);
    quant_unpack(s, packed, scales, out, in, wq);
    MLCCNDArray *dx = on_device(xb, xs * (size_t)(rows * in)), *dr = with_r ? on_device(rb, rs * (size_t)(rows * out)) : NULL;
    MLCCNDArray *dq = on_device(packed, sizeof(uint32_t) * (size_t)(out * pc));
    MLCCNDArray *ds = on_device(scales, sizeof(uint16_t) * (size_t)(out * sc)), *dy = on_device(NULL, ys * (size_t)(rows * out));
    CHECK_EQ_INT(mlcc_cuda_memset(0, dy->dl.data, 0xff, ys * (size_t)(rows * out)), 0); /* NaN */
    int rc = mlcc_cuda_linear_q4_mixed(0, dx->dl.data, x_half, dq->dl.data, ds->dl.data, dr ? dr->dl.data : NULL, r_half,
                                       dy->dl.data, y_half, rows, out, in, s->zero_point);
    CHECK_MSG(rc == 0, "mixed %s %lld rows: %s", scheme, (long long)rows, mlcc_last_error());
    CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dy, yb, ys * (size_t)(rows * out)), 0);
    double worst = 0;
    for (int64_t i = 0; i < rows; i++)
        for (int64_t o = 0; o < out; o++) {
            double ref = r[i * out + o], mag = 1e-30 + fabs(ref);
            for (int64_t k = 0; k < in; k++) {
                double p = (double)x[i * in + k] * wq[o * in + k];
                ref += p, mag += fabs(p);
            }
            double got = y_half ? mlcc_f16_to_f32(((uint16_t *)yb)[i * out + o]) : ((float *)yb)[i * out + o];
            double e = fabs(got - ref) / (mag + (y_half ? fabs(ref) * 0x1p-11 / tol : 0));
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
    CHECK_MSG(worst <= tol, "mixed %s %lld x %lld x %lld (x %s, r %s, y %s): error %g of sum |x w| + |r| (tolerance %g)", scheme,
              (long long)rows, (long long)out, (long long)in, x_half ? "half" : "float", !with_r ? "none" : r_half ? "half" : "float",
              y_half ? "half" : "float", worst, tol);
    printf("linear_q4 mixed %s %lld x %lld x %lld (x %s, r %s, y %s): %.3g\n", scheme, (long long)rows, (long long)out, (long long)in,
           x_half ? "half" : "float", !with_r ? "none" : r_half ? "half" : "float", y_half ? "half" : "float", worst);
    mlcc_ndarray_release(dx), mlcc_ndarray_release(dq), mlcc_ndarray_release(ds), mlcc_ndarray_release(dy);
    if (dr) mlcc_ndarray_release(dr);
    free(x), free(r), free(w), free(wq), free(xb), free(rb), free(yb), free(packed), free(scales);
}

/* A short prompt's all-half projection through the tensor-core GEMM's float16 kernels gives the
 * bits of the float32 kernel between conversions (MLCC_CUDA_Q4_MMA_HALF=0): x was rounded to
 * float16 for the mma either way, y is the float32 sum (plus r) rounded once. */
static void check_mixed_bits(int64_t rows, int64_t out, int64_t in, int with_r) {
    const mlcc_quant_scheme *s = quant_scheme_find("q4f16_1");
    int64_t pc = quant_packed_cols(s, in), sc = quant_scale_cols(s, in);
    size_t nx = (size_t)(rows * in), ny = (size_t)(rows * out);
    uint16_t *x = malloc(2 * nx), *r = malloc(2 * ny), *y[2] = {malloc(2 * ny), malloc(2 * ny)};
    float *w = malloc(sizeof(float) * (size_t)(out * in));
    uint32_t *packed = malloc(sizeof(uint32_t) * (size_t)(out * pc));
    uint16_t *scales = malloc(sizeof(uint16_t) * (size_t)(out * sc));
    for (size_t i = 0; i < nx; i++) x[i] = mlcc_f32_to_f16(test_rand_float() * 4);
    for (size_t i = 0; i < ny; i++) r[i] = mlcc_f32_to_f16(test_rand_float() * 8);
    for (int64_t i = 0; i < out * in; i++) w[i] = test_rand_float();
    quant_pack(s, w, out, in, packed, scales);
    MLCCNDArray *dx = on_device(x, 2 * nx), *dr = on_device(r, 2 * ny), *dy = on_device(NULL, 2 * ny);
    MLCCNDArray *dq = on_device(packed, sizeof(uint32_t) * (size_t)(out * pc)), *ds = on_device(scales, sizeof(uint16_t) * (size_t)(out * sc));
    for (int converted = 0; converted < 2; converted++) {
        if (converted) setenv("MLCC_CUDA_Q4_MMA_HALF", "0", 1);
        CHECK_EQ_INT(mlcc_cuda_memset(0, dy->dl.data, 0xff, 2 * ny), 0); /* NaN */
        int rc = mlcc_cuda_linear_q4_mixed(0, dx->dl.data, 1, dq->dl.data, ds->dl.data, with_r ? dr->dl.data : NULL, 1, dy->dl.data,
                                           1, rows, out, in, s->zero_point);
        CHECK_MSG(rc == 0, "mixed bits %lld rows: %s", (long long)rows, mlcc_last_error());
        CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dy, y[converted], 2 * ny), 0);
        unsetenv("MLCC_CUDA_Q4_MMA_HALF");
    }
    size_t differ = 0;
    for (size_t i = 0; i < ny; i++) differ += y[0][i] != y[1][i];
    CHECK_MSG(differ == 0, "half GEMM %lld x %lld x %lld%s: %zu of %zu outputs differ from the converted float32 path",
              (long long)rows, (long long)out, (long long)in, with_r ? " + r" : "", differ, ny);
    printf("linear_q4 half GEMM %lld x %lld x %lld%s: the converted path's bits\n", (long long)rows, (long long)out, (long long)in,
           with_r ? " + r" : "");
    mlcc_ndarray_release(dx), mlcc_ndarray_release(dr), mlcc_ndarray_release(dy), mlcc_ndarray_release(dq), mlcc_ndarray_release(ds);
    free(x), free(r), free(y[0]), free(y[1]), free(w), free(packed), free(scales);
}

/* The half forms a prefill takes: qkv / gate_up (x and y half), o / down (+ r: the first layer's
 * r is the float32 embeddings), at a prompt's rows and at a short prompt's (3-64 rows: the
 * tensor-core GEMM, its float16 kernels where x, r and y are all half). */
static void check_mixed_all(void) {
    const int64_t rows[] = {130, 70, 64, 17, 5, 3, 1};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        check_mixed("q4f16_1", rows[i], 300, 1024, 1, 0, 1, 0, 3e-3);
        check_mixed("q4f16_1", rows[i], 256, 1024, 1, 1, 1, 1, 3e-3);
        check_mixed("q4f16_1", rows[i], 256, 1024, 1, 0, 1, 1, 3e-3);
        check_mixed("q4f16_1", rows[i], 130, 4096, 0, 0, 1, 1, 3e-3);
        check_mixed("ggml_q4_0", rows[i], 64, 96, 1, 0, 0, 0, 3e-3); /* zero point 8, three groups, y float32 */
    }
    check_mixed_bits(3, 4096, 4096, 1);
    check_mixed_bits(17, 1000, 1024, 0);
    check_mixed_bits(64, 300, 14336, 1);
    check_mixed_bits(40, 130, 96, 1); /* a ragged output tile, three groups */
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

/* mlcc_cuda_linear_q4_fused against float64: x = rms_norm(a, gamma) (norm) or a, gu = x Wq^T
 * over the CPU's dequantized Wq, y = silu(g) * u (silu) or gu + res (res). Each sum may be off by
 * B = the int8 rounding bound of x's groups (the 1-2 row GEMV rounds a * gamma, which the row's
 * scale does not change) + 1e-5 of sum |x w| there, 3e-3 of sum |x w| on the paths that round x and
 * W to float16 (the GEMM, dequantize + cuBLASLt); silu * up by 1.1 B_g (|u| + B_u) + |silu(g)| B_u.
 * Every output written (NaN first). */
static void check_fused(const char *scheme, int64_t rows, int64_t out, int64_t in, int norm, int silu, int res) {
    const mlcc_quant_scheme *sch = quant_scheme_find(scheme);
    int64_t pc = quant_packed_cols(sch, in), sc = quant_scale_cols(sch, in), cols = silu ? out / 2 : out;
    float *a = malloc(sizeof(float) * (size_t)(rows * in)), *xn = malloc(sizeof(float) * (size_t)(rows * in));
    float *gamma = malloc(sizeof(float) * (size_t)in), *r = malloc(sizeof(float) * (size_t)(rows * cols));
    float *w = malloc(sizeof(float) * (size_t)(out * in)), *wq = malloc(sizeof(float) * (size_t)(out * in));
    float *y = malloc(sizeof(float) * (size_t)(rows * cols)), eps = 1e-5f;
    double *sum = malloc(sizeof(double) * (size_t)out), *bound = malloc(sizeof(double) * (size_t)out);
    uint32_t *packed = malloc(sizeof(uint32_t) * (size_t)(out * pc));
    uint16_t *scales = malloc(sizeof(uint16_t) * (size_t)(out * sc));
    for (int64_t i = 0; i < rows * in; i++) a[i] = 3 * test_rand_float();
    for (int64_t i = 0; i < in; i++) gamma[i] = 0.5f + test_rand_float() * test_rand_float();
    for (int64_t i = 0; i < rows * cols; i++) r[i] = test_rand_float();
    for (int64_t i = 0; i < out * in; i++) w[i] = test_rand_float();
    quant_pack(sch, w, out, in, packed, scales);
    quant_unpack(sch, packed, scales, out, in, wq);
    for (int64_t i = 0; i < rows; i++) {
        double ss = 0;
        for (int64_t k = 0; k < in; k++) ss += (double)a[i * in + k] * a[i * in + k];
        double scale = norm ? 1 / sqrt(ss / (double)in + eps) : 1;
        for (int64_t k = 0; k < in; k++) xn[i * in + k] = (float)(norm ? a[i * in + k] * scale * gamma[k] : a[i * in + k]);
    }
    MLCCNDArray *da = on_device(a, sizeof(float) * (size_t)(rows * in)), *dg = on_device(gamma, sizeof(float) * (size_t)in);
    MLCCNDArray *de = on_device(&eps, sizeof eps), *dr = on_device(r, sizeof(float) * (size_t)(rows * cols));
    MLCCNDArray *dq = on_device(packed, sizeof(uint32_t) * (size_t)(out * pc));
    MLCCNDArray *ds = on_device(scales, sizeof(uint16_t) * (size_t)(out * sc));
    MLCCNDArray *dy = on_device(NULL, sizeof(float) * (size_t)(rows * cols));
    CHECK_EQ_INT(mlcc_cuda_memset(0, dy->dl.data, 0xff, sizeof(float) * (size_t)(rows * cols)), 0); /* NaN */
    mlcc_linear_fusion f = {norm ? dg->dl.data : NULL, norm ? de->dl.data : NULL, silu};
    int rc = mlcc_cuda_linear_q4_fused(0, &f, da->dl.data, dq->dl.data, ds->dl.data, res ? dr->dl.data : NULL, dy->dl.data, rows,
                                       out, in, sch->zero_point);
    CHECK_MSG(rc == 0, "fused %s %lld x %lld x %lld: %s", scheme, (long long)rows, (long long)out, (long long)in, mlcc_last_error());
    CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dy, y, sizeof(float) * (size_t)(rows * cols)), 0);
    int gemv = rows <= 2 && in % 32 == 0;
    double worst = 0;
    for (int64_t i = 0; i < rows; i++) {
        for (int64_t o = 0; o < out; o++) {
            double ref = 0, mag = 1e-30;
            for (int64_t k = 0; k < in; k++) {
                double p = (double)xn[i * in + k] * wq[o * in + k];
                ref += p, mag += fabs(p);
            }
            sum[o] = ref;
            bound[o] = gemv ? int8_rounding_bound(xn + i * in, wq + o * in, in) + 1e-5 * mag : 3e-3 * mag;
        }
        for (int64_t o = 0; o < cols; o++) {
            double want, allowed;
            if (silu) {
                double g = sum[o], u = sum[cols + o], sg = g / (1 + exp(-g));
                want = sg * u, allowed = 1.1 * bound[o] * (fabs(u) + bound[cols + o]) + fabs(sg) * bound[cols + o];
            } else {
                want = sum[o] + (res ? r[i * cols + o] : 0), allowed = bound[o] + 1e-6 * fabs(want);
            }
            double e = fabs(y[i * cols + o] - want) / (allowed + 1e-30);
            if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
        }
    }
    CHECK_MSG(worst <= 1, "fused%s%s%s %s %lld x %lld x %lld: error %g of the allowed", norm ? " norm" : "", silu ? " silu" : "",
              res ? " res" : "", scheme, (long long)rows, (long long)out, (long long)in, worst);
    printf("linear_q4 fused%s%s%s %s %lld x %lld x %lld: error %.3g of the allowed\n", norm ? " norm" : "", silu ? " silu" : "",
           res ? " res" : "", scheme, (long long)rows, (long long)out, (long long)in, worst);
    mlcc_ndarray_release(da), mlcc_ndarray_release(dg), mlcc_ndarray_release(de), mlcc_ndarray_release(dr);
    mlcc_ndarray_release(dq), mlcc_ndarray_release(ds), mlcc_ndarray_release(dy);
    free(a), free(xn), free(gamma), free(r), free(w), free(wq), free(y), free(sum), free(bound), free(packed), free(scales);
}

/* The fused GEMV for 1-2 rows (1-8 outputs a block, several rounds over K, a ragged tail), and
 * the kernels apart for 3 (the GEMM), 16 and 100 rows (dequantize + cuBLASLt) and odd K (the
 * scalar kernel and a norm kernel of its own) */
static void check_fusions(void) {
    static const struct { int64_t rows, out, in; int norm, silu, res; } cases[] = {
        {1, 4096, 4096, 1, 0, 0}, {2, 600, 1024, 1, 0, 0}, {1, 37, 64, 1, 0, 0},     {1, 1100, 14336, 0, 0, 1},
        {2, 4400, 1024, 0, 0, 1}, {1, 2200, 4096, 1, 1, 0}, {2, 38, 64, 1, 1, 0},     {1, 9000, 4096, 1, 1, 0},
        {1, 300, 256, 1, 0, 1},   {3, 300, 4096, 1, 0, 1},  {16, 1100, 1024, 1, 1, 0}, {16, 520, 2048, 0, 0, 1},
        {100, 520, 256, 1, 0, 0}, {100, 136, 4096, 0, 0, 1}, {1, 40, 13, 1, 0, 1},    {2, 10, 13, 1, 1, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_fused(i % 2 ? "ggml_q4_0" : "q4f16_1", cases[i].rows, cases[i].out, cases[i].in, cases[i].norm, cases[i].silu,
                    cases[i].res);
}

/* A one-row projection case of mlcc_cuda_linear_q4_fused: W out x in (silu: gate and up rows),
 * with a residual, with RMSNorm in */
typedef struct one_row_case {
    int64_t out, in;
    int silu, res, norm;
} one_row_case;

/* Case c (random x, gamma, residual and W, quantized by `scheme`) computed twice on cuda:0, with
 * the environment variable `var` set to setting[pass] (NULL: unset): y[pass] (malloc'ed, the
 * caller frees) and the launches each took. Every output poisoned with NaN first. */
static void one_row_twice(const one_row_case *c, const char *scheme, const char *var, const char *const setting[2], float *y[2],
                          long launches[2]) {
    int64_t out = c->out, in = c->in, cols = c->silu ? out / 2 : out;
    const mlcc_quant_scheme *sch = quant_scheme_find(scheme);
    int64_t pc = quant_packed_cols(sch, in), sc = quant_scale_cols(sch, in);
    float *x = malloc(sizeof(float) * (size_t)in), *w = malloc(sizeof(float) * (size_t)(out * in));
    float *gamma = malloc(sizeof(float) * (size_t)in), eps = 1e-5f, *r = malloc(sizeof(float) * (size_t)cols);
    uint32_t *packed = malloc(sizeof(uint32_t) * (size_t)(out * pc));
    uint16_t *scales = malloc(sizeof(uint16_t) * (size_t)(out * sc));
    for (int64_t k = 0; k < in; k++) x[k] = 3 * test_rand_float(), gamma[k] = 0.5f + test_rand_float() * test_rand_float();
    for (int64_t k = 0; k < out * in; k++) w[k] = test_rand_float();
    for (int64_t o = 0; o < cols; o++) r[o] = test_rand_float();
    quant_pack(sch, w, out, in, packed, scales);
    MLCCNDArray *dx = on_device(x, sizeof(float) * (size_t)in), *dr = on_device(r, sizeof(float) * (size_t)cols);
    MLCCNDArray *dq = on_device(packed, sizeof(uint32_t) * (size_t)(out * pc));
    MLCCNDArray *ds = on_device(scales, sizeof(uint16_t) * (size_t)(out * sc));
    MLCCNDArray *dy = on_device(NULL, sizeof(float) * (size_t)cols);
    MLCCNDArray *dg = on_device(gamma, sizeof(float) * (size_t)in), *de = on_device(&eps, sizeof eps);
    mlcc_linear_fusion f = {c->norm ? dg->dl.data : NULL, c->norm ? de->dl.data : NULL, c->silu};
    for (int pass = 0; pass < 2; pass++) {
        if (setting[pass]) setenv(var, setting[pass], 1);
        y[pass] = malloc(sizeof(float) * (size_t)cols);
        CHECK_EQ_INT(mlcc_cuda_memset(0, dy->dl.data, 0xff, sizeof(float) * (size_t)cols), 0); /* NaN */
        long before = mlcc_cuda_get_stats().launches;
        int rc = mlcc_cuda_linear_q4_fused(0, &f, dx->dl.data, dq->dl.data, ds->dl.data, c->res ? dr->dl.data : NULL,
                                           dy->dl.data, 1, out, in, sch->zero_point);
        launches[pass] = mlcc_cuda_get_stats().launches - before;
        CHECK_MSG(rc == 0, "%s=%s, %lld x %lld: %s", var, setting[pass] ? setting[pass] : "(unset)", (long long)out,
                  (long long)in, mlcc_last_error());
        CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dy, y[pass], sizeof(float) * (size_t)cols), 0);
        unsetenv(var);
    }
    mlcc_ndarray_release(dx), mlcc_ndarray_release(dr), mlcc_ndarray_release(dq), mlcc_ndarray_release(ds);
    mlcc_ndarray_release(dy), mlcc_ndarray_release(dg), mlcc_ndarray_release(de);
    free(x), free(w), free(gamma), free(r), free(packed), free(scales);
}

/* One row through the int8 GEMV with x rounded once for the projection (mlcc_quantize_x8, the
 * default) against each block rounding its own copy (MLCC_CUDA_Q4_XQ=0): the same integers and
 * float steps, so the same bits, for plain, silu * up and residual projections (1-16 outputs a
 * block, one and two rounds over K); with the norm in (mlcc_norm_quantize_x8) the same integers,
 * the row's scale applied to each group's d instead of the sum, so within 1e-5 of the largest
 * |y|. The float64 checks above bound both. */
static const one_row_case x8_cases[] = {
        {4096, 4096, 0, 0, 0}, {1, 32, 0, 0, 0},    {37, 64, 0, 1, 0},   {2200, 14336, 0, 1, 0}, {9000, 4096, 1, 0, 0},
        {38, 64, 1, 0, 0},     {600, 8224, 1, 0, 0}, {4096, 4096, 0, 0, 1}, {300, 256, 0, 1, 1},   {2200, 4096, 1, 0, 1},
        {38, 64, 1, 0, 1}};

/* Every x8_cases case with `var` unset against `var`=0: bitwise the same outputs, no NaN; within
 * 1e-5 of the largest |y| instead with the norm where norm_tolerance is set (another rounding of
 * the row's scale) and where K has more than 256 groups (the default takes them in one round of
 * up to 512 threads, the other setting in two rounds of half as many: the same products, summed
 * in another order). `what` names the default in errors. */
static void compare_one_row(const char *var, int norm_tolerance, const char *what) {
    static const char *const settings[2] = {NULL, "0"};
    for (size_t i = 0; i < sizeof x8_cases / sizeof x8_cases[0]; i++) {
        const one_row_case *c = &x8_cases[i];
        int64_t cols = c->silu ? c->out / 2 : c->out, differ = 0, nan = 0;
        float *y[2];
        long launches[2];
        one_row_twice(c, i % 2 ? "ggml_q4_0" : "q4f16_1", var, settings, y, launches);
        double top = 0;
        for (int64_t o = 0; o < cols; o++) top = fmax(top, fabs(y[1][o]));
        for (int64_t o = 0; o < cols; o++) {
            differ += (c->norm && norm_tolerance > 0) || c->in / 32 > 256 ? !(fabs(y[0][o] - y[1][o]) <= 1e-5 * top)
                                                                          : memcmp(&y[0][o], &y[1][o], sizeof(float)) != 0;
            nan += isnan(y[0][o]);
        }
        CHECK_MSG(differ == 0 && nan == 0,
                  "%s%s%s%s, %lld x %lld: %lld of %lld outputs differ from %s=0, %lld NaN", what, c->norm ? " (norm)" : "",
                  c->silu ? " (silu)" : "", c->res ? " (res)" : "", (long long)c->out, (long long)c->in, (long long)differ,
                  (long long)cols, var, (long long)nan);
        free(y[0]), free(y[1]);
    }
}

static void check_x8_once(void) {
    compare_one_row("MLCC_CUDA_Q4_XQ", 1, "x rounded once");
}

/* The GEMV without a group loop, a group a thread (K up to 512 groups: 4096, 256, 64, 32, and
 * 14336 and 8224 in blocks of 448 and 288 threads) against the loop (MLCC_CUDA_Q4_ONE=0: blocks
 * of at most 256 threads): the same bits up to 256 groups, within 1e-5 of the largest |y| above. */
static void check_one_round(void) {
    compare_one_row("MLCC_CUDA_Q4_ONE", 0, "one round");
}

/* One row through the streaming GEMV (MLCC_CUDA_Q4_STREAM=1, sm_90, K % 256 == 0): against
 * float64 (check_linear, check_fused: x's int8 rounding bound), then against the block GEMV with
 * x rounded once (the default): the same integers and per-group products, summed in another
 * order, so within 1e-5 of the largest |y|; the streaming one in one launch (the other: a
 * quantize kernel and the GEMV). Shapes: stages that wrap the ring many times (20000 rows), a
 * ragged last stage, fewer outputs than multiprocessors (one block each), 8, 2 and 1 rows a stage
 * (K = 4096, 14336, 32768), silu * up with 4 and 1 outputs a stage, the norm, the residual;
 * silu * up at K = 32768 wants more shared memory than a block gets: the block GEMV takes it. */
static void check_stream(void) {
    static const one_row_case cases[] = {
        {4096, 4096, 0, 0, 0},  {20000, 4096, 0, 1, 0}, {2200, 14336, 0, 1, 0}, {9000, 4096, 1, 0, 1}, {40, 256, 0, 0, 0},
        {600, 32768, 0, 0, 1}, {6002, 16384, 1, 0, 0}, {1100, 512, 0, 1, 1},   {1000, 1024, 1, 0, 0}, {7, 768, 0, 1, 0}};
    static const char *const settings[2] = {"1", NULL};
    if (mlcc_cuda_device_arch(0) < 90) {
        printf("streaming GEMV: skipped, it needs sm_90 (this device: sm_%d)\n", mlcc_cuda_device_arch(0));
        return;
    }
    setenv("MLCC_CUDA_Q4_STREAM", "1", 1);
    x_as_int8 = 1;
    check_linear("q4f16_1", 1, 9001, 4096, 1e-5);
    check_linear("ggml_q4_0", 1, 2200, 14336, 1e-5);
    check_linear("q4f16_1", 1, 8195, 256, 1e-5);
    x_as_int8 = 0;
    check_fused("q4f16_1", 1, 4096, 4096, 1, 0, 0);
    check_fused("ggml_q4_0", 1, 1100, 14336, 0, 0, 1);
    check_fused("q4f16_1", 1, 9000, 4096, 1, 1, 0);
    check_fused("ggml_q4_0", 1, 300, 256, 1, 0, 1);
    check_fused("q4f16_1", 1, 600, 32768, 0, 1, 0); /* silu * up at K = 32768: the block GEMV (above) */
    unsetenv("MLCC_CUDA_Q4_STREAM");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const one_row_case *c = &cases[i];
        int64_t cols = c->silu ? c->out / 2 : c->out, differ = 0, nan = 0;
        float *y[2];
        long launches[2];
        one_row_twice(c, i % 2 ? "ggml_q4_0" : "q4f16_1", "MLCC_CUDA_Q4_STREAM", settings, y, launches);
        double top = 0, worst = 0;
        for (int64_t o = 0; o < cols; o++) top = fmax(top, fabs(y[1][o]));
        for (int64_t o = 0; o < cols; o++) {
            double e = fabs(y[0][o] - y[1][o]);
            differ += !(e <= 1e-5 * top), nan += isnan(y[0][o]), worst = fmax(worst, e / top);
        }
        CHECK_MSG(differ == 0 && nan == 0 && launches[0] == 1 && launches[1] == 2,
                  "streaming GEMV%s%s%s, %lld x %lld: %lld of %lld outputs differ from the block GEMV's, %lld NaN, %ld launches "
                  "(the block GEMV: %ld)",
                  c->norm ? " (norm)" : "", c->silu ? " (silu)" : "", c->res ? " (res)" : "", (long long)c->out, (long long)c->in,
                  (long long)differ, (long long)cols, (long long)nan, launches[0], launches[1]);
        printf("streaming GEMV%s%s%s %lld x %lld: %.3g of the largest |y| from the block GEMV\n", c->norm ? " norm" : "",
               c->silu ? " silu" : "", c->res ? " res" : "", (long long)c->out, (long long)c->in, worst);
        free(y[0]), free(y[1]);
    }
}

/* One build of the layer module for cuda:0 with the environment variable `var` set to "value"
 * (NULL: none) while it compiles */
static MLCCVM *layer_vm(const char *var, const char *value) {
    if (var) setenv(var, value, 1);
    MLCCVM *vm = mlcc_build_vm_target(build_layer_module("decode", 7), NULL, "cuda");
    if (var) unsetenv(var);
    CHECK_MSG(vm != NULL, "%s", mlcc_last_error());
    return vm;
}

/* The layer module on cuda:0, as built by default (adds in o_proj and down, norms in the GEMVs),
 * with the norms as kernels (MLCC_CUDA_FUSE_GEMV_NORM_Q4=0) and with no add folded
 * (MLCC_CUDA_FUSE_ADD=0: add + norm kernels): the same arithmetic in other kernels, so within 1e-4 of each other (the int8
 * GEMV rounds a * gamma instead of the normed row: the same integers but for rare ties); and
 * against the CPU build, which rounds x to int8 its own way: 1e-3 at 1-2 rows, where both
 * round to int8 per group; 5e-2 from 3 rows, where the GPU's GEMM rounds x and W to float16,
 * four projections deep */
static void check_layer_graph(void) {
    MLCCVM *cpu = mlcc_build_vm(build_layer_module("decode", 7), NULL);
    CHECK_MSG(cpu != NULL, "%s", mlcc_last_error());
    MLCCVM *gpu[3] = {layer_vm(NULL, NULL), layer_vm("MLCC_CUDA_FUSE_GEMV_NORM_Q4", "0"), layer_vm("MLCC_CUDA_FUSE_ADD", "0")};
    static const char *const names[3] = {"default (norms in the GEMVs)", "norms apart", "adds apart"};
    const mlcc_quant_scheme *s = quant_scheme_find("q4f16_1");
    static const int shapes[4][2] = {{LD, LD}, {2 * LI, LD}, {LD, LI}, {LV, LD}};
    MLCCNDArray *host[11] = {NULL}, *dev[11] = {NULL};
    int64_t sg = LD;
    host[2] = mlcc_ndarray_empty(1, &sg, MLCC_DTYPE_F32, MLCC_CPU);
    for (int64_t k = 0; k < LD; k++) ((float *)host[2]->dl.data)[k] = 0.5f + test_rand_float() * test_rand_float();
    for (int i = 0; i < 4; i++) {
        int64_t sq[2] = {shapes[i][0], shapes[i][1] / 8}, ss[2] = {shapes[i][0], shapes[i][1] / 32};
        float *w = malloc(sizeof(float) * (size_t)(shapes[i][0] * shapes[i][1]));
        for (int64_t j = 0; j < (int64_t)shapes[i][0] * shapes[i][1]; j++) w[j] = test_rand_float();
        host[3 + 2 * i] = mlcc_ndarray_empty(2, sq, (DLDataType){kDLUInt, 32, 1}, MLCC_CPU);
        host[4 + 2 * i] = mlcc_ndarray_empty(2, ss, (DLDataType){kDLFloat, 16, 1}, MLCC_CPU);
        quant_pack(s, w, shapes[i][0], shapes[i][1], host[3 + 2 * i]->dl.data, host[4 + 2 * i]->dl.data);
        free(w);
    }
    int64_t ns[] = {1, 2, 3, 17};
    for (int t = 0; cpu && gpu[0] && gpu[1] && gpu[2] && t < 4; t++) {
        int64_t sx[2] = {ns[t], LD};
        for (int i = 0; i < 2; i++) {
            mlcc_ndarray_release(host[i]);
            host[i] = mlcc_ndarray_empty(2, sx, MLCC_DTYPE_F32, MLCC_CPU);
            for (int64_t j = 0; j < ns[t] * LD; j++) ((float *)host[i]->dl.data)[j] = 2 * test_rand_float();
        }
        MLCCValue a[11], ret;
        int codes[11], code;
        for (int i = 0; i < 11; i++) {
            if (i < 2 || !dev[i]) {
                mlcc_ndarray_release(dev[i]);
                dev[i] = mlcc_ndarray_empty(host[i]->dl.ndim, host[i]->dl.shape, host[i]->dl.dtype, (DLDevice){kDLCUDA, 0});
                CHECK_EQ_INT(mlcc_ndarray_copy(dev[i], host[i]), 0);
            }
            codes[i] = MLCC_TYPE_OBJECT, a[i].v_handle = host[i];
        }
        MLCCNDArray *out[4] = {NULL};
        CHECK_MSG(mlcc_vm_invoke(cpu, "decode", a, codes, 11, &ret, &code) == 0, "cpu n=%lld: %s", (long long)ns[t], mlcc_last_error());
        out[3] = ret.v_handle;
        for (int i = 0; i < 11; i++) a[i].v_handle = dev[i];
        for (int v = 0; v < 3; v++) {
            CHECK_MSG(mlcc_vm_invoke(gpu[v], "decode", a, codes, 11, &ret, &code) == 0, "%s n=%lld: %s", names[v], (long long)ns[t],
                      mlcc_last_error());
            out[v] = ret.v_handle;
        }
        if (out[0] && out[1] && out[2] && out[3]) {
            double cpu_err = test_ndarray_rel_error(out[0], out[3]), cpu_tol = ns[t] <= 2 ? 1e-3 : 5e-2;
            CHECK_MSG(cpu_err < cpu_tol, "layer n=%lld: cuda vs cpu %g (tolerance %g)", (long long)ns[t], cpu_err, cpu_tol);
            for (int v = 1; v < 3; v++) {
                double err = test_ndarray_rel_error(out[v], out[0]);
                CHECK_MSG(err < 1e-4, "layer n=%lld: %s vs default %g", (long long)ns[t], names[v], err);
                printf("layer q4f16_1 n=%lld: %s vs default %.3g\n", (long long)ns[t], names[v], err);
            }
            printf("layer q4f16_1 n=%lld: cuda vs cpu %.3g\n", (long long)ns[t], cpu_err);
        }
        for (int v = 0; v < 4; v++) mlcc_ndarray_release(out[v]);
    }
    for (int i = 0; i < 11; i++) mlcc_ndarray_release(host[i]), mlcc_ndarray_release(dev[i]);
    mlcc_vm_free(cpu);
    for (int v = 0; v < 3; v++) mlcc_vm_free(gpu[v]);
}

/* The tensor-core GEMM (cuda_gemm_q4.c): x and the dequantized W rounded to float16, float32
 * sums, so 3e-3 of sum |x w| as the dequantize + cuBLASLt path. Shapes: 1-4 m16 tiles with
 * ragged rows (9, 17, 33, 48, 64), outputs not a multiple of the 128-output tile, K a multiple of
 * 32 but not of a 128-value slice (96, 4128), clusters of 1-8 blocks (4096 outputs over 4096:
 * 8; 300 over 4128: 4 with a ragged last range; 40000 outputs: 1, four rounds), under 9 rows
 * when the GEMV is off, and more than 64 rows in chunks. */
static void check_mma_gemm(void) {
    static const int64_t shapes[][3] = {{9, 130, 96}, {16, 4096, 4096}, {17, 300, 4128}, {33, 1000, 1024},
                                        {64, 257, 14336}, {48, 64, 32}, {24, 1100, 2048}, {57, 129, 4096},
                                        {12, 40000, 1024}};
    setenv("MLCC_CUDA_Q4_GEMV_ROWS", "0", 1);
    for (int i = 0; i < 9; i++)
        check_linear(i % 2 ? "ggml_q4_0" : "q4f16_1", shapes[i][0], shapes[i][1], shapes[i][2], 3e-3);
    check_linear("q4f16_1", 1, 37, 64, 3e-3);
    check_linear("ggml_q4_0", 5, 2200, 4096, 3e-3);
    setenv("MLCC_CUDA_Q4_MMA_ROWS", "1000", 1);
    check_linear("q4f16_1", 100, 520, 256, 3e-3);
    check_linear("ggml_q4_0", 130, 136, 4096, 3e-3);
    setenv("MLCC_CUDA_Q4_MMA_ROWS", "0", 1); /* the dequantize + cuBLASLt path as before */
    check_linear("q4f16_1", 16, 300, 4096, 3e-3);
    /* one and two rows: the float16 GEMV reads the workspace the dequantize kernel has just written
     * (its launches held back from PDL: the GEMV loads weights before its wait) */
    for (int round = 0; round < 20; round++) check_linear(round % 2 ? "ggml_q4_0" : "q4f16_1", 1 + round % 2, 2200, 4096, 3e-3);
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
    check_layer_fusions();
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
        /* one row: wide projections (16 outputs a block, a ragged last block), lanes past the
         * groups, two rounds over K */
        check_linear("q4f16_1", 1, 9001, 4096, 1e-5);
        check_linear("ggml_q4_0", 1, 8500, 64, 1e-5);
        check_linear("q4f16_1", 1, 1100, 8224, 1e-5);
    }
    x_as_int8 = 0; /* MLCC_CUDA_Q4_DP4A=0 from here on: the float kernels' 1e-5 */
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
    check_fusions();
    check_x8_once();
    check_one_round();
    check_mixed_all();
    check_stream();
    check_mma_gemm();
    check_graph();
    check_layer_graph();
    mlcc_cuda_linear_release(0);
    CHECK_EQ_INT(mlcc_cuda_synchronize(0), 0);
    return test_finish();
}
