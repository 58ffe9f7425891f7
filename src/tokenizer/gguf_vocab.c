/* gguf_vocab.c - a tokenizer from the vocabulary a GGUF file carries, so a GGUF model needs
 * nothing else. tokenizer.ggml.model "gpt2" becomes byte-level BPE (tokens, merges, and the
 * pre-tokenizer regexes named by tokenizer.ggml.pre, as llama.cpp and the Hugging Face
 * tokenizer.json of those models define them); "llama" becomes SentencePiece-style BPE with
 * byte fallback, its merge order taken from the token scores. Control and unknown tokens (types
 * 3, 2) become special added tokens, user-defined ones (type 4) plain added tokens; add_bos_token /
 * add_eos_token become the post-processor. */
#include <string.h>

#include "loader/gguf.h"
#include "support/error.h"
#include "support/json.h"
#include "support/log.h"
#include "tokenizer/tok_internal.h"

enum {
    TYPE_NORMAL = 1,
    TYPE_UNKNOWN = 2,
    TYPE_CONTROL = 3,
    TYPE_USER_DEFINED = 4,
    TYPE_UNUSED = 5,
    TYPE_BYTE = 6
};

/* tokenizer.ggml.pre -> the Split regexes applied in order (then ByteLevel without regex) */
static const struct pre_def {
    const char *name;
    int ignore_merges;
    const char *regex[4];
} PRE[] = {
    {"llama-bpe",
     1,
     {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"llama3",
     1,
     {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"qwen2",
     0,
     {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"deepseek-v3",
     0,
     {"\\p{N}{1,3}",
      "[\xe4\xb8\x80"
      "-\xe9\xbe\xa5"
      "\xe3\x81\x80"
      "-\xe3\x82\x9f"
      "\xe3\x82\xa0"
      "-\xe3\x83\xbf"
      "]+",
      "[!\"#$%&'()*+,\\-./"
      ":;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
      "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}},
    {"gpt-4o",
     1,
     {"[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?"
      "i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{"
      "Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| "
      "?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"default",
     0,
     {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"}},
    {"gpt2",
     0,
     {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"}},
};

int tok_gguf_pre_lookup(const char *name, size_t len, const char *regex[4], int *ignore_merges) {
    for (size_t i = 0; i < sizeof PRE / sizeof PRE[0]; i++)
        if (strlen(PRE[i].name) == len && !memcmp(PRE[i].name, name, len)) {
            for (int k = 0; k < 4; k++) regex[k] = PRE[i].regex[k];
            *ignore_merges = PRE[i].ignore_merges;
            return 0;
        }
    return -1;
}

/* A SentencePiece vocabulary's normalizer and decoder, as Llama-2's tokenizer.json has them. */
const char TOK_GGUF_SPM_NORMALIZER[] =
    "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\\u2581\"},"
    "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\\u2581\"}]}";
const char TOK_GGUF_SPM_DECODER[] =
    "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"\\u2581\"},"
    "\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},"
    "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]}";

/* Builds one component from a JSON snippet with the existing tokenizer.json constructors. */
static json_t *parse_snippet(const char *text) {
    json_error_t err;
    return json_loads(text, 0, &err);
}

static char *gguf_strdup(mlcc_gguf_str s) {
    return mlcc_xstrndup(s.data, (size_t)s.len);
}

/* The strings of array kv as C strings into out[n]; -1 + error naming the entry when one holds
 * a NUL byte (it would end there: another token, or a clash with one). */
static int c_strings(const char *path, const mlcc_gguf_kv *kv, const char *key, char **out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (memchr(kv->arr_strings[i].data, 0, (size_t)kv->arr_strings[i].len))
            return mlcc_set_error("%s: %s[%zu] holds a NUL byte", path, key, i);
        out[i] = gguf_strdup(kv->arr_strings[i]);
    }
    return 0;
}

static tok_pretok *byte_level_pretok(const struct pre_def *pre, const char *what) {
    json_t *seq = json_array();
    for (int i = 0; i < 4 && pre->regex[i]; i++) {
        json_t *split = json_pack("{s:s, s:{s:s}, s:s, s:b}", "type", "Split", "pattern", "Regex",
                                  pre->regex[i], "behavior", "Isolated", "invert", 0);
        json_array_append_new(seq, split);
    }
    json_array_append_new(
        seq,
        parse_snippet("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}"));
    json_t *root = json_pack("{s:s, s:o}", "type", "Sequence", "pretokenizers", seq);
    tok_pretok *p = tok_pretok_from_json(root, what);
    json_decref(root);
    return p;
}

/* A special token's id: -1 when absent or outside the n tokens (as llama.cpp, with a warning,
 * and as gguf_export.c writes tokenizer.json: an id past the vocabulary would be encoded into
 * prompts the model cannot take, and one past int32 was truncated to another token). */
static int ids_key(const mlcc_gguf *g, const char *key, size_t n, int32_t *out) {
    int64_t v;
    *out = -1;
    if (!mlcc_gguf_find(g, key)) return 0;
    if (mlcc_gguf_get_int(g, key, &v)) return -1;
    if (v < 0 || (uint64_t)v >= n) {
        LOG_WARN("%s: metadata '%s' = %lld is not one of the %zu token ids: ignored", g->path, key, (long long)v, n);
        return 0;
    }
    *out = (int32_t)v;
    return 0;
}

static int bool_key(const mlcc_gguf *g, const char *key, int dflt) {
    int v;
    if (!mlcc_gguf_find(g, key) || mlcc_gguf_get_bool(g, key, &v)) return dflt;
    return v;
}

static tok_postproc *bos_eos_postproc(int32_t bos, int32_t eos, int add_bos, int add_eos,
                                      const char *what) {
    json_t *single = json_array(), *specials = json_object();
    char name[32];
    if (add_bos && bos >= 0) {
        snprintf(name, sizeof name, "bos:%d", bos);
        json_array_append_new(
            single, json_pack("{s:{s:s, s:i}}", "SpecialToken", "id", name, "type_id", 0));
        json_object_set_new(
            specials, name,
            json_pack("{s:s, s:[i], s:[s]}", "id", name, "ids", bos, "tokens", name));
    }
    json_array_append_new(single, json_pack("{s:{s:s, s:i}}", "Sequence", "id", "A", "type_id", 0));
    if (add_eos && eos >= 0) {
        snprintf(name, sizeof name, "eos:%d", eos);
        json_array_append_new(
            single, json_pack("{s:{s:s, s:i}}", "SpecialToken", "id", name, "type_id", 0));
        json_object_set_new(
            specials, name,
            json_pack("{s:s, s:[i], s:[s]}", "id", name, "ids", eos, "tokens", name));
    }
    json_t *root = json_pack("{s:s, s:o, s:o}", "type", "TemplateProcessing", "single", single,
                             "special_tokens", specials);
    tok_postproc *p = tok_postproc_from_json(root, what);
    json_decref(root);
    return p;
}

mlcc_tokenizer *tok_load_gguf(const char *path) {
    mlcc_gguf *g = mlcc_gguf_open(path);
    if (!g) return NULL;
    mlcc_tokenizer *tok = NULL;
    char **tokens = NULL, **merges = NULL;
    float *scores = NULL;
    size_t n = 0, n_merges = 0;
    mlcc_gguf_str model;
    char what[512];
    snprintf(what, sizeof what, "%s: tokenizer", path);
    if (mlcc_gguf_get_str(g, "tokenizer.ggml.model", &model)) goto fail;
    const mlcc_gguf_kv *tk = mlcc_gguf_get_array(g, "tokenizer.ggml.tokens", MLCC_GGUF_STRING);
    if (!tk) goto fail;
    n = (size_t)tk->arr_n;
    tokens = mlcc_xcalloc(n + 1, sizeof *tokens);
    if (c_strings(path, tk, "tokenizer.ggml.tokens", tokens, n)) goto fail;
    const mlcc_gguf_kv *types = mlcc_gguf_find(g, "tokenizer.ggml.token_type");
    if (types && (types->type != MLCC_GGUF_ARRAY || types->arr_n != n ||
                  types->arr_type == MLCC_GGUF_STRING || types->arr_type == MLCC_GGUF_ARRAY)) {
        mlcc_set_error("%s: metadata 'tokenizer.ggml.token_type' must be an integer array as long "
                       "as the tokens",
                       path);
        goto fail;
    }
    int32_t bos, eos, unk;
    if (ids_key(g, "tokenizer.ggml.bos_token_id", n, &bos) ||
        ids_key(g, "tokenizer.ggml.eos_token_id", n, &eos) ||
        ids_key(g, "tokenizer.ggml.unknown_token_id", n, &unk))
        goto fail;
    tok = tok_new_empty();
    tok->bos_id = bos;
    tok->eos_id = eos;
    int add_bos, add_eos = bool_key(g, "tokenizer.ggml.add_eos_token", 0);
    tok_bpe_options opt = {0};
    if (model.len == 4 && !memcmp(model.data, "gpt2", 4)) {
        mlcc_gguf_str pre_name = {"default", 7};
        if (mlcc_gguf_find(g, "tokenizer.ggml.pre") &&
            mlcc_gguf_get_str(g, "tokenizer.ggml.pre", &pre_name))
            goto fail;
        const struct pre_def *pre = NULL;
        for (size_t i = 0; i < sizeof PRE / sizeof PRE[0]; i++)
            if (strlen(PRE[i].name) == pre_name.len &&
                !memcmp(PRE[i].name, pre_name.data, pre_name.len))
                pre = &PRE[i];
        if (!pre) {
            mlcc_set_error("%s: tokenizer.ggml.pre '%.*s' is not supported", path,
                           (int)pre_name.len, pre_name.data);
            goto fail;
        }
        const mlcc_gguf_kv *mg = mlcc_gguf_get_array(g, "tokenizer.ggml.merges", MLCC_GGUF_STRING);
        if (!mg) goto fail;
        n_merges = (size_t)mg->arr_n;
        merges = mlcc_xcalloc(n_merges + 1, sizeof *merges);
        if (c_strings(path, mg, "tokenizer.ggml.merges", merges, n_merges)) goto fail;
        opt.ignore_merges = pre->ignore_merges;
        if (!(tok->model = tok_bpe_build(tokens, NULL, n, merges, n_merges, &opt, what))) goto fail;
        if (!(tok->pretok = byte_level_pretok(pre, what))) goto fail;
        json_t *d = parse_snippet("{\"type\":\"ByteLevel\"}");
        tok->decoder = tok_decoder_from_json(d, what);
        json_decref(d);
        add_bos = bool_key(g, "tokenizer.ggml.add_bos_token", 0);
    } else if (model.len == 5 && !memcmp(model.data, "llama", 5)) {
        const mlcc_gguf_kv *sc = mlcc_gguf_get_array(g, "tokenizer.ggml.scores", MLCC_GGUF_FLOAT32);
        if (!sc) goto fail;
        if (sc->arr_n != n) {
            mlcc_set_error("%s: metadata 'tokenizer.ggml.scores' has %llu entries for %zu tokens",
                           path, (unsigned long long)sc->arr_n, n);
            goto fail;
        }
        scores = mlcc_xmalloc((n + 1) * sizeof *scores);
        for (size_t i = 0; i < n; i++)
            scores[i] = (float)mlcc_gguf_arr_float(sc, i);
        opt.byte_fallback = 1;
        opt.fuse_unk = 1;
        opt.unk_token = unk >= 0 ? tokens[unk] : NULL;
        if (!(tok->model = tok_bpe_build(tokens, scores, n, NULL, 0, &opt, what))) goto fail;
        json_t *nj = parse_snippet(TOK_GGUF_SPM_NORMALIZER), *dj = parse_snippet(TOK_GGUF_SPM_DECODER);
        tok->normalizer = tok_normalizer_from_json(nj, what);
        tok->decoder = tok_decoder_from_json(dj, what);
        json_decref(nj);
        json_decref(dj);
        if (!tok->normalizer || !tok->decoder) goto fail;
        add_bos = bool_key(g, "tokenizer.ggml.add_bos_token", 1);
    } else {
        mlcc_set_error("%s: tokenizer.ggml.model '%.*s' is not supported (gpt2 and llama are)",
                       path, (int)model.len, model.data);
        goto fail;
    }
    if (!tok->decoder) goto fail;
    if (!(tok->postproc = bos_eos_postproc(bos, eos, add_bos, add_eos, what))) goto fail;
    for (size_t i = 0; types && i < n; i++) {
        int64_t t = mlcc_gguf_arr_int(types, i);
        /* as llama.cpp: unknown, control and user-defined tokens are matched in the raw text */
        if (t == TYPE_CONTROL || t == TYPE_USER_DEFINED || t == TYPE_UNKNOWN)
            tok_added_add(&tok->added, tokens[i], strlen(tokens[i]), (int32_t)i,
                          t != TYPE_USER_DEFINED, 0, 0, 0, 0);
    }
    if (tok_finish(tok)) goto fail;
    goto done;
fail:
    mlcc_tokenizer_free(tok);
    tok = NULL;
done:
    for (size_t i = 0; tokens && i < n; i++)
        free(tokens[i]);
    for (size_t i = 0; merges && i < n_merges; i++)
        free(merges[i]);
    free(tokens);
    free(merges);
    free(scores);
    mlcc_gguf_close(g);
    return tok;
}
