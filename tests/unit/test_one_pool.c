/* test_one_pool.c - kernels and the runtime share one set of worker threads: a library built
 * like a model library (cc -fopenmp, loaded with dlopen; its loop asks for the runtime's thread
 * count as generated kernels do) and mlcc_parallel_for run on the same threads, and the
 * process has exactly --threads of them (counted in /proc/self/task), whatever the order of
 * the calls and after a resize. */
#include <dirent.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlcc/mlcc_runtime.h"
#include "runtime/threadpool.h"
#include "test.h"

enum { MAX_SEEN = 64 };

/* The kernel: a static-schedule parallel loop recording which threads ran it. */
static const char kernel_source[] =
    "#include <omp.h>\n"
    "#include <pthread.h>\n"
    "int (*thread_count)(void);\n"
    "void kernel(unsigned long *seen, int n) {\n"
    "#pragma omp parallel for schedule(static) num_threads(thread_count())\n"
    "    for (int i = 0; i < n; i++) seen[i] = (unsigned long)pthread_self();\n"
    "}\n";

static char tmpdir[] = "/tmp/mlcc-test-one-pool-XXXXXX";

static int count_tasks(void) {
    DIR *d = opendir("/proc/self/task");
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void record_thread(int64_t begin, int64_t end, int task, void *ctx) {
    (void)task;
    unsigned long *seen = ctx;
    for (int64_t i = begin; i < end; i++) seen[i] = (unsigned long)pthread_self();
}

/* The distinct values of seen[0..n) into out (sorted); returns how many. */
static int distinct(const unsigned long *seen, int n, unsigned long *out) {
    int k = 0;
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < k && out[j] != seen[i]) j++;
        if (j == k && k < MAX_SEEN) out[k++] = seen[i];
    }
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            unsigned long t = out[j];
            out[j] = out[j - 1], out[j - 1] = t;
        }
    return k;
}

typedef void (*kernel_fn)(unsigned long *, int);

/* Runs the kernel and a parallel_for with `threads` threads; both must use the same threads,
 * and the process must have exactly that many. */
static void check_one_set(kernel_fn kernel, int threads, const char *when) {
    CHECK(mlcc_threadpool_set_size(threads) == 0);
    enum { N = 64 };
    unsigned long by_kernel[N], by_runtime[N], a[MAX_SEEN], b[MAX_SEEN];
    for (int round = 0; round < 3; round++) {
        kernel(by_kernel, N);
        mlcc_parallel_for(N, record_thread, by_runtime);
    }
    int na = distinct(by_kernel, N, a), nb = distinct(by_runtime, N, b);
    CHECK_MSG(na == threads && nb == threads, "%s: kernel ran on %d threads, runtime loop on %d, asked %d", when, na, nb,
              threads);
    CHECK_MSG(na == nb && memcmp(a, b, sizeof(unsigned long) * (size_t)na) == 0,
              "%s: the kernel and the runtime loop ran on different threads", when);
    /* workers a smaller team dismisses exit on their own: give them up to a second */
    int tasks = count_tasks();
    for (int wait = 0; wait < 100 && tasks > threads; wait++) {
        usleep(10000);
        tasks = count_tasks();
    }
    CHECK_MSG(tasks == threads, "%s: %d threads in /proc/self/task, expected %d (one set of workers)", when, tasks,
              threads);
}

int main(void) {
    if (count_tasks() < 0) TEST_SKIP("no /proc/self/task");
    CHECK_EQ_INT(count_tasks(), 1);
    if (!mkdtemp(tmpdir)) TEST_SKIP("cannot create a temporary folder");
    char src[256], lib[256], cmd[1024];
    snprintf(src, sizeof src, "%s/kernel.c", tmpdir);
    snprintf(lib, sizeof lib, "%s/kernel.so", tmpdir);
    FILE *f = fopen(src, "w");
    CHECK(f != NULL);
    if (!f) return test_finish();
    fputs(kernel_source, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cc -shared -fPIC -O1 -fopenmp -o '%s' '%s' 2>/dev/null", lib, src);
    if (system(cmd) != 0) TEST_SKIP("cc -fopenmp is not available");
    mlcc_openmp_load(); /* as mlcc_module_load does before opening a model library */
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    CHECK_MSG(h != NULL, "%s", dlerror());
    if (!h) return test_finish();
    kernel_fn kernel = (kernel_fn)dlsym(h, "kernel");
    int (**hook)(void) = dlsym(h, "thread_count");
    CHECK(kernel && hook);
    if (!kernel || !hook) return test_finish();
    *hook = mlcc_threadpool_thread_count; /* what the loader installs into a model library */

    /* Asking for the size starts no thread. */
    CHECK(mlcc_threadpool_size() >= 1);
    CHECK_EQ_INT(count_tasks(), 1);
    check_one_set(kernel, 3, "3 threads");
    check_one_set(kernel, 4, "grown to 4");
    check_one_set(kernel, 2, "shrunk to 2");

    /* One thread: everything on the caller, no worker left running. */
    CHECK(mlcc_threadpool_set_size(1) == 0);
    unsigned long seen[8], one[MAX_SEEN];
    kernel(seen, 8);
    CHECK_EQ_INT(distinct(seen, 8, one), 1);
    CHECK(one[0] == (unsigned long)pthread_self());
    mlcc_parallel_for(8, record_thread, seen);
    CHECK_EQ_INT(distinct(seen, 8, one), 1);
    CHECK(one[0] == (unsigned long)pthread_self());

    dlclose(h);
    unlink(lib);
    unlink(src);
    rmdir(tmpdir);
    return test_finish();
}
