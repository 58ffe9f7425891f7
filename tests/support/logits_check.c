/* logits_check.c - reference logits, fixture tokens and agreement measures for the model tests
 * (see logits_check.h). */
#include "logits_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loader/safetensors.h"
#include "support/error.h"
#include "support/json.h"
#include "test.h"

int test_read_fixture_tokens(const char *meta_path, int32_t *ids, int max) {
    json_t *j = mlcc_json_load_file(meta_path);
    json_t *a = j ? json_object_get(j, "tokens") : NULL;
    int n = 0;
    for (; a && n < max && n < (int)json_array_size(a); n++)
        ids[n] = (int32_t)json_integer_value(json_array_get(a, (size_t)n));
    json_decref(j);
    return n;
}

float *test_read_ref_logits(const char *path, int rows, int64_t vocab) {
    mlcc_safetensors *st = safetensors_open(path);
    CHECK_MSG(st != NULL, "%s", mlcc_last_error());
    if (!st) return NULL;
    const mlcc_st_tensor *t = safetensors_find(st, "logits");
    float *ref = NULL;
    if (t && t->ndim == 2 && t->shape[0] >= rows && t->shape[1] == vocab) {
        float *all = malloc(t->nbytes);
        safetensors_read_f32(t, all);
        ref = realloc(all, sizeof(float) * (size_t)rows * (size_t)vocab);
    }
    CHECK_MSG(ref != NULL, "%s: no logits [>= %d, %lld]", path, rows, (long long)vocab);
    safetensors_close(st);
    return ref;
}

mlcc_model *test_open_model(const char *path, const char *quant) {
    mlcc_model_options opt = {
        .max_seq = 64, .prefill_chunk = 64, .logit_rows = 64, .quantization = quant};
    mlcc_model *m = mlcc_model_open(path, &opt);
    CHECK_MSG(m != NULL, "%s %s: %s", path, quant ? quant : "(as stored)", mlcc_last_error());
    return m;
}

MLCCNDArray *test_prefill_logits(mlcc_model *m, const int32_t *ids, int n) {
    MLCCNDArray *l = NULL;
    if (m && mlcc_model_prefill(m, ids, n, &l)) CHECK_MSG(0, "prefill: %s", mlcc_last_error());
    return l;
}

float *test_chunked_greedy_logits(const char *path, const char *env_name, const char *env_value, const int32_t *ids, int n,
                                  int steps, int64_t *count) {
    if (env_name) setenv(env_name, env_value, 1);
    mlcc_model_options opt = {.max_seq = 128, .prefill_chunk = 32, .logit_rows = 32};
    mlcc_model *m = mlcc_model_open(path, &opt);
    if (env_name) unsetenv(env_name);
    CHECK_MSG(m != NULL, "%s: %s", path, mlcc_last_error());
    if (!m) return NULL;
    int64_t vocab = m->cfg.vocab;
    *count = (int64_t)(n + steps) * vocab;
    float *out = calloc((size_t)*count, sizeof(float));
    mlcc_model_kv kv;
    int rc = mlcc_model_kv_init(m, &kv);
    for (int at = 0; rc == 0 && at < n; at += 32) {
        int len = n - at < 32 ? n - at : 32;
        rc = mlcc_model_forward(m, &kv, ids + at, len, out + (int64_t)(at + len - 1) * vocab);
    }
    for (int s = 0; rc == 0 && s < steps; s++) {
        int32_t best = (int32_t)test_argmax(out + (int64_t)(n - 1 + s) * vocab, vocab);
        rc = mlcc_model_forward(m, &kv, &best, 1, out + (int64_t)(n + s) * vocab);
    }
    CHECK_MSG(rc == 0, "%s: %s", path, mlcc_last_error());
    mlcc_model_kv_free(&kv);
    mlcc_model_free(m);
    if (rc) free(out);
    return rc ? NULL : out;
}

double test_switch_logits_difference(const char *fixture, const char *env_name, const char *env_value, int steps,
                                     const char *what) {
    enum { MAX_TOKENS = 64 };
    char rel[128], meta_rel[160];
    snprintf(rel, sizeof rel, "hf-tiny/%s", fixture);
    snprintf(meta_rel, sizeof meta_rel, "hf-tiny/%s/meta.json", fixture);
    char *path = test_data_path(rel), *meta_path = test_data_path(meta_rel);
    int32_t ids[MAX_TOKENS];
    int n = test_read_fixture_tokens(meta_path, ids, MAX_TOKENS);
    CHECK_MSG(n > 0, "%s: no tokens", meta_path);
    int64_t count = 0, count2 = 0;
    float *before = n > 0 ? test_chunked_greedy_logits(path, NULL, NULL, ids, n, steps, &count) : NULL;
    float *after = before ? test_chunked_greedy_logits(path, env_name, env_value, ids, n, steps, &count2) : NULL;
    double worst = -1;
    if (before && after && count == count2) {
        double largest = 0;
        worst = 0;
        for (int64_t i = 0; i < count; i++) largest = fmax(largest, fabs(before[i]));
        for (int64_t i = 0; i < count; i++) worst = fmax(worst, fabs((double)after[i] - before[i]) / largest);
        printf("%-24s %d prompt tokens + %d decode steps, %s: max difference %.2e of the largest logit\n", rel, n, steps, what,
               worst);
    }
    free(before), free(after), free(path), free(meta_path);
    return worst;
}

int64_t test_argmax(const float *row, int64_t n) {
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (row[i] > row[best]) best = i;
    return best;
}

double test_softmax_kl(const float *p, const float *q, int64_t n) {
    double mp = p[test_argmax(p, n)], mq = q[test_argmax(q, n)], zp = 0, zq = 0;
    for (int64_t i = 0; i < n; i++)
        zp += exp(p[i] - mp), zq += exp(q[i] - mq);
    double kl = 0;
    for (int64_t i = 0; i < n; i++) {
        double lp = p[i] - mp - log(zp), lq = q[i] - mq - log(zq);
        kl += exp(lp) * (lp - lq);
    }
    return kl;
}

test_agreement test_compare_logits(const float *ref, const float *got, int rows, int64_t vocab,
                                   double margin) {
    test_agreement a = {0, 0, 0};
    for (int r = 0; r < rows; r++) {
        const float *want = ref + (size_t)r * (size_t)vocab,
                    *have = got + (size_t)r * (size_t)vocab;
        int64_t top = test_argmax(want, vocab);
        double amax = 0, second = -INFINITY;
        for (int64_t v = 0; v < vocab; v++) {
            amax = fmax(amax, fabs(want[v]));
            if (v != top && want[v] > second) second = want[v];
        }
        a.mean_kl += test_softmax_kl(want, have, vocab) / rows;
        if ((want[top] - second) / amax < margin) continue;
        a.rows++;
        a.agree += top == test_argmax(have, vocab);
    }
    return a;
}
