/* test_model_runner.c - the KV-cache path and the engine's model runner over a compiled model:
 *   - decoding one token at a time through the paged KV cache gives the reference
 *     logits of every row, on fixtures with windows, soft-caps, q/k norms, llama3 rope;
 *   - the runner: the prompt fed in chunks gives the reference logits after its last
 *     token, then one token per step reproduces the greedy ids; pop + the same tokens again,
 *     and a fork fed the same tokens, give the same logits; a step past the context window is
 *     an error that leaves the sequence; every page comes back;
 *   - the engine (tm-llama3: real tokenizer, chat prompt ids) streams, at temperature 0, the
 *     text of the reference greedy ids, and batched requests get what they get alone. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loader/safetensors.h"
#include "models/runner.h"
#include "support/error.h"
#include "support/json.h"
#include "support/strbuf.h"
#include "engine_collect.h"
#include "test.h"

static int read_ids(json_t *j, const char *key, int32_t *out, int cap) {
    json_t *a = json_object_get(j, key);
    int n = (int)json_array_size(a);
    if (n > cap) n = cap;
    for (int i = 0; i < n; i++) out[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return n;
}

static void test_runner(void) {
    char *dir = test_data_path("hf-tiny/llama-tied-mqa");
    char path[512];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    json_t *meta = mlcc_json_load_file(path);
    CHECK(meta != NULL);
    int32_t tokens[64], greedy[16];
    int n = read_ids(meta, "tokens", tokens, 64), ng = read_ids(meta, "greedy_out", greedy, 16);
    json_decref(meta);
    mlcc_model *m = mlcc_model_open(dir, &(mlcc_model_options){.max_seq = 128});
    CHECK_MSG(m != NULL, "%s", mlcc_last_error());
    if (!m) {
        free(dir);
        return;
    }
    mlcc_model_runner r;
    CHECK_EQ_INT(mlcc_model_runner_init(&r, m, 0), 0);
    int vocab = r.vocab_size;
    float *logits = malloc(sizeof(float) * (size_t)vocab), *again = malloc(sizeof(float) * (size_t)vocab);
    int64_t seq = 7, len;
    CHECK_EQ_INT(r.add(r.impl, seq), 0);
    for (int at = 0; at < n; at += 9) { /* 50 = 5 x 9 + 5: every chunk goes through prefill */
        len = at + 9 <= n ? 9 : n - at;
        CHECK_EQ_INT(r.step(r.impl, &seq, &len, 1, tokens + at, logits), 0);
    }
    /* the last row of the reference */
    snprintf(path, sizeof path, "%s/ref.safetensors", dir);
    mlcc_safetensors *st = safetensors_open(path);
    const mlcc_st_tensor *t = st ? safetensors_find(st, "logits") : NULL;
    CHECK(t != NULL && t->shape[1] == vocab);
    if (t) {
        float *ref = malloc(t->nbytes);
        safetensors_read_f32(t, ref);
        const float *last = ref + (size_t)(n - 1) * (size_t)vocab;
        double mx = 0, diff = 0;
        for (int v = 0; v < vocab; v++) mx = fmax(mx, fabs(last[v])), diff = fmax(diff, fabs(logits[v] - last[v]));
        CHECK_MSG(diff / mx <= 1e-4, "chunked prefill: relative error %g", diff / mx);
        free(ref);
    }
    safetensors_close(st);
    /* pop 5 and feed them again: the same logits */
    CHECK_EQ_INT(r.pop(r.impl, seq, 5), 0);
    len = 5;
    CHECK_EQ_INT(r.step(r.impl, &seq, &len, 1, tokens + n - 5, again), 0);
    CHECK(memcmp(logits, again, sizeof(float) * (size_t)vocab) == 0);
    /* a fork holding the first n - 5 tokens, fed the same 5: the same logits again */
    CHECK_EQ_INT(r.fork(r.impl, seq, 8, n - 5), 0);
    int64_t fseq = 8;
    CHECK_EQ_INT(r.step(r.impl, &fseq, &len, 1, tokens + n - 5, again), 0);
    CHECK(memcmp(logits, again, sizeof(float) * (size_t)vocab) == 0);
    CHECK_EQ_INT(r.remove(r.impl, fseq), 0);
    /* greedy, one token per step */
    len = 1;
    for (int s = 0; s < ng; s++) {
        int32_t best = 0;
        for (int v = 1; v < vocab; v++)
            if (logits[v] > logits[best]) best = v;
        CHECK_MSG(best == greedy[s], "step %d: %d, want %d", s, best, greedy[s]);
        CHECK_EQ_INT(r.step(r.impl, &seq, &len, 1, &best, logits), 0);
    }
    /* past the window: an error, and the sequence stays usable */
    int32_t *many = calloc(128, sizeof(int32_t));
    len = 128;
    CHECK(r.step(r.impl, &seq, &len, 1, many, logits) != 0);
    CHECK_MSG(strstr(mlcc_last_error(), "context window") != NULL || strstr(mlcc_last_error(), "prefill chunk") != NULL, "%s",
              mlcc_last_error());
    CHECK_EQ_INT(r.pop(r.impl, seq, 1), 0);
    free(many);
    CHECK(r.pop(r.impl, seq, 1000) != 0);
    CHECK_EQ_INT(r.remove(r.impl, seq), 0);
    CHECK_EQ_INT(r.free_pages(r.impl), r.total_pages(r.impl));
    free(logits), free(again);
    mlcc_model_runner_free(&r);
    mlcc_model_free(m);
    free(dir);
}

/* Token-by-token decode through the KV cache reproduces every row of the full-sequence
 * reference: the cache's keys, rope positions, windows and soft-caps all line up. */
static void test_decode_matches_prefill(const char *name) {
    char rel[128], path[512];
    snprintf(rel, sizeof rel, "hf-tiny/%s", name);
    char *dir = test_data_path(rel);
    snprintf(path, sizeof path, "%s/meta.json", dir);
    json_t *meta = mlcc_json_load_file(path);
    int32_t tokens[64];
    int n = read_ids(meta, "tokens", tokens, 64);
    json_decref(meta);
    snprintf(path, sizeof path, "%s/ref.safetensors", dir);
    mlcc_safetensors *st = safetensors_open(path);
    const mlcc_st_tensor *t = st ? safetensors_find(st, "logits") : NULL;
    mlcc_model *m = mlcc_model_open(dir, &(mlcc_model_options){.max_seq = 128});
    CHECK_MSG(m != NULL && t != NULL, "%s: %s", name, mlcc_last_error());
    if (m && t) {
        int64_t vocab = m->cfg.vocab;
        float *ref = malloc(t->nbytes), *logits = malloc(sizeof(float) * (size_t)vocab);
        safetensors_read_f32(t, ref);
        double mx = 0, diff = 0;
        mlcc_model_kv kv;
        CHECK_EQ_INT(mlcc_model_kv_init(m, &kv), 0);
        for (int i = 0; i < n; i++) {
            int rc = mlcc_model_forward(m, &kv, &tokens[i], 1, logits);
            CHECK_MSG(rc == 0, "%s: step %d: %s", name, i, mlcc_last_error());
            if (rc) break;
            for (int64_t v = 0; v < vocab; v++) {
                mx = fmax(mx, fabs(ref[i * vocab + v]));
                diff = fmax(diff, fabs(logits[v] - ref[i * vocab + v]));
            }
        }
        printf("%-14s decode token by token: max rel error %.3g\n", name, diff / mx);
        CHECK_MSG(diff / mx <= 1e-4, "%s: decode differs from the reference by %g", name, diff / mx);
        CHECK_EQ_INT(kv.len, n);
        mlcc_model_kv_free(&kv);
        free(ref), free(logits);
    }
    mlcc_model_free(m);
    safetensors_close(st);
    free(dir);
}

static void collect(void *ctx, const char *text, size_t len) {
    sb_append_n(ctx, text, len);
}

/* The engine over the compiled model (tm-llama3: real tokenizer, chat prompt ids): at
 * temperature 0 it streams the text of the reference greedy ids; several prompts submitted at
 * once (batched decode, ragged prefill; greedy and seeded sampling) give each the text it gets
 * alone, with a running batch of at least 4; a shared prompt is prefilled once. */
static void test_engine(void) {
    char *dir = test_data_path("models/tm-llama3");
    char path[512];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    json_t *meta = mlcc_json_load_file(path);
    int32_t prompt[128], greedy[16];
    int n = read_ids(meta, "prompt_ids", prompt, 128), ng = read_ids(meta, "greedy_ids", greedy, 16);
    json_decref(meta);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    mlcc_tokenizer *tok = mlcc_tokenizer_load(path);
    CHECK_MSG(tok != NULL, "%s", mlcc_last_error());
    mlcc_model *m = mlcc_model_open(dir, &(mlcc_model_options){.max_seq = 128, .max_batch = 8, .prefill_chunk = 64});
    CHECK_MSG(m != NULL, "%s", mlcc_last_error());
    mlcc_model_runner r;
    if (tok && m && mlcc_model_runner_init(&r, m, 0) == 0) {
        /* config.json lists three end-of-sequence ids */
        CHECK(m->cfg.n_eos == 3 && m->cfg.eos_ids[0] == 128001 && m->cfg.eos_ids[2] == 128009);
        mlcc_engine *e = mlcc_engine_new(&r, tok, m->cfg.eos_ids, m->cfg.n_eos);
        mlcc_gen_config cfg = mlcc_gen_defaults();
        cfg.sampling.temperature = 0;
        cfg.max_tokens = ng;
        cfg.ignore_eos = 1;
        mlcc_strbuf text = STRBUF_INIT;
        mlcc_gen_result res;
        CHECK_EQ_INT(mlcc_engine_generate(e, prompt, (size_t)n, &cfg, collect, &text, &res), 0);
        CHECK_EQ_INT(res.completion_tokens, ng);
        char *want = mlcc_tokenizer_decode(tok, greedy, (size_t)ng, 0, NULL);
        CHECK_MSG(want && strcmp(sb_cstr(&text), want) == 0, "engine text '%s', want '%s'", sb_cstr(&text), want ? want : "?");
        free(want);

        /* batch equivalence: 8 variants of the prompt of different lengths, greedy and seeded
         * sampling, different max_tokens: alone, then all at once */
        enum { K = 8 };
        int32_t prompts[K][128];
        mlcc_gen_config cfgs[K];
        char *alone[K];
        mlcc_engine_reset(e);
        for (int k = 0; k < K; k++) {
            memcpy(prompts[k], prompt, sizeof(int32_t) * (size_t)n);
            prompts[k][n - 3] = 1000 + 97 * k; /* a different word near the end */
            cfgs[k] = cfg;
            cfgs[k].max_tokens = ng - k;
            if (k % 2) cfgs[k].sampling.temperature = 0.9f, cfgs[k].has_seed = 1, cfgs[k].seed = 100 + (uint64_t)k;
            sb_clear(&text);
            CHECK_EQ_INT(mlcc_engine_generate(e, prompts[k], (size_t)n - (size_t)k, &cfgs[k], collect, &text, &res), 0);
            alone[k] = sb_detach(&text);
            mlcc_engine_reset(e);
        }
        test_request_out outs[K];
        memset(outs, 0, sizeof outs);
        for (int k = 0; k < K; k++)
            CHECK(mlcc_engine_submit(e, prompts[k], (size_t)n - (size_t)k, &cfgs[k], test_collect_event, &outs[k]) > 0);
        test_wait_requests(outs, K);
        for (int k = 0; k < K; k++) {
            CHECK_MSG(strcmp(sb_cstr(&outs[k].text), alone[k]) == 0, "prompt %d batched: '%s', alone: '%s'", k,
                      sb_cstr(&outs[k].text), alone[k]);
            sb_free(&outs[k].text);
            free(alone[k]);
        }
        mlcc_engine_stats st0;
        mlcc_engine_get_stats(e, &st0);
        CHECK_MSG(st0.max_decode_batch >= 4, "the running batch never reached 4 (largest %d)", st0.max_decode_batch);

        /* a shared system prompt is prefilled once: the second request, submitted while the
         * first runs, forks its pages, and both give what they give alone */
        int32_t shared[2][128];
        char *solo[2];
        for (int k = 0; k < 2; k++) {
            memcpy(shared[k], prompt, sizeof(int32_t) * (size_t)n);
            shared[k][n - 2] = 2000 + 11 * k;
            mlcc_engine_reset(e);
            sb_clear(&text);
            CHECK_EQ_INT(mlcc_engine_generate(e, shared[k], (size_t)n, &cfg, collect, &text, &res), 0);
            solo[k] = sb_detach(&text);
        }
        mlcc_engine_reset(e);
        memset(outs, 0, sizeof outs);
        CHECK(mlcc_engine_submit(e, shared[0], (size_t)n, &cfg, test_collect_event, &outs[0]) > 0);
        test_wait_first_token(&outs[0]);
        CHECK(mlcc_engine_submit(e, shared[1], (size_t)n, &cfg, test_collect_event, &outs[1]) > 0);
        test_wait_requests(outs, 2);
        CHECK_MSG(outs[1].result.reused_tokens >= n - 2, "reused %d of the %d shared tokens", outs[1].result.reused_tokens,
                  n - 2);
        for (int k = 0; k < 2; k++) {
            CHECK_MSG(strcmp(sb_cstr(&outs[k].text), solo[k]) == 0, "shared prefix %d: '%s', alone '%s'", k,
                      sb_cstr(&outs[k].text), solo[k]);
            sb_free(&outs[k].text);
            free(solo[k]);
        }
        mlcc_engine_stats st;
        mlcc_engine_get_stats(e, &st);
        CHECK_MSG(st.max_decode_batch >= 2, "decode never batched (largest batch %d)", st.max_decode_batch);
        sb_free(&text);
        mlcc_engine_free(e);
        CHECK_EQ_INT(r.free_pages(r.impl), r.total_pages(r.impl)); /* the engine gave every page back */
        mlcc_model_runner_free(&r);
    } else {
        CHECK_MSG(0, "%s", mlcc_last_error());
    }
    mlcc_model_free(m);
    mlcc_tokenizer_free(tok);
    free(dir);
}

int main(void) {
    test_runner();
    /* sliding windows (mistral: every layer; gemma2: alternate layers, soft-caps), q/k norms,
     * llama3 rope scaling, fused projections */
    static const char *const decode_models[] = {"mistral", "gemma2", "qwen3", "llama3-rope", "phi3"};
    for (size_t i = 0; i < sizeof decode_models / sizeof decode_models[0]; i++) test_decode_matches_prefill(decode_models[i]);
    test_engine();
    return test_finish();
}
