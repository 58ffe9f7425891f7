/* decoder.h - builds the graph functions of a decoder-only transformer from its config and
 * decoder_spec. Weights are parameters of the functions, named as in the Hugging Face
 * checkpoint ("model.layers.0.self_attn.q_proj.weight"); the list of them (name, shape) is
 * what the loader binds at load time. */
#ifndef MLCC_MODELS_DECODER_H
#define MLCC_MODELS_DECODER_H

#include "ir/module.h"
#include "models/arch.h"
#include "quant/scheme.h"

enum { MODEL_PARAM_MAX_NDIM = 2 };

/* How a parameter holds its checkpoint tensor: as is (float32, or float16 under q0f16), or as
 * the packed words / the group scales of a quantized weight (quant/scheme.h). */
typedef enum { PARAM_PLAIN, PARAM_Q_WEIGHT, PARAM_Q_SCALE } model_param_role;

typedef struct model_param {
    char *name; /* Hugging Face tensor name; quantized: "<prefix>.q_weight" / "<prefix>.q_scale" */
    int ndim;
    int64_t shape[MODEL_PARAM_MAX_NDIM];
    mlcc_dtype dtype;       /* what the library takes */
    model_param_role role;
    char *source;           /* the checkpoint tensor it is made from (Hugging Face name) */
    int64_t source_shape[MODEL_PARAM_MAX_NDIM];
    int partner;            /* a q_weight's q_scale and the reverse (indices); -1 otherwise */
    const struct mlcc_quant_scheme *quant; /* a quantized pair's scheme (its matrix's, under ggml_mixed) */
    int combined;           /* rows of separate checkpoint tensors (q/k/v, gate/up) concatenated at load:
                             * source names the combined tensor, fuse_proj.h its parts */
} model_param;

typedef struct model_param_list {
    model_param *items;
    int n, cap;
    const struct mlcc_quant_scheme *quant; /* how linear and embedding weights are stored
                                            * (NULL: float32); set before decoder_build */
    /* ggml_mixed: the scheme of each matrix (Hugging Face name), as its GGUF tensor stores it */
    const struct mlcc_quant_scheme *(*matrix_scheme)(void *ctx, const char *name);
    void *matrix_ctx;
    int combine; /* separate q/k/v (gate/up) matrices of one scheme run as one combined matrix
                  * (fuse_proj.h); set before decoder_build */
} model_param_list;
void model_param_list_free(model_param_list *l);

/* The weights one graph function takes, in its parameter order: indices into the model's list. */
typedef struct model_fn_params {
    int *index;
    int n, cap;
} model_fn_params;

typedef enum { DEC_FN_EMBED, DEC_FN_PREFILL, DEC_FN_BATCH_DECODE, DEC_FN_DECODE, DEC_FN_COUNT } decoder_fn;
extern const char *const decoder_fn_names[DEC_FN_COUNT];

/* What one library serves (DESIGN.md §3.9): every step up to these sizes. */
typedef struct decoder_bounds {
    int64_t context_window; /* tokens of one sequence */
    int64_t prefill_chunk;  /* tokens of one batch_prefill step */
    int64_t max_batch;      /* sequences of one batch_decode step */
    int64_t logit_rows;     /* rows of logits one batch_prefill step may return (>= max_batch) */
    int page_size;          /* tokens per KV page */
    int kv_f16;             /* KV pages in float16 (a CUDA model whose weights allow float16 math) */
} decoder_bounds;

/* Adds to mod the functions of the model library contract (DESIGN.md §3.9):
 *     embed(input_ids: int32[n], <weights>) -> float32[n, hidden]
 *     batch_prefill(embeds: float32[1, n, hidden], logit_positions: int32[b], kv_cache, <weights>)
 *         -> float32[1, b, vocab]: the step's n tokens (of the sequences the caller began a
 *         forward for in the KV cache) and the logits of rows logit_positions
 *     batch_decode(embeds: float32[b, 1, hidden], kv_cache, <weights>) -> float32[b, 1, vocab]
 *     decode(embeds: float32[1, 1, hidden], kv_cache, <weights>) -> float32[1, 1, vocab]: one
 *         sequence, a call of batch_decode (the same kernels); only when the weights fit one
 *         VM call (2 + weights <= MLCC_MAX_ARGS): fns[DEC_FN_DECODE] is empty otherwise
 *     create_kv_cache(shape [max_batch, max_total_len, prefill_chunk, page_size, sliding_window])
 *         -> the paged KV cache (runtime/kv_cache.h) with this model's generated attention
 *         kernels kv_append, attn_prefill, attn_decode (also in mod)
 * Attention goes through the builtin
 * mlcc.kv_cache.attention; rope is applied in the graph (positions from the cache), so every
 * rope variant works with the same kernels. Weights every function takes are added to *params
 * on first use; fns[k] lists function k's weights in parameter order. */
int decoder_build(mlcc_ir_module *mod, const mlcc_model_config *cfg, const decoder_spec *spec, const decoder_bounds *bounds,
                  model_param_list *params, model_fn_params fns[DEC_FN_COUNT]);
void model_fn_params_free(model_fn_params *f);

#endif
