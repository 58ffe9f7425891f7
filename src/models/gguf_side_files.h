/* gguf_side_files.h - what a model converted from a GGUF file needs beside its weights, built
 * from the file's metadata, so the converted folder runs with no GGUF beside it:
 *   config.json             Hugging Face form of the configuration mlcc read from the GGUF
 *                           (architecture, sizes, rope theta / scaling, norm eps, vocabulary
 *                           size, tied embeddings, bos / eos ids)
 *   generation_config.json  bos / eos ids
 *   tokenizer.json, tokenizer_config.json   the GGUF vocabulary and chat template
 *                           (tokenizer/gguf_export.h) */
#ifndef MLCC_MODELS_GGUF_SIDE_FILES_H
#define MLCC_MODELS_GGUF_SIDE_FILES_H

#include <jansson.h>

#include "models/arch.h"

/* config.json for cfg / spec as read from a GGUF file (model_config_from_gguf): reading it back
 * with model_config_from_json and the architecture's configure hook gives the same
 * configuration. A rope_freqs.weight tensor (llama.cpp's Llama-3.1 rope) is kept exactly as
 * "rope_freq_factors" (an mlcc field), and also written as rope_scaling "llama3" when its
 * values are that formula's for usual parameters, for other tools. */
json_t *gguf_hf_config(const mlcc_model_config *cfg, const decoder_spec *spec);

/* Writes the files above for GGUF file `gguf` (configuration cfg / spec) into dir. 0 or -1 +
 * error naming the file. */
int gguf_side_files_write(const char *gguf, const mlcc_model_config *cfg, const decoder_spec *spec, const char *dir);

#endif
