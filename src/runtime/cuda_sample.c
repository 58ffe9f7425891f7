/* cuda_sample.c - greedy sampling on the GPU: for each row of a [rows, vocab] float32 logits
 * tensor on a CUDA device, the arg-max token and its log probability under the softmax of the
 * row, so a greedy decode step brings back 8 bytes per sequence instead of the whole row
 * (513 KB for a 128k vocabulary; the host then spent more time on the copy and on the
 * log-sum-exp in double than the GPU on a layer).
 *
 * The arg-max matches the host sampler's (engine/sampler.c): the first index of the largest
 * value, NaN losing to any number. The log probability is logit - (max + log(sum exp(l - max)))
 * in float32 (the host computes it in double; they differ by ~1e-6). A row is split over
 * ~vocab / 2048 blocks (MLCC_CUDA_GREEDY_SPLIT=0: one block a row): threads keep a running
 * (best, index) and an online (max, sum) over a strided slice, warps and the block merge them,
 * and the row's last block merges the blocks' states in a fixed order (deterministic), so one
 * launch reads the row at the memory's pace instead of one multiprocessor's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/cuda.h"
#include "runtime/cuda_pdl.h"
#include "runtime/device.h"
#include "runtime/greedy_rows.h"
#include "support/alloc.h"
#include "support/error.h"

static const char *const kernel_source = MLCC_CUDA_PDL_HELPERS MLCC_PDL_DECLARATION " mlcc_greedy\n"
    "#define NEG_INF __int_as_float(0xff800000)\n"
    "struct __align__(16) st { float best; int idx; float m, s; };\n"
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
    "/* The block's states merged (a fixed tree: deterministic); valid in thread 0. */\n"
    "__device__ __forceinline__ st block_merge(st a) {\n"
    "    __shared__ st part[32];\n"
    "    for (int d = 16; d > 0; d >>= 1) a = merge(a, shfl(a, d));\n"
    "    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, nwarps = (blockDim.x + 31) >> 5;\n"
    "    if (lane == 0) part[warp] = a;\n"
    "    __syncthreads();\n"
    "    st b = st{0.f, -1, NEG_INF, 0.f};\n"
    "    if (warp == 0) {\n"
    "        if (lane < nwarps) b = part[lane];\n"
    "        for (int d = 16; d > 0; d >>= 1) b = merge(b, shfl(b, d));\n"
    "    }\n"
    "    return b;\n"
    "}\n"
    "/* Block (r, j) of a grid (rows, S) takes entries [j * chunk, (j + 1) * chunk) of row r: threads keep\n"
    " * a running (best, index) and an online (max, sum), merged over the block. With S > 1 each block\n"
    " * leaves its state in part[r * S + j]; the row's last block to finish (count[r], which atomicInc\n"
    " * wraps back to 0 for the next call) merges the S states in order and writes the row's answer. */\n"
    "extern \"C\" __global__ void __launch_bounds__(1024) mlcc_greedy_split(const float *logits, long long vocab, int chunk,\n"
    "                                                                     st *part, unsigned *count, int *ids,\n"
    "                                                                     float *logprobs) {\n"
    "    mlcc_pdl_begin(0, 0);\n"
    "    const int r = blockIdx.x, S = gridDim.y;\n"
    "    const float *row = logits + (long long)r * vocab;\n"
    "    const long long begin = (long long)blockIdx.y * chunk, end = min(vocab, begin + chunk);\n"
    "    st a = {0.f, -1, NEG_INF, 0.f};\n"
    "#pragma unroll 8\n"
    "    for (long long i = begin + threadIdx.x; i < end; i += blockDim.x) {\n"
    "        float v = row[i];\n"
    "        if (better(v, (int)i, a.best, a.idx)) a.best = v, a.idx = (int)i;\n"
    "        if (v == NEG_INF || is_nan(v)) continue;\n"
    "        if (v > a.m) a.s = a.s * expf(a.m - v) + 1.f, a.m = v;\n"
    "        else a.s += expf(v - a.m);\n"
    "    }\n"
    "    st b = block_merge(a);\n"
    "    if (S > 1) {\n"
    "        __shared__ bool last;\n"
    "        if (threadIdx.x == 0) {\n"
    "            part[(long long)r * S + blockIdx.y] = b;\n"
    "            __threadfence();\n"
    "            last = atomicInc(count + r, (unsigned)S - 1) == (unsigned)S - 1;\n"
    "        }\n"
    "        __syncthreads();\n"
    "        if (!last) return;\n"
    "        __threadfence();\n"
    "        st c = {0.f, -1, NEG_INF, 0.f};\n"
    "        for (int j = threadIdx.x; j < S; j += blockDim.x) {\n"
    "            float4 q = __ldcg(reinterpret_cast<const float4 *>(part + (long long)r * S + j));\n"
    "            c = merge(c, st{q.x, __float_as_int(q.y), q.z, q.w});\n"
    "        }\n"
    "        b = block_merge(c);\n"
    "    }\n"
    "    if (threadIdx.x == 0) {\n"
    "        ids[r] = b.idx < 0 ? 0 : b.idx;\n"
    "        logprobs[r] = b.s > 0.f ? b.best - (b.m + logf(b.s)) : NEG_INF;\n"
    "    }\n"
    "}\n";

const char *mlcc_cuda_sample_kernel_source(void) {
    return kernel_source;
}

static mlcc_cuda_kernel_once greedy_kernel = {.source = kernel_source, .name = "mlcc_greedy_split"};

/* Entries a block reads: a 128k row becomes ~63 blocks (one block read it all: ~73 us a step on
 * an H100, now near the row's read time plus one launch). */
enum { CHUNK = 2048, MAX_SPLITS = 1024, STATE_BYTES = 16 };

int mlcc_cuda_greedy(int device_id, const float *logits, int64_t rows, int64_t vocab, int32_t *ids, double *logprobs) {
    if (rows <= 0 || vocab <= 0 || rows > 0x7fffffff || vocab > 0x7fffffff)
        return mlcc_set_error("greedy sampling: bad shape [%lld, %lld]", (long long)rows, (long long)vocab);
    void *f = mlcc_cuda_kernel_once_get(&greedy_kernel, device_id);
    if (!f) return mlcc_prefix_error("greedy sampling kernel");
    int64_t splits = (vocab + CHUNK - 1) / CHUNK;
    if (splits > MAX_SPLITS) splits = MAX_SPLITS;
    int chunk = (int)((vocab + splits - 1) / splits);
    uint32_t threads = 256;
    const char *v = getenv("MLCC_CUDA_GREEDY_SPLIT"); /* 0: one block of 1024 threads a row, as before */
    if (v && strcmp(v, "0") == 0) splits = 1, chunk = (int)vocab, threads = 1024;
    const mlcc_cuda_library_hooks *h = mlcc_cuda_hooks();
    size_t out_bytes = (size_t)rows * 8, count_bytes = (size_t)rows * 4;
    size_t part_offset = (out_bytes + count_bytes + STATE_BYTES - 1) / STATE_BYTES * STATE_BYTES;
    size_t bytes = part_offset + (splits > 1 ? (size_t)rows * (size_t)splits * STATE_BYTES : 0);
    char *out = h->alloc(device_id, bytes);
    if (!out) return mlcc_prefix_error("greedy sampling: %zu bytes", bytes);
    int32_t *d_ids = (int32_t *)out;
    float *d_lps = (float *)(out + (size_t)rows * 4);
    unsigned *d_count = (unsigned *)(out + out_bytes);
    void *d_part = out + part_offset;
    long long vv = vocab;
    uint32_t grid[3] = {(uint32_t)rows, (uint32_t)splits, 1}, block[3] = {threads, 1, 1};
    void *args[] = {&logits, &vv, &chunk, &d_part, &d_count, &d_ids, &d_lps};
    char *host = mlcc_xmalloc(out_bytes);
    DLDevice dev = {kDLCUDA, device_id};
    const MLCCDeviceAPI *api = mlcc_copy_api(dev, MLCC_CPU);
    int rc = splits > 1 ? mlcc_cuda_memset(device_id, d_count, 0, count_bytes) : 0;
    double t0 = mlcc_cuda_profiling() ? mlcc_cuda_profile_begin(device_id) : 0;
    if (rc == 0) rc = mlcc_cuda_launch(device_id, f, grid, block, 0, args);
    if (t0 > 0) mlcc_cuda_profile_end(device_id, "greedy", t0);
    if (rc == 0) rc = api ? api->copy(out, dev, host, MLCC_CPU, out_bytes, NULL) : -1; /* waits for the stream */
    if (rc == 0) mlcc_greedy_rows_unpack(host, rows, ids, logprobs);
    free(host);
    h->free(device_id, out);
    return rc ? mlcc_prefix_error("greedy sampling on cuda:%d", device_id) : 0;
}
