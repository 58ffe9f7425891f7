/* schedule_db.c - tuned schedules keyed by structural hash (see schedule_db.h). */
#include "schedule/schedule_db.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/structural.h"
#include "support/error.h"
#include "support/file.h"
#include "support/log.h"

/* dir/<hash><ext> (malloc'ed). */
static char *entry_path(const char *dir, const mlcc_prim_func *f, const char *ext) {
    char name[40];
    snprintf(name, sizeof name, "%016" PRIx64 "%s", tir_structural_hash(f), ext);
    return mlcc_path_join(dir, name);
}

char *sched_db_lookup(const char *dir, const mlcc_prim_func *f) {
    if (!dir || !*dir) return NULL;
    char *trace_path = entry_path(dir, f, ".trace"), *func_path = entry_path(dir, f, ".func");
    char *trace = NULL, *stored = NULL, *mine = NULL;
    if (!mlcc_file_exists(trace_path)) goto done;
    size_t len;
    stored = mlcc_read_file(func_path, &len);
    mine = tir_canonical_form(f);
    if (!stored || strcmp(stored, mine) != 0) {
        LOG_WARN("schedule db: %s: %s does not hold %s's form (a stale entry or a hash collision); not used", trace_path,
                 func_path, f->name);
        goto done;
    }
    trace = mlcc_read_file(trace_path, &len);
    if (!trace) LOG_WARN("schedule db: %s: %s", trace_path, mlcc_last_error());
done:
    mlcc_clear_error();
    free(trace_path), free(func_path), free(stored), free(mine);
    return trace;
}

int sched_db_store(const char *dir, const mlcc_prim_func *f, const char *trace) {
    if (mlcc_mkdirs(dir) != 0) return mlcc_prefix_error("schedule db %s", dir);
    char *trace_path = entry_path(dir, f, ".trace"), *func_path = entry_path(dir, f, ".func");
    char *form = tir_canonical_form(f);
    /* the form first: a reader that finds the trace finds its form too */
    int rc = mlcc_write_file_atomic(func_path, form, strlen(form));
    if (rc == 0) rc = mlcc_write_file_atomic(trace_path, trace, strlen(trace));
    if (rc) mlcc_prefix_error("schedule db %s", dir);
    free(trace_path), free(func_path), free(form);
    return rc;
}

const char *sched_db_default_dir(void) {
    const char *dir = getenv("MLCC_SCHEDULE_DB");
    return dir && *dir ? dir : NULL;
}
