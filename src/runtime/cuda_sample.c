/* cuda_sample.c - greedy sampling on the GPU: for each row of a [rows, vocab] float32 logits
 * tensor on a CUDA device, the arg-max token and its log probability under the softmax of the
 * row, so a greedy decode step brings back 8 bytes per sequence instead of the whole row
 * (513 KB for a 128k vocabulary; the host then spent more time on the copy and on the
 * log-sum-exp in double than the GPU on a layer).
 *
 * The arg-max matches the host sampler's (engine/sampler.c): the first index of the largest
 * value, NaN losing to any number. The log probability is logit - (max + log(sum exp(l - max)))
 * in float32 (the host computes it in double; they differ by ~1e-6). One block per row: threads
 * keep a running (best, index) and an online (max, sum) over a strided slice, then warps and
 * the block merge them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda.h"
#include "runtime/device.h"
#include "support/alloc.h"
#include "support/error.h"

static const char *const kernel_source =
    "#define NEG_INF __int_as_float(0xff800000)\n"
    "struct st { float best; int idx; float m, s; };\n"
    "__device__ __forceinline__ bool is_nan(float v) { return v != v; }\n"
    "__device__ __forceinline__ bool better(float v, int i, float b, int bi) {\n"
    "    if (bi < 0) return i >= 0;\n"
    "    if (i < 0) return false;\n"
    "    if (is_nan(b)) return !is_nan(v) || i < bi;\n"
    "    if (is_nan(v)) return false;\n"
    "    return v > b || (v == b && i < bi);\n"
    "}\n"
    "__device__ __forceinline__ st merge(st a, st b) {\n"
    "    st r;\n"
    "    if (better(b.best, b.idx, a.best, a.idx)) r.best = b.best, r.idx = b.idx;\n"
    "    else r.best = a.best, r.idx = a.idx;\n"
    "    r.m = fmaxf(a.m, b.m);\n"
    "    r.s = (a.s > 0.f ? a.s * expf(a.m - r.m) : 0.f) + (b.s > 0.f ? b.s * expf(b.m - r.m) : 0.f);\n"
    "    return r;\n"
    "}\n"
    "__device__ __forceinline__ st shfl(st a, int d) {\n"
    "    st r;\n"
    "    r.best = __shfl_xor_sync(0xffffffffu, a.best, d);\n"
    "    r.idx = __shfl_xor_sync(0xffffffffu, a.idx, d);\n"
    "    r.m = __shfl_xor_sync(0xffffffffu, a.m, d);\n"
    "    r.s = __shfl_xor_sync(0xffffffffu, a.s, d);\n"
    "    return r;\n"
    "}\n"
    "extern \"C\" __global__ void __launch_bounds__(1024) mlcc_greedy_rows(const float *logits, long long vocab,\n"
    "                                                                      int *ids, float *logprobs) {\n"
    "    const float *row = logits + (long long)blockIdx.x * vocab;\n"
    "    st a = {0.f, -1, NEG_INF, 0.f};\n"
    "    for (long long i = threadIdx.x; i < vocab; i += blockDim.x) {\n"
    "        float v = row[i];\n"
    "        if (better(v, (int)i, a.best, a.idx)) a.best = v, a.idx = (int)i;\n"
    "        if (v == NEG_INF || is_nan(v)) continue;\n"
    "        if (v > a.m) a.s = a.s * expf(a.m - v) + 1.f, a.m = v;\n"
    "        else a.s += expf(v - a.m);\n"
    "    }\n"
    "    for (int d = 16; d > 0; d >>= 1) a = merge(a, shfl(a, d));\n"
    "    __shared__ st part[32];\n"
    "    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nwarps = (blockDim.x + 31) >> 5;\n"
    "    if (lane == 0) part[warp] = a;\n"
    "    __syncthreads();\n"
    "    if (warp == 0) {\n"
    "        st b = lane < nwarps ? part[lane] : st{0.f, -1, NEG_INF, 0.f};\n"
    "        for (int d = 16; d > 0; d >>= 1) b = merge(b, shfl(b, d));\n"
    "        if (lane == 0) {\n"
    "            ids[blockIdx.x] = b.idx < 0 ? 0 : b.idx;\n"
    "            logprobs[blockIdx.x] = b.s > 0.f ? b.best - (b.m + logf(b.s)) : NEG_INF;\n"
    "        }\n"
    "    }\n"
    "}\n";

const char *mlcc_cuda_sample_kernel_source(void) {
    return kernel_source;
}

static mlcc_cuda_kernel_once greedy_kernel = {.source = kernel_source, .name = "mlcc_greedy_rows"};

int mlcc_cuda_greedy(int device_id, const float *logits, int64_t rows, int64_t vocab, int32_t *ids, double *logprobs) {
    if (rows <= 0 || vocab <= 0 || rows > 0x7fffffff || vocab > 0x7fffffff)
        return mlcc_set_error("greedy sampling: bad shape [%lld, %lld]", (long long)rows, (long long)vocab);
    void *f = mlcc_cuda_kernel_once_get(&greedy_kernel, device_id);
    if (!f) return mlcc_prefix_error("greedy sampling kernel");
    const mlcc_cuda_library_hooks *h = mlcc_cuda_hooks();
    size_t bytes = (size_t)rows * 8;
    char *out = h->alloc(device_id, bytes);
    if (!out) return mlcc_prefix_error("greedy sampling: %zu bytes", bytes);
    int32_t *d_ids = (int32_t *)out;
    float *d_lps = (float *)(out + (size_t)rows * 4);
    long long v = vocab;
    uint32_t grid[3] = {(uint32_t)rows, 1, 1}, block[3] = {1024, 1, 1};
    void *args[] = {&logits, &v, &d_ids, &d_lps};
    char *host = mlcc_xmalloc(bytes);
    DLDevice dev = {kDLCUDA, device_id};
    const MLCCDeviceAPI *api = mlcc_copy_api(dev, MLCC_CPU);
    double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(device_id) : 0;
    int rc = mlcc_cuda_launch(device_id, f, grid, block, 0, args);
    if (t0 > 0) mlcc_cuda_profile_end(device_id, "greedy", t0);
    if (rc == 0) rc = api ? api->copy(out, dev, host, MLCC_CPU, bytes, NULL) : -1; /* waits for the stream */
    if (rc == 0) {
        for (int64_t r = 0; r < rows; r++) {
            float lp;
            memcpy(&ids[r], host + r * 4, 4);
            memcpy(&lp, host + (size_t)rows * 4 + (size_t)r * 4, 4);
            logprobs[r] = lp;
        }
    }
    free(host);
    h->free(device_id, out);
    return rc ? mlcc_prefix_error("greedy sampling on cuda:%d", device_id) : 0;
}
