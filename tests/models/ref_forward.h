/* ref_forward.h - a plain float64 forward pass of the decoder-only transformers mlcc supports,
 * written for the tests only, from the Hugging Face transformers modeling files (llama,
 * mistral, qwen2, qwen3, phi3, gemma, gemma2). It shares no code with src/models: it is the
 * independent reference the compiled models are checked against.
 *
 *     ref_config c = {.arch = REF_LLAMA, .hidden = 48, ...};
 *     ref_weights w = {0};
 *     ref_params(&c, add_param, &w);        // the checkpoint's tensor names and shapes
 *     ... ref_weights_add(&w, name, values, count) for each ...
 *     double *logits = malloc(n * vocab * sizeof(double));
 *     ref_forward(&c, &w, ids, n, logits);  // causal, positions 0..n-1, every row
 *
 * The config is what the architecture's PretrainedConfig holds after its defaults and
 * derivations (head_dim, per-layer windows, rope scaling) are resolved: turning a config.json
 * into it is the test's business, so that the reader of src/models is checked too. */
#ifndef MLCC_TESTS_REF_FORWARD_H
#define MLCC_TESTS_REF_FORWARD_H

#include <stddef.h>
#include <stdint.h>

enum { REF_MAX_LAYERS = 8 };

typedef enum { REF_LLAMA, REF_MISTRAL, REF_QWEN2, REF_QWEN3, REF_PHI3, REF_GEMMA, REF_GEMMA2 } ref_arch;

typedef enum { REF_ROPE_DEFAULT, REF_ROPE_LINEAR, REF_ROPE_LLAMA3 } ref_rope;

typedef enum { REF_SILU, REF_GELU_TANH, REF_GELU } ref_act;

typedef struct ref_config {
    ref_arch arch;
    int hidden, layers, heads, kv_heads, head_dim, intermediate, vocab;
    double rms_eps;
    double rope_theta;
    ref_rope rope;
    double rope_factor;                     /* linear, llama3 */
    double low_freq_factor, high_freq_factor; /* llama3 */
    int rope_original_max;                  /* llama3: original_max_position_embeddings */
    int tie_embeddings;
    int attention_bias;                     /* llama, qwen3, gemma, gemma2: q/k/v/o biases */
    int mlp_bias;                           /* llama: gate/up/down biases */
    ref_act act;
    int window[REF_MAX_LAYERS];             /* per layer: sliding window (0: full attention) */
    double attn_softcap, final_softcap;     /* gemma2 (0: off) */
    double query_pre_attn_scalar;           /* gemma2 */
} ref_config;

/* Weights by Hugging Face tensor name, as float64 (the caller keeps ownership of nothing: the
 * map copies). */
typedef struct ref_tensor {
    char *name;
    double *data;
    size_t count;
} ref_tensor;

typedef struct ref_weights {
    ref_tensor *items;
    int n, cap;
} ref_weights;

/* What a tensor is: a projection [out, in], a bias, a norm weight used as it is (Llama) or as
 * 1 + weight (Gemma), the embedding table. */
typedef enum { REF_PARAM_MATRIX, REF_PARAM_BIAS, REF_PARAM_NORM, REF_PARAM_NORM_OFFSET, REF_PARAM_EMBEDDING } ref_param_kind;

/* Calls fn once per tensor of the checkpoint of c: name, shape (rows, cols; cols 0 for a
 * vector) and what it is (so a generator can pick a sensible scale). */
typedef void (*ref_param_fn)(void *ctx, const char *name, int rows, int cols, ref_param_kind kind);
void ref_params(const ref_config *c, ref_param_fn fn, void *ctx);

void ref_weights_add(ref_weights *w, const char *name, const double *data, size_t count);
void ref_weights_free(ref_weights *w);

/* logits[n * vocab]: the logits after each of the n tokens. Aborts on a missing or
 * wrongly-sized weight (a bug in the test, not in the code under test). */
void ref_forward(const ref_config *c, const ref_weights *w, const int32_t *ids, int n, double *logits);

#endif
