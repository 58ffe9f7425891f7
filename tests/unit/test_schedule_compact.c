/* test_schedule_compact.c - buffer compaction (schedule/compact.c) after compute_at,
 * cache_read and cache_write: the lowered function's intermediate shrinks to the tile one
 * iteration of the loop touches, allocated inside that loop (golden printed results), and the
 * compacted kernel computes what the unscheduled one does (interpreter at n = 1, 7, 16, 33;
 * compiled C at n = 1, 5, 16, 33, outputs poisoned with NaN first); buffers compaction must
 * leave alone (one reused across the iterations of a reduction loop, one at function scope
 * used by two nests) stay as they are. */
#include "sched_check.h"
#include "sched_jit.h"
#include "schedule/compact.h"
#include "transform/lower_tir.h"

/* Lowers s's function, compacts it, checks the printed result against the golden and the
 * numbers against the unscheduled kernel f. */
static void check_compact(const char *golden, const mlcc_prim_func *f, mlcc_schedule *s, const char *expect) {
    mlcc_prim_func *lowered = tir_lower_blocks(sch_func(s));
    mlcc_prim_func *got = tir_compact_buffers(lowered);
    CHECK_MSG(got != lowered, "%s: nothing was compacted", golden);
    char *actual = tir_func_to_string(got);
    char *expected = golden_text(golden, actual);
    CHECK_MSG(expected != NULL, "golden %s is missing (run with MLCC_UPDATE_GOLDEN=1)", golden);
    if (expected) CHECK_EQ_STR(actual, expected);
    CHECK_MSG(strstr(actual, expect) != NULL, "%s: no '%s' in\n%s", golden, expect, actual);
    CHECK_MSG(compare_at_sizes(f, got, 5) == 0, "%s: %s", golden, mlcc_last_error());
    CHECK_MSG(jit_compare_at_sizes(f, got, 6) == 0, "%s: %s", golden, mlcc_last_error());
    /* compacting again changes nothing */
    CHECK_MSG(tir_compact_buffers(got) == got, "%s: a second compaction changed the function", golden);
    free(actual);
    free(expected);
}

static void test_compute_at(void) {
    /* B = A * 3 per 4-row tile of C = B + 1: B becomes [4, 8] inside the tile loop */
    mlcc_prim_func *f = kernel_build(K_TWO_STAGE);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *o[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_split(s, l[0], (int64_t[]){SCH_INFER, 4}, 2, o), 0);
    CHECK_EQ_INT(sch_compute_at(s, "B", o[0]), 0);
    check_compact("compact_compute_at", f, s, "B = T.alloc_buffer((4, 8)");
    sch_free(s);

    /* the matmul row recomputed per row of the relu: C becomes one row, its k loop inside */
    f = kernel_build(K_MM_RELU);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "D"), &l);
    CHECK_EQ_INT(sch_compute_at(s, "C", l[0]), 0);
    check_compact("compact_compute_at_reduction", f, s, "C = T.alloc_buffer((1, 6)");
    sch_free(s);

    /* a column of the transposition per row of O: T becomes [5, 1] */
    f = kernel_build(K_TRANSPOSE);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "O"), &l);
    CHECK_EQ_INT(sch_compute_at(s, "T", l[0]), 0);
    check_compact("compact_compute_at_transposed", f, s, "T = T.alloc_buffer((5, 1)");
    sch_free(s);
}

static void test_cache_tiles(void) {
    /* the rows of A a 4-row tile of C needs: A_local [4, 8] per tile */
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *o[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_split(s, l[0], (int64_t[]){SCH_INFER, 4}, 2, o), 0);
    const char *c = sch_cache_read(s, "C", 0, "local");
    CHECK(c != NULL);
    CHECK_EQ_INT(sch_compute_at(s, c, o[0]), 0);
    check_compact("compact_cache_read", f, s, "A_local = T.alloc_buffer((4, 8)");
    sch_free(s);

    /* C accumulated per 4-row tile in C_local [4, 6], written back per tile */
    f = kernel_build(K_MATMUL);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_split(s, l[0], (int64_t[]){SCH_INFER, 4}, 2, o), 0);
    c = sch_cache_write(s, "C", 0, "local");
    CHECK(c != NULL);
    CHECK_EQ_INT(sch_reverse_compute_at(s, c, o[0]), 0);
    check_compact("compact_cache_write", f, s, "C_local = T.alloc_buffer((4, 6)");
    sch_free(s);
}

static void test_left_alone(void) {
    /* unscheduled: B is written by one nest and read by another, at function scope */
    mlcc_prim_func *f = kernel_build(K_TWO_STAGE);
    mlcc_prim_func *lowered = tir_lower_blocks(f);
    CHECK(tir_compact_buffers(lowered) == lowered);

    /* running sums: S is accumulated across the iterations of k and read in each, so it may not
     * become a fresh buffer per k (its index does not move with k)
     *     for k in range(4): for i in range(8):
     *         S[i] = select(k == 0, 0, S[i]) + A[k, i];  P[k, i] = S[i] */
    mlcc_buffer *A = ir_buffer_v("A", DT_F32, ir_int(4), ir_int(8), NULL), *P = ir_buffer_v("P", DT_F32, ir_int(4), ir_int(8), NULL);
    mlcc_buffer *S = ir_buffer_v("S", DT_F32, ir_int(8), NULL);
    mlcc_expr *k = ir_var("k", DT_I64), *i = ir_var("i", DT_I64);
    mlcc_expr *prev = ir_select(ir_eq(k, ir_int(0)), ir_float(DT_F32, 0), ir_load(S, &i, 1));
    mlcc_stmt *sum = ir_store(S, ir_add(prev, ir_load(A, (mlcc_expr *[]){k, i}, 2)), &i, 1);
    mlcc_stmt *out = ir_store(P, ir_load(S, &i, 1), (mlcc_expr *[]){k, i}, 2);
    mlcc_stmt *nest = ir_for(k, ir_int(0), ir_int(4), FOR_SERIAL, ir_for(i, ir_int(0), ir_int(8), FOR_SERIAL, ir_seq2(sum, out)));
    mlcc_prim_func *sums = ir_prim_func("running_sums", (mlcc_buffer *[]){A, P}, 2, ir_allocate(S, nest));
    CHECK(tir_compact_buffers(sums) == sums);

    /* the reduction's k loop outermost: the copy-back nest runs after it, so C_local stays at
     * function scope, whole */
    f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l;
    const char *c = sch_cache_write(s, sch_get_block(s, "C"), 0, "local");
    CHECK(c != NULL);
    sch_get_loops(s, "C", &l);
    CHECK_EQ_INT(sch_reorder(s, (mlcc_expr *[]){l[2], l[0]}, 2), 0);
    lowered = tir_lower_blocks(sch_func(s));
    mlcc_prim_func *got = tir_compact_buffers(lowered);
    char *text = tir_func_to_string(got);
    CHECK_MSG(strstr(text, "C_local = T.alloc_buffer((n, 6)") != NULL, "%s", text);
    CHECK_MSG(jit_compare_at_sizes(f, got, 7) == 0, "%s", mlcc_last_error());
    free(text);
    sch_free(s);
}

int main(void) {
    test_compute_at();
    test_cache_tiles();
    test_left_alone();
    return test_finish();
}
