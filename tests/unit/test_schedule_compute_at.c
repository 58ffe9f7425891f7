/* test_schedule_compute_at.c - compute_at and reverse_compute_at: golden printed results,
 * numerical equality with the unscheduled kernel (interpreter at n = 1, 7, 16, 33 and the
 * compiled C at n = 1, 5, 16, 33), replay of the printed trace, and rejection of illegal
 * requests with the reason and no change. */
#include "sched_check.h"
#include "sched_jit.h"
#include "te/te.h"

/* Golden, interpreter, replay and compiled numerics of a finished schedule. */
static void check_all(const char *golden, const mlcc_prim_func *f, mlcc_schedule *s) {
    check_schedule(golden, f, s);
    CHECK_MSG(jit_compare_at_sizes(f, sch_func(s), 11) == 0, "%s: %s", golden, mlcc_last_error());
}

/* Interpreter, replay and compiled numerics (no golden). */
static void check_numbers(const char *what, const mlcc_prim_func *f, mlcc_schedule *s) {
    CHECK_MSG(compare_at_sizes(f, sch_func(s), 3) == 0, "%s: %s", what, mlcc_last_error());
    CHECK_MSG(replay_matches(f, s) == 0, "%s: %s", what, mlcc_last_error());
    CHECK_MSG(jit_compare_at_sizes(f, sch_func(s), 5) == 0, "%s: %s", what, mlcc_last_error());
}

static void test_compute_at_tile(void) {
    /* B = A * 3 computed per 4-row tile of C = B + 1: rows i_0 * 4 + [0, 4), clipped at n */
    mlcc_prim_func *f = kernel_build(K_TWO_STAGE);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *o[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_split(s, l[0], (int64_t[]){SCH_INFER, 4}, 2, o), 0);
    CHECK_EQ_INT(sch_compute_at(s, sch_get_block(s, "B"), o[0]), 0);
    check_all("sched_compute_at", f, s);
    sch_free(s);

    /* one element at a time, under the innermost loop: no loops regenerated */
    f = kernel_build(K_TWO_STAGE);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_compute_at(s, "B", l[1]), 0);
    char *text = tir_func_to_string(sch_func(s));
    CHECK_MSG(strstr(text, "ax0") == NULL && strstr(text, "B[v_i, v_j] = A[v_i, v_j]") != NULL, "%s", text);
    free(text);
    check_numbers("compute_at point", f, s);
    sch_free(s);
}

static void test_compute_at_reduction(void) {
    /* the matmul row recomputed under the relu's row loop: its k runs whole */
    mlcc_prim_func *f = kernel_build(K_MM_RELU);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l;
    sch_get_loops(s, sch_get_block(s, "D"), &l);
    CHECK_EQ_INT(sch_compute_at(s, sch_get_block(s, "C"), l[0]), 0);
    check_all("sched_compute_at_reduction", f, s);
    /* a reduction may not move under a parallel loop (iterations would reduce at once) */
    sch_free(s);
    f = kernel_build(K_MM_RELU);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "D"), &l);
    CHECK_EQ_INT(sch_parallel(s, l[0]), 0);
    CHECK_REJECTED(s, sch_compute_at(s, "C", l[1]), "block 'C' is a reduction and loop 'i' runs in parallel");
    sch_free(s);
}

static void test_compute_at_transposed(void) {
    /* O[i, j] = T[j, i] * 3: the column T[0:5, i] of the transposition per row of O */
    mlcc_prim_func *f = kernel_build(K_TRANSPOSE);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l;
    sch_get_loops(s, sch_get_block(s, "O"), &l);
    CHECK_EQ_INT(sch_compute_at(s, "T", l[0]), 0);
    char *text = tir_func_to_string(sch_func(s));
    CHECK_MSG(strstr(text, "for ax0 in range(5)") != NULL, "%s", text);
    free(text);
    check_numbers("compute_at transposed", f, s);
    sch_free(s);
}

static te_tensor *A_, *B_;

static mlcc_expr *times2(mlcc_expr **i, void *c) {
    (void)c;
    return ir_mul(te_load2(A_, i[0], i[1]), ir_float(DT_F32, 2));
}

static mlcc_expr *plus3(mlcc_expr **i, void *c) {
    (void)c;
    return ir_add(te_load2(B_, i[0], i[1]), ir_float(DT_F32, 3));
}

/* B = A * 2 and C = B + 3, both outputs: computing B only where C needs it would leave the rest
 * of the output B unwritten. */
static void test_compute_at_output(void) {
    mlcc_expr *shape[2] = {ir_size_var("n"), ir_int(4)};
    A_ = te_placeholder("A", DT_F32, shape, 2);
    te_set_axis_names((const char *[]){"i", "j", NULL});
    B_ = te_compute("B", DT_F32, shape, 2, times2, NULL);
    te_set_axis_names((const char *[]){"i", "j", NULL});
    te_tensor *c = te_compute("C", DT_F32, shape, 2, plus3, NULL);
    mlcc_prim_func *f = te_create_prim_func("two_outputs", (te_tensor *[]){A_, B_, c}, 3);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l;
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_REJECTED(s, sch_compute_at(s, "B", l[0]), "the buffer 'B' of block 'B' is an output of the function");
    sch_free(s);
}

static void test_compute_at_errors(void) {
    mlcc_prim_func *f = kernel_build(K_TWO_STAGE);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **lb, **lc, *o[2];
    sch_get_loops(s, sch_get_block(s, "B"), &lb);
    sch_get_loops(s, sch_get_block(s, "C"), &lc);
    CHECK_REJECTED(s, sch_compute_at(s, "B", lb[1]), "loop 'j' is a loop around block 'B' itself");
    CHECK_REJECTED(s, sch_compute_at(s, "C", lb[0]), "block 'C' comes after loop 'i'");
    CHECK_REJECTED(s, sch_compute_at(s, "D", lc[0]), "no block named 'D'");
    CHECK_REJECTED(s, sch_reverse_compute_at(s, "B", lc[0]), "block 'B' comes before loop 'i'");
    /* a fused loop split again by 3: the row index floordiv(f0 * 3 + f1, 8) is not affine in f1 */
    mlcc_expr *fz = sch_fuse(s, lc, 2);
    CHECK(fz != NULL);
    CHECK_EQ_INT(sch_split(s, fz, (int64_t[]){SCH_INFER, 3}, 2, o), 0);
    CHECK_REJECTED(s, sch_compute_at(s, "B", o[0]), "of 'B' in block 'C' is not affine in the loops under");
    sch_free(s);
    /* by 4 it is: floordiv(f0 * 4 + f1, 8) = f0 // 2 for f1 in [0, 4), the column (f0 % 2) * 4 + f1 */
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "C"), &lc);
    fz = sch_fuse(s, lc, 2);
    CHECK(fz != NULL);
    CHECK_EQ_INT(sch_split(s, fz, (int64_t[]){SCH_INFER, 4}, 2, o), 0);
    CHECK_MSG(sch_compute_at(s, "B", o[0]) == 0, "%s", mlcc_last_error());
    CHECK_MSG(jit_compare_at_sizes(f, sch_func(s), 11) == 0, "%s", mlcc_last_error());
    sch_free(s);

    /* softmax: E is read by S and by O; O's loop holds only one of its readers */
    f = kernel_build(K_SOFTMAX);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "O"), &lc);
    CHECK_REJECTED(s, sch_compute_at(s, "E", lc[0]), "block 'S' reads 'E' outside loop 'i'");
    sch_free(s);
}

static void test_reverse_compute_at_tile(void) {
    /* C = max(B, 0) + bias run per 4-row tile of B = A * A, right after it */
    mlcc_prim_func *f = kernel_build(K_EPILOGUE);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *o[2];
    sch_get_loops(s, sch_get_block(s, "B"), &l);
    CHECK_EQ_INT(sch_split(s, l[0], (int64_t[]){SCH_INFER, 4}, 2, o), 0);
    CHECK_EQ_INT(sch_reverse_compute_at(s, sch_get_block(s, "C"), o[0]), 0);
    check_all("sched_reverse_compute_at", f, s);
    sch_free(s);
}

static void test_reverse_compute_at_gemm_tile(void) {
    /* the GEMM's column tile: C over j_0 * 3 + [0, 3) for all rows, then relu on that tile */
    mlcc_prim_func *f = kernel_build(K_MM_RELU);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *j[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_split(s, l[1], (int64_t[]){SCH_INFER, 4}, 2, j), 0); /* 6 by 4: a tail */
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){j[0], l[0]}, 2), 0);
    CHECK_EQ_INT(sch_parallel(s, j[0]), 0);
    CHECK_EQ_INT(sch_reverse_compute_at(s, "D", j[0]), 0);
    check_all("sched_reverse_compute_at_gemm", f, s);
    sch_free(s);

    /* softmax: O per row of S (it also reads E and M, made before the loop) */
    f = kernel_build(K_SOFTMAX);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "S"), &l);
    CHECK_EQ_INT(sch_reverse_compute_at(s, "O", l[0]), 0);
    check_numbers("reverse_compute_at softmax", f, s);
    sch_free(s);
}

static void test_reverse_compute_at_errors(void) {
    /* the reduction loop k outside the row loop: a row is unfinished at the end of an iteration */
    mlcc_prim_func *f = kernel_build(K_MM_RELU);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *o[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){l[2], l[0]}, 2), 0); /* k, j, i */
    CHECK_REJECTED(s, sch_reverse_compute_at(s, "D", l[0]), "loop 'k' (at or above loop 'i') runs the reduction of producer 'C'");
    sch_free(s);

    /* rows written with stride 4 under i_1 (i_0 inner): not a dense box */
    f = kernel_build(K_EPILOGUE);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "B"), &l);
    CHECK_EQ_INT(sch_split(s, l[0], (int64_t[]){SCH_INFER, 4}, 2, o), 0);
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){o[1], o[0]}, 2), 0);
    CHECK_REJECTED(s, sch_reverse_compute_at(s, "C", o[1]), "not a dense box over the loops under 'i_1'");
    CHECK_REJECTED(s, sch_reverse_compute_at(s, "B", o[1]), "loop 'i_1' is a loop around block 'B' itself");
    sch_free(s);

    /* softmax: the row sum S needs all of E's row, made under E's column loop one at a time */
    f = kernel_build(K_SOFTMAX);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "E"), &l);
    CHECK_REJECTED(s, sch_reverse_compute_at(s, "S", l[1]), "loop 'j' produces only part of the range of the reduce iter var 'v_k' of block 'S'");
    CHECK_REJECTED(s, sch_reverse_compute_at(s, "O", l[0]), "block 'S' writes 'S', which block 'O' reads, between loop 'i' and it");
    sch_free(s);
}

int main(void) {
    test_compute_at_tile();
    test_compute_at_reduction();
    test_compute_at_transposed();
    test_compute_at_errors();
    test_compute_at_output();
    test_reverse_compute_at_tile();
    test_reverse_compute_at_gemm_tile();
    test_reverse_compute_at_errors();
    return test_finish();
}
