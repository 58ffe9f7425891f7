/* create.c - tensors made from a shape: full (a fill value) and zeros. The shape is a
 * ShapeExpr operand, so it may be symbolic; the fill value a PrimValue operand. */
#include <string.h>

#include "op/op_util.h"
#include "support/error.h"

static rx_sinfo *infer_full(const rx_expr *call) {
    rx_sinfo *sh = call->call.nargs >= 1 ? call->call.args[0]->sinfo : NULL;
    const rx_attr *t = rx_attrs_get(call->call.attrs, "dtype");
    if (!sh || sh->kind != SI_SHAPE) {
        mlcc_set_error("%s: the first operand must be a shape", call->call.callee->op->name);
        return NULL;
    }
    if (!t || t->kind != ATTR_DTYPE) {
        mlcc_set_error("%s: needs a dtype", call->call.callee->op->name);
        return NULL;
    }
    if (strcmp(call->call.callee->op->name, "full") == 0 &&
        (call->call.nargs != 2 || call->call.args[1]->kind != RX_PRIM_VALUE)) {
        mlcc_set_error("full: the fill value must be a prim value operand");
        return NULL;
    }
    return sh->shape ? rx_sinfo_tensor(sh->shape, sh->ndim, t->dtype) : rx_sinfo_tensor_ndim(sh->ndim, t->dtype);
}

static mlcc_expr *fill_body(mlcc_expr **idx, void *ctx) {
    (void)idx;
    return ctx;
}

static rx_expr *legalize_full(rx_builder *bb, const rx_expr *call) {
    if (!call->sinfo->shape) {
        mlcc_set_error("%s: shape unknown", call->call.callee->op->name);
        return NULL;
    }
    mlcc_dtype t = call->sinfo->dtype;
    mlcc_expr *v = call->call.nargs == 2 ? call->call.args[1]->prim_value : ir_zero(t);
    if (!dtype_eq(v->dtype, t)) v = ir_cast(t, v);
    te_tensor *out = te_compute(leg_out_name(call), t, call->sinfo->shape, call->sinfo->ndim, fill_body, v);
    return leg_finish(bb, call, NULL, NULL, 0, &out, 1);
}

static const rx_op_def create_ops[] = {
    {"full", infer_full, legalize_full},
    {"zeros", infer_full, legalize_full},
};

void op_register_create(void) {
    for (size_t i = 0; i < sizeof create_ops / sizeof create_ops[0]; i++) op_register(&create_ops[i]);
}

rx_expr *op_full(mlcc_expr **shape, int ndim, double value, mlcc_dtype t) {
    rx_attrs a = {NULL, 0};
    mlcc_expr *v = dtype_is_float(t) ? ir_float(t, value) : ir_const_int(t, (int64_t)value);
    rx_expr *args[2] = {rx_shape_expr(shape, ndim), rx_prim_value(v)};
    return op_call("full", args, 2, rx_attrs_set_dtype(a, "dtype", t));
}

rx_expr *op_zeros(mlcc_expr **shape, int ndim, mlcc_dtype t) {
    rx_attrs a = {NULL, 0};
    rx_expr *s = rx_shape_expr(shape, ndim);
    return op_call("zeros", &s, 1, rx_attrs_set_dtype(a, "dtype", t));
}
