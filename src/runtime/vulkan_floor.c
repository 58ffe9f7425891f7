/* vulkan_floor.c - the two ceilings of a Vulkan device, measured in the run that compares with
 * them (`mlcc bench --device vulkan`, bench/), as cuda_floor.c does for CUDA: the copy rate of a
 * compute shader (16-byte loads and stores, over a buffer of at most 1 GiB and the device's
 * maxStorageBufferRange; bytes read plus bytes written, as decode streams
 * weights; vkCmdCopyBuffer is no floor: on the H100 it runs on a copy engine at ~840 GB/s while
 * kernels read at ~3000), and the rate of the float16-weight GEMM the prefill projections take
 * (mlcc_vulkan_linear_f16's tiled kernel). Host clocks around synchronized batches: each timed
 * batch is many milliseconds long. */
#include <stdlib.h>

#include "runtime/device_floor.h"
#include "runtime/vulkan_internal.h"
#include "support/error.h"

static const char copy_source[] =
    "#version 450\n"
    "layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;\n"
    "layout(std430, binding = 0) restrict readonly buffer S { uvec4 s[]; };\n"
    "layout(std430, binding = 1) restrict writeonly buffer D { uvec4 d[]; };\n"
    "layout(push_constant) uniform Push { uint os, od, gx, n; } pc;\n"
    "void main() {\n"
    "    uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;\n"
    "    uint i = wg * 256u + gl_LocalInvocationID.x;\n"
    "    if (wg < pc.gx && i < pc.n) d[pc.od + i] = s[pc.os + i];\n"
    "}\n";

static void *copy_slot[16];

static int copy_kernel(int id, void *src, void *dst, uint32_t n16) {
    uint32_t push[4] = {0, 0, 0, n16}, grid[3] = {(n16 + 255) / 256, 1, 1}, block[3] = {256, 1, 1},
             elem[2] = {16, 16};
    void *bufs[2] = {src, dst};
    return mlcc_vulkan_hooks()->launch(&copy_slot[id & 15], id, copy_source, "floor_copy", grid,
                                       block, bufs, elem, 2, push, sizeof push);
}

typedef struct floor_args {
    int device_id;
    MLCCNDArray *a, *b; /* copy: two buffers of n16 16-byte words */
    uint32_t n16;
} floor_args;

static int copy_op(void *ctx, int i) {
    floor_args *f = ctx;
    return copy_kernel(f->device_id, i % 2 ? f->b->dl.data : f->a->dl.data,
                       i % 2 ? f->a->dl.data : f->b->dl.data, f->n16);
}

double mlcc_vulkan_copy_bandwidth(int device_id, size_t bytes, int reps) {
    mlcc_vk_device *d = mlcc_vk_get_device(device_id);
    if (!d) return 0;
    if (bytes > ((size_t)1 << 30)) bytes = (size_t)1 << 30; /* 20x the L2 of an H100 */
    if (bytes > d->props.limits.maxStorageBufferRange)
        bytes = d->props.limits.maxStorageBufferRange; /* lavapipe: 128 MiB */
    bytes &= ~(size_t)15;
    floor_args f = {.device_id = device_id,
                    .a = device_floor_bytes(kDLVulkan, device_id, bytes),
                    .b = device_floor_bytes(kDLVulkan, device_id, bytes),
                    .n16 = (uint32_t)(bytes / 16)};
    double best = 0;
    if (f.a && f.b && mlcc_vulkan_memset(device_id, f.a->dl.data, 0x3c, bytes) == 0 &&
        copy_kernel(device_id, f.a->dl.data, f.b->dl.data, f.n16) == 0 &&
        mlcc_vulkan_synchronize(device_id) == 0)
        best = device_floor_best_rate(reps, 4, 2.0 * (double)bytes, copy_op, &f,
                                      mlcc_vulkan_synchronize, device_id);
    mlcc_ndarray_release(f.a), mlcc_ndarray_release(f.b);
    return best;
}

double mlcc_vulkan_gemm_f16_rate(int device_id, int n, int reps) {
    return device_floor_gemm_f16_rate(kDLVulkan, device_id, n, reps, 4, mlcc_vulkan_linear_f16,
                                      mlcc_vulkan_synchronize);
}
