/* tok_json.c - small accessors for tokenizer.json fields with errors that name the field. */
#include <string.h>

#include "support/error.h"
#include "tokenizer/tok_internal.h"

int tok_json_str(json_t *obj, const char *key, const char *what, const char **out) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v)) return mlcc_set_error("%s: field '%s' must be a string", what, key);
    *out = json_string_value(v);
    return 0;
}

int tok_json_opt_str(json_t *obj, const char *key, const char **out) {
    json_t *v = json_object_get(obj, key);
    *out = json_is_string(v) ? json_string_value(v) : NULL;
    return 0;
}

int tok_json_bool(json_t *obj, const char *key, int dflt) {
    json_t *v = json_object_get(obj, key);
    if (json_is_boolean(v)) return json_is_true(v);
    return dflt;
}

tok_regex *tok_json_pattern(json_t *obj, const char *what, char **literal, size_t *literal_len) {
    json_t *p = json_object_get(obj, "pattern");
    json_t *s = json_object_get(p, "String"), *r = json_object_get(p, "Regex");
    if (literal) *literal = NULL;
    if (json_is_string(s)) {
        if (literal) {
            *literal = mlcc_xstrndup(json_string_value(s), json_string_length(s));
            *literal_len = json_string_length(s);
        }
        tok_regex *re = tok_regex_new(json_string_value(s), json_string_length(s), 1);
        if (!re) mlcc_prefix_error("%s: pattern", what);
        return re;
    }
    if (json_is_string(r)) {
        tok_regex *re = tok_regex_new(json_string_value(r), json_string_length(r), 0);
        if (!re) mlcc_prefix_error("%s: pattern", what);
        return re;
    }
    mlcc_set_error("%s: field 'pattern' must be {\"String\": ...} or {\"Regex\": ...}", what);
    return NULL;
}
