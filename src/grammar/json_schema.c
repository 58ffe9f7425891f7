/* json_schema.c - JSON Schema (Draft 2020-12, with draft-7 `definitions`) to GBNF.
 *
 * Each schema becomes a rule; identical rule bodies are shared, and every $ref target gets one
 * rule (made on first use, so recursive schemas give recursive rules). The text follows the
 * schema: properties in the schema's order (required ones always present, optional ones may be
 * left out), then additional properties; array items by prefixItems then items, within
 * minItems/maxItems.
 *
 * Covered: type (also lists and null), properties, required, additionalProperties,
 * patternProperties (keys by the patterns they match, as exact DFAs less the named properties:
 * json_schema_keys.c; named properties take the schemas of the patterns they match), minProperties 0/1,
 * maxProperties (beside only required named properties), items, prefixItems, draft 4-7 tuple
 * items with additionalItems, minItems, maxItems, enum and const (the values the rest of the
 * schema rules out are dropped), anyOf, oneOf (exact: as anyOf where the branches are proved
 * disjoint, else made exclusive with not; see json_schema_logic.c), allOf (merged into one
 * schema), not (rewritten into positive schemas by json_schema_logic.c), if/then/else (as (if
 * and then) or (not if and else)), dependencies/dependentRequired/dependentSchemas (as anyOf),
 * $ref into the same document ($defs, definitions, any JSON pointer) including recursion,
 * minLength/maxLength, pattern (regex.c), format date, time, date-time, email, uuid, uri, ipv4,
 * propertyNames and the string forms that need regex algebra (several patterns, `not` pattern,
 * a format or excluded strings beside a pattern: exact DFAs, json_schema_strings.c),
 * minimum/maximum/exclusiveMinimum/exclusiveMaximum, integer multipleOf (a remainder
 * automaton). Numbers with bounds are written without exponent, and non-integer bounds are
 * rounded inwards (a subset of the valid values). A part that allows no value (false, an empty
 * enum, contradictory bounds) is left out where it is optional (an anyOf branch, an optional
 * property, items); elsewhere it is an error. Other validation keywords are errors naming the
 * keyword and its JSON pointer; annotations and unknown keywords are ignored, as JSON Schema
 * says. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grammar/json_schema.h"
#include "grammar/regex_dfa.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/json.h"


static int gen(jsg *j, json_t *s, const char *ptr, mlcc_strbuf *out);

int js_err(const char *ptr, const char *fmt, const char *arg) {
    char msg[300];
    snprintf(msg, sizeof msg, fmt, arg);
    return mlcc_set_error("JSON schema at '%s': %s", *ptr ? ptr : "#", msg);
}

/* A rule with this body (shared with an identical one); its name is appended to out. */
static void rule_of(jsg *j, const char *body, mlcc_strbuf *out) {
    int inserted;
    mlcc_strmap_entry *e = strmap_upsert(&j->by_body, body, strlen(body), &inserted);
    if (inserted) {
        e->value.i = j->counter++;
        sb_printf(&j->rules, "r%d ::= %s\n", (int)e->value.i, body);
    }
    sb_printf(out, "r%d", (int)e->value.i);
}

/* A GBNF string literal for raw bytes. */
static void gbnf_literal(mlcc_strbuf *out, const char *s, size_t n) {
    sb_append_char(out, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            sb_printf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7F)
            sb_printf(out, "\\x%02X", c);
        else
            sb_append_char(out, (char)c);
    }
    sb_append_char(out, '"');
}

/* The JSON text of a value, as a GBNF literal (compact, as jansson writes it). */
static void json_literal(mlcc_strbuf *out, json_t *v);

/* A JSON value as GBNF that allows the whitespace policy between its tokens (for enum and
 * const values that are objects or arrays). */
static void json_value_gbnf(mlcc_strbuf *out, json_t *v, const char *w) {
    if (json_is_object(v)) {
        sb_printf(out, "\"{\" %s ", w);
        const char *k;
        json_t *x;
        int first = 1;
        json_object_foreach(v, k, x) {
            if (!first) sb_printf(out, "\",\" %s ", w);
            first = 0;
            json_t *name = json_string(k);
            json_literal(out, name);
            json_decref(name);
            sb_printf(out, " %s \":\" %s ", w, w);
            json_value_gbnf(out, x, w);
            sb_printf(out, " %s ", w);
        }
        sb_append(out, "\"}\"");
    } else if (json_is_array(v)) {
        sb_printf(out, "\"[\" %s ", w);
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            if (i) sb_printf(out, "\",\" %s ", w);
            json_value_gbnf(out, x, w);
            sb_printf(out, " %s ", w);
        }
        sb_append(out, "\"]\"");
    } else
        json_literal(out, v);
}

static void json_literal(mlcc_strbuf *out, json_t *v) {
    char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    gbnf_literal(out, t ? t : "null", t ? strlen(t) : 4);
    free(t);
}

static const char *ws(jsg *j) {
    return j->opt.flexible_whitespace ? "ws" : "";
}

static void base_rules(jsg *j) {
    mlcc_strbuf *r = &j->rules;
    if (j->opt.flexible_whitespace)
        sb_printf(r, "ws ::= [ \\t\\n\\r]{0,%d}\n", j->opt.max_ws > 0 ? j->opt.max_ws : 16);
    const char *w = ws(j);
    sb_append(r, "kchar ::= [^\"\\\\\\x00-\\x1F]\n");
    sb_append(r, "jchar ::= [^\"\\\\\\x00-\\x1F] | \"\\\\\" ([\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{4})\n");
    int sc = j->opt.max_string_chars, nd = j->opt.max_number_digits;
    if (sc > 0)
        sb_printf(r, "jstring ::= \"\\\"\" jchar{0,%d} \"\\\"\"\n", sc);
    else
        sb_append(r, "jstring ::= \"\\\"\" jchar* \"\\\"\"\n");
    if (nd > 0) {
        sb_printf(r, "jint ::= \"-\"? (\"0\" | [1-9] [0-9]{0,%d})\n", nd - 1);
        sb_printf(r, "jnum ::= jint (\".\" [0-9]{1,%d})? ([eE] [-+]? [0-9]{1,2})?\n", nd);
        sb_printf(r, "ndigits ::= [0-9]{0,%d}\n", nd);
    } else {
        sb_append(r, "jint ::= \"-\"? (\"0\" | [1-9] [0-9]*)\n");
        sb_append(r, "jnum ::= jint (\".\" [0-9]+)? ([eE] [-+]? [0-9]+)?\n");
        sb_append(r, "ndigits ::= [0-9]*\n");
    }
    sb_append(r, "jbool ::= \"true\" | \"false\"\n");
    sb_append(r, "jnull ::= \"null\"\n");
    sb_append(r, "jvalue ::= jobject | jarray | jstring | jnum | jbool | jnull\n");
    sb_printf(r, "jarray ::= \"[\" %s (jvalue %s (\",\" %s jvalue %s)*)? \"]\"\n", w, w, w, w);
    sb_printf(r, "jmember ::= jstring %s \":\" %s jvalue\n", w, w);
    sb_printf(r, "jobject ::= \"{\" %s (jmember %s (\",\" %s jmember %s)*)? \"}\"\n", w, w, w, w);
    /* formats */
    sb_append(r, "fyear ::= [1-9] [0-9]{3} | \"0\" [1-9] [0-9]{2} | \"00\" [1-9] [0-9] | \"000\" [1-9]\n");
    sb_append(r, "fleap ::= [0-9] [0-9] ([02468] [48] | [13579] [26] | [2468] \"0\") | ([2468] [048] | [13579] [26] | \"0\" [48]) \"00\"\n");
    sb_append(r, "fmd ::= (\"0\" [13578] | \"1\" [02]) \"-\" (\"0\" [1-9] | [12] [0-9] | \"3\" [01]) | (\"0\" [469] | \"11\") \"-\" (\"0\" [1-9] | [12] [0-9] | \"30\") | \"02-\" (\"0\" [1-9] | \"1\" [0-9] | \"2\" [0-8])\n");
    sb_append(r, "fdate ::= fyear \"-\" fmd | fleap \"-02-29\"\n");
    sb_append(r, "ftime ::= ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,9})? ([Zz] | [-+] ([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9])\n");
    sb_append(r, "fdatetime ::= fdate [Tt] ftime\n");
    /* RFC 5321: local part <= 64; RFC 1035: labels <= 63 */
    sb_append(r, "femail ::= [a-zA-Z0-9._%+-]{1,64} \"@\" [a-zA-Z0-9-]{1,63} (\".\" [a-zA-Z0-9-]{1,63}){0,3} \".\" [a-zA-Z]{2,24}\n");
    sb_append(r, "fhex ::= [0-9a-fA-F]\n");
    sb_append(r, "fuuid ::= fhex{8} \"-\" fhex{4} \"-\" fhex{4} \"-\" fhex{4} \"-\" fhex{12}\n");
    /* bounded pieces (a generated URI stays short; every bound is far above real use) */
    sb_append(r, "furi ::= [a-zA-Z] [a-zA-Z0-9+.-]{0,31} \":\" (\"//\" [a-zA-Z0-9.-]{1,253} (\":\" [0-9]{1,5})? (\"/\" [a-zA-Z0-9._~%!$&'()*+,;=:@-]{0,64}){0,16} | [a-zA-Z0-9._~%!$&'()*+,;=:@-]{1,256}) (\"?\" [a-zA-Z0-9._~%!$&'()*+,;=:@/?-]{0,256})?\n");
    sb_append(r, "foctet ::= \"25\" [0-5] | \"2\" [0-4] [0-9] | \"1\" [0-9] [0-9] | [1-9] [0-9] | [0-9]\n");
    sb_append(r, "fipv4 ::= foctet \".\" foctet \".\" foctet \".\" foctet\n");
}

/* ---- JSON pointers and $ref ---- */

json_t *js_resolve_pointer(jsg *j, const char *ref, const char *ptr) {
    if (ref[0] != '#') {
        js_err(ptr, "$ref '%s' is not into this document (remote references are not supported)", ref);
        return NULL;
    }
    json_t *cur = j->root;
    const char *p = ref + 1;
    if (*p && *p != '/') {
        js_err(ptr, "$ref '%s' names an anchor (only JSON pointers are supported)", ref);
        return NULL;
    }
    while (*p == '/') {
        p++;
        mlcc_strbuf tok = STRBUF_INIT;
        while (*p && *p != '/') {
            if (p[0] == '~' && p[1] == '0') {
                sb_append_char(&tok, '~');
                p += 2;
            } else if (p[0] == '~' && p[1] == '1') {
                sb_append_char(&tok, '/');
                p += 2;
            } else if (p[0] == '%' && p[1] && p[2]) {
                char hex[3] = {p[1], p[2], 0};
                sb_append_char(&tok, (char)strtol(hex, NULL, 16));
                p += 3;
            } else
                sb_append_char(&tok, *p++);
        }
        const char *key = tok.data ? tok.data : "";
        json_t *next = NULL;
        if (json_is_object(cur))
            next = json_object_getn(cur, key, tok.len);
        else if (json_is_array(cur)) {
            char *end;
            long idx = strtol(key, &end, 10);
            if (*key && !*end && idx >= 0) next = json_array_get(cur, (size_t)idx);
        }
        sb_free(&tok);
        if (!next) {
            js_err(ptr, "$ref '%s' points to nothing", ref);
            return NULL;
        }
        cur = next;
    }
    return cur;
}

/* ---- keywords ---- */

static const char *const handled_keywords[] = {
    JS_NOT_STRINGS, JS_NOT_MULTIPLES, JS_NOT_PATTERNS, JS_ALL_PATTERNS,
    "type", "properties", "required", "additionalProperties", "patternProperties", "items", "prefixItems", "minItems",
    "maxItems", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "minLength", "maxLength", "pattern", "format",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minProperties", "maxProperties", "not", "uniqueItems",
    "$defs", "definitions", "multipleOf", "dependentRequired", "dependentSchemas", "dependencies", "additionalItems",
    "if", "then", "else", "propertyNames", NULL};
static const char *const unsupported_keywords[] = {
    "contains", "minContains", "maxContains", "unevaluatedProperties",
    "unevaluatedItems", "$dynamicRef", "$recursiveRef", NULL};

int js_is_constraint(const char *key) {
    for (int i = 0; handled_keywords[i]; i++)
        if (!strcmp(key, handled_keywords[i])) return 1;
    return js_is_unsupported(key) || !strcmp(key, "propertyNames");
}

int js_is_unsupported(const char *key) {
    for (int i = 0; unsupported_keywords[i]; i++)
        if (!strcmp(key, unsupported_keywords[i])) return 1;
    return 0;
}

int js_unsat(jsg *j, const char *ptr, const char *msg) {
    j->unsat = 1;
    return js_err(ptr, "%s", msg);
}

static int check_keywords(json_t *s, const char *ptr) {
    const char *key;
    json_t *v;
    json_object_foreach(s, key, v) {
        for (int i = 0; unsupported_keywords[i]; i++)
            if (!strcmp(key, unsupported_keywords[i])) return js_err(ptr, "unsupported keyword '%s'", key);
        if (!strcmp(key, "uniqueItems") && json_is_true(v)) return js_err(ptr, "unsupported keyword '%s' (true)", key);
    }
    return 0;
}

static int has_key(json_t *s, const char *k) {
    return json_object_get(s, k) != NULL;
}

/* A JSON pointer token, escaped as RFC 6901 says ("~" -> "~0", "/" -> "~1"), after a '/'. */
void js_ptr_append(mlcc_strbuf *sb, const char *token) {
    sb_append_char(sb, '/');
    for (const char *p = token; *p; p++) {
        if (*p == '~')
            sb_append(sb, "~0");
        else if (*p == '/')
            sb_append(sb, "~1");
        else
            sb_append_char(sb, *p);
    }
}

static void child_ptr(mlcc_strbuf *sb, const char *ptr, const char *a, const char *b) {
    sb_clear(sb);
    sb_append(sb, ptr);
    js_ptr_append(sb, a);
    if (b) js_ptr_append(sb, b);
}

/* ---- allOf: merging schemas ---- */


/* $ref targets inlined for merging (one level; a recursive ref stays a ref). */
json_t *js_deref(jsg *j, json_t *s, const char *ptr) {
    json_t *r = json_object_get(s, "$ref");
    if (!json_is_string(r)) return json_incref(s);
    json_t *t = js_resolve_pointer(j, json_string_value(r), ptr);
    if (!t) return NULL;
    if (json_object_size(s) == 1) return json_incref(t);
    json_t *rest = json_copy(s);
    json_object_del(rest, "$ref");
    int err = 0;
    json_t *m = js_merge(j, t, rest, ptr, &err);
    json_decref(rest);
    return err ? NULL : m;
}

static json_t *merge_number(json_t *x, json_t *y, int take_max) {
    double a = json_number_value(x), b = json_number_value(y);
    return json_incref((take_max ? a >= b : a <= b) ? x : y);
}

static int matching_pattern_schema(jsg *j, json_t *pprops, const char *name, const char *ptr, json_t **out);

/* What side x says of a property it does not name: its matching patternProperties, else its
 * additionalProperties (NULL: nothing). A new reference. */
static int unnamed_property_schema(jsg *j, json_t *x, const char *name, const char *ptr, json_t **out) {
    if (matching_pattern_schema(j, json_object_get(x, "patternProperties"), name, ptr, out)) return -1;
    if (!*out && json_object_get(x, "additionalProperties")) *out = json_incref(json_object_get(x, "additionalProperties"));
    return 0;
}

/* After merging a and b into m: a property one side names and the other does not takes the
 * other's patternProperties or additionalProperties too (else allOf of a closed object and
 * one naming more properties would let those in), and the patterns of one side take the
 * other's additionalProperties when it has no patterns. */
static int merge_closed(jsg *j, json_t *m, json_t *a, json_t *b, const char *ptr) {
    int err = 0;
    for (int side = 0; side < 2 && !err; side++) {
        json_t *x = side ? b : a;
        json_t *xaddl = json_object_get(x, "additionalProperties"), *xpp = json_object_get(x, "patternProperties");
        int x_has_pp = json_is_object(xpp) && json_object_size(xpp);
        if (!xaddl && !x_has_pp) continue;
        json_t *props = json_object_get(m, "properties"), *xprops = json_object_get(x, "properties");
        const char *k;
        json_t *v;
        if (json_is_object(props)) {
            json_t *fixed = json_copy(props);
            json_object_foreach(props, k, v) {
                if (json_is_object(xprops) && json_object_get(xprops, k)) continue;
                json_t *e = NULL;
                if ((err = unnamed_property_schema(j, x, k, ptr, &e))) break;
                if (!e) continue;
                json_t *mm = js_merge(j, v, e, ptr, &err);
                json_decref(e);
                if (!mm) break;
                json_object_set_new(fixed, k, mm);
            }
            json_object_set_new(m, "properties", fixed);
        }
        json_t *mpp = json_object_get(m, "patternProperties");
        if (!err && xaddl && !x_has_pp && json_is_object(mpp)) {
            json_t *fixed = json_copy(mpp);
            json_object_foreach(mpp, k, v) {
                json_t *mm = js_merge(j, v, xaddl, ptr, &err);
                if (!mm) break;
                json_object_set_new(fixed, k, mm);
            }
            json_object_set_new(m, "patternProperties", fixed);
        }
    }
    return err ? -1 : 0;
}

static json_t *merge_schemas(jsg *j, json_t *a, json_t *b, const char *ptr, int *err);

/* (merging recursive schemas, each level inlines one more $ref: bounded) */
json_t *js_merge(jsg *j, json_t *a, json_t *b, const char *ptr, int *err) {
    if (++j->merges > 50000) {
        *err = js_err(ptr, "%s", "allOf/oneOf combinations make the schema too large (not supported)");
        return NULL;
    }
    if (j->merge_depth >= 48) {
        *err = js_err(ptr, "%s", "allOf of recursive schemas nests too deeply (not supported)");
        return NULL;
    }
    j->merge_depth++;
    json_t *m = merge_schemas(j, a, b, ptr, err);
    j->merge_depth--;
    return m;
}

static json_t *merge_schemas(jsg *j, json_t *a, json_t *b, const char *ptr, int *err) {
    if (json_is_true(a)) return json_incref(b);
    if (json_is_true(b)) return json_incref(a);
    if (json_is_false(a) || json_is_false(b)) return json_false();
    if (!json_is_object(a) || !json_is_object(b)) {
        *err = js_err(ptr, "%s", "a schema must be an object or a boolean");
        return NULL;
    }
    json_t *da = js_deref(j, a, ptr), *db = da ? js_deref(j, b, ptr) : NULL;
    if (!da || !db) {
        json_decref(da);
        *err = -1;
        return NULL;
    }
    /* a branch with anyOf/oneOf: distribute the other schema over its branches */
    for (int side = 0; side < 2; side++) {
        json_t *x = side ? db : da, *y = side ? da : db;
        const char *kw = "anyOf";
        json_t *alts = json_object_get(x, "anyOf");
        if (!alts) {
            alts = json_object_get(x, "oneOf");
            kw = "oneOf"; /* the branches stay disjoint (or not) after the merge */
        }
        if (json_is_array(alts)) {
            json_t *rest = json_copy(x);
            json_object_del(rest, "anyOf");
            json_object_del(rest, "oneOf");
            json_t *base = js_merge(j, rest, y, ptr, err);
            json_decref(rest);
            json_t *out = json_array();
            size_t i;
            json_t *br;
            json_array_foreach(alts, i, br) {
                if (*err) break;
                json_t *m = base ? js_merge(j, base, br, ptr, err) : NULL;
                if (m) json_array_append_new(out, m);
            }
            json_decref(base);
            json_decref(da);
            json_decref(db);
            if (*err) {
                json_decref(out);
                return NULL;
            }
            json_t *res = json_object();
            json_object_set_new(res, kw, out);
            return res;
        }
    }
    json_t *m = json_copy(da);
    const char *key;
    json_t *v;
    json_object_foreach(db, key, v) {
        json_t *cur = json_object_get(m, key);
        if (!cur) {
            json_object_set(m, key, v);
            continue;
        }
        if (json_equal(cur, v)) continue;
        if (!strcmp(key, "properties") || !strcmp(key, "patternProperties")) {
            json_t *props = json_copy(cur);
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv) {
                json_t *old = json_object_get(props, pk);
                if (old) {
                    json_t *mm = js_merge(j, old, pv, ptr, err);
                    if (!mm) break;
                    json_object_set_new(props, pk, mm);
                } else
                    json_object_set(props, pk, pv);
            }
            json_object_set_new(m, key, props);
        } else if (!strcmp(key, "required")) {
            json_t *req = json_copy(cur);
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x) {
                size_t k;
                json_t *y;
                int found = 0;
                json_array_foreach(req, k, y) found |= json_equal(x, y);
                if (!found) json_array_append(req, x);
            }
            json_object_set_new(m, key, req);
        } else if (!strcmp(key, "additionalProperties") || !strcmp(key, "items")) {
            json_t *mm = js_merge(j, cur, v, ptr, err);
            if (mm) json_object_set_new(m, key, mm);
        } else if (!strcmp(key, "type")) {
            /* intersect: lists or single names */
            json_t *out = json_array();
            json_t *ta = json_is_array(cur) ? json_incref(cur) : json_pack("[O]", cur);
            json_t *tb = json_is_array(v) ? json_incref(v) : json_pack("[O]", v);
            size_t i, k;
            json_t *x, *y;
            json_array_foreach(ta, i, x) json_array_foreach(tb, k, y) {
                if (json_equal(x, y))
                    json_array_append(out, x);
                else if (json_is_string(x) && json_is_string(y)) {
                    if (!strcmp(json_string_value(x), "integer") && !strcmp(json_string_value(y), "number")) json_array_append(out, x);
                    if (!strcmp(json_string_value(y), "integer") && !strcmp(json_string_value(x), "number")) json_array_append(out, y);
                }
            }
            json_decref(ta);
            json_decref(tb);
            json_object_set_new(m, key, out);
        } else if (!strcmp(key, "minimum") || !strcmp(key, "exclusiveMinimum") || !strcmp(key, "minLength") ||
                   !strcmp(key, "minItems") || !strcmp(key, "minProperties")) {
            json_object_set_new(m, key, merge_number(cur, v, 1));
        } else if (!strcmp(key, "maximum") || !strcmp(key, "exclusiveMaximum") || !strcmp(key, "maxLength") ||
                   !strcmp(key, "maxItems") || !strcmp(key, "maxProperties")) {
            json_object_set_new(m, key, merge_number(cur, v, 0));
        } else if (!strcmp(key, "enum")) {
            json_t *out = json_array();
            size_t i, k;
            json_t *x, *y;
            json_array_foreach(cur, i, x) json_array_foreach(v, k, y) if (json_equal(x, y)) json_array_append(out, x);
            json_object_set_new(m, key, out);
        } else if (!strcmp(key, "allOf")) {
            json_t *all = json_copy(cur);
            json_array_extend(all, v);
            json_object_set_new(m, key, all);
        } else if (!strcmp(key, "multipleOf") && json_is_integer(cur) && json_is_integer(v) && json_integer_value(cur) > 0 &&
                   json_integer_value(v) > 0) { /* both: their least common multiple */
            json_int_t a = json_integer_value(cur), b = json_integer_value(v), x = a, y = b;
            while (y) {
                json_int_t t = x % y;
                x = y;
                y = t;
            }
            json_object_set_new(m, key, json_integer(a / x * b));
        } else if (!strcmp(key, "not")) { /* not A and not B = not (A or B) */
            json_object_set_new(m, key, json_pack("{s:[O,O]}", "anyOf", cur, v));
        } else if (!strcmp(key, "const")) { /* two different values: none */
            json_object_del(m, key);
            json_object_set_new(m, "enum", json_array());
        } else if (!strcmp(key, "propertyNames")) { /* keys allowed by both */
            json_object_set_new(m, key, json_pack("{s:[O,O]}", "allOf", cur, v));
        } else if (!strcmp(key, "pattern")) { /* both: the string matches the other one too */
            json_t *all = json_object_get(m, JS_ALL_PATTERNS);
            all = all ? json_copy(all) : json_array();
            json_array_append(all, v);
            json_object_set_new(m, JS_ALL_PATTERNS, all);
        } else if (!strcmp(key, JS_NOT_STRINGS) || !strcmp(key, JS_NOT_MULTIPLES) || !strcmp(key, JS_NOT_PATTERNS) ||
                   !strcmp(key, JS_ALL_PATTERNS)) {
            json_t *all = json_copy(cur);
            json_array_extend(all, v);
            json_object_set_new(m, key, all);
        } else if (js_is_constraint(key))
            *err = js_err(ptr, "allOf: cannot merge two different '%s'", key);
        if (*err) break;
    }
    if (!*err) *err = merge_closed(j, m, da, db, ptr);
    json_decref(da);
    json_decref(db);
    if (*err) {
        json_decref(m);
        return NULL;
    }
    return m;
}

/* ---- numbers ---- */

/* Digit strings without leading zeros of the integers in [lo, hi] (0 <= lo <= hi), as GBNF. */
static void same_len_range(mlcc_strbuf *o, const char *x, const char *y, size_t n) {
    if (n == 0) {
        sb_append(o, "\"\"");
        return;
    }
    if (x[0] == y[0]) {
        sb_printf(o, "\"%c\" (", x[0]);
        same_len_range(o, x + 1, y + 1, n - 1);
        sb_append(o, ")");
        return;
    }
    int x_zeros = 1, y_nines = 1;
    for (size_t i = 1; i < n; i++) {
        x_zeros &= x[i] == '0';
        y_nines &= y[i] == '9';
    }
    if (x_zeros && y_nines) {
        sb_printf(o, "[%c-%c]", x[0], y[0]);
        if (n > 1) sb_printf(o, " [0-9]{%zu}", n - 1);
        return;
    }
    char nines[32], zeros[32];
    memset(nines, '9', n);
    memset(zeros, '0', n);
    sb_append(o, "(");
    int lo_d = x[0], hi_d = y[0];
    if (!x_zeros) {
        sb_printf(o, "\"%c\" (", x[0]);
        same_len_range(o, x + 1, nines, n - 1);
        sb_append(o, ") | ");
        lo_d++;
    }
    if (!y_nines) hi_d--;
    if (lo_d <= hi_d) {
        sb_printf(o, "[%c-%c]", lo_d, hi_d);
        if (n > 1) sb_printf(o, " [0-9]{%zu}", n - 1);
        sb_append(o, " | ");
    }
    if (!y_nines) {
        sb_printf(o, "\"%c\" (", y[0]);
        same_len_range(o, zeros, y + 1, n - 1);
        sb_append(o, ")");
    } else
        o->len -= 3; /* the trailing " | " */
    sb_append(o, ")");
}

/* Naturals in [lo, hi]; hi < 0: unbounded. */
/* cap > 0: an unbounded range has at most cap digits */
static void nat_range(mlcc_strbuf *o, long long lo, long long hi, int cap) {
    char a[32], b[32];
    int la = snprintf(a, sizeof a, "%lld", lo);
    int lb = hi >= 0 ? snprintf(b, sizeof b, "%lld", hi) : 0;
    sb_append(o, "(");
    int first = 1;
    int last_len = hi >= 0 ? lb : la;
    for (int len = la; len <= last_len; len++) {
        char x[32], y[32];
        if (len == la)
            memcpy(x, a, (size_t)la);
        else {
            x[0] = '1';
            memset(x + 1, '0', (size_t)len - 1);
        }
        if (hi >= 0 && len == lb)
            memcpy(y, b, (size_t)lb);
        else
            memset(y, '9', (size_t)len);
        if (!first) sb_append(o, " | ");
        first = 0;
        same_len_range(o, x, y, (size_t)len);
    }
    if (hi < 0 && cap > la)
        sb_printf(o, " | [1-9] [0-9]{%d,%d}", la, cap - 1);
    else if (hi < 0 && cap <= 0)
        sb_printf(o, " | [1-9] [0-9]{%d,}", la);
    sb_append(o, ")");
}

/* Integers in [lo, hi] (flags say which bounds exist). */
static void int_range(mlcc_strbuf *o, int has_lo, long long lo, int has_hi, long long hi, int cap) {
    sb_append(o, "(");
    int alts = 0;
    /* negative part: -n with n in [max(1, -hi), -lo] */
    if (!has_lo || lo < 0) {
        long long nlo = has_hi ? (hi < 0 ? -hi : 1) : 1;
        long long nhi = has_lo ? -lo : -1;
        if (nhi < 0 || nlo <= nhi) {
            sb_append(o, "\"-\" ");
            nat_range(o, nlo, nhi, cap);
            alts++;
        }
    }
    long long plo = has_lo && lo > 0 ? lo : 0;
    if (!has_hi || (hi >= 0 && plo <= hi)) {
        if (alts) sb_append(o, " | ");
        nat_range(o, plo, has_hi ? hi : -1, cap);
        alts++;
    }
    if (!alts) sb_append(o, "[^\\x00-\\U0010FFFF]");
    sb_append(o, ")");
}

/* A non-negative decimal bound: integer part and fraction digits (no trailing zeros). */
typedef struct decimal {
    long long ip;
    char frac[24];
} decimal;

static void to_decimal(double x, decimal *d) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.12f", x);
    char *dot = strchr(buf, '.');
    d->ip = atoll(buf);
    d->frac[0] = 0;
    if (dot) {
        snprintf(d->frac, sizeof d->frac, "%s", dot + 1);
        size_t n = strlen(d->frac);
        while (n && d->frac[n - 1] == '0') d->frac[--n] = 0;
    }
}

/* Fraction digits D (after the point) with 0.D >= 0.f (> when strict); f non-empty. */
static void frac_ge(mlcc_strbuf *o, const char *f, int strict) {
    if (!*f) {
        sb_append(o, strict ? "(ndigits [1-9] ndigits)" : "ndigits");
        return;
    }
    sb_append(o, "(");
    if (*f < '9') sb_printf(o, "[%c-9] ndigits | ", *f + 1);
    sb_printf(o, "\"%c\" ", *f);
    frac_ge(o, f + 1, strict);
    sb_append(o, ")");
}

/* Fraction digits D with 0.D <= 0.f (< when strict); f non-empty. first: D needs a digit. */
static void frac_le(mlcc_strbuf *o, const char *f, int strict, int first) {
    if (!*f) {
        sb_append(o, strict ? "[^\\x00-\\U0010FFFF]" : "\"0\"*");
        return;
    }
    sb_append(o, "(");
    if (*f > '0') sb_printf(o, "[0-%c] ndigits | ", *f - 1);
    sb_printf(o, "\"%c\" ", *f);
    frac_le(o, f + 1, strict, 0);
    if (!first) sb_append(o, " | \"\"");
    sb_append(o, ")");
}

/* Decimals y >= 0 with lo <= y (< when lo_x) and, when has_hi, y <= hi (< when hi_x), written
 * without exponent. 1 when some value exists, 0 when none, -1 when not supported. */
static int pos_range(mlcc_strbuf *o, const decimal *lo, int lo_x, int has_hi, const decimal *hi, int hi_x, int cap) {
    char frac[64];
    if (cap > 0)
        snprintf(frac, sizeof frac, "(\".\" [0-9]{1,%d})?", cap);
    else
        snprintf(frac, sizeof frac, "(\".\" [0-9]+)?");
    if (has_hi && (hi->ip < lo->ip)) return 0;
    if (has_hi && hi->ip == lo->ip) {
        if (lo->frac[0] || hi->frac[0]) {
            if (!lo->frac[0] && !hi->frac[0]) return 0;
            if (lo->frac[0] && hi->frac[0]) return -1;
            if (!lo->frac[0]) {
                /* [n, n.f]: n itself or n.D with 0.D <= 0.f */
                if (lo_x) return -1;
                sb_printf(o, "(\"%lld\" (\".\" ", lo->ip);
                frac_le(o, hi->frac, hi_x, 1);
                sb_append(o, ")?)");
                return 1;
            }
            return 0; /* lo = n.f > hi = n */
        }
        if (lo_x || hi_x) return 0;
        sb_printf(o, "(\"%lld\" (\".\" \"0\"+)?)", lo->ip);
        return 1;
    }
    sb_append(o, "(");
    /* integer part lo->ip */
    if (!lo->frac[0]) {
        if (lo_x)
            sb_printf(o, "\"%lld\" \".\" ndigits [1-9] ndigits", lo->ip);
        else
            sb_printf(o, "\"%lld\" %s", lo->ip, frac);
    } else {
        sb_printf(o, "\"%lld\" \".\" ", lo->ip);
        frac_ge(o, lo->frac, lo_x);
    }
    /* integer parts strictly between */
    long long a = lo->ip + 1, b = has_hi ? hi->ip - 1 : -1;
    if (!has_hi || a <= b) {
        sb_append(o, " | ");
        nat_range(o, a, b, cap);
        sb_printf(o, " %s", frac);
    }
    /* integer part hi->ip */
    if (has_hi) {
        if (!hi->frac[0]) {
            if (!hi_x) sb_printf(o, " | \"%lld\" (\".\" \"0\"+)?", hi->ip);
        } else {
            sb_printf(o, " | \"%lld\" (\".\" ", hi->ip);
            frac_le(o, hi->frac, hi_x, 1);
            sb_append(o, ")?");
        }
    }
    sb_append(o, ")");
    return 1;
}

/* Integers that are multiples of m and of none of not[0..nnot): the digits run a remainder
 * automaton mod l (a common multiple of them all; state: the value so far mod l; the number
 * may end in a state that is such a multiple). */
static void multiples_of(jsg *j, long long l, long long m, const long long *not, size_t nnot, mlcc_strbuf *out) {
    int base = j->counter;
    j->counter += (int)l;
    char *accept = mlcc_xmalloc((size_t)l);
    for (long long st = 0; st < l; st++) {
        accept[st] = st % m == 0;
        for (size_t i = 0; i < nnot; i++) accept[st] &= st % not[i] != 0;
    }
    for (long long st = 0; st < l; st++) {
        mlcc_strbuf body = STRBUF_INIT;
        if (accept[st]) sb_append(&body, "\"\" | ");
        int first = 1;
        for (int d = 0; d <= 9; d++) {
            long long to = (st * 10 + d) % l;
            int seen = 0; /* digits with the same target: one class */
            for (int e = 0; e < d; e++) seen |= (st * 10 + e) % l == to;
            if (seen) continue;
            if (!first) sb_append(&body, " | ");
            first = 0;
            sb_append(&body, "[");
            for (int e = d; e <= 9; e++)
                if ((st * 10 + e) % l == to) sb_append_char(&body, (char)('0' + e));
            sb_printf(&body, "] m%d", base + (int)to);
        }
        sb_printf(&j->rules, "m%d ::= %s\n", base + (int)st, body.data);
        sb_free(&body);
    }
    /* no leading zeros: 0 (when it qualifies), or a first digit 1-9 */
    mlcc_strbuf body = STRBUF_INIT;
    sb_append(&body, "\"-\"? (");
    if (accept[0]) sb_append(&body, "\"0\" | ");
    for (int d = 1; d <= 9; d++) sb_printf(&body, "%s\"%d\" m%d", d > 1 ? " | " : "", d, base + (int)(d % l));
    sb_append(&body, ")");
    rule_of(j, body.data, out);
    sb_free(&body);
    free(accept);
}

static long long gcd_ll(long long a, long long b) {
    while (b) {
        long long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* multipleOf and the internal not-multiple-of list: integers only (the validators test
 * fractional steps with binary floating point, so 0.3 is not a multiple of 0.1 there and no
 * decimal text is reliably valid), up to 10000, without numeric bounds. */
static int gen_multiples(jsg *j, json_t *s, const char *ptr, mlcc_strbuf *out) {
    json_t *mult = json_object_get(s, "multipleOf"), *notm = json_object_get(s, JS_NOT_MULTIPLES);
    if (json_object_get(s, "minimum") || json_object_get(s, "maximum") || json_object_get(s, "exclusiveMinimum") ||
        json_object_get(s, "exclusiveMaximum"))
        return js_err(ptr, "%s", "'multipleOf' together with numeric bounds is not supported");
    long long m = 1, l = 1, not[16];
    size_t nnot = 0;
    if (mult) {
        double k = json_is_number(mult) ? json_number_value(mult) : 0;
        if (!(k > 0)) return js_err(ptr, "%s", "'multipleOf' is not a positive number");
        if (k != floor(k) || k > 10000) return js_err(ptr, "%s", "'multipleOf' other than an integer up to 10000 is not supported");
        m = l = (long long)k;
    }
    size_t i;
    json_t *x;
    json_array_foreach(notm, i, x) {
        double k = json_number_value(x);
        if (k <= 0 || k != floor(k) || k > 10000 || nnot == 16) return js_err(ptr, "%s", "'not' of a 'multipleOf' other than an integer up to 10000 is not supported");
        not[nnot++] = (long long)k;
        l = l / gcd_ll(l, (long long)k) * (long long)k;
        if (l > 10000) return js_err(ptr, "%s", "'multipleOf' and 'not' multipleOf with a common multiple above 10000 are not supported");
        if (m % (long long)k == 0) return js_unsat(j, ptr, "'multipleOf' of a value 'not' rules out");
    }
    multiples_of(j, l, m, not, nnot, out);
    return 0;
}

static int gen_number(jsg *j, json_t *s, int integer, const char *ptr, mlcc_strbuf *out) {
    json_t *mn = json_object_get(s, "minimum"), *mx = json_object_get(s, "maximum");
    json_t *xmn = json_object_get(s, "exclusiveMinimum"), *xmx = json_object_get(s, "exclusiveMaximum");
    if (json_object_get(s, "multipleOf") || json_object_get(s, JS_NOT_MULTIPLES)) return gen_multiples(j, s, ptr, out);
    for (int i = 0; i < 4; i++) {
        json_t *b = i == 0 ? mn : i == 1 ? mx : i == 2 ? xmn : xmx;
        if (b && !json_is_number(b)) return js_err(ptr, "'%s' is not a number", i == 0 ? "minimum" : i == 1 ? "maximum" : i == 2 ? "exclusiveMinimum" : "exclusiveMaximum");
    }
    if (!mn && !mx && !xmn && !xmx) {
        sb_append(out, integer ? "jint" : "jnum");
        return 0;
    }
    /* bounds as integers: lo <= x <= hi, lo_x / hi_x: strict */
    int has_lo = 0, has_hi = 0, lo_x = 0, hi_x = 0;
    double lo = 0, hi = 0;
    if (mn) {
        has_lo = 1;
        lo = json_number_value(mn);
    }
    if (xmn && (!has_lo || json_number_value(xmn) >= lo)) {
        has_lo = 1;
        lo = json_number_value(xmn);
        lo_x = 1;
    }
    if (mx) {
        has_hi = 1;
        hi = json_number_value(mx);
    }
    if (xmx && (!has_hi || json_number_value(xmx) <= hi)) {
        has_hi = 1;
        hi = json_number_value(xmx);
        hi_x = 1;
    }
    if ((has_lo && fabs(lo) > 1e15) || (has_hi && fabs(hi) > 1e15)) return js_err(ptr, "%s", "numeric bounds beyond 1e15 are not supported");
    mlcc_strbuf body = STRBUF_INIT;
    if (integer) {
        long long a = 0, b = 0;
        if (has_lo) a = lo_x ? (long long)floor(lo) + 1 : (long long)ceil(lo);
        if (has_hi) b = hi_x ? (long long)ceil(hi) - 1 : (long long)floor(hi);
        if (has_lo && has_hi && a > b) {
            sb_free(&body);
            return js_unsat(j, ptr, "the numeric bounds leave no value");
        }
        int_range(&body, has_lo, a, has_hi, b, j->opt.max_number_digits);
    } else {
        /* x >= 0 and x < 0 are written separately: the negative side as "-" y with the bounds
         * mirrored, so both are ranges of non-negative decimals */
        decimal dl, dh;
        int rc = 0, alts = 0;
        sb_append(&body, "(");
        if (!has_lo || lo < 0) {
            /* y = -x in [max(0, -hi), -lo] */
            int y_has_hi = has_lo, y_hi_x = lo_x, y_lo_x = has_hi && hi < 0 ? hi_x : 0;
            to_decimal(has_hi && hi < 0 ? -hi : 0, &dl);
            to_decimal(has_lo ? -lo : 0, &dh);
            mlcc_strbuf part = STRBUF_INIT;
            rc = pos_range(&part, &dl, y_lo_x, y_has_hi, &dh, y_hi_x, j->opt.max_number_digits);
            if (rc > 0) {
                sb_printf(&body, "\"-\" %s", part.data);
                alts++;
            }
            sb_free(&part);
        }
        if (rc >= 0 && (!has_hi || hi >= 0)) {
            int p_lo_x = has_lo && lo >= 0 ? lo_x : 0;
            to_decimal(has_lo && lo > 0 ? lo : 0, &dl);
            to_decimal(has_hi ? hi : 0, &dh);
            mlcc_strbuf part = STRBUF_INIT;
            int r2 = pos_range(&part, &dl, p_lo_x, has_hi, &dh, hi_x, j->opt.max_number_digits);
            if (r2 > 0) {
                if (alts++) sb_append(&body, " | ");
                sb_append(&body, part.data);
            }
            if (r2 < 0) rc = r2;
            sb_free(&part);
        }
        if (rc < 0) {
            sb_free(&body);
            return js_err(ptr, "%s", "numeric bounds with the same integer part and fractions on both sides are not supported");
        }
        if (!alts) {
            sb_free(&body);
            return js_unsat(j, ptr, "the numeric bounds leave no value");
        }
        sb_append(&body, ")");
    }
    rule_of(j, body.data, out);
    sb_free(&body);
    return 0;
}

/* ---- strings ---- */

static int get_count(json_t *s, const char *key, long long dflt, long long *out, const char *ptr) {
    json_t *v = json_object_get(s, key);
    if (!v) {
        *out = dflt;
        return 0;
    }
    if (!json_is_integer(v) && !(json_is_real(v) && json_real_value(v) == floor(json_real_value(v))))
        return js_err(ptr, "'%s' is not a non-negative integer", key);
    /* a count written as a real beyond int64 (1e300): casting it would be undefined */
    if (json_is_real(v) && !(fabs(json_real_value(v)) < 9e18)) return js_err(ptr, "'%s' is out of range", key);
    long long x = json_is_integer(v) ? json_integer_value(v) : (long long)json_real_value(v);
    if (x < 0) return js_err(ptr, "'%s' is not a non-negative integer", key);
    *out = x;
    return 0;
}

static void key_excluding(jsg *j, json_t *props, mlcc_strbuf *out);

static int gen_string(jsg *j, json_t *s, const char *ptr, mlcc_strbuf *out) {
    long long mn, mx;
    if (get_count(s, "minLength", 0, &mn, ptr) || get_count(s, "maxLength", -1, &mx, ptr)) return -1;
    json_t *pat = json_object_get(s, "pattern");
    json_t *fmt = json_object_get(s, "format");
    json_t *excluded = json_object_get(s, JS_NOT_STRINGS);
    int has_fmt = fmt && json_is_string(fmt) && strcmp(json_string_value(fmt), "byte");
    static const char *const unsupported[] = {"ipv6", "hostname", "idn-hostname", "regex", "json-pointer",
                                              "relative-json-pointer", "duration", "iri-reference", "uri-template"};
    for (size_t i = 0; has_fmt && i < sizeof unsupported / sizeof unsupported[0]; i++)
        if (!strcmp(json_string_value(fmt), unsupported[i])) return js_err(ptr, "unsupported format '%s'", unsupported[i]);
    /* a format the grammar writes, beside a pattern or excluded strings: both hold (an
     * unknown format is an annotation) */
    int fmt_regex = has_fmt && js_format_regex(json_string_value(fmt)) != NULL;
    mlcc_strbuf la_pos = STRBUF_INIT, la_neg = STRBUF_INIT;
    int lookahead = json_is_string(pat) && js_split_lookahead(json_string_value(pat), &la_pos, &la_neg);
    sb_free(&la_pos);
    sb_free(&la_neg);
    int more = json_object_get(s, JS_NOT_PATTERNS) || json_object_get(s, JS_ALL_PATTERNS) || excluded || lookahead;
    if ((!has_fmt || fmt_regex) && (more || (fmt_regex && pat) || (excluded && (pat || mn > 0 || mx >= 0))))
        return js_gen_string_dfa(j, s, mn, mx, ptr, out);
    if (excluded) { /* from not enum/const: any string but those */
        if (pat || (fmt && json_is_string(fmt) && strcmp(json_string_value(fmt), "byte")) || mn > 0 || mx >= 0)
            return js_err(ptr, "%s", "'not' with enum/const strings together with pattern, format, minLength or maxLength is not supported");
        key_excluding(j, excluded, out);
        return 0;
    }
    if (mx >= 0 && mn > mx) return js_unsat(j, ptr, "minLength > maxLength");
    if (mn > 10000) return js_err(ptr, "%s", "minLength above 10000 is not supported");
    if (mx > 10000) mx = 10000; /* a subset: no reply comes near it */
    mlcc_strbuf body = STRBUF_INIT;
    if (json_is_string(pat)) {
        const char *re = json_string_value(pat);
        int cap = j->opt.max_string_chars;
        long long lmin, lmax;
        mlcc_strbuf scratch = STRBUF_INIT;
        if (gram_regex_to_gbnf_len(re, strlen(re), 1, cap, &scratch, ptr, &lmin, &lmax)) {
            sb_free(&scratch);
            sb_free(&body);
            return -1;
        }
        if (mx >= 0 && (lmax < 0 || lmax > mx)) {
            /* pattern and maxLength: bound the pattern's open repetitions so that no match is
             * longer than maxLength (the largest such bound; a subset of the valid strings) */
            int lo = 0, hi = (int)mx, best = -1;
            while (lo <= hi) {
                int mid = (lo + hi) / 2;
                sb_clear(&scratch);
                gram_regex_to_gbnf_len(re, strlen(re), 1, mid, &scratch, ptr, &lmin, &lmax);
                if (lmax >= 0 && lmax <= mx) {
                    best = mid;
                    lo = mid + 1;
                } else
                    hi = mid - 1;
            }
            if (best < 0) { /* no bound on the repetitions fits: the exact automaton */
                sb_free(&scratch);
                sb_free(&body);
                return js_gen_string_dfa(j, s, mn, mx, ptr, out);
            }
            cap = best;
            sb_clear(&scratch);
            gram_regex_to_gbnf_len(re, strlen(re), 1, cap, &scratch, ptr, &lmin, &lmax);
        }
        if (lmin < mn) { /* the pattern's grammar cannot count: the exact automaton */
            sb_free(&scratch);
            sb_free(&body);
            return js_gen_string_dfa(j, s, mn, mx, ptr, out);
        }
        sb_free(&scratch);
        sb_append(&body, "\"\\\"\" ");
        gram_regex_to_gbnf(re, strlen(re), 1, cap, &body, ptr);
        sb_append(&body, " \"\\\"\"");
    } else if (json_is_string(fmt) && strcmp(json_string_value(fmt), "byte") != 0) {
        const char *f = json_string_value(fmt);
        static const char *const fmts[][2] = {{"date", "fdate"}, {"time", "ftime"}, {"date-time", "fdatetime"},
                                               {"email", "femail"}, {"idn-email", "femail"}, {"uuid", "fuuid"},
                                               {"uri", "furi"}, {"uri-reference", "furi"}, {"iri", "furi"},
                                               {"ipv4", "fipv4"}};
        const char *rule = NULL;
        for (size_t i = 0; i < sizeof fmts / sizeof fmts[0]; i++)
            if (!strcmp(f, fmts[i][0])) rule = fmts[i][1];
        if (rule && (mn > 0 || mx >= 0)) {
            /* the lengths (in characters) each format's grammar writes: bounds that hold them
             * all change nothing */
            static const struct {
                const char *rule;
                long long lo, hi;
            } lens[] = {{"fdate", 10, 10}, {"ftime", 9, 24}, {"fdatetime", 20, 35}, {"fuuid", 36, 36}, {"fipv4", 7, 15},
                        {"femail", 6, 64 + 1 + 63 + 3 * 64 + 1 + 24}};
            int fits = 0;
            for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
                if (!strcmp(rule, lens[i].rule)) fits = lens[i].lo >= mn && (mx < 0 || lens[i].hi <= mx);
            if (!fits) { /* lengths that cut into the format's values: the exact automaton */
                sb_free(&body);
                if (js_format_regex(f)) return js_gen_string_dfa(j, s, mn, mx, ptr, out);
                return js_err(ptr, "%s", "'format' together with 'minLength'/'maxLength' that cut into its values is not supported");
            }
        }
        if (rule) sb_printf(&body, "\"\\\"\" %s \"\\\"\"", rule);
        /* else an unknown format is an annotation: the lengths below still hold */
    }
    if (!body.len) {
        if (mn == 0 && mx < 0)
            sb_append(&body, "jstring");
        else if (mx < 0 && j->opt.max_string_chars > 0)
            sb_printf(&body, "\"\\\"\" jchar{%lld,%lld} \"\\\"\"", mn, mn + j->opt.max_string_chars);
        else if (mx < 0)
            sb_printf(&body, "\"\\\"\" jchar{%lld,} \"\\\"\"", mn);
        else
            sb_printf(&body, "\"\\\"\" jchar{%lld,%lld} \"\\\"\"", mn, mx);
    }
    rule_of(j, body.data, out);
    sb_free(&body);
    return 0;
}

/* ---- arrays ---- */

static int gen_array(jsg *j, json_t *s, const char *ptr, mlcc_strbuf *out) {
    long long mn, mx;
    if (get_count(s, "minItems", 0, &mn, ptr) || get_count(s, "maxItems", -1, &mx, ptr)) return -1;
    if (mx >= 0 && mn > mx) return js_unsat(j, ptr, "minItems > maxItems");
    if (mn > 1000 || mx > 1000) return js_err(ptr, "%s", "item counts above 1000 are not supported");
    json_t *items = json_object_get(s, "items"), *prefix = json_object_get(s, "prefixItems");
    if (items && json_is_array(items)) return js_err(ptr, "%s", "'items' as an array (draft 4-7 tuples) is not supported; use prefixItems");
    if (prefix && !json_is_array(prefix)) return js_err(ptr, "%s", "'prefixItems' is not an array");
    mlcc_strbuf cp = STRBUF_INIT;
    MLCC_VEC(char *) pre = {0};
    int rc = 0;
    size_t k = prefix ? json_array_size(prefix) : 0;
    for (size_t i = 0; i < k && !rc; i++) {
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", i);
        child_ptr(&cp, ptr, "prefixItems", idx);
        mlcc_strbuf e = STRBUF_INIT;
        rc = gen(j, json_array_get(prefix, i), cp.data, &e);
        vec_push(&pre, e.data ? sb_detach(&e) : mlcc_xstrdup("\"\""));
    }
    char *item = NULL;
    int items_false = items && json_is_false(items);
    if (!rc && !items_false) {
        mlcc_strbuf e = STRBUF_INIT;
        if (items) {
            child_ptr(&cp, ptr, "items", NULL);
            j->unsat = 0;
            rc = gen(j, items, cp.data, &e);
            if (rc && j->unsat) { /* no items beyond the prefix */
                rc = j->unsat = 0;
                items_false = 1;
            }
        } else
            sb_append(&e, "jvalue");
        item = e.data ? sb_detach(&e) : mlcc_xstrdup("\"\"");
    }
    mlcc_strbuf body = STRBUF_INIT;
    if (!rc) {
        const char *w = ws(j);
        sb_printf(&body, "\"[\" %s (", w);
        int alts = 0;
        /* m prefix items present (m < k: no more items; m == k: then extra items) */
        for (size_t m = 0; m <= k; m++) {
            long long lo_extra = 0, hi_extra = 0;
            if (m < k) {
                if ((long long)m < mn || (mx >= 0 && (long long)m > mx)) continue;
            } else {
                if (items_false) {
                    if ((long long)k < mn || (mx >= 0 && (long long)k > mx)) continue;
                } else {
                    lo_extra = mn > (long long)k ? mn - (long long)k : 0;
                    hi_extra = mx >= 0 ? mx - (long long)k : -1;
                    if (hi_extra >= 0 && hi_extra < lo_extra) continue;
                }
            }
            if (alts++) sb_append(&body, " | ");
            sb_append(&body, "(");
            for (size_t i = 0; i < m; i++) {
                if (i) sb_printf(&body, "\",\" %s ", w);
                sb_printf(&body, "%s %s ", pre.data[i], w);
            }
            if (m == k && !items_false && (hi_extra != 0)) {
                /* extra items: the first without a comma when no prefix item came */
                mlcc_strbuf one = STRBUF_INIT;
                sb_printf(&one, "\",\" %s %s %s", w, item, w);
                if (m == 0) {
                    if (lo_extra == 0) sb_append(&body, "(");
                    sb_printf(&body, "%s %s ", item, w);
                    long long l2 = lo_extra > 0 ? lo_extra - 1 : 0, h2 = hi_extra >= 0 ? hi_extra - 1 : -1;
                    if (h2 < 0)
                        sb_printf(&body, "(%s){%lld,}", one.data, l2);
                    else if (h2 > 0)
                        sb_printf(&body, "(%s){%lld,%lld}", one.data, l2, h2);
                    if (lo_extra == 0) sb_append(&body, ")?");
                } else {
                    if (hi_extra < 0)
                        sb_printf(&body, "(%s){%lld,}", one.data, lo_extra);
                    else
                        sb_printf(&body, "(%s){%lld,%lld}", one.data, lo_extra, hi_extra);
                }
                sb_free(&one);
            } else if (m == 0)
                sb_append(&body, "\"\"");
            sb_append(&body, ")");
        }
        if (!alts) rc = js_unsat(j, ptr, "the item counts leave no array");
        sb_printf(&body, ") \"]\"");
    }
    if (!rc) rule_of(j, body.data, out);
    for (size_t i = 0; i < pre.len; i++) free(pre.data[i]);
    vec_free(&pre);
    free(item);
    sb_free(&body);
    sb_free(&cp);
    return rc;
}

/* ---- objects ---- */

static size_t cp_len(unsigned char c) {
    return c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
}

static uint32_t cp_at(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    uint32_t v = n == 1 ? u[0] : n == 2 ? u[0] & 0x1F : n == 3 ? u[0] & 0x0F : u[0] & 0x07;
    for (size_t i = 1; i < n; i++) v = (v << 6) | (u[i] & 0x3F);
    return v;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The rest of a key (after its opening quote) that is none of names[0..n) (sorted, sharing
 * their first plen bytes), over a trie of the names by code point. Keys written this way take
 * no escapes, so a name cannot come back in another spelling. */
static void key_rest_excluding(jsg *j, char **names, size_t n, size_t plen, mlcc_strbuf *out) {
    mlcc_strbuf body = STRBUF_INIT;
    size_t i = 0;
    int alts = 0;
    if (i < n && strlen(names[i]) == plen)
        i++; /* a name ends here: the key may not */
    else {
        sb_append(&body, "\"\\\"\"");
        alts++;
    }
    mlcc_strbuf cls = STRBUF_INIT;
    sb_append(&cls, "[^\"\\\\\\x00-\\x1F");
    while (i < n) {
        size_t cl = cp_len((unsigned char)names[i][plen]);
        size_t k = i + 1;
        while (k < n && strlen(names[k]) >= plen + cl && !memcmp(names[k] + plen, names[i] + plen, cl)) k++;
        if (alts++) sb_append(&body, " | ");
        gbnf_literal(&body, names[i] + plen, cl);
        sb_append(&body, " ");
        key_rest_excluding(j, names + i, k - i, plen + cl, &body);
        uint32_t c = cp_at(names[i] + plen, cl);
        sb_printf(&cls, c <= 0xFFFF ? "\\u%04X" : "\\U%08X", (unsigned)c);
        i = k;
    }
    sb_append(&cls, "]");
    if (alts++) sb_append(&body, " | ");
    sb_printf(&body, "%s kchar* \"\\\"\"", cls.data);
    rule_of(j, body.data, out);
    sb_free(&body);
    sb_free(&cls);
}

/* A JSON string that is none of the names: the keys of an object (named properties) or the
 * strings of an array (NULL: any string). Names with quotes, backslashes or control
 * characters cannot be written without escapes, so they need no excluding. */
static void key_excluding(jsg *j, json_t *props, mlcc_strbuf *out) {
    MLCC_VEC(char *) names = {0};
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(props)) json_object_foreach(props, k, v) vec_push(&names, (char *)k);
    if (json_is_array(props)) json_array_foreach(props, i, v) if (json_is_string(v)) vec_push(&names, (char *)json_string_value(v));
    size_t w = 0;
    for (i = 0; i < names.len; i++) {
        int plain = 1;
        for (const char *p = names.data[i]; *p; p++) plain &= *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20;
        if (plain) names.data[w++] = names.data[i];
    }
    names.len = w;
    if (names.len) qsort(names.data, names.len, sizeof(char *), cmp_str);
    for (i = w = 0; i < names.len; i++) /* once each */
        if (!w || strcmp(names.data[w - 1], names.data[i])) names.data[w++] = names.data[i];
    names.len = w;
    mlcc_strbuf body = STRBUF_INIT;
    sb_append(&body, "\"\\\"\" ");
    key_rest_excluding(j, names.data, names.len, 0, &body);
    rule_of(j, body.data, out);
    sb_free(&body);
    vec_free(&names);
}

/* The schema a property name takes from the patternProperties it matches (merged when several
 * match; *out NULL when none does). Patterns are searched, unanchored, as JSON Schema says. */
static int matching_pattern_schema(jsg *j, json_t *pprops, const char *name, const char *ptr, json_t **out) {
    *out = NULL;
    if (!json_is_object(pprops)) return 0;
    const char *re;
    json_t *v;
    json_object_foreach(pprops, re, v) {
        int hit = js_pattern_search(re, name);
        if (hit < 0) return js_err(ptr, "patternProperties: pattern '%s' does not compile", re);
        if (!hit) continue;
        if (!*out) {
            *out = json_incref(v);
            continue;
        }
        int err = 0;
        json_t *m = js_merge(j, *out, v, ptr, &err);
        json_decref(*out);
        *out = m;
        if (!m) return -1;
    }
    return 0;
}

static int gen_object(jsg *j, json_t *s, const char *ptr, mlcc_strbuf *out) {
    json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required");
    json_t *addl = json_object_get(s, "additionalProperties"), *pprops = json_object_get(s, "patternProperties");
    if (props && !json_is_object(props)) return js_err(ptr, "%s", "'properties' is not an object");
    if (req && !json_is_array(req)) return js_err(ptr, "%s", "'required' is not an array");
    if (pprops && !json_is_object(pprops)) return js_err(ptr, "%s", "'patternProperties' is not an object");
    long long minp, maxp;
    if (get_count(s, "minProperties", 0, &minp, ptr) || get_count(s, "maxProperties", -1, &maxp, ptr)) return -1;
    /* propertyNames: the keys allowed, as an automaton (named ones outside it may not appear) */
    json_t *pnames = json_object_get(s, "propertyNames");
    rx_dfa *allowed = NULL;
    if (pnames && !(allowed = js_property_names_dfa(j, pnames, ptr))) return -1;
    const char *w = ws(j);
    mlcc_strbuf cp = STRBUF_INIT;
    int rc = 0;
    /* the named properties, in order: their member text and whether required */
    MLCC_VEC(char *) members = {0};
    MLCC_VEC(int) required = {0};
    const char *key;
    json_t *v;
    size_t nreq_found = 0;
    if (props) json_object_foreach(props, key, v) {
        if (rc) break;
        child_ptr(&cp, ptr, "properties", key);
        mlcc_strbuf m = STRBUF_INIT;
        json_t *name = json_string(key);
        json_literal(&m, name);
        json_decref(name);
        sb_printf(&m, " %s \":\" %s ", w, w);
        int r = 0;
        size_t i;
        json_t *x;
        if (req) json_array_foreach(req, i, x) if (json_is_string(x) && !strcmp(json_string_value(x), key)) r = 1;
        if (allowed && !rx_dfa_matches(allowed, key, strlen(key))) { /* propertyNames rules it out */
            sb_free(&m);
            if (r) rc = js_unsat(j, cp.data, "a required property's name is not allowed by propertyNames");
            continue;
        }
        /* a named property matching patterns of patternProperties takes their schemas too */
        json_t *pv = NULL, *vs = json_incref(v);
        if ((rc = matching_pattern_schema(j, pprops, key, ptr, &pv))) {
            json_decref(vs);
            sb_free(&m);
            break;
        }
        if (pv) {
            int err = 0;
            json_t *mm = js_merge(j, v, pv, cp.data, &err);
            json_decref(pv);
            json_decref(vs);
            if (!mm) {
                rc = -1;
                sb_free(&m);
                break;
            }
            vs = mm;
        }
        j->unsat = 0;
        rc = gen(j, vs, cp.data, &m);
        json_decref(vs);
        if (rc && j->unsat && !r) { /* a property that allows no value may not appear */
            rc = 0;
            j->unsat = 0;
            sb_free(&m);
            continue;
        }
        nreq_found += (size_t)r;
        vec_push(&members, sb_detach(&m));
        vec_push(&required, r);
    }
    /* required names without a property schema: any value */
    if (!rc && req) {
        size_t i;
        json_t *x;
        json_array_foreach(req, i, x) {
            if (!json_is_string(x)) {
                rc = js_err(ptr, "%s", "'required' holds a non-string");
                break;
            }
            if (props && json_object_get(props, json_string_value(x))) continue;
            if (allowed && !rx_dfa_matches(allowed, json_string_value(x), strlen(json_string_value(x)))) {
                rc = js_unsat(j, ptr, "a required property's name is not allowed by propertyNames");
                break;
            }
            /* its value follows the patternProperties it matches, else additionalProperties */
            json_t *vs = NULL;
            if ((rc = matching_pattern_schema(j, pprops, json_string_value(x), ptr, &vs))) break;
            if (!vs) vs = addl ? json_incref(addl) : json_true();
            mlcc_strbuf m = STRBUF_INIT;
            json_literal(&m, x);
            sb_printf(&m, " %s \":\" %s ", w, w);
            child_ptr(&cp, ptr, "required", json_string_value(x));
            rc = gen(j, vs, cp.data, &m);
            json_decref(vs);
            if (rc) {
                sb_free(&m);
                break;
            }
            vec_push(&members, sb_detach(&m));
            vec_push(&required, 1);
        }
    }
    /* extra members */
    mlcc_strbuf extra = STRBUF_INIT;
    if (!rc && ((pprops && json_object_size(pprops)) || allowed)) {
        /* keys by the patterns they match, none a named (or forbidden) property's; the keys
         * matching none take additionalProperties (absent: any value, unless strict) */
        MLCC_VEC(const char *) taken = {0};
        if (props) json_object_foreach(props, key, v) vec_push(&taken, key);
        size_t i;
        json_t *x;
        if (req) json_array_foreach(req, i, x) if (json_is_string(x)) vec_push(&taken, json_string_value(x));
        json_t *other = addl ? (json_is_false(addl) ? NULL : addl) : j->opt.strict_properties ? NULL : json_true();
        json_t *none = pprops ? NULL : json_object();
        if (!pprops && !json_is_false(addl)) /* no patterns: the keys additionalProperties takes */
            other = addl ? addl : (!j->opt.strict_properties || !props) ? json_true() : NULL;
        rc = js_key_regions(j, pprops ? pprops : none, other, taken.data, taken.len, allowed, ptr, &extra);
        json_decref(none);
        vec_free(&taken);
    } else if (!rc && addl && !json_is_false(addl) && !json_is_true(addl)) {
        child_ptr(&cp, ptr, "additionalProperties", NULL);
        key_excluding(j, props, &extra);
        sb_printf(&extra, " %s \":\" %s ", w, w);
        j->unsat = 0;
        rc = gen(j, addl, cp.data, &extra);
        if (rc && j->unsat) { /* no other property may appear */
            rc = j->unsat = 0;
            sb_clear(&extra);
        }
    } else if (!rc && (json_is_true(addl) || (!addl && (!j->opt.strict_properties || !props)))) {
        key_excluding(j, props, &extra);
        sb_printf(&extra, " %s \":\" %s jvalue", w, w);
    }
    size_t n = members.len;
    long long max_extra = -1;
    if (!rc && maxp >= 0) {
        size_t nreq = 0;
        for (size_t i = 0; i < n; i++) nreq += (size_t)required.data[i];
        if ((long long)nreq > maxp) rc = js_unsat(j, ptr, "more required properties than maxProperties");
        else if (nreq == n && extra.len) {
            /* only required named properties: the extra ones are counted */
            max_extra = maxp - (long long)nreq;
            if (max_extra == 0) sb_clear(&extra);
        } else if (extra.len || (long long)n > maxp)
            rc = js_err(ptr, "%s", "maxProperties below the number of possible properties is not supported");
    }
    if (!rc && minp > 1) {
        size_t nreq = 0;
        for (size_t i = 0; i < n; i++) nreq += (size_t)required.data[i];
        if ((long long)nreq < minp) rc = js_err(ptr, "%s", "minProperties above the number of required properties is not supported (only 0 or 1)");
    }
    if (!rc) {
        /* from the end: R_i = members i.. after something was written (leading commas);
         * F_i = the same with nothing written yet; N_i = F_i but not empty (minProperties 1) */
        mlcc_strbuf R = STRBUF_INIT, F = STRBUF_INIT, N = STRBUF_INIT, t = STRBUF_INIT;
        if (extra.len) {
            if (max_extra >= 0) /* after a member (n > 0) or after the first extra one */
                sb_printf(&t, "(\",\" %s %s %s){0,%lld}", w, extra.data, w, n > 0 ? max_extra : max_extra - 1);
            else
                sb_printf(&t, "(\",\" %s %s %s)*", w, extra.data, w);
            rule_of(j, t.data, &R);
            sb_clear(&t);
            sb_printf(&t, "%s %s %s", extra.data, w, R.data);
            rule_of(j, t.data, &N);
            sb_clear(&t);
            sb_printf(&t, "%s | \"\"", N.data);
            rule_of(j, t.data, &F);
        } else {
            sb_append(&R, "\"\"");
            sb_append(&F, "\"\"");
            sb_append(&N, "[^\\x00-\\U0010FFFF]"); /* nothing: no member can come */
        }
        for (size_t ii = n; ii-- > 0;) {
            const char *m = members.data[ii];
            mlcc_strbuf R2 = STRBUF_INIT, F2 = STRBUF_INIT, N2 = STRBUF_INIT;
            sb_clear(&t);
            if (required.data[ii]) {
                sb_printf(&t, "\",\" %s %s %s %s", w, m, w, R.data);
                rule_of(j, t.data, &R2);
                sb_clear(&t);
                sb_printf(&t, "%s %s %s", m, w, R.data);
                rule_of(j, t.data, &F2);
                sb_append(&N2, F2.data);
            } else {
                sb_printf(&t, "(\",\" %s %s %s)? %s", w, m, w, R.data);
                rule_of(j, t.data, &R2);
                sb_clear(&t);
                sb_printf(&t, "%s %s %s", m, w, R.data);
                mlcc_strbuf first = STRBUF_INIT;
                rule_of(j, t.data, &first);
                sb_clear(&t);
                sb_printf(&t, "%s | %s", first.data, F.data);
                rule_of(j, t.data, &F2);
                sb_clear(&t);
                sb_printf(&t, "%s | %s", first.data, N.data);
                rule_of(j, t.data, &N2);
                sb_free(&first);
            }
            sb_free(&R);
            sb_free(&F);
            sb_free(&N);
            R = R2;
            F = F2;
            N = N2;
        }
        sb_clear(&t);
        sb_printf(&t, "\"{\" %s %s \"}\"", w, minp >= 1 ? N.data : F.data);
        rule_of(j, t.data, out);
        sb_free(&R);
        sb_free(&F);
        sb_free(&N);
        sb_free(&t);
    }
    for (size_t i = 0; i < members.len; i++) free(members.data[i]);
    vec_free(&members);
    vec_free(&required);
    rx_dfa_free(allowed);
    sb_free(&extra);
    sb_free(&cp);
    (void)nreq_found;
    return rc;
}

/* ---- the dispatcher ---- */

/* oneOf as anyOf: branches that no value can match together stay as they are; closed objects
 * sharing only {} (which then matches both, so is invalid) get minProperties 1; any other
 * overlapping pair is made exclusive with `not`: branch i becomes i and not j for each j it
 * may overlap (reported when that `not` is not supported). The proofs see each branch with
 * ctx (the oneOf's sibling keywords, or NULL); the negations take the bare branches. *list
 * becomes a new reference, to be used as anyOf. */
static int one_of_exclusive(jsg *j, json_t **list, json_t *ctx, const char *ptr) {
    size_t n = json_array_size(*list);
    json_t *seen = json_array(); /* the branches with ctx */
    for (size_t a = 0; a < n; a++) {
        int err = 0;
        json_t *m = ctx ? js_merge(j, ctx, json_array_get(*list, a), ptr, &err) : json_incref(json_array_get(*list, a));
        if (!m) {
            json_decref(seen);
            return -1;
        }
        json_array_append_new(seen, m);
    }
    char *rel = calloc(n * n + 1, 1); /* 0 disjoint, 1 only {} shared, 2 may overlap */
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++) {
            json_t *x = json_array_get(seen, a), *y = json_array_get(seen, b);
            char r = js_disjoint(j, x, y, 0) ? 0 : js_overlap_only_empty(j, x, y) ? 1 : 2;
            rel[a * n + b] = rel[b * n + a] = r;
        }
    json_decref(seen);
    json_t *out = json_array();
    int rc = 0;
    for (size_t a = 0; a < n && !rc; a++) {
        json_t *cur = json_incref(json_array_get(*list, a));
        int only_empty = 0;
        for (size_t b = 0; b < n && cur; b++) {
            if (rel[a * n + b] == 1) only_empty = 1;
            if (rel[a * n + b] != 2) continue;
            char idx[24];
            snprintf(idx, sizeof idx, "%zu", b);
            mlcc_strbuf cp = STRBUF_INIT;
            child_ptr(&cp, ptr, "oneOf", idx);
            /* leniently: an exclusion that is a subset of the exact one still never accepts a
             * value matching both branches */
            int was = j->lenient_not;
            j->lenient_not = 1;
            j->lenient_dropped = 0;
            json_t *next = js_negate(j, cur, json_array_get(*list, b), cp.data);
            j->lenient_not = was;
            if (json_is_false(next) && j->lenient_dropped) { /* nothing left of the branch */
                json_decref(next);
                next = NULL;
                mlcc_set_error("%s", j->lenient_why);
            }
            sb_free(&cp);
            json_decref(cur);
            cur = next;
            if (!cur) {
                char what[64];
                snprintf(what, sizeof what, "%zu and %zu", a < b ? a : b, a < b ? b : a);
                rc = mlcc_prefix_error("oneOf: branches %s may both match a value, and excluding one from the other failed", what);
            }
        }
        if (cur && only_empty) {
            json_t *one = json_pack("{s:i}", "minProperties", 1);
            int err = 0;
            json_t *m = js_merge(j, cur, one, ptr, &err);
            json_decref(one);
            json_decref(cur);
            cur = m;
            if (!m) rc = -1;
        }
        if (cur) json_array_append_new(out, cur);
    }
    free(rel);
    if (rc) {
        json_decref(out);
        return -1;
    }
    json_decref(*list);
    *list = out;
    return 0;
}

static int gen_alternatives(jsg *j, json_t *list, const char *kw, const char *ptr, mlcc_strbuf *out) {
    if (!json_is_array(list) || !json_array_size(list)) return js_err(ptr, "'%s' is not a non-empty array", kw);
    mlcc_strbuf body = STRBUF_INIT, cp = STRBUF_INIT;
    size_t i;
    json_t *x;
    int rc = 0;
    json_incref(list);
    int nok = 0;
    json_array_foreach(list, i, x) {
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", i);
        child_ptr(&cp, ptr, kw, idx);
        size_t mark = body.len;
        if (nok) sb_append(&body, " | ");
        j->unsat = 0;
        if ((rc = gen(j, x, cp.data, &body))) {
            if (!j->unsat) break;
            rc = 0; /* a branch that allows no value is left out */
            body.len = mark;
            if (body.data) body.data[mark] = 0;
            continue;
        }
        nok++;
    }
    j->unsat = 0;
    if (!rc && !nok) rc = js_unsat(j, ptr, "no branch of anyOf/oneOf allows a value");
    if (!rc) rule_of(j, body.data, out);
    json_decref(list);
    sb_free(&body);
    sb_free(&cp);
    return rc;
}

static int gen_type(jsg *j, json_t *s, const char *type, const char *ptr, mlcc_strbuf *out) {
    if (!strcmp(type, "string")) return gen_string(j, s, ptr, out);
    if (!strcmp(type, "integer")) return gen_number(j, s, 1, ptr, out);
    if (!strcmp(type, "number")) return gen_number(j, s, 0, ptr, out);
    if (!strcmp(type, "boolean")) {
        sb_append(out, "jbool");
        return 0;
    }
    if (!strcmp(type, "null")) {
        sb_append(out, "jnull");
        return 0;
    }
    if (!strcmp(type, "array")) return gen_array(j, s, ptr, out);
    if (!strcmp(type, "object")) return gen_object(j, s, ptr, out);
    return js_err(ptr, "unknown type '%s'", type);
}

/* Does the schema say anything beyond annotations and these combinators? */
static int has_constraints(json_t *s) {
    static const char *const ignore[] = {"anyOf", "oneOf", "allOf", "description", "title", "default", "examples",
                                         "$schema", "$id", "$comment", "$defs", "definitions", "$ref", NULL};
    const char *key;
    json_t *v;
    json_object_foreach(s, key, v) {
        int skip = 0;
        for (int i = 0; ignore[i]; i++) skip |= !strcmp(key, ignore[i]);
        if (skip) continue;
        for (int i = 0; handled_keywords[i]; i++)
            if (!strcmp(key, handled_keywords[i])) return 1;
    }
    return 0;
}

/* enum and const: the values the whole schema allows (js_value_check; a value it cannot decide
 * is left out, a subset). */
static int gen_values(jsg *j, json_t *s, const char *ptr, mlcc_strbuf *out) {
    json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    if (en && !json_is_array(en)) return js_err(ptr, "%s", "'enum' is not an array");
    mlcc_strbuf body = STRBUF_INIT;
    size_t i, n = cn ? 1 : json_array_size(en);
    int alts = 0, unknown = 0;
    for (i = 0; i < n; i++) {
        json_t *x = cn ? cn : json_array_get(en, i);
        int ok = js_value_check(j, s, x, 0);
        unknown += ok < 0; /* left out: a subset */
        if (ok <= 0) continue;
        if (alts++) sb_append(&body, " | ");
        json_value_gbnf(&body, x, ws(j));
    }
    if (!alts) {
        sb_free(&body);
        if (unknown) return js_err(ptr, "%s", "enum/const values beside keywords they cannot be checked against (format, dependencies, ...) are not supported");
        return js_unsat(j, ptr, "no value of enum/const is allowed by the schema");
    }
    rule_of(j, body.data, out);
    sb_free(&body);
    return 0;
}

/* Draft 4-7 forms and dependencies in terms of the keywords above (a new reference, or NULL
 * with *err when something is wrong; s itself when there is nothing to do):
 *   items [A, B] + additionalItems C  -> prefixItems [A, B] + items C (no additionalItems: any);
 *   dependencies / dependentRequired {a: [b, c]} -> anyOf [a absent, required a, b, c];
 *   dependencies / dependentSchemas {a: S}       -> anyOf [a absent, required a and S]. */
static json_t *legacy_rewrite(jsg *j, json_t *s, const char *ptr, int *err) {
    json_t *items = json_object_get(s, "items");
    int tuple = json_is_array(items);
    json_t *deps[3] = {json_object_get(s, "dependencies"), json_object_get(s, "dependentRequired"),
                       json_object_get(s, "dependentSchemas")};
    if (!tuple && !json_object_get(s, "additionalItems") && !deps[0] && !deps[1] && !deps[2]) return json_incref(s);
    json_t *r = json_copy(s);
    if (tuple) {
        json_object_set(r, "prefixItems", items);
        json_t *more = json_object_get(s, "additionalItems");
        if (more)
            json_object_set(r, "items", more);
        else
            json_object_del(r, "items");
    }
    json_object_del(r, "additionalItems"); /* without tuple items it means nothing */
    json_object_del(r, "dependencies");
    json_object_del(r, "dependentRequired");
    json_object_del(r, "dependentSchemas");
    size_t count = 0;
    for (int d = 0; d < 3 && r; d++) {
        if (!deps[d]) continue;
        if (!json_is_object(deps[d])) {
            *err = js_err(ptr, "%s", "'dependencies' is not an object");
            json_decref(r);
            return NULL;
        }
        const char *name;
        json_t *v;
        json_object_foreach(deps[d], name, v) {
            if (++count > 6) {
                *err = js_err(ptr, "%s", "more than 6 dependencies are not supported");
                json_decref(r);
                return NULL;
            }
            json_t *present;
            if (json_is_array(v)) {
                present = json_pack("{s:[s]}", "required", name);
                json_array_extend(json_object_get(present, "required"), v);
            } else
                present = json_pack("{s:[{s:[s]}, O]}", "allOf", "required", name, v);
            json_t *cond = json_pack("{s:[{s:{s:b}}, o]}", "anyOf", "properties", name, 0, present);
            json_t *m = js_merge(j, r, cond, ptr, err);
            json_decref(cond);
            json_decref(r);
            r = m;
            if (!r) return NULL;
        }
    }
    return r;
}

/* if/then/else: (if and then) or (not if and else), with the rest of the schema in both; an
 * absent then or else allows anything, then and else without if mean nothing. */
static int gen_conditional(jsg *j, json_t *s, const char *ptr, mlcc_strbuf *out) {
    json_t *cond = json_object_get(s, "if"), *then = json_object_get(s, "then"), *els = json_object_get(s, "else");
    json_t *rest = json_copy(s);
    json_object_del(rest, "if");
    json_object_del(rest, "then");
    json_object_del(rest, "else");
    int err = 0, rc = -1;
    mlcc_strbuf cp = STRBUF_INIT;
    child_ptr(&cp, ptr, "if", NULL);
    json_t *yes = js_merge(j, cond, then ? then : json_true(), cp.data, &err);
    json_t *yes_all = yes ? js_merge(j, rest, yes, cp.data, &err) : NULL;
    json_t *no_base = yes_all ? js_merge(j, rest, els ? els : json_true(), cp.data, &err) : NULL;
    json_t *no = no_base ? js_negate(j, no_base, cond, cp.data) : NULL;
    if (no_base && !no) mlcc_prefix_error("if/then/else: where 'if' fails");
    if (no) {
        json_t *alts = json_pack("{s:[O,O]}", "anyOf", yes_all, no);
        rc = gen(j, alts, ptr, out);
        json_decref(alts);
    }
    json_decref(yes);
    json_decref(yes_all);
    json_decref(no_base);
    json_decref(no);
    json_decref(rest);
    sb_free(&cp);
    return rc;
}

static int gen_object_schema(jsg *j, json_t *s, const char *ptr, mlcc_strbuf *out) {
    if (json_object_get(s, "const")) return gen_values(j, s, ptr, out);
    if (json_object_get(s, "if")) return gen_conditional(j, s, ptr, out);
    {
        int err = 0;
        json_t *r = legacy_rewrite(j, s, ptr, &err);
        if (!r) return -1;
        if (r != s) {
            int rc = gen(j, r, ptr, out);
            json_decref(r);
            return rc;
        }
        json_decref(r);
    }
    if (check_keywords(s, ptr)) return -1;
    json_t *notv = json_object_get(s, "not");
    if (notv) {
        json_t *rest = json_copy(s);
        json_object_del(rest, "not");
        mlcc_strbuf cp = STRBUF_INIT;
        child_ptr(&cp, ptr, "not", NULL);
        int was = j->lenient_not;
        if (json_is_true(json_object_get(s, JS_LENIENT))) j->lenient_not = 1;
        json_object_del(rest, JS_LENIENT);
        json_t *m = js_negate(j, rest, notv, cp.data);
        j->lenient_not = was;
        json_decref(rest);
        sb_free(&cp);
        int rc = m ? gen(j, m, ptr, out) : -1;
        json_decref(m);
        return rc;
    }
    json_t *all = json_object_get(s, "allOf");
    if (all) {
        if (!json_is_array(all)) return js_err(ptr, "%s", "'allOf' is not an array");
        json_t *acc = json_copy(s);
        json_object_del(acc, "allOf");
        size_t i;
        json_t *x;
        int err = 0;
        mlcc_strbuf cp = STRBUF_INIT;
        json_array_foreach(all, i, x) {
            char idx[24];
            snprintf(idx, sizeof idx, "%zu", i);
            child_ptr(&cp, ptr, "allOf", idx);
            json_t *m = js_merge(j, acc, x, cp.data, &err);
            json_decref(acc);
            acc = m;
            if (!acc) break;
        }
        sb_free(&cp);
        if (!acc) return -1;
        int rc = gen(j, acc, ptr, out);
        json_decref(acc);
        return rc;
    }
    json_t *ref = json_object_get(s, "$ref");
    if (ref) {
        if (!json_is_string(ref)) return js_err(ptr, "%s", "'$ref' is not a string");
        const char *target = json_string_value(ref);
        if (has_constraints(s) || json_object_get(s, "anyOf") || json_object_get(s, "oneOf")) {
            json_t *rest = json_copy(s);
            json_object_del(rest, "$ref");
            json_t *t = js_resolve_pointer(j, target, ptr);
            int err = 0;
            json_t *m = t ? js_merge(j, t, rest, ptr, &err) : NULL;
            json_decref(rest);
            int rc = m ? gen(j, m, ptr, out) : -1;
            json_decref(m);
            return rc;
        }
        int inserted;
        mlcc_strmap_entry *e = strmap_upsert(&j->by_ref, target, strlen(target), &inserted);
        if (!inserted) {
            if (e->value.i < 0) return js_unsat(j, ptr, "the schema $ref names allows no value");
            sb_printf(out, "ref%d", (int)e->value.i);
            return 0;
        }
        int id = j->counter++;
        e->value.i = id;
        json_t *t = js_resolve_pointer(j, target, ptr);
        if (!t) return -1;
        mlcc_strbuf body = STRBUF_INIT;
        const char *tp = target + 1;
        int rc = gen(j, t, tp, &body);
        if (!rc) sb_printf(&j->rules, "ref%d ::= %s\n", id, body.data);
        if (rc && j->unsat) strmap_upsert(&j->by_ref, target, strlen(target), &inserted)->value.i = -1;
        sb_free(&body);
        if (!rc) sb_printf(out, "ref%d", id);
        return rc;
    }
    json_t *alts = json_object_get(s, "anyOf");
    const char *kw = "anyOf";
    if (!alts) {
        alts = json_object_get(s, "oneOf");
        kw = "oneOf";
    }
    if (alts) {
        if (!json_is_array(alts) || !json_array_size(alts)) return js_err(ptr, "'%s' is not a non-empty array", kw);
        json_t *rest = json_copy(s);
        json_object_del(rest, kw);
        int others = has_constraints(rest) || json_object_get(rest, "oneOf");
        json_t *branches = json_incref(alts);
        if (!strcmp(kw, "oneOf") && one_of_exclusive(j, &branches, others ? rest : NULL, ptr)) {
            json_decref(branches);
            json_decref(rest);
            return -1;
        }
        int rc;
        if (!others)
            rc = gen_alternatives(j, branches, kw, ptr, out);
        else { /* the other keywords apply to every branch */
            json_t *wrap = json_pack("{s:O}", "anyOf", branches);
            int err = 0;
            json_t *m = js_merge(j, rest, wrap, ptr, &err);
            json_decref(wrap);
            rc = m ? gen(j, m, ptr, out) : -1;
            json_decref(m);
        }
        json_decref(branches);
        json_decref(rest);
        return rc;
    }
    if (json_object_get(s, "enum")) return gen_values(j, s, ptr, out);
    json_t *type = json_object_get(s, "type");
    if (json_is_string(type)) return gen_type(j, s, json_string_value(type), ptr, out);
    if (json_is_array(type)) {
        if (!json_array_size(type)) return js_unsat(j, ptr, "'type' is an empty list");
        mlcc_strbuf body = STRBUF_INIT;
        size_t i;
        json_t *x;
        int rc = 0, has_int = 0, has_num = 0;
        json_array_foreach(type, i, x) {
            if (!json_is_string(x)) {
                rc = js_err(ptr, "%s", "'type' holds a non-string");
                break;
            }
            has_int |= !strcmp(json_string_value(x), "integer");
            has_num |= !strcmp(json_string_value(x), "number");
        }
        json_array_foreach(type, i, x) {
            if (rc) break;
            if (has_int && has_num && !strcmp(json_string_value(x), "integer")) continue;
            if (body.len) sb_append(&body, " | ");
            rc = gen_type(j, s, json_string_value(x), ptr, &body);
        }
        if (!rc) rule_of(j, body.data, out);
        sb_free(&body);
        return rc;
    }
    if (type) return js_err(ptr, "%s", "'type' is neither a string nor a list");
    /* no type: infer from the keywords */
    if (has_key(s, "properties") || has_key(s, "required") || has_key(s, "additionalProperties") ||
        has_key(s, "patternProperties") || has_key(s, "minProperties") || has_key(s, "maxProperties") ||
        has_key(s, "propertyNames"))
        return gen_object(j, s, ptr, out);
    if (has_key(s, "items") || has_key(s, "prefixItems") || has_key(s, "minItems") || has_key(s, "maxItems"))
        return gen_array(j, s, ptr, out);
    if (has_key(s, "minLength") || has_key(s, "maxLength") || has_key(s, "pattern") || has_key(s, "format"))
        return gen_string(j, s, ptr, out);
    if (has_key(s, "minimum") || has_key(s, "maximum") || has_key(s, "exclusiveMinimum") || has_key(s, "exclusiveMaximum") ||
        has_key(s, "multipleOf") || has_key(s, JS_NOT_MULTIPLES))
        return gen_number(j, s, 0, ptr, out);
    sb_append(out, "jvalue");
    return 0;
}

int js_gen(jsg *j, json_t *s, const char *ptr, mlcc_strbuf *out) {
    return gen(j, s, ptr, out);
}

static int gen(jsg *j, json_t *s, const char *ptr, mlcc_strbuf *out) {
    if (json_is_true(s)) {
        sb_append(out, "jvalue");
        return 0;
    }
    if (json_is_false(s)) return js_unsat(j, ptr, "the schema false allows no value");
    if (!json_is_object(s)) return js_err(ptr, "%s", "a schema must be an object or a boolean");
    if (++j->depth > 200) return js_err(ptr, "%s", "schemas nest too deeply");
    int rc = gen_object_schema(j, s, ptr, out);
    j->depth--;
    return rc;
}

mlcc_grammar_options mlcc_grammar_default_options(void) {
    mlcc_grammar_options o;
    memset(&o, 0, sizeof o);
    o.max_ws = 16;
    o.strict_properties = 1;
    return o;
}

static char *schema_json_to_ebnf(json_t *root, const mlcc_grammar_options *opt) {
    jsg j;
    memset(&j, 0, sizeof j);
    j.root = root;
    j.opt = opt ? *opt : mlcc_grammar_default_options();
    strmap_init(&j.by_body);
    strmap_init(&j.by_ref);
    base_rules(&j);
    mlcc_strbuf top = STRBUF_INIT;
    int rc = gen(&j, root, "", &top);
    char *text = NULL;
    if (!rc) {
        const char *w = ws(&j);
        sb_printf(&j.rules, "root ::= %s %s %s\n", w, top.data, w);
        text = sb_detach(&j.rules);
    }
    sb_free(&top);
    sb_free(&j.rules);
    strmap_free(&j.by_body);
    strmap_free(&j.by_ref);
    return text;
}

char *mlcc_json_schema_to_ebnf(const char *schema, size_t len, const mlcc_grammar_options *opt) {
    json_t *root = mlcc_json_loads(schema, len, "JSON schema");
    if (!root) return NULL;
    char *text = schema_json_to_ebnf(root, opt);
    json_decref(root);
    return text;
}

mlcc_grammar *mlcc_grammar_from_json_schema(const char *schema, size_t len, const mlcc_grammar_options *opt) {
    char *text = mlcc_json_schema_to_ebnf(schema, len, opt);
    if (!text) return NULL;
    mlcc_grammar *g = mlcc_grammar_from_ebnf(text, strlen(text), "JSON schema grammar");
    free(text);
    return g;
}

mlcc_grammar *mlcc_grammar_json_any(const mlcc_grammar_options *opt, int object_only) {
    return mlcc_grammar_from_json_schema(object_only ? "{\"type\":\"object\"}" : "{}", object_only ? 17 : 2, opt);
}
