/* test_grammar_generate.c - structured generation end to end: the engine samples at
 * temperature 1 from the fixture models (random weights, real tokenizers), constrained by
 * grammars compiled from the JSON Schema fixtures; every reply must end with "stop" and be
 * valid for its schema according to the independent validator (testdata/json-schema/
 * validate.py: Debian's python3-jsonschema, Draft 2020-12 with formats), and schemas that leave
 * freedom must give different replies across seeds (the grammar constrains sampling, it does
 * not write the answer). A regex and a GBNF grammar are generated the same way and checked with
 * PCRE2 and the matcher.
 *
 * GRAMMAR_E2E_SEEDS (default 6) sets the seeds per schema (two schemas always get 20); GRAMMAR_E2E_ALL=1 uses every
 * supported schema instead of the default selection. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "grammar/grammar.h"
#include "models/runner.h"
#include "support/error.h"
#include "support/file.h"
#include "support/json.h"
#include "support/strbuf.h"
#include "test.h"

static void collect(void *ctx, const char *text, size_t len) {
    sb_append_n(ctx, text, len);
}

/* Schemas whose replies stay short enough under random sampling (bounded strings/arrays or
 * few fields), and that cover the keyword families. */
static const char *const default_schemas[] = {
    "017-glaiveai2k-calculate-area-496b4bb7.json", "035-type-union-null.json", "036-required-no-extra.json",
    "038-array-items-bounds.json", "039-prefix-items.json", "040-enum-mixed.json", "041-const.json", "042-any-of.json",
    "043-one-of.json", "044-all-of.json", "045-ref-recursive-tree.json", "047-string-length.json", "048-pattern.json",
    "049-format-date.json", "050-format-time.json", "051-format-date-time.json", "052-format-email.json",
    "053-format-uuid.json", "055-format-ipv4.json", "056-integer-bounds.json", "057-number-exclusive.json",
    "063-boolean-and-null.json", NULL};

typedef struct gen_ctx {
    mlcc_engine *e;
    mlcc_tokenizer *tok;
    int32_t *prompt;
    size_t nprompt;
    int max_tokens;
} gen_ctx;

/* Generates with seed; returns the text (malloc'ed) or NULL; *reason gets finish_reason. */
static char *generate(gen_ctx *c, const mlcc_grammar *g, uint64_t seed, const char **reason) {
    mlcc_gen_config cfg = mlcc_gen_defaults();
    cfg.sampling.temperature = 1;
    cfg.seed = seed;
    cfg.has_seed = 1;
    cfg.max_tokens = c->max_tokens;
    cfg.grammar = g;
    mlcc_strbuf text = STRBUF_INIT;
    mlcc_gen_result r;
    if (mlcc_engine_generate(c->e, c->prompt, c->nprompt, &cfg, collect, &text, &r) != 0) {
        sb_free(&text);
        *reason = "generate failed";
        return NULL;
    }
    *reason = r.finish_reason;
    if (!strcmp(r.finish_reason, "error")) fprintf(stderr, "engine error: %s\n", r.error);
    return text.data ? sb_detach(&text) : strdup("");
}

static int open_model(const char *rel, gen_ctx *c, mlcc_model **model, mlcc_model_runner *runner) {
    char *path = test_data_path(rel);
    c->tok = mlcc_tokenizer_load(path);
    CHECK_MSG(c->tok != NULL, "%s: %s", rel, mlcc_last_error());
    mlcc_model_options opt = {.max_seq = 1024};
    *model = c->tok ? mlcc_model_open(path, &opt) : NULL;
    CHECK_MSG(*model != NULL, "%s: %s", rel, mlcc_last_error());
    free(path);
    if (!*model) return -1;
    if (mlcc_model_runner_init(runner, *model, 0) != 0) {
        CHECK_MSG(0, "%s: %s", rel, mlcc_last_error());
        return -1;
    }
    c->e = mlcc_engine_new(runner, c->tok, (*model)->cfg.eos_ids, (*model)->cfg.n_eos);
    const char *prompt = "Reply with JSON:";
    CHECK(mlcc_tokenizer_encode(c->tok, prompt, strlen(prompt), 1, &c->prompt, &c->nprompt) == 0);
    c->max_tokens = 1024 - 64;
    return 0;
}

static void close_model(gen_ctx *c, mlcc_model *m, mlcc_model_runner *runner) {
    mlcc_engine_free(c->e);
    mlcc_model_runner_free(runner);
    mlcc_model_free(m);
    mlcc_tokenizer_free(c->tok);
    free(c->prompt);
}

/* Debian's python3 (the one with python3-jsonschema that validate.py names), else PATH's. */
static const char *python(void) {
    return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* Writes the replies as JSON lines {schema, text} and validates them all with one python run. */
static int validate_all(const char *dir, json_t *batch, int *nvalid) {
    char tmp[] = "/tmp/mlcc_grammar_e2e_XXXXXX";
    int fd = mkstemp(tmp);
    if (fd < 0) return -1;
    close(fd);
    if (json_dump_file(batch, tmp, JSON_COMPACT) != 0) return -1;
    char script[4096];
    snprintf(script, sizeof script,
             "%s -c 'import json,sys; sys.path.insert(0, \"%s\"); import validate\n"
             "ok = 0\n"
             "for e in json.load(open(\"%s\")):\n"
             "    s = json.load(open(\"%s/schemas/\" + e[\"schema\"]))\n"
             "    try:\n"
             "        inst = json.loads(e[\"text\"])\n"
             "        errs = list(validate.validator(s).iter_errors(inst))\n"
             "    except Exception as x:\n"
             "        errs = [x]\n"
             "    if errs: print(\"INVALID\", e[\"schema\"], repr(e[\"text\"][:300]), str(errs[0])[:200])\n"
             "    else: ok += 1\n"
             "print(\"VALID\", ok)\n"
             "sys.exit(0 if ok == len(json.load(open(\"%s\"))) else 1)'",
             python(), dir, tmp, dir, tmp);
    FILE *p = popen(script, "r");
    if (!p) return -1;
    char line[1024];
    *nvalid = 0;
    while (fgets(line, sizeof line, p)) {
        if (!strncmp(line, "VALID ", 6))
            *nvalid = atoi(line + 6);
        else
            fputs(line, stderr);
    }
    int rc = pclose(p);
    unlink(tmp);
    return rc;
}

/* Schemas that leave freedom, generated with 20 seeds: the replies must be valid, end with
 * "stop" and be mostly different. */
static const char *const twenty_seed_schemas[] = {"017-glaiveai2k-calculate-area-496b4bb7.json", "064-tool-call-arguments.json",
                                                  NULL};

static void check_schemas(const char *model_rel, int seeds, int all, const char *const *selection) {
    gen_ctx c = {0};
    mlcc_model *m;
    mlcc_model_runner runner;
    if (open_model(model_rel, &c, &m, &runner)) return;
    char *dir = test_data_path("json-schema");
    char path[4096];
    snprintf(path, sizeof path, "%s/index.json", dir);
    json_t *index = mlcc_json_load_file(path);
    json_t *batch = json_array();
    int total = 0, stopped = 0;
    size_t i;
    json_t *entry;
    json_array_foreach(index, i, entry) {
        const char *file = json_string_value(json_object_get(entry, "file"));
        int pick = 0;
        for (int k = 0; selection[k]; k++) pick |= !strcmp(selection[k], file);
        if (!pick && !all) continue;
        snprintf(path, sizeof path, "%s/schemas/%s", dir, file);
        size_t len;
        char *text = mlcc_read_file(path, &len);
        mlcc_grammar_options opt = mlcc_grammar_default_options();
        /* random weights: bound what the schema leaves open, or replies run to max_tokens */
        opt.max_string_chars = 24;
        opt.max_number_digits = 8;
        mlcc_grammar *g = text ? mlcc_grammar_from_json_schema(text, len, &opt) : NULL;
        free(text);
        if (!g) {
            if (pick) CHECK_MSG(0, "%s: %s", file, mlcc_last_error());
            continue;
        }
        json_t *distinct = json_object();
        for (int s = 0; s < seeds; s++) {
            const char *reason;
            char *out = generate(&c, g, 1000 + (uint64_t)s * 7919, &reason);
            total++;
            CHECK_MSG(out && !strcmp(reason, "stop"), "%s %s seed %d: finish_reason %s, text %.200s", model_rel, file, s, reason,
                      out ? out : "");
            if (out && !strcmp(reason, "stop")) {
                stopped++;
                json_array_append_new(batch, json_pack("{s:s, s:s}", "schema", file, "text", out));
                json_object_set_new(distinct, out, json_true());
            }
            free(out);
        }
        /* const and single-value schemas have one answer; the others should vary */
        if (strcmp(file, "041-const.json") != 0 && seeds >= 4)
            CHECK_MSG(json_object_size(distinct) >= 2, "%s %s: all %d seeds gave the same reply", model_rel, file, seeds);
        if (seeds >= 20) /* the grammar constrains sampling; it does not write the answer */
            CHECK_MSG(json_object_size(distinct) >= (size_t)seeds / 2, "%s %s: only %zu different replies from %d seeds", model_rel,
                      file, json_object_size(distinct), seeds);
        if (seeds >= 20) printf("%s %s: %zu different replies from %d seeds\n", model_rel, file, json_object_size(distinct), seeds);
        json_decref(distinct);
        mlcc_grammar_free(g);
    }
    int nvalid = 0;
    int rc = validate_all(dir, batch, &nvalid);
    CHECK_MSG(rc == 0, "%s: %d of %zu replies valid (validator exit %d)", model_rel, nvalid, json_array_size(batch), rc);
    printf("%s: %d generations, %d ended with stop, %d valid\n", model_rel, total, stopped, nvalid);
    json_decref(batch);
    json_decref(index);
    free(dir);
    close_model(&c, m, &runner);
}

/* A regex (checked with PCRE2) and a GBNF grammar (checked by re-parsing with the matcher). */
static void check_regex_and_ebnf(const char *model_rel, int seeds) {
    gen_ctx c = {0};
    mlcc_model *m;
    mlcc_model_runner runner;
    if (open_model(model_rel, &c, &m, &runner)) return;
    const char *re = "[A-Z][a-z]{2,8}( [a-z]{1,6}){0,3}[.!?]";
    mlcc_grammar *g = mlcc_grammar_from_regex(re, strlen(re));
    CHECK_MSG(g != NULL, "%s", mlcc_last_error());
    int errcode;
    PCRE2_SIZE erroff;
    mlcc_strbuf anchored = STRBUF_INIT;
    sb_printf(&anchored, "^(?:%s)$", re);
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)anchored.data, anchored.len, PCRE2_UTF, &errcode, &erroff, NULL);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    for (int s = 0; g && s < seeds; s++) {
        const char *reason;
        char *out = generate(&c, g, 77 + (uint64_t)s, &reason);
        CHECK_MSG(out && !strcmp(reason, "stop"), "regex seed %d: %s", s, reason);
        if (out) CHECK_MSG(pcre2_match(code, (PCRE2_SPTR)out, strlen(out), 0, 0, md, NULL) >= 0, "regex reply '%s' does not match", out);
        free(out);
    }
    pcre2_match_data_free(md);
    pcre2_code_free(code);
    sb_free(&anchored);
    mlcc_grammar_free(g);
    /* nesting bounded to two levels: with random weights unbounded nesting need not end */
    const char *gbnf = "root ::= \"(\" e2 \")\"\ne2 ::= t2 ([+*] t2){0,3}\nt2 ::= [0-9]{1,3} | \"(\" e1 \")\"\n"
                       "e1 ::= t1 ([+*] t1){0,3}\nt1 ::= [0-9]{1,3}\n";
    g = mlcc_grammar_from_ebnf(gbnf, strlen(gbnf), "arith.gbnf");
    CHECK(g != NULL);
    for (int s = 0; g && s < seeds; s++) {
        const char *reason;
        char *out = generate(&c, g, 99 + (uint64_t)s, &reason);
        CHECK_MSG(out && !strcmp(reason, "stop"), "gbnf seed %d: %s", s, reason);
        if (out) {
            /* the text parses with the grammar again, on a byte vocabulary */
            const char *toks[256];
            char bytes[256][2];
            size_t lens[256];
            for (int b = 0; b < 256; b++) {
                bytes[b][0] = (char)b;
                toks[b] = bytes[b];
                lens[b] = 1;
            }
            mlcc_grammar_vocab *v = mlcc_grammar_vocab_from_bytes(toks, lens, 256, NULL, 0);
            mlcc_grammar_matcher *mt = mlcc_grammar_matcher_new(g, v);
            CHECK_MSG(mlcc_grammar_accept_bytes(mt, out, strlen(out)) == 0 && mlcc_grammar_can_terminate(mt), "gbnf reply '%s'", out);
            mlcc_grammar_matcher_free(mt);
            mlcc_grammar_vocab_free(v);
        }
        free(out);
    }
    mlcc_grammar_free(g);
    close_model(&c, m, &runner);
}

int main(void) {
    char probe[256];
    snprintf(probe, sizeof probe, "%s -c 'import jsonschema' 2>/dev/null", python());
    if (system(probe) != 0) TEST_SKIP("python3-jsonschema is not installed (scripts/install-deps.sh)");
    int seeds = getenv("GRAMMAR_E2E_SEEDS") ? atoi(getenv("GRAMMAR_E2E_SEEDS")) : 6;
    int all = getenv("GRAMMAR_E2E_ALL") && atoi(getenv("GRAMMAR_E2E_ALL"));
    ir_scope_begin();
    check_schemas("models/tm-llama2", seeds, all, default_schemas);
    check_schemas("models/tm-llama3", seeds > 3 ? 3 : seeds, all, default_schemas);
    check_schemas("models/tm-llama2", 20, 0, twenty_seed_schemas);
    check_regex_and_ebnf("models/tm-qwen3", seeds);
    ir_scope_end();
    return test_finish();
}
