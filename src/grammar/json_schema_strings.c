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

/* *d = *d op (the pattern's DFA); -1 with an error. */
static int with_pattern(rx_dfa **d, json_t *p, rx_op op, const char *ptr) {
    if (!json_is_string(p)) return js_err(ptr, "%s", "a pattern is not a string");
    const char *re = json_string_value(p);
    rx_dfa *pd = rx_dfa_from_regex(re, strlen(re), op == RX_AND_NOT, ptr);
    if (!pd) return -1;
    rx_dfa *r = rx_dfa_product(*d, pd, op);
    rx_dfa_free(pd);
    if (!r) return js_err(ptr, "%s", "the string's patterns combine into too large an automaton (not supported)");
    rx_dfa_free(*d);
    *d = r;
    return 0;
}

int js_gen_string_dfa(jsg *j, json_t *s, long long mn, long long mx, const char *ptr, mlcc_strbuf *out) {
    if (mx >= 0 && mn > mx) return js_unsat(j, ptr, "minLength > maxLength");
    if (mn > 1000 || mx > 1000)
        return js_err(ptr, "%s", "minLength/maxLength above 1000 together with several or excluded patterns is not supported");
    rx_dfa *d = rx_dfa_length(mn, mx);
    json_t *pat = json_object_get(s, "pattern"), *all = json_object_get(s, JS_ALL_PATTERNS);
    json_t *none = json_object_get(s, JS_NOT_PATTERNS), *excluded = json_object_get(s, JS_NOT_STRINGS);
    int rc = pat ? with_pattern(&d, pat, RX_AND, ptr) : 0;
    size_t i;
    json_t *x;
    if (json_is_array(all)) json_array_foreach(all, i, x) if (!rc) rc = with_pattern(&d, x, RX_AND, ptr);
    if (json_is_array(none)) json_array_foreach(none, i, x) if (!rc) rc = with_pattern(&d, x, RX_AND_NOT, ptr);
    if (!rc && json_is_array(excluded)) {
        MLCC_VEC(const char *) names = {0};
        json_array_foreach(excluded, i, x) if (json_is_string(x)) vec_push(&names, json_string_value(x));
        rx_dfa *e = rx_dfa_from_strings(names.data, names.len), *r = rx_dfa_product(d, e, RX_AND_NOT);
        rx_dfa_free(e);
        vec_free(&names);
        if (!r)
            rc = js_err(ptr, "%s", "the string's patterns combine into too large an automaton (not supported)");
        else {
            rx_dfa_free(d);
            d = r;
        }
    }
    if (!rc && rx_dfa_is_empty(d)) rc = js_unsat(j, ptr, "no string matches the patterns within the lengths");
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
        rx_dfa_to_gbnf(d, 1, "r", j->counter, &j->rules, out);
        j->counter += (int)d->states.len;
        sb_append(out, " \"\\\"\"");
    }
    rx_dfa_free(d);
    return rc;
}
