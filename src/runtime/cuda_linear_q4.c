/* cuda_linear_q4.c - y[rows, out] = x[rows, in] @ W[out, in]^T with float32 x and y and a 4-bit
 * group-quantized W (q4f16_1, ggml_q4_0: docs/quantization.md), on a CUDA device: the packed
 * functions `mlcc.cuda.linear_q4f16` (zero point 7) and `mlcc.cuda.linear_q4f16_zp8` (zero
 * point 8) that the CUDA build's dispatch (transform/cuda_dispatch.c) calls for every such
 * projection. Arguments: x, q_weight uint32 [out, ceil(in / 8)], q_scale float16
 * [out, ceil(in / 32)], y.
 *
 * Why a hand-written kernel and not the TIR GEMV rule: the fused dequantize-matmul PrimFunc
 * extracts a value with a select tree over `j % 8` (TIR has no shift operators here), one
 * value per load, while decode is bound by how fast the packed words stream in. Here a lane
 * takes a whole group per load (16 bytes: four words, 32 values, one scale), turns nibbles into
 * floats with the exponent trick (`(q | 0x4B000000) as float - (2^23 + zero_point)`: exact, two
 * integer/float operations instead of a conversion), and for one row of x reuses each loaded
 * slice of x for four output rows (O per warp), so x's traffic from L1 stays below the weight's
 * from memory.
 *
 *  - rows <= MLCC_CUDA_Q4_GEMV_ROWS (default 2; decode): the fused block GEMV (a block per 1-8
 *    outputs, its threads over the groups, up to 4 rows of x per pass). By default the int8
 *    one: each thread rounds its group of x to int8 (scale max|x| / 127, as llama.cpp's q8_1
 *    and this project's CPU 4-bit path do) and multiplies with dp4a on masked nibbles, integer
 *    sums exact, one float scale product per group (error: at most sum |w| * max|x| / 254 per
 *    group beyond float32's; measured ~1e-3 of sum |x w| on random data). For one row, x is
 *    rounded once per projection (mlcc_quantize_x8) and, up to 512 groups of K, a block has a
 *    thread per group and no group loop (one_round). MLCC_CUDA_Q4_DP4A=0:
 *    the float one (exponent trick below, float32 products); MLCC_CUDA_Q4_BLOCK=0: a warp per 1
 *    or 4 outputs, up to 16 rows per pass; MLCC_CUDA_Q4_STREAM=1 (one row, sm_90, K % 256 == 0):
 *    the streaming GEMV (weights through shared memory by bulk copies; measured slower in the
 *    step, see stream_shape);
 *  - up to MLCC_CUDA_Q4_MMA_ROWS rows (default 64; batched decode, short prompts): the
 *    tensor-core GEMM of cuda_gemm_q4.c, packed words turned into float16 in registers, x
 *    rounded to float16 (read as it is where a prompt's activations are half already);
 *  - more rows (prefill), or MLCC_CUDA_Q4_MMA_ROWS=0: W dequantized into a float16 workspace
 *    (values (q - z) * s rounded to float16 once), then the float16 path of cuda_linear.c (its
 *    GEMV up to MLCC_CUDA_GEMV_ROWS rows, cuBLASLt above).
 * The fast path wants in % 32 == 0 and 16-byte aligned pointers; other shapes take a scalar
 * loop with the same arithmetic. The fusions of transform/cuda_dispatch.c and fuse_gemv.c
 * (mlcc_cuda_linear_q4_fused: a residual added as y is stored, RMSNorm's scale, silu * up) go
 * into the int8 GEMV for 1-2 rows and are kernels around the matmul otherwise. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda.h"
#include "runtime/cuda_gemm_q4.h"
#include "runtime/cuda_gemv_block.h"
#include "runtime/cuda_mbarrier.h"
#include "runtime/cuda_pdl.h"
#include "runtime/device.h"
#include "runtime/packed.h"
#include "runtime/projection_args.h"
#include "support/env.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "support/strbuf.h"

static const char *const kernel_source = MLCC_CUDA_PDL_HELPERS
    "#include <cuda_fp16.h>\n"
    MLCC_CUDA_SILU
    MLCC_PDL_DECLARATION " mlcc_gemv_q4b_ mlcc_gemv_q4i_ mlcc_gemv_q4s mlcc_quantize_x8 mlcc_norm_quantize_x8\n"
    MLCC_CUDA_LD_WEIGHT
    "/* (q - zero) as float, q in the low 4 bits of v: exact. */\n"
    "__device__ __forceinline__ float nib(unsigned v, float zoff) {\n"
    "    return __uint_as_float((v & 15u) | 0x4B000000u) - zoff;\n"
    "}\n"
    "/* R rows of x, O outputs per warp; lanes take groups of 32 values (uint4 of words). */\n"
    "template <int R, int O>\n"
    "__device__ __forceinline__ void gemv_q4(const float *__restrict__ x, const unsigned *__restrict__ qw,\n"
    "                                        const __half *__restrict__ qs, float *__restrict__ y,\n"
    "                                        int N, int K, int zero) {\n"
    "    int warp = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5), lane = threadIdx.x & 31;\n"
    "    int o0 = warp * O;\n"
    "    if (o0 >= N) return;\n"
    "    const int G = K >> 5, W = K >> 3;\n"
    "    const float zoff = 8388608.0f + (float)zero;\n"
    "    float acc[O][R];\n"
    "#pragma unroll\n"
    "    for (int o = 0; o < O; o++)\n"
    "#pragma unroll\n"
    "        for (int r = 0; r < R; r++) acc[o][r] = 0.f;\n"
    "#pragma unroll 2\n"
    "    for (int g = lane; g < G; g += 32) {\n"
    "        uint4 q[O];\n"
    "        float s[O];\n"
    "#pragma unroll\n"
    "        for (int o = 0; o < O; o++) {\n"
    "            int row = o0 + o < N ? o0 + o : N - 1; /* a tail warp repeats the last row, unwritten */\n"
    "            q[o] = mlcc_ld_weight(reinterpret_cast<const uint4 *>(qw + (long long)row * W) + g);\n"
    "            s[o] = __half2float(qs[(long long)row * G + g]);\n"
    "        }\n"
    "#pragma unroll\n"
    "        for (int r = 0; r < R; r++) {\n"
    "            const float4 *xr = reinterpret_cast<const float4 *>(x + (long long)r * K + (g << 5));\n"
    "            float part[O];\n"
    "#pragma unroll\n"
    "            for (int o = 0; o < O; o++) part[o] = 0.f;\n"
    "#pragma unroll\n"
    "            for (int w = 0; w < 4; w++) {\n"
    "                float4 a = xr[2 * w], b = xr[2 * w + 1];\n"
    "#pragma unroll\n"
    "                for (int o = 0; o < O; o++) {\n"
    "                    unsigned v = w == 0 ? q[o].x : w == 1 ? q[o].y : w == 2 ? q[o].z : q[o].w;\n"
    "                    part[o] += a.x * nib(v, zoff) + a.y * nib(v >> 4, zoff) + a.z * nib(v >> 8, zoff)\n"
    "                             + a.w * nib(v >> 12, zoff) + b.x * nib(v >> 16, zoff) + b.y * nib(v >> 20, zoff)\n"
    "                             + b.z * nib(v >> 24, zoff) + b.w * nib(v >> 28, zoff);\n"
    "                }\n"
    "            }\n"
    "#pragma unroll\n"
    "            for (int o = 0; o < O; o++) acc[o][r] += part[o] * s[o];\n"
    "        }\n"
    "    }\n"
    "#pragma unroll\n"
    "    for (int o = 0; o < O; o++)\n"
    "#pragma unroll\n"
    "        for (int r = 0; r < R; r++) {\n"
    "            float t = acc[o][r];\n"
    "#pragma unroll\n"
    "            for (int d = 16; d > 0; d >>= 1) t += __shfl_xor_sync(0xffffffffu, t, d);\n"
    "            if (lane == 0 && o0 + o < N) y[(long long)r * N + o0 + o] = t;\n"
    "        }\n"
    "}\n"
    "#define GEMV_Q4(R, O) extern \"C\" __global__ void __launch_bounds__(256) mlcc_gemv_q4_##R##_##O(\\\n"
    "    const float *x, const unsigned *qw, const __half *qs, float *y, int N, int K, int zero) {\\\n"
    "    gemv_q4<R, O>(x, qw, qs, y, N, K, zero); }\n"
    "GEMV_Q4(1, 1)\nGEMV_Q4(2, 1)\nGEMV_Q4(4, 1)\nGEMV_Q4(8, 1)\nGEMV_Q4(16, 1)\nGEMV_Q4(1, 4)\n"
    "/* The block GEMV: a block takes O outputs, its threads the groups of K (uint4 of words each, one\n"
    " * scale), so a thread issues O independent 16-byte loads at a time and each slice of x it loads\n"
    " * serves O rows of W; sums meet through shuffles and shared memory. Many short blocks keep the\n"
    " * memory system busy where a warp per output (above) left few long-running warps per SM. */\n"
    "template <int O, int R>\n"
    "__device__ __forceinline__ void gemv_q4_block(const float *__restrict__ x, const unsigned *__restrict__ qw,\n"
    "                                              const __half *__restrict__ qs, float *__restrict__ y,\n"
    "                                              int N, int K, int zero) {\n"
    "    __shared__ float red[8][O * R];\n"
    "    const int o0 = blockIdx.x * O, G = K >> 5, W = K >> 3;\n"
    "    mlcc_pdl_prefetch(qs + (long long)o0 * G, (long long)min(O, N - o0) * G * 2);\n"
    "    mlcc_pdl_begin(qw + (long long)o0 * W, (long long)min(O, N - o0) * W * 4);\n"
    "    const float zoff = 8388608.0f + (float)zero;\n"
    "    float acc[O][R];\n"
    "#pragma unroll\n"
    "    for (int o = 0; o < O; o++)\n"
    "#pragma unroll\n"
    "        for (int r = 0; r < R; r++) acc[o][r] = 0.f;\n"
    "    for (int g = threadIdx.x; g < G; g += blockDim.x) {\n"
    "        uint4 q[O];\n"
    "        float s[O];\n"
    "#pragma unroll\n"
    "        for (int o = 0; o < O; o++) {\n"
    "            int row = o0 + o < N ? o0 + o : N - 1; /* a tail block repeats the last row, unwritten */\n"
    "            q[o] = mlcc_ld_weight(reinterpret_cast<const uint4 *>(qw + (long long)row * W) + g);\n"
    "            s[o] = __half2float(qs[(long long)row * G + g]);\n"
    "        }\n"
    "#pragma unroll\n"
    "        for (int r = 0; r < R; r++) {\n"
    "            const float4 *xr = reinterpret_cast<const float4 *>(x + (long long)r * K + (g << 5));\n"
    "            float part[O];\n"
    "#pragma unroll\n"
    "            for (int o = 0; o < O; o++) part[o] = 0.f;\n"
    "#pragma unroll\n"
    "            for (int w = 0; w < 4; w++) {\n"
    "                float4 a = __ldg(xr + 2 * w), b = __ldg(xr + 2 * w + 1);\n"
    "#pragma unroll\n"
    "                for (int o = 0; o < O; o++) {\n"
    "                    unsigned v = w == 0 ? q[o].x : w == 1 ? q[o].y : w == 2 ? q[o].z : q[o].w;\n"
    "                    part[o] += a.x * nib(v, zoff) + a.y * nib(v >> 4, zoff) + a.z * nib(v >> 8, zoff)\n"
    "                             + a.w * nib(v >> 12, zoff) + b.x * nib(v >> 16, zoff) + b.y * nib(v >> 20, zoff)\n"
    "                             + b.z * nib(v >> 24, zoff) + b.w * nib(v >> 28, zoff);\n"
    "                }\n"
    "            }\n"
    "#pragma unroll\n"
    "            for (int o = 0; o < O; o++) acc[o][r] += part[o] * s[o];\n"
    "        }\n"
    "    }\n"
    MLCC_CUDA_GEMV_BLOCK_SUM
    "        if (o0 + o < N) y[(long long)r * N + o0 + o] = t;\n"
    "    }\n"
    "}\n"
    "#define GEMV_Q4B(O, R) extern \"C\" __global__ void __launch_bounds__(256) mlcc_gemv_q4b_##O##_##R(\\\n"
    "    const float *x, const unsigned *qw, const __half *qs, float *y, int N, int K, int zero) {\\\n"
    "    gemv_q4_block<O, R>(x, qw, qs, y, N, K, zero); }\n"
    "GEMV_Q4B(1, 1)\nGEMV_Q4B(2, 1)\nGEMV_Q4B(4, 1)\nGEMV_Q4B(8, 1)\n"
    "GEMV_Q4B(1, 2)\nGEMV_Q4B(2, 2)\nGEMV_Q4B(4, 2)\nGEMV_Q4B(8, 2)\n"
    "GEMV_Q4B(1, 4)\nGEMV_Q4B(2, 4)\nGEMV_Q4B(4, 4)\nGEMV_Q4B(8, 4)\n"
    "/* The int8 block GEMV (the default; MLCC_CUDA_Q4_DP4A=0 keeps the float one above). Same blocks\n"
    " * and loads as the block GEMV, but the thread that uses a group of x (32 floats) rounds it to int8\n"
    " * with one scale d = max|x| / 127 (llama.cpp's q8_1 idea, here in registers, so no extra launch\n"
    " * and no workspace), laid out per word as its even then its odd positions: `w & 0x0F0F0F0F` and\n"
    " * `(w >> 4) & 0x0F0F0F0F` (four nibbles as bytes each) then meet their x bytes in one dp4a each.\n"
    " * Per 32 values and output: 8 masks/shifts and 8 dp4a with exact integer sums, then one float\n"
    " * s_w * d * (sum - zero * sum(q_x)), where the float kernel spends four instructions per value.\n"
    " * Weights stream through ld.global.nc.L1::no_allocate (read once; x keeps L1). */\n"
    "__device__ __forceinline__ uint4 ld_stream16(const void *p) {\n"
    "#if defined(MLCC_WEIGHT_EVICT_FIRST)\n"
    "    return mlcc_ld_weight(p);\n"
    "#else\n"
    "    uint4 v;\n"
    "    asm(\"ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];\" : \"=r\"(v.x), \"=r\"(v.y), \"=r\"(v.z), \"=r\"(v.w) : \"l\"(p));\n"
    "    return v;\n"
    "#endif\n"
    "}\n"
    "/* The low bytes of four floats' bits (of 1.5 * 2^23 + q: q mod 256, i.e. q as int8) in one word. */\n"
    "__device__ __forceinline__ int pack_low_bytes(float a, float b, float c, float d) {\n"
    "    unsigned lo = __byte_perm(__float_as_uint(a), __float_as_uint(b), 0x0040u);\n"
    "    unsigned hi = __byte_perm(__float_as_uint(c), __float_as_uint(d), 0x0040u);\n"
    "    return (int)__byte_perm(lo, hi, 0x5410u);\n"
    "}\n"
    "/* One group of x (32 floats, 16-byte aligned) as int8 in dp4a order: xi[2w] = q[8w + 0, 2, 4, 6],\n"
    " * xi[2w + 1] = q[8w + 1, 3, 5, 7], q = rint(x * 127 / max|x|) (one fma with 1.5 * 2^23 rounds);\n"
    " * *qsum = the sum of the q, the result d = max|x| / 127, so x ~ d * q. */\n"
    "__device__ __forceinline__ float quantize_group(const float4 (&v)[8], int xi[8], int *qsum) {\n"
    "    float m = 0.f;\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 8; i++)\n"
    "        m = fmaxf(m, fmaxf(fmaxf(fabsf(v[i].x), fabsf(v[i].y)), fmaxf(fabsf(v[i].z), fabsf(v[i].w))));\n"
    "    const float id = m > 0.f ? 127.f / m : 0.f, magic = 12582912.f;\n"
    "    int s = 0;\n"
    "#pragma unroll\n"
    "    for (int w = 0; w < 4; w++) {\n"
    "        float4 a = v[2 * w], b = v[2 * w + 1];\n"
    "        xi[2 * w] = pack_low_bytes(fmaf(a.x, id, magic), fmaf(a.z, id, magic), fmaf(b.x, id, magic), fmaf(b.z, id, magic));\n"
    "        xi[2 * w + 1] = pack_low_bytes(fmaf(a.y, id, magic), fmaf(a.w, id, magic), fmaf(b.y, id, magic), fmaf(b.w, id, magic));\n"
    "        s = __dp4a(xi[2 * w], 0x01010101, s);\n"
    "        s = __dp4a(xi[2 * w + 1], 0x01010101, s);\n"
    "    }\n"
    "    *qsum = s;\n"
    "    return m * (1.f / 127.f);\n"
    "}\n"
    "__device__ __forceinline__ float quantize_x_group(const float *__restrict__ xg, int xi[8], int *qsum) {\n"
    "    float4 v[8];\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 8; i++) v[i] = __ldg(reinterpret_cast<const float4 *>(xg) + i);\n"
    "    return quantize_group(v, xi, qsum);\n"
    "}\n"
    "/* Group g of a row rounded to int8 (values in dp4a order, d, their sum) into the layout x8_group\n"
    " * reads: xq [G][8] ints, then d [G] floats, then the sums [G] ints. */\n"
    "__device__ __forceinline__ void store_x8_group(int *xq, int G, int g, const int xi[8], float d, int sum) {\n"
    "    int4 *dst = reinterpret_cast<int4 *>(xq) + 2 * g;\n"
    "    dst[0] = make_int4(xi[0], xi[1], xi[2], xi[3]);\n"
    "    dst[1] = make_int4(xi[4], xi[5], xi[6], xi[7]);\n"
    "    reinterpret_cast<float *>(xq + 8 * G)[g] = d;\n"
    "    xq[9 * G + g] = sum;\n"
    "}\n"
    "/* One row of x rounded to int8 once for a whole projection (XQ below): thread g writes group g as\n"
    " * quantize_x_group makes it (store_x8_group). */\n"
    "extern \"C\" __global__ void __launch_bounds__(128) mlcc_quantize_x8(const float *x, int *xq, int G) {\n"
    "    mlcc_pdl_begin(0, 0);\n"
    "    const int g = blockIdx.x * blockDim.x + threadIdx.x;\n"
    "    if (g >= G) return;\n"
    "    int xi[8], sum;\n"
    "    const float d = quantize_x_group(x + ((long long)g << 5), xi, &sum);\n"
    "    store_x8_group(xq, G, g, xi, d, sum);\n"
    "}\n"
    "/* Group g of an x that mlcc_quantize_x8 rounded (x: its buffer, G groups) */\n"
    "__device__ __forceinline__ float x8_group(const float *__restrict__ x, int G, int g, int xi[8], int *qsum) {\n"
    "    const int *xq = reinterpret_cast<const int *>(x);\n"
    "    const int4 *p = reinterpret_cast<const int4 *>(xq) + 2 * g, a = __ldg(p), b = __ldg(p + 1);\n"
    "    xi[0] = a.x, xi[1] = a.y, xi[2] = a.z, xi[3] = a.w, xi[4] = b.x, xi[5] = b.y, xi[6] = b.z, xi[7] = b.w;\n"
    "    *qsum = __ldg(xq + 9 * G + g);\n"
    "    return __ldg(reinterpret_cast<const float *>(xq + 8 * G) + g);\n"
    "}\n"
    "/* The same for RMSNorm's input (NORM): the group of x * gamma, and *ss += the group's sum of x^2.\n"
    " * Rounding to int8 does not see a scale of the whole row, so the row's 1 / rms multiplies the\n"
    " * block's sums at the end instead. */\n"
    "__device__ __forceinline__ float quantize_x_group_gamma(const float *__restrict__ xg, const float4 (&g)[8], int xi[8],\n"
    "                                                        int *qsum, float *ss) {\n"
    "    float4 v[8];\n"
    "    float t = 0.f;\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 8; i++) {\n"
    "        float4 a = __ldg(reinterpret_cast<const float4 *>(xg) + i);\n"
    "        t += a.x * a.x + a.y * a.y + a.z * a.z + a.w * a.w;\n"
    "        v[i] = make_float4(a.x * g[i].x, a.y * g[i].y, a.z * g[i].z, a.w * g[i].w);\n"
    "    }\n"
    "    *ss += t;\n"
    "    return quantize_group(v, xi, qsum);\n"
    "}\n"
    "/* a group of gamma (32 floats, 16-byte aligned) into registers */\n"
    "__device__ __forceinline__ void load_gamma_group(const float *__restrict__ gg, float4 (&gv)[8]) {\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < 8; i++) gv[i] = __ldg(reinterpret_cast<const float4 *>(gg) + i);\n"
    "}\n"
    "__device__ __forceinline__ float quantize_x_group_norm(const float *__restrict__ xg, const float *__restrict__ gg,\n"
    "                                                       int xi[8], int *qsum, float *ss) {\n"
    "    float4 gv[8];\n"
    "    load_gamma_group(gg, gv);\n"
    "    return quantize_x_group_gamma(xg, gv, xi, qsum, ss);\n"
    "}\n"
    "/* The same for a GEMV that takes RMSNorm in (NORM): one block of G threads (G <= 1024) rounds\n"
    " * group g of a * gamma, whose integers the row's scale does not change, and writes its d times\n"
    " * that scale, 1 / sqrt(sum a^2 / K + eps) (nn.rms_norm's), summed over the block. gamma is a\n"
    " * weight (no kernel writes it), so its loads go before PDL's wait: in the step this kernel is\n"
    " * a chain of one round trip for a, not two (H200, session 28: 3.4 us of the step a call with\n"
    " * gamma after the wait, against 1.9 for mlcc_quantize_x8). */\n"
    "extern \"C\" __global__ void __launch_bounds__(1024) mlcc_norm_quantize_x8(const float *a, const float *gamma, const float *eps,\n"
    "                                                                      int *xq, int G) {\n"
    "    __shared__ float part[32];\n"
    "    const int g = threadIdx.x;\n"
    "    float4 gv[8] = {};\n"
    "    if (g < G) load_gamma_group(gamma + ((long long)g << 5), gv);\n"
    "    const float epsv = __ldg(eps);\n"
    "    mlcc_pdl_begin(0, 0);\n"
    "    int xi[8], sum = 0;\n"
    "    float ss = 0.f, d = 0.f;\n"
    "    if (g < G) d = quantize_x_group_gamma(a + ((long long)g << 5), gv, xi, &sum, &ss);\n"
    "#pragma unroll\n"
    "    for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);\n"
    "    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = ss;\n"
    "    __syncthreads();\n"
    "    float total = 0.f;\n"
    "    for (int i = 0; i < (int)(blockDim.x >> 5); i++) total += part[i];\n"
    "    if (g >= G) return;\n"
    "    const float scale = 1.f / sqrtf(total / (float)(G << 5) + epsv);\n"
    "    store_x8_group(xq, G, g, xi, d * scale, sum);\n"
    "}\n"
    "/* sum over the 32 values of a group: (nibble - zero) * q_x, exact in int32 */\n"
    "__device__ __forceinline__ int dot_group(uint4 q, const int xi[8], int start) {\n"
    "    int t = start;\n"
    "    t = __dp4a((int)(q.x & 0x0F0F0F0Fu), xi[0], t);\n"
    "    t = __dp4a((int)((q.x >> 4) & 0x0F0F0F0Fu), xi[1], t);\n"
    "    t = __dp4a((int)(q.y & 0x0F0F0F0Fu), xi[2], t);\n"
    "    t = __dp4a((int)((q.y >> 4) & 0x0F0F0F0Fu), xi[3], t);\n"
    "    t = __dp4a((int)(q.z & 0x0F0F0F0Fu), xi[4], t);\n"
    "    t = __dp4a((int)((q.z >> 4) & 0x0F0F0F0Fu), xi[5], t);\n"
    "    t = __dp4a((int)(q.w & 0x0F0F0F0Fu), xi[6], t);\n"
    "    t = __dp4a((int)((q.w >> 4) & 0x0F0F0F0Fu), xi[7], t);\n"
    "    return t;\n"
    "}\n"
    "/* Fusions (transform/fuse_gemv.c). SILU: W is a gate_up matrix of N = 2I rows and y [R, I] =\n"
    " * silu(x gate^T) * (x up^T): the block's first O / 2 outputs are gate rows, the others the up\n"
    " * rows I further on. NORM: x is RMSNorm's input (x * gamma is rounded, the row's 1 / rms\n"
    " * scales the sums). res (not NULL): y = x W^T + res, the residual add after the projection. */\n"
    "/* A block's O rows of group g: rows o0 + o (o < H), with SILU the up rows I further on (o >= H). */\n"
    "template <int O>\n"
    "__device__ __forceinline__ void load_group(uint4 (&q)[O], float (&s)[O], const unsigned *__restrict__ qw,\n"
    "                                           const __half *__restrict__ qs, int o0, int H, int I, int G, int W, int g) {\n"
    "#pragma unroll\n"
    "    for (int o = 0; o < O; o++) {\n"
    "        int j = o % H, row = o0 + j < I ? o0 + j : I - 1; /* a tail block repeats the last row, unwritten */\n"
    "        if (o >= H) row += I;\n"
    "        q[o] = ld_stream16(qw + (long long)row * W + 4 * g);\n"
    "        s[o] = __half2float(qs[(long long)row * G + g]);\n"
    "    }\n"
    "}\n"
    "/* acc[o][r] += row o's group g times x's row r (rounded to int8 here, or by mlcc_quantize_x8 with\n"
    " * XQ: one row, x its buffer), ss[r] += its sum of x^2 with NORM */\n"
    "template <int O, int R, int NORM, int XQ>\n"
    "__device__ __forceinline__ void accumulate_group(float (&acc)[O][R], float (&ss)[R], const uint4 (&q)[O], const float (&s)[O],\n"
    "                                                 const float *__restrict__ x, const float *__restrict__ gamma, int K,\n"
    "                                                 int zero, int g) {\n"
    "#pragma unroll\n"
    "    for (int r = 0; r < R; r++) {\n"
    "        int xi[8], xsum;\n"
    "        const float *xg = x + (long long)r * K + (g << 5);\n"
    "        const float d = XQ ? x8_group(x, K >> 5, g, xi, &xsum)\n"
    "                       : NORM ? quantize_x_group_norm(xg, gamma + (g << 5), xi, &xsum, &ss[r]) : quantize_x_group(xg, xi, &xsum);\n"
    "#pragma unroll\n"
    "        for (int o = 0; o < O; o++) acc[o][r] += s[o] * d * (float)dot_group(q[o], xi, -zero * xsum);\n"
    "    }\n"
    "}\n"
    "template <int O, int R, int SILU, int NORM, int XQ, int ONE>\n"
    "__device__ __forceinline__ void gemv_q4_int8(const float *__restrict__ x, const unsigned *__restrict__ qw,\n"
    "                                             const __half *__restrict__ qs, float *__restrict__ y,\n"
    "                                             const float *__restrict__ res, int N, int K, int zero,\n"
    "                                             const float *__restrict__ gamma, const float *__restrict__ eps) {\n"
    "    __shared__ float red[16][O * R]; /* up to 16 warps (one-round blocks of up to 512 threads) */\n"
    "    __shared__ float squares[16][R];\n"
    "    const int H = SILU ? O / 2 : O, I = SILU ? N / 2 : N; /* y's columns: a block's, all */\n"
    "    const int o0 = blockIdx.x * H, G = K >> 5, W = K >> 3;\n"
    "    mlcc_pdl_prefetch(qs + (long long)o0 * G, (long long)min(H, I - o0) * G * 2);\n"
    "    if (SILU) {\n"
    "        mlcc_pdl_prefetch(qs + (long long)(I + o0) * G, (long long)min(H, I - o0) * G * 2);\n"
    "        mlcc_pdl_prefetch(qw + (long long)(I + o0) * W, (long long)min(H, I - o0) * W * 4);\n"
    "    }\n"
    "    float acc[O][R], ss[R];\n"
    "#pragma unroll\n"
    "    for (int r = 0; r < R; r++) {\n"
    "        ss[r] = 0.f;\n"
    "#pragma unroll\n"
    "        for (int o = 0; o < O; o++) acc[o][r] = 0.f;\n"
    "    }\n"
    "    uint4 q[O];\n"
    "    float s[O];\n"
    "#ifdef MLCC_EARLY_WEIGHTS /* the first group's weights before the wait: no kernel writes them */\n"
    "    if (ONE) { /* G <= blockDim.x: a group a thread at most, and no next group's loads to overlap */\n"
    "        const int g = threadIdx.x;\n"
    "        if (g < G) load_group<O>(q, s, qw, qs, o0, H, I, G, W, g);\n"
    "        mlcc_pdl_begin(qw, 0);\n"
    "        if (g < G) accumulate_group<O, R, NORM, XQ>(acc, ss, q, s, x, gamma, K, zero, g);\n"
    "    } else {\n"
    "    int g = threadIdx.x;\n"
    "    if (g < G) load_group<O>(q, s, qw, qs, o0, H, I, G, W, g);\n"
    "    mlcc_pdl_begin(qw, 0);\n"
    "    while (g < G) {\n"
    "        accumulate_group<O, R, NORM, XQ>(acc, ss, q, s, x, gamma, K, zero, g);\n"
    "        g += blockDim.x;\n"
    "        if (g < G) load_group<O>(q, s, qw, qs, o0, H, I, G, W, g);\n"
    "    }\n"
    "    }\n"
    "#else\n"
    "    mlcc_pdl_begin(qw + (long long)o0 * W, (long long)min(H, I - o0) * W * 4);\n"
    "    for (int g = threadIdx.x; g < G; g += blockDim.x) {\n"
    "        load_group<O>(q, s, qw, qs, o0, H, I, G, W, g);\n"
    "        accumulate_group<O, R, NORM, XQ>(acc, ss, q, s, x, gamma, K, zero, g);\n"
    "    }\n"
    "#endif\n"
    MLCC_CUDA_GEMV_SQUARES_SUM
    MLCC_CUDA_GEMV_BLOCK_SUM
    MLCC_CUDA_GEMV_FUSED_STORE
    "/* names: mlcc_gemv_q4i[_silu|_norm|_norm_silu|_xq|_xq_silu]_O_R (_xq: x from mlcc_quantize_x8) */\n"
    "/* Registers: 16 outputs hold 16 rows' loads (ptxas gives them 215 registers, two blocks of 128\n"
    " * threads a multiprocessor, so qkv's 384 blocks take 1.5 waves); MLCC_GEMV16_REGS (defined by\n"
    " * device_ready) caps them so three blocks fit. The others are bounded by their block size. */\n"
    "#define GEMV_BOUNDS_1 __launch_bounds__(256)\n"
    "#define GEMV_BOUNDS_2 __launch_bounds__(256)\n"
    "#define GEMV_BOUNDS_4 __launch_bounds__(256)\n"
    "#define GEMV_BOUNDS_8 __launch_bounds__(256)\n"
    "#if MLCC_GEMV16_REGS > 0\n"
    "#define GEMV_BOUNDS_16 __maxnreg__(MLCC_GEMV16_REGS)\n"
    "#else\n"
    "#define GEMV_BOUNDS_16 __launch_bounds__(256)\n"
    "#endif\n"
    "#define GEMV_Q4IF(O, R, NAME, SILU, NORM, XQ) extern \"C\" __global__ void GEMV_BOUNDS_##O mlcc_gemv_q4i##NAME##_##O##_##R(\\\n"
    "    const float *x, const unsigned *qw, const __half *qs, float *y, const float *res, int N, int K, int zero,\\\n"
    "    const float *gamma, const float *eps) { gemv_q4_int8<O, R, SILU, NORM, XQ, 0>(x, qw, qs, y, res, N, K, zero, gamma, eps); }\n"
    "#define GEMV_Q4I(O, R) GEMV_Q4IF(O, R, , 0, 0, 0)\n"
    "#define GEMV_Q4IS(O, R) GEMV_Q4IF(O, R, _silu, 1, 0, 0) GEMV_Q4IF(O, R, _norm_silu, 1, 1, 0)\n"
    "#define GEMV_Q4IN(O, R) GEMV_Q4IF(O, R, _norm, 0, 1, 0)\n"
    "#define GEMV_Q4IX(O) GEMV_Q4IF(O, 1, _xq, 0, 0, 1) GEMV_Q4IF(O, 1, _xq_silu, 1, 0, 1)\n"
    "/* the same for a group a thread at most (G <= blockDim.x: K = 4096 takes 128 threads) */\n"
    "#define GEMV1_BOUNDS_1 __launch_bounds__(512)\n"
    "#define GEMV1_BOUNDS_2 __launch_bounds__(512)\n"
    "#define GEMV1_BOUNDS_4 __launch_bounds__(512)\n"
    "#define GEMV1_BOUNDS_8 __launch_bounds__(512)\n"
    "#define GEMV1_BOUNDS_16 GEMV_BOUNDS_16 /* (up to 256 threads: run_block_gemv) */\n"
    "#define GEMV_Q4IX1F(O, NAME, SILU) extern \"C\" __global__ void GEMV1_BOUNDS_##O mlcc_gemv_q4i##NAME##_##O##_1(\\\n"
    "    const float *x, const unsigned *qw, const __half *qs, float *y, const float *res, int N, int K, int zero,\\\n"
    "    const float *gamma, const float *eps) { gemv_q4_int8<O, 1, SILU, 0, 1, 1>(x, qw, qs, y, res, N, K, zero, gamma, eps); }\n"
    "#define GEMV_Q4IX1(O) GEMV_Q4IX1F(O, _xq1, 0) GEMV_Q4IX1F(O, _xq1_silu, 1)\n"
    "/* 16 outputs for one row only: with two rows they spill (ptxas, sm_90, CUDA 13.0) */\n"
    "GEMV_Q4IS(2, 1)\nGEMV_Q4IS(4, 1)\nGEMV_Q4IS(8, 1)\nGEMV_Q4IS(16, 1)\nGEMV_Q4IS(2, 2)\nGEMV_Q4IS(4, 2)\nGEMV_Q4IS(8, 2)\n"
    "GEMV_Q4IN(1, 1)\nGEMV_Q4IN(2, 1)\nGEMV_Q4IN(4, 1)\nGEMV_Q4IN(8, 1)\nGEMV_Q4IN(16, 1)\n"
    "GEMV_Q4IN(1, 2)\nGEMV_Q4IN(2, 2)\nGEMV_Q4IN(4, 2)\nGEMV_Q4IN(8, 2)\n"
    "GEMV_Q4I(1, 1)\nGEMV_Q4I(2, 1)\nGEMV_Q4I(4, 1)\nGEMV_Q4I(8, 1)\nGEMV_Q4I(16, 1)\n"
    "GEMV_Q4I(1, 2)\nGEMV_Q4I(2, 2)\nGEMV_Q4I(4, 2)\nGEMV_Q4I(8, 2)\n"
    "GEMV_Q4I(1, 4)\nGEMV_Q4I(2, 4)\nGEMV_Q4I(4, 4)\nGEMV_Q4I(8, 4)\n"
    "GEMV_Q4IF(1, 1, _xq, 0, 0, 1)\nGEMV_Q4IX(2)\nGEMV_Q4IX(4)\nGEMV_Q4IX(8)\nGEMV_Q4IX(16)\n"
    "GEMV_Q4IX1F(1, _xq1, 0)\nGEMV_Q4IX1(2)\nGEMV_Q4IX1(4)\nGEMV_Q4IX1(8)\nGEMV_Q4IX1(16)\n"
    "/* The streaming GEMV (one row of x, K % 256 == 0 and K <= 32768, sm_90; MLCC_CUDA_Q4_STREAM=1,\n"
    " * measured slower than the block GEMV in the step: see stream_shape). A block per\n"
    " * multiprocessor takes a contiguous run of outputs, whose weight rows and scales lie contiguous\n"
    " * in memory too. A producer warp streams them through a ring of `stages` shared-memory buffers\n"
    " * with 1-D bulk copies (cp.async.bulk, landing on each buffer's `full` mbarrier; the first\n"
    " * stages before PDL's wait), and eight consumer warps each take one output row of a stage, its\n"
    " * lanes over the groups, and free the buffer on its `empty` mbarrier: no block-wide barrier after\n"
    " * the start, so a warp moves on to its next stage while others finish. The bytes in flight take\n"
    " * shared memory, not registers (the block GEMV above holds its loads in registers: 215 a thread\n"
    " * for 16 outputs, 2 blocks a multiprocessor, so qkv and down run in 1.5-2 waves, each starting\n"
    " * with a DRAM round trip). x is rounded to int8 once per block into shared memory\n"
    " * (quantize_group: the integers of the kernels above), so no quantize kernel runs before it. A\n"
    " * stage holds RS outputs' rows (SILU: their gate rows, then their up rows), words then scales;\n"
    " * warp w takes row w % RS of every (8 / RS)-th stage from w / RS. `stages` is a multiple of\n"
    " * 8 / RS, so a buffer's fills all go to the same warps, in order: a warp never waits for a fill\n"
    " * while the one before it (the same parity) is still pending. */\n"
    "#define Q4S_MAX_STAGES 8\n"
    MLCC_CUDA_MBARRIER_HELPERS
    "__device__ __forceinline__ void q4s_copy(void *dst, const void *src, unsigned bytes, unsigned long long *bar) {\n"
    "#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900\n"
    "#if defined(MLCC_WEIGHT_EVICT_FIRST)\n"
    "    unsigned long long policy;\n"
    "    asm(\"createpolicy.fractional.L2::evict_first.b64 %0, 1.0;\" : \"=l\"(policy));\n"
    "    asm volatile(\"cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint [%0], [%1], %2, [%3], %4;\"\n"
    "                 :: \"r\"(smem_u32(dst)), \"l\"(src), \"r\"(bytes), \"r\"(smem_u32(bar)), \"l\"(policy) : \"memory\");\n"
    "#else\n"
    "    asm volatile(\"cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\"\n"
    "                 :: \"r\"(smem_u32(dst)), \"l\"(src), \"r\"(bytes), \"r\"(smem_u32(bar)) : \"memory\");\n"
    "#endif\n"
    "#endif\n"
    "}\n"
    "/* Stage s's rows into its buffer: the block's outputs row .. row + cnt (SILU: their gate rows and,\n"
    " * I rows on, their up rows), words and scales, all landing on the buffer's `full` barrier. */\n"
    "template <int SILU>\n"
    "__device__ __forceinline__ void q4s_issue(unsigned char *smem, unsigned long long *full, const unsigned *qw, const __half *qs,\n"
    "                                          long long row, int cnt, int I, int RS, int stages, int s, unsigned wb, unsigned sb) {\n"
    "    const int buf = s % stages, ROWS = SILU ? 2 * RS : RS;\n"
    "    unsigned char *st = smem + (size_t)buf * ROWS * (wb + sb), *sc = st + (size_t)ROWS * wb;\n"
    "    const unsigned bytes = (unsigned)cnt * (wb + sb) * (SILU ? 2u : 1u);\n"
    "#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900\n"
    "    asm volatile(\"mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\"\n"
    "                 :: \"r\"(smem_u32(&full[buf])), \"r\"(bytes) : \"memory\");\n"
    "#endif\n"
    "    const unsigned char *w = reinterpret_cast<const unsigned char *>(qw), *q = reinterpret_cast<const unsigned char *>(qs);\n"
    "    q4s_copy(st, w + row * wb, cnt * wb, &full[buf]);\n"
    "    q4s_copy(sc, q + row * sb, cnt * sb, &full[buf]);\n"
    "    if (SILU) {\n"
    "        q4s_copy(st + (size_t)RS * wb, w + (row + I) * wb, cnt * wb, &full[buf]);\n"
    "        q4s_copy(sc + (size_t)RS * sb, q + (row + I) * sb, cnt * sb, &full[buf]);\n"
    "    }\n"
    "}\n"
    "/* One row's sum over its G groups (words w, scales sc in shared memory; x rounded in shared\n"
    " * memory as xlo / xhi: the int8 values, xd: d, xsum: their sums), lanes over the groups */\n"
    "__device__ __forceinline__ float q4s_row(const unsigned char *w, const unsigned char *sc, const int4 *xlo, const int4 *xhi,\n"
    "                                         const float *xd, const int *xsum, int G, int zero, int lane) {\n"
    "    float acc = 0.f;\n"
    "#pragma unroll 4\n"
    "    for (int g = lane; g < G; g += 32) {\n"
    "        const uint4 q = reinterpret_cast<const uint4 *>(w)[g];\n"
    "        const int4 a = xlo[g], b = xhi[g];\n"
    "        const int xi[8] = {a.x, a.y, a.z, a.w, b.x, b.y, b.z, b.w};\n"
    "        acc += __half2float(reinterpret_cast<const __half *>(sc)[g]) * xd[g] * (float)dot_group(q, xi, -zero * xsum[g]);\n"
    "    }\n"
    "#pragma unroll\n"
    "    for (int d = 16; d > 0; d >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, d);\n"
    "    return acc;\n"
    "}\n"
    "template <int SILU, int NORM>\n"
    "__device__ __forceinline__ void gemv_q4_stream(const float *__restrict__ x, const unsigned *__restrict__ qw,\n"
    "                                               const __half *__restrict__ qs, float *__restrict__ y,\n"
    "                                               const float *__restrict__ res, int N, int K, int zero,\n"
    "                                               const float *__restrict__ gamma, const float *__restrict__ eps, int RS,\n"
    "                                               int stages) {\n"
    "#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900\n"
    "    extern __shared__ __align__(128) unsigned char smem[];\n"
    "    __shared__ unsigned long long full[Q4S_MAX_STAGES], empty[Q4S_MAX_STAGES];\n"
    "    __shared__ float squares[8];\n"
    "    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, G = K >> 5;\n"
    "    const int I = SILU ? N / 2 : N, ROWS = SILU ? 2 * RS : RS; /* outputs, rows a stage */\n"
    "    const long long u0 = (long long)blockIdx.x * I / gridDim.x, u1 = (long long)(blockIdx.x + 1) * I / gridDim.x;\n"
    "    const int units = (int)(u1 - u0), nst = (units + RS - 1) / RS;\n"
    "    const unsigned wb = (unsigned)K / 2, sb = (unsigned)K / 16, stage_bytes = ROWS * (wb + sb);\n"
    "    int4 *xlo = reinterpret_cast<int4 *>(smem + (size_t)stages * stage_bytes), *xhi = xlo + G;\n"
    "    float *xd = reinterpret_cast<float *>(xhi + G);\n"
    "    int *xsum = reinterpret_cast<int *>(xd + G);\n"
    "    if (tid == 256) { /* the producer: weights only, which no kernel writes, so before the wait */\n"
    "        for (int i = 0; i < stages; i++) {\n"
    "            mbar_init(&full[i], 1), mbar_init(&empty[i], RS);\n"
    "        }\n"
    "        asm volatile(\"fence.mbarrier_init.release.cluster;\" ::: \"memory\");\n"
    "        for (int s = 0; s < stages && s < nst; s++)\n"
    "            q4s_issue<SILU>(smem, full, qw, qs, u0 + (long long)s * RS, min(RS, units - s * RS), I, RS, stages, s, wb, sb);\n"
    "    }\n"
    "    mlcc_pdl_begin(0, 0);\n"
    "    float ss = 0.f;\n"
    "    for (int g = tid; g < G && tid < 256; g += 256) {\n"
    "        int xi[8], sum;\n"
    "        const float d = NORM ? quantize_x_group_norm(x + ((long long)g << 5), gamma + ((long long)g << 5), xi, &sum, &ss)\n"
    "                             : quantize_x_group(x + ((long long)g << 5), xi, &sum);\n"
    "        xlo[g] = make_int4(xi[0], xi[1], xi[2], xi[3]), xhi[g] = make_int4(xi[4], xi[5], xi[6], xi[7]);\n"
    "        xd[g] = d, xsum[g] = sum;\n"
    "    }\n"
    "    if (NORM) {\n"
    "#pragma unroll\n"
    "        for (int d = 16; d > 0; d >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, d);\n"
    "        if (lane == 0 && warp < 8) squares[warp] = ss;\n"
    "    }\n"
    "    __syncthreads(); /* x in shared memory, the barriers initialized */\n"
    "    if (warp == 8) {\n"
    "        if (lane == 0)\n"
    "            for (int s = stages; s < nst; s++) { /* each buffer again once its RS warps are done with it */\n"
    "                mbar_wait(&empty[s % stages], (s / stages - 1) & 1);\n"
    "                q4s_issue<SILU>(smem, full, qw, qs, u0 + (long long)s * RS, min(RS, units - s * RS), I, RS, stages, s, wb, sb);\n"
    "            }\n"
    "        return;\n"
    "    }\n"
    "    float scale = 1.f;\n"
    "    if (NORM) { /* nn.rms_norm's 1 / sqrt(sum x^2 / K + eps), on the sums as the kernels above */\n"
    "        float t = 0.f;\n"
    "        for (int i = 0; i < 8; i++) t += squares[i];\n"
    "        scale = 1.f / sqrtf(t / (float)K + *eps);\n"
    "    }\n"
    "    const int r = warp % RS;\n"
    "    for (int s = warp / RS; s < nst; s += 8 / RS) {\n"
    "        const int buf = s % stages, unit = s * RS + r;\n"
    "        const unsigned char *st = smem + (size_t)buf * stage_bytes, *sc = st + (size_t)ROWS * wb;\n"
    "        mbar_wait(&full[buf], (s / stages) & 1);\n"
    "        if (unit < units) {\n"
    "            float t = q4s_row(st + (size_t)r * wb, sc + (size_t)r * sb, xlo, xhi, xd, xsum, G, zero, lane) * scale;\n"
    "            if (SILU) {\n"
    "                const float u = q4s_row(st + (size_t)(RS + r) * wb, sc + (size_t)(RS + r) * sb, xlo, xhi, xd, xsum,\n"
    "                                        G, zero, lane);\n"
    "                t = mlcc_silu(t) * (u * scale);\n"
    "            }\n"
    "            const long long o = u0 + unit;\n"
    "            if (lane == 0) y[o] = res ? t + res[o] : t;\n"
    "        }\n"
    "        __syncwarp();\n"
    "        if (lane == 0) /* the warp is done with the buffer */\n"
    "            mbar_arrive(&empty[buf]);\n"
    "    }\n"
    "#endif\n"
    "}\n"
    "#define GEMV_Q4S(NAME, SILU, NORM) extern \"C\" __global__ void __launch_bounds__(288) mlcc_gemv_q4s##NAME(\\\n"
    "    const float *x, const unsigned *qw, const __half *qs, float *y, const float *res, int N, int K, int zero,\\\n"
    "    const float *gamma, const float *eps, int RS, int stages) {\\\n"
    "    gemv_q4_stream<SILU, NORM>(x, qw, qs, y, res, N, K, zero, gamma, eps, RS, stages); }\n"
    "GEMV_Q4S(, 0, 0)\nGEMV_Q4S(_silu, 1, 0)\nGEMV_Q4S(_norm, 0, 1)\nGEMV_Q4S(_norm_silu, 1, 1)\n"
    "/* Any in, any alignment: a warp per output, a lane per value, one row of x. */\n"
    "extern \"C\" __global__ void __launch_bounds__(256) mlcc_gemv_q4_any(const float *x, const unsigned *qw,\n"
    "    const __half *qs, float *y, int N, int K, int zero) {\n"
    "    int o = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5), lane = threadIdx.x & 31;\n"
    "    if (o >= N) return;\n"
    "    int W = (K + 7) >> 3, G = (K + 31) >> 5;\n"
    "    const float zoff = 8388608.0f + (float)zero;\n"
    "    float acc = 0.f;\n"
    "    for (int j = lane; j < K; j += 32) {\n"
    "        unsigned v = qw[(long long)o * W + (j >> 3)] >> ((j & 7) * 4);\n"
    "        acc += x[j] * (nib(v, zoff) * __half2float(qs[(long long)o * G + (j >> 5)]));\n"
    "    }\n"
    "    for (int d = 16; d > 0; d >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, d);\n"
    "    if (lane == 0) y[o] = acc;\n"
    "}\n"
    "/* w16[o, j] = (q - zero) * s rounded to half: a thread per word (8 values). */\n"
    "extern \"C\" __global__ void __launch_bounds__(256) mlcc_dequant_q4_f16(const unsigned *qw, const __half *qs,\n"
    "    __half *w, int N, int K, int zero) {\n"
    "    int W = (K + 7) >> 3, G = (K + 31) >> 5;\n"
    "    const float zoff = 8388608.0f + (float)zero;\n"
    "    long long total = (long long)N * W;\n"
    "    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total;\n"
    "         i += (long long)gridDim.x * blockDim.x) {\n"
    "        long long o = i / W;\n"
    "        int c = (int)(i - o * W);\n"
    "        unsigned v = qw[i];\n"
    "        float s = __half2float(qs[o * G + (c >> 2)]);\n"
    "        if ((K & 7) == 0) { /* the word's 8 halves in one 16-byte store (w: 256-byte aligned) */\n"
    "            union { __half2 h[4]; uint4 u; } pk;\n"
    "            for (int e = 0; e < 4; e++)\n"
    "                pk.h[e] = __floats2half2_rn(nib(v >> (8 * e), zoff) * s, nib(v >> (8 * e + 4), zoff) * s);\n"
    "            *reinterpret_cast<uint4 *>(w + o * K + c * 8) = pk.u;\n"
    "            continue;\n"
    "        }\n"
    "        for (int e = 0; e < 8; e++) {\n"
    "            int j = c * 8 + e;\n"
    "            if (j < K) w[o * K + j] = __float2half_rn(nib(v >> (4 * e), zoff) * s);\n"
    "        }\n"
    "    }\n"
    "}\n";

const char *mlcc_cuda_linear_q4_kernel_source(void) {
    return kernel_source;
}

enum { MAX_DEVICES = 16, NPICK = 5 };

typedef struct q4_device {
    int ready;
    mlcc_cuda_module *module;
    void *gemv[NPICK]; /* one output per warp, rows 1, 2, 4, 8, 16 */
    void *gemv_1x4;    /* one row, four outputs per warp */
    void *any, *dequant;
    void *block[4][3]; /* the block GEMV: [log2 outputs per block][log2 rows of x] */
    void *int8[5][3];   /* the int8 block GEMV: [log2 outputs per block][log2 rows of x] (16 outputs: 1 row) */
    /* the same with the fusions (transform/fuse_gemv.c): [silu * up, RMSNorm, both][log2 outputs][rows - 1] */
    void *int8_fused[3][5][2];
    void *quantize_x8;  /* one row of x rounded to int8 once per projection */
    void *norm_quantize_x8; /* the same for RMSNorm's input (the norm fused into the projection) */
    void *int8_xq[5][2]; /* the int8 block GEMV on that x: [log2 outputs per block][plain, silu * up] */
    void *int8_xq1[5][2]; /* the same where a thread takes one group at most (one_round) */
    void *stream[2][2]; /* the streaming GEMV: [RMSNorm][silu * up] */
    int sms;            /* its blocks: one per multiprocessor */
} q4_device;

static q4_device devices[MAX_DEVICES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The register cap of the 16-output int8 GEMVs (MLCC_CUDA_Q4_REGS16; 0: uncapped, 215 by ptxas
 * for sm_90). 168 lets three blocks of 128 threads share a multiprocessor, for 76 bytes of
 * spills outside the group loop. */
static int gemv16_registers(void) {
    int n = mlcc_env_int("MLCC_CUDA_Q4_REGS16", 168);
    return n <= 0 ? 0 : n < 64 ? 64 : n > 255 ? 255 : n;
}

static int device_ready(int id, q4_device **out) {
    if (id < 0 || id >= MAX_DEVICES) return mlcc_set_error("mlcc.cuda.linear_q4: device %d out of range", id);
    q4_device *d = &devices[id];
    *out = d;
    if (d->ready) return 0;
    mlcc_strbuf sb = STRBUF_INIT;
    sb_printf(&sb, "#define MLCC_GEMV16_REGS %d\n", gemv16_registers());
    sb_append(&sb, kernel_source);
    char *source = sb_detach(&sb);
    d->module = mlcc_cuda_module_load_source(id, source);
    free(source);
    if (!d->module) return mlcc_prefix_error("mlcc.cuda.linear_q4 kernels");
    for (int i = 0; i < NPICK; i++) {
        char name[64];
        snprintf(name, sizeof name, "mlcc_gemv_q4_%d_1", 1 << i);
        if (!(d->gemv[i] = mlcc_cuda_module_kernel(d->module, name))) return -1;
    }
    if (!(d->gemv_1x4 = mlcc_cuda_module_kernel(d->module, "mlcc_gemv_q4_1_4")) || !(d->any = mlcc_cuda_module_kernel(d->module, "mlcc_gemv_q4_any")) ||
        !(d->dequant = mlcc_cuda_module_kernel(d->module, "mlcc_dequant_q4_f16")))
        return -1;
    for (int o = 0; o < 4; o++)
        for (int r = 0; r < 3; r++) {
            char name[64];
            snprintf(name, sizeof name, "mlcc_gemv_q4b_%d_%d", 1 << o, 1 << r);
            if (!(d->block[o][r] = mlcc_cuda_module_kernel(d->module, name))) return -1;
        }
    for (int o = 0; o < 5; o++)
        for (int r = 0; r < (o == 4 ? 1 : 3); r++) { /* 16 outputs: one row of x */
            char name[64];
            snprintf(name, sizeof name, "mlcc_gemv_q4i_%d_%d", 1 << o, 1 << r);
            if (!(d->int8[o][r] = mlcc_cuda_module_kernel(d->module, name))) return -1;
            static const char *const fusions[3] = {"silu", "norm", "norm_silu"};
            for (int f = 0; f < 3 && r < 2; f++) {
                if (o == 0 && f != 1) continue; /* silu * up takes a gate and an up row at least */
                snprintf(name, sizeof name, "mlcc_gemv_q4i_%s_%d_%d", fusions[f], 1 << o, 1 << r);
                if (!(d->int8_fused[f][o][r] = mlcc_cuda_module_kernel(d->module, name))) return -1;
            }
        }
    for (int o = 0; o < 5; o++)
        for (int silu = 0; silu < 2 && !(o == 0 && silu); silu++) {
            char name[64];
            snprintf(name, sizeof name, "mlcc_gemv_q4i_xq%s_%d_1", silu ? "_silu" : "", 1 << o);
            if (!(d->int8_xq[o][silu] = mlcc_cuda_module_kernel(d->module, name))) return -1;
            snprintf(name, sizeof name, "mlcc_gemv_q4i_xq1%s_%d_1", silu ? "_silu" : "", 1 << o);
            if (!(d->int8_xq1[o][silu] = mlcc_cuda_module_kernel(d->module, name))) return -1;
        }
    for (int norm = 0; norm < 2; norm++)
        for (int silu = 0; silu < 2; silu++) {
            char name[64];
            snprintf(name, sizeof name, "mlcc_gemv_q4s%s%s", norm ? "_norm" : "", silu ? "_silu" : "");
            if (!(d->stream[norm][silu] = mlcc_cuda_module_kernel(d->module, name))) return -1;
        }
    d->sms = mlcc_cuda_device_sm_count(id);
    if (!(d->quantize_x8 = mlcc_cuda_module_kernel(d->module, "mlcc_quantize_x8")) ||
        !(d->norm_quantize_x8 = mlcc_cuda_module_kernel(d->module, "mlcc_norm_quantize_x8")))
        return -1;
    d->ready = 1;
    return 0;
}

/* Rows up to which the fused GEMV runs (MLCC_CUDA_Q4_GEMV_ROWS, default 2); more rows take the
 * tensor-core GEMM (cuda_gemm_q4.c; up to MLCC_CUDA_Q4_MMA_ROWS) or dequantize + cuBLASLt. The
 * GEMV's time grows about linearly with the rows (it is compute bound from 2 rows), the GEMM's
 * hardly up to 16: measured on the H100 (bench_cuda_linear q4 in a CUDA graph, 2026-11-26,
 * BENCHMARKS.md), the GEMM wins from 3 rows on every Llama-3-8B projection (4096 x 4096: 13.2
 * against 15.3 us) and at 2 rows only on k/v and lm_head. Before the GEMM the limit was 8 (the
 * int8 GEMV at 8 rows beat dequantize + float16). */
static int gemv_rows_limit(void) {
    const char *v = getenv("MLCC_CUDA_Q4_GEMV_ROWS");
    int n = v && *v ? atoi(v) : 2;
    return n < 0 ? 0 : n;
}

/* For one row of x: four outputs per warp once there are enough warps to fill the device (a
 * warp per output otherwise: small projections need the parallelism more than the reuse of x).
 * Several rows keep one output per warp: ptxas (sm_90, CUDA 13.0) gives four outputs 240-255
 * registers from 2 rows on and spills from 8 (712 bytes at 16 rows: the batch-16 step measured
 * 81.7 ms), one output 64 / 98 / 158 registers at 2 / 4 / 16 rows and no spills. */
static int outputs_per_warp(int64_t out) {
    const char *v = getenv("MLCC_CUDA_Q4_OPW");
    if (v && *v) return atoi(v) == 4 ? 4 : 1;
    return out >= 8192 ? 4 : 1;
}

/* MLCC_CUDA_Q4_BLOCK=0 keeps the warp-per-output GEMV (for comparison). */
static int use_block_gemv(void) {
    const char *v = getenv("MLCC_CUDA_Q4_BLOCK"); /* read per call: tests switch it */
    return !(v && strcmp(v, "0") == 0);
}

/* MLCC_CUDA_Q4_DP4A=0 keeps the float block GEMV (x in float32, exact products) instead of the
 * int8 one (x rounded to int8 per group of 32: see the kernel and docs/cuda.md for its error). */
static int use_int8_gemv(void) {
    const char *v = getenv("MLCC_CUDA_Q4_DP4A"); /* read per call: tests switch it */
    return !(v && strcmp(v, "0") == 0);
}

/* MLCC_CUDA_Q4_XQ=0: every int8 block GEMV block rounds its own copy of x to int8 (as before
 * session 17) instead of reading the row mlcc_quantize_x8 rounded once for the projection. */
static int use_x8_once(void) {
    const char *v = getenv("MLCC_CUDA_Q4_XQ"); /* read per call: tests switch it */
    return !(v && strcmp(v, "0") == 0);
}

/* The most outputs an int8 block GEMV block takes for one row of x: 16 where the grid still keeps
 * two blocks on each multiprocessor (MLCC_CUDA_Q4_OUTPUTS_MOST=8: at most 8, as before session 16).
 * Each block reads all of x (16 KB of float32 at K = 4096, about what 8 rows of 4-bit weights take
 * from memory); 16 rows halve that traffic per weight byte. Measured on the H100 (BENCHMARKS.md,
 * session 16), only together with the early weight loads (cuda_module.c) a gain. */
static int int8_outputs_most(void) {
    const char *v = getenv("MLCC_CUDA_Q4_OUTPUTS_MOST");
    return v && atoi(v) == 8 ? 8 : 16;
}

/* Whether a one-row int8 GEMV whose threads take a group each at most (K <= 32 x threads: every
 * K = 4096 projection of Llama-3-8B) runs the kernel without a group loop (_xq1). With the loop,
 * ptxas overlaps the next group's loads with this one's sums, which holds two groups' words in
 * registers although no thread has a next group: 213 registers at 16 outputs (capped at 168
 * with spills) and 116 at 8, against 128 and 64 without it. MLCC_CUDA_Q4_ONE=0: the loop. */
static int one_round(int k, uint32_t threads) {
    const char *v = getenv("MLCC_CUDA_Q4_ONE"); /* read per call: tests switch it */
    return !(v && strcmp(v, "0") == 0) && (int64_t)k / 32 <= (int64_t)threads;
}

/* The most groups of K one block takes in one round (a thread each) where x was rounded once:
 * MLCC_CUDA_Q4_ONE_GROUPS, default 512 (K up to 16384: the down projection's 14336 too, 448
 * threads); above it, or with MLCC_CUDA_Q4_ONE=0, blocks of up to 256 threads loop over K. */
static int64_t one_round_groups(void) {
    const char *v = getenv("MLCC_CUDA_Q4_ONE");
    if (v && strcmp(v, "0") == 0) return 0;
    int n = mlcc_env_int("MLCC_CUDA_Q4_ONE_GROUPS", 512);
    return n < 0 ? 0 : n > 512 ? 512 : n;
}

/* The rounded row a kernel left for the next projection (mlcc_cuda_offer_x8): valid while this
 * thread's stream work is what it was right after that kernel's launch. */
static _Thread_local struct {
    int device_id, groups;
    const float *x;
    const int *xq;
    unsigned long long work;
} x8_offer;

void mlcc_cuda_offer_x8(int device_id, const float *x, const int *xq, int groups) {
    x8_offer.device_id = device_id, x8_offer.groups = groups, x8_offer.x = x, x8_offer.xq = xq;
    x8_offer.work = mlcc_cuda_stream_work();
}

/* The offered groups of x when they are x's and nothing ran since (the norm's path rounds x *
 * gamma: it never takes them), else NULL */
static const int *offered_x8(int id, const float *x, int groups, const float *gamma) {
    if (gamma || !x8_offer.xq || x8_offer.x != x || x8_offer.device_id != id || x8_offer.groups != groups ||
        x8_offer.work != mlcc_cuda_stream_work())
        return NULL;
    return x8_offer.xq;
}

/* One row through the int8 block GEMV with x rounded once: every block of the GEMV used to load
 * all of x as float32 and round it (at K = 4096, 16 KB from L2 for 34 KB of 4-bit weights and
 * scales; for the down projection about as many bytes of x as of weights), so mlcc_quantize_x8
 * writes the 40 bytes a group of 32 takes (int8 values, scale, sum) once and the blocks read those.
 * The same integers and float steps as the blocks' own rounding: the results are bitwise the
 * same (test_cuda_linear_q4). Measured on the H100 (BENCHMARKS.md, session 17): the 4-bit decode
 * step at batch 1 4% faster (with x's handling left out of the GEMV altogether, a wrong result
 * and the upper bound, 16%: the extra launch and the reads of the rounded groups keep the rest).
 * The workspace comes from the allocator in stream order (inside a graph capture, the
 * capture's pool keeps it for the replays). */
static int run_x8_gemv(int id, q4_device *d, const float *x, const uint32_t *qw, const uint16_t *qs, const float *res, float *y,
                       int n, int k, int zero, int silu, const float *gamma, const float *eps, int lo, const uint32_t *grid,
                       const uint32_t *block) {
    const mlcc_cuda_library_hooks *h = mlcc_cuda_hooks();
    int G = k / 32;
    const int *offered = offered_x8(id, x, G, gamma);
    if (offered) { /* the kernel before rounded x already */
        const float *no_gamma = NULL, *no_eps = NULL, *xo = (const float *)offered;
        void *args[] = {&xo, &qw, &qs, &y, &res, &n, &k, &zero, &no_gamma, &no_eps};
        return mlcc_cuda_launch(id, one_round(k, block[0]) ? d->int8_xq1[lo][silu] : d->int8_xq[lo][silu], grid, block, 0, args);
    }
    float *xq = h->alloc(id, (size_t)G * 40);
    if (!xq) return mlcc_prefix_error("mlcc.cuda.linear_q4: x rounded to int8 (%d groups)", G);
    /* with the norm: one block over the row (its sum of squares); G <= 1024 (run_block_gemv) */
    uint32_t qgrid[3] = {(uint32_t)(gamma ? 1 : (G + 127) / 128), 1, 1};
    uint32_t qblock[3] = {(uint32_t)(gamma ? (G + 31) / 32 * 32 : 128), 1, 1};
    const float *no_gamma = NULL, *no_eps = NULL;
    void *qargs[] = {&x, &xq, &G}, *nargs[] = {&x, &gamma, &eps, &xq, &G};
    void *args[] = {&xq, &qw, &qs, &y, &res, &n, &k, &zero, &no_gamma, &no_eps};
    int rc = mlcc_cuda_launch(id, gamma ? d->norm_quantize_x8 : d->quantize_x8, qgrid, qblock, 0, gamma ? nargs : qargs) ||
             mlcc_cuda_launch(id, one_round(k, block[0]) ? d->int8_xq1[lo][silu] : d->int8_xq[lo][silu], grid, block, 0, args);
    h->free(id, xq); /* stream-ordered: the allocator's blocks serve this stream */
    return rc ? -1 : 0;
}

/* The streaming GEMV (MLCC_CUDA_Q4_STREAM=1; off by default: see below) and its shape: *rs outputs
 * a stage, as many of 8, 4, 2, 1 as keep a stage within MLCC_CUDA_Q4S_STAGE_KB (default 20: K =
 * 4096 8, with silu * up 4; K = 14336 2), and as many stages as fit MLCC_CUDA_Q4S_KB of shared
 * memory (default 96, so two blocks fit a multiprocessor) with x's int8 groups, 2 to 8 and a
 * multiple of 8 / *rs. 0 when it is off or the shape or device does not take it: sm_90 (bulk
 * copies), one row, K % 256 == 0 (each row's scales a multiple of 16 bytes), K <= 32768, 16-byte
 * aligned x, W, scales and gamma, at most the device's opt-in shared memory (227 KB on sm_90).
 * Measured on the H100 (BENCHMARKS.md, session 23), one row in a CUDA graph, us a call against the
 * block GEMV's: qkv 7.6 / 8.7, o 5.2 / 5.3, but gate_up 27.7 / 24.9, down 16.5 / 15.8, lm_head
 * 107 / 98 (2.75 against 3.0 TB/s), and the 32-layer 4-bit step 2.72 against 2.46 ms; other stage
 * sizes, depths and two or three blocks a multiprocessor won single shapes (gate 12.9 / 14.8 us,
 * down 14.8 / 16.0), none all. So the block GEMV stays the default. */
static int stream_shape(int id, const float *x, const uint32_t *qw, const uint16_t *qs, const float *gamma, int64_t rows,
                        int64_t in, int silu, int *rs, int *stages, uint32_t *smem) {
    const char *v = getenv("MLCC_CUDA_Q4_STREAM"); /* read per call: tests switch it */
    if (!(v && strcmp(v, "1") == 0) || rows != 1 || in % 256 || in > 32768 || mlcc_cuda_device_arch(id) < 90) return 0;
    if (((uintptr_t)x | (uintptr_t)qw | (uintptr_t)qs | (uintptr_t)gamma) % 16) return 0;
    const char *stage_kb = getenv("MLCC_CUDA_Q4S_STAGE_KB"), *total_kb = getenv("MLCC_CUDA_Q4S_KB");
    int stage_limit = (stage_kb && atoi(stage_kb) > 0 ? atoi(stage_kb) : 20) * 1024;
    int total = (total_kb && atoi(total_kb) > 0 ? atoi(total_kb) : 96) * 1024;
    int row_bytes = (int)(in / 2 + in / 16) * (silu ? 2 : 1), x_bytes = (int)(in / 32) * 40, r = 8;
    while (r > 1 && r * row_bytes > stage_limit) r /= 2;
    int n = (total - x_bytes) / (r * row_bytes), q = 8 / r;
    n = n < 2 ? 2 : n > 8 ? 8 : n;
    n = n < q ? q : n / q * q; /* each buffer's stages go to the same warps, in order (the kernel) */
    *rs = r, *stages = n, *smem = (uint32_t)(n * r * row_bytes + x_bytes);
    int limit = mlcc_cuda_device_shared_optin(id); /* (silu * up at K = 32768 asks 328 KB) */
    return limit > 0 && *smem <= (uint32_t)limit;
}

static int run_stream_gemv(int id, q4_device *d, const float *x, const uint32_t *qw, const uint16_t *qs, const float *res,
                           float *y, int n, int k, int zero, int silu, const float *gamma, const float *eps, int rs,
                           int stages, uint32_t smem) {
    int units = silu ? n / 2 : n;
    uint32_t grid[3] = {(uint32_t)(units < d->sms ? units : d->sms), 1, 1}, block[3] = {288, 1, 1};
    void *args[] = {&x, &qw, &qs, &y, &res, &n, &k, &zero, &gamma, &eps, &rs, &stages};
    return mlcc_cuda_launch(id, d->stream[gamma != NULL][silu], grid, block, smem, args);
}

/* The block GEMV over rows of x in passes of up to 4 (2 with fusions): outputs per block as many
 * as keep at least two blocks per multiprocessor (of 132) busy, threads as few warps as cover the
 * groups of a row in the fewest rounds. Measured on the H100 (2026-11-26, Llama-3-8B shape, one
 * row): the warp-per-output GEMV moved 0.4-1.1 TB/s on the layer projections (the down
 * projection's 4096 warps each streamed a whole 14336-long row: few, long-running warps); see
 * BENCHMARKS.md for the block GEMV's figures. res and f's fusions need the int8 kernels
 * (gemv_fuses says when this applies). */
static int run_block_gemv(int id, q4_device *d, const float *x, const uint32_t *qw, const uint16_t *qs, const float *res, float *y,
                          int64_t rows, int64_t out, int64_t in, int zero, const mlcc_linear_fusion *f) {
    int n = (int)out, k = (int)in;
    int silu = f && f->silu_mul, norm = f && f->gamma, fused = silu || norm;
    int int8 = use_int8_gemv();
    int64_t groups = in / 32, rounds = (groups + 255) / 256;
    int64_t threads = ((groups + rounds - 1) / rounds + 31) / 32 * 32;
    int x8 = int8 && rows == 1 && use_x8_once() && (!norm || in / 32 <= 1024);
    if (x8 && groups > 256 && groups <= one_round_groups()) threads = (groups + 31) / 32 * 32; /* one_round */
    int lo = mlcc_gemv_outputs_log2(out, int8 ? int8_outputs_most() : 8);
    if (lo > 3 && (rows > 1 || (int64_t)(1 << lo) > threads || threads > 256)) lo = 3; /* 16 outputs: one row (O * R threads store the sums), 256 threads */
    if (silu && lo < 1) lo = 1; /* a gate row and its up row at least */
    int64_t y_cols = silu ? out / 2 : out, per_block = silu ? 1 << (lo - 1) : 1 << lo;
    uint32_t grid[3] = {(uint32_t)((y_cols + per_block - 1) / per_block), 1, 1}, block[3] = {(uint32_t)threads, 1, 1};
    const float *gamma = norm ? f->gamma : NULL, *eps = norm ? f->eps : NULL;
    int rs = 0, stages = 0;
    uint32_t smem = 0;
    if (int8 && stream_shape(id, x, qw, qs, gamma, rows, in, silu, &rs, &stages, &smem))
        return run_stream_gemv(id, d, x, qw, qs, res, y, n, k, zero, silu, gamma, eps, rs, stages, smem);
    if (x8)
        return run_x8_gemv(id, d, x, qw, qs, res, y, n, k, zero, silu, gamma, eps, lo, grid, block);
    for (int64_t r = 0; r < rows;) {
        int64_t left = rows - r;
        int lr = left >= 4 && !fused ? 2 : left >= 2 ? 1 : 0;
        const float *xr = x + r * in, *rr = res ? res + r * out : NULL;
        float *yr = y + r * y_cols;
        void *args[] = {&xr, &qw, &qs, &yr, &rr, &n, &k, &zero, &gamma, &eps};
        void *plain[] = {&xr, &qw, &qs, &yr, &n, &k, &zero}; /* the float block GEMV's */
        void *kernel = !int8 ? d->block[lo][lr] : fused ? d->int8_fused[silu && norm ? 2 : norm][lo][lr] : d->int8[lo][lr];
        if (mlcc_cuda_launch(id, kernel, grid, block, 0, int8 ? args : plain)) return -1;
        r += 1 << lr;
    }
    return 0;
}

static int fast_shape(const void *x, const uint32_t *qw, int64_t in) {
    return in % 32 == 0 && ((uintptr_t)x | (uintptr_t)qw) % 16 == 0;
}

static int run_gemv(int id, q4_device *d, const float *x, const uint32_t *qw, const uint16_t *qs, float *y, int64_t rows,
                    int64_t out, int64_t in, int zero) {
    int n = (int)out, k = (int)in;
    int fast = fast_shape(x, qw, in);
    if (fast && use_block_gemv()) return run_block_gemv(id, d, x, qw, qs, NULL, y, rows, out, in, zero, NULL);
    uint32_t block[3] = {256, 1, 1};
    if (!fast) {
        uint32_t grid[3] = {(uint32_t)((out + 7) / 8), 1, 1};
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * in;
            float *yr = y + r * out;
            void *args[] = {&xr, &qw, &qs, &yr, &n, &k, &zero};
            if (mlcc_cuda_launch(id, d->any, grid, block, 0, args)) return -1;
        }
        return 0;
    }
    for (int64_t r = 0; r < rows;) {
        int64_t left = rows - r;
        int pick = left >= 16 ? 4 : left >= 8 ? 3 : left >= 4 ? 2 : left >= 2 ? 1 : 0;
        int o = pick == 0 ? outputs_per_warp(out) : 1;
        int64_t warps = (out + o - 1) / o;
        uint32_t grid[3] = {(uint32_t)((warps + 7) / 8), 1, 1};
        const float *xr = x + r * in;
        float *yr = y + r * out;
        void *args[] = {&xr, &qw, &qs, &yr, &n, &k, &zero};
        if (mlcc_cuda_launch(id, o == 4 ? d->gemv_1x4 : d->gemv[pick], grid, block, 0, args)) return -1;
        r += 1 << pick;
    }
    return 0;
}

/* Prefill: W to float16 in a workspace, then the float16 path (cuBLASLt for these rows). x, res
 * and y are float32, or float16 where x_half, res_half, y_half say so (prefill's half
 * activations: transform/half_activations.c). */
static int run_dequant_gemm(int id, q4_device *d, const void *x, int x_half, const uint32_t *qw, const uint16_t *qs,
                            const void *res, int res_half, void *y, int y_half, int64_t rows, int64_t out, int64_t in, int zero) {
    const mlcc_cuda_library_hooks *h = mlcc_cuda_hooks();
    uint16_t *w16 = h->alloc(id, (size_t)(out * in) * 2);
    if (!w16) return mlcc_prefix_error("mlcc.cuda.linear_q4: a float16 workspace of %lld x %lld", (long long)out, (long long)in);
    int n = (int)out, k = (int)in;
    int64_t words = out * ((in + 7) / 8);
    uint32_t grid[3] = {(uint32_t)(words / 256 < 8192 ? words / 256 + 1 : 8192), 1, 1}, block[3] = {256, 1, 1};
    void *args[] = {&qw, &qs, &w16, &n, &k, &zero};
    int rc = mlcc_cuda_launch(id, d->dequant, grid, block, 0, args);
    if (rc == 0) { /* the float16 GEMV loads its first weights before PDL's wait: here they are the dequantize's output */
        mlcc_cuda_pdl_hold(1);
        rc = mlcc_cuda_linear_f16_mixed(id, x, x_half, w16, res, res_half, y, y_half, rows, out, in);
        mlcc_cuda_pdl_hold(0);
    }
    h->free(id, w16); /* stream-ordered reuse, as cuda_linear.c's workspaces */
    return rc;
}

static int device_of(int device_id, q4_device **d) {
    pthread_mutex_lock(&lock);
    int rc = device_ready(device_id, d);
    pthread_mutex_unlock(&lock);
    return rc;
}

static int check_shape(const char *fn, int64_t rows, int64_t out, int64_t in, int silu) {
    if (rows <= 0 || out <= 0 || in <= 0 || out > 0x7fffffff || in > 0x7fffffff || (silu && out % 2))
        return mlcc_set_error("%s: bad shape %lld x %lld x %lld%s", fn, (long long)rows, (long long)out, (long long)in,
                              silu ? " (out: gate and up rows, even)" : "");
    return 0;
}

/* y = x W^T (+ res): the GEMV for decode's rows (res added by a kernel after it: the fused path
 * below adds it in the GEMV), the tensor-core GEMM for batched decode and the float16 path for
 * prefill (both add res as they store y) */
static int linear_q4_res(int device_id, q4_device *d, const float *x, const uint32_t *qw, const uint16_t *qs, const float *res,
                         float *y, int64_t rows, int64_t out, int64_t in, int zero_point) {
    int gemm = rows > gemv_rows_limit();
    double t0 = !gemm && mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(device_id) : 0;
    int mma = gemm && rows <= mlcc_cuda_gemm_q4_rows() && fast_shape(x, qw, in);
    int rc = mma    ? mlcc_cuda_gemm_q4(device_id, x, qw, qs, res, y, rows, out, in, zero_point, 0)
             : gemm ? run_dequant_gemm(device_id, d, x, 0, qw, qs, res, 0, y, 0, rows, out, in, zero_point)
                    : run_gemv(device_id, d, x, qw, qs, y, rows, out, in, zero_point);
    if (rc == 0 && res && !gemm) rc = mlcc_cuda_add_f32(device_id, y, res, rows * out);
    if (t0 > 0) {
        char name[96];
        snprintf(name, sizeof name, "linear_q4 (GEMV) rows %lld, %lld x %lld", (long long)rows, (long long)out, (long long)in);
        mlcc_cuda_profile_end(device_id, mlcc_intern(name), t0);
    }
    return rc;
}

int mlcc_cuda_linear_q4(int device_id, const float *x, const uint32_t *qw, const uint16_t *qs, float *y, int64_t rows,
                        int64_t out, int64_t in, int zero_point) {
    q4_device *d = NULL;
    if (check_shape("mlcc.cuda.linear_q4", rows, out, in, 0) || device_of(device_id, &d)) return -1;
    return linear_q4_res(device_id, d, x, qw, qs, NULL, y, rows, out, in, zero_point);
}

/* MLCC_CUDA_Q4_MMA_HALF=0: a short prompt's half x, r and y are converted around the float32
 * tensor-core GEMM, as for mixed dtypes, instead of read and written by its float16 kernels
 * (the same bits; measurements and tests switch it). */
static int use_mma_half(void) {
    const char *v = getenv("MLCC_CUDA_Q4_MMA_HALF"); /* read per call */
    return !(v && strcmp(v, "0") == 0);
}

/* Prefill's half activations: a prompt's rows take the dequantize + float16 path, which reads
 * and writes half values as they are; up to the tensor-core GEMM's rows (a short prompt) its
 * float16 kernels do when x, r and y are all half (every projection but the first layer's o,
 * whose r is the float32 embeddings); otherwise, and for the GEMV's rows, x and r are widened
 * into float32 workspaces and y is rounded from one, as cuda_linear.c does for its GEMV. */
int mlcc_cuda_linear_q4_mixed(int device_id, const void *x, int x_half, const uint32_t *qw, const uint16_t *qs, const void *r,
                              int r_half, void *y, int y_half, int64_t rows, int64_t out, int64_t in, int zero_point) {
    q4_device *d = NULL;
    if (check_shape("mlcc.cuda.linear_q4", rows, out, in, 0) || device_of(device_id, &d)) return -1;
    r_half = r && r_half;
    if (rows > gemv_rows_limit() && rows > mlcc_cuda_gemm_q4_rows())
        return run_dequant_gemm(device_id, d, x, x_half, qw, qs, r, r_half, y, y_half, rows, out, in, zero_point);
    if (rows > gemv_rows_limit() && x_half && y_half && (!r || r_half) && fast_shape(x, qw, in) && use_mma_half())
        return mlcc_cuda_gemm_q4(device_id, x, qw, qs, r, y, rows, out, in, zero_point, 1);
    const mlcc_cuda_library_hooks *h = mlcc_cuda_hooks();
    float *x32 = x_half ? h->alloc(device_id, sizeof(float) * (size_t)(rows * in)) : (float *)x;
    float *r32 = r_half ? h->alloc(device_id, sizeof(float) * (size_t)(rows * out)) : (float *)r;
    float *y32 = y_half ? h->alloc(device_id, sizeof(float) * (size_t)(rows * out)) : y;
    int rc = !x32 || (r && !r32) || !y32 ? mlcc_prefix_error("mlcc.cuda.linear_q4: float32 workspace (%lld rows)", (long long)rows) : 0;
    if (rc == 0 && x_half) rc = mlcc_cuda_f16_to_f32(device_id, x, x32, rows * in);
    if (rc == 0 && r_half) rc = mlcc_cuda_f16_to_f32(device_id, r, r32, rows * out);
    if (rc == 0) rc = linear_q4_res(device_id, d, x32, qw, qs, r32, y32, rows, out, in, zero_point);
    if (rc == 0 && y_half) rc = mlcc_cuda_f32_to_f16(device_id, y32, y, rows * out);
    if (x_half && x32) h->free(device_id, x32);
    if (r_half && r32) h->free(device_id, r32);
    if (y_half && y32) h->free(device_id, y32);
    return rc;
}

/* Whether one int8 block GEMV computes the projection with its residual and fusions */
static int gemv_fuses(const float *x, const uint32_t *qw, const float *gamma, int64_t rows, int64_t in) {
    return rows <= 2 && rows <= gemv_rows_limit() && fast_shape(x, qw, in) && (!gamma || (uintptr_t)gamma % 16 == 0) &&
           use_block_gemv() && use_int8_gemv();
}

/* The fusions as kernels around mlcc_cuda_linear_q4 (more rows, other shapes): the norm into a
 * workspace, the projection (into a workspace for silu * up; with the residual), then silu * up. */
static int run_fused_apart(int id, q4_device *d, const mlcc_linear_fusion *f, const float *a, const uint32_t *qw,
                           const uint16_t *qs, const float *res, float *y, int64_t rows, int64_t out, int64_t in, int zero) {
    const mlcc_cuda_library_hooks *h = mlcc_cuda_hooks();
    int norm = f && f->gamma, silu = f && f->silu_mul;
    float *x = norm ? h->alloc(id, sizeof(float) * (size_t)(rows * in)) : (float *)a;
    float *gu = silu ? h->alloc(id, sizeof(float) * (size_t)(rows * out)) : y;
    int rc = !x || !gu ? mlcc_prefix_error("mlcc.cuda.linear_q4: fused projection's workspace (%lld rows)", (long long)rows) : 0;
    if (rc == 0 && norm) rc = mlcc_cuda_rms_norm_rows(id, f, a, x, rows, in);
    if (rc == 0) rc = linear_q4_res(id, d, x, qw, qs, res, gu, rows, out, in, zero);
    if (rc == 0 && silu) rc = mlcc_cuda_silu_mul(id, gu, y, rows, out / 2);
    /* stream-ordered frees: the allocator's blocks serve this stream */
    if (norm && x) h->free(id, x);
    if (silu && gu) h->free(id, gu);
    return rc;
}

int mlcc_cuda_linear_q4_fused(int device_id, const mlcc_linear_fusion *f, const float *a, const uint32_t *qw, const uint16_t *qs,
                              const float *res, float *y, int64_t rows, int64_t out, int64_t in, int zero_point) {
    int silu = f && f->silu_mul;
    q4_device *d = NULL;
    if (check_shape("mlcc.cuda.linear_q4", rows, out, in, silu) || device_of(device_id, &d)) return -1;
    if (silu && res) return mlcc_set_error("mlcc.cuda.linear_q4: silu * up with a residual is not a fusion this file has");
    if (!gemv_fuses(a, qw, f ? f->gamma : NULL, rows, in)) return run_fused_apart(device_id, d, f, a, qw, qs, res, y, rows, out, in, zero_point);
    double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(device_id) : 0;
    int rc = run_block_gemv(device_id, d, a, qw, qs, res, y, rows, out, in, zero_point, f);
    if (t0 > 0) {
        char name[96];
        snprintf(name, sizeof name, "linear_q4%s%s%s (GEMV) rows %lld, %lld x %lld", f && f->gamma ? "_norm" : "", silu ? "_silu" : "",
                 res ? "_add" : "", (long long)rows, (long long)out, (long long)in);
        mlcc_cuda_profile_end(device_id, mlcc_intern(name), t0);
    }
    return rc;
}

int mlcc_cuda_linear_q4_silu(int device_id, const float *x, const uint32_t *qw, const uint16_t *qs, float *y, int64_t rows,
                             int64_t out, int64_t in, int zero_point) {
    const mlcc_linear_fusion f = {NULL, NULL, 1};
    return mlcc_cuda_linear_q4_fused(device_id, &f, x, qw, qs, NULL, y, rows, out, in, zero_point);
}

/* The packed functions (transform/cuda_dispatch.c, fuse_gemv.c): x (or RMSNorm's input a, with
 * its gamma f32 [in] and eps f32 [1]), q_weight u32 [out, in/8], q_scale f16 [out, in/32], then
 * for _add the residual r f32 [..., out], then y f32 [..., out] (out / 2 after silu * up). In
 * the plain and _add forms x, r and y may each be f16 instead (mlcc_cuda_linear_q4_mixed). */
typedef struct q4_call {
    const char *fn;
    int zero, norm, silu, add;
} q4_call;

static int linear_q4(const q4_call *c, const MLCCValue *args, const int *codes, int n) {
    const char *fn = c->fn;
    static const char *const what[2][2] = {{"x, q_weight, q_scale and y", "x, q_weight, q_scale, r and y"},
                                           {"a, gamma, eps, q_weight, q_scale and y", "a, gamma, eps, q_weight, q_scale, r and y"}};
    projection_args p;
    int nw = 2 + 2 * c->norm + c->add;
    if (projection_args_read(fn, kDLCUDA, "CUDA", what[c->norm][c->add], args, codes, n, nw, &p)) return -1;
    const DLTensor *gamma = c->norm ? p.w[0] : NULL, *eps = c->norm ? p.w[1] : NULL;
    const DLTensor *qw = p.w[2 * c->norm], *qs = p.w[2 * c->norm + 1], *r = c->add ? p.w[2 * c->norm + 2] : NULL;
    /* x, r and y float16 too in the plain forms (prefill's half activations) */
    int plain = !c->norm && !c->silu, x_half = plain && projection_is_dtype(p.x, kDLFloat, 16),
        y_half = plain && projection_is_dtype(p.y, kDLFloat, 16), r_half = plain && r && projection_is_dtype(r, kDLFloat, 16);
    if (!(x_half || projection_is_dtype(p.x, kDLFloat, 32)) || !projection_is_dtype(qw, kDLUInt, 32) ||
        !projection_is_dtype(qs, kDLFloat, 16) || !(y_half || projection_is_dtype(p.y, kDLFloat, 32)) ||
        (r && !(r_half || projection_is_dtype(r, kDLFloat, 32))) ||
        (c->norm && (!projection_is_dtype(gamma, kDLFloat, 32) || !projection_is_dtype(eps, kDLFloat, 32))))
        return mlcc_set_error("%s: wants %s x%s%s, uint32 q_weight, float16 q_scale, %s y", fn,
                              plain ? "float32 or float16" : "float32", c->norm ? ", gamma, eps" : "",
                              r ? ", r" : "", plain ? "float32 or float16" : "float32");
    if (qw->ndim != 2 || qs->ndim != 2)
        return mlcc_set_error("%s: wants x[..., in], q_weight[out, in/8], q_scale[out, in/32], y[..., out]", fn);
    int64_t in = p.in, out = c->silu ? 2 * p.out : p.out;
    if (qw->shape[0] != out || qs->shape[0] != out || qw->shape[1] != (in + 7) / 8 || qs->shape[1] != (in + 31) / 32)
        return mlcc_set_error("%s: q_weight [%lld, %lld] / q_scale [%lld, %lld] do not pack [%lld, %lld]", fn,
                              (long long)qw->shape[0], (long long)qw->shape[1], (long long)qs->shape[0],
                              (long long)qs->shape[1], (long long)out, (long long)in);
    if (c->norm && (gamma->ndim != 1 || gamma->shape[0] != in || eps->ndim != 1 || eps->shape[0] != 1))
        return mlcc_set_error("%s: gamma must be [%lld] and eps [1]", fn, (long long)in);
    int same = !r || r->ndim == p.y->ndim;
    for (int i = 0; r && same && i < r->ndim; i++) same = r->shape[i] == p.y->shape[i];
    if (!same) return mlcc_set_error("%s: the residual r must have y's shape", fn);
    if (p.rows == 0) return 0;
    int id = p.x->device.device_id;
    if (x_half || y_half || r_half)
        return mlcc_cuda_linear_q4_mixed(id, projection_data(p.x), x_half, projection_data(qw), projection_data(qs),
                                         r ? projection_data(r) : NULL, r_half, projection_data(p.y), y_half, p.rows, out, in,
                                         c->zero);
    if (plain && !r)
        return mlcc_cuda_linear_q4(id, projection_data(p.x), projection_data(qw), projection_data(qs), projection_data(p.y), p.rows,
                                   out, in, c->zero);
    mlcc_linear_fusion f = {c->norm ? projection_data(gamma) : NULL, c->norm ? projection_data(eps) : NULL, c->silu};
    return mlcc_cuda_linear_q4_fused(id, &f, projection_data(p.x), projection_data(qw), projection_data(qs),
                                     r ? projection_data(r) : NULL, projection_data(p.y), p.rows, out, in, c->zero);
}

#define Q4_PACKED(NAME, ZERO, NORM, SILU, ADD)                                                              \
    static int NAME(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) { \
        (void)ret, (void)ret_code, (void)res;                                                                 \
        static const q4_call c = {"mlcc.cuda." #NAME, ZERO, NORM, SILU, ADD};                                 \
        return linear_q4(&c, args, codes, n);                                                                 \
    }                                                                                                         \
    MLCC_REGISTER_GLOBAL("mlcc.cuda." #NAME, NAME)

Q4_PACKED(linear_q4f16, 7, 0, 0, 0)
Q4_PACKED(linear_q4f16_zp8, 8, 0, 0, 0)
Q4_PACKED(linear_q4f16_silu, 7, 0, 1, 0)
Q4_PACKED(linear_q4f16_zp8_silu, 8, 0, 1, 0)
Q4_PACKED(linear_q4f16_add, 7, 0, 0, 1)
Q4_PACKED(linear_q4f16_zp8_add, 8, 0, 0, 1)
Q4_PACKED(linear_q4f16_norm, 7, 1, 0, 0)
Q4_PACKED(linear_q4f16_zp8_norm, 8, 1, 0, 0)
Q4_PACKED(linear_q4f16_norm_silu, 7, 1, 1, 0)
Q4_PACKED(linear_q4f16_zp8_norm_silu, 8, 1, 1, 0)
