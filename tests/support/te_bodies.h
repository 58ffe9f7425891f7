/* te_bodies.h - te compute bodies the kernel tests build their functions from (test_codegen_c,
 * test_codegen_cuda, test_gpu_row): elementwise, broadcast, the pieces of softmax and RMSNorm, a
 * matmul. A body reads its tensors from the test_te given to te_compute / te_reduce as ctx, so
 * a test sets the fields it needs before each call (the body runs inside that call). */
#ifndef MLCC_TEST_TE_BODIES_H
#define MLCC_TEST_TE_BODIES_H

#include "te/te.h"

typedef struct test_te {
    te_tensor *x, *y, *w; /* inputs: x [rows, cols]; y like x, or [K, cols] for the matmul; w [cols] */
    te_tensor *rowmax;    /* [rows]: what exp_minus_max subtracts */
    te_tensor *exps;      /* [rows, cols]: exp_minus_max's values, for the softmax's sum and division */
    te_tensor *rowsum;    /* [rows]: what softmax_div divides by */
    te_tensor *sumsq;     /* [rows]: the sum of squares RMSNorm divides by cols */
    mlcc_expr *cols;      /* the row length */
} test_te;

mlcc_expr *test_te_add_mul(mlcc_expr **i, void *ctx);       /* x[i, j] * y[i, j] + exp(x[i, j]) */
mlcc_expr *test_te_sub_w(mlcc_expr **i, void *ctx);         /* x[i, j] - w[j] */
mlcc_expr *test_te_x(mlcc_expr **i, void *ctx);             /* x[i, j] (a row max's or sum's operand) */
mlcc_expr *test_te_exp_minus_max(mlcc_expr **i, void *ctx); /* exp(x[i, j] - rowmax[i]) */
mlcc_expr *test_te_exps(mlcc_expr **i, void *ctx);          /* exps[i, j] */
mlcc_expr *test_te_softmax_div(mlcc_expr **i, void *ctx);   /* exps[i, j] / rowsum[i] */
mlcc_expr *test_te_square(mlcc_expr **i, void *ctx);        /* x[i, j]^2 */
mlcc_expr *test_te_rms(mlcc_expr **i, void *ctx);           /* x[i, j] rsqrt(sumsq[i] / cols + 1e-5) w[j] */
mlcc_expr *test_te_matmul(mlcc_expr **i, void *ctx);        /* x[i, k] y[k, j] (i = {i, j, k}) */

#endif
