/* test_schedule_cache.c - cache_read and cache_write, alone and with compute_at /
 * reverse_compute_at narrowing the copies to a tile: golden printed results, numerical equality
 * with the unscheduled kernel (interpreter and compiled C, symbolic n), replay of the trace, and
 * rejection of illegal requests with the reason and no change. */
#include "sched_check.h"
#include "sched_jit.h"

static void check_all(const char *golden, const mlcc_prim_func *f, mlcc_schedule *s) {
    check_schedule(golden, f, s);
    CHECK_MSG(jit_compare_at_sizes(f, sch_func(s), 21) == 0, "%s: %s", golden, mlcc_last_error());
}

static void test_cache_read(void) {
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    const char *c = sch_cache_read(s, sch_get_block(s, "C"), 0, "local");
    CHECK(c && strcmp(c, "A_local") == 0);
    check_all("sched_cache_read", f, s);
    /* a second cache of the same buffer gets a fresh name */
    c = sch_cache_read(s, "C", 1, "shared");
    CHECK(c && strcmp(c, "B_shared") == 0);
    CHECK_MSG(compare_at_sizes(f, sch_func(s), 2) == 0, "%s", mlcc_last_error());
    CHECK_MSG(replay_matches(f, s) == 0, "%s", mlcc_last_error());
    sch_free(s);
}

static void test_cache_read_tile(void) {
    /* the rows of A a 4-row tile of C needs, copied per tile */
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *o[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_split(s, l[0], (int64_t[]){SCH_INFER, 4}, 2, o), 0);
    const char *c = sch_cache_read(s, "C", 0, "local");
    CHECK(c != NULL);
    CHECK_EQ_INT(sch_compute_at(s, c, o[0]), 0);
    check_all("sched_cache_read_tile", f, s);
    sch_free(s);
}

static void test_cache_write_tile(void) {
    /* C accumulated in a local buffer, written back per 4-row tile */
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *o[2];
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_split(s, l[0], (int64_t[]){SCH_INFER, 4}, 2, o), 0);
    const char *c = sch_cache_write(s, "C", 0, "local");
    CHECK(c && strcmp(c, "C_local") == 0);
    CHECK_MSG(compare_at_sizes(f, sch_func(s), 2) == 0, "%s", mlcc_last_error());
    CHECK_EQ_INT(sch_reverse_compute_at(s, c, o[0]), 0);
    check_all("sched_cache_write_tile", f, s);
    sch_free(s);

    /* an elementwise block and the epilogue chain */
    f = kernel_build(K_EPILOGUE);
    s = sch_create(f);
    CHECK(sch_cache_write(s, sch_get_block(s, "B"), 0, "global") != NULL);
    CHECK(sch_cache_read(s, "C", 0, "local") != NULL);
    CHECK_MSG(compare_at_sizes(f, sch_func(s), 2) == 0, "%s", mlcc_last_error());
    CHECK_MSG(replay_matches(f, s) == 0, "%s", mlcc_last_error());
    CHECK_MSG(jit_compare_at_sizes(f, sch_func(s), 4) == 0, "%s", mlcc_last_error());
    sch_free(s);
}

static void test_cache_errors(void) {
    mlcc_prim_func *f = kernel_build(K_MATMUL);
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l;
    CHECK_REJECTED(s, sch_cache_read(s, "C", 0, "texture") ? 0 : -1, "storage scope 'texture' is not one of");
    CHECK_REJECTED(s, sch_cache_read(s, "C", 2, "local") ? 0 : -1, "block 'C' has 2 read region(s); index 2 is out of range");
    CHECK_REJECTED(s, sch_cache_write(s, "C", -1, "local") ? 0 : -1, "index -1 is out of range");
    CHECK_REJECTED(s, sch_cache_write(s, "X", 0, "local") ? 0 : -1, "no block named 'X'");
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK(sch_decompose_reduction(s, "C", l[0]) != NULL);
    CHECK_REJECTED(s, sch_cache_write(s, "C", 0, "local") ? 0 : -1, "buffer 'C' of block 'C' is also written by block 'C_init'");
    CHECK(sch_blockize(s, l[1]) != NULL);
    CHECK_REJECTED(s, sch_cache_read(s, "C", 0, "local") ? 0 : -1, "block 'C' is nested in block 'C_o'");
    sch_free(s);

    /* B computed inside C's loops: a copy of B before them would read it unwritten */
    f = kernel_build(K_TWO_STAGE);
    s = sch_create(f);
    sch_get_loops(s, sch_get_block(s, "C"), &l);
    CHECK_EQ_INT(sch_compute_at(s, "B", l[0]), 0);
    CHECK_REJECTED(s, sch_cache_read(s, "C", 0, "local") ? 0 : -1, "block 'B' writes 'B' in the same loop nest as block 'C'");
    CHECK_REJECTED(s, sch_cache_write(s, "B", 0, "local") ? 0 : -1, "block 'C' reads 'B' in the same loop nest as block 'B'");
    sch_free(s);
}

int main(void) {
    test_cache_read();
    test_cache_read_tile();
    test_cache_write_tile();
    test_cache_errors();
    return test_finish();
}
