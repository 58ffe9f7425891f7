/* shim_decode.h - what the decode attention kernel (runtime/cuda_decode_attention.c) uses beyond
 * shim.h, on the CPU: half through _Float16 (round to nearest even, as __float2half_rn), the
 * vector types, __ldcg a plain load, atomicExch and __threadfence as host atomics. */
#include <stdint.h>
using std::max;
struct __half {
    _Float16 v;
    operator float() const { return (float)v; } /* (float)h, as cuda_fp16.h allows */
};
struct __half2 { __half x, y; };
struct float2 { float x, y; };
struct float4 { float x, y, z, w; };
struct uint4 { unsigned x, y, z, w; };
struct uint2 { unsigned x, y; };
static inline float2 make_float2(float a, float b) { return {a, b}; }
static inline float4 make_float4(float a, float b, float c, float d) { return {a, b, c, d}; }
static inline uint4 make_uint4(unsigned a, unsigned b, unsigned c, unsigned d) { return {a, b, c, d}; }
static inline __half __float2half_rn(float f) { return {(_Float16)f}; }
static inline float __half2float(__half h) { return (float)h.v; }
static inline __half2 __floats2half2_rn(float a, float b) { return {{(_Float16)a}, {(_Float16)b}}; }
static inline float2 __half22float2(__half2 h) { return {(float)h.x.v, (float)h.y.v}; }
template <class T> static inline T __ldcg(const T *p) { __atomic_thread_fence(__ATOMIC_SEQ_CST); T v; memcpy(&v, (const void *)p, sizeof v); return v; }
static inline int atomicExch(int *p, int v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
/* cuda_pdl.h's device side (prepended to the module's source at run time, not part of the
 * extracted kernel source): nothing to wait for on the CPU, kernels run one after another */
static inline void mlcc_pdl_wait() {}
static inline void mlcc_pdl_launch_dependents() {}
