/* row_driver.cpp - the generated norm kernels of a CUDA model library (the row kernel of
 * schedule/gpu_row.c, its columns moved as 16-byte words by codegen_cuda.c) run on the CPU
 * through shim.h and checked against float64, on a machine without a GPU. row.cu holds the
 * kernels as `mlcc bench --device cuda` compiled them (MLCC_CUDA_KEEP_SOURCE=1), cut by
 * run_row.sh. Each block runs as THREADS pthreads (the row rule's block size); x is read at a 16-byte-aligned
 * address (the word path) and once a float further (the serial fallback). */
#include "shim.h"
#include "shim_decode.h"
#define __align__(n) alignas(n)
#include "row.cu"
#include <stdio.h>
#include <stdlib.h>
#include <vector>

struct job { float *x; void *out; float *w; int64_t n; int half; };
struct launch { job *j; unsigned tid; };
static void *run_thread(void *a) {
    launch *l = (launch *)a;
    threadIdx.x = l->tid, threadIdx.y = threadIdx.z = 0;
    if (l->j->half) rms_norm_f16_kernel0(l->j->x, (__half *)l->j->out, l->j->w, l->j->n);
    else rms_norm_kernel0(l->j->x, (float *)l->j->out, l->j->w, l->j->n);
    return 0;
}

static float frand(unsigned long long *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) / (double)(1ull << 24) * 2.0 - 1.0);
}

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: row_driver H THREADS EPS\n"); return 2; }
    const int H = atoi(argv[1]), T = atoi(argv[2]);
    const double eps = atof(argv[3]);
    const int rows = 3;
    unsigned long long seed = 42;
    std::vector<float> xs(rows * H + 8), w(H);
    for (auto &v : xs) v = frand(&seed) * 3.0f;
    for (auto &v : w) v = frand(&seed);
    int fails = 0, checks = 0;
    for (int half = 0; half < 2; half++)
        for (int shift = 0; shift < 2; shift++) {
            float *x = (float *)(((uintptr_t)xs.data() + 15) & ~(uintptr_t)15) + shift; /* 16-byte aligned, or one float off */
            std::vector<float> out32(rows * H);
            std::vector<__half> out16(rows * H);
            job j = {x, half ? (void *)out16.data() : (void *)out32.data(), w.data(), rows, half};
            std::vector<pthread_t> th(T);
            std::vector<launch> ls(T);
            blockDim.x = T, blockDim.y = blockDim.z = 1;
            for (int b = 0; b < rows; b++) {
                blockIdx.x = b, blockIdx.y = blockIdx.z = 0;
                pthread_barrier_init(&block_bar, 0, T);
                for (int wp = 0; wp < T / 32; wp++) pthread_barrier_init(&warp_bar[wp], 0, 32);
                for (int t = 0; t < T; t++) { ls[t] = {&j, (unsigned)t}; pthread_create(&th[t], 0, run_thread, &ls[t]); }
                for (int t = 0; t < T; t++) pthread_join(th[t], 0);
                pthread_barrier_destroy(&block_bar);
                for (int wp = 0; wp < T / 32; wp++) pthread_barrier_destroy(&warp_bar[wp]);
            }
            double worst = 0, top = 0;
            for (int r = 0; r < rows; r++) {
                double ss = 0;
                for (int k = 0; k < H; k++) ss += (double)x[r * H + k] * x[r * H + k];
                const double inv = 1.0 / sqrt(ss / H + eps);
                for (int k = 0; k < H; k++) {
                    const double want = x[r * H + k] * inv * w[k];
                    const double got = half ? (double)out16[r * H + k].v : out32[r * H + k];
                    worst = fabs(got - want) > worst ? fabs(got - want) : worst;
                    top = fabs(want) > top ? fabs(want) : top;
                }
            }
            const double tol = half ? 1e-3 : 1e-5, rel = worst / top;
            checks++;
            if (!(rel <= tol)) fails++;
            printf("H %d, %d threads, %s out, x %s: max error %.2e of the largest output (tolerance %.0e)%s\n", H, T,
                   half ? "half" : "float32", shift ? "one float off (serial path)" : "aligned (words)", rel, tol,
                   rel <= tol ? "" : "  FAIL");
        }
    printf("%d passed, %d failed\n", checks - fails, fails);
    return fails != 0;
}
