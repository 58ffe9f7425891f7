/* bench_cuda_skinny.c - the float16 projections of a Llama-3-8B decode step at 16, 32 and 64 rows
 * (batched decode): qkv 6144 x 4096, o 4096 x 4096, gate_up 28672 x 4096, down 4096 x 14336,
 * lm_head 128256 x 4096, through mlcc_cuda_linear_f16 as the model calls it (x float32): the
 * skinny tensor-core matmul (cuda_skinny.c, MLCC_CUDA_SKINNY=1) reading x as float32, or x
 * rounded to half first (MLCC_CUDA_SKINNY_XF32=0), with 1-3 blocks a multiprocessor as the
 * split-K target, blocks of 128 or 256 outputs (MLCC_CUDA_SKINNY_WARPS=8), and cuBLASLt (x rounded to half first: what the runtime does by default). Each
 * call reads another copy of W from a 2 GB pool, so the 50 MB L2 holds none of it from the call
 * before (as in a model, where a step streams every weight once). Per call: microseconds (mean
 * of REPS after a warm-up) and the rate W is read at; the copy rate of the device first. Before
 * timing, each skinny variant's y on random x and W is compared with cuBLASLt's (the largest
 * difference over the largest |y|; both round x to half, so only the sum order differs).
 * `bench_cuda_skinny lt`: cuBLASLt only (run with MLCC_CUDA_SKINNY=0 MLCC_CUDA_LT_TUNE=1
 * MLCC_LOG=info to time every candidate algorithm of each shape, split-K ones included).
 *
 * build: make build && cc -O2 -Iinclude -Isrc bench/bench_cuda_skinny.c -Lbuild -lmlcc \
 *        -lmlcc_runtime -lm -Wl,-rpath,$PWD/build -o build/bench_cuda_skinny */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/cuda.h"
#include "support/error.h"

enum { REPS = 20 };

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double time_calls(const float *x, const char *pool, size_t pool_bytes, float *y, int64_t rows, int64_t out, int64_t in) {
    size_t wbytes = (size_t)(out * in) * 2, copies = pool_bytes / wbytes;
    if (copies < 1) copies = 1;
    double t0 = 0;
    for (int i = -1; i < REPS; i++) {
        if (i == 0) {
            mlcc_cuda_synchronize(0);
            t0 = now();
        }
        const uint16_t *w = (const uint16_t *)(pool + (size_t)((i + 1) % (int)copies) * wbytes);
        if (mlcc_cuda_linear_f16(0, x, w, y, rows, out, in)) {
            fprintf(stderr, "%s\n", mlcc_last_error());
            exit(1);
        }
    }
    mlcc_cuda_synchronize(0);
    return (now() - t0) / REPS;
}

static uint32_t rng = 12345;
static float rand_unit(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / 8388608.0f - 1.0f;
}

static uint16_t to_half(float f) { /* |f| <= 1, normal or zero: enough for the check */
    union { float f; uint32_t u; } v = {f};
    uint32_t sign = (v.u >> 16) & 0x8000, e = (v.u >> 23) & 0xff, m = v.u & 0x7fffff;
    if (e < 113) return (uint16_t)sign;
    return (uint16_t)(sign | ((e - 112) << 10) | (m >> 13));
}

/* Random x and W (out x in), then every skinny variant at 9, 16, 33 and 64 rows against cuBLASLt */
static void check_against_cublaslt(int64_t out, int64_t in) {
    size_t nw = (size_t)(out * in), nx = (size_t)(64 * in), ny = (size_t)(64 * out);
    DLDevice dev = {kDLCUDA, 0};
    MLCCNDArray *x = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)nx}, MLCC_DTYPE_F32, dev);
    MLCCNDArray *y = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)ny}, MLCC_DTYPE_F32, dev);
    MLCCNDArray *pool = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)nw}, (DLDataType){kDLFloat, 16, 1}, dev);
    uint16_t *hw = malloc(nw * 2);
    float *hx = malloc(nx * 4), *ref = malloc(ny * 4), *got = malloc(ny * 4);
    for (size_t i = 0; i < nw; i++) hw[i] = to_half(rand_unit());
    for (size_t i = 0; i < nx; i++) hx[i] = rand_unit();
    if (!x || !y || !pool || mlcc_ndarray_copy_from_bytes(pool, hw, nw * 2) || mlcc_ndarray_copy_from_bytes(x, hx, nx * 4)) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        exit(1);
    }
    static const int64_t rows[] = {9, 16, 33, 64};
    static const char *const variants[][4] = {{"xf32 v2", "1", "2", "4"}, {"x16 v2", "0", "2", "4"}, {"xf32 v1", "1", "1", "4"},
                                              {"xf32 v3", "1", "3", "4"}, {"w8 xf32", "1", "2", "8"}, {"w8 x16", "0", "2", "8"}};
    for (int r = 0; r < 4; r++) {
        setenv("MLCC_CUDA_SKINNY", "0", 1);
        mlcc_cuda_linear_f16(0, x->dl.data, pool->dl.data, y->dl.data, rows[r], out, in);
        mlcc_ndarray_copy_to_bytes(y, ref, ny * 4);
        double big = 0;
        for (int64_t i = 0; i < rows[r] * out; i++) big = fabs(ref[i]) > big ? fabs(ref[i]) : big;
        printf("check %lld x %lld x %lld vs cuBLASLt:", (long long)rows[r], (long long)out, (long long)in);
        for (int v = 0; v < 6; v++) {
            setenv("MLCC_CUDA_SKINNY", "1", 1);
            setenv("MLCC_CUDA_SKINNY_XF32", variants[v][1], 1);
            setenv("MLCC_CUDA_SKINNY_WAVES", variants[v][2], 1);
            setenv("MLCC_CUDA_SKINNY_WARPS", variants[v][3], 1);
            mlcc_cuda_memset(0, y->dl.data, 0xff, (size_t)(rows[r] * out) * 4);
            if (mlcc_cuda_linear_f16(0, x->dl.data, pool->dl.data, y->dl.data, rows[r], out, in)) {
                fprintf(stderr, "%s\n", mlcc_last_error());
                exit(1);
            }
            mlcc_ndarray_copy_to_bytes(y, got, ny * 4);
            double worst = 0;
            for (int64_t i = 0; i < rows[r] * out; i++) {
                double e = fabs((double)got[i] - ref[i]);
                if (!(e <= worst)) worst = isnan(e) ? INFINITY : e;
            }
            printf(" %s %.2g", variants[v][0], worst / big);
        }
        printf("\n");
    }
    mlcc_ndarray_release(x), mlcc_ndarray_release(y), mlcc_ndarray_release(pool);
    free(hw), free(hx), free(ref), free(got);
}

int main(int argc, char **argv) {
    if (!mlcc_cuda_available()) {
        fprintf(stderr, "%s\n", mlcc_cuda_status());
        return 1;
    }
    int lt_only = argc > 1 && !strcmp(argv[1], "lt");
    printf("%s\n%s\ncopy rate %.0f GB/s (read + written)\n", mlcc_cuda_status(), mlcc_cublaslt_status(),
           mlcc_cuda_copy_bandwidth(0, (size_t)1 << 30, 5) / 1e9);
    static const struct { const char *name; int64_t out, in; } shapes[] = {
        {"qkv", 6144, 4096}, {"o", 4096, 4096}, {"gate_up", 28672, 4096}, {"down", 4096, 14336}, {"lm_head", 128256, 4096}};
    static const int64_t rows[] = {16, 32, 64};
    static const struct { const char *name, *skinny, *xf32, *waves, *warps; } paths[] = {
        {"skinny", "1", "1", "2", "4"},    {"skinny x16", "1", "0", "2", "4"}, {"skinny v1", "1", "1", "1", "4"},
        {"skinny v3", "1", "1", "3", "4"}, {"skinny w8", "1", "1", "2", "8"},  {"skinny w8 x16", "1", "0", "2", "8"},
        {"cuBLASLt", "0", "1", "2", "4"}};
    const size_t pool_bytes = (size_t)2 << 30, max_x = 64 * 14336, max_y = 64 * 128256;
    DLDevice dev = {kDLCUDA, 0};
    MLCCNDArray *x = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)max_x}, MLCC_DTYPE_F32, dev);
    MLCCNDArray *y = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)max_y}, MLCC_DTYPE_F32, dev);
    MLCCNDArray *pool = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)pool_bytes}, (DLDataType){kDLUInt, 8, 1}, dev);
    if (!x || !y || !pool) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        return 1;
    }
    mlcc_cuda_memset(0, x->dl.data, 0, max_x * 4); /* zeros: the rate does not depend on the values */
    mlcc_cuda_memset(0, pool->dl.data, 0, pool_bytes);
    printf("%-8s %-5s %-15s %-13s %9s %9s\n", "shape", "rows", "out x in", "path", "us", "W GB/s");
    if (!lt_only) /* qkv, o, down: with and without split-K, every row-tile count */
        for (int s = 0; s < 4; s++)
            if (s != 2) check_against_cublaslt(shapes[s].out, shapes[s].in);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
            for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
                if (lt_only && strcmp(paths[p].name, "cuBLASLt")) continue;
                if (!lt_only) setenv("MLCC_CUDA_SKINNY", paths[p].skinny, 1);
                setenv("MLCC_CUDA_SKINNY_XF32", paths[p].xf32, 1);
                setenv("MLCC_CUDA_SKINNY_WAVES", paths[p].waves, 1);
                setenv("MLCC_CUDA_SKINNY_WARPS", paths[p].warps, 1);
                int64_t out = shapes[s].out, in = shapes[s].in;
                double t = time_calls(x->dl.data, pool->dl.data, pool_bytes, y->dl.data, rows[r], out, in);
                printf("%-8s %-5lld %6lld x %-6lld %-13s %9.1f %9.0f\n", shapes[s].name, (long long)rows[r], (long long)out,
                       (long long)in, paths[p].name, t * 1e6, 2.0 * out * in / t / 1e9);
            }
    mlcc_ndarray_release(x), mlcc_ndarray_release(y), mlcc_ndarray_release(pool);
    return 0;
}
