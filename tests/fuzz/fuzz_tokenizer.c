/* fuzz_tokenizer.c - the tokenizer on arbitrary input. The first byte picks the mode:
 * even: the rest is text, encoded (with and without special tokens) by one of several small
 * tokenizers built from JSON strings (byte-level BPE with a Split regex, SentencePiece-style BPE
 * with byte fallback, Unigram with Metaspace, WordPiece with the BERT normalizer), then decoded
 * at once and through the streaming detokenizer; odd: the rest is a tokenizer.json to load,
 * and if it loads, a fixed text is encoded and decoded with it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "support/strbuf.h"
#include "tokenizer/tokenizer.h"

static const char *TOKENIZERS[] = {
    /* byte-level BPE, a Split regex, added tokens with lstrip/rstrip/single_word */
    "{\"added_tokens\":[{\"id\":9,\"content\":\"<|s|>\",\"special\":true,\"lstrip\":false,"
    "\"rstrip\":false,"
    "\"normalized\":false,\"single_word\":false},{\"id\":10,\"content\":\"ab\",\"special\":false,"
    "\"lstrip\":true,"
    "\"rstrip\":true,\"normalized\":true,\"single_word\":true}],"
    "\"normalizer\":{\"type\":\"NFC\"},"
    "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\",\"pattern\":{"
    "\"Regex\":"
    "\"\\\\p{N}{1,3}| ?\\\\p{L}+|\\\\s+(?!\\\\S)|\\\\s+| "
    "?[^\\\\s\\\\p{L}\\\\p{N}]+\"},\"behavior\":\"Isolated\","
    "\"invert\":false},{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]},"
    "\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"<|"
    "s|>\",\"type_id\":0}},"
    "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{\"<|s|>\":{\"id\":\"<|s|>\","
    "\"ids\":[9],\"tokens\":[\"<|s|>\"]}}},"
    "\"decoder\":{\"type\":\"ByteLevel\"},"
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"\\u0120\":3,\"ab\":4,"
    "\"\\u0120a\":5,\"abc\":6,\"1\":7,\"\\u0120ab\":8},"
    "\"merges\":[\"a b\",\"\\u0120 a\",\"ab c\",\"\\u0120a b\"]}}",
    /* SentencePiece-style BPE with byte fallback */
    "{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":"
    "\"\\u2581\"},"
    "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\\u2581\"}]},"
    "\"decoder\":{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{"
    "\"String\":\"\\u2581\"},\"content\":\" \"},"
    "{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},{\"type\":\"Strip\",\"content\":\" "
    "\",\"start\":1,\"stop\":0}]},"
    "\"model\":{\"type\":\"BPE\",\"unk_token\":\"<unk>\",\"fuse_unk\":true,\"byte_fallback\":true,"
    "\"vocab\":{\"<unk>\":0,"
    "\"<0x41>\":1,\"<0xC3>\":2,\"<0xA9>\":3,\"\\u2581\":4,\"a\":5,\"\\u2581a\":6},\"merges\":[["
    "\"\\u2581\",\"a\"]]}}",
    /* Unigram with Metaspace (prepend first) and a Precompiled-free normalizer chain */
    "{\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFKC\"},{\"type\":"
    "\"Lowercase\"},{\"type\":\"Strip\"}]},"
    "\"pre_tokenizer\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":"
    "\"first\",\"split\":true},"
    "\"decoder\":{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"first\","
    "\"split\":true},"
    "\"model\":{\"type\":\"Unigram\",\"unk_id\":0,\"byte_fallback\":false,\"vocab\":[[\"<unk>\",0],"
    "[\"\\u2581\",-2],"
    "[\"a\",-3],[\"b\",-3],[\"ab\",-4],[\"\\u2581ab\",-4.5],[\"c\",-5]]}}",
    /* WordPiece with the BERT normalizer and pre-tokenizer */
    "{\"normalizer\":{\"type\":\"BertNormalizer\",\"clean_text\":true,\"handle_chinese_chars\":"
    "true,\"strip_accents\":null,"
    "\"lowercase\":true},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},"
    "\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",2],\"cls\":[\"[CLS]\",1]},"
    "\"decoder\":{\"type\":\"WordPiece\",\"prefix\":\"##\",\"cleanup\":true},"
    "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"continuing_subword_prefix\":\"##"
    "\","
    "\"max_input_chars_per_word\":10,\"vocab\":{\"[UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,\"a\":3,\"##"
    "b\":4,\"ab\":5,\".\":6}}}",
};

static mlcc_tokenizer *cached[sizeof TOKENIZERS / sizeof TOKENIZERS[0]];

static void exercise(mlcc_tokenizer *tok, const char *text, size_t len) {
    for (int special = 0; special < 2; special++) {
        int32_t *ids;
        size_t n;
        if (mlcc_tokenizer_encode(tok, text, len, special, &ids, &n)) continue;
        size_t dl;
        char *d = mlcc_tokenizer_decode(tok, ids, n, special, &dl);
        mlcc_detok *dt = mlcc_detok_new(tok, special);
        mlcc_strbuf sb = STRBUF_INIT;
        for (size_t i = 0; i < n; i++)
            mlcc_detok_push(dt, ids[i], &sb);
        mlcc_detok_push(dt, 123456, &sb); /* an id outside the vocabulary */
        mlcc_detok_flush(dt, &sb);
        if (d && (sb.len != dl || (dl && memcmp(sb.data, d, dl))))
            abort(); /* stream == full decode */
        sb_free(&sb);
        mlcc_detok_free(dt);
        free(d);
        free(ids);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    char *rest = malloc(size);
    memcpy(rest, data + 1, size - 1);
    if (data[0] & 1) {
        mlcc_tokenizer *tok = mlcc_tokenizer_from_json(rest, size - 1, "fuzz.json");
        if (tok) {
            exercise(tok, "Hello world, \xC3\xA9t\xC3\xA9 123 <|s|> ab", 30);
            mlcc_tokenizer_free(tok);
        }
    } else {
        size_t k = (data[0] >> 1) % (sizeof TOKENIZERS / sizeof TOKENIZERS[0]);
        if (!cached[k])
            cached[k] = mlcc_tokenizer_from_json(TOKENIZERS[k], strlen(TOKENIZERS[k]), "builtin");
        if (!cached[k]) abort();
        exercise(cached[k], rest, size - 1);
    }
    free(rest);
    return 0;
}
