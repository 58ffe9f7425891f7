/* attn_prefill.c - ragged causal prefill attention over the paged KV cache (see attention.h).
 * Every (query token, head) pair is independent: one parallel loop over both, each running
 * the online softmax over its sequence's keys up to its own position. */
#include "gen/attn_common.h"

mlcc_prim_func *gen_attn_prefill(const mlcc_attn_config *c) {
    attn_gen g;
    if (attn_gen_init(&g, c)) return NULL;
    int D = c->head_dim, QH = c->num_qo_heads;
    mlcc_expr *T = ir_size_var("num_tokens");
    mlcc_buffer *q = ir_buffer_v("q", c->dtype, T, ir_int(QH), ir_int(D), NULL);
    mlcc_buffer *token_seq = ir_buffer_v("token_seq", DT_I32, T, NULL);
    mlcc_buffer *positions = ir_buffer_v("positions", DT_I32, T, NULL);
    mlcc_buffer *page_indptr = ir_buffer_v("page_indptr", DT_I32, ir_size_var("num_seqs_plus_1"), NULL);
    mlcc_buffer *page_indices = ir_buffer_v("page_indices", DT_I32, ir_size_var("num_used_pages"), NULL);
    mlcc_buffer *out = ir_buffer_v("out", c->dtype, T, ir_int(QH), ir_int(D), NULL);
    mlcc_expr *window = ir_var("window", DT_I64);

    mlcc_expr *th = ir_var("th", DT_I64);
    mlcc_expr *t = ir_floordiv(th, ir_int(QH)), *h = ir_floormod(th, ir_int(QH));
    mlcc_expr *pos = attn_idx(positions, t);
    /* keys in [lo, pos]: all of them, or the last `window` positions */
    mlcc_expr *lo = ir_select(ir_gt(window, ir_int(0)), ir_max(ir_int(0), ir_add(ir_sub(pos, window), ir_int(1))),
                              ir_int(0));
    mlcc_buffer *range = attn_local("key_lo", DT_I64, 1);
    mlcc_expr *key_lo = attn_ld(range, ir_int(0));

    attn_query query = {q, t, h, attn_idx(token_seq, t), page_indptr, page_indices};
    attn_state st = attn_state_new(&g);
    mlcc_expr *d = ir_var("d", DT_I64);
    mlcc_expr *oidx[3] = {t, h, d};
    mlcc_stmt *write = ir_store(out, ir_cast(c->dtype, ir_div(attn_ld(st.acc, d), attn_ld(st.l, ir_int(0)))), oidx, 3);
    mlcc_stmt *steps[3] = {attn_st(range, ir_int(0), lo),
                           attn_online_softmax(&g, &query, key_lo, ir_sub(ir_add(pos, ir_int(1)), key_lo), &st),
                           attn_loop(d, ir_int(D), FOR_VECTORIZED, write)};
    mlcc_stmt *body = ir_allocate(range, attn_state_alloc(&st, ir_seq(steps, 3)));
    mlcc_buffer *reads[6] = {q, g.pages, token_seq, positions, page_indptr, page_indices};
    body = attn_opaque_block("attention", body, reads, 6, &out, 1);
    body = attn_loop(th, ir_mul(T, ir_int(QH)), FOR_PARALLEL, body);

    mlcc_buffer *params[7] = {q, g.pages, token_seq, positions, page_indptr, page_indices, out};
    mlcc_prim_func *f = ir_prim_func("attn_prefill", params, 7, body);
    prim_func_add_scalar_param(f, window);
    f->origin = "gen: paged ragged prefill attention";
    return f;
}
