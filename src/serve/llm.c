/* llm.c - the C API of include/mlcc/mlcc.h: a loaded model, and requests from JSON to OpenAI
 * response JSON.
 *
 * A request becomes one sequence per (prompt, choice) on the scheduler (sched.h). Sequence
 * callbacks turn text into chunks for the caller's callback under the request's lock, so a
 * request's calls are never concurrent and the final one is last. A request is kept alive by a
 * reference count: one for being open, one for each mlcc_llm_abort in progress. */
#include "mlcc/mlcc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "engine/conversation.h"
#include "engine/engine.h"
#include "hub/hub.h"
#include "mlcc/mlcc_runtime.h"
#include "models/model.h"
#include "models/runner.h"
#include "serve/llm_internal.h"
#include "serve/metrics.h"
#include "serve/request.h"
#include "serve/response.h"
#include "serve/sched.h"
#include "serve/structured.h"
#include "support/alloc.h"
#include "support/clock.h"
#include "support/error.h"
#include "support/strbuf.h"

struct mlcc_llm {
    char *path, *model_id;
    int64_t created;
    mlcc_model *model;
    mlcc_model_runner runner;
    mlcc_tokenizer *tok;
    mlcc_chat_template ct;
    pthread_mutex_t template_lock; /* the template interpreter is not known to be reentrant */
    mlcc_engine *engine;
    serve_sched *sched;
    serve_metrics *metrics;
    int max_waiting;
    pthread_mutex_t lock; /* open requests, shutting_down */
    struct llm_request *open;
    int shutting_down;
    uint64_t next_id;
    atomic_int requests_waiting, requests_running; /* requests, not sequences */
};

/* One choice (one sequence) of a request. */
typedef struct llm_choice {
    serve_seq seq;
    struct llm_request *req;
    int index;
    int prompt_index;
    mlcc_strbuf text;    /* non-streaming: the whole text */
    mlcc_strbuf pending; /* streaming: an incomplete UTF-8 tail held back */
    const char *finish_reason;
    int completion_tokens;
    double last_token_time;
    json_t *logprobs;        /* entries not yet sent (streaming) or all of them */
    json_t *tool_calls;      /* a tool-call request's calls, read from text when it ends */
    size_t logprobs_offset;  /* completions' text_offset */
} llm_choice;

typedef struct llm_request {
    mlcc_llm *llm;
    uint64_t id;
    struct llm_request *next;
    atomic_int refs;
    pthread_mutex_t lock;
    serve_request req;
    mlcc_llm_callback cb;
    void *user;
    char idstr[48];
    serve_response_info info;
    int32_t **prompt_ids; /* one per prompt (a chat has one) */
    size_t *prompt_lens;
    int nprompt_ids;
    llm_choice *choices;
    int nchoices, outstanding;
    int prompt_tokens;
    int failed, cancelled;
    char error[512];
    double submit_time;
    int got_first_text;
    int started; /* a sequence of it has started: counted as running, no longer waiting */
} llm_request;

/* ---- requests: lifetime ---- */

static void request_unref(llm_request *r) {
    if (atomic_fetch_sub(&r->refs, 1) != 1) return;
    for (int i = 0; i < r->nchoices; i++) {
        sb_free(&r->choices[i].text);
        sb_free(&r->choices[i].pending);
        json_decref(r->choices[i].logprobs);
        json_decref(r->choices[i].tool_calls);
    }
    for (int i = 0; i < r->nprompt_ids; i++) free(r->prompt_ids[i]);
    free(r->prompt_ids);
    free(r->prompt_lens);
    free(r->choices);
    serve_request_free(&r->req);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static void unregister(mlcc_llm *llm, llm_request *r) {
    pthread_mutex_lock(&llm->lock);
    for (llm_request **pp = &llm->open; *pp; pp = &(*pp)->next)
        if (*pp == r) {
            *pp = r->next;
            break;
        }
    pthread_mutex_unlock(&llm->lock);
}

/* ---- requests: the sequence callbacks (the request's lock held while calling the user) ---- */

static void deliver(llm_request *r, char *json, int status, int final) {
    r->cb(r->user, json ? json : "{}", status, final);
    free(json);
}

/* The logprobs entries gathered so far as a choice's "logprobs" value (NULL when the request
 * asked for none); the list starts again. */
static json_t *take_logprobs(llm_request *r, llm_choice *c) {
    if (!r->req.logprobs) return NULL;
    json_t *v = serve_logprobs_value(r->req.kind, c->logprobs, &c->logprobs_offset);
    c->logprobs = json_array();
    return v;
}

static void add_logprob_entry(llm_request *r, llm_choice *c, const mlcc_engine_event *ev) {
    mlcc_tokenizer *tok = r->llm->tok;
    size_t len = 0;
    char *text = mlcc_tokenizer_decode(tok, &ev->token, 1, 0, &len);
    char *tops[MLCC_MAX_TOP_LOGPROBS];
    int ntop = ev->ntop < MLCC_MAX_TOP_LOGPROBS ? ev->ntop : MLCC_MAX_TOP_LOGPROBS;
    for (int i = 0; i < ntop; i++) {
        tops[i] = mlcc_tokenizer_decode(tok, &ev->top_ids[i], 1, 0, NULL);
        if (!tops[i]) tops[i] = mlcc_xstrdup("");
    }
    json_array_append_new(c->logprobs, serve_logprob_entry(text ? text : "", text ? len : 0, ev->logprob,
                                                           (const char *const *)tops, ev->top_logprobs, ntop));
    for (int i = 0; i < ntop; i++) free(tops[i]);
    free(text);
}

static void on_start(serve_seq *seq) {
    llm_choice *c = (llm_choice *)seq;
    llm_request *r = c->req;
    pthread_mutex_lock(&r->lock);
    if (!r->started) {
        r->started = 1;
        atomic_fetch_sub(&r->llm->requests_waiting, 1);
        atomic_fetch_add(&r->llm->requests_running, 1);
    }
    if (r->req.stream && r->req.kind == SERVE_CHAT && !r->failed && !r->cancelled)
        deliver(r, serve_chunk_json(&r->info, c->index, 1, NULL, 0, NULL, NULL), 200, 0);
    pthread_mutex_unlock(&r->lock);
}

static void on_token(serve_seq *seq, const mlcc_engine_event *ev) {
    llm_choice *c = (llm_choice *)seq;
    llm_request *r = c->req;
    mlcc_llm *llm = r->llm;
    const char *text = ev->text;
    size_t len = ev->len;
    double t = mlcc_now_seconds();
    pthread_mutex_lock(&r->lock);
    if (ev->token >= 0) {
        if (!r->got_first_text) {
            r->got_first_text = 1;
            serve_metrics_observe_ttft(llm->metrics, t - r->submit_time);
        } else if (c->last_token_time > 0) serve_metrics_observe_itl(llm->metrics, t - c->last_token_time);
        c->last_token_time = t;
        if (r->req.logprobs) add_logprob_entry(r, c, ev);
    }
    if (len == 0) {
        pthread_mutex_unlock(&r->lock);
        return;
    }
    if (!r->req.stream || r->req.tool_call || r->req.tool_auto) { /* a (possible) tool call is sent whole when it ends */
        sb_append_n(&c->text, text, len);
    } else if (!r->failed && !r->cancelled) {
        sb_append_n(&c->pending, text, len);
        size_t ready = serve_utf8_complete_prefix(c->pending.data, c->pending.len);
        if (ready) {
            deliver(r, serve_chunk_json(&r->info, c->index, 0, c->pending.data, ready, NULL, take_logprobs(r, c)), 200,
                    0);
            memmove(c->pending.data, c->pending.data + ready, c->pending.len - ready);
            c->pending.len -= ready;
        }
    }
    pthread_mutex_unlock(&r->lock);
}

static serve_usage request_usage(const llm_request *r) {
    serve_usage u = {r->prompt_tokens, 0};
    for (int i = 0; i < r->nchoices; i++) u.completion_tokens += r->choices[i].completion_tokens;
    return u;
}

/* The request's last sequence finished: its final call. */
static int finish_request(llm_request *r, char *last_chunk) {
    mlcc_llm *llm = r->llm;
    serve_usage usage = request_usage(r);
    int status = r->failed ? 500 : r->cancelled ? 499 : 200;
    atomic_fetch_sub(r->started ? &llm->requests_running : &llm->requests_waiting, 1);
    /* counted before the final call: a client that reads the metrics right after sees it */
    serve_metrics_count_status(llm->metrics, status);
    serve_metrics_add_tokens(llm->metrics, usage.prompt_tokens, usage.completion_tokens);
    serve_metrics_observe_e2e(llm->metrics, mlcc_now_seconds() - r->submit_time);
    if (r->failed || r->cancelled) {
        free(last_chunk);
        serve_error err;
        if (r->failed)
            serve_error_set(&err, 500, "server_error", NULL, NULL, "The engine failed: %s", r->error);
        else serve_error_set(&err, 499, "cancelled", "request_cancelled", NULL, "The request was cancelled.");
        deliver(r, serve_error_json(&err), status, 1);
    } else if (r->req.stream) {
        if (r->req.include_usage) {
            deliver(r, last_chunk, 200, 0);
            deliver(r, serve_usage_chunk_json(&r->info, &usage), 200, 1);
        } else deliver(r, last_chunk, 200, 1);
    } else {
        serve_choice *choices = mlcc_xmalloc(sizeof *choices * (size_t)r->nchoices);
        for (int i = 0; i < r->nchoices; i++) {
            llm_choice *c = &r->choices[i];
            choices[i] = (serve_choice){c->text.data ? c->text.data : "", c->text.len, c->finish_reason,
                                        take_logprobs(r, c), c->tool_calls};
        }
        deliver(r, serve_response_json(&r->info, choices, r->nchoices, &usage), 200, 1);
        for (int i = 0; i < r->nchoices; i++) json_decref(choices[i].logprobs);
        free(choices);
    }
    return status;
}

static void on_finish(serve_seq *seq, const mlcc_gen_result *result) {
    llm_choice *c = (llm_choice *)seq;
    llm_request *r = c->req;
    mlcc_llm *llm = r->llm;
    pthread_mutex_lock(&r->lock);
    c->completion_tokens = result->completion_tokens;
    c->finish_reason = strcmp(result->finish_reason, "length") == 0 ? "length" : "stop";
    if (r->req.tool_call && strcmp(result->finish_reason, "stop") == 0) {
        /* the grammar completed: the text is a call (else, cut short, it stays text) */
        c->tool_calls = serve_tool_calls_from_text(c->text.data ? c->text.data : "", c->text.len, r->idstr, c->index);
        if (c->tool_calls) c->finish_reason = "tool_calls";
    } else if (r->req.tool_auto && strcmp(result->finish_reason, "stop") == 0) {
        /* "auto": the model chose; a reply that is only calls is returned as them */
        c->tool_calls = serve_tool_calls_auto(c->text.data ? c->text.data : "", c->text.len, r->req.tools, r->idstr, c->index);
        if (c->tool_calls) c->finish_reason = "tool_calls";
    }
    int abort_rest = 0;
    if (strcmp(result->finish_reason, "error") == 0) {
        if (!r->failed) snprintf(r->error, sizeof r->error, "%s", result->error);
        abort_rest = !r->failed;
        r->failed = 1;
    } else if (strcmp(result->finish_reason, "cancelled") == 0) r->cancelled = 1;
    char *last_chunk = NULL;
    if (r->req.stream && !r->failed && !r->cancelled) {
        if (c->tool_calls) deliver(r, serve_tool_call_chunk_json(&r->info, c->index, c->tool_calls), 200, 0);
        else if ((r->req.tool_call || r->req.tool_auto) && c->text.len) /* not a call: sent as the text it is */
            deliver(r, serve_chunk_json(&r->info, c->index, 0, c->text.data, c->text.len, NULL, NULL), 200, 0);
        if (c->pending.len) { /* what remains is not valid UTF-8; sent replaced */
            deliver(r, serve_chunk_json(&r->info, c->index, 0, c->pending.data, c->pending.len, NULL, take_logprobs(r, c)),
                    200, 0);
            sb_clear(&c->pending);
        }
        /* entries of tokens whose text never came (held back, then dropped by a stop string) */
        json_t *rest = r->req.logprobs && json_array_size(c->logprobs) ? take_logprobs(r, c) : NULL;
        last_chunk = serve_chunk_json(&r->info, c->index, 0, NULL, 0, c->finish_reason, rest);
    }
    int last = --r->outstanding == 0;
    if (!last && last_chunk) {
        deliver(r, last_chunk, 200, 0);
        last_chunk = NULL;
    }
    if (last) finish_request(r, last_chunk);
    pthread_mutex_unlock(&r->lock);
    if (abort_rest && !last) /* the other choices are pointless now */
        for (int i = 0; i < r->nchoices; i++)
            if (&r->choices[i] != c) serve_sched_abort(llm->sched, &r->choices[i].seq);
    if (last) {
        unregister(llm, r);
        request_unref(r);
    }
}

/* ---- submitting ---- */

static int refuse(mlcc_llm *llm, serve_error *err, char **error_json) {
    if (error_json) *error_json = serve_error_json(err);
    serve_metrics_count_status(llm->metrics, err->status);
    return err->status;
}

/* A chat prompt whose template is also given the request's tools (its `tools` variable, as
 * transformers' apply_chat_template(tools=...) does); templates that ignore tools render as
 * without them. The template lock is held. */
static int tools_prompt_ids(mlcc_llm *llm, serve_request *q, int32_t **ids, size_t *n) {
    json_t *input = json_pack("{s:O,s:b,s:O}", "messages", q->messages, "add_generation_prompt", 1, "tools", q->tools);
    json_t *ctx = mlcc_chat_context(input, llm->ct.specials);
    mlcc_template_error terr;
    size_t len = 0;
    char *prompt = mlcc_template_render_n(mlcc_chat_template_select(&llm->ct, input), ctx, &terr, &len);
    json_decref(ctx);
    json_decref(input);
    if (!prompt) return -1;
    int rc = mlcc_tokenizer_encode(llm->tok, prompt, len, 0, ids, n);
    free(prompt);
    return rc;
}

/* Prompt token ids of every prompt of the request. */
static int tokenize_prompts(mlcc_llm *llm, llm_request *r, serve_error *err) {
    serve_request *q = &r->req;
    int nprompts = q->kind == SERVE_CHAT ? 1 : q->nprompts;
    r->prompt_ids = mlcc_xcalloc((size_t)nprompts, sizeof *r->prompt_ids);
    r->prompt_lens = mlcc_xcalloc((size_t)nprompts, sizeof *r->prompt_lens);
    r->nprompt_ids = nprompts;
    if (q->kind == SERVE_CHAT) {
        pthread_mutex_lock(&llm->template_lock);
        int rc = q->tools ? tools_prompt_ids(llm, q, &r->prompt_ids[0], &r->prompt_lens[0])
                          : mlcc_conversation_prompt_ids(&llm->ct, llm->tok, q->messages, 1, &r->prompt_ids[0],
                                                         &r->prompt_lens[0]);
        pthread_mutex_unlock(&llm->template_lock);
        if (rc != 0)
            return serve_error_set(err, 400, "invalid_request_error", NULL, "messages",
                                   "The chat template could not render these messages: %s", mlcc_last_error());
        return 0;
    }
    int32_t bos = mlcc_tokenizer_bos_id(llm->tok);
    for (int i = 0; i < nprompts; i++) {
        serve_prompt *p = &q->prompts[i];
        if (!p->text) {
            r->prompt_ids[i] = mlcc_xmalloc(sizeof(int32_t) * p->nids);
            memcpy(r->prompt_ids[i], p->ids, sizeof(int32_t) * p->nids);
            r->prompt_lens[i] = p->nids;
            continue;
        }
        if (mlcc_tokenizer_encode(llm->tok, p->text, p->text_len, 1, &r->prompt_ids[i], &r->prompt_lens[i]) != 0)
            return serve_error_set(err, 400, "invalid_request_error", NULL, "prompt", "The prompt cannot be tokenized: %s",
                                   mlcc_last_error());
        /* a prompt that spells BOS itself gets no second one from the tokenizer */
        int32_t *ids = r->prompt_ids[i];
        if (bos >= 0 && r->prompt_lens[i] >= 2 && ids[0] == bos && ids[1] == bos) {
            memmove(ids, ids + 1, sizeof(int32_t) * (r->prompt_lens[i] - 1));
            r->prompt_lens[i]--;
        }
    }
    return 0;
}

static int check_lengths(mlcc_llm *llm, llm_request *r, serve_error *err) {
    int window = llm->runner.context_window;
    const char *param = r->req.kind == SERVE_CHAT ? "messages" : "prompt";
    for (int i = 0; i < r->nprompt_ids; i++) {
        size_t n = r->prompt_lens[i];
        int max_tokens = r->req.gen.max_tokens;
        if (n == 0) return serve_error_set(err, 400, "invalid_request_error", NULL, param, "The prompt is empty.");
        if ((int64_t)n >= window || (max_tokens > 0 && (int64_t)n + max_tokens > window))
            return serve_error_set(err, 400, "invalid_request_error", "context_length_exceeded", param,
                                   "This model's maximum context length is %d tokens. However, you requested %lld "
                                   "tokens (%zu in the %s, %d in the completion). Please reduce the length of the "
                                   "%s or the completion.",
                                   window, (long long)n + (max_tokens > 0 ? max_tokens : 0), n, param, max_tokens,
                                   param);
        r->prompt_tokens += (int)n;
    }
    return 0;
}

static void build_choices(mlcc_llm *llm, llm_request *r) {
    serve_request *q = &r->req;
    r->nchoices = r->nprompt_ids * q->n;
    r->outstanding = r->nchoices;
    r->choices = mlcc_xcalloc((size_t)r->nchoices, sizeof *r->choices);
    for (int p = 0; p < r->nprompt_ids; p++)
        for (int j = 0; j < q->n; j++) {
            llm_choice *c = &r->choices[p * q->n + j];
            c->req = r;
            c->logprobs = json_array();
            c->index = p * q->n + j;
            c->prompt_index = p;
            serve_seq *s = &c->seq;
            s->prompt = r->prompt_ids[p];
            s->nprompt = r->prompt_lens[p];
            s->gen = q->gen;
            s->gen.stop = (const char *const *)q->stop;
            s->gen.nstop = q->nstop;
            s->gen.grammar = q->grammar; /* owned by the request, which outlives its sequences */
            /* each choice is reproducible on its own: choice j draws from seed + j */
            if (s->gen.has_seed) s->gen.seed = q->gen.seed + (uint64_t)j;
            s->owner = r;
            s->on_start = on_start;
            s->on_token = on_token;
            s->on_finish = on_finish;
        }
    (void)llm;
}

int mlcc_llm_submit(mlcc_llm *llm, const char *request_json, ptrdiff_t len, mlcc_llm_kind kind, mlcc_llm_callback cb,
                    void *user, uint64_t *request_id, char **error_json) {
    serve_error err;
    if (error_json) *error_json = NULL;
    if (!cb) {
        serve_error_set(&err, 400, "invalid_request_error", NULL, NULL, "mlcc_llm_submit: no callback given");
        return refuse(llm, &err, error_json);
    }
    if (!request_json) request_json = "";
    size_t n = len < 0 ? strlen(request_json) : (size_t)len;
    llm_request *r = mlcc_xcalloc(1, sizeof *r);
    atomic_init(&r->refs, 1);
    pthread_mutex_init(&r->lock, NULL);
    r->llm = llm;
    r->cb = cb;
    r->user = user;
    r->submit_time = mlcc_now_seconds();
    serve_kind sk = kind == MLCC_LLM_COMPLETION ? SERVE_COMPLETION : SERVE_CHAT;
    if (serve_request_parse(request_json, n, sk, llm->runner.vocab_size, &r->req, &err) != 0) goto refused;
    if (r->req.model && strcmp(r->req.model, llm->model_id) != 0) {
        serve_error_set(&err, 404, "invalid_request_error", "model_not_found", "model",
                        "The model '%.200s' does not exist; this server serves '%.200s'.", r->req.model, llm->model_id);
        goto refused;
    }
    const char *bad = mlcc_sampling_params_check(&r->req.gen.sampling, llm->runner.vocab_size);
    if (bad) {
        serve_error_set(&err, 400, "invalid_request_error", NULL, NULL, "%s", bad);
        goto refused;
    }
    if (tokenize_prompts(llm, r, &err) != 0 || check_lengths(llm, r, &err) != 0) goto refused;
    build_choices(llm, r);

    pthread_mutex_lock(&llm->lock);
    int waiting = atomic_load(&llm->requests_waiting);
    if (llm->shutting_down || waiting >= llm->max_waiting) {
        int closing = llm->shutting_down;
        pthread_mutex_unlock(&llm->lock);
        if (closing) serve_error_set(&err, 503, "server_error", NULL, NULL, "The server is shutting down.");
        else
            serve_error_set(&err, 429, "rate_limit_error", "queue_full",
                            NULL, "Too many requests are waiting (%d); try again later.", waiting);
        goto refused;
    }
    r->id = ++llm->next_id;
    snprintf(r->idstr, sizeof r->idstr, "%s-%08llx%016llx", sk == SERVE_CHAT ? "chatcmpl" : "cmpl",
             (unsigned long long)r->id, (unsigned long long)(uintptr_t)r ^ (unsigned long long)time(NULL) * 2654435761u);
    r->info = (serve_response_info){sk, r->idstr, llm->model_id, (int64_t)time(NULL), r->req.include_usage};
    r->next = llm->open;
    llm->open = r;
    atomic_fetch_add(&llm->requests_waiting, 1);
    if (request_id) *request_id = r->id;
    /* held until every sequence is submitted: no callback can finish (and free) r meanwhile */
    pthread_mutex_lock(&r->lock);
    pthread_mutex_unlock(&llm->lock);
    int *refused = mlcc_xcalloc((size_t)r->nchoices, sizeof *refused);
    char why[512] = "";
    for (int i = 0; i < r->nchoices; i++)
        if (serve_sched_submit(llm->sched, &r->choices[i].seq) != 0) {
            refused[i] = 1;
            snprintf(why, sizeof why, "%s", mlcc_last_error());
        }
    pthread_mutex_unlock(&r->lock);
    /* a sequence the engine refused finishes as an error (the others are then aborted) */
    for (int i = 0; i < r->nchoices; i++)
        if (refused[i]) {
            mlcc_gen_result res;
            memset(&res, 0, sizeof res);
            res.finish_reason = "error";
            snprintf(res.error, sizeof res.error, "%s", why);
            on_finish(&r->choices[i].seq, &res);
        }
    free(refused);
    return 0;

refused:
    request_unref(r);
    return refuse(llm, &err, error_json);
}

int mlcc_llm_abort(mlcc_llm *llm, uint64_t request_id) {
    pthread_mutex_lock(&llm->lock);
    llm_request *r = llm->open;
    while (r && r->id != request_id) r = r->next;
    if (r) {
        /* a request whose final call is made (or under way) is finished, though still listed */
        pthread_mutex_lock(&r->lock);
        int open = r->outstanding > 0;
        pthread_mutex_unlock(&r->lock);
        if (open) atomic_fetch_add(&r->refs, 1);
        else r = NULL;
    }
    pthread_mutex_unlock(&llm->lock);
    if (!r) return -1;
    for (int i = 0; i < r->nchoices; i++) serve_sched_abort(llm->sched, &r->choices[i].seq);
    request_unref(r);
    return 0;
}

/* ---- metrics ---- */

static serve_gauges gauges(mlcc_llm *llm) {
    serve_gauges g;
    g.running = atomic_load(&llm->requests_running);
    g.waiting = atomic_load(&llm->requests_waiting);
    mlcc_engine_stats st;
    serve_sched_stats(llm->sched, &st);
    g.kv_pages_used = st.total_pages - st.free_pages;
    g.kv_pages_total = st.total_pages;
    g.engine_running = st.running;
    g.engine_waiting = st.waiting;
    g.max_decode_batch = st.max_decode_batch;
    return g;
}

char *mlcc_llm_metrics(mlcc_llm *llm) {
    serve_gauges g = gauges(llm);
    return serve_metrics_json(llm->metrics, &g);
}

char *mlcc_llm_metrics_prometheus(mlcc_llm *llm) {
    serve_gauges g = gauges(llm);
    return serve_metrics_prometheus(llm->metrics, &g);
}

void mlcc_llm_count_status(mlcc_llm *llm, int status) {
    serve_metrics_count_status(llm->metrics, status);
}

int64_t mlcc_llm_created(const mlcc_llm *llm) {
    return llm->created;
}

const char *mlcc_llm_model_id(const mlcc_llm *llm) {
    return llm->model_id;
}

void mlcc_llm_free_string(char *s) {
    free(s);
}

/* ---- creating and destroying ---- */

typedef struct llm_options {
    int64_t max_seq;
    int64_t max_batch; /* 0: the mode's */
    const char *mode;
    int threads;
    const char *model_id;
    int max_waiting;
    int quiet;
} llm_options;

static int parse_options(const char *text, json_t **root_out, llm_options *o) {
    *o = (llm_options){0, 0, "server", 0, NULL, 256, 0};
    *root_out = NULL;
    if (!text || !*text) return 0;
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    if (!root) return mlcc_set_error("options: line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
    *root_out = root;
    if (!json_is_object(root)) return mlcc_set_error("options: expected a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "model_id") == 0) {
            if (!json_is_string(v) || !json_string_length(v)) return mlcc_set_error("options: model_id: expected a non-empty string");
            o->model_id = json_string_value(v);
        } else if (strcmp(key, "mode") == 0) {
            const char *m = json_string_value(v);
            if (!m || (strcmp(m, "interactive") && strcmp(m, "local") && strcmp(m, "server")))
                return mlcc_set_error("options: mode: expected \"interactive\", \"local\" or \"server\"");
            o->mode = m;
        } else if (strcmp(key, "quiet") == 0) {
            if (!json_is_boolean(v)) return mlcc_set_error("options: quiet: expected a boolean");
            o->quiet = json_is_true(v);
        } else if (strcmp(key, "max_seq") == 0 || strcmp(key, "threads") == 0 || strcmp(key, "max_waiting") == 0 ||
                   strcmp(key, "max_batch") == 0) {
            if (!json_is_integer(v)) return mlcc_set_error("options: %s: expected an integer", key);
            json_int_t x = json_integer_value(v);
            if (strcmp(key, "max_seq") == 0) {
                if (x < 8 || x > (1 << 24)) return mlcc_set_error("options: max_seq: %lld is outside 8 to 16777216", (long long)x);
                o->max_seq = x;
            } else if (strcmp(key, "max_batch") == 0) {
                if (x < 1 || x > 1024) return mlcc_set_error("options: max_batch: %lld is outside 1 to 1024", (long long)x);
                o->max_batch = x;
            } else if (strcmp(key, "threads") == 0) {
                if (x < 1 || x > 1024) return mlcc_set_error("options: threads: %lld is outside 1 to 1024", (long long)x);
                o->threads = (int)x;
            } else {
                if (x < 0 || x > 1000000) return mlcc_set_error("options: max_waiting: %lld is outside 0 to 1000000", (long long)x);
                o->max_waiting = (int)x;
            }
        } else return mlcc_set_error("options: unknown option '%s' (max_seq, max_batch, mode, threads, model_id, max_waiting, quiet)", key);
    }
    return 0;
}

/* The default model id: org/repo for HF://, else the folder's or file's name. */
static char *default_model_id(const char *model, const char *path) {
    if (mlcc_hub_is_uri(model)) return mlcc_xstrdup(model + 5);
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t start = n;
    while (start > 0 && path[start - 1] != '/') start--;
    return strndup(path + start, n - start);
}

static void llm_free_parts(mlcc_llm *llm) {
    if (llm->engine) mlcc_engine_free(llm->engine); /* finishes every open request */
    serve_sched_free(llm->sched);
    if (llm->runner.impl) mlcc_model_runner_free(&llm->runner);
    if (llm->ct.tmpl) mlcc_chat_template_free(&llm->ct);
    if (llm->tok) mlcc_tokenizer_free(llm->tok);
    if (llm->model) mlcc_model_free(llm->model);
    serve_metrics_free(llm->metrics);
    pthread_mutex_destroy(&llm->lock);
    pthread_mutex_destroy(&llm->template_lock);
    free(llm->path);
    free(llm->model_id);
    free(llm);
}

static int load(mlcc_llm *llm, const char *model, const llm_options *o) {
    llm->path = mlcc_hub_resolve(model);
    if (!llm->path) return -1;
    if (o->threads && mlcc_threadpool_set_size(o->threads) != 0) return -1;
    llm->model_id = o->model_id ? mlcc_xstrdup(o->model_id) : default_model_id(model, llm->path);
    if (!o->quiet) fprintf(stderr, "[mlcc] loading %s (compiled on first use, then cached) ...\n", llm->path);
    mlcc_model_options mo = {.max_seq = o->max_seq, .max_batch = o->max_batch, .mode = o->mode, .quiet = o->quiet};
    llm->model = mlcc_model_open(llm->path, &mo);
    if (!llm->model) return -1;
    if (!o->quiet) {
        char plan[512];
        mlcc_plan_describe(&llm->model->plan, plan, sizeof plan);
        fprintf(stderr, "[mlcc] %s\n", plan);
    }
    llm->tok = mlcc_tokenizer_load(llm->path);
    if (!llm->tok) return -1;
    if (mlcc_conversation_template(llm->path, llm->tok, "chatml", &llm->ct) != 0) return -1;
    if (mlcc_model_runner_init(&llm->runner, llm->model, 0) != 0) return -1;
    llm->engine = mlcc_engine_new(&llm->runner, llm->tok, llm->model->cfg.eos_ids, llm->model->cfg.n_eos);
    if (!llm->engine) return -1;
    llm->sched = serve_sched_new(llm->engine);
    if (!llm->sched) return -1;
    if (!o->quiet)
        fprintf(stderr, "[mlcc] model '%s': vocabulary %d, context %d tokens, batch up to %d, %d threads\n",
                llm->model_id, llm->runner.vocab_size, llm->runner.context_window, llm->runner.max_batch,
                mlcc_threadpool_size());
    return 0;
}

mlcc_llm *mlcc_llm_create(const char *model, const char *options_json, char **error) {
    if (error) *error = NULL;
    json_t *opt_root;
    llm_options o;
    if (!model || !*model) {
        mlcc_set_error("no model given");
        if (error) *error = mlcc_xstrdup(mlcc_last_error());
        return NULL;
    }
    if (parse_options(options_json, &opt_root, &o) != 0) {
        if (error) *error = mlcc_xstrdup(mlcc_last_error());
        json_decref(opt_root);
        return NULL;
    }
    mlcc_llm *llm = mlcc_xcalloc(1, sizeof *llm);
    pthread_mutex_init(&llm->lock, NULL);
    pthread_mutex_init(&llm->template_lock, NULL);
    llm->metrics = serve_metrics_new();
    llm->max_waiting = o.max_waiting;
    llm->created = (int64_t)time(NULL);
    atomic_init(&llm->requests_waiting, 0);
    atomic_init(&llm->requests_running, 0);
    int rc = load(llm, model, &o);
    json_decref(opt_root);
    if (rc != 0) {
        mlcc_prefix_error("%s", model);
        if (error) *error = mlcc_xstrdup(mlcc_last_error());
        llm_free_parts(llm);
        return NULL;
    }
    return llm;
}

void mlcc_llm_destroy(mlcc_llm *llm) {
    if (!llm) return;
    pthread_mutex_lock(&llm->lock);
    llm->shutting_down = 1;
    pthread_mutex_unlock(&llm->lock);
    /* the engine cancels what waits or runs; every request gets its final call */
    llm_free_parts(llm);
}
