/* rope.c - nn.rope: rotary position embedding of queries or keys, as Hugging Face models apply
 * it ("rotate half": element d pairs with d + head_dim/2), and nn.rope_table, its cosines and
 * sines computed once for every rope of a step.
 *
 *   nn.rope(x [n, heads, head_dim], inv_freq [head_dim/2] float64[, positions [n] int])
 *   nn.rope_table(inv_freq [half] float64, positions [n] int) -> [n, 2, half] float64
 *       t[i, 0, k] = cos(p_i f_k), t[i, 1, k] = sin(p_i f_k)
 *   nn.rope(x [n, heads, head_dim], table [n, 2, head_dim/2] float64)
 *
 * out[i,h,d] = x[i,h,d] cos(p_i f_k) + s x[i,h,(d + half) mod D] sin(p_i f_k), k = d mod half,
 * s = -1 for d < half, +1 after. Without positions, p_i = i (a whole sequence from 0).
 * The frequencies are an operand (a constant the model builder computes), so every scaling
 * scheme (default, linear, llama3, ...) is only a different table. The angle and its cos/sin
 * are computed in float64: at position 10^4 a float32 angle is already off by 1e-3. With a
 * table the rope reads the same float64 values instead of computing them: the results are the
 * same, and a decoder computes 2 x half transcendentals per token and step instead of
 * 2 x head_dim per head, key head and layer (the q rope of TinyLlama took 36 us per layer). */
#include <stdlib.h>

#include "op/op_util.h"
#include "support/error.h"

static rx_sinfo *infer_rope(const rx_expr *call) {
    if (call->call.nargs != 2 && call->call.nargs != 3) {
        mlcc_set_error("nn.rope: expects (x, inv_freq[, positions]), got %d operands", call->call.nargs);
        return NULL;
    }
    rx_sinfo *x = op_tensor_arg_shaped(call, 0), *f = x ? op_tensor_arg_shaped(call, 1) : NULL;
    if (!x || !f) return NULL;
    if (x->ndim != 3 || !dtype_is_float(x->dtype)) {
        char *d = op_operand_desc(call, 0);
        mlcc_set_error("nn.rope: x %s must be a float tensor [n, heads, head_dim]", d);
        free(d);
        return NULL;
    }
    mlcc_expr *hd = x->shape[2];
    if (call->call.nargs == 2 && f->ndim == 3) { /* (x, table) */
        if (!dtype_eq(f->dtype, DT_F64) || hd->kind != EXPR_INT || hd->int_value % 2 || !dim_equal(f->shape[0], x->shape[0]) ||
            !dim_equal(f->shape[1], ir_int(2)) || !dim_equal(f->shape[2], ir_int(hd->int_value / 2))) {
            char *dx = op_operand_desc(call, 0), *dt = op_operand_desc(call, 1);
            mlcc_set_error("nn.rope: table %s must be float64 [n, 2, head_dim/2] for x %s (even constant head_dim)", dt, dx);
            free(dx), free(dt);
            return NULL;
        }
        return x;
    }
    if (f->ndim != 1 || !dtype_eq(f->dtype, DT_F64) || hd->kind != EXPR_INT || hd->int_value % 2 ||
        !dim_equal(f->shape[0], ir_int(hd->int_value / 2))) {
        char *dx = op_operand_desc(call, 0), *df = op_operand_desc(call, 1);
        mlcc_set_error("nn.rope: inv_freq %s must be float64 [head_dim/2] for x %s (even constant head_dim)", df, dx);
        free(dx), free(df);
        return NULL;
    }
    if (call->call.nargs == 3) {
        rx_sinfo *p = op_tensor_arg_shaped(call, 2);
        if (!p) return NULL;
        if (p->ndim != 1 || !dtype_is_int(p->dtype) || !dim_equal(p->shape[0], x->shape[0])) {
            char *dx = op_operand_desc(call, 0), *dp = op_operand_desc(call, 2);
            mlcc_set_error("nn.rope: positions %s must be integers [n] for x %s", dp, dx);
            free(dx), free(dp);
            return NULL;
        }
    }
    return x;
}

typedef struct rope_ctx {
    te_tensor *x, *freq, *pos, *table; /* freq (and pos) or table */
    int64_t half;
} rope_ctx;

/* cos or sin (which: 0 or 1) of token i's angle for pair k, from the table or computed. */
static mlcc_expr *rope_trig(rope_ctx *c, mlcc_expr *i, mlcc_expr *k, int which) {
    if (c->table) return te_load3(c->table, i, ir_int(which), k);
    mlcc_expr *p = c->pos ? te_load1(c->pos, i) : i;
    mlcc_expr *angle = ir_mul(ir_cast(DT_F64, p), te_load1(c->freq, k));
    return ir_call1(which ? "sin" : "cos", angle);
}

static mlcc_expr *rope_body(mlcc_expr **idx, void *ctx) {
    rope_ctx *c = ctx;
    mlcc_expr *i = idx[0], *h = idx[1], *d = idx[2];
    mlcc_expr *half = ir_int(c->half), *dim = ir_int(2 * c->half);
    mlcc_expr *k = ir_floormod(d, half);
    mlcc_dtype t = c->x->buffer->dtype;
    mlcc_expr *x = ir_cast(DT_F64, te_load3(c->x, i, h, d));
    /* the partner index stays in range for every d, so no branch reads out of bounds */
    mlcc_expr *partner = ir_cast(DT_F64, te_load3(c->x, i, h, ir_floormod(ir_add(d, half), dim)));
    mlcc_expr *sign = ir_select(ir_lt(d, half), ir_float(DT_F64, -1.0), ir_float(DT_F64, 1.0));
    mlcc_expr *v = ir_add(ir_mul(x, rope_trig(c, i, k, 0)), ir_mul(ir_mul(sign, partner), rope_trig(c, i, k, 1)));
    return ir_cast(t, v);
}

static rx_expr *legalize_rope(rx_builder *bb, const rx_expr *call) {
    rope_ctx c = {leg_input(call, 0, "x"), NULL, NULL, NULL, 0};
    int nin = 2;
    if (call->call.args[1]->sinfo->ndim == 3) c.table = leg_input(call, 1, "table");
    else c.freq = leg_input(call, 1, "inv_freq");
    if (call->call.nargs == 3) c.pos = leg_input(call, 2, "positions"), nin = 3;
    c.half = c.x->buffer->shape[2]->int_value / 2;
    te_tensor *out = te_compute(leg_out_name(call), call->sinfo->dtype, call->sinfo->shape, 3, rope_body, &c);
    return leg_finish(bb, call, (te_tensor *[]){c.x, c.table ? c.table : c.freq, c.pos}, call->call.args, nin, &out, 1);
}

static const rx_op_def rope_op = {"nn.rope", infer_rope, legalize_rope};

static rx_sinfo *infer_rope_table(const rx_expr *call) {
    if (call->call.nargs != 2) {
        mlcc_set_error("nn.rope_table: expects (inv_freq, positions), got %d operands", call->call.nargs);
        return NULL;
    }
    rx_sinfo *f = op_tensor_arg_shaped(call, 0), *p = f ? op_tensor_arg_shaped(call, 1) : NULL;
    if (!f || !p) return NULL;
    if (f->ndim != 1 || !dtype_eq(f->dtype, DT_F64) || p->ndim != 1 || !dtype_is_int(p->dtype)) {
        char *df = op_operand_desc(call, 0), *dp = op_operand_desc(call, 1);
        mlcc_set_error("nn.rope_table: inv_freq %s must be float64 [half] and positions %s integers [n]", df, dp);
        free(df), free(dp);
        return NULL;
    }
    mlcc_expr *shape[3] = {p->shape[0], ir_int(2), f->shape[0]};
    return rx_sinfo_tensor(shape, 3, DT_F64);
}

typedef struct table_ctx {
    te_tensor *freq, *pos;
} table_ctx;

static mlcc_expr *table_body(mlcc_expr **idx, void *ctx) {
    table_ctx *c = ctx;
    mlcc_expr *angle = ir_mul(ir_cast(DT_F64, te_load1(c->pos, idx[0])), te_load1(c->freq, idx[2]));
    return ir_select(ir_eq(idx[1], ir_int(0)), ir_call1("cos", angle), ir_call1("sin", angle));
}

static rx_expr *legalize_rope_table(rx_builder *bb, const rx_expr *call) {
    table_ctx c = {leg_input(call, 0, "inv_freq"), leg_input(call, 1, "positions")};
    te_tensor *out = te_compute(leg_out_name(call), DT_F64, call->sinfo->shape, 3, table_body, &c);
    return leg_finish(bb, call, (te_tensor *[]){c.freq, c.pos}, call->call.args, 2, &out, 1);
}

static const rx_op_def rope_table_op = {"nn.rope_table", infer_rope_table, legalize_rope_table};

void op_register_rope(void) {
    op_register(&rope_op);
    op_register(&rope_table_op);
}

rx_expr *op_rope(rx_expr *x, rx_expr *inv_freq, rx_expr *positions) {
    rx_attrs none = {NULL, 0};
    return op_call("nn.rope", (rx_expr *[]){x, inv_freq, positions}, positions ? 3 : 2, none);
}

rx_expr *op_rope_table(rx_expr *inv_freq, rx_expr *positions) {
    rx_attrs none = {NULL, 0};
    return op_call("nn.rope_table", (rx_expr *[]){inv_freq, positions}, 2, none);
}

rx_expr *op_rope_with_table(rx_expr *x, rx_expr *table) {
    rx_attrs none = {NULL, 0};
    return op_call("nn.rope", (rx_expr *[]){x, table}, 2, none);
}
