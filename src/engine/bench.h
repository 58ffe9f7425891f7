/* bench.h - measuring a model through the engine, as users run it (issue 10, DESIGN.md §8):
 *
 *   prefill  one request at a time with a prompt of prompt_len random ids and max_tokens 1:
 *            prefill tokens/s (the engine's own prefill time) and time to first token
 *            (submit -> first token event), medians over `repeat` runs after a warm-up run;
 *   decode   for each batch size b: b requests submitted at once (distinct random prompts,
 *            ignore_eos, greedy or the options' sampling), after a warm-up of the same b
 *            requests for a few tokens (as llama-bench's warm-up run: a decode step's one-time
 *            costs, kernels loaded and the CUDA graph captured, stay out of the figures). Tokens/s counts only the steady decode
 *            steps: after the last request has its first token (every prompt prefilled) and
 *            until the first request finishes, so every step decodes all b sequences. The
 *            last-started request's token events count those steps; inter-token latency is
 *            every request's gap between consecutive tokens inside that window. The engine
 *            alternates prefill and decode steps while both wait, so the first requests decode
 *            one token per prefill step of the later prompts: each request generates gen_len +
 *            ceil(b prompt_len / prefill_chunk) tokens (max_tokens; within the context window), which leaves about gen_len
 *            steady steps however many prefill steps the prompts take (before, with a short
 *            gen_len or a small chunk, the first requests finished before the last started and
 *            batch 64 had no steady window).
 * The floors that these numbers are compared with are in bench_floor.h. */
#ifndef MLCC_ENGINE_BENCH_H
#define MLCC_ENGINE_BENCH_H

#include <stdint.h>

#include "engine/engine.h"

enum { MLCC_BENCH_MAX_BATCHES = 16 };

typedef struct mlcc_bench_options {
    int prompt_len, gen_len;
    int batches[MLCC_BENCH_MAX_BATCHES];
    int nbatch;
    int repeat;     /* prefill runs measured (after one warm-up); 0: 3 */
    uint64_t seed;  /* of the random prompts */
    int vocab;      /* prompt ids are drawn from [0, vocab) */
    /* the engine's tokens per prefill step and context window (the model's bounds): decode
     * requests generate up to context - prompt_len - 1 tokens; 0: unknown, gen_len tokens */
    int prefill_chunk, context;
    /* the decode requests' sampling when `sample` (seeded per request: request i gets seed i);
     * greedy otherwise */
    int sample;
    mlcc_sampling_params sampling;
} mlcc_bench_options;

typedef struct mlcc_bench_decode {
    int batch;
    double tok_s;            /* steady decode tokens/s over all b sequences */
    int steady;              /* 1 when a steady window existed; 0: tok_s is over the whole run */
    int steps;               /* steady steps counted */
    double itl_p50_ms, itl_p99_ms;
    double ttft_p50_ms;      /* of the b requests (queueing behind the other prompts included) */
    int max_decode_batch;    /* the largest decode step the engine ran */
    int64_t preemptions;
    double seconds;          /* wall time of the whole batch run */
} mlcc_bench_decode;

typedef struct mlcc_bench_result {
    double prefill_tok_s;    /* median */
    double ttft_ms;          /* median, one request alone */
    mlcc_bench_decode decode[MLCC_BENCH_MAX_BATCHES];
    int ndecode;
} mlcc_bench_result;

/* Runs the measurements on e (which must admit max(batches) requests at once and hold their
 * KV). progress, when not NULL, gets a line per phase. 0, or -1 + error (a request failed). */
int mlcc_bench_run(mlcc_engine *e, const mlcc_bench_options *o, mlcc_bench_result *out, void (*progress)(const char *line));

/* The tokens a decode request of batch b generates beyond gen_len (see above): one per prefill
 * step the b prompts take, within the context window. */
int64_t mlcc_bench_staggered_tokens(const mlcc_bench_options *o, int b);

/* The q-quantile (0..1) of v[n] by linear interpolation; sorts v. 0 when n == 0. */
double mlcc_bench_quantile(double *v, int n, double q);

#endif
