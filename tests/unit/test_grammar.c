/* test_grammar.c - the GBNF parser (accepted forms, errors with line:col), the byte-level
 * automaton (sentences accepted or rejected byte by byte, recursion, UTF-8 classes), token
 * masks against a brute-force check of every token, rollback and jump-forward. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "support/error.h"
#include "test.h"

static mlcc_grammar_vocab *small_vocab(void) {
    /* id 0 is the stop token (special); the others are byte strings */
    static const char *toks[] = {NULL, "a", "b", "ab", "ba", "aab", "(", ")", "()", "((", "))", "x", "1", "12", "123",
                                 "-", ",", "[", "]", "\"", "\"a", "a\"", "\xC3\xA9", "\xC3", "\xA9", " ", "  ", "true",
                                 "tr", "ue", "{", "}", ":", "null", "\"b\"", "\":", "0", "7", "e", "."};
    int32_t stop = 0;
    return mlcc_grammar_vocab_from_bytes(toks, NULL, (int)(sizeof toks / sizeof toks[0]), &stop, 1);
}

static int matches(const char *gbnf, const char *text) {
    mlcc_grammar *g = mlcc_grammar_from_ebnf(gbnf, strlen(gbnf), "t.gbnf");
    if (!g) {
        fprintf(stderr, "grammar error: %s\n", mlcc_last_error());
        return -1;
    }
    mlcc_grammar_vocab *v = small_vocab();
    mlcc_grammar_matcher *m = mlcc_grammar_matcher_new(g, v);
    int ok = mlcc_grammar_accept_bytes(m, text, strlen(text)) == 0 && mlcc_grammar_can_terminate(m);
    mlcc_grammar_matcher_free(m);
    mlcc_grammar_vocab_free(v);
    mlcc_grammar_free(g);
    return ok;
}

static void expect_error(const char *gbnf, const char *needle) {
    mlcc_grammar *g = mlcc_grammar_from_ebnf(gbnf, strlen(gbnf), "t.gbnf");
    CHECK_MSG(g == NULL, "grammar %s should fail", gbnf);
    if (g) {
        mlcc_grammar_free(g);
        return;
    }
    CHECK_MSG(strstr(mlcc_last_error(), needle) != NULL, "error '%s' lacks '%s'", mlcc_last_error(), needle);
}

static void test_parse_and_match(void) {
    CHECK_EQ_INT(matches("root ::= \"ab\" | \"c\"", "ab"), 1);
    CHECK_EQ_INT(matches("root ::= \"ab\" | \"c\"", "c"), 1);
    CHECK_EQ_INT(matches("root ::= \"ab\" | \"c\"", "a"), 0);
    CHECK_EQ_INT(matches("root ::= \"ab\" | \"c\"", "abc"), 0);
    CHECK_EQ_INT(matches("root ::= [a-c]+ \"!\"", "abcab!"), 1);
    CHECK_EQ_INT(matches("root ::= [a-c]+ \"!\"", "!"), 0);
    CHECK_EQ_INT(matches("root ::= [^a]*", "bcd\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"), 1);
    CHECK_EQ_INT(matches("root ::= [^a]*", "bab"), 0);
    /* invalid UTF-8 is no character */
    CHECK_EQ_INT(matches("root ::= [^a]*", "\xC3"), 0);
    CHECK_EQ_INT(matches("root ::= [^a]*", "\xED\xA0\x80"), 0); /* a surrogate */
    CHECK_EQ_INT(matches("root ::= [\\u00e0-\\u00ff]", "\xC3\xA9"), 1);
    CHECK_EQ_INT(matches("root ::= [\\u00e0-\\u00ff]", "\xC3\x9F"), 0);
    CHECK_EQ_INT(matches("root ::= .", "\xF0\x9F\x98\x80"), 1);
    CHECK_EQ_INT(matches("root ::= \"x\"{2,3}", "x"), 0);
    CHECK_EQ_INT(matches("root ::= \"x\"{2,3}", "xx"), 1);
    CHECK_EQ_INT(matches("root ::= \"x\"{2,3}", "xxx"), 1);
    CHECK_EQ_INT(matches("root ::= \"x\"{2,3}", "xxxx"), 0);
    CHECK_EQ_INT(matches("root ::= \"x\"{2,}", "xxxxxxx"), 1);
    CHECK_EQ_INT(matches("root ::= (\"a\" | \"b\")? \"c\"", "c"), 1);
    CHECK_EQ_INT(matches("root ::= (\"a\" | \"b\")? \"c\"", "bc"), 1);
    /* recursion: balanced parentheses, deep */
    const char *paren = "root ::= p\np ::= \"(\" p \")\" p | \"\"\n";
    CHECK_EQ_INT(matches(paren, "(()(()))()"), 1);
    CHECK_EQ_INT(matches(paren, "(()"), 0);
    char deep[4001];
    for (int i = 0; i < 2000; i++) {
        deep[i] = '(';
        deep[2000 + i] = ')';
    }
    deep[4000] = 0;
    CHECK_EQ_INT(matches(paren, deep), 1);
    /* comments, multi-line alternatives, escapes */
    const char *multi = "# a comment\nroot ::= a # trailing\n  | b\na ::= \"\\x41\\n\"\nb ::= (\n  \"\\\"\" |\n  \"\\u00e9\"\n)\n";
    CHECK_EQ_INT(matches(multi, "A\n"), 1);
    CHECK_EQ_INT(matches(multi, "\""), 1);
    CHECK_EQ_INT(matches(multi, "\xC3\xA9"), 1);
    CHECK_EQ_INT(matches(multi, "B"), 0);
    /* nullable loops and empty alternatives */
    CHECK_EQ_INT(matches("root ::= (\"a\"?)* \"b\"", "aab"), 1);
    CHECK_EQ_INT(matches("root ::= x x\nx ::= \"\" | \"q\"", ""), 1);
}

static void test_errors(void) {
    expect_error("root ::= \"ab", "t.gbnf:1:10: unterminated string");
    expect_error("root ::= foo", "t.gbnf:1:10: rule 'foo' is not defined");
    expect_error("root ::= \"a\"\n\nroot ::= \"b\"", "t.gbnf:3:1: rule is defined twice");
    expect_error("a ::= \"x\"", "no rule named 'root'");
    expect_error("root ::= [b-a]", "t.gbnf:1:12: character range is out of order");
    expect_error("root ::= (\"a\"", "t.gbnf:1:10: unclosed '('");
    expect_error("root ::= \"a\")", "t.gbnf:1:13: unmatched ')'");
    expect_error("root ::= \"a\"{3,1}", "t.gbnf:1:13: repetition {m,n} has n < m");
    expect_error("root := \"a\"", "t.gbnf:1:6: expected '::='");
    expect_error("root ::= \"\\q\"", "t.gbnf:1:11: unknown escape");
    expect_error("root ::= root \"a\" | \"b\"", "left-recursive");
    expect_error("root ::= x \"a\"\nx ::= \"\" | root", "left-recursive");
    expect_error("root ::= [abc", "t.gbnf:1:10: unterminated character class");
    expect_error("root ::= \"\\xZZ\"", "t.gbnf:1:13: expected a hexadecimal digit");
    expect_error("root ::= \"a\" @", "t.gbnf:1:14: unexpected character");
    expect_error("\n\n  root ::= \"\xff\"", "t.gbnf:3:13: invalid UTF-8");
}

/* Brute force: token i is allowed iff accept_token(i) succeeds (then undone). */
static void check_mask_brute(mlcc_grammar_matcher *m, const mlcc_grammar_vocab *v, const char *where) {
    int n = mlcc_grammar_vocab_size(v);
    uint32_t *mask = calloc(mlcc_grammar_mask_words(v), sizeof(uint32_t));
    mlcc_grammar_fill_next_token_bitmask(m, mask);
    int bad = 0;
    for (int32_t i = 0; i < n; i++) {
        int in_mask = (mask[i >> 5] >> (i & 31)) & 1;
        int ok = mlcc_grammar_accept_token(m, i) == 0;
        if (ok) mlcc_grammar_rollback(m, 1);
        if (ok != in_mask) {
            size_t len;
            const uint8_t *b = mlcc_grammar_vocab_token(v, i, &len);
            fprintf(stderr, "%s: token %d '%.*s': mask %d, accept %d\n", where, i, (int)len, b ? (const char *)b : "", in_mask, ok);
            bad++;
        }
    }
    CHECK_MSG(bad == 0, "%s: %d tokens differ", where, bad);
    free(mask);
}

static void test_masks(void) {
    const char *gbnf = "root ::= ws value ws\n"
                       "value ::= obj | arr | str | num | \"true\" | \"null\"\n"
                       "obj ::= \"{\" ws (str ws \":\" ws value ws (\",\" ws str ws \":\" ws value ws)*)? \"}\"\n"
                       "arr ::= \"[\" ws (value ws (\",\" ws value ws)*)? \"]\"\n"
                       "str ::= \"\\\"\" [^\"]* \"\\\"\"\n"
                       "num ::= \"-\"? [0-9]+\n"
                       "ws ::= \" \"?\n";
    mlcc_grammar *g = mlcc_grammar_from_ebnf(gbnf, strlen(gbnf), "json.gbnf");
    CHECK(g != NULL);
    if (!g) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        return;
    }
    mlcc_grammar_vocab *v = small_vocab();
    mlcc_grammar_matcher *m = mlcc_grammar_matcher_new(g, v);
    const char *text = " {\"a\":[1,-12,\"ab\xC3\xA9\",true,[],{}],\"b\":null} ";
    check_mask_brute(m, v, "start");
    for (size_t i = 0; text[i]; i++) {
        CHECK_EQ_INT(mlcc_grammar_accept_bytes(m, text + i, 1), 0);
        char where[64];
        snprintf(where, sizeof where, "after %zu bytes", i + 1);
        check_mask_brute(m, v, where);
    }
    CHECK(mlcc_grammar_can_terminate(m));
    CHECK_EQ_INT(mlcc_grammar_accept_token(m, 11), -1); /* 'x' */
    CHECK_EQ_INT(mlcc_grammar_accept_token(m, 0), 0);   /* stop */
    CHECK(mlcc_grammar_is_terminated(m));
    /* rollback the stop and the last 3 bytes, then continue differently */
    CHECK_EQ_INT(mlcc_grammar_rollback(m, 4), 0);
    CHECK(!mlcc_grammar_is_terminated(m));
    CHECK_EQ_INT(mlcc_grammar_accept_bytes(m, "l} ", 3), 0);
    CHECK(mlcc_grammar_can_terminate(m));
    CHECK_EQ_INT(mlcc_grammar_rollback(m, 1000), -1);
    mlcc_grammar_matcher_reset(m);
    CHECK_EQ_INT(mlcc_grammar_accept_bytes(m, "{\"a\":tr", 7), 0);
    size_t len;
    char *jf = mlcc_grammar_find_jump_forward(m, &len);
    CHECK_EQ_STR(jf, "ue");
    free(jf);
    mlcc_grammar_matcher_free(m);
    mlcc_grammar_vocab_free(v);
    mlcc_grammar_free(g);
}

/* Repetitions of repetitions (gram.c's simplify_repeat) keep their language, and nesting them
 * deeply stays fast: `"a"?` under 16 `+` took 18 s for the first mask before (~1.8x a level). */
static void test_nested_repetitions(void) {
    static const struct {
        const char *gbnf;
        const char *yes[4], *no[3];
    } cases[] = {
        {"root ::= (\"a\"?)+", {"", "a", "aaa"}, {"b", "ab"}},
        {"root ::= (\"a\"*)+", {"", "a", "aaaa"}, {"b"}},
        {"root ::= (\"a\"+)+", {"a", "aaa"}, {"", "b"}},
        {"root ::= (\"a\"+)?", {"", "a", "aa"}, {"b"}},
        {"root ::= (\"a\"?)?", {"", "a"}, {"aa"}},
        {"root ::= (\"a\"*)?", {"", "aaa"}, {"b"}},
        {"root ::= (\"a\"+){2,}", {"aa", "aaa"}, {"", "a"}},
        {"root ::= (\"a\"?){2,}", {"", "a", "aaa"}, {"b"}},
        {"root ::= (\"ab\"+)*", {"", "ab", "abab"}, {"a", "aba"}},
        {"root ::= (\"a\" | \"\")+", {"", "aaa"}, {"b"}},
        /* not repetitions of repetitions: unchanged */
        {"root ::= (\"a\"{2})+", {"aa", "aaaa"}, {"", "a", "aaa"}},
        {"root ::= (\"a\"{2,})+", {"aa", "aaa", "aaaaa"}, {"", "a"}},
        {"root ::= (\"a\"? \"b\")+", {"b", "abb", "bab"}, {"", "a", "aa"}},
        {"root ::= \"a\"?++++++++++++++++++++++++", {"", "a", "aaaa"}, {"b"}},
        {"root ::= ((((((((((((((((((((\"a\"?)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+", {"", "aaa"}, {"b"}},
        {"root ::= \"a\"++++++++++++++++++++++++?+++++++++++++*++++", {"", "a", "aa"}, {"b"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        for (int j = 0; j < 4 && cases[i].yes[j]; j++)
            CHECK_MSG(matches(cases[i].gbnf, cases[i].yes[j]) == 1, "%s should match '%s'", cases[i].gbnf, cases[i].yes[j]);
        for (int j = 0; j < 3 && cases[i].no[j]; j++)
            CHECK_MSG(matches(cases[i].gbnf, cases[i].no[j]) == 0, "%s should not match '%s'", cases[i].gbnf, cases[i].no[j]);
    }
    /* the regex front end (JSON Schema patterns go through it) writes groups the same way */
    const char *re = "((((((((((((((((((((a?)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+";
    mlcc_grammar *g = mlcc_grammar_from_regex(re, strlen(re));
    CHECK_MSG(g != NULL, "%s", mlcc_last_error());
    if (g) {
        mlcc_grammar_vocab *v = small_vocab();
        mlcc_grammar_matcher *m = mlcc_grammar_matcher_new(g, v);
        check_mask_brute(m, v, "nested regex, start");
        CHECK_EQ_INT(mlcc_grammar_accept_bytes(m, "aa", 2), 0);
        check_mask_brute(m, v, "nested regex, after aa");
        CHECK(mlcc_grammar_can_terminate(m));
        mlcc_grammar_matcher_free(m);
        mlcc_grammar_vocab_free(v);
        mlcc_grammar_free(g);
    }
}

int main(void) {
    test_parse_and_match();
    test_nested_repetitions();
    test_errors();
    test_masks();
    return test_finish();
}
