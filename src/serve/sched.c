/* sched.c - the request layer's seam over the continuous-batching engine (see sched.h).
 *
 * Each sequence becomes one engine request (mlcc_engine_submit); the engine's events are
 * turned into on_start (first event), on_text and on_finish (last event). `lock` guards the
 * list of sequences in flight and their states, so an abort never races with a finish, and
 * serve_sched_free can abort what is left and wait for every on_finish. on_finish is called
 * without the lock held (it may free the sequence) and the sequence is not touched after it. */
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
    pthread_mutex_t lock;
    pthread_cond_t idle;
    serve_seq *live; /* in flight, linked through next */
    int nlive;
};

static void unlink_live(serve_sched *s, serve_seq *seq) {
    for (serve_seq **pp = &s->live; *pp; pp = &(*pp)->next)
        if (*pp == seq) {
            *pp = seq->next;
            seq->next = NULL;
            s->nlive--;
            return;
        }
}

static void on_event(void *ctx, const mlcc_engine_event *ev) {
    serve_seq *seq = ctx;
    serve_sched *s = seq->sched;
    pthread_mutex_lock(&s->lock);
    int first = seq->state == SEQ_WAITING;
    if (first) seq->state = SEQ_RUNNING;
    if (ev->finish_reason) {
        seq->state = SEQ_DONE;
        unlink_live(s, seq);
    }
    pthread_mutex_unlock(&s->lock);
    if (first && seq->on_start) seq->on_start(seq);
    if (ev->len) seq->on_text(seq, ev->text, ev->len);
    if (!ev->finish_reason) return;
    seq->on_finish(seq, ev->result);
    pthread_mutex_lock(&s->lock);
    if (s->nlive == 0) pthread_cond_broadcast(&s->idle);
    pthread_mutex_unlock(&s->lock);
}

serve_sched *serve_sched_new(mlcc_engine *engine) {
    serve_sched *s = mlcc_xcalloc(1, sizeof *s);
    s->engine = engine;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->idle, NULL);
    return s;
}

void serve_sched_submit(serve_sched *s, serve_seq *seq) {
    seq->sched = s;
    pthread_mutex_lock(&s->lock);
    seq->state = SEQ_WAITING;
    seq->next = s->live;
    s->live = seq;
    s->nlive++;
    /* an abort that came before the submission still counts: the engine finishes it at once */
    int cancelled = atomic_load(&seq->cancel);
    int64_t id = mlcc_engine_submit(s->engine, seq->prompt, seq->nprompt, &seq->gen, on_event, seq);
    seq->engine_id = id;
    if (id > 0 && cancelled) mlcc_engine_abort(s->engine, id);
    if (id < 0) {
        seq->state = SEQ_DONE;
        unlink_live(s, seq);
    }
    pthread_mutex_unlock(&s->lock);
    if (id < 0) { /* a request the engine refused */
        mlcc_gen_result r;
        memset(&r, 0, sizeof r);
        r.finish_reason = "error";
        r.prompt_tokens = (int)seq->nprompt;
        snprintf(r.error, sizeof r.error, "%s", mlcc_last_error());
        seq->on_finish(seq, &r);
    }
}

void serve_sched_abort(serve_sched *s, serve_seq *seq) {
    pthread_mutex_lock(&s->lock);
    atomic_store(&seq->cancel, 1);
    if ((seq->state == SEQ_WAITING || seq->state == SEQ_RUNNING) && seq->engine_id > 0)
        mlcc_engine_abort(s->engine, seq->engine_id);
    pthread_mutex_unlock(&s->lock);
}

void serve_sched_counts(serve_sched *s, int *running, int *waiting) {
    mlcc_engine_stats st;
    mlcc_engine_get_stats(s->engine, &st);
    *running = st.running;
    *waiting = st.waiting;
}

void serve_sched_free(serve_sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    for (serve_seq *q = s->live; q; q = q->next) {
        atomic_store(&q->cancel, 1);
        if (q->engine_id > 0) mlcc_engine_abort(s->engine, q->engine_id);
    }
    while (s->nlive > 0) pthread_cond_wait(&s->idle, &s->lock);
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->idle);
    free(s);
}
