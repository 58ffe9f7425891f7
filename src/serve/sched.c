/* sched.c - sequences onto the continuous-batching engine (see sched.h).
 *
 * An abort may come before mlcc_engine_submit has returned the engine's id (another thread
 * aborts the request while it is being submitted): the per-sequence cancel flag is set first
 * and checked after the id is stored, so one of the two sides always aborts in the engine. */
#include "serve/sched.h"

#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"

struct serve_sched {
    mlcc_engine *engine;
};

static void on_engine_event(void *ctx, const mlcc_engine_event *ev) {
    serve_seq *seq = ctx;
    int carries = ev->token >= 0 || ev->len > 0;
    if (!seq->started && carries) { /* (a request aborted while waiting never starts) */
        seq->started = 1;
        if (seq->on_start) seq->on_start(seq);
    }
    if (carries) seq->on_token(seq, ev);
    if (ev->finish_reason) {
        mlcc_gen_result r;
        if (ev->result) r = *ev->result;
        else memset(&r, 0, sizeof r);
        r.finish_reason = ev->finish_reason;
        seq->on_finish(seq, &r);
    }
}

serve_sched *serve_sched_new(mlcc_engine *engine) {
    serve_sched *s = mlcc_xcalloc(1, sizeof *s);
    s->engine = engine;
    return s;
}

void serve_sched_free(serve_sched *s) {
    free(s);
}

int serve_sched_submit(serve_sched *s, serve_seq *seq) {
    int64_t id = mlcc_engine_submit(s->engine, seq->prompt, seq->nprompt, &seq->gen, on_engine_event, seq);
    if (id < 0) return -1;
    atomic_store(&seq->engine_id, id);
    if (atomic_load(&seq->cancel)) mlcc_engine_abort(s->engine, id);
    return 0;
}

void serve_sched_abort(serve_sched *s, serve_seq *seq) {
    atomic_store(&seq->cancel, 1);
    int64_t id = atomic_load(&seq->engine_id);
    if (id > 0) mlcc_engine_abort(s->engine, id); /* unknown or finished ids are ignored */
}

void serve_sched_stats(serve_sched *s, mlcc_engine_stats *out) {
    mlcc_engine_get_stats(s->engine, out);
}
