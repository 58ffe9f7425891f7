/* runner.c - an engine model runner (engine/engine.h) over a compiled model without a KV
 * cache: it keeps the sequence's token ids and recomputes the whole prefix on every forward
 * (prefill_at on the last position). Correct for any length up to the compiled bound, and
 * quadratic in it: the form to use until the paged KV cache's decode path is in. */
#include "models/runner.h"

#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/error.h"

typedef struct recompute {
    mlcc_model *model;
    int32_t *seq;
    int len;
} recompute;

static int reset(void *impl) {
    ((recompute *)impl)->len = 0;
    return 0;
}

static int pop(void *impl, int n) {
    recompute *r = impl;
    if (n < 0 || n > r->len) return mlcc_set_error("pop %d tokens from a sequence of %d", n, r->len);
    r->len -= n;
    return 0;
}

static int forward(void *impl, const int32_t *tokens, int n, float *logits) {
    recompute *r = impl;
    if (n < 1) return mlcc_set_error("forward: no tokens");
    if ((int64_t)r->len + n > r->model->max_seq)
        return mlcc_set_error("forward: %d + %d tokens exceed the context window of %lld", r->len, n,
                              (long long)r->model->max_seq);
    memcpy(r->seq + r->len, tokens, sizeof(int32_t) * (size_t)n);
    if (mlcc_model_last_logits(r->model, r->seq, r->len + n, logits)) return -1; /* sequence unchanged */
    r->len += n;
    return 0;
}

mlcc_model_runner mlcc_model_runner_new(mlcc_model *m) {
    recompute *r = mlcc_xcalloc(1, sizeof *r);
    r->model = m;
    r->seq = mlcc_xmalloc(sizeof(int32_t) * (size_t)m->max_seq);
    mlcc_model_runner runner = {r, (int)m->cfg.vocab, (int)m->max_seq, (int)m->max_seq, reset, pop, forward};
    return runner;
}

void mlcc_model_runner_free(mlcc_model_runner *runner) {
    recompute *r = runner->impl;
    if (r) free(r->seq);
    free(r);
    runner->impl = NULL;
}
