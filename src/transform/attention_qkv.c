/* attention_qkv.c - the KV cache's attention reads q, k and v straight from the combined
 * projection's output (CUDA build, prefill and decode functions, after fuse_rope_q):
 *
 *     part  = strided_slice(qkv, axes=[1], begin=[0],             end=[QH D])
 *     part1 = strided_slice(qkv, axes=[1], begin=[QH D],          end=[(QH + KVH) D])
 *     part2 = strided_slice(qkv, axes=[1], begin=[(QH + KVH) D],  end=[(QH + 2 KVH) D])
 *     heads = reshape(part, [n, QH, D])  (heads1, heads2 likewise, [n, KVH, D])
 *     attn  = call_dps_packed("mlcc.kv_cache.attention_rope_q", (cache, layer, heads, heads1, heads2, table))
 *
 * becomes
 *
 *     attn = call_dps_packed("mlcc.kv_cache.attention_qkv", (cache, layer, qkv, table))
 *
 * The slices were three copy kernels a layer (about 4 us each at batch 1 on the H100, more than
 * the attention's own reads of q, k and v); the CUDA decode kernel now takes each sequence's row
 * of qkv with a row stride, and the paths that need q, k, v compact (batched flash decode) copy
 * them apart in one kernel (runtime/kv_cache.c). In prefill functions half_activations then
 * makes qkv float16 and the cache's flash path reads it in one kernel that rotates q and K and
 * appends K and V (at 2048 tokens of the Llama-3-8B shape the three slices, q's rope pass and
 * the append were ~100 us a layer). Applies when the three slices tile qkv's columns in that
 * order and every slice and reshape is read once. MLCC_CUDA_ATTN_QKV=0 turns it off (and
 * MLCC_CUDA_FLASH_QKV=0 the cache's one-kernel path); =cpu runs it for the CPU too (tests: the
 * CPU cache takes the same call). */
#include <stdint.h>
#include <string.h>

#include "op/op.h"
#include "support/hashmap.h"
#include "transform/graph_rewrite.h"
#include "transform/pass.h"

typedef struct scan {
    mlcc_u64map uses;  /* var -> times read */
    mlcc_u64map bound; /* var bound to a reshape or a strided_slice -> its value */
} scan;

static int is_reshape(const rx_expr *v) {
    if (rx_is_op_call(v, "reshape")) return v->call.nargs >= 1;
    return rx_is_op_call(v, "call_packed") && v->call.nargs == 3 && v->call.args[0]->kind == RX_STRING_IMM &&
           !strcmp(v->call.args[0]->str, "vm.builtin.reshape");
}

/* the tensor a reshape reads */
static const rx_expr *reshape_input(const rx_expr *v) {
    return rx_is_op_call(v, "reshape") ? v->call.args[0] : v->call.args[1];
}

static void note_binding(const rx_binding *b, void *ctx) {
    scan *s = ctx;
    if (!b->cast && (is_reshape(b->value) || rx_is_op_call(b->value, "strided_slice")))
        u64map_set_p(&s->bound, b->var, b->value);
}

static int read_once(const scan *s, const rx_expr *var) {
    const mlcc_u64map_entry *e = u64map_find(&s->uses, (uint64_t)(uintptr_t)var);
    return e && e->value.i == 1;
}

static int static_dim(const rx_sinfo *si, int ndim, int d, int64_t *out) {
    if (!si || si->kind != SI_TENSOR || si->ndim != ndim || !si->shape || !si->shape[d] || si->shape[d]->kind != EXPR_INT)
        return 0;
    *out = si->shape[d]->int_value;
    return 1;
}

/* heads = reshape(strided_slice(x, axes=[1], begin=[begin], end=[end])) with x 2-D, each read
 * once, heads [n, H, D]: x, and the slice's columns [*begin, *end) (end clamped to x's). */
static const rx_expr *sliced_heads(const scan *s, const rx_expr *heads, int64_t *begin, int64_t *end, int64_t *H,
                                   int64_t *D) {
    const rx_expr *reshape = u64map_get_p(&s->bound, heads);
    if (!reshape || !is_reshape(reshape) || !read_once(s, heads)) return NULL;
    const rx_expr *part = reshape_input(reshape);
    const rx_expr *slice = u64map_get_p(&s->bound, part);
    if (!slice || !rx_is_op_call(slice, "strided_slice") || !read_once(s, part)) return NULL;
    const rx_expr *x = slice->call.args[0];
    const rx_attr *axes = rx_attrs_get(slice->call.attrs, "axes"), *b = rx_attrs_get(slice->call.attrs, "begin"),
                  *e = rx_attrs_get(slice->call.attrs, "end"), *strides = rx_attrs_get(slice->call.attrs, "strides");
    int64_t width;
    if (!axes || !b || !e || axes->nints != 1 || b->nints != 1 || e->nints != 1 || (axes->ints[0] != 1 && axes->ints[0] != -1) ||
        (strides && (strides->nints != 1 || strides->ints[0] != 1)) || !static_dim(x->sinfo, 2, 1, &width) ||
        !static_dim(heads->sinfo, 3, 1, H) || !static_dim(heads->sinfo, 3, 2, D) || b->ints[0] < 0 || b->ints[0] > width)
        return NULL;
    if (!dtype_eq(heads->sinfo->dtype, DT_F32) || !dtype_eq(x->sinfo->dtype, DT_F32))
        return NULL; /* (the cache's attention_qkv takes float32) */
    *begin = b->ints[0];
    *end = e->ints[0] > width || e->ints[0] < 0 ? (e->ints[0] < 0 ? width + e->ints[0] : width) : e->ints[0];
    return x;
}

/* The combined projection output an attention_rope_q call's q, k, v slice, else NULL. */
static const rx_expr *qkv_source(const scan *s, const rx_expr *v) {
    const char *fn = rx_dps_packed_name(v);
    if (!fn || strcmp(fn, "mlcc.kv_cache.attention_rope_q") || v->call.args[1]->tuple.n != 6) return NULL;
    rx_expr **f = v->call.args[1]->tuple.fields;
    const rx_expr *x = NULL;
    int64_t at = 0, width = 0, D0 = 0, heads_kv = -1;
    for (int i = 0; i < 3; i++) {
        int64_t begin, end, H, D;
        const rx_expr *xi = sliced_heads(s, f[2 + i], &begin, &end, &H, &D);
        if (!xi || (x && xi != x) || begin != at || end - begin != H * D || (i && D != D0) || (i == 2 && H != heads_kv))
            return NULL;
        if (i == 1) heads_kv = H;
        x = xi, D0 = D, at = end;
    }
    return static_dim(x->sinfo, 2, 1, &width) && width == at ? x : NULL;
}

typedef struct rewrite {
    scan s;
    mlcc_u64map dropped; /* slice and reshape vars whose bindings go */
    mlcc_u64map calls;   /* var bound to a rewritable attention call -> qkv */
} rewrite;

static int rewrite_binding(rx_builder *bb, rx_binding b, void *ctx) {
    rewrite *r = ctx;
    if (!b.cast && u64map_get_p(&r->dropped, b.var)) return 0; /* read in place by the attention */
    const rx_expr *x = b.cast ? NULL : u64map_get_p(&r->calls, b.var);
    if (x) {
        rx_expr **f = b.value->call.args[1]->tuple.fields;
        rx_expr *in[4] = {f[0], f[1], (rx_expr *)x, f[5]};
        b.value = op_call_dps_packed("mlcc.kv_cache.attention_qkv", in, 4, b.value->call.sinfo_args[0]);
    }
    bb_emit_binding(bb, b);
    return 0;
}

/* marks each rewritable call (var -> qkv) and the vars of its slices and reshapes */
static void mark(const rx_binding *b, void *ctx) {
    rewrite *r = ctx;
    const rx_expr *x = b->cast ? NULL : qkv_source(&r->s, b->value);
    if (!x) return;
    u64map_set_p(&r->calls, b->var, (void *)x);
    for (int k = 2; k < 5; k++) {
        const rx_expr *heads = b->value->call.args[1]->tuple.fields[k];
        const rx_expr *reshape = u64map_get_p(&r->s.bound, heads);
        u64map_set_p(&r->dropped, heads, (void *)heads);
        u64map_set_p(&r->dropped, reshape_input(reshape), (void *)heads);
    }
}

mlcc_ir_module *pass_attention_qkv(const mlcc_ir_module *m, void *ctx) {
    (void)ctx;
    rewrite r;
    u64map_init(&r.s.uses);
    u64map_init(&r.s.bound);
    u64map_init(&r.dropped);
    u64map_init(&r.calls);
    for (int i = 0; i < m->n; i++)
        if (m->entries[i].kind == IRMOD_GRAPH) rx_scan_graph(m->entries[i].graph, &r.s.uses, note_binding, &r.s);
    for (int i = 0; i < m->n; i++)
        if (m->entries[i].kind == IRMOD_GRAPH)
            rx_scan_graph(m->entries[i].graph, NULL, mark, &r);
    mlcc_ir_module *out = r.calls.count ? rx_rewrite_module(m, "attention_qkv", rewrite_binding, &r, NULL) : irmod_copy(m);
    u64map_free(&r.s.uses);
    u64map_free(&r.s.bound);
    u64map_free(&r.dropped);
    u64map_free(&r.calls);
    return out;
}
