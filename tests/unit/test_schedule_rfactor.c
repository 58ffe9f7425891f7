/* test_schedule_rfactor.c - rfactor: golden printed result, numerical equality with the
 * unscheduled kernel (interpreter with parallel loops run backwards, and compiled C, symbolic
 * n), replay of the trace; sums, max, a parallel reduction over the rfactored loop, factor axes
 * at both ends; rejection of illegal requests with the reason and no change. */
#include "sched_check.h"
#include "sched_jit.h"
#include "te/te.h"
#include "transform/pass.h"

static void check_numbers(const char *what, const mlcc_prim_func *f, mlcc_schedule *s) {
    CHECK_MSG(compare_at_sizes(f, sch_func(s), 3) == 0, "%s: %s", what, mlcc_last_error());
    CHECK_MSG(replay_matches(f, s) == 0, "%s: %s", what, mlcc_last_error());
    CHECK_MSG(jit_compare_at_sizes(f, sch_func(s), 5) == 0, "%s: %s", what, mlcc_last_error());
}

static void test_rfactor_inner(void) {
    /* S[i] = sum_k A[i, k], k = 10 split by 4 (a tail): partial sums per k_1 */
    mlcc_prim_func *f = kernel_build(K_ROWSUM);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *k[2];
    sch_get_loops(s, sch_get_block(s, "S"), &l);
    CHECK_EQ_INT(sch_split(s, l[1], (int64_t[]){SCH_INFER, 4}, 2, k), 0);
    const char *rf = sch_rfactor(s, k[1], 0);
    CHECK(rf && strcmp(rf, "S_rf") == 0);
    check_schedule("sched_rfactor", f, s);
    CHECK_MSG(jit_compare_at_sizes(f, sch_func(s), 7) == 0, "%s", mlcc_last_error());
    sch_free(s);
}

static void test_rfactor_parallel(void) {
    /* two partial sums over halves of k, run in parallel, then combined */
    mlcc_prim_func *f = kernel_build(K_ROWSUM);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *k[2];
    sch_get_loops(s, sch_get_block(s, "S"), &l);
    CHECK_EQ_INT(sch_split(s, l[1], (int64_t[]){2, SCH_INFER}, 2, k), 0);
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){k[0], l[0]}, 2), 0);
    CHECK_REJECTED(s, sch_parallel(s, k[0]), "reduction");
    CHECK(sch_rfactor(s, k[0], 1) != NULL);
    CHECK_EQ_INT(sch_parallel(s, k[0]), 0);
    char *text = tir_func_to_string(sch_func(s));
    CHECK_MSG(strstr(text, "T.parallel(2)") && strstr(text, "S_rf[v_i, vk_0]"), "%s", text);
    free(text);
    check_numbers("rfactor parallel", f, s);
    /* the write-back is a plain reduction block that can be scheduled further */
    mlcc_expr **w;
    CHECK_EQ_INT(sch_get_loops(s, sch_get_block(s, "S"), &w), 2);
    CHECK_EQ_INT(sch_parallel(s, w[0]), 0);
    check_numbers("rfactor parallel write-back", f, s);
    sch_free(s);
}

static void test_rfactor_matmul_and_max(void) {
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *k[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_split(s, l[2], (int64_t[]){SCH_INFER, 3}, 2, k), 0);
    CHECK(sch_rfactor(s, k[0], 2) != NULL); /* C_rf[i, j, k_0] */
    char *text = tir_func_to_string(sch_func(s));
    CHECK_MSG(strstr(text, "C_rf = T.alloc_buffer((n, 6, 3)"), "%s", text);
    free(text);
    check_numbers("rfactor matmul", f, s);
    sch_free(s);

    /* the row max of softmax: identity -inf, combiner max */
    f = kernel_build(K_SOFTMAX);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "M"), &l);
    CHECK_EQ_INT(sch_split(s, l[1], (int64_t[]){SCH_INFER, 4}, 2, k), 0);
    CHECK(sch_rfactor(s, k[1], 0) != NULL);
    check_numbers("rfactor max", f, s);
    sch_free(s);
}

static void test_rfactor_errors(void) {
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l;
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_REJECTED(s, sch_rfactor(s, l[0], 0) ? 0 : -1, "loop 'i' is bound to the spatial iter var 'v_i' of block 'C'");
    CHECK_REJECTED(s, sch_rfactor(s, l[2], 3) ? 0 : -1, "factor_axis 3 is out of range for the 2 dimensions of 'C'");
    CHECK(sch_decompose_reduction(s, "C", l[0]) != NULL);
    CHECK_REJECTED(s, sch_rfactor(s, l[2], 0) ? 0 : -1, "block 'C' is not a reduction whose body and init are one store");
    sch_free(s);

    /* k = 10 split 3 x 5: the last k_0 runs no step (15 > 10), so its partial sum would never
     * be initialized; k_1 is fine (each k_1 has the step k_0 = 0) */
    f = kernel_build(K_ROWSUM);
    s = sch_create(f);
    mlcc_expr *k[2];
    sch_get_loops(s, sch_get_block(s, "S"), &l);
    CHECK_EQ_INT(sch_split(s, l[1], (int64_t[]){3, 5}, 2, k), 0);
    CHECK_REJECTED(s, sch_rfactor(s, k[0], 0) ? 0 : -1, "some iterations of loop 'k_0' run no step of the reduction");
    CHECK(sch_rfactor(s, k[1], 0) != NULL);
    check_numbers("rfactor k_1 of 3 x 5", f, s);
    sch_free(s);

    f = kernel_build(K_ELEMWISE);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "B"), &l);
    CHECK_REJECTED(s, sch_rfactor(s, l[1], 0) ? 0 : -1, "block 'B' is not a reduction");
    sch_free(s);

    /* S's reduction reads E, computed under the same row loop after compute_at */
    f = kernel_build(K_SOFTMAX);
    s = sch_create(f);
    mlcc_expr **lo;
    sch_get_loops(s, sch_get_block(s, "S"), &l);
    sch_get_loops(s, sch_get_block(s, "O"), &lo);
    CHECK_EQ_INT(sch_reverse_compute_at(s, "O", l[0]), 0);
    CHECK_REJECTED(s, sch_rfactor(s, l[1], 0) ? 0 : -1, "block 'O' reads 'S' in the same loop nest as block 'S'");
    sch_free(s);
}

/* default_schedule's row-reduction rule: Y[i, k] = X[i, k] * S[i] with S the sum of squares
 * (rms_norm's shape), or the max, of a row of K values. */
static te_tensor *X_, *S_;
static int square_not_max;

static mlcc_expr *row_body(mlcc_expr **i, void *c) {
    (void)c;
    mlcc_expr *x = te_load2(X_, i[0], i[1]);
    return square_not_max ? ir_mul(x, te_load2(X_, i[0], i[1])) : x;
}

static mlcc_expr *scale_body(mlcc_expr **i, void *c) {
    (void)c;
    return ir_mul(te_load2(X_, i[0], i[1]), te_load1(S_, i[0]));
}

static mlcc_prim_func *build_row_reduction(const char *name, int64_t K, int square) {
    mlcc_expr *n = ir_size_var("n");
    square_not_max = square;
    X_ = te_placeholder("X", DT_F32, (mlcc_expr *[]){n, ir_int(K)}, 2);
    te_set_axis_names((const char *[]){"i", "k", NULL});
    S_ = te_reduce("S", DT_F32, (mlcc_expr *[]){n}, 1, square ? TE_SUM : TE_MAX, (mlcc_expr *[]){ir_int(K)}, 1, row_body, NULL);
    te_set_axis_names((const char *[]){"i", "k", NULL});
    te_tensor *y = te_compute("Y", DT_F32, (mlcc_expr *[]){n, ir_int(K)}, 2, scale_body, NULL);
    return te_create_prim_func(name, (te_tensor *[]){X_, y}, 2);
}

static void test_pass_row_reduction(void) {
    static const int64_t sizes[] = {1, 5, 16, 33};
    mlcc_prim_func *sum = build_row_reduction("row_sum", 2048, 1), *max = build_row_reduction("row_max", 1024, 0),
                   *odd = build_row_reduction("row_odd", 1000, 1);
    mlcc_ir_module *m = irmod_new();
    irmod_add_prim(m, "row_sum", sum);
    irmod_add_prim(m, "row_max", max);
    irmod_add_prim(m, "row_odd", odd);
    mlcc_ir_module *out = pass_default_schedule(m, NULL);
    for (int k = 0; k < 2; k++) {
        const mlcc_prim_func *ref = k ? max : sum, *got = irmod_get_prim(out, k ? "row_max" : "row_sum");
        char *text = tir_func_to_string(got);
        /* 16 partial results a row, filled by a vectorized loop, then reduced */
        CHECK_MSG(strstr(text, "T.block(\"S_rf\")") && strstr(text, "for k_1 in T.vectorized(16)") && strstr(text, "T.writes(S_rf[v_i, vk_1])"), "%s", text);
        free(text);
        /* the sum adds in another order (within 1e-5); the max is exact */
        CHECK_MSG(jit_compare_tol(ref, got, sizes, 4, 23 + (uint64_t)k, k ? 0 : 1e-5) == 0, "%s: %s", ref->name, mlcc_last_error());
    }
    /* a row that is not a multiple of 16 values keeps the plain reduction */
    char *text = tir_func_to_string(irmod_get_prim(out, "row_odd"));
    CHECK_MSG(!strstr(text, "S_rf"), "%s", text);
    free(text);
}

/* default_schedule's parallel rule on rope's shape: Y[i, h, d] = X[i, h, d] * C[i, d % 32] +
 * sign(d) * X[i, h, (d + 32) % 64] * C[i, d % 32 + 32], sign -1 below 32. The last loop (64) is
 * split by the modulus 32, the inner 32 vectorized; the halves' indices are affine there. */
static te_tensor *RX_, *RC_;

static mlcc_expr *rope_body(mlcc_expr **i, void *c) {
    (void)c;
    mlcc_expr *half = ir_floormod(i[2], ir_int(32));
    mlcc_expr *rot = te_load3(RX_, i[0], i[1], ir_floormod(ir_add(i[2], ir_int(32)), ir_int(64)));
    mlcc_expr *sign = ir_select(ir_lt(i[2], ir_int(32)), ir_float(DT_F32, -1.0), ir_float(DT_F32, 1.0));
    return ir_add(ir_mul(te_load3(RX_, i[0], i[1], i[2]), te_load2(RC_, i[0], half)),
                  ir_mul(ir_mul(sign, rot), te_load2(RC_, i[0], ir_add(half, ir_int(32)))));
}

static void test_pass_modulus_split(void) {
    mlcc_expr *n = ir_size_var("n");
    RX_ = te_placeholder("X", DT_F32, (mlcc_expr *[]){n, ir_int(4), ir_int(64)}, 3);
    RC_ = te_placeholder("C", DT_F32, (mlcc_expr *[]){n, ir_int(64)}, 2);
    te_set_axis_names((const char *[]){"i", "h", "d", NULL});
    te_tensor *y = te_compute("Y", DT_F32, (mlcc_expr *[]){n, ir_int(4), ir_int(64)}, 3, rope_body, NULL);
    mlcc_prim_func *rope = te_create_prim_func("rope", (te_tensor *[]){RX_, RC_, y}, 3);
    mlcc_ir_module *m = irmod_new();
    irmod_add_prim(m, "rope", rope);
    mlcc_ir_module *out = pass_default_schedule(m, NULL);
    const mlcc_prim_func *got = irmod_get_prim(out, "rope");
    char *text = tir_func_to_string(got);
    CHECK_MSG(strstr(text, "T.vectorized(32)") && strstr(text, "in range(2)"), "%s", text);
    free(text);
    static const int64_t sizes[] = {1, 3, 17};
    /* the same arithmetic; the compiler may contract other products into FMAs in the two loops */
    CHECK_MSG(jit_compare_tol(rope, got, sizes, 3, 31, 1e-6) == 0, "%s", mlcc_last_error());
}

int main(void) {
    test_pass_modulus_split();
    test_pass_row_reduction();
    test_rfactor_inner();
    test_rfactor_parallel();
    test_rfactor_matmul_and_max();
    test_rfactor_errors();
    return test_finish();
}
