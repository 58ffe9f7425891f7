/* fuzz_sched_replay.c - schedule traces as untrusted text: any input either fails to replay
 * with an error or replays to a program that computes what the unscheduled kernel does (checked
 * in the reference interpreter). The first byte picks the kernel. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schedule/schedule.h"
#include "support/alloc.h"
#include "support/error.h"
#include "tir_kernels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    kernel_kind k = (kernel_kind)(data[0] % K_COUNT);
    char *text = mlcc_xmalloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = 0;
    ir_scope_begin();
    mlcc_prim_func *f = kernel_build(k);
    mlcc_schedule *s = sch_create(f);
    /* (huge split factors can make a correct program too long to interpret: the harness's
     * iteration budget stops those, which is not a finding) */
    if (sch_replay(s, text) == 0 && kernel_compare(f, sch_func(s), 7, 1) != 0 &&
        !strstr(mlcc_last_error(), "iteration budget")) {
        fprintf(stderr, "replayed trace computes something else (%s): %s\n%s\n", kernel_name(k), mlcc_last_error(), text);
        abort();
    }
    sch_free(s);
    ir_scope_end();
    free(text);
    return 0;
}
