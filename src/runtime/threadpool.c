/* threadpool.c - one persistent pool of worker threads for parallel loops in runtime code
 * (builtins, loaders, sampling); generated kernels use OpenMP instead, with the thread count
 * this pool has (mlcc_threadpool_thread_count, installed into each library by the loader), so
 * --threads, MLCC_NUM_THREADS and mlcc_threadpool_set_size govern both.
 *
 * mlcc_parallel_for splits the range statically into one contiguous chunk per thread; the
 * caller runs chunk 0 and workers the rest. A dispatch publishes the job and bumps a generation
 * counter; every worker acknowledges every generation (even when it has no chunk), so a slow
 * worker can never read the next job's fields as if they were this one's. Workers spin briefly
 * before sleeping on a condition variable, which keeps back-to-back loops cheap without burning
 * a core while idle. One dispatch at a time: concurrent callers from different threads take
 * turns, and a parallel_for inside a body runs serially on its thread. */
#include "runtime/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/error.h"
#include "support/log.h"

enum { MAX_THREADS = 1024, SPIN_ITERATIONS = 20000 };

typedef struct pool {
    int size;       /* threads including the caller */
    int spin_limit; /* 0 when there are more threads than CPUs: spinning would only steal time */
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t work_ready, work_done;
    uint64_t generation; /* atomic; written under lock */
    int pending;         /* atomic: workers that have not finished this generation */
    int shutdown;
    /* the job of the current generation */
    int64_t n;
    int num_tasks;
    MLCCParallelBody body;
    void *ctx;
} pool;

typedef struct worker_arg {
    pool *p;
    int index; /* 1..size-1 */
} worker_arg;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER; /* creation and dispatch */
static pool *the_pool;
static int current_size; /* atomic copy of the_pool->size, readable inside a loop's body */
static _Thread_local int inside_parallel;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Chunk `task` of [0, n) split into num_tasks near-equal parts (the first n % k get one more). */
static void chunk_bounds(int64_t n, int num_tasks, int task, int64_t *begin, int64_t *end) {
    int64_t base = n / num_tasks, extra = n % num_tasks;
    *begin = task * base + (task < extra ? task : extra);
    *end = *begin + base + (task < extra ? 1 : 0);
}

static void run_task(pool *p, int task) {
    int64_t begin, end;
    chunk_bounds(p->n, p->num_tasks, task, &begin, &end);
    if (begin < end) p->body(begin, end, task, p->ctx);
}

static void *worker_main(void *arg) {
    worker_arg wa = *(worker_arg *)arg;
    free(arg);
    pool *p = wa.p;
    inside_parallel = 1;
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen = __atomic_load_n(&p->generation, __ATOMIC_ACQUIRE);
        for (int spin = 0; gen == seen && spin < p->spin_limit; spin++) {
            cpu_relax();
            gen = __atomic_load_n(&p->generation, __ATOMIC_ACQUIRE);
        }
        if (gen == seen) {
            pthread_mutex_lock(&p->lock);
            while ((gen = __atomic_load_n(&p->generation, __ATOMIC_ACQUIRE)) == seen &&
                   !p->shutdown)
                pthread_cond_wait(&p->work_ready, &p->lock);
            int stop = p->shutdown;
            pthread_mutex_unlock(&p->lock);
            if (stop) return NULL;
        }
        seen = gen;
        if (wa.index < p->num_tasks) run_task(p, wa.index);
        if (__atomic_sub_fetch(&p->pending, 1, __ATOMIC_ACQ_REL) == 0) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->work_done);
            pthread_mutex_unlock(&p->lock);
        }
    }
}

static int available_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    return 1;
}

static pool *pool_create(int size) {
    pool *p = mlcc_xcalloc(1, sizeof *p);
    p->size = size;
    p->spin_limit = size <= available_cpus() ? SPIN_ITERATIONS : 0;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work_ready, NULL);
    pthread_cond_init(&p->work_done, NULL);
    p->workers = mlcc_xcalloc((size_t)size, sizeof *p->workers);
    for (int i = 1; i < size; i++) {
        worker_arg *wa = mlcc_xmalloc(sizeof *wa);
        wa->p = p;
        wa->index = i;
        if (pthread_create(&p->workers[i], NULL, worker_main, wa) != 0) {
            /* Fewer threads is still correct: shrink to what started. */
            free(wa);
            LOG_WARN("thread pool: could not start thread %d of %d; using %d", i + 1, size, i);
            p->size = i;
            break;
        }
    }
    return p;
}

static void pool_destroy(pool *p) {
    pthread_mutex_lock(&p->lock);
    p->shutdown = 1;
    pthread_cond_broadcast(&p->work_ready);
    pthread_mutex_unlock(&p->lock);
    for (int i = 1; i < p->size; i++) pthread_join(p->workers[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work_ready);
    pthread_cond_destroy(&p->work_done);
    free(p->workers);
    free(p);
}

int mlcc_threadpool_default_size(void) {
    const char *env = getenv("MLCC_NUM_THREADS");
    if (env && *env) {
        char *end;
        long n = strtol(env, &end, 10);
        if (*end == '\0' && n >= 1 && n <= MAX_THREADS) return (int)n;
        LOG_WARN("MLCC_NUM_THREADS='%s' is not a number in 1..%d; using the CPU count", env,
                 MAX_THREADS);
    }
    int n = available_cpus();
    return n > MAX_THREADS ? MAX_THREADS : n;
}

/* Called with pool_lock held. */
static pool *get_pool(void) {
    if (!the_pool) {
        the_pool = pool_create(mlcc_threadpool_default_size());
        __atomic_store_n(&current_size, the_pool->size, __ATOMIC_RELEASE);
    }
    return the_pool;
}

int mlcc_threadpool_thread_count(void) {
    int n = __atomic_load_n(&current_size, __ATOMIC_ACQUIRE);
    if (n) return n;
    static int fallback; /* the default, computed once (it reads the environment and the CPU set) */
    n = __atomic_load_n(&fallback, __ATOMIC_RELAXED);
    if (!n) {
        n = mlcc_threadpool_default_size();
        __atomic_store_n(&fallback, n, __ATOMIC_RELAXED);
    }
    return n;
}

int mlcc_threadpool_size(void) {
    int n = __atomic_load_n(&current_size, __ATOMIC_ACQUIRE);
    if (n) return n;
    pthread_mutex_lock(&pool_lock);
    n = get_pool()->size;
    pthread_mutex_unlock(&pool_lock);
    return n;
}

int mlcc_threadpool_set_size(int n) {
    if (n < 1 || n > MAX_THREADS)
        return mlcc_set_error("thread count %d is not in 1..%d", n, MAX_THREADS);
    if (inside_parallel)
        return mlcc_set_error("cannot resize the thread pool from inside a parallel loop");
    pthread_mutex_lock(&pool_lock);
    if (the_pool && the_pool->size != n) {
        pool_destroy(the_pool);
        the_pool = NULL;
    }
    if (!the_pool) the_pool = pool_create(n);
    __atomic_store_n(&current_size, the_pool->size, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&pool_lock);
    return 0;
}

static void run_serially(int64_t n, MLCCParallelBody body, void *ctx) {
    if (n > 0) body(0, n, 0, ctx);
}

void mlcc_parallel_for(int64_t n, MLCCParallelBody body, void *ctx) {
    if (n <= 0) return;
    if (inside_parallel || n == 1) {
        run_serially(n, body, ctx);
        return;
    }
    pthread_mutex_lock(&pool_lock);
    pool *p = get_pool();
    if (p->size == 1) {
        pthread_mutex_unlock(&pool_lock);
        run_serially(n, body, ctx);
        return;
    }
    p->n = n;
    p->num_tasks = n < p->size ? (int)n : p->size;
    p->body = body;
    p->ctx = ctx;
    __atomic_store_n(&p->pending, p->size - 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&p->lock);
    __atomic_add_fetch(&p->generation, 1, __ATOMIC_RELEASE); /* publishes the job fields */
    pthread_cond_broadcast(&p->work_ready);
    pthread_mutex_unlock(&p->lock);

    inside_parallel = 1;
    run_task(p, 0);
    inside_parallel = 0;

    for (int spin = 0; __atomic_load_n(&p->pending, __ATOMIC_ACQUIRE) != 0 && spin < p->spin_limit;
         spin++)
        cpu_relax();
    if (__atomic_load_n(&p->pending, __ATOMIC_ACQUIRE) != 0) {
        pthread_mutex_lock(&p->lock);
        while (__atomic_load_n(&p->pending, __ATOMIC_ACQUIRE) != 0)
            pthread_cond_wait(&p->work_done, &p->lock);
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&pool_lock);
}
