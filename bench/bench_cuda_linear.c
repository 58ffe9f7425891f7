/* bench_cuda_linear.c - mlcc_cuda_linear_f16 (y = x @ W^T, float32 x/y, float16 W) on the
 * projection shapes of a Llama-3-8B layer (qkv 6144 x 4096, o 4096 x 4096, gate/up 14336 x 4096,
 * down 4096 x 14336) at several row counts, through both paths the runtime can take: the GEMV
 * (rows <= MLCC_CUDA_GEMV_ROWS) and cuBLASLt (x rounded to half), each forced by setting
 * MLCC_CUDA_GEMV_ROWS, where both apply (rows <= 16), and the default choice.
 * Per shape: microseconds per call (mean of REPS after a warm-up, synchronized once), TFLOP/s and
 * the rate W is read at (GB/s; the copy rate of the same device is printed first).
 *
 * `bench_cuda_linear q4`: mlcc_cuda_linear_q4 (q4f16_1: packed words and float16 scales, 0.5625
 * bytes a weight) on the Llama-3-8B decode shapes (k/v, q/o, fused qkv, gate/up, fused gate_up,
 * down, lm_head) at 1-64 and 512 rows, through the int8 GEMV (the default to 8 rows), the
 * tensor-core GEMM (cuda_gemm_q4.c; MLCC_CUDA_Q4_GEMV_ROWS=0 forces it below 9 rows,
 * MLCC_CUDA_Q4_MMA_ROWS past 64) and dequantize + float16 (MLCC_CUDA_Q4_MMA_ROWS=0). Each call
 * reads another copy of W from a 1 GB pool, so the 50 MB L2 cache holds none of it from the call
 * before; "W GB/s" counts words + scales. Two timings a call: 20 calls launched back to back
 * ("stream": the host's launch cost shows in small calls) and the same 20 calls replayed as one
 * CUDA graph ("graph": what a decode step's replay pays; the rate is from this one).
 * BENCH_Q4_ROWS=1,16 limits the row counts.
 *
 * build: make build && cc -O2 -Iinclude -Isrc bench/bench_cuda_linear.c -Lbuild -lmlcc \
 *        -lmlcc_runtime -lm -Wl,-rpath,$PWD/build -o build/bench_cuda_linear
 * run:   build/bench_cuda_linear [q4]   (needs a CUDA device) */
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

static double time_call(const float *x, const uint16_t *w, float *y, int64_t rows, int64_t out, int64_t in) {
    if (mlcc_cuda_linear_f16(0, x, w, y, rows, out, in) || mlcc_cuda_synchronize(0)) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        exit(1);
    }
    double t0 = now();
    for (int i = 0; i < REPS; i++) mlcc_cuda_linear_f16(0, x, w, y, rows, out, in);
    mlcc_cuda_synchronize(0);
    return (now() - t0) / REPS;
}

/* One q4 path: its environment (NULL value: unset) and the rows it runs at. */
typedef struct q4_path {
    const char *name;
    const char *env[4][2];
    int64_t min_rows, max_rows;
} q4_path;

static void q4_set_env(const q4_path *p) {
    static const char *const vars[] = {"MLCC_CUDA_Q4_GEMV_ROWS", "MLCC_CUDA_Q4_MMA_ROWS", "MLCC_CUDA_Q4_DP4A"};
    for (size_t v = 0; v < sizeof vars / sizeof vars[0]; v++) {
        const char *val = NULL;
        for (int i = 0; i < 4 && p->env[i][0]; i++)
            if (!strcmp(p->env[i][0], vars[v])) val = p->env[i][1];
        if (val) setenv(vars[v], val, 1);
        else unsetenv(vars[v]);
    }
}

/* REPS calls, call i reading copy (i + 1) % copies of W; in a CUDA graph (graph = 1: what a
 * decode step's replay costs, launch overhead excluded) or launched back to back. Seconds a call. */
static double q4_time(MLCCNDArray *x, MLCCNDArray *w, MLCCNDArray *y, int64_t rows, int64_t out, int64_t in, size_t one,
                      int copies, int graph) {
    size_t words = (size_t)(out * in / 2);
    mlcc_cuda_graph *g = NULL;
    for (int pass = 0; pass < 2; pass++) { /* a warm-up pass (compiles, allocates), then the timed one */
        if (pass == 1 && !graph) mlcc_cuda_synchronize(0);
        double t0 = now();
        if (graph && mlcc_cuda_capture_begin(0)) return -1;
        for (int i = 0; i < REPS; i++) {
            uint8_t *base = (uint8_t *)w->dl.data + (size_t)((i + 1) % copies) * one;
            if (mlcc_cuda_linear_q4(0, x->dl.data, (const uint32_t *)base, (const uint16_t *)(base + words), y->dl.data, rows,
                                    out, in, 7)) {
                if (graph) mlcc_cuda_graph_free(mlcc_cuda_capture_end(0));
                return -1;
            }
        }
        if (graph) {
            if (!(g = mlcc_cuda_capture_end(1)) || mlcc_cuda_graph_launch(g) || mlcc_cuda_synchronize(0)) return -1;
            t0 = now();
            for (int i = 0; i < 5; i++) mlcc_cuda_graph_launch(g);
            mlcc_cuda_synchronize(0);
            double t = (now() - t0) / (5 * REPS);
            mlcc_cuda_graph_free(g);
            if (pass == 1) return t;
            continue;
        }
        mlcc_cuda_synchronize(0);
        if (pass == 1) return (now() - t0) / REPS;
    }
    return -1;
}

/* The q4 bench (see the header): W from a pool of copies, so no call finds its W in L2. */
static int bench_q4(void) {
    static const int64_t shapes[][2] = {{1024, 4096}, {4096, 4096}, {6144, 4096}, {14336, 4096}, {28672, 4096},
                                        {4096, 14336}, {128256, 4096}};
    static const int64_t rows[] = {1, 2, 3, 4, 6, 8, 16, 32, 64, 512};
    static const q4_path paths[] = {
        {"gemv", {{NULL, NULL}}, 1, 8},
        {"mma", {{"MLCC_CUDA_Q4_GEMV_ROWS", "0"}, {NULL, NULL}}, 1, 512},
        {"dequant", {{"MLCC_CUDA_Q4_GEMV_ROWS", "0"}, {"MLCC_CUDA_Q4_MMA_ROWS", "0"}, {NULL, NULL}}, 8, 512},
    };
    const size_t pool = (size_t)1 << 30, max_x = 512 * 14336, max_y = 512 * 28672;
    DLDevice dev = {kDLCUDA, 0};
    MLCCNDArray *x = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)max_x}, MLCC_DTYPE_F32, dev);
    MLCCNDArray *y = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)max_y}, MLCC_DTYPE_F32, dev);
    MLCCNDArray *w = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)pool}, (DLDataType){kDLUInt, 8, 1}, dev);
    if (!x || !y || !w) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        return 1;
    }
    /* x: small random-ish values (the int8 path's rate does not depend on them); W: 0x11 bytes */
    float *hx = malloc(sizeof(float) * max_x);
    for (size_t i = 0; i < max_x; i++) hx[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    mlcc_ndarray_copy_from_bytes(x, hx, sizeof(float) * max_x);
    free(hx);
    mlcc_cuda_memset(0, w->dl.data, 0x11, pool);
    const char *only = getenv("BENCH_Q4_ROWS"); /* e.g. "1,16": only these row counts */
    printf("%-6s %-15s %-9s %10s %10s %9s\n", "rows", "out x in", "path", "us stream", "us graph", "W GB/s");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
            for (size_t p = 0; p < sizeof paths / sizeof paths[0]; p++) {
                int64_t out = shapes[s][0], in = shapes[s][1];
                if (rows[r] < paths[p].min_rows || rows[r] > paths[p].max_rows || (out * rows[r] > (int64_t)max_y)) continue;
                if (only) {
                    char key[24];
                    snprintf(key, sizeof key, ",%lld,", (long long)rows[r]);
                    char list[128];
                    snprintf(list, sizeof list, ",%s,", only);
                    if (!strstr(list, key)) continue;
                }
                q4_set_env(&paths[p]);
                if (rows[r] > 64 && p == 1) setenv("MLCC_CUDA_Q4_MMA_ROWS", "100000", 1);
                size_t words = (size_t)(out * in / 2), scales = (size_t)(out * in / 16), one = (words + scales + 255) / 256 * 256;
                int copies = (int)(pool / one);
                double ts = q4_time(x, w, y, rows[r], out, in, one, copies, 0);
                double tg = q4_time(x, w, y, rows[r], out, in, one, copies, 1);
                if (ts < 0 || tg < 0) {
                    fprintf(stderr, "%s\n", mlcc_last_error());
                    return 1;
                }
                printf("%-6lld %6lld x %-6lld %-9s %10.1f %10.1f %9.0f\n", (long long)rows[r], (long long)out, (long long)in,
                       paths[p].name, ts * 1e6, tg * 1e6, (double)(words + scales) / tg / 1e9);
                fflush(stdout);
            }
    unsetenv("MLCC_CUDA_Q4_GEMV_ROWS"), unsetenv("MLCC_CUDA_Q4_DP4A"), unsetenv("MLCC_CUDA_Q4_MMA_ROWS");
    mlcc_ndarray_release(x), mlcc_ndarray_release(y), mlcc_ndarray_release(w);
    return 0;
}

int main(int argc, char **argv) {
    if (!mlcc_cuda_available()) {
        fprintf(stderr, "%s\n", mlcc_cuda_status());
        return 1;
    }
    printf("%s\n%s\ncopy rate %.0f GB/s (read + written)\n", mlcc_cuda_status(), mlcc_cublaslt_status(),
           mlcc_cuda_copy_bandwidth(0, (size_t)1 << 30, 5) / 1e9);
    if (argc > 1 && !strcmp(argv[1], "q4")) return bench_q4();
    static const int64_t shapes[4][2] = {{6144, 4096}, {4096, 4096}, {14336, 4096}, {4096, 14336}};
    static const int64_t rows[] = {1, 2, 4, 8, 16, 32, 64, 128, 512, 2048};
    static const char *const paths[3][2] = {{"default", NULL}, {"cuBLASLt", "0"}, {"GEMV", "16"}};
    size_t max_x = 2048 * 14336, max_w = 14336 * 4096, max_y = 2048 * 14336;
    MLCCNDArray *x = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)max_x}, MLCC_DTYPE_F32, (DLDevice){kDLCUDA, 0});
    MLCCNDArray *w = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)max_w}, (DLDataType){kDLFloat, 16, 1}, (DLDevice){kDLCUDA, 0});
    MLCCNDArray *y = mlcc_ndarray_empty(1, (int64_t[]){(int64_t)max_y}, MLCC_DTYPE_F32, (DLDevice){kDLCUDA, 0});
    if (!x || !w || !y) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        return 1;
    }
    mlcc_cuda_memset(0, x->dl.data, 0, max_x * 4); /* zeros: the rate does not depend on the values */
    mlcc_cuda_memset(0, w->dl.data, 0, max_w * 2);
    printf("%-6s %-14s %-9s %10s %9s %9s\n", "rows", "out x in", "path", "us", "TFLOP/s", "W GB/s");
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++)
        for (int s = 0; s < 4; s++)
            for (int p = 0; p < 3; p++) {
                if (p > 0 && rows[r] > 16) continue; /* cuBLASLt only there */
                if (paths[p][1]) setenv("MLCC_CUDA_GEMV_ROWS", paths[p][1], 1);
                else unsetenv("MLCC_CUDA_GEMV_ROWS");
                int64_t out = shapes[s][0], in = shapes[s][1];
                double t = time_call(x->dl.data, w->dl.data, y->dl.data, rows[r], out, in);
                printf("%-6lld %5lld x %-6lld %-9s %10.1f %9.1f %9.0f\n", (long long)rows[r], (long long)out, (long long)in,
                       paths[p][0], t * 1e6, 2.0 * rows[r] * out * in / t / 1e12, 2.0 * out * in / t / 1e9);
            }
    unsetenv("MLCC_CUDA_GEMV_ROWS");
    mlcc_ndarray_release(x), mlcc_ndarray_release(w), mlcc_ndarray_release(y);
    return 0;
}
