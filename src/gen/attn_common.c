/* attn_common.c - shared pieces of the attention generators (see attn_common.h). */
#include "gen/attn_common.h"

#include <math.h>

#include "support/env.h"
#include "support/error.h"

int gen_attn_check(const mlcc_attn_config *c) {
    if (c->head_dim <= 0 || c->head_dim > 1024)
        return mlcc_set_error("attention config: head_dim %d must be in [1, 1024]", c->head_dim);
    if (c->num_kv_heads <= 0)
        return mlcc_set_error("attention config: num_kv_heads %d must be >= 1", c->num_kv_heads);
    if (c->num_qo_heads <= 0 || c->num_qo_heads % c->num_kv_heads != 0)
        return mlcc_set_error(
            "attention config: num_qo_heads %d must be a positive multiple of num_kv_heads %d",
            c->num_qo_heads, c->num_kv_heads);
    if (c->page_size <= 0 || c->page_size > 4096)
        return mlcc_set_error("attention config: page_size %d must be in [1, 4096]", c->page_size);
    if (!(dtype_eq(c->dtype, DT_F32) || dtype_eq(c->dtype, DT_F16)))
        return mlcc_set_error("attention config: dtype must be float32 or float16");
    if (c->kv_dtype.bits != 0 && !(dtype_eq(c->kv_dtype, DT_F32) || dtype_eq(c->kv_dtype, DT_F16)))
        return mlcc_set_error("attention config: kv_dtype must be float32 or float16");
    if (c->scale < 0 || !isfinite(c->scale))
        return mlcc_set_error("attention config: scale %g must be >= 0 and finite", c->scale);
    if (c->softcap < 0 || !isfinite(c->softcap))
        return mlcc_set_error("attention config: softcap %g must be >= 0 and finite", c->softcap);
    if (c->rope_theta < 0 || !isfinite(c->rope_theta))
        return mlcc_set_error("attention config: rope_theta %g must be >= 0 and finite",
                              c->rope_theta);
    if (c->rope_table && c->rope_theta > 0)
        return mlcc_set_error("attention config: rope from a table and from rope_theta both asked for");
    if ((c->rope_theta > 0 || c->rope_table) && c->head_dim % 2 != 0)
        return mlcc_set_error("attention config: rope needs an even head_dim, got %d", c->head_dim);
    return 0;
}

int attn_gen_init(attn_gen *g, const mlcc_attn_config *c) {
    if (gen_attn_check(c)) return -1;
    g->c = c;
    g->group = c->num_qo_heads / c->num_kv_heads;
    g->scale = c->scale > 0 ? c->scale : 1.0 / sqrt((double)c->head_dim);
    /* Lanes of the logits' vectorized loop: at most 8. Each key's logit ends in a scalar tree
     * over the lanes, so 16 lanes of 4 products (head_dim 64) spent more on the tree (15 loads
     * and adds) than on the products; 8 lanes made TinyLlama's CPU decode attention 20-25%
     * faster (BENCHMARKS.md, fifteenth session). */
    g->lanes = 1;
    for (int l = 8; l > 1; l /= 2)
        if (c->head_dim % l == 0) {
            g->lanes = l;
            break;
        }
    /* With 8 or more query heads a KV head (TinyLlama, Mistral: 8), a key's logits are one
     * vector over the heads: each product q[d][h] * k[d] takes k[d] broadcast and no tree over
     * lanes follows, which the lanes' path pays per key and head (MLCC_ATTN_HEADS_VEC=0: the
     * lanes' path everywhere). */
    g->heads_vec = g->group >= 8 && mlcc_env_int("MLCC_ATTN_HEADS_VEC", 1) != 0;
    mlcc_expr *shape[5] = {ir_size_var("num_pages"), ir_int(2), ir_int(c->num_kv_heads),
                           ir_int(c->page_size), ir_int(c->head_dim)};
    g->kv_dtype = c->kv_dtype.bits ? c->kv_dtype : c->dtype;
    g->pages = ir_buffer("pages", g->kv_dtype, shape, 5);
    return 0;
}

mlcc_buffer *attn_local(const char *name, mlcc_dtype t, int64_t n) {
    mlcc_expr *shape[1] = {ir_int(n)};
    return ir_buffer_scoped(name, t, shape, 1, "local");
}

mlcc_expr *attn_ld(mlcc_buffer *buf, mlcc_expr *i) {
    return ir_load(buf, &i, 1);
}

mlcc_stmt *attn_st(mlcc_buffer *buf, mlcc_expr *i, mlcc_expr *value) {
    return ir_store(buf, value, &i, 1);
}

mlcc_expr *attn_idx(mlcc_buffer *buf, mlcc_expr *i) {
    return ir_cast(DT_I64, attn_ld(buf, i));
}

mlcc_expr *attn_f32(mlcc_expr *e) {
    return ir_cast(DT_F32, e);
}

mlcc_stmt *attn_loop(mlcc_expr *var, mlcc_expr *extent, mlcc_for_kind kind, mlcc_stmt *body) {
    return ir_for(var, ir_int(0), extent, kind, body);
}

mlcc_stmt *attn_regs_set(mlcc_buffer *regs, mlcc_expr **values, int n) {
    mlcc_stmt **stores = ir_alloc(sizeof(mlcc_stmt *) * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        stores[i] = attn_st(regs, ir_int(i), values[i]);
    return ir_seq(stores, n);
}

static mlcc_region *whole_regions(mlcc_buffer **bufs, int n) {
    mlcc_region *r = ir_alloc(sizeof(mlcc_region) * (size_t)(n + 1));
    for (int i = 0; i < n; i++)
        r[i] = ir_region_whole(bufs[i]);
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
    attn_state st = {attn_local("m", DT_F32, g->group), attn_local("l", DT_F32, g->group),
                     attn_local("acc", DT_F32, (int64_t)g->group * g->c->head_dim)};
    return st;
}

mlcc_stmt *attn_state_alloc(const attn_state *st, mlcc_stmt *body) {
    return ir_allocate(st->m, ir_allocate(st->l, ir_allocate(st->acc, body)));
}

/* e[0] + ... + e[n - 1] as a balanced tree (a short dependency chain) */
static mlcc_expr *balanced_sum(mlcc_expr **e, int n) {
    if (n == 1) return e[0];
    return ir_add(balanced_sum(e, n / 2), balanced_sum(e + n / 2, n - n / 2));
}

/* part[0] + ... + part[n - 1] as a balanced tree */
static mlcc_expr *tree_sum(mlcc_buffer *part, int n) {
    mlcc_expr **loads = ir_alloc(sizeof(mlcc_expr *) * (size_t)n);
    for (int i = 0; i < n; i++)
        loads[i] = attn_ld(part, ir_int(i));
    return balanced_sum(loads, n);
}

/* Keys whose V rows one pass over the accumulator folds in (the accumulator is read and
 * written once per UNROLL keys). The logits buffer has a row of page_size rounded up to it
 * per head, padded with zero weights. */
enum { UNROLL = 4 };

static int logit_row(const attn_gen *g) {
    return (g->c->page_size + UNROLL - 1) / UNROLL * UNROLL;
}

/* logits[hi * row + kk] = q_hi . k_kk for the keys of the current page. Each lane of a
 * vectorized loop sums head_dim / lanes products in registers; the lanes are then summed as
 * a tree (soft-capped when configured). */
static mlcc_stmt *page_logits(const attn_gen *g, const attn_query *q, mlcc_buffer *qv,
                              mlcc_buffer *part, mlcc_buffer *logits, mlcc_expr *page,
                              mlcc_expr *first, mlcc_expr *count) {
    int D = g->c->head_dim, L = g->lanes;
    mlcc_expr *hi = ir_var("hi", DT_I64), *kk = ir_var("kk", DT_I64),
              *lane = ir_var("lane", DT_I64);
    mlcc_expr *sum = NULL;
    for (int c = 0; c < D / L; c++) {
        mlcc_expr *d = ir_add(ir_int((int64_t)c * L), lane);
        mlcc_expr *kidx[5] = {page, ir_int(0), q->kv_head, ir_add(first, kk), d};
        mlcc_expr *prod = ir_mul(attn_ld(qv, ir_add(ir_mul(hi, ir_int(D)), d)),
                                 attn_f32(ir_load(g->pages, kidx, 5)));
        sum = sum ? ir_add(sum, prod) : prod;
    }
    mlcc_stmt *lanes = attn_loop(lane, ir_int(L), FOR_VECTORIZED, attn_st(part, lane, sum));
    mlcc_expr *total = tree_sum(part, L);
    if (g->c->softcap > 0) {
        double cap = g->c->softcap;
        total = ir_mul(ir_float(DT_F32, cap),
                       ir_call1("tanh", ir_mul(total, ir_float(DT_F32, 1.0 / cap))));
    }
    mlcc_stmt *key =
        ir_seq2(lanes, attn_st(logits, ir_add(ir_mul(hi, ir_int(logit_row(g))), kk), total));
    return attn_loop(hi, ir_int(g->group), FOR_SERIAL, attn_loop(kk, count, FOR_SERIAL, key));
}

/* page_logits vectorized over the group's heads (g->heads_vec): logits[hi * row + kk] as
 * g->lanes partial sums (dims d = p mod lanes, each a chain in d's order) added as a tree, every
 * product q_scaled[d * group + hi] * k[kk][d]. */
static mlcc_stmt *page_logits_heads(const attn_gen *g, const attn_query *q, mlcc_buffer *qv,
                                    mlcc_buffer *logits, mlcc_expr *page, mlcc_expr *first,
                                    mlcc_expr *count) {
    int D = g->c->head_dim, G = g->group, P = g->lanes;
    mlcc_expr *hi = ir_var("hi", DT_I64), *kk = ir_var("kk", DT_I64);
    mlcc_expr **parts = ir_alloc(sizeof(mlcc_expr *) * (size_t)P);
    for (int p = 0; p < P; p++) {
        mlcc_expr *sum = NULL;
        for (int d = p; d < D; d += P) {
            mlcc_expr *kidx[5] = {page, ir_int(0), q->kv_head, ir_add(first, kk), ir_int(d)};
            mlcc_expr *prod = ir_mul(attn_ld(qv, ir_add(ir_int((int64_t)d * G), hi)),
                                     attn_f32(ir_load(g->pages, kidx, 5)));
            sum = sum ? ir_add(sum, prod) : prod;
        }
        parts[p] = sum;
    }
    mlcc_expr *total = balanced_sum(parts, P);
    if (g->c->softcap > 0) {
        double cap = g->c->softcap;
        total = ir_mul(ir_float(DT_F32, cap),
                       ir_call1("tanh", ir_mul(total, ir_float(DT_F32, 1.0 / cap))));
    }
    mlcc_stmt *heads = attn_loop(hi, ir_int(G), FOR_VECTORIZED,
                                 attn_st(logits, ir_add(ir_mul(hi, ir_int(logit_row(g))), kk), total));
    return attn_loop(kk, count, FOR_SERIAL, heads);
}

/* acc[hi] += sum over the page's keys of weight * v, UNROLL keys per pass over acc. Rows past
 * the last key repeat it (valid memory, finite values) with weight zero. */
static mlcc_stmt *page_accumulate(const attn_gen *g, const attn_query *q, const attn_state *st,
                                  mlcc_buffer *logits, mlcc_buffer *rows, mlcc_expr *hi,
                                  mlcc_expr *page, mlcc_expr *first, mlcc_expr *count) {
    int D = g->c->head_dim;
    mlcc_expr *kb = ir_var("kb", DT_I64), *d = ir_var("d", DT_I64);
    mlcc_expr *row_of[UNROLL];
    mlcc_stmt *set_rows[UNROLL];
    mlcc_expr *acc_at = ir_add(ir_mul(hi, ir_int(D)), d);
    mlcc_expr *sum = attn_ld(st->acc, acc_at);
    for (int u = 0; u < UNROLL; u++) {
        mlcc_expr *k = ir_add(ir_mul(kb, ir_int(UNROLL)), ir_int(u));
        set_rows[u] = attn_st(rows, ir_int(u), ir_add(first, ir_min(k, ir_sub(count, ir_int(1)))));
        row_of[u] = attn_ld(rows, ir_int(u));
        mlcc_expr *vidx[5] = {page, ir_int(1), q->kv_head, row_of[u], d};
        mlcc_expr *w = attn_ld(logits, ir_add(ir_mul(hi, ir_int(logit_row(g))), k));
        sum = ir_add(sum, ir_mul(w, attn_f32(ir_load(g->pages, vidx, 5))));
    }
    mlcc_stmt *pass = ir_seq2(ir_seq(set_rows, UNROLL), attn_loop(d, ir_int(D), FOR_VECTORIZED,
                                                                  attn_st(st->acc, acc_at, sum)));
    mlcc_expr *passes = ir_floordiv(ir_add(count, ir_int(UNROLL - 1)), ir_int(UNROLL));
    return attn_loop(kb, passes, FOR_SERIAL, pass);
}

/* Folds the current page's logits of every head of the group into the running state: one
 * rescale per page, not per key. */
static mlcc_stmt *page_update(const attn_gen *g, const attn_query *q, const attn_state *st,
                              mlcc_buffer *logits, mlcc_buffer *s, mlcc_buffer *rows,
                              mlcc_expr *page, mlcc_expr *first, mlcc_expr *count) {
    int D = g->c->head_dim, R = logit_row(g);
    mlcc_expr *hi = ir_var("hi", DT_I64);
    mlcc_expr *k1 = ir_var("kk", DT_I64), *k2 = ir_var("kk", DT_I64), *k3 = ir_var("kk", DT_I64),
              *k4 = ir_var("kk", DT_I64);
    mlcc_expr *d1 = ir_var("d", DT_I64);
    mlcc_expr *m = attn_ld(st->m, hi), *l = attn_ld(st->l, hi);
    mlcc_expr *sv[3];
    for (int i = 0; i < 3; i++)
        sv[i] = attn_ld(s, ir_int(i));
    mlcc_expr *lg1 = ir_add(ir_mul(hi, ir_int(R)), k1), *lg2 = ir_add(ir_mul(hi, ir_int(R)), k2);
    mlcc_expr *acc1 = ir_add(ir_mul(hi, ir_int(D)), d1);
    /* the page's weights in one vectorized loop (the exponentials), then their total in key
     * order (the same sums as one loop doing both) */
    mlcc_stmt *weigh = attn_loop(k2, count, FOR_VECTORIZED,
                                 attn_st(logits, lg2, ir_call1("exp", ir_sub(attn_ld(logits, lg2), sv[0]))));
    mlcc_expr *lg4 = ir_add(ir_mul(hi, ir_int(R)), k4);
    mlcc_stmt *total = attn_loop(k4, count, FOR_SERIAL, attn_st(s, ir_int(2), ir_add(sv[2], attn_ld(logits, lg4))));
    mlcc_stmt *pad =
        ir_for(k3, count, ir_sub(ir_int(R), count), FOR_SERIAL,
               attn_st(logits, ir_add(ir_mul(hi, ir_int(R)), k3), ir_float(DT_F32, 0)));
    /* s[0] the new max, s[1] the rescale of the old state, s[2] the page's total weight */
    mlcc_stmt *steps[11] = {
        attn_st(s, ir_int(0), m),
        attn_loop(k1, count, FOR_SERIAL,
                  attn_st(s, ir_int(0), ir_max(sv[0], attn_ld(logits, lg1)))),
        attn_st(s, ir_int(1), ir_call1("exp", ir_sub(m, sv[0]))),
        attn_st(s, ir_int(2), ir_float(DT_F32, 0)),
        weigh,
        total,
        pad,
        attn_st(st->l, hi, ir_add(ir_mul(l, sv[1]), sv[2])),
        attn_loop(d1, ir_int(D), FOR_VECTORIZED,
                  attn_st(st->acc, acc1, ir_mul(attn_ld(st->acc, acc1), sv[1]))),
        page_accumulate(g, q, st, logits, rows, hi, page, first, count),
        attn_st(st->m, hi, sv[0])};
    return attn_loop(hi, ir_int(g->group), FOR_SERIAL, ir_seq(steps, 11));
}

mlcc_stmt *attn_online_softmax(const attn_gen *g, const attn_query *q, mlcc_expr *start,
                               mlcc_expr *end, const attn_state *st) {
    int D = g->c->head_dim, PS = g->c->page_size, G = g->group;
    mlcc_buffer *qv = attn_local("q_scaled", DT_F32, (int64_t)G * D);
    mlcc_buffer *part = attn_local("partial", DT_F32, g->lanes);
    mlcc_buffer *logits = attn_local("logits", DT_F32, (int64_t)G * logit_row(g));
    mlcc_buffer *rows = attn_local("rows", DT_I64, UNROLL);
    mlcc_buffer *s = attn_local("s", DT_F32, 3);
    /* kr[0] first page (index in the sequence), kr[1] pages touched, kr[2] page id, kr[3] first
     * key's offset in it, kr[4] keys in it */
    mlcc_buffer *kr = attn_local("kr", DT_I64, 5);
    mlcc_expr *krv[5];
    for (int i = 0; i < 5; i++)
        krv[i] = attn_ld(kr, ir_int(i));

    /* init: the group's queries scaled once, an empty state */
    mlcc_expr *hi = ir_var("hi", DT_I64), *d0 = ir_var("d", DT_I64);
    mlcc_expr *qidx[3] = {q->row, ir_add(ir_mul(q->kv_head, ir_int(G)), hi), d0};
    mlcc_expr *flat = ir_add(ir_mul(hi, ir_int(D)), d0);
    mlcc_expr *q_at = g->heads_vec ? ir_add(ir_mul(d0, ir_int(G)), hi) : flat;
    mlcc_stmt *init_row[2] = {
        attn_st(qv, q_at, ir_mul(attn_f32(ir_load(q->q, qidx, 3)), ir_float(DT_F32, g->scale))),
        attn_st(st->acc, flat, ir_float(DT_F32, 0))};
    mlcc_stmt *init_head[3] = {attn_loop(d0, ir_int(D), FOR_VECTORIZED, ir_seq(init_row, 2)),
                               attn_st(st->m, hi, ir_float(DT_F32, -INFINITY)),
                               attn_st(st->l, hi, ir_float(DT_F32, 0))};
    mlcc_expr *npages = ir_select(
        ir_gt(end, start),
        ir_add(ir_sub(ir_floordiv(ir_sub(end, ir_int(1)), ir_int(PS)), krv[0]), ir_int(1)),
        ir_int(0));
    mlcc_stmt *init[3] = {attn_loop(hi, ir_int(G), FOR_SERIAL, ir_seq(init_head, 3)),
                          attn_st(kr, ir_int(0), ir_floordiv(start, ir_int(PS))),
                          attn_st(kr, ir_int(1), npages)};

    /* one page at a time: its id through the page table, the range of keys used in it */
    mlcc_expr *pi = ir_var("pi", DT_I64);
    mlcc_expr *p = ir_add(krv[0], pi), *p_first = ir_mul(p, ir_int(PS));
    mlcc_expr *regs[3] = {
        attn_idx(q->page_indices, ir_add(attn_idx(q->page_indptr, q->seq), p)),
        ir_sub(ir_max(start, p_first), p_first),
        ir_sub(ir_sub(ir_min(end, ir_add(p_first, ir_int(PS))), p_first), krv[3])};
    mlcc_stmt *per_page[5] = {attn_st(kr, ir_int(2), regs[0]), attn_st(kr, ir_int(3), regs[1]),
                              attn_st(kr, ir_int(4), regs[2]),
                              g->heads_vec ? page_logits_heads(g, q, qv, logits, krv[2], krv[3], krv[4])
                                           : page_logits(g, q, qv, part, logits, krv[2], krv[3], krv[4]),
                              page_update(g, q, st, logits, s, rows, krv[2], krv[3], krv[4])};
    mlcc_stmt *pages = attn_loop(pi, krv[1], FOR_SERIAL, ir_seq(per_page, 5));

    mlcc_stmt *body = ir_seq2(ir_seq(init, 3), pages);
    body = ir_allocate(logits, ir_allocate(rows, ir_allocate(s, ir_allocate(kr, body))));
    return ir_allocate(qv, g->heads_vec ? body : ir_allocate(part, body));
}

int gen_attn_kernels(const mlcc_attn_config *c, mlcc_prim_func *out[3]) {
    out[0] = gen_kv_append(c);
    out[1] = out[0] ? gen_attn_prefill(c) : NULL;
    out[2] = out[1] ? gen_attn_decode(c) : NULL;
    return out[2] ? 0 : -1;
}
