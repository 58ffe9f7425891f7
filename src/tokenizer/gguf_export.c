/* gguf_export.c - a GGUF vocabulary as tokenizer.json + tokenizer_config.json (see
 * gguf_export.h). It writes, component for component, the tokenizer tok_load_gguf builds
 * (gguf_vocab.c), in the layout tokenizers serializes:
 *   - gpt2 (byte-level BPE): the Split regexes of tokenizer.ggml.pre, ByteLevel, the file's
 *     merges, ignore_merges as llama.cpp's pre-tokenizer says;
 *   - llama (SentencePiece BPE with byte fallback): Llama-2's normalizer and decoder, and merges
 *     made from the scores: tok_load_gguf ranks a pair by the score of the token it makes, so
 *     every split (l, r) of a vocabulary token t with l and r in the vocabulary becomes a merge,
 *     ordered by t's score (then id, then split position), as transformers' SentencePiece
 *     converter does;
 *   - control, unknown and user-defined tokens (types 3, 2, 4) as added tokens matched in the
 *     raw text (normalized false), the first two special; add_bos_token / add_eos_token as a
 *     TemplateProcessing post-processor.
 * A token text that occurs twice keeps its first id in the vocabulary (a JSON object has one
 * entry per key); tokenizer.json cannot say otherwise. */
#include "tokenizer/gguf_export.h"

#include <stdlib.h>
#include <string.h>

#include "loader/gguf.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "tokenizer/tok_internal.h"

enum { TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_USER_DEFINED = 4 };

typedef struct vocab_src {
    const mlcc_gguf *g;
    const mlcc_gguf_str *tok; /* n token texts, into the mapping */
    size_t n;
    const mlcc_gguf_kv *types; /* or NULL */
    int32_t bos, eos, unk;
    int add_bos, add_eos;
} vocab_src;

static json_t *str_of(mlcc_gguf_str s) {
    return json_stringn(s.data, (size_t)s.len);
}

static int type_of(const vocab_src *v, size_t i) {
    return v->types ? (int)mlcc_gguf_arr_int(v->types, i) : 1;
}

/* A token text that is not valid UTF-8 cannot be a JSON string: an error naming it. */
static int invalid_token(const vocab_src *v, size_t i) {
    return mlcc_set_error("%s: token %zu of tokenizer.ggml.tokens is not valid UTF-8 (tokenizer.json cannot hold it)", v->g->path,
                          i);
}

static json_t *vocab_object(const vocab_src *v) {
    json_t *o = json_object();
    for (size_t i = 0; i < v->n; i++) {
        const mlcc_gguf_str *s = &v->tok[i];
        if (memchr(s->data, 0, (size_t)s->len)) { /* as tok_load_gguf: a token ends at a NUL there */
            json_decref(o);
            return mlcc_set_error("%s: tokenizer.ggml.tokens[%zu] holds a NUL byte", v->g->path, i), NULL;
        }
        /* a text listed twice names its last id, as tok_load_gguf, llama.cpp and transformers'
         * GGUF reader map it (setn replaces the earlier one) */
        if (json_object_setn_new(o, s->data, (size_t)s->len, json_integer((json_int_t)i))) {
            json_decref(o);
            return invalid_token(v, i), NULL;
        }
    }
    return o;
}

static json_t *added_tokens(const vocab_src *v, json_t *decoder_map) {
    json_t *list = json_array();
    for (size_t i = 0; i < v->n; i++) {
        int t = type_of(v, i);
        if (t != TYPE_CONTROL && t != TYPE_USER_DEFINED && t != TYPE_UNKNOWN) continue;
        int special = t != TYPE_USER_DEFINED;
        json_t *content = str_of(v->tok[i]);
        if (!content) {
            json_decref(list);
            return invalid_token(v, i), NULL;
        }
        json_array_append_new(list, json_pack("{s:I,s:O,s:b,s:b,s:b,s:b,s:b}", "id", (json_int_t)i, "content", content,
                                              "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0, "special", special));
        char key[24];
        snprintf(key, sizeof key, "%zu", i);
        json_object_set_new(decoder_map, key,
                            json_pack("{s:o,s:b,s:b,s:b,s:b,s:b}", "content", content, "lstrip", 0, "normalized", 0, "rstrip", 0,
                                      "single_word", 0, "special", special));
    }
    return list;
}

static void template_piece(json_t *seq, const vocab_src *v, json_t *specials, int32_t id, int type_id) {
    json_t *text = str_of(v->tok[id]);
    const char *name = json_string_value(text);
    if (!name) return; /* not UTF-8: vocab_object has rejected the vocabulary already */
    json_array_append_new(seq, json_pack("{s:{s:s,s:i}}", "SpecialToken", "id", name, "type_id", type_id));
    json_object_set_new(specials, name, json_pack("{s:s,s:[I],s:[s]}", "id", name, "ids", (json_int_t)id, "tokens", name));
    json_decref(text);
}

/* add_bos / add_eos as tokenizers' TemplateProcessing: "[BOS] $A [EOS]" and, for pairs,
 * "[BOS] $A [EOS] [BOS] $B:1 [EOS]". */
static json_t *post_processor(const vocab_src *v) {
    json_t *single = json_array(), *pair = json_array(), *specials = json_object();
    int bos = v->add_bos && v->bos >= 0 && (size_t)v->bos < v->n;
    int eos = v->add_eos && v->eos >= 0 && (size_t)v->eos < v->n;
    for (int part = 0; part < 2; part++) {
        if (bos) template_piece(pair, v, specials, v->bos, part);
        if (bos && part == 0) template_piece(single, v, specials, v->bos, 0);
        json_t *seq = json_pack("{s:{s:s,s:i}}", "Sequence", "id", part ? "B" : "A", "type_id", part);
        if (part == 0) json_array_append(single, seq);
        json_array_append_new(pair, seq);
        if (eos) template_piece(pair, v, specials, v->eos, part);
        if (eos && part == 0) template_piece(single, v, specials, v->eos, 0);
    }
    return json_pack("{s:s,s:o,s:o,s:o}", "type", "TemplateProcessing", "single", single, "pair", pair, "special_tokens", specials);
}

static json_t *bpe_model(json_t *vocab, json_t *merges, int byte_fallback, int ignore_merges, json_t *unk) {
    return json_pack("{s:s,s:n,s:o,s:n,s:n,s:b,s:b,s:b,s:o,s:o}", "type", "BPE", "dropout", "unk_token", unk ? unk : json_null(),
                     "continuing_subword_prefix", "end_of_word_suffix", "fuse_unk", byte_fallback, "byte_fallback", byte_fallback,
                     "ignore_merges", ignore_merges, "vocab", vocab, "merges", merges);
}

/* gpt2: byte-level BPE with the file's merges and llama.cpp's pre-tokenizer. */
static int export_byte_level(const vocab_src *v, json_t *root) {
    const mlcc_gguf *g = v->g;
    mlcc_gguf_str pre = {"default", 7};
    if (mlcc_gguf_find(g, "tokenizer.ggml.pre") && mlcc_gguf_get_str(g, "tokenizer.ggml.pre", &pre)) return -1;
    const char *regex[4];
    int ignore_merges;
    if (tok_gguf_pre_lookup(pre.data, (size_t)pre.len, regex, &ignore_merges))
        return mlcc_set_error("%s: tokenizer.ggml.pre '%.*s' is not supported", g->path, (int)pre.len, pre.data);
    const mlcc_gguf_kv *mg = mlcc_gguf_get_array(g, "tokenizer.ggml.merges", MLCC_GGUF_STRING);
    if (!mg) return -1;
    json_t *merges = json_array();
    for (uint64_t i = 0; i < mg->arr_n; i++) {
        if (memchr(mg->arr_strings[i].data, 0, (size_t)mg->arr_strings[i].len)) {
            json_decref(merges);
            return mlcc_set_error("%s: tokenizer.ggml.merges[%llu] holds a NUL byte", g->path, (unsigned long long)i);
        }
        json_t *m = str_of(mg->arr_strings[i]);
        if (!m) {
            json_decref(merges);
            return mlcc_set_error("%s: tokenizer.ggml.merges[%llu] is not valid UTF-8", g->path, (unsigned long long)i);
        }
        json_array_append_new(merges, m);
    }
    json_t *vocab = vocab_object(v);
    if (!vocab) {
        json_decref(merges);
        return -1;
    }
    json_t *seq = json_array();
    for (int i = 0; i < 4 && regex[i]; i++)
        json_array_append_new(seq, json_pack("{s:s,s:{s:s},s:s,s:b}", "type", "Split", "pattern", "Regex", regex[i], "behavior",
                                             "Isolated", "invert", 0));
    json_array_append_new(seq, json_pack("{s:s,s:b,s:b,s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 1,
                                         "use_regex", 0));
    json_object_set_new(root, "normalizer", json_null());
    json_object_set_new(root, "pre_tokenizer", json_pack("{s:s,s:o}", "type", "Sequence", "pretokenizers", seq));
    json_object_set_new(root, "post_processor", post_processor(v));
    json_object_set_new(root, "decoder", json_pack("{s:s,s:b,s:b,s:b}", "type", "ByteLevel", "add_prefix_space", 1, "trim_offsets",
                                                   1, "use_regex", 1));
    json_object_set_new(root, "model", bpe_model(vocab, merges, 0, ignore_merges, NULL));
    return 0;
}

typedef struct spm_merge {
    uint32_t rank; /* of the merged token, by score (tok_load_gguf's order) */
    uint32_t split;
    int32_t id;
} spm_merge;

typedef struct score_id {
    float score;
    int32_t id;
} score_id;

static int by_score(const void *x, const void *y) {
    const score_id *a = x, *b = y;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int by_rank(const void *x, const void *y) {
    const spm_merge *a = x, *b = y;
    if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
    return a->split < b->split ? -1 : a->split > b->split;
}

/* llama: every (l, r) split of a token into two vocabulary tokens, ordered by the merged
 * token's score rank. */
static json_t *spm_merges(const vocab_src *v, const mlcc_gguf_kv *scores) {
    score_id *order = mlcc_xmalloc((v->n + 1) * sizeof *order);
    for (size_t i = 0; i < v->n; i++) order[i] = (score_id){(float)mlcc_gguf_arr_float(scores, i), (int32_t)i};
    qsort(order, v->n, sizeof *order, by_score);
    uint32_t *rank = mlcc_xmalloc((v->n + 1) * sizeof *rank);
    for (size_t i = 0; i < v->n; i++) rank[order[i].id] = (uint32_t)i;
    free(order);
    mlcc_strmap ids;
    strmap_init(&ids);
    for (size_t i = v->n; i-- > 0;) strmap_upsert(&ids, v->tok[i].data, (size_t)v->tok[i].len, NULL)->value.i = (int64_t)i;
    spm_merge *list = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < v->n; i++) {
        const mlcc_gguf_str *t = &v->tok[i];
        int type = type_of(v, i);
        if (type == TYPE_CONTROL || type == TYPE_UNKNOWN || type == TYPE_USER_DEFINED) continue;
        for (uint64_t k = 1; k < t->len; k++) {
            if (((unsigned char)t->data[k] & 0xC0) == 0x80) continue; /* inside a UTF-8 sequence */
            if (!strmap_find(&ids, t->data, (size_t)k) || !strmap_find(&ids, t->data + k, (size_t)(t->len - k))) continue;
            if (n == cap) list = mlcc_xrealloc(list, (cap = cap ? 2 * cap : 1024) * sizeof *list);
            list[n++] = (spm_merge){rank[i], (uint32_t)k, (int32_t)i};
        }
    }
    /* no token may split into two others (e.g. a vocabulary of single characters): list is
     * NULL then, and qsort's array must not be NULL even for 0 elements */
    if (n > 1) qsort(list, n, sizeof *list, by_rank);
    json_t *merges = json_array();
    for (size_t i = 0; i < n; i++) {
        const mlcc_gguf_str *t = &v->tok[list[i].id];
        json_t *l = json_stringn(t->data, list[i].split), *r = json_stringn(t->data + list[i].split, (size_t)(t->len - list[i].split));
        if (l && r) json_array_append_new(merges, json_pack("[o,o]", l, r));
        else json_decref(l), json_decref(r);
    }
    free(list);
    free(rank);
    strmap_free(&ids);
    return merges;
}

/* llama: SentencePiece BPE with byte fallback, as Llama-2's tokenizer.json. */
static int export_sentencepiece(const vocab_src *v, json_t *root) {
    const mlcc_gguf_kv *sc = mlcc_gguf_get_array(v->g, "tokenizer.ggml.scores", MLCC_GGUF_FLOAT32);
    if (!sc) return -1;
    if (sc->arr_n != v->n)
        return mlcc_set_error("%s: metadata 'tokenizer.ggml.scores' has %llu entries for %zu tokens", v->g->path,
                              (unsigned long long)sc->arr_n, v->n);
    json_t *vocab = vocab_object(v);
    if (!vocab) return -1;
    json_t *unk = v->unk >= 0 && (size_t)v->unk < v->n ? str_of(v->tok[v->unk]) : NULL;
    json_error_t err;
    json_object_set_new(root, "normalizer", json_loads(TOK_GGUF_SPM_NORMALIZER, 0, &err));
    json_object_set_new(root, "pre_tokenizer", json_null());
    json_object_set_new(root, "post_processor", post_processor(v));
    json_object_set_new(root, "decoder", json_loads(TOK_GGUF_SPM_DECODER, 0, &err));
    json_object_set_new(root, "model", bpe_model(vocab, spm_merges(v, sc), 1, 0, unk));
    return 0;
}

static int read_id(const mlcc_gguf *g, const char *key, int32_t *out) {
    int64_t x;
    *out = -1;
    if (!mlcc_gguf_find(g, key)) return 0;
    if (mlcc_gguf_get_int(g, key, &x)) return -1;
    *out = x >= 0 && x <= INT32_MAX ? (int32_t)x : -1;
    return 0;
}

static int read_bool(const mlcc_gguf *g, const char *key, int dflt) {
    int x;
    return mlcc_gguf_find(g, key) && mlcc_gguf_get_bool(g, key, &x) == 0 ? x : dflt;
}

/* tokenizer_config.json: what transformers' PreTrainedTokenizerFast and mlcc's template loader
 * read beside tokenizer.json. */
static json_t *tokenizer_config(const vocab_src *v, json_t *decoder_map) {
    json_t *c = json_object();
    json_object_set_new(c, "add_bos_token", json_boolean(v->add_bos));
    json_object_set_new(c, "add_eos_token", json_boolean(v->add_eos));
    json_object_set_new(c, "added_tokens_decoder", decoder_map);
    if (v->bos >= 0 && (size_t)v->bos < v->n) json_object_set_new(c, "bos_token", str_of(v->tok[v->bos]));
    if (v->eos >= 0 && (size_t)v->eos < v->n) json_object_set_new(c, "eos_token", str_of(v->tok[v->eos]));
    mlcc_gguf_str t;
    if (mlcc_gguf_find(v->g, "tokenizer.chat_template") && mlcc_gguf_get_str(v->g, "tokenizer.chat_template", &t) == 0)
        json_object_set_new(c, "chat_template", str_of(t));
    json_object_set_new(c, "clean_up_tokenization_spaces", json_false());
    json_object_set_new(c, "tokenizer_class", json_string("PreTrainedTokenizerFast"));
    return c;
}

int tok_gguf_export(const char *path, json_t **tokenizer_json, json_t **tokenizer_cfg) {
    *tokenizer_json = *tokenizer_cfg = NULL;
    mlcc_gguf *g = mlcc_gguf_open(path);
    if (!g) return -1;
    int rc = tok_gguf_export_open(g, tokenizer_json, tokenizer_cfg);
    mlcc_gguf_close(g);
    return rc;
}

int tok_gguf_export_open(const mlcc_gguf *g, json_t **tokenizer_json, json_t **tokenizer_cfg) {
    *tokenizer_json = *tokenizer_cfg = NULL;
    const char *path = g->path;
    vocab_src v = {.g = g};
    mlcc_gguf_str model;
    int rc = -1;
    const mlcc_gguf_kv *tk = NULL;
    if (!mlcc_gguf_find(g, "tokenizer.ggml.model")) {
        rc = 1;
        goto done;
    }
    if (mlcc_gguf_get_str(g, "tokenizer.ggml.model", &model) ||
        !(tk = mlcc_gguf_get_array(g, "tokenizer.ggml.tokens", MLCC_GGUF_STRING)))
        goto done;
    v.tok = tk->arr_strings, v.n = (size_t)tk->arr_n;
    v.types = mlcc_gguf_find(g, "tokenizer.ggml.token_type");
    if (v.types && (v.types->type != MLCC_GGUF_ARRAY || v.types->arr_n != v.n || v.types->arr_type == MLCC_GGUF_STRING ||
                    v.types->arr_type == MLCC_GGUF_ARRAY)) {
        mlcc_set_error("%s: metadata 'tokenizer.ggml.token_type' must be an integer array as long as the tokens", path);
        goto done;
    }
    if (read_id(g, "tokenizer.ggml.bos_token_id", &v.bos) || read_id(g, "tokenizer.ggml.eos_token_id", &v.eos) ||
        read_id(g, "tokenizer.ggml.unknown_token_id", &v.unk))
        goto done;
    int gpt2 = model.len == 4 && !memcmp(model.data, "gpt2", 4), spm = model.len == 5 && !memcmp(model.data, "llama", 5);
    if (!gpt2 && !spm) {
        mlcc_set_error("%s: tokenizer.ggml.model '%.*s' is not supported (gpt2 and llama are)", path, (int)model.len, model.data);
        goto done;
    }
    v.add_bos = read_bool(g, "tokenizer.ggml.add_bos_token", spm); /* llama.cpp's defaults */
    v.add_eos = read_bool(g, "tokenizer.ggml.add_eos_token", 0);
    json_t *root = json_pack("{s:s,s:n,s:n}", "version", "1.0", "truncation", "padding");
    json_t *decoder_map = json_object(), *added = added_tokens(&v, decoder_map);
    if (!added) {
        json_decref(root), json_decref(decoder_map);
        goto done;
    }
    json_object_set_new(root, "added_tokens", added);
    if ((gpt2 ? export_byte_level : export_sentencepiece)(&v, root)) {
        json_decref(root), json_decref(decoder_map);
        goto done;
    }
    *tokenizer_json = root;
    *tokenizer_cfg = tokenizer_config(&v, decoder_map);
    rc = 0;
done:
    return rc;
}
