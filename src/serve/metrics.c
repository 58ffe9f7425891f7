/* metrics.c - serving metrics (see metrics.h). Counters live under one mutex: updates are a
 * few per generated token, far below what would make it contended. */
#include "serve/metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "support/alloc.h"
#include "support/strbuf.h"

#define MAX_STATUSES 32

static const double ttft_bounds[SERVE_HIST_BUCKETS] = {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08,
                                                        0.1,   0.25,  0.5,  1,    2.5,  5,    10};
static const double itl_bounds[SERVE_HIST_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                       0.075,  0.1,   0.15,   0.2,   0.3,  0.5,   1};
static const double e2e_bounds[SERVE_HIST_BUCKETS] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                       2.5,  5,     10,   20,  40,   80,  160};

struct serve_metrics {
    pthread_mutex_t lock;
    int statuses[MAX_STATUSES];
    uint64_t status_counts[MAX_STATUSES];
    int nstatuses;
    uint64_t prompt_tokens, completion_tokens;
    serve_histogram ttft, itl, e2e;
};

serve_metrics *serve_metrics_new(void) {
    serve_metrics *m = mlcc_xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    m->ttft.bounds = ttft_bounds;
    m->itl.bounds = itl_bounds;
    m->e2e.bounds = e2e_bounds;
    return m;
}

void serve_metrics_free(serve_metrics *m) {
    if (!m) return;
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void serve_metrics_count_status(serve_metrics *m, int status) {
    pthread_mutex_lock(&m->lock);
    int i = 0;
    while (i < m->nstatuses && m->statuses[i] != status) i++;
    if (i == m->nstatuses && i < MAX_STATUSES) m->statuses[m->nstatuses++] = status;
    if (i < MAX_STATUSES) m->status_counts[i]++;
    pthread_mutex_unlock(&m->lock);
}

void serve_metrics_add_tokens(serve_metrics *m, int prompt_tokens, int completion_tokens) {
    pthread_mutex_lock(&m->lock);
    m->prompt_tokens += (uint64_t)(prompt_tokens > 0 ? prompt_tokens : 0);
    m->completion_tokens += (uint64_t)(completion_tokens > 0 ? completion_tokens : 0);
    pthread_mutex_unlock(&m->lock);
}

static void observe(serve_metrics *m, serve_histogram *h, double v) {
    pthread_mutex_lock(&m->lock);
    int b = 0;
    while (b < SERVE_HIST_BUCKETS && v > h->bounds[b]) b++;
    h->counts[b]++;
    h->sum += v;
    h->count++;
    pthread_mutex_unlock(&m->lock);
}

void serve_metrics_observe_ttft(serve_metrics *m, double s) {
    observe(m, &m->ttft, s);
}
void serve_metrics_observe_itl(serve_metrics *m, double s) {
    observe(m, &m->itl, s);
}
void serve_metrics_observe_e2e(serve_metrics *m, double s) {
    observe(m, &m->e2e, s);
}

/* ---- JSON ---- */

static json_t *histogram_json(const serve_histogram *h) {
    json_t *buckets = json_array();
    uint64_t cumulative = 0;
    for (int b = 0; b <= SERVE_HIST_BUCKETS; b++) {
        cumulative += h->counts[b];
        json_t *le = b < SERVE_HIST_BUCKETS ? json_real(h->bounds[b]) : json_string("+Inf");
        json_array_append_new(buckets, json_pack("{s:o,s:I}", "le", le, "count", (json_int_t)cumulative));
    }
    return json_pack("{s:o,s:f,s:I}", "buckets", buckets, "sum", h->sum, "count", (json_int_t)h->count);
}

char *serve_metrics_json(serve_metrics *m, const serve_gauges *g) {
    pthread_mutex_lock(&m->lock);
    json_t *requests = json_object();
    for (int i = 0; i < m->nstatuses; i++) {
        char key[16];
        snprintf(key, sizeof key, "%d", m->statuses[i]);
        json_object_set_new(requests, key, json_integer((json_int_t)m->status_counts[i]));
    }
    json_t *root = json_pack("{s:o,s:I,s:I,s:i,s:i,s:{s:i,s:i,s:i},s:{s:I,s:I},s:o,s:o,s:o}", "requests", requests,
                             "prompt_tokens", (json_int_t)m->prompt_tokens, "completion_tokens",
                             (json_int_t)m->completion_tokens, "running", g->running, "waiting", g->waiting, "engine",
                             "running_sequences", g->engine_running, "waiting_sequences", g->engine_waiting,
                             "max_decode_batch", g->max_decode_batch, "kv_cache", "pages_used",
                             (json_int_t)g->kv_pages_used, "pages_total", (json_int_t)g->kv_pages_total,
                             "time_to_first_token_seconds", histogram_json(&m->ttft), "inter_token_latency_seconds",
                             histogram_json(&m->itl), "e2e_request_latency_seconds", histogram_json(&m->e2e));
    pthread_mutex_unlock(&m->lock);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    return s;
}

/* ---- Prometheus ---- */

static void prom_histogram(mlcc_strbuf *out, const char *name, const char *help, const serve_histogram *h) {
    sb_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cumulative = 0;
    for (int b = 0; b < SERVE_HIST_BUCKETS; b++) {
        cumulative += h->counts[b];
        sb_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[b], (unsigned long long)cumulative);
    }
    cumulative += h->counts[SERVE_HIST_BUCKETS];
    sb_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cumulative);
    sb_printf(out, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->count);
}

static void prom_scalar(mlcc_strbuf *out, const char *name, const char *type, const char *help, double v) {
    sb_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

char *serve_metrics_prometheus(serve_metrics *m, const serve_gauges *g) {
    mlcc_strbuf out = STRBUF_INIT;
    pthread_mutex_lock(&m->lock);
    sb_printf(&out, "# HELP mlcc_requests_total Requests answered, by HTTP status.\n# TYPE mlcc_requests_total counter\n");
    for (int i = 0; i < m->nstatuses; i++)
        sb_printf(&out, "mlcc_requests_total{status=\"%d\"} %llu\n", m->statuses[i],
                  (unsigned long long)m->status_counts[i]);
    prom_scalar(&out, "mlcc_prompt_tokens_total", "counter", "Prompt tokens processed.", (double)m->prompt_tokens);
    prom_scalar(&out, "mlcc_generation_tokens_total", "counter", "Tokens generated.", (double)m->completion_tokens);
    prom_histogram(&out, "mlcc_time_to_first_token_seconds", "Time from submission to the first generated text.",
                   &m->ttft);
    prom_histogram(&out, "mlcc_inter_token_latency_seconds", "Time between successive pieces of generated text.",
                   &m->itl);
    prom_histogram(&out, "mlcc_e2e_request_latency_seconds", "Time from submission to the end of a request.", &m->e2e);
    pthread_mutex_unlock(&m->lock);
    prom_scalar(&out, "mlcc_requests_running", "gauge", "Requests being generated.", g->running);
    prom_scalar(&out, "mlcc_requests_waiting", "gauge", "Requests waiting in the queue.", g->waiting);
    prom_scalar(&out, "mlcc_engine_sequences_running", "gauge", "Sequences (one per choice) in the running batch.",
                g->engine_running);
    prom_scalar(&out, "mlcc_engine_sequences_waiting", "gauge", "Sequences waiting for a batch slot.", g->engine_waiting);
    prom_scalar(&out, "mlcc_engine_max_decode_batch", "gauge", "Largest batch_decode step so far.", g->max_decode_batch);
    prom_scalar(&out, "mlcc_kv_cache_pages_used", "gauge",
                "KV cache pages in use (running requests and cached prefixes).", (double)g->kv_pages_used);
    prom_scalar(&out, "mlcc_kv_cache_pages_total", "gauge", "KV cache pages in all.", (double)g->kv_pages_total);
    prom_scalar(&out, "mlcc_kv_cache_usage_ratio", "gauge", "KV cache use, 0 to 1.",
                g->kv_pages_total > 0 ? (double)g->kv_pages_used / (double)g->kv_pages_total : 0.0);
    return sb_detach(&out);
}
