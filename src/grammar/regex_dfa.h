/* regex_dfa.h - deterministic automata over Unicode code points for the regular languages a
 * JSON Schema builds from patterns and name lists: "names matching P but not these", "strings
 * not matching P", and the like. A regex (regex.c's subset) becomes a DFA by way of an NFA;
 * DFAs combine by products (and, and-not, or); the result is written back as GBNF, one rule
 * per state, so the grammar holds exactly the language (no approximation).
 *
 * A DFA here is trimmed: every state is reachable from the start (state 0) and can reach an
 * accepting state, so a walk through the emitted grammar never reaches a dead end. An empty
 * language is a DFA with no states. */
#ifndef MLCC_GRAMMAR_REGEX_DFA_H
#define MLCC_GRAMMAR_REGEX_DFA_H

#include <stddef.h>
#include <stdint.h>

#include "support/strbuf.h"
#include "support/vec.h"

typedef struct rx_edge {
    uint32_t lo, hi; /* code points, inclusive */
    int32_t to;
} rx_edge;

typedef struct rx_state {
    int accept;
    MLCC_VEC(rx_edge) edges; /* sorted by lo, disjoint */
} rx_state;

typedef struct rx_dfa {
    MLCC_VEC(rx_state) states; /* empty: the empty language */
} rx_dfa;

/* Bound on the states of any DFA built here (beyond it: an error, "too complex"). */
#define RX_DFA_MAX_STATES 4000

/* The strings a JSON Schema pattern matches (searched: unanchored unless ^ / $), or NULL
 * with an error naming `what`. Patterns are ECMAScript, validators often Python's re, which
 * differ (`.`, `$`, \d \w \s): wide 0 gives the strings both dialects match (for where a
 * string must match), wide 1 those either may match (for where it must not). */
rx_dfa *rx_dfa_from_regex(const char *re, size_t len, int wide, const char *what);
/* Exactly the given UTF-8 strings. */
rx_dfa *rx_dfa_from_strings(const char *const *s, size_t n);
/* Every string of min..max code points (max < 0: no upper bound). */
rx_dfa *rx_dfa_length(long long min, long long max);

typedef enum { RX_AND, RX_AND_NOT, RX_OR } rx_op;
/* a op b, trimmed; NULL with an error when it grows beyond RX_DFA_MAX_STATES. Accepting
 * states carry a tag (1 unless set): a product keeps a's where a accepts, else b's, so the
 * union of disjoint tagged languages says which one a string is in. */
rx_dfa *rx_dfa_product(const rx_dfa *a, const rx_dfa *b, rx_op op);
/* Gives every accepting state of d the tag (>= 1). */
void rx_dfa_set_tag(rx_dfa *d, int tag);
/* Every string not in a. */
rx_dfa *rx_dfa_complement(const rx_dfa *a);
void rx_dfa_free(rx_dfa *d);

static inline int rx_dfa_is_empty(const rx_dfa *d) {
    return d->states.len == 0;
}
/* Is the UTF-8 text in the language? (tests) */
int rx_dfa_matches(const rx_dfa *d, const char *text, size_t len);
/* Is the language finite (no cycle)? */
int rx_dfa_is_finite(const rx_dfa *d);
/* Length in code points of the shortest string of the language (-1: empty). */
long long rx_dfa_shortest(const rx_dfa *d);

/* Writes the DFA as GBNF rules named rule_prefix<first_rule + state> (one line each, to
 * rules) and appends the start rule's name to out. json_string: the text is the inside of a
 * JSON string (`"`, `\` and control characters written as escapes). Uses d->states.len rule
 * numbers from first_rule. The language must not be empty. An accepting state may end there
 * (accept_text NULL), or continue with the GBNF accept_text[its tag]. */
void rx_dfa_to_gbnf(const rx_dfa *d, int json_string, const char *rule_prefix, int first_rule, const char *const *accept_text,
                    mlcc_strbuf *rules, mlcc_strbuf *out);

#endif
