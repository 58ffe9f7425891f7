/* test_grammar_mask.c - token masks with real vocabularies (Llama-3's 128k byte-level BPE,
 * Llama-2's SentencePiece with byte fallback): along random walks through several grammars,
 * at random positions the mask (adaptive cache + trie walk) must equal a brute-force check of
 * every token through accept_token; the token bytes of six real vocabularies agree with the
 * tokenizers' own decoding;
 * rollback restores earlier masks exactly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "support/error.h"
#include "support/file.h"
#include "test.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int brute_equal(mlcc_grammar_matcher *m, const mlcc_grammar_vocab *v, const uint32_t *mask, const char *what, int step) {
    int n = mlcc_grammar_vocab_size(v), bad = 0;
    for (int32_t i = 0; i < n; i++) {
        int in_mask = (mask[i >> 5] >> (i & 31)) & 1;
        int ok = mlcc_grammar_accept_token(m, i) == 0;
        if (ok) mlcc_grammar_rollback(m, 1);
        if (ok != in_mask && bad++ < 5) {
            size_t len;
            const uint8_t *b = mlcc_grammar_vocab_token(v, i, &len);
            fprintf(stderr, "%s step %d: token %d '%.*s': mask %d, accept %d\n", what, step, i, (int)len, b ? (const char *)b : "", in_mask, ok);
        }
    }
    return bad == 0;
}

/* A random walk: masks at every step, brute force at some, rollback checks. */
static void walk(mlcc_grammar *g, const mlcc_grammar_vocab *v, const char *what, int steps, int brute_every) {
    mlcc_grammar_matcher *m = mlcc_grammar_matcher_new(g, (mlcc_grammar_vocab *)v);
    size_t words = mlcc_grammar_mask_words(v);
    uint32_t *mask = calloc(words, sizeof(uint32_t)), *again = calloc(words, sizeof(uint32_t));
    int32_t *allowed = malloc(sizeof(int32_t) * (size_t)mlcc_grammar_vocab_size(v));
    int checked = 0;
    for (int step = 0; step < steps && !mlcc_grammar_is_terminated(m); step++) {
        mlcc_grammar_fill_next_token_bitmask(m, mask);
        if (step % brute_every == 0) {
            CHECK_MSG(brute_equal(m, v, mask, what, step), "%s: mask differs from brute force at step %d", what, step);
            checked++;
        }
        int n = 0;
        for (int32_t i = 0; i < mlcc_grammar_vocab_size(v); i++)
            if ((mask[i >> 5] >> (i & 31)) & 1) allowed[n++] = i;
        CHECK_MSG(n > 0, "%s: empty mask at step %d", what, step);
        if (!n) break;
        /* prefer non-stop tokens so walks go somewhere */
        int32_t t = allowed[rnd() % (uint64_t)n];
        size_t tlen;
        for (int tries = 0; tries < 4 && n > 1 && !mlcc_grammar_vocab_token(v, t, &tlen); tries++) t = allowed[rnd() % (uint64_t)n];
        CHECK_MSG(mlcc_grammar_accept_token(m, t) == 0, "%s: allowed token %d rejected: %s", what, t, mlcc_last_error());
        if (step % 7 == 3 && mlcc_grammar_history_len(m) >= 2) {
            /* roll back two steps and forward again: masks must match */
            CHECK(mlcc_grammar_rollback(m, 1) == 0);
            mlcc_grammar_fill_next_token_bitmask(m, again);
            CHECK_MSG(memcmp(again, mask, words * sizeof(uint32_t)) == 0, "%s: mask after rollback differs", what);
            CHECK(mlcc_grammar_accept_token(m, t) == 0);
        }
    }
    CHECK_MSG(checked > 0, "%s: no brute-force check ran", what);
    free(mask);
    free(again);
    free(allowed);
    mlcc_grammar_matcher_free(m);
}

static char *read_schema(const char *name, size_t *len) {
    char rel[256];
    snprintf(rel, sizeof rel, "json-schema/schemas/%s", name);
    char *path = test_data_path(rel);
    char *text = mlcc_read_file(path, len);
    free(path);
    return text;
}

/* Token bytes against the tokenizer's own decode() of the token alone, for tokens whose
 * decoding is valid UTF-8 (a lone byte of a multi-byte character decodes to U+FFFD). decode()
 * drops the leading space of a SentencePiece text; that difference alone is allowed there. */
static void check_vocab_bytes(mlcc_tokenizer *tok, const mlcc_grammar_vocab *v, const char *what, int spm) {
    int n = mlcc_grammar_vocab_size(v), bad = 0, compared = 0;
    for (int32_t i = 0; i < n; i += 3) {
        size_t len, dlen;
        const uint8_t *b = mlcc_grammar_vocab_token(v, i, &len);
        if (!b) continue;
        char *d = mlcc_tokenizer_decode(tok, &i, 1, 0, &dlen);
        if (d && !strstr(d, "\xEF\xBF\xBD")) {
            compared++;
            int same = dlen == len && !memcmp(d, b, len);
            if (!same && spm) same = len == dlen + 1 && b[0] == ' ' && !memcmp(d, b + 1, dlen);
            if (!same && bad++ < 3) fprintf(stderr, "%s: token %d bytes '%.*s', decode '%s'\n", what, i, (int)len, b, d);
        }
        free(d);
    }
    CHECK_MSG(bad == 0 && compared > 1000, "%s: %d of %d token byte strings differ from decode()", what, bad, compared);
}

static void check_all_vocabularies(void) {
    static const char *const names[][2] = {{"llama3_1", ""}, {"qwen3", ""}, {"deepseek_v3", ""}, {"gptoss", ""},
                                           {"llama2", "spm"}, {"gemma3", "spm"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "tokenizers/%s/tokenizer.json", names[i][0]);
        char *path = test_data_path(rel);
        mlcc_tokenizer *tok = mlcc_tokenizer_load(path);
        free(path);
        CHECK_MSG(tok != NULL, "%s: %s", rel, mlcc_last_error());
        if (!tok) continue;
        mlcc_grammar_vocab *v = mlcc_grammar_vocab_new(tok, 0, NULL, 0);
        check_vocab_bytes(tok, v, rel, names[i][1][0] != 0);
        mlcc_grammar_vocab_free(v);
        mlcc_tokenizer_free(tok);
    }
}

static void check_tokenizer(const char *rel, int steps, int brute_every) {
    char *path = test_data_path(rel);
    mlcc_tokenizer *tok = mlcc_tokenizer_load(path);
    CHECK_MSG(tok != NULL, "%s: %s", rel, mlcc_last_error());
    free(path);
    if (!tok) return;
    mlcc_grammar_vocab *v = mlcc_grammar_vocab_new(tok, 0, NULL, 0);
    CHECK(v != NULL);
    static const char *const schemas[] = {"036-required-no-extra.json", "045-ref-recursive-tree.json", "051-format-date-time.json",
                                          "048-pattern.json", "018-glaiveai2k-create-invoice-878b1147.json", "037-additional-schema.json"};
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
        size_t len;
        char *text = read_schema(schemas[i], &len);
        if (!text) continue;
        for (int flexible = 0; flexible < 2; flexible++) {
            mlcc_grammar_options opt = mlcc_grammar_default_options();
            opt.flexible_whitespace = flexible;
            opt.max_string_chars = 12;
            opt.max_number_digits = 6;
            mlcc_grammar *g = mlcc_grammar_from_json_schema(text, len, &opt);
            CHECK_MSG(g != NULL, "%s: %s", schemas[i], mlcc_last_error());
            char what[256];
            snprintf(what, sizeof what, "%s %s %s", rel, schemas[i], flexible ? "flexible" : "compact");
            if (g) walk(g, v, what, steps, brute_every);
            mlcc_grammar_free(g);
        }
        free(text);
    }
    const char *gbnf = "root ::= \"<\" name (\" \" name \"=\\\"\" [^\"<]* \"\\\"\")* \">\" [^<]{0,20} \"</\" name \">\"\nname ::= [a-z]+\n";
    mlcc_grammar *g = mlcc_grammar_from_ebnf(gbnf, strlen(gbnf), "xmlish.gbnf");
    CHECK(g != NULL);
    if (g) walk(g, v, "xmlish.gbnf", steps, brute_every);
    mlcc_grammar_free(g);
    /* bounded repetition far longer than any token: the cache shares one entry for the chain
     * positions beyond the longest token (matcher.c), which must not change any mask */
    const char *longrep = "root ::= \"\\\"\" [a-z0-9 ,.]{0,600} \"\\\"\" [ ]{3,300} \"!\"\n";
    g = mlcc_grammar_from_ebnf(longrep, strlen(longrep), "longrep.gbnf");
    CHECK_MSG(g != NULL, "%s", mlcc_last_error());
    if (g) walk(g, v, "longrep.gbnf", steps * 2, brute_every);
    mlcc_grammar_free(g);
    mlcc_grammar_vocab_free(v);
    mlcc_tokenizer_free(tok);
}

int main(void) {
    check_all_vocabularies();
    check_tokenizer("tokenizers/llama3_1/tokenizer.json", 30, 6);
    check_tokenizer("tokenizers/llama2/tokenizer.json", 30, 5);
    return test_finish();
}
