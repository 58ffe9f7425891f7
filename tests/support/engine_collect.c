/* engine_collect.c - following submitted requests in the engine tests (see engine_collect.h). */
#include "engine_collect.h"

#include <pthread.h>
#include <stdio.h>

/* one lock for all requests: the engine's worker writes, the test's thread waits */
static pthread_mutex_t collect_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t collect_cond = PTHREAD_COND_INITIALIZER;

void test_collect_event(void *ctx, const mlcc_engine_event *ev) {
    test_request_out *o = ctx;
    pthread_mutex_lock(&collect_lock);
    if (ev->len) sb_append_n(&o->text, ev->text, ev->len);
    if (ev->token >= 0) o->tokens++;
    if (ev->finish_reason) {
        snprintf(o->finish, sizeof o->finish, "%s", ev->finish_reason);
        o->result = *ev->result;
        o->done = 1;
    }
    pthread_cond_broadcast(&collect_cond);
    pthread_mutex_unlock(&collect_lock);
}

void test_wait_requests(test_request_out *outs, int n) {
    pthread_mutex_lock(&collect_lock);
    for (int k = 0; k < n; k++)
        while (!outs[k].done)
            pthread_cond_wait(&collect_cond, &collect_lock);
    pthread_mutex_unlock(&collect_lock);
}

void test_wait_first_token(test_request_out *out) {
    pthread_mutex_lock(&collect_lock);
    while (!out->tokens && !out->done)
        pthread_cond_wait(&collect_cond, &collect_lock);
    pthread_mutex_unlock(&collect_lock);
}
