/* te_bodies.c - te compute bodies the kernel tests share (see te_bodies.h). */
#include "te_bodies.h"

mlcc_expr *test_te_add_mul(mlcc_expr **i, void *ctx) {
    const test_te *t = ctx;
    mlcc_expr *x = te_load2(t->x, i[0], i[1]), *y = te_load2(t->y, i[0], i[1]);
    return ir_add(ir_mul(x, y), ir_call1("exp", x));
}

mlcc_expr *test_te_sub_w(mlcc_expr **i, void *ctx) {
    const test_te *t = ctx;
    return ir_sub(te_load2(t->x, i[0], i[1]), te_load1(t->w, i[1]));
}

mlcc_expr *test_te_x(mlcc_expr **i, void *ctx) {
    const test_te *t = ctx;
    return te_load2(t->x, i[0], i[1]);
}

mlcc_expr *test_te_exp_minus_max(mlcc_expr **i, void *ctx) {
    const test_te *t = ctx;
    return ir_call1("exp", ir_sub(te_load2(t->x, i[0], i[1]), te_load1(t->rowmax, i[0])));
}

mlcc_expr *test_te_exps(mlcc_expr **i, void *ctx) {
    const test_te *t = ctx;
    return te_load2(t->exps, i[0], i[1]);
}

mlcc_expr *test_te_softmax_div(mlcc_expr **i, void *ctx) {
    const test_te *t = ctx;
    return ir_div(te_load2(t->exps, i[0], i[1]), te_load1(t->rowsum, i[0]));
}

mlcc_expr *test_te_square(mlcc_expr **i, void *ctx) {
    const test_te *t = ctx;
    mlcc_expr *x = te_load2(t->x, i[0], i[1]);
    return ir_mul(x, x);
}

mlcc_expr *test_te_rms(mlcc_expr **i, void *ctx) {
    const test_te *t = ctx;
    mlcc_expr *mean = ir_div(te_load1(t->sumsq, i[0]), ir_cast(DT_F32, t->cols));
    mlcc_expr *scale = ir_call1("rsqrt", ir_add(mean, ir_float(DT_F32, 1e-5)));
    return ir_mul(ir_mul(te_load2(t->x, i[0], i[1]), scale), te_load1(t->w, i[1]));
}

mlcc_expr *test_te_matmul(mlcc_expr **i, void *ctx) {
    const test_te *t = ctx;
    return ir_mul(te_load2(t->x, i[0], i[2]), te_load2(t->y, i[2], i[1]));
}
