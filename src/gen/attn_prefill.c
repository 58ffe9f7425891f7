/* attn_prefill.c - ragged causal prefill attention over the paged KV cache (see attention.h).
 * Every (query token, KV head) pair is independent: one parallel loop over both, each running
 * the online softmax of the group's query heads over its sequence's keys up to its position. */
#include "gen/attn_common.h"

mlcc_prim_func *gen_attn_prefill(const mlcc_attn_config *c) {
    attn_gen g;
    if (attn_gen_init(&g, c)) return NULL;
    int D = c->head_dim, QH = c->num_qo_heads, KVH = c->num_kv_heads, G = g.group;
    mlcc_expr *T = ir_size_var("num_tokens");
    mlcc_buffer *q = ir_buffer_v("q", c->dtype, T, ir_int(QH), ir_int(D), NULL);
    mlcc_buffer *token_seq = ir_buffer_v("token_seq", DT_I32, T, NULL);
    mlcc_buffer *positions = ir_buffer_v("positions", DT_I32, T, NULL);
    mlcc_buffer *page_indptr =
        ir_buffer_v("page_indptr", DT_I32, ir_size_var("num_seqs_plus_1"), NULL);
    mlcc_buffer *page_indices =
        ir_buffer_v("page_indices", DT_I32, ir_size_var("num_used_pages"), NULL);
    mlcc_buffer *out = ir_buffer_v("out", c->dtype, T, ir_int(QH), ir_int(D), NULL);
    mlcc_expr *window = ir_var("window", DT_I64);

    mlcc_expr *tk = ir_var("tk", DT_I64);
    /* r[0] token, r[1] KV head, r[2] batch entry, r[3] position, r[4] first key */
    mlcc_buffer *r = attn_local("r", DT_I64, 5);
    mlcc_expr *rv[5];
    for (int i = 0; i < 5; i++)
        rv[i] = attn_ld(r, ir_int(i));
    /* keys in [lo, pos]: all of them, or the last `window` positions */
    mlcc_expr *lo =
        ir_select(ir_gt(window, ir_int(0)),
                  ir_max(ir_int(0), ir_add(ir_sub(rv[3], window), ir_int(1))), ir_int(0));
    mlcc_expr *regs[5] = {ir_floordiv(tk, ir_int(KVH)), ir_floormod(tk, ir_int(KVH)),
                          attn_idx(token_seq, rv[0]), attn_idx(positions, rv[0]), lo};

    attn_query query = {q, rv[0], rv[1], rv[2], page_indptr, page_indices};
    attn_state st = attn_state_new(&g);
    mlcc_expr *hi = ir_var("hi", DT_I64), *d = ir_var("d", DT_I64);
    mlcc_expr *oidx[3] = {rv[0], ir_add(ir_mul(rv[1], ir_int(G)), hi), d};
    mlcc_expr *normalized =
        ir_div(attn_ld(st.acc, ir_add(ir_mul(hi, ir_int(D)), d)), attn_ld(st.l, hi));
    mlcc_stmt *write = attn_loop(hi, ir_int(G), FOR_SERIAL,
                                 attn_loop(d, ir_int(D), FOR_VECTORIZED,
                                           ir_store(out, ir_cast(c->dtype, normalized), oidx, 3)));
    mlcc_stmt *steps[3] = {attn_regs_set(r, regs, 5),
                           attn_online_softmax(&g, &query, rv[4], ir_add(rv[3], ir_int(1)), &st),
                           write};
    mlcc_stmt *body = ir_allocate(r, attn_state_alloc(&st, ir_seq(steps, 3)));
    mlcc_buffer *reads[6] = {q, g.pages, token_seq, positions, page_indptr, page_indices};
    body = attn_opaque_block("attention", body, reads, 6, &out, 1);
    body = attn_loop(tk, ir_mul(T, ir_int(KVH)), FOR_PARALLEL, body);

    mlcc_buffer *params[7] = {q, g.pages, token_seq, positions, page_indptr, page_indices, out};
    mlcc_prim_func *f = ir_prim_func("attn_prefill", params, 7, body);
    prim_func_add_scalar_param(f, window);
    f->origin = "gen: paged ragged prefill attention";
    return f;
}
