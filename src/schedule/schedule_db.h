/* schedule_db.h - a database of tuned schedules keyed by the structural hash of the PrimFunc
 * they were made for (ir/structural.h): a schedule found for a function replaces the default
 * rules' one (transform/default_schedule.c).
 *
 * The database is a folder; an entry is two files named after the 16-hex-digit hash:
 *     <hash>.trace   the schedule as sch_trace_str prints it (sch_replay's language)
 *     <hash>.func    the function's canonical form (tir_canonical_form), which a lookup
 *                    compares with the function's own, so that a hash collision or a stale
 *                    entry is never applied to another function
 * Entries are written atomically. Lookups never fail hard: an unreadable or mismatched entry
 * is "no entry" (with a warning where a file was there but could not be used). */
#ifndef MLCC_SCHEDULE_SCHEDULE_DB_H
#define MLCC_SCHEDULE_SCHEDULE_DB_H

#include "ir/tir.h"

/* The trace stored for f in folder dir (malloc'ed), or NULL when there is none. */
char *sched_db_lookup(const char *dir, const mlcc_prim_func *f);
/* Stores trace as f's schedule in dir (created if needed); 0, or -1 with an error. */
int sched_db_store(const char *dir, const mlcc_prim_func *f, const char *trace);
/* The folder of the database the build uses: $MLCC_SCHEDULE_DB, or NULL for none. */
const char *sched_db_default_dir(void);

#endif
