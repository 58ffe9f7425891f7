/* test_tokenizer_refs.c - the six fixture tokenizers against Hugging Face tokenizers 0.23.2:
 * every string of strings.json must encode to exactly the reference ids (with and without
 * special tokens) and the reference ids must decode to exactly the reference text (with and
 * without skipping special tokens). Also: the streaming detokenizer gives the same text as a
 * full decode, and decode(encode(x)) == x for the lossless byte-level tokenizers. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "support/json.h"
#include "support/strbuf.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

static int ids_equal(json_t *want, const int32_t *ids, size_t n) {
    if (json_array_size(want) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (json_integer_value(json_array_get(want, i)) != ids[i]) return 0;
    return 1;
}

static int32_t *json_ids(json_t *arr, size_t *n) {
    *n = json_array_size(arr);
    int32_t *ids = malloc((*n + 1) * sizeof *ids);
    for (size_t i = 0; i < *n; i++)
        ids[i] = (int32_t)json_integer_value(json_array_get(arr, i));
    return ids;
}

static void check_tokenizer(const char *name, json_t *strings, int lossless) {
    char rel[256];
    snprintf(rel, sizeof rel, "tokenizers/%s/tokenizer.json", name);
    char *path = test_data_path(rel);
    snprintf(rel, sizeof rel, "tokenizers/%s/refs.json", name);
    char *refs_path = test_data_path(rel);
    mlcc_tokenizer *tok = mlcc_tokenizer_load(path);
    CHECK_MSG(tok != NULL, "%s: %s", name, mlcc_last_error());
    json_t *refs = mlcc_json_load_file(refs_path);
    CHECK(refs != NULL);
    if (!tok || !refs) goto out;
    json_t *cases = json_object_get(refs, "cases");
    int bad_ids = 0, bad_special = 0, bad_dec = 0, bad_skip = 0, bad_stream = 0, bad_round = 0;
    for (size_t c = 0; c < json_array_size(cases); c++) {
        json_t *cs = json_array_get(cases, c);
        json_t *s = json_array_get(strings, (size_t)json_integer_value(json_object_get(cs, "i")));
        const char *text = json_string_value(s);
        size_t len = json_string_length(s);
        int32_t *ids;
        size_t n;
        for (int special = 0; special < 2; special++) {
            if (mlcc_tokenizer_encode(tok, text, len, special, &ids, &n)) {
                bad_ids++;
                continue;
            }
            if (!ids_equal(json_object_get(cs, special ? "ids_special" : "ids"), ids, n)) {
                int *bad = special ? &bad_special : &bad_ids;
                if ((*bad)++ < 3)
                    fprintf(stderr, "%s: case %zu (special=%d) ids differ\n", name, c, special);
            }
            if (!special && lossless) {
                size_t dl;
                char *d = mlcc_tokenizer_decode(tok, ids, n, 0, &dl);
                if (!d || dl != len || memcmp(d, text, len)) bad_round++;
                free(d);
            }
            free(ids);
        }
        for (int skip = 0; skip < 2; skip++) {
            ids = json_ids(json_object_get(cs, skip ? "ids_special" : "ids"), &n);
            json_t *want = json_object_get(cs, skip ? "decoded_skip_special" : "decoded");
            size_t dl;
            char *d = mlcc_tokenizer_decode(tok, ids, n, skip, &dl);
            if (!d || dl != json_string_length(want) || memcmp(d, json_string_value(want), dl)) {
                int *bad = skip ? &bad_skip : &bad_dec;
                if ((*bad)++ < 3)
                    fprintf(stderr, "%s: case %zu (skip=%d) decoded text differs\n", name, c, skip);
            }
            /* streaming: same text, pushed one id at a time */
            mlcc_detok *dt = mlcc_detok_new(tok, skip);
            mlcc_strbuf sb = STRBUF_INIT;
            for (size_t k = 0; k < n; k++)
                mlcc_detok_push(dt, ids[k], &sb);
            mlcc_detok_flush(dt, &sb);
            if (d && (sb.len != dl || (dl && memcmp(sb.data, d, dl)))) {
                if (bad_stream++ < 3)
                    fprintf(stderr, "%s: case %zu (skip=%d) streaming text differs\n", name, c,
                            skip);
            }
            sb_free(&sb);
            mlcc_detok_free(dt);
            free(d);
            free(ids);
        }
    }
    printf(
        "%s: %zu cases; mismatches: ids %d, ids_special %d, decoded %d, decoded_skip_special %d, "
        "streaming %d, round trip %d\n",
        name, json_array_size(cases), bad_ids, bad_special, bad_dec, bad_skip, bad_stream,
        bad_round);
    CHECK_EQ_INT(bad_ids, 0);
    CHECK_EQ_INT(bad_special, 0);
    CHECK_EQ_INT(bad_dec, 0);
    CHECK_EQ_INT(bad_skip, 0);
    CHECK_EQ_INT(bad_stream, 0);
    CHECK_EQ_INT(bad_round, 0);
out:
    json_decref(refs);
    mlcc_tokenizer_free(tok);
    free(path);
    free(refs_path);
}

int main(void) {
    char *sp = test_data_path("tokenizers/strings.json");
    json_t *strings = mlcc_json_load_file(sp);
    CHECK(strings != NULL);
    free(sp);
    if (!strings) return test_finish();
    /* lossless: byte-level BPE without a normalizer that changes text */
    check_tokenizer("llama3_1", strings, 1);
    check_tokenizer("qwen3", strings, 0); /* NFC */
    check_tokenizer("deepseek_v3", strings, 1);
    check_tokenizer("gptoss", strings, 1);
    check_tokenizer("gemma3", strings, 0);
    check_tokenizer("llama2", strings, 0);
    json_decref(strings);
    return test_finish();
}
