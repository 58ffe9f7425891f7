/* json_schema.h - what the JSON Schema compiler's files share: json_schema.c (schema to
 * GBNF), json_schema_logic.c (negation, and whether oneOf's branches can overlap). */
#ifndef MLCC_GRAMMAR_JSON_SCHEMA_H
#define MLCC_GRAMMAR_JSON_SCHEMA_H

#include <jansson.h>

#include "grammar/gram_internal.h"

struct rx_dfa;

/* An internal keyword `not` leaves: the strings listed are not allowed. */
#define JS_NOT_STRINGS "$mlcc_not_strings"
/* Others: the string matches none of these patterns; it matches these patterns too (beside
 * "pattern"). Strings with them are built as DFAs (json_schema_strings.c). */
#define JS_NOT_PATTERNS "$mlcc_not_patterns"
#define JS_ALL_PATTERNS "$mlcc_patterns"
/* Another: integers that are multiples of none of the listed ones. */
#define JS_NOT_MULTIPLES "$mlcc_not_multiple_of"
/* Another: this schema's `not` is built leniently (see lenient_not). */
#define JS_LENIENT "$mlcc_lenient_not"

typedef struct jsg {
    json_t *root;
    mlcc_grammar_options opt;
    mlcc_strbuf rules;
    mlcc_strmap by_body; /* body -> rule number */
    mlcc_strmap by_ref;  /* JSON pointer -> rule number (-1: its schema allows no value) */
    int counter;
    int depth;
    /* the last error says the schema allows no value (not that it is unsupported): an anyOf
     * branch, an optional property or optional items can then be left out */
    int unsat;
    int merge_depth;
    long merges; /* work bound for allOf merging (anyOf inside allOf multiplies out) */
    int negations; /* work bound for `not` (each negation may split a schema in several) */
    /* building `not` for oneOf's exclusions: a keyword whose complement is not built drops
     * its part of the complement (a subset of the valid values) instead of failing */
    int lenient_not;
    int lenient_dropped;     /* parts dropped so, and why the first was */
    char lenient_why[300];
} jsg;

/* The error "JSON schema at 'ptr': fmt" (fmt takes arg as %s); returns -1. */
/* Appends '/' and token escaped as a JSON pointer token (RFC 6901). */
void js_ptr_append(mlcc_strbuf *sb, const char *token);
int js_err(const char *ptr, const char *fmt, const char *arg);
/* The same, marking it as "allows no value". */
int js_unsat(jsg *j, const char *ptr, const char *msg);
/* The schema a $ref ("#/json/pointer") names, or NULL with an error. */
json_t *js_resolve_pointer(jsg *j, const char *ref, const char *ptr);
/* s with a top-level $ref inlined (one level), as a new reference; NULL with an error. */
json_t *js_deref(jsg *j, json_t *s, const char *ptr);
/* allOf [a, b] as one schema (new reference; the schema false when they allow nothing
 * together), or NULL with *err set. */
json_t *js_merge(jsg *j, json_t *a, json_t *b, const char *ptr, int *err);
/* Is key a keyword that constrains values (not an annotation, not unknown)? */
int js_is_constraint(const char *key);
/* Is it a keyword the compiler reports as unsupported? */
int js_is_unsupported(const char *key);

/* rest and not n, as a schema without that `not` (new reference), or NULL with an error. */
json_t *js_negate(jsg *j, json_t *rest, json_t *n, const char *ptr);
/* 1 when no value can match both a and b (proved from types, const/enum values, numeric
 * ranges and required/forbidden/disjoint properties); 0 when they may overlap. */
int js_disjoint(jsg *j, json_t *a, json_t *b, int depth);
/* 1 when a and b are objects with additionalProperties false and no property name in common:
 * the empty object is the only value both may match. */
int js_overlap_only_empty(jsg *j, json_t *a, json_t *b);
/* Does the pattern (searched, unanchored; PCRE2 standing in for ECMAScript) match text? 1 or
 * 0; -1 when it does not compile. */
int js_pattern_search(const char *re, const char *text);
/* Does the value v satisfy schema s? 1 yes, 0 no, -1 unknown (keywords not checked here:
 * format, dependencies, propertyNames, contains ...). A small validator for the values
 * enum/const list (dropping those the rest of the schema rules out) and for proving oneOf
 * branches disjoint. */
int js_value_check(jsg *j, json_t *s, json_t *v, int depth);

/* The string schema s (minLength mn, maxLength mx, -1: none) as an exact DFA of its
 * pattern(s), excluded patterns and strings, and lengths, appended to out as a JSON string. */
/* Splits a pattern ^(?!X)R (a negative lookahead at the start) into ^R and ^(?:X): 1, or 0
 * when it has another form. */
int js_split_lookahead(const char *re, mlcc_strbuf *pos, mlcc_strbuf *neg);
/* The regex (anchored) of the strings the grammar writes for a format, or NULL. */
const char *js_format_regex(const char *format);
int js_gen_string_dfa(jsg *j, json_t *s, long long mn, long long mx, const char *ptr, mlcc_strbuf *out);
/* The GBNF of schema s, appended to out (json_schema.c's generator). */
int js_gen(jsg *j, json_t *s, const char *ptr, mlcc_strbuf *out);
/* The alternatives "key": value for the keys an object's named properties do not cover
 * (json_schema_keys.c): one per region of the patternProperties (keys matching exactly those
 * patterns, none of `taken`), plus, when other is not NULL, the keys matching no pattern with
 * the schema other. Appends "(alt | alt ...)" to extra, or nothing when no key can come. */
int js_key_regions(jsg *j, json_t *pprops, json_t *other, const char *const *taken, size_t ntaken,
                   const struct rx_dfa *allowed, const char *ptr, mlcc_strbuf *extra);
/* (only the keys `allowed` lists, when not NULL) */
/* The keys an object's propertyNames schema s allows, as a DFA (regex_dfa.h; string keywords,
 * enum/const, allOf, anyOf, not and $ref), or NULL with an error. ptr: the object's pointer. */
struct rx_dfa *js_property_names_dfa(jsg *j, json_t *s, const char *ptr);

#endif
