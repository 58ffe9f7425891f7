/* test_grammar_dfa.c - the regex automata of regex_dfa.c against independent references:
 * a pattern's DFA against PCRE2 searches on random strings, products (and, and-not, or) and
 * complements against the boolean combination of PCRE2's answers and plain string lists, and
 * the DFA written back as GBNF against the DFA itself (through the grammar matcher). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "grammar/json_schema.h"
#include "grammar/regex_dfa.h"
#include "support/error.h"
#include "test.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* an alphabet that exercises the patterns; no \r or Unicode spaces (where ECMAScript and
 * PCRE2's defaults differ) */
static const char *const alpha[] = {"a", "b", "c", "d", "o", "k", "e", "r", "-", "0", "9", "x", "_", ".", " ", "\xC3\xA9"};
#define NALPHA (sizeof alpha / sizeof alpha[0])

static void random_string(char *buf, size_t cap, int maxlen) {
    size_t n = 0;
    int len = (int)(rnd() % (uint64_t)(maxlen + 1));
    buf[0] = 0;
    for (int i = 0; i < len; i++) {
        const char *a = alpha[rnd() % NALPHA];
        if (n + strlen(a) + 1 >= cap) break;
        strcpy(buf + n, a);
        n += strlen(a);
    }
}

static pcre2_code *pcre(const char *pat) {
    int err;
    PCRE2_SIZE off;
    return pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX, &err, &off, NULL);
}

static int search(pcre2_code *re, const char *s) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int rc = pcre2_match(re, (PCRE2_SPTR)s, strlen(s), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    return rc >= 0;
}

/* PCRE2 read as Python's re reads these patterns: `.` all but \n, `$` also before a final \n */
static pcre2_code *pcre_python(const char *pat) {
    int err;
    PCRE2_SIZE off;
    return pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_ALT_BSUX, &err, &off, NULL);
}

static const char *const pats[] = {"^[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?$", "dock", "^(a|b)*a(a|b){2}$", "^$|^x+$",
                                   "^[^ab]{2,}\\d$", "^\\w+$", "(?:ab|ba){2}", "^.{3}$", "e$", "^(?:do|doc|docker)$",
                                   "^[\xC3\xA9-\xC3\xAB]?o*$", "a{2,}|c+k"};
#define NPATS (sizeof pats / sizeof pats[0])

static void test_regex_vs_pcre(void) {
    for (size_t p = 0; p < NPATS; p++) {
        rx_dfa *d = rx_dfa_from_regex(pats[p], strlen(pats[p]), 0, "test");
        rx_dfa *w = rx_dfa_from_regex(pats[p], strlen(pats[p]), 1, "test");
        CHECK_MSG(d != NULL && w != NULL, "/%s/: %s", pats[p], mlcc_last_error());
        pcre2_code *re = pcre(pats[p]), *py = pcre_python(pats[p]);
        CHECK(re != NULL && py != NULL);
        if (!d || !w || !re || !py) continue;
        int bad = 0, yes = 0;
        for (int t = 0; t < 3000; t++) {
            char s[64];
            random_string(s, sizeof s, t % 3 == 0 ? 4 : 10);
            if (t % 5 == 0) strcat(s, t % 2 ? "dock" : "abab"); /* substrings some patterns search */
            if (t % 11 == 0) strcpy(s, "baab");
            /* line breaks, where the dialects differ: the narrow DFA matches only what both do */
            int breaks = t % 7 == 0;
            if (breaks) {
                size_t at = rnd() % (strlen(s) + 1);
                memmove(s + at + 1, s + at, strlen(s) - at + 1);
                s[at] = rnd() % 2 ? '\r' : '\n';
            }
            int want = search(re, s), got = rx_dfa_matches(d, s, strlen(s));
            yes += want;
            if (breaks ? got && !(want && search(py, s)) : want != got)
                if (bad++ < 3) CHECK_MSG(0, "/%s/ on '%s': DFA %d, PCRE2 %d", pats[p], s, got, want);
            /* the wide automaton holds what either dialect matches */
            int either = got || search(py, s);
            if (either && !rx_dfa_matches(w, s, strlen(s)) && bad++ < 3) CHECK_MSG(0, "/%s/ on '%s': the wide DFA misses it", pats[p], s);
        }
        CHECK_MSG(yes > 0, "/%s/: no random string matched (the test says nothing)", pats[p]);
        pcre2_code_free(re);
        pcre2_code_free(py);
        rx_dfa_free(d);
        rx_dfa_free(w);
    }
    /* where the dialects differ */
    const char *dot = "^.*$", *dig = "^\\D$";
    rx_dfa *nd = rx_dfa_from_regex(dot, strlen(dot), 0, "t"), *wd = rx_dfa_from_regex(dot, strlen(dot), 1, "t");
    rx_dfa *ng = rx_dfa_from_regex(dig, strlen(dig), 0, "t"), *wg = rx_dfa_from_regex(dig, strlen(dig), 1, "t");
    CHECK(!rx_dfa_matches(nd, "a\r", 2) && rx_dfa_matches(wd, "a\r", 2) && rx_dfa_matches(wd, "ab\n", 3));
    CHECK(!rx_dfa_matches(ng, "\xD9\xA3", 2) && rx_dfa_matches(wg, "\xD9\xA3", 2) && rx_dfa_matches(ng, "x", 1));
    rx_dfa_free(nd);
    rx_dfa_free(wd);
    rx_dfa_free(ng);
    rx_dfa_free(wg);
}

static const char *const names[] = {"docker", "dock", "do", "", "ab", "\xC3\xA9o"};
#define NNAMES (sizeof names / sizeof names[0])

static int in_names(const char *s) {
    for (size_t i = 0; i < NNAMES; i++)
        if (!strcmp(s, names[i])) return 1;
    return 0;
}

static void test_products(void) {
    rx_dfa *list = rx_dfa_from_strings(names, NNAMES);
    for (size_t i = 0; i < NNAMES; i++) CHECK(rx_dfa_matches(list, names[i], strlen(names[i])));
    CHECK(!rx_dfa_matches(list, "d", 1) && !rx_dfa_matches(list, "dockers", 7));
    rx_dfa *len = rx_dfa_length(2, 4);
    for (size_t p = 0; p < NPATS; p++) {
        rx_dfa *a = rx_dfa_from_regex(pats[p], strlen(pats[p]), 0, "test");
        rx_dfa *b = rx_dfa_from_regex(pats[(p + 1) % NPATS], strlen(pats[(p + 1) % NPATS]), 0, "test");
        pcre2_code *ra = pcre(pats[p]), *rb = pcre(pats[(p + 1) % NPATS]);
        if (!a || !b || !ra || !rb) {
            CHECK(0);
            continue;
        }
        rx_dfa *and_ = rx_dfa_product(a, b, RX_AND), *or_ = rx_dfa_product(a, b, RX_OR);
        rx_dfa *minus_names = rx_dfa_product(a, list, RX_AND_NOT), *not_a = rx_dfa_complement(a);
        rx_dfa *bounded = rx_dfa_product(a, len, RX_AND);
        int bad = 0;
        for (int t = 0; t < 2000; t++) {
            char s[64];
            if (t % 10 == 0)
                strcpy(s, names[rnd() % NNAMES]);
            else
                random_string(s, sizeof s, t % 2 ? 4 : 9);
            size_t n = strlen(s);
            int ia = search(ra, s), ib = search(rb, s), nn = in_names(s);
            size_t cps = 0;
            for (size_t k = 0; k < n; k++) cps += ((unsigned char)s[k] & 0xC0) != 0x80;
            int ok = rx_dfa_matches(and_, s, n) == (ia && ib) && rx_dfa_matches(or_, s, n) == (ia || ib) &&
                     rx_dfa_matches(minus_names, s, n) == (ia && !nn) && rx_dfa_matches(not_a, s, n) == !ia &&
                     rx_dfa_matches(bounded, s, n) == (ia && cps >= 2 && cps <= 4);
            if (!ok && bad++ < 3) CHECK_MSG(0, "/%s/ and /%s/ on '%s': a product disagrees with PCRE2", pats[p], pats[(p + 1) % NPATS], s);
        }
        CHECK(bad == 0);
        rx_dfa_free(and_);
        rx_dfa_free(or_);
        rx_dfa_free(minus_names);
        rx_dfa_free(not_a);
        rx_dfa_free(bounded);
        rx_dfa_free(a);
        rx_dfa_free(b);
        pcre2_code_free(ra);
        pcre2_code_free(rb);
    }
    /* the fixture 025 case: cache names except "docker" */
    rx_dfa *cache = rx_dfa_from_regex(pats[0], strlen(pats[0]), 0, "test"), *docker = rx_dfa_from_strings(names, 1);
    rx_dfa *diff = rx_dfa_product(cache, docker, RX_AND_NOT);
    CHECK(rx_dfa_matches(cache, "docker", 6) && !rx_dfa_matches(diff, "docker", 6));
    CHECK(rx_dfa_matches(diff, "dockers", 7) && rx_dfa_matches(diff, "docke", 5) && rx_dfa_matches(diff, "d", 1));
    CHECK_EQ_INT((int)rx_dfa_shortest(diff), 1);
    /* emptiness */
    rx_dfa *same = rx_dfa_product(docker, cache, RX_AND_NOT);
    CHECK(rx_dfa_is_empty(same));
    CHECK_EQ_INT((int)rx_dfa_shortest(same), -1);
    rx_dfa_free(same);
    rx_dfa_free(diff);
    rx_dfa_free(docker);
    rx_dfa_free(cache);
    rx_dfa_free(len);
    rx_dfa_free(list);
    /* an automaton that grows past the bound is an error, not a hang */
    const char *big = "^(a|b)*a(a|b){20}$";
    rx_dfa *huge = rx_dfa_from_regex(big, strlen(big), 0, "big");
    CHECK(huge == NULL && strstr(mlcc_last_error(), "too complex"));
    rx_dfa_free(huge);
}

static mlcc_grammar_vocab *byte_vocab(void) {
    static const char *toks[256];
    static char bytes[256][2];
    static size_t lens[256];
    for (int i = 0; i < 256; i++) {
        bytes[i][0] = (char)i;
        toks[i] = bytes[i];
        lens[i] = 1;
    }
    return mlcc_grammar_vocab_from_bytes(toks, lens, 256, NULL, 0);
}

/* The GBNF of a DFA accepts what the DFA accepts; in JSON mode, the JSON-escaped text. */
static void test_gbnf(void) {
    mlcc_grammar_vocab *v = byte_vocab();
    const char *pat = "^[a-z\"\\\\]([-a-z\\n]{0,5}[a-z])?$";
    rx_dfa *a = rx_dfa_from_regex(pat, strlen(pat), 0, "test"), *minus = rx_dfa_from_strings(names, NNAMES);
    rx_dfa *d = a ? rx_dfa_product(a, minus, RX_AND_NOT) : NULL;
    CHECK(d != NULL);
    for (int json = 0; d && json < 2; json++) {
        mlcc_strbuf rules = STRBUF_INIT, start = STRBUF_INIT;
        rx_dfa_to_gbnf(d, json, "s", 0, NULL, &rules, &start);
        mlcc_strbuf text = STRBUF_INIT;
        sb_printf(&text, "root ::= %s\n%s", start.data, rules.data);
        mlcc_grammar *g = mlcc_grammar_from_ebnf(text.data, text.len, "dfa");
        CHECK_MSG(g != NULL, "%s", mlcc_last_error());
        static const char *const extra[] = {"a", "b", "q", "-", "\n", "\"", "\\", "o", "c", "k", "e", "r", "d"};
        for (int t = 0; g && t < 3000; t++) {
            char s[16], w[48];
            int n = (int)(rnd() % 9);
            size_t wl = 0;
            for (int k = 0; k < n; k++) {
                const char *c = extra[rnd() % (sizeof extra / sizeof extra[0])];
                s[k] = c[0];
                if (json && (c[0] == '"' || c[0] == '\\')) w[wl++] = '\\', w[wl++] = c[0];
                else if (json && c[0] == '\n') w[wl++] = '\\', w[wl++] = 'n';
                else w[wl++] = c[0];
            }
            if (t % 7 == 0) { /* a listed name */
                strcpy(s, "docker");
                strcpy(w, "docker");
                n = 6;
                wl = 6;
            }
            s[n] = 0;
            int want = rx_dfa_matches(d, s, (size_t)n);
            mlcc_grammar_matcher *m = mlcc_grammar_matcher_new(g, v);
            int got = (wl == 0 || mlcc_grammar_accept_bytes(m, w, wl) == 0) && mlcc_grammar_can_terminate(m);
            mlcc_grammar_matcher_free(m);
            if (want != got) {
                CHECK_MSG(0, "json %d: '%s': DFA %d, grammar %d", json, s, want, got);
                break;
            }
        }
        mlcc_grammar_free(g);
        sb_free(&text);
        sb_free(&rules);
        sb_free(&start);
    }
    rx_dfa_free(d);
    rx_dfa_free(a);
    rx_dfa_free(minus);
    mlcc_grammar_vocab_free(v);
}

/* The regex form of each format (json_schema_strings.c) is the language of its GBNF rule
 * (json_schema.c): both read near-miss strings, mutations of valid ones, alike. */
static void test_format_regexes(void) {
    static const char *const samples[][2] = {{"date", "2024-02-29"}, {"date", "1999-12-31"}, {"time", "23:59:59.5+01:30"},
                                             {"date-time", "2000-02-29T00:00:00Z"}, {"uuid", "123e4567-e89b-12d3-a456-426614174000"},
                                             {"ipv4", "192.168.0.255"}, {"email", "a.b@c-d.example.com"}};
    static const char alpha[] = "0123456789-:.TZz+@abcAF";
    mlcc_grammar_vocab *v = byte_vocab();
    for (size_t f = 0; f < sizeof samples / sizeof samples[0]; f++) {
        const char *re = js_format_regex(samples[f][0]);
        rx_dfa *d = re ? rx_dfa_from_regex(re, strlen(re), 0, "format") : NULL;
        char schema[128];
        snprintf(schema, sizeof schema, "{\"type\":\"string\",\"format\":\"%s\"}", samples[f][0]);
        mlcc_grammar *g = mlcc_grammar_from_json_schema(schema, strlen(schema), NULL);
        CHECK_MSG(d && g, "format %s: %s", samples[f][0], mlcc_last_error());
        if (!d || !g) continue;
        int bad = 0, yes = 0;
        for (int t = 0; t < 4000; t++) {
            char s[64], q[70];
            strcpy(s, samples[f][1]);
            size_t n = strlen(s);
            for (int k = 0, muts = (int)(rnd() % 3); k < muts; k++) s[rnd() % n] = alpha[rnd() % (sizeof alpha - 1)];
            if (t % 50 == 1) s[n - 1] = 0; /* shorter */
            snprintf(q, sizeof q, "\"%s\"", s);
            mlcc_grammar_matcher *m = mlcc_grammar_matcher_new(g, v);
            int want = mlcc_grammar_accept_bytes(m, q, strlen(q)) == 0 && mlcc_grammar_can_terminate(m);
            mlcc_grammar_matcher_free(m);
            int got = rx_dfa_matches(d, s, strlen(s));
            yes += want;
            if (want != got && bad++ < 3) CHECK_MSG(0, "format %s on '%s': grammar %d, regex DFA %d", samples[f][0], s, want, got);
        }
        CHECK_MSG(yes > 100 && yes < 3900, "format %s: %d of 4000 accepted (the test says little)", samples[f][0], yes);
        rx_dfa_free(d);
        mlcc_grammar_free(g);
    }
    mlcc_grammar_vocab_free(v);
}

int main(void) {
    test_regex_vs_pcre();
    test_products();
    test_gbnf();
    test_format_regexes();
    return test_finish();
}
