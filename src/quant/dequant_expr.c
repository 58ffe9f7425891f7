/* dequant_expr.c - see dequant_expr.h. */
#include "quant/dequant_expr.h"

/* Value k of word (k in [lo, hi)): a select tree over k whose leaves divide by constants
 * (word // 2^(bits*k) % 2^bits), which C compilers turn into shifts and masks. */
static mlcc_expr *extract(mlcc_expr *word, mlcc_expr *k, int bits, int lo, int hi) {
    if (hi - lo == 1) return ir_floormod(ir_floordiv(word, ir_int((int64_t)1 << (bits * lo))), ir_int((int64_t)1 << bits));
    int mid = (lo + hi) / 2;
    return ir_select(ir_lt(k, ir_int(mid)), extract(word, k, bits, lo, mid), extract(word, k, bits, mid, hi));
}

static mlcc_expr *code(mlcc_expr *word, mlcc_expr *j, int bits) {
    int per = 32 / bits;
    return extract(ir_cast(DT_I64, word), ir_floormod(j, ir_int(per)), bits, 0, per);
}

mlcc_expr *quant_dequant_value(mlcc_expr *word, mlcc_expr *j, mlcc_expr *scale, int bits, int zero_point) {
    return ir_mul(ir_cast(DT_F32, ir_sub(code(word, j, bits), ir_int(zero_point))), ir_cast(DT_F32, scale));
}

mlcc_expr *quant_dequant_value_zero(mlcc_expr *word, mlcc_expr *j, mlcc_expr *scale, mlcc_expr *zero, int bits) {
    return ir_mul(ir_sub(ir_cast(DT_F32, code(word, j, bits)), ir_cast(DT_F32, zero)), ir_cast(DT_F32, scale));
}

mlcc_expr *quant_group_zero_col(mlcc_expr *j, int group, int which) {
    mlcc_expr *col = ir_mul(ir_floordiv(j, ir_int(group)), ir_int(2));
    return which ? ir_add(col, ir_int(which)) : col;
}

/* ---- k-quant super-blocks (ggml_q4_k, ggml_q5_k, ggml_q6_k: quant/scheme.h) ---- */

typedef struct kq_ctx {
    quant_kquant_load load;
    void *ctx;
} kq_ctx;

static mlcc_expr *c(int64_t v) {
    return ir_int(v);
}

/* Byte b (an index into the row's bytes) of the packed row: word b // 4, byte b % 4 of it. */
static mlcc_expr *byte_at(kq_ctx *k, mlcc_expr *b) {
    mlcc_expr *word = ir_cast(DT_I64, k->load(k->ctx, 0, ir_floordiv(b, c(4))));
    return extract(word, ir_floormod(b, c(4)), 8, 0, 4);
}

static mlcc_expr *f32(mlcc_expr *e) {
    return ir_cast(DT_F32, e);
}

/* Q4_K / Q5_K: value j of super-block b = j // 256 (Q4_K 140 bytes: scales[12], qs[128]; Q5_K
 * 172 bytes: scales[12], qh[32], qs[128]): r = j % 256 lies in pair p = r // 64 of sub-blocks,
 * half hi = r % 64 // 32 (low or high nibbles of the pair's 32 bytes), element e = r % 32;
 * sub-block is = 2p + hi has a 6-bit scale and min (ggml's get_scale_min_k4); Q5_K's fifth bit
 * is bit `is` of qh[e]; the value is (d * sc) * q - dmin * m. Every byte index stays inside the
 * block for either arm of a select (both arms are evaluated). */
static mlcc_expr *q45_k_value(kq_ctx *k, mlcc_expr *j, int five) {
    mlcc_expr *b = ir_floordiv(j, c(256)), *r = ir_floormod(j, c(256));
    mlcc_expr *p = ir_floordiv(r, c(64)), *hi = ir_floordiv(ir_floormod(r, c(64)), c(32)), *e = ir_floormod(r, c(32));
    mlcc_expr *base = ir_mul(b, c(five ? 172 : 140));
    mlcc_expr *qb = byte_at(k, ir_add(ir_add(base, c(five ? 44 : 12)), ir_add(ir_mul(p, c(32)), e)));
    mlcc_expr *q = ir_select(ir_lt(hi, c(1)), ir_floormod(qb, c(16)), ir_floordiv(qb, c(16)));
    mlcc_expr *is = ir_add(ir_mul(p, c(2)), hi);
    if (five) q = ir_add(q, ir_mul(extract(byte_at(k, ir_add(base, ir_add(c(12), e))), is, 1, 0, 8), c(16)));
    mlcc_expr *lo_byte = byte_at(k, ir_add(base, ir_floormod(is, c(4))));           /* scales[is % 4] */
    mlcc_expr *hi_byte = byte_at(k, ir_add(base, ir_add(is, c(4))));                /* scales[is + 4] */
    mlcc_expr *mid_byte = byte_at(k, ir_add(base, ir_add(ir_floormod(is, c(4)), c(4)))); /* scales[4 + is % 4] */
    mlcc_expr *low = ir_lt(is, c(4));
    mlcc_expr *sc = ir_select(low, ir_floormod(lo_byte, c(64)),
                              ir_add(ir_floormod(hi_byte, c(16)), ir_mul(ir_floordiv(lo_byte, c(64)), c(16))));
    mlcc_expr *m = ir_select(low, ir_floormod(hi_byte, c(64)),
                             ir_add(ir_floordiv(hi_byte, c(16)), ir_mul(ir_floordiv(mid_byte, c(64)), c(16))));
    mlcc_expr *d = f32(k->load(k->ctx, 1, ir_mul(b, c(2))));
    mlcc_expr *dmin = f32(k->load(k->ctx, 1, ir_add(ir_mul(b, c(2)), c(1))));
    return ir_sub(ir_mul(ir_mul(d, f32(sc)), f32(q)), ir_mul(dmin, f32(m)));
}

/* Q6_K: value j of super-block b (208 bytes: ql[128], qh[64], scales[16]): r = j % 256 lies in
 * half h = r // 128, quarter qq = r % 128 // 32, lane l = r % 32; its low 4 bits are a nibble of
 * ql[64h + 32 (qq % 2) + l] (high nibble for qq >= 2), its top 2 bits bits 2qq.. of
 * qh[32h + l], its int8 scale scales[8h + l // 16 + 2qq]; the value is (d * sc) * (q - 32). */
static mlcc_expr *q6_k_value(kq_ctx *k, mlcc_expr *j) {
    mlcc_expr *b = ir_floordiv(j, c(256)), *r = ir_floormod(j, c(256));
    mlcc_expr *h = ir_floordiv(r, c(128)), *t = ir_floormod(r, c(128));
    mlcc_expr *qq = ir_floordiv(t, c(32)), *l = ir_floormod(t, c(32));
    mlcc_expr *base = ir_mul(b, c(208));
    mlcc_expr *qlb = byte_at(k, ir_add(base, ir_add(ir_add(ir_mul(h, c(64)), ir_mul(ir_floormod(qq, c(2)), c(32))), l)));
    mlcc_expr *lo4 = ir_select(ir_lt(qq, c(2)), ir_floormod(qlb, c(16)), ir_floordiv(qlb, c(16)));
    mlcc_expr *qhb = byte_at(k, ir_add(base, ir_add(c(128), ir_add(ir_mul(h, c(32)), l))));
    mlcc_expr *hi2 = extract(qhb, qq, 2, 0, 4);
    mlcc_expr *q = ir_sub(ir_add(lo4, ir_mul(hi2, c(16))), c(32));
    mlcc_expr *scb = byte_at(k, ir_add(base, ir_add(c(192), ir_add(ir_add(ir_mul(h, c(8)), ir_floordiv(l, c(16))), ir_mul(qq, c(2))))));
    mlcc_expr *sc = ir_select(ir_lt(scb, c(128)), scb, ir_sub(scb, c(256)));
    mlcc_expr *d = f32(k->load(k->ctx, 1, b));
    return ir_mul(ir_mul(d, f32(sc)), f32(q));
}

mlcc_expr *quant_kquant_value(int ggml_type, mlcc_expr *j, quant_kquant_load load, void *ctx) {
    kq_ctx k = {load, ctx};
    if (ggml_type == 12 || ggml_type == 13) return q45_k_value(&k, j, ggml_type == 13);
    if (ggml_type == 14) return q6_k_value(&k, j);
    return NULL;
}
