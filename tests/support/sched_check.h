/* sched_check.h - checks shared by the schedule tests: a finished schedule against its golden
 * text, the unscheduled kernel (numerically, in the interpreter) and its replayed trace; an
 * illegal request rejected with its reason and no change. */
#ifndef MLCC_TEST_SCHED_CHECK_H
#define MLCC_TEST_SCHED_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "ir/printer.h"
#include "schedule/schedule.h"
#include "support/error.h"
#include "test.h"
#include "tir_kernels.h"

/* Golden text, numerics and replay of a finished schedule. */
static inline void check_schedule(const char *golden, const mlcc_prim_func *ref, mlcc_schedule *s) {
    char *trace = sch_trace_str(s);
    char *actual = schedule_text(sch_func(s), trace);
    char *expected = golden_text(golden, actual);
    CHECK_MSG(expected != NULL, "golden %s is missing (run with MLCC_UPDATE_GOLDEN=1)", golden);
    if (expected) CHECK_EQ_STR(actual, expected);
    CHECK_MSG(compare_at_sizes(ref, sch_func(s), 1) == 0, "%s: %s", golden, mlcc_last_error());
    CHECK_MSG(replay_matches(ref, s) == 0, "%s: %s", golden, mlcc_last_error());
    free(trace);
    free(actual);
    free(expected);
}

/* The request fails, its message mentions `reason`, and the function is unchanged. */
#define CHECK_REJECTED(s, call, reason)                                                            \
    do {                                                                                           \
        char *before_ = tir_func_to_string(sch_func(s));                                           \
        int traced_ = sch_trace_len(s);                                                            \
        mlcc_clear_error();                                                                        \
        CHECK((call) != 0);                                                                        \
        CHECK_MSG(strstr(mlcc_last_error(), reason) != NULL, "message: %s", mlcc_last_error());    \
        char *after_ = tir_func_to_string(sch_func(s));                                            \
        CHECK_EQ_STR(after_, before_);                                                             \
        CHECK_EQ_INT(sch_trace_len(s), traced_);                                                   \
        free(before_);                                                                             \
        free(after_);                                                                              \
    } while (0)

#endif
