/* bench_grammar_decode.c - decode time per token with and without a grammar, through the
 * engine, on a fixture model with a real 128k vocabulary (random weights): no grammar; an
 * always-open GBNF grammar (any text: the mask work without early stops); a JSON Schema,
 * paired with unconstrained requests of the same lengths (the same seeds' token counts, so
 * the forward passes see the same contexts), and the time the engine thread spends in the
 * grammar per token. MLCC_GRAMMAR_ASYNC=1 computes each next mask on worker threads while the
 * forward pass runs, =0 inline on the engine thread (unset: workers on 4 cores or more).
 *
 * build: make build && cc -O2 -Iinclude -Isrc bench/bench_grammar_decode.c -Lbuild -lmlcc \
 *   -lmlcc_runtime -ljansson -lm -Wl,-rpath,$PWD/build -o build/bench_grammar_decode
 * run:   build/bench_grammar_decode build/testdata/models/tm-llama3 \
 *   /work/shared/testdata/json-schema/schemas/018-glaiveai2k-create-invoice-878b1147.json */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "grammar/grammar.h"
#include "grammar/guide.h"
#include "models/runner.h"
#include "support/error.h"
#include "support/file.h"

static void sink(void *ctx, const char *t, size_t n) {
    (void)ctx, (void)t, (void)n;
}

/* Mean decode seconds per token over runs (tokens counted over all runs). */
static double per_token(mlcc_engine *e, const int32_t *prompt, size_t np, const mlcc_grammar *g, int max_tokens, int runs, int *tokens) {
    double secs = 0;
    *tokens = 0;
    for (int r = 0; r < runs; r++) {
        mlcc_gen_config cfg = mlcc_gen_defaults();
        cfg.sampling.temperature = 1;
        cfg.seed = 17 + (uint64_t)r;
        cfg.has_seed = 1;
        cfg.max_tokens = max_tokens;
        cfg.ignore_eos = g == NULL;
        cfg.grammar = g;
        mlcc_gen_result res;
        if (mlcc_engine_generate(e, prompt, np, &cfg, sink, NULL, &res) != 0) return -1;
        secs += res.decode_seconds;
        *tokens += res.completion_tokens;
    }
    return *tokens ? secs / *tokens : 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR SCHEMA.json\n", argv[0]);
        return 2;
    }
    ir_scope_begin();
    mlcc_tokenizer *tok = mlcc_tokenizer_load(argv[1]);
    mlcc_model *m = tok ? mlcc_model_open(argv[1], &(mlcc_model_options){.max_seq = 1024}) : NULL;
    if (!m) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        return 1;
    }
    mlcc_model_runner runner;
    if (mlcc_model_runner_init(&runner, m, 0) != 0) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        return 1;
    }
    mlcc_engine *e = mlcc_engine_new(&runner, tok, m->cfg.eos_ids, m->cfg.n_eos);
    int32_t *prompt;
    size_t np;
    mlcc_tokenizer_encode(tok, "Reply:", 6, 1, &prompt, &np);
    const char *any = "root ::= [\\x01-\\U0010FFFF]*\n";
    mlcc_grammar *g_any = mlcc_grammar_from_ebnf(any, strlen(any), "any.gbnf");
    size_t len;
    char *schema = mlcc_read_file(argv[2], &len);
    mlcc_grammar_options opt = mlcc_grammar_default_options();
    opt.max_string_chars = 32;
    opt.max_number_digits = 8;
    mlcc_grammar *g_json = schema ? mlcc_grammar_from_json_schema(schema, len, &opt) : NULL;
    if (!g_any || !g_json) {
        fprintf(stderr, "%s\n", mlcc_last_error());
        return 1;
    }
    int n0, n1, n2;
    per_token(e, prompt, np, NULL, 32, 1, &n0);    /* warm-up */
    per_token(e, prompt, np, g_json, 400, 5, &n2); /* fills the mask cache for these seeds */
    /* rounds alternate the three requests; each keeps its fastest round (the VM is shared) */
    double t0 = 1e9, t1 = 1e9, t2 = 1e9;
    for (int round = 0; round < 3; round++) {
        double a = per_token(e, prompt, np, NULL, 200, 3, &n0);
        double b = per_token(e, prompt, np, g_any, 200, 3, &n1);
        double c = per_token(e, prompt, np, g_json, 400, 5, &n2);
        if (a < t0) t0 = a;
        if (b < t1) t1 = b;
        if (c < t2) t2 = c;
    }
    /* JSON vs unconstrained requests of the same lengths, seed by seed */
    double best_json = 1e9, best_free = 1e9, guide_s0, guide_s1;
    uint64_t masks0, masks1;
    mlcc_grammar_guide_stats(&guide_s0, &masks0);
    int paired_tokens = 0;
    for (int round = 0; round < 3; round++) {
        double sj = 0, sf = 0;
        paired_tokens = 0;
        for (int r = 0; r < 5; r++) {
            mlcc_gen_config cfg = mlcc_gen_defaults();
            cfg.sampling.temperature = 1;
            cfg.seed = 17 + (uint64_t)r;
            cfg.has_seed = 1;
            cfg.max_tokens = 400;
            cfg.grammar = g_json;
            mlcc_gen_result res;
            if (mlcc_engine_generate(e, prompt, np, &cfg, sink, NULL, &res) != 0) return 1;
            sj += res.decode_seconds;
            int n = res.completion_tokens;
            paired_tokens += n;
            cfg.grammar = NULL;
            cfg.ignore_eos = 1;
            cfg.max_tokens = n;
            if (mlcc_engine_generate(e, prompt, np, &cfg, sink, NULL, &res) != 0) return 1;
            sf += res.decode_seconds;
        }
        if (sj < best_json) best_json = sj;
        if (sf < best_free) best_free = sf;
    }
    mlcc_grammar_guide_stats(&guide_s1, &masks1);
    printf("mask computation: MLCC_GRAMMAR_ASYNC=%s (1: worker threads overlapping the forward pass, 0: inline; "
           "unset: workers on 4 cores or more)\n", getenv("MLCC_GRAMMAR_ASYNC") ? getenv("MLCC_GRAMMAR_ASYNC") : "unset");
    printf("no grammar:        %.3f ms/token (%d tokens a round)\n", t0 * 1e3, n0);
    printf("any-text grammar:  %.3f ms/token (%d tokens), overhead %+.1f%%\n", t1 * 1e3, n1, 100 * (t1 - t0) / t0);
    printf("JSON schema:       %.3f ms/token (%d tokens, warm cache)\n", t2 * 1e3, n2);
    printf("JSON schema vs unconstrained, same lengths (%d tokens a round): %.3f vs %.3f ms/token, overhead %+.1f%%\n",
           paired_tokens, best_json / paired_tokens * 1e3, best_free / paired_tokens * 1e3,
           100 * (best_json - best_free) / best_free);
    /* the grammar's share of a decode step: what the engine thread waited for in it */
    double per_mask = (guide_s1 - guide_s0) / (double)(masks1 - masks0);
    printf("engine thread in the grammar (waiting for the mask, applying it, accepting the token): %.1f us/token, "
           "%.2f%% of a %.3f ms decode step\n",
           per_mask * 1e6, 100 * per_mask / (best_json / paired_tokens), best_json / paired_tokens * 1e3);
    mlcc_grammar_free(g_any);
    mlcc_grammar_free(g_json);
    free(schema);
    free(prompt);
    mlcc_engine_free(e);
    mlcc_model_runner_free(&runner);
    mlcc_model_free(m);
    mlcc_tokenizer_free(tok);
    ir_scope_end();
    return 0;
}
