/* gram_internal.h - the byte-level grammar every front end (EBNF, regex, JSON Schema) compiles
 * to, and the pieces shared by the automaton, the vocabulary and the matcher.
 *
 * A grammar is a list of rules; a rule a list of alternatives; an alternative a sequence of
 * elements ending with GRAM_END. All elements of all alternatives live in one array `elems`, so
 * a parse position (rule, alternative, dot) is a single index into it: what the automaton's
 * stack frames hold. An element >= 0 is a rule index; GRAM_END ends an alternative; any other
 * negative value e is byte set number -e - 2. */
#ifndef MLCC_GRAMMAR_GRAM_INTERNAL_H
#define MLCC_GRAMMAR_GRAM_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "grammar/grammar.h"
#include "support/hashmap.h"
#include "support/strbuf.h"
#include "support/vec.h"

#define GRAM_END (-1)
#define GRAM_SET(i) (-(int32_t)(i) - 2)
#define GRAM_IS_SET(e) ((e) <= -2)
#define GRAM_SET_INDEX(e) (-(e) - 2)

typedef struct gram_byteset {
    uint32_t w[8];
} gram_byteset;

static inline int gram_byteset_has(const gram_byteset *s, unsigned b) {
    return (s->w[b >> 5] >> (b & 31)) & 1;
}
static inline void gram_byteset_add(gram_byteset *s, unsigned b) {
    s->w[b >> 5] |= 1u << (b & 31);
}

typedef struct gram_rule {
    char *name;
    int32_t first_alt, nalts; /* into alt_start */
    /* for the rules of a bounded repetition's chain O_k ::= x O_(k-1) | "": x and k (else
     * rep_k 0); the mask cache treats long chains of a non-empty x as one (see matcher.c) */
    int32_t rep_x, rep_k;
    unsigned char nullable;
} gram_rule;

typedef struct gram_cache gram_cache;

struct mlcc_grammar {
    MLCC_VEC(gram_rule) rules;
    MLCC_VEC(int32_t) alt_start; /* index in elems of each alternative's first element */
    MLCC_VEC(int32_t) elems;
    MLCC_VEC(gram_byteset) sets;
    int32_t root;
    int refs; /* mlcc_grammar_retain / mlcc_grammar_free (atomic) */
    /* mask caches, one per vocabulary that matchers of this grammar used */
    pthread_mutex_t cache_lock;
    MLCC_VEC(gram_cache *) caches;
};

/* ---- building (gram.c) ---- */
typedef struct gram_builder {
    mlcc_grammar *g;
    mlcc_strmap rule_by_name; /* name -> rule index */
    mlcc_strmap set_index;    /* 32-byte set -> index */
    mlcc_strmap helper_by_body; /* canonical body -> helper rule index */
    MLCC_VEC(int32_t) defined; /* per rule: 1 once it has a body */
    int nhelpers;
} gram_builder;

/* A sequence of elements (one alternative under construction). */
typedef MLCC_VEC(int32_t) gram_seq;
/* Alternatives under construction: sequences separated by GRAM_END. */
typedef MLCC_VEC(int32_t) gram_alts;

void gram_builder_init(gram_builder *b);
/* Frees the builder; the grammar is returned (ownership to the caller) or freed when !keep. */
mlcc_grammar *gram_builder_finish(gram_builder *b, int keep);
/* The index of a named rule (created undefined on first use). */
int32_t gram_rule_ref(gram_builder *b, const char *name, size_t len);
/* Gives rule r its alternatives. -1 if it already has some. */
int gram_define(gram_builder *b, int32_t r, const gram_alts *alts);
/* A helper rule with these alternatives, shared with any helper of the same body. */
int32_t gram_helper(gram_builder *b, const gram_alts *alts);
int32_t gram_set_elem(gram_builder *b, const gram_byteset *s);
/* Appends the elements that match one code point in the set of ranges (pairs lo, hi, sorted,
 * disjoint): a single byte set when all are ASCII, else a helper rule over UTF-8 sequences. */
void gram_append_cp_class(gram_builder *b, const uint32_t *ranges, size_t nranges, gram_seq *out);
/* Appends the bytes of s as one-byte sets. */
void gram_append_literal(gram_builder *b, const char *s, size_t n, gram_seq *out);
/* Wraps a sequence as one element (itself when it is one element). */
int32_t gram_seq_elem(gram_builder *b, const gram_seq *seq);
/* x{min,max} as one element; max < 0: unbounded. */
int32_t gram_repeat(gram_builder *b, int32_t x, int min, int max);
/* Checks that every rule is defined, that `root` exists and that no rule is left-recursive;
 * sets g->root. Errors name the rule; undefined ones use where(rule) when given. */
int gram_check(gram_builder *b, const char *what);

/* Flat helpers. */
static inline int32_t gram_alt_count(const mlcc_grammar *g, int32_t r) {
    return g->rules.data[r].nalts;
}
static inline int32_t gram_alt_pos(const mlcc_grammar *g, int32_t r, int32_t a) {
    return g->alt_start.data[g->rules.data[r].first_alt + a];
}

/* ---- the front ends ---- */
/* Parses GBNF into the builder (ebnf.c). */
int gram_parse_ebnf(gram_builder *b, const char *text, size_t len, const char *what);
/* Appends GBNF for a regex (regex.c). json_string: the text goes inside a JSON string, so `"`,
 * `\` and control characters are written as JSON escapes. anchored_only: ignore leading ^ and
 * trailing $ but otherwise treat the regex as matching the whole text. */
int gram_regex_to_gbnf(const char *re, size_t len, int json_string, int cap, mlcc_strbuf *out, const char *what);
/* The same, also giving the fewest and most characters a match has (max -1: unbounded). */
int gram_regex_to_gbnf_len(const char *re, size_t len, int json_string, int cap, mlcc_strbuf *out, const char *what,
                           long long *min_chars, long long *max_chars);
/* The same (not JSON, uncapped) for the strings ECMAScript or Python's re may match: a
 * superset of both, for patterns a string must NOT match. */
int gram_regex_to_gbnf_wide(const char *re, size_t len, mlcc_strbuf *out, const char *what);
/* One code point of the set (pairs lo, hi) as GBNF, JSON-escaped when json_string (regex.c). */
void gram_cp_set_to_gbnf(const uint32_t *pairs, size_t npairs, int json_string, mlcc_strbuf *out);

/* ---- mask cache (matcher.c) ---- */
void gram_cache_free(gram_cache *c);

#endif
