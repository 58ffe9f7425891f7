/* cuda_linear_skinny.c - y[rows, out] = x[rows, in] @ W[out, in]^T (float32 x and y, float16 W)
 * for 16 < rows <= 128 on tensor cores, streaming W once: the batched-decode projection.
 *
 * Why not cuBLASLt there: at 64 rows its tiles cover a few hundred outputs each, so a 4096-output
 * projection runs on a few dozen blocks and the step reads its weights at a fraction of the copy
 * rate (measured on the H100, 4 layers of the Llama-3-8B shape at batch 64: 125 us per cuBLASLt
 * call, ~5x the time its weight takes to stream; the GEMV reads W once per 16 rows). Here a warp
 * owns a few outputs and all the rows, blocks split K so every multiprocessor streams, and the
 * mma.sync instructions (half inputs, float32 accumulation) make the arithmetic free; x is read
 * as float32 and rounded to half in registers (no conversion pass, no workspace for x).
 * Splits of K write float32 partials that a second kernel adds in a fixed order (deterministic).
 * Used by mlcc_cuda_linear_f16 (runtime/cuda_linear.c) for rows in (MLCC_CUDA_GEMV_ROWS,
 * MLCC_CUDA_SKINNY_ROWS] (default 128; 0: off) when in % 32 == 0 and x, W are 16-byte aligned. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "runtime/cuda.h"
#include "support/error.h"

static const char *const kernel_source =
    "#include <cuda_fp16.h>\n"
    "/* y[R, N] = x[R, K] W[N, K]^T for 16 < R <= 128 rows (batched decode): W (half) is streamed once\n"
    " * from memory while the tensor cores do the arithmetic. A warp owns 8 NTW outputs and all R\n"
    " * rows (MT tiles of 16) over a range of K (split-K: grid.y); per chunk of 32 k a lane loads 16\n"
    " * bytes of each of its W rows and 2 x 16 bytes of x (float32, rounded to half in registers).\n"
    " * The k order inside a chunk is permuted the same way for x and W (a lane's 8 consecutive\n"
    " * halves feed two mma k-steps), which a sum does not notice, so every load is 16 bytes wide.\n"
    " * Splits write float32 partials [split, R, N] that mlcc_skinny_reduce adds in a fixed order. */\n"
    "__device__ __forceinline__ void mma16816(float *c, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0,\n"
    "                                         unsigned b1) {\n"
    "    asm volatile(\"mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, \"\n"
    "                 \"{%0,%1,%2,%3};\\n\"\n"
    "                 : \"+f\"(c[0]), \"+f\"(c[1]), \"+f\"(c[2]), \"+f\"(c[3])\n"
    "                 : \"r\"(a0), \"r\"(a1), \"r\"(a2), \"r\"(a3), \"r\"(b0), \"r\"(b1));\n"
    "}\n"
    "\n"
    "__device__ __forceinline__ uint4 load_stream(const __half *p) { /* read once: keep L1 for x */\n"
    "    uint4 v;\n"
    "    asm volatile(\"ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];\\n\"\n"
    "                 : \"=r\"(v.x), \"=r\"(v.y), \"=r\"(v.z), \"=r\"(v.w)\n"
    "                 : \"l\"(p));\n"
    "    return v;\n"
    "}\n"
    "\n"
    "__device__ __forceinline__ unsigned h2(float a, float b) {\n"
    "    __half2 h = __floats2half2_rn(a, b);\n"
    "    return *reinterpret_cast<unsigned *>(&h);\n"
    "}\n"
    "\n"
    "/* 8 consecutive floats of x as 4 half2: .x = k 0-1, .y = 2-3, .z = 4-5, .w = 6-7 */\n"
    "__device__ __forceinline__ uint4 load_x(const float *p) {\n"
    "    float4 a = __ldg(reinterpret_cast<const float4 *>(p)), b = __ldg(reinterpret_cast<const float4 *>(p) + 1);\n"
    "    return make_uint4(h2(a.x, a.y), h2(a.z, a.w), h2(b.x, b.y), h2(b.z, b.w));\n"
    "}\n"
    "\n"
    "template <int MT, int NTW>\n"
    "__device__ __forceinline__ void skinny(const float *__restrict__ x, const __half *__restrict__ w, float *__restrict__ y,\n"
    "                                       int R, int N, int K, int chunks_per_split) {\n"
    "    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, grp = lane >> 2, tig = lane & 3;\n"
    "    const int n_base = (blockIdx.x * (blockDim.x >> 5) + warp) * (8 * NTW);\n"
    "    if (n_base >= N) return;\n"
    "    const int c_begin = blockIdx.y * chunks_per_split, c_end = min(c_begin + chunks_per_split, K / 32);\n"
    "    float acc[MT][NTW][4];\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < MT; i++)\n"
    "#pragma unroll\n"
    "        for (int j = 0; j < NTW; j++) acc[i][j][0] = acc[i][j][1] = acc[i][j][2] = acc[i][j][3] = 0.f;\n"
    "    const __half *wrow[NTW];\n"
    "    bool wok[NTW];\n"
    "#pragma unroll\n"
    "    for (int j = 0; j < NTW; j++) {\n"
    "        int n = n_base + j * 8 + grp;\n"
    "        wok[j] = n < N;\n"
    "        wrow[j] = w + (long long)(wok[j] ? n : 0) * K + tig * 8;\n"
    "    }\n"
    "    const float *xrow[MT][2];\n"
    "    bool xok[MT][2];\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < MT; i++)\n"
    "#pragma unroll\n"
    "        for (int h = 0; h < 2; h++) {\n"
    "            int r = i * 16 + h * 8 + grp;\n"
    "            xok[i][h] = r < R;\n"
    "            xrow[i][h] = x + (long long)(xok[i][h] ? r : 0) * K + tig * 8;\n"
    "        }\n"
    "#pragma unroll (MT <= 4 ? 2 : 1)\n"
    "    for (int c = c_begin; c < c_end; c++) {\n"
    "        const int k = c * 32;\n"
    "        uint4 wv[NTW], xv[MT][2];\n"
    "#pragma unroll\n"
    "        for (int j = 0; j < NTW; j++) wv[j] = wok[j] ? load_stream(wrow[j] + k) : make_uint4(0, 0, 0, 0);\n"
    "#pragma unroll\n"
    "        for (int i = 0; i < MT; i++)\n"
    "#pragma unroll\n"
    "            for (int h = 0; h < 2; h++) xv[i][h] = xok[i][h] ? load_x(xrow[i][h] + k) : make_uint4(0, 0, 0, 0);\n"
    "#pragma unroll\n"
    "        for (int i = 0; i < MT; i++)\n"
    "#pragma unroll\n"
    "            for (int j = 0; j < NTW; j++) {\n"
    "                mma16816(acc[i][j], xv[i][0].x, xv[i][1].x, xv[i][0].y, xv[i][1].y, wv[j].x, wv[j].y);\n"
    "                mma16816(acc[i][j], xv[i][0].z, xv[i][1].z, xv[i][0].w, xv[i][1].w, wv[j].z, wv[j].w);\n"
    "            }\n"
    "    }\n"
    "    float *dst = y + (long long)blockIdx.y * R * N;\n"
    "#pragma unroll\n"
    "    for (int i = 0; i < MT; i++)\n"
    "#pragma unroll\n"
    "        for (int j = 0; j < NTW; j++) {\n"
    "            int n = n_base + j * 8 + tig * 2;\n"
    "#pragma unroll\n"
    "            for (int h = 0; h < 2; h++) {\n"
    "                int r = i * 16 + h * 8 + grp;\n"
    "                if (r >= R) continue;\n"
    "                if (n < N) dst[(long long)r * N + n] = acc[i][j][2 * h];\n"
    "                if (n + 1 < N) dst[(long long)r * N + n + 1] = acc[i][j][2 * h + 1];\n"
    "            }\n"
    "        }\n"
    "}\n"
    "\n"
    "#define SKINNY(MT, NTW)                                                                                              \\\n"
    "    extern \"C\" __global__ void __launch_bounds__(128) mlcc_skinny_f16w_##MT(const float *x, const __half *w, float *y, \\\n"
    "                                                                          int R, int N, int K, int cps) {           \\\n"
    "        skinny<MT, NTW>(x, w, y, R, N, K, cps);                                                                      \\\n"
    "    }\n"
    "SKINNY(2, 4)\n"
    "SKINNY(4, 4)\n"
    "SKINNY(8, 2)\n"
    "\n"
    "extern \"C\" __global__ void __launch_bounds__(256) mlcc_skinny_reduce(const float *parts, float *y, long long n, int splits) {\n"
    "    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {\n"
    "        float s = 0.f;\n"
    "        for (int p = 0; p < splits; p++) s += parts[p * n + i];\n"
    "        y[i] = s;\n"
    "    }\n"
    "}\n";

const char *mlcc_cuda_skinny_kernel_source(void) {
    return kernel_source;
}

enum { MAX_DEVICES = 16, MAX_ROWS = 128, WARPS = 4, TARGET_BLOCKS = 4 * 132 /* ~4 per multiprocessor of an H100 */ };

typedef struct skinny_device {
    int ready;
    mlcc_cuda_module *module;
    void *kernel[3]; /* 2, 4, 8 row tiles */
    void *reduce;
} skinny_device;

static skinny_device devices[MAX_DEVICES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

int mlcc_cuda_skinny_rows_limit(void) {
    const char *v = getenv("MLCC_CUDA_SKINNY_ROWS");
    int n = v && *v ? atoi(v) : MAX_ROWS;
    return n < 0 ? 0 : n > MAX_ROWS ? MAX_ROWS : n;
}

int mlcc_cuda_skinny_applies(const float *x, const uint16_t *w, int64_t rows, int64_t out, int64_t in) {
    return rows > 16 && rows <= mlcc_cuda_skinny_rows_limit() && in % 32 == 0 && in <= 0x7fffffff &&
           out <= 0x7fffffff && ((uintptr_t)x | (uintptr_t)w) % 16 == 0;
}

static int device_ready(int id, skinny_device **out) {
    if (id < 0 || id >= MAX_DEVICES) return mlcc_set_error("cuda skinny matmul: device %d out of range", id);
    skinny_device *d = &devices[id];
    *out = d;
    if (d->ready) return 0;
    d->module = mlcc_cuda_module_load_source(id, kernel_source);
    if (!d->module) return mlcc_prefix_error("cuda skinny matmul kernels");
    static const char *const names[3] = {"mlcc_skinny_f16w_2", "mlcc_skinny_f16w_4", "mlcc_skinny_f16w_8"};
    for (int i = 0; i < 3; i++)
        if (!(d->kernel[i] = mlcc_cuda_module_kernel(d->module, names[i]))) return -1;
    if (!(d->reduce = mlcc_cuda_module_kernel(d->module, "mlcc_skinny_reduce"))) return -1;
    d->ready = 1;
    return 0;
}

int mlcc_cuda_linear_f16_skinny(int device_id, const float *x, const uint16_t *w, float *y, int64_t rows, int64_t out,
                                int64_t in) {
    if (!mlcc_cuda_skinny_applies(x, w, rows, out, in))
        return mlcc_set_error("cuda skinny matmul: %lld x %lld x %lld is not covered", (long long)rows, (long long)out,
                              (long long)in);
    pthread_mutex_lock(&lock);
    skinny_device *d = NULL;
    int rc = device_ready(device_id, &d);
    pthread_mutex_unlock(&lock);
    if (rc) return -1;
    int pick = rows <= 32 ? 0 : rows <= 64 ? 1 : 2, outs_per_warp = pick == 2 ? 16 : 32;
    int64_t blocks_n = (out + (int64_t)WARPS * outs_per_warp - 1) / ((int64_t)WARPS * outs_per_warp);
    int64_t chunks = in / 32, splits = (TARGET_BLOCKS + blocks_n - 1) / blocks_n;
    if (splits > chunks / 8) splits = chunks / 8; /* at least 8 chunks of 32 per split */
    if (splits > 32) splits = 32;
    if (splits < 1) splits = 1;
    int64_t per_split = (chunks + splits - 1) / splits;
    splits = (chunks + per_split - 1) / per_split;
    float *parts = y;
    if (splits > 1 && !(parts = mlcc_cuda_hooks()->alloc(device_id, sizeof(float) * (size_t)(splits * rows * out))))
        return mlcc_prefix_error("cuda skinny matmul: %lld partial sums", (long long)(splits * rows * out));
    int R = (int)rows, N = (int)out, K = (int)in, cps = (int)per_split;
    void *args[] = {&x, &w, &parts, &R, &N, &K, &cps};
    uint32_t grid[3] = {(uint32_t)blocks_n, (uint32_t)splits, 1}, block[3] = {32 * WARPS, 1, 1};
    rc = mlcc_cuda_launch(device_id, d->kernel[pick], grid, block, 0, args);
    if (rc == 0 && splits > 1) {
        long long n = rows * out;
        int s = (int)splits;
        void *rargs[] = {&parts, &y, &n, &s};
        uint32_t rgrid[3] = {(uint32_t)(n / 256 < 4096 ? n / 256 + 1 : 4096), 1, 1}, rblock[3] = {256, 1, 1};
        rc = mlcc_cuda_launch(device_id, d->reduce, rgrid, rblock, 0, rargs);
    }
    if (splits > 1) mlcc_cuda_hooks()->free(device_id, parts); /* stream-ordered reuse, as cuda_linear.c */
    return rc ? mlcc_prefix_error("cuda skinny matmul") : 0;
}
