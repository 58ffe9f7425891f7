/* template.c - parsing entry points and the render context transformers builds. */
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/error.h"
#include "template/lexer.h"
#include "template/parser.h"
#include "template/ustr.h"

mlcc_template *mlcc_template_parse(const char *src, size_t len, const char *name) {
    if (!name) name = "<template>";
    if (!u8_valid(src, len)) {
        mlcc_set_error("%s: the template is not valid UTF-8", name);
        return NULL;
    }
    mlcc_template *t = mlcc_xcalloc(1, sizeof *t);
    t->name = mlcc_xstrdup(name);
    t->src = template_normalize_source(src, len, &t->len);
    arena_init(&t->arena);
    if (template_parse_body(t) < 0) {
        mlcc_template_free(t);
        return NULL;
    }
    return t;
}

void mlcc_template_free(mlcc_template *t) {
    if (!t) return;
    for (size_t i = 0; i < t->consts.len; i++)
        if (t->consts.data[i].kind == JV_STR) free(t->consts.data[i].u.s); /* immortal strings */
    vec_free(&t->consts);
    arena_free(&t->arena);
    free(t->src);
    free(t->name);
    free(t);
}

json_t *mlcc_chat_context(json_t *input, json_t *specials) {
    json_t *ctx = json_object();
    json_t *messages = input ? json_object_get(input, "messages") : NULL;
    if (messages) json_object_set(ctx, "messages", messages);
    else json_object_set_new(ctx, "messages", json_array());
    json_t *v;
    v = input ? json_object_get(input, "tools") : NULL;
    json_object_set(ctx, "tools", v ? v : json_null());
    v = input ? json_object_get(input, "documents") : NULL;
    json_object_set(ctx, "documents", v ? v : json_null());
    v = input ? json_object_get(input, "add_generation_prompt") : NULL;
    json_object_set(ctx, "add_generation_prompt", v ? v : json_false());
    const char *key;
    json_t *val;
    if (specials) json_object_foreach(specials, key, val) json_object_set(ctx, key, val);
    if (input) {
        json_object_foreach(input, key, val) {
            if (!strcmp(key, "messages") || !strcmp(key, "tools") || !strcmp(key, "documents") ||
                !strcmp(key, "add_generation_prompt"))
                continue;
            json_object_set(ctx, key, val);
        }
    }
    return ctx;
}
