/* dequant_driver.cpp - runtime/cuda_linear_q4.c's dequantize kernel (a thread per word,
 * mlcc_dequant_q4_f16) on the CPU through shim.h / shim_decode.h (run_dequant.sh extracts it):
 * against the formula half((q - zero) * s) for every value, on random words and scales, rows
 * that are whole words and rows that are not, with grids smaller than the work (the grid-stride
 * loop) and larger. The kernel keeps no shared state, so the blocks and threads run one after
 * another. */
#include <stdio.h>
#include <stdlib.h>
#include "shim.h"
#include "shim_decode.h"
static dim3_ gridDim;
static inline float __uint_as_float(unsigned u) { float f; memcpy(&f, &u, 4); return f; }
#include "dequant.cu"

typedef void (*dequant_kernel)(const unsigned *, const __half *, __half *, int, int, int);

static void launch(dequant_kernel k, unsigned blocks, const unsigned *qw, const __half *qs, __half *w, int N, int K, int zero) {
    gridDim = {blocks, 1, 1}, blockDim = {256, 1, 1};
    for (unsigned b = 0; b < blocks; b++)
        for (unsigned t = 0; t < 256; t++) {
            blockIdx = {b, 0, 0}, threadIdx = {t, 0, 0};
            k(qw, qs, w, N, K, zero);
        }
}

int main(void) {
    const int shapes[][2] = {{3, 32}, {5, 64}, {7, 4096}, {2, 14336}, {300, 256}, {1, 8224}, {4, 36}, {3, 100}};
    int failed = 0, checked = 0;
    srand(1);
    for (const auto &sh : shapes)
        for (int zero = 7; zero <= 8; zero++) {
            const int N = sh[0], K = sh[1], W = (K + 7) / 8, G = (K + 31) / 32;
            unsigned *qw = (unsigned *)aligned_alloc(16, sizeof(unsigned) * N * W);
            __half *qs = (__half *)malloc(sizeof(__half) * N * G);
            __half *w = (__half *)aligned_alloc(16, (2 * (size_t)N * K + 15) / 16 * 16);
            for (int i = 0; i < N * W; i++) qw[i] = (unsigned)rand() ^ (unsigned)rand() << 16;
            for (int i = 0; i < N * G; i++) qs[i] = __float2half_rn(4.0f * rand() / RAND_MAX - 2.0f);
            const long long words = (long long)N * W;
            for (int grid = 0; grid < 2; grid++) { /* a third of the work's blocks (strides), then all and one more */
                memset(w, 0xff, 2 * (size_t)N * K);
                unsigned blocks = grid ? (unsigned)(words / 256 + 2) : (unsigned)(words / 768 + 1);
                launch(mlcc_dequant_q4_f16, blocks, qw, qs, w, N, K, zero);
                int bad = 0;
                for (int o = 0; o < N; o++)
                    for (int k = 0; k < K; k++) {
                        int q = (int)(qw[o * W + k / 8] >> (4 * (k % 8)) & 15);
                        _Float16 want = (_Float16)((float)(q - zero) * (float)qs[o * G + k / 32].v);
                        bad += memcmp(&w[(size_t)o * K + k].v, &want, 2) != 0;
                    }
                checked++;
                if (bad) {
                    failed++;
                    printf("FAIL %d x %d, zero %d, %u blocks: %d of %d values differ\n", N, K, zero, blocks, bad, N * K);
                }
            }
            free(qw), free(qs), free(w);
        }
    printf("%d passed, %d failed\n", checked - failed, failed);
    return failed != 0;
}
