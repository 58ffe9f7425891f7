/* cuda_profile.c - MLCC_CUDA_PROFILE=1: where the GPU time of a run goes, without Nsight (the
 * lent GPU machines have no nsys). Each kernel of a generated library and each library call
 * (mlcc.cuda.linear_f16) is bracketed by device synchronizations and timed on the host clock;
 * at exit a table of the kernels by total time goes to stderr. Synchronizing serializes the
 * run, so totals are upper bounds of each kernel's time, and the step times of a profiled run
 * are not the real ones. Off (one getenv, cached) unless set. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/cuda.h"
#include "support/alloc.h"

enum { MAX_ENTRIES = 512 };

typedef struct profile_entry {
    char *name;
    long calls;
    double seconds;
} profile_entry;

static profile_entry entries[MAX_ENTRIES];
static int nentries;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int by_time(const void *a, const void *b) {
    double x = ((const profile_entry *)a)->seconds, y = ((const profile_entry *)b)->seconds;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void report(void) {
    qsort(entries, (size_t)nentries, sizeof entries[0], by_time);
    double total = 0;
    for (int i = 0; i < nentries; i++) total += entries[i].seconds;
    fprintf(stderr, "[cuda profile] %d kernels, %.3f s in all (synchronized after each launch)\n", nentries, total);
    for (int i = 0; i < nentries && i < 30; i++)
        fprintf(stderr, "[cuda profile] %8.3f s %5.1f%% %8ld calls %9.1f us  %s\n", entries[i].seconds,
                100 * entries[i].seconds / (total > 0 ? total : 1), entries[i].calls,
                1e6 * entries[i].seconds / (double)entries[i].calls, entries[i].name);
}

int mlcc_cuda_profiling(void) {
    static int on = -1;
    if (on < 0) {
        const char *v = getenv("MLCC_CUDA_PROFILE");
        on = v && *v && strcmp(v, "0") != 0;
        if (on) atexit(report);
    }
    return on;
}

double mlcc_cuda_profile_begin(int device_id) {
    mlcc_cuda_synchronize(device_id);
    return now();
}

void mlcc_cuda_profile_end(int device_id, const char *name, double t0) {
    mlcc_cuda_synchronize(device_id);
    double t = now() - t0;
    pthread_mutex_lock(&lock);
    int i = 0;
    while (i < nentries && strcmp(entries[i].name, name)) i++;
    if (i == nentries && nentries < MAX_ENTRIES) entries[nentries++].name = mlcc_xstrdup(name);
    if (i < nentries) entries[i].calls++, entries[i].seconds += t;
    pthread_mutex_unlock(&lock);
}
