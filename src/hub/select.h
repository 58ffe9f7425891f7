/* select.h - which files of a repo a model needs: config.json, the tokenizer files, the chat
 * template and generation config when present, and the safetensors weights (one file, or an
 * index and the shards its weight_map names). Nothing else (no .bin, .pt, ONNX, images...). */
#ifndef MLCC_HUB_SELECT_H
#define MLCC_HUB_SELECT_H

#include <stddef.h>

#include "support/vec.h"

typedef MLCC_VEC(char *) mlcc_hub_names;

/* Appends the needed names from the repo's file list, weights (the index, or
 * model.safetensors) last. -1 with an error naming what is missing. */
int mlcc_hub_select_files(const char *repo, char *const *files, size_t count, mlcc_hub_names *out);
/* Appends the distinct shards named by a model.safetensors.index.json, checking each is a safe
 * path the repo has. */
int mlcc_hub_index_shards(const char *index_path, char *const *files, size_t count,
                          mlcc_hub_names *out);
void mlcc_hub_names_free(mlcc_hub_names *v);

#endif
