/* fuse_rope_append.c - rope + KV append (issue 19's "fusion that matters on CPU"): the rope of
 * K, whose only reader is the KV cache's attention call,
 *
 *     k_rope = nn.rope(k, rope_table)
 *     attn = call_dps_packed("mlcc.kv_cache.attention", (cache, layer, q, k_rope, v))
 *
 * becomes part of the cache's append kernel:
 *
 *     attn = call_dps_packed("mlcc.kv_cache.attention", (cache, layer, q, k, v, rope_table))
 *
 * and the module's kv_append kernel is regenerated to take the table (gen/attention.h,
 * rope_table = 1), which rotates K with it exactly as nn.rope does (the same float64
 * expression), while storing it into its page. K is then read once and written once (into the
 * pages) instead of written by the rope, read back and written again by the append.
 *
 * One append kernel serves every layer, so the pass applies to all the module's attention calls
 * or to none: a K that is not such a rope, or a rope with another reader, leaves the module
 * as it was. The rope of Q stays a kernel of its own: the attention kernels read each query
 * row once per key page and head group, so rotating it inside them would redo the rotation.
 * Run before legalize, for the CPU target (build.c); MLCC_FUSE_ROPE_APPEND=0 turns it off. */
#include <string.h>

#include "gen/attention.h"
#include "op/op.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "transform/graph_rewrite.h"
#include "transform/pass.h"

/* `attention(cache, layer, q, k, v)` through call_dps_packed: its argument tuple, else NULL. */
static rx_expr *attention_args(const rx_expr *v) {
    const char *fn = rx_dps_packed_name(v);
    return fn && !strcmp(fn, "mlcc.kv_cache.attention") && v->call.args[1]->tuple.n == 5 ? v->call.args[1] : NULL;
}

/* nn.rope(x, table) with a table (not inv_freq / positions). */
static int is_rope_with_table(const rx_expr *v) {
    return rx_is_op_call(v, "nn.rope") && v->call.nargs == 2 && v->call.args[1]->sinfo && v->call.args[1]->sinfo->kind == SI_TENSOR &&
           v->call.args[1]->sinfo->ndim == 3;
}

/* ---- analysis: how often each var is read, which vars are ropes ---- */

typedef struct scan {
    mlcc_u64map uses;  /* var -> times read */
    mlcc_u64map ropes; /* var bound to nn.rope(x, table) -> its value */
    mlcc_u64map k_ropes; /* those of them an attention call takes as K -> their value */
    int attention, fusable; /* attention calls, and those whose K is a rope var */
} scan;

/* ropes of a table, and the attention calls whose K is one (reads: rx_scan_graph) */
static void note_binding(const rx_binding *b, void *ctx) {
    scan *s = ctx;
    if (!b->cast && is_rope_with_table(b->value)) u64map_set_p(&s->ropes, b->var, b->value);
    rx_expr *args = attention_args(b->value);
    if (args) {
        rx_expr *rope = u64map_get_p(&s->ropes, args->tuple.fields[3]);
        s->attention++;
        s->fusable += rope != NULL;
        if (rope) u64map_set_p(&s->k_ropes, args->tuple.fields[3], rope);
    }
}

static int64_t uses_of(const scan *s, const rx_expr *var) {
    const mlcc_u64map_entry *e = u64map_find(&s->uses, (uint64_t)(uintptr_t)var);
    return e ? e->value.i : 0;
}

/* ---- the append kernel with the table ---- */

/* The kv_append the decoder generated (pages[P, 2, KVH, PS, D], k[T, KVH, D], v, slots,
 * positions), regenerated to take the rope table; NULL when the module's is not that one. */
static mlcc_prim_func *append_with_table(const mlcc_ir_module *m) {
    const mlcc_prim_func *f = irmod_get_prim(m, "kv_append");
    if (!f || f->nparams != 5 || !f->origin || strncmp(f->origin, "gen:", 4)) return NULL;
    const mlcc_buffer *pages = f->params[0].buffer, *k = f->params[1].buffer;
    if (!pages || !k || pages->ndim != 5 || k->ndim != 3) return NULL;
    for (int d = 1; d < 5; d++)
        if (pages->shape[d]->kind != EXPR_INT) return NULL;
    mlcc_attn_config c = {
        .head_dim = (int)pages->shape[4]->int_value,
        .num_qo_heads = (int)pages->shape[2]->int_value,
        .num_kv_heads = (int)pages->shape[2]->int_value,
        .page_size = (int)pages->shape[3]->int_value,
        .dtype = k->dtype,
        .kv_dtype = pages->dtype,
        .rope_table = 1,
    };
    return gen_kv_append(&c);
}

/* ---- the rewrite ---- */

typedef struct rewrite {
    const scan *s;
} rewrite;

static int rewrite_binding(rx_builder *bb, rx_binding b, void *ctx) {
    const rewrite *r = ctx;
    if (!b.cast && u64map_get_p(&r->s->k_ropes, b.var)) return 0; /* now in the append */
    rx_expr *args = attention_args(b.value);
    const rx_expr *rope = args ? u64map_get_p(&r->s->k_ropes, args->tuple.fields[3]) : NULL;
    if (rope) {
        rx_expr **f = args->tuple.fields;
        rx_expr *in[6] = {f[0], f[1], f[2], rope->call.args[0], f[4], rope->call.args[1]};
        b.value = op_call_dps_packed("mlcc.kv_cache.attention", in, 6, b.value->call.sinfo_args[0]);
    }
    bb_emit_binding(bb, b);
    return 0;
}

mlcc_ir_module *pass_fuse_rope_append(const mlcc_ir_module *m, void *ctx) {
    (void)ctx;
    scan s;
    memset(&s, 0, sizeof s);
    u64map_init(&s.uses);
    u64map_init(&s.ropes);
    u64map_init(&s.k_ropes);
    for (int i = 0; i < m->n; i++)
        if (m->entries[i].kind == IRMOD_GRAPH) rx_scan_graph(m->entries[i].graph, &s.uses, note_binding, &s);
    /* every attention's K a rope read by the attention alone */
    int all = s.attention > 0 && s.fusable == s.attention;
    for (size_t i = 0; all && i < s.k_ropes.cap; i++)
        if (s.k_ropes.slots[i].used && uses_of(&s, (const rx_expr *)(uintptr_t)s.k_ropes.slots[i].key) != 1) all = 0;
    mlcc_prim_func *append = all ? append_with_table(m) : NULL;
    mlcc_ir_module *out;
    if (!append) {
        mlcc_clear_error();
        out = irmod_copy(m);
    } else {
        rewrite r = {&s};
        out = rx_rewrite_module(m, "fuse_rope_append", rewrite_binding, &r, NULL);
        if (out) irmod_set_prim(out, "kv_append", append);
    }
    u64map_free(&s.uses);
    u64map_free(&s.ropes);
    u64map_free(&s.k_ropes);
    return out;
}
