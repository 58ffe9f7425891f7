/* sched.c - FIFO scheduler over the one-request-at-a-time engine (see sched.h).
 *
 * `lock` guards the queue, `running` and every seq->state. The dispatcher thread pops a
 * sequence, marks it running and calls mlcc_engine_generate, which blocks it while the
 * engine's worker thread streams text through text_trampoline. on_finish is always called
 * without the lock held, so it may free the sequence.
 *
 * Cancelling: mlcc_engine_generate clears the engine's cancel flag when it starts, so a cancel
 * that lands just before that would be lost; the per-sequence flag closes the gap (checked
 * before generate, and re-applied from the text callback). */
#include "serve/sched.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/error.h"

enum { SEQ_NEW, SEQ_WAITING, SEQ_RUNNING, SEQ_DONE };

struct serve_sched {
    mlcc_engine *engine;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    serve_seq *head, *tail; /* waiting, FIFO */
    int nwaiting;
    serve_seq *running;
    int quit;
};

static void finish_cancelled(serve_seq *seq) {
    mlcc_gen_result r;
    memset(&r, 0, sizeof r);
    r.finish_reason = "cancelled";
    r.prompt_tokens = (int)seq->nprompt;
    seq->on_finish(seq, &r);
}

typedef struct trampoline_ctx {
    serve_sched *sched;
    serve_seq *seq;
} trampoline_ctx;

static void text_trampoline(void *ctx, const char *text, size_t len) {
    trampoline_ctx *t = ctx;
    if (atomic_load(&t->seq->cancel)) {
        mlcc_engine_cancel(t->sched->engine);
        return;
    }
    t->seq->on_text(t->seq, text, len);
}

static void run_one(serve_sched *s, serve_seq *seq) {
    mlcc_gen_result r;
    memset(&r, 0, sizeof r);
    if (seq->on_start) seq->on_start(seq);
    if (atomic_load(&seq->cancel)) {
        r.finish_reason = "cancelled";
        r.prompt_tokens = (int)seq->nprompt;
    } else {
        trampoline_ctx t = {s, seq};
        if (mlcc_engine_generate(s->engine, seq->prompt, seq->nprompt, &seq->gen, text_trampoline, &t, &r) != 0) {
            r.finish_reason = "error";
            snprintf(r.error, sizeof r.error, "%s", mlcc_last_error());
        }
    }
    pthread_mutex_lock(&s->lock);
    s->running = NULL;
    seq->state = SEQ_DONE;
    pthread_mutex_unlock(&s->lock);
    seq->on_finish(seq, &r);
}

static void *dispatcher_main(void *arg) {
    serve_sched *s = arg;
    pthread_mutex_lock(&s->lock);
    for (;;) {
        while (!s->head && !s->quit) pthread_cond_wait(&s->wake, &s->lock);
        if (!s->head) break; /* quit with nothing left */
        serve_seq *seq = s->head;
        s->head = seq->next;
        if (!s->head) s->tail = NULL;
        s->nwaiting--;
        seq->next = NULL;
        seq->state = SEQ_RUNNING;
        s->running = seq;
        pthread_mutex_unlock(&s->lock);
        run_one(s, seq);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

serve_sched *serve_sched_new(mlcc_engine *engine) {
    serve_sched *s = mlcc_xcalloc(1, sizeof *s);
    s->engine = engine;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->wake, NULL);
    if (pthread_create(&s->thread, NULL, dispatcher_main, s) != 0) {
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->wake);
        free(s);
        mlcc_set_error("serve: cannot start the dispatcher thread");
        return NULL;
    }
    return s;
}

void serve_sched_submit(serve_sched *s, serve_seq *seq) {
    /* seq->cancel is not cleared: an abort that came before the submission still counts */
    seq->next = NULL;
    pthread_mutex_lock(&s->lock);
    seq->state = SEQ_WAITING;
    if (s->tail) s->tail->next = seq;
    else s->head = seq;
    s->tail = seq;
    s->nwaiting++;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
}

/* Unlinks a waiting seq; the lock is held. */
static void unlink_waiting(serve_sched *s, serve_seq *seq) {
    serve_seq **pp = &s->head, *prev = NULL;
    while (*pp && *pp != seq) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp) return;
    *pp = seq->next;
    if (s->tail == seq) s->tail = prev;
    seq->next = NULL;
    s->nwaiting--;
}

void serve_sched_abort(serve_sched *s, serve_seq *seq) {
    int finish_now = 0;
    pthread_mutex_lock(&s->lock);
    atomic_store(&seq->cancel, 1);
    if (seq->state == SEQ_WAITING) {
        unlink_waiting(s, seq);
        seq->state = SEQ_DONE;
        finish_now = 1;
    } else if (seq->state == SEQ_RUNNING) {
        mlcc_engine_cancel(s->engine);
    }
    pthread_mutex_unlock(&s->lock);
    if (finish_now) finish_cancelled(seq);
}

void serve_sched_counts(serve_sched *s, int *running, int *waiting) {
    pthread_mutex_lock(&s->lock);
    *running = s->running != NULL;
    *waiting = s->nwaiting;
    pthread_mutex_unlock(&s->lock);
}

void serve_sched_free(serve_sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    serve_seq *waiting = s->head;
    for (serve_seq *q = waiting; q; q = q->next) q->state = SEQ_DONE;
    s->head = s->tail = NULL;
    s->nwaiting = 0;
    if (s->running) {
        atomic_store(&s->running->cancel, 1);
        mlcc_engine_cancel(s->engine);
    }
    s->quit = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    while (waiting) {
        serve_seq *next = waiting->next;
        waiting->next = NULL;
        finish_cancelled(waiting);
        waiting = next;
    }
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
    free(s);
}
