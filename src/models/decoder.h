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
 * (prefill: the logits after every token; prefill_at: after the tokens at the given
 * positions; causal attention over the whole sequence), with var_upper_bound n, b <= max_seq.
 * The weight parameters (the same for both, in the same order) are appended to *params. */
int decoder_build(mlcc_ir_module *mod, const mlcc_model_config *cfg, const decoder_spec *spec, int64_t max_seq,
                          model_param_list *params);

#endif
