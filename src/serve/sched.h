/* sched.h - the seam between the request layer (llm.c) and the engine: sequences go in, token
 * events and a finish come out through callbacks.
 *
 * The engine (engine/engine.h) batches every submitted request itself (continuous batching,
 * prefix caching, preemption); this layer maps a sequence (one choice of one prompt) onto one
 * engine request and its events onto the sequence's callbacks, and keeps an abort that comes
 * before the engine knows the request from being lost.
 *
 * Callbacks run on the engine's thread. on_start comes with the sequence's first event,
 * on_token with every event that carries a token or text, on_finish exactly once, last. */
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
    /* ev->text (ev->len bytes, possibly empty), ev->token (-1: none), logprobs */
    void (*on_token)(serve_seq *seq, const mlcc_engine_event *ev);
    /* result->finish_reason: "stop", "length", "cancelled" or "error" (message in ->error) */
    void (*on_finish)(serve_seq *seq, const mlcc_gen_result *result);
    /* the scheduler's */
    atomic_llong engine_id; /* 0 until submitted */
    atomic_int cancel;
    int started;
};

typedef struct serve_sched serve_sched;

/* The scheduler borrows the engine (free the engine first: it finishes every open request). */
serve_sched *serve_sched_new(mlcc_engine *engine);
void serve_sched_free(serve_sched *s);
/* Hands seq to the engine. -1 + error when the engine refuses it (nothing will be called). */
int serve_sched_submit(serve_sched *s, serve_seq *seq);
/* Aborts seq if it has not finished; its on_finish ("cancelled") comes at the engine's next
 * step. Any thread. */
void serve_sched_abort(serve_sched *s, serve_seq *seq);
/* Engine-wide counters (sequences, KV pages). */
void serve_sched_stats(serve_sched *s, mlcc_engine_stats *out);

#endif
