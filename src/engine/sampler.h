/* sampler.h - picks the next token from a row of logits (DESIGN.md §5, engine).
 *
 * The processing order follows Hugging Face transformers' generate(): logit_bias, repetition
 * penalty (over prompt and output tokens), presence/frequency penalties (OpenAI's definition,
 * over output tokens), then either greedy argmax (temperature 0) or temperature, top_k, top_p,
 * min_p and a draw from the remaining distribution. Draws use the sampler's own generator
 * (xoshiro256**), seeded per request, so a seeded request is reproducible. */
#ifndef MLCC_ENGINE_SAMPLER_H
#define MLCC_ENGINE_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

typedef struct mlcc_sampling_params {
    float temperature;        /* 0: greedy */
    float top_p;              /* 1: off */
    int top_k;                /* 0: off */
    float min_p;              /* 0: off */
    float repetition_penalty; /* 1: off; > 1 discourages repeats (HF semantics) */
    float presence_penalty;   /* 0: off */
    float frequency_penalty;  /* 0: off */
    const int32_t *bias_ids;  /* logit_bias: added to the logits of these ids */
    const float *bias_values;
    int nbias;
} mlcc_sampling_params;

/* The defaults of a plain request: temperature 1, no filters, no penalties. */
mlcc_sampling_params mlcc_sampling_defaults(void);
/* An error message for out-of-range parameters (NULL when valid); names the field. */
const char *mlcc_sampling_params_check(const mlcc_sampling_params *p, int vocab_size);

typedef struct mlcc_sampler mlcc_sampler;

mlcc_sampler *mlcc_sampler_new(uint64_t seed);
void mlcc_sampler_free(mlcc_sampler *s);
void mlcc_sampler_reseed(mlcc_sampler *s, uint64_t seed);
/* A uniform double in [0, 1) from the sampler's stream. */
double mlcc_sampler_uniform(mlcc_sampler *s);
/* The value the next mlcc_sampler_uniform will return, without taking it (a GPU sampler is
 * given it; the caller takes it when the draw happened). */
double mlcc_sampler_peek_uniform(const mlcc_sampler *s);

/* The tokens mlcc_sample's penalties look at, as distinct ids with their occurrences in the
 * output: every id of prompt and output when p's repetition penalty is on, else the output's
 * (ids outside [0, vocab) skipped; nothing when no penalty is on). ids and counts need room for
 * nprompt + noutput entries; returns how many were written. */
size_t mlcc_penalty_counts(const mlcc_sampling_params *p, int vocab, const int32_t *prompt, size_t nprompt,
                           const int32_t *output, size_t noutput, int32_t *ids, int32_t *counts);

/* The next token. logits (vocab floats) are modified in place. prompt/output are the tokens
 * so far (for penalties; may be NULL). *logprob (may be NULL) receives the chosen token's log
 * probability under the model's unprocessed distribution. */
int32_t mlcc_sample(mlcc_sampler *s, float *logits, int vocab, const mlcc_sampling_params *p,
                    const int32_t *prompt, size_t nprompt, const int32_t *output, size_t noutput,
                    double *logprob);

/* mlcc_sample with the draw's uniform given (the generator is not used: s is scratch space);
 * *drew = 1 when the draw happened (temperature > 0, top_k != 1, some logit > -inf). For tests
 * and for checking a sampler on another device. */
int32_t mlcc_sample_with_uniform(mlcc_sampler *s, float *logits, int vocab, const mlcc_sampling_params *p,
                                 const int32_t *prompt, size_t nprompt, const int32_t *output, size_t noutput,
                                 double uniform, int *drew, double *logprob);

/* log softmax of logits at index id, computed stably in double. */
double mlcc_log_softmax_at(const float *logits, int vocab, int32_t id);

#endif
