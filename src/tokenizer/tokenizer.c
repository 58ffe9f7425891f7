/* tokenizer.c - a Hugging Face tokenizer: loading tokenizer.json (or a model directory, or a
 * GGUF file), and the encode pipeline as the tokenizers library runs it: added tokens split
 * out of the raw text, normalizer on the stretches between them, added tokens again on the
 * normalized text, pre-tokenizer, model (through a cache of pre-token -> ids), post-processor.
 * Decoding maps ids to token strings and runs the decoder chain. */
#include <stdio.h>
#include <string.h>

#include "support/error.h"
#include "support/file.h"
#include "support/json.h"
#include "tokenizer/tok_internal.h"

enum { CACHE_MAX_PIECE = 256, CACHE_MAX_ENTRIES = 1 << 18 };

mlcc_tokenizer *tok_new_empty(void) {
    mlcc_tokenizer *tok = mlcc_xcalloc(1, sizeof *tok);
    tok_added_init(&tok->added);
    strmap_init(&tok->cache);
    pthread_mutex_init(&tok->cache_lock, NULL);
    tok->bos_id = tok->eos_id = -1;
    tok->trunc_max = -1;
    return tok;
}

void mlcc_tokenizer_free(mlcc_tokenizer *tok) {
    if (!tok) return;
    tok_normalizer_free(tok->normalizer);
    tok_pretok_free(tok->pretok);
    tok_model_free(tok->model);
    tok_postproc_free(tok->postproc);
    tok_decoder_free(tok->decoder);
    tok_added_free(&tok->added);
    strmap_free(&tok->cache);
    vec_free(&tok->cache_ids);
    pthread_mutex_destroy(&tok->cache_lock);
    free(tok);
}

int tok_finish(mlcc_tokenizer *tok) {
    tok_ctx ctx;
    tok_ctx_init(&ctx);
    int rc = tok_added_build(&tok->added, tok->normalizer, &ctx);
    tok_ctx_free(&ctx);
    return rc;
}

static int read_added_tokens(mlcc_tokenizer *tok, json_t *arr, const char *what) {
    if (!arr || json_is_null(arr)) return 0;
    if (!json_is_array(arr)) return mlcc_set_error("%s: 'added_tokens' must be an array", what);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *t = json_array_get(arr, i), *id = json_object_get(t, "id"),
               *c = json_object_get(t, "content");
        if (!json_is_object(t) || !json_is_integer(id) || !json_is_string(c) ||
            json_integer_value(id) < 0 || json_integer_value(id) > INT32_MAX - 1)
            return mlcc_set_error(
                "%s: added_tokens[%zu] needs an integer 'id' >= 0 and a string 'content'", what, i);
        int special = tok_json_bool(t, "special", 0);
        int32_t tid = tok_model_lookup(tok->model, json_string_value(c), json_string_length(c));
        if (tid < 0) tid = (int32_t)json_integer_value(id);
        tok_added_add(&tok->added, json_string_value(c), json_string_length(c), tid, special,
                      tok_json_bool(t, "lstrip", 0), tok_json_bool(t, "rstrip", 0),
                      tok_json_bool(t, "normalized", !special), tok_json_bool(t, "single_word", 0));
    }
    return 0;
}

#define COMPONENT(field, key, ctor, label)                                                         \
    do {                                                                                           \
        json_t *c_ = json_object_get(root, key);                                                   \
        if (c_ && !json_is_null(c_)) {                                                             \
            snprintf(sub, sizeof sub, "%s: %s", what, label);                                      \
            if (!(tok->field = ctor(c_, sub))) goto fail;                                          \
        }                                                                                          \
    } while (0)

static int read_truncation_padding(mlcc_tokenizer *tok, json_t *root, const char *what) {
    json_t *t = json_object_get(root, "truncation"), *p = json_object_get(root, "padding");
    if (json_is_object(t)) {
        json_t *ml = json_object_get(t, "max_length");
        if (!json_is_integer(ml) || json_integer_value(ml) < 0)
            return mlcc_set_error("%s: truncation.max_length must be a non-negative integer", what);
        tok->trunc_max = json_integer_value(ml);
        const char *dir = NULL;
        tok_json_opt_str(t, "direction", &dir);
        tok->trunc_left = dir && !strcmp(dir, "Left");
    } else if (t && !json_is_null(t)) {
        return mlcc_set_error("%s: 'truncation' must be an object or null", what);
    }
    if (json_is_object(p)) {
        json_t *st = json_object_get(p, "strategy"), *fixed = json_object_get(st, "Fixed");
        tok->pad = 1;
        tok->pad_fixed = -1;
        if (json_is_integer(fixed))
            tok->pad_fixed = json_integer_value(fixed);
        else if (!(json_is_string(st) && !strcmp(json_string_value(st), "BatchLongest")))
            return mlcc_set_error("%s: padding.strategy must be \"BatchLongest\" or {\"Fixed\": n}",
                                  what);
        json_t *mult = json_object_get(p, "pad_to_multiple_of"), *id = json_object_get(p, "pad_id");
        tok->pad_multiple = json_is_integer(mult) ? json_integer_value(mult) : 0;
        tok->pad_id = json_is_integer(id) ? (int32_t)json_integer_value(id) : 0;
        const char *dir = NULL;
        tok_json_opt_str(p, "direction", &dir);
        tok->pad_left = dir && !strcmp(dir, "Left");
    } else if (p && !json_is_null(p)) {
        return mlcc_set_error("%s: 'padding' must be an object or null", what);
    }
    return 0;
}

static mlcc_tokenizer *from_json_value(json_t *root, const char *what) {
    char sub[512];
    if (!json_is_object(root)) {
        mlcc_set_error("%s: a tokenizer.json must be a JSON object", what);
        return NULL;
    }
    json_t *model = json_object_get(root, "model");
    if (!json_is_object(model)) {
        mlcc_set_error("%s: missing object 'model'", what);
        return NULL;
    }
    mlcc_tokenizer *tok = tok_new_empty();
    COMPONENT(model, "model", tok_model_from_json, "model");
    COMPONENT(normalizer, "normalizer", tok_normalizer_from_json, "normalizer");
    COMPONENT(pretok, "pre_tokenizer", tok_pretok_from_json, "pre_tokenizer");
    COMPONENT(postproc, "post_processor", tok_postproc_from_json, "post_processor");
    COMPONENT(decoder, "decoder", tok_decoder_from_json, "decoder");
    if (read_added_tokens(tok, json_object_get(root, "added_tokens"), what)) goto fail;
    if (read_truncation_padding(tok, root, what)) goto fail;
    if (tok_finish(tok)) goto fail;
    return tok;
fail:
    mlcc_tokenizer_free(tok);
    return NULL;
}

mlcc_tokenizer *mlcc_tokenizer_from_json(const char *json, size_t len, const char *what) {
    json_t *root = mlcc_json_loads(json, len, what);
    if (!root) return NULL;
    mlcc_tokenizer *tok = from_json_value(root, what);
    json_decref(root);
    return tok;
}

/* bos_token / eos_token of a tokenizer_config.json beside tokenizer.json (a string or an
 * AddedToken object). */
static int32_t config_token(mlcc_tokenizer *tok, json_t *cfg, const char *key) {
    json_t *v = json_object_get(cfg, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    if (!json_is_string(v)) return -1;
    return mlcc_tokenizer_token_to_id(tok, json_string_value(v));
}

static int has_suffix(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* A GGUF file, whatever its name, starts with "GGUF". */
static int is_gguf(const char *path) {
    if (has_suffix(path, ".gguf")) return 1;
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    int yes = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
    if (f) fclose(f);
    return yes;
}

mlcc_tokenizer *mlcc_tokenizer_load(const char *path) {
    if (!mlcc_is_dir(path) && is_gguf(path)) return tok_load_gguf(path);
    char *file = mlcc_is_dir(path) ? mlcc_path_join(path, "tokenizer.json") : mlcc_xstrdup(path);
    json_t *root = mlcc_json_load_file(file);
    mlcc_tokenizer *tok = root ? from_json_value(root, file) : NULL;
    json_decref(root);
    if (tok) {
        /* the special token ids the engine needs, from tokenizer_config.json when present */
        char *dir = mlcc_xstrdup(file);
        char *slash = strrchr(dir, '/');
        char *cfgpath = slash ? (slash[1] = 0, mlcc_path_join(dir, "tokenizer_config.json"))
                              : mlcc_xstrdup("tokenizer_config.json");
        if (mlcc_file_exists(cfgpath)) {
            json_t *cfg = mlcc_json_load_file(cfgpath);
            if (cfg) {
                tok->bos_id = config_token(tok, cfg, "bos_token");
                tok->eos_id = config_token(tok, cfg, "eos_token");
                json_decref(cfg);
            }
            mlcc_clear_error();
        }
        free(cfgpath);
        free(dir);
    }
    free(file);
    return tok;
}

/* ---- encoding ---- */

static int tokenize_piece(mlcc_tokenizer *tok, const char *s, size_t n, tok_ids *out) {
    int cacheable = n < CACHE_MAX_PIECE;
    if (cacheable) {
        pthread_mutex_lock(&tok->cache_lock);
        mlcc_strmap_entry *e = strmap_find(&tok->cache, s, n);
        if (e) {
            size_t at = (size_t)((uint64_t)e->value.i >> 16), cnt = (size_t)(e->value.i & 0xFFFF);
            if (cnt) {
                vec_reserve(out, cnt);
                memcpy(out->data + out->len, tok->cache_ids.data + at, cnt * sizeof(int32_t));
                out->len += cnt;
            }
            pthread_mutex_unlock(&tok->cache_lock);
            return 0;
        }
        pthread_mutex_unlock(&tok->cache_lock);
    }
    size_t mark = out->len;
    if (tok_model_tokenize(tok->model, s, n, out)) return -1;
    size_t cnt = out->len - mark;
    if (cacheable && cnt < 0xFFFF) {
        pthread_mutex_lock(&tok->cache_lock);
        if (tok->cache.count < CACHE_MAX_ENTRIES) {
            int inserted;
            mlcc_strmap_entry *e = strmap_upsert(&tok->cache, s, n, &inserted);
            if (inserted) {
                size_t at = tok->cache_ids.len;
                vec_reserve(&tok->cache_ids, cnt + 1);
                if (cnt) memcpy(tok->cache_ids.data + at, out->data + mark, cnt * sizeof(int32_t));
                tok->cache_ids.len += cnt;
                e->value.i = (int64_t)(((uint64_t)at << 16) | cnt);
            }
        }
        pthread_mutex_unlock(&tok->cache_lock);
    }
    return 0;
}

typedef struct model_sink {
    mlcc_tokenizer *tok;
    tok_ids *ids;
} model_sink;

/* The last stage of the pipeline: each pre-token goes to the model (through the cache). */
static int model_emit(void *arg, const char *s, size_t n, unsigned flags) {
    (void)flags;
    model_sink *m = arg;
    return n ? tokenize_piece(m->tok, s, n, m->ids) : 0;
}

static int encode_text(mlcc_tokenizer *tok, tok_ctx *ctx, const char *text, size_t len,
                       tok_ids *ids) {
    tok_pieces raw = {0}, norm = {0};
    model_sink sink = {tok, ids};
    mlcc_strbuf nb = STRBUF_INIT;
    int rc = -1;
    tok_added_split(&tok->added, 0, text, len, TOK_PIECE_AT_START, &raw);
    for (size_t i = 0; i < raw.v.len; i++) {
        tok_span sp = raw.v.data[i];
        if (sp.id >= 0) {
            tok_pieces_add(&norm, "", 0, sp.id, sp.flags);
            continue;
        }
        const char *s = TOK_PIECE_STR(&raw, i);
        size_t n = sp.len;
        if (tok->normalizer) {
            sb_clear(&nb);
            if (tok_normalize(tok->normalizer, ctx, s, n, &nb)) goto done;
            s = nb.data ? nb.data : "";
            n = nb.len;
        }
        tok_added_split(&tok->added, 1, s, n, sp.flags, &norm);
    }
    for (size_t i = 0; i < norm.v.len; i++) {
        tok_span sp = norm.v.data[i];
        if (sp.id >= 0) {
            vec_push(ids, sp.id);
            continue;
        }
        if (sp.len == 0) continue;
        const char *s = TOK_PIECE_STR(&norm, i);
        if (!tok->pretok) {
            if (tokenize_piece(tok, s, sp.len, ids)) goto done;
            continue;
        }
        if (tok_pretokenize(tok->pretok, ctx, s, sp.len, sp.flags, model_emit, &sink)) goto done;
    }
    rc = 0;
done:
    tok_pieces_free(&raw);
    tok_pieces_free(&norm);
    sb_free(&nb);
    return rc;
}

int mlcc_tokenizer_encode(mlcc_tokenizer *tok, const char *text, size_t len, int add_special_tokens,
                          int32_t **ids_out, size_t *n_out) {
    *ids_out = NULL;
    *n_out = 0;
    if (!tok_utf8_valid(text, len)) return mlcc_set_error("tokenize: the input is not valid UTF-8");
    tok_ctx ctx;
    tok_ctx_init(&ctx);
    tok_ids ids = {0};
    int rc = encode_text(tok, &ctx, text, len, &ids);
    tok_ctx_free(&ctx);
    if (rc) {
        vec_free(&ids);
        return -1;
    }
    if (tok->trunc_max >= 0) { /* what fits beside the special tokens the post-processor adds */
        size_t added = add_special_tokens && tok->postproc ? tok_postproc_added(tok->postproc) : 0;
        size_t keep = (size_t)tok->trunc_max > added ? (size_t)tok->trunc_max - added : 0;
        if (ids.len > keep) {
            if (tok->trunc_left)
                memmove(ids.data, ids.data + ids.len - keep, keep * sizeof(int32_t));
            ids.len = keep;
        }
    }
    if (add_special_tokens && tok->postproc) tok_postprocess(tok->postproc, &ids);
    if (tok->pad) {
        size_t target = tok->pad_fixed >= 0 ? (size_t)tok->pad_fixed : ids.len;
        if (tok->pad_multiple > 0 && target % (size_t)tok->pad_multiple)
            target += (size_t)tok->pad_multiple - target % (size_t)tok->pad_multiple;
        if (target > ids.len) {
            size_t extra = target - ids.len;
            vec_reserve(&ids, extra);
            if (tok->pad_left) memmove(ids.data + extra, ids.data, ids.len * sizeof(int32_t));
            for (size_t i = 0; i < extra; i++)
                ids.data[tok->pad_left ? i : ids.len + i] = tok->pad_id;
            ids.len = target;
        }
    }
    if (!ids.data) ids.data = mlcc_xmalloc(sizeof(int32_t));
    *ids_out = ids.data;
    *n_out = ids.len;
    return 0;
}

/* ---- decoding ---- */

static const char *id_text(const mlcc_tokenizer *tok, int32_t id, int *special, size_t *len) {
    const tok_added_token *a = tok_added_by_id(&tok->added, id);
    const char *s;
    if (a) {
        s = a->norm ? a->norm : a->content;
        *len = a->norm ? a->norm_len : a->len;
    } else {
        s = mlcc_tokenizer_id_to_token(tok, id);
        *len = s ? tok->model->id_len[id] : 0;
    }
    *special = 0;
    if (s) {
        /* tokenizers asks whether the token's text is that of a special token */
        mlcc_strmap_entry *e = strmap_find(&tok->added.by_content, s, *len);
        const tok_added_token *t = e ? tok_added_by_id(&tok->added, (int32_t)e->value.i) : NULL;
        *special = t && t->special;
    }
    return s;
}

char *mlcc_tokenizer_decode(mlcc_tokenizer *tok, const int32_t *ids, size_t n, int skip_special,
                            size_t *len) {
    tok_strs v = {0};
    for (size_t i = 0; i < n; i++) {
        int special;
        size_t tl;
        const char *s = id_text(tok, ids[i], &special, &tl);
        if (!s || (skip_special && special)) continue;
        tok_strs_push(&v, s, tl);
    }
    mlcc_strbuf out = STRBUF_INIT;
    if (tok->decoder) {
        tok_ctx ctx;
        tok_ctx_init(&ctx);
        int rc = tok_decode_chain(tok->decoder, &ctx, &v);
        tok_ctx_free(&ctx);
        if (rc) {
            tok_strs_free(&v);
            return NULL;
        }
        for (size_t i = 0; i < v.len; i++)
            sb_append_n(&out, v.data[i].s, v.data[i].n);
    } else {
        for (size_t i = 0; i < v.len; i++) {
            if (i) sb_append_char(&out, ' ');
            sb_append_n(&out, v.data[i].s, v.data[i].n);
        }
    }
    tok_strs_free(&v);
    if (len) *len = out.len;
    if (!out.data) return mlcc_xstrdup("");
    return sb_detach(&out);
}

/* ---- vocabulary ---- */

size_t mlcc_tokenizer_vocab_size(const mlcc_tokenizer *tok) {
    size_t n = 0;
    for (size_t i = 0; i < tok->model->n_ids; i++)
        if (tok->model->id_to_tok[i]) n = i + 1;
    for (size_t i = 0; i < tok->added.tokens.len; i++)
        if ((size_t)tok->added.tokens.data[i].id + 1 > n)
            n = (size_t)tok->added.tokens.data[i].id + 1;
    return n;
}

const char *mlcc_tokenizer_id_to_token(const mlcc_tokenizer *tok, int32_t id) {
    const tok_added_token *a = tok_added_by_id(&tok->added, id);
    if (a) return a->content;
    if (id < 0 || (size_t)id >= tok->model->n_ids) return NULL;
    return tok->model->id_to_tok[id];
}

int32_t mlcc_tokenizer_token_to_id(const mlcc_tokenizer *tok, const char *token) {
    mlcc_strmap_entry *e = strmap_find(&tok->added.by_content, token, strlen(token));
    if (e) return (int32_t)e->value.i;
    return tok_model_lookup(tok->model, token, strlen(token));
}

int mlcc_tokenizer_is_special(const mlcc_tokenizer *tok, int32_t id) {
    const tok_added_token *a = tok_added_by_id(&tok->added, id);
    return a && a->special;
}

int32_t mlcc_tokenizer_bos_id(const mlcc_tokenizer *tok) {
    return tok->bos_id;
}
int32_t mlcc_tokenizer_eos_id(const mlcc_tokenizer *tok) {
    return tok->eos_id;
}
