/* engine.c - the continuous-batching generation engine (see engine.h).
 *
 * Threads: callers hand requests, aborts and resets to the worker through `inbox` under `lock`
 * and wake it with `wake`; everything else (the requests in flight, the prefix cache, the
 * model and its KV cache) belongs to the worker alone. mlcc_engine_cancel is an atomic flag,
 * so a signal handler may call it.
 *
 * The worker's requests live in `live`, in admission order: waiting ones (no sequence yet, or
 * preempted) and running ones (a sequence in the KV cache holding the first `computed` of
 * their tokens). A request's tokens are its prompt followed by what it generated; the ones past
 * `computed` still have to go through the model. One left: the next decode step feeds it; more
 * (a new prompt, or a preempted request's whole history): prefill steps feed them in chunks.
 * After a step that computed all of a request's tokens, its row of logits gives the next token.
 *
 * The prefix cache keeps the sequences of finished requests (with the tokens they hold) for a
 * later request that starts the same way, as a chat does turn after turn: the new sequence is
 * a fork sharing the common pages. Entries are dropped oldest first when pages run short. A
 * running request's sequence serves the same way (a shared system prompt is prefilled once). */
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
#include "support/clock.h"
#include "support/error.h"
#include "support/strbuf.h"
#include "support/vec.h"

typedef MLCC_VEC(int32_t) token_vec;

typedef struct request {
    int64_t id;
    token_vec tokens; /* prompt, then generated tokens */
    size_t nprompt;
    int64_t seq;      /* KV sequence, or -1 while waiting */
    int64_t computed; /* tokens the sequence holds */
    int generated, limit;
    int aborted;
    /* the request's settings, with copies of everything they point to */
    mlcc_gen_config cfg;
    char **stops;
    int32_t *stop_ids, *bias_ids;
    float *bias_values;
    mlcc_sampler *sampler;
    mlcc_detok *detok;
    mlcc_stop_matcher stop;
    mlcc_grammar_guide *guide; /* with cfg.grammar: made on the first sampling */
    mlcc_event_fn on_event;
    void *ctx;
    mlcc_gen_result result;
    double t_submit, t_scheduled, t_first;
    struct request *next; /* in the inbox */
} request;

typedef struct cached_prefix {
    int64_t seq;
    token_vec tokens;
    uint64_t last_used;
} cached_prefix;

struct mlcc_engine {
    mlcc_model_runner *model;
    mlcc_tokenizer *tok;
    int32_t *eos;
    int neos;
    pthread_t worker;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    /* under lock: what callers hand over */
    request *inbox, **inbox_tail;
    MLCC_VEC(int64_t) aborts;
    int reset_requested, quit, held;
    int64_t next_id;
    mlcc_engine_stats stats;
    atomic_int cancel_all;
    /* the worker's own */
    MLCC_VEC(request *) live;
    MLCC_VEC(cached_prefix) cache;
    int64_t next_seq;
    uint64_t clock;
    int last_was_prefill;
    int admit_blocked; /* after a preemption: admit nothing until pages come back */
    float *logits;     /* [max_batch, vocab] */
    int32_t *greedy_ids;      /* [max_batch]: a step_greedy's or step_sample's tokens */
    double *greedy_logprobs;  /* [max_batch] */
    int *drew;                /* [max_batch]: step_sample used the row's uniform */
    mlcc_sample_request *sample_rows; /* [max_batch] */
    MLCC_VEC(int32_t) pen_ids, pen_counts; /* step_sample's penalty lists, all rows */
    float *row_copy;   /* [vocab] for logprobs */
    int64_t *step_seqs, *step_lens;
    request **step_reqs;
    token_vec step_tokens;
    mlcc_grammar_vocab *gvocab; /* made for the first request with a grammar */
};

mlcc_gen_config mlcc_gen_defaults(void) {
    mlcc_gen_config c;
    memset(&c, 0, sizeof c);
    c.sampling = mlcc_sampling_defaults();
    return c;
}

/* ---- requests ---- */

static void *copy_array(const void *src, size_t n, size_t size) {
    if (!src || n == 0) return NULL;
    void *p = mlcc_xmalloc(n * size);
    memcpy(p, src, n * size);
    return p;
}

static request *request_new(mlcc_engine *e, const int32_t *prompt, size_t nprompt, const mlcc_gen_config *cfg,
                            mlcc_event_fn on_event, void *ctx) {
    request *r = mlcc_xcalloc(1, sizeof *r);
    for (size_t i = 0; i < nprompt; i++) vec_push(&r->tokens, prompt[i]);
    r->nprompt = nprompt;
    r->seq = -1;
    r->cfg = *cfg;
    if (cfg->nstop > 0) {
        r->stops = mlcc_xcalloc((size_t)cfg->nstop, sizeof(char *));
        for (int i = 0; i < cfg->nstop; i++) r->stops[i] = mlcc_xstrdup(cfg->stop[i] ? cfg->stop[i] : "");
    }
    r->cfg.stop = (const char *const *)r->stops;
    r->cfg.stop_ids = r->stop_ids = copy_array(cfg->stop_ids, (size_t)cfg->nstop_ids, sizeof(int32_t));
    r->cfg.sampling.bias_ids = r->bias_ids = copy_array(cfg->sampling.bias_ids, (size_t)cfg->sampling.nbias, sizeof(int32_t));
    r->cfg.sampling.bias_values = r->bias_values =
        copy_array(cfg->sampling.bias_values, (size_t)cfg->sampling.nbias, sizeof(float));
    int window = e->model->context_window;
    r->limit = cfg->max_tokens > 0 ? cfg->max_tokens : window;
    uint64_t seed = cfg->has_seed ? cfg->seed : (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)r << 16);
    r->sampler = mlcc_sampler_new(seed);
    r->detok = mlcc_detok_new(e->tok, 1);
    mlcc_stop_init(&r->stop, r->cfg.stop, r->cfg.nstop);
    r->on_event = on_event;
    r->ctx = ctx;
    r->result.prompt_tokens = (int)nprompt;
    r->t_submit = mlcc_now_seconds();
    return r;
}

static void request_free(request *r) {
    vec_free(&r->tokens);
    for (int i = 0; i < r->cfg.nstop; i++) free(r->stops[i]);
    free(r->stops);
    free(r->stop_ids);
    free(r->bias_ids);
    free(r->bias_values);
    mlcc_sampler_free(r->sampler);
    mlcc_detok_free(r->detok);
    mlcc_stop_free(&r->stop);
    mlcc_grammar_guide_free(r->guide);
    free(r);
}

static int64_t remaining(const request *r) {
    return (int64_t)r->tokens.len - r->computed;
}

static void emit(request *r, const char *text, size_t len, int32_t token, double logprob, const float *row, int vocab,
                 const char *finish) {
    mlcc_engine_event ev = {r->id, text ? text : "", len, token, logprob, 0, {0}, {0}, finish, finish ? &r->result : NULL};
    if (row && r->cfg.top_logprobs > 0) {
        int k = r->cfg.top_logprobs < MLCC_MAX_TOP_LOGPROBS ? r->cfg.top_logprobs : MLCC_MAX_TOP_LOGPROBS;
        /* the k largest logits by insertion into a short sorted list */
        for (int v = 0; v < vocab; v++) {
            int pos = ev.ntop;
            while (pos > 0 && row[ev.top_ids[pos - 1]] < row[v]) pos--;
            if (pos >= k) continue;
            int last = ev.ntop < k ? ev.ntop : k - 1;
            for (int j = last; j > pos; j--) ev.top_ids[j] = ev.top_ids[j - 1];
            ev.top_ids[pos] = v;
            if (ev.ntop < k) ev.ntop++;
        }
        for (int j = 0; j < ev.ntop; j++) ev.top_logprobs[j] = mlcc_log_softmax_at(row, vocab, ev.top_ids[j]);
    }
    if (r->on_event) r->on_event(r->ctx, &ev);
}

/* ---- the prefix cache ---- */

static void cache_drop(mlcc_engine *e, size_t i) {
    e->model->remove(e->model->impl, e->cache.data[i].seq);
    vec_free(&e->cache.data[i].tokens);
    e->cache.data[i] = e->cache.data[e->cache.len - 1];
    e->cache.len--;
    e->admit_blocked = 0;
}

/* Drops the least recently used entry; 0 when there was none. */
static int cache_evict_one(mlcc_engine *e) {
    if (e->cache.len == 0) return 0;
    size_t oldest = 0;
    for (size_t i = 1; i < e->cache.len; i++)
        if (e->cache.data[i].last_used < e->cache.data[oldest].last_used) oldest = i;
    cache_drop(e, oldest);
    return 1;
}

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    size_t n = 0;
    while (n < na && n < nb && a[n] == b[n]) n++;
    return n;
}

/* Keeps a finished request's sequence, holding its first `computed` tokens. */
static void cache_keep(mlcc_engine *e, request *r) {
    /* an entry that is a prefix of this one says nothing more: drop it */
    for (size_t i = 0; i < e->cache.len;) {
        cached_prefix *c = &e->cache.data[i];
        if (common_prefix(c->tokens.data, c->tokens.len, r->tokens.data, (size_t)r->computed) == c->tokens.len) cache_drop(e, i);
        else i++;
    }
    size_t cap = (size_t)(e->model->max_batch > 4 ? e->model->max_batch : 4);
    while (e->cache.len >= cap) cache_evict_one(e);
    cached_prefix c = {r->seq, {0}, ++e->clock};
    for (int64_t i = 0; i < r->computed; i++) vec_push(&c.tokens, r->tokens.data[i]);
    vec_push(&e->cache, c);
    r->seq = -1;
}

/* ---- admission, finishing, preemption ---- */

/* Gives r a sequence: a fork of the sequence - a cached prefix, or a running request's -
 * that shares the most of its tokens (always leaving one to compute, whose logits are needed),
 * or a new one. */
static int assign_sequence(mlcc_engine *e, request *r) {
    mlcc_model_runner *m = e->model;
    size_t best = 0;
    int64_t parent = -1;
    cached_prefix *hit = NULL;
    for (size_t i = 0; i < e->cache.len; i++) {
        size_t n = common_prefix(e->cache.data[i].tokens.data, e->cache.data[i].tokens.len, r->tokens.data, r->tokens.len);
        if (n > best) best = n, parent = e->cache.data[i].seq, hit = &e->cache.data[i];
    }
    for (size_t i = 0; i < e->live.len; i++) {
        const request *o = e->live.data[i];
        if (o == r || o->seq < 0) continue;
        size_t n = common_prefix(o->tokens.data, (size_t)o->computed, r->tokens.data, r->tokens.len);
        if (n > best) best = n, parent = o->seq, hit = NULL;
    }
    if (best >= r->tokens.len) best = r->tokens.len - 1;
    int64_t seq = e->next_seq++;
    int rc = best > 0 ? m->fork(m->impl, parent, seq, (int64_t)best) : m->add(m->impl, seq);
    if (rc) return rc;
    if (hit) hit->last_used = ++e->clock;
    r->seq = seq;
    r->computed = (int64_t)best;
    if (r->result.preemptions == 0) r->result.reused_tokens = (int)best;
    return 0;
}

static void finish(mlcc_engine *e, request *r, const char *reason, const char *error) {
    mlcc_strbuf piece = STRBUF_INIT, safe = STRBUF_INIT;
    if (!r->stop.stopped) { /* release what the detokenizer and the stop matcher hold back */
        mlcc_detok_flush(r->detok, &piece);
        mlcc_stop_feed(&r->stop, piece.data ? piece.data : "", piece.len, &safe);
        mlcc_stop_flush(&r->stop, &safe);
    }
    mlcc_gen_result *res = &r->result;
    res->finish_reason = reason;
    if (error) snprintf(res->error, sizeof res->error, "%s", error);
    double t = mlcc_now_seconds();
    if (r->t_scheduled == 0) r->t_scheduled = t;
    if (r->t_first == 0) r->t_first = t;
    res->queue_seconds = r->t_scheduled - r->t_submit;
    res->prefill_seconds = r->t_first - r->t_scheduled;
    res->decode_seconds = t - r->t_first;
    if (r->seq >= 0) {
        int keep = (!strcmp(reason, "stop") || !strcmp(reason, "length")) && r->computed > 0;
        if (keep) cache_keep(e, r);
        else e->model->remove(e->model->impl, r->seq);
        r->seq = -1;
    }
    e->admit_blocked = 0;
    pthread_mutex_lock(&e->lock);
    e->stats.finished++;
    e->stats.prompt_tokens += res->prompt_tokens;
    e->stats.reused_tokens += res->reused_tokens;
    e->stats.generated_tokens += res->completion_tokens;
    pthread_mutex_unlock(&e->lock);
    emit(r, safe.data, safe.len, -1, 0, NULL, 0, reason);
    sb_free(&piece);
    sb_free(&safe);
}

/* Frees the newest running request's sequence; it waits to be recomputed. 0 when none ran. */
static int preempt_newest(mlcc_engine *e) {
    for (size_t i = e->live.len; i-- > 0;) {
        request *r = e->live.data[i];
        if (r->seq < 0) continue;
        e->model->remove(e->model->impl, r->seq);
        r->seq = -1;
        r->computed = 0;
        r->result.preemptions++;
        e->admit_blocked = 1;
        pthread_mutex_lock(&e->lock);
        e->stats.preemptions++;
        pthread_mutex_unlock(&e->lock);
        return 1;
    }
    return 0;
}

static int is_stop_token(const mlcc_engine *e, const request *r, int32_t t) {
    if (!r->cfg.ignore_eos)
        for (int i = 0; i < e->neos; i++)
            if (e->eos[i] == t) return 1;
    for (int i = 0; i < r->cfg.nstop_ids; i++)
        if (r->cfg.stop_ids[i] == t) return 1;
    return 0;
}

static int accept_token(mlcc_engine *e, request *r, int32_t t, double logprob, const float *row);

/* Whether r's next token is the arg-max of its raw logits (no temperature, penalties, bias,
 * grammar or alternatives to report): then a runner's step_greedy may pick it where the logits
 * are. */
static int plain_greedy(const request *r) {
    const mlcc_sampling_params *p = &r->cfg.sampling;
    return (p->temperature <= 0 || p->top_k == 1) && p->nbias == 0 && p->repetition_penalty == 1.0f &&
           p->presence_penalty == 0 && p->frequency_penalty == 0 && !r->cfg.grammar && r->cfg.top_logprobs == 0;
}

/* Whether r's next token may be sampled where the logits are (step_sample): everything but a
 * grammar's mask and the alternatives to report needs only the row's parameters. */
static int device_samplable(const request *r) {
    return !r->cfg.grammar && r->cfg.top_logprobs == 0;
}

/* step_sample's rows for the step's requests: parameters, the next uniform (peeked), penalty
 * lists. */
static void plan_device_sampling(mlcc_engine *e, int n) {
    int vocab = e->model->vocab_size;
    size_t need = 0;
    for (int i = 0; i < n; i++) {
        const mlcc_sampling_params *p = &e->step_reqs[i]->cfg.sampling;
        if (p->repetition_penalty != 1.0f || p->presence_penalty != 0 || p->frequency_penalty != 0) need += e->step_reqs[i]->tokens.len;
    }
    e->pen_ids.len = e->pen_counts.len = 0;
    for (size_t k = 0; k < need; k++) {
        vec_push(&e->pen_ids, 0);
        vec_push(&e->pen_counts, 0);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        request *r = e->step_reqs[i];
        mlcc_sample_request *row = &e->sample_rows[i];
        const mlcc_sampling_params *p = &r->cfg.sampling;
        int32_t *ids = e->pen_ids.data ? e->pen_ids.data + off : NULL, *counts = e->pen_counts.data ? e->pen_counts.data + off : NULL;
        size_t np = ids ? mlcc_penalty_counts(p, vocab, r->tokens.data, r->nprompt, r->tokens.data + r->nprompt,
                                              r->tokens.len - r->nprompt, ids, counts)
                        : 0;
        *row = (mlcc_sample_request){p, mlcc_sampler_peek_uniform(r->sampler), ids, counts, (int)np};
        off += np;
    }
}

/* The next token of r from its row of logits (modified), or the token `given` (>= 0) a greedy
 * step already chose, with its log probability; 1 when r finished. */
static int sample_next(mlcc_engine *e, request *r, float *row, int32_t given, double given_logprob) {
    int vocab = e->model->vocab_size;
    const float *original = row;
    if (given >= 0) {
        if (r->t_first == 0) r->t_first = mlcc_now_seconds();
        return accept_token(e, r, given, given_logprob, NULL);
    }
    if (r->cfg.top_logprobs > 0) {
        memcpy(e->row_copy, row, sizeof(float) * (size_t)vocab);
        original = e->row_copy;
    }
    if (r->t_first == 0) r->t_first = mlcc_now_seconds();
    if (r->cfg.grammar) { /* only tokens the grammar allows; EOS only where it may end */
        if (!r->guide) {
            if (!e->gvocab) e->gvocab = mlcc_grammar_vocab_new(e->tok, vocab, e->eos, e->neos);
            r->guide = e->gvocab ? mlcc_grammar_guide_new(r->cfg.grammar, e->gvocab) : NULL;
        }
        if (!r->guide || mlcc_grammar_guide_mask(r->guide, row, vocab) != 0) {
            finish(e, r, "error", mlcc_last_error());
            return 1;
        }
    }
    double logprob = 0;
    int32_t t = mlcc_sample(r->sampler, row, vocab, &r->cfg.sampling, r->tokens.data, r->nprompt,
                            r->tokens.data + r->nprompt, r->tokens.len - r->nprompt, &logprob);
    return accept_token(e, r, t, logprob, r->cfg.top_logprobs > 0 ? original : NULL);
}

/* r takes token t (stop tokens, detokenizing, stop strings, the grammar, limits); row: the
 * logits for top_logprobs, or NULL. 1 when r finished. */
static int accept_token(mlcc_engine *e, request *r, int32_t t, double logprob, const float *row) {
    int vocab = e->model->vocab_size;
    if (is_stop_token(e, r, t)) {
        finish(e, r, "stop", NULL);
        return 1;
    }
    vec_push(&r->tokens, t);
    r->generated++;
    r->result.completion_tokens++;
    int grammar_done = r->guide ? mlcc_grammar_guide_accept(r->guide, t) : 0;
    mlcc_strbuf piece = STRBUF_INIT, safe = STRBUF_INIT;
    mlcc_detok_push(r->detok, t, &piece);
    int stopped = mlcc_stop_feed(&r->stop, piece.data ? piece.data : "", piece.len, &safe);
    emit(r, safe.data, safe.len, t, logprob, row, vocab, NULL);
    sb_free(&piece);
    sb_free(&safe);
    if (stopped || grammar_done > 0) finish(e, r, "stop", NULL); /* a complete grammar ends the reply */
    else if (grammar_done < 0) finish(e, r, "error", mlcc_last_error());
    else if (r->generated >= r->limit || (int64_t)r->tokens.len >= e->model->context_window) finish(e, r, "length", NULL);
    else return 0;
    return 1;
}

/* ---- the step loop ---- */

static void remove_finished(mlcc_engine *e, request **done, size_t ndone) {
    size_t w = 0;
    for (size_t i = 0; i < e->live.len; i++) {
        int gone = 0;
        for (size_t k = 0; k < ndone; k++) gone |= e->live.data[i] == done[k];
        if (!gone) e->live.data[w++] = e->live.data[i];
    }
    e->live.len = w;
    for (size_t k = 0; k < ndone; k++) request_free(done[k]);
}

static void finish_and_remove(mlcc_engine *e, request *r, const char *reason, const char *error) {
    finish(e, r, reason, error);
    remove_finished(e, &r, 1);
}

/* Admits waiting requests (in order) while there is room. */
static void admit(mlcc_engine *e) {
    int running = 0;
    for (size_t i = 0; i < e->live.len; i++) running += e->live.data[i]->seq >= 0;
    for (size_t i = 0; i < e->live.len && running < e->model->max_batch && !e->admit_blocked; i++) {
        request *r = e->live.data[i];
        if (r->seq >= 0) continue;
        int rc = assign_sequence(e, r);
        while (rc == MLCC_ENGINE_OUT_OF_PAGES && cache_evict_one(e)) rc = assign_sequence(e, r);
        if (rc == MLCC_ENGINE_OUT_OF_PAGES) break; /* wait for pages */
        if (rc) {
            finish_and_remove(e, r, "error", mlcc_last_error());
            i--;
            continue;
        }
        if (r->t_scheduled == 0) r->t_scheduled = mlcc_now_seconds();
        running++;
    }
}

/* Runs one step over the chosen requests (step_reqs / step_seqs / step_lens / step_tokens),
 * then samples for those whose tokens are all computed. Out of pages: frees cached prefixes,
 * else preempts, and leaves the step to be planned again. */
static void run_step(mlcc_engine *e, int n, int prefill) {
    mlcc_model_runner *m = e->model;
    int greedy = m->step_greedy != NULL, on_device = 0;
    for (int i = 0; greedy && i < n; i++) greedy = plain_greedy(e->step_reqs[i]);
    if (!greedy && m->step_sample) {
        on_device = 1;
        for (int i = 0; on_device && i < n; i++) on_device = device_samplable(e->step_reqs[i]);
    }
    int rc;
    if (greedy) {
        rc = m->step_greedy(m->impl, e->step_seqs, e->step_lens, n, e->step_tokens.data, e->greedy_ids, e->greedy_logprobs);
    } else if (on_device) {
        plan_device_sampling(e, n);
        rc = m->step_sample(m->impl, e->step_seqs, e->step_lens, n, e->step_tokens.data, e->sample_rows, e->greedy_ids,
                            e->greedy_logprobs, e->drew);
        greedy = 1; /* the tokens are chosen: take them as a greedy step's */
    } else {
        rc = m->step(m->impl, e->step_seqs, e->step_lens, n, e->step_tokens.data, e->logits);
    }
    if (rc == MLCC_ENGINE_OUT_OF_PAGES) {
        if (cache_evict_one(e)) return;
        int running = 0;
        for (size_t i = 0; i < e->live.len; i++) running += e->live.data[i]->seq >= 0;
        if (running > 1 && preempt_newest(e)) return;
        /* alone and still too long for the whole cache */
        request *r = e->step_reqs[0];
        finish_and_remove(e, r, "error", "the KV cache is too small for this request");
        return;
    }
    if (rc) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", mlcc_last_error());
        for (int i = 0; i < n; i++) finish(e, e->step_reqs[i], "error", msg);
        remove_finished(e, e->step_reqs, (size_t)n);
        return;
    }
    pthread_mutex_lock(&e->lock);
    if (prefill) e->stats.prefill_steps++;
    else e->stats.decode_steps++;
    if (!prefill && n > e->stats.max_decode_batch) e->stats.max_decode_batch = n;
    pthread_mutex_unlock(&e->lock);
    request **done = mlcc_xmalloc(sizeof(request *) * (size_t)n);
    size_t ndone = 0;
    for (int i = 0; i < n; i++) {
        request *r = e->step_reqs[i];
        r->computed += e->step_lens[i];
        if (on_device && remaining(r) == 0 && e->drew[i]) mlcc_sampler_uniform(r->sampler); /* the draw took it */
        if (remaining(r) == 0 && sample_next(e, r, greedy ? NULL : e->logits + (size_t)i * (size_t)m->vocab_size,
                                             greedy ? e->greedy_ids[i] : -1, greedy ? e->greedy_logprobs[i] : 0))
            done[ndone++] = r;
    }
    remove_finished(e, done, ndone);
    free(done);
}

static void add_to_step(mlcc_engine *e, int *n, request *r, int64_t len) {
    e->step_reqs[*n] = r;
    e->step_seqs[*n] = r->seq;
    e->step_lens[*n] = len;
    for (int64_t i = 0; i < len; i++) vec_push(&e->step_tokens, r->tokens.data[r->computed + i]);
    (*n)++;
}

/* One scheduling decision: a decode step over every request with one token left, or a prefill
 * step packing the requests with more left, alternating while both kinds wait. 0 when idle. */
static int step_once(mlcc_engine *e) {
    admit(e);
    int decode_ready = 0, prefill_ready = 0;
    for (size_t i = 0; i < e->live.len; i++) {
        request *r = e->live.data[i];
        if (r->seq < 0) continue;
        if (remaining(r) == 1) decode_ready++;
        else if (remaining(r) > 1) prefill_ready++;
    }
    if (!decode_ready && !prefill_ready) return 0;
    int prefill = prefill_ready && (!decode_ready || !e->last_was_prefill);
    int n = 0;
    vec_clear(&e->step_tokens);
    int64_t budget = e->model->prefill_chunk;
    for (size_t i = 0; i < e->live.len && n < e->model->max_batch; i++) {
        request *r = e->live.data[i];
        if (r->seq < 0) continue;
        if (!prefill && remaining(r) == 1) add_to_step(e, &n, r, 1);
        if (prefill && remaining(r) > 1 && budget > 1) {
            int64_t len = remaining(r) < budget ? remaining(r) : budget;
            /* never leave exactly one: the prompt's last token then goes through the same
             * (prefill) kernel however the prompt was chunked, batched or not */
            if (remaining(r) - len == 1) len--;
            add_to_step(e, &n, r, len);
            budget -= len;
        }
    }
    e->last_was_prefill = prefill;
    run_step(e, n, prefill);
    return 1;
}

/* Takes what callers handed over; 1 when the worker should quit. */
static int take_inbox(mlcc_engine *e, int block) {
    pthread_mutex_lock(&e->lock);
    while ((block && !e->inbox && !e->aborts.len && !e->reset_requested && !e->quit && !atomic_load(&e->cancel_all)) ||
           (e->held && !e->quit))
        pthread_cond_wait(&e->wake, &e->lock);
    request *in = e->inbox;
    e->inbox = NULL;
    e->inbox_tail = &e->inbox;
    int64_t *aborts = e->aborts.data;
    size_t naborts = e->aborts.len;
    e->aborts.data = NULL, e->aborts.len = e->aborts.cap = 0;
    int reset = e->reset_requested, quit = e->quit;
    e->reset_requested = 0;
    pthread_mutex_unlock(&e->lock);
    for (; in; in = in->next) vec_push(&e->live, in);
    int all = atomic_exchange(&e->cancel_all, 0) || quit;
    for (size_t i = 0; i < e->live.len; i++)
        for (size_t k = 0; k < naborts; k++) e->live.data[i]->aborted |= e->live.data[i]->id == aborts[k];
    free(aborts);
    for (size_t i = 0; i < e->live.len;) {
        request *r = e->live.data[i];
        if (all || r->aborted) finish_and_remove(e, r, "cancelled", NULL);
        else i++;
    }
    if (reset || quit)
        while (cache_evict_one(e)) {
        }
    return quit;
}

static void publish_stats(mlcc_engine *e) {
    int waiting = 0, running = 0;
    for (size_t i = 0; i < e->live.len; i++) {
        if (e->live.data[i]->seq >= 0) running++;
        else waiting++;
    }
    int64_t free_pages = e->model->free_pages ? e->model->free_pages(e->model->impl) : 0;
    int64_t total = e->model->total_pages ? e->model->total_pages(e->model->impl) : 0;
    pthread_mutex_lock(&e->lock);
    e->stats.waiting = waiting;
    e->stats.running = running;
    e->stats.cached_prefixes = (int)e->cache.len;
    e->stats.free_pages = free_pages;
    e->stats.total_pages = total;
    pthread_mutex_unlock(&e->lock);
}

static void *worker_main(void *arg) {
    mlcc_engine *e = arg;
    int busy = 0;
    for (;;) {
        if (take_inbox(e, !busy)) break;
        busy = step_once(e);
        publish_stats(e);
    }
    publish_stats(e);
    return NULL;
}

/* ---- the API ---- */

mlcc_engine *mlcc_engine_new(mlcc_model_runner *model, mlcc_tokenizer *tok, const int32_t *eos, int neos) {
    if (model->max_batch < 1 || model->prefill_chunk < 1 || model->vocab_size < 1)
        return mlcc_set_error("engine: the model runner has no batch, chunk or vocabulary size"), NULL;
    mlcc_engine *e = mlcc_xcalloc(1, sizeof *e);
    e->model = model;
    e->tok = tok;
    e->eos = mlcc_xmalloc(sizeof(int32_t) * (size_t)(neos > 0 ? neos : 1));
    mlcc_memcpy(e->eos, eos, sizeof(int32_t) * (size_t)neos);
    e->neos = neos;
    e->inbox_tail = &e->inbox;
    e->next_id = 1;
    e->next_seq = 1;
    size_t batch = (size_t)model->max_batch, vocab = (size_t)model->vocab_size;
    e->logits = mlcc_xmalloc(sizeof(float) * batch * vocab);
    e->greedy_ids = mlcc_xmalloc(sizeof(int32_t) * batch);
    e->greedy_logprobs = mlcc_xmalloc(sizeof(double) * batch);
    e->drew = mlcc_xcalloc(batch, sizeof(int));
    e->sample_rows = mlcc_xcalloc(batch, sizeof(mlcc_sample_request));
    e->row_copy = mlcc_xmalloc(sizeof(float) * vocab);
    e->step_seqs = mlcc_xmalloc(sizeof(int64_t) * batch);
    e->step_lens = mlcc_xmalloc(sizeof(int64_t) * batch);
    e->step_reqs = mlcc_xmalloc(sizeof(request *) * batch);
    pthread_mutex_init(&e->lock, NULL);
    pthread_cond_init(&e->wake, NULL);
    publish_stats(e);
    if (pthread_create(&e->worker, NULL, worker_main, e) != 0) {
        mlcc_set_error("engine: cannot start the worker thread");
        mlcc_engine_free(e);
        return NULL;
    }
    return e;
}

void mlcc_engine_free(mlcc_engine *e) {
    if (!e) return;
    if (e->worker) {
        pthread_mutex_lock(&e->lock);
        e->quit = 1;
        pthread_cond_broadcast(&e->wake);
        pthread_mutex_unlock(&e->lock);
        pthread_join(e->worker, NULL);
    }
    for (request *r = e->inbox, *next; r; r = next) { /* submitted after the worker left */
        next = r->next;
        finish(e, r, "cancelled", NULL);
        request_free(r);
    }
    pthread_mutex_destroy(&e->lock);
    pthread_cond_destroy(&e->wake);
    vec_free(&e->live);
    vec_free(&e->cache);
    vec_free(&e->aborts);
    vec_free(&e->step_tokens);
    mlcc_grammar_vocab_free(e->gvocab);
    free(e->eos);
    free(e->logits);
    free(e->greedy_ids);
    free(e->greedy_logprobs);
    free(e->drew);
    free(e->sample_rows);
    vec_free(&e->pen_ids);
    vec_free(&e->pen_counts);
    free(e->row_copy);
    free(e->step_seqs);
    free(e->step_lens);
    free(e->step_reqs);
    free(e);
}

static int check_request(mlcc_engine *e, const int32_t *prompt, size_t nprompt, const mlcc_gen_config *cfg) {
    if (nprompt == 0) return mlcc_set_error("the prompt is empty");
    if ((int64_t)nprompt >= e->model->context_window)
        return mlcc_set_error("the prompt has %zu tokens; the context window is %d", nprompt, e->model->context_window);
    for (size_t i = 0; i < nprompt; i++)
        if (prompt[i] < 0 || prompt[i] >= e->model->vocab_size)
            return mlcc_set_error("prompt token %zu (%d) is outside the vocabulary", i, prompt[i]);
    const char *bad = mlcc_sampling_params_check(&cfg->sampling, e->model->vocab_size);
    if (bad) return mlcc_set_error("%s", bad);
    if (cfg->top_logprobs < 0 || cfg->top_logprobs > MLCC_MAX_TOP_LOGPROBS)
        return mlcc_set_error("top_logprobs must be between 0 and %d", MLCC_MAX_TOP_LOGPROBS);
    if (cfg->nstop < 0 || cfg->nstop_ids < 0 || (cfg->nstop && !cfg->stop) || (cfg->nstop_ids && !cfg->stop_ids))
        return mlcc_set_error("stop: bad list");
    return 0;
}

int64_t mlcc_engine_submit(mlcc_engine *e, const int32_t *prompt, size_t nprompt, const mlcc_gen_config *cfg,
                           mlcc_event_fn on_event, void *ctx) {
    if (check_request(e, prompt, nprompt, cfg)) return -1;
    request *r = request_new(e, prompt, nprompt, cfg, on_event, ctx);
    pthread_mutex_lock(&e->lock);
    r->id = e->next_id++;
    int64_t id = r->id;
    *e->inbox_tail = r;
    e->inbox_tail = &r->next;
    pthread_cond_broadcast(&e->wake);
    pthread_mutex_unlock(&e->lock);
    return id;
}

void mlcc_engine_abort(mlcc_engine *e, int64_t request_id) {
    pthread_mutex_lock(&e->lock);
    vec_push(&e->aborts, request_id);
    pthread_cond_broadcast(&e->wake);
    pthread_mutex_unlock(&e->lock);
}

void mlcc_engine_hold(mlcc_engine *e, int on) {
    pthread_mutex_lock(&e->lock);
    e->held = on != 0;
    pthread_cond_broadcast(&e->wake);
    pthread_mutex_unlock(&e->lock);
}

void mlcc_engine_cancel(mlcc_engine *e) {
    atomic_store(&e->cancel_all, 1);
    /* the worker notices at its next step; an idle one when it is next woken */
}

void mlcc_engine_reset(mlcc_engine *e) {
    pthread_mutex_lock(&e->lock);
    e->reset_requested = 1;
    pthread_cond_broadcast(&e->wake);
    pthread_mutex_unlock(&e->lock);
}

void mlcc_engine_get_stats(mlcc_engine *e, mlcc_engine_stats *out) {
    pthread_mutex_lock(&e->lock);
    *out = e->stats;
    pthread_mutex_unlock(&e->lock);
}

/* ---- the blocking form ---- */

typedef struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    int done;
    mlcc_stream_fn stream;
    void *ctx;
    mlcc_gen_result *result;
} waiter;

static void on_waiter_event(void *ctx, const mlcc_engine_event *ev) {
    waiter *w = ctx;
    if (ev->len && w->stream) w->stream(w->ctx, ev->text, ev->len);
    if (!ev->finish_reason) return;
    pthread_mutex_lock(&w->lock);
    *w->result = *ev->result;
    w->done = 1;
    pthread_cond_broadcast(&w->done_cond);
    pthread_mutex_unlock(&w->lock);
}

int mlcc_engine_generate(mlcc_engine *e, const int32_t *prompt, size_t nprompt, const mlcc_gen_config *cfg,
                         mlcc_stream_fn stream, void *ctx, mlcc_gen_result *result) {
    memset(result, 0, sizeof *result);
    waiter w = {.stream = stream, .ctx = ctx, .result = result};
    pthread_mutex_init(&w.lock, NULL);
    pthread_cond_init(&w.done_cond, NULL);
    atomic_store(&e->cancel_all, 0);
    int64_t id = mlcc_engine_submit(e, prompt, nprompt, cfg, on_waiter_event, &w);
    if (id > 0) {
        pthread_mutex_lock(&w.lock);
        while (!w.done) pthread_cond_wait(&w.done_cond, &w.lock);
        pthread_mutex_unlock(&w.lock);
    }
    pthread_mutex_destroy(&w.lock);
    pthread_cond_destroy(&w.done_cond);
    return id > 0 ? 0 : -1;
}
