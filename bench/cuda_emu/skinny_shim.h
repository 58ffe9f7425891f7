/* skinny_shim.h - the CUDA C++ features runtime/cuda_skinny.c's kernels use, on the CPU (for
 * skinny_driver.cpp): a block's 128 or 256 threads are pthreads, __syncthreads a barrier, cp.async a
 * plain 16-byte copy (commit and wait do nothing: the copy is done when it returns), mma.sync
 * m16n8k16 computed from the 32 lanes' fragments (mma_emu.h), __half a 16-bit
 * pattern rounded to nearest even. Checks the kernels' indexing, staging, permuted K order,
 * tails and split-K sums where there is no GPU; nothing about speed or the memory model. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
#include <algorithm>
struct dim3_ { unsigned x, y, z; };
static thread_local dim3_ threadIdx;
static dim3_ blockIdx, blockDim, gridDim;
static pthread_barrier_t block_bar, warp_bar[8];
static unsigned char *emu_dyn_smem;
struct uint4 { unsigned x, y, z, w; };
struct float4 { float x, y, z, w; };
static inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
static inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
struct __half { uint16_t bits; };
struct __half2 { __half x, y; };
static inline uint16_t emu_f32_to_f16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000u;
    float a = fabsf(f);
    if (!(a == a)) return (uint16_t)(sign | 0x7e00u);
    if (a >= 65520.0f) return (uint16_t)(sign | 0x7c00u);
    if (a < 6.103515625e-05f) return (uint16_t)(sign | (uint32_t)lrintf(a * 16777216.0f)); /* subnormal: units of 2^-24 */
    int e;
    float m = frexpf(a, &e); /* a = m 2^e, m in [0.5, 1) */
    uint32_t q = (uint32_t)lrintf(m * 2048.0f); /* 11 significant bits, ties to even */
    if (q == 2048) q = 1024, e++;
    return (uint16_t)(sign | ((uint32_t)(e + 14) << 10) | (q - 1024));
}
static inline float emu_f16_to_f32(uint16_t h) {
    uint32_t e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), (int)e - 25);
    return h & 0x8000 ? -v : v;
}
static inline __half2 __floats2half2_rn(float a, float b) { return {{emu_f32_to_f16(a)}, {emu_f32_to_f16(b)}}; }
template <class T> static inline T __ldcg(const T *p) { return *p; }
#define __global__
#define __device__
#define __forceinline__
#define __launch_bounds__(x)
#define __restrict__
static inline void __syncthreads() { pthread_barrier_wait(&block_bar); }
static inline void cp_async16(void *smem, const void *gmem) { memcpy(smem, gmem, 16); }
static inline void cp_async_commit() {}
template <int N> static inline void cp_async_wait() {}
static inline float half_of(unsigned reg, int hi) { return emu_f16_to_f32((uint16_t)(hi ? reg >> 16 : reg & 0xffff)); }
#include "mma_emu.h"
static inline void mma16816(float *c, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1) {
    emu_mma16816<half_of>(c, a0, a1, a2, a3, b0, b1);
}
using std::min;
