/* cuda_gemv_block.h - the end the block GEMV kernels share (cuda_linear.c's float16 one,
 * cuda_linear_q4.c's two 4-bit ones), as CUDA C++ text spliced into their sources.
 *
 * A block computes O outputs for R rows of x, its threads splitting K; each thread holds its
 * partial sums in acc[o][r]. MLCC_CUDA_GEMV_BLOCK_SUM sums them across each warp (shuffles),
 * then across the warps through the kernel's shared red[warps][O * R], and leaves thread
 * o * R + r (for the first O * R threads) inside an open block with the total in t and o, r
 * set: the kernel's own store follows (with or without a residual), then "    }\n}\n". */
#ifndef MLCC_RUNTIME_CUDA_GEMV_BLOCK_H
#define MLCC_RUNTIME_CUDA_GEMV_BLOCK_H

#include <stdint.h>
#include <stdlib.h>

/* log2 of the outputs a block GEMV block takes for `out` outputs: as many as keep at least two
 * blocks per multiprocessor (of 132) busy, at most `most` (a power of two, up to 16: the float16
 * GEMV takes 2, the 4-bit ones 8 or 16, whose blocks round x once for all their outputs: 2 was
 * 1.1-2.8x slower there). MLCC_CUDA_GEMV_OUTPUTS=1|2|4|8|16 sets it for every shape (up to
 * `most`; measurements). */
static inline int mlcc_gemv_outputs_log2(int64_t out, int most) {
    const char *v = getenv("MLCC_CUDA_GEMV_OUTPUTS");
    int n = v && *v ? atoi(v) : 0;
    if (n == 1 || n == 2 || n == 4 || n == 8 || n == 16) {
        int lo = 0;
        while ((1 << (lo + 1)) <= n && (1 << (lo + 1)) <= most) lo++;
        return lo;
    }
    int lo = 0;
    while ((1 << (lo + 1)) <= most && out >= (int64_t)(2 << lo) * 264) lo++;
    return lo;
}

/* silu as the generated kernels compute it, x * sigmoid(x) with sigmoid 1 / (1 + exp(-x)): the
 * gate_up GEMVs' silu * up (transform/fuse_gemv.c) matches the kernel it replaces */
#define MLCC_CUDA_SILU "__device__ __forceinline__ float mlcc_silu(float v) { return v * (1.f / (1.f + expf(-v))); }\n"

/* A 16-byte load of a weight (read once a step): not kept in L1, and with MLCC_WEIGHT_EVICT_FIRST
 * (cuda_module.c defines it unless MLCC_CUDA_WEIGHT_EVICT_FIRST=0) first out of L2, so a stream of
 * weights does not push out activations, K / V pages or what the next kernel reads. */
#define MLCC_CUDA_LD_WEIGHT                                                                      \
    "static __device__ __forceinline__ uint4 mlcc_ld_weight(const void *p) {\n"                  \
    "#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800 && defined(MLCC_WEIGHT_EVICT_FIRST)\n"     \
    "    unsigned long long policy;\n"                                                           \
    "    uint4 v;\n"                                                                             \
    "    asm(\"createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\" : \"=l\"(policy));\n"          \
    "    asm(\"ld.global.nc.L1::no_allocate.L2::cache_hint.v4.u32 {%0, %1, %2, %3}, [%4], %5;\"\n"    \
    "        : \"=r\"(v.x), \"=r\"(v.y), \"=r\"(v.z), \"=r\"(v.w) : \"l\"(p), \"l\"(policy));\n"        \
    "    return v;\n"                                                                            \
    "#else\n"                                                                                    \
    "    return __ldg(reinterpret_cast<const uint4 *>(p));\n"                                     \
    "#endif\n"                                                                                   \
    "}\n"

#define MLCC_CUDA_GEMV_BLOCK_SUM                                                                          \
    "    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;\n" \
    "#pragma unroll\n"                                                                                    \
    "    for (int o = 0; o < O; o++)\n"                                                                   \
    "#pragma unroll\n"                                                                                    \
    "        for (int r = 0; r < R; r++) {\n"                                                             \
    "            float t = acc[o][r];\n"                                                                  \
    "#pragma unroll\n"                                                                                    \
    "            for (int d = 16; d > 0; d >>= 1) t += __shfl_xor_sync(0xffffffffu, t, d);\n"             \
    "            if (lane == 0) red[warp][o * R + r] = t;\n"                                              \
    "        }\n"                                                                                         \
    "    __syncthreads();\n"                                                                              \
    "    if (threadIdx.x < O * R) {\n"                                                                    \
    "        int o = threadIdx.x / R, r = threadIdx.x % R;\n"                                             \
    "        float t = 0.f;\n"                                                                            \
    "        for (int i = 0; i < warps; i++) t += red[i][threadIdx.x];\n"

/* For a kernel with NORM (x is RMSNorm's input) and SILU (gate and up rows) flags: before
 * MLCC_CUDA_GEMV_BLOCK_SUM, the threads' sums of x^2 (ss[r]) into the kernel's shared
 * squares[warps][R]; after it, the store: y[r, o] (of I columns, the block's from o0, H of its
 * O outputs) = the sum times 1 / sqrt(sum x^2 / K + *eps) with NORM, silu(gate) * up with SILU
 * (the up sum read from red), plus res[r, o] when res is not NULL; then the block and the
 * function close. */
#define MLCC_CUDA_GEMV_SQUARES_SUM                                                                   \
    "    if (NORM) {\n"                                                                              \
    "#pragma unroll\n"                                                                               \
    "        for (int r = 0; r < R; r++) {\n"                                                        \
    "            float t = ss[r];\n"                                                                 \
    "#pragma unroll\n"                                                                               \
    "            for (int d = 16; d > 0; d >>= 1) t += __shfl_xor_sync(0xffffffffu, t, d);\n"       \
    "            if ((threadIdx.x & 31) == 0) squares[threadIdx.x >> 5][r] = t;\n"                  \
    "        }\n"                                                                                    \
    "    }\n"

#define MLCC_CUDA_GEMV_FUSED_STORE                                                                   \
    "        float scale = 1.f;\n"                                                                   \
    "        if (NORM) { /* nn.rms_norm's scale: 1 / sqrt(sum x^2 / K + eps) */\n"                  \
    "            float s = 0.f;\n"                                                                   \
    "            for (int i = 0; i < warps; i++) s += squares[i][r];\n"                              \
    "            scale = 1.f / sqrtf(s / (float)K + *eps);\n"                                        \
    "            t *= scale;\n"                                                                      \
    "        }\n"                                                                                    \
    "        if (SILU && o < H) { /* silu(gate) * up, the up sum read from the block's partials */\n" \
    "            float u = 0.f;\n"                                                                   \
    "            for (int i = 0; i < warps; i++) u += red[i][(o + H) * R + r];\n"                    \
    "            t = mlcc_silu(t) * (u * scale);\n"                                                  \
    "        }\n"                                                                                    \
    "        long long i = (long long)r * I + o0 + o;\n"                                            \
    "        if (o < H && o0 + o < I) y[i] = res ? t + res[i] : t;\n"                               \
    "    }\n"                                                                                        \
    "}\n"

#endif
