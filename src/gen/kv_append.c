/* kv_append.c - the kernel that writes the new tokens' K and V into their pages (see
 * attention.h), with rope applied to K on the way in when the config asks for it. */
#include "gen/attn_common.h"

#include <math.h>

/* K[t, h, d] rotated by positions[t] (NeoX layout: d pairs with d +- D/2). Angles and their
 * sines are computed in float64: positions reach the context length. */
static mlcc_expr *rope_k(const mlcc_attn_config *c, mlcc_buffer *k, mlcc_buffer *positions,
                         mlcc_expr *t, mlcc_expr *h, mlcc_expr *d) {
    int D = c->head_dim, half = D / 2;
    mlcc_expr *idx[3] = {t, h, d};
    mlcc_expr *x = attn_f32(ir_load(k, idx, 3));
    if (c->rope_theta <= 0) return x;
    mlcc_expr *pidx[3] = {
        t, h, ir_select(ir_lt(d, ir_int(half)), ir_add(d, ir_int(half)), ir_sub(d, ir_int(half)))};
    mlcc_expr *partner = attn_f32(ir_load(k, pidx, 3));
    mlcc_expr *rotated =
        ir_select(ir_lt(d, ir_int(half)), ir_sub(ir_float(DT_F32, 0), partner), partner);
    /* inv_freq = theta^(-2 (d mod half) / D) = exp(-(2 (d mod half) / D) ln theta) */
    mlcc_expr *pair = ir_cast(DT_F64, ir_floormod(d, ir_int(half)));
    mlcc_expr *inv_freq =
        ir_call1("exp", ir_mul(pair, ir_float(DT_F64, -2.0 * log(c->rope_theta) / D)));
    mlcc_expr *angle = ir_mul(ir_cast(DT_F64, attn_ld(positions, t)), inv_freq);
    mlcc_expr *cosv = attn_f32(ir_call1("cos", angle)), *sinv = attn_f32(ir_call1("sin", angle));
    return ir_add(ir_mul(x, cosv), ir_mul(rotated, sinv));
}

/* K[t, h, d] rotated with the table's cos / sin of token t, as nn.rope(k, table) computes it
 * (op/rope.c: the same float64 expression, rounded to k's dtype), so the fused append stores
 * exactly what the graph's rope gave before. */
static mlcc_expr *rope_k_table(const mlcc_attn_config *c, mlcc_buffer *k, mlcc_buffer *table, mlcc_expr *t, mlcc_expr *h,
                               mlcc_expr *d) {
    int D = c->head_dim, half = D / 2;
    mlcc_expr *k_pair = ir_floormod(d, ir_int(half));
    mlcc_expr *x = ir_cast(DT_F64, ir_load(k, (mlcc_expr *[]){t, h, d}, 3));
    mlcc_expr *partner = ir_cast(DT_F64, ir_load(k, (mlcc_expr *[]){t, h, ir_floormod(ir_add(d, ir_int(half)), ir_int(D))}, 3));
    mlcc_expr *sign = ir_select(ir_lt(d, ir_int(half)), ir_float(DT_F64, -1.0), ir_float(DT_F64, 1.0));
    mlcc_expr *cosv = ir_load(table, (mlcc_expr *[]){t, ir_int(0), k_pair}, 3);
    mlcc_expr *sinv = ir_load(table, (mlcc_expr *[]){t, ir_int(1), k_pair}, 3);
    return ir_cast(c->dtype, ir_add(ir_mul(x, cosv), ir_mul(ir_mul(sign, partner), sinv)));
}

mlcc_prim_func *gen_kv_append(const mlcc_attn_config *c) {
    attn_gen g;
    if (attn_gen_init(&g, c)) return NULL;
    int D = c->head_dim, KVH = c->num_kv_heads, PS = c->page_size;
    mlcc_expr *T = ir_size_var("num_tokens");
    mlcc_buffer *k = ir_buffer_v("k", c->dtype, T, ir_int(KVH), ir_int(D), NULL);
    mlcc_buffer *v = ir_buffer_v("v", c->dtype, T, ir_int(KVH), ir_int(D), NULL);
    mlcc_buffer *slots = ir_buffer_v("slots", DT_I32, T, NULL);
    mlcc_buffer *positions = ir_buffer_v("positions", DT_I32, T, NULL);
    mlcc_buffer *table = c->rope_table ? ir_buffer_v("rope_table", DT_F64, T, ir_int(2), ir_int(D / 2), NULL) : NULL;

    mlcc_expr *th = ir_var("th", DT_I64), *d = ir_var("d", DT_I64);
    /* r[0] token, r[1] head, r[2] slot, r[3] page, r[4] offset in the page */
    mlcc_buffer *r = attn_local("r", DT_I64, 5);
    mlcc_expr *rv[5];
    for (int i = 0; i < 5; i++)
        rv[i] = attn_ld(r, ir_int(i));
    mlcc_expr *t = rv[0], *h = rv[1], *slot = rv[2], *page = rv[3], *offset = rv[4];
    mlcc_expr *regs[5] = {ir_floordiv(th, ir_int(KVH)), ir_floormod(th, ir_int(KVH)),
                          attn_idx(slots, rv[0]), ir_floordiv(rv[2], ir_int(PS)),
                          ir_floormod(rv[2], ir_int(PS))};
    mlcc_expr *kidx[5] = {page, ir_int(0), h, offset, d},
              *vidx[5] = {page, ir_int(1), h, offset, d};
    mlcc_expr *src[3] = {t, h, d};
    mlcc_stmt *stores[2] = {
        ir_store(g.pages, ir_cast(g.kv_dtype, table ? rope_k_table(c, k, table, t, h, d) : rope_k(c, k, positions, t, h, d)),
                 kidx, 5),
        ir_store(g.pages, ir_cast(g.kv_dtype, ir_load(v, src, 3)), vidx, 5)};
    mlcc_stmt *copy = attn_loop(d, ir_int(D), FOR_VECTORIZED, ir_seq(stores, 2));
    mlcc_stmt *body = ir_allocate(
        r, ir_seq2(attn_regs_set(r, regs, 5), ir_if(ir_ge(slot, ir_int(0)), copy, NULL)));
    mlcc_buffer *reads[5] = {k, v, slots, positions, table};
    body = attn_opaque_block("append", body, reads, table ? 5 : 4, &g.pages, 1);
    body = attn_loop(th, ir_mul(T, ir_int(KVH)), FOR_PARALLEL, body);

    mlcc_buffer *params[6] = {g.pages, k, v, slots, positions, table};
    mlcc_prim_func *f = ir_prim_func("kv_append", params, table ? 6 : 5, body);
    f->origin = "gen: paged kv append";
    return f;
}
