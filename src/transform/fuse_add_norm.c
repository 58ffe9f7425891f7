/* fuse_add_norm.c - the residual add and the RMSNorm it feeds as one kernel (CUDA build; MLC
 * LLM's FuseAddRMSNorm). A decoder layer's
 *
 *     resid = add(x, proj)                  resid is read again by the next residual add
 *     norm  = nn.rms_norm(resid, weight)
 *
 * becomes one PrimFunc with two outputs,
 *
 *     t = call_tir(add_rms_norm, (x, proj, weight))   -> (sum, normed)
 *     resid = t[0];  norm = t[1]
 *
 * which the GPU reduction + broadcast rule (schedule/gpu_row.c) makes one kernel with a thread
 * block per row: each thread writes its elements of the sum and reads them back for the sum of
 * squares and the scaling. fuse_ops cannot get there by itself: the add has two readers (the
 * norm and the next residual add), so it stays a kernel of its own (2 x ~4 us a layer at batch
 * 1 on the H100). The values are those of the two ops: the sum is the same float addition and
 * the norm reads it back as stored.
 *
 * Applies where the add's operands have the add's shape (no broadcast), all float32, and the
 * norm's weight is a parameter of the function (defined before the add: gemma's (1 + w)
 * weights are computed after it, so those stay apart). Run before legalize, for the CUDA target
 * (build.c); MLCC_CUDA_FUSE_ADD_NORM=0 turns it off. */
#include <string.h>

#include "op/op.h"
#include "op/op_util.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "te/te.h"
#include "transform/graph_rewrite.h"
#include "transform/pass.h"

static const rx_sinfo *f32_tensor(const rx_expr *e) {
    const rx_sinfo *s = e ? e->sinfo : NULL;
    if (!s || s->kind != SI_TENSOR || s->ndim < 1 || !s->shape || !dtype_eq(s->dtype, DT_F32)) return NULL;
    return s;
}

static int same_shape(const rx_sinfo *a, const rx_sinfo *b) {
    if (a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (!dim_equal(a->shape[d], b->shape[d])) return 0;
    return 1;
}

/* ---- analysis, per graph function ---- */

typedef struct fusion {
    const rx_expr *add;  /* the add's value */
    const rx_expr *norm; /* the norm's value */
    rx_expr *norm_var;
    rx_expr *tuple;      /* the fused call's var, once emitted */
} fusion;

typedef struct scan {
    mlcc_u64map adds;    /* var of an add -> its value */
    mlcc_u64map by_add;  /* var of a fused add -> fusion */
    mlcc_u64map by_norm; /* var of a fused norm -> fusion */
    mlcc_u64map params;  /* the function's params */
} scan;

static void scan_function(scan *s, const rx_expr *fn) {
    for (int i = 0; i < fn->func.nparams; i++) u64map_set_p(&s->params, fn->func.params[i], fn->func.params[i]);
    const rx_expr *body = fn->func.body;
    if (!body || body->kind != RX_SEQ) return;
    for (int i = 0; i < body->seq.nblocks; i++)
        for (int j = 0; j < body->seq.blocks[i].n; j++) {
            const rx_binding *b = &body->seq.blocks[i].bindings[j];
            const rx_expr *v = b->value;
            if (b->cast) continue;
            if (rx_is_op_call(v, "add") && v->call.nargs == 2) {
                const rx_sinfo *out = f32_tensor(v), *x = f32_tensor(v->call.args[0]), *y = f32_tensor(v->call.args[1]);
                if (out && x && y && same_shape(out, x) && same_shape(out, y)) u64map_set_p(&s->adds, b->var, (void *)v);
            }
            if (rx_is_op_call(v, "nn.rms_norm") && v->call.nargs == 2 && f32_tensor(v)) {
                rx_expr *in = v->call.args[0], *w = v->call.args[1];
                const rx_expr *add = u64map_get_p(&s->adds, in);
                const rx_sinfo *ws = w->sinfo;
                if (!add || u64map_get_p(&s->by_add, in) || !u64map_get_p(&s->params, w)) continue;
                if (!ws || ws->kind != SI_TENSOR || ws->ndim != 1 || !dtype_eq(ws->dtype, DT_F32)) continue;
                fusion *f = ir_alloc(sizeof *f);
                *f = (fusion){add, v, b->var, NULL};
                u64map_set_p(&s->by_add, in, f);
                u64map_set_p(&s->by_norm, b->var, f);
            }
        }
}

/* ---- the fused PrimFunc ---- */

typedef struct kernel_ctx {
    te_tensor *a, *b, *w, *sum, *sq;
    int nd;
    mlcc_expr *h;
    double eps;
} kernel_ctx;

static mlcc_expr *sum_body(mlcc_expr **idx, void *ctx) {
    kernel_ctx *c = ctx;
    return ir_add(te_load(c->a, idx, c->nd), te_load(c->b, idx, c->nd));
}

static mlcc_expr *sq_body(mlcc_expr **idx, void *ctx) {
    kernel_ctx *c = ctx;
    mlcc_expr *v = te_load(c->sum, idx, c->nd);
    return ir_mul(v, v);
}

/* the expression of nn.rms_norm's legalization (op/nn.c), on the stored sum */
static mlcc_expr *norm_body(mlcc_expr **idx, void *ctx) {
    kernel_ctx *c = ctx;
    mlcc_expr *ms = ir_div(te_load(c->sq, idx, c->nd - 1), ir_cast(DT_F32, c->h));
    mlcc_expr *scale = ir_call1("rsqrt", ir_add(ms, ir_float(DT_F32, c->eps)));
    return ir_mul(ir_mul(te_load(c->sum, idx, c->nd), scale), te_load(c->w, &idx[c->nd - 1], 1));
}

static rx_expr *fused_call(rx_builder *bb, const fusion *f) {
    const rx_sinfo *s = f->add->sinfo;
    kernel_ctx c = {.nd = s->ndim, .h = s->shape[s->ndim - 1]};
    c.eps = rx_attrs_float(f->norm->call.attrs, "epsilon", 1e-5);
    c.a = leg_input_expr(f->add->call.args[0], "x");
    c.b = leg_input_expr(f->add->call.args[1], "y");
    c.w = leg_input_expr(f->norm->call.args[1], "weight");
    c.sum = te_compute("T_add", DT_F32, s->shape, c.nd, sum_body, &c);
    c.sq = te_reduce("sq_sum", DT_F32, s->shape, c.nd - 1, TE_SUM, &c.h, 1, sq_body, &c);
    te_tensor *out = te_compute("T_rms_norm", DT_F32, s->shape, c.nd, norm_body, &c);
    mlcc_prim_func *pf = te_create_prim_func("add_rms_norm", (te_tensor *[]){c.a, c.b, c.w, c.sum, out}, 5);
    if (!pf) return NULL;
    rx_expr *gv = bb_add_prim_func(bb, pf, "add_rms_norm");
    rx_sinfo *fields[2] = {f->add->sinfo, f->norm->sinfo};
    rx_expr *args[3] = {f->add->call.args[0], f->add->call.args[1], f->norm->call.args[1]};
    return op_call_tir(gv, args, 3, rx_sinfo_tuple(fields, 2));
}

/* ---- the rewrite ---- */

static int rewrite_binding(rx_builder *bb, rx_binding b, void *ctx) {
    scan *s = ctx;
    fusion *f = b.cast ? NULL : u64map_get_p(&s->by_add, b.var);
    if (f) {
        rx_expr *call = fused_call(bb, f);
        if (!call) return -1;
        f->tuple = bb_emit(bb, call, "add_norm");
        if (!f->tuple) return mlcc_set_error("%s", bb_error(bb));
        b.value = rx_with_sinfo(rx_tuple_get_item(f->tuple, 0), f->add->sinfo);
    }
    f = b.cast ? NULL : u64map_get_p(&s->by_norm, b.var);
    if (f && f->tuple) b.value = rx_with_sinfo(rx_tuple_get_item(f->tuple, 1), f->norm->sinfo);
    bb_emit_binding(bb, b);
    return 0;
}

mlcc_ir_module *pass_fuse_add_norm(const mlcc_ir_module *m, void *ctx) {
    (void)ctx;
    scan s;
    u64map_init(&s.adds);
    u64map_init(&s.by_add);
    u64map_init(&s.by_norm);
    u64map_init(&s.params);
    for (int i = 0; i < m->n; i++)
        if (m->entries[i].kind == IRMOD_GRAPH) scan_function(&s, m->entries[i].graph);
    mlcc_ir_module *out = rx_rewrite_module(m, "fuse_add_norm", rewrite_binding, &s, NULL);
    u64map_free(&s.adds);
    u64map_free(&s.by_add);
    u64map_free(&s.by_norm);
    u64map_free(&s.params);
    return out;
}
