/* synthetic_vocab.c - the byte-level vocabulary of synthetic_vocab.h. */
#include "models/synthetic_vocab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "support/alloc.h"
#include "support/strbuf.h"

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the others map to
 * U+0100 onwards in byte order. */
static uint32_t byte_codepoint(int b) {
    int n = 0;
    for (int c = 0; c < 256; c++) {
        int printable = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255);
        if (c == b) return printable ? (uint32_t)c : (uint32_t)(256 + n);
        if (!printable) n++;
    }
    return 0;
}

char *synthetic_vocab_token(int64_t id) {
    char buf[32];
    if (id < 256) {
        uint32_t cp = byte_codepoint((int)id);
        if (cp < 0x80) buf[0] = (char)cp, buf[1] = 0;
        else buf[0] = (char)(0xC0 | (cp >> 6)), buf[1] = (char)(0x80 | (cp & 0x3F)), buf[2] = 0;
    } else {
        snprintf(buf, sizeof buf, "<t%lld>", (long long)id);
    }
    return mlcc_xstrdup(buf);
}

char *synthetic_vocab_tokenizer_json(int64_t vocab) {
    json_t *v = json_object();
    for (int64_t id = 0; id < vocab; id++) {
        char *t = synthetic_vocab_token(id);
        json_object_set_new(v, t, json_integer(id));
        free(t);
    }
    json_t *byte_level = json_pack("{s:s,s:b,s:b,s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1, "use_regex", 1);
    json_t *root = json_pack("{s:s,s:n,s:n,s:[],s:n,s:O,s:n,s:O,s:{s:s,s:n,s:n,s:n,s:n,s:b,s:b,s:b,s:o,s:[]}}", "version", "1.0",
                             "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer", byte_level,
                             "post_processor", "decoder", byte_level, "model", "type", "BPE", "dropout", "unk_token",
                             "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", 0, "byte_fallback", 0,
                             "ignore_merges", 0, "vocab", v, "merges");
    json_decref(byte_level);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    return text;
}

mlcc_tokenizer *synthetic_vocab_tokenizer(int64_t vocab) {
    char *json = synthetic_vocab_tokenizer_json(vocab);
    mlcc_tokenizer *tok = mlcc_tokenizer_from_json(json, strlen(json), "synthetic byte-level vocabulary");
    free(json);
    return tok;
}
