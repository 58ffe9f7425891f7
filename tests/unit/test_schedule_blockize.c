/* test_schedule_blockize.c - blockize: golden printed result (relaxed regions, iter vars for the
 * outer loops), numerical equality with the unscheduled kernel in the interpreter at several n
 * (including after parallelizing the outer block's loop), replay of the trace, and rejection of
 * bad requests with the reason and no change. */
#include "sched_check.h"

static void test_blockize_matmul(void) {
    mlcc_prim_func *f = kernel_build(K_MATMUL); /* C[n, 6] = A[n, 8] @ B[8, 6] */
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *io[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_split(s, l[0], (int64_t[]){SCH_INFER, 4}, 2, io), 0); /* a predicate: n by 4 */
    const char *o = sch_blockize(s, io[1]);
    CHECK(o && strcmp(o, "C_o") == 0);
    CHECK_EQ_INT(sch_parallel(s, io[0]), 0); /* legal: C_o's iter var for i_0 is spatial */
    check_schedule("sched_blockize", f, s);
    CHECK_REJECTED(s, sch_blockize(s, io[1]) ? 0 : -1, "a block named 'C_o' exists already");
    sch_free(s);

    /* the whole function as one block */
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK(sch_blockize(s, l[0]) != NULL);
    CHECK(compare_at_sizes(f, sch_func(s), 5) == 0);
    CHECK(replay_matches(f, s) == 0);
    sch_free(s);
}

static void test_blockize_rejections(void) {
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *ko[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    /* k split and k_0 moved out: the nest under j would leave the init repeating */
    CHECK_EQ_INT(sch_split(s, l[2], (int64_t[]){SCH_INFER, 4}, 2, ko), 0);
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){ko[0], l[1]}, 2), 0);
    CHECK_REJECTED(s, sch_blockize(s, l[1]) ? 0 : -1, "runs the reduction of block 'C', whose init would then repeat");
    /* after decompose_reduction the reduction may span the outer block: its iter var is reduce */
    CHECK(sch_decompose_reduction(s, "C", l[0]) != NULL);
    CHECK(sch_blockize(s, l[1]) != NULL);
    char *text = tir_func_to_string(sch_func(s));
    CHECK_MSG(strstr(text, "T.axis.reduce(2, k_0)") != NULL, "%s", text);
    free(text);
    CHECK(compare_at_sizes(f, sch_func(s), 7) == 0);
    CHECK(replay_matches(f, s) == 0);
    sch_free(s);

    f = kernel_build(K_SOFTMAX);
    s = sch_create(f);
    mlcc_expr **lo;
    sch_get_loops(s, sch_get_block(s, "M"), &lo);
    CHECK_REJECTED(s, sch_blockize(s, NULL) ? 0 : -1, "blockize: expected a loop var");
    sch_free(s);
}

int main(void) {
    test_blockize_matmul();
    test_blockize_rejections();
    return test_finish();
}
