/* cuda_skinny.c - the float16 matmul for 3..64 rows of x (batched decode): y[rows, out] =
 * x[rows, in] @ W[out, in]^T (+ r), a hand-written tensor-core kernel that streams W once.
 *
 * Why not cuBLASLt: at 16-64 rows its algorithms read the narrower Llama-3-8B weights (4096 x
 * 4096, 6144 x 4096, 4096 x 14336) at only 1.6-2.3 TB/s on the H100 (BENCHMARKS.md), and x
 * must first be rounded to half by a kernel of its own. Here a block of 4 warps takes 128
 * outputs and a slice of K (split-K until about two blocks a multiprocessor stream), W's tile
 * and x's rows come through shared memory by cp.async, 2-3 stages in flight (at these sizes
 * the bytes in flight set the rate: a first version that loaded W into registers a stage ahead
 * streamed at ~10 GB/s a block), and meet on mma.sync m16n8k16; x may stay float32 in memory
 * (rounded to half as the fragments are built). Split partial tiles are summed in a fixed order
 * by a second kernel, so results do not depend on timing. Why hand-written CUDA: our TIR has
 * no tensorize, warp fragments or mma intrinsics yet (as cuda_attention.c).
 *
 * cuda_linear.c calls it for rows in (MLCC_CUDA_GEMV_ROWS, MLCC_CUDA_SKINNY_ROWS] when
 * MLCC_CUDA_SKINNY=1; MLCC_CUDA_SKINNY_XF32=0 has it read x rounded to half by cuda_linear.c;
 * MLCC_CUDA_SKINNY_WAVES (blocks a multiprocessor to aim for with split-K, default 2) and
 * MLCC_CUDA_SKINNY_WARPS=8 (blocks of 256 outputs: half the reads of x per byte of W, one block
 * a multiprocessor; not measured yet) are for measuring. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda.h"
#include "runtime/cuda_api.h"
#include "runtime/cuda_skinny.h"
#include "support/env.h"
#include "support/error.h"
#include "support/hashmap.h"

static const char *const kernel_source =
    "#include <cuda_fp16.h>\n"
    "/* Skinny GEMM: y[r, o] = sum_k x[r, k] w[o, k] (+ res[r, o]) for 1..64 rows of x (MT tiles of 16\n"
    " * rows) on mma.sync m16n8k16. A block of W warps takes BN = 32 W outputs and one K range (split-K:\n"
    " * blockIdx.y, partial tiles to part[split], summed by mlcc_skinny_reduce). W's tile and x's rows\n"
    " * pass through shared memory in stages of 64 k by cp.async (S buffers, S - 1 stages in flight:\n"
    " * the bytes in flight, not the arithmetic, set the rate at these sizes). K is permuted inside\n"
    " * each 32-k chunk the same way for x and W, so one 16-byte shared load per row gives a lane its\n"
    " * fragments for two mma k-steps, and a quarter warp's loads cover 128 contiguous bytes (no bank\n"
    " * conflicts). XF32: x is float32 in memory, staged as is and rounded to half as fragments are\n"
    " * built (float4 slots swizzled by row parity against bank conflicts); else x is half. */\n"
    "#ifndef MLCC_EMU /* bench/cuda_emu/skinny_driver.cpp runs this source on the CPU with its own */\n"
    "__device__ __forceinline__ void cp_async16(void *smem, const void *gmem) {\n"
    "    unsigned s = (unsigned)__cvta_generic_to_shared(smem);\n"
    "    asm volatile(\"cp.async.cg.shared.global [%0], [%1], 16;\\n\" ::\"r\"(s), \"l\"(gmem));\n"
    "}\n"
    "__device__ __forceinline__ void cp_async_commit() { asm volatile(\"cp.async.commit_group;\\n\" ::); }\n"
    "template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile(\"cp.async.wait_group %0;\\n\" ::\"n\"(N)); }\n"
    "__device__ __forceinline__ void mma16816(float *c, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1) {\n"
    "    asm volatile(\"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\\n\"\n"
    "                 : \"+f\"(c[0]), \"+f\"(c[1]), \"+f\"(c[2]), \"+f\"(c[3])\n"
    "                 : \"r\"(a0), \"r\"(a1), \"r\"(a2), \"r\"(a3), \"r\"(b0), \"r\"(b1));\n"
    "}\n"
    "#endif\n"
    "__device__ __forceinline__ unsigned pack_half2(float a, float b) {\n"
    "    __half2 h = __floats2half2_rn(a, b);\n"
    "    return *reinterpret_cast<unsigned *>(&h);\n"
    "}\n"
    "/* Shared memory of a stage: W [2 chunks][BN rows][4 x 16 bytes], then x: half [2][ROWS][4 x 16\n"
    " * bytes] or float32 [2][ROWS][8 x 16 bytes]. Element (chunk c, row r, slot q) holds k = 32 c +\n"
    " * 8 q .. + 8 (float32: 4 q .. + 4, slot q ^ (r & 1)) of the stage. */\n"
    "template <int MT, bool XF32, int W> struct layout {\n"
    "    static const int BN = 32 * W, NT = 32 * W, ROWS = MT * 16, W16 = 2 * BN * 4, X16 = XF32 ? 2 * ROWS * 8 : 2 * ROWS * 4,\n"
    "                     STAGE16 = W16 + X16;\n"
    "};\n"
    "/* Stage s (k in [kb + 64 s, kb + 64 s + 64)) into buffer s % S: W rows past N repeat row N - 1\n"
    " * (computed, never stored), x rows past M and k past ke are zeros. */\n"
    "template <int MT, bool XF32, int S, int W>\n"
    "__device__ __forceinline__ void load_stage(const void *x, const __half *w, uint4 *smem, int s, int o0, int kb, int ke,\n"
    "                                           int M, int N, int K) {\n"
    "    typedef layout<MT, XF32, W> L;\n"
    "    uint4 *ws = smem + (s % S) * L::STAGE16, *xs = ws + L::W16;\n"
    "    const int k0 = kb + 64 * s;\n"
    "#pragma unroll\n"
    "    for (int it = 0; it < L::W16 / L::NT; it++) {\n"
    "        int i = it * L::NT + threadIdx.x, q = i & 3, c = (i >> 2) & 1, r = i >> 3, k = k0 + 32 * c + 8 * q;\n"
    "        uint4 *dst = ws + (c * L::BN + r) * 4 + q;\n"
    "        if (k < ke) cp_async16(dst, w + (long long)min(o0 + r, N - 1) * K + k);\n"
    "        else *dst = make_uint4(0, 0, 0, 0);\n"
    "    }\n"
    "    if (XF32) {\n"
    "        const float *xf = static_cast<const float *>(x);\n"
    "#pragma unroll\n"
    "        for (int it = 0; it < (L::X16 + L::NT - 1) / L::NT; it++) {\n"
    "            int i = it * L::NT + threadIdx.x;\n"
    "            if (i >= L::X16) break;\n"
    "            int q = i & 7, c = (i >> 3) & 1, r = i >> 4, k = k0 + 32 * c + 4 * q;\n"
    "            uint4 *dst = xs + (c * L::ROWS + r) * 8 + (q ^ (r & 1));\n"
    "            if (r < M && k < ke) cp_async16(dst, xf + (long long)r * K + k);\n"
    "            else *dst = make_uint4(0, 0, 0, 0);\n"
    "        }\n"
    "    } else {\n"
    "        const __half *xh = static_cast<const __half *>(x);\n"
    "#pragma unroll\n"
    "        for (int it = 0; it < (L::X16 + L::NT - 1) / L::NT; it++) {\n"
    "            int i = it * L::NT + threadIdx.x;\n"
    "            if (i >= L::X16) break;\n"
    "            int q = i & 3, c = (i >> 2) & 1, r = i >> 3, k = k0 + 32 * c + 8 * q;\n"
    "            uint4 *dst = xs + (c * L::ROWS + r) * 4 + q;\n"
    "            if (r < M && k < ke) cp_async16(dst, xh + (long long)r * K + k);\n"
    "            else *dst = make_uint4(0, 0, 0, 0);\n"
    "        }\n"
    "    }\n"
    "}\n"
    "/* x's fragment for row r of chunk c: the lane's 8 values (k = 8 t .. + 8) as four half2 */\n"
    "template <int MT, bool XF32, int W>\n"
    "__device__ __forceinline__ uint4 x_frag(const uint4 *xs, int c, int r, int t) {\n"
    "    typedef layout<MT, XF32, W> L;\n"
    "    if (XF32) {\n"
    "        const float4 *xf = reinterpret_cast<const float4 *>(xs) + (c * L::ROWS + r) * 8;\n"
    "        float4 a = xf[(2 * t) ^ (r & 1)], b = xf[(2 * t + 1) ^ (r & 1)];\n"
    "        return make_uint4(pack_half2(a.x, a.y), pack_half2(a.z, a.w), pack_half2(b.x, b.y), pack_half2(b.z, b.w));\n"
    "    }\n"
    "    return xs[(c * L::ROWS + r) * 4 + t];\n"
    "}\n"
    "template <int MT, bool XF32, int S, int W>\n"
    "__device__ __forceinline__ void skinny(const void *x, const __half *__restrict__ w, float *y, const float *res, float *part,\n"
    "                                       int M, int N, int K, int kper) {\n"
    "    typedef layout<MT, XF32, W> L;\n"
    "    extern __shared__ uint4 smem[];\n"
    "    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;\n"
    "    const int kb = blockIdx.y * kper, ke = min(K, kb + kper), nst = (ke - kb + 63) >> 6, o0 = blockIdx.x * L::BN;\n"
    "    float acc[MT][4][4];\n"
    "#pragma unroll\n"
    "    for (int m = 0; m < MT; m++)\n"
    "#pragma unroll\n"
    "        for (int j = 0; j < 4; j++)\n"
    "#pragma unroll\n"
    "            for (int e = 0; e < 4; e++) acc[m][j][e] = 0.f;\n"
    "#pragma unroll\n"
    "    for (int s = 0; s < S - 1; s++) {\n"
    "        if (s < nst) load_stage<MT, XF32, S, W>(x, w, smem, s, o0, kb, ke, M, N, K);\n"
    "        cp_async_commit();\n"
    "    }\n"
    "    for (int s = 0; s < nst; s++) {\n"
    "        cp_async_wait<S - 2>();\n"
    "        __syncthreads(); /* stage s landed for every thread; every warp is done with stage s - 1's buffer */\n"
    "        if (s + S - 1 < nst) load_stage<MT, XF32, S, W>(x, w, smem, s + S - 1, o0, kb, ke, M, N, K);\n"
    "        cp_async_commit();\n"
    "        const uint4 *ws = smem + (s % S) * L::STAGE16, *xs = ws + L::W16;\n"
    "#pragma unroll\n"
    "        for (int c = 0; c < 2; c++) {\n"
    "            uint4 b[4];\n"
    "#pragma unroll\n"
    "            for (int j = 0; j < 4; j++) b[j] = ws[(c * L::BN + warp * 32 + 8 * j + g) * 4 + t];\n"
    "#pragma unroll\n"
    "            for (int m = 0; m < MT; m++) {\n"
    "                uint4 lo = x_frag<MT, XF32, W>(xs, c, m * 16 + g, t), hi = x_frag<MT, XF32, W>(xs, c, m * 16 + g + 8, t);\n"
    "#pragma unroll\n"
    "                for (int j = 0; j < 4; j++) {\n"
    "                    mma16816(acc[m][j], lo.x, hi.x, lo.y, hi.y, b[j].x, b[j].y);\n"
    "                    mma16816(acc[m][j], lo.z, hi.z, lo.w, hi.w, b[j].z, b[j].w);\n"
    "                }\n"
    "            }\n"
    "        }\n"
    "    }\n"
    "    /* acc[m][j][e]: row m * 16 + g (+ 8 for e >= 2), output o0 + 32 warp + 8 j + 2 t (+ 1 for odd e) */\n"
    "    const bool split = gridDim.y > 1;\n"
    "    float *dst = split ? part + (long long)blockIdx.y * M * N : y;\n"
    "#pragma unroll\n"
    "    for (int m = 0; m < MT; m++)\n"
    "#pragma unroll\n"
    "        for (int j = 0; j < 4; j++)\n"
    "#pragma unroll\n"
    "            for (int e = 0; e < 4; e++) {\n"
    "                int r = m * 16 + g + (e >> 1) * 8, o = o0 + warp * 32 + 8 * j + 2 * t + (e & 1);\n"
    "                if (r < M && o < N) {\n"
    "                    long long i = (long long)r * N + o;\n"
    "                    dst[i] = !split && res ? acc[m][j][e] + res[i] : acc[m][j][e];\n"
    "                }\n"
    "            }\n"
    "}\n"
    "#define SKINNY(MT, XF, S, W) extern \"C\" __global__ void __launch_bounds__(W * 32) mlcc_skinny##W##_f16_##MT##_##XF(\\\n"
    "    const void *x, const __half *w, float *y, const float *res, float *part, int M, int N, int K, int kper) {\\\n"
    "    skinny<MT, XF, S, W>(x, w, y, res, part, M, N, K, kper); }\n"
    "SKINNY(1, 0, 4, 4) SKINNY(2, 0, 4, 4) SKINNY(3, 0, 4, 4) SKINNY(4, 0, 4, 4)\n"
    "SKINNY(1, 1, 4, 4) SKINNY(2, 1, 4, 4) SKINNY(3, 1, 3, 4) SKINNY(4, 1, 3, 4)\n"
    "SKINNY(1, 0, 3, 8) SKINNY(2, 0, 3, 8) SKINNY(3, 0, 3, 8) SKINNY(4, 0, 3, 8)\n"
    "SKINNY(1, 1, 3, 8) SKINNY(2, 1, 3, 8) SKINNY(3, 1, 3, 8) SKINNY(4, 1, 3, 8)\n"
    "/* y[i] = sum over the splits of part[s][i] in order (+ res[i]): n = rows * out */\n"
    "extern \"C\" __global__ void __launch_bounds__(256) mlcc_skinny_reduce(const float *part, const float *res, float *y, long long n,\n"
    "                                                                    int splits) {\n"
    "    const long long stride = (long long)gridDim.x * blockDim.x;\n"
    "    if ((n & 3) == 0) {\n"
    "        const float4 *p4 = reinterpret_cast<const float4 *>(part);\n"
    "        for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n / 4; i += stride) {\n"
    "            float4 s = __ldcg(p4 + i);\n"
    "            for (int k = 1; k < splits; k++) {\n"
    "                float4 v = __ldcg(p4 + k * (n / 4) + i);\n"
    "                s.x += v.x, s.y += v.y, s.z += v.z, s.w += v.w;\n"
    "            }\n"
    "            if (res) {\n"
    "                float4 r = make_float4(res[4 * i], res[4 * i + 1], res[4 * i + 2], res[4 * i + 3]);\n"
    "                s.x += r.x, s.y += r.y, s.z += r.z, s.w += r.w;\n"
    "            }\n"
    "            y[4 * i] = s.x, y[4 * i + 1] = s.y, y[4 * i + 2] = s.z, y[4 * i + 3] = s.w;\n"
    "        }\n"
    "        return;\n"
    "    }\n"
    "    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += stride) {\n"
    "        float s = __ldcg(part + i);\n"
    "        for (int k = 1; k < splits; k++) s += __ldcg(part + k * n + i);\n"
    "        y[i] = res ? s + res[i] : s;\n"
    "    }\n"
    "}\n";

const char *mlcc_cuda_skinny_kernel_source(void) {
    return kernel_source;
}

enum { MAX_DEVICES = 16, MIN_K_PER_SPLIT = 256, MAX_SPLITS = 32 };

typedef struct skinny_device {
    int ready;
    mlcc_cuda_module *module;
    void *kernel[2][2][4]; /* [8 warps a block][x float32][row tiles - 1] */
    void *reduce;
    int sms;
} skinny_device;

static skinny_device devices[MAX_DEVICES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;


int mlcc_cuda_skinny_max_rows(void) {
    if (mlcc_env_int("MLCC_CUDA_SKINNY", 0) == 0) return 0;
    int n = mlcc_env_int("MLCC_CUDA_SKINNY_ROWS", 64);
    return n < 0 ? 0 : n > 64 ? 64 : n;
}

int mlcc_cuda_skinny_x_f32(void) {
    return mlcc_env_int("MLCC_CUDA_SKINNY_XF32", 1) != 0;
}

static int device_ready(int id, skinny_device **out) {
    if (id < 0 || id >= MAX_DEVICES) return mlcc_set_error("skinny matmul: device %d out of range", id);
    skinny_device *d = &devices[id];
    *out = d;
    if (d->ready) return 0;
    if (!d->module && !(d->module = mlcc_cuda_module_load_source(id, kernel_source)))
        return mlcc_prefix_error("skinny matmul kernels");
    for (int w = 0; w < 2; w++)
        for (int f = 0; f < 2; f++)
            for (int m = 0; m < 4; m++) {
                char name[64];
                snprintf(name, sizeof name, "mlcc_skinny%d_f16_%d_%d", 4 << w, m + 1, f);
                if (!(d->kernel[w][f][m] = mlcc_cuda_module_kernel(d->module, name))) return -1;
            }
    if (!(d->reduce = mlcc_cuda_module_kernel(d->module, "mlcc_skinny_reduce"))) return -1;
    d->sms = mlcc_cuda_device_sm_count(id);
    if (d->sms <= 0) d->sms = 132;
    d->ready = 1;
    return 0;
}

/* How a call is cut: output tiles of 32 x warps, and K split so tiles x splits stays within
 * MLCC_CUDA_SKINNY_WAVES blocks of 4 warps a multiprocessor (2 fit: ~96 KB of shared memory
 * each; a block of 8 warps counts as two), each split at least MIN_K_PER_SPLIT long and a
 * multiple of the 64-k stage. */
static void plan_splits(const skinny_device *d, int64_t out, int64_t in, int warps, int *tiles, int *splits, int *kper) {
    int waves = mlcc_env_int("MLCC_CUDA_SKINNY_WAVES", 2);
    if (waves < 1) waves = 1;
    *tiles = (int)((out + 32 * warps - 1) / (32 * warps));
    int64_t want = (int64_t)waves * d->sms * 4 / warps / *tiles, most = in / MIN_K_PER_SPLIT;
    if (want > most) want = most;
    if (want > MAX_SPLITS) want = MAX_SPLITS;
    if (want < 1) want = 1;
    int64_t k = (in + want - 1) / want;
    k = (k + 63) / 64 * 64;
    *kper = (int)k;
    *splits = (int)((in + k - 1) / k);
}

/* as the kernel's layout<> and its instances' stage counts */
static uint32_t shared_bytes(int mt, int xf32, int warps) {
    int stages = warps == 8 || (xf32 && mt >= 3) ? 3 : 4, w16 = 2 * 32 * warps * 4, x16 = xf32 ? 2 * mt * 16 * 8 : 2 * mt * 16 * 4;
    return (uint32_t)(stages * (w16 + x16) * 16);
}

int mlcc_cuda_skinny_f16(int device_id, const void *x, int x_f32, const uint16_t *w, const float *r, float *y, int64_t rows,
                         int64_t out, int64_t in) {
    if (rows < 1 || rows > 64 || in % 8 || ((uintptr_t)x | (uintptr_t)w) % 16 || out > 0x7fffffff || in > 0x7fffffff)
        return 1;
    pthread_mutex_lock(&lock);
    skinny_device *d = NULL;
    int rc = device_ready(device_id, &d);
    if (rc != 0) {
        pthread_mutex_unlock(&lock);
        return rc;
    }
    int warps = mlcc_env_int("MLCC_CUDA_SKINNY_WARPS", 4) == 8 ? 8 : 4, tiles, splits, kper;
    plan_splits(d, out, in, warps, &tiles, &splits, &kper);
    int mt = (int)((rows + 15) / 16), m = (int)rows, n = (int)out, k = (int)in, f = x_f32 != 0;
    float *part = NULL;
    if (splits > 1 && !(part = mlcc_cuda_hooks()->alloc(device_id, (size_t)splits * (size_t)(rows * out) * sizeof(float)))) {
        pthread_mutex_unlock(&lock);
        return mlcc_prefix_error("skinny matmul: partial sums of %d splits", splits);
    }
    double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(device_id) : 0;
    uint32_t grid[3] = {(uint32_t)tiles, (uint32_t)splits, 1}, block[3] = {(uint32_t)(32 * warps), 1, 1};
    void *args[] = {&x, &w, &y, &r, &part, &m, &n, &k, &kper};
    rc = mlcc_cuda_launch(device_id, d->kernel[warps == 8][f][mt - 1], grid, block, shared_bytes(mt, f, warps), args);
    if (rc == 0 && splits > 1) {
        long long total = rows * out;
        int64_t blocks = (total / 4 + 255) / 256;
        uint32_t rgrid[3] = {(uint32_t)(blocks < 1 ? 1 : blocks > 2048 ? 2048 : blocks), 1, 1}, rblock[3] = {256, 1, 1};
        void *rargs[] = {&part, &r, &y, &total, &splits};
        rc = mlcc_cuda_launch(device_id, d->reduce, rgrid, rblock, 0, rargs);
    }
    if (t0 > 0) {
        char name[112];
        snprintf(name, sizeof name, "linear_f16%s (skinny%s, %d warps, %d splits) rows %lld, %lld x %lld", r ? "_add" : "",
                 f ? ", x f32" : "", warps, splits, (long long)rows, (long long)out, (long long)in);
        mlcc_cuda_profile_end(device_id, mlcc_intern(name), t0);
    }
    if (part) mlcc_cuda_hooks()->free(device_id, part); /* stream-ordered reuse, as cuda_linear.c's x16 */
    pthread_mutex_unlock(&lock);
    return rc;
}
