/* test_gguf.c - the GGUF reader on the fixture files and on damaged copies, and tokenizers
 * built from GGUF vocabularies: the Llama-3 vocabulary of tm-llama3-f16.gguf must encode and
 * decode exactly like models/tm-llama3/tokenizer.json, and a SentencePiece ("llama") vocabulary
 * written from Llama-2's tokenizer.json must reproduce the Hugging Face reference ids; special
 * token ids outside the vocabulary are ignored; a chat template or a token with a NUL byte is
 * refused; a token listed twice names its last id, in tokenizer.json (gguf_export.h) too. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/conversation.h"
#include "loader/gguf.h"
#include "support/error.h"
#include "support/file.h"
#include "support/json.h"
#include "support/strbuf.h"
#include "test.h"
#include "tokenizer/gguf_export.h"
#include "tokenizer/tokenizer.h"

static void test_fixture(void) {
    char *path = test_data_path("gguf/tm-llama3-f16.gguf");
    mlcc_gguf *g = mlcc_gguf_open(path);
    CHECK_MSG(g != NULL, "%s", mlcc_last_error());
    if (!g) {
        free(path);
        return;
    }
    CHECK_EQ_INT(g->version, 3);
    CHECK_EQ_INT(g->n_tensors, 20);
    mlcc_gguf_str s;
    CHECK(mlcc_gguf_get_str(g, "general.architecture", &s) == 0 && s.len == 5 &&
          !memcmp(s.data, "llama", 5));
    int64_t v;
    CHECK(mlcc_gguf_get_int(g, "llama.vocab_size", &v) == 0 && v == 128256);
    CHECK(mlcc_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &v) == 0 && v == 128000);
    double f;
    CHECK(mlcc_gguf_get_float(g, "llama.rope.freq_base", &f) == 0 && f == 500000.0);
    CHECK(mlcc_gguf_get_int(g, "general.architecture", &v) == -1 &&
          strstr(mlcc_last_error(), "general.architecture"));
    CHECK(mlcc_gguf_get_int(g, "no.such.key", &v) == -1 && strstr(mlcc_last_error(), "missing"));
    const mlcc_gguf_kv *toks = mlcc_gguf_get_array(g, "tokenizer.ggml.tokens", MLCC_GGUF_STRING);
    CHECK(toks && toks->arr_n == 128256 && toks->arr_strings[9906].len == 5 &&
          !memcmp(toks->arr_strings[9906].data, "Hello", 5));
    const mlcc_gguf_kv *types =
        mlcc_gguf_get_array(g, "tokenizer.ggml.token_type", MLCC_GGUF_INT32);
    CHECK(types && mlcc_gguf_arr_int(types, 128000) == 3 && mlcc_gguf_arr_int(types, 9906) == 1);
    const mlcc_gguf_tensor *t = mlcc_gguf_find_tensor(g, "token_embd.weight");
    CHECK(t && t->n_dims == 2 && t->dims[0] == 16 && t->dims[1] == 128256 &&
          t->type == MLCC_GGML_F16);
    CHECK(t && t->n_bytes == 16ull * 128256 * 2);
    CHECK(t && (const uint8_t *)mlcc_gguf_tensor_data(g, t) + t->n_bytes <= g->base + g->size);
    CHECK(mlcc_gguf_find_tensor(g, "output.weight") == NULL); /* tied embeddings */
    mlcc_gguf_close(g);
    free(path);

    /* a quantized file: block sizes */
    path = test_data_path("gguf/q-llama-q4_0.gguf");
    g = mlcc_gguf_open(path);
    CHECK_MSG(g != NULL, "%s", mlcc_last_error());
    if (g) {
        int q4 = 0;
        for (uint64_t i = 0; i < g->n_tensors; i++)
            if (g->tensors[i].type == MLCC_GGML_Q4_0) {
                q4++;
                CHECK(g->tensors[i].n_bytes == g->tensors[i].n_elements / 32 * 18);
            }
        CHECK(q4 > 0);
        mlcc_gguf_close(g);
    }
    free(path);
}

/* Damaged copies of a small GGUF file must fail with an error naming the file, never crash. */
static void test_damaged(void) {
    char *path = test_data_path("gguf/q-llama-f32.gguf");
    size_t len;
    char *data = mlcc_read_file(path, &len);
    CHECK(data != NULL);
    free(path);
    if (!data) return;
    mlcc_gguf *g = mlcc_gguf_open_memory(data, len, "q-llama-f32.gguf");
    CHECK(g != NULL);
    mlcc_gguf_close(g);
    int failures = 0, tries = 0;
    /* every truncation point in the header and metadata, then a stride through the rest */
    for (size_t cut = 0; cut < len; cut += cut < 20000 ? 1 : 4093) {
        tries++;
        g = mlcc_gguf_open_memory(data, cut, "q-llama-f32.gguf");
        if (!g && strstr(mlcc_last_error(), "q-llama-f32.gguf")) failures++;
        mlcc_gguf_close(g);
    }
    CHECK_EQ_INT(failures, tries);
    char *copy = malloc(len);
    struct {
        size_t at;
        uint8_t byte;
        const char *expect;
    } edits[] = {{0, 'X', "bad magic"},
                 {4, 9, "version 9"},
                 {16, 0xFF, "more than the file holds"},
                 {8, 0xFF, "more than the file holds"}};
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        memcpy(copy, data, len);
        copy[edits[e].at] = (char)edits[e].byte;
        if (edits[e].at == 16 || edits[e].at == 8) memset(copy + edits[e].at, 0x7F, 8);
        g = mlcc_gguf_open_memory(copy, len, "bad.gguf");
        CHECK_MSG(g == NULL && strstr(mlcc_last_error(), edits[e].expect), "edit %zu: %s", e,
                  mlcc_last_error());
        mlcc_gguf_close(g);
    }
    /* random byte flips: any result is fine as long as nothing reads out of bounds */
    uint64_t rng = 12345;
    for (int i = 0; i < 2000; i++) {
        memcpy(copy, data, len);
        for (int k = 0; k < 4; k++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(rng >> 33) % (len < 8192 ? len : 8192);
            copy[at] = (char)(rng >> 20);
        }
        g = mlcc_gguf_open_memory(copy, len, "fuzz.gguf");
        mlcc_gguf_close(g);
    }
    free(copy);
    free(data);
    CHECK(mlcc_gguf_open("/nonexistent/x.gguf") == NULL &&
          strstr(mlcc_last_error(), "/nonexistent/x.gguf"));
}

static int same_encoding(mlcc_tokenizer *a, mlcc_tokenizer *b, const char *s, size_t n,
                         int special) {
    int32_t *x, *y;
    size_t nx, ny;
    if (mlcc_tokenizer_encode(a, s, n, special, &x, &nx) ||
        mlcc_tokenizer_encode(b, s, n, special, &y, &ny))
        return 0;
    int same = nx == ny && !memcmp(x, y, nx * sizeof *x);
    if (same) { /* and the same text back */
        size_t la, lb;
        char *da = mlcc_tokenizer_decode(a, x, nx, 0, &la),
             *db = mlcc_tokenizer_decode(b, y, ny, 0, &lb);
        same = da && db && la == lb && !memcmp(da, db, la);
        free(da);
        free(db);
    }
    free(x);
    free(y);
    return same;
}

static void test_llama3_vocab(json_t *strings) {
    char *gpath = test_data_path("gguf/tm-llama3-f16.gguf"),
         *dir = test_data_path("models/tm-llama3");
    mlcc_tokenizer *a = mlcc_tokenizer_load(gpath), *b = mlcc_tokenizer_load(dir);
    CHECK_MSG(a && b, "%s", mlcc_last_error());
    if (a && b) {
        int bad = 0;
        for (size_t i = 0; i < json_array_size(strings); i++) {
            json_t *s = json_array_get(strings, i);
            for (int sp = 0; sp < 2; sp++)
                if (!same_encoding(a, b, json_string_value(s), json_string_length(s), sp)) bad++;
        }
        printf("tm-llama3 GGUF vocabulary vs tokenizer.json: %zu strings, %d differ\n",
               json_array_size(strings), bad);
        CHECK_EQ_INT(bad, 0);
        CHECK_EQ_INT(mlcc_tokenizer_bos_id(a), 128000);
        CHECK_EQ_INT(mlcc_tokenizer_eos_id(a), 128009);
        CHECK(mlcc_tokenizer_is_special(a, 128009));
        /* the model's prompt, as meta.json gives its ids */
        char *mp = test_data_path("models/tm-llama3/meta.json");
        json_t *meta = mlcc_json_load_file(mp);
        json_t *prompt = json_object_get(meta, "prompt"),
               *want = json_object_get(meta, "prompt_ids");
        int32_t *ids;
        size_t n;
        CHECK(mlcc_tokenizer_encode(a, json_string_value(prompt), json_string_length(prompt), 0,
                                    &ids, &n) == 0);
        int ok = n == json_array_size(want);
        for (size_t i = 0; ok && i < n; i++)
            ok = ids[i] == json_integer_value(json_array_get(want, i));
        CHECK(ok);
        free(ids);
        json_decref(meta);
        free(mp);
    }
    mlcc_tokenizer_free(a);
    mlcc_tokenizer_free(b);
    free(gpath);
    free(dir);
}

/* ---- a minimal GGUF writer for the SentencePiece vocabulary test ---- */
static void put(mlcc_strbuf *b, const void *p, size_t n) {
    sb_append_n(b, p, n);
}
static void put_u32(mlcc_strbuf *b, uint32_t v) {
    put(b, &v, 4);
}
static void put_u64(mlcc_strbuf *b, uint64_t v) {
    put(b, &v, 8);
}
static void put_str(mlcc_strbuf *b, const char *s, size_t n) {
    put_u64(b, n);
    put(b, s, n);
}
static void put_key(mlcc_strbuf *b, const char *k, uint32_t type) {
    put_str(b, k, strlen(k));
    put_u32(b, type);
}

static void test_llama_spm_vocab(json_t *strings) {
    char *tpath = test_data_path("tokenizers/llama2/tokenizer.json"),
         *rpath = test_data_path("tokenizers/llama2/refs.json");
    json_t *tj = mlcc_json_load_file(tpath), *refs = mlcc_json_load_file(rpath);
    CHECK(tj && refs);
    if (!tj || !refs) goto out;
    json_t *vocab = json_object_get(json_object_get(tj, "model"), "vocab");
    size_t n = json_object_size(vocab);
    const char **by_id = calloc(n, sizeof *by_id);
    size_t *lens = calloc(n, sizeof *lens);
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        by_id[json_integer_value(val)] = key;
        lens[json_integer_value(val)] = strlen(key);
    }
    mlcc_strbuf b = STRBUF_INIT;
    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, 0); /* tensors */
    put_u64(&b, 7); /* metadata */
    put_key(&b, "tokenizer.ggml.model", 8);
    put_str(&b, "llama", 5);
    put_key(&b, "tokenizer.ggml.tokens", 9);
    put_u32(&b, 8);
    put_u64(&b, n);
    for (size_t i = 0; i < n; i++)
        put_str(&b, by_id[i], lens[i]);
    put_key(&b, "tokenizer.ggml.scores", 9);
    put_u32(&b, 6);
    put_u64(&b, n);
    /* SentencePiece merges in score order; Hugging Face's merges list follows those scores (the
     * real model gives e.g. "\u2581\u2581" a very low score, so it merges late): recover a score
     * per token from the rank of the first merge that makes it. */
    float *scores = malloc(n * sizeof *scores);
    for (size_t i = 0; i < n; i++)
        scores[i] = -1e9f;
    json_t *merges = json_object_get(json_object_get(tj, "model"), "merges");
    for (size_t r = json_array_size(merges); r-- > 0;) {
        const char *m = json_string_value(json_array_get(merges, r));
        mlcc_strbuf t = STRBUF_INIT;
        for (const char *q = m; *q; q++)
            if (*q != ' ') sb_append_char(&t, *q);
        json_t *id = json_object_get(vocab, t.data);
        if (id) scores[json_integer_value(id)] = -(float)r;
        sb_free(&t);
    }
    for (size_t i = 0; i < n; i++)
        put(&b, &scores[i], 4);
    free(scores);
    put_key(&b, "tokenizer.ggml.token_type", 9);
    put_u32(&b, 5);
    put_u64(&b, n);
    for (size_t i = 0; i < n; i++) {
        int32_t t = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 1;
        put(&b, &t, 4);
    }
    put_key(&b, "tokenizer.ggml.bos_token_id", 4);
    put_u32(&b, 1);
    put_key(&b, "tokenizer.ggml.eos_token_id", 4);
    put_u32(&b, 2);
    put_key(&b, "tokenizer.ggml.unknown_token_id", 4);
    put_u32(&b, 0);
    char *gpath = mlcc_path_join(getenv("MLCC_BINARY_DIR") ? getenv("MLCC_BINARY_DIR") : ".",
                                 "test-llama2-vocab.gguf");
    CHECK(mlcc_write_file_atomic(gpath, b.data, b.len) == 0);
    sb_free(&b);
    mlcc_tokenizer *tok = mlcc_tokenizer_load(gpath);
    CHECK_MSG(tok != NULL, "%s", mlcc_last_error());
    if (tok) {
        json_t *cases = json_object_get(refs, "cases");
        int bad = 0, bad_dec = 0;
        for (size_t c = 0; c < json_array_size(cases); c++) {
            json_t *cs = json_array_get(cases, c);
            json_t *s =
                json_array_get(strings, (size_t)json_integer_value(json_object_get(cs, "i")));
            for (int sp = 0; sp < 2; sp++) {
                json_t *want = json_object_get(cs, sp ? "ids_special" : "ids");
                int32_t *ids;
                size_t k;
                if (mlcc_tokenizer_encode(tok, json_string_value(s), json_string_length(s), sp,
                                          &ids, &k)) {
                    bad++;
                    continue;
                }
                int ok = k == json_array_size(want);
                for (size_t i = 0; ok && i < k; i++)
                    ok = ids[i] == json_integer_value(json_array_get(want, i));
                if (!ok && bad++ < 4) {
                    fprintf(stderr, "case %zu sp=%d:", c, sp);
                    for (size_t i = 0; i < k; i++)
                        fprintf(stderr, " %d", ids[i]);
                    fprintf(stderr, "\n");
                }
                if (!sp) {
                    size_t dl;
                    char *d = mlcc_tokenizer_decode(tok, ids, k, 0, &dl);
                    json_t *wd = json_object_get(cs, "decoded");
                    if (!d || dl != json_string_length(wd) || memcmp(d, json_string_value(wd), dl))
                        bad_dec++;
                    free(d);
                }
                free(ids);
            }
        }
        printf("llama (SentencePiece) GGUF vocabulary vs Llama-2 references: %zu cases, %d ids "
               "differ, %d texts differ\n",
               json_array_size(cases), bad, bad_dec);
        CHECK_EQ_INT(bad, 0);
        CHECK_EQ_INT(bad_dec, 0);
    }
    mlcc_tokenizer_free(tok);
    remove(gpath);
    free(gpath);
    free(by_id);
    free(lens);
out:
    json_decref(tj);
    json_decref(refs);
    free(tpath);
    free(rpath);
}

/* A SentencePiece vocabulary in which no token splits into two others has no merges: the
 * export sorted a NULL list of them (qsort(NULL, 0, ...), undefined behaviour that UBSan
 * reports; found by fuzz_gguf_export under libFuzzer). It exports an empty merges list. */
static void test_spm_vocab_without_merges(void) {
    static const char *toks[] = {"<unk>", "a", "\xE2\x96\x81"};
    mlcc_strbuf b = STRBUF_INIT;
    put(&b, "GGUF", 4);
    put_u32(&b, 3);
    put_u64(&b, 0); /* tensors */
    put_u64(&b, 3); /* metadata */
    put_key(&b, "tokenizer.ggml.model", 8);
    put_str(&b, "llama", 5);
    put_key(&b, "tokenizer.ggml.tokens", 9);
    put_u32(&b, 8);
    put_u64(&b, 3);
    for (int i = 0; i < 3; i++)
        put_str(&b, toks[i], strlen(toks[i]));
    put_key(&b, "tokenizer.ggml.scores", 9);
    put_u32(&b, 6);
    put_u64(&b, 3);
    for (int i = 0; i < 3; i++)
        put(&b, &(float){(float)-i}, 4);
    mlcc_gguf *g = mlcc_gguf_open_memory(b.data, b.len, "no-merges.gguf");
    CHECK_MSG(g != NULL, "%s", mlcc_last_error());
    json_t *tok = NULL, *cfg = NULL;
    if (g) {
        CHECK_MSG(tok_gguf_export_open(g, &tok, &cfg) == 0, "%s", mlcc_last_error());
        json_t *merges = json_object_get(json_object_get(tok, "model"), "merges");
        CHECK(json_is_array(merges) && json_array_size(merges) == 0);
        mlcc_gguf_close(g);
    }
    json_decref(tok);
    json_decref(cfg);
    sb_free(&b);
}

/* Writes a byte-level ("gpt2") vocabulary of the n tokens (lengths in lens: they may hold NUL
 * bytes) with the merge "a b" and, when bos >= 0, tokenizer.ggml.bos_token_id `bos` (a u64) and
 * add_bos_token; returns the file's path. */
static char *write_gpt2_vocab(const char *const *tokens, const size_t *lens, size_t n, int64_t bos) {
    mlcc_strbuf b = STRBUF_INIT;
    put(&b, "GGUF", 4), put_u32(&b, 3), put_u64(&b, 0), put_u64(&b, bos >= 0 ? 5 : 3);
    put_key(&b, "tokenizer.ggml.model", 8), put_str(&b, "gpt2", 4);
    put_key(&b, "tokenizer.ggml.tokens", 9), put_u32(&b, 8), put_u64(&b, n);
    for (size_t i = 0; i < n; i++) put_str(&b, tokens[i], lens[i]);
    put_key(&b, "tokenizer.ggml.merges", 9), put_u32(&b, 8), put_u64(&b, 1), put_str(&b, "a b", 3);
    if (bos >= 0) {
        put_key(&b, "tokenizer.ggml.bos_token_id", 10), put_u64(&b, (uint64_t)bos);
        put_key(&b, "tokenizer.ggml.add_bos_token", 7), put(&b, "\1", 1);
    }
    char *path = mlcc_path_join(getenv("MLCC_BINARY_DIR") ? getenv("MLCC_BINARY_DIR") : ".", "test-gpt2-vocab.gguf");
    CHECK(mlcc_write_file_atomic(path, b.data, b.len) == 0);
    sb_free(&b);
    return path;
}

/* tok's encoding of text (special tokens added) into ids[4] / n; -1 when it fails. */
static int encode4(mlcc_tokenizer *tok, const char *text, int32_t *ids, size_t *n) {
    int32_t *out = NULL;
    int rc = tok ? mlcc_tokenizer_encode(tok, text, strlen(text), 1, &out, n) : -1;
    if (rc == 0 && *n <= 4) memcpy(ids, out, *n * sizeof *ids);
    free(out);
    return rc == 0 && *n <= 4 ? 0 : -1;
}

/* The vocabulary a, b, ab with tokenizer.ggml.bos_token_id `bos`: its encoding of "ab". */
static int encode_with_bos(uint64_t bos, int32_t *ids, size_t *n) {
    static const char *const tokens[] = {"a", "b", "ab"};
    static const size_t lens[] = {1, 1, 2};
    char *path = write_gpt2_vocab(tokens, lens, 3, (int64_t)bos);
    mlcc_tokenizer *tok = mlcc_tokenizer_load(path);
    CHECK_MSG(tok != NULL, "%s", mlcc_last_error());
    int rc = encode4(tok, "ab", ids, n);
    mlcc_tokenizer_free(tok);
    unlink(path);
    free(path);
    return rc;
}

/* The tokenizer.json gguf_export.h writes for GGUF file path (what `mlcc convert` writes),
 * loaded; NULL + error when the export fails. */
static mlcc_tokenizer *exported(const char *path) {
    json_t *tj = NULL, *cj = NULL;
    mlcc_tokenizer *tok = NULL;
    if (tok_gguf_export(path, &tj, &cj) == 0) {
        char *text = json_dumps(tj, JSON_COMPACT);
        tok = mlcc_tokenizer_from_json(text, strlen(text), "exported tokenizer.json");
        free(text);
    }
    json_decref(tj), json_decref(cj);
    return tok;
}

/* A token listed twice names its last id in the GGUF tokenizer and in the tokenizer.json made
 * from it (the export kept the first: the two encoded "a" differently), as llama.cpp and
 * transformers' GGUF reader map it. */
static void test_duplicate_token(void) {
    static const char *const tokens[] = {"a", "b", "ab", "a"};
    static const size_t lens[] = {1, 1, 2, 1};
    char *path = write_gpt2_vocab(tokens, lens, 4, -1);
    mlcc_tokenizer *direct = mlcc_tokenizer_load(path), *json = exported(path);
    CHECK_MSG(direct && json, "%s", mlcc_last_error());
    int32_t ids[4];
    size_t n = 0;
    CHECK(encode4(direct, "a", ids, &n) == 0 && n == 1 && ids[0] == 3);
    CHECK(encode4(json, "a", ids, &n) == 0 && n == 1 && ids[0] == 3);
    CHECK(encode4(json, "ab", ids, &n) == 0 && n == 1 && ids[0] == 2);
    mlcc_tokenizer_free(direct), mlcc_tokenizer_free(json);
    unlink(path);
    free(path);
}

/* A token holding a NUL byte is refused by both (the GGUF tokenizer cut it there, so "b\0c"
 * became a second "b"; the export wrote a tokenizer.json that does not load). */
static void test_nul_token(void) {
    static const char *const tokens[] = {"a", "b", "ab", "b\0c"};
    static const size_t lens[] = {1, 1, 2, 3};
    char *path = write_gpt2_vocab(tokens, lens, 4, -1);
    mlcc_tokenizer *tok = mlcc_tokenizer_load(path);
    CHECK(tok == NULL && strstr(mlcc_last_error(), "test-gpt2-vocab.gguf: tokenizer.ggml.tokens[3] holds a NUL byte"));
    mlcc_tokenizer_free(tok);
    json_t *tj = NULL, *cj = NULL;
    CHECK(tok_gguf_export(path, &tj, &cj) == -1 &&
          strstr(mlcc_last_error(), "test-gpt2-vocab.gguf: tokenizer.ggml.tokens[3] holds a NUL byte"));
    json_decref(tj), json_decref(cj);
    unlink(path);
    free(path);
}

/* A special token id outside the vocabulary is ignored (as llama.cpp does, and as the
 * tokenizer.json `mlcc convert` writes has it): it was added to every prompt as an id the model
 * cannot take, and one past int32 was truncated to another token (2^32 + 1 became "b"). */
static void test_bos_out_of_vocab(void) {
    int32_t ids[4];
    size_t n = 0;
    CHECK(encode_with_bos(0, ids, &n) == 0 && n == 2 && ids[0] == 0 && ids[1] == 2); /* "a" as BOS, then "ab" */
    CHECK(encode_with_bos(3, ids, &n) == 0 && n == 1 && ids[0] == 2);
    CHECK(encode_with_bos(((uint64_t)1 << 32) + 1, ids, &n) == 0 && n == 1 && ids[0] == 2);
}

/* A GGUF file whose tokenizer.chat_template holds a NUL byte is refused: the template was
 * cut there without a word ("A\0B" rendered as "A"). */
static void test_template_nul(void) {
    mlcc_strbuf b = STRBUF_INIT;
    put(&b, "GGUF", 4), put_u32(&b, 3), put_u64(&b, 0), put_u64(&b, 1);
    put_key(&b, "tokenizer.chat_template", 8), put_str(&b, "A\0B", 3);
    char *path = mlcc_path_join(getenv("MLCC_BINARY_DIR") ? getenv("MLCC_BINARY_DIR") : ".", "test-template-nul.gguf");
    CHECK(mlcc_write_file_atomic(path, b.data, b.len) == 0);
    sb_free(&b);
    static const char tj[] = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}";
    mlcc_tokenizer *tok = mlcc_tokenizer_from_json(tj, strlen(tj), "test tokenizer.json");
    CHECK_MSG(tok != NULL, "%s", mlcc_last_error());
    mlcc_chat_template ct;
    memset(&ct, 0, sizeof ct);
    CHECK(tok && mlcc_conversation_template(path, tok, NULL, &ct) == -1 &&
          strstr(mlcc_last_error(), "test-template-nul.gguf: metadata 'tokenizer.chat_template' holds a NUL byte (at byte 1)"));
    if (ct.tmpl) mlcc_chat_template_free(&ct);
    mlcc_tokenizer_free(tok);
    unlink(path);
    free(path);
}

int main(void) {
    test_fixture();
    test_damaged();
    test_spm_vocab_without_merges();
    test_bos_out_of_vocab();
    test_template_nul();
    test_duplicate_token();
    test_nul_token();
    char *sp = test_data_path("tokenizers/strings.json");
    json_t *strings = mlcc_json_load_file(sp);
    free(sp);
    CHECK(strings != NULL);
    if (strings) {
        test_llama3_vocab(strings);
        test_llama_spm_vocab(strings);
    }
    json_decref(strings);
    return test_finish();
}
