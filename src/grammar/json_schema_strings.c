/* json_schema_strings.c - string schemas that need regex algebra, built as exact DFAs
 * (regex_dfa.c): several patterns at once (allOf), patterns a string must not match (`not`
 * pattern), excluded strings together with a pattern or lengths, and lengths a pattern's own
 * grammar cannot meet. The language is
 *     pattern and each other pattern, less every excluded pattern and string, within the lengths
 * where a pattern that must match is read narrowly (what ECMAScript and Python's re both
 * match) and one that must not widely (what either may match), so the validator, whichever
 * dialect it speaks, accepts every string. */
#include <string.h>

#include "grammar/json_schema.h"
#include "grammar/regex_dfa.h"
#include "support/error.h"

/* The formats the grammar writes (json_schema.c's fdate, ftime, ... rules), as the same
 * languages in regex form. */
#define YEAR "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
#define MONTH_DAY "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
#define LEAP "(?:[0-9][0-9](?:[02468][48]|[13579][26]|[2468]0)|(?:[2468][048]|[13579][26]|0[48])00)"
#define DATE "(?:" YEAR "-" MONTH_DAY "|" LEAP "-02-29)"
#define TIME "(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,9})?(?:[Zz]|[-+](?:[01][0-9]|2[0-3]):[0-5][0-9])"
#define HEX "[0-9a-fA-F]"
#define OCTET "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
static const char *const format_res[][2] = {
    {"date", "^" DATE "$"},
    {"time", "^" TIME "$"},
    {"date-time", "^" DATE "[Tt]" TIME "$"},
    {"uuid", "^" HEX "{8}-" HEX "{4}-" HEX "{4}-" HEX "{4}-" HEX "{12}$"},
    {"ipv4", "^" OCTET "\\." OCTET "\\." OCTET "\\." OCTET "$"},
    {"email", "^[a-zA-Z0-9._%+-]{1,64}@[a-zA-Z0-9-]{1,63}(?:\\.[a-zA-Z0-9-]{1,63}){0,3}\\.[a-zA-Z]{2,24}$"},
    {"idn-email", "^[a-zA-Z0-9._%+-]{1,64}@[a-zA-Z0-9-]{1,63}(?:\\.[a-zA-Z0-9-]{1,63}){0,3}\\.[a-zA-Z]{2,24}$"},
};

const char *js_format_regex(const char *format) {
    for (size_t i = 0; i < sizeof format_res / sizeof format_res[0]; i++)
        if (!strcmp(format, format_res[i][0])) return format_res[i][1];
    return NULL;
}

int js_split_lookahead(const char *re, mlcc_strbuf *pos, mlcc_strbuf *neg) {
    if (strncmp(re, "^(?!", 4) != 0) return 0;
    int depth = 1;
    size_t i = 4;
    for (; re[i] && depth; i++) {
        if (re[i] == '\\' && re[i + 1])
            i++;
        else if (re[i] == '[') {
            for (i++; re[i] && re[i] != ']'; i++)
                if (re[i] == '\\' && re[i + 1]) i++;
            if (!re[i]) return 0;
        } else if (re[i] == '(')
            depth++;
        else if (re[i] == ')')
            depth--;
    }
    if (depth) return 0;
    sb_clear(neg);
    sb_append(neg, "^(?:");
    sb_append_n(neg, re + 4, i - 5);
    sb_append(neg, ")");
    sb_clear(pos);
    sb_append(pos, "^");
    sb_append(pos, re + i);
    return 1;
}

/* *d = *d op (the pattern's DFA); -1 with an error. */
static int with_pattern(rx_dfa **d, json_t *p, rx_op op, const char *ptr) {
    if (!json_is_string(p)) return js_err(ptr, "%s", "a pattern is not a string");
    const char *re = json_string_value(p);
    mlcc_strbuf pos = STRBUF_INIT, neg = STRBUF_INIT;
    if (op == RX_AND && js_split_lookahead(re, &pos, &neg)) {
        /* ^(?!X)R: the strings ^R matches that do not start with a match of X */
        json_t *a = json_string(pos.data), *b = json_string(neg.data);
        int rc = with_pattern(d, a, RX_AND, ptr);
        if (!rc) rc = with_pattern(d, b, RX_AND_NOT, ptr);
        json_decref(a);
        json_decref(b);
        sb_free(&pos);
        sb_free(&neg);
        return rc;
    }
    sb_free(&pos);
    sb_free(&neg);
    rx_dfa *pd = rx_dfa_from_regex(re, strlen(re), op == RX_AND_NOT, ptr);
    if (!pd) return -1;
    rx_dfa *r = rx_dfa_product(*d, pd, op);
    rx_dfa_free(pd);
    if (!r) return js_err(ptr, "%s", "the string's patterns combine into too large an automaton (not supported)");
    rx_dfa_free(*d);
    *d = r;
    return 0;
}

/* *d = *d op (the strings listed); -1 with an error. */
static int combine_strings(rx_dfa **d, json_t *list, rx_op op, const char *ptr) {
    MLCC_VEC(const char *) names = {0};
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) if (json_is_string(x)) vec_push(&names, json_string_value(x));
    rx_dfa *e = rx_dfa_from_strings(names.data, names.len), *r = rx_dfa_product(*d, e, op);
    rx_dfa_free(e);
    vec_free(&names);
    if (!r) return js_err(ptr, "%s", "the string's patterns combine into too large an automaton (not supported)");
    rx_dfa_free(*d);
    *d = r;
    return 0;
}

/* The strings of string schema s within lengths mn..mx, as a DFA (the empty language when none). */
static rx_dfa *string_dfa(jsg *j, json_t *s, long long mn, long long mx, const char *ptr) {
    (void)j;
    if (mn > 1000 || mx > 1000) {
        js_err(ptr, "%s", "minLength/maxLength above 1000 together with several or excluded patterns is not supported");
        return NULL;
    }
    rx_dfa *d = rx_dfa_length(mn, mx);
    json_t *pat = json_object_get(s, "pattern"), *all = json_object_get(s, JS_ALL_PATTERNS);
    json_t *none = json_object_get(s, JS_NOT_PATTERNS), *excluded = json_object_get(s, JS_NOT_STRINGS);
    int rc = pat ? with_pattern(&d, pat, RX_AND, ptr) : 0;
    json_t *fmt = json_object_get(s, "format");
    const char *fre = json_is_string(fmt) ? js_format_regex(json_string_value(fmt)) : NULL;
    if (!rc && fre) {
        json_t *fp = json_string(fre);
        rc = with_pattern(&d, fp, RX_AND, ptr);
        json_decref(fp);
    }
    size_t i;
    json_t *x;
    if (json_is_array(all)) json_array_foreach(all, i, x) if (!rc) rc = with_pattern(&d, x, RX_AND, ptr);
    if (json_is_array(none)) json_array_foreach(none, i, x) if (!rc) rc = with_pattern(&d, x, RX_AND_NOT, ptr);
    if (!rc && json_is_array(excluded)) rc = combine_strings(&d, excluded, RX_AND_NOT, ptr);
    if (rc) {
        rx_dfa_free(d);
        return NULL;
    }
    return d;
}

int js_gen_string_dfa(jsg *j, json_t *s, long long mn, long long mx, const char *ptr, mlcc_strbuf *out) {
    if (mx >= 0 && mn > mx) return js_unsat(j, ptr, "minLength > maxLength");
    rx_dfa *d = string_dfa(j, s, mn, mx, ptr);
    if (!d) return -1;
    int rc = 0;
    if (rx_dfa_is_empty(d)) rc = js_unsat(j, ptr, "no string matches the patterns within the lengths");
    if (!rc && j->opt.max_string_chars > 0 && !rx_dfa_is_finite(d)) {
        /* the cap on unbounded strings, so random walks end (too large to cap: uncapped) */
        rx_dfa *len = rx_dfa_length(0, rx_dfa_shortest(d) + j->opt.max_string_chars);
        rx_dfa *r = rx_dfa_product(d, len, RX_AND);
        rx_dfa_free(len);
        if (r) {
            rx_dfa_free(d);
            d = r;
        }
    }
    if (!rc) {
        sb_append(out, "\"\\\"\" ");
        rx_dfa_to_gbnf(d, 1, "r", j->counter, NULL, &j->rules, out);
        j->counter += (int)d->states.len;
        sb_append(out, " \"\\\"\"");
    }
    rx_dfa_free(d);
    return rc;
}

/* ---- propertyNames: the keys an object may have ---- */

static int count_of(json_t *s, const char *kw, long long dflt, long long *out, const char *ptr) {
    json_t *v = json_object_get(s, kw);
    *out = dflt;
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0) return js_err(ptr, "'%s' is not a non-negative integer", kw);
    *out = json_integer_value(v);
    return 0;
}

static rx_dfa *names_dfa(jsg *j, json_t *s, const char *ptr, int depth);

/* The keys one schema (no anyOf/oneOf/not left) allows. */
static rx_dfa *names_dfa_plain(jsg *j, json_t *s, const char *ptr) {
    static const char *const ok[] = {"type", "pattern", "minLength", "maxLength", "format", "enum", "const",
                                     JS_NOT_PATTERNS, JS_ALL_PATTERNS, JS_NOT_STRINGS, NULL};
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v) {
        int known = 0;
        for (int i = 0; ok[i]; i++) known |= !strcmp(k, ok[i]);
        if (!known && js_is_constraint(k)) {
            js_err(ptr, "propertyNames: '%s' is not supported (only string keywords)", k);
            return NULL;
        }
    }
    json_t *type = json_object_get(s, "type");
    int strings = !type;
    if (json_is_string(type)) strings = !strcmp(json_string_value(type), "string");
    size_t i;
    if (json_is_array(type)) json_array_foreach(type, i, v) strings |= json_is_string(v) && !strcmp(json_string_value(v), "string");
    if (!strings) return rx_dfa_from_strings(NULL, 0); /* keys are strings: none allowed */
    long long mn, mx;
    if (count_of(s, "minLength", 0, &mn, ptr) || count_of(s, "maxLength", -1, &mx, ptr)) return NULL;
    if (mx >= 0 && mn > mx) return rx_dfa_from_strings(NULL, 0);
    rx_dfa *d = string_dfa(j, s, mn, mx, ptr);
    json_t *list = json_object_get(s, "enum"), *c = json_object_get(s, "const");
    if (d && c) {
        json_t *one = json_pack("[O]", c);
        if (combine_strings(&d, one, RX_AND, ptr)) d = NULL;
        json_decref(one);
    }
    if (d && json_is_array(list) && combine_strings(&d, list, RX_AND, ptr)) d = NULL;
    return d;
}

static rx_dfa *names_dfa(jsg *j, json_t *s, const char *ptr, int depth) {
    if (json_is_true(s)) return rx_dfa_length(0, -1);
    if (json_is_false(s)) return rx_dfa_from_strings(NULL, 0);
    if (!json_is_object(s) || depth > 16) {
        js_err(ptr, "%s", "propertyNames: not a schema, or nested too deeply");
        return NULL;
    }
    json_t *d = js_deref(j, s, ptr);
    if (!d) return NULL;
    rx_dfa *out = NULL;
    json_t *all = json_object_get(d, "allOf"), *nt = json_object_get(d, "not");
    json_t *any = json_object_get(d, "anyOf");
    if (!any) any = json_object_get(d, "oneOf"); /* keys matching several branches: see below */
    if (json_is_array(all)) { /* merged into one schema */
        json_t *m = json_copy(d);
        json_object_del(m, "allOf");
        size_t i;
        json_t *x;
        int err = 0;
        json_array_foreach(all, i, x) {
            json_t *mm = js_merge(j, m, x, ptr, &err);
            json_decref(m);
            m = mm;
            if (!m) break;
        }
        out = m ? names_dfa(j, m, ptr, depth + 1) : NULL;
        json_decref(m);
    } else if (nt) { /* not rewritten into positive schemas */
        json_t *rest = json_copy(d);
        json_object_del(rest, "not");
        json_t *pos = js_negate(j, rest, nt, ptr);
        json_decref(rest);
        out = pos ? names_dfa(j, pos, ptr, depth + 1) : NULL;
        json_decref(pos);
    } else if (json_is_array(any)) {
        if (json_object_get(d, "oneOf") && json_array_size(any) > 1) {
            js_err(ptr, "%s", "propertyNames: oneOf is not supported");
        } else {
            json_t *rest = json_copy(d);
            json_object_del(rest, "anyOf");
            out = rx_dfa_from_strings(NULL, 0);
            size_t i;
            json_t *x;
            int err = 0;
            json_array_foreach(any, i, x) {
                json_t *m = js_merge(j, rest, x, ptr, &err);
                rx_dfa *b = m ? names_dfa(j, m, ptr, depth + 1) : NULL;
                json_decref(m);
                rx_dfa *u = b ? rx_dfa_product(out, b, RX_OR) : NULL;
                rx_dfa_free(b);
                rx_dfa_free(out);
                out = u;
                if (!out) break;
            }
            json_decref(rest);
        }
    } else
        out = names_dfa_plain(j, d, ptr);
    json_decref(d);
    return out;
}

rx_dfa *js_property_names_dfa(jsg *j, json_t *s, const char *ptr) {
    mlcc_strbuf p = STRBUF_INIT;
    sb_printf(&p, "%s/propertyNames", ptr);
    rx_dfa *d = names_dfa(j, s, p.data, 0);
    sb_free(&p);
    return d;
}
