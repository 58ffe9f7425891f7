/* fuzz_grammar.c - the grammar front ends on arbitrary input. The first byte picks the mode:
 * 0: the rest is GBNF; 1: a regex; 2: a JSON Schema (compact, strict); 3: a JSON Schema
 * (flexible whitespace, non-strict, with caps). Whatever compiles is then driven by a matcher
 * over a small byte vocabulary: masks, tokens accepted from them, rollback, jump-forward. Bad
 * input must give an error, never a crash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"

static mlcc_grammar_vocab *vocab(void) {
    static mlcc_grammar_vocab *v;
    if (!v) {
        static const char *toks[] = {NULL, "{", "}", "\"", "a", "ab", "\"a\"", ":", ",", "[", "]", "1", "12", "-", ".",
                                     "true", "null", " ", "\n", "x", "\xC3\xA9", "\xC3", "\xA9", "0", "e", "\\", "\\n"};
        int32_t stop = 0;
        v = mlcc_grammar_vocab_from_bytes(toks, NULL, (int)(sizeof toks / sizeof toks[0]), &stop, 1);
    }
    return v;
}

static void drive(mlcc_grammar *g, const uint8_t *data, size_t size) {
    mlcc_grammar_vocab *v = vocab();
    mlcc_grammar_matcher *m = mlcc_grammar_matcher_new(g, v);
    uint32_t mask[2];
    int n = mlcc_grammar_vocab_size(v);
    for (size_t step = 0; step < 24 && !mlcc_grammar_is_terminated(m); step++) {
        mlcc_grammar_fill_next_token_bitmask(m, mask);
        int32_t pick = -1, seen = 0;
        unsigned r = step < size ? data[step] : (unsigned)step;
        for (int32_t i = 0; i < n; i++)
            if ((mask[i >> 5] >> (i & 31)) & 1)
                if (seen++ == (int32_t)(r % 7) || pick < 0) pick = i;
        if (pick < 0) break;
        if (mlcc_grammar_accept_token(m, pick) != 0) abort(); /* a masked token must be accepted */
        if (r % 5 == 0) mlcc_grammar_rollback(m, 1);
    }
    size_t len;
    free(mlcc_grammar_find_jump_forward(m, &len));
    mlcc_grammar_matcher_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int mode = data[0] % 4;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    mlcc_grammar *g = NULL;
    if (mode == 0)
        g = mlcc_grammar_from_ebnf(text, len, "fuzz.gbnf");
    else if (mode == 1)
        g = mlcc_grammar_from_regex(text, len);
    else {
        mlcc_grammar_options opt = mlcc_grammar_default_options();
        if (mode == 3) {
            opt.flexible_whitespace = 1;
            opt.strict_properties = 0;
            opt.max_string_chars = 8;
            opt.max_number_digits = 4;
        }
        g = mlcc_grammar_from_json_schema(text, len, &opt);
    }
    if (g) {
        char *d = mlcc_grammar_dump(g);
        free(d);
        drive(g, data, size);
        mlcc_grammar_free(g);
    }
    return 0;
}
