/* conversation.h - from a conversation to prompt token ids, as transformers does it: the
 * model's chat template (a model folder's chat_template.jinja / tokenizer_config.json, or a
 * GGUF file's tokenizer.chat_template) renders the messages, and the text is tokenized WITHOUT
 * adding special tokens, since the template writes BOS itself. */
#ifndef MLCC_ENGINE_CONVERSATION_H
#define MLCC_ENGINE_CONVERSATION_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "template/template.h"
#include "tokenizer/tokenizer.h"

/* Loads the chat template of a model folder or GGUF file; a model that ships none gets the
 * built-in `fallback` (NULL: an error). Special tokens come from tokenizer_config.json, or for
 * GGUF from the vocabulary's BOS/EOS. */
int mlcc_conversation_template(const char *model_path, mlcc_tokenizer *tok, const char *fallback,
                               mlcc_chat_template *out);
/* Renders messages (a JSON array of {role, content}) and tokenizes the prompt. *ids is
 * malloc'ed. -1 with the template's or tokenizer's error (raise_exception's message intact). */
int mlcc_conversation_prompt_ids(const mlcc_chat_template *ct, mlcc_tokenizer *tok, json_t *messages,
                                 int add_generation_prompt, int32_t **ids, size_t *n);

#endif
