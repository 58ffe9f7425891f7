/* model.h - a compiled, weight-loaded model library ready to run on the CPU, with its paged KV
 * cache (DESIGN.md §3.9):
 *
 *     mlcc_model_options opt = {.max_seq = 2048};
 *     mlcc_model *m = mlcc_model_open("path/to/hf-folder-or.gguf", &opt);
 *     MLCCKVCache *kv = mlcc_model_create_kv_cache(m, 1, 2048);
 *     mlcc_kv_cache_add_sequence(kv, 0);
 *     MLCCNDArray *logits;                          // [1, vocab] float32: after the last token
 *     mlcc_model_step(m, kv, (int64_t[]){0}, (int64_t[]){n}, 1, ids, NULL, 0, &logits);
 *     ... mlcc_ndarray_release(logits);
 *     mlcc_kv_cache_release(kv); mlcc_model_free(m);
 *
 * A Hugging Face folder (config.json + *.safetensors), a GGUF file or a folder made by
 * `mlcc convert` (weight_store.h) is accepted. Weights run as stored unless options.quantization
 * (or the converted folder) names a scheme: on the CPU a checkpoint whose matrices are all F16,
 * BF16 or F32 runs as q0f16, q0bf16 or q0f32 (the kernels read the 16-bit weights and compute in
 * float32); a GGUF file of Q4_0 or Q8_0 matrices keeps its blocks; anything else (and float
 * checkpoints on a GPU) is float32. Linear and embedding weights stored in another type are
 * converted inside the kernels. The library is compiled once
 * through the JIT cache (MLCC_HOME/cache), so a second open is fast, and one library serves
 * every length up to its bounds. */
#ifndef MLCC_MODELS_MODEL_H
#define MLCC_MODELS_MODEL_H

#include <stdint.h>

#include "mlcc/mlcc_runtime.h"
#include "models/arch.h"
#include "models/decoder.h"
#include "runtime/cuda_sample_topp.h"
#include "runtime/kv_cache.h"
#include "support/strbuf.h"
#include "runtime/vm.h"

typedef struct mlcc_model_options {
    int64_t max_seq;       /* context window (0: 512, capped by the model's max positions) */
    int64_t prefill_chunk; /* most tokens of one prefill step (0: min(max_seq, 256)) */
    int64_t max_batch;     /* most sequences of one decode step (0: 1) */
    int64_t logit_rows;    /* most logit rows of one prefill step (0: max_batch); tools that
                            * want every row's logits ask for prefill_chunk */
    int page_size;         /* tokens per KV page (0: 16) */
    const char *mode;      /* "interactive", "local" or "server": bounds and KV capacity from
                            * the model and the free memory (models/plan.c); the sizes above,
                            * when set, override the mode's choices. NULL: the sizes alone */
    const char *quantization; /* weight scheme (quant/scheme.h: "q4f16_1", ...; NULL: as stored
                               * (see above), or the scheme a converted folder was made with) */
    const char *device;    /* "cpu" (NULL), "cuda" / "cuda:N" or "vulkan" / "vulkan:N": where the library runs and the
                            * weights and KV cache live; logits come back to the CPU */
    int quiet;             /* no progress lines while a large checkpoint is read (mlcc convert --quiet) */
} mlcc_model_options;

/* What a mode chose (mlcc_plan_serving). */
typedef struct mlcc_serving_plan {
    char mode[16];
    int64_t context_window, prefill_chunk, max_batch, kv_tokens;
    double kv_bytes_per_token, param_bytes, available_bytes;
    char memory[16]; /* where available_bytes was measured: "host", "cuda:0", ... */
} mlcc_serving_plan;

/* Where the weights and the KV cache will live: a GPU's free memory and the KV pages' value
 * size. NULL to mlcc_plan_serving: the host's available memory and float32 pages. */
typedef struct mlcc_plan_memory {
    double available_bytes;
    int kv_value_bytes; /* 4 (float32 pages) or 2 (float16) */
    char where[16];     /* "cuda:0", ... for the log line */
} mlcc_plan_memory;

int mlcc_plan_serving(const mlcc_model_config *cfg, const mlcc_model_options *opt, const mlcc_plan_memory *mem,
                      mlcc_serving_plan *plan);
/* One line for the start-up log. */
void mlcc_plan_describe(const mlcc_serving_plan *p, char *out, size_t size);

typedef struct mlcc_model {
    char *path;
    mlcc_model_config cfg;
    decoder_spec spec;
    decoder_bounds bounds;
    int64_t max_seq; /* = bounds.context_window */
    mlcc_serving_plan plan; /* when opened with a mode (plan.mode[0] != 0) */
    model_param_list params;
    model_fn_params fn_params[DEC_FN_COUNT];
    MLCCNDArray **weights; /* one per params entry */
    MLCCStorage *weight_arena; /* while loading on the CPU: where the weights go (weight_arena.c) */
    size_t *weight_offsets;    /* each param's place in it */
    const mlcc_quant_scheme *quant; /* the weights' scheme (q0f32 when not quantized) */
    int quiet;                      /* from the options: no progress lines while reading */
    MLCCVM *vm;
    DLDevice device;
    struct decode_graphs *graphs; /* CUDA: decode steps captured as graphs (decode_graph.c) */
} mlcc_model;

/* Opens path (folder or .gguf), builds and compiles the library, loads the weights. NULL +
 * error naming the file and the field or tensor on failure. */
mlcc_model *mlcc_model_open(const char *path, const mlcc_model_options *opt);
void mlcc_model_free(mlcc_model *m);
/* The model's IRModule as built (graph functions and PrimFuncs, before any pass), or only the
 * function `only`, printed into out; needs the config, not the weights. */
int mlcc_model_print_ir(const char *path, const mlcc_model_options *opt, const char *only, mlcc_strbuf *out);

/* The library's create_kv_cache: room for max_total_len tokens over up to max_batch
 * sequences. NULL + error on failure. */
MLCCKVCache *mlcc_model_create_kv_cache(mlcc_model *m, int64_t max_batch, int64_t max_total_len);

/* One forward step over a ragged batch: sequence seq_ids[i] (already added to kv) takes
 * lengths[i] new tokens; tokens holds them all, sequence by sequence. logits gets [rows, vocab]
 * float32: the rows `logit_rows` (indices into tokens; NULL: the last token of each sequence).
 * A step where every sequence takes one token and NULL rows runs batch_decode, others
 * batch_prefill. The step must fit the bounds (total tokens <= prefill_chunk, or sequences <=
 * max_batch for decode; rows <= logit_rows). Returns 0; MLCC_KV_OUT_OF_PAGES when the cache
 * has too few free pages (nothing changed: remove a sequence and retry); -1 + error otherwise,
 * with the sequences as they were. */
int mlcc_model_step(mlcc_model *m, MLCCKVCache *kv, const int64_t *seq_ids, const int64_t *lengths, int nseq,
                    const int32_t *tokens, const int32_t *logit_rows, int nrows, MLCCNDArray **logits);

/* mlcc_model_step for decode with greedy sampling where the logits are (CUDA): ids[nseq] the
 * arg-max of each sequence's row and logprobs[nseq] its log-softmax, computed on the device,
 * so the logits never travel to the host. -1 + error on other devices. */
int mlcc_model_step_greedy(mlcc_model *m, MLCCKVCache *kv, const int64_t *seq_ids, const int64_t *lengths, int nseq,
                           const int32_t *tokens, int32_t *ids, double *logprobs);
/* mlcc_model_step with sampling where the logits are (CUDA): rows[nseq] each sequence's
 * parameters and uniform (runtime/cuda_sample_topp.h); ids, logprobs and drew[nseq] as
 * mlcc_cuda_sample gives them. -1 + error on other devices. */
int mlcc_model_step_sample(mlcc_model *m, MLCCKVCache *kv, const int64_t *seq_ids, const int64_t *lengths, int nseq,
                           const int32_t *tokens, const mlcc_cuda_sample_row *rows, int32_t *ids, double *logprobs,
                           int *drew);

/* Logits after each of the n tokens of a fresh sequence ([n, vocab] float32; the caller
 * releases), through batch_prefill in chunks. n <= max_seq. */
int mlcc_model_prefill(mlcc_model *m, const int32_t *ids, int64_t n, MLCCNDArray **logits);
/* Greedy continuation of prompt: prefill, then steps decodes through the KV cache. out[steps]. */
int mlcc_model_greedy(mlcc_model *m, const int32_t *prompt, int64_t n, int steps, int32_t *out);

/* One sequence in a KV cache of its own, for callers that run a single sequence. */
typedef struct mlcc_model_kv {
    MLCCKVCache *cache;
    int64_t len;
} mlcc_model_kv;

/* An empty sequence with room for the model's context window. 0 or -1 + error. */
int mlcc_model_kv_init(mlcc_model *m, mlcc_model_kv *kv);
void mlcc_model_kv_free(mlcc_model_kv *kv);
/* Drops the last n tokens. */
int mlcc_model_kv_pop(mlcc_model_kv *kv, int64_t n);
/* Runs n new tokens after the cached ones (in prefill chunks), extends the cache and writes
 * the logits after the last token into logits[vocab]. On failure the cache is unchanged. */
int mlcc_model_forward(mlcc_model *m, mlcc_model_kv *kv, const int32_t *ids, int64_t n, float *logits);

/* llama.cpp's GGUF name of a Hugging Face tensor name ("blk.3.attn_q.weight" for
 * "model.layers.3.self_attn.q_proj.weight"), "" when there is none; the GGUF reader and the
 * random-model writer share it. */
void model_gguf_tensor_name(const char *hf, char *out, size_t cap);

/* Under ggml_mixed (see model_gguf_native_scheme): the scheme of matrix `name` (a Hugging Face
 * name) as GGUF file `gguf` (an open mlcc_gguf) stores it; NULL: float32. */
const mlcc_quant_scheme *model_gguf_matrix_scheme(void *gguf, const char *name);

/* Loads the weights of m->params from a safetensors folder/file or a GGUF file. */
int model_load_weights(mlcc_model *m, const char *path, int is_gguf);
/* The weight arena (weight_arena.c): begin before a loader creates m's weights (one storage for
 * them all when m runs on the CPU), model_new_weight for each (an array for param i, in the
 * arena when there is one), end when the loader is done (the weights keep the storage alive). */
void model_weight_arena_begin(mlcc_model *m);
MLCCNDArray *model_new_weight(mlcc_model *m, int i);
void model_weight_arena_end(mlcc_model *m);
/* Releases m->weights (any filled slots) and sets it to NULL. */
void model_release_weights(mlcc_model *m);

/* The scheme whose packing holds every matrix of a GGUF file exactly (all Q4_0: ggml_q4_0,
 * all Q8_0: ggml_q8_0, all F16: q0f16, all BF16: q0bf16, all F32: q0f32; all Q4_K / Q6_K:
 * ggml_q4_k / ggml_q6_k), ggml_mixed for mixed types with k-quants among them (each matrix on
 * its own type's scheme), or NULL (other mixes: then the weights are dequantized to float32). */
const mlcc_quant_scheme *model_gguf_native_scheme(const char *path);
/* The same for a safetensors file or folder: every matrix F16 (q0f16), BF16 (q0bf16) or F32
 * (q0f32); NULL when mixed or unreadable. */
const mlcc_quant_scheme *model_safetensors_native_scheme(const char *path);

/* Config, graph and weights (quantized as opt says) without compiling: what `mlcc convert`
 * writes out. NULL + error on failure. */
mlcc_model *mlcc_model_load_uncompiled(const char *path, const mlcc_model_options *opt);

#endif
