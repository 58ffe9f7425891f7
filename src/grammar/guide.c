/* guide.c - the engine's per-request grammar helper (see guide.h).
 *
 * The mask for the next token depends only on the tokens accepted so far, so as soon as a
 * token is accepted the next mask is computed on a worker thread while the engine runs the
 * forward pass; mask() then only waits for it (usually already done; one no worker has
 * started yet is taken back and computed by the caller) and applies it. Workers
 * are shared by all guides of the process (GUIDE_WORKERS threads, started on first use); a
 * guide's matcher is used by one thread at a time: the worker between accept() and the end of
 * its job, the engine thread otherwise (the lock and condition hand it over).
 * With fewer than GUIDE_MIN_CORES cores masks are computed inline (no core is free for a
 * worker); MLCC_GRAMMAR_ASYNC=1 or 0 forces either way. */
#include "grammar/guide.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support/alloc.h"
#include "support/error.h"

#define GUIDE_WORKERS 2
#define GUIDE_MIN_CORES 4 /* fewer: masks are computed inline unless MLCC_GRAMMAR_ASYNC=1 */

struct mlcc_grammar_guide {
    mlcc_grammar_matcher *m;
    mlcc_grammar_vocab *v;
    uint32_t *mask;
    size_t words;
    /* asynchronous next mask: queued or running (pending), or done (ready) */
    pthread_mutex_t lock;
    pthread_cond_t done;
    int pending, ready;
    mlcc_grammar_guide *next_job;
};

/* time the calling threads spent in mask() and accept() (what the engine's step waits for) */
static uint64_t caller_ns, caller_calls;

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void count_caller(uint64_t t0) {
    __atomic_add_fetch(&caller_ns, now_ns() - t0, __ATOMIC_RELAXED);
    __atomic_add_fetch(&caller_calls, 1, __ATOMIC_RELAXED);
}

void mlcc_grammar_guide_stats(double *seconds, uint64_t *masks) {
    *seconds = (double)__atomic_load_n(&caller_ns, __ATOMIC_RELAXED) * 1e-9;
    *masks = __atomic_load_n(&caller_calls, __ATOMIC_RELAXED);
}

/* ---- the workers ---- */

static struct {
    pthread_once_t once;
    pthread_mutex_t lock;
    pthread_cond_t work;
    mlcc_grammar_guide *head, *tail;
    int async; /* 0: MLCC_GRAMMAR_ASYNC=0, or the threads could not start */
} pool = {.once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER};

static void *worker_main(void *arg) {
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&pool.lock);
        while (!pool.head) pthread_cond_wait(&pool.work, &pool.lock);
        mlcc_grammar_guide *gd = pool.head;
        pool.head = gd->next_job;
        if (!pool.head) pool.tail = NULL;
        pthread_mutex_unlock(&pool.lock);
        mlcc_grammar_fill_next_token_bitmask(gd->m, gd->mask);
        pthread_mutex_lock(&gd->lock);
        gd->pending = 0;
        gd->ready = 1;
        pthread_cond_broadcast(&gd->done);
        pthread_mutex_unlock(&gd->lock);
    }
    return NULL;
}

static void start_workers(void) {
    /* with few cores the workers wait for a core (the forward pass uses them all on the CPU):
     * measured on a 2-vCPU VM, waking a worker cost more than computing the mask inline */
    const char *env = getenv("MLCC_GRAMMAR_ASYNC");
    if (env ? !strcmp(env, "0") : sysconf(_SC_NPROCESSORS_ONLN) < GUIDE_MIN_CORES) return;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (int i = 0; i < GUIDE_WORKERS; i++) {
        pthread_t t;
        if (pthread_create(&t, &attr, worker_main, NULL) == 0) pool.async = 1;
    }
    pthread_attr_destroy(&attr);
}

static void queue_mask(mlcc_grammar_guide *gd) {
    pthread_mutex_lock(&gd->lock);
    gd->pending = 1;
    gd->ready = 0;
    gd->next_job = NULL;
    pthread_mutex_unlock(&gd->lock);
    pthread_mutex_lock(&pool.lock);
    if (pool.tail)
        pool.tail->next_job = gd;
    else
        pool.head = gd;
    pool.tail = gd;
    pthread_cond_signal(&pool.work);
    pthread_mutex_unlock(&pool.lock);
}

/* Waits until no job of gd is queued or running. */
static void wait_idle(mlcc_grammar_guide *gd) {
    pthread_mutex_lock(&gd->lock);
    while (gd->pending) pthread_cond_wait(&gd->done, &gd->lock);
    pthread_mutex_unlock(&gd->lock);
}

/* Takes gd's job back if no worker has started it (the engine thread then computes the mask
 * itself rather than wait for a worker to be scheduled). */
static void take_back(mlcc_grammar_guide *gd) {
    pthread_mutex_lock(&pool.lock);
    mlcc_grammar_guide **p = &pool.head, *prev = NULL;
    while (*p && *p != gd) {
        prev = *p;
        p = &(*p)->next_job;
    }
    if (*p) {
        *p = gd->next_job;
        if (pool.tail == gd) pool.tail = prev;
        pthread_mutex_lock(&gd->lock);
        gd->pending = 0;
        pthread_mutex_unlock(&gd->lock);
    }
    pthread_mutex_unlock(&pool.lock);
}

/* ---- the guide ---- */

mlcc_grammar_guide *mlcc_grammar_guide_new(const mlcc_grammar *g, mlcc_grammar_vocab *v) {
    pthread_once(&pool.once, start_workers);
    mlcc_grammar_guide *gd = mlcc_xcalloc(1, sizeof *gd);
    /* the matcher only adds to the grammar's mask cache, under its lock */
    gd->m = mlcc_grammar_matcher_new((mlcc_grammar *)g, v);
    gd->v = v;
    gd->words = mlcc_grammar_mask_words(v);
    gd->mask = mlcc_xmalloc(gd->words * sizeof(uint32_t));
    pthread_mutex_init(&gd->lock, NULL);
    pthread_cond_init(&gd->done, NULL);
    return gd;
}

void mlcc_grammar_guide_free(mlcc_grammar_guide *gd) {
    if (!gd) return;
    take_back(gd);
    wait_idle(gd); /* a running job still uses it */
    mlcc_grammar_matcher_free(gd->m);
    pthread_mutex_destroy(&gd->lock);
    pthread_cond_destroy(&gd->done);
    free(gd->mask);
    free(gd);
}

int mlcc_grammar_guide_mask(mlcc_grammar_guide *gd, float *logits, int nlogits) {
    uint64_t t0 = now_ns();
    take_back(gd);
    wait_idle(gd);
    if (!gd->ready) mlcc_grammar_fill_next_token_bitmask(gd->m, gd->mask); /* the first, or inline */
    gd->ready = 1;
    int any = 0;
    for (size_t w = 0; w < gd->words && !any; w++) any = gd->mask[w] != 0;
    if (!any) return mlcc_set_error("grammar: no token of the vocabulary can continue the output");
    mlcc_grammar_apply_bitmask(logits, nlogits, gd->mask, mlcc_grammar_vocab_size(gd->v));
    count_caller(t0);
    return 0;
}

int mlcc_grammar_guide_accept(mlcc_grammar_guide *gd, int32_t token) {
    uint64_t t0 = now_ns();
    wait_idle(gd);
    gd->ready = 0;
    if (mlcc_grammar_accept_token(gd->m, token)) return -1;
    int done = mlcc_grammar_is_terminated(gd->m);
    if (!done && pool.async) queue_mask(gd); /* the next mask, while the device runs the forward pass */
    __atomic_add_fetch(&caller_ns, now_ns() - t0, __ATOMIC_RELAXED);
    return done;
}
