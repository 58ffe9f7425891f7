/* tok_internal.h - the pieces of a tokenizer shared between its files: UTF-8 helpers, the piece
 * lists that flow from added-token splitting through normalizers and pre-tokenizers to the
 * model, the regex wrapper, and the component types (normalizer, pre-tokenizer, model,
 * post-processor, decoder) with their JSON constructors. */
#ifndef MLCC_TOKENIZER_TOK_INTERNAL_H
#define MLCC_TOKENIZER_TOK_INTERNAL_H
#define PCRE2_CODE_UNIT_WIDTH 8
#include <jansson.h>
#include <pcre2.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "support/hashmap.h"
#include "support/strbuf.h"
#include "support/vec.h"
#include "tokenizer/tokenizer.h"

typedef MLCC_VEC(int32_t) tok_ids;

/* ---- UTF-8 (tok_utf8.c) ---- */
/* Byte length of the UTF-8 sequence that starts with byte c (1 for stray bytes). */
int tok_utf8_seqlen(unsigned char c);
/* Decodes one code point at s (valid UTF-8 assumed, n > 0); *adv gets its length. */
uint32_t tok_utf8_decode(const char *s, size_t n, size_t *adv);
#include "support/utf8.h" /* mlcc_utf8_encode */
int tok_utf8_valid(const char *s, size_t n);
/* Appends bytes as Rust's String::from_utf8_lossy would (U+FFFD per maximal invalid subpart). */
void tok_append_lossy(mlcc_strbuf *sb, const char *s, size_t n);
/* GPT-2 byte-level alphabet: byte -> its printable code point, and back (-1 if none). */
uint32_t tok_byte_to_cp(unsigned char b);
int tok_cp_to_byte(uint32_t cp);
/* Rewrites an Oniguruma-style regex for PCRE2: \p{..}, \d, \w widened to the characters PCRE2's
 * older tables lack, \uHHHH as \x{HHHH}. malloc'ed. */
char *tok_regex_rewrite(const char *pat, size_t len, size_t *out_len);
/* Character predicates exactly as tokenizers' components apply them (tok_unicode.c). */
int tok_is_whitespace(uint32_t cp);           /* char::is_whitespace */
int tok_is_alphanumeric_word(uint32_t cp);    /* the regex crate's \w */
int tok_is_numeric(uint32_t cp);              /* char::is_numeric (Digits) */
int tok_is_punctuation(uint32_t cp);          /* Punctuation / BertPreTokenizer */
int tok_is_bert_control(uint32_t cp);         /* removed by BertNormalizer's clean_text */
int tok_is_bert_nonspacing_mark(uint32_t cp); /* removed by BertNormalizer's strip_accents */
int tok_is_combining_mark(uint32_t cp);       /* removed by StripAccents */
/* Lowercase of one code point (up to 3 code points); returns the count. */
int tok_lowercase_cp(uint32_t cp, uint32_t out[3]);

/* ---- piece lists ---- */
enum { TOK_PIECE_AT_START = 1 }; /* the piece starts at original offset 0 */
typedef struct tok_span {
    size_t off, len;
    int32_t id; /* an added token's id, or -1 for text still to tokenize */
    unsigned flags;
} tok_span;
typedef struct tok_pieces {
    mlcc_strbuf buf;
    MLCC_VEC(tok_span) v;
} tok_pieces;
void tok_pieces_add(tok_pieces *p, const char *s, size_t n, int32_t id, unsigned flags);
void tok_pieces_free(tok_pieces *p);
#define TOK_PIECE_STR(p, i) ((p)->buf.data + (p)->v.data[i].off)

/* ---- per-call scratch (regex match data, buffers per pre-tokenizer depth): one per encode,
 * never shared between threads ---- */
#define TOK_MAX_DEPTH 16
typedef struct tok_match {
    size_t start, end;
} tok_match;
typedef MLCC_VEC(tok_match) tok_matches;
typedef struct tok_ctx {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit_stack;
    int depth;
    tok_matches matches[TOK_MAX_DEPTH];
    mlcc_strbuf scratch[TOK_MAX_DEPTH];
} tok_ctx;
void tok_ctx_init(tok_ctx *c);
void tok_ctx_free(tok_ctx *c);

/* ---- regex (tok_regex.c): PCRE2 with UTF + UCP, JIT ---- */
typedef struct tok_regex {
    pcre2_code *code;
} tok_regex;
/* literal = a plain string pattern. NULL + error on a bad pattern. */
tok_regex *tok_regex_new(const char *pattern, size_t len, int literal);
void tok_regex_free(tok_regex *re);
/* Finds all matches as Oniguruma's find_iter does (empty matches allowed except right after a
 * match), appending each [start, end) to out. Returns 0, or -1 on a matcher error. */
int tok_regex_find_all(const tok_regex *re, tok_ctx *ctx, const char *s, size_t n,
                       tok_matches *out);

/* ---- split behaviours (shared by Split, Punctuation, Digits, Metaspace, ...) ---- */
enum tok_split_behavior {
    TOK_SPLIT_REMOVED,
    TOK_SPLIT_ISOLATED,
    TOK_SPLIT_MERGED_PREV,
    TOK_SPLIT_MERGED_NEXT,
    TOK_SPLIT_CONTIGUOUS
};
int tok_parse_behavior(const char *s, enum tok_split_behavior *out);
/* Where pieces go: pre-tokenizers hand each piece to the next stage as soon as it is made. */
typedef int (*tok_emit_fn)(void *arg, const char *s, size_t n, unsigned flags);
/* Given matches of s[0..n), emits the resulting pieces in order (empty ones dropped). */
int tok_split_by_matches(const char *s, size_t n, const tok_matches *m, int invert,
                         enum tok_split_behavior b, unsigned flags, tok_emit_fn emit, void *arg);

/* ---- JSON helpers (tok_json.c) ---- */
/* Each sets an error naming `what` and the field on failure. */
int tok_json_str(json_t *obj, const char *key, const char *what, const char **out);
int tok_json_opt_str(json_t *obj, const char *key, const char **out); /* NULL if absent/null */
int tok_json_bool(json_t *obj, const char *key, int dflt);
/* Parses a `pattern` object ({"String": s} or {"Regex": r}) into a regex. */
tok_regex *tok_json_pattern(json_t *obj, const char *what, char **literal, size_t *literal_len);

/* ---- normalizers (normalizer.c) ---- */
typedef struct tok_normalizer tok_normalizer;
tok_normalizer *tok_normalizer_from_json(json_t *j, const char *what);
void tok_normalizer_free(tok_normalizer *n);
/* Appends normalize(s) to out. */
int tok_normalize(const tok_normalizer *n, tok_ctx *ctx, const char *s, size_t len,
                  mlcc_strbuf *out);

/* ---- pre-tokenizers (pretokenizer.c) ---- */
typedef struct tok_pretok tok_pretok;
tok_pretok *tok_pretok_from_json(json_t *j, const char *what);
void tok_pretok_free(tok_pretok *p);
/* Splits one piece and emits the results in order. */
int tok_pretokenize(const tok_pretok *p, tok_ctx *ctx, const char *s, size_t len, unsigned flags,
                    tok_emit_fn emit, void *arg);

/* ---- models (bpe.c, unigram.c, wordpiece.c, wordlevel in model.c) ---- */
enum tok_model_kind { TOK_MODEL_BPE, TOK_MODEL_UNIGRAM, TOK_MODEL_WORDPIECE, TOK_MODEL_WORDLEVEL };
typedef struct tok_model {
    enum tok_model_kind kind;
    mlcc_strmap vocab; /* token -> id */
    char **id_to_tok;  /* id -> token (NULL holes; the vocabulary map's copies) */
    size_t *id_len;    /* id -> token length (tokens may hold U+0000) */
    size_t n_ids;      /* size of id_to_tok */
    size_t vocab_size; /* number of entries in vocab */
    int32_t unk_id;    /* -1 when none */
    void *impl;        /* model specific */
} tok_model;
tok_model *tok_model_from_json(json_t *j, const char *what);
void tok_model_free(tok_model *m);
int tok_model_tokenize(const tok_model *m, const char *s, size_t len, tok_ids *out);
/* shared vocabulary helpers */
void tok_model_set_token(tok_model *m, const char *tok, size_t len, int32_t id);
int32_t tok_model_lookup(const tok_model *m, const char *s, size_t len);

/* model specific constructors (each file) */
int tok_bpe_init(tok_model *m, json_t *j, const char *what);
int tok_bpe_tokenize(const tok_model *m, const char *s, size_t len, tok_ids *out);
void tok_bpe_free(tok_model *m);
/* GGUF: builds a BPE model from token strings and merges ("a b") or, with merges NULL, from
 * scores (SentencePiece-style: the pair whose merged token has the highest score first). */
typedef struct tok_bpe_options {
    int byte_fallback, fuse_unk, ignore_merges;
    const char *unk_token, *cont_prefix, *eow_suffix;
} tok_bpe_options;
tok_model *tok_bpe_build(char **tokens, const float *scores, size_t n_tokens, char **merges,
                         size_t n_merges, const tok_bpe_options *opt, const char *what);
int tok_unigram_init(tok_model *m, json_t *j, const char *what);
int tok_unigram_tokenize(const tok_model *m, const char *s, size_t len, tok_ids *out);
void tok_unigram_free(tok_model *m);
int tok_wordpiece_init(tok_model *m, json_t *j, const char *what);
int tok_wordpiece_tokenize(const tok_model *m, const char *s, size_t len, tok_ids *out);
void tok_wordpiece_free(tok_model *m);

/* ---- added tokens (added_tokens.c) ---- */
typedef struct tok_added_token {
    char *content;
    size_t len;
    int32_t id;
    int special, lstrip, rstrip, normalized, single_word;
    char *norm; /* the normalized content when normalized and different (what decode shows) */
    size_t norm_len;
} tok_added_token;
typedef struct tok_trie tok_trie;
typedef struct tok_added {
    MLCC_VEC(tok_added_token) tokens;
    mlcc_u64map by_id;      /* id -> index in tokens */
    mlcc_strmap by_content; /* content -> id */
    tok_trie *raw_trie;     /* tokens with normalized = false, on the raw text */
    tok_trie *norm_trie;    /* tokens with normalized = true, on normalized text */
} tok_added;
void tok_added_init(tok_added *a);
void tok_added_free(tok_added *a);
void tok_added_add(tok_added *a, const char *content, size_t len, int32_t id, int special,
                   int lstrip, int rstrip, int normalized, int single_word);
/* Builds the matchers; normalized tokens are matched in their normalized form. */
int tok_added_build(tok_added *a, const tok_normalizer *norm, tok_ctx *ctx);
const tok_added_token *tok_added_by_id(const tok_added *a, int32_t id);
/* Splits s into added tokens and text between them; appends to out. */
void tok_added_split(const tok_added *a, int normalized_pass, const char *s, size_t n,
                     unsigned flags, tok_pieces *out);

/* ---- post-processors (postprocessor.c) ---- */
typedef struct tok_postproc tok_postproc;
tok_postproc *tok_postproc_from_json(json_t *j, const char *what);
void tok_postproc_free(tok_postproc *p);
/* Adds the special tokens of a single sequence around ids. */
void tok_postprocess(const tok_postproc *p, tok_ids *ids);
/* How many ids it adds to a single sequence. */
size_t tok_postproc_added(const tok_postproc *p);

/* ---- decoders (decoder.c) ---- */
typedef struct tok_str {
    char *s;
    size_t n;
} tok_str;
typedef MLCC_VEC(tok_str) tok_strs;
void tok_strs_push(tok_strs *v, const char *s, size_t n);
void tok_strs_free(tok_strs *v);
typedef struct tok_decoder tok_decoder;
tok_decoder *tok_decoder_from_json(json_t *j, const char *what);
void tok_decoder_free(tok_decoder *d);
/* Runs the decoder chain on the tokens (replacing their contents). */
int tok_decode_chain(const tok_decoder *d, tok_ctx *ctx, tok_strs *tokens);

/* ---- the tokenizer (tokenizer.c) ---- */
struct mlcc_tokenizer {
    tok_normalizer *normalizer;
    tok_pretok *pretok;
    tok_model *model;
    tok_postproc *postproc;
    tok_decoder *decoder;
    tok_added added;
    int32_t bos_id, eos_id;
    /* "truncation" and "padding" of tokenizer.json (single sequences) */
    int64_t trunc_max; /* -1: none */
    int trunc_left;
    int pad;           /* padding configured */
    int64_t pad_fixed; /* Fixed length, or -1 for BatchLongest */
    int64_t pad_multiple;
    int32_t pad_id;
    int pad_left;
    /* the pre-token cache: piece -> ids */
    pthread_mutex_t cache_lock;
    mlcc_strmap cache;
    tok_ids cache_ids;
};
/* Finishes a tokenizer whose components are set (builds the added-token matchers). */
int tok_finish(mlcc_tokenizer *tok);
mlcc_tokenizer *tok_new_empty(void);
/* GGUF vocabulary (gguf_vocab.c). */
mlcc_tokenizer *tok_load_gguf(const char *path);
/* The pre-tokenizer llama.cpp calls tokenizer.ggml.pre `name`: its Split regexes (applied in
 * order, NULL after the last; then ByteLevel without regex) and whether its BPE takes a word
 * found whole in the vocabulary as one token (ignore_merges). 0, or -1 when unknown. */
extern const char TOK_GGUF_SPM_NORMALIZER[], TOK_GGUF_SPM_DECODER[];
int tok_gguf_pre_lookup(const char *name, size_t len, const char *regex[4], int *ignore_merges);

#endif
