/* test_schedule_db.c - the schedule database (schedule/schedule_db.h) and its use by the
 * default_schedule pass:
 *   - a trace stored for a matmul replaces the default rules' schedule for it: the pass's
 *     result is structurally equal to the traced schedule's function, differs from the
 *     default one, says "tuned schedule" in its origin, and computes what the unscheduled
 *     kernel computes (interpreter, several sizes of the symbolic rows);
 *   - the key is structural: the same kernel built again (fresh vars and buffers) finds the
 *     entry; another kernel in the module does not, and gets the default rules;
 *   - a trace that does not replay, or an entry whose stored form is another function's
 *     (stale, or a hash collision), is not used: the default rules run instead;
 *   - MLCC_SCHEDULE_DB_RECORD=1 stores the default rules' schedules, which replay to them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ir/module.h"
#include "ir/structural.h"
#include "schedule/schedule.h"
#include "schedule/schedule_db.h"
#include "support/file.h"
#include "test.h"
#include "tir_kernels.h"
#include "transform/pass.h"

/* The pass over a module of {f, rowsum}; f's result into *got, rowsum's into *other. */
static void run_pass(mlcc_prim_func *f, mlcc_prim_func *rowsum, mlcc_prim_func **got, mlcc_prim_func **other) {
    mlcc_ir_module *m = irmod_new();
    irmod_add_prim(m, "mm", f);
    irmod_add_prim(m, "rowsum", rowsum);
    mlcc_ir_module *out = pass_default_schedule(m, NULL);
    *got = irmod_get_prim(out, "mm");
    *other = irmod_get_prim(out, "rowsum");
}

/* A schedule no default rule makes: rows split by 4 (inner unrolled), outer rows parallel. */
static mlcc_schedule *tuned(mlcc_prim_func *f) {
    mlcc_schedule *s = sch_create(f);
    mlcc_expr **l, *parts[2];
    CHECK_EQ_INT(sch_get_loops(s, sch_get_block(s, "C"), &l), 3);
    CHECK(sch_split(s, l[0], (int64_t[]){SCH_INFER, 4}, 2, parts) == 0);
    CHECK(sch_unroll(s, parts[1]) == 0);
    CHECK(sch_parallel(s, parts[0]) == 0);
    return s;
}

int main(void) {
    char dir[] = "/tmp/mlcc-schedule-db-XXXXXX";
    if (!mkdtemp(dir)) TEST_SKIP("cannot create a temporary folder");
    unsetenv("MLCC_SCHEDULE_DB");
    CHECK(sched_db_default_dir() == NULL);

    mlcc_prim_func *f = kernel_build(K_MATMUL), *rowsum = kernel_build(K_ROWSUM);
    mlcc_prim_func *def_mm, *def_rowsum;
    run_pass(f, rowsum, &def_mm, &def_rowsum);
    CHECK(sched_db_lookup(dir, f) == NULL);

    mlcc_schedule *s = tuned(f);
    char *trace = sch_trace_str(s);
    CHECK(sched_db_store(dir, f, trace) == 0);
    char *back = sched_db_lookup(dir, f);
    CHECK(back && !strcmp(back, trace));
    free(back);

    setenv("MLCC_SCHEDULE_DB", dir, 1);
    CHECK(sched_db_default_dir() && !strcmp(sched_db_default_dir(), dir));
    mlcc_prim_func *again = kernel_build(K_MATMUL), *rowsum2 = kernel_build(K_ROWSUM);
    mlcc_prim_func *got, *other;
    run_pass(again, rowsum2, &got, &other);
    CHECK_MSG(tir_structural_equal(got, sch_func(s)), "the tuned schedule was not applied:\n%s", tir_canonical_form(got));
    CHECK(!tir_structural_equal(got, def_mm));
    CHECK_MSG(got->origin && strstr(got->origin, "tuned schedule"), "origin: %s", got->origin ? got->origin : "(none)");
    CHECK_MSG(compare_at_sizes(f, got, 7) == 0, "tuned: %s", mlcc_last_error());
    CHECK(tir_structural_equal(other, def_rowsum)); /* no entry: the default rules */

    /* a trace that does not replay: the default rules */
    char *trace_path = NULL, *func_path = NULL;
    {
        char name[40];
        snprintf(name, sizeof name, "%016llx.trace", (unsigned long long)tir_structural_hash(f));
        trace_path = mlcc_path_join(dir, name);
        snprintf(name, sizeof name, "%016llx.func", (unsigned long long)tir_structural_hash(f));
        func_path = mlcc_path_join(dir, name);
    }
    CHECK(mlcc_file_exists(trace_path) && mlcc_file_exists(func_path));
    const char *bad = "b0 = sch.get_block(\"C\")\nl1, l2, l3 = sch.get_loops(b0)\nsch.vectorize(l3)\n";
    CHECK(mlcc_write_file_atomic(trace_path, bad, strlen(bad)) == 0);
    run_pass(kernel_build(K_MATMUL), kernel_build(K_ROWSUM), &got, &other);
    CHECK(tir_structural_equal(got, def_mm));

    /* a stored form that is another function's: not used */
    CHECK(mlcc_write_file_atomic(trace_path, trace, strlen(trace)) == 0);
    char *rowsum_form = tir_canonical_form(rowsum);
    CHECK(mlcc_write_file_atomic(func_path, rowsum_form, strlen(rowsum_form)) == 0);
    CHECK(sched_db_lookup(dir, f) == NULL);
    run_pass(kernel_build(K_MATMUL), kernel_build(K_ROWSUM), &got, &other);
    CHECK(tir_structural_equal(got, def_mm));
    free(rowsum_form);

    /* MLCC_SCHEDULE_DB_RECORD=1: the default schedule of rowsum is stored, and replays to it */
    setenv("MLCC_SCHEDULE_DB_RECORD", "1", 1);
    run_pass(kernel_build(K_MATMUL), kernel_build(K_ROWSUM), &got, &other);
    unsetenv("MLCC_SCHEDULE_DB_RECORD");
    char *recorded = sched_db_lookup(dir, rowsum);
    CHECK(recorded && strstr(recorded, "sch.parallel("));
    if (recorded) {
        mlcc_schedule *r = sch_create(rowsum);
        CHECK(sch_replay(r, recorded) == 0);
        CHECK(tir_structural_equal(sch_func(r), def_rowsum));
        sch_free(r);
    }
    free(recorded);
    char name[40];
    snprintf(name, sizeof name, "%016llx.trace", (unsigned long long)tir_structural_hash(rowsum));
    char *p1 = mlcc_path_join(dir, name);
    snprintf(name, sizeof name, "%016llx.func", (unsigned long long)tir_structural_hash(rowsum));
    char *p2 = mlcc_path_join(dir, name);
    unlink(p1), unlink(p2), free(p1), free(p2);

    unsetenv("MLCC_SCHEDULE_DB");
    unlink(trace_path), unlink(func_path), rmdir(dir);
    free(trace_path), free(func_path), free(trace);
    sch_free(s);
    return test_finish();
}
