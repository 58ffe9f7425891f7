/* logits_check.h - comparing a model's logits with a fixture's reference, for the model tests:
 * the fixture's token ids, its reference logits, a model opened and prefilled for the check,
 * and the measures the quantized-model tests state their bounds in (top-1 agreement on the
 * rows whose reference has a clear winner, mean KL of the softmaxes). */
#ifndef MLCC_TEST_LOGITS_CHECK_H
#define MLCC_TEST_LOGITS_CHECK_H

#include <stdint.h>

#include "models/model.h"

/* The first `max` ids of the "tokens" array of a fixture's meta.json: how many were read. */
int test_read_fixture_tokens(const char *meta_path, int32_t *ids, int max);
/* The first `rows` rows of the F32 tensor "logits" [>= rows, vocab] of a safetensors file, or
 * NULL (a failed CHECK names the file). The caller frees it. */
float *test_read_ref_logits(const char *path, int rows, int64_t vocab);
/* A model opened for logit checks of up to 64 tokens (quant NULL: as stored); NULL and a failed
 * CHECK when it cannot be opened. */
mlcc_model *test_open_model(const char *path, const char *quant);
/* The logits [n, vocab] of prefilling ids, or NULL and a failed CHECK. */
MLCCNDArray *test_prefill_logits(mlcc_model *m, const int32_t *ids, int n);

/* The model at path, opened with env_name=env_value set while it compiles (env_name NULL: as
 * the environment is), run through its KV cache: ids prefilled in chunks of 32 (the last row of
 * each chunk filled, the other rows 0), then `steps` greedy decode steps. The logits [n + steps,
 * vocab] (the caller frees them; *count their length), or NULL and a failed CHECK. */
float *test_chunked_greedy_logits(const char *path, const char *env_name, const char *env_value, const int32_t *ids, int n,
                                  int steps, int64_t *count);

/* hf-tiny/<fixture>'s logits (its meta.json's first 64 tokens through
 * test_chunked_greedy_logits, `steps` decode steps) without and with env_name=env_value while it
 * compiles: the largest difference relative to the largest logit (printed with `what`), or -1
 * and a failed CHECK when a run failed. What a graph pass that must not change the numbers is
 * checked with. */
double test_switch_logits_difference(const char *fixture, const char *env_name, const char *env_value, int steps,
                                     const char *what);

/* The index of a row's largest entry (the first one on ties). */
int64_t test_argmax(const float *row, int64_t n);
/* KL(p || q) of the softmaxes of logit rows p (the reference) and q, in float64. */
double test_softmax_kl(const float *p, const float *q, int64_t n);

typedef struct test_agreement {
    int rows;       /* rows whose reference top-2 margin is at least `margin` of max |ref| */
    int agree;      /* of those, rows where got's top-1 equals the reference's */
    double mean_kl; /* mean over all rows of KL(softmax(ref) || softmax(got)) */
} test_agreement;
/* Top-1 agreement and mean KL of got against ref, both [rows, vocab]. */
test_agreement test_compare_logits(const float *ref, const float *got, int rows, int64_t vocab,
                                   double margin);

#endif
