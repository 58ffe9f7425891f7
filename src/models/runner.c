/* runner.c - an engine model runner (engine/engine.h) over a compiled model and one sequence
 * in its paged KV cache (mlcc_model_kv): forward runs the new tokens after the cached ones
 * (batch_prefill in chunks, or batch_decode for one token), pop drops tokens from the end,
 * reset empties the sequence (its pages go back to the pool). */
#include "models/runner.h"

#include <stdlib.h>

#include "support/alloc.h"

typedef struct runner_state {
    mlcc_model *model;
    mlcc_model_kv kv;
} runner_state;

static int reset(void *impl) {
    runner_state *r = impl;
    return r->kv.cache ? mlcc_model_kv_pop(&r->kv, r->kv.len) : mlcc_model_kv_init(r->model, &r->kv);
}

static int pop(void *impl, int n) {
    runner_state *r = impl;
    return mlcc_model_kv_pop(&r->kv, n);
}

static int forward(void *impl, const int32_t *tokens, int n, float *logits) {
    runner_state *r = impl;
    if (!r->kv.cache && mlcc_model_kv_init(r->model, &r->kv)) return -1;
    return mlcc_model_forward(r->model, &r->kv, tokens, n, logits);
}

mlcc_model_runner mlcc_model_runner_new(mlcc_model *m) {
    runner_state *r = mlcc_xcalloc(1, sizeof *r);
    r->model = m;
    if (mlcc_model_kv_init(m, &r->kv)) r->kv.cache = NULL; /* reset tries again; forward reports it */
    mlcc_model_runner runner = {r, (int)m->cfg.vocab, (int)m->bounds.prefill_chunk, (int)m->max_seq, reset, pop, forward};
    return runner;
}

void mlcc_model_runner_free(mlcc_model_runner *runner) {
    runner_state *r = runner->impl;
    if (r) mlcc_model_kv_free(&r->kv);
    free(r);
    runner->impl = NULL;
}
