/* test_grammar_cache.c - the grammar cache (same source and options: the same compiled
 * grammar; other options: another; least recently used evicted while holders keep theirs;
 * failures not kept) and the engine's guide, whose next mask is computed on worker threads
 * after each accepted token: along random walks of several guides stepped in turn (as a batch
 * is), every mask equals the one a plain matcher computes on the same text, and a guide freed
 * while its next mask is being computed goes cleanly (ASan checks). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "grammar/guide.h"
#include "support/error.h"
#include "test.h"

static const char *const schemas[] = {
    "{\"type\":\"object\",\"properties\":{\"n\":{\"type\":\"integer\",\"minimum\":-5,\"maximum\":300},"
    "\"s\":{\"type\":\"string\",\"maxLength\":6}},\"required\":[\"n\"]}",
    "{\"type\":\"array\",\"items\":{\"enum\":[\"red\",\"green\",1.5,null]},\"maxItems\":4}",
    "{\"anyOf\":[{\"type\":\"boolean\"},{\"type\":\"string\",\"pattern\":\"^[a-c]{2,5}$\"}]}",
    "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\",\"multipleOf\":7},\"maxProperties\":2}",
};
#define NSCHEMAS (sizeof schemas / sizeof schemas[0])

static void test_cache(void) {
    mlcc_grammar_cache *c = mlcc_grammar_cache_new(2);
    mlcc_grammar_options opt = mlcc_grammar_default_options();
    mlcc_grammar *a = mlcc_grammar_cache_get(c, MLCC_GRAMMAR_JSON_SCHEMA, schemas[0], strlen(schemas[0]), &opt, NULL);
    mlcc_grammar *a2 = mlcc_grammar_cache_get(c, MLCC_GRAMMAR_JSON_SCHEMA, schemas[0], strlen(schemas[0]), &opt, NULL);
    CHECK(a != NULL && a == a2);
    opt.flexible_whitespace = 1;
    mlcc_grammar *af = mlcc_grammar_cache_get(c, MLCC_GRAMMAR_JSON_SCHEMA, schemas[0], strlen(schemas[0]), &opt, NULL);
    CHECK(af != NULL && af != a);
    uint64_t hits, misses;
    int n;
    mlcc_grammar_cache_stats(c, &hits, &misses, &n);
    CHECK_EQ_INT((int)hits, 1);
    CHECK_EQ_INT((int)misses, 2);
    CHECK_EQ_INT(n, 2);
    /* a third source evicts the least recently used (the compact one); its holders keep it */
    mlcc_grammar *r = mlcc_grammar_cache_get(c, MLCC_GRAMMAR_REGEX, "[a-z]+", 6, NULL, NULL);
    CHECK(r != NULL);
    mlcc_grammar *a3 = mlcc_grammar_cache_get(c, MLCC_GRAMMAR_JSON_SCHEMA, schemas[0], strlen(schemas[0]),
                                              &(mlcc_grammar_options){.max_ws = 16, .strict_properties = 1}, NULL);
    CHECK(a3 != NULL && a3 != a); /* compiled again */
    mlcc_grammar_cache_stats(c, &hits, &misses, &n);
    CHECK_EQ_INT((int)misses, 4);
    CHECK_EQ_INT(n, 2);
    const char *toks[2] = {"{", "}"};
    mlcc_grammar_vocab *v = mlcc_grammar_vocab_from_bytes(toks, NULL, 2, NULL, 0);
    mlcc_grammar_matcher *m = mlcc_grammar_matcher_new(a, v); /* the evicted grammar still works */
    CHECK(mlcc_grammar_accept_bytes(m, "{\"n\":3}", 7) == 0 && mlcc_grammar_can_terminate(m));
    mlcc_grammar_matcher_free(m);
    mlcc_grammar_vocab_free(v);
    /* failures: an error each time, nothing kept */
    const char *bad = "{\"type\":\"array\",\"contains\":{}}";
    CHECK(mlcc_grammar_cache_get(c, MLCC_GRAMMAR_JSON_SCHEMA, bad, strlen(bad), NULL, NULL) == NULL);
    CHECK(strstr(mlcc_last_error(), "'contains'") != NULL);
    CHECK(mlcc_grammar_cache_get(c, MLCC_GRAMMAR_EBNF, "root ::= x", 10, NULL, "t.gbnf") == NULL);
    CHECK(strstr(mlcc_last_error(), "t.gbnf") != NULL);
    mlcc_grammar_free(a);
    mlcc_grammar_free(a2);
    mlcc_grammar_free(af);
    mlcc_grammar_free(r);
    mlcc_grammar_free(a3);
    mlcc_grammar_cache_free(c);
}

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

/* Guides stepped in turn; each mask checked against a plain matcher following the same tokens. */
static void test_async_guides(void) {
    /* bytes 0..255, then two-byte tokens, and a stop token */
    enum { NTOK = 256 + 64 + 1 };
    static char store[NTOK][3];
    const char *toks[NTOK];
    size_t lens[NTOK];
    const char *multi = "\"n\":\"s\":true,nullredgreen1.50123456789abc[]{}";
    size_t mlen = strlen(multi);
    for (int i = 0; i < NTOK; i++) {
        if (i < 256) {
            store[i][0] = (char)i;
            lens[i] = 1;
        } else if (i < NTOK - 1) {
            store[i][0] = multi[(size_t)(i - 256) % mlen];
            store[i][1] = multi[(size_t)(i - 256 + 1) % mlen];
            lens[i] = 2;
        }
        toks[i] = i == NTOK - 1 ? NULL : store[i];
    }
    lens[NTOK - 1] = 0;
    int32_t stop = NTOK - 1;
    mlcc_grammar_vocab *v = mlcc_grammar_vocab_from_bytes(toks, lens, NTOK, &stop, 1);
    mlcc_grammar *g[NSCHEMAS];
    mlcc_grammar_options opt = mlcc_grammar_default_options();
    opt.max_string_chars = 8;
    opt.max_number_digits = 4;
    for (size_t i = 0; i < NSCHEMAS; i++) {
        g[i] = mlcc_grammar_from_json_schema(schemas[i], strlen(schemas[i]), &opt);
        CHECK_MSG(g[i] != NULL, "%s", mlcc_last_error());
        if (!g[i]) return;
    }
    size_t words = mlcc_grammar_mask_words(v);
    uint32_t *want = malloc(words * sizeof(uint32_t));
    float *logits = malloc(sizeof(float) * NTOK);
    int checked = 0, mismatches = 0;
    for (int round = 0; round < 6; round++) {
        mlcc_grammar_guide *gd[NSCHEMAS];
        mlcc_grammar_matcher *ref[NSCHEMAS];
        int live[NSCHEMAS];
        for (size_t i = 0; i < NSCHEMAS; i++) {
            gd[i] = mlcc_grammar_guide_new(g[i], v);
            ref[i] = mlcc_grammar_matcher_new(g[i], v);
            live[i] = 1;
        }
        for (int step = 0; step < 120; step++) {
            for (size_t i = 0; i < NSCHEMAS; i++) {
                if (!live[i]) continue;
                for (int t = 0; t < NTOK; t++) logits[t] = 0;
                if (mlcc_grammar_guide_mask(gd[i], logits, NTOK) != 0) {
                    CHECK_MSG(0, "schema %zu: %s", i, mlcc_last_error());
                    live[i] = 0;
                    continue;
                }
                mlcc_grammar_fill_next_token_bitmask(ref[i], want);
                int allowed[NTOK], k = 0, same = 1;
                for (int t = 0; t < NTOK; t++) {
                    int ok = !isinf(logits[t]);
                    same &= ok == (int)(want[t / 32] >> (t % 32) & 1);
                    if (ok) allowed[k++] = t;
                }
                checked++;
                mismatches += !same;
                /* the stop token a third of the time it is allowed */
                int tok = allowed[rnd() % (uint32_t)k];
                if ((want[stop / 32] >> (stop % 32) & 1) && rnd() % 3 == 0) tok = stop;
                int r = mlcc_grammar_guide_accept(gd[i], tok);
                CHECK(mlcc_grammar_accept_token(ref[i], tok) == 0);
                if (r != 0) live[i] = 0;
            }
        }
        /* freed as they are: some with a mask being computed */
        for (size_t i = 0; i < NSCHEMAS; i++) {
            mlcc_grammar_guide_free(gd[i]);
            mlcc_grammar_matcher_free(ref[i]);
        }
    }
    CHECK(checked > 200);
    CHECK_EQ_INT(mismatches, 0);
    printf("%d masks from the guides' workers, %d differ from the plain matcher\n", checked, mismatches);
    free(want);
    free(logits);
    for (size_t i = 0; i < NSCHEMAS; i++) mlcc_grammar_free(g[i]);
    mlcc_grammar_vocab_free(v);
}

int main(void) {
    setenv("MLCC_GRAMMAR_ASYNC", "1", 1); /* the workers, whatever the core count */
    test_cache();
    test_async_guides();
    return test_finish();
}
