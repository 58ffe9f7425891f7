/* attn_decode.c - paged decode attention with split KV (see attention.h). Stage one runs,
 * in parallel over (sequence, KV head, split), an online softmax over one chunk of the
 * sequence's keys and leaves (max, sum, unnormalised output) per chunk; stage two merges the
 * chunks of each (sequence, head): out = sum_s acc_s e^(m_s - M) / sum_s l_s e^(m_s - M) with
 * M the largest m_s, so no exponent overflows and empty chunks (m = -inf) weigh nothing. */
#include "gen/attn_common.h"

#include <math.h>

/* Stage one: one (sequence, KV head, split) chunk into the partial buffers of the group's heads. */
static mlcc_stmt *split_stage(const attn_gen *g, mlcc_buffer *q, mlcc_buffer *page_indptr,
                              mlcc_buffer *page_indices, mlcc_buffer *last_page_len, mlcc_expr *B,
                              mlcc_expr *window, mlcc_expr *S, mlcc_buffer *pm, mlcc_buffer *pl,
                              mlcc_buffer *pacc) {
    int D = g->c->head_dim, KVH = g->c->num_kv_heads, PS = g->c->page_size, G = g->group;
    mlcc_expr *x = ir_var("bks", DT_I64);
    /* r[0] sequence, r[1] KV head, r[2] split, r[3] keys in the sequence, r[4] first key in the
     * window, r[5] chunk length, r[6] chunk start */
    mlcc_buffer *r = attn_local("r", DT_I64, 7);
    mlcc_expr *rv[7];
    for (int i = 0; i < 7; i++)
        rv[i] = attn_ld(r, ir_int(i));
    mlcc_expr *b = rv[0];
    mlcc_expr *pages_of_seq =
        ir_sub(attn_idx(page_indptr, ir_add(b, ir_int(1))), attn_idx(page_indptr, b));
    mlcc_expr *regs[7] = {
        ir_floordiv(x, ir_mul(ir_int(KVH), S)),
        ir_floormod(ir_floordiv(x, S), ir_int(KVH)),
        ir_floormod(x, S),
        ir_add(ir_mul(ir_sub(pages_of_seq, ir_int(1)), ir_int(PS)), attn_idx(last_page_len, b)),
        ir_select(ir_gt(window, ir_int(0)), ir_max(ir_int(0), ir_sub(rv[3], window)), ir_int(0)),
        ir_floordiv(ir_add(ir_sub(rv[3], rv[4]), ir_sub(S, ir_int(1))), S),
        ir_add(rv[4], ir_mul(rv[2], rv[5]))};
    mlcc_expr *end = ir_max(rv[6], ir_min(rv[3], ir_add(rv[6], rv[5])));

    attn_query query = {q, b, rv[1], b, page_indptr, page_indices};
    attn_state st = attn_state_new(g);
    mlcc_expr *hi = ir_var("hi", DT_I64), *d = ir_var("d", DT_I64);
    mlcc_expr *head = ir_add(ir_mul(rv[1], ir_int(G)), hi);
    mlcc_expr *pidx[3] = {b, head, rv[2]}, *aidx[4] = {b, head, rv[2], d};
    mlcc_stmt *save[3] = {
        ir_store(pm, attn_ld(st.m, hi), pidx, 3), ir_store(pl, attn_ld(st.l, hi), pidx, 3),
        attn_loop(d, ir_int(D), FOR_VECTORIZED,
                  ir_store(pacc, attn_ld(st.acc, ir_add(ir_mul(hi, ir_int(D)), d)), aidx, 4))};
    mlcc_stmt *steps[3] = {attn_regs_set(r, regs, 7),
                           attn_online_softmax(g, &query, rv[6], end, &st),
                           attn_loop(hi, ir_int(G), FOR_SERIAL, ir_seq(save, 3))};
    mlcc_stmt *body = ir_allocate(r, attn_state_alloc(&st, ir_seq(steps, 3)));
    mlcc_buffer *reads[5] = {q, g->pages, page_indptr, page_indices, last_page_len};
    mlcc_buffer *writes[3] = {pm, pl, pacc};
    body = attn_opaque_block("attention_split", body, reads, 5, writes, 3);
    return attn_loop(x, ir_mul(ir_mul(B, ir_int(KVH)), S), FOR_PARALLEL, body);
}

/* Stage two: merge the splits of each (b, h). */
static mlcc_stmt *merge_stage(const attn_gen *g, mlcc_expr *B, mlcc_expr *S, mlcc_buffer *pm,
                              mlcc_buffer *pl, mlcc_buffer *pacc, mlcc_buffer *out) {
    int D = g->c->head_dim, QH = g->c->num_qo_heads;
    mlcc_expr *x = ir_var("bh", DT_I64);
    mlcc_buffer *r = attn_local("r", DT_I64, 2); /* sequence, head */
    mlcc_expr *b = attn_ld(r, ir_int(0)), *h = attn_ld(r, ir_int(1));
    mlcc_expr *ids[2] = {ir_floordiv(x, ir_int(QH)), ir_floormod(x, ir_int(QH))};
    /* w[0] max over splits, w[1] total weight, w[2] weight of the current split */
    mlcc_buffer *w = attn_local("merge", DT_F32, 3);
    mlcc_buffer *o = attn_local("o", DT_F32, D);
    mlcc_expr *wv[3];
    for (int i = 0; i < 3; i++)
        wv[i] = attn_ld(w, ir_int(i));
    mlcc_expr *s1 = ir_var("s", DT_I64), *s2 = ir_var("s", DT_I64), *s3 = ir_var("s", DT_I64);
    mlcc_expr *m_at2[3] = {b, h, s2}, *m_at3[3] = {b, h, s3}, *m_at1[3] = {b, h, s1};
    mlcc_expr *d0 = ir_var("d", DT_I64), *d1 = ir_var("d", DT_I64), *d2 = ir_var("d", DT_I64);
    mlcc_expr *aidx[4] = {b, h, s3, d1}, *oidx[3] = {b, h, d2};

    mlcc_stmt *max_loop =
        attn_loop(s1, S, FOR_SERIAL, attn_st(w, ir_int(0), ir_max(wv[0], ir_load(pm, m_at1, 3))));
    mlcc_stmt *sum_loop = attn_loop(
        s2, S, FOR_SERIAL,
        attn_st(w, ir_int(1),
                ir_add(wv[1], ir_mul(ir_load(pl, m_at2, 3),
                                     ir_call1("exp", ir_sub(ir_load(pm, m_at2, 3), wv[0]))))));
    mlcc_stmt *acc_body[2] = {
        attn_st(w, ir_int(2), ir_call1("exp", ir_sub(ir_load(pm, m_at3, 3), wv[0]))),
        attn_loop(d1, ir_int(D), FOR_VECTORIZED,
                  attn_st(o, d1, ir_add(attn_ld(o, d1), ir_mul(ir_load(pacc, aidx, 4), wv[2]))))};
    mlcc_stmt *steps[7] = {
        attn_regs_set(r, ids, 2),
        attn_st(w, ir_int(0), ir_float(DT_F32, -INFINITY)),
        max_loop,
        attn_st(w, ir_int(1), ir_float(DT_F32, 0)),
        ir_seq2(sum_loop,
                attn_loop(d0, ir_int(D), FOR_VECTORIZED, attn_st(o, d0, ir_float(DT_F32, 0)))),
        attn_loop(s3, S, FOR_SERIAL, ir_seq(acc_body, 2)),
        attn_loop(d2, ir_int(D), FOR_VECTORIZED,
                  ir_store(out, ir_cast(g->c->dtype, ir_div(attn_ld(o, d2), wv[1])), oidx, 3))};
    mlcc_stmt *body = ir_allocate(r, ir_allocate(w, ir_allocate(o, ir_seq(steps, 7))));
    mlcc_buffer *reads[3] = {pm, pl, pacc};
    body = attn_opaque_block("merge", body, reads, 3, &out, 1);
    return attn_loop(x, ir_mul(B, ir_int(QH)), FOR_PARALLEL, body);
}

mlcc_prim_func *gen_attn_decode(const mlcc_attn_config *c) {
    attn_gen g;
    if (attn_gen_init(&g, c)) return NULL;
    int D = c->head_dim, QH = c->num_qo_heads;
    mlcc_expr *B = ir_size_var("batch");
    mlcc_buffer *q = ir_buffer_v("q", c->dtype, B, ir_int(QH), ir_int(D), NULL);
    mlcc_buffer *page_indptr = ir_buffer_v("page_indptr", DT_I32, ir_add(B, ir_int(1)), NULL);
    mlcc_buffer *page_indices =
        ir_buffer_v("page_indices", DT_I32, ir_size_var("num_used_pages"), NULL);
    mlcc_buffer *last_page_len = ir_buffer_v("last_page_len", DT_I32, B, NULL);
    mlcc_buffer *out = ir_buffer_v("out", c->dtype, B, ir_int(QH), ir_int(D), NULL);
    mlcc_expr *window = ir_var("window", DT_I64);
    mlcc_expr *S = ir_var("num_splits", DT_I64);

    mlcc_buffer *pm = ir_buffer_v("split_max", DT_F32, B, ir_int(QH), S, NULL);
    mlcc_buffer *pl = ir_buffer_v("split_sum", DT_F32, B, ir_int(QH), S, NULL);
    mlcc_buffer *pacc = ir_buffer_v("split_out", DT_F32, B, ir_int(QH), S, ir_int(D), NULL);
    mlcc_stmt *stages[2] = {
        split_stage(&g, q, page_indptr, page_indices, last_page_len, B, window, S, pm, pl, pacc),
        merge_stage(&g, B, S, pm, pl, pacc, out)};
    mlcc_buffer *params[6] = {q, g.pages, page_indptr, page_indices, last_page_len, out};
    mlcc_prim_func *f = ir_prim_func("attn_decode", params, 6, ir_seq(stages, 2));
    prim_func_add_scalar_param(f, window);
    prim_func_add_scalar_param(f, S);
    prim_func_add_alloc(f, pm);
    prim_func_add_alloc(f, pl);
    prim_func_add_alloc(f, pacc);
    f->origin = "gen: paged decode attention (split KV)";
    return f;
}
