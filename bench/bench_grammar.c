/* bench_grammar.c - structured generation costs over the JSON Schema fixtures with a real
 * vocabulary: vocabulary preprocessing, grammar compile time (schema -> GBNF -> automaton),
 * and token-mask time per step along random generations (tokens drawn uniformly from the mask,
 * one thread), cold (the first request of a grammar fills the mask cache) and warm (later
 * requests on the same grammar and path; per step the fastest of three, as the VM is shared). Prints a table and the summary figures for BENCHMARKS.md.
 *
 * build: make build && cc -O2 -Iinclude -Isrc bench/bench_grammar.c -Lbuild -lmlcc_runtime \
 *   -Wl,-rpath,$PWD/build -ljansson -o build/bench_grammar
 * run:   build/bench_grammar build/testdata/tokenizers/llama3_1/tokenizer.json \
 *   /work/shared/testdata/json-schema [steps per schema, default 200] */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "grammar/grammar.h"
#include "support/clock.h"
#include "support/error.h"
#include "support/file.h"

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p) {
    if (!n) return 0;
    qsort(v, (size_t)n, sizeof(double), cmp_d);
    int i = (int)(p * (n - 1) + 0.5);
    return v[i];
}

static uint64_t rng = 88172645463325252ull;
static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* One random generation of up to steps tokens; mask times appended to times. The same seed
 * gives the same walk, so cold and warm runs see the same positions. */
static int run_walk(mlcc_grammar *g, mlcc_grammar_vocab *v, int steps, uint64_t seed, double *times, int *nt) {
    mlcc_grammar_matcher *m = mlcc_grammar_matcher_new(g, v);
    size_t words = mlcc_grammar_mask_words(v);
    uint32_t *mask = calloc(words, sizeof(uint32_t));
    int32_t *allowed = malloc(sizeof(int32_t) * (size_t)mlcc_grammar_vocab_size(v));
    rng = seed;
    int done = 0;
    for (int s = 0; s < steps && !mlcc_grammar_is_terminated(m); s++) {
        double t0 = mlcc_now_seconds();
        mlcc_grammar_fill_next_token_bitmask(m, mask);
        times[(*nt)++] = mlcc_now_seconds() - t0;
        int n = 0;
        for (int32_t i = 0; i < mlcc_grammar_vocab_size(v); i++)
            if ((mask[i >> 5] >> (i & 31)) & 1) allowed[n++] = i;
        if (!n) break;
        int32_t t = allowed[rnd() % (uint64_t)n];
        if (mlcc_grammar_accept_token(m, t)) break;
        done++;
    }
    free(mask);
    free(allowed);
    mlcc_grammar_matcher_free(m);
    return done;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s TOKENIZER.json SCHEMA_DIR [steps]\n", argv[0]);
        return 2;
    }
    int steps = argc > 3 ? atoi(argv[3]) : 200;
    double t0 = mlcc_now_seconds();
    mlcc_tokenizer *tok = mlcc_tokenizer_load(argv[1]);
    if (!tok) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        return 1;
    }
    double t1 = mlcc_now_seconds();
    mlcc_grammar_vocab *v = mlcc_grammar_vocab_new(tok, 0, NULL, 0);
    double t2 = mlcc_now_seconds();
    printf("tokenizer load %.1f ms; vocabulary preprocessing (%d tokens) %.1f ms\n", (t1 - t0) * 1e3, mlcc_grammar_vocab_size(v),
           (t2 - t1) * 1e3);
    char path[4096];
    snprintf(path, sizeof path, "%s/index.json", argv[2]);
    json_error_t jerr;
    json_t *index = json_load_file(path, 0, &jerr);
    if (!index) {
        fprintf(stderr, "%s: %s\n", path, jerr.text);
        return 1;
    }
    size_t ns = json_array_size(index);
    double *compile = calloc(ns, sizeof(double));
    double *cold = malloc(sizeof(double) * ns * (size_t)steps), *warm = malloc(sizeof(double) * ns * (size_t)steps);
    int ncompile = 0, ncold = 0, nwarm = 0, supported = 0;
    printf("%-48s %9s %6s %10s %10s %10s %10s\n", "schema", "compile", "steps", "cold mean", "cold max", "warm mean", "warm p99");
    for (size_t i = 0; i < ns; i++) {
        const char *file = json_string_value(json_object_get(json_array_get(index, i), "file"));
        snprintf(path, sizeof path, "%s/schemas/%s", argv[2], file);
        size_t len;
        char *text = mlcc_read_file(path, &len);
        if (!text) continue;
        mlcc_grammar_options opt = mlcc_grammar_default_options();
        opt.max_string_chars = 32;
        opt.max_number_digits = 10;
        double c0 = mlcc_now_seconds();
        mlcc_grammar *g = mlcc_grammar_from_json_schema(text, len, &opt);
        double c1 = mlcc_now_seconds();
        free(text);
        if (!g) {
            printf("%-48s unsupported: %s\n", file, mlcc_last_error());
            continue;
        }
        supported++;
        compile[ncompile++] = c1 - c0;
        int c_start = ncold, w_start = nwarm;
        int done = run_walk(g, v, steps, 1234 + i, cold, &ncold);
        /* warm: the same walk three more times, each step's fastest (this VM is shared) */
        run_walk(g, v, steps, 1234 + i, warm, &nwarm);
        for (int rep = 0; rep < 2; rep++) {
            int n2 = w_start;
            double *again = malloc(sizeof(double) * (size_t)steps);
            int na = 0;
            run_walk(g, v, steps, 1234 + i, again, &na);
            for (int k = 0; k < na && n2 + k < nwarm; k++)
                if (again[k] < warm[n2 + k]) warm[n2 + k] = again[k];
            free(again);
        }
        double cs = 0, cmax = 0, ws = 0;
        for (int k = c_start; k < ncold; k++) {
            cs += cold[k];
            if (cold[k] > cmax) cmax = cold[k];
        }
        for (int k = w_start; k < nwarm; k++) ws += warm[k];
        int nw = nwarm - w_start;
        double *wcopy = malloc(sizeof(double) * (size_t)(nw ? nw : 1));
        memcpy(wcopy, warm + w_start, sizeof(double) * (size_t)nw);
        printf("%-48s %7.2fms %6d %8.1fus %8.2fms %8.1fus %8.1fus\n", file, (c1 - c0) * 1e3, done, cs / (ncold - c_start) * 1e6,
               cmax * 1e3, ws / nw * 1e6, pct(wcopy, nw, 0.99) * 1e6);
        free(wcopy);
        mlcc_grammar_free(g);
    }
    double sc = 0, sw = 0;
    for (int k = 0; k < ncold; k++) sc += cold[k];
    for (int k = 0; k < nwarm; k++) sw += warm[k];
    printf("\nschemas supported: %d of %zu (%.1f%%)\n", supported, ns, 100.0 * supported / (double)ns);
    printf("compile time p50 %.2f ms, max %.2f ms\n", pct(compile, ncompile, 0.5) * 1e3, pct(compile, ncompile, 1.0) * 1e3);
    double mc = sc / ncold, mw = sw / nwarm;
    printf("mask per token, cold (cache filling): mean %.1f us, p50 %.1f us, p99 %.1f us over %d masks\n", mc * 1e6,
           pct(cold, ncold, 0.5) * 1e6, pct(cold, ncold, 0.99) * 1e6, ncold);
    printf("mask per token, warm (second request): mean %.1f us, p50 %.1f us, p99 %.1f us over %d masks\n", mw * 1e6,
           pct(warm, nwarm, 0.5) * 1e6, pct(warm, nwarm, 0.99) * 1e6, nwarm);
    free(compile);
    free(cold);
    free(warm);
    json_decref(index);
    mlcc_grammar_vocab_free(v);
    mlcc_tokenizer_free(tok);
    return 0;
}
