/* model.h - a compiled, weight-loaded model ready to run on the CPU: the pieces a model runner
 * (engine) needs, with no KV cache yet (full-sequence prefill recomputed per step).
 *
 *     mlcc_model_options opt = {.max_seq = 256};
 *     mlcc_model *m = mlcc_model_open("path/to/hf-folder-or.gguf", &opt);
 *     MLCCNDArray *logits;                          // [n, vocab] float32
 *     mlcc_model_prefill(m, ids, n, &logits);
 *     ... mlcc_ndarray_release(logits);
 *     mlcc_model_free(m);
 *
 * A Hugging Face folder (config.json + *.safetensors) or a GGUF file (llama architecture) is
 * accepted. Weights are float32 on the CPU (F16/BF16 upcast, Q8_0/Q4_0 dequantized). The graph
 * is compiled once through the JIT cache (MLCC_HOME/cache), so a second open is fast. */
#ifndef MLCC_MODELS_MODEL_H
#define MLCC_MODELS_MODEL_H

#include <stdint.h>

#include "mlcc/mlcc_runtime.h"
#include "models/arch.h"
#include "models/decoder.h"
#include "runtime/vm.h"

typedef struct mlcc_model_options {
    int64_t max_seq; /* longest sequence prefill accepts (0: 512, capped by the model's) */
} mlcc_model_options;

typedef struct mlcc_model {
    char *path;
    mlcc_model_config cfg;
    decoder_spec spec;
    int64_t max_seq;
    model_param_list params;
    MLCCNDArray **weights; /* one per params entry, in the function's parameter order */
    MLCCVM *vm;
} mlcc_model;

/* Opens path (folder or .gguf), builds and compiles the graph, loads the weights. NULL +
 * error naming the file and the field or tensor on failure. */
mlcc_model *mlcc_model_open(const char *path, const mlcc_model_options *opt);
void mlcc_model_free(mlcc_model *m);

/* Logits after each of the n tokens ([n, vocab] float32; the caller releases). */
int mlcc_model_prefill(mlcc_model *m, const int32_t *ids, int64_t n, MLCCNDArray **logits);
/* Logits after the tokens at positions[b] only ([b, vocab]). */
int mlcc_model_prefill_at(mlcc_model *m, const int32_t *ids, int64_t n, const int32_t *positions, int64_t b,
                          MLCCNDArray **logits);
/* The logits after the last of the n tokens, into logits[vocab]. */
int mlcc_model_last_logits(mlcc_model *m, const int32_t *ids, int64_t n, float *logits);
/* Greedy continuation: steps tokens, recomputing the whole prefix each step. out[steps]. */
int mlcc_model_greedy(mlcc_model *m, const int32_t *prompt, int64_t n, int steps, int32_t *out);

/* A contiguous KV cache of one sequence for forward_kv: K and V of every layer, rope applied,
 * [layers, len, kv_heads, head_dim]. (The paged KV cache of DESIGN.md §3.3 replaces it once
 * it is in main.) */
typedef struct mlcc_model_kv {
    MLCCNDArray *k, *v;
    int64_t len;
} mlcc_model_kv;

void mlcc_model_kv_init(const mlcc_model *m, mlcc_model_kv *kv); /* empty */
void mlcc_model_kv_free(mlcc_model_kv *kv);
/* Drops the last n tokens. */
int mlcc_model_kv_pop(const mlcc_model *m, mlcc_model_kv *kv, int64_t n);
/* Runs n new tokens after the cached ones, extends the cache and writes the logits after the
 * last token into logits[vocab]. On failure the cache is unchanged. */
int mlcc_model_forward(mlcc_model *m, mlcc_model_kv *kv, const int32_t *ids, int64_t n, float *logits);

/* Loads the weights of m->params from a safetensors folder/file or a GGUF file. */
int model_load_weights(mlcc_model *m, const char *path, int is_gguf);

#endif
