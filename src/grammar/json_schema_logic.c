/* json_schema_logic.c - reasoning about JSON Schemas for the grammar compiler: `not` rewritten
 * into positive schemas, and proofs that two schemas share no value (so oneOf is anyOf).
 *
 * `not`: rest and not N is split by N's keywords (a schema is the conjunction of its keywords,
 * so its negation is the disjunction of theirs) into an anyOf of positive schemas, each merged
 * with rest. A keyword that applies to one kind of value (minLength to strings, required to
 * objects, ...) is satisfied by every other kind, so its negation is "this kind, with the
 * complement": minimum m -> exclusiveMaximum m, minLength n -> maxLength n-1,
 * required [a, b] -> a or b forbidden, properties {p: S} -> p present and not S, propertyNames
 * {not: {enum: K}} -> one of the keys K present; type T -> the other types; enum/const V ->
 * rest without those values (strings: any string but those; numbers: above or below all of
 * them, a subset); not X -> X; anyOf [A, B] -> not A and not B; allOf [A, B] -> not A or not
 * B. What has no such complement here (pattern, format, items, multipleOf, ...) is an error
 * naming it. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "grammar/json_schema.h"
#include "support/error.h"

static const char *const all_types[] = {"null", "boolean", "object", "array", "string", "number", NULL};

/* The kind of value a keyword constrains (others satisfy it), or NULL. */
static const char *family_of(const char *kw) {
    static const char *const fam[][2] = {
        {"required", "object"}, {"properties", "object"}, {"propertyNames", "object"}, {"minProperties", "object"},
        {"maxProperties", "object"}, {"additionalProperties", "object"}, {"patternProperties", "object"},
        {"minItems", "array"}, {"maxItems", "array"}, {"items", "array"}, {"prefixItems", "array"},
        {"uniqueItems", "array"}, {"minLength", "string"}, {"maxLength", "string"}, {"pattern", "string"},
        {"format", "string"}, {JS_NOT_STRINGS, "string"}, {JS_NOT_PATTERNS, "string"}, {JS_ALL_PATTERNS, "string"}, {"minimum", "number"}, {"maximum", "number"},
        {"exclusiveMinimum", "number"}, {"exclusiveMaximum", "number"}, {"multipleOf", "number"},
        {JS_NOT_MULTIPLES, "number"}};
    for (size_t i = 0; i < sizeof fam / sizeof fam[0]; i++)
        if (!strcmp(kw, fam[i][0])) return fam[i][1];
    return NULL;
}

/* Is the JSON value v of JSON Schema type t? */
static int has_type(json_t *v, const char *t) {
    if (!strcmp(t, "null")) return json_is_null(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "integer"))
        return json_is_integer(v) || (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    return 0;
}

/* JSON Schema equality: numbers by value (1 equals 1.0), the rest as jansson compares. */
static int same_value(json_t *a, json_t *b) {
    if (json_is_number(a) && json_is_number(b)) return json_number_value(a) == json_number_value(b);
    return json_equal(a, b);
}

static int in_list(json_t *list, json_t *v) {
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) if (same_value(x, v)) return 1;
    return 0;
}

static size_t utf8_chars(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

int js_pattern_search(const char *re, const char *text) {
    int errcode;
    PCRE2_SIZE erroff;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &errcode, &erroff, NULL);
    if (!code) return -1;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(code, NULL);
    int hit = pcre2_match(code, (PCRE2_SPTR)text, strlen(text), 0, 0, md, NULL) >= 0;
    pcre2_match_data_free(md);
    pcre2_code_free(code);
    return hit;
}

/* 1, 0 or -1 (unknown) combined over keywords: any 0 wins, then any -1. */
static int both(int a, int b) {
    return !a || !b ? 0 : a < 0 || b < 0 ? -1 : 1;
}

static int check_count(json_t *s, const char *kw, size_t n, int is_max) {
    json_t *b = json_object_get(s, kw);
    if (!json_is_number(b)) return 1;
    return is_max ? (double)n <= json_number_value(b) : (double)n >= json_number_value(b);
}

static int check_object(jsg *j, json_t *s, json_t *v, int depth) {
    int r = check_count(s, "minProperties", json_object_size(v), 0) && check_count(s, "maxProperties", json_object_size(v), 1);
    json_t *req = json_object_get(s, "required"), *props = json_object_get(s, "properties");
    json_t *pp = json_object_get(s, "patternProperties"), *addl = json_object_get(s, "additionalProperties");
    size_t i;
    json_t *x;
    json_array_foreach(req, i, x) if (json_is_string(x) && !json_object_get(v, json_string_value(x))) r = 0;
    const char *k;
    json_object_foreach(v, k, x) {
        if (!r) break;
        int named = 0;
        json_t *ps = json_is_object(props) ? json_object_get(props, k) : NULL;
        if (ps) {
            named = 1;
            r = both(r, js_value_check(j, ps, x, depth + 1));
        }
        const char *re;
        json_t *rs;
        if (json_is_object(pp)) json_object_foreach(pp, re, rs) {
            int hit = js_pattern_search(re, k);
            if (hit < 0) r = both(r, -1);
            if (hit > 0) {
                named = 1;
                r = both(r, js_value_check(j, rs, x, depth + 1));
            }
        }
        if (!named && addl) r = both(r, js_value_check(j, addl, x, depth + 1));
    }
    return r;
}

static int check_array(jsg *j, json_t *s, json_t *v, int depth) {
    size_t n = json_array_size(v);
    int r = check_count(s, "minItems", n, 0) && check_count(s, "maxItems", n, 1);
    json_t *prefix = json_object_get(s, "prefixItems"), *items = json_object_get(s, "items");
    if (json_is_array(items)) { /* draft 4-7 tuple */
        prefix = items;
        items = json_object_get(s, "additionalItems");
    }
    size_t k = json_is_array(prefix) ? json_array_size(prefix) : 0;
    for (size_t i = 0; i < n && r; i++) {
        json_t *is = i < k ? json_array_get(prefix, i) : items;
        if (is) r = both(r, js_value_check(j, is, json_array_get(v, i), depth + 1));
    }
    if (r && json_is_true(json_object_get(s, "uniqueItems")))
        for (size_t a = 0; a < n && r; a++)
            for (size_t b = a + 1; b < n && r; b++)
                if (same_value(json_array_get(v, a), json_array_get(v, b))) r = 0;
    return r;
}

int js_value_check(jsg *j, json_t *s, json_t *v, int depth) {
    if (json_is_false(s)) return 0;
    if (!json_is_object(s)) return 1;
    if (depth > 32) return -1;
    int r = 1;
    const char *kw;
    json_t *x;
    json_object_foreach(s, kw, x) {
        if (!r) break;
        if (!js_is_constraint(kw) && strcmp(kw, "$ref") && strcmp(kw, JS_LENIENT)) continue;
        if (!strcmp(kw, "type")) {
            int any = 0;
            json_t *list = json_is_string(x) ? json_pack("[O]", x) : json_incref(x);
            size_t i;
            json_t *t;
            json_array_foreach(list, i, t) any |= json_is_string(t) && has_type(v, json_string_value(t));
            json_decref(list);
            r = any;
        } else if (!strcmp(kw, "enum"))
            r = json_is_array(x) && in_list(x, v);
        else if (!strcmp(kw, "const"))
            r = same_value(x, v);
        else if (!strcmp(kw, JS_NOT_STRINGS))
            r = !json_is_string(v) || !in_list(x, v);
        else if (!strcmp(kw, JS_NOT_PATTERNS) || !strcmp(kw, JS_ALL_PATTERNS)) {
            int want = !strcmp(kw, JS_ALL_PATTERNS); /* each must match (or none) */
            size_t i;
            json_t *p;
            r = 1;
            if (json_is_string(v)) json_array_foreach(x, i, p) {
                int hit = json_is_string(p) ? js_pattern_search(json_string_value(p), json_string_value(v)) : -1;
                if (hit < 0) r = -1;
                else if (hit != want && r == 1) r = 0;
            }
        } else if (!strcmp(kw, "minLength") || !strcmp(kw, "maxLength"))
            r = !json_is_string(v) || check_count(s, kw, utf8_chars(json_string_value(v)), kw[1] == 'a');
        else if (!strcmp(kw, "pattern")) {
            int hit = json_is_string(v) && json_is_string(x) ? js_pattern_search(json_string_value(x), json_string_value(v)) : 1;
            r = hit < 0 ? -1 : hit;
        } else if (!strcmp(kw, "format"))
            r = json_is_string(v) ? -1 : 1; /* the grammar's formats are not re-checked here */
        else if (!strcmp(kw, "minimum") || !strcmp(kw, "maximum") || !strcmp(kw, "exclusiveMinimum") ||
                 !strcmp(kw, "exclusiveMaximum")) {
            if (json_is_number(v) && json_is_number(x)) {
                double a = json_number_value(v), b = json_number_value(x);
                r = kw[0] == 'm' ? (kw[1] == 'i' ? a >= b : a <= b) : (kw[9] == 'M' && kw[10] == 'i' ? a > b : a < b);
            }
        } else if (!strcmp(kw, "multipleOf")) {
            if (json_is_number(v) && json_is_number(x) && json_number_value(x) > 0) {
                double q = json_number_value(v) / json_number_value(x);
                r = q == floor(q);
            }
        } else if (!strcmp(kw, JS_NOT_MULTIPLES)) {
            size_t i;
            json_t *k;
            if (json_is_number(v)) json_array_foreach(x, i, k) {
                double q = json_number_value(v) / json_number_value(k);
                if (q == floor(q)) r = 0;
            }
        } else if (!strcmp(kw, "not")) {
            int n = js_value_check(j, x, v, depth + 1);
            r = n < 0 ? -1 : !n;
        } else if (!strcmp(kw, "allOf") || !strcmp(kw, "anyOf") || !strcmp(kw, "oneOf")) {
            size_t i, ones = 0, unknown = 0;
            json_t *br;
            int all = 1;
            json_array_foreach(x, i, br) {
                int c = js_value_check(j, br, v, depth + 1);
                all = both(all, c);
                ones += c == 1;
                unknown += c < 0;
            }
            if (!strcmp(kw, "allOf")) r = all;
            else if (unknown) r = -1;
            else r = !strcmp(kw, "anyOf") ? ones > 0 : ones == 1;
        } else if (!strcmp(kw, "$ref")) {
            json_t *t = json_is_string(x) ? js_resolve_pointer(j, json_string_value(x), "") : NULL;
            if (!t) mlcc_clear_error();
            r = t ? js_value_check(j, t, v, depth + 1) : -1;
        } else if (!strcmp(kw, "if")) {
            int c = js_value_check(j, x, v, depth + 1);
            json_t *branch = c > 0 ? json_object_get(s, "then") : json_object_get(s, "else");
            r = c < 0 ? -1 : branch ? js_value_check(j, branch, v, depth + 1) : 1;
        } else if (!strcmp(kw, "propertyNames")) {
            const char *k;
            json_t *y;
            if (json_is_object(v)) json_object_foreach(v, k, y) {
                json_t *name = json_string(k);
                r = both(r, name ? js_value_check(j, x, name, depth + 1) : -1);
                json_decref(name);
            }
        } else if (!strcmp(kw, "then") || !strcmp(kw, "else") || !strcmp(kw, "$defs") || !strcmp(kw, "definitions") ||
                   !strcmp(kw, "additionalItems") || !strcmp(kw, "prefixItems") || !strcmp(kw, "items") ||
                   !strcmp(kw, "minItems") || !strcmp(kw, "maxItems") || !strcmp(kw, "uniqueItems") ||
                   !strcmp(kw, "properties") || !strcmp(kw, "required") || !strcmp(kw, "patternProperties") ||
                   !strcmp(kw, "additionalProperties") || !strcmp(kw, "minProperties") || !strcmp(kw, "maxProperties") ||
                   !strcmp(kw, JS_LENIENT))
            continue; /* below, or with if */
        else
            r = both(r, -1); /* dependencies, propertyNames, contains ...: not checked here */
    }
    if (r && json_is_array(v)) r = both(r, check_array(j, s, v, depth));
    if (r && json_is_object(v)) r = both(r, check_object(j, s, v, depth));
    return r;
}

/* ---- not ---- */

/* Adds rest merged with x (stolen) to the disjuncts, unless it allows nothing or is there. */
static int add_merged(jsg *j, json_t *out, json_t *rest, json_t *x, const char *ptr) {
    int err = 0;
    json_t *m = js_merge(j, rest, x, ptr, &err);
    json_decref(x);
    if (!m) return -1;
    json_t *t = json_is_object(m) ? json_object_get(m, "type") : NULL;
    int empty = json_is_false(m) || (json_is_array(t) && !json_array_size(t)) ||
                (json_is_array(json_object_get(m, "enum")) && !json_array_size(json_object_get(m, "enum")));
    size_t i;
    json_t *y;
    json_array_foreach(out, i, y) if (json_equal(y, m)) empty = 1;
    if (empty)
        json_decref(m);
    else
        json_array_append_new(out, m);
    return 0;
}

/* rest without the values of vals (an array). */
static int negate_values(jsg *j, json_t *out, json_t *rest, json_t *vals, const char *ptr) {
    json_t *en = json_object_get(rest, "enum"), *cn = json_object_get(rest, "const");
    if (en || cn) { /* rest lists its values: drop those */
        json_t *keep = json_array(), *copy = json_copy(rest);
        size_t i, n = cn ? 1 : json_array_size(en);
        for (i = 0; i < n; i++) {
            json_t *x = cn ? cn : json_array_get(en, i);
            if (!in_list(vals, x)) json_array_append(keep, x);
        }
        json_object_del(copy, "const");
        json_object_set_new(copy, "enum", keep);
        if (json_array_size(keep))
            json_array_append_new(out, copy);
        else
            json_decref(copy);
        return 0;
    }
    /* by kind of value: the kinds rest allows (all when it says none) */
    json_t *t = json_object_get(rest, "type");
    for (int k = 0; all_types[k]; k++) {
        const char *kind = all_types[k];
        int allowed = !t;
        if (json_is_string(t)) allowed = !strcmp(json_string_value(t), kind) || (!strcmp(kind, "number") && !strcmp(json_string_value(t), "integer"));
        size_t i;
        json_t *x;
        if (json_is_array(t)) json_array_foreach(t, i, x) allowed |= json_is_string(x) && (!strcmp(json_string_value(x), kind) || (!strcmp(kind, "number") && !strcmp(json_string_value(x), "integer")));
        if (!allowed) continue;
        json_t *mine = json_array();
        json_array_foreach(vals, i, x) if (has_type(x, kind)) json_array_append(mine, x);
        json_t *branch = NULL;
        if (!json_array_size(mine))
            branch = json_pack("{s:s}", "type", kind);
        else if (!strcmp(kind, "boolean")) {
            json_t *left = json_array();
            if (!in_list(mine, json_true())) json_array_append_new(left, json_true());
            if (!in_list(mine, json_false())) json_array_append_new(left, json_false());
            branch = json_array_size(left) ? json_pack("{s:s, s:o}", "type", kind, "enum", left) : (json_decref(left), NULL);
        } else if (!strcmp(kind, "string"))
            branch = json_pack("{s:s, s:O}", "type", kind, JS_NOT_STRINGS, mine);
        else if (!strcmp(kind, "number")) {
            /* above or below every excluded number (a subset: the values between are lost) */
            double lo = INFINITY, hi = -INFINITY;
            json_array_foreach(mine, i, x) {
                lo = fmin(lo, json_number_value(x));
                hi = fmax(hi, json_number_value(x));
            }
            if (add_merged(j, out, rest, json_pack("{s:s, s:f}", "type", kind, "exclusiveMinimum", hi), ptr)) {
                json_decref(mine);
                return -1;
            }
            branch = json_pack("{s:s, s:f}", "type", kind, "exclusiveMaximum", lo);
        } else if (!strcmp(kind, "null"))
            branch = NULL;
        else {
            json_decref(mine);
            return js_err(ptr, "'not' with an %s in enum/const is not supported", kind);
        }
        json_decref(mine);
        if (branch && add_merged(j, out, rest, branch, ptr)) return -1;
    }
    return 0;
}

/* The complements of one keyword of a kind (within that kind) added as disjuncts. */
static int negate_family_keyword(jsg *j, json_t *out, json_t *rest, const char *kw, json_t *v, const char *family,
                                 const char *ptr) {
    static const char *const flip[][2] = {{"minimum", "exclusiveMaximum"}, {"maximum", "exclusiveMinimum"},
                                          {"exclusiveMinimum", "maximum"}, {"exclusiveMaximum", "minimum"}};
    for (size_t i = 0; i < 4; i++)
        if (!strcmp(kw, flip[i][0])) {
            if (!json_is_number(v)) return js_err(ptr, "'%s' is not a number", kw);
            return add_merged(j, out, rest, json_pack("{s:s, s:O}", "type", family, flip[i][1], v), ptr);
        }
    static const char *const counts[][2] = {{"minLength", "maxLength"}, {"maxLength", "minLength"},
                                            {"minItems", "maxItems"},   {"maxItems", "minItems"},
                                            {"minProperties", "maxProperties"}, {"maxProperties", "minProperties"}};
    for (size_t i = 0; i < 6; i++)
        if (!strcmp(kw, counts[i][0])) {
            if (!json_is_integer(v) || json_integer_value(v) < 0) return js_err(ptr, "'%s' is not a non-negative integer", kw);
            json_int_t n = json_integer_value(v);
            int is_min = !strncmp(kw, "min", 3);
            if (is_min && n == 0) return 0; /* always satisfied */
            return add_merged(j, out, rest, json_pack("{s:s, s:I}", "type", family, counts[i][1], is_min ? n - 1 : n + 1), ptr);
        }
    size_t i;
    json_t *x;
    if (!strcmp(kw, "required")) { /* one of the names absent */
        if (!json_is_array(v)) return js_err(ptr, "%s", "'required' is not an array");
        json_array_foreach(v, i, x) {
            if (!json_is_string(x)) return js_err(ptr, "%s", "'required' holds a non-string");
            if (add_merged(j, out, rest, json_pack("{s:s, s:{s:b}}", "type", family, "properties", json_string_value(x), 0), ptr)) return -1;
        }
        return 0;
    }
    if (!strcmp(kw, "properties")) { /* one of them present with a value its schema rejects */
        if (!json_is_object(v)) return js_err(ptr, "%s", "'properties' is not an object");
        const char *k;
        json_object_foreach(v, k, x) {
            json_t *b = json_pack("{s:s, s:[s], s:{s:{s:O}}}", "type", family, "required", k, "properties", k, "not", x);
            if (j->lenient_not) /* the nested not is built later: it must be lenient too */
                json_object_set_new(json_object_get(json_object_get(b, "properties"), k), JS_LENIENT, json_true());
            if (add_merged(j, out, rest, b, ptr)) return -1;
        }
        return 0;
    }
    if (!strcmp(kw, "propertyNames")) { /* some key outside propertyNames: only {not: {enum/const}} */
        json_t *inner = json_is_object(v) ? json_object_get(v, "not") : NULL;
        json_t *vals = json_is_object(inner) ? json_object_get(inner, "enum") : NULL;
        json_t *cn = json_is_object(inner) ? json_object_get(inner, "const") : NULL;
        if (!inner || json_object_size(v) != 1 || json_object_size(inner) != 1 || (!json_is_array(vals) && !cn))
            return js_err(ptr, "%s", "'not' of propertyNames is supported only as not {propertyNames: {not: {enum or const}}}");
        json_t *list = cn ? json_pack("[O]", cn) : json_incref(vals);
        int rc = 0;
        json_array_foreach(list, i, x) {
            if (!json_is_string(x)) continue; /* no key has it */
            if ((rc = add_merged(j, out, rest, json_pack("{s:s, s:[O]}", "type", family, "required", x), ptr))) break;
        }
        json_decref(list);
        return rc;
    }
    if (!strcmp(kw, "multipleOf")) { /* the integers that are not multiples (a subset: no fractions) */
        if (!json_is_number(v) || json_number_value(v) <= 0) return js_err(ptr, "%s", "'multipleOf' is not a positive number");
        return add_merged(j, out, rest, json_pack("{s:s, s:[O]}", "type", family, JS_NOT_MULTIPLES, v), ptr);
    }
    if (!strcmp(kw, JS_NOT_MULTIPLES)) { /* a multiple of one of them */
        json_array_foreach(v, i, x) if (add_merged(j, out, rest, json_pack("{s:s, s:O}", "type", family, "multipleOf", x), ptr)) return -1;
        return 0;
    }
    if (!strcmp(kw, "uniqueItems") && json_is_false(v)) return 0;
    if (!strcmp(kw, "pattern")) /* a string not matching it */
        return add_merged(j, out, rest, json_pack("{s:s, s:[O]}", "type", family, JS_NOT_PATTERNS, v), ptr);
    if (!strcmp(kw, JS_NOT_PATTERNS) || !strcmp(kw, JS_ALL_PATTERNS)) { /* matching one / not matching one */
        int kw_not = !strcmp(kw, JS_NOT_PATTERNS);
        json_array_foreach(v, i, x) {
            json_t *b = kw_not ? json_pack("{s:s, s:O}", "type", family, "pattern", x) : json_pack("{s:s, s:[O]}", "type", family, JS_NOT_PATTERNS, x);
            if (add_merged(j, out, rest, b, ptr)) return -1;
        }
        return 0;
    }
    if (!strcmp(kw, JS_NOT_STRINGS)) /* not (a string other than these): one of these */
        return add_merged(j, out, rest, json_pack("{s:O}", "enum", v), ptr);
    return js_err(ptr, "'not' with '%s' is not supported (its complement is not built)", kw);
}

static int negate_into(jsg *j, json_t *out, json_t *rest, json_t *n, const char *ptr);

/* rest and not each of list (rest and not A and not B ...), as disjuncts added to out. */
static int negate_all(jsg *j, json_t *out, json_t *rest, json_t *list, const char *ptr) {
    json_t *cur = json_pack("[O]", rest);
    size_t i;
    json_t *x;
    int rc = 0;
    json_array_foreach(list, i, x) {
        json_t *next = json_array();
        size_t k;
        json_t *r;
        json_array_foreach(cur, k, r) if ((rc = negate_into(j, next, r, x, ptr))) break;
        json_decref(cur);
        cur = next;
        if (rc) break;
    }
    if (!rc) json_array_foreach(cur, i, x) json_array_append(out, x);
    json_decref(cur);
    return rc;
}

/* Adds the disjuncts of rest and not n to out. */
static int negate_into(jsg *j, json_t *out, json_t *rest, json_t *n, const char *ptr) {
    if (++j->negations > 2000) return js_err(ptr, "%s", "'not' makes the schema too large");
    if (json_is_false(n)) {
        json_array_append(out, rest);
        return 0;
    }
    if (json_is_true(n)) return 0;
    if (!json_is_object(n)) return js_err(ptr, "%s", "'not' is not a schema");
    json_t *d = js_deref(j, n, ptr);
    if (!d) return -1;
    int rc = 0;
    const char *kw;
    json_t *v;
    json_object_foreach(d, kw, v) {
        if (rc) break;
        if (!js_is_constraint(kw)) continue;
        const char *family = family_of(kw);
        if (family) {
            /* other kinds of value satisfy the keyword, so its negation is of this kind only */
            rc = negate_family_keyword(j, out, rest, kw, v, family, ptr);
            if (rc && j->lenient_not) { /* a subset: values only this complement allows are lost */
                if (!j->lenient_dropped++) snprintf(j->lenient_why, sizeof j->lenient_why, "%s", mlcc_last_error());
                mlcc_clear_error();
                rc = 0;
            }
        } else if (!strcmp(kw, "type")) {
            json_t *t = json_is_string(v) ? json_pack("[O]", v) : json_incref(v);
            json_t *left = json_array();
            int has_int = 0;
            size_t i;
            json_t *x;
            json_array_foreach(t, i, x) has_int |= json_is_string(x) && !strcmp(json_string_value(x), "integer");
            /* not integer: the non-integer numbers are left out (a subset) */
            for (int k = 0; all_types[k]; k++) {
                json_t *name = json_string(all_types[k]);
                int excluded = in_list(t, name) || (!strcmp(all_types[k], "number") && has_int);
                if (!excluded)
                    json_array_append(left, name);
                json_decref(name);
            }
            json_decref(t);
            rc = add_merged(j, out, rest, json_pack("{s:o}", "type", left), ptr);
        } else if (!strcmp(kw, "enum") || !strcmp(kw, "const")) {
            json_t *vals = !strcmp(kw, "const") ? json_pack("[O]", v) : json_incref(v);
            rc = json_is_array(vals) ? negate_values(j, out, rest, vals, ptr) : js_err(ptr, "%s", "'enum' is not an array");
            json_decref(vals);
        } else if (!strcmp(kw, "not")) {
            rc = add_merged(j, out, rest, json_incref(v), ptr);
        } else if (!strcmp(kw, "anyOf") || !strcmp(kw, "oneOf")) {
            if (!json_is_array(v)) {
                rc = js_err(ptr, "'%s' is not an array", kw);
                break;
            }
            if (!strcmp(kw, "oneOf")) { /* not oneOf is not anyOf unless the branches are disjoint */
                size_t a, b, cnt = json_array_size(v);
                for (a = 0; a < cnt && !rc; a++)
                    for (b = a + 1; b < cnt && !rc; b++)
                        if (!js_disjoint(j, json_array_get(v, a), json_array_get(v, b), 0))
                            rc = js_err(ptr, "%s", "'not' of a oneOf whose branches may overlap is not supported");
                if (rc) break;
            }
            rc = negate_all(j, out, rest, v, ptr);
        } else if (!strcmp(kw, "allOf")) {
            size_t i;
            json_t *x;
            if (!json_is_array(v)) rc = js_err(ptr, "%s", "'allOf' is not an array");
            else json_array_foreach(v, i, x) if ((rc = negate_into(j, out, rest, x, ptr))) break;
        } else if (!strcmp(kw, "$ref") || !strcmp(kw, "$defs") || !strcmp(kw, "definitions"))
            continue;
        else
            rc = js_err(ptr, "'not' with '%s' is not supported", kw);
    }
    json_decref(d);
    return rc;
}

json_t *js_negate(jsg *j, json_t *rest, json_t *n, const char *ptr) {
    json_t *out = json_array();
    if (negate_into(j, out, rest, n, ptr)) {
        json_decref(out);
        return NULL;
    }
    json_t *res;
    if (!json_array_size(out))
        res = json_false();
    else if (json_array_size(out) == 1)
        res = json_incref(json_array_get(out, 0));
    else
        res = json_pack("{s:O}", "anyOf", out);
    json_decref(out);
    return res;
}

/* ---- disjointness (for oneOf) ---- */

/* The kinds of value s allows: bits in all_types order (integer counts as number). */
static unsigned kinds_of(json_t *s) {
    if (json_is_false(s)) return 0;
    if (!json_is_object(s)) return 0x3F;
    json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    unsigned from_values = 0x3F;
    if (cn || json_is_array(en)) {
        from_values = 0;
        size_t i, n = cn ? 1 : json_array_size(en);
        for (i = 0; i < n; i++) {
            json_t *x = cn ? cn : json_array_get(en, i);
            for (int k = 0; all_types[k]; k++)
                if (has_type(x, all_types[k])) from_values |= 1u << k;
        }
    }
    json_t *t = json_object_get(s, "type");
    if (!t) return from_values;
    unsigned bits = 0;
    json_t *list = json_is_string(t) ? json_pack("[O]", t) : json_incref(t);
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) {
        if (!json_is_string(x)) continue;
        const char *name = json_string_value(x);
        for (int k = 0; all_types[k]; k++)
            if (!strcmp(name, all_types[k]) || (!strcmp(name, "integer") && !strcmp(all_types[k], "number"))) bits |= 1u << k;
    }
    json_decref(list);
    return bits & from_values;
}

/* Does s forbid property name (false schema, or additionalProperties false without it)? */
static int forbids(json_t *s, const char *name) {
    json_t *props = json_object_get(s, "properties");
    json_t *p = json_is_object(props) ? json_object_get(props, name) : NULL;
    if (p) return json_is_false(p);
    json_t *pp = json_object_get(s, "patternProperties");
    return json_is_false(json_object_get(s, "additionalProperties")) && (!json_is_object(pp) || !json_object_size(pp));
}

/* Numeric range of s: [lo, hi] with open ends where strict. */
static void range_of(json_t *s, double *lo, int *lo_x, double *hi, int *hi_x) {
    json_t *b;
    *lo = -INFINITY, *hi = INFINITY, *lo_x = *hi_x = 0;
    if (json_is_number(b = json_object_get(s, "minimum"))) *lo = json_number_value(b);
    if (json_is_number(b = json_object_get(s, "exclusiveMinimum")) && json_number_value(b) >= *lo) *lo = json_number_value(b), *lo_x = 1;
    if (json_is_number(b = json_object_get(s, "maximum"))) *hi = json_number_value(b);
    if (json_is_number(b = json_object_get(s, "exclusiveMaximum")) && json_number_value(b) <= *hi) *hi = json_number_value(b), *hi_x = 1;
}

static int disjoint_objects(jsg *j, json_t *a, json_t *b, int depth) {
    for (int side = 0; side < 2; side++) {
        json_t *x = side ? b : a, *y = side ? a : b;
        json_t *req = json_object_get(x, "required");
        size_t i;
        json_t *r;
        json_array_foreach(req, i, r) {
            if (!json_is_string(r)) continue;
            const char *name = json_string_value(r);
            if (forbids(y, name)) return 1;
            json_t *px = json_object_get(json_object_get(x, "properties"), name);
            json_t *py = json_object_get(json_object_get(y, "properties"), name);
            if (px && py && js_disjoint(j, px, py, depth + 1)) return 1;
        }
    }
    return 0;
}

int js_disjoint(jsg *j, json_t *a, json_t *b, int depth) {
    if (depth > 16) return 0;
    if (json_is_false(a) || json_is_false(b)) return 1;
    if (!json_is_object(a) || !json_is_object(b)) return 0;
    json_t *da = js_deref(j, a, ""), *db = da ? js_deref(j, b, "") : NULL;
    if (!da || !db) {
        json_decref(da);
        mlcc_clear_error();
        return 0;
    }
    int res = 0;
    /* a branch that is itself a choice: every alternative must be disjoint from the other */
    for (int side = 0; side < 2 && !res; side++) {
        json_t *x = side ? db : da, *y = side ? da : db;
        json_t *alts = json_object_get(x, "anyOf");
        if (!alts) alts = json_object_get(x, "oneOf");
        if (!json_is_array(alts)) continue;
        int all = json_array_size(alts) > 0;
        size_t i;
        json_t *br;
        json_array_foreach(alts, i, br) all = all && js_disjoint(j, br, y, depth + 1);
        res = all;
    }
    unsigned ka = kinds_of(da), kb = kinds_of(db), both = ka & kb;
    if (!res && !both) res = 1;
    if (!res) {
        json_t *va = json_object_get(da, "const") ? json_pack("[O]", json_object_get(da, "const")) : json_incref(json_object_get(da, "enum"));
        json_t *vb = json_object_get(db, "const") ? json_pack("[O]", json_object_get(db, "const")) : json_incref(json_object_get(db, "enum"));
        if (json_is_array(va) || json_is_array(vb)) {
            /* every listed value fails the other schema's simple keywords (or its list) */
            int all = 1;
            size_t i;
            json_t *x;
            if (json_is_array(va)) json_array_foreach(va, i, x) all = all && js_value_check(j, db, x, 0) == 0;
            else json_array_foreach(vb, i, x) all = all && js_value_check(j, da, x, 0) == 0;
            res = all;
        }
        json_decref(va);
        json_decref(vb);
    }
    if (!res && both == (1u << 5)) { /* numbers only: disjoint ranges */
        double alo, ahi, blo, bhi;
        int alx, ahx, blx, bhx;
        range_of(da, &alo, &alx, &ahi, &ahx);
        range_of(db, &blo, &blx, &bhi, &bhx);
        res = ahi < blo || (ahi == blo && (ahx || blx)) || bhi < alo || (bhi == alo && (bhx || alx));
    }
    if (!res && both == (1u << 2)) res = disjoint_objects(j, da, db, depth);
    json_decref(da);
    json_decref(db);
    return res;
}

/* Property names of a closed object schema (additionalProperties false, no patterns) as an
 * object used as a set, or NULL when the schema is not one. */
static json_t *closed_names(json_t *s) {
    if (kinds_of(s) != (1u << 2) || !json_is_false(json_object_get(s, "additionalProperties"))) return NULL;
    json_t *pp = json_object_get(s, "patternProperties");
    if (json_is_object(pp) && json_object_size(pp)) return NULL;
    json_t *props = json_object_get(s, "properties");
    return json_is_object(props) ? json_incref(props) : json_object();
}

static int overlap_only_empty(jsg *j, json_t *a, json_t *b, int depth) {
    if (depth > 16) return 0;
    json_t *da = js_deref(j, a, ""), *db = da ? js_deref(j, b, "") : NULL;
    if (!da || !db) {
        json_decref(da);
        mlcc_clear_error();
        return 0;
    }
    /* a choice: each alternative disjoint from the other side, or sharing only {} with it */
    for (int side = 0; side < 2; side++) {
        json_t *x = side ? db : da, *y = side ? da : db;
        json_t *alts = json_object_get(x, "anyOf");
        if (!alts) alts = json_object_get(x, "oneOf");
        if (!json_is_array(alts) || !json_array_size(alts)) continue;
        int all = 1;
        size_t i;
        json_t *br;
        json_array_foreach(alts, i, br) all = all && (js_disjoint(j, br, y, 0) || overlap_only_empty(j, br, y, depth + 1));
        json_decref(da);
        json_decref(db);
        return all;
    }
    json_t *na = closed_names(da), *nb = closed_names(db);
    int res = na && nb;
    const char *k;
    json_t *v;
    if (res) json_object_foreach(na, k, v) if (json_object_get(nb, k)) res = 0;
    json_decref(na);
    json_decref(nb);
    json_decref(da);
    json_decref(db);
    return res;
}

int js_overlap_only_empty(jsg *j, json_t *a, json_t *b) {
    return overlap_only_empty(j, a, b, 0);
}
