/* test_template_refs.c - every fixture template x conversation must render byte for byte as
 * Jinja2 (transformers' setup) rendered it in testdata/templates/refs.json, and fail where
 * Jinja2 raised. */
#include <stdlib.h>
#include <string.h>

#include "support/error.h"
#include "support/file.h"
#include "support/json.h"
#include "template/template.h"
#include "test.h"

static json_t *load(const char *rel) {
    char *path = test_data_path(rel);
    json_t *j = mlcc_json_load_file(path);
    if (!j) fprintf(stderr, "%s\n", mlcc_last_error());
    free(path);
    return j;
}

/* The input render.py sees: the conversation plus the template's special tokens. */
static json_t *make_input(json_t *conv, json_t *specials) {
    json_t *in = json_deep_copy(conv);
    const char *k;
    json_t *v;
    json_object_foreach(specials, k, v) json_object_set(in, k, v);
    return in;
}

int main(void) {
    /* the reference clock: 2026-11-24 12:00:00 UTC */
    setenv("MLCC_FIXED_TIME", "1795521600", 1);
    json_t *refs = load("templates/refs.json"), *convs = load("templates/conversations.json"),
           *specials = load("templates/specials.json");
    CHECK(refs && convs && specials);
    if (!refs || !convs || !specials) return test_finish();
    const char *tname;
    json_t *by_conv;
    int renders = 0, errors = 0;
    json_object_foreach(refs, tname, by_conv) {
        char rel[256];
        snprintf(rel, sizeof rel, "templates/%s.jinja", tname);
        char *path = test_data_path(rel);
        size_t len;
        char *src = mlcc_read_file(path, &len);
        mlcc_template *t = src ? mlcc_template_parse(src, len, path) : NULL;
        CHECK_MSG(t != NULL, "%s: %s", tname, mlcc_last_error());
        size_t i;
        json_t *conv;
        json_array_foreach(convs, i, conv) {
            if (!t) break;
            const char *cname = json_string_value(json_object_get(conv, "name"));
            json_t *ref = json_object_get(by_conv, cname);
            json_t *input = make_input(conv, json_object_get(specials, tname));
            json_t *ctx = mlcc_chat_context(input, NULL);
            mlcc_template_error err;
            char *out = mlcc_template_render_ex(t, ctx, &err);
            const char *want = json_string_value(json_object_get(ref, "ok"));
            if (want) {
                CHECK_MSG(out != NULL, "%s x %s: %s", tname, cname, mlcc_last_error());
                if (out) CHECK_MSG(strcmp(out, want) == 0, "%s x %s: render differs:\n%s\n--- want:\n%s", tname, cname, out, want);
                renders++;
            } else {
                CHECK_MSG(out == NULL, "%s x %s: rendered, but Jinja2 raised %s", tname, cname,
                          json_string_value(json_object_get(ref, "error")));
                if (!out) {
                    /* the error names the template, a line and a column */
                    CHECK_MSG(strstr(mlcc_last_error(), path) != NULL && err.line > 0 && err.col > 0, "%s",
                              mlcc_last_error());
                    /* raise_exception's message reaches the user verbatim */
                    const char *ref_err = json_string_value(json_object_get(ref, "error"));
                    if (!strncmp(ref_err, "TemplateError: ", 15)) {
                        CHECK(err.raised);
                        CHECK_MSG(strcmp(err.message, ref_err + 15) == 0, "%s vs %s", err.message, ref_err);
                    }
                }
                errors++;
            }
            free(out);
            json_decref(ctx);
            json_decref(input);
        }
        mlcc_template_free(t);
        free(src);
        free(path);
    }
    printf("%d renders, %d expected errors checked\n", renders, errors);
    CHECK(renders > 0);
    json_decref(refs);
    json_decref(convs);
    json_decref(specials);
    return test_finish();
}
