/* metrics.h - serving metrics: requests by HTTP status, prompt and generated tokens, latency
 * histograms (time to first token, inter-token, end to end), and gauges sampled when read
 * (running and waiting requests, KV cache use). Rendered as JSON (the C API) or Prometheus
 * text exposition format 0.0.4 (GET /metrics). Every function is thread-safe. */
#ifndef MLCC_SERVE_METRICS_H
#define MLCC_SERVE_METRICS_H

#include <stdint.h>

#define SERVE_HIST_BUCKETS 14

typedef struct serve_histogram {
    const double *bounds; /* SERVE_HIST_BUCKETS upper bounds (seconds), +Inf implied */
    uint64_t counts[SERVE_HIST_BUCKETS + 1];
    double sum;
    uint64_t count;
} serve_histogram;

typedef struct serve_metrics serve_metrics;

/* Gauges, read when metrics are rendered. */
typedef struct serve_gauges {
    int running, waiting;               /* requests */
    int engine_running, engine_waiting; /* the engine's sequences (one per choice) */
    int max_decode_batch;               /* largest batch_decode step so far */
    int64_t kv_pages_used, kv_pages_total;
} serve_gauges;

serve_metrics *serve_metrics_new(void);
void serve_metrics_free(serve_metrics *m);

void serve_metrics_count_status(serve_metrics *m, int status);
void serve_metrics_add_tokens(serve_metrics *m, int prompt_tokens, int completion_tokens);
void serve_metrics_observe_ttft(serve_metrics *m, double seconds);
void serve_metrics_observe_itl(serve_metrics *m, double seconds);
void serve_metrics_observe_e2e(serve_metrics *m, double seconds);

/* malloc'ed. */
char *serve_metrics_json(serve_metrics *m, const serve_gauges *g);
char *serve_metrics_prometheus(serve_metrics *m, const serve_gauges *g);

#endif
