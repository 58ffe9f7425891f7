/* flash_driver.cpp - a CUDA driver for a machine without a GPU: bench/null_cuda_driver.c, except
 * that it reports an sm_80 device and that launches of the flash attention's mma.sync kernels
 * (mlcc_flash_prefill_<D>_<NW><variant>) and of mlcc_prefill_qkv_{f,h} (runtime/cuda_attention.c;
 * flash.cu, extracted by run_flash.sh) run their source on the CPU through flash_shim.h, one
 * block at a time with a thread per CUDA thread. Other kernels do not run. See run_flash.sh. */
#include "shim.h"
#include "shim_decode.h"
#include "flash_shim.h"
#include "flash.cu"
#include <dlfcn.h>
#include <stdint.h>
#include <vector>

typedef void (*flash_fn)(const void *, const void *, const int *, const int *, const int *, const int *, void *, int, int, int,
                         int, int, long long, float, float, int, int, const double *, long long);
typedef void (*qkv_fn)(const void *, __half *, __half *, const int *, const double *, long long, int, int, int, int, float);

/* a kernel handle: the function found by its name in this library, and which signature it has */
struct emu_kernel {
    void *fn;
    int qkv;
};

struct launch {
    const emu_kernel *k;
    void **p;
    unsigned tid;
};
static void *thread_main(void *a) {
    launch *l = (launch *)a;
    threadIdx = {l->tid, 0, 0};
    void **p = l->p;
    if (l->k->qkv)
        ((qkv_fn)l->k->fn)(*(const void **)p[0], *(__half **)p[1], *(__half **)p[2], *(const int **)p[3],
                           *(const double **)p[4], *(long long *)p[5], *(int *)p[6], *(int *)p[7], *(int *)p[8],
                           *(int *)p[9], *(float *)p[10]);
    else
        ((flash_fn)l->k->fn)(*(const void **)p[0], *(const void **)p[1], *(const int **)p[2], *(const int **)p[3],
                             *(const int **)p[4], *(const int **)p[5], *(void **)p[6], *(int *)p[7], *(int *)p[8],
                             *(int *)p[9], *(int *)p[10], *(int *)p[11], *(long long *)p[12], *(float *)p[13],
                             *(float *)p[14], *(int *)p[15], *(int *)p[16], *(const double **)p[17], *(long long *)p[18]);
    return 0;
}

static void run_blocks(const emu_kernel *k, unsigned gx, unsigned nt, unsigned sh, void **p) {
    std::vector<unsigned char> smem(sh ? sh : 16);
    emu_dyn_smem = smem.data();
    blockDim = {nt, 1, 1}, gridDim = {gx, 1, 1};
    std::vector<pthread_t> th(nt);
    std::vector<launch> ls(nt);
    for (unsigned bx = 0; bx < gx; bx++) {
        blockIdx = {bx, 0, 0};
        memset(smem.data(), 0xA5, smem.size()); /* stale bytes, not zeros: a slot the kernel forgets shows */
        pthread_barrier_init(&block_bar, 0, nt);
        for (unsigned w = 0; w < (nt + 31) / 32; w++) pthread_barrier_init(&warp_bar[w], 0, 32);
        for (unsigned t = 0; t < nt; t++) {
            ls[t] = {k, p, t};
            pthread_create(&th[t], 0, thread_main, &ls[t]);
        }
        for (unsigned t = 0; t < nt; t++) pthread_join(th[t], 0);
        pthread_barrier_destroy(&block_bar);
        for (unsigned w = 0; w < (nt + 31) / 32; w++) pthread_barrier_destroy(&warp_bar[w]);
    }
}

static void run(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned sh, void **p) {
    const emu_kernel *k = (const emu_kernel *)f;
    if ((uintptr_t)f < 4096 || !k->fn) return; /* a kernel that does not run here */
    if (gy != 1 || gz != 1 || bx % 32 || bx > 4096) {
        fprintf(stderr, "flash_driver: grid %u x %u x %u of %u threads is not emulated\n", gx, gy, gz, bx);
        abort();
    }
    run_blocks(k, gx, bx, sh, p);
}

extern "C" int null_cuLaunchKernel(void *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void *,
                                   void **, void **);
extern "C" int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                              unsigned sh, void *s, void **p, void **x) {
    run(f, gx, gy, gz, bx, sh, p);
    return null_cuLaunchKernel(f, gx, gy, gz, bx, by, bz, sh, s, p, x); /* counts it */
}
struct launch_config {
    unsigned dims[7];
    void *stream;
    void *attrs;
    unsigned nattrs;
};
extern "C" int null_cuLaunchKernelEx(const launch_config *, void *, void **, void **);
extern "C" int cuLaunchKernelEx(const launch_config *c, void *f, void **p, void **x) {
    run(f, c->dims[0], c->dims[1], c->dims[2], c->dims[3], c->dims[6], p);
    return null_cuLaunchKernelEx(c, f, p, x);
}
extern "C" int cuModuleGetFunction(void **f, void *m, const char *n) {
    (void)m;
    static void *self;
    if (!self) {
        Dl_info info;
        if (dladdr((void *)&run, &info)) self = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
    }
    emu_kernel *k = new emu_kernel{self ? dlsym(self, n) : 0, !strncmp(n, "mlcc_prefill_qkv_", 17)};
    *f = k;
    return 0;
}
/* an sm_80 device: the mma.sync kernels, no wgmma module, no programmatic dependent launch */
extern "C" int null_cuDeviceGetAttribute(int *v, int a, int d);
extern "C" int cuDeviceGetAttribute(int *v, int a, int d) {
    int rc = null_cuDeviceGetAttribute(v, a, d);
    if (a == 75) *v = 8; /* CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR */
    if (a == 97) *v = 166912; /* the opt-in shared memory of an A100 */
    return rc;
}
