/* bench_threads.c - the cost of the runtime's parallel loop next to the kernels' OpenMP regions
 * (docs/threading.md): mlcc_parallel_for alone, an OpenMP region like a generated kernel's
 * alone, and the two alternating, as a decode step mixes kernels and runtime loops. With one
 * set of threads the alternating case costs about the sum of the two; with two sets (the
 * runtime's own pool beside libgomp's team, before) each set spun while the other's work ran.
 *
 * build: make build && cc -O2 -fopenmp -Iinclude -Isrc bench/bench_threads.c -Lbuild
 *        -lmlcc_runtime -Wl,-rpath,$PWD/build -o build/bench_threads
 * run:   GOMP_SPINCOUNT=1000000 build/bench_threads [iterations] */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mlcc/mlcc_runtime.h"
#include "support/clock.h"

enum { N = 1000 };
static float buf[N];

static void loop_body(int64_t begin, int64_t end, int task, void *ctx) {
    (void)task, (void)ctx;
    for (int64_t i = begin; i < end; i++) buf[i] += 1.0f;
}

/* what a generated elementwise kernel looks like */
static void kernel(int threads) {
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int i = 0; i < N; i++) buf[i] *= 0.999f;
}

int main(int argc, char **argv) {
    int iters = argc > 1 ? atoi(argv[1]) : 20000;
    int threads = mlcc_threadpool_size();
    for (int rep = 0; rep < 3; rep++) {
        double t0 = mlcc_now_seconds();
        for (int i = 0; i < iters; i++) mlcc_parallel_for(N, loop_body, NULL);
        double loop = (mlcc_now_seconds() - t0) / iters;
        t0 = mlcc_now_seconds();
        for (int i = 0; i < iters; i++) kernel(threads);
        double region = (mlcc_now_seconds() - t0) / iters;
        t0 = mlcc_now_seconds();
        for (int i = 0; i < iters; i++) {
            kernel(threads);
            mlcc_parallel_for(N, loop_body, NULL);
        }
        double both = (mlcc_now_seconds() - t0) / iters;
        printf("%d threads: parallel_for %.2f us, kernel region %.2f us, alternating pair %.2f us\n", threads,
               loop * 1e6, region * 1e6, both * 1e6);
    }
    return 0;
}
