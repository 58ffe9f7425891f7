/* tokenizer.h - Hugging Face tokenizers (tokenizer.json) and GGUF vocabularies for the engine.
 *
 * A tokenizer is loaded once and then shared: encode and decode may run concurrently on one
 * tokenizer from many threads (the pre-token cache is guarded by a mutex; everything else is
 * read-only after loading). A streaming detokenizer (mlcc_detok) belongs to one request and one
 * thread. Every function that can fail returns -1 or NULL with mlcc_set_error(). */
#ifndef MLCC_TOKENIZER_TOKENIZER_H
#define MLCC_TOKENIZER_TOKENIZER_H
#include <stddef.h>
#include <stdint.h>

#include "support/strbuf.h"

typedef struct mlcc_tokenizer mlcc_tokenizer;

/* PATH is a tokenizer.json, a model directory holding one, or a .gguf file. */
mlcc_tokenizer *mlcc_tokenizer_load(const char *path);
/* Builds a tokenizer from tokenizer.json text; `what` names it in error messages. */
mlcc_tokenizer *mlcc_tokenizer_from_json(const char *json, size_t len, const char *what);
void mlcc_tokenizer_free(mlcc_tokenizer *tok);

/* Encodes UTF-8 text (invalid UTF-8 is an error) as tokenizers' encode(text, add_special_tokens)
 * does for a single sequence, including the "truncation" and "padding" of tokenizer.json
 * (BatchLongest padding has no batch here, so only pad_to_multiple_of applies). *ids is
 * malloc'ed (free() it). */
int mlcc_tokenizer_encode(mlcc_tokenizer *tok, const char *text, size_t len, int add_special_tokens,
                          int32_t **ids, size_t *n);
/* Decodes ids to a malloc'ed NUL-terminated UTF-8 string (length in *len when non-NULL);
 * ids outside the vocabulary are skipped, as Hugging Face tokenizers does. */
char *mlcc_tokenizer_decode(mlcc_tokenizer *tok, const int32_t *ids, size_t n, int skip_special,
                            size_t *len);

size_t mlcc_tokenizer_vocab_size(const mlcc_tokenizer *tok);
/* The token text of id (as the vocabulary spells it), or NULL. */
const char *mlcc_tokenizer_id_to_token(const mlcc_tokenizer *tok, int32_t id);
/* The id of a token text, or -1. */
int32_t mlcc_tokenizer_token_to_id(const mlcc_tokenizer *tok, const char *token);
int mlcc_tokenizer_is_special(const mlcc_tokenizer *tok, int32_t id);
/* BOS / EOS ids when known (GGUF metadata, tokenizer_config.json beside tokenizer.json), else -1.
 */
int32_t mlcc_tokenizer_bos_id(const mlcc_tokenizer *tok);
int32_t mlcc_tokenizer_eos_id(const mlcc_tokenizer *tok);

/* Streaming detokenizer: push ids one at a time; only complete UTF-8 is appended to `out`, and
 * the text equals what mlcc_tokenizer_decode gives for the ids pushed so far. */
typedef struct mlcc_detok mlcc_detok;
mlcc_detok *mlcc_detok_new(mlcc_tokenizer *tok, int skip_special);
int mlcc_detok_push(mlcc_detok *d, int32_t id, mlcc_strbuf *out);
/* Appends whatever is held back (incomplete UTF-8 becomes U+FFFD, as decode would give it). */
int mlcc_detok_flush(mlcc_detok *d, mlcc_strbuf *out);
void mlcc_detok_free(mlcc_detok *d);

#endif
