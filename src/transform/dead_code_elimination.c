/* dead_code_elimination.c - drops unused bindings and unreachable functions (see pass.h).
 *
 * A binding is dead when its var is not used later (in bindings or the function's result) and
 * its value has no side effect: everything in a dataflow block, and outside one everything but
 * calls of packed functions and of other graph functions. Removal repeats until nothing
 * changes. Functions are kept when public (attr global_symbol) or reachable from one. */
#include <string.h>

#include "support/error.h"
#include "support/hashmap.h"
#include "transform/graph_rewrite.h"
#include "transform/pass.h"

static void mark_uses(const rx_expr *e, mlcc_u64map *used);

static void mark_seq_uses(const rx_expr *seq, mlcc_u64map *used) {
    for (int i = 0; i < seq->seq.nblocks; i++)
        for (int j = 0; j < seq->seq.blocks[i].n; j++) mark_uses(seq->seq.blocks[i].bindings[j].value, used);
    mark_uses(seq->seq.body, used);
}

/* Marks the vars and global vars e reads. */
static void mark_uses(const rx_expr *e, mlcc_u64map *used) {
    switch (e->kind) {
    case RX_VAR:
    case RX_DATAFLOW_VAR: u64map_upsert(used, (uint64_t)(uintptr_t)e, NULL); return;
    case RX_GLOBAL_VAR: u64map_upsert(used, (uint64_t)(uintptr_t)e->var.name, NULL); return;
    case RX_TUPLE:
        for (int i = 0; i < e->tuple.n; i++) mark_uses(e->tuple.fields[i], used);
        return;
    case RX_TUPLE_GET_ITEM: mark_uses(e->get_item.tuple, used); return;
    case RX_CALL:
        mark_uses(e->call.callee, used);
        for (int i = 0; i < e->call.nargs; i++) mark_uses(e->call.args[i], used);
        return;
    case RX_IF:
        mark_uses(e->if_.cond, used);
        mark_uses(e->if_.then_, used);
        mark_uses(e->if_.else_, used);
        return;
    case RX_SEQ: mark_seq_uses(e, used); return;
    case RX_FUNCTION: mark_uses(e->func.body, used); return;
    default: return;
    }
}

static int has_side_effect(const rx_expr *v) {
    if (v->kind != RX_CALL) return 0;
    if (v->call.callee->kind == RX_OP)
        return strcmp(v->call.callee->op->name, "call_packed") == 0 || strcmp(v->call.callee->op->name, "call_dps_packed") == 0;
    return 1; /* a graph function may do anything */
}

typedef struct dce_ctx {
    mlcc_u64map used;
    int removed;
} dce_ctx;

static int dce_binding(rx_builder *bb, rx_binding b, void *ctx) {
    dce_ctx *c = ctx;
    int in_dataflow = bb_in_dataflow(bb);
    if (!u64map_find(&c->used, (uint64_t)(uintptr_t)b.var) && (in_dataflow || !has_side_effect(b.value))) {
        c->removed++;
        return 0;
    }
    bb_emit_binding(bb, b);
    return 0;
}

static void mark_module_uses(const mlcc_ir_module *m, mlcc_u64map *used) {
    for (int i = 0; i < m->n; i++)
        if (m->entries[i].kind == IRMOD_GRAPH) mark_uses(m->entries[i].graph->func.body, used);
}

/* Keeps public functions and what they reach through global vars. */
mlcc_ir_module *remove_unreachable_functions(const mlcc_ir_module *m) {
    mlcc_u64map reach;
    u64map_init(&reach);
    for (int i = 0; i < m->n; i++)
        if (m->entries[i].kind == IRMOD_GRAPH && rx_attrs_str(m->entries[i].graph->func.attrs, "global_symbol"))
            u64map_upsert(&reach, (uint64_t)(uintptr_t)m->entries[i].name, NULL);
    for (int changed = 1; changed;) {
        changed = 0;
        for (int i = 0; i < m->n; i++) {
            const irmod_entry *e = &m->entries[i];
            if (e->kind != IRMOD_GRAPH || !u64map_find(&reach, (uint64_t)(uintptr_t)e->name)) continue;
            size_t before = reach.count;
            mark_uses(e->graph->func.body, &reach);
            changed |= reach.count != before;
        }
    }
    mlcc_ir_module *out = irmod_copy(m);
    out->n = 0;
    for (int i = 0; i < m->n; i++)
        if (u64map_find(&reach, (uint64_t)(uintptr_t)m->entries[i].name)) out->entries[out->n++] = m->entries[i];
    u64map_free(&reach);
    return out;
}

mlcc_ir_module *pass_dead_code_elimination(const mlcc_ir_module *m, void *ctx) {
    (void)ctx;
    const mlcc_ir_module *cur = m;
    for (;;) {
        dce_ctx c;
        u64map_init(&c.used);
        c.removed = 0;
        mark_module_uses(cur, &c.used);
        mlcc_ir_module *next = rx_rewrite_module(cur, "dead_code_elimination", dce_binding, &c, NULL);
        u64map_free(&c.used);
        if (!next) return NULL;
        cur = next;
        if (!c.removed) break;
    }
    return remove_unreachable_functions(cur);
}
