/* test_vulkan_models.c - every tiny Hugging Face checkpoint of testdata/hf-tiny run on Vulkan
 * (library compiled for the vulkan target, weights and paged KV cache on vulkan:0; on CI that is
 * lavapipe), as test_cuda_models does for CUDA:
 *   - prefill logits of the prompt match transformers' float64 reference (relative 1e-4, as on
 *     the CPU) and the CPU build's logits (relative 1e-5);
 *   - decode, one token at a time through batch_decode and the KV cache on the GPU, matches the
 *     prefill logits (relative 1e-4);
 *   - the greedy continuation equals meta.json's greedy_out;
 *   - q0f16 (float16 weights) against the CPU's q0f16 build (1e-4) and transformers (3e-2),
 *     decode against prefill (1e-4);
 *   - afterwards no device memory is still allocated (the caching allocator's count).
 * lavapipe is slow (about 20 s a fixture, most of it compiling shaders on a loaded 2-core CI
 * machine), so by default only the llama fixture runs; MLCC_TEST_MODEL=all runs every fixture
 * (all 11 pass), MLCC_TEST_MODEL=NAME one. Skips without a Vulkan device or glslang. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "device_parity.h"
#include "models/model.h"
#include "runtime/vulkan.h"
#include "support/error.h"
#include "test.h"

/* q0f16: float16 weights on the device (float16 storage buffers, converted to float32 in the
 * matmul kernels, float32 accumulation) against the CPU build of the same q0f16 library: the
 * same products and sums in another order, so 1e-4 relative; against transformers' float32
 * model 3e-2 as on CUDA (the weights are rounded to half); the greedy continuation is reported. */
static const device_parity_tol f32_tol = {NULL, 1e-5, 1e-4, 1e-4, 1}, f16_tol = {"q0f16", 1e-4, 3e-2, 1e-4, 0};

int main(void) {
    if (!mlcc_vulkan_available()) TEST_SKIP("%s", mlcc_vulkan_status());
    if (!mlcc_glsl_compiler_available()) TEST_SKIP("%s", mlcc_glsl_compiler_status());
    char *root = test_data_path("hf-tiny");
    const char *only = getenv("MLCC_TEST_MODEL");
    if (!only || !*only) only = "llama";
    if (strcmp(only, "all") == 0) only = NULL;
    DIR *d = opendir(root);
    CHECK(d != NULL);
    int ran = 0;
    mlcc_vulkan_mem_stats before = mlcc_vulkan_memory_stats(0);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.' || (only && strcmp(only, e->d_name))) continue;
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", root, e->d_name);
        device_parity_check(e->d_name, dir, "vulkan", &f32_tol);
        if (!only || strcmp(e->d_name, "llama") == 0) {
            if (mlcc_vulkan_has_float16(0)) device_parity_check(e->d_name, dir, "vulkan", &f16_tol);
            else printf("%s q0f16: not run: vulkan:0 has no float16\n", e->d_name);
        }
        ran++;
    }
    if (d) closedir(d);
    CHECK(ran > 0);
    /* every model, KV cache and step freed its device memory (the allocator's count) */
    mlcc_vulkan_mem_stats after = mlcc_vulkan_memory_stats(0);
    CHECK_MSG(after.in_use == before.in_use, "%zu bytes still in use on vulkan:0 (%zu before)", after.in_use, before.in_use);
    printf("device memory: %ld vkAllocateMemory calls, %ld reuses from the cache, %zu bytes in use at the end\n",
           after.device_allocs, after.reuses, after.in_use);
    free(root);
    return test_finish();
}
