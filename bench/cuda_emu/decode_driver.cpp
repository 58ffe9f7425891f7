/* decode_driver.cpp - a CUDA driver for a machine without a GPU: bench/null_cuda_driver.c, except
 * that launches of the one-kernel decode attention (mlcc_decode_attn_g1..g8), of the rope of q
 * and of the q, k, v split (runtime/cuda_decode_attention.c; decode.cu, rope.cu and split.cu,
 * extracted by run_decode.sh) run
 * their source on the CPU through shim.h, one block at a time, a thread per CUDA thread. Other
 * kernels do not run. See run_decode.sh. */
#include "shim.h"
#include "shim_decode.h"
#ifndef DEC_NW /* warps a block: run_decode.sh passes MLCC_CUDA_DECODE_WARPS, as the host reads it */
#define DEC_NW 8
#endif
#ifndef DEC_UMUL /* the host's defaults (cuda_decode_attention.c, source_with_warps) */
#define DEC_UMUL 1
#endif
#ifndef DEC_EARLY_KV
#define DEC_EARLY_KV 0
#endif
#include "decode.cu"
#include "rope.cu"
#include "split.cu"
#include <stdio.h>
#include <stdlib.h>
#include <vector>

typedef void (*block_fn)(const decode_params &);
template <int D, typename KV, int GM> static void block_main(const decode_params &p) { decode<D, KV, GM>(p); }

template <int GM> static block_fn pick_dim(int D, int f16) {
#define DIM(d) if (D == d) return f16 ? block_main<d, __half, GM> : block_main<d, float, GM>;
    DIM(16) DIM(32) DIM(64) DIM(80) DIM(96) DIM(128) DIM(256)
#undef DIM
    return 0;
}
static block_fn pick(int gm, int D, int f16) {
    return gm == 1 ? pick_dim<1>(D, f16) : gm == 2 ? pick_dim<2>(D, f16) : gm == 4 ? pick_dim<4>(D, f16) : pick_dim<8>(D, f16);
}

struct launch { block_fn fn; const decode_params *p; unsigned tid; };
static void *thread_main(void *a) {
    launch *l = (launch *)a;
    threadIdx.x = l->tid;
    l->fn(*l->p);
    return 0;
}

extern "C" int null_cuLaunchKernel(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void *, void **, void **);
extern "C" int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned sh,
                              void *s, void **p, void **x) {
    uintptr_t id = (uintptr_t)f;
    if (id == 200) { /* mlcc_rope_q: no barriers, so threads one after another */
        for (unsigned b = 0; b < gx; b++)
            for (unsigned t = 0; t < bx; t++) {
                blockIdx.x = b, threadIdx.x = t, blockDim.x = bx;
                mlcc_rope_q(*(const float **)p[0], *(float **)p[1], *(const double **)p[2], *(long long *)p[3], *(int *)p[4],
                            *(int *)p[5]);
            }
        return 0;
    }
    if (id == 201) { /* mlcc_split_columns: likewise */
        for (unsigned b = 0; b < gx; b++)
            for (unsigned t = 0; t < bx; t++) {
                blockIdx.x = b, threadIdx.x = t, blockDim.x = bx;
                mlcc_split_columns(*(const float **)p[0], *(float **)p[1], *(long long *)p[2], *(int *)p[3], *(int *)p[4],
                                   *(int *)p[5]);
            }
        return 0;
    }
    if (id < 101 || id > 108) return null_cuLaunchKernel(f, gx, gy, gz, bx, by, bz, sh, s, p, x);
    const decode_params *prm = (const decode_params *)p[0];
    block_fn fn = pick((int)(id - 100), prm->D, prm->pages_f16);
    if (getenv("EMU_DEBUG")) fprintf(stderr, "[emu] decode g%d D %d f16 %d grid %u %u %u S %d fold %d\n", (int)(id - 100), prm->D, prm->pages_f16, gx, gy, gz, prm->S, prm->fold);
    if (!fn || bx != 32u * dec_warps((int)(id - 100), prm->D)) {
        fprintf(stderr, "[emu] no kernel for D %d with %u threads a block\n", prm->D, bx);
        abort();
    }
    std::vector<pthread_t> th(bx);
    std::vector<launch> ls(bx);
    blockDim.x = bx;
    for (unsigned z = 0; z < gz; z++)
        for (unsigned y = 0; y < gy; y++)
            for (unsigned b = 0; b < gx; b++) {
                blockIdx.x = b, blockIdx.y = y, blockIdx.z = z;
                pthread_barrier_init(&block_bar, 0, bx);
                for (unsigned w = 0; w < bx / 32; w++) pthread_barrier_init(&warp_bar[w], 0, 32);
                for (unsigned t = 0; t < bx; t++) { ls[t] = {fn, prm, t}; pthread_create(&th[t], 0, thread_main, &ls[t]); }
                for (unsigned t = 0; t < bx; t++) pthread_join(th[t], 0);
                pthread_barrier_destroy(&block_bar);
                for (unsigned w = 0; w < bx / 32; w++) pthread_barrier_destroy(&warp_bar[w]);
            }
    return 0;
}
/* cuLaunchKernelEx (the kernels declared for programmatic dependent launch): the emulated ones
 * run as above (one after another: nothing overlaps here), every launch is counted by the null
 * driver's own (the config's layout as cuda.h's CUlaunchConfig: grid, block, shared bytes) */
struct launch_config_ { unsigned dims[7]; void *stream; void *attrs; unsigned nattrs; };
extern "C" int null_cuLaunchKernelEx(const launch_config_ *, void *, void **, void **);
extern "C" int cuLaunchKernelEx(const launch_config_ *c, void *f, void **p, void **x) {
    uintptr_t id = (uintptr_t)f;
    if (id == 200 || id == 201 || (id >= 101 && id <= 108)) {
        int rc = cuLaunchKernel(f, c->dims[0], c->dims[1], c->dims[2], c->dims[3], c->dims[4], c->dims[5], c->dims[6], c->stream, p, x);
        if (rc) return rc;
    }
    return null_cuLaunchKernelEx(c, f, p, x);
}
extern "C" int cuModuleGetFunction(void **f, void *m, const char *n) {
    (void)m;
    int g = 0;
    if (sscanf(n, "mlcc_decode_attn_g%d", &g) == 1) *f = (void *)(uintptr_t)(100 + g);
    else *f = !strcmp(n, "mlcc_rope_q") ? (void *)200 : !strcmp(n, "mlcc_split_columns") ? (void *)201 : (void *)4;
    return 0;
}
