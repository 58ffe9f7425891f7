/* test_serve_api.c - the C API (include/mlcc/mlcc.h) on a fixture model with a real tokenizer
 * and template (testdata/models/tm-llama3): greedy chat and completion text equal to
 * transformers' greedy continuation (meta.json greedy_ids, decoded), usage equal to the
 * reference prompt length, streaming chunks in OpenAI's shapes, stop strings, seeded
 * reproducibility, n=2, logprobs, errors naming the field, aborting waiting and running requests, metrics,
 * requests from several threads at once, a full queue (429), and the same model as a GGUF file. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "mlcc/mlcc.h"
#include "support/json.h"
#include "support/strbuf.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

/* Everything one request's callback received. */
typedef struct collector {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    json_t *events; /* [json objects...] */
    int done, status, finals, calls_after_final;
} collector;

static void collector_init(collector *c) {
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->events = json_array();
    c->done = c->status = c->finals = c->calls_after_final = 0;
}

static void collector_free(collector *c) {
    json_decref(c->events);
    pthread_mutex_destroy(&c->lock);
    pthread_cond_destroy(&c->cond);
}

static void on_response(void *user, const char *json, int status, int final) {
    collector *c = user;
    pthread_mutex_lock(&c->lock);
    if (c->done) c->calls_after_final++;
    json_t *v = json_loads(json, 0, NULL);
    json_array_append_new(c->events, v ? v : json_string("INVALID JSON"));
    if (final) {
        c->finals++;
        c->done = 1;
        c->status = status;
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
}

/* Waits for the final call; a request that never ends fails the test (rather than hanging it). */
static void wait_done(collector *c) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 300;
    pthread_mutex_lock(&c->lock);
    while (!c->done)
        if (pthread_cond_timedwait(&c->cond, &c->lock, &deadline) != 0) {
            fprintf(stderr, "FAILED: a request got no final call within 300 s\n");
            exit(1);
        }
    pthread_mutex_unlock(&c->lock);
}

static json_t *last_event(collector *c) {
    return json_array_get(c->events, json_array_size(c->events) - 1);
}

/* Submits and waits; returns the submit status (0: accepted). */
static int run(mlcc_llm *llm, mlcc_llm_kind kind, json_t *req, collector *c, char **error_json) {
    char *body = json_dumps(req, JSON_COMPACT);
    collector_init(c);
    int rc = mlcc_llm_submit(llm, body, -1, kind, on_response, c, NULL, error_json);
    free(body);
    if (rc == 0) wait_done(c);
    return rc;
}

/* The text of a non-streaming response's choice i. */
static const char *choice_text(json_t *resp, int i, int chat) {
    json_t *ch = json_array_get(json_object_get(resp, "choices"), (size_t)i);
    json_t *t = chat ? json_object_get(json_object_get(ch, "message"), "content") : json_object_get(ch, "text");
    return json_is_string(t) ? json_string_value(t) : "(none)";
}

static const char *choice_finish(json_t *resp, int i) {
    json_t *ch = json_array_get(json_object_get(resp, "choices"), (size_t)i);
    const char *f = json_string_value(json_object_get(ch, "finish_reason"));
    return f ? f : "(none)";
}

static int usage_of(json_t *resp, const char *key) {
    return (int)json_integer_value(json_object_get(json_object_get(resp, "usage"), key));
}

static json_int_t metric2(mlcc_llm *llm, const char *outer, const char *key) {
    char *m = mlcc_llm_metrics(llm);
    json_t *j = json_loads(m, 0, NULL);
    json_int_t v = json_integer_value(json_object_get(json_object_get(j, outer), key));
    json_decref(j);
    mlcc_llm_free_string(m);
    return v;
}

static json_int_t metric(mlcc_llm *llm, const char *key) {
    char *m = mlcc_llm_metrics(llm);
    json_t *j = json_loads(m, 0, NULL);
    json_int_t v = json_integer_value(json_object_get(j, key));
    json_decref(j);
    mlcc_llm_free_string(m);
    return v;
}

static json_t *meta;
static char *greedy_text;
static int nprompt_ref;

static json_t *chat_request(int max_tokens) {
    return json_pack("{s:O,s:f,s:i}", "messages", json_object_get(meta, "conversation"), "temperature", 0.0,
                     "max_tokens", max_tokens);
}

static void test_greedy(mlcc_llm *llm) {
    collector c;
    json_t *req = chat_request(16);
    CHECK(run(llm, MLCC_LLM_CHAT, req, &c, NULL) == 0);
    json_t *resp = last_event(&c);
    CHECK_EQ_INT(c.status, 200);
    CHECK_EQ_INT(c.finals, 1);
    CHECK_EQ_STR(json_string_value(json_object_get(resp, "object")), "chat.completion");
    CHECK_EQ_STR(json_string_value(json_object_get(resp, "model")), "tm-llama3");
    CHECK(strncmp(json_string_value(json_object_get(resp, "id")), "chatcmpl-", 9) == 0);
    CHECK_EQ_STR(choice_text(resp, 0, 1), greedy_text);
    CHECK_EQ_STR(choice_finish(resp, 0), "length");
    CHECK_EQ_INT(usage_of(resp, "prompt_tokens"), nprompt_ref);
    CHECK_EQ_INT(usage_of(resp, "completion_tokens"), 16);
    CHECK_EQ_INT(usage_of(resp, "total_tokens"), nprompt_ref + 16);
    collector_free(&c);

    /* streaming: role first, then content pieces, finish chunk, usage chunk */
    json_object_set_new(req, "stream", json_true());
    json_object_set_new(req, "stream_options", json_pack("{s:b}", "include_usage", 1));
    CHECK(run(llm, MLCC_LLM_CHAT, req, &c, NULL) == 0);
    size_t n = json_array_size(c.events);
    CHECK(n >= 4);
    mlcc_strbuf text = STRBUF_INIT;
    int roles = 0, finishes = 0, usage_nulls = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        json_t *ev = json_array_get(c.events, i);
        CHECK_EQ_STR(json_string_value(json_object_get(ev, "object")), "chat.completion.chunk");
        usage_nulls += json_is_null(json_object_get(ev, "usage"));
        json_t *ch = json_array_get(json_object_get(ev, "choices"), 0);
        json_t *delta = json_object_get(ch, "delta");
        if (json_object_get(delta, "role")) roles++;
        json_t *content = json_object_get(delta, "content");
        if (json_is_string(content)) sb_append(&text, json_string_value(content));
        if (json_is_string(json_object_get(ch, "finish_reason"))) {
            finishes++;
            CHECK_EQ_STR(json_string_value(json_object_get(ch, "finish_reason")), "length");
            CHECK_EQ_INT((int)json_object_size(delta), 0);
        }
    }
    CHECK_EQ_INT(roles, 1);
    CHECK_EQ_INT(finishes, 1);
    CHECK_EQ_INT(usage_nulls, (int)n - 1);
    CHECK_EQ_STR(sb_cstr(&text), greedy_text);
    json_t *last = last_event(&c);
    CHECK_EQ_INT((int)json_array_size(json_object_get(last, "choices")), 0);
    CHECK_EQ_INT(usage_of(last, "completion_tokens"), 16);
    CHECK_EQ_INT(usage_of(last, "prompt_tokens"), nprompt_ref);
    sb_free(&text);
    collector_free(&c);
    json_decref(req);

    /* completions with the same prompt as token ids: the same continuation */
    req = json_pack("{s:O,s:f,s:i,s:s}", "prompt", json_object_get(meta, "prompt_ids"), "temperature", 0.0, "max_tokens",
                    16, "model", "tm-llama3");
    CHECK(run(llm, MLCC_LLM_COMPLETION, req, &c, NULL) == 0);
    resp = last_event(&c);
    CHECK_EQ_STR(json_string_value(json_object_get(resp, "object")), "text_completion");
    CHECK_EQ_STR(choice_text(resp, 0, 0), greedy_text);
    CHECK_EQ_INT(usage_of(resp, "prompt_tokens"), nprompt_ref);
    collector_free(&c);
    /* and as text that spells BOS itself: no second BOS, so the same tokens */
    json_object_set(req, "prompt", json_object_get(meta, "prompt"));
    CHECK(run(llm, MLCC_LLM_COMPLETION, req, &c, NULL) == 0);
    resp = last_event(&c);
    CHECK_EQ_INT(usage_of(resp, "prompt_tokens"), nprompt_ref);
    CHECK_EQ_STR(choice_text(resp, 0, 0), greedy_text);
    collector_free(&c);
    json_decref(req);
}

/* logprobs: one entry per generated token; greedy picks the most likely token, so each entry's
 * logprob is its first alternative's. Chat (whole and streamed) and completions shapes. */
static void check_chat_entries(json_t *content, int want, int ntop) {
    CHECK_EQ_INT((int)json_array_size(content), want);
    size_t i;
    json_t *e;
    json_array_foreach(content, i, e) {
        double lp = json_real_value(json_object_get(e, "logprob"));
        json_t *top = json_object_get(e, "top_logprobs");
        CHECK(lp <= 0 && json_is_string(json_object_get(e, "token")) && json_is_array(json_object_get(e, "bytes")));
        CHECK_EQ_INT((int)json_array_size(top), ntop);
        json_t *first = json_array_get(top, 0);
        CHECK_NEAR(json_real_value(json_object_get(first, "logprob")), lp, 1e-9);
        CHECK_EQ_STR(json_string_value(json_object_get(first, "token")), json_string_value(json_object_get(e, "token")));
        for (size_t k = 1; k < json_array_size(top); k++)
            CHECK(json_real_value(json_object_get(json_array_get(top, k), "logprob")) <=
                  json_real_value(json_object_get(json_array_get(top, k - 1), "logprob")));
    }
}

static void test_logprobs(mlcc_llm *llm) {
    collector c;
    json_t *req = chat_request(16);
    json_object_set_new(req, "logprobs", json_true());
    json_object_set_new(req, "top_logprobs", json_integer(3));
    CHECK(run(llm, MLCC_LLM_CHAT, req, &c, NULL) == 0);
    json_t *ch = json_array_get(json_object_get(last_event(&c), "choices"), 0);
    check_chat_entries(json_object_get(json_object_get(ch, "logprobs"), "content"), 16, 3);
    CHECK_EQ_STR(json_string_value(json_object_get(json_object_get(ch, "message"), "content")), greedy_text);
    collector_free(&c);
    /* streamed: the entries spread over the chunks add up to one per token */
    json_object_set_new(req, "stream", json_true());
    CHECK(run(llm, MLCC_LLM_CHAT, req, &c, NULL) == 0);
    json_t *all = json_array();
    for (size_t i = 0; i < json_array_size(c.events); i++) {
        json_t *chunk_choice = json_array_get(json_object_get(json_array_get(c.events, i), "choices"), 0);
        json_t *content = json_object_get(json_object_get(chunk_choice, "logprobs"), "content");
        if (content) json_array_extend(all, content);
    }
    check_chat_entries(all, 16, 3);
    json_decref(all);
    collector_free(&c);
    json_decref(req);
    /* completions: tokens, token_logprobs, top_logprobs (dicts), text_offset */
    req = json_pack("{s:O,s:f,s:i,s:i}", "prompt", json_object_get(meta, "prompt_ids"), "temperature", 0.0, "max_tokens",
                    16, "logprobs", 2);
    CHECK(run(llm, MLCC_LLM_COMPLETION, req, &c, NULL) == 0);
    json_t *lp = json_object_get(json_array_get(json_object_get(last_event(&c), "choices"), 0), "logprobs");
    CHECK_EQ_INT((int)json_array_size(json_object_get(lp, "tokens")), 16);
    CHECK_EQ_INT((int)json_array_size(json_object_get(lp, "token_logprobs")), 16);
    CHECK_EQ_INT((int)json_array_size(json_object_get(lp, "text_offset")), 16);
    json_t *tops = json_object_get(lp, "top_logprobs");
    CHECK_EQ_INT((int)json_array_size(tops), 16);
    CHECK(json_object_size(json_array_get(tops, 0)) >= 1 && json_object_size(json_array_get(tops, 0)) <= 2);
    CHECK_EQ_INT((int)json_integer_value(json_array_get(json_object_get(lp, "text_offset"), 0)), 0);
    collector_free(&c);
    json_decref(req);
}

static void test_stop(mlcc_llm *llm) {
    /* a stop string from the middle of the greedy text: the output is what comes before it */
    size_t len = strlen(greedy_text), at = len / 2;
    while (at < len && ((unsigned char)greedy_text[at] & 0xC0) == 0x80) at++;
    size_t end = at + 1;
    while (end < len && ((unsigned char)greedy_text[end] & 0xC0) == 0x80) end++;
    char *stop = strndup(greedy_text + at, end - at);
    const char *first = strstr(greedy_text, stop);
    collector c;
    json_t *req = chat_request(16);
    json_object_set_new(req, "stop", json_pack("[s,s]", "never-appears-xyz", stop));
    CHECK(run(llm, MLCC_LLM_CHAT, req, &c, NULL) == 0);
    json_t *resp = last_event(&c);
    char *want = strndup(greedy_text, (size_t)(first - greedy_text));
    CHECK_EQ_STR(choice_text(resp, 0, 1), want);
    CHECK_EQ_STR(choice_finish(resp, 0), "stop");
    free(want);
    free(stop);
    collector_free(&c);
    json_decref(req);
}

static char *sampled_text(mlcc_llm *llm, json_int_t seed, int n, int index) {
    collector c;
    json_t *req = json_pack("{s:[{s:s,s:s}],s:f,s:I,s:i,s:i,s:b}", "messages", "role", "user", "content", "Tell me a story",
                            "temperature", 1.0, "seed", seed, "max_tokens", 8, "n", n, "ignore_eos", 1);
    CHECK(run(llm, MLCC_LLM_CHAT, req, &c, NULL) == 0);
    json_t *resp = last_event(&c);
    CHECK_EQ_INT((int)json_array_size(json_object_get(resp, "choices")), n);
    if (n > 1) CHECK_EQ_INT(usage_of(resp, "completion_tokens"), 8 * n);
    char *text = strdup(choice_text(resp, index, 1));
    collector_free(&c);
    json_decref(req);
    return text;
}

static void test_seed(mlcc_llm *llm) {
    char *a = sampled_text(llm, 42, 1, 0), *b = sampled_text(llm, 42, 1, 0), *other = sampled_text(llm, 7, 1, 0);
    CHECK_EQ_STR(a, b);
    CHECK(strlen(a) > 0);
    /* near-uniform random weights over 128k tokens: another seed cannot give the same 8 tokens */
    CHECK(strcmp(a, other) != 0);
    /* n = 2: choice 0 is the seeded single answer; choice 1 differs */
    char *c0 = sampled_text(llm, 42, 2, 0), *c1 = sampled_text(llm, 42, 2, 1);
    CHECK_EQ_STR(c0, a);
    CHECK(strcmp(c1, a) != 0);
    free(a), free(b), free(other), free(c0), free(c1);
}

/* A refused request: its status, and the error's param (NULL: must be null). */
static void expect_error(mlcc_llm *llm, mlcc_llm_kind kind, const char *body, int status, const char *param) {
    char *err = NULL;
    collector c;
    collector_init(&c);
    int rc = mlcc_llm_submit(llm, body, -1, kind, on_response, &c, NULL, &err);
    CHECK_MSG(rc == status, "%s: status %d, want %d", body, rc, status);
    json_t *e = err ? json_loads(err, 0, NULL) : NULL;
    json_t *inner = json_object_get(e, "error");
    CHECK_MSG(json_is_string(json_object_get(inner, "message")) && json_is_string(json_object_get(inner, "type")),
              "%s: error %s", body, err ? err : "(none)");
    json_t *p = json_object_get(inner, "param");
    if (param) CHECK_MSG(json_is_string(p) && strcmp(json_string_value(p), param) == 0, "%s: error %s", body, err);
    else CHECK_MSG(json_is_null(p), "%s: error %s", body, err);
    CHECK_EQ_INT((int)json_array_size(c.events), 0);
    json_decref(e);
    mlcc_llm_free_string(err);
    collector_free(&c);
}

static void test_errors(mlcc_llm *llm) {
    expect_error(llm, MLCC_LLM_CHAT, "{\"messages\": [", 400, NULL);
    expect_error(llm, MLCC_LLM_CHAT, "[1, 2]", 400, NULL);
    expect_error(llm, MLCC_LLM_CHAT, "{}", 400, "messages");
    expect_error(llm, MLCC_LLM_CHAT, "{\"messages\": []}", 400, "messages");
    expect_error(llm, MLCC_LLM_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"temperature\": \"hot\"}",
                 400, "temperature");
    expect_error(llm, MLCC_LLM_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"temperature\": 3}", 400,
                 "temperature");
    expect_error(llm, MLCC_LLM_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": 5}]}", 400, "messages[0].content");
    expect_error(llm, MLCC_LLM_CHAT, "{\"messages\": [{\"role\": \"wizard\", \"content\": \"x\"}]}", 400, "messages[0].role");
    expect_error(llm, MLCC_LLM_CHAT,
                 "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": \"image_url\", \"image_url\": {}}]}]}",
                 400, "messages[0].content[0].type");
    expect_error(llm, MLCC_LLM_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"n\": 0}", 400, "n");
    expect_error(llm, MLCC_LLM_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 1.5}",
                 400, "max_tokens");
    expect_error(llm, MLCC_LLM_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 100000}",
                 400, "messages");
    expect_error(llm, MLCC_LLM_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"stop\": 3}", 400, "stop");
    expect_error(llm, MLCC_LLM_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"logit_bias\": {\"x\": 1}}",
                 400, "logit_bias");
    expect_error(llm, MLCC_LLM_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"model\": \"gpt-9\"}", 404,
                 "model");
    expect_error(llm, MLCC_LLM_CHAT, "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"stream\": 1}", 400,
                 "stream");
    expect_error(llm, MLCC_LLM_COMPLETION, "{\"prompt\": [1, -5]}", 400, "prompt");
    expect_error(llm, MLCC_LLM_COMPLETION, "{\"prompt\": {\"a\": 1}}", 400, "prompt");
    expect_error(llm, MLCC_LLM_COMPLETION, "{\"prompt\": \"hi\", \"top_p\": 0}", 400, "top_p");
}

static void test_abort_and_metrics(mlcc_llm *llm) {
    /* four choices of 200 tokens fill the batch of 4: the second request waits */
    const char *body = "{\"messages\": [{\"role\": \"user\", \"content\": \"go on\"}], \"max_tokens\": 200, "
                       "\"ignore_eos\": true, \"stream\": true, \"n\": 4}";
    usleep(200000); /* the engine publishes its counters after each step: let the last one land */
    json_int_t pages_before = metric2(llm, "kv_cache", "pages_used");
    collector running, waiting;
    collector_init(&running);
    collector_init(&waiting);
    uint64_t id_running = 0, id_waiting = 0;
    CHECK(mlcc_llm_submit(llm, body, -1, MLCC_LLM_CHAT, on_response, &running, &id_running, NULL) == 0);
    CHECK(mlcc_llm_submit(llm, body, -1, MLCC_LLM_CHAT, on_response, &waiting, &id_waiting, NULL) == 0);
    CHECK(id_running != id_waiting);
    /* the first runs as one batch of four (the engine's counters lag a step: poll) */
    for (int i = 0; i < 4000 && metric2(llm, "engine", "max_decode_batch") < 4; i++) usleep(2500);
    char *m = mlcc_llm_metrics(llm);
    json_t *mj = json_loads(m, 0, NULL);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(mj, "running")), 1);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(mj, "waiting")), 1);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(json_object_get(mj, "engine"), "max_decode_batch")), 4);
    json_decref(mj);
    mlcc_llm_free_string(m);
    /* the waiting one finishes at the engine's next step */
    CHECK(mlcc_llm_abort(llm, id_waiting) == 0);
    wait_done(&waiting);
    CHECK_EQ_INT(waiting.status, 499);
    CHECK_EQ_INT((int)json_array_size(waiting.events), 1);
    CHECK(mlcc_llm_abort(llm, id_running) == 0);
    wait_done(&running);
    CHECK_EQ_INT(running.status, 499);
    CHECK(json_is_object(json_object_get(last_event(&running), "error")));
    CHECK(mlcc_llm_abort(llm, id_running) == -1);
    CHECK_EQ_INT(running.calls_after_final + waiting.calls_after_final, 0);
    collector_free(&running);
    collector_free(&waiting);

    /* the engine publishes its counters after its next step */
    for (int i = 0; i < 4000 && metric2(llm, "kv_cache", "pages_used") > pages_before; i++) usleep(2500);
    m = mlcc_llm_metrics(llm);
    mj = json_loads(m, 0, NULL);
    CHECK_MSG(mj != NULL, "metrics: %s", m);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(mj, "running")), 0);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(mj, "waiting")), 0);
    /* the cancelled requests' pages went back to the pool (cached prefixes may have gone too) */
    CHECK(json_integer_value(json_object_get(json_object_get(mj, "kv_cache"), "pages_used")) <= pages_before);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(json_object_get(mj, "requests"), "499")), 2);
    CHECK(json_integer_value(json_object_get(json_object_get(mj, "requests"), "400")) >= 15);
    CHECK(json_integer_value(json_object_get(json_object_get(mj, "time_to_first_token_seconds"), "count")) >= 5);
    CHECK(json_integer_value(json_object_get(mj, "completion_tokens")) >= 16);
    json_decref(mj);
    mlcc_llm_free_string(m);
}

typedef struct worker_arg {
    mlcc_llm *llm;
    int ok;
} worker_arg;

static void *worker(void *p) {
    worker_arg *a = p;
    collector c;
    json_t *req = chat_request(16);
    json_object_set_new(req, "stream", json_true());
    a->ok = run(a->llm, MLCC_LLM_CHAT, req, &c, NULL) == 0 && c.status == 200 && c.finals == 1;
    mlcc_strbuf text = STRBUF_INIT;
    for (size_t i = 0; i < json_array_size(c.events); i++) {
        json_t *ch = json_array_get(json_object_get(json_array_get(c.events, i), "choices"), 0);
        json_t *content = json_object_get(json_object_get(ch, "delta"), "content");
        if (json_is_string(content)) sb_append(&text, json_string_value(content));
    }
    a->ok = a->ok && strcmp(sb_cstr(&text), greedy_text) == 0;
    sb_free(&text);
    collector_free(&c);
    json_decref(req);
    return NULL;
}

static void test_threads(mlcc_llm *llm) {
    enum { N = 4 };
    pthread_t t[N];
    worker_arg a[N];
    for (int i = 0; i < N; i++) {
        a[i] = (worker_arg){llm, 0};
        pthread_create(&t[i], NULL, worker, &a[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        CHECK_MSG(a[i].ok, "concurrent request %d", i);
    }
}

/* A full queue: with max_waiting 1, a third request is refused with 429 while one runs and one
 * waits; both are then aborted. */
static void test_queue_full(const char *model) {
    char *err = NULL;
    mlcc_llm *llm = mlcc_llm_create(model, "{\"max_seq\": 256, \"quiet\": true, \"max_waiting\": 1, \"max_batch\": 1}", &err);
    CHECK_MSG(llm != NULL, "create: %s", err ? err : "");
    if (!llm) return;
    const char *body = "{\"prompt\": [1, 2, 3], \"max_tokens\": 200, \"ignore_eos\": true, \"n\": 3}";
    collector a, b, c;
    collector_init(&a), collector_init(&b), collector_init(&c);
    uint64_t ida, idb;
    CHECK(mlcc_llm_submit(llm, body, -1, MLCC_LLM_COMPLETION, on_response, &a, &ida, NULL) == 0);
    for (int i = 0; i < 4000 && metric(llm, "running") != 1; i++) usleep(1000); /* a runs */
    CHECK(mlcc_llm_submit(llm, body, -1, MLCC_LLM_COMPLETION, on_response, &b, &idb, NULL) == 0);
    int status = mlcc_llm_submit(llm, body, -1, MLCC_LLM_COMPLETION, on_response, &c, NULL, &err);
    CHECK_EQ_INT(status, 429);
    CHECK_MSG(err && strstr(err, "rate_limit_error"), "error: %s", err ? err : "(none)");
    mlcc_llm_free_string(err);
    mlcc_llm_abort(llm, idb);
    mlcc_llm_abort(llm, ida);
    wait_done(&a), wait_done(&b);
    CHECK_EQ_INT(a.status, 499);
    CHECK_EQ_INT(b.status, 499);
    CHECK_EQ_INT((int)json_array_size(c.events), 0);
    collector_free(&a), collector_free(&b), collector_free(&c);
    mlcc_llm_destroy(llm);
}

/* The same model as a GGUF file (its own vocabulary and template inside): the same greedy
 * reply, and the file name as the model id. */
static void test_gguf(void) {
    char *path = test_data_path("gguf/tm-llama3-f16.gguf"), *err = NULL;
    if (access(path, R_OK) != 0) {
        free(path);
        return;
    }
    mlcc_llm *llm = mlcc_llm_create(path, "{\"max_seq\": 256, \"max_batch\": 4, \"quiet\": true}", &err);
    CHECK_MSG(llm != NULL, "create: %s", err ? err : "");
    if (llm) {
        CHECK_EQ_STR(mlcc_llm_model_id(llm), "tm-llama3-f16.gguf");
        collector c;
        json_t *req = chat_request(16);
        CHECK(run(llm, MLCC_LLM_CHAT, req, &c, NULL) == 0);
        json_t *resp = last_event(&c);
        CHECK_EQ_STR(choice_text(resp, 0, 1), greedy_text);
        CHECK_EQ_INT(usage_of(resp, "prompt_tokens"), nprompt_ref);
        collector_free(&c);
        json_decref(req);
        mlcc_llm_destroy(llm);
    }
    mlcc_llm_free_string(err);
    free(path);
}

static void test_create_errors(void) {
    char *err = NULL;
    CHECK(mlcc_llm_create("/nonexistent/model", "{\"quiet\": true}", &err) == NULL);
    CHECK_MSG(err && strstr(err, "/nonexistent/model"), "error: %s", err ? err : "(none)");
    mlcc_llm_free_string(err);
    CHECK(mlcc_llm_create("/nonexistent/model", "{\"max_seq\": \"big\"}", &err) == NULL);
    CHECK_MSG(err && strstr(err, "max_seq"), "error: %s", err ? err : "(none)");
    mlcc_llm_free_string(err);
    CHECK(mlcc_llm_create("/nonexistent/model", "{\"colour\": 1}", &err) == NULL);
    CHECK_MSG(err && strstr(err, "colour"), "error: %s", err ? err : "(none)");
    mlcc_llm_free_string(err);
}

int main(void) {
    char *model = test_data_path("models/tm-llama3"), *meta_path = test_data_path("models/tm-llama3/meta.json");
    if (access(meta_path, R_OK) != 0) TEST_SKIP("fixture %s missing", meta_path);
    meta = mlcc_json_load_file(meta_path);
    CHECK(meta != NULL);
    mlcc_tokenizer *tok = mlcc_tokenizer_load(model);
    CHECK(tok != NULL);
    json_t *g = json_object_get(meta, "greedy_ids");
    int32_t ids[64];
    size_t n = json_array_size(g);
    for (size_t i = 0; i < n && i < 64; i++) ids[i] = (int32_t)json_integer_value(json_array_get(g, i));
    greedy_text = mlcc_tokenizer_decode(tok, ids, n, 1, NULL);
    nprompt_ref = (int)json_array_size(json_object_get(meta, "prompt_ids"));
    test_create_errors();
    char *err = NULL;
    mlcc_llm *llm = mlcc_llm_create(model, "{\"max_seq\": 256, \"max_batch\": 4, \"quiet\": true}", &err);
    CHECK_MSG(llm != NULL, "create: %s", err ? err : "");
    if (llm) {
        CHECK_EQ_STR(mlcc_llm_model_id(llm), "tm-llama3");
        test_greedy(llm);
        test_stop(llm);
        test_logprobs(llm);
        test_seed(llm);
        test_errors(llm);
        test_abort_and_metrics(llm);
        test_threads(llm);
        mlcc_llm_destroy(llm);
        test_queue_full(model);
        test_gguf();
    }
    mlcc_llm_free_string(err);
    free(greedy_text);
    mlcc_tokenizer_free(tok);
    json_decref(meta);
    free(model);
    free(meta_path);
    return test_finish();
}
