/* test_fuse_rope_q.c - q's rope into the KV cache's attention call (transform/fuse_rope_q.c, a
 * CUDA-build pass; MLCC_CUDA_ROPE_Q=cpu runs it on the CPU for this test): fixtures compiled with
 * it, q then rotated by the cache (attention_rope_q's host path, kv_cache.c) instead of the
 * graph's rope kernel, give the same logits as without it, to 1e-6 of the largest (the same
 * float64 expression; the compilers may contract it differently): every prefill chunk's last
 * row of a 50-token prompt (chunks of 32) and 4 greedy decode steps; on llama, llama3-rope,
 * qwen3 (q/k norms before the rope), phi3 (fused qkv) and gemma2 (windows, soft-caps). That the
 * pass applies (and not without the switch on the CPU) is test_fuse_rope_q_graph.sh's. */
#include "logits_check.h"
#include "test.h"

int main(void) {
    static const char *const hf[] = {"llama", "llama3-rope", "qwen3", "phi3", "gemma2"};
    for (size_t i = 0; i < sizeof hf / sizeof hf[0]; i++) {
        double worst = test_switch_logits_difference(hf[i], "MLCC_CUDA_ROPE_Q", "cpu", 4, "q's rope in the attention");
        CHECK_MSG(worst >= 0 && worst <= 1e-6, "%s: logits differ by %g with q's rope in the attention call", hf[i], worst);
    }
    return test_finish();
}
