/* test_schedule_loops.c - split, fuse, reorder, parallel, vectorize, unroll: golden printed
 * results (tests/unit/golden/), numerical equality with the unscheduled kernel in the reference
 * interpreter at n = 1, 7, 16, 33, replay of the printed trace, and rejection of illegal
 * requests with the reason. */
#include <stdlib.h>
#include <string.h>

#include "ir/printer.h"
#include "schedule/schedule.h"
#include "support/error.h"
#include "test.h"
#include "sched_check.h"
#include "tir_kernels.h"

static int64_t F2[2] = {SCH_INFER, 4};

static void test_split(void) {
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *io[2], *ko[3];
    CHECK_EQ_INT(sch_get_loops(s, sch_get_block(s, "C"), &l), 3);
    CHECK_EQ_INT(sch_split(s, l[0], F2, 2, io), 0);                             /* symbolic n: predicate */
    CHECK_EQ_INT(sch_split(s, l[2], (int64_t[]){3, SCH_INFER, 1}, 3, ko), 0); /* 8 by 3: predicate */
    check_schedule("sched_split", f, s);
    sch_free(s);

    /* an exact split of a constant extent needs no predicate */
    f = kernel_build(K_ELEMWISE);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "B"), &l);
    CHECK_EQ_INT(sch_split(s, l[1], (int64_t[]){2, 3, 2}, 3, ko), 0);
    char *text = tir_func_to_string(sch_func(s));
    CHECK(strstr(text, "T.where") == NULL);
    CHECK(strstr(text, "for i, j_0, j_1, j_2 in T.grid(n, 2, 3, 2):") != NULL);
    free(text);
    CHECK(compare_at_sizes(f, sch_func(s), 3) == 0);
    CHECK(replay_matches(f, s) == 0);

    /* illegal */
    CHECK_REJECTED(s, sch_split(s, l[0], (int64_t[]){0, SCH_INFER}, 2, ko), "factor 0 of loop 'i' must be positive");
    CHECK_REJECTED(s, sch_split(s, l[0], (int64_t[]){-2, SCH_INFER}, 2, ko), "must be positive");
    CHECK_REJECTED(s, sch_split(s, l[0], (int64_t[]){SCH_INFER, SCH_INFER}, 2, ko), "at most one factor may be inferred");
    CHECK_REJECTED(s, sch_split(s, l[0], (int64_t[]){4, 4}, 2, ko), "symbolic extent n");
    CHECK_REJECTED(s, sch_split(s, ko[0], (int64_t[]){1, 1}, 2, ko), "less than its extent 2");
    CHECK_REJECTED(s, sch_split(s, ko[0], (int64_t[]){2}, 1, ko), "at least 2 factors");
    CHECK_REJECTED(s, sch_split(s, l[1], F2, 2, ko), "loop 'j' does not exist");
    mlcc_expr *stranger = ir_var("q", DT_I64);
    CHECK_REJECTED(s, sch_split(s, stranger, F2, 2, ko), "loop 'q' does not exist");
    sch_free(s);
}

static void test_fuse(void) {
    mlcc_prim_func *f = kernel_build(K_BCAST_ADD);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *o[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    mlcc_expr *fused = sch_fuse(s, l, 2);
    CHECK(fused != NULL);
    CHECK_EQ_INT(sch_split(s, fused, (int64_t[]){SCH_INFER, 16}, 2, o), 0);
    check_schedule("sched_fuse", f, s);
    sch_free(s);

    /* illegal: not adjacent, not a nest, one loop, twice */
    f = kernel_build(K_MATMUL);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_REJECTED(s, sch_fuse(s, (mlcc_expr *[]){l[0], l[2]}, 2) ? 0 : -1, "loops 'i' and 'k' are not adjacent");
    CHECK_REJECTED(s, sch_fuse(s, (mlcc_expr *[]){l[1], l[0]}, 2) ? 0 : -1, "loops 'j' and 'i' are not adjacent");
    CHECK_REJECTED(s, sch_fuse(s, (mlcc_expr *[]){l[1]}, 1) ? 0 : -1, "at least two loops");
    CHECK_REJECTED(s, sch_fuse(s, (mlcc_expr *[]){l[1], l[1]}, 2) ? 0 : -1, "given twice");
    /* fusing a spatial with a reduction loop is legal (the fused loop then carries both) */
    fused = sch_fuse(s, (mlcc_expr *[]){l[1], l[2]}, 2);
    CHECK(fused != NULL);
    CHECK_REJECTED(s, sch_parallel(s, fused), "carries the reduction iter var 'v_k'");
    CHECK(compare_at_sizes(f, sch_func(s), 5) == 0);
    sch_free(s);
}

static void test_reorder(void) {
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *o[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_split(s, l[0], F2, 2, o), 0);
    /* nest i_0, i_1, j, k: the given loops' positions (0, 1, 3) take k, i_0, i_1 */
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){l[2], o[0], o[1]}, 3), 0);
    check_schedule("sched_reorder", f, s);
    CHECK_REJECTED(s, sch_reorder(s, (mlcc_expr *[]){l[2], l[2]}, 2), "given twice");
    sch_free(s);

    /* loops of two different nests, and a nest that branches */
    f = kernel_build(K_TWO_STAGE);
    s = sch_create(f);
    mlcc_expr **lb, **lc;
    sch_get_loops(s, sch_get_block(s, "B"), &lb);
    sch_get_loops(s, sch_get_block(s, "C"), &lc);
    CHECK_REJECTED(s, sch_reorder(s, (mlcc_expr *[]){lc[1], lb[0]}, 2), "are not in one loop nest");
    sch_free(s);

    f = kernel_build(K_MATMUL);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK(sch_decompose_reduction(s, "C", l[1]) != NULL);
    /* i's body is now the init nest and the update nest */
    CHECK_REJECTED(s, sch_reorder(s, (mlcc_expr *[]){l[2], l[0]}, 2), "branches");
    sch_free(s);
}

/* Reordering what a reduction's init relies on: the loops that run its reduction. */
static void test_reorder_reductions(void) {
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *o[2], *ko[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    /* j and k fused, split by 5: swapping the parts would visit k = 2 before k = 0 for some j */
    mlcc_expr *jk = sch_fuse(s, (mlcc_expr *[]){l[1], l[2]}, 2);
    CHECK_EQ_INT(sch_split(s, jk, (int64_t[]){SCH_INFER, 5}, 2, o), 0);
    CHECK_REJECTED(s, sch_reorder(s, (mlcc_expr *[]){o[1], o[0]}, 2),
                   "loops 'j_k_fused_0' and 'j_k_fused_1' would change their order, which the init of block 'C' relies on");
    /* moving spatial loops around them is fine */
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){o[0], l[0]}, 2), 0);
    /* after decompose_reduction the update may run in any order */
    CHECK(sch_decompose_reduction(s, "C", o[0]) != NULL);
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){o[1], o[0]}, 2), 0);
    CHECK(compare_at_sizes(f, sch_func(s), 8) == 0);
    CHECK(replay_matches(f, s) == 0);
    sch_free(s);

    f = kernel_build(K_ROWSUM);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "S"), &l);
    CHECK_EQ_INT(sch_split(s, l[1], (int64_t[]){SCH_INFER, 4}, 2, ko), 0);
    CHECK_REJECTED(s, sch_reorder(s, (mlcc_expr *[]){ko[1], ko[0]}, 2), "would change their order");
    sch_free(s);

    /* a loop the block does not use repeats the whole reduction: it may neither move across
     * the reduction loop nor run in parallel */
    f = kernel_build(K_ROWSUM);
    mlcc_prim_func *g = prim_func_copy(f);
    mlcc_expr *x = ir_var("x", DT_I64);
    g->body = ir_for(x, ir_int(0), ir_int(3), FOR_SERIAL, f->body);
    s = sch_create(g);
    CHECK_EQ_INT(sch_get_loops(s, sch_get_block(s, "S"), &l), 3);
    CHECK_REJECTED(s, sch_reorder(s, (mlcc_expr *[]){l[2], l[0]}, 2), "loops 'x' and 'k' would change their order");
    CHECK_REJECTED(s, sch_parallel(s, l[0]), "block 'S' does not depend on loop 'x'");
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){l[1], l[0]}, 2), 0); /* i outside x: fine */
    CHECK(compare_at_sizes(f, sch_func(s), 10) == 0);
    sch_free(s);
}

static void test_annotations(void) {
    mlcc_prim_func *f = kernel_build(K_ELEMWISE);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *o[2];
    sch_get_loops(s, sch_get_block(s, "B"), &l);
    CHECK_EQ_INT(sch_split(s, l[1], F2, 2, o), 0);
    CHECK_EQ_INT(sch_parallel(s, l[0]), 0);
    CHECK_EQ_INT(sch_unroll(s, o[0]), 0);
    CHECK_EQ_INT(sch_vectorize(s, o[1]), 0);
    check_schedule("sched_annotate", f, s);
    sch_free(s);

    /* parallel / vectorize of a loop that carries a reduction */
    f = kernel_build(K_ROWSUM);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "S"), &l);
    CHECK_REJECTED(s, sch_parallel(s, l[1]), "parallel: loop 'k' carries the reduction iter var 'v_k' of block 'S'");
    CHECK_REJECTED(s, sch_vectorize(s, l[1]), "vectorize: loop 'k' carries the reduction iter var 'v_k' of block 'S'");
    CHECK_EQ_INT(sch_unroll(s, l[1]), 0); /* unrolling a reduction loop is fine */
    CHECK_EQ_INT(sch_parallel(s, l[0]), 0);
    CHECK(compare_at_sizes(f, sch_func(s), 9) == 0);
    CHECK(replay_matches(f, s) == 0);
    sch_free(s);
}

static void test_bind(void) {
    mlcc_prim_func *f = kernel_build(K_BCAST_ADD);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *o[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    mlcc_expr *fused = sch_fuse(s, l, 2);
    CHECK_EQ_INT(sch_split(s, fused, (int64_t[]){SCH_INFER, 32}, 2, o), 0);
    CHECK_EQ_INT(sch_bind(s, o[0], "blockIdx.x"), 0);
    CHECK_EQ_INT(sch_bind(s, o[1], "threadIdx.x"), 0);
    check_schedule("sched_bind", f, s);
    CHECK_REJECTED(s, sch_bind(s, o[1], "threadIdx.y"), "already bound to threadIdx.x");
    sch_free(s);

    f = kernel_build(K_MATMUL);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_REJECTED(s, sch_bind(s, l[0], "threadIdx.w"), "'threadIdx.w' is not a thread axis");
    CHECK_REJECTED(s, sch_bind(s, l[2], "threadIdx.x"), "bind: loop 'k' carries the reduction iter var 'v_k'");
    CHECK_EQ_INT(sch_bind(s, l[0], "threadIdx.x"), 0);
    CHECK_REJECTED(s, sch_bind(s, l[1], "threadIdx.x"), "is inside loop 'i', already bound to threadIdx.x");
    CHECK_EQ_INT(sch_bind(s, l[1], "threadIdx.y"), 0);
    CHECK(compare_at_sizes(f, sch_func(s), 21) == 0);
    CHECK(replay_matches(f, s) == 0);
    sch_free(s);
}

/* Loops given by var from outside the schedule, and blocks named directly. */
static void test_references(void) {
    mlcc_prim_func *f = kernel_build(K_ELEMWISE);
    mlcc_schedule *s = sch_create(f);
    /* the IR's own loop var, never obtained through get_loops */
    mlcc_expr *i = sch_func(s)->body->for_.var;
    CHECK_REJECTED(s, sch_parallel(s, i), "was not obtained from this schedule");
    CHECK(sch_get_block(s, "nope") == NULL);
    CHECK(strstr(mlcc_last_error(), "no block named 'nope'") != NULL);
    mlcc_expr **l;
    CHECK_EQ_INT(sch_get_loops(s, "nope", &l), -1);
    /* a block named without get_block: the trace gets one */
    CHECK_EQ_INT(sch_get_loops(s, "B", &l), 2);
    char *trace = sch_trace_str(s);
    CHECK_EQ_STR(trace, "b0 = sch.get_block(\"B\")\nl1, l2 = sch.get_loops(b0)\n");
    free(trace);
    const char **blocks;
    CHECK_EQ_INT(sch_get_blocks(s, &blocks), 1);
    CHECK_EQ_STR(blocks[0], "B");
    /* the schedule works on a copy */
    CHECK_EQ_INT(sch_parallel(s, l[0]), 0);
    CHECK(f->body->for_.kind == FOR_SERIAL);
    sch_free(s);
}

int main(void) {
    test_split();
    test_fuse();
    test_reorder();
    test_reorder_reductions();
    test_annotations();
    test_bind();
    test_references();
    return test_finish();
}
