/* test_schedule_trace.c - the printed trace: a hand-written trace replays to the same function
 * as calling the primitives, the replayed schedule prints the same trace, and malformed or
 * illegal traces fail with the line and the reason. */
#include "sched_check.h"

static const char *hand_trace =
    "# matmul: tile i, decompose, parallel\n"
    "b0 = sch.get_block(\"C\")\n"
    "\n"
    "l1, l2, l3 = sch.get_loops(b0)\n"
    "l4, l5 = sch.split(l1, factors=[None, 4])\n"
    "sch.reorder(l4, l2, l5)\n"
    "l6 = sch.fuse(l4, l2)\n"
    "b7 = sch.decompose_reduction(b0, l5)\n"
    "  sch.parallel( l6 )  \n"
    "sch.unroll(l3)";

static void test_hand_written(void) {
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *direct = sch_create(f);
    mlcc_expr **l, *o[2];
    sch_get_loops(direct, sch_get_block(direct, "C"), &l);
    CHECK_EQ_INT(sch_split(direct, l[0], (int64_t[]){SCH_INFER, 4}, 2, o), 0);
    CHECK_EQ_INT(sch_reorder(direct, (mlcc_expr *[]){o[0], l[1], o[1]}, 3), 0);
    mlcc_expr *fused = sch_fuse(direct, (mlcc_expr *[]){o[0], l[1]}, 2);
    CHECK(fused != NULL);
    CHECK(sch_decompose_reduction(direct, "C", o[1]) != NULL);
    CHECK_EQ_INT(sch_parallel(direct, fused), 0);
    CHECK_EQ_INT(sch_unroll(direct, l[2]), 0);

    mlcc_schedule *replayed = sch_create(f);
    CHECK_MSG(sch_replay(replayed, hand_trace) == 0, "%s", mlcc_last_error());
    char *a = tir_func_to_string(sch_func(direct)), *b = tir_func_to_string(sch_func(replayed));
    CHECK_EQ_STR(b, a);
    char *ta = sch_trace_str(direct), *tb = sch_trace_str(replayed);
    CHECK_EQ_STR(tb, ta);
    /* the printed form is the hand-written one without its comment and spacing */
    CHECK_EQ_STR(ta, "b0 = sch.get_block(\"C\")\n"
                     "l1, l2, l3 = sch.get_loops(b0)\n"
                     "l4, l5 = sch.split(l1, factors=[None, 4])\n"
                     "sch.reorder(l4, l2, l5)\n"
                     "l6 = sch.fuse(l4, l2)\n"
                     "b7 = sch.decompose_reduction(b0, l5)\n"
                     "sch.parallel(l6)\n"
                     "sch.unroll(l3)\n");
    CHECK(compare_at_sizes(f, sch_func(replayed), 3) == 0);
    free(a);
    free(b);
    free(ta);
    free(tb);
    sch_free(direct);
    sch_free(replayed);
}

/* Replaying `text` on a fresh matmul schedule fails with a message containing `reason`. */
static void check_replay_fails(const char *text, const char *reason) {
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    mlcc_clear_error();
    CHECK(sch_replay(s, text) != 0);
    CHECK_MSG(strstr(mlcc_last_error(), reason) != NULL, "replaying %s: got \"%s\", want \"%s\"", text,
              mlcc_last_error(), reason);
    sch_free(s);
}

static void test_errors(void) {
    check_replay_fails("b0 = sch.get_block(\"X\")", "get_block: no block named 'X'");
    check_replay_fails("b0 = sch.get_block(\"C\")\nl1, l2 = sch.get_loops(b0)", "line 2: get_loops gives 3 result(s), the line names 2");
    check_replay_fails("sch.parallel(l9)", "line 1: 'l9' is not a loop");
    check_replay_fails("b0 = sch.get_block(\"C\")\nsch.parallel(b0)", "'b0' is not a loop");
    check_replay_fails("b0 = sch.get_block(\"C\")\nsch.compute_inline(l0)", "'l0' is not a block");
    check_replay_fails("sch.tensorise(b0)", "unknown primitive 'tensorise'");
    check_replay_fails("b0 = sch.get_block(\"C\")\nl1, l2, l3 = sch.get_loops(b0)\nsch.tensorize(l1)", "tensorize takes 2 argument(s), got 1");
    check_replay_fails("b0 = sch.get_block(\"C\"", "line 1: expected ',' or ')'");
    check_replay_fails("b0 = sch.get_block(\"C\") extra", "unexpected text");
    check_replay_fails("b0 sch.get_block(\"C\")", "expected '='");
    check_replay_fails("b0 = get_block(\"C\")", "expected \"sch.\"");
    check_replay_fails("b0 = sch.get_block(\"C\")\nl1, l2, l3 = sch.get_loops(b0)\nl4, l5 = sch.split(l1, factors=[None, x])",
                       "line 3: expected a factor");
    check_replay_fails("b0 = sch.get_block(\"C\")\nl1, l2, l3 = sch.get_loops(b0)\nl4, l5 = sch.split(l1, parts=[2, 2])",
                       "unknown keyword argument 'parts'");
    check_replay_fails("b0 = sch.get_block(\"C\")\nl1, l2, l3 = sch.get_loops(b0)\nl4, l5, l6 = sch.split(l1, factors=[None, 4])",
                       "split gives 2 result(s), the line names 3");
    /* an illegal step: the primitive's reason, with the line */
    check_replay_fails("b0 = sch.get_block(\"C\")\nl1, l2, l3 = sch.get_loops(b0)\nsch.parallel(l3)",
                       "replay line 3: parallel: loop 'k' carries the reduction iter var 'v_k'");
    check_replay_fails("b0 = sch.get_block(\"C\")\nsch.get_block(\"C\", \"D\")", "get_block takes 1 argument(s), got 2");
    /* a very long line does not overflow anything */
    char *big = malloc(20000);
    memset(big, 'a', 19999);
    big[19999] = 0;
    check_replay_fails(big, "name too long");
    memcpy(big, "sch.split(", 10);
    check_replay_fails(big, "name too long");
    free(big);
}

/* A copy continues independently, with the same handles. */
static void test_copy(void) {
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *o[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_split(s, l[0], (int64_t[]){SCH_INFER, 4}, 2, o), 0);
    mlcc_schedule *c = sch_copy(s);
    CHECK_EQ_INT(sch_parallel(c, o[0]), 0);
    CHECK_EQ_INT(sch_vectorize(s, l[1]), 0);
    char *ts = sch_trace_str(s), *tc = sch_trace_str(c);
    CHECK(strstr(ts, "sch.vectorize(l2)") && !strstr(ts, "parallel"));
    CHECK(strstr(tc, "sch.parallel(l4)") && !strstr(tc, "vectorize"));
    CHECK(sch_func(s)->body->for_.kind == FOR_SERIAL);
    CHECK(replay_matches(f, s) == 0);
    CHECK(replay_matches(f, c) == 0);
    CHECK(compare_at_sizes(f, sch_func(c), 2) == 0);
    free(ts);
    free(tc);
    sch_free(s);
    sch_free(c);
}

int main(void) {
    test_hand_written();
    test_errors();
    test_copy();
    return test_finish();
}
