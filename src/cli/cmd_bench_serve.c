/* cmd_bench_serve.c - `mlcc bench serve`: a load generator for any OpenAI-compatible server
 * (mlcc's own, vLLM, llama.cpp's llama-server, MLC's, ...):
 *   mlcc bench serve --url URL [--concurrency 4] [--requests 16] [--prompt-len 128]
 *                    [--gen-len 64] [--model NAME] [--api chat|completions] [--seed S] [--json]
 * `concurrency` threads each keep one streaming request in flight (libcurl, one connection per
 * thread) until `requests` have been sent. Each request asks for gen-len tokens (max_tokens,
 * with ignore_eos and temperature 0 for the servers that honour them) after a prompt of
 * prompt-len random words (about one token each; the server's usage counts are reported when it
 * sends them). Measured per request from the server-sent events: time to first token (first
 * content chunk), inter-token latency (between content chunks), end-to-end latency; overall:
 * output tokens/s and requests/s over the wall time, and errors (HTTP status, connection, an
 * error object in the stream, a stream that ends without [DONE]). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/commands.h"
#include "engine/bench.h"
#include "support/alloc.h"
#include "support/clock.h"
#include "support/error.h"
#include "support/strbuf.h"

int cmd_bench_serve(int argc, char **argv);

typedef struct serve_args {
    const char *url, *model, *api;
    int concurrency, requests, prompt_len, gen_len, json;
    uint64_t seed;
    char *endpoint;
} serve_args;

typedef struct req_result {
    int ok;
    char error[160];
    double start, first, end; /* first: the first content chunk (0: none) */
    double *gaps;             /* between content chunks, ms */
    int ngaps, cap, chunks;
    long completion_tokens, prompt_tokens; /* from usage; -1 when not sent */
} req_result;

typedef struct load {
    const serve_args *a;
    pthread_mutex_t mu;
    int next;
    req_result *results;
} load;

static void usage(FILE *f) {
    fprintf(f, "usage: mlcc bench serve --url URL [--concurrency 4] [--requests 16] [--prompt-len 128] [--gen-len 64]\n"
               "                        [--model NAME] [--api chat|completions] [--seed S] [--json]\n"
               "URL is the server's base (http://host:port, /v1/chat/completions is added) or a full endpoint.\n");
}

/* ---- one streaming request ---- */

typedef struct stream_state {
    req_result *r;
    mlcc_strbuf line;
    int done, failed;
    double last;
} stream_state;

static void add_gap(req_result *r, double ms) {
    if (r->ngaps == r->cap) r->gaps = mlcc_xrealloc(r->gaps, sizeof(double) * (size_t)(r->cap = r->cap ? 2 * r->cap : 64));
    r->gaps[r->ngaps++] = ms;
}

/* One "data: ..." line of the event stream. */
static void on_data(stream_state *s, const char *data) {
    if (!strcmp(data, "[DONE]")) {
        s->done = 1;
        return;
    }
    json_t *j = json_loads(data, 0, NULL);
    if (!j) return; /* not JSON: ignored, as clients do */
    json_t *err = json_object_get(j, "error");
    if (err && !json_is_null(err)) {
        json_t *msg = json_is_object(err) ? json_object_get(err, "message") : err;
        snprintf(s->r->error, sizeof s->r->error, "error in stream: %s", json_is_string(msg) ? json_string_value(msg) : "(no message)");
        s->failed = 1;
    }
    json_t *choice = json_array_get(json_object_get(j, "choices"), 0);
    json_t *delta = json_object_get(choice, "delta");
    json_t *text = delta ? json_object_get(delta, "content") : json_object_get(choice, "text");
    if (json_is_string(text) && json_string_length(text) > 0) {
        double t = mlcc_now_seconds();
        if (!s->r->first) s->r->first = t;
        else add_gap(s->r, (t - s->last) * 1e3);
        s->last = t;
        s->r->chunks++;
    }
    json_t *usage = json_object_get(j, "usage");
    if (json_is_object(usage)) {
        json_t *c = json_object_get(usage, "completion_tokens"), *p = json_object_get(usage, "prompt_tokens");
        if (json_is_integer(c)) s->r->completion_tokens = (long)json_integer_value(c);
        if (json_is_integer(p)) s->r->prompt_tokens = (long)json_integer_value(p);
    }
    json_decref(j);
}

static size_t on_body(char *p, size_t size, size_t n, void *ctx) {
    stream_state *s = ctx;
    size_t len = size * n;
    for (size_t i = 0; i < len; i++) {
        if (p[i] != '\n') {
            if (s->line.len < (1u << 24)) sb_append_char(&s->line, p[i]);
            continue;
        }
        const char *l = sb_cstr(&s->line);
        size_t ll = s->line.len;
        if (ll && l[ll - 1] == '\r') s->line.data[--s->line.len] = 0;
        if (!strncmp(l, "data:", 5)) on_data(s, l + 5 + (l[5] == ' '));
        sb_clear(&s->line);
    }
    return len;
}

static char *random_prompt(uint64_t *rng, int words) {
    static const char *const vocab[] = {"the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be",
                                        "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but",
                                        "have", "an", "had", "they", "you", "were", "their", "one", "all", "we", "can"};
    mlcc_strbuf b = STRBUF_INIT;
    for (int i = 0; i < words; i++) {
        *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
        sb_printf(&b, "%s%s", i ? " " : "", vocab[(*rng >> 33) % (sizeof vocab / sizeof vocab[0])]);
    }
    return sb_detach(&b);
}

static void run_one(const serve_args *a, int index, req_result *r) {
    memset(r, 0, sizeof *r);
    r->completion_tokens = r->prompt_tokens = -1;
    uint64_t rng = a->seed * 1000003u + (uint64_t)index;
    char *prompt = random_prompt(&rng, a->prompt_len);
    int chat = strcmp(a->api, "completions") != 0;
    json_t *body = json_pack("{s:s,s:i,s:b,s:b,s:f,s:{s:b}}", "model", a->model, "max_tokens", a->gen_len, "stream", 1,
                             "ignore_eos", 1, "temperature", 0.0, "stream_options", "include_usage", 1);
    if (chat) json_object_set_new(body, "messages", json_pack("[{s:s,s:s}]", "role", "user", "content", prompt));
    else json_object_set_new(body, "prompt", json_string(prompt));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    free(prompt);
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: text/event-stream");
    stream_state s = {.r = r};
    curl_easy_setopt(c, CURLOPT_URL, a->endpoint);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    r->start = mlcc_now_seconds();
    CURLcode rc = curl_easy_perform(c);
    r->end = mlcc_now_seconds();
    if (s.line.len) on_body("\n", 1, 1, &s); /* a last line without its newline */
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK) snprintf(r->error, sizeof r->error, "%s", curl_easy_strerror(rc));
    else if (status != 200) snprintf(r->error, sizeof r->error, "HTTP %ld", status);
    else if (!s.failed && !s.done) snprintf(r->error, sizeof r->error, "the stream ended without [DONE]");
    r->ok = !r->error[0];
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    sb_free(&s.line);
    free(text);
}

static void *worker(void *arg) {
    load *l = arg;
    for (;;) {
        pthread_mutex_lock(&l->mu);
        int i = l->next < l->a->requests ? l->next++ : -1;
        pthread_mutex_unlock(&l->mu);
        if (i < 0) return NULL;
        run_one(l->a, i, &l->results[i]);
    }
}

/* ---- report ---- */

static int parse_args(int argc, char **argv, serve_args *a) {
    memset(a, 0, sizeof *a);
    a->concurrency = 4, a->requests = 16, a->prompt_len = 128, a->gen_len = 64, a->model = "default", a->api = "chat";
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int has = i + 1 < argc;
        int *iv = NULL, lo = 1, hi = 1 << 20;
        if (!strcmp(s, "--url") && has) a->url = argv[++i];
        else if (!strcmp(s, "--model") && has) a->model = argv[++i];
        else if (!strcmp(s, "--api") && has) a->api = argv[++i];
        else if (!strcmp(s, "--json")) a->json = 1;
        else if (!strcmp(s, "--concurrency") && has) iv = &a->concurrency, hi = 4096;
        else if (!strcmp(s, "--requests") && has) iv = &a->requests;
        else if (!strcmp(s, "--prompt-len") && has) iv = &a->prompt_len;
        else if (!strcmp(s, "--gen-len") && has) iv = &a->gen_len;
        else if (!strcmp(s, "--seed") && has) {
            char *end;
            a->seed = strtoull(argv[++i], &end, 10);
            if (end == argv[i] || *end) return mlcc_set_error("--seed '%s' is not a number", argv[i]);
        } else return mlcc_set_error("unknown or incomplete option '%s'", s);
        if (iv) {
            char *end;
            errno = 0;
            long v = strtol(argv[++i], &end, 10);
            if (end == argv[i] || *end || errno || v < lo || v > hi)
                return mlcc_set_error("%s '%s': expected an integer in %d..%d", s, argv[i], lo, hi);
            *iv = (int)v;
        }
    }
    if (!a->url) return mlcc_set_error("--url is required");
    if (strcmp(a->api, "chat") && strcmp(a->api, "completions")) return mlcc_set_error("--api '%s': chat or completions", a->api);
    if (strncmp(a->url, "http://", 7) && strncmp(a->url, "https://", 8)) return mlcc_set_error("--url '%s': expected http:// or https://", a->url);
    size_t n = strlen(a->url);
    while (n && a->url[n - 1] == '/') n--;
    int full = n >= 12 && !strncmp(a->url + n - 12, "/completions", 12);
    mlcc_strbuf b = STRBUF_INIT;
    sb_printf(&b, "%.*s%s", (int)n, a->url, full ? "" : !strcmp(a->api, "chat") ? "/v1/chat/completions" : "/v1/completions");
    a->endpoint = sb_detach(&b);
    return 0;
}

int cmd_bench_serve(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    serve_args a;
    if (parse_args(argc, argv, &a)) {
        fprintf(stderr, "mlcc bench serve: %s\n", mlcc_last_error());
        usage(stderr);
        free(a.endpoint);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    load l = {.a = &a, .next = 0};
    pthread_mutex_init(&l.mu, NULL);
    l.results = mlcc_xcalloc((size_t)a.requests, sizeof(req_result));
    int nthreads = a.concurrency < a.requests ? a.concurrency : a.requests;
    pthread_t *th = mlcc_xmalloc(sizeof(pthread_t) * (size_t)nthreads);
    fprintf(stderr, "[mlcc bench serve] %d requests, %d at a time, to %s\n", a.requests, nthreads, a.endpoint);
    double t0 = mlcc_now_seconds();
    int started = 0;
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&th[i], NULL, worker, &l) == 0) started++;
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
    double wall = mlcc_now_seconds() - t0;

    int ok = 0, errors = 0;
    long tokens = 0, prompt_tokens = 0;
    int n_gaps = 0;
    for (int i = 0; i < a.requests; i++) n_gaps += l.results[i].ngaps;
    double *ttft = mlcc_xmalloc(sizeof(double) * (size_t)a.requests), *e2e = mlcc_xmalloc(sizeof(double) * (size_t)a.requests);
    double *itl = mlcc_xmalloc(sizeof(double) * (size_t)(n_gaps + 1));
    int nttft = 0, ne2e = 0, nitl = 0;
    const char *first_error = NULL;
    for (int i = 0; i < a.requests; i++) {
        req_result *r = &l.results[i];
        if (!r->ok) {
            errors++;
            if (!first_error) first_error = r->error;
            continue;
        }
        ok++;
        tokens += r->completion_tokens >= 0 ? r->completion_tokens : r->chunks;
        if (r->prompt_tokens > 0) prompt_tokens += r->prompt_tokens;
        if (r->first) ttft[nttft++] = (r->first - r->start) * 1e3;
        e2e[ne2e++] = (r->end - r->start) * 1e3;
        for (int k = 0; k < r->ngaps; k++) itl[nitl++] = r->gaps[k];
    }
    double ttft50 = mlcc_bench_quantile(ttft, nttft, 0.5), ttft99 = mlcc_bench_quantile(ttft, nttft, 0.99);
    double itl50 = mlcc_bench_quantile(itl, nitl, 0.5), itl99 = mlcc_bench_quantile(itl, nitl, 0.99);
    double e2e50 = mlcc_bench_quantile(e2e, ne2e, 0.5), e2e99 = mlcc_bench_quantile(e2e, ne2e, 0.99);
    printf("requests: %d ok, %d errors%s%s in %.2f s (%.2f req/s)\n", ok, errors, first_error ? "; first error: " : "",
           first_error ? first_error : "", wall, ok / wall);
    printf("output: %ld tokens, %.1f tok/s%s\n", tokens, tokens / wall, prompt_tokens ? "" : " (counted as content chunks where the server sent no usage)");
    printf("TTFT ms: p50 %.1f p99 %.1f; ITL ms: p50 %.2f p99 %.2f; latency ms: p50 %.1f p99 %.1f\n", ttft50, ttft99, itl50, itl99,
           e2e50, e2e99);
    if (a.json) {
        json_t *o = json_pack("{s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:f,s:f,s:I,s:I,s:f,s:f,s:f,s:f,s:f,s:f}", "url", a.endpoint,
                              "concurrency", nthreads, "requests", a.requests, "prompt_len", a.prompt_len, "gen_len", a.gen_len,
                              "ok", ok, "errors", errors, "seconds", wall, "request_per_s", ok / wall, "output_tok_s",
                              tokens / wall, "output_tokens", (json_int_t)tokens, "prompt_tokens", (json_int_t)prompt_tokens,
                              "ttft_p50_ms", ttft50, "ttft_p99_ms", ttft99, "itl_p50_ms", itl50, "itl_p99_ms", itl99,
                              "latency_p50_ms", e2e50, "latency_p99_ms", e2e99);
        if (first_error) json_object_set_new(o, "first_error", json_string(first_error));
        char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        printf("%s\n", text);
        free(text);
        json_decref(o);
    }
    for (int i = 0; i < a.requests; i++) free(l.results[i].gaps);
    free(l.results);
    free(ttft);
    free(e2e);
    free(itl);
    free(th);
    pthread_mutex_destroy(&l.mu);
    free(a.endpoint);
    curl_global_cleanup();
    return errors ? 1 : 0;
}
