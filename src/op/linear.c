/* linear.c - matmul: [..., m, k] x [..., k, n] -> [..., m, n] with broadcast batch dims, 1-D
 * operands as in numpy, and the transposed-weight form (transpose_b: y is [..., n, k], as LLM
 * linear layers store weights [out, in]) so x @ W^T needs no separate transpose. */
#include <stdlib.h>
#include <string.h>

#include "op/op_util.h"
#include "support/error.h"

static rx_sinfo *infer_matmul(const rx_expr *call) {
    rx_sinfo *x = op_tensor_arg(call, 0), *y = op_tensor_arg(call, 1);
    if (!x || !y) return NULL;
    const rx_attr *od = rx_attrs_get(call->call.attrs, "out_dtype");
    if (!od && op_check_same_dtype(call, 0, 1)) return NULL;
    mlcc_dtype t = od ? od->dtype : (dtype_is_void(x->dtype) ? y->dtype : x->dtype);
    int tb = (int)rx_attrs_int(call->call.attrs, "transpose_b", 0);
    if (x->ndim == 0 || y->ndim == 0) {
        mlcc_set_error("%s: operands must have at least one dimension", call->call.callee->op->name);
        return NULL;
    }
    if (x->ndim < 0 || y->ndim < 0) return rx_sinfo_tensor_ndim(-1, t);
    int xnd = x->ndim, ynd = y->ndim;
    int x1 = xnd == 1, y1 = ynd == 1;
    int xb = x1 ? 0 : xnd - 2, yb = y1 ? 0 : ynd - 2; /* batch dims */
    int nb = xb > yb ? xb : yb;
    int out_nd = nb + !x1 + !y1;
    if (!x->shape || !y->shape) return rx_sinfo_tensor_ndim(out_nd, t);
    mlcc_expr *xk = x->shape[xnd - 1];
    mlcc_expr *yk = y1 ? y->shape[0] : y->shape[tb ? ynd - 1 : ynd - 2];
    mlcc_expr *yn = y1 ? NULL : y->shape[tb ? ynd - 2 : ynd - 1];
    char *dx = NULL, *dy = NULL;
    if (!dim_equal(xk, yk)) {
        dx = op_operand_desc(call, 0), dy = op_operand_desc(call, 1);
        mlcc_set_error("%s: reduction dimensions differ between %s and %s%s", call->call.callee->op->name, dx, dy,
                       tb ? " (y transposed)" : "");
        free(dx), free(dy);
        return NULL;
    }
    mlcc_expr **out = ir_alloc(sizeof(mlcc_expr *) * (size_t)(out_nd + 1));
    for (int i = 0; i < nb; i++) {
        int xi = i - (nb - xb), yi = i - (nb - yb);
        mlcc_expr *a = xi >= 0 ? x->shape[xi] : NULL, *b = yi >= 0 ? y->shape[yi] : NULL;
        if (!a) out[i] = b;
        else if (!b || expr_is_int(b, 1)) out[i] = a;
        else if (expr_is_int(a, 1) || dim_equal(a, b)) out[i] = b;
        else {
            dx = op_operand_desc(call, 0), dy = op_operand_desc(call, 1);
            mlcc_set_error("%s: cannot broadcast the batch dimensions of %s and %s", call->call.callee->op->name, dx, dy);
            free(dx), free(dy);
            return NULL;
        }
    }
    int k = nb;
    if (!x1) out[k++] = x->shape[xnd - 2];
    if (!y1) out[k++] = yn;
    return rx_sinfo_tensor(out, out_nd, t);
}

typedef struct mm_ctx {
    te_tensor *x, *y;
    int nb, x1, y1, tb, out_nd;
    mlcc_dtype t;
} mm_ctx;

static mlcc_expr *load_operand(te_tensor *a, mlcc_expr **batch, int nb, mlcc_expr *r0, mlcc_expr *r1) {
    int nd = a->buffer->ndim;
    mlcc_expr *ix[16];
    int lead = nd - (r1 ? 2 : 1);
    for (int d = 0; d < lead; d++) ix[d] = expr_is_int(a->buffer->shape[d], 1) ? ir_int(0) : batch[d + nb - lead];
    ix[lead] = r0;
    if (r1) ix[lead + 1] = r1;
    return te_load(a, ix, nd);
}

/* idx: the output's spatial indices, then the reduction index k. */
static mlcc_expr *matmul_body(mlcc_expr **idx, void *ctx) {
    mm_ctx *c = ctx;
    mlcc_expr *k = idx[c->out_nd];
    mlcc_expr *i = c->x1 ? NULL : idx[c->nb];
    mlcc_expr *j = c->y1 ? NULL : idx[c->nb + !c->x1];
    mlcc_expr *a = c->x1 ? load_operand(c->x, idx, c->nb, k, NULL) : load_operand(c->x, idx, c->nb, i, k);
    mlcc_expr *b = c->y1 ? load_operand(c->y, idx, c->nb, k, NULL)
                         : c->tb ? load_operand(c->y, idx, c->nb, j, k) : load_operand(c->y, idx, c->nb, k, j);
    if (!dtype_eq(a->dtype, c->t)) a = ir_cast(c->t, a);
    if (!dtype_eq(b->dtype, c->t)) b = ir_cast(c->t, b);
    return ir_mul(a, b);
}

static rx_expr *legalize_matmul(rx_builder *bb, const rx_expr *call) {
    if (!op_tensor_arg_shaped(call, 0) || !op_tensor_arg_shaped(call, 1) || !call->sinfo->shape) return NULL;
    mm_ctx c;
    memset(&c, 0, sizeof c);
    c.x = leg_input(call, 0, "x");
    c.y = leg_input(call, 1, "y");
    c.x1 = c.x->buffer->ndim == 1;
    c.y1 = c.y->buffer->ndim == 1;
    c.tb = (int)rx_attrs_int(call->call.attrs, "transpose_b", 0);
    c.out_nd = call->sinfo->ndim;
    c.nb = c.out_nd - !c.x1 - !c.y1;
    c.t = call->sinfo->dtype;
    if (c.x->buffer->ndim > 16 || c.y->buffer->ndim > 16) {
        mlcc_set_error("matmul: more than 16 dimensions");
        return NULL;
    }
    mlcc_expr *kext = c.x->buffer->shape[c.x->buffer->ndim - 1];
    te_tensor *out = te_reduce(leg_out_name(call), c.t, call->sinfo->shape, c.out_nd, TE_SUM, &kext, 1, matmul_body, &c);
    return leg_finish(bb, call, (te_tensor *[]){c.x, c.y}, call->call.args, 2, &out, 1);
}

static const rx_op_def matmul_op = {"matmul", infer_matmul, legalize_matmul};

void op_register_linear(void) {
    op_register(&matmul_op);
}

rx_expr *op_matmul(rx_expr *x, rx_expr *y) {
    rx_attrs a = {NULL, 0};
    return op_call("matmul", (rx_expr *[]){x, y}, 2, a);
}

rx_expr *op_linear(rx_expr *x, rx_expr *weight) {
    rx_attrs a = {NULL, 0};
    return op_call("matmul", (rx_expr *[]){x, weight}, 2, rx_attrs_set_int(a, "transpose_b", 1));
}
