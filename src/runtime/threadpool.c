/* threadpool.c - the process's one set of worker threads: OpenMP's (libgomp's) team, shared by
 * the generated kernels (`#pragma omp parallel for ... num_threads(mlcc_threads())`) and the
 * runtime's own parallel loops (mlcc_parallel_for: builtins, loaders, the bench floors).
 *
 * Why libgomp and not a pool of our own (docs/threading.md has the measurements): libgomp
 * keeps a team's threads alive between parallel regions (they spin GOMP_SPINCOUNT times, then
 * sleep), so no region starts a thread; the kernels already use it, and making them call a
 * pool of ours instead would mean outlining every parallel loop body in the C code generator.
 * Before, the runtime had its own pthread pool beside libgomp's team: two sets of workers of the
 * same size, each spinning while the other's work ran.
 *
 * libgomp is loaded on first use with dlopen (RTLD_NODELETE, so no dlclose of a model library
 * can unmap it under its idle threads), not linked: it reads OMP_WAIT_POLICY / GOMP_SPINCOUNT
 * when it loads, and the CLI picks them at start (src/cli/main.c). mlcc_parallel_for calls
 * GOMP_parallel, the entry point gcc emits for `#pragma omp parallel`, with an outlined body.
 * The size is a number, not threads: kernels and loops ask for that many (num_threads), so
 * --threads, MLCC_NUM_THREADS and mlcc_threadpool_set_size govern both.
 *
 * libgomp's team belongs to the thread that starts the region: one set of workers per thread
 * that runs parallel work (in the engine, its worker thread runs every kernel and builtin).
 * mlcc_parallel_for splits the range statically into one contiguous chunk per thread; the
 * caller runs chunk 0. One dispatch at a time: concurrent callers from different threads take
 * turns, and a parallel_for inside a body runs serially on its thread.
 *
 * A team left behind costs the kernels of other threads: libgomp counts every team's workers
 * (gomp_managed_threads) and, while they outnumber the CPUs, its idle workers spin only the
 * "throttled" count (100 when no OMP_WAIT_POLICY is set, whatever GOMP_SPINCOUNT says) before
 * sleeping on a futex, so each of a decode step's hundreds of parallel loops wakes sleeping
 * threads. A model loaded with parallel loops on one thread and run on the engine's thread
 * decoded at 20.1 instead of 38.3 tok/s (TinyLlama q4f16_1, 2 threads, 2 CPUs; BENCHMARKS.md,
 * session 27), so the loader ends its team when done (mlcc_threadpool_release_team, through
 * OpenMP 5's omp_pause_resource_all, which ends the calling thread's team only). */
#include "runtime/threadpool.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "support/error.h"
#include "support/log.h"

enum { MAX_THREADS = 1024 };

typedef void (*gomp_parallel_fn)(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);
typedef int (*omp_int_fn)(void);
typedef int (*omp_pause_fn)(int kind);

enum { OMP_PAUSE_SOFT = 1 }; /* omp_pause_soft of omp.h (OpenMP 5.0) */

static struct {
    pthread_once_t once;
    gomp_parallel_fn parallel;
    omp_int_fn thread_num, num_threads;
    omp_pause_fn pause_all; /* NULL before libgomp 9 */
} gomp = {PTHREAD_ONCE_INIT, NULL, NULL, NULL, NULL};

static pthread_mutex_t dispatch_lock = PTHREAD_MUTEX_INITIALIZER; /* one parallel_for at a time */
static int current_size; /* atomic; 0 until set or first asked for */
static _Thread_local int inside_parallel;

typedef struct job {
    int64_t n;
    int num_tasks;
    MLCCParallelBody body;
    void *ctx;
} job;

/* Idle OpenMP threads sleep rather than spin unless the user (or the CLI, which measures the
 * machine's load first) chose otherwise: between two kernels the VM and the engine run serial
 * host code, and spinning threads took the cores from them on a busy machine (a 2-core decode
 * ran 3x slower; issue 10's measurement). libgomp reads the policy when it loads. */
static void load_openmp(void) {
    setenv("OMP_WAIT_POLICY", "passive", 0);
    void *h = dlopen("libgomp.so.1", RTLD_NOW | RTLD_GLOBAL | RTLD_NODELETE);
    if (!h) {
        const char *why = dlerror();
        LOG_WARN("thread pool: cannot load libgomp (%s); runtime loops run on one thread", why ? why : "?");
        return;
    }
    gomp.parallel = (gomp_parallel_fn)dlsym(h, "GOMP_parallel");
    gomp.thread_num = (omp_int_fn)dlsym(h, "omp_get_thread_num");
    gomp.num_threads = (omp_int_fn)dlsym(h, "omp_get_num_threads");
    gomp.pause_all = (omp_pause_fn)dlsym(h, "omp_pause_resource_all");
    if (!gomp.parallel || !gomp.thread_num || !gomp.num_threads) {
        LOG_WARN("thread pool: libgomp lacks GOMP_parallel; runtime loops run on one thread");
        gomp.parallel = NULL;
    }
}

void mlcc_openmp_load(void) {
    pthread_once(&gomp.once, load_openmp);
}

static int available_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    return 1;
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

int mlcc_threadpool_thread_count(void) {
    int n = __atomic_load_n(&current_size, __ATOMIC_ACQUIRE);
    if (n) return n;
    n = mlcc_threadpool_default_size(); /* reads the environment once: later calls see it set */
    int expected = 0;
    if (!__atomic_compare_exchange_n(&current_size, &expected, n, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) n = expected;
    return n;
}

int mlcc_threadpool_size(void) {
    return mlcc_threadpool_thread_count();
}

int mlcc_threadpool_set_size(int n) {
    if (n < 1 || n > MAX_THREADS)
        return mlcc_set_error("thread count %d is not in 1..%d", n, MAX_THREADS);
    if (inside_parallel)
        return mlcc_set_error("cannot resize the thread pool from inside a parallel loop");
    /* libgomp sizes the next region's team to the count asked for (starting or dismissing
     * workers then); the lock only keeps a running mlcc_parallel_for's split consistent */
    pthread_mutex_lock(&dispatch_lock);
    __atomic_store_n(&current_size, n, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&dispatch_lock);
    return 0;
}

/* Chunk `task` of [0, n) split into num_tasks near-equal parts (the first n % k get one more). */
static void chunk_bounds(int64_t n, int num_tasks, int task, int64_t *begin, int64_t *end) {
    int64_t base = n / num_tasks, extra = n % num_tasks;
    *begin = task * base + (task < extra ? task : extra);
    *end = *begin + base + (task < extra ? 1 : 0);
}

/* The outlined region body: each team member runs its chunk (every chunk of a smaller team
 * than asked for, should libgomp start fewer threads). */
static void region_body(void *arg) {
    const job *j = arg;
    int was_inside = inside_parallel;
    inside_parallel = 1;
    int team = gomp.num_threads(), me = gomp.thread_num();
    for (int task = me; task < j->num_tasks; task += team) {
        int64_t begin, end;
        chunk_bounds(j->n, j->num_tasks, task, &begin, &end);
        if (begin < end) j->body(begin, end, task, j->ctx);
    }
    inside_parallel = was_inside;
}

void mlcc_parallel_for(int64_t n, MLCCParallelBody body, void *ctx) {
    if (n <= 0) return;
    int size = mlcc_threadpool_thread_count();
    if (!inside_parallel && n > 1 && size > 1) mlcc_openmp_load();
    if (inside_parallel || n == 1 || size == 1 || !gomp.parallel) {
        body(0, n, 0, ctx);
        return;
    }
    pthread_mutex_lock(&dispatch_lock);
    size = __atomic_load_n(&current_size, __ATOMIC_ACQUIRE);
    job j = {n, n < size ? (int)n : size, body, ctx};
    gomp.parallel(region_body, &j, (unsigned)j.num_tasks, 0);
    pthread_mutex_unlock(&dispatch_lock);
}

void mlcc_threadpool_release_team(void) {
    if (inside_parallel || !gomp.parallel || !gomp.pause_all) return; /* no team was started */
    pthread_mutex_lock(&dispatch_lock);
    gomp.pause_all(OMP_PAUSE_SOFT);
    pthread_mutex_unlock(&dispatch_lock);
}
