/* test_cuda_models.c - every tiny Hugging Face checkpoint of testdata/hf-tiny run on CUDA
 * (library compiled for the cuda target, weights and paged KV cache on the GPU):
 *   - prefill logits of the prompt match transformers' float64 reference (relative 1e-4, as on
 *     the CPU) and the CPU build's logits (relative 1e-5);
 *   - decode, one token at a time through batch_decode and the KV cache on the GPU, matches the
 *     prefill logits (relative 1e-4);
 *   - the greedy continuation equals meta.json's greedy_out;
 *   - the same in float16 (scheme q0f16: f16 weights, f32 activations and KV; projections
 *     through mlcc.cuda.linear_f16, cuBLASLt rounding activations to f16 in prefill): against
 *     the CPU's q0f16 build 1e-2, transformers' float32 model 3e-2, decode vs prefill 1e-2
 *     (relative to the largest logit); the greedy continuation is reported, not required;
 *   - q0bf16 (bfloat16 weights through the generated kernels, float32 activations and sums;
 *     the KV pages float16 on CUDA, as for every scheme but float32, which the CPU keeps in
 *     float32): against the CPU's q0bf16 build 5e-3, transformers' float32 model 3e-2 (the
 *     weights are rounded to bfloat16), decode vs prefill 5e-3 (measured on the H100:
 *     4.2e-5..8.8e-4, 1.6e-3..1.2e-2, 3.7e-6..3.6e-4);
 *   - afterwards no device memory is still allocated (the caching allocator's count).
 * Skips without a CUDA device. MLCC_TEST_MODEL=NAME runs one fixture. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "device_parity.h"
#include "models/model.h"
#include "runtime/cuda.h"
#include "support/error.h"
#include "test.h"

static const device_parity_tol f32_tol = {NULL, 1e-5, 1e-4, 1e-4, 1}, f16_tol = {"q0f16", 1e-2, 3e-2, 1e-2, 0},
                               bf16_tol = {"q0bf16", 5e-3, 3e-2, 5e-3, 0};

int main(void) {
    if (!mlcc_cuda_available()) TEST_SKIP("%s", mlcc_cuda_status());
    char *root = test_data_path("hf-tiny");
    const char *only = getenv("MLCC_TEST_MODEL");
    DIR *d = opendir(root);
    CHECK(d != NULL);
    int ran = 0;
    mlcc_cuda_mem_stats before = mlcc_cuda_memory_stats(0);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (e->d_name[0] == '.' || (only && strcmp(only, e->d_name))) continue;
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", root, e->d_name);
        device_parity_check(e->d_name, dir, "cuda", &f32_tol);
        device_parity_check(e->d_name, dir, "cuda", &f16_tol);
        device_parity_check(e->d_name, dir, "cuda", &bf16_tol);
        ran++;
    }
    if (d) closedir(d);
    CHECK(ran > 0);
    /* every model, KV cache and step freed its device memory (the allocator's count) */
    mlcc_cuda_linear_release(0);
    mlcc_cuda_mem_stats after = mlcc_cuda_memory_stats(0);
    CHECK_MSG(after.in_use == before.in_use, "%zu bytes still in use on cuda:0 (%zu before)", after.in_use, before.in_use);
    printf("device memory: %ld cuMemAlloc calls, %ld reuses from the cache, %zu bytes in use at the end\n",
           after.device_allocs, after.reuses, after.in_use);
    free(root);
    return test_finish();
}
