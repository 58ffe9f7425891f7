/* model.c - the model part of tokenizer.json: dispatch to BPE, Unigram, WordPiece, and the
 * WordLevel model; vocabulary storage shared by all of them. */
#include <string.h>

#include "support/error.h"
#include "tokenizer/tok_internal.h"

void tok_model_set_token(tok_model *m, const char *tok, size_t len, int32_t id) {
    int inserted;
    mlcc_strmap_entry *e = strmap_upsert(&m->vocab, tok, len, &inserted);
    e->value.i = id;
    if (inserted) m->vocab_size++;
    if ((size_t)id >= m->n_ids) {
        size_t cap = m->n_ids ? m->n_ids : 256;
        while (cap <= (size_t)id)
            cap *= 2;
        m->id_to_tok = mlcc_xrealloc(m->id_to_tok, cap * sizeof *m->id_to_tok);
        memset(m->id_to_tok + m->n_ids, 0, (cap - m->n_ids) * sizeof *m->id_to_tok);
        m->id_len = mlcc_xrealloc(m->id_len, cap * sizeof *m->id_len);
        memset(m->id_len + m->n_ids, 0, (cap - m->n_ids) * sizeof *m->id_len);
        m->n_ids = cap;
    }
    /* the map's own copy of the key (it never moves and is never removed) names the id */
    m->id_to_tok[id] = e->key;
    m->id_len[id] = len;
}

int32_t tok_model_lookup(const tok_model *m, const char *s, size_t len) {
    mlcc_strmap_entry *e = strmap_find(&m->vocab, s, len);
    return e ? (int32_t)e->value.i : -1;
}

/* Reads a {"token": id} object into the vocabulary. */
static int read_vocab_object(tok_model *m, json_t *vocab, const char *what) {
    if (!json_is_object(vocab)) return mlcc_set_error("%s: 'vocab' must be an object", what);
    const char *key;
    json_t *v;
    void *iter = json_object_iter(vocab);
    while (iter) {
        key = json_object_iter_key(iter);
        v = json_object_iter_value(iter);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > INT32_MAX - 1)
            return mlcc_set_error("%s: vocab entry '%.80s' must be a non-negative integer id", what,
                                  key);
        /* jansson keeps keys NUL-terminated; tokens with U+0000 need the explicit length */
        tok_model_set_token(m, key, json_object_iter_key_len(iter), (int32_t)json_integer_value(v));
        iter = json_object_iter_next(vocab, iter);
    }
    return 0;
}

static int wordlevel_init(tok_model *m, json_t *j, const char *what) {
    if (read_vocab_object(m, json_object_get(j, "vocab"), what)) return -1;
    const char *unk = NULL;
    tok_json_opt_str(j, "unk_token", &unk);
    m->unk_id = unk ? tok_model_lookup(m, unk, strlen(unk)) : -1;
    return 0;
}

tok_model *tok_model_from_json(json_t *j, const char *what) {
    const char *type = NULL;
    if (!json_is_object(j)) {
        mlcc_set_error("%s: must be an object", what);
        return NULL;
    }
    tok_json_opt_str(j, "type", &type);
    tok_model *m = mlcc_xcalloc(1, sizeof *m);
    strmap_init(&m->vocab);
    m->unk_id = -1;
    int rc;
    /* Old files omit the type of a BPE model; tell it by its merges. */
    if (!type) type = json_object_get(j, "merges") ? "BPE" : "";
    if (!strcmp(type, "BPE")) {
        m->kind = TOK_MODEL_BPE;
        rc = read_vocab_object(m, json_object_get(j, "vocab"), what) || tok_bpe_init(m, j, what);
    } else if (!strcmp(type, "Unigram")) {
        m->kind = TOK_MODEL_UNIGRAM;
        rc = tok_unigram_init(m, j, what);
    } else if (!strcmp(type, "WordPiece")) {
        m->kind = TOK_MODEL_WORDPIECE;
        rc = read_vocab_object(m, json_object_get(j, "vocab"), what) ||
             tok_wordpiece_init(m, j, what);
    } else if (!strcmp(type, "WordLevel")) {
        m->kind = TOK_MODEL_WORDLEVEL;
        rc = wordlevel_init(m, j, what);
    } else {
        mlcc_set_error("%s: unsupported model type '%s'", what, type);
        rc = -1;
    }
    if (rc) {
        tok_model_free(m);
        return NULL;
    }
    return m;
}

void tok_model_free(tok_model *m) {
    if (!m) return;
    switch (m->kind) {
    case TOK_MODEL_BPE:
        tok_bpe_free(m);
        break;
    case TOK_MODEL_UNIGRAM:
        tok_unigram_free(m);
        break;
    case TOK_MODEL_WORDPIECE:
        tok_wordpiece_free(m);
        break;
    case TOK_MODEL_WORDLEVEL:
        break;
    }
    strmap_free(&m->vocab);
    free(m->id_to_tok);
    free(m->id_len);
    free(m);
}

int tok_model_tokenize(const tok_model *m, const char *s, size_t len, tok_ids *out) {
    if (len == 0) return 0;
    switch (m->kind) {
    case TOK_MODEL_BPE:
        return tok_bpe_tokenize(m, s, len, out);
    case TOK_MODEL_UNIGRAM:
        return tok_unigram_tokenize(m, s, len, out);
    case TOK_MODEL_WORDPIECE:
        return tok_wordpiece_tokenize(m, s, len, out);
    case TOK_MODEL_WORDLEVEL: {
        int32_t id = tok_model_lookup(m, s, len);
        if (id < 0) id = m->unk_id;
        if (id < 0)
            return mlcc_set_error(
                "WordLevel: '%.*s' is not in the vocabulary and there is no unk_token",
                (int)(len > 60 ? 60 : len), s);
        vec_push(out, id);
        return 0;
    }
    }
    return 0;
}
