/* test_tokenizer_errors.c - malformed tokenizer.json files give a clear error that names the
 * file and the field (never a crash), bad input text is refused, and the small components
 * behave as documented on hand-checked cases. */
#include <stdlib.h>
#include <string.h>

#include "support/error.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

static void expect_error(const char *json, const char *needle) {
    mlcc_tokenizer *tok = mlcc_tokenizer_from_json(json, strlen(json), "bad.json");
    CHECK_MSG(tok == NULL, "accepted: %s", json);
    const char *err = mlcc_last_error();
    CHECK_MSG(strstr(err, "bad.json") && strstr(err, needle), "error '%s' lacks '%s'", err, needle);
    mlcc_tokenizer_free(tok);
}

#define BPE_OK                                                                                     \
    "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}"

static void test_malformed(void) {
    expect_error("{\"model\": ", "bad.json:1:"); /* truncated JSON: line/column */
    expect_error("[1, 2]", "JSON object");
    expect_error("{\"normalizer\": null}", "missing object 'model'");
    expect_error("{\"model\":{\"type\":\"Magic\"}}", "unsupported model type 'Magic'");
    expect_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"x\"},\"merges\":[]}}",
                 "vocab entry 'a'");
    expect_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a q\"]}}",
                 "merges[0]");
    expect_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a\"]}}",
                 "merges[0]");
    expect_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a a\"]}}",
                 "merged token 'aa'");
    expect_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":{}}}",
                 "'merges' must be an array");
    expect_error(
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],\"unk_token\":\"<unk>\"}}",
        "unk_token '<unk>'");
    expect_error("{" BPE_OK ",\"normalizer\":{\"type\":\"Sparkle\"}}",
                 "unsupported normalizer type 'Sparkle'");
    expect_error("{" BPE_OK ",\"normalizer\":{\"no_type\":1}}", "normalizer: field 'type'");
    expect_error("{" BPE_OK ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(a\"},"
                            "\"behavior\":\"Isolated\"}}",
                 "pre_tokenizer: pattern: regex /(a/");
    expect_error("{" BPE_OK ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"a\"},"
                            "\"behavior\":\"Sideways\"}}",
                 "unknown split behavior 'Sideways'");
    expect_error("{" BPE_OK ",\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{"
                            "\"type\":\"Metaspace\",\"replacement\":\"ab\"}]}}",
                 "pretokenizers[0]: field 'replacement' must be one character");
    expect_error("{" BPE_OK ",\"added_tokens\":[{\"content\":\"x\"}]}", "added_tokens[0]");
    expect_error("{" BPE_OK
                 ",\"post_processor\":{\"type\":\"TemplateProcessing\",\"single\":[{"
                 "\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}}],\"special_tokens\":{}}}",
                 "special token '<s>'");
    expect_error("{" BPE_OK ",\"decoder\":{\"type\":\"Strip\",\"content\":\" \"}}", "Strip needs");
    expect_error("{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\"]]}}", "vocab[0]");
    expect_error("{" BPE_OK ",\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":\"!!\"}}",
                 "not valid base64");
    expect_error("{" BPE_OK ",\"normalizer\":{\"type\":\"Precompiled\",\"precompiled_charsmap\":[9,0,0,0,1]}}",
                 "precompiled_charsmap is malformed");
    expect_error("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", "unk_token '[UNK]'");
    /* files */
    CHECK(mlcc_tokenizer_load("/nonexistent/tokenizer.json") == NULL &&
          strstr(mlcc_last_error(), "/nonexistent/tokenizer.json"));
    CHECK(mlcc_tokenizer_load("/tmp") == NULL ||
          1); /* a directory without tokenizer.json: an error, not a crash */
}

static char *encode_str(mlcc_tokenizer *tok, const char *text, int special) {
    int32_t *ids;
    size_t n;
    if (mlcc_tokenizer_encode(tok, text, strlen(text), special, &ids, &n)) return NULL;
    static char buf[1024];
    size_t at = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && at < sizeof buf - 16; i++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, i ? " %d" : "%d", ids[i]);
    free(ids);
    return buf;
}

static void test_components(void) {
    /* WordPiece + BERT: lowercase, accents stripped, Chinese characters split, [CLS] ... [SEP] */
    const char *bert = "{\"normalizer\":{\"type\":\"BertNormalizer\",\"lowercase\":true},\"pre_"
                       "tokenizer\":{\"type\":\"BertPreTokenizer\"},"
                       "\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",2],"
                       "\"cls\":[\"[CLS]\",1]},"
                       "\"decoder\":{\"type\":\"WordPiece\"},"
                       "\"model\":{\"type\":\"WordPiece\",\"unk_token\":\"[UNK]\",\"vocab\":{\"["
                       "UNK]\":0,\"[CLS]\":1,\"[SEP]\":2,"
                       "\"un\":3,\"##aff\":4,\"##able\":5,\"cafe\":6,\".\":7,\"\\u4e2d\":8}}}";
    mlcc_tokenizer *tok = mlcc_tokenizer_from_json(bert, strlen(bert), "bert");
    CHECK_MSG(tok != NULL, "%s", mlcc_last_error());
    if (tok) {
        CHECK_EQ_STR(encode_str(tok, "Unaffable CAF\xC3\x89. \xE4\xB8\xADx", 1),
                     "1 3 4 5 6 7 8 0 2");
        int32_t ids[] = {3, 4, 5, 6, 7};
        char *d = mlcc_tokenizer_decode(tok, ids, 5, 0, NULL);
        CHECK_EQ_STR(d, "unaffable cafe.");
        free(d);
        mlcc_tokenizer_free(tok);
    }
    /* invalid UTF-8 input is refused */
    const char *mini = "{" BPE_OK "}";
    tok = mlcc_tokenizer_from_json(mini, strlen(mini), "mini");
    CHECK(tok != NULL);
    if (tok) {
        int32_t *ids;
        size_t n;
        CHECK(mlcc_tokenizer_encode(tok, "a\xC3", 2, 0, &ids, &n) == -1 &&
              strstr(mlcc_last_error(), "UTF-8"));
        CHECK_EQ_STR(encode_str(tok, "abab", 0), "2 2");
        CHECK_EQ_INT(mlcc_tokenizer_vocab_size(tok), 3);
        CHECK_EQ_INT(mlcc_tokenizer_token_to_id(tok, "ab"), 2);
        CHECK_EQ_STR(mlcc_tokenizer_id_to_token(tok, 1), "b");
        mlcc_tokenizer_free(tok);
    }
}

int main(void) {
    test_malformed();
    test_components();
    return test_finish();
}
