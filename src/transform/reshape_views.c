/* reshape_views.c - reshapes as views (CUDA build): `y = reshape(x, shape)` becomes
 *
 *     y = call_packed("vm.builtin.reshape", x, R.shape(shape))
 *
 * a view of x's storage made on the host, instead of a copy kernel (legalize writes reshape
 * as a TIR copy). Tensors here are dense row-major, so any reshape keeping the element count
 * is such a view. In a decode step this removes the copy of V into heads, the copy of the
 * attention output back to rows, and the embedding / logits reshapes: each a kernel launch
 * and a few microseconds a layer at batch 1 on the H100 (docs/cuda.md).
 *
 * The memory planner already treats a call_packed result as possibly one of its arguments
 * (vm_lower.c's propagate), so x's storage stays live while the view is read. A reshape
 * whose result a function returns stays a copy (the caller must not get a view of storage
 * the next call reuses). Reshapes that fuse_ops would have fused into their consumer (q's and
 * k's rope) become views too: the rope then reads the projection's storage directly, the same
 * kernel count. Run before legalize, for the CUDA target (build.c); MLCC_CUDA_RESHAPE_VIEWS=0 keeps the
 * copies. */
#include <string.h>

#include "op/op.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "transform/graph_rewrite.h"
#include "transform/pass.h"

/* ---- the vars functions return ---- */

static void note_returned(mlcc_u64map *out, const rx_expr *e);

static void scan_returns(mlcc_u64map *out, const rx_expr *e) {
    if (!e) return;
    switch (e->kind) {
    case RX_FUNCTION: scan_returns(out, e->func.body); return;
    case RX_SEQ:
        for (int i = 0; i < e->seq.nblocks; i++)
            for (int j = 0; j < e->seq.blocks[i].n; j++) scan_returns(out, e->seq.blocks[i].bindings[j].value);
        note_returned(out, e->seq.body);
        return;
    case RX_IF:
        scan_returns(out, e->if_.then_);
        scan_returns(out, e->if_.else_);
        return;
    default: return;
    }
}

static void note_returned(mlcc_u64map *out, const rx_expr *e) {
    if (!e) return;
    if (e->kind == RX_VAR || e->kind == RX_DATAFLOW_VAR) u64map_set_p(out, e, (void *)e);
    else if (e->kind == RX_TUPLE)
        for (int i = 0; i < e->tuple.n; i++) note_returned(out, e->tuple.fields[i]);
    else if (e->kind == RX_SEQ || e->kind == RX_IF) scan_returns(out, e);
}

/* ---- the rewrite ---- */

static const rx_sinfo *dense_tensor(const rx_sinfo *s) {
    if (!s || s->kind != SI_TENSOR || s->ndim < 0 || !s->shape) return NULL;
    for (int d = 0; d < s->ndim; d++)
        if (!s->shape[d]) return NULL;
    return s;
}

static int rewrite_binding(rx_builder *bb, rx_binding b, void *ctx) {
    const mlcc_u64map *returned = ctx;
    rx_expr *v = b.value;
    const rx_sinfo *out = dense_tensor(b.var->sinfo ? b.var->sinfo : v->sinfo);
    if (!b.cast && rx_is_op_call(v, "reshape") && v->call.nargs >= 1 && out && dense_tensor(v->call.args[0]->sinfo) &&
        !u64map_get_p(returned, b.var)) {
        rx_expr *shape = rx_shape_expr(out->shape, out->ndim);
        b.value = op_call_packed("vm.builtin.reshape", (rx_expr *[]){v->call.args[0], shape}, 2,
                                 rx_sinfo_tensor(out->shape, out->ndim, out->dtype));
    }
    bb_emit_binding(bb, b);
    return 0;
}

mlcc_ir_module *pass_reshape_views(const mlcc_ir_module *m, void *ctx) {
    (void)ctx;
    mlcc_u64map returned;
    u64map_init(&returned);
    for (int i = 0; i < m->n; i++)
        if (m->entries[i].kind == IRMOD_GRAPH) scan_returns(&returned, m->entries[i].graph);
    mlcc_ir_module *out = rx_rewrite_module(m, "reshape_views", rewrite_binding, &returned, NULL);
    u64map_free(&returned);
    return out;
}
