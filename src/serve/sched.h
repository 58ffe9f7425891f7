/* sched.h - the seam between the request layer and the engine: sequences go in, text and a
 * finish come out through callbacks.
 *
 * Each sequence is one request of the continuous-batching engine (engine/engine.h): they run
 * batched, and an abort reaches the engine at once. The request layer (llm.c) only uses the
 * functions below and the callbacks.
 *
 * A sequence is one choice of one prompt. Callbacks run on the engine's thread, except that a
 * request the engine refuses finishes on the submitting thread. on_finish is called exactly
 * once per submitted sequence, last. */
#ifndef MLCC_SERVE_SCHED_H
#define MLCC_SERVE_SCHED_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"

typedef struct serve_seq serve_seq;
struct serve_seq {
    /* set by the submitter, read-only afterwards */
    const int32_t *prompt;
    size_t nprompt;
    mlcc_gen_config gen;
    void *owner;
    void (*on_start)(serve_seq *seq);
    void (*on_text)(serve_seq *seq, const char *text, size_t len);
    /* result->finish_reason: "stop", "length", "cancelled" or "error" (message in ->error) */
    void (*on_finish)(serve_seq *seq, const mlcc_gen_result *result);
    /* the scheduler's */
    serve_seq *next;
    int state; /* SEQ_* in sched.c */
    atomic_int cancel;
    int64_t engine_id;
    struct serve_sched *sched;
};

typedef struct serve_sched serve_sched;

/* The scheduler borrows the engine. */
serve_sched *serve_sched_new(mlcc_engine *engine);
/* Aborts whatever waits or runs and waits for their on_finish. */
void serve_sched_free(serve_sched *s);
/* Hands seq to the engine. */
void serve_sched_submit(serve_sched *s, serve_seq *seq);
/* Aborts seq if it is still waiting or running (no-op once finished). */
void serve_sched_abort(serve_sched *s, serve_seq *seq);
void serve_sched_counts(serve_sched *s, int *running, int *waiting);

#endif
