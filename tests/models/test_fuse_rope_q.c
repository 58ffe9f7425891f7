/* test_fuse_rope_q.c - q's rope into the KV cache's attention call (transform/fuse_rope_q.c, a
 * CUDA-build pass; MLCC_CUDA_ROPE_Q=cpu runs it on the CPU for this test): fixtures compiled with
 * it, q then rotated by the cache (attention_rope_q's host path, kv_cache.c) instead of the
 * graph's rope kernel, give the same logits as without it, to 1e-6 of the largest (the same
 * float64 expression; the compilers may contract it differently): every prefill chunk's last
 * row of a 50-token prompt (chunks of 32) and 4 greedy decode steps; on llama, llama3-rope,
 * qwen3 (q/k norms before the rope), phi3 (fused qkv) and gemma2 (windows, soft-caps). That the
 * pass applies (and not without the switch on the CPU) is test_fuse_rope_q_graph.sh's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/model.h"
#include "support/error.h"
#include "support/json.h"
#include "test.h"

enum { MAX_TOKENS = 64, DECODE_STEPS = 4 };

/* Prefill logits of ids (the last row of each chunk), then DECODE_STEPS greedy steps' logits. */
static float *run(const char *path, int fold, const int32_t *ids, int n, int64_t *count) {
    if (fold) setenv("MLCC_CUDA_ROPE_Q", "cpu", 1);
    mlcc_model_options opt = {.max_seq = 128, .prefill_chunk = 32, .logit_rows = 32};
    mlcc_model *m = mlcc_model_open(path, &opt);
    unsetenv("MLCC_CUDA_ROPE_Q");
    CHECK_MSG(m != NULL, "%s: %s", path, mlcc_last_error());
    if (!m) return NULL;
    int64_t vocab = m->cfg.vocab;
    *count = (int64_t)(n + DECODE_STEPS) * vocab;
    float *out = calloc((size_t)*count, sizeof(float));
    mlcc_model_kv kv;
    int rc = mlcc_model_kv_init(m, &kv);
    for (int at = 0; rc == 0 && at < n; at += 32) {
        int len = n - at < 32 ? n - at : 32;
        rc = mlcc_model_forward(m, &kv, ids + at, len, out + (int64_t)(at + len - 1) * vocab);
    }
    for (int s = 0; rc == 0 && s < DECODE_STEPS; s++) {
        const float *last = out + (int64_t)(n - 1 + s) * vocab;
        int32_t best = 0;
        for (int64_t v = 1; v < vocab; v++)
            if (last[v] > last[best]) best = (int32_t)v;
        rc = mlcc_model_forward(m, &kv, &best, 1, out + (int64_t)(n + s) * vocab);
    }
    CHECK_MSG(rc == 0, "%s: %s", path, mlcc_last_error());
    mlcc_model_kv_free(&kv);
    mlcc_model_free(m);
    if (rc) free(out);
    return rc ? NULL : out;
}

static void check_fixture(const char *name) {
    char rel[128], meta_rel[160];
    snprintf(rel, sizeof rel, "hf-tiny/%s", name);
    snprintf(meta_rel, sizeof meta_rel, "hf-tiny/%s/meta.json", name);
    char *path = test_data_path(rel), *meta_path = test_data_path(meta_rel);
    json_t *meta = mlcc_json_load_file(meta_path);
    CHECK_MSG(meta != NULL, "%s", mlcc_last_error());
    json_t *toks = json_object_get(meta, "tokens");
    int32_t ids[MAX_TOKENS];
    int n = (int)json_array_size(toks);
    if (n > MAX_TOKENS) n = MAX_TOKENS;
    for (int i = 0; i < n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(toks, (size_t)i));
    json_decref(meta);
    int64_t count = 0, count2 = 0;
    float *before = n ? run(path, 0, ids, n, &count) : NULL, *after = before ? run(path, 1, ids, n, &count2) : NULL;
    if (before && after) {
        double largest = 0, worst = 0;
        for (int64_t i = 0; i < count; i++) largest = fmax(largest, fabs(before[i]));
        for (int64_t i = 0; i < count; i++) worst = fmax(worst, fabs((double)after[i] - before[i]) / largest);
        printf("%-24s %d prompt tokens + %d decode steps: max difference %.2e of the largest logit\n", rel, n, DECODE_STEPS, worst);
        CHECK_MSG(worst <= 1e-6, "%s: logits differ by %g with q's rope in the attention call", rel, worst);
    }
    free(before), free(after), free(path), free(meta_path);
}

int main(void) {
    static const char *const hf[] = {"llama", "llama3-rope", "qwen3", "phi3", "gemma2"};
    for (size_t i = 0; i < sizeof hf / sizeof hf[0]; i++) check_fixture(hf[i]);
    return test_finish();
}
