/* test_hf_tiny.c - logits parity with transformers (float64 references) for every tiny
 * Hugging Face checkpoint in testdata/hf-tiny and every GGUF file in testdata/gguf:
 *   - prefill of the 50 prompt tokens (batch_prefill in chunks of 32, so a chunk boundary and
 *     the paged KV cache are crossed): max |logits - ref| / max |ref| <= 1e-4 on all rows;
 *   - decode of the same tokens one at a time (batch_decode over the KV cache) gives the same
 *     logits as prefill (relative 1e-4);
 *   - greedy continuation (prefill, then decode steps) == meta.json greedy_out;
 *   - q-llama-f32.gguf (llama.cpp names, q/k rows permuted) and q-llama-hf (the same weights
 *     in Hugging Face form) give the same logits.
 * MLCC_TEST_MODEL=NAME runs one fixture. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loader/safetensors.h"
#include "models/model.h"
#include "support/error.h"
#include "support/json.h"
#include "test.h"

enum { MAX_TOKENS = 100, GREEDY = 16 };

typedef struct fixture_meta {
    int32_t tokens[MAX_TOKENS];
    int ntokens;
    int32_t greedy[GREEDY];
    int ngreedy;
} fixture_meta;

static int read_ids(json_t *a, int32_t *out, int cap) {
    if (!json_is_array(a)) return -1;
    int n = (int)json_array_size(a);
    if (n > cap) n = cap;
    for (int i = 0; i < n; i++) out[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return n;
}

/* hf-tiny and gguf metas: tokens / greedy_out; models/ metas: prompt_ids / greedy_ids */
static int read_meta(const char *path, fixture_meta *meta) {
    json_t *j = mlcc_json_load_file(path);
    if (!j) return -1;
    int chat = json_object_get(j, "prompt_ids") != NULL;
    meta->ntokens = read_ids(json_object_get(j, chat ? "prompt_ids" : "tokens"), meta->tokens, MAX_TOKENS);
    meta->ngreedy = read_ids(json_object_get(j, chat ? "greedy_ids" : "greedy_out"), meta->greedy, GREEDY);
    json_decref(j);
    return meta->ntokens > 0 && meta->ngreedy > 0 ? 0 : -1;
}

/* max |got - ref| / max |ref| against the F32 tensor `logits` of ref_path. */
static double ref_error(const char *ref_path, const MLCCNDArray *logits) {
    mlcc_safetensors *st = safetensors_open(ref_path);
    CHECK_MSG(st != NULL, "%s", mlcc_last_error());
    if (!st) return INFINITY;
    const mlcc_st_tensor *t = safetensors_find(st, "logits");
    double err = INFINITY;
    if (t && t->ndim == 2 && t->shape[0] == logits->dl.shape[0] && t->shape[1] == logits->dl.shape[1]) {
        int64_t n = t->shape[0] * t->shape[1];
        float *ref = malloc(sizeof(float) * (size_t)n);
        safetensors_read_f32(t, ref);
        const float *got = logits->dl.data;
        double max_ref = 0, max_diff = 0;
        for (int64_t i = 0; i < n; i++) {
            max_ref = fmax(max_ref, fabs(ref[i]));
            max_diff = fmax(max_diff, fabs((double)got[i] - ref[i]));
        }
        err = max_diff / max_ref;
        free(ref);
    } else {
        CHECK_MSG(0, "%s: no logits tensor of shape [%lld, %lld]", ref_path, (long long)logits->dl.shape[0],
                  (long long)logits->dl.shape[1]);
    }
    safetensors_close(st);
    return err;
}

static int selected(const char *name) {
    const char *only = getenv("MLCC_TEST_MODEL");
    return !only || strcmp(only, name) == 0;
}

/* Decoding the tokens one at a time gives the logits prefill gave. */
static void check_decode(const char *label, mlcc_model *m, const int32_t *ids, int n, const MLCCNDArray *prefill) {
    mlcc_model_kv kv;
    CHECK_MSG(mlcc_model_kv_init(m, &kv) == 0, "%s: %s", label, mlcc_last_error());
    int64_t vocab = m->cfg.vocab;
    float *row = malloc(sizeof(float) * (size_t)vocab);
    double max_ref = 0, max_diff = 0;
    for (int i = 0; i < n; i++) {
        int rc = mlcc_model_forward(m, &kv, &ids[i], 1, row);
        CHECK_MSG(rc == 0, "%s: decode step %d: %s", label, i, mlcc_last_error());
        if (rc) break;
        const float *want = (const float *)prefill->dl.data + i * vocab;
        for (int64_t v = 0; v < vocab; v++) {
            max_ref = fmax(max_ref, fabs(want[v]));
            max_diff = fmax(max_diff, fabs((double)row[v] - want[v]));
        }
    }
    CHECK_MSG(max_diff <= 1e-4 * max_ref, "%s: decode differs from prefill by %g (relative)", label, max_diff / max_ref);
    free(row);
    mlcc_model_kv_free(&kv);
}

/* Runs one model against its reference and greedy ids; returns its logits (caller releases). */
static MLCCNDArray *check_model(const char *label, const char *model_path, const char *ref_path, const char *meta_path) {
    fixture_meta meta;
    CHECK_MSG(read_meta(meta_path, &meta) == 0, "%s: %s", meta_path, mlcc_last_error());
    mlcc_model_options opt = {.max_seq = 128, .prefill_chunk = 32, .logit_rows = 32};
    mlcc_model *m = mlcc_model_open(model_path, &opt);
    CHECK_MSG(m != NULL, "%s: %s", label, mlcc_last_error());
    if (!m) return NULL;
    MLCCNDArray *logits = NULL;
    int rc = 0;
    if (ref_path) {
        rc = mlcc_model_prefill(m, meta.tokens, meta.ntokens, &logits);
        CHECK_MSG(rc == 0, "%s: %s", label, mlcc_last_error());
    }
    if (ref_path && rc == 0) {
        double err = ref_error(ref_path, logits);
        printf("%-18s max rel error %.3g\n", label, err);
        CHECK_MSG(err <= 1e-4, "%s: logits differ from the reference by %g (relative)", label, err);
    }
    if (logits && rc == 0) check_decode(label, m, meta.tokens, meta.ntokens, logits);
    int32_t got[GREEDY];
    rc = mlcc_model_greedy(m, meta.tokens, meta.ntokens, meta.ngreedy, got);
    CHECK_MSG(rc == 0, "%s: %s", label, mlcc_last_error());
    for (int i = 0; rc == 0 && i < meta.ngreedy; i++)
        CHECK_MSG(got[i] == meta.greedy[i], "%s: greedy step %d: got %d, want %d", label, i, got[i], meta.greedy[i]);
    mlcc_model_free(m);
    return logits;
}

static void test_hf_tiny(void) {
    static const char *const names[] = {"llama",   "llama3-rope", "llama-tied-mqa", "llama-bf16", "mistral", "qwen2",
                                        "qwen2-rope-params", "qwen3", "phi3",   "gemma",      "gemma2"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!selected(names[i])) continue;
        char rel[256];
        snprintf(rel, sizeof rel, "hf-tiny/%s", names[i]);
        char *dir = test_data_path(rel);
        char ref[512], meta[512];
        snprintf(ref, sizeof ref, "%s/ref.safetensors", dir);
        snprintf(meta, sizeof meta, "%s/meta.json", dir);
        MLCCNDArray *logits = check_model(names[i], dir, ref, meta);
        mlcc_ndarray_release(logits);
        free(dir);
    }
}

static void test_gguf(void) {
    static const char *const names[] = {"q-llama-f32", "q-llama-f16", "q-llama-q8_0", "q-llama-q4_0"};
    MLCCNDArray *f32 = NULL, *hf = NULL;
    if (selected("q-llama-hf")) {
        char *dir = test_data_path("gguf/q-llama-hf");
        char ref[512], meta[512];
        snprintf(ref, sizeof ref, "%s/ref.safetensors", dir);
        snprintf(meta, sizeof meta, "%s/meta.json", dir);
        hf = check_model("q-llama-hf", dir, ref, meta);
        free(dir);
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!selected(names[i])) continue;
        char rel[256];
        snprintf(rel, sizeof rel, "gguf/%s.gguf", names[i]);
        char *file = test_data_path(rel);
        size_t len = strlen(file) - 5;
        char ref[512], meta[512];
        snprintf(ref, sizeof ref, "%.*s.ref.safetensors", (int)len, file);
        snprintf(meta, sizeof meta, "%.*s.meta.json", (int)len, file);
        MLCCNDArray *logits = check_model(names[i], file, ref, meta);
        if (i == 0) f32 = logits;
        else mlcc_ndarray_release(logits);
        free(file);
    }
    if (f32 && hf) {
        /* the same weights through two loaders and the same compiled kernels: bit-identical */
        int64_t n = f32->dl.shape[0] * f32->dl.shape[1];
        const float *a = f32->dl.data, *b = hf->dl.data;
        double diff = 0;
        for (int64_t i = 0; i < n; i++) diff = fmax(diff, fabs((double)a[i] - b[i]));
        printf("gguf f32 vs hf      max abs difference %.3g\n", diff);
        CHECK_MSG(diff == 0, "q-llama-f32.gguf and q-llama-hf differ by %g", diff);
    }
    mlcc_ndarray_release(f32);
    mlcc_ndarray_release(hf);
}

/* Tiny models with real vocabularies (128k-152k rows): greedy ids only (no logits reference),
 * from the F16 safetensors and, for tm-llama3, from its GGUF F16 form as well. */
static void test_tiny_vocab_models(void) {
    static const char *const names[] = {"tm-llama3", "tm-qwen3", "tm-llama2", "tm-llama3-f16.gguf"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!selected(names[i])) continue;
        int gguf = i == 3;
        char rel[256];
        snprintf(rel, sizeof rel, gguf ? "gguf/%s" : "models/%s", names[i]);
        char *path = test_data_path(rel);
        char meta[512];
        if (gguf) {
            char *dir = test_data_path("models/tm-llama3");
            snprintf(meta, sizeof meta, "%s/meta.json", dir);
            free(dir);
        } else {
            snprintf(meta, sizeof meta, "%s/meta.json", path);
        }
        check_model(names[i], path, NULL, meta);
        free(path);
    }
}

int main(void) {
    /* the exact path (float activations) for every quantized matmul; test_quant_int8.c checks
     * the int8-activation path, the default for 4-bit weights */
    setenv("MLCC_QUANT_ACT", "f32", 1);
    test_hf_tiny();
    test_gguf();
    test_tiny_vocab_models();
    return test_finish();
}
