/* ticker.c - see ticker.h. */
#include "cli/ticker.h"
#include "support/clock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct mlcc_ticker {
    char label[200];
    double start;
    int tty, stop;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
};

static void *tick(void *arg) {
    mlcc_ticker *t = arg;
    pthread_mutex_lock(&t->lock);
    while (!t->stop) {
        fprintf(stderr, "\r[mlcc] %s ... %.0f s", t->label, mlcc_now_seconds() - t->start);
        fflush(stderr);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 500000000;
        if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&t->cond, &t->lock, &until);
    }
    pthread_mutex_unlock(&t->lock);
    fprintf(stderr, "\r\033[K");
    fflush(stderr);
    return NULL;
}

mlcc_ticker *mlcc_ticker_start(const char *label) {
    mlcc_ticker *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    snprintf(t->label, sizeof t->label, "%s", label);
    t->start = mlcc_now_seconds();
    t->tty = isatty(STDERR_FILENO);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    if (t->tty && pthread_create(&t->thread, NULL, tick, t) != 0) t->tty = 0;
    return t;
}

double mlcc_ticker_stop(mlcc_ticker *t) {
    if (!t) return 0;
    if (t->tty) {
        pthread_mutex_lock(&t->lock);
        t->stop = 1;
        pthread_cond_signal(&t->cond);
        pthread_mutex_unlock(&t->lock);
        pthread_join(t->thread, NULL);
    }
    double elapsed = mlcc_now_seconds() - t->start;
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
    free(t);
    return elapsed;
}
