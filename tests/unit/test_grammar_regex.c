/* test_grammar_regex.c - differential tests of two compilers against independent references:
 * regex -> grammar against PCRE2 (whole-string matches of random strings), and JSON Schema
 * numeric bounds -> grammar against exact arithmetic on random decimal numbers. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "support/error.h"
#include "test.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
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

static int grammar_matches(mlcc_grammar *g, mlcc_grammar_vocab *v, const char *s, size_t n) {
    mlcc_grammar_matcher *m = mlcc_grammar_matcher_new(g, v);
    int ok = mlcc_grammar_accept_bytes(m, s, n) == 0 && mlcc_grammar_can_terminate(m);
    if (n == 0) ok = mlcc_grammar_can_terminate(m);
    mlcc_grammar_matcher_free(m);
    return ok;
}

static void test_regex(mlcc_grammar_vocab *v) {
    static const char *const pats[] = {"[A-Z]{2}-[0-9]{3,4}", "(ab|a)*b?", "a{2,}|b+", "[^ab]*\\d", "(?:x|y\\.z){1,3}",
                                       "\\w+@\\w+\\.[a-z]{2,3}", "[\xC3\xA9-\xC3\xAB]+.", "(a|b)*a(a|b){2}", "a?b?c?",
                                       "[\\-a]+", "\\S+\\s\\S+", "colou?r", "[0-9a-f]{2}(:[0-9a-f]{2}){2}", "x*?y+?",
                                       "(?<n>ab)+", "\\x41\\u00e9[\\d\\s]", "[^\\W\\d]+", "a|", "(|b)c", "[.][*]\\{"};
    /* an alphabet that exercises the patterns; no \r or Unicode spaces (where ECMAScript and
     * PCRE2's defaults differ) */
    static const char *const alpha[] = {"a", "b", "c", "x", "y", "z", ".", "-", "1", "7", " ", "\n", "A", "Z", "@", ":",
                                        "f", "\xC3\xA9", "\xC3\xAA", "\xC3\xAC", "_", "o", "u", "r", "l", "*", "{", "\t"};
    size_t nalpha = sizeof alpha / sizeof alpha[0];
    for (size_t p = 0; p < sizeof pats / sizeof pats[0]; p++) {
        mlcc_grammar *g = mlcc_grammar_from_regex(pats[p], strlen(pats[p]));
        CHECK_MSG(g != NULL, "/%s/: %s", pats[p], mlcc_last_error());
        if (!g) continue;
        char anchored[256];
        snprintf(anchored, sizeof anchored, "^(?:%s)$", pats[p]);
        int err;
        PCRE2_SIZE off;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)anchored, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX, &err, &off, NULL);
        CHECK_MSG(re != NULL, "PCRE2 rejects /%s/", anchored);
        if (!re) {
            mlcc_grammar_free(g);
            continue;
        }
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
        int bad = 0, matched = 0;
        for (int t = 0; t < 3000; t++) {
            char s[128];
            size_t n = 0;
            int len = (int)(rnd() % 9);
            for (int k = 0; k < len; k++) {
                const char *a = alpha[rnd() % nalpha];
                memcpy(s + n, a, strlen(a));
                n += strlen(a);
            }
            /* half the time, a string built from the pattern's own characters */
            if (t % 2) {
                n = 0;
                for (int k = 0; k < len; k++) {
                    char c = pats[p][rnd() % strlen(pats[p])];
                    if ((unsigned char)c >= 0x80 || c == '\\') c = 'a';
                    s[n++] = c;
                }
            }
            s[n] = 0;
            int want = pcre2_match(re, (PCRE2_SPTR)s, n, 0, 0, md, NULL) >= 0;
            int got = grammar_matches(g, v, s, n);
            matched += want;
            if (want != got && bad++ < 3) fprintf(stderr, "/%s/ on '%s': pcre2 %d, grammar %d\n", pats[p], s, want, got);
        }
        CHECK_MSG(bad == 0, "/%s/: %d strings differ from PCRE2", pats[p], bad);
        pcre2_match_data_free(md);
        pcre2_code_free(re);
        mlcc_grammar_free(g);
    }
    /* errors name the offset and the reason */
    static const char *const badpats[][2] = {{"a(b", "missing ')'"}, {"a\\1", "backreferences"}, {"(?=a)", "lookaround"},
                                             {"[b-a]", "out of order"}, {"*a", "nothing to repeat"}, {"a\\b", "word boundaries"}};
    for (size_t i = 0; i < sizeof badpats / sizeof badpats[0]; i++) {
        mlcc_grammar *g = mlcc_grammar_from_regex(badpats[i][0], strlen(badpats[i][0]));
        CHECK_MSG(!g && strstr(mlcc_last_error(), badpats[i][1]), "/%s/: %s", badpats[i][0], g ? "compiled" : mlcc_last_error());
        mlcc_grammar_free(g);
    }
}

/* A random decimal with up to 2 fraction digits in [-30, 30], as text and x1000. */
static void rand_bound(char *out, size_t cap, long long *milli) {
    long long v = (long long)(rnd() % 6001) - 3000; /* hundredths */
    if (rnd() % 2) v = v / 100 * 100;              /* often an integer */
    *milli = v * 10;
    snprintf(out, cap, "%s%lld.%02lld", v < 0 ? "-" : "", llabs(v) / 100, llabs(v) % 100);
}

static void test_number_bounds(mlcc_grammar_vocab *v) {
    static const char *const kws[] = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};
    int schemas = 0, skipped = 0;
    for (int t = 0; t < 150; t++) {
        int integer = rnd() % 3 == 0;
        char schema[512], b1[32], b2[32];
        long long m1, m2;
        rand_bound(b1, sizeof b1, &m1);
        rand_bound(b2, sizeof b2, &m2);
        int k1 = (int)(rnd() % 4), k2 = (int)(rnd() % 4);
        int two = rnd() % 4 != 0 && (k1 % 2) != (k2 % 2);
        if (two)
            snprintf(schema, sizeof schema, "{\"type\":\"%s\",\"%s\":%s,\"%s\":%s}", integer ? "integer" : "number", kws[k1], b1, kws[k2], b2);
        else
            snprintf(schema, sizeof schema, "{\"type\":\"%s\",\"%s\":%s}", integer ? "integer" : "number", kws[k1], b1);
        mlcc_grammar *g = mlcc_grammar_from_json_schema(schema, strlen(schema), NULL);
        if (!g) {
            /* unsupported shapes and empty ranges are errors; nothing else may fail */
            const char *e = mlcc_last_error();
            CHECK_MSG(strstr(e, "same integer part") || strstr(e, "leave no value"), "%s: %s", schema, e);
            skipped++;
            continue;
        }
        schemas++;
        int bad = 0;
        for (int n = 0; n < 300; n++) {
            long long ip = (long long)(rnd() % 36);
            int fd = (int)(rnd() % 4); /* fraction digits */
            long long frac = fd ? (long long)(rnd() % (fd == 1 ? 10 : fd == 2 ? 100 : 1000)) : 0;
            int neg = rnd() % 2 && (ip || fd);
            char text[64];
            if (fd)
                snprintf(text, sizeof text, "%s%lld.%0*lld", neg ? "-" : "", ip, fd, frac);
            else
                snprintf(text, sizeof text, "%s%lld", neg ? "-" : "", ip);
            long long milli = ip * 1000 + frac * (fd == 1 ? 100 : fd == 2 ? 10 : 1);
            if (neg) milli = -milli;
            int want = !(integer && fd);
            long long ms[2] = {m1, m2};
            int ks[2] = {k1, k2};
            for (int b = 0; b < (two ? 2 : 1); b++) {
                if (ks[b] == 0) want &= milli >= ms[b];
                if (ks[b] == 1) want &= milli <= ms[b];
                if (ks[b] == 2) want &= milli > ms[b];
                if (ks[b] == 3) want &= milli < ms[b];
            }
            int got = grammar_matches(g, v, text, strlen(text));
            if (got != want && bad++ < 3) fprintf(stderr, "%s on %s: want %d, grammar %d\n", schema, text, want, got);
        }
        CHECK_MSG(bad == 0, "%s: %d numbers misjudged", schema, bad);
        mlcc_grammar_free(g);
    }
    CHECK_MSG(schemas > 100, "only %d of %d bound schemas compiled", schemas, schemas + skipped);
}

int main(void) {
    mlcc_grammar_vocab *v = byte_vocab();
    test_regex(v);
    test_number_bounds(v);
    mlcc_grammar_vocab_free(v);
    return test_finish();
}
