/* attn_common.c - shared pieces of the attention generators (see attn_common.h). */
#include "gen/attn_common.h"

#include <math.h>

#include "support/error.h"

int gen_attn_check(const mlcc_attn_config *c) {
    if (c->head_dim <= 0 || c->head_dim > 1024)
        return mlcc_set_error("attention config: head_dim %d must be in [1, 1024]", c->head_dim);
    if (c->num_kv_heads <= 0) return mlcc_set_error("attention config: num_kv_heads %d must be >= 1", c->num_kv_heads);
    if (c->num_qo_heads <= 0 || c->num_qo_heads % c->num_kv_heads != 0)
        return mlcc_set_error("attention config: num_qo_heads %d must be a positive multiple of num_kv_heads %d",
                              c->num_qo_heads, c->num_kv_heads);
    if (c->page_size <= 0 || c->page_size > 4096)
        return mlcc_set_error("attention config: page_size %d must be in [1, 4096]", c->page_size);
    if (!(dtype_eq(c->dtype, DT_F32) || dtype_eq(c->dtype, DT_F16)))
        return mlcc_set_error("attention config: dtype must be float32 or float16");
    if (c->scale < 0 || !isfinite(c->scale)) return mlcc_set_error("attention config: scale %g must be >= 0 and finite", c->scale);
    if (c->softcap < 0 || !isfinite(c->softcap))
        return mlcc_set_error("attention config: softcap %g must be >= 0 and finite", c->softcap);
    if (c->rope_theta < 0 || !isfinite(c->rope_theta))
        return mlcc_set_error("attention config: rope_theta %g must be >= 0 and finite", c->rope_theta);
    if (c->rope_theta > 0 && c->head_dim % 2 != 0)
        return mlcc_set_error("attention config: rope needs an even head_dim, got %d", c->head_dim);
    return 0;
}

int attn_gen_init(attn_gen *g, const mlcc_attn_config *c) {
    if (gen_attn_check(c)) return -1;
    g->c = c;
    g->group = c->num_qo_heads / c->num_kv_heads;
    g->scale = c->scale > 0 ? c->scale : 1.0 / sqrt((double)c->head_dim);
    g->lanes = 1;
    for (int l = 16; l > 1; l /= 2)
        if (c->head_dim % l == 0) {
            g->lanes = l;
            break;
        }
    mlcc_expr *shape[5] = {ir_size_var("num_pages"), ir_int(2), ir_int(c->num_kv_heads), ir_int(c->page_size),
                           ir_int(c->head_dim)};
    g->pages = ir_buffer("pages", c->dtype, shape, 5);
    return 0;
}

mlcc_buffer *attn_local(const char *name, mlcc_dtype t, int64_t n) {
    mlcc_expr *shape[1] = {ir_int(n)};
    return ir_buffer_scoped(name, t, shape, 1, "local");
}

mlcc_expr *attn_ld(mlcc_buffer *buf, mlcc_expr *i) { return ir_load(buf, &i, 1); }

mlcc_stmt *attn_st(mlcc_buffer *buf, mlcc_expr *i, mlcc_expr *value) { return ir_store(buf, value, &i, 1); }

mlcc_expr *attn_idx(mlcc_buffer *buf, mlcc_expr *i) { return ir_cast(DT_I64, attn_ld(buf, i)); }

mlcc_expr *attn_f32(mlcc_expr *e) { return ir_cast(DT_F32, e); }

mlcc_stmt *attn_loop(mlcc_expr *var, mlcc_expr *extent, mlcc_for_kind kind, mlcc_stmt *body) {
    return ir_for(var, ir_int(0), extent, kind, body);
}

static mlcc_region *whole_regions(mlcc_buffer **bufs, int n) {
    mlcc_region *r = ir_alloc(sizeof(mlcc_region) * (size_t)(n + 1));
    for (int i = 0; i < n; i++) r[i] = ir_region_whole(bufs[i]);
    return r;
}

mlcc_stmt *attn_opaque_block(const char *name, mlcc_stmt *body, mlcc_buffer **reads, int nreads,
                             mlcc_buffer **writes, int nwrites) {
    mlcc_block *b = ir_block_new(name);
    b->reads = whole_regions(reads, nreads);
    b->nreads = nreads;
    b->writes = whole_regions(writes, nwrites);
    b->nwrites = nwrites;
    b->body = body;
    return ir_block_realize(NULL, ir_bool(1), b);
}

attn_state attn_state_new(const attn_gen *g) {
    attn_state st = {attn_local("m", DT_F32, 1), attn_local("l", DT_F32, 1),
                     attn_local("acc", DT_F32, g->c->head_dim)};
    return st;
}

mlcc_stmt *attn_state_alloc(const attn_state *st, mlcc_stmt *body) {
    return ir_allocate(st->m, ir_allocate(st->l, ir_allocate(st->acc, body)));
}

/* pages[page, kv, kv_head, offset, d] as float32. */
static mlcc_expr *page_elem(const attn_gen *g, mlcc_expr *page, int kv, mlcc_expr *kv_head, mlcc_expr *offset,
                            mlcc_expr *d) {
    mlcc_expr *idx[5] = {page, ir_int(kv), kv_head, offset, d};
    return attn_f32(ir_load(g->pages, idx, 5));
}

/* The logit of one key: q . k as `lanes` vectorized partial sums, then their total. */
static mlcc_stmt *dot_product(const attn_gen *g, mlcc_buffer *qv, mlcc_buffer *part, mlcc_buffer *score,
                              mlcc_expr *page, mlcc_expr *kv_head, mlcc_expr *offset) {
    int D = g->c->head_dim, L = g->lanes;
    mlcc_expr *lane0 = ir_var("lane", DT_I64);
    mlcc_stmt *zero = attn_loop(lane0, ir_int(L), FOR_VECTORIZED, attn_st(part, lane0, ir_float(DT_F32, 0)));
    mlcc_expr *chunk = ir_var("dc", DT_I64), *lane = ir_var("lane", DT_I64);
    mlcc_expr *d = ir_add(ir_mul(chunk, ir_int(L)), lane);
    mlcc_stmt *fma = attn_st(part, lane,
                             ir_add(attn_ld(part, lane), ir_mul(attn_ld(qv, d), page_elem(g, page, 0, kv_head, offset, d))));
    mlcc_stmt *accumulate = attn_loop(chunk, ir_int(D / L), FOR_SERIAL, attn_loop(lane, ir_int(L), FOR_VECTORIZED, fma));
    mlcc_expr *total = attn_ld(part, ir_int(0));
    for (int i = 1; i < L; i++) total = ir_add(total, attn_ld(part, ir_int(i)));
    if (g->c->softcap > 0) {
        double cap = g->c->softcap;
        total = ir_mul(ir_float(DT_F32, cap), ir_call1("tanh", ir_mul(total, ir_float(DT_F32, 1.0 / cap))));
    }
    mlcc_stmt *seq[3] = {zero, accumulate, attn_st(score, ir_int(0), total)};
    return ir_seq(seq, 3);
}

mlcc_stmt *attn_online_softmax(const attn_gen *g, const attn_query *q, mlcc_expr *start, mlcc_expr *extent,
                               const attn_state *st) {
    int D = g->c->head_dim, PS = g->c->page_size;
    mlcc_buffer *qv = attn_local("q_scaled", DT_F32, D);
    mlcc_buffer *part = attn_local("partial", DT_F32, g->lanes);
    /* s[0] logit, s[1] new max, s[2] rescale of the old state, s[3] weight of this key */
    mlcc_buffer *s = attn_local("s", DT_F32, 4);
    mlcc_buffer *pg = attn_local("page", DT_I64, 1);
    mlcc_expr *kv_head = ir_floordiv(q->head, ir_int(g->group));
    mlcc_expr *zero = ir_int(0);

    /* init: the query scaled once, an empty state */
    mlcc_expr *d0 = ir_var("d", DT_I64);
    mlcc_expr *qidx[3] = {q->row, q->head, d0};
    mlcc_stmt *init_body[2] = {
        attn_st(qv, d0, ir_mul(attn_f32(ir_load(q->q, qidx, 3)), ir_float(DT_F32, g->scale))),
        attn_st(st->acc, d0, ir_float(DT_F32, 0))};
    mlcc_stmt *init[3] = {attn_loop(d0, ir_int(D), FOR_VECTORIZED, ir_seq(init_body, 2)),
                          attn_st(st->m, zero, ir_float(DT_F32, -INFINITY)),
                          attn_st(st->l, zero, ir_float(DT_F32, 0))};

    /* one key j: its page through the page table, its logit, the online-softmax update */
    mlcc_expr *j = ir_var("j", DT_I64);
    mlcc_expr *page_slot = ir_add(attn_idx(q->page_indptr, q->seq), ir_floordiv(j, ir_int(PS)));
    mlcc_expr *page = attn_ld(pg, zero), *offset = ir_floormod(j, ir_int(PS));
    mlcc_expr *m = attn_ld(st->m, zero), *l = attn_ld(st->l, zero);
    mlcc_expr *sv[4];
    for (int i = 0; i < 4; i++) sv[i] = attn_ld(s, ir_int(i));
    mlcc_expr *d = ir_var("d", DT_I64);
    mlcc_stmt *acc_update = attn_st(st->acc, d, ir_add(ir_mul(attn_ld(st->acc, d), sv[2]),
                                                      ir_mul(sv[3], page_elem(g, page, 1, kv_head, offset, d))));
    mlcc_stmt *key[8] = {
        attn_st(pg, zero, attn_idx(q->page_indices, page_slot)),
        dot_product(g, qv, part, s, page, kv_head, offset),
        attn_st(s, ir_int(1), ir_max(m, sv[0])),
        attn_st(s, ir_int(2), ir_call1("exp", ir_sub(m, sv[1]))),
        attn_st(s, ir_int(3), ir_call1("exp", ir_sub(sv[0], sv[1]))),
        attn_st(st->l, zero, ir_add(ir_mul(l, sv[2]), sv[3])),
        attn_loop(d, ir_int(D), FOR_VECTORIZED, acc_update),
        attn_st(st->m, zero, sv[1])};
    mlcc_stmt *keys = ir_for(j, start, extent, FOR_SERIAL, ir_seq(key, 8));

    mlcc_stmt *all[2] = {ir_seq(init, 3), keys};
    mlcc_stmt *body = ir_seq(all, 2);
    return ir_allocate(qv, ir_allocate(part, ir_allocate(s, ir_allocate(pg, body))));
}

int gen_attn_kernels(const mlcc_attn_config *c, mlcc_prim_func *out[3]) {
    out[0] = gen_kv_append(c);
    out[1] = out[0] ? gen_attn_prefill(c) : NULL;
    out[2] = out[1] ? gen_attn_decode(c) : NULL;
    return out[2] ? 0 : -1;
}
