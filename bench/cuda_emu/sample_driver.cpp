/* sample_driver.cpp - a CUDA driver for a machine without a GPU: bench/null_cuda_driver.c, except
 * that launches of mlcc_sample_rows run the sampling kernel's source (topp.cu, extracted from
 * runtime/cuda_sample_topp.c by run.sh) on the CPU through shim.h, one block at a time with
 * EMU_THREADS threads (default 64; the kernel takes any multiple of 32). Other kernels do not
 * run. See run.sh. */
#include "shim.h"
#include "topp.cu"
#include <stdio.h>
#include <stdlib.h>
#include <vector>
struct launch { void **p; unsigned tid; };
static void *thread_main(void *a) {
    launch *l = (launch *)a;
    threadIdx.x = l->tid;
    void **p = l->p;
    mlcc_sample_rows(*(float **)p[0], *(long long *)p[1], *(const row_param **)p[2], *(const int **)p[3], *(const float **)p[4],
                     *(const int **)p[5], *(const int **)p[6], *(float **)p[7], *(float **)p[8], *(int **)p[9], *(float **)p[10],
                     *(int **)p[11]);
    return 0;
}
extern "C" int null_cuLaunchKernel(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void *, void **, void **);
extern "C" int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned sh,
                              void *s, void **p, void **x) {
    if (f != (void *)7) return null_cuLaunchKernel(f, gx, gy, gz, bx, by, bz, sh, s, p, x);
    unsigned nthreads = getenv("EMU_THREADS") ? atoi(getenv("EMU_THREADS")) : 64;
    blockDim.x = nthreads;
    std::vector<pthread_t> th(nthreads);
    std::vector<launch> ls(nthreads);
    for (unsigned b = 0; b < gx; b++) {
        blockIdx.x = b;
        pthread_barrier_init(&block_bar, 0, nthreads);
        for (unsigned w = 0; w < nthreads / 32; w++) pthread_barrier_init(&warp_bar[w], 0, 32);
        for (unsigned t = 0; t < nthreads; t++) { ls[t] = {p, t}; pthread_create(&th[t], 0, thread_main, &ls[t]); }
        for (unsigned t = 0; t < nthreads; t++) pthread_join(th[t], 0);
        pthread_barrier_destroy(&block_bar);
        for (unsigned w = 0; w < nthreads / 32; w++) pthread_barrier_destroy(&warp_bar[w]);
    }
    return 0;
}
extern "C" int null_cuModuleGetFunction(void **f, void *m, const char *n);
extern "C" int cuModuleGetFunction(void **f, void *m, const char *n) {
    *f = strcmp(n, "mlcc_sample_rows") == 0 ? (void *)7 : (void *)4;
    return 0;
}
