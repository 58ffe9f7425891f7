/* test_vulkan_runtime.c - the Vulkan device without the compiler: NDArrays on vulkan:0 (copies
 * both ways, views at an offset, device-to-device copies ordered with kernels), the caching
 * allocator, a hand-written GLSL kernel launched through the library hooks (storage buffers with
 * element offsets, push-constant scalars, a workgroup size chosen per call, an x grid longer
 * than the device allows folded into y), clear errors (bad GLSL, a pointer that is not device
 * memory, a device that does not exist), and the SPIR-V and pipeline caches on disk.
 * Without a device (or glslang) it skips, printing why. MLCC_VULKAN_STAGING=1 (the ctest case
 * vulkan_staging) runs the same with copies through staging buffers. */
#include <dirent.h>

#include "runtime/vulkan.h"
#include "support/error.h"
#include "support/file.h"
#include "test.h"

static const DLDevice VK0 = {kDLVulkan, 0};

/* y[off..] = a * x + b per element, i < n; x and y float, n int64, a float */
static const char saxpy_glsl[] =
    "#version 450\n"
    "#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require\n"
    "layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;\n"
    "layout(std430, set = 0, binding = 0) buffer B0 { float d[]; } x;\n"
    "layout(std430, set = 0, binding = 1) buffer B1 { float d[]; } y;\n"
    "layout(push_constant) uniform P { layout(offset = 0) uint o_x; layout(offset = 4) uint o_y;\n"
    "  layout(offset = 8) uint gx; layout(offset = 16) int64_t n; layout(offset = 24) float a; } pc;\n"
    "void main() {\n"
    "  uint bx = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;\n"
    "  if (bx >= pc.gx) return;\n"
    "  int64_t i = int64_t(bx) * int64_t(gl_WorkGroupSize.x) + int64_t(gl_LocalInvocationID.x);\n"
    "  if (i < pc.n) y.d[int(pc.o_y) + int(i)] = pc.a * x.d[int(pc.o_x) + int(i)] + 1.0;\n"
    "}\n";

static int saxpy(void **slot, float *x_dev, float *y_dev, int64_t n, float a, uint32_t block) {
    const mlcc_vulkan_library_hooks *h = mlcc_vulkan_hooks();
    uint64_t push[4] = {0};
    memcpy((char *)push + 16, &n, 8);
    memcpy((char *)push + 24, &a, 4);
    uint32_t grid[3] = {(uint32_t)((n + block - 1) / block), 1, 1}, wg[3] = {block, 1, 1};
    void *bufs[2] = {x_dev, y_dev};
    uint32_t eb[2] = {4, 4};
    return h->launch(slot, 0, saxpy_glsl, "saxpy", grid, wg, bufs, eb, 2, push, 32);
}

static int count_files(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        n += len > sl && strcmp(e->d_name + len - sl, suffix) == 0;
    }
    closedir(d);
    return n;
}

int main(void) {
    setenv("MLCC_VULKAN_PROFILE", "1", 1); /* before the device is created */
    if (!mlcc_vulkan_available()) TEST_SKIP("%s", mlcc_vulkan_status());
    if (!mlcc_glsl_compiler_available()) TEST_SKIP("%s", mlcc_glsl_compiler_status());
    printf("%s\n", mlcc_vulkan_status());
    CHECK(mlcc_vulkan_device_count() >= 1);

    /* round trip through a view at an offset of a larger array */
    enum { N = 5000 };
    int64_t shape[1] = {N};
    MLCCNDArray *host = mlcc_ndarray_empty(1, shape, MLCC_DTYPE_F32, MLCC_CPU);
    float *hp = host->dl.data;
    for (int i = 0; i < N; i++) hp[i] = (float)i * 0.5f - 7.0f;
    MLCCNDArray *dev = mlcc_ndarray_empty(1, shape, MLCC_DTYPE_F32, VK0);
    CHECK_MSG(dev != NULL, "%s", mlcc_last_error());
    CHECK_EQ_INT(mlcc_ndarray_copy(dev, host), 0);
    float *back = calloc(N, sizeof(float));
    CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dev, back, sizeof(float) * N), 0);
    CHECK(memcmp(back, hp, sizeof(float) * N) == 0);

    /* device-to-device copy into the middle of another array, ordered after a kernel */
    MLCCNDArray *dev2 = mlcc_ndarray_empty(1, shape, MLCC_DTYPE_F32, VK0);
    void *slot = NULL;
    CHECK_MSG(saxpy(&slot, dev->dl.data, dev2->dl.data, N, 2.0f, 64) == 0, "%s", mlcc_last_error());
    const MLCCDeviceAPI *api = mlcc_device_api(VK0);
    CHECK(api != NULL);
    /* dev[100..200) = dev2[0..100) after the kernel wrote dev2 */
    CHECK_EQ_INT(api->copy(dev2->dl.data, VK0, (char *)dev->dl.data + 400, VK0, 400, NULL), 0);
    CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dev, back, sizeof(float) * N), 0);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        float want = i >= 100 && i < 200 ? 2.0f * hp[i - 100] + 1.0f : hp[i];
        bad += back[i] != want;
    }
    CHECK_EQ_INT(bad, 0);

    /* a kernel on views (element offsets), another workgroup size: a second pipeline */
    float *xv = (float *)dev->dl.data + 10, *yv = (float *)dev2->dl.data + 3;
    CHECK_MSG(saxpy(&slot, xv, yv, 1000, -3.0f, 128) == 0, "%s", mlcc_last_error());
    CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(dev2, back, sizeof(float) * N), 0);
    bad = 0;
    for (int i = 0; i < 1000; i++) {
        float x = i + 10 >= 100 && i + 10 < 200 ? 2.0f * hp[i + 10 - 100] + 1.0f : hp[i + 10];
        bad += back[i + 3] != -3.0f * x + 1.0f;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(2.0f * hp[2] + 1.0f == back[2]); /* before the view: untouched */

    /* more x workgroups than the device allows in one dimension: folded into y */
    enum { BIG = 70000 * 2 };
    int64_t bshape[1] = {BIG};
    MLCCNDArray *bx = mlcc_ndarray_empty(1, bshape, MLCC_DTYPE_F32, VK0), *by = mlcc_ndarray_empty(1, bshape, MLCC_DTYPE_F32, VK0);
    float *bh = malloc(sizeof(float) * BIG);
    for (int i = 0; i < BIG; i++) bh[i] = (float)(i % 1000);
    CHECK_EQ_INT(mlcc_ndarray_copy_from_bytes(bx, bh, sizeof(float) * BIG), 0);
    CHECK_MSG(saxpy(&slot, bx->dl.data, by->dl.data, BIG, 1.0f, 1) == 0, "%s", mlcc_last_error());
    CHECK_EQ_INT(mlcc_ndarray_copy_to_bytes(by, bh, sizeof(float) * BIG), 0);
    bad = 0;
    for (int i = 0; i < BIG; i++) bad += bh[i] != (float)(i % 1000) + 1.0f;
    CHECK_EQ_INT(bad, 0);
    free(bh);
    mlcc_ndarray_release(bx);
    mlcc_ndarray_release(by);

    /* the caching allocator: a freed block of the same size comes back */
    mlcc_vulkan_mem_stats before = mlcc_vulkan_memory_stats(0);
    mlcc_ndarray_release(dev2);
    MLCCNDArray *again = mlcc_ndarray_empty(1, shape, MLCC_DTYPE_F32, VK0);
    mlcc_vulkan_mem_stats after = mlcc_vulkan_memory_stats(0);
    CHECK_EQ_INT(after.device_allocs, before.device_allocs);
    CHECK_EQ_INT(after.reuses, before.reuses + 1);
    mlcc_ndarray_release(again);
    mlcc_vulkan_empty_cache(0);
    CHECK_EQ_INT((long long)mlcc_vulkan_memory_stats(0).cached, 0);

    /* errors name the problem */
    void *bad_slot = NULL;
    const mlcc_vulkan_library_hooks *h = mlcc_vulkan_hooks();
    uint32_t one[3] = {1, 1, 1}, eb[1] = {4};
    uint64_t push[2] = {0};
    void *bufs[1] = {dev->dl.data};
    CHECK(h->launch(&bad_slot, 0, "#version 450\nvoid main() { undefined_thing = 1; }\n", "broken", one, one, bufs, eb, 1, push, 16) != 0);
    CHECK_MSG(strstr(mlcc_last_error(), "broken") && strstr(mlcc_last_error(), "undefined_thing"), "%s", mlcc_last_error());
    void *not_device[1] = {hp};
    CHECK(saxpy(&slot, not_device[0], dev->dl.data, 10, 1.0f, 64) != 0);
    CHECK_MSG(strstr(mlcc_last_error(), "not a live device pointer") != NULL, "%s", mlcc_last_error());
    CHECK(mlcc_ndarray_empty(1, shape, MLCC_DTYPE_F32, (DLDevice){kDLVulkan, 7}) == NULL);
    CHECK_MSG(strstr(mlcc_last_error(), "vulkan:7 does not exist") != NULL, "%s", mlcc_last_error());

    /* caches on disk */
    CHECK_EQ_INT(mlcc_vulkan_synchronize(0), 0);
    char *home = mlcc_home_dir(), *dir = mlcc_path_join(home, "cache/vulkan");
    CHECK(count_files(dir, ".spv") >= 1);
    CHECK(count_files(dir, ".bin") >= 1);
    free(home);
    free(dir);
    /* timestamps: the three saxpy launches that ran, with some device time */
    long calls = 0;
    double ms = 0;
    CHECK_MSG(mlcc_vulkan_kernel_profile("saxpy", &calls, &ms) == 0, "%s", mlcc_last_error());
    CHECK_EQ_INT(calls, 3);
    CHECK_MSG(ms > 0, "saxpy: %g ms", ms);
    mlcc_vulkan_profile_report(stdout);
    mlcc_vulkan_stats st = mlcc_vulkan_get_stats();
    CHECK(st.pipelines >= 3); /* workgroup sizes 64, 128 and 1 */
    CHECK(st.dispatches >= 3);

    mlcc_ndarray_release(dev);
    mlcc_ndarray_release(host);
    free(back);
    CHECK_EQ_INT((long long)mlcc_vulkan_memory_stats(0).in_use, 0);
    return test_finish();
}
