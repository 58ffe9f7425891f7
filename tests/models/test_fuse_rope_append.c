/* test_fuse_rope_append.c - rope + KV append (transform/fuse_rope_append.c): fixtures compiled
 * with the fusion (K rotated inside the cache's append kernel) give the same logits, bit for
 * bit, as with K's rope a kernel of its own (MLCC_FUSE_ROPE_APPEND=0): the last row of each
 * prefill chunk of a 50-token prompt (chunks of 32: the second chunk attends keys the first
 * appended) and 4 greedy decode steps after it; on llama, llama3-rope (scaled
 * frequencies), qwen3 (q/k norms before the rope), phi3 (fused qkv projection), gemma2
 * (windows, soft-caps) and the float16-weight GGUF (the append of float32 K, pages float32).
 * The graph shape (the attention taking the table, no K rope left) is test_cpu_fusion.sh's. */
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "logits_check.h"
#include "test.h"

enum { MAX_TOKENS = 64, DECODE_STEPS = 4 };

/* Prefill logits of ids, then the logits of DECODE_STEPS greedy decode steps, into one array
 * (caller frees); NULL on failure. */
static float *run(const char *path, const char *fuse, const int32_t *ids, int n, int64_t *count) {
    return test_chunked_greedy_logits(path, "MLCC_FUSE_ROPE_APPEND", fuse, ids, n, DECODE_STEPS, count);
}

static void check_fixture(const char *rel, const char *meta_rel) {
    char *path = test_data_path(rel), *meta_path = test_data_path(meta_rel);
    int32_t ids[MAX_TOKENS];
    int n = test_read_fixture_tokens(meta_path, ids, MAX_TOKENS);
    CHECK_MSG(n > 0, "%s: no tokens", meta_path);
    int64_t count = 0, count2 = 0;
    float *before = n ? run(path, "0", ids, n, &count) : NULL, *after = before ? run(path, "1", ids, n, &count2) : NULL;
    if (before && after) {
        /* the rows written: each prefill chunk's last row and the decode steps */
        int64_t vocab = count / (n + DECODE_STEPS), differ = 0;
        for (int r = 0; r < n + DECODE_STEPS; r++)
            if (memcmp(before + r * vocab, after + r * vocab, sizeof(float) * (size_t)vocab)) differ++;
        printf("%-24s %d prompt tokens + %d decode steps: %lld rows differ\n", rel, n, DECODE_STEPS, (long long)differ);
        CHECK_MSG(differ == 0, "%s: %lld rows of logits differ with rope + append fused", rel, (long long)differ);
    }
    free(before), free(after), free(path), free(meta_path);
}

int main(void) {
    static const char *const hf[] = {"llama", "llama3-rope", "qwen3", "phi3", "gemma2"};
    for (size_t i = 0; i < sizeof hf / sizeof hf[0]; i++) {
        char rel[128], meta[160];
        snprintf(rel, sizeof rel, "hf-tiny/%s", hf[i]);
        snprintf(meta, sizeof meta, "hf-tiny/%s/meta.json", hf[i]);
        check_fixture(rel, meta);
    }
    check_fixture("gguf/q-llama-f16.gguf", "gguf/q-llama-f16.meta.json");
    return test_finish();
}
