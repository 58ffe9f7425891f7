/* gguf_vocab.c - a tokenizer from the vocabulary stored in a GGUF file (stub for now). */
#include "support/error.h"
#include "tokenizer/tok_internal.h"

mlcc_tokenizer *tok_load_gguf(const char *path) {
    mlcc_set_error("%s: GGUF vocabularies are not supported yet", path);
    return NULL;
}
