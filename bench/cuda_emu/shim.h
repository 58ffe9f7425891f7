#include <stdio.h>
/* shim.h - the CUDA C++ features the sampling kernel (runtime/cuda_sample_topp.c) uses, on the
 * CPU: a block's threads are pthreads, __syncthreads a barrier, a warp's shuffle a barrier of its
 * 32 threads around a slot per thread, __shared__ a static (one block runs at a time), the _rn
 * intrinsics plain float operations (compile with -ffp-contract=off). Enough to run the kernel's
 * logic where there is no GPU; nothing about its speed. */
#include <pthread.h>
#include <math.h>
#include <string.h>
#include <algorithm>
#include <atomic>
struct dim3_ { unsigned x, y, z; };
static thread_local dim3_ threadIdx;
static dim3_ blockIdx, blockDim;
static pthread_barrier_t block_bar;
static pthread_barrier_t warp_bar[64];
static double shfl_slot[4096];
#define __global__
#define __device__
#define __host__
#define __forceinline__
#define __shared__ static
#define __launch_bounds__(x)
static inline void __syncthreads() { pthread_barrier_wait(&block_bar); }
static inline float __int_as_float(int i) { float f; memcpy(&f, &i, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned u; memcpy(&u, &f, 4); return u; }
template <class T> static T __shfl_xor_sync(unsigned, T v, int d) {
    unsigned t = threadIdx.x, w = t >> 5;
    pthread_barrier_wait(&warp_bar[w]);
    memcpy(&shfl_slot[t], &v, sizeof v);
    pthread_barrier_wait(&warp_bar[w]);
    T r;
    memcpy(&r, &shfl_slot[t ^ d], sizeof r);
    pthread_barrier_wait(&warp_bar[w]);
    return r;
}
static inline float __fadd_rn(float a, float b) { volatile float r = a + b; return r; }
static inline float __fsub_rn(float a, float b) { volatile float r = a - b; return r; }
static inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }
static inline float __fdiv_rn(float a, float b) { volatile float r = a / b; return r; }
static inline int atomicAdd(int *p, int v) { return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST); }
using std::min;
