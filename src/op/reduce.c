/* reduce.c - sum, max and mean over a set of axes (all when none are given), with keepdims. */
#include <stdlib.h>
#include <string.h>

#include "op/op_util.h"
#include "support/error.h"

/* Marks the reduced axes of an ndim tensor in is_reduced; -1 + error on a bad axis. */
static int reduced_axes(const rx_expr *call, int ndim, int *is_reduced) {
    const rx_attr *a = rx_attrs_get(call->call.attrs, "axis");
    for (int d = 0; d < ndim; d++) is_reduced[d] = !a;
    if (!a) return 0;
    for (int i = 0; i < a->nints; i++) {
        int ax;
        if (op_normalize_axis(call, a->ints[i], ndim, &ax)) return -1;
        if (is_reduced[ax]) return mlcc_set_error("%s: axis %d repeated", call->call.callee->op->name, ax);
        is_reduced[ax] = 1;
    }
    return 0;
}

static rx_sinfo *infer_reduce(const rx_expr *call) {
    rx_sinfo *x = op_tensor_arg(call, 0);
    if (!x) return NULL;
    int keep = (int)rx_attrs_int(call->call.attrs, "keepdims", 0);
    if (x->ndim < 0) return rx_sinfo_tensor_ndim(-1, x->dtype);
    if (x->ndim > 16) {
        mlcc_set_error("%s: more than 16 dimensions", call->call.callee->op->name);
        return NULL;
    }
    int red[16];
    if (reduced_axes(call, x->ndim, red)) return NULL;
    mlcc_expr *out[16];
    int nd = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (!red[d]) out[nd++] = x->shape ? x->shape[d] : NULL;
        else if (keep) out[nd++] = ir_int(1);
    }
    if (!x->shape) return rx_sinfo_tensor_ndim(nd, x->dtype);
    return rx_sinfo_tensor(out, nd, x->dtype);
}

typedef struct reduce_ctx {
    te_tensor *x, *partial;
    int red[16], keep, nd_out;
    mlcc_expr *count;
} reduce_ctx;

/* idx: output indices, then one reduce index per reduced axis. */
static mlcc_expr *reduce_body(mlcc_expr **idx, void *ctx) {
    reduce_ctx *c = ctx;
    int nd = c->x->buffer->ndim;
    mlcc_expr *in[16];
    int o = 0, r = c->nd_out;
    for (int d = 0; d < nd; d++) {
        if (c->red[d]) {
            in[d] = idx[r++];
            if (c->keep) o++;
        } else {
            in[d] = idx[o++];
        }
    }
    return te_load(c->x, in, nd);
}

static mlcc_expr *mean_body(mlcc_expr **idx, void *ctx) {
    reduce_ctx *c = ctx;
    mlcc_expr *s = te_load(c->partial, idx, c->nd_out);
    return ir_div(s, ir_cast(s->dtype, c->count));
}

static rx_expr *legalize_reduce(rx_builder *bb, const rx_expr *call) {
    if (!op_tensor_arg_shaped(call, 0)) return NULL;
    reduce_ctx c;
    memset(&c, 0, sizeof c);
    c.x = leg_input(call, 0, "x");
    c.keep = (int)rx_attrs_int(call->call.attrs, "keepdims", 0);
    c.nd_out = call->sinfo->ndim;
    int nd = c.x->buffer->ndim;
    if (reduced_axes(call, nd, c.red)) return NULL;
    mlcc_expr *ext[16];
    int nred = 0;
    c.count = ir_int(1);
    for (int d = 0; d < nd; d++)
        if (c.red[d]) {
            ext[nred++] = c.x->buffer->shape[d];
            c.count = ir_mul(c.count, c.x->buffer->shape[d]);
        }
    const char *name = call->call.callee->op->name;
    te_combiner comb = strcmp(name, "max") == 0 ? TE_MAX : TE_SUM;
    mlcc_dtype t = call->sinfo->dtype;
    te_tensor *out;
    if (strcmp(name, "mean") == 0) {
        c.partial = te_reduce("x_sum", t, call->sinfo->shape, c.nd_out, TE_SUM, ext, nred, reduce_body, &c);
        out = te_compute(leg_out_name(call), t, call->sinfo->shape, c.nd_out, mean_body, &c);
    } else {
        out = te_reduce(leg_out_name(call), t, call->sinfo->shape, c.nd_out, comb, ext, nred, reduce_body, &c);
    }
    return leg_finish(bb, call, &c.x, call->call.args, 1, &out, 1);
}

static const rx_op_def reduce_ops[] = {
    {"sum", infer_reduce, legalize_reduce},
    {"max", infer_reduce, legalize_reduce},
    {"mean", infer_reduce, legalize_reduce},
};

void op_register_reduce(void) {
    for (size_t i = 0; i < sizeof reduce_ops / sizeof reduce_ops[0]; i++) op_register(&reduce_ops[i]);
}

rx_expr *op_reduce(const char *name, rx_expr *x, const int64_t *axes, int naxes, int keepdims) {
    rx_attrs a = {NULL, 0};
    if (axes) a = rx_attrs_set_ints(a, "axis", axes, naxes);
    a = rx_attrs_set_int(a, "keepdims", keepdims);
    return op_call(name, &x, 1, a);
}
