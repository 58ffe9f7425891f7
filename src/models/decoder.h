/* decoder.h - builds the graph functions of a decoder-only transformer from its config and
 * decoder_spec. Weights are parameters of the functions, named as in the Hugging Face
 * checkpoint ("model.layers.0.self_attn.q_proj.weight"); the list of them (name, shape) is
 * what the loader binds at load time. */
#ifndef MLCC_MODELS_DECODER_H
#define MLCC_MODELS_DECODER_H

#include "ir/module.h"
#include "models/arch.h"

enum { MODEL_PARAM_MAX_NDIM = 2 };

typedef struct model_param {
    char *name; /* Hugging Face tensor name */
    int ndim;
    int64_t shape[MODEL_PARAM_MAX_NDIM];
} model_param;

typedef struct model_param_list {
    model_param *items;
    int n, cap;
} model_param_list;

void model_param_list_free(model_param_list *l);

/* Adds to mod the functions
 *     prefill(input_ids: int32[n], <weights...>) -> logits: float32[n, vocab]
 *     prefill_at(input_ids: int32[n], logit_positions: int32[b], <weights...>) -> float32[b, vocab]
 *     forward_kv(input_ids: int32[n], positions: int32[n], logit_positions: int32[b],
 *                past_k, past_v: float32[layers, m, kv_heads, head_dim], <weights...>)
 *         -> (logits float32[b, vocab], k, v: float32[layers, m + n, kv_heads, head_dim])
 * (prefill: the logits after every token; prefill_at: after the tokens at the given
 * positions; causal attention over the whole sequence; forward_kv: n new tokens after m
 * cached ones, whose K/V (rope applied) it takes and returns extended - a contiguous cache
 * until the paged one is wired in), with var_upper_bound n, b, m <= max_seq.
 * The weight parameters (the same for both, in the same order) are appended to *params. */
int decoder_build(mlcc_ir_module *mod, const mlcc_model_config *cfg, const decoder_spec *spec, int64_t max_seq,
                          model_param_list *params);

#endif
