/* cuda_profile.c - MLCC_CUDA_PROFILE: where the GPU time of a run goes, without Nsight (the
 * lent GPU machines have no nsys).
 *
 * MLCC_CUDA_PROFILE=1 (or "events"): each kernel of a generated library and each library call
 * (mlcc.cuda.linear_f16, ...) is bracketed by two CUDA events recorded on the stream, with no
 * synchronization, so the run keeps its real timing. The events are read when the host waits
 * for the device anyway (a device-to-host copy: the end of a step) or when the pool is full.
 * Each such window reports its kernels' summed time, the idle gaps between them (the GPU
 * waiting for the host to launch the next one) and its span (first start to last end), so a
 * step's time splits into kernel time, launch gaps and host work outside the kernels.
 * MLCC_CUDA_PROFILE=sync: the older mode, a device synchronization around every kernel timed on
 * the host clock (upper bounds; the step times of such a run are not the real ones).
 * At exit a table of the kernels by total time goes to stderr. Off (one getenv, cached) unless
 * set. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/cuda.h"
#include "runtime/cuda_api.h"
#include "support/alloc.h"

enum { MAX_ENTRIES = 512, POOL = 8192, MAX_WINDOWS = 1 << 16 };
enum { MODE_OFF, MODE_EVENTS, MODE_SYNC };

typedef struct profile_entry {
    char *name;
    long calls;
    double seconds;
} profile_entry;

/* A bracketed launch waiting to be read: its events and name (the name lives as long as the
 * library that launched it, so it is copied at the read). */
typedef struct pending {
    CUevent start, end;
    const char *name;
    int device_id;
} pending;

typedef struct window_stat {
    double kernels, gaps, span; /* seconds */
    int launches;
} window_stat;

static profile_entry entries[MAX_ENTRIES];
static int nentries;
static pending pool[POOL];
static int npending, pool_ready;
static window_stat *windows;
static int nwindows;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int mode = -1;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int by_time(const void *a, const void *b) {
    double x = ((const profile_entry *)a)->seconds, y = ((const profile_entry *)b)->seconds;
    return x < y ? 1 : x > y ? -1 : 0;
}

static int by_span(const void *a, const void *b) {
    double x = ((const window_stat *)a)->span, y = ((const window_stat *)b)->span;
    return x < y ? -1 : x > y ? 1 : 0;
}

static void add_locked(const char *name, double t) {
    int i = 0;
    while (i < nentries && strcmp(entries[i].name, name)) i++;
    if (i == nentries && nentries < MAX_ENTRIES) entries[nentries++].name = mlcc_xstrdup(name);
    if (i < nentries) entries[i].calls++, entries[i].seconds += t;
}

/* Reads every pending pair (waiting for the last one) into the table and one window. */
static void flush_locked(void) {
    if (npending == 0) return;
    const mlcc_cuda_driver *cu = mlcc_cuda_driver_api();
    if (mlcc_cuda_enter(pool[npending - 1].device_id, NULL) != 0 || cu->cuEventSynchronize(pool[npending - 1].end) != 0) {
        npending = 0;
        return;
    }
    window_stat w = {0, 0, 0, npending};
    for (int i = 0; i < npending; i++) {
        float ms = 0, gap = 0;
        cu->cuEventElapsedTime(&ms, pool[i].start, pool[i].end);
        add_locked(pool[i].name, ms * 1e-3);
        w.kernels += ms * 1e-3;
        if (i > 0 && cu->cuEventElapsedTime(&gap, pool[i - 1].end, pool[i].start) == 0 && gap > 0) w.gaps += gap * 1e-3;
    }
    float span = 0;
    cu->cuEventElapsedTime(&span, pool[0].start, pool[npending - 1].end);
    w.span = span * 1e-3;
    if (!windows) windows = mlcc_xmalloc(sizeof *windows * MAX_WINDOWS);
    if (nwindows < MAX_WINDOWS) windows[nwindows++] = w;
    npending = 0;
}

static void report(void) {
    pthread_mutex_lock(&lock);
    if (mode == MODE_EVENTS) flush_locked();
    qsort(entries, (size_t)nentries, sizeof entries[0], by_time);
    double total = 0;
    for (int i = 0; i < nentries; i++) total += entries[i].seconds;
    fprintf(stderr, "[cuda profile] %d kernels, %.3f s in all (%s)\n", nentries, total,
            mode == MODE_EVENTS ? "GPU time between CUDA events, unsynchronized" : "synchronized after each launch");
    for (int i = 0; i < nentries && i < 40; i++)
        fprintf(stderr, "[cuda profile] %8.3f s %5.1f%% %8ld calls %9.1f us  %s\n", entries[i].seconds,
                100 * entries[i].seconds / (total > 0 ? total : 1), entries[i].calls,
                1e6 * entries[i].seconds / (double)entries[i].calls, entries[i].name);
    if (nwindows > 0) {
        /* windows end where the host waits for the device: with a short prompt most are decode
         * steps, so the median window is a decode step */
        qsort(windows, (size_t)nwindows, sizeof windows[0], by_span);
        const window_stat *m = &windows[nwindows / 2];
        fprintf(stderr,
                "[cuda profile] %d windows (steps); median span %.1f us: kernels %.1f us, gaps between them %.1f us, "
                "%d launches (%.2f us per launch, %.2f us gap per launch)\n",
                nwindows, m->span * 1e6, m->kernels * 1e6, m->gaps * 1e6, m->launches,
                m->kernels * 1e6 / (m->launches ? m->launches : 1), m->gaps * 1e6 / (m->launches ? m->launches : 1));
        /* and the longest (a long prompt's prefill, when the run has one) */
        const window_stat *l = &windows[nwindows - 1];
        fprintf(stderr, "[cuda profile] longest window: span %.1f us: kernels %.1f us, gaps between them %.1f us, %d launches\n",
                l->span * 1e6, l->kernels * 1e6, l->gaps * 1e6, l->launches);
    }
    pthread_mutex_unlock(&lock);
}

int mlcc_cuda_profiling(void) {
    if (mode < 0) {
        const char *v = getenv("MLCC_CUDA_PROFILE");
        int m = MODE_OFF;
        if (v && *v && strcmp(v, "0") != 0) m = strcmp(v, "sync") == 0 ? MODE_SYNC : MODE_EVENTS;
        if (m != MODE_OFF) atexit(report);
        mode = m;
    }
    return mode != MODE_OFF;
}

/* The event pair for the next launch, created on first use (NULL when events fail). */
static pending *next_pair_locked(int device_id) {
    if (npending == POOL) flush_locked();
    const mlcc_cuda_driver *cu = mlcc_cuda_driver_api();
    if (!pool_ready) {
        for (int i = 0; i < POOL; i++)
            if (cu->cuEventCreate(&pool[i].start, 0) != 0 || cu->cuEventCreate(&pool[i].end, 0) != 0) return NULL;
        pool_ready = 1;
    }
    pending *p = &pool[npending];
    p->device_id = device_id;
    return p;
}

double mlcc_cuda_profile_begin(int device_id) {
    if (mode != MODE_EVENTS) {
        mlcc_cuda_synchronize(device_id);
        return now();
    }
    void *stream = NULL;
    if (mlcc_cuda_enter(device_id, &stream) != 0) return 0;
    pthread_mutex_lock(&lock);
    pending *p = next_pair_locked(device_id);
    double token = 0;
    if (p && mlcc_cuda_driver_api()->cuEventRecord(p->start, stream) == 0) token = 1;
    pthread_mutex_unlock(&lock);
    return token;
}

void mlcc_cuda_profile_end(int device_id, const char *name, double t0) {
    if (mode != MODE_EVENTS) {
        mlcc_cuda_synchronize(device_id);
        double t = now() - t0;
        pthread_mutex_lock(&lock);
        add_locked(name, t);
        pthread_mutex_unlock(&lock);
        return;
    }
    void *stream = NULL;
    if (t0 <= 0 || mlcc_cuda_enter(device_id, &stream) != 0) return;
    pthread_mutex_lock(&lock);
    pending *p = &pool[npending];
    if (mlcc_cuda_driver_api()->cuEventRecord(p->end, stream) == 0) {
        p->name = name;
        npending++;
    }
    pthread_mutex_unlock(&lock);
}

void mlcc_cuda_profile_window(void) {
    if (mode != MODE_EVENTS) return;
    pthread_mutex_lock(&lock);
    flush_locked();
    pthread_mutex_unlock(&lock);
}
