/* attention.c - nn.attention: causal scaled-dot-product attention over whole sequences, with
 * grouped KV heads (GQA/MQA), an optional sliding window and an optional logit soft-cap. It is
 * the plain te form used for full-sequence prefill (parity with transformers); the paged KV
 * cache kernels of DESIGN.md §3.3 come from src/gen/.
 *
 *   nn.attention(q [n, heads, D], k [m, kv_heads, D], v [m, kv_heads, D]) -> [n, heads, D]
 *   attrs: scale (float), window (int; 0 = none), softcap (float; 0 = none)
 *
 * Query i sits at position m - n + i (the last n of the m keys), and attends to key j when
 * 0 <= (m - n + i) - j < window. Scores: s = q.k * scale, then softcap * tanh(s / softcap);
 * softmax in float32 (or float64 for float64 inputs). Query head h reads KV head
 * h / (heads / kv_heads). */
#include <stdlib.h>

#include "op/op_util.h"
#include "support/error.h"

static int shape_error(const rx_expr *call, const char *what) {
    char *dq = op_operand_desc(call, 0), *dk = op_operand_desc(call, 1), *dv = op_operand_desc(call, 2);
    mlcc_set_error("nn.attention: %s (%s; %s; %s)", what, dq, dk, dv);
    free(dq), free(dk), free(dv);
    return -1;
}

static rx_sinfo *infer_attention(const rx_expr *call) {
    if (call->call.nargs != 3) {
        mlcc_set_error("nn.attention: expects (q, k, v), got %d operands", call->call.nargs);
        return NULL;
    }
    rx_sinfo *s[3];
    for (int i = 0; i < 3; i++)
        if (!(s[i] = op_tensor_arg_shaped(call, i))) return NULL;
    if (op_check_same_dtype(call, 0, 1) || op_check_same_dtype(call, 0, 2)) return NULL;
    if (s[0]->ndim != 3 || s[1]->ndim != 3 || s[2]->ndim != 3 || !dtype_is_float(s[0]->dtype)) {
        shape_error(call, "operands must be float tensors [seq, heads, head_dim]");
        return NULL;
    }
    mlcc_expr *h = s[0]->shape[1], *kvh = s[1]->shape[1];
    if (!dim_equal(s[1]->shape[0], s[2]->shape[0]) || !dim_equal(kvh, s[2]->shape[1]) ||
        !dim_equal(s[0]->shape[2], s[1]->shape[2]) || !dim_equal(s[0]->shape[2], s[2]->shape[2])) {
        shape_error(call, "k and v must agree with each other and with q's head_dim");
        return NULL;
    }
    if (h->kind != EXPR_INT || kvh->kind != EXPR_INT || kvh->int_value < 1 || h->int_value % kvh->int_value) {
        shape_error(call, "heads must be a constant multiple of kv_heads");
        return NULL;
    }
    return s[0];
}

typedef struct attn_ctx {
    te_tensor *q, *k, *v, *score, *mx, *e, *sum, *acc;
    int64_t group, window;
    double scale, softcap;
    mlcc_dtype t, acc_t;
    mlcc_expr *n, *m, *hd;
} attn_ctx;

static mlcc_expr *acc_load(attn_ctx *c, te_tensor *t, mlcc_expr *a, mlcc_expr *b, mlcc_expr *d) {
    mlcc_expr *v = te_load3(t, a, b, d);
    return dtype_eq(v->dtype, c->acc_t) ? v : ir_cast(c->acc_t, v);
}

/* score[h, i, j] = q[i, h, :] . k[j, h / group, :] (reduce axis idx[3]) */
static mlcc_expr *qk_body(mlcc_expr **idx, void *ctx) {
    attn_ctx *c = ctx;
    mlcc_expr *kvh = ir_floordiv(idx[0], ir_int(c->group));
    return ir_mul(acc_load(c, c->q, idx[1], idx[0], idx[3]), acc_load(c, c->k, idx[2], kvh, idx[3]));
}

/* Is key j visible from query i? */
static mlcc_expr *visible(attn_ctx *c, mlcc_expr *i, mlcc_expr *j) {
    mlcc_expr *dist = ir_sub(ir_add(ir_sub(c->m, c->n), i), j);
    mlcc_expr *ok = ir_ge(dist, ir_int(0));
    if (c->window > 0) ok = ir_and(ok, ir_lt(dist, ir_int(c->window)));
    return ok;
}

static mlcc_expr *logit(attn_ctx *c, mlcc_expr **idx) {
    mlcc_expr *s = ir_mul(te_load3(c->score, idx[0], idx[1], idx[2]), ir_float(c->acc_t, c->scale));
    if (c->softcap > 0)
        s = ir_mul(ir_call1("tanh", ir_div(s, ir_float(c->acc_t, c->softcap))), ir_float(c->acc_t, c->softcap));
    return ir_select(visible(c, idx[1], idx[2]), s, ir_min_value(c->acc_t));
}

static mlcc_expr *max_body(mlcc_expr **idx, void *ctx) {
    mlcc_expr *full[3] = {idx[0], idx[1], idx[2]};
    return logit(ctx, full);
}

static mlcc_expr *exp_body(mlcc_expr **idx, void *ctx) {
    attn_ctx *c = ctx;
    mlcc_expr *p = ir_call1("exp", ir_sub(logit(c, idx), te_load2(c->mx, idx[0], idx[1])));
    return ir_select(visible(c, idx[1], idx[2]), p, ir_zero(c->acc_t));
}

static mlcc_expr *sum_body(mlcc_expr **idx, void *ctx) {
    attn_ctx *c = ctx;
    return te_load3(c->e, idx[0], idx[1], idx[2]);
}

/* acc[i, h, d] = sum_j e[h, i, j] v[j, h / group, d] */
static mlcc_expr *pv_body(mlcc_expr **idx, void *ctx) {
    attn_ctx *c = ctx;
    mlcc_expr *kvh = ir_floordiv(idx[1], ir_int(c->group));
    return ir_mul(te_load3(c->e, idx[1], idx[0], idx[3]), acc_load(c, c->v, idx[3], kvh, idx[2]));
}

static mlcc_expr *out_body(mlcc_expr **idx, void *ctx) {
    attn_ctx *c = ctx;
    mlcc_expr *r = ir_div(te_load3(c->acc, idx[0], idx[1], idx[2]), te_load2(c->sum, idx[1], idx[0]));
    return dtype_eq(c->t, c->acc_t) ? r : ir_cast(c->t, r);
}

static rx_expr *legalize_attention(rx_builder *bb, const rx_expr *call) {
    attn_ctx c = {0};
    c.q = leg_input(call, 0, "q");
    c.k = leg_input(call, 1, "k");
    c.v = leg_input(call, 2, "v");
    mlcc_expr **qs = c.q->buffer->shape, **ks = c.k->buffer->shape;
    c.n = qs[0], c.m = ks[0], c.hd = qs[2];
    c.group = qs[1]->int_value / ks[1]->int_value;
    c.t = c.q->buffer->dtype;
    c.acc_t = c.t.bits < 32 ? DT_F32 : c.t;
    c.scale = rx_attrs_float(call->call.attrs, "scale", 1.0);
    c.softcap = rx_attrs_float(call->call.attrs, "softcap", 0.0);
    c.window = rx_attrs_int(call->call.attrs, "window", 0);
    mlcc_expr *hnm[3] = {qs[1], c.n, c.m};
    c.score = te_reduce("attn_score", c.acc_t, hnm, 3, TE_SUM, &c.hd, 1, qk_body, &c);
    c.mx = te_reduce("attn_max", c.acc_t, hnm, 2, TE_MAX, &c.m, 1, max_body, &c);
    c.e = te_compute("attn_exp", c.acc_t, hnm, 3, exp_body, &c);
    c.sum = te_reduce("attn_sum", c.acc_t, hnm, 2, TE_SUM, &c.m, 1, sum_body, &c);
    c.acc = te_reduce("attn_acc", c.acc_t, qs, 3, TE_SUM, &c.m, 1, pv_body, &c);
    te_tensor *out = te_compute(leg_out_name(call), call->sinfo->dtype, call->sinfo->shape, 3, out_body, &c);
    return leg_finish(bb, call, (te_tensor *[]){c.q, c.k, c.v}, call->call.args, 3, &out, 1);
}

static const rx_op_def attention_op = {"nn.attention", infer_attention, legalize_attention};

void op_register_attention(void) {
    op_register(&attention_op);
}

rx_expr *op_attention(rx_expr *q, rx_expr *k, rx_expr *v, double scale, int64_t window, double softcap) {
    rx_attrs a = {NULL, 0};
    a = rx_attrs_set_float(a, "scale", scale);
    a = rx_attrs_set_int(a, "window", window);
    a = rx_attrs_set_float(a, "softcap", softcap);
    return op_call("nn.attention", (rx_expr *[]){q, k, v}, 3, a);
}
