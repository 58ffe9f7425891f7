/* elementwise.c - binary ops with numpy broadcasting (add, subtract, multiply, divide,
 * maximum, minimum, power) and unary ops (exp, log, tanh, sqrt, rsqrt, negative, sigmoid,
 * nn.silu, nn.gelu, nn.gelu_tanh). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "op/op_util.h"
#include "support/error.h"

/* ---- broadcasting ---- */

/* Broadcasts two shapes (numpy rules from the right; equal or 1 matches). */
static rx_sinfo *infer_binary(const rx_expr *call) {
    rx_sinfo *x = op_tensor_arg(call, 0), *y = op_tensor_arg(call, 1);
    if (!x || !y) return NULL;
    if (op_check_same_dtype(call, 0, 1)) return NULL;
    mlcc_dtype t = dtype_is_void(x->dtype) ? y->dtype : x->dtype;
    if (x->ndim < 0 || y->ndim < 0) return rx_sinfo_tensor_ndim(-1, t);
    int nd = x->ndim > y->ndim ? x->ndim : y->ndim;
    if (!x->shape || !y->shape) return rx_sinfo_tensor_ndim(nd, t);
    mlcc_expr **out = ir_alloc(sizeof(mlcc_expr *) * (size_t)(nd + 1));
    for (int i = 0; i < nd; i++) {
        int xi = i - (nd - x->ndim), yi = i - (nd - y->ndim);
        mlcc_expr *a = xi >= 0 ? x->shape[xi] : NULL, *b = yi >= 0 ? y->shape[yi] : NULL;
        if (!a) out[i] = b;
        else if (!b) out[i] = a;
        else if (expr_is_int(a, 1)) out[i] = b;
        else if (expr_is_int(b, 1)) out[i] = a;
        else if (dim_equal(a, b)) out[i] = a;
        else {
            char *da = op_operand_desc(call, 0), *db = op_operand_desc(call, 1);
            mlcc_set_error("%s: cannot broadcast %s with %s%s", call->call.callee->op->name, da, db,
                           dim_differ(a, b) ? "" : " (dimensions not provably equal)");
            free(da);
            free(db);
            return NULL;
        }
    }
    return rx_sinfo_tensor(out, nd, t);
}

typedef struct binary_ctx {
    te_tensor *x, *y;
    int out_ndim;
    const char *op;
} binary_ctx;

/* The indices into `t` for an output element: leading dims dropped, unit dims read at 0. */
static mlcc_expr *load_broadcast(te_tensor *t, mlcc_expr **idx, int out_ndim) {
    int nd = t->buffer->ndim;
    mlcc_expr *ix[16];
    for (int d = 0; d < nd; d++) {
        mlcc_expr *o = idx[d + out_ndim - nd];
        ix[d] = expr_is_int(t->buffer->shape[d], 1) ? ir_int(0) : o;
    }
    return te_load(t, ix, nd);
}

static mlcc_expr *binary_body(mlcc_expr **idx, void *ctx) {
    binary_ctx *c = ctx;
    mlcc_expr *a = load_broadcast(c->x, idx, c->out_ndim), *b = load_broadcast(c->y, idx, c->out_ndim);
    const char *op = c->op;
    if (!strcmp(op, "add")) return ir_add(a, b);
    if (!strcmp(op, "subtract")) return ir_sub(a, b);
    if (!strcmp(op, "multiply")) return ir_mul(a, b);
    if (!strcmp(op, "divide")) return ir_div(a, b);
    if (!strcmp(op, "maximum")) return ir_max(a, b);
    if (!strcmp(op, "minimum")) return ir_min(a, b);
    return ir_call2("pow", a, b);
}

static rx_expr *legalize_binary(rx_builder *bb, const rx_expr *call) {
    if (!op_tensor_arg_shaped(call, 0) || !op_tensor_arg_shaped(call, 1) || !call->sinfo->shape) return NULL;
    int nd;
    mlcc_expr **shape = leg_out_shape(call, &nd);
    if (nd > 16) {
        mlcc_set_error("%s: more than 16 dimensions", call->call.callee->op->name);
        return NULL;
    }
    binary_ctx c = {leg_input(call, 0, "x"), leg_input(call, 1, "y"), nd, call->call.callee->op->name};
    te_tensor *out = te_compute(leg_out_name(call), call->sinfo->dtype, shape, nd, binary_body, &c);
    return leg_finish(bb, call, (te_tensor *[]){c.x, c.y}, call->call.args, 2, &out, 1);
}

/* ---- unary ---- */

static rx_sinfo *infer_unary(const rx_expr *call) {
    rx_sinfo *x = op_tensor_arg(call, 0);
    if (!x) return NULL;
    if (!dtype_is_void(x->dtype) && !dtype_is_float(x->dtype) && strcmp(call->call.callee->op->name, "negative")) {
        char *d = op_operand_desc(call, 0);
        mlcc_set_error("%s: %s is not a float tensor", call->call.callee->op->name, d);
        free(d);
        return NULL;
    }
    return x;
}

typedef struct unary_ctx {
    te_tensor *x;
    const char *op;
} unary_ctx;

static mlcc_expr *unary_body(mlcc_expr **idx, void *ctx) {
    unary_ctx *c = ctx;
    mlcc_expr *x = te_load(c->x, idx, c->x->buffer->ndim);
    mlcc_dtype t = x->dtype;
    const char *op = c->op;
    if (!strcmp(op, "negative")) return ir_sub(ir_zero(t), x);
    if (!strcmp(op, "nn.silu")) return ir_mul(x, ir_call1("sigmoid", x));
    if (!strcmp(op, "nn.gelu")) /* 0.5 x (1 + erf(x / sqrt 2)) */
        return ir_mul(ir_mul(ir_float(t, 0.5), x),
                      ir_add(ir_one(t), ir_call1("erf", ir_mul(x, ir_float(t, M_SQRT1_2)))));
    if (!strcmp(op, "nn.gelu_tanh")) { /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
        mlcc_expr *cube = ir_mul(ir_mul(x, x), x);
        mlcc_expr *inner = ir_mul(ir_float(t, 0.7978845608028654), ir_add(x, ir_mul(ir_float(t, 0.044715), cube)));
        return ir_mul(ir_mul(ir_float(t, 0.5), x), ir_add(ir_one(t), ir_call1("tanh", inner)));
    }
    return ir_call1(op, x); /* exp, log, tanh, sqrt, rsqrt, sigmoid */
}

static rx_expr *legalize_unary(rx_builder *bb, const rx_expr *call) {
    if (!op_tensor_arg_shaped(call, 0)) return NULL;
    unary_ctx c = {leg_input(call, 0, "x"), call->call.callee->op->name};
    te_tensor *out = te_compute(leg_out_name(call), call->sinfo->dtype, call->sinfo->shape, call->sinfo->ndim,
                                unary_body, &c);
    return leg_finish(bb, call, &c.x, call->call.args, 1, &out, 1);
}

#define BINARY(n) {n, infer_binary, legalize_binary}
#define UNARY(n) {n, infer_unary, legalize_unary}

static const rx_op_def elementwise_ops[] = {
    BINARY("add"),    BINARY("subtract"), BINARY("multiply"), BINARY("divide"),
    BINARY("maximum"), BINARY("minimum"), BINARY("power"),
    UNARY("exp"),     UNARY("log"),       UNARY("tanh"),      UNARY("sqrt"),
    UNARY("rsqrt"),   UNARY("negative"),  UNARY("sigmoid"),   UNARY("nn.silu"),
    UNARY("nn.gelu"), UNARY("nn.gelu_tanh"),
};

void op_register_elementwise(void) {
    for (size_t i = 0; i < sizeof elementwise_ops / sizeof elementwise_ops[0]; i++) op_register(&elementwise_ops[i]);
}

static rx_attrs no_attrs(void) {
    rx_attrs a = {NULL, 0};
    return a;
}

rx_expr *op_binary(const char *name, rx_expr *x, rx_expr *y) {
    return op_call(name, (rx_expr *[]){x, y}, 2, no_attrs());
}
rx_expr *op_add(rx_expr *x, rx_expr *y) { return op_binary("add", x, y); }
rx_expr *op_subtract(rx_expr *x, rx_expr *y) { return op_binary("subtract", x, y); }
rx_expr *op_multiply(rx_expr *x, rx_expr *y) { return op_binary("multiply", x, y); }
rx_expr *op_divide(rx_expr *x, rx_expr *y) { return op_binary("divide", x, y); }
rx_expr *op_maximum(rx_expr *x, rx_expr *y) { return op_binary("maximum", x, y); }
rx_expr *op_minimum(rx_expr *x, rx_expr *y) { return op_binary("minimum", x, y); }
rx_expr *op_power(rx_expr *x, rx_expr *y) { return op_binary("power", x, y); }

rx_expr *op_unary(const char *name, rx_expr *x) {
    return op_call(name, &x, 1, no_attrs());
}
