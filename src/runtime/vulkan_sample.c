/* vulkan_sample.c - greedy sampling on a Vulkan device, as cuda_sample.c does on CUDA: for each
 * row of a [rows, vocab] float32 logits tensor, the arg-max token and its log probability under
 * the row's softmax, so a greedy decode step brings back 8 bytes per sequence instead of the
 * whole row (513 KB for a 128k vocabulary) and the host skips the log-sum-exp in double.
 *
 * The arg-max matches the host sampler's (engine/sampler.c): the first index of the largest
 * value, NaN losing to any number. The log probability is logit - (max + log(sum exp(l - max)))
 * in float32 (the host computes it in double; they differ by ~1e-6). One workgroup of 256
 * invocations per row: each keeps a running (best, index) and an online (max, sum) over a
 * strided slice, then a tree in shared memory merges them (portable: no subgroup operations). */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/device.h"
#include "runtime/greedy_rows.h"
#include "runtime/vulkan.h"
#include "support/alloc.h"
#include "support/error.h"

enum { MAX_DEVICES = 8, THREADS = 256 };

static const char kernel_source[] =
    "#version 450\n"
    "layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;\n"
    "layout(std430, binding = 0) restrict readonly buffer L { float l[]; };\n"
    "layout(std430, binding = 1) restrict writeonly buffer O { uint o[]; };\n"
    "layout(push_constant) uniform Push { uint ol, oo, gx, vocab, rows; } pc;\n"
    "shared float s_best[256], s_m[256], s_s[256];\n"
    "shared int s_idx[256];\n"
    "bool better(float v, int i, float b, int bi) {\n"
    "    if (bi < 0) return i >= 0;\n"
    "    if (i < 0) return false;\n"
    "    if (isnan(b)) return !isnan(v) || i < bi;\n"
    "    if (isnan(v)) return false;\n"
    "    return v > b || (v == b && i < bi);\n"
    "}\n"
    "void main() {\n"
    "    uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;\n"
    "    if (row >= pc.gx) return;\n" /* uniform across the workgroup: no barrier is skipped by some */
    "    uint t = gl_LocalInvocationID.x, base = pc.ol + row * pc.vocab;\n"
    "    float neg_inf = uintBitsToFloat(0xff800000u);\n"
    "    float best = 0.0, m = neg_inf, s = 0.0;\n"
    "    int idx = -1;\n"
    "    for (uint i = t; i < pc.vocab; i += 256u) {\n"
    "        float v = l[base + i];\n"
    "        if (better(v, int(i), best, idx)) { best = v; idx = int(i); }\n"
    "        if (v == neg_inf || isnan(v)) continue;\n"
    "        if (v > m) { s = s * exp(m - v) + 1.0; m = v; } else s += exp(v - m);\n"
    "    }\n"
    "    s_best[t] = best; s_idx[t] = idx; s_m[t] = m; s_s[t] = s;\n"
    "    barrier();\n"
    "    for (uint h = 128u; h > 0u; h >>= 1) {\n"
    "        if (t < h) {\n"
    "            float b2 = s_best[t + h], m2 = s_m[t + h], s2 = s_s[t + h];\n"
    "            int i2 = s_idx[t + h];\n"
    "            if (better(b2, i2, s_best[t], s_idx[t])) { s_best[t] = b2; s_idx[t] = i2; }\n"
    "            float m1 = s_m[t], s1 = s_s[t], mm = max(m1, m2);\n"
    "            s_s[t] = (s1 > 0.0 ? s1 * exp(m1 - mm) : 0.0) + (s2 > 0.0 ? s2 * exp(m2 - mm) : 0.0);\n"
    "            s_m[t] = mm;\n"
    "        }\n"
    "        barrier();\n"
    "    }\n"
    "    if (t == 0u) {\n"
    "        o[pc.oo + row] = uint(s_idx[0] < 0 ? 0 : s_idx[0]);\n"
    "        o[pc.oo + pc.rows + row] = floatBitsToUint(s_s[0] > 0.0 ? s_best[0] - (s_m[0] + log(s_s[0])) : neg_inf);\n"
    "    }\n"
    "}\n";

const char *mlcc_vulkan_sample_kernel_source(void) {
    return kernel_source;
}

static void *slots[MAX_DEVICES];

int mlcc_vulkan_greedy(int device_id, const float *logits, int64_t rows, int64_t vocab, int32_t *ids, double *logprobs) {
    if (rows <= 0 || vocab <= 0 || rows > 0x7fffffff || vocab > 0x7fffffff || rows * vocab > 0xffffffffLL)
        return mlcc_set_error("greedy sampling: bad shape [%lld, %lld]", (long long)rows, (long long)vocab);
    if (device_id < 0 || device_id >= MAX_DEVICES) return mlcc_set_error("greedy sampling: vulkan:%d out of range", device_id);
    const mlcc_vulkan_library_hooks *h = mlcc_vulkan_hooks();
    size_t bytes = (size_t)rows * 8;
    void *out = h->alloc(device_id, bytes);
    if (!out) return mlcc_prefix_error("greedy sampling: %zu bytes", bytes);
    uint32_t push[6] = {0, 0, 0, (uint32_t)vocab, (uint32_t)rows, 0}; /* ol, oo, gx: the runtime's */
    void *bufs[2] = {(void *)logits, out};
    uint32_t elem[2] = {4, 4}, grid[3] = {(uint32_t)rows, 1, 1}, block[3] = {THREADS, 1, 1};
    char *host = mlcc_xmalloc(bytes);
    DLDevice dev = {kDLVulkan, device_id};
    const MLCCDeviceAPI *api = mlcc_copy_api(dev, MLCC_CPU);
    int rc = h->launch(&slots[device_id], device_id, kernel_source, "mlcc_greedy_rows", grid, block, bufs, elem, 2, push,
                       sizeof push);
    if (rc == 0) rc = api ? api->copy(out, dev, host, MLCC_CPU, bytes, NULL) : -1; /* waits for the queue */
    if (rc == 0) mlcc_greedy_rows_unpack(host, rows, ids, logprobs);
    free(host);
    h->free(device_id, out);
    return rc ? mlcc_prefix_error("greedy sampling on vulkan:%d", device_id) : 0;
}
