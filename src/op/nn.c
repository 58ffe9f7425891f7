/* nn.c - normalization ops over the last axis: nn.rms_norm (weight, epsilon), nn.layer_norm
 * (gamma, beta, epsilon) and nn.softmax (numerically stable: max, exp of the difference, sum,
 * divide). Half-precision inputs accumulate in float32. */
#include <stdlib.h>
#include <string.h>

#include "op/op_util.h"
#include "support/error.h"

static rx_attrs no_attrs(void) {
    rx_attrs a = {NULL, 0};
    return a;
}

/* Only the last axis is supported: checks the axes attr says so. */
static int check_last_axis(const rx_expr *call, const char *key, int ndim) {
    const rx_attr *a = rx_attrs_get(call->call.attrs, key);
    int64_t axis = -1;
    if (a && a->kind == ATTR_INTS) {
        if (a->nints != 1) return mlcc_set_error("%s: only one (the last) axis is supported", call->call.callee->op->name);
        axis = a->ints[0];
    } else if (a && a->kind == ATTR_INT) {
        axis = a->i;
    }
    int ax;
    if (op_normalize_axis(call, axis, ndim, &ax)) return -1;
    if (ax != ndim - 1) return mlcc_set_error("%s: only the last axis is supported (got %lld)", call->call.callee->op->name, (long long)axis);
    return 0;
}

/* The param operand i must be 1-D with the extent of x's last axis and x's dtype. */
static int check_param(const rx_expr *call, int i, rx_sinfo *x) {
    rx_sinfo *w = op_tensor_arg(call, i);
    if (!w) return -1;
    if (op_check_same_dtype(call, 0, i)) return -1;
    if (!w->shape || !x->shape) return 0;
    if (w->ndim != 1 || !dim_equal(w->shape[0], x->shape[x->ndim - 1])) {
        char *dx = op_operand_desc(call, 0), *dw = op_operand_desc(call, i);
        mlcc_set_error("%s: %s does not match the last axis of %s", call->call.callee->op->name, dw, dx);
        free(dx), free(dw);
        return -1;
    }
    return 0;
}

static rx_sinfo *infer_norm(const rx_expr *call) {
    rx_sinfo *x = op_tensor_arg(call, 0);
    if (!x) return NULL;
    if (x->ndim < 1) {
        mlcc_set_error("%s: operand has no axis to normalize", call->call.callee->op->name);
        return NULL;
    }
    if (check_last_axis(call, "axes", x->ndim)) return NULL;
    for (int i = 1; i < call->call.nargs; i++)
        if (check_param(call, i, x)) return NULL;
    int want = strcmp(call->call.callee->op->name, "nn.layer_norm") == 0 ? 3 : 2;
    if (call->call.nargs != want) {
        mlcc_set_error("%s: expects %d operands, got %d", call->call.callee->op->name, want, call->call.nargs);
        return NULL;
    }
    return x;
}

static rx_sinfo *infer_softmax(const rx_expr *call) {
    rx_sinfo *x = op_tensor_arg(call, 0);
    if (!x) return NULL;
    if (x->ndim < 1) {
        mlcc_set_error("nn.softmax: operand has no axis");
        return NULL;
    }
    if (x->ndim > 0 && check_last_axis(call, "axis", x->ndim)) return NULL;
    return x;
}

/* ---- legalization ---- */

typedef struct norm_ctx {
    te_tensor *x, *w, *b;
    te_tensor *s1, *s2; /* row reductions */
    int nd;
    mlcc_dtype acc;
    double eps;
    mlcc_expr *h; /* extent of the last axis */
} norm_ctx;

static mlcc_expr *acc_load(norm_ctx *c, te_tensor *t, mlcc_expr **idx, int n) {
    mlcc_expr *v = te_load(t, idx, n);
    return dtype_eq(v->dtype, c->acc) ? v : ir_cast(c->acc, v);
}

/* x at (row indices, k) where k is the last index given. */
static mlcc_expr *x_at(norm_ctx *c, mlcc_expr **idx) {
    return acc_load(c, c->x, idx, c->nd);
}

static mlcc_expr *sum_sq_body(mlcc_expr **idx, void *ctx) {
    norm_ctx *c = ctx;
    mlcc_expr *v = x_at(c, idx);
    return ir_mul(v, v);
}

static mlcc_expr *hidden(norm_ctx *c) {
    return ir_cast(c->acc, c->h);
}

static mlcc_expr *rms_out_body(mlcc_expr **idx, void *ctx) {
    norm_ctx *c = ctx;
    mlcc_expr *ms = ir_div(te_load(c->s1, idx, c->nd - 1), hidden(c));
    mlcc_expr *scale = ir_call1("rsqrt", ir_add(ms, ir_float(c->acc, c->eps)));
    return ir_mul(ir_mul(x_at(c, idx), scale), acc_load(c, c->w, &idx[c->nd - 1], 1));
}

static mlcc_expr *sum_body(mlcc_expr **idx, void *ctx) {
    return x_at(ctx, idx);
}

static mlcc_expr *centered(norm_ctx *c, mlcc_expr **idx) {
    return ir_sub(x_at(c, idx), ir_div(te_load(c->s1, idx, c->nd - 1), hidden(c)));
}

static mlcc_expr *var_body(mlcc_expr **idx, void *ctx) {
    mlcc_expr *d = centered(ctx, idx);
    return ir_mul(d, d);
}

static mlcc_expr *ln_out_body(mlcc_expr **idx, void *ctx) {
    norm_ctx *c = ctx;
    mlcc_expr *var = ir_div(te_load(c->s2, idx, c->nd - 1), hidden(c));
    mlcc_expr *scale = ir_call1("rsqrt", ir_add(var, ir_float(c->acc, c->eps)));
    mlcc_expr *k = idx[c->nd - 1];
    return ir_add(ir_mul(ir_mul(centered(c, idx), scale), acc_load(c, c->w, &k, 1)), acc_load(c, c->b, &k, 1));
}

static void norm_init(norm_ctx *c, const rx_expr *call) {
    memset(c, 0, sizeof *c);
    c->x = leg_input(call, 0, "x");
    c->nd = c->x->buffer->ndim;
    mlcc_dtype t = c->x->buffer->dtype;
    c->acc = t.bits < 32 ? DT_F32 : t;
    c->eps = rx_attrs_float(call->call.attrs, "epsilon", 1e-5);
    c->h = c->x->buffer->shape[c->nd - 1];
}

static rx_expr *legalize_rms_norm(rx_builder *bb, const rx_expr *call) {
    if (!op_tensor_arg_shaped(call, 0) || !op_tensor_arg_shaped(call, 1)) return NULL;
    norm_ctx c;
    norm_init(&c, call);
    c.w = leg_input(call, 1, "weight");
    c.s1 = te_reduce("sq_sum", c.acc, c.x->buffer->shape, c.nd - 1, TE_SUM, &c.h, 1, sum_sq_body, &c);
    te_tensor *out = te_compute(leg_out_name(call), call->sinfo->dtype, call->sinfo->shape, c.nd, rms_out_body, &c);
    return leg_finish(bb, call, (te_tensor *[]){c.x, c.w}, call->call.args, 2, &out, 1);
}

static rx_expr *legalize_layer_norm(rx_builder *bb, const rx_expr *call) {
    if (!op_tensor_arg_shaped(call, 0) || !op_tensor_arg_shaped(call, 1) || !op_tensor_arg_shaped(call, 2)) return NULL;
    norm_ctx c;
    norm_init(&c, call);
    c.w = leg_input(call, 1, "gamma");
    c.b = leg_input(call, 2, "beta");
    c.s1 = te_reduce("x_sum", c.acc, c.x->buffer->shape, c.nd - 1, TE_SUM, &c.h, 1, sum_body, &c);
    c.s2 = te_reduce("var_sum", c.acc, c.x->buffer->shape, c.nd - 1, TE_SUM, &c.h, 1, var_body, &c);
    te_tensor *out = te_compute(leg_out_name(call), call->sinfo->dtype, call->sinfo->shape, c.nd, ln_out_body, &c);
    return leg_finish(bb, call, (te_tensor *[]){c.x, c.w, c.b}, call->call.args, 3, &out, 1);
}

static mlcc_expr *softmax_exp_body(mlcc_expr **idx, void *ctx) {
    norm_ctx *c = ctx;
    return ir_call1("exp", ir_sub(x_at(c, idx), te_load(c->s1, idx, c->nd - 1)));
}

static mlcc_expr *softmax_out_body(mlcc_expr **idx, void *ctx) {
    norm_ctx *c = ctx;
    return ir_div(te_load(c->b, idx, c->nd), te_load(c->s2, idx, c->nd - 1));
}

static mlcc_expr *exp_sum_body(mlcc_expr **idx, void *ctx) {
    norm_ctx *c = ctx;
    return te_load(c->b, idx, c->nd);
}

static rx_expr *legalize_softmax(rx_builder *bb, const rx_expr *call) {
    if (!op_tensor_arg_shaped(call, 0)) return NULL;
    norm_ctx c;
    norm_init(&c, call);
    mlcc_expr **rows = c.x->buffer->shape;
    c.s1 = te_reduce("x_max", c.acc, rows, c.nd - 1, TE_MAX, &c.h, 1, sum_body, &c);
    c.b = te_compute("x_exp", c.acc, rows, c.nd, softmax_exp_body, &c);
    c.s2 = te_reduce("exp_sum", c.acc, rows, c.nd - 1, TE_SUM, &c.h, 1, exp_sum_body, &c);
    te_tensor *out = te_compute(leg_out_name(call), call->sinfo->dtype, call->sinfo->shape, c.nd, softmax_out_body, &c);
    return leg_finish(bb, call, &c.x, call->call.args, 1, &out, 1);
}

static const rx_op_def nn_ops[] = {
    {"nn.rms_norm", infer_norm, legalize_rms_norm},
    {"nn.layer_norm", infer_norm, legalize_layer_norm},
    {"nn.softmax", infer_softmax, legalize_softmax},
};

void op_register_nn(void) {
    for (size_t i = 0; i < sizeof nn_ops / sizeof nn_ops[0]; i++) op_register(&nn_ops[i]);
}

static rx_attrs norm_attrs(double eps) {
    int64_t last = -1;
    return rx_attrs_set_float(rx_attrs_set_ints(no_attrs(), "axes", &last, 1), "epsilon", eps);
}

rx_expr *op_rms_norm(rx_expr *x, rx_expr *weight, double eps) {
    return op_call("nn.rms_norm", (rx_expr *[]){x, weight}, 2, norm_attrs(eps));
}

rx_expr *op_layer_norm(rx_expr *x, rx_expr *gamma, rx_expr *beta, double eps) {
    return op_call("nn.layer_norm", (rx_expr *[]){x, gamma, beta}, 3, norm_attrs(eps));
}

rx_expr *op_softmax(rx_expr *x, int axis) {
    return op_call("nn.softmax", &x, 1, rx_attrs_set_int(no_attrs(), "axis", axis));
}
