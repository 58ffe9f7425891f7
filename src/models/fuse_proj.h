/* fuse_proj.h - parallel projections combined at load: a checkpoint's separate q/k/v (gate/up)
 * matrices of one layer run as one matrix self_attn.qkv_proj (mlp.gate_up_proj), their rows
 * concatenated, as MLC LLM defines its models (see fuse_proj.c for the design). */
#ifndef MLCC_MODELS_FUSE_PROJ_H
#define MLCC_MODELS_FUSE_PROJ_H

#include <stdint.h>

#include "models/model.h"

enum { FUSE_PROJ_MAX_PARTS = 3 };

/* Whether combining is on: unless MLCC_FUSE_PROJ=0. */
int fuse_proj_enabled(void);

/* One separate tensor of a combined one: its name (the combined name with the fused segment
 * replaced: "model.layers.3.self_attn.k_proj.q_scale") and its rows (output features). */
typedef struct fuse_part {
    char name[256];
    int64_t rows;
} fuse_part;

/* The parts of the combined tensor or parameter `name` (a name holding ".self_attn.qkv_proj."
 * or ".mlp.gate_up_proj.") in row order, with their rows from cfg: their count, 0 for a name
 * that is no combined one. */
int fuse_proj_parts(const mlcc_model_config *cfg, const char *name, fuse_part parts[FUSE_PROJ_MAX_PARTS]);

/* The reverse: for a part's name (holding ".self_attn.k_proj." ...) the combined name into
 * whole[cap], the part's first row in it and the combined rows; 0 for a name of no part. */
int fuse_proj_whole(const mlcc_model_config *cfg, const char *name, char *whole, size_t cap, int64_t *row, int64_t *rows);

/* Loads one parameter (and its quantized partner) of a model: index i of part->params. */
typedef int (*fuse_proj_load_fn)(mlcc_model *part, int i, void *ctx);

/* Fills combined parameter i of m (params.items[i].combined; a quantized pair: both halves)
 * part by part: each part is loaded as the only parameter of a scratch model by load_one (so
 * every loader's conversions, repacking and GGUF row permutations apply to it unchanged) and
 * its rows copied into place; the extra memory is one part. */
int fuse_proj_load(mlcc_model *m, int i, fuse_proj_load_fn load_one, void *ctx);

/* Whether parameter p reads checkpoint tensor `tensor`: its source, or for a combined
 * parameter one of its parts' sources. */
int fuse_proj_param_reads(const mlcc_model_config *cfg, const model_param *p, const char *tensor);

#endif
