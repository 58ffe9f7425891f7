/* config.h - the model configuration mlcc compiles from: read from a Hugging Face config.json
 * (both the classic `rope_theta` / `rope_scaling` form and the newer `rope_parameters` form) or
 * from GGUF metadata, and the rotary frequency table it implies. */
#ifndef MLCC_MODELS_CONFIG_H
#define MLCC_MODELS_CONFIG_H

#include <jansson.h>
#include <stdint.h>

#include "loader/gguf.h"

enum { MODEL_MAX_LAYERS = 1024, MODEL_MAX_EOS = 8 };

typedef enum { ROPE_DEFAULT, ROPE_LINEAR, ROPE_LLAMA3 } rope_type;

typedef enum { ACT_SILU, ACT_GELU_TANH, ACT_GELU } activation;

typedef struct mlcc_model_config {
    char model_type[32];
    int64_t hidden, layers, heads, kv_heads, head_dim, intermediate, vocab, max_positions;
    double rms_eps;
    /* rotary embedding */
    double rope_theta;
    rope_type rope;
    double rope_factor, low_freq_factor, high_freq_factor;
    int64_t rope_original_max;
    double *rope_freq_factors; /* GGUF rope_freqs.weight: inv_freq[k] /= factor[k]; or NULL */
    int tie_embeddings;
    int attention_bias;       /* q/k/v (and o for llama's attention_bias) carry biases */
    activation act;
    int64_t sliding_window;   /* 0: none */
    int64_t *layer_window;    /* per layer: the window of that layer (0: global) */
    double attn_softcap, final_softcap; /* 0: none */
    double query_pre_attn_scalar;        /* 0: head_dim */
    int64_t bos_id, eos_id;              /* -1 when unknown; eos_id: the first of eos_ids */
    int32_t eos_ids[MODEL_MAX_EOS];      /* config.json (+ generation_config.json) / GGUF */
    int n_eos;
    int awq_group_size;                  /* an AutoAWQ checkpoint's group size (quant/awq.h); 0: not AWQ */
} mlcc_model_config;

/* Reads `file` (a config.json). Fields every architecture needs are read here; the
 * architecture's configure hook (models/arch.h) reads the rest. Errors name the file and the
 * field. */
int model_config_from_json(json_t *j, const char *file, mlcc_model_config *cfg);
/* The configuration of a GGUF file (general.architecture llama, qwen2, qwen3, phi3; model_type
 * becomes that name). */
int model_config_from_gguf(const mlcc_gguf *g, mlcc_model_config *cfg);
void model_config_free(mlcc_model_config *cfg);

/* Adds the eos_token_id of j (an integer or an array of them) to cfg->eos_ids, skipping
 * duplicates (generation_config.json extends config.json's list). */
void model_config_add_eos(json_t *j, mlcc_model_config *cfg);

/* inv_freq[head_dim / 2] of the rotary embedding, scaling applied (float64). */
void model_rope_inv_freq(const mlcc_model_config *cfg, double *inv_freq);

/* Field readers shared with the architecture hooks: -1 + "FILE: field 'KEY' ..." when absent
 * (required ones) or of the wrong type; optional ones keep *out when absent or null. */
int cfg_int(json_t *j, const char *file, const char *key, int64_t *out);
int cfg_int_opt(json_t *j, const char *file, const char *key, int64_t *out);
int cfg_float_opt(json_t *j, const char *file, const char *key, double *out);
int cfg_bool_opt(json_t *j, const char *file, const char *key, int *out);

#endif
