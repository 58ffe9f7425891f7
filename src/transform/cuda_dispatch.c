/* cuda_dispatch.c - the CUDA build's library dispatch (issue 17): projections whose weight is
 * float16 (scheme q0f16: `w32 = quant.dequantize(w16)` with bits 0, then `matmul(x, w32,
 * transpose_b)`) become `call_dps_packed("mlcc.cuda.linear_f16", x, w16)`.
 *
 * Why a packed function rather than the TIR matmul rule: the row count of a projection is
 * symbolic (tokens in prefill, sequences in decode), and the best kernel differs by orders of
 * magnitude across it: a few rows stream the weight once (a GEMV at the copy rate), many rows
 * are tensor-core work (cuBLASLt). The runtime side (runtime/cuda_linear.c) chooses per call,
 * once the rows are known. The dequantize binding is left for dead-code elimination. Float32
 * and 4/8-bit weights keep the generated kernels (the TIR rules are the fallback).
 * The Vulkan build runs the same pass with ctx = "mlcc.vulkan.linear_f16" (runtime/vulkan_linear.c). */
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

static int is_f32_tensor(const rx_sinfo *s) {
    return s && s->kind == SI_TENSOR && s->ndim >= 1 && s->shape && dtype_eq(s->dtype, DT_F32);
}

typedef struct dispatch_ctx {
    mlcc_u64map casts; /* var of a dequantize -> its float16 weight */
    const char *fn;    /* the packed function */
} dispatch_ctx;

static int dispatch_binding(rx_builder *bb, rx_binding b, void *ctx) {
    dispatch_ctx *c = ctx;
    mlcc_u64map *casts = &c->casts;
    rx_expr *v = b.value;
    rx_expr *w16 = f16_weight_of_cast(v);
    if (w16) u64map_set_p(casts, b.var, w16);
    if (is_op(v, "matmul") && v->call.nargs == 2 && rx_attrs_int(v->call.attrs, "transpose_b", 0) == 1 &&
        is_f32_tensor(v->call.args[0]->sinfo) && is_f32_tensor(v->sinfo)) {
        rx_expr *w = u64map_get_p(casts, v->call.args[1]);
        if (w) b.value = op_call_dps_packed(c->fn, (rx_expr *[]){v->call.args[0], w}, 2, v->sinfo);
    }
    bb_emit_binding(bb, b);
    return 0;
}

mlcc_ir_module *pass_cuda_dispatch(const mlcc_ir_module *m, void *ctx) {
    dispatch_ctx c = {.fn = ctx ? (const char *)ctx : "mlcc.cuda.linear_f16"};
    u64map_init(&c.casts);
    mlcc_ir_module *out = rx_rewrite_module(m, "cuda_dispatch", dispatch_binding, &c, NULL);
    u64map_free(&c.casts);
    return out;
}
