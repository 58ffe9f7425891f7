/* test_schedule_annotate.c - annotate / unannotate on loops and blocks: golden printed result,
 * numerical equality with the unscheduled kernel, replay of the trace (integer arguments),
 * replacing and removing a key, and rejection of bad requests with the reason and no change. */
#include "sched_check.h"

static void test_annotate(void) {
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l;
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_annotate_loop(s, l[0], "pragma_auto_unroll_max_step", 16), 0);
    CHECK_EQ_INT(sch_annotate_loop(s, l[2], "tile", 4), 0);
    CHECK_EQ_INT(sch_annotate_loop(s, l[2], "tile", 8), 0); /* replaces the value */
    CHECK_EQ_INT(sch_annotate_block(s, "C", "schedule_rule", -1), 0);
    CHECK_EQ_INT(sch_unannotate_loop(s, l[0], "pragma_auto_unroll_max_step"), 0);
    CHECK_EQ_INT(sch_parallel(s, l[0]), 0); /* annotations survive later primitives */
    check_schedule("sched_annotate_keys", f, s);
    char *text = tir_func_to_string(sch_func(s));
    CHECK(strstr(text, "\"tile\": 8") != NULL && strstr(text, "\"tile\": 4") == NULL);
    CHECK(strstr(text, "pragma_auto_unroll_max_step") == NULL);
    CHECK(strstr(text, "\"schedule_rule\": -1") != NULL);
    free(text);

    CHECK_REJECTED(s, sch_annotate_loop(s, l[1], "", 1), "annotate: the key must be a non-empty string");
    CHECK_REJECTED(s, sch_annotate_loop(s, l[1], "a\"b", 1), "without quotes");
    CHECK_REJECTED(s, sch_annotate_block(s, "X", "k", 1), "annotate: no block named 'X'");
    CHECK_REJECTED(s, sch_unannotate_block(s, NULL, "k"), "unannotate: no block named '(null)'");
    sch_free(s);
}

static void test_replay_errors(void) {
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    CHECK(sch_replay(s, "b0 = sch.get_block(\"C\")\nsch.annotate(b0, \"k\", \"v\")") != 0);
    CHECK(strstr(mlcc_last_error(), "annotate needs a loop or block, a key string and an integer") != NULL);
    sch_free(s);
    s = sch_create(f);
    CHECK(sch_replay(s, "sch.annotate(l7, \"k\", 1)") != 0);
    CHECK(strstr(mlcc_last_error(), "'l7' is not a loop or block") != NULL);
    sch_free(s);
    s = sch_create(f);
    CHECK(sch_replay(s, "b0 = sch.get_block(\"C\")\nsch.annotate(b0, \"k\", 99999999999999999999)") != 0);
    CHECK(strstr(mlcc_last_error(), "integer out of range") != NULL);
    sch_free(s);
}

int main(void) {
    test_annotate();
    test_replay_errors();
    return test_finish();
}
