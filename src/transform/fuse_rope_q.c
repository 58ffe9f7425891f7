/* fuse_rope_q.c - the rope of q into the KV cache's attention call (CUDA build, after
 * fuse_rope_append has moved K's rope into the append):
 *
 *     q_rope = nn.rope(q, rope_table)
 *     attn = call_dps_packed("mlcc.kv_cache.attention", (cache, layer, q_rope, k, v, rope_table))
 *
 * becomes
 *
 *     attn = call_dps_packed("mlcc.kv_cache.attention_rope_q", (cache, layer, q, k, v, rope_table))
 *
 * so a decode step needs no rope kernel: the CUDA decode kernel (runtime/cuda_decode_attention.c)
 * rotates q while loading it, once per block. Every other path (prefill, batched decode, a
 * shape that kernel does not cover) rotates q into a buffer of the cache first, one kernel as
 * before. Applies per call when the rope's table is the call's and the rope has no other reader.
 * Not run for the CPU (whose attention kernels read each query row once per key page and head
 * group, where a rope kernel of its own is cheaper) nor Vulkan; MLCC_CUDA_ROPE_Q=0 turns it off. */
#include <string.h>

#include "op/op.h"
#include "support/hashmap.h"
#include "transform/graph_rewrite.h"
#include "transform/pass.h"

/* `attention(cache, layer, q, k, v, rope_table)` through call_dps_packed: its argument tuple. */
static rx_expr *attention_args(const rx_expr *v) {
    const char *fn = rx_dps_packed_name(v);
    return fn && !strcmp(fn, "mlcc.kv_cache.attention") && v->call.args[1]->tuple.n == 6 ? v->call.args[1] : NULL;
}

typedef struct scan {
    mlcc_u64map uses;  /* var -> times read */
    mlcc_u64map ropes; /* var bound to nn.rope(x, table) -> its value */
} scan;

/* ropes of a table: candidates (their reads are counted by rx_scan_graph) */
static void note_rope(const rx_binding *b, void *ctx) {
    scan *s = ctx;
    if (!b->cast && rx_is_op_call(b->value, "nn.rope") && b->value->call.nargs == 2) u64map_set_p(&s->ropes, b->var, b->value);
}

/* The rope of q an attention call can take over: q_rope = nn.rope(x, table) with the call's
 * table, read by the call alone. */
static const rx_expr *foldable_rope(const scan *s, const rx_expr *args) {
    const rx_expr *q = args->tuple.fields[2];
    const rx_expr *rope = u64map_get_p(&s->ropes, q);
    const mlcc_u64map_entry *uses = u64map_find(&s->uses, (uint64_t)(uintptr_t)q);
    if (!rope || !uses || uses->value.i != 1 || rope->call.args[1] != args->tuple.fields[5]) return NULL;
    return rope;
}

typedef struct rewrite {
    const scan *s;
    mlcc_u64map dropped; /* q_rope vars whose binding goes */
} rewrite;

static int rewrite_binding(rx_builder *bb, rx_binding b, void *ctx) {
    rewrite *r = ctx;
    if (!b.cast && u64map_get_p(&r->dropped, b.var)) return 0; /* now in the attention */
    rx_expr *args = attention_args(b.value);
    const rx_expr *rope = args ? foldable_rope(r->s, args) : NULL;
    if (rope) {
        rx_expr **f = args->tuple.fields;
        rx_expr *in[6] = {f[0], f[1], rope->call.args[0], f[3], f[4], f[5]};
        b.value = op_call_dps_packed("mlcc.kv_cache.attention_rope_q", in, 6, b.value->call.sinfo_args[0]);
    }
    bb_emit_binding(bb, b);
    return 0;
}

/* marks the q_rope vars of every foldable call (bindings come before their readers, so the
 * rewrite must know them before it meets the rope) */
static void mark(const rx_binding *b, void *ctx) {
    rewrite *r = ctx;
    rx_expr *args = attention_args(b->value);
    if (args && foldable_rope(r->s, args)) u64map_set_p(&r->dropped, args->tuple.fields[2], (void *)b->value);
}

mlcc_ir_module *pass_fuse_rope_q(const mlcc_ir_module *m, void *ctx) {
    (void)ctx;
    scan s;
    rewrite r = {&s, {0}};
    u64map_init(&s.uses);
    u64map_init(&s.ropes);
    u64map_init(&r.dropped);
    for (int i = 0; i < m->n; i++)
        if (m->entries[i].kind == IRMOD_GRAPH) rx_scan_graph(m->entries[i].graph, &s.uses, note_rope, &s);
    for (int i = 0; i < m->n; i++)
        if (m->entries[i].kind == IRMOD_GRAPH) rx_scan_graph(m->entries[i].graph, NULL, mark, &r);
    mlcc_ir_module *out = r.dropped.count ? rx_rewrite_module(m, "fuse_rope_q", rewrite_binding, &r, NULL) : irmod_copy(m);
    u64map_free(&s.uses);
    u64map_free(&s.ropes);
    u64map_free(&r.dropped);
    return out;
}
