/* runner.c - an engine model runner (engine/engine.h) over a compiled model and one
 * contiguous KV cache (mlcc_model_kv): forward runs the new tokens after the cached ones
 * (forward_kv), pop truncates the cache, reset empties it. One sequence at a time, as the
 * engine's first form needs; the paged KV cache (batching, prefix sharing) replaces it. */
#include "models/runner.h"

#include <stdlib.h>

#include "support/alloc.h"

typedef struct runner_state {
    mlcc_model *model;
    mlcc_model_kv kv;
} runner_state;

static int reset(void *impl) {
    runner_state *r = impl;
    mlcc_model_kv_free(&r->kv);
    mlcc_model_kv_init(r->model, &r->kv);
    return 0;
}

static int pop(void *impl, int n) {
    runner_state *r = impl;
    return mlcc_model_kv_pop(r->model, &r->kv, n);
}

static int forward(void *impl, const int32_t *tokens, int n, float *logits) {
    runner_state *r = impl;
    return mlcc_model_forward(r->model, &r->kv, tokens, n, logits);
}

mlcc_model_runner mlcc_model_runner_new(mlcc_model *m) {
    runner_state *r = mlcc_xcalloc(1, sizeof *r);
    r->model = m;
    mlcc_model_kv_init(m, &r->kv);
    mlcc_model_runner runner = {r, (int)m->cfg.vocab, (int)m->max_seq, (int)m->max_seq, reset, pop, forward};
    return runner;
}

void mlcc_model_runner_free(mlcc_model_runner *runner) {
    runner_state *r = runner->impl;
    if (r) mlcc_model_kv_free(&r->kv);
    free(r);
    runner->impl = NULL;
}
