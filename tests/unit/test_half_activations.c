/* test_half_activations.c - transform/half_activations.c (the CUDA build's float16 activations
 * between kernels and float16 projections in prefill functions): on a module with a prefill
 * and a decode function of the same body (RMSNorm -> gate_up -> silu * up -> down + residual,
 * and a norm read both as a projection's x and as a residual), the module after the pass has
 * in the prefill function alone: the norm feeding only a projection writing float16 (a clone
 * float16 (a clone of its PrimFunc), gate_up's output float16 and the silu * up kernel reading it and writing
 * float16, the residual sums (linear_f16_add) float16 where every reader takes float16 (kernels,
 * projections' x and r) and float32 where one does not (a view), the norm also read as a
 * residual float32; the original PrimFuncs unchanged. In the decode function only silu * up (the
 * fused gate_up call's output) and the attention's output become float16, each read as a
 * projection's x (MLCC_CUDA_HALF_DECODE=0: none). MLCC_CUDA_HALF_ACT=x keeps projection
 * outputs float32 (and the residual sums), =0 turns the pass off, MLCC_CUDA_HALF_RESIDUAL=0 keeps
 * the residual sums float32. A projection whose output reaches the result through
 * kernels alone (a soft-cap after it), or the residual stream (MLCC_CUDA_FUSE_ADD=0), keeps
 * float32. A combined q | k | v projection read by the KV cache's attention_qkv (whose output
 * ends as o_proj's x) becomes float16 in the prefill function, and so do that output and its
 * reshape (=x: both stay float32). The retyped PrimFuncs cast at their loads and stores
 * (float32 arithmetic inside). The generated CUDA source is produced in each mode (its NVRTC
 * compile and the numbers are test_cuda_models' on a GPU: q0f16 prefill against the CPU). */
#include <stdlib.h>
#include <string.h>

#include "codegen/build.h"
#include "ir/block_builder.h"
#include "ir/module.h"
#include "op/op.h"
#include "runtime/cuda.h"
#include "support/error.h"
#include "tensor_util.h"
#include "test.h"

enum { D = 64, F = 128, HD = 16 }; /* HD: head_dim (q, k, v: D / HD heads each) */

static rx_expr *f16_linear(rx_builder *bb, rx_expr *x, rx_expr *w16, int64_t in) {
    rx_expr *w = bb_emit(bb, op_dequantize(w16, NULL, 0, 0, 0, in), "dequant");
    return bb_emit(bb, op_linear(x, w), "proj");
}

static void add_function(mlcc_ir_module *mod, const char *name) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(D), NULL));
    rx_expr *g = rx_var("g", rx_sinfo_tensor_v(DT_F32, ir_int(D), NULL));
    rx_expr *wgu = rx_var("wgu", rx_sinfo_tensor_v(DT_F16, ir_int(2 * F), ir_int(D), NULL));
    rx_expr *wd = rx_var("wd", rx_sinfo_tensor_v(DT_F16, ir_int(D), ir_int(F), NULL));
    rx_expr *wo = rx_var("wo", rx_sinfo_tensor_v(DT_F16, ir_int(D), ir_int(D), NULL));
    rx_expr *wqkv = rx_var("wqkv", rx_sinfo_tensor_v(DT_F16, ir_int(3 * D), ir_int(D), NULL));
    rx_expr *cache = rx_var("kv_cache", rx_sinfo_object());
    rx_expr *table = rx_var("rope_table", rx_sinfo_tensor_v(DT_F64, n, ir_int(2), ir_int(HD / 2), NULL));
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, name, (rx_expr *[]){x, g, wgu, wd, wo, wqkv, cache, table}, 8);
    rx_attrs none = {NULL, 0};
    bb_set_function_attrs(bb, rx_attrs_set_int(none, "var_upper_bound:n", 64));
    bb_begin_dataflow(bb);
    rx_expr *h = bb_emit(bb, op_rms_norm(x, g, 1e-5), "h");
    rx_expr *gu = f16_linear(bb, h, wgu, D);
    int64_t axis = 1, b0 = 0, e0 = F, b1 = F, e1 = 2 * F;
    rx_expr *gate = bb_emit(bb, op_strided_slice(gu, &axis, &b0, &e0, NULL, 1), "gate");
    rx_expr *up = bb_emit(bb, op_strided_slice(gu, &axis, &b1, &e1, NULL, 1), "up");
    rx_expr *m = bb_emit(bb, op_multiply(bb_emit(bb, op_unary("nn.silu", gate), "act"), up), "gated");
    rx_expr *y = bb_emit(bb, op_add(x, f16_linear(bb, m, wd, F)), "resid");
    rx_expr *h2 = bb_emit(bb, op_rms_norm(y, g, 1e-5), "h2");       /* read as x and as a residual */
    rx_expr *o = bb_emit(bb, op_add(h2, f16_linear(bb, h2, wo, D)), "o");
    /* attention on the combined q | k | v projection (attention_qkv.c's call): qkv is read as the
     * cache's qkv, and the attention's output ends as o_proj's x */
    rx_expr *qkv = f16_linear(bb, o, wqkv, D);
    rx_expr *in[4] = {cache, rx_prim_value(ir_int(0)), qkv, table};
    rx_expr *attn = bb_emit(bb, op_call_dps_packed("mlcc.kv_cache.attention_qkv", in, 4,
                                                   rx_sinfo_tensor_v(DT_F32, n, ir_int(D / HD), ir_int(HD), NULL)),
                            "attn");
    attn = bb_emit(bb, op_reshape(attn, (mlcc_expr *[]){n, ir_int(D)}, 2), "attn_flat");
    o = bb_emit(bb, op_add(o, f16_linear(bb, attn, wo, D)), "o_attn");
    /* a projection whose output reaches the result through kernels alone (a soft-cap) keeps float32 */
    rx_expr *capped = bb_emit(bb, op_unary("tanh", f16_linear(bb, y, wo, D)), "capped");
    /* a residual sum read through a view keeps float32 (its r, y, is float16) */
    rx_expr *kept = bb_emit(bb, op_add(y, f16_linear(bb, h2, wo, D)), "kept");
    kept = bb_emit(bb, op_reshape(kept, (mlcc_expr *[]){n, ir_int(D)}, 2), "kept_view");
    rx_expr *sum = bb_emit(bb, op_add(bb_emit(bb, op_add(o, y), "sum"), kept), "sum_kept");
    rx_expr *out = bb_emit_output(bb, op_add(sum, capped), "out");
    bb_end_dataflow(bb);
    rx_expr *f = bb_end_function(bb, out);
    CHECK_MSG(f != NULL, "%s", bb_error(bb));
    bb_free(bb);
}

/* A 4-bit projection as convert writes q4f16_1: q_weight u32 [out, in / 8], q_scale f16 [out, in / 32] */
static rx_expr *q4_linear(rx_builder *bb, rx_expr *x, rx_expr *const *qw_qs, int64_t in) {
    rx_expr *w = bb_emit(bb, op_dequantize(qw_qs[0], qw_qs[1], 4, 32, 7, in), "dequant");
    return bb_emit(bb, op_linear(x, w), "proj");
}

static void add_q4_param(rx_expr **p, const char *name, int64_t out, int64_t in) {
    char s[32];
    snprintf(s, sizeof s, "%s_scale", name);
    p[0] = rx_var(name, rx_sinfo_tensor_v(DT_U32, ir_int(out), ir_int(in / 8), NULL));
    p[1] = rx_var(s, rx_sinfo_tensor_v(DT_F16, ir_int(out), ir_int(in / 32), NULL));
}

/* A 4-bit layer: RMSNorm -> gate_up -> silu * up -> down + x -> RMSNorm -> qkv -> attention_qkv
 * -> o_proj + the sum */
static void add_q4_function(mlcc_ir_module *mod, const char *name) {
    mlcc_expr *n = ir_size_var("n");
    rx_expr *x = rx_var("x", rx_sinfo_tensor_v(DT_F32, n, ir_int(D), NULL));
    rx_expr *g = rx_var("g", rx_sinfo_tensor_v(DT_F32, ir_int(D), NULL));
    rx_expr *p[10];
    add_q4_param(p, "wgu", 2 * F, D);
    add_q4_param(p + 2, "wd", D, F);
    add_q4_param(p + 4, "wqkv", 3 * D, D);
    add_q4_param(p + 6, "wo", D, D);
    p[8] = rx_var("kv_cache", rx_sinfo_object());
    p[9] = rx_var("rope_table", rx_sinfo_tensor_v(DT_F64, n, ir_int(2), ir_int(HD / 2), NULL));
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, name, (rx_expr *[]){x, g, p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9]}, 12);
    rx_attrs none = {NULL, 0};
    bb_set_function_attrs(bb, rx_attrs_set_int(none, "var_upper_bound:n", 64));
    bb_begin_dataflow(bb);
    rx_expr *gu = q4_linear(bb, bb_emit(bb, op_rms_norm(x, g, 1e-5), "h"), p, D);
    int64_t axis = 1, b0 = 0, e0 = F, b1 = F, e1 = 2 * F;
    rx_expr *gate = bb_emit(bb, op_strided_slice(gu, &axis, &b0, &e0, NULL, 1), "gate");
    rx_expr *up = bb_emit(bb, op_strided_slice(gu, &axis, &b1, &e1, NULL, 1), "up");
    rx_expr *m = bb_emit(bb, op_multiply(bb_emit(bb, op_unary("nn.silu", gate), "act"), up), "gated");
    rx_expr *y = bb_emit(bb, op_add(x, q4_linear(bb, m, p + 2, F)), "resid");
    rx_expr *qkv = q4_linear(bb, bb_emit(bb, op_rms_norm(y, g, 1e-5), "h2"), p + 4, D);
    rx_expr *in[4] = {p[8], rx_prim_value(ir_int(0)), qkv, p[9]};
    rx_expr *attn = bb_emit(bb, op_call_dps_packed("mlcc.kv_cache.attention_qkv", in, 4,
                                                   rx_sinfo_tensor_v(DT_F32, n, ir_int(D / HD), ir_int(HD), NULL)),
                            "attn");
    attn = bb_emit(bb, op_reshape(attn, (mlcc_expr *[]){n, ir_int(D)}, 2), "attn_flat");
    rx_expr *o = bb_emit(bb, op_add(y, q4_linear(bb, attn, p + 6, D)), "o_attn");
    rx_expr *out = bb_emit_output(bb, op_rms_norm(o, g, 1e-5), "out");
    bb_end_dataflow(bb);
    rx_expr *f = bb_end_function(bb, out);
    CHECK_MSG(f != NULL, "%s", bb_error(bb));
    bb_free(bb);
}

/* The module printed after `pass` (empty when the pass did not run); the module's CUDA kernels
 * are compiled to PTX for sm_90 where NVRTC is (the float16 loads and stores included). */
static char *printed_after(const mlcc_ir_module *mod, const char *pass) {
    mlcc_strbuf text = STRBUF_INIT;
    mlcc_build_options opt = {.print_after = pass, .printed = &text};
    char *src = mlcc_build_cuda_kernel_source(mod, &opt);
    CHECK_MSG(src != NULL, "%s", mlcc_last_error());
    if (src && mlcc_nvrtc_available()) {
        char *ptx = NULL;
        CHECK_MSG(mlcc_nvrtc_compile_ptx(src, 90, &ptx) == 0, "%s", mlcc_last_error());
        free(ptx);
    }
    free(src);
    return sb_detach(&text);
}

/* the text of function `name` in a printed module */
static char *function_text(const char *all, const char *name) {
    char head[64];
    snprintf(head, sizeof head, "def %s(", name);
    const char *s = strstr(all, head);
    if (!s) return strdup("");
    const char *e = strstr(s + 1, "    @");
    return strndup(s, e ? (size_t)(e - s) : strlen(s));
}

static int count(const char *s, const char *what) {
    return test_count_substr(s, what);
}

int main(void) {
    ir_scope_begin();
    mlcc_ir_module *mod = irmod_new();
    add_function(mod, "batch_prefill");
    add_function(mod, "batch_decode");

    unsetenv("MLCC_CUDA_HALF_ACT");
    char *all = printed_after(mod, "half_activations");
    char *pre = function_text(all, "batch_prefill"), *dec = function_text(all, "batch_decode");
    CHECK_MSG(count(pre, "dtype=\"float16\") = R.call_tir(cls.rms_norm_f16,") == 1, "%s", pre);
    CHECK_MSG(count(pre, "dtype=\"float32\") = R.call_tir(cls.rms_norm_f161, (resid,") == 1, "%s", pre); /* h2 */
    /* gate_up and qkv half; the capped projection float32 */
    CHECK_MSG(count(pre, "dtype=\"float16\") = R.call_dps_packed(R.str(\"mlcc.cuda.linear_f16\")") == 2, "%s", pre);
    CHECK_MSG(count(pre, "dtype=\"float32\") = R.call_dps_packed(R.str(\"mlcc.cuda.linear_f16\")") == 1, "%s", pre); /* capped */
    CHECK_MSG(count(pre, "(n, 192), dtype=\"float16\") = R.call_dps_packed(R.str(\"mlcc.cuda.linear_f16\")") == 1 &&
                  count(pre, "R.str(\"mlcc.kv_cache.attention_qkv\"), (kv_cache, R.prim_value(0), proj") == 1,
              "qkv not half or not the attention's:\n%s", pre);
    /* the attention's output, and its view, half: o_proj's x */
    CHECK_MSG(count(pre, "dtype=\"float16\") = R.call_dps_packed(R.str(\"mlcc.kv_cache.attention_qkv\")") == 1 &&
                  count(pre, "dtype=\"float16\") = R.call_packed(R.str(\"vm.builtin.reshape\"), attn") == 1,
              "the attention's output not half:\n%s", pre);
    CHECK_MSG(count(pre, "silu_multiply_f16, (proj") == 1, "%s", pre);
    CHECK_MSG(count(pre, "dtype=\"float16\") = R.call_tir(cls.fused_strided_slice_strided_slice1_silu_multiply_f16") == 1, "%s", pre);
    /* the residual sums: resid, o and o_attn float16, kept (read through a view) float32 */
    CHECK_MSG(count(pre, "dtype=\"float16\") = R.call_dps_packed(R.str(\"mlcc.cuda.linear_f16_add\")") == 3, "%s", pre);
    CHECK_MSG(count(pre, "kept: R.Tensor((n, 64), dtype=\"float32\") = R.call_dps_packed(R.str(\"mlcc.cuda.linear_f16_add\"), "
                         "(h2, wo, resid)") == 1,
              "%s", pre);
    CHECK_MSG(count(pre, "R.call_dps_packed(R.str(\"mlcc.cuda.linear_f16_add\"), (gated, wd, x)") == 1, "%s", pre); /* r: the parameter */
    /* decode: silu * up (fuse_gemv's gate_up call) and the attention's output (and its view) half,
     * each read only as a projection's x; nothing else, no PrimFunc clones */
    CHECK_MSG(count(dec, "float16\") = R.call") == 3 && count(dec, "_f16,") == 0, "decode:\n%s", dec);
    CHECK_MSG(count(dec, "gated: R.Tensor((n, 128), dtype=\"float16\") = R.call_dps_packed(R.str(\"mlcc.cuda.linear_f16_silu\")") == 1 &&
                  count(dec, "R.call_dps_packed(R.str(\"mlcc.cuda.linear_f16_add\"), (gated, wd, x)") == 1,
              "silu * up not half for down_proj:\n%s", dec);
    CHECK_MSG(count(dec, "dtype=\"float16\") = R.call_dps_packed(R.str(\"mlcc.kv_cache.attention_qkv\")") == 1 &&
                  count(dec, "dtype=\"float16\") = R.call_packed(R.str(\"vm.builtin.reshape\"), attn") == 1,
              "the attention's output not half in decode:\n%s", dec);
    CHECK_MSG(count(dec, "R.call_tir(cls.rms_norm,") == 2, "%s", dec);
    /* the clones cast at loads and stores; the originals stay float32 */
    CHECK_MSG(count(all, "def rms_norm_f16(") == 1 && count(all, "def rms_norm(") == 1, "%s", all);
    CHECK_MSG(count(all, "T.Cast(\"float16\", x[") == 1, "%s", all);
    CHECK_MSG(count(all, "T.Cast(\"float32\", proj[") >= 2, "%s", all);
    free(pre), free(dec), free(all);

    /* residual adds left to kernels (fuse_add_norm's add + norm, two outputs): the down
     * projection's output feeds the residual stream and stays float32; gate_up's is half */
    setenv("MLCC_CUDA_FUSE_ADD", "0", 1);
    all = printed_after(mod, "half_activations");
    pre = function_text(all, "batch_prefill"), dec = function_text(all, "batch_decode");
    CHECK_MSG(count(pre, "R.call_tir(cls.add_rms_norm, (x, proj") == 1, "%s", pre);
    CHECK_MSG(count(pre, "dtype=\"float16\") = R.call_dps_packed(R.str(\"mlcc.cuda.linear_f16\")") == 2, "%s", pre); /* + qkv */
    CHECK_MSG(count(dec, "_f16,") == 0, "%s", dec);
    free(pre), free(dec), free(all);
    unsetenv("MLCC_CUDA_FUSE_ADD");

    /* MLCC_CUDA_HALF_RESIDUAL=0: the residual sums float32, the rest as by default */
    setenv("MLCC_CUDA_HALF_RESIDUAL", "0", 1);
    all = printed_after(mod, "half_activations");
    pre = function_text(all, "batch_prefill");
    CHECK_MSG(count(pre, "dtype=\"float32\") = R.call_dps_packed(R.str(\"mlcc.cuda.linear_f16_add\")") == 4 &&
                  count(pre, "float16\") = R.call_dps_packed(R.str(\"mlcc.cuda.linear_f16_add\")") == 0,
              "%s", pre);
    CHECK_MSG(count(pre, "dtype=\"float16\") = R.call_dps_packed(R.str(\"mlcc.cuda.linear_f16\")") == 2, "%s", pre);
    free(pre), free(all);
    unsetenv("MLCC_CUDA_HALF_RESIDUAL");

    /* MLCC_CUDA_HALF_DECODE=0: decode unchanged, prefill as by default */
    setenv("MLCC_CUDA_HALF_DECODE", "0", 1);
    all = printed_after(mod, "half_activations");
    pre = function_text(all, "batch_prefill"), dec = function_text(all, "batch_decode");
    CHECK_MSG(count(dec, "float16\") = R.call") == 0 && count(dec, "_f16,") == 0, "decode changed:\n%s", dec);
    CHECK_MSG(count(pre, "dtype=\"float16\") = R.call_dps_packed(R.str(\"mlcc.cuda.linear_f16_add\")") == 3, "%s", pre);
    free(pre), free(dec), free(all);
    unsetenv("MLCC_CUDA_HALF_DECODE");

    setenv("MLCC_CUDA_HALF_ACT", "x", 1);
    all = printed_after(mod, "half_activations");
    pre = function_text(all, "batch_prefill");
    CHECK_MSG(count(pre, "dtype=\"float16\") = R.call_tir(cls.rms_norm_f16,") == 1, "%s", pre);
    CHECK_MSG(count(pre, "float16\") = R.call_dps_packed") == 0, "%s", pre); /* projections and the attention */
    CHECK_MSG(count(pre, "silu_multiply_f16, (proj") == 1 &&
                  count(pre, "dtype=\"float16\") = R.call_tir(cls.fused_strided_slice_strided_slice1_silu_multiply_f16") == 1,
              "%s", pre);
    CHECK_MSG(count(all, "T.Cast(\"float32\", proj[") == 0, "%s", all);
    free(pre), free(all);

    setenv("MLCC_CUDA_HALF_ACT", "0", 1);
    all = printed_after(mod, "fuse_tir");
    CHECK_MSG(count(all, "_f16(") == 0 && count(all, "_f16,") == 0 && count(all, "float16\") = R.call") == 0, "%s", all);
    free(all);
    all = printed_after(mod, "half_activations");
    CHECK_MSG(strlen(all) == 0, "the pass ran with MLCC_CUDA_HALF_ACT=0:\n%s", all);
    free(all);
    unsetenv("MLCC_CUDA_HALF_ACT");

    /* 4 bits: in the prefill function the same values as float16's become half around
     * mlcc.cuda.linear_q4f16[_add] (which dequantizes for a prompt's rows and reads and writes
     * half values as they are); decode's 4-bit GEMVs keep float32; MLCC_CUDA_HALF_Q4=0: none */
    mlcc_ir_module *q4 = irmod_new();
    add_q4_function(q4, "batch_prefill");
    add_q4_function(q4, "batch_decode");
    all = printed_after(q4, "half_activations");
    pre = function_text(all, "batch_prefill"), dec = function_text(all, "batch_decode");
    CHECK_MSG(count(pre, "R.str(\"mlcc.cuda.linear_q4f16") == 4, "not the 4-bit projections:\n%s", pre);
    CHECK_MSG(count(pre, "dtype=\"float16\") = R.call_tir(cls.rms_norm_f16") == 2, "the norms not half:\n%s", pre);
    CHECK_MSG(count(pre, "dtype=\"float16\") = R.call_dps_packed(R.str(\"mlcc.cuda.linear_q4f16\")") == 2,
              "gate_up and qkv not half:\n%s", pre);
    CHECK_MSG(count(pre, "dtype=\"float16\") = R.call_tir(cls.fused_strided_slice_strided_slice1_silu_multiply_f16") == 1,
              "silu * up not half:\n%s", pre);
    CHECK_MSG(count(pre, "dtype=\"float16\") = R.call_dps_packed(R.str(\"mlcc.kv_cache.attention_qkv\")") == 1,
              "the attention's output not half:\n%s", pre);
    /* the residual sums half (read by kernels and as r; the first one's r is the float32 x),
     * the final norm reading the last one and writing the float32 result */
    CHECK_MSG(count(pre, "dtype=\"float16\") = R.call_dps_packed(R.str(\"mlcc.cuda.linear_q4f16_add\"), (gated, wd, wd_scale, x)") == 1 &&
                  count(pre, "dtype=\"float16\") = R.call_dps_packed(R.str(\"mlcc.cuda.linear_q4f16_add\")") == 2 &&
                  count(pre, "out: R.Tensor((n, 64), dtype=\"float32\") = R.call_tir(cls.rms_norm_f16") == 1,
              "the residual sums:\n%s", pre);
    CHECK_MSG(count(dec, "float16\") = R.call") == 0 && count(dec, "_f16,") == 0, "4-bit decode changed:\n%s", dec);
    free(pre), free(dec), free(all);
    setenv("MLCC_CUDA_HALF_Q4", "0", 1);
    all = printed_after(q4, "half_activations");
    pre = function_text(all, "batch_prefill");
    CHECK_MSG(count(pre, "float16\") = R.call") == 0 && count(pre, "_f16,") == 0, "MLCC_CUDA_HALF_Q4=0:\n%s", pre);
    free(pre), free(all);
    unsetenv("MLCC_CUDA_HALF_Q4");

    ir_scope_end();
    return test_finish();
}
