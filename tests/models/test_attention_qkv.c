/* test_attention_qkv.c - the KV cache's attention reading q, k, v from the combined projection's
 * output (transform/attention_qkv.c, a CUDA-build pass; MLCC_CUDA_ATTN_QKV=cpu runs it on the CPU
 * for this test, after fuse_rope_q, which MLCC_CUDA_ROPE_Q=cpu runs): fixtures compiled with it,
 * their decode steps handing the cache the whole projection output (attention_qkv's host path:
 * the column ranges copied apart, kv_cache.c) instead of three slices, give the same logits as
 * without it, to 1e-6 of the largest: every prefill chunk's last row of a 50-token prompt
 * (chunks of 32; prefill functions keep their slices) and 4 greedy decode steps; on llama,
 * llama-tied-mqa (one KV head), qwen2 (biases), qwen3 (q/k norms: the pass does not apply),
 * phi3 (fused qkv in the checkpoint) and gemma2 (windows, soft-caps). That the pass applies
 * (and only with the switch on the CPU) is test_attention_qkv_graph.sh's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "logits_check.h"
#include "test.h"

enum { MAX_TOKENS = 64, DECODE_STEPS = 4 };

static float *run(const char *path, int in_place, const int32_t *ids, int n, int64_t *count) {
    return test_chunked_greedy_logits(path, in_place ? "MLCC_CUDA_ATTN_QKV" : NULL, "cpu", ids, n, DECODE_STEPS, count);
}

static void check_fixture(const char *name) {
    char rel[128], meta_rel[160];
    snprintf(rel, sizeof rel, "hf-tiny/%s", name);
    snprintf(meta_rel, sizeof meta_rel, "hf-tiny/%s/meta.json", name);
    char *path = test_data_path(rel), *meta_path = test_data_path(meta_rel);
    int32_t ids[MAX_TOKENS];
    int n = test_read_fixture_tokens(meta_path, ids, MAX_TOKENS);
    CHECK_MSG(n > 0, "%s: no tokens", meta_path);
    int64_t count = 0, count2 = 0;
    float *before = n ? run(path, 0, ids, n, &count) : NULL, *after = before ? run(path, 1, ids, n, &count2) : NULL;
    if (before && after) {
        double largest = 0, worst = 0;
        for (int64_t i = 0; i < count; i++) largest = fmax(largest, fabs(before[i]));
        for (int64_t i = 0; i < count; i++) worst = fmax(worst, fabs((double)after[i] - before[i]) / largest);
        printf("%-24s %d prompt tokens + %d decode steps: max difference %.2e of the largest logit\n", rel, n, DECODE_STEPS, worst);
        CHECK_MSG(worst <= 1e-6, "%s: logits differ by %g with q, k, v read from the projection", rel, worst);
    }
    free(before), free(after), free(path), free(meta_path);
}

int main(void) {
    setenv("MLCC_CUDA_ROPE_Q", "cpu", 1); /* both runs: the pass rewrites fuse_rope_q's calls */
    static const char *const hf[] = {"llama", "llama-tied-mqa", "qwen2", "qwen3", "phi3", "gemma2"};
    for (size_t i = 0; i < sizeof hf / sizeof hf[0]; i++) check_fixture(hf[i]);
    return test_finish();
}
