/* quantize.c - quant.dequantize: a quantized weight back to float32 (docs/quantization.md).
 *
 *   quant.dequantize(q_weight uint32[out, words], q_scale f16/f32[out, groups])
 *       attrs bits (4 or 8), group_size, in_features, zero_point -> float32[out, in_features]
 *       w[o, j] = ((q_weight[o, j / per] >> (bits * (j % per))) & (2^bits - 1) - zero_point)
 *                 * q_scale[o, j / group_size]          per = 32 / bits
 *   with attribute group_zero 1 (q4f16_awq): q_scale is [out, 2 * groups] holding (scale,
 *       zero) per group and w[o, j] = (q - zero[o, g]) * scale[o, g], g = j / group_size
 *   quant.dequantize(weight f16[out, in]) attrs bits 0 -> float32[out, in] (a cast)
 *   quant.dequantize(q_weight uint32[out, words], q_scale f16[out, halves]) attrs ggml_type (12
 *       Q4_K, 13 Q5_K, 14 Q6_K), in_features -> float32[out, in_features]: k-quant super-blocks
 *       (quant/scheme.h), each value as quant_kquant_value (quant/dequant_expr.h) computes it
 *
 * The legalized PrimFunc carries the attribute "mlcc.dequantize" so FuseOps folds it into the
 * matmul that consumes it (one kernel reads the packed weight). TIR has no shifts here, so
 * value k of a word is picked by a select tree over k whose leaves divide by constants. */
#include <stdlib.h>
#include <string.h>

#include "op/op_util.h"
#include "quant/dequant_expr.h"
#include "quant/scheme.h"
#include "support/error.h"

static rx_sinfo *infer_dequantize(const rx_expr *call) {
    int ggml_type = (int)rx_attrs_int(call->call.attrs, "ggml_type", 0);
    int bits = (int)rx_attrs_int(call->call.attrs, "bits", 0);
    int64_t in = rx_attrs_int(call->call.attrs, "in_features", 0);
    rx_sinfo *w = op_tensor_arg_shaped(call, 0);
    if (!w) return NULL;
    if (w->ndim != 2) {
        char *d = op_operand_desc(call, 0);
        mlcc_set_error("quant.dequantize: %s must be 2-D", d);
        free(d);
        return NULL;
    }
    if (bits == 0 && !ggml_type) return rx_sinfo_tensor((mlcc_expr *[]){w->shape[0], w->shape[1]}, 2, DT_F32);
    if (ggml_type && (!quant_kquant_words((uint32_t)ggml_type) || in <= 0 || in % 256)) {
        mlcc_set_error("quant.dequantize: ggml_type %d with %lld in_features is not a k-quant row (Q4_K, Q5_K, Q6_K; "
                       "multiples of 256)", ggml_type, (long long)in);
        return NULL;
    }
    if (!ggml_type && ((bits != 4 && bits != 8) || in <= 0 || rx_attrs_int(call->call.attrs, "group_size", 0) <= 0)) {
        mlcc_set_error("quant.dequantize: bits %d, group_size and in_features must describe a scheme", bits);
        return NULL;
    }
    rx_sinfo *s = call->call.nargs == 2 ? op_tensor_arg_shaped(call, 1) : NULL;
    if (!s) {
        if (call->call.nargs != 2) mlcc_set_error("quant.dequantize: %d-bit weights need (q_weight, q_scale)", bits);
        return NULL;
    }
    if (!dtype_eq(w->dtype, DT_U32) || s->ndim != 2 || !dim_equal(w->shape[0], s->shape[0])) {
        char *dw = op_operand_desc(call, 0), *ds = op_operand_desc(call, 1);
        mlcc_set_error("quant.dequantize: %s must be uint32 and %s 2-D with the same rows", dw, ds);
        free(dw), free(ds);
        return NULL;
    }
    return rx_sinfo_tensor((mlcc_expr *[]){w->shape[0], ir_int(in)}, 2, DT_F32);
}

typedef struct deq_ctx {
    te_tensor *w, *scale;
    int bits, group, zero, group_zero, ggml_type;
    mlcc_expr *row;
} deq_ctx;

static mlcc_expr *kquant_load(void *ctx, int which, mlcc_expr *col) {
    deq_ctx *c = ctx;
    return te_load2(which ? c->scale : c->w, c->row, col);
}

static mlcc_expr *dequantize_body(mlcc_expr **idx, void *ctx) {
    deq_ctx *c = ctx;
    mlcc_expr *o = idx[0], *j = idx[1];
    if (c->ggml_type) {
        c->row = o;
        return quant_kquant_value(c->ggml_type, j, kquant_load, c);
    }
    if (c->bits == 0) return ir_cast(DT_F32, te_load2(c->w, o, j));
    mlcc_expr *word = te_load2(c->w, o, ir_floordiv(j, ir_int(32 / c->bits)));
    if (c->group_zero)
        return quant_dequant_value_zero(word, j, te_load2(c->scale, o, quant_group_zero_col(j, c->group, 0)),
                                        te_load2(c->scale, o, quant_group_zero_col(j, c->group, 1)), c->bits);
    mlcc_expr *scale = te_load2(c->scale, o, ir_floordiv(j, ir_int(c->group)));
    return quant_dequant_value(word, j, scale, c->bits, c->zero);
}

static rx_expr *legalize_dequantize(rx_builder *bb, const rx_expr *call) {
    if (!call->sinfo->shape) return NULL;
    deq_ctx c = {leg_input(call, 0, "q_weight"), NULL, (int)rx_attrs_int(call->call.attrs, "bits", 0),
                 (int)rx_attrs_int(call->call.attrs, "group_size", 32), 0, (int)rx_attrs_int(call->call.attrs, "group_zero", 0),
                 (int)rx_attrs_int(call->call.attrs, "ggml_type", 0), NULL};
    if (c.ggml_type) c.bits = 4; /* quantized: a (q_weight, q_scale) pair */
    c.zero = (int)rx_attrs_int(call->call.attrs, "zero_point", c.bits ? (1 << (c.bits - 1)) - 1 : 0);
    int nin = 1;
    if (c.bits) c.scale = leg_input(call, 1, "q_scale"), nin = 2;
    static const char *axes[] = {"o", "j", NULL};
    te_set_axis_names(axes);
    te_tensor *out = te_compute(leg_out_name(call), DT_F32, call->sinfo->shape, 2, dequantize_body, &c);
    te_tensor *params[3] = {c.w, c.scale, NULL};
    params[nin] = out;
    mlcc_prim_func *f = te_create_prim_func(op_short_name(call), params, nin + 1);
    if (!f) return NULL;
    prim_func_set_attr(f, "mlcc.dequantize", ir_int(1));
    rx_expr *gv = bb_add_prim_func(bb, f, op_short_name(call));
    return rx_with_sinfo(op_call_tir(gv, call->call.args, nin, call->sinfo), call->sinfo);
}

static const rx_op_def dequantize_op = {"quant.dequantize", infer_dequantize, legalize_dequantize};

void op_register_quantize(void) {
    op_register(&dequantize_op);
}

rx_expr *op_dequantize(rx_expr *q_weight, rx_expr *q_scale, int bits, int group_size, int zero_point, int64_t in_features) {
    return op_dequantize_group_zero(q_weight, q_scale, bits, group_size, zero_point, 0, in_features);
}

rx_expr *op_dequantize_group_zero(rx_expr *q_weight, rx_expr *q_scale, int bits, int group_size, int zero_point, int group_zero,
                                  int64_t in_features) {
    rx_attrs a = rx_attrs_set_int((rx_attrs){NULL, 0}, "bits", bits);
    if (group_zero) a = rx_attrs_set_int(a, "group_zero", 1);
    a = rx_attrs_set_int(a, "zero_point", zero_point);
    a = rx_attrs_set_int(a, "group_size", group_size);
    a = rx_attrs_set_int(a, "in_features", in_features);
    return op_call("quant.dequantize", (rx_expr *[]){q_weight, q_scale}, q_scale ? 2 : 1, a);
}

rx_expr *op_dequantize_kquant(rx_expr *q_weight, rx_expr *q_scale, int ggml_type, int64_t in_features) {
    rx_attrs a = rx_attrs_set_int((rx_attrs){NULL, 0}, "ggml_type", ggml_type);
    a = rx_attrs_set_int(a, "in_features", in_features);
    return op_call("quant.dequantize", (rx_expr *[]){q_weight, q_scale}, 2, a);
}
