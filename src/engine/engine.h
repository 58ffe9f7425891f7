/* engine.h - the generation engine (DESIGN.md §5; issues 9 and 11): a background thread owns
 * the model and its paged KV cache and serves many requests at once.
 *
 * A request is prompt token ids + generation settings + an event callback. The worker runs a
 * step loop over all live requests (continuous batching):
 *   - new requests are admitted while there is room (max_batch sequences); a request starts
 *     from the longest prefix of its prompt that an earlier request left in the KV cache (prefix
 *     caching: the finished sequence is forked, its pages shared) and prefills the rest in
 *     chunks, several requests packed into one ragged batch_prefill step;
 *   - every request that has its next token waiting is decoded in one batch_decode step;
 *     prefill and decode steps alternate, so a long prompt does not stall the others;
 *   - each row of logits goes through the request's own sampler -> streaming detokenizer ->
 *     stop strings -> the request's callback, until max_tokens, a stop string, a stop token or
 *     EOS, the context window, or an abort;
 *   - when the KV cache runs out of pages, cached prefixes are dropped first, then the newest
 *     running request is preempted: its sequence is freed and it waits to be recomputed from
 *     its prompt and the tokens it already produced (its output stream just pauses).
 * A cancelled or failed request's pages go back to the pool at once.
 *
 * The model is reached through mlcc_model_runner, so the engine does not care whether it is a
 * compiled model library on the VM (models/runner.h) or a test double. */
#ifndef MLCC_ENGINE_ENGINE_H
#define MLCC_ENGINE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/sampler.h"
#include "grammar/grammar.h"
#include "tokenizer/tokenizer.h"

/* One row of a step_sample: the request's parameters, the next value of its generator (not
 * taken yet: mlcc_sampler_peek_uniform) and the distinct ids its penalties look at with their
 * occurrences in the output (mlcc_penalty_counts). */
typedef struct mlcc_sample_request {
    const mlcc_sampling_params *params;
    double uniform;
    const int32_t *pen_ids, *pen_counts;
    int npen;
} mlcc_sample_request;

/* A model with a paged KV cache of sequences named by ids. Every function returns 0 or -1 +
 * error; step may also return MLCC_ENGINE_OUT_OF_PAGES. */
typedef struct mlcc_model_runner {
    void *impl;
    int vocab_size;
    int prefill_chunk;  /* most tokens of one step */
    int context_window; /* most tokens of one sequence */
    int max_batch;      /* most sequences of one step */
    int (*add)(void *impl, int64_t seq);
    int (*remove)(void *impl, int64_t seq);
    /* child gets the first pos tokens of parent (pages shared). */
    int (*fork)(void *impl, int64_t parent, int64_t child, int64_t pos);
    /* Drops the last n tokens of seq. */
    int (*pop)(void *impl, int64_t seq, int64_t n);
    /* Sequence seqs[i] takes lens[i] new tokens (tokens holds them in order); logits gets
     * nseq rows of vocab_size floats, the logits after each sequence's last new token. */
    int (*step)(void *impl, const int64_t *seqs, const int64_t *lens, int nseq, const int32_t *tokens, float *logits);
    /* Pages free / in all (for accounting and tests). */
    int64_t (*free_pages)(void *impl);
    int64_t (*total_pages)(void *impl);
    /* Optional (NULL: not offered): step with greedy sampling where the logits are computed,
     * ids[nseq] the arg-max of each row and logprobs[nseq] its log-softmax (a GPU model: 8 bytes
     * per sequence come back instead of the rows). The engine uses it for steps whose requests
     * all sample greedily with no logits processor. */
    int (*step_greedy)(void *impl, const int64_t *seqs, const int64_t *lens, int nseq, const int32_t *tokens, int32_t *ids,
                       double *logprobs);
    /* Optional (NULL: not offered): step with sampling where the logits are computed: ids[i]
     * the token mlcc_sample would pick from row i with rows[i]'s parameters, penalties and
     * uniform, logprobs[i] its log-softmax, drew[i] 1 when the uniform was used (the caller then
     * takes it from the request's generator). The engine uses it for steps whose requests have
     * no grammar and report no top_logprobs. */
    int (*step_sample)(void *impl, const int64_t *seqs, const int64_t *lens, int nseq, const int32_t *tokens,
                       const mlcc_sample_request *rows, int32_t *ids, double *logprobs, int *drew);
} mlcc_model_runner;


/* step's answer when the KV cache has too few free pages (nothing was changed); equal to
 * runtime/kv_cache.h's MLCC_KV_OUT_OF_PAGES. */
#define MLCC_ENGINE_OUT_OF_PAGES (-2)

typedef struct mlcc_gen_config {
    mlcc_sampling_params sampling;
    uint64_t seed;
    int has_seed;
    int max_tokens;          /* <= 0: up to the context window */
    const char *const *stop; /* stop strings */
    int nstop;
    const int32_t *stop_ids; /* extra stop token ids */
    int nstop_ids;
    int ignore_eos;
    int top_logprobs;        /* alternatives to report per token (0..20); logprobs are always given */
    /* structured generation: only text of this grammar (NULL: none); the reply ends with
     * "stop" when the grammar is complete and allows nothing more, and EOS is allowed only
     * where the grammar may end. Borrowed: it must outlive the request. */
    const mlcc_grammar *grammar;
} mlcc_gen_config;

mlcc_gen_config mlcc_gen_defaults(void);

typedef struct mlcc_gen_result {
    const char *finish_reason; /* "stop", "length", "cancelled", "error" */
    int prompt_tokens, reused_tokens, completion_tokens;
    int preemptions;
    double queue_seconds;      /* submit -> first scheduled */
    double prefill_seconds;    /* first scheduled -> first token (time to first token - queue) */
    double decode_seconds;     /* first token -> finish */
    char error[512];
} mlcc_gen_result;

enum { MLCC_MAX_TOP_LOGPROBS = 20 };

/* What a request's callback receives, on the engine's thread: a token (with the text it
 * completes, which may be empty while a UTF-8 character or a possible stop string is held
 * back), or the end (finish_reason set, the final text flushed, result filled). Pointers are
 * valid during the call only. */
typedef struct mlcc_engine_event {
    int64_t request_id;
    const char *text;
    size_t len;
    int32_t token;     /* -1 in the final event when it carries no token */
    double logprob;    /* of token under the model's distribution */
    int ntop;
    int32_t top_ids[MLCC_MAX_TOP_LOGPROBS];
    double top_logprobs[MLCC_MAX_TOP_LOGPROBS];
    const char *finish_reason; /* NULL until the last event */
    const mlcc_gen_result *result; /* in the last event */
} mlcc_engine_event;

typedef void (*mlcc_event_fn)(void *ctx, const mlcc_engine_event *ev);

typedef struct mlcc_engine mlcc_engine;

/* eos: the model's end-of-sequence ids (config + generation_config). The engine borrows model
 * and tokenizer for its lifetime. */
mlcc_engine *mlcc_engine_new(mlcc_model_runner *model, mlcc_tokenizer *tok, const int32_t *eos, int neos);
/* Aborts what is still running (their last events say "cancelled") and stops the worker. */
void mlcc_engine_free(mlcc_engine *e);

/* Queues a request; returns its id (> 0), or -1 + error for a bad request (nothing queued).
 * The prompt, the config and the strings and arrays it points to are copied. Events arrive
 * on the engine's thread; the last one has finish_reason set. */
int64_t mlcc_engine_submit(mlcc_engine *e, const int32_t *prompt, size_t nprompt, const mlcc_gen_config *cfg,
                           mlcc_event_fn on_event, void *ctx);
/* Holds the worker before its next step (on = 1) until released (on = 0), so requests
 * submitted in between start together, as one batch (benchmarks measure a batch of b this
 * way). While held nothing runs (aborts wait too), except that freeing the engine proceeds. */
void mlcc_engine_hold(mlcc_engine *e, int on);

/* Stops a request at the next step (its last event says "cancelled"); unknown or finished
 * ids are ignored. Any thread. */
void mlcc_engine_abort(mlcc_engine *e, int64_t request_id);

/* Called with each piece of text (complete UTF-8, never a partial stop string). */
typedef void (*mlcc_stream_fn)(void *ctx, const char *text, size_t len);
/* Runs one request to completion, blocking the caller (the work happens on the engine's
 * thread, batched with whatever else runs). 0 when it ran (see result->finish_reason), -1
 * with an error for a bad request. */
int mlcc_engine_generate(mlcc_engine *e, const int32_t *prompt, size_t nprompt, const mlcc_gen_config *cfg,
                         mlcc_stream_fn stream, void *ctx, mlcc_gen_result *result);
/* Stops every request running now at the next step (any thread, signal handlers included). */
void mlcc_engine_cancel(mlcc_engine *e);
/* Forgets the cached prefixes (their pages go back to the pool). */
void mlcc_engine_reset(mlcc_engine *e);

/* Counters for /stats, metrics and tests (a consistent snapshot). */
typedef struct mlcc_engine_stats {
    int waiting, running, cached_prefixes;
    int64_t free_pages, total_pages;
    int64_t prefill_steps, decode_steps, preemptions, finished;
    int64_t prompt_tokens, reused_tokens, generated_tokens;
    int max_decode_batch; /* largest batch_decode step so far */
} mlcc_engine_stats;

void mlcc_engine_get_stats(mlcc_engine *e, mlcc_engine_stats *out);

#endif
