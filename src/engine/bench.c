/* bench.c - the engine-level measurements of bench.h. Token events arrive on the engine's
 * thread; each request records the time of each of its tokens, and the caller waits on a
 * condition variable until every request of a run has ended. */
#include "engine/bench.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/clock.h"
#include "support/error.h"

typedef struct run run;

typedef struct request {
    run *run;
    double submitted;
    double *times; /* of each token */
    int ntimes, cap;
    int done;
    mlcc_gen_result result;
} request;

struct run {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;
};

static void on_event(void *ctx, const mlcc_engine_event *ev) {
    request *r = ctx;
    double t = mlcc_now_seconds();
    if (ev->token >= 0) {
        if (r->ntimes == r->cap) r->times = mlcc_xrealloc(r->times, sizeof(double) * (size_t)(r->cap = r->cap ? 2 * r->cap : 64));
        r->times[r->ntimes++] = t;
    }
    if (ev->finish_reason) {
        r->result = *ev->result;
        pthread_mutex_lock(&r->run->mu);
        r->done = 1;
        r->run->pending--;
        pthread_cond_broadcast(&r->run->cv);
        pthread_mutex_unlock(&r->run->mu);
    }
}

static uint64_t next_random(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Runs n requests submitted together; reqs[i] get their token times and results. */
static int run_requests(mlcc_engine *e, request *reqs, int n, int prompt_len, int max_tokens, uint64_t *rng, int vocab,
                        const mlcc_bench_options *o) {
    run rn = {.pending = 0};
    pthread_mutex_init(&rn.mu, NULL);
    pthread_cond_init(&rn.cv, NULL);
    mlcc_gen_config cfg = mlcc_gen_defaults();
    cfg.sampling.temperature = 0;
    if (o->sample) cfg.sampling = o->sampling, cfg.has_seed = 1;
    cfg.ignore_eos = 1;
    cfg.max_tokens = max_tokens;
    int32_t *prompt = mlcc_xmalloc(sizeof(int32_t) * (size_t)prompt_len);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        memset(&reqs[i], 0, sizeof reqs[i]);
        reqs[i].run = &rn;
    }
    rn.pending = n;
    mlcc_engine_hold(e, 1); /* the n requests start together: one batch from the first step */
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < prompt_len; k++) prompt[k] = (int32_t)(next_random(rng) % (uint64_t)vocab);
        reqs[i].submitted = mlcc_now_seconds();
        cfg.seed = (uint64_t)i;
        if (mlcc_engine_submit(e, prompt, (size_t)prompt_len, &cfg, on_event, &reqs[i]) < 0) {
            /* this request and the ones after it never come */
            pthread_mutex_lock(&rn.mu);
            rn.pending -= n - i;
            pthread_mutex_unlock(&rn.mu);
            rc = -1;
            break;
        }
    }
    mlcc_engine_hold(e, 0);
    pthread_mutex_lock(&rn.mu);
    while (rn.pending > 0) pthread_cond_wait(&rn.cv, &rn.mu);
    pthread_mutex_unlock(&rn.mu);
    free(prompt);
    for (int i = 0; i < n && rc == 0; i++)
        if (!reqs[i].result.finish_reason || strcmp(reqs[i].result.finish_reason, "length") != 0)
            rc = mlcc_set_error("bench: a request ended with '%s'%s%s", reqs[i].result.finish_reason,
                                reqs[i].result.error[0] ? ": " : "", reqs[i].result.error);
    pthread_cond_destroy(&rn.cv);
    pthread_mutex_destroy(&rn.mu);
    return rc;
}

static void free_requests(request *reqs, int n) {
    for (int i = 0; i < n; i++) free(reqs[i].times);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double mlcc_bench_quantile(double *v, int n, double q) {
    if (n <= 0) return 0;
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    double pos = q * (n - 1);
    int i = (int)pos;
    if (i >= n - 1) return v[n - 1];
    return v[i] + (pos - i) * (v[i + 1] - v[i]);
}

static int measure_prefill(mlcc_engine *e, const mlcc_bench_options *o, uint64_t *rng, mlcc_bench_result *out) {
    int reps = o->repeat > 0 ? o->repeat : 3;
    double *tps = mlcc_xmalloc(sizeof(double) * (size_t)reps), *ttft = mlcc_xmalloc(sizeof(double) * (size_t)reps);
    int rc = 0;
    for (int i = -1; i < reps && rc == 0; i++) { /* i == -1: warm-up */
        request r;
        rc = run_requests(e, &r, 1, o->prompt_len, 1, rng, o->vocab, o);
        if (rc == 0 && i >= 0) {
            tps[i] = r.result.prefill_seconds > 0 ? (r.result.prompt_tokens - r.result.reused_tokens) / r.result.prefill_seconds : 0;
            ttft[i] = r.ntimes ? (r.times[0] - r.submitted) * 1e3 : 0;
        }
        free_requests(&r, 1);
        mlcc_engine_reset(e);
    }
    if (rc == 0) {
        out->prefill_tok_s = mlcc_bench_quantile(tps, reps, 0.5);
        out->ttft_ms = mlcc_bench_quantile(ttft, reps, 0.5);
    }
    free(tps);
    free(ttft);
    return rc;
}

/* The steady window of a batch run (see bench.h) and the numbers inside it. */
static void steady_decode(request *reqs, int b, mlcc_bench_decode *d) {
    int last = 0;
    double t_end = 1e300, first_any = 1e300, end_any = 0;
    for (int i = 0; i < b; i++) {
        if (reqs[i].times[0] > reqs[last].times[0]) last = i;
        double fin = reqs[i].times[reqs[i].ntimes - 1];
        if (fin < t_end) t_end = fin;
        if (reqs[i].times[0] < first_any) first_any = reqs[i].times[0];
        if (fin > end_any) end_any = fin;
    }
    const request *L = &reqs[last];
    double t_start = L->times[0];
    int steps = 0;
    while (steps + 1 < L->ntimes && L->times[steps + 1] <= t_end) steps++;
    d->steps = steps;
    int total = 0;
    for (int i = 0; i < b; i++) total += reqs[i].ntimes;
    if (steps > 0) {
        d->steady = 1;
        d->tok_s = (double)b * steps / (L->times[steps] - t_start);
    } else { /* no step decoded every sequence: the average over the run */
        d->steady = 0;
        d->tok_s = end_any > first_any ? (total - b) / (end_any - first_any) : 0;
        t_start = first_any, t_end = end_any;
    }
    double *gaps = mlcc_xmalloc(sizeof(double) * (size_t)(total + 1));
    int ngaps = 0;
    for (int i = 0; i < b; i++)
        for (int k = 1; k < reqs[i].ntimes; k++)
            if (reqs[i].times[k - 1] >= t_start && reqs[i].times[k] <= t_end) gaps[ngaps++] = (reqs[i].times[k] - reqs[i].times[k - 1]) * 1e3;
    d->itl_p50_ms = mlcc_bench_quantile(gaps, ngaps, 0.5);
    d->itl_p99_ms = mlcc_bench_quantile(gaps, ngaps, 0.99);
    for (int i = 0; i < b; i++) gaps[i] = (reqs[i].times[0] - reqs[i].submitted) * 1e3;
    d->ttft_p50_ms = mlcc_bench_quantile(gaps, b, 0.5);
    free(gaps);
}

/* Tokens of the decode warm-up's requests (beyond the staggered ones): a CUDA graph is captured at
 * the second step of a batch (decode_graph.c), replayed from the third. */
enum { WARMUP_TOKENS = 4 };

static int measure_decode(mlcc_engine *e, const mlcc_bench_options *o, int b, uint64_t *rng, mlcc_bench_decode *d) {
    memset(d, 0, sizeof *d);
    d->batch = b;
    request *reqs = mlcc_xcalloc((size_t)b, sizeof *reqs);
    int64_t staggered = mlcc_bench_staggered_tokens(o, b);
    /* the warm-up: the same batch for a few steps first, so that what a decode step pays once
     * (kernels loaded, the step's CUDA graph captured) stays out of the window measured */
    int warmup = o->gen_len < WARMUP_TOKENS ? o->gen_len : WARMUP_TOKENS;
    int rc = run_requests(e, reqs, b, o->prompt_len, warmup + (int)staggered, rng, o->vocab, o);
    free_requests(reqs, b);
    mlcc_engine_reset(e);
    mlcc_engine_stats before, after;
    mlcc_engine_get_stats(e, &before);
    double t0 = mlcc_now_seconds();
    if (rc == 0) rc = run_requests(e, reqs, b, o->prompt_len, o->gen_len + (int)staggered, rng, o->vocab, o);
    d->seconds = mlcc_now_seconds() - t0;
    mlcc_engine_get_stats(e, &after);
    for (int i = 0; i < b && rc == 0; i++)
        if (reqs[i].ntimes < 1) rc = mlcc_set_error("bench: a request of batch %d produced no tokens", b);
    if (rc == 0) steady_decode(reqs, b, d);
    d->max_decode_batch = after.max_decode_batch;
    d->preemptions = after.preemptions - before.preemptions;
    free_requests(reqs, b);
    free(reqs);
    mlcc_engine_reset(e);
    return rc;
}

int64_t mlcc_bench_staggered_tokens(const mlcc_bench_options *o, int b) {
    if (o->prefill_chunk <= 0 || o->context <= 0) return 0;
    int64_t n = ((int64_t)b * o->prompt_len + o->prefill_chunk - 1) / o->prefill_chunk;
    int64_t room = (int64_t)o->context - o->prompt_len - o->gen_len - 1;
    return n < room ? n : room > 0 ? room : 0;
}

int mlcc_bench_run(mlcc_engine *e, const mlcc_bench_options *o, mlcc_bench_result *out, void (*progress)(const char *line)) {
    memset(out, 0, sizeof *out);
    if (o->prompt_len < 1 || o->gen_len < 1 || o->vocab < 1 || o->nbatch < 0 || o->nbatch > MLCC_BENCH_MAX_BATCHES)
        return mlcc_set_error("bench: prompt length, generation length and vocabulary must be positive");
    uint64_t rng = o->seed;
    char line[256];
    if (progress) {
        snprintf(line, sizeof line, "prefill: %d-token prompts, %d runs after a warm-up", o->prompt_len, o->repeat > 0 ? o->repeat : 3);
        progress(line);
    }
    if (measure_prefill(e, o, &rng, out)) return -1;
    for (int i = 0; i < o->nbatch; i++) {
        if (progress) {
            snprintf(line, sizeof line, "decode: batch %d, %d-token prompts, %d tokens each after a warm-up", o->batches[i], o->prompt_len,
                     o->gen_len);
            progress(line);
        }
        if (measure_decode(e, o, o->batches[i], &rng, &out->decode[i])) return -1;
        out->ndecode = i + 1;
    }
    return 0;
}
