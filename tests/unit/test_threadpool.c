/* test_threadpool.c - mlcc_parallel_for: every index runs exactly once, chunks are contiguous
 * and static, the caller takes chunk 0, several threads really run, nesting runs serially,
 * concurrent callers take turns, resizing, MLCC_NUM_THREADS parsing; releasing a thread's team
 * ends its workers (counted in /proc/self/task) and the next loop starts them again. */
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "mlcc/mlcc_runtime.h"
#include "runtime/threadpool.h"
#include "test.h"

typedef struct {
    int64_t n;
    int *hits;            /* per index */
    int64_t begins[1024]; /* per task */
    int64_t ends[1024];
    pthread_t threads[1024];
    int task_calls[1024];
} coverage;

static void mark(int64_t begin, int64_t end, int task, void *ctx) {
    coverage *c = ctx;
    for (int64_t i = begin; i < end; i++) __atomic_add_fetch(&c->hits[i], 1, __ATOMIC_RELAXED);
    c->begins[task] = begin;
    c->ends[task] = end;
    c->threads[task] = pthread_self();
    c->task_calls[task]++;
}

static void check_coverage(int64_t n, int size) {
    coverage *c = calloc(1, sizeof *c);
    c->hits = calloc((size_t)(n ? n : 1), sizeof(int));
    mlcc_parallel_for(n, mark, c);
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad += c->hits[i] != 1;
    CHECK_MSG(bad == 0, "n=%lld: %d indices not run exactly once", (long long)n, bad);
    /* Static chunks: task t covers [t*base + min(t, extra), ...), lengths differ by at most one. */
    int tasks = (int)(n < size ? n : size);
    int64_t base = tasks ? n / tasks : 0, extra = tasks ? n % tasks : 0, next = 0;
    for (int t = 0; t < tasks; t++) {
        int64_t len = base + (t < extra);
        CHECK_MSG(c->task_calls[t] == 1 && c->begins[t] == next && c->ends[t] == next + len,
                  "n=%lld task %d: [%lld, %lld) calls %d", (long long)n, t, (long long)c->begins[t],
                  (long long)c->ends[t], c->task_calls[t]);
        next += len;
    }
    if (tasks) CHECK(pthread_equal(c->threads[0], pthread_self()));
    for (int t = tasks; t < 1024; t++) CHECK(c->task_calls[t] == 0);
    free(c->hits);
    free(c);
}

/* A body that waits until all tasks have started proves they run at the same time. */
typedef struct {
    int started, tasks;
    int timed_out;
} barrier_ctx;

static void wait_for_all(int64_t begin, int64_t end, int task, void *ctx) {
    (void)begin, (void)end, (void)task;
    barrier_ctx *b = ctx;
    __atomic_add_fetch(&b->started, 1, __ATOMIC_ACQ_REL);
    for (long spin = 0; __atomic_load_n(&b->started, __ATOMIC_ACQUIRE) < b->tasks; spin++) {
        if (spin > 20000000) { /* ~ seconds: report instead of hanging */
            b->timed_out = 1;
            return;
        }
        sched_yield();
    }
}

static void nested_body(int64_t begin, int64_t end, int task, void *ctx) {
    (void)task;
    int64_t *sums = ctx;
    for (int64_t i = begin; i < end; i++) {
        coverage *c = calloc(1, sizeof *c);
        int hits[10] = {0};
        c->hits = hits;
        mlcc_parallel_for(10, mark, c); /* nested: serial, one task */
        int64_t s = 0;
        for (int k = 0; k < 10; k++) s += hits[k];
        sums[i] = s * 1000 + c->task_calls[0] * 100 + (c->begins[0] == 0 && c->ends[0] == 10);
        free(c);
    }
}

static void sum_body(int64_t begin, int64_t end, int task, void *ctx) {
    int64_t *partial = ctx;
    int64_t s = 0;
    for (int64_t i = begin; i < end; i++) s += i;
    partial[task] = s;
}

static void *concurrent_caller(void *arg) {
    long bad = 0;
    for (int round = 0; round < 200; round++) {
        int64_t partial[64] = {0}, n = 1000 + round;
        mlcc_parallel_for(n, sum_body, partial);
        int64_t s = 0;
        for (int t = 0; t < 64; t++) s += partial[t];
        if (s != n * (n - 1) / 2) bad++;
    }
    *(long *)arg = bad;
    return NULL;
}

/* The process's threads, from /proc (-1 where it cannot be read) */
static int thread_count(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* The thread count once it has fallen to `want`, or after 5 s whatever it is. A released worker
 * leaves libgomp's barrier before its pthread_exit, so release_team can return while the kernel
 * still lists it in /proc/self/task for a moment (CI saw alone + 1 once). */
static int thread_count_settled(int want) {
    int n = thread_count();
    for (int waited_ms = 0; n != want && waited_ms < 5000; waited_ms++) {
        usleep(1000);
        n = thread_count();
    }
    return n;
}

static void release_inside(int64_t begin, int64_t end, int task, void *ctx) {
    (void)begin, (void)end, (void)task, (void)ctx;
    mlcc_threadpool_release_team(); /* inside a loop: must return at once (no deadlock, no effect) */
}

/* A team of 4 on this thread, released: its 3 workers exit; a loop after it is whole again. Run
 * first, while no other thread's team is about: a thread that exits leaves its team's workers
 * to end on their own time, which would blur the counts. */
static void check_release(void) {
    int alone = thread_count();
    if (alone < 0) {
        printf("skip of the release check: /proc/self/task cannot be read\n");
        return;
    }
    CHECK(mlcc_threadpool_set_size(4) == 0);
    check_coverage(1000, 4);
    CHECK_EQ_INT(thread_count(), alone + 3);
    mlcc_parallel_for(4, release_inside, NULL);
    CHECK_EQ_INT(thread_count(), alone + 3);
    mlcc_threadpool_release_team();
    CHECK_EQ_INT(thread_count_settled(alone), alone);
    check_coverage(1000, 4);
    CHECK_EQ_INT(thread_count(), alone + 3);
    mlcc_threadpool_release_team();
    mlcc_threadpool_release_team(); /* twice: nothing left to end */
    CHECK_EQ_INT(thread_count_settled(alone), alone);
}

int main(void) {
    /* ctest sets MLCC_NUM_THREADS=2. */
    const char *env = getenv("MLCC_NUM_THREADS");
    int size = mlcc_threadpool_size();
    check_release();
    CHECK(mlcc_threadpool_set_size(size) == 0);
    if (env) CHECK_EQ_INT(size, atoi(env));
    CHECK(size >= 1);

    int64_t sizes[] = {0, 1, 2, 3, 7, 64, 1000, 100003};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) check_coverage(sizes[i], size);

    /* More threads than cores is fine; tasks overlap in time. */
    CHECK(mlcc_threadpool_set_size(5) == 0);
    CHECK_EQ_INT(mlcc_threadpool_size(), 5);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) check_coverage(sizes[i], 5);
    barrier_ctx b = {0, 5, 0};
    mlcc_parallel_for(5, wait_for_all, &b);
    CHECK(!b.timed_out);
    CHECK_EQ_INT(b.started, 5);

    /* Many back-to-back loops (the pattern of a decode step). */
    int64_t partial[64];
    long wrong = 0;
    for (int round = 0; round < 3000; round++) {
        memset(partial, 0, sizeof partial);
        mlcc_parallel_for(round, sum_body, partial);
        int64_t s = 0;
        for (int t = 0; t < 64; t++) s += partial[t];
        wrong += s != (int64_t)round * (round - 1) / 2;
    }
    CHECK_EQ_INT(wrong, 0);

    /* Nested loops run serially inside the body. */
    int64_t sums[16];
    mlcc_parallel_for(16, nested_body, sums);
    int nested_bad = 0;
    for (int i = 0; i < 16; i++) nested_bad += sums[i] != 10 * 1000 + 100 + 1;
    CHECK_EQ_INT(nested_bad, 0);

    /* Callers on several threads at once take turns. */
    pthread_t th[3];
    long bad[3];
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, concurrent_caller, &bad[i]);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 3; i++) CHECK_EQ_INT(bad[i], 0);

    /* A pool of one runs everything on the caller. */
    CHECK(mlcc_threadpool_set_size(1) == 0);
    check_coverage(100, 1);
    CHECK(mlcc_threadpool_set_size(0) != 0);
    CHECK(strstr(mlcc_last_error(), "thread count 0") != NULL);
    CHECK(mlcc_threadpool_set_size(3) == 0);
    check_coverage(100, 3);

    /* MLCC_NUM_THREADS parsing: bad values fall back to the CPU count. */
    setenv("MLCC_NUM_THREADS", "7", 1);
    CHECK_EQ_INT(mlcc_threadpool_default_size(), 7);
    setenv("MLCC_NUM_THREADS", "0", 1);
    int fallback = mlcc_threadpool_default_size();
    setenv("MLCC_NUM_THREADS", "many", 1);
    CHECK_EQ_INT(mlcc_threadpool_default_size(), fallback);
    unsetenv("MLCC_NUM_THREADS");
    CHECK_EQ_INT(mlcc_threadpool_default_size(), fallback);
    CHECK(fallback >= 1);
    return test_finish();
}
