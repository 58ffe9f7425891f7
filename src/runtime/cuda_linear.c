/* cuda_linear.c - y[rows, out] = x[rows, in] @ W[out, in]^T with float32 x and y and a float16
 * W, on a CUDA device: the packed function `mlcc.cuda.linear_f16` that the CUDA build's
 * dispatch (transform/cuda_dispatch.c) calls for every float16-weight projection.
 *
 * The row count is only known here, and it decides the kernel:
 *  - rows <= MLCC_CUDA_GEMV_ROWS (default 2; decode of one or two sequences): a GEMV that
 *    streams W once, 16-byte loads of eight halves, float32 sums: the block GEMV (a block per
 *    1-8 outputs, its threads over K, up to 8 rows of x per pass) when K % 8 == 0 and the
 *    pointers allow 16-byte loads, else a warp per output. The warp GEMV read W at 2.4-3.8 TB/s
 *    for one row but was compute bound from four rows on (430 GB/s at 16), while cuBLASLt reads
 *    W at 1.8-2.6 TB/s from 4 to 128 rows (bench/bench_cuda_linear.c, H100, 2026-11-26; equal
 *    at 2 rows): batch-16 decode of 4 layers of the Llama-3-8B shape went from 2165 to 8697
 *    tok/s with the limit at 2;
 *  - more rows (prefill, batched decode): x rounded to float16 into a workspace, then a
 *    cuBLASLt tensor-core matmul (f16 x f16 -> f32, float32 accumulation). cuBLASLt is opened
 *    with dlopen by versioned names (libcublasLt.so.13, .12; MLCC_CUBLASLT overrides) and
 *    what was found is logged once; without it the GEMV covers every row count (slowly).
 * Plans (descriptors, layouts and the heuristic's algorithm) are cached per (rows, out, in),
 * so a decode step pays the heuristic once per shape, not per call; from 256 rows, in whole
 * multiples of 128 (MLCC_CUDA_LT_TUNE), the heuristic's first few candidates are timed at a
 * shape's first call and the fastest kept. x is rounded 8 values per thread step (two 16-byte
 * loads, one store). mlcc.cuda.linear_f16_add adds a residual: cuBLASLt's epilogue reads it
 * (beta = 1), the GEMV kernels add it as they store y. In prefill functions x (and y of plain
 * projections) may be float16 (transform/half_activations.c): then x goes to cuBLASLt as it is
 * and cuBLASLt writes a float16 y; the GEMV path widens / rounds through a workspace. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda.h"
#include "runtime/cuda_api.h"
#include "runtime/cuda_gemv_block.h"
#include "runtime/cuda_pdl.h"
#include "runtime/cuda_skinny.h"
#include "runtime/device.h"
#include "runtime/packed.h"
#include "runtime/projection_args.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "support/log.h"

/* ---- the kernels (NVRTC, compiled once per device, cached on disk) ---- */

static const char *const kernel_source = MLCC_CUDA_PDL_HELPERS
    "#include <cuda_fp16.h>\n"
    MLCC_PDL_DECLARATION " mlcc_gemv_f16 mlcc_f32_to_f16 mlcc_add_f32 mlcc_norm_rows mlcc_silu_mul\n"
    MLCC_CUDA_LD_WEIGHT
    "/* y[r, o] = sum_k x[r, k] w[o, k] (+ res[r, o] when res is not null: linear_f16_add's\n"
    " * residual) for R rows: a warp per output o, lanes taking 8 halves (16 bytes) at a time;\n"
    " * vec = 0 when K or a pointer does not allow 16-byte loads. */\n"
    "template <int R>\n"
    "__device__ __forceinline__ void gemv(const float *__restrict__ x, const __half *__restrict__ w,\n"
    "                                     float *y, const float *res, int N, int K, int vec) {\n"
    "    mlcc_pdl_begin(0, 0);\n"
    "    int o = (int)((blockIdx.x * blockDim.x + threadIdx.x) >> 5), lane = threadIdx.x & 31;\n"
    "    if (o >= N) return;\n"
    "    const __half *row = w + (long long)o * K;\n"
    "    float acc[R];\n"
    "#pragma unroll\n"
    "    for (int r = 0; r < R; r++) acc[r] = 0.f;\n"
    "    if (vec) {\n"
    "#pragma unroll 4\n"
    "        for (int k = lane * 8; k < K; k += 256) {\n"
    "            uint4 raw = mlcc_ld_weight(row + k);\n"
    "            const __half2 *h = reinterpret_cast<const __half2 *>(&raw);\n"
    "            float2 w0 = __half22float2(h[0]), w1 = __half22float2(h[1]);\n"
    "            float2 w2 = __half22float2(h[2]), w3 = __half22float2(h[3]);\n"
    "#pragma unroll\n"
    "            for (int r = 0; r < R; r++) {\n"
    "                const float4 *xr = reinterpret_cast<const float4 *>(x + (long long)r * K + k);\n"
    "                float4 a = xr[0], b = xr[1];\n"
    "                acc[r] += a.x * w0.x + a.y * w0.y + a.z * w1.x + a.w * w1.y\n"
    "                        + b.x * w2.x + b.y * w2.y + b.z * w3.x + b.w * w3.y;\n"
    "            }\n"
    "        }\n"
    "    } else {\n"
    "        for (int k = lane; k < K; k += 32) {\n"
    "            float wk = __half2float(row[k]);\n"
    "#pragma unroll\n"
    "            for (int r = 0; r < R; r++) acc[r] += x[(long long)r * K + k] * wk;\n"
    "        }\n"
    "    }\n"
    "#pragma unroll\n"
    "    for (int r = 0; r < R; r++) {\n"
    "        float s = acc[r];\n"
    "#pragma unroll\n"
    "        for (int d = 16; d > 0; d >>= 1) s += __shfl_xor_sync(0xffffffffu, s, d);\n"
    "        long long i = (long long)r * N + o;\n"
    "        if (lane == 0) y[i] = res ? s + res[i] : s;\n"
    "    }\n"
    "}\n"
    "#define GEMV(R) extern \"C\" __global__ void __launch_bounds__(256) mlcc_gemv_f16w_##R(\\\n"
    "    const float *x, const __half *w, float *y, const float *res, int N, int K, int vec) { gemv<R>(x, w, y, res, N, K, vec); }\n"
    "GEMV(1)\nGEMV(2)\nGEMV(4)\nGEMV(8)\nGEMV(16)\n"
    MLCC_CUDA_SILU
    "__device__ __forceinline__ float4 mlcc_mul4(float4 a, float4 b) {\n"
    "    return make_float4(a.x * b.x, a.y * b.y, a.z * b.z, a.w * b.w);\n"
    "}\n"
    "/* The block GEMV (K % 8 == 0, 16-byte aligned): a block takes O outputs, its threads the\n"
    " * 16-byte chunks (8 halves) of K, so a thread issues O independent loads at a time and each\n"
    " * slice of x it loads serves O rows of W; sums meet through shuffles and shared memory.\n"
    " * Fusions (transform/fuse_gemv.c): NORM, x is RMSNorm's input: the block reads\n"
    " * x * gamma and sums x^2 over the row, whose 1 / sqrt(mean + eps) scales the sums at the end;\n"
    " * SILU, W is a gate_up matrix of N = 2I rows and y [R, I] = silu(x gate^T) * (x up^T): the\n"
    " * block's first O / 2 outputs are gate rows, the others the up rows I further on. */\n"
    "/* A block's O rows of 16-byte chunk c: rows o0 + o (o < H), with SILU the up rows I further on. */\n"
    "template <int O>\n"
    "__device__ __forceinline__ void load_chunk(uint4 (&q)[O], const __half *__restrict__ w, int o0, int H, int I, int K, int c) {\n"
    "#pragma unroll\n"
    "    for (int o = 0; o < O; o++) {\n"
    "        int j = o % H, row = o0 + j < I ? o0 + j : I - 1; /* a tail block repeats the last row, unwritten */\n"
    "        q[o] = mlcc_ld_weight(reinterpret_cast<const uint4 *>(w + (long long)(o < H ? row : I + row) * K) + c);\n"
    "    }\n"
    "}\n"
    "/* x[k .. k + 8) as two float4: x float32, or half (the decode's half activations) */\n"
    "__device__ __forceinline__ void load_x8(const float *x, float4 &a, float4 &b) {\n"
    "    a = __ldg(reinterpret_cast<const float4 *>(x)), b = __ldg(reinterpret_cast<const float4 *>(x) + 1);\n"
    "}\n"
    "__device__ __forceinline__ void load_x8(const __half *x, float4 &a, float4 &b) {\n"
    "    uint4 raw = __ldg(reinterpret_cast<const uint4 *>(x));\n"
    "    const __half2 *h = reinterpret_cast<const __half2 *>(&raw);\n"
    "    float2 x0 = __half22float2(h[0]), x1 = __half22float2(h[1]), x2 = __half22float2(h[2]), x3 = __half22float2(h[3]);\n"
    "    a = make_float4(x0.x, x0.y, x1.x, x1.y), b = make_float4(x2.x, x2.y, x3.x, x3.y);\n"
    "}\n"
    "/* XT, YT: x's and y's types (float, or __half: y rounded once as it is stored) */\n"
    "template <int O, int R, int NORM, int SILU, typename XT, typename YT>\n"
    "__device__ __forceinline__ void gemv_block(const XT *__restrict__ x, const __half *__restrict__ w,\n"
    "                                           YT *y, const float *res, int N, int K,\n"
    "                                           const float *__restrict__ gamma, const float *__restrict__ eps) {\n"
    "    __shared__ float red[8][O * R];\n"
    "    __shared__ float squares[8][R];\n"
    "    const int H = SILU ? O / 2 : O, I = SILU ? N / 2 : N; /* y's columns: a block's, all */\n"
    "    const int o0 = blockIdx.x * H, C = K >> 3;\n"
    "    if (SILU) mlcc_pdl_prefetch(w + (long long)(I + o0) * K, (long long)min(H, I - o0) * K * 2);\n"
    "    float acc[O][R], ss[R];\n"
    "#pragma unroll\n"
    "    for (int r = 0; r < R; r++) {\n"
    "        ss[r] = 0.f;\n"
    "#pragma unroll\n"
    "        for (int o = 0; o < O; o++) acc[o][r] = 0.f;\n"
    "    }\n"
    "    uint4 q[O];\n"
    "#ifdef MLCC_EARLY_WEIGHTS /* the first chunk's weights before the wait: no kernel writes them */\n"
    "    if ((int)threadIdx.x < C) load_chunk<O>(q, w, o0, H, I, K, threadIdx.x);\n"
    "    mlcc_pdl_begin(w, 0);\n"
    "#else\n"
    "    mlcc_pdl_begin(w + (long long)o0 * K, (long long)min(H, I - o0) * K * 2);\n"
    "#endif\n"
    "    for (int c = threadIdx.x; c < C; c += blockDim.x) {\n"
    "#ifdef MLCC_EARLY_WEIGHTS\n"
    "        if (c != (int)threadIdx.x)\n"
    "#endif\n"
    "            load_chunk<O>(q, w, o0, H, I, K, c);\n"
    "        float4 ga = make_float4(0.f, 0.f, 0.f, 0.f), gb = ga;\n"
    "        if (NORM) ga = __ldg(reinterpret_cast<const float4 *>(gamma) + 2 * c), gb = __ldg(reinterpret_cast<const float4 *>(gamma) + 2 * c + 1);\n"
    "#pragma unroll\n"
    "        for (int r = 0; r < R; r++) {\n"
    "            float4 a, b;\n"
    "            load_x8(x + (long long)r * K + (c << 3), a, b);\n"
    "            if (NORM) {\n"
    "                ss[r] += a.x * a.x + a.y * a.y + a.z * a.z + a.w * a.w + b.x * b.x + b.y * b.y + b.z * b.z + b.w * b.w;\n"
    "                a = mlcc_mul4(a, ga), b = mlcc_mul4(b, gb);\n"
    "            }\n"
    "#pragma unroll\n"
    "            for (int o = 0; o < O; o++) {\n"
    "                const __half2 *h = reinterpret_cast<const __half2 *>(&q[o]);\n"
    "                float2 w0 = __half22float2(h[0]), w1 = __half22float2(h[1]);\n"
    "                float2 w2 = __half22float2(h[2]), w3 = __half22float2(h[3]);\n"
    "                acc[o][r] += a.x * w0.x + a.y * w0.y + a.z * w1.x + a.w * w1.y\n"
    "                           + b.x * w2.x + b.y * w2.y + b.z * w3.x + b.w * w3.y;\n"
    "            }\n"
    "        }\n"
    "    }\n"
    MLCC_CUDA_GEMV_SQUARES_SUM
    MLCC_CUDA_GEMV_BLOCK_SUM
    MLCC_CUDA_GEMV_FUSED_STORE
    "#define GEMVB_T(O, R, NAME, XT) extern \"C\" __global__ void __launch_bounds__(256) mlcc_gemv_f16##NAME##_##O##_##R(\\\n"
    "    const XT *x, const __half *w, float *y, const float *res, int N, int K) {\\\n"
    "    gemv_block<O, R, 0, 0, XT, float>(x, w, y, res, N, K, 0, 0); }\n"
    "#define GEMVB(O, R) GEMVB_T(O, R, b, float)\n"
    "GEMVB(1, 1)\nGEMVB(2, 1)\nGEMVB(4, 1)\nGEMVB(8, 1)\nGEMVB(1, 2)\nGEMVB(2, 2)\nGEMVB(4, 2)\nGEMVB(8, 2)\n"
    "GEMVB(1, 4)\nGEMVB(2, 4)\nGEMVB(4, 4)\nGEMVB(8, 4)\nGEMVB(1, 8)\nGEMVB(2, 8)\nGEMVB(4, 8)\nGEMVB(8, 8)\n"
    "/* a half x, one or two rows (decode's half activations: o_proj's and down_proj's x) */\n"
    "GEMVB_T(1, 1, bh, __half)\nGEMVB_T(2, 1, bh, __half)\nGEMVB_T(4, 1, bh, __half)\nGEMVB_T(8, 1, bh, __half)\n"
    "GEMVB_T(1, 2, bh, __half)\nGEMVB_T(2, 2, bh, __half)\nGEMVB_T(4, 2, bh, __half)\nGEMVB_T(8, 2, bh, __half)\n"
    "/* the fused ones (n: RMSNorm, s: silu * up, ns: both; sh, nsh: y half), one or two rows (decode) */\n"
    "#define GEMVF(O, R, NAME, NORM, SILU, YT) extern \"C\" __global__ void __launch_bounds__(256) mlcc_gemv_f16##NAME##_##O##_##R(\\\n"
    "    const float *x, const __half *w, YT *y, const float *res, int N, int K, const float *gamma, const float *eps) {\\\n"
    "    gemv_block<O, R, NORM, SILU, float, YT>(x, w, y, res, N, K, gamma, eps); }\n"
    "#define GEMVFS(O, R) GEMVF(O, R, n, 1, 0, float) GEMVF(O, R, s, 0, 1, float) GEMVF(O, R, ns, 1, 1, float) \\\n"
    "    GEMVF(O, R, sh, 0, 1, __half) GEMVF(O, R, nsh, 1, 1, __half)\n"
    "GEMVF(1, 1, n, 1, 0, float)\nGEMVF(1, 2, n, 1, 0, float)\nGEMVFS(2, 1)\nGEMVFS(4, 1)\nGEMVFS(8, 1)\nGEMVFS(2, 2)\nGEMVFS(4, 2)\nGEMVFS(8, 2)\n"
    "/* The fusions as kernels of their own, for the paths a GEMV block does not take (3 or more\n"
    " * rows: cuBLASLt; shapes without 16-byte loads). y (float32, or float16 when half) =\n"
    " * nn.rms_norm(x, gamma, eps), a block per row; vec (K % 4 == 0, 16-byte aligned x, gamma and\n"
    " * y): float4 loads, unrolled so that a thread's loads are in flight together (the scalar loop\n"
    " * waited on each: ~10 us a row of 4096). */\n"
    "extern \"C\" __global__ void __launch_bounds__(256) mlcc_norm_rows(const float *x, const float *gamma,\n"
    "                                                                   const float *eps, void *y, int K, int half,\n"
    "                                                                   int vec) {\n"
    "    __shared__ float part[8];\n"
    "    mlcc_pdl_begin(0, 0);\n"
    "    const float *xr = x + (long long)blockIdx.x * K;\n"
    "    const long long base = (long long)blockIdx.x * K;\n"
    "    float s = 0.f;\n"
    "    if (vec) {\n"
    "#pragma unroll 4\n"
    "        for (int c = threadIdx.x; c < K / 4; c += blockDim.x) {\n"
    "            float4 v = __ldg(reinterpret_cast<const float4 *>(xr) + c);\n"
    "            s += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;\n"
    "        }\n"
    "    } else {\n"
    "#pragma unroll 4\n"
    "        for (int k = threadIdx.x; k < K; k += blockDim.x) s += xr[k] * xr[k];\n"
    "    }\n"
    "    for (int d = 16; d > 0; d >>= 1) s += __shfl_xor_sync(0xffffffffu, s, d);\n"
    "    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = s;\n"
    "    __syncthreads();\n"
    "    s = 0.f;\n"
    "    for (int i = 0; i < (int)(blockDim.x >> 5); i++) s += part[i];\n"
    "    const float scale = 1.f / sqrtf(s / (float)K + *eps);\n"
    "    if (vec) {\n"
    "#pragma unroll 4\n"
    "        for (int c = threadIdx.x; c < K / 4; c += blockDim.x) {\n"
    "            float4 v = __ldg(reinterpret_cast<const float4 *>(xr) + c), g = __ldg(reinterpret_cast<const float4 *>(gamma) + c);\n"
    "            v = make_float4(v.x * scale * g.x, v.y * scale * g.y, v.z * scale * g.z, v.w * scale * g.w);\n"
    "            if (half) {\n"
    "                __half2 h[2] = {__floats2half2_rn(v.x, v.y), __floats2half2_rn(v.z, v.w)};\n"
    "                reinterpret_cast<uint2 *>((__half *)y + base)[c] = *reinterpret_cast<uint2 *>(h);\n"
    "            } else {\n"
    "                reinterpret_cast<float4 *>((float *)y + base)[c] = v;\n"
    "            }\n"
    "        }\n"
    "        return;\n"
    "    }\n"
    "#pragma unroll 4\n"
    "    for (int k = threadIdx.x; k < K; k += blockDim.x) {\n"
    "        float v = xr[k] * scale * gamma[k];\n"
    "        if (half) ((__half *)y)[base + k] = __float2half_rn(v);\n"
    "        else ((float *)y)[base + k] = v;\n"
    "    }\n"
    "}\n"
    "/* y [rows, K] = silu(x[:, :K]) * x[:, K:], x [rows, 2K]: blocks over K (x) and rows (y); x_half,\n"
    " * y_half: x (cuBLASLt's gate_up output) and y (the next projection's x) hold half values */\n"
    "extern \"C\" __global__ void __launch_bounds__(256) mlcc_silu_mul(const void *x, void *y, int K, int rows, int x_half,\n"
    "                                                                  int y_half) {\n"
    "    mlcc_pdl_begin(0, 0);\n"
    "    for (int r = blockIdx.y; r < rows; r += gridDim.y)\n"
    "        for (int k = blockIdx.x * blockDim.x + threadIdx.x; k < K; k += gridDim.x * blockDim.x) {\n"
    "            const long long g = 2LL * r * K + k, i = (long long)r * K + k;\n"
    "            const float gate = x_half ? __half2float(((const __half *)x)[g]) : ((const float *)x)[g];\n"
    "            const float up = x_half ? __half2float(((const __half *)x)[g + K]) : ((const float *)x)[g + K];\n"
    "            const float v = mlcc_silu(gate) * up;\n"
    "            if (y_half) ((__half *)y)[i] = __float2half_rn(v);\n"
    "            else ((float *)y)[i] = v;\n"
    "        }\n"
    "}\n"
    "extern \"C\" __global__ void __launch_bounds__(256) mlcc_f32_to_f16(const float *x, __half *y, long long n) {\n"
    "    mlcc_pdl_begin(0, 0);\n"
    "    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)\n"
    "        y[i] = __float2half_rn(x[i]);\n"
    "}\n"
    "/* x widened to float32 (a float16 x on the GEMV path: prefill's half activations, 1-2 rows) */\n"
    "extern \"C\" __global__ void __launch_bounds__(256) mlcc_f16_to_f32(const __half *x, float *y, long long n) {\n"
    "    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)\n"
    "        y[i] = __half2float(x[i]);\n"
    "}\n"
    "/* y += r (the residual of linear_f16_add after a GEMV) */\n"
    "extern \"C\" __global__ void __launch_bounds__(256) mlcc_add_f32(float *y, const float *r, long long n) {\n"
    "    mlcc_pdl_begin(0, 0);\n"
    "    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)\n"
    "        y[i] += r[i];\n"
    "}\n"
    "/* the same for n % 8 == 0 and 16-byte aligned x: two float4 loads, one 16-byte store */\n"
    "extern \"C\" __global__ void __launch_bounds__(256) mlcc_f32_to_f16_v8(const float4 *x, uint4 *y, long long n8) {\n"
    "    mlcc_pdl_begin(0, 0);\n"
    "    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n8; i += (long long)gridDim.x * blockDim.x) {\n"
    "        float4 a = __ldg(x + 2 * i), b = __ldg(x + 2 * i + 1);\n"
    "        __half2 h[4] = {__floats2half2_rn(a.x, a.y), __floats2half2_rn(a.z, a.w), __floats2half2_rn(b.x, b.y),\n"
    "                        __floats2half2_rn(b.z, b.w)};\n"
    "        y[i] = *reinterpret_cast<uint4 *>(h);\n"
    "    }\n"
    "}\n";

const char *mlcc_cuda_linear_kernel_source(void) {
    return kernel_source;
}

/* ---- cuBLASLt through dlopen ---- */

typedef int cublasStatus;
typedef void *cublasLtHandle;
typedef void *cublasLtMatmulDesc;
typedef void *cublasLtMatrixLayout;
typedef void *cublasLtMatmulPreference;
typedef struct { uint64_t data[8]; } cublasLtMatmulAlgo;
typedef struct {
    cublasLtMatmulAlgo algo;
    size_t workspace_size;
    cublasStatus state;
    float waves;
    int reserved[4];
} cublasLtHeuristicResult;

enum { /* values of cublasLt.h, cublas_api.h and library_types.h (CUDA 12 and 13) */
    CUDA_R_32F = 0, CUDA_R_16F = 2, CUBLAS_COMPUTE_32F = 68, CUBLAS_OP_N = 0, CUBLAS_OP_T = 1,
    DESC_TRANSA = 3, DESC_TRANSB = 4, PREF_MAX_WORKSPACE_BYTES = 1, PREF_MIN_ALIGNMENT_C = 7, PREF_MIN_ALIGNMENT_D = 8,
};

typedef struct blaslt_api {
    void *handle;
    char path[512];
    size_t version;
    size_t (*GetVersion)(void);
    cublasStatus (*Create)(cublasLtHandle *h);
    cublasStatus (*MatmulDescCreate)(cublasLtMatmulDesc *d, int compute, int scale_type);
    cublasStatus (*MatmulDescSetAttribute)(cublasLtMatmulDesc d, int attr, const void *buf, size_t n);
    cublasStatus (*MatrixLayoutCreate)(cublasLtMatrixLayout *l, int type, uint64_t rows, uint64_t cols, int64_t ld);
    cublasStatus (*MatmulPreferenceCreate)(cublasLtMatmulPreference *p);
    cublasStatus (*MatmulPreferenceSetAttribute)(cublasLtMatmulPreference p, int attr, const void *buf, size_t n);
    cublasStatus (*MatmulPreferenceDestroy)(cublasLtMatmulPreference p);
    cublasStatus (*MatmulAlgoGetHeuristic)(cublasLtHandle h, cublasLtMatmulDesc d, cublasLtMatrixLayout a,
                                           cublasLtMatrixLayout b, cublasLtMatrixLayout c, cublasLtMatrixLayout dd,
                                           cublasLtMatmulPreference p, int want, cublasLtHeuristicResult *res, int *got);
    cublasStatus (*Matmul)(cublasLtHandle h, cublasLtMatmulDesc d, const void *alpha, const void *a, cublasLtMatrixLayout al,
                           const void *b, cublasLtMatrixLayout bl, const void *beta, const void *c, cublasLtMatrixLayout cl,
                           void *dd, cublasLtMatrixLayout dl, const cublasLtMatmulAlgo *algo, void *ws, size_t ws_size,
                           void *stream);
} blaslt_api;

static blaslt_api blaslt;
static const blaslt_api *blaslt_ok;
static char blaslt_line[1024];

#define LOAD_SYM(field, sym)                                                                      \
    do {                                                                                          \
        *(void **)&blaslt.field = dlsym(blaslt.handle, sym);                                      \
        if (!blaslt.field && !missing) missing = sym;                                             \
    } while (0)

static void open_blaslt(void) {
    static const char *names[] = {"libcublasLt.so.13", "libcublasLt.so.12", NULL};
    char tried[256] = "";
    const char *override = getenv("MLCC_CUBLASLT");
    if (override && *override) { /* exactly this library, or none (no silent fallback) */
        blaslt.handle = dlopen(override, RTLD_NOW | RTLD_LOCAL);
        if (!blaslt.handle) {
            snprintf(blaslt_line, sizeof blaslt_line, "cuBLASLt not opened: MLCC_CUBLASLT=%s (%s): large matmuls use the GEMV kernel",
                     override, dlerror());
            return;
        }
    }
    for (int i = 0; !blaslt.handle && names[i]; i++) blaslt.handle = mlcc_cuda_open_versioned(names[i], tried, sizeof tried);
    if (!blaslt.handle) {
        snprintf(blaslt_line, sizeof blaslt_line,
                 "cuBLASLt not found (tried %s under $CUDA_HOME, /usr/local/cuda and the loader path): "
                 "large matmuls use the GEMV kernel", tried);
        return;
    }
    const char *missing = NULL;
    LOAD_SYM(GetVersion, "cublasLtGetVersion");
    LOAD_SYM(Create, "cublasLtCreate");
    LOAD_SYM(MatmulDescCreate, "cublasLtMatmulDescCreate");
    LOAD_SYM(MatmulDescSetAttribute, "cublasLtMatmulDescSetAttribute");
    LOAD_SYM(MatrixLayoutCreate, "cublasLtMatrixLayoutCreate");
    LOAD_SYM(MatmulPreferenceCreate, "cublasLtMatmulPreferenceCreate");
    LOAD_SYM(MatmulPreferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute");
    LOAD_SYM(MatmulPreferenceDestroy, "cublasLtMatmulPreferenceDestroy");
    LOAD_SYM(MatmulAlgoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic");
    LOAD_SYM(Matmul, "cublasLtMatmul");
    Dl_info info;
    if (blaslt.GetVersion && dladdr((void *)blaslt.GetVersion, &info) && info.dli_fname)
        snprintf(blaslt.path, sizeof blaslt.path, "%s", info.dli_fname);
    if (missing) {
        snprintf(blaslt_line, sizeof blaslt_line, "cuBLASLt at %s lacks %s", blaslt.path, missing);
        return;
    }
    blaslt.version = blaslt.GetVersion();
    snprintf(blaslt_line, sizeof blaslt_line, "cuBLASLt %zu (%s)", blaslt.version, blaslt.path);
    blaslt_ok = &blaslt;
}

static const blaslt_api *blaslt_get(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, open_blaslt);
    return blaslt_ok;
}

const char *mlcc_cublaslt_status(void) {
    blaslt_get();
    return blaslt_line;
}

/* ---- per-device state ---- */

/* MAX_PLANS: a plan per (rows, out, in), and continuous batching visits many row counts */
enum { MAX_PLANS = 256, MAX_DEVICES = 16, WORKSPACE_BYTES = 32 << 20, Y_ALIGN = 64, W_ALIGN = 256 };

enum { MAX_ALGOS = 8 }; /* candidates the heuristic offers, timed once per large shape */

typedef struct plan {
    int64_t rows, out, in;
    int y_half; /* y (and C) float16: prefill's half activations (transform/half_activations.c) */
    int residual; /* called with a residual (beta = 1, C = r): timed that way, so a plan of its own */
    cublasLtMatmulDesc desc;
    cublasLtMatrixLayout a, b, c;
    cublasLtMatmulAlgo algo; /* the one in use: the heuristic's first, or the fastest timed */
    cublasLtMatmulAlgo candidates[MAX_ALGOS];
    int ncandidates;
    int tuned; /* the candidates were timed (or there was nothing to time) */
    int ok;    /* 0: cuBLASLt has no algorithm for it, use the GEMV */
} plan;

typedef struct linear_device {
    int ready;
    mlcc_cuda_module *module;
    void *gemv[5]; /* rows 1, 2, 4, 8, 16 */
    void *block[4][4]; /* the block GEMV: [log2 outputs per block][log2 rows of x] */
    void *block_hx[4][2]; /* the same with a half x, one or two rows */
    void *fused[3][4][2]; /* the fused block GEMVs: [norm, silu, both][log2 outputs][log2 rows] */
    void *fused_hy[3][4][2]; /* the silu ones ([1], [2]) with a half y */
    void *norm_rows, *silu_mul; /* the fusions as kernels of their own (3 or more rows) */
    void *to_f16, *to_f16_v8, *to_f32, *add;
    cublasLtHandle lt;
    void *workspace;
    plan plans[MAX_PLANS];
    int nplans;
} linear_device;

static linear_device devices[MAX_DEVICES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int device_ready(int id, linear_device **out) {
    if (id < 0 || id >= MAX_DEVICES) return mlcc_set_error("mlcc.cuda.linear_f16: device %d out of range", id);
    linear_device *d = &devices[id];
    *out = d;
    if (d->ready) return 0;
    d->module = mlcc_cuda_module_load_source(id, kernel_source);
    if (!d->module) return mlcc_prefix_error("mlcc.cuda.linear_f16 kernels");
    static const char *const names[] = {"mlcc_gemv_f16w_1", "mlcc_gemv_f16w_2", "mlcc_gemv_f16w_4", "mlcc_gemv_f16w_8",
                                        "mlcc_gemv_f16w_16"};
    for (int i = 0; i < 5; i++)
        if (!(d->gemv[i] = mlcc_cuda_module_kernel(d->module, names[i]))) return -1;
    if (!(d->to_f16 = mlcc_cuda_module_kernel(d->module, "mlcc_f32_to_f16"))) return -1;
    if (!(d->to_f16_v8 = mlcc_cuda_module_kernel(d->module, "mlcc_f32_to_f16_v8"))) return -1;
    if (!(d->add = mlcc_cuda_module_kernel(d->module, "mlcc_add_f32"))) return -1;
    if (!(d->to_f32 = mlcc_cuda_module_kernel(d->module, "mlcc_f16_to_f32"))) return -1;
    for (int o = 0; o < 4; o++)
        for (int r = 0; r < 4; r++) {
            char name[64];
            snprintf(name, sizeof name, "mlcc_gemv_f16b_%d_%d", 1 << o, 1 << r);
            if (!(d->block[o][r] = mlcc_cuda_module_kernel(d->module, name))) return -1;
            if (r < 2) {
                snprintf(name, sizeof name, "mlcc_gemv_f16bh_%d_%d", 1 << o, 1 << r);
                if (!(d->block_hx[o][r] = mlcc_cuda_module_kernel(d->module, name))) return -1;
            }
            static const char *const fusions[3] = {"n", "s", "ns"};
            for (int f = 0; f < 3 && r < 2; f++) {
                if (o == 0 && f > 0) continue; /* silu * up takes a gate and an up row at least */
                snprintf(name, sizeof name, "mlcc_gemv_f16%s_%d_%d", fusions[f], 1 << o, 1 << r);
                if (!(d->fused[f][o][r] = mlcc_cuda_module_kernel(d->module, name))) return -1;
                if (f == 0) continue;
                snprintf(name, sizeof name, "mlcc_gemv_f16%sh_%d_%d", fusions[f], 1 << o, 1 << r);
                if (!(d->fused_hy[f][o][r] = mlcc_cuda_module_kernel(d->module, name))) return -1;
            }
        }
    if (!(d->norm_rows = mlcc_cuda_module_kernel(d->module, "mlcc_norm_rows"))) return -1;
    if (!(d->silu_mul = mlcc_cuda_module_kernel(d->module, "mlcc_silu_mul"))) return -1;
    const blaslt_api *lt = blaslt_get();
    LOG_INFO("cuda linear_f16: %s", blaslt_line);
    if (lt && lt->Create(&d->lt) != 0) d->lt = NULL;
    d->ready = 1;
    return 0;
}

/* ---- the GEMV ---- */

static int gemv_rows_limit(void) {
    const char *v = getenv("MLCC_CUDA_GEMV_ROWS");
    int n = v && *v ? atoi(v) : 2;
    return n < 0 ? 0 : n;
}

/* MLCC_CUDA_GEMV_BLOCK=0 keeps the warp-per-output GEMV (for comparison). */
static int use_block_gemv(void) {
    const char *v = getenv("MLCC_CUDA_GEMV_BLOCK"); /* read per call: tests switch it */
    return !(v && strcmp(v, "0") == 0);
}

/* MLCC_CUDA_GEMV_THREADS: the most threads a block GEMV block has (32-256; for measurements).
 * 256 measured best on the H100 at batch 1 (ncu, Llama-3-8B shapes: o_proj and down, the
 * 512-block GEMVs, averaged 28.9 us a call against 31.7 at 128 threads and 42.5 at 64). */
static int64_t gemv_max_threads(void) {
    const char *v = getenv("MLCC_CUDA_GEMV_THREADS");
    int n = v && *v ? atoi(v) : 256;
    return n >= 32 && n <= 256 ? n / 32 * 32 : 256;
}

/* The block GEMV over rows of x in passes of up to 8: two outputs a block (one below 528
 * outputs), threads as few warps as cover a row's 16-byte chunks in the fewest rounds.
 * Measured on the H100 (2026-11-26, one row): the warp-per-output GEMV moved 2.0 TB/s on
 * 4096 x 4096 and 0.8 TB/s on 1024 x 4096 (too few warps per SM to keep loads in flight);
 * BENCHMARKS.md has the block GEMV's figures. Two outputs a block against eight (ncu, one
 * kernel at a time, Llama-3-8B shape, 2026-11-26, eleventh session): qkv 19.1 against 21.5 us,
 * o_proj + down 55.5 against 57.4, gate_up 76.6 against 79.0, lm_head 332 against 337; one
 * output a block, or 128 threads, was slower than two. (More, shorter blocks: the last wave's
 * tail is shorter.) */
static int run_block_gemv(int id, linear_device *d, const void *x, int x_half, const uint16_t *w, const float *res, void *y,
                          int y_half, int64_t rows, int64_t out, int64_t in, const mlcc_linear_fusion *f) {
    int n = (int)out, k = (int)in;
    int lo = mlcc_gemv_outputs_log2(out, 2);
    int kind = !f ? -1 : f->gamma && f->silu_mul ? 2 : f->silu_mul ? 1 : 0; /* fused[kind] */
    if (kind >= 1 && lo == 0) lo = 1; /* a gate row and its up row */
    int64_t max_threads = gemv_max_threads();
    int64_t chunks = in / 8, rounds = (chunks + max_threads - 1) / max_threads;
    int64_t threads = ((chunks + rounds - 1) / rounds + 31) / 32 * 32;
    int64_t y_cols = kind >= 1 ? out / 2 : out, per_block = kind >= 1 ? 1 << (lo - 1) : 1 << lo;
    uint32_t grid[3] = {(uint32_t)((y_cols + per_block - 1) / per_block), 1, 1}, block[3] = {(uint32_t)threads, 1, 1};
    const float *gamma = f ? f->gamma : NULL, *eps = f ? f->eps : NULL;
    for (int64_t r = 0; r < rows;) {
        int64_t left = rows - r;
        int lr = left >= 8 && !f && !x_half ? 3 : left >= 4 && !f && !x_half ? 2 : left >= 2 ? 1 : 0;
        const void *xr = (const char *)x + r * in * (x_half ? 2 : 4);
        void *yr = (char *)y + r * y_cols * (y_half ? 2 : 4);
        const float *rr = res ? res + r * out : NULL;
        void *args[] = {&xr, &w, &yr, &rr, &n, &k, &gamma, &eps};
        void *kernel = d->block[lo][lr];
        if (f) kernel = y_half ? d->fused_hy[kind][lo][lr] : d->fused[kind][lo][lr];
        else if (x_half) kernel = d->block_hx[lo][lr];
        if (mlcc_cuda_launch(id, kernel, grid, block, 0, args)) return -1;
        r += 1 << lr;
    }
    return 0;
}

/* y = x w^T (+ res when res is not NULL, in the kernels' stores) */
static int run_gemv(int id, linear_device *d, const float *x, const uint16_t *w, const float *res, float *y, int64_t rows,
                    int64_t out, int64_t in) {
    int vec = in % 8 == 0 && ((uintptr_t)x | (uintptr_t)w) % 16 == 0;
    if (vec && use_block_gemv()) return run_block_gemv(id, d, x, 0, w, res, y, 0, rows, out, in, NULL);
    int n = (int)out, k = (int)in;
    uint32_t grid[3] = {(uint32_t)((out + 7) / 8), 1, 1}, block[3] = {256, 1, 1};
    for (int64_t r = 0; r < rows;) {
        int64_t left = rows - r;
        int pick = left >= 16 ? 4 : left >= 8 ? 3 : left >= 4 ? 2 : left >= 2 ? 1 : 0, take = 1 << pick;
        const float *xr = x + r * in;
        float *yr = y + r * out;
        const float *rr = res ? res + r * out : NULL;
        void *args[] = {&xr, &w, &yr, &rr, &n, &k, &vec};
        if (mlcc_cuda_launch(id, d->gemv[pick], grid, block, 0, args)) return -1;
        r += take;
    }
    return 0;
}

/* ---- cuBLASLt ---- */

/* MLCC_CUDA_LT_TUNE: the row count from which a shape's candidate algorithms are timed once
 * (default 256: prefill; 0 turns it off), by default for row counts that are multiples of 128
 * (whole prefill chunks, the benchmark's prompts; set explicitly, every row count from it, as
 * bench/bench_cuda_skinny.c's lt mode does for decode shapes): the timing costs ~30 runs of the matmul (10 ms for
 * 2048 x 14336 x 4096), which a server seeing every prompt length would pay per length. Other
 * shapes keep the heuristic's first choice, so a decode step (whose batch sizes come and go)
 * never pays it, nor a graph capture. Measured gains are small (BENCHMARKS.md: 1-3% on the
 * Llama-3-8B prefill shapes; decode shapes timed with W out of L2 gain ~1 us). */
static int64_t tune_min_rows(void) {
    const char *v = getenv("MLCC_CUDA_LT_TUNE");
    if (!v || !*v) return 256;
    long long n = atoll(v);
    return n <= 0 ? INT64_MAX : n;
}

static plan *find_plan(linear_device *d, int64_t rows, int64_t out, int64_t in, int y_half, int residual) {
    for (int i = 0; i < d->nplans; i++)
        if (d->plans[i].rows == rows && d->plans[i].out == out && d->plans[i].in == in && d->plans[i].y_half == y_half &&
            d->plans[i].residual == residual)
            return &d->plans[i];
    const blaslt_api *lt = blaslt_ok;
    plan *p = d->nplans < MAX_PLANS ? &d->plans[d->nplans++] : &d->plans[rows % MAX_PLANS]; /* full: reuse a slot */
    memset(p, 0, sizeof *p); /* (descriptors of a reused slot leak; at most a few hundred bytes) */
    p->rows = rows, p->out = out, p->in = in, p->y_half = y_half, p->residual = residual;
    /* column-major view: y^T [out, rows] = (W as [in, out])^T . x16^T [in, rows] */
    int ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    uint32_t y_align = Y_ALIGN; /* what the memory planner guarantees for y (A and B: whole blocks, 256) */
    size_t ws = WORKSPACE_BYTES;
    cublasLtMatmulPreference pref = NULL;
    if (lt->MatmulDescCreate(&p->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F) ||
        lt->MatmulDescSetAttribute(p->desc, DESC_TRANSA, &ta, sizeof ta) ||
        lt->MatmulDescSetAttribute(p->desc, DESC_TRANSB, &tb, sizeof tb) ||
        lt->MatrixLayoutCreate(&p->a, CUDA_R_16F, (uint64_t)in, (uint64_t)out, in) ||
        lt->MatrixLayoutCreate(&p->b, CUDA_R_16F, (uint64_t)in, (uint64_t)rows, in) ||
        lt->MatrixLayoutCreate(&p->c, y_half ? CUDA_R_16F : CUDA_R_32F, (uint64_t)out, (uint64_t)rows, out) ||
        lt->MatmulPreferenceCreate(&pref) ||
        lt->MatmulPreferenceSetAttribute(pref, PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws) ||
        lt->MatmulPreferenceSetAttribute(pref, PREF_MIN_ALIGNMENT_C, &y_align, sizeof y_align) ||
        lt->MatmulPreferenceSetAttribute(pref, PREF_MIN_ALIGNMENT_D, &y_align, sizeof y_align))
        return p;
    cublasLtHeuristicResult res[MAX_ALGOS];
    const char *tune = getenv("MLCC_CUDA_LT_TUNE"); /* set: every row count from it (to measure decode shapes) */
    int whole = rows % 128 == 0 || (tune && *tune);
    int got = 0, want = rows >= tune_min_rows() && whole ? MAX_ALGOS : 1;
    if (lt->MatmulAlgoGetHeuristic(d->lt, p->desc, p->a, p->b, p->c, p->c, pref, want, res, &got) == 0)
        for (int i = 0; i < got; i++)
            if (res[i].state == 0) p->candidates[p->ncandidates++] = res[i].algo;
    if (p->ncandidates > 0) p->algo = p->candidates[0], p->ok = 1;
    p->tuned = p->ncandidates < 2;
    lt->MatmulPreferenceDestroy(pref);
    if (!p->ok) LOG_WARN("cuBLASLt has no f16 matmul for %lld x %lld x %lld%s: using the GEMV", (long long)rows,
                         (long long)out, (long long)in, y_half ? " (float16 out)" : "");
    return p;
}

/* y = x16 @ w^T, plus r when r is not NULL (beta = 1: the residual read in cuBLASLt's epilogue) */
static int matmul_add(linear_device *d, plan *p, const cublasLtMatmulAlgo *algo, const void *x16, const uint16_t *w,
                      const void *r, void *y, void *stream) {
    float alpha = 1.0f, beta = r ? 1.0f : 0.0f;
    mlcc_cuda_note_stream_work();
    return blaslt_ok->Matmul(d->lt, p->desc, &alpha, w, p->a, x16, p->b, &beta, r ? r : y, p->c, y, p->c, algo, d->workspace,
                             WORKSPACE_BYTES, stream);
}

/* MLCC_CUDA_LT_TUNE_RESIDUAL=0 times a residual plan's candidates without the residual (beta = 0),
 * as before 2026-11-26's seventh session; read per plan. */
static int tune_residual(void) {
    const char *v = getenv("MLCC_CUDA_LT_TUNE_RESIDUAL");
    return !(v && strcmp(v, "0") == 0);
}

/* Times the heuristic's candidates on this call's operands, the residual epilogue included when
 * the call has one (a plan with beta = 1 is its own: prefill's o_proj, 4096 x 4096 at 2048 rows,
 * ran at 380-490 us a call, 4x its beta = 0 time, with the pick timed without the residual; H100,
 * 2026-11-26, MLCC_CUDA_PROFILE) (a warm-up, then TUNE_REPS runs,
 * each after overwriting L2_FLUSH bytes so W comes from memory as it does in a model, where a
 * step streams every weight once: timed with W in the L2 cache, decode shapes picked algorithms
 * that were slower in the model) and keeps the fastest: the heuristic's first pick is not
 * always the best for the model's shapes (BENCHMARKS.md). Done once per plan, outside graph
 * captures; y is written again by the call afterwards. */
enum { TUNE_REPS = 3 };
#define L2_FLUSH ((size_t)64 << 20) /* more than the H100's and H200's 50 MB L2 */
static void tune_plan(int id, linear_device *d, plan *p, const void *x16, const uint16_t *w, const void *r, void *y) {
    p->tuned = 1;
    const mlcc_cuda_driver *cu = mlcc_cuda_driver_api();
    void *stream = mlcc_cuda_get_stream(id);
    CUevent start = NULL, stop = NULL;
    void *flush = mlcc_cuda_hooks()->alloc(id, L2_FLUSH);
    if (!flush) { /* not worth failing the call for: the heuristic's pick stays */
        mlcc_clear_error();
        return;
    }
    if (cu->cuEventCreate(&start, 0) || cu->cuEventCreate(&stop, 0)) goto done;
    float best = 0, first = 0;
    int pick = 0;
    for (int i = 0; i < p->ncandidates; i++) {
        int bad = matmul_add(d, p, &p->candidates[i], x16, w, r, y, stream) != 0;
        float sum = 0;
        for (int rep = 0; rep < TUNE_REPS && !bad; rep++) {
            float ms = 0;
            bad = cu->cuMemsetD8Async((CUdeviceptr)(uintptr_t)flush, (unsigned char)rep, L2_FLUSH, stream) ||
                  cu->cuEventRecord(start, stream) || matmul_add(d, p, &p->candidates[i], x16, w, r, y, stream) ||
                  cu->cuEventRecord(stop, stream) || cu->cuEventSynchronize(stop) || cu->cuEventElapsedTime(&ms, start, stop);
            sum += ms;
        }
        if (bad) continue; /* a candidate that fails is never picked */
        if (i == 0) first = sum;
        if (best == 0 || sum < best) best = sum, pick = i;
    }
    p->algo = p->candidates[pick];
    LOG_INFO("cuBLASLt %lld x %lld x %lld%s: candidate %d of %d, %.1f us (the heuristic's first: %.1f us)", (long long)p->rows,
             (long long)p->out, (long long)p->in, r ? " + r" : "", pick, p->ncandidates, 1e3 * best / TUNE_REPS,
             1e3 * first / TUNE_REPS);
done:
    if (start) cu->cuEventDestroy(start);
    if (stop) cu->cuEventDestroy(stop);
    mlcc_cuda_hooks()->free(id, flush);
}

static int round_to_f16(int id, linear_device *d, const float *x, void *x16, int64_t n) {
    long long count = n;
    if (n % 8 == 0 && (uintptr_t)x % 16 == 0 && (uintptr_t)x16 % 16 == 0) {
        long long n8 = n / 8;
        uint32_t grid[3] = {(uint32_t)(n8 / 256 < 8192 ? n8 / 256 + 1 : 8192), 1, 1}, block[3] = {256, 1, 1};
        void *args[] = {&x, &x16, &n8};
        return mlcc_cuda_launch(id, d->to_f16_v8, grid, block, 0, args);
    }
    uint32_t grid[3] = {(uint32_t)(n / 256 < 4096 ? n / 256 + 1 : 4096), 1, 1}, block[3] = {256, 1, 1};
    void *args[] = {&x, &x16, &count};
    return mlcc_cuda_launch(id, d->to_f16, grid, block, 0, args);
}

int mlcc_cuda_f32_to_f16(int device_id, const float *x, void *y, int64_t n) {
    if (n <= 0) return 0;
    pthread_mutex_lock(&lock);
    linear_device *d = NULL;
    int rc = device_ready(device_id, &d);
    pthread_mutex_unlock(&lock);
    if (rc == 0) rc = round_to_f16(device_id, d, x, y, n);
    return rc ? mlcc_prefix_error("cuda float32 -> float16") : 0;
}

static int run_convert(int id, void *kernel, const void *x, void *y, int64_t n) {
    long long count = n;
    uint32_t grid[3] = {(uint32_t)(n / 256 < 4096 ? n / 256 + 1 : 4096), 1, 1}, block[3] = {256, 1, 1};
    void *args[] = {&x, &y, &count};
    return mlcc_cuda_launch(id, kernel, grid, block, 0, args);
}

int mlcc_cuda_f16_to_f32(int device_id, const void *x, float *y, int64_t n) {
    if (n <= 0) return 0;
    pthread_mutex_lock(&lock);
    linear_device *d = NULL;
    int rc = device_ready(device_id, &d);
    pthread_mutex_unlock(&lock);
    if (rc == 0) rc = run_convert(device_id, d->to_f32, x, y, n);
    return rc ? mlcc_prefix_error("cuda float16 -> float32") : 0;
}

/* y = r in y's dtype (a copy, or r widened or rounded): cuBLASLt then adds the product onto y in
 * place (C = D), for a residual whose dtype is not y's (the first residual add of a prefill whose
 * residual stream is float16 reads the float32 embeddings) or one not aligned for its epilogue */
static int seed_with_residual(int id, linear_device *d, void *y, int y_half, const void *r, int r_half, int64_t n) {
    if (r_half == y_half) {
        mlcc_cuda_note_stream_work();
        CUresult e = mlcc_cuda_driver_api()->cuMemcpyDtoDAsync((CUdeviceptr)(uintptr_t)y, (CUdeviceptr)(uintptr_t)r,
                                                                (size_t)n * (y_half ? 2 : 4), mlcc_cuda_get_stream(id));
        return e ? mlcc_cuda_fail("cuMemcpyDtoDAsync", e) : 0;
    }
    return y_half ? round_to_f16(id, d, (const float *)r, y, n) : run_convert(id, d->to_f32, r, y, n);
}

/* x_half: x is float16 already (no rounding, no workspace); y (and r, cuBLASLt's C) is float16
 * when the plan says. seed, when not NULL, is the residual to copy into y first (r is then y):
 * after the candidates' timing, which writes y. */
static int run_blaslt(int id, linear_device *d, plan *p, const void *x, int x_half, const uint16_t *w, const void *r,
                      const void *seed, int seed_half, void *y) {
    if (!d->workspace && !(d->workspace = mlcc_cuda_hooks()->alloc(id, WORKSPACE_BYTES)))
        return mlcc_prefix_error("mlcc.cuda.linear_f16: cuBLASLt workspace");
    int64_t n = p->rows * p->in;
    void *x16 = x_half ? (void *)x : mlcc_cuda_hooks()->alloc(id, (size_t)n * 2);
    if (!x16) return mlcc_prefix_error("mlcc.cuda.linear_f16: workspace of %lld halves", (long long)n);
    /* profiled apart: the rounding, then the matmul (the timing of candidates in neither) */
    char name[96];
    double t0 = !x_half && mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(id) : 0;
    int rc = x_half ? 0 : round_to_f16(id, d, x, x16, n);
    if (t0 > 0) {
        snprintf(name, sizeof name, "linear_f16: x rounded to half, rows %lld x %lld", (long long)p->rows, (long long)p->in);
        mlcc_cuda_profile_end(id, mlcc_intern(name), t0);
    }
    if (rc == 0 && !p->tuned && !mlcc_cuda_capturing(id)) tune_plan(id, d, p, x16, w, tune_residual() ? r : NULL, y);
    if (rc == 0 && seed) {
        t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(id) : 0;
        rc = seed_with_residual(id, d, y, p->y_half, seed, seed_half, p->rows * p->out);
        if (t0 > 0) {
            snprintf(name, sizeof name, "linear_f16_add: r copied into y, rows %lld x %lld", (long long)p->rows,
                     (long long)p->out);
            mlcc_cuda_profile_end(id, mlcc_intern(name), t0);
        }
    }
    if (rc == 0) {
        t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(id) : 0;
        int st = matmul_add(d, p, &p->algo, x16, w, r, y, mlcc_cuda_get_stream(id));
        if (st) rc = mlcc_set_error("cublasLtMatmul (%lld x %lld x %lld): status %d", (long long)p->rows, (long long)p->out,
                                    (long long)p->in, st);
        if (t0 > 0) {
            snprintf(name, sizeof name, "linear_f16%s (cuBLASLt%s%s) rows %lld, %lld x %lld", r ? "_add" : "",
                     x_half ? ", x half" : "", p->y_half ? ", y half" : "", (long long)p->rows, (long long)p->out, (long long)p->in);
            mlcc_cuda_profile_end(id, mlcc_intern(name), t0);
        }
    }
    if (!x_half) mlcc_cuda_hooks()->free(id, x16); /* stream-ordered reuse: the allocator's blocks serve this stream */
    return rc;
}

/* 3..64 rows (batched decode) with MLCC_CUDA_SKINNY=1: the skinny tensor-core matmul
 * (cuda_skinny.c) on float32 x, or on x rounded to half here (MLCC_CUDA_SKINNY_XF32=0);
 * 1: it does not apply */
static int run_skinny(int id, linear_device *d, const void *x, int x_half, const uint16_t *w, const float *r, float *y,
                      int64_t rows, int64_t out, int64_t in) {
    if (x_half) return in % 8 ? 1 : mlcc_cuda_skinny_f16(id, x, 0, w, r, y, rows, out, in); /* prefill's half x */
    if (mlcc_cuda_skinny_x_f32()) return mlcc_cuda_skinny_f16(id, x, 1, w, r, y, rows, out, in);
    if (in % 8) return 1; /* the kernel's 16-byte pieces: not worth rounding x for */
    int64_t n = rows * in;
    void *x16 = mlcc_cuda_hooks()->alloc(id, (size_t)n * 2);
    if (!x16) return mlcc_prefix_error("mlcc.cuda.linear_f16: workspace of %lld halves", (long long)n);
    double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(id) : 0;
    int rc = round_to_f16(id, d, x, x16, n);
    if (t0 > 0) {
        char name[96];
        snprintf(name, sizeof name, "linear_f16: x rounded to half, rows %lld x %lld", (long long)rows, (long long)in);
        mlcc_cuda_profile_end(id, mlcc_intern(name), t0);
    }
    if (rc == 0) rc = mlcc_cuda_skinny_f16(id, x16, 0, w, r, y, rows, out, in);
    mlcc_cuda_hooks()->free(id, x16);
    return rc;
}

static int run_add(int id, linear_device *d, float *y, const float *r, int64_t n) {
    long long count = n;
    uint32_t grid[3] = {(uint32_t)(n / 256 < 4096 ? n / 256 + 1 : 4096), 1, 1}, block[3] = {256, 1, 1};
    void *args[] = {&y, &r, &count};
    return mlcc_cuda_launch(id, d->add, grid, block, 0, args);
}

int mlcc_cuda_linear_f16(int device_id, const float *x, const uint16_t *w, float *y, int64_t rows, int64_t out, int64_t in) {
    return mlcc_cuda_linear_f16_add(device_id, x, w, NULL, y, rows, out, in);
}

int mlcc_cuda_linear_f16_add(int device_id, const float *x, const uint16_t *w, const float *r, float *y, int64_t rows,
                             int64_t out, int64_t in) {
    return mlcc_cuda_linear_f16_mixed(device_id, x, 0, w, r, 0, y, 0, rows, out, in);
}

/* The GEMV path for float16 x, y or r (half activations at 1-2 rows, or without cuBLASLt): a
 * half x alone (decode's o_proj and down_proj at batch 1-2) goes to the block GEMV as it is;
 * otherwise x and r are widened into float32 workspaces and y rounded from one, rare enough
 * (a prompt of one or two tokens) that the extra kernels do not matter. */
static int run_gemv_mixed(int id, linear_device *d, const void *x, int x_half, const uint16_t *w, const void *r, int r_half,
                          void *y, int y_half, int64_t rows, int64_t out, int64_t in) {
    if (x_half && !r_half && !y_half && rows <= 2 && in % 8 == 0 && ((uintptr_t)x | (uintptr_t)w) % 16 == 0 &&
        use_block_gemv())
        return run_block_gemv(id, d, x, 1, w, r, y, 0, rows, out, in, NULL);
    float *x32 = x_half ? mlcc_cuda_hooks()->alloc(id, (size_t)(rows * in) * 4) : (float *)x;
    float *r32 = r && r_half ? mlcc_cuda_hooks()->alloc(id, (size_t)(rows * out) * 4) : (float *)r;
    float *y32 = y_half ? mlcc_cuda_hooks()->alloc(id, (size_t)(rows * out) * 4) : y;
    int rc = !x32 || (r && !r32) || !y32 ? mlcc_prefix_error("mlcc.cuda.linear_f16: float32 workspace") : 0;
    if (rc == 0 && x_half) rc = run_convert(id, d->to_f32, x, x32, rows * in);
    if (rc == 0 && r && r_half) rc = run_convert(id, d->to_f32, r, r32, rows * out);
    if (rc == 0) rc = run_gemv(id, d, x32, w, r32, y32, rows, out, in);
    if (rc == 0 && y_half) rc = run_convert(id, d->to_f16, y32, y, rows * out);
    if (x_half && x32) mlcc_cuda_hooks()->free(id, x32);
    if (r && r_half && r32) mlcc_cuda_hooks()->free(id, r32);
    if (y_half && y32) mlcc_cuda_hooks()->free(id, y32);
    return rc;
}

int mlcc_cuda_linear_f16_mixed(int device_id, const void *x, int x_half, const uint16_t *w, const void *r, int r_half,
                               void *y, int y_half, int64_t rows, int64_t out, int64_t in) {
    if (rows <= 0 || out <= 0 || in <= 0 || out > 0x7fffffff || in > 0x7fffffff)
        return mlcc_set_error("mlcc.cuda.linear_f16: bad shape %lld x %lld x %lld", (long long)rows, (long long)out,
                              (long long)in);
    r_half = r && r_half;
    pthread_mutex_lock(&lock);
    linear_device *d = NULL;
    int rc = device_ready(device_id, &d);
    if (rc == 0) {
        /* a float16 x goes to cuBLASLt as B itself: the 256 bytes it assumes for A and B (the
         * rounded copy is a whole allocator block); the planner's tensors are whole blocks too */
        int aligned = (uintptr_t)y % Y_ALIGN == 0 && (uintptr_t)w % W_ALIGN == 0 && (!x_half || (uintptr_t)x % W_ALIGN == 0);
        /* cuBLASLt's C has D's dtype and y's alignment: a residual of the other dtype, or one
         * not aligned, is copied into y first and the matmul adds in place */
        int seed = r && (r_half != y_half || (uintptr_t)r % Y_ALIGN != 0);
        /* the skinny matmul (opt-in) reads and writes float32 */
        int skinny = rows > gemv_rows_limit() && rows <= mlcc_cuda_skinny_max_rows() && !y_half && !r_half
                         ? run_skinny(device_id, d, x, x_half, w, r, y, rows, out, in)
                         : 1;
        plan *p = skinny > 0 && rows > gemv_rows_limit() && d->lt && aligned
                      ? find_plan(d, rows, out, in, y_half, r != NULL)
                      : NULL;
        if (skinny <= 0) {
            rc = skinny;
        } else if (p && p->ok) {
            rc = run_blaslt(device_id, d, p, x, x_half, w, seed ? y : r, seed ? r : NULL, r_half, y);
        } else {
            double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(device_id) : 0;
            rc = x_half || y_half || r_half ? run_gemv_mixed(device_id, d, x, x_half, w, r, r_half, y, y_half, rows, out, in)
                                            : run_gemv(device_id, d, x, w, r, y, rows, out, in);
            if (t0 > 0) {
                char name[96];
                snprintf(name, sizeof name, "linear_f16%s (GEMV) rows %lld, %lld x %lld", r ? "_add" : "", (long long)rows,
                         (long long)out, (long long)in);
                mlcc_cuda_profile_end(device_id, mlcc_intern(name), t0);
            }
        }
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

/* y (float32, or float16 when half) = nn.rms_norm(a, f's gamma, eps) [rows, in], a kernel of its own */
static int run_norm_rows(int id, linear_device *d, const mlcc_linear_fusion *f, const float *a, void *y, int half,
                         int64_t rows, int64_t in) {
    int k = (int)in, vec = in % 4 == 0 && ((uintptr_t)a | (uintptr_t)f->gamma | (uintptr_t)y) % 16 == 0;
    uint32_t grid[3] = {(uint32_t)rows, 1, 1}, block[3] = {256, 1, 1};
    void *args[] = {&a, (void *)&f->gamma, (void *)&f->eps, &y, &k, &half, &vec};
    return mlcc_cuda_launch(id, d->norm_rows, grid, block, 0, args);
}

/* y [rows, half_out] = silu(gu[:, :half_out]) * gu[:, half_out:] (float32, or half where
 * gu_half / y_half), a kernel of its own */
static int run_silu_mul(int id, linear_device *d, const void *gu, int gu_half, void *y, int y_half, int64_t rows,
                        int64_t half_out) {
    int k = (int)half_out, r = (int)rows;
    uint32_t grid[3] = {(uint32_t)(half_out / 256 < 1024 ? half_out / 256 + 1 : 1024), (uint32_t)(rows < 65535 ? rows : 65535), 1};
    uint32_t block[3] = {256, 1, 1};
    void *args[] = {&gu, &y, &k, &r, &gu_half, &y_half};
    return mlcc_cuda_launch(id, d->silu_mul, grid, block, 0, args);
}

int mlcc_cuda_rms_norm_rows(int device_id, const mlcc_linear_fusion *f, const float *a, float *y, int64_t rows, int64_t in) {
    if (rows <= 0 || in <= 0 || in > 0x7fffffff || rows > 0x7fffffff || !f || !f->gamma || !f->eps)
        return mlcc_set_error("mlcc_cuda_rms_norm_rows: bad shape %lld x %lld or no gamma", (long long)rows, (long long)in);
    pthread_mutex_lock(&lock);
    linear_device *d = NULL;
    int rc = device_ready(device_id, &d);
    pthread_mutex_unlock(&lock);
    return rc ? rc : run_norm_rows(device_id, d, f, a, y, 0, rows, in);
}

int mlcc_cuda_add_f32(int device_id, float *y, const float *r, int64_t n) {
    if (n <= 0) return n == 0 ? 0 : mlcc_set_error("mlcc_cuda_add_f32: %lld elements", (long long)n);
    pthread_mutex_lock(&lock);
    linear_device *d = NULL;
    int rc = device_ready(device_id, &d);
    pthread_mutex_unlock(&lock);
    return rc ? rc : run_add(device_id, d, y, r, n);
}

int mlcc_cuda_silu_mul(int device_id, const float *gu, float *y, int64_t rows, int64_t half_out) {
    if (rows <= 0 || half_out <= 0 || half_out > 0x7fffffff || rows > 0x7fffffff)
        return mlcc_set_error("mlcc_cuda_silu_mul: bad shape %lld x %lld", (long long)rows, (long long)half_out);
    pthread_mutex_lock(&lock);
    linear_device *d = NULL;
    int rc = device_ready(device_id, &d);
    pthread_mutex_unlock(&lock);
    return rc ? rc : run_silu_mul(device_id, d, gu, 0, y, 0, rows, half_out);
}

static void profile_end(int id, double t0, const char *what, int64_t rows, int64_t out, int64_t in) {
    if (t0 <= 0) return;
    char name[96];
    snprintf(name, sizeof name, "linear_f16%s rows %lld, %lld x %lld", what, (long long)rows, (long long)out, (long long)in);
    mlcc_cuda_profile_end(id, mlcc_intern(name), t0);
}

/* The fusions as kernels around mlcc_cuda_linear_f16_mixed (3 or more rows, or shapes the
 * block GEMV does not take). With cuBLASLt the normed x and gate_up's output gu are half: it
 * takes x as it is (no rounding kernel) and rounds gu in its epilogue, which halves the bytes
 * gu takes to memory and back (silu * up reads it in float32 arithmetic, as the prefill's). */
static int run_fused_apart(int id, linear_device *d, int use_lt, const mlcc_linear_fusion *f, const float *a,
                           const uint16_t *w, void *y, int y_half, int64_t rows, int64_t out, int64_t in) {
    int half = f->gamma && use_lt, gu_half = f->silu_mul ? use_lt : y_half;
    void *x = f->gamma ? mlcc_cuda_hooks()->alloc(id, (size_t)(rows * in) * (half ? 2 : 4)) : (void *)a;
    void *gu = f->silu_mul ? mlcc_cuda_hooks()->alloc(id, (size_t)(rows * out) * (gu_half ? 2 : 4)) : y;
    int rc = !x || !gu ? mlcc_prefix_error("mlcc.cuda.linear_f16: fused projection's workspace (%lld rows)", (long long)rows) : 0;
    if (rc == 0 && f->gamma) {
        double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(id) : 0;
        rc = run_norm_rows(id, d, f, a, x, half, rows, in);
        profile_end(id, t0, ": x = rms_norm", rows, in, 1);
    }
    if (rc == 0) rc = mlcc_cuda_linear_f16_mixed(id, x, half, w, NULL, 0, gu, gu_half, rows, out, in);
    if (rc == 0 && f->silu_mul) {
        double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(id) : 0;
        rc = run_silu_mul(id, d, gu, gu_half, y, y_half, rows, out / 2);
        profile_end(id, t0, ": silu * up", rows, out / 2, 1);
    }
    /* stream-ordered frees: the allocator's blocks serve this stream */
    if (f->gamma && x) mlcc_cuda_hooks()->free(id, x);
    if (f->silu_mul && gu) mlcc_cuda_hooks()->free(id, gu);
    return rc;
}

int mlcc_cuda_linear_f16_fused(int device_id, const mlcc_linear_fusion *f, const float *a, const uint16_t *w, void *y,
                               int y_half, int64_t rows, int64_t out, int64_t in) {
    if (rows <= 0 || out <= 0 || in <= 0 || out > 0x7fffffff || in > 0x7fffffff || (f->silu_mul && out % 2))
        return mlcc_set_error("mlcc.cuda.linear_f16: bad shape %lld x %lld x %lld%s", (long long)rows, (long long)out,
                              (long long)in, f->silu_mul ? " (silu * up: out must be even)" : "");
    if (y_half && !f->silu_mul) return mlcc_set_error("mlcc.cuda.linear_f16: a float16 y is taken after silu * up only");
    pthread_mutex_lock(&lock);
    linear_device *d = NULL;
    int rc = device_ready(device_id, &d);
    int limit = gemv_rows_limit(), use_lt = rc == 0 && rows > limit && d->lt;
    uintptr_t bits = (uintptr_t)a | (uintptr_t)w | (uintptr_t)f->gamma;
    int block = rows <= (limit < 2 ? limit : 2) && in % 8 == 0 && bits % 16 == 0 && use_block_gemv();
    if (rc == 0 && block) {
        double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(device_id) : 0;
        rc = run_block_gemv(device_id, d, a, 0, w, NULL, y, y_half, rows, out, in, f);
        profile_end(device_id, t0, f->gamma && f->silu_mul ? "_norm_silu (GEMV)" : f->gamma ? "_norm (GEMV)" : "_silu (GEMV)",
                    rows, out, in);
    }
    pthread_mutex_unlock(&lock);
    if (rc || block) return rc;
    return run_fused_apart(device_id, d, use_lt, f, a, w, y, y_half, rows, out, in);
}

void mlcc_cuda_linear_release(int device_id) {
    if (device_id < 0 || device_id >= MAX_DEVICES) return;
    pthread_mutex_lock(&lock);
    linear_device *d = &devices[device_id];
    if (d->workspace) mlcc_cuda_hooks()->free(device_id, d->workspace);
    d->workspace = NULL; /* taken again at the next cuBLASLt call */
    pthread_mutex_unlock(&lock);
}

/* ---- the packed function: (x f32|f16 [..., in], w f16 [out, in], y f32|f16 [..., out]) ---- */

static int linear_f16(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)ret, (void)ret_code, (void)res;
    const char *fn = "mlcc.cuda.linear_f16";
    projection_args p;
    if (projection_args_read(fn, kDLCUDA, "CUDA", "x, w and y", args, codes, n, 1, &p)) return -1;
    const DLTensor *w = p.w[0];
    int x_half = projection_is_dtype(p.x, kDLFloat, 16), y_half = projection_is_dtype(p.y, kDLFloat, 16);
    if (!(x_half || projection_is_dtype(p.x, kDLFloat, 32)) || !projection_is_dtype(w, kDLFloat, 16) ||
        !(y_half || projection_is_dtype(p.y, kDLFloat, 32)))
        return mlcc_set_error("%s: wants float32 or float16 x, float16 w, float32 or float16 y", fn);
    if (w->ndim != 2 || w->shape[1] != p.in || w->shape[0] != p.out)
        return mlcc_set_error("%s: shapes do not match x[..., in] @ w[out, in]^T = y[..., out]", fn);
    if (p.rows == 0) return 0;
    return mlcc_cuda_linear_f16_mixed(w->device.device_id, projection_data(p.x), x_half, projection_data(w), NULL, 0,
                                      projection_data(p.y), y_half, p.rows, p.out, p.in);
}

MLCC_REGISTER_GLOBAL("mlcc.cuda.linear_f16", linear_f16)

/* (x f32|f16 [..., in], w f16 [out, in], r f32|f16 [..., out], y f32|f16 [..., out]): y = x @ w^T
 * + r, the residual add after a projection (transform/cuda_dispatch.c fuses `add(r, linear(x,
 * w))`); r and y float16 in a prefill's half residual stream (transform/half_activations.c) */
static int linear_f16_add(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)ret, (void)ret_code, (void)res;
    const char *fn = "mlcc.cuda.linear_f16_add";
    projection_args p; /* r read as a second "weight" tensor: checked here */
    if (projection_args_read(fn, kDLCUDA, "CUDA", "x, w, r and y", args, codes, n, 2, &p)) return -1;
    const DLTensor *w = p.w[0], *r = p.w[1];
    int x_half = projection_is_dtype(p.x, kDLFloat, 16), r_half = projection_is_dtype(r, kDLFloat, 16),
        y_half = projection_is_dtype(p.y, kDLFloat, 16);
    if (!(x_half || projection_is_dtype(p.x, kDLFloat, 32)) || !projection_is_dtype(w, kDLFloat, 16) ||
        !(r_half || projection_is_dtype(r, kDLFloat, 32)) || !(y_half || projection_is_dtype(p.y, kDLFloat, 32)))
        return mlcc_set_error("%s: wants float32 or float16 x, r and y, float16 w", fn);
    if (w->ndim != 2 || w->shape[1] != p.in || w->shape[0] != p.out)
        return mlcc_set_error("%s: shapes do not match x[..., in] @ w[out, in]^T = y[..., out]", fn);
    int same = r->ndim == p.y->ndim;
    for (int i = 0; same && i < r->ndim; i++) same = r->shape[i] == p.y->shape[i];
    if (!same) return mlcc_set_error("%s: the residual r must have y's shape", fn);
    if (p.rows == 0) return 0;
    return mlcc_cuda_linear_f16_mixed(w->device.device_id, projection_data(p.x), x_half, projection_data(w), projection_data(r),
                                      r_half, projection_data(p.y), y_half, p.rows, p.out, p.in);
}

MLCC_REGISTER_GLOBAL("mlcc.cuda.linear_f16_add", linear_f16_add)

/* The fused projections (transform/fuse_gemv.c): (a f32 [..., in], [gamma f32 [in],
 * eps f32 [1],] w f16 [out, in], y f32 [..., out or out / 2]; after silu * up y may be f16) */
static int linear_f16_fused_call(const char *fn, int norm, int silu_mul, const MLCCValue *args, const int *codes, int n) {
    projection_args p;
    if (projection_args_read(fn, kDLCUDA, "CUDA", norm ? "a, gamma, eps, w and y" : "a, w and y", args, codes, n, norm ? 3 : 1, &p))
        return -1;
    const DLTensor *w = p.w[norm ? 2 : 0], *gamma = norm ? p.w[0] : NULL, *eps = norm ? p.w[1] : NULL;
    /* y float16 after silu * up: the next projection's x (transform/half_activations.c, decode) */
    int y_half = silu_mul && projection_is_dtype(p.y, kDLFloat, 16);
    if (!projection_is_dtype(p.x, kDLFloat, 32) || !projection_is_dtype(w, kDLFloat, 16) ||
        !(y_half || projection_is_dtype(p.y, kDLFloat, 32)) ||
        (norm && (!projection_is_dtype(gamma, kDLFloat, 32) || !projection_is_dtype(eps, kDLFloat, 32))))
        return mlcc_set_error("%s: wants float32 a%s and y (or float16 y), float16 w", fn, norm ? ", gamma, eps" : "");
    int64_t y_cols = silu_mul ? p.out * 2 : p.out; /* w's rows: y is half as wide after silu * up */
    if (w->ndim != 2 || w->shape[1] != p.in || w->shape[0] != y_cols ||
        (norm && (gamma->ndim != 1 || gamma->shape[0] != p.in || eps->ndim != 1 || eps->shape[0] != 1)))
        return mlcc_set_error("%s: shapes do not match a[..., in],%s w[out, in], y[..., %s]", fn, norm ? " gamma[in], eps[1]," : "",
                              silu_mul ? "out / 2" : "out");
    if (p.rows == 0) return 0;
    mlcc_linear_fusion f = {norm ? projection_data(gamma) : NULL, norm ? projection_data(eps) : NULL, silu_mul};
    return mlcc_cuda_linear_f16_fused(w->device.device_id, &f, projection_data(p.x), projection_data(w), projection_data(p.y),
                                      y_half, p.rows, y_cols, p.in);
}

static int linear_f16_norm(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)ret, (void)ret_code, (void)res;
    return linear_f16_fused_call("mlcc.cuda.linear_f16_norm", 1, 0, args, codes, n);
}

MLCC_REGISTER_GLOBAL("mlcc.cuda.linear_f16_norm", linear_f16_norm)

static int linear_f16_silu(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)ret, (void)ret_code, (void)res;
    return linear_f16_fused_call("mlcc.cuda.linear_f16_silu", 0, 1, args, codes, n);
}

MLCC_REGISTER_GLOBAL("mlcc.cuda.linear_f16_silu", linear_f16_silu)

static int linear_f16_norm_silu(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)ret, (void)ret_code, (void)res;
    return linear_f16_fused_call("mlcc.cuda.linear_f16_norm_silu", 1, 1, args, codes, n);
}

MLCC_REGISTER_GLOBAL("mlcc.cuda.linear_f16_norm_silu", linear_f16_norm_silu)
