/* cuda_dispatch.c - the CUDA build's library dispatch (issue 17): projections whose weight is
 * float16 (scheme q0f16: `w32 = quant.dequantize(w16)` with bits 0, then `matmul(x, w32,
 * transpose_b)`) become `call_dps_packed("mlcc.cuda.linear_f16", x, w16)`.
 *
 * Why a packed function rather than the TIR matmul rule: the row count of a projection is
 * symbolic (tokens in prefill, sequences in decode), and the best kernel differs by orders of
 * magnitude across it: a few rows stream the weight once (a GEMV at the copy rate), many rows
 * are tensor-core work (cuBLASLt). The runtime side (runtime/cuda_linear.c) chooses per call,
 * once the rows are known. The dequantize binding is left for dead-code elimination.
 *
 * 4-bit weights with float16 scales in groups of 32 (q4f16_1, zero point 7; ggml_q4_0, zero
 * point 8) become `call_dps_packed("mlcc.cuda.linear_q4f16[_zp8]", x, q_weight, q_scale)`
 * (runtime/cuda_linear_q4.c: a fused dequantize-GEMV, or dequantize + cuBLASLt for prefill).
 * Float32 and 8-bit weights keep the generated kernels (the TIR rules are the fallback).
 * The Vulkan build runs the same pass with ctx = "mlcc.vulkan.linear_f16" (runtime/vulkan_linear.c):
 * float16 weights only, Vulkan has no 4-bit kernel yet. */
#include <stdlib.h>
#include <string.h>

#include "op/op.h"
#include "support/error.h"
#include "transform/graph_rewrite.h"
#include "transform/pass.h"

static int is_op(const rx_expr *v, const char *name) {
    return v && v->kind == RX_CALL && v->call.callee->kind == RX_OP && !strcmp(v->call.callee->op->name, name);
}

/* The float16 weight whose plain cast to float32 is `value`, or NULL. */
static rx_expr *f16_weight_of_cast(const rx_expr *value) {
    if (!is_op(value, "quant.dequantize") || value->call.nargs != 1) return NULL;
    if (rx_attrs_int(value->call.attrs, "bits", -1) != 0) return NULL;
    rx_expr *w = value->call.args[0];
    const rx_sinfo *s = w->sinfo;
    if (!s || s->kind != SI_TENSOR || s->ndim != 2 || !dtype_eq(s->dtype, DT_F16)) return NULL;
    return w;
}

static int is_2d(const rx_expr *e, mlcc_dtype t) {
    const rx_sinfo *s = e->sinfo;
    return s && s->kind == SI_TENSOR && s->ndim == 2 && dtype_eq(s->dtype, t);
}

/* The packed function for a 4-bit dequantize (`value`) the runtime has a kernel for, or NULL. */
static const char *q4_function_of(const rx_expr *value) {
    if (!is_op(value, "quant.dequantize") || value->call.nargs != 2) return NULL;
    const rx_attrs a = value->call.attrs;
    if (rx_attrs_int(a, "bits", -1) != 4 || rx_attrs_int(a, "group_size", -1) != 32) return NULL;
    if (!is_2d(value->call.args[0], DT_U32) || !is_2d(value->call.args[1], DT_F16)) return NULL;
    switch (rx_attrs_int(a, "zero_point", -1)) {
    case 7: return "mlcc.cuda.linear_q4f16";
    case 8: return "mlcc.cuda.linear_q4f16_zp8";
    default: return NULL;
    }
}

/* MLCC_CUDA_DISPATCH_Q4=0 keeps the generated kernels for 4-bit weights (for comparison). */
static int q4_enabled(void) {
    const char *e = getenv("MLCC_CUDA_DISPATCH_Q4");
    return !e || strcmp(e, "0") != 0;
}

typedef struct dispatch_ctx {
    mlcc_u64map casts; /* var of a float16 dequantize -> its float16 weight */
    mlcc_u64map q4;    /* var of a 4-bit dequantize -> its call (args: q_weight, q_scale) */
    const char *fn;    /* the packed function for float16 weights */
    int cuda;          /* the 4-bit kernels exist (CUDA only) */
} dispatch_ctx;

static int is_f32_tensor(const rx_sinfo *s) {
    return s && s->kind == SI_TENSOR && s->ndim >= 1 && s->shape && dtype_eq(s->dtype, DT_F32);
}

static int dispatch_binding(rx_builder *bb, rx_binding b, void *ctx) {
    dispatch_ctx *c = ctx;
    rx_expr *v = b.value;
    rx_expr *w16 = f16_weight_of_cast(v);
    if (w16) u64map_set_p(&c->casts, b.var, w16);
    if (q4_function_of(v)) u64map_set_p(&c->q4, b.var, v);
    if (is_op(v, "matmul") && v->call.nargs == 2 && rx_attrs_int(v->call.attrs, "transpose_b", 0) == 1 &&
        is_f32_tensor(v->call.args[0]->sinfo) && is_f32_tensor(v->sinfo)) {
        rx_expr *w = u64map_get_p(&c->casts, v->call.args[1]);
        rx_expr *q = u64map_get_p(&c->q4, v->call.args[1]);
        if (w) b.value = op_call_dps_packed(c->fn, (rx_expr *[]){v->call.args[0], w}, 2, v->sinfo);
        else if (q && c->cuda && q4_enabled())
            b.value = op_call_dps_packed(q4_function_of(q), (rx_expr *[]){v->call.args[0], q->call.args[0], q->call.args[1]}, 3,
                                         v->sinfo);
    }
    bb_emit_binding(bb, b);
    return 0;
}

mlcc_ir_module *pass_cuda_dispatch(const mlcc_ir_module *m, void *ctx) {
    dispatch_ctx c = {.fn = ctx ? (const char *)ctx : "mlcc.cuda.linear_f16"};
    c.cuda = strcmp(c.fn, "mlcc.cuda.linear_f16") == 0;
    u64map_init(&c.casts);
    u64map_init(&c.q4);
    mlcc_ir_module *out = rx_rewrite_module(m, "cuda_dispatch", dispatch_binding, &c, NULL);
    u64map_free(&c.casts);
    u64map_free(&c.q4);
    return out;
}
