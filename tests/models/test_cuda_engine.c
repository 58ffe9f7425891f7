/* test_cuda_engine.c - the engine over a model on CUDA (issue 17's engine tests on the GPU):
 *   - tm-llama3 (real tokenizer, chat prompt ids) at temperature 0 streams the text of the
 *     reference greedy ids;
 *   - batch equivalence: 8 prompts of different lengths, greedy and seeded sampling, give
 *     submitted at once (batched decode, ragged prefill) the text each gives alone;
 *   - no leak across 1000 requests: waves of 16 requests started together (the worker held
 *     while they are submitted, so every wave runs the same steps). After 8 waves of warm-up
 *     (the host's arenas grow for the first few) the device memory in use stays exactly the
 *     same, the free KV pages too (the cached prefixes are the same each wave), and the host's
 *     resident memory grows by less than 4 MB over the remaining 896 requests (4.6 kB a
 *     request); once the engine is freed every page is back, and once the model is freed the
 *     device memory in use is what it was before it was opened.
 * The model is float32 (generated kernels); skips without a CUDA device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/runner.h"
#include "runtime/cuda.h"
#include "support/error.h"
#include "support/json.h"
#include "support/strbuf.h"
#include "engine_collect.h"
#include "test.h"

enum { MAX_PROMPT = 128, BATCH = 8, WAVE = 16, WAVES = 64, WARMUP_WAVES = 8 };

static int read_ids(json_t *j, const char *key, int32_t *out, int cap) {
    json_t *a = json_object_get(j, key);
    int n = (int)json_array_size(a);
    if (n > cap) n = cap;
    for (int i = 0; i < n; i++) out[i] = (int32_t)json_integer_value(json_array_get(a, (size_t)i));
    return n;
}

static void collect(void *ctx, const char *text, size_t len) {
    sb_append_n(ctx, text, len);
}

/* VmRSS of this process in kB, -1 when /proc says nothing. */
static long resident_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) break;
    fclose(f);
    return kb;
}

/* Submits prompts[0..n) with their configs while the worker is held, so they start as one
 * batch, and waits for all of them. */
static void run_together(mlcc_engine *e, int32_t (*prompts)[MAX_PROMPT], const size_t *lens, const mlcc_gen_config *cfgs,
                         test_request_out *outs, int n) {
    memset(outs, 0, sizeof *outs * (size_t)n);
    mlcc_engine_hold(e, 1);
    for (int k = 0; k < n; k++) CHECK(mlcc_engine_submit(e, prompts[k], lens[k], &cfgs[k], test_collect_event, &outs[k]) > 0);
    mlcc_engine_hold(e, 0);
    test_wait_requests(outs, n);
}

static void test_greedy_and_batches(mlcc_engine *e, mlcc_tokenizer *tok, const int32_t *prompt, int n, const int32_t *greedy,
                                    int ng) {
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
    printf("greedy on cuda: %d tokens, %s\n", res.completion_tokens, want && !strcmp(sb_cstr(&text), want) ? "as the reference" : "DIFFERENT");
    free(want);

    int32_t prompts[BATCH][MAX_PROMPT];
    size_t lens[BATCH];
    mlcc_gen_config cfgs[BATCH];
    char *alone[BATCH];
    for (int k = 0; k < BATCH; k++) {
        memcpy(prompts[k], prompt, sizeof(int32_t) * (size_t)n);
        prompts[k][n - 3] = 1000 + 97 * k; /* a different word near the end */
        lens[k] = (size_t)n - (size_t)k;
        cfgs[k] = cfg;
        cfgs[k].max_tokens = ng - k;
        if (k % 2) cfgs[k].sampling.temperature = 0.9f, cfgs[k].has_seed = 1, cfgs[k].seed = 100 + (uint64_t)k;
        mlcc_engine_reset(e);
        sb_clear(&text);
        CHECK_EQ_INT(mlcc_engine_generate(e, prompts[k], lens[k], &cfgs[k], collect, &text, &res), 0);
        alone[k] = sb_detach(&text);
    }
    mlcc_engine_reset(e);
    test_request_out outs[BATCH];
    run_together(e, prompts, lens, cfgs, outs, BATCH);
    int same = 0;
    for (int k = 0; k < BATCH; k++) {
        CHECK_MSG(strcmp(sb_cstr(&outs[k].text), alone[k]) == 0, "prompt %d batched: '%s', alone: '%s'", k,
                  sb_cstr(&outs[k].text), alone[k]);
        same += strcmp(sb_cstr(&outs[k].text), alone[k]) == 0;
        sb_free(&outs[k].text);
        free(alone[k]);
    }
    mlcc_engine_stats st;
    mlcc_engine_get_stats(e, &st);
    CHECK_MSG(st.max_decode_batch >= 4, "the running batch never reached 4 (largest %d)", st.max_decode_batch);
    printf("batch equivalence: %d of %d prompts batched as alone (largest decode batch %d)\n", same, BATCH, st.max_decode_batch);
    sb_free(&text);
}

static void test_no_leak(mlcc_engine *e, mlcc_model_runner *r, const int32_t *prompt, int n) {
    mlcc_engine_reset(e);
    int32_t prompts[WAVE][MAX_PROMPT];
    size_t lens[WAVE];
    mlcc_gen_config cfgs[WAVE];
    for (int k = 0; k < WAVE; k++) {
        lens[k] = (size_t)(8 + (k * 5) % (n - 8));
        memcpy(prompts[k], prompt + (size_t)n - lens[k], sizeof(int32_t) * lens[k]);
        cfgs[k] = mlcc_gen_defaults();
        cfgs[k].max_tokens = 2 + k % 5;
        cfgs[k].ignore_eos = 1;
        cfgs[k].has_seed = 1, cfgs[k].seed = (uint64_t)k;
        if (k % 3 == 0) cfgs[k].sampling.temperature = 0;
    }
    test_request_out outs[WAVE];
    size_t dev_warm = 0;
    long rss_warm = 0;
    int64_t pages_warm = 0;
    int finished = 0, pages_same = 1;
    for (int w = 0; w < WAVES; w++) {
        run_together(e, prompts, lens, cfgs, outs, WAVE);
        for (int k = 0; k < WAVE; k++) {
            finished += outs[k].result.completion_tokens == cfgs[k].max_tokens;
            sb_free(&outs[k].text);
        }
        int64_t free_pages = r->free_pages(r->impl); /* the cached prefixes hold the same pages each wave */
        if (w == WARMUP_WAVES - 1) dev_warm = mlcc_cuda_memory_stats(0).in_use, rss_warm = resident_kb(), pages_warm = free_pages;
        if (w >= WARMUP_WAVES) pages_same &= free_pages == pages_warm;
    }
    size_t dev_end = mlcc_cuda_memory_stats(0).in_use;
    long rss_end = resident_kb();
    CHECK_EQ_INT(finished, WAVE * WAVES);
    CHECK_MSG(pages_same, "the free KV pages changed between waves after the first %d", WARMUP_WAVES);
    CHECK_MSG(dev_end == dev_warm, "device memory in use: %zu bytes after %d requests, %zu after %d", dev_warm,
              WAVE * WARMUP_WAVES, dev_end, WAVE * WAVES);
    CHECK_MSG(rss_warm > 0 && rss_end - rss_warm < 4 * 1024, "resident memory grew from %ld kB to %ld kB", rss_warm, rss_end);
    printf("%d requests: device memory in use %zu -> %zu bytes, resident %ld -> %ld kB\n", WAVE * WAVES, dev_warm, dev_end,
           rss_warm, rss_end);
}

int main(void) {
    if (!mlcc_cuda_available()) TEST_SKIP("%s", mlcc_cuda_status());
    char *dir = test_data_path("models/tm-llama3");
    char path[512];
    snprintf(path, sizeof path, "%s/meta.json", dir);
    json_t *meta = mlcc_json_load_file(path);
    CHECK_MSG(meta != NULL, "%s", mlcc_last_error());
    int32_t prompt[MAX_PROMPT], greedy[16];
    int n = read_ids(meta, "prompt_ids", prompt, MAX_PROMPT), ng = read_ids(meta, "greedy_ids", greedy, 16);
    json_decref(meta);
    CHECK(n > 16 && ng > BATCH);
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    mlcc_tokenizer *tok = mlcc_tokenizer_load(path);
    CHECK_MSG(tok != NULL, "%s", mlcc_last_error());

    mlcc_cuda_mem_stats before = mlcc_cuda_memory_stats(0);
    mlcc_model *m = mlcc_model_open(
        dir, &(mlcc_model_options){.max_seq = 128, .max_batch = WAVE, .prefill_chunk = 128, .device = "cuda"});
    CHECK_MSG(m != NULL, "%s", mlcc_last_error());
    mlcc_model_runner r;
    if (tok && m && n > 16 && ng > BATCH && mlcc_model_runner_init(&r, m, 0) == 0) {
        mlcc_engine *e = mlcc_engine_new(&r, tok, m->cfg.eos_ids, m->cfg.n_eos);
        test_greedy_and_batches(e, tok, prompt, n, greedy, ng);
        test_no_leak(e, &r, prompt, n);
        mlcc_engine_free(e);
        CHECK_EQ_INT(r.free_pages(r.impl), r.total_pages(r.impl)); /* the engine gave every page back */
        mlcc_model_runner_free(&r);
    } else {
        CHECK_MSG(0, "%s", mlcc_last_error());
    }
    mlcc_model_free(m);
    mlcc_cuda_linear_release(0);
    mlcc_cuda_mem_stats after = mlcc_cuda_memory_stats(0);
    CHECK_MSG(after.in_use == before.in_use, "%zu bytes still in use on cuda:0 (%zu before)", after.in_use, before.in_use);
    mlcc_tokenizer_free(tok);
    free(dir);
    return test_finish();
}
