/* engine.h - the generation engine, first form (DESIGN.md §5; issue 9): one request at a time
 * on a background thread that owns the model and its KV cache.
 *
 * A request is prompt token ids + generation settings. The worker prefills the prompt in chunks
 * (reusing the KV cache of the previous request's common prefix, as a chat does turn after
 * turn), then decodes token by token: sampler -> streaming detokenizer -> stop strings ->
 * the caller's stream callback, until max_tokens, a stop string, a stop token or EOS, or a
 * cancellation. Timings give prefill and decode tokens/s.
 *
 * The model is reached through mlcc_model_runner, so the engine does not care whether it is a
 * compiled model library on the VM, or a test double. */
#ifndef MLCC_ENGINE_ENGINE_H
#define MLCC_ENGINE_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "engine/sampler.h"
#include "grammar/grammar.h"
#include "tokenizer/tokenizer.h"

typedef struct mlcc_model_runner {
    void *impl;
    int vocab_size;
    int prefill_chunk; /* most tokens one forward call takes */
    int context_window;
    /* A fresh sequence (replacing any). */
    int (*reset)(void *impl);
    /* Drops the last n tokens of the sequence. */
    int (*pop)(void *impl, int n);
    /* Appends tokens (n <= prefill_chunk) and writes the logits after the last one. */
    int (*forward)(void *impl, const int32_t *tokens, int n, float *logits);
} mlcc_model_runner;

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
    /* structured generation: only text of this grammar (NULL: none); the reply ends with
     * "stop" when the grammar is complete and allows nothing more, and EOS is allowed only
     * where the grammar may end */
    const mlcc_grammar *grammar;
} mlcc_gen_config;

mlcc_gen_config mlcc_gen_defaults(void);

typedef struct mlcc_gen_result {
    const char *finish_reason; /* "stop", "length", "cancelled", "error" */
    int prompt_tokens, reused_tokens, completion_tokens;
    double prefill_seconds, decode_seconds;
    char error[512];
} mlcc_gen_result;

/* Called on the engine's thread with each piece of text (complete UTF-8, never a partial stop
 * string). */
typedef void (*mlcc_stream_fn)(void *ctx, const char *text, size_t len);

typedef struct mlcc_engine mlcc_engine;

/* eos: the model's end-of-sequence ids (config + generation_config). The engine borrows model
 * and tokenizer for its lifetime. */
mlcc_engine *mlcc_engine_new(mlcc_model_runner *model, mlcc_tokenizer *tok, const int32_t *eos, int neos);
void mlcc_engine_free(mlcc_engine *e);
/* Runs one request to completion (blocking the caller; the work happens on the engine's
 * thread). 0 when it ran (see result->finish_reason), -1 with an error for a bad request. */
int mlcc_engine_generate(mlcc_engine *e, const int32_t *prompt, size_t nprompt, const mlcc_gen_config *cfg,
                         mlcc_stream_fn stream, void *ctx, mlcc_gen_result *result);
/* Stops the running request at the next step (any thread, signal handlers included). */
void mlcc_engine_cancel(mlcc_engine *e);
/* Forgets the kept sequence (a new conversation). */
void mlcc_engine_reset(mlcc_engine *e);

#endif
