/* test_schedule_blocks.c - compute_inline, reverse_compute_inline, decompose_reduction: golden
 * printed results, numerical equality with the unscheduled kernel at n = 1, 7, 16, 33, replay
 * of the printed trace, and rejection of illegal requests with the reason. */
#include "sched_check.h"

static void test_compute_inline(void) {
    /* softmax: E = exp(A - M) inlined into both S and O */
    mlcc_prim_func *f = kernel_build(K_SOFTMAX);
    mlcc_schedule *s = sch_create(f);
    CHECK_EQ_INT(sch_compute_inline(s, sch_get_block(s, "E")), 0);
    check_schedule("sched_compute_inline", f, s);
    CHECK_REJECTED(s, sch_compute_inline(s, "M"), "compute_inline: block 'M' is a reduction");
    CHECK_REJECTED(s, sch_compute_inline(s, "O"), "the buffer 'O' of block 'O' is an output of the function");
    CHECK_REJECTED(s, sch_compute_inline(s, "E"), "no block named 'E'");
    sch_free(s);

    /* a chain, inlined producer after producer, with loops already transformed */
    f = kernel_build(K_TWO_STAGE);
    s = sch_create(f);
    mlcc_expr **l, *o[2];
    sch_get_loops(s, sch_get_block(s, "B"), &l);
    CHECK_EQ_INT(sch_split(s, l[0], (int64_t[]){SCH_INFER, 3}, 2, o), 0);
    CHECK_EQ_INT(sch_compute_inline(s, "B"), 0);
    const char **blocks;
    CHECK_EQ_INT(sch_get_blocks(s, &blocks), 1);
    CHECK(sch_func(s)->nalloc == 0);
    CHECK(compare_at_sizes(f, sch_func(s), 2) == 0);
    CHECK(replay_matches(f, s) == 0);
    sch_free(s);
}

static void test_reverse_compute_inline(void) {
    mlcc_prim_func *f = kernel_build(K_EPILOGUE);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *o[2];
    sch_get_loops(s, sch_get_block(s, "B"), &l);
    CHECK_EQ_INT(sch_split(s, l[1], (int64_t[]){SCH_INFER, 3}, 2, o), 0); /* 8 by 3: a predicate */
    CHECK_EQ_INT(sch_reverse_compute_inline(s, sch_get_block(s, "C")), 0);
    check_schedule("sched_reverse_compute_inline", f, s);
    sch_free(s);

    f = kernel_build(K_SOFTMAX);
    s = sch_create(f);
    CHECK_REJECTED(s, sch_reverse_compute_inline(s, "O"), "block 'O' does not load 'S' at exactly its iter vars");
    CHECK_REJECTED(s, sch_reverse_compute_inline(s, "M"), "block 'M' is a reduction");
    /* E reads M (the latest buffer produced before it) at [i] only */
    CHECK_REJECTED(s, sch_reverse_compute_inline(s, "E"), "does not load 'M' at exactly its iter vars");
    sch_free(s);

    f = kernel_build(K_TWO_STAGE);
    s = sch_create(f);
    CHECK_REJECTED(s, sch_reverse_compute_inline(s, "B"), "block 'B' reads no buffer produced by another block");
    sch_free(s);

    f = kernel_build(K_MM_RELU);
    s = sch_create(f);
    CHECK_REJECTED(s, sch_reverse_compute_inline(s, "D"), "producer 'C' is a reduction");
    CHECK_REJECTED(s, sch_compute_inline(s, "C"), "block 'C' is a reduction");
    sch_free(s);
}

static void test_decompose_reduction(void) {
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *io[2], *ko[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_split(s, l[0], (int64_t[]){SCH_INFER, 4}, 2, io), 0);
    CHECK_EQ_INT(sch_split(s, l[2], (int64_t[]){SCH_INFER, 3}, 2, ko), 0);
    /* nest i_0, k_0, i_1, j, k_1: decompose at k_0 copies i_1 and j for the init */
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){io[0], ko[0], io[1], l[1], ko[1]}, 5), 0);
    const char *init = sch_decompose_reduction(s, "C", ko[0]);
    CHECK(init && strcmp(init, "C_init") == 0);
    CHECK_EQ_INT(sch_parallel(s, io[0]), 0);
    check_schedule("sched_decompose_reduction", f, s);
    /* the update block is still a reduction: its k loops may not run in parallel */
    CHECK_REJECTED(s, sch_vectorize(s, ko[1]), "carries the reduction iter var 'v_k' of block 'C'");
    CHECK_REJECTED(s, sch_decompose_reduction(s, "C", ko[0]) ? 0 : -1, "block 'C' is not a reduction");
    sch_free(s);

    f = kernel_build(K_MATMUL);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){l[2], l[0]}, 2), 0); /* k, j, i */
    CHECK_REJECTED(s, sch_decompose_reduction(s, "C", l[1]) ? 0 : -1,
                   "loop 'k' is above loop 'j', yet the reduce iter var 'v_k' of block 'C' is bound to it");
    CHECK(sch_decompose_reduction(s, "C", l[2]) != NULL); /* at the outermost loop: legal */
    CHECK(compare_at_sizes(f, sch_func(s), 4) == 0);
    CHECK(replay_matches(f, s) == 0);
    sch_free(s);

    f = kernel_build(K_SOFTMAX);
    s = sch_create(f);
    mlcc_expr **lm;
    sch_get_loops(s, sch_get_block(s, "S"), &l);
    sch_get_loops(s, sch_get_block(s, "M"), &lm);
    CHECK_REJECTED(s, sch_decompose_reduction(s, "S", lm[0]) ? 0 : -1, "loop 'i' is not a loop around block 'S'");
    CHECK_REJECTED(s, sch_decompose_reduction(s, "E", l[0]) ? 0 : -1, "block 'E' is not a reduction (it has no init)");
    /* both reductions decomposed, E inlined, O then reverse-inlined nowhere: numerics hold */
    CHECK(sch_decompose_reduction(s, "S", l[1]) != NULL);
    CHECK(sch_decompose_reduction(s, "M", lm[0]) != NULL);
    CHECK_EQ_INT(sch_compute_inline(s, "E"), 0);
    CHECK(compare_at_sizes(f, sch_func(s), 6) == 0);
    CHECK(replay_matches(f, s) == 0);
    sch_free(s);
}

/* A loop the block does not use repeats its whole reduction: one init before it would not do. */
static void test_decompose_repeated(void) {
    mlcc_prim_func *f = kernel_build(K_ROWSUM);
    mlcc_prim_func *g = prim_func_copy(f);
    mlcc_expr *x = ir_var("x", DT_I64);
    g->body = ir_for(x, ir_int(0), ir_int(2), FOR_SERIAL, f->body);
    mlcc_schedule *s = sch_create(g);
    mlcc_expr **l;
    CHECK_EQ_INT(sch_get_loops(s, sch_get_block(s, "S"), &l), 3);
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){l[1], l[0]}, 2), 0); /* i, x, k */
    CHECK_REJECTED(s, sch_decompose_reduction(s, "S", l[0]) ? 0 : -1,
                   "block 'S' does not depend on loop 'x', which repeats its reduction");
    CHECK(sch_decompose_reduction(s, "S", l[2]) != NULL); /* below x: the init repeats with it */
    CHECK(compare_at_sizes(f, sch_func(s), 12) == 0);
    sch_free(s);
}

/* Inlining through a transposition maps indices by position, not by name. */
static void test_transposed(void) {
    for (int reverse = 0; reverse < 2; reverse++) {
        mlcc_prim_func *f = kernel_build(K_TRANSPOSE);
        mlcc_schedule *s = sch_create(f);
        mlcc_expr **l, *o[2];
        sch_get_loops(s, sch_get_block(s, reverse ? "T" : "O"), &l);
        CHECK_EQ_INT(sch_split(s, l[1], (int64_t[]){SCH_INFER, 2}, 2, o), 0);
        CHECK_EQ_INT(reverse ? sch_reverse_compute_inline(s, "O") : sch_compute_inline(s, "T"), 0);
        char *text = tir_func_to_string(sch_func(s));
        CHECK_MSG(strstr(text, reverse ? "O[v_b, v_a] = A[v_b, v_a] * T.float32(3.0)" : "O[v_i, v_j] = A[v_i, v_j] * T.float32(3.0)"),
                  "%s", text);
        free(text);
        CHECK_MSG(compare_at_sizes(f, sch_func(s), 13) == 0, "%s", mlcc_last_error());
        CHECK(replay_matches(f, s) == 0);
        sch_free(s);
    }
}

int main(void) {
    test_compute_inline();
    test_reverse_compute_inline();
    test_decompose_reduction();
    test_decompose_repeated();
    test_transposed();
    return test_finish();
}
