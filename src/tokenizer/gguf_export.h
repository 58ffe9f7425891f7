/* gguf_export.h - the vocabulary a GGUF file carries, written as Hugging Face files
 * (tokenizer.json + tokenizer_config.json), so a model converted from GGUF needs no GGUF beside
 * it and other tools (transformers, tokenizers) read its tokenizer too. */
#ifndef MLCC_TOKENIZER_GGUF_EXPORT_H
#define MLCC_TOKENIZER_GGUF_EXPORT_H

#include <jansson.h>

/* The tokenizer that tok_load_gguf builds from GGUF file `path`, as tokenizer.json
 * (*tokenizer_json) and tokenizer_config.json (*tokenizer_config: bos/eos tokens, add_bos_token,
 * the chat template, the added tokens). 0; 1 when the file has no vocabulary
 * (tokenizer.ggml.model); -1 + error naming the file and the metadata key. */
int tok_gguf_export(const char *path, json_t **tokenizer_json, json_t **tokenizer_config);
/* The same for an open file. */
struct mlcc_gguf;
int tok_gguf_export_open(const struct mlcc_gguf *g, json_t **tokenizer_json, json_t **tokenizer_config);

#endif
