/* synthetic_vocab.h - a byte-level vocabulary of any size, for models that come without a
 * tokenizer (random-weight models, bare checkpoints): ids 0..255 are the 256 bytes spelled as
 * GPT-2's byte-level alphabet spells them, and every further id is the text "<tN>", so each id
 * decodes to something printable and the engine's streaming detokenizer works on any id. */
#ifndef MLCC_MODELS_SYNTHETIC_VOCAB_H
#define MLCC_MODELS_SYNTHETIC_VOCAB_H

#include <stdint.h>

#include "tokenizer/tokenizer.h"

/* The token text of id (malloc'ed, UTF-8). */
char *synthetic_vocab_token(int64_t id);
/* tokenizer.json text of a byte-level BPE over `vocab` tokens (no merges). malloc'ed. */
char *synthetic_vocab_tokenizer_json(int64_t vocab);
/* That tokenizer, loaded. NULL + error on failure. */
mlcc_tokenizer *synthetic_vocab_tokenizer(int64_t vocab);

#endif
