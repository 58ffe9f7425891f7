/* skinny_driver.cpp - a CUDA driver for a machine without a GPU: bench/null_cuda_driver.c,
 * except that launches of runtime/cuda_skinny.c's kernels (skinny.cu, extracted by
 * run_skinny.sh) run their source on the CPU through skinny_shim.h, one block at a time with its
 * 128 or 256 threads, and cuda_linear.c's rounding of x to half (mlcc_f32_to_f16, _v8) runs as a loop.
 * Other kernels do not run. See run_skinny.sh. */
#include "skinny_shim.h"
#define MLCC_EMU 1
#include "skinny.cu"
#include <stdio.h>
#include <stdlib.h>
#include <vector>
typedef void (*skinny_fn)(const void *, const __half *, float *, const float *, float *, int, int, int, int);
#define K(W, M, X) {"mlcc_skinny" #W "_f16_" #M "_" #X, mlcc_skinny##W##_f16_##M##_##X}
static const struct { const char *name; skinny_fn fn; } kernels[] = {
    K(4, 1, 0), K(4, 2, 0), K(4, 3, 0), K(4, 4, 0), K(4, 1, 1), K(4, 2, 1), K(4, 3, 1), K(4, 4, 1),
    K(8, 1, 0), K(8, 2, 0), K(8, 3, 0), K(8, 4, 0), K(8, 1, 1), K(8, 2, 1), K(8, 3, 1), K(8, 4, 1)};
enum { NKERNELS = 16 };
enum { K_SKINNY = 100, K_REDUCE = 200, K_ROUND = 201, K_ROUND8 = 202, K_OTHER = 4 };
struct launch { void **p; unsigned tid; skinny_fn fn; };
static void *thread_main(void *a) {
    launch *l = (launch *)a;
    threadIdx.x = l->tid;
    void **p = l->p;
    l->fn(*(const void **)p[0], *(const __half **)p[1], *(float **)p[2], *(const float **)p[3], *(float **)p[4], *(int *)p[5],
          *(int *)p[6], *(int *)p[7], *(int *)p[8]);
    return 0;
}
static void run_skinny(skinny_fn fn, unsigned gx, unsigned gy, unsigned nt, unsigned sh, void **p) {
    std::vector<unsigned char> smem(sh);
    emu_dyn_smem = smem.data();
    blockDim = {nt, 1, 1}, gridDim = {gx, gy, 1};
    pthread_t th[256];
    launch ls[256];
    for (unsigned by = 0; by < gy; by++)
        for (unsigned bx = 0; bx < gx; bx++) {
            blockIdx = {bx, by, 0};
            memset(smem.data(), 0xA5, sh); /* stale bytes, not zeros: a slot the kernel forgets shows */
            pthread_barrier_init(&block_bar, 0, nt);
            for (unsigned w = 0; w < nt / 32; w++) pthread_barrier_init(&warp_bar[w], 0, 32);
            for (unsigned t = 0; t < nt; t++) {
                ls[t] = {p, t, fn};
                pthread_create(&th[t], 0, thread_main, &ls[t]);
            }
            for (unsigned t = 0; t < nt; t++) pthread_join(th[t], 0);
            pthread_barrier_destroy(&block_bar);
            for (unsigned w = 0; w < nt / 32; w++) pthread_barrier_destroy(&warp_bar[w]);
        }
}
/* kernels without barriers: every thread of every block in turn, on this thread */
static void run_flat(unsigned gx, unsigned bx, void (*body)(void **), void **p) {
    gridDim = {gx, 1, 1}, blockDim = {bx, 1, 1};
    for (unsigned b = 0; b < gx; b++) {
        blockIdx = {b, 0, 0};
        for (unsigned t = 0; t < bx; t++) threadIdx.x = t, body(p);
    }
}
static void reduce_body(void **p) {
    mlcc_skinny_reduce(*(const float **)p[0], *(const float **)p[1], *(float **)p[2], *(long long *)p[3], *(int *)p[4]);
}
static void round_all(void **p, int v8) { /* every element, whatever the grid */
    const float *x = *(const float **)p[0];
    uint16_t *y = *(uint16_t **)p[1];
    long long n = *(long long *)p[2] * (v8 ? 8 : 1);
    for (long long i = 0; i < n; i++) y[i] = emu_f32_to_f16(x[i]);
}
/* the kernels this driver runs, whichever launch call made them */
static void run(void *f, unsigned gx, unsigned gy, unsigned bx, unsigned sh, void **p) {
    uintptr_t k = (uintptr_t)f;
    if (k >= K_SKINNY && k < K_SKINNY + NKERNELS) run_skinny(kernels[k - K_SKINNY].fn, gx, gy, bx, sh, p);
    else if (k == K_REDUCE) run_flat(gx, bx, reduce_body, p);
    else if (k == K_ROUND || k == K_ROUND8) round_all(p, k == K_ROUND8);
}
extern "C" int null_cuLaunchKernel(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void *, void **, void **);
extern "C" int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned sh,
                              void *s, void **p, void **x) {
    run(f, gx, gy, bx, sh, p);
    return null_cuLaunchKernel(f, gx, gy, gz, bx, by, bz, sh, s, p, x); /* counts it */
}
/* launches with programmatic dependent launch (the rounding kernels are declared for it) */
struct launch_config_ex { unsigned dims[7]; void *stream, *attrs; unsigned nattrs; };
extern "C" int null_cuLaunchKernelEx(const launch_config_ex *, void *, void **, void **);
extern "C" int cuLaunchKernelEx(const launch_config_ex *c, void *f, void **p, void **x) {
    run(f, c->dims[0], c->dims[1], c->dims[3], c->dims[6], p);
    return null_cuLaunchKernelEx(c, f, p, x);
}
extern "C" int null_cuModuleGetFunction(void **f, void *m, const char *n);
extern "C" int cuModuleGetFunction(void **f, void *m, const char *n) {
    (void)m;
    uintptr_t k = K_OTHER;
    for (int i = 0; i < NKERNELS; i++)
        if (!strcmp(n, kernels[i].name)) k = K_SKINNY + i;
    if (!strcmp(n, "mlcc_skinny_reduce")) k = K_REDUCE;
    if (!strcmp(n, "mlcc_f32_to_f16")) k = K_ROUND;
    if (!strcmp(n, "mlcc_f32_to_f16_v8")) k = K_ROUND8;
    *f = (void *)k;
    return 0;
}
