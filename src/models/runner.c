/* runner.c - an engine model runner (engine/engine.h) over a compiled model library and its
 * paged KV cache: the engine's sequences are the cache's sequences, a step is mlcc_model_step
 * (batch_decode when every sequence takes one token, else batch_prefill), and the logits after
 * each sequence's last token are copied out for the samplers. */
#include "models/runner.h"

#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/error.h"

_Static_assert(MLCC_ENGINE_OUT_OF_PAGES == MLCC_KV_OUT_OF_PAGES, "the engine and the KV cache agree on out of pages");

/* MLCC_GPU_SAMPLING=0 brings every row of logits to the host (for comparison): neither greedy
 * nor sampled steps pick their tokens on the device. */
static int getenv_off(const char *name) {
    const char *v = getenv(name);
    return v && !strcmp(v, "0");
}

typedef struct runner_state {
    mlcc_model *model;
    MLCCKVCache *kv;
} runner_state;

static int add(void *impl, int64_t seq) {
    runner_state *r = impl;
    return mlcc_kv_cache_add_sequence(r->kv, seq);
}

static int remove_seq(void *impl, int64_t seq) {
    runner_state *r = impl;
    return mlcc_kv_cache_remove_sequence(r->kv, seq);
}

static int fork_seq(void *impl, int64_t parent, int64_t child, int64_t pos) {
    runner_state *r = impl;
    return mlcc_kv_cache_fork_sequence(r->kv, parent, child, pos);
}

static int pop(void *impl, int64_t seq, int64_t n) {
    runner_state *r = impl;
    return mlcc_kv_cache_pop_n(r->kv, seq, n);
}

static int step(void *impl, const int64_t *seqs, const int64_t *lens, int nseq, const int32_t *tokens, float *logits) {
    runner_state *r = impl;
    MLCCNDArray *out;
    int rc = mlcc_model_step(r->model, r->kv, seqs, lens, nseq, tokens, NULL, 0, &out);
    if (rc) return rc;
    memcpy(logits, out->dl.data, sizeof(float) * (size_t)nseq * (size_t)r->model->cfg.vocab);
    mlcc_ndarray_release(out);
    return 0;
}

static int step_greedy(void *impl, const int64_t *seqs, const int64_t *lens, int nseq, const int32_t *tokens, int32_t *ids,
                       double *logprobs) {
    runner_state *r = impl;
    return mlcc_model_step_greedy(r->model, r->kv, seqs, lens, nseq, tokens, ids, logprobs);
}

static int step_sample(void *impl, const int64_t *seqs, const int64_t *lens, int nseq, const int32_t *tokens,
                       const mlcc_sample_request *rows, int32_t *ids, double *logprobs, int *drew) {
    runner_state *r = impl;
    mlcc_cuda_sample_row *dev = mlcc_xmalloc(sizeof *dev * (size_t)(nseq > 0 ? nseq : 1));
    for (int i = 0; i < nseq; i++) {
        const mlcc_sampling_params *p = rows[i].params;
        dev[i] = (mlcc_cuda_sample_row){p->temperature,        p->top_p,       p->min_p,        p->repetition_penalty,
                                        p->presence_penalty,   p->frequency_penalty, p->top_k,  p->bias_ids,
                                        p->bias_values,        p->nbias,       rows[i].pen_ids, rows[i].pen_counts,
                                        rows[i].npen,          rows[i].uniform};
    }
    int rc = mlcc_model_step_sample(r->model, r->kv, seqs, lens, nseq, tokens, dev, ids, logprobs, drew);
    free(dev);
    return rc;
}

static int64_t free_pages(void *impl) {
    runner_state *r = impl;
    return mlcc_kv_cache_free_pages(r->kv);
}

static int64_t total_pages(void *impl) {
    runner_state *r = impl;
    return mlcc_kv_cache_total_pages(r->kv);
}

int mlcc_model_runner_init(mlcc_model_runner *runner, mlcc_model *m, int64_t kv_tokens) {
    memset(runner, 0, sizeof *runner);
    const decoder_bounds *b = &m->bounds;
    if (kv_tokens <= 0) kv_tokens = m->plan.kv_tokens > 0 ? m->plan.kv_tokens : b->context_window * b->max_batch;
    runner_state *r = mlcc_xcalloc(1, sizeof *r);
    r->model = m;
    r->kv = mlcc_model_create_kv_cache(m, b->max_batch, kv_tokens);
    if (!r->kv) {
        free(r);
        return -1;
    }
    *runner = (mlcc_model_runner){r,          (int)m->cfg.vocab, (int)b->prefill_chunk, (int)b->context_window,
                                  (int)b->max_batch, add,         remove_seq,           fork_seq,
                                  pop,        step,              free_pages,            total_pages, NULL, NULL};
    if ((m->device.device_type == kDLCUDA || m->device.device_type == kDLVulkan) && !getenv_off("MLCC_GPU_SAMPLING"))
        runner->step_greedy = step_greedy;
    /* Vulkan keeps the host sampler for rows with temperature or processors */
    if (m->device.device_type == kDLCUDA && !getenv_off("MLCC_GPU_SAMPLING")) runner->step_sample = step_sample;
    return 0;
}

void mlcc_model_runner_free(mlcc_model_runner *runner) {
    runner_state *r = runner->impl;
    if (r) mlcc_kv_cache_release(r->kv);
    free(r);
    runner->impl = NULL;
}
