/* graph_rewrite.c - var substitution and binding-by-binding rebuilding of graph functions
 * (see graph_rewrite.h). */
#include <string.h>

#include "support/error.h"
#include "transform/graph_rewrite.h"

static rx_expr **subst_list(rx_expr **xs, int n, const mlcc_u64map *map, int *changed) {
    rx_expr **out = ir_alloc(sizeof(rx_expr *) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) {
        out[i] = rx_subst(xs[i], map);
        *changed |= out[i] != xs[i];
    }
    return out;
}

static rx_expr *subst_seq(rx_expr *e, const mlcc_u64map *map) {
    int changed = 0;
    rx_block *blocks = ir_alloc(sizeof(rx_block) * (size_t)(e->seq.nblocks + 1));
    for (int i = 0; i < e->seq.nblocks; i++) {
        rx_block *b = &e->seq.blocks[i];
        blocks[i] = *b;
        blocks[i].bindings = ir_alloc(sizeof(rx_binding) * (size_t)(b->n + 1));
        for (int j = 0; j < b->n; j++) {
            blocks[i].bindings[j] = b->bindings[j];
            blocks[i].bindings[j].value = rx_subst(b->bindings[j].value, map);
            changed |= blocks[i].bindings[j].value != b->bindings[j].value;
        }
    }
    rx_expr *body = rx_subst(e->seq.body, map);
    if (!changed && body == e->seq.body) return e;
    rx_expr *s = rx_seq(blocks, e->seq.nblocks, body);
    return s;
}

rx_expr *rx_subst(rx_expr *e, const mlcc_u64map *map) {
    if (!e || !map || map->count == 0) return e;
    int changed = 0;
    switch (e->kind) {
    case RX_VAR:
    case RX_DATAFLOW_VAR: {
        rx_expr *to = u64map_get_p(map, e);
        return to ? to : e;
    }
    case RX_TUPLE: {
        rx_expr **fs = subst_list(e->tuple.fields, e->tuple.n, map, &changed);
        if (!changed) return e;
        rx_expr *t = rx_tuple(fs, e->tuple.n);
        return t->sinfo ? t : rx_with_sinfo(t, e->sinfo);
    }
    case RX_TUPLE_GET_ITEM: {
        rx_expr *t = rx_subst(e->get_item.tuple, map);
        return t == e->get_item.tuple ? e : rx_with_sinfo(rx_tuple_get_item(t, e->get_item.index), e->sinfo);
    }
    case RX_CALL: {
        rx_expr **args = subst_list(e->call.args, e->call.nargs, map, &changed);
        rx_expr *callee = rx_subst(e->call.callee, map);
        if (!changed && callee == e->call.callee) return e;
        rx_expr *c = rx_call(callee, args, e->call.nargs, e->call.attrs, e->call.sinfo_args, e->call.nsinfo_args);
        return rx_with_sinfo(c, e->sinfo);
    }
    case RX_IF: {
        rx_expr *c = rx_subst(e->if_.cond, map), *t = rx_subst(e->if_.then_, map), *f = rx_subst(e->if_.else_, map);
        if (c == e->if_.cond && t == e->if_.then_ && f == e->if_.else_) return e;
        return rx_with_sinfo(rx_if(c, t, f), e->sinfo);
    }
    case RX_SEQ: return subst_seq(e, map);
    default: return e;
    }
}

typedef struct rewriter {
    rx_builder *bb;
    rx_binding_fn fn;
    void *ctx;
    mlcc_u64map *subst;
} rewriter;

static rx_expr *rewrite_seq(rewriter *rw, rx_expr *seq);

static int rewrite_binding(rewriter *rw, rx_binding b) {
    b.value = rx_subst(b.value, rw->subst);
    if (b.value->kind == RX_IF) {
        /* the branches are SeqExprs of their own: rebuild them with the same callback */
        rx_expr *t = rewrite_seq(rw, b.value->if_.then_), *f = t ? rewrite_seq(rw, b.value->if_.else_) : NULL;
        if (!t || !f) return -1;
        b.value = rx_with_sinfo(rx_if(b.value->if_.cond, t, f), b.value->sinfo);
    }
    return rw->fn(rw->bb, b, rw->ctx);
}

static rx_expr *rewrite_seq(rewriter *rw, rx_expr *seq) {
    if (seq->kind != RX_SEQ) return rx_subst(seq, rw->subst);
    /* nested SeqExprs (If branches) are built in their own block list */
    rx_block *blocks = ir_alloc(sizeof(rx_block) * (size_t)(seq->seq.nblocks + 1));
    int nblocks = 0;
    for (int i = 0; i < seq->seq.nblocks; i++) {
        const rx_block *blk = &seq->seq.blocks[i];
        bb_begin_block(rw->bb, blk->is_dataflow);
        for (int j = 0; j < blk->n; j++)
            if (rewrite_binding(rw, blk->bindings[j])) return NULL;
        rx_block nb = bb_end_block(rw->bb);
        if (nb.n) blocks[nblocks++] = nb;
    }
    return rx_seq(blocks, nblocks, rx_subst(seq->seq.body, rw->subst));
}

mlcc_ir_module *rx_rewrite_module(const mlcc_ir_module *m, const char *pass, rx_binding_fn fn, void *ctx,
                                  mlcc_u64map *subst) {
    mlcc_ir_module *out = irmod_copy(m);
    rx_builder *bb = bb_new(out);
    rewriter rw = {bb, fn, ctx, subst};
    for (int i = 0; i < m->n; i++) {
        if (m->entries[i].kind != IRMOD_GRAPH) continue;
        rx_expr *f = m->entries[i].graph;
        rx_expr *body = rewrite_seq(&rw, f->func.body);
        if (!body) {
            mlcc_prefix_error("%s: function '%s'", pass, m->entries[i].name);
            bb_free(bb);
            return NULL;
        }
        rx_expr *nf = rx_function_new(f->func.params, f->func.nparams, body, f->func.ret, f->func.attrs);
        irmod_set_graph(out, m->entries[i].name, nf);
    }
    bb_free(bb);
    return out;
}

void rx_scan_graph(const rx_expr *e, mlcc_u64map *uses, rx_scan_fn visit, void *ctx) {
    switch (e->kind) {
    case RX_VAR:
    case RX_DATAFLOW_VAR:
        if (uses) u64map_upsert(uses, (uint64_t)(uintptr_t)e, NULL)->value.i++;
        return;
    case RX_TUPLE:
        for (int i = 0; i < e->tuple.n; i++) rx_scan_graph(e->tuple.fields[i], uses, visit, ctx);
        return;
    case RX_TUPLE_GET_ITEM: rx_scan_graph(e->get_item.tuple, uses, visit, ctx); return;
    case RX_CALL:
        rx_scan_graph(e->call.callee, uses, visit, ctx);
        for (int i = 0; i < e->call.nargs; i++) rx_scan_graph(e->call.args[i], uses, visit, ctx);
        return;
    case RX_IF:
        rx_scan_graph(e->if_.cond, uses, visit, ctx);
        rx_scan_graph(e->if_.then_, uses, visit, ctx);
        rx_scan_graph(e->if_.else_, uses, visit, ctx);
        return;
    case RX_SEQ:
        for (int i = 0; i < e->seq.nblocks; i++)
            for (int j = 0; j < e->seq.blocks[i].n; j++) {
                const rx_binding *b = &e->seq.blocks[i].bindings[j];
                rx_scan_graph(b->value, uses, visit, ctx);
                if (visit) visit(b, ctx);
            }
        rx_scan_graph(e->seq.body, uses, visit, ctx);
        return;
    case RX_FUNCTION: rx_scan_graph(e->func.body, uses, visit, ctx); return;
    default: return;
    }
}

const char *rx_dps_packed_name(const rx_expr *v) {
    if (!rx_is_op_call(v, "call_dps_packed") || v->call.nargs != 2 || v->call.args[0]->kind != RX_STRING_IMM ||
        v->call.args[1]->kind != RX_TUPLE)
        return NULL;
    return v->call.args[0]->str;
}
