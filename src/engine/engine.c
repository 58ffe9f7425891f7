/* engine.c - the first-form generation engine (see engine.h).
 *
 * Threads: the caller of mlcc_engine_generate hands a job to the worker through `job` under
 * `lock` and waits on `done`; the worker runs it and signals. Cancellation is an atomic flag
 * the worker reads between steps. The worker alone touches the model, the KV cache and
 * `history` (the tokens the cache holds). */
#include "engine/engine.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/stop.h"
#include "grammar/guide.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/strbuf.h"
#include "support/vec.h"

typedef struct gen_job {
    const int32_t *prompt;
    size_t nprompt;
    const mlcc_gen_config *cfg;
    mlcc_stream_fn stream;
    void *ctx;
    mlcc_gen_result *result;
} gen_job;

struct mlcc_engine {
    mlcc_model_runner *model;
    mlcc_tokenizer *tok;
    int32_t *eos;
    int neos;
    pthread_t worker;
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    gen_job *job;
    int job_done;
    int quit;
    atomic_int cancel;
    MLCC_VEC(int32_t) history; /* tokens in the model's sequence */
    int need_reset;
    float *logits;
    mlcc_sampler *sampler;
    mlcc_grammar_vocab *gvocab; /* made on the first request with a grammar */
};

mlcc_gen_config mlcc_gen_defaults(void) {
    mlcc_gen_config c;
    memset(&c, 0, sizeof c);
    c.sampling = mlcc_sampling_defaults();
    return c;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int fail_job(gen_job *job, const char *what) {
    job->result->finish_reason = "error";
    snprintf(job->result->error, sizeof job->result->error, "%s", what);
    return -1;
}

/* Brings the model's sequence to `prompt`, reusing the longest common prefix of what it holds,
 * and leaves the logits after the last prompt token in e->logits. */
static int prefill(mlcc_engine *e, gen_job *job) {
    mlcc_model_runner *m = e->model;
    size_t common = 0;
    if (e->need_reset) {
        if (m->reset(m->impl) != 0) return fail_job(job, mlcc_last_error());
        vec_clear(&e->history);
        e->need_reset = 0;
    }
    while (common < e->history.len && common < job->nprompt && e->history.data[common] == job->prompt[common]) common++;
    /* the last prompt token is always run again: its logits are needed */
    if (common == job->nprompt) common--;
    if (common < e->history.len) {
        if (m->pop(m->impl, (int)(e->history.len - common)) != 0) return fail_job(job, mlcc_last_error());
        e->history.len = common;
    }
    job->result->reused_tokens = (int)common;
    for (size_t pos = common; pos < job->nprompt;) {
        if (atomic_load(&e->cancel)) return 1;
        int n = (int)(job->nprompt - pos);
        if (n > m->prefill_chunk) n = m->prefill_chunk;
        if (m->forward(m->impl, job->prompt + pos, n, e->logits) != 0) {
            e->need_reset = 1;
            return fail_job(job, mlcc_last_error());
        }
        for (int i = 0; i < n; i++) vec_push(&e->history, job->prompt[pos + i]);
        pos += (size_t)n;
    }
    return 0;
}

static int is_stop_token(const mlcc_engine *e, const mlcc_gen_config *cfg, int32_t t) {
    if (!cfg->ignore_eos)
        for (int i = 0; i < e->neos; i++)
            if (e->eos[i] == t) return 1;
    for (int i = 0; i < cfg->nstop_ids; i++)
        if (cfg->stop_ids[i] == t) return 1;
    return 0;
}

static void emit_text(gen_job *job, mlcc_strbuf *text) {
    if (text->len && job->stream) job->stream(job->ctx, text->data, text->len);
    sb_clear(text);
}

static void run_job(mlcc_engine *e, gen_job *job) {
    const mlcc_gen_config *cfg = job->cfg;
    mlcc_gen_result *r = job->result;
    mlcc_model_runner *m = e->model;
    r->prompt_tokens = (int)job->nprompt;
    double t0 = now_seconds();
    int rc = prefill(e, job);
    double t1 = now_seconds();
    r->prefill_seconds = t1 - t0;
    if (rc < 0) return;
    if (rc > 0) {
        r->finish_reason = "cancelled";
        return;
    }
    if (cfg->has_seed) mlcc_sampler_reseed(e->sampler, cfg->seed);
    int limit = cfg->max_tokens > 0 ? cfg->max_tokens : m->context_window;
    if ((int)e->history.len + limit > m->context_window) limit = m->context_window - (int)e->history.len;
    mlcc_detok *detok = mlcc_detok_new(e->tok, 1);
    mlcc_stop_matcher stop;
    mlcc_stop_init(&stop, cfg->stop, cfg->nstop);
    mlcc_strbuf piece = STRBUF_INIT, safe = STRBUF_INIT;
    MLCC_VEC(int32_t) output = {0};
    r->finish_reason = "length";
    if (cfg->grammar && !e->gvocab) e->gvocab = mlcc_grammar_vocab_new(e->tok, m->vocab_size, e->eos, e->neos);
    mlcc_grammar_guide *guide = cfg->grammar && e->gvocab ? mlcc_grammar_guide_new(cfg->grammar, e->gvocab) : NULL;
    if (cfg->grammar && !guide) limit = fail_job(job, mlcc_last_error());
    for (int step = 0; step < limit; step++) {
        if (atomic_load(&e->cancel)) {
            r->finish_reason = "cancelled";
            break;
        }
        if (guide && mlcc_grammar_guide_mask(guide, e->logits, m->vocab_size) != 0) {
            fail_job(job, mlcc_last_error());
            break;
        }
        int32_t t = mlcc_sample(e->sampler, e->logits, m->vocab_size, &cfg->sampling, job->prompt, job->nprompt,
                                output.data, output.len, NULL);
        if (is_stop_token(e, cfg, t)) {
            /* the stop token is part of the sequence (it ends the turn in the KV cache) */
            if (m->forward(m->impl, &t, 1, e->logits) == 0) vec_push(&e->history, t);
            else e->need_reset = 1;
            r->finish_reason = "stop";
            break;
        }
        vec_push(&output, t);
        r->completion_tokens++;
        int grammar_done = guide ? mlcc_grammar_guide_accept(guide, t) : 0;
        mlcc_detok_push(detok, t, &piece);
        if (mlcc_stop_feed(&stop, piece.data ? piece.data : "", piece.len, &safe)) {
            emit_text(job, &safe);
            r->finish_reason = "stop";
            vec_push(&e->history, t);
            /* the model has not seen t yet: keep the cache consistent with history */
            if (m->forward(m->impl, &t, 1, e->logits) != 0) e->need_reset = 1;
            break;
        }
        sb_clear(&piece);
        emit_text(job, &safe);
        /* even after the last token: the cache then holds the whole reply, which the next turn
         * of a conversation reuses */
        if (m->forward(m->impl, &t, 1, e->logits) != 0) {
            e->need_reset = 1;
            fail_job(job, mlcc_last_error());
            break;
        }
        vec_push(&e->history, t);
        if (grammar_done > 0) {
            r->finish_reason = "stop";
            break;
        }
        if (grammar_done < 0) {
            fail_job(job, mlcc_last_error());
            break;
        }
    }
    mlcc_grammar_guide_free(guide);
    if (strcmp(r->finish_reason, "stop") != 0 || stop.matched < 0) {
        mlcc_detok_flush(detok, &piece);
        mlcc_stop_feed(&stop, piece.data ? piece.data : "", piece.len, &safe);
        mlcc_stop_flush(&stop, &safe);
        emit_text(job, &safe);
    }
    if (strcmp(r->finish_reason, "cancelled") == 0) e->need_reset = 1;
    r->decode_seconds = now_seconds() - t1;
    vec_free(&output);
    sb_free(&piece);
    sb_free(&safe);
    mlcc_stop_free(&stop);
    mlcc_detok_free(detok);
}

static void *worker_main(void *arg) {
    mlcc_engine *e = arg;
    pthread_mutex_lock(&e->lock);
    for (;;) {
        while (!e->job && !e->quit) pthread_cond_wait(&e->wake, &e->lock);
        if (e->quit) break;
        gen_job *job = e->job;
        pthread_mutex_unlock(&e->lock);
        run_job(e, job);
        pthread_mutex_lock(&e->lock);
        e->job = NULL;
        e->job_done = 1;
        pthread_cond_broadcast(&e->done);
    }
    pthread_mutex_unlock(&e->lock);
    return NULL;
}

mlcc_engine *mlcc_engine_new(mlcc_model_runner *model, mlcc_tokenizer *tok, const int32_t *eos, int neos) {
    mlcc_engine *e = mlcc_xcalloc(1, sizeof *e);
    e->model = model;
    e->tok = tok;
    e->eos = mlcc_xmalloc(sizeof(int32_t) * (size_t)(neos > 0 ? neos : 1));
    mlcc_memcpy(e->eos, eos, sizeof(int32_t) * (size_t)neos);
    e->neos = neos;
    e->logits = mlcc_xmalloc(sizeof(float) * (size_t)model->vocab_size);
    e->sampler = mlcc_sampler_new((uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)e);
    e->need_reset = 1;
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->wake, NULL);
    pthread_cond_init(&e->done, NULL);
    if (pthread_create(&e->worker, NULL, worker_main, e) != 0) {
        mlcc_set_error("engine: cannot start the worker thread");
        free(e->eos);
        free(e->logits);
        mlcc_sampler_free(e->sampler);
        free(e);
        return NULL;
    }
    return e;
}

void mlcc_engine_free(mlcc_engine *e) {
    if (!e) return;
    pthread_mutex_lock(&e->lock);
    e->quit = 1;
    pthread_cond_broadcast(&e->wake);
    pthread_mutex_unlock(&e->lock);
    pthread_join(e->worker, NULL);
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->wake);
    pthread_cond_destroy(&e->done);
    vec_free(&e->history);
    free(e->eos);
    free(e->logits);
    mlcc_sampler_free(e->sampler);
    mlcc_grammar_vocab_free(e->gvocab);
    free(e);
}

int mlcc_engine_generate(mlcc_engine *e, const int32_t *prompt, size_t nprompt, const mlcc_gen_config *cfg,
                         mlcc_stream_fn stream, void *ctx, mlcc_gen_result *result) {
    memset(result, 0, sizeof *result);
    if (nprompt == 0) return mlcc_set_error("the prompt is empty");
    if ((int64_t)nprompt >= e->model->context_window)
        return mlcc_set_error("the prompt has %zu tokens; the context window is %d", nprompt, e->model->context_window);
    for (size_t i = 0; i < nprompt; i++)
        if (prompt[i] < 0 || prompt[i] >= e->model->vocab_size)
            return mlcc_set_error("prompt token %zu (%d) is outside the vocabulary", i, prompt[i]);
    const char *bad = mlcc_sampling_params_check(&cfg->sampling, e->model->vocab_size);
    if (bad) return mlcc_set_error("%s", bad);
    gen_job job = {prompt, nprompt, cfg, stream, ctx, result};
    atomic_store(&e->cancel, 0);
    pthread_mutex_lock(&e->lock);
    e->job = &job;
    e->job_done = 0;
    pthread_cond_broadcast(&e->wake);
    while (!e->job_done) pthread_cond_wait(&e->done, &e->lock);
    pthread_mutex_unlock(&e->lock);
    return 0;
}

void mlcc_engine_cancel(mlcc_engine *e) {
    atomic_store(&e->cancel, 1);
}

void mlcc_engine_reset(mlcc_engine *e) {
    pthread_mutex_lock(&e->lock);
    e->need_reset = 1;
    pthread_mutex_unlock(&e->lock);
}
