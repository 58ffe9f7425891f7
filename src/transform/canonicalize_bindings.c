/* canonicalize_bindings.c - folds var-to-var bindings (see pass.h).
 *
 *     lv1 = lv0          ->  (dropped; uses of lv1 read lv0)
 *     lv = R.add(x, y)   ->  gv = R.add(x, y)
 *     gv = lv                (dropped: the dataflow var's binding defines the output directly)
 * A dataflow var may not escape its block, so an output is never replaced by a dataflow var:
 * the producing binding is renamed instead. */
#include "support/error.h"
#include "transform/graph_rewrite.h"
#include "transform/pass.h"

typedef struct canon_ctx {
    mlcc_u64map subst;  /* var -> the var that replaces it */
    mlcc_u64map rename; /* dataflow var -> the output var its binding defines instead */
} canon_ctx;

static int is_trivial(const rx_binding *b) {
    return !b->cast && rx_is_var(b->value);
}

/* Finds `gv = lv` output bindings of dataflow vars bound earlier in the same block. */
static void plan_renames(canon_ctx *c, const rx_expr *seq) {
    if (seq->kind != RX_SEQ) return;
    for (int i = 0; i < seq->seq.nblocks; i++) {
        const rx_block *blk = &seq->seq.blocks[i];
        if (!blk->is_dataflow) continue;
        for (int j = 0; j < blk->n; j++) {
            const rx_binding *b = &blk->bindings[j];
            if (!is_trivial(b) || b->var->kind != RX_VAR || b->value->kind != RX_DATAFLOW_VAR) continue;
            if (u64map_find(&c->rename, (uint64_t)(uintptr_t)b->value)) continue;
            for (int k = 0; k < j; k++)
                if (blk->bindings[k].var == b->value) {
                    u64map_set_p(&c->rename, b->value, b->var);
                    u64map_set_p(&c->subst, b->value, b->var);
                    break;
                }
        }
    }
}

static int canon_binding(rx_builder *bb, rx_binding b, void *ctx) {
    canon_ctx *c = ctx;
    rx_expr *renamed = u64map_get_p(&c->rename, b.var);
    if (renamed) {
        b.var = renamed;
        bb_emit_binding(bb, b);
        return 0;
    }
    if (is_trivial(&b)) {
        /* after substitution, the output `gv = lv` has become `gv = gv` */
        if (b.value == b.var) return 0;
        int var_is_output = b.var->kind == RX_VAR, value_is_dataflow = b.value->kind == RX_DATAFLOW_VAR;
        if (!(var_is_output && value_is_dataflow)) {
            u64map_set_p(&c->subst, b.var, b.value);
            return 0;
        }
    }
    bb_emit_binding(bb, b);
    return 0;
}

mlcc_ir_module *pass_canonicalize_bindings(const mlcc_ir_module *m, void *ctx) {
    (void)ctx;
    canon_ctx c;
    u64map_init(&c.subst);
    u64map_init(&c.rename);
    for (int i = 0; i < m->n; i++)
        if (m->entries[i].kind == IRMOD_GRAPH) plan_renames(&c, m->entries[i].graph->func.body);
    mlcc_ir_module *out = rx_rewrite_module(m, "canonicalize_bindings", canon_binding, &c, &c.subst);
    u64map_free(&c.subst);
    u64map_free(&c.rename);
    return out;
}
