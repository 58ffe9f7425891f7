/* cuda_skinny.c - the float16 matmul for 3..64 rows of x (batched decode): y[rows, out] =
 * x16[rows, in] @ W[out, in]^T (+ r), a hand-written tensor-core kernel that streams W once.
 *
 * Why not cuBLASLt: at 16-64 rows its algorithms read the narrower Llama-3-8B weights (4096 x
 * 4096, 6144 x 4096, 4096 x 14336) at only 0.7-1.5 TB/s on the H100 (BENCHMARKS.md, cudapre):
 * too few blocks for 132 multiprocessors, or tiles built for square problems. Here a block of
 * 4 warps takes 128 outputs and a slice of K (split-K until about two blocks a multiprocessor
 * stream), each warp loads its 32 rows of W straight into registers (16-byte loads that skip
 * L1, a stage ahead) and meets x's rows, staged through shared memory by cp.async, on mma.sync
 * m16n8k16. The splits' partial tiles are summed in a fixed order by the last block of each
 * tile, so results do not depend on timing. Why hand-written CUDA: our TIR has no tensorize,
 * warp fragments or mma intrinsics yet (as cuda_attention.c).
 *
 * cuda_linear.c calls it for rows in (MLCC_CUDA_GEMV_ROWS, MLCC_CUDA_SKINNY_ROWS] (default 64)
 * after rounding x to half; MLCC_CUDA_SKINNY=0 keeps cuBLASLt. MLCC_CUDA_SKINNY_WARPS (4 or 8)
 * and MLCC_CUDA_SKINNY_WAVES (blocks a multiprocessor to aim for, default 2) are for measuring. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda.h"
#include "runtime/cuda_api.h"
#include "runtime/cuda_skinny.h"
#include "support/error.h"
#include "support/hashmap.h"

static const char *const kernel_source =
    "#include <cuda_fp16.h>\n"
    "/* Skinny GEMM: y[r, o] = sum_k x16[r, k] w[o, k] (+ res[r, o]) for 1..64 rows of x (MT tiles of\n"
    " * 16 rows) on mma.sync m16n8k16. A block of WARPS warps takes 32 * WARPS outputs and one K range\n"
    " * (split-K: blockIdx.y); each warp streams its 32 rows of W straight into registers, 16-byte loads\n"
    " * that skip L1, one stage (64 k) ahead; x's rows for the range pass through shared memory in\n"
    " * stages of 64 k by cp.async (4 buffers). K is permuted inside each 32-k chunk the same way for\n"
    " * x and W, so one 16-byte load per row gives a lane its fragments for two mma k-steps.\n"
    " * With splits > 1 each block writes its partial tile to part[split] and the last block of a\n"
    " * tile to arrive (a counter per tile) sums the splits in order: deterministic, one launch. */\n"
    "#define STAGES 4\n"
    "__device__ __forceinline__ void cp_async16(void *smem, const void *gmem) {\n"
    "    unsigned s = (unsigned)__cvta_generic_to_shared(smem);\n"
    "    asm volatile(\"cp.async.cg.shared.global [%0], [%1], 16;\\n\" ::\"r\"(s), \"l\"(gmem));\n"
    "}\n"
    "__device__ __forceinline__ void cp_async_commit() { asm volatile(\"cp.async.commit_group;\\n\" ::); }\n"
    "template <int N> __device__ __forceinline__ void cp_async_wait() { asm volatile(\"cp.async.wait_group %0;\\n\" ::\"n\"(N)); }\n"
    "__device__ __forceinline__ uint4 ld_stream(const void *p) {\n"
    "    uint4 v;\n"
    "    asm volatile(\"ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];\\n\"\n"
    "                 : \"=r\"(v.x), \"=r\"(v.y), \"=r\"(v.z), \"=r\"(v.w) : \"l\"(p));\n"
    "    return v;\n"
    "}\n"
    "__device__ __forceinline__ void mma16816(float *c, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1) {\n"
    "    asm volatile(\"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\\n\"\n"
    "                 : \"+f\"(c[0]), \"+f\"(c[1]), \"+f\"(c[2]), \"+f\"(c[3])\n"
    "                 : \"r\"(a0), \"r\"(a1), \"r\"(a2), \"r\"(a3), \"r\"(b0), \"r\"(b1));\n"
    "}\n"
    "/* x's rows for stage s (k in [kb + 64 s, kb + 64 s + 64)) into buffer s % STAGES; element\n"
    " * i = (chunk * ROWS + row) * 4 + q holds k = 32 chunk + 8 q .. + 8, so a quarter warp's 16-byte\n"
    " * fragment loads (rows g, g + 1; q = 0..3) cover 128 contiguous bytes: no bank conflicts */\n"
    "template <int MT, int WARPS>\n"
    "__device__ __forceinline__ void load_x(const __half *x, uint4 *xs, int s, int kb, int ke, int M, int K) {\n"
    "    const int ROWS = MT * 16, PER_STAGE = 8 * ROWS;\n"
    "    for (int i = threadIdx.x; i < PER_STAGE; i += WARPS * 32) {\n"
    "        int q = i & 3, r = (i >> 2) % ROWS, c = i / (4 * ROWS), k = kb + 64 * s + 32 * c + 8 * q;\n"
    "        uint4 *dst = xs + (s % STAGES) * PER_STAGE + i;\n"
    "        if (r < M && k < ke) cp_async16(dst, x + (long long)r * K + k);\n"
    "        else *dst = make_uint4(0, 0, 0, 0);\n"
    "    }\n"
    "}\n"
    "/* One stage: wait for its x, start the copy STAGES - 1 stages ahead and the next stage's\n"
    " * weights (into wn), then 2 chunks x MT row tiles x 4 output tiles x 2 k-steps of mma. */\n"
    "template <int MT, int WARPS>\n"
    "__device__ __forceinline__ void stage(const __half *x, const __half *const wr[4], uint4 *xs, float acc[MT][4][4],\n"
    "                                      const uint4 wc[2][4], uint4 wn[2][4], int s, int nst, int kb, int ke, int M, int K,\n"
    "                                      int g, int t) {\n"
    "    const int ROWS = MT * 16, PER_STAGE = 8 * ROWS;\n"
    "    cp_async_wait<STAGES - 2>();\n"
    "    __syncthreads(); /* every thread's copies of stage s landed; every warp is done with stage s - 1's buffer */\n"
    "    if (s + STAGES - 1 < nst) load_x<MT, WARPS>(x, xs, s + STAGES - 1, kb, ke, M, K);\n"
    "    cp_async_commit();\n"
    "    if (s + 1 < nst) {\n"
    "#pragma unroll\n"
    "        for (int c = 0; c < 2; c++)\n"
    "#pragma unroll\n"
    "            for (int j = 0; j < 4; j++) {\n"
    "                int k = 64 * (s + 1) + 32 * c;\n"
    "                wn[c][j] = kb + k + 8 * t < ke ? ld_stream(wr[j] + k) : make_uint4(0, 0, 0, 0);\n"
    "            }\n"
    "    }\n"
    "    const uint4 *xb = xs + (s % STAGES) * PER_STAGE;\n"
    "#pragma unroll\n"
    "    for (int c = 0; c < 2; c++)\n"
    "#pragma unroll\n"
    "        for (int m = 0; m < MT; m++) {\n"
    "            uint4 lo = xb[(c * ROWS + m * 16 + g) * 4 + t], hi = xb[(c * ROWS + m * 16 + g + 8) * 4 + t];\n"
    "#pragma unroll\n"
    "            for (int j = 0; j < 4; j++) {\n"
    "                const uint4 b = wc[c][j];\n"
    "                mma16816(acc[m][j], lo.x, hi.x, lo.y, hi.y, b.x, b.y);\n"
    "                mma16816(acc[m][j], lo.z, hi.z, lo.w, hi.w, b.z, b.w);\n"
    "            }\n"
    "        }\n"
    "}\n"
    "template <int MT, int WARPS>\n"
    "__device__ __forceinline__ void skinny(const __half *__restrict__ x, const __half *__restrict__ w, float *y, const float *res,\n"
    "                                       float *part, unsigned *counters, int M, int N, int K, int kper) {\n"
    "    extern __shared__ uint4 xs[]; /* [STAGES][2 chunks][MT * 16 rows][4 x 16 bytes] */\n"
    "    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;\n"
    "    const int kb = blockIdx.y * kper, ke = min(K, kb + kper), nst = (ke - kb + 63) >> 6;\n"
    "    const int o_warp = blockIdx.x * WARPS * 32 + warp * 32;\n"
    "    const __half *wr[4];\n"
    "#pragma unroll\n"
    "    for (int j = 0; j < 4; j++) {\n"
    "        int o = min(o_warp + 8 * j + g, N - 1); /* rows past N repeat the last one, never stored */\n"
    "        wr[j] = w + (long long)o * K + kb + 8 * t;\n"
    "    }\n"
    "    float acc[MT][4][4];\n"
    "#pragma unroll\n"
    "    for (int m = 0; m < MT; m++)\n"
    "#pragma unroll\n"
    "        for (int j = 0; j < 4; j++)\n"
    "#pragma unroll\n"
    "            for (int e = 0; e < 4; e++) acc[m][j][e] = 0.f;\n"
    "    uint4 w0[2][4]; /* [chunk][n tile]: the first stage's weights go out before anything waits */\n"
    "#pragma unroll\n"
    "    for (int c = 0; c < 2; c++)\n"
    "#pragma unroll\n"
    "        for (int j = 0; j < 4; j++)\n"
    "            w0[c][j] = kb + 32 * c + 8 * t < ke ? ld_stream(wr[j] + 32 * c) : make_uint4(0, 0, 0, 0);\n"
    "#pragma unroll\n"
    "    for (int s = 0; s < STAGES - 1; s++) {\n"
    "        if (s < nst) load_x<MT, WARPS>(x, xs, s, kb, ke, M, K);\n"
    "        cp_async_commit();\n"
    "    }\n"
    "    uint4 wa[2][4], wb[2][4];\n"
    "#pragma unroll\n"
    "    for (int c = 0; c < 2; c++)\n"
    "#pragma unroll\n"
    "        for (int j = 0; j < 4; j++) wa[c][j] = w0[c][j];\n"
    "    /* two stages a trip, so the register buffers swap by name (indexed by a variable they\n"
    "     * would live in local memory) */\n"
    "    for (int s = 0; s < nst; s += 2) {\n"
    "        stage<MT, WARPS>(x, wr, xs, acc, wa, wb, s, nst, kb, ke, M, K, g, t);\n"
    "        if (s + 1 < nst) stage<MT, WARPS>(x, wr, xs, acc, wb, wa, s + 1, nst, kb, ke, M, K, g, t);\n"
    "    }\n"
    "    /* the fragments: acc[m][j][e] is row m * 16 + g (+ 8 for e >= 2), output o_warp + 8 j + 2 t (+ 1 for odd e) */\n"
    "    const int splits = gridDim.y;\n"
    "    float *dst = splits == 1 ? y : part + (long long)blockIdx.y * M * N;\n"
    "#pragma unroll\n"
    "    for (int m = 0; m < MT; m++)\n"
    "#pragma unroll\n"
    "        for (int j = 0; j < 4; j++)\n"
    "#pragma unroll\n"
    "            for (int e = 0; e < 4; e++) {\n"
    "                int r = m * 16 + g + (e >> 1) * 8, o = o_warp + 8 * j + 2 * t + (e & 1);\n"
    "                if (r < M && o < N) {\n"
    "                    long long i = (long long)r * N + o;\n"
    "                    dst[i] = splits == 1 && res ? acc[m][j][e] + res[i] : acc[m][j][e];\n"
    "                }\n"
    "            }\n"
    "    if (splits == 1) return;\n"
    "    __shared__ int last;\n"
    "    __threadfence();\n"
    "    __syncthreads();\n"
    "    if (threadIdx.x == 0) last = atomicAdd(&counters[blockIdx.x], 1u) == (unsigned)splits - 1;\n"
    "    __syncthreads();\n"
    "    if (!last) return;\n"
    "    __threadfence();\n"
    "    const int o0 = blockIdx.x * WARPS * 32, width = min(WARPS * 32, N - o0);\n"
    "    for (int i = threadIdx.x; i < M * WARPS * 32; i += WARPS * 32) {\n"
    "        int r = i / (WARPS * 32), o = i % (WARPS * 32);\n"
    "        if (o >= width) continue;\n"
    "        long long at = (long long)r * N + o0 + o;\n"
    "        float sum = 0.f;\n"
    "        for (int sp = 0; sp < splits; sp++) sum += __ldcg(part + (long long)sp * M * N + at);\n"
    "        y[at] = res ? sum + res[at] : sum;\n"
    "    }\n"
    "    if (threadIdx.x == 0) counters[blockIdx.x] = 0; /* ready for the next call */\n"
    "}\n"
    "#define SKINNY(MT, W) extern \"C\" __global__ void __launch_bounds__(W * 32) mlcc_skinny_f16_##MT##_##W(\\\n"
    "    const __half *x, const __half *w, float *y, const float *res, float *part, unsigned *counters, int M, int N, int K, int kper) {\\\n"
    "    skinny<MT, W>(x, w, y, res, part, counters, M, N, K, kper); }\n"
    "SKINNY(1, 4) SKINNY(2, 4) SKINNY(3, 4) SKINNY(4, 4)\n"
    "SKINNY(1, 8) SKINNY(2, 8) SKINNY(3, 8) SKINNY(4, 8)\n";

const char *mlcc_cuda_skinny_kernel_source(void) {
    return kernel_source;
}

enum { MAX_DEVICES = 16, STAGES = 4, COUNTERS = 4096, MIN_K_PER_SPLIT = 256, MAX_SPLITS = 32 };

typedef struct skinny_device {
    int ready;
    mlcc_cuda_module *module;
    void *kernel[2][4]; /* [warps 4, 8][row tiles - 1] */
    unsigned *counters; /* a counter per output tile, zero between calls */
    int sms;
} skinny_device;

static skinny_device devices[MAX_DEVICES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int env_int(const char *name, int fallback) {
    const char *v = getenv(name); /* read per call: tests and benchmarks switch them */
    return v && *v ? atoi(v) : fallback;
}

int mlcc_cuda_skinny_max_rows(void) {
    if (env_int("MLCC_CUDA_SKINNY", 1) == 0) return 0;
    int n = env_int("MLCC_CUDA_SKINNY_ROWS", 64);
    return n < 0 ? 0 : n > 64 ? 64 : n;
}

/* Loads the kernels and takes the counters; 1 when it cannot now (a graph capture is under way
 * and the counters are not there yet: they must outlive the graph), -1 on an error. */
static int device_ready(int id, skinny_device **out) {
    if (id < 0 || id >= MAX_DEVICES) return mlcc_set_error("skinny matmul: device %d out of range", id);
    skinny_device *d = &devices[id];
    *out = d;
    if (d->ready) return 0;
    if (mlcc_cuda_capturing(id)) return 1;
    if (!d->module && !(d->module = mlcc_cuda_module_load_source(id, kernel_source)))
        return mlcc_prefix_error("skinny matmul kernels");
    for (int w = 0; w < 2; w++)
        for (int m = 0; m < 4; m++) {
            char name[64];
            snprintf(name, sizeof name, "mlcc_skinny_f16_%d_%d", m + 1, 4 << w);
            if (!(d->kernel[w][m] = mlcc_cuda_module_kernel(d->module, name))) return -1;
        }
    const mlcc_cuda_driver *cu = mlcc_cuda_driver_api();
    CUdevice dev;
    d->sms = 132;
    if (cu->cuDeviceGet(&dev, id) == 0) cu->cuDeviceGetAttribute(&d->sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
    if (d->sms <= 0) d->sms = 132;
    d->counters = mlcc_cuda_hooks()->alloc(id, COUNTERS * sizeof(unsigned));
    if (!d->counters) return mlcc_prefix_error("skinny matmul counters");
    if (mlcc_cuda_memset(id, d->counters, 0, COUNTERS * sizeof(unsigned))) return -1;
    d->ready = 1;
    return 0;
}

/* How a call is cut: output tiles of 32 * warps, and K split until tiles x splits reaches
 * waves x multiprocessors (each split at least MIN_K_PER_SPLIT, a multiple of 64). */
static void plan_splits(const skinny_device *d, int64_t out, int64_t in, int warps, int *tiles, int *splits, int *kper) {
    int waves = env_int("MLCC_CUDA_SKINNY_WAVES", 2);
    if (waves < 1) waves = 1;
    *tiles = (int)((out + 32 * warps - 1) / (32 * warps));
    int64_t want = ((int64_t)waves * d->sms + *tiles - 1) / *tiles;
    int64_t most = in / MIN_K_PER_SPLIT;
    if (want > most) want = most;
    if (want > MAX_SPLITS) want = MAX_SPLITS;
    if (want < 1 || *tiles > COUNTERS) want = 1;
    int64_t k = (in + want - 1) / want;
    k = (k + 63) / 64 * 64;
    *kper = (int)k;
    *splits = (int)((in + k - 1) / k);
}

int mlcc_cuda_skinny_f16(int device_id, const void *x16, const uint16_t *w, const float *r, float *y, int64_t rows,
                         int64_t out, int64_t in) {
    if (rows < 1 || rows > 64 || in % 8 || ((uintptr_t)x16 | (uintptr_t)w) % 16 || out > 0x7fffffff || in > 0x7fffffff)
        return 1;
    pthread_mutex_lock(&lock);
    skinny_device *d = NULL;
    int rc = device_ready(device_id, &d);
    if (rc != 0) {
        pthread_mutex_unlock(&lock);
        return rc;
    }
    int warps = env_int("MLCC_CUDA_SKINNY_WARPS", 4) == 8 ? 8 : 4, tiles, splits, kper;
    plan_splits(d, out, in, warps, &tiles, &splits, &kper);
    int mt = (int)((rows + 15) / 16), m = (int)rows, n = (int)out, k = (int)in;
    float *part = NULL;
    if (splits > 1 && !(part = mlcc_cuda_hooks()->alloc(device_id, (size_t)splits * (size_t)(rows * out) * sizeof(float)))) {
        pthread_mutex_unlock(&lock);
        return mlcc_prefix_error("skinny matmul: partial sums of %d splits", splits);
    }
    double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(device_id) : 0;
    uint32_t grid[3] = {(uint32_t)tiles, (uint32_t)splits, 1}, block[3] = {(uint32_t)(32 * warps), 1, 1};
    uint32_t shared = STAGES * 8 * 16 * mt * 16;
    void *args[] = {&x16, &w, &y, &r, &part, &d->counters, &m, &n, &k, &kper};
    rc = mlcc_cuda_launch(device_id, d->kernel[warps == 8][mt - 1], grid, block, shared, args);
    if (t0 > 0) {
        char name[112];
        snprintf(name, sizeof name, "linear_f16%s (skinny, %d splits) rows %lld, %lld x %lld", r ? "_add" : "", splits,
                 (long long)rows, (long long)out, (long long)in);
        mlcc_cuda_profile_end(device_id, mlcc_intern(name), t0);
    }
    if (part) mlcc_cuda_hooks()->free(device_id, part); /* stream-ordered reuse, as cuda_linear.c's x16 */
    pthread_mutex_unlock(&lock);
    return rc;
}

void mlcc_cuda_skinny_release(int device_id) {
    if (device_id < 0 || device_id >= MAX_DEVICES) return;
    pthread_mutex_lock(&lock);
    skinny_device *d = &devices[device_id];
    if (d->counters) mlcc_cuda_hooks()->free(device_id, d->counters);
    d->counters = NULL, d->ready = 0; /* taken (and zeroed) again at the next call */
    pthread_mutex_unlock(&lock);
}
