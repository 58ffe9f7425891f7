/* null_cuda_driver.c - a CUDA driver that does nothing: device memory is host memory, kernels
 * are counted and not run, copies are memcpy. Loaded in place of libcuda.so.1 it lets mlcc's
 * CUDA host path (the VM, the generated host wrappers, the allocator, the launches, the KV
 * cache's uploads) run on a machine without a GPU, so its host-side cost can be measured apart
 * from the driver's and the GPU's (outputs are meaningless: kernels do not run).
 *
 *   gcc -O2 -shared -fPIC -o /tmp/libcuda.so.1 bench/null_cuda_driver.c
 *   MLCC_CUDA_DRIVER=/tmp/libcuda.so.1 MLCC_CUBLASLT=/nonexistent \
 *       build/mlcc debug generate --model M --tokens 1,2,3,4 --max-tokens 2010 --device cuda
 *
 * (MLCC_CUBLASLT must point nowhere: the real cuBLASLt would be handed host pointers.) Measured
 * on the development VM, 2026-11-25: 16 layers of the Llama shape at hidden 1024, 2000 greedy
 * steps took 0.3 s more than 10 steps: ~0.15 ms per step, ~9 us per layer for ~20 launches;
 * mlcc's own host work is ~0.5 us a launch (BENCHMARKS.md, "GPU greedy sampling"). */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
typedef int CUresult;
typedef unsigned long long CUdeviceptr;
static long launches;
static long pdl_launches;
static void report(void) { fprintf(stderr, "[fake cuda] %ld launches\n[fake cuda] %ld programmatic\n", launches, pdl_launches); }
CUresult cuInit(unsigned f) { (void)f; atexit(report); return 0; }
CUresult cuDriverGetVersion(int *v) { *v = 13000; return 0; }
CUresult cuDeviceGetCount(int *c) { *c = 1; return 0; }
CUresult cuDeviceGet(int *d, int o) { *d = o; return 0; }
CUresult cuDeviceGetName(char *n, int len, int d) { (void)d; snprintf(n, len, "Fake H100"); return 0; }
CUresult cuDeviceGetAttribute(int *v, int a, int d) {
    (void)d;
    switch (a) { case 1: *v = 1024; break; case 8: *v = 49152; break; case 16: *v = 132; break;
    case 75: *v = 9; break; case 76: *v = 0; break; case 97: *v = 232448; break; default: *v = 0; }
    return 0;
}
CUresult cuDeviceTotalMem_v2(size_t *b, int d) { (void)d; *b = 80ull << 30; return 0; }
CUresult cuDevicePrimaryCtxRetain(void **c, int d) { (void)d; *c = (void *)1; return 0; }
CUresult cuCtxSetCurrent(void *c) { (void)c; return 0; }
CUresult cuCtxSynchronize(void) { return 0; }
CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) { void *m = aligned_alloc(256, (n + 255) / 256 * 256); if (!m) return 2; memset(m, 0, n); *p = (CUdeviceptr)m; return 0; }
CUresult cuMemFree_v2(CUdeviceptr p) { free((void *)p); return 0; }
CUresult cuMemGetInfo_v2(size_t *f, size_t *t) { *f = 70ull << 30; *t = 80ull << 30; return 0; }
/* pinned host memory (runtime/cuda_device.c's staging of small uploads) */
CUresult cuMemAllocHost_v2(void **p, size_t n) { *p = malloc(n ? n : 1); return *p ? 0 : 2; }
CUresult cuMemFreeHost(void *p) { free(p); return 0; }
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void *s, size_t n, void *st) { (void)st; memcpy((void *)d, s, n); return 0; }
CUresult cuMemcpyDtoHAsync_v2(void *d, CUdeviceptr s, size_t n, void *st) { (void)st; memcpy(d, (void *)s, n); return 0; }
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, void *st) { (void)st; memmove((void *)d, (void *)s, n); return 0; }
CUresult cuMemsetD8Async(CUdeviceptr d, unsigned char v, size_t n, void *st) { (void)st; memset((void *)d, v, n); return 0; }
CUresult cuStreamCreate(void **s, unsigned f) { (void)f; *s = (void *)2; return 0; }
CUresult cuStreamDestroy_v2(void *s) { (void)s; return 0; }
CUresult cuStreamSynchronize(void *s) { (void)s; return 0; }
CUresult cuModuleLoadData(void **m, const void *img) { (void)img; *m = (void *)3; return 0; }
CUresult cuModuleUnload(void *m) { (void)m; return 0; }
CUresult cuModuleGetFunction(void **f, void *m, const char *n) { (void)m; (void)n; *f = (void *)4; return 0; }
CUresult cuFuncSetAttribute(void *f, int a, int v) { (void)f; (void)a; (void)v; return 0; }
CUresult cuLaunchKernel(void *f, unsigned a, unsigned b, unsigned c, unsigned d, unsigned e, unsigned g, unsigned sh, void *s, void **p, void **x) {
    (void)f; (void)a; (void)b; (void)c; (void)d; (void)e; (void)g; (void)sh; (void)s; (void)p; (void)x; launches++; return 0; }
/* cuLaunchKernelEx: counted like any launch, and apart when it asks for programmatic stream
 * serialization (attribute 6 = 1; the config's layout as cuda.h's CUlaunchConfig) */
typedef struct { int id; char pad[4]; int value; char rest[60]; } launch_attr;
typedef struct { unsigned dims[7]; void *stream; launch_attr *attrs; unsigned nattrs; } launch_config;
CUresult cuLaunchKernelEx(const launch_config *c, void *f, void **p, void **x) {
    (void)f; (void)p; (void)x;
    launches++;
    for (unsigned i = 0; i < c->nattrs; i++) pdl_launches += c->attrs[i].id == 6 && c->attrs[i].value == 1;
    return 0;
}
/* events time nothing; a captured stream records launches into a graph that replays their count */
CUresult cuEventCreate(void **e, unsigned f) { (void)f; *e = (void *)5; return 0; }
CUresult cuEventDestroy_v2(void *e) { (void)e; return 0; }
CUresult cuEventRecord(void *e, void *s) { (void)e; (void)s; return 0; }
CUresult cuEventSynchronize(void *e) { (void)e; return 0; }
CUresult cuEventElapsedTime(float *ms, void *a, void *b) { (void)a; (void)b; *ms = 0; return 0; }
static int capturing;
static long captured;
CUresult cuStreamBeginCapture_v2(void *s, int mode) { (void)s; (void)mode; capturing = 1; captured = launches; return 0; }
CUresult cuStreamEndCapture(void *s, void **g) { (void)s; capturing = 0; long *n = malloc(sizeof *n); *n = launches - captured; launches = captured; *g = n; return 0; }
CUresult cuGraphInstantiateWithFlags(void **e, void *g, unsigned long long f) { (void)f; long *n = malloc(sizeof *n); *n = *(long *)g; *e = n; return 0; }
CUresult cuGraphLaunch(void *e, void *s) { (void)s; launches += *(long *)e; return 0; }
CUresult cuGraphExecDestroy(void *e) { free(e); return 0; }
CUresult cuGraphDestroy(void *g) { free(g); return 0; }
CUresult cuGetErrorName(CUresult r, const char **s) { (void)r; *s = "FAKE"; return 0; }
CUresult cuGetErrorString(CUresult r, const char **s) { (void)r; *s = "fake"; return 0; }
