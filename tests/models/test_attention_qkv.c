/* test_attention_qkv.c - the KV cache's attention reading q, k, v from the combined projection's
 * output (transform/attention_qkv.c, a CUDA-build pass; MLCC_CUDA_ATTN_QKV=cpu runs it on the CPU
 * for this test, after fuse_rope_q, which MLCC_CUDA_ROPE_Q=cpu runs): fixtures compiled with it,
 * their decode steps handing the cache the whole projection output (attention_qkv's host path:
 * the column ranges copied apart, kv_cache.c) instead of three slices, give the same logits as
 * without it, to 1e-6 of the largest: every prefill chunk's last row of a 50-token prompt
 * (chunks of 32: the prefill functions take it too) and 4 greedy decode steps; on llama,
 * llama-tied-mqa (one KV head), qwen2 (biases), qwen3 (q/k norms: the pass does not apply),
 * phi3 (fused qkv in the checkpoint) and gemma2 (windows, soft-caps). That the pass applies
 * (and only with the switch on the CPU) is test_attention_qkv_graph.sh's. */
#include <stdlib.h>

#include "logits_check.h"
#include "test.h"

int main(void) {
    setenv("MLCC_CUDA_ROPE_Q", "cpu", 1); /* both runs: the pass rewrites fuse_rope_q's calls */
    static const char *const hf[] = {"llama", "llama-tied-mqa", "qwen2", "qwen3", "phi3", "gemma2"};
    for (size_t i = 0; i < sizeof hf / sizeof hf[0]; i++) {
        double worst = test_switch_logits_difference(hf[i], "MLCC_CUDA_ATTN_QKV", "cpu", 4, "q, k, v read in place");
        CHECK_MSG(worst >= 0 && worst <= 1e-6, "%s: logits differ by %g with q, k, v read from the projection", hf[i], worst);
    }
    return test_finish();
}
