/* cmd_template.c - `mlcc template`: renders a chat template for a conversation, byte-exact
 * with transformers (Jinja2), to stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "support/error.h"
#include "support/file.h"
#include "support/json.h"
#include "template/template.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: mlcc template (--model DIR | --template FILE | --builtin NAME) --input FILE.json [--batch]\n"
            "\n"
            "Renders the chat template for the conversation in FILE.json and prints the prompt, byte for\n"
            "byte as transformers' apply_chat_template(tokenize=False) would.\n"
            "  --model DIR      the template and special tokens of a Hugging Face model folder\n"
            "                   (chat_template.jinja or tokenizer_config.json)\n"
            "  --template FILE  a Jinja template file\n"
            "  --builtin NAME   a built-in template: %s\n"
            "  --fallback NAME  with --model: the built-in to use when the model ships no template\n"
            "  --input FILE     a JSON object: messages, optional tools, documents, add_generation_prompt,\n"
            "                   bos_token, eos_token and any extra template variables\n"
            "  --batch          FILE holds a JSON array of such objects; prints a JSON array of\n"
            "                   {\"ok\": prompt} or {\"error\": message}\n"
            "  --repeat N       render N times and report the time per render on stderr (benchmark)\n"
            "  --snippets FILE  (for tests) FILE holds [{\"template\": source, \"input\": {...}}, ...];\n"
            "                   prints a JSON array of {\"ok\": output} or {\"error\": message}\n"
            "strftime_now uses MLCC_FIXED_TIME (seconds since the epoch, UTC) when set.\n",
            mlcc_chat_template_builtin_names());
}

static char *render_one(const mlcc_chat_template *ct, json_t *input, size_t *len) {
    json_t *ctx = mlcc_chat_context(input, ct->specials);
    char *out = mlcc_template_render_n(mlcc_chat_template_select(ct, input), ctx, NULL, len);
    json_decref(ctx);
    return out;
}

/* --snippets: many small templates, each with its input, in one process (differential tests). */
static int run_snippets(const char *path) {
    json_t *cases = mlcc_json_load_file(path);
    if (!cases || !json_is_array(cases)) {
        if (cases) mlcc_set_error("%s: expected a JSON array", path);
        json_decref(cases);
        fprintf(stderr, "mlcc template: %s\n", mlcc_last_error());
        return 1;
    }
    json_t *results = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        json_t *src = json_object_get(c, "template"), *r = json_object();
        char name[32];
        snprintf(name, sizeof name, "snippet%zu", i);
        mlcc_template *t = json_is_string(src) ? mlcc_template_parse(json_string_value(src), json_string_length(src), name)
                                               : NULL;
        if (!json_is_string(src)) mlcc_set_error("%s: case %zu has no \"template\" string", path, i);
        size_t len = 0;
        char *out = NULL;
        if (t) {
            mlcc_chat_template ct = {t, NULL, NULL, NULL};
            out = render_one(&ct, json_object_get(c, "input"), &len);
        }
        if (out) json_object_set_new(r, "ok", json_stringn(out, len));
        else json_object_set_new(r, "error", json_string(mlcc_last_error()));
        free(out);
        mlcc_template_free(t);
        json_array_append_new(results, r);
    }
    char *text = json_dumps(results, JSON_COMPACT | JSON_ENSURE_ASCII);
    fputs(text, stdout);
    fputc('\n', stdout);
    free(text);
    json_decref(results);
    json_decref(cases);
    return 0;
}

int cmd_template(int argc, char **argv) {
    const char *model = NULL, *file = NULL, *builtin = NULL, *fallback = NULL, *input_path = NULL;
    int batch = 0;
    long repeat = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--batch")) {
            batch = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "mlcc template: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--model")) model = argv[++i];
        else if (!strcmp(a, "--template")) file = argv[++i];
        else if (!strcmp(a, "--builtin")) builtin = argv[++i];
        else if (!strcmp(a, "--fallback")) fallback = argv[++i];
        else if (!strcmp(a, "--input")) input_path = argv[++i];
        else if (!strcmp(a, "--repeat")) repeat = atol(argv[++i]);
        else if (!strcmp(a, "--snippets")) return run_snippets(argv[++i]);
        else {
            fprintf(stderr, "mlcc template: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if ((!!model + !!file + !!builtin) != 1 || !input_path) {
        usage(stderr);
        return 2;
    }
    mlcc_chat_template ct = {0};
    if (model) {
        if (mlcc_chat_template_load_model(model, fallback, &ct) < 0) goto fail;
    } else {
        size_t len = 0;
        const char *name = file ? file : builtin;
        if (file) ct.source = mlcc_read_file(file, &len);
        else if (mlcc_chat_template_builtin(builtin)) ct.source = strdup(mlcc_chat_template_builtin(builtin));
        else mlcc_set_error("unknown built-in template '%s' (known: %s)", builtin, mlcc_chat_template_builtin_names());
        if (!ct.source) goto fail;
        if (!(ct.tmpl = mlcc_template_parse(ct.source, strlen(ct.source), name))) goto fail;
        ct.specials = json_object();
    }
    json_t *input = mlcc_json_load_file(input_path);
    if (!input) goto fail;
    int rc = 0;
    if (batch) {
        if (!json_is_array(input)) {
            mlcc_set_error("%s: --batch expects a JSON array of inputs", input_path);
            json_decref(input);
            goto fail;
        }
        json_t *results = json_array();
        size_t i;
        json_t *item;
        json_array_foreach(input, i, item) {
            size_t len;
            char *out = render_one(&ct, item, &len);
            json_t *r = json_object();
            if (out) json_object_set_new(r, "ok", json_stringn(out, len));
            else json_object_set_new(r, "error", json_string(mlcc_last_error()));
            free(out);
            json_array_append_new(results, r);
        }
        char *text = json_dumps(results, JSON_COMPACT | JSON_ENSURE_ASCII);
        fputs(text, stdout);
        fputc('\n', stdout);
        free(text);
        json_decref(results);
    } else {
        if (!json_is_object(input) || !json_is_array(json_object_get(input, "messages"))) {
            mlcc_set_error("%s: expected a JSON object with a 'messages' array", input_path);
            json_decref(input);
            goto fail;
        }
        size_t len;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        char *out = render_one(&ct, input, &len);
        for (long r = 1; out && r < repeat; r++) {
            free(out);
            out = render_one(&ct, input, &len);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (repeat > 1 && out)
            fprintf(stderr, "mlcc template: %ld renders, %.2f us per render (context conversion included)\n", repeat,
                    ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 / (double)repeat);
        if (!out) {
            json_decref(input);
            goto fail;
        }
        fwrite(out, 1, len, stdout);
        free(out);
    }
    json_decref(input);
    mlcc_chat_template_free(&ct);
    return rc;
fail:
    fprintf(stderr, "mlcc template: %s\n", mlcc_last_error());
    mlcc_chat_template_free(&ct);
    return 1;
}
