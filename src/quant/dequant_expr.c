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
