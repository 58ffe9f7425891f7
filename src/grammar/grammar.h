/* grammar.h - structured generation: grammars (GBNF-style EBNF, regex, JSON Schema) compiled to
 * a byte-level pushdown automaton, and per-request matchers that give token masks (issue 16).
 *
 * A grammar (mlcc_grammar) is immutable once compiled and may be shared by many requests. A
 * tokenizer's vocabulary is preprocessed once into mlcc_grammar_vocab (each token's bytes and a
 * byte trie over them). A matcher belongs to one request and one thread: it follows the tokens
 * accepted so far and answers which tokens may come next as a bitmask of uint32 words (bit i of
 * word i/32 = token i allowed).
 *
 * Masks are computed from a cache, shared by all matchers of a grammar and vocabulary, that
 * holds for each automaton position (the top frames of a parse stack) the tokens accepted
 * whatever lies below, so only the few context-dependent tokens are checked per step.
 *
 * Every function that can fail returns -1 or NULL with mlcc_set_error(). */
#ifndef MLCC_GRAMMAR_GRAMMAR_H
#define MLCC_GRAMMAR_GRAMMAR_H

#include <stddef.h>
#include <stdint.h>

#include "tokenizer/tokenizer.h"

typedef struct mlcc_grammar mlcc_grammar;
typedef struct mlcc_grammar_vocab mlcc_grammar_vocab;
typedef struct mlcc_grammar_matcher mlcc_grammar_matcher;

typedef struct mlcc_grammar_options {
    /* JSON: 0 = compact (no whitespace between tokens), 1 = flexible (up to max_ws whitespace
     * characters wherever JSON allows them). */
    int flexible_whitespace;
    int max_ws; /* flexible whitespace run bound; <= 0: 16 */
    /* JSON Schema: 1 = objects without "additionalProperties" take no other properties (as
     * OpenAI's strict mode); 0 = they take any (the JSON Schema meaning). */
    int strict_properties;
    /* Caps for what the schema leaves unbounded (0: none, the default): characters of a
     * string without maxLength (and repeats of `*`/`+` in its pattern), digits of a number's
     * integer and fraction parts without bounds. The text stays valid; a sampler with random
     * or weak preferences then cannot wander off for ever. */
    int max_string_chars;
    int max_number_digits;
} mlcc_grammar_options;

mlcc_grammar_options mlcc_grammar_default_options(void);

/* GBNF text (llama.cpp's grammar format; the start rule is `root`). Errors name line:col. */
mlcc_grammar *mlcc_grammar_from_ebnf(const char *text, size_t len, const char *what);
/* A regular expression (ECMAScript-like subset: literals, ., classes, \d\w\s, groups,
 * alternation, * + ? {m,n}); the whole output must match. */
mlcc_grammar *mlcc_grammar_from_regex(const char *regex, size_t len);
/* A JSON Schema (text). Unsupported keywords are errors naming the keyword and its JSON pointer. */
mlcc_grammar *mlcc_grammar_from_json_schema(const char *schema, size_t len, const mlcc_grammar_options *opt);
/* Any JSON value ({"type":"json_object"} in OpenAI's API means an object: see the next). */
mlcc_grammar *mlcc_grammar_json_any(const mlcc_grammar_options *opt, int object_only);
/* The GBNF text a JSON Schema or regex compiles to (malloc'ed; for debugging and tests). */
char *mlcc_json_schema_to_ebnf(const char *schema, size_t len, const mlcc_grammar_options *opt);
char *mlcc_regex_to_ebnf(const char *regex, size_t len);
/* Grammars are reference counted: retain adds a holder (returns g), free drops one and frees
 * the grammar with the last. */
mlcc_grammar *mlcc_grammar_retain(mlcc_grammar *g);
void mlcc_grammar_free(mlcc_grammar *g);
/* The grammar back as GBNF over bytes (for debugging). malloc'ed. */
char *mlcc_grammar_dump(const mlcc_grammar *g);

/* A cache of compiled grammars by source text, kind and options (thread-safe, LRU, at most
 * capacity grammars): repeated requests skip compiling and share the grammar's mask cache for
 * their vocabulary. get returns a grammar the caller holds (mlcc_grammar_free when done), or
 * NULL with the compiler's error (failures are not kept). what names GBNF text in errors. */
typedef struct mlcc_grammar_cache mlcc_grammar_cache;
typedef enum { MLCC_GRAMMAR_JSON_SCHEMA, MLCC_GRAMMAR_EBNF, MLCC_GRAMMAR_REGEX } mlcc_grammar_kind;
mlcc_grammar_cache *mlcc_grammar_cache_new(int capacity);
void mlcc_grammar_cache_free(mlcc_grammar_cache *c);
mlcc_grammar *mlcc_grammar_cache_get(mlcc_grammar_cache *c, mlcc_grammar_kind kind, const char *text, size_t len,
                                     const mlcc_grammar_options *opt, const char *what);
void mlcc_grammar_cache_stats(mlcc_grammar_cache *c, uint64_t *hits, uint64_t *misses, int *entries);

/* Token bytes and trie for a tokenizer. stop_ids: the end-of-sequence tokens a complete
 * grammar allows (NULL/0: the tokenizer's EOS). vocab_size: the model's (may exceed the
 * tokenizer's; extra ids are never allowed). */
mlcc_grammar_vocab *mlcc_grammar_vocab_new(mlcc_tokenizer *tok, int vocab_size, const int32_t *stop_ids, int nstop);
/* A vocabulary from token byte strings (NULL: a special token; lens NULL: NUL-terminated). */
mlcc_grammar_vocab *mlcc_grammar_vocab_from_bytes(const char *const *tokens, const size_t *lens, int n, const int32_t *stop_ids, int nstop);
void mlcc_grammar_vocab_free(mlcc_grammar_vocab *v);
int mlcc_grammar_vocab_size(const mlcc_grammar_vocab *v);
/* The bytes token id stands for (NULL with *len 0 for special tokens). */
const uint8_t *mlcc_grammar_vocab_token(const mlcc_grammar_vocab *v, int32_t id, size_t *len);

/* Both grammar and vocab must outlive the matcher. */
mlcc_grammar_matcher *mlcc_grammar_matcher_new(mlcc_grammar *g, mlcc_grammar_vocab *v);
void mlcc_grammar_matcher_free(mlcc_grammar_matcher *m);
/* Words of the mask: (vocab_size + 31) / 32. */
size_t mlcc_grammar_mask_words(const mlcc_grammar_vocab *v);
/* Fills mask (mask_words words) with the tokens allowed next. */
void mlcc_grammar_fill_next_token_bitmask(mlcc_grammar_matcher *m, uint32_t *mask);
/* Advances by one token: 0, or -1 (state unchanged) when the grammar does not allow it. A stop
 * token is allowed only when the grammar is complete; it terminates the matcher. */
int mlcc_grammar_accept_token(mlcc_grammar_matcher *m, int32_t id);
/* Advances by raw bytes (tests, forced text): 0, or -1 (state unchanged). */
int mlcc_grammar_accept_bytes(mlcc_grammar_matcher *m, const char *s, size_t n);
/* Undoes the last n accepted tokens (or accept_bytes calls). -1 if fewer were accepted. */
int mlcc_grammar_rollback(mlcc_grammar_matcher *m, int n);
/* Number of accepted steps that rollback can undo. */
int mlcc_grammar_history_len(const mlcc_grammar_matcher *m);
/* The text the grammar forces next (the longest byte string that is the only continuation,
 * stopping before a point where the grammar could end). malloc'ed, NUL-terminated. */
char *mlcc_grammar_find_jump_forward(mlcc_grammar_matcher *m, size_t *len);
/* The grammar may end here (a stop token is allowed). */
int mlcc_grammar_can_terminate(const mlcc_grammar_matcher *m);
/* Nothing more can follow: a stop token was accepted, or the grammar is complete and allows no
 * further byte. */
int mlcc_grammar_is_terminated(const mlcc_grammar_matcher *m);
void mlcc_grammar_matcher_reset(mlcc_grammar_matcher *m);

/* Sets logits of tokens not in mask to -inf (ids >= vocab_size of the mask: -inf too). */
void mlcc_grammar_apply_bitmask(float *logits, int nlogits, const uint32_t *mask, int vocab_size);

#endif
