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

/* Adds to mod the function
 *     prefill(input_ids: int32[n], <weights...>) -> logits: float32[n, vocab]
 * (every row: the logits after each token; causal attention over the whole sequence), with
 * var_upper_bound n <= max_seq. The weight parameters are appended to *params in the order
 * the function takes them. */
int decoder_build_prefill(mlcc_ir_module *mod, const mlcc_model_config *cfg, const decoder_spec *spec, int64_t max_seq,
                          model_param_list *params);

#endif
