/* bench_grammar_validity.c - the share of real-world JSON Schemas supported, and whether what
 * their grammars allow is valid: each schema (one file each, or JSONSchemaBench files with a
 * "schema" field) is compiled; a supported one gets `walks` random generations over a byte
 * vocabulary (each step a byte drawn uniformly from the mask; where the grammar may end, it
 * ends with probability 1/3), written as JSON lines {"file", "text"} for an independent
 * validator (bench_grammar_validity.py: python3-jsonschema). Strings are capped at 16
 * characters and numbers at 8 digits so walks end. Unsupported schemas are listed with the
 * compiler's message (one line each, "UNSUPPORTED file: message").
 *
 * build: make build && cc -O2 -Iinclude -Isrc bench/bench_grammar_validity.c -Lbuild \
 *   -lmlcc_runtime -Wl,-rpath,$PWD/build -ljansson -o build/bench_grammar_validity
 * run:   build/bench_grammar_validity OUT.jsonl WALKS SCHEMA.json... \
 *   && python3 bench/bench_grammar_validity.py OUT.jsonl */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/grammar.h"
#include "support/error.h"
#include "support/file.h"

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t rnd(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

/* One walk; returns the text (malloc'ed) or NULL when it did not end within max_bytes. */
static char *walk(mlcc_grammar_matcher *m, const mlcc_grammar_vocab *v, int max_bytes, int *dead_end) {
    size_t words = mlcc_grammar_mask_words(v);
    uint32_t *mask = malloc(words * sizeof(uint32_t));
    char *text = malloc((size_t)max_bytes + 1);
    int n = 0, ok = 0;
    *dead_end = 0;
    mlcc_grammar_matcher_reset(m);
    while (n < max_bytes) {
        mlcc_grammar_fill_next_token_bitmask(m, mask);
        int allowed[257], k = 0;
        for (int t = 0; t < 256; t++)
            if (mask[t / 32] >> (t % 32) & 1) allowed[k++] = t;
        int can_stop = mask[256 / 32] >> (256 % 32) & 1;
        if (can_stop && (k == 0 || rnd() % 3 == 0)) {
            ok = 1;
            break;
        }
        if (k == 0) {
            *dead_end = 1;
            break;
        }
        int t = allowed[rnd() % (uint32_t)k];
        if (mlcc_grammar_accept_token(m, t) != 0) {
            *dead_end = 1;
            break;
        }
        text[n++] = (char)t;
    }
    free(mask);
    text[n] = 0;
    if (!ok) {
        free(text);
        return NULL;
    }
    return text;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s OUT.jsonl WALKS SCHEMA.json...\n", argv[0]);
        return 2;
    }
    FILE *out = fopen(argv[1], "w");
    if (!out) return 2;
    int walks = atoi(argv[2]);
    const char *toks[256];
    char bytes[256][2];
    size_t lens[257];
    const char *all[257];
    for (int b = 0; b < 256; b++) {
        bytes[b][0] = (char)b;
        toks[b] = bytes[b];
        all[b] = toks[b];
        lens[b] = 1;
    }
    all[256] = NULL; /* the stop token */
    lens[256] = 0;
    int32_t stop = 256;
    mlcc_grammar_vocab *v = mlcc_grammar_vocab_from_bytes(all, lens, 257, &stop, 1);
    mlcc_grammar_options opt = mlcc_grammar_default_options();
    opt.strict_properties = 0; /* the JSON Schema meaning, as the validator reads it */
    opt.max_string_chars = 16;
    opt.max_number_digits = 8;
    int supported = 0, total = 0, unended = 0, dead = 0;
    for (int i = 3; i < argc; i++) {
        size_t len;
        char *text = mlcc_read_file(argv[i], &len);
        if (!text) continue;
        json_error_t jerr;
        json_t *doc = json_loadb(text, len, 0, &jerr);
        free(text);
        if (!doc) continue;
        total++;
        json_t *schema = json_object_get(doc, "schema") && json_object_get(doc, "tests") ? json_object_get(doc, "schema") : doc;
        char *s = json_dumps(schema, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        mlcc_grammar *g = mlcc_grammar_from_json_schema(s, strlen(s), &opt);
        free(s);
        const char *base = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
        if (!g) {
            printf("UNSUPPORTED %s: %s\n", base, mlcc_last_error());
            json_decref(doc);
            continue;
        }
        supported++;
        mlcc_grammar_matcher *m = mlcc_grammar_matcher_new(g, v);
        for (int w = 0; w < walks; w++) {
            int dead_end;
            char *t = walk(m, v, 20000, &dead_end);
            if (!t) {
                if (dead_end) {
                    dead++;
                    printf("DEAD-END %s walk %d\n", base, w);
                } else
                    unended++;
                continue;
            }
            json_t *line = json_pack("{s:s, s:s}", "file", argv[i], "text", t);
            if (line) {
                char *l = json_dumps(line, JSON_COMPACT | JSON_ENSURE_ASCII);
                fprintf(out, "%s\n", l);
                free(l);
                json_decref(line);
            } else
                printf("NOT-UTF8 %s walk %d\n", base, w);
            free(t);
        }
        mlcc_grammar_matcher_free(m);
        mlcc_grammar_free(g);
        json_decref(doc);
    }
    fclose(out);
    mlcc_grammar_vocab_free(v);
    printf("schemas: %d, supported: %d (%.1f%%); walks that did not end within 20000 bytes: %d; dead ends: %d\n", total,
           supported, total ? 100.0 * supported / total : 0.0, unended, dead);
    return 0;
}
