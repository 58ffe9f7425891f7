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

/* The next token. logits (vocab floats) are modified in place. prompt/output are the tokens
 * so far (for penalties; may be NULL). *logprob (may be NULL) receives the chosen token's log
 * probability under the model's unprocessed distribution. */
int32_t mlcc_sample(mlcc_sampler *s, float *logits, int vocab, const mlcc_sampling_params *p,
                    const int32_t *prompt, size_t nprompt, const int32_t *output, size_t noutput,
                    double *logprob);

/* log softmax of logits at index id, computed stably in double. */
double mlcc_log_softmax_at(const float *logits, int vocab, int32_t id);

#endif
