/* test_cuda_graphs.c - decode steps replayed as CUDA graphs (models/decode_graph.c) compute
 * what the ordinary launches compute: the hf-tiny llama fixture on CUDA (float32 and q0f16),
 *   - one sequence, a prompt then 40 greedy decode steps (over page boundaries of 16 tokens:
 *     new captures), with MLCC_CUDA_GRAPHS=0 and with graphs: the same tokens and the same
 *     logits (relative 1e-6 of the largest logit; the kernels are the same, so they are equal);
 *   - three sequences of different lengths decoding together through the GPU greedy sampler
 *     (batch_decode, one key per page count): the same ids and log probabilities;
 *   - graphs were captured and replayed (counts of runtime/cuda_graph.c), none without them;
 *   - afterwards no device memory is still in use (the graphs' blocks went back).
 * Skips without a CUDA device. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "device_parity.h"
#include "models/model.h"
#include "runtime/cuda.h"
#include "support/error.h"
#include "test.h"

enum { PROMPT = 5, STEPS = 40, BATCH = 3, BATCH_STEPS = 24 };

/* One sequence: prompt, then STEPS greedy decode steps; tokens[STEPS] and logits[STEPS][vocab]. */
static int run_single(mlcc_model *m, int32_t *tokens, float *logits) {
    static const int32_t prompt[PROMPT] = {1, 15, 27, 3, 9};
    mlcc_model_kv kv;
    if (mlcc_model_kv_init(m, &kv)) return -1;
    int64_t vocab = m->cfg.vocab;
    int rc = mlcc_model_forward(m, &kv, prompt, PROMPT, logits);
    for (int s = 0; s < STEPS && rc == 0; s++) {
        const float *row = logits + s * vocab;
        int32_t best = 0;
        for (int64_t v = 1; v < vocab; v++)
            if (row[v] > row[best]) best = (int32_t)v;
        tokens[s] = best;
        if (s + 1 < STEPS) rc = mlcc_model_forward(m, &kv, &tokens[s], 1, logits + (s + 1) * vocab);
    }
    mlcc_model_kv_free(&kv);
    return rc;
}

/* BATCH sequences with prompts of 3, 11 and 20 tokens, then BATCH_STEPS greedy steps together. */
static int run_batch(mlcc_model *m, int32_t *ids, double *logprobs) {
    MLCCKVCache *kv = mlcc_model_create_kv_cache(m, BATCH, 256);
    if (!kv) return -1;
    int64_t seqs[BATCH] = {0, 1, 2}, plen[BATCH] = {3, 11, 20};
    int32_t prompt[20], next[BATCH];
    for (int i = 0; i < 20; i++) prompt[i] = (int32_t)(7 * i + 2);
    int rc = 0;
    for (int b = 0; b < BATCH && rc == 0; b++) {
        MLCCNDArray *lg = NULL;
        rc = mlcc_kv_cache_add_sequence(kv, seqs[b]);
        if (rc == 0) rc = mlcc_model_step(m, kv, &seqs[b], &plen[b], 1, prompt, NULL, 0, &lg);
        if (rc == 0) next[b] = (int32_t)(b + 1);
        mlcc_ndarray_release(lg);
    }
    int64_t ones[BATCH] = {1, 1, 1};
    for (int s = 0; s < BATCH_STEPS && rc == 0; s++) {
        rc = mlcc_model_step_greedy(m, kv, seqs, ones, BATCH, next, ids + s * BATCH, logprobs + s * BATCH);
        if (rc == 0) memcpy(next, ids + s * BATCH, sizeof next);
    }
    mlcc_object_release((MLCCObject *)kv);
    return rc;
}

static void check_scheme(const char *dir, const char *quant) {
    const char *name = quant ? quant : "f32";
    mlcc_model *m = mlcc_model_open(dir, &(mlcc_model_options){.max_seq = 128, .max_batch = BATCH, .device = "cuda",
                                                                .quantization = quant});
    CHECK_MSG(m != NULL, "%s: %s", name, mlcc_last_error());
    if (!m) return;
    int64_t vocab = m->cfg.vocab;
    int32_t tok[2][STEPS], ids[2][BATCH_STEPS * BATCH];
    double lps[2][BATCH_STEPS * BATCH];
    float *logits[2] = {malloc(sizeof(float) * (size_t)(STEPS * vocab)), malloc(sizeof(float) * (size_t)(STEPS * vocab))};
    long c0, l0, c1, l1, c2, l2;
    mlcc_cuda_graph_counts(&c0, &l0);
    setenv("MLCC_CUDA_GRAPHS", "0", 1);
    int rc0 = run_single(m, tok[0], logits[0]);
    if (rc0 == 0) rc0 = run_batch(m, ids[0], lps[0]);
    CHECK_MSG(rc0 == 0, "%s without graphs: %s", name, mlcc_last_error());
    mlcc_cuda_graph_counts(&c1, &l1);
    CHECK_MSG(c1 == c0 && l1 == l0, "%s: graphs ran with MLCC_CUDA_GRAPHS=0", name);
    unsetenv("MLCC_CUDA_GRAPHS");
    int rc1 = run_single(m, tok[1], logits[1]);
    if (rc1 == 0) rc1 = run_batch(m, ids[1], lps[1]);
    CHECK_MSG(rc1 == 0, "%s with graphs: %s", name, mlcc_last_error());
    mlcc_cuda_graph_counts(&c2, &l2);
    CHECK_MSG(c2 > c1 && l2 - l1 > c2 - c1, "%s: %ld graphs captured, %ld launches (want some, replayed)", name, c2 - c1,
              l2 - l1);
    if (rc0 == 0 && rc1 == 0) {
        CHECK_MSG(memcmp(tok[0], tok[1], sizeof tok[0]) == 0, "%s: greedy tokens differ with graphs", name);
        double e = parity_rel_error(logits[1], logits[0], STEPS * vocab);
        CHECK_MSG(e <= 1e-6, "%s: logits with graphs differ: %g", name, e);
        CHECK_MSG(memcmp(ids[0], ids[1], sizeof ids[0]) == 0, "%s: batch greedy ids differ with graphs", name);
        double lp = 0;
        for (int i = 0; i < BATCH_STEPS * BATCH; i++) lp = fmax(lp, fabs(lps[0][i] - lps[1][i]));
        CHECK_MSG(lp <= 1e-6, "%s: batch log probabilities differ with graphs by %g", name, lp);
        printf("%s: %d + %d decode steps, %ld graphs captured, %ld launches; logits vs no graphs %.3g, logprobs %.3g\n",
               name, STEPS, BATCH_STEPS, c2 - c1, l2 - l1, e, lp);
    }
    free(logits[0]), free(logits[1]);
    mlcc_model_free(m);
}

int main(void) {
    if (!mlcc_cuda_available()) TEST_SKIP("%s", mlcc_cuda_status());
    char *dir = test_data_path("hf-tiny/llama");
    mlcc_cuda_mem_stats before = mlcc_cuda_memory_stats(0);
    check_scheme(dir, NULL);
    check_scheme(dir, "q0f16");
    check_scheme(dir, "q4f16_1");
    mlcc_cuda_linear_release(0);
    mlcc_cuda_mem_stats after = mlcc_cuda_memory_stats(0);
    CHECK_MSG(after.in_use == before.in_use, "%zu bytes still in use on cuda:0 (%zu before)", after.in_use, before.in_use);
    free(dir);
    return test_finish();
}
