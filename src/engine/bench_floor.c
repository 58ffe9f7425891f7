/* bench_floor.c - memory bandwidth and GEMM rate, the floors of bench_floor.h. */
#include "engine/bench_floor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mlcc/mlcc_runtime.h"
#include "runtime/cpu_blas.h"
#include "support/alloc.h"
#include "support/clock.h"
#include "support/error.h"

/* ---- bandwidth ---- */

typedef uint64_t v8u64 __attribute__((vector_size(64)));

typedef struct stream {
    const v8u64 *data;
    uint64_t sums[256];
} stream;

/* Wide independent accumulators, so the loop is load-bound; cloned for the vector widths the
 * CPU may have (the build is not -march=native). */
__attribute__((target_clones("avx512f", "avx2", "default"))) static uint64_t sum_range(const v8u64 *p, int64_t n) {
    v8u64 a = {0}, b = {0}, c = {0}, d = {0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) a += p[i], b += p[i + 1], c += p[i + 2], d += p[i + 3];
    for (; i < n; i++) a += p[i];
    v8u64 s = a + b + c + d;
    uint64_t t = 0;
    for (int k = 0; k < 8; k++) t += s[k];
    return t;
}

static void read_chunk(int64_t begin, int64_t end, int task, void *ctx) {
    stream *s = ctx;
    s->sums[task & 255] += sum_range(s->data + begin, end - begin);
}

double mlcc_bench_read_bandwidth(size_t bytes, int passes) {
    int64_t n = (int64_t)(bytes / sizeof(v8u64));
    if (n < 1) n = 1;
    /* the CPU device's allocator, as the weights get theirs: transparent huge pages where the
     * kernel hands them out, so the floor streams through the same page size as decode's weights
     * (with THP "madvise" a plain allocation gets 4 KiB pages, and the floor read 7-10% lower on
     * the 2-core VM, 2026-11-28, which overstated decode's ratio to it) */
    const MLCCDeviceAPI *cpu = mlcc_device_api(MLCC_CPU);
    v8u64 *buf = cpu ? cpu->alloc(MLCC_CPU, (size_t)n * sizeof(v8u64), MLCC_ALLOC_ALIGNMENT) : NULL;
    if (!buf) return mlcc_prefix_error("bandwidth: cannot allocate %zu bytes", bytes), 0;
    memset(buf, 1, (size_t)n * sizeof(v8u64)); /* real pages, not the shared zero page */
    stream s = {buf, {0}};
    double best = 1e30;
    for (int r = 0; r < (passes > 0 ? passes : 5); r++) {
        double t0 = mlcc_now_seconds();
        mlcc_parallel_for(n, read_chunk, &s);
        double t = mlcc_now_seconds() - t0;
        if (t < best) best = t;
    }
    /* keep the sums observable so the reads are not optimized away */
    volatile uint64_t sink = 0;
    for (int i = 0; i < 256; i++) sink += s.sums[i];
    (void)sink;
    cpu->free(MLCC_CPU, buf);
    return (double)n * sizeof(v8u64) / best;
}

/* ---- GEMM ---- */

typedef struct tiled {
    const float *a, *b;
    float *c;
    int n;
} tiled;

enum { TILE_K = 128, TILE_J = 256 };

/* Rows [begin, end) of C += A B, blocked over k and j so a panel of B stays in cache; the
 * innermost loop runs over contiguous j and vectorizes. */
static void tiled_rows(int64_t begin, int64_t end, int task, void *ctx) {
    (void)task;
    const tiled *t = ctx;
    int n = t->n;
    for (int k0 = 0; k0 < n; k0 += TILE_K)
        for (int j0 = 0; j0 < n; j0 += TILE_J) {
            int k1 = k0 + TILE_K < n ? k0 + TILE_K : n, j1 = j0 + TILE_J < n ? j0 + TILE_J : n;
            for (int64_t i = begin; i < end; i++) {
                float *c = t->c + i * n;
                for (int k = k0; k < k1; k++) {
                    float a = t->a[i * n + k];
                    const float *b = t->b + (int64_t)k * n;
                    for (int j = j0; j < j1; j++) c[j] += a * b[j];
                }
            }
        }
}

double mlcc_bench_gemm_rate(int n, int reps, const char **how) {
    float *a = mlcc_xmalloc(sizeof(float) * (size_t)n * (size_t)n), *b = mlcc_xmalloc(sizeof(float) * (size_t)n * (size_t)n),
          *c = mlcc_xmalloc(sizeof(float) * (size_t)n * (size_t)n);
    for (size_t i = 0; i < (size_t)n * (size_t)n; i++) a[i] = (float)(i % 7) * 0.1f, b[i] = (float)(i % 5) * 0.1f;
    mlcc_cblas_sgemm_fn sgemm = mlcc_cpu_blas_sgemm();
    mlcc_cpu_blas_set_threads(mlcc_threadpool_size());
    *how = sgemm ? "openblas" : "tiled C loop";
    double best = 1e30;
    for (int r = 0; r < (reps > 0 ? reps : 3) + 1; r++) { /* the first run warms up */
        memset(c, 0, sizeof(float) * (size_t)n * (size_t)n);
        double t0 = mlcc_now_seconds();
        if (sgemm) sgemm(101 /* row major */, 111, 111, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
        else mlcc_parallel_for(n, tiled_rows, &(tiled){a, b, c, n});
        double t = mlcc_now_seconds() - t0;
        if (r > 0 && t < best) best = t;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * n * (double)n * n / best;
}
