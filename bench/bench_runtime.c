/* bench_runtime.c - micro-benchmarks of runtime basics: parallel_for dispatch latency (empty
 * body), f16/bf16 -> f32 conversion rate, safetensors open+validate time.
 *
 * build: make build && cc -O3 -march=native -Iinclude -Isrc bench/bench_runtime.c -Lbuild
 * -lmlcc_runtime \ -Wl,-rpath,$PWD/build -o build/bench_runtime run:   MLCC_NUM_THREADS=2
 * build/bench_runtime [file.safetensors] */
#include <stdio.h>
#include <stdlib.h>

#include "loader/safetensors.h"
#include "mlcc/mlcc_runtime.h"
#include "support/clock.h"

static void empty_body(int64_t begin, int64_t end, int task, void *ctx) {
    (void)begin, (void)end, (void)task, (void)ctx;
}

static void sum_body(int64_t begin, int64_t end, int task, void *ctx) {
    const float *x = ((const float **)ctx)[0];
    float acc[16] = {0}; /* independent lanes so the loop vectorizes */
    int64_t i = begin;
    for (; i + 16 <= end; i += 16)
        for (int k = 0; k < 16; k++) acc[k] += x[i + k];
    double s = 0;
    for (; i < end; i++) s += x[i];
    for (int k = 0; k < 16; k++) s += acc[k];
    ((double *)((void **)ctx)[1])[task] = s;
}

int main(int argc, char **argv) {
    int threads = mlcc_threadpool_size();
    int iters = 200000;
    mlcc_parallel_for(1000, empty_body, NULL); /* start the workers */
    double t0 = mlcc_now_seconds();
    for (int i = 0; i < iters; i++) mlcc_parallel_for(1000, empty_body, NULL);
    double per = (mlcc_now_seconds() - t0) / iters;
    printf("parallel_for dispatch, empty body, %d threads: %.2f us\n", threads, per * 1e6);

    size_t n = 1 << 24;
    float *x = malloc(n * sizeof *x);
    uint16_t *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = (uint16_t)(i * 2654435761u);
    t0 = mlcc_now_seconds();
    mlcc_f16_to_f32_n(x, h, n);
    double f16 = mlcc_now_seconds() - t0;
    t0 = mlcc_now_seconds();
    mlcc_bf16_to_f32_n(x, h, n);
    double bf16 = mlcc_now_seconds() - t0;
    for (size_t i = 0; i < n; i++) x[i] = (float)i * 1e-3f;
    t0 = mlcc_now_seconds();
    mlcc_f32_to_f16_n(h, x, n);
    double to16 = mlcc_now_seconds() - t0;
    printf("f16->f32 %.0f M/s, bf16->f32 %.0f M/s, f32->f16 %.0f M/s (one thread)\n", n / f16 / 1e6,
           n / bf16 / 1e6, n / to16 / 1e6);

    double partial[1024];
    void *ctx[2] = {x, partial};
    t0 = mlcc_now_seconds();
    for (int r = 0; r < 20; r++) mlcc_parallel_for((int64_t)n, sum_body, ctx);
    double sum_time = (mlcc_now_seconds() - t0) / 20;
    printf("parallel sum of 64 MiB float32: %.2f ms (%.1f GB/s)\n", sum_time * 1e3,
           n * 4 / sum_time / 1e9);
    free(x);
    free(h);

    if (argc > 1) {
        t0 = mlcc_now_seconds();
        int reps = 200;
        size_t count = 0;
        for (int r = 0; r < reps; r++) {
            mlcc_safetensors *st = safetensors_open(argv[1]);
            if (!st) {
                fprintf(stderr, "%s\n", mlcc_last_error());
                return 1;
            }
            count = safetensors_count(st);
            safetensors_close(st);
        }
        printf("safetensors_open %s (%zu tensors): %.1f us\n", argv[1], count,
               (mlcc_now_seconds() - t0) / reps * 1e6);
    }
    return 0;
}
